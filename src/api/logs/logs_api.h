/* logs_api.h - the CloudWatch Logs API (AWS JSON 1.1, target prefix Logs_20140328), used by
 * route.c for requests whose SigV4 scope names the service "logs". */
#ifndef QR_API_LOGS_API_H
#define QR_API_LOGS_API_H

#include "api/api.h"

/* Handles an authenticated CloudWatch Logs request: the operation named by X-Amz-Target
 * runs on a worker (it reads log files), the response is sent on ar's loop thread.
 * Uses ar->server->logs (NULL: every call answers ServiceUnavailableException).
 * Loop thread. */
void logs_api_handle(struct api_req *ar);

#endif
