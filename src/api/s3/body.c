/*
 * body.c - turns a request body into verified payload bytes for PutObject, UploadPart
 * and the XML operations: undoes aws-chunked framing (checking each chunk signature when
 * the client signed them), checks x-amz-content-sha256, Content-MD5 and the flexible
 * checksums (x-amz-checksum-* as a header or an aws-chunked trailer), and always computes
 * the MD5 that becomes the ETag. Runs on a worker: hashing a 5 GiB body takes seconds.
 */
#include "api/s3/s3_int.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "http/http.h"
#include "util/codec.h"
#include "util/limits.h"
#include "util/names.h"

#define MAX_TRAILERS SIGV4_MAX_TRAILERS

static const struct {
    const char *header;
    enum qr_ck alg;
} ck_headers[] = {
    {"x-amz-checksum-crc32", QR_CK_CRC32},         {"x-amz-checksum-crc32c", QR_CK_CRC32C},
    {"x-amz-checksum-crc64nvme", QR_CK_CRC64NVME}, {"x-amz-checksum-sha1", QR_CK_SHA1},
    {"x-amz-checksum-sha256", QR_CK_SHA256},
};

/* The body is aws-chunked only when the signed x-amz-content-sha256 says STREAMING-*:
 * Content-Encoding may be unsigned, and trusting it would let anyone swap the bytes of a
 * captured PUT whose hash was signed. Content-Encoding aws-chunked with any other payload
 * mode is refused, never stored as framing (*refuse). */
static bool is_aws_chunked(struct s3_op *op, bool *refuse)
{
    enum sigv4_payload p = op->ar->auth.payload;
    *refuse = false;
    if (p == SIGV4_PAYLOAD_STREAMING || p == SIGV4_PAYLOAD_STREAMING_TRAILER ||
        p == SIGV4_PAYLOAD_UNSIGNED_TRAILER)
        return true;
    struct qr_slice ce;
    if (!s3_hdr(op, "content-encoding", &ce))
        return false;
    for (size_t i = 0; i + 11 <= ce.len; i++)
        if (qr_slice_ieq(qr_slice(ce.p + i, 11), QR_SLICE_LIT("aws-chunked")))
            *refuse = true;
    return false;
}

static bool decode_chunked(struct s3_op *op, struct qr_slice raw, uint64_t max, struct s3_body *out,
                           struct sigv4_trailer *tr, size_t *n_tr)
{
    struct api_req *ar = op->ar;
    int64_t decoded_len = -1;
    struct qr_slice v;
    uint64_t n;
    if (s3_hdr(op, "x-amz-decoded-content-length", &v)) {
        if (!qr_slice_u64(v, INT64_MAX, &n)) {
            s3_fail_code(op, 400, "InvalidArgument",
                         "x-amz-decoded-content-length is not a number.");
            return false;
        }
        if (n > max) {
            s3_fail(op, QR_E_TOO_LARGE);
            return false;
        }
        decoded_len = (int64_t)n;
    }
    bool signed_chunks = ar->auth.payload == SIGV4_PAYLOAD_STREAMING ||
                         ar->auth.payload == SIGV4_PAYLOAD_STREAMING_TRAILER;
    qr_buf_init(&out->decoded, (size_t)max);
    enum qr_err e = sigv4_chunked_decode(raw, signed_chunks ? &ar->chunk : NULL, decoded_len,
                                         &out->decoded, tr, MAX_TRAILERS, n_tr);
    if (e == QR_E_BAD_INPUT) {
        s3_fail_code(op, 400, "InvalidRequest", "The aws-chunked body is malformed.");
        return false;
    }
    if (e) {
        s3_fail(op, e);
        return false;
    }
    out->data = qr_slice(out->decoded.p, out->decoded.len);
    return true;
}

