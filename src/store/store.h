/*
 * store.h - buckets, objects and multipart uploads: metadata in SQLite (WAL), bytes in
 * immutable reference-counted blob files under DATA/objects/, small objects inline.
 *
 * Threads: every function may be called from any thread unless it says otherwise.
 * Functions that take a struct store_reader read through that reader's own read-only
 * SQLite connection and never block on writers; a reader belongs to one thread.
 * Functions that change state block the calling thread until the change is durable
 * (blob fsynced, directory fsynced, row committed): never call them on an event loop.
 * They hand their row change to the single writer thread, which commits concurrent
 * changes in one transaction (group commit).
 *
 * Memory: results that carry variable-length data fill it from the h2o pool passed in
 * ("lives in pool"); nothing returned needs a separate free.
 */
#ifndef QR_STORE_H
#define QR_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <h2o/memory.h>

#include "util/err.h"
#include "util/slice.h"

struct store;
struct store_reader;

enum store_bucket_type {
    STORE_BUCKET_GENERAL,   /* general purpose bucket */
    STORE_BUCKET_DIRECTORY, /* S3 Express One Zone directory bucket (name ends --x-s3) */
};

struct store_opts {
    const char *dir;   /* data directory; created if missing */
    bool no_fsync;     /* acknowledge writes before they are durable (throwaway servers) */
    size_t inline_max; /* objects up to this many bytes live in their row; 0 = default */
};

/* Opens (creating if needed) the store in opts->dir and starts its writer thread.
 * Finishes frees left from a crash (recorded, never a full scan). *out owned by caller
 * (free with store_close). Errors: QR_E_IO, QR_E_DB. Main thread. */
enum qr_err store_open(const struct store_opts *opts, struct store **out)
    __attribute__((warn_unused_result));
/* Stops the writer thread after it drains its queue and closes everything. Main thread,
 * after every other thread that uses st has stopped. store_close(NULL) is a no-op. */
void store_close(struct store *st);

/* A read-only connection for one thread. *out owned by caller (free with
 * store_reader_free). Errors: QR_E_DB. */
enum qr_err store_reader_new(struct store *st, struct store_reader **out)
    __attribute__((warn_unused_result));
void store_reader_free(struct store_reader *r);
/* Sets r's page cache to kib KiB (2 MiB by default). The cache outlives a read
 * transaction only while nothing is committed, so it pays where reads run without
 * writes in between: an event loop serving GETs. */
void store_reader_cache(struct store_reader *r, unsigned kib);
/* From now until store_reader_end, reads through r share one read transaction (one
 * snapshot), renewed here whenever the store has committed since it began. Call it
 * before each unit of work on r's thread (a request, a completion): the work then sees
 * every commit made before it began, and an event loop pays the read transaction's
 * locking once per pass instead of once per statement. */
void store_reader_fresh(struct store_reader *r);
/* Ends the shared read transaction, if any, so an idle thread pins no old WAL frames. */
void store_reader_end(struct store_reader *r);
/* Between a loop's passes: store_reader_end, unless the pass used the snapshot, nothing
 * was committed since it began (so it pins no old WAL frames) and it is younger than a
 * second; then it stays held with what was read in it. */
void store_reader_idle(struct store_reader *r);

/* ---- checksums as stored (the algorithm set of x-amz-checksum-*) ---- */

enum store_ck_alg {
    STORE_CK_NONE,
    STORE_CK_CRC32,
    STORE_CK_CRC32C,
    STORE_CK_CRC64NVME,
    STORE_CK_SHA1,
    STORE_CK_SHA256,
};

enum store_ck_type {
    STORE_CK_FULL_OBJECT,
    STORE_CK_COMPOSITE, /* multipart: digest of the parts' digests, value ends "-N" */
};

struct store_checksum {
    enum store_ck_alg alg; /* STORE_CK_NONE: no checksum stored */
    enum store_ck_type type;
    char b64[72]; /* base64 value as AWS renders it, NUL-terminated */
};

/* ---- server-side encryption (crypt.c) ---- */

