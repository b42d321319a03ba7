/* SPDX-License-Identifier: MIT
**
** compiled:checker(opts) -> checker: one item of a push checked in one call.
** checker:check(value) -> json, sha256_hex, warnings|nil | nil, errors, warnings|nil:
** the findings of compiled:validate(body, opts) on the item's request body (a
** one-item list { [wrap] = { value } }, or the value itself without opts.wrap), with
** paths relative to the item; json the item's object exactly as compiled:encode(body)
** writes it inside that body; sha256_hex the SHA-256 of json. The options are read
** once; the encode buffer and the SHA-256 context are reused and owned by the
** userdata (__gc, __close and close are one idempotent function), which holds the
** compiled schema in its user value 1, the schema's names table (schema.h) in 2 and
** the rules' field names (kc_rules_push_fields) in 3.
** A valid item without warnings costs no table.
*/
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "crypto.h"
#include "currency.h"
#include "schema.h"

#define CHECKER_MT "kiva.core.checker"
#define WRAP_MAX 64                /* a list field's name */
#define KEEP_MAX (1024 * 1024)     /* a buffer grown past this (an image) is freed after use */

typedef struct checker {
    kc_schema *schema;             /* held by user value 1 */
    const kc_node *root;           /* schema->root when made */
    const kc_node *item;           /* root, or root.<wrap>.items */
    kc_rules_opts rules;           /* kind and currency point into the arrays below */
    char kind[16];                 /* "" for no Kiva rules */
    char currency[4];
    int strict;
    size_t wrap_len;               /* 0: the value is the whole body */
    char path[WRAP_MAX + 4];       /* the item's path in its body: "<wrap>[1]", or "" */
    kc_encode_at at;               /* the same for the encoder, and the key it leaves out */
    kc_buf out;
    EVP_MD_CTX *md_ctx;            /* NULL once closed */
    const EVP_MD *md;
} checker;

static int checker_release(lua_State *L)
{
    checker *k = luaL_checkudata(L, 1, CHECKER_MT);
    kc_buf_free(&k->out);
    if (k->md_ctx) {
        EVP_MD_CTX_free(k->md_ctx);
        k->md_ctx = NULL;
    }
    return 0;
}

static checker *check_open(lua_State *L)
{
    checker *k = luaL_checkudata(L, 1, CHECKER_MT);
    if (!k->md_ctx)
        luaL_error(L, "attempt to use a closed checker");
    if (k->schema->root != k->root)
        luaL_error(L, "attempt to use a closed schema");
    return k;
}

/* Whether skipping the body's own walk loses nothing: a one-item list under `wrap`
** is all the body has, and nothing but its item can be wrong. */
static const kc_node *wrapped_items(const kc_node *root, const char *wrap, size_t len, int *ok)
{
    const kc_node *list;
    size_t i;
    *ok = 0;
    if (root->always || root->has_enum || root->constant || root->if_ || root->none_of || root->npublish
        || (root->types && !(root->types & KT_OBJECT)))
        return NULL;
    for (i = 0; i < root->nrequired; i++)
        if (strlen(root->required[i]) != len || memcmp(root->required[i], wrap, len) != 0)
            return NULL;
    list = kc_node_prop(root, wrap, len);
    if (!list || list->always || list->has_enum || list->constant || list->if_ || list->none_of
        || list->npublish || (list->types && !(list->types & KT_ARRAY))
        || list->min_items != 1 || list->max_items == 0)
        return NULL;
    *ok = 1;
    return list->items;
}

static void read_wrap(lua_State *L, checker *k)
{
    size_t len, i;
    const char *wrap;
    int ok;

    if (lua_isnil(L, 2) || lua_getfield(L, 2, "wrap") == LUA_TNIL)
        return;
    wrap = luaL_checklstring(L, -1, &len);
    for (i = 0; i < len; i++)
        if (!((wrap[i] >= 'a' && wrap[i] <= 'z') || wrap[i] == '_'))
            break;
    if (len == 0 || len > WRAP_MAX || i < len)
        luaL_argerror(L, 2, "opts.wrap must be a list field's name");
    k->item = wrapped_items(k->root, wrap, len, &ok);
    if (!ok)
        luaL_argerror(L, 2, "opts.wrap must name the one list of items the schema's body is made of");
    memcpy(k->path, wrap, len);
    memcpy(k->path + len, "[1]", 4);
    k->wrap_len = len;
    lua_pop(L, 1);
}

