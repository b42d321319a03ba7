/* SPDX-License-Identifier: MIT
**
** luaopen_kiva_core: builds the `kiva.core` module table from each concept's
** kc_<concept>_open. The only exported symbol of the library.
*/
#include <stdarg.h>
#include <stdio.h>

#include "kiva_core.h"

void *kc_check_self(lua_State *L, const char *what)
{
    void *p = lua_touserdata(L, 1);
    int same = 0;
    if (p != NULL && lua_getmetatable(L, 1)) {
        same = lua_rawequal(L, -1, lua_upvalueindex(1));
        lua_pop(L, 1);
    }
    if (!same)
        luaL_typeerror(L, 1, what);
    return p;
}

int kc_fail(lua_State *L, const char *code, const char *fmt, ...)
{
    va_list ap;
    lua_pushnil(L);
    va_start(ap, fmt);
    lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    lua_pushstring(L, code);
    return 3;
}

KC_EXPORT int luaopen_kiva_core(lua_State *L)
{
    lua_newtable(L);
    lua_pushliteral(L, KIVA_VERSION);
    lua_setfield(L, -2, "version");
    kc_sys_open(L);
    kc_crypto_open(L);
    kc_http_open(L);
    kc_schema_open(L);
    kc_csv_open(L);
    kc_zip_open(L);
    kc_signal_open(L);
    kc_amount_open(L);
    kc_limits_open(L);
    kc_pattern_cost_open(L);
    kc_version_open(L);
    kc_zipwrite_open(L);
    kc_bloom_open(L);
    kc_record_open(L);
    kc_find_open(L);
    return 1;
}
