/*
 * job.c - jobs as the API sees them: CreateJob's checks of meaning (buckets exist, the
 * function resolves, the operation runs on that bucket type), idempotency by
 * ClientRequestToken, DescribeJob's view, and the state changes a client may ask for.
 *
 * The definition is kept as JSON in the job row; the token's request digest is the
 * SHA-256 of that JSON without the token, so "same token, same request" compares what
 * the job would do, not the bytes of the XML (element order differs between clients).
 */
#include "batch/batch_int.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/sha.h>

#include "fn/fn_resolve.h"
#include "util/buf.h"
#include "util/codec.h"
#include "util/names.h"

/* ---- the definition as JSON ---- */

static json_t *kv_json(const struct batch_kv *kv, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_pack("[ss]", kv[i].key, kv[i].value));
    return a;
}

static bool kv_from_json(json_t *a, struct batch_kv *kv, size_t max, size_t *out_n)
{
    size_t i, n = 0;
    json_t *p;
    *out_n = 0;
    if (a == NULL)
        return true; /* a definition stored before the member existed */
    if (!json_is_array(a) || json_array_size(a) > max)
        return false;
    json_array_foreach(a, i, p)
    {
        const char *k = json_string_value(json_array_get(p, 0));
        const char *v = json_string_value(json_array_get(p, 1));
        if (!k || !v || strlen(k) > BATCH_TAG_KEY_MAX || strlen(v) > BATCH_TAG_VALUE_MAX)
            return false;
        snprintf(kv[n].key, sizeof(kv[n].key), "%s", k);
        snprintf(kv[n].value, sizeof(kv[n].value), "%s", v);
        n++;
    }
    *out_n = n;
    return true;
}

/* The definition's scalar members and their JSON keys, one table for writing and
 * reading them (the keys are what stored jobs hold: never rename one). */
enum def_kind { DK_STR, DK_BOOL, DK_INT, DK_UINT, DK_I64 };
struct def_member {
    const char *key;
    enum def_kind kind;
    size_t off, cap; /* cap: DK_STR's buffer size */
};
#define DM(k, kind, m)                                                                             \
    {                                                                                              \
        k, kind, offsetof(struct batch_def, m), sizeof(((struct batch_def *)0)->m)                 \
    }
static const struct def_member def_members[] = {
    DM("op", DK_INT, op),
    DM("mf", DK_INT, mf_format),
    DM("fn", DK_STR, function_arn),
    DM("schema", DK_STR, schema),
    DM("target", DK_STR, target_resource),
    DM("tprefix", DK_STR, target_prefix),
    DM("mfarn", DK_STR, mf_arn),
    DM("mfetag", DK_STR, mf_etag),
    DM("mfver", DK_STR, mf_version),
    DM("rep", DK_BOOL, report_enabled),
    DM("repb", DK_STR, report_bucket_arn),
    DM("repp", DK_STR, report_prefix),
    DM("repfo", DK_BOOL, report_failed_only),
    DM("repsc", DK_BOOL, report_has_scope),
    DM("repfmt", DK_BOOL, report_has_format),
    DM("confirm", DK_BOOL, confirmation_required),
    DM("desc", DK_STR, description),
    DM("role", DK_STR, role_arn),
    DM("prio", DK_I64, priority),
    DM("ckalg", DK_INT, checksum_alg),
    DM("ckcomp", DK_BOOL, checksum_composite),
    DM("ctags", DK_BOOL, copy_new_tags),
    DM("cmeta", DK_BOOL, copy_replace_meta),
    DM("mtype", DK_STR, meta_type),
    DM("mdisp", DK_STR, meta_disposition),
    DM("mlang", DK_STR, meta_language),
    DM("mcache", DK_STR, meta_cache),
    DM("menc", DK_STR, meta_encoding),
    DM("crp", DK_BOOL, copy_requester_pays),
    DM("cacl", DK_STR, copy_acl),
    DM("mexp", DK_I64, meta_expires_ms),
    DM("cholds", DK_BOOL, copy_lock_hold_given),
    DM("chold", DK_BOOL, copy_lock_hold),
    DM("cmode", DK_INT, copy_lock_mode),
    DM("cuntil", DK_I64, copy_lock_until_ms),
    DM("cmodsince", DK_I64, copy_modified_since_ms),
    DM("cunmodsince", DK_I64, copy_unmodified_since_ms),
    DM("hold", DK_BOOL, hold_on),
    DM("rmode", DK_INT, ret_mode),
    DM("runtil", DK_I64, ret_until_ms),
    DM("rbypass", DK_BOOL, ret_bypass),
};
/* S3JobManifestGenerator's, under "gen" */
static const struct def_member gen_members[] = {
    DM("src", DK_STR, gen_source),     DM("out", DK_BOOL, gen_output),
    DM("ob", DK_STR, gen_out_bucket),  DM("op", DK_STR, gen_out_prefix),
    DM("after", DK_I64, gen_after_ms), DM("before", DK_I64, gen_before_ms),
    DM("repl", DK_UINT, gen_repl),     DM("pre", DK_STR, gen_prefix),
    DM("suf", DK_STR, gen_suffix),     DM("sub", DK_STR, gen_substr),
    DM("gt", DK_I64, gen_gt),          DM("lt", DK_I64, gen_lt),
    DM("sc", DK_UINT, gen_classes),
};
#undef DM

