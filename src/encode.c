/* SPDX-License-Identifier: MIT
**
** The canonical JSON encoder behind compiled:encode(value): the exact bytes a
** payload is sent as, so equal values give equal bytes in every run. Driven by
** the schema: arrays stay arrays even when empty, integer-typed numbers print as
** integers, other numbers as the shortest text that reads back exactly, object
** keys in byte order (strcmp), strings escaped per RFC 8259 (plus U+2028/2029)
** with UTF-8 kept as is. The output buffer lives in a userdata, so a Lua error
** mid-way cannot leak it.
*/
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "numfmt.h"
#include "schema.h"
#include "utf8.h"

#define ENC_BUF_MT "kiva.core.encode_buffer"

typedef struct enc {
    lua_State *L;
    kc_buf *out;
    const char *base;      /* the path of the value encoded (kc_encode_at), "" for none */
    size_t base_len;
    /* the path below it, written out only for a message: one segment per nesting
    ** level, so at most KC_MAX_DEPTH (deeper is refused before a push) */
    kc_path_seg segs[KC_MAX_DEPTH + 1];
    size_t nsegs;
    const char *omit;      /* a key left out of the object at depth omit_depth, or NULL */
    size_t omit_len;
    int omit_depth;
    int validated;         /* kc_encode_at.validated */
    int names;             /* kc_encode_at.names */
    kc_encode_error *err;
} enc;

typedef struct keyref {
    const char *s;
    size_t len;
    int value;             /* stack index of the key's value, 0: looked up again */
    const kc_prop *prop;   /* the key in the object's schema, or NULL */
} keyref;

static size_t index_text(long long index, char *tmp);
static void path_append(char *path, size_t *plen, const char *s, size_t n);

static int fail(enc *e, const char *code, const char *what)
{
    char path[KC_PATH_MAX];
    size_t plen = 0, i, count = e->nsegs < KC_MAX_DEPTH + 1 ? e->nsegs : KC_MAX_DEPTH + 1;
    path_append(path, &plen, e->base, e->base_len);
    for (i = 0; i < count; i++) {
        if (e->segs[i].key) {
            if (plen) path_append(path, &plen, ".", 1);
            path_append(path, &plen, e->segs[i].key, e->segs[i].n);
        } else {
            char tmp[32];
            path_append(path, &plen, tmp, index_text((long long)e->segs[i].n, tmp));
        }
    }
    path[plen] = '\0';
    e->err->code = code;
    snprintf(e->err->msg, sizeof e->err->msg, "cannot encode %s: %s", plen ? path : "the value", what);
    return -1;
}

static int oom(enc *e)
{
    return fail(e, "ENOMEM", "out of memory");
}

/* "[12]" into tmp (at least 24 bytes) without snprintf; returns the length. */
static size_t index_text(long long index, char *tmp)
{
    char digits[24];
    size_t n = 0, k = 0;
    unsigned long long u = index < 0 ? 0ULL - (unsigned long long)index : (unsigned long long)index;
    do { digits[k++] = (char)('0' + u % 10); u /= 10; } while (u);
    tmp[n++] = '[';
    if (index < 0) tmp[n++] = '-';
    while (k) tmp[n++] = digits[--k];
    tmp[n++] = ']';
    return n;
}

/* Appends to a message's path, truncated at KC_PATH_MAX - 1 bytes. */
static void path_append(char *path, size_t *plen, const char *s, size_t n)
{
    size_t room = KC_PATH_MAX - 1 - *plen;
    if (n > room) n = room;
    memcpy(path + *plen, s, n);
    *plen += n;
}

/* Pushes a key (or, key NULL, an index) on the path: two stores, no text. */
static size_t path_push(enc *e, const char *key, size_t len, long long index)
{
    size_t saved = e->nsegs;
    if (e->nsegs < KC_MAX_DEPTH + 1) {
        e->segs[e->nsegs].key = key;
        e->segs[e->nsegs].n = key ? len : (size_t)index;
    }
    e->nsegs++;
    return saved;
}

static void path_pop(enc *e, size_t saved)
{
    e->nsegs = saved;
}

/* Appends n bytes: 0, or -1 out of memory. The common case (room left, no cap)
** copies in place: the encoder adds a few bytes at a time, and a call into buf.c
** for each cost a tenth of its time. */
static int put(kc_buf *b, const char *s, size_t n)
{
    if (b->max == 0 && n < b->cap - b->len) {   /* cap > len always holds once data is set */
        memcpy(b->data + b->len, s, n);
        b->len += n;
        b->data[b->len] = '\0';
        return 0;
    }
    return kc_buf_add(b, s, n);
}

static int add(enc *e, const char *s, size_t n)
{
    return put(e->out, s, n) == 0 ? 0 : oom(e);
}

