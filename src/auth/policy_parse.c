/*
 * policy_parse.c - turns an IAM policy document (JSON) into the immutable struct policy of
 * policy_int.h, validating it as IAM does, with IAM's MalformedPolicyDocument messages
 * where they are known.
 *
 * The document is bounded before jansson sees it (size, nesting depth); everything the
 * compiled policy holds is copied into one arena, so a failure anywhere frees everything
 * with one call and a success hands the caller one object. Nothing here runs per request.
 */
#include "auth/policy.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "auth/policy_int.h"
#include "util/buf.h"

/* ---- arena ------------------------------------------------------------------------ */

struct pol_block {
    struct pol_block *next;
    size_t used, cap;
    _Alignas(16) uint8_t mem[];
};

#define ARENA_BLOCK 16384

static void *arena_alloc(struct policy *p, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    struct pol_block *b = p->arena;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
        b = qr_xmalloc(sizeof(*b) + cap);
        b->used = 0;
        b->cap = cap;
        b->next = p->arena;
        p->arena = b;
    }
    void *r = b->mem + b->used;
    b->used += n;
    memset(r, 0, n);
    return r;
}

static char *arena_strdup(struct policy *p, const char *s, size_t len)
{
    char *d = arena_alloc(p, len + 1);
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

void policy_free(struct policy *p)
{
    if (!p)
        return;
    struct pol_block *b = p->arena;
    while (b) {
        struct pol_block *n = b->next;
        free(b);
        b = n;
    }
    free(p);
}

/* ---- parse state and errors ------------------------------------------------------- */

struct pctx {
    struct policy *p;
    char *why;
    size_t why_cap;
};

/* Length of the UTF-8 sequence at s (1-4), or 0 when it is cut or not one. Stops at the
 * first byte that is not a continuation, so it never reads past the NUL. */
static size_t utf8_seq(const unsigned char *s)
{
    size_t n;
    if (s[0] < 0x80)
        n = 1;
    else if (s[0] >= 0xC2 && s[0] <= 0xDF)
        n = 2;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF)
        n = 3;
    else if (s[0] >= 0xF0 && s[0] <= 0xF4)
        n = 4;
    else
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

/* The reason goes into an XML error message: one line of valid UTF-8. Quoting a value
 * with %.200s, or cutting at why_cap, can split a character (it becomes '?'); a control
 * character would break the line (it becomes ' '). */
static void scrub(char *why)
{
    unsigned char *q = (unsigned char *)why;
    while (*q) {
        size_t n = utf8_seq(q);
        if (n == 0) {
            *q++ = '?';
            continue;
        }
        if (*q < 0x20)
            *q = ' ';
        q += n;
    }
}

__attribute__((format(printf, 2, 3))) static enum qr_err fail(struct pctx *c, const char *fmt, ...)
{
    if (c->why && c->why_cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->why, c->why_cap, fmt, ap);
        va_end(ap);
        scrub(c->why);
    }
    return QR_E_BAD_INPUT;
}

#define SYNTAX "Syntax errors in policy."

/* A JSON string without NUL bytes (we keep C strings). */
static bool json_cstr(const json_t *j, const char **out, size_t *out_len)
{
    if (!json_is_string(j))
        return false;
    const char *s = json_string_value(j);
    size_t n = json_string_length(j);
    if (memchr(s, '\0', n))
        return false;
    *out = s;
    *out_len = n;
    return true;
}

/* The elements of a "string or array of strings" value: calls each(c, str, len, i) and
 * stops at its first error. An empty array counts as missing (*out_n == 0). */
typedef enum qr_err (*str_each_cb)(struct pctx *c, void *arr, size_t i, const char *s, size_t len);

static enum qr_err str_list_count(struct pctx *c, const json_t *j, size_t *out_n)
{
    if (json_is_string(j)) {
        *out_n = 1;
        return QR_OK;
    }
    if (!json_is_array(j))
        return fail(c, SYNTAX);
    *out_n = json_array_size(j);
    return QR_OK;
}

