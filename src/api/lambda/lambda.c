/*
 * lambda.c - Lambda request dispatch: the path (date prefix, function, sub-resource,
 * alias) and method pick an operation from one table; the handler runs on the loop or a
 * worker; lambda_finish sends its JSON, raw bytes or error. Errors are REST-JSON as
 * botocore parses them: the code in x-amzn-ErrorType, {"Type","message"} in the body.
 */
#include "api/lambda/lambda_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/codec.h"

struct lambda_route {
    const char *method;
    const char *date; /* path prefix, e.g. "2015-03-31" */
    const char *root; /* "functions" or "account-settings" */
    size_t nseg;      /* segments after the date: 1 (root), 2 (+name), 3, 4 */
    const char *sub;  /* segment 3, or NULL */
    const char *op;   /* operation name (logs) */
    lambda_fn fn;
    unsigned flags;
};

#define W LAMBDA_ON_WORKER
#define N LAMBDA_NEEDS_NAME
#define A LAMBDA_NEEDS_ALIAS
static const struct lambda_route routes[] = {
    {"POST", "2015-03-31", "functions", 1, NULL, "CreateFunction", lambda_create_function, W},
    {"GET", "2015-03-31", "functions", 1, NULL, "ListFunctions", lambda_list_functions, 0},
    {"GET", "2015-03-31", "functions", 2, NULL, "GetFunction", lambda_get_function, N},
    {"DELETE", "2015-03-31", "functions", 2, NULL, "DeleteFunction", lambda_delete_function, W | N},
    {"GET", "2015-03-31", "functions", 3, "configuration", "GetFunctionConfiguration",
     lambda_get_configuration, N},
    {"PUT", "2015-03-31", "functions", 3, "configuration", "UpdateFunctionConfiguration",
     lambda_update_configuration, W | N},
    {"PUT", "2015-03-31", "functions", 3, "code", "UpdateFunctionCode", lambda_update_code, W | N},
    {"POST", "2015-03-31", "functions", 3, "versions", "PublishVersion", lambda_publish_version,
     W | N},
    {"GET", "2015-03-31", "functions", 3, "versions", "ListVersionsByFunction",
     lambda_list_versions, N},
    {"POST", "2015-03-31", "functions", 3, "aliases", "CreateAlias", lambda_create_alias, W | N},
    {"POST", "2015-03-31", "functions", 3, "policy", "AddPermission", lambda_add_permission, W | N},
    {"GET", "2015-03-31", "functions", 3, "policy", "GetPolicy", lambda_get_policy, N},
    {"DELETE", "2015-03-31", "functions", 4, "policy", "RemovePermission", lambda_remove_permission,
     W | N | A},
    {"GET", "2015-03-31", "functions", 3, "aliases", "ListAliases", lambda_list_aliases, N},
    {"GET", "2015-03-31", "functions", 4, "aliases", "GetAlias", lambda_get_alias, N | A},
    {"PUT", "2015-03-31", "functions", 4, "aliases", "UpdateAlias", lambda_update_alias, W | N | A},
    {"DELETE", "2015-03-31", "functions", 4, "aliases", "DeleteAlias", lambda_delete_alias,
     W | N | A},
    {"POST", "2015-03-31", "functions", 3, "invocations", "Invoke", lambda_invoke, N},
    {"PUT", "2017-10-31", "functions", 3, "concurrency", "PutFunctionConcurrency",
     lambda_put_concurrency, W | N},
    {"DELETE", "2017-10-31", "functions", 3, "concurrency", "DeleteFunctionConcurrency",
     lambda_delete_concurrency, W | N},
    {"GET", "2019-09-30", "functions", 3, "concurrency", "GetFunctionConcurrency",
     lambda_get_concurrency, N},
    {"GET", "2016-08-19", "account-settings", 1, NULL, "GetAccountSettings",
     lambda_get_account_settings, 0},
};
#undef W
#undef N
#undef A

/* ---- errors and output ---- */

void lambda_fail(struct lambda_op *op, int status, const char *type, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(op->err_msg, sizeof(op->err_msg), fmt, ap);
    va_end(ap);
    op->status = status;
    op->err_type = type;
}

void lambda_fail_err(struct lambda_op *op, enum qr_err err, const char *what)
{
    switch (err) {
    case QR_E_NO_SUCH_KEY:
        lambda_fail(op, 404, "ResourceNotFoundException", "%s", what);
        return;
    case QR_E_CONFLICT:
        lambda_fail(op, 409, "ResourceConflictException", "%s", what);
        return;
    case QR_E_PRECONDITION:
        lambda_fail(op, 412, "PreconditionFailedException",
                    "The Revision Id provided does not match the latest Revision Id. Call the "
                    "GetFunction/GetAlias API to retrieve the latest Revision Id");
        return;
    case QR_E_BAD_INPUT:
        lambda_fail(op, 400, "InvalidParameterValueException", "%s", what);
        return;
    case QR_E_TOO_LARGE:
        lambda_fail(op, 413, "RequestEntityTooLargeException", "%s", what);
        return;
    case QR_E_BUSY:
        lambda_fail(op, 429, "TooManyRequestsException", "Rate exceeded");
        return;
    default:
        lambda_fail(op, 500, "ServiceException", "An internal error occurred (%s).",
                    qr_errname(err));
        return;
    }
}

