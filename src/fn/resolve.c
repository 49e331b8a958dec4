/*
 * resolve.c - function references to runnable configurations (fn_resolve.h). The
 * reference is client bytes: split at ':' within fixed bounds, every part checked
 * against Lambda's name rules before it reaches the store. An ARN of another account or
 * region names nothing here (not found), as on AWS where it names another function.
 */
#include "fn/fn_resolve.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "fn/code.h"

bool fn_name_valid(struct qr_slice s, size_t max)
{
    if (s.len == 0 || s.len > max)
        return false;
    for (size_t i = 0; i < s.len; i++) {
        uint8_t c = s.p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

bool fn_version_num(const char *q, uint32_t *out)
{
    struct qr_slice s = qr_slice_cstr(q);
    uint64_t v;
    if (qr_slice_eq_lit(s, "$LATEST")) {
        *out = STORE_FN_LATEST;
        return true;
    }
    if (qr_slice_all_digits(s) && s.p[0] != '0' && qr_slice_u64(s, UINT32_MAX - 1, &v)) {
        *out = (uint32_t)v;
        return true;
    }
    return false;
}

bool fn_qualifier_valid(struct qr_slice q)
{
    uint64_t v;
    if (qr_slice_eq_lit(q, "$LATEST"))
        return true;
    if (qr_slice_all_digits(q))
        return q.p[0] != '0' && qr_slice_u64(q, UINT32_MAX - 1, &v);
    return fn_name_valid(q, 128);
}

enum qr_err fn_ref_parse(const struct fn_resolve_env *env, struct qr_slice ref, struct fn_ref *out)
{
    struct qr_slice parts[8];
    size_t n = 0, start = 0, i = 0;
    if (ref.len == 0 || ref.len > 1024)
        return QR_E_BAD_INPUT;
    for (size_t k = 0; k <= ref.len; k++) {
        if (k == ref.len || ref.p[k] == ':') {
            if (n == 8)
                return QR_E_BAD_INPUT;
            parts[n++] = qr_slice(ref.p + start, k - start);
            start = k + 1;
        }
    }
    if (qr_slice_eq_lit(parts[0], "arn")) {
        if (n < 7 || n > 8 || !qr_slice_eq_lit(parts[2], "lambda") ||
            !qr_slice_eq_lit(parts[5], "function"))
            return QR_E_BAD_INPUT;
        if (!qr_slice_eq_lit(parts[3], env->region) || !qr_slice_eq_lit(parts[4], env->account_id))
            return QR_E_NO_SUCH_KEY;
        i = 6;
    } else if (n >= 3 && qr_slice_all_digits(parts[0]) && qr_slice_eq_lit(parts[1], "function")) {
        if (parts[0].len != 12 || n > 4)
            return QR_E_BAD_INPUT;
        if (!qr_slice_eq_lit(parts[0], env->account_id))
            return QR_E_NO_SUCH_KEY;
        i = 2;
    } else if (n > 2) {
        return QR_E_BAD_INPUT;
    }
    if (!fn_name_valid(parts[i], STORE_FN_NAME_MAX) || (i + 1 < n && !fn_qualifier_valid(parts[i + 1])))
        return QR_E_BAD_INPUT;
    memset(out, 0, sizeof(*out));
    memcpy(out->name, parts[i].p, parts[i].len);
    if (i + 1 < n)
        memcpy(out->qual, parts[i + 1].p, parts[i + 1].len);
    return QR_OK;
}

enum qr_err fn_resolve_row(struct store_reader *r, const struct fn_ref *ref, h2o_mem_pool_t *pool,
                           struct store_fn *out)
{
    uint32_t v = STORE_FN_LATEST;
    if (ref->qual[0] && !fn_version_num(ref->qual, &v)) {
        struct store_fn_alias al;
        enum qr_err err =
            store_fn_alias_get(r, qr_slice_cstr(ref->name), qr_slice_cstr(ref->qual), pool, &al);
        if (err != QR_OK)
            return err;
        v = al.version;
    }
    return store_fn_get(r, qr_slice_cstr(ref->name), v, pool, out);
}

static char *pool_str(h2o_mem_pool_t *pool, const char *s)
{
    size_t n = strlen(s);
    char *d = h2o_mem_alloc_pool(pool, n + 1);
    memcpy(d, s, n + 1);
    return d;
}

#define POOL_STR(x) pool_str(pool, (x))

static void env_vars(json_t *cfg, h2o_mem_pool_t *pool, struct fn_config *out)
{
    json_t *vars = json_object_get(json_object_get(cfg, "Environment"), "Variables");
    size_t nv = json_is_object(vars) ? json_object_size(vars) : 0;
    if (nv == 0)
        return;
    struct fn_env_var *env = h2o_mem_alloc_pool(pool, sizeof(*env) * nv);
    size_t i = 0;
    const char *k;
    json_t *v;
    json_object_foreach(vars, k, v)
    {
        if (!json_is_string(v) || i == nv)
            continue;
        env[i].name = POOL_STR(k);
        env[i].value = POOL_STR(json_string_value(v));
        i++;
    }
    out->env = env;
    out->n_env = i;
}

enum qr_err fn_config_from_row(const struct fn_resolve_env *env, const struct store_fn *fn,
                               h2o_mem_pool_t *pool, struct fn_config *out)
{
    json_t *cfg = json_loadb((const char *)fn->config.p, fn->config.len, 0, NULL);
    char hex[65], dir[4096], arn[256], ver[16];
    if (!json_is_object(cfg) || !fn_code_hex(fn->code_sha256, hex) ||
        !fn_code_dir(env->data_dir, hex, dir, sizeof(dir))) {
        json_decref(cfg);
        return QR_E_INTERNAL;
    }
    memset(out, 0, sizeof(*out));
    snprintf(arn, sizeof(arn), "arn:aws:lambda:%s:%s:function:%s", env->region, env->account_id,
             fn->name);
    if (fn->version == STORE_FN_LATEST)
        snprintf(ver, sizeof(ver), "$LATEST");
    else
        snprintf(ver, sizeof(ver), "%u", fn->version);
    out->name = POOL_STR(fn->name);
    out->arn = POOL_STR(arn);
    out->version = POOL_STR(ver);
    out->revision = POOL_STR(fn->revision);
    out->code_dir = POOL_STR(dir);
    const char *rt = json_string_value(json_object_get(cfg, "Runtime"));
    const char *h = json_string_value(json_object_get(cfg, "Handler"));
    const char *role = json_string_value(json_object_get(cfg, "Role"));
    out->runtime = POOL_STR(rt ? rt : "");
    out->handler = POOL_STR(h ? h : "");
    out->role = POOL_STR(role ? role : "");
    json_int_t t = json_integer_value(json_object_get(cfg, "Timeout"));
    json_int_t m = json_integer_value(json_object_get(cfg, "MemorySize"));
    out->timeout_s = t >= 1 && t <= 900 ? (uint32_t)t : 3;
    out->memory_mb = m >= 128 && m <= 10240 ? (uint32_t)m : 128;
    out->reserved_concurrency = fn->reserved;
    env_vars(cfg, pool, out);
    json_decref(cfg);
    return QR_OK;
}

enum qr_err fn_resolve(struct store_reader *r, const struct fn_resolve_env *env,
                       struct qr_slice ref, h2o_mem_pool_t *pool, struct fn_config *out)
{
    struct fn_ref fr;
    struct store_fn fn;
    enum qr_err err = fn_ref_parse(env, ref, &fr);
    if (err == QR_OK)
        err = fn_resolve_row(r, &fr, pool, &fn);
    if (err == QR_OK)
        err = fn_config_from_row(env, &fn, pool, out);
    return err;
}