enum store_sse_mode {
    STORE_SSE_NONE = 0, /* stored as given (objects written before encryption existed) */
    STORE_SSE_S3 = 1,   /* AES256 with a data key per blob, wrapped by the master key */
    STORE_SSE_C = 2,    /* AES256 with the customer's key, which is never stored */
};

struct store_sse {
    enum store_sse_mode mode;
    uint8_t key[32];     /* STORE_SSE_C: the customer's key (input only; zero on output) */
    uint8_t key_md5[16]; /* STORE_SSE_C: its MD5, stored and given back */
};

/* ---- buckets ---- */

/* A bucket's versioning state; once versioned, a bucket never goes back to OFF. */
enum store_versioning {
    STORE_VERS_OFF,       /* never versioned: each key has one 'null' version */
    STORE_VERS_ENABLED,   /* every write makes a new version with a fresh id */
    STORE_VERS_SUSPENDED, /* writes replace the 'null' version; older versions stay */
};

/* Object Lock retention modes (objects and bucket defaults). */
enum store_lock_mode {
    STORE_LOCK_NONE,
    STORE_LOCK_GOVERNANCE,
    STORE_LOCK_COMPLIANCE,
};

/* Length of a version id quarry makes (S3's form: 32 characters of [A-Za-z0-9._]). */
#define STORE_VERSION_ID_LEN 32

struct store_bucket {
    char name[64]; /* NUL-terminated, validated by the caller */
    enum store_bucket_type type;
    int64_t created_ms; /* ms since the epoch */
    char region[32];    /* region it was created in */
    char zone[32];      /* directory buckets: availability zone id, else "" */
    char sse_rule[64];  /* default encryption as api/ encoded it; "" when none was set
                           (store_bucket_get and store_bucket_list) */
    enum store_versioning versioning;
    bool lock_enabled;              /* created with Object Lock (versioning then ENABLED) */
    enum store_lock_mode lock_mode; /* default retention of new versions, or NONE */
    uint32_t lock_days, lock_years; /* its period: one of them is set when lock_mode is */
};

/* Creates a bucket. The name must already be valid for its type (api/ checks).
 * Errors: QR_E_BUCKET_EXISTS, QR_E_DB. */
enum qr_err store_bucket_create(struct store *st, const struct store_bucket *b)
    __attribute__((warn_unused_result));
/* Deletes an empty bucket (aborting its unfinished multipart uploads).
 * Errors: QR_E_NO_SUCH_BUCKET, QR_E_BUCKET_NOT_EMPTY, QR_E_DB. */
enum qr_err store_bucket_delete(struct store *st, struct qr_slice name)
    __attribute__((warn_unused_result));
/* Sets the bucket's default encryption rule (opaque to the store; "" clears it).
 * Errors: QR_E_NO_SUCH_BUCKET, QR_E_TOO_LARGE, QR_E_DB. Not on a loop thread. */
enum qr_err store_bucket_set_sse(struct store *st, struct qr_slice name, const char *rule)
    __attribute__((warn_unused_result));
/* Errors: QR_E_NO_SUCH_BUCKET, QR_E_DB. */
enum qr_err store_bucket_get(struct store_reader *r, struct qr_slice name, struct store_bucket *out)
    __attribute__((warn_unused_result));
/* Lists buckets of one type in name order with names > after, at most max (<= 1000).
 * out_list lives in pool. Errors: QR_E_DB. */
enum qr_err store_bucket_list(struct store_reader *r, enum store_bucket_type type,
                              struct qr_slice after, size_t max, h2o_mem_pool_t *pool,
                              struct store_bucket **out_list, size_t *out_n, bool *out_truncated)
    __attribute__((warn_unused_result));

/* Sets versioning to ENABLED or SUSPENDED. Errors: QR_E_NO_SUCH_BUCKET, QR_E_CONFLICT
 * (suspending a bucket with Object Lock), QR_E_DB. */
enum qr_err store_bucket_set_versioning(struct store *st, struct qr_slice name,
                                        enum store_versioning v)
    __attribute__((warn_unused_result));
/* Turns Object Lock on (and versioning with it) and sets the default retention (mode NONE:
 * none). Errors: QR_E_NO_SUCH_BUCKET, QR_E_DB. */
