/*
 * object.c - PutObject, GetObject/HeadObject, DeleteObject, DeleteObjects and
 * CopyObject. GET and HEAD run on the loop (one indexed row read, then bytes straight
 * from the row or the blob files); the writes run on a worker and return only once the
 * store says the change is durable.
 */
#include "api/s3/s3_int.h"

#include <stdio.h>
#include <string.h>

#include <libxml/tree.h>
#include <openssl/crypto.h>

#include "api/xml.h"
#include "obj/obj.h"
#include "util/codec.h"
#include "util/limits.h"

static void header_time(struct s3_op *op, const char *name, int64_t ms)
{
    char t[32];
    qr_time_http(ms, t);
    s3_header_s(op, name, t);
}

/* ---- PutObject ---- */

/* What a PutObject holds from its decoding to its answer. */
struct put_state {
    struct store_put put;
    struct s3_body body;
    char etag[80];
    char version_id[40]; /* the new version's, from the store ("" if never versioned) */
};

/* Everything before the store: conditions, headers, tags, the body and its digests.
 * False with op failed. ps->body must be disposed whatever it returns. */
static bool put_prepare(struct s3_op *op, struct put_state *ps)
{
    struct store_put *put = &ps->put;
    struct qr_slice v;
    memset(ps, 0, sizeof(*ps));
    qr_buf_init(&ps->body.decoded, 0);
    if (!s3_write_conditions(op, &put->cond) || s3_meta_from_request(op, &put->headers) != QR_OK ||
        !s3_lock_headers(op, &put->lock))
        return false;
    if (s3_hdr(op, "x-amz-tagging", &v)) {
        if (op->directory) {
            s3_fail_code(op, 501, "NotImplemented",
                         "Object tagging is not supported for directory buckets.");
            return false;
        }
        if (s3_tags_from_header(op, v, &put->tags) != QR_OK)
            return false;
    }
    if (!s3_sse_for_write(op, &put->sse) || !s3_sse_stream_fits(op, &put->sse) ||
        !s3_body_read(op, QR_MAX_SINGLE_PUT, S3_BODY_PAYLOAD, &ps->body))
        return false;
    s3_sse_etag(op, &put->sse, ps->body.md5, ps->etag);
    put->bucket = op->bucket;
    put->key = op->key;
    put->data = ps->body.data;
    put->etag = ps->etag;
    put->headers = s3_meta_with_md5(op, put->headers, ps->body.md5);
    if (op->ar->streamed != NULL && op->ar->streamed->blob != NULL &&
        (const void *)ps->body.data.p == (const void *)op->ar->req->entity.base &&
        ps->body.data.len == op->ar->streamed->len) {
        /* the body is already in its blob: the store takes it instead of writing it again */
        put->has_blob = true;
        put->blob = op->ar->streamed->blob;
    } else if (op->ar->streamed != NULL && op->ar->streamed->blob != NULL &&
               op->ar->streamed->sse.mode != STORE_SSE_NONE) {
        s3_fail(op, QR_E_INTERNAL); /* the mapping is ciphertext: never stored as the body */
        return false;
    }
    if (ps->body.have_ck) {
        put->ck.alg = s3_ck_to_store(ps->body.ck_alg);
        put->ck.type = STORE_CK_FULL_OBJECT;
        qr_b64_encode(ps->body.ck, qr_ck_len(ps->body.ck_alg), put->ck.b64);
    }
    return true;
}

static void put_answer(struct s3_op *op, struct put_state *ps, enum qr_err e)
{
    /* an SSE-C key is needed no longer than the write: not left in the pool */
    OPENSSL_cleanse(ps->put.sse.key, sizeof(ps->put.sse.key));
    if (e) {
        s3_fail(op, e);
        return;
    }
    s3_header_etag(op, ps->etag);
    if (ps->version_id[0])
        s3_header_s(op, "x-amz-version-id", ps->version_id);
    s3_checksum_headers(op, &ps->put.ck);
    s3_sse_headers(op, &ps->put.sse);
    if (op->directory)
        s3_header_s(op, "x-amz-storage-class", "EXPRESS_ONEZONE");
}