/* compiled:checker([opts]) -> checker; opts as compiled:validate's, and `wrap`. */
int kc_checker_new(lua_State *L)
{
    kc_schema *s = luaL_checkudata(L, 1, KC_SCHEMA_MT);
    static const char *kinds[] = { "loan_draft", "repayments", "journals", NULL };
    kc_rules_opts ro;
    checker *k;
    int strict, kind;

    if (!s->root)
        return luaL_error(L, "attempt to use a closed schema");
    lua_settop(L, 2);
    kc_validate_opts(L, lua_isnil(L, 2) ? 0 : 2, &ro, &strict);
    kind = ro.kind_id;   /* its index in kinds */
    if (ro.kind && kind < 0)
        return luaL_argerror(L, 2, "opts.kind must be \"loan_draft\", \"repayments\" or \"journals\"");
    if (kind == KC_REPAYMENTS && ro.currency && kc_currency_minor(ro.currency, ro.currency_len) < 0)
        return luaL_argerror(L, 2, "opts.currency is not an ISO 4217 code");

    k = lua_newuserdatauv(L, sizeof *k, 3);
    memset(k, 0, sizeof *k);
    kc_buf_init(&k->out, 0);
    luaL_setmetatable(L, CHECKER_MT);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);
    kc_schema_push_names(L, 1);
    lua_setiuservalue(L, -2, 2);
    kc_rules_push_fields(L);
    lua_setiuservalue(L, -2, 3);
    k->schema = s;
    k->root = k->item = s->root;
    k->strict = strict;
    k->rules = ro;
    k->rules.kind = k->kind;
    k->rules.currency = NULL;
    k->rules.currency_len = 0;
    if (kind >= 0)
        strcpy(k->kind, kinds[kind]);
    if (kind == KC_REPAYMENTS && ro.currency) {   /* only repayments read it; a valid code is 3 letters */
        memcpy(k->currency, ro.currency, 3);
        k->rules.currency = k->currency;
        k->rules.currency_len = 3;
    }
    lua_pushvalue(L, -1);
    lua_replace(L, 1);                /* the checker at 1: read_wrap may raise, __gc frees it */
    read_wrap(L, k);
    k->at.path = k->path;
    k->at.path_len = strlen(k->path);
    k->at.depth = k->wrap_len ? 2 : 0;   /* body, list, item */
    k->at.validated = 1;                 /* encoded only once no error was found */
    /* a two-column partner's lines carry no client id: validated if mapped, never sent */
    if (k->wrap_len && !ro.three_column && (kind == KC_REPAYMENTS || kind == KC_JOURNALS)) {
        k->at.omit = kind == KC_REPAYMENTS ? "client_id" : "internal_client_id";
        k->at.omit_len = strlen(k->at.omit);
    }
    k->md = kc_crypto_sha256(L);
    k->md_ctx = EVP_MD_CTX_new();
    if (!k->md_ctx)
        return luaL_error(L, "out of memory");
    lua_settop(L, 1);
    return 1;
}

/* Returns nil, errors, warnings|nil from the slots 3 and 4, sorted. */
static int invalid(lua_State *L)
{
    kc_sort_findings(L, 3);
    kc_sort_findings(L, 4);
    lua_pushnil(L);
    lua_pushvalue(L, 3);
    lua_pushvalue(L, 4);
    return 3;
}

