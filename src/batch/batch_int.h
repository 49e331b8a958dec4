/*
 * batch_int.h - shared by the files of src/batch/ only.
 *
 * Files: job.c (create, describe, status/priority/tags updates, the definition JSON),
 * csv.c (one manifest line), manifest.c (the streaming reader of a pinned manifest),
 * inventory.c (inventory manifest.json and gzip lines), expand.c (inventory and generator
 * manifests into a pinned task list), generator.c (S3JobManifestGenerator), engine.c (the
 * thread: preparation, scheduling, windows of tasks, the failure threshold), task.c (one
 * window of one operation: LambdaInvoke through fn_invoke, copy and tagging through the
 * store's transaction), report.c (the completion report), role.c (the job acting as its
 * RoleArn: every task, the manifest read and the report write are decided there).
 */
#ifndef QR_BATCH_INT_H
#define QR_BATCH_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "auth/authz.h"
#include "batch/batch.h"
#include "fn/fn.h"

#define BATCH_LINE_MAX        (16u * 1024u) /* longest manifest line accepted */
#define BATCH_MREAD_BUF       (64u * 1024u)
#define BATCH_WINDOW_LAMBDA   512u /* LambdaInvoke tasks per window (one progress record; the
                                       invocations in flight drain at its end) */
#define BATCH_LAMBDA_CHECK_MS 100   /* a LambdaInvoke window looks for a cancel this often */
#define BATCH_MAX_INFLIGHT    64u  /* the most quarry:concurrency may ask for */
#define BATCH_MAX_PER_INVOKE  64u  /* tasks in one invocation, at most (opt-in, see task.c) */
#define BATCH_TAG_PER_INVOKE  "quarry:tasks-per-invocation" /* job tag asking for more */
#define BATCH_WINDOW_STORE    500u  /* copy/tagging tasks committed per transaction */
#define BATCH_STORE_RUN       16u   /* windows per turn of the engine's loop, at most */
#define BATCH_TURN_MS         500   /* no new window of a turn starts after this long */
#define BATCH_THRESHOLD_MIN   1000u /* tasks attempted before the failure threshold applies */
#define BATCH_MSG_MAX         1024u /* ResultMessage is cut to this many bytes */

struct batch_engine {
    struct batch_engine_opts o; /* strings copied below */
    char data_dir[4096], region[32], account_id[16];
    struct store_reader *reader; /* the engine thread's */
    pthread_t tid;
    bool started;
    pthread_mutex_t mu; /* guards kicked, stop */
    pthread_cond_t cv;
    bool kicked; /* guarded by mu: a job changed, look again now */
    bool stop;   /* guarded by mu */
};

/* Wakes the engine thread (a job was created or changed). Any thread. */
void batch_kick(struct batch_engine *e);

/* Whether batch_engine_free has begun: long waits give up (the work is redone at the
 * next start). Any thread. */
bool batch_engine_stopping(struct batch_engine *e);

/* ---- manifest reader (manifest.c) ---- */

/* Reads a pinned manifest line by line from a byte offset, in bounded memory. */
struct batch_mreader {
    struct store *st;
    struct store_job_manifest m; /* in pool */
    h2o_mem_pool_t pool;
    uint64_t next_off;           /* manifest offset of buf[0] + len already consumed */
    uint64_t fill_off;           /* manifest offset of the next byte to read into buf */
    uint8_t *buf;                /* BATCH_MREAD_BUF bytes, heap */
    size_t off, len;             /* unread bytes: buf[off, len) */
    uint64_t line_no;            /* physical line number (1-based) of the last line returned */
    struct store_obj_cursor cur; /* at fill_off */
};

/* Opens the job's pinned manifest at byte offset start. Errors: QR_E_NO_SUCH_KEY
 * (not pinned), QR_E_DB. */
enum qr_err batch_mreader_open(struct store *st, struct store_reader *r, const char *job_id,
                               uint64_t start, struct batch_mreader *out);
/* The next non-empty line without its line end (borrowed until the next call);
 * *out_eof at the end. next_off then is the offset after it. Errors: QR_E_TOO_LARGE
 * (line over BATCH_LINE_MAX), QR_E_IO. */
enum qr_err batch_mreader_next(struct batch_mreader *mr, struct qr_slice *out, bool *out_eof);
void batch_mreader_close(struct batch_mreader *mr);

/* "arn:aws:s3:::bucket/key" -> bucket and key (engine.c). */
bool batch_manifest_object(const char *arn, char bucket[64], const char **key);
/* An ETag as given, without its quotes (engine.c). */
void batch_etag_unquoted(const char *in, char out[80]);

