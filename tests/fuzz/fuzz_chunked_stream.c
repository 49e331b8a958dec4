/*
 * fuzz_chunked_stream.c - libFuzzer harness for the incremental aws-chunked decoder
 * (sigv4_chunked_init/feed/end in auth/sigv4.h), the one a streamed PUT runs piece by
 * piece as the body arrives.
 *
 * Byte 0 picks the mode, byte 1 seeds the split points, byte 2 a declared decoded length
 * (mode bit 1), the rest is the input.
 *  - mode bit 0 clear: the input is an aws-chunked body as sent (unsigned, or signed with
 *    mode bit 2, which random bytes will rarely sign right). It is fed whole and again in
 *    pieces split at pseudo-random points (sizes 0..255, empty feeds included): the two
 *    must agree exactly (error, decoded bytes, trailers), each feed's output must fit in
 *    its input, and after an error every later feed must return it again.
 *  - mode bit 0 set: the input describes up to 16 chunks (a size byte each, in units of
 *    64 bytes, data taken from the input) and, with mode bit 3, a CRC32 trailer; the
 *    harness frames and signs them as an SDK would, with mode bit 4 flips one bit at a
 *    position the last input byte picks, and feeds the result in random pieces.
 *    Unflipped, it must decode to exactly the chunks' bytes and the trailer, or fail
 *    with QR_E_CHUNK_SIZE when a chunk under 8 KiB was not the last; flipped, it may
 *    pass only with exactly those (whitespace around a trailer value, the case of hex
 *    digits and header names are not signed), never with a changed payload or trailer.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "auth/sigv4.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char EMPTY[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

static void ctx_init(struct sigv4_chunk_ctx *ctx)
{
    memset(ctx, 0, sizeof(*ctx));
    memset(ctx->key, 0x5a, sizeof(ctx->key));
    memcpy(ctx->scope, "20261125/us-east-1/s3/aws4_request", 35);
    memcpy(ctx->amz_date, "20261125T120000Z", 17);
    memcpy(ctx->seed_signature, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
           65);
}

static void hex(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", p[i]);
}

/* The next signature in the chain: kind over prev and the hash of what it covers. */
static void chain(const struct sigv4_chunk_ctx *ctx, const char *kind, char prev[65],
                  const char *rest)
{
    char msg[512];
    uint8_t mac[32];
    unsigned int ml = 0;
    int n = snprintf(msg, sizeof(msg), "%s\n%s\n%s\n%s\n%s", kind, ctx->amz_date, ctx->scope,
                     prev, rest);
    HMAC(EVP_sha256(), ctx->key, sizeof(ctx->key), (const uint8_t *)msg, (size_t)n, mac, &ml);
    hex(mac, 32, prev);
}

struct result {
    enum qr_err err;
    uint8_t *out;
    size_t len;
    size_t n_tr;
    struct sigv4_trailer tr[SIGV4_MAX_TRAILERS];
};

/* Feeds body in pieces whose sizes come from seed (0: all at once). */
static void run(const uint8_t *body, size_t len, const struct sigv4_chunk_ctx *ctx,
                int64_t decoded_len, uint8_t seed, struct result *r)
{
    struct sigv4_chunked d;
    uint8_t *buf = malloc(len ? len : 1);
    uint32_t x = seed * 2654435761u + 1;
    memset(r, 0, sizeof(*r));
    r->out = malloc(len ? len : 1);
    sigv4_chunked_init(&d, ctx, decoded_len, 2);
    size_t pos = 0;
    enum qr_err err = QR_OK;
    while (pos < len) {
        x = x * 1103515245u + 12345u;
        size_t n = seed == 0 ? len : (x >> 16) % 256;
        if (n > len - pos)
            n = len - pos;
        memcpy(buf, body + pos, n);
        size_t got = 99999;
        enum qr_err e = sigv4_chunked_feed(&d, buf, n, &got);
        if (err != QR_OK && e != err)
            abort(); /* an error is sticky */
        if (e == QR_OK) {
            if (got > n)
                abort();
            memcpy(r->out + r->len, buf, got);
            r->len += got;
        } else if (got != 0) {
            abort();
        }
        err = e;
        pos += n;
    }
    if (err == QR_OK)
        err = sigv4_chunked_end(&d);
    r->err = err;
    if (err == QR_OK) {
        if (decoded_len >= 0 && r->len != (uint64_t)decoded_len)
            abort();
        r->n_tr = d.n_trailers;
        memcpy(r->tr, d.trailers, sizeof(r->tr));
    }
    sigv4_chunked_wipe(&d);
    free(buf);
}

static void same(const struct result *a, const struct result *b)
{
    if (a->err != b->err)
        abort();
    if (a->err != QR_OK)
        return;
    if (a->len != b->len || memcmp(a->out, b->out, a->len) != 0 || a->n_tr != b->n_tr ||
        memcmp(a->tr, b->tr, a->n_tr * sizeof(a->tr[0])) != 0)
        abort();
}

