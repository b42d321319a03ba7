/* SPDX-License-Identifier: MIT
**
** Internal: the compiled JSON Schema tree shared by the compiler (schema.c),
** the validator (validate.c), Kiva's rules (rules.c) and the canonical encoder
** (encode.c). A tree is owned by one `kiva.core.schema` userdata and freed by
** its __gc; nothing here refers to Lua values after compilation.
*/
#ifndef KIVA_SCHEMA_H
#define KIVA_SCHEMA_H

#include <regex.h>
#include <stddef.h>

#include "buf.h"
#include "kiva_core.h"

#define KC_SCHEMA_MT "kiva.core.schema"
#define KC_PATH_MAX 512
#define KC_MAX_DEPTH 64     /* deeper values are refused, not walked */
#define KC_MAX_ERRORS 1000  /* then one "more errors" entry ends the list */

/* JSON Schema's type names; bit i of a type set is kc_type_names[i]. */
enum {
    KT_NULL = 1, KT_BOOLEAN = 2, KT_INTEGER = 4, KT_NUMBER = 8,
    KT_STRING = 16, KT_ARRAY = 32, KT_OBJECT = 64
};
#define KT_COUNT 7
extern const char *const kc_type_names[KT_COUNT];

/* A constant from `enum`/`const`: JSON scalars only. */
typedef struct kc_const {
    int type;              /* KT_NULL, KT_BOOLEAN, KT_NUMBER, KT_STRING */
    int boolean;
    double number;
    char *str;
    size_t len;
} kc_const;

typedef struct kc_node kc_node;

typedef struct kc_prop {
    char *name;            /* sorted by strcmp: also the encoding order */
    size_t len;
    kc_node *schema;
    char *json;            /* the name's JSON text and ':', written once; NULL if not UTF-8 */
    size_t json_len;
    int ref;               /* the name as a Lua string: index in the schema's names table */
    const char *interned;  /* that string's bytes (Lua interns short strings: a key of the
                           ** same text is most often this very pointer) */
} kc_prop;

struct kc_node {
    int always;            /* boolean schema: 1 true, -1 false, 0 a real schema */
    int types;             /* KT_* bits; 0 = any */
    char **required;
    int *required_refs;    /* each as a Lua string (as lua_pushstring makes it): names index */
    size_t nrequired;
    char **publish;        /* x-publish-required: what PA2 needs before publishing (warnings) */
    int *publish_refs;
    size_t npublish;
    kc_prop *props;
    size_t nprops;
    unsigned *prop_slots;  /* hash of the names (kc_prop_hash): index + 1 in props, 0 empty */
    unsigned prop_mask;    /* slots - 1; at least twice as many slots as props */
    int no_additional;     /* additionalProperties: false */
    kc_node *items;
    long long min_items, max_items;     /* -1 = none */
    long long min_length, max_length;   /* in code points; -1 = none */
    int has_minimum, has_exclusive_minimum, has_maximum;
    double minimum, exclusive_minimum, maximum;
    kc_const *enums;
    size_t nenums;
    int has_enum;
    kc_const *constant;
    regex_t *pattern;
    char *pattern_src;
    int format_date;
    int multiline;         /* x-multiline: TAB, LF, CR allowed in this string */
    kc_node *if_, *then_, *else_;
    kc_node **one_of;
    size_t none_of;
};

/* The userdata. Its user value 1 is the names table: every property, required and
** publish name of the tree as a Lua string, at the indexes the nodes keep (refs), so
** that a walk pushes one with lua_rawgeti, not by interning it again. */
typedef struct kc_schema {
    kc_node *root;
} kc_schema;

/* One segment of a value's path: a key, or an index ([n]). */
typedef struct kc_path_seg {
    const char *key;       /* NULL for an index */
    size_t n;              /* the key's length, or the index */
} kc_path_seg;
/* One segment per nesting level (at most KC_MAX_DEPTH) plus the few the rules and
** a finding's own key add: never reached. */
#define KC_PATH_SEGS (2 * KC_MAX_DEPTH + 16)

/* Validation state: errors go into the Lua table at stack index `errors`,
** warnings (what PA2 needs before publishing, what looks wrong but may be right)
** into the one at `warnings`, or into errors too when `strict`. A nil in either
** slot is replaced by a new table on its first finding (no table for a clean value). */
typedef struct kc_vctx {
    lua_State *L;
    int errors;            /* absolute stack index of the errors array */
    int nerrors;
    int warnings;          /* absolute stack index of the warnings array */
    int nwarnings;
    int strict;            /* warnings are recorded as errors */
    int names;             /* stack index of the schema's names table, 0: none (names pushed as text) */
    int fields;            /* stack index of kc_rules_push_fields' table, 0: none */
    int quiet;             /* >0 while trying oneOf/if branches: count, do not record */
    int depth;
    /* The path as segments, written out as text only when a finding is recorded:
    ** most values pass. A key points into a string alive while its segment is
    ** pushed (the key on the Lua stack, the schema's or a literal). */
    kc_path_seg segs[KC_PATH_SEGS];
    size_t nsegs;          /* pushed; past KC_PATH_SEGS they are counted, not kept */
    size_t hide;           /* leading path bytes not reported, with the '.' after them (checker.c) */
} kc_vctx;

/* schema.c */
kc_node *kc_schema_get(lua_State *L, int idx);
/* Pushes the names table of the schema userdata at idx. */
void kc_schema_push_names(lua_State *L, int idx);

