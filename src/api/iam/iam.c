/*
 * iam.c - the IAM query API: the form body decoded (util/form), Action looked up in a
 * table, iam:<Action> authorized on the entity it names, the handler run on a worker
 * (changes block on the store's writer), the snapshot rebuilt after a change so the next
 * request sees it, and the response written as IAM writes it:
 * <XResponse xmlns=...><XResult>...</XResult><ResponseMetadata><RequestId>.
 */
#include "api/iam/iam.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/rand.h>

#include "api/authfail.h"
#include "api/authorize.h"
#include "api/iam/iam_int.h"
#include "api/xml.h"
#include "util/codec.h"

#define U IAM_R_USER
#define G IAM_R_GROUP
#define R IAM_R_ROLE
#define P IAM_R_POLICY
#define N IAM_R_NONE
static const struct iam_route routes[] = {
    {"CreateUser", iam_create_user, U, "UserName", true},
    {"GetUser", iam_get_user, U, "UserName", false},
    {"ListUsers", iam_list_users, N, NULL, false},
    {"DeleteUser", iam_delete_user, U, "UserName", true},
    {"CreateAccessKey", iam_create_access_key, U, "UserName", true},
    {"ListAccessKeys", iam_list_access_keys, U, "UserName", false},
    {"UpdateAccessKey", iam_update_access_key, U, "UserName", true},
    {"DeleteAccessKey", iam_delete_access_key, U, "UserName", true},
    {"CreateGroup", iam_create_group, G, "GroupName", true},
    {"GetGroup", iam_get_group, G, "GroupName", false},
    {"ListGroups", iam_list_groups, N, NULL, false},
    {"DeleteGroup", iam_delete_group, G, "GroupName", true},
    {"AddUserToGroup", iam_add_user_to_group, G, "GroupName", true},
    {"RemoveUserFromGroup", iam_remove_user_from_group, G, "GroupName", true},
    {"ListGroupsForUser", iam_list_groups_for_user, U, "UserName", false},
    {"CreateRole", iam_create_role, R, "RoleName", true},
    {"GetRole", iam_get_role, R, "RoleName", false},
    {"ListRoles", iam_list_roles, N, NULL, false},
    {"DeleteRole", iam_delete_role, R, "RoleName", true},
    {"UpdateAssumeRolePolicy", iam_update_assume_role_policy, R, "RoleName", true},
    {"PutUserPolicy", iam_put_inline, U, "UserName", true},
    {"PutGroupPolicy", iam_put_inline, G, "GroupName", true},
    {"PutRolePolicy", iam_put_inline, R, "RoleName", true},
    {"GetUserPolicy", iam_get_inline, U, "UserName", false},
    {"GetGroupPolicy", iam_get_inline, G, "GroupName", false},
    {"GetRolePolicy", iam_get_inline, R, "RoleName", false},
    {"DeleteUserPolicy", iam_delete_inline, U, "UserName", true},
    {"DeleteGroupPolicy", iam_delete_inline, G, "GroupName", true},
    {"DeleteRolePolicy", iam_delete_inline, R, "RoleName", true},
    {"ListUserPolicies", iam_list_inline, U, "UserName", false},
    {"ListGroupPolicies", iam_list_inline, G, "GroupName", false},
    {"ListRolePolicies", iam_list_inline, R, "RoleName", false},
    {"AttachUserPolicy", iam_attach, U, "UserName", true},
    {"AttachGroupPolicy", iam_attach, G, "GroupName", true},
    {"AttachRolePolicy", iam_attach, R, "RoleName", true},
    {"DetachUserPolicy", iam_detach, U, "UserName", true},
    {"DetachGroupPolicy", iam_detach, G, "GroupName", true},
    {"DetachRolePolicy", iam_detach, R, "RoleName", true},
    {"ListAttachedUserPolicies", iam_list_attached, U, "UserName", false},
    {"ListAttachedGroupPolicies", iam_list_attached, G, "GroupName", false},
    {"ListAttachedRolePolicies", iam_list_attached, R, "RoleName", false},
    {"CreatePolicy", iam_create_policy, P, NULL, true},
    {"GetPolicy", iam_get_policy, P, "PolicyArn", false},
    {"DeletePolicy", iam_delete_policy, P, "PolicyArn", true},
    {"ListPolicies", iam_list_policies, N, NULL, false},
    {"CreatePolicyVersion", iam_create_policy_version, P, "PolicyArn", true},
    {"GetPolicyVersion", iam_get_policy_version, P, "PolicyArn", false},
    {"GetAccountAuthorizationDetails", iam_account_details, N, NULL, false},
    {"SimulatePrincipalPolicy", iam_simulate_principal, N, NULL, false},
    {"ListPolicyVersions", iam_list_policy_versions, P, "PolicyArn", false},
    {"SetDefaultPolicyVersion", iam_set_default_policy_version, P, "PolicyArn", true},
    {"DeletePolicyVersion", iam_delete_policy_version, P, "PolicyArn", true},
    {"UpdateRole", iam_update_role, R, "RoleName", true},
    {"TagRole", iam_tag_role, R, "RoleName", true},
    {"UntagRole", iam_untag_role, R, "RoleName", true},
    {"ListRoleTags", iam_list_role_tags, R, "RoleName", false},
    {"GetAccessKeyLastUsed", iam_access_key_last_used, N, NULL, false},
    {"UpdateUser", iam_update_user, U, "UserName", true},
    {"TagUser", iam_tag_user, U, "UserName", true},
    {"UntagUser", iam_untag_user, U, "UserName", true},
    {"ListUserTags", iam_list_user_tags, U, "UserName", false},
    {"SimulateCustomPolicy", iam_simulate_custom, N, NULL, false},
};
#undef U
#undef G
#undef R
#undef P
#undef N

