/*
 * sts.c - STS: GetCallerIdentity, AssumeRole (the role's trust policy decides who may;
 * the caller's own policies must allow sts:AssumeRole unless the trust policy names the
 * caller itself; session policies narrow what the session may do; DurationSeconds from
 * 900 to the role's maximum; ExternalId as sts:ExternalId), and GetSessionToken.
 * Credentials come from the credential store (ASIA..., stateless, signed tokens).
 */
#include <stdio.h>
#include <string.h>

#include "api/authorize.h"
#include "api/iam/iam_int.h"

static void get_caller_identity(struct iam_op *op);
static void assume_role(struct iam_op *op);
static void get_session_token(struct iam_op *op);

static const struct iam_route routes[] = {
    {"GetCallerIdentity", get_caller_identity, IAM_R_NONE, NULL, false},
    {"AssumeRole", assume_role, IAM_R_ROLE, "RoleArn", false},
    {"GetSessionToken", get_session_token, IAM_R_NONE, NULL, false},
};

const struct iam_route *sts_find_route(struct qr_slice action)
{
    for (size_t i = 0; i < sizeof(routes) / sizeof(*routes); i++)
        if (qr_slice_eq_lit(action, routes[i].action))
            return &routes[i];
    return NULL;
}

static void get_caller_identity(struct iam_op *op)
{
    struct auth_principal p;
    api_principal(op->ar, &p);
    iam_elem(op, "UserId", p.unique_id);
    iam_elem(op, "Account", p.account);
    iam_elem(op, "Arn", p.arn);
}

static void credentials_xml(struct iam_op *op, const struct creds_session *s)
{
    iam_open(op, "Credentials");
    iam_elem(op, "AccessKeyId", s->akid);
    iam_elem(op, "SecretAccessKey", s->secret);
    iam_elem(op, "SessionToken", s->token);
    iam_elem_time(op, "Expiration", s->expires_ms);
    iam_close(op, "Credentials");
}

static bool duration(struct iam_op *op, uint32_t min, uint32_t max, uint32_t dflt, uint32_t *out)
{
    struct qr_slice v;
    uint64_t n = dflt;
    if (iam_param(op, "DurationSeconds", &v) &&
        (!qr_slice_u64(v, UINT32_MAX, &n) || n < min || n > max)) {
        iam_fail(op, 400, "ValidationError",
                 "The requested DurationSeconds exceeds the MaxSessionDuration set for this role "
                 "or is below %u.",
                 min);
        return false;
    }
    *out = (uint32_t)n;
    return true;
}

/* The trust policy decides first; one that admits the caller only as a member of the
 * account (not by its own ARN) needs the caller's identity policies to allow
 * sts:AssumeRole as well, as in AWS's single-account evaluation. */
static bool trusted(struct iam_op *op, const struct policy *trust, const char *role_arn,
                    const char *external_id)
{
    struct auth_principal *p = h2o_mem_alloc_pool(&op->ar->req->pool, sizeof(*p));
    authz_principal(op->snap, &op->ar->id, op->server->cfg.account_id, p);
    const char *vals[1] = {external_id};
    struct policy_kv kv = {"sts:ExternalId", vals, 1};
    struct policy_request r = {
        .action = "sts:AssumeRole",
        .resource = role_arn,
        .principal_arn = p->arn,
        .principal_role = p->role_arn[0] ? p->role_arn : NULL,
        .account = NULL,
        .ctx = external_id ? &kv : NULL,
        .n_ctx = external_id ? 1 : 0,
    };
    enum policy_effect named = trust ? policy_eval(trust, &r, NULL) : POLICY_DENY;
    r.account = p->account;
    enum policy_effect any = trust ? policy_eval(trust, &r, NULL) : POLICY_DENY;
    if (named == POLICY_DENY || any == POLICY_DENY ||
        (named != POLICY_ALLOW && any != POLICY_ALLOW)) {
        iam_fail(op, 403, "AccessDenied",
                 "User: %s is not authorized to perform: sts:AssumeRole on resource: %s", p->arn,
                 role_arn);
        return false;
    }
    if (named == POLICY_ALLOW || p->kind == AUTH_ROOT)
        return true;
    char msg[2600];
    struct api_authz q = {"sts:AssumeRole",      role_arn, {NULL, 0}, external_id ? &kv : NULL,
                          external_id ? 1u : 0u, NULL};
    if (api_authorize(op->ar, &q, msg, sizeof(msg)))
        return true;
    iam_fail(op, 403, "AccessDenied", "%s", msg);
    return false;
}

/* The session policy the token carries: Policy, preceded by "arns:A,B\n" when
 * PolicyArns.member.N.arn name managed policies (each must exist). NULL after failing. */