/* Finds the one flexible checksum the client sent, as a header or a trailer. */
static bool find_checksum(struct s3_op *op, bool headers, const struct sigv4_trailer *tr,
                          size_t n_tr, enum qr_ck *out_alg, struct qr_slice *out_val)
{
    for (size_t i = 0; i < sizeof(ck_headers) / sizeof(*ck_headers); i++) {
        if (headers && s3_hdr(op, ck_headers[i].header, out_val)) {
            *out_alg = ck_headers[i].alg;
            return true;
        }
        for (size_t t = 0; t < n_tr; t++) {
            if (strcmp(tr[t].name, ck_headers[i].header) == 0) {
                *out_alg = ck_headers[i].alg;
                *out_val = qr_slice_cstr(tr[t].value);
                return true;
            }
        }
    }
    return false;
}

bool s3_body_digest(struct s3_op *op, const struct s3_body *b, enum qr_ck alg, uint8_t *out)
{
    const struct api_streamed *sb = op->ar->streamed;
    if (sb == NULL || sb->blob == NULL || sb->sse.mode == STORE_SSE_NONE ||
        (const void *)b->data.p != (const void *)sb->map) {
        qr_ck_digest(alg, b->data.p, b->data.len, out);
        return true;
    }
    /* the mapping is ciphertext: the plaintext comes back through the blob's key */
    enum { CHUNK = 1u << 20 };
    uint8_t *buf = qr_xmalloc(CHUNK);
    struct qr_ck_state st;
    enum qr_err e = QR_OK;
    qr_ck_init(&st, alg);
    for (uint64_t off = 0; off < b->data.len && e == QR_OK; off += CHUNK) {
        size_t n = b->data.len - off < CHUNK ? (size_t)(b->data.len - off) : CHUNK;
        if ((e = store_blob_stream_read(sb->blob, off, buf, n)) == QR_OK)
            qr_ck_update(&st, buf, n);
    }
    OPENSSL_cleanse(buf, CHUNK);
    free(buf);
    if (e != QR_OK) {
        s3_fail(op, e);
        return false;
    }
    qr_ck_final(&st, out);
    return true;
}

static bool verify_digests(struct s3_op *op, enum s3_body_kind kind, struct s3_body *out,
                           const struct sigv4_trailer *tr, size_t n_tr)
{
    struct qr_slice v;
    uint8_t want[QR_CK_MAX_DIGEST];
    size_t wl = 0;
    const struct api_streamed *pre = op->ar->streamed;
    if (pre != NULL)
        memcpy(out->md5, pre->md5, 16); /* hashed while it was written */
    else
        qr_ck_digest(QR_CK_MD5, out->data.p, out->data.len, out->md5);
    if (s3_hdr(op, "content-md5", &v)) {
        if (qr_b64_decode((const char *)v.p, v.len, want, sizeof(want), &wl) != QR_OK || wl != 16) {
            s3_fail(op, QR_E_INVALID_DIGEST);
            return false;
        }
        if (memcmp(want, out->md5, 16) != 0) {
            s3_fail(op, QR_E_BAD_DIGEST);
            return false;
        }
    }
    enum qr_ck alg;
    if (!find_checksum(op, kind == S3_BODY_PAYLOAD, tr, n_tr, &alg, &v))
        return true;
    if (qr_b64_decode((const char *)v.p, v.len, want, sizeof(want), &wl) != QR_OK ||
        wl != qr_ck_len(alg)) {
        s3_fail_code(op, 400, "InvalidRequest",
                     "The checksum value is not valid base64 of "
                     "the algorithm's digest length.");
        return false;
    }
    if (pre != NULL && pre->have_ck && pre->ck_alg == alg)
        memcpy(out->ck, pre->ck, wl);
    else if (!s3_body_digest(op, out, alg, out->ck))
        return false;
    if (memcmp(want, out->ck, wl) != 0) {
        s3_fail(op, QR_E_BAD_DIGEST);
        return false;
    }
    out->have_ck = true;
    out->ck_alg = alg;
    return true;
}

