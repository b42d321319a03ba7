/* SPDX-License-Identifier: MIT
**
** core.schema_compile(schema_table) -> `kiva.core.schema` userdata | nil, msg, code:
** compiles a decoded JSON Schema (draft 2020-12 subset) into a kc_node tree,
** refusing any keyword it does not implement. Methods: validate(value, opts),
** encode(value), checker(opts) (checker.c), close(). The userdata owns the tree (regexes included); its
** __gc, __close and close are one idempotent function.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "date.h"
#include "schema.h"

/* ===== freeing ===== */

static void free_const(kc_const *k)
{
    if (k) free(k->str);
}

static void free_node(kc_node *n)
{
    size_t i;
    if (!n)
        return;
    for (i = 0; i < n->nrequired; i++)
        free(n->required[i]);
    free(n->required);
    free(n->required_refs);
    for (i = 0; i < n->npublish; i++)
        free(n->publish[i]);
    free(n->publish);
    free(n->publish_refs);
    for (i = 0; i < n->nprops; i++) {
        free(n->props[i].name);
        free(n->props[i].json);
        free_node(n->props[i].schema);
    }
    free(n->props);
    free(n->prop_slots);
    free_node(n->items);
    for (i = 0; i < n->nenums; i++)
        free_const(&n->enums[i]);
    free(n->enums);
    free_const(n->constant);
    free(n->constant);
    if (n->pattern) {
        regfree(n->pattern);
        free(n->pattern);
    }
    free(n->pattern_src);
    free_node(n->if_);
    free_node(n->then_);
    free_node(n->else_);
    for (i = 0; i < n->none_of; i++)
        free_node(n->one_of[i]);
    free(n->one_of);
    free(n);
}

/* ===== compiling ===== */

typedef struct compiler {
    lua_State *L;
    int names;             /* stack index of the names table being filled */
    int nnames;
    char where[256];       /* schema path of the node being compiled */
    char msg[384];
    const char *code;
} compiler;

static int fail(compiler *k, const char *code, const char *what)
{
    snprintf(k->msg, sizeof k->msg, "schema %s: %s", k->where[0] ? k->where : "(root)", what);
    k->code = code;
    return -1;
}

static size_t where_push(compiler *k, const char *seg)
{
    size_t saved = strlen(k->where);
    snprintf(k->where + saved, sizeof k->where - saved, "%s%s", saved ? "/" : "", seg);
    return saved;
}

static kc_node *new_node(void)
{
    kc_node *n = calloc(1, sizeof *n);
    if (n) {
        n->min_items = n->max_items = -1;
        n->min_length = n->max_length = -1;
    }
    return n;
}

static char *dup_lstring(const char *s, size_t len)
{
    char *d = malloc(len + 1);
    if (d) {
        memcpy(d, s, len);
        d[len] = '\0';
    }
    return d;
}

static int compile_node(compiler *k, kc_node **slot, int idx);

const char *const kc_type_names[KT_COUNT] = { "null", "boolean", "integer", "number", "string", "array", "object" };

static int type_bit(const char *name)
{
    int i;
    for (i = 0; i < KT_COUNT; i++)
        if (strcmp(name, kc_type_names[i]) == 0)
            return 1 << i;
    return 0;
}

static int compile_type(compiler *k, kc_node *n, int idx)
{
    lua_State *L = k->L;
    if (lua_type(L, idx) == LUA_TSTRING) {
        n->types = type_bit(lua_tostring(L, idx));
        return n->types ? 0 : fail(k, "BAD_SCHEMA", "unknown type name");
    }
    if (lua_type(L, idx) == LUA_TTABLE) {
        lua_Integer i, len = (lua_Integer)lua_rawlen(L, idx);
        for (i = 1; i <= len; i++) {
            int bit;
            lua_rawgeti(L, idx, i);
            bit = lua_type(L, -1) == LUA_TSTRING ? type_bit(lua_tostring(L, -1)) : 0;
            lua_pop(L, 1);
            if (!bit)
                return fail(k, "BAD_SCHEMA", "unknown type name in type list");
            n->types |= bit;
        }
        if (n->types)
            return 0;
    }
    return fail(k, "BAD_SCHEMA", "type must be a name or a non-empty list of names");
}

