/*
 * store_iam.h - the account's IAM state (users, access keys, groups and members, roles,
 * inline and managed policies with versions, attachments, bucket policies) as rows of one
 * table: (kind, parent, name) -> document. The store keeps them durable and changes them
 * atomically; what they mean is auth/authz's business, which compiles them into an
 * immutable snapshot after every change, so no request reads this table.
 *
 * Kinds and their rows (parent, name -> doc):
 *   user      ("", user name)            -> JSON {id, path, created}
 *   key       (user name, access key id) -> JSON {secret, status, created}
 *   group     ("", group name)           -> JSON {id, path, created}
 *   member    (group name, user name)    -> ""
 *   role      ("", role name)            -> JSON {id, path, created, trust, max, desc, tags}
 *   inline    ("user:N"|"group:N"|"role:N", policy name) -> the policy document
 *   attached  ("user:N"|"group:N"|"role:N", policy ARN)  -> ""
 *   policy    ("", policy ARN)           -> JSON {id, name, path, created, default, next}
 *   pversion  (policy ARN, "vN")         -> the policy document
 *   bucketpolicy ("", bucket name)       -> the policy document
 *   keyuse    ("", access key id)        -> JSON {ms, service, region}: last used, saved at
 *                                           most once a minute (auth/authz.h)
 */
#ifndef QR_STORE_IAM_H
#define QR_STORE_IAM_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"
#include "util/slice.h"

struct store;
struct store_reader;

enum store_iam_op_kind {
    STORE_IAM_INSERT,      /* the row must not exist: else QR_E_CONFLICT */
    STORE_IAM_UPSERT,      /* insert or replace */
    STORE_IAM_UPDATE,      /* the row must exist: else QR_E_NO_SUCH_KEY */
    STORE_IAM_DELETE,      /* the row must exist: else QR_E_NO_SUCH_KEY */
    STORE_IAM_DELETE_ANY,  /* delete if present */
    STORE_IAM_DELETE_KIDS, /* every row of kind whose parent is parent (name ignored) */
    STORE_IAM_ABSENT,      /* no row of kind with parent: else QR_E_CONFLICT (DeleteConflict) */
    STORE_IAM_PRESENT,     /* the row must exist: else QR_E_NO_SUCH_KEY */
};

/* One step of a change; all borrowed for the call. */
struct store_iam_op {
    enum store_iam_op_kind op;
    const char *kind;
    struct qr_slice parent;
    struct qr_slice name;
    struct qr_slice doc;
};

/* Applies ops in order, all or nothing, in the writer's transaction. On failure
 * *out_failed (may be NULL) is the index of the op that failed. Errors: QR_E_CONFLICT,
 * QR_E_NO_SUCH_KEY, QR_E_DB. Blocks; any thread but the writer. */
enum qr_err store_iam_change(struct store *st, const struct store_iam_op *ops, size_t n,
                             size_t *out_failed) __attribute__((warn_unused_result));

/* One row as read. Borrowed for the callback. */
struct store_iam_row {
    const char *kind, *parent, *name;
    struct qr_slice doc;
};
typedef bool (*store_iam_row_cb)(void *arg, const struct store_iam_row *row);

/* Calls cb for every row, ordered by kind, parent, name, until it returns false. Errors:
 * QR_E_DB. The reader's thread. */
enum qr_err store_iam_scan(struct store_reader *r, store_iam_row_cb cb, void *arg)
    __attribute__((warn_unused_result));

/* The same over DATA/meta.db opened read-only, without opening the store (no recovery, no
 * writer): for `quarry iam explain` next to a running server. Errors: QR_E_DB. */
enum qr_err store_iam_scan_dir(const char *data_dir, store_iam_row_cb cb, void *arg)
    __attribute__((warn_unused_result));

#endif
