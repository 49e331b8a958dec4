/*
 * func.c - function operations: Create/Get/GetConfiguration/List/Delete, UpdateCode,
 * UpdateConfiguration, PublishVersion, ListVersionsByFunction, the concurrency trio and
 * GetAccountSettings.
 *
 * Writes run on a worker: code is digested and unpacked (fn/code.c) before the row that
 * names it is committed, so a committed CodeSha256 always has its directory. A function
 * is Active at once (the CLI's waiters accept that; reference 1.3). Updates without a
 * client RevisionId still carry the revision they read, so two concurrent updates never
 * silently lose one: the loser is retried on the new state (a few times).
 */
#include "api/lambda/lambda_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fn/code.h"
#include "util/checksum.h"
#include "util/codec.h"

#define UPDATE_RETRIES 3

/* ---- code from a request ---- */

/* Reads an S3 object (the zip) into a heap buffer, bounded by FN_CODE_MAX_UNZIPPED. */
static bool read_s3_zip(struct lambda_op *op, json_t *code, uint8_t **out, size_t *out_len)
{
    json_t *b = json_object_get(code, "S3Bucket"), *k = json_object_get(code, "S3Key");
    if (!json_is_string(b) || !json_is_string(k)) {
        lambda_fail(op, 400, "InvalidParameterValueException",
                    "Please provide a source for function code: ZipFile or S3Bucket and S3Key.");
        return false;
    }
    if (!lambda_authorize_code(op, json_string_value(b), json_string_value(k)))
        return false;
    struct store_obj o;
    enum qr_err err = store_obj_get(op->reader, qr_slice_cstr(json_string_value(b)),
                                    qr_slice_cstr(json_string_value(k)), true, op->pool, &o);
    if (err == QR_E_NO_SUCH_BUCKET || err == QR_E_NO_SUCH_KEY) {
        lambda_fail(op, 400, "InvalidParameterValueException",
                    "Error occurred while GetObject. S3 Error Code: %s. S3 Error Message: %s",
                    err == QR_E_NO_SUCH_BUCKET ? "NoSuchBucket" : "NoSuchKey",
                    err == QR_E_NO_SUCH_BUCKET ? "The specified bucket does not exist"
                                               : "The specified key does not exist.");
        return false;
    }
    if (err != QR_OK) {
        lambda_fail_err(op, err, "");
        return false;
    }
    if (o.size > FN_CODE_MAX_UNZIPPED) {
        lambda_fail(op, 400, "InvalidParameterValueException",
                    "Unzipped size must be smaller than %u bytes", FN_CODE_MAX_UNZIPPED);
        return false;
    }
    if (o.sealed) { /* SSE-C: Lambda, like S3's, is never given the customer's key */
        lambda_fail(op, 400, "InvalidParameterValueException",
                    "The code object is encrypted with a customer-provided key.");
        return false;
    }
    uint8_t *buf = qr_xmalloc(o.size ? (size_t)o.size : 1);
    size_t pos = 0;
    struct store_obj_cursor cur;
    store_obj_cursor_init(&cur, op->server->store, &o, 0, o.size);
    err = store_obj_read(&cur, buf, (size_t)o.size, &pos);
    store_obj_cursor_close(&cur);
    if (err == QR_OK && pos != o.size)
        err = QR_E_INTERNAL;
    if (err != QR_OK) {
        free(buf);
        lambda_fail_err(op, err, "");
        return false;
    }
    *out = buf;
    *out_len = pos;
    return true;
}

/* Takes the zip from Code (CreateFunction) or the request itself (UpdateFunctionCode),
 * unpacks it and fills out. */
