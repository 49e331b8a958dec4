/*
 * authorize.c - the one authorization call of every S3 Control request (from the dispatch
 * in s3control.c once the route and job id are known): the operation's s3: action (the
 * "s3control" rows of auth/authz's table) on the job's ARN, or on "*" for CreateJob and
 * ListJobs (Service Authorization Reference). CreateJob's secondary checks (iam:PassRole
 * on RoleArn, a role that trusts batchoperations.s3.amazonaws.com) are create.c's, made
 * once its body is decoded.
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
    struct api_authz q = {t->action, arn, {NULL, 0}, NULL, 0, NULL};
    return api_authorize(ar, &q, msg, MSG_CAP) || deny(op, msg);
}
