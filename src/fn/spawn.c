/*
 * spawn.c - starting, confining and sweeping function processes.
 *
 * A child is forked by the engine thread (so PR_SET_PDEATHSIG, which fires when the
 * forking *thread* exits, only fires when quarry's engine goes), starts its own session
 * (its pid is its process group: we kill -pid), gets /dev/null as stdin, two pipes as
 * stdout/stderr, every other fd closed (close_range), default signal dispositions, an
 * explicit argv and environment (no shell), and is execve'd. Between fork and exec it
 * calls only async-signal-safe functions: everything is prepared before fork.
 *
 * Sandbox: the child is bwrap (its options through --args, so /proc/1/cmdline shows no
 * host path), which makes a user namespace, mounts the code read-only at /var/task,
 * quarry's runtimes/ at /var/runtime, the system dirs and interpreter trees read-only, a
 * private 512 MB /tmp, /proc and /dev, a new pid namespace, drops every capability,
 * loads the seccomp filter, and dies with its parent. As root the child first becomes the
 * environment's own uid (FN_UID_FIRST..) itself, so bwrap runs unprivileged and maps that
 * uid into the sandbox; it reaches the code under 0700 DATA through a mount namespace
 * of the child's that exposes only the paths the sandbox binds (see "exposures" below).
 * The child joins the environment's network namespace (netns.c) before exec.
 * --no-sandbox: the runtime runs directly in the code directory; as root the child drops
 * to the environment's uid in the same kind of mount namespace, with a private /tmp.
 *
 * Memory and processes: per-environment cgroups (v2: memory.max and pids.max in one
 * group; v1: the memory and pids hierarchies) under quarry's own, else RLIMIT_DATA =
 * MemorySize + 64 MB (not RLIMIT_AS: node reserves far more address space than it
 * uses). Teardown and the next start kill whatever is left in them.
 *
 * Leftovers: each child's pid and start time go to DATA/fn/pids/PID; fn_sweep (at start)
 * kills those whose start time still matches, so a quarry killed with -9 before the
 * kernel's PDEATHSIG reached a child (or a bwrap grandchild) leaves nothing running.
 */
#include "fn/fn_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "auth/creds.h"

#define RLIMIT_HEADROOM_MB 64u

/* ---- /proc --------------------------------------------------------------------------- */

/* starttime (field 22) of /proc/PID/stat, or 0. */
static unsigned long long proc_start_ticks(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* comm may contain spaces and parens */
    if (!p)
        return 0;
    p++;
    /* after ") ": field 3 (state) ... field 22 is the 20th token */
    for (int field = 3; field < 22; field++) {
        while (*p == ' ')
            p++;
        while (*p && *p != ' ')
            p++;
        if (!*p)
            return 0;
    }
    return strtoull(p, NULL, 10);
}

/* ---- pid files and the sweep --------------------------------------------------------- */

static void write_pidfile(struct fn_env *env)
{
    char line[64];
    int n = snprintf(env->pidfile, sizeof(env->pidfile), "%s/%d", env->e->pid_dir, (int)env->pid);
    if (n < 0 || (size_t)n >= sizeof(env->pidfile)) {
        env->pidfile[0] = '\0';
        return;
    }
    int fd = open(env->pidfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        env->pidfile[0] = '\0';
        return;
    }
    n = snprintf(line, sizeof(line), "%d %llu\n", (int)env->pid, env->start_ticks);
    if (write(fd, line, (size_t)n) != n)
        (void)unlink(env->pidfile); /* a half-written file would only confuse the sweep */
    close(fd);
}

static void rmdir_cgroup(const char *dir)
{
    /* A cgroup directory only holds kernel files: rmdir works once no task is left. */
    (void)rmdir(dir);
}

void fn_sweep(struct fn_engine *e)
{
    DIR *d = opendir(e->pid_dir);
    struct dirent *de;
    if (!d)
        return;
    while ((de = readdir(d))) {
        char path[PATH_MAX], buf[128];
        if (de->d_name[0] == '.')
            continue;
        int n = snprintf(path, sizeof(path), "%s/%s", e->pid_dir, de->d_name);
        if (n < 0 || (size_t)n >= sizeof(path))
            continue;
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd >= 0) {
            ssize_t r = read(fd, buf, sizeof(buf) - 1);
            close(fd);
            int pid = 0;
            unsigned long long ticks = 0;
            if (r > 0) {
                buf[r] = '\0';
                if (sscanf(buf, "%d %llu", &pid, &ticks) != 2)
                    pid = 0;
            }
            /* Only a process that is still the one we started: same pid, same start. */
            if (pid > 1 && ticks != 0 && proc_start_ticks(pid) == ticks) {
                (void)kill(-pid, SIGKILL);
                (void)kill(pid, SIGKILL);
            }
        }
        (void)unlink(path);
    }
    closedir(d);
}

/* ---- cgroups ------------------------------------------------------------------------- */

static bool write_file(const char *dir, const char *name, const char *val)
{
    char path[PATH_MAX];
    int n = snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof(path))
        return false;
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    size_t len = strlen(val);
    bool ok = write(fd, val, len) == (ssize_t)len;
    close(fd);
    return ok;
}

static bool read_file(const char *dir, const char *name, char *buf, size_t size)
{
    char path[PATH_MAX];
    int n = snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof(path))
        return false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t r = read(fd, buf, size - 1);
    close(fd);
    if (r < 0)
        return false;
    buf[r] = '\0';
    return true;
}

/* Our own cgroup path in a hierarchy: v2 "0::/path", v1 "N:...ctrl...:/path". */
static bool self_cgroup(bool v2, const char *ctrl, char *out, size_t size)
{
    char buf[4096];
    if (!read_file("/proc/self", "cgroup", buf, sizeof(buf)))
        return false;
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2 = '\0';
        const char *ctrls = c1 + 1;
        bool match = v2 ? (ctrls[0] == '\0' && strncmp(line, "0:", 2) == 0) : false;
        if (!v2) {
            char tmp[256];
            snprintf(tmp, sizeof(tmp), "%s", ctrls);
            char *s2 = NULL;
            for (char *c = strtok_r(tmp, ",", &s2); c; c = strtok_r(NULL, ",", &s2))
                if (strcmp(c, ctrl) == 0)
                    match = true;
        }
        if (match) {
            int n = snprintf(out, size, "%s", c2 + 1);
            if (n <= 0 || (size_t)n >= size)
                return false;
            if (strcmp(out, "/") == 0)
                out[0] = '\0';
            return true;
        }
    }
    return false;
}