static json_t *members_json(const struct batch_def *d, const struct def_member *m, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++) {
        const char *p = (const char *)d + m[i].off;
        json_t *v = NULL;
        int iv;
        unsigned uv;
        int64_t lv;
        switch (m[i].kind) {
        case DK_STR:
            v = json_string(p);
            break;
        case DK_BOOL:
            v = json_boolean(*(const bool *)(const void *)p);
            break;
        case DK_INT: /* an int or an enum (int-sized here, checked below) */
            memcpy(&iv, p, sizeof(iv));
            v = json_integer(iv);
            break;
        case DK_UINT:
            memcpy(&uv, p, sizeof(uv));
            v = json_integer(uv);
            break;
        case DK_I64:
            memcpy(&lv, p, sizeof(lv));
            v = json_integer((json_int_t)lv);
            break;
        }
        if (v == NULL || json_object_set_new(o, m[i].key, v) != 0)
            abort(); /* jansson fails only on allocation (strings were written by us) */
    }
    return o;
}

static void str_field(json_t *o, const char *k, char *out, size_t cap)
{
    const char *v = json_string_value(json_object_get(o, k));
    snprintf(out, cap, "%s", v ? v : "");
}

static void members_from_json(json_t *o, struct batch_def *d, const struct def_member *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char *p = (char *)d + m[i].off;
        json_t *v = json_object_get(o, m[i].key);
        int iv = (int)json_integer_value(v);
        unsigned uv = (unsigned)json_integer_value(v);
        int64_t lv = json_integer_value(v);
        switch (m[i].kind) {
        case DK_STR:
            str_field(o, m[i].key, p, m[i].cap);
            break;
        case DK_BOOL:
            *(bool *)(void *)p = json_is_true(v); /* absent (older jobs): false */
            break;
        case DK_INT:
            memcpy(p, &iv, sizeof(iv));
            break;
        case DK_UINT:
            memcpy(p, &uv, sizeof(uv));
            break;
        case DK_I64:
            memcpy(p, &lv, sizeof(lv));
            break;
        }
    }
}

_Static_assert(sizeof(enum batch_op) == sizeof(int) &&
                   sizeof(enum batch_manifest_format) == sizeof(int),
               "DK_INT members are int-sized");

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

char *batch_def_to_json(const struct batch_def *d, const struct batch_tags *t, bool with_token)
{
    json_t *o = members_json(d, def_members, N_OF(def_members));
    json_t *fields = json_array();
    for (size_t i = 0; i < d->n_fields; i++)
        json_array_append_new(fields, json_integer(d->fields[i]));
    json_object_set_new(o, "fields", fields);
    json_object_set_new(o, "uargs", kv_json(d->user_args, d->n_user_args));
    json_object_set_new(o, "otags", kv_json(d->obj_tags, d->n_obj_tags));
    json_object_set_new(o, "umeta", kv_json(d->meta_user, d->n_meta_user));
    if (t)
        json_object_set_new(o, "tags", kv_json(t->v, t->n));
    if (d->mf_format == BATCH_MF_GENERATOR)
        json_object_set_new(o, "gen", members_json(d, gen_members, N_OF(gen_members)));
    if (with_token)
        json_object_set_new(o, "token", json_string(d->token));
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    if (s == NULL)
        abort(); /* jansson fails only on allocation */
    return s;
}

