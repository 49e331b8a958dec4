/*
 * s3.c - S3 request dispatch: bucket and key from the path or the Host, the operation
 * and the refusals of what quarry does not implement (routes.c), the rules of directory
 * buckets, S3 Express sessions and version ids, running the handler on the loop or a
 * worker, and sending what it produced (XML, an error, or an object's bytes). Nothing
 * reaches a handler that routes.c did not match exactly.
 */
#include "api/s3/s3_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "api/xml.h"
#include "util/codec.h"
#include "util/limits.h"
#include "util/names.h"

/* ---- errors ---- */

struct s3_err_info {
    int status;
    const char *code;
    const char *msg;
};

static struct s3_err_info err_info(enum qr_err e)
{
    switch (e) {
    case QR_OK:
        return (struct s3_err_info){200, "OK", ""};
    case QR_E_NO_SUCH_BUCKET:
        return (struct s3_err_info){404, "NoSuchBucket", "The specified bucket does not exist"};
    case QR_E_NO_SUCH_KEY:
        return (struct s3_err_info){404, "NoSuchKey", "The specified key does not exist."};
    case QR_E_NO_SUCH_UPLOAD:
        return (struct s3_err_info){404, "NoSuchUpload",
                                    "The specified multipart upload does not exist."};
    case QR_E_BUCKET_EXISTS:
        return (struct s3_err_info){409, "BucketAlreadyOwnedByYou",
                                    "Your previous request to create the named bucket "
                                    "succeeded and you already own it."};
    case QR_E_BUCKET_NOT_EMPTY:
        return (struct s3_err_info){409, "BucketNotEmpty",
                                    "The bucket you tried to delete is not empty"};
    case QR_E_INVALID_BUCKET_NAME:
        return (struct s3_err_info){400, "InvalidBucketName", "The specified bucket is not valid."};
    case QR_E_INVALID_KEY:
        return (struct s3_err_info){400, "KeyTooLongError", "Your key is too long"};
    case QR_E_PRECONDITION:
        return (struct s3_err_info){412, "PreconditionFailed",
                                    "At least one of the pre-conditions you specified did "
                                    "not hold"};
    case QR_E_NOT_MODIFIED:
        return (struct s3_err_info){304, "NotModified", "Not Modified"};
    case QR_E_INVALID_RANGE:
        return (struct s3_err_info){416, "InvalidRange",
                                    "The requested range is not "
                                    "satisfiable"};
    case QR_E_INVALID_PART:
        return (struct s3_err_info){400, "InvalidPart",
                                    "One or more of the specified parts could not be found. "
                                    "The part may not have been uploaded, or the specified "
                                    "entity tag may not match the part's entity tag."};
    case QR_E_INVALID_PART_ORDER:
        return (struct s3_err_info){400, "InvalidPartOrder",
                                    "The list of parts was not in ascending order. Parts "
                                    "must be ordered by part number."};
    case QR_E_TOO_SMALL:
        return (struct s3_err_info){400, "EntityTooSmall",
                                    "Your proposed upload is smaller than the minimum "
                                    "allowed object size."};
    case QR_E_TOO_LARGE:
        return (struct s3_err_info){400, "EntityTooLarge",
                                    "Your proposed upload exceeds the maximum allowed size"};
    case QR_E_BAD_DIGEST:
        return (struct s3_err_info){400, "BadDigest",
                                    "The Content-MD5 or checksum value that you specified did "
                                    "not match what the server received."};
    case QR_E_INVALID_DIGEST:
        return (struct s3_err_info){400, "InvalidDigest",
                                    "The Content-MD5 or checksum value that you specified is "
                                    "not valid."};
    case QR_E_CONTENT_SHA256_MISMATCH:
        return (struct s3_err_info){400, "XAmzContentSHA256Mismatch",
                                    "The provided 'x-amz-content-sha256' header does not "
                                    "match what was computed."};
    case QR_E_CHUNK_SIZE:
        return (struct s3_err_info){403, "InvalidChunkSizeError",
                                    "Only the last chunk is allowed to have a size less than "
                                    "8192 bytes"};
    case QR_E_INCOMPLETE_BODY:
        return (struct s3_err_info){400, "IncompleteBody",
                                    "You did not provide the number of bytes specified by the "
                                    "Content-Length HTTP header."};
    case QR_E_BAD_INPUT:
        return (struct s3_err_info){400, "InvalidArgument", "Invalid Argument"};
    case QR_E_NOT_IMPLEMENTED:
        return (struct s3_err_info){501, "NotImplemented",
                                    "A header or operation you provided implies "
                                    "functionality that is not implemented."};
    case QR_E_AUTH_MISSING:
        return (struct s3_err_info){403, "AccessDenied", "Access Denied"};
    case QR_E_AUTH_MALFORMED:
        return (struct s3_err_info){400, "AuthorizationHeaderMalformed",
                                    "The authorization header is malformed."};
    case QR_E_NO_SUCH_ACCESS_KEY:
        return (struct s3_err_info){403, "InvalidAccessKeyId",
                                    "The AWS Access Key Id you provided does not exist in our "
                                    "records."};
    case QR_E_SIGNATURE:
        return (struct s3_err_info){403, "SignatureDoesNotMatch",
                                    "The request signature we calculated does not match the "
                                    "signature you provided. Check your key and signing "
                                    "method."};
    case QR_E_CLOCK_SKEW:
        return (struct s3_err_info){403, "RequestTimeTooSkewed",
                                    "The difference between the request time and the current "
                                    "time is too large."};
    case QR_E_EXPIRED:
        return (struct s3_err_info){400, "ExpiredToken", "The provided token has expired."};
    case QR_E_TOKEN:
        return (struct s3_err_info){400, "InvalidToken",
                                    "The provided token is malformed or otherwise invalid."};
    case QR_E_DENIED:
        return (struct s3_err_info){403, "AccessDenied", "Access Denied"};
    case QR_E_CONFLICT:
        return (struct s3_err_info){409, "ConditionalRequestConflict",
                                    "A conflicting operation occurred."};
    case QR_E_BUSY:
        return (struct s3_err_info){503, "SlowDown", "Please reduce your request rate."};
    case QR_E_INTERNAL:
    case QR_E_IO:
    case QR_E_DB:
    case QR_ERR__COUNT:
        break;
    }
    return (struct s3_err_info){500, "InternalError",
                                "We encountered an internal error. Please try again."};
}

