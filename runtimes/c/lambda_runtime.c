/*
 * lambda_runtime.c - the Runtime API loop behind lambda_runtime.h: a minimal HTTP/1.1
 * client over one keep-alive TCP connection, plus the JSON error body.
 *
 * Everything the Runtime API sends is parsed with bounded, length-based code: the header
 * block is capped (LR_MAX_HEADER), Content-Length is digits only and capped
 * (LR_MAX_PAYLOAD), chunked bodies are refused (quarry and AWS frame with Content-Length).
 * One receive buffer is reused for every response; the invocation handed to the handler
 * points into it, which is why a response is only read after the request is fully sent.
 * The result of an invocation and the next GET /next go out in one sendmsg (HTTP/1.1
 * pipelining; the Runtime API answers requests on a connection in order): one segment
 * and one wake-up of the Runtime API per invocation instead of two.
 * No libcurl and no getaddrinfo, so a statically linked `bootstrap` has no runtime deps.
 */
#define _GNU_SOURCE
#include "lambda_runtime.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define LR_API "/2018-06-01/runtime"
#define LR_MAX_HEADER (64u * 1024u)     /* response header block */
#define LR_MAX_ID 256u                  /* request ids are 36-char UUIDs; bound the path */

/* Growable output buffer for request heads and error JSON (our own bytes only). */
struct lr_out {
    char *p;
    size_t len;
    size_t cap;
};

/* One connection to the Runtime API and its receive buffer.
 * Invariant: off <= len <= cap; bytes [off, len) are received but not yet consumed. */
struct lr_conn {
    int fd;                             /* -1 when not connected */
    struct sockaddr_storage addr;       /* where the Runtime API listens */
    socklen_t addrlen;
    const char *hostport;               /* AWS_LAMBDA_RUNTIME_API, for the Host header */
    uint8_t *buf;                       /* receive buffer (heap, grows up to the caps) */
    size_t cap;
    size_t len;
    size_t off;
    struct lr_out head;                 /* request heads, reused: no allocation per request */
    struct lr_out next;
};

/* A parsed response. Pointers point into conn->buf and live until the next request. */
struct lr_resp {
    unsigned status;
    bool close;                         /* server said Connection: close (or HTTP/1.0) */
    uint8_t *body;                      /* NUL-terminated at body[body_len] */
    size_t body_len;
    const char *request_id;             /* the Lambda-Runtime-* headers, NULL if absent */
    const char *function_arn;
    const char *trace_id;
    const char *client_context;
    const char *cognito_identity;
    const char *deadline;
};

/* ---- small bounded helpers ------------------------------------------------------ */

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (q == NULL) {
        fputs("lambda_runtime: out of memory\n", stderr);
        abort();
    }
    return q;
}

/* Case-insensitive compare of a header name (len bytes) with a lower-case literal. */
static bool name_is(const uint8_t *p, size_t len, const char *lit)
{
    size_t i;
    for (i = 0; i < len; i++) {
        uint8_t c = p[i];
        if (c >= 'A' && c <= 'Z')
            c = (uint8_t)(c - 'A' + 'a');
        if (lit[i] == '\0' || (uint8_t)lit[i] != c)
            return false;
    }
    return lit[i] == '\0';
}

/* Parses 1..19 decimal digits into *out; rejects signs, spaces, empty and overflow. */
static bool parse_u64(const uint8_t *p, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    if (len == 0 || len > 19)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(p[i] - '0'); /* 19 digits < 2^64: cannot overflow */
    }
    *out = v;
    return true;
}

static void out_put(struct lr_out *o, const void *s, size_t n)
{
    if (o->cap - o->len < n + 1) {
        size_t cap = o->cap ? o->cap : 256;
        while (cap - o->len < n + 1) {
            if (cap > (SIZE_MAX / 2)) {
                fputs("lambda_runtime: buffer overflow\n", stderr);
                abort();
            }
            cap *= 2;
        }
        o->p = xrealloc(o->p, cap);
        o->cap = cap;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
}

static void out_str(struct lr_out *o, const char *s)
{
    out_put(o, s, strlen(s));
}

/* Appends s as a JSON string literal (quotes included). Bytes >= 0x80 pass through. */
static void out_json_str(struct lr_out *o, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    out_put(o, "\"", 1);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        char esc[7] = {'\\', 0, 0, 0, 0, 0, 0};
        size_t n = 2;
        switch (*c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        default:
            if (*c < 0x20) {
                esc[1] = 'u'; esc[2] = '0'; esc[3] = '0';
                esc[4] = hex[*c >> 4]; esc[5] = hex[*c & 15];
                n = 6;
            } else {
                out_put(o, c, 1);
                continue;
            }
        }
        out_put(o, esc, n);
    }
    out_put(o, "\"", 1);
}

