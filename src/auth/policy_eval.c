/*
 * policy_eval.c - matches a compiled policy against one request, and AWS's single-account
 * decision over a principal's policies (policy_decide).
 *
 * Runs on the hot path of every request, from any thread: no heap, no locks, no JSON. The
 * only large temporaries are the stack buffers of policy-variable substitution, and only
 * for patterns that hold ${...}. Text from variables is matched literally, never as a
 * wildcard: a user named "a*" or a prefix "*" must not widen a pattern.
 */
#include <string.h>
#include <strings.h>

#include "auth/policy.h"
#include "auth/policy_int.h"

/* ---- request context -------------------------------------------------------------- */

static inline char fold(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

/* key (key_len bytes) equals the C string name, ASCII case folded. (libc's strncasecmp
 * goes through the locale: several times slower on this path.) */
static bool key_is(const char *key, size_t key_len, const char *name)
{
    for (size_t i = 0; i < key_len; i++)
        if (name[i] != key[i] && (name[i] == '\0' || fold(name[i]) != fold(key[i])))
            return false;
    return name[key_len] == '\0';
}

bool pol_ctx_get(const struct policy_request *r, const char *key, size_t key_len,
                 const char *const **out_vals, size_t *out_n)
{
    for (size_t i = 0; i < r->n_ctx; i++) {
        const char *k = r->ctx[i].key;
        if (k && key_is(key, key_len, k)) {
            *out_vals = r->ctx[i].values;
            *out_n = r->ctx[i].values ? r->ctx[i].n_values : 0;
            return true;
        }
    }
    /* keys the request already states in its own fields */
    if (r->principal_arn && key_is(key, key_len, "aws:PrincipalArn")) {
        *out_vals = &r->principal_arn;
        *out_n = 1;
        return true;
    }
    if (r->account && key_is(key, key_len, "aws:PrincipalAccount")) {
        *out_vals = &r->account;
        *out_n = 1;
        return true;
    }
    return false;
}

/* ---- policy variables ------------------------------------------------------------- */

static bool put(struct pol_exp *e, const char *s, size_t n, uint8_t lit)
{
    if (n > POLICY_MAX_EXPAND - e->len)
        return false;
    memcpy(e->s + e->len, s, n);
    memset(e->lit + e->len, lit, n);
    e->len += n;
    return true;
}

static void trim(const char **s, size_t *n)
{
    while (*n && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
}

/* One ${...} body (between the braces): appends its value; false when it has none. */
static bool expand_var(const char *in, size_t n, const struct policy_request *r,
                       struct pol_exp *out)
{
    if (n == 1 && (in[0] == '*' || in[0] == '?' || in[0] == '$'))
        return put(out, in, 1, 1);
    const char *comma = memchr(in, ',', n);
    const char *key = in;
    size_t klen = comma ? (size_t)(comma - in) : n;
    trim(&key, &klen);
    const char *const *vals;
    size_t nv;
    /* a multivalued key cannot be a variable ("IAM policy elements: Variables and tags") */
    if (klen && pol_ctx_get(r, key, klen, &vals, &nv) && nv == 1 && vals[0])
        return put(out, vals[0], strlen(vals[0]), 1);
    if (!comma)
        return false;
    const char *def = comma + 1;
    size_t dlen = n - (size_t)(def - in);
    trim(&def, &dlen);
    if (dlen < 2 || def[0] != '\'' || def[dlen - 1] != '\'')
        return false;
    return put(out, def + 1, dlen - 2, 1);
}

bool pol_expand(const char *s, size_t len, const struct policy_request *r, struct pol_exp *out)
{
    out->len = 0;
    size_t i = 0;
    while (i < len) {
        if (s[i] == '$' && i + 1 < len && s[i + 1] == '{') {
            const char *close = memchr(s + i + 2, '}', len - i - 2);
            if (close) {
                if (!expand_var(s + i + 2, (size_t)(close - s) - i - 2, r, out))
                    return false;
                i = (size_t)(close - s) + 1;
                continue;
            }
        }
        if (!put(out, s + i, 1, 0))
            return false;
        i++;
    }
    out->s[out->len] = '\0';
    return true;
}

/* ---- glob ------------------------------------------------------------------------- */

/* Iterative glob with one backtrack point: O(plen * slen) at worst, no recursion. */
bool pol_glob(const char *pat, const uint8_t *lit, size_t plen, const char *s, size_t slen,
              bool icase)
{
    size_t p = 0, i = 0, star = (size_t)-1, mark = 0;
    while (i < slen) {
        bool wild = p < plen && !(lit && lit[p]);
        if (wild && pat[p] == '*') {
            star = p++;
            mark = i;
            continue;
        }
        if (p < plen &&
            ((wild && pat[p] == '?') || pat[p] == s[i] || (icase && fold(pat[p]) == fold(s[i])))) {
            p++;
            i++;
            continue;
        }
        if (star != (size_t)-1) {
            p = star + 1;
            i = ++mark;
            continue;
        }
        return false;
    }
    while (p < plen && pat[p] == '*' && !(lit && lit[p]))
        p++;
    return p == plen;
}

static bool ieq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i] && fold(a[i]) != fold(b[i]))
            return false;
    return true;
}

