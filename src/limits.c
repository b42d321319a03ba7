/* SPDX-License-Identifier: MIT
**
** Limits for untrusted Lua code (the partner's mapping script): a "kiva.core.limits"
** userdata holds a CPU time limit per call and a memory cap per run, and
** limits:call(fn, ...) runs fn under both:
**
** - CPU: a count hook set from C (every HOOK_COUNT VM instructions) compares the
**   thread's CPU clock with the call's deadline. Coroutines made during the call
**   inherit the hook (lua_newthread copies it). Past the deadline the hook fires on
**   every instruction and raises each time, so a pcall in the script cannot catch
**   the error and go on: the first instruction after it raises again.
** - Memory: during the call the state's allocator is wrapped by one whose ud is the
**   userdata. What the script keeps across calls ("retained": the net heap growth
**   of its calls, less what the heap shrank between them) plus the call's own
**   growth may not pass the cap: past it an allocation is refused (Lua's emergency
**   collection then has its try). The host's own growth between calls is not
**   counted, so a long run's results do not eat the script's allowance.
**
** The hook finds its limits through lua_getallocf's ud, so nothing is global and a
** coroutine keeping the hook after the call finds no limits and does nothing.
** Registers: limits({ cpu = seconds, memory = bytes }).
*/
#include <string.h>
#include <time.h>

#include "kiva_core.h"

#define LIMITS_MT "kiva.core.limits"
#define HOOK_COUNT 10000

typedef struct kc_limits {
    lua_Alloc inner;        /* the state's allocator, wrapped during a call */
    void *inner_ud;
    long long heap;         /* bytes in use, tracked during a call */
    long long ceiling;      /* heap size the current call may not pass */
    long long cap;          /* bytes the script may hold (retained + a call's growth) */
    long long retained;     /* net growth the script's calls left behind */
    long long last_end;     /* heap size at the end of the previous call (0: none) */
    double cpu_limit;       /* seconds per call */
    double deadline;        /* 0 until the hook's first run in a call */
    int active, expired, refused;
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
        double now = thread_cpu_seconds();
        /* the clock starts at the first hook: most calls end before it */
        if (lim->deadline == 0)
            lim->deadline = now + lim->cpu_limit;
        else if (now > lim->deadline)
            lim->expired = 1;
    }
    if (lim->expired) {
        lua_sethook(L, limits_hook, LUA_MASKCOUNT, 1);
        luaL_where(L, 0);   /* the hook runs in the interrupted function's frame */
        lua_pushliteral(L, "CPU time limit reached");
        lua_concat(L, 2);
        lua_error(L);
    }
}

/* core.limits{ cpu = seconds, memory = bytes } */
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
    lim = lua_newuserdatauv(L, sizeof *lim, 0);
    memset(lim, 0, sizeof *lim);
    luaL_setmetatable(L, LIMITS_MT);
    lim->cpu_limit = cpu;
    lim->cap = (long long)memory;
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
    kc_limits *lim = luaL_checkudata(L, 1, LIMITS_MT);
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
    lim->active = 1;
    lua_setallocf(L, limited_alloc, lim);
    lua_sethook(L, limits_hook, LUA_MASKCOUNT, HOOK_COUNT);
    status = lua_pcall(L, nargs, LUA_MULTRET, base);
    lua_sethook(L, old_hook, old_mask, old_count);
    lua_setallocf(L, lim->inner, lim->inner_ud);
    lim->active = 0;
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
        { NULL, NULL }
    };
    static const luaL_Reg funcs[] = {
        { "limits", kc_limits_new },
        { NULL, NULL }
    };
    if (luaL_newmetatable(L, LIMITS_MT)) {
        luaL_newlib(L, methods);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    luaL_setfuncs(L, funcs, 0);
}
