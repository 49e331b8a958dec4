/*
 * alias.c - CreateAlias, GetAlias, UpdateAlias, DeleteAlias, ListAliases. An alias names
 * $LATEST or a published version; RoutingConfig is validated and kept, and Invoke runs
 * the alias's primary version (weighted routing is not applied: docs/lambda.md).
 */
#include "api/lambda/lambda_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/codec.h"

static json_t *render_alias(struct lambda_op *op, const struct store_fn_alias *a)
{
    char arn[256], aarn[400], ver[16];
    lambda_fn_arn(op, a->function, arn, sizeof(arn));
    snprintf(aarn, sizeof(aarn), "%s:%s", arn, a->name);
    lambda_version_str(a->version, ver);
    json_t *j = json_pack("{s:s, s:s, s:s, s:s%, s:s}", "AliasArn", aarn, "Name", a->name,
                          "FunctionVersion", ver, "Description", (const char *)a->description.p,
                          a->description.len, "RevisionId", a->revision);
    if (a->routing.len) {
        json_t *r = json_loadb((const char *)a->routing.p, a->routing.len, 0, NULL);
        if (json_is_object(r))
            json_object_set_new(j, "RoutingConfig", r);
        else
            json_decref(r);
    }
    return j;
}

static bool alias_name_ok(struct lambda_op *op, const char *name)
{
    struct qr_slice s = qr_slice_cstr(name);
    uint32_t v;
    if (!fn_name_valid(s, STORE_FN_ALIAS_MAX) || fn_version_num(name, &v)) {
        lambda_fail(op, 400, "ValidationException",
                    "1 validation error detected: Value '%s' at 'name' failed to satisfy "
                    "constraint: Member must satisfy regular expression pattern: "
                    "(?!^[0-9]+$)([a-zA-Z0-9-_]+)",
                    name);
        return false;
    }
    return true;
}

/* RoutingConfig {"AdditionalVersionWeights": {"2": 0.1}}: versions, weights in [0, 1]. */
static bool routing_ok(struct lambda_op *op, json_t *r)
{
    json_t *w = json_object_get(r, "AdditionalVersionWeights");
    if (!json_is_object(r) || (w && !json_is_object(w)) || (w && json_object_size(w) > 1))
        goto bad;
    const char *k;
    json_t *v;
    json_object_foreach(w, k, v)
    {
        uint32_t n;
        if (!fn_version_num(k, &n) || n == STORE_FN_LATEST || !json_is_number(v) ||
            json_number_value(v) < 0.0 || json_number_value(v) > 1.0)
            goto bad;
    }
    return true;
bad:
    lambda_fail(op, 400, "InvalidParameterValueException",
                "RoutingConfig.AdditionalVersionWeights must map one published version to a "
                "weight between 0.0 and 1.0.");
    return false;
}

/* Body fields of Create/UpdateAlias into a store request; strings point into req. */
static bool alias_request(struct lambda_op *op, json_t *req, struct store_fn_alias_put *p,
                          char **out_routing)
{
    json_t *fv = json_object_get(req, "FunctionVersion");
    json_t *d = json_object_get(req, "Description");
    json_t *r = json_object_get(req, "RoutingConfig");
    p->version = UINT32_MAX;
    if (fv && (!json_is_string(fv) || !fn_version_num(json_string_value(fv), &p->version))) {
        lambda_fail(op, 400, "InvalidParameterValueException",
                    "FunctionVersion must be $LATEST or a version number.");
        return false;
    }
    if (d && (!json_is_string(d) || json_string_length(d) > 256)) {
        lambda_fail(op, 400, "InvalidParameterValueException",
                    "Description must be a string of at most 256 characters.");
        return false;
    }
    if (d)
        p->description = qr_slice(json_string_value(d), json_string_length(d));
    if (r && !routing_ok(op, r))
        return false;
    if (r) {
        size_t n;
        *out_routing = lambda_json_dump(r, &n);
        p->routing = qr_slice(*out_routing, n);
    }
    json_t *rev = json_object_get(req, "RevisionId");
    if (json_is_string(rev))
        p->if_revision = json_string_value(rev);
    return true;
}

static void put_result(struct lambda_op *op, enum qr_err err, const char *alias, int status)
{
    char arn[256];
    lambda_fn_arn(op, op->t.name, arn, sizeof(arn));
    if (err == QR_E_CONFLICT) {
        lambda_fail(op, 409, "ResourceConflictException", "Alias already exists: %s:%s", arn,
                    alias);
        return;
    }
    if (err == QR_E_NO_SUCH_KEY) {
        lambda_fail(op, 404, "ResourceNotFoundException",
                    "Function not found: %s (or its alias %s or the version it names)", arn, alias);
        return;
    }
    if (err != QR_OK) {
        lambda_fail_err(op, err, "");
        return;
    }
    struct store_fn_alias a;
    err = store_fn_alias_get(op->reader, qr_slice_cstr(op->t.name), qr_slice_cstr(alias), op->pool,
                             &a);
    if (err != QR_OK) {
        lambda_fail_err(op, err, "Alias not found");
        return;
    }
    op->out = render_alias(op, &a);
    op->status = status;
}

