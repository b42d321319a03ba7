/* SPDX-License-Identifier: MIT
**
** Kiva's rules beyond JSON Schema, run after the schema walk on the same value:
** individual versus group loans, schedule order and totals compared exactly in
** minor units, amount decimals per ISO 4217 currency, the image data URI, and
** client ids / duplicates in repayment and journal reports, and names that a
** spreadsheet would run as a formula; and the warnings of what looks wrong but
** may be right (a disbursal far from today, a very large amount). Values of the wrong
** type are skipped here: the schema walk has already reported them.
*/
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "currency.h"
#include "date.h"
#include "numfmt.h"
#include "schema.h"

/* Whether s begins with a string literal, its length counted by the compiler. */
#define STARTS_WITH(s, literal) (strncmp((s), "" literal, sizeof(literal) - 1) == 0)

#define KC_IMAGE_MAX (10 * 1024 * 1024)   /* decoded bytes */
#define KC_UNKNOWN_SCALE 6                /* sums when the currency is unknown */
#define KC_REPAYMENT_DECIMALS 3           /* repayments without opts.currency */
/* Warnings, not errors: a disbursal this far ahead or behind today, a borrower's
** amount above this many US dollars, may be right but is worth a second look. */
#define KC_DISBURSE_AHEAD_DAYS 30
#define KC_DISBURSE_BEHIND_DAYS 365
#define KC_LARGE_USD 10000.0

/* The fields the rules read, by number (field_names). */
enum {
    F_NONE, F_ENTREPS, F_GROUP_NAME, F_INTERNAL_CLIENT_ID, F_INTERNAL_LOAN_ID, F_NOT_PICTURED,
    F_CURRENCY, F_DISBURSE_TIME, F_FIRST_NAME, F_LAST_NAME, F_AMOUNT, F_SCHEDULE, F_PRINCIPAL,
    F_INTEREST, F_DATE, F_IMAGE_ENCODED, F_CLIENT_ID, F_LOAN_ID, F_SUBJECT, F_REPAYMENTS,
    F_JOURNALS, F_COUNT
};
static const char *const field_names[F_COUNT] = {
    NULL, "entreps", "group_name", "internal_client_id", "internal_loan_id", "not_pictured",
    "currency", "disburse_time", "first_name", "last_name", "amount", "schedule", "principal",
    "interest", "date", "image_encoded", "client_id", "loan_id", "subject", "repayments",
    "journals"
};

void kc_rules_push_fields(lua_State *L)
{
    int f;
    lua_createtable(L, F_COUNT, 0);
    for (f = 1; f < F_COUNT; f++) {
        lua_pushstring(L, field_names[f]);
        lua_rawseti(L, -2, f);
    }
}

/* Pushes t[field f] (raw) and returns its type; the name from c->fields if there is
** one (no interning of the name for every item). */
static int field(kc_vctx *c, int t, int f)
{
    lua_State *L = c->L;
    t = lua_absindex(L, t);
    if (c->fields)
        lua_rawgeti(L, c->fields, f);
    else
        lua_pushstring(L, field_names[f]);
    return lua_rawget(L, t);
}

/* Length of the proper sequence at idx, or -1 if it is not one. */
static long long seq_len(lua_State *L, int idx)
{
    char bad[8];
    if (lua_type(L, idx) != LUA_TTABLE)
        return -1;
    return kc_table_sequence(L, idx, bad, sizeof bad);
}

/* Writes v / 10^scale as decimal text without trailing zeros. */
static void scaled_text(long long v, int scale, char *out, size_t cap)
{
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    unsigned long long p = 1;
    int i, n;
    for (i = 0; i < scale; i++) p *= 10;
    if (scale == 0) {   /* "%0*llu" would still print one digit */
        snprintf(out, cap, "%s%llu", v < 0 ? "-" : "", u);
        return;
    }
    n = snprintf(out, cap, "%s%llu.%0*llu", v < 0 ? "-" : "", u / p, scale, u % p);
    while (n > 0 && out[n - 1] == '0') out[--n] = '\0';
    if (n > 0 && out[n - 1] == '.') out[--n] = '\0';
}

/* *v times 10^k: 0, or -2 past int64 (kc_num_text_scaled's codes). */
static int scale_up(long long *v, int k)
{
    for (; k > 0; k--)
        if (__builtin_mul_overflow(*v, 10, v))
            return -2;
    return 0;
}

