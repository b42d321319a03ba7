/* SPDX-License-Identifier: MIT
**
** The JSON Schema validator: walks a Lua value (tables read raw, metatables
** ignored) against a compiled kc_node tree and appends every violation to the
** errors table as { path = "entreps[2].amount", message = "rule: ..., found ..." }.
** Strings are checked as strict UTF-8 without control characters everywhere.
*/
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "date.h"
#include "numfmt.h"
#include "schema.h"
#include "utf8.h"

/* ===== paths and error records ===== */

/* The path is kept as segments and written out only for a finding (path_text). */

size_t kc_path_push_key(kc_vctx *c, const char *key, size_t len)
{
    size_t saved = c->nsegs;
    if (c->nsegs < KC_PATH_SEGS) {
        c->segs[c->nsegs].key = key;
        c->segs[c->nsegs].n = len;
    }
    c->nsegs++;
    return saved;
}

size_t kc_path_push_index(kc_vctx *c, long long i)
{
    size_t saved = c->nsegs;
    if (c->nsegs < KC_PATH_SEGS) {
        c->segs[c->nsegs].key = NULL;
        c->segs[c->nsegs].n = i < 0 ? 0 : (size_t)i;   /* indexes are >= 1 */
    }
    c->nsegs++;
    return saved;
}

void kc_path_pop(kc_vctx *c, size_t saved)
{
    c->nsegs = saved;
}

/* Appends to a path text, truncated at KC_PATH_MAX - 1 bytes. */
static void path_add(char *path, size_t *plen, const char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n && *plen + 1 < KC_PATH_MAX; i++) {
        unsigned char ch = (unsigned char)s[i];
        /* keys are reported, not trusted: keep the path printable */
        path[(*plen)++] = (ch < 0x20 || ch == 0x7F) ? '?' : (char)ch;
    }
}

/* The path's text ("entreps[2].amount") into path (KC_PATH_MAX bytes); its length. */
static size_t path_text(const kc_vctx *c, char *path)
{
    size_t plen = 0, i, count = c->nsegs < KC_PATH_SEGS ? c->nsegs : KC_PATH_SEGS;
    for (i = 0; i < count; i++) {
        const kc_path_seg *g = &c->segs[i];
        if (g->key) {
            size_t bad;
            if (plen > 0)
                path_add(path, &plen, ".", 1);
            if (kc_utf8_valid(g->key, g->n, NULL, &bad))
                path_add(path, &plen, g->key, g->n);
            else
                path_add(path, &plen, "<invalid UTF-8 key>", 19);
        } else {
            char tmp[32], *p = tmp + sizeof tmp;
            size_t u = g->n;
            *--p = ']';
            do { *--p = (char)('0' + u % 10); u /= 10; } while (u > 0);
            *--p = '[';
            path_add(path, &plen, p, (size_t)(tmp + sizeof tmp - p));
        }
    }
    path[plen] = '\0';
    return plen;
}

/* Appends { path, message } to the errors array, or to the warnings array when
** `warning` and not strict. Findings made while trying oneOf/if branches only
** count (errors) or vanish (warnings). */
static void record(kc_vctx *c, int warning, const char *fmt, va_list ap)
{
    lua_State *L = c->L;
    int *count, list;
    char path[KC_PATH_MAX];
    size_t plen;

    if (warning && !c->strict) {
        if (c->quiet > 0 || c->warnings == 0 || c->nwarnings >= KC_MAX_ERRORS)
            return;
        count = &c->nwarnings;
        list = c->warnings;
    } else {
        count = &c->nerrors;
        list = c->errors;
    }
    (*count)++;
    if (c->quiet > 0 || *count > KC_MAX_ERRORS + 1)
        return;
    luaL_checkstack(L, 4, "validation errors");
    if (lua_type(L, list) != LUA_TTABLE) {   /* a nil slot: the list made on its first finding */
        lua_createtable(L, 1, 0);
        lua_replace(L, list);
    }
    lua_createtable(L, 0, 2);
    plen = path_text(c, path);
    if (c->hide > 0 && plen >= c->hide) {
        size_t skip = c->hide + (plen > c->hide && path[c->hide] == '.');
        lua_pushlstring(L, path + skip, plen - skip);
    } else {
        lua_pushlstring(L, path, plen);
    }
    lua_setfield(L, -2, "path");
    if (*count == KC_MAX_ERRORS + 1)
        lua_pushfstring(L, "more than %d errors: the rest are not listed", KC_MAX_ERRORS);
    else
        lua_pushvfstring(L, fmt, ap);
    lua_setfield(L, -2, "message");
    lua_rawseti(L, list, *count);
}

