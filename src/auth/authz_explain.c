/*
 * authz_explain.c - `quarry iam explain`: the decision for a principal, an action and a
 * resource under a data directory's IAM state, with every policy that applies, what each
 * said and the statement that said it. It reads meta.db read-only, so it can run next to
 * a live server and never changes anything.
 */
#include <stdio.h>
#include <string.h>

#include "auth/authz_int.h"

static const char *effect_name(enum policy_effect e)
{
    return e == POLICY_ALLOW ? "Allow" : e == POLICY_DENY ? "Deny" : "no statement applies";
}

static void say(FILE *out, const char *kind, const char *name, const struct policy *p,
                const struct policy_request *r)
{
    struct policy_match m;
    if (!p) {
        fprintf(out, "  %-9s %s: unparsable, grants nothing\n", kind, name);
        return;
    }
    enum policy_effect e = policy_eval(p, r, &m);
    fprintf(out, "  %-9s %s: %s", kind, name, effect_name(e));
    if (e != POLICY_NO_MATCH)
        fprintf(out, " (statement %zu%s%s)", m.statement, m.sid ? ", Sid " : "",
                m.sid ? m.sid : "");
    fputc('\n', out);
}

/* Each identity policy of the owner ("user:N", "role:N", "group:N"), one line each. */
static void owner_lines(FILE *out, const struct authz_snap *s, const char *owner,
                        const struct policy_request *r)
{
    const struct authz_row *rows;
    size_t n = authz_rows(s, "inline", owner, &rows);
    for (size_t i = 0; i < n; i++) {
        struct policy *p = NULL;
        char why[64], name[300];
        snprintf(name, sizeof(name), "%s/%s", owner, rows[i].name);
        if (policy_parse(rows[i].doc, POLICY_IDENTITY, &p, why, sizeof(why)) != QR_OK)
            p = NULL;
        say(out, "inline", name, p, r);
        policy_free(p);
    }
    n = authz_rows(s, "attached", owner, &rows);
    for (size_t i = 0; i < n; i++) {
        const struct policy *p = NULL;
        for (size_t k = 0; k < s->n_managed; k++)
            if (strcmp(s->managed[k].arn, rows[i].name) == 0)
                p = s->managed[k].p;
        say(out, "managed", rows[i].name, p, r);
    }
}

/* An S3 ARN's bucket ("arn:aws:s3:::bucket/key"), for its policy. */
static struct qr_slice bucket_of(const char *resource)
{
    const char *p = NULL;
    if (strncmp(resource, "arn:aws:s3:::", 13) == 0)
        p = resource + 13;
    else if (strncmp(resource, "arn:aws:s3express:", 18) == 0 && strstr(resource, ":bucket/"))
        p = strstr(resource, ":bucket/") + 8;
    if (!p)
        return qr_slice(NULL, 0);
    size_t n = strcspn(p, "/");
    return qr_slice(p, n);
}

int authz_explain(const char *data_dir, const char *account, const char *principal_arn,
                  const char *action, const char *resource, FILE *out)
{
    struct authz *a;
    if (authz_new(account, &a) != QR_OK || authz_load_dir(a, data_dir) != QR_OK) {
        fprintf(out, "cannot read the IAM state of %s\n", data_dir);
        return 2;
    }
    const struct authz_snap *s = authz_acquire(a);
    struct creds_identity id;
    memset(&id, 0, sizeof(id));
    bool role = strstr(principal_arn, ":role/") != NULL;
    bool root = strstr(principal_arn, ":root") != NULL || strcmp(principal_arn, "root") == 0;
    id.kind = role ? CREDS_ROLE_SESSION : CREDS_LONG_TERM;
    snprintf(id.principal, sizeof(id.principal), "%s", root ? "root" : principal_arn);
    snprintf(id.session_name, sizeof(id.session_name), "explain");
    const char *ar = strstr(principal_arn, ":assumed-role/");
    const char *role_arn;
    if (ar) { /* arn:aws:sts::ACCT:assumed-role/ROLE/SESSION: a session of ROLE */
        char name[130];
        const char *r0 = ar + 14, *slash = strchr(r0, '/');
        size_t n = slash ? (size_t)(slash - r0) : strlen(r0);
        snprintf(name, sizeof(name), "%.*s", (int)(n < 129 ? n : 129), r0);
        role = true;
        id.kind = CREDS_ROLE_SESSION;
        if (authz_role(s, name, &role_arn, NULL, NULL, NULL))
            snprintf(id.principal, sizeof(id.principal), "%s", role_arn);
        if (slash)
            snprintf(id.session_name, sizeof(id.session_name), "%s", slash + 1);
    }
    struct auth_principal p;
    authz_principal(s, &id, account, &p);
    struct qr_slice bucket = bucket_of(resource);
    struct authz_check c = {action, resource, bucket.len ? authz_bucket_policy(s, bucket) : NULL,
                            NULL, 0};
    struct policy_request r = {action,  resource, p.arn, p.role_arn[0] ? p.role_arn : NULL,
                               account, NULL,     NULL,  0};
    fprintf(out, "principal %s%s\naction    %s\nresource  %s\n", p.arn,
            p.exists ? "" : " (does not exist: no policy applies)", action, resource);
    char owner[200];
    if (p.exists && !root) {
        snprintf(owner, sizeof(owner), "%s:%s", role ? "role" : "user",
                 authz_arn_last(role ? p.role_arn : p.arn));
        owner_lines(out, s, owner, &r);
        const struct authz_row *m;
        size_t nm = role ? 0 : authz_rows(s, "member", NULL, &m);
        for (size_t i = 0; i < nm; i++) {
            if (strcmp(m[i].name, authz_arn_last(p.arn)) != 0)
                continue;
            snprintf(owner, sizeof(owner), "group:%s", m[i].parent);
            owner_lines(out, s, owner, &r);
        }
    }
    if (c.resource_policy) {
        char name[100];
        snprintf(name, sizeof(name), "bucket %.*s", (int)bucket.len, (const char *)bucket.p);
        say(out, "resource", name, c.resource_policy, &r);
    }
    struct policy_verdict v;
    authz_decide(&p, &c, &v);
    static const char *const src[] = {"", "identity-based", "resource-based", "session"};
    if (v.decision == POLICY_DECISION_ALLOW) {
        fprintf(out, "decision  Allow%s%s%s\n", root ? " (the account's root)" : "",
                v.source != POLICY_SRC_NONE ? " by a(n) " : "", src[v.source]);
    } else {
        char msg[2600];
        authz_deny_message(&p, &c, &v, msg, sizeof(msg));
        fprintf(out, "decision  %s\n          %s\n",
                v.decision == POLICY_DECISION_EXPLICIT_DENY ? "ExplicitDeny" : "ImplicitDeny", msg);
    }
    if (v.match.policy)
        fprintf(out, "decided by statement %zu%s%s of the %s policy\n", v.match.statement,
                v.match.sid ? ", Sid " : "", v.match.sid ? v.match.sid : "", src[v.source]);
    bool ok = v.decision == POLICY_DECISION_ALLOW;
    authz_release(s);
    authz_free(a);
    return ok ? 0 : 1;
}
