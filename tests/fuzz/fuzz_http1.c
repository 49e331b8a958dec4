/*
 * fuzz_http1.c - libFuzzer harness for the HTTP/1.1 request-head parser and the chunked
 * body decoder (http/http.h).
 *
 * The input is a request as it comes off the socket. Besides memory safety it checks the
 * contract: only documented errors; a complete head has a length within the input, every
 * slice points into the input, Content-Length and chunked never both, the head within
 * HTTP_MAX_HEAD; then whatever follows the head is run through the chunked decoder in a
 * copy, whose output never grows.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void inside(const uint8_t *base, size_t size, struct qr_slice s)
{
    if (s.len == 0)
        return;
    if (s.p < base || s.p + s.len > base + size)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct http_head *h = malloc(sizeof(*h));
    bool done;
    enum qr_err e = http_parse_head((const char *)data, size, h, &done);
    if (e != QR_OK && e != QR_E_BAD_INPUT && e != QR_E_NOT_IMPLEMENTED && e != QR_E_TOO_LARGE)
        abort();
    if (e == QR_OK && done) {
        if (h->head_len == 0 || h->head_len > size || h->head_len > HTTP_MAX_HEAD)
            abort();
        if (h->chunked && h->has_length)
            abort();
        if (h->n_hdrs > HTTP_MAX_HEADERS)
            abort();
        inside(data, size, h->method);
        inside(data, size, h->target);
        inside(data, size, h->host);
        for (size_t i = 0; i < h->n_hdrs; i++) {
            inside(data, size, h->hdrs[i].name);
            inside(data, size, h->hdrs[i].value);
        }
        size_t n = size - h->head_len;
        char *body = malloc(n + 1);
        memcpy(body, data + h->head_len, n);
        struct http_chunked dec;
        memset(&dec, 0, sizeof(dec));
        size_t len = n;
        ssize_t r = http_chunked_decode(&dec, body, &len);
        if (len > n || (r >= 0 && (size_t)r > n - len))
            abort();
        free(body);
    }
    free(h);
    return 0;
}
