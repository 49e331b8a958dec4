/*
 * fn.h - the functions engine: execution environments (one child process per concurrent
 * instance, running a runtime's bootstrap), each with a Runtime API endpoint of its own
 * on loopback, warm reuse, limits, timeouts, and platform logs.
 *
 * The engine never sees the Lambda control API or HTTP requests of clients: api/lambda
 * and the batch engine call fn_invoke with a fully resolved function configuration and
 * get the result through a callback. It owns one thread with its own h2o event loop (the
 * Runtime API listeners, child pipes, timers) plus a supervisor that reaps children.
 *
 * Thread-safety: fn_invoke may be called from any thread. Callbacks run on the engine's
 * thread and must not block; a loop thread's caller hands the result back to its loop
 * (server_job_return).
 */
#ifndef QR_FN_H
#define QR_FN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "util/slice.h"

struct fn_engine;
struct creds;
struct logs;

struct fn_engine_opts {
    const char *data_dir;     /* DATA: logs live under it; code dirs are given per call */
    const char *endpoint_url; /* "http://127.0.0.1:PORT": AWS_ENDPOINT_URL of functions */
    const char *region;       /* AWS_REGION */
    const char *account_id;
    const char *runtimes_file; /* JSON runtime table overriding the built-in one, or NULL */
    unsigned max_instances;    /* all functions together; 0 = default for this machine */
    unsigned idle_timeout_s;   /* a warm instance unused this long is stopped; 0 = default */
    bool sandbox;              /* run functions under bubblewrap; without it installed,
                                  functions are refused (fn_engine_refusal). false: the
                                  --no-sandbox mode (no filesystem isolation) */
    struct creds *creds;       /* mints each function's temporary credentials; NULL: the
                                  functions get none */
    uint32_t creds_ttl_s;      /* their lifetime; 0 = 12 hours. Short ones are for tests
                                  of the renewal (an environment is retired before they
                                  expire) */
    const char *runtimes_dir;  /* quarry's runtimes/ (python/bootstrap.py, node/...); NULL:
                                  $QUARRY_RUNTIMES_DIR, else <binary's dir>/../runtimes */
    struct logs *logs;         /* function log store (borrowed), or NULL: logs are only
                                  kept for LogType Tail */
    unsigned queue_max;        /* invocations queued, not yet taken by the engine thread,
                                  before fn_invoke says QR_E_BUSY; 0 = 65536 */
    unsigned pids_max;         /* processes and threads per environment (pids cgroup);
                                  0 = 1024 */
    bool network;              /* --function-network: environments get a way out (pasta)
                                  besides quarry's API; false: no route out */
};

/* Starts the engine thread and sweeps children left by an earlier quarry (killed with
 * -9). *out owned by caller (free with fn_engine_free, which stops every instance).
 * Errors: QR_E_IO, QR_E_BAD_INPUT (runtime table). Main thread. */
enum qr_err fn_engine_new(const struct fn_engine_opts *o, struct fn_engine **out)
    __attribute__((warn_unused_result));
void fn_engine_free(struct fn_engine *e);

/* Why this engine runs no function at all (a sandbox was asked for and cannot be made,
 * e.g. bubblewrap is not installed), or NULL. Any thread. */
const char *fn_engine_refusal(const struct fn_engine *e);

/* Whether the runtime table can run runtime (e.g. "python3.11", "provided.al2023").
 * Any thread. */
bool fn_runtime_supported(const struct fn_engine *e, struct qr_slice runtime);

/* One environment variable of a function. */
struct fn_env_var {
    const char *name;
    const char *value;
};

/* A function version as it runs. Everything is copied by fn_invoke; borrowed here. */
struct fn_config {
    const char *name;             /* function name */
    const char *arn;              /* unqualified function ARN */
    const char *version;          /* "$LATEST" or "1", "2", ... */
    const char *revision;         /* changes with every code or configuration update: instances
                                     of an older revision are retired, never reused */
    const char *runtime;          /* "python3.11", "nodejs20.x", "provided.al2023", ... */
    const char *handler;          /* "lambda_function.lambda_handler"; ignored for provided* */
    const char *code_dir;         /* unpacked code, mounted read-only at /var/task */
    const char *role;             /* role ARN: the function's credentials are minted for it */
    uint32_t timeout_s;           /* 1..900 */
    uint32_t memory_mb;           /* 128..10240 */
    int32_t reserved_concurrency; /* -1: none; 0: throttle everything; N: at most N instances */
    const struct fn_env_var *env; /* n_env user variables */
    size_t n_env;
};

enum fn_status {
    FN_OK,             /* the function returned a result (payload) */
    FN_FUNCTION_ERROR, /* the function failed: error JSON in payload, as AWS shapes it
                          ({"errorMessage","errorType","stackTrace"}), incl. timeouts,
                          crashes and out-of-memory kills (Runtime.ExitError, ...) */
    FN_THROTTLED,      /* concurrency limit: TooManyRequestsException */
    FN_TOO_LARGE,      /* request or response payload over 6 MB */
    FN_INIT_FAILED,    /* init error reported by the runtime */
    FN_SERVICE_ERROR,  /* the engine could not start the function */
};

struct fn_result {
    enum fn_status status;
    const char *error_type; /* FN_FUNCTION_ERROR etc.: "Runtime.ExitError", "Sandbox.Timedout",
                               the function's errorType, ...; static or in payload's lifetime */
    uint8_t *payload;       /* owned by the result: freed after the callback returns */
    size_t payload_len;
    char *log_tail; /* last 4 KB of this invocation's log (when asked), or NULL */
    size_t log_tail_len;
    uint64_t duration_us; /* handler duration */
    uint64_t init_us;     /* init duration when this invoke started the instance, else 0 */
    char request_id[37];  /* the invocation's request id */
};

/* Called once per fn_invoke, on the engine thread. res and its buffers live until the
 * callback returns (copy what you keep). Must not block. */
typedef void (*fn_invoke_cb)(void *arg, struct fn_result *res);

struct fn_invoke {
    const struct fn_config *cfg;
    struct qr_slice payload;        /* event JSON (copied) */
    const char *request_id;         /* uuid chosen by the caller (copied) */
    struct qr_slice client_context; /* base64 ClientContext or empty (copied) */
    const char *invoked_arn;        /* the ARN the caller named (with its alias or version), for
                                       Lambda-Runtime-Invoked-Function-Arn; NULL: cfg's arn with
                                       cfg's version (copied) */
    bool want_log_tail;             /* LogType: Tail */
};

/* Queues an invocation; cb runs when it ends (result, error or throttle) — exactly once,
 * also when fn_invoke itself returns QR_OK and the engine is stopping. Returns QR_E_BUSY
 * without calling cb when the engine's queue is full (back-pressure for in-process
 * callers such as the batch engine), QR_E_TOO_LARGE for a payload over 6 MB. Any thread. */
enum qr_err fn_invoke(struct fn_engine *e, const struct fn_invoke *inv, fn_invoke_cb cb, void *arg)
    __attribute__((warn_unused_result));

/* Stops every instance of a function (all versions) now, e.g. on DeleteFunction. Any
 * thread. */
void fn_retire(struct fn_engine *e, const char *function_name);

#endif
