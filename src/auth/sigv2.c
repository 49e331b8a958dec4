/*
 * sigv2.c - S3's Signature Version 2. String to sign:
 *   METHOD \n Content-MD5 \n Content-Type \n (Expires | Date) \n
 *   x-amz-* headers, lower-case, sorted, "name:v1,v2\n" each \n
 *   canonical resource: the raw path (with "/bucket" in front for virtual-hosted
 *   requests) and the sub-resources of interest, sorted, values percent-decoded.
 * The signature is base64(HMAC-SHA1(secret, string)), compared in constant time.
 */
#include "auth/sigv2.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "util/checksum.h"
#include "util/codec.h"

/* The sub-resources S3 signs, from its SigV2 documentation (botocore's list). */
static const char *const subresources[] = {
    "accelerate",
    "acl",
    "analytics",
    "cors",
    "defaultObjectAcl",
    "delete",
    "inventory",
    "lifecycle",
    "location",
    "logging",
    "metrics",
    "notification",
    "object-lock",
    "partNumber",
    "policy",
    "replication",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "select",
    "select-type",
    "storageClass",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
};

#define MAX_QPARAMS 64
#define MAX_STS     (64u * 1024u)

struct qparam {
    struct qr_slice name, value; /* raw, still encoded */
    bool has_value;
};

static size_t split_query(struct qr_slice q, struct qparam *out, size_t max)
{
    size_t n = 0, i = 0;
    while (i < q.len && n < max) {
        size_t end = i;
        while (end < q.len && q.p[end] != '&')
            end++;
        size_t eq = i;
        while (eq < end && q.p[eq] != '=')
            eq++;
        if (end > i) {
            out[n].name = qr_slice(q.p + i, eq - i);
            out[n].has_value = eq < end;
            out[n].value = eq < end ? qr_slice(q.p + eq + 1, end - eq - 1) : qr_slice(NULL, 0);
            n++;
        }
        i = end + 1;
    }
    return n;
}

static bool find_param(const struct qparam *p, size_t n, const char *name, struct qr_slice *out)
{
    for (size_t i = 0; i < n; i++) {
        if (qr_slice_eq_lit(p[i].name, name)) {
            *out = p[i].value;
            return true;
        }
    }
    return false;
}

static bool find_header(const struct sigv4_input *in, const char *lname, struct qr_slice *out)
{
    for (size_t i = 0; i < in->n_headers; i++) {
        if (qr_slice_ieq_lit(in->headers[i].name, lname)) {
            *out = in->headers[i].value;
            return true;
        }
    }
    return false;
}

static enum qr_err decode_into(struct qr_slice raw, char *out, size_t max)
{
    struct qr_buf b;
    qr_buf_init(&b, max - 1);
    enum qr_err e = qr_uri_decode(raw, true, &b);
    if (!e) {
        memcpy(out, b.p ? (const char *)b.p : "", b.len);
        out[b.len] = '\0';
    }
    qr_buf_dispose(&b);
    return e;
}

enum qr_err sigv2_parse(const struct sigv4_input *in, struct sigv2_auth *out)
{
    struct qparam qp[MAX_QPARAMS];
    size_t nq = split_query(in->query, qp, MAX_QPARAMS);
    struct qr_slice akid, sig, exp, hdr;
    memset(out, 0, sizeof(*out));
    if (find_param(qp, nq, "AWSAccessKeyId", &akid) && find_param(qp, nq, "Signature", &sig)) {
        uint64_t e;
        if (!find_param(qp, nq, "Expires", &exp) || !qr_slice_u64(exp, INT64_MAX / 1000, &e))
            return QR_E_AUTH_MALFORMED;
        if (decode_into(akid, out->akid, sizeof(out->akid)) ||
            decode_into(sig, out->signature, sizeof(out->signature)))
            return QR_E_AUTH_MALFORMED;
        out->presigned = true;
        out->expires_s = (int64_t)e;
        find_param(qp, nq, "x-amz-security-token", &out->token);
        if (in->now_ms / 1000 > out->expires_s)
            return QR_E_EXPIRED;
        return QR_OK;
    }
    if (!find_header(in, "authorization", &hdr))
        return QR_E_AUTH_MISSING;
    if (hdr.len < 5 || memcmp(hdr.p, "AWS ", 4) != 0)
        return QR_E_AUTH_MISSING;
    struct qr_slice rest = qr_slice(hdr.p + 4, hdr.len - 4);
    const uint8_t *colon = memchr(rest.p, ':', rest.len);
    if (!colon)
        return QR_E_AUTH_MALFORMED;
    size_t al = (size_t)(colon - rest.p), sl = rest.len - al - 1;
    if (al == 0 || al >= sizeof(out->akid) || sl == 0 || sl >= sizeof(out->signature))
        return QR_E_AUTH_MALFORMED;
    memcpy(out->akid, rest.p, al);
    memcpy(out->signature, colon + 1, sl);
    find_header(in, "x-amz-security-token", &out->token);
    return QR_OK;
}

static int cmp_slice(const void *a, const void *b)
{
    return qr_slice_cmp(*(const struct qr_slice *)a, *(const struct qr_slice *)b);
}