enum qr_err store_bucket_set_lock(struct store *st, struct qr_slice name, enum store_lock_mode mode,
                                  uint32_t days, uint32_t years)
    __attribute__((warn_unused_result));

/* ---- objects ---- */

/* A version's Object Lock state. */
struct store_lock {
    enum store_lock_mode mode; /* NONE: no retention */
    int64_t until_ms;          /* retain until (ms since the epoch) when mode is set */
    bool legal_hold;
};

/* A byte range of one blob file. */
struct store_extent {
    uint64_t blob; /* blob id; the file is store_blob_open(st, blob) */
    uint64_t off;  /* offset in the blob */
    uint64_t len;  /* bytes */
    uint8_t sse;   /* enum store_sse_mode of the blob's bytes (store_obj_get fills it) */
    uint8_t iv[16];
    uint8_t key[32]; /* the blob's data key, unwrapped (SSE-C: after store_obj_unseal) */
};

/* Decrypts in place n bytes read from blob offset blob_off of x's blob (a no-op for a
 * plain blob). Every reader of blob files calls it after its pread. */
void store_extent_decrypt(const struct store_extent *x, uint64_t blob_off, void *buf, size_t n);

struct store_obj {
    struct qr_slice key;         /* lives in pool */
    uint64_t size;               /* object bytes */
    int64_t mtime_ms;            /* last modified, ms since the epoch */
    char etag[80];               /* without quotes, NUL-terminated */
    struct qr_slice headers;     /* opaque to the store: api/'s encoded standard headers and
                                    user metadata, exactly as given at write; lives in pool */
    struct qr_slice tags;        /* opaque encoded tag set, as given; lives in pool */
    struct store_checksum ck;    /* checksum stored at write, if any */
    uint32_t parts;              /* number of parts for multipart objects, else 0 */
    struct qr_slice part_sizes;  /* parts > 0: parts * 8 bytes, little-endian uint64 sizes in
                                    part order (empty for rows stored before sizes were
                                    recorded); lives in pool */
    struct qr_slice inline_data; /* the bytes when stored inline (len == size), lives in pool;
                                    p == NULL when the object lives in extents */
    struct store_extent *ext;    /* n_ext extents in object order, lives in pool */
    size_t n_ext;
    struct store_sse sse; /* how the object is encrypted (mode and SSE-C key MD5) */
    bool sealed;          /* SSE-C: inline bytes and data keys wait for store_obj_unseal */
    uint8_t sse_iv[16];   /* inline SSE-C objects: their iv */
    uint8_t *_inline_buf; /* private: inline_data's pool copy, decrypted in place */
    char version_id[40];  /* "null" or a quarry version id, NUL-terminated */
    bool is_marker;       /* a delete marker (no bytes) */
    bool versioned;       /* the bucket has (had) versioning: ids are shown */
    struct store_lock lock;
};

/* SSE-C: checks key against the object's key MD5 (QR_E_DENIED when it differs), then
 * decrypts its inline bytes and gives its extents their key. */
enum qr_err store_obj_unseal(struct store_obj *o, const uint8_t key[32])
    __attribute__((warn_unused_result));

/* Whether o records its part boundaries (a multipart object completed since the store
 * kept them), and the size of part i (0-based, < o->parts) when it does. */
bool store_obj_has_part_sizes(const struct store_obj *o);
uint64_t store_obj_part_size(const struct store_obj *o, uint32_t i);

/* A sequential reader of an object's bytes, wherever they live (inline, or blob extents
 * decrypted as stored): every reader of object bodies (GET, digests, batch manifests and
 * checksums, function code) goes through it, so the walk over extents, the blob files
 * and their decryption live in one place. Not for sealed (SSE-C) objects before
 * store_obj_unseal. The cursor keeps the inline bytes and extents by pointer: they
 * outlive it. */
