/*
 * authorize.c - the one authorization call of every Lambda request (from lambda.c's
 * dispatch once the route and function are known): the operation's lambda: action on the
 * function's ARN, for CreateFunction and UpdateFunctionConfiguration iam:PassRole on
 * the role the function will run as, and s3:GetObject on code taken from S3.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "api/authorize.h"
#include "api/lambda/lambda_int.h"
#include "util/names.h"

#define MSG_CAP 2600

static bool deny(struct lambda_op *op, const char *msg)
{
    lambda_fail(op, 403, "AccessDeniedException", "%s", msg);
    return false;
}

/* FunctionName and Role of the request's JSON body (CreateFunction names its function and
 * role there), copied into the pool; NULL when absent or not JSON (the handler reports
 * that). One parse: the body may hold a 50 MB zip. */
static void body_members(struct lambda_op *op, const char **fn, const char **role)
{
    json_t *j = json_loadb((const char *)op->body.p, op->body.len, JSON_REJECT_DUPLICATES, NULL);
    const char *names[2] = {"FunctionName", "Role"}, **outs[2] = {fn, role};
    for (int i = 0; i < 2; i++) {
        const char *v = j ? json_string_value(json_object_get(j, names[i])) : NULL;
        *outs[i] = v ? h2o_strdup(&op->ar->req->pool, v, SIZE_MAX).base : NULL;
    }
    json_decref(j);
}

/* The role must exist and trust lambda.amazonaws.com with sts:AssumeRole, as Lambda
 * checks when a function is created or its role changes. */
static bool role_assumable(struct lambda_op *op, const char *role)
{
    const struct authz_snap *s = authz_acquire(op->server->authz);
    const struct policy *trust = NULL;
    const char *arn = NULL;
    bool ok = authz_role(s, role, &arn, NULL, &trust, NULL) && trust;
    if (ok) {
        struct policy_request r = {
            .action = "sts:AssumeRole",
            .resource = arn,
            .service = "lambda.amazonaws.com",
        };
        ok = policy_eval(trust, &r, NULL) == POLICY_ALLOW;
    }
    authz_release(s);
    if (!ok)
        lambda_fail(op, 400, "InvalidParameterValueException",
                    "The role defined for the function cannot be assumed by Lambda.");
    return ok;
}

bool lambda_authorize(struct lambda_op *op)
{
    struct api_req *ar = op->ar;
    const struct authz_op *t = authz_find_op("lambda", ar->op);
    char *msg = h2o_mem_alloc_pool(&ar->req->pool, MSG_CAP);
    if (!t) {
        snprintf(msg, MSG_CAP, "quarry has no authorization rule for %s.", ar->op);
        return deny(op, msg);
    }
    const char *fn = op->t.name[0] ? op->t.name : NULL;
    bool create = strcmp(ar->op, "CreateFunction") == 0;
    bool update = strcmp(ar->op, "UpdateFunctionConfiguration") == 0;
    const char *body_fn = NULL, *role = NULL;
    if (create || update)
        body_members(op, &body_fn, &role);
    if (create)
        fn = body_fn;
    char arn[400];
    api_resource_arn(ar, t->res, false, qr_slice(NULL, 0), qr_slice(NULL, 0), fn, arn, sizeof(arn));
    const char *res = t->res == AUTHZ_RES_NONE ? "*" : arn;
    const char *fn_policy = t->res == AUTHZ_RES_FUNCTION ? fn : NULL;
    struct api_authz q = {t->action, res, {NULL, 0}, NULL, 0, fn_policy};
    if (!api_authorize(ar, &q, msg, MSG_CAP))
        return deny(op, msg);
    if (!role) /* only CreateFunction and UpdateFunctionConfiguration pass a role */
        return true;
    struct api_authz pr = {"iam:PassRole", role, {NULL, 0}, NULL, 0, NULL};
    if (!api_authorize(ar, &pr, msg, MSG_CAP))
        return deny(op, msg);
    return role_assumable(op, role);
}

bool lambda_authorize_code(struct lambda_op *op, const char *bucket, const char *key)
{
    struct api_req *ar = op->ar;
    char *msg = h2o_mem_alloc_pool(&ar->req->pool, MSG_CAP), arn[1500];
    bool dir = false;
    (void)qr_bucket_name_valid(qr_slice_cstr(bucket), &dir);
    const char *vals[1] = {"ReadOnly"};
    struct policy_kv kv = {"s3express:SessionMode", vals, 1};
    api_resource_arn(ar, dir ? AUTHZ_RES_BUCKET : AUTHZ_RES_OBJECT, dir, qr_slice_cstr(bucket),
                     qr_slice_cstr(key), NULL, arn, sizeof(arn));
    struct api_authz q = {dir ? "s3express:CreateSession" : "s3:GetObject",
                          arn,
                          qr_slice_cstr(bucket),
                          dir ? &kv : NULL,
                          dir ? 1u : 0u,
                          NULL};
    return api_authorize(ar, &q, msg, MSG_CAP) || deny(op, msg);
}
