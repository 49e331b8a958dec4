/*
 * rtapi.c - the Lambda Runtime API (2018-06-01) of one execution environment: a
 * listener on 127.0.0.1 (port 9001 in the environment's own network namespace, else a
 * port of its own) and a small HTTP/1.1 server on it.
 *
 * Why not h2o's HTTP server: a request must be tied to the environment whose endpoint it
 * reached, and a connection is accepted here with its environment pointer in sock->data,
 * which costs nothing per request (h2o's server would need getsockname per request).
 * The protocol is tiny: four routes, Content-Length or chunked bodies (Node's streaming
 * responses), keep-alive (aws-lambda-cpp and the RICs keep one connection), and a long
 * poll on /next. Requests are parsed with picohttpparser (exported by libh2o-evloop).
 *
 * Every input is bounded: headers by QR_MAX_HEADER_BYTES, response bodies by
 * FN_MAX_PAYLOAD (then 413 and the connection closes: the rest of the body is not read),
 * error bodies by FN_MAX_ERROR_BODY. One request per connection is in progress at a time;
 * bytes a client sends while its request is parked or answered wait in the socket
 * buffer, at most 64 KB of them.
 *
 * Responses are gathered in the connection's out buffer and written once per pass over
 * the bytes read, so that requests a client pipelines (the C runtime sends its result
 * and the next GET /next in one segment) are answered in one write. When the pipelined
 * GET /next has to wait, the 202 for the result before it waits too and goes out with
 * the next event: the client reads nothing before its event anyway, and one segment
 * instead of two halves the wake-ups on both sides. A client that does not pipeline
 * sees each response as soon as its request is handled, as before.
 */
#include "fn/fn_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/limits.h"

#define MAX_HEADERS   64
#define MAX_PARKED_IN (64u * 1024u)
#define ID_MAX        128

enum rt_route {
    RT_NEXT,
    RT_RESPONSE,
    RT_ERROR,
    RT_INIT_ERROR,
};

enum rc_state {
    RC_HEAD,    /* reading a request head */
    RC_BODY,    /* reading a body */
    RC_PARKED,  /* GET /next waits for an invocation */
};

/* Gathered responses beyond this go out before more requests are read. */
#define OUT_FLUSH_AT (16u * 1024u)

struct fn_rt_conn {
    h2o_linklist_t link; /* env->conns */
    struct fn_env *env;
    h2o_socket_t *sock;
    enum rc_state state;
    enum rt_route route;
    char id[ID_MAX]; /* request id from the path, NUL-terminated */
    char etype[128]; /* Lambda-Runtime-Function-Error-Type */
    bool chunked;
    uint64_t clen; /* Content-Length */
    size_t body_max;
    bool keep_alive;
    bool close_after;
    bool writing; /* out is being written: it must not change, nothing more is read */
    struct phr_chunked_decoder dec;
    struct qr_buf body; /* chunked bodies, decoded */
    struct qr_buf out;  /* the response being written */
};

static void conn_process(struct fn_rt_conn *c);

static void conn_close(struct fn_rt_conn *c)
{
    if (c->env && c->env->waiter == c)
        c->env->waiter = NULL;
    h2o_linklist_unlink(&c->link);
    h2o_socket_close(c->sock);
    qr_buf_dispose(&c->body);
    qr_buf_dispose(&c->out);
    free(c);
}

static void on_write_done(h2o_socket_t *sock, const char *err)
{
    struct fn_rt_conn *c = sock->data;
    if (err || c->close_after) {
        conn_close(c);
        return;
    }
    if (c->out.cap > 256 * 1024)
        qr_buf_dispose(&c->out); /* a 6 MB event must not stay pinned per connection */
    else
        qr_buf_reset(&c->out);
    c->writing = false;
    conn_process(c);
}

/* Writes what out gathered, in one write. */
static void flush_out(struct fn_rt_conn *c)
{
    h2o_iovec_t v = h2o_iovec_init(c->out.p, c->out.len);
    c->writing = true;
    h2o_socket_write(c->sock, &v, 1, on_write_done);
}

/* A response with a small JSON body, appended to out; it goes out at the end of the
 * pass (conn_process), at once when the connection closes after it. */
