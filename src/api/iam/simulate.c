/*
 * simulate.c - SimulatePrincipalPolicy and SimulateCustomPolicy: the same evaluation as
 * every request (policy_decide), over the principal's policies in the current snapshot
 * plus PolicyInputList, for each ActionNames x ResourceArns pair; the answer names the
 * decision and the statement that decided, as IAM's does.
 */
#include <stdio.h>
#include <string.h>

#include "api/iam/iam_int.h"

#define MAX_INPUTS 16
#define MAX_LIST   64

/* "Prefix.member.N" values, N = 1.., at most max. */
static size_t members(struct iam_op *op, const char *prefix, const char **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 1; i <= max; i++) {
        char name[64];
        snprintf(name, sizeof(name), "%s.member.%zu", prefix, i);
        const char *v = iam_opt_str(op, name, NULL);
        if (!v)
            break;
        out[n++] = v;
    }
    return n;
}

static const char *decision_name(enum policy_decision d)
{
    return d == POLICY_DECISION_ALLOW           ? "allowed"
           : d == POLICY_DECISION_EXPLICIT_DENY ? "explicitDeny"
                                                : "implicitDeny";
}

static void simulate(struct iam_op *op, const struct auth_principal *p)
{
    const char *inputs[MAX_INPUTS], *actions[MAX_LIST], *resources[MAX_LIST];
    size_t ni = members(op, "PolicyInputList", inputs, MAX_INPUTS);
    size_t na = members(op, "ActionNames", actions, MAX_LIST);
    size_t nr = members(op, "ResourceArns", resources, MAX_LIST);
    if (na == 0) {
        iam_fail(op, 400, "ValidationError", "ActionNames must contain at least one action.");
        return;
    }
    if (nr == 0)
        resources[nr++] = "*";
    const struct policy *set[MAX_INPUTS + 256];
    struct policy *owned[MAX_INPUTS];
    size_t n = 0;
    for (size_t i = 0; p && i < p->n_identity && n < 256; i++)
        set[n++] = p->identity[i];
    for (size_t i = 0; i < ni; i++) {
        char why[300];
        if (policy_parse(qr_slice_cstr(inputs[i]), POLICY_IDENTITY, &owned[i], why, sizeof(why)) !=
            QR_OK) {
            iam_fail(op, 400, "MalformedPolicyDocument", "%s", why);
            for (size_t k = 0; k < i; k++)
                policy_free(owned[k]);
            return;
        }
        set[n++] = owned[i];
    }
    struct policy_set ps = {set, n, NULL, NULL, 0, p && p->kind == AUTH_ROOT};
    iam_open(op, "EvaluationResults");
    for (size_t a = 0; a < na; a++) {
        for (size_t r = 0; r < nr; r++) {
            struct policy_request req = {actions[a],
                                         resources[r],
                                         p ? p->arn : NULL,
                                         p && p->role_arn[0] ? p->role_arn : NULL,
                                         op->server->cfg.account_id,
                                         NULL,
                                         NULL,
                                         0};
            struct policy_verdict v;
            policy_decide(&ps, &req, &v);
            iam_open(op, "member");
            iam_elem(op, "EvalActionName", actions[a]);
            iam_elem(op, "EvalResourceName", resources[r]);
            iam_elem(op, "EvalDecision", decision_name(v.decision));
            iam_open(op, "MatchedStatements");
            if (v.match.policy) {
                size_t k = 0;
                while (k < n && set[k] != v.match.policy)
                    k++;
                char id[64];
                snprintf(id, sizeof(id), "%s%zu", k >= n - ni ? "PolicyInputList." : "policy.",
                         k >= n - ni ? k - (n - ni) + 1 : k + 1);
                iam_open(op, "member");
                iam_elem(op, "SourcePolicyId", v.match.sid ? v.match.sid : id);
                iam_elem(op, "SourcePolicyType", "IAM Policy");
                iam_close(op, "member");
            }
            iam_close(op, "MatchedStatements");
            iam_open(op, "MissingContextValues");
            iam_close(op, "MissingContextValues");
            iam_close(op, "member");
        }
    }
    iam_close(op, "EvaluationResults");
    iam_elem(op, "IsTruncated", "false");
    for (size_t i = 0; i < ni; i++)
        policy_free(owned[i]);
}

void iam_simulate_principal(struct iam_op *op)
{
    const char *arn = iam_req_str(op, "PolicySourceArn", 20, 2048);
    if (!arn)
        return;
    struct creds_identity id;
    memset(&id, 0, sizeof(id));
    bool role = strstr(arn, ":role/") != NULL;
    id.kind = role ? CREDS_ROLE_SESSION : CREDS_LONG_TERM;
    snprintf(id.principal, sizeof(id.principal), "%s", arn);
    snprintf(id.session_name, sizeof(id.session_name), "simulation");
    struct auth_principal *p = h2o_mem_alloc_pool(&op->ar->req->pool, sizeof(*p));
    authz_principal(op->snap, &id, op->server->cfg.account_id, p);
    if (!p->exists) {
        iam_fail(op, 404, "NoSuchEntity", "The principal %s cannot be found.", arn);
        return;
    }
    simulate(op, p);
}

void iam_simulate_custom(struct iam_op *op)
{
    simulate(op, NULL);
}
