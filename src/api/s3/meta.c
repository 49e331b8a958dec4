/*
 * meta.c - an object's standard headers and user metadata, as the store keeps them:
 * one opaque byte string of "name\0value\0" pairs with lower-case names, written at
 * PutObject / CreateMultipartUpload / CopyObject(REPLACE) and replayed on GET and HEAD.
 * The pseudo-name ":md5" keeps the body's MD5 hex, so a copy into a general purpose
 * bucket gets an MD5 ETag even when the source's ETag is not one (directory buckets).
 * Also the tag set of x-amz-tagging in its canonical stored form "k=v&k=v".
 */
#include "api/s3/s3_int.h"

#include <string.h>

#include "obj/obj.h"
#include "util/codec.h"
#include "util/limits.h"

static const char *const stored_headers[] = {
    "content-type",     "content-disposition",
    "content-language", "cache-control",
    "expires",          "x-amz-website-redirect-location",
};

static const char *const storage_classes[] = {
    "STANDARD",        "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING",
    "GLACIER",         "DEEP_ARCHIVE",       "GLACIER_IR",  "OUTPOSTS",   "SNOW",
    "EXPRESS_ONEZONE",
};

static struct qr_slice next_coding(struct qr_slice ce, size_t *pos, size_t *out_start,
                                   size_t *out_end)
{
    size_t i = *pos, j = i;
    while (j < ce.len && ce.p[j] != ',')
        j++;
    size_t s = i, e = j;
    while (s < e && (ce.p[s] == ' ' || ce.p[s] == '\t'))
        s++;
    while (e > s && (ce.p[e - 1] == ' ' || ce.p[e - 1] == '\t'))
        e--;
    *pos = j + 1;
    *out_start = s;
    *out_end = e;
    return qr_slice(ce.p + s, e - s);
}

/* Content-Encoding without the aws-chunked transport coding, which is not the object's.
 * What remains is kept byte for byte (S3 returns "deflate, gzip" as it was sent): the
 * span from the first kept coding to the last, less an aws-chunked at either end. An
 * aws-chunked between two kept codings (no SDK sends that) is dropped with its comma. */
static struct qr_slice strip_aws_chunked(struct s3_op *op, struct qr_slice ce)
{
    struct qr_buf b;
    qr_buf_init(&b, ce.len + 1);
    size_t pos = 0, s, e, span_s = 0, span_e = 0;
    bool any = false;
    while (pos < ce.len) {
        struct qr_slice tok = next_coding(ce, &pos, &s, &e);
        if (tok.len == 0 || qr_slice_ieq(tok, QR_SLICE_LIT("aws-chunked"))) {
            if (any) { /* flush the span so far; the next kept coding starts a new one */
                (void)qr_buf_add(&b, ce.p + span_s, span_e - span_s);
                any = false;
            }
            continue;
        }
        if (!any && b.len)
            (void)qr_buf_add(&b, ",", 1);
        if (!any)
            span_s = s;
        span_e = e;
        any = true;
    }
    if (any)
        (void)qr_buf_add(&b, ce.p + span_s, span_e - span_s);
    h2o_iovec_t v = h2o_strdup(op->pool, b.p ? (char *)b.p : "", b.len);
    qr_buf_dispose(&b);
    return qr_slice(v.base, v.len);
}

/* Classes whose objects S3 serves only after RestoreObject, which quarry does not
 * implement: storing one readable would answer GETs S3 refuses. */
static const char *const archive_classes[] = {"GLACIER", "DEEP_ARCHIVE"};

static bool archive_class(struct qr_slice sc)
{
    for (size_t i = 0; i < sizeof(archive_classes) / sizeof(*archive_classes); i++)
        if (qr_slice_eq_lit(sc, archive_classes[i]))
            return true;
    return false;
}

static bool storage_class_ok(struct s3_op *op, struct qr_slice sc)
{
    if (op->directory)
        return qr_slice_eq_lit(sc, "EXPRESS_ONEZONE");
    for (size_t i = 0; i < sizeof(storage_classes) / sizeof(*storage_classes) - 1; i++)
        if (qr_slice_eq_lit(sc, storage_classes[i]))
            return true;
    return false;
}

