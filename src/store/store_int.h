/*
 * store_int.h - what the files of store/ share, and nothing outside store/ (except the
 * store's own unit test) may include.
 *
 * Files: schema.c (connections, schema, statement cache, SQL helpers), blob.c (blob files,
 * id allocation, crash recovery of blobs), writer.c (the writer thread and group commit),
 * meta.c (open/close, readers, buckets, objects), list.c (listing), mpu.c (multipart),
 * fn.c (Lambda's function registry and Event queue, declared in store_fn.h).
 *
 * Lock order: st->mu and st->blob_mu are never held together, and neither is held
 * across I/O or SQLite calls.
 */
#ifndef QR_STORE_INT_H
#define QR_STORE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "store/store.h"
#include "util/buf.h"

/* Every statement the store runs; the SQL lives in one table in schema.c. */
enum stmt_id {
    ST_BEGIN_IMMEDIATE,
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_SAVEPOINT,
    ST_RELEASE,
    ST_ROLLBACK_TO,
    ST_META_GET,
    ST_META_SET,
    ST_BUCKET_ID,
    ST_BUCKET_GET,
    ST_BUCKET_SET_SSE,
    ST_BUCKET_INSERT,
    ST_BUCKET_DELETE,
    ST_BUCKET_LIST,
    ST_BUCKET_SET_VERSIONING,
    ST_BUCKET_SET_LOCK,
    ST_BUCKET_VSTATE,
    ST_BUCKET_ANY_OBJECT,
    ST_OBJ_FIND,
    ST_OBJ_FULL,
    ST_OBJ_UPSERT,
    ST_OBJ_REWRITE,
    ST_OBJ_DELETE,
    ST_OBJ_SET_TAGS,
    ST_OBJ_GET,
    ST_OBJ_GET_V,
    ST_OBJ_FIND_V,
    ST_OBJ_FULL_V,
    ST_OBJ_INSERT_V,
    ST_OBJ_UNLATEST,
    ST_OBJ_PROMOTE,
    ST_OBJ_SET_TAGS_V,
    ST_OBJ_SET_RETENTION,
    ST_OBJ_SET_HOLD,
    ST_LIST_BOUNDED,
    ST_LIST_UNBOUNDED,
    ST_LISTV_BOUNDED,
    ST_LISTV_UNBOUNDED,
    ST_LISTV_KEY_REST,
    ST_BLOB_INSERT,
    ST_BLOB_INC,
    ST_BLOB_DEC,
    ST_BLOB_DELETE,
    ST_BLOB_EXISTS,
    ST_BLOB_SSE,
    ST_GC_INSERT,
    ST_GC_DELETE,
    ST_GC_ALL,
    ST_UP_INSERT,
    ST_UP_FIND,
    ST_UP_LOCK,
    ST_UP_DELETE,
    ST_UP_OF_BUCKET,
    ST_UP_CREATED,
    ST_UP_LIST_BOUNDED,
    ST_UP_LIST_UNBOUNDED,
    ST_DONE_INSERT,
    ST_DONE_FIND,
    ST_DONE_EXPIRE,
    ST_PART_FIND,
    ST_PART_UPSERT,
    ST_PART_ALL,
    ST_PART_DELETE_ALL,
    ST_PART_LIST,
    /* fn.c: the function registry and the Event queue */
    ST_FN_GET,
    ST_FN_LIST_ALL,
    ST_FN_LIST_LATEST,
    ST_FN_VERSIONS,
    ST_FN_INSERT,
    ST_FN_W_LATEST,
    ST_FN_UPDATE,
    ST_FN_SET_PUBLISHED,
    ST_FN_EXISTS_V,
    ST_FN_DELETE_ALL,
    ST_FN_DELETE_V,
    ST_FN_SET_RESERVED,
    ST_FN_ALIAS_OF_V,
    ST_FN_ALIAS_DELETE_ALL,
    ST_FN_ALIAS_GET,
    ST_FN_ALIAS_INSERT,
    ST_FN_ALIAS_UPDATE,
    ST_FN_ALIAS_DELETE,
    ST_FN_ALIAS_LIST,
    ST_EV_INSERT,
    ST_EV_DUE,
    ST_EV_LEASE,
    ST_EV_DELETE,
    ST_EV_RETRY,
    ST_EV_NEXT,
    ST_EV_UNLEASE,
    ST_JOB_W_GET, /* batch jobs (job.c): the writer's reads and writes of every window */
    ST_JOB_RESULT_PUT,
    ST_JOB_PROGRESS,
    ST__COUNT
};

