/* common.c - small helpers every S3 handler family shares: ETags, checksums, write
 * conditions and the copy source header. */
#include "api/s3/s3_int.h"

#include <stdlib.h>
#include <string.h>

#include "obj/obj.h"
#include "util/codec.h"
#include "util/limits.h"
#include "util/names.h"

#define COPY_CHUNK (1024u * 1024u)

static const struct {
    enum qr_ck qr;
    enum store_ck_alg st;
    const char *header;
} ck_map[] = {
    {QR_CK_CRC32, STORE_CK_CRC32, "x-amz-checksum-crc32"},
    {QR_CK_CRC32C, STORE_CK_CRC32C, "x-amz-checksum-crc32c"},
    {QR_CK_CRC64NVME, STORE_CK_CRC64NVME, "x-amz-checksum-crc64nvme"},
    {QR_CK_SHA1, STORE_CK_SHA1, "x-amz-checksum-sha1"},
    {QR_CK_SHA256, STORE_CK_SHA256, "x-amz-checksum-sha256"},
};

enum store_ck_alg s3_ck_to_store(enum qr_ck alg)
{
    for (size_t i = 0; i < sizeof(ck_map) / sizeof(*ck_map); i++)
        if (ck_map[i].qr == alg)
            return ck_map[i].st;
    return STORE_CK_NONE;
}

bool s3_ck_from_store(enum store_ck_alg a, enum qr_ck *out)
{
    for (size_t i = 0; i < sizeof(ck_map) / sizeof(*ck_map); i++) {
        if (ck_map[i].st == a) {
            *out = ck_map[i].qr;
            return true;
        }
    }
    return false;
}

const char *s3_ck_type_name(enum store_ck_type t)
{
    switch (t) {
    case STORE_CK_FULL_OBJECT:
        return "FULL_OBJECT";
    case STORE_CK_COMPOSITE:
        return "COMPOSITE";
    }
    return "FULL_OBJECT";
}

void s3_checksum_headers(struct s3_op *op, const struct store_checksum *ck)
{
    for (size_t i = 0; i < sizeof(ck_map) / sizeof(*ck_map); i++) {
        if (ck_map[i].st != ck->alg)
            continue;
        s3_header_s(op, ck_map[i].header, ck->b64);
        s3_header_s(op, "x-amz-checksum-type", s3_ck_type_name(ck->type));
    }
}

void s3_new_etag(struct s3_op *op, const uint8_t md5[16], char out[80])
{
    if (op->directory) {
        /* Directory buckets give opaque ETags that are not an MD5 of the body. */
        qr_random_hex(out, 16);
        return;
    }
    qr_hex_encode(md5, 16, out);
}

bool s3_etag_parse(struct qr_slice in, char out[80])
{
    while (in.len && (in.p[0] == ' ' || in.p[0] == '\t'))
        in = qr_slice(in.p + 1, in.len - 1);
    while (in.len && (in.p[in.len - 1] == ' ' || in.p[in.len - 1] == '\t'))
        in.len--;
    if (in.len >= 2 && in.p[0] == 'W' && in.p[1] == '/')
        in = qr_slice(in.p + 2, in.len - 2);
    if (in.len >= 2 && in.p[0] == '"' && in.p[in.len - 1] == '"')
        in = qr_slice(in.p + 1, in.len - 2);
    if (in.len == 0 || in.len >= 80)
        return false;
    for (size_t i = 0; i < in.len; i++)
        if (in.p[i] == '"' || in.p[i] < 0x20)
            return false;
    memcpy(out, in.p, in.len);
    out[in.len] = '\0';
    return true;
}

bool s3_write_conditions(struct s3_op *op, struct store_cond *cond)
{
    struct qr_slice v;
    memset(cond, 0, sizeof(*cond));
    if (s3_hdr(op, "if-none-match", &v)) {
        if (!qr_slice_eq_lit(v, "*")) {
            s3_fail_code(op, 501, "NotImplemented",
                         "A header you provided implies functionality that is not "
                         "implemented: If-None-Match on a write takes only *.");
            return false;
        }
        cond->if_none_match_any = true;
    }
    if (s3_hdr(op, "if-match", &v)) {
        char *etag = h2o_mem_alloc_pool(op->pool, 80);
        if (!s3_etag_parse(v, etag)) {
            s3_fail(op, QR_E_PRECONDITION);
            return false;
        }
        cond->if_match = etag;
    }
    return true;
}

bool s3_copy_source(struct s3_op *op, struct qr_slice *out_bucket, struct qr_slice *out_key)
{
    struct qr_slice ver;
    return s3_copy_source_v(op, out_bucket, out_key, &ver);
}

