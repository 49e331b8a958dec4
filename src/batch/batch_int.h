/*
 * batch_int.h - shared by the files of src/batch/ only.
 *
 * Files: job.c (create, describe, status/priority/tags updates, the definition JSON),
 * csv.c (one manifest line), manifest.c (the streaming reader of a pinned manifest), engine.c (the
 * thread: preparation, scheduling, windows of tasks, the failure threshold), task.c (one
 * window of one operation: LambdaInvoke through fn_invoke, copy and tagging through the
 * store's transaction), report.c (the completion report).
 */
#ifndef QR_BATCH_INT_H
#define QR_BATCH_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "batch/batch.h"
#include "fn/fn.h"

#define BATCH_LINE_MAX        (16u * 1024u) /* longest manifest line accepted */
#define BATCH_MREAD_BUF       (64u * 1024u)
#define BATCH_WINDOW_LAMBDA   256u /* LambdaInvoke tasks per window (one progress record) */
#define BATCH_LAMBDA_INFLIGHT 16u  /* LambdaInvoke invocations in flight at once */
#define BATCH_LAMBDA_CHECK_MS 100   /* a LambdaInvoke window looks for a cancel this often */
#define BATCH_MAX_INFLIGHT    64u  /* the most quarry:concurrency may ask for */
#define BATCH_MAX_PER_INVOKE  64u  /* tasks in one invocation, at most (opt-in, see task.c) */
#define BATCH_TAG_PER_INVOKE  "quarry:tasks-per-invocation" /* job tag asking for more */
#define BATCH_WINDOW_STORE    500u  /* copy/tagging tasks committed per transaction */
#define BATCH_STORE_RUN       16u   /* windows per turn of the engine's loop, at most */
#define BATCH_TURN_MS         500   /* no new window of a turn starts after this long */
#define BATCH_RETRY_MAX       3u    /* TemporaryFailure retries before the task fails */
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
    uint64_t next_off; /* manifest offset of buf[0] + len already consumed */
    uint64_t fill_off; /* manifest offset of the next byte to read into buf */
    uint8_t *buf;      /* BATCH_MREAD_BUF bytes, heap */
    size_t off, len;   /* unread bytes: buf[off, len) */
    uint64_t line_no;  /* physical line number (1-based) of the last line returned */
    int fd;            /* open blob of ext[fd_ext], or -1 */
    size_t fd_ext;
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

/* What a job's quarry:* tags ask for beyond AWS (opt-in; the defaults are AWS's
 * behaviour): docs/batch.md lists them. */
struct batch_opts {
    size_t per_invoke;      /* quarry:tasks-per-invocation, 1..64 (1) */
    unsigned max_retries;   /* quarry:max-retries, 0..20 (BATCH_RETRY_MAX) */
    unsigned concurrency;   /* quarry:concurrency, invocations in flight 1..64 (16) */
    unsigned threshold_pct; /* quarry:failure-threshold-percent, 0..100 (50); 100: never */
};

/* The job's options from its stored tags; bad or missing values keep the defaults. */
void batch_job_opts(const struct store_job *j, struct batch_opts *out);

/* ---- jobs (job.c) ---- */

/* Sets a job's state (from a mask of allowed ones) with the dates that go with it. */
enum qr_err batch_set_state(struct batch_engine *e, const char *id, uint64_t from,
                            enum batch_state to);
/* Ends a job in Failed with one failure reason (and unpins its manifest). */
void batch_fail_job(struct batch_engine *e, const char *id, const char *code, const char *reason);

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
