/* SPDX-License-Identifier: MIT
**
** Writing a zip archive with libzip, in one call (what an .xlsx workbook is).
** Every argument is checked before the archive is opened, so nothing can raise
** while libzip holds memory or a file; a failure discards the half-written archive
** and leaves no file. Registers zip_write.
*/
#include <zip.h>

#include "kiva_core.h"

/* core.zip_write(path, { { name, data }, ... }) -> true | nil, msg, code ("ZIP").
** Entries are deflated, in the given order; `data` strings stay referenced by the
** entries table (argument 2) until zip_close has read them. */
static int kc_zip_write(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    lua_Integer i, n;
    zip_t *za;
    int zerr = 0;

    luaL_checktype(L, 2, LUA_TTABLE);
    n = (lua_Integer)lua_rawlen(L, 2);
    for (i = 1; i <= n; i++) {
        luaL_argcheck(L, lua_rawgeti(L, 2, i) == LUA_TTABLE, 2, "each entry must be { name, data }");
        luaL_argcheck(L, lua_rawgeti(L, -1, 1) == LUA_TSTRING, 2, "entry name must be a string");
        luaL_argcheck(L, lua_rawgeti(L, -2, 2) == LUA_TSTRING, 2, "entry data must be a string");
        lua_pop(L, 3);
    }

    za = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
    if (!za) {
        zip_error_t ze;
        const char *msg;
        zip_error_init_with_code(&ze, zerr);
        lua_pushstring(L, zip_error_strerror(&ze));
        zip_error_fini(&ze);
        msg = lua_tostring(L, -1);
        return kc_fail(L, "ZIP", "cannot write %s: %s", path, msg);
    }
    for (i = 1; i <= n; i++) {
        size_t len;
        const char *name, *data;
        zip_source_t *src;
        zip_int64_t idx;
        lua_rawgeti(L, 2, i);
        lua_rawgeti(L, -1, 1);
        lua_rawgeti(L, -2, 2);
        name = lua_tostring(L, -2);
        data = lua_tolstring(L, -1, &len);
        lua_pop(L, 3);   /* still referenced by the entries table */
        src = zip_source_buffer(za, data, len, 0);
        if (!src)
            goto failed;
        idx = zip_file_add(za, name, src, ZIP_FL_ENC_UTF_8 | ZIP_FL_OVERWRITE);
        if (idx < 0) {
            zip_source_free(src);
            goto failed;
        }
    }
    if (zip_close(za) != 0)
        goto failed;
    lua_pushboolean(L, 1);
    return 1;

failed:
    lua_pushstring(L, zip_strerror(za));
    zip_discard(za);
    return kc_fail(L, "ZIP", "cannot write %s: %s", path, lua_tostring(L, -1));
}

void kc_zipwrite_open(lua_State *L)
{
    static const luaL_Reg funcs[] = {
        { "zip_write", kc_zip_write },
        { NULL, NULL }
    };
    luaL_setfuncs(L, funcs, 0);
}
