/*
 * policies.c - inline policies of users, groups and roles; managed policies (customer
 * ones with versions and a default version, AWS ones known by ARN) and their attachment;
 * GetAccountAuthorizationDetails. A document is validated by the policy parser before it
 * is stored: MalformedPolicyDocument carries the parser's reason and nothing is written.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api/iam/iam_int.h"

#define S(x)           qr_slice_cstr(x)
#define MAX_DOC        131072
#define MAX_VERSIONS   5
#define MAX_ATTACHED   20
#define AWS_POLICY_ARN "arn:aws:iam::aws:policy/"

static const char *owner_type(const struct iam_op *op)
{
    return op->route->res == IAM_R_USER ? "user" : op->route->res == IAM_R_GROUP ? "group" : "role";
}

/* "user:alice" for the entity the request names, which must exist. */
static const char *owner(struct iam_op *op, const char **name)
{
    const char *type = owner_type(op);
    *name = iam_req_str(op, op->route->res_param, 1, 128);
    if (!*name)
        return NULL;
    if (!authz_row(op->snap, type, "", *name)) {
        iam_no_entity(op, type, *name);
        return NULL;
    }
    size_t n = strlen(type) + strlen(*name) + 2;
    char *o = h2o_mem_alloc_pool(&op->ar->req->pool, n);
    snprintf(o, n, "%s:%s", type, *name);
    return o;
}

void iam_put_inline(struct iam_op *op)
{
    const char *name, *o = owner(op, &name), *pname, *doc;
    if (!o || !iam_name_ok(op, "PolicyName", &pname) ||
        !(doc = iam_req_str(op, "PolicyDocument", 1, MAX_DOC)) ||
        !iam_policy_ok(op, doc, POLICY_IDENTITY) ||
        !iam_policy_quota(op, doc,
                          op->route->res == IAM_R_USER    ? 2048
                          : op->route->res == IAM_R_GROUP ? 5120
                                                          : 10240,
                          "PolicySize"))
        return;
    struct store_iam_op c[] = {
        {STORE_IAM_PRESENT, owner_type(op), S(""), S(name), S("")},
        {STORE_IAM_UPSERT, "inline", S(o), S(pname), S(doc)},
    };
    (void)iam_change(op, c, 2, owner_type(op), name);
}

static const struct authz_row *inline_row(struct iam_op *op, const char **o, const char **name,
                                          const char **pname)
{
    *o = owner(op, name);
    *pname = *o ? iam_req_str(op, "PolicyName", 1, 128) : NULL;
    if (!*pname)
        return NULL;
    const struct authz_row *r = authz_row(op->snap, "inline", *o, *pname);
    if (!r)
        iam_fail(op, 404, "NoSuchEntity", "The %s policy with name %s cannot be found.",
                 owner_type(op), *pname);
    return r;
}

void iam_get_inline(struct iam_op *op)
{
    const char *o, *name, *pname;
    const struct authz_row *r = inline_row(op, &o, &name, &pname);
    if (!r)
        return;
    static const char *const tags[] = {"UserName", "GroupName", "RoleName"};
    iam_elem(op,
             tags[op->route->res == IAM_R_USER    ? 0
                  : op->route->res == IAM_R_GROUP ? 1
                                                  : 2],
             name);
    iam_elem(op, "PolicyName", pname);
    iam_elem_doc(op, "PolicyDocument", r->doc);
}

void iam_delete_inline(struct iam_op *op)
{
    const char *o, *name, *pname;
    if (!inline_row(op, &o, &name, &pname))
        return;
    struct store_iam_op c = {STORE_IAM_DELETE, "inline", S(o), S(pname), S("")};
    (void)iam_change(op, &c, 1, "policy", pname);
}

void iam_list_inline(struct iam_op *op)
{
    const char *name, *o = owner(op, &name);
    if (!o)
        return;
    const struct authz_row *r;
    size_t n = authz_rows(op->snap, "inline", o, &r);
    iam_open(op, "PolicyNames");
    for (size_t i = 0; i < n; i++)
        if (iam_page_next(op))
            iam_elem(op, "member", r[i].name);
    iam_close(op, "PolicyNames");
    iam_page_end(op);
}

/* ---- managed policies ---- */

