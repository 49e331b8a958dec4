/*
 * lambda_runtime.h - a small C library for writing provided.al2023 (custom runtime) Lambda
 * functions: the `bootstrap` executable links it statically and calls lr_run(handler).
 *
 * It speaks the Lambda Runtime API (2018-06-01) at $AWS_LAMBDA_RUNTIME_API (host:port,
 * an IPv4/IPv6 literal or "localhost") over ONE keep-alive HTTP/1.1 connection with plain
 * sockets: GET /runtime/invocation/next (long poll, no timeout), then POST .../response
 * or .../error. Bodies are framed with Content-Length both ways. Single-threaded; one
 * invocation at a time, as the Runtime API requires.
 *
 * Written for quarry (its benchmark's no-op function uses it), usable with AWS Lambda too.
 */
#ifndef LAMBDA_RUNTIME_H
#define LAMBDA_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

/* Largest event or response body handled: AWS's 6 MB synchronous payload limit. */
#define LR_MAX_PAYLOAD (6u * 1024u * 1024u)

/* One invocation as /next delivered it. Every pointer lives until the handler returns
 * (it points into the library's receive buffer); strings are NUL-terminated. */
struct lr_invocation {
    const char *request_id;       /* Lambda-Runtime-Aws-Request-Id (never NULL) */
    const char *function_arn;     /* Lambda-Runtime-Invoked-Function-Arn, "" if absent */
    const char *trace_id;         /* Lambda-Runtime-Trace-Id, or NULL (also in _X_AMZN_TRACE_ID) */
    const char *client_context;   /* Lambda-Runtime-Client-Context JSON, or NULL */
    const char *cognito_identity; /* Lambda-Runtime-Cognito-Identity JSON, or NULL */
    int64_t deadline_ms;          /* Lambda-Runtime-Deadline-Ms: Unix epoch ms, 0 if absent */
    const uint8_t *payload;       /* event bytes (normally JSON), not NUL-terminated ... */
    size_t payload_len;           /* ... but payload[payload_len] is a NUL for convenience */
};

/* What the handler produces. lr_run clears it before each call. On success (handler
 * returns 0) body/body_len are posted as the result (empty body = "null"); on failure
 * (non-zero) error_type/error_message become {"errorMessage","errorType","stackTrace":[]}.
 * All pointers are borrowed: they must stay valid until the handler's next call (static
 * strings, or buffers the function owns). */
struct lr_response {
    const uint8_t *body;          /* result bytes */
    size_t body_len;
    const char *content_type;     /* NULL = "application/json" */
    const char *error_type;       /* NULL = "Unhandled" */
    const char *error_message;    /* NULL = "" */
};

/* The function's code. Called once per invocation, on the main thread. */
typedef int (*lr_handler_cb)(const struct lr_invocation *inv, struct lr_response *out);

/* Milliseconds left before the invocation's deadline (0 when past it). */
int64_t lr_remaining_ms(const struct lr_invocation *inv);

/* Runs the Runtime API loop forever, calling handler per invocation. Returns only on a
 * fatal error (Runtime API unreachable or refusing a post, as AWS's clients exit then):
 * the process should exit with the returned status (1). */
int lr_run(lr_handler_cb handler);

/* Reports an initialisation failure to /runtime/init/error (Lambda-Runtime-Function-
 * Error-Type: error_type) and returns the exit status to use (1). For a bootstrap whose
 * setup fails before lr_run. */
int lr_init_error(const char *error_type, const char *error_message);

#endif
