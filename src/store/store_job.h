/*
 * store_job.h - S3 Batch Operations jobs as the store keeps them: one row per job (its
 * definition and tags as opaque JSON chosen by batch/, its state as batch/'s enum value,
 * counters, the manifest pin and the progress checkpoint) and one row per finished task
 * (the completion report's line). Implemented in store/job.c.
 *
 * Progress is a cursor: every manifest line below `cursor` has exactly one result row,
 * written in the same transaction that moved the cursor, so a restart resumes at the
 * cursor and the report lists each line once. A task whose effect is an S3 change (copy,
 * tagging) commits that change, its result row and the cursor in one transaction.
 *
 * The manifest is pinned at preparation: its bytes (inline objects) or its extents (with
 * a reference on each blob) are recorded in the job row, so overwriting or deleting the
 * manifest object changes nothing for the job; the pin is dropped when the job ends.
 *
 * Threads and memory as in store.h: writes block until durable (never on a loop), reads
 * go through a store_reader, variable-length results live in the pool passed in.
 */
#ifndef QR_STORE_JOB_H
#define QR_STORE_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <h2o/memory.h>

#include "store/store.h"
#include "util/err.h"
#include "util/slice.h"

#define STORE_JOB_ID_MAX    36u
#define STORE_JOB_TOKEN_MAX 64u
#define STORE_JOB_MSG_MAX   1024u /* a result row's message, already cut by batch/ */

/* One job as stored. */
struct store_job {
    char id[STORE_JOB_ID_MAX + 1];
    int64_t seq;      /* creation order, for listing */
    int state;        /* batch/'s enum value; the store only compares it */
    int64_t priority; /* 0..2^31-1 */
    int64_t created_ms;
    int64_t terminated_ms; /* 0 until terminal */
    int64_t suspended_ms;  /* 0 unless suspended */
    int64_t active_ms;     /* time spent running tasks */
    uint64_t total;        /* tasks in the manifest (known after preparation) */
    uint64_t succeeded, failed;
    uint64_t cursor;               /* manifest lines [0, cursor) have a result row */
    uint64_t manifest_off;         /* byte offset of line `cursor` in the pinned manifest */
    bool pinned;                   /* the manifest is pinned */
    struct qr_slice def;           /* opaque definition JSON, lives in pool */
    struct qr_slice tags;          /* opaque tags JSON, lives in pool */
    struct qr_slice status_reason; /* lives in pool */
    struct qr_slice failures;      /* opaque failure reasons JSON (may be empty), pool */
};

/* Creates the job tables if missing. Errors: QR_E_DB. Not on a loop thread. */
enum qr_err store_job_init(struct store *st) __attribute__((warn_unused_result));

struct store_job_new {
    const char *id;       /* new job id */
    const char *token;    /* ClientRequestToken */
    const char *req_hash; /* digest of the request: same token + same hash = same job */
    int state;
    int64_t priority;
    int64_t now_ms;
    struct qr_slice def, tags; /* opaque JSON, borrowed */
};

/* Creates the job, or finds the job created earlier with the same token and hash (its id
 * goes to out_id and *out_existing is true). Errors: QR_E_CONFLICT (same token,
 * different request), QR_E_DB. */
enum qr_err store_job_create(struct store *st, const struct store_job_new *n,
                             char out_id[STORE_JOB_ID_MAX + 1], bool *out_existing)
    __attribute__((warn_unused_result));

/* Errors: QR_E_NO_SUCH_KEY, QR_E_DB. */
enum qr_err store_job_get(struct store_reader *r, struct qr_slice id, h2o_mem_pool_t *pool,
                          struct store_job *out) __attribute__((warn_unused_result));

/* Jobs newest first with seq < before (INT64_MAX: from the newest) whose state bit is
 * set in state_mask (bit n = state n), at most max. out lives in pool. Errors: QR_E_DB. */
enum qr_err store_job_list(struct store_reader *r, uint64_t state_mask, int64_t before, size_t max,
                           h2o_mem_pool_t *pool, struct store_job **out, size_t *out_n,
                           bool *out_truncated) __attribute__((warn_unused_result));

/* What an update changes; a field not flagged is kept. */
enum store_job_set {
    STORE_JOB_SET_STATE = 1 << 0,
    STORE_JOB_SET_PRIORITY = 1 << 1,
    STORE_JOB_SET_TAGS = 1 << 2,
    STORE_JOB_SET_REASON = 1 << 3,
    STORE_JOB_SET_FAILURES = 1 << 4,
    STORE_JOB_SET_TERMINATED = 1 << 5,
    STORE_JOB_SET_SUSPENDED = 1 << 6,
    STORE_JOB_SET_TOTAL = 1 << 7,
    STORE_JOB_UNPIN = 1 << 8, /* drop the manifest pin (terminal states) */
};