enum qr_err s3_meta_from_request(struct s3_op *op, struct qr_slice *out)
{
    struct qr_buf b;
    qr_buf_init(&b, 64 * 1024);
    struct qr_slice v;
    enum qr_err e = QR_OK;
    for (size_t i = 0; i < sizeof(stored_headers) / sizeof(*stored_headers) && !e; i++)
        if (s3_hdr(op, stored_headers[i], &v))
            e = obj_header_add(&b, qr_slice_cstr(stored_headers[i]), v);
    if (!e && s3_hdr(op, "content-encoding", &v)) {
        struct qr_slice ce = strip_aws_chunked(op, v);
        if (ce.len)
            e = obj_header_add(&b, QR_SLICE_LIT("content-encoding"), ce);
    }
    if (!e && s3_hdr(op, "x-amz-storage-class", &v)) {
        if (!op->directory && archive_class(v)) {
            s3_fail_code(op, 501, "NotImplemented",
                         "A header you provided implies functionality that is not implemented: "
                         "archive storage classes (quarry has no RestoreObject).");
            qr_buf_dispose(&b);
            return QR_E_NOT_IMPLEMENTED;
        }
        if (!storage_class_ok(op, v)) {
            s3_fail_code(op, 400, "InvalidStorageClass",
                         "The storage class you specified is not valid");
            qr_buf_dispose(&b);
            return QR_E_BAD_INPUT;
        }
        e = obj_header_add(&b, QR_SLICE_LIT("x-amz-storage-class"), v);
    }
    /* User metadata: AWS counts the bytes of names (without the prefix) and values. */
    size_t user_bytes = 0;
    const h2o_headers_t *h = &op->ar->req->headers;
    for (size_t i = 0; i < h->size && !e; i++) {
        struct qr_slice n = qr_slice(h->entries[i].name->base, h->entries[i].name->len);
        if (n.len <= 11 || !qr_slice_ieq(qr_slice(n.p, 11), QR_SLICE_LIT("x-amz-meta-")))
            continue;
        user_bytes += n.len - 11 + h->entries[i].value.len;
        e = obj_header_add(&b, n, qr_slice(h->entries[i].value.base, h->entries[i].value.len));
    }
    if (user_bytes > QR_MAX_USER_META) {
        s3_fail_code(op, 400, "MetadataTooLarge",
                     "Your metadata headers exceed the maximum allowed metadata size.");
        qr_buf_dispose(&b);
        return QR_E_TOO_LARGE;
    }
    if (e) {
        s3_fail(op, e);
        qr_buf_dispose(&b);
        return e;
    }
    h2o_iovec_t c = h2o_strdup(op->pool, b.p ? (char *)b.p : "", b.len);
    *out = qr_slice(c.base, c.len);
    qr_buf_dispose(&b);
    return QR_OK;
}

/* Calls fn for each pair of an encoding; stops early when fn returns false. */
static void each_pair(struct qr_slice meta, bool (*fn)(void *, struct qr_slice, struct qr_slice),
                      void *arg)
{
    size_t pos = 0;
    struct qr_slice n, v;
    while (obj_header_next(meta, &pos, &n, &v))
        if (!fn(arg, n, v))
            return;
}

struct to_resp {
    struct s3_op *op;
    bool has_type;
};

static bool pair_to_header(void *arg, struct qr_slice n, struct qr_slice v)
{
    struct to_resp *t = arg;
    if (n.len && n.p[0] == ':')
        return true; /* private pseudo-headers */
    if (qr_slice_eq_lit(n, "content-type"))
        t->has_type = true;
    if (qr_slice_eq_lit(n, "x-amz-storage-class") && qr_slice_eq_lit(v, "STANDARD"))
        return true; /* S3 omits the default class */
    char *name = h2o_mem_alloc_pool(t->op->pool, n.len + 1);
    memcpy(name, n.p, n.len);
    name[n.len] = '\0';
    s3_header(t->op, name, (const char *)v.p, v.len);
    return true;
}

void s3_meta_to_response(struct s3_op *op, struct qr_slice meta)
{
    struct to_resp t = {op, false};
    each_pair(meta, pair_to_header, &t);
    if (!t.has_type)
        s3_header_s(op, "Content-Type", "binary/octet-stream");
    if (op->directory)
        s3_header_s(op, "x-amz-storage-class", "EXPRESS_ONEZONE");
}