static enum qr_err too_long(struct pctx *c, const char *s)
{
    return fail(c, "Policy element value exceeds %d characters: %.40s...", POLICY_MAX_VALUE, s);
}

static enum qr_err str_list_walk(struct pctx *c, const json_t *j, void *arr, str_each_cb each)
{
    const char *s;
    size_t len;
    if (json_is_string(j)) {
        if (!json_cstr(j, &s, &len))
            return fail(c, SYNTAX);
        if (len > POLICY_MAX_VALUE)
            return too_long(c, s);
        return each(c, arr, 0, s, len);
    }
    for (size_t i = 0; i < json_array_size(j); i++) {
        if (!json_cstr(json_array_get(j, i), &s, &len))
            return fail(c, SYNTAX);
        if (len > POLICY_MAX_VALUE)
            return too_long(c, s);
        enum qr_err e = each(c, arr, i, s, len);
        if (e)
            return e;
    }
    return QR_OK;
}

/* ---- Action ----------------------------------------------------------------------- */

static bool vendor_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '-';
}

static bool action_char(char ch)
{
    return vendor_char(ch) || ch == '*' || ch == '?' || ch == '_';
}

static enum qr_err action_one(struct pctx *c, void *arr, size_t i, const char *s, size_t len)
{
    struct pol_action *a = (struct pol_action *)arr + i;
    if (len == 1 && s[0] == '*') {
        if (c->p->kind == POLICY_TRUST)
            return fail(c, "AssumeRole policy may only specify STS AssumeRole actions.");
        a->all = true;
        return QR_OK;
    }
    const char *colon = memchr(s, ':', len);
    if (!colon || colon == s)
        return fail(c, "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, "
                       "ec2, etc.");
    size_t vlen = (size_t)(colon - s), nlen = len - vlen - 1;
    if (memchr(colon + 1, ':', nlen))
        return fail(c, "Actions/Condition can contain only one colon.");
    for (size_t k = 0; k < vlen; k++)
        if (!vendor_char(s[k]))
            return fail(c, "Vendor %.*s is not valid", (int)vlen, s);
    if (nlen == 0)
        return fail(c, "Action %.*s is not valid", (int)len, s);
    for (size_t k = 0; k < nlen; k++)
        if (!action_char(colon[1 + k]))
            return fail(c, "Action %.*s is not valid", (int)(len > 200 ? 200 : len), s);
    if (c->p->kind == POLICY_TRUST && !(vlen == 3 && strncasecmp(s, "sts", 3) == 0))
        return fail(c, "AssumeRole policy may only specify STS AssumeRole actions.");
    a->vendor = arena_strdup(c->p, s, vlen);
    a->vendor_len = vlen;
    a->name = arena_strdup(c->p, colon + 1, nlen);
    a->name_len = nlen;
    a->pat = pol_pat_of(a->name, nlen);
    return QR_OK;
}

/* ---- Resource --------------------------------------------------------------------- */

/* "*" or arn:partition:service:region:account:resource with a non-empty partition,
 * service and resource (wildcards allowed anywhere). */
static bool arn_shape_ok(const char *s, size_t len)
{
    if (len == 1 && s[0] == '*')
        return true;
    if (len < 4 || memcmp(s, "arn:", 4) != 0)
        return false;
    size_t start[6], n = 0;
    start[n++] = 0;
    for (size_t k = 0; k < len && n < 6; k++)
        if (s[k] == ':')
            start[n++] = k + 1;
    if (n < 6)
        return false;
    /* partition = field 1, service = field 2, resource = field 5 */
    return start[2] - start[1] > 1 && start[3] - start[2] > 1 && start[5] < len;
}

static bool has_var(const struct pctx *c, const char *s, size_t len)
{
    if (!c->p->vars)
        return false;
    for (size_t k = 0; k + 1 < len; k++)
        if (s[k] == '$' && s[k + 1] == '{')
            return true;
    return false;
}

