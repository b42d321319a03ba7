/* SPDX-License-Identifier: MIT
**
** The lazy row ("kiva.core.row"): one userdata holding a record's cell ends and
** UTF-8 bytes. row.Col / row["Col"] turn that one cell into a Lua string; row.Col = v
** keeps v in a table of written values (user value 3, made on the first write);
** pairs(row) goes through the header's cells in order, then the written keys that
** are not header names; tostring(row) shows the cells. Mapping scripts see what a
** header-keyed table gave them, without paying for the columns they never read.
** User values: 1 = name -> position table, 2 = header array (both shared by the
** rows of one file), 3 = written values or nil.
*/
#include <string.h>

#include <lauxlib.h>

#include "kiva_core.h"
#include "row.h"

#define ROW_MT "kiva.core.row"

typedef struct kc_row {
    size_t n;
    int written;        /* user value 3 holds a table */
    size_t ends[];      /* n ends, then the cells' bytes */
} kc_row;

/* The row at index 1: every function here has the rows' metatable as upvalue 1. */
static kc_row *check_row(lua_State *L)
{
    return kc_check_self(L, "kiva row");
}

/* A value written as nil over a header cell: the cell reads as absent from then on. */
static const char tombstone;

static const char *row_data(const kc_row *r)
{
    return (const char *)(r->ends + r->n);
}

static void push_cell(lua_State *L, const kc_row *r, size_t i)
{
    size_t start = i ? r->ends[i - 1] : 0;
    lua_pushlstring(L, row_data(r) + start, r->ends[i] - start);
}

/* Position (1-based) of the header name at stack index `key`, or 0. */
static size_t position_of(lua_State *L, int key)
{
    lua_Integer pos;
    lua_getiuservalue(L, 1, 1);
    lua_pushvalue(L, key);
    pos = lua_rawget(L, -2) == LUA_TNUMBER ? lua_tointeger(L, -1) : 0;
    lua_pop(L, 2);
    return pos > 0 ? (size_t)pos : 0;
}

/* Pushes the written value of the key at stack index `key`; returns its type
** (LUA_TNIL when none was written, LUA_TLIGHTUSERDATA for the tombstone). */
static int push_written(lua_State *L, const kc_row *r, int key)
{
    int t;
    if (!r->written) {
        lua_pushnil(L);
        return LUA_TNIL;
    }
    lua_getiuservalue(L, 1, 3);
    lua_pushvalue(L, key);
    t = lua_rawget(L, -2);
    lua_remove(L, -2);
    if (t == LUA_TLIGHTUSERDATA && lua_touserdata(L, -1) != (void *)&tombstone)
        t = LUA_TUSERDATA;   /* a light userdata the script wrote: an ordinary value */
    return t;
}

/* A key that is neither written nor a column: nil, or what the handler set by
** core.row_on_missing on this file's rows answers (the mapping runner's check for a
** misspelt column name). Only reads ask it: a script may write keys of its own. */
static int missing(lua_State *L)
{
    if (lua_type(L, 2) != LUA_TSTRING)
        return 0;
    lua_getiuservalue(L, 1, 1);
    if (luaL_getmetafield(L, -1, "__index") != LUA_TFUNCTION)
        return 0;
    lua_insert(L, -2);   /* handler, names */
    lua_pushvalue(L, 2);
    lua_call(L, 2, 1);
    return 1;
}

/* core.row_on_missing(row, handler): handler(names, key) is called when a row of
** the same file (rows of one file share their table of column names) is read at a
** key that is no column; `names` maps each column name to its position. */
static int row_on_missing(lua_State *L)
{
    check_row(L);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_getiuservalue(L, 1, 1);
    lua_createtable(L, 0, 1);
    lua_pushvalue(L, 2);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
    return 0;
}

/* A written value first, else the header cell, else nil (asking the missing-column
** handler when `ask`). */
static int lookup(lua_State *L, int ask)
{
    const kc_row *r = check_row(L);
    size_t pos;
    int t = push_written(L, r, 2);
    if (t == LUA_TLIGHTUSERDATA)
        return 0;
    if (t != LUA_TNIL)
        return 1;
    pos = position_of(L, 2);
    if (!pos)
        return ask ? missing(L) : 0;
    push_cell(L, r, pos - 1);
    return 1;
}

/* row[key] */
static int row_index(lua_State *L)
{
    return lookup(L, 1);
}

/* core.row_get(row, key): row[key] without the missing-column handler, what rawget
** is to a table (a script reading a column only some exports have). */
static int row_get(lua_State *L)
{
    lua_settop(L, 2);
    return lookup(L, 0);
}

