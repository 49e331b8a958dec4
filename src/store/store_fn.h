/*
 * store_fn.h - the function registry of Lambda (functions, published versions, aliases,
 * reserved concurrency) and the durable queue of asynchronous (Event) invocations.
 * Included at the end of store.h; implemented in store/fn.c.
 *
 * A function is rows keyed (name, version number): number 0 is $LATEST, published
 * versions are 1, 2, ... and a number is never reused while the function exists (the
 * $LATEST row remembers the last number handed out). Each row holds the function's
 * configuration as an opaque JSON text chosen by api/lambda (the store never parses it)
 * plus the columns the store itself must compare or index: revision id, code digest and
 * size, state, last-modified time. Reserved concurrency and tags belong to the function
 * and live in its $LATEST row.
 *
 * Errors used by this section: QR_E_NO_SUCH_KEY (function, version or alias missing),
 * QR_E_CONFLICT (function or alias already exists; a version still named by an alias),
 * QR_E_PRECONDITION (RevisionId or CodeSha256 does not match), QR_E_DB.
 * Threads and memory as in store.h: writes block until durable (never on a loop),
 * reads go through a store_reader, variable-length results live in the pool passed in.
 */
#ifndef QR_STORE_FN_H
#define QR_STORE_FN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <h2o/memory.h>

#include "util/err.h"
#include "util/slice.h"

struct store;
struct store_reader;

#define STORE_FN_NAME_MAX   64u             /* function name, AWS's limit for the bare name */
#define STORE_FN_ALIAS_MAX  128u            /* alias name */
#define STORE_FN_LATEST     0u              /* version number of $LATEST */
#define STORE_FN_CONFIG_MAX (64u * 1024u)   /* opaque configuration JSON */
#define STORE_FN_EVENT_MAX  (1024u * 1024u) /* one queued Event payload */

enum store_fn_state {
    STORE_FN_PENDING,
    STORE_FN_ACTIVE,
    STORE_FN_FAILED,
};

/* One version of a function as stored. */
struct store_fn {
    char name[STORE_FN_NAME_MAX + 1]; /* NUL-terminated */
    uint32_t version;                 /* STORE_FN_LATEST or 1, 2, ... */
    char revision[37];                /* uuid, changes with every update of this row */
    char code_sha256[48];             /* base64 SHA-256 of the zip (AWS's CodeSha256) */
    uint64_t code_size;               /* zip bytes */
    enum store_fn_state state;
    int64_t last_modified_ms; /* ms since the epoch */
    int32_t reserved;         /* the function's reserved concurrency, -1: none */
    uint32_t last_published;  /* highest version number handed out (the function's) */
    struct qr_slice config;   /* opaque JSON, lives in pool */
    struct qr_slice tags;     /* opaque JSON of the function's tags, lives in pool */
};

/* A new function ($LATEST), optionally published as version 1 in the same transaction. */
struct store_fn_create {
    const char *name;        /* valid function name (api/ checks) */
    const char *revision;    /* new uuid for $LATEST */
    const char *code_sha256; /* base64 */
    uint64_t code_size;
    int64_t now_ms;
    struct qr_slice config;       /* opaque JSON, borrowed */
    struct qr_slice tags;         /* opaque JSON, borrowed (may be empty) */
    const char *publish_revision; /* non-NULL: also publish version 1 with this revision */
};

/* Creates the function. Errors: QR_E_CONFLICT (exists), QR_E_TOO_LARGE, QR_E_DB. */
enum qr_err store_fn_create(struct store *st, const struct store_fn_create *c)
    __attribute__((warn_unused_result));

/* An update of $LATEST (UpdateFunctionCode / UpdateFunctionConfiguration). */
struct store_fn_update {
    const char *name;
    const char *if_revision; /* the current revision must be this, or NULL */
    const char *revision;    /* new uuid */
    int64_t now_ms;
    struct qr_slice config;  /* replaces the configuration (opaque JSON) */
    const char *code_sha256; /* new code, or NULL to keep */
    uint64_t code_size;
    const char *publish_revision; /* non-NULL: publish the result as a new version */
};

