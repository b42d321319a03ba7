/* SPDX-License-Identifier: MIT
**
** The versions of the libraries the core was built with and runs against, for
** `kiva --version` (bug reports need them). Registers library_versions().
*/
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <zip.h>

#include "kiva_core.h"

/* core.library_versions() -> { lua = "Lua 5.4.4", curl = "7.88.1",
** openssl = "3.0.11", zip = "1.7.3" }: curl, OpenSSL and libzip as loaded at run time. */
static int kc_library_versions(lua_State *L)
{
    lua_createtable(L, 0, 4);
    lua_pushliteral(L, LUA_RELEASE);
    lua_setfield(L, -2, "lua");
    lua_pushstring(L, curl_version_info(CURLVERSION_NOW)->version);
    lua_setfield(L, -2, "curl");
    lua_pushstring(L, OpenSSL_version(OPENSSL_VERSION_STRING));
    lua_setfield(L, -2, "openssl");
    lua_pushstring(L, zip_libzip_version());
    lua_setfield(L, -2, "zip");
    return 1;
}

void kc_version_open(lua_State *L)
{
    static const luaL_Reg funcs[] = {
        { "library_versions", kc_library_versions },
        { NULL, NULL }
    };
    luaL_setfuncs(L, funcs, 0);
}
