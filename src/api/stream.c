/*
 * stream.c - a large PUT body goes from the socket into its blob file in 1 MiB pieces:
 * the loop pulls a piece (http_body_pull), a worker hashes it (SHA-256 when the payload
 * hash is signed, MD5 for the ETag, the x-amz-checksum-* the client sent) and appends it
 * to the blob, while the loop pulls the next piece into the other buffer. Two buffers,
 * one piece read ahead in the socket: a slow disk slows the client, memory stays put.
 * Each piece is encrypted on its way into the file (store_blob_stream_write) as the
 * request's server-side encryption says, chosen from the headers before the first byte
 * (s3_sse_for_stream), so an encrypted object's plaintext never reaches the disk.
 * At the end the blob is fsynced and renamed (not yet referenced by any row) and mapped
 * read-only as req->entity, and the store adopts the blob, with its envelope, instead of
 * writing the bytes again. That mapping holds ciphertext whenever ar->streamed->sse
 * encrypts: handlers take the digests computed here and never read it as the body.
 * Whatever the store does not adopt is unlinked when the request ends; a crash leaves a
 * file the next start removes.
 */
#include "api/api.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "api/s3/s3.h"
#include "http/http.h"
#include "store/store.h"

#define PIECE (1u << 20)

enum piece_state {
    P_FREE,
    P_PULLING,
    P_FILLED,
    P_WRITING,
};