static void respond(struct fn_rt_conn *c, int status, const char *reason, const char *body)
{
    c->state = RC_HEAD;
    if (qr_buf_addf(&c->out,
                    "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                    "%s\r\n%s",
                    status, reason, strlen(body), c->close_after ? "Connection: close\r\n" : "",
                    body) != QR_OK) {
        conn_close(c);
        return;
    }
    if (c->close_after)
        flush_out(c);
}

static void respond_err(struct fn_rt_conn *c, int status, const char *reason, const char *type,
                        const char *msg)
{
    char body[512];
    snprintf(body, sizeof(body), "{\"errorMessage\":\"%s\",\"errorType\":\"%s\"}", msg, type);
    respond(c, status, reason, body);
}

static void respond_accepted(struct fn_rt_conn *c)
{
    respond(c, 202, "Accepted", "{\"status\":\"OK\"}");
}

void fn_rt_deliver(struct fn_env *env)
{
    struct fn_rt_conn *c = env->waiter;
    struct fn_inv *inv = env->cur;
    char trace[128];
    const char *rid = inv->request_id;
    size_t rl = strlen(rid);

    env->waiter = NULL;
    /* X-Ray style trace id derived from the request id: no syscall, unique per invoke. */
    char hex[33];
    size_t h = 0;
    for (size_t i = 0; i < rl && h < 32; i++)
        if ((rid[i] >= '0' && rid[i] <= '9') || (rid[i] >= 'a' && rid[i] <= 'f'))
            hex[h++] = rid[i];
    while (h < 32)
        hex[h++] = '0';
    hex[32] = '\0';
    snprintf(trace, sizeof(trace), "Root=1-%08llx-%.24s;Parent=%.16s;Sampled=0",
             (unsigned long long)(inv->deadline_ms / 1000) & 0xffffffffull, hex, hex + 16);
    /* out may hold the 202 of a pipelined result (see the file comment): append */
    bool qualified = inv->cfg.version && strcmp(inv->cfg.version, "$LATEST") != 0;
    enum qr_err err = qr_buf_addf(
        &c->out,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        "Lambda-Runtime-Aws-Request-Id: %s\r\nLambda-Runtime-Deadline-Ms: %lld\r\n"
        "Lambda-Runtime-Invoked-Function-Arn: %s%s%s\r\nLambda-Runtime-Trace-Id: %s\r\n",
        rid, (long long)inv->deadline_ms, inv->invoked_arn ? inv->invoked_arn : inv->cfg.arn,
        qualified && !inv->invoked_arn ? ":" : "",
        qualified && !inv->invoked_arn ? inv->cfg.version : "", trace);
    if (err == QR_OK && inv->client_context)
        err = qr_buf_addf(&c->out, "Lambda-Runtime-Client-Context: %s\r\n", inv->client_context);
    if (err == QR_OK)
        err = qr_buf_addf(&c->out, "Content-Length: %zu\r\n\r\n", inv->payload_len);
    if (err == QR_OK)
        err = qr_buf_add(&c->out, inv->payload, inv->payload_len);
    if (err != QR_OK) {
        conn_close(c);
        return;
    }
    c->state = RC_HEAD;
    flush_out(c);
}

/* Percent-decodes the id segment into c->id; false if it does not fit or is malformed. */
static bool take_id(struct fn_rt_conn *c, const char *p, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        if (ch == '%') {
            if (i + 2 >= n)
                return false;
            int v = 0;
            for (size_t k = 1; k <= 2; k++) {
                char d = p[i + k];
                v <<= 4;
                if (d >= '0' && d <= '9')
                    v |= d - '0';
                else if (d >= 'a' && d <= 'f')
                    v |= d - 'a' + 10;
                else if (d >= 'A' && d <= 'F')
                    v |= d - 'A' + 10;
                else
                    return false;
            }
            ch = (char)v;
            i += 2;
        }
        if (ch == '\0' || o + 1 >= sizeof(c->id))
            return false;
        c->id[o++] = ch;
    }
    c->id[o] = '\0';
    return o > 0;
}