/* SIGKILLs every task listed in dir/cgroup.procs; true when none was listed. *denied
 * (may be NULL) is set when a task is not ours to kill. */
static bool cg_kill_all(const char *dir, bool *denied)
{
    char buf[8192];
    bool empty = true;
    if (!read_file(dir, "cgroup.procs", buf, sizeof(buf)))
        return true;
    char *save = NULL;
    for (char *t = strtok_r(buf, "\n", &save); t; t = strtok_r(NULL, "\n", &save)) {
        long pid = strtol(t, NULL, 10);
        if (pid > 1) {
            if (kill((pid_t)pid, SIGKILL) != 0 && errno == EPERM && denied)
                *denied = true;
            empty = false;
        }
    }
    return empty;
}

/* Kills what is left in dir (a process that left its process group, a daemon of a
 * function run by a quarry that was killed with -9) until the group can be removed;
 * gives up after about a second (the next start tries again). */
static void cg_drain(const char *dir)
{
    for (int round = 0; round < 100; round++) {
        bool denied = false;
        (void)cg_kill_all(dir, &denied);
        if (rmdir(dir) == 0 || errno == ENOENT)
            return;
        if (denied || errno == EACCES || errno == EPERM)
            break; /* another user's quarry: not ours to clean */
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "fn: cgroup %s still has tasks\n", dir);
}

/* Drains the groups quarry-PID/<instance> of quarry processes that are gone. */
static void cg_sweep(const char *parent)
{
    DIR *d = opendir(parent);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        int pid;
        if (sscanf(de->d_name, "quarry-%d", &pid) != 1 || pid == (int)getpid() ||
            kill(pid, 0) == 0)
            continue;
        char old[PATH_MAX];
        int n = snprintf(old, sizeof(old), "%s/%s", parent, de->d_name);
        if (n < 0 || (size_t)n >= sizeof(old))
            continue;
        DIR *d2 = opendir(old);
        if (d2) {
            struct dirent *de2;
            while ((de2 = readdir(d2))) {
                char sub[PATH_MAX];
                if (de2->d_type != DT_DIR || de2->d_name[0] == '.')
                    continue;
                n = snprintf(sub, sizeof(sub), "%s/%s", old, de2->d_name);
                if (n > 0 && (size_t)n < sizeof(sub))
                    cg_drain(sub);
            }
            closedir(d2);
        }
        cg_drain(old);
    }
    closedir(d);
}

/* Our group for environments under base (a hierarchy's mount): swept, made, returned
 * (caller frees), or NULL. */
static char *cg_make_root(bool v2, const char *base, const char *ctrl)
{
    char rel[PATH_MAX], parent[PATH_MAX], dir[PATH_MAX];
    if (!self_cgroup(v2, ctrl, rel, sizeof(rel)))
        return NULL;
    int n = snprintf(parent, sizeof(parent), "%s%s", base, rel);
    if (n < 0 || (size_t)n >= sizeof(parent))
        return NULL;
    cg_sweep(parent);
    n = snprintf(dir, sizeof(dir), "%s/quarry-%d", parent, (int)getpid());
    if (n < 0 || (size_t)n >= sizeof(dir))
        return NULL;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return NULL;
    /* v2: children need the controllers enabled in our group's subtree. */
    if (v2 && !write_file(dir, "cgroup.subtree_control", "+memory +pids") &&
        !write_file(dir, "cgroup.subtree_control", "+memory")) {
        rmdir_cgroup(dir);
        return NULL;
    }
    return qr_xstrndup(dir, strlen(dir));
}

void fn_cgroup_init(struct fn_engine *e)
{
    struct stat st;
    bool v2 = stat("/sys/fs/cgroup/cgroup.controllers", &st) == 0;
    e->cg_v2 = v2;
    if (v2) {
        e->cg_root = cg_make_root(true, "/sys/fs/cgroup", NULL);
        return;
    }
    if (stat("/sys/fs/cgroup/memory/memory.limit_in_bytes", &st) == 0)
        e->cg_root = cg_make_root(false, "/sys/fs/cgroup/memory", "memory");
    if (stat("/sys/fs/cgroup/pids", &st) == 0)
        e->cg_pids_root = cg_make_root(false, "/sys/fs/cgroup/pids", "pids");
}

void fn_cgroup_fini(struct fn_engine *e)
{
    if (e->cg_root)
        rmdir_cgroup(e->cg_root);
    if (e->cg_pids_root)
        rmdir_cgroup(e->cg_pids_root);
    free(e->cg_root);
    free(e->cg_pids_root);
    e->cg_root = e->cg_pids_root = NULL;
}

/* An fd on dir/cgroup.procs, or -1. */
static int open_procs(const char *dir)
{
    char path[PATH_MAX];
    int n = snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
    return n > 0 && (size_t)n < sizeof(path) ? open(path, O_WRONLY | O_CLOEXEC) : -1;
}

/* v1: env's group in the pids hierarchy with its limit; an fd on its cgroup.procs for
 * the child to join, or -1 (then the environment has no process limit). */
static int cgroup_make_pids(struct fn_env *env)
{
    struct fn_engine *e = env->e;
    char dir[PATH_MAX], val[32];
    int n = snprintf(dir, sizeof(dir), "%s/%s", e->cg_pids_root, env->instance_id);
    if (n < 0 || (size_t)n >= sizeof(dir) || mkdir(dir, 0755) != 0)
        return -1;
    snprintf(val, sizeof(val), "%u", e->pids_max);
    int fd = write_file(dir, "pids.max", val) ? open_procs(dir) : -1;
    if (fd < 0) {
        rmdir_cgroup(dir);
        return -1;
    }
    env->cg_pids = qr_xstrndup(dir, strlen(dir));
    return fd;
}

/* Creates env's groups with their limits (memory: MemorySize; pids: e->pids_max); fds on
 * their cgroup.procs for the child to join go to fds[0] (memory, -1: the caller falls
 * back to RLIMIT_DATA) and fds[1] (v1 pids, or -1). */
