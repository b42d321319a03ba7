/* SPDX-License-Identifier: MIT
**
** Operating-system helpers (there is no lua-posix for 5.4): wall and monotonic
** clocks, sleep, an exclusive flock() lock owned by a "kiva.core.lock" userdata
** (fd released by one idempotent unlock/__close/__gc), file mode bits, chmod,
** getpid, isatty, kill, mkdir (with parents, like mkdir -p, so no shell is
** needed), the terminal's size (TIOCGWINSZ, for a progress line that fits), a
** private file writer (a new file made with O_EXCL|O_NOFOLLOW beside the target,
** then renamed over it), a nameless temporary file as an io handle, and the process
** hardening run once a secret is loaded (not dumpable, no core files). Registers: now, monotonic, sleep, lock, file_mode,
** chmod, getpid, isatty, kill, mkdir, term_size, write_private, protect_process,
** dumpable, anonymous_file.
*/
#define _GNU_SOURCE   /* O_TMPFILE */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kiva_core.h"

#define LOCK_MT "kiva.core.lock"

typedef struct kc_lock {
    int fd;   /* -1 once released */
} kc_lock;

static int errno_code_fail(lua_State *L, int err, const char *what, const char *path)
{
    const char *code = err == ENOENT ? "ENOENT" : err == EACCES ? "EACCES"
        : err == EPERM ? "EPERM" : err == ESRCH ? "ESRCH" : err == EINVAL ? "EINVAL"
        : err == EEXIST ? "EEXIST" : err == ENOTDIR ? "ENOTDIR" : err == ELOOP ? "ELOOP"
        : err == EROFS ? "EROFS" : err == ENAMETOOLONG ? "ENAMETOOLONG" : "ERRNO";
    return kc_fail(L, code, "%s %s: %s", what, path, strerror(err));
}

static double clock_seconds(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int kc_sys_now(lua_State *L)
{
    lua_pushnumber(L, clock_seconds(CLOCK_REALTIME));
    return 1;
}

static int kc_sys_monotonic(lua_State *L)
{
    lua_pushnumber(L, clock_seconds(CLOCK_MONOTONIC));
    return 1;
}

static void sleep_seconds(double s)
{
    struct timespec ts, rem;
    if (s <= 0)
        return;
    ts.tv_sec = (time_t)s;
    ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &rem) != 0 && errno == EINTR)
        ts = rem;
}

static int kc_sys_sleep(lua_State *L)
{
    sleep_seconds(luaL_checknumber(L, 1));
    return 0;
}

static int kc_lock_release(lua_State *L)
{
    kc_lock *lk = luaL_checkudata(L, 1, LOCK_MT);
    if (lk->fd >= 0) {
        flock(lk->fd, LOCK_UN);
        close(lk->fd);
        lk->fd = -1;
    }
    return 0;
}

/* core.lock(path, wait_s): the userdata exists (closed) before the open, so an
** error raised in between leaves nothing that __gc cannot handle. */
static int kc_sys_lock(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    double wait = luaL_optnumber(L, 2, 0);
    double deadline = clock_seconds(CLOCK_MONOTONIC) + wait;
    kc_lock *lk = lua_newuserdatauv(L, sizeof *lk, 0);
    lk->fd = -1;
    luaL_setmetatable(L, LOCK_MT);
    lk->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lk->fd < 0)
        return errno_code_fail(L, errno, "cannot open lock file", path);
    for (;;) {
        if (flock(lk->fd, LOCK_EX | LOCK_NB) == 0)
            return 1;
        if (errno != EWOULDBLOCK && errno != EINTR) {
            int err = errno;
            close(lk->fd);
            lk->fd = -1;
            return errno_code_fail(L, err, "cannot lock", path);
        }
        if (clock_seconds(CLOCK_MONOTONIC) >= deadline)
            break;
        sleep_seconds(0.05);
    }
    close(lk->fd);
    lk->fd = -1;
    return kc_fail(L, "LOCKED", "%s is locked by another process", path);
}

static int kc_lock_tostring(lua_State *L)
{
    kc_lock *lk = luaL_checkudata(L, 1, LOCK_MT);
    lua_pushstring(L, lk->fd >= 0 ? "kiva.core.lock (held)" : "kiva.core.lock (released)");
    return 1;
}

static int kc_sys_file_mode(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    struct stat st;
    if (stat(path, &st) != 0)
        return errno_code_fail(L, errno, "cannot stat", path);
    lua_pushinteger(L, (lua_Integer)(st.st_mode & 07777));
    return 1;
}

static int kc_sys_chmod(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    lua_Integer mode = luaL_checkinteger(L, 2);
    luaL_argcheck(L, mode >= 0 && mode <= 07777, 2, "mode out of range");
    if (chmod(path, (mode_t)mode) != 0)
        return errno_code_fail(L, errno, "cannot chmod", path);
    lua_pushboolean(L, 1);
    return 1;
}

