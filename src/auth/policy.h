/*
 * policy.h - IAM policy documents: parse and validate them once, evaluate them many times.
 *
 * A document is parsed (JSON, bounded) into an immutable struct policy that any number of
 * threads may evaluate at once without locks. Evaluation never parses JSON, never touches
 * SQLite and never allocates on the heap: the authorization point calls it on every
 * request. The single-account logic of AWS (explicit deny > allow > implicit deny, session
 * policies that narrow and never widen, resource policies that can grant on their own) is
 * policy_decide; policy_eval answers for one document.
 *
 * Core module: no HTTP, no AWS error strings (MalformedPolicyDocument is the API's word).
 */
#ifndef QR_POLICY_H
#define QR_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "util/slice.h"

/* What a document is for: decides which elements it must and must not have (an identity
 * policy has no Principal; a resource or trust policy needs one). */
enum policy_kind {
    POLICY_IDENTITY, /* user, group or role policy (inline or managed); session policy */
    POLICY_RESOURCE, /* bucket policy, function resource policy */
    POLICY_TRUST,    /* a role's AssumeRolePolicyDocument */
};

struct policy; /* immutable after policy_parse; safe to evaluate from any thread */

/* Parses and validates doc as IAM does (Version 2012-10-17 or 2008-10-17, Statement
 * object or array, Effect Allow|Deny, Action xor NotAction, Resource xor NotResource
 * (absent in trust policies), Principal xor NotPrincipal where kind allows it, Condition
 * operators and keys, ARN shapes, size <= 131072 bytes, nesting bounded). On success *out
 * is owned by the caller (free with policy_free). On failure returns QR_E_BAD_INPUT (or
 * QR_E_TOO_LARGE) and writes a one-line reason for MalformedPolicyDocument into why
 * (NUL-terminated, cut to why_cap); *out untouched. Any thread. */
enum qr_err policy_parse(struct qr_slice doc, enum policy_kind kind, struct policy **out,
                         char *why, size_t why_cap) __attribute__((warn_unused_result));
void policy_free(struct policy *p);

/* One condition key of a request and its values (several for multi-valued keys such as
 * aws:TagKeys, matched with ForAnyValue / ForAllValues). Key names compare
 * case-insensitively as IAM's do; values are as given. Everything borrowed. */
struct policy_kv {
    const char *key;           /* "aws:username", "s3:prefix", "aws:SourceIp", ... */
    const char *const *values; /* n_values values */
    size_t n_values;
};

/* The request being decided. Everything borrowed for the call. Policy variables
 * (${aws:username}, ${aws:userid}, ${aws:PrincipalArn}, ...) in Resource and Condition
 * values are replaced from ctx; ${*}, ${?}, ${$} are the literal characters. */
struct policy_request {
    const char *action;         /* "s3:GetObject": service prefix matches case-insensitively */
    const char *resource;       /* full ARN of the resource, "*" when the action has none */
    const char *principal_arn;  /* the caller's ARN (for Principal / NotPrincipal), e.g.
                                   "arn:aws:iam::123456789012:user/alice", an assumed-role
                                   session ARN, or NULL for a service principal */
    const char *principal_role; /* for an assumed-role session: the role's ARN, which a
                                   Principal naming the role also matches; else NULL */
    const char *account;        /* the caller's account id ("AWS": "123456789012" and
                                   "arn:aws:iam::123456789012:root" match any principal of it) */
    const char *service;        /* "lambda.amazonaws.com" when a service assumes a role (trust
                                   policies: "Service" principals), else NULL */
    const struct policy_kv *ctx; /* condition keys known for this request */
    size_t n_ctx;
};

enum policy_effect {
    POLICY_NO_MATCH, /* no statement applies */
    POLICY_ALLOW,    /* an Allow statement applies and no Deny does */
    POLICY_DENY,     /* a Deny statement applies */
};

/* Which statement decided. */
struct policy_match {
    const struct policy *policy; /* borrowed; NULL when nothing matched */
    size_t statement;            /* index in the document's Statement list */
    const char *sid;             /* the statement's Sid, or NULL; lives as long as policy */
};

/* Evaluates one document against r. out_match may be NULL. Any thread; never fails.
 * A statement holding a ${...} that r cannot resolve (no such key, no default) applies to
 * nothing, neither as Allow nor as Deny: AWS calls such a statement invalid. */
