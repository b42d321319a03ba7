/* SPDX-License-Identifier: MIT
**
** A lazy row of a header-keyed export: the record's UTF-8 bytes are copied once
** into the row userdata and a cell becomes a Lua string only when it is read, so
** reading a wide export costs what the mapping reads (src/row.c).
*/
#ifndef KIVA_ROW_H
#define KIVA_ROW_H
#include <stddef.h>

#include <lua.h>

/* Registers the row metatable (once per Lua state). Stack balanced. */
void kc_row_register(lua_State *L);

/* Registers the metatable and core.row_on_missing in the module table on top. */
void kc_row_open(lua_State *L);

/* Pushes a new row of `n` cells: cell i (0-based) is data[ends[i-1] .. ends[i])
** (from 0 for the first). `index` is the stack index of the name -> position
** (1-based) table and `names` of the header array; rows of one file share both. */
void kc_row_push(lua_State *L, const char *data, const size_t *ends, size_t n, int index, int names);

#endif
