/* SPDX-License-Identifier: MIT
**
** Records of named string fields packed into bytes, for the run store's pages
** (lua/kiva/runstore.lua): "kiva.core.record_codec". Every row of an export becomes
** one record, so packing and reading back are done here rather than field by field
** in Lua.
**
** A record: its total size (u32, little-endian), a mask of the fields present
** (u32), then each present field in the codec's order as a u32 length and bytes.
** A field is a string or a number (written as Lua's tostring writes it). A table in
** a field named as JSON is encoded by the codec's encoder (a Lua function) first.
**
** Registers: record_codec(names, json_names, encode) -> codec;
**   codec:pack(t) -> string; codec:unpack(data [, pos]) -> t, next_pos;
**   codec:join(data, statuses, first, after, code, name, limit, sep) -> joined, n
**   [, first_seq, last_seq] (see codec_join);
**   codec:page() -> page (page:add(t), page:add_fields(v1, ...), page:count(),
**   page:take() -> the page's records as one string, emptied; a buffer per page);
**   codec:select(data, statuses, first, after, code, name [, name2]) -> seqs, values
**   [, values2] (a page's items of one status: see codec_select).
*/
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "kiva_core.h"

#define CODEC_MT "kiva.core.record_codec"
#define PAGE_MT "kiva.core.record_page"
#define MAX_FIELDS 32

/* The codec's uservalues: 1 = names (array), 2 = json names (set), 3 = encoder. */
typedef struct kc_codec {
    int count;
    uint32_t json_mask;
} kc_codec;

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static kc_codec *check_codec(lua_State *L)
{
    return luaL_checkudata(L, 1, CODEC_MT);
}

static void put_u32_at(char *p, uint32_t v)
{
    p[0] = (char)(v & 0xff);
    p[1] = (char)((v >> 8) & 0xff);
    p[2] = (char)((v >> 16) & 0xff);
    p[3] = (char)((v >> 24) & 0xff);
}

/* The values at stack slots base .. base + c->count - 1 (nil: absent) as one
** record's parts: JSON fields given as tables are encoded in their slots (the
** codec's encoder, at codec_idx, may raise), numbers become their text in theirs,
** which anchor the strings. @return the record's size */
static uint32_t collect(lua_State *L, const kc_codec *c, int codec_idx, int base, const char **values,
                        size_t *lens, uint32_t *mask)
{
    uint32_t size = 8;
    int i;
    *mask = 0;
    for (i = 0; i < c->count; i++) {
        int slot = base + i, t = lua_type(L, slot);
        values[i] = NULL;
        if (t == LUA_TNIL)
            continue;
        if (t == LUA_TTABLE && (c->json_mask & (1u << i))) {
            lua_getiuservalue(L, codec_idx, 3);
            lua_pushvalue(L, slot);
            lua_call(L, 1, 1);
            lua_replace(L, slot);
            t = lua_type(L, slot);
        }
        if (t != LUA_TSTRING && t != LUA_TNUMBER) {
            lua_getiuservalue(L, codec_idx, 1);
            lua_rawgeti(L, -1, i + 1);
            luaL_error(L, "record field %s: a string or a number expected, got %s", lua_tostring(L, -1),
                       luaL_typename(L, slot));
        }
        values[i] = lua_tolstring(L, slot, &lens[i]);
        if (lens[i] > UINT32_MAX - size - 4)
            luaL_error(L, "record too large");
        *mask |= 1u << i;
        size += 4 + (uint32_t)lens[i];
    }
    return size;
}

/* Writes the record collect() described at out (size bytes). */
static void write_record(char *out, const kc_codec *c, const char **values, const size_t *lens, uint32_t mask,
                         uint32_t size)
{
    char *p = out + 8;
    int i;
    put_u32_at(out, size);
    put_u32_at(out + 4, mask);
    for (i = 0; i < c->count; i++) {
        if (!values[i])
            continue;
        put_u32_at(p, (uint32_t)lens[i]);
        memcpy(p + 4, values[i], lens[i]);
        p += 4 + lens[i];
    }
}

/* Pushes table t's fields (at index t) in the codec's order, from stack slot
** `base` on; names at index `names`. */
static void push_fields(lua_State *L, const kc_codec *c, int names, int t)
{
    int i;
    luaL_checkstack(L, MAX_FIELDS + 8, "record");
    for (i = 0; i < c->count; i++) {
        lua_rawgeti(L, names, i + 1);
        lua_rawget(L, t);
    }
}

