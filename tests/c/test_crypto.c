/* SPDX-License-Identifier: MIT
** crypto.c and sys.c through the Lua API: known SHA-256 / HMAC vectors (FIPS
** 180-2, RFC 4231 case 2), base64 and base64url round trips and refusals. */
#include <string.h>

#include <lualib.h>

#include "ctest.h"
#include "kiva_core.h"

/* Runs `return <expr>` with the core as global `core`; true if it returned true. */
static int check_expr(lua_State *L, const char *expr)
{
    int ok;
    lua_pushfstring(L, "return %s", expr);
    if (luaL_loadstring(L, lua_tostring(L, -1)) != LUA_OK || lua_pcall(L, 0, 1, 0) != LUA_OK) {
        fprintf(stderr, "%s: %s\n", expr, lua_tostring(L, -1));
        lua_pop(L, 2);
        return 0;
    }
    ok = lua_toboolean(L, -1);
    if (!ok)
        fprintf(stderr, "false: %s\n", expr);
    lua_pop(L, 2);
    return ok;
}

int main(void)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    luaL_requiref(L, "kiva.core", luaopen_kiva_core, 0);
    lua_setglobal(L, "core");

    CHECK(check_expr(L, "core.sha256_hex('abc') == "
        "'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'"));
    CHECK(check_expr(L, "core.sha256_hex('') == "
        "'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'"));
    CHECK(check_expr(L, "core.hex(core.hmac_sha256('Jefe', 'what do ya want for nothing?')) == "
        "'5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843'"));
    CHECK(check_expr(L, "core.base64_encode('') == '' and core.base64_encode('f') == 'Zg==' "
        "and core.base64_encode('foobar') == 'Zm9vYmFy'"));
    CHECK(check_expr(L, "core.base64_decode('Zm9vYg==') == 'foob' and core.base64_decode('') == ''"));
    CHECK(check_expr(L, "core.base64url_encode('\\251\\255\\254') == '-__-' "
        "and core.base64url_decode('-__-') == '\\251\\255\\254'"));
    CHECK(check_expr(L, "core.base64url_decode('Zg') == 'f' and core.base64url_decode('Zg==') == 'f'"));
    CHECK(check_expr(L, "select(3, core.base64_decode('Zg=')) == 'BASE64'"));
    CHECK(check_expr(L, "select(3, core.base64_decode('Zm9v YmFy')) == 'BASE64'"));
    CHECK(check_expr(L, "select(3, core.base64_decode('Zm9-')) == 'BASE64'"));
    CHECK(check_expr(L, "#core.random_bytes(64) == 64 and core.random_bytes(16) ~= core.random_bytes(16)"));
    CHECK(check_expr(L, "not pcall(core.random_bytes, -1)"));
    CHECK(check_expr(L, "core.monotonic() > 0 and core.now() > 1.7e9 and core.getpid() > 0"));
    CHECK(check_expr(L, "select(3, core.file_mode('/nonexistent/x')) == 'ENOENT'"));

    lua_close(L);
    return CTEST_END();
}