struct store_obj_cursor {
    struct store *st;
    struct qr_slice inl;            /* the bytes when inline (p != NULL) */
    const struct store_extent *ext; /* else n_ext extents in object order */
    size_t n_ext;
    bool sealed;        /* SSE-C bytes not unsealed: every read refused */
    uint64_t pos, end;  /* next object offset to read; one past the last */
    size_t i;           /* extent holding pos */
    uint64_t ext_start; /* object offset where extent i begins */
    int fd;             /* open blob fd_blob, or -1 */
    uint64_t fd_blob;
};

/* Starts a cursor over bytes [off, off+len) of o (clipped to the object). */
void store_obj_cursor_init(struct store_obj_cursor *c, struct store *st, const struct store_obj *o,
                           uint64_t off, uint64_t len);
/* The same over bytes described by their parts (a held or pinned object, store_job.h). */
void store_bytes_cursor_init(struct store_obj_cursor *c, struct store *st, uint64_t size,
                             struct qr_slice inline_data, const struct store_extent *ext,
                             size_t n_ext, uint64_t off, uint64_t len);
/* Reads up to cap bytes; *got < cap only at the end of the range (0: nothing left).
 * Errors: QR_E_IO (a blob vanished or is shorter than its extent), QR_E_INTERNAL (the
 * extents cover less than the object, or the object is still sealed). */
enum qr_err store_obj_read(struct store_obj_cursor *c, void *dst, size_t cap, size_t *got)
    __attribute__((warn_unused_result));
void store_obj_cursor_close(struct store_obj_cursor *c);

/* Reads one object's metadata, inline bytes and extents. with_data=false skips copying
 * inline bytes (HEAD): an inline object then has inline_data {NULL,0} and n_ext 0. Errors:
 * QR_E_NO_SUCH_BUCKET, QR_E_NO_SUCH_KEY, QR_E_DB. */
enum qr_err store_obj_get(struct store_reader *r, struct qr_slice bucket, struct qr_slice key,
                          bool with_data, h2o_mem_pool_t *pool, struct store_obj *out)
    __attribute__((warn_unused_result));
/* store_obj_get of one version (version empty: the current one). A current version that
 * is a delete marker is QR_E_NO_SUCH_KEY with out->is_marker and out->version_id set; a
 * marker named by its id is QR_OK with out->is_marker (the caller refuses it); a version
 * id that names nothing is QR_E_NO_SUCH_KEY with out->is_marker false. */
enum qr_err store_obj_get_v(struct store_reader *r, struct qr_slice bucket, struct qr_slice key,
                            struct qr_slice version, bool with_data, h2o_mem_pool_t *pool,
                            struct store_obj *out) __attribute__((warn_unused_result));

/* A blob written while its bytes arrive (a streamed request body): a temp file in its
 * final directory, appended to, then fsynced and renamed by commit. Its id stays in
 * flight (see blob.c) until store_obj_put adopts it (store_put.has_blob; then release
 * the handle) or abort removes it; a crash at any point leaves a file recovery removes.
 * The bytes are encrypted as sse says (mode NONE: written as given) with the blob's own
 * envelope, which the adopting put records, so the file never holds an encrypted
 * object's plaintext (nor may its bytes be read back as plaintext).
 * open/write/commit block: not on a loop thread. abort unlinks without syncing the
 * directory (any thread). */
struct store_blob_stream;
enum qr_err store_blob_stream_open(struct store *st, const struct store_sse *sse,
                                   struct store_blob_stream **out)
    __attribute__((warn_unused_result));
enum qr_err store_blob_stream_write(struct store_blob_stream *w, const void *p, size_t n)
    __attribute__((warn_unused_result));
enum qr_err store_blob_stream_commit(struct store_blob_stream *w)
    __attribute__((warn_unused_result));
uint64_t store_blob_stream_id(const struct store_blob_stream *w);
/* Reads n bytes at off of a committed streamed blob back as plaintext (decrypted with
 * its data key) into buf, for a digest the stream did not compute. Errors: QR_E_IO.
 * Blocks: not on a loop thread. */
enum qr_err store_blob_stream_read(const struct store_blob_stream *w, uint64_t off, void *buf,
                                   size_t n) __attribute__((warn_unused_result));