/* codec:pack(t) */
static int codec_pack(lua_State *L)
{
    kc_codec *c = check_codec(L);
    const char *values[MAX_FIELDS];
    size_t lens[MAX_FIELDS];
    uint32_t mask, size;
    char small[1024], *out;

    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    lua_getiuservalue(L, 1, 1);   /* 3: names */
    push_fields(L, c, 3, 2);      /* 4 ..: the values */
    size = collect(L, c, 1, 4, values, lens, &mask);
    out = size <= sizeof small ? small : lua_newuserdatauv(L, size, 0);
    write_record(out, c, values, lens, mask, size);
    lua_pushlstring(L, out, size);
    return 1;
}

/* A page being filled: records appended to a buffer the userdata owns, taken as
** one string when the page is full (the run store's pages: no string per item). */
typedef struct kc_page {
    kc_buf buf;
    lua_Integer count;
} kc_page;

static kc_page *check_page(lua_State *L)
{
    return luaL_checkudata(L, 1, PAGE_MT);
}

static int page_release(lua_State *L)
{
    kc_page *pg = check_page(L);
    kc_buf_free(&pg->buf);
    pg->count = 0;
    return 0;
}

/* codec:page() -> page */
static int codec_page(lua_State *L)
{
    kc_page *pg;
    check_codec(L);
    pg = lua_newuserdatauv(L, sizeof *pg, 1);
    kc_buf_init(&pg->buf, 0);
    pg->count = 0;
    luaL_setmetatable(L, PAGE_MT);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);
    return 1;
}

/* Appends the record of the values from stack slot base on; the page's codec is
** at codec_idx. */
static void page_append(lua_State *L, kc_page *pg, int codec_idx, int base)
{
    const kc_codec *c = lua_touserdata(L, codec_idx);
    const char *values[MAX_FIELDS];
    size_t lens[MAX_FIELDS];
    uint32_t mask, size = collect(L, c, codec_idx, base, values, lens, &mask);
    if (kc_buf_reserve(&pg->buf, size) != 0)
        luaL_error(L, "not enough memory for a page");
    write_record(pg->buf.data + pg->buf.len, c, values, lens, mask, size);
    pg->buf.len += size;
    pg->count++;
}

/* page:add(t): a record from table t, as codec:pack(t). @return the page's bytes */
static int page_add(lua_State *L)
{
    kc_page *pg = check_page(L);
    const kc_codec *c;
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    lua_getiuservalue(L, 1, 1);   /* 3: codec */
    c = lua_touserdata(L, 3);
    lua_getiuservalue(L, 3, 1);   /* 4: names */
    push_fields(L, c, 4, 2);      /* 5 ..: the values */
    page_append(L, pg, 3, 5);
    lua_pushinteger(L, (lua_Integer)pg->buf.len);
    return 1;
}

/* page:add_fields(v1, v2, ...): a record from the fields' values in the codec's
** order (nil: absent; those left out are absent): the hot path, no table.
** @return the page's bytes */
static int page_add_fields(lua_State *L)
{
    kc_page *pg = check_page(L);
    const kc_codec *c;
    int given = lua_gettop(L) - 1;
    lua_getiuservalue(L, 1, 1);
    c = lua_touserdata(L, -1);
    lua_pop(L, 1);
    luaL_argcheck(L, given <= c->count, c->count + 2, "more values than the codec has fields");
    luaL_checkstack(L, MAX_FIELDS + 8, "record");
    lua_settop(L, c->count + 1);   /* the values at 2 .., nil for those not given */
    lua_getiuservalue(L, 1, 1);    /* the codec, above them */
    page_append(L, pg, c->count + 2, 2);
    lua_pushinteger(L, (lua_Integer)pg->buf.len);
    return 1;
}

/* page:take() -> the records appended since the last take, as one string (the
** page is then empty); page:count() the records in it. */
static int page_take(lua_State *L)
{
    kc_page *pg = check_page(L);
    lua_pushlstring(L, pg->buf.data ? pg->buf.data : "", pg->buf.len);
    kc_buf_reset(&pg->buf);
    pg->count = 0;
    return 1;
}

static int page_count(lua_State *L)
{
    lua_pushinteger(L, check_page(L)->count);
    return 1;
}

/* The record at 1-based pos of data: its start, size and mask (raises on a bad one). */
static const unsigned char *record_at(lua_State *L, size_t *pos, uint32_t *size, uint32_t *mask)
{
    size_t len;
    const unsigned char *data = (const unsigned char *)luaL_checklstring(L, 2, &len);
    lua_Integer p = luaL_optinteger(L, 3, 1);
    luaL_argcheck(L, p >= 1 && (size_t)p + 7 <= len, 3, "no record at this position");
    *pos = (size_t)p - 1;
    *size = get_u32(data + *pos);
    *mask = get_u32(data + *pos + 4);
    luaL_argcheck(L, *size >= 8 && *size <= len - *pos, 3, "a record cut short");
    return data + *pos;
}