static void cgroup_make(struct fn_env *env, int fds[2])
{
    struct fn_engine *e = env->e;
    char dir[PATH_MAX], val[32];
    fds[0] = fds[1] = -1;
    if (e->cg_pids_root)
        fds[1] = cgroup_make_pids(env);
    if (!e->cg_root)
        return;
    int n = snprintf(dir, sizeof(dir), "%s/%s", e->cg_root, env->instance_id);
    if (n < 0 || (size_t)n >= sizeof(dir) || mkdir(dir, 0755) != 0)
        return;
    snprintf(val, sizeof(val), "%llu", (unsigned long long)env->memory_mb << 20);
    bool ok;
    if (e->cg_v2) {
        ok = write_file(dir, "memory.max", val);
        (void)write_file(dir, "memory.swap.max", "0"); /* absent without swap accounting */
        snprintf(val, sizeof(val), "%u", e->pids_max);
        (void)write_file(dir, "pids.max", val); /* absent when +pids was not delegated */
    } else {
        ok = write_file(dir, "memory.limit_in_bytes", val);
        /* memsw must be >= memory: set after it; absent without swap accounting */
        (void)write_file(dir, "memory.memsw.limit_in_bytes", val);
    }
    int fd = ok ? open_procs(dir) : -1;
    if (fd < 0) {
        rmdir_cgroup(dir);
        return;
    }
    char path[PATH_MAX];
    n = snprintf(path, sizeof(path), "%s/%s", dir,
                 e->cg_v2 ? "memory.peak" : "memory.max_usage_in_bytes");
    env->cg_peak_fd = n > 0 && (size_t)n < sizeof(path) ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    env->cgroup = qr_xstrndup(dir, strlen(dir));
    fds[0] = fd;
}

unsigned fn_env_max_mem_mb(struct fn_env *env)
{
    char buf[64];
    if (env->cg_peak_fd >= 0) {
        ssize_t n = pread(env->cg_peak_fd, buf, sizeof(buf) - 1, 0);
        if (n > 0) {
            buf[n] = '\0';
            return (unsigned)((strtoull(buf, NULL, 10) + (1u << 20) - 1) >> 20);
        }
        return 0;
    }
    if (env->reaped)
        return 0;
    char path[64], st[4096];
    snprintf(path, sizeof(path), "/proc/%d", (int)env->pid);
    if (!read_file(path, "status", st, sizeof(st)))
        return 0;
    const char *p = strstr(st, "VmHWM:");
    return p ? (unsigned)((strtoull(p + 6, NULL, 10) + 1023) / 1024) : 0;
}

bool fn_env_oom(struct fn_env *env)
{
    char buf[1024];
    if (!env->cgroup)
        return false;
    if (env->e->cg_v2) {
        if (!read_file(env->cgroup, "memory.events", buf, sizeof(buf)))
            return false;
        const char *p = strstr(buf, "oom_kill ");
        return p && strtoull(p + 9, NULL, 10) > 0;
    }
    if (read_file(env->cgroup, "memory.oom_control", buf, sizeof(buf))) {
        const char *p = strstr(buf, "oom_kill ");
        if (p)
            return strtoull(p + 9, NULL, 10) > 0;
    }
    /* older kernels: the limit was hit */
    return read_file(env->cgroup, "memory.failcnt", buf, sizeof(buf)) &&
           strtoull(buf, NULL, 10) > 0;
}

/* Kills what is left in *dir and removes it; false while tasks remain. */
static bool cg_release(char **dir)
{
    if (!*dir)
        return true;
    (void)cg_kill_all(*dir, NULL);
    if (rmdir(*dir) != 0 && errno != ENOENT)
        return false;
    free(*dir);
    *dir = NULL;
    return true;
}

bool fn_env_cleanup(struct fn_env *env)
{
    /* Whatever is left in the groups escaped the process group (setsid, daemons) or is
     * still dying: SIGKILL it, every round until rmdir works (a task forking while it is
     * being killed shows up in the next round; the pids limit bounds the rounds). */
    bool mem = cg_release(&env->cgroup), pids = cg_release(&env->cg_pids);
    if (!mem || !pids)
        return false;
    if (env->cg_peak_fd >= 0)
        close(env->cg_peak_fd);
    env->cg_peak_fd = -1;
    if (env->pidfile[0])
        (void)unlink(env->pidfile);
    env->pidfile[0] = '\0';
    return true;
}

/* ---- argv and environment ------------------------------------------------------------ */

struct strv {
    char **v;
    size_t n, cap;
};

static void sv_add(struct strv *s, char *owned)
{
    if (s->n + 2 > s->cap) {
        s->cap = s->cap ? s->cap * 2 : 32;
        s->v = qr_xrealloc(s->v, s->cap * sizeof(*s->v));
    }
    s->v[s->n++] = owned;
    s->v[s->n] = NULL;
}

static void sv_addc(struct strv *s, const char *c)
{
    sv_add(s, qr_xstrndup(c, strlen(c)));
}

static void sv_free(struct strv *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof(*s));
}

/* Sets NAME=value, replacing an earlier NAME. */
static void env_set(struct strv *s, const char *name, const char *value)
{
    size_t nl = strlen(name), vl = strlen(value);
    char *kv = qr_xmalloc(nl + 1 + vl + 1);
    memcpy(kv, name, nl);
    kv[nl] = '=';
    memcpy(kv + nl + 1, value, vl + 1);
    for (size_t i = 0; i < s->n; i++) {
        if (strncmp(s->v[i], name, nl) == 0 && s->v[i][nl] == '=') {
            free(s->v[i]);
            s->v[i] = kv;
            return;
        }
    }
    sv_add(s, kv);
}

/* Copies t with ${task_root} and ${runtime_dir} replaced. */
static char *subst(const char *t, const char *task_root, const char *runtime_dir)
{
    struct qr_buf b;
    qr_buf_init(&b, 64 * 1024);
    while (*t) {
        if (strncmp(t, "${task_root}", 12) == 0) {
            (void)qr_buf_adds(&b, task_root);
            t += 12;
        } else if (strncmp(t, "${runtime_dir}", 14) == 0) {
            (void)qr_buf_adds(&b, runtime_dir ? runtime_dir : "/nonexistent");
            t += 14;
        } else {
            (void)qr_buf_add(&b, t, 1);
            t++;
        }
    }
    if (!b.p)
        (void)qr_buf_add(&b, "", 0);
    size_t len;
    char *out = (char *)qr_buf_take(&b, &len);
    return out ? out : qr_xstrndup("", 0);
}