static enum qr_err resource_one(struct pctx *c, void *arr, size_t i, const char *s, size_t len)
{
    struct pol_res *r = (struct pol_res *)arr + i;
    if (!arn_shape_ok(s, len))
        return fail(c, "Resource %.*s must be in ARN format or \"*\".",
                    (int)(len > 200 ? 200 : len), s);
    r->s = arena_strdup(c->p, s, len);
    r->len = len;
    r->var = has_var(c, s, len);
    r->pat = pol_pat_of(r->s, len);
    return QR_OK;
}

/* ---- Principal -------------------------------------------------------------------- */

static bool digits12(const char *s, size_t len)
{
    if (len != 12)
        return false;
    for (size_t k = 0; k < 12; k++)
        if (s[k] < '0' || s[k] > '9')
            return false;
    return true;
}

/* An AWS principal: "*", an account id, arn:P:iam::ACCT:root|user/..|role/..|...,
 * arn:P:sts::ACCT:assumed-role/R/S. Wildcards only as the whole value: IAM refuses
 * a role ARN with a wildcard as a principal. */
static bool aws_principal(struct pctx *c, const char *s, size_t len, struct pol_principal *out)
{
    if (len == 1 && s[0] == '*') {
        out->kind = PK_ANY;
        return true;
    }
    if (memchr(s, '*', len) || memchr(s, '?', len))
        return false;
    if (digits12(s, len)) {
        out->kind = PK_ACCOUNT;
        out->s = arena_strdup(c->p, s, len);
        return true;
    }
    if (!arn_shape_ok(s, len))
        return false;
    /* arn:P:svc::ACCT:rest */
    const char *f[6];
    size_t n = 0;
    f[n++] = s;
    for (size_t k = 0; k < len && n < 6; k++)
        if (s[k] == ':')
            f[n++] = s + k + 1;
    size_t svc_len = (size_t)(f[3] - f[2] - 1), reg_len = (size_t)(f[4] - f[3] - 1);
    size_t acct_len = (size_t)(f[5] - f[4] - 1), rest_len = len - (size_t)(f[5] - s);
    bool iam = svc_len == 3 && memcmp(f[2], "iam", 3) == 0;
    bool sts = svc_len == 3 && memcmp(f[2], "sts", 3) == 0;
    if ((!iam && !sts) || reg_len != 0 || !digits12(f[4], acct_len))
        return false;
    if (iam && rest_len == 4 && memcmp(f[5], "root", 4) == 0) {
        out->kind = PK_ACCOUNT;
        out->s = arena_strdup(c->p, f[4], 12);
        return true;
    }
    if (sts && !(rest_len > 13 && memcmp(f[5], "assumed-role/", 13) == 0))
        return false;
    if (iam && !memchr(f[5], '/', rest_len))
        return false;
    out->kind = PK_ARN;
    out->s = arena_strdup(c->p, s, len);
    return true;
}

static bool service_principal(const char *s, size_t len)
{
    if (len == 0 || len > 256)
        return false;
    for (size_t k = 0; k < len; k++)
        if (!vendor_char(s[k]) && s[k] != '.')
            return false;
    return true;
}

static const char *const principal_types[] = {"AWS", "Service", "Federated", "CanonicalUser"};

static enum qr_err principal_value(struct pctx *c, size_t type, const json_t *v,
                                   struct pol_principal *out, size_t *n)
{
    size_t cnt = json_is_array(v) ? json_array_size(v) : 1;
    if (!json_is_array(v) && !json_is_string(v))
        return fail(c, SYNTAX);
    for (size_t i = 0; i < cnt; i++) {
        const json_t *e = json_is_array(v) ? json_array_get(v, i) : v;
        const char *s;
        size_t len;
        if (!json_cstr(e, &s, &len))
            return fail(c, SYNTAX);
        if (len > POLICY_MAX_VALUE)
            return too_long(c, s);
        struct pol_principal *pr = &out[(*n)++];
        bool ok;
        if (type == 0) {
            ok = aws_principal(c, s, len, pr);
        } else if (type == 1) {
            ok = service_principal(s, len);
            pr->kind = PK_SERVICE;
        } else {
            ok = len > 0 && !(len == 1 && s[0] == '*');
            pr->kind = PK_OTHER;
        }
        if (!ok)
            return fail(c, "Invalid principal in policy: \"%s\":\"%.*s\"", principal_types[type],
                        (int)(len > 200 ? 200 : len), s);
        if (!pr->s)
            pr->s = arena_strdup(c->p, s, len);
    }
    return QR_OK;
}

