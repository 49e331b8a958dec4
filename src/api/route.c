/*
 * route.c - the one h2o handler. For every request: a request id, the decoded query,
 * authentication (SigV4 header or presigned URL, through the credential store), then the
 * API family named by the request: any path under /v20180820/ is S3 Control (the jobs API)
 * whatever the Host says; otherwise the service in the SigV4 credential scope picks S3 (s3,
 * s3express), Lambda, IAM, STS or CloudWatch Logs.
 */
#include "api/route.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "api/api.h"
#include "api/authfail.h"
#include "api/iam/iam.h"
#include "api/lambda/lambda.h"
#include "api/logs/logs_api.h"
#include "api/s3/s3.h"
#include "api/s3control/s3control.h"
#include "auth/authz.h"
#include "auth/creds.h"
#include "auth/sigv2.h"
#include "auth/sigv4.h"
#include "http/http.h"
#include "server.h"
#include "util/ckd.h"
#include "util/codec.h"
#include "util/limits.h"

struct qr_handler {
    h2o_handler_t super; /* must be first: h2o calls on_req with it */
    struct qr_server *server;
};

#define MAX_PARAMS 64
/* The largest body read before its signature can be checked (services that sign the
 * body hash without sending it): Lambda CreateFunction with a 50 MB zip in base64. */
#define MAX_BODY_BEFORE_AUTH (72u * 1024u * 1024u)

/* Percent-decodes raw into pool memory: decoding never lengthens, so raw.len bytes always
 * suffice. A '+' stays a '+': SigV4 and SigV2 canonicalise it as "%2B", so reading it as
 * a space would let "%2B" -> "+" (or "%20" -> "+") change the value the server uses under
 * a signature that still verifies. Signers encode a space as "%20". False on a malformed
 * escape. */
static bool decode_into_pool(h2o_mem_pool_t *pool, struct qr_slice raw, struct qr_slice *out)
{
    uint8_t *d = h2o_mem_alloc_pool(pool, raw.len + 1);
    size_t n;
    if (!qr_uri_decode_into(raw, false, d, &n))
        return false;
    d[n] = '\0';
    *out = qr_slice(d, n);
    return true;
}

static enum qr_err parse_query(struct api_req *ar)
{
    struct qr_slice q = ar->query;
    size_t n = 0, i = 0;
    if (q.len == 0)
        return QR_OK;
    ar->params = h2o_mem_alloc_pool(&ar->req->pool, sizeof(*ar->params) * MAX_PARAMS);
    while (i <= q.len) {
        size_t end = i;
        while (end < q.len && q.p[end] != '&')
            end++;
        if (end > i) {
            if (n == MAX_PARAMS)
                return QR_E_TOO_LARGE;
            size_t eq = i;
            while (eq < end && q.p[eq] != '=')
                eq++;
            struct api_param *p = &ar->params[n++];
            p->has_value = eq < end;
            if (!decode_into_pool(&ar->req->pool, qr_slice(q.p + i, eq - i), &p->name) ||
                !decode_into_pool(
                    &ar->req->pool,
                    eq < end ? qr_slice(q.p + eq + 1, end - eq - 1) : qr_slice(NULL, 0), &p->value))
                return QR_E_BAD_INPUT;
        }
        i = end + 1;
    }
    ar->n_params = n;
    return QR_OK;
}

/* h2o keeps Host, Content-Length and Transfer-Encoding out of req->headers; SigV4 signs
 * host always and content-length when the SDK for JavaScript sends it, so rebuild them. */
static size_t build_sig_headers(struct api_req *ar, struct sigv4_header **out)
{
    h2o_req_t *req = ar->req;
    size_t n = req->headers.size;
    struct sigv4_header *h = h2o_mem_alloc_pool(&req->pool, sizeof(*h) * (n + 2));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const h2o_header_t *e = &req->headers.entries[i];
        h[k].name = qr_slice(e->name->base, e->name->len);
        h[k].value = qr_slice(e->value.base, e->value.len);
        k++;
    }
    h[k].name = QR_SLICE_LIT("host");
    h[k].value = qr_slice(req->input.authority.base, req->input.authority.len);
    k++;
    uint64_t clen;
    if (http_content_length(req, &clen)) {
        char *cl = h2o_mem_alloc_pool(&req->pool, 24);
        int len = snprintf(cl, 24, "%" PRIu64, clen);
        h[k].name = QR_SLICE_LIT("content-length");
        h[k].value = qr_slice(cl, (size_t)len);
        k++;
    }
    *out = h;
    return k;
}