void kc_verror(kc_vctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    record(c, 0, fmt, ap);
    va_end(ap);
}

void kc_verror_at(kc_vctx *c, const char *key, long long index, const char *fmt, ...)
{
    va_list ap;
    size_t saved = key ? kc_path_push_key(c, key, strlen(key)) : kc_path_push_index(c, index);
    va_start(ap, fmt);
    record(c, 0, fmt, ap);
    va_end(ap);
    kc_path_pop(c, saved);
}

void kc_vwarn(kc_vctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    record(c, 1, fmt, ap);
    va_end(ap);
}

void kc_vwarn_at(kc_vctx *c, const char *key, const char *fmt, ...)
{
    va_list ap;
    size_t saved = kc_path_push_key(c, key, strlen(key));
    va_start(ap, fmt);
    record(c, 1, fmt, ap);
    va_end(ap);
    kc_path_pop(c, saved);
}

/* ===== deterministic order ===== */

typedef struct finding {
    const char *path, *message;
    size_t plen, mlen;
    lua_Integer at;        /* index in the unsorted array */
} finding;

/* One path segment from *p: a key (returns 1, text in *s, length in *n) or an index
** "[n]" (returns 2, *index); 0 at the end. */
static int segment(const char **p, const char *end, const char **s, size_t *n, unsigned long long *index)
{
    const char *q = *p;
    if (q < end && *q == '.')
        q++;
    if (q >= end)
        return 0;
    if (*q == '[') {
        unsigned long long v = 0;
        for (q++; q < end && *q >= '0' && *q <= '9'; q++)
            v = v * 10 + (unsigned long long)(*q - '0');
        if (q < end && *q == ']')
            q++;
        *index = v;
        *p = q;
        return 2;
    }
    *s = q;
    while (q < end && *q != '.' && *q != '[')
        q++;
    *n = (size_t)(q - *s);
    *p = q;
    return 1;
}

static int compare_bytes(const char *a, size_t an, const char *b, size_t bn)
{
    int cmp = memcmp(a, b, an < bn ? an : bn);
    if (cmp)
        return cmp;
    return an < bn ? -1 : an > bn ? 1 : 0;
}

static int compare_findings(const void *x, const void *y)
{
    const finding *a = x, *b = y;
    const char *pa = a->path, *pb = b->path, *ea = a->path + a->plen, *eb = b->path + b->plen;
    for (;;) {
        const char *sa = NULL, *sb = NULL;
        size_t na = 0, nb = 0;
        unsigned long long ia = 0, ib = 0;
        int ta = segment(&pa, ea, &sa, &na, &ia), tb = segment(&pb, eb, &sb, &nb, &ib);
        int cmp;
        if (ta != tb)
            return ta - tb;   /* the end (a parent) first, then indexes, then keys */
        if (ta == 0)
            break;
        cmp = ta == 2 ? (ia < ib ? -1 : ia > ib) : compare_bytes(sa, na, sb, nb);
        if (cmp)
            return cmp;
    }
    {
        int cmp = compare_bytes(a->message, a->mlen, b->message, b->mlen);
        return cmp ? cmp : (a->at < b->at ? -1 : a->at > b->at);
    }
}