static enum qr_err principal_parse(struct pctx *c, const json_t *j, struct pol_stmt *st)
{
    const char *s = "";
    size_t len = 0;
    if (json_is_string(j)) {
        if (!json_cstr(j, &s, &len) || !(len == 1 && s[0] == '*'))
            return fail(c, "Invalid principal in policy: \"%.200s\"", json_string_value(j));
        st->prs = arena_alloc(c->p, sizeof(*st->prs));
        st->prs[0].kind = PK_ANY;
        st->n_prs = 1;
        return QR_OK;
    }
    if (!json_is_object(j) || json_object_size(j) == 0)
        return fail(c, SYNTAX);
    size_t total = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)(uintptr_t)j, k, v)
    {
        size_t t;
        for (t = 0; t < 4; t++)
            if (strcmp(k, principal_types[t]) == 0)
                break;
        if (t == 4)
            return fail(c, "Invalid principal in policy: \"%.200s\"", k);
        size_t cnt = json_is_array(v) ? json_array_size(v) : 1;
        if (cnt == 0)
            return fail(c, "Invalid principal in policy: \"%s\":[]", principal_types[t]);
        total += cnt;
    }
    st->prs = arena_alloc(c->p, total * sizeof(*st->prs));
    json_object_foreach((json_t *)(uintptr_t)j, k, v)
    {
        size_t t;
        for (t = 0; t < 4; t++)
            if (strcmp(k, principal_types[t]) == 0)
                break;
        enum qr_err e = principal_value(c, t, v, st->prs, &st->n_prs);
        if (e)
            return e;
    }
    return QR_OK;
}

/* ---- Condition -------------------------------------------------------------------- */

/* Splits "ForAnyValue:StringLikeIfExists" into set, operator and IfExists. */
static enum qr_err cond_operator(struct pctx *c, const char *name, struct pol_cond *out)
{
    size_t len = strlen(name);
    const char *s = name;
    if (len > 12 && strncasecmp(s, "ForAnyValue:", 12) == 0) {
        out->set = SET_ANY;
        s += 12;
        len -= 12;
    } else if (len > 13 && strncasecmp(s, "ForAllValues:", 13) == 0) {
        out->set = SET_ALL;
        s += 13;
        len -= 13;
    }
    const struct pol_opdef *op = pol_op_find(s, len);
    if (!op && len > 8 && strncasecmp(s + len - 8, "IfExists", 8) == 0) {
        op = pol_op_find(s, len - 8);
        out->if_exists = true;
    }
    /* Null tests presence itself: IfExists and the set prefixes make no sense on it */
    if (!op || (op->cmp == CMP_NULL && (out->if_exists || out->set != SET_NONE)))
        return fail(c, "Invalid Condition type : %.200s", name);
    out->op = op;
    return QR_OK;
}

