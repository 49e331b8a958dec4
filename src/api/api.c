/* api.c - header and query access, response helpers and the access log of api.h. */
#include "api/api.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "util/codec.h"

bool api_header(const struct api_req *ar, const char *lname, struct qr_slice *out)
{
    struct qr_slice want = qr_slice_cstr(lname);
    const h2o_headers_t *h = &ar->req->headers;
    for (size_t i = 0; i < h->size; i++) {
        const h2o_header_t *e = &h->entries[i];
        if (qr_slice_ieq(qr_slice(e->name->base, e->name->len), want)) {
            *out = qr_slice(e->value.base, e->value.len);
            return true;
        }
    }
    return false;
}

bool api_param(const struct api_req *ar, const char *name, struct qr_slice *out)
{
    struct qr_slice want = qr_slice_cstr(name);
    for (size_t i = 0; i < ar->n_params; i++) {
        if (qr_slice_eq(ar->params[i].name, want)) {
            *out = ar->params[i].value;
            return true;
        }
    }
    return false;
}

bool api_has_param(const struct api_req *ar, const char *name)
{
    struct qr_slice v;
    return api_param(ar, name, &v);
}

void api_add_header(struct api_req *ar, const char *name, const char *value, size_t vlen)
{
    h2o_req_t *req = ar->req;
    h2o_iovec_t v = h2o_strdup(&req->pool, value, vlen);
    h2o_add_header_by_str(&req->pool, &req->res.headers, name, strlen(name), 1, NULL, v.base,
                          v.len);
}

void api_add_header_s(struct api_req *ar, const char *name, const char *value)
{
    api_add_header(ar, name, value, strlen(value));
}

void api_send(struct api_req *ar, int status, const char *content_type, const void *body,
              size_t len)
{
    static h2o_generator_t generator = {NULL, NULL};
    h2o_req_t *req = ar->req;
    /* a streamed body the store did not take is gone before the client hears back */
    api_stream_drop(ar);
    req->res.status = status;
    req->res.reason = "OK"; /* HTTP/1.1 clients read the status code, not the phrase */
    if (content_type)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type,
                       strlen(content_type));
    req->res.content_length = len;
    ar->status = status;
    h2o_start_response(req, &generator);
    if (h2o_memis(req->input.method.base, req->input.method.len, H2O_STRLIT("HEAD")) || len == 0) {
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
    } else {
        h2o_iovec_t buf = h2o_strdup(&req->pool, body, len);
        ar->bytes_out = len;
        h2o_send(req, &buf, 1, H2O_SEND_STATE_FINAL);
    }
    api_log(ar);
}

int64_t api_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Key bytes are printed escaped: a key may hold newlines or quotes, and a log line must
 * stay one line that tools can split. */
static void log_escaped(struct qr_buf *b, struct qr_slice s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = s.len > 256 ? 256 : s.len;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s.p[i];
        if (c <= 0x20 || c == '"' || c == '%' || c >= 0x7f) {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            (void)qr_buf_add(b, e, 3); /* a full log buffer drops the line's tail */
        } else {
            (void)qr_buf_add(b, &c, 1);
        }
    }
    if (s.len > n)
        (void)qr_buf_adds(b, "...");
    if (s.len == 0)
        (void)qr_buf_add(b, "-", 1);
}

void api_log(struct api_req *ar)
{
    if (ar->logged || ar->server->cfg.log_level > QR_LOG_INFO)
        return;
    ar->logged = true;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t us = (int64_t)(now.tv_sec - ar->start.tv_sec) * 1000000 +
                 (now.tv_nsec - ar->start.tv_nsec) / 1000;
    char when[32];
    qr_time_iso8601(api_now_ms(), when);
    struct qr_buf *b = ar->thread->log;
    /* The principal is the access key id only: never a secret, token or signature. */
    (void)qr_buf_addf(b, "%s %s %s %s ", when, ar->request_id, ar->authed ? ar->auth.akid : "-",
                      ar->op ? ar->op : "-");
    log_escaped(b, ar->log_bucket);
    (void)qr_buf_add(b, " ", 1);
    log_escaped(b, ar->log_key);
    (void)qr_buf_addf(b, " %d %" PRIu64 " %" PRId64 "us", ar->status, ar->bytes_out, us);
    /* Who acted, the IAM action decided and the decision (Allow, explicit Deny, Implicit). */
    (void)qr_buf_add(b, " ", 1);
    log_escaped(b, qr_slice_cstr(ar->principal_arn ? ar->principal_arn : ""));
    (void)qr_buf_addf(b, " %s %s\n", ar->az_action ? ar->az_action : "-",
                      ar->az_decision == 'A'   ? "Allow"
                      : ar->az_decision == 'D' ? "ExplicitDeny"
                      : ar->az_decision == 'I' ? "ImplicitDeny"
                                               : "-");
}