/* Prepared statements of one connection, prepared on first use. */
struct stmt_cache {
    sqlite3 *db;                /* borrowed from the owner */
    sqlite3_stmt *s[ST__COUNT]; /* NULL until first use; owned */
};

/* A read-only connection owned by one thread. */
struct store_reader {
    struct store *st; /* borrowed */
    sqlite3 *db;      /* owned */
    struct stmt_cache c;
    bool held;     /* a read transaction is open across calls (store_reader_fresh) */
    uint64_t seq;  /* st->n_commits when it was opened */
    uint64_t bgen; /* st->bucket_gen when it was opened */
    uint64_t snap;         /* counts the held read transactions begun: the snapshot's identity */
    int64_t began_ms;      /* monotonic ms when the held one began */
    bool used;             /* store_reader_fresh since the last store_reader_idle */
    struct obj_memo *memo; /* small objects read in this snapshot (objmemo.c); NULL: none */
    /* Buckets read lately (store_bucket_get), each valid while st->bucket_gen is still
     * the gen it was read under: every request asks for its bucket, and bucket rows
     * change rarely. */
    struct bucket_memo {
        uint64_t gen;
        bool valid;
        struct store_bucket b;
    } bmemo[8];
};

/* objmemo.c: a reader's memo of small object rows read in its held snapshot, which
 * store_obj_get_v consults first (see there). */
void objmemo_enable(struct store_reader *r);
void objmemo_free(struct store_reader *r);
bool objmemo_get(struct store_reader *r, struct qr_slice bucket, struct qr_slice key,
                 struct qr_slice version, bool with_data, h2o_mem_pool_t *pool,
                 struct store_obj *out);
void objmemo_put(struct store_reader *r, struct qr_slice bucket, struct qr_slice key,
                 struct qr_slice version, bool with_data, const struct store_obj *o);
uint64_t objmemo_hits(const struct store_reader *r); /* reads it served (tests) */
void objmemo_debug_gen(struct store_reader *r, uint32_t gen); /* tests: near the wrap */

struct store_change;
/* Runs inside the writer's transaction (within a SAVEPOINT of its own). A non-OK return
 * rolls back only this change. Writer thread. */
typedef enum qr_err (*store_apply_cb)(struct store *st, struct store_change *ch);

/* One unit of work handed to the writer; callers embed it in their own struct. */
struct store_change {
    store_apply_cb apply;                     /* what to run */
    enum qr_err err;                          /* result; valid once done */
    bool done;                                /* guarded by st->mu */
    pthread_cond_t cv;                        /* the caller sleeps here until done: one wake-up per
                                                 caller, not a broadcast to every waiter */
    void (*on_done)(struct store_change *ch); /* set: an asynchronous change; the writer
                                          calls it after the commit instead of waking a
                                          waiter (writer thread; must not block) */
    bool bulk;                 /* a batch change: queued behind interactive ones, and its
                                  apply may stop early (see writer_should_yield) */
    bool more;                 /* bulk only, set by apply: a prefix was applied, run the
                                  change again in the next transaction */
    struct store_change *next; /* queue link, guarded by st->mu */
};

/* Growable array of blob ids (writer-private lists and the in-flight set). */
struct id_vec {
    uint64_t *v;
    size_t n, cap;
};