static void build_env(struct fn_engine *e, struct fn_env *env, const struct fn_runtime *rt,
                      const struct fn_config *cfg, const char *task_root, const char *runtime_dir,
                      struct strv *ev)
{
    char buf[128];
    /* Defaults the user may override (reference §3.1). */
    env_set(ev, "PATH", "/usr/local/bin:/usr/bin/:/bin:/opt/bin");
    env_set(ev, "LANG", "en_US.UTF-8");
    env_set(ev, "TZ", ":UTC");
    if (!e->bwrap) /* unsandboxed, the function's uid has no account and so no home */
        env_set(ev, "HOME", "/tmp");
    env_set(ev, "LD_LIBRARY_PATH",
            "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:"
            "/var/runtime/lib:/var/task:/var/task/lib:/opt/lib");
    for (size_t i = 0; i < rt->n_env; i++) {
        char *kv = subst(rt->env[i], task_root, runtime_dir), *eq = strchr(kv, '=');
        if (eq) {
            *eq = '\0';
            env_set(ev, kv, eq + 1);
        }
        free(kv);
    }
    for (size_t i = 0; i < cfg->n_env; i++)
        if (cfg->env[i].name && cfg->env[i].name[0] && cfg->env[i].value)
            env_set(ev, cfg->env[i].name, cfg->env[i].value);
    /* Reserved: always ours. */
    snprintf(buf, sizeof(buf), "127.0.0.1:%u", (unsigned)env->port);
    env_set(ev, "AWS_LAMBDA_RUNTIME_API", buf);
    env_set(ev, "_HANDLER", cfg->handler ? cfg->handler : "");
    env_set(ev, "LAMBDA_TASK_ROOT", task_root);
    env_set(ev, "LAMBDA_RUNTIME_DIR", runtime_dir ? runtime_dir : "/var/runtime");
    env_set(ev, "AWS_LAMBDA_FUNCTION_NAME", cfg->name);
    env_set(ev, "AWS_LAMBDA_FUNCTION_VERSION", cfg->version);
    snprintf(buf, sizeof(buf), "%u", (unsigned)cfg->memory_mb);
    env_set(ev, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", buf);
    env_set(ev, "AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand");
    env_set(ev, "AWS_LAMBDA_LOG_GROUP_NAME", env->log_group);
    env_set(ev, "AWS_LAMBDA_LOG_STREAM_NAME", env->log_stream);
    if (e->region) {
        env_set(ev, "AWS_REGION", e->region);
        env_set(ev, "AWS_DEFAULT_REGION", e->region);
    }
    if (e->fn_endpoint_url)
        env_set(ev, "AWS_ENDPOINT_URL", e->fn_endpoint_url);
    if (!rt->provided) {
        snprintf(buf, sizeof(buf), "AWS_Lambda_%s", rt->name);
        env_set(ev, "AWS_EXECUTION_ENV", buf);
    }
    if (e->creds && cfg->role) {
        struct creds_session s;
        if (creds_function_session(e->creds, cfg->role, cfg->name, env->born_ms,
                                   e->creds_ttl_s, &s) == QR_OK) {
            env_set(ev, "AWS_ACCESS_KEY_ID", s.akid);
            env_set(ev, "AWS_ACCESS_KEY", s.akid);
            env_set(ev, "AWS_SECRET_ACCESS_KEY", s.secret);
            env_set(ev, "AWS_SESSION_TOKEN", s.token);
            creds_session_wipe(&s);
        } else {
            fprintf(stderr, "fn: no credentials for function %s (role not usable)\n", cfg->name);
        }
    }
}

/* bwrap, run as root, makes the missing parents of a destination 0700 (/var of
 * /var/task, /etc of /etc/ssl), which the function's uid could not cross: make them
 * 0755 first (a --dir of an existing directory changes nothing). */
static void open_parents(struct strv *a, const char *path)
{
    char dir[PATH_MAX];
    int n = snprintf(dir, sizeof(dir), "%s", path);
    if (n <= 0 || (size_t)n >= sizeof(dir))
        return;
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        sv_addc(a, "--perms");
        sv_addc(a, "0755");
        sv_addc(a, "--dir");
        sv_addc(a, dir);
        *p = '/';
    }
}

static void bind_ro(struct strv *a, const char *src, const char *dst, bool try_)
{
    open_parents(a, dst);
    sv_addc(a, try_ ? "--ro-bind-try" : "--ro-bind");
    sv_addc(a, src);
    sv_addc(a, dst);
}

/* System paths: a symlink (merged /usr) is recreated as a symlink, a directory bound. */
static void bind_system(struct strv *a, const char *p)
{
    struct stat st;
    char target[PATH_MAX];
    if (lstat(p, &st) != 0)
        return;
    if (S_ISLNK(st.st_mode)) {
        ssize_t n = readlink(p, target, sizeof(target) - 1);
        if (n <= 0)
            return;
        target[n] = '\0';
        open_parents(a, p);
        sv_addc(a, "--symlink");
        sv_addc(a, target);
        sv_addc(a, p);
        return;
    }
    bind_ro(a, p, p, true);
}

static void add_opt(struct strv *a, const char *opt, const char *val)
{
    sv_addc(a, opt);
    if (val)
        sv_addc(a, val);
}

/*
 * bwrap's options (they reach bwrap through --args, so /proc/1/cmdline of the sandbox
 * shows no host path). bwrap always runs unprivileged and makes a user namespace: as root
 * the child has already become the environment's own uid, which is mapped to itself
 * inside; otherwise quarry's uid is mapped to Lambda's uid and gid. bwrap drops every
 * capability (the new namespace starts with a full set) before it executes the runtime.
 * (Before, bwrap ran as root and the uid drop was a setpriv and an env execution after
 * it: 5-10 ms of every cold start.)
 */