void s3_put_object(struct s3_op *op)
{
    struct put_state ps;
    if (put_prepare(op, &ps)) {
        struct store_put_result res;
        enum qr_err e = store_obj_put(op->store, &ps.put, &res);
        if (ps.put.has_blob)
            api_stream_adopted(op->ar); /* kept or discarded by the store, either way */
        if (!e)
            memcpy(ps.version_id, res.version_id, sizeof(ps.version_id));
        put_answer(op, &ps, e);
    }
    s3_body_dispose(&ps.body);
}

/* ---- PutObject of a small body: no worker ---- */

/* Loop thread, once the writer has committed (or failed) the row. */
static void put_async_finish(struct qr_job *job)
{
    struct s3_op *op = H2O_STRUCT_FROM_MEMBER(struct s3_op, job, job);
    struct put_state *ps = op->put_state;
    put_answer(op, ps, op->async_err);
    s3_body_dispose(&ps->body);
    s3_finish(op);
}

/* Writer thread: only records the outcome and hands the request back to its loop. */
static void put_async_done(void *arg, enum qr_err err, const struct store_put_result *res)
{
    struct s3_op *op = arg;
    op->async_err = err;
    if (!err)
        memcpy(op->put_state->version_id, res->version_id, sizeof(op->put_state->version_id));
    server_job_return(&op->job);
}

bool s3_put_object_async(struct s3_op *op)
{
    struct put_state *ps = h2o_mem_alloc_pool(op->pool, sizeof(*ps));
    if (!put_prepare(op, ps)) {
        s3_body_dispose(&ps->body);
        return false;
    }
    if (ps->put.has_blob) {
        /* the row-only path would store the blob's mapping (maybe ciphertext) as bytes */
        s3_body_dispose(&ps->body);
        s3_fail(op, QR_E_INTERNAL);
        return false;
    }
    op->put_state = ps;
    op->job.thread = op->ar->thread;
    op->job.done = put_async_finish;
    if (store_obj_put_async(op->store, &ps->put, put_async_done, op))
        return true;
    s3_body_dispose(&ps->body);
    s3_fail(op, QR_E_INTERNAL); /* the caller checked the size against the row limit */
    return false;
}

/* ---- GetObject / HeadObject ---- */

/* RFC 7232 order: If-Match, If-Unmodified-Since, If-None-Match, If-Modified-Since. */
static enum qr_err check_read_conditions(struct s3_op *op, const struct store_obj *o)
{
    struct qr_slice v;
    int64_t t;
    char etag[80];
    bool have_match = s3_hdr(op, "if-match", &v);
    if (have_match && !qr_slice_eq_lit(v, "*") &&
        (!s3_etag_parse(v, etag) || strcmp(etag, o->etag) != 0))
        return QR_E_PRECONDITION;
    if (!have_match && s3_hdr(op, "if-unmodified-since", &v) && qr_time_parse_http(v, &t) &&
        o->mtime_ms / 1000 > t / 1000)
        return QR_E_PRECONDITION;
    bool have_none = s3_hdr(op, "if-none-match", &v);
    if (have_none &&
        (qr_slice_eq_lit(v, "*") || (s3_etag_parse(v, etag) && strcmp(etag, o->etag) == 0)))
        return QR_E_NOT_MODIFIED;
    if (!have_none && s3_hdr(op, "if-modified-since", &v) && qr_time_parse_http(v, &t) &&
        o->mtime_ms / 1000 <= t / 1000)
        return QR_E_NOT_MODIFIED;
    return QR_OK;
}

static const struct {
    const char *param;
    const char *header;
} overrides[] = {
    {"response-content-type", "Content-Type"},
    {"response-content-language", "content-language"},
    {"response-expires", "expires"},
    {"response-cache-control", "cache-control"},
    {"response-content-disposition", "content-disposition"},
    {"response-content-encoding", "content-encoding"},
};