/* Blob ids are handed out by a counter; see the comment at the top of blob.c. */
#define STORE_BLOB_CHUNK 4096u
#define STORE_LEAF_DIRS  65536u
/* Most extents one object or part may have (a row of ~2.4 MB). */
#define STORE_MAX_EXTENTS     100000u
#define STORE_EXT_BYTES       24u /* one packed extent: blob, off, len, little-endian */
#define STORE_PART_SIZE_BYTES 8u  /* one packed part size (objects.part_sizes) */

/* A bucket as the writer needs it for a write. */
struct w_bucket {
    int64_t id;
    enum store_versioning versioning;
    bool lock_enabled;
    enum store_lock_mode lock_mode;
    uint32_t lock_days, lock_years;
};

struct store {
    char *dir;          /* data directory; owned */
    char *db_path;      /* DATA/meta.db; owned */
    int objects_fd;     /* DATA/objects, O_DIRECTORY; owned */
    bool no_fsync;      /* skip fsyncs, synchronous=OFF */
    size_t inline_max;  /* bytes up to which objects live in their row */
    uint8_t master[32]; /* DATA/keys/sse.key: wraps SSE-S3 data keys (crypt.c) */

    sqlite3 *wdb;         /* the only write connection; writer thread after open */
    struct stmt_cache wc; /* its statements */
    pthread_t writer;     /* the writer thread */
    bool writer_started;

    pthread_mutex_t mu;                   /* guards the queue below and change->done */
    pthread_cond_t wake;                  /* the writer waits here for work */
    struct store_change *q_head, *q_tail; /* interactive changes; guarded by mu */
    struct store_change *b_head, *b_tail; /* bulk (batch) changes, served after every
                                             interactive one; guarded by mu */
    atomic_uint_fast32_t q_waiting;       /* interactive changes queued (relaxed: a hint
                                             a bulk apply reads to stop early) */
    bool stopping;                        /* guarded by mu */
    bool bulk_paused;                     /* the checkpoint thread is starting the WAL over:
                                             bulk changes wait (ckpt.c); guarded by mu */

    pthread_mutex_t blob_mu;                  /* guards the allocator fields below */
    uint64_t blob_next;                       /* next id to hand out; guarded by blob_mu */
    uint64_t blob_reserved;                   /* ids < this are persisted as reserved; blob_mu */
    struct id_vec inflight;                   /* ids handed out, not yet committed or removed */
    uint64_t dir_known[STORE_LEAF_DIRS / 64]; /* leaf dirs known durable; blob_mu */

    /* writer-thread private */
    struct id_vec freed;       /* blobs whose refcount hit 0 in this transaction */
    struct id_vec gc_done;     /* unlinked blobs whose gc rows are still to delete */
    uint64_t pending_reserved; /* reservation written in the open transaction */

    struct store_ckpt *ckpt; /* the checkpoint thread (ckpt.c), or NULL */
    int wal_pages;           /* WAL size after the last commit; writer thread */

    /* Bucket name -> id, remembered while a bulk slice runs (w_bucket_cache_on): a
     * window's tasks name the same one or two buckets thousands of times, and nothing
     * but the slice runs meanwhile. Writer thread. */
    struct {
        char name[64];
        size_t len;        /* 0: empty */
        struct w_bucket b; /* b.id always; the rest only when has_state */
        bool has_state;    /* versioning and lock columns read (w_bucket_get) */
    } bcache[2];
    bool bcache_on;

    int64_t txn_t0_ns; /* the writer's CPU time when the open transaction began */
    size_t txn_bulk_n; /* bulk units applied in the open transaction; writer thread */
    bool txn_requests; /* the open transaction holds interactive changes; writer thread */

    atomic_uint_fast64_t bucket_gen; /* bumped after each commit that changed a bucket row,
                                        before its callers are woken (release) */
    bool w_buckets_touched;          /* the open transaction changed the buckets table;
                                        writer thread (the update hook sets it) */
    atomic_uint_fast64_t n_commits; /* transactions committed (release: a reader that
                                       sees it sees the commit; store_reader_fresh) */
    atomic_uint_fast64_t n_changes; /* changes applied in them (relaxed; debug) */
};

/* ---- ckpt.c ---- */

