/*
 * authorize.c - the authorization of every S3 Control request: the operation's s3: action
 * (the "s3control" rows of auth/authz's table) on the job's ARN, or on "*" for CreateJob
 * and ListJobs (Service Authorization Reference), with the job condition keys that
 * reference lists for the action (auth/authz's authz_job_ctx). Requests without such keys
 * are decided from the dispatch in s3control.c once the route and job id are known; the
 * others on the worker once their values are known: CreateJob's from its body
 * (s3:RequestJobPriority, s3:RequestJobOperation), the rest from the job as stored now
 * (s3:ExistingJobPriority, s3:ExistingJobOperation, s3:JobSuspendedCause) and the
 * priority asked for; CreateJob and PutJobTagging also with their tags (aws:RequestTag/KEY,
 * aws:TagKeys), read by the same parser that stores them. CreateJob's secondary checks
 * (iam:PassRole on RoleArn, a role that trusts batchoperations.s3.amazonaws.com) are create.c's,
 * made once its body is decoded.
 */
#include "api/s3control/s3control_int.h"

#include <stdio.h>
#include <string.h>

#include "api/authorize.h"
#include "api/xml.h"
#include "util/codec.h"

#define MSG_CAP 2600

/* The model's OperationName values, the members of JobOperation: what
 * s3:RequestJobOperation may be. Another element name gives no key (the parse refuses it). */
static const char *const operation_names[] = {
    "LambdaInvoke",
    "S3PutObjectCopy",
    "S3PutObjectAcl",
    "S3PutObjectTagging",
    "S3DeleteObjectTagging",
    "S3InitiateRestoreObject",
    "S3PutObjectLegalHold",
    "S3PutObjectRetention",
    "S3ReplicateObject",
    "S3ComputeObjectChecksum",
    "S3UpdateObjectEncryption",
};

/* s3:JobSuspendedCause of a job waiting for confirmation: the value the Service
 * Authorization Reference gives as its example. */
#define SUSPENDED_AWAITING_CONFIRMATION "AWAITING_CONFIRMATION"

static bool deny(struct s3c_op *op, const char *msg)
{
    s3c_fail(op, 403, "AccessDenied", "%s", msg);
    return false;
}

/* The request's tags for aws:RequestTag/${TagKey} and aws:TagKeys, read by the parser
 * that will store them (errors go to a scratch op: the request's own validation reports
 * them later); none when the list is missing or invalid. */
static const struct batch_tags *request_tags(struct s3c_op *op, xmlNodePtr parent)
{
    struct batch_tags *t = h2o_mem_alloc_pool(&op->pool, sizeof(*t));
    struct s3c_op *scratch = h2o_mem_alloc_pool(&op->pool, sizeof(*scratch));
    memset(scratch, 0, sizeof(*scratch));
    t->n = 0;
    if (parent && !s3c_parse_tags(scratch, parent, t))
        t->n = 0;
    return t;
}

static bool decide(struct s3c_op *op, const struct authz_job_facts *f,
                   const struct batch_tags *tags)
{
    struct api_req *ar = op->ar;
    const struct authz_op *t = authz_find_op("s3control", ar->op);
    char *msg = h2o_mem_alloc_pool(&ar->req->pool, MSG_CAP);
    if (!t) {
        snprintf(msg, MSG_CAP, "quarry has no authorization rule for %s.", ar->op);
        return deny(op, msg);
    }
    char arn[160];
    if (t->res == AUTHZ_RES_JOB) /* the id was checked: 5 to 36 of [A-Za-z0-9-_] */
        snprintf(arn, sizeof(arn), "arn:aws:s3:%s:%s:job/%.*s", ar->server->cfg.region,
                 ar->server->cfg.account_id, (int)op->id.len, (const char *)op->id.p);
    else
        snprintf(arn, sizeof(arn), "*");
    struct authz_job_ctx *c = f ? h2o_mem_alloc_pool(&op->pool, sizeof(*c)) : NULL;
    size_t n = c ? authz_job_ctx(t->action, f, c) : 0;
    if (c && tags && tags->n) {
        const char **kv = h2o_mem_alloc_pool(&op->pool, 2 * tags->n * sizeof(*kv));
        for (size_t i = 0; i < tags->n; i++) {
            kv[i] = tags->v[i].key;
            kv[tags->n + i] = tags->v[i].value;
        }
        n = authz_job_tags(t->action, kv, kv + tags->n, tags->n, c);
    }
    struct api_authz q = {t->action, arn, {NULL, 0}, n ? c->kv : NULL, n, NULL};
    return api_authorize(ar, &q, msg, MSG_CAP) || deny(op, msg);
}