struct api_stream {
    struct api_req *ar;
    api_stream_cb cb;
    struct qr_job job;      /* one step at a time: open, write, or finish */
    struct qr_job hash_job; /* hashes a piece on another worker while job writes it */
    unsigned busy;          /* jobs out (a write step has two) */
    bool job_busy;
    enum { J_OPEN, J_WRITE, J_FINISH } job_kind;
    enum qr_err err; /* set by a job */
    struct store_blob_stream *blob;
    char *buf[2];
    size_t len[2];
    enum piece_state st[2];
    unsigned pull_next;  /* the buffer the next pull fills */
    unsigned write_next; /* the buffer the next write takes (pieces stay in order) */
    uint64_t total, pulled, written;
    bool client_failed;
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

bool api_stream_wanted(struct api_req *ar)
{
    uint64_t len;
    struct qr_slice v;
    enum sigv4_payload p = ar->auth.payload;
    if (strcmp(ar->auth.service, "s3") != 0 && strcmp(ar->auth.service, "s3express") != 0)
        return false;
    if (!h2o_memis(ar->req->input.method.base, ar->req->input.method.len, H2O_STRLIT("PUT")))
        return false;
    if (p == SIGV4_PAYLOAD_STREAMING || p == SIGV4_PAYLOAD_STREAMING_TRAILER ||
        p == SIGV4_PAYLOAD_UNSIGNED_TRAILER)
        return false;
    if (api_header(ar, "content-encoding", &v))
        return false; /* aws-chunked (and anything else) takes the in-memory path */
    if (!http_body_streamable(ar->req, &len))
        return false;
    if (len < API_STREAM_MIN || len > ar->server->cfg.max_body)
        return false;
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
    if (s->out.map != NULL)
        munmap(s->out.map, (size_t)s->out.len);
    if (s->out.blob != NULL)
        store_blob_stream_abort(s->out.blob);
    else if (s->blob != NULL)
        store_blob_stream_abort(s->blob);
    free(s->buf[0]);
    free(s->buf[1]);
}

static void next_step(struct api_stream *s);

static void job_run(struct qr_job *job)
{
    struct api_stream *s = H2O_STRUCT_FROM_MEMBER(struct api_stream, job, job);
    struct store *st = s->ar->server->store;
    switch (s->job_kind) {
    case J_OPEN:
        s->err = store_blob_stream_open(st, &s->out.sse, &s->blob);
        OPENSSL_cleanse(s->out.sse.key, sizeof(s->out.sse.key)); /* the handle has it now */
        return;
    case J_WRITE: {
        unsigned i = s->write_next;
        s->err = store_blob_stream_write(s->blob, s->buf[i], s->len[i]);
        return;
    }
    case J_FINISH: {
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
        if ((s->err = store_blob_stream_commit(s->blob)) != QR_OK)
            return;
        int fd;
        if ((s->err = store_blob_open(st, store_blob_stream_id(s->blob), &fd)) != QR_OK)
            return;
        void *m = mmap(NULL, (size_t)s->total, PROT_READ, MAP_SHARED, fd, 0);
        close(fd);
        if (m == MAP_FAILED) {
            s->err = QR_E_IO;
            return;
        }
        s->out.map = m;
        return;
    }
    }
}

/* The other half of a write step, on another worker: the digests of the same piece
 * (which neither job modifies). */
static void hash_run(struct qr_job *job)
{
    struct api_stream *s = H2O_STRUCT_FROM_MEMBER(struct api_stream, hash_job, job);
    unsigned i = s->write_next;
    if (s->sha)
        qr_ck_update(&s->sha_st, s->buf[i], s->len[i]);
    qr_ck_update(&s->md5_st, s->buf[i], s->len[i]);
    if (s->ck)
        qr_ck_update(&s->ck_st, s->buf[i], s->len[i]);
}

static void job_done(struct qr_job *job);

static void hash_done(struct qr_job *job)
{
    struct api_stream *s = H2O_STRUCT_FROM_MEMBER(struct api_stream, hash_job, job);
    job_done(&s->job);
}

static void fail(struct api_stream *s, enum qr_err e)
{
    api_stream_cb cb = s->cb;
    s->cb = NULL;
    if (cb != NULL)
        cb(s->ar, e);
}

static void job_done(struct qr_job *job)
{
    struct api_stream *s = H2O_STRUCT_FROM_MEMBER(struct api_stream, job, job);
    if (--s->busy > 0)
        return; /* the other half of the write step is still out */
    s->job_busy = false;
    if (s->err != QR_OK) {
        fail(s, s->err);
        return;
    }
    switch (s->job_kind) {
    case J_OPEN:
        break;
    case J_WRITE:
        s->written += s->len[s->write_next];
        s->st[s->write_next] = P_FREE;
        s->write_next ^= 1;
        break;
    case J_FINISH:
        s->out.blob = s->blob;
        s->blob = NULL;
        s->out.len = s->total;
        s->ar->streamed = &s->out;
        s->ar->req->entity = h2o_iovec_init(s->out.map, (size_t)s->total);
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
    s->busy = 1;
    s->job.thread = s->ar->thread;
    s->job.run = job_run;
    s->job.done = job_done;
    if (kind == J_WRITE) {
        s->busy = 2;
        s->hash_job.thread = s->ar->thread;
        s->hash_job.run = hash_run;
        s->hash_job.done = hash_done;
        server_submit(s->ar->server, &s->hash_job);
    }
    server_submit(s->ar->server, &s->job);
}

static void on_piece(h2o_req_t *req, void *arg, size_t n, enum qr_err e)
{
    struct api_stream *s = arg;
    unsigned i = s->pull_next ^ 1; /* next_step advanced pull_next when it pulled */
    if (e != QR_OK) {
        s->client_failed = true;
        s->st[i] = P_FREE;
        if (!s->job_busy)
            fail(s, QR_E_INCOMPLETE_BODY);
        return;
    }
    s->len[i] = n;
    s->st[i] = P_FILLED;
    s->pulled += n;
    if (!s->job_busy)
        next_step(s);
}

/* Loop thread, whenever a job or a pull finished: start what can start. */
static void next_step(struct api_stream *s)
{
    if (s->cb == NULL)
        return;
    if (s->client_failed) {
        if (!s->job_busy)
            fail(s, QR_E_INCOMPLETE_BODY);
        return;
    }
    if (!s->job_busy && s->st[s->write_next] == P_FILLED) {
        s->st[s->write_next] = P_WRITING;
        submit(s, J_WRITE);
    }
    if (!s->job_busy && s->written == s->total) {
        submit(s, J_FINISH);
        return;
    }
    unsigned p = s->pull_next;
    bool pulling = s->st[0] == P_PULLING || s->st[1] == P_PULLING;
    if (!pulling && s->pulled < s->total && s->st[p] == P_FREE) {
        s->st[p] = P_PULLING;
        s->pull_next ^= 1;
        http_body_pull(s->ar->req, s->buf[p], PIECE, on_piece, s);
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
    (void)http_body_streamable(ar->req, &s->total);
    s->buf[0] = qr_xmalloc(PIECE);
    s->buf[1] = qr_xmalloc(PIECE);
    s->sha = ar->auth.payload == SIGV4_PAYLOAD_HASH && ar->auth.payload_hash[0] != '\0';
    if (s->sha)
        qr_ck_init(&s->sha_st, QR_CK_SHA256);
    qr_ck_init(&s->md5_st, QR_CK_MD5);
    struct qr_slice v;
    for (size_t i = 0; i < sizeof(ck_headers) / sizeof(*ck_headers); i++) {
        if (api_header(ar, ck_headers[i].header, &v)) {
            s->ck = true;
            s->out.ck_alg = ck_headers[i].alg;
            qr_ck_init(&s->ck_st, ck_headers[i].alg);
            break;
        }
    }
    submit(s, J_OPEN);
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