/* Routes method + path; false for an unknown route. */
static bool route(struct fn_rt_conn *c, struct qr_slice m, struct qr_slice path)
{
    static const char pre[] = "/2018-06-01/runtime/";
    size_t pl = sizeof(pre) - 1;
    for (size_t i = 0; i < path.len; i++) /* no query strings on these routes */
        if (path.p[i] == '?')
            path.len = i;
    if (path.len < pl || memcmp(path.p, pre, pl) != 0)
        return false;
    struct qr_slice rest = qr_slice(path.p + pl, path.len - pl);
    bool get = qr_slice_eq_lit(m, "GET"), post = qr_slice_eq_lit(m, "POST");
    if (get && qr_slice_eq_lit(rest, "invocation/next")) {
        c->route = RT_NEXT;
        return true;
    }
    if (post && qr_slice_eq_lit(rest, "init/error")) {
        c->route = RT_INIT_ERROR;
        return true;
    }
    static const char inv[] = "invocation/";
    if (!post || rest.len <= sizeof(inv) - 1 || memcmp(rest.p, inv, sizeof(inv) - 1) != 0)
        return false;
    rest = qr_slice(rest.p + sizeof(inv) - 1, rest.len - (sizeof(inv) - 1));
    size_t slash = rest.len;
    for (size_t i = 0; i < rest.len; i++)
        if (rest.p[i] == '/')
            slash = i;
    if (slash == rest.len || slash == 0)
        return false;
    struct qr_slice what = qr_slice(rest.p + slash + 1, rest.len - slash - 1);
    if (qr_slice_eq_lit(what, "response"))
        c->route = RT_RESPONSE;
    else if (qr_slice_eq_lit(what, "error"))
        c->route = RT_ERROR;
    else
        return false;
    return take_id(c, (const char *)rest.p, slash);
}

/* Whether the id names the invocation this environment is running. */
static bool id_is_current(struct fn_rt_conn *c)
{
    struct fn_inv *inv = c->env->cur;
    return inv && inv->delivered && strcmp(inv->request_id, c->id) == 0;
}

static void handle(struct fn_rt_conn *c, struct qr_slice body)
{
    struct fn_env *env = c->env;
    struct qr_slice et = qr_slice_cstr(c->etype);
    if (env->state == ENV_DEAD) {
        c->close_after = true;
        respond_err(c, 500, "Internal Server Error", "Runtime.Stopped",
                    "The execution environment is shutting down.");
        return;
    }
    switch (c->route) {
    case RT_NEXT:
        if (env->waiter || (env->cur && env->cur->delivered)) {
            respond_err(c, 403, "Forbidden", "InvalidStateTransition",
                        "An invocation is already in progress.");
            return;
        }
        c->state = RC_PARKED;
        env->waiter = c;
        fn_on_next(env); /* may deliver at once */
        return;
    case RT_RESPONSE:
    case RT_ERROR:
        if (!id_is_current(c)) {
            respond_err(c, 400, "Bad Request", "InvalidRequestID",
                        "Invalid request ID or the invocation is already finished.");
            return;
        }
        respond_accepted(c);
        fn_on_result(env, c->route == RT_ERROR, et, body);
        return;
    case RT_INIT_ERROR:
        if (env->state != ENV_INIT || (env->cur && env->cur->delivered)) {
            respond_err(c, 403, "Forbidden", "InvalidStateTransition",
                        "Init errors can only be reported during initialization.");
            return;
        }
        respond_accepted(c);
        fn_on_init_error(env, et, body);
        return;
    }
}