/* Starts the thread that checkpoints the WAL (the writer never does). Errors: QR_E_DB,
 * QR_E_INTERNAL. */
enum qr_err ckpt_start(struct store *st);
/* Runs a last checkpoint and stops the thread; a no-op when not started. */
void ckpt_stop(struct store *st);
/* Has the write connection record the WAL's size after each commit. Before the writer
 * starts. */
void ckpt_watch(struct store *st);
/* After a batch's callers are woken: when the WAL has grown, finishes a checkpoint so
 * that the WAL starts over (see ckpt.c): itself when no bulk change is queued, else by
 * pausing bulk changes and asking the checkpoint thread. Writer thread. */
void ckpt_after_commit(struct store *st);

/* ---- schema.c ---- */

/* Opens a connection, read-write (creating the schema) or read-only. Errors: QR_E_DB. */
enum qr_err db_open(const char *path, bool readonly, bool no_fsync, bool gather_wal,
                    sqlite3 **out);
/* The VFS of the writer connection (walbuf.c): the default one, with the WAL's writes
 * gathered into one per commit; NULL when it could not be registered. */
const char *walbuf_vfs(void);
void stmt_cache_init(struct stmt_cache *c, sqlite3 *db);
void stmt_cache_dispose(struct stmt_cache *c);
/* A reset statement ready for binding, or NULL (logged). */
sqlite3_stmt *stmt_get(struct stmt_cache *c, enum stmt_id id);
/* A read of several statements that must see one snapshot: opens a read transaction
 * unless r already holds one (store_reader_fresh); *own says whether reader_read_end
 * closes it. Errors: QR_E_DB. */
enum qr_err reader_read_begin(struct store_reader *r, bool *own);
void reader_read_end(struct store_reader *r, bool own);
/* Resets every statement of c still in progress (so none keeps a read transaction). */
void stmt_cache_reset_busy(struct stmt_cache *c);
/* Logs the connection's error once and returns QR_E_DB. */
enum qr_err db_fail(sqlite3 *db, const char *what);
/* The id of the bucket named name, through c's connection (reader or writer).
 * Errors: QR_E_NO_SUCH_BUCKET, QR_E_DB. */
enum qr_err db_bucket_id(struct stmt_cache *c, struct qr_slice name, int64_t *out);
/* Runs a statement that returns no rows. Errors: QR_E_DB. */
enum qr_err stmt_exec(struct stmt_cache *c, enum stmt_id id);
/* Binds bytes as a BLOB (never NULL, even when empty). */
int bind_bytes(sqlite3_stmt *s, int i, struct qr_slice v);
int bind_text(sqlite3_stmt *s, int i, const char *v);
/* Binds bytes as TEXT (upload ids: compared byte-wise, never interpreted). */
int bind_text_slice(sqlite3_stmt *s, int i, struct qr_slice v);
/* Copies column i into pool: BLOB bytes as a slice. */
struct qr_slice col_slice(sqlite3_stmt *s, int i, h2o_mem_pool_t *pool);
/* Copies a TEXT column into a fixed buffer (truncating, NUL-terminated). */
void col_text(sqlite3_stmt *s, int i, char *out, size_t cap);
void col_checksum(sqlite3_stmt *s, int alg, int type, int value, struct store_checksum *out);
void *pool_alloc(h2o_mem_pool_t *pool, size_t n);
int64_t store_now_ms(void);
/* meta key/value. Errors: QR_E_DB. */
enum qr_err meta_get(struct stmt_cache *c, const char *k, uint64_t dflt, uint64_t *out);
enum qr_err meta_set(struct stmt_cache *c, const char *k, uint64_t v);

/* Little-endian uint64 as packed in rows (extents, part sizes). */
void le64_put(uint8_t *p, uint64_t v);
uint64_t le64_get(const uint8_t *p);
/* Extents as packed in a row. */
void ext_pack(const struct store_extent *e, size_t n, uint8_t *out);
/* Decodes a packed column; *out heap (free()) or NULL when empty. Errors: QR_E_DB (corrupt). */
enum qr_err ext_unpack_heap(const void *p, size_t len, struct store_extent **out, size_t *out_n);
/* Same into pool. */
enum qr_err ext_unpack_pool(const void *p, size_t len, h2o_mem_pool_t *pool,
                            struct store_extent **out, size_t *out_n);

