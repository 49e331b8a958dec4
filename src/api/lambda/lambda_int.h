/*
 * lambda_int.h - shared by the files of src/api/lambda/ only: one Lambda operation in
 * flight (struct lambda_op), the handler type, helpers for errors, names and JSON.
 *
 * Files: lambda.c (routing, errors, sending, worker offload), name.c (function name
 * forms, ARNs, qualifiers), config.c (FunctionConfiguration: validation, the stored
 * JSON, rendering), func.c (function CRUD, versions, concurrency), alias.c (aliases),
 * invoke.c (Invoke, the dedupe table), event.c (the Event dispatcher thread).
 *
 * An operation is decoded on the loop thread; reads run there (index lookups), writes
 * on a worker (the store blocks until durable; unzipping is slow); Invoke goes to the
 * functions engine and comes back through server_job_return. A handler never sends: it
 * leaves a JSON document, raw bytes or an error in the op and lambda_finish sends it.
 */
#ifndef QR_API_LAMBDA_INT_H
#define QR_API_LAMBDA_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "api/api.h"
#include "fn/fn_resolve.h"
#include "api/lambda/lambda.h"
#include "fn/fn.h"
#include "server.h"
#include "store/store.h"
#include "util/buf.h"

#define LAMBDA_MAX_JSON_BODY (256u * 1024u)        /* control requests without code */
#define LAMBDA_MAX_CODE_BODY (70u * 1024u * 1024u) /* 50 MB zip, base64, in JSON */
#define LAMBDA_MAX_PAYLOAD   (6u * 1024u * 1024u)  /* Invoke, synchronous */
#define LAMBDA_MAX_EVENT     (256u * 1024u)        /* Invoke, Event */
#define LAMBDA_MAX_HDRS      12
#define LAMBDA_QUAL_MAX      128u

struct lambda_op;
typedef void (*lambda_fn)(struct lambda_op *op);

enum lambda_flags {
    LAMBDA_ON_WORKER = 1 << 0,   /* blocks: store writes, unzip */
    LAMBDA_NEEDS_NAME = 1 << 1,  /* the path names a function */
    LAMBDA_NEEDS_ALIAS = 1 << 2, /* the path names an alias */
};

struct lambda_route;

struct lambda_hdr {
    const char *name; /* static */
    char *value;      /* heap, freed with the op */
    size_t len;
};

/* A function reference from the path (and ?Qualifier). */
struct lambda_target {
    char name[STORE_FN_NAME_MAX + 1];
    char qual[LAMBDA_QUAL_MAX + 1]; /* "" when none */
};

/* The result of an invocation as the op keeps it (heap copies). */
struct lambda_inv_result {
    enum fn_status status;
    char error_type[64];
    uint8_t *payload; /* heap */
    size_t payload_len;
    char *log_tail; /* heap, or NULL */
    size_t log_tail_len;
    char request_id[37];
};

struct lambda_op {
    struct qr_job job; /* worker offload, or the engine's callback coming back */
    struct api_req *ar;
    struct qr_server *server;
    struct lambda_ctx *lx;
    struct store_reader *reader; /* the running thread's reader */
    h2o_mem_pool_t *pool;        /* req pool on the loop; own_pool on a worker */
    h2o_mem_pool_t own_pool;     /* cleared when the request is disposed */
    const struct lambda_route *route;
    struct qr_slice body; /* request body (h2o's entity), borrowed */
    struct lambda_target t;
    char alias[STORE_FN_ALIAS_MAX + 1]; /* the {Name} of .../aliases/{Name} */
    int64_t now_ms;
    char rid[37]; /* x-amzn-RequestId; an Invoke's invocation id */

    /* result */
    int status;           /* HTTP status on success */
    const char *err_type; /* x-amzn-ErrorType, or NULL on success */
    char err_msg[512];
    const char *err_reason; /* TooManyRequestsException's Reason, or NULL */
    json_t *out;            /* JSON response, or NULL; owned */
    uint8_t *raw;           /* raw response (Invoke), heap; owned */
    size_t raw_len;
    struct lambda_hdr hdrs[LAMBDA_MAX_HDRS];
    size_t n_hdrs;

    /* invoke */
    struct lambda_inv_result res;
    char executed_version[16];
    int32_t reserved; /* the function's reserved concurrency (-1: none) */
    bool want_tail;
    struct lambda_dedupe_entry *dd; /* the dedupe entry this op runs or waits for */
    struct lambda_op *dd_next;      /* waiter list link, guarded by the dedupe mutex */
};

/* ---- lambda.c ---- */