/* mkdir(path [, mode = 0755 [, parents = true]]) -> true | nil, err. With parents,
** missing parents are made and an existing directory is fine; without, the
** directory must be new (a private temporary directory must not be someone else's). */
static int kc_sys_mkdir(lua_State *L)
{
    size_t len, i;
    const char *path = luaL_checklstring(L, 1, &len);
    lua_Integer mode = luaL_optinteger(L, 2, 0755);
    int parents = lua_isnoneornil(L, 3) ? 1 : lua_toboolean(L, 3);
    struct stat st;
    char *copy;
    luaL_argcheck(L, mode >= 0 && mode <= 07777, 2, "mode out of range");
    luaL_argcheck(L, len > 0 && strlen(path) == len, 1, "path must be a non-empty string without NUL");
    if (!parents) {
        if (mkdir(path, (mode_t)mode) != 0)
            return errno_code_fail(L, errno, "cannot create the directory", path);
        lua_pushboolean(L, 1);
        return 1;
    }
    copy = lua_newuserdatauv(L, len + 1, 0);   /* freed by the GC, even on a raise */
    memcpy(copy, path, len + 1);
    for (i = 1; i <= len; i++) {
        if (copy[i] != '/' && copy[i] != '\0')
            continue;
        copy[i] = '\0';
        if (mkdir(copy, (mode_t)mode) != 0 && errno != EEXIST)
            return errno_code_fail(L, errno, "cannot create the directory", copy);
        copy[i] = i < len ? '/' : '\0';
    }
    if (stat(path, &st) != 0)
        return errno_code_fail(L, errno, "cannot create the directory", path);
    if (!S_ISDIR(st.st_mode))
        return kc_fail(L, "ENOTDIR", "cannot create the directory %s: a file of that name exists", path);
    lua_pushboolean(L, 1);
    return 1;
}

static int kc_sys_getpid(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)getpid());
    return 1;
}

static int kc_sys_isatty(lua_State *L)
{
    lua_pushboolean(L, isatty((int)luaL_checkinteger(L, 1)));
    return 1;
}

static int kc_sys_kill(lua_State *L)
{
    lua_Integer pid = luaL_checkinteger(L, 1);
    lua_Integer sig = luaL_optinteger(L, 2, SIGTERM);
    luaL_argcheck(L, pid > 0, 1, "pid must be positive");
    if (kill((pid_t)pid, (int)sig) != 0)
        return errno_code_fail(L, errno, "cannot signal", lua_tostring(L, 1));
    lua_pushboolean(L, 1);
    return 1;
}

