/*
 * iam_int.h - what the IAM and STS API files share: the request being handled, its form
 * parameters, the XML response being built and the error to send. Nothing outside
 * src/api/iam and src/api/sts includes it.
 */
#ifndef QR_API_IAM_INT_H
#define QR_API_IAM_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "api/api.h"
#include "auth/authz.h"
#include "server.h"
#include "store/store_iam.h"
#include "util/buf.h"
#include "util/form.h"

#define IAM_MAX_PARAMS 200
#define IAM_MAX_BODY   (512u * 1024u)
#define IAM_NS         "https://iam.amazonaws.com/doc/2010-05-08/"
#define STS_NS         "https://sts.amazonaws.com/doc/2011-06-15/"

struct iam_op;
typedef void (*iam_fn)(struct iam_op *op);

/* What the IAM action acts on, for its resource ARN. */
enum iam_res { IAM_R_NONE, IAM_R_USER, IAM_R_GROUP, IAM_R_ROLE, IAM_R_POLICY };

struct iam_route {
    const char *action; /* "CreateUser" */
    iam_fn fn;
    enum iam_res res;      /* the resource kind of the action */
    const char *res_param; /* the parameter naming it ("UserName", "PolicyArn") */
    bool writes;           /* changes the store: the snapshot is rebuilt after */
};

struct iam_op {
    struct qr_job job;
    struct api_req *ar;
    struct qr_server *server;
    const struct iam_route *route;
    const char *ns; /* IAM_NS or STS_NS */
    struct qr_form_pair params[IAM_MAX_PARAMS];
    size_t n_params;
    const struct authz_snap *snap; /* acquired for the request */
    struct qr_buf out;             /* the <XResult> body */
    int status;                    /* error status, 0 on success */
    const char *code;              /* error code */
    char msg[1024];                /* error message */
    bool changed;                  /* a write committed: reload the snapshot */
    bool page_init;                /* MaxItems and Marker read (iam_page_next) */
    uint64_t page_max, page_skip;  /* MaxItems; items before the Marker */
    uint64_t page_seen, page_out;  /* items walked, items written */
    int64_t now_ms;
};

/* Parameters. */
bool iam_param(struct iam_op *op, const char *name, struct qr_slice *out);
/* A required parameter as a C string in the pool, or NULL after a ValidationError. */
const char *iam_req_str(struct iam_op *op, const char *name, size_t min, size_t max);
/* An optional parameter as a C string in the pool, or dflt. */
const char *iam_opt_str(struct iam_op *op, const char *name, const char *dflt);