static int to_const(compiler *k, int idx, kc_const *out)
{
    lua_State *L = k->L;
    size_t len;
    const char *s;
    switch (lua_type(L, idx)) {
    case LUA_TBOOLEAN: out->type = KT_BOOLEAN; out->boolean = lua_toboolean(L, idx); return 0;
    case LUA_TNUMBER: out->type = KT_NUMBER; out->number = lua_tonumber(L, idx); return 0;
    case LUA_TSTRING:
        s = lua_tolstring(L, idx, &len);
        out->str = dup_lstring(s, len);
        if (!out->str)
            return fail(k, "ENOMEM", "out of memory");
        out->type = KT_STRING;
        out->len = len;
        return 0;
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == NULL) { out->type = KT_NULL; return 0; }
        /* fall through */
    default:
        return fail(k, "BAD_SCHEMA", "enum/const values must be JSON scalars");
    }
}

static int compile_enum(compiler *k, kc_node *n, int idx)
{
    lua_State *L = k->L;
    lua_Integer i, len;
    if (lua_type(L, idx) != LUA_TTABLE || (len = (lua_Integer)lua_rawlen(L, idx)) == 0)
        return fail(k, "BAD_SCHEMA", "enum must be a non-empty array");
    n->enums = calloc((size_t)len, sizeof *n->enums);
    if (!n->enums)
        return fail(k, "ENOMEM", "out of memory");
    n->has_enum = 1;
    for (i = 1; i <= len; i++) {
        int rc;
        lua_rawgeti(L, idx, i);
        rc = to_const(k, -1, &n->enums[n->nenums]);
        lua_pop(L, 1);
        if (rc)
            return rc;
        n->nenums++;
    }
    return 0;
}

/* Adds the Lua string at the stack top to the names table (popping it): its index. */
static int add_name(compiler *k)
{
    lua_rawseti(k->L, k->names, ++k->nnames);
    return k->nnames;
}

/* `required` and `x-publish-required`: an array of property names. */
static int compile_names(compiler *k, char ***names, int **refs, size_t *count, int idx, const char *bad)
{
    lua_State *L = k->L;
    lua_Integer i, len;
    if (lua_type(L, idx) != LUA_TTABLE || *names)
        return fail(k, "BAD_SCHEMA", bad);
    len = (lua_Integer)lua_rawlen(L, idx);
    *names = calloc((size_t)len + 1, sizeof **names);
    *refs = calloc((size_t)len + 1, sizeof **refs);
    if (!*names || !*refs)
        return fail(k, "ENOMEM", "out of memory");
    for (i = 1; i <= len; i++) {
        size_t slen;
        const char *s;
        lua_rawgeti(L, idx, i);
        if (lua_type(L, -1) != LUA_TSTRING) {
            lua_pop(L, 1);
            return fail(k, "BAD_SCHEMA", bad);
        }
        s = lua_tolstring(L, -1, &slen);
        (*names)[*count] = dup_lstring(s, slen);
        lua_pop(L, 1);
        if (!(*names)[*count])
            return fail(k, "ENOMEM", "out of memory");
        lua_pushstring(L, (*names)[*count]);   /* the key the walk looked up by name */
        (*refs)[*count] = add_name(k);
        (*count)++;
    }
    return 0;
}

static int compare_props(const void *a, const void *b)
{
    const kc_prop *x = a, *y = b;
    size_t m = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->name, y->name, m);
    return c ? c : (x->len < y->len ? -1 : x->len > y->len);
}

/* The property's name as the encoder writes it before a value ("name":), made once
** here rather than escaped again for every object encoded; a name that is no UTF-8
** has none (encoding it fails as for any other such key). 0, or -1 out of memory. */
static int prop_json(kc_prop *p)
{
    kc_buf b;
    int rc;
    kc_buf_init(&b, 0);
    rc = kc_encode_string(&b, p->name, p->len);
    if (rc == 0 && kc_buf_add(&b, ":", 1) == 0) {
        p->json = b.data;
        p->json_len = b.len;
        return 0;
    }
    kc_buf_free(&b);
    return rc == -1 ? 0 : -1;
}

