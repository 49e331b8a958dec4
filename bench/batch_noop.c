/*
 * batch_noop.c - the smallest function a LambdaInvoke batch job can run: it answers every
 * event with no per-task results and treatMissingKeysAs Succeeded, which AWS's result
 * format defines as "every task of this invocation succeeded". bench/batch uses it to
 * measure what the batch engine and the functions engine cost per task.
 */
#include "lambda_runtime.h"

static const char answer[] =
    "{\"invocationSchemaVersion\":\"1.0\",\"treatMissingKeysAs\":\"Succeeded\","
    "\"invocationId\":\"noop\",\"results\":[]}";

static int handler(const struct lr_invocation *inv, struct lr_response *out)
{
    (void)inv;
    out->body = (const uint8_t *)answer;
    out->body_len = sizeof(answer) - 1;
    return 0;
}

int main(void)
{
    return lr_run(handler);
}