/* Checks the number at the stack top against the currency's decimals and adds
** it to *sum at `scale`. Returns 0, or -1 if the sum can no longer be exact. */
static int amount(kc_vctx *c, int minor, const char *currency, int scale, long long *sum)
{
    lua_State *L = c->L;
    long long v;
    int rc, decimals;
    double d;
    char found[KC_NUM_MAX];

    if (lua_type(L, -1) != LUA_TNUMBER)
        return -1;
    if (!isfinite(lua_tonumber(L, -1)))
        return -1;   /* the schema walk reports it */
    if (lua_isinteger(L, -1)) {
        lua_Integer i = lua_tointeger(L, -1);
        long long p = 1;
        int k;
        for (k = 0; k < scale; k++) p *= 10;
        if (__builtin_mul_overflow((long long)i, p, &v) || __builtin_add_overflow(*sum, v, sum)) {
            kc_verror(c, "amount: too large to total exactly, found %I", i);
            return -1;
        }
        return 0;
    }
    d = lua_tonumber(L, -1);
    if (kc_num_decimal(d, &v, &decimals) == 0) {   /* an everyday amount: no text to write */
        rc = decimals > scale ? -1 : scale_up(&v, scale - decimals);
    } else {
        kc_num_shortest(d, found);
        decimals = kc_num_text_decimals(found);
        rc = kc_num_text_scaled(found, scale, &v);
    }
    if (minor >= 0 && decimals > minor) {
        kc_num_shortest(d, found);
        kc_verror(c, "decimals: %s amounts have at most %d decimal(s), found %s",
                  currency, minor, found);
        return -1;
    }
    if (rc == -2 || (rc == 0 && __builtin_add_overflow(*sum, v, sum))) {
        kc_num_shortest(d, found);
        kc_verror(c, "amount: too large to total exactly, found %s", found);
        return -1;
    }
    return rc;
}

static void group_rules(kc_vctx *c, int draft)
{
    static const int group_only[] = { F_GROUP_NAME, F_INTERNAL_CLIENT_ID, F_INTERNAL_LOAN_ID, F_NOT_PICTURED };
    lua_State *L = c->L;
    long long borrowers, pictured;
    size_t i;
    char found[160];

    field(c, draft, F_ENTREPS);
    borrowers = seq_len(L, -1);
    lua_pop(L, 1);
    if (borrowers == 1) {
        for (i = 0; i < sizeof group_only / sizeof group_only[0]; i++) {
            if (field(c, draft, group_only[i]) != LUA_TNIL) {
                const char *name = field_names[group_only[i]];
                kc_describe(L, -1, found, sizeof found);
                kc_verror_at(c, name, 0,
                             "individual: a loan with one borrower must not carry %s (group loans only), found %s",
                             name, found);
            }
            lua_pop(L, 1);
        }
    } else if (borrowers > 1) {
        if (field(c, draft, F_GROUP_NAME) == LUA_TNIL)
            kc_vwarn_at(c, "group_name", "publish: PA2 needs group_name for a group loan before publishing");
        lua_pop(L, 1);
        field(c, draft, F_NOT_PICTURED);
        pictured = seq_len(L, -1);
        if (pictured >= 0 && pictured != borrowers) {
            kc_describe(L, -1, found, sizeof found);
            kc_verror_at(c, "not_pictured", 0,
                         "group: not_pictured needs one value per borrower (%I), found %s",
                         (lua_Integer)borrowers, found);
        }
        lua_pop(L, 1);
    }
}

/* A name shown in PA2 and exported to spreadsheets: one that begins like a
** formula (= + - @) would be run by Excel (=HYPERLINK(...) injection). The
** string is at the stack top; the path is already pushed. */
static void name_rule(kc_vctx *c)
{
    char found[160];
    const char *s;
    size_t len;

    if (lua_type(c->L, -1) != LUA_TSTRING)
        return;
    s = lua_tolstring(c->L, -1, &len);
    if (len > 0 && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@')) {
        kc_describe(c->L, -1, found, sizeof found);
        kc_verror(c, "formula: a name must not begin with '%c' (a spreadsheet would run it as a formula), "
                  "found %s", s[0], found);
    }
}

