/*
 * sigv4.h - AWS Signature Version 4: parsing the Authorization header or a presigned
 * query, rebuilding the canonical request over the raw path and query exactly as they
 * arrived, verifying the signature, and decoding aws-chunked bodies (signed chunks,
 * unsigned chunks with trailing checksums).
 *
 * No HTTP types: the caller hands over method, raw path, raw query and headers as
 * slices. Pure functions of their inputs: any thread. Secrets and derived keys are wiped
 * (OPENSSL_cleanse) before return; nothing here logs.
 */
#ifndef QR_SIGV4_H
#define QR_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/sha.h>

#include "util/buf.h"
#include "util/err.h"
#include "util/slice.h"

struct sigv4_header {
    struct qr_slice name;  /* as received (any case) */
    struct qr_slice value; /* as received (untrimmed) */
};

struct sigv4_input {
    struct qr_slice method; /* "GET" */
    struct qr_slice path;   /* raw path as received, still percent-encoded, no query */
    struct qr_slice query;  /* raw query after '?', without the '?'; may be empty */
    const struct sigv4_header *headers;
    size_t n_headers;
    int64_t now_ms; /* server clock, ms since the epoch */
};

/* What x-amz-content-sha256 (or a presign) says about the body. */
enum sigv4_payload {
    SIGV4_PAYLOAD_HASH,              /* 64 hex chars: SHA-256 of the body (or computed) */
    SIGV4_PAYLOAD_UNSIGNED,          /* UNSIGNED-PAYLOAD */
    SIGV4_PAYLOAD_STREAMING,         /* STREAMING-AWS4-HMAC-SHA256-PAYLOAD */
    SIGV4_PAYLOAD_STREAMING_TRAILER, /* STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER */
    SIGV4_PAYLOAD_UNSIGNED_TRAILER,  /* STREAMING-UNSIGNED-PAYLOAD-TRAILER */
};

struct sigv4_auth {
    bool presigned; /* from the query string rather than Authorization */
    char akid[129]; /* access key id, NUL-terminated */
    char date[9];   /* yyyymmdd from the credential scope */
    char region[33];
    char service[33];               /* "s3", "s3express", "lambda", "iam", "sts", "logs", ... */
    char amz_date[17];              /* yyyymmddTHHMMSSZ */
    int64_t request_ms;             /* amz_date as ms since the epoch */
    int64_t expires_s;              /* presigned: X-Amz-Expires, else 0 */
    struct qr_slice signed_headers; /* "host;x-amz-date" as received; borrowed from input */
    char signature[65];             /* lower-case hex */
    enum sigv4_payload payload;
    char payload_hash[65];          /* SIGV4_PAYLOAD_HASH with a header: the declared hex hash;
                                       "" when the caller must hash the body (no header) */
    struct qr_slice security_token; /* X-Amz-Security-Token (header or query), borrowed */
    struct qr_slice session_token;  /* x-amz-s3session-token (header or query), borrowed */
};

/* Parses the request's SigV4 authentication (header or presigned query) without checking
 * the signature. Errors: QR_E_AUTH_MISSING (neither form present), QR_E_AUTH_MALFORMED,
 * QR_E_CLOCK_SKEW (header auth: more than 15 minutes from now_ms), QR_E_EXPIRED
 * (presigned URL past X-Amz-Date + X-Amz-Expires). *out borrows from in. */
enum qr_err sigv4_parse(const struct sigv4_input *in, struct sigv4_auth *out)
    __attribute__((warn_unused_result));

/*
 * Verifies the signature of a parsed request with the secret of auth->akid.
 * body_sha256_hex: the hex SHA-256 to use as payload hash when auth->payload_hash is ""
 * (services that send no x-amz-content-sha256 header: the caller hashes the body), else
 * NULL. On success fills *out_chunk (may be NULL) with what sigv4_chunked_decode needs
 * to check chunk signatures. Errors: QR_E_SIGNATURE, QR_E_AUTH_MALFORMED.
 */
struct sigv4_chunk_ctx {
    uint8_t key[32]; /* derived signing key; wiped by sigv4_chunk_ctx_wipe */
    char scope[128]; /* date/region/service/aws4_request */
    char amz_date[17];
    char seed_signature[65]; /* the request signature, first "previous signature" */
};
enum qr_err sigv4_verify(const struct sigv4_input *in, const struct sigv4_auth *auth,
                         struct qr_slice secret, const char *body_sha256_hex,
                         struct sigv4_chunk_ctx *out_chunk) __attribute__((warn_unused_result));
void sigv4_chunk_ctx_wipe(struct sigv4_chunk_ctx *c);