enum qr_err batch_def_from_json(struct qr_slice json, struct batch_def *d)
{
    json_t *o = json_loadb((const char *)json.p, json.len, JSON_REJECT_DUPLICATES, NULL);
    enum qr_err err = QR_E_INTERNAL;
    memset(d, 0, sizeof(*d));
    if (!json_is_object(o))
        goto out;
    members_from_json(o, d, def_members, N_OF(def_members));
    json_t *g = json_object_get(o, "gen");
    if (json_is_object(g))
        members_from_json(g, d, gen_members, N_OF(gen_members));
    json_t *f = json_object_get(o, "fields");
    size_t i;
    json_t *v;
    if (!json_is_array(f) || json_array_size(f) > BATCH_MAX_FIELDS)
        goto out;
    json_array_foreach(f, i, v) d->fields[d->n_fields++] = (enum batch_field)json_integer_value(v);
    if (!kv_from_json(json_object_get(o, "uargs"), d->user_args, BATCH_MAX_USER_ARGS,
                      &d->n_user_args) ||
        !kv_from_json(json_object_get(o, "otags"), d->obj_tags, BATCH_MAX_OBJ_TAGS,
                      &d->n_obj_tags) ||
        !kv_from_json(json_object_get(o, "umeta"), d->meta_user, BATCH_MAX_USER_META,
                      &d->n_meta_user))
        goto out;
    err = QR_OK;
out:
    json_decref(o);
    return err;
}

static enum qr_err tags_from_json(struct qr_slice json, struct batch_tags *t)
{
    json_t *o = json_loadb((const char *)json.p, json.len, 0, NULL);
    bool ok = kv_from_json(json_object_get(o, "tags"), t->v, BATCH_MAX_JOB_TAGS, &t->n);
    json_decref(o);
    return ok ? QR_OK : QR_E_INTERNAL;
}

/* ---- options from tags ---- */

void batch_job_opts(const struct batch_engine *e, const struct store_job *j, struct batch_opts *out)
{
    static const struct {
        const char *tag;
        size_t off;
        uint64_t lo, hi;
    } table[] = {
        {BATCH_TAG_PER_INVOKE, offsetof(struct batch_opts, per_invoke), 1, BATCH_MAX_PER_INVOKE},
        {"quarry:max-retries", offsetof(struct batch_opts, max_retries), 0, 20},
        {"quarry:concurrency", offsetof(struct batch_opts, concurrency), 1, BATCH_MAX_INFLIGHT},
        {"quarry:failure-threshold-percent", offsetof(struct batch_opts, threshold_pct), 0, 100},
    };
    struct batch_tags *t = qr_xmalloc(sizeof(*t));
    const struct batch_defaults *d = &e->o.defaults;
    uint64_t v[4] = {d->tasks_per_invocation, d->max_retries, d->concurrency,
                     d->failure_threshold_pct};
    memset(t, 0, sizeof(*t));
    if (tags_from_json(j->tags, t) == QR_OK) {
        for (size_t i = 0; i < t->n; i++)
            for (size_t k = 0; k < sizeof(table) / sizeof(*table); k++) {
                uint64_t x;
                if (strcmp(t->v[i].key, table[k].tag) == 0 &&
                    qr_slice_u64(qr_slice_cstr(t->v[i].value), table[k].hi, &x) && x >= table[k].lo)
                    v[k] = x;
            }
    }
    free(t);
    out->per_invoke = (size_t)v[0];
    out->max_retries = (unsigned)v[1];
    out->concurrency = (unsigned)v[2];
    out->threshold_pct = (unsigned)v[3];
}

/* ---- ARNs ---- */

bool batch_bucket_of_arn(const char *arn, char out[64])
{
    const char *b = NULL;
    static const char gp[] = "arn:aws:s3:::";
    static const char ex[] = "arn:aws:s3express:";
    if (strncmp(arn, gp, sizeof(gp) - 1) == 0) {
        b = arn + sizeof(gp) - 1;
    } else if (strncmp(arn, ex, sizeof(ex) - 1) == 0) {
        const char *p = strstr(arn, ":bucket/");
        b = p ? p + 8 : NULL;
    }
    bool dir;
    if (b == NULL || strlen(b) > 63 || !qr_bucket_name_valid(qr_slice_cstr(b), &dir))
        return false;
    snprintf(out, 64, "%s", b);
    return true;
}

