/* SPDX-License-Identifier: MIT
**
** core.find_any(s, list [, max_len [, min_len]]) -> the index of the first
** string of list found in s, or nil: one C call where Lua made one string.find per needle
** (and one string.sub per secret's prefix). Every API answer is checked for
** secrets before it goes on (kiva.errors.holds_secret); this is its fast "surely
** none" test. Each needle is searched by its first max_len bytes (default: all);
** needles shorter than min_len (default 1) and non-strings are skipped.
*/
#define _GNU_SOURCE   /* memmem */
#include <string.h>

#include "kiva_core.h"

/* memmem: glibc's filters by pairs of bytes, where a memchr per needle stopped at
** every common first letter ("e" of "eyJ", "a" of "access_token"). */
static int kc_find_any(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    lua_Integer max_len = luaL_optinteger(L, 3, 0), min_len = luaL_optinteger(L, 4, 1);
    lua_Integer i, n;
    luaL_checktype(L, 2, LUA_TTABLE);
    n = (lua_Integer)lua_rawlen(L, 2);
    for (i = 1; i <= n; i++) {
        size_t nlen;
        const char *needle;
        if (lua_rawgeti(L, 2, i) != LUA_TSTRING) {
            lua_pop(L, 1);
            continue;
        }
        needle = lua_tolstring(L, -1, &nlen);
        lua_pop(L, 1);   /* still referenced by the list */
        if ((lua_Integer)nlen < min_len || nlen == 0)
            continue;
        if (max_len > 0 && (lua_Integer)nlen > max_len)
            nlen = (size_t)max_len;
        if (nlen == 1 ? memchr(s, needle[0], len) != NULL : memmem(s, len, needle, nlen) != NULL) {
            lua_pushinteger(L, i);
            return 1;
        }
    }
    lua_pushnil(L);
    return 1;
}

void kc_find_open(lua_State *L)
{
    lua_pushcfunction(L, kc_find_any);
    lua_setfield(L, -2, "find_any");
}
