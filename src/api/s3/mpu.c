/*
 * mpu.c - the multipart upload operations: CreateMultipartUpload, UploadPart,
 * UploadPartCopy, CompleteMultipartUpload and AbortMultipartUpload.
 *
 * The store keeps parts and makes the object from them by sharing blobs; this file
 * decides what AWS decides: part ETags (always the part's MD5, also on directory
 * buckets, since Complete compares the listed ETags against them), the final ETag
 * ("<md5 of the part md5s>-N"), and the final checksum (composite "<b64>-N" or a
 * combined full-object CRC). Every handler here runs on a worker thread.
 */
#include "api/s3/s3_int.h"

#include <openssl/crypto.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/xml.h"
#include "util/ckd.h"
#include "util/codec.h"
#include "util/limits.h"

/* ---- shared pieces ---- */

static bool ck_is_crc(enum qr_ck alg)
{
    return alg == QR_CK_CRC32 || alg == QR_CK_CRC32C || alg == QR_CK_CRC64NVME;
}

/* The upload's algorithm as a digest we can compute; false when it has none. */
static bool upload_alg(const struct store_upload_info *u, enum qr_ck *out)
{
    return u->ck_alg != STORE_CK_NONE && s3_ck_from_store(u->ck_alg, out);
}

static void ck_set(struct store_checksum *ck, enum qr_ck alg, enum store_ck_type type,
                   const uint8_t *digest)
{
    ck->alg = s3_ck_to_store(alg);
    ck->type = type;
    qr_b64_encode(digest, qr_ck_len(alg), ck->b64);
}

/* <ChecksumCRC32>b64</ChecksumCRC32> and friends, named after the algorithm. */
static void xml_checksum(struct qr_buf *b, const struct store_checksum *ck)
{
    enum qr_ck alg;
    char tag[32];
    if (ck->alg == STORE_CK_NONE || !s3_ck_from_store(ck->alg, &alg))
        return;
    snprintf(tag, sizeof(tag), "Checksum%s", qr_ck_name(alg));
    xml_elem_s(b, tag, ck->b64);
}

/* xml_elem with the value in double quotes, as S3 renders ETags in bodies. */
static void xml_etag(struct qr_buf *b, const char *etag)
{
    char q[84];
    snprintf(q, sizeof(q), "\"%s\"", etag);
    xml_elem_s(b, "ETag", q);
}

/* The uploadId parameter. An empty one names no upload. */
static bool upload_id_param(struct s3_op *op, struct qr_slice *out)
{
    if (!s3_param(op, "uploadId", out) || out->len == 0 || out->len > 64) {
        s3_fail(op, QR_E_NO_SUCH_UPLOAD);
        return false;
    }
    return true;
}

static bool part_number_param(struct s3_op *op, uint32_t *out)
{
    struct qr_slice v;
    uint64_t n;
    if (!s3_param(op, "partNumber", &v) || !qr_slice_u64(v, QR_MAX_PARTS, &n) || n == 0) {
        s3_fail_code(op, 400, "InvalidArgument",
                     "Part number must be an integer between 1 and 10000, inclusive");
        return false;
    }
    *out = (uint32_t)n;
    return true;
}

/* Reads the upload named by the request's uploadId (NoSuchUpload when unknown). */
static bool find_upload(struct s3_op *op, struct qr_slice *out_id, struct store_upload_info *out)
{
    if (!upload_id_param(op, out_id))
        return false;
    enum qr_err e = store_mpu_get(op->reader, op->bucket, op->key, *out_id, op->pool, out);
    if (e) {
        s3_fail(op, e);
        return false;
    }
    return true;
}

/* ---- CreateMultipartUpload ---- */

/* x-amz-checksum-algorithm and x-amz-checksum-type. CRC64NVME exists only as a
 * full-object checksum; SHA digests only as composite ones (AWS "Checking object
 * integrity": full-object checksums need a combinable CRC). */