/* The error body AWS's C++ runtime client posts: {"errorMessage","errorType","stackTrace":[]}. */
static void error_json(struct lr_out *o, const char *type, const char *msg)
{
    out_str(o, "{\"errorMessage\":");
    out_json_str(o, msg);
    out_str(o, ",\"errorType\":");
    out_json_str(o, type);
    out_str(o, ",\"stackTrace\":[]}");
}

/* Percent-encodes a request id for the URL path (ids are opaque). False if too long. */
static bool encode_id(const char *id, char *dst, size_t dst_cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t j = 0;
    for (const unsigned char *c = (const unsigned char *)id; *c; c++) {
        bool plain = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                     (*c >= '0' && *c <= '9') || *c == '-' || *c == '_' || *c == '.' ||
                     *c == '~';
        if (j + 4 > dst_cap)
            return false;
        if (plain) {
            dst[j++] = (char)*c;
        } else {
            dst[j++] = '%';
            dst[j++] = hex[*c >> 4];
            dst[j++] = hex[*c & 15];
        }
    }
    dst[j] = '\0';
    return true;
}

/* ---- connection ---------------------------------------------------------------- */

/* "127.0.0.1:9001", "[::1]:9001", "localhost:9001" -> addr. No DNS: the Runtime API is
 * always on loopback, and getaddrinfo would break static linking. */
static bool parse_address(const char *s, struct lr_conn *c)
{
    const char *colon = strrchr(s, ':');
    char host[64];
    uint64_t port;
    size_t hlen;

    if (colon == NULL || !parse_u64((const uint8_t *)colon + 1, strlen(colon + 1), &port) ||
        port == 0 || port > 65535)
        return false;
    hlen = (size_t)(colon - s);
    if (hlen >= 2 && s[0] == '[' && s[hlen - 1] == ']') {
        s++;
        hlen -= 2;
    }
    if (hlen == 0 || hlen >= sizeof host)
        return false;
    memcpy(host, s, hlen);
    host[hlen] = '\0';
    if (strcmp(host, "localhost") == 0)
        strcpy(host, "127.0.0.1");

    memset(&c->addr, 0, sizeof c->addr);
    struct sockaddr_in *a4 = (struct sockaddr_in *)&c->addr;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&c->addr;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        c->addrlen = sizeof *a4;
        return true;
    }
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        c->addrlen = sizeof *a6;
        return true;
    }
    return false;
}

static bool conn_init(struct lr_conn *c)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
    c->hostport = getenv("AWS_LAMBDA_RUNTIME_API");
    if (c->hostport == NULL || !parse_address(c->hostport, c)) {
        fprintf(stderr, "lambda_runtime: bad or missing AWS_LAMBDA_RUNTIME_API\n");
        return false;
    }
    return true;
}

static void conn_close(struct lr_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->len = c->off = 0;
}

static void conn_dispose(struct lr_conn *c)
{
    conn_close(c);
    free(c->buf);
    c->buf = NULL;
    free(c->head.p);
    free(c->next.p);
    c->head = c->next = (struct lr_out){0};
}