/* Updates $LATEST; *out_version gets the version published (0 when none asked).
 * Errors: QR_E_NO_SUCH_KEY, QR_E_PRECONDITION, QR_E_TOO_LARGE, QR_E_DB. */
enum qr_err store_fn_update(struct store *st, const struct store_fn_update *u,
                            uint32_t *out_version) __attribute__((warn_unused_result));

struct store_fn_publish {
    const char *name;
    const char *if_revision;    /* $LATEST's revision must be this, or NULL */
    const char *if_code_sha256; /* $LATEST's CodeSha256 must be this, or NULL */
    const char *revision;       /* uuid of the new version */
    int64_t now_ms;
    struct qr_slice config; /* the version's configuration, or empty: $LATEST's */
};

/* Copies $LATEST to version last_published+1 in one transaction. When $LATEST has not
 * changed since the newest existing version was published (same code and configuration,
 * no new config given), that version is returned instead, as AWS does. *out_version: the
 * version number. Errors: QR_E_NO_SUCH_KEY, QR_E_PRECONDITION, QR_E_DB. */
enum qr_err store_fn_publish(struct store *st, const struct store_fn_publish *p,
                             uint32_t *out_version) __attribute__((warn_unused_result));

/* Deletes the whole function (every version and alias) when version is STORE_FN_LATEST,
 * else that one published version. Errors: QR_E_NO_SUCH_KEY, QR_E_CONFLICT (an alias
 * still names the version), QR_E_DB. */
enum qr_err store_fn_delete(struct store *st, struct qr_slice name, uint32_t version)
    __attribute__((warn_unused_result));

/* Sets (reserved >= 0) or removes (-1) the function's reserved concurrency.
 * Errors: QR_E_NO_SUCH_KEY, QR_E_DB. */
enum qr_err store_fn_set_concurrency(struct store *st, struct qr_slice name, int32_t reserved)
    __attribute__((warn_unused_result));

/* Reads one version (out->reserved and ->tags are the function's). Errors:
 * QR_E_NO_SUCH_KEY, QR_E_DB. */
enum qr_err store_fn_get(struct store_reader *r, struct qr_slice name, uint32_t version,
                         h2o_mem_pool_t *pool, struct store_fn *out)
    __attribute__((warn_unused_result));

/* Lists rows ordered by (name, version) strictly after (after_name, after_version),
 * only $LATEST rows unless all_versions, at most max (<= 10000). out lives in pool.
 * Errors: QR_E_DB. */
enum qr_err store_fn_list(struct store_reader *r, struct qr_slice after_name,
                          uint32_t after_version, bool all_versions, size_t max,
                          h2o_mem_pool_t *pool, struct store_fn **out, size_t *out_n,
                          bool *out_truncated) __attribute__((warn_unused_result));

/* Versions of one function ($LATEST first, then ascending) with number > after (pass
 * -1 to start with $LATEST), at most max. Errors: QR_E_NO_SUCH_KEY (no function), QR_E_DB. */
enum qr_err store_fn_versions(struct store_reader *r, struct qr_slice name, int64_t after,
                              size_t max, h2o_mem_pool_t *pool, struct store_fn **out,
                              size_t *out_n, bool *out_truncated)
    __attribute__((warn_unused_result));

/* ---- aliases ---- */

struct store_fn_alias {
    char function[STORE_FN_NAME_MAX + 1];
    char name[STORE_FN_ALIAS_MAX + 1];
    uint32_t version; /* version it points to (STORE_FN_LATEST allowed) */
    char revision[37];
    struct qr_slice description; /* lives in pool */
    struct qr_slice routing;     /* opaque RoutingConfig JSON (may be empty), lives in pool */
};

/* Creates (create=true) or updates an alias. For an update, version UINT32_MAX keeps the
 * version, and description/routing with p == NULL keep theirs. if_revision: the alias's
 * revision must be this, or NULL. The version must exist.
 * Errors: QR_E_NO_SUCH_KEY (function, version or alias on update), QR_E_CONFLICT (exists
 * on create), QR_E_PRECONDITION, QR_E_DB. */
