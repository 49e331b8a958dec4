/*
 * conn.c - one HTTP/1.1 connection: read a head, hand the request to h2o's handlers at
 * once (h2o_process_request), read the body only when the handler asks for it
 * (http_body_read), write the response through a final output stream, then the next
 * request (keep-alive, pipelined bytes kept in the socket buffer).
 *
 * A connection is in one of six states. HEAD: waiting for a request head, on the idle
 * list while no byte of it has arrived (the idle timeout runs) and under the head timeout
 * once one has. PROCESS: a handler (or a worker) owns the request; the socket is not read
 * and no timer runs, so nothing frees the request underneath its owner. BODY: the handler
 * asked for the body; reading, with a minimum-rate check each head-timeout period.
 * STREAM: the body is pulled piece by piece (http_body_pull), a chunked one decoded in
 * place as it arrives, one piece read ahead at most. DISCARD: a small refused body is
 * drained to keep the connection. LINGER: the response to a refused request is out and
 * the body is not wanted: the write side is shut, incoming bytes are dropped for a short
 * while so the client reads the answer instead of a reset, then the socket closes.
 *
 * Memory an unauthenticated client can make quarry hold: the head (at most
 * HTTP_MAX_HEAD) and the socket's read buffer; no body byte is read before the handler
 * asks, and a refused body is dropped as it arrives, never kept.
 */
#include "http/http.h"

#include <assert.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "util/codec.h"

#define LINGER_MS        2000u
#define LINGER_MAX_BYTES (64ull * 1024 * 1024)
#define STREAM_RCVBUF    (1u << 20)

enum conn_state {
    C_HEAD,
    C_PROCESS,
    C_BODY,
    C_DISCARD,
    C_LINGER,
    C_STREAM,
};

struct http_conn {
    h2o_conn_t super; /* first: h2o hands it back as req->conn */
    struct http_loop *hl;
    h2o_socket_t *sock;
    enum conn_state state;
    unsigned ip_slot;
    char peer[INET6_ADDRSTRLEN];
    h2o_timeout_entry_t timer;
    h2o_linklist_t idle_link; /* in hl->idle while waiting for a request */
    size_t seen;              /* sock->input->size after the last read was handled */
    uint64_t window_bytes;    /* body bytes in the current rate window */
    uint64_t linger_bytes;

    /* the request being served */
    size_t head_len;
    bool has_length, chunked, expect_continue, continue_sent;
    uint64_t content_length;
    bool body_done; /* no body, or all of it read */
    uint64_t body_max;
    struct http_chunked dec;
    size_t dec_done; /* bytes of input already decoded */
    http_body_cb body_cb;
    void *body_arg;
    uint64_t consumed; /* bytes of this request already taken out of the socket buffer */
    char *pull_buf;    /* streaming: where the next piece goes, while a pull is pending */
    size_t pull_cap;
    http_pull_cb pull_cb;
    void *pull_arg;
    bool stream_failed; /* the client went away or stalled between pulls */
    bool chunk_end;     /* streaming a chunked body: its last chunk and trailers are in */
    bool sent_headers;
    h2o_ostream_t ostr;
    h2o_req_t req; /* last: its pool is large */
};

static void on_read(h2o_socket_t *sock, const char *err);
static void handle_pull(struct http_conn *c);
static void fail_pull(struct http_conn *c, enum qr_err e);
static void on_body_timeout(h2o_timeout_entry_t *t);
static const h2o_conn_callbacks_t http_conn_callbacks;
static void start_head(struct http_conn *c);
static void do_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t n,
                    h2o_send_state_t state);

/* ---- log ---- */

static void log_event(struct http_loop *hl, const char *event, const char *peer,
                      const char *why, int status)
{
    char when[32];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    qr_time_iso8601((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, when);
    /* same columns as a request line: when, id, principal, operation, bucket, key,
     * status, bytes, time; the peer address stands in the bucket column */
    (void)qr_buf_addf(hl->log, "%s - - %s %s %s %d 0 0us\n", when, event, peer, why, status);
}

/* ---- connection lifetime ---- */

static unsigned ip_slot_of(const struct sockaddr_storage *ss, char *peer, size_t peerlen)
{
    const uint8_t *p = NULL;
    size_t n = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        p = (const uint8_t *)&a->sin_addr;
        n = 4;
        inet_ntop(AF_INET, &a->sin_addr, peer, (socklen_t)peerlen);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        p = (const uint8_t *)&a->sin6_addr;
        n = 16;
        inet_ntop(AF_INET6, &a->sin6_addr, peer, (socklen_t)peerlen);
    } else {
        snprintf(peer, peerlen, "-");
    }
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h % HTTP_IP_SLOTS;
}