/* codec:unpack(data [, pos]) */
static int codec_unpack(lua_State *L)
{
    kc_codec *c = check_codec(L);
    size_t pos;
    uint32_t size, mask, off = 8;
    const unsigned char *rec = record_at(L, &pos, &size, &mask);
    int i;

    lua_getiuservalue(L, 1, 1);   /* names */
    lua_createtable(L, 0, 8);
    for (i = 0; i < c->count; i++) {
        uint32_t n;
        if (!(mask & (1u << i)))
            continue;
        luaL_argcheck(L, off + 4 <= size, 2, "a record cut short");
        n = get_u32(rec + off);
        luaL_argcheck(L, n <= size - off - 4, 2, "a record cut short");
        lua_rawgeti(L, -2, i + 1);
        lua_pushlstring(L, (const char *)rec + off + 4, n);
        lua_rawset(L, -3);
        off += 4 + n;
    }
    lua_pushinteger(L, (lua_Integer)(pos + size + 1));
    return 2;
}

/* The index of field `name` in the codec, or -1. */
static int field_index(lua_State *L, const kc_codec *c, const char *name)
{
    int i, found = -1;
    lua_getiuservalue(L, 1, 1);
    for (i = 0; i < c->count && found < 0; i++) {
        lua_rawgeti(L, -1, i + 1);
        if (strcmp(lua_tostring(L, -1), name) == 0)
            found = i;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return found;
}

/* Field `index` of the record at rec (size bytes): its bytes and *n, or NULL when
** the record lacks it (or is cut short before it). */
static const char *field_span(const unsigned char *rec, uint32_t size, uint32_t mask, int index, uint32_t *n)
{
    uint32_t off = 8;
    int i;
    for (i = 0; i < index; i++)
        if (mask & (1u << i))
            off += 4 + get_u32(rec + off);
    if (!(mask & (1u << index)) || off + 4 > size || get_u32(rec + off) > size - off - 4)
        return NULL;
    *n = get_u32(rec + off);
    return (const char *)rec + off + 4;
}

/* Pushes field `index` of the record at rec (size bytes), or nil. */
static void push_field(lua_State *L, const unsigned char *rec, uint32_t size, uint32_t mask, int index)
{
    uint32_t n;
    const char *p = field_span(rec, size, mask, index, &n);
    if (p)
        lua_pushlstring(L, p, n);
    else
        lua_pushnil(L);
}

/* The size and mask of the record at pos of a page of len bytes (raises on a page
** cut short): the one check of a page's walk, for select and join. */
static void page_record(lua_State *L, const unsigned char *data, size_t len, size_t pos, uint32_t *size,
                        uint32_t *mask)
{
    luaL_argcheck(L, pos + 8 <= len, 2, "a page cut short");
    *size = get_u32(data + pos);
    *mask = get_u32(data + pos + 4);
    luaL_argcheck(L, *size >= 8 && *size <= len - pos, 2, "a page cut short");
}

/* codec:select(data, statuses, first, after, code, name [, name2]) -> seqs, values [, values2]
** One page's records (data), with a status byte each (statuses; the page's first
** item is seq `first`): those after seq `after` whose byte, less 32 (a flag), is
** `code`, as their seqs and the fields named. What a dry run reads back, in C. */
static int codec_select(lua_State *L)
{
    kc_codec *c = check_codec(L);
    size_t len, count, i, pos = 0;
    const unsigned char *data = (const unsigned char *)luaL_checklstring(L, 2, &len);
    const unsigned char *codes = (const unsigned char *)luaL_checklstring(L, 3, &count);
    lua_Integer first = luaL_checkinteger(L, 4), after = luaL_checkinteger(L, 5);
    int code = (int)luaL_checkinteger(L, 6);
    int index = field_index(L, c, luaL_checkstring(L, 7));
    int index2 = lua_isnoneornil(L, 8) ? -1 : field_index(L, c, luaL_checkstring(L, 8));
    lua_Integer n = 0;

    luaL_argcheck(L, index >= 0, 7, "no such field");
    luaL_argcheck(L, lua_isnoneornil(L, 8) || index2 >= 0, 8, "no such field");
    lua_settop(L, 8);
    lua_newtable(L);   /* 9: seqs */
    lua_newtable(L);   /* 10: values */
    lua_newtable(L);   /* 11: values2 */
    for (i = 0; i < count; i++) {
        uint32_t size, mask;
        page_record(L, data, len, pos, &size, &mask);
        if (first + (lua_Integer)i > after && (codes[i] & ~32) == code) {
            n++;
            lua_pushinteger(L, first + (lua_Integer)i);
            lua_rawseti(L, 9, n);
            push_field(L, data + pos, size, mask, index);
            lua_rawseti(L, 10, n);
            if (index2 >= 0) {
                push_field(L, data + pos, size, mask, index2);
                lua_rawseti(L, 11, n);
            }
        }
        pos += size;
    }
    if (index2 < 0)
        lua_settop(L, 10);
    return index2 >= 0 ? 3 : 2;
}

/* codec:join(data, statuses, first, after, code, name, limit, sep) -> joined, n, first_seq, last_seq
** As codec:select, but the field `name` of at most `limit` such items joined by
** `sep` in one string (a dry run's batch body, without a string per item); n = 0
** (and no seqs) when none is left after `after`. */
static int codec_join(lua_State *L)
{
    kc_codec *c = check_codec(L);
    size_t len, count, i, pos = 0, sep_len;
    const unsigned char *data = (const unsigned char *)luaL_checklstring(L, 2, &len);
    const unsigned char *codes = (const unsigned char *)luaL_checklstring(L, 3, &count);
    lua_Integer first = luaL_checkinteger(L, 4), after = luaL_checkinteger(L, 5);
    int code = (int)luaL_checkinteger(L, 6);
    int index = field_index(L, c, luaL_checkstring(L, 7));
    lua_Integer limit = luaL_checkinteger(L, 8), n = 0, first_seq = 0, last_seq = 0;
    const char *sep = luaL_checklstring(L, 9, &sep_len);
    luaL_Buffer b;

    luaL_argcheck(L, index >= 0, 7, "no such field");
    luaL_buffinit(L, &b);
    for (i = 0; i < count && n < limit; i++) {
        uint32_t size, mask, field_len;
        const char *field;
        page_record(L, data, len, pos, &size, &mask);
        if (first + (lua_Integer)i > after && (codes[i] & ~32) == code) {
            field = field_span(data + pos, size, mask, index, &field_len);
            if (field) {
                if (n > 0)
                    luaL_addlstring(&b, sep, sep_len);
                luaL_addlstring(&b, field, field_len);
                if (n == 0)
                    first_seq = first + (lua_Integer)i;
                last_seq = first + (lua_Integer)i;
                n++;
            }
        }
        pos += size;
    }
    luaL_pushresult(&b);
    lua_pushinteger(L, n);
    if (n == 0)
        return 2;
    lua_pushinteger(L, first_seq);
    lua_pushinteger(L, last_seq);
    return 4;
}

/* record_codec(names, json_names, encode) */
static int codec_new(lua_State *L)
{
    kc_codec *c;
    lua_Integer n, i;
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TTABLE);
    luaL_checktype(L, 3, LUA_TFUNCTION);
    n = (lua_Integer)lua_rawlen(L, 1);
    luaL_argcheck(L, n >= 1 && n <= MAX_FIELDS, 1, "1 to 32 field names");
    c = lua_newuserdatauv(L, sizeof *c, 3);
    c->count = (int)n;
    c->json_mask = 0;
    for (i = 1; i <= n; i++) {
        if (lua_rawgeti(L, 1, i) != LUA_TSTRING)
            return luaL_argerror(L, 1, "field names must be strings");
        if (lua_rawget(L, 2) != LUA_TNIL)
            c->json_mask |= 1u << (i - 1);
        lua_pop(L, 1);
    }
    luaL_setmetatable(L, CODEC_MT);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);
    lua_pushvalue(L, 2);
    lua_setiuservalue(L, -2, 2);
    lua_pushvalue(L, 3);
    lua_setiuservalue(L, -2, 3);
    return 1;
}

void kc_record_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        { "pack", codec_pack },
        { "unpack", codec_unpack },
        { "select", codec_select },
        { "join", codec_join },
        { "page", codec_page },
        { NULL, NULL }
    };
    static const luaL_Reg page_methods[] = {
        { "add", page_add },
        { "add_fields", page_add_fields },
        { "take", page_take },
        { "count", page_count },
        { "close", page_release },
        { NULL, NULL }
    };
    if (luaL_newmetatable(L, CODEC_MT)) {
        luaL_newlib(L, methods);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    if (luaL_newmetatable(L, PAGE_MT)) {
        luaL_newlib(L, page_methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, page_release);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, page_release);
        lua_setfield(L, -2, "__close");
    }
    lua_pop(L, 1);
    lua_pushcfunction(L, codec_new);
    lua_setfield(L, -2, "record_codec");
}