enum policy_effect policy_eval(const struct policy *p, const struct policy_request *r,
                               struct policy_match *out_match);

/* The policies that apply to one request. All borrowed. */
struct policy_set {
    const struct policy *const *identity; /* the principal's identity policies (its own inline
                                             and managed ones, its groups'); root: none */
    size_t n_identity;
    const struct policy *resource;        /* bucket or function policy, or NULL */
    const struct policy *const *session;  /* session policies of an assumed-role session
                                             (inline Policy + PolicyArns); n_session == 0:
                                             none, nothing narrows */
    size_t n_session;
    bool is_root;                         /* the account's root: allowed unless a resource
                                             policy denies explicitly */
};

enum policy_decision {
    POLICY_DECISION_ALLOW,
    POLICY_DECISION_IMPLICIT_DENY,
    POLICY_DECISION_EXPLICIT_DENY,
};

/* Where the deciding statement was (for AccessDenied messages and `quarry iam explain`). */
enum policy_source {
    POLICY_SRC_NONE,
    POLICY_SRC_IDENTITY,
    POLICY_SRC_RESOURCE,
    POLICY_SRC_SESSION,
};

struct policy_verdict {
    enum policy_decision decision;
    enum policy_source source; /* the policy type that decided (for a deny: that denied) */
    struct policy_match match; /* the statement that decided, when one did */
};

/* AWS's single-account evaluation: an explicit Deny in any policy denies; otherwise the
 * request is allowed when an identity policy or the resource policy allows it and, if
 * there are session policies, one of them allows it too (a resource policy that names the
 * session's own ARN as Principal is not narrowed by session policies); else implicit
 * deny. Any thread; never fails.
 * Details: a resource policy that names only the caller's account (Principal "ACCT" or
 * arn:aws:iam::ACCT:root) grants nothing by itself: the identity policies must allow too.
 * A resource policy parsed as POLICY_TRUST must allow (sts:AssumeRole): an identity
 * policy alone never lets anyone assume a role. On an implicit deny, source is
 * POLICY_SRC_SESSION when identity/resource policies allowed but no session policy did,
 * POLICY_SRC_RESOURCE when a trust policy did not allow, else POLICY_SRC_NONE. A request
 * without a resource (resource "*") is matched by Resource "*" and by ARN patterns whose
 * resource part is "*" ("arn:aws:s3:::*"), never by one naming a resource. */
void policy_decide(const struct policy_set *s, const struct policy_request *r,
                   struct policy_verdict *out);

/* The request context keys p reads (Condition keys and ${...} variables), each once
 * (keys compare case-insensitively; the first spelling is kept), in document order:
 * *out_n entries, borrowed, living as long as p. Lets the caller compute only the values
 * some policy needs, and name missing ones (SimulatePrincipalPolicy's
 * MissingContextValues). Any thread. */
const char *const *policy_context_keys(const struct policy *p, size_t *out_n);

/* The document of an AWS managed policy known by its ARN
 * ("arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole", ...), as AWS
 * publishes it (static, NUL-terminated JSON), or NULL when quarry does not know it. The
 * caller parses it with policy_parse(POLICY_IDENTITY) like any other. Any thread. */
const char *policy_managed_document(const char *arn);

/* The ARNs of every managed policy policy_managed_document knows, in a stable order:
 * *out_n entries, static. For ListPolicies --scope AWS. Any thread. */
const char *const *policy_managed_list(size_t *out_n);

/* What GetPolicy / ListPolicies say about an AWS managed policy, as AWS publishes it. */
struct policy_managed {
    const char *arn;         /* "arn:aws:iam::aws:policy/service-role/AWSLambdaRole" */
    const char *name;        /* "AWSLambdaRole" */
    const char *path;        /* "/service-role/" or "/" */
    const char *version;     /* default version id, "v1" */
    const char *created;     /* CreateDate, ISO 8601 UTC */
    const char *updated;     /* UpdateDate (the default version's), ISO 8601 UTC */
    const char *description; /* AWS's description */
    const char *document;    /* the default version's JSON */
};

/* The managed policy with this ARN, or NULL; static. Any thread. */
const struct policy_managed *policy_managed_find(const char *arn);

/* Every managed policy known, in the order of policy_managed_list: *out_n entries,
 * static. Any thread. */
const struct policy_managed *policy_managed_all(size_t *out_n);

#endif
