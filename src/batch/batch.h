/*
 * batch.h - S3 Batch Operations: jobs (definition, state machine, progress), the engine
 * that prepares and runs them, manifests and completion reports.
 *
 * The wire layer (api/s3control) decodes a request into a struct batch_def, calls
 * batch_*, and renders what comes back; nothing here knows HTTP or AWS error codes.
 * Jobs live in the store (store_job.h) and survive restarts: the engine's thread picks
 * jobs up from there, so every state change by the API is a store update followed by
 * batch_kick.
 *
 * Threads: batch_engine_new/free on the main thread; every other function from any
 * thread that may block (workers), never a loop thread (they write to the store).
 */
#ifndef QR_BATCH_H
#define QR_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <h2o/memory.h>

#include "store/store.h"
#include "store/store_job.h"
#include "util/err.h"
#include "util/slice.h"

struct fn_engine;
struct authz;
struct batch_engine;

/* Every state AWS has (model enum JobStatus). Values are stored: append only. */
enum batch_state {
    BATCH_NEW,
    BATCH_PREPARING,
    BATCH_SUSPENDED,
    BATCH_READY,
    BATCH_ACTIVE,
    BATCH_PAUSING,
    BATCH_PAUSED,
    BATCH_COMPLETE,
    BATCH_COMPLETING,
    BATCH_CANCELLING,
    BATCH_CANCELLED,
    BATCH_FAILING,
    BATCH_FAILED,
    BATCH__STATES
};

#define BATCH_BIT(s) (1ull << (s))
#define BATCH_TERMINAL                                                                             \
    (BATCH_BIT(BATCH_COMPLETE) | BATCH_BIT(BATCH_CANCELLED) | BATCH_BIT(BATCH_FAILED))

enum batch_op {
    BATCH_OP_LAMBDA,
    BATCH_OP_COPY,
    BATCH_OP_PUT_TAGGING,
    BATCH_OP_DELETE_TAGGING,
    BATCH_OP_CHECKSUM,   /* S3ComputeObjectChecksum */
    BATCH_OP_LEGAL_HOLD, /* S3PutObjectLegalHold */
    BATCH_OP_RETENTION,  /* S3PutObjectRetention */
};

/* NewObjectMetadata's string members: the model's name, the stored header they become,
 * where struct batch_def keeps them (read by CreateJob's parser, DescribeJob and the
 * copy tasks). */
struct batch_meta_member {
    const char *xml, *header;
    size_t off;
};
extern const struct batch_meta_member batch_meta_members[];
extern const size_t batch_n_meta_members;

/* The operation's name in the model ("S3PutObjectCopy", ...); NULL for no operation. */
const char *batch_op_name(enum batch_op o);

enum batch_manifest_format {
    BATCH_MF_CSV,       /* S3BatchOperations_CSV_20180820 */
    BATCH_MF_INVENTORY, /* S3InventoryReport_CSV_20161130 (manifest.json + gzipped CSV) */
    BATCH_MF_GENERATOR, /* S3JobManifestGenerator (a listing of a bucket) */
};

enum batch_field {
    BATCH_F_IGNORE,
    BATCH_F_BUCKET,
    BATCH_F_KEY,
    BATCH_F_VERSION,
};

#define BATCH_MAX_FIELDS    8u
#define BATCH_MAX_USER_ARGS 10u
#define BATCH_MAX_JOB_TAGS  50u
#define BATCH_MAX_OBJ_TAGS  10u
#define BATCH_ARN_MAX       2048u
#define BATCH_KEY_MAX       1024u
#define BATCH_PREFIX_MAX    1024u
#define BATCH_DESC_MAX      256u
#define BATCH_TAG_KEY_MAX   512u  /* bytes: 128 Unicode characters of up to 4 bytes */
#define BATCH_TAG_VALUE_MAX 1024u /* bytes: 256 characters; UserArguments values 1024 */
#define BATCH_META_MAX      1024u /* a NewObjectMetadata string */
#define BATCH_MAX_USER_META 16u   /* NewObjectMetadata UserMetadata entries */