static bool code_from(struct lambda_op *op, json_t *code, struct fn_code *out)
{
    uint8_t *zip = NULL;
    size_t len = 0;
    json_t *zf = json_object_get(code, "ZipFile");
    if (json_object_get(code, "ImageUri")) {
        lambda_fail(op, 400, "InvalidParameterValueException",
                    "Container images (ImageUri) are not supported by this server.");
        return false;
    }
    if (json_is_string(zf)) {
        size_t slen = json_string_length(zf);
        /* a decoded size bound before allocating: 3 bytes per 4 characters */
        if (slen / 4 * 3 > FN_CODE_MAX_ZIP_DIRECT + 3) {
            lambda_fail(op, 413, "RequestEntityTooLargeException",
                        "Zipped file size exceeds the maximum of %u bytes for direct upload.",
                        FN_CODE_MAX_ZIP_DIRECT);
            return false;
        }
        zip = qr_xmalloc(slen / 4 * 3 + 3);
        if (qr_b64_decode(json_string_value(zf), slen, zip, slen / 4 * 3 + 3, &len) != QR_OK) {
            free(zip);
            lambda_fail(op, 400, "InvalidParameterValueException", "ZipFile is not valid base64.");
            return false;
        }
        if (len > FN_CODE_MAX_ZIP_DIRECT) {
            free(zip);
            lambda_fail(op, 413, "RequestEntityTooLargeException",
                        "Zipped file size exceeds the maximum of %u bytes for direct upload.",
                        FN_CODE_MAX_ZIP_DIRECT);
            return false;
        }
    } else if (!read_s3_zip(op, code, &zip, &len)) {
        return false;
    }
    out->over_cap = false;
    enum qr_err err =
        fn_code_unpack(op->server->cfg.data_dir, qr_slice(zip, len), op->server->cfg.no_fsync, out);
    free(zip);
    if (err == QR_E_BAD_INPUT) {
        lambda_fail(op, 400, "InvalidParameterValueException",
                    "Could not unzip uploaded file. Please check your file, then try to upload "
                    "again.");
        return false;
    }
    if (err == QR_E_TOO_LARGE && out->over_cap) { /* authenticated disk fill */
        lambda_fail(op, 400, "CodeStorageExceededException", "Code storage limit exceeded.");
        return false;
    }
    if (err == QR_E_TOO_LARGE) {
        lambda_fail(op, 400, "InvalidParameterValueException",
                    "Unzipped size must be smaller than %u bytes", FN_CODE_MAX_UNZIPPED);
        return false;
    }
    if (err != QR_OK) {
        lambda_fail_err(op, err, "");
        return false;
    }
    return true;
}