struct store_job_update {
    const char *id;
    unsigned set;         /* enum store_job_set flags */
    uint64_t from_states; /* the current state must be in this mask, else QR_E_CONFLICT */
    int state;
    int64_t priority;
    struct qr_slice tags, reason, failures;
    int64_t terminated_ms, suspended_ms;
    uint64_t total;
};

/* Applies u in one transaction; *out_state (may be NULL) gets the state before it.
 * Errors: QR_E_NO_SUCH_KEY, QR_E_CONFLICT, QR_E_DB. */
enum qr_err store_job_update(struct store *st, const struct store_job_update *u, int *out_state)
    __attribute__((warn_unused_result));

/* Pins the manifest object (bucket, key) for the job if not pinned yet: its ETag must be
 * etag (no quotes). Errors: QR_E_NO_SUCH_BUCKET, QR_E_NO_SUCH_KEY, QR_E_PRECONDITION
 * (ETag differs), QR_E_NO_SUCH_UPLOAD (job missing), QR_E_DB. */
enum qr_err store_job_pin(struct store *st, const char *id, struct qr_slice bucket,
                          struct qr_slice key, const char *etag)
    __attribute__((warn_unused_result));

/* A task list written at preparation by the caller (an inventory report's data files or a
 * bucket listing, expanded to CSV lines) and then pinned as the job's manifest, so the
 * engine reads every format the same way. The bytes go to blob files of up to
 * STORE_JOB_SPOOL_CHUNK bytes as they come: memory stays bounded whatever the length.
 * One spool per preparation, used by one thread; not on a loop thread. */
#define STORE_JOB_SPOOL_CHUNK (4u * 1024u * 1024u)
struct store_job_spool;
void store_job_spool_new(struct store *st, struct store_job_spool **out);
/* Appends bytes. Errors: QR_E_IO, QR_E_DB, QR_E_TOO_LARGE (more than STORE_MAX_EXTENTS
 * chunks). */
enum qr_err store_job_spool_write(struct store_job_spool *sp, struct qr_slice data)
    __attribute__((warn_unused_result));
/* Bytes appended so far. */
uint64_t store_job_spool_size(const struct store_job_spool *sp);
/* Pins what was written as the job's manifest (a job already pinned keeps its pin and
 * the spool's bytes are dropped). Errors: QR_E_NO_SUCH_UPLOAD (job missing), QR_E_IO,
 * QR_E_DB. */
enum qr_err store_job_spool_pin(struct store_job_spool *sp, const char *id)
    __attribute__((warn_unused_result));
/* Drops whatever was not pinned. NULL is a no-op. */
void store_job_spool_free(struct store_job_spool *sp);

/* A data file of a job's manifest (an inventory's) held while preparation reads it:
 * each of its blobs gets a reference recorded against the job, dropped when the job's
 * task list is pinned (store_job_spool_pin) or the job ends (STORE_JOB_UNPIN), so
 * overwriting or deleting the object meanwhile changes nothing for the reader. Holds
 * survive a restart (preparation then starts over and they are dropped as above). */
struct store_job_held {
    uint64_t size;
    char etag[80];               /* no quotes */
    struct qr_slice inline_data; /* p != NULL: the bytes, in pool */
    struct store_extent *ext;    /* else n_ext extents, in pool */
    size_t n_ext;
};
/* The bytes come out readable: inline bytes decrypted, each extent with its blob's data
 * key (decrypt what is read with store_extent_decrypt), through r (the caller's reader).
 * Errors: QR_E_NO_SUCH_BUCKET, QR_E_NO_SUCH_KEY, QR_E_NO_SUCH_UPLOAD (job missing),
 * QR_E_DENIED (SSE-C: no key to read it with), QR_E_IO, QR_E_DB. */
enum qr_err store_job_hold(struct store *st, struct store_reader *r, const char *id,
                           struct qr_slice bucket, struct qr_slice key, h2o_mem_pool_t *pool,
                           struct store_job_held *out)
    __attribute__((warn_unused_result));

/* The pinned manifest: bytes (inline) or extents. Errors: QR_E_NO_SUCH_KEY (no job or
 * not pinned), QR_E_DB. */