bool s3_body_read(struct s3_op *op, uint64_t max, enum s3_body_kind kind, struct s3_body *out)
{
    struct api_req *ar = op->ar;
    memset(out, 0, sizeof(*out));
    qr_buf_init(&out->decoded, 0);
    struct qr_slice raw = ar->req->entity.base ? qr_slice(ar->req->entity.base, ar->req->entity.len)
                                               : qr_slice(NULL, 0);
    struct sigv4_trailer tr[MAX_TRAILERS];
    size_t n_tr = 0;
    bool refuse;
    bool chunked = is_aws_chunked(op, &refuse);
    if (refuse) {
        s3_fail_code(op, 400, "InvalidArgument",
                     "Content-Encoding aws-chunked requires a STREAMING-* x-amz-content-sha256.");
        return false;
    }
    if (chunked && ar->streamed != NULL) {
        /* decoded, its signatures and length checked, as it streamed into the blob */
        out->data = raw;
        n_tr = ar->streamed->n_trailers;
        memcpy(tr, ar->streamed->trailers, n_tr * sizeof(*tr));
    } else if (chunked) {
        if (!decode_chunked(op, raw, max, out, tr, &n_tr))
            return false;
    } else {
        if (raw.len > max) {
            s3_fail(op, QR_E_TOO_LARGE);
            return false;
        }
        out->data = raw;
        if (ar->auth.payload == SIGV4_PAYLOAD_HASH && ar->auth.payload_hash[0]) {
            char got[65];
            if (ar->streamed != NULL && ar->streamed->have_sha256)
                memcpy(got, ar->streamed->sha256_hex, 65);
            else
                sigv4_sha256_hex(raw.p, raw.len, got);
            if (memcmp(got, ar->auth.payload_hash, 64) != 0) {
                s3_fail(op, QR_E_CONTENT_SHA256_MISMATCH);
                return false;
            }
        }
    }
    return verify_digests(op, kind, out, tr, n_tr);
}

void s3_body_dispose(struct s3_body *b)
{
    qr_buf_dispose(&b->decoded);
}

/* The payload a PutObject or UploadPart declares: x-amz-decoded-content-length when
 * aws-chunked (Content-Length counts the framing), else Content-Length. */
static bool declared_payload(struct api_req *ar, uint64_t *out)
{
    struct qr_slice v;
    enum sigv4_payload p = ar->auth.payload;
    if ((p == SIGV4_PAYLOAD_STREAMING || p == SIGV4_PAYLOAD_STREAMING_TRAILER ||
         p == SIGV4_PAYLOAD_UNSIGNED_TRAILER) &&
        api_header(ar, "x-amz-decoded-content-length", &v))
        return qr_slice_u64(v, UINT64_MAX, out);
    return http_content_length(ar->req, out);
}

bool s3_before_body(struct api_req *ar)
{
    struct qr_slice bucket, key, v;
    bool dir, part;
    if ((strcmp(ar->auth.service, "s3") != 0 && strcmp(ar->auth.service, "s3express") != 0) ||
        !http_has_body(ar->req) || !s3_object_target(ar, &bucket, &key, &dir) || bucket.len == 0)
        return true; /* the handler answers what is not an S3 body to a bucket */
    if (key.len == 0 && s3_object_put_query(ar, &part) && !part)
        return true; /* no sub-resource: CreateBucket, the one body to a bucket that need
                        not exist (presigned, its query has only X-Amz-* parameters) */
    struct store_bucket b;
    if (qr_bucket_name_valid(bucket, &dir) &&
        store_bucket_get(ar->thread->reader, bucket, &b) == QR_E_NO_SUCH_BUCKET) {
        ar->op = "S3";
        ar->log_bucket = bucket;
        s3_send_error_code(ar, 404, "NoSuchBucket", "The specified bucket does not exist");
        return false;
    }
    uint64_t n;
    bool put = h2o_memis(ar->req->input.method.base, ar->req->input.method.len, H2O_STRLIT("PUT"));
    if (put && key.len > 0 && s3_object_put_query(ar, &part) &&
        !api_header(ar, "x-amz-copy-source", &v) && declared_payload(ar, &n) &&
        n > QR_MAX_SINGLE_PUT) {
        ar->op = part ? "UploadPart" : "PutObject";
        s3_send_error_code(ar, 400, "EntityTooLarge",
                           "Your proposed upload exceeds the maximum allowed size.");
        return false;
    }
    return true;
}
