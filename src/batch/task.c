/*
 * task.c - one window of tasks of one operation, recorded with the job's progress.
 *
 * S3PutObjectCopy, the tagging operations, S3PutObjectLegalHold and S3PutObjectRetention
 * run inside the store's writer transaction
 * that records their result rows (store_job_progress): a window of up to
 * BATCH_WINDOW_STORE tasks is one bulk change, which the writer commits in one or more
 * slices (it serves user requests between them), and a task's effect never exists
 * without its row or the other way round. Copies share blobs, so a copy costs
 * the same whatever the object's size.
 *
 * LambdaInvoke keeps 16 invocations (quarry:concurrency) of the window in flight through
 * fn_invoke (a sliding window: the next goes out when one ends; a cancel is looked for
 * every BATCH_LAMBDA_CHECK_MS), waits for the last callback, retries
 * TemporaryFailure with backoff up to 3 times (quarry:max-retries) and waits out throttling without
 * limit (a throttled task never fails), then records the window.
 *
 * Every task runs through batch_authorize_task (role.c) as the job's role: a denied task
 * is a failed row, AccessDenied with HTTP 403 and AWS's message, and has no effect.
 */
#include "batch/batch_int.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "auth/authz.h"
#include "fn/fn_resolve.h"
#include "obj/obj.h"
#include "util/buf.h"
#include "util/checksum.h"
#include "util/codec.h"
#include "util/names.h"

static void row_outcome(struct store_job_row *row, bool failed, int http, const char *code,
                        const char *msg, size_t msg_len)
{
    row->failed = failed;
    row->http = http;
    snprintf(row->code, sizeof(row->code), "%s", code);
    if (msg_len > BATCH_MSG_MAX)
        msg_len = BATCH_MSG_MAX;
    /* Cut at a character boundary: never leave half a UTF-8 sequence. */
    while (msg_len > 0 && msg_len < strlen(msg) && ((uint8_t)msg[msg_len] & 0xC0) == 0x80)
        msg_len--;
    memcpy(row->message, msg, msg_len);
    row->message[msg_len] = '\0';
}

/* A task the job's role may not run: failed, 403 AccessDenied with AWS's message. */
static bool denied(struct batch_window *w, size_t i, struct store_job_row *row)
{
    char msg[BATCH_MSG_MAX + 1];
    if (batch_authorize_task(w->role, w->def, &w->tasks[i], msg, sizeof(msg)))
        return false;
    row_outcome(row, true, 403, "AccessDenied", msg, strlen(msg));
    return true;
}

static void row_base(struct store_job_row *row, const struct batch_window *w, size_t i)
{
    const struct batch_task *t = &w->tasks[i];
    memset(row, 0, sizeof(*row));
    row->line = w->job->cursor + i;
    row->bucket = qr_slice_cstr(t->bucket);
    row->key = qr_slice(t->key_raw, t->key_raw_len);
    row->version = qr_slice_cstr(t->version);
}

/* Records the first n tasks of the window (all of them unless it was cut short). */
static enum qr_err record(struct batch_window *w, struct store_job_row *rows, size_t n)
{
    if (n == 0)
        return QR_OK;
    struct store_job_progress p = {
        .id = w->job->id,
        .rows = rows,
        .n = n,
        .cursor_from = w->job->cursor,
        .cursor_to = w->job->cursor + n,
        .manifest_off = w->ends[n - 1],
        .active_ms = batch_mono_ms() - w->t0_ms,
    };
    return store_job_progress(w->e->o.store, &p);
}

/* ---- S3 operations in the writer's transaction ---- */

/* Result of a copy or tagging change, as the report shows it. Writer thread. */
static void store_outcome(void *arg, struct store_job_row *row, enum qr_err err)
{
    static const struct {
        enum qr_err err;
        int http;
        const char *code, *msg;
    } map[] = {
        {QR_E_NO_SUCH_KEY, 404, "NoSuchKey", "The specified key does not exist."},
        {QR_E_NO_SUCH_BUCKET, 404, "NoSuchBucket", "The specified bucket does not exist."},
        {QR_E_PRECONDITION, 412, "PreconditionFailed",
         "At least one of the preconditions you "
         "specified did not hold."},
        {QR_E_TOO_LARGE, 400, "InvalidRequest", "The object's metadata is too large."},
        {QR_E_DENIED, 403, "AccessDenied",
         "Access Denied because object protected by object lock."},
    };
    if (err == QR_OK) {
        row_outcome(row, false, 200, "", "Successful", 10);
        return;
    }
    for (size_t i = 0; i < sizeof(map) / sizeof(*map); i++)
        if (map[i].err == err) {
            row_outcome(row, true, map[i].http, map[i].code, map[i].msg, strlen(map[i].msg));
            return;
        }
    row_outcome(row, true, 500, "InternalError", "We encountered an internal error.", 33);
}

/* Whether bucket has Object Lock, as PutObjectLegalHold, PutObjectRetention and a copy
 * with Object Lock parameters first ask (it cannot be turned off, so the answer read here
 * holds at commit); *memo remembers the last bucket's answer. False with the row failed
 * when it has not, or the bucket cannot be read. */
struct lock_memo {
    char bucket[64];
    bool on;
};

static bool lock_bucket(struct batch_window *w, const char *bucket, struct lock_memo *memo,
                        struct store_job_row *row)
{
    if (strcmp(memo->bucket, bucket) != 0) {
        struct store_bucket b;
        enum qr_err err = store_bucket_get(w->e->reader, qr_slice_cstr(bucket), &b);
        if (err != QR_OK) {
            store_outcome(NULL, row, err);
            return false;
        }
        snprintf(memo->bucket, sizeof(memo->bucket), "%s", bucket);
        memo->on = b.lock_enabled;
    }
    if (!memo->on) {
        static const char m[] = "Bucket is missing Object Lock Configuration";
        row_outcome(row, true, 400, "InvalidRequest", m, sizeof(m) - 1);
    }
    return memo->on;
}

/* A retain-until date must still be ahead when the task runs (InvalidArgument). */
static bool lock_date_ahead(enum store_lock_mode mode, int64_t until_ms, struct store_job_row *row)
{
    static const char m[] = "The retain until date must be in the future!";
    if (mode == STORE_LOCK_NONE || until_ms > qr_now_ms())
        return true;
    row_outcome(row, true, 400, "InvalidArgument", m, sizeof(m) - 1);
    return false;
}

