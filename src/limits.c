/* SPDX-License-Identifier: MIT
**
** Limits for untrusted Lua code (the partner's mapping script): a "kiva.core.limits"
** userdata holds a CPU time limit per call and a memory cap per run, and
** limits:call(fn, ...) runs fn under both:
**
** - CPU: a POSIX timer on the thread's CPU clock ticks every `tick` seconds of CPU
**   (a twentieth of the limit, at most TICK_MAX) while calls run; its signal carries
**   the userdata's address (si_value), so nothing is global. A call counts the ticks
**   that fall in it; past the limit the handler sets a count hook on the calling
**   thread (lua_sethook is safe in a signal handler: lua.c's SIGINT does the same)
**   that raises on every instruction, so a pcall in the script cannot catch the error
**   and go on. The timer is armed by the first call and disarms itself after a few
**   ticks outside any call; a count hook per call made the VM test a trap on every
**   instruction of the script (a quarter of a mapping's time).
**   Coroutines the script makes run on their own thread, which the timer's hook does
**   not reach: kiva.script_env's coroutine.create/wrap hand them to limits_watch,
**   a count hook (every HOOK_COUNT instructions) against the thread's CPU clock.
** - Memory: during the call the state's allocator is wrapped by one whose ud is the
**   userdata. What the script keeps across calls ("retained": the net heap growth
**   of its calls, less what the heap shrank between them) plus the call's own
**   growth may not pass the cap: past it an allocation is refused (Lua's emergency
**   collection then has its try). The host's own growth between calls is not
**   counted, so a long run's results do not eat the script's allowance.
**
** The hooks find their limits through lua_getallocf's ud, so a coroutine keeping its
** hook after the call finds no limits and does nothing.
** With `strings`, a call runs with that table behind s:method() (kiva.script_env's
** guarded string functions), the string metatable's __index put back after it.
** Registers: limits({ cpu = seconds, memory = bytes [, strings = table] }), limits_watch(co).
*/
#define _GNU_SOURCE   /* gettid, SIGEV_THREAD_ID */
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kiva_core.h"

#define LIMITS_MT "kiva.core.limits"
#define HOOK_COUNT 10000
#define TICK_MAX 0.05          /* seconds of CPU between two ticks, at most */
#define TICK_SIGNAL (SIGRTMIN + 4)
#define IDLE_TICKS 2           /* ticks outside calls before the timer disarms */

typedef struct kc_limits {
    lua_Alloc inner;        /* the state's allocator, wrapped during a call */
    void *inner_ud;
    long long heap;         /* bytes in use, tracked during a call */
    long long ceiling;      /* heap size the current call may not pass */
    long long cap;          /* bytes the script may hold (retained + a call's growth) */
    long long retained;     /* net growth the script's calls left behind */
    long long last_end;     /* heap size at the end of the previous call (0: none) */
    double cpu_limit;       /* seconds per call */
    double deadline;        /* coroutines' hook: 0 until its first run in a call */
    double tick;            /* seconds of CPU between two ticks */
    lua_State *caller;      /* the thread of the running call */
    timer_t timer;
    int has_timer;
    long ticks_needed;      /* ticks in one call that mean its time is up */
    /* shared with the signal handler */
    volatile sig_atomic_t active, expired, armed, idle;
    volatile long call_seq, tick_seq, ticks;
    int refused;
    int strings;            /* user value 1 is the string table of calls */
} kc_limits;

static double thread_cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long long heap_bytes(lua_State *L)
{
    return (long long)lua_gc(L, LUA_GCCOUNT, 0) * 1024 + lua_gc(L, LUA_GCCOUNTB, 0);
}

/* Lua requires that shrinking never fails: only growth is checked. */
static void *limited_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    kc_limits *lim = ud;
    long long old = ptr ? (long long)osize : 0;
    void *p;
    if ((long long)nsize > old && lim->heap + ((long long)nsize - old) > lim->ceiling) {
        lim->refused = 1;
        return NULL;
    }
    p = lim->inner(lim->inner_ud, ptr, osize, nsize);
    if (p || nsize == 0) {
        lim->heap += (long long)nsize - old;
        if ((long long)nsize > old)
            lim->refused = 0;   /* a retry after the emergency collection went through */
    }
    return p;
}

static void limits_hook(lua_State *L, lua_Debug *ar)
{
    void *ud;
    kc_limits *lim;
    (void)ar;
    if (lua_getallocf(L, &ud) != limited_alloc)
        return;   /* a coroutine that outlived its call */
    lim = ud;
    if (!lim->expired) {
        /* a coroutine's count hook: the clock starts at its first run in a call */
        double now = thread_cpu_seconds();
        if (lim->deadline == 0)
            lim->deadline = now + lim->cpu_limit;
        else if (now > lim->deadline)
            lim->expired = 1;
    }
    if (lim->expired) {
        lua_sethook(L, limits_hook, LUA_MASKCOUNT, 1);
        if (L != lim->caller)   /* the caller too, should it catch this coroutine's error */
            lua_sethook(lim->caller, limits_hook, LUA_MASKCOUNT, 1);
        luaL_where(L, 0);   /* the hook runs in the interrupted function's frame */
        lua_pushliteral(L, "CPU time limit reached");
        lua_concat(L, 2);
        lua_error(L);
    }
}

