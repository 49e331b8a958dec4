/*
 * policy_cond.c - the Condition element: IAM's operators, their typed values (numbers,
 * dates, CIDRs, booleans), and how a condition holds over a request's keys, including
 * missing keys, ...IfExists, and the ForAnyValue / ForAllValues set operators.
 *
 * Semantics follow "IAM JSON policy elements: Condition operators" and "Single-valued vs.
 * multivalued context keys" (AWS IAM User Guide, as read in 2026):
 *  - operators AND, keys under one operator AND, values of one key OR; a negated
 *    operator (StringNotEquals, ...) holds when the request value matches none of them;
 *  - "If the key that you specify in a policy condition is not present in the request
 *    context, the values do not match and the condition is false. If the policy condition
 *    requires that the key is not matched, such as StringNotLike or ArnNotLike, and the
 *    right key is not present, the condition is true. This logic applies to all condition
 *    operators except ...IfExists and Null check." So a missing key: positive -> false,
 *    negated -> true, ...IfExists -> true, Null tests exactly the presence;
 *  - ForAllValues holds on a missing or empty key (vacuous truth), ForAnyValue does not.
 * Evaluation runs per request: no heap, no JSON; variables expand into a stack buffer.
 */
#include <arpa/inet.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/policy_int.h"

static const struct pol_opdef ops[] = {
    {"StringEquals", CMP_STR_EQ, false, VT_STR},
    {"StringNotEquals", CMP_STR_EQ, true, VT_STR},
    {"StringEqualsIgnoreCase", CMP_STR_EQ_IC, false, VT_STR},
    {"StringNotEqualsIgnoreCase", CMP_STR_EQ_IC, true, VT_STR},
    {"StringLike", CMP_STR_LIKE, false, VT_STR},
    {"StringNotLike", CMP_STR_LIKE, true, VT_STR},
    {"NumericEquals", CMP_NUM_EQ, false, VT_NUM},
    {"NumericNotEquals", CMP_NUM_EQ, true, VT_NUM},
    {"NumericLessThan", CMP_NUM_LT, false, VT_NUM},
    {"NumericLessThanEquals", CMP_NUM_LE, false, VT_NUM},
    {"NumericGreaterThan", CMP_NUM_GT, false, VT_NUM},
    {"NumericGreaterThanEquals", CMP_NUM_GE, false, VT_NUM},
    {"DateEquals", CMP_DATE_EQ, false, VT_DATE},
    {"DateNotEquals", CMP_DATE_EQ, true, VT_DATE},
    {"DateLessThan", CMP_DATE_LT, false, VT_DATE},
    {"DateLessThanEquals", CMP_DATE_LE, false, VT_DATE},
    {"DateGreaterThan", CMP_DATE_GT, false, VT_DATE},
    {"DateGreaterThanEquals", CMP_DATE_GE, false, VT_DATE},
    {"Bool", CMP_BOOL, false, VT_BOOL},
    {"BinaryEquals", CMP_BINARY, false, VT_STR},
    {"IpAddress", CMP_IP, false, VT_IP},
    {"NotIpAddress", CMP_IP, true, VT_IP},
    {"ArnEquals", CMP_ARN, false, VT_STR},
    {"ArnLike", CMP_ARN, false, VT_STR},
    {"ArnNotEquals", CMP_ARN, true, VT_STR},
    {"ArnNotLike", CMP_ARN, true, VT_STR},
    {"Null", CMP_NULL, false, VT_BOOL},
};

const struct pol_opdef *pol_op_find(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        if (strlen(ops[i].name) == len && strncasecmp(ops[i].name, name, len) == 0)
            return &ops[i];
    return NULL;
}

/* ---- typed values ----------------------------------------------------------------- */

