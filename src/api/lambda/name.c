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
    } else if (n >= 3 && qr_slice_all_digits(parts[0]) && qr_slice_eq_lit(parts[1], "function")) {
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
    if (!fn_name_valid(name, STORE_FN_NAME_MAX) || (i + 1 < n && !fn_qualifier_valid(qual)))
        return bad_name(op, seg);

    struct qr_slice pq;
    if (api_param(op->ar, "Qualifier", &pq)) {
        if (!fn_qualifier_valid(pq)) {
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