/* One Condition value as text: IAM takes strings, numbers and booleans. */
static bool cond_text(const json_t *v, char *tmp, size_t tmp_cap, const char **out, size_t *out_len)
{
    if (json_is_string(v))
        return json_cstr(v, out, out_len);
    int n;
    if (json_is_integer(v))
        n = snprintf(tmp, tmp_cap, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        n = snprintf(tmp, tmp_cap, "%.17g", json_real_value(v));
    else if (json_is_boolean(v))
        n = snprintf(tmp, tmp_cap, "%s", json_is_true(v) ? "true" : "false");
    else
        return false;
    if (n < 0 || (size_t)n >= tmp_cap)
        return false;
    *out = tmp;
    *out_len = (size_t)n;
    return true;
}

static enum qr_err cond_value(struct pctx *c, const struct pol_cond *cd, const json_t *v,
                              struct pol_val *out)
{
    char tmp[64];
    const char *s;
    size_t len;
    if (!cond_text(v, tmp, sizeof(tmp), &s, &len))
        return fail(c, SYNTAX);
    if (len > POLICY_MAX_VALUE)
        return too_long(c, s);
    out->s = arena_strdup(c->p, s, len);
    out->len = len;
    /* "You can use a policy variable for Condition values in any condition that involves
     * the string operators or the ARN operators ... You can't use a policy variable with
     * other operators" ("IAM policy elements: Variables and tags"): elsewhere ${ is text. */
    out->var = cd->op->type == VT_STR && cd->op->cmp != CMP_BINARY && has_var(c, s, len);
    if (cd->op->cmp == CMP_NULL) {
        if (!pol_val_parse(VT_BOOL, s, len, out))
            return fail(c, "Invalid value %.200s for condition Null", out->s);
        return QR_OK;
    }
    if (cd->op->type == VT_STR)
        return QR_OK;
    if (!pol_val_parse(cd->op->type, s, len, out))
        return fail(c, "Invalid value %.200s for condition %s", out->s, cd->op->name);
    return QR_OK;
}

static bool key_ok(const char *k)
{
    const char *colon = strchr(k, ':');
    return colon && colon != k && colon[1] != '\0';
}

static enum qr_err cond_block(struct pctx *c, const char *opname, const json_t *keys,
                              struct pol_cond *out, size_t *n)
{
    struct pol_cond proto = {0};
    enum qr_err e = cond_operator(c, opname, &proto);
    if (e)
        return e;
    if (!json_is_object(keys) || json_object_size(keys) == 0)
        return fail(c, SYNTAX);
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)(uintptr_t)keys, k, v)
    {
        if (!key_ok(k))
            return fail(c, "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, "
                           "ec2, etc.");
        struct pol_cond *cd = &out[(*n)++];
        *cd = proto;
        cd->key_len = strlen(k);
        cd->key = arena_strdup(c->p, k, cd->key_len);
        size_t cnt = json_is_array(v) ? json_array_size(v) : 1;
        if (cnt == 0)
            return fail(c, SYNTAX);
        cd->vals = arena_alloc(c->p, cnt * sizeof(*cd->vals));
        cd->n_vals = cnt;
        for (size_t i = 0; i < cnt; i++) {
            e = cond_value(c, cd, json_is_array(v) ? json_array_get(v, i) : v, &cd->vals[i]);
            if (e)
                return e;
        }
    }
    return QR_OK;
}

static enum qr_err condition_parse(struct pctx *c, const json_t *j, struct pol_stmt *st)
{
    if (!json_is_object(j))
        return fail(c, SYNTAX);
    size_t total = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)(uintptr_t)j, k, v)
    {
        if (!json_is_object(v))
            return fail(c, SYNTAX);
        total += json_object_size(v);
    }
    st->conds = arena_alloc(c->p, (total ? total : 1) * sizeof(*st->conds));
    json_object_foreach((json_t *)(uintptr_t)j, k, v)
    {
        enum qr_err e = cond_block(c, k, v, st->conds, &st->n_conds);
        if (e)
            return e;
    }
    return QR_OK;
}

/* ---- Statement -------------------------------------------------------------------- */

enum { F_SID, F_EFFECT, F_ACT, F_NACT, F_RES, F_NRES, F_PR, F_NPR, F_COND, F__N };
static const char *const stmt_fields[F__N] = {
    "Sid",         "Effect",    "Action",       "NotAction", "Resource",
    "NotResource", "Principal", "NotPrincipal", "Condition",
};