/* The timer's signal: a tick of the thread's CPU clock. Only sig_atomic_t fields,
** timer_settime and lua_sethook: what a handler may do. */
static void tick_handler(int sig, siginfo_t *info, void *uc)
{
    kc_limits *lim = info->si_value.sival_ptr;
    (void)sig;
    (void)uc;
    if (info->si_code != SI_TIMER || lim == NULL)
        return;
    if (!lim->active) {
        if (++lim->idle >= IDLE_TICKS && lim->armed) {
            struct itimerspec off;
            memset(&off, 0, sizeof off);
            timer_settime(lim->timer, 0, &off, NULL);
            lim->armed = 0;
        }
        return;
    }
    lim->idle = 0;
    if (lim->tick_seq != lim->call_seq) {   /* the first tick of this call */
        lim->tick_seq = lim->call_seq;
        lim->ticks = 0;
    }
    if (++lim->ticks >= lim->ticks_needed && !lim->expired) {
        lim->expired = 1;
        lua_sethook(lim->caller, limits_hook, LUA_MASKCOUNT, 1);
    }
}

/* Arms the tick timer (made on first use). @return 0 | -1 (no timer: the count hook then) */
static int arm_timer(kc_limits *lim)
{
    struct itimerspec every;
    if (!lim->has_timer) {
        struct sigaction sa;
        struct sigevent sev;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = tick_handler;
        sa.sa_flags = SA_SIGINFO | SA_RESTART;
        sigemptyset(&sa.sa_mask);
        if (sigaction(TICK_SIGNAL, &sa, NULL) != 0)
            return -1;
        memset(&sev, 0, sizeof sev);
        sev.sigev_notify = SIGEV_THREAD_ID;
        sev.sigev_signo = TICK_SIGNAL;
        sev.sigev_value.sival_ptr = lim;
        sev._sigev_un._tid = gettid();
        if (timer_create(CLOCK_THREAD_CPUTIME_ID, &sev, &lim->timer) != 0)
            return -1;
        lim->has_timer = 1;
    }
    every.it_interval.tv_sec = (time_t)lim->tick;
    every.it_interval.tv_nsec = (long)((lim->tick - (double)(time_t)lim->tick) * 1e9);
    every.it_value = every.it_interval;
    if (timer_settime(lim->timer, 0, &every, NULL) != 0)
        return -1;
    lim->idle = 0;
    lim->armed = 1;
    return 0;
}

static int limits_release(lua_State *L)
{
    kc_limits *lim = luaL_checkudata(L, 1, LIMITS_MT);
    if (lim->has_timer) {
        lim->has_timer = 0;
        lim->armed = 0;
        timer_delete(lim->timer);
    }
    return 0;
}

/* core.limits_watch(co): the count hook on a coroutine the script made. */
static int kc_limits_watch(lua_State *L)
{
    lua_State *co = lua_tothread(L, 1);
    luaL_argcheck(L, co != NULL, 1, "a coroutine expected");
    lua_sethook(co, limits_hook, LUA_MASKCOUNT, HOOK_COUNT);
    return 0;
}

