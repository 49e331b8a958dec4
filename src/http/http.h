/*
 * http.h - quarry's HTTP/1.1 server: connections on h2o's socket and event-loop layer,
 * request heads parsed with the picohttpparser that libh2o ships, and h2o's request and
 * response machinery (h2o_req_t, generators, h2o_send, its filters) on top.
 *
 * Why not h2o's own HTTP/1: libh2o 2.2.5 reads a whole request body before any handler
 * runs, so a request could not be authenticated before its body arrived. Here a handler
 * runs as soon as the head is parsed, and asks for the body (http_body_read) only after
 * it has authenticated and checked the request: a refused request is answered at once
 * and its body is discarded or the connection closed, never buffered.
 *
 * Bounds (struct http_limits, flags in main.c): connections in total and per client
 * address (an idle connection is closed to make room for a new one), time to send a
 * request head, keep-alive idle time, a minimum body rate. Everything runs on the
 * connection's loop thread, except the connection counters (atomics, shared by loops).
 */
#ifndef QR_HTTP_HTTP_H
#define QR_HTTP_HTTP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <h2o.h>
#include <openssl/ssl.h>

#include "util/buf.h"
#include "util/err.h"
#include "util/slice.h"

/* ---- request heads (parse.c): pure, no sockets, fuzzed by tests/fuzz/fuzz_http1.c ---- */

#define HTTP_MAX_HEADERS 100
#define HTTP_MAX_HEAD    (32u * 1024u) /* request line + headers; larger gets 431 */

/* One header as picohttpparser returns it (libh2o exports phr_parse_request; Debian
 * ships no header for it, so the layout is declared in parse.c). */
struct http_hdr {
    struct qr_slice name;
    struct qr_slice value;
};

struct http_head {
    struct qr_slice method;
    struct qr_slice target; /* raw request target: path and query, as sent */
    int minor;              /* HTTP/1.<minor> */
    struct http_hdr hdrs[HTTP_MAX_HEADERS];
    size_t n_hdrs;
    struct qr_slice host;     /* Host header value, empty if none */
    bool has_length;          /* Content-Length given */
    uint64_t content_length;  /* valid when has_length */
    bool chunked;             /* Transfer-Encoding: chunked */
    bool expect_continue;     /* Expect: 100-continue (other values are ignored, as S3 does) */
    bool keep_alive;          /* persistent after this request */
    size_t head_len;          /* bytes of the head, including the blank line */
};

/* Parses a request head from buf[0..len). *done false: incomplete, read more (unless len
 * reached HTTP_MAX_HEAD: then QR_E_TOO_LARGE). Errors: QR_E_BAD_INPUT (malformed,
 * conflicting or repeated Content-Length, Content-Length with Transfer-Encoding),
 * QR_E_NOT_IMPLEMENTED (a Transfer-Encoding other than chunked), QR_E_TOO_LARGE. Slices
 * in out point into buf. */
enum qr_err http_parse_head(const char *buf, size_t len, struct http_head *out, bool *done)
    __attribute__((warn_unused_result));

/* Decodes Transfer-Encoding: chunked in place (libh2o's phr_decode_chunked). */
struct http_chunked {
    size_t bytes_left_in_chunk;
    char consume_trailer;
    char hex_count;
    char state;
};
/* buf[0..*len) in, decoded bytes out in buf[0..*len). Returns the number of bytes after
 * the end of the body (>= 0) when complete, -2 when more is needed, -1 when malformed. */
ssize_t http_chunked_decode(struct http_chunked *d, char *buf, size_t *len);

/* ---- connections (conn.c) ---- */

struct http_limits {
    unsigned max_conns;         /* connections in total (all loops) */
    unsigned max_conns_per_ip;  /* connections from one client address */
    uint32_t header_timeout_ms; /* from the first byte of a request to the end of its head */
    uint32_t idle_timeout_ms;   /* keep-alive: from the end of a response to the next byte */
    uint32_t min_body_rate;     /* body bytes per second, measured per header_timeout_ms */
    uint64_t discard_max;       /* unread body of a refused request drained to keep the
                                   connection; more than this closes it */
};