static const char *opt_string(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Renders version v of the function as the response (read back through this thread's
 * reader, which sees the commit that just returned). */
static void respond_config(struct lambda_op *op, const char *name, uint32_t v, int status)
{
    struct store_fn fn;
    enum qr_err err = store_fn_get(op->reader, qr_slice_cstr(name), v, op->pool, &fn);
    if (err != QR_OK) {
        lambda_fail_err(op, err, "Function not found");
        return;
    }
    op->out = lambda_config_render(op, &fn);
    op->status = status;
}

static void fail_not_found(struct lambda_op *op, const char *name)
{
    char arn[256];
    lambda_fn_arn(op, name, arn, sizeof(arn));
    lambda_fail(op, 404, "ResourceNotFoundException", "Function not found: %s", arn);
}

/* ---- create ---- */

/* Removes the unpacked code named by sha256_b64 when no version of any function names it
 * any more (replaced or deleted code, a create that failed after the unpack). Caller
 * holds fn_code_lock. */
static void code_collect(struct lambda_op *op, const char *sha256_b64)
{
    bool used = true;
    if (sha256_b64[0] && store_fn_code_used(op->reader, sha256_b64, &used) == QR_OK && !used)
        fn_code_remove(op->server->cfg.data_dir, sha256_b64);
}

void lambda_create_function(struct lambda_op *op)
{
    json_t *req = lambda_body_json(op, LAMBDA_MAX_CODE_BODY);
    json_t *cfg = NULL;
    char *cfg_s = NULL, *tags_s = NULL;
    if (req == NULL)
        return;
    json_t *name = json_object_get(req, "FunctionName");
    json_t *code = json_object_get(req, "Code");
    if (!json_is_string(name) || !json_is_object(code)) {
        lambda_fail(op, 400, "InvalidParameterValueException",
                    "FunctionName and Code are required.");
        goto out;
    }
    if (!lambda_parse_target(op, qr_slice_cstr(json_string_value(name)), &op->t))
        goto out;
    if (op->t.qual[0]) {
        lambda_fail(op, 400, "InvalidParameterValueException",
                    "A function name cannot carry a qualifier when it is created.");
        goto out;
    }
    const char *refusal = op->server->fn ? fn_engine_refusal(op->server->fn) : NULL;
    if (refusal) { /* no sandbox can be made: a function created now could never run */
        lambda_fail(op, 400, "InvalidParameterValueException", "%s", refusal);
        goto out;
    }
    if ((cfg = lambda_config_from_request(op, req, NULL, true)) == NULL)
        goto out;
    json_t *tags = json_object_get(req, "Tags");
    if (tags && !json_is_object(tags)) {
        lambda_fail(op, 400, "InvalidParameterValueException", "Tags must be a map.");
        goto out;
    }
    /* The name before the zip: a create that can only fail must not unpack anything. */
    struct store_fn existing;
    if (store_fn_get(op->reader, qr_slice_cstr(op->t.name), STORE_FN_LATEST, op->pool,
                     &existing) == QR_OK) {
        lambda_fail(op, 409, "ResourceConflictException", "Function already exist: %s", op->t.name);
        goto out;
    }
    struct fn_code c;
    fn_code_lock();
    if (!code_from(op, code, &c)) {
        fn_code_unlock();
        goto out;
    }
    size_t cfg_len, tags_len = 0;
    cfg_s = lambda_json_dump(cfg, &cfg_len);
    if (tags)
        tags_s = lambda_json_dump(tags, &tags_len);
    char rev[37], prev[37];
    qr_uuid4(rev);
    qr_uuid4(prev);
    bool publish = json_is_true(json_object_get(req, "Publish"));
    struct store_fn_create sc = {
        .name = op->t.name,
        .revision = rev,
        .code_sha256 = c.sha256_b64,
        .code_size = c.zip_size,
        .now_ms = op->now_ms,
        .config = qr_slice(cfg_s, cfg_len),
        .tags = qr_slice(tags_s, tags_len),
        .publish_revision = publish ? prev : NULL,
    };
    enum qr_err err = store_fn_create(op->server->store, &sc);
    if (err != QR_OK)
        code_collect(op, c.sha256_b64); /* a create that lost a race, or failed */
    fn_code_unlock();
    if (err == QR_E_CONFLICT) {
        lambda_fail(op, 409, "ResourceConflictException", "Function already exist: %s", op->t.name);
        goto out;
    }
    if (err != QR_OK) {
        lambda_fail_err(op, err, "");
        goto out;
    }
    respond_config(op, op->t.name, publish ? 1 : STORE_FN_LATEST, 201);
out:
    free(cfg_s);
    free(tags_s);
    json_decref(cfg);
    json_decref(req);
}

/* ---- reads ---- */

void lambda_get_configuration(struct lambda_op *op)
{
    struct store_fn fn;
    if (lambda_resolve(op, &op->t, op->pool, &fn))
        op->out = lambda_config_render(op, &fn);
}

void lambda_get_function(struct lambda_op *op)
{
    struct store_fn fn;
    if (!lambda_resolve(op, &op->t, op->pool, &fn))
        return;
    json_t *cfg = lambda_config_render(op, &fn);
    if (cfg == NULL)
        return;
    char hex[65] = "", loc[512];
    (void)fn_code_hex(fn.code_sha256, hex); /* an unreadable digest only blanks the URL */
    /* There is no download service: the Location names the unpacked code's digest so a
     * client can tell versions apart; fetching it is not supported (docs/lambda.md). */
    snprintf(loc, sizeof(loc), "http://%.*s/quarry-lambda-code/%s.zip",
             (int)(op->ar->req->input.authority.len > 256 ? 256 : op->ar->req->input.authority.len),
             op->ar->req->input.authority.base, hex);
    op->out = json_pack("{s:o, s:{s:s, s:s}}", "Configuration", cfg, "Code", "RepositoryType", "S3",
                        "Location", loc);
    if (fn.reserved >= 0)
        json_object_set_new(op->out, "Concurrency",
                            json_pack("{s:i}", "ReservedConcurrentExecutions", fn.reserved));
    if (fn.tags.len) {
        json_t *tags = json_loadb((const char *)fn.tags.p, fn.tags.len, 0, NULL);
        if (json_is_object(tags))
            json_object_set_new(op->out, "Tags", tags);
        else
            json_decref(tags);
    }
}

static bool page_size(struct lambda_op *op, size_t dflt, size_t *out)
{
    struct qr_slice v;
    uint64_t n = dflt;
    if (api_param(op->ar, "MaxItems", &v) && (!qr_slice_u64(v, 10000, &n) || n == 0)) {
        lambda_fail(op, 400, "InvalidParameterValueException",
                    "MaxItems must be between 1 and 10000.");
        return false;
    }
    *out = (size_t)n;
    return true;
}

/* Marker "name" or "name:version" (ours, from NextMarker). */
static bool parse_marker(struct lambda_op *op, struct qr_slice *out_name, uint32_t *out_v)
{
    struct qr_slice m;
    *out_name = qr_slice(NULL, 0);
    *out_v = 0;
    if (!api_param(op->ar, "Marker", &m) || m.len == 0)
        return true;
    size_t i = 0;
    while (i < m.len && m.p[i] != ':')
        i++;
    uint64_t v = 0;
    if (!fn_name_valid(qr_slice(m.p, i), STORE_FN_NAME_MAX) ||
        (i < m.len && !qr_slice_u64(qr_slice(m.p + i + 1, m.len - i - 1), UINT32_MAX, &v))) {
        lambda_fail(op, 400, "InvalidParameterValueException", "Invalid Marker.");
        return false;
    }
    *out_name = qr_slice(m.p, i);
    *out_v = (uint32_t)v;
    return true;
}

/* FunctionConfiguration of each listed version; NULL (op failed) when one cannot be
 * rendered. ListVersionsByFunction shows $LATEST with a qualified ARN, as AWS does. */
static json_t *render_configs(struct lambda_op *op, const struct store_fn *list, size_t n,
                              bool qualify_latest)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *c = lambda_config_render(op, &list[i]);
        if (c == NULL) {
            json_decref(arr);
            return NULL;
        }
        if (qualify_latest && list[i].version == STORE_FN_LATEST) {
            char arn[256], q[280];
            lambda_fn_arn(op, list[i].name, arn, sizeof(arn));
            snprintf(q, sizeof(q), "%s:$LATEST", arn);
            json_object_set_new(c, "FunctionArn", json_string(q));
        }
        json_array_append_new(arr, c);
    }
    return arr;
}