/* ---- helpers for handlers ---- */

bool iam_param(struct iam_op *op, const char *name, struct qr_slice *out)
{
    return qr_form_get(op->params, op->n_params, name, out);
}

const char *iam_opt_str(struct iam_op *op, const char *name, const char *dflt)
{
    struct qr_slice v;
    if (!iam_param(op, name, &v))
        return dflt;
    return h2o_strdup(&op->ar->req->pool, (const char *)v.p, v.len).base;
}

const char *iam_req_str(struct iam_op *op, const char *name, size_t min, size_t max)
{
    struct qr_slice v;
    if (!iam_param(op, name, &v)) {
        iam_fail(op, 400, "ValidationError",
                 "1 validation error detected: Value null at '%c%s' failed to satisfy "
                 "constraint: Member must not be null",
                 name[0] + 32, name + 1);
        return NULL;
    }
    if (v.len < min || v.len > max) {
        iam_fail(op, 400, "ValidationError",
                 "1 validation error detected: Value at '%c%s' failed to satisfy constraint: "
                 "Member must have length between %zu and %zu",
                 name[0] + 32, name + 1, min, max);
        return NULL;
    }
    return h2o_strdup(&op->ar->req->pool, (const char *)v.p, v.len).base;
}

void iam_fail(struct iam_op *op, int status, const char *code, const char *fmt, ...)
{
    if (op->code)
        return;
    op->status = status;
    op->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(op->msg, sizeof(op->msg), fmt, ap);
    va_end(ap);
}

void iam_no_entity(struct iam_op *op, const char *what, const char *name)
{
    iam_fail(op, 404, "NoSuchEntity", "The %s with name %s cannot be found.", what, name);
}

void iam_store_fail(struct iam_op *op, enum qr_err e, const char *what, const char *name)
{
    if (e == QR_E_CONFLICT)
        iam_fail(op, 409, "EntityAlreadyExists", "%s with name %s already exists.", what, name);
    else if (e == QR_E_NO_SUCH_KEY)
        iam_no_entity(op, what, name);
    else
        iam_fail(op, 500, "ServiceFailure", "The store failed: %s.", qr_strerror(e));
}

bool iam_change(struct iam_op *op, const struct store_iam_op *ops, size_t n, const char *what,
                const char *name)
{
    enum qr_err e = store_iam_change(op->server->store, ops, n, NULL);
    if (e != QR_OK) {
        iam_store_fail(op, e, what, name);
        return false;
    }
    op->changed = true;
    return true;
}

