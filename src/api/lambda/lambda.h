/*
 * lambda.h - the Lambda control API (REST-JSON, 2015-03-31 and friends): function CRUD,
 * versions, aliases, concurrency and Invoke, over the store's function registry and the
 * functions engine.
 *
 * route.c calls lambda_handle for requests whose SigV4 service is "lambda". The server
 * owns one struct lambda_ctx (qr_server.lambda): the in-memory dedupe table of retried
 * synchronous invokes and the thread that runs queued Event invocations.
 */
#ifndef QR_API_LAMBDA_H
#define QR_API_LAMBDA_H

#include "api/api.h"
#include "util/err.h"

struct lambda_ctx;

/* Makes the context and starts the Event dispatcher thread, which runs invocations
 * queued before a restart too. s->store, s->fn (may be NULL: invokes then fail with
 * ServiceException) and s->cfg must be set. *out owned by caller (free with
 * lambda_free). Errors: QR_E_DB, QR_E_INTERNAL. Main thread, after the engine starts. */
enum qr_err lambda_new(struct qr_server *s, struct lambda_ctx **out)
    __attribute__((warn_unused_result));
/* Stops the dispatcher thread: no new Event invocation starts (those still running
 * finish in the engine; an event whose result is lost runs again after its lease).
 * Main thread, after the loops stopped and before fn_engine_free. */
void lambda_stop(struct lambda_ctx *lx);
/* Frees the context. Main thread, after fn_engine_free (which delivers every pending
 * callback) and before store_close. lambda_free(NULL) is a no-op. */
void lambda_free(struct lambda_ctx *lx);

/* Handles one authenticated Lambda request. Loop thread. */
void lambda_handle(struct api_req *ar);

#endif
