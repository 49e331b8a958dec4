/*
 * policy_int.h - the compiled form of an IAM policy document, shared by policy_parse.c
 * (builds it), policy_eval.c (statement matching, policy_decide) and policy_cond.c
 * (Condition operators). Nothing outside src/auth/policy*.c includes this file.
 *
 * Invariants: everything a struct policy points to lives in its arena and never changes
 * after policy_parse returns; every string is NUL-terminated and holds no NUL; every
 * pattern has been validated (actions split into vendor and name, resources in ARN shape
 * or "*"), and every Condition value of a typed operator (numeric, date, IP, bool) has
 * been parsed unless it holds a policy variable, which is expanded and parsed at
 * evaluation.
 */
#ifndef QR_POLICY_INT_H
#define QR_POLICY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/policy.h"

#define POLICY_MAX_DOC_BYTES 131072 /* policy_parse refuses bigger documents */
#define POLICY_MAX_DEPTH     32     /* JSON nesting; a valid policy needs 6 */
#define POLICY_MAX_EXPAND    4096   /* a pattern after ${...} substitution */
/* One Action, Resource, principal or Condition value. ARNs are at most 2048 characters
 * in AWS's APIs; the cap also bounds a glob's worst case (pattern x subject). */
#define POLICY_MAX_VALUE 2048

/* The base comparison of a Condition operator; "Not" forms are base + negated. */
enum pol_cmp {
    CMP_STR_EQ,    /* StringEquals, StringNotEquals */
    CMP_STR_EQ_IC, /* StringEqualsIgnoreCase, StringNotEqualsIgnoreCase */
    CMP_STR_LIKE,  /* StringLike, StringNotLike */
    CMP_NUM_EQ,
    CMP_NUM_LT,
    CMP_NUM_LE,
    CMP_NUM_GT,
    CMP_NUM_GE,
    CMP_DATE_EQ,
    CMP_DATE_LT,
    CMP_DATE_LE,
    CMP_DATE_GT,
    CMP_DATE_GE,
    CMP_BOOL,
    CMP_BINARY, /* BinaryEquals: the base64 text compared byte for byte */
    CMP_IP,     /* IpAddress, NotIpAddress */
    CMP_ARN,    /* ArnEquals/ArnLike (identical in IAM), ArnNotEquals/ArnNotLike */
    CMP_NULL,   /* Null */
};

/* How a value of an operator is stored once parsed. */
enum pol_vtype {
    VT_STR,
    VT_NUM,
    VT_DATE,
    VT_BOOL,
    VT_IP,
};

struct pol_opdef {
    const char *name;    /* "StringNotEquals" */
    enum pol_cmp cmp;    /* the comparison */
    bool negated;        /* the Not form: true when no value matches; true on a missing key */
    enum pol_vtype type; /* how its values are parsed */
};

enum pol_setop {
    SET_NONE,
    SET_ANY, /* ForAnyValue: */
    SET_ALL, /* ForAllValues: */
};

struct pol_cidr {
    uint8_t family; /* 4 or 6 */
    uint8_t bits;   /* prefix length: <= 32 for v4, <= 128 for v6 */
    uint8_t addr[16];
};

struct pol_val {
    const char *s; /* the value as text (arena) */
    size_t len;    /* strlen(s) */
    bool var;      /* holds ${...} to substitute (Version 2012-10-17 only) */
    union {
        double num;         /* VT_NUM */
        int64_t ms;         /* VT_DATE: ms since the epoch */
        bool b;             /* VT_BOOL (and Null's "true"/"false") */
        struct pol_cidr ip; /* VT_IP */
    } u;                    /* valid when !var */
};

struct pol_cond {
    const struct pol_opdef *op; /* static table entry */
    enum pol_setop set;         /* ForAnyValue / ForAllValues prefix */
    bool if_exists;             /* ...IfExists suffix */
    const char *key;            /* condition key as written; compared case-insensitively */
    size_t key_len;             /* strlen(key) */
    struct pol_val *vals;       /* n_vals >= 1 */
    size_t n_vals;
};

/* The shape of a wildcard pattern, found at parse time so that most matches are one
 * memcmp: "fixed" bytes before the first '*' or '?', then nothing (exact), a lone
 * trailing '*' (prefix), or more wildcards (glob over the rest). */
enum pol_shape {
    SHAPE_EXACT,
    SHAPE_PREFIX,
    SHAPE_GLOB,
};

struct pol_pat {
    enum pol_shape shape;
    size_t fixed; /* bytes before the first wildcard */
    size_t tail;  /* SHAPE_GLOB: bytes after the last wildcard */
};

/* An action pattern, pre-split: vendor compared case-insensitively, then name globbed
 * case-insensitively. all: the lone "*". */
struct pol_action {
    bool all;
    const char *vendor; /* "s3" */
    size_t vendor_len;
    const char *name; /* "Get*" */
    size_t name_len;
    struct pol_pat pat; /* shape of name */
};

/* A resource pattern: an ARN glob (case-sensitive) or "*". */
struct pol_res {
    const char *s;
    size_t len;
    bool var;           /* holds ${...} */
    struct pol_pat pat; /* shape of s (unused when var) */
};

