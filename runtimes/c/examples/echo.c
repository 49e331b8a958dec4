/*
 * echo.c - a provided.al2023 function that returns its event unchanged, prints one log
 * line per invocation, and fails with errorType "EchoError" when the event contains the
 * bytes "fail" in quotes, e.g. {"fail":true} (so tests can see a custom runtime's error path).
 */
#define _GNU_SOURCE /* memmem */
#include <stdio.h>
#include <string.h>

#include "lambda_runtime.h"

static int handler(const struct lr_invocation *inv, struct lr_response *out)
{
    static const char fail[] = "\"fail\"";

    printf("echo %s %zu bytes, %lld ms left\n", inv->request_id, inv->payload_len,
           (long long)lr_remaining_ms(inv));
    if (memmem(inv->payload, inv->payload_len, fail, sizeof fail - 1) != NULL) {
        out->error_type = "EchoError";
        out->error_message = "asked to fail";
        return 1;
    }
    /* The payload lives until the handler's result is posted: no copy needed. */
    out->body = inv->payload;
    out->body_len = inv->payload_len;
    return 0;
}

int main(void)
{
    return lr_run(handler);
}