void kc_sort_findings(lua_State *L, int idx)
{
    lua_Integer n, i, sorted;
    finding *f;

    idx = lua_absindex(L, idx);
    n = lua_type(L, idx) == LUA_TTABLE ? (lua_Integer)lua_rawlen(L, idx) : 0;
    if (n < 2)
        return;
    sorted = n;
    /* "more than N errors" stays last */
    if (n > KC_MAX_ERRORS)
        sorted = KC_MAX_ERRORS;
    luaL_checkstack(L, 4, "sorting findings");
    /* owned by a userdata: nothing leaks if Lua raises */
    f = lua_newuserdatauv(L, (size_t)sorted * sizeof *f, 0);
    for (i = 1; i <= sorted; i++) {
        lua_rawgeti(L, idx, i);   /* the strings stay anchored by the entry tables in idx */
        lua_getfield(L, -1, "path");
        f[i - 1].path = lua_tolstring(L, -1, &f[i - 1].plen);
        lua_getfield(L, -2, "message");
        f[i - 1].message = lua_tolstring(L, -1, &f[i - 1].mlen);
        f[i - 1].at = i;
        lua_pop(L, 3);
    }
    qsort(f, (size_t)sorted, sizeof *f, compare_findings);
    lua_createtable(L, (int)sorted, 0);
    for (i = 1; i <= sorted; i++) {
        lua_rawgeti(L, idx, f[i - 1].at);
        lua_rawseti(L, -2, i);
    }
    for (i = 1; i <= sorted; i++) {
        lua_rawgeti(L, -1, i);
        lua_rawseti(L, idx, i);
    }
    lua_pop(L, 2);
}

/* ===== describing values ===== */

static void put(char *out, size_t cap, size_t *n, const char *s, size_t len)
{
    if (*n + len >= cap)
        len = *n + 1 < cap ? cap - *n - 1 : 0;
    memcpy(out + *n, s, len);
    *n += len;
    out[*n] = '\0';
}

static void describe_string(const char *s, size_t len, char *out, size_t cap)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = 0, i = 0, shown = 0, step;
    char tmp[16];

    put(out, cap, &n, "\"", 1);
    while (i < len && shown < 40) {
        long cp = kc_utf8_decode(p + i, len - i, &step);
        if (cp < 0) {
            snprintf(tmp, sizeof tmp, "\\x%02X", p[i]);
            put(out, cap, &n, tmp, 4);
        } else if (cp == '"' || cp == '\\') {
            tmp[0] = '\\'; tmp[1] = (char)cp;
            put(out, cap, &n, tmp, 2);
        } else if (kc_utf8_is_control(cp)) {
            int k = snprintf(tmp, sizeof tmp, "\\u%04lX", (unsigned long)cp);
            put(out, cap, &n, tmp, (size_t)k);
        } else {
            put(out, cap, &n, s + i, step);
        }
        i += step;
        shown++;
    }
    put(out, cap, &n, "\"", 1);
    if (i < len) {
        int k = snprintf(tmp, sizeof tmp, "... (%zu", len);
        put(out, cap, &n, tmp, (size_t)k);
        put(out, cap, &n, " bytes)", 7);
    }
}

const char *kc_describe(lua_State *L, int idx, char *out, size_t cap)
{
    size_t len;
    const char *s;
    long long n;
    char bad[8];

    out[0] = '\0';
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        snprintf(out, cap, "nothing");
        break;
    case LUA_TBOOLEAN:
        snprintf(out, cap, "%s", lua_toboolean(L, idx) ? "true" : "false");
        break;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx))
            snprintf(out, cap, "%lld", (long long)lua_tointeger(L, idx));
        else if (!isfinite(lua_tonumber(L, idx)))
            snprintf(out, cap, "%s", isnan(lua_tonumber(L, idx)) ? "nan" : "an infinite number");
        else {
            char num[KC_NUM_MAX];
            kc_num_shortest(lua_tonumber(L, idx), num);
            snprintf(out, cap, "%s", num);
        }
        break;
    case LUA_TSTRING:
        s = lua_tolstring(L, idx, &len);
        describe_string(s, len, out, cap);
        break;
    case LUA_TTABLE:
        n = kc_table_sequence(L, idx, bad, sizeof bad);
        if (n == 0)
            snprintf(out, cap, "an empty table");
        else if (n > 0)
            snprintf(out, cap, "an array of %lld", n);
        else
            snprintf(out, cap, "an object");
        break;
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == NULL) {
            snprintf(out, cap, "null");
            break;
        }
        /* fall through */
    default:
        snprintf(out, cap, "a %s", luaL_typename(L, idx));
    }
    return out;
}