#define BATCH_REPL_NONE 8u /* the one ReplicationStatus an object of quarry has */
#define BATCH_SC_STANDARD 1u  /* the one S3StorageClass an object of quarry has */

struct batch_kv {
    char key[BATCH_TAG_KEY_MAX + 1];
    char value[BATCH_TAG_VALUE_MAX + 1];
};

/* A job's definition: what CreateJob asked for, validated for shape by the wire layer
 * (lengths, enums), for meaning by batch_create. Heap or pool; no pointers inside. */
struct batch_def {
    enum batch_op op;
    /* LambdaInvoke */
    char function_arn[BATCH_ARN_MAX + 1];
    char schema[8]; /* "1.0" or "2.0" */
    struct batch_kv user_args[BATCH_MAX_USER_ARGS];
    size_t n_user_args;
    /* S3PutObjectCopy */
    char target_resource[BATCH_ARN_MAX + 1]; /* bucket ARN as given */
    char target_prefix[BATCH_PREFIX_MAX + 1];
    bool copy_new_tags;   /* NewObjectTagging given: the copies get obj_tags */
    /* MetadataDirective REPLACE: the copies get NewObjectMetadata's headers ("" and 0 for
     * a member not given) instead of their sources' */
    bool copy_replace_meta;
    char meta_type[BATCH_META_MAX + 1], meta_disposition[BATCH_META_MAX + 1],
        meta_language[BATCH_META_MAX + 1], meta_cache[BATCH_META_MAX + 1],
        meta_encoding[BATCH_META_MAX + 1];
    char copy_acl[32];                     /* CannedAccessControlList as given (private or
                                              bucket-owner-full-control: no-ops), "" when not */
    bool copy_requester_pays;              /* RequesterPays true (a no-op, echoed) */
    int64_t meta_expires_ms;
    struct batch_kv meta_user[BATCH_MAX_USER_META];
    size_t n_meta_user;
    bool copy_lock_hold_given, copy_lock_hold; /* ObjectLockLegalHoldStatus given; ON */
    enum store_lock_mode copy_lock_mode; /* ObjectLockMode, NONE when not given */
    int64_t copy_lock_until_ms;          /* ObjectLockRetainUntilDate */
    int64_t copy_modified_since_ms;      /* ModifiedSinceConstraint, 0: none */
    int64_t copy_unmodified_since_ms;    /* UnModifiedSinceConstraint, 0: none */
    /* S3PutObjectTagging (and NewObjectTagging of a copy) */
    struct batch_kv obj_tags[BATCH_MAX_OBJ_TAGS];
    size_t n_obj_tags;
    /* S3ComputeObjectChecksum: a util/checksum.h enum qr_ck value; COMPOSITE or FULL_OBJECT */
    int checksum_alg;
    bool checksum_composite;
    /* S3PutObjectLegalHold: the Status to set */
    bool hold_on;
    /* S3PutObjectRetention: Mode (NONE with until 0: the retention removed) and
     * RetainUntilDate; BypassGovernanceRetention */
    enum store_lock_mode ret_mode;
    int64_t ret_until_ms;
    bool ret_bypass;
    /* Manifest */
    enum batch_manifest_format mf_format;
    enum batch_field fields[BATCH_MAX_FIELDS];
    size_t n_fields;
    char mf_arn[BATCH_ARN_MAX + 1];
    char mf_etag[80]; /* as given (quotes kept for the echo) */
    char mf_version[BATCH_KEY_MAX + 1];
    /* S3JobManifestGenerator (mf_format BATCH_MF_GENERATOR) */
    char gen_source[BATCH_ARN_MAX + 1]; /* SourceBucket ARN */
    bool gen_output;                    /* EnableManifestOutput */
    char gen_out_bucket[BATCH_ARN_MAX + 1];
    char gen_out_prefix[BATCH_PREFIX_MAX + 1];
    int64_t gen_after_ms, gen_before_ms; /* CreatedAfter/Before, 0: none */
    unsigned gen_repl;                   /* ObjectReplicationStatuses bits (BATCH_REPL_*), 0: any */
    char gen_prefix[BATCH_KEY_MAX + 1], gen_suffix[BATCH_KEY_MAX + 1],
        gen_substr[BATCH_KEY_MAX + 1]; /* KeyNameConstraint, "" when none */
    int64_t gen_gt, gen_lt;            /* ObjectSize Greater/LessThanBytes, -1: none */
    unsigned gen_classes;              /* MatchAnyStorageClass bits (BATCH_SC_*), 0: any */
    /* Report */
    bool report_enabled;
    char report_bucket_arn[BATCH_ARN_MAX + 1];
    char report_prefix[BATCH_PREFIX_MAX + 1];
    bool report_failed_only; /* ReportScope FailedTasksOnly */
    bool report_has_scope;
    bool report_has_format;
    /* the job */
    bool confirmation_required;
    char description[BATCH_DESC_MAX + 1];
    char role_arn[BATCH_ARN_MAX + 1];
    char token[STORE_JOB_TOKEN_MAX + 1];
    int64_t priority;
};