/* "/bucket" when the Host names the bucket (bucket.DOMAIN): SigV2 signs the bucket. */
/* What a signature covers, from the request as received (pool memory). */
static void sig_input(struct api_req *ar, struct sigv4_input *in)
{
    struct sigv4_header *hdrs;
    size_t nh = build_sig_headers(ar, &hdrs);
    *in = (struct sigv4_input){
        .method = qr_slice(ar->req->input.method.base, ar->req->input.method.len),
        .path = ar->path,
        .query = ar->query,
        .headers = hdrs,
        .n_headers = nh,
        .now_ms = api_now_ms(),
    };
}

static struct qr_slice v2_resource_prefix(struct api_req *ar)
{
    const char *d = ar->server->cfg.domain;
    size_t dl = strlen(d);
    struct qr_slice h = ar->host;
    if (dl == 0 || h.len <= dl + 1 || h.p[h.len - dl - 1] != '.' ||
        !qr_slice_ieq(qr_slice(h.p + h.len - dl, dl), qr_slice(d, dl)))
        return qr_slice(NULL, 0);
    size_t n = h.len - dl; /* "bucket." -> "/bucket" */
    char *p = h2o_mem_alloc_pool(&ar->req->pool, n);
    p[0] = '/';
    memcpy(p + 1, h.p, n - 1);
    return qr_slice(p, n);
}

/* Why authentication failed, beyond the error code: a message of its own, and the
 * x-amz-* header that was present but not signed. */
struct auth_fail {
    const char *msg;
    const char *unsigned_header;
};

/* The secret is no longer needed once the signature is checked: wipe it either way. */
static enum qr_err verified(struct api_req *ar, enum qr_err e)
{
    OPENSSL_cleanse(ar->id.secret, sizeof(ar->id.secret));
    ar->id.secret_len = 0;
    ar->authed = e == QR_OK;
    return e;
}

/* The credential store first (root, temporary credentials), then the IAM users' access
 * keys in the current snapshot: a key works from the request after CreateAccessKey and
 * stops with the request after UpdateAccessKey Inactive or DeleteAccessKey. */
static enum qr_err lookup(struct api_req *ar, struct qr_slice akid, struct qr_slice token,
                          int64_t now_ms)
{
    enum qr_err e = creds_lookup(ar->server->creds, akid, token, now_ms, &ar->id);
    if (e != QR_E_NO_SUCH_ACCESS_KEY || !ar->server->authz)
        return e;
    const struct authz_snap *s = authz_acquire(ar->server->authz);
    e = authz_key_lookup(s, akid, &ar->id);
    authz_release(s);
    return e;
}

/* Query parameters of a SigV2 request that are not signed but carry authentication. */
static const char *const v2_auth_params[] = {"AWSAccessKeyId", "Signature", "Expires",
                                             "x-amz-security-token",
                                             /* names the operation; routing checks it */
                                             "x-id"};
/* Sub-resources a SigV2 presigned URL may carry: those of a plain object GET, HEAD or
 * PUT (a version, a part of an upload, response header overrides). */
static const char *const v2_presign_params[] = {"versionId", "partNumber", "uploadId"};
/* Listing parameters the header form may carry unsigned, as S3 accepts them: within the
 * Date window a replay can only list differently what its signer could list anyway. A
 * presigned URL (valid for days) may not. */
static const char *const v2_header_params[] = {"prefix",
                                               "delimiter",
                                               "marker",
                                               "max-keys",
                                               "encoding-type",
                                               "list-type",
                                               "continuation-token",
                                               "start-after",
                                               "fetch-owner",
                                               "key-marker",
                                               "upload-id-marker",
                                               "max-uploads",
                                               "max-parts",
                                               "part-number-marker",
                                               "version-id-marker"};