static bool create_checksum(struct s3_op *op, struct store_mpu_create *c)
{
    struct qr_slice a, t;
    enum qr_ck alg;
    bool have_a = s3_hdr(op, "x-amz-checksum-algorithm", &a);
    bool have_t = s3_hdr(op, "x-amz-checksum-type", &t);
    c->ck_alg = STORE_CK_NONE;
    c->ck_type = STORE_CK_FULL_OBJECT;
    if (!have_a) {
        if (!have_t)
            return true;
        s3_fail_code(op, 400, "InvalidRequest",
                     "The x-amz-checksum-type header can only be used with the "
                     "x-amz-checksum-algorithm header.");
        return false;
    }
    if (!qr_ck_from_name((const char *)a.p, a.len, &alg) || alg == QR_CK_MD5) {
        s3_fail_code(op, 400, "InvalidArgument", "Checksum algorithm provided is unsupported.");
        return false;
    }
    c->ck_alg = s3_ck_to_store(alg);
    c->ck_type = alg == QR_CK_CRC64NVME ? STORE_CK_FULL_OBJECT : STORE_CK_COMPOSITE;
    if (!have_t)
        return true;
    if (qr_slice_ieq(t, QR_SLICE_LIT("FULL_OBJECT")) && ck_is_crc(alg)) {
        c->ck_type = STORE_CK_FULL_OBJECT;
    } else if (qr_slice_ieq(t, QR_SLICE_LIT("COMPOSITE")) && alg != QR_CK_CRC64NVME) {
        c->ck_type = STORE_CK_COMPOSITE;
    } else {
        s3_fail_code(op, 400, "InvalidArgument",
                     "The checksum type is not supported with the checksum algorithm.");
        return false;
    }
    return true;
}

void s3_create_mpu(struct s3_op *op)
{
    struct store_mpu_create c = {.bucket = op->bucket, .key = op->key};
    struct qr_slice tagging;
    char id[65];
    if (!s3_lock_headers(op, &c.lock))
        return;
    enum qr_err e = s3_meta_from_request(op, &c.headers);
    if (!e && s3_hdr(op, "x-amz-tagging", &tagging))
        e = s3_tags_from_header(op, tagging, &c.tags);
    if (e) {
        s3_fail(op, e);
        return;
    }
    if (!create_checksum(op, &c) || !s3_sse_for_write(op, &c.sse))
        return;
    e = store_mpu_create(op->store, &c, id);
    if (e) {
        s3_fail(op, e);
        return;
    }
    xml_begin(&op->body, "InitiateMultipartUploadResult", S3_NS);
    xml_elem(&op->body, "Bucket", op->bucket);
    xml_elem(&op->body, "Key", op->key);
    xml_elem_s(&op->body, "UploadId", id);
    xml_close(&op->body, "InitiateMultipartUploadResult");
    enum qr_ck alg;
    if (c.ck_alg != STORE_CK_NONE && s3_ck_from_store(c.ck_alg, &alg)) {
        s3_header_s(op, "x-amz-checksum-algorithm", qr_ck_name(alg));
        s3_header_s(op, "x-amz-checksum-type", s3_ck_type_name(c.ck_type));
    }
    s3_sse_headers(op, &c.sse);
    op->status = 200;
}

/* ---- UploadPart ---- */

/*
 * The part's checksum: the one the client sent, else (when the upload has an
 * algorithm) computed here. S3 insists composite uploads send one per part; computing
 * it is friendlier and gives the same stored value. A part checksummed with another
 * algorithm than the upload's is refused as AWS refuses it.
 */
static bool part_checksum(struct s3_op *op, const struct store_upload_info *u,
                          const struct s3_body *body, struct store_checksum *out)
{
    enum qr_ck alg;
    out->alg = STORE_CK_NONE;
    if (!upload_alg(u, &alg)) {
        if (body->have_ck)
            ck_set(out, body->ck_alg, STORE_CK_FULL_OBJECT, body->ck);
        return true;
    }
    if (body->have_ck && body->ck_alg != alg) {
        s3_fail_code(op, 400, "InvalidRequest",
                     "Checksum Type mismatch occurred, the part's checksum algorithm is not "
                     "the one the upload was created with.");
        return false;
    }
    if (body->have_ck) {
        ck_set(out, alg, STORE_CK_FULL_OBJECT, body->ck);
    } else {
        uint8_t d[QR_CK_MAX_DIGEST];
        if (!s3_body_digest(op, body, alg, d))
            return false;
        ck_set(out, alg, STORE_CK_FULL_OBJECT, d);
    }
    return true;
}