static enum qr_err sid_parse(struct pctx *c, const json_t *j, struct pol_stmt *st, size_t idx)
{
    const char *s;
    size_t len;
    if (!json_cstr(j, &s, &len))
        return fail(c, SYNTAX);
    /* IAM (identity and trust policies) wants [0-9A-Za-z]*; S3 and Lambda take any text */
    if (c->p->kind != POLICY_RESOURCE)
        for (size_t k = 0; k < len; k++)
            if (!((s[k] >= '0' && s[k] <= '9') || (s[k] >= 'a' && s[k] <= 'z') ||
                  (s[k] >= 'A' && s[k] <= 'Z')))
                return fail(c, "Statement IDs (SID) must be alpha-numeric. Check that your input "
                               "satisfies the regular expression [0-9A-Za-z]*");
    for (size_t i = 0; i < idx; i++)
        if (len > 0 && c->p->stmts[i].sid && strcmp(c->p->stmts[i].sid, s) == 0)
            return fail(c, "Statement IDs (SID) in a single policy must be unique.");
    st->sid = arena_strdup(c->p, s, len);
    return QR_OK;
}

static enum qr_err effect_parse(struct pctx *c, const json_t *j, struct pol_stmt *st)
{
    const char *s;
    size_t len;
    if (!j)
        return fail(c, "Missing required field Effect");
    if (!json_cstr(j, &s, &len))
        return fail(c, SYNTAX);
    if (strcmp(s, "Allow") == 0)
        st->deny = false;
    else if (strcmp(s, "Deny") == 0)
        st->deny = true;
    else
        return fail(c, "Invalid effect: %.200s", s);
    return QR_OK;
}

/* Action xor NotAction, Resource xor NotResource: picks the one present, or fails. */
static enum qr_err pick(struct pctx *c, json_t *const f[F__N], int pos, int neg, const json_t **out,
                        enum pol_mode *mode)
{
    if (f[pos] && f[neg])
        return fail(c, "Statement can not have both %s and %s", stmt_fields[pos], stmt_fields[neg]);
    *out = f[pos] ? f[pos] : f[neg];
    *mode = f[pos] ? MODE_POS : f[neg] ? MODE_NOT : MODE_NONE;
    return QR_OK;
}

static enum qr_err actions_parse(struct pctx *c, json_t *const f[F__N], struct pol_stmt *st)
{
    const json_t *j = NULL;
    enum qr_err e = pick(c, f, F_ACT, F_NACT, &j, &st->act_mode);
    if (e)
        return e;
    if (j && (e = str_list_count(c, j, &st->n_acts)))
        return e;
    if (!j || st->n_acts == 0)
        return fail(c, "Policy statement must contain actions.");
    st->acts = arena_alloc(c->p, st->n_acts * sizeof(*st->acts));
    return str_list_walk(c, j, st->acts, action_one);
}

static enum qr_err resources_parse(struct pctx *c, json_t *const f[F__N], struct pol_stmt *st)
{
    const json_t *j = NULL;
    enum qr_err e = pick(c, f, F_RES, F_NRES, &j, &st->res_mode);
    if (e)
        return e;
    if (c->p->kind == POLICY_TRUST) {
        if (j)
            return fail(c, "Has prohibited field %s", stmt_fields[f[F_RES] ? F_RES : F_NRES]);
        return QR_OK;
    }
    if (j && (e = str_list_count(c, j, &st->n_res)))
        return e;
    if (!j || st->n_res == 0)
        return fail(c, "Policy statement must contain resources.");
    st->res = arena_alloc(c->p, st->n_res * sizeof(*st->res));
    return str_list_walk(c, j, st->res, resource_one);
}

static enum qr_err principals_parse(struct pctx *c, json_t *const f[F__N], struct pol_stmt *st)
{
    const json_t *j = NULL;
    enum qr_err e = pick(c, f, F_PR, F_NPR, &j, &st->pr_mode);
    if (e)
        return e;
    if (c->p->kind == POLICY_IDENTITY) {
        if (j)
            return fail(c, "Policy document should not specify a principal.");
        return QR_OK;
    }
    if (!j)
        return fail(c, "Missing required field Principal");
    return principal_parse(c, j, st);
}