bool s3c_authorize(struct s3c_op *op)
{
    return decide(op, NULL, NULL);
}

bool s3c_authorize_create(struct s3c_op *op, xmlDocPtr doc)
{
    struct authz_job_facts f = {-1, NULL, -1, NULL, NULL};
    xmlNodePtr root = doc ? xml_root(doc, "CreateJobRequest") : NULL, v;
    uint64_t prio;
    if (root && (v = xml_child(root, "Priority")) && qr_slice_u64(xml_text(v), 2147483647u, &prio))
        f.request_priority = (int64_t)prio;
    xmlNodePtr opn = root ? xml_child(root, "Operation") : NULL, only = NULL;
    size_t count = 0;
    for (xmlNodePtr c = opn ? opn->children : NULL; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE) {
            count++;
            only = c;
        }
    for (size_t i = 0; count == 1 && i < sizeof(operation_names) / sizeof(*operation_names); i++)
        if (strcmp((const char *)only->name, operation_names[i]) == 0)
            f.request_operation = operation_names[i];
    return decide(op, &f, request_tags(op, root ? xml_child(root, "Tags") : NULL));
}

bool s3c_authorize_existing(struct s3c_op *op, int64_t request_priority, xmlDocPtr tags_doc)
{
    struct authz_job_facts f = {request_priority, NULL, -1, NULL, NULL};
    struct batch_job j;
    enum qr_err err = batch_describe(op->reader, op->id, &op->pool, &j);
    if (err == QR_OK) {
        f.existing_priority = j.row.priority;
        f.existing_operation = s3c_op_name(j.def->op);
        if (j.row.state == BATCH_SUSPENDED)
            f.suspended_cause = SUSPENDED_AWAITING_CONFIRMATION;
    } else if (err != QR_E_NO_SUCH_KEY) {
        s3c_fail_err(op, err);
        return false;
    }
    xmlNodePtr root = tags_doc ? xml_root(tags_doc, "PutJobTaggingRequest") : NULL;
    return decide(op, &f, request_tags(op, root ? xml_child(root, "Tags") : NULL));
}

/* The caller passes the role to the job (iam:PassRole), and the role exists and trusts
 * batchoperations.s3.amazonaws.com: the job's tasks will run as it. */
bool s3c_role_usable(struct s3c_op *op, const char *role)
{
    char *msg = h2o_mem_alloc_pool(&op->ar->req->pool, 2600);
    struct api_authz q = {"iam:PassRole", role, {NULL, 0}, NULL, 0, NULL};
    if (!api_authorize(op->ar, &q, msg, 2600)) {
        s3c_fail(op, 403, "AccessDenied", "%s", msg);
        return false;
    }
    const struct authz_snap *s = authz_acquire(op->server->authz);
    const struct policy *trust = NULL;
    const char *arn = NULL;
    /* The full ARN, path included, names the role the tasks will run as. */
    bool ok = authz_role(s, role, &arn, NULL, &trust, NULL) && trust && strcmp(arn, role) == 0;
    if (ok) {
        struct policy_request r = {.action = "sts:AssumeRole",
                                   .resource = arn,
                                   .service = "batchoperations.s3.amazonaws.com"};
        ok = policy_eval(trust, &r, NULL) == POLICY_ALLOW;
    }
    authz_release(s);
    if (!ok)
        s3c_fail(op, 400, "BadRequestException",
                 "The role %s does not exist or does not trust batchoperations.s3.amazonaws.com.",
                 role);
    return ok;
}
