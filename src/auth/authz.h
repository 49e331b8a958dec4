/*
 * authz.h - who is asking and may they: the account's IAM state compiled into an
 * immutable snapshot, the principal a credential stands for, the table from each
 * operation to its IAM action and resource ARN (AWS's Service Authorization Reference),
 * and the one decision every API asks for.
 *
 * The snapshot holds every IAM row (for the IAM API's reads) and, compiled once, the
 * policies that apply to each user and role, the access keys and the bucket policies.
 * It is rebuilt from the store after every IAM change and swapped in whole: a request
 * holds a reference to the snapshot it started with (RCU-style refcounted pointer), so
 * the hot path never parses JSON or runs SQL, and never sees a half-applied change.
 *
 * Core module: no HTTP, no AWS error codes. Thread-safety: authz_acquire/release and
 * everything taking a const snapshot may run on any thread; authz_reload on any thread
 * that owns the reader it is given (reloads serialise on an internal mutex).
 */
#ifndef QR_AUTHZ_H
#define QR_AUTHZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "auth/creds.h"
#include "auth/policy.h"
#include "util/err.h"
#include "util/slice.h"

struct store_reader;
struct az_sess_cache;
struct authz;      /* the holder of the current snapshot */
struct authz_snap; /* one immutable snapshot */

/* Creates the holder with an empty snapshot for account (12 digits). Main thread. */
enum qr_err authz_new(const char *account, struct authz **out) __attribute__((warn_unused_result));
void authz_free(struct authz *a);

/* Access key last used (IAM's GetAccessKeyLastUsed). authz_note_use records, in memory,
 * that an IAM user's access key authenticated a request (other credentials are ignored);
 * cheap: a mutex and a binary search, a change only once a second per key and scope.
 * authz_last_used copies what is known of a key. authz_uses_due hands the changed entries
 * to the caller, who writes them to the store, at most once a minute (or as often as
 * authz_set_use_flush_ms says) (*out malloc'ed, NULL when none are due); authz_uses_all
 * hands them all whenever asked (at shutdown). Any thread. */
struct authz_use {
    char akid[32];
    int64_t ms;
    char service[33];
    char region[33];
    bool dirty;
};
void authz_note_use(struct authz *a, const struct creds_identity *id, const char *service,
                    const char *region, int64_t now_ms);
bool authz_last_used(struct authz *a, const char *akid, struct authz_use *out);
size_t authz_uses_due(struct authz *a, int64_t now_ms, struct authz_use **out);
size_t authz_uses_all(struct authz *a, int64_t now_ms, struct authz_use **out);
void authz_set_use_flush_ms(struct authz *a, int64_t ms);

/* Reads every IAM row through r, compiles a snapshot and swaps it in. A row whose policy
 * no longer parses is skipped (logged by the caller through the returned count).
 * Errors: QR_E_DB. */
enum qr_err authz_reload(struct authz *a, struct store_reader *r)
    __attribute__((warn_unused_result));

/* The same from DATA/meta.db read directly (quarry iam explain). Errors: QR_E_DB. */
enum qr_err authz_load_dir(struct authz *a, const char *data_dir)
    __attribute__((warn_unused_result));

/* Explains the decision for principal_arn (root, a user, a role: as a session of it)
 * doing action on resource under the IAM state of data_dir (and the bucket policy when
 * resource is an S3 ARN): prints the decision, the policy type and the statement that
 * decided to out. Returns 0 allowed, 1 denied, 2 on error. Main thread. */
int authz_explain(const char *data_dir, const char *account, const char *principal_arn,
                  const char *action, const char *resource, FILE *out);

/* The current snapshot, referenced until authz_release. Any thread. */
const struct authz_snap *authz_acquire(struct authz *a);
void authz_release(const struct authz_snap *s);

/* ---- rows, for the IAM API ---- */

struct authz_row {
    const char *kind, *parent, *name; /* NUL-terminated */
    struct qr_slice doc;
};

/* The rows of kind whose parent is parent (NULL: any parent), in (parent, name) order:
 * *out points at the first, the count is returned. Borrowed from s. */
size_t authz_rows(const struct authz_snap *s, const char *kind, const char *parent,
                  const struct authz_row **out);
/* One row, or NULL. */
const struct authz_row *authz_row(const struct authz_snap *s, const char *kind, const char *parent,
                                  const char *name);

/* A string (copied, free it) or integer member of a row's JSON document, or dflt. */
char *authz_doc_str(struct qr_slice doc, const char *member, const char *dflt);
int64_t authz_doc_int(struct qr_slice doc, const char *member, int64_t dflt);

/* ---- principals ---- */