static void build_bwrap(struct fn_engine *e, const struct fn_env *env, const struct fn_runtime *rt,
                        const char *code_dir, struct strv *a)
{
    static const char *const sys[] = {"/usr",
                                      "/bin",
                                      "/sbin",
                                      "/lib",
                                      "/lib64",
                                      "/lib32",
                                      "/etc/ssl",
                                      "/etc/ca-certificates",
                                      "/etc/alternatives",
                                      "/etc/resolv.conf",
                                      "/etc/hosts",
                                      "/etc/nsswitch.conf",
                                      "/etc/ld.so.cache",
                                      "/etc/ld.so.conf",
                                      "/etc/ld.so.conf.d",
                                      "/etc/localtime",
                                      "/etc/mime.types"};
    char num[32];
    static const char *const base[] = {"--die-with-parent", "--unshare-pid",
                                       "--unshare-ipc",     "--unshare-uts",
                                       "--unshare-cgroup-try", "--new-session"};
    for (size_t i = 0; i < sizeof(base) / sizeof(*base); i++)
        sv_addc(a, base[i]);
    add_opt(a, "--unshare-user", NULL);
    snprintf(num, sizeof(num), "%u", e->root ? env->uid : FN_NS_UID);
    add_opt(a, "--uid", num);
    snprintf(num, sizeof(num), "%u", e->root ? env->uid : FN_NS_GID);
    add_opt(a, "--gid", num);
    add_opt(a, "--cap-drop", "ALL");
    for (size_t i = 0; i < sizeof(sys) / sizeof(*sys); i++)
        bind_system(a, sys[i]);
    for (size_t i = 0; i < rt->n_binds; i++)
        bind_ro(a, rt->binds[i], rt->binds[i], true);
    if (e->runtimes_dir) {
        char nm[PATH_MAX];
        bind_ro(a, e->runtimes_dir, "/var/runtime", false);
        /* ES module imports of the SDK resolve through a node_modules on the code's parent
         * chain (/var/task -> /), see link_node_modules in engine.c. */
        if (snprintf(nm, sizeof(nm), "%s/node/node_modules", e->runtimes_dir) < (int)sizeof(nm))
            bind_ro(a, nm, "/node_modules", true);
    }
    bind_ro(a, code_dir, "/var/task", false);
    if (e->etc_dir[0]) {
        char f[PATH_MAX + 16];
        snprintf(f, sizeof(f), "%s/passwd", e->etc_dir);
        bind_ro(a, f, "/etc/passwd", false);
        snprintf(f, sizeof(f), "%s/group", e->etc_dir);
        bind_ro(a, f, "/etc/group", false);
    }
    snprintf(num, sizeof(num), "%llu", FN_TMP_BYTES);
    add_opt(a, "--size", num);
    add_opt(a, "--perms", "1777");
    add_opt(a, "--tmpfs", "/tmp");
    add_opt(a, "--proc", "/proc");
    add_opt(a, "--dev", "/dev");
    add_opt(a, "--chdir", "/var/task");
    /* the sandbox's own root (a tmpfs: /etc, /var and the other directories bwrap made)
     * read-only too: in a user namespace the function's uid owns it; /tmp stays writable */
    add_opt(a, "--remount-ro", "/");
    add_opt(a, "--seccomp", "4"); /* the child moves the filter's fd there */
}

/* A memfd holding args NUL-separated (bwrap's --args), at fd >= 10 so that the child can
 * move it to 3 without clobbering anything it still needs; -1 on error. */
static int high_fd(int fd)
{
    if (fd < 0 || fd >= 10)
        return fd;
    int h = fcntl(fd, F_DUPFD_CLOEXEC, 10);
    close(fd);
    return h;
}

static int args_memfd(const struct strv *a)
{
    int fd = memfd_create("args", MFD_CLOEXEC);
    if (fd < 0)
        return -1;
    struct qr_buf b;
    qr_buf_init(&b, 1024 * 1024);
    bool ok = true;
    for (size_t i = 0; i < a->n && ok; i++)
        ok = qr_buf_add(&b, a->v[i], strlen(a->v[i]) + 1) == QR_OK;
    ok = ok && b.len > 0 && write(fd, b.p, b.len) == (ssize_t)b.len &&
         lseek(fd, 0, SEEK_SET) == 0;
    qr_buf_dispose(&b);
    if (!ok) {
        close(fd);
        return -1;
    }
    return high_fd(fd);
}

/* One of the sandbox's /etc/passwd (i == 0) or /etc/group: root, the function's user
 * (sbx_user1051 as on Lambda, home /tmp: SDKs look for ~/.aws) under each uid it may
 * have, and nobody; none of the host's accounts. */
static bool sandbox_file(struct fn_engine *e, int i, const char *path)
{
    unsigned first = e->root ? FN_UID_FIRST : FN_NS_UID, n_ids = e->root ? FN_UID_SLOTS : 1;
    struct qr_buf b;
    char line[128];
    qr_buf_init(&b, 64 * 1024);
    bool ok = qr_buf_adds(&b, i == 0 ? "root:x:0:0:root:/root:/sbin/nologin\n"
                                     : "root:x:0:\n") == QR_OK;
    for (unsigned k = 0; k < n_ids && ok; k++) {
        unsigned uid = first + k, gid = e->root ? uid : FN_NS_GID;
        if (i == 0)
            snprintf(line, sizeof(line), "sbx_user1051:x:%u:%u::/tmp:/sbin/nologin\n", uid, gid);
        else
            snprintf(line, sizeof(line), "sbx_user1051:x:%u:\n", gid);
        ok = qr_buf_adds(&b, line) == QR_OK;
    }
    ok = ok && qr_buf_adds(&b, i == 0 ? "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
                                      : "nogroup:x:65534:\n") == QR_OK;
    int fd = ok ? open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644) : -1;
    ok = fd >= 0 && fchmod(fd, 0644) == 0 && write(fd, b.p, b.len) == (ssize_t)b.len;
    if (fd >= 0)
        close(fd);
    qr_buf_dispose(&b);
    return ok;
}

void fn_sandbox_files(struct fn_engine *e)
{
    char path[PATH_MAX + 16];
    int n = snprintf(e->etc_dir, sizeof(e->etc_dir), "%s/fn/etc", e->data_dir);
    /* 0755 inside 0700 DATA: the function's uid reaches it only where the child exposes
     * it (bwrap, running as that uid, binds the files from there) */
    if (n < 0 || (size_t)n >= sizeof(e->etc_dir) ||
        (mkdir(e->etc_dir, 0755) != 0 && errno != EEXIST) || chmod(e->etc_dir, 0755) != 0)
        goto fail;
    const char *names[] = {"passwd", "group"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof(path), "%s/%s", e->etc_dir, names[i]);
        if (!sandbox_file(e, i, path))
            goto fail;
    }
    return;
fail:
    fprintf(stderr, "fn: cannot write the sandbox's passwd and group files in %s\n", e->etc_dir);
    e->etc_dir[0] = '\0';
}