struct pol_pat pol_pat_of(const char *s, size_t len)
{
    size_t k = 0;
    while (k < len && s[k] != '*' && s[k] != '?')
        k++;
    size_t t = 0;
    while (t < len - k && s[len - 1 - t] != '*' && s[len - 1 - t] != '?')
        t++;
    struct pol_pat p = {.shape = SHAPE_GLOB, .fixed = k, .tail = t};
    if (k == len)
        p.shape = SHAPE_EXACT;
    else if (k + 1 == len && s[k] == '*')
        p.shape = SHAPE_PREFIX;
    return p;
}

bool pol_pat_match(const char *pat, size_t plen, struct pol_pat sh, const char *s, size_t slen,
                   bool icase)
{
    if (slen < sh.fixed)
        return false;
    if (icase ? !ieq(pat, s, sh.fixed) : memcmp(pat, s, sh.fixed) != 0)
        return false;
    switch (sh.shape) {
    case SHAPE_EXACT:
        return slen == plen;
    case SHAPE_PREFIX:
        return true;
    case SHAPE_GLOB:
        /* the literal tail must end the subject: a cheap refusal before the glob */
        if (slen - sh.fixed < sh.tail)
            return false;
        if (icase ? !ieq(pat + plen - sh.tail, s + slen - sh.tail, sh.tail)
                  : memcmp(pat + plen - sh.tail, s + slen - sh.tail, sh.tail) != 0)
            return false;
        return pol_glob(pat + sh.fixed, NULL, plen - sh.fixed, s + sh.fixed, slen - sh.fixed,
                        icase);
    }
    return false;
}

/* Offsets of the first five colons; false when there are fewer. */
static bool arn_colons(const char *s, size_t len, size_t at[5])
{
    size_t n = 0;
    for (size_t i = 0; i < len && n < 5; i++)
        if (s[i] == ':')
            at[n++] = i;
    return n == 5;
}

bool pol_arn_like(const char *pat, const uint8_t *lit, size_t plen, const char *s, size_t slen)
{
    size_t pc[5], sc[5];
    if (!arn_colons(pat, plen, pc) || !arn_colons(s, slen, sc))
        return plen == 1 && pat[0] == '*' && !(lit && lit[0]);
    size_t ps = 0, ss = 0;
    for (int k = 0; k <= 5; k++) {
        size_t pe = k < 5 ? pc[k] : plen, se = k < 5 ? sc[k] : slen;
        if (!pol_glob(pat + ps, lit ? lit + ps : NULL, pe - ps, s + ss, se - ss, false))
            return false;
        ps = pe + 1;
        ss = se + 1;
    }
    return true;
}