/* Errors (the first one set wins). */
void iam_fail(struct iam_op *op, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void iam_no_entity(struct iam_op *op, const char *what, const char *name);
/* Maps a store error of a change: conflict -> EntityAlreadyExists/DeleteConflict. */
void iam_store_fail(struct iam_op *op, enum qr_err e, const char *what, const char *name);

/* Applies a change and marks the snapshot for reload. False after iam_fail. */
bool iam_change(struct iam_op *op, const struct store_iam_op *ops, size_t n, const char *what,
                const char *name);

/* Pagination (MaxItems, default 100; Marker, opaque: how many items came before): call
 * iam_page_next before writing each item of a listing, write it only when true, and end
 * the listing with iam_page_end (IsTruncated, and Marker when truncated). */
bool iam_page_next(struct iam_op *op);
void iam_page_end(struct iam_op *op);

/* Output helpers over op->out. */
void iam_elem(struct iam_op *op, const char *tag, const char *text);
void iam_elem_slice(struct iam_op *op, const char *tag, struct qr_slice text);
void iam_elem_time(struct iam_op *op, const char *tag, int64_t ms);
void iam_open(struct iam_op *op, const char *tag);
void iam_close(struct iam_op *op, const char *tag);
/* A policy document, URL-encoded as IAM returns them. */
void iam_elem_doc(struct iam_op *op, const char *tag, struct qr_slice doc);

/* A new unique id: prefix ("AIDA", "AROA", "AGPA", "ANPA", "AKIA") and 16 more of
 * [A-Z2-7] (21 characters, as IAM's). */
void iam_new_id(const char *prefix, char out[32]);
/* The ARN of an IAM entity: type "user", "role", "group", "policy". */
void iam_arn(struct iam_op *op, const char *type, const char *path, const char *name, char *out,
             size_t cap);
/* Path parameter: "/" by default; must start and end with '/'. NULL after failing. */
const char *iam_path(struct iam_op *op);
/* The same for another parameter (NewPath), whose absence is "/". */
const char *iam_path_of(struct iam_op *op, const char *param);
/* IAM's size quotas (characters without whitespace): false after LimitExceeded naming
 * the quota ("PolicySize", "ACLSizePerRole"). */
bool iam_policy_quota(struct iam_op *op, const char *doc, size_t quota, const char *name);
/* Validates a policy document (kind) and fails with MalformedPolicyDocument. */
bool iam_policy_ok(struct iam_op *op, const char *doc, enum policy_kind kind);

/* Entities (users.c): the XML of a user, group or role row; name validation; delete with
 * IAM's DeleteConflict rules; a listing filtered by PathPrefix. */
void iam_entity_xml(struct iam_op *op, const char *type, const struct authz_row *r);
bool iam_name_ok(struct iam_op *op, const char *param, const char **out);
bool iam_name_free(struct iam_op *op, const char *kind, const char *name, const char *what);
void iam_delete_entity(struct iam_op *op, const char *kind, const char *param, const char *what);
void iam_list_entities(struct iam_op *op, const char *kind, const char *list_tag);

/* STS's routes (sts.c): the entry of action, or NULL. */
const struct iam_route *sts_find_route(struct qr_slice action);

/* Handlers: users.c, roles.c, policies.c, sts.c. */
void iam_create_user(struct iam_op *op);
void iam_get_user(struct iam_op *op);
void iam_list_users(struct iam_op *op);
void iam_delete_user(struct iam_op *op);
void iam_create_access_key(struct iam_op *op);
void iam_list_access_keys(struct iam_op *op);
void iam_update_access_key(struct iam_op *op);
void iam_delete_access_key(struct iam_op *op);
void iam_create_group(struct iam_op *op);
void iam_get_group(struct iam_op *op);
void iam_list_groups(struct iam_op *op);
void iam_delete_group(struct iam_op *op);
void iam_add_user_to_group(struct iam_op *op);
void iam_remove_user_from_group(struct iam_op *op);
void iam_list_groups_for_user(struct iam_op *op);
void iam_create_role(struct iam_op *op);
void iam_get_role(struct iam_op *op);
void iam_list_roles(struct iam_op *op);
void iam_delete_role(struct iam_op *op);
void iam_update_assume_role_policy(struct iam_op *op);
void iam_put_inline(struct iam_op *op);
void iam_get_inline(struct iam_op *op);
void iam_delete_inline(struct iam_op *op);
void iam_list_inline(struct iam_op *op);
void iam_attach(struct iam_op *op);
void iam_detach(struct iam_op *op);
void iam_list_attached(struct iam_op *op);
void iam_create_policy(struct iam_op *op);
void iam_get_policy(struct iam_op *op);
void iam_delete_policy(struct iam_op *op);
void iam_list_policies(struct iam_op *op);
void iam_create_policy_version(struct iam_op *op);
void iam_get_policy_version(struct iam_op *op);
void iam_account_details(struct iam_op *op);
void iam_simulate_principal(struct iam_op *op);
void iam_list_policy_versions(struct iam_op *op);
void iam_set_default_policy_version(struct iam_op *op);
void iam_delete_policy_version(struct iam_op *op);
void iam_update_role(struct iam_op *op);
void iam_tag_role(struct iam_op *op);
void iam_untag_role(struct iam_op *op);
void iam_list_role_tags(struct iam_op *op);
void iam_update_user(struct iam_op *op);
/* Tags.member.N of the request as a JSON array of {Key, Value} (roles.c), at most 50,
 * checked as the model says; NULL after a ValidationError. */
json_t *iam_tags_param(struct iam_op *op);
/* <Tags> of a role or user row (roles.c), nothing when it has none. */
void iam_tags_xml(struct iam_op *op, const struct authz_row *r);
void iam_tag_user(struct iam_op *op);
void iam_untag_user(struct iam_op *op);
void iam_list_user_tags(struct iam_op *op);
void iam_access_key_last_used(struct iam_op *op);
void iam_simulate_custom(struct iam_op *op);
/* Writes n key uses to the store as keyuse rows (keyuse.c). Blocks; any thread but a loop. */
void iam_keyuse_save(struct qr_server *s, const struct authz_use *u, size_t n);

#endif