enum auth_kind {
    AUTH_ROOT,         /* the account's root key */
    AUTH_USER,         /* an IAM user's access key */
    AUTH_ROLE_SESSION, /* STS AssumeRole credentials */
    AUTH_FUNCTION,     /* a function's execution-role session */
    AUTH_USER_SESSION, /* STS GetSessionToken credentials of a user */
    AUTH_S3EXPRESS,    /* an S3 Express session (its bucket and mode) */
};

#define AUTH_MAX_ARN          1200
#define AUTHZ_SESSION_CACHE   128 /* compiled session policies kept per snapshot (LRU) */
#define AUTH_MAX_SESSION_ARNS 10  /* PolicyArns of an AssumeRole, as STS allows */

/* A role session's policy as carried in its token: the inline session policy, or
 * "arns:ARN,ARN\n" followed by it when PolicyArns were given. */
#define AUTH_SESSION_ARNS_PREFIX "arns:"

/* Who a request acts as. The identity policies are borrowed from the snapshot the
 * principal was resolved in, which must stay acquired while they are used. */
struct auth_principal {
    enum auth_kind kind;
    char account[13];
    char arn[AUTH_MAX_ARN];      /* the caller: ...:root, ...:user/path/name,
                                    arn:aws:sts::ACCT:assumed-role/ROLE/SESSION */
    char role_arn[AUTH_MAX_ARN]; /* sessions of a role: the role's ARN, else "" */
    char unique_id[160];         /* AIDA..., AROA...:session, or the account for root */
    char user_name[130];         /* users: the user name; sessions: "" */
    char session_name[65];       /* role and function sessions */
    int64_t expires_ms;          /* temporary credentials, else 0 */
    const char *session_policy;  /* role sessions: the session policy JSON or NULL */
    const char *session_docs[AUTH_MAX_SESSION_ARNS]; /* documents of its PolicyArns */
    size_t n_session_docs;
    const char *session_key;              /* role sessions with a policy: the token's policy
                                             text, which keys the compiled copy; else NULL */
    uint64_t session_hash;                /* its hash */
    struct az_sess_cache *session_cache;  /* the resolving snapshot's compiled sessions */
    bool exists;                          /* false when the user or role it names is gone */
    const struct policy *const *identity; /* its identity policies, borrowed */
    size_t n_identity;
};

/* Resolves an authenticated credential to its principal in snapshot s. Any thread. */
void authz_principal(const struct authz_snap *s, const struct creds_identity *id,
                     const char *account, struct auth_principal *out);

/* The principal of an in-process caller acting as a role (a batch job as its RoleArn): a
 * session named session of role_arn, resolved in s like a function's credentials.
 * exists is false when the role is gone, so every decision denies. Any thread. */
void authz_role_principal(const struct authz_snap *s, const char *account, const char *role_arn,
                          const char *session, struct auth_principal *out);

/* An IAM user's access key: fills out (kind CREDS_LONG_TERM, principal = the user's ARN,
 * the secret) for an Active key. Errors: QR_E_NO_SUCH_ACCESS_KEY (unknown or Inactive). */
enum qr_err authz_key_lookup(const struct authz_snap *s, struct qr_slice akid,
                             struct creds_identity *out) __attribute__((warn_unused_result));

/* A role by name or ARN, with its trust policy and max session duration (seconds).
 * False when absent. Borrowed from s. */
bool authz_role(const struct authz_snap *s, const char *name_or_arn, const char **out_arn,
                const char **out_id, const struct policy **out_trust, uint32_t *out_max_s);

/* The compiled resource policy of a function (AddPermission), or NULL. */
const struct policy *authz_function_policy(const struct authz_snap *s, const char *function);

/* The compiled bucket policy of bucket, or NULL. */
const struct policy *authz_bucket_policy(const struct authz_snap *s, struct qr_slice bucket);

/* ---- the operation table ---- */

/* What an operation's resource is, for building its ARN. */
enum authz_res {
    AUTHZ_RES_NONE,      /* "*" */
    AUTHZ_RES_BUCKET,    /* arn:aws:s3:::bucket, or the directory bucket's s3express ARN */
    AUTHZ_RES_OBJECT,    /* arn:aws:s3:::bucket/key */
    AUTHZ_RES_FUNCTION,  /* arn:aws:lambda:region:acct:function:name */
    AUTHZ_RES_LOG_GROUP, /* arn:aws:logs:region:acct:log-group:* */
    AUTHZ_RES_IAM,       /* arn:aws:iam::acct:<type>/name, built by the IAM API */
    AUTHZ_RES_JOB,       /* arn:aws:s3:region:acct:job/id, built by the S3 Control API */
};

struct authz_op {
    const char *op;     /* operation name as the API's route table has it */
    const char *action; /* the IAM action */
    enum authz_res res;
};

