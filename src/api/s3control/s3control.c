/*
 * s3control.c - the S3 Control jobs API: CreateJob, DescribeJob, ListJobs,
 * UpdateJobPriority, UpdateJobStatus, Get/Put/DeleteJobTagging.
 *
 * Every path under /v20180820/ arrives here whatever the Host (the SDKs send to
 * ACCOUNT.<endpoint host>). x-amz-account-id must name this server's account. Each
 * operation runs on a worker (they read or write the store) and answers from the loop.
 * Errors use S3 Control's shape, <ErrorResponse><Error><Code/><Message/></Error>, with
 * the model's exception names as codes; other S3 Control operations answer 501 naming
 * what was asked.
 */
#include "api/s3control/s3control_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "api/authorize.h"
#include "api/xml.h"
#include "util/codec.h"
#include "util/limits.h"

typedef void (*s3c_fn)(struct s3c_op *op);

struct s3c_route {
    const char *method;
    const char *sub; /* "" for /jobs, NULL for /jobs/{id}, else /jobs/{id}/<sub> */
    bool has_id;
    const char *op;
    s3c_fn fn;
    bool keyed; /* decided on the worker, with job condition keys (authorize.c) */
};

static void send_result(struct s3c_op *op)
{
    struct api_req *ar = op->ar;
    if (op->err_code) {
        struct qr_buf b;
        qr_buf_init(&b, 8192);
        (void)qr_buf_adds(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ErrorResponse><Error>");
        xml_elem_s(&b, "Code", op->err_code);
        xml_elem_s(&b, "Message", op->err_msg);
        (void)qr_buf_adds(&b, "</Error>");
        xml_elem_s(&b, "RequestId", ar->request_id);
        xml_elem_s(&b, "HostId", ar->request_id);
        (void)qr_buf_adds(&b, "</ErrorResponse>");
        api_send(ar, op->status, "application/xml", b.p, b.len);
        qr_buf_dispose(&b);
        return;
    }
    int status = op->status ? op->status : 200;
    api_send(ar, status, op->body.len ? "application/xml" : NULL, op->body.p, op->body.len);
}

/* ---- the state names: one table ---- */

static const char *const state_names[BATCH__STATES] = {
    [BATCH_NEW] = "New",
    [BATCH_PREPARING] = "Preparing",
    [BATCH_SUSPENDED] = "Suspended",
    [BATCH_READY] = "Ready",
    [BATCH_ACTIVE] = "Active",
    [BATCH_PAUSING] = "Pausing",
    [BATCH_PAUSED] = "Paused",
    [BATCH_COMPLETE] = "Complete",
    [BATCH_COMPLETING] = "Completing",
    [BATCH_CANCELLING] = "Cancelling",
    [BATCH_CANCELLED] = "Cancelled",
    [BATCH_FAILING] = "Failing",
    [BATCH_FAILED] = "Failed",
};

const char *s3c_state_name(enum batch_state s)
{
    return (unsigned)s < BATCH__STATES ? state_names[s] : "Failed";
}

bool s3c_state_parse(struct qr_slice name, enum batch_state *out)
{
    for (size_t i = 0; i < BATCH__STATES; i++)
        if (qr_slice_eq_lit(name, state_names[i])) {
            *out = (enum batch_state)i;
            return true;
        }
    return false;
}

/* ---- operations ---- */

static enum qr_err body_doc(struct s3c_op *op, xmlDocPtr *out)
{
    h2o_req_t *req = op->ar->req;
    struct qr_slice body =
        req->entity.base ? qr_slice(req->entity.base, req->entity.len) : qr_slice(NULL, 0);
    enum qr_err err = body.len ? xml_parse(body, out) : QR_E_BAD_INPUT;
    if (err != QR_OK)
        s3c_fail(op, 400, "MalformedXML",
                 "The XML you provided was not well-formed or did not validate against our "
                 "published schema.");
    return err;
}

/* The s3:CreateJob decision comes first, with the keys the body gives (a body that is not
 * XML gives none), so a caller who may not create jobs learns nothing from validation. */
static void create_job(struct s3c_op *op)
{
    xmlDocPtr doc = NULL;
    struct batch_def *def = h2o_mem_alloc_pool(&op->pool, sizeof(*def));
    struct batch_tags *tags = h2o_mem_alloc_pool(&op->pool, sizeof(*tags));
    char id[STORE_JOB_ID_MAX + 1], msg[256];
    enum qr_err xerr = body_doc(op, &doc);
    if (!s3c_authorize_create(op, doc) || xerr != QR_OK || !s3c_parse_create(op, doc, def, tags) ||
        !s3c_role_usable(op, def->role_arn))
        goto out;
    enum qr_err err = batch_create(op->server->batch, op->reader, def, tags, id, msg);
    if (err == QR_E_BAD_INPUT)
        s3c_fail(op, 400, "BadRequestException", "%s", msg);
    else if (err == QR_E_NOT_IMPLEMENTED)
        s3c_fail(op, 501, "NotImplemented", "%s", msg);
    else if (err == QR_E_CONFLICT)
        s3c_fail(op, 409, "IdempotencyException",
                 "The ClientRequestToken was already used by a different request.");
    else if (err != QR_OK)
        s3c_fail_err(op, err);
    if (err != QR_OK)
        goto out;
    xml_begin(&op->body, "CreateJobResult", S3C_NS);
    xml_elem_s(&op->body, "JobId", id);
    xml_close(&op->body, "CreateJobResult");
out:
    if (doc)
        xmlFreeDoc(doc);
}

static bool load_job(struct s3c_op *op, struct batch_job *j)
{
    enum qr_err err = batch_describe(op->reader, op->id, &op->pool, j);
    if (err != QR_OK)
        s3c_fail_err(op, err);
    return err == QR_OK;
}

static void describe_job(struct s3c_op *op)
{
    struct batch_job j;
    if (!load_job(op, &j))
        return;
    xml_begin(&op->body, "DescribeJobResult", S3C_NS);
    s3c_render_job(op, &op->body, &j);
    xml_close(&op->body, "DescribeJobResult");
}

/* ListJobs: newest first; NextToken is the creation sequence number to continue below. */
static void list_jobs(struct s3c_op *op)
{
    struct api_req *ar = op->ar;
    uint64_t mask = 0, max = 1000, before = INT64_MAX;
    for (size_t i = 0; i < ar->n_params; i++) {
        const struct api_param *p = &ar->params[i];
        enum batch_state s;
        if (!qr_slice_eq_lit(p->name, "jobStatuses"))
            continue;
        if (!s3c_state_parse(p->value, &s)) {
            s3c_fail(op, 400, "InvalidRequestException", "Invalid job status filter: %.*s",
                     (int)(p->value.len > 64 ? 64 : p->value.len), (const char *)p->value.p);
            return;
        }
        mask |= BATCH_BIT(s);
    }
    struct qr_slice v;
    if (api_param(ar, "maxResults", &v) && !qr_slice_u64(v, 1000, &max)) {
        s3c_fail(op, 400, "InvalidRequestException", "maxResults must be between 0 and 1000.");
        return;
    }
    if (api_param(ar, "nextToken", &v) && (!qr_slice_u64(v, INT64_MAX, &before) || before == 0)) {
        s3c_fail(op, 400, "InvalidNextTokenException", "The continuation token is not valid.");
        return;
    }
    struct store_job *rows;
    size_t n;
    bool more;
    enum qr_err err = store_job_list(op->reader, mask ? mask : ~0ull, (int64_t)before, (size_t)max,
                                     &op->pool, &rows, &n, &more);
    if (err != QR_OK) {
        s3c_fail_err(op, err);
        return;
    }
    xml_begin(&op->body, "ListJobsResult", S3C_NS);
    if (more && n > 0) {
        char t[24];
        snprintf(t, sizeof(t), "%lld", (long long)rows[n - 1].seq);
        xml_elem_s(&op->body, "NextToken", t);
    }
    xml_open(&op->body, "Jobs");
    for (size_t i = 0; i < n; i++) {
        struct batch_job j;
        if (batch_describe(op->reader, qr_slice_cstr(rows[i].id), &op->pool, &j) == QR_OK)
            s3c_render_list_entry(&op->body, &j);
    }
    xml_close(&op->body, "Jobs");
    xml_close(&op->body, "ListJobsResult");
}

static void update_priority(struct s3c_op *op)
{
    struct qr_slice v;
    uint64_t prio;
    bool valid = api_param(op->ar, "priority", &v) && qr_slice_u64(v, 2147483647u, &prio);
    if (!s3c_authorize_existing(op, valid ? (int64_t)prio : -1, NULL))
        return;
    if (!valid) {
        s3c_fail(op, 400, "BadRequestException",
                 "priority must be an integer between 0 and 2147483647.");
        return;
    }
    enum qr_err err = batch_update_priority(op->server->batch, op->id, (int64_t)prio);
    if (err == QR_E_CONFLICT) {
        s3c_fail(op, 400, "BadRequestException", "The job has already ended.");
        return;
    }
    if (err != QR_OK) {
        s3c_fail_err(op, err);
        return;
    }
    xml_begin(&op->body, "UpdateJobPriorityResult", S3C_NS);
    xml_elem(&op->body, "JobId", op->id);
    xml_elem_u64(&op->body, "Priority", prio);
    xml_close(&op->body, "UpdateJobPriorityResult");
}

static void update_status(struct s3c_op *op)
{
    struct qr_slice v, reason = qr_slice(NULL, 0);
    enum batch_state want, now;
    if (!s3c_authorize_existing(op, -1, NULL))
        return;
    if (!api_param(op->ar, "requestedJobStatus", &v) ||
        !(qr_slice_eq_lit(v, "Ready") || qr_slice_eq_lit(v, "Cancelled"))) {
        s3c_fail(op, 400, "BadRequestException", "requestedJobStatus must be Ready or Cancelled.");
        return;
    }
    want = qr_slice_eq_lit(v, "Ready") ? BATCH_READY : BATCH_CANCELLED;
    if (api_param(op->ar, "statusUpdateReason", &reason) && (reason.len == 0 || reason.len > 256)) {
        s3c_fail(op, 400, "BadRequestException",
                 "statusUpdateReason must be 1 to 256 characters long.");
        return;
    }
    enum qr_err err = batch_update_status(op->server->batch, op->id, want, reason, &now);
    if (err == QR_E_CONFLICT) {
        s3c_fail(op, 409, "JobStatusException", "Job %.*s cannot be moved to %s from its status.",
                 (int)op->id.len, (const char *)op->id.p,
                 want == BATCH_READY ? "Ready" : "Cancelled");
        return;
    }
    if (err != QR_OK) {
        s3c_fail_err(op, err);
        return;
    }
    xml_begin(&op->body, "UpdateJobStatusResult", S3C_NS);
    xml_elem(&op->body, "JobId", op->id);
    xml_elem_s(&op->body, "Status", s3c_state_name(now));
    if (reason.len)
        xml_elem(&op->body, "StatusUpdateReason", reason);
    xml_close(&op->body, "UpdateJobStatusResult");
}

static void get_tagging(struct s3c_op *op)
{
    struct batch_job j;
    if (!load_job(op, &j))
        return;
    batch_progress_tags(&j, j.tags); /* opt-in, beyond AWS: batch/progress.c */
    xml_begin(&op->body, "GetJobTaggingResult", S3C_NS);
    s3c_render_tags(&op->body, "Tags", j.tags->v, j.tags->n);
    xml_close(&op->body, "GetJobTaggingResult");
}

static void put_tagging(struct s3c_op *op)
{
    xmlDocPtr doc = NULL;
    struct batch_tags *t = h2o_mem_alloc_pool(&op->pool, sizeof(*t));
    xmlNodePtr root;
    enum qr_err xerr = body_doc(op, &doc);
    if (!s3c_authorize_existing(op, -1, doc) || xerr != QR_OK) {
        if (doc)
            xmlFreeDoc(doc);
        return;
    }
    if (!(root = xml_root(doc, "PutJobTaggingRequest")) || !xml_child(root, "Tags")) {
        s3c_fail(op, 400, "MalformedXML", "PutJobTaggingRequest needs a Tags element.");
    } else if (s3c_parse_tags(op, xml_child(root, "Tags"), t)) {
        batch_strip_progress_tags(t);
        enum qr_err err = batch_put_tags(op->server->batch, op->id, t);
        if (err != QR_OK)
            s3c_fail_err(op, err);
    }
    xmlFreeDoc(doc);
}

static void delete_tagging(struct s3c_op *op)
{
    struct batch_tags *t = h2o_mem_alloc_pool(&op->pool, sizeof(*t));
    t->n = 0;
    if (!s3c_authorize_existing(op, -1, NULL))
        return;
    enum qr_err err = batch_put_tags(op->server->batch, op->id, t);
    if (err != QR_OK)
        s3c_fail_err(op, err);
    else
        op->status = 204;
}

static const struct s3c_route routes[] = {
    {"POST", "", false, "CreateJob", create_job, true},
    {"GET", "", false, "ListJobs", list_jobs, false},
    {"GET", NULL, true, "DescribeJob", describe_job, false},
    {"POST", "priority", true, "UpdateJobPriority", update_priority, true},
    {"POST", "status", true, "UpdateJobStatus", update_status, true},
    {"GET", "tagging", true, "GetJobTagging", get_tagging, false},
    {"PUT", "tagging", true, "PutJobTagging", put_tagging, true},
    {"DELETE", "tagging", true, "DeleteJobTagging", delete_tagging, true},
};

/* ---- dispatch ---- */

static void dispose_op(void *p)
{
    struct s3c_op *op = p;
    qr_buf_dispose(&op->body);
    h2o_mem_clear_pool(&op->pool);
}

static void job_run(struct qr_job *job)
{
    struct s3c_op *op = H2O_STRUCT_FROM_MEMBER(struct s3c_op, job, job);
    op->reader = job->reader;
    if (op->server->batch == NULL)
        s3c_fail(op, 503, "ServiceUnavailable", "The batch engine is not running.");
    else
        op->route->fn(op);
}

static void job_done(struct qr_job *job)
{
    struct s3c_op *op = H2O_STRUCT_FROM_MEMBER(struct s3c_op, job, job);
    send_result(op);
}

static bool id_valid(struct qr_slice id)
{
    if (id.len < 5 || id.len > 36)
        return false;
    for (size_t i = 0; i < id.len; i++) {
        uint8_t c = id.p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

/* Splits "/v20180820/jobs[/ID[/SUB]]" (raw path; ids and subs need no decoding). */
static const struct s3c_route *find_route(struct s3c_op *op, struct qr_slice method)
{
    struct qr_slice p = op->ar->path, segs[4];
    size_t n = 0, i = 1;
    while (i <= p.len && n < 4) {
        size_t s = i;
        while (i < p.len && p.p[i] != '/')
            i++;
        segs[n++] = qr_slice(p.p + s, i - s);
        i++;
    }
    if (i <= p.len || n < 2 || !qr_slice_eq_lit(segs[1], "jobs"))
        return NULL;
    op->id = n >= 3 ? segs[2] : qr_slice(NULL, 0);
    for (size_t k = 0; k < sizeof(routes) / sizeof(*routes); k++) {
        const struct s3c_route *r = &routes[k];
        if (!qr_slice_eq_lit(method, r->method) || r->has_id != (n >= 3))
            continue;
        if ((r->sub == NULL && n == 3) || (r->sub && r->sub[0] == '\0' && n == 2) ||
            (r->sub && r->sub[0] && n == 4 && qr_slice_eq_lit(segs[3], r->sub)))
            return r;
    }
    return NULL;
}

void s3control_handle(struct api_req *ar)
{
    h2o_req_t *req = ar->req;
    struct s3c_op *op = h2o_mem_alloc_shared(&req->pool, sizeof(*op), dispose_op);
    memset(op, 0, sizeof(*op));
    op->ar = ar;
    op->server = ar->server;
    h2o_mem_init_pool(&op->pool);
    qr_buf_init(&op->body, S3C_MAX_OUT);
    ar->op = "S3Control";
    struct qr_slice method = qr_slice(req->input.method.base, req->input.method.len), acct;
    op->route = find_route(op, method);
    if (op->route == NULL) {
        s3c_fail(op, 501, "NotImplemented", "S3 Control %.*s %.*s is not implemented.",
                 (int)(method.len > 8 ? 8 : method.len), (const char *)method.p,
                 (int)(ar->path.len > 200 ? 200 : ar->path.len), (const char *)ar->path.p);
        send_result(op);
        return;
    }
    ar->op = op->route->op;
    ar->log_key = op->id;
    if (!api_header(ar, "x-amz-account-id", &acct) ||
        !qr_slice_eq_lit(acct, ar->server->cfg.account_id)) {
        /* The account is the caller's own: another one is not ours to act on. */
        s3c_fail(op, 403, "AccessDenied", "Access Denied");
        send_result(op);
        return;
    }
    if (op->route->has_id && !id_valid(op->id)) {
        s3c_fail(op, 400, "BadRequestException",
                 "The job id must be 5 to 36 characters of [a-zA-Z0-9-_].");
        send_result(op);
        return;
    }
    if (!op->route->keyed && !s3c_authorize(op)) {
        send_result(op);
        return;
    }
    op->job.thread = ar->thread;
    op->job.run = job_run;
    op->job.done = job_done;
    server_submit(ar->server, &op->job);
}