/* ASCII bytes the escaper must look at: control characters, '"', '\\'. Every other
** byte is copied in runs. */
static const unsigned char needs_look[128] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,   /* '"' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,   /* '\\' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

/* Whether the 8 bytes at p are copied as they are: printable ASCII but '"' and '\\'. */
static int plain8(const unsigned char *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
    return !(kc_bytes_unprintable(w) | kc_bytes_has(w, '"') | kc_bytes_has(w, '\\'));
}

/* What a string that could not be written fails with: not UTF-8 comes first, as
** when the whole string was checked before anything was written. */
static int string_failed(const char *s, size_t len)
{
    return kc_utf8_valid(s, len, NULL, NULL) ? -2 : -1;
}

/* One pass: UTF-8 checked as the string is copied, plain ASCII 8 bytes at a time. On
** failure out may hold a part of the text (the callers drop it). */
int kc_encode_string(kc_buf *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, run_start = 0;

    if (kc_buf_reserve(out, len + 2) != 0 || put(out, "\"", 1))
        return string_failed(s, len);
    while (i < len) {
        char esc[8];
        size_t elen, step = 1;
        if (i + 8 <= len && plain8(p + i)) {
            i += 8;
            continue;
        }
        if (p[i] >= 0x80) {
            long cp = kc_utf8_decode(p + i, len - i, &step);
            if (cp < 0)
                return -1;
            if (cp != 0x2028 && cp != 0x2029) {
                i += step;
                continue;
            }
            /* U+2028/2029 are valid JSON but break JavaScript string literals */
            memcpy(esc, cp == 0x2028 ? "\\u2028" : "\\u2029", 6);
            elen = 6;
        } else if (!needs_look[p[i]]) {
            i++;
            continue;
        } else {
            esc[0] = '\\';
            elen = 2;
            switch (p[i]) {
            case '"': esc[1] = '"'; break;
            case '\\': esc[1] = '\\'; break;
            case '\b': esc[1] = 'b'; break;
            case '\f': esc[1] = 'f'; break;
            case '\n': esc[1] = 'n'; break;
            case '\r': esc[1] = 'r'; break;
            case '\t': esc[1] = 't'; break;
            default:
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[p[i] >> 4];
                esc[5] = hex[p[i] & 15];
                elen = 6;
            }
        }
        if (put(out, s + run_start, i - run_start) || put(out, esc, elen))
            return string_failed(s, len);
        i += step;
        run_start = i;
    }
    if (put(out, s + run_start, len - run_start) || put(out, "\"", 1))
        return string_failed(s, len);
    return 0;
}

static int add_string(enc *e, const char *s, size_t len)
{
    int rc = kc_encode_string(e->out, s, len);
    if (rc == -1)
        return fail(e, "INVALID_UTF8", "string is not valid UTF-8");
    return rc == 0 ? 0 : oom(e);
}

/* An integer as decimal text, without snprintf (it runs for every id and amount). */
static int add_integer(enc *e, long long v)
{
    char digits[24];
    size_t k = sizeof digits;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do { digits[--k] = (char)('0' + u % 10); u /= 10; } while (u);
    if (v < 0) digits[--k] = '-';
    return add(e, digits + k, sizeof digits - k);
}

static int add_number(enc *e, const kc_node *n, int idx)
{
    lua_State *L = e->L;
    char text[KC_NUM_MAX];
    int len;
    double d;

    if (lua_isinteger(L, idx))
        return add_integer(e, (long long)lua_tointeger(L, idx));
    d = lua_tonumber(L, idx);
    if (!isfinite(d))
        return fail(e, "NOT_FINITE", "numbers must be finite (JSON has no NaN or infinity)");
    if (n && (n->types & KT_INTEGER) && !(n->types & KT_NUMBER) && kc_is_integral(L, idx))
        return add_integer(e, (long long)d);   /* |d| <= 2^53 here; no "-0" */
    else if (d == 0)
        len = snprintf(text, sizeof text, "0");
    else
        len = kc_num_shortest(d, text);
    return add(e, text, (size_t)len);
}

static int compare_keys(const void *a, const void *b)
{
    const keyref *x = a, *y = b;
    size_t m;
    int c;
    if (x->prop && y->prop)   /* the schema's properties are in this same order */
        return x->prop < y->prop ? -1 : x->prop > y->prop;
    m = x->len < y->len ? x->len : y->len;
    c = memcmp(x->s, y->s, m);
    return c ? c : (x->len < y->len ? -1 : x->len > y->len);
}

static int encode_node(enc *e, const kc_node *n, int idx, int depth);