static void set_timer(struct http_conn *c, h2o_timeout_t *t, h2o_timeout_cb cb)
{
    if (h2o_timeout_is_linked(&c->timer))
        h2o_timeout_unlink(&c->timer);
    if (t != NULL) {
        c->timer.cb = cb;
        h2o_timeout_link(c->hl->ctx->loop, t, &c->timer);
    }
}

static void unlink_idle(struct http_conn *c)
{
    if (h2o_linklist_is_linked(&c->idle_link))
        h2o_linklist_unlink(&c->idle_link);
}

static void close_conn(struct http_conn *c)
{
    struct http_shared *sh = c->hl->shared;
    set_timer(c, NULL, NULL);
    unlink_idle(c);
    h2o_dispose_request(&c->req);
    if (c->sock != NULL)
        h2o_socket_close(c->sock);
    atomic_fetch_sub_explicit(&sh->conns, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&sh->per_ip[c->ip_slot], 1, memory_order_relaxed);
    c->hl->n_conns--;
    free(c);
}

static void init_request(struct http_conn *c, bool reinit)
{
    if (reinit)
        h2o_dispose_request(&c->req);
    h2o_init_request(&c->req, &c->super, NULL);
    c->req._ostr_top = &c->ostr;
    c->ostr.do_send = do_send;
    c->ostr.stop = NULL;
    c->ostr.start_pull = NULL;
    c->sent_headers = false;
    c->head_len = 0;
    c->has_length = c->chunked = c->expect_continue = c->continue_sent = false;
    c->content_length = 0;
    c->body_done = true;
    c->body_cb = NULL;
    c->consumed = 0;
    c->pull_buf = NULL;
    c->pull_cb = NULL;
    c->stream_failed = false;
    memset(&c->dec, 0, sizeof(c->dec));
    c->dec.consume_trailer = 1; /* the body ends after the trailer section, not before */
    c->dec_done = 0;
    c->chunk_end = false;
}

static void on_linger_timeout(h2o_timeout_entry_t *t)
{
    close_conn(H2O_STRUCT_FROM_MEMBER(struct http_conn, timer, t));
}

/* The answer is out, the rest of the body is not wanted: shut the write side so the
 * client reads the response and an end of stream, drop what it still sends for a short
 * while, then close. */
static void linger_close(struct http_conn *c)
{
    int fd = h2o_socket_get_fd(c->sock);
    if (c->sock->ssl != NULL || fd < 0 || shutdown(fd, SHUT_WR) != 0) {
        close_conn(c);
        return;
    }
    c->state = C_LINGER;
    c->linger_bytes = 0;
    h2o_buffer_consume(&c->sock->input, c->sock->input->size);
    set_timer(c, &c->hl->linger_timeout, on_linger_timeout);
    h2o_socket_read_start(c->sock, on_read);
}

/* ---- response ---- */

static size_t flatten_size(h2o_req_t *req)
{
    size_t n = 160 + strlen(req->res.reason ? req->res.reason : "OK") + H2O_TIMESTR_RFC1123_LEN +
               req->conn->ctx->globalconf->server_name.len;
    for (size_t i = 0; i < req->res.headers.size; i++)
        n += req->res.headers.entries[i].name->len + req->res.headers.entries[i].value.len + 4;
    return n;
}

static size_t put(char *dst, size_t o, const char *p, size_t n)
{
    memcpy(dst + o, p, n);
    return o + n;
}

#define PUT_LIT(dst, o, lit) put(dst, o, lit, sizeof(lit) - 1)

