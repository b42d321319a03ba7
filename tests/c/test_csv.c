/* SPDX-License-Identifier: MIT
** transcode.c and csv.c: UTF-8 validation, the three single-byte tables, and the
** reader driven from a Lua state on a file written here (quotes, CR, BOM, NUL). */
#include <stdio.h>
#include <string.h>

#include <lualib.h>

#include "ctest.h"
#include "kiva_core.h"
#include "transcode.h"
#include "utf8.h"

static int run_lua(lua_State *L, const char *code)
{
    if (luaL_dostring(L, code) != LUA_OK) {
        fprintf(stderr, "lua: %s\n", lua_tostring(L, -1));
        lua_pop(L, 1);
        return 0;
    }
    return lua_toboolean(L, -1);
}

int main(void)
{
    kc_buf b;
    lua_State *L;
    FILE *f;

    CHECK(kc_utf8_valid_prefix("abc", 3) == 3);
    CHECK(kc_utf8_valid_prefix("Zo\xC3\xAB", 4) == 4);
    CHECK(kc_utf8_valid_prefix("Zo\xE9", 3) == 2);
    CHECK(kc_utf8_valid_prefix("\xC0\xAF", 2) == 0);          /* overlong */
    CHECK(kc_utf8_valid_prefix("\xED\xA0\x80", 3) == 0);      /* surrogate */
    CHECK(kc_utf8_valid_prefix("\xF4\x90\x80\x80", 4) == 0);  /* above U+10FFFF */
    CHECK(kc_utf8_valid_prefix("\xE2\x82", 2) == 0);          /* truncated */
    CHECK(kc_encoding_from_name("Windows-1252") == KC_ENC_CP1252);
    CHECK(kc_encoding_from_name("latin9") == KC_ENC_LATIN9);
    CHECK(kc_encoding_from_name("ebcdic") == -1);

    kc_buf_init(&b, 0);
    CHECK(kc_transcode_to_utf8(&b, "\x80\xE9\x9C", 3, KC_ENC_CP1252) == 0);
    CHECK(strcmp(b.data, "\xE2\x82\xAC\xC3\xA9\xC5\x93") == 0);   /* € é œ */
    kc_buf_reset(&b);
    CHECK(kc_transcode_to_utf8(&b, "\x80\xA4", 2, KC_ENC_LATIN1) == 0);
    CHECK(strcmp(b.data, "\xC2\x80\xC2\xA4") == 0);
    kc_buf_reset(&b);
    CHECK(kc_transcode_to_utf8(&b, "\xA4\xBD", 2, KC_ENC_LATIN9) == 0);
    CHECK(strcmp(b.data, "\xE2\x82\xAC\xC5\x93") == 0);             /* € œ */
    kc_buf_free(&b);

    f = fopen("build/test_csv.csv", "wb");
    CHECK(f != NULL);
    if (!f)
        return CTEST_END();
    {
        static const char data[] = "\xEF\xBB\xBF" "a;b\r\"x;\"\"y\"\"\r\nz\";2\r\r3;\0";
        fwrite(data, 1, sizeof data - 1, f);
    }
    fclose(f);

    L = luaL_newstate();
    luaL_openlibs(L);
    luaL_requiref(L, "kiva.core", luaopen_kiva_core, 0);
    lua_setglobal(L, "core");
    CHECK(run_lua(L, "r = assert(core.csv_open('build/test_csv.csv')) return r:delimiter() == ';'"));
    CHECK(run_lua(L, "local h = r:header() return h[1] == 'a' and h[2] == 'b'"));
    CHECK(run_lua(L, "local f, line = r:next() return f[1] == 'x;\"y\"\\nz' and f[2] == '2' and line == 2"));
    CHECK(run_lua(L, "local f, msg = r:next() return f == false and msg:find('NUL byte') ~= nil"));
    CHECK(run_lua(L, "return r:next() == nil"));
    CHECK(run_lua(L, "r:close() r:close() return true"));
    CHECK(run_lua(L, "return select(3, core.csv_open('build/nonexistent.csv')) == 'OPEN'"));
    lua_close(L);
    remove("build/test_csv.csv");
    return CTEST_END();
}