void id_vec_push(struct id_vec *v, uint64_t id);
void id_vec_dispose(struct id_vec *v);

/* ---- crypt.c ---- */

#define CRYPT_ENV_BYTES 93 /* packed: mode, iv, key MD5, wrapped key (nonce, key, tag) */

/* How one blob or inline object is encrypted; mode STORE_SSE_NONE: not at all. */
struct crypt_env {
    uint8_t mode;        /* enum store_sse_mode */
    uint8_t iv[16];      /* initial CTR counter */
    uint8_t key_md5[16]; /* SSE-C: MD5 of the customer's key */
    uint8_t wrapped[60]; /* SSE-S3: GCM nonce (12), wrapped data key (32), tag (16) */
};

/* Reads DATA/keys/sse.key, making it (32 random bytes, 0600) on first use. Errors:
 * QR_E_IO, QR_E_INTERNAL. */
enum qr_err crypt_master_load(const char *data_dir, uint8_t out[32]);
/* A new envelope for sse (mode S3 or C) and its data key. Errors: QR_E_INTERNAL. */
enum qr_err crypt_env_new(const uint8_t master[32], const struct store_sse *sse,
                          struct crypt_env *env, uint8_t data_key[32]);
/* SSE-S3: unwraps the data key. Errors: QR_E_IO (the envelope does not authenticate). */
enum qr_err crypt_env_key(const uint8_t master[32], const struct crypt_env *env,
                          uint8_t data_key[32]);
void crypt_env_pack(const struct crypt_env *env, uint8_t out[CRYPT_ENV_BYTES]);
/* False when p is not a packed envelope of an encrypting mode. */
bool crypt_env_unpack(const void *p, size_t n, struct crypt_env *env);
/* XORs n bytes at byte offset off of the stream with the AES-256-CTR keystream. */
void crypt_ctr(const uint8_t key[32], const uint8_t iv[16], uint64_t off, void *buf, size_t n);
/* crypt_ctr from src into dst (the same buffer, or ones that do not overlap): one pass
 * over the bytes where a copy and then crypt_ctr would make two. */
void crypt_ctr_to(const uint8_t key[32], const uint8_t iv[16], uint64_t off, void *dst,
                  const void *src, size_t n);

/* A blob being encrypted as its bytes come, in order (blob_write_sse; any writer that
 * appends to a blob file piece by piece): env goes to w_blob_new_sse once the blob is
 * adopted. Wipe it with crypt_stream_end. */
struct crypt_stream {
    struct crypt_env env; /* mode NONE: bytes pass through unchanged */
    uint8_t key[32];
    uint64_t off; /* bytes encrypted so far */
};
/* Errors: QR_E_INTERNAL. */
enum qr_err crypt_stream_begin(const uint8_t master[32], const struct store_sse *sse,
                               struct crypt_stream *cs);
/* Encrypts the next n bytes of the blob from src into dst (copies them when the stream
 * does not encrypt); src is left as it was, so plaintext never lands in dst. */
void crypt_stream_apply_to(struct crypt_stream *cs, void *dst, const void *src, size_t n);
void crypt_stream_end(struct crypt_stream *cs);

/* Reader: gives extents their blobs' mode, iv and (SSE-S3) data key, in the caller's
 * read snapshot. SSE-C blobs set *sealed, or fail QR_E_NOT_IMPLEMENTED when sealed is
 * NULL. Errors: QR_E_DB, QR_E_IO. (meta.c) */
enum qr_err store_extents_open(struct store_reader *r, struct store_extent *ext, size_t n,
                               bool *sealed);
/* Decrypts o's inline copy (o->_inline_buf) under the packed envelope env_p (NULL:
 * plain); SSE-C leaves o->sealed. Errors: QR_E_DB, QR_E_IO. (meta.c) */