void lambda_header(struct lambda_op *op, const char *name, const char *value, size_t len)
{
    if (op->n_hdrs == LAMBDA_MAX_HDRS)
        return; /* sized above what any Lambda response carries */
    struct lambda_hdr *h = &op->hdrs[op->n_hdrs++];
    h->name = name;
    h->value = qr_xstrndup(value, len);
    h->len = len;
}

json_t *lambda_body_json(struct lambda_op *op, size_t max)
{
    if (op->body.len > max) {
        lambda_fail(op, 413, "RequestEntityTooLargeException",
                    "Request must be smaller than %zu bytes for the %s operation", max, op->ar->op);
        return NULL;
    }
    if (op->body.len == 0)
        return json_object();
    json_error_t jerr;
    json_t *j = json_loadb((const char *)op->body.p, op->body.len, JSON_REJECT_DUPLICATES, &jerr);
    if (j == NULL || !json_is_object(j)) {
        json_decref(j);
        lambda_fail(op, 400, "InvalidRequestContentException",
                    "Could not parse request body into json: %s", j ? "not an object" : jerr.text);
        return NULL;
    }
    return j;
}

char *lambda_json_dump(const json_t *v, size_t *out_len)
{
    char *s = json_dumps(v, JSON_COMPACT);
    if (s == NULL)
        abort(); /* allocation failure: jansson fails only on malloc */
    *out_len = strlen(s);
    return s;
}

void lambda_fn_arn(const struct lambda_op *op, const char *name, char *out, size_t cap)
{
    const struct qr_config *c = &op->server->cfg;
    snprintf(out, cap, "arn:aws:lambda:%s:%s:function:%s", c->region, c->account_id, name);
}

void lambda_finish(struct lambda_op *op)
{
    struct api_req *ar = op->ar;
    for (size_t i = 0; i < op->n_hdrs; i++)
        api_add_header(ar, op->hdrs[i].name, op->hdrs[i].value, op->hdrs[i].len);
    if (op->err_type) {
        json_t *e = json_pack("{s:s, s:s}", "Type", op->status >= 500 ? "Service" : "User",
                              "message", op->err_msg);
        if (op->err_reason)
            json_object_set_new(e, "Reason", json_string(op->err_reason));
        size_t n;
        char *s = lambda_json_dump(e, &n);
        json_decref(e);
        api_add_header_s(ar, "x-amzn-ErrorType", op->err_type);
        if (op->status == 429)
            api_add_header_s(ar, "Retry-After", "1");
        api_send(ar, op->status, "application/json", s, n);
        free(s);
        return;
    }
    int status = op->status ? op->status : 200;
    if (op->out) {
        size_t n;
        char *s = lambda_json_dump(op->out, &n);
        api_send(ar, status, "application/json", s, n);
        free(s);
        return;
    }
    api_send(ar, status, op->raw_len || status == 200 ? "application/json" : NULL, op->raw,
             op->raw_len);
}

/* ---- the request ---- */

static void dispose_op(void *p)
{
    struct lambda_op *op = p;
    json_decref(op->out);
    free(op->raw);
    for (size_t i = 0; i < op->n_hdrs; i++)
        free(op->hdrs[i].value);
    lambda_invoke_dispose(op);
    h2o_mem_clear_pool(&op->own_pool);
}

static void job_run(struct qr_job *job)
{
    struct lambda_op *op = H2O_STRUCT_FROM_MEMBER(struct lambda_op, job, job);
    op->reader = job->reader;
    /* Authorized here rather than on the loop: CreateFunction's body (a base64 zip of up
     * to 70 MB) is parsed for FunctionName and Role, which must not stall the loop. */
    if (lambda_authorize(op))
        op->route->fn(op);
}

static void job_done(struct qr_job *job)
{
    struct lambda_op *op = H2O_STRUCT_FROM_MEMBER(struct lambda_op, job, job);
    op->reader = NULL;
    lambda_finish(op);
}

#define MAX_SEGS 6

/* Splits the path into decoded segments (in the req pool); empty segments from a
 * trailing or doubled slash are dropped. */
static bool split_path(struct lambda_op *op, struct qr_slice *segs, size_t *out_n)
{
    struct qr_slice p = op->ar->path;
    size_t n = 0, i = 0;
    while (i < p.len) {
        while (i < p.len && p.p[i] == '/')
            i++;
        size_t start = i;
        while (i < p.len && p.p[i] != '/')
            i++;
        if (i == start)
            break;
        if (n == MAX_SEGS)
            return false;
        struct qr_buf b;
        qr_buf_init(&b, 4096);
        enum qr_err e = qr_uri_decode(qr_slice(p.p + start, i - start), false, &b);
        if (e == QR_OK) {
            h2o_iovec_t v = h2o_strdup(&op->ar->req->pool, b.p ? (char *)b.p : "", b.len);
            segs[n++] = qr_slice(v.base, v.len);
        }
        qr_buf_dispose(&b);
        if (e != QR_OK)
            return false;
    }
    *out_n = n;
    return true;
}

