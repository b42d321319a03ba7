/* SPDX-License-Identifier: MIT
**
** Shared declarations of the kiva C core. Each src/<concept>.c file exports one
** kc_<concept>_open(L) that adds its functions to the module table on top of the
** stack; core.c calls them all. Nothing here keeps global mutable state.
*/
#ifndef KIVA_CORE_H
#define KIVA_CORE_H

#include <lua.h>
#include <lauxlib.h>

/* The one version is lua/kiva/init.lua's _VERSION: the Makefile passes it as -DKIVA_VERSION. */
#ifndef KIVA_VERSION
#define KIVA_VERSION "unknown"   /* a build outside the Makefile (fuzz targets) */
#endif

#if defined(__GNUC__)
#define KC_EXPORT __attribute__((visibility("default")))
#else
#define KC_EXPORT
#endif

/* Each adds its functions to the table at the top of the stack (stack balanced). */
void kc_http_open(lua_State *L);
void kc_crypto_open(lua_State *L);
void kc_sys_open(lua_State *L);
void kc_schema_open(lua_State *L);
void kc_csv_open(lua_State *L);
void kc_zip_open(lua_State *L);
void kc_signal_open(lua_State *L);
void kc_amount_open(lua_State *L);
void kc_limits_open(lua_State *L);
void kc_pattern_cost_open(lua_State *L);
void kc_version_open(lua_State *L);
void kc_zipwrite_open(lua_State *L);
void kc_bloom_open(lua_State *L);
void kc_record_open(lua_State *L);
void kc_find_open(lua_State *L);

/* Pushes nil, message, code and returns 3: the luv-style failure triple. */
int kc_fail(lua_State *L, const char *code, const char *fmt, ...);

/* The userdata at index 1 when its metatable is the running C function's upvalue 1,
** else raises ("<what> expected"). For methods called on every row, registered with
** their metatable as upvalue: luaL_checkudata's registry lookup cost more than they. */
void *kc_check_self(lua_State *L, const char *what);

KC_EXPORT int luaopen_kiva_core(lua_State *L);

#endif