enum qr_err store_inline_open(struct store *st, const void *env_p, size_t env_n,
                              struct store_obj *o);

/* ---- blob.c ---- */

/* Relative path of a blob under DATA/objects: "ab/cd/0123456789abcdef" (+".tmp"). */
void blob_relpath(uint64_t id, bool tmp, char out[48]);
/* Writes data to a new durable blob file and returns its id, which is in flight until
 * blob_settle/blob_discard. Errors: QR_E_IO, QR_E_DB. Not on a loop thread. */
enum qr_err blob_write(struct store *st, struct qr_slice data, uint64_t *out_id);
/* blob_write, encrypting the bytes as sse says (mode NONE: as given); *env receives the
 * blob's envelope for w_blob_new. Errors also: QR_E_INTERNAL. */
enum qr_err blob_write_sse(struct store *st, struct qr_slice data, const struct store_sse *sse,
                           uint64_t *out_id, struct crypt_env *env);
/* A streamed blob's envelope (mode NONE: plain), for w_blob_new_sse when adopted. */
void blob_stream_env(const struct store_blob_stream *w, struct crypt_env *env);
/* The blob's row committed: it is no longer in flight. */
void blob_settle(struct store *st, uint64_t id);
/* The blob's row never committed: removes the file, then the in-flight mark. */
void blob_discard(struct store *st, uint64_t id);
/* Writer: unlinks the files of st->freed (already committed as gc rows) and moves
 * the ids to st->gc_done. */
void blob_unlink_freed(struct store *st);
/* Writer, inside the transaction: persists the allocator's low-water mark and keeps the
 * reservation ahead of the counter. */
enum qr_err blob_persist_marks(struct store *st);
/* Writer, after a successful commit: publishes the reservation just made durable. */
void blob_publish_marks(struct store *st);
/* Open time, before the writer starts: finishes recorded frees and removes files of ids
 * that were handed out but never committed. Errors: QR_E_IO, QR_E_DB. */
enum qr_err blob_recover(struct store *st);

/* ---- writer.c ---- */

enum qr_err writer_start(struct store *st);
/* Drains the queue and joins the thread. */
void writer_stop(struct store *st);
/* Queues ch and blocks until its transaction committed (or failed); returns ch->err. */
enum qr_err writer_submit(struct store *st, struct store_change *ch);
/* Queues ch without waiting: ch->on_done (set by the caller) runs on the writer thread
 * once ch is committed or failed; ch must live until then. With ch->bulk set, ch waits
 * behind every interactive change and its apply may yield (below). */
void writer_submit_async(struct store *st, struct store_change *ch);
/* Inside a bulk change's apply, after each unit of work (a task): true when the change
 * should stop here (setting ch->more) so the transaction commits: interactive changes
 * are waiting, or the transaction already holds WRITER_BULK_MAX units or used
 * WRITER_BULK_MS of CPU. The caller counts the unit first with writer_bulk_unit. */
bool writer_should_yield(struct store *st);
void writer_bulk_unit(struct store *st);

/* Inside a change (writer thread): */
/* bucket name -> id. Errors: QR_E_NO_SUCH_BUCKET, QR_E_DB. */
enum qr_err w_bucket_id(struct store *st, struct qr_slice name, int64_t *out);
/* Remembers bucket ids from now until w_bucket_cache_off: only while no other change
 * can run (one bulk slice). */
void w_bucket_cache_on(struct store *st);
void w_bucket_cache_off(struct store *st);
/* While the cache is on: the remembered bucket named name (with its versioning and lock
 * columns when need_state), else false. */
bool w_bucket_cached(struct store *st, struct qr_slice name, bool need_state, struct w_bucket *out);
/* While the cache is on: remembers b as the bucket named name (has_state: b's versioning
 * and lock columns are read too). */
void w_bucket_remember(struct store *st, struct qr_slice name, const struct w_bucket *b,
                       bool has_state);