void store_blob_stream_abort(struct store_blob_stream *w);
void store_blob_stream_release(struct store_blob_stream *w);

/* Opens a blob file read-only (O_CLOEXEC); *out_fd owned by caller (close it).
 * Errors: QR_E_IO. Any thread (a plain open on a page-cached directory). */
enum qr_err store_blob_open(struct store *st, uint64_t blob, int *out_fd)
    __attribute__((warn_unused_result));

/* Conditions checked inside the committing transaction, so they hold at commit time. */
struct store_cond {
    const char *if_match;   /* etag (no quotes) the current object must have ("*": any), or NULL;
                               a missing object fails with QR_E_NO_SUCH_KEY */
    bool if_none_match_any; /* If-None-Match: * - fail if the key exists */
    bool if_size;           /* the current object, if any, must be size bytes */
    uint64_t size;
    bool if_mtime; /* the current object, if any, must have this mtime (seconds) */
    int64_t mtime_ms;
};

struct store_put {
    struct qr_slice bucket, key;
    struct qr_slice data;     /* the whole body, already decoded and verified; borrowed */
    const char *etag;         /* etag to store (no quotes), chosen by api/ */
    struct qr_slice headers;  /* opaque, stored as given */
    struct qr_slice tags;     /* opaque, stored as given (may be empty) */
    struct store_checksum ck; /* checksum to store (alg NONE: none) */
    struct store_cond cond;
    bool has_blob; /* data is already in the committed streamed blob `blob` (exactly
                      data.len bytes, encrypted with its own envelope, which wins over
                      sse): store_obj_put adopts it, keeping it on success and
                      discarding it on failure */
    const struct store_blob_stream *blob;
    struct store_sse sse;   /* how to encrypt the bytes */
    struct store_lock lock; /* retention/legal hold of the new version (lock buckets) */
};

struct store_put_result {
    int64_t mtime_ms;    /* the object's Last-Modified */
    char version_id[40]; /* the new version's id; "" when the bucket never had versioning */
};

/* Stores an object, replacing any at the key, once its bytes and row are durable.
 * Errors: QR_E_NO_SUCH_BUCKET, QR_E_PRECONDITION, QR_E_IO, QR_E_DB. Not on a loop thread. */
enum qr_err store_obj_put(struct store *st, const struct store_put *put,
                          struct store_put_result *out) __attribute__((warn_unused_result));

/* Result of an asynchronous put: runs on the store's writer thread, must not block. */
typedef void (*store_put_cb)(void *arg, enum qr_err err, const struct store_put_result *res);

/* store_obj_put for a body small enough to live in its row: queues the change and
 * returns at once; cb runs once it is durable (or failed), on the writer thread. put and
 * everything it points to must stay valid until then. Returns false (nothing queued) when
 * the body is too large for a row: use store_obj_put from a worker. Any thread, loop
 * threads included (it never blocks). */
bool store_obj_put_async(struct store *st, const struct store_put *put, store_put_cb cb, void *arg)
    __attribute__((warn_unused_result));

struct store_copy {
    struct qr_slice src_bucket, src_key;
    struct qr_slice src_version; /* the source version, or empty for the current one */
    struct store_lock lock;      /* the copy's retention/legal hold (lock buckets) */
    const char *src_etag;        /* the source must still have this etag (no quotes), or NULL */
    int64_t src_modified_since_ms;   /* the source must be modified after it (0: no check) */
    int64_t src_unmodified_since_ms; /* ... or not after it (0: no check); whole seconds */
    struct qr_slice dst_bucket, dst_key;
    const char *etag;     /* etag for the copy, or NULL to keep the source's */
    bool replace_headers; /* true: headers below; false: copy the source's */
    struct qr_slice headers;
    bool replace_tags; /* true: tags below; false: copy the source's */
    struct qr_slice tags;
    bool replace_ck; /* true: ck below; false: copy the source's checksum */
    struct store_checksum ck;
    struct store_cond cond; /* conditions on the destination */
};