bool fn_userns_usable(void)
{
    pid_t pid = fork();
    if (pid == 0) { /* raw calls: a forked child of a threaded process, as in child() */
        unsigned id = FN_UID_FIRST;
        if (syscall(SYS_setgroups, 0, NULL) != 0 || syscall(SYS_setresgid, id, id, id) != 0 ||
            syscall(SYS_setresuid, id, id, id) != 0 || unshare(CLONE_NEWUSER) != 0)
            _exit(1);
        _exit(0);
    }
    int st = 0;
    if (pid < 0)
        return false;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* ---- fork/exec ----------------------------------------------------------------------- */

/* Async-signal-safe decimal formatting for the child. */
static size_t fmt_pid(char *buf, pid_t pid)
{
    char tmp[16];
    size_t n = 0, o = 0;
    unsigned v = (unsigned)pid;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        buf[o++] = tmp[--n];
    return o;
}

static void child_fail(const char *what)
{
    /* stderr is the log pipe by now: the message shows up in the function's log */
    static const char pre[] = "quarry: cannot start the runtime: ";
    ssize_t r = write(2, pre, sizeof(pre) - 1);
    r = write(2, what, strlen(what));
    r = write(2, "\n", 1);
    (void)r;
    _exit(127);
}

/*
 * As root, the function's uid must still reach its code, quarry's runtimes, the
 * interpreter and (sandboxed) the sandbox's passwd and group, though DATA is 0700 and an
 * interpreter may live under /root; sandboxed, bwrap runs as that uid and binds them by
 * path. The child gets a mount namespace of its own in which the top-most directory
 * others cannot cross on each such path is covered by an empty tmpfs holding only that
 * path, bound read-only from an fd opened beforehand. So the function (and bwrap) sees
 * its own code under DATA and nothing else of it.
 */
enum expose_kind { EXPOSE_TMPFS, EXPOSE_MKDIR, EXPOSE_BIND };

#define EXPOSE_MAX_BINDS 32

struct expose_op {
    enum expose_kind kind;
    char path[PATH_MAX];
};

struct exposures {
    struct expose_op *v;
    size_t n, cap;
    bool tmp; /* a private /tmp first (FN_TMP_BYTES): instances have their own uids, and
                 one could not replace a file another left in a shared /tmp */
};

static struct expose_op *expose_add(struct exposures *x, enum expose_kind k, const char *path,
                                    size_t len)
{
    if (x->n == x->cap) {
        x->cap = x->cap ? x->cap * 2 : 16;
        x->v = qr_xrealloc(x->v, x->cap * sizeof(*x->v));
    }
    struct expose_op *op = &x->v[x->n++];
    op->kind = k;
    memcpy(op->path, path, len);
    op->path[len] = '\0';
    return op;
}

/* Length of the top-most ancestor of p that others cannot cross, or 0 if none. */
static size_t closed_prefix(const char *p)
{
    char dir[PATH_MAX];
    size_t n = strlen(p);
    if (n >= sizeof(dir))
        return 0;
    memcpy(dir, p, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (dir[i] != '/' && dir[i] != '\0')
            continue;
        char c = dir[i];
        dir[i] = '\0';
        struct stat st;
        if (stat(dir, &st) == 0 && !(st.st_mode & S_IXOTH))
            return i;
        dir[i] = c;
    }
    return 0;
}

static void expose(struct exposures *x, const char *p)
{
    size_t top = closed_prefix(p), n = strlen(p);
    if (!top || n >= PATH_MAX)
        return;
    bool covered = false;
    for (size_t i = 0; i < x->n; i++)
        if (x->v[i].kind == EXPOSE_TMPFS && strlen(x->v[i].path) == top &&
            strncmp(x->v[i].path, p, top) == 0)
            covered = true;
    size_t binds = 0;
    for (size_t i = 0; i < x->n; i++)
        binds += x->v[i].kind == EXPOSE_BIND;
    if (binds >= EXPOSE_MAX_BINDS)
        return;
    if (!covered)
        expose_add(x, EXPOSE_TMPFS, p, top);
    for (size_t i = top + 1; i <= n; i++)
        if (p[i] == '/' || p[i] == '\0')
            expose_add(x, EXPOSE_MKDIR, p, i);
    expose_add(x, EXPOSE_BIND, p, n);
}

static void exposures_free(struct exposures *x)
{
    free(x->v);
    memset(x, 0, sizeof(*x));
}

/* In the child's fresh /tmp: the directories down to a path exposed under it. */
static void child_tmp_parents(const char *path)
{
    char dir[PATH_MAX];
    size_t n = strlen(path);
    if (strncmp(path, "/tmp/", 5) != 0 || n >= sizeof(dir))
        return;
    memcpy(dir, path, n + 1);
    for (size_t i = 5; i <= n; i++) {
        if (dir[i] != '/' && dir[i] != '\0')
            continue;
        char c = dir[i];
        dir[i] = '\0';
        if (mkdir(dir, 0755) != 0 && errno != EEXIST)
            child_fail("cannot make a path under the private /tmp");
        dir[i] = c;
    }
}

static void child_expose(const struct exposures *x)
{
    if (!x || (x->n == 0 && !x->tmp))
        return;
    int fds[EXPOSE_MAX_BINDS];
    size_t nb = 0;
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        child_fail("cannot make a mount namespace");
    /* opened in the new namespace (a bind's source must be in the caller's), before a
     * tmpfs hides them; the child's own stack: vfork shares the parent's memory */
    for (size_t i = 0; i < x->n; i++)
        if (x->v[i].kind == EXPOSE_BIND && (fds[nb++] = open(x->v[i].path, O_PATH | O_CLOEXEC)) < 0)
            child_fail("cannot open a path to expose");
    if (x->tmp) {
        char opts[64] = "mode=1777,size=";
        size_t l = strlen(opts);
        opts[l + fmt_pid(opts + l, (pid_t)(FN_TMP_BYTES >> 20))] = '\0';
        memcpy(opts + strlen(opts), "m", 2);
        if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, opts) != 0)
            child_fail("cannot mount a private /tmp");
        for (size_t i = 0; i < x->n; i++)
            if (x->v[i].kind == EXPOSE_TMPFS)
                child_tmp_parents(x->v[i].path);
    }
    nb = 0;
    for (size_t i = 0; i < x->n; i++) {
        const struct expose_op *op = &x->v[i];
        char src[32];
        bool ok = true;
        switch (op->kind) {
        case EXPOSE_TMPFS:
            ok = mount("tmpfs", op->path, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64k") == 0;
            break;
        case EXPOSE_MKDIR:
            ok = mkdir(op->path, 0755) == 0 || errno == EEXIST;
            break;
        case EXPOSE_BIND:
            memcpy(src, "/proc/self/fd/", 14);
            src[14 + fmt_pid(src + 14, fds[nb++])] = '\0';
            ok = mount(src, op->path, NULL, MS_BIND | MS_REC, NULL) == 0 &&
                 mount(NULL, op->path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID,
                       NULL) == 0;
            break;
        }
        if (!ok) {
            char msg[96] = "cannot expose the code and runtime to the function's user: errno ";
            size_t l = strlen(msg);
            msg[l + fmt_pid(msg + l, errno)] = '\0';
            child_fail(msg);
        }
    }
}