/* ===== shapes of Lua values ===== */

long long kc_table_sequence(lua_State *L, int idx, char *bad, size_t cap)
{
    long long count = 0, max = 0, strings = 0, others = 0;
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1) {
            long long k = lua_tointeger(L, -1);
            if (k > max) max = k;
            count++;
        } else if (lua_type(L, -1) == LUA_TSTRING) {
            strings++;
        } else {
            others++;
        }
    }
    if (strings == 0 && others == 0 && count == max) {
        if (cap) bad[0] = '\0';   /* the common case: no snprintf */
        return count;
    }
    /* "object": string keys only; "hole": integer keys with gaps; else "mixed".
    ** Objects come here for every table typed "object": no snprintf. */
    if (cap) {
        const char *what = (count == 0 && others == 0) ? "object" : (strings == 0 && others == 0) ? "hole" : "mixed";
        size_t n = strlen(what) < cap - 1 ? strlen(what) : cap - 1;
        memcpy(bad, what, n);
        bad[n] = '\0';
    }
    return -1;
}

int kc_is_integral(lua_State *L, int idx)
{
    double d;
    if (lua_isinteger(L, idx))
        return 1;
    d = lua_tonumber(L, idx);
    return isfinite(d) && floor(d) == d && fabs(d) <= 9007199254740992.0;
}

/* JSON type of the value (its Lua type lt), KT_ARRAY|KT_OBJECT for an empty table, 0
** if none; *d a number's value. */
static int json_type(lua_State *L, int idx, int lt, long long *seq, double *d)
{
    char bad[8];
    switch (lt) {
    case LUA_TBOOLEAN: return KT_BOOLEAN;
    case LUA_TNUMBER:
        *d = lua_tonumber(L, idx);
        if (lua_isinteger(L, idx))
            return KT_INTEGER | KT_NUMBER;
        /* kc_is_integral's test on the value already read */
        return isfinite(*d) && floor(*d) == *d && fabs(*d) <= 9007199254740992.0 ? (KT_INTEGER | KT_NUMBER)
                                                                               : KT_NUMBER;
    case LUA_TSTRING: return KT_STRING;
    case LUA_TLIGHTUSERDATA: return lua_touserdata(L, idx) == NULL ? KT_NULL : 0;
    case LUA_TTABLE:
        *seq = kc_table_sequence(L, idx, bad, sizeof bad);
        if (*seq == 0) return KT_ARRAY | KT_OBJECT;
        if (*seq > 0) return KT_ARRAY;
        return strcmp(bad, "object") == 0 ? KT_OBJECT : KT_ARRAY | KT_OBJECT;
    default: return 0;
    }
}

static void type_names(int types, char *out, size_t cap)
{
    size_t n = 0;
    int i, first = 1;
    out[0] = '\0';
    for (i = 0; i < KT_COUNT; i++) {
        if (!(types & (1 << i)))
            continue;
        n += (size_t)snprintf(out + n, cap - n, "%s%s", first ? "" : " or ", kc_type_names[i]);
        first = 0;
        if (n >= cap) break;
    }
}

/* ===== the walk ===== */

static int const_equal(lua_State *L, int idx, const kc_const *k)
{
    size_t len;
    const char *s;
    switch (k->type) {
    case KT_NULL: return lua_type(L, idx) == LUA_TLIGHTUSERDATA && lua_touserdata(L, idx) == NULL;
    case KT_BOOLEAN: return lua_type(L, idx) == LUA_TBOOLEAN && lua_toboolean(L, idx) == k->boolean;
    case KT_NUMBER: return lua_type(L, idx) == LUA_TNUMBER && lua_tonumber(L, idx) == k->number;
    default:
        if (lua_type(L, idx) != LUA_TSTRING) return 0;
        s = lua_tolstring(L, idx, &len);
        return len == k->len && memcmp(s, k->str, len) == 0;
    }
}