/* A nil item leaves an empty list: that body walked as compiled:validate walks it. */
static int check_empty_list(lua_State *L, checker *k, kc_vctx *c)
{
    lua_createtable(L, 0, 1);   /* { [wrap] = {} } */
    lua_pushlstring(L, k->path, k->wrap_len);
    lua_newtable(L);
    lua_rawset(L, -3);
    c->nsegs = c->hide = 0;
    c->depth = 0;
    kc_validate_value(c, k->root, -1);
    if (k->kind[0])
        kc_rules_check(c, -1, &k->rules);
    lua_pop(L, 1);
    return invalid(L);
}

/* checker:check(value) -> json, sha256_hex, warnings|nil | nil, errors, warnings|nil */
static int checker_check(lua_State *L)
{
    checker *k = check_open(L);
    kc_encode_error err;
    kc_encode_at at;
    kc_vctx c;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char hex[2 * EVP_MAX_MD_SIZE];

    luaL_checkany(L, 2);
    lua_settop(L, 2);
    lua_pushnil(L);   /* 3: errors, 4: warnings, each made on its first finding */
    lua_pushnil(L);
    lua_getiuservalue(L, 1, 2);   /* 5: the schema's names */
    lua_getiuservalue(L, 1, 3);   /* 6: the rules' field names */
    c.L = L;
    c.errors = 3;
    c.warnings = 4;
    c.names = 5;
    c.fields = 6;
    c.nerrors = c.nwarnings = 0;
    c.strict = k->strict;
    c.quiet = 0;
    if (k->wrap_len && lua_isnil(L, 2))
        return check_empty_list(L, k, &c);
    c.nsegs = 0;
    c.hide = k->at.path_len;
    if (k->wrap_len) {   /* "<wrap>[1]", hidden from what is reported */
        kc_path_push_key(&c, k->path, k->wrap_len);
        kc_path_push_index(&c, 1);
    }
    c.depth = k->at.depth;
    kc_validate_value(&c, k->item, 2);
    if (k->kind[0])
        kc_rules_item(&c, 2, &k->rules);
    if (c.nerrors > 0)
        return invalid(L);

    kc_buf_reset(&k->out);
    at = k->at;
    at.names = 5;
    if (kc_encode_append(L, k->item, 2, &k->out, &at, &err) != 0) {
        lua_createtable(L, 1, 0);
        lua_createtable(L, 0, 2);
        lua_pushliteral(L, "");
        lua_setfield(L, -2, "path");
        lua_pushstring(L, err.msg);
        lua_setfield(L, -2, "message");
        lua_rawseti(L, -2, 1);
        lua_replace(L, 3);
        return invalid(L);
    }
    if (!EVP_DigestInit_ex(k->md_ctx, k->md, NULL) || !EVP_DigestUpdate(k->md_ctx, k->out.data, k->out.len)
        || !EVP_DigestFinal_ex(k->md_ctx, md, &mdlen)) {
        ERR_clear_error();
        return luaL_error(L, "sha256 failed");   /* OpenSSL itself, never the input */
    }
    kc_hex(md, mdlen, hex);
    lua_pushlstring(L, k->out.data, k->out.len);
    if (k->out.cap > KEEP_MAX)
        kc_buf_free(&k->out);
    lua_pushlstring(L, hex, 2 * (size_t)mdlen);
    kc_sort_findings(L, 4);
    lua_pushvalue(L, 4);
    return 3;
}

static int checker_tostring(lua_State *L)
{
    checker *k = luaL_checkudata(L, 1, CHECKER_MT);
    lua_pushfstring(L, "%s (%s): %p", CHECKER_MT, k->md_ctx ? "open" : "closed", (void *)k);
    return 1;
}

void kc_checker_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        { "check", checker_check },
        { "close", checker_release },
        { NULL, NULL }
    };
    static const luaL_Reg metamethods[] = {
        { "__gc", checker_release },
        { "__close", checker_release },
        { "__tostring", checker_tostring },
        { NULL, NULL }
    };
    if (luaL_newmetatable(L, CHECKER_MT)) {
        luaL_setfuncs(L, metamethods, 0);
        luaL_newlib(L, methods);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
}