/* ---- statement matching ----------------------------------------------------------- */

static bool action_one(const struct pol_action *a, const char *act, size_t vlen, const char *name,
                       size_t nlen)
{
    if (a->all)
        return true;
    return a->vendor_len == vlen && ieq(a->vendor, act, vlen) &&
           pol_pat_match(a->name, a->name_len, a->pat, name, nlen, true);
}

/* The request's action and resource, split and measured once per decision rather than
 * once per statement. */
struct prep {
    const struct policy_request *r;
    const char *vendor; /* the action up to ':' */
    size_t vlen;        /* (size_t)-1 when the action has no ':' (matches only "*") */
    const char *name;   /* the action after ':' */
    size_t nlen;
    const char *res; /* resource, "*" when NULL */
    size_t rlen;
};

static void prep_init(const struct policy_request *r, struct prep *q)
{
    const char *act = r->action ? r->action : "";
    const char *colon = strchr(act, ':');
    q->r = r;
    q->vendor = act;
    q->vlen = colon ? (size_t)(colon - act) : (size_t)-1;
    q->name = colon ? colon + 1 : "";
    q->nlen = strlen(q->name);
    q->res = r->resource ? r->resource : "*";
    q->rlen = strlen(q->res);
}

static bool actions_match(const struct pol_stmt *st, const struct prep *q)
{
    bool any = false;
    for (size_t i = 0; i < st->n_acts && !any; i++)
        any = action_one(&st->acts[i], q->vendor, q->vlen, q->name, q->nlen);
    return st->act_mode == MODE_NOT ? !any : any;
}

/* A request without a resource ("*": ListAllMyBuckets, ListFunctions) is matched by "*"
 * and by an ARN pattern whose resource part is "*" ("arn:aws:s3:::*"), the forms AWS's
 * examples grant such actions with; never by a pattern naming one resource. */
static bool star_request(const char *pat, const uint8_t *lit, size_t plen)
{
    size_t c[5];
    if (plen == 1)
        return pat[0] == '*' && !(lit && lit[0]);
    return arn_colons(pat, plen, c) && c[4] + 2 == plen && pat[plen - 1] == '*' &&
           !(lit && lit[plen - 1]);
}

/* A Resource holding ${...}: expanded into a stack buffer, kept out of resource_one so
 * that the common path has no 8 KiB frame to probe. */
static __attribute__((noinline)) bool
resource_var(const struct pol_res *pr, const struct policy_request *r, const char *res, size_t rlen)
{
    struct pol_exp exp;
    if (!pol_expand(pr->s, pr->len, r, &exp))
        return false;
    if (rlen == 1 && res[0] == '*')
        return star_request(exp.s, exp.lit, exp.len);
    return pol_glob(exp.s, exp.lit, exp.len, res, rlen, false);
}

static bool resource_one(const struct pol_res *pr, const struct policy_request *r, const char *res,
                         size_t rlen)
{
    if (pr->var)
        return resource_var(pr, r, res, rlen);
    if (rlen == 1 && res[0] == '*')
        return star_request(pr->s, NULL, pr->len);
    return pol_pat_match(pr->s, pr->len, pr->pat, res, rlen, false);
}

static bool resources_match(const struct pol_stmt *st, const struct prep *q)
{
    if (st->res_mode == MODE_NONE)
        return true;
    bool any = false;
    for (size_t i = 0; i < st->n_res && !any; i++)
        any = resource_one(&st->res[i], q->r, q->res, q->rlen);
    return st->res_mode == MODE_NOT ? !any : any;
}

static bool is_root_arn(const char *arn)
{
    size_t n = arn ? strlen(arn) : 0;
    return n > 5 && memcmp(arn + n - 5, ":root", 5) == 0;
}

/* How principal pr names the caller. For NotPrincipal (exclusion) only an exact name
 * counts: AWS documents that excluding a role or an account there does not exclude the
 * role's sessions or the account's users ("AWS JSON policy elements: NotPrincipal"). */