struct find_md5 {
    struct s3_op *op;
    const char *found;
};

static bool pair_md5(void *arg, struct qr_slice n, struct qr_slice v)
{
    struct find_md5 *f = arg;
    if (!qr_slice_eq_lit(n, ":md5") || v.len != 32)
        return true;
    h2o_iovec_t c = h2o_strdup(f->op->pool, (const char *)v.p, v.len);
    f->found = c.base;
    return false;
}

const char *s3_meta_md5(struct s3_op *op, struct qr_slice meta)
{
    struct find_md5 f = {op, NULL};
    each_pair(meta, pair_md5, &f);
    return f.found;
}

struct qr_slice s3_meta_with_md5(struct s3_op *op, struct qr_slice meta, const uint8_t md5[16])
{
    size_t len = meta.len + 5 + 33;
    char *p = h2o_mem_alloc_pool(op->pool, len);
    memcpy(p, meta.p, meta.len);
    memcpy(p + meta.len, ":md5", 5);
    qr_hex_encode(md5, 16, p + meta.len + 5);
    return qr_slice(p, len);
}

/* ---- tags ---- */

/* One percent-decoded part of x-amz-tagging, copied into the request's pool. The byte cap
 * only bounds the work: the character limits are obj_tags_check's. */
static enum qr_err tag_part(struct s3_op *op, struct qr_slice raw, size_t max_bytes,
                            struct qr_buf *dec, struct qr_slice *out)
{
    qr_buf_reset(dec);
    if (qr_uri_decode(raw, true, dec) != QR_OK || dec->len > max_bytes)
        return QR_E_BAD_INPUT;
    h2o_iovec_t c = h2o_strdup(op->pool, dec->p ? (char *)dec->p : "", dec->len);
    *out = qr_slice(c.base, c.len);
    return QR_OK;
}

/* x-amz-tagging ("k1=v1&k2=v2", each part URL-encoded) is held to PutObjectTagging's rules
 * (s3_tags_valid: obj_tags_check) and stored in obj_tags_encode's form, so a tag set a
 * header sets is one PutObjectTagging would have accepted. */
enum qr_err s3_tags_from_header(struct s3_op *op, struct qr_slice hdr, struct qr_slice *out)
{
    struct obj_tag t[QR_MAX_TAGS];
    struct qr_buf dec, canon;
    size_t i = 0, n = 0;
    enum qr_err e = QR_OK;
    qr_buf_init(&dec, 4 * 1024);
    while (i < hdr.len && !e) {
        size_t j = i;
        while (j < hdr.len && hdr.p[j] != '&')
            j++;
        size_t eq = i;
        while (eq < j && hdr.p[eq] != '=')
            eq++;
        if (n == QR_MAX_TAGS) {
            qr_buf_dispose(&dec);
            s3_fail_code(op, 400, "BadRequest", "Object tags cannot be greater than 10");
            return QR_E_BAD_INPUT;
        }
        e = eq == i ? QR_E_BAD_INPUT
                    : tag_part(op, qr_slice(hdr.p + i, eq - i), 512, &dec, &t[n].key);
        t[n].value = qr_slice("", 0);
        if (!e && eq < j)
            e = tag_part(op, qr_slice(hdr.p + eq + 1, j - eq - 1), 1024, &dec, &t[n].value);
        n++;
        i = j + 1;
    }
    qr_buf_dispose(&dec);
    if (e) {
        s3_fail_code(op, 400, "InvalidTag", "The tag provided was not a valid tag.");
        return e;
    }
    if (!s3_tags_valid(op, t, n))
        return QR_E_BAD_INPUT;
    qr_buf_init(&canon, 16 * 1024);
    e = obj_tags_encode(t, n, &canon);
    if (e) {
        s3_fail_code(op, 400, "InvalidTag", "The tag provided was not a valid tag.");
    } else {
        h2o_iovec_t c = h2o_strdup(op->pool, canon.p ? (char *)canon.p : "", canon.len);
        *out = qr_slice(c.base, c.len);
    }
    qr_buf_dispose(&canon);
    return e;
}
