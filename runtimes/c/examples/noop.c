/*
 * noop.c - the smallest provided.al2023 function: returns "{}" for every event. quarry's
 * benchmark uses it to measure the engine's own invoke overhead, so it does nothing else.
 */
#include "lambda_runtime.h"

static int handler(const struct lr_invocation *inv, struct lr_response *out)
{
    (void)inv;
    out->body = (const uint8_t *)"{}";
    out->body_len = 2;
    return 0;
}

int main(void)
{
    return lr_run(handler);
}
