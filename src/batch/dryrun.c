/*
 * dryrun.c - the opt-in dry run (job tag quarry:dry-run=true; beyond AWS, docs/batch.md):
 * after Preparing has read and validated the whole manifest, the first K tasks
 * (quarry:dry-run-keys, 1..1000, default 10) are checked without running anything: the
 * object exists (HEAD through the store), the role exists, the function resolves. Each
 * checked task gets a result row saying what would happen, the summary goes to
 * StatusUpdateReason, the completion report (when enabled) is written as usual, and the
 * job ends Complete. No object, tag or function is touched.
 */
#include "batch/batch_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fn/fn_resolve.h"
#include "util/buf.h"
#include "store/store_iam.h"

#define DRY_KEYS_DEFAULT 10u
#define DRY_KEYS_MAX     1000u

bool batch_job_tag(const struct store_job *j, const char *key, char *out, size_t cap)
{
    json_t *o = json_loadb((const char *)j->tags.p, j->tags.len, 0, NULL);
    json_t *a = json_object_get(o, "tags"), *p;
    size_t i;
    bool found = false;
    json_array_foreach(a, i, p)
    {
        const char *k = json_string_value(json_array_get(p, 0));
        const char *v = json_string_value(json_array_get(p, 1));
        if (k && v && strcmp(k, key) == 0) {
            snprintf(out, cap, "%s", v);
            found = true;
            break;
        }
    }
    json_decref(o);
    return found;
}

bool batch_dry_run_wanted(const struct store_job *j)
{
    char v[8];
    return batch_job_tag(j, BATCH_TAG_DRY_RUN, v, sizeof(v)) && strcmp(v, "true") == 0;
}

struct role_find {
    const char *name;
    bool found;
};

static bool role_cb(void *arg, const struct store_iam_row *row)
{
    struct role_find *f = arg;
    if (strcmp(row->kind, "role") == 0 && row->parent[0] == '\0' &&
        strcmp(row->name, f->name) == 0) {
        f->found = true;
        return false;
    }
    return true;
}

/* "found", "not found" or "unreadable" for the job's role. */
static const char *role_state(struct batch_engine *e, const struct batch_def *d)
{
    const char *slash = strrchr(d->role_arn, '/');
    struct role_find f = {.name = slash ? slash + 1 : d->role_arn};
    if (store_iam_scan(e->reader, role_cb, &f) != QR_OK)
        return "unreadable";
    return f.found ? "exists" : "does not exist";
}

static const char *function_state(struct batch_engine *e, const struct batch_def *d)
{
    if (d->op != BATCH_OP_LAMBDA)
        return "not used";
    struct fn_resolve_env env = {e->data_dir, e->region, e->account_id};
    struct fn_config cfg;
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    enum qr_err err = fn_resolve(e->reader, &env, qr_slice_cstr(d->function_arn), &pool, &cfg);
    h2o_mem_clear_pool(&pool);
    return err == QR_OK ? "resolves" : "does not resolve";
}

/* Checks one task: its row (effect NONE) says what would happen. */
static void check_task(struct batch_engine *e, const struct batch_def *d,
                       const struct batch_task *t, struct store_job_row *row, size_t *missing)
{
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    struct store_obj o;
    enum qr_err err =
        store_obj_get(e->reader, qr_slice_cstr(t->bucket), qr_slice(t->key, t->key_len), false,
                      &pool, &o);
    h2o_mem_clear_pool(&pool);
    row->effect = STORE_JOB_EFFECT_NONE;
    if (err == QR_OK) {
        row->http = 200;
        snprintf(row->message, sizeof(row->message),
                 "Dry run: the object exists; %s would run on it. Nothing was changed.",
                 batch_op_name(d->op));
        return;
    }
    (*missing)++;
    row->failed = true;
    row->http = 404;
    snprintf(row->code, sizeof(row->code), "%s",
             err == QR_E_NO_SUCH_BUCKET ? "NoSuchBucket" : "NoSuchKey");
    snprintf(row->message, sizeof(row->message),
             "Dry run: the object does not exist; the task would fail. Nothing was changed.");
}

