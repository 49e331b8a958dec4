/*
 * permission.c - a function's resource-based policy: AddPermission, GetPolicy and
 * RemovePermission. The policy is kept with the IAM rows (kind "fnpolicy") as the JSON
 * document Lambda returns, and compiled into the IAM snapshot, so lambda_authorize
 * decides each request under it (a service or another principal allowed by the
 * function's policy needs no identity policy of its own).
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "api/lambda/lambda_int.h"
#include "auth/authz.h"
#include "auth/policy.h"
#include "store/store_iam.h"

#define S(x) qr_slice_cstr(x)

/* The function must exist ($LATEST); false after lambda_fail. */
static bool function_exists(struct lambda_op *op)
{
    struct store_fn fn;
    struct lambda_target t = op->t;
    t.qual[0] = '\0';
    return lambda_resolve(op, &t, op->pool, &fn);
}

/* The current policy document of the function, or an empty one (caller decrefs). */
static json_t *current_policy(struct lambda_op *op)
{
    const struct authz_snap *s = authz_acquire(op->server->authz);
    const struct authz_row *r = authz_row(s, "fnpolicy", "", op->t.name);
    json_t *j = r ? json_loadb((const char *)r->doc.p, r->doc.len, 0, NULL) : NULL;
    authz_release(s);
    if (!j)
        j = json_pack("{s:s, s:s, s:[]}", "Version", "2012-10-17", "Id", "default", "Statement");
    return j;
}

static bool store_policy(struct lambda_op *op, json_t *doc)
{
    json_t *st = json_object_get(doc, "Statement");
    enum qr_err e;
    if (json_array_size(st) == 0) {
        struct store_iam_op c = {STORE_IAM_DELETE_ANY, "fnpolicy", S(""), S(op->t.name), S("")};
        e = store_iam_change(op->server->store, &c, 1, NULL);
    } else {
        char *text = json_dumps(doc, JSON_COMPACT);
        struct store_iam_op c = {STORE_IAM_UPSERT, "fnpolicy", S(""), S(op->t.name), S(text)};
        e = store_iam_change(op->server->store, &c, 1, NULL);
        free(text);
    }
    if (e != QR_OK) {
        lambda_fail_err(op, e, "");
        return false;
    }
    if (authz_reload(op->server->authz, op->reader) != QR_OK)
        server_log(op->server, QR_LOG_ERROR, "quarry: IAM snapshot reload failed");
    return true;
}

/* The statement AddPermission describes: Principal is a service ("x.amazonaws.com"), an
 * account id, or an ARN; SourceArn and SourceAccount become conditions. */
static json_t *statement(struct lambda_op *op, json_t *in, const char *sid)
{
    const char *action = json_string_value(json_object_get(in, "Action"));
    const char *principal = json_string_value(json_object_get(in, "Principal"));
    if (!action || !principal) {
        lambda_fail(op, 400, "ValidationException", "Action and Principal are required.");
        return NULL;
    }
    char arn[300];
    lambda_fn_arn(op, op->t.name, arn, sizeof(arn));
    json_t *p = strstr(principal, ".amazonaws.com") ? json_pack("{s:s}", "Service", principal)
                : strcmp(principal, "*") == 0       ? json_string("*")
                                                    : json_pack("{s:s}", "AWS", principal);
    json_t *st = json_pack("{s:s, s:s, s:o, s:s, s:s}", "Sid", sid, "Effect", "Allow", "Principal",
                           p, "Action", action, "Resource", arn);
    json_t *cond = json_object();
    const char *src = json_string_value(json_object_get(in, "SourceArn"));
    const char *acct = json_string_value(json_object_get(in, "SourceAccount"));
    if (src)
        json_object_set_new(cond, "ArnLike", json_pack("{s:s}", "AWS:SourceArn", src));
    if (acct)
        json_object_set_new(cond, "StringEquals", json_pack("{s:s}", "AWS:SourceAccount", acct));
    if (json_object_size(cond))
        json_object_set_new(st, "Condition", cond);
    else
        json_decref(cond);
    return st;
}

void lambda_add_permission(struct lambda_op *op)
{
    json_t *in = lambda_body_json(op, LAMBDA_MAX_JSON_BODY);
    if (!in || !function_exists(op)) {
        json_decref(in);
        return;
    }
    const char *sid = json_string_value(json_object_get(in, "StatementId"));
    if (!sid || !*sid || strlen(sid) > 100) {
        lambda_fail(op, 400, "ValidationException", "StatementId is required (1 to 100).");
        json_decref(in);
        return;
    }
    json_t *doc = current_policy(op), *list = json_object_get(doc, "Statement");
    for (size_t i = 0; i < json_array_size(list); i++)
        if (strcmp(json_string_value(json_object_get(json_array_get(list, i), "Sid")), sid) == 0) {
            lambda_fail(op, 409, "ResourceConflictException",
                        "The statement id (%s) provided already exists. Please provide a new "
                        "statement id, or remove the existing statement.",
                        sid);
            goto out;
        }
    json_t *st = statement(op, in, sid);
    if (!st)
        goto out;
    json_array_append(list, st);
    char *text = json_dumps(doc, JSON_COMPACT), why[300];
    struct policy *p = NULL;
    bool ok = policy_parse(S(text), POLICY_RESOURCE, &p, why, sizeof(why)) == QR_OK;
    free(text);
    policy_free(p);
    if (!ok)
        lambda_fail(op, 400, "InvalidParameterValueException", "%s", why);
    else if (store_policy(op, doc)) {
        char *s = json_dumps(st, JSON_COMPACT);
        op->out = json_pack("{s:s}", "Statement", s);
        free(s);
        op->status = 201;
    }
    json_decref(st);
out:
    json_decref(doc);
    json_decref(in);
}

void lambda_get_policy(struct lambda_op *op)
{
    if (!function_exists(op))
        return;
    const struct authz_snap *s = authz_acquire(op->server->authz);
    const struct authz_row *r = authz_row(s, "fnpolicy", "", op->t.name);
    if (r)
        op->out = json_pack("{s:s%, s:s}", "Policy", (const char *)r->doc.p, r->doc.len,
                            "RevisionId", "1");
    else
        lambda_fail(op, 404, "ResourceNotFoundException",
                    "The resource you requested does not exist.");
    authz_release(s);
}

void lambda_remove_permission(struct lambda_op *op)
{
    if (!function_exists(op))
        return;
    json_t *doc = current_policy(op), *list = json_object_get(doc, "Statement");
    size_t i = 0;
    while (i < json_array_size(list) &&
           strcmp(json_string_value(json_object_get(json_array_get(list, i), "Sid")), op->alias) !=
               0)
        i++;
    if (i == json_array_size(list)) {
        lambda_fail(op, 404, "ResourceNotFoundException",
                    "Statement %s is not found in resource policy.", op->alias);
    } else {
        json_array_remove(list, i);
        if (store_policy(op, doc))
            op->status = 204;
    }
    json_decref(doc);
}

void lambda_drop_policy(struct lambda_op *op)
{
    struct store_iam_op c = {STORE_IAM_DELETE_ANY, "fnpolicy", S(""), S(op->t.name), S("")};
    if (store_iam_change(op->server->store, &c, 1, NULL) != QR_OK ||
        authz_reload(op->server->authz, op->reader) != QR_OK)
        server_log(op->server, QR_LOG_ERROR, "quarry: could not drop a deleted function's policy");
}
