/*
 * runtimes.c - the runtime table: which program starts a runtime's bootstrap.
 *
 * Built-in default (docs/functions.md):
 *   python3.8 .. python3.13   <python3> -S ${runtime_dir}/python/bootstrap.py
 *   nodejs18.x/20.x/22.x      <node> ${runtime_dir}/node/bootstrap.mjs,
 *                             NODE_PATH=${runtime_dir}/node/node_modules
 *   provided, provided.al2, provided.al2023   ${task_root}/bootstrap
 * <python3> is the `python3` first on quarry's PATH, resolved at start to the real
 * interpreter (sys.executable: a pyenv shim is a shell script, and the sandbox needs the
 * interpreter's tree, sys.prefix, bound read-only); <node> is `node` on PATH.
 *
 * A JSON file (opts->runtimes_file) adds or replaces entries:
 *   {"runtimes": {"NAME": {"command": ["prog", "arg", ...], "env": {"K": "V"},
 *                          "binds": ["/abs/dir"], "provided": false}}}
 * A command[0] without '/' is searched on PATH. Entries whose program or files under
 * ${runtime_dir} do not exist are left out, so fn_runtime_supported says false for them.
 */
#include "fn/fn_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

extern char **environ;

#define RUNTIMES_FILE_MAX (1024u * 1024u)

char *fn_path_search(const char *prog)
{
    const char *path = getenv("PATH");
    char buf[PATH_MAX];
    if (!prog || !prog[0] || strchr(prog, '/') || !path)
        return NULL;
    while (*path) {
        const char *end = strchr(path, ':');
        size_t n = end ? (size_t)(end - path) : strlen(path);
        if (n > 0) {
            int w = snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path, prog);
            struct stat st;
            if (w > 0 && (size_t)w < sizeof(buf) && stat(buf, &st) == 0 && S_ISREG(st.st_mode) &&
                access(buf, X_OK) == 0)
                return realpath(buf, NULL);
        }
        path += n;
        if (*path == ':')
            path++;
    }
    return NULL;
}

static void rt_free(struct fn_runtime *r)
{
    free(r->name);
    for (size_t i = 0; i < r->argc; i++)
        free(r->argv[i]);
    free(r->argv);
    for (size_t i = 0; i < r->n_env; i++)
        free(r->env[i]);
    free(r->env);
    for (size_t i = 0; i < r->n_binds; i++)
        free(r->binds[i]);
    free(r->binds);
    memset(r, 0, sizeof(*r));
}

static char **strv_push(char **v, size_t *n, const char *s)
{
    v = qr_xrealloc(v, (*n + 2) * sizeof(*v));
    v[(*n)++] = qr_xstrndup(s, strlen(s));
    v[*n] = NULL;
    return v;
}

/* Replaces ${runtime_dir} by dir (for the existence check only). */
static bool runtime_file_ok(const char *arg, const char *runtimes_dir)
{
    static const char var[] = "${runtime_dir}";
    const char *p = strstr(arg, var);
    char path[PATH_MAX];
    if (!p)
        return true;
    if (!runtimes_dir)
        return false;
    int n = snprintf(path, sizeof(path), "%.*s%s%s", (int)(p - arg), arg, runtimes_dir,
                     p + sizeof(var) - 1);
    return n > 0 && (size_t)n < sizeof(path) && access(path, R_OK) == 0;
}

/* Adds r to t, replacing an entry of the same name; takes r's contents. */
static void table_put(struct fn_runtimes *t, struct fn_runtime *r)
{
    for (size_t i = 0; i < t->n; i++) {
        if (strcmp(t->v[i].name, r->name) == 0) {
            rt_free(&t->v[i]);
            t->v[i] = *r;
            memset(r, 0, sizeof(*r));
            return;
        }
    }
    t->v = qr_xrealloc(t->v, (t->n + 1) * sizeof(*t->v));
    t->v[t->n++] = *r;
    memset(r, 0, sizeof(*r));
}

/*
 * Runs python -c to learn the real interpreter and its trees; false if it fails within
 * 10 s. out[0] = sys.executable, out[1] = sys.prefix, out[2] = sys.base_prefix.
 *
 * It also writes the runtime's bytecode (runtimes/python/__pycache__, as `make runtimes`
 * does) for this interpreter where it is missing or stale: functions run as a uid that
 * cannot write there (the sandbox mounts it read-only), so without it every cold start
 * compiles quarry_runtime.py, 7-10 ms. umask 022 first: quarry's own 077 would make the
 * cache unreadable to that uid. A read-only runtimes/ is fine (nothing written).
 */