/* "arn:aws:s3:::bucket/key" -> bucket and key (key bytes up to 1024). */
static bool object_of_arn(const char *arn, char bucket[64], char *key, size_t cap)
{
    static const char gp[] = "arn:aws:s3:::";
    if (strncmp(arn, gp, sizeof(gp) - 1) != 0)
        return false;
    const char *b = arn + sizeof(gp) - 1, *slash = strchr(b, '/');
    if (slash == NULL || slash == b || (size_t)(slash - b) > 63 || strlen(slash + 1) == 0 ||
        strlen(slash + 1) >= cap)
        return false;
    memcpy(bucket, b, (size_t)(slash - b));
    bucket[slash - b] = '\0';
    snprintf(key, cap, "%s", slash + 1);
    bool dir;
    return qr_bucket_name_valid(qr_slice_cstr(bucket), &dir);
}

/* ---- create ---- */

static enum qr_err fail_msg(char msg[256], enum qr_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static enum qr_err fail_msg(char msg[256], enum qr_err e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, 256, fmt, ap);
    va_end(ap);
    return e;
}

static enum qr_err check_bucket(struct store_reader *r, const char *arn, const char *what,
                                char msg[256], bool *out_dir)
{
    char b[64];
    struct store_bucket sb;
    if (!batch_bucket_of_arn(arn, b))
        return fail_msg(msg, QR_E_BAD_INPUT, "%s is not a valid bucket ARN", what);
    enum qr_err err = store_bucket_get(r, qr_slice_cstr(b), &sb);
    if (err == QR_E_NO_SUCH_BUCKET)
        return fail_msg(msg, QR_E_BAD_INPUT, "%s names a bucket that does not exist", what);
    if (err == QR_OK && out_dir)
        *out_dir = sb.type == STORE_BUCKET_DIRECTORY;
    return err;
}

/* What the operation needs beyond its shape. */
static enum qr_err check_operation(struct batch_engine *e, struct store_reader *r,
                                   const struct batch_def *d, bool manifest_dir, char msg[256])
{
    h2o_mem_pool_t pool;
    enum qr_err err = QR_OK;
    bool dir = false;
    switch (d->op) {
    case BATCH_OP_LAMBDA: {
        struct fn_resolve_env env = {e->data_dir, e->region, e->account_id};
        struct fn_config cfg;
        if (d->n_user_args && strcmp(d->schema, "2.0") != 0)
            return fail_msg(msg, QR_E_BAD_INPUT,
                            "UserArguments require InvocationSchemaVersion 2.0");
        if (manifest_dir && strcmp(d->schema, "2.0") != 0)
            return fail_msg(msg, QR_E_BAD_INPUT,
                            "Directory buckets require InvocationSchemaVersion 2.0");
        h2o_mem_init_pool(&pool);
        err = fn_resolve(r, &env, qr_slice_cstr(d->function_arn), &pool, &cfg);
        h2o_mem_clear_pool(&pool);
        if (err == QR_E_NO_SUCH_KEY || err == QR_E_BAD_INPUT || err == QR_E_INTERNAL)
            return fail_msg(msg, QR_E_BAD_INPUT, "FunctionArn %.200s names no function",
                            d->function_arn);
        return err;
    }
    case BATCH_OP_COPY:
        err = check_bucket(r, d->target_resource, "TargetResource", msg, &dir);
        if (err == QR_OK && dir && d->copy_new_tags)
            return fail_msg(msg, QR_E_BAD_INPUT,
                            "Object tagging is not supported on directory buckets");
        return err;
    case BATCH_OP_CHECKSUM:
        return QR_OK;
    case BATCH_OP_PUT_TAGGING:
    case BATCH_OP_DELETE_TAGGING:
        if (manifest_dir)
            return fail_msg(msg, QR_E_BAD_INPUT,
                            "Object tagging is not supported on directory buckets");
        return QR_OK;
    case BATCH_OP_LEGAL_HOLD:
    case BATCH_OP_RETENTION:
        if (manifest_dir)
            return fail_msg(msg, QR_E_BAD_INPUT,
                            "Object Lock is not supported on directory buckets");
        return QR_OK;
    }
    return QR_E_INTERNAL;
}

static void new_job_id(char out[STORE_JOB_ID_MAX + 1])
{
    qr_uuid4(out);
}