static enum qr_err statement_parse(struct pctx *c, const json_t *j, size_t idx)
{
    struct pol_stmt *st = &c->p->stmts[idx];
    if (!json_is_object(j))
        return fail(c, SYNTAX);
    json_t *f[F__N] = {0};
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)(uintptr_t)j, k, v)
    {
        size_t i;
        for (i = 0; i < F__N; i++)
            if (strcmp(k, stmt_fields[i]) == 0)
                break;
        if (i == F__N)
            return fail(c, "Unknown field %.200s", k);
        f[i] = v;
    }
    enum qr_err e = QR_OK;
    if (f[F_SID])
        e = sid_parse(c, f[F_SID], st, idx);
    if (!e)
        e = effect_parse(c, f[F_EFFECT], st);
    if (!e)
        e = principals_parse(c, f, st);
    if (!e)
        e = actions_parse(c, f, st);
    if (!e)
        e = resources_parse(c, f, st);
    if (!e && f[F_COND])
        e = condition_parse(c, f[F_COND], st);
    for (size_t i = 0; !e && i < st->n_res; i++)
        st->has_vars |= st->res[i].var;
    for (size_t i = 0; !e && i < st->n_conds; i++)
        for (size_t n = 0; n < st->conds[i].n_vals; n++)
            st->has_vars |= st->conds[i].vals[n].var;
    return e;
}

/* ---- context keys ----------------------------------------------------------------- */

static void key_add(struct policy *p, const char *k, size_t len, size_t cap)
{
    for (size_t i = 0; i < p->n_keys; i++)
        if (strlen(p->keys[i]) == len && strncasecmp(p->keys[i], k, len) == 0)
            return;
    if (p->n_keys < cap)
        p->keys[p->n_keys++] = arena_strdup(p, k, len);
}

/* The keys of the ${...} in s, as pol_expand reads them. */
static void var_keys(struct policy *p, const char *s, size_t len, size_t cap)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (s[i] != '$' || s[i + 1] != '{')
            continue;
        const char *close = memchr(s + i + 2, '}', len - i - 2);
        if (!close)
            return;
        const char *k = s + i + 2;
        size_t n = (size_t)(close - k);
        const char *comma = memchr(k, ',', n);
        if (comma)
            n = (size_t)(comma - k);
        while (n && (*k == ' ' || *k == '\t')) {
            k++;
            n--;
        }
        while (n && (k[n - 1] == ' ' || k[n - 1] == '\t'))
            n--;
        if (n > 1 || (n == 1 && *k != '*' && *k != '?' && *k != '$'))
            key_add(p, k, n, cap);
        i = (size_t)(close - s);
    }
}

/* Fills p->keys. Upper bound of distinct keys: one per condition, and per ${ in a value
 * (at most len / 3 each). */
static void keys_collect(struct policy *p)
{
    size_t cap = 0;
    for (size_t i = 0; i < p->n_stmts; i++) {
        const struct pol_stmt *st = &p->stmts[i];
        cap += st->n_conds;
        for (size_t r = 0; r < st->n_res; r++)
            cap += st->res[r].var ? st->res[r].len / 3 : 0;
        for (size_t c = 0; c < st->n_conds; c++)
            for (size_t v = 0; v < st->conds[c].n_vals; v++)
                cap += st->conds[c].vals[v].var ? st->conds[c].vals[v].len / 3 : 0;
    }
    p->keys = arena_alloc(p, (cap ? cap : 1) * sizeof(*p->keys));
    for (size_t i = 0; i < p->n_stmts; i++) {
        const struct pol_stmt *st = &p->stmts[i];
        for (size_t r = 0; r < st->n_res; r++)
            if (st->res[r].var)
                var_keys(p, st->res[r].s, st->res[r].len, cap);
        for (size_t c = 0; c < st->n_conds; c++) {
            key_add(p, st->conds[c].key, st->conds[c].key_len, cap);
            for (size_t v = 0; v < st->conds[c].n_vals; v++)
                if (st->conds[c].vals[v].var)
                    var_keys(p, st->conds[c].vals[v].s, st->conds[c].vals[v].len, cap);
        }
    }
}