void s3_upload_part(struct s3_op *op)
{
    struct store_part part = {.mtime_ms = op->now_ms};
    struct store_upload_info u;
    struct qr_slice id;
    struct s3_body body;
    qr_buf_init(&body.decoded, 0);
    if (!part_number_param(op, &part.number) || !find_upload(op, &id, &u) ||
        !s3_sse_for_part(op, &u.sse, &part.sse) || !s3_sse_stream_fits(op, &part.sse))
        return;
    /* body.c may hold a decoded buffer even when it fails: dispose it on every path. */
    if (!s3_body_read(op, QR_MAX_SINGLE_PUT, S3_BODY_PAYLOAD, &body) ||
        !part_checksum(op, &u, &body, &part.ck))
        goto out;
    part.size = body.data.len;
    if (part.sse.mode == STORE_SSE_C)
        qr_random_hex(part.etag, 16); /* as S3's SSE-C part ETags, not the MD5 */
    else
        qr_hex_encode(body.md5, sizeof(body.md5), part.etag);
    struct api_streamed *sb = op->ar->streamed;
    if (sb != NULL && sb->blob != NULL && body.data.len == sb->len &&
        (const void *)body.data.p == (const void *)op->ar->req->entity.base) {
        /* the body is already in its blob: the store takes it instead of writing it again */
        part.has_blob = true;
        part.blob = sb->blob;
    } else if (sb != NULL && sb->blob != NULL && sb->sse.mode != STORE_SSE_NONE) {
        s3_fail(op, QR_E_INTERNAL); /* the mapping is ciphertext: never stored as the body */
        goto out;
    }
    enum qr_err e = store_mpu_put_part(op->store, op->bucket, op->key, id, &part, body.data);
    if (part.has_blob)
        api_stream_adopted(op->ar);
    if (e) {
        s3_fail(op, e);
        goto out;
    }
    s3_header_etag(op, part.etag);
    s3_checksum_headers(op, &part.ck);
    s3_sse_headers(op, &part.sse);
    op->status = 200;
out:
    OPENSSL_cleanse(part.sse.key, sizeof(part.sse.key));
    s3_body_dispose(&body);
}

/* ---- UploadPartCopy ---- */

/* x-amz-copy-source-range: "bytes=first-last", inclusive, within the source. */
static bool copy_range(struct s3_op *op, uint64_t size, uint64_t *out_off, uint64_t *out_len)
{
    struct qr_slice r;
    if (!s3_hdr(op, "x-amz-copy-source-range", &r)) {
        *out_off = 0;
        *out_len = size;
        return true;
    }
    struct qr_slice pfx = QR_SLICE_LIT("bytes=");
    size_t dash = pfx.len;
    uint64_t a, b;
    if (!qr_slice_starts(r, pfx))
        goto bad;
    while (dash < r.len && r.p[dash] != '-')
        dash++;
    if (dash == r.len || !qr_slice_u64(qr_slice(r.p + pfx.len, dash - pfx.len), UINT64_MAX, &a) ||
        !qr_slice_u64(qr_slice(r.p + dash + 1, r.len - dash - 1), UINT64_MAX, &b) || a > b)
        goto bad;
    if (b >= size) {
        s3_fail_code(op, 400, "InvalidArgument",
                     "Range specified is not valid for source object of the given size.");
        return false;
    }
    *out_off = a;
    *out_len = b - a + 1;
    return true;
bad:
    s3_fail_code(op, 400, "InvalidArgument",
                 "The x-amz-copy-source-range value must be of the form bytes=first-last "
                 "where first and last are the zero-based offsets of the first and last "
                 "bytes to copy");
    return false;
}

/* Whether an If-Match style header value names etag ("*" names any). */
/* The copied part's ETag (MD5 of the range, as AWS returns it) and, when the upload has
 * an algorithm, its checksum: one read of the range. */
