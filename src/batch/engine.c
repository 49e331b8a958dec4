/*
 * engine.c - the batch engine's thread: it takes jobs from the store in priority order
 * and moves them through the state machine.
 *
 * New/Preparing: pin the manifest (ETag checked), read it once to validate every line
 * and count the tasks, then Suspended (confirmation required) or Ready. A malformed
 * manifest fails the job here, naming the line. Ready/Active: the highest-priority job
 * runs one window of tasks at a time; between windows the engine looks again, so a
 * cancel, a priority change or a higher-priority job takes effect within one window.
 * Cancelling/Failing: the report is written, then the terminal state.
 *
 * Everything the engine knows is in the store: after a restart (or kill -9) it finds
 * Active jobs and continues at their cursor; a window that had not committed runs again
 * (LambdaInvoke is at-least-once, as on AWS; copy and tagging commit their effect with
 * their result row, so they are exactly-once).
 */
#include "batch/batch_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/codec.h"

#define IDLE_WAIT_MS 500
#define BATCH_NICE   5 /* the engine thread's nice value (requests keep 0) */

void batch_kick(struct batch_engine *e)
{
    pthread_mutex_lock(&e->mu);
    e->kicked = true;
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
}

static bool stopping(struct batch_engine *e)
{
    pthread_mutex_lock(&e->mu);
    bool s = e->stop;
    pthread_mutex_unlock(&e->mu);
    return s;
}

/* "arn:aws:s3:::bucket/key" -> bucket and key; already checked at CreateJob. */
bool batch_manifest_object(const char *arn, char bucket[64], const char **key)
{
    static const char gp[] = "arn:aws:s3:::";
    if (strncmp(arn, gp, sizeof(gp) - 1) != 0)
        return false;
    const char *b = arn + sizeof(gp) - 1, *slash = strchr(b, '/');
    if (slash == NULL || (size_t)(slash - b) > 63)
        return false;
    memcpy(bucket, b, (size_t)(slash - b));
    bucket[slash - b] = '\0';
    *key = slash + 1;
    return true;
}

void batch_etag_unquoted(const char *in, char out[80])
{
    size_t n = strlen(in);
    if (n >= 2 && in[0] == '"' && in[n - 1] == '"') {
        in++;
        n -= 2;
    }
    snprintf(out, 80, "%.*s", (int)n, in);
}

static bool pin_manifest(struct batch_engine *e, const struct store_job *j,
                         const struct batch_def *d)
{
    char bucket[64], etag[80], reason[256];
    const char *key;
    if (!batch_manifest_object(d->mf_arn, bucket, &key)) {
        batch_fail_job(e, j->id, "ManifestNotFound", "The manifest ObjectArn is not valid.");
        return false;
    }
    batch_etag_unquoted(d->mf_etag, etag);
    enum qr_err err =
        store_job_pin(e->o.store, j->id, qr_slice_cstr(bucket), qr_slice_cstr(key), etag);
    if (err == QR_OK)
        return true;
    if (err == QR_E_PRECONDITION) {
        snprintf(reason, sizeof(reason),
                 "The ETag of the manifest object does not match the ETag %.80s given in the "
                 "job's Manifest Location.",
                 d->mf_etag);
        batch_fail_job(e, j->id, "ManifestETagMismatch", reason);
    } else if (err == QR_E_NO_SUCH_KEY || err == QR_E_NO_SUCH_BUCKET) {
        snprintf(reason, sizeof(reason), "Reading the manifest failed: %.200s does not exist.",
                 d->mf_arn);
        batch_fail_job(e, j->id, "ManifestNotFound", reason);
    } else if (err != QR_E_NO_SUCH_UPLOAD) {
        batch_fail_job(e, j->id, "InternalError", "The manifest could not be read.");
    }
    return false;
}