/* name_rule on t[field f] for the table at idx. */
static void name_field_rule(kc_vctx *c, int idx, int f)
{
    size_t saved;

    idx = lua_absindex(c->L, idx);
    if (field(c, idx, f) == LUA_TSTRING) {
        saved = kc_path_push_key(c, field_names[f], strlen(field_names[f]));
        name_rule(c);
        kc_path_pop(c, saved);
    }
    lua_pop(c->L, 1);
}

/* disburse_time (text s) lies `ahead` days after today (negative: before). */
static void disburse_warnings(kc_vctx *c, const char *s, long ahead)
{
    if (ahead > KC_DISBURSE_AHEAD_DAYS)
        kc_vwarn_at(c, "disburse_time",
                    "date: disbursal %I days in the future (more than %d); check the date, found \"%s\"",
                    (lua_Integer)ahead, KC_DISBURSE_AHEAD_DAYS, s);
    else if (-ahead > KC_DISBURSE_BEHIND_DAYS)
        kc_vwarn_at(c, "disburse_time",
                    "date: disbursal %I days ago (more than %d); check the date, found \"%s\"",
                    (lua_Integer)-ahead, KC_DISBURSE_BEHIND_DAYS, s);
}

/* The borrower's amount at the stack top, in a currency of `per_usd` units per US
** dollar (0: not judged), compared with what one borrower is usually lent. */
static void large_amount_warning(kc_vctx *c, double per_usd, const char *currency)
{
    double v = lua_tonumber(c->L, -1);
    char found[KC_NUM_MAX];
    if (per_usd > 0 && v / per_usd > KC_LARGE_USD) {
        kc_num_shortest(v, found);
        kc_vwarn(c, "large: %s %s is about %I USD, a very large loan for one borrower; "
                 "check the amount and the currency", found, currency, (lua_Integer)(v / per_usd));
    }
}