enum pol_pkind {
    PK_ANY,     /* "*" or {"AWS":"*"}: everyone */
    PK_ACCOUNT, /* "123456789012" or arn:aws:iam::123456789012:root: s holds the 12 digits */
    PK_ARN,     /* an IAM user / role / assumed-role ARN: s holds it */
    PK_SERVICE, /* {"Service": "lambda.amazonaws.com"} */
    PK_OTHER,   /* Federated, CanonicalUser: quarry has no such callers; never matches */
};

struct pol_principal {
    enum pol_pkind kind;
    const char *s;
};

enum pol_mode {
    MODE_NONE, /* element absent */
    MODE_POS,  /* Action / Resource / Principal */
    MODE_NOT,  /* NotAction / NotResource / NotPrincipal */
};

struct pol_stmt {
    const char *sid; /* or NULL */
    bool deny;       /* Effect */
    enum pol_mode act_mode;
    struct pol_action *acts;
    size_t n_acts;
    enum pol_mode res_mode; /* MODE_NONE only in trust policies */
    struct pol_res *res;
    size_t n_res;
    enum pol_mode pr_mode; /* MODE_NONE only in identity policies */
    struct pol_principal *prs;
    size_t n_prs;
    struct pol_cond *conds;
    size_t n_conds;
    bool has_vars; /* some Resource or Condition value holds ${...} */
};

struct pol_block; /* arena block, policy_parse.c */

struct policy {
    enum policy_kind kind;
    bool vars;              /* Version 2012-10-17: ${...} are policy variables */
    struct pol_stmt *stmts; /* n_stmts >= 1 */
    size_t n_stmts;
    const char **keys; /* the context keys it reads, once each (policy_context_keys) */
    size_t n_keys;
    struct pol_block *arena; /* owns everything above */
};

/* How strongly a matching statement named the caller (resource policies): an explicit
 * grant to the caller's own ARN stands on its own; a grant to a role or to everyone is
 * still narrowed by session policies; a grant to the account only delegates to the
 * caller's identity policies. */
enum pol_grant {
    GRANT_NONE = 0,
    GRANT_ACCOUNT,
    GRANT_BROAD,
    GRANT_EXACT,
};

/* The shape of pattern s (policy_eval.c). */
struct pol_pat pol_pat_of(const char *s, size_t len);

/* s matches the pattern pat of shape sh (no variables); icase folds ASCII case. */
bool pol_pat_match(const char *pat, size_t plen, struct pol_pat sh, const char *s, size_t slen,
                   bool icase);

/* policy_cond.c */

/* The operator named name (without ForAnyValue:/ForAllValues: and IfExists), compared
 * case-insensitively; NULL when IAM has no such operator. */
const struct pol_opdef *pol_op_find(const char *name, size_t len);

/* Parses a typed literal of type t (not VT_STR) from s into v->u; false when malformed. */
bool pol_val_parse(enum pol_vtype t, const char *s, size_t len, struct pol_val *v);

/* True when every condition of the statement holds for r. */
bool pol_conds_hold(const struct policy *p, const struct pol_stmt *st,
                    const struct policy_request *r);

/* policy_eval.c, used by policy_cond.c */

/* The values of condition key key in r (case-insensitive), also synthesizing
 * aws:PrincipalArn and aws:PrincipalAccount from r's fields when ctx lacks them.
 * false when the key is absent. */
bool pol_ctx_get(const struct policy_request *r, const char *key, size_t key_len,
                 const char *const **out_vals, size_t *out_n);

/* A pattern after policy-variable substitution. lit[i] marks characters that came from a
 * variable or from ${*} ${?} ${$}: they match only themselves, never as wildcards. */
struct pol_exp {
    char s[POLICY_MAX_EXPAND + 1];
    uint8_t lit[POLICY_MAX_EXPAND];
    size_t len;
};

/* Expands ${key}, ${key, 'default'}, ${*}, ${?}, ${$} in s from r. false when a key has
 * no (single) value and no default, or the result is longer than POLICY_MAX_EXPAND: the
 * pattern then matches nothing, as IAM does. */
bool pol_expand(const char *s, size_t len, const struct policy_request *r, struct pol_exp *out);

/* Glob with '*' (any run, '/' included) and '?' (one byte) over bytes; lit (may be NULL)
 * marks pattern bytes that are literal; icase folds ASCII case. */
bool pol_glob(const char *pat, const uint8_t *lit, size_t plen, const char *s, size_t slen,
              bool icase);

/* ArnLike: the six colon-separated parts globbed one by one (the last part takes the
 * rest, colons included). */
bool pol_arn_like(const char *pat, const uint8_t *lit, size_t plen, const char *s, size_t slen);

/* Parses ISO 8601 ("2026-01-02", "2026-01-02T03:04:05Z", fractions, +hh:mm offsets) or
 * epoch seconds into ms; false on anything else. */
bool pol_date_parse(const char *s, size_t len, int64_t *out_ms);

#endif