static size_t put_u64(char *dst, size_t o, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do
        tmp[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    while (n)
        dst[o++] = tmp[--n];
    return o;
}

/* The response head, written out by hand: snprintf was 1% of a small GET. dst holds
 * flatten_size(req) bytes. */
static size_t flatten(char *dst, size_t cap, h2o_req_t *req)
{
    h2o_timestamp_t ts;
    h2o_get_timestamp(req->conn->ctx, &req->pool, &ts);
    int status = req->res.status >= 100 && req->res.status <= 999 ? req->res.status : 500;
    const char *reason = req->res.reason ? req->res.reason : "OK";
    size_t o = PUT_LIT(dst, 0, "HTTP/1.1 ");
    o = put_u64(dst, o, (uint64_t)status);
    dst[o++] = ' ';
    o = put(dst, o, reason, strlen(reason));
    o = PUT_LIT(dst, o, "\r\nDate: ");
    o = put(dst, o, ts.str->rfc1123, strlen(ts.str->rfc1123));
    o = req->http1_is_persistent ? PUT_LIT(dst, o, "\r\nConnection: keep-alive\r\n")
                                 : PUT_LIT(dst, o, "\r\nConnection: close\r\n");
    if (req->res.content_length != SIZE_MAX) {
        o = PUT_LIT(dst, o, "Content-Length: ");
        o = put_u64(dst, o, req->res.content_length);
        o = PUT_LIT(dst, o, "\r\n");
    }
    h2o_iovec_t sn = req->conn->ctx->globalconf->server_name;
    if (sn.len) {
        o = PUT_LIT(dst, o, "Server: ");
        o = put(dst, o, sn.base, sn.len);
        o = PUT_LIT(dst, o, "\r\n");
    }
    for (size_t i = 0; i < req->res.headers.size; i++) {
        const h2o_header_t *h = &req->res.headers.entries[i];
        o = put(dst, o, h->orig_name ? h->orig_name : h->name->base, h->name->len);
        o = PUT_LIT(dst, o, ": ");
        o = put(dst, o, h->value.base, h->value.len);
        o = PUT_LIT(dst, o, "\r\n");
    }
    o = PUT_LIT(dst, o, "\r\n");
    assert(o <= cap);
    return o;
}

/* Whether the unread body of a refused request is small enough to drain and keep the
 * connection. A client that waits for 100-continue never got it and will not send the
 * body: what it sends next is unknown, so that connection closes too. */
static uint64_t body_received(struct http_conn *c)
{
    return c->consumed + c->sock->input->size - c->head_len;
}

static bool discardable(struct http_conn *c)
{
    if (c->chunked || c->stream_failed || (c->expect_continue && !c->continue_sent))
        return false;
    uint64_t buffered = body_received(c);
    uint64_t left = c->content_length > buffered ? c->content_length - buffered : 0;
    return left <= c->hl->shared->lim.discard_max;
}

static void on_send_complete(h2o_socket_t *sock, const char *err)
{
    struct http_conn *c = sock->data;
    if (err != NULL) {
        close_conn(c);
        return;
    }
    if (!c->body_done) {
        if (!c->req.http1_is_persistent || !discardable(c)) {
            linger_close(c);
            return;
        }
        c->state = C_DISCARD;
        set_timer(c, &c->hl->head_timeout, on_linger_timeout);
        h2o_socket_read_start(c->sock, on_read);
        on_read(c->sock, NULL);
        return;
    }
    if (!c->req.http1_is_persistent) {
        close_conn(c);
        return;
    }
    size_t used = c->head_len + (size_t)c->content_length - (size_t)c->consumed;
    if (c->chunked)
        used = c->dec_done;
    h2o_buffer_consume(&c->sock->input, used);
    init_request(c, true);
    start_head(c);
}

static void on_send_next(h2o_socket_t *sock, const char *err)
{
    struct http_conn *c = sock->data;
    if (err != NULL)
        close_conn(c);
    else
        h2o_proceed_response(&c->req);
}

static void do_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *in, size_t n,
                    h2o_send_state_t state)
{
    struct http_conn *c = H2O_STRUCT_FROM_MEMBER(struct http_conn, ostr, self);
    h2o_iovec_t *bufs = h2o_mem_alloc_pool(&req->pool, sizeof(*bufs) * (n + 1));
    size_t k = 0;
    if (!req->bytes_counted_by_ostream)
        for (size_t i = 0; i < n; i++)
            req->bytes_sent += in[i].len;
    if (!c->sent_headers) {
        if (!c->body_done && !discardable(c))
            req->http1_is_persistent = 0; /* say so: the connection closes after this */
        size_t cap = flatten_size(req);
        bufs[0].base = h2o_mem_alloc_pool(&req->pool, cap);
        bufs[0].len = flatten(bufs[0].base, cap, req);
        k = 1;
        c->sent_headers = true;
    }
    if (n > 0) /* h2o passes NULL with no buffers */
        memcpy(bufs + k, in, sizeof(*in) * n);
    k += n;
    if (state == H2O_SEND_STATE_ERROR)
        req->http1_is_persistent = 0;
    bool more = h2o_send_state_is_in_progress(state);
    if (k == 0) {
        if (more)
            h2o_proceed_response(req);
        else
            on_send_complete(c->sock, NULL);
        return;
    }
    h2o_socket_write(c->sock, bufs, k, more ? on_send_next : on_send_complete);
}

/* A response written by this module, outside h2o's machinery: for heads that never
 * became a request. Closes after. */
static void send_raw_and_close(struct http_conn *c, const char *status)
{
    char *buf = h2o_mem_alloc_pool(&c->req.pool, 128);
    int n = snprintf(buf, 128, "HTTP/1.1 %s\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
                     status);
    h2o_iovec_t v = h2o_iovec_init(buf, (size_t)n);
    c->body_done = true;
    c->req.http1_is_persistent = 0;
    c->state = C_PROCESS;
    h2o_socket_read_stop(c->sock);
    set_timer(c, NULL, NULL);
    h2o_socket_write(c->sock, &v, 1, on_send_complete);
}