/* Parses a head in sock->input; false when it is incomplete (wait for more). */
static bool parse_head(struct fn_rt_conn *c)
{
    h2o_buffer_t *in = c->sock->input;
    const char *method, *path;
    size_t ml, pl, nh = MAX_HEADERS;
    int minor;
    struct phr_header hs[MAX_HEADERS];

    int r = phr_parse_request(in->bytes, in->size, &method, &ml, &path, &pl, &minor, hs, &nh, 0);
    if (r == -2) {
        if (in->size > QR_MAX_HEADER_BYTES) {
            c->close_after = true;
            respond_err(c, 431, "Request Header Fields Too Large", "InvalidRequest",
                        "Request headers too large.");
        }
        return false;
    }
    if (r < 0) {
        c->close_after = true;
        respond_err(c, 400, "Bad Request", "InvalidRequest", "Malformed request.");
        return false;
    }
    c->etype[0] = '\0';
    c->chunked = false;
    c->clen = 0;
    c->keep_alive = minor >= 1;
    bool has_len = false, expect = false, bad = false;
    for (size_t i = 0; i < nh; i++) {
        struct qr_slice n = qr_slice(hs[i].name, hs[i].name_len);
        struct qr_slice v = qr_slice(hs[i].value, hs[i].value_len);
        if (!hs[i].name)
            continue; /* a folded continuation line */
        if (qr_slice_ieq(n, QR_SLICE_LIT("content-length"))) {
            if (has_len || !qr_slice_u64(v, UINT64_MAX / 2, &c->clen))
                bad = true;
            has_len = true;
        } else if (qr_slice_ieq(n, QR_SLICE_LIT("transfer-encoding"))) {
            if (qr_slice_ieq(v, QR_SLICE_LIT("chunked")))
                c->chunked = true;
            else
                bad = true;
        } else if (qr_slice_ieq(n, QR_SLICE_LIT("connection"))) {
            if (qr_slice_ieq(v, QR_SLICE_LIT("close")))
                c->keep_alive = false;
            else if (qr_slice_ieq(v, QR_SLICE_LIT("keep-alive")))
                c->keep_alive = true;
        } else if (qr_slice_ieq(n, QR_SLICE_LIT("expect"))) {
            expect = qr_slice_ieq(v, QR_SLICE_LIT("100-continue"));
        } else if (qr_slice_ieq(n, QR_SLICE_LIT("lambda-runtime-function-error-type"))) {
            size_t k = v.len < sizeof(c->etype) - 1 ? v.len : sizeof(c->etype) - 1, o = 0;
            for (size_t j = 0; j < k; j++)
                if (v.p[j] >= 0x20 && v.p[j] < 0x7f && v.p[j] != '"' && v.p[j] != '\\')
                    c->etype[o++] = (char)v.p[j];
            c->etype[o] = '\0';
        }
    }
    bool routed = route(c, qr_slice(method, ml), qr_slice(path, pl));
    h2o_buffer_consume(&c->sock->input, (size_t)r);
    if (bad || (has_len && c->chunked)) {
        c->close_after = true;
        respond_err(c, 400, "Bad Request", "InvalidRequest", "Malformed body framing.");
        return false;
    }
    if (!c->keep_alive)
        c->close_after = true;
    if (!routed) {
        c->close_after = c->close_after || c->chunked || c->clen > 0;
        respond_err(c, 404, "Not Found", "InvalidRequest", "Unknown Runtime API route.");
        return false;
    }
    c->body_max = c->route == RT_RESPONSE ? FN_MAX_PAYLOAD : FN_MAX_ERROR_BODY;
    if (!c->chunked && c->clen > c->body_max) {
        /* AWS fails the invocation; the rest of the body is never read. */
        c->close_after = true;
        bool cur = c->route == RT_RESPONSE && id_is_current(c);
        respond_err(c, 413, "Payload Too Large", "RequestEntityTooLarge",
                    "Payload exceeds the maximum allowed size.");
        if (cur)
            fn_on_too_large(c->env, c->clen);
        return false;
    }
    if (expect && (c->chunked || c->clen > 0)) {
        /* curl waits a second for this before sending bodies over 1 MB; behind any
         * response gathered before it, and written now: the body waits for it */
        if (qr_buf_adds(&c->out, "HTTP/1.1 100 Continue\r\n\r\n") == QR_OK)
            flush_out(c);
    }
    qr_buf_init(&c->body, c->body_max);
    memset(&c->dec, 0, sizeof(c->dec));
    c->dec.consume_trailer = 1;
    c->state = RC_BODY;
    return !c->writing;
}