void lambda_list_functions(struct lambda_op *op)
{
    size_t max;
    struct qr_slice after;
    uint32_t after_v;
    struct qr_slice fv;
    bool all = api_param(op->ar, "FunctionVersion", &fv) && qr_slice_eq_lit(fv, "ALL");
    if (!page_size(op, 50, &max) || !parse_marker(op, &after, &after_v))
        return;
    struct store_fn *list;
    size_t n;
    bool trunc;
    enum qr_err err =
        store_fn_list(op->reader, after, after_v, all, max, op->pool, &list, &n, &trunc);
    if (err != QR_OK) {
        lambda_fail_err(op, err, "");
        return;
    }
    json_t *arr = render_configs(op, list, n, false);
    if (arr == NULL)
        return;
    op->out = json_pack("{s:o}", "Functions", arr);
    if (trunc && n) {
        char m[96];
        if (all)
            snprintf(m, sizeof(m), "%s:%u", list[n - 1].name, list[n - 1].version);
        else
            snprintf(m, sizeof(m), "%s", list[n - 1].name);
        json_object_set_new(op->out, "NextMarker", json_string(m));
    }
}

void lambda_list_versions(struct lambda_op *op)
{
    size_t max;
    struct qr_slice m;
    int64_t after = -1;
    if (!page_size(op, 50, &max))
        return;
    if (api_param(op->ar, "Marker", &m) && m.len) {
        uint64_t v;
        if (!qr_slice_u64(m, UINT32_MAX, &v)) {
            lambda_fail(op, 400, "InvalidParameterValueException", "Invalid Marker.");
            return;
        }
        after = (int64_t)v;
    }
    struct store_fn *list;
    size_t n;
    bool trunc;
    enum qr_err err = store_fn_versions(op->reader, qr_slice_cstr(op->t.name), after, max, op->pool,
                                        &list, &n, &trunc);
    if (err == QR_E_NO_SUCH_KEY) {
        fail_not_found(op, op->t.name);
        return;
    }
    if (err != QR_OK) {
        lambda_fail_err(op, err, "");
        return;
    }
    json_t *arr = render_configs(op, list, n, true);
    if (arr == NULL)
        return;
    op->out = json_pack("{s:o}", "Versions", arr);
    if (trunc && n) {
        char mk[16];
        snprintf(mk, sizeof(mk), "%u", list[n - 1].version);
        json_object_set_new(op->out, "NextMarker", json_string(mk));
    }
}

/* ---- delete ---- */