struct batch_tags {
    struct batch_kv v[BATCH_MAX_JOB_TAGS];
    size_t n;
};

struct batch_failure {
    char code[64];
    char reason[257];
};

#define BATCH_MAX_FAILURES 4u

/* A job as DescribeJob shows it. */
struct batch_job {
    struct store_job row;    /* ids, state, counters, times; slices in pool */
    struct batch_def *def;   /* in pool */
    struct batch_tags *tags; /* in pool */
    struct batch_failure failures[BATCH_MAX_FAILURES];
    size_t n_failures;
    int64_t elapsed_s; /* Timers.ElapsedTimeInActiveSeconds */
};

/* Server-wide defaults of the opt-in job options (`quarry serve --batch-*`); a job's
 * quarry:* tags (docs/batch.md, "Beyond AWS") override them for that job. */
struct batch_defaults {
    unsigned tasks_per_invocation;  /* 1-64 */
    unsigned concurrency;           /* LambdaInvoke invocations in flight, 1-64 */
    unsigned max_retries;           /* of a TemporaryFailure, 0-20 */
    unsigned failure_threshold_pct; /* 0-100; 100 never fails a job */
};
/* AWS's behaviour: one task per invocation, 16 in flight, 3 retries, 50%. */
#define BATCH_DEFAULTS_BUILTIN                                                                     \
    {                                                                                              \
        1, 16, 3, 50                                                                               \
    }

struct batch_engine_opts {
    struct store *store;  /* borrowed */
    struct fn_engine *fn; /* borrowed; NULL: LambdaInvoke tasks fail */
    struct authz *authz;  /* borrowed: jobs act as their role; NULL: every task is denied */
    const char *data_dir; /* DATA */
    const char *region;   /* job ARNs, function resolution */
    const char *account_id;
    struct batch_defaults defaults; /* all zero: BATCH_DEFAULTS_BUILTIN */
};

/* Creates the job tables if needed and starts the engine thread, which resumes the jobs
 * a previous run left unfinished. *out owned by caller (free with batch_engine_free).
 * Errors: QR_E_DB, QR_E_INTERNAL. Main thread. */
enum qr_err batch_engine_new(const struct batch_engine_opts *o, struct batch_engine **out)
    __attribute__((warn_unused_result));
/* Stops the engine after its in-flight tasks (their results are kept or redone at the
 * next start). NULL is a no-op. Main thread, before the fn engine and the store go. */
void batch_engine_free(struct batch_engine *e);