/* ---- manifests that are not one CSV object (expand.c, generator.c) ---- */

/* Expands an inventory report or a generator into the job's task list and pins it (a
 * job already pinned is left alone), reading and writing as the job's role: an
 * inventory's data files need s3:GetObject, all decided before the first is read.
 * false: the job failed (reason recorded) or the engine is stopping. Engine thread. */
bool batch_expand_manifest(struct batch_engine *e, const struct store_job *j,
                           const struct batch_def *d);
/* CreateJob's checks of a generator: the source and output buckets exist and are general
 * purpose buckets (AWS supports neither as a directory bucket). msg gets the reason.
 * Errors: QR_E_BAD_INPUT, QR_E_DB. */
enum qr_err batch_check_generator(struct store_reader *r, const struct batch_def *d,
                                  char msg[256]);
struct batch_role;
/* S3JobManifestGenerator: the listing of the source bucket through the filters, as CSV
 * lines into sp (and the generated manifest written when asked), each decided as the
 * job's role first: s3:ListBucket on the source bucket, s3:PutObject on every object of
 * the generated manifest (manifest.json and the first data file before anything is
 * listed or written). false: the job failed (reason recorded) or the engine is stopping.
 * Engine thread. */
bool batch_generate(struct batch_engine *e, const struct store_job *j, const struct batch_def *d,
                    struct batch_role *role, struct store_job_spool *sp);

/* ---- dry run (dryrun.c) ---- */

#define BATCH_TAG_DRY_RUN      "quarry:dry-run"      /* "true": check, change nothing */
#define BATCH_TAG_DRY_RUN_KEYS "quarry:dry-run-keys" /* tasks checked, 1..1000 (10) */

/* The value of one of the job's stored tags; false when it has none. */
bool batch_job_tag(const struct store_job *j, const char *key, char *out, size_t cap);
/* Whether the job asked for a dry run. */
bool batch_dry_run_wanted(const struct store_job *j);
/* After a dry-run job's manifest was validated (total tasks): checks the first K tasks'
 * objects, the role and the function, records a row per checked task and a summary in
 * StatusUpdateReason, and moves the job to Ready with only those tasks, so it completes
 * (with its report) without running anything. Engine thread. */
void batch_dry_run(struct batch_engine *e, const struct store_job *j, const struct batch_def *d,
                   uint64_t total);

/* What a job's quarry:* tags ask for beyond AWS (opt-in; the defaults are the server's,
 * BATCH_DEFAULTS_BUILTIN unless `quarry serve --batch-*` says): docs/batch.md lists them. */
struct batch_opts {
    size_t per_invoke;      /* quarry:tasks-per-invocation, 1..64 (1) */
    unsigned max_retries;   /* quarry:max-retries, 0..20 (3) */
    unsigned concurrency;   /* quarry:concurrency, invocations in flight 1..64 (16) */
    unsigned threshold_pct; /* quarry:failure-threshold-percent, 0..100 (50); 100: never */
};

/* The job's options from its stored tags; bad or missing values keep the server's
 * defaults (e->o.defaults). */
void batch_job_opts(const struct batch_engine *e, const struct store_job *j,
                    struct batch_opts *out);

/* ---- jobs (job.c) ---- */

/* Sets a job's state (from a mask of allowed ones) with the dates that go with it. */
enum qr_err batch_set_state(struct batch_engine *e, const char *id, uint64_t from,
                            enum batch_state to);
/* Ends a job in Failed with one failure reason (and unpins its manifest). */
void batch_fail_job(struct batch_engine *e, const char *id, const char *code, const char *reason);

/* ---- the job's role (role.c) ---- */

#define BATCH_ROLE_CTX 6 /* global condition keys of a role's decisions */

/* A job's principal: an assumed-role session of its RoleArn, resolved in the snapshot it
 * holds. One per engine turn of a job; not shared between threads. */
struct batch_role {
    struct authz *authz;
    const struct authz_snap *snap; /* acquired; the principal's policies are borrowed from it */
    struct auth_principal p;
    char role_arn[BATCH_ARN_MAX + 1];
    char session[65];
    const char *account, *region;
    char now[32], epoch[24];
    struct policy_kv kv[BATCH_ROLE_CTX];
    const char *vals[BATCH_ROLE_CTX];
    size_t n_kv;
    /* per-job values the task decisions reuse */
    char s3x_prefix[96]; /* "arn:aws:s3express:REGION:ACCOUNT:bucket/" */
    size_t s3x_prefix_len;
    const char *fn_for; /* the FunctionArn fn_arn was completed from */
    char fn_arn[BATCH_ARN_MAX + 64];
    const struct batch_def *dst_for; /* the definition dst was read from */
    char dst[64];                    /* a copy's destination bucket */
};

