/*
 * authorize.c - the one authorization call of every S3 Control request (from the dispatch
 * in s3control.c once the route and job id are known): the operation's s3: action on the
 * job's ARN, or on "*" for CreateJob and ListJobs (Service Authorization Reference). And
 * CreateJob's secondary checks, made once its body is decoded: iam:PassRole on the job's
 * RoleArn for the caller, and a role that exists and trusts
 * batchoperations.s3.amazonaws.com, since the job's tasks will run as that role.
 */
#include "api/s3control/s3control_int.h"

#include <stdio.h>
#include <string.h>

#include "api/authorize.h"

#define MSG_CAP 2600

static bool deny(struct s3c_op *op, const char *msg)
{
    s3c_fail(op, 403, "AccessDenied", "%s", msg);
    return false;
}

bool s3c_authorize(struct s3c_op *op)
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
    struct api_authz q = {t->action, arn, {NULL, 0}, NULL, 0};
    return api_authorize(ar, &q, msg, MSG_CAP) || deny(op, msg);
}

/* The role exists and its trust policy lets Batch Operations assume it. */
static bool role_assumable(struct s3c_op *op, const char *role)
{
    const struct authz_snap *s = authz_acquire(op->server->authz);
    const struct policy *trust = NULL;
    const char *arn = NULL;
    bool ok = authz_role(s, role, &arn, NULL, &trust, NULL) && trust &&
              strcmp(arn, role) == 0; /* the full ARN, path included, as the tasks will use */
    if (ok) {
        struct policy_request r = {
            .action = "sts:AssumeRole",
            .resource = arn,
            .service = "batchoperations.s3.amazonaws.com",
        };
        ok = policy_eval(trust, &r, NULL) == POLICY_ALLOW;
    }
    authz_release(s);
    if (!ok)
        s3c_fail(op, 400, "BadRequestException",
                 "The role %.1200s cannot be assumed by S3 Batch Operations: it does not exist "
                 "or its trust policy does not allow batchoperations.s3.amazonaws.com.",
                 role);
    return ok;
}

bool s3c_authorize_role(struct s3c_op *op, const char *role_arn)
{
    char *msg = h2o_mem_alloc_pool(&op->ar->req->pool, MSG_CAP);
    struct api_authz q = {"iam:PassRole", role_arn, {NULL, 0}, NULL, 0};
    if (!api_authorize(op->ar, &q, msg, MSG_CAP))
        return deny(op, msg);
    return role_assumable(op, role_arn);
}
