/*
 * test_lambda_runtime.c - unit tests of lambda_runtime.c's pure pieces: number and header
 * parsing, JSON escaping of error bodies, request-id encoding, address parsing, and the
 * HTTP response reader fed real bytes through a socketpair (split writes, large bodies,
 * malformed framing). Includes the .c to reach its static functions. Expected values are
 * written out by hand from RFC 9112 / RFC 8259, not computed by the code under test.
 */
#include "../lambda_runtime.c"

#include <assert.h>
#include <pthread.h>

static int failures;

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);            \
            failures++;                                                                \
        }                                                                              \
    } while (0)

static void test_parse_u64(void)
{
    uint64_t v = 7;
    CHECK(parse_u64((const uint8_t *)"0", 1, &v) && v == 0);
    CHECK(parse_u64((const uint8_t *)"1714564800123", 13, &v) && v == 1714564800123ull);
    CHECK(parse_u64((const uint8_t *)"9999999999999999999", 19, &v) &&
          v == 9999999999999999999ull);
    CHECK(!parse_u64((const uint8_t *)"", 0, &v));
    CHECK(!parse_u64((const uint8_t *)"+1", 2, &v));
    CHECK(!parse_u64((const uint8_t *)" 1", 2, &v));
    CHECK(!parse_u64((const uint8_t *)"-1", 2, &v));
    CHECK(!parse_u64((const uint8_t *)"12a", 3, &v));
    CHECK(!parse_u64((const uint8_t *)"18446744073709551616", 20, &v));
}

static void test_name_is(void)
{
    CHECK(name_is((const uint8_t *)"Content-Length", 14, "content-length"));
    CHECK(name_is((const uint8_t *)"LAMBDA-RUNTIME-AWS-REQUEST-ID", 29,
                  "lambda-runtime-aws-request-id"));
    CHECK(!name_is((const uint8_t *)"Content-Lengt", 13, "content-length"));
    CHECK(!name_is((const uint8_t *)"Content-Lengthx", 15, "content-length"));
}

static void test_error_json(void)
{
    struct lr_out o = {0};
    error_json(&o, "My.Error", "a\"b\\c\nd\te\x01" "\xc3\xa9");
    CHECK(strcmp(o.p, "{\"errorMessage\":\"a\\\"b\\\\c\\nd\\te\\u0001\xc3\xa9\","
                      "\"errorType\":\"My.Error\",\"stackTrace\":[]}") == 0);
    free(o.p);
}

static void test_encode_id(void)
{
    char buf[64];
    CHECK(encode_id("8476a536-e9f4-11e8-9739-2dfe598c3fcd", buf, sizeof buf) &&
          strcmp(buf, "8476a536-e9f4-11e8-9739-2dfe598c3fcd") == 0);
    CHECK(encode_id("a b/c%", buf, sizeof buf) && strcmp(buf, "a%20b%2Fc%25") == 0);
    CHECK(!encode_id("0123456789012345678901234567890123456789012345678901234567890123", buf,
                     sizeof buf));
}

static void test_parse_address(void)
{
    struct lr_conn c;
    const struct sockaddr_in *a4 = (const struct sockaddr_in *)&c.addr;
    const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&c.addr;
    CHECK(parse_address("127.0.0.1:9001", &c) && a4->sin_family == AF_INET &&
          ntohs(a4->sin_port) == 9001 && ntohl(a4->sin_addr.s_addr) == 0x7f000001);
    CHECK(parse_address("localhost:80", &c) && ntohl(a4->sin_addr.s_addr) == 0x7f000001);
    CHECK(parse_address("[::1]:65535", &c) && a6->sin6_family == AF_INET6 &&
          ntohs(a6->sin6_port) == 65535 && a6->sin6_addr.s6_addr[15] == 1);
    CHECK(!parse_address("127.0.0.1", &c));
    CHECK(!parse_address("127.0.0.1:0", &c));
    CHECK(!parse_address("127.0.0.1:65536", &c));
    CHECK(!parse_address("127.0.0.1:+80", &c));
    CHECK(!parse_address(":80", &c));
    CHECK(!parse_address("example.com:80", &c));
}

/* Writes `len` bytes to fd in pieces of `step` (the reader must reassemble). */
struct writer {
    int fd;
    const char *data;
    size_t len;
    size_t step;
    bool close_after; /* shut down the write side when done (EOF for the reader) */
};

static void *write_thread(void *arg)
{
    const struct writer *w = arg;
    for (size_t off = 0; off < w->len;) {
        size_t n = w->len - off < w->step ? w->len - off : w->step;
        ssize_t r = send(w->fd, w->data + off, n, MSG_NOSIGNAL);
        if (r <= 0)
            break;
        off += (size_t)r;
    }
    if (w->close_after)
        shutdown(w->fd, SHUT_WR);
    return NULL;
}