static void send_error(struct api_req *ar, int status, const char *code, const char *msg,
                       struct qr_slice bucket, struct qr_slice key)
{
    struct qr_buf b;
    qr_buf_init(&b, 64 * 1024);
    (void)qr_buf_adds(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>");
    xml_elem_s(&b, "Code", code);
    xml_elem_s(&b, "Message", msg);
    if (bucket.len)
        xml_elem(&b, "BucketName", bucket);
    if (key.len)
        xml_elem(&b, "Key", key);
    /* Resource: the path as the client asked for it, like S3. */
    xml_elem(&b, "Resource", ar->path);
    xml_elem_s(&b, "RequestId", ar->request_id);
    xml_elem_s(&b, "HostId", ar->request_id);
    (void)qr_buf_adds(&b, "</Error>");
    if (status == 304) /* not an error on the wire: no body */
        b.len = 0;
    api_send(ar, status, b.len ? "application/xml" : NULL, b.p, b.len);
    qr_buf_dispose(&b);
}

void s3_send_error_code(struct api_req *ar, int status, const char *code, const char *msg)
{
    send_error(ar, status, code, msg, qr_slice(NULL, 0), qr_slice(NULL, 0));
}

void s3_send_auth_error(struct api_req *ar, enum qr_err err)
{
    struct s3_err_info i = err_info(err);
    bool presigned = ar->auth.presigned || api_has_param(ar, "X-Amz-Signature");
    if (err == QR_E_EXPIRED && presigned) {
        i = (struct s3_err_info){403, "AccessDenied", "Request has expired"};
    } else if (err == QR_E_AUTH_MALFORMED && presigned) {
        i = (struct s3_err_info){400, "AuthorizationQueryParametersError",
                                 "Error parsing the X-Amz-Credential parameter."};
    }
    ar->op = ar->op ? ar->op : "Authenticate";
    s3_send_error_code(ar, i.status, i.code, i.msg);
}

void s3_fail(struct s3_op *op, enum qr_err err)
{
    op->err = err == QR_OK ? QR_E_INTERNAL : err;
}

void s3_fail_code(struct s3_op *op, int status, const char *code, const char *msg)
{
    op->err = QR_E_BAD_INPUT;
    op->status = status;
    op->err_code = code;
    op->err_msg = msg;
}

/* ---- helpers for handlers ---- */

void s3_header(struct s3_op *op, const char *name, const char *value, size_t len)
{
    if (op->n_hdrs == S3_MAX_RESP_HEADERS)
        return; /* the table is sized above what any S3 response carries */
    h2o_iovec_t v = h2o_strdup(op->pool, value, len);
    op->hdrs[op->n_hdrs++] = (struct s3_resp_header){name, v.base, v.len};
}

void s3_header_s(struct s3_op *op, const char *name, const char *value)
{
    s3_header(op, name, value, strlen(value));
}

void s3_header_etag(struct s3_op *op, const char *etag)
{
    char q[84];
    int n = snprintf(q, sizeof(q), "\"%s\"", etag);
    s3_header(op, "ETag", q, (size_t)n);
}

bool s3_hdr(struct s3_op *op, const char *lname, struct qr_slice *out)
{
    return api_header(op->ar, lname, out);
}

bool s3_param(struct s3_op *op, const char *name, struct qr_slice *out)
{
    return api_param(op->ar, name, out);
}

/* ---- sending ---- */

struct obj_stream {
    h2o_generator_t super;
    struct s3_op *op;
    struct qr_server *server;
    struct store_obj_cursor cur; /* over op->obj's bytes still to send */
    char *buf;                   /* chunk buffer in the pool */
};

#define STREAM_CHUNK (256u * 1024u)

static void stream_close(struct obj_stream *s)
{
    store_obj_cursor_close(&s->cur);
}

/* h2o 2.2.5 has no sendfile: object bytes go out in pread chunks, one chunk in flight,
 * the next read when h2o asks (proceed), so a slow reader holds one chunk of memory. */
static void stream_proceed(h2o_generator_t *g, h2o_req_t *req)
{
    struct obj_stream *s = (struct obj_stream *)g;
    size_t got = 0;
    if (store_obj_read(&s->cur, s->buf, STREAM_CHUNK, &got) != QR_OK || got == 0) {
        /* A blob vanished or shrank under a committed row: the store is damaged. Cut the
         * response short so the client sees a truncated body, never wrong bytes. */
        server_log(s->server, QR_LOG_ERROR, "quarry: short read of an object body");
        stream_close(s);
        h2o_send(req, NULL, 0, H2O_SEND_STATE_ERROR);
        return;
    }
    h2o_iovec_t v = h2o_iovec_init(s->buf, got);
    s->op->ar->bytes_out += got;
    bool last = s->cur.pos >= s->cur.end;
    if (last)
        stream_close(s);
    h2o_send(req, &v, 1, last ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_IN_PROGRESS);
}

static void stream_stop(h2o_generator_t *g, h2o_req_t *req)
{
    stream_close((struct obj_stream *)g);
}

static void stream_dispose(void *p)
{
    stream_close(p);
}

static void send_object(struct s3_op *op)
{
    struct api_req *ar = op->ar;
    h2o_req_t *req = ar->req;
    bool head = h2o_memis(req->input.method.base, req->input.method.len, H2O_STRLIT("HEAD"));
    req->res.status = op->status;
    req->res.reason = "OK";
    req->res.content_length = op->len;
    ar->status = op->status;
    if (head || op->len == 0) {
        static h2o_generator_t none = {NULL, NULL};
        h2o_start_response(req, &none);
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
        api_log(ar);
        return;
    }
    if (op->obj.inline_data.p) {
        static h2o_generator_t none = {NULL, NULL};
        h2o_start_response(req, &none);
        h2o_iovec_t v = h2o_iovec_init(op->obj.inline_data.p + op->off, op->len);
        ar->bytes_out = op->len;
        h2o_send(req, &v, 1, H2O_SEND_STATE_FINAL);
        api_log(ar);
        return;
    }
    struct obj_stream *s = h2o_mem_alloc_shared(&req->pool, sizeof(*s), stream_dispose);
    memset(s, 0, sizeof(*s));
    s->super.proceed = stream_proceed;
    s->super.stop = stream_stop;
    s->op = op;
    s->server = ar->server;
    store_obj_cursor_init(&s->cur, ar->server->store, &op->obj, op->off, op->len);
    s->buf = h2o_mem_alloc_pool(&req->pool, STREAM_CHUNK);
    h2o_start_response(req, &s->super);
    api_log(ar); /* logged at start: the status is known, bytes_out grows as it streams */
    stream_proceed(&s->super, req);
}

void s3_finish(struct s3_op *op)
{
    struct api_req *ar = op->ar;
    for (size_t i = 0; i < op->n_hdrs; i++)
        h2o_add_header_by_str(&ar->req->pool, &ar->req->res.headers, op->hdrs[i].name,
                              strlen(op->hdrs[i].name), 1, NULL, op->hdrs[i].value,
                              op->hdrs[i].len);
    if (op->err != QR_OK) {
        struct s3_err_info i = err_info(op->err);
        if (op->err_code) {
            i.code = op->err_code;
            i.status = op->status ? op->status : 400;
        }
        if (op->err_msg)
            i.msg = op->err_msg;
        send_error(ar, i.status, i.code, i.msg, op->bucket, op->key);
        return;
    }
    if (op->stream) {
        send_object(op);
        return;
    }
    api_send(ar, op->status ? op->status : 200, op->body.len ? op->content_type : NULL, op->body.p,
             op->body.len);
}

static void dispose_op(void *p)
{
    struct s3_op *op = p;
    if (op->body_counted)
        server_body_release(op->ar->server, op->body_counted);
    qr_buf_dispose(&op->body);
    h2o_mem_clear_pool(&op->own_pool);
}

static void job_run(struct qr_job *job)
{
    struct s3_op *op = H2O_STRUCT_FROM_MEMBER(struct s3_op, job, job);
    op->reader = job->reader;
    op->route->fn(op);
}

static void job_done(struct qr_job *job)
{
    struct s3_op *op = H2O_STRUCT_FROM_MEMBER(struct s3_op, job, job);
    op->reader = NULL;
    s3_finish(op);
}

/* ---- decoding the request ---- */

static bool domain_suffix(struct qr_slice host, const char *domain, struct qr_slice *out_bucket)
{
    size_t dl = strlen(domain);
    if (dl == 0 || host.len <= dl + 1)
        return false;
    if (host.p[host.len - dl - 1] != '.' ||
        !qr_slice_ieq(qr_slice(host.p + host.len - dl, dl), qr_slice(domain, dl)))
        return false;
    *out_bucket = qr_slice(host.p, host.len - dl - 1);
    return true;
}

static enum qr_err decode_path(struct api_req *ar, struct qr_slice raw, struct qr_slice *out)
{
    struct qr_buf b;
    qr_buf_init(&b, 4 * 1024);
    enum qr_err e = qr_uri_decode(raw, false, &b);
    if (e == QR_OK) {
        h2o_iovec_t v = h2o_strdup(&ar->req->pool, b.p ? (char *)b.p : "", b.len);
        *out = qr_slice(v.base, v.len);
    }
    qr_buf_dispose(&b);
    return e;
}

/* Path-style "/bucket/key" or virtual-hosted "bucket.DOMAIN" + "/key". */
static enum qr_err target_of(struct api_req *ar, struct qr_slice *bucket, struct qr_slice *key,
                             bool *directory)
{
    struct qr_slice p = ar->path;
    struct qr_slice rest;
    if (p.len == 0 || p.p[0] != '/')
        return QR_E_BAD_INPUT;
    if (domain_suffix(ar->host, ar->server->cfg.domain, bucket)) {
        rest = qr_slice(p.p + 1, p.len - 1);
    } else {
        size_t i = 1;
        while (i < p.len && p.p[i] != '/')
            i++;
        enum qr_err e = decode_path(ar, qr_slice(p.p + 1, i - 1), bucket);
        if (e)
            return e;
        rest = i < p.len ? qr_slice(p.p + i + 1, p.len - i - 1) : qr_slice(NULL, 0);
    }
    bool dir = false;
    *directory = bucket->len && qr_bucket_name_valid(*bucket, &dir) && dir;
    /* The SDK for JavaScript sends "/bucket//key" for directory buckets: the second
     * slash belongs to the address, not the key. So on a directory bucket, path-style,
     * a key cannot begin with "/" (documented in docs/s3.md). */
    if (*directory && rest.len && rest.p[0] == '/')
        rest = qr_slice(rest.p + 1, rest.len - 1);
    return decode_path(ar, rest, key);
}

static enum qr_err split_target(struct s3_op *op)
{
    return target_of(op->ar, &op->bucket, &op->key, &op->directory);
}

bool s3_object_target(struct api_req *ar, struct qr_slice *bucket, struct qr_slice *key,
                      bool *directory)
{
    return target_of(ar, bucket, key, directory) == QR_OK;
}

/* Picks the operation and refuses, before any handler runs, what quarry does not
 * implement: an unknown request, a missing operation, a meaning-changing header. True: go
 * on with op->route. */
static bool route(struct s3_op *op)
{
    struct api_req *ar = op->ar;
    struct qr_slice method = qr_slice(ar->req->input.method.base, ar->req->input.method.len);
    struct s3_route_refusal no;
    if (!s3_route_find(op, method, &no)) {
        ar->op = op->route ? op->route->op : "Unknown";
        s3_send_error_code(ar, no.status, no.code, no.msg);
        return false;
    }
    ar->op = op->route->op;
    if (!op->route->fn || (op->directory && (op->route->flags & S3_GP_ONLY))) {
        char msg[200];
        const char *sub = op->route->sub;
        snprintf(msg, sizeof(msg), "%s (%s%s%s) is not implemented%s.", op->route->op,
                 op->route->method, sub ? " ?" : "", sub ? sub : "",
                 op->route->fn ? " for directory buckets" : " by quarry yet");
        s3_send_error_code(ar, 501, "NotImplemented", msg);
        return false;
    }
    if (!s3_route_headers_ok(op, &no)) {
        s3_send_error_code(ar, no.status, no.code, no.msg);
        return false;
    }
    return true;
}

/* A versionId that cannot name a version (malformed, or not "null" on a directory
 * bucket) is answered here, before any handler could touch the current object. A
 * well-formed one goes to the handler, which asks the store for exactly that version.
 * True: go on with the handler. */
static bool answer_version(struct s3_op *op)
{
    struct s3_route_refusal no;
    enum s3_version_verdict v = s3_route_version(op, &no);
    if (v == S3_VERSION_CURRENT)
        return true;
    struct store_bucket b;
    enum qr_err e = store_bucket_get(op->ar->thread->reader, op->bucket, &b);
    if (e) {
        s3_fail(op, e);
    } else if (v == S3_VERSION_REFUSED) {
        s3_fail_code(op, no.status, no.code, h2o_strdup(op->pool, no.msg, SIZE_MAX).base);
    } else {
        struct qr_slice id;
        if (api_param(op->ar, "versionId", &id))
            s3_header(op, "x-amz-version-id", (const char *)id.p, id.len);
        op->status = 204;
    }
    s3_finish(op);
    return false;
}

void s3_handle(struct api_req *ar)
{
    h2o_req_t *req = ar->req;
    struct s3_op *op = h2o_mem_alloc_shared(&req->pool, sizeof(*op), dispose_op);
    memset(op, 0, sizeof(*op));
    op->ar = ar;
    op->pool = &req->pool;
    h2o_mem_init_pool(&op->own_pool);
    op->store = ar->server->store;
    op->now_ms = api_now_ms();
    qr_buf_init(&op->body, S3_MAX_XML_OUT);
    op->content_type = "application/xml";

    if (split_target(op) != QR_OK) {
        ar->op = "S3";
        s3_send_error_code(ar, 400, "InvalidURI", "Couldn't parse the specified URI.");
        return;
    }
    ar->log_bucket = op->bucket;
    ar->log_key = op->key;
    if (!route(op))
        return;
    if (op->bucket.len && !(op->route->flags & S3_NO_BUCKET_CHECK)) {
        bool dir;
        if (!qr_bucket_name_valid(op->bucket, &dir)) {
            /* S3 answers NoSuchBucket for names that cannot exist on reads. */
            op->err = QR_E_NO_SUCH_BUCKET;
            s3_finish(op);
            return;
        }
    }
    if (op->key.len > QR_MAX_KEY_LEN || (op->key.len && !qr_key_valid(op->key))) {
        s3_fail_code(op, 400, op->key.len > QR_MAX_KEY_LEN ? "KeyTooLongError" : "InvalidArgument",
                     op->key.len > QR_MAX_KEY_LEN ? "Your key is too long"
                                                  : "The key is not valid UTF-8.");
        s3_finish(op);
        return;
    }
    if (!s3_authorize(op, op->route->op, op->route->flags)) {
        s3_finish(op);
        return;
    }
    if (!answer_version(op))
        return;
    uint64_t body = req->entity.base ? req->entity.len : 0;
    if (op->route->fn == s3_put_object && body <= QR_INLINE_MAX && ar->streamed == NULL) {
        /* A body that fits in a row needs no worker: hashing it here costs microseconds,
         * and the commit is asynchronous (s3_put_object_async). One that streamed into a
         * blob (its length known only at its end) is adopted as a blob instead: its
         * mapping may be ciphertext, never to be stored as the row's bytes. */
        op->reader = ar->thread->reader;
        if (!s3_put_object_async(op))
            s3_finish(op);
        return;
    }
    if (op->route->flags & S3_RUN_ON_WORKER) {
        if (!server_body_acquire(ar->server, body)) {
            s3_send_error_code(ar, 503, "SlowDown", "Please reduce your request rate.");
            return;
        }
        op->body_counted = body;
        op->pool = &op->own_pool;
        op->job.thread = ar->thread;
        op->job.run = job_run;
        op->job.done = job_done;
        server_submit(ar->server, &op->job);
        return;
    }
    op->reader = ar->thread->reader;
    op->route->fn(op);
    s3_finish(op);
}
