/*
 * stream.c - a large PUT body goes from the socket into its blob file in pieces of at
 * most 1 MiB, through three buffers in a ring: the loop pulls a piece (http_body_pull;
 * Transfer-Encoding: chunked already undone there), a worker decodes and hashes it (the
 * aws-chunked framing removed in place with every chunk signature checked as its data
 * passes, then SHA-256 when the payload hash is signed, MD5 for the ETag, the
 * x-amz-checksum-* the client announced), another worker appends it to the blob, while
 * the loop pulls the next. A plain body's piece is written while it is hashed; an
 * aws-chunked one only once decoded. At most three pieces in memory and one read ahead
 * in the socket: a slow disk slows the client, memory stays put.
 * Each piece is encrypted on its way into the file (store_blob_stream_write) as the
 * request's server-side encryption says, chosen from the headers before the first byte
 * (s3_sse_for_stream), so an encrypted object's plaintext never reaches the disk.
 * At the end (every signature, the trailer signature and the decoded length checked) the
 * blob is fsynced and renamed (not yet referenced by any row) and mapped read-only as
 * req->entity, and the store adopts the blob, with its envelope, instead of writing the
 * bytes again. That mapping holds ciphertext whenever ar->streamed->sse encrypts:
 * handlers take the digests computed here and never read it as the body.
 * A failure (client gone or too slow, broken framing, a chunk signature that does not
 * match) is answered here once no job is out, and the blob is unlinked when the request
 * ends unless the store adopted it; a crash leaves a file the next start removes.
 */
#include "api/api.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "api/s3/s3.h"
#include "http/http.h"
#include "store/store.h"
#include "util/limits.h"

#define PIECE  (1u << 20)
#define N_BUFS 3

struct piece {
    char *p;
    size_t len; /* bytes in p: raw as pulled, decoded once hashed */
    bool last;  /* the body ends with this piece */
    bool pulling, filled, hashing, hashed, writing, written;
};

struct api_stream {
    struct api_req *ar;
    api_stream_cb cb;
    struct qr_job job;      /* open, a piece's write, or finish: one at a time */
    struct qr_job hash_job; /* a piece's decoding and hashing: one at a time, in order */
    bool job_busy, hash_busy, opened, ended, finishing;
    enum { J_OPEN, J_WRITE, J_FINISH } job_kind;
    enum qr_err err;      /* the first failure */
    bool client_failed;   /* err came from the client's side of the socket */
    enum qr_err hash_err; /* set by the hash job */
    enum qr_err job_err;  /* set by the job */
    struct store_blob_stream *blob;
    struct piece pc[N_BUFS];
    unsigned pull_i, hash_i, write_i; /* the piece each step takes next (in order) */
    uint64_t decoded, max;
    bool aws_chunked;
    struct sigv4_chunked dec;
    bool sha, ck;
    struct qr_ck_state sha_st, md5_st, ck_st;
    struct api_streamed out;
};

static const struct {
    const char *header;
    enum qr_ck alg;
} ck_headers[] = {
    {"x-amz-checksum-crc32", QR_CK_CRC32},         {"x-amz-checksum-crc32c", QR_CK_CRC32C},
    {"x-amz-checksum-crc64nvme", QR_CK_CRC64NVME}, {"x-amz-checksum-sha1", QR_CK_SHA1},
    {"x-amz-checksum-sha256", QR_CK_SHA256},
};

static bool is_aws_chunked(const struct api_req *ar)
{
    enum sigv4_payload p = ar->auth.payload;
    return p == SIGV4_PAYLOAD_STREAMING || p == SIGV4_PAYLOAD_STREAMING_TRAILER ||
           p == SIGV4_PAYLOAD_UNSIGNED_TRAILER;
}

/* The payload length the client declared: x-amz-decoded-content-length for aws-chunked,
 * Content-Length otherwise; false when it gave none (chunked transfer coding). */
static bool declared_length(struct api_req *ar, uint64_t wire, uint64_t *out)
{
    struct qr_slice v;
    if (is_aws_chunked(ar) && api_header(ar, "x-amz-decoded-content-length", &v))
        return qr_slice_u64(v, INT64_MAX, out);
    *out = wire;
    return wire != UINT64_MAX;
}