static void apply_overrides(struct s3_op *op)
{
    for (size_t i = 0; i < sizeof(overrides) / sizeof(*overrides); i++) {
        struct qr_slice v;
        if (!s3_param(op, overrides[i].param, &v))
            continue;
        size_t j;
        for (j = 0; j < op->n_hdrs; j++)
            if (qr_slice_ieq(qr_slice_cstr(op->hdrs[j].name), qr_slice_cstr(overrides[i].header)))
                break;
        if (j < op->n_hdrs) {
            h2o_iovec_t c = h2o_strdup(op->pool, (const char *)v.p, v.len);
            op->hdrs[j].value = c.base;
            op->hdrs[j].len = c.len;
        } else {
            s3_header(op, overrides[i].header, (const char *)v.p, v.len);
        }
    }
}

static void object_headers(struct s3_op *op, const struct store_obj *o)
{
    s3_header_etag(op, o->etag);
    header_time(op, "Last-Modified", o->mtime_ms);
    s3_header_s(op, "Accept-Ranges", "bytes");
    s3_meta_to_response(op, o->headers);
    s3_sse_headers(op, &o->sse);
    if (o->tags.len) {
        size_t n = 1;
        for (size_t i = 0; i < o->tags.len; i++)
            n += o->tags.p[i] == '&';
        char c[24];
        int l = snprintf(c, sizeof(c), "%zu", n);
        s3_header(op, "x-amz-tagging-count", c, (size_t)l);
    }
}

void s3_get_object(struct s3_op *op)
{
    struct api_req *ar = op->ar;
    bool head =
        h2o_memis(ar->req->input.method.base, ar->req->input.method.len, H2O_STRLIT("HEAD"));
    struct qr_slice v, part_param;
    bool by_part = s3_param(op, "partNumber", &part_param);
    struct qr_slice ver = s3_version_param(op);
    enum qr_err e =
        store_obj_get_v(op->reader, op->bucket, op->key, ver, !head, op->pool, &op->obj);
    if (!e && op->obj.is_marker) {
        /* a delete marker named by its id: S3 answers 405 and says what it is */
        s3_header_s(op, "x-amz-delete-marker", "true");
        s3_header_s(op, "x-amz-version-id", op->obj.version_id);
        header_time(op, "Last-Modified", op->obj.mtime_ms);
        s3_header_s(op, "Allow", "DELETE");
        s3_fail_code(op, 405, "MethodNotAllowed",
                     "The specified method is not allowed against this resource.");
        return;
    }
    if (e && e != QR_E_NO_SUCH_BUCKET) {
        s3_fail_version(op, e, ver, &op->obj);
        return;
    }
    if (!e && !s3_sse_open(op, &op->obj, false))
        return;
    if (!e)
        e = check_read_conditions(op, &op->obj);
    if (e == QR_E_NOT_MODIFIED) {
        s3_header_etag(op, op->obj.etag);
        header_time(op, "Last-Modified", op->obj.mtime_ms);
    }
    if (e) {
        s3_fail(op, e);
        return;
    }
    const struct store_obj *o = &op->obj;
    uint64_t part_off = 0, part_len = 0;
    if (by_part && !s3_part_range(op, o, part_param, &part_off, &part_len))
        return;
    object_headers(op, o);
    s3_version_headers(op, o);
    s3_lock_response_headers(op, &o->lock);
    op->off = 0;
    op->len = o->size;
    op->status = 200;
    bool ranged = false;
    if (by_part) {
        /* A part is a range of the object; an empty one (empty object) has none: 200. */
        op->off = part_off;
        op->len = part_len;
        ranged = part_len > 0;
    } else if (s3_hdr(op, "range", &v)) {
        e = qr_range_parse(v, o->size, &op->off, &op->len);
        if (e == QR_E_INVALID_RANGE) {
            char cr[48];
            int l = snprintf(cr, sizeof(cr), "bytes */%llu", (unsigned long long)o->size);
            s3_header(op, "Content-Range", cr, (size_t)l);
            s3_fail(op, e);
            return;
        }
        /* A malformed or multi-range header is ignored: S3 then serves the whole object. */
        ranged = e == QR_OK;
        if (!ranged) {
            op->off = 0;
            op->len = o->size;
        }
    }
    if (ranged) {
        char cr[80];
        int l = snprintf(cr, sizeof(cr), "bytes %llu-%llu/%llu", (unsigned long long)op->off,
                         (unsigned long long)(op->off + op->len - 1), (unsigned long long)o->size);
        s3_header(op, "Content-Range", cr, (size_t)l);
        op->status = 206;
    } else if (!by_part && s3_hdr(op, "x-amz-checksum-mode", &v) &&
               qr_slice_ieq(v, QR_SLICE_LIT("ENABLED"))) {
        /* Only a whole-object read can be checked against the stored checksum. */
        s3_checksum_headers(op, &o->ck);
    }
    apply_overrides(op);
    op->stream = true;
}

