/* SPDX-License-Identifier: MIT
**
** core.signal_watch{ "TERM", "INT", ... } -> watcher: blocks those signals and
** delivers them through a signalfd, so a select()-based loop (the sandbox) can
** shut down cleanly instead of dying mid-write. The watcher has getfd()/dirty()
** so LuaSocket's socket.select accepts it; read() returns the signal's name or
** nil. close/__gc/__close restore the previous signal mask (idempotent).
*/
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/signalfd.h>
#endif

#include "kiva_core.h"

#define WATCH_MT "kiva.core.signal_watch"

typedef struct {
    int fd;
    sigset_t old_mask;
} signal_watch;

static const struct { const char *name; int sig; } SIGNALS[] = {
    { "TERM", SIGTERM }, { "INT", SIGINT }, { "HUP", SIGHUP }, { "QUIT", SIGQUIT },
};
#define NSIGNALS (sizeof SIGNALS / sizeof SIGNALS[0])

static int watch_release(lua_State *L)
{
    signal_watch *w = luaL_checkudata(L, 1, WATCH_MT);
    if (w->fd >= 0) {
        close(w->fd);
        w->fd = -1;
        sigprocmask(SIG_SETMASK, &w->old_mask, NULL);
    }
    return 0;
}

static signal_watch *check_open(lua_State *L)
{
    signal_watch *w = luaL_checkudata(L, 1, WATCH_MT);
    if (w->fd < 0)
        luaL_error(L, "attempt to use a closed signal watcher");
    return w;
}

static int watch_getfd(lua_State *L)
{
    lua_pushinteger(L, check_open(L)->fd);
    return 1;
}

static int watch_dirty(lua_State *L)
{
    (void)check_open(L);
    lua_pushboolean(L, 0);
    return 1;
}

#ifdef __linux__
static int watch_read(lua_State *L)
{
    signal_watch *w = check_open(L);
    struct signalfd_siginfo info;
    ssize_t n = read(w->fd, &info, sizeof info);
    size_t i;
    if (n != (ssize_t)sizeof info)
        return 0;
    for (i = 0; i < NSIGNALS; i++)
        if ((int)info.ssi_signo == SIGNALS[i].sig) {
            lua_pushstring(L, SIGNALS[i].name);
            return 1;
        }
    lua_pushinteger(L, (lua_Integer)info.ssi_signo);
    return 1;
}

static int kc_signal_watch(lua_State *L)
{
    sigset_t mask;
    signal_watch *w;
    lua_Integer i, n;
    size_t j;
    luaL_checktype(L, 1, LUA_TTABLE);
    sigemptyset(&mask);
    n = luaL_len(L, 1);
    for (i = 1; i <= n; i++) {
        const char *name;
        lua_geti(L, 1, i);
        name = luaL_checkstring(L, -1);
        for (j = 0; j < NSIGNALS; j++)
            if (strcmp(name, SIGNALS[j].name) == 0)
                break;
        if (j == NSIGNALS)
            return luaL_argerror(L, 1, lua_pushfstring(L, "unknown signal '%s'", name));
        sigaddset(&mask, SIGNALS[j].sig);
        lua_pop(L, 1);
    }
    /* The userdata exists, closed, before any state changes, so __gc always copes. */
    w = lua_newuserdatauv(L, sizeof *w, 0);
    w->fd = -1;
    luaL_setmetatable(L, WATCH_MT);
    if (sigprocmask(SIG_BLOCK, &mask, &w->old_mask) != 0)
        return kc_fail(L, "SIGNAL", "sigprocmask: %s", strerror(errno));
    w->fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (w->fd < 0) {
        int err = errno;
        sigprocmask(SIG_SETMASK, &w->old_mask, NULL);
        return kc_fail(L, "SIGNAL", "signalfd: %s", strerror(err));
    }
    return 1;
}
#else
static int watch_read(lua_State *L)
{
    (void)check_open(L);
    return 0;
}

static int kc_signal_watch(lua_State *L)
{
    return kc_fail(L, "UNSUPPORTED", "signal watching needs Linux signalfd");
}
#endif

void kc_signal_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        { "getfd", watch_getfd }, { "dirty", watch_dirty }, { "read", watch_read },
        { "close", watch_release }, { NULL, NULL },
    };
    static const luaL_Reg meta[] = {
        { "__gc", watch_release }, { "__close", watch_release }, { NULL, NULL },
    };
    if (luaL_newmetatable(L, WATCH_MT)) {
        luaL_setfuncs(L, meta, 0);
        luaL_newlib(L, methods);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    lua_pushcfunction(L, kc_signal_watch);
    lua_setfield(L, -2, "signal_watch");
}