static enum qr_err copy_part_digests(struct s3_op *op, const struct store_upload_info *u,
                                     const struct store_obj *src, uint64_t off, uint64_t len,
                                     struct store_part *part)
{
    struct qr_ck_state st[2];
    enum qr_ck alg;
    uint8_t md5[16], d[QR_CK_MAX_DIGEST];
    bool with_ck = upload_alg(u, &alg);
    qr_ck_init(&st[0], QR_CK_MD5);
    if (with_ck)
        qr_ck_init(&st[1], alg);
    enum qr_err e = s3_digest_range(op, src, off, len, st, with_ck ? 2 : 1);
    qr_ck_final(&st[0], md5); /* final also disposes: always run it */
    if (with_ck)
        qr_ck_final(&st[1], d);
    if (e)
        return e;
    qr_hex_encode(md5, sizeof(md5), part->etag);
    part->ck.alg = STORE_CK_NONE;
    if (with_ck)
        ck_set(&part->ck, alg, STORE_CK_FULL_OBJECT, d);
    return QR_OK;
}

static void copy_part_result(struct s3_op *op, const struct store_part *part)
{
    xml_begin(&op->body, "CopyPartResult", S3_NS);
    xml_etag(&op->body, part->etag);
    xml_elem_time(&op->body, "LastModified", part->mtime_ms);
    xml_checksum(&op->body, &part->ck);
    xml_close(&op->body, "CopyPartResult");
    s3_checksum_headers(op, &part->ck);
    op->status = 200;
}

void s3_upload_part_copy(struct s3_op *op)
{
    struct store_part part = {.mtime_ms = op->now_ms};
    struct store_upload_info u;
    struct store_obj src;
    struct qr_slice id, sb, sk, sv;
    uint64_t off, len;
    if (!part_number_param(op, &part.number) || !find_upload(op, &id, &u) ||
        !s3_copy_source_v(op, &sb, &sk, &sv))
        return;
    enum qr_err e = store_obj_get_v(op->reader, sb, sk, sv, true, op->pool, &src);
    if (!e && src.is_marker) {
        s3_fail_code(op, 400, "InvalidRequest",
                     "The source of a copy request may not specifically refer to a delete marker "
                     "by version id.");
        return;
    }
    if (e) {
        if (e == QR_E_NO_SUCH_KEY && sv.len)
            s3_fail_code(op, 404, "NoSuchVersion", "The specified version does not exist.");
        else
            s3_fail(op, e);
        return;
    }
    if (src.versioned)
        s3_header_s(op, "x-amz-copy-source-version-id", src.version_id);
    if (!s3_copy_source_conditions(op, &src)) {
        s3_fail(op, QR_E_PRECONDITION);
        return;
    }
    if (!s3_sse_open(op, &src, true) || !s3_sse_for_part(op, &u.sse, &part.sse) ||
        !s3_sse_copy_shares(op, &src.sse, &part.sse) || !copy_range(op, src.size, &off, &len))
        return;
    if (len > QR_MAX_SINGLE_PUT) {
        s3_fail_code(op, 400, "InvalidRequest",
                     "The specified copy source is larger than the maximum allowable size "
                     "for a copy source: 5368709120");
        return;
    }
    part.size = len;
    e = copy_part_digests(op, &u, &src, off, len, &part);
    if (!e && part.sse.mode == STORE_SSE_C)
        qr_random_hex(part.etag, 16); /* as UploadPart's: S3's SSE-C ETags are not MD5s */
    if (!e)
        e = store_mpu_copy_part_v(op->store, op->bucket, op->key, id, &part, sb, sk,
                                  qr_slice_cstr(src.version_id), off, len);
    if (e) {
        s3_fail(op, e);
        return;
    }
    copy_part_result(op, &part);
    s3_sse_headers(op, &part.sse);
    OPENSSL_cleanse(part.sse.key, sizeof(part.sse.key));
}

/* ---- CompleteMultipartUpload ---- */

/* One <Part> of the request, in request order. */
struct listed_part {
    uint32_t number;
    const char *etag;   /* no quotes; lives in op->pool */
    struct qr_slice ck; /* the client's Checksum<ALG> for the upload's algorithm,
                           borrowed from the document; empty when not given */
};

/* What Complete computes before asking the store. */
struct complete_plan {
    struct listed_part *parts; /* n of them, in op->pool */
    size_t n;
    uint8_t md5s[16]; /* MD5 of the concatenated binary part MD5s */
};