/* ---- DeleteObject ---- */

/* x-amz-if-match-size and x-amz-if-match-last-modified-time (directory buckets: the
 * route table refuses them elsewhere). False with op failed on a malformed value. */
static bool delete_conditions(struct s3_op *op, struct store_cond *cond)
{
    struct qr_slice v;
    if (s3_hdr(op, "x-amz-if-match-size", &v)) {
        if (!qr_slice_u64(v, INT64_MAX, &cond->size)) {
            s3_fail_code(op, 400, "InvalidArgument", "Invalid x-amz-if-match-size.");
            return false;
        }
        cond->if_size = true;
    }
    if (s3_hdr(op, "x-amz-if-match-last-modified-time", &v)) {
        if (!qr_time_parse_http(v, &cond->mtime_ms)) {
            s3_fail_code(op, 400, "InvalidArgument", "Invalid x-amz-if-match-last-modified-time.");
            return false;
        }
        cond->if_mtime = true;
    }
    return true;
}

void s3_delete_object(struct s3_op *op)
{
    struct store_cond cond;
    if (!s3_write_conditions(op, &cond) || !delete_conditions(op, &cond))
        return;
    if (cond.if_none_match_any) {
        s3_fail_code(op, 400, "InvalidArgument", "If-None-Match is not allowed on DeleteObject.");
        return;
    }
    struct store_delete d = {
        .bucket = op->bucket, .key = op->key, .version = s3_version_param(op), .cond = &cond};
    struct store_delete_result res;
    if (!s3_lock_bypass(op, op->key, &d.bypass_governance))
        return;
    enum qr_err e = store_obj_delete_v(op->store, &d, &res);
    if (e == QR_E_DENIED) {
        s3_fail_code(op, 403, "AccessDenied",
                     "Access Denied because object protected by object lock.");
        return;
    }
    if (e) {
        s3_fail(op, e);
        return;
    }
    if (res.marker)
        s3_header_s(op, "x-amz-delete-marker", "true");
    if (res.version_id[0])
        s3_header_s(op, "x-amz-version-id", res.version_id);
    else if (d.version.len) /* S3 echoes the id even when no such version existed */
        s3_header(op, "x-amz-version-id", (const char *)d.version.p, d.version.len);
    op->status = 204;
}

/* ---- DeleteObjects ---- */

/* An entry's ETag, LastModifiedTime and Size conditions (the last two on directory
 * buckets only, as in S3). NULL, or the message of the entry's error. */
static const char *entry_conditions(struct s3_op *op, xmlNodePtr o, struct store_cond *cond)
{
    xmlNodePtr etag = xml_child(o, "ETag"), mt = xml_child(o, "LastModifiedTime"),
               size = xml_child(o, "Size");
    memset(cond, 0, sizeof(*cond));
    if (etag) {
        char *t = h2o_mem_alloc_pool(op->pool, 80);
        if (!s3_etag_parse(xml_text(etag), t))
            return "Invalid ETag.";
        cond->if_match = t;
    }
    if ((mt || size) && !op->directory)
        return "LastModifiedTime and Size conditions are for directory buckets only.";
    if (mt && !qr_time_parse_http(xml_text(mt), &cond->mtime_ms))
        return "Invalid LastModifiedTime.";
    if (size && !qr_slice_u64(xml_text(size), INT64_MAX, &cond->size))
        return "Invalid Size.";
    cond->if_mtime = mt != NULL;
    cond->if_size = size != NULL;
    return NULL;
}

/* One entry of DeleteObjects: as DeleteObject (a version, or a marker on a versioned
 * bucket), each key authorized on its own. */
