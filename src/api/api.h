/*
 * api.h - what every API family shares: the per-request context (struct api_req),
 * header and query access, and response helpers.
 *
 * A struct api_req lives in the request's pool. Everything here runs on the request's
 * loop thread, except the read-only accessors (api_header, api_param), which a worker
 * may call while it owns the request (the loop leaves an offloaded request alone).
 */
#ifndef QR_API_API_H
#define QR_API_API_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <h2o.h>

#include "auth/creds.h"
#include "auth/sigv4.h"
#include "server.h"
#include "util/buf.h"
#include "util/checksum.h"
#include "util/slice.h"

/* One decoded query parameter. */
struct api_param {
    struct qr_slice name;  /* percent-decoded; lives in pool */
    struct qr_slice value; /* percent-decoded; lives in pool; empty for a bare flag */
    bool has_value;        /* "a=" or "a=x" rather than a bare "a" */
};

/* A request body streamed into a blob file as it arrived (stream.c): the payload bytes
 * are req->entity, a read-only mapping of that file, and the digests were computed on
 * the way, so nothing reads the bytes again. */
struct store_blob_stream;
struct api_streamed {
    struct store_blob_stream *blob; /* committed; NULL once the store adopted it */
    uint64_t len;
    void *map;          /* the mapping behind req->entity (NULL for an empty body) */
    bool have_sha256;   /* sha256_hex computed (the payload hash was signed) */
    char sha256_hex[65];
    uint8_t md5[16];
    bool have_ck;       /* ck computed with ck_alg (an x-amz-checksum-* header or
                           x-amz-trailer announced it) */
    enum qr_ck ck_alg;
    uint8_t ck[QR_CK_MAX_DIGEST];
    struct store_sse sse; /* how the blob is encrypted (mode, SSE-C key MD5; key wiped):
                             req->entity is then ciphertext, never to be read as the body */
    struct sigv4_trailer trailers[SIGV4_MAX_TRAILERS]; /* an aws-chunked body's, checked */
    size_t n_trailers; /* when aws-chunked: req->entity is the decoded payload */
};

struct api_req {
    h2o_req_t *req; /* the h2o request */
    struct qr_server *server;
    struct qr_thread *thread; /* the loop thread that accepted it */
    char request_id[17];      /* 16 upper-case hex chars, NUL-terminated */
    struct timespec start;    /* monotonic, for the access log */
    struct qr_slice path;     /* raw path (still percent-encoded), no query */
    struct qr_slice query;    /* raw query without '?' */
    struct api_param *params; /* n_params decoded query parameters, lives in pool */
    size_t n_params;
    struct qr_slice host; /* Host header without port */

    bool authed;                  /* signature verified */
    struct sigv4_auth auth;       /* parsed signature (valid when authed) */
    struct creds_identity id;     /* who signed; id.secret is wiped once verified */
    struct sigv4_chunk_ctx chunk; /* signing key for aws-chunked bodies (wiped at end) */

    struct api_streamed *streamed; /* the body came through stream.c, or NULL */
    struct store_sse *stream_sse;  /* api_stream_wanted's encryption for it (pool; wiped
                                      by api_stream_start) */
    uint64_t unverified_body;      /* counted by server_body_acquire while a body is read
                                      before its signature can be checked */

    /* access log */
    const char *op;             /* operation name, static string */
    struct qr_slice log_bucket; /* borrowed */
    struct qr_slice log_key;    /* borrowed */
    int status;                 /* status sent */
    uint64_t bytes_out;         /* body bytes sent */
    bool logged;                /* the access-log line was written */

    /* authorization, for the access log (api/authorize.c) */
    const char *principal_arn; /* who the request acted as (in the pool), or NULL */
    const char *az_action;     /* the last IAM action decided, or NULL */
    char az_decision;          /* 'A'llow, 'D'eny (explicit), 'I'mplicit deny, 0: none */
};

/* Finds a request header by lower-case name; false if absent. Values are borrowed. */
bool api_header(const struct api_req *ar, const char *lname, struct qr_slice *out);
/* Finds a query parameter by exact name; false if absent. */
bool api_param(const struct api_req *ar, const char *name, struct qr_slice *out);
bool api_has_param(const struct api_req *ar, const char *name);

/* Adds a response header (name and value copied into the pool). Loop thread. */
void api_add_header(struct api_req *ar, const char *name, const char *value, size_t vlen);
void api_add_header_s(struct api_req *ar, const char *name, const char *value);

/* Sends a complete response with body (copied into the pool); HEAD sends headers only.
 * Loop thread. */
void api_send(struct api_req *ar, int status, const char *content_type, const void *body,
              size_t len);

/* Writes the access-log line of ar (once). Loop thread. */
void api_log(struct api_req *ar);

/* Bodies from this size on stream into their blob (smaller ones are read into memory:
 * the inline fast path and a single write stay cheaper for them). */
#define API_STREAM_MIN (1u << 20)

/* Whether ar's body should stream into a blob rather than be read into memory: an S3
 * PutObject or UploadPart whose payload (x-amz-decoded-content-length for aws-chunked,
 * else Content-Length) is at least API_STREAM_MIN, or not known before the end
 * (Transfer-Encoding: chunked). Loop thread. */
bool api_stream_wanted(struct api_req *ar);
typedef void (*api_stream_cb)(struct api_req *ar, enum qr_err err);
/* Streams the body into a new blob, decoding (aws-chunked: every signature checked) and
 * hashing on the way, in pieces of at most 1 MiB with one being written while the next
 * is read; then sets ar->streamed and req->entity and calls cb with QR_OK. A failure
 * (client gone or too slow, broken framing, a signature or the decoded length wrong, the
 * store) is answered here with S3's error and cb is not called. The blob is removed when
 * the request ends unless the store adopted it (api_stream_adopted). Loop thread. */
void api_stream_start(struct api_req *ar, api_stream_cb cb);
/* The store took the streamed blob (store_put.has_blob, whatever the outcome). */
void api_stream_adopted(struct api_req *ar);
/* Removes a streamed blob the store did not take (before the answer goes out). */
void api_stream_drop(struct api_req *ar);

/* Monotonic ms since the epoch from the wall clock; for signatures and Last-Modified. */
int64_t api_now_ms(void);

#endif