/* ---- request head ---- */

static void on_head_timeout(h2o_timeout_entry_t *t)
{
    struct http_conn *c = H2O_STRUCT_FROM_MEMBER(struct http_conn, timer, t);
    if (c->sock->input->size > 0)
        log_event(c->hl, "HeaderTimeout", c->peer, "--header-timeout", 408);
    close_conn(c);
}

static bool is_special(const h2o_token_t *t)
{
    return t == H2O_TOKEN_HOST || t == H2O_TOKEN_CONTENT_LENGTH ||
           t == H2O_TOKEN_TRANSFER_ENCODING || t == H2O_TOKEN_EXPECT || t == H2O_TOKEN_UPGRADE;
}

/* Fills c->req from a parsed head. Values are copied into the pool when a body follows:
 * reading it may move the socket buffer. Names are lower-cased in place (h2o's tokens). */
static void fill_request(struct http_conn *c, struct http_head *h)
{
    h2o_req_t *req = &c->req;
    h2o_mem_pool_t *pool = &req->pool;
    bool copy = h->chunked || h->content_length > 0;
    req->input.scheme = c->sock->ssl != NULL ? &H2O_URL_SCHEME_HTTPS : &H2O_URL_SCHEME_HTTP;
    req->version = 0x100 | (h->minor != 0);
    req->input.method = copy ? h2o_strdup(pool, (const char *)h->method.p, h->method.len)
                             : h2o_iovec_init(h->method.p, h->method.len);
    req->input.path = copy ? h2o_strdup(pool, (const char *)h->target.p, h->target.len)
                           : h2o_iovec_init(h->target.p, h->target.len);
    if (h->host.p != NULL)
        req->input.authority = copy ? h2o_strdup(pool, (const char *)h->host.p, h->host.len)
                                    : h2o_iovec_init(h->host.p, h->host.len);
    h2o_vector_reserve(pool, &req->headers, h->n_hdrs);
    for (size_t i = 0; i < h->n_hdrs; i++) {
        char *name = (char *)(uintptr_t)h->hdrs[i].name.p;
        h2o_strtolower(name, h->hdrs[i].name.len);
        h2o_iovec_t v = copy ? h2o_strdup(pool, (const char *)h->hdrs[i].value.p,
                                          h->hdrs[i].value.len)
                             : h2o_iovec_init(h->hdrs[i].value.p, h->hdrs[i].value.len);
        const h2o_token_t *t = h2o_lookup_token(name, h->hdrs[i].name.len);
        if (t != NULL) {
            if (!is_special(t))
                h2o_add_header(pool, &req->headers, t, NULL, v.base, v.len);
        } else {
            h2o_iovec_t n = copy ? h2o_strdup(pool, name, h->hdrs[i].name.len)
                                 : h2o_iovec_init(name, h->hdrs[i].name.len);
            h2o_add_header_by_str(pool, &req->headers, n.base, n.len, 0, NULL, v.base, v.len);
        }
    }
    req->http1_is_persistent = h->keep_alive && !c->super.ctx->shutdown_requested;
    c->head_len = h->head_len;
    c->has_length = h->has_length;
    c->content_length = h->content_length;
    c->chunked = h->chunked;
    c->expect_continue = h->expect_continue;
    c->body_done = !h->chunked && h->content_length == 0;
    if (c->body_done && h->has_length)
        req->entity = h2o_iovec_init(c->sock->input->bytes + h->head_len, 0);
}

static void handle_head(struct http_conn *c)
{
    h2o_buffer_t *in = c->sock->input;
    if (in->size == 0)
        return;
    if (h2o_linklist_is_linked(&c->idle_link)) {
        /* first byte of a request: from now on the head timeout runs */
        unlink_idle(c);
        set_timer(c, &c->hl->head_timeout, on_head_timeout);
    }
    /* RFC 9112 2.2: empty lines before a request line are ignored (some clients send
     * one after a body); a few, not an endless stream of them */
    size_t blank = 0;
    while (blank < in->size && blank < 8 && (in->bytes[blank] == '\r' || in->bytes[blank] == '\n'))
        blank++;
    if (blank > 0 && blank < 8) {
        h2o_buffer_consume(&c->sock->input, blank);
        in = c->sock->input;
        c->seen = in->size;
        if (in->size == 0)
            return;
    }
    struct http_head h;
    bool done;
    enum qr_err e = http_parse_head(in->bytes, in->size, &h, &done);
    if (e == QR_OK && !done)
        return;
    if (e != QR_OK) {
        send_raw_and_close(c, e == QR_E_TOO_LARGE          ? "431 Request Header Fields Too Large"
                              : e == QR_E_NOT_IMPLEMENTED ? "501 Not Implemented"
                                                          : "400 Bad Request");
        return;
    }
    h2o_socket_read_stop(c->sock);
    set_timer(c, NULL, NULL);
    c->state = C_PROCESS;
    fill_request(c, &h);
    h2o_process_request(&c->req);
}