/* validate.c: validates the value at idx against node; appends errors. */
void kc_validate_value(kc_vctx *c, const kc_node *node, int idx);
void kc_verror(kc_vctx *c, const char *fmt, ...);
void kc_verror_at(kc_vctx *c, const char *suffix_key, long long suffix_index, const char *fmt, ...);
/* Like kc_verror/kc_verror_at, for a warning. */
void kc_vwarn(kc_vctx *c, const char *fmt, ...);
void kc_vwarn_at(kc_vctx *c, const char *suffix_key, const char *fmt, ...);
/* Sorts the array at idx of { path, message } by path in document order (keys in
** byte order as encoded, indexes by number, a parent before its members), then by
** message: the same bytes every run, whatever the table traversal order. */
void kc_sort_findings(lua_State *L, int idx);
/* Pushes a path segment; returns what kc_path_pop takes to remove it. key must stay
** alive until then. */
size_t kc_path_push_key(kc_vctx *c, const char *key, size_t len);
/* kc_path_push_key for a string literal, its length counted by the compiler. */
#define KC_PATH_PUSH_KEY(c, literal) kc_path_push_key((c), "" literal, sizeof(literal) - 1)
size_t kc_path_push_index(kc_vctx *c, long long i);
void kc_path_pop(kc_vctx *c, size_t saved);
/* A short printable description of the value at idx ("\"abc\"", "3.5", "an array of 2"). */
const char *kc_describe(lua_State *L, int idx, char *out, size_t cap);
/* Array shape of a table: its length n if keys are exactly 1..n, else -1 with
** *bad set to a description of the first offending key. */
long long kc_table_sequence(lua_State *L, int idx, char *bad, size_t cap);
/* The schema of property key in an object node, or NULL. */
const kc_node *kc_node_prop(const kc_node *n, const char *key, size_t len);
/* The property key of an object node, or NULL. */
const kc_prop *kc_node_find(const kc_node *n, const char *key, size_t len);
/* The slot a property name starts its search at in prop_slots (before the mask). */
static inline unsigned kc_prop_hash(const char *key, size_t len)
{
    return len ? (unsigned)len * 0x9E3779B1u ^ (unsigned char)key[0] * 31u ^ (unsigned char)key[len - 1] : 0;
}
/* 1 if the number at idx is an integer (Lua integer, or integral float within +-2^53). */
int kc_is_integral(lua_State *L, int idx);

/* rules.c: Kiva's rules beyond JSON Schema, for one kind of request body. */
enum { KC_KIND_NONE = -1, KC_LOAN_DRAFT, KC_REPAYMENTS, KC_JOURNALS };
typedef struct kc_rules_opts {
    const char *kind;      /* "loan_draft" | "repayments" | "journals" */
    int kind_id;           /* the same as KC_LOAN_DRAFT..., KC_KIND_NONE for none or another */
    int three_column;      /* csv_format "three": client ids required */
    const char *currency;  /* repayments: the loans' currency, if known; else NULL */
    size_t currency_len;
    long today;            /* days since 1970-01-01 (UTC): for the disbursal date warnings */
} kc_rules_opts;
/* Pushes a table of the names of the fields the rules read, as Lua strings: at
** kc_vctx.fields they are not interned again for every item (checker.c). */
void kc_rules_push_fields(lua_State *L);
/* KC_LOAN_DRAFT, KC_REPAYMENTS, KC_JOURNALS for a kind's name, else KC_KIND_NONE. */
int kc_rules_kind(const char *kind);
/* 0 if kind is known (the rules ran), -1 if not. */
int kc_rules_check(kc_vctx *c, int idx, const kc_rules_opts *o);
/* The same for one item at idx as it stands in its body: the whole draft for
** loan_draft, one line of a repayment or journal report (path already pushed;
** a one-line list has no duplicates to look for). 0, or -1 for an unknown kind. */
int kc_rules_item(kc_vctx *c, int idx, const kc_rules_opts *o);

/* schema.c: reads compiled:validate's opts (the table at stack index opts; 0 for
** none) into *ro and *strict; ro's strings stay alive while the table does. Raises
** for a csv_format or today that is not one. */
void kc_validate_opts(lua_State *L, int opts, kc_rules_opts *ro, int *strict);

/* checker.c: compiled:checker(opts), and its metatable. */
int kc_checker_new(lua_State *L);
void kc_checker_open(lua_State *L);

/* image.c: checks a data URI; returns NULL if fine, else a message. */
const char *kc_image_check(const char *s, size_t n, size_t max_decoded, char *msg, size_t cap);

/* encode.c: appends a string's JSON text (quoted, escaped) to out: 0, -1 if s is
** not UTF-8, -2 out of memory. */
int kc_encode_string(kc_buf *out, const char *s, size_t len);
/* encode.c: pushes the canonical JSON text, or returns kc_fail's 3 results. */
int kc_encode_value(lua_State *L, const kc_node *node, int idx);
/* Where a value stands in the document it is encoded as part of. */
typedef struct kc_encode_at {
    const char *path;      /* its path, for messages ("repayments[1]") */
    size_t path_len;
    int depth;             /* its depth there (nesting limit) */
    const char *omit;      /* a key of its own object left out of the text, or NULL */
    size_t omit_len;
    int validated;         /* kc_validate_value found nothing wrong with it against node */
    int names;             /* stack index of the schema's names table, 0: none */
} kc_encode_at;
typedef struct kc_encode_error {
    const char *code;      /* "NOT_FINITE", ... */
    char msg[KC_PATH_MAX + 128];
} kc_encode_error;
/* Appends the canonical JSON text of the value at idx (at NULL: a whole document)
** to out: 0, or -1 with *err set (out then holds a part of the text). */
int kc_encode_append(lua_State *L, const kc_node *node, int idx, kc_buf *out, const kc_encode_at *at,
                     kc_encode_error *err);

#endif