struct store_job_manifest {
    uint64_t size;
    struct qr_slice inline_data; /* p != NULL: the bytes, in pool */
    struct store_extent *ext;    /* else n_ext extents, in pool */
    size_t n_ext;
};
enum qr_err store_job_manifest(struct store_reader *r, const char *id, h2o_mem_pool_t *pool,
                               struct store_job_manifest *out) __attribute__((warn_unused_result));

/* The S3 change a task makes, applied in the transaction that records its row. */
enum store_job_effect {
    STORE_JOB_EFFECT_NONE,
    STORE_JOB_EFFECT_COPY, /* copy below */
    STORE_JOB_EFFECT_TAGS, /* replace the tag set of (obj_bucket, obj_key) with tags */
    STORE_JOB_EFFECT_HOLD, /* set the legal hold of (obj_bucket, obj_key, obj_version) to flag */
    STORE_JOB_EFFECT_RETENTION, /* set its retention to lock_mode/lock_until_ms; flag: bypass
                                   GOVERNANCE (store_obj_set_retention's rules) */
};

/* One finished task. */
struct store_job_row {
    uint64_t line; /* manifest line (0-based) */
    struct qr_slice bucket, key, version;
    enum store_job_effect effect;
    struct store_copy copy;
    struct qr_slice obj_bucket, obj_key; /* the object EFFECT_TAGS/HOLD/RETENTION change */
    struct qr_slice obj_version;         /* HOLD/RETENTION: the version; empty: current */
    struct qr_slice tags;
    bool flag;
    enum store_lock_mode lock_mode;
    int64_t lock_until_ms;
    /* outcome: set by the caller for effect NONE, else by the outcome callback */
    bool failed;
    char code[64]; /* error code, "" on success */
    int http;      /* HTTP status of the operation */
    char message[STORE_JOB_MSG_MAX + 1];
};

/* Called for each row with an effect, inside the transaction, with the effect's result;
 * fills the row's outcome. Writer thread; must not block. */
typedef void (*store_job_outcome_cb)(void *arg, struct store_job_row *row, enum qr_err err);

struct store_job_progress {
    const char *id;
    struct store_job_row *rows; /* n rows, lines cursor_from..cursor_to-1, each once */
    size_t n;
    uint64_t cursor_from;  /* the job's cursor must still be this (QR_E_CONFLICT) */
    uint64_t cursor_to;    /* new cursor */
    uint64_t manifest_off; /* byte offset of line cursor_to */
    int64_t active_ms;     /* added to the job's active time */
    store_job_outcome_cb outcome;
    void *arg;
    /* Byte offset after each row's line (n entries), or NULL. Given, an asynchronous
     * record may commit in several transactions, each moving the cursor to the end of
     * the rows it holds (effects and rows still commit together), so the writer can
     * serve user requests between them. */
    const uint64_t *ends;
};

/* Applies the rows' effects (each in a savepoint of its own: a failed copy undoes only
 * itself), writes the rows, the counters and the cursor in one transaction.
 * Errors: QR_E_NO_SUCH_KEY, QR_E_CONFLICT, QR_E_DB. */
enum qr_err store_job_progress(struct store *st, const struct store_job_progress *p)
    __attribute__((warn_unused_result));

/* Called once an asynchronous progress record committed (or failed), on the writer
 * thread; must not block. */
typedef void (*store_job_progress_cb)(void *arg, enum qr_err err);

/* store_job_progress without waiting: queues the change and returns; cb runs when it is
 * durable or failed. p and everything it points to must stay valid until then. Changes
 * are applied in the order they were queued, so a caller may queue the next window (its
 * cursor_from the previous one's cursor_to) while the previous one commits. Any thread. */
void store_job_progress_async(struct store *st, const struct store_job_progress *p,
                              store_job_progress_cb cb, void *arg);

/* Result rows of a job with line >= from, ascending, at most max, only failed ones when
 * failed_only. Rows' slices live in pool. Errors: QR_E_DB. */
enum qr_err store_job_results(struct store_reader *r, const char *id, uint64_t from,
                              bool failed_only, size_t max, h2o_mem_pool_t *pool,
                              struct store_job_row **out, size_t *out_n)
    __attribute__((warn_unused_result));

/* Ids of jobs in one of the states of state_mask, highest priority first, then oldest.
 * out lives in pool. Errors: QR_E_DB. */
enum qr_err store_job_runnable(struct store_reader *r, uint64_t state_mask, size_t max,
                               h2o_mem_pool_t *pool, struct store_job **out, size_t *out_n)
    __attribute__((warn_unused_result));

#endif