/* A decimal number: optional '-', digits, optional fraction; no exponent, no spaces. */
static bool num_parse(const char *s, size_t len, double *out)
{
    char buf[64];
    size_t i = 0, digits = 0;
    if (len == 0 || len >= sizeof(buf))
        return false;
    if (s[0] == '-')
        i++;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
        digits++;
    if (i < len && s[i] == '.') {
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++)
            digits++;
    }
    if (i != len || digits == 0)
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    *out = strtod(buf, NULL);
    return isfinite(*out);
}

static bool fixed_digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int month_days(int y, int m)
{
    static const int md[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : md[m - 1];
}

/* "hh:mm[:ss[.fff]]" then "Z", "+hh:mm", "-hh:mm", "+hhmm" or nothing (UTC). */
static bool time_part(const char *s, size_t len, int64_t *out_ms)
{
    int hh, mi, ss = 0, ms = 0, oh = 0, om = 0;
    size_t i = 5;
    if (len < 5 || !fixed_digits(s, 2, &hh) || s[2] != ':' || !fixed_digits(s + 3, 2, &mi))
        return false;
    if (i < len && s[i] == ':') {
        if (len < 8 || !fixed_digits(s + 6, 2, &ss))
            return false;
        i = 8;
        if (i < len && s[i] == '.') {
            int scale = 100;
            for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
                ms += (s[i] - '0') * scale;
                scale /= 10;
            }
        }
    }
    int sign = 0;
    if (i < len && s[i] == 'Z') {
        i++;
    } else if (i < len && (s[i] == '+' || s[i] == '-')) {
        sign = s[i] == '+' ? 1 : -1;
        if (len - i == 6 && s[i + 3] == ':' && fixed_digits(s + i + 1, 2, &oh) &&
            fixed_digits(s + i + 4, 2, &om))
            i += 6;
        else if (len - i == 5 && fixed_digits(s + i + 1, 2, &oh) && fixed_digits(s + i + 3, 2, &om))
            i += 5;
        else
            return false;
    }
    if (i != len || hh > 23 || mi > 59 || ss > 60 || oh > 23 || om > 59)
        return false;
    int64_t t = ((int64_t)hh * 3600 + mi * 60 + ss) * 1000 + ms;
    *out_ms = t - (int64_t)sign * (oh * 3600 + om * 60) * 1000;
    return true;
}

bool pol_date_parse(const char *s, size_t len, int64_t *out_ms)
{
    bool all_digits = len > 0 && len <= 12;
    for (size_t i = 0; i < len && all_digits; i++)
        all_digits = s[i] >= '0' && s[i] <= '9';
    if (all_digits) { /* epoch seconds, as aws:EpochTime */
        int64_t v = 0;
        for (size_t i = 0; i < len; i++)
            v = v * 10 + (s[i] - '0');
        *out_ms = v * 1000;
        return true;
    }
    int y, m, d;
    if (len < 10 || !fixed_digits(s, 4, &y) || s[4] != '-' || !fixed_digits(s + 5, 2, &m) ||
        s[7] != '-' || !fixed_digits(s + 8, 2, &d))
        return false;
    if (m < 1 || m > 12 || d < 1 || d > month_days(y, m))
        return false;
    int64_t t = 0;
    if (len > 10) {
        if (s[10] != 'T' || !time_part(s + 11, len - 11, &t))
            return false;
    }
    *out_ms = days_from_civil(y, m, d) * 86400000 + t;
    return true;
}

/* "a.b.c.d", "a.b.c.d/n", IPv6 with optional "/n"; a bare address is /32 or /128. */
static bool cidr_parse(const char *s, size_t len, bool allow_prefix, struct pol_cidr *out)
{
    char buf[64];
    if (len == 0 || len >= sizeof(buf))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *slash = strchr(buf, '/');
    int bits = -1;
    if (slash) {
        if (!allow_prefix || !fixed_digits(slash + 1, strlen(slash + 1), &bits) ||
            slash[1] == '\0' || strlen(slash + 1) > 3)
            return false;
        *slash = '\0';
    }
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, buf, out->addr) == 1) {
        out->family = 4;
        if (bits > 32)
            return false;
        out->bits = (uint8_t)(bits < 0 ? 32 : bits);
    } else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
        out->family = 6;
        if (bits > 128)
            return false;
        out->bits = (uint8_t)(bits < 0 ? 128 : bits);
    } else {
        return false;
    }
    return true;
}