/* The entry of op in service's table ("s3", "s3express" for directory buckets, "lambda",
 * "s3control" (actions s3:*Job*), "logs", "iam", "sts"), or NULL when the table does not know it
 * (the caller refuses). */
const struct authz_op *authz_find_op(const char *service, const char *op);

/* ---- S3 Batch Operations: the job condition keys ---- */

/* What an S3 Control request knows of the job it asks for and of the job it acts on. */
struct authz_job_facts {
    int64_t request_priority;       /* the priority asked for, or -1 */
    const char *request_operation;  /* CreateJob: the JobOperation member named, or NULL */
    int64_t existing_priority;      /* the job's current priority, or -1 (no such job) */
    const char *existing_operation; /* the job's operation, or NULL */
    const char *suspended_cause;    /* a suspended job: why, else NULL */
};

#define AUTHZ_JOB_TAGS    50  /* tags of one request (S3 Control's limit) */
#define AUTHZ_JOB_TAG_KEY 512 /* bytes of one tag key (128 characters of UTF-8) */
#define AUTHZ_JOB_KEYS    (5 + AUTHZ_JOB_TAGS + 1)

/* The keys built by authz_job_ctx and authz_job_tags; kv points into the struct, so it is
 * not copied (about 30 KB: callers take it from a pool). */
struct authz_job_ctx {
    struct policy_kv kv[AUTHZ_JOB_KEYS];
    const char *vals[AUTHZ_JOB_KEYS];
    char num[2][24]; /* the priorities, in decimal (Numeric* operators parse them) */
    char tag_names[AUTHZ_JOB_TAGS][sizeof("aws:RequestTag/") + AUTHZ_JOB_TAG_KEY];
    size_t n;
};

/* The job condition keys that the Service Authorization Reference lists for action, each
 * only when f knows its value: s3:CreateJob gets s3:RequestJobPriority and
 * s3:RequestJobOperation; s3:UpdateJobPriority s3:RequestJobPriority,
 * s3:ExistingJobPriority and s3:ExistingJobOperation; s3:UpdateJobStatus the two
 * Existing keys and s3:JobSuspendedCause; s3:PutJobTagging and s3:DeleteJobTagging the
 * two Existing keys; any other action none. Returns out->n. */
size_t authz_job_ctx(const char *action, const struct authz_job_facts *f,
                     struct authz_job_ctx *out);

/* Adds the tags of a request to out (after authz_job_ctx) for the actions the reference
 * lists tag keys for, s3:CreateJob and s3:PutJobTagging: aws:RequestTag/KEY with each
 * value and aws:TagKeys with every key. More than AUTHZ_JOB_TAGS tags, or a key longer
 * than AUTHZ_JOB_TAG_KEY, add nothing (such a request fails its validation). Returns
 * out->n. */
size_t authz_job_tags(const char *action, const char *const *keys, const char *const *values,
                      size_t n, struct authz_job_ctx *out);

/* ---- deciding ---- */

struct authz_check {
    const char *action;
    const char *resource;                 /* full ARN or "*" */
    const struct policy *resource_policy; /* bucket policy, or NULL */
    const struct policy_kv *ctx;          /* condition keys of the request */
    size_t n_ctx;
};

/* Decides p's request under s (policy_decide with p's identity and session policies).
 * Never fails; an unparsable session policy denies. A session policy is compiled on its
 * first use in a snapshot and kept (AUTHZ_SESSION_CACHE per snapshot, least recently
 * used evicted), so later requests of the session parse nothing. Any thread. */
void authz_decide(const struct auth_principal *p, const struct authz_check *c,
                  struct policy_verdict *out);

/* What a job or service acting as a role may do: decides action on resource for a session
 * (session_name) of role_arn under the current snapshot of a and, when bucket is not
 * empty, that bucket's policy. For callers outside the API layer (a Batch Operations
 * task runs as the job's RoleArn). On a denial msg (cap bytes) holds AWS's AccessDenied
 * message. Any thread. */
bool authz_role_allows(struct authz *a, const char *role_arn, const char *session_name,
                       const char *action, const char *resource, struct qr_slice bucket, char *msg,
                       size_t cap);

/* Session policy texts compiled so far in this process (every snapshot): what shows that a
 * session's requests after its first parse no JSON. Any thread. */
uint64_t authz_session_compiles(void);

/* AWS's AccessDenied message for a denied verdict into buf: "User: ARN is not authorized
 * to perform: ACTION on resource: ARN because no identity-based policy allows the ACTION
 * action" (or "... with an explicit deny in a(n) identity-based|resource-based|session
 * policy"). */
void authz_deny_message(const struct auth_principal *p, const struct authz_check *c,
                        const struct policy_verdict *v, char *buf, size_t cap);

#endif
