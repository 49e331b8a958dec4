/*
 * fn_resolve.h - from a function reference to the configuration the engine runs: the
 * forms a FunctionName or FunctionArn takes ("f", "f:QUAL", "ACCOUNT:function:f[:QUAL]",
 * "arn:aws:lambda:REGION:ACCOUNT:function:f[:QUAL]"), the qualifier ($LATEST, a version,
 * an alias) resolved through the store's function rows, and the stored configuration
 * JSON turned into a struct fn_config. Shared by Lambda's Invoke, its Event dispatcher
 * and the batch engine, so a reference means the same function to all of them.
 * Implemented in fn/resolve.c.
 */
#ifndef QR_FN_RESOLVE_H
#define QR_FN_RESOLVE_H

#include <h2o/memory.h>

#include "fn/fn.h"
#include "store/store.h"

/* Where references are resolved. Borrowed strings. */
struct fn_resolve_env {
    const char *data_dir;   /* DATA: code directories live under it */
    const char *region;     /* an ARN naming another region names nothing */
    const char *account_id; /* an ARN naming another account names nothing */
};

/* A parsed reference. */
struct fn_ref {
    char name[STORE_FN_NAME_MAX + 1];
    char qual[129]; /* "" when none */
};

/* Parses a reference (bytes from a client: bounded, no NUL needed). Errors:
 * QR_E_BAD_INPUT (not a function reference), QR_E_NO_SUCH_KEY (another account or
 * region). Any thread. */
enum qr_err fn_ref_parse(const struct fn_resolve_env *env, struct qr_slice ref, struct fn_ref *out)
    __attribute__((warn_unused_result));

/* The stored version a parsed reference names (an alias resolved to its version).
 * Errors: QR_E_NO_SUCH_KEY, QR_E_DB. Thread of the reader. */
enum qr_err fn_resolve_row(struct store_reader *r, const struct fn_ref *ref, h2o_mem_pool_t *pool,
                           struct store_fn *out) __attribute__((warn_unused_result));

/* The engine's view of a stored version; strings live in pool. Errors: QR_E_INTERNAL
 * (stored configuration or code digest corrupt). Any thread. */
enum qr_err fn_config_from_row(const struct fn_resolve_env *env, const struct store_fn *fn,
                               h2o_mem_pool_t *pool, struct fn_config *out)
    __attribute__((warn_unused_result));

/* fn_ref_parse + fn_resolve_row + fn_config_from_row. Errors: theirs. */
enum qr_err fn_resolve(struct store_reader *r, const struct fn_resolve_env *env,
                       struct qr_slice ref, h2o_mem_pool_t *pool, struct fn_config *out)
    __attribute__((warn_unused_result));

/* "$LATEST" -> STORE_FN_LATEST, "7" -> 7; false for anything else (an alias name). */
bool fn_version_num(const char *q, uint32_t *out);

/* A function or alias name: 1..max of [A-Za-z0-9_-]. Any thread. */
bool fn_name_valid(struct qr_slice s, size_t max);

/* A qualifier: $LATEST, a version number (no leading zero, fits 32 bits) or an alias
 * name. Any thread. */
bool fn_qualifier_valid(struct qr_slice q);

#endif