/* s (len bytes) equals lower-case word w, ASCII case folded; no locale on this path. */
static bool word_ieq(const char *s, size_t len, const char *w)
{
    size_t i = 0;
    for (; i < len && w[i]; i++)
        if ((s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]) != w[i])
            return false;
    return i == len && w[i] == '\0';
}

static bool bool_parse(const char *s, size_t len, bool *out)
{
    if (word_ieq(s, len, "true"))
        *out = true;
    else if (word_ieq(s, len, "false"))
        *out = false;
    else
        return false;
    return true;
}

bool pol_val_parse(enum pol_vtype t, const char *s, size_t len, struct pol_val *v)
{
    switch (t) {
    case VT_STR:
        return true;
    case VT_NUM:
        return num_parse(s, len, &v->u.num);
    case VT_DATE:
        return pol_date_parse(s, len, &v->u.ms);
    case VT_BOOL:
        return bool_parse(s, len, &v->u.b);
    case VT_IP:
        return cidr_parse(s, len, true, &v->u.ip);
    }
    return false;
}

/* ---- one request value against one policy value ----------------------------------- */

static bool cidr_contains(const struct pol_cidr *net, const struct pol_cidr *ip)
{
    if (net->family != ip->family)
        return false;
    size_t full = net->bits / 8, rem = net->bits % 8;
    if (memcmp(net->addr, ip->addr, full) != 0)
        return false;
    if (rem == 0)
        return true;
    uint8_t mask = (uint8_t)(0xFF << (8 - rem));
    return (net->addr[full] & mask) == (ip->addr[full] & mask);
}

static bool num_cmp(enum pol_cmp c, double req, double pol)
{
    switch (c) {
    case CMP_NUM_EQ:
        return req == pol;
    case CMP_NUM_LT:
        return req < pol;
    case CMP_NUM_LE:
        return req <= pol;
    case CMP_NUM_GT:
        return req > pol;
    case CMP_NUM_GE:
        return req >= pol;
    default:
        return false;
    }
}

static bool date_cmp(enum pol_cmp c, int64_t req, int64_t pol)
{
    switch (c) {
    case CMP_DATE_EQ:
        return req == pol;
    case CMP_DATE_LT:
        return req < pol;
    case CMP_DATE_LE:
        return req <= pol;
    case CMP_DATE_GT:
        return req > pol;
    case CMP_DATE_GE:
        return req >= pol;
    default:
        return false;
    }
}

static bool str_cmp(enum pol_cmp c, const char *pat, const uint8_t *lit, size_t plen, const char *s,
                    size_t slen)
{
    switch (c) {
    case CMP_STR_EQ:
    case CMP_BINARY:
        return plen == slen && memcmp(pat, s, slen) == 0;
    case CMP_STR_EQ_IC:
        return plen == slen && strncasecmp(pat, s, slen) == 0;
    case CMP_STR_LIKE:
        return pol_glob(pat, lit, plen, s, slen, false);
    case CMP_ARN:
        return pol_arn_like(pat, lit, plen, s, slen);
    default:
        return false;
    }
}

/* A request value, parsed once for the operator's type. ok false: it is malformed for
 * the type (a non-numeric s3:max-keys, say) and matches no policy value. */
struct reqval {
    const char *s;
    size_t len;
    bool ok;
    struct pol_val typed;
};

static void reqval_init(const struct pol_cond *cd, const char *s, struct reqval *rv)
{
    rv->s = s;
    rv->len = strlen(s);
    switch (cd->op->type) {
    case VT_STR:
        rv->ok = true;
        break;
    case VT_NUM:
        rv->ok = num_parse(s, rv->len, &rv->typed.u.num);
        break;
    case VT_DATE:
        rv->ok = pol_date_parse(s, rv->len, &rv->typed.u.ms);
        break;
    case VT_BOOL:
        rv->ok = bool_parse(s, rv->len, &rv->typed.u.b);
        break;
    case VT_IP:
        rv->ok = cidr_parse(s, rv->len, false, &rv->typed.u.ip);
        break;
    }
}