/* What the child needs; everything is prepared before vfork. */
struct child_args {
    const struct exposures *expose; /* as root, or NULL */
    pid_t parent;
    int devnull, out_w, err_w;
    int cg_fd[2];              /* cgroup.procs to join (memory, v1 pids), or -1 */
    int netns_fd;              /* network namespace to join, or -1 */
    int args_fd, secc_fd;      /* sandbox: bwrap's --args and --seccomp, moved to 3 and 4 */
    const char *cwd;
    const struct rlimit *data; /* RLIMIT_DATA, or NULL */
    bool drop;                 /* as root: become uid (and gid) before exec */
    unsigned uid;
    const struct sock_fprog *filter; /* unsandboxed: install it */
    char *const *argv, *const *envp;
};

/* As root: an empty bounding set, no groups, the environment's uid and gid (sandboxed,
 * before bwrap: it runs unprivileged). Always no_new_privs; unsandboxed, the seccomp
 * filter a sandbox would get from bwrap. Raw system calls: glibc's setuid would signal the
 * parent's threads (vfork shares its memory, so glibc believes it is the many-threaded
 * parent). */
static void child_confine(const struct child_args *c)
{
    /* an empty bounding set: nothing exec'd later can gain a capability */
    for (int cap = 0; c->drop && cap < 64; cap++)
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno == EINVAL)
            break; /* past the kernel's last capability */
    if (c->drop &&
        (syscall(SYS_setgroups, 0, NULL) != 0 ||
         syscall(SYS_setresgid, c->uid, c->uid, c->uid) != 0 ||
         syscall(SYS_setresuid, c->uid, c->uid, c->uid) != 0))
        child_fail("cannot drop to the function user");
    /* a change of credentials clears the parent-death signal: set it again */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != c->parent)
        _exit(127);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        child_fail("cannot set no_new_privs");
    if (c->filter && prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, c->filter) != 0)
        child_fail("cannot install the seccomp filter");
}

static void child_fds(const struct child_args *c)
{
    if (dup2(c->devnull, 0) < 0 || dup2(c->out_w, 1) < 0 || dup2(c->err_w, 2) < 0)
        _exit(127);
    unsigned first = 3;
    if (c->args_fd >= 0) { /* both >= 10: dup2 to 3 and 4 clobbers neither */
        if (dup2(c->args_fd, 3) < 0 || dup2(c->secc_fd, 4) < 0)
            _exit(127);
        first = 5;
    }
    if (syscall(SYS_close_range, first, ~0u, 0u) != 0) {
        for (int fd = (int)first; fd < 1024; fd++)
            (void)close(fd);
    }
}

__attribute__((noreturn)) static void child(const struct child_args *c)
{
    struct sigaction sa;
    sigset_t none;
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != c->parent)
        _exit(127);
    (void)setsid();
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    for (int s = 1; s < 32; s++)
        if (s != SIGKILL && s != SIGSTOP)
            (void)sigaction(s, &sa, NULL); /* ignored dispositions survive exec */
    sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, NULL);
    for (int i = 0; i < 2; i++) {
        if (c->cg_fd[i] >= 0) {
            char buf[16];
            size_t n = fmt_pid(buf, getpid());
            if (write(c->cg_fd[i], buf, n) != (ssize_t)n)
                _exit(127);
        }
    }
    if (c->netns_fd >= 0 && setns(c->netns_fd, CLONE_NEWNET) != 0)
        _exit(127);
    (void)umask(022); /* quarry's own is 077; a function's files are its own business */
    child_expose(c->expose);
    child_fds(c);
    if (chdir(c->cwd) != 0)
        child_fail("chdir to the code directory failed");
    struct rlimit core = {0, 0};
    (void)setrlimit(RLIMIT_CORE, &core);
    if (c->data && setrlimit(RLIMIT_DATA, c->data) != 0)
        child_fail("setrlimit failed");
    child_confine(c);
    execve(c->argv[0], c->argv, c->envp);
    child_fail(errno == ENOENT ? "no such program" : "exec failed");
    _exit(127); /* not reached */
}

/*
 * vfork: the child borrows our address space until execve instead of copying the page
 * tables of a process with dozens of threads and large mappings. child() only makes
 * system calls and ends in execve or _exit, which is all a vfork child may do; this frame
 * holds nothing the parent needs afterwards. (The child joins its cgroups before exec,
 * so every process of the instance is charged; that write costs ~15 ms with cgroup v1
 * here, most of a C function's cold start.)
 */
static pid_t start_child(const struct child_args *c)
{
    pid_t pid = vfork();
    if (pid == 0)
        child(c);
    return pid;
}

/*
 * Sandboxed, LD_LIBRARY_PATH (Lambda's, naming /var/task and /var/runtime) is for the
 * runtime only: with it, bwrap's dynamic loader would look for bwrap's libraries in
 * those directories of the host (outside the sandbox, before the seccomp filter), and a
 * library found there would run as the function's uid before its confinement. So it
 * leaves the environment bwrap starts with and reaches bwrap as --setenv in its options:
 * bwrap sets it once its own libraries are loaded, and the runtime inherits it.
 */
static void llp_to_opts(struct strv *envp, struct strv *opts)
{
    static const char llp[] = "LD_LIBRARY_PATH=";
    for (size_t i = 0; i < envp->n; i++) {
        if (strncmp(envp->v[i], llp, sizeof(llp) - 1) != 0)
            continue;
        sv_addc(opts, "--setenv");
        sv_addc(opts, "LD_LIBRARY_PATH");
        sv_addc(opts, envp->v[i] + sizeof(llp) - 1);
        explicit_bzero(envp->v[i], strlen(envp->v[i]));
        free(envp->v[i]);
        memmove(&envp->v[i], &envp->v[i + 1], (envp->n - i) * sizeof(*envp->v)); /* and NULL */
        envp->n--;
        return;
    }
}