static bool in_list(struct qr_slice name, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (qr_slice_eq_lit(name, list[i]))
            return true;
    return false;
}

static bool contains(struct qr_slice h, const char *lit)
{
    size_t n = strlen(lit);
    for (size_t i = 0; i + n <= h.len; i++)
        if (memcmp(h.p + i, lit, n) == 0)
            return true;
    return false;
}

#define V2_ONLY_OBJECTS                                                                            \
    "Signature Version 2 presigned URLs are accepted only for object GET, HEAD and PUT; use "      \
    "Signature Version 4."

/* SigV2 signs only its sub-resource list, so anything else in the query could be changed
 * under an intact signature (?location + &session, a listing's prefix): refuse it. A
 * presigned URL is further limited to the object requests it exists for, and to 7 days.
 * Directory buckets accept SigV4 only, as on AWS. The "Authorization: AWS id:sig" header
 * form (s3cmd, older SDKs) is kept to signed sub-resources and listing parameters, and is
 * not limited to object requests: every x-amz-* header is part of what SigV2 signs, and
 * its Date bounds a replay. */
static enum qr_err v2_allowed(struct api_req *ar, const struct sigv2_auth *a, int64_t now_ms,
                              struct auth_fail *why)
{
    why->msg = "The request uses a query parameter that Signature Version 2 does not sign; "
               "use Signature Version 4.";
    for (size_t i = 0; i < ar->n_params; i++) {
        struct qr_slice n = ar->params[i].name;
        if (in_list(n, v2_auth_params, sizeof(v2_auth_params) / sizeof(*v2_auth_params)))
            continue;
        if (!a->presigned &&
            in_list(n, v2_header_params, sizeof(v2_header_params) / sizeof(*v2_header_params)))
            continue;
        if (!sigv2_signed_param(n))
            return QR_E_DENIED;
        if (a->presigned && !qr_slice_starts(n, QR_SLICE_LIT("response-")) &&
            !in_list(n, v2_presign_params, sizeof(v2_presign_params) / sizeof(*v2_presign_params)))
            return QR_E_DENIED;
    }
    if (contains(ar->host, "--x-s3") || contains(ar->path, "--x-s3")) {
        why->msg = "Directory buckets accept Signature Version 4 only.";
        return QR_E_DENIED;
    }
    why->msg = NULL;
    if (!a->presigned)
        return QR_OK;
    struct qr_slice m = qr_slice(ar->req->input.method.base, ar->req->input.method.len);
    struct qr_slice key = v2_resource_prefix(ar).len ? ar->path : qr_slice(NULL, 0);
    if (!key.len) { /* path-style: "/bucket/key" */
        const uint8_t *slash =
            ar->path.len > 1 ? memchr(ar->path.p + 1, '/', ar->path.len - 1) : NULL;
        key = slash ? qr_slice(slash, ar->path.len - (size_t)(slash - ar->path.p))
                    : qr_slice(NULL, 0);
    }
    if (!(qr_slice_eq_lit(m, "GET") || qr_slice_eq_lit(m, "HEAD") || qr_slice_eq_lit(m, "PUT")) ||
        key.len < 2) {
        why->msg = V2_ONLY_OBJECTS;
        return QR_E_DENIED;
    }
    if (a->expires_s > (now_ms + (int64_t)QR_MAX_PRESIGN_EXPIRES * 1000) / 1000) {
        why->msg = "Expires must be at most 604800 seconds (7 days) from now.";
        return QR_E_DENIED;
    }
    why->msg = NULL;
    return QR_OK;
}