bool iam_page_next(struct iam_op *op)
{
    if (!op->page_init) {
        struct qr_slice v;
        op->page_init = true;
        op->page_max = 100;
        if (iam_param(op, "MaxItems", &v) &&
            (!qr_slice_u64(v, 1000, &op->page_max) || !op->page_max))
            iam_fail(op, 400, "ValidationError",
                     "1 validation error detected: Value at 'maxItems' failed to satisfy "
                     "constraint: Member must have value between 1 and 1000");
        if (iam_param(op, "Marker", &v) && !qr_slice_u64(v, UINT32_MAX, &op->page_skip))
            iam_fail(op, 400, "ValidationError", "Invalid Marker.");
    }
    if (op->code)
        return false;
    if (op->page_seen++ < op->page_skip)
        return false;
    if (op->page_out == op->page_max)
        return false;
    op->page_out++;
    return true;
}

void iam_page_end(struct iam_op *op)
{
    bool truncated = op->page_seen > op->page_skip + op->page_out;
    iam_elem(op, "IsTruncated", truncated ? "true" : "false");
    if (truncated) {
        char m[24];
        snprintf(m, sizeof(m), "%llu", (unsigned long long)(op->page_skip + op->page_out));
        iam_elem(op, "Marker", m);
    }
}

void iam_open(struct iam_op *op, const char *tag)
{
    xml_open(&op->out, tag);
}

void iam_close(struct iam_op *op, const char *tag)
{
    xml_close(&op->out, tag);
}

void iam_elem(struct iam_op *op, const char *tag, const char *text)
{
    xml_elem_s(&op->out, tag, text);
}

void iam_elem_slice(struct iam_op *op, const char *tag, struct qr_slice text)
{
    xml_elem(&op->out, tag, text);
}

void iam_elem_time(struct iam_op *op, const char *tag, int64_t ms)
{
    xml_elem_time(&op->out, tag, ms);
}

void iam_elem_doc(struct iam_op *op, const char *tag, struct qr_slice doc)
{
    struct qr_buf b;
    qr_buf_init(&b, 3 * doc.len + 16);
    if (qr_uri_encode(doc, false, &b) == QR_OK) /* sized for the worst case: cannot fail */
        xml_elem(&op->out, tag, qr_slice(b.p, b.len));
    qr_buf_dispose(&b);
}

void iam_new_id(const char *prefix, char out[32])
{
    static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    uint8_t r[17];
    if (RAND_bytes(r, sizeof(r)) != 1)
        abort(); /* no randomness: nothing safe to hand out */
    size_t n = strlen(prefix);
    memcpy(out, prefix, n);
    for (size_t i = 0; i < 17; i++)
        out[n + i] = b32[r[i] & 31];
    out[n + 17] = '\0';
}

void iam_arn(struct iam_op *op, const char *type, const char *path, const char *name, char *out,
             size_t cap)
{
    snprintf(out, cap, "arn:aws:iam::%s:%s%s%s", op->server->cfg.account_id, type,
             path ? path : "/", name);
}

const char *iam_path(struct iam_op *op)
{
    return iam_path_of(op, "Path");
}

const char *iam_path_of(struct iam_op *op, const char *param)
{
    const char *p = iam_opt_str(op, param, "/");
    size_t n = strlen(p);
    if (n == 0 || n > 512 || p[0] != '/' || p[n - 1] != '/') {
        iam_fail(op, 400, "ValidationError",
                 "The specified value for path is invalid. It must begin and end with / and "
                 "contain only alphanumeric characters and/or / characters.");
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] < 0x21 || (unsigned char)p[i] > 0x7e) {
            iam_fail(op, 400, "ValidationError", "The specified value for path is invalid.");
            return NULL;
        }
    return p;
}

bool iam_policy_ok(struct iam_op *op, const char *doc, enum policy_kind kind)
{
    struct policy *p = NULL;
    char why[300];
    enum qr_err e = policy_parse(qr_slice_cstr(doc), kind, &p, why, sizeof(why));
    if (e == QR_OK) {
        policy_free(p);
        return true;
    }
    if (e == QR_E_TOO_LARGE)
        iam_fail(op, 409, "LimitExceeded", "Cannot exceed quota for PolicySize: %s", why);
    else
        iam_fail(op, 400, "MalformedPolicyDocument", "%s", why);
    return false;
}