/* x-amz-* headers: lower-case names, values trimmed, repeats joined by ',', sorted. */
static void amz_headers(const struct sigv4_input *in, struct qr_buf *b)
{
    struct qr_slice names[64];
    size_t n = 0;
    for (size_t i = 0; i < in->n_headers && n < 64; i++) {
        struct qr_slice nm = in->headers[i].name;
        if (nm.len < 6 || !qr_slice_ieq(qr_slice(nm.p, 6), QR_SLICE_LIT("x-amz-")))
            continue;
        bool seen = false;
        for (size_t k = 0; k < n; k++)
            seen = seen || qr_slice_ieq(names[k], nm);
        if (!seen)
            names[n++] = nm;
    }
    qsort(names, n, sizeof(*names), cmp_slice);
    for (size_t k = 0; k < n; k++) {
        for (size_t c = 0; c < names[k].len; c++) {
            uint8_t ch = names[k].p[c];
            qr_buf_add(b, &(char){(char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch)}, 1);
        }
        qr_buf_add(b, ":", 1);
        bool first = true;
        for (size_t i = 0; i < in->n_headers; i++) {
            if (!qr_slice_ieq(in->headers[i].name, names[k]))
                continue;
            struct qr_slice v = in->headers[i].value;
            while (v.len && (v.p[0] == ' ' || v.p[0] == '\t'))
                v = qr_slice(v.p + 1, v.len - 1);
            while (v.len && (v.p[v.len - 1] == ' ' || v.p[v.len - 1] == '\t'))
                v.len--;
            if (!first)
                qr_buf_add(b, ",", 1);
            qr_buf_add(b, v.p, v.len);
            first = false;
        }
        qr_buf_add(b, "\n", 1);
    }
}

static int cmp_qparam(const void *a, const void *b)
{
    return qr_slice_cmp(((const struct qparam *)a)->name, ((const struct qparam *)b)->name);
}

static bool is_subresource(struct qr_slice name)
{
    for (size_t i = 0; i < sizeof(subresources) / sizeof(*subresources); i++)
        if (qr_slice_eq_lit(name, subresources[i]))
            return true;
    return false;
}

bool sigv2_signed_param(struct qr_slice name)
{
    return is_subresource(name);
}

/* Whether a path-style path addresses a bucket: "/bucket", no key. */
static bool bucket_level(struct qr_slice path)
{
    size_t slashes = 0;
    for (size_t i = 0; i < path.len; i++)
        slashes += path.p[i] == '/';
    return path.len > 1 && slashes == 1;
}

/* The canonical resource. bucket_slash: a bucket-level resource path-style ends "/", as
 * botocore signs it ("/bucket/") and S3 accepts it, though the request path is "/bucket". */
static enum qr_err resource(const struct sigv4_input *in, struct qr_slice prefix, bool bucket_slash,
                            struct qr_buf *b)
{
    struct qparam qp[MAX_QPARAMS], keep[MAX_QPARAMS];
    size_t nq = split_query(in->query, qp, MAX_QPARAMS), nk = 0;
    qr_buf_add(b, prefix.p, prefix.len);
    qr_buf_add(b, in->path.p, in->path.len);
    if (bucket_slash)
        qr_buf_add(b, "/", 1);
    for (size_t i = 0; i < nq; i++)
        if (is_subresource(qp[i].name))
            keep[nk++] = qp[i];
    qsort(keep, nk, sizeof(*keep), cmp_qparam);
    for (size_t i = 0; i < nk; i++) {
        qr_buf_add(b, i ? "&" : "?", 1);
        qr_buf_add(b, keep[i].name.p, keep[i].name.len);
        if (keep[i].has_value) {
            qr_buf_add(b, "=", 1);
            /* '+' is a '+', as route.c's query decoder reads the value it then uses. */
            if (qr_uri_decode(keep[i].value, false, b) != QR_OK)
                return QR_E_AUTH_MALFORMED;
        }
    }
    return QR_OK;
}

/* One candidate string to sign, and whether the signature is over it. */
static enum qr_err verify_one(const struct sigv4_input *in, const struct sigv2_auth *auth,
                              struct qr_slice secret, struct qr_slice resource_prefix,
                              bool bucket_slash)
{
    struct qr_buf sts;
    qr_buf_init(&sts, MAX_STS);
    struct qr_slice v;
    enum qr_err e = QR_OK;
    qr_buf_add(&sts, in->method.p, in->method.len);
    qr_buf_add(&sts, "\n", 1);
    if (find_header(in, "content-md5", &v))
        qr_buf_add(&sts, v.p, v.len);
    qr_buf_add(&sts, "\n", 1);
    if (find_header(in, "content-type", &v))
        qr_buf_add(&sts, v.p, v.len);
    qr_buf_add(&sts, "\n", 1);
    if (auth->presigned) {
        qr_buf_addf(&sts, "%lld", (long long)auth->expires_s);
    } else if (!find_header(in, "x-amz-date", &v) && find_header(in, "date", &v)) {
        qr_buf_add(&sts, v.p, v.len);
    }
    qr_buf_add(&sts, "\n", 1);
    amz_headers(in, &sts);
    e = resource(in, resource_prefix, bucket_slash, &sts);
    if (!e && sts.len >= MAX_STS)
        e = QR_E_AUTH_MALFORMED;
    if (!e) {
        uint8_t mac[20];
        unsigned int ml = sizeof(mac);
        char b64[32];
        HMAC(EVP_sha1(), secret.p, (int)secret.len, sts.p, sts.len, mac, &ml);
        size_t bl = qr_b64_encode(mac, ml, b64);
        if (bl != strlen(auth->signature) || CRYPTO_memcmp(b64, auth->signature, bl) != 0)
            e = QR_E_SIGNATURE;
        OPENSSL_cleanse(mac, sizeof(mac));
    }
    qr_buf_dispose(&sts);
    return e;
}

enum qr_err sigv2_verify(const struct sigv4_input *in, const struct sigv2_auth *auth,
                         struct qr_slice secret, struct qr_slice resource_prefix)
{
    enum qr_err e = verify_one(in, auth, secret, resource_prefix, false);
    if (e == QR_E_SIGNATURE && !resource_prefix.len && bucket_level(in->path))
        e = verify_one(in, auth, secret, resource_prefix, true);
    return e;
}