/* The names' hash table kc_node_find probes (open addressing, linear probing): a
** key is looked up for every member validated and encoded. 0, or -1 out of memory. */
static int index_props(kc_node *n)
{
    size_t size = 4, i;
    while (size < 2 * n->nprops)
        size *= 2;
    n->prop_slots = calloc(size, sizeof *n->prop_slots);
    if (!n->prop_slots)
        return -1;
    n->prop_mask = (unsigned)(size - 1);
    for (i = 0; i < n->nprops; i++) {
        unsigned h = kc_prop_hash(n->props[i].name, n->props[i].len) & n->prop_mask;
        while (n->prop_slots[h])
            h = (h + 1) & n->prop_mask;
        n->prop_slots[h] = (unsigned)i + 1;
    }
    return 0;
}

static int compile_properties(compiler *k, kc_node *n, int idx)
{
    lua_State *L = k->L;
    size_t count = 0;
    if (lua_type(L, idx) != LUA_TTABLE)
        return fail(k, "BAD_SCHEMA", "properties must be an object");
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        count++;
    }
    n->props = calloc(count + 1, sizeof *n->props);
    if (!n->props)
        return fail(k, "ENOMEM", "out of memory");
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        size_t len, saved;
        const char *name;
        kc_prop *p;
        int rc;
        if (lua_type(L, -2) != LUA_TSTRING || n->nprops >= count) {
            lua_pop(L, 2);
            return fail(k, "BAD_SCHEMA", "property names must be strings");
        }
        name = lua_tolstring(L, -2, &len);
        p = &n->props[n->nprops];
        p->name = dup_lstring(name, len);
        if (!p->name) {
            lua_pop(L, 2);
            return fail(k, "ENOMEM", "out of memory");
        }
        p->len = len;
        lua_pushvalue(L, -2);
        p->interned = lua_tostring(L, -1);   /* kept alive by the names table */
        p->ref = add_name(k);
        n->nprops++;
        if (prop_json(p) != 0) {
            lua_pop(L, 2);
            return fail(k, "ENOMEM", "out of memory");
        }
        saved = where_push(k, "properties");
        where_push(k, p->name);
        rc = compile_node(k, &p->schema, lua_gettop(L));
        k->where[saved] = '\0';
        if (rc) {
            lua_pop(L, 2);
            return rc;
        }
        lua_pop(L, 1);
    }
    qsort(n->props, n->nprops, sizeof *n->props, compare_props);
    return index_props(n) == 0 ? 0 : fail(k, "ENOMEM", "out of memory");
}

static int get_count(compiler *k, int idx, long long *out, const char *what)
{
    lua_State *L = k->L;
    double d;
    if (lua_type(L, idx) != LUA_TNUMBER)
        return fail(k, "BAD_SCHEMA", what);
    d = lua_tonumber(L, idx);
    if (d < 0 || d > 1e15 || (double)(long long)d != d)
        return fail(k, "BAD_SCHEMA", what);
    *out = (long long)d;
    return 0;
}

static int get_number(compiler *k, int idx, double *out, int *has)
{
    if (lua_type(k->L, idx) != LUA_TNUMBER)
        return fail(k, "BAD_SCHEMA", "a numeric limit must be a number");
    *out = lua_tonumber(k->L, idx);
    *has = 1;
    return 0;
}

static int compile_pattern(compiler *k, kc_node *n, int idx)
{
    int rc;
    if (lua_type(k->L, idx) != LUA_TSTRING)
        return fail(k, "BAD_SCHEMA", "pattern must be a string");
    n->pattern_src = dup_lstring(lua_tostring(k->L, idx), strlen(lua_tostring(k->L, idx)));
    n->pattern = calloc(1, sizeof *n->pattern);
    if (!n->pattern_src || !n->pattern)
        return fail(k, "ENOMEM", "out of memory");
    rc = regcomp(n->pattern, n->pattern_src, REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        char err[128], what[200];
        regerror(rc, n->pattern, err, sizeof err);
        free(n->pattern);   /* regcomp failed: nothing to regfree */
        n->pattern = NULL;
        snprintf(what, sizeof what, "pattern is not a POSIX extended regex: %s", err);
        return fail(k, "BAD_SCHEMA", what);
    }
    return 0;
}