static bool is_aws_arn(const char *arn)
{
    return strncmp(arn, AWS_POLICY_ARN, strlen(AWS_POLICY_ARN)) == 0;
}

/* The policy exists: a customer policy row, or an AWS managed policy quarry knows. */
static bool policy_exists(struct iam_op *op, const char *arn)
{
    if (is_aws_arn(arn) ? policy_managed_document(arn) != NULL
                        : authz_row(op->snap, "policy", "", arn) != NULL)
        return true;
    iam_fail(op, 404, "NoSuchEntity", "Policy %s does not exist or is not attachable.", arn);
    return false;
}

void iam_attach(struct iam_op *op)
{
    const char *name, *o = owner(op, &name), *arn;
    if (!o || !(arn = iam_req_str(op, "PolicyArn", 20, 2048)) || !policy_exists(op, arn))
        return;
    const struct authz_row *r;
    if (authz_rows(op->snap, "attached", o, &r) >= MAX_ATTACHED) {
        iam_fail(op, 409, "LimitExceeded", "Cannot exceed quota for PoliciesPerRole: %d",
                 MAX_ATTACHED);
        return;
    }
    struct store_iam_op c[] = {
        {STORE_IAM_PRESENT, owner_type(op), S(""), S(name), S("")},
        {STORE_IAM_UPSERT, "attached", S(o), S(arn), S("")},
    };
    (void)iam_change(op, c, 2, owner_type(op), name);
}

void iam_detach(struct iam_op *op)
{
    const char *name, *o = owner(op, &name), *arn;
    if (!o || !(arn = iam_req_str(op, "PolicyArn", 20, 2048)))
        return;
    if (!authz_row(op->snap, "attached", o, arn)) {
        iam_fail(op, 404, "NoSuchEntity", "Policy %s was not found.", arn);
        return;
    }
    struct store_iam_op c = {STORE_IAM_DELETE, "attached", S(o), S(arn), S("")};
    (void)iam_change(op, &c, 1, "policy", arn);
}

static const char *arn_name(const char *arn)
{
    const char *s = strrchr(arn, '/');
    return s ? s + 1 : arn;
}

void iam_list_attached(struct iam_op *op)
{
    const char *name, *o = owner(op, &name);
    if (!o)
        return;
    const struct authz_row *r;
    size_t n = authz_rows(op->snap, "attached", o, &r);
    iam_open(op, "AttachedPolicies");
    for (size_t i = 0; i < n; i++) {
        if (!iam_page_next(op))
            continue;
        iam_open(op, "member");
        iam_elem(op, "PolicyName", arn_name(r[i].name));
        iam_elem(op, "PolicyArn", r[i].name);
        iam_close(op, "member");
    }
    iam_close(op, "AttachedPolicies");
    iam_page_end(op);
}

static size_t attachments(struct iam_op *op, const char *arn)
{
    const struct authz_row *r;
    size_t n = authz_rows(op->snap, "attached", NULL, &r), count = 0;
    for (size_t i = 0; i < n; i++)
        count += strcmp(r[i].name, arn) == 0;
    return count;
}

static void policy_xml(struct iam_op *op, const char *arn, struct qr_slice doc)
{
    char *id = authz_doc_str(doc, "id", "");
    char *path = authz_doc_str(doc, "path", "/");
    char *dv = authz_doc_str(doc, "default", "v1");
    char n[24];
    iam_elem(op, "PolicyName", arn_name(arn));
    iam_elem(op, "PolicyId", id);
    iam_elem(op, "Arn", arn);
    iam_elem(op, "Path", path);
    iam_elem(op, "DefaultVersionId", dv);
    snprintf(n, sizeof(n), "%zu", attachments(op, arn));
    iam_elem(op, "AttachmentCount", n);
    iam_elem(op, "PermissionsBoundaryUsageCount", "0");
    iam_elem(op, "IsAttachable", "true");
    iam_elem_time(op, "CreateDate", authz_doc_int(doc, "created", 0));
    iam_elem_time(op, "UpdateDate",
                  authz_doc_int(doc, "updated", authz_doc_int(doc, "created", 0)));
    free(id);
    free(path);
    free(dv);
}