static void on_idle_timeout(h2o_timeout_entry_t *t)
{
    close_conn(H2O_STRUCT_FROM_MEMBER(struct http_conn, timer, t));
}

static void start_head(struct http_conn *c)
{
    c->state = C_HEAD;
    c->seen = 0;
    h2o_linklist_insert(&c->hl->idle, &c->idle_link);
    set_timer(c, &c->hl->idle_timeout, on_idle_timeout);
    h2o_socket_read_start(c->sock, on_read);
    handle_head(c);
}

/* ---- request body ---- */

static void finish_body(struct http_conn *c, enum qr_err e)
{
    h2o_socket_read_stop(c->sock);
    set_timer(c, NULL, NULL);
    c->state = C_PROCESS;
    if (e != QR_OK)
        c->req.http1_is_persistent = 0;
    else
        c->body_done = true;
    http_body_cb cb = c->body_cb;
    c->body_cb = NULL;
    cb(&c->req, c->body_arg, e);
}

static void handle_body(struct http_conn *c)
{
    h2o_buffer_t *in = c->sock->input;
    if (!c->chunked) {
        if (in->size - c->head_len < c->content_length)
            return;
        c->req.entity = h2o_iovec_init(in->bytes + c->head_len, (size_t)c->content_length);
        finish_body(c, QR_OK);
        return;
    }
    if (c->dec_done < c->head_len)
        c->dec_done = c->head_len;
    size_t n = in->size - c->dec_done;
    if (n == 0)
        return;
    ssize_t r = http_chunked_decode(&c->dec, in->bytes + c->dec_done, &n);
    in->size = c->dec_done + n;
    c->dec_done = in->size;
    c->seen = in->size;
    if (in->size - c->head_len > c->body_max) {
        finish_body(c, QR_E_TOO_LARGE);
        return;
    }
    if (r == -2)
        return;
    if (r < 0) {
        finish_body(c, QR_E_BAD_INPUT);
        return;
    }
    c->req.entity = h2o_iovec_init(in->bytes + c->head_len, in->size - c->head_len);
    in->size += (size_t)r; /* pipelined bytes after the body stay for the next request */
    finish_body(c, QR_OK);
}

static void on_body_timeout(h2o_timeout_entry_t *t)
{
    struct http_conn *c = H2O_STRUCT_FROM_MEMBER(struct http_conn, timer, t);
    struct http_limits *lim = &c->hl->shared->lim;
    uint64_t want = (uint64_t)lim->min_body_rate * lim->header_timeout_ms / 1000;
    if (c->window_bytes >= want) {
        c->window_bytes = 0;
        set_timer(c, &c->hl->body_timeout, on_body_timeout);
        return;
    }
    log_event(c->hl, "SlowBody", c->peer, "--min-body-rate", 400);
    if (c->state == C_STREAM)
        fail_pull(c, QR_E_IO);
    else
        finish_body(c, QR_E_IO);
}

static void on_continue_sent(h2o_socket_t *sock, const char *err)
{
    struct http_conn *c = sock->data;
    if (err != NULL) {
        finish_body(c, QR_E_IO);
        return;
    }
    h2o_socket_read_start(c->sock, on_read);
    handle_body(c);
}

void http_body_read(h2o_req_t *req, uint64_t max, http_body_cb cb, void *arg)
{
    struct http_conn *c = (struct http_conn *)req->conn;
    /* An empty body still gets its 100 Continue when one was asked for: botocore, told
     * nothing before the final answer, takes that answer for the 100 and misreads the
     * next response on the connection (a 60 s stall on the PUT after a 0-byte PUT). */
    if (req->conn->callbacks != &http_conn_callbacks ||
        (c->body_done && !(c->expect_continue && !c->continue_sent))) {
        cb(req, arg, QR_OK);
        return;
    }
    if (c->has_length && c->content_length > max) {
        cb(req, arg, QR_E_TOO_LARGE);
        return;
    }
    c->body_cb = cb;
    c->body_arg = arg;
    c->body_max = max;
    c->state = C_BODY;
    c->window_bytes = 0;
    c->seen = c->sock->input->size;
    set_timer(c, &c->hl->body_timeout, on_body_timeout);
    if (c->expect_continue && c->sock->input->size == c->head_len) {
        static char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        h2o_iovec_t v = h2o_iovec_init(cont, sizeof(cont) - 1);
        c->continue_sent = true;
        h2o_socket_write(c->sock, &v, 1, on_continue_sent);
        return;
    }
    c->continue_sent = true; /* the body is already coming: no 100 needed */
    h2o_socket_read_start(c->sock, on_read);
    handle_body(c);
}