struct store_fn_alias_put {
    const char *function;
    const char *name;
    bool create;
    uint32_t version;
    const char *revision; /* new uuid */
    const char *if_revision;
    struct qr_slice description;
    struct qr_slice routing;
};
enum qr_err store_fn_alias_put(struct store *st, const struct store_fn_alias_put *a)
    __attribute__((warn_unused_result));
/* Errors: QR_E_NO_SUCH_KEY, QR_E_DB. */
enum qr_err store_fn_alias_delete(struct store *st, struct qr_slice function, struct qr_slice name)
    __attribute__((warn_unused_result));
/* Errors: QR_E_NO_SUCH_KEY, QR_E_DB. */
enum qr_err store_fn_alias_get(struct store_reader *r, struct qr_slice function,
                               struct qr_slice name, h2o_mem_pool_t *pool,
                               struct store_fn_alias *out) __attribute__((warn_unused_result));
/* Aliases in name order after `after`, only those naming version `version` unless it is
 * UINT32_MAX, at most max. Errors: QR_E_DB. */
enum qr_err store_fn_alias_list(struct store_reader *r, struct qr_slice function,
                                struct qr_slice after, uint32_t version, size_t max,
                                h2o_mem_pool_t *pool, struct store_fn_alias **out, size_t *out_n,
                                bool *out_truncated) __attribute__((warn_unused_result));

/* ---- Event invocations (durable queue) ---- */

struct store_fn_event {
    int64_t id;              /* queue id */
    char request_id[37];     /* the invocation's request id (202's x-amzn-RequestId) */
    struct qr_slice target;  /* qualified function ARN, lives in pool */
    struct qr_slice payload; /* event bytes, lives in pool */
    int64_t enqueued_ms;
    uint32_t attempts; /* runs started so far */
    int64_t next_attempt_ms;
};

/* Queues an event due now. Errors: QR_E_TOO_LARGE, QR_E_DB. */
enum qr_err store_fn_event_enqueue(struct store *st, struct qr_slice target, const char *request_id,
                                   struct qr_slice payload, int64_t now_ms)
    __attribute__((warn_unused_result));
/* Claims up to max events due at now_ms: each gets attempts+1 and is leased until
 * now_ms + lease_ms (if it is neither acked nor retried by then, e.g. quarry died, it is
 * due again). out lives in pool. Errors: QR_E_DB. */
enum qr_err store_fn_event_claim(struct store *st, int64_t now_ms, int64_t lease_ms, size_t max,
                                 h2o_mem_pool_t *pool, struct store_fn_event **out, size_t *out_n)
    __attribute__((warn_unused_result));
/* Makes every leased event due at now_ms: a lease lives only as long as the process that
 * took it, so at start the events an earlier run had claimed are due again.
 * Errors: QR_E_DB. */
enum qr_err store_fn_event_release_leases(struct store *st, int64_t now_ms)
    __attribute__((warn_unused_result));
/* Removes an event (done, or given up). Errors: QR_E_DB (a missing id is not an error). */
enum qr_err store_fn_event_ack(struct store *st, int64_t id) __attribute__((warn_unused_result));
/* Makes an event due again at next_attempt_ms. Errors: QR_E_DB. */
enum qr_err store_fn_event_retry(struct store *st, int64_t id, int64_t next_attempt_ms)
    __attribute__((warn_unused_result));
/* The earliest next_attempt_ms of any queued event, or INT64_MAX when none. Errors: QR_E_DB. */
enum qr_err store_fn_event_next_due(struct store_reader *r, int64_t *out)
    __attribute__((warn_unused_result));

/* Whether any version of any function names the code with this CodeSha256: its unpacked
 * directory may be removed when none does. Errors: QR_E_DB. */
enum qr_err store_fn_code_used(struct store_reader *r, const char *code_sha256, bool *out)
    __attribute__((warn_unused_result));

#endif