const char *const *policy_context_keys(const struct policy *p, size_t *out_n)
{
    *out_n = p->n_keys;
    return (const char *const *)p->keys;
}

/* ---- document --------------------------------------------------------------------- */

/* Nesting depth of the JSON text outside strings, so that jansson never recurses deeply
 * on hostile input; true when it stays within POLICY_MAX_DEPTH. */
static bool depth_ok(struct qr_slice doc)
{
    size_t depth = 0;
    bool in_str = false;
    for (size_t i = 0; i < doc.len; i++) {
        uint8_t ch = doc.p[i];
        if (in_str) {
            if (ch == '\\')
                i++;
            else if (ch == '"')
                in_str = false;
        } else if (ch == '"') {
            in_str = true;
        } else if (ch == '{' || ch == '[') {
            if (++depth > POLICY_MAX_DEPTH)
                return false;
        } else if ((ch == '}' || ch == ']') && depth > 0) {
            depth--;
        }
    }
    return true;
}

static enum qr_err top_parse(struct pctx *c, const json_t *root)
{
    if (!json_is_object(root))
        return fail(c, SYNTAX);
    const json_t *ver = NULL, *stmt = NULL;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)(uintptr_t)root, k, v)
    {
        if (strcmp(k, "Version") == 0)
            ver = v;
        else if (strcmp(k, "Statement") == 0)
            stmt = v;
        else if (strcmp(k, "Id") == 0) {
            if (!json_is_string(v))
                return fail(c, SYNTAX);
        } else
            return fail(c, "Unknown field %.200s", k);
    }
    /* No Version: IAM takes the document as 2008-10-17, where ${...} is plain text
     * ("IAM JSON policy elements: Version"). */
    c->p->vars = false;
    if (ver) {
        const char *s = json_is_string(ver) ? json_string_value(ver) : "";
        if (strcmp(s, "2012-10-17") == 0)
            c->p->vars = true;
        else if (strcmp(s, "2008-10-17") != 0)
            return fail(c, "Invalid Version");
    }
    if (!stmt)
        return fail(c, "Missing required field Statement");
    if (!json_is_object(stmt) && !json_is_array(stmt))
        return fail(c, SYNTAX);
    size_t n = json_is_array(stmt) ? json_array_size(stmt) : 1;
    if (n == 0)
        return fail(c, "Policy document must contain at least one statement.");
    c->p->stmts = arena_alloc(c->p, n * sizeof(*c->p->stmts));
    c->p->n_stmts = n;
    for (size_t i = 0; i < n; i++) {
        enum qr_err e = statement_parse(c, json_is_array(stmt) ? json_array_get(stmt, i) : stmt, i);
        if (e)
            return e;
    }
    return QR_OK;
}

enum qr_err policy_parse(struct qr_slice doc, enum policy_kind kind, struct policy **out, char *why,
                         size_t why_cap)
{
    struct pctx c = {.p = NULL, .why = why, .why_cap = why_cap};
    if (why && why_cap)
        why[0] = '\0';
    if (doc.len > POLICY_MAX_DOC_BYTES) {
        (void)fail(&c, "Policy document exceeds the maximum size of %d bytes.",
                   POLICY_MAX_DOC_BYTES);
        return QR_E_TOO_LARGE;
    }
    if (!depth_ok(doc))
        return fail(&c, "Syntax errors in policy: nesting deeper than %d levels.",
                    POLICY_MAX_DEPTH);
    json_error_t jerr;
    json_t *root = json_loadb((const char *)doc.p, doc.len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        if (strstr(jerr.text, "duplicate"))
            return fail(&c, "Syntax errors in policy: duplicate key.");
        return fail(&c, SYNTAX);
    }
    c.p = qr_xmalloc(sizeof(*c.p));
    memset(c.p, 0, sizeof(*c.p));
    c.p->kind = kind;
    enum qr_err e = top_parse(&c, root);
    json_decref(root);
    if (!e)
        keys_collect(c.p);
    if (e) {
        policy_free(c.p);
        return e;
    }
    *out = c.p;
    return QR_OK;
}