/* The runtime's argv and environment. Sandboxed: bwrap --args 3 -- COMMAND, the options
 * (host paths: the code directory's name is the code's hash) in args_fd. */
static bool build_command(struct fn_engine *e, struct fn_env *env, const struct fn_runtime *rt,
                          const struct fn_config *cfg, const char *code_dir,
                          struct child_args *c, struct strv *argv, struct strv *envp)
{
    bool sandbox = e->bwrap != NULL;
    const char *task_root = sandbox ? "/var/task" : code_dir;
    const char *runtime_dir = sandbox ? "/var/runtime" : e->runtimes_dir;
    build_env(e, env, rt, cfg, task_root, runtime_dir, envp);
    if (sandbox) {
        struct strv opts = {0};
        char path[64];
        build_bwrap(e, env, rt, code_dir, &opts);
        llp_to_opts(envp, &opts);
        snprintf(path, sizeof(path), "/proc/self/fd/%d", e->seccomp_fd);
        c->args_fd = args_memfd(&opts);
        /* a file of its own: bwrap reads it to the end, and a shared offset would leave
         * the next sandbox an empty filter */
        c->secc_fd = high_fd(open(path, O_RDONLY | O_CLOEXEC));
        sv_free(&opts);
        sv_addc(argv, e->bwrap);
        sv_addc(argv, "--args");
        sv_addc(argv, "3");
        sv_addc(argv, "--");
        if (c->args_fd < 0 || c->secc_fd < 0)
            return false;
    }
    for (size_t i = 0; i < rt->argc; i++)
        sv_add(argv, subst(rt->argv[i], task_root, runtime_dir));
    return true;
}

enum fn_spawn_err fn_spawn(struct fn_engine *e, struct fn_env *env, const struct fn_runtime *rt,
                           const struct fn_config *cfg)
{
    struct strv argv = {0}, envp = {0};
    enum fn_spawn_err ret = FN_SPAWN_FAILED;
    int out[2] = {-1, -1}, err[2] = {-1, -1};
    char code_dir[PATH_MAX];
    struct exposures exp = {0};
    struct child_args c = {.parent = getpid(), .devnull = -1, .cg_fd = {-1, -1},
                           .netns_fd = env->netns_fd, .args_fd = -1, .secc_fd = -1};
    struct sock_fprog prog = {.len = (unsigned short)(e->seccomp_len / sizeof(struct sock_filter)),
                              .filter = (struct sock_filter *)e->seccomp_bpf};

    if (!cfg->code_dir || !realpath(cfg->code_dir, code_dir))
        return rt->provided ? FN_SPAWN_NO_BOOTSTRAP : FN_SPAWN_FAILED;
    if (rt->provided) {
        char bs[PATH_MAX];
        struct stat st;
        int n = snprintf(bs, sizeof(bs), "%s/bootstrap", code_dir);
        if (n < 0 || (size_t)n >= sizeof(bs) || stat(bs, &st) != 0 || !S_ISREG(st.st_mode) ||
            (st.st_mode & 0111) == 0)
            return FN_SPAWN_NO_BOOTSTRAP;
    }
    if (!build_command(e, env, rt, cfg, code_dir, &c, &argv, &envp))
        goto out;
    /* Only our ends are non-blocking: a function writing faster than the loop reads must
     * wait, not lose output to EAGAIN. */
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0 ||
        fcntl(out[0], F_SETFL, O_NONBLOCK) != 0 || fcntl(err[0], F_SETFL, O_NONBLOCK) != 0)
        goto out;
    c.devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (c.devnull < 0)
        goto out;
    cgroup_make(env, c.cg_fd);
    struct rlimit data;
    if (c.cg_fd[0] < 0) {
        data.rlim_cur = data.rlim_max = ((rlim_t)env->memory_mb + RLIMIT_HEADROOM_MB) << 20;
        c.data = &data;
    }
    c.out_w = out[1];
    c.err_w = err[1];
    c.cwd = e->bwrap ? "/" : code_dir;
    c.drop = e->root;
    c.uid = env->uid;
    c.filter = e->seccomp_bpf && !e->bwrap ? &prog : NULL; /* sandboxed, bwrap loads it */
    if (e->root) {
        /* what the function's uid must reach (bwrap binds it, or the runtime reads it
         * directly) though DATA is 0700 and an interpreter may live under /root */
        expose(&exp, code_dir);
        if (e->runtimes_dir)
            expose(&exp, e->runtimes_dir);
        for (size_t i = 0; i < rt->n_binds; i++)
            expose(&exp, rt->binds[i]);
        if (e->bwrap && e->etc_dir[0])
            expose(&exp, e->etc_dir);
        exp.tmp = !e->bwrap; /* bwrap makes the sandbox's own */
        c.expose = &exp;
    }
    c.argv = argv.v;
    c.envp = envp.v;
    pid_t pid = start_child(&c);
    if (pid < 0)
        goto out;
    env->pid = pid;
    env->start_ticks = proc_start_ticks(pid);
    write_pidfile(env);
    close(out[1]);
    close(err[1]);
    out[1] = err[1] = -1;
    /* h2o reads the pipes (DONT_READ would only notify, and the loop would spin) */
    env->pipe[0] = h2o_evloop_socket_create(e->loop, out[0], 0);
    env->pipe[1] = h2o_evloop_socket_create(e->loop, err[0], 0);
    out[0] = err[0] = -1;
    ret = FN_SPAWN_OK;
out:
    for (int i = 0; i < 2; i++) {
        if (out[i] >= 0)
            close(out[i]);
        if (err[i] >= 0)
            close(err[i]);
        if (c.cg_fd[i] >= 0)
            close(c.cg_fd[i]);
    }
    if (c.devnull >= 0)
        close(c.devnull);
    if (c.args_fd >= 0)
        close(c.args_fd);
    if (c.secc_fd >= 0)
        close(c.secc_fd);
    exposures_free(&exp);
    sv_free(&argv);
    for (size_t i = 0; i < envp.n; i++) /* secrets: wipe before free */
        explicit_bzero(envp.v[i], strlen(envp.v[i]));
    sv_free(&envp);
    return ret;
}