/* Fills a copy row; false when the task fails before reaching the store. tags: the
 * NewObjectTagging set, encoded. */
static bool copy_row(struct batch_window *w, size_t i, const char *dst_bucket, bool dst_dir,
                     const struct qr_buf *tags, const struct qr_buf *meta, struct lock_memo *lm,
                     char *key_buf, char *etag_buf, struct store_job_row *row)
{
    const struct batch_def *d = w->def;
    const struct batch_task *t = &w->tasks[i];
    size_t pl = strlen(d->target_prefix);
    if (t->version[0] && strcmp(t->version, "null") != 0) {
        row_outcome(row, true, 400, "InvalidArgument", "Invalid version id specified", 28);
        return false;
    }
    if (pl + t->key_len > BATCH_KEY_MAX) {
        row_outcome(row, true, 400, "KeyTooLongError", "Your key is too long", 20);
        return false;
    }
    if (denied(w, i, row))
        return false;
    /* any ObjectLock* parameter given: the target needs Object Lock */
    bool lock_given = d->copy_lock_hold_given || d->copy_lock_mode != STORE_LOCK_NONE;
    if (lock_given && (!lock_bucket(w, dst_bucket, lm, row) ||
                       !lock_date_ahead(d->copy_lock_mode, d->copy_lock_until_ms, row)))
        return false;
    memcpy(key_buf, d->target_prefix, pl);
    memcpy(key_buf + pl, t->key, t->key_len);
    key_buf[pl + t->key_len] = '\0';
    /* CopyObject's rules (obj/): ETag, tags and the copy-onto-itself refusal. The source is
     * read inside the committing transaction, so the plan has no source object. */
    struct obj_copy_req req = {
        .src_bucket = qr_slice_cstr(t->bucket),
        .src_key = qr_slice(t->key, t->key_len),
        .dst_bucket = qr_slice_cstr(dst_bucket),
        .dst_key = qr_slice(key_buf, pl + t->key_len),
        .dst_directory = dst_dir,
        .replace_headers = d->copy_replace_meta,
        .headers = d->copy_replace_meta ? qr_slice(meta->p, meta->len) : qr_slice(NULL, 0),
        .replace_tags = d->copy_new_tags,
        .tags = d->copy_new_tags ? qr_slice(tags->p, tags->len) : qr_slice(NULL, 0),
    };
    if (obj_copy_plan(&req, NULL, etag_buf, &row->copy) != QR_OK) {
        static const char m[] = "This copy request is illegal because it is trying to copy an "
                                "object to itself without changing the object's metadata.";
        row_outcome(row, true, 400, "InvalidRequest", m, sizeof(m) - 1);
        return false;
    }
    row->copy.src_modified_since_ms = d->copy_modified_since_ms;
    row->copy.src_unmodified_since_ms = d->copy_unmodified_since_ms;
    row->copy.lock = (struct store_lock){.mode = d->copy_lock_mode,
                                         .until_ms = d->copy_lock_until_ms,
                                         .legal_hold = d->copy_lock_hold};
    row->effect = STORE_JOB_EFFECT_COPY;
    return true;
}

/* NewObjectMetadata in the store's header form (obj_header_add), as CopyObject with
 * MetadataDirective REPLACE stores the request's standard headers and x-amz-meta-*. */
static enum qr_err encode_meta(const struct batch_def *d, struct qr_buf *b)
{
    enum qr_err e = QR_OK;
    for (size_t i = 0; i < batch_n_meta_members && e == QR_OK; i++) {
        const char *v = (const char *)d + batch_meta_members[i].off;
        if (*v)
            e = obj_header_add(b, qr_slice_cstr(batch_meta_members[i].header), qr_slice_cstr(v));
    }
    if (e == QR_OK && d->meta_expires_ms) {
        char t[QR_TIME_HTTP_LEN];
        qr_time_http(d->meta_expires_ms, t);
        e = obj_header_add(b, QR_SLICE_LIT("expires"), qr_slice_cstr(t));
    }
    for (size_t i = 0; i < d->n_meta_user && e == QR_OK; i++) {
        char name[11 + BATCH_TAG_KEY_MAX + 1];
        size_t n = strlen(d->meta_user[i].key);
        memcpy(name, "x-amz-meta-", 11);
        for (size_t j = 0; j < n; j++) /* header names are stored lower case */
            name[11 + j] = (char)qr_ascii_lower((uint8_t)d->meta_user[i].key[j]);
        e = obj_header_add(b, qr_slice(name, 11 + n), qr_slice_cstr(d->meta_user[i].value));
    }
    return e;
}

/* The tag set in the store's form (obj_tags_encode, as PutObjectTagging writes it). */
static enum qr_err encode_tags(const struct batch_def *d, struct qr_buf *b)
{
    struct obj_tag t[BATCH_MAX_OBJ_TAGS];
    for (size_t i = 0; i < d->n_obj_tags && i < BATCH_MAX_OBJ_TAGS; i++)
        t[i] = (struct obj_tag){qr_slice_cstr(d->obj_tags[i].key),
                                qr_slice_cstr(d->obj_tags[i].value)};
    return obj_tags_encode(t, d->n_obj_tags, b);
}

/* Fills a legal hold or retention row; false when the task fails before reaching the
 * store (PutObjectLegalHold's and PutObjectRetention's checks that need no row). */
static bool lock_row(struct batch_window *w, size_t i, struct lock_memo *lm,
                     struct store_job_row *row)
{
    const struct batch_def *d = w->def;
    const struct batch_task *t = &w->tasks[i];
    bool hold = d->op == BATCH_OP_LEGAL_HOLD;
    if (denied(w, i, row) || !lock_bucket(w, t->bucket, lm, row) ||
        (!hold && !lock_date_ahead(d->ret_mode, d->ret_until_ms, row)))
        return false;
    row->effect = hold ? STORE_JOB_EFFECT_HOLD : STORE_JOB_EFFECT_RETENTION;
    row->obj_bucket = qr_slice_cstr(t->bucket);
    row->obj_key = qr_slice(t->key, t->key_len);
    row->obj_version = qr_slice_cstr(t->version);
    row->flag = hold ? d->hold_on : d->ret_bypass;
    row->lock_mode = d->ret_mode;
    row->lock_until_ms = d->ret_mode == STORE_LOCK_NONE ? 0 : d->ret_until_ms;
    return true;
}