/* Reads the first k tasks and records a row for each. *out_n: rows written. */
static enum qr_err check_first(struct batch_engine *e, const struct store_job *j,
                               const struct batch_def *d, size_t k, size_t *out_n,
                               size_t *missing)
{
    struct batch_mreader mr;
    struct batch_task *tasks = qr_xmalloc(k * sizeof(*tasks));
    struct store_job_row *rows = qr_xmalloc(k * sizeof(*rows));
    char msg[128];
    size_t n = 0;
    bool eof = false;
    enum qr_err err = batch_mreader_open(e->o.store, e->reader, j->id, 0, &mr);
    if (err != QR_OK)
        goto out_free;
    while (n < k && err == QR_OK) {
        struct qr_slice line;
        if ((err = batch_mreader_next(&mr, &line, &eof)) != QR_OK || eof)
            break;
        if ((err = batch_csv_line(line, d->fields, d->n_fields, &tasks[n], msg)) != QR_OK)
            break; /* validated at preparation: only a corrupt pin gets here */
        memset(&rows[n], 0, sizeof(rows[n]));
        rows[n].line = n;
        rows[n].bucket = qr_slice_cstr(tasks[n].bucket);
        rows[n].key = qr_slice(tasks[n].key_raw, tasks[n].key_raw_len);
        rows[n].version = qr_slice_cstr(tasks[n].version);
        check_task(e, d, &tasks[n], &rows[n], missing);
        n++;
    }
    if (err == QR_OK && n > 0) {
        struct store_job_progress p = {.id = j->id, .rows = rows, .n = n, .cursor_from = 0,
                                       .cursor_to = n, .manifest_off = mr.next_off};
        err = store_job_progress(e->o.store, &p);
    }
    batch_mreader_close(&mr);
out_free:
    free(rows);
    free(tasks);
    *out_n = n;
    return err;
}

void batch_dry_run(struct batch_engine *e, const struct store_job *j, const struct batch_def *d,
                   uint64_t total)
{
    char v[16], reason[257];
    uint64_t k = DRY_KEYS_DEFAULT;
    if (batch_job_tag(j, BATCH_TAG_DRY_RUN_KEYS, v, sizeof(v)) &&
        (!qr_slice_u64(qr_slice_cstr(v), DRY_KEYS_MAX, &k) || k == 0))
        k = DRY_KEYS_DEFAULT;
    size_t n = (size_t)j->cursor, missing = 0;
    /* Rows recorded before a restart are kept (the cursor is past them). */
    enum qr_err err = n > 0 ? QR_OK : check_first(e, j, d, (size_t)k, &n, &missing);
    if (err != QR_OK) {
        batch_fail_job(e, j->id, "InternalError", "The dry run could not read the manifest.");
        return;
    }
    const char *role = strrchr(d->role_arn, '/') ? strrchr(d->role_arn, '/') + 1 : d->role_arn;
    snprintf(reason, sizeof(reason),
             "Dry run: %llu tasks of %s; first %zu checked: %zu exist, %zu missing; role %.40s "
             "%s; function %s. Nothing was changed.",
             (unsigned long long)total, batch_op_name(d->op), n, n - missing, missing, role,
             role_state(e, d), function_state(e, d));
    /* The job's total is the checked tasks: it goes Ready -> Active -> Complete without
     * running any, and the engine writes the report of the checked rows as for any job. */
    struct store_job_update u = {.id = j->id,
                                 .set = STORE_JOB_SET_STATE | STORE_JOB_SET_TOTAL |
                                        STORE_JOB_SET_REASON,
                                 .from_states = BATCH_BIT(BATCH_PREPARING),
                                 .state = BATCH_READY,
                                 .total = n,
                                 .reason = qr_slice_cstr(reason)};
    enum qr_err ignored = store_job_update(e->o.store, &u, NULL); /* a cancel wins */
    (void)ignored;
}