static enum pol_grant principal_one(const struct pol_principal *pr, const struct policy_request *r,
                                    bool exclusion)
{
    switch (pr->kind) {
    case PK_ANY:
        return GRANT_BROAD;
    case PK_ACCOUNT:
        if (!r->account || strcmp(pr->s, r->account) != 0)
            return GRANT_NONE;
        if (exclusion && !is_root_arn(r->principal_arn))
            return GRANT_NONE;
        return GRANT_ACCOUNT;
    case PK_ARN:
        if (r->principal_arn && strcmp(pr->s, r->principal_arn) == 0)
            return GRANT_EXACT;
        if (!exclusion && r->principal_role && strcmp(pr->s, r->principal_role) == 0)
            return GRANT_BROAD;
        return GRANT_NONE;
    case PK_SERVICE:
        return r->service && strcasecmp(pr->s, r->service) == 0 ? GRANT_EXACT : GRANT_NONE;
    case PK_OTHER:
        return GRANT_NONE;
    }
    return GRANT_NONE;
}

static enum pol_grant principals_match(const struct pol_stmt *st, const struct policy_request *r)
{
    if (st->pr_mode == MODE_NONE)
        return GRANT_BROAD;
    bool excl = st->pr_mode == MODE_NOT;
    enum pol_grant best = GRANT_NONE;
    for (size_t i = 0; i < st->n_prs; i++) {
        enum pol_grant g = principal_one(&st->prs[i], r, excl);
        if (g > best)
            best = g;
    }
    if (excl)
        return best == GRANT_NONE ? GRANT_BROAD : GRANT_NONE;
    return best;
}

/* "If AWS cannot resolve a variable, this might cause the entire statement to be
 * invalid" ("IAM policy elements: Variables and tags"): a statement with a variable that
 * has no value here (and no default), or that would expand past POLICY_MAX_EXPAND,
 * applies to nothing, neither as Allow nor as Deny. Checked before matching so that a
 * NotResource or a negated operator never reads "no match" as "matches". */
static bool vars_resolve(const struct pol_stmt *st, const struct policy_request *r)
{
    struct pol_exp tmp;
    for (size_t i = 0; i < st->n_res; i++)
        if (st->res[i].var && !pol_expand(st->res[i].s, st->res[i].len, r, &tmp))
            return false;
    for (size_t i = 0; i < st->n_conds; i++)
        for (size_t k = 0; k < st->conds[i].n_vals; k++) {
            const struct pol_val *v = &st->conds[i].vals[k];
            if (v->var && !pol_expand(v->s, v->len, r, &tmp))
                return false;
        }
    return true;
}

static enum pol_grant stmt_applies(const struct policy *p, const struct pol_stmt *st,
                                   const struct prep *q)
{
    enum pol_grant g = principals_match(st, q->r);
    if (g == GRANT_NONE || !actions_match(st, q) || (st->has_vars && !vars_resolve(st, q->r)) ||
        !resources_match(st, q) || !pol_conds_hold(p, st, q->r))
        return GRANT_NONE;
    return g;
}

static void set_match(const struct policy *p, size_t i, struct policy_match *m)
{
    if (!m)
        return;
    m->policy = p;
    m->statement = i;
    m->sid = p ? p->stmts[i].sid : NULL;
}

/* One document: the first Deny that applies, else the Allow that names the caller most
 * strongly (first such), else no match. */
