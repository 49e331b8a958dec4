/*
 * config.c - FunctionConfiguration: validating CreateFunction/UpdateFunctionConfiguration
 * requests into the JSON the store keeps (the fields a user sets: Runtime, Role, Handler,
 * Description, Timeout, MemorySize, Environment, TracingConfig, Architectures,
 * EphemeralStorage, LoggingConfig, PackageType), and rendering a stored row as the
 * FunctionConfiguration botocore models, adding what the row's columns say (name, ARN,
 * version, code digest and size, revision, state, time).
 *
 * Limits and messages follow the Lambda model and docs (reference 1.2-1.3): timeout
 * 1-900 s (default 3), memory 128-10240 MB (default 128), environment 4 KB in total with
 * names [a-zA-Z][a-zA-Z0-9_]+ and AWS's reserved names refused.
 */
#include "api/lambda/lambda_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ENV_MAX_BYTES 4096u

static const char *const reserved_env[] = {
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
};

/* Used only when the engine is not running (unit tests, a server without functions). */
static const char *const fallback_runtimes[] = {
    "python3.9",  "python3.10", "python3.11", "python3.12",   "python3.13",      "nodejs18.x",
    "nodejs20.x", "nodejs22.x", "provided",   "provided.al2", "provided.al2023",
};

static bool invalid(struct lambda_op *op, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static bool invalid(struct lambda_op *op, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    lambda_fail(op, 400, "InvalidParameterValueException", "%s", msg);
    return false;
}

static bool runtime_ok(struct lambda_op *op, const char *rt)
{
    if (op->server->fn)
        return fn_runtime_supported(op->server->fn, qr_slice_cstr(rt));
    for (size_t i = 0; i < sizeof(fallback_runtimes) / sizeof(*fallback_runtimes); i++)
        if (strcmp(rt, fallback_runtimes[i]) == 0)
            return true;
    return false;
}

/* arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+ */
static bool role_valid(const char *r)
{
    size_t n = strlen(r);
    if (n > 2048 || strncmp(r, "arn:", 4) != 0)
        return false;
    const char *p = r + 4;
    if (strncmp(p, "aws", 3) == 0) {
        p += 3;
        while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '-')
            p++;
    }
    if (strncmp(p, ":iam::", 6) != 0)
        return false;
    p += 6;
    for (int i = 0; i < 12; i++, p++)
        if (*p < '0' || *p > '9')
            return false;
    if (strncmp(p, ":role", 5) != 0)
        return false;
    p += 5;
    if (*p == '/')
        p++;
    if (*p == '\0')
        return false;
    for (; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("_+=,.@-/", c)))
            return false;
    }
    return true;
}

static bool env_name_valid(const char *k)
{
    size_t n = strlen(k);
    if (n < 2 || !((k[0] >= 'a' && k[0] <= 'z') || (k[0] >= 'A' && k[0] <= 'Z')))
        return false;
    for (size_t i = 1; i < n; i++) {
        char c = k[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return false;
    }
    return true;
}

static bool check_env(struct lambda_op *op, json_t *env)
{
    if (!json_is_object(env))
        return invalid(op, "%s", "Environment must be an object.");
    json_t *vars = json_object_get(env, "Variables");
    if (vars == NULL)
        return true;
    if (!json_is_object(vars))
        return invalid(op, "%s", "Environment.Variables must be a map of strings.");
    size_t total = 0;
    const char *k;
    json_t *v;
    json_object_foreach(vars, k, v)
    {
        if (!json_is_string(v))
            return invalid(op, "%s", "Environment.Variables must be a map of strings.");
        if (!env_name_valid(k)) {
            lambda_fail(op, 400, "ValidationException",
                        "1 validation error detected: Value at 'environment.variables' failed "
                        "to satisfy constraint: Map keys must satisfy constraint: [Member must "
                        "satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]");
            return false;
        }
        for (size_t i = 0; i < sizeof(reserved_env) / sizeof(*reserved_env); i++)
            if (strcmp(k, reserved_env[i]) == 0)
                return invalid(op,
                               "Lambda was unable to configure your environment variables "
                               "because the environment variables you have provided contains "
                               "reserved keys that are currently not supported for "
                               "modification. Reserved keys used in this request: %s",
                               k);
        total += strlen(k) + json_string_length(v);
    }
    if (total > ENV_MAX_BYTES)
        return invalid(op, "%s",
                       "Lambda was unable to configure your environment variables because the "
                       "environment variables you have provided exceeded the 4KB limit.");
    return true;
}

static bool check_int(struct lambda_op *op, json_t *v, const char *field, json_int_t lo,
                      json_int_t hi)
{
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        lambda_fail(op, 400, "InvalidParameterValueException",
                    "%s must be an integer between %lld and %lld.", field, (long long)lo,
                    (long long)hi);
        return false;
    }
    return true;
}