/* Feeds `raw` (written in `step`-byte pieces) to read_response; returns its result. */
static int feed(const char *raw, size_t len, size_t step, struct lr_conn *c, struct lr_resp *r,
                bool close_after)
{
    int sv[2];
    pthread_t t;
    assert(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    memset(c, 0, sizeof *c);
    c->fd = sv[0];
    struct writer w = {sv[1], raw, len, step, false};
    w.close_after = close_after;
    assert(pthread_create(&t, NULL, write_thread, &w) == 0);
    int rc = read_response(c, r);
    /* A reader that stops early leaves the writer blocked: closing our end frees it. */
    if (rc != 1)
        shutdown(sv[0], SHUT_RD);
    pthread_join(t, NULL);
    close(sv[1]);
    return rc;
}

static void test_read_response(void)
{
    struct lr_conn c;
    struct lr_resp r;
    static const char next[] =
        "HTTP/1.1 200 OK\r\n"
        "Content-Type: application/json\r\n"
        "lambda-runtime-aws-request-id: 8476a536-e9f4-11e8-9739-2dfe598c3fcd\r\n"
        "Lambda-Runtime-Deadline-Ms:   1542409706888  \r\n"
        "Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:f\r\n"
        "Lambda-Runtime-Trace-Id: Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Sampled=1\r\n"
        "Content-Length: 8\r\n"
        "\r\n"
        "{\"k\": 1}";

    /* In one piece and one byte at a time. */
    for (size_t step = sizeof next; step >= 1; step = step == 1 ? 0 : 1) {
        CHECK(feed(next, sizeof next - 1, step, &c, &r, false) == 1);
        CHECK(r.status == 200 && !r.close);
        CHECK(r.request_id && strcmp(r.request_id, "8476a536-e9f4-11e8-9739-2dfe598c3fcd") == 0);
        CHECK(r.deadline && strcmp(r.deadline, "1542409706888") == 0);
        CHECK(r.function_arn &&
              strcmp(r.function_arn, "arn:aws:lambda:us-east-1:123456789012:function:f") == 0);
        CHECK(r.trace_id &&
              strcmp(r.trace_id, "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Sampled=1") == 0);
        CHECK(r.client_context == NULL && r.cognito_identity == NULL);
        CHECK(r.body_len == 8 && memcmp(r.body, "{\"k\": 1}", 8) == 0);
        CHECK(c.off == sizeof next - 1);
        conn_dispose(&c);
        if (step == 1)
            break;
    }

    /* A 2 MB body: the buffer grows past its 16 KB start while headers stay valid. */
    size_t big = 2u * 1024u * 1024u;
    char *raw = malloc(big + 200);
    int hl = snprintf(raw, 200,
                      "HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: id-1\r\n"
                      "Content-Length: %zu\r\n\r\n", big);
    memset(raw + hl, 'x', big);
    CHECK(feed(raw, (size_t)hl + big, 65536, &c, &r, false) == 1);
    CHECK(r.body_len == big && r.body[0] == 'x' && r.body[big - 1] == 'x');
    CHECK(r.request_id && strcmp(r.request_id, "id-1") == 0);
    conn_dispose(&c);
    free(raw);

    static const char accepted[] =
        "HTTP/1.1 202 Accepted\r\nContent-Length: 15\r\nConnection: close\r\n\r\n{\"status\":\"OK\"}";
    CHECK(feed(accepted, sizeof accepted - 1, 7, &c, &r, false) == 1);
    CHECK(r.status == 202 && r.close && r.body_len == 15);
    conn_dispose(&c);

    static const char http10[] = "HTTP/1.0 202 Accepted\r\nContent-Length: 0\r\n\r\n";
    CHECK(feed(http10, sizeof http10 - 1, 100, &c, &r, false) == 1 && r.close);
    conn_dispose(&c);

    /* Malformed framing is an error, never a guess. */
    static const char *const bad[] = {
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
        "HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n",
        "HTTP/1.1 200 OK\r\n\r\nbody to EOF",
        "HTTP/2 200\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nno colon here\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = feed(bad[i], strlen(bad[i]), 5, &c, &r, true);
        if (rc != -1)
            fprintf(stderr, "bad[%zu] gave %d\n", i, rc);
        CHECK(rc == -1);
        conn_dispose(&c);
    }

    /* A closed kept-alive connection before any byte: retryable (0). */
    CHECK(feed("", 0, 1, &c, &r, true) == 0);
    conn_dispose(&c);
}

int main(void)
{
    test_parse_u64();
    test_name_is();
    test_error_json();
    test_encode_id();
    test_parse_address();
    test_read_response();
    if (failures) {
        fprintf(stderr, "test_lambda_runtime: %d check(s) failed\n", failures);
        return 1;
    }
    printf("test_lambda_runtime: all checks passed\n");
    return 0;
}