static const char *session_policy(struct iam_op *op)
{
    const char *inline_doc = iam_opt_str(op, "Policy", "");
    struct qr_buf b;
    qr_buf_init(&b, 12 * CREDS_MAX_POLICY); /* over the cap, so the length check sees it */
    for (int i = 1; i <= AUTH_MAX_SESSION_ARNS; i++) {
        char name[48];
        snprintf(name, sizeof(name), "PolicyArns.member.%d.arn", i);
        const char *arn = iam_opt_str(op, name, NULL);
        if (!arn)
            break;
        bool known = strncmp(arn, "arn:aws:iam::aws:policy/", 24) == 0
                         ? policy_managed_document(arn) != NULL
                         : authz_row(op->snap, "policy", "", arn) != NULL;
        if (!known || strchr(arn, ',') || strchr(arn, '\n')) {
            iam_fail(op, 400, "MalformedPolicyDocument", "Policy %s does not exist.", arn);
            qr_buf_dispose(&b);
            return NULL;
        }
        (void)qr_buf_adds(&b, i == 1 ? AUTH_SESSION_ARNS_PREFIX : ",");
        (void)qr_buf_adds(&b, arn);
    }
    if (b.len == 0) {
        qr_buf_dispose(&b);
        return inline_doc;
    }
    (void)qr_buf_adds(&b, "\n");
    (void)qr_buf_adds(&b, inline_doc);
    char *out = h2o_strdup(&op->ar->req->pool, (const char *)b.p, b.len).base;
    qr_buf_dispose(&b);
    return out;
}

static void assume_role(struct iam_op *op)
{
    const char *arn = iam_req_str(op, "RoleArn", 20, 2048);
    const char *session = arn ? iam_req_str(op, "RoleSessionName", 2, 64) : NULL;
    if (!session)
        return;
    const char *role_arn;
    const struct policy *trust;
    uint32_t max_s, ttl;
    if (!authz_role(op->snap, arn, &role_arn, NULL, &trust, &max_s)) {
        iam_fail(op, 403, "AccessDenied",
                 "User: %s is not authorized to perform: sts:AssumeRole on resource: %s",
                 op->ar->id.principal, arn);
        return;
    }
    const char *policy = session_policy(op);
    if (!policy)
        return;
    if (strlen(policy) > CREDS_MAX_POLICY) {
        iam_fail(op, 400, "PackedPolicyTooLarge",
                 "Packed size of the session policy exceeds the maximum (%d).", CREDS_MAX_POLICY);
        return;
    }
    const char *inline_doc = policy;
    if (strncmp(policy, AUTH_SESSION_ARNS_PREFIX, strlen(AUTH_SESSION_ARNS_PREFIX)) == 0)
        inline_doc = strchr(policy, '\n') + 1;
    if (inline_doc[0] && !iam_policy_ok(op, inline_doc, POLICY_IDENTITY))
        return;
    /* Role chaining (a role session assuming a role) is capped at one hour, as in STS. */
    enum creds_kind k = op->ar->id.kind;
    if (k == CREDS_ROLE_SESSION || k == CREDS_FUNCTION)
        max_s = max_s < 3600 ? max_s : 3600;
    if (!duration(op, 900, max_s, 3600 < max_s ? 3600 : max_s, &ttl) ||
        !trusted(op, trust, role_arn, iam_opt_str(op, "ExternalId", NULL)))
        return;
    struct creds_session s;
    enum qr_err e = creds_role_session(op->server->creds, role_arn, session, qr_slice_cstr(policy),
                                       op->now_ms, ttl, &s);
    if (e != QR_OK) {
        iam_fail(op, 400, "ValidationError",
                 "1 validation error detected: Value at 'roleSessionName' failed to satisfy "
                 "constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*");
        return;
    }
    credentials_xml(op, &s);
    creds_session_wipe(&s);
    char aarn[1400];
    snprintf(aarn, sizeof(aarn), "arn:aws:sts::%s:assumed-role/%s/%s", op->server->cfg.account_id,
             strrchr(role_arn, '/') + 1, session);
    const char *id;
    authz_role(op->snap, role_arn, NULL, &id, NULL, NULL);
    char uid[160];
    snprintf(uid, sizeof(uid), "%s:%s", id, session);
    iam_open(op, "AssumedRoleUser");
    iam_elem(op, "AssumedRoleId", uid);
    iam_elem(op, "Arn", aarn);
    iam_close(op, "AssumedRoleUser");
    if (policy[0]) { /* percent of the packed-policy allowance used, as STS reports it */
        char pct[24];
        snprintf(pct, sizeof(pct), "%zu",
                 (strlen(policy) * 100 + CREDS_MAX_POLICY - 1) / CREDS_MAX_POLICY);
        iam_elem(op, "PackedPolicySize", pct);
    }
}

static void get_session_token(struct iam_op *op)
{
    uint32_t ttl;
    if (op->ar->id.kind != CREDS_LONG_TERM) {
        iam_fail(op, 403, "AccessDenied", "Cannot call GetSessionToken with session credentials");
        return;
    }
    if (!duration(op, 900, strcmp(op->ar->id.principal, "root") == 0 ? 3600 : 129600, 43200, &ttl))
        return;
    if (ttl > 36 * 3600)
        ttl = 36 * 3600;
    struct creds_session s;
    enum qr_err e =
        creds_user_session(op->server->creds, op->ar->id.principal, op->now_ms, ttl, &s);
    if (e != QR_OK) {
        iam_fail(op, 500, "ServiceFailure", "Could not mint session credentials.");
        return;
    }
    credentials_xml(op, &s);
    creds_session_wipe(&s);
}