static void delete_one(struct s3_op *op, xmlNodePtr o, bool quiet, bool bypass)
{
    enum qr_err e = QR_E_INVALID_KEY;
    struct qr_slice key = xml_text(xml_child(o, "Key"));
    xmlNodePtr vnode = xml_child(o, "VersionId");
    struct qr_slice vid = xml_text(vnode);
    bool other_version = vnode && !qr_slice_eq_lit(vid, "null");
    const char *code = "InvalidArgument", *msg = NULL;
    struct store_cond cond;
    struct store_delete_result res = {0};
    if (other_version && (op->directory || !s3_version_id_wellformed(vid))) {
        msg = "Invalid version id specified";
    } else if ((msg = entry_conditions(op, o, &cond)) != NULL) {
        code = "InvalidArgument";
    } else if (!key.len || key.len > QR_MAX_KEY_LEN) {
        e = QR_E_INVALID_KEY;
    } else if (!s3_authorize_key(op, vnode ? "s3:DeleteObjectVersion" : "s3:DeleteObject", key)) {
        e = QR_E_DENIED;
    } else if (bypass && !s3_authorize_key(op, "s3:BypassGovernanceRetention", key)) {
        e = QR_E_DENIED;
    } else {
        struct store_delete d = {.bucket = op->bucket,
                                 .key = key,
                                 .version = vnode ? vid : qr_slice(NULL, 0),
                                 .cond = &cond,
                                 .bypass_governance = bypass};
        e = store_obj_delete_v(op->store, &d, &res);
    }
    if (e == QR_OK && !msg) {
        if (!quiet) {
            xml_open(&op->body, "Deleted");
            xml_elem(&op->body, "Key", key);
            if (vnode)
                xml_elem(&op->body, "VersionId", vid);
            if (res.marker) {
                xml_elem_bool(&op->body, "DeleteMarker", true);
                xml_elem_s(&op->body, "DeleteMarkerVersionId", res.version_id);
            }
            xml_close(&op->body, "Deleted");
        }
        return;
    }
    if (!msg) {
        static const struct {
            enum qr_err e;
            const char *code, *msg;
        } entry_err[] = {
            {QR_E_INVALID_KEY, "InvalidArgument", "Invalid key."},
            {QR_E_PRECONDITION, "PreconditionFailed",
             "At least one of the pre-conditions you specified did not hold"},
            {QR_E_NO_SUCH_KEY, "NoSuchKey", "The specified key does not exist."},
            {QR_E_DENIED, "AccessDenied", "Access Denied"},
        };
        code = "InternalError";
        msg = "We encountered an internal error. Please try again.";
        for (size_t i = 0; i < sizeof(entry_err) / sizeof(*entry_err); i++) {
            if (entry_err[i].e == e) {
                code = entry_err[i].code;
                msg = entry_err[i].msg;
            }
        }
    }
    xml_open(&op->body, "Error");
    xml_elem(&op->body, "Key", key);
    if (vnode)
        xml_elem(&op->body, "VersionId", vid);
    xml_elem_s(&op->body, "Code", code);
    xml_elem_s(&op->body, "Message", msg);
    xml_close(&op->body, "Error");
}