/* Resolves job_id's role in the current snapshot. Engine thread. */
void batch_role_open(struct batch_role *r, struct batch_engine *e, const char *job_id,
                     const char *role_arn);
/* Before a window: the clock for aws:CurrentTime, and the principal again when IAM
 * changed since (one pointer compare otherwise). */
void batch_role_refresh(struct batch_role *r);
void batch_role_close(struct batch_role *r);

/* Whether the role may do action on resource (bucket: whose policy applies, or empty),
 * with extra condition keys. msg gets AWS's AccessDenied message when not. */
bool batch_role_allows(struct batch_role *r, const char *action, const char *resource,
                       struct qr_slice bucket, const struct policy_kv *extra, size_t n_extra,
                       char *msg, size_t cap);
/* Reading (s3:GetObject, or s3:GetObjectVersion when versioned) or writing (s3:PutObject)
 * an object as the role; directory buckets: s3express:CreateSession in ReadOnly or
 * ReadWrite mode on the bucket. */
bool batch_role_object(struct batch_role *r, struct qr_slice bucket, struct qr_slice key,
                       bool versioned, bool write, char *msg, size_t cap);

/* Listing a bucket as the role: s3:ListBucket on the bucket; a directory bucket:
 * s3express:CreateSession in ReadOnly mode. */
bool batch_role_list(struct batch_role *r, struct qr_slice bucket, char *msg, size_t cap);

/* Whether the role may read the job's manifest (when manifest) and write its report;
 * false with the job's FailureReasons entry in code and reason. Engine thread. */
bool batch_role_job_access(struct batch_engine *e, const struct store_job *j,
                           const struct batch_def *d, bool manifest, char code[64],
                           char reason[257]);

/* The one decision of a task as the job's role: LambdaInvoke lambda:InvokeFunction on the
 * function ARN; S3PutObjectCopy reading the source and writing the destination;
 * tagging s3:PutObjectTagging / s3:DeleteObjectTagging; checksum reading the object.
 * False with AWS's AccessDenied message in msg. */
bool batch_authorize_task(struct batch_role *r, const struct batch_def *d,
                          const struct batch_task *t, char *msg, size_t cap);

/* ---- windows (task.c) ---- */

struct batch_window {
    struct batch_engine *e;
    const struct store_job *job;
    const struct batch_def *def;
    struct batch_task *tasks; /* n tasks, lines job->cursor .. +n */
    size_t n;
    uint64_t end_off; /* manifest offset after the last task's line */
    uint64_t *ends;   /* ends[i]: manifest offset after task i's line (a window cut short
                         records a prefix and resumes there) */
    int64_t t0_ms;    /* monotonic start of the window: its time in Active is charged with it */
    struct batch_role *role; /* the job's principal, every task is decided as it */
};

/* Monotonic milliseconds. */
static inline int64_t batch_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs the window's tasks (S3ComputeObjectChecksum) and records them with
 * the job's progress. Errors: QR_E_DB, QR_E_CONFLICT (the job moved meanwhile), QR_E_BUSY
 * (the engine is stopping). Engine thread. */
enum qr_err batch_run_window(struct batch_window *w);

/* Runs up to max_windows consecutive windows (LambdaInvoke, copy, tagging) from the job's
 * cursor: each window's result rows (and for copy/tagging its object changes) are one
 * writer transaction, queued while the next window runs (two windows in the pipeline),
 * so the commit overlaps the work. A cancel cuts a LambdaInvoke window short.
 * Errors: QR_E_DB, QR_E_CONFLICT, QR_E_IO, QR_E_NO_SUCH_KEY (manifest not pinned),
 * QR_E_BUSY (the engine is stopping). Engine thread. */
enum qr_err batch_run_windows(struct batch_engine *e, const struct store_job *j,
                              const struct batch_def *d, size_t max_windows);

/* ---- report (report.c) ---- */

/* Writes the completion report of a finished job (nothing when disabled). Errors:
 * QR_E_NO_SUCH_BUCKET, QR_E_IO, QR_E_DB. Engine thread. */
enum qr_err batch_write_report(struct batch_engine *e, const struct store_job *job,
                               const struct batch_def *def);

/* The plain bucket name of "arn:aws:s3:::b", "arn:aws:s3express:R:A:bucket/b" or "b";
 * false when it is none of them. */
bool batch_bucket_of_arn(const char *arn, char out[64]);

#endif