/* Copies an object by sharing its blobs (no bytes copied, O(1) in the size).
 * Errors: QR_E_NO_SUCH_BUCKET, QR_E_NO_SUCH_KEY (source), QR_E_PRECONDITION, QR_E_DB.
 * out->mtime_ms is the copy's. Not on a loop thread. */
enum qr_err store_obj_copy(struct store *st, const struct store_copy *cp,
                           struct store_put_result *out) __attribute__((warn_unused_result));

/* Deletes an object; a missing key is success (as S3 answers). Frees blobs that nothing
 * refers to any more. Errors: QR_E_NO_SUCH_BUCKET, QR_E_PRECONDITION, QR_E_DB. Not on a loop. */
enum qr_err store_obj_delete(struct store *st, struct qr_slice bucket, struct qr_slice key,
                             const struct store_cond *cond) __attribute__((warn_unused_result));

struct store_delete {
    struct qr_slice bucket, key;
    struct qr_slice version; /* a version to delete for good, or empty */
    const struct store_cond *cond;
    bool bypass_governance; /* x-amz-bypass-governance-retention, already authorized */
};

struct store_delete_result {
    bool marker;         /* a delete marker was made (no version), or deleted (version) */
    char version_id[40]; /* the marker made, or the version deleted; "" if neither */
};

/* Deletes as S3 does on a bucket of any versioning state: without a version, a bucket
 * that never had versioning loses the key, an enabled one gets a delete marker, a
 * suspended one a 'null' marker replacing the null version; with a version, that version
 * goes (a version that does not exist is success, and nothing changes). A version under
 * legal hold or unexpired retention (GOVERNANCE without bypass, COMPLIANCE always) is
 * QR_E_DENIED. Errors also: QR_E_NO_SUCH_BUCKET, QR_E_PRECONDITION, QR_E_DB. */
enum qr_err store_obj_delete_v(struct store *st, const struct store_delete *d,
                               struct store_delete_result *out) __attribute__((warn_unused_result));

/* Replaces an object's tag set. Errors: QR_E_NO_SUCH_BUCKET, QR_E_NO_SUCH_KEY, QR_E_DB. */
enum qr_err store_obj_set_tags(struct store *st, struct qr_slice bucket, struct qr_slice key,
                               struct qr_slice tags) __attribute__((warn_unused_result));
/* store_obj_set_tags of one version (empty: the current one). */
enum qr_err store_obj_set_tags_v(struct store *st, struct qr_slice bucket, struct qr_slice key,
                                 struct qr_slice version, struct qr_slice tags)
    __attribute__((warn_unused_result));

/* Sets a version's retention (mode NONE: removes it). Shortening or removing unexpired
 * retention is QR_E_DENIED for COMPLIANCE, and for GOVERNANCE unless bypass. Errors also:
 * QR_E_NO_SUCH_BUCKET, QR_E_NO_SUCH_KEY (no such version or a marker), QR_E_DB. */
enum qr_err store_obj_set_retention(struct store *st, struct qr_slice bucket, struct qr_slice key,
                                    struct qr_slice version, enum store_lock_mode mode,
                                    int64_t until_ms, bool bypass)
    __attribute__((warn_unused_result));
/* Sets or clears a version's legal hold. Errors: as store_obj_set_retention, no DENIED. */
enum qr_err store_obj_set_legal_hold(struct store *st, struct qr_slice bucket, struct qr_slice key,
                                     struct qr_slice version, bool on)
    __attribute__((warn_unused_result));

/* ---- listing ---- */

struct store_list_opts {
    struct qr_slice prefix;        /* only keys starting with this */
    struct qr_slice delimiter;     /* roll keys up to common prefixes at its first occurrence
                                      after the prefix; empty: no roll-up */
    struct qr_slice after;         /* only keys (and prefixes) strictly greater than this */
    size_t max;                    /* entries + prefixes returned, 0..1000 */
    bool versions;                 /* every version and delete marker, newest first per key */
    struct qr_slice after_version; /* versions: resume inside key `after`, after this id */
};