enum qr_err batch_create(struct batch_engine *e, struct store_reader *r, const struct batch_def *d,
                         const struct batch_tags *tags, char out_id[STORE_JOB_ID_MAX + 1],
                         char msg[256])
{
    char mb[64], mk[BATCH_KEY_MAX + 1];
    bool mdir = false;
    msg[0] = '\0';
    enum qr_err err;
    if (d->mf_format == BATCH_MF_GENERATOR) {
        err = batch_check_generator(r, d, msg);
    } else if (!object_of_arn(d->mf_arn, mb, mk, sizeof(mk))) {
        return fail_msg(msg, QR_E_BAD_INPUT,
                        "Manifest ObjectArn %.200s is not arn:aws:s3:::bucket/key", d->mf_arn);
    } else {
        struct store_bucket sb;
        err = store_bucket_get(r, qr_slice_cstr(mb), &sb);
        if (err == QR_E_NO_SUCH_BUCKET)
            return fail_msg(msg, QR_E_BAD_INPUT, "The manifest bucket %s does not exist", mb);
        mdir = err == QR_OK && sb.type == STORE_BUCKET_DIRECTORY;
    }
    if (err == QR_OK && d->report_enabled)
        err = check_bucket(r, d->report_bucket_arn, "Report Bucket", msg, NULL);
    if (err == QR_OK)
        err = check_operation(e, r, d, mdir, msg);
    if (err != QR_OK)
        return err;

    char *full = batch_def_to_json(d, tags, false);
    char *def = batch_def_to_json(d, NULL, false);
    unsigned char h[SHA256_DIGEST_LENGTH];
    char hex[2 * SHA256_DIGEST_LENGTH + 1], id[STORE_JOB_ID_MAX + 1];
    SHA256((const unsigned char *)full, strlen(full), h);
    for (size_t i = 0; i < sizeof(h); i++)
        snprintf(hex + 2 * i, 3, "%02x", h[i]);
    char *tags_json = batch_def_to_json(&(struct batch_def){0}, tags, false);
    new_job_id(id);
    bool existing = false;
    struct store_job_new n = {
        .id = id,
        .token = d->token,
        .req_hash = hex,
        .state = BATCH_NEW,
        .priority = d->priority,
        .now_ms = qr_now_ms(),
        .def = qr_slice_cstr(def),
        .tags = qr_slice_cstr(tags_json),
    };
    err = store_job_create(e->o.store, &n, out_id, &existing);
    free(full);
    free(def);
    free(tags_json);
    if (err == QR_OK && !existing)
        batch_kick(e);
    return err;
}

/* ---- describe ---- */

static void failures_from_json(struct qr_slice s, struct batch_job *j)
{
    json_t *a = json_loadb((const char *)s.p, s.len, 0, NULL);
    size_t i;
    json_t *v;
    if (json_is_array(a)) {
        json_array_foreach(a, i, v)
        {
            if (j->n_failures == BATCH_MAX_FAILURES)
                break;
            struct batch_failure *f = &j->failures[j->n_failures++];
            str_field(v, "code", f->code, sizeof(f->code));
            str_field(v, "reason", f->reason, sizeof(f->reason));
        }
    }
    json_decref(a);
}

enum qr_err batch_describe(struct store_reader *r, struct qr_slice id, h2o_mem_pool_t *pool,
                           struct batch_job *out)
{
    memset(out, 0, sizeof(*out));
    enum qr_err err = store_job_get(r, id, pool, &out->row);
    if (err != QR_OK)
        return err;
    out->def = h2o_mem_alloc_pool(pool, sizeof(*out->def));
    out->tags = h2o_mem_alloc_pool(pool, sizeof(*out->tags));
    memset(out->tags, 0, sizeof(*out->tags));
    if ((err = batch_def_from_json(out->row.def, out->def)) != QR_OK ||
        (err = tags_from_json(out->row.tags, out->tags)) != QR_OK)
        return err;
    failures_from_json(out->row.failures, out);
    out->elapsed_s = out->row.active_ms / 1000;
    return QR_OK;
}

/* ---- changes a client asks for ---- */

enum qr_err batch_set_state(struct batch_engine *e, const char *id, uint64_t from,
                            enum batch_state to)
{
    int64_t now = qr_now_ms();
    struct store_job_update u = {
        .id = id,
        .set = STORE_JOB_SET_STATE,
        .from_states = from,
        .state = to,
    };
    if ((BATCH_TERMINAL >> to) & 1) {
        u.set |= STORE_JOB_SET_TERMINATED | STORE_JOB_UNPIN;
        u.terminated_ms = now;
    }
    if (to == BATCH_SUSPENDED) {
        u.set |= STORE_JOB_SET_SUSPENDED;
        u.suspended_ms = now;
    }
    return store_job_update(e->o.store, &u, NULL);
}