/* Fills the rows of a copy, tagging, legal hold or retention window; tags holds the
 * encoded tag set. The rows point into dst, keys, etags and tags: they must outlive the
 * window's commit. */
static void build_store_rows(struct batch_window *w, struct store_job_row *rows, char dst[64],
                             char *keys, char *etags, const struct qr_buf *tags,
                             const struct qr_buf *meta)
{
    const struct batch_def *d = w->def;
    bool dst_dir = false;
    struct lock_memo lm = {.bucket = ""};
    dst[0] = '\0';
    if (d->op == BATCH_OP_COPY && batch_bucket_of_arn(d->target_resource, dst))
        (void)qr_bucket_name_valid(qr_slice_cstr(dst), &dst_dir);
    for (size_t i = 0; i < w->n; i++) {
        struct store_job_row *row = &rows[i];
        row_base(row, w, i);
        if (d->op == BATCH_OP_COPY) {
            if (dst[0] == '\0') /* checked at CreateJob; a corrupt definition fails tasks */
                row_outcome(row, true, 404, "NoSuchBucket", "The target bucket is not valid.", 31);
            else
                (void)copy_row(w, i, dst, dst_dir, tags, meta, &lm, keys + i * (BATCH_KEY_MAX + 1),
                               etags + i * 80, row);
            continue;
        }
        if (d->op == BATCH_OP_LEGAL_HOLD || d->op == BATCH_OP_RETENTION) {
            (void)lock_row(w, i, &lm, row);
            continue;
        }
        if (denied(w, i, row))
            continue;
        row->effect = STORE_JOB_EFFECT_TAGS;
        row->obj_bucket = qr_slice_cstr(w->tasks[i].bucket);
        row->obj_key = qr_slice(w->tasks[i].key, w->tasks[i].key_len);
        row->tags =
            d->op == BATCH_OP_PUT_TAGGING ? qr_slice(tags->p, tags->len) : qr_slice(NULL, 0);
    }
}

/* ---- S3ComputeObjectChecksum ---- */

#define CK_READ_CHUNK (256u * 1024u)

/*
 * The checksum S3 would report for the object: FULL_OBJECT digests every byte; COMPOSITE
 * digests each part the object was uploaded in, then the concatenated part digests,
 * rendered "<b64>-N" as S3 renders a multipart upload's composite checksum. An object not
 * uploaded in parts has no part boundaries: its composite checksum is its full-object one
 * (S3 reports a single PUT's checksum as FULL_OBJECT). *composite tells which was made.
 */
static enum qr_err object_checksum(struct store *store, const struct store_obj *o, enum qr_ck alg,
                                   bool want_composite, uint8_t *buf, char *b64, bool *composite)
{
    struct qr_ck_state st;
    uint8_t d[QR_CK_MAX_DIGEST];
    enum qr_err err = QR_OK;
    *composite = want_composite && o->parts > 0;
    if (*composite && !store_obj_has_part_sizes(o))
        return QR_E_NOT_IMPLEMENTED; /* completed before part sizes were recorded */
    qr_ck_init(&st, alg);
    if (!*composite) {
        err = obj_digest_range(store, o, 0, o->size, &st, 1, buf, CK_READ_CHUNK);
    } else {
        uint64_t off = 0;
        for (uint32_t i = 0; i < o->parts && err == QR_OK; i++) {
            struct qr_ck_state part;
            uint64_t len = store_obj_part_size(o, i);
            qr_ck_init(&part, alg);
            err = obj_digest_range(store, o, off, len, &part, 1, buf, CK_READ_CHUNK);
            qr_ck_final(&part, d);
            qr_ck_update(&st, d, qr_ck_len(alg));
            off += len;
        }
        if (err == QR_OK && off != o->size)
            err = QR_E_INTERNAL; /* the part sizes disagree with the object */
    }
    qr_ck_final(&st, d);
    if (err != QR_OK)
        return err;
    size_t n = qr_b64_encode(d, qr_ck_len(alg), b64);
    if (*composite)
        snprintf(b64 + n, 16, "-%u", (unsigned)o->parts);
    return QR_OK;
}

/* One task: the object's checksum as the report's ResultMessage (a JSON document with
 * the algorithm, type and base64 value as S3's x-amz-checksum-* headers render it). */
static void checksum_task(struct batch_window *w, size_t i, uint8_t *buf, struct store_job_row *row)
{
    const struct batch_task *t = &w->tasks[i];
    enum qr_ck alg = (enum qr_ck)w->def->checksum_alg;
    h2o_mem_pool_t pool;
    struct store_obj o;
    if (denied(w, i, row))
        return;
    h2o_mem_init_pool(&pool);
    enum qr_err err = store_obj_get(w->e->reader, qr_slice_cstr(t->bucket),
                                    qr_slice(t->key, t->key_len), true, &pool, &o);
    static const char sse_c[] = "The Compute checksum operation does not support objects "
                                "encrypted with customer-provided keys (SSE-C).";
    static const char no_parts[] = "The part boundaries of this object were not recorded; "
                                   "its COMPOSITE checksum cannot be computed.";
    if (err == QR_OK && o.sealed) {
        row_outcome(row, true, 400, "InvalidRequest", sse_c, sizeof(sse_c) - 1);
    } else if (err == QR_OK) {
        char b64[96], msg[192];
        bool composite;
        err = object_checksum(w->e->o.store, &o, alg, w->def->checksum_composite, buf, b64,
                              &composite);
        if (err == QR_E_NOT_IMPLEMENTED) {
            row_outcome(row, true, 501, "NotImplemented", no_parts, sizeof(no_parts) - 1);
            err = QR_OK;
        } else if (err == QR_OK) {
            int n = snprintf(msg, sizeof(msg),
                             "{\"checksumAlgorithm\":\"%s\",\"checksumType\":\"%s\","
                             "\"checksum\":\"%s\"}",
                             qr_ck_name(alg), composite ? "COMPOSITE" : "FULL_OBJECT", b64);
            row_outcome(row, false, 200, "", msg, (size_t)n);
        }
    }
    h2o_mem_clear_pool(&pool);
    if (err != QR_OK)
        store_outcome(NULL, row, err);
}