static int compile_one_of(compiler *k, kc_node *n, int idx)
{
    lua_State *L = k->L;
    lua_Integer i, len;
    if (lua_type(L, idx) != LUA_TTABLE || (len = (lua_Integer)lua_rawlen(L, idx)) == 0)
        return fail(k, "BAD_SCHEMA", "oneOf must be a non-empty array of schemas");
    n->one_of = calloc((size_t)len, sizeof *n->one_of);
    if (!n->one_of)
        return fail(k, "ENOMEM", "out of memory");
    for (i = 1; i <= len; i++) {
        int rc;
        char seg[32];
        size_t saved;
        snprintf(seg, sizeof seg, "oneOf/%d", (int)i - 1);
        saved = where_push(k, seg);
        lua_rawgeti(L, idx, i);
        n->none_of++;
        rc = compile_node(k, &n->one_of[i - 1], lua_gettop(L));
        lua_pop(L, 1);
        k->where[saved] = '\0';
        if (rc)
            return rc;
    }
    return 0;
}

static int compile_sub(compiler *k, kc_node **slot, int idx, const char *seg)
{
    size_t saved = where_push(k, seg);
    int rc = compile_node(k, slot, idx);
    if (rc == 0)
        k->where[saved] = '\0';
    return rc;
}

/* Compiles one keyword of node n whose value is at the stack top. */
static int compile_keyword(compiler *k, kc_node *n, const char *kw, int v)
{
    lua_State *L = k->L;
    if (strcmp(kw, "type") == 0) return compile_type(k, n, v);
    if (strcmp(kw, "required") == 0)
        return compile_names(k, &n->required, &n->required_refs, &n->nrequired, v,
                             "required must be an array of names");
    if (strcmp(kw, "x-publish-required") == 0)
        return compile_names(k, &n->publish, &n->publish_refs, &n->npublish, v,
                             "x-publish-required must be an array of names");
    if (strcmp(kw, "properties") == 0) return compile_properties(k, n, v);
    if (strcmp(kw, "additionalProperties") == 0) {
        if (lua_type(L, v) != LUA_TBOOLEAN)
            return fail(k, "BAD_SCHEMA", "additionalProperties: only true or false is supported");
        n->no_additional = !lua_toboolean(L, v);
        return 0;
    }
    if (strcmp(kw, "items") == 0) return compile_sub(k, &n->items, v, "items");
    if (strcmp(kw, "minItems") == 0) return get_count(k, v, &n->min_items, "minItems must be a count");
    if (strcmp(kw, "maxItems") == 0) return get_count(k, v, &n->max_items, "maxItems must be a count");
    if (strcmp(kw, "minLength") == 0) return get_count(k, v, &n->min_length, "minLength must be a count");
    if (strcmp(kw, "maxLength") == 0) return get_count(k, v, &n->max_length, "maxLength must be a count");
    if (strcmp(kw, "minimum") == 0) return get_number(k, v, &n->minimum, &n->has_minimum);
    if (strcmp(kw, "maximum") == 0) return get_number(k, v, &n->maximum, &n->has_maximum);
    if (strcmp(kw, "exclusiveMinimum") == 0)
        return get_number(k, v, &n->exclusive_minimum, &n->has_exclusive_minimum);
    if (strcmp(kw, "enum") == 0) return compile_enum(k, n, v);
    if (strcmp(kw, "const") == 0) {
        n->constant = calloc(1, sizeof *n->constant);
        return n->constant ? to_const(k, v, n->constant) : fail(k, "ENOMEM", "out of memory");
    }
    if (strcmp(kw, "pattern") == 0) return compile_pattern(k, n, v);
    if (strcmp(kw, "format") == 0) {
        if (lua_type(L, v) != LUA_TSTRING || strcmp(lua_tostring(L, v), "date") != 0)
            return fail(k, "UNKNOWN_KEYWORD", "format: only \"date\" is supported");
        n->format_date = 1;
        return 0;
    }
    if (strcmp(kw, "x-multiline") == 0) {
        if (lua_type(L, v) != LUA_TBOOLEAN)
            return fail(k, "BAD_SCHEMA", "x-multiline must be a boolean");
        n->multiline = lua_toboolean(L, v);
        return 0;
    }
    if (strcmp(kw, "if") == 0) return compile_sub(k, &n->if_, v, "if");
    if (strcmp(kw, "then") == 0) return compile_sub(k, &n->then_, v, "then");
    if (strcmp(kw, "else") == 0) return compile_sub(k, &n->else_, v, "else");
    if (strcmp(kw, "oneOf") == 0) return compile_one_of(k, n, v);
    /* annotations: meaning for people, none for validation */
    if (strcmp(kw, "$schema") == 0 || strcmp(kw, "$id") == 0 || strcmp(kw, "$comment") == 0
        || strcmp(kw, "title") == 0 || strcmp(kw, "description") == 0
        || strcmp(kw, "examples") == 0 || strcmp(kw, "default") == 0)
        return 0;
    {
        char what[160];
        snprintf(what, sizeof what, "unknown keyword \"%.100s\"", kw);
        return fail(k, "UNKNOWN_KEYWORD", what);
    }
}