void lambda_create_alias(struct lambda_op *op)
{
    json_t *req = lambda_body_json(op, LAMBDA_MAX_JSON_BODY);
    char *routing = NULL;
    if (req == NULL)
        return;
    json_t *name = json_object_get(req, "Name");
    struct store_fn_alias_put p = {.function = op->t.name, .create = true};
    char rev[37];
    qr_uuid4(rev);
    p.revision = rev;
    if (!json_is_string(name) || !json_object_get(req, "FunctionVersion")) {
        lambda_fail(op, 400, "InvalidParameterValueException",
                    "Name and FunctionVersion are required.");
        goto out;
    }
    p.name = json_string_value(name);
    if (!alias_name_ok(op, p.name) || !alias_request(op, req, &p, &routing))
        goto out;
    if (p.description.p == NULL)
        p.description = qr_slice("", 0);
    if (p.routing.p == NULL)
        p.routing = qr_slice("", 0);
    p.if_revision = NULL;
    put_result(op, store_fn_alias_put(op->server->store, &p), p.name, 201);
out:
    free(routing);
    json_decref(req);
}

void lambda_update_alias(struct lambda_op *op)
{
    json_t *req = lambda_body_json(op, LAMBDA_MAX_JSON_BODY);
    char *routing = NULL;
    if (req == NULL)
        return;
    struct store_fn_alias_put p = {.function = op->t.name, .name = op->alias};
    char rev[37];
    qr_uuid4(rev);
    p.revision = rev;
    if (alias_request(op, req, &p, &routing))
        put_result(op, store_fn_alias_put(op->server->store, &p), op->alias, 200);
    free(routing);
    json_decref(req);
}

void lambda_get_alias(struct lambda_op *op)
{
    struct store_fn_alias a;
    enum qr_err err = store_fn_alias_get(op->reader, qr_slice_cstr(op->t.name),
                                         qr_slice_cstr(op->alias), op->pool, &a);
    if (err == QR_E_NO_SUCH_KEY) {
        char arn[256];
        lambda_fn_arn(op, op->t.name, arn, sizeof(arn));
        lambda_fail(op, 404, "ResourceNotFoundException", "Alias not found: %s:%s", arn, op->alias);
        return;
    }
    if (err != QR_OK) {
        lambda_fail_err(op, err, "");
        return;
    }
    op->out = render_alias(op, &a);
}

void lambda_delete_alias(struct lambda_op *op)
{
    enum qr_err err = store_fn_alias_delete(op->server->store, qr_slice_cstr(op->t.name),
                                            qr_slice_cstr(op->alias));
    if (err != QR_OK && err != QR_E_NO_SUCH_KEY) { /* deleting a missing alias is a 204 */
        lambda_fail_err(op, err, "");
        return;
    }
    op->status = 204;
}

void lambda_list_aliases(struct lambda_op *op)
{
    struct qr_slice m = qr_slice(NULL, 0), fvs;
    uint32_t fv = UINT32_MAX;
    uint64_t max = 50;
    struct qr_slice v;
    if (api_param(op->ar, "MaxItems", &v) && (!qr_slice_u64(v, 10000, &max) || max == 0)) {
        lambda_fail(op, 400, "InvalidParameterValueException",
                    "MaxItems must be between 1 and 10000.");
        return;
    }
    if (api_param(op->ar, "FunctionVersion", &fvs) && fvs.len) {
        char b[LAMBDA_QUAL_MAX + 1];
        size_t n = fvs.len > LAMBDA_QUAL_MAX ? LAMBDA_QUAL_MAX : fvs.len;
        memcpy(b, fvs.p, n);
        b[n] = '\0';
        if (!fn_version_num(b, &fv)) {
            lambda_fail(op, 400, "InvalidParameterValueException",
                        "FunctionVersion must be $LATEST or a version number.");
            return;
        }
    }
    (void)api_param(op->ar, "Marker", &m); /* absent: from the start */
    struct store_fn fn;
    enum qr_err err =
        store_fn_get(op->reader, qr_slice_cstr(op->t.name), STORE_FN_LATEST, op->pool, &fn);
    struct store_fn_alias *list = NULL;
    size_t n = 0;
    bool trunc = false;
    if (err == QR_OK)
        err = store_fn_alias_list(op->reader, qr_slice_cstr(op->t.name), m, fv, (size_t)max,
                                  op->pool, &list, &n, &trunc);
    if (err == QR_E_NO_SUCH_KEY) {
        char arn[256];
        lambda_fn_arn(op, op->t.name, arn, sizeof(arn));
        lambda_fail(op, 404, "ResourceNotFoundException", "Function not found: %s", arn);
        return;
    }
    if (err != QR_OK) {
        lambda_fail_err(op, err, "");
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, render_alias(op, &list[i]));
    op->out = json_pack("{s:o}", "Aliases", arr);
    if (trunc && n)
        json_object_set_new(op->out, "NextMarker", json_string(list[n - 1].name));
}