static void const_text(const kc_const *k, char *out, size_t cap)
{
    if (k->type == KT_NULL) snprintf(out, cap, "null");
    else if (k->type == KT_BOOLEAN) snprintf(out, cap, "%s", k->boolean ? "true" : "false");
    else if (k->type == KT_NUMBER) kc_num_shortest(k->number, out);
    else snprintf(out, cap, "\"%s\"", k->str);
}

/* The description of the value at idx, made on first use: most values pass. */
#define KC_FOUND_MAX 160
#define FOUND() (found[0] ? found : kc_describe(c->L, idx, found, KC_FOUND_MAX))

/* Whether the 8 bytes at p are all printable ASCII (0x20..0x7E). */
static int printable8(const unsigned char *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
    return !kc_bytes_unprintable(w);
}

static void check_string(kc_vctx *c, const kc_node *n, int idx, char *found)
{
    lua_State *L = c->L;
    size_t len, chars = 0, i = 0, step, control = 0;
    const unsigned char *s = (const unsigned char *)lua_tolstring(L, idx, &len);
    int multiline = n && n->multiline;
    long control_cp = -1;

    /* One pass: UTF-8 checked, code points counted, the first control character
    ** found (reported only if the whole string is UTF-8), printable ASCII 8 bytes
    ** at a time. */
    while (i < len) {
        long cp;
        if (i + 8 <= len && printable8(s + i)) {
            i += 8;
            chars += 8;
            continue;
        }
        if (s[i] >= 0x20 && s[i] < 0x7F) {
            i++;
            chars++;
            continue;
        }
        cp = kc_utf8_decode(s + i, len - i, &step);
        if (cp < 0) {
            kc_verror(c, "utf8: invalid UTF-8 at byte %d, found %s", (int)i + 1, FOUND());
            return;
        }
        if (control_cp < 0 && kc_utf8_is_control(cp) && !(multiline && (cp == '\t' || cp == '\n' || cp == '\r'))) {
            control_cp = cp;
            control = i;
        }
        i += step;
        chars++;
    }
    if (control_cp >= 0) {
        char u[8];
        snprintf(u, sizeof u, "%04X", (unsigned)control_cp);
        kc_verror(c, "control: control character U+%s at byte %d is not allowed%s, found %s",
                  u, (int)control + 1,
                  (control_cp == '\t' || control_cp == '\n' || control_cp == '\r') ? " in this field" : "",
                  FOUND());
    }
    if (!n)
        return;
    if (n->min_length >= 0 && (long long)chars < n->min_length)
        kc_verror(c, "minLength: at least %I character(s), found %s", (lua_Integer)n->min_length, FOUND());
    if (n->max_length >= 0 && (long long)chars > n->max_length)
        kc_verror(c, "maxLength: at most %I characters, found %s", (lua_Integer)n->max_length, FOUND());
    if (n->pattern && (strlen((const char *)s) != len || regexec(n->pattern, (const char *)s, 0, NULL, 0) != 0))
        kc_verror(c, "pattern: must match %s, found %s", n->pattern_src, FOUND());
    if (n->format_date) {
        long key;
        if (!kc_date_parse((const char *)s, len, &key))
            kc_verror(c, "format: must be a real calendar date YYYY-MM-DD, found %s", FOUND());
    }
}

static void check_number(kc_vctx *c, const kc_node *n, int idx, double d, char *found)
{
    char lim[KC_NUM_MAX];
    if (n->has_minimum && d < n->minimum) {
        kc_num_shortest(n->minimum, lim);
        kc_verror(c, "minimum: must be at least %s, found %s", lim, FOUND());
    }
    if (n->has_exclusive_minimum && !(d > n->exclusive_minimum)) {
        kc_num_shortest(n->exclusive_minimum, lim);
        kc_verror(c, "exclusiveMinimum: must be greater than %s, found %s", lim, FOUND());
    }
    if (n->has_maximum && d > n->maximum) {
        kc_num_shortest(n->maximum, lim);
        kc_verror(c, "maximum: must be at most %s, found %s", lim, FOUND());
    }
}