void lambda_delete_function(struct lambda_op *op)
{
    uint32_t v = STORE_FN_LATEST;
    if (op->t.qual[0]) {
        if (strcmp(op->t.qual, "$LATEST") == 0) {
            lambda_fail(op, 400, "InvalidParameterValueException",
                        "$LATEST version cannot be deleted without deleting the function.");
            return;
        }
        if (!fn_version_num(op->t.qual, &v)) {
            lambda_fail(op, 400, "InvalidParameterValueException",
                        "Deletion of aliases is not supported. Use DeleteAlias.");
            return;
        }
    }
    /* the code the deleted versions name, collected below if nothing else names it */
    struct store_fn *gone = NULL;
    size_t n_gone = 0;
    bool trunc = false;
    if (v == STORE_FN_LATEST) {
        if (store_fn_versions(op->reader, qr_slice_cstr(op->t.name), -1, 100000, op->pool, &gone,
                              &n_gone, &trunc) != QR_OK)
            n_gone = 0;
    } else {
        gone = h2o_mem_alloc_pool(op->pool, sizeof(*gone));
        n_gone = store_fn_get(op->reader, qr_slice_cstr(op->t.name), v, op->pool, gone) == QR_OK;
    }
    fn_code_lock();
    enum qr_err err = store_fn_delete(op->server->store, qr_slice_cstr(op->t.name), v);
    for (size_t i = 0; err == QR_OK && i < n_gone; i++)
        code_collect(op, gone[i].code_sha256);
    fn_code_unlock();
    if (err == QR_E_NO_SUCH_KEY) {
        char arn[256];
        lambda_fn_arn(op, op->t.name, arn, sizeof(arn));
        if (v != STORE_FN_LATEST)
            lambda_fail(op, 404, "ResourceNotFoundException", "Function not found: %s:%u", arn, v);
        else
            lambda_fail(op, 404, "ResourceNotFoundException", "Function not found: %s", arn);
        return;
    }
    if (err == QR_E_CONFLICT) {
        lambda_fail(op, 409, "ResourceConflictException",
                    "Unable to delete version because the following aliases reference it.");
        return;
    }
    if (err != QR_OK) {
        lambda_fail_err(op, err, "");
        return;
    }
    if (op->server->fn && v == STORE_FN_LATEST)
        fn_retire(op->server->fn, op->t.name);
    if (v == STORE_FN_LATEST) { /* its environments' credentials and its policy end with it */
        creds_revoke_function(op->server->creds, op->t.name, api_now_ms());
        lambda_drop_policy(op);
    }
    op->status = 204;
}

/* ---- updates ---- */

static bool no_qualifier(struct lambda_op *op)
{
    if (op->t.qual[0] && strcmp(op->t.qual, "$LATEST") != 0) {
        lambda_fail(op, 400, "InvalidParameterValueException",
                    "Only the unqualified function or $LATEST can be updated.");
        return false;
    }
    return true;
}

/* One attempt: read $LATEST, build the new row, write it if $LATEST is still what was
 * read (or what the client said). Returns QR_E_PRECONDITION on a lost race. */
static enum qr_err update_once(struct lambda_op *op, json_t *req, bool code_update,
                               const struct fn_code *code, const char *client_rev,
                               uint32_t *out_version)
{
    struct store_fn cur;
    enum qr_err err =
        store_fn_get(op->reader, qr_slice_cstr(op->t.name), STORE_FN_LATEST, op->pool, &cur);
    if (err != QR_OK)
        return err;
    json_t *old = lambda_config_parse(op, cur.config);
    if (old == NULL)
        return QR_E_INTERNAL;
    json_t *cfg;
    if (code_update) {
        cfg = json_deep_copy(old);
        json_t *arch = json_object_get(req, "Architectures");
        if (arch) {
            json_t *tmp = json_pack("{s:O}", "Architectures", arch);
            json_t *merged = lambda_config_from_request(op, tmp, cfg, false);
            json_decref(tmp);
            json_decref(cfg);
            cfg = merged;
        }
    } else {
        cfg = lambda_config_from_request(op, req, old, false);
    }
    json_decref(old);
    if (cfg == NULL)
        return QR_E_BAD_INPUT; /* op already failed */
    size_t len;
    char *s = lambda_json_dump(cfg, &len);
    json_decref(cfg);
    char rev[37], prev[37];
    qr_uuid4(rev);
    qr_uuid4(prev);
    bool publish = code_update && json_is_true(json_object_get(req, "Publish"));
    struct store_fn_update u = {
        .name = op->t.name,
        .if_revision = client_rev ? client_rev : cur.revision,
        .revision = rev,
        .now_ms = op->now_ms,
        .config = qr_slice(s, len),
        .code_sha256 = code ? code->sha256_b64 : NULL,
        .code_size = code ? code->zip_size : 0,
        .publish_revision = publish ? prev : NULL,
    };
    err = store_fn_update(op->server->store, &u, out_version);
    free(s);
    return err;
}