/* Compiles the schema at idx into *slot; *slot is set before anything can fail
** so that the tree being built is always reachable from the userdata. */
static int compile_node(compiler *k, kc_node **slot, int idx)
{
    lua_State *L = k->L;
    kc_node *n;

    idx = lua_absindex(L, idx);
    n = *slot = new_node();
    if (!n)
        return fail(k, "ENOMEM", "out of memory");
    if (lua_type(L, idx) == LUA_TBOOLEAN) {
        n->always = lua_toboolean(L, idx) ? 1 : -1;
        return 0;
    }
    if (lua_type(L, idx) != LUA_TTABLE)
        return fail(k, "BAD_SCHEMA", "a schema must be an object or a boolean");
    if (strlen(k->where) > sizeof k->where - 40)
        return fail(k, "BAD_SCHEMA", "schema nested too deeply");
    luaL_checkstack(L, 6, "schema compile");
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        int rc;
        if (lua_type(L, -2) != LUA_TSTRING) {
            lua_pop(L, 2);
            return fail(k, "BAD_SCHEMA", "keywords must be strings");
        }
        rc = compile_keyword(k, n, lua_tostring(L, -2), lua_gettop(L));
        if (rc) {
            lua_pop(L, 2);
            return rc;
        }
        lua_pop(L, 1);
    }
    if ((n->then_ || n->else_) && !n->if_)
        return fail(k, "BAD_SCHEMA", "then/else without if");
    return 0;
}

/* ===== the userdata ===== */

static kc_schema *check_schema(lua_State *L)
{
    kc_schema *s = luaL_checkudata(L, 1, KC_SCHEMA_MT);
    if (!s->root)
        luaL_error(L, "attempt to use a closed schema");
    return s;
}

kc_node *kc_schema_get(lua_State *L, int idx)
{
    kc_schema *s = luaL_checkudata(L, idx, KC_SCHEMA_MT);
    if (!s->root)
        luaL_error(L, "attempt to use a closed schema");
    return s->root;
}

void kc_schema_push_names(lua_State *L, int idx)
{
    lua_getiuservalue(L, idx, 1);
}

static int schema_release(lua_State *L)
{
    kc_schema *s = luaL_checkudata(L, 1, KC_SCHEMA_MT);
    free_node(s->root);
    s->root = NULL;
    return 0;
}

static int schema_compile(lua_State *L)
{
    compiler k;
    kc_schema *s;

    luaL_checkany(L, 1);
    lua_settop(L, 1);
    s = lua_newuserdatauv(L, sizeof *s, 1);
    s->root = NULL;
    luaL_setmetatable(L, KC_SCHEMA_MT);
    memset(&k, 0, sizeof k);
    k.L = L;
    lua_newtable(L);
    k.names = lua_gettop(L);
    if (compile_node(&k, &s->root, 1) != 0) {
        free_node(s->root);
        s->root = NULL;
        return kc_fail(L, k.code, "%s", k.msg);
    }
    lua_setiuservalue(L, 2, 1);
    return 1;
}