const kc_node *kc_node_prop(const kc_node *n, const char *key, size_t len)
{
    const kc_prop *p = kc_node_find(n, key, len);
    return p ? p->schema : NULL;
}

const kc_prop *kc_node_find(const kc_node *n, const char *key, size_t len)
{
    unsigned i, slot;
    if (!n->prop_slots)
        return NULL;
    for (i = kc_prop_hash(key, len) & n->prop_mask; (slot = n->prop_slots[i]) != 0; i = (i + 1) & n->prop_mask) {
        const kc_prop *p = &n->props[slot - 1];
        if (p->len == len && (p->interned == key || memcmp(p->name, key, len) == 0))
            return p;
    }
    return NULL;
}

static void check_object(kc_vctx *c, const kc_node *n, int idx)
{
    lua_State *L = c->L;
    size_t i, saved, len;
    const char *key;

    for (i = 0; n && i < n->nrequired; i++) {
        if (c->names)
            lua_rawgeti(L, c->names, n->required_refs[i]);
        else
            lua_pushstring(L, n->required[i]);
        if (lua_rawget(L, idx) == LUA_TNIL)
            kc_verror_at(c, n->required[i], 0, "required: property is missing");
        lua_pop(L, 1);
    }
    for (i = 0; n && i < n->npublish; i++) {
        if (c->names)
            lua_rawgeti(L, c->names, n->publish_refs[i]);
        else
            lua_pushstring(L, n->publish[i]);
        if (lua_rawget(L, idx) == LUA_TNIL)
            kc_vwarn_at(c, n->publish[i], "publish: PA2 needs %s before publishing (it can be filled in PA2)",
                        n->publish[i]);
        lua_pop(L, 1);
    }
    luaL_checkstack(L, 4, "validating");
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        const kc_node *sub;
        if (lua_type(L, -2) != LUA_TSTRING) {
            char what[64];
            kc_describe(L, -2, what, sizeof what);
            kc_verror(c, "type: object keys must be strings, found key %s", what);
            lua_pop(L, 1);
            continue;
        }
        key = lua_tolstring(L, -2, &len);
        sub = n ? kc_node_prop(n, key, len) : NULL;
        saved = kc_path_push_key(c, key, len);
        if (sub)
            kc_validate_value(c, sub, -1);
        else if (n && n->no_additional)
            kc_verror(c, "additionalProperties: unknown property, not allowed here");
        else
            kc_validate_value(c, NULL, -1);
        kc_path_pop(c, saved);
        lua_pop(L, 1);
    }
}

static void check_array(kc_vctx *c, const kc_node *n, int idx, long long count, char *found)
{
    lua_State *L = c->L;
    long long i;
    size_t saved;

    if (n && n->min_items >= 0 && count < n->min_items)
        kc_verror(c, "minItems: at least %I item(s), found %s", (lua_Integer)n->min_items, FOUND());
    if (n && n->max_items >= 0 && count > n->max_items)
        kc_verror(c, "maxItems: at most %I items, found %s", (lua_Integer)n->max_items, FOUND());
    luaL_checkstack(L, 2, "validating");
    for (i = 1; i <= count; i++) {
        lua_rawgeti(L, idx, (lua_Integer)i);
        saved = kc_path_push_index(c, i);
        kc_validate_value(c, n ? n->items : NULL, -1);
        kc_path_pop(c, saved);
        lua_pop(L, 1);
    }
}

/* Errors the node would report for the value, without recording them. */
static int count_quietly(kc_vctx *c, const kc_node *n, int idx)
{
    int before = c->nerrors, found;
    c->quiet++;
    kc_validate_value(c, n, idx);
    c->quiet--;
    found = c->nerrors - before;
    c->nerrors = before;
    return found;
}

/* A table with holes or mixed keys used as an array: name what breaks it. */
static void report_not_sequence(kc_vctx *c, int idx)
{
    lua_State *L = c->L;
    long long count = 0, max = 0;

    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        count++;
        if (lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1) {
            if (lua_tointeger(L, -1) > max) max = lua_tointeger(L, -1);
        } else {
            char what[64];
            kc_describe(L, -1, what, sizeof what);
            kc_verror(c, "type: an array must be a sequence 1..n, found key %s", what);
            lua_pop(L, 1);
            return;
        }
    }
    kc_verror(c, "type: an array must be a sequence 1..n, found a hole (%I keys up to index %I)",
              (lua_Integer)count, (lua_Integer)max);
}