static enum qr_err run_checksum_window(struct batch_window *w)
{
    struct store_job_row *rows = qr_xmalloc(sizeof(*rows) * w->n);
    uint8_t *buf = qr_xmalloc(CK_READ_CHUNK);
    for (size_t i = 0; i < w->n; i++) {
        row_base(&rows[i], w, i);
        checksum_task(w, i, buf, &rows[i]);
    }
    enum qr_err err = record(w, rows, w->n);
    free(buf);
    free(rows);
    return err;
}

/* ---- LambdaInvoke ---- */

enum lam_state {
    LAM_PENDING,   /* to be (re)sent */
    LAM_INFLIGHT,  /* fn_invoke accepted it */
    LAM_DONE,      /* row filled */
    LAM_RETRY,     /* TemporaryFailure or engine error: again after a backoff */
    LAM_THROTTLED, /* the engine was full or the function throttled: again, no limit */
};

struct lam_window;

struct lam_slot {
    struct lam_window *lw;
    size_t i;
    enum lam_state st; /* in flight: set by the callback of a long result, else by the
                          engine thread once the callback handed the result over (mu) */
    unsigned attempts;
    char task_id[40];
    struct store_job_row *row;
};

struct lam_group;

struct lam_window {
    struct batch_window *w;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t inflight;        /* guarded by mu */
    size_t wake_at;         /* guarded by mu: the waiter wants a signal at this many in flight */
    bool waiting;           /* guarded by mu */
    struct lam_group *done; /* guarded by mu: ended invocations, not yet classified */
    struct lam_slot *slots;
    char invocation_id[40];
    char rid_base[37]; /* a random UUID per window; invocations count in its last 8 digits */
    uint32_t rid_n;
    char *ev_head; /* event_head's, once per window */
    size_t ev_head_len;
    struct qr_buf ev; /* the event being sent */
    bool stopped;      /* cut short: a cancel or the engine stopping */
    struct batch_opts opts; /* the job's quarry:* options (AWS's behaviour by default) */
};

/* A result up to this long is copied by the callback and classified on the engine
 * thread (the functions engine's thread, which serves every Runtime API round trip, is
 * the job's bottleneck); a longer one is classified in the callback, so the copies held
 * stay bounded (in flight x this). */
#define LAM_DEFER_MAX 4096u
/* An event is never longer than Invoke's payload limit (fn_invoke refuses it too). */
#define LAM_EVENT_MAX 6291556u

/* The tasks one invocation carries, and its result once it ended. Heap; freed by the
 * engine thread after classifying it (or by send_group when fn_invoke refused it). */
struct lam_group {
    struct lam_window *lw;
    struct lam_group *next; /* on lw->done */
    bool classified;        /* in the callback already (a long result) */
    struct fn_result res;   /* status, payload (a heap copy) and error_type (in etype) */
    char etype[128];
    size_t n;
    struct lam_slot *slots[BATCH_MAX_PER_INVOKE];
};

/* The event AWS sends (reference 7): one task per invocation unless the job asked for
 * more; s3Key as in the manifest (URL-encoded: AWS's sample functions unquote_plus it). */
static json_t *task_json(const struct lam_window *lw, const struct lam_slot *sl, bool v2)
{
    const struct batch_task *t = &lw->w->tasks[sl->i];
    json_t *task = json_object();
    json_object_set_new(task, "taskId", json_string(sl->task_id));
    json_object_set_new(task, "s3Key", json_stringn(t->key_raw, t->key_raw_len));
    json_object_set_new(task, "s3VersionId", t->version[0] ? json_string(t->version) : json_null());
    if (v2) {
        json_object_set_new(task, "s3Bucket", json_string(t->bucket));
    } else {
        char arn[80];
        snprintf(arn, sizeof(arn), "arn:aws:s3:::%s", t->bucket);
        json_object_set_new(task, "s3BucketArn", json_string(arn));
    }
    return task;
}

/* The event's opening, the same for every invocation of the window:
 * {"invocationSchemaVersion":..,"invocationId":..,"job":{..},"tasks":[ (heap). */
static char *event_head(const struct lam_window *lw, size_t *out_len)
{
    const struct batch_def *d = lw->w->def;
    bool v2 = strcmp(d->schema, "2.0") == 0;
    json_t *job = json_pack("{ss}", "id", lw->w->job->id);
    if (v2) {
        json_t *ua = json_object();
        for (size_t i = 0; i < d->n_user_args; i++)
            json_object_set_new(ua, d->user_args[i].key, json_string(d->user_args[i].value));
        json_object_set_new(job, "userArguments", ua);
    }
    json_t *ev = json_pack("{ss ss so}", "invocationSchemaVersion", v2 ? "2.0" : "1.0",
                           "invocationId", lw->invocation_id, "job", job);
    char *s = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    if (s == NULL)
        abort(); /* jansson fails only on allocation */
    size_t n = strlen(s); /* jansson's own output: "{...}" */
    char *out = qr_xmalloc(n + sizeof(",\"tasks\":["));
    memcpy(out, s, n - 1);
    memcpy(out + n - 1, ",\"tasks\":[", sizeof(",\"tasks\":["));
    free(s);
    *out_len = n - 1 + sizeof(",\"tasks\":[") - 1;
    return out;
}

/* Whether s is written into JSON as it is: printable ASCII without '"' and '\\'. */
static bool json_plain(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((uint8_t)s[i] < 0x20 || (uint8_t)s[i] > 0x7e || s[i] == '"' || s[i] == '\\')
            return false;
    return true;
}

/* One task object into b: written directly when every string is plain (manifest keys
 * are URL-encoded, so nearly always), else by jansson (escapes, UTF-8 checks). */