static void run_update(struct lambda_op *op, json_t *req, bool code_update,
                       const struct fn_code *code)
{
    const char *client_rev = opt_string(req, "RevisionId");
    uint32_t v = 0;
    enum qr_err err = QR_E_PRECONDITION;
    for (int i = 0; i < UPDATE_RETRIES && err == QR_E_PRECONDITION; i++) {
        err = update_once(op, req, code_update, code, client_rev, &v);
        if (client_rev)
            break; /* the client's condition failed: that is its answer */
    }
    if (op->err_type)
        return;
    if (err == QR_E_NO_SUCH_KEY) {
        fail_not_found(op, op->t.name);
        return;
    }
    if (err != QR_OK) {
        lambda_fail_err(op, err, "");
        return;
    }
    respond_config(op, op->t.name, v ? v : STORE_FN_LATEST, 200);
}

void lambda_update_configuration(struct lambda_op *op)
{
    if (!no_qualifier(op))
        return;
    json_t *req = lambda_body_json(op, LAMBDA_MAX_JSON_BODY);
    if (req == NULL)
        return;
    run_update(op, req, false, NULL);
    json_decref(req);
}

void lambda_update_code(struct lambda_op *op)
{
    if (!no_qualifier(op))
        return;
    json_t *req = lambda_body_json(op, LAMBDA_MAX_CODE_BODY);
    if (req == NULL)
        return;
    struct store_fn cur;
    enum qr_err err =
        store_fn_get(op->reader, qr_slice_cstr(op->t.name), STORE_FN_LATEST, op->pool, &cur);
    if (err != QR_OK) {
        if (err == QR_E_NO_SUCH_KEY)
            fail_not_found(op, op->t.name);
        else
            lambda_fail_err(op, err, "");
        goto out;
    }
    struct fn_code c;
    fn_code_lock();
    if (!code_from(op, req, &c)) {
        fn_code_unlock();
        goto out;
    }
    if (json_is_true(json_object_get(req, "DryRun"))) {
        op->out = lambda_config_render(op, &cur);
        if (op->out) {
            json_object_set_new(op->out, "CodeSha256", json_string(c.sha256_b64));
            json_object_set_new(op->out, "CodeSize", json_integer((json_int_t)c.zip_size));
        }
        code_collect(op, c.sha256_b64); /* nothing names code that was only tried */
        fn_code_unlock();
        goto out;
    }
    run_update(op, req, true, &c);
    /* the replaced code, or on failure the new one, unless something names it */
    code_collect(op, op->err_type ? c.sha256_b64 : cur.code_sha256);
    fn_code_unlock();
out:
    json_decref(req);
}

/* ---- publish ---- */