/* row[key] = value, kept in the row (a nil over a header cell hides that cell). */
static int row_newindex(lua_State *L)
{
    kc_row *r = check_row(L);
    lua_settop(L, 3);
    if (!r->written) {
        lua_newtable(L);
        lua_setiuservalue(L, 1, 3);
        r->written = 1;
    }
    lua_getiuservalue(L, 1, 3);
    lua_pushvalue(L, 2);
    if (lua_isnil(L, 3) && position_of(L, 2))
        lua_pushlightuserdata(L, (void *)&tombstone);
    else
        lua_pushvalue(L, 3);
    lua_rawset(L, -3);   /* a nil or NaN key raises, as on a table */
    return 0;
}

/* next(row, key) for pairs: the header's cells in order, then the written keys
** that are not header names. */
static int row_next(lua_State *L)
{
    const kc_row *r = check_row(L);
    size_t i;
    lua_settop(L, 2);
    i = lua_isnil(L, 2) ? 0 : position_of(L, 2);
    if (lua_isnil(L, 2) || i) {
        for (; i < r->n; i++) {
            int t;
            lua_getiuservalue(L, 1, 2);
            lua_rawgeti(L, -1, (lua_Integer)i + 1);
            lua_remove(L, -2);
            t = push_written(L, r, lua_gettop(L));
            if (t == LUA_TLIGHTUSERDATA) {
                lua_pop(L, 2);
                continue;
            }
            if (t == LUA_TNIL) {
                lua_pop(L, 1);
                push_cell(L, r, i);
            }
            return 2;
        }
        lua_pushnil(L);   /* the written keys from their start */
        lua_replace(L, 2);
    }
    if (!r->written)
        return 0;
    lua_getiuservalue(L, 1, 3);
    lua_pushvalue(L, 2);
    while (lua_next(L, -2)) {
        if (!position_of(L, lua_gettop(L) - 1))
            return 2;
        lua_pop(L, 1);
    }
    return 0;
}

static int row_pairs(lua_State *L)
{
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushcclosure(L, row_next, 1);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

/* tostring(row): {Name="value", ...} in pairs order, for a mapping author's print. */
static int row_tostring(lua_State *L)
{
    check_row(L);
    lua_settop(L, 1);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushcclosure(L, row_next, 1);   /* 2: next */
    lua_pushnil(L);                   /* 3: key */
    lua_pushliteral(L, "");           /* 4: the text so far */
    for (;;) {
        lua_pushvalue(L, 2);
        lua_pushvalue(L, 1);
        lua_pushvalue(L, 3);
        lua_call(L, 2, 2);            /* 5: key, 6: value */
        if (lua_isnil(L, 5))
            break;
        lua_copy(L, 5, 3);
        luaL_tolstring(L, 5, NULL);
        luaL_tolstring(L, 6, NULL);
        lua_pushfstring(L, "%s%s%s=\"%s\"", lua_tostring(L, 4), lua_rawlen(L, 4) ? ", " : "",
                        lua_tostring(L, 7), lua_tostring(L, 8));
        lua_replace(L, 4);
        lua_settop(L, 4);
    }
    lua_pushfstring(L, "{%s}", lua_tostring(L, 4));
    return 1;
}

void kc_row_push(lua_State *L, const char *data, const size_t *ends, size_t n, int index, int names)
{
    size_t len = n ? ends[n - 1] : 0;
    kc_row *r;
    index = lua_absindex(L, index);
    names = lua_absindex(L, names);
    r = lua_newuserdatauv(L, sizeof *r + n * sizeof r->ends[0] + len, 3);
    r->n = n;
    r->written = 0;
    if (n)
        memcpy(r->ends, ends, n * sizeof r->ends[0]);
    if (len)
        memcpy(r->ends + n, data, len);
    lua_pushvalue(L, index);
    lua_setiuservalue(L, -2, 1);
    lua_pushvalue(L, names);
    lua_setiuservalue(L, -2, 2);
    luaL_setmetatable(L, ROW_MT);
}

void kc_row_register(lua_State *L)
{
    static const luaL_Reg meta[] = {
        { "__index", row_index },
        { "__newindex", row_newindex },
        { "__pairs", row_pairs },
        { "__tostring", row_tostring },
        { NULL, NULL }
    };
    if (luaL_newmetatable(L, ROW_MT)) {
        lua_pushvalue(L, -1);   /* each function's upvalue: the metatable (check_row) */
        luaL_setfuncs(L, meta, 1);
        lua_pushliteral(L, "kiva row");
        lua_setfield(L, -2, "__metatable");
    }
    lua_pop(L, 1);
}

void kc_row_open(lua_State *L)
{
    kc_row_register(L);
    luaL_getmetatable(L, ROW_MT);
    lua_pushcclosure(L, row_on_missing, 1);
    lua_setfield(L, -2, "row_on_missing");
    luaL_getmetatable(L, ROW_MT);
    lua_pushcclosure(L, row_get, 1);
    lua_setfield(L, -2, "row_get");
}