#define HTTP_IP_SLOTS 4096

/* Shared by every loop. */
struct http_shared {
    struct http_limits lim;
    atomic_uint conns;                       /* open connections */
    atomic_uint per_ip[HTTP_IP_SLOTS];       /* open connections per address hash slot */
    atomic_uint_fast64_t refused;            /* connections refused over a cap */
};

/* One per event loop. */
struct http_loop {
    struct http_shared *shared;
    h2o_context_t *ctx;
    h2o_accept_ctx_t *accept_ctx;
    struct qr_buf *log; /* the loop's access-log buffer */
    h2o_timeout_t head_timeout;
    h2o_timeout_t idle_timeout;
    h2o_timeout_t body_timeout;
    h2o_timeout_t linger_timeout;
    h2o_linklist_t idle; /* connections waiting for a request, oldest first */
    unsigned n_conns;
};

void http_shared_init(struct http_shared *sh, const struct http_limits *lim);
/* Loop thread, after h2o_context_init. */
void http_loop_init(struct http_loop *hl, struct http_shared *sh, h2o_accept_ctx_t *actx,
                    struct qr_buf *log);
/* Takes an accepted socket: serves it (over TLS first when tls is not NULL), or refuses
 * it over a cap. Loop thread. */
void http_accept(struct http_loop *hl, h2o_socket_t *sock, SSL_CTX *tls);

/* An SSL_CTX for serving HTTPS from a PEM certificate chain and key; TLS 1.2 or later.
 * Errors: QR_E_IO (unreadable files), QR_E_BAD_INPUT (key does not match). */
enum qr_err http_tls_ctx(const char *cert_file, const char *key_file, SSL_CTX **out)
    __attribute__((warn_unused_result));

/* ---- what a handler uses ---- */

/* The declared body length: Content-Length, or for a request read by h2o's own HTTP/1,
 * the body it read. False when the request has no Content-Length (none, or chunked). */
bool http_content_length(h2o_req_t *req, uint64_t *out);
/* True when the request has a body still to come (Content-Length > 0 or chunked). */
bool http_has_body(h2o_req_t *req);

typedef void (*http_body_cb)(h2o_req_t *req, void *arg, enum qr_err err);
/* Reads the whole body (at most max bytes after chunked decoding) into req->entity, then
 * calls cb on the loop thread: QR_OK, QR_E_TOO_LARGE (declared or decoded length over
 * max), QR_E_BAD_INPUT (broken chunked framing), QR_E_IO (the client went away or was too
 * slow: cb must still answer or drop the request, the connection is closed after).
 * Sends "100 Continue" first when the client asked for it. A request not served by this
 * module already has its body: cb runs at once. Loop thread. */
void http_body_read(h2o_req_t *req, uint64_t max, http_body_cb cb, void *arg);

/* Streaming a body instead of reading it whole: true when req's body can be pulled piece
 * by piece (ours, Content-Length or chunked, nothing read yet), with its length in *len
 * (UINT64_MAX for chunked: known only at its end). */
bool http_body_streamable(h2o_req_t *req, uint64_t *len);

typedef void (*http_pull_cb)(h2o_req_t *req, void *arg, size_t n, bool last, enum qr_err err);
/* Copies the next min(cap, bytes left) body bytes into buf once they have arrived
 * (chunked: decoded, framing removed), then calls cb with n and last (the body ends with
 * these bytes; n may be 0 then) and QR_OK; or with QR_E_IO when the client went away or
 * stayed under --min-body-rate, QR_E_BAD_INPUT for broken chunked framing (the
 * connection closes after the answer). The first pull sends "100 Continue" if asked.
 * Between pulls at most one more piece is read ahead, so a slow consumer slows the
 * client. After the last piece the body is done. Loop thread; cb may run before this
 * returns. */
void http_body_pull(h2o_req_t *req, char *buf, size_t cap, http_pull_cb cb, void *arg);

#endif