/* Reads the whole pinned manifest once: every line must parse. *out_total: tasks. */
static bool count_tasks(struct batch_engine *e, const struct store_job *j,
                        const struct batch_def *d, uint64_t *out_total)
{
    struct batch_mreader mr;
    struct batch_task *t = qr_xmalloc(sizeof(*t));
    char msg[128], reason[256];
    uint64_t n = 0;
    bool ok = false, eof = false;
    enum qr_err err = batch_mreader_open(e->o.store, e->reader, j->id, 0, &mr);
    while (err == QR_OK && !eof) {
        struct qr_slice line;
        err = batch_mreader_next(&mr, &line, &eof);
        if (err == QR_E_TOO_LARGE) {
            snprintf(reason, sizeof(reason), "Manifest line %llu is longer than %u bytes.",
                     (unsigned long long)mr.line_no + 1, BATCH_LINE_MAX);
            batch_fail_job(e, j->id, "ManifestFormatError", reason);
            goto out;
        }
        if (err != QR_OK || eof)
            break;
        if (batch_csv_line(line, d->fields, d->n_fields, t, msg) != QR_OK) {
            snprintf(reason, sizeof(reason), "Manifest line %llu is malformed: %s.",
                     (unsigned long long)mr.line_no, msg);
            batch_fail_job(e, j->id, "ManifestFormatError", reason);
            goto out;
        }
        n++;
    }
    if (err != QR_OK)
        batch_fail_job(e, j->id, "InternalError", "The manifest could not be read.");
    ok = err == QR_OK;
    *out_total = n;
out:
    if (err != QR_E_NO_SUCH_KEY)
        batch_mreader_close(&mr);
    free(t);
    return ok;
}

static void prepare(struct batch_engine *e, const struct store_job *j, const struct batch_def *d)
{
    uint64_t total = 0;
    char code[64], reason[257];
    if (j->state == BATCH_NEW &&
        batch_set_state(e, j->id, BATCH_BIT(BATCH_NEW), BATCH_PREPARING) != QR_OK)
        return;
    /* The job reads its manifest and will write its report as its role: a role that may
     * not fails the job now, before any task runs. */
    if (!batch_role_job_access(e, j, d, true, code, reason)) {
        batch_fail_job(e, j->id, code, reason);
        return;
    }
    bool pinned = d->mf_format == BATCH_MF_CSV ? pin_manifest(e, j, d)
                                               : batch_expand_manifest(e, j, d);
    if (!pinned || !count_tasks(e, j, d, &total))
        return;
    if (batch_dry_run_wanted(j)) {
        batch_dry_run(e, j, d, total); /* opt-in, beyond AWS: dryrun.c */
        return;
    }
    struct store_job_update u = {
        .id = j->id,
        .set = STORE_JOB_SET_STATE | STORE_JOB_SET_TOTAL,
        .from_states = BATCH_BIT(BATCH_PREPARING),
        .state = d->confirmation_required ? BATCH_SUSPENDED : BATCH_READY,
        .total = total,
    };
    if (d->confirmation_required) {
        u.set |= STORE_JOB_SET_SUSPENDED;
        u.suspended_ms = qr_now_ms();
    }
    /* A cancel that arrived meanwhile wins (QR_E_CONFLICT): the next pass handles it. */
    enum qr_err ignored = store_job_update(e->o.store, &u, NULL);
    (void)ignored;
}

/* Report, then the terminal state. */
static void finish(struct batch_engine *e, const struct store_job *j, const struct batch_def *d,
                   enum batch_state final)
{
    if (j->cursor > 0 || final == BATCH_COMPLETE) {
        char code[64], reason[257];
        if (!batch_role_job_access(e, j, d, false, code, reason)) {
            batch_fail_job(e, j->id, code, reason); /* the role lost the report bucket */
            return;
        }
        enum qr_err err = batch_write_report(e, j, d);
        if (err != QR_OK) {
            batch_fail_job(e, j->id, "ReportWriteFailed",
                           "The completion report could not be written to the report bucket.");
            return;
        }
    }
    (void)batch_set_state(e, j->id, ~BATCH_TERMINAL, final);
}

/* More than half of the tasks (AWS's threshold) failed once enough were attempted. */
static bool over_threshold(const struct batch_engine *e, const struct store_job *j)
{
    struct batch_opts o;
    batch_job_opts(e, j, &o);
    uint64_t done = j->succeeded + j->failed;
    /* quarry:failure-threshold-percent moves AWS's 50%; 100 never fails the job. */
    return o.threshold_pct < 100 && done >= BATCH_THRESHOLD_MIN &&
           j->failed * 100 > done * o.threshold_pct;
}