bool api_stream_wanted(struct api_req *ar)
{
    uint64_t wire, len;
    struct qr_slice v;
    if (strcmp(ar->auth.service, "s3") != 0 && strcmp(ar->auth.service, "s3express") != 0)
        return false;
    if (!h2o_memis(ar->req->input.method.base, ar->req->input.method.len, H2O_STRLIT("PUT")))
        return false;
    if (!is_aws_chunked(ar) && api_header(ar, "content-encoding", &v))
        return false; /* aws-chunked without a STREAMING-* hash is refused in memory */
    if (!http_body_streamable(ar->req, &wire))
        return false;
    if (declared_length(ar, wire, &len)) {
        if (len < API_STREAM_MIN || len > ar->server->cfg.max_body)
            return false; /* small: the inline path; too large: the handler says so */
    } else if (is_aws_chunked(ar) && api_header(ar, "x-amz-decoded-content-length", &v)) {
        return false; /* not a number: the handler says so */
    }
    /* The blob is encrypted as it is written, so its encryption is chosen now, from the
     * headers as the handler will choose it; when it cannot be, the body is read into
     * memory and the handler decides (and answers any refusal). */
    struct store_sse *sse = h2o_mem_alloc_pool(&ar->req->pool, sizeof(*sse));
    if (!s3_sse_for_stream(ar, sse))
        return false;
    ar->stream_sse = sse;
    return true;
}

static void stream_dispose(void *p)
{
    struct api_stream *s = p;
    OPENSSL_cleanse(&s->out.sse, sizeof(s->out.sse)); /* a failed open left the key */
    sigv4_chunked_wipe(&s->dec);
    if (s->out.map != NULL)
        munmap(s->out.map, (size_t)s->out.len);
    if (s->out.blob != NULL)
        store_blob_stream_abort(s->out.blob);
    else if (s->blob != NULL)
        store_blob_stream_abort(s->blob);
    for (unsigned i = 0; i < N_BUFS; i++)
        free(s->pc[i].p);
}

static void next_step(struct api_stream *s);

static enum qr_err finish_blob(struct api_stream *s)
{
    struct store *st = s->ar->server->store;
    uint8_t d[32];
    if (s->sha) {
        qr_ck_final(&s->sha_st, d);
        qr_hex_encode(d, 32, s->out.sha256_hex);
        s->out.have_sha256 = true;
    }
    qr_ck_final(&s->md5_st, s->out.md5);
    if (s->ck) {
        qr_ck_final(&s->ck_st, s->out.ck);
        s->out.have_ck = true;
    }
    enum qr_err e = store_blob_stream_commit(s->blob);
    if (e != QR_OK || s->decoded == 0)
        return e; /* an empty body maps nothing */
    int fd;
    if ((e = store_blob_open(st, store_blob_stream_id(s->blob), &fd)) != QR_OK)
        return e;
    void *m = mmap(NULL, (size_t)s->decoded, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED)
        return QR_E_IO;
    s->out.map = m;
    return QR_OK;
}

static void job_run(struct qr_job *job)
{
    struct api_stream *s = H2O_STRUCT_FROM_MEMBER(struct api_stream, job, job);
    struct piece *w = &s->pc[s->write_i];
    switch (s->job_kind) {
    case J_OPEN:
        s->job_err = store_blob_stream_open(s->ar->server->store, &s->out.sse, &s->blob);
        OPENSSL_cleanse(s->out.sse.key, sizeof(s->out.sse.key)); /* the handle has it now */
        return;
    case J_WRITE:
        s->job_err = w->len ? store_blob_stream_write(s->blob, w->p, w->len) : QR_OK;
        return;
    case J_FINISH:
        s->job_err = finish_blob(s);
        return;
    }
}

/* On its own worker: the piece's aws-chunked framing removed in place (signatures
 * checked), then the digests of what it carried. */
static void hash_run(struct qr_job *job)
{
    struct api_stream *s = H2O_STRUCT_FROM_MEMBER(struct api_stream, hash_job, job);
    struct piece *h = &s->pc[s->hash_i];
    s->hash_err = QR_OK;
    if (s->aws_chunked) {
        size_t n;
        s->hash_err = sigv4_chunked_feed(&s->dec, (uint8_t *)h->p, h->len, &n);
        if (s->hash_err == QR_OK && h->last)
            s->hash_err = sigv4_chunked_end(&s->dec);
        if (s->hash_err != QR_OK)
            return;
        h->len = n;
    }
    if (s->decoded + h->len > s->max) {
        s->hash_err = QR_E_TOO_LARGE;
        return;
    }
    if (s->sha)
        qr_ck_update(&s->sha_st, h->p, h->len);
    qr_ck_update(&s->md5_st, h->p, h->len);
    if (s->ck)
        qr_ck_update(&s->ck_st, h->p, h->len);
}

/* What goes wrong is answered once no job is out (they use the buffers); a pull may
 * still be pending: the connection stops reading into it once the answer is out. */
static void fail(struct api_stream *s, enum qr_err e, bool client)
{
    if (s->err == QR_OK) {
        s->err = e;
        s->client_failed = client;
    }
    next_step(s);
}