/* Decodes one <Part>: PartNumber, ETag, and the Checksum<ALG> of the upload's alg. */
static bool parse_part(struct s3_op *op, xmlNodePtr n, const char *ck_tag, struct listed_part *out)
{
    xmlNodePtr num = xml_child(n, "PartNumber"), tag = xml_child(n, "ETag");
    uint64_t v;
    char etag[80];
    if (!num || !tag)
        return s3_fail_malformed(op);
    if (!qr_slice_u64(xml_text(num), UINT64_MAX, &v))
        return s3_fail_malformed(op);
    if (v == 0 || v > QR_MAX_PARTS) {
        s3_fail_code(op, 400, "InvalidArgument",
                     "Part number must be an integer between 1 and 10000, inclusive");
        return false;
    }
    if (!s3_etag_parse(xml_text(tag), etag)) {
        s3_fail(op, QR_E_INVALID_PART);
        return false;
    }
    out->number = (uint32_t)v;
    out->etag = h2o_strdup(op->pool, etag, strlen(etag)).base;
    out->ck = ck_tag ? xml_text(xml_child(n, ck_tag)) : qr_slice(NULL, 0);
    return true;
}

/* Decodes the request body into plan->parts. ck_tag: "ChecksumCRC32" etc. or NULL. */
static bool parse_complete(struct s3_op *op, xmlDocPtr doc, const char *ck_tag,
                           struct complete_plan *plan)
{
    xmlNodePtr root = xml_root(doc, "CompleteMultipartUpload");
    size_t n = 0;
    if (!root)
        return s3_fail_malformed(op);
    for (xmlNodePtr p = xml_child(root, "Part"); p; p = xml_next(p, "Part"))
        if (++n > QR_MAX_PARTS)
            return s3_fail_malformed(op);
    if (n == 0)
        return s3_fail_malformed(op);
    plan->parts = h2o_mem_alloc_pool(op->pool, sizeof(*plan->parts) * n);
    plan->n = 0;
    for (xmlNodePtr p = xml_child(root, "Part"); p; p = xml_next(p, "Part"))
        if (!parse_part(op, p, ck_tag, &plan->parts[plan->n++]))
            return false;
    return true;
}

/* MD5 over the binary MD5s of the listed parts. A listed ETag that is not an MD5 names
 * no part this server made, so it is an InvalidPart. */
static bool md5_of_md5s(struct s3_op *op, struct complete_plan *plan)
{
    struct qr_ck_state st;
    uint8_t md5[16];
    bool ok = true;
    qr_ck_init(&st, QR_CK_MD5);
    for (size_t i = 0; i < plan->n && ok; i++) {
        const char *t = plan->parts[i].etag;
        size_t tl = strlen(t);
        ok = tl == 32 && qr_hex_decode(t, tl, md5, sizeof(md5)) == QR_OK;
        if (ok)
            qr_ck_update(&st, md5, sizeof(md5));
    }
    qr_ck_final(&st, plan->md5s);
    if (!ok)
        s3_fail(op, QR_E_INVALID_PART);
    return ok;
}

/* The stored parts of the upload, indexed by part number (NULL: not uploaded). */
static enum qr_err stored_parts(struct s3_op *op, struct qr_slice id, struct store_part ***out)
{
    struct store_part **by_num = h2o_mem_alloc_pool(op->pool, sizeof(*by_num) * (QR_MAX_PARTS + 1));
    memset(by_num, 0, sizeof(*by_num) * (QR_MAX_PARTS + 1));
    uint32_t after = 0;
    bool more = true;
    while (more) {
        struct store_part *page;
        size_t n;
        enum qr_err e = store_mpu_list_parts(op->reader, op->bucket, op->key, id, after, 1000,
                                             op->pool, &page, &n, &more);
        if (e)
            return e;
        for (size_t i = 0; i < n; i++)
            if (page[i].number >= 1 && page[i].number <= QR_MAX_PARTS)
                by_num[page[i].number] = &page[i];
        if (n == 0)
            break;
        after = page[n - 1].number;
    }
    *out = by_num;
    return QR_OK;
}

/* The stored checksum of a listed part, checked against the one the client listed. */
static bool listed_part_ck(struct s3_op *op, struct store_part *const *by_num,
                           const struct listed_part *lp, enum qr_ck alg, uint8_t *out)
{
    const struct store_part *sp = by_num[lp->number];
    size_t got;
    if (!sp || sp->ck.alg != s3_ck_to_store(alg) ||
        qr_b64_decode(sp->ck.b64, strlen(sp->ck.b64), out, QR_CK_MAX_DIGEST, &got) != QR_OK ||
        got != qr_ck_len(alg) || (lp->ck.len && !qr_slice_eq(lp->ck, qr_slice_cstr(sp->ck.b64)))) {
        s3_fail(op, QR_E_INVALID_PART);
        return false;
    }
    return true;
}