/* Writes all of data to fd; 0 or an errno. */
static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* write_private(path, data [, mode = 0600]) -> true | nil, msg, code. The data goes
** to a new file "<path>.tmp<pid>.<n>" opened O_CREAT|O_EXCL|O_NOFOLLOW (a planted
** file or link of that name is refused, never written through), fsynced, then
** renamed over path (rename replaces a link at path itself, not its target). */
static int kc_sys_write_private(lua_State *L)
{
    size_t plen, dlen;
    const char *path = luaL_checklstring(L, 1, &plen);
    const char *data = luaL_checklstring(L, 2, &dlen);
    lua_Integer mode = luaL_optinteger(L, 3, 0600);
    char tmp[4096];
    int fd = -1, err, attempt;
    luaL_argcheck(L, mode >= 0 && mode <= 0777, 3, "mode out of range");
    luaL_argcheck(L, strlen(path) == plen && plen > 0, 1, "path must be a non-empty string without NUL");
    for (attempt = 0; attempt < 100 && fd < 0; attempt++) {
        if (snprintf(tmp, sizeof tmp, "%s.tmp%ld.%d", path, (long)getpid(), attempt) >= (int)sizeof tmp)
            return errno_code_fail(L, ENAMETOOLONG, "cannot write", path);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, (mode_t)mode);
        if (fd < 0 && errno != EEXIST)
            return errno_code_fail(L, errno, "cannot write", tmp);
    }
    if (fd < 0)
        return errno_code_fail(L, EEXIST, "cannot write", tmp);
    err = write_all(fd, data, dlen);
    if (err == 0 && fchmod(fd, (mode_t)mode) != 0)   /* the umask may have narrowed it */
        err = errno;
    if (err == 0 && fsync(fd) != 0)
        err = errno;
    if (close(fd) != 0 && err == 0)
        err = errno;
    if (err == 0 && rename(tmp, path) != 0)
        err = errno;
    if (err != 0) {
        unlink(tmp);
        return errno_code_fail(L, err, "cannot write", path);
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* Closes a file of anonymous_file (the io library's __close/__gc call it). */
static int anonymous_close(lua_State *L)
{
    luaL_Stream *p = luaL_checkudata(L, 1, LUA_FILEHANDLE);
    int res = fclose(p->f);
    return luaL_fileresult(L, res == 0, NULL);
}

/* anonymous_file(dir) -> file | nil, msg, code: a new read-write file in dir that has
** no name (O_TMPFILE; where the file system has none, made O_EXCL|O_NOFOLLOW as
** "kiva-run-<pid>-<n>" and unlinked at once), as an io library file handle: the disk space comes back when it is closed or
** the process ends, however it ends. Temporary data of a run goes where TMPDIR says,
** which io.tmpfile (always /tmp) does not heed. */
static int kc_sys_anonymous_file(lua_State *L)
{
    const char *dir = luaL_checkstring(L, 1);
    char path[4096];
    int fd = -1, attempt;
    luaL_Stream *p;
#ifdef O_TMPFILE
    fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
#endif
    for (attempt = 0; fd < 0 && attempt < 100; attempt++) {
        if (snprintf(path, sizeof path, "%s/kiva-run-%ld-%d", dir, (long)getpid(), attempt) >= (int)sizeof path)
            return errno_code_fail(L, ENAMETOOLONG, "cannot make a temporary file in", dir);
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0 && errno != EEXIST)
            return errno_code_fail(L, errno, "cannot make a temporary file in", dir);
        if (fd >= 0 && unlink(path) != 0) {
            int err = errno;
            close(fd);
            return errno_code_fail(L, err, "cannot make a temporary file in", dir);
        }
    }
    if (fd < 0)
        return errno_code_fail(L, EEXIST, "cannot make a temporary file in", dir);
    p = lua_newuserdatauv(L, sizeof *p, 0);
    p->closef = NULL;   /* a closed handle until f is set */
    luaL_setmetatable(L, LUA_FILEHANDLE);
    p->f = fdopen(fd, "w+b");
    if (p->f == NULL) {
        int err = errno;
        close(fd);
        return errno_code_fail(L, err, "cannot make a temporary file in", dir);
    }
    p->closef = anonymous_close;
    return 1;
}

/* protect_process() -> true | nil, msg, code: the process can no longer dump core
** (RLIMIT_CORE 0, soft and hard) nor be read by ptrace or /proc/<pid>/mem by other
** processes of the same user (PR_SET_DUMPABLE 0). Called once a secret is in memory. */
static int kc_sys_protect_process(lua_State *L)
{
    struct rlimit none = { 0, 0 };
    if (setrlimit(RLIMIT_CORE, &none) != 0)
        return errno_code_fail(L, errno, "cannot set", "RLIMIT_CORE");
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        return errno_code_fail(L, errno, "cannot set", "PR_SET_DUMPABLE");
    lua_pushboolean(L, 1);
    return 1;
}

/* dumpable() -> bool: whether the process may dump core and be ptraced (PR_GET_DUMPABLE). */
static int kc_sys_dumpable(lua_State *L)
{
    lua_pushboolean(L, prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) > 0);
    return 1;
}

/* core.term_size(fd) -> columns, rows | nil, msg, code: not a terminal (ENOTTY), or
** a terminal that reports 0 columns (some serial consoles: code "UNKNOWN"). Asked at
** each redraw, so a resized window is followed. */
static int kc_sys_term_size(lua_State *L)
{
    struct winsize ws;
    int fd = (int)luaL_checkinteger(L, 1);
    if (ioctl(fd, TIOCGWINSZ, &ws) != 0)
        return kc_fail(L, errno == ENOTTY ? "ENOTTY" : "ERRNO", "terminal size of fd %d: %s", fd, strerror(errno));
    if (ws.ws_col == 0)
        return kc_fail(L, "UNKNOWN", "terminal size of fd %d: not reported", fd);
    lua_pushinteger(L, ws.ws_col);
    lua_pushinteger(L, ws.ws_row);
    return 2;
}

void kc_sys_open(lua_State *L)
{
    static const luaL_Reg lock_methods[] = {
        { "unlock", kc_lock_release },
        { NULL, NULL }
    };
    static const luaL_Reg lock_meta[] = {
        { "__gc", kc_lock_release },
        { "__close", kc_lock_release },
        { "__tostring", kc_lock_tostring },
        { NULL, NULL }
    };
    static const luaL_Reg funcs[] = {
        { "now", kc_sys_now },
        { "monotonic", kc_sys_monotonic },
        { "sleep", kc_sys_sleep },
        { "lock", kc_sys_lock },
        { "file_mode", kc_sys_file_mode },
        { "chmod", kc_sys_chmod },
        { "getpid", kc_sys_getpid },
        { "isatty", kc_sys_isatty },
        { "kill", kc_sys_kill },
        { "mkdir", kc_sys_mkdir },
        { "write_private", kc_sys_write_private },
        { "anonymous_file", kc_sys_anonymous_file },
        { "protect_process", kc_sys_protect_process },
        { "dumpable", kc_sys_dumpable },
        { "term_size", kc_sys_term_size },
        { NULL, NULL }
    };
    if (luaL_newmetatable(L, LOCK_MT)) {
        luaL_setfuncs(L, lock_meta, 0);
        luaL_newlib(L, lock_methods);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    luaL_setfuncs(L, funcs, 0);
}