/* ---- streamed bodies ---- */

/* The client failed (gone, too slow, broken chunked framing) while streaming: the
 * pending pull, or the next one, gets e (QR_E_IO, QR_E_BAD_INPUT); the connection closes
 * after the answer. */
static void fail_pull(struct http_conn *c, enum qr_err e)
{
    h2o_socket_read_stop(c->sock);
    set_timer(c, NULL, NULL);
    c->stream_failed = true;
    c->req.http1_is_persistent = 0;
    if (c->pull_cb == NULL)
        return;
    http_pull_cb cb = c->pull_cb;
    c->pull_cb = NULL;
    c->state = C_PROCESS;
    cb(&c->req, c->pull_arg, 0, false, e);
}

/* Transfer-Encoding: chunked while streaming: what arrived is decoded in place at once,
 * so the socket buffer holds the decoded bytes not yet pulled at its front
 * ([0, dec_done)), then at most a partial chunk-size line's worth of state in c->dec;
 * after the last chunk, pipelined bytes follow the decoded ones. False: bad framing. */
static bool decode_arrived(struct http_conn *c)
{
    h2o_buffer_t *in = c->sock->input;
    size_t n = in->size - c->dec_done;
    if (c->chunk_end || n == 0)
        return true;
    ssize_t r = http_chunked_decode(&c->dec, in->bytes + c->dec_done, &n);
    if (r == -1)
        return false;
    in->size = c->dec_done + n;
    c->dec_done = in->size;
    c->seen = in->size;
    if (r >= 0) {
        c->chunk_end = true;
        in->size += (size_t)r;
    }
    return true;
}

/* How many decoded bytes the pending pull may take now (0: wait), and whether they end
 * the body. */
static size_t pull_ready(struct http_conn *c, bool *last)
{
    if (c->chunked) {
        size_t avail = c->dec_done;
        *last = c->chunk_end && avail <= c->pull_cap;
        return avail >= c->pull_cap ? c->pull_cap : c->chunk_end ? avail : 0;
    }
    uint64_t left = c->head_len + c->content_length - c->consumed;
    size_t want = left < c->pull_cap ? (size_t)left : c->pull_cap;
    *last = c->sock->input->size >= want && want == left;
    return c->sock->input->size >= want ? want : 0;
}

/* Hands the next piece to a pending pull once it is all in; between pulls, reads ahead
 * at most one piece, then stops reading: a slow consumer (the disk) slows the client. */
static void handle_pull(struct http_conn *c)
{
    if (c->chunked && !decode_arrived(c)) {
        fail_pull(c, QR_E_BAD_INPUT);
        return;
    }
    bool last = false;
    size_t want = c->pull_cb != NULL ? pull_ready(c, &last) : 0;
    if (want == 0 && !(c->pull_cb != NULL && last)) {
        size_t ahead = c->chunked ? c->dec_done : c->sock->input->size;
        uint64_t left = c->head_len + c->content_length - c->consumed;
        bool full = ahead >= c->pull_cap || (c->chunked ? c->chunk_end : ahead >= left);
        if (c->pull_cb != NULL && !full && !h2o_socket_is_reading(c->sock))
            h2o_socket_read_start(c->sock, on_read);
        else if (full)
            h2o_socket_read_stop(c->sock);
        return;
    }
    memcpy(c->pull_buf, c->sock->input->bytes, want);
    h2o_buffer_consume(&c->sock->input, want);
    c->consumed += want;
    if (c->chunked)
        c->dec_done -= want;
    c->seen = c->sock->input->size;
    set_timer(c, NULL, NULL);
    http_pull_cb cb = c->pull_cb;
    c->pull_cb = NULL;
    if (last) {
        c->body_done = true;
        c->state = C_PROCESS;
        h2o_socket_read_stop(c->sock);
    } else if ((c->chunked ? c->dec_done : c->sock->input->size) >= c->pull_cap) {
        h2o_socket_read_stop(c->sock);
    }
    cb(&c->req, c->pull_arg, want, last, QR_OK);
}

static void on_stream_continue_sent(h2o_socket_t *sock, const char *err)
{
    struct http_conn *c = sock->data;
    if (err != NULL) {
        fail_pull(c, QR_E_IO);
        return;
    }
    set_timer(c, &c->hl->body_timeout, on_body_timeout);
    handle_pull(c);
}