static enum qr_err task_out(struct qr_buf *b, const struct lam_window *lw,
                            const struct lam_slot *sl, bool v2)
{
    const struct batch_task *t = &lw->w->tasks[sl->i];
    size_t vl = strlen(t->version);
    if (!json_plain(t->key_raw, t->key_raw_len) || !json_plain(t->version, vl)) {
        json_t *o = task_json(lw, sl, v2);
        char *s = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        if (s == NULL)
            abort(); /* jansson fails only on allocation */
        enum qr_err err = qr_buf_adds(b, s);
        free(s);
        return err;
    }
    /* Bucket names and task ids are plain by construction (csv.c, lambda_run). */
    enum qr_err err = qr_buf_adds(b, "{\"taskId\":\"");
    if (err == QR_OK)
        err = qr_buf_adds(b, sl->task_id);
    if (err == QR_OK)
        err = qr_buf_adds(b, "\",\"s3Key\":\"");
    if (err == QR_OK)
        err = qr_buf_add(b, t->key_raw, t->key_raw_len);
    if (err == QR_OK)
        err = qr_buf_adds(b, vl ? "\",\"s3VersionId\":\"" : "\",\"s3VersionId\":null");
    if (err == QR_OK && vl)
        err = qr_buf_addf(b, "%s\"", t->version);
    if (err == QR_OK)
        err = qr_buf_addf(b, v2 ? ",\"s3Bucket\":\"%s\"}" : ",\"s3BucketArn\":\"arn:aws:s3:::%s\"}",
                          t->bucket);
    return err;
}

/* The event of one invocation into lw->ev (reset first). Errors: QR_E_TOO_LARGE. */
static enum qr_err event_json(struct lam_window *lw, const struct lam_group *g)
{
    bool v2 = strcmp(lw->w->def->schema, "2.0") == 0;
    qr_buf_reset(&lw->ev);
    enum qr_err err = qr_buf_add(&lw->ev, lw->ev_head, lw->ev_head_len);
    for (size_t i = 0; i < g->n && err == QR_OK; i++) {
        if (i > 0)
            err = qr_buf_add(&lw->ev, ",", 1);
        if (err == QR_OK)
            err = task_out(&lw->ev, lw, g->slots[i], v2);
    }
    if (err == QR_OK)
        err = qr_buf_add(&lw->ev, "]}", 2);
    return err;
}

static void fail_row(struct lam_slot *sl, const char *code, const char *msg, size_t len)
{
    row_outcome(sl->row, true, 200, code, msg, len);
    sl->st = LAM_DONE;
}

/* The function's answer for one task: {"results":[{"taskId","resultCode","resultString"}],
 * "treatMissingKeysAs"} (o already parsed; NULL when it was not JSON). Anything else fails
 * the task (never the job). */
static void parse_response(struct lam_slot *sl, json_t *o)
{
    json_t *results = json_object_get(o, "results");
    const char *code = NULL, *str = NULL;
    if (!json_is_object(o) || !json_is_array(results)) {
        static const char m[] = "Lambda returned an invalid response: not a JSON object with "
                                "a results array";
        fail_row(sl, "PermanentFailure", m, sizeof(m) - 1);
        return;
    }
    size_t i;
    json_t *r;
    json_array_foreach(results, i, r)
    {
        const char *id = json_string_value(json_object_get(r, "taskId"));
        if (id && strcmp(id, sl->task_id) == 0) {
            code = json_string_value(json_object_get(r, "resultCode"));
            str = json_string_value(json_object_get(r, "resultString"));
            break;
        }
    }
    if (code == NULL && i == json_array_size(results)) {
        code = json_string_value(json_object_get(o, "treatMissingKeysAs"));
        code = code ? code : "PermanentFailure";
        str = "The function's response has no result for this task";
    }
    if (code && strcmp(code, "Succeeded") == 0) {
        row_outcome(sl->row, false, 200, "", str ? str : "", str ? strlen(str) : 0);
        sl->st = LAM_DONE;
    } else if (code && strcmp(code, "TemporaryFailure") == 0 &&
               sl->attempts <= sl->lw->opts.max_retries) {
        sl->st = LAM_RETRY;
    } else if (code &&
               (strcmp(code, "TemporaryFailure") == 0 || strcmp(code, "PermanentFailure") == 0)) {
        row_outcome(sl->row, true, 200, code, str ? str : "", str ? strlen(str) : 0);
        sl->st = LAM_DONE;
    } else {
        static const char m[] = "Lambda returned an invalid response: unknown resultCode";
        fail_row(sl, "PermanentFailure", m, sizeof(m) - 1);
    }
}

/* The outcome of an invocation that returned no result document, for one task. */
static void invoke_failed(struct lam_slot *sl, const struct fn_result *res)
{
    char m[BATCH_MSG_MAX + 64];
    int n;
    switch (res->status) {
    case FN_OK:
        break;
    case FN_FUNCTION_ERROR:
    case FN_INIT_FAILED:
        /* AWS's report shows the function's error document after this prefix. */
        n = snprintf(m, sizeof(m), "Lambda returned function error: %.*s",
                     (int)(res->payload_len > BATCH_MSG_MAX ? BATCH_MSG_MAX : res->payload_len),
                     res->payload ? (const char *)res->payload : "");
        fail_row(sl, "PermanentFailure", m, (size_t)n < sizeof(m) ? (size_t)n : sizeof(m) - 1);
        break;
    case FN_THROTTLED:
        sl->st = LAM_THROTTLED;
        break;
    case FN_TOO_LARGE:
        n = snprintf(m, sizeof(m), "Lambda returned an error: the payload exceeds 6 MB");
        fail_row(sl, "PermanentFailure", m, (size_t)n);
        break;
    case FN_SERVICE_ERROR:
        if (sl->attempts <= sl->lw->opts.max_retries) {
            sl->st = LAM_RETRY;
        } else {
            n = snprintf(m, sizeof(m), "Lambda could not run the function (%s)",
                         res->error_type ? res->error_type : "service error");
            fail_row(sl, "TemporaryFailure", m, (size_t)n);
        }
        break;
    }
}

/* The result for each task of the invocation. */
static void classify(struct lam_group *g, const struct fn_result *res)
{
    if (res->status == FN_OK) {
        json_t *o =
            json_loadb((const char *)res->payload, res->payload_len, JSON_REJECT_DUPLICATES, NULL);
        for (size_t i = 0; i < g->n; i++)
            parse_response(g->slots[i], o);
        json_decref(o);
    } else {
        for (size_t i = 0; i < g->n; i++)
            invoke_failed(g->slots[i], res);
    }
}