static const struct lambda_route *find_route(struct qr_slice method, const struct qr_slice *segs,
                                             size_t n)
{
    if (n < 2)
        return NULL;
    for (size_t i = 0; i < sizeof(routes) / sizeof(*routes); i++) {
        const struct lambda_route *r = &routes[i];
        if (!qr_slice_eq_lit(method, r->method) || !qr_slice_eq_lit(segs[0], r->date) ||
            !qr_slice_eq_lit(segs[1], r->root) || n != r->nseg + 1)
            continue;
        if (r->sub && !qr_slice_eq_lit(segs[3], r->sub))
            continue;
        return r;
    }
    return NULL;
}

void lambda_handle(struct api_req *ar)
{
    h2o_req_t *req = ar->req;
    struct lambda_op *op = h2o_mem_alloc_shared(&req->pool, sizeof(*op), dispose_op);
    memset(op, 0, sizeof(*op));
    op->ar = ar;
    op->server = ar->server;
    op->lx = ar->server->lambda;
    op->pool = &req->pool;
    h2o_mem_init_pool(&op->own_pool);
    op->now_ms = api_now_ms();
    op->body = req->entity.base ? qr_slice(req->entity.base, req->entity.len) : qr_slice(NULL, 0);

    qr_uuid4(op->rid);
    api_add_header_s(ar, "x-amzn-RequestId", op->rid);

    struct qr_slice segs[MAX_SEGS];
    size_t n = 0;
    struct qr_slice method = qr_slice(req->input.method.base, req->input.method.len);
    if (split_path(op, segs, &n))
        op->route = find_route(method, segs, n);
    if (op->route == NULL) {
        ar->op = "Lambda";
        lambda_fail(op, 404, "UnknownOperationException", "Unknown operation %.*s %.*s",
                    (int)(method.len > 8 ? 8 : method.len), (const char *)method.p,
                    (int)(ar->path.len > 200 ? 200 : ar->path.len), (const char *)ar->path.p);
        lambda_finish(op);
        return;
    }
    ar->op = op->route->op;
    if (op->route->flags & LAMBDA_NEEDS_NAME) {
        if (!lambda_parse_target(op, segs[2], &op->t)) {
            lambda_finish(op);
            return;
        }
        ar->log_bucket = qr_slice_cstr(op->t.name);
    }
    if (op->route->flags & LAMBDA_NEEDS_ALIAS) {
        if (!fn_name_valid(segs[4], STORE_FN_ALIAS_MAX)) {
            lambda_fail(op, 400, "ValidationException",
                        "1 validation error detected: Value at 'name' failed to satisfy "
                        "constraint: Member must satisfy regular expression pattern: "
                        "(?!^[0-9]+$)([a-zA-Z0-9-_]+)");
            lambda_finish(op);
            return;
        }
        memcpy(op->alias, segs[4].p, segs[4].len);
        op->alias[segs[4].len] = '\0';
        ar->log_key = segs[4];
    }
    if (!(op->route->flags & LAMBDA_ON_WORKER) && !lambda_authorize(op)) {
        lambda_finish(op);
        return;
    }
    if (op->route->fn == lambda_invoke) {
        op->reader = ar->thread->reader;
        lambda_invoke(op); /* finishes itself */
        return;
    }
    if (op->route->flags & LAMBDA_ON_WORKER) {
        op->pool = &op->own_pool;
        op->job.thread = ar->thread;
        op->job.run = job_run;
        op->job.done = job_done;
        server_submit(ar->server, &op->job);
        return;
    }
    op->reader = ar->thread->reader;
    op->route->fn(op);
    lambda_finish(op);
}

/* ---- the context ---- */

enum qr_err lambda_new(struct qr_server *s, struct lambda_ctx **out)
{
    struct lambda_ctx *lx = qr_xmalloc(sizeof(*lx));
    memset(lx, 0, sizeof(*lx));
    lx->server = s;
    enum qr_err err = lambda_dedupe_new(&lx->dd);
    if (err == QR_OK)
        err = lambda_events_start(lx, &lx->ev);
    if (err != QR_OK) {
        lambda_free(lx);
        return err;
    }
    *out = lx;
    return QR_OK;
}

void lambda_stop(struct lambda_ctx *lx)
{
    if (lx && lx->ev)
        lambda_events_stop(lx->ev);
}

void lambda_free(struct lambda_ctx *lx)
{
    if (lx == NULL)
        return;
    if (lx->ev) {
        lambda_events_stop(lx->ev);
        lambda_events_free(lx->ev);
    }
    lambda_dedupe_free(lx->dd);
    free(lx);
}