static bool conn_open(struct lr_conn *c)
{
    int one = 1;
    c->fd = socket(c->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return false;
    /* Head and body go out in one sendmsg; NODELAY keeps a small POST from waiting for
     * the ACK of the previous one (Nagle + delayed ACK = 40 ms stalls). */
    (void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    while (connect(c->fd, (const struct sockaddr *)&c->addr, c->addrlen) != 0) {
        if (errno != EINTR) {
            conn_close(c);
            return false;
        }
    }
    c->len = c->off = 0;
    return true;
}

static bool send_all(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        ssize_t w = sendmsg(fd, &m, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        size_t left = (size_t)w;
        while (n > 0 && left >= iov->iov_len) {
            left -= iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + left;
            iov->iov_len -= left;
        }
    }
    return true;
}

/* Makes room for `need` bytes (+1 for a NUL) from conn->off; compacts first. */
static void buf_reserve(struct lr_conn *c, size_t need)
{
    if (c->off > 0) {
        memmove(c->buf, c->buf + c->off, c->len - c->off);
        c->len -= c->off;
        c->off = 0;
    }
    if (c->cap < need + 1) {
        size_t cap = c->cap ? c->cap : 16384;
        while (cap < need + 1)
            cap *= 2;
        c->buf = xrealloc(c->buf, cap);
        c->cap = cap;
    }
}

/* Reads more bytes; 1 = got some, 0 = EOF, -1 = error. */
static int buf_fill(struct lr_conn *c)
{
    for (;;) {
        ssize_t r = recv(c->fd, c->buf + c->len, c->cap - 1 - c->len, 0);
        if (r > 0) {
            c->len += (size_t)r;
            return 1;
        }
        if (r == 0)
            return 0;
        if (errno != EINTR)
            return -1;
    }
}

/* Parses one header line [p, p+len) into r. Values are NUL-terminated in place (the
 * caller guarantees p[len] is the '\r' that ends the line). */
static bool parse_header(uint8_t *p, size_t len, struct lr_resp *r, uint64_t *clen,
                         bool *has_clen)
{
    uint8_t *colon = memchr(p, ':', len);
    if (colon == NULL)
        return false;
    size_t nlen = (size_t)(colon - p);
    uint8_t *v = colon + 1, *end = p + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t vlen = (size_t)(end - v);
    *end = '\0';
    const char *val = (const char *)v;

    if (name_is(p, nlen, "content-length")) {
        if (*has_clen || !parse_u64(v, vlen, clen))
            return false;
        *has_clen = true;
    } else if (name_is(p, nlen, "transfer-encoding")) {
        return false; /* chunked: not used by the Runtime API; refuse rather than guess */
    } else if (name_is(p, nlen, "connection")) {
        r->close = vlen == 5 && name_is(v, 5, "close");
    } else if (name_is(p, nlen, "lambda-runtime-aws-request-id")) {
        r->request_id = val;
    } else if (name_is(p, nlen, "lambda-runtime-invoked-function-arn")) {
        r->function_arn = val;
    } else if (name_is(p, nlen, "lambda-runtime-trace-id")) {
        r->trace_id = val;
    } else if (name_is(p, nlen, "lambda-runtime-client-context")) {
        r->client_context = val;
    } else if (name_is(p, nlen, "lambda-runtime-cognito-identity")) {
        r->cognito_identity = val;
    } else if (name_is(p, nlen, "lambda-runtime-deadline-ms")) {
        r->deadline = val;
    }
    return true;
}

/* Finds Content-Length in a header block without modifying it. False on a malformed or
 * repeated value. */
static bool scan_content_length(const uint8_t *p, size_t head_len, uint64_t *clen,
                                bool *has_clen)
{
    const uint8_t *end = p + head_len, *q = memmem(p, head_len + 2, "\r\n", 2);
    while (q != NULL && q + 2 < end) {
        const uint8_t *line = q + 2;
        const uint8_t *e = memmem(line, (size_t)(end + 2 - line), "\r\n", 2);
        const uint8_t *colon = memchr(line, ':', (size_t)(e - line));
        if (colon != NULL && name_is(line, (size_t)(colon - line), "content-length")) {
            const uint8_t *v = colon + 1, *ve = e;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            if (*has_clen || !parse_u64(v, (size_t)(ve - v), clen))
                return false;
            *has_clen = true;
        }
        q = e;
    }
    return true;
}

/* Reads one response. 1 = ok, 0 = connection closed before any byte (retryable),
 * -1 = error. */
static int read_response(struct lr_conn *c, struct lr_resp *r)
{
    uint8_t *hdr_end = NULL;
    size_t scanned = 0;

    memset(r, 0, sizeof *r);
    buf_reserve(c, 4096);
    for (;;) {
        size_t avail = c->len - c->off;
        if (avail >= 4) {
            size_t from = scanned > 3 ? scanned - 3 : 0;
            uint8_t *p = memmem(c->buf + c->off + from, avail - from, "\r\n\r\n", 4);
            if (p != NULL) {
                hdr_end = p;
                break;
            }
            scanned = avail;
        }
        if (avail >= LR_MAX_HEADER)
            return -1;
        if (c->cap - 1 - c->len == 0)
            buf_reserve(c, (c->cap - 1) * 2);
        int f = buf_fill(c);
        if (f <= 0)
            return (f == 0 && c->len - c->off == 0) ? 0 : -1;
    }

    /* Phase 1: learn the body length and get the whole message into the buffer, which
     * may move it; phase 2 then parses with pointers into its final place. */
    size_t head_len = (size_t)(hdr_end - (c->buf + c->off));
    uint64_t clen = 0;
    bool has_clen = false;
    if (!scan_content_length(c->buf + c->off, head_len, &clen, &has_clen) ||
        clen > LR_MAX_PAYLOAD + 64u * 1024u)
        return -1;
    size_t total = head_len + 4 + (size_t)clen;
    if (c->len - c->off < total) {
        buf_reserve(c, total);
        while (c->len - c->off < total) {
            if (buf_fill(c) <= 0)
                return -1;
        }
    }

    /* Status line: "HTTP/1.x NNN ..." */
    uint8_t *p = c->buf + c->off;
    hdr_end = p + head_len;
    uint8_t *line_end = memmem(p, head_len + 2, "\r\n", 2);
    size_t line_len = (size_t)(line_end - p);
    uint64_t status;
    if (line_len < 12 || memcmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ' ||
        !parse_u64(p + 9, 3, &status))
        return -1;
    r->status = (unsigned)status;
    r->close = p[7] == '0';
    if (!has_clen && r->status != 204 && r->status != 304 && r->status >= 200)
        return -1; /* read-to-EOF framing: not used by the Runtime API */

    uint64_t clen2 = 0;
    bool has_clen2 = false;
    uint8_t *q = line_end + 2;
    while (q < hdr_end) {
        uint8_t *e = memmem(q, (size_t)(hdr_end + 2 - q), "\r\n", 2);
        if (!parse_header(q, (size_t)(e - q), r, &clen2, &has_clen2))
            return -1;
        q = e + 2;
    }
    r->body = p + head_len + 4;
    r->body_len = (size_t)clen;
    c->off += total;
    return 1;
}

/* Makes o the head of a request. */
static void request_head(struct lr_out *o, const struct lr_conn *c, const char *method,
                         const char *path, const char *extra_headers, size_t body_len)
{
    char num[32];
    o->len = 0;
    out_str(o, method);
    out_str(o, " ");
    out_str(o, path);
    out_str(o, " HTTP/1.1\r\nHost: ");
    out_str(o, c->hostport);
    out_str(o, "\r\nUser-Agent: quarry-c-runtime/1\r\n");
    if (strcmp(method, "GET") != 0) {
        snprintf(num, sizeof num, "%zu", body_len);
        out_str(o, "Content-Length: ");
        out_str(o, num);
        out_str(o, "\r\n");
    }
    if (extra_headers != NULL)
        out_str(o, extra_headers);
    out_str(o, "\r\n");
}

/* Sends one request (head + optional body, then `then`: a whole request pipelined after
 * it, or NULL) and reads the first response, reconnecting once if a kept-alive
 * connection turned out to be closed by the server. 0 = ok; *then_sent says whether the
 * pipelined request is on the connection (its response still to be read). */
static int exchange(struct lr_conn *c, const struct lr_out *head, const uint8_t *body,
                    size_t body_len, const struct lr_out *then, bool *then_sent,
                    struct lr_resp *r)
{
    *then_sent = false;
    for (int attempt = 0; attempt < 2; attempt++) {
        bool fresh = c->fd < 0;
        if (fresh && !conn_open(c))
            return -1;
        struct iovec iov[3];
        int n = 0;
        iov[n++] = (struct iovec){head->p, head->len};
        if (body_len > 0)
            iov[n++] = (struct iovec){(void *)(uintptr_t)body, body_len};
        if (then != NULL)
            iov[n++] = (struct iovec){then->p, then->len};
        int got = send_all(c->fd, iov, n) ? read_response(c, r) : 0;
        if (got == 1) {
            if (r->close) {
                /* Body stays readable: close only drops the fd, not the buffer. A
                 * request pipelined behind it is not answered: it is sent again. */
                close(c->fd);
                c->fd = -1;
            } else {
                *then_sent = then != NULL;
            }
            return 0;
        }
        conn_close(c);
        if (fresh || got < 0)
            return -1;
    }
    return -1;
}

static int http_request(struct lr_conn *c, const char *method, const char *path,
                        const char *extra_headers, const uint8_t *body, size_t body_len,
                        struct lr_resp *r)
{
    bool unused;
    request_head(&c->head, c, method, path, extra_headers, body_len);
    return exchange(c, &c->head, body, body_len, NULL, &unused, r);
}

/* GET /next: the response to one already pipelined on the connection, else a new one. */
static int next_invocation(struct lr_conn *c, bool sent, struct lr_resp *r)
{
    if (sent && c->fd >= 0) {
        int got = read_response(c, r);
        if (got == 1) {
            if (r->close) {
                close(c->fd);
                c->fd = -1;
            }
            return 0;
        }
        conn_close(c);
        if (got < 0)
            return -1;
    }
    return http_request(c, "GET", LR_API "/invocation/next", NULL, NULL, 0, r);
}

/* ---- public API ---------------------------------------------------------------- */

int64_t lr_remaining_ms(const struct lr_invocation *inv)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    return inv->deadline_ms > now ? inv->deadline_ms - now : 0;
}

/* POSTs a result or an error; with next_sent != NULL a GET /next goes out behind it and
 * *next_sent says whether it did. */
static int post(struct lr_conn *c, const char *path, const char *headers, const uint8_t *body,
                size_t len, bool *next_sent)
{
    struct lr_resp r;
    bool unused;
    request_head(&c->head, c, "POST", path, headers, len);
    if (next_sent != NULL)
        request_head(&c->next, c, "GET", LR_API "/invocation/next", NULL, 0);
    int rc = exchange(c, &c->head, body, len, next_sent ? &c->next : NULL,
                      next_sent ? next_sent : &unused, &r);
    if (rc != 0) {
        fprintf(stderr, "lambda_runtime: POST %s failed\n", path);
        return -1;
    }
    if (r.status != 202) {
        fprintf(stderr, "lambda_runtime: POST %s returned %u\n", path, r.status);
        return -1;
    }
    return 0;
}

int lr_init_error(const char *error_type, const char *error_message)
{
    struct lr_conn c;
    struct lr_out body = {0}, hdr = {0};
    if (!conn_init(&c))
        return 1;
    error_json(&body, error_type, error_message ? error_message : "");
    out_str(&hdr, "Content-Type: application/json\r\nLambda-Runtime-Function-Error-Type: ");
    out_str(&hdr, error_type);
    out_str(&hdr, "\r\n");
    (void)post(&c, LR_API "/init/error", hdr.p, (const uint8_t *)body.p, body.len, NULL);
    free(body.p);
    free(hdr.p);
    conn_dispose(&c);
    return 1;
}

int lr_run(lr_handler_cb handler)
{
    struct lr_conn c;
    struct lr_out err = {0};
    char path[sizeof LR_API + 3 * LR_MAX_ID + 32];
    char id[3 * LR_MAX_ID + 1];
    int status = 1;
    bool next_sent = false;

    if (!conn_init(&c))
        return 1;
    for (;;) {
        struct lr_resp r;
        struct lr_invocation inv;
        struct lr_response out;
        uint64_t deadline = 0;

        /* The long poll: no timeout, the environment idles here between invocations. */
        if (next_invocation(&c, next_sent, &r) != 0) {
            fputs("lambda_runtime: GET /next failed\n", stderr);
            goto out;
        }
        if (r.status != 200 || r.request_id == NULL || r.request_id[0] == '\0') {
            fprintf(stderr, "lambda_runtime: /next returned %u\n", r.status);
            goto out;
        }
        if (!encode_id(r.request_id, id, sizeof id)) {
            fputs("lambda_runtime: request id too long\n", stderr);
            goto out;
        }
        if (r.deadline != NULL)
            (void)parse_u64((const uint8_t *)r.deadline, strlen(r.deadline), &deadline);
        if (r.trace_id != NULL)
            setenv("_X_AMZN_TRACE_ID", r.trace_id, 1);
        else
            unsetenv("_X_AMZN_TRACE_ID");

        r.body[r.body_len] = '\0';
        inv = (struct lr_invocation){
            .request_id = r.request_id,
            .function_arn = r.function_arn ? r.function_arn : "",
            .trace_id = r.trace_id,
            .client_context = r.client_context,
            .cognito_identity = r.cognito_identity,
            .deadline_ms = deadline > INT64_MAX ? INT64_MAX : (int64_t)deadline,
            .payload = r.body,
            .payload_len = r.body_len,
        };
        memset(&out, 0, sizeof out);
        int hrc = handler(&inv, &out);
        fflush(stdout); /* the engine logs stdout between START and END */

        if (hrc == 0) {
            char hdr[256];
            const uint8_t *b = out.body;
            size_t n = out.body_len;
            if (n == 0) {
                b = (const uint8_t *)"null";
                n = 4;
            }
            snprintf(hdr, sizeof hdr, "Content-Type: %.200s\r\n",
                     out.content_type ? out.content_type : "application/json");
            snprintf(path, sizeof path, LR_API "/invocation/%s/response", id);
            if (post(&c, path, hdr, b, n, &next_sent) != 0)
                goto out;
        } else {
            err.len = 0;
            error_json(&err, out.error_type ? out.error_type : "Unhandled",
                       out.error_message ? out.error_message : "");
            snprintf(path, sizeof path, LR_API "/invocation/%s/error", id);
            if (post(&c, path,
                     "Content-Type: application/json\r\n"
                     "Lambda-Runtime-Function-Error-Type: Unhandled\r\n",
                     (const uint8_t *)err.p, err.len, &next_sent) != 0)
                goto out;
        }
    }
out:
    free(err.p);
    conn_dispose(&c);
    return status;
}