/* Adds one reference per extent. Errors: QR_E_DB. */
enum qr_err w_ref(struct store *st, const struct store_extent *e, size_t n);
/* Drops one reference per extent, recording blobs that reach 0 in gc. Errors: QR_E_DB. */
enum qr_err w_unref(struct store *st, const struct store_extent *e, size_t n);
/* Row for a freshly written blob, refcount 1. Errors: QR_E_DB. */
enum qr_err w_blob_new(struct store *st, uint64_t id, uint64_t size);
/* w_blob_new recording the blob's envelope (env->mode NONE: a plain blob). */
enum qr_err w_blob_new_sse(struct store *st, uint64_t id, uint64_t size,
                           const struct crypt_env *env);
/* Drops one reference per extent of a packed column. Errors: QR_E_DB. */
enum qr_err w_unref_packed(struct store *st, const void *p, size_t len);

/* ---- meta.c ---- */

/* The current object at a key (or one version of it), as the writer sees it. */
struct w_obj {
    bool exists;  /* a version that is not a delete marker */
    bool has_row; /* any row, delete markers included */
    bool marker;
    char version_id[40];
    struct store_lock lock;
    int64_t rowid;
    char etag[80];
    uint64_t size;
    int64_t mtime_ms;
    struct store_extent *ext; /* heap; free with w_obj_dispose */
    size_t n_ext;
};
enum qr_err w_obj_find(struct store *st, int64_t bucket_id, struct qr_slice key, struct w_obj *out);
/* The version `version` of key ("null" included), or out->has_row false. Errors: QR_E_DB. */
enum qr_err w_obj_find_v(struct store *st, int64_t bucket_id, struct qr_slice key,
                         struct qr_slice version, struct w_obj *out);
void w_obj_dispose(struct w_obj *o);
/* The conditions of c against the current object. Errors: QR_E_PRECONDITION. */
enum qr_err w_cond_check(const struct store_cond *c, const struct w_obj *cur);

/* A full object row to write. */
struct w_row {
    int64_t bucket_id;
    struct qr_slice key;
    uint64_t size;
    int64_t mtime_ms;
    const char *etag;
    struct qr_slice headers, tags;
    const struct store_checksum *ck;
    uint32_t parts;
    struct qr_slice part_sizes; /* parts * STORE_PART_SIZE_BYTES packed sizes, or
                                   empty (stored as NULL): parts == 0, or unknown */
    bool is_inline;             /* data holds the bytes, else ext/n_ext */
    struct qr_slice data;
    const struct store_extent *ext;
    size_t n_ext;
    struct qr_slice sse;    /* packed crypt_env of the object, or empty (plain: NULL) */
    const char *version_id; /* NULL: upsert the 'null' version in place (never-versioned
                               buckets); else insert a new current version with this id */
    int64_t rowid;          /* with version_id NULL, nonzero: the rowid of that 'null'
                               version, found in this transaction (rewritten by rowid,
                               sparing the upsert its index seek) */
    bool marker;            /* a delete marker */
    struct store_lock lock;
};
/* Inserts or replaces the row at (bucket, key); references must already be counted.
 * Errors: QR_E_DB, QR_E_TOO_LARGE. */
enum qr_err w_obj_write(struct store *st, const struct w_row *row);

/* ---- version.c ---- */

/* Errors: QR_E_NO_SUCH_BUCKET, QR_E_DB. */
/* A bucket's versioning and Object Lock columns, first..first+4 of a row (versioning,
 * lock_enabled, lock_mode, lock_days, lock_years), as ST_BUCKET_GET/LIST/VSTATE read them. */
void col_vlock(sqlite3_stmt *s, int first, enum store_versioning *versioning, bool *lock_enabled,
               enum store_lock_mode *lock_mode, uint32_t *lock_days, uint32_t *lock_years);