void s3_delete_objects(struct s3_op *op)
{
    struct s3_body body;
    xmlDocPtr doc = NULL;
    struct qr_slice v;
    if (!s3_hdr(op, "content-md5", &v) && !s3_hdr(op, "x-amz-checksum-crc32", &v) &&
        !s3_hdr(op, "x-amz-checksum-crc32c", &v) && !s3_hdr(op, "x-amz-checksum-sha1", &v) &&
        !s3_hdr(op, "x-amz-checksum-sha256", &v) && !s3_hdr(op, "x-amz-checksum-crc64nvme", &v) &&
        !s3_hdr(op, "x-amz-sdk-checksum-algorithm", &v)) {
        s3_fail_code(op, 400, "InvalidRequest",
                     "Missing required header for this request: Content-MD5");
        return;
    }
    if (!s3_body_read(op, QR_MAX_XML_BODY, S3_BODY_PAYLOAD, &body))
        goto out;
    xmlNodePtr root;
    if (xml_parse(body.data, &doc) != QR_OK || !(root = xml_root(doc, "Delete"))) {
        s3_fail_malformed(op);
        goto out;
    }
    bool quiet = qr_slice_eq_lit(xml_text(xml_child(root, "Quiet")), "true");
    size_t n = 0;
    for (xmlNodePtr o = xml_child(root, "Object"); o; o = xml_next(o, "Object"))
        n++;
    if (n == 0 || n > QR_MAX_DELETE_KEYS) {
        s3_fail_malformed(op);
        goto out;
    }
    struct qr_slice bp;
    bool bypass = s3_hdr(op, "x-amz-bypass-governance-retention", &bp) &&
                  qr_slice_ieq(bp, QR_SLICE_LIT("true"));
    xml_begin(&op->body, "DeleteResult", S3_NS);
    for (xmlNodePtr o = xml_child(root, "Object"); o; o = xml_next(o, "Object"))
        delete_one(op, o, quiet, bypass);
    xml_close(&op->body, "DeleteResult");
out:
    if (doc)
        xmlFreeDoc(doc);
    s3_body_dispose(&body);
}

/* ---- CopyObject ---- */

static bool directive(struct s3_op *op, const char *header, bool *out_replace)
{
    struct qr_slice v;
    *out_replace = false;
    if (!s3_hdr(op, header, &v) || qr_slice_eq_lit(v, "COPY"))
        return true;
    if (qr_slice_eq_lit(v, "REPLACE")) {
        *out_replace = true;
        return true;
    }
    s3_fail_code(op, 400, "InvalidArgument", "Unknown metadata or tagging directive.");
    return false;
}

/* x-amz-checksum-algorithm on a copy asks for that checksum of the copy: kept when the
 * source already has it over the whole object, else computed by reading the source. */
static bool copy_checksum(struct s3_op *op, const struct store_obj *src, struct store_copy *cp)
{
    struct qr_slice v;
    enum qr_ck alg;
    if (!s3_hdr(op, "x-amz-checksum-algorithm", &v))
        return true;
    if (!qr_ck_from_name((const char *)v.p, v.len, &alg) || alg == QR_CK_MD5) {
        s3_fail_code(op, 400, "InvalidRequest", "Invalid x-amz-checksum-algorithm.");
        return false;
    }
    if (src->ck.alg == s3_ck_to_store(alg) && src->ck.type == STORE_CK_FULL_OBJECT)
        return true;
    struct qr_ck_state st;
    uint8_t d[QR_CK_MAX_DIGEST];
    qr_ck_init(&st, alg);
    enum qr_err e = s3_digest_range(op, src, 0, src->size, &st, 1);
    qr_ck_final(&st, d);
    if (e) {
        s3_fail(op, e);
        return false;
    }
    cp->replace_ck = true;
    cp->ck.alg = s3_ck_to_store(alg);
    cp->ck.type = STORE_CK_FULL_OBJECT;
    qr_b64_encode(d, qr_ck_len(alg), cp->ck.b64);
    return true;
}