/* A trailer of an aws-chunked body ("x-amz-checksum-crc32: <b64>"). */
struct sigv4_trailer {
    char name[64];   /* lower-case, NUL-terminated */
    char value[128]; /* NUL-terminated, trimmed */
};

/*
 * Decodes a whole aws-chunked body (HTTP chunking already removed) into out (whose max
 * bounds the decoded size). ctx != NULL: every chunk-signature (and the trailer
 * signature when present) is verified; ctx == NULL: unsigned chunks, and a
 * chunk-signature present is an error. Trailers (at most max_trailers) are returned.
 * Errors: QR_E_BAD_INPUT (framing), QR_E_SIGNATURE, QR_E_TOO_LARGE (out's max),
 * QR_E_INCOMPLETE_BODY (decoded length differs from decoded_len when decoded_len >= 0),
 * QR_E_CHUNK_SIZE (a data chunk under SIGV4_MIN_CHUNK bytes followed by another: S3
 * allows only the last to be smaller, which also bounds the work of a signature to
 * 8 KiB of data).
 */
enum qr_err sigv4_chunked_decode(struct qr_slice body, const struct sigv4_chunk_ctx *ctx,
                                 int64_t decoded_len, struct qr_buf *out,
                                 struct sigv4_trailer *trailers, size_t max_trailers,
                                 size_t *out_n_trailers) __attribute__((warn_unused_result));

/*
 * The same decoding, incrementally: a body that arrives in pieces split anywhere (the
 * socket's reads, a streamed PUT's 1 MiB pieces) is decoded piece by piece in bounded
 * memory. The state holds at most one line (a chunk header or a trailer), the current
 * chunk's running SHA-256 and the trailers; a chunk's signature is checked as soon as
 * its last data byte passed, the trailer signature when the trailers end. Once a call
 * returned an error, every later call returns it again.
 */
#define SIGV4_MAX_TRAILERS     4
#define SIGV4_MIN_CHUNK        8192u /* every data chunk but the last, as S3 requires */
#define SIGV4_MAX_TRAILER_LINE 512u

struct sigv4_chunked {
    const struct sigv4_chunk_ctx *ctx; /* NULL: unsigned chunks (borrowed) */
    int64_t decoded_len;               /* declared payload length, or -1 */
    uint64_t total;                    /* payload bytes so far */
    uint64_t left;                     /* data bytes still to come in the current chunk */
    bool small_seen;                   /* a data chunk under SIGV4_MIN_CHUNK came */
    enum qr_err err;                   /* sticky: the first error */
    uint8_t state;
    size_t line_len;
    char line[SIGV4_MAX_TRAILER_LINE + 2]; /* a line being gathered, CR included */
    char prev[65];                         /* the previous signature in the chain */
    char sig[65];                          /* the current chunk's claimed signature */
    char tsig[65];                         /* x-amz-trailer-signature, "" if none */
    SHA256_CTX sha;                        /* the current chunk's data (signed) */
    struct sigv4_trailer trailers[SIGV4_MAX_TRAILERS];
    size_t n_trailers, max_trailers;
    size_t canon_len;
    char canon[SIGV4_MAX_TRAILERS * (64 + 128 + 2)]; /* "name:value\n" as signed */
};

/* max_trailers is capped at SIGV4_MAX_TRAILERS; more trailers are QR_E_BAD_INPUT. */
void sigv4_chunked_init(struct sigv4_chunked *d, const struct sigv4_chunk_ctx *ctx,
                        int64_t decoded_len, size_t max_trailers);
/* Decodes buf[0..len) in place: the payload bytes it carried are moved to
 * buf[0..*out_len) (*out_len <= len). Every input byte is consumed. Errors as
 * sigv4_chunked_decode's (QR_E_INCOMPLETE_BODY as soon as a chunk header goes past
 * decoded_len). */
enum qr_err sigv4_chunked_feed(struct sigv4_chunked *d, uint8_t *buf, size_t len, size_t *out_len)
    __attribute__((warn_unused_result));
/* The body ended: QR_OK when it ended where an aws-chunked body may end (after the final
 * chunk, or after its trailers) with decoded_len payload bytes when one was declared;
 * then d->trailers[0..n_trailers) are the trailers. */
enum qr_err sigv4_chunked_end(struct sigv4_chunked *d) __attribute__((warn_unused_result));
/* Wipes the chain state (signatures, hash). */
void sigv4_chunked_wipe(struct sigv4_chunked *d);

/* Hex SHA-256 of data into out (65 bytes with the NUL). */
void sigv4_sha256_hex(const void *data, size_t len, char out[65]);

#endif