bool iam_policy_quota(struct iam_op *op, const char *doc, size_t quota, const char *name)
{
    size_t n = 0;
    for (const char *p = doc; *p; p++) /* IAM counts without whitespace */
        n += !(*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r');
    if (n <= quota)
        return true;
    iam_fail(op, 409, "LimitExceeded", "Cannot exceed quota for %s: %zu", name, quota);
    return false;
}

/* ---- dispatch ---- */

static void send_error(struct iam_op *op)
{
    struct qr_buf b;
    qr_buf_init(&b, 8192);
    (void)qr_buf_addf(&b, "<ErrorResponse xmlns=\"%s\"><Error><Type>%s</Type>", op->ns,
                      op->status >= 500 ? "Receiver" : "Sender");
    xml_elem_s(&b, "Code", op->code);
    xml_elem_s(&b, "Message", op->msg);
    (void)qr_buf_adds(&b, "</Error>");
    xml_elem_s(&b, "RequestId", op->ar->request_id);
    (void)qr_buf_adds(&b, "</ErrorResponse>");
    api_send(op->ar, op->status, "text/xml", b.p, b.len);
    qr_buf_dispose(&b);
}

static void send_result(struct iam_op *op)
{
    struct qr_buf b;
    const char *a = op->route->action;
    qr_buf_init(&b, op->out.len + 1024);
    (void)qr_buf_addf(&b, "<%sResponse xmlns=\"%s\"><%sResult>", a, op->ns, a);
    (void)qr_buf_add(&b, op->out.p, op->out.len);
    (void)qr_buf_addf(&b, "</%sResult><ResponseMetadata>", a);
    xml_elem_s(&b, "RequestId", op->ar->request_id);
    (void)qr_buf_addf(&b, "</ResponseMetadata></%sResponse>", a);
    api_send(op->ar, 200, "text/xml", b.p, b.len);
    qr_buf_dispose(&b);
}

/* Access key use recorded since the last save goes to the store on the IAM worker too
 * (authz_uses_due: at most once per flush interval; keyuse.c saves on a timer). */
static void flush_key_uses(struct iam_op *op)
{
    struct authz_use *u;
    size_t n = authz_uses_due(op->server->authz, op->now_ms, &u);
    iam_keyuse_save(op->server, u, n);
    free(u);
}

static void job_run(struct qr_job *job)
{
    struct iam_op *op = H2O_STRUCT_FROM_MEMBER(struct iam_op, job, job);
    flush_key_uses(op);
    op->route->fn(op);
    if (op->changed) {
        authz_release(op->snap);
        op->snap = NULL;
        if (authz_reload(op->server->authz, job->reader) != QR_OK)
            server_log(op->server, QR_LOG_ERROR, "quarry: IAM snapshot reload failed");
    }
}

static void job_done(struct qr_job *job)
{
    struct iam_op *op = H2O_STRUCT_FROM_MEMBER(struct iam_op, job, job);
    if (op->code)
        send_error(op);
    else
        send_result(op);
}

static void dispose_op(void *p)
{
    struct iam_op *op = p;
    if (op->snap)
        authz_release(op->snap);
    qr_buf_dispose(&op->out);
}

/* The form body (POST) or the query (GET): the query protocol takes either. */
static bool parse_params(struct iam_op *op)
{
    h2o_req_t *req = op->ar->req;
    struct qr_slice in =
        req->entity.base ? qr_slice(req->entity.base, req->entity.len) : op->ar->query;
    if (in.len > IAM_MAX_BODY) {
        iam_fail(op, 413, "RequestEntityTooLarge", "The request body is too large.");
        return false;
    }
    char *scratch = h2o_mem_alloc_pool(&req->pool, in.len + 1);
    enum qr_err e = qr_form_parse(in, scratch, op->params, IAM_MAX_PARAMS, &op->n_params);
    if (e != QR_OK) {
        iam_fail(op, 400, e == QR_E_TOO_LARGE ? "ValidationError" : "MalformedQueryString",
                 "The request's form parameters are malformed or too many.");
        return false;
    }
    return true;
}

/* iam:<Action> on the entity the request names (its ARN from the snapshot when it
 * exists, else from the account, the path parameter and the name). */
static bool authorize(struct iam_op *op)
{
    const struct iam_route *r = op->route;
    char action[96], arn[1200], msg[2600];
    snprintf(action, sizeof(action), "iam:%s", r->action);
    static const char *const types[] = {"", "user", "group", "role", "policy"};
    const char *name = r->res_param ? iam_opt_str(op, r->res_param, NULL) : NULL;
    if (r->res == IAM_R_POLICY && name)
        snprintf(arn, sizeof(arn), "%s", name);
    else if (r->res == IAM_R_POLICY)
        iam_arn(op, "policy", iam_opt_str(op, "Path", "/"), iam_opt_str(op, "PolicyName", "*"), arn,
                sizeof(arn));
    else if (r->res != IAM_R_NONE && name) {
        const struct authz_row *row = authz_row(op->snap, types[r->res], "", name);
        char *path = row ? authz_doc_str(row->doc, "path", "/") : NULL;
        iam_arn(op, types[r->res], path ? path : iam_opt_str(op, "Path", "/"), name, arn,
                sizeof(arn));
        free(path);
    } else if (r->res == IAM_R_USER) {
        snprintf(arn, sizeof(arn), "%s", op->ar->id.principal); /* the caller's own user */
    } else {
        snprintf(arn, sizeof(arn), "*");
    }
    struct api_authz q = {action, arn, {NULL, 0}, NULL, 0, NULL};
    if (api_authorize(op->ar, &q, msg, sizeof(msg)))
        return true;
    iam_fail(op, 403, "AccessDenied", "%s", msg);
    return false;
}

static void dispatch(struct api_req *ar, const char *ns, bool sts);

void iam_handle(struct api_req *ar)
{
    dispatch(ar, IAM_NS, false);
}

void sts_handle(struct api_req *ar)
{
    dispatch(ar, STS_NS, true);
}

static void dispatch(struct api_req *ar, const char *ns, bool sts)
{
    h2o_req_t *req = ar->req;
    struct iam_op *op = h2o_mem_alloc_shared(&req->pool, sizeof(*op), dispose_op);
    memset(op, 0, sizeof(*op));
    op->ar = ar;
    op->server = ar->server;
    op->ns = ns;
    op->now_ms = api_now_ms();
    qr_buf_init(&op->out, 4u * 1024 * 1024);
    api_add_header(ar, "x-amzn-RequestId", ar->request_id, 16);
    ar->op = sts ? "STS" : "IAM";
    struct qr_slice action = {NULL, 0};
    if (parse_params(op) && !iam_param(op, "Action", &action))
        iam_fail(op, 400, "MissingAction", "Could not find operation to perform.");
    for (size_t i = 0; !sts && !op->code && i < sizeof(routes) / sizeof(*routes); i++)
        if (qr_slice_eq_lit(action, routes[i].action))
            op->route = &routes[i];
    if (sts && !op->code)
        op->route = sts_find_route(action);
    if (!op->code && !op->route)
        iam_fail(op, 400, "InvalidAction", "Could not find operation %.*s for version %s.",
                 (int)(action.len > 64 ? 64 : action.len), (const char *)action.p,
                 sts ? "2011-06-15" : "2010-05-08");
    if (op->code) {
        send_error(op);
        return;
    }
    ar->op = op->route->action;
    op->snap = authz_acquire(ar->server->authz);
    if (!sts && ar->id.kind == CREDS_USER_SESSION) /* as IAM: not without MFA, which quarry lacks */
        iam_fail(op, 403, "AccessDenied",
                 "Cannot call IAM operations with GetSessionToken credentials without MFA.");
    if (op->code || (!sts && !authorize(op))) {
        send_error(op);
        return;
    }
    op->job.thread = ar->thread;
    op->job.run = job_run;
    op->job.done = job_done;
    server_submit(ar->server, &op->job);
}