void s3_copy_object(struct s3_op *op)
{
    struct store_copy cp;
    struct obj_copy_req req;
    memset(&cp, 0, sizeof(cp));
    memset(&req, 0, sizeof(req));
    struct store_obj src;
    struct qr_slice src_ver;
    struct store_lock lock;
    if (!s3_copy_source_v(op, &req.src_bucket, &req.src_key, &src_ver) ||
        !s3_lock_headers(op, &lock) ||
        !directive(op, "x-amz-metadata-directive", &req.replace_headers) ||
        !directive(op, "x-amz-tagging-directive", &req.replace_tags) ||
        !s3_write_conditions(op, &req.cond))
        return;
    struct qr_slice v;
    /* S3 gives the copy this class even with the COPY directive; quarry copies the
     * source's stored headers whole, so it would keep the old class: refuse instead. */
    if (!req.replace_headers && s3_hdr(op, "x-amz-storage-class", &v)) {
        s3_fail_code(op, 501, "NotImplemented",
                     "A header you provided implies functionality that is not implemented: "
                     "x-amz-storage-class on a copy needs x-amz-metadata-directive: REPLACE.");
        return;
    }
    /* Inline bytes are needed only when a new checksum must be computed over them. */
    bool need_data = s3_hdr(op, "x-amz-checksum-algorithm", &v);
    enum qr_err e = store_obj_get_v(op->reader, req.src_bucket, req.src_key, src_ver, need_data,
                                    op->pool, &src);
    if (!e && src.is_marker) {
        /* S3: a delete marker is not a copy source */
        s3_fail_code(op, 400, "InvalidRequest",
                     "The source of a copy request may not specifically refer to a delete marker "
                     "by version id.");
        return;
    }
    if (!e && !s3_copy_source_conditions(op, &src))
        e = QR_E_PRECONDITION;
    if (e) {
        if (e == QR_E_NO_SUCH_KEY && src_ver.len)
            s3_fail_code(op, 404, "NoSuchVersion", "The specified version does not exist.");
        else
            s3_fail(op, e);
        return;
    }
    struct store_sse dst_sse;
    if (!s3_sse_open(op, &src, true) || !s3_sse_for_write(op, &dst_sse) ||
        !s3_sse_copy_shares(op, &src.sse, &dst_sse))
        return;
    if (req.replace_headers) {
        if (s3_meta_from_request(op, &req.headers) != QR_OK)
            return;
        const char *md5 = s3_meta_md5(op, src.headers);
        uint8_t raw[16];
        if (md5 && qr_hex_decode(md5, 32, raw, 16) == QR_OK)
            req.headers = s3_meta_with_md5(op, req.headers, raw);
    }
    if (req.replace_tags && s3_hdr(op, "x-amz-tagging", &v) &&
        s3_tags_from_header(op, v, &req.tags) != QR_OK)
        return;
    req.dst_bucket = op->bucket;
    req.dst_key = op->key;
    req.dst_directory = op->directory;
    req.src_md5_hex = s3_meta_md5(op, src.headers);
    char *etag_buf = h2o_mem_alloc_pool(op->pool, 80);
    if (obj_copy_plan(&req, &src, etag_buf, &cp) != QR_OK) {
        s3_fail_code(op, 400, "InvalidRequest",
                     "This copy request is illegal because it is trying to copy an object to "
                     "itself without changing the object's metadata, storage class, website "
                     "redirect location or encryption attributes.");
        return;
    }
    if (!copy_checksum(op, &src, &cp))
        return;
    /* the version read above is the one copied, even if a newer one lands meanwhile */
    cp.src_version = qr_slice_cstr(h2o_strdup(op->pool, src.version_id, SIZE_MAX).base);
    cp.lock = lock;
    struct store_put_result res;
    e = store_obj_copy(op->store, &cp, &res);
    if (e) {
        s3_fail(op, e == QR_E_PRECONDITION && !cp.cond.if_match && !cp.cond.if_none_match_any
                        ? QR_E_CONFLICT
                        : e);
        return;
    }
    s3_sse_headers(op, &src.sse); /* the copy shares the source's blobs and their keys */
    if (res.version_id[0])
        s3_header_s(op, "x-amz-version-id", res.version_id);
    if (src.versioned)
        s3_header_s(op, "x-amz-copy-source-version-id", src.version_id);
    xml_begin(&op->body, "CopyObjectResult", S3_NS);
    char q[84];
    snprintf(q, sizeof(q), "\"%s\"", cp.etag ? cp.etag : src.etag);
    xml_elem_s(&op->body, "ETag", q);
    xml_elem_time(&op->body, "LastModified", res.mtime_ms);
    const struct store_checksum *ck = cp.replace_ck ? &cp.ck : &src.ck;
    enum qr_ck alg;
    if (s3_ck_from_store(ck->alg, &alg)) {
        char tag[32];
        snprintf(tag, sizeof(tag), "Checksum%s", qr_ck_name(alg));
        xml_elem_s(&op->body, tag, ck->b64);
        xml_elem_s(&op->body, "ChecksumType", s3_ck_type_name(ck->type));
    }
    xml_close(&op->body, "CopyObjectResult");
}