bool http_body_streamable(h2o_req_t *req, uint64_t *len)
{
    if (req->conn->callbacks != &http_conn_callbacks)
        return false;
    struct http_conn *c = (struct http_conn *)req->conn;
    if ((!c->has_length && !c->chunked) || c->body_done || c->consumed != 0)
        return false;
    *len = c->chunked ? UINT64_MAX : c->content_length;
    return true;
}

/* h2o reads a socket until the kernel has nothing more for it: with a receive buffer the
 * kernel grew to several MiB, one read event can bring tens of MiB of a fast sender's body
 * into the socket buffer, past any piece-sized read-ahead. A fixed receive buffer caps
 * what one event brings at about its size (the kernel doubles the value given). */
static void cap_receive_buffer(struct http_conn *c)
{
    int fd = h2o_socket_get_fd(c->sock), size = (int)STREAM_RCVBUF;
    if (fd >= 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
}

void http_body_pull(h2o_req_t *req, char *buf, size_t cap, http_pull_cb cb, void *arg)
{
    struct http_conn *c = (struct http_conn *)req->conn;
    if (c->stream_failed || c->body_done) {
        cb(req, arg, 0, false, c->stream_failed ? QR_E_IO : QR_E_INTERNAL);
        return;
    }
    c->pull_buf = buf;
    c->pull_cap = cap;
    c->pull_cb = cb;
    c->pull_arg = arg;
    c->window_bytes = 0;
    if (c->state != C_STREAM) {
        /* first pull: the head was copied into the pool (a body follows), drop it */
        bool nothing_yet = c->sock->input->size == c->head_len;
        h2o_buffer_consume(&c->sock->input, c->head_len);
        c->consumed = c->head_len;
        c->dec_done = 0; /* chunked: nothing decoded yet past the head */
        c->state = C_STREAM;
        cap_receive_buffer(c);
        c->seen = c->sock->input->size;
        if (c->expect_continue && nothing_yet) {
            static char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            h2o_iovec_t v = h2o_iovec_init(cont, sizeof(cont) - 1);
            c->continue_sent = true;
            h2o_socket_write(c->sock, &v, 1, on_stream_continue_sent);
            return;
        }
        c->continue_sent = true;
    }
    set_timer(c, &c->hl->body_timeout, on_body_timeout);
    handle_pull(c);
}

/* ---- reading ---- */

static void handle_discard(struct http_conn *c)
{
    if (body_received(c) < c->content_length)
        return;
    h2o_socket_read_stop(c->sock);
    set_timer(c, NULL, NULL);
    h2o_buffer_consume(&c->sock->input,
                       c->head_len + (size_t)c->content_length - (size_t)c->consumed);
    init_request(c, true);
    start_head(c);
}

static void on_read(h2o_socket_t *sock, const char *err)
{
    struct http_conn *c = sock->data;
    if (err != NULL) {
        if (c->state == C_BODY)
            finish_body(c, QR_E_IO);
        else if (c->state == C_STREAM)
            fail_pull(c, QR_E_IO);
        else if (c->state != C_PROCESS)
            close_conn(c);
        return;
    }
    size_t size = sock->input->size;
    if (size > c->seen)
        c->window_bytes += size - c->seen;
    c->seen = size;
    switch (c->state) {
    case C_HEAD:
        handle_head(c);
        break;
    case C_BODY:
        handle_body(c);
        break;
    case C_DISCARD:
        handle_discard(c);
        break;
    case C_STREAM:
        handle_pull(c);
        break;
    case C_LINGER:
        c->linger_bytes += sock->input->size;
        h2o_buffer_consume(&sock->input, sock->input->size);
        if (c->linger_bytes > LINGER_MAX_BYTES)
            close_conn(c);
        break;
    case C_PROCESS:
        break;
    }
}

/* ---- h2o_conn_t callbacks ---- */

static socklen_t get_sockname(h2o_conn_t *conn, struct sockaddr *sa)
{
    return h2o_socket_getsockname(((struct http_conn *)conn)->sock, sa);
}

static socklen_t get_peername(h2o_conn_t *conn, struct sockaddr *sa)
{
    return h2o_socket_getpeername(((struct http_conn *)conn)->sock, sa);
}

static h2o_socket_t *get_socket(h2o_conn_t *conn)
{
    return ((struct http_conn *)conn)->sock;
}

static const h2o_conn_callbacks_t http_conn_callbacks = {
    .get_sockname = get_sockname,
    .get_peername = get_peername,
    .get_socket = get_socket,
};

/* ---- accepting ---- */

static void on_handshake(h2o_socket_t *sock, const char *err)
{
    struct http_conn *c = sock->data;
    if (err != NULL) {
        log_event(c->hl, "TLSHandshakeFailed", c->peer, "-", 0);
        close_conn(c);
        return;
    }
    start_head(c);
}

/* Over a cap, the oldest idle connection of this loop (from the same address slot when
 * the per-address cap is the one reached) makes room; without one the new connection is
 * refused. Idle connections cost a descriptor each, so this is what keeps a crowd of
 * them from locking out clients that have work to do. */
static bool make_room(struct http_loop *hl, unsigned slot, bool per_ip)
{
    for (h2o_linklist_t *n = hl->idle.next; n != &hl->idle; n = n->next) {
        struct http_conn *c = H2O_STRUCT_FROM_MEMBER(struct http_conn, idle_link, n);
        if (per_ip && c->ip_slot != slot)
            continue;
        log_event(hl, "EvictedIdleConnection", c->peer,
                  per_ip ? "--max-conns-per-ip" : "--max-conns", 0);
        close_conn(c);
        return true;
    }
    return false;
}

void http_accept(struct http_loop *hl, h2o_socket_t *sock, SSL_CTX *tls)
{
    struct http_shared *sh = hl->shared;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    char peer[INET6_ADDRSTRLEN];
    h2o_socket_getpeername(sock, (struct sockaddr *)&ss);
    unsigned slot = ip_slot_of(&ss, peer, sizeof(peer));
    unsigned total = atomic_fetch_add_explicit(&sh->conns, 1, memory_order_relaxed) + 1;
    unsigned mine = atomic_fetch_add_explicit(&sh->per_ip[slot], 1, memory_order_relaxed) + 1;
    bool ok = true;
    if (mine > sh->lim.max_conns_per_ip)
        ok = make_room(hl, slot, true);
    if (ok && total > sh->lim.max_conns)
        ok = make_room(hl, slot, false);
    if (!ok) {
        atomic_fetch_sub_explicit(&sh->conns, 1, memory_order_relaxed);
        atomic_fetch_sub_explicit(&sh->per_ip[slot], 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&sh->refused, 1, memory_order_relaxed);
        log_event(hl, "RefusedConnection", peer,
                  mine > sh->lim.max_conns_per_ip ? "--max-conns-per-ip" : "--max-conns", 503);
        h2o_socket_close(sock);
        return;
    }
    struct timeval now;
    gettimeofday(&now, NULL);
    struct http_conn *c = (struct http_conn *)h2o_create_connection(
        sizeof(*c), hl->ctx, hl->accept_ctx->hosts, now, &http_conn_callbacks);
    memset((char *)c + sizeof(c->super), 0, offsetof(struct http_conn, req) - sizeof(c->super));
    c->hl = hl;
    c->sock = sock;
    c->ip_slot = slot;
    memcpy(c->peer, peer, sizeof(peer));
    sock->data = c;
    hl->n_conns++;
    init_request(c, false);
    if (tls != NULL) {
        /* the handshake is part of the head: the same timeout bounds it */
        c->state = C_PROCESS;
        set_timer(c, &hl->head_timeout, on_head_timeout);
        h2o_socket_ssl_handshake(sock, tls, NULL, on_handshake);
        return;
    }
    start_head(c);
}

/* ---- setup ---- */

void http_shared_init(struct http_shared *sh, const struct http_limits *lim)
{
    memset(sh, 0, sizeof(*sh));
    sh->lim = *lim;
}

void http_loop_init(struct http_loop *hl, struct http_shared *sh, h2o_accept_ctx_t *actx,
                    struct qr_buf *log)
{
    memset(hl, 0, sizeof(*hl));
    hl->shared = sh;
    hl->ctx = actx->ctx;
    hl->accept_ctx = actx;
    hl->log = log;
    h2o_linklist_init_anchor(&hl->idle);
    h2o_timeout_init(hl->ctx->loop, &hl->head_timeout, sh->lim.header_timeout_ms);
    h2o_timeout_init(hl->ctx->loop, &hl->idle_timeout, sh->lim.idle_timeout_ms);
    h2o_timeout_init(hl->ctx->loop, &hl->body_timeout, sh->lim.header_timeout_ms);
    h2o_timeout_init(hl->ctx->loop, &hl->linger_timeout, LINGER_MS);
}

bool http_content_length(h2o_req_t *req, uint64_t *out)
{
    if (req->conn->callbacks != &http_conn_callbacks) {
        if (req->entity.base == NULL)
            return false;
        *out = req->entity.len;
        return true;
    }
    struct http_conn *c = (struct http_conn *)req->conn;
    if (!c->has_length)
        return false;
    *out = c->content_length;
    return true;
}

bool http_has_body(h2o_req_t *req)
{
    if (req->conn->callbacks != &http_conn_callbacks)
        return req->entity.base != NULL && req->entity.len > 0;
    struct http_conn *c = (struct http_conn *)req->conn;
    return c->chunked || c->content_length > 0;
}