static void loan_draft_rules(kc_vctx *c, int draft, const kc_rules_opts *o)
{
    lua_State *L = c->L;
    int minor = -1, exact = 1, scale;
    double per_usd = 0;
    long long n, i, borrowers, borrowed = 0, scheduled = 0;
    long disburse = 0, previous = 0;
    char currency[16] = "";
    size_t saved, len;
    const char *s;

    if (lua_type(L, draft) != LUA_TTABLE)
        return;
    luaL_checkstack(L, 8, "rules");
    group_rules(c, draft);
    name_field_rule(c, draft, F_GROUP_NAME);

    if (field(c, draft, F_CURRENCY) == LUA_TSTRING) {
        s = lua_tolstring(L, -1, &len);
        minor = kc_currency_minor(s, len);
        if (minor >= 0) {
            memcpy(currency, s, 4);
            per_usd = kc_currency_per_usd(s, len);
        }
        else if (len == 3 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z' && s[2] >= 'A' && s[2] <= 'Z')
            kc_verror_at(c, "currency", 0, "currency: not an ISO 4217 currency code, found \"%s\"", s);
    }
    lua_pop(L, 1);
    scale = minor >= 0 ? minor : KC_UNKNOWN_SCALE;

    if (field(c, draft, F_DISBURSE_TIME) == LUA_TSTRING) {
        s = lua_tolstring(L, -1, &len);
        if (!kc_date_parse(s, len, &disburse))
            disburse = 0;
        else
            disburse_warnings(c, s, kc_date_days(disburse) - o->today);
    }
    lua_pop(L, 1);

    field(c, draft, F_ENTREPS);
    n = borrowers = seq_len(L, -1);
    for (i = 1; i <= n; i++) {
        if (lua_rawgeti(L, -1, (lua_Integer)i) == LUA_TTABLE) {
            saved = KC_PATH_PUSH_KEY(c, "entreps");
            kc_path_push_index(c, i);
            name_field_rule(c, -1, F_FIRST_NAME);
            name_field_rule(c, -1, F_LAST_NAME);
            KC_PATH_PUSH_KEY(c, "amount");
            field(c, -1, F_AMOUNT);
            /* a missing or non-positive amount is reported by the schema: no total */
            if (lua_type(L, -1) != LUA_TNUMBER || !(lua_tonumber(L, -1) > 0)
                || amount(c, minor, currency, scale, &borrowed) != 0)
                exact = 0;
            else
                large_amount_warning(c, per_usd, currency);
            lua_pop(L, 1);
            kc_path_pop(c, saved);
        } else {
            exact = 0;
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);

    field(c, draft, F_SCHEDULE);
    n = seq_len(L, -1);
    for (i = 1; i <= n; i++) {
        if (lua_rawgeti(L, -1, (lua_Integer)i) == LUA_TTABLE) {
            saved = KC_PATH_PUSH_KEY(c, "schedule");
            kc_path_push_index(c, i);
            if (field(c, -1, F_PRINCIPAL) != LUA_TNIL) {
                size_t inner = KC_PATH_PUSH_KEY(c, "principal");
                if (amount(c, minor, currency, scale, &scheduled) != 0)
                    exact = 0;
                kc_path_pop(c, inner);
            }
            lua_pop(L, 1);
            if (field(c, -1, F_INTEREST) != LUA_TNIL) {
                long long ignored = 0;
                size_t inner = KC_PATH_PUSH_KEY(c, "interest");
                amount(c, minor, currency, scale, &ignored);
                kc_path_pop(c, inner);
            }
            lua_pop(L, 1);
            if (field(c, -1, F_DATE) == LUA_TSTRING) {
                long date;
                s = lua_tolstring(L, -1, &len);
                if (kc_date_parse(s, len, &date)) {
                    size_t inner = KC_PATH_PUSH_KEY(c, "date");
                    char d[40];
                    if (disburse && date < disburse) {
                        snprintf(d, sizeof d, "%04ld-%02ld-%02ld", disburse / 10000, disburse / 100 % 100,
                                 disburse % 100);
                        kc_verror(c, "order: installments cannot fall before disburse_time %s, found \"%s\"", d, s);
                    }
                    if (previous && date <= previous) {
                        snprintf(d, sizeof d, "%04ld-%02ld-%02ld", previous / 10000, previous / 100 % 100,
                                 previous % 100);
                        kc_verror(c, "order: schedule dates must be ascending, found \"%s\" after %s", s, d);
                    }
                    kc_path_pop(c, inner);
                    previous = date;
                }
            }
            lua_pop(L, 1);
            kc_path_pop(c, saved);
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    if (exact && n > 0 && borrowers > 0 && scheduled != borrowed) {
        char a[48], b[48];
        scaled_text(scheduled, scale, a, sizeof a);
        scaled_text(borrowed, scale, b, sizeof b);
        kc_verror_at(c, "schedule", 0,
                     "sum: schedule principal must total the borrowers' amounts (%s), found a total of %s", b, a);
    }

    if (field(c, draft, F_IMAGE_ENCODED) == LUA_TSTRING) {
        char msg[160];
        s = lua_tolstring(L, -1, &len);
        /* a string that is no such data URI at all is the schema pattern's error */
        if ((STARTS_WITH(s, "data:image/jpeg;base64,") || STARTS_WITH(s, "data:image/png;base64,")
             || STARTS_WITH(s, "data:image/gif;base64,"))
            && kc_image_check(s, len, KC_IMAGE_MAX, msg, sizeof msg))
            kc_verror_at(c, "image_encoded", 0, "image: %s", msg);
    }
    lua_pop(L, 1);
}

/* Repayments and journals: the rules of one line (a table at the stack top, its
** path pushed): the client id three-column partners need, the amount's decimals
** (minor of them, in `currency`'s name). */
static void report_line(kc_vctx *c, const kc_rules_opts *o, int journals, int minor, const char *currency)
{
    lua_State *L = c->L;
    int client_field = journals ? F_INTERNAL_CLIENT_ID : F_CLIENT_ID;
    const char *client_key = field_names[client_field];

    if (o->three_column) {
        if (field(c, -1, client_field) == LUA_TNIL)
            kc_verror_at(c, client_key, 0,
                         "required: %s is required for three-column partners (csv_format \"three\")",
                         client_key);
        lua_pop(L, 1);
    }
    if (!journals) {
        long long ignored = 0;
        size_t inner = KC_PATH_PUSH_KEY(c, "amount");
        field(c, -1, F_AMOUNT);
        amount(c, minor, currency, 0, &ignored);
        lua_pop(L, 1);
        kc_path_pop(c, inner);
    }
}

/* The decimals a report's amounts may have, and the currency named in the message
** (at least 16 bytes). Raises for an opts.currency that is no ISO 4217 code. */
static int report_minor(lua_State *L, const kc_rules_opts *o, int journals, char *currency)
{
    int minor = KC_REPAYMENT_DECIMALS;
    if (!journals && o->currency) {
        minor = kc_currency_minor(o->currency, o->currency_len);
        if (minor < 0)
            return luaL_error(L, "opts.currency is not an ISO 4217 code");
        memcpy(currency, o->currency, 3);
        currency[3] = '\0';
    } else {
        memcpy(currency, "repayment", sizeof "repayment");
    }
    return minor;
}

/* Repayments and journals: each line's rules, and no two lines for the same ids. */
static void report_rules(kc_vctx *c, int body, const kc_rules_opts *o, int journals)
{
    lua_State *L = c->L;
    int list_field = journals ? F_JOURNALS : F_REPAYMENTS, loan_field = journals ? F_INTERNAL_LOAN_ID : F_LOAN_ID;
    const char *list = field_names[list_field], *loan_key = field_names[loan_field];
    int minor, seen;
    long long n, i;
    char currency[16];
    size_t saved;

    if (lua_type(L, body) != LUA_TTABLE)
        return;
    luaL_checkstack(L, 10, "rules");
    minor = report_minor(L, o, journals, currency);
    lua_newtable(L);   /* "loan\0second" -> first index */
    seen = lua_gettop(L);
    field(c, body, list_field);
    n = seq_len(L, -1);
    for (i = 1; i <= n; i++) {
        if (lua_rawgeti(L, -1, (lua_Integer)i) != LUA_TTABLE) {
            lua_pop(L, 1);
            continue;
        }
        saved = kc_path_push_key(c, list, strlen(list));
        kc_path_push_index(c, i);
        report_line(c, o, journals, minor, currency);
        field(c, -1, loan_field);
        if (journals || o->three_column) field(c, -2, journals ? F_SUBJECT : F_CLIENT_ID); else lua_pushliteral(L, "");
        if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING) {
            lua_pushvalue(L, -2);
            lua_pushliteral(L, "\n");   /* ids are free of control characters */
            lua_pushvalue(L, -3);
            lua_concat(L, 3);
            lua_pushvalue(L, -1);
            if (lua_rawget(L, seen) == LUA_TNUMBER) {
                lua_Integer first = lua_tointeger(L, -1);
                if (journals)
                    kc_verror(c, "duplicate: same %s and subject as journals[%I]", loan_key, first);
                else
                    kc_verror(c, "duplicate: same %s%s as repayments[%I] (one line per loan in a report)",
                              loan_key, o->three_column ? " and client_id" : "", first);
                lua_pop(L, 2);
            } else {
                lua_pop(L, 1);
                lua_pushinteger(L, (lua_Integer)i);
                lua_rawset(L, seen);
            }
        }
        lua_pop(L, 2);
        kc_path_pop(c, saved);
        lua_pop(L, 1);
    }
    lua_pop(L, 2);
}

int kc_rules_kind(const char *kind)
{
    static const char *const names[] = { "loan_draft", "repayments", "journals" };
    int i;
    for (i = 0; i < 3; i++)
        if (strcmp(kind, names[i]) == 0)
            return KC_LOAN_DRAFT + i;
    return KC_KIND_NONE;
}

int kc_rules_check(kc_vctx *c, int idx, const kc_rules_opts *o)
{
    idx = lua_absindex(c->L, idx);
    if (o->kind_id == KC_LOAN_DRAFT)
        loan_draft_rules(c, idx, o);
    else if (o->kind_id == KC_REPAYMENTS)
        report_rules(c, idx, o, 0);
    else if (o->kind_id == KC_JOURNALS)
        report_rules(c, idx, o, 1);
    else
        return -1;
    return 0;
}

int kc_rules_item(kc_vctx *c, int idx, const kc_rules_opts *o)
{
    lua_State *L = c->L;
    char currency[16];
    int journals;

    idx = lua_absindex(L, idx);
    if (o->kind_id == KC_LOAN_DRAFT) {
        loan_draft_rules(c, idx, o);
        return 0;
    }
    journals = o->kind_id == KC_JOURNALS;
    if (!journals && o->kind_id != KC_REPAYMENTS)
        return -1;
    if (lua_type(L, idx) == LUA_TTABLE) {
        int minor = report_minor(L, o, journals, currency);
        luaL_checkstack(L, 4, "rules");
        lua_pushvalue(L, idx);
        report_line(c, o, journals, minor, currency);
        lua_pop(L, 1);
    }
    return 0;
}
