/*
 * fixture.c - a provided.al2023 function in C for quarry's runtime tests, built by the test
 * against runtimes/c/lambda_runtime.c and zipped as `bootstrap`. Answers with what it saw
 * (request id, function name, payload size); an event containing "fail" is reported as a
 * function error of type FixtureError.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lambda_runtime.h"

static char out[1024];

static int handler(const struct lr_invocation *inv, struct lr_response *res)
{
    const char *fn = getenv("AWS_LAMBDA_FUNCTION_NAME");
    if (strstr((const char *)inv->payload, "fail") != NULL) {
        res->error_type = "FixtureError";
        res->error_message = "asked to fail";
        return 1;
    }
    int n = snprintf(out, sizeof(out),
                     "{\"c\":true,\"request_id\":\"%s\",\"function\":\"%s\",\"payload_len\":%zu,"
                     "\"arn\":\"%s\",\"remaining_ok\":%s}",
                     inv->request_id, fn ? fn : "", inv->payload_len, inv->function_arn,
                     lr_remaining_ms(inv) > 0 ? "true" : "false");
    if (n < 0 || (size_t)n >= sizeof(out)) {
        res->error_type = "FixtureError";
        res->error_message = "response too long";
        return 1;
    }
    printf("c fixture handled %s\n", inv->request_id);
    fflush(stdout);
    res->body = (const unsigned char *)out;
    res->body_len = (size_t)n;
    return 0;
}

int main(void)
{
    return lr_run(handler);
}