static int add_array(enc *e, const kc_node *n, int idx, long long count, int depth)
{
    lua_State *L = e->L;
    long long i;
    if (add(e, "[", 1))
        return -1;
    for (i = 1; i <= count; i++) {
        size_t saved;
        int rc;
        if (i > 1 && add(e, ",", 1))
            return -1;
        lua_rawgeti(L, idx, (lua_Integer)i);
        saved = path_push(e, NULL, 0, i);
        rc = encode_node(e, n ? n->items : NULL, -1, depth + 1);
        path_pop(e, saved);
        lua_pop(L, 1);
        if (rc)
            return rc;
    }
    return add(e, "]", 1);
}

#define SMALL_OBJECT 32   /* keys sorted on the C stack; larger objects use a userdata */

static void sort_keys(keyref *keys, size_t count)
{
    size_t i, j;
    if (count > SMALL_OBJECT) {
        qsort(keys, count, sizeof *keys, compare_keys);
        return;
    }
    for (i = 1; i < count; i++) {   /* insertion sort: payload objects are small */
        keyref k = keys[i];
        for (j = i; j > 0 && compare_keys(&keys[j - 1], &k) > 0; j--)
            keys[j] = keys[j - 1];
        keys[j] = k;
    }
}

static int omitted(const enc *e, int depth, const char *key, size_t len)
{
    return e->omit && depth == e->omit_depth && len == e->omit_len && memcmp(key, e->omit, len) == 0;
}

/* A validated object of a closed schema (additionalProperties false) has no key
** but the schema's properties: each is looked up in their order, the encoding's,
** with no traversal of the table and no sort. */
static int add_closed_object(enc *e, const kc_node *n, int idx, int depth)
{
    lua_State *L = e->L;
    size_t i, written = 0;
    int rc = 0;

    if (add(e, "{", 1))
        return -1;
    for (i = 0; i < n->nprops; i++) {
        const kc_prop *p = &n->props[i];
        size_t saved;
        if (omitted(e, depth, p->name, p->len))
            continue;
        if (e->names)
            lua_rawgeti(L, e->names, p->ref);
        else
            lua_pushlstring(L, p->name, p->len);
        if (lua_rawget(L, idx) == LUA_TNIL) {
            lua_pop(L, 1);
            continue;
        }
        if ((written++ > 0 && add(e, ",", 1))
            || (p->json ? add(e, p->json, p->json_len) : (add_string(e, p->name, p->len) || add(e, ":", 1)))) {
            rc = -1;
        } else {
            saved = path_push(e, p->name, p->len, 0);
            rc = encode_node(e, p->schema, -1, depth + 1);
            path_pop(e, saved);
        }
        lua_pop(L, 1);
        if (rc)
            return rc;
    }
    return add(e, "}", 1);
}

static int add_object(enc *e, const kc_node *n, int idx, int depth)
{
    lua_State *L = e->L;
    size_t count = 0, i, written = 0;
    keyref small[SMALL_OBJECT], *keys = small;
    int base = lua_gettop(L), rc = -1;

    if (e->validated && n && n->no_additional)
        return add_closed_object(e, n, idx, depth);
    /* One traversal while the keys fit in `small`, each key and value left on the
    ** stack (no second lookup of the value); a larger object is counted, then
    ** listed into a userdata (so that a raise cannot leak it) and its values looked
    ** up by key. The keys stay alive because the table holds them. */
    luaL_checkstack(L, 2 * SMALL_OBJECT + 4, "encoding");
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            lua_settop(L, base);
            return fail(e, "NOT_AN_OBJECT", "object keys must be strings");
        }
        if (count < SMALL_OBJECT) {
            small[count].s = lua_tolstring(L, -2, &small[count].len);
            small[count].value = lua_gettop(L);
            small[count].prop = n ? kc_node_find(n, small[count].s, small[count].len) : NULL;
            lua_pushvalue(L, -2);   /* the key lua_next goes on from */
        } else {
            lua_pop(L, 1);
        }
        count++;
    }
    if (count > SMALL_OBJECT) {
        lua_settop(L, base);
        keys = lua_newuserdatauv(L, count * sizeof *keys, 0);
        i = 0;
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            lua_pop(L, 1);
            if (i < count) {
                keys[i].s = lua_tolstring(L, -1, &keys[i].len);
                keys[i].value = 0;
                keys[i].prop = n ? kc_node_find(n, keys[i].s, keys[i].len) : NULL;
                i++;
            }
        }
        count = i;
    }
    sort_keys(keys, count);
    if (add(e, "{", 1))
        goto done;
    for (i = 0; i < count; i++) {
        size_t saved;
        int value = keys[i].value;
        if (omitted(e, depth, keys[i].s, keys[i].len))
            continue;
        rc = -1;   /* the key's own failures below (rc may hold the last value's 0) */
        if (written++ > 0 && add(e, ",", 1))
            goto done;
        if (keys[i].prop && keys[i].prop->json) {
            if (add(e, keys[i].prop->json, keys[i].prop->json_len))
                goto done;
        } else if (add_string(e, keys[i].s, keys[i].len) || add(e, ":", 1)) {
            goto done;
        }
        if (!value) {
            lua_pushlstring(L, keys[i].s, keys[i].len);
            lua_rawget(L, idx);
        }
        saved = path_push(e, keys[i].s, keys[i].len, 0);
        rc = encode_node(e, keys[i].prop ? keys[i].prop->schema : NULL, value ? value : -1, depth + 1);
        path_pop(e, saved);
        if (!value)
            lua_pop(L, 1);
        if (rc)
            goto done;
    }
    rc = add(e, "}", 1);