/*
 * The object's checksum from the parts' stored checksums: composite = digest of the
 * concatenated raw part digests, "<b64>-N"; full-object = the parts' CRCs combined in
 * order (the CRC of the whole object, without rereading it).
 */
static bool final_checksum(struct s3_op *op, const struct store_upload_info *u, struct qr_slice id,
                           const struct complete_plan *plan, struct store_checksum *out)
{
    struct store_part **by_num;
    struct qr_ck_state st;
    enum qr_ck alg;
    uint8_t d[QR_CK_MAX_DIGEST];
    uint64_t crc = 0;
    out->alg = STORE_CK_NONE;
    if (!upload_alg(u, &alg))
        return true;
    enum qr_err e = stored_parts(op, id, &by_num);
    if (e) {
        s3_fail(op, e);
        return false;
    }
    bool composite = u->ck_type == STORE_CK_COMPOSITE;
    if (composite)
        qr_ck_init(&st, alg);
    bool ok = true;
    for (size_t i = 0; i < plan->n && ok; i++) {
        ok = listed_part_ck(op, by_num, &plan->parts[i], alg, d);
        if (ok && composite)
            qr_ck_update(&st, d, qr_ck_len(alg));
        else if (ok)
            crc = i == 0 ? qr_ck_crc_from_bytes(alg, d)
                         : qr_ck_crc_combine(alg, crc, qr_ck_crc_from_bytes(alg, d),
                                             by_num[plan->parts[i].number]->size);
    }
    if (composite)
        qr_ck_final(&st, d);
    else
        qr_ck_crc_to_bytes(alg, crc, d);
    if (!ok)
        return false;
    ck_set(out, alg, u->ck_type, d);
    if (composite) {
        size_t l = strlen(out->b64);
        snprintf(out->b64 + l, sizeof(out->b64) - l, "-%zu", plan->n);
    }
    return true;
}

/* http://HOST/bucket/key (path style) or http://bucket.DOMAIN/key (virtual-hosted),
 * the key percent-encoded as S3 does in Location. */
static enum qr_err location(struct s3_op *op, struct qr_buf *out)
{
    struct qr_slice host = op->ar->host;
    bool vhost = qr_slice_starts(host, op->bucket) && host.len > op->bucket.len &&
                 host.p[op->bucket.len] == '.';
    /* The Host as sent, port included: clients fetch the object from this URL. */
    const h2o_iovec_t *auth = &op->ar->req->input.authority;
    enum qr_err e = qr_buf_adds(out, "http://");
    if (!e)
        e = qr_buf_add(out, auth->base, auth->len);
    if (!e)
        e = qr_buf_adds(out, "/");
    if (!e && !vhost)
        e = qr_uri_encode(op->bucket, false, out);
    if (!e && !vhost)
        e = qr_buf_adds(out, "/");
    if (!e)
        e = qr_uri_encode(op->key, true, out);
    return e;
}

/*
 * The object checksum a client may state on Complete (x-amz-checksum-<alg>, e.g. a
 * whole-file CRC from s3transfer) and x-amz-checksum-type: the type must be the
 * upload's, the value must be the one computed from the parts (a composite value may
 * come with or without its "-N").
 */