/* Sets an error (status, AWS type, printf message). */
void lambda_fail(struct lambda_op *op, int status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Sets the error a store/code error maps to; what names the missing thing for 404s. */
void lambda_fail_err(struct lambda_op *op, enum qr_err err, const char *what);
/* Adds a response header (value copied). */
void lambda_header(struct lambda_op *op, const char *name, const char *value, size_t len);
/* Parses the request body as a JSON object (duplicates rejected, bounded by max).
 * On failure sets the op's error and returns NULL. Caller owns the result. */
json_t *lambda_body_json(struct lambda_op *op, size_t max);
/* Sends what the op holds. Loop thread. */
void lambda_finish(struct lambda_op *op);
/* The unqualified ARN of a function into out. */
void lambda_fn_arn(const struct lambda_op *op, const char *name, char *out, size_t cap);

/* ---- name.c ---- */

/* Parses a FunctionName path segment (decoded) in any of its forms and ?Qualifier.
 * Returns false with the op failed. */
bool lambda_parse_target(struct lambda_op *op, struct qr_slice seg, struct lambda_target *out);
/* Resolves t's qualifier (none, $LATEST, a version, an alias) to a version number and
 * reads that version. Reader on the calling thread. Returns false with the op failed. */
bool lambda_resolve(struct lambda_op *op, const struct lambda_target *t, h2o_mem_pool_t *pool,
                    struct store_fn *out);
/* Writes "$LATEST" or the decimal number. */
void lambda_version_str(uint32_t v, char out[16]);

/* ---- config.c ---- */

/* Builds the stored configuration JSON from a CreateFunction request (create=true) or
 * merges an UpdateFunctionConfiguration request into old (create=false). Validates
 * every field. On failure sets the op's error and returns NULL. Caller owns the result. */
json_t *lambda_config_from_request(struct lambda_op *op, json_t *req, const json_t *old,
                                   bool create);
/* Renders a FunctionConfiguration from a stored row. The caller owns the result; NULL
 * with the op failed when the stored JSON is corrupt. */
json_t *lambda_config_render(struct lambda_op *op, const struct store_fn *fn);
/* The stored JSON as an object (NULL with the op failed). */
json_t *lambda_config_parse(struct lambda_op *op, struct qr_slice stored);
/* Serialises a JSON value compactly into a heap string. */
char *lambda_json_dump(const json_t *v, size_t *out_len);

/* ---- func.c / alias.c / invoke.c handlers ---- */

void lambda_create_function(struct lambda_op *op);
void lambda_list_functions(struct lambda_op *op);
void lambda_get_function(struct lambda_op *op);
void lambda_get_configuration(struct lambda_op *op);
void lambda_delete_function(struct lambda_op *op);
void lambda_update_configuration(struct lambda_op *op);
void lambda_update_code(struct lambda_op *op);
void lambda_publish_version(struct lambda_op *op);
void lambda_list_versions(struct lambda_op *op);
void lambda_put_concurrency(struct lambda_op *op);
void lambda_get_concurrency(struct lambda_op *op);
void lambda_delete_concurrency(struct lambda_op *op);
void lambda_create_alias(struct lambda_op *op);
void lambda_list_aliases(struct lambda_op *op);
void lambda_get_alias(struct lambda_op *op);
void lambda_update_alias(struct lambda_op *op);
void lambda_delete_alias(struct lambda_op *op);
void lambda_get_account_settings(struct lambda_op *op);

/* Invoke: runs on the loop, finishes itself (engine callback, dedupe, Event job). */
void lambda_invoke(struct lambda_op *op);
/* Frees what an invoke op holds. */
void lambda_invoke_dispose(struct lambda_op *op);

/* ---- the context (lambda.c owns struct lambda_ctx; invoke.c and event.c use parts) ---- */

struct lambda_dedupe;
struct lambda_events;

struct lambda_ctx {
    struct qr_server *server;
    struct lambda_dedupe *dd; /* invoke.c */
    struct lambda_events *ev; /* event.c */
};

enum qr_err lambda_dedupe_new(struct lambda_dedupe **out);
void lambda_dedupe_free(struct lambda_dedupe *d);
enum qr_err lambda_events_start(struct lambda_ctx *lx, struct lambda_events **out);
void lambda_events_stop(struct lambda_events *ev);
void lambda_events_free(struct lambda_events *ev);
/* Wakes the dispatcher: an event was queued. Any thread. */
void lambda_events_kick(struct lambda_events *ev);

/* Builds the engine's view of a function version; strings live in pool. Returns false
 * with the op failed (op may be NULL: then just false). */
bool lambda_fn_config(struct qr_server *s, struct lambda_op *op, const struct store_fn *fn,
                      h2o_mem_pool_t *pool, struct fn_config *out);

/* A function's resource-based policy (permission.c). */
void lambda_add_permission(struct lambda_op *op);
void lambda_get_policy(struct lambda_op *op);
void lambda_remove_permission(struct lambda_op *op);
/* Drops the policy of a deleted function (worker). */
void lambda_drop_policy(struct lambda_op *op);

/* The request's authorization (authorize.c): false after lambda_fail (AccessDenied). */
bool lambda_authorize(struct lambda_op *op);
/* Code from S3 (Code.S3Bucket/S3Key): the caller must be able to read it. False after
 * lambda_fail. */
bool lambda_authorize_code(struct lambda_op *op, const char *bucket, const char *key);

#endif