/* fn engine thread: keeps the result (or classifies a long one at once) and hands the
 * invocation to the window's waiter, waking it only when it asked to be: the waiter
 * sends invocations in bursts, so neither thread is woken once per invocation. */
static void on_result(void *arg, struct fn_result *res)
{
    struct lam_group *g = arg;
    struct lam_window *lw = g->lw;
    if (res->payload_len > LAM_DEFER_MAX) {
        classify(g, res);
        g->classified = true;
    } else {
        g->res.status = res->status;
        g->res.payload_len = res->payload_len;
        g->res.payload = qr_xmalloc(res->payload_len + 1);
        if (res->payload_len)
            memcpy(g->res.payload, res->payload, res->payload_len);
        if (res->error_type) {
            snprintf(g->etype, sizeof(g->etype), "%s", res->error_type);
            g->res.error_type = g->etype;
        }
    }
    pthread_mutex_lock(&lw->mu);
    g->next = lw->done;
    lw->done = g;
    lw->inflight--;
    if (lw->waiting && lw->inflight <= lw->wake_at)
        pthread_cond_signal(&lw->cv);
    pthread_mutex_unlock(&lw->mu);
}

/* Waits until at most n invocations are in flight (mu held). */
static void wait_inflight(struct lam_window *lw, size_t n)
{
    while (lw->inflight > n) {
        lw->wake_at = n;
        lw->waiting = true;
        pthread_cond_wait(&lw->cv, &lw->mu);
    }
    lw->waiting = false;
}

/* Classifies the invocations that ended since the last call. Engine thread. */
static void drain_done(struct lam_window *lw)
{
    pthread_mutex_lock(&lw->mu);
    struct lam_group *g = lw->done;
    lw->done = NULL;
    pthread_mutex_unlock(&lw->mu);
    while (g) {
        struct lam_group *next = g->next;
        if (!g->classified)
            classify(g, &g->res);
        free(g->res.payload);
        free(g);
        g = next;
    }
}

/* Whether the window should stop sending: the job left Active (a cancel), a job of
 * higher priority is waiting, or the engine is stopping. The window then records what
 * ran and the engine's next turn decides. Engine thread. */
static bool should_stop(struct lam_window *lw)
{
    struct batch_engine *e = lw->w->e;
    const struct store_job *me = lw->w->job;
    h2o_mem_pool_t pool;
    struct store_job j, *top;
    size_t n = 0;
    if (batch_engine_stopping(e))
        return true;
    h2o_mem_init_pool(&pool);
    enum qr_err err = store_job_get(e->reader, qr_slice_cstr(me->id), &pool, &j);
    bool stop = err == QR_OK && j.state != BATCH_ACTIVE;
    if (!stop &&
        store_job_runnable(e->reader, BATCH_BIT(BATCH_READY) | BATCH_BIT(BATCH_ACTIVE), 1, &pool,
                           &top, &n) == QR_OK &&
        n == 1)
        stop = strcmp(top->id, me->id) != 0 && top->priority > j.priority;
    h2o_mem_clear_pool(&pool);
    return stop;
}

/* A request id for the next invocation: the window's random UUID with its last 8 hex
 * digits counting up, so each invocation's id is unique (ids are per window, and a
 * window sends far fewer than 2^32) without drawing 16 random bytes each time. */
static void next_request_id(struct lam_window *lw, char out[37])
{
    static const char hex[] = "0123456789abcdef";
    uint32_t v = lw->rid_n++;
    memcpy(out, lw->rid_base, 37);
    for (size_t i = 0; i < 8; i++)
        out[35 - i] = hex[(v >> (4 * i)) & 15];
}

/* Sends one group of tasks (sliding window: never more than quarry:concurrency
 * invocations in flight, more would only come back throttled). When the window is full
 * it waits until a quarter of it has ended, then classifies those and sends again. */
static void send_group(struct lam_window *lw, const struct fn_config *cfg, struct lam_group *g)
{
    char rid[37];
    next_request_id(lw, rid);
    size_t conc = lw->opts.concurrency, burst = conc / 4 ? conc / 4 : 1;
    pthread_mutex_lock(&lw->mu);
    if (lw->inflight >= conc) {
        wait_inflight(lw, conc - burst);
        pthread_mutex_unlock(&lw->mu);
        drain_done(lw);
        pthread_mutex_lock(&lw->mu);
    }
    for (size_t i = 0; i < g->n; i++) {
        g->slots[i]->st = LAM_INFLIGHT;
        g->slots[i]->attempts++;
    }
    lw->inflight++;
    pthread_mutex_unlock(&lw->mu);
    /* Built after the wait: the buffer is the window's, and fn_invoke copies it. */
    enum qr_err err = event_json(lw, g);
    if (err == QR_OK) {
        struct fn_invoke inv = {.cfg = cfg,
                                .payload = qr_slice(lw->ev.p, lw->ev.len),
                                .request_id = rid};
        err = fn_invoke(lw->w->e->o.fn, &inv, on_result, g);
    }
    if (err != QR_OK) {
        pthread_mutex_lock(&lw->mu);
        lw->inflight--;
        pthread_mutex_unlock(&lw->mu);
        for (size_t i = 0; i < g->n; i++) {
            g->slots[i]->attempts--;
            g->slots[i]->st = err == QR_E_BUSY ? LAM_THROTTLED : LAM_RETRY;
        }
        free(g);
    }
}

/* Sends every pending slot, per_invoke tasks an invocation; returns how many still need
 * a later round. */
static size_t send_round(struct lam_window *lw, const struct fn_config *cfg)
{
    size_t later = 0;
    int64_t next_check = 0;
    struct lam_group *g = NULL;
    for (size_t i = 0; i < lw->w->n; i++) {
        if (lw->slots[i].st != LAM_PENDING)
            continue;
        if (g == NULL) {
            /* A cancel or a job of higher priority is noticed within BATCH_LAMBDA_CHECK_MS
             * (two store reads: every few invocations they cost more than the no-op
             * invocations themselves). */
            int64_t now = batch_mono_ms();
            if (now >= next_check) {
                next_check = now + BATCH_LAMBDA_CHECK_MS;
                if (should_stop(lw)) {
                    lw->stopped = true;
                    break;
                }
            }
            g = qr_xmalloc(sizeof(*g));
            memset(g, 0, offsetof(struct lam_group, slots));
            g->lw = lw;
        }
        g->slots[g->n++] = &lw->slots[i];
        if (g->n == lw->opts.per_invoke) {
            send_group(lw, cfg, g);
            g = NULL;
        }
    }
    if (g)
        send_group(lw, cfg, g);
    pthread_mutex_lock(&lw->mu);
    wait_inflight(lw, 0);
    pthread_mutex_unlock(&lw->mu);
    drain_done(lw);
    for (size_t i = 0; i < lw->w->n; i++)
        if (lw->slots[i].st == LAM_RETRY || lw->slots[i].st == LAM_THROTTLED)
            later++;
    return later;
}