static bool complete_claims_hold(struct s3_op *op, const struct store_upload_info *u,
                                 const struct store_checksum *ck)
{
    struct qr_slice v;
    enum qr_ck alg;
    char name[40];
    if (s3_hdr(op, "x-amz-checksum-type", &v) &&
        (u->ck_alg == STORE_CK_NONE ||
         !qr_slice_ieq(v, qr_slice_cstr(s3_ck_type_name(u->ck_type))))) {
        s3_fail_code(op, 400, "InvalidRequest",
                     "The complete request must use the checksum type the upload was "
                     "created with.");
        return false;
    }
    if (ck->alg == STORE_CK_NONE || !s3_ck_from_store(ck->alg, &alg))
        return true;
    int n = snprintf(name, sizeof(name), "x-amz-checksum-%s", qr_ck_name(alg));
    for (int i = 15; i < n; i++)
        name[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
    if (!s3_hdr(op, name, &v))
        return true;
    struct qr_slice have = qr_slice_cstr(ck->b64);
    if (qr_slice_eq(v, have) || (ck->type == STORE_CK_COMPOSITE && qr_slice_starts(have, v) &&
                                 v.len < have.len && have.p[v.len] == '-'))
        return true;
    s3_fail(op, QR_E_BAD_DIGEST);
    return false;
}

static void complete_result(struct s3_op *op, const struct store_mpu_complete *c)
{
    struct qr_buf loc;
    qr_buf_init(&loc, 64 * 1024); /* host + bucket + 3 * QR_MAX_KEY_LEN fit easily */
    xml_begin(&op->body, "CompleteMultipartUploadResult", S3_NS);
    if (location(op, &loc) == QR_OK)
        xml_elem(&op->body, "Location", qr_slice(loc.p, loc.len));
    xml_elem(&op->body, "Bucket", op->bucket);
    xml_elem(&op->body, "Key", op->key);
    xml_etag(&op->body, c->etag);
    if (c->ck.alg != STORE_CK_NONE) {
        xml_checksum(&op->body, &c->ck);
        xml_elem_s(&op->body, "ChecksumType", s3_ck_type_name(c->ck.type));
    }
    xml_close(&op->body, "CompleteMultipartUploadResult");
    op->status = 200;
    qr_buf_dispose(&loc);
}

/* x-amz-mp-object-size: the size the client expects the object to have; a mismatch
 * is 400 InvalidRequest (model). The listed parts' stored sizes, summed. */
static bool object_size_claim_holds(struct s3_op *op, struct qr_slice id,
                                    const struct complete_plan *plan)
{
    struct qr_slice v;
    struct store_part **by_num;
    uint64_t want, have = 0;
    if (!s3_hdr(op, "x-amz-mp-object-size", &v))
        return true;
    if (!qr_slice_u64(v, INT64_MAX, &want)) {
        s3_fail_code(op, 400, "InvalidArgument", "Invalid x-amz-mp-object-size.");
        return false;
    }
    enum qr_err e = stored_parts(op, id, &by_num);
    if (e) {
        s3_fail(op, e);
        return false;
    }
    for (size_t i = 0; i < plan->n; i++) {
        const struct store_part *sp = by_num[plan->parts[i].number];
        if (!sp) {
            s3_fail(op, QR_E_INVALID_PART);
            return false;
        }
        have += sp->size; /* at most 10000 parts of at most 5 GiB: no overflow */
    }
    if (have == want)
        return true;
    s3_fail_code(op, 400, "InvalidRequest",
                 "The provided x-amz-mp-object-size does not match the size of the parts.");
    return false;
}

/* Decodes the body and computes the final ETag and checksum into c. */
static bool complete_prepare(struct s3_op *op, const struct store_upload_info *u,
                             struct qr_slice id, struct complete_plan *plan,
                             struct store_mpu_complete *c)
{
    struct s3_body body;
    xmlDocPtr doc = NULL;
    enum qr_ck alg;
    char ck_tag[32] = "";
    bool ok = false;
    if (upload_alg(u, &alg))
        snprintf(ck_tag, sizeof(ck_tag), "Checksum%s", qr_ck_name(alg));
    if (!s3_body_read(op, QR_MAX_XML_BODY, S3_BODY_COMPLETE, &body))
        goto out;
    if (xml_parse(body.data, &doc) != QR_OK) {
        s3_fail_malformed(op);
        goto out;
    }
    if (!parse_complete(op, doc, u->ck_alg != STORE_CK_NONE ? ck_tag : NULL, plan) ||
        !md5_of_md5s(op, plan) || !object_size_claim_holds(op, id, plan) ||
        !final_checksum(op, u, id, plan, &c->ck) || !complete_claims_hold(op, u, &c->ck))
        goto out;
    ok = true;
out:
    if (doc)
        xmlFreeDoc(doc);
    s3_body_dispose(&body);
    return ok;
}

/*
 * A retry of a completion that already succeeded (SDKs retry after a lost response)
 * answers what the first answer said, as S3 does, as long as the object it made is
 * still the one at the key; otherwise the upload is simply gone.
 */
static void complete_retry(struct s3_op *op, struct qr_slice id)
{
    struct store_mpu_done done;
    struct store_obj cur;
    enum qr_err e = store_mpu_completed(op->reader, op->bucket, op->key, id, &done);
    /* on a versioned bucket the version it made must still be there, current or not */
    if (!e)
        e = store_obj_get_v(op->reader, op->bucket, op->key, qr_slice_cstr(done.version_id), false,
                            op->pool, &cur);
    if (!e && (cur.is_marker || strcmp(cur.etag, done.etag) != 0))
        e = QR_E_NO_SUCH_UPLOAD;
    if (e) {
        s3_fail(op, e == QR_E_NO_SUCH_KEY ? QR_E_NO_SUCH_UPLOAD : e);
        return;
    }
    if (done.version_id[0])
        s3_header_s(op, "x-amz-version-id", done.version_id);
    struct store_mpu_complete c = {.etag = done.etag, .ck = done.ck};
    complete_result(op, &c);
}

void s3_complete_mpu(struct s3_op *op)
{
    struct store_upload_info u;
    struct store_mpu_complete c = {.bucket = op->bucket, .key = op->key};
    struct complete_plan plan;
    struct store_put_result res;
    char etag[80];
    if (!upload_id_param(op, &c.upload_id))
        return;
    enum qr_err e = store_mpu_get(op->reader, op->bucket, op->key, c.upload_id, op->pool, &u);
    if (e == QR_E_NO_SUCH_UPLOAD) {
        complete_retry(op, c.upload_id);
        return;
    }
    if (e) {
        s3_fail(op, e);
        return;
    }
    struct store_sse given;
    struct qr_slice v;
    /* SSE-C headers are optional here; given, they must be the upload's */
    if (s3_hdr(op, "x-amz-server-side-encryption-customer-key", &v) &&
        !s3_sse_for_part(op, &u.sse, &given))
        return;
    if (!s3_write_conditions(op, &c.cond) || !complete_prepare(op, &u, c.upload_id, &plan, &c))
        return;
    if (op->directory)
        s3_new_etag(op, plan.md5s, etag); /* opaque on directory buckets */
    else {
        qr_hex_encode(plan.md5s, sizeof(plan.md5s), etag);
        snprintf(etag + 32, sizeof(etag) - 32, "-%zu", plan.n);
    }
    uint32_t *numbers = h2o_mem_alloc_pool(op->pool, sizeof(*numbers) * plan.n);
    const char **etags = h2o_mem_alloc_pool(op->pool, sizeof(*etags) * plan.n);
    for (size_t i = 0; i < plan.n; i++) {
        numbers[i] = plan.parts[i].number;
        etags[i] = plan.parts[i].etag;
    }
    c.numbers = numbers;
    c.etags = etags;
    c.n = plan.n;
    c.etag = etag;
    e = store_mpu_complete(op->store, &c, &res);
    if (e == QR_E_NO_SUCH_UPLOAD) {
        complete_retry(op, c.upload_id); /* a concurrent retry completed it first */
        return;
    }
    if (e) {
        s3_fail(op, e);
        return;
    }
    if (res.version_id[0])
        s3_header_s(op, "x-amz-version-id", res.version_id);
    complete_result(op, &c);
    s3_sse_headers(op, &u.sse);
}

/* ---- AbortMultipartUpload ---- */

void s3_abort_mpu(struct s3_op *op)
{
    struct qr_slice id, v;
    int64_t initiated;
    if (!upload_id_param(op, &id))
        return;
    /* x-amz-if-match-initiated-time: directory buckets (the route table refuses it on
     * general purpose ones) */
    bool cond = s3_hdr(op, "x-amz-if-match-initiated-time", &v);
    if (cond && !qr_time_parse_http(v, &initiated)) {
        s3_fail_code(op, 400, "InvalidArgument", "Invalid x-amz-if-match-initiated-time.");
        return;
    }
    enum qr_err e =
        cond ? store_mpu_abort_if_initiated(op->store, op->bucket, op->key, id, initiated)
             : store_mpu_abort(op->store, op->bucket, op->key, id);
    if (e) {
        s3_fail(op, e);
        return;
    }
    op->status = 204;
}