/* A piece both hashed and written is free for the next pull. */
static void piece_free(struct piece *p)
{
    if (!p->hashed || !p->written)
        return;
    char *buf = p->p;
    memset(p, 0, sizeof(*p));
    p->p = buf;
}

static void hash_done(struct qr_job *job)
{
    struct api_stream *s = H2O_STRUCT_FROM_MEMBER(struct api_stream, hash_job, job);
    struct piece *h = &s->pc[s->hash_i];
    s->hash_busy = false;
    if (s->hash_err != QR_OK) {
        fail(s, s->hash_err, false);
        return;
    }
    s->decoded += h->len;
    h->hashing = false;
    h->hashed = true;
    s->hash_i = (s->hash_i + 1) % N_BUFS;
    piece_free(h);
    next_step(s);
}

static void job_done(struct qr_job *job)
{
    struct api_stream *s = H2O_STRUCT_FROM_MEMBER(struct api_stream, job, job);
    s->job_busy = false;
    if (s->job_err != QR_OK) {
        fail(s, s->job_err, false);
        return;
    }
    switch (s->job_kind) {
    case J_OPEN:
        s->opened = true;
        break;
    case J_WRITE: {
        struct piece *w = &s->pc[s->write_i];
        w->writing = false;
        w->written = true;
        s->write_i = (s->write_i + 1) % N_BUFS;
        piece_free(w);
        break;
    }
    case J_FINISH:
        s->out.blob = s->blob;
        s->blob = NULL;
        s->out.len = s->decoded;
        memcpy(s->out.trailers, s->dec.trailers, sizeof(s->out.trailers));
        s->out.n_trailers = s->dec.n_trailers;
        s->ar->streamed = &s->out;
        s->ar->req->entity = h2o_iovec_init(s->out.map, (size_t)s->decoded);
        api_stream_cb cb = s->cb;
        s->cb = NULL;
        cb(s->ar, QR_OK);
        return;
    }
    next_step(s);
}

static void submit(struct api_stream *s, int kind)
{
    s->job_kind = kind;
    s->job_busy = true;
    s->job.thread = s->ar->thread;
    s->job.run = job_run;
    s->job.done = job_done;
    server_submit(s->ar->server, &s->job);
}

static void submit_hash(struct api_stream *s)
{
    s->hash_busy = true;
    s->pc[s->hash_i].hashing = true;
    s->hash_job.thread = s->ar->thread;
    s->hash_job.run = hash_run;
    s->hash_job.done = hash_done;
    server_submit(s->ar->server, &s->hash_job);
}

static void on_piece(h2o_req_t *req, void *arg, size_t n, bool last, enum qr_err e)
{
    struct api_stream *s = arg;
    struct piece *p = &s->pc[(s->pull_i + N_BUFS - 1) % N_BUFS]; /* next_step advanced */
    p->pulling = false;
    if (e != QR_OK) {
        fail(s, e, true);
        return;
    }
    p->len = n;
    p->last = last;
    p->filled = true;
    s->ended = last;
    next_step(s);
}

/* S3's answer to a body that could not be streamed. */
static void answer_failure(struct api_req *ar, enum qr_err e, bool client)
{
    static const struct {
        enum qr_err err;
        bool client;
        int status;
        const char *code, *msg;
    } answers[] = {
        {QR_E_IO, true, 400, "RequestTimeout",
         "Your socket connection to the server was not read from or written to within the "
         "timeout period."},
        {QR_E_BAD_INPUT, true, 400, "IncompleteBody",
         "The chunked transfer encoding of the body is malformed."},
        {QR_E_BAD_INPUT, false, 400, "InvalidRequest", "The aws-chunked body is malformed."},
        {QR_E_SIGNATURE, false, 403, "SignatureDoesNotMatch",
         "The request signature we calculated does not match the signature you provided. "
         "Check your key and signing method."},
        {QR_E_INCOMPLETE_BODY, false, 400, "IncompleteBody",
         "You did not provide the number of bytes specified by the Content-Length HTTP "
         "header."},
        {QR_E_CHUNK_SIZE, false, 403, "InvalidChunkSizeError",
         "Only the last chunk is allowed to have a size less than 8192 bytes"},
        {QR_E_TOO_LARGE, false, 400, "EntityTooLarge",
         "Your proposed upload exceeds the maximum allowed size."},
    };
    for (size_t i = 0; i < sizeof(answers) / sizeof(*answers); i++) {
        if (answers[i].err == e && answers[i].client == client) {
            s3_send_error_code(ar, answers[i].status, answers[i].code, answers[i].msg);
            return;
        }
    }
    s3_send_error_code(ar, 500, "InternalError", "The body could not be stored.");
}