/* Reads the next window of tasks from the cursor. */
static enum qr_err read_window(struct batch_engine *e, const struct store_job *j,
                               const struct batch_def *d, struct batch_window *w, size_t max)
{
    struct batch_mreader mr;
    char msg[128];
    bool eof = false;
    enum qr_err err = batch_mreader_open(e->o.store, e->reader, j->id, j->manifest_off, &mr);
    if (err != QR_OK)
        return err;
    while (w->n < max && err == QR_OK) {
        struct qr_slice line;
        err = batch_mreader_next(&mr, &line, &eof);
        if (err != QR_OK || eof)
            break;
        err = batch_csv_line(line, d->fields, d->n_fields, &w->tasks[w->n], msg);
        if (err == QR_OK)
            w->ends[w->n++] = mr.next_off;
    }
    w->end_off = mr.next_off;
    batch_mreader_close(&mr);
    return err;
}

static void run_job(struct batch_engine *e, const struct store_job *j, const struct batch_def *d)
{
    if (j->state == BATCH_READY &&
        batch_set_state(e, j->id, BATCH_BIT(BATCH_READY), BATCH_ACTIVE) != QR_OK)
        return;
    if (j->cursor >= j->total) {
        finish(e, j, d, BATCH_COMPLETE);
        return;
    }
    if (d->op != BATCH_OP_CHECKSUM) {
        enum qr_err err = batch_run_windows(e, j, d, BATCH_STORE_RUN);
        if (err != QR_OK && err != QR_E_CONFLICT && err != QR_E_BUSY)
            batch_fail_job(e, j->id, "InternalError", "The job's tasks could not be recorded.");
        return;
    }
    size_t max = BATCH_WINDOW_STORE;
    struct batch_window w = {.e = e, .job = j, .def = d, .t0_ms = batch_mono_ms()};
    w.tasks = qr_xmalloc(sizeof(*w.tasks) * max);
    w.ends = qr_xmalloc(sizeof(*w.ends) * max);
    enum qr_err err = read_window(e, j, d, &w, max);
    if (err == QR_OK && w.n == 0)
        err = QR_E_INTERNAL; /* the count said more lines follow */
    struct batch_role *role = qr_xmalloc(sizeof(*role));
    batch_role_open(role, e, j->id, d->role_arn);
    w.role = role;
    if (err == QR_OK)
        err = batch_run_window(&w);
    batch_role_close(role);
    free(role);
    free(w.tasks);
    free(w.ends);
    if (err == QR_E_BUSY)
        return; /* stopping: the window runs again at the next start */
    if (err != QR_OK && err != QR_E_CONFLICT) {
        batch_fail_job(e, j->id, "InternalError", "The job's manifest could not be read again.");
        return;
    }
}

/* The failure threshold, checked on the counters the window just committed. */
static void after_window(struct batch_engine *e, h2o_mem_pool_t *pool, const char *id,
                         const struct batch_def *d)
{
    struct store_job j;
    if (store_job_get(e->reader, qr_slice_cstr(id), pool, &j) != QR_OK)
        return;
    if (j.state == BATCH_ACTIVE && over_threshold(e, &j)) {
        char reason[256];
        snprintf(reason, sizeof(reason),
                 "Job failed: %llu of %llu tasks attempted failed, over the failure threshold "
                 "(checked from %u tasks on).",
                 (unsigned long long)j.failed, (unsigned long long)(j.failed + j.succeeded),
                 BATCH_THRESHOLD_MIN);
        if (batch_set_state(e, id, BATCH_BIT(BATCH_ACTIVE), BATCH_FAILING) == QR_OK) {
            (void)batch_write_report(e, &j, d); /* a failed job's report is best effort */
            batch_fail_job(e, id, "TaskFailureThresholdExceeded", reason);
        }
    }
}