static bool probe_python(const char *python, const char *runtimes_dir, char *out[3])
{
    char code[] = "import sys;print(sys.executable);print(sys.prefix);print(sys.base_prefix)\n"
                  "if len(sys.argv) > 1:\n"
                  " try:\n"
                  "  import os,py_compile;os.umask(0o22)\n"
                  "  py_compile.compile(sys.argv[1]+'/python/quarry_runtime.py',doraise=True)\n"
                  " except Exception:pass";
    char a0[PATH_MAX], a1[] = "-S", a2[] = "-c", a4[PATH_MAX];
    char *argv[] = {a0, a1, a2, code, runtimes_dir ? a4 : NULL, NULL};
    if (snprintf(a0, sizeof(a0), "%s", python) >= (int)sizeof(a0) ||
        (runtimes_dir && snprintf(a4, sizeof(a4), "%s", runtimes_dir) >= (int)sizeof(a4)))
        return false;
    int fds[2];
    pid_t pid;
    char buf[3 * PATH_MAX];
    size_t len = 0;
    bool ok = false;
    posix_spawn_file_actions_t fa;

    if (pipe2(fds, O_CLOEXEC) != 0)
        return false;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    int rc = posix_spawn(&pid, python, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        return false;
    }
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
        struct timespec t1;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long left = 10000 - ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
            break;
        ssize_t r = read(fds[0], buf + len, sizeof(buf) - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
        if (len == sizeof(buf) - 1)
            break;
    }
    close(fds[0]);
    kill(pid, SIGKILL); /* it has exited, or it is stuck: either way it must go */
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    buf[len] = '\0';
    char *save = NULL, *line = strtok_r(buf, "\n", &save);
    size_t i = 0;
    for (; line && i < 3; i++, line = strtok_r(NULL, "\n", &save))
        out[i] = line[0] == '/' ? qr_xstrndup(line, strlen(line)) : NULL;
    ok = i == 3 && out[0] && out[1] && out[2] && access(out[0], X_OK) == 0;
    if (!ok)
        for (size_t k = 0; k < i; k++)
            free(out[k]), out[k] = NULL;
    return ok;
}

static bool under_usr(const char *p)
{
    return strncmp(p, "/usr/", 5) == 0 || strcmp(p, "/usr") == 0;
}

static void builtin_table(struct fn_runtimes *t, const char *runtimes_dir)
{
    static const char *const pythons[] = {"python3.8",  "python3.9",  "python3.10",
                                          "python3.11", "python3.12", "python3.13"};
    static const char *const nodes[] = {"nodejs18.x", "nodejs20.x", "nodejs22.x"};
    static const char *const provided[] = {"provided", "provided.al2", "provided.al2023"};
    struct fn_runtime r;

    char *py = fn_path_search("python3"), *probe[3] = {NULL, NULL, NULL};
    if (py && probe_python(py, runtimes_dir, probe) &&
        runtime_file_ok("${runtime_dir}/python/bootstrap.py", runtimes_dir)) {
        for (size_t i = 0; i < sizeof(pythons) / sizeof(*pythons); i++) {
            memset(&r, 0, sizeof(r));
            r.name = qr_xstrndup(pythons[i], strlen(pythons[i]));
            r.argv = strv_push(r.argv, &r.argc, probe[0]);
            r.argv = strv_push(r.argv, &r.argc, "-S");
            r.argv = strv_push(r.argv, &r.argc, "${runtime_dir}/python/bootstrap.py");
            r.env = strv_push(r.env, &r.n_env, "PYTHONUNBUFFERED=1");
            r.env = strv_push(r.env, &r.n_env, "PYTHONDONTWRITEBYTECODE=1");
            for (size_t k = 1; k < 3; k++)
                if (!under_usr(probe[k]) && (k == 1 || strcmp(probe[1], probe[2]) != 0))
                    r.binds = strv_push(r.binds, &r.n_binds, probe[k]);
            table_put(t, &r);
        }
    }
    free(py);
    for (size_t k = 0; k < 3; k++)
        free(probe[k]);

    char *node = fn_path_search("node");
    if (node && runtime_file_ok("${runtime_dir}/node/bootstrap.mjs", runtimes_dir)) {
        for (size_t i = 0; i < sizeof(nodes) / sizeof(*nodes); i++) {
            memset(&r, 0, sizeof(r));
            r.name = qr_xstrndup(nodes[i], strlen(nodes[i]));
            r.argv = strv_push(r.argv, &r.argc, node);
            r.argv = strv_push(r.argv, &r.argc, "${runtime_dir}/node/bootstrap.mjs");
            r.env = strv_push(r.env, &r.n_env, "NODE_PATH=${runtime_dir}/node/node_modules");
            if (!under_usr(node)) {
                /* <prefix>/bin/node: the prefix holds its libraries */
                char *d = qr_xstrndup(node, strlen(node)), *s1 = strrchr(d, '/');
                if (s1 && s1 != d) {
                    *s1 = '\0';
                    char *s2 = strrchr(d, '/');
                    if (s2 && s2 != d)
                        *s2 = '\0';
                    r.binds = strv_push(r.binds, &r.n_binds, d);
                }
                free(d);
            }
            table_put(t, &r);
        }
    }
    free(node);

    for (size_t i = 0; i < sizeof(provided) / sizeof(*provided); i++) {
        memset(&r, 0, sizeof(r));
        r.name = qr_xstrndup(provided[i], strlen(provided[i]));
        r.argv = strv_push(r.argv, &r.argc, "${task_root}/bootstrap");
        r.provided = true;
        table_put(t, &r);
    }
}

static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '-' || s[i] == '_'))
            return false;
    return true;
}