static bool one_of(json_t *v, const char *a, const char *b)
{
    return json_is_string(v) &&
           (strcmp(json_string_value(v), a) == 0 || strcmp(json_string_value(v), b) == 0);
}

/* Checks one request field and copies it into cfg. */
static bool apply_field(struct lambda_op *op, json_t *cfg, const char *k, json_t *v)
{
    if (strcmp(k, "Runtime") == 0) {
        if (!json_is_string(v) || !runtime_ok(op, json_string_value(v)))
            return invalid(op,
                           "The runtime parameter of %s is not supported by this server (see "
                           "docs/functions.md for the runtime table).",
                           json_is_string(v) ? json_string_value(v) : "(not a string)");
    } else if (strcmp(k, "Role") == 0) {
        if (!json_is_string(v) || !role_valid(json_string_value(v)))
            return invalid(op, "The role defined for the function cannot be assumed by Lambda: %s",
                           json_is_string(v) ? json_string_value(v) : "(not a string)");
    } else if (strcmp(k, "Handler") == 0) {
        const char *h = json_is_string(v) ? json_string_value(v) : NULL;
        if (h == NULL || h[0] == '\0' || json_string_length(v) > 128 || strpbrk(h, " \t\r\n"))
            return invalid(op, "%s", "Handler must be 1-128 characters without whitespace.");
    } else if (strcmp(k, "Description") == 0) {
        if (!json_is_string(v) || json_string_length(v) > 256)
            return invalid(op, "%s", "Description must be a string of at most 256 characters.");
    } else if (strcmp(k, "Timeout") == 0) {
        if (!check_int(op, v, "Timeout", 1, 900))
            return false;
    } else if (strcmp(k, "MemorySize") == 0) {
        if (!check_int(op, v, "MemorySize", 128, 10240))
            return false;
    } else if (strcmp(k, "Environment") == 0) {
        if (!check_env(op, v))
            return false;
        json_t *vars = json_object_get(v, "Variables");
        v = json_pack("{s:O}", "Variables", vars ? vars : json_object());
        json_object_set_new(cfg, k, v);
        return true;
    } else if (strcmp(k, "TracingConfig") == 0) {
        json_t *m = json_object_get(v, "Mode");
        if (!json_is_object(v) || (m && !one_of(m, "Active", "PassThrough")))
            return invalid(op, "%s", "TracingConfig.Mode must be Active or PassThrough.");
        v = json_pack("{s:s}", "Mode", m ? json_string_value(m) : "PassThrough");
        json_object_set_new(cfg, k, v);
        return true;
    } else if (strcmp(k, "Architectures") == 0) {
        if (!json_is_array(v) || json_array_size(v) != 1 ||
            !one_of(json_array_get(v, 0), "x86_64", "arm64"))
            return invalid(op, "%s", "Architectures must hold exactly one of x86_64, arm64.");
    } else if (strcmp(k, "EphemeralStorage") == 0) {
        if (!json_is_object(v) ||
            !check_int(op, json_object_get(v, "Size"), "EphemeralStorage.Size", 512, 10240))
            return false;
        v = json_pack("{s:O}", "Size", json_object_get(v, "Size"));
        json_object_set_new(cfg, k, v);
        return true;
    } else if (strcmp(k, "LoggingConfig") == 0) {
        json_t *f = json_object_get(v, "LogFormat");
        json_t *g = json_object_get(v, "LogGroup");
        if (!json_is_object(v) || (f && !one_of(f, "JSON", "Text")) ||
            (g &&
             (!json_is_string(g) || json_string_length(g) == 0 || json_string_length(g) > 512)))
            return invalid(op, "%s", "LoggingConfig is not valid.");
        json_t *old = json_object_get(cfg, "LoggingConfig");
        json_t *merged = old ? json_deep_copy(old) : json_object();
        json_object_update(merged, v);
        json_object_set_new(cfg, k, merged);
        return true;
    } else if (strcmp(k, "PackageType") == 0) {
        if (!json_is_string(v) || strcmp(json_string_value(v), "Zip") != 0)
            return invalid(op, "%s", "Only PackageType Zip is supported by this server.");
    } else {
        return true; /* not kept (Code, Publish, Tags, VpcConfig, Layers, ...) */
    }
    json_object_set(cfg, k, v);
    return true;
}