/* One pass over the runnable jobs; true when it did something (look again at once). */
static bool step(struct batch_engine *e)
{
    h2o_mem_pool_t pool;
    struct store_job *jobs;
    size_t n = 0;
    bool busy = false;
    h2o_mem_init_pool(&pool);
    uint64_t mask = BATCH_BIT(BATCH_NEW) | BATCH_BIT(BATCH_PREPARING) | BATCH_BIT(BATCH_READY) |
                    BATCH_BIT(BATCH_ACTIVE) | BATCH_BIT(BATCH_CANCELLING) |
                    BATCH_BIT(BATCH_FAILING);
    if (store_job_runnable(e->reader, mask, 64, &pool, &jobs, &n) != QR_OK)
        goto out;
    struct batch_def *d = h2o_mem_alloc_pool(&pool, sizeof(*d));
    const struct store_job *run = NULL;
    for (size_t i = 0; i < n && !busy; i++) {
        const struct store_job *j = &jobs[i];
        if (j->state == BATCH_READY || j->state == BATCH_ACTIVE) {
            run = run ? run : j;
            continue;
        }
        busy = true;
        if (batch_def_from_json(j->def, d) != QR_OK) {
            batch_fail_job(e, j->id, "InternalError", "The job's definition is corrupt.");
            continue;
        }
        if (j->state == BATCH_NEW || j->state == BATCH_PREPARING)
            prepare(e, j, d);
        else
            finish(e, j, d, j->state == BATCH_CANCELLING ? BATCH_CANCELLED : BATCH_FAILED);
    }
    if (!busy && run) {
        busy = true;
        if (batch_def_from_json(run->def, d) != QR_OK) {
            batch_fail_job(e, run->id, "InternalError", "The job's definition is corrupt.");
            goto out;
        }
        run_job(e, run, d);
        after_window(e, &pool, run->id, d);
    }
out:
    h2o_mem_clear_pool(&pool);
    return busy;
}

static void *engine_main(void *arg)
{
    struct batch_engine *e = arg;
    (void)pthread_setname_np(pthread_self(), "quarry-batch"); /* top -H, perf */
    /* Batch work yields the CPU to requests: this thread reads manifests and builds
     * windows at a lower priority than the event loops and workers (Linux: a thread's
     * own nice value). Failure leaves the default. */
    (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), BATCH_NICE);
    for (;;) {
        bool busy = step(e);
        pthread_mutex_lock(&e->mu);
        if (!busy && !e->kicked && !e->stop) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += IDLE_WAIT_MS * 1000000L;
            ts.tv_sec += ts.tv_nsec / 1000000000L;
            ts.tv_nsec %= 1000000000L;
            pthread_cond_timedwait(&e->cv, &e->mu, &ts);
        }
        e->kicked = false;
        bool stop = e->stop;
        pthread_mutex_unlock(&e->mu);
        if (stop)
            break;
    }
    return NULL;
}

bool batch_engine_stopping(struct batch_engine *e)
{
    return stopping(e);
}

enum qr_err batch_engine_new(const struct batch_engine_opts *o, struct batch_engine **out)
{
    struct batch_engine *e = qr_xmalloc(sizeof(*e));
    memset(e, 0, sizeof(*e));
    e->o = *o;
    if (e->o.defaults.tasks_per_invocation == 0) /* never valid: not given */
        e->o.defaults = (struct batch_defaults)BATCH_DEFAULTS_BUILTIN;
    snprintf(e->data_dir, sizeof(e->data_dir), "%s", o->data_dir);
    snprintf(e->region, sizeof(e->region), "%s", o->region);
    snprintf(e->account_id, sizeof(e->account_id), "%s", o->account_id);
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    enum qr_err err = store_job_init(o->store);
    if (err == QR_OK)
        err = store_reader_new(o->store, &e->reader);
    if (err == QR_OK && pthread_create(&e->tid, NULL, engine_main, e) != 0)
        err = QR_E_INTERNAL;
    if (err != QR_OK) {
        batch_engine_free(e);
        return err;
    }
    e->started = true;
    *out = e;
    return QR_OK;
}

void batch_engine_free(struct batch_engine *e)
{
    if (e == NULL)
        return;
    if (e->started) {
        pthread_mutex_lock(&e->mu);
        e->stop = true;
        pthread_cond_signal(&e->cv);
        pthread_mutex_unlock(&e->mu);
        pthread_join(e->tid, NULL);
    }
    store_reader_free(e->reader);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cv);
    free(e);
}