done:
    lua_settop(L, base);
    return rc;
}

static int encode_node(enc *e, const kc_node *n, int idx, int depth)
{
    lua_State *L = e->L;
    char bad[8];
    long long seq;
    size_t len;
    const char *s;
    int want;

    idx = lua_absindex(L, idx);
    if (n && n->always)
        n = NULL;
    switch (lua_type(L, idx)) {
    case LUA_TBOOLEAN:
        return lua_toboolean(L, idx) ? add(e, "true", 4) : add(e, "false", 5);
    case LUA_TNUMBER:
        return add_number(e, n, idx);
    case LUA_TSTRING:
        s = lua_tolstring(L, idx, &len);
        return add_string(e, s, len);
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == NULL)
            return add(e, "null", 4);
        break;
    case LUA_TTABLE:
        if (depth >= KC_MAX_DEPTH)
            return fail(e, "TOO_DEEP", "nested too deeply (or a table contains itself)");
        luaL_checkstack(L, 8, "encoding");
        want = n ? n->types & (KT_ARRAY | KT_OBJECT) : 0;
        if (want == KT_OBJECT)   /* add_object checks the keys itself */
            return add_object(e, n, idx, depth);
        /* validated as an array: a proper sequence, its border its length */
        if (want == KT_ARRAY && e->validated)
            return add_array(e, n, idx, (long long)lua_rawlen(L, idx), depth);
        seq = kc_table_sequence(L, idx, bad, sizeof bad);
        if (want == KT_ARRAY) {
            if (seq < 0)
                return fail(e, "NOT_AN_ARRAY", "an array must be a table with keys 1..n and nothing else");
            return add_array(e, n, idx, seq, depth);
        }
        if (want == KT_OBJECT || seq == 0)
            return add_object(e, n, idx, depth);
        if (seq > 0)
            return add_array(e, n, idx, seq, depth);
        return add_object(e, n, idx, depth);
    default:
        break;
    }
    {
        char what[64];
        snprintf(what, sizeof what, "a %s is not a JSON value", luaL_typename(L, idx));
        return fail(e, "NOT_JSON", what);
    }
}

static int buffer_release(lua_State *L)
{
    kc_buf *b = luaL_checkudata(L, 1, ENC_BUF_MT);
    kc_buf_free(b);
    return 0;
}

int kc_encode_append(lua_State *L, const kc_node *node, int idx, kc_buf *out, const kc_encode_at *at,
                     kc_encode_error *err)
{
    enc e;

    idx = lua_absindex(L, idx);
    e.L = L;
    e.out = out;
    e.base = "";
    e.base_len = 0;
    e.nsegs = 0;
    e.omit = NULL;
    e.omit_len = 0;
    e.omit_depth = 0;
    e.validated = 0;
    e.names = 0;
    e.err = err;
    if (at) {
        e.base = at->path;
        e.base_len = at->path_len;
        e.omit = at->omit;
        e.omit_len = at->omit_len;
        e.omit_depth = at->depth;
        e.validated = at->validated;
        e.names = at->names;
    }
    if (lua_isnil(L, idx))
        return fail(&e, "NOT_JSON", "nil is not a JSON value");
    return encode_node(&e, node, idx, at ? at->depth : 0);
}

int kc_encode_value(lua_State *L, const kc_node *node, int idx)
{
    kc_encode_error err;
    kc_buf *b;

    idx = lua_absindex(L, idx);
    b = lua_newuserdatauv(L, sizeof *b, 0);
    kc_buf_init(b, 0);
    if (luaL_newmetatable(L, ENC_BUF_MT)) {
        lua_pushcfunction(L, buffer_release);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    if (kc_encode_append(L, node, idx, b, NULL, &err) == 0) {
        lua_pushlstring(L, b->data ? b->data : "", b->len);
        kc_buf_free(b);
        return 1;
    }
    kc_buf_free(b);
    return kc_fail(L, err.code, "%s", err.msg);
}