/* Loop thread, whenever a job or a pull finished: start what can start. */
static void next_step(struct api_stream *s)
{
    if (s->cb == NULL)
        return;
    if (s->err != QR_OK) {
        if (!s->job_busy && !s->hash_busy) {
            s->cb = NULL;
            answer_failure(s->ar, s->err, s->client_failed);
        }
        return;
    }
    struct piece *h = &s->pc[s->hash_i], *w = &s->pc[s->write_i], *p = &s->pc[s->pull_i];
    if (!s->hash_busy && h->filled && !h->hashing && !h->hashed)
        submit_hash(s);
    bool writable = w->filled && !w->writing && !w->written && (w->hashed || !s->aws_chunked);
    if (!s->job_busy && s->opened && writable) {
        w->writing = true;
        submit(s, J_WRITE);
    }
    bool all_free = true;
    for (unsigned i = 0; i < N_BUFS; i++)
        all_free = all_free && !s->pc[i].filled && !s->pc[i].pulling;
    if (s->ended && all_free && !s->job_busy && !s->hash_busy && !s->finishing) {
        s->finishing = true;
        submit(s, J_FINISH);
        return;
    }
    if (!s->ended && !p->pulling && !p->filled) {
        bool pulling = false;
        for (unsigned i = 0; i < N_BUFS; i++)
            pulling = pulling || s->pc[i].pulling;
        if (!pulling) {
            p->pulling = true;
            s->pull_i = (s->pull_i + 1) % N_BUFS;
            http_body_pull(s->ar->req, p->p, PIECE, on_piece, s);
        }
    }
}

/* The digests the body needs, chosen from the headers before its first byte. */
static void start_digests(struct api_stream *s)
{
    struct api_req *ar = s->ar;
    s->sha = ar->auth.payload == SIGV4_PAYLOAD_HASH && ar->auth.payload_hash[0] != '\0';
    if (s->sha)
        qr_ck_init(&s->sha_st, QR_CK_SHA256);
    qr_ck_init(&s->md5_st, QR_CK_MD5);
    struct qr_slice v, trailer;
    bool have_trailer = api_header(ar, "x-amz-trailer", &trailer);
    for (size_t i = 0; i < sizeof(ck_headers) / sizeof(*ck_headers); i++) {
        bool announced = have_trailer && qr_slice_ieq(trailer, qr_slice_cstr(ck_headers[i].header));
        if (announced || api_header(ar, ck_headers[i].header, &v)) {
            s->ck = true;
            s->out.ck_alg = ck_headers[i].alg;
            qr_ck_init(&s->ck_st, ck_headers[i].alg);
            break;
        }
    }
}

void api_stream_start(struct api_req *ar, api_stream_cb cb)
{
    struct api_stream *s = h2o_mem_alloc_shared(&ar->req->pool, sizeof(*s), stream_dispose);
    memset(s, 0, sizeof(*s));
    s->ar = ar;
    s->cb = cb;
    if (ar->stream_sse != NULL) {
        s->out.sse = *ar->stream_sse;
        OPENSSL_cleanse(ar->stream_sse, sizeof(*ar->stream_sse));
    }
    uint64_t wire, declared;
    (void)http_body_streamable(ar->req, &wire);
    /* a length declared nowhere (chunked transfer coding) is held to the same limits */
    s->max =
        ar->server->cfg.max_body < QR_MAX_SINGLE_PUT ? ar->server->cfg.max_body : QR_MAX_SINGLE_PUT;
    s->aws_chunked = is_aws_chunked(ar);
    if (s->aws_chunked) {
        bool known = declared_length(ar, UINT64_MAX, &declared);
        bool signed_chunks = ar->auth.payload != SIGV4_PAYLOAD_UNSIGNED_TRAILER;
        sigv4_chunked_init(&s->dec, signed_chunks ? &ar->chunk : NULL,
                           known ? (int64_t)declared : -1, SIGV4_MAX_TRAILERS);
    }
    for (unsigned i = 0; i < N_BUFS; i++)
        s->pc[i].p = qr_xmalloc(PIECE);
    start_digests(s);
    submit(s, J_OPEN);
    next_step(s); /* the first pull goes out while the blob opens */
}

void api_stream_adopted(struct api_req *ar)
{
    if (ar->streamed == NULL || ar->streamed->blob == NULL)
        return;
    store_blob_stream_release(ar->streamed->blob);
    ar->streamed->blob = NULL;
}

void api_stream_drop(struct api_req *ar)
{
    if (ar->streamed == NULL || ar->streamed->blob == NULL)
        return;
    store_blob_stream_abort(ar->streamed->blob);
    ar->streamed->blob = NULL;
}