/* Today in days since 1970-01-01 (UTC), or opts.today "YYYY-MM-DD" (tests, replays). */
static long today_of(lua_State *L, int opts)
{
    long key;
    size_t len;
    const char *s;
    if (opts && lua_getfield(L, opts, "today") != LUA_TNIL) {
        s = luaL_checklstring(L, -1, &len);
        if (!kc_date_parse(s, len, &key))
            luaL_argerror(L, opts, "opts.today must be a date YYYY-MM-DD");
        lua_pop(L, 1);
        return kc_date_days(key);
    }
    if (opts)
        lua_pop(L, 1);
    return (long)(time(NULL) / 86400);
}

void kc_validate_opts(lua_State *L, int opts, kc_rules_opts *ro, int *strict)
{
    memset(ro, 0, sizeof *ro);
    ro->three_column = 1;
    *strict = 0;
    if (opts) {
        luaL_checktype(L, opts, LUA_TTABLE);
        if (lua_getfield(L, opts, "kind") != LUA_TNIL)
            ro->kind = luaL_checkstring(L, -1);   /* stays alive: opts holds it */
        if (lua_getfield(L, opts, "csv_format") != LUA_TNIL) {
            static const char *formats[] = { "two", "three", NULL };
            ro->three_column = luaL_checkoption(L, -1, NULL, formats) == 1;
        }
        if (lua_getfield(L, opts, "currency") != LUA_TNIL)
            ro->currency = luaL_checklstring(L, -1, &ro->currency_len);
        lua_getfield(L, opts, "strict");
        *strict = lua_toboolean(L, -1);
        lua_pop(L, 4);
    }
    ro->kind_id = ro->kind ? kc_rules_kind(ro->kind) : KC_KIND_NONE;
    ro->today = today_of(L, opts);
}

/* compiled:validate(value [, opts]) -> true, nil, warnings | nil, errors, warnings */
static int schema_validate(lua_State *L)
{
    kc_node *root = check_schema(L)->root;
    kc_vctx c;
    kc_rules_opts ro;

    memset(&c, 0, sizeof c);
    lua_settop(L, 3);
    kc_validate_opts(L, lua_isnil(L, 3) ? 0 : 3, &ro, &c.strict);
    c.L = L;
    kc_schema_push_names(L, 1);
    c.names = lua_gettop(L);
    lua_newtable(L);
    c.errors = lua_gettop(L);
    lua_newtable(L);
    c.warnings = lua_gettop(L);
    kc_validate_value(&c, root, 2);
    if (ro.kind && kc_rules_check(&c, 2, &ro) != 0)
        return luaL_argerror(L, 3, "opts.kind must be \"loan_draft\", \"repayments\" or \"journals\"");
    kc_sort_findings(L, c.errors);
    kc_sort_findings(L, c.warnings);
    if (c.nerrors == 0) {
        lua_pushboolean(L, 1);
        lua_pushnil(L);
        lua_pushvalue(L, c.warnings);
        return 3;
    }
    lua_pushnil(L);
    lua_pushvalue(L, c.errors);
    lua_pushvalue(L, c.warnings);
    return 3;
}

/* compiled:encode(value) -> string | nil, msg, code */
static int schema_encode(lua_State *L)
{
    kc_node *root = check_schema(L)->root;
    luaL_checkany(L, 2);
    lua_settop(L, 2);
    return kc_encode_value(L, root, 2);
}

static int schema_tostring(lua_State *L)
{
    kc_schema *s = luaL_checkudata(L, 1, KC_SCHEMA_MT);
    lua_pushfstring(L, "%s (%s): %p", KC_SCHEMA_MT, s->root ? "open" : "closed", (void *)s);
    return 1;
}

void kc_schema_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        { "validate", schema_validate },
        { "encode", schema_encode },
        { "checker", kc_checker_new },
        { "close", schema_release },
        { NULL, NULL }
    };
    static const luaL_Reg metamethods[] = {
        { "__gc", schema_release },
        { "__close", schema_release },
        { "__tostring", schema_tostring },
        { NULL, NULL }
    };
    if (luaL_newmetatable(L, KC_SCHEMA_MT)) {
        luaL_setfuncs(L, metamethods, 0);
        luaL_newlib(L, methods);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    lua_pushcfunction(L, schema_compile);
    lua_setfield(L, -2, "schema_compile");
    kc_checker_open(L);
}