void kc_validate_value(kc_vctx *c, const kc_node *n, int idx)
{
    lua_State *L = c->L;
    long long seq = -1;
    int jt, lt;
    double d = 0;
    char found[KC_FOUND_MAX];

    idx = lua_absindex(L, idx);
    found[0] = '\0';
    if (n && n->always == 1)
        return;
    if (n && n->always == -1) {
        kc_verror(c, "false: no value is allowed here, found %s", FOUND());
        return;
    }
    lt = lua_type(L, idx);
    if (n && (n->types & KT_OBJECT) && !(n->types & KT_ARRAY) && lt == LUA_TTABLE && lua_rawlen(L, idx) == 0)
        /* no border, so no non-empty sequence (the one shape refused here): whatever its
        ** keys, check_object comes next, and reports any that is no string */
        jt = KT_OBJECT;
    else
        jt = json_type(L, idx, lt, &seq, &d);
    if (jt == 0) {
        kc_verror(c, "type: not a JSON value, found %s", FOUND());
        return;
    }
    if (lt == LUA_TNUMBER && !isfinite(d)) {
        kc_verror(c, "type: must be a finite number, found %s", FOUND());
        return;
    }
    if (n && n->types && !(n->types & jt)) {
        char want[96];
        type_names(n->types, want, sizeof want);
        kc_verror(c, "type: expected %s, found %s", want, FOUND());
        return;
    }
    if (n && n->has_enum) {
        size_t i;
        int hit = 0;
        for (i = 0; i < n->nenums && !hit; i++)
            hit = const_equal(L, idx, &n->enums[i]);
        if (!hit) {
            char list[256], item[64];
            size_t len = 0;
            list[0] = '\0';
            for (i = 0; i < n->nenums && len < sizeof list - 1; i++) {
                const_text(&n->enums[i], item, sizeof item);
                len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", item);
            }
            kc_verror(c, "enum: must be one of %s; found %s", list, FOUND());
        }
    }
    if (n && n->constant && !const_equal(L, idx, n->constant)) {
        char item[64];
        const_text(n->constant, item, sizeof item);
        kc_verror(c, "const: must be %s, found %s", item, FOUND());
    }

    if (jt & KT_STRING)
        check_string(c, n, idx, found);
    else if (jt & KT_NUMBER) {
        if (n) check_number(c, n, idx, d, found);
    } else if (jt & (KT_ARRAY | KT_OBJECT)) {
        int want = n && n->types ? (n->types & (KT_ARRAY | KT_OBJECT)) : 0;
        if (c->depth >= KC_MAX_DEPTH) {
            kc_verror(c, "depth: nested deeper than %d levels", KC_MAX_DEPTH);
            return;
        }
        c->depth++;
        if (seq > 0 || (seq == 0 && want == KT_ARRAY))
            check_array(c, n, idx, seq, found);
        else if (jt == KT_OBJECT || seq == 0 || want == KT_OBJECT)
            check_object(c, n, idx);   /* reports any non-string key */
        else
            report_not_sequence(c, idx);
        c->depth--;
    }

    if (n && n->if_) {
        if (count_quietly(c, n->if_, idx) == 0) {
            if (n->then_) kc_validate_value(c, n->then_, idx);
        } else if (n->else_) {
            kc_validate_value(c, n->else_, idx);
        }
    }
    if (n && n->none_of > 0) {
        size_t i, passing = 0;
        for (i = 0; i < n->none_of; i++)
            if (count_quietly(c, n->one_of[i], idx) == 0)
                passing++;
        if (passing == 0)
            kc_verror(c, "oneOf: matches none of the %d alternatives, found %s", (int)n->none_of, FOUND());
        else if (passing > 1)
            kc_verror(c, "oneOf: matches %d of the alternatives instead of exactly one, found %s",
                      (int)passing, FOUND());
    }
}