/* Reads body bytes; true once the body is complete and handled. */
static bool read_body(struct fn_rt_conn *c)
{
    h2o_buffer_t *in = c->sock->input;
    if (!c->chunked) {
        if (in->size < c->clen)
            return false;
        handle(c, qr_slice(in->bytes, (size_t)c->clen));
        h2o_buffer_consume(&c->sock->input, (size_t)c->clen);
        return true;
    }
    /* chunked: move raw bytes into body and decode them in place */
    while (in->size > 0) {
        size_t take = in->size, at = c->body.len;
        if (qr_buf_add(&c->body, in->bytes, take) != QR_OK) {
            bool cur = c->route == RT_RESPONSE && id_is_current(c);
            c->close_after = true;
            respond_err(c, 413, "Payload Too Large", "RequestEntityTooLarge",
                        "Payload exceeds the maximum allowed size.");
            if (cur)
                fn_on_too_large(c->env, (uint64_t)c->body.max + 1);
            return true;
        }
        h2o_buffer_consume(&c->sock->input, take);
        size_t n = take;
        ssize_t r = phr_decode_chunked(&c->dec, (char *)c->body.p + at, &n);
        c->body.len = at + n;
        if (r == -1) {
            c->close_after = true;
            respond_err(c, 400, "Bad Request", "InvalidRequest", "Malformed chunked body.");
            return true;
        }
        if (r >= 0) {
            if (r > 0)
                c->close_after = true; /* pipelined bytes after a chunked body: not supported */
            handle(c, qr_slice(c->body.p, c->body.len));
            return true;
        }
    }
    return false;
}

/* One pass over the bytes read: handles every complete request, then writes the
 * responses gathered, unless a parked GET /next holds them for its event. */
static void conn_process(struct fn_rt_conn *c)
{
    bool more = true;
    while (more && !c->writing && c->out.len < OUT_FLUSH_AT) {
        switch (c->state) {
        case RC_HEAD:
            more = c->sock->input->size > 0 && parse_head(c);
            break;
        case RC_BODY:
            more = read_body(c);
            if (more && c->state == RC_BODY)
                c->state = RC_HEAD; /* handled without a response: cannot happen */
            break;
        case RC_PARKED:
            more = false;
            break;
        }
    }
    if ((c->writing || c->state == RC_PARKED) && c->sock->input->size > MAX_PARKED_IN) {
        conn_close(c);
        return;
    }
    if (!c->writing && c->out.len > 0 && c->state != RC_PARKED)
        flush_out(c);
}

static void on_read(h2o_socket_t *sock, const char *err)
{
    struct fn_rt_conn *c = sock->data;
    if (err) {
        conn_close(c);
        return;
    }
    conn_process(c);
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    struct fn_env *env = listener->data;
    h2o_socket_t *sock;
    if (err)
        return;
    while ((sock = h2o_evloop_socket_accept(listener)) != NULL) {
        struct fn_rt_conn *c = qr_xmalloc(sizeof(*c));
        memset(c, 0, sizeof(*c));
        c->env = env;
        c->sock = sock;
        c->state = RC_HEAD;
        qr_buf_init(&c->out, FN_MAX_PAYLOAD + 64 * 1024);
        qr_buf_init(&c->body, 0);
        int one = 1;
        (void)setsockopt(h2o_socket_get_fd(sock), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        sock->data = c;
        h2o_linklist_insert(&env->conns, &c->link);
        h2o_socket_read_start(sock, on_read);
    }
}

/* A listening socket on 127.0.0.1:port (0: any) of the calling thread's network
 * namespace, or -1. */
int fn_listen_loopback(uint16_t port, int backlog)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons(port);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, backlog) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

enum qr_err fn_rt_adopt(struct fn_env *env, int fd)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    if (getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
        close(fd);
        return QR_E_IO;
    }
    env->port = ntohs(sa.sin_port);
    env->listener = h2o_evloop_socket_create(env->e->loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    env->listener->data = env;
    h2o_socket_read_start(env->listener, on_accept);
    return QR_OK;
}

enum qr_err fn_rt_listen(struct fn_env *env, uint16_t port)
{
    int fd = fn_listen_loopback(port, 16);
    return fd < 0 ? QR_E_IO : fn_rt_adopt(env, fd);
}

void fn_rt_close(struct fn_env *env)
{
    while (!h2o_linklist_is_empty(&env->conns))
        conn_close(H2O_STRUCT_FROM_MEMBER(struct fn_rt_conn, link, env->conns.next));
    env->waiter = NULL;
    if (env->listener) {
        h2o_socket_close(env->listener);
        env->listener = NULL;
    }
}