struct store_list_entry {
    struct qr_slice key; /* lives in pool */
    bool is_prefix;      /* true: a common prefix (key ends with the delimiter) */
    uint64_t size;
    int64_t mtime_ms;
    char etag[80];
    enum store_ck_alg ck_alg;
    enum store_ck_type ck_type;
    char version_id[40]; /* versions listing: the version's id */
    bool is_marker;      /* versions listing: a delete marker */
    bool is_latest;      /* versions listing: the key's current version */
    struct qr_slice headers; /* opaque encoded headers as stored (obj.h reads them), in
                                pool; empty for common prefixes */
};

struct store_list_result {
    struct store_list_entry *e; /* n entries in byte order, objects and prefixes merged */
    size_t n;
    bool truncated; /* more follow after e[n-1].key */
};

/* One page of a bucket's keys in byte order. Errors: QR_E_NO_SUCH_BUCKET, QR_E_DB. */
enum qr_err store_list(struct store_reader *r, struct qr_slice bucket,
                       const struct store_list_opts *o, h2o_mem_pool_t *pool,
                       struct store_list_result *out) __attribute__((warn_unused_result));

/* ---- multipart uploads ---- */

struct store_mpu_create {
    struct qr_slice bucket, key;
    struct qr_slice headers; /* opaque, becomes the object's at completion */
    struct qr_slice tags;
    enum store_ck_alg ck_alg; /* x-amz-checksum-algorithm, or NONE */
    enum store_ck_type ck_type;
    struct store_sse sse;   /* the parts' and the object's encryption (key not stored) */
    struct store_lock lock; /* the object's retention/legal hold once completed */
};

/* Starts an upload; out_id receives its id (NUL-terminated, <= 64 bytes).
 * Errors: QR_E_NO_SUCH_BUCKET, QR_E_DB. Not on a loop thread. */
enum qr_err store_mpu_create(struct store *st, const struct store_mpu_create *c, char out_id[65])
    __attribute__((warn_unused_result));

struct store_part {
    uint32_t number; /* 1..10000 */
    uint64_t size;
    int64_t mtime_ms;
    char etag[80]; /* no quotes */
    struct store_checksum ck;
    bool has_blob; /* store_mpu_put_part: data is already in the committed streamed blob
                      `blob` (exactly data.len bytes, encrypted with its own envelope);
                      adopted whatever the outcome */
    const struct store_blob_stream *blob;
    struct store_sse sse; /* store_mpu_put_part input: how to encrypt the part's bytes */
};

/* Stores one part's bytes (replacing an earlier part with that number).
 * Errors: QR_E_NO_SUCH_UPLOAD, QR_E_IO, QR_E_DB. Not on a loop thread. */
enum qr_err store_mpu_put_part(struct store *st, struct qr_slice bucket, struct qr_slice key,
                               struct qr_slice upload_id, const struct store_part *part,
                               struct qr_slice data) __attribute__((warn_unused_result));

/* Makes a part from bytes [off, off+len) of an existing object, sharing its blobs.
 * part->size/etag/ck describe the result and are chosen by the caller.
 * Errors: QR_E_NO_SUCH_UPLOAD, QR_E_NO_SUCH_KEY, QR_E_INVALID_RANGE, QR_E_DB. */
enum qr_err store_mpu_copy_part(struct store *st, struct qr_slice bucket, struct qr_slice key,
                                struct qr_slice upload_id, const struct store_part *part,
                                struct qr_slice src_bucket, struct qr_slice src_key, uint64_t off,
                                uint64_t len) __attribute__((warn_unused_result));
/* store_mpu_copy_part from one version of the source (empty: the current one). */
enum qr_err store_mpu_copy_part_v(struct store *st, struct qr_slice bucket, struct qr_slice key,
                                  struct qr_slice upload_id, const struct store_part *part,
                                  struct qr_slice src_bucket, struct qr_slice src_key,
                                  struct qr_slice src_version, uint64_t off, uint64_t len)
    __attribute__((warn_unused_result));

struct store_upload_info {
    char id[65];
    struct qr_slice key; /* lives in pool */
    int64_t created_ms;
    enum store_ck_alg ck_alg;
    enum store_ck_type ck_type;
    struct store_sse sse;    /* as created (mode and SSE-C key MD5) */
    struct qr_slice headers; /* opaque encoded headers as created, in pool */
};

