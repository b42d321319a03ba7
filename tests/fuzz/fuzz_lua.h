/* SPDX-License-Identifier: MIT
**
** What the libFuzzer targets that drive kiva through Lua share: one Lua state
** with kiva.core preloaded and lua/ on package.path, a harness chunk whose
** returned check function is kept in the registry under the target's name, and
** the per-input call that aborts (a finding) when the check raises.
*/
#ifndef KIVA_FUZZ_LUA_H
#define KIVA_FUZZ_LUA_H

#include <stdio.h>
#include <stdlib.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include "kiva_core.h"

/* A state whose registry field `name` holds the function `harness` returns. Aborts on failure. */
static inline lua_State *fuzz_lua_open(const char *name, const char *harness)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    luaL_requiref(L, "kiva.core", luaopen_kiva_core, 0);
    lua_pop(L, 1);
    if (luaL_dostring(L, "package.path = 'lua/?.lua;lua/?/init.lua;' .. package.path") != LUA_OK
        || luaL_loadstring(L, harness) != LUA_OK || lua_pcall(L, 0, 1, 0) != LUA_OK) {
        fprintf(stderr, "%s: cannot set up: %s\n", name, lua_tostring(L, -1));
        abort();
    }
    lua_setfield(L, LUA_REGISTRYINDEX, name);
    return L;
}

/* Calls the check (pushed by lua_getfield(L, LUA_REGISTRYINDEX, name) before its
** nargs arguments). Returns the error message when it raised, NULL otherwise;
** the caller decides whether that is a finding. */
static inline const char *fuzz_lua_call(lua_State *L, int nargs)
{
    if (lua_pcall(L, nargs, 0, 0) == LUA_OK)
        return NULL;
    return lua_tostring(L, -1) ? lua_tostring(L, -1) : "(error object)";
}

/* Restores the stack, and collects garbage every `every` inputs so the heap stays small. */
static inline void fuzz_lua_done(lua_State *L, int top, unsigned *runs, unsigned every)
{
    lua_settop(L, top);
    if (++*runs % every == 0)
        lua_gc(L, LUA_GCCOLLECT);
}

/* Writes data[0..n) to path (the readers under test take a file). Aborts on failure. */
static inline void fuzz_write_input(const char *path, const unsigned char *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

#endif