/* Signature Version 2 (S3 only): boto3 presigns with it by default. */
static enum qr_err authenticate_v2(struct api_req *ar, const struct sigv4_input *in,
                                   struct auth_fail *why)
{
    struct sigv2_auth a;
    enum qr_err e = sigv2_parse(in, &a);
    if (e)
        return e;
    memset(&ar->auth, 0, sizeof(ar->auth));
    ar->auth.presigned = a.presigned;
    memcpy(ar->auth.akid, a.akid, sizeof(ar->auth.akid));
    memcpy(ar->auth.service, "s3", 3);
    ar->auth.payload = SIGV4_PAYLOAD_UNSIGNED;
    ar->auth.security_token = a.token;
    e = v2_allowed(ar, &a, in->now_ms, why);
    if (e)
        return e;
    e = lookup(ar, qr_slice_cstr(a.akid), a.token, in->now_ms);
    if (e)
        return e;
    e = sigv2_verify(in, &a, qr_slice(ar->id.secret, ar->id.secret_len), v2_resource_prefix(ar));
    return verified(ar, e);
}

/* Whether name is in a SignedHeaders list as received (';'-separated, or "%3B" in a
 * presigned query). */
static bool header_signed(struct qr_slice list, struct qr_slice name)
{
    size_t i = 0;
    while (i <= list.len) {
        size_t end = i, next;
        while (end < list.len && list.p[end] != ';' &&
               !(list.p[end] == '%' && end + 2 < list.len && list.p[end + 1] == '3' &&
                 (list.p[end + 2] == 'B' || list.p[end + 2] == 'b')))
            end++;
        next = end < list.len && list.p[end] == '%' ? end + 3 : end + 1;
        if (qr_slice_ieq(qr_slice(list.p + i, end - i), name))
            return true;
        i = next;
    }
    return false;
}

/* Every x-amz-* header present must be signed, as AWS requires: an unsigned
 * x-amz-copy-source would turn a presigned PUT into a copy from any bucket. Returns the
 * first unsigned one (lower-case, in the pool), or NULL. */
static const char *unsigned_amz_header(struct api_req *ar, const struct sigv4_header *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct qr_slice nm = h[i].name;
        if (nm.len < 6 || !qr_slice_ieq(qr_slice(nm.p, 6), QR_SLICE_LIT("x-amz-")))
            continue;
        if (header_signed(ar->auth.signed_headers, nm))
            continue;
        char *c = h2o_mem_alloc_pool(&ar->req->pool, nm.len + 1);
        for (size_t k = 0; k < nm.len; k++)
            c[k] = (char)(nm.p[k] >= 'A' && nm.p[k] <= 'Z' ? nm.p[k] + 32 : nm.p[k]);
        c[nm.len] = '\0';
        return c;
    }
    return NULL;
}

static bool is_s3_scope(const char *svc)
{
    return strcmp(svc, "s3") == 0 || strcmp(svc, "s3express") == 0;
}

/* The payload hash to verify with. S3 honours x-amz-content-sha256 (and checks it against
 * the body when it stores it). Every other service's body is always hashed here and must
 * be what was signed: a captured Lambda or Logs request cannot carry a new body under an
 * old signature, whatever x-amz-content-sha256 claims. Their bodies are small. */
static enum qr_err payload_hash(struct api_req *ar, char out[65], const char **bh)
{
    struct sigv4_auth *a = &ar->auth;
    *bh = NULL;
    bool s3 = is_s3_scope(a->service);
    if (s3 && !(a->payload_hash[0] == '\0' && a->payload == SIGV4_PAYLOAD_HASH))
        return QR_OK;
    if (!s3 && a->payload != SIGV4_PAYLOAD_HASH)
        return QR_E_SIGNATURE;
    sigv4_sha256_hex(ar->req->entity.base, ar->req->entity.base ? ar->req->entity.len : 0, out);
    if (a->payload_hash[0] && memcmp(a->payload_hash, out, 64) != 0)
        return QR_E_SIGNATURE;
    *bh = out;
    return QR_OK;
}