/* Parses one file entry into r; QR_E_BAD_INPUT for a malformed one, and *usable says
 * whether its program and runtime files exist. */
static enum qr_err parse_entry(const char *name, json_t *v, const char *runtimes_dir,
                               struct fn_runtime *r, bool *usable)
{
    json_t *cmd = json_object_get(v, "command"), *env = json_object_get(v, "env");
    json_t *binds = json_object_get(v, "binds"), *prov = json_object_get(v, "provided");
    size_t i;
    json_t *x;
    const char *k;

    memset(r, 0, sizeof(*r));
    *usable = true;
    if (!json_is_object(v) || !name_ok(name) || !json_is_array(cmd) || json_array_size(cmd) == 0 ||
        json_array_size(cmd) > 64 || (env && !json_is_object(env)) ||
        (binds && !json_is_array(binds)) || (prov && !json_is_boolean(prov)))
        return QR_E_BAD_INPUT;
    r->name = qr_xstrndup(name, strlen(name));
    r->provided = prov && json_is_true(prov);
    json_array_foreach(cmd, i, x)
    {
        if (!json_is_string(x) || json_string_length(x) == 0 || json_string_length(x) >= PATH_MAX)
            goto bad;
        const char *s = json_string_value(x);
        if (i == 0 && !strchr(s, '/')) {
            char *p = fn_path_search(s);
            if (!p) {
                *usable = false;
                r->argv = strv_push(r->argv, &r->argc, s);
                continue;
            }
            r->argv = strv_push(r->argv, &r->argc, p);
            free(p);
            continue;
        }
        if (i == 0 && s[0] != '/' && strncmp(s, "${", 2) != 0)
            goto bad;
        if (!runtime_file_ok(s, runtimes_dir))
            *usable = false;
        r->argv = strv_push(r->argv, &r->argc, s);
    }
    if (env) {
        json_object_foreach(env, k, x)
        {
            char kv[8192];
            if (!json_is_string(x) || !k[0] || strchr(k, '='))
                goto bad;
            int n = snprintf(kv, sizeof(kv), "%s=%s", k, json_string_value(x));
            if (n < 0 || (size_t)n >= sizeof(kv))
                goto bad;
            r->env = strv_push(r->env, &r->n_env, kv);
        }
    }
    if (binds) {
        json_array_foreach(binds, i, x)
        {
            if (!json_is_string(x) || json_string_value(x)[0] != '/')
                goto bad;
            r->binds = strv_push(r->binds, &r->n_binds, json_string_value(x));
        }
    }
    return QR_OK;
bad:
    rt_free(r);
    return QR_E_BAD_INPUT;
}

static enum qr_err load_file(const char *file, const char *runtimes_dir, struct fn_runtimes *t)
{
    json_error_t jerr;
    struct stat st;
    enum qr_err err = QR_E_BAD_INPUT;
    json_t *root = NULL;
    uint8_t *data = NULL;
    size_t len = 0;
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return QR_E_IO;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > RUNTIMES_FILE_MAX) {
        err = QR_E_IO;
        goto out;
    }
    data = qr_xmalloc((size_t)st.st_size + 1);
    while (len < (size_t)st.st_size) {
        ssize_t r = read(fd, data + len, (size_t)st.st_size - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    root = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, &jerr);
    json_t *rts = root ? json_object_get(root, "runtimes") : NULL;
    if (!json_is_object(rts))
        goto out;
    const char *name;
    json_t *v;
    json_object_foreach(rts, name, v)
    {
        struct fn_runtime r;
        bool usable;
        err = parse_entry(name, v, runtimes_dir, &r, &usable);
        if (err != QR_OK)
            goto out;
        if (usable) {
            table_put(t, &r);
        } else {
            /* a file entry that cannot run hides the built-in one of that name */
            for (size_t i = 0; i < t->n; i++) {
                if (strcmp(t->v[i].name, r.name) == 0) {
                    rt_free(&t->v[i]);
                    t->v[i] = t->v[--t->n];
                    break;
                }
            }
            rt_free(&r);
        }
    }
    err = QR_OK;
out:
    json_decref(root);
    free(data);
    close(fd);
    return err;
}

enum qr_err fn_runtimes_load(const char *file, const char *runtimes_dir, struct fn_runtimes *out)
{
    struct fn_runtimes t = {NULL, 0};
    builtin_table(&t, runtimes_dir);
    if (file) {
        enum qr_err err = load_file(file, runtimes_dir, &t);
        if (err != QR_OK) {
            fn_runtimes_dispose(&t);
            return err;
        }
    }
    *out = t;
    return QR_OK;
}

void fn_runtimes_dispose(struct fn_runtimes *t)
{
    for (size_t i = 0; i < t->n; i++)
        rt_free(&t->v[i]);
    free(t->v);
    t->v = NULL;
    t->n = 0;
}

const struct fn_runtime *fn_runtimes_find(const struct fn_runtimes *t, struct qr_slice name)
{
    for (size_t i = 0; i < t->n; i++)
        if (qr_slice_eq(name, qr_slice_cstr(t->v[i].name)))
            return &t->v[i];
    return NULL;
}