/* Reads one upload. Errors: QR_E_NO_SUCH_UPLOAD, QR_E_DB. */
enum qr_err store_mpu_get(struct store_reader *r, struct qr_slice bucket, struct qr_slice key,
                          struct qr_slice upload_id, h2o_mem_pool_t *pool,
                          struct store_upload_info *out) __attribute__((warn_unused_result));

/* Parts of an upload with number > after, ascending, at most max. out lives in pool.
 * Errors: QR_E_NO_SUCH_UPLOAD, QR_E_DB. */
enum qr_err store_mpu_list_parts(struct store_reader *r, struct qr_slice bucket,
                                 struct qr_slice key, struct qr_slice upload_id, uint32_t after,
                                 size_t max, h2o_mem_pool_t *pool, struct store_part **out,
                                 size_t *out_n, bool *out_truncated)
    __attribute__((warn_unused_result));

/* Unfinished uploads of a bucket, ordered by (key, created, id), starting after
 * (after_key, after_id), keys with prefix, at most max. out lives in pool. */
enum qr_err store_mpu_list(struct store_reader *r, struct qr_slice bucket, struct qr_slice prefix,
                           struct qr_slice after_key, struct qr_slice after_id, size_t max,
                           h2o_mem_pool_t *pool, struct store_upload_info **out, size_t *out_n,
                           bool *out_truncated) __attribute__((warn_unused_result));

struct store_mpu_complete {
    struct qr_slice bucket, key, upload_id;
    const uint32_t *numbers;  /* part numbers chosen by the client, n of them */
    const char *const *etags; /* their etags (no quotes), same order */
    size_t n;
    const char *etag;         /* final object etag chosen by api/ */
    struct store_checksum ck; /* final checksum chosen by api/, or alg NONE */
    struct store_cond cond;
};

/* Makes the object from the listed parts by sharing their blobs (no bytes copied) and
 * drops the upload. Checks: numbers strictly ascending (QR_E_INVALID_PART_ORDER), each
 * part exists with that etag (QR_E_INVALID_PART), every part but the last at least
 * 5 MiB (QR_E_TOO_SMALL). Errors also: QR_E_NO_SUCH_UPLOAD, QR_E_PRECONDITION, QR_E_DB.
 * Not on a loop thread. */
enum qr_err store_mpu_complete(struct store *st, const struct store_mpu_complete *c,
                               struct store_put_result *out) __attribute__((warn_unused_result));

/* A completed upload, as remembered for retries of its completion. */
struct store_mpu_done {
    char etag[80];            /* the object's etag at completion (no quotes) */
    struct store_checksum ck; /* its checksum, or alg NONE */
    char version_id[40];      /* the version it made ("" if the bucket never had versioning) */
};

/* The completion of upload_id of (bucket, key) within the last day: a retried
 * CompleteMultipartUpload answers as the first did. Errors: QR_E_NO_SUCH_UPLOAD (never
 * completed, or too long ago), QR_E_DB. */
enum qr_err store_mpu_completed(struct store_reader *r, struct qr_slice bucket, struct qr_slice key,
                                struct qr_slice upload_id, struct store_mpu_done *out)
    __attribute__((warn_unused_result));

/* Drops an upload and its parts. Errors: QR_E_NO_SUCH_UPLOAD, QR_E_DB. Not on a loop. */
enum qr_err store_mpu_abort(struct store *st, struct qr_slice bucket, struct qr_slice key,
                            struct qr_slice upload_id) __attribute__((warn_unused_result));
/* store_mpu_abort only if the upload was initiated at initiated_ms (whole seconds); a
 * missing upload is success (directory buckets' x-amz-if-match-initiated-time).
 * Errors: QR_E_PRECONDITION, QR_E_DB. Not on a loop thread. */
enum qr_err store_mpu_abort_if_initiated(struct store *st, struct qr_slice bucket,
                                         struct qr_slice key, struct qr_slice upload_id,
                                         int64_t initiated_ms) __attribute__((warn_unused_result));

#include "store/store_fn.h"

#endif