static bool is_provided(const char *rt)
{
    return strncmp(rt, "provided", 8) == 0;
}

json_t *lambda_config_from_request(struct lambda_op *op, json_t *req, const json_t *old,
                                   bool create)
{
    json_t *cfg;
    if (create) {
        char group[128];
        snprintf(group, sizeof(group), "/aws/lambda/%s", op->t.name);
        cfg =
            json_pack("{s:s, s:i, s:i, s:{s:s}, s:[s], s:{s:i}, s:{s:s, s:s}, s:s}", "Description",
                      "", "Timeout", 3, "MemorySize", 128, "TracingConfig", "Mode", "PassThrough",
                      "Architectures", "x86_64", "EphemeralStorage", "Size", 512, "LoggingConfig",
                      "LogFormat", "Text", "LogGroup", group, "PackageType", "Zip");
    } else {
        cfg = json_deep_copy(old);
    }
    const char *k;
    json_t *v;
    json_object_foreach(req, k, v)
    {
        if (json_is_null(v))
            continue;
        if (!apply_field(op, cfg, k, v)) {
            json_decref(cfg);
            return NULL;
        }
    }
    json_t *rt = json_object_get(cfg, "Runtime");
    json_t *h = json_object_get(cfg, "Handler");
    if (create && !json_is_string(rt)) {
        json_decref(cfg);
        lambda_fail(op, 400, "InvalidParameterValueException",
                    "Runtime and Handler are mandatory parameters for functions created with "
                    "deployment packages.");
        return NULL;
    }
    if (json_is_string(rt) && !is_provided(json_string_value(rt)) && !json_is_string(h)) {
        json_decref(cfg);
        lambda_fail(op, 400, "InvalidParameterValueException",
                    "Runtime and Handler are mandatory parameters for functions created with "
                    "deployment packages.");
        return NULL;
    }
    if (create && !json_is_string(json_object_get(cfg, "Role"))) {
        json_decref(cfg);
        lambda_fail(op, 400, "InvalidParameterValueException", "Role is required.");
        return NULL;
    }
    return cfg;
}

json_t *lambda_config_parse(struct lambda_op *op, struct qr_slice stored)
{
    json_t *j = json_loadb((const char *)stored.p, stored.len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        lambda_fail(op, 500, "ServiceException", "The stored function configuration is corrupt.");
        return NULL;
    }
    return j;
}

/* AWS's LastModified: "2026-11-25T13:45:00.000+0000". */
static void last_modified(int64_t ms, char out[48])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, 48, "%04d-%02d-%02dT%02d:%02d:%02d.%03d+0000", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

static const char *state_name(enum store_fn_state s)
{
    switch (s) {
    case STORE_FN_PENDING:
        return "Pending";
    case STORE_FN_ACTIVE:
        return "Active";
    case STORE_FN_FAILED:
        return "Failed";
    }
    return "Active";
}

json_t *lambda_config_render(struct lambda_op *op, const struct store_fn *fn)
{
    json_t *j = lambda_config_parse(op, fn->config);
    if (j == NULL)
        return NULL;
    char arn[256], qarn[280], ver[16], lm[48];
    lambda_fn_arn(op, fn->name, arn, sizeof(arn));
    lambda_version_str(fn->version, ver);
    if (fn->version == STORE_FN_LATEST)
        snprintf(qarn, sizeof(qarn), "%s", arn);
    else
        snprintf(qarn, sizeof(qarn), "%s:%s", arn, ver);
    last_modified(fn->last_modified_ms, lm);
    json_object_set_new(j, "FunctionName", json_string(fn->name));
    json_object_set_new(j, "FunctionArn", json_string(qarn));
    json_object_set_new(j, "CodeSize", json_integer((json_int_t)fn->code_size));
    json_object_set_new(j, "CodeSha256", json_string(fn->code_sha256));
    json_object_set_new(j, "Version", json_string(ver));
    json_object_set_new(j, "LastModified", json_string(lm));
    json_object_set_new(j, "RevisionId", json_string(fn->revision));
    json_object_set_new(j, "State", json_string(state_name(fn->state)));
    json_object_set_new(j, "LastUpdateStatus", json_string("Successful"));
    json_object_set_new(j, "SnapStart",
                        json_pack("{s:s, s:s}", "ApplyOn", "None", "OptimizationStatus", "Off"));
    return j;
}