bool s3_copy_source_v(struct s3_op *op, struct qr_slice *out_bucket, struct qr_slice *out_key,
                      struct qr_slice *out_version)
{
    struct qr_slice v;
    *out_version = qr_slice(NULL, 0);
    if (!s3_hdr(op, "x-amz-copy-source", &v))
        return false;
    /* "bucket/key[?versionId=x]", leading '/' optional, the key URL-encoded once. */
    size_t q = 0;
    while (q < v.len && v.p[q] != '?')
        q++;
    if (q < v.len) {
        /* "null" or an id of S3's form names a version (which may not exist: the store
         * says); anything else is not a version id. */
        struct qr_slice ver = qr_slice(v.p + q + 1, v.len - q - 1);
        struct qr_slice id = qr_slice(ver.p + 10, ver.len > 10 ? ver.len - 10 : 0);
        bool is_vid = ver.len > 10 && memcmp(ver.p, "versionId=", 10) == 0;
        if (!is_vid || (!qr_slice_eq_lit(id, "null") && !s3_version_id_wellformed(id))) {
            s3_fail_code(op, 400, "InvalidArgument", "Invalid version id specified");
            return false;
        }
        *out_version = id;
    }
    struct qr_buf b;
    qr_buf_init(&b, 4096);
    enum qr_err e = qr_uri_decode(qr_slice(v.p, q), false, &b);
    struct qr_slice d = qr_slice(b.p, b.len);
    if (d.len && d.p[0] == '/')
        d = qr_slice(d.p + 1, d.len - 1);
    size_t slash = 0;
    while (slash < d.len && d.p[slash] != '/')
        slash++;
    bool ok = !e && slash > 0 && slash + 1 < d.len;
    if (ok) {
        h2o_iovec_t c = h2o_strdup(op->pool, (const char *)d.p, d.len);
        *out_bucket = qr_slice(c.base, slash);
        *out_key = qr_slice(c.base + slash + 1, d.len - slash - 1);
        bool dir;
        /* A directory-bucket source keeps the same "//" rule as the request path. */
        if (qr_bucket_name_valid(*out_bucket, &dir) && dir && out_key->len > 1 &&
            out_key->p[0] == '/')
            *out_key = qr_slice(out_key->p + 1, out_key->len - 1);
        ok = out_key->len <= QR_MAX_KEY_LEN && qr_key_valid(*out_key);
    }
    qr_buf_dispose(&b);
    if (!ok)
        s3_fail_code(op, 400, "InvalidArgument",
                     "Copy Source must mention the source bucket "
                     "and key: sourcebucket/sourcekey.");
    return ok;
}

bool s3_fail_malformed(struct s3_op *op)
{
    s3_fail_code(op, 400, "MalformedXML",
                 "The XML you provided was not well-formed or did not validate against our "
                 "published schema");
    return false;
}

static bool etag_matches(struct qr_slice hdr, const char *etag)
{
    char want[80];
    if (qr_slice_eq_lit(hdr, "*"))
        return true;
    return s3_etag_parse(hdr, want) && strcmp(want, etag) == 0;
}

/* Whether the source was modified after the HTTP-date in hdr. *out_ok false when the
 * date does not parse: S3 then ignores the condition. */
static bool modified_since(struct qr_slice hdr, int64_t mtime_ms, bool *out_ok)
{
    int64_t t_ms;
    *out_ok = qr_time_parse_http(hdr, &t_ms);
    /* HTTP dates have second resolution: compare whole seconds. */
    return *out_ok && mtime_ms / 1000 > t_ms / 1000;
}

/*
 * x-amz-copy-source-if-*, with S3's pairing rules (CopyObject documentation): when
 * if-match holds, if-unmodified-since is not consulted; when if-none-match fails, the
 * copy fails whatever if-modified-since says.
 */
bool s3_copy_source_conditions(struct s3_op *op, const struct store_obj *src)
{
    struct qr_slice v;
    bool ok;
    if (s3_hdr(op, "x-amz-copy-source-if-match", &v)) {
        if (!etag_matches(v, src->etag))
            return false;
    } else if (s3_hdr(op, "x-amz-copy-source-if-unmodified-since", &v)) {
        if (modified_since(v, src->mtime_ms, &ok) && ok)
            return false;
    }
    if (s3_hdr(op, "x-amz-copy-source-if-none-match", &v)) {
        if (etag_matches(v, src->etag))
            return false;
    } else if (s3_hdr(op, "x-amz-copy-source-if-modified-since", &v)) {
        if (!modified_since(v, src->mtime_ms, &ok) && ok)
            return false;
    }
    return true;
}

/* Feeds bytes [off, off+len) of an object (inline or in extents) to the digests. */
enum qr_err s3_digest_range(struct s3_op *op, const struct store_obj *obj, uint64_t off,
                            uint64_t len, struct qr_ck_state *st, size_t n)
{
    uint8_t *buf = obj->inline_data.p ? NULL : qr_xmalloc(COPY_CHUNK);
    enum qr_err e = obj_digest_range(op->store, obj, off, len, st, n, buf, COPY_CHUNK);
    free(buf);
    return e;
}

struct qr_slice s3_version_param(struct s3_op *op)
{
    struct qr_slice v;
    if (!(op->route->flags & (S3_VERSION_READ | S3_VERSION_DELETE)) ||
        !api_param(op->ar, "versionId", &v))
        return qr_slice(NULL, 0);
    return v;
}

void s3_version_headers(struct s3_op *op, const struct store_obj *o)
{
    if (o->versioned || strcmp(o->version_id, "null") != 0)
        s3_header_s(op, "x-amz-version-id", o->version_id);
}

void s3_fail_version(struct s3_op *op, enum qr_err e, struct qr_slice version,
                     const struct store_obj *o)
{
    if (e == QR_E_NO_SUCH_KEY && o->is_marker) {
        s3_header_s(op, "x-amz-delete-marker", "true");
        s3_header_s(op, "x-amz-version-id", o->version_id);
    } else if (e == QR_E_NO_SUCH_KEY && version.len) {
        s3_fail_code(op, 404, "NoSuchVersion", "The specified version does not exist.");
        return;
    }
    s3_fail(op, e);
}