/* Sleeps before the next round: throttling briefly, retries with exponential backoff. */
static void backoff(struct lam_window *lw, unsigned round)
{
    bool retry = false;
    for (size_t i = 0; i < lw->w->n; i++) {
        struct lam_slot *sl = &lw->slots[i];
        if (sl->st == LAM_RETRY && sl->attempts > lw->opts.max_retries) {
            static const char m[] = "The function kept returning TemporaryFailure";
            fail_row(sl, "TemporaryFailure", m, sizeof(m) - 1);
            continue;
        }
        retry |= sl->st == LAM_RETRY;
        if (sl->st == LAM_RETRY || sl->st == LAM_THROTTLED)
            sl->st = LAM_PENDING;
    }
    unsigned ms = retry ? 100u << (round < 5 ? round : 5) : 20u;
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Runs the window's invocations into rows; returns how many rows (a prefix) are to be
 * recorded: all of them, or after a cancel or a stop the tasks that finished in order.
 * *out_stopped: cut short. */
static size_t lambda_run(struct batch_window *w, struct store_job_row *rows, bool *out_stopped)
{
    struct fn_resolve_env env = {w->e->data_dir, w->e->region, w->e->account_id};
    struct fn_config cfg;
    h2o_mem_pool_t pool;
    struct lam_window lw = {.w = w};
    /* quarry:tasks-per-invocation: AWS sends one task per invocation; a function that
     * loops over event['tasks'] (AWS's own examples do) can be given several, so one warm
     * process serves many. */
    batch_job_opts(w->e, w->job, &lw.opts);
    lw.slots = qr_xmalloc(sizeof(*lw.slots) * w->n);
    pthread_mutex_init(&lw.mu, NULL);
    pthread_cond_init(&lw.cv, NULL);
    qr_uuid4(lw.invocation_id);
    qr_uuid4(lw.rid_base);
    lw.ev_head = event_head(&lw, &lw.ev_head_len);
    qr_buf_init(&lw.ev, LAM_EVENT_MAX);
    h2o_mem_init_pool(&pool);
    enum qr_err rerr =
        fn_resolve(w->e->reader, &env, qr_slice_cstr(w->def->function_arn), &pool, &cfg);
    for (size_t i = 0; i < w->n; i++) {
        struct lam_slot *sl = &lw.slots[i];
        memset(sl, 0, sizeof(*sl));
        sl->lw = &lw;
        sl->i = i;
        sl->row = &rows[i];
        row_base(&rows[i], w, i);
        snprintf(sl->task_id, sizeof(sl->task_id), "%016llx%08llx",
                 (unsigned long long)(uintptr_t)w->job->seq, (unsigned long long)rows[i].line);
        if (rerr != QR_OK || w->e->o.fn == NULL)
            fail_row(sl, "PermanentFailure", "The function no longer exists", 29);
        else if (denied(w, i, &rows[i]))
            sl->st = LAM_DONE; /* never invoked */
    }
    for (unsigned round = 0; send_round(&lw, &cfg) > 0 && !lw.stopped; round++) {
        if (batch_engine_stopping(w->e)) {
            lw.stopped = true;
            break;
        }
        backoff(&lw, round);
    }
    /* What ran is recorded: the window's prefix of finished tasks (the rest runs again at
     * the next start, or never after a cancel). */
    size_t done = 0;
    while (done < w->n && lw.slots[done].st == LAM_DONE)
        done++;
    h2o_mem_clear_pool(&pool);
    pthread_mutex_destroy(&lw.mu);
    pthread_cond_destroy(&lw.cv);
    qr_buf_dispose(&lw.ev);
    free(lw.ev_head);
    free(lw.slots);
    *out_stopped = lw.stopped;
    return lw.stopped ? done : w->n;
}

/* ---- the pipeline of windows ---- */

/* One of the two windows of a pipeline: while one window's record commits, the next
 * runs. */
struct store_slot {
    struct batch_window w;
    size_t cap;           /* tasks the buffers hold */
    struct store_job job; /* the job as this window sees it (its own cursor) */
    struct store_job_row *rows;
    char dst[64]; /* the copy's destination bucket, which the rows point to */
    char *keys, *etags;
    struct store_job_progress p;
    struct store_pipe *pipe;
    bool busy;       /* guarded by pipe->mu: queued to the writer, not yet committed */
    enum qr_err err; /* guarded by pipe->mu: the commit's result */
};

struct store_pipe {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct store_slot slots[2];
};

/* Writer thread: a window committed (or failed). */
static void slot_done(void *arg, enum qr_err err)
{
    struct store_slot *sl = arg;
    pthread_mutex_lock(&sl->pipe->mu);
    sl->err = err;
    sl->busy = false;
    pthread_cond_broadcast(&sl->pipe->cv);
    pthread_mutex_unlock(&sl->pipe->mu);
}

/* Waits until the slot's window committed; its result. */
static enum qr_err slot_wait(struct store_slot *sl)
{
    pthread_mutex_lock(&sl->pipe->mu);
    while (sl->busy)
        pthread_cond_wait(&sl->pipe->cv, &sl->pipe->mu);
    enum qr_err err = sl->err;
    sl->err = QR_OK;
    pthread_mutex_unlock(&sl->pipe->mu);
    return err;
}

/* Reads the slot's window from the manifest (consecutive lines). */
static enum qr_err slot_read(struct store_slot *sl, struct batch_mreader *mr)
{
    char msg[128];
    bool eof = false;
    enum qr_err err = QR_OK;
    sl->w.n = 0;
    while (sl->w.n < sl->cap && err == QR_OK) {
        struct qr_slice line;
        err = batch_mreader_next(mr, &line, &eof);
        if (err != QR_OK || eof)
            break;
        err = batch_csv_line(line, sl->w.def->fields, sl->w.def->n_fields, &sl->w.tasks[sl->w.n],
                             msg);
        if (err == QR_OK)
            sl->w.ends[sl->w.n++] = mr->next_off;
    }
    return err;
}

static void pipe_init(struct store_pipe *pp, struct batch_engine *e, const struct batch_def *d,
                      size_t cap)
{
    memset(pp, 0, sizeof(*pp));
    pthread_mutex_init(&pp->mu, NULL);
    pthread_cond_init(&pp->cv, NULL);
    for (size_t i = 0; i < 2; i++) {
        struct store_slot *sl = &pp->slots[i];
        sl->pipe = pp;
        sl->w.e = e;
        sl->w.def = d;
        sl->w.job = &sl->job;
        sl->cap = cap;
        sl->w.tasks = qr_xmalloc(sizeof(*sl->w.tasks) * cap);
        sl->w.ends = qr_xmalloc(sizeof(*sl->w.ends) * cap);
        sl->rows = qr_xmalloc(sizeof(*sl->rows) * cap);
        sl->keys = qr_xmalloc((size_t)(BATCH_KEY_MAX + 1) * cap);
        sl->etags = qr_xmalloc((size_t)80 * cap);
    }
}

static void pipe_dispose(struct store_pipe *pp)
{
    for (size_t i = 0; i < 2; i++) {
        struct store_slot *sl = &pp->slots[i];
        free(sl->w.tasks);
        free(sl->w.ends);
        free(sl->rows);
        free(sl->keys);
        free(sl->etags);
    }
    pthread_mutex_destroy(&pp->mu);
    pthread_cond_destroy(&pp->cv);
}

enum qr_err batch_run_windows(struct batch_engine *e, const struct store_job *j,
                              const struct batch_def *d, size_t max_windows)
{
    struct store_pipe *pp = qr_xmalloc(sizeof(*pp));
    struct batch_mreader mr;
    struct qr_buf tags, meta;
    uint64_t cursor = j->cursor;
    int64_t t0 = batch_mono_ms();
    qr_buf_init(&tags, 64 * 1024);
    qr_buf_init(&meta, 64 * 1024);
    enum qr_err err = d->op == BATCH_OP_PUT_TAGGING || (d->op == BATCH_OP_COPY && d->copy_new_tags)
                          ? encode_tags(d, &tags)
                          : QR_OK;
    if (err == QR_OK && d->op == BATCH_OP_COPY && d->copy_replace_meta)
        err = encode_meta(d, &meta);
    if (err == QR_OK)
        err = batch_mreader_open(e->o.store, e->reader, j->id, j->manifest_off, &mr);
    if (err != QR_OK) {
        qr_buf_dispose(&tags);
        qr_buf_dispose(&meta);
        free(pp);
        return err;
    }
    pipe_init(pp, e, d, d->op == BATCH_OP_LAMBDA ? BATCH_WINDOW_LAMBDA : BATCH_WINDOW_STORE);
    struct batch_role *role = qr_xmalloc(sizeof(*role));
    batch_role_open(role, e, j->id, d->role_arn);
    pp->slots[0].w.role = pp->slots[1].w.role = role;
    int64_t turn_end = t0 + BATCH_TURN_MS;
    for (size_t k = 0; k < max_windows && err == QR_OK; k++) {
        struct store_slot *sl = &pp->slots[k % 2];
        /* The engine's turn ends after a while, so new jobs are prepared and cancels of
         * other jobs handled while a long job runs. */
        if (k > 0 && batch_mono_ms() > turn_end)
            break;
        /* The window before the previous one must have committed before its buffers are
         * reused; the previous one keeps committing while this one is read and built. */
        if ((err = slot_wait(sl)) != QR_OK || (err = slot_read(sl, &mr)) != QR_OK || sl->w.n == 0)
            break;
        sl->job = *j;
        sl->job.cursor = cursor;
        batch_role_refresh(role); /* IAM changed since the last window: decide by the new state */
        size_t n = sl->w.n;
        bool stopped = false;
        if (d->op == BATCH_OP_LAMBDA)
            n = lambda_run(&sl->w, sl->rows, &stopped);
        else
            build_store_rows(&sl->w, sl->rows, sl->dst, sl->keys, sl->etags, &tags, &meta);
        int64_t now = batch_mono_ms();
        if (n > 0) {
            sl->p = (struct store_job_progress){
                .id = j->id,
                .rows = sl->rows,
                .n = n,
                .cursor_from = cursor,
                .cursor_to = cursor + n,
                .manifest_off = sl->w.ends[n - 1],
                .active_ms = now - t0,
                .outcome = store_outcome,
                .arg = &sl->w,
                .ends = sl->w.ends,
            };
            cursor += n;
            pthread_mutex_lock(&pp->mu);
            sl->busy = true;
            pthread_mutex_unlock(&pp->mu);
            store_job_progress_async(e->o.store, &sl->p, slot_done, sl);
        }
        t0 = now;
        if (stopped) {
            /* A cancel: the engine's next turn finishes the job. A stop: the rest of the
             * window runs again at the next start. */
            if (batch_engine_stopping(e))
                err = QR_E_BUSY;
            break;
        }
    }
    for (size_t i = 0; i < 2; i++) {
        enum qr_err e2 = slot_wait(&pp->slots[i]);
        if (err == QR_OK)
            err = e2;
    }
    batch_mreader_close(&mr);
    batch_role_close(role);
    free(role);
    pipe_dispose(pp);
    free(pp);
    qr_buf_dispose(&tags);
    qr_buf_dispose(&meta);
    return err;
}

enum qr_err batch_run_window(struct batch_window *w)
{
    switch (w->def->op) {
    case BATCH_OP_LAMBDA:
    case BATCH_OP_COPY:
    case BATCH_OP_PUT_TAGGING:
    case BATCH_OP_DELETE_TAGGING:
    case BATCH_OP_LEGAL_HOLD:
    case BATCH_OP_RETENTION:
        return QR_E_INTERNAL; /* batch_run_windows runs these */
    case BATCH_OP_CHECKSUM:
        return run_checksum_window(w);
    }
    return QR_E_INTERNAL;
}