static enum qr_err authenticate(struct api_req *ar, struct auth_fail *why)
{
    struct sigv4_input in;
    sig_input(ar, &in);
    /* "Authorization: AWS id:sig" is SigV2, which sigv4_parse would call malformed. */
    struct qr_slice authz;
    if (api_header(ar, "authorization", &authz) && authz.len > 4 && memcmp(authz.p, "AWS ", 4) == 0)
        return authenticate_v2(ar, &in, why);
    enum qr_err e = sigv4_parse(&in, &ar->auth);
    if (e == QR_E_AUTH_MISSING)
        return authenticate_v2(ar, &in, why);
    if (e)
        return e;
    why->unsigned_header = unsigned_amz_header(ar, in.headers, in.n_headers);
    if (why->unsigned_header) {
        why->msg = "There were headers present in the request which were not signed";
        return QR_E_DENIED;
    }
    struct qr_slice token =
        ar->auth.session_token.len ? ar->auth.session_token : ar->auth.security_token;
    e = lookup(ar, qr_slice_cstr(ar->auth.akid), token, in.now_ms);
    if (e)
        return e;
    char body_hash[65];
    const char *bh;
    e = payload_hash(ar, body_hash, &bh);
    if (e)
        return verified(ar, e);
    e = sigv4_verify(&in, &ar->auth, qr_slice(ar->id.secret, ar->id.secret_len), bh, &ar->chunk);
    return verified(ar, e);
}

/* A credential is only good for what it was made for: an S3 Express session for S3 (its
 * bucket and mode are checked where the operation is known), never Lambda, Logs, IAM,
 * STS or S3 Control. */
static bool kind_fits_service(const struct api_req *ar, bool control)
{
    if (ar->id.kind != CREDS_S3EXPRESS)
        return true;
    return !control && is_s3_scope(ar->auth.service);
}

static void dispose_api_req(void *p)
{
    struct api_req *ar = p;
    sigv4_chunk_ctx_wipe(&ar->chunk);
}

/* S3 Control (the jobs API): signed as service s3, told apart by its path. */
static bool is_control(const struct api_req *ar)
{
    return qr_slice_starts(ar->path, QR_SLICE_LIT("/v20180820/"));
}

/* The request is authenticated and its body read: hand it to its API family. */
static void dispatch(struct api_req *ar)
{
    store_reader_fresh(ar->thread->reader); /* the body may have ended in a later pass */
    if (!kind_fits_service(ar, is_control(ar))) {
        api_send_auth_failure(ar, QR_E_DENIED,
                              "S3 Express session credentials are valid only for S3 requests "
                              "to their directory bucket.",
                              NULL);
        return;
    }
    if (is_control(ar)) {
        s3control_handle(ar);
        return;
    }
    static const struct {
        const char *service;
        void (*handle)(struct api_req *ar);
    } apis[] = {
        {"s3", s3_handle},         {"s3express", s3_handle}, {"lambda", lambda_handle},
        {"logs", logs_api_handle}, {"iam", iam_handle},      {"sts", sts_handle},
    };
    const char *svc = ar->auth.service;
    for (size_t i = 0; i < sizeof(apis) / sizeof(*apis); i++) {
        if (strcmp(svc, apis[i].service) == 0) {
            apis[i].handle(ar);
            return;
        }
    }
    ar->op = svc;
    s3_send_error_code(ar, 501, "NotImplemented", "This service is not implemented yet.");
}

/* A body that could not be read: too large, broken framing, or a client too slow. */
static void send_body_error(struct api_req *ar, enum qr_err e)
{
    if (e == QR_E_TOO_LARGE)
        s3_send_error_code(ar, 400, "EntityTooLarge",
                           "Your proposed upload exceeds the maximum allowed size.");
    else if (e == QR_E_BAD_INPUT)
        s3_send_error_code(ar, 400, "IncompleteBody",
                           "The chunked transfer encoding of the body is malformed.");
    else
        s3_send_error_code(ar, 400, "RequestTimeout",
                           "Your socket connection to the server was not read from or written "
                           "to within the timeout period.");
}

static void on_body(h2o_req_t *req, void *arg, enum qr_err e)
{
    struct api_req *ar = arg;
    if (e) {
        send_body_error(ar, e);
        return;
    }
    dispatch(ar);
}

/* The body is in its blob, every check of its framing passed (failures were answered). */
static void on_streamed(struct api_req *ar, enum qr_err e)
{
    (void)e;
    dispatch(ar);
}

