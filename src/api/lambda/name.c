/*
 * name.c - the forms a FunctionName takes (reference 1.5): "f", "f:QUAL",
 * "123456789012:function:f[:QUAL]", "arn:aws:lambda:REGION:ACCOUNT:function:f[:QUAL]",
 * plus ?Qualifier; and resolving a qualifier ($LATEST, a version, an alias) to a stored
 * version. An ARN naming another account or region names nothing here (404).
 */
#include "api/lambda/lambda_int.h"

#include "fn/fn_resolve.h"

#include <stdio.h>
#include <string.h>

bool lambda_name_valid(struct qr_slice s, size_t max)
{
    if (s.len == 0 || s.len > max)
        return false;
    for (size_t i = 0; i < s.len; i++) {
        uint8_t c = s.p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

static bool all_digits(struct qr_slice s)
{
    if (s.len == 0)
        return false;
    for (size_t i = 0; i < s.len; i++)
        if (s.p[i] < '0' || s.p[i] > '9')
            return false;
    return true;
}

/* $LATEST, a version number (no leading zero, fits 32 bits) or an alias name. */
static bool qualifier_valid(struct qr_slice q)
{
    if (qr_slice_eq_lit(q, "$LATEST"))
        return true;
    if (all_digits(q)) {
        uint64_t v;
        return q.p[0] != '0' && qr_slice_u64(q, UINT32_MAX - 1, &v);
    }
    return lambda_name_valid(q, LAMBDA_QUAL_MAX);
}

bool lambda_version_num(const char *q, uint32_t *out)
{
    struct qr_slice s = qr_slice_cstr(q);
    if (qr_slice_eq_lit(s, "$LATEST")) {
        *out = STORE_FN_LATEST;
        return true;
    }
    uint64_t v;
    if (all_digits(s) && s.p[0] != '0' && qr_slice_u64(s, UINT32_MAX - 1, &v)) {
        *out = (uint32_t)v;
        return true;
    }
    return false;
}

void lambda_version_str(uint32_t v, char out[16])
{
    if (v == STORE_FN_LATEST)
        snprintf(out, 16, "$LATEST");
    else
        snprintf(out, 16, "%u", v);
}

/* Splits s at ':' into at most max parts; false when there are more. */
static bool split_colon(struct qr_slice s, struct qr_slice *parts, size_t max, size_t *out_n)
{
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= s.len; i++) {
        if (i == s.len || s.p[i] == ':') {
            if (n == max)
                return false;
            parts[n++] = qr_slice(s.p + start, i - start);
            start = i + 1;
        }
    }
    *out_n = n;
    return true;
}

static bool not_found(struct lambda_op *op, struct qr_slice seg)
{
    lambda_fail(op, 404, "ResourceNotFoundException", "Function not found: %.*s",
                (int)(seg.len > 200 ? 200 : seg.len), (const char *)seg.p);
    return false;
}

static bool bad_name(struct lambda_op *op, struct qr_slice seg)
{
    lambda_fail(op, 400, "ValidationException",
                "1 validation error detected: Value '%.*s' at 'functionName' failed to satisfy "
                "constraint: Member must satisfy regular expression pattern: "
                "(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?"
                "(function:)?([a-zA-Z0-9-_\\.]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?",
                (int)(seg.len > 200 ? 200 : seg.len), (const char *)seg.p);
    return false;
}

bool lambda_parse_target(struct lambda_op *op, struct qr_slice seg, struct lambda_target *out)
{
    struct qr_slice parts[8];
    size_t n;
    if (seg.len == 0 || seg.len > 256 || !split_colon(seg, parts, 8, &n))
        return bad_name(op, seg);
    const struct qr_config *cfg = &op->server->cfg;
    struct qr_slice name, qual = qr_slice(NULL, 0);
    size_t i = 0;
    if (qr_slice_eq_lit(parts[0], "arn")) {
        /* arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME[:QUAL] */
        if (n < 7 || n > 8 || !qr_slice_eq_lit(parts[2], "lambda") ||
            !qr_slice_eq_lit(parts[5], "function"))
            return bad_name(op, seg);
        if (!qr_slice_eq_lit(parts[3], cfg->region) || !qr_slice_eq_lit(parts[4], cfg->account_id))
            return not_found(op, seg);
        i = 6;
    } else if (n >= 3 && all_digits(parts[0]) && qr_slice_eq_lit(parts[1], "function")) {
        if (parts[0].len != 12 || n > 4)
            return bad_name(op, seg);
        if (!qr_slice_eq_lit(parts[0], cfg->account_id))
            return not_found(op, seg);
        i = 2;
    } else if (n > 2) {
        return bad_name(op, seg);
    }
    name = parts[i];
    if (i + 1 < n)
        qual = parts[i + 1];
    if (!lambda_name_valid(name, STORE_FN_NAME_MAX) || (i + 1 < n && !qualifier_valid(qual)))
        return bad_name(op, seg);

    struct qr_slice pq;
    if (api_param(op->ar, "Qualifier", &pq)) {
        if (!qualifier_valid(pq)) {
            lambda_fail(op, 400, "ValidationException",
                        "1 validation error detected: Value at 'qualifier' failed to satisfy "
                        "constraint: Member must satisfy regular expression pattern: "
                        "(|[a-zA-Z0-9$_-]+)");
            return false;
        }
        if (qual.len && !qr_slice_eq(qual, pq)) {
            lambda_fail(op, 400, "InvalidParameterValueException",
                        "The derived qualifier from the function name does not match the "
                        "specified qualifier.");
            return false;
        }
        qual = pq;
    }
    memset(out, 0, sizeof(*out));
    memcpy(out->name, name.p, name.len);
    if (qual.len)
        memcpy(out->qual, qual.p, qual.len);
    return true;
}

bool lambda_resolve(struct lambda_op *op, const struct lambda_target *t, h2o_mem_pool_t *pool,
                    struct store_fn *out)
{
    char arn[256];
    lambda_fn_arn(op, t->name, arn, sizeof(arn));
    struct fn_ref ref;
    memset(&ref, 0, sizeof(ref));
    memcpy(ref.name, t->name, sizeof(ref.name));
    snprintf(ref.qual, sizeof(ref.qual), "%s", t->qual);
    enum qr_err err = fn_resolve_row(op->reader, &ref, pool, out);
    if (err == QR_E_NO_SUCH_KEY) {
        if (t->qual[0])
            lambda_fail(op, 404, "ResourceNotFoundException", "Function not found: %s:%s", arn,
                        t->qual);
        else
            lambda_fail(op, 404, "ResourceNotFoundException", "Function not found: %s", arn);
        return false;
    }
    if (err != QR_OK) {
        lambda_fail_err(op, err, "");
        return false;
    }
    return true;
}