void lambda_publish_version(struct lambda_op *op)
{
    json_t *req = lambda_body_json(op, LAMBDA_MAX_JSON_BODY);
    char *cfg_s = NULL;
    if (req == NULL)
        return;
    const char *desc = opt_string(req, "Description");
    const char *rev_in = opt_string(req, "RevisionId");
    char read_rev[37];
    size_t cfg_len = 0;
    if (desc) {
        /* the version gets $LATEST's configuration with its own description */
        if (strlen(desc) > 256) {
            lambda_fail(op, 400, "InvalidParameterValueException",
                        "Description must be at most 256 characters.");
            goto out;
        }
        struct store_fn cur;
        enum qr_err err =
            store_fn_get(op->reader, qr_slice_cstr(op->t.name), STORE_FN_LATEST, op->pool, &cur);
        if (err != QR_OK) {
            if (err == QR_E_NO_SUCH_KEY)
                fail_not_found(op, op->t.name);
            else
                lambda_fail_err(op, err, "");
            goto out;
        }
        json_t *cfg = lambda_config_parse(op, cur.config);
        if (cfg == NULL)
            goto out;
        json_object_set_new(cfg, "Description", json_string(desc));
        cfg_s = lambda_json_dump(cfg, &cfg_len);
        json_decref(cfg);
        snprintf(read_rev, sizeof(read_rev), "%s", cur.revision);
        if (rev_in == NULL)
            rev_in = read_rev;
    }
    char rev[37];
    qr_uuid4(rev);
    struct store_fn_publish p = {
        .name = op->t.name,
        .if_revision = rev_in,
        .if_code_sha256 = opt_string(req, "CodeSha256"),
        .revision = rev,
        .now_ms = op->now_ms,
        .config = qr_slice(cfg_s, cfg_len),
    };
    uint32_t v;
    enum qr_err err = store_fn_publish(op->server->store, &p, &v);
    if (err == QR_E_NO_SUCH_KEY) {
        fail_not_found(op, op->t.name);
    } else if (err == QR_E_PRECONDITION && p.if_code_sha256 &&
               (rev_in == NULL || rev_in == read_rev)) {
        lambda_fail(op, 412, "PreconditionFailedException",
                    "CodeSHA256 (%s) is different from current CodeSHA256 in $LATEST. Please "
                    "try again with the CodeSHA256 in $LATEST.",
                    p.if_code_sha256);
    } else if (err != QR_OK) {
        lambda_fail_err(op, err, "");
    } else {
        respond_config(op, op->t.name, v, 201);
    }
out:
    free(cfg_s);
    json_decref(req);
}

/* ---- concurrency ---- */

#define MAX_RESERVED 1000

void lambda_put_concurrency(struct lambda_op *op)
{
    json_t *req = lambda_body_json(op, LAMBDA_MAX_JSON_BODY);
    if (req == NULL)
        return;
    json_t *v = json_object_get(req, "ReservedConcurrentExecutions");
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > MAX_RESERVED) {
        lambda_fail(op, 400, "InvalidParameterValueException",
                    "ReservedConcurrentExecutions must be between 0 and %d.", MAX_RESERVED);
        json_decref(req);
        return;
    }
    int32_t n = (int32_t)json_integer_value(v);
    json_decref(req);
    enum qr_err err = store_fn_set_concurrency(op->server->store, qr_slice_cstr(op->t.name), n);
    if (err == QR_E_NO_SUCH_KEY) {
        fail_not_found(op, op->t.name);
        return;
    }
    if (err != QR_OK) {
        lambda_fail_err(op, err, "");
        return;
    }
    op->out = json_pack("{s:i}", "ReservedConcurrentExecutions", n);
}

void lambda_delete_concurrency(struct lambda_op *op)
{
    enum qr_err err = store_fn_set_concurrency(op->server->store, qr_slice_cstr(op->t.name), -1);
    if (err == QR_E_NO_SUCH_KEY) {
        fail_not_found(op, op->t.name);
        return;
    }
    if (err != QR_OK) {
        lambda_fail_err(op, err, "");
        return;
    }
    op->status = 204;
}

void lambda_get_concurrency(struct lambda_op *op)
{
    struct store_fn fn;
    enum qr_err err =
        store_fn_get(op->reader, qr_slice_cstr(op->t.name), STORE_FN_LATEST, op->pool, &fn);
    if (err == QR_E_NO_SUCH_KEY) {
        fail_not_found(op, op->t.name);
        return;
    }
    if (err != QR_OK) {
        lambda_fail_err(op, err, "");
        return;
    }
    op->out = json_object();
    if (fn.reserved >= 0)
        json_object_set_new(op->out, "ReservedConcurrentExecutions", json_integer(fn.reserved));
}

void lambda_get_account_settings(struct lambda_op *op)
{
    op->out =
        json_pack("{s:{s:I, s:i, s:i, s:i, s:i}, s:{s:I, s:I}}", "AccountLimit", "TotalCodeSize",
                  (json_int_t)80530636800LL, "CodeSizeUnzipped", (int)FN_CODE_MAX_UNZIPPED,
                  "CodeSizeZipped", (int)FN_CODE_MAX_ZIP_DIRECT, "ConcurrentExecutions",
                  MAX_RESERVED, "UnreservedConcurrentExecutions", MAX_RESERVED, "AccountUsage",
                  "TotalCodeSize", (json_int_t)0, "FunctionCount", (json_int_t)0);
}