void batch_fail_job(struct batch_engine *e, const char *id, const char *code, const char *reason)
{
    json_t *a = json_pack("[{ss ss}]", "code", code, "reason", reason);
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    struct store_job_update u = {
        .id = id,
        .set = STORE_JOB_SET_STATE | STORE_JOB_SET_TERMINATED | STORE_JOB_SET_FAILURES |
               STORE_JOB_UNPIN,
        .from_states = ~BATCH_TERMINAL,
        .state = BATCH_FAILED,
        .terminated_ms = qr_now_ms(),
        .failures = qr_slice_cstr(s),
    };
    /* A job already ended stays as it ended (QR_E_CONFLICT): nothing else to do. */
    enum qr_err ignored = store_job_update(e->o.store, &u, NULL);
    (void)ignored;
    free(s);
}

enum qr_err batch_update_status(struct batch_engine *e, struct qr_slice id,
                                enum batch_state requested, struct qr_slice reason,
                                enum batch_state *out_state)
{
    char jid[STORE_JOB_ID_MAX + 1];
    if (id.len == 0 || id.len > STORE_JOB_ID_MAX)
        return QR_E_NO_SUCH_KEY;
    memcpy(jid, id.p, id.len);
    jid[id.len] = '\0';
    struct store_job_update u = {.id = jid, .set = STORE_JOB_SET_STATE, .reason = reason};
    if (reason.len)
        u.set |= STORE_JOB_SET_REASON;
    if (requested == BATCH_READY) {
        u.from_states = BATCH_BIT(BATCH_SUSPENDED);
        u.state = BATCH_READY;
        u.set |= STORE_JOB_SET_SUSPENDED; /* no longer suspended: the date goes */
    } else if (requested == BATCH_CANCELLED) {
        /* Jobs that run no task go straight to Cancelled; a running one drains first. */
        int prev = 0;
        u.from_states = BATCH_BIT(BATCH_NEW) | BATCH_BIT(BATCH_SUSPENDED) | BATCH_BIT(BATCH_READY) |
                        BATCH_BIT(BATCH_PAUSED);
        u.state = BATCH_CANCELLED;
        u.set |= STORE_JOB_SET_TERMINATED | STORE_JOB_UNPIN;
        u.terminated_ms = qr_now_ms();
        enum qr_err err = store_job_update(e->o.store, &u, &prev);
        if (err != QR_E_CONFLICT) {
            if (err == QR_OK)
                *out_state = BATCH_CANCELLED;
            return err;
        }
        u.from_states = BATCH_BIT(BATCH_PREPARING) | BATCH_BIT(BATCH_ACTIVE) |
                        BATCH_BIT(BATCH_PAUSING) | BATCH_BIT(BATCH_CANCELLING);
        u.state = BATCH_CANCELLING;
        u.set &= ~(unsigned)(STORE_JOB_SET_TERMINATED | STORE_JOB_UNPIN);
    } else {
        return QR_E_BAD_INPUT;
    }
    enum qr_err err = store_job_update(e->o.store, &u, NULL);
    if (err == QR_OK) {
        *out_state = (enum batch_state)u.state;
        batch_kick(e);
    }
    return err;
}

enum qr_err batch_update_priority(struct batch_engine *e, struct qr_slice id, int64_t priority)
{
    char jid[STORE_JOB_ID_MAX + 1];
    if (id.len == 0 || id.len > STORE_JOB_ID_MAX)
        return QR_E_NO_SUCH_KEY;
    memcpy(jid, id.p, id.len);
    jid[id.len] = '\0';
    struct store_job_update u = {
        .id = jid,
        .set = STORE_JOB_SET_PRIORITY,
        .from_states = ~BATCH_TERMINAL,
        .priority = priority,
    };
    enum qr_err err = store_job_update(e->o.store, &u, NULL);
    if (err == QR_OK)
        batch_kick(e);
    return err;
}

enum qr_err batch_put_tags(struct batch_engine *e, struct qr_slice id, const struct batch_tags *t)
{
    char jid[STORE_JOB_ID_MAX + 1];
    if (id.len == 0 || id.len > STORE_JOB_ID_MAX)
        return QR_E_NO_SUCH_KEY;
    memcpy(jid, id.p, id.len);
    jid[id.len] = '\0';
    char *s = batch_def_to_json(&(struct batch_def){0}, t, false);
    struct store_job_update u = {.id = jid, .set = STORE_JOB_SET_TAGS, .tags = qr_slice_cstr(s)};
    enum qr_err err = store_job_update(e->o.store, &u, NULL);
    free(s);
    return err;
}