static enum policy_effect eval_doc(const struct policy *p, const struct prep *q,
                                   struct policy_match *m, enum pol_grant *out_grant)
{
    enum pol_grant best = GRANT_NONE;
    size_t best_i = 0;
    *out_grant = GRANT_NONE;
    if (m)
        *m = (struct policy_match){0};
    if (!p)
        return POLICY_NO_MATCH;
    for (size_t i = 0; i < p->n_stmts; i++) {
        enum pol_grant g = stmt_applies(p, &p->stmts[i], q);
        if (g == GRANT_NONE)
            continue;
        if (p->stmts[i].deny) {
            set_match(p, i, m);
            *out_grant = g;
            return POLICY_DENY;
        }
        if (g > best) {
            best = g;
            best_i = i;
        }
    }
    if (best == GRANT_NONE)
        return POLICY_NO_MATCH;
    set_match(p, best_i, m);
    *out_grant = best;
    return POLICY_ALLOW;
}

enum policy_effect policy_eval(const struct policy *p, const struct policy_request *r,
                               struct policy_match *out_match)
{
    enum pol_grant g;
    struct prep q;
    prep_init(r, &q);
    return eval_doc(p, &q, out_match, &g);
}

/* ---- decision --------------------------------------------------------------------- */

struct tally {
    bool allow;                /* some policy of the group allows */
    struct policy_match first; /* the first allowing statement */
    enum pol_grant grant;      /* resource policy: how it named the caller */
};

/* Evaluates a group of policies; true (and *out filled) when one of them denies. */
static bool eval_group(const struct policy *const *ps, size_t n, const struct prep *q,
                       enum policy_source src, struct tally *t, struct policy_verdict *out)
{
    for (size_t i = 0; i < n; i++) {
        struct policy_match m;
        enum pol_grant g;
        enum policy_effect e = eval_doc(ps[i], q, &m, &g);
        if (e == POLICY_DENY) {
            out->decision = POLICY_DECISION_EXPLICIT_DENY;
            out->source = src;
            out->match = m;
            return true;
        }
        if (e == POLICY_ALLOW && (!t->allow || g > t->grant)) {
            t->allow = true;
            t->first = m;
            t->grant = g;
        }
    }
    return false;
}

void policy_decide(const struct policy_set *s, const struct policy_request *r,
                   struct policy_verdict *out)
{
    struct tally id = {0}, res = {0}, sess = {0};
    const struct policy *resource = s->resource;
    struct prep q;
    prep_init(r, &q);
    *out = (struct policy_verdict){.decision = POLICY_DECISION_IMPLICIT_DENY,
                                   .source = POLICY_SRC_NONE};
    if (eval_group(&resource, resource ? 1 : 0, &q, POLICY_SRC_RESOURCE, &res, out) ||
        eval_group(s->identity, s->n_identity, &q, POLICY_SRC_IDENTITY, &id, out) ||
        eval_group(s->session, s->n_session, &q, POLICY_SRC_SESSION, &sess, out))
        return;
    if (s->is_root) {
        out->decision = POLICY_DECISION_ALLOW;
        return;
    }
    /* A resource policy naming the caller's own ARN (a user, a role session, a service)
     * grants on its own, session policies notwithstanding ("Policy evaluation logic":
     * "Resource-based policies ... session policies"). */
    if (res.allow && res.grant == GRANT_EXACT) {
        out->decision = POLICY_DECISION_ALLOW;
        out->source = POLICY_SRC_RESOURCE;
        out->match = res.first;
        return;
    }
    /* A role is assumed only when its trust policy allows it, whatever the caller's
     * identity policies say ("How to use trust policies with IAM roles"). */
    if (resource && resource->kind == POLICY_TRUST && !res.allow) {
        out->source = POLICY_SRC_RESOURCE;
        return;
    }
    /* Naming only the account delegates to the caller's identity policies. */
    bool res_grants = res.allow && res.grant >= GRANT_BROAD;
    if (!id.allow && !res_grants)
        return;
    if (s->n_session > 0 && !sess.allow) {
        out->source = POLICY_SRC_SESSION; /* "because no session policy allows ..." */
        return;
    }
    out->decision = POLICY_DECISION_ALLOW;
    out->source = id.allow ? POLICY_SRC_IDENTITY : POLICY_SRC_RESOURCE;
    out->match = id.allow ? id.first : res.first;
}