/* value_match for a value holding ${...}: expanded into a stack buffer, kept apart so
 * that the common path has no 8 KiB frame to probe. */
static __attribute__((noinline)) bool value_match_var(const struct pol_cond *cd,
                                                      const struct pol_val *v,
                                                      const struct reqval *rv,
                                                      const struct policy_request *r)
{
    struct pol_exp exp;
    if (!pol_expand(v->s, v->len, r, &exp))
        return false;
    return str_cmp(cd->op->cmp, exp.s, exp.lit, exp.len, rv->s, rv->len);
}

/* Does request value rv match policy value v (the operator's positive sense)? Only
 * string and ARN operators have variables (policy_parse.c). */
static bool value_match(const struct pol_cond *cd, const struct pol_val *v, const struct reqval *rv,
                        const struct policy_request *r)
{
    if (!rv->ok)
        return false;
    if (v->var)
        return value_match_var(cd, v, rv, r);
    switch (cd->op->type) {
    case VT_STR:
        return str_cmp(cd->op->cmp, v->s, NULL, v->len, rv->s, rv->len);
    case VT_NUM:
        return num_cmp(cd->op->cmp, rv->typed.u.num, v->u.num);
    case VT_DATE:
        return date_cmp(cd->op->cmp, rv->typed.u.ms, v->u.ms);
    case VT_BOOL:
        return rv->typed.u.b == v->u.b;
    case VT_IP:
        return cidr_contains(&v->u.ip, &rv->typed.u.ip);
    }
    return false;
}

/* Request value s against all policy values (OR). */
static bool any_policy_value(const struct pol_cond *cd, const char *s,
                             const struct policy_request *r)
{
    struct reqval rv;
    if (!s) /* a caller's NULL value is no value: it matches nothing */
        return false;
    reqval_init(cd, s, &rv);
    for (size_t i = 0; i < cd->n_vals; i++)
        if (value_match(cd, &cd->vals[i], &rv, r))
            return true;
    return false;
}

static bool cond_holds(const struct pol_cond *cd, const struct policy_request *r)
{
    const char *const *vals = NULL;
    size_t n = 0;
    bool present = pol_ctx_get(r, cd->key, cd->key_len, &vals, &n) && n > 0;
    if (cd->op->cmp == CMP_NULL) { /* "true": the key is absent; values OR */
        for (size_t i = 0; i < cd->n_vals; i++)
            if (cd->vals[i].u.b != present)
                return true;
        return false;
    }
    if (!present) {
        if (cd->if_exists)
            return true;
        if (cd->set == SET_ALL)
            return true;
        if (cd->set == SET_ANY)
            return false;
        return cd->op->negated;
    }
    bool neg = cd->op->negated;
    switch (cd->set) {
    case SET_NONE: /* any request value matching any policy value (one, for single keys) */
    case SET_ANY:
        for (size_t i = 0; i < n; i++) {
            bool m = any_policy_value(cd, vals[i], r);
            if (cd->set == SET_ANY ? m != neg : m)
                return cd->set == SET_ANY ? true : !neg;
        }
        return cd->set == SET_ANY ? false : neg;
    case SET_ALL:
        for (size_t i = 0; i < n; i++)
            if (any_policy_value(cd, vals[i], r) == neg)
                return false;
        return true;
    }
    return false;
}

bool pol_conds_hold(const struct policy *p, const struct pol_stmt *st,
                    const struct policy_request *r)
{
    (void)p;
    for (size_t i = 0; i < st->n_conds; i++)
        if (!cond_holds(&st->conds[i], r))
            return false;
    return true;
}