static char *policy_row_doc(const char *id, const char *path, int64_t created, int64_t updated,
                            const char *dflt, int64_t next)
{
    json_t *j = json_pack("{s:s, s:s, s:I, s:I, s:s, s:I}", "id", id, "path", path, "created",
                          (json_int_t)created, "updated", (json_int_t)updated, "default", dflt,
                          "next", (json_int_t)next);
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

void iam_create_policy(struct iam_op *op)
{
    const char *name, *path = iam_path(op), *doc;
    if (!path || !iam_name_ok(op, "PolicyName", &name) ||
        !(doc = iam_req_str(op, "PolicyDocument", 1, MAX_DOC)) ||
        !iam_policy_ok(op, doc, POLICY_IDENTITY) || !iam_policy_quota(op, doc, 6144, "PolicySize"))
        return;
    char id[32], arn[1200];
    iam_new_id("ANPA", id);
    iam_arn(op, "policy", path, name, arn, sizeof(arn));
    char *row = policy_row_doc(id, path, op->now_ms, op->now_ms, "v1", 2);
    struct store_iam_op c[] = {
        {STORE_IAM_INSERT, "policy", S(""), S(arn), S(row)},
        {STORE_IAM_INSERT, "pversion", S(arn), S("v1"), S(doc)},
    };
    if (iam_change(op, c, 2, "A policy called", name)) {
        iam_open(op, "Policy");
        policy_xml(op, arn, S(row));
        iam_close(op, "Policy");
    }
    free(row);
}

void iam_get_policy(struct iam_op *op)
{
    const char *arn = iam_req_str(op, "PolicyArn", 20, 2048);
    if (!arn || !policy_exists(op, arn))
        return;
    const struct authz_row *r = authz_row(op->snap, "policy", "", arn);
    iam_open(op, "Policy");
    policy_xml(op, arn, r ? r->doc : S("{\"id\":\"ANPAAWSMANAGED\"}"));
    iam_close(op, "Policy");
}

void iam_delete_policy(struct iam_op *op)
{
    const char *arn = iam_req_str(op, "PolicyArn", 20, 2048);
    if (!arn || !policy_exists(op, arn))
        return;
    if (is_aws_arn(arn)) {
        iam_fail(op, 400, "InvalidInput", "AWS managed policies cannot be deleted.");
        return;
    }
    if (attachments(op, arn)) {
        iam_fail(op, 409, "DeleteConflict", "Cannot delete a policy attached to entities.");
        return;
    }
    struct store_iam_op c[] = {
        {STORE_IAM_DELETE_KIDS, "pversion", S(arn), S(""), S("")},
        {STORE_IAM_DELETE, "policy", S(""), S(arn), S("")},
    };
    (void)iam_change(op, c, 2, "policy", arn);
}

void iam_list_policies(struct iam_op *op)
{
    const char *scope = iam_opt_str(op, "Scope", "All");
    iam_open(op, "Policies");
    if (strcmp(scope, "AWS") != 0) {
        const struct authz_row *r;
        size_t n = authz_rows(op->snap, "policy", "", &r);
        for (size_t i = 0; i < n; i++) {
            if (!iam_page_next(op))
                continue;
            iam_open(op, "member");
            policy_xml(op, r[i].name, r[i].doc);
            iam_close(op, "member");
        }
    }
    if (strcmp(scope, "Local") != 0) {
        size_t n;
        const char *const *arns = policy_managed_list(&n);
        for (size_t i = 0; i < n; i++) {
            if (!iam_page_next(op))
                continue;
            iam_open(op, "member");
            policy_xml(op, arns[i], S("{\"id\":\"ANPAAWSMANAGED\"}"));
            iam_close(op, "member");
        }
    }
    iam_close(op, "Policies");
    iam_page_end(op);
}

void iam_create_policy_version(struct iam_op *op)
{
    const char *arn = iam_req_str(op, "PolicyArn", 20, 2048), *doc;
    const struct authz_row *r = arn ? authz_row(op->snap, "policy", "", arn) : NULL;
    if (arn && !r)
        iam_fail(op, 404, "NoSuchEntity", "Policy %s does not exist.", arn);
    if (!r || !(doc = iam_req_str(op, "PolicyDocument", 1, MAX_DOC)) ||
        !iam_policy_ok(op, doc, POLICY_IDENTITY) || !iam_policy_quota(op, doc, 6144, "PolicySize"))
        return;
    const struct authz_row *v;
    if (authz_rows(op->snap, "pversion", arn, &v) >= MAX_VERSIONS) {
        iam_fail(op, 409, "LimitExceeded",
                 "A managed policy can have up to %d versions. Before you create a new version, "
                 "you must delete an existing version.",
                 MAX_VERSIONS);
        return;
    }
    int64_t next = authz_doc_int(r->doc, "next", 2);
    struct qr_slice setdef;
    bool make_default = iam_param(op, "SetAsDefault", &setdef) && qr_slice_eq_lit(setdef, "true");
    char vid[24];
    snprintf(vid, sizeof(vid), "v%lld", (long long)next);
    char *id = authz_doc_str(r->doc, "id", ""), *path = authz_doc_str(r->doc, "path", "/"),
         *dv = authz_doc_str(r->doc, "default", "v1");
    char *row = policy_row_doc(id, path, authz_doc_int(r->doc, "created", 0), op->now_ms,
                               make_default ? vid : dv, next + 1);
    struct store_iam_op c[] = {
        {STORE_IAM_UPDATE, "policy", S(""), S(arn), S(row)},
        {STORE_IAM_INSERT, "pversion", S(arn), S(vid), S(doc)},
    };
    if (iam_change(op, c, 2, "policy", arn)) {
        iam_open(op, "PolicyVersion");
        iam_elem(op, "VersionId", vid);
        iam_elem(op, "IsDefaultVersion", make_default ? "true" : "false");
        iam_elem_time(op, "CreateDate", op->now_ms);
        iam_close(op, "PolicyVersion");
    }
    free(id);
    free(path);
    free(dv);
    free(row);
}

void iam_get_policy_version(struct iam_op *op)
{
    const char *arn = iam_req_str(op, "PolicyArn", 20, 2048);
    const char *vid = arn ? iam_req_str(op, "VersionId", 2, 20) : NULL;
    if (!vid)
        return;
    struct qr_slice doc;
    bool dflt = true;
    if (is_aws_arn(arn)) {
        const char *d = policy_managed_document(arn);
        if (!d || strcmp(vid, "v1") != 0) {
            iam_fail(op, 404, "NoSuchEntity", "Policy %s version %s does not exist.", arn, vid);
            return;
        }
        doc = S(d);
    } else {
        const struct authz_row *r = authz_row(op->snap, "policy", "", arn);
        const struct authz_row *v = r ? authz_row(op->snap, "pversion", arn, vid) : NULL;
        if (!v) {
            iam_fail(op, 404, "NoSuchEntity", "Policy %s version %s does not exist.", arn, vid);
            return;
        }
        char *dv = authz_doc_str(r->doc, "default", "v1");
        dflt = strcmp(dv, vid) == 0;
        free(dv);
        doc = v->doc;
    }
    iam_open(op, "PolicyVersion");
    iam_elem_doc(op, "Document", doc);
    iam_elem(op, "VersionId", vid);
    iam_elem(op, "IsDefaultVersion", dflt ? "true" : "false");
    iam_close(op, "PolicyVersion");
}

/* ---- GetAccountAuthorizationDetails ---- */

static void details_of(struct iam_op *op, const char *type, const char *list_tag,
                       const char *inline_tag)
{
    const struct authz_row *e;
    size_t n = authz_rows(op->snap, type, "", &e);
    iam_open(op, list_tag);
    for (size_t i = 0; i < n; i++) {
        char o[200];
        const struct authz_row *p;
        snprintf(o, sizeof(o), "%s:%s", type, e[i].name);
        iam_open(op, "member");
        iam_entity_xml(op, type, &e[i]);
        size_t np = authz_rows(op->snap, "inline", o, &p);
        iam_open(op, inline_tag);
        for (size_t k = 0; k < np; k++) {
            iam_open(op, "member");
            iam_elem(op, "PolicyName", p[k].name);
            iam_elem_doc(op, "PolicyDocument", p[k].doc);
            iam_close(op, "member");
        }
        iam_close(op, inline_tag);
        np = authz_rows(op->snap, "attached", o, &p);
        iam_open(op, "AttachedManagedPolicies");
        for (size_t k = 0; k < np; k++) {
            iam_open(op, "member");
            iam_elem(op, "PolicyName", arn_name(p[k].name));
            iam_elem(op, "PolicyArn", p[k].name);
            iam_close(op, "member");
        }
        iam_close(op, "AttachedManagedPolicies");
        iam_close(op, "member");
    }
    iam_close(op, list_tag);
}

void iam_account_details(struct iam_op *op)
{
    details_of(op, "user", "UserDetailList", "UserPolicyList");
    details_of(op, "group", "GroupDetailList", "GroupPolicyList");
    details_of(op, "role", "RoleDetailList", "RolePolicyList");
    const struct authz_row *r;
    size_t n = authz_rows(op->snap, "policy", "", &r);
    iam_open(op, "Policies");
    for (size_t i = 0; i < n; i++) {
        iam_open(op, "member");
        policy_xml(op, r[i].name, r[i].doc);
        iam_close(op, "member");
    }
    iam_close(op, "Policies");
    iam_elem(op, "IsTruncated", "false");
}

/* ---- versions ---- */

/* The customer policy of PolicyArn and the version VersionId (when want_version). */
static const struct authz_row *customer_policy(struct iam_op *op, const char **arn)
{
    *arn = iam_req_str(op, "PolicyArn", 20, 2048);
    if (!*arn)
        return NULL;
    const struct authz_row *r = authz_row(op->snap, "policy", "", *arn);
    if (!r)
        iam_fail(op, 404, "NoSuchEntity", "Policy %s does not exist.", *arn);
    return r;
}

void iam_list_policy_versions(struct iam_op *op)
{
    const char *arn;
    const struct authz_row *p = customer_policy(op, &arn);
    if (!p)
        return;
    char *dv = authz_doc_str(p->doc, "default", "v1");
    const struct authz_row *v;
    size_t n = authz_rows(op->snap, "pversion", arn, &v);
    iam_open(op, "Versions");
    for (size_t i = 0; i < n; i++) {
        iam_open(op, "member");
        iam_elem(op, "VersionId", v[i].name);
        iam_elem(op, "IsDefaultVersion", strcmp(v[i].name, dv) == 0 ? "true" : "false");
        iam_close(op, "member");
    }
    iam_close(op, "Versions");
    iam_elem(op, "IsTruncated", "false");
    free(dv);
}

static bool set_default(struct iam_op *op, const struct authz_row *p, const char *arn,
                        const char *vid)
{
    char *id = authz_doc_str(p->doc, "id", ""), *path = authz_doc_str(p->doc, "path", "/");
    char *row = policy_row_doc(id, path, authz_doc_int(p->doc, "created", 0), op->now_ms, vid,
                               authz_doc_int(p->doc, "next", 2));
    struct store_iam_op c[] = {
        {STORE_IAM_PRESENT, "pversion", S(arn), S(vid), S("")},
        {STORE_IAM_UPDATE, "policy", S(""), S(arn), S(row)},
    };
    bool ok = iam_change(op, c, 2, "policy version", vid);
    free(id);
    free(path);
    free(row);
    return ok;
}

void iam_set_default_policy_version(struct iam_op *op)
{
    const char *arn;
    const struct authz_row *p = customer_policy(op, &arn);
    const char *vid = p ? iam_req_str(op, "VersionId", 2, 20) : NULL;
    if (!vid)
        return;
    if (!authz_row(op->snap, "pversion", arn, vid)) {
        iam_fail(op, 404, "NoSuchEntity", "Policy %s version %s does not exist.", arn, vid);
        return;
    }
    (void)set_default(op, p, arn, vid);
}

void iam_delete_policy_version(struct iam_op *op)
{
    const char *arn;
    const struct authz_row *p = customer_policy(op, &arn);
    const char *vid = p ? iam_req_str(op, "VersionId", 2, 20) : NULL;
    if (!vid)
        return;
    char *dv = authz_doc_str(p->doc, "default", "v1");
    bool is_default = strcmp(dv, vid) == 0;
    free(dv);
    if (is_default) {
        iam_fail(op, 409, "DeleteConflict", "Cannot delete the default version of a policy.");
        return;
    }
    struct store_iam_op c = {STORE_IAM_DELETE, "pversion", S(arn), S(vid), S("")};
    (void)iam_change(op, &c, 1, "policy version", vid);
}