/* Creates a job (or returns the one made earlier with the same token and request).
 * r: the caller's reader (checks buckets, function). msg gets a human reason for
 * QR_E_BAD_INPUT / QR_E_NOT_IMPLEMENTED. Errors: QR_E_BAD_INPUT, QR_E_NOT_IMPLEMENTED
 * (an operation or parameter quarry does not run), QR_E_CONFLICT (token reused with
 * another request), QR_E_DB. */
enum qr_err batch_create(struct batch_engine *e, struct store_reader *r,
                         const struct batch_def *def, const struct batch_tags *tags,
                         char out_id[STORE_JOB_ID_MAX + 1], char msg[256])
    __attribute__((warn_unused_result));

/* Reads a job. Errors: QR_E_NO_SUCH_KEY, QR_E_DB, QR_E_INTERNAL (corrupt row). */
enum qr_err batch_describe(struct store_reader *r, struct qr_slice id, h2o_mem_pool_t *pool,
                           struct batch_job *out) __attribute__((warn_unused_result));

/* UpdateJobStatus: requested BATCH_READY (only from Suspended) or BATCH_CANCELLED (any
 * non-terminal state; a running job goes through Cancelling). *out_state: the state
 * after. Errors: QR_E_NO_SUCH_KEY, QR_E_CONFLICT (not allowed from the current state),
 * QR_E_BAD_INPUT (another requested state), QR_E_DB. */
enum qr_err batch_update_status(struct batch_engine *e, struct qr_slice id,
                                enum batch_state requested, struct qr_slice reason,
                                enum batch_state *out_state) __attribute__((warn_unused_result));

/* UpdateJobPriority while the job has not ended. Errors: QR_E_NO_SUCH_KEY, QR_E_CONFLICT,
 * QR_E_DB. */
enum qr_err batch_update_priority(struct batch_engine *e, struct qr_slice id, int64_t priority)
    __attribute__((warn_unused_result));

/* Put/DeleteJobTagging (n == 0 deletes). Errors: QR_E_NO_SUCH_KEY, QR_E_DB. */
enum qr_err batch_put_tags(struct batch_engine *e, struct qr_slice id, const struct batch_tags *t)
    __attribute__((warn_unused_result));

/* Definition <-> the JSON kept in the job row. Errors: QR_E_INTERNAL (corrupt). */
char *batch_def_to_json(const struct batch_def *d, const struct batch_tags *t, bool with_token);
enum qr_err batch_def_from_json(struct qr_slice json, struct batch_def *out)
    __attribute__((warn_unused_result));

/* ---- manifests (manifest.c) ---- */

#define BATCH_RAW_KEY_MAX (3u * BATCH_KEY_MAX) /* a key, every byte percent-encoded */

/* One manifest line's object (copied out of the line). */
struct batch_task {
    char bucket[64];
    char key_raw[BATCH_RAW_KEY_MAX + 1]; /* as written in the manifest (URL-encoded) */
    size_t key_raw_len;
    char key[BATCH_KEY_MAX + 1]; /* decoded key (% escapes, '+' as space); may hold NUL */
    size_t key_len;
    char version[BATCH_KEY_MAX + 1]; /* "" when none */
};

/* Parses one CSV line (without its line end) by fields. Double-quoted fields ("" for a
 * quote) are accepted. Errors: QR_E_BAD_INPUT with msg set (wrong column count, empty
 * bucket or key, bad escape, key over 1024 bytes, bad bucket name). Any thread. */
enum qr_err batch_csv_line(struct qr_slice line, const enum batch_field *fields, size_t n_fields,
                           struct batch_task *out, char msg[128])
    __attribute__((warn_unused_result));

/* ---- throughput and ETA (progress.c; beyond AWS, opt-in with quarry:progress=true) ---- */

#define BATCH_TAG_PROGRESS "quarry:progress"
#define BATCH_TAG_RATE     "quarry:rate"
#define BATCH_TAG_ETA      "quarry:eta"

/* Adds quarry:rate and quarry:eta to t (the job's tags, as GetJobTagging shows them) when
 * the job asked for them, computed from its counters now. */