static void on_body_then_authenticate(h2o_req_t *req, void *arg, enum qr_err e)
{
    struct api_req *ar = arg;
    server_body_release(ar->server, ar->unverified_body);
    ar->unverified_body = 0;
    if (e) {
        send_body_error(ar, e);
        return;
    }
    struct auth_fail why = {NULL, NULL};
    e = authenticate(ar, &why);
    if (e) {
        api_send_auth_failure(ar, e, why.msg, why.unsigned_header);
        return;
    }
    dispatch(ar);
}

/* SigV4 in the Authorization header without x-amz-content-sha256 (Lambda, Logs, IAM,
 * STS): the signed payload hash must be computed from the body. */
static bool body_needed_to_authenticate(struct api_req *ar)
{
    struct qr_slice v;
    if (!http_has_body(ar->req) || !api_header(ar, "authorization", &v) ||
        !qr_slice_starts(v, QR_SLICE_LIT("AWS4-HMAC-SHA256 ")))
        return false;
    if (!api_header(ar, "x-amz-content-sha256", &v))
        return true;
    /* Bodies of services other than S3 are always hashed and compared (payload_hash),
     * whatever x-amz-content-sha256 claims: the scope says which service signed. */
    struct sigv4_input in;
    sig_input(ar, &in);
    struct sigv4_auth a;
    return sigv4_parse(&in, &a) == QR_OK && !is_s3_scope(a.service);
}

/* Parses the signature and looks its access key up, without the body: a request with an
 * unknown key is refused before a byte of its body is read. The signature itself is
 * verified by authenticate once the body is in. */
static enum qr_err known_credential(struct api_req *ar)
{
    struct sigv4_input in;
    sig_input(ar, &in);
    /* Parsed into ar->auth so that a refusal is rendered in the signing service's own
     * format; authenticate parses it again once the body is in. */
    enum qr_err e = sigv4_parse(&in, &ar->auth);
    if (e)
        return e;
    struct sigv4_auth *a = &ar->auth;
    struct qr_slice token = a->session_token.len ? a->session_token : a->security_token;
    e = lookup(ar, qr_slice_cstr(a->akid), token, in.now_ms);
    OPENSSL_cleanse(ar->id.secret, sizeof(ar->id.secret));
    ar->id.secret_len = 0;
    return e;
}

/* The request's state in its pool: its id, path, query and host (the port dropped). */
static struct api_req *new_api_req(struct qr_server *s, h2o_req_t *req)
{
    struct qr_thread *th = NULL;
    for (unsigned i = 0; i < s->n_threads; i++)
        if (&s->threads[i].ctx == req->conn->ctx)
            th = &s->threads[i];

    struct api_req *ar = h2o_mem_alloc_shared(&req->pool, sizeof(*ar), dispose_api_req);
    memset(ar, 0, sizeof(*ar));
    ar->req = req;
    ar->server = s;
    ar->thread = th;
    clock_gettime(CLOCK_MONOTONIC, &ar->start);
    /* Thread index in the top byte keeps ids unique across loops without sharing state. */
    uint64_t rid =
        ((uint64_t)th->index << 56) ^ (uint64_t)ar->start.tv_sec << 24 ^ th->next_request++;
    static const char hex[] = "0123456789ABCDEF";
    for (int k = 15; k >= 0; k--, rid >>= 4)
        ar->request_id[k] = hex[rid & 15];
    ar->request_id[16] = '\0';

    size_t plen = req->input.query_at == SIZE_MAX ? req->input.path.len : req->input.query_at;
    ar->path = qr_slice(req->input.path.base, plen);
    if (plen < req->input.path.len)
        ar->query = qr_slice(req->input.path.base + plen + 1, req->input.path.len - plen - 1);
    struct qr_slice host = qr_slice(req->input.authority.base, req->input.authority.len);
    for (size_t i = host.len; i > 0; i--) {
        if (host.p[i - 1] == ':') {
            host.len = i - 1;
            break;
        }
        if (host.p[i - 1] < '0' || host.p[i - 1] > '9')
            break;
    }
    ar->host = host;
    return ar;
}