#define MAX_CHUNKS 16

/* Frames and signs the chunks described by in: each input byte L is a chunk of L * 64
 * bytes (so both sides of the 8 KiB minimum occur) taken from the input cyclically, up
 * to MAX_CHUNKS chunks, then the final one. Returns the body, the plain data in *plain;
 * *small: a chunk under 8 KiB that is not the last data chunk. */
static uint8_t *sign_body(const struct sigv4_chunk_ctx *ctx, const uint8_t *in, size_t len,
                          bool trailer, size_t *out_len, uint8_t **plain, size_t *plain_len,
                          bool *small)
{
    size_t cap = (MAX_CHUNKS + 1) * (255 * 64 + 90) + 4096, o = 0;
    uint8_t *b = malloc(cap);
    char prev[65], rest[140], dh[65];
    uint8_t md[32];
    memcpy(prev, ctx->seed_signature, 65);
    *plain = malloc(MAX_CHUNKS * 255 * 64 + 1);
    *plain_len = 0;
    *small = false;
    bool last_small = false;
    for (size_t c = 0;; c++) {
        size_t n = c < MAX_CHUNKS && c < len ? (size_t)in[c] * 64 : 0;
        uint8_t *data = *plain + *plain_len;
        for (size_t j = 0; j < n; j++)
            data[j] = in[(c + j) % len];
        if (n > 0) {
            *small = *small || last_small;
            last_small = n < 8192;
        }
        SHA256(data, n, md);
        hex(md, 32, dh);
        snprintf(rest, sizeof(rest), "%s\n%s", EMPTY, dh);
        chain(ctx, "AWS4-HMAC-SHA256-PAYLOAD", prev, rest);
        o += (size_t)snprintf((char *)b + o, cap - o, "%zx;chunk-signature=%s\r\n", n, prev);
        memcpy(b + o, data, n);
        *plain_len += n;
        o += n;
        if (n == 0)
            break;
        memcpy(b + o, "\r\n", 2);
        o += 2;
    }
    if (trailer) {
        static const char canon[] = "x-amz-checksum-crc32:AAAAAA==\n";
        SHA256((const uint8_t *)canon, sizeof(canon) - 1, md);
        hex(md, 32, dh);
        chain(ctx, "AWS4-HMAC-SHA256-TRAILER", prev, dh);
        o += (size_t)snprintf((char *)b + o, cap - o,
                              "x-amz-checksum-crc32:AAAAAA==\r\nx-amz-trailer-signature:%s\r\n",
                              prev);
    }
    memcpy(b + o, "\r\n", 2);
    *out_len = o + 2;
    return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    uint8_t mode = data[0], seed = data[1];
    int64_t decoded_len = (mode & 2) ? data[2] : -1;
    const uint8_t *in = data + 3;
    size_t len = size - 3;
    struct sigv4_chunk_ctx ctx;
    ctx_init(&ctx);
    struct result whole, split;

    if (!(mode & 1)) {
        const struct sigv4_chunk_ctx *c = (mode & 4) ? &ctx : NULL;
        run(in, len, c, decoded_len, 0, &whole);
        run(in, len, c, decoded_len, seed | 1, &split);
        same(&whole, &split);
        free(whole.out);
        free(split.out);
        return 0;
    }
    /* signed by the harness: the last input byte picks the flipped bit, if any */
    uint8_t flip = in[len - 1];
    size_t body_len, plain_len;
    uint8_t *plain;
    bool small;
    uint8_t *body =
        sign_body(&ctx, in, len - 1, mode & 8, &body_len, &plain, &plain_len, &small);
    bool flipped = mode & 16;
    if (flipped) {
        size_t at = ((size_t)flip * 7919u + seed) % body_len;
        uint8_t bit = (uint8_t)(1u << (flip & 7));
        /* upper-casing a letter keeps a hex digit or a header name: no change */
        if (bit == 0x20 && body[at] >= 'a' && body[at] <= 'z')
            flipped = false;
        else
            body[at] ^= bit;
    }
    run(body, body_len, &ctx, -1, seed | 1, &split);
    /* what a flip may never do: change the payload or a trailer and still pass */
    bool intact = split.len == plain_len && memcmp(split.out, plain, plain_len) == 0 &&
                  split.n_tr == ((mode & 8) ? 1u : 0u) &&
                  (split.n_tr == 0 || (strcmp(split.tr[0].name, "x-amz-checksum-crc32") == 0 &&
                                       strcmp(split.tr[0].value, "AAAAAA==") == 0));
    if (!flipped && small && split.err != QR_E_CHUNK_SIZE)
        abort();
    if (!flipped && !small && (split.err != QR_OK || !intact))
        abort();
    if (flipped && split.err == QR_OK && !intact)
        abort();
    free(split.out);
    free(body);
    free(plain);
    return 0;
}