void batch_progress_tags(const struct batch_job *j, struct batch_tags *t);
/* Drops quarry:rate and quarry:eta from tags a client puts (they are the server's). */
void batch_strip_progress_tags(struct batch_tags *t);

/* ---- S3JobManifestGenerator (generator.c) ---- */

/* The generated manifest of a generator job with EnableManifestOutput: its ObjectArn and
 * ETag (quoted) once it has been written; false otherwise. r: the caller's reader. */
bool batch_generated_manifest(struct store_reader *r, const struct batch_def *d,
                              const char *job_id, char *arn, size_t arn_cap, char etag[80]);
/* The key of a generator job's manifest.json in the output bucket. */
void batch_generated_manifest_key(const struct batch_def *d, const char *job_id, char *out,
                                  size_t cap);

/* ---- inventory reports (inventory.c) ----
 *
 * An S3InventoryReport_CSV_20161130 manifest is an inventory manifest.json naming gzipped
 * CSV data files whose columns fileSchema lists. At preparation every data file is read
 * once (streamed through inflate, its MD5 checked against manifest.json) and its lines
 * become the job's task list (store_job_spool), in the CSV layout Bucket,Key,VersionId. */

#define BATCH_INV_JSON_MAX  (8u * 1024u * 1024u) /* largest manifest.json read */
#define BATCH_INV_MAX_FILES 100000u
#define BATCH_INV_MAX_COLS  64u

struct batch_inv_file {
    char key[BATCH_KEY_MAX + 1]; /* in the manifest's destinationBucket */
    uint64_t size;
    char md5[33]; /* lower-case hex */
};

struct batch_inv {
    char dest_bucket[64]; /* the bucket holding the data files */
    enum batch_field cols[BATCH_INV_MAX_COLS];
    size_t n_cols;
    struct batch_inv_file *files; /* n_files, heap */
    size_t n_files;
};

/* Parses a manifest.json (untrusted). Errors: QR_E_BAD_INPUT with msg set. */
enum qr_err batch_inv_parse(struct qr_slice json, struct batch_inv *out, char msg[128])
    __attribute__((warn_unused_result));
void batch_inv_dispose(struct batch_inv *inv);

/* One data-file line (columns of fileSchema) -> a task. Errors: QR_E_BAD_INPUT + msg. */
enum qr_err batch_inv_line(const struct batch_inv *inv, struct qr_slice line,
                           struct batch_task *out, char msg[128])
    __attribute__((warn_unused_result));

/* Appends the task as a manifest line "bucket,key,version\n" (key as written, quoted when
 * it holds a comma or a quote) to out (at least BATCH_LINE_MAX + 8 bytes); returns its
 * length, 0 when it does not fit. */
size_t batch_task_csv(const struct batch_task *t, char *out, size_t cap);

/* Where a reader of compressed bytes gets them: *got 0 at the end. */
typedef enum qr_err (*batch_pull_fn)(void *arg, uint8_t *dst, size_t cap, size_t *got);

/* Lines of a gzip stream (concatenated members accepted) in bounded memory, with the MD5
 * of the compressed bytes. */
struct batch_gzlines;
void batch_gzlines_new(batch_pull_fn pull, void *arg, struct batch_gzlines **out);
/* The next non-empty line without its line end (borrowed until the next call); *eof at
 * the end. Errors: QR_E_BAD_INPUT (not gzip, corrupt or cut short), QR_E_TOO_LARGE (a
 * line over 16 KiB), the pull function's errors. */
enum qr_err batch_gzlines_next(struct batch_gzlines *g, struct qr_slice *line, bool *eof)
    __attribute__((warn_unused_result));
/* Physical line number of the last line returned (1-based). */
uint64_t batch_gzlines_line_no(const struct batch_gzlines *g);
/* MD5 (lower-case hex) of every compressed byte pulled; call after *eof. */
void batch_gzlines_md5(struct batch_gzlines *g, char hex[33]);
void batch_gzlines_free(struct batch_gzlines *g);

#endif