enum qr_err w_bucket_get(struct store *st, struct qr_slice name, struct w_bucket *out);
/* Makes row the key's current version as the bucket's versioning state says (a new id,
 * the null version replaced, or the one row updated), dropping the references of what it
 * replaces (cur: the current version found before). row's own references must already be
 * counted; row->version_id is chosen here. out_vid receives the id ("" when the bucket
 * never had versioning). Errors: QR_E_DB, QR_E_TOO_LARGE. */
enum qr_err w_obj_install(struct store *st, const struct w_bucket *b, struct w_row *row,
                          const struct w_obj *cur, char out_vid[40]);
/* Whether o's lock forbids deleting it (or shortening its retention) now. */
bool w_lock_blocks(const struct store_lock *l, bool bypass, int64_t now_ms);

/* A full object row copied out of SQLite onto the heap (copy sources). */
struct full_obj {
    uint64_t size;
    int64_t mtime_ms;
    char etag[80];
    struct qr_buf headers, tags, data; /* owned */
    bool is_inline;                    /* data holds the bytes, else ext/n_ext */
    struct store_checksum ck;
    uint32_t parts;
    struct qr_buf part_sizes; /* packed as in the row (empty when NULL); owned */
    struct store_extent *ext; /* heap */
    size_t n_ext;
    struct qr_buf sse; /* packed crypt_env, empty when plain; owned */
};
/* Reads the object at (bucket_id, key). Errors: QR_E_NO_SUCH_KEY, QR_E_DB. */
enum qr_err w_obj_full(struct store *st, int64_t bucket_id, struct qr_slice key,
                       struct full_obj *out);
/* Same for one version (empty: the current one); a delete marker is QR_E_NO_SUCH_KEY. */
enum qr_err w_obj_full_v(struct store *st, int64_t bucket_id, struct qr_slice key,
                         struct qr_slice version, struct full_obj *out);
void full_obj_dispose(struct full_obj *o);
/* store_obj_copy's change, inside the caller's transaction (batch copy tasks commit it
 * with their result row). *out_mtime: the copy's. Errors as store_obj_copy. */
enum qr_err w_obj_copy(struct store *st, const struct store_copy *cp, int64_t *out_mtime);
/* Same, with the copy's version id in out_vid. */
enum qr_err w_obj_copy_v(struct store *st, const struct store_copy *cp, int64_t *out_mtime,
                         char out_vid[40]);
/* store_obj_set_tags's change, inside the caller's transaction. */
enum qr_err w_obj_set_tags(struct store *st, struct qr_slice bucket, struct qr_slice key,
                           struct qr_slice tags);
/* store_obj_set_retention's and store_obj_set_legal_hold's changes, inside the caller's
 * transaction (version.c). */
enum qr_err w_obj_set_retention(struct store *st, struct qr_slice bucket, struct qr_slice key,
                                struct qr_slice version, enum store_lock_mode mode,
                                int64_t until_ms, bool bypass);
enum qr_err w_obj_set_hold(struct store *st, struct qr_slice bucket, struct qr_slice key,
                           struct qr_slice version, bool on);

/* ---- list.c ---- */

/* The smallest byte string greater than every string starting with s (s with trailing
 * 0xFF bytes dropped and its last byte incremented), in pool; false when none exists. */
bool key_successor(struct qr_slice s, h2o_mem_pool_t *pool, struct qr_slice *out);

/* ---- mpu.c ---- */

/* Frees an upload's parts (dropping their blob references) and its row. Errors: QR_E_DB. */
enum qr_err w_upload_drop(struct store *st, const char *upload_id);

/* ---- test-only ---- */

/* Transactions committed / changes applied since open (group commit accounting). */
uint64_t store_debug_commits(struct store *st);
uint64_t store_debug_changes(struct store *st);
/* Returns once every blob freed by changes that already returned has been unlinked
 * (the writer unlinks after waking callers, before it takes its next batch). */
void store_debug_sync(struct store *st);
/* Virtual machine steps the writer's statement id has run since the previous call (0 if
 * it was never prepared): a seek costs a few dozen, a scan one or more per row, so a test
 * can tell which one a change ran. Only while no change is in flight. */
int store_debug_steps(struct store *st, enum stmt_id id);

#endif