/* The string metatable's __index during a call: `strings` (user value 1), the one
** before kept in user value 2 and put back after (restore = 1). A box's guarded string
** functions so stand behind s:method() in the script's calls only. */
static void swap_strings(lua_State *L, int restore)
{
    luaL_checkstack(L, 3, NULL);
    lua_pushliteral(L, "");
    if (!lua_getmetatable(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    if (restore) {
        lua_getiuservalue(L, 1, 2);
    } else {
        lua_getfield(L, -1, "__index");
        lua_setiuservalue(L, 1, 2);
        lua_getiuservalue(L, 1, 1);
    }
    lua_setfield(L, -2, "__index");
    lua_pop(L, 2);
}

/* core.limits{ cpu = seconds, memory = bytes [, strings = table] } */
static int kc_limits_new(lua_State *L)
{
    double cpu;
    lua_Integer memory;
    kc_limits *lim;
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "cpu");
    cpu = luaL_checknumber(L, -1);
    lua_getfield(L, 1, "memory");
    memory = luaL_checkinteger(L, -1);
    luaL_argcheck(L, cpu > 0 && cpu < 1e6, 1, "cpu must be a number of seconds in (0, 1e6)");
    luaL_argcheck(L, memory > 0, 1, "memory must be a positive number of bytes");
    lua_pop(L, 2);
    lim = lua_newuserdatauv(L, sizeof *lim, 2);
    memset(lim, 0, sizeof *lim);
    luaL_setmetatable(L, LIMITS_MT);
    if (lua_getfield(L, 1, "strings") == LUA_TTABLE) {
        lim->strings = 1;
        lua_setiuservalue(L, -2, 1);
    } else {
        lua_pop(L, 1);
    }
    lim->cpu_limit = cpu;
    lim->cap = (long long)memory;
    lim->tick = cpu / 20 < TICK_MAX ? cpu / 20 : TICK_MAX;
    if (lim->tick < 1e-3)
        lim->tick = 1e-3;
    /* the first tick of a call may come at once: one more than the limit holds */
    lim->ticks_needed = (long)(cpu / lim->tick + 0.999) + 1;
    return 1;
}

static int message_handler(lua_State *L)
{
    if (lua_type(L, 1) != LUA_TSTRING)
        luaL_tolstring(L, 1, NULL);
    return 1;
}

/* limits:call(fn, ...) -> true, results... | false, message, why ("time", "memory",
** "error"). A call inside a call runs under the outer one's limits. */
static int kc_limits_call(lua_State *L)
{
    kc_limits *lim = kc_check_self(L, LIMITS_MT);   /* it runs on every row */
    int nargs = lua_gettop(L) - 2, status, base;
    long long start, after;
    lua_Hook old_hook;
    int old_mask, old_count;
    luaL_checkany(L, 2);
    if (lim->active) {
        lua_pushcfunction(L, message_handler);
        lua_insert(L, 2);
        status = lua_pcall(L, nargs, LUA_MULTRET, 2);
        if (status != LUA_OK) {
            lua_pushboolean(L, 0);
            lua_insert(L, -2);
            lua_pushstring(L, lim->expired ? "time" : lim->refused ? "memory" : "error");
            return 3;
        }
        lua_pushboolean(L, 1);
        lua_replace(L, 2);
        return lua_gettop(L) - 1;
    }
    lua_pushcfunction(L, message_handler);
    lua_insert(L, 2);
    base = 2;
    old_hook = lua_gethook(L);
    old_mask = lua_gethookmask(L);
    old_count = lua_gethookcount(L);
    lim->expired = lim->refused = 0;
    lim->deadline = 0;
    lim->caller = L;
    lim->call_seq++;
    start = heap_bytes(L);
    /* the heap shrank since the last call: some of what the script left was collected */
    if (lim->last_end > start)
        lim->retained -= lim->last_end - start;
    if (lim->retained > lim->cap / 2) {
        /* near the cap: count only what is still alive */
        lua_gc(L, LUA_GCCOLLECT);
        after = heap_bytes(L);
        lim->retained -= start - after;
        start = after;
    }
    if (lim->retained < 0)
        lim->retained = 0;
    lim->heap = start;
    lim->ceiling = start + lim->cap - lim->retained;
    lim->inner = lua_getallocf(L, &lim->inner_ud);
    if (lim->strings)
        swap_strings(L, 0);
    lua_setallocf(L, limited_alloc, lim);
    lim->active = 1;
    if (!lim->armed && arm_timer(lim) != 0)
        lua_sethook(L, limits_hook, LUA_MASKCOUNT, HOOK_COUNT);   /* no timer: a hook per call */
    status = lua_pcall(L, nargs, LUA_MULTRET, base);
    lim->active = 0;   /* before the hook is put back: a late tick then does nothing */
    lua_sethook(L, old_hook, old_mask, old_count);
    lua_setallocf(L, lim->inner, lim->inner_ud);
    if (lim->strings)
        swap_strings(L, 1);
    if (lim->refused || status == LUA_ERRMEM)
        lua_gc(L, LUA_GCCOLLECT);   /* the refused call's garbage is no part of what it keeps */
    lim->last_end = heap_bytes(L);
    lim->retained += lim->last_end - start;
    if (lim->retained < 0)
        lim->retained = 0;
    if (status != LUA_OK || lim->expired || lim->refused) {
        const char *why = lim->expired ? "time" : lim->refused ? "memory" : "error";
        if (status == LUA_OK) {
            lua_settop(L, base - 1);
            lua_pushliteral(L, "a limit was reached and the error was caught by the script");
        } else if (status == LUA_ERRMEM && !lim->refused) {
            why = "error";
        }
        lua_pushboolean(L, 0);
        lua_insert(L, -2);
        lua_pushstring(L, why);
        return 3;
    }
    lua_pushboolean(L, 1);
    lua_replace(L, base);
    return lua_gettop(L) - 1;
}

void kc_limits_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        { "call", kc_limits_call },
        { "close", limits_release },
        { NULL, NULL }
    };
    static const luaL_Reg funcs[] = {
        { "limits", kc_limits_new },
        { "limits_watch", kc_limits_watch },
        { NULL, NULL }
    };
    if (luaL_newmetatable(L, LIMITS_MT)) {
        luaL_newlibtable(L, methods);
        lua_pushvalue(L, -2);   /* the methods' upvalue: the metatable (kc_check_self) */
        luaL_setfuncs(L, methods, 1);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, limits_release);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, limits_release);
        lua_setfield(L, -2, "__close");
    }
    lua_pop(L, 1);
    luaL_setfuncs(L, funcs, 0);
}