/* Refusals that need no identity: an oversized header section, a malformed query, a
 * declared body over --max-body. False after sending the error. */
static bool head_acceptable(struct api_req *ar)
{
    h2o_req_t *req = ar->req;
    size_t header_bytes = 0;
    for (size_t i = 0; i < req->headers.size; i++)
        header_bytes += req->headers.entries[i].name->len + req->headers.entries[i].value.len + 4;
    if (header_bytes > QR_MAX_HEADER_BYTES) {
        s3_send_error_code(ar, 400, "RequestHeaderSectionTooLarge",
                           "Your request header section exceeds the maximum allowed size.");
        return false;
    }
    if (parse_query(ar) != QR_OK) {
        s3_send_error_code(ar, 400, "InvalidArgument", "The query string is malformed.");
        return false;
    }
    uint64_t declared, limit = ar->server->cfg.max_body;
    struct qr_slice v;
    /* aws-chunked framing rides on the payload: chunks of at least 8 KiB (all but the
     * last) carry at most about 100 bytes of header each, then the trailers */
    if (api_header(ar, "x-amz-content-sha256", &v) &&
        qr_slice_starts(v, QR_SLICE_LIT("STREAMING-")) &&
        qr_add_overflow(limit, limit / 64 + 64 * 1024, &limit))
        limit = UINT64_MAX;
    if (http_content_length(req, &declared) && declared > limit) {
        /* a size limit needs no identity: refused before the signature is even checked */
        s3_send_error_code(ar, 400, "EntityTooLarge",
                           "Your proposed upload exceeds the maximum allowed size.");
        return false;
    }
    return true;
}

/* The signature covers a body hash the client did not send: the body must be read
 * first. Only for a known access key id, and only up to what those services take. */
static void read_body_then_authenticate(struct api_req *ar)
{
    enum qr_err e = known_credential(ar);
    if (e) {
        api_send_auth_failure(ar, e, NULL, NULL);
        return;
    }
    /* Unverified bytes count against --max-inflight-body until the signature is
     * checked, so a crowd of such requests is bounded in total as well. */
    uint64_t need = MAX_BODY_BEFORE_AUTH, declared;
    if (http_content_length(ar->req, &declared) && declared < need)
        need = declared;
    if (!server_body_acquire(ar->server, need)) {
        s3_send_error_code(ar, 503, "SlowDown", "Please reduce your request rate.");
        return;
    }
    ar->unverified_body = need;
    http_body_read(ar->req, MAX_BODY_BEFORE_AUTH, on_body_then_authenticate, ar);
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    struct qr_server *s = ((struct qr_handler *)self)->server;
    struct api_req *ar = new_api_req(s, req);
    /* This loop's reads share one snapshot per pass, renewed when the store has committed
     * since: the request sees every write acknowledged before its head arrived. */
    store_reader_fresh(ar->thread->reader);
    api_add_header(ar, "x-amz-request-id", ar->request_id, 16);
    api_add_header(ar, "x-amz-id-2", ar->request_id, 16);
    if (!head_acceptable(ar))
        return 0;
    if (body_needed_to_authenticate(ar)) {
        read_body_then_authenticate(ar);
        return 0;
    }
    /* Headers first: nothing of the body is read (and no 100 Continue sent) before the
     * signature is verified; a refused request's body is dropped by the HTTP layer. */
    struct auth_fail why = {NULL, NULL};
    enum qr_err e = authenticate(ar, &why);
    if (e) {
        api_send_auth_failure(ar, e, why.msg, why.unsigned_header);
        return 0;
    }
    if (!is_control(ar) && !s3_before_body(ar))
        return 0; /* refused without inviting the body: no 100 Continue went out */
    if (api_stream_wanted(ar)) {
        api_stream_start(ar, on_streamed);
        return 0;
    }
    http_body_read(req, s->cfg.max_body, on_body, ar);
    return 0;
}

void api_register(struct qr_server *s, h2o_pathconf_t *pc)
{
    struct qr_handler *h = (struct qr_handler *)h2o_create_handler(pc, sizeof(*h));
    h->super.on_req = on_req;
    h->server = s;
}
