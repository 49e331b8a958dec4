/*
 * engine.c - the functions engine: its thread and loop, the invocation queue, execution
 * environments (warm reuse, limits, retirement, reaping), timeouts, results and logs.
 *
 * fn_invoke copies an invocation into one allocation and sends it to the engine thread
 * through h2o's multithread queue (which wakes the loop only when the queue was empty).
 * There it goes to an environment of the same (name, version, revision) that has no
 * invocation, else to a new one if the limits allow, else it is throttled at once (AWS
 * throttles synchronous invokes rather than queueing them). An environment whose
 * revision is older is killed when it is found idle.
 *
 * Environment lifetime: spawned (ENV_INIT, with the invocation that caused it) -> first
 * GET /next (ENV_READY; init duration measured) -> invocations -> killed (timeout,
 * retirement, idle reaping, init error, engine stop) or exited on its own -> ENV_DEAD on
 * e->zombies until waitpid(WNOHANG) reaps it, then freed. Nothing on the loop blocks:
 * children are reaped from timers (fast 10 ms while something is dying, else 1 s), and
 * a child's exit is first noticed as EOF on both of its output pipes.
 *
 * Runtime API callbacks (fn_on_*) never tear an environment down themselves, since the
 * connection that called them is still on the stack: they mark it doomed and the fast
 * timer does it.
 */
#include "fn/fn_int.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "logs/logs.h"
#include "util/ckd.h"

#define QUEUE_MAX_DEFAULT  65536u
#define IDLE_TIMEOUT_DEF_S 300u
#define FAST_TICK_MS       10u
#define TICK_MS            1000u
#define STOP_REAP_MS       3000
#define CGROUP_WAIT_MS     5000

/* ---- time ---------------------------------------------------------------------------- */

uint64_t fn_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int64_t fn_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void iso8601(int64_t ms, char out[64])
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

/* ---- timers -------------------------------------------------------------------------- */

/* h2o 2.2 timeouts have one duration each: keep one per distinct duration in use. */
static h2o_timeout_t *timeout_for(struct fn_engine *e, uint64_t ms)
{
    for (h2o_linklist_t *l = e->timeouts.next; l != &e->timeouts; l = l->next) {
        struct fn_timeout *t = H2O_STRUCT_FROM_MEMBER(struct fn_timeout, link, l);
        if (t->t.timeout == ms)
            return &t->t;
    }
    struct fn_timeout *t = qr_xmalloc(sizeof(*t));
    memset(t, 0, sizeof(*t));
    h2o_timeout_init(e->loop, &t->t, ms);
    h2o_linklist_insert(&e->timeouts, &t->link);
    return &t->t;
}

void fn_schedule_fast(struct fn_engine *e)
{
    if (!h2o_timeout_is_linked(&e->fast_entry))
        h2o_timeout_link(e->loop, &e->fast, &e->fast_entry);
}

/* ---- logs ---------------------------------------------------------------------------- */

/* The one place a log event leaves the engine for the log store. */
static void log_persist(struct fn_env *env, int64_t ts_ms, const char *msg, size_t len)
{
    struct fn_engine *e = env->e;
    if (!e->logs)
        return;
    if (len > LOGS_MAX_MESSAGE)
        len = LOGS_MAX_MESSAGE;
    /* Dropping is the log store's policy when it is full; nothing to do about an error. */
    enum qr_err err = logs_append(e->logs, qr_slice_cstr(env->log_group),
                                  qr_slice_cstr(env->log_stream), ts_ms, qr_slice(msg, len));
    (void)err;
}

static void tail_add(struct fn_env *env, const char *p, size_t n)
{
    if (n >= FN_TAIL_MAX) {
        memcpy(env->tail, p + n - FN_TAIL_MAX, FN_TAIL_MAX);
        env->tail_start = 0;
        env->tail_len = FN_TAIL_MAX;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        size_t at = (env->tail_start + env->tail_len) % FN_TAIL_MAX;
        env->tail[at] = (uint8_t)p[i];
        if (env->tail_len < FN_TAIL_MAX)
            env->tail_len++;
        else
            env->tail_start = (env->tail_start + 1) % FN_TAIL_MAX;
    }
}

void fn_env_log(struct fn_env *env, int64_t ts_ms, const char *msg, size_t len)
{
    tail_add(env, msg, len);
    log_persist(env, ts_ms, msg, len);
}

/*
 * Fair logs: the log store's queue is shared by every function, and when it is full its
 * oldest events go. A function's own output is metered per function name (a token
 * bucket of FN_LOG_RATE bytes/s, FN_LOG_BURST deep), so one noisy function cannot fill
 * the queue and push out other functions' lines. What is over the budget is dropped
 * here, counted, and reported in the function's own log (fn_log_report_drops) once the
 * budget allows or before the invocation's END line. Platform lines (START, END, REPORT,
 * INIT_REPORT, timeouts, exits) never go through the budget. LogType Tail gets every line.
 */
#define FN_LOG_RATE  (1024.0 * 1024.0)  /* bytes per second, per function */
#define FN_LOG_BURST (4.0 * 1024 * 1024) /* a quarter of the log store's default queue */

static void log_report_drops(struct fn_env *env, bool now)
{
    struct fn_name *n = env->fname;
    char buf[256];
    uint64_t t = fn_now_us();
    /* at most one report a second while lines flow, and always before END */
    if (!n->log_dropped || (!now && t - n->log_report_us < 1000000))
        return;
    n->log_report_us = t;
    int k = snprintf(buf, sizeof(buf),
                     "quarry: %llu log lines (%llu bytes) of this function were dropped: over its "
                     "log budget of %.0f KiB/s\n",
                     (unsigned long long)n->log_dropped, (unsigned long long)n->log_dropped_bytes,
                     FN_LOG_RATE / 1024.0);
    n->log_dropped = n->log_dropped_bytes = 0;
    if (k > 0)
        fn_env_log(env, fn_now_ms(), buf, (size_t)k < sizeof(buf) ? (size_t)k : sizeof(buf) - 1);
}

/* A line of the function's own output: into the tail, and into the log store within the
 * function's budget. */
static void env_output_log(struct fn_env *env, int64_t ts_ms, const char *msg, size_t len)
{
    struct fn_name *n = env->fname;
    uint64_t now = fn_now_us();
    n->log_tokens += (double)(now - n->log_refill_us) * FN_LOG_RATE / 1e6;
    if (n->log_tokens > FN_LOG_BURST)
        n->log_tokens = FN_LOG_BURST;
    n->log_refill_us = now;
    if (n->log_tokens < (double)len) {
        tail_add(env, msg, len);
        n->log_dropped++;
        n->log_dropped_bytes += len;
        return;
    }
    n->log_tokens -= (double)len;
    log_report_drops(env, false);
    fn_env_log(env, ts_ms, msg, len);
}

static void env_logf(struct fn_env *env, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void env_logf(struct fn_env *env, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(buf))
        n = sizeof(buf) - 1;
    fn_env_log(env, fn_now_ms(), buf, (size_t)n);
}

/* Splits child output into lines (each logged with its newline); a line longer than
 * FN_LINE_MAX is cut into events of that size. */
static void feed_output(struct fn_env *env, int which, const char *p, size_t n)
{
    struct qr_buf *lb = &env->line[which];
    int64_t now = fn_now_ms();
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) + 1 : n;
        if (lb->len == 0 && nl && take <= FN_LINE_MAX) {
            env_output_log(env, now, p, take);
        } else {
            size_t room = lb->max - lb->len, k = take < room ? take : room;
            (void)qr_buf_add(lb, p, k); /* fits: k <= room */
            if (k < take) {
                take = k;
                nl = NULL;
            }
            if (nl || lb->len == lb->max) {
                env_output_log(env, now, (const char *)lb->p, lb->len);
                qr_buf_reset(lb);
            }
        }
        p += take;
        n -= take;
    }
}

static void flush_partial(struct fn_env *env)
{
    for (int i = 0; i < 2; i++) {
        struct qr_buf *lb = &env->line[i];
        if (lb->len) {
            (void)qr_buf_add(lb, "\n", lb->len < lb->max ? 1 : 0);
            env_output_log(env, fn_now_ms(), (const char *)lb->p, lb->len);
            qr_buf_reset(lb);
        }
    }
}

/* Reads what the child wrote so far, so that its lines precede END in the log: output
 * and the Runtime API request race on different fds. One poll asks both pipes first:
 * most invocations print nothing, and this runs once per invocation. */
static void drain_pipes(struct fn_env *env)
{
    char buf[16384];
    struct pollfd pf[2];
    for (int i = 0; i < 2; i++) {
        pf[i].fd = env->pipe[i] ? h2o_socket_get_fd(env->pipe[i]) : -1;
        pf[i].events = POLLIN;
        pf[i].revents = 0;
    }
    int ready = poll(pf, 2, 0);
    if (ready == 0)
        return;
    for (int i = 0; i < 2; i++) {
        if (!env->pipe[i] || (ready > 0 && pf[i].revents == 0))
            continue; /* ready < 0 (EINTR): read both, as without the poll */
        int fd = pf[i].fd;
        for (int rounds = 0; rounds < 64; rounds++) {
            ssize_t r = read(fd, buf, sizeof(buf));
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break; /* EAGAIN, or EOF: the pipe's read callback sees it too */
            feed_output(env, i, buf, (size_t)r);
        }
    }
}

/* ---- names --------------------------------------------------------------------------- */

static struct fn_name *name_get(struct fn_engine *e, const char *name, bool create)
{
    for (h2o_linklist_t *l = e->names.next; l != &e->names; l = l->next) {
        struct fn_name *n = H2O_STRUCT_FROM_MEMBER(struct fn_name, link, l);
        if (strcmp(n->name, name) == 0)
            return n;
    }
    if (!create)
        return NULL;
    struct fn_name *n = qr_xmalloc(sizeof(*n));
    memset(n, 0, sizeof(*n));
    n->name = qr_xstrndup(name, strlen(name));
    n->log_tokens = FN_LOG_BURST;
    n->log_refill_us = fn_now_us();
    h2o_linklist_init_anchor(&n->idle);
    h2o_linklist_insert(&e->names, &n->link);
    return n;
}

/* ---- finishing invocations ----------------------------------------------------------- */

static void env_make_idle(struct fn_env *env)
{
    env->idle_since_ms = fn_now_ms();
    if (!h2o_linklist_is_linked(&env->idle_link))
        h2o_linklist_insert(env->fname->idle.next, &env->idle_link); /* front: MRU */
}

/*
 * Ends inv: platform END/REPORT lines when it was delivered, the callback, then frees
 * it. payload is owned and freed after the callback. report_status is NULL or
 * "timeout"/"error" for REPORT.
 */
static void inv_finish(struct fn_engine *e, struct fn_inv *inv, enum fn_status st,
                       const char *etype, uint8_t *payload, size_t len, const char *report_status)
{
    struct fn_env *env = inv->env;
    struct fn_result res;
    memset(&res, 0, sizeof(res));
    res.status = st;
    res.error_type = etype;
    res.payload = payload;
    res.payload_len = len;
    memcpy(res.request_id, inv->request_id, sizeof(res.request_id));

    if (env && inv->delivered) {
        uint64_t dur = fn_now_us() - inv->delivered_us;
        unsigned long long billed = (dur + 999) / 1000;
        char init[64] = "", status[64] = "";
        res.duration_us = dur;
        if (!env->reported_init) {
            res.init_us = env->init_us;
            snprintf(init, sizeof(init), "Init Duration: %.2f ms\t", (double)env->init_us / 1000.0);
            env->reported_init = true;
        }
        if (report_status)
            snprintf(status, sizeof(status), "Status: %s", report_status);
        flush_partial(env);
        log_report_drops(env, true);
        env_logf(env, "END RequestId: %s\n", inv->request_id);
        env_logf(env,
                 "REPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %llu ms\t"
                 "Memory Size: %u MB\tMax Memory Used: %u MB\t%s%s\n",
                 inv->request_id, (double)dur / 1000.0, billed ? billed : 1,
                 (unsigned)inv->cfg.memory_mb, fn_env_max_mem_mb(env), init, status);
    }
    if (env && inv->want_tail && env->tail_len) {
        res.log_tail = qr_xmalloc(env->tail_len);
        size_t first = FN_TAIL_MAX - env->tail_start;
        if (first > env->tail_len)
            first = env->tail_len;
        memcpy(res.log_tail, env->tail + env->tail_start, first);
        memcpy(res.log_tail + first, env->tail, env->tail_len - first);
        res.log_tail_len = env->tail_len;
    }
    inv->cb(inv->arg, &res);
    free(res.payload);
    free(res.log_tail);
    if (env) {
        env->cur = NULL;
        env->fname->in_use--;
        if (env->state != ENV_DEAD && !env->killed && !env->doomed)
            env_make_idle(env);
    }
    free(inv);
}

static uint8_t *dup_bytes(const void *p, size_t n)
{
    uint8_t *d = qr_xmalloc(n + 1);
    if (n)
        memcpy(d, p, n);
    d[n] = 0;
    return d;
}

/* A JSON error body {"errorMessage": msg, "errorType": type} (type may be NULL). */
static uint8_t *error_json(const char *type, const char *msg, size_t *out_len)
{
    json_t *o = json_object();
    if (type)
        json_object_set_new(o, "errorType", json_string(type));
    json_object_set_new(o, "errorMessage", json_string(msg));
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    *out_len = strlen(s);
    return (uint8_t *)s;
}

static void finish_error(struct fn_engine *e, struct fn_inv *inv, enum fn_status st,
                         const char *type, const char *msg)
{
    size_t len;
    uint8_t *p = error_json(type, msg, &len);
    inv_finish(e, inv, st, type, p, len, NULL);
}

/* ---- environments -------------------------------------------------------------------- */

/* A uid slot for a new environment: the next unused one after the last taken (so a
 * uid just released is the last to be reused), else the least used. */
static unsigned uid_take(struct fn_engine *e)
{
    unsigned best = e->uid_next % FN_UID_SLOTS;
    for (unsigned i = 0; i < FN_UID_SLOTS; i++) {
        unsigned s = (e->uid_next + i) % FN_UID_SLOTS;
        if (e->uid_refs[s] < e->uid_refs[best])
            best = s;
        if (e->uid_refs[s] == 0)
            break;
    }
    e->uid_refs[best]++;
    e->uid_next = best + 1;
    return FN_UID_FIRST + best;
}

static void uid_release(struct fn_engine *e, unsigned uid)
{
    if (uid >= FN_UID_FIRST && uid - FN_UID_FIRST < FN_UID_SLOTS &&
        e->uid_refs[uid - FN_UID_FIRST] > 0)
        e->uid_refs[uid - FN_UID_FIRST]--;
}

static void env_free(struct fn_env *env)
{
    (void)fn_env_cleanup(env); /* a group that will not go is left to the next start's sweep */
    uid_release(env->e, env->uid); /* its processes are gone (or left to the sweep) */
    qr_buf_dispose(&env->line[0]);
    qr_buf_dispose(&env->line[1]);
    free(env->version);
    free(env->revision);
    free(env);
}

/* Stops env (cur must be NULL): closes its endpoint and pipes, SIGKILLs its process
 * group unless it was reaped, and moves it to the zombies. */
static void env_teardown(struct fn_env *env)
{
    struct fn_engine *e = env->e;
    if (env->state == ENV_DEAD)
        return;
    if (env->cur) {
        env->killed = true; /* keeps inv_finish from making it idle */
        finish_error(e, env->cur, FN_SERVICE_ERROR, "ServiceException",
                     "The execution environment was stopped.");
    }
    env->state = ENV_DEAD;
    if (h2o_linklist_is_linked(&env->idle_link))
        h2o_linklist_unlink(&env->idle_link);
    if (h2o_timeout_is_linked(&env->timer))
        h2o_timeout_unlink(&env->timer);
    fn_rt_close(env);
    fn_netns_close(env);
    for (int i = 0; i < 2; i++) {
        if (env->pipe[i]) {
            h2o_socket_close(env->pipe[i]);
            env->pipe[i] = NULL;
        }
    }
    if (!env->reaped && env->pid > 0) {
        /* the group: the runtime may have children; then the leader itself (bwrap's
         * sandbox runs in a session of its own, and dies with bwrap) */
        (void)kill(-env->pid, SIGKILL);
        (void)kill(env->pid, SIGKILL);
        env->killed = true;
    }
    h2o_linklist_unlink(&env->link);
    h2o_linklist_insert(&e->zombies, &env->link);
    e->n_envs--;
    env->fname->n_envs--;
    fn_schedule_fast(e);
}

void fn_env_kill(struct fn_env *env)
{
    env_teardown(env);
}

static void on_pipe(h2o_socket_t *sock, const char *err);

static void env_timer_cb(h2o_timeout_entry_t *entry);

static struct fn_env *env_new(struct fn_engine *e, struct fn_name *fname, const struct fn_inv *inv)
{
    struct fn_env *env = qr_xmalloc(sizeof(*env));
    memset(env, 0, sizeof(*env));
    env->e = e;
    env->fname = fname;
    env->state = ENV_INIT;
    env->version = qr_xstrndup(inv->cfg.version, strlen(inv->cfg.version));
    env->revision = qr_xstrndup(inv->cfg.revision, strlen(inv->cfg.revision));
    env->memory_mb = inv->cfg.memory_mb;
    env->cg_peak_fd = -1;
    env->netns_fd = -1;
    env->uid = uid_take(e);
    h2o_linklist_init_anchor(&env->conns);
    h2o_linklist_init_anchor(&env->proxies);
    qr_buf_init(&env->line[0], FN_LINE_MAX);
    qr_buf_init(&env->line[1], FN_LINE_MAX);
    env->timer.cb = env_timer_cb;
    env->born_ms = fn_now_ms();
    env->creds_expire_ms = env->born_ms + (int64_t)e->creds_ttl_s * 1000;
    env->timeout_s = inv->cfg.timeout_s;
    /* instance id: 32 hex of a counter and the clock; unique per engine and restart */
    uint64_t a = ++e->env_seq, b = fn_now_us() ^ ((uint64_t)e->self_pid << 40);
    snprintf(env->instance_id, sizeof(env->instance_id), "%016llx%016llx", (unsigned long long)b,
             (unsigned long long)a);
    time_t s = (time_t)(env->born_ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    snprintf(env->log_group, sizeof(env->log_group), "/aws/lambda/%s", inv->cfg.name);
    snprintf(env->log_stream, sizeof(env->log_stream), "%04d/%02d/%02d/[%s]%s", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, inv->cfg.version, env->instance_id);
    h2o_linklist_insert(&e->envs, &env->link);
    e->n_envs++;
    fname->n_envs++;
    return env;
}

/* Starts the process of a fresh env; on failure finishes inv and tears env down. */
static bool env_start(struct fn_engine *e, struct fn_env *env, const struct fn_runtime *rt,
                      struct fn_inv *inv)
{
    if ((e->netns ? fn_netns_open(env) : fn_rt_listen(env, 0)) != QR_OK) {
        env_teardown(env);
        finish_error(e, inv, FN_SERVICE_ERROR, "ServiceException",
                     "Could not open the Runtime API endpoint.");
        return false;
    }
    env->spawn_us = fn_now_us();
    enum fn_spawn_err se = fn_spawn(e, env, rt, &inv->cfg);
    if (se != FN_SPAWN_OK) {
        env_teardown(env);
        char msg[256];
        if (se == FN_SPAWN_NO_BOOTSTRAP) {
            snprintf(msg, sizeof(msg),
                     "RequestId: %s Error: Couldn't find valid bootstrap(s): "
                     "[/var/task/bootstrap /opt/bootstrap]",
                     inv->request_id);
            finish_error(e, inv, FN_FUNCTION_ERROR, "Runtime.InvalidEntrypoint", msg);
        } else {
            finish_error(e, inv, FN_SERVICE_ERROR, "ServiceException",
                         "Could not start the function's runtime.");
        }
        return false;
    }
    if (env->netns_fd >= 0) { /* the child is in it; the sockets keep it alive */
        close(env->netns_fd);
        env->netns_fd = -1;
    }
    for (int i = 0; i < 2; i++) {
        env->pipe[i]->data = env;
        h2o_socket_read_start(env->pipe[i], on_pipe);
    }
    uint64_t limit = FN_INIT_LIMIT_MS + (uint64_t)inv->cfg.timeout_s * 1000u;
    h2o_timeout_link(e->loop, timeout_for(e, limit), &env->timer);
    return true;
}

static void deliver(struct fn_env *env)
{
    struct fn_inv *inv = env->cur;
    struct fn_engine *e = env->e;
    inv->delivered = true;
    inv->delivered_us = fn_now_us();
    inv->deadline_ms = fn_now_ms() + (int64_t)inv->cfg.timeout_s * 1000;
    if (env->reported_init) {
        env->tail_start = env->tail_len = 0; /* the first tail keeps the init output */
    }
    if (h2o_timeout_is_linked(&env->timer))
        h2o_timeout_unlink(&env->timer);
    h2o_timeout_link(e->loop, timeout_for(e, (uint64_t)inv->cfg.timeout_s * 1000u), &env->timer);
    env_logf(env, "START RequestId: %s Version: %s\n", inv->request_id, inv->cfg.version);
    fn_rt_deliver(env);
}

static void assign(struct fn_env *env, struct fn_inv *inv)
{
    env->cur = inv;
    inv->env = env;
    env->fname->in_use++;
    if (h2o_linklist_is_linked(&env->idle_link))
        h2o_linklist_unlink(&env->idle_link);
    if (env->waiter)
        deliver(env);
}

/* The least recently used env without an invocation, any function; NULL if none. */
/* The environment's credentials were put in its environment at spawn and cannot be
 * replaced there, so it is retired instead (AWS refreshes them): it takes no invocation
 * that could still be running, or making calls, when they expire. The margin covers
 * what the timeout does not (delivery, the runtime's own work after the result); a
 * quarter of the lifetime when that is short, so that short test lifetimes still see
 * warm reuse. */
static bool creds_short(const struct fn_engine *e, const struct fn_env *env, int64_t now_ms,
                        uint32_t timeout_s)
{
    int64_t margin = (int64_t)e->creds_ttl_s * 250;
    if (margin > FN_CREDS_MARGIN_MAX_MS)
        margin = FN_CREDS_MARGIN_MAX_MS;
    return now_ms + (int64_t)timeout_s * 1000 + margin >= env->creds_expire_ms;
}

static struct fn_env *lru_idle(struct fn_engine *e)
{
    struct fn_env *best = NULL;
    for (h2o_linklist_t *l = e->envs.next; l != &e->envs; l = l->next) {
        struct fn_env *env = H2O_STRUCT_FROM_MEMBER(struct fn_env, link, l);
        if (!env->cur && !env->doomed && env->state == ENV_READY &&
            (!best || env->idle_since_ms < best->idle_since_ms))
            best = env;
    }
    return best;
}

static void dispatch(struct fn_engine *e, struct fn_inv *inv)
{
    const struct fn_config *cfg = &inv->cfg;
    const struct fn_runtime *rt = fn_runtimes_find(&e->rt, qr_slice_cstr(cfg->runtime));
    if (e->refusal) {
        finish_error(e, inv, FN_SERVICE_ERROR, "ServiceException", e->refusal);
        return;
    }
    if (!rt) {
        finish_error(e, inv, FN_SERVICE_ERROR, "InvalidRuntimeException",
                     "The runtime is not supported by this server.");
        return;
    }
    struct fn_name *fname = name_get(e, cfg->name, true);
    if (cfg->reserved_concurrency == 0 ||
        (cfg->reserved_concurrency > 0 && fname->in_use >= (unsigned)cfg->reserved_concurrency)) {
        inv_finish(e, inv, FN_THROTTLED, "ReservedFunctionConcurrentInvocationLimitExceeded", NULL,
                   0, NULL);
        return;
    }
    /* Warm reuse; idle envs of an older revision of this version, or whose credentials
     * would not last the invocation, are retired. */
    int64_t now = fn_now_ms();
    h2o_linklist_t *l = fname->idle.next;
    while (l != &fname->idle) {
        struct fn_env *env = H2O_STRUCT_FROM_MEMBER(struct fn_env, idle_link, l);
        l = l->next;
        if (strcmp(env->version, cfg->version) != 0)
            continue;
        if (strcmp(env->revision, cfg->revision) != 0 || env->doomed ||
            creds_short(e, env, now, cfg->timeout_s)) {
            env_teardown(env);
            continue;
        }
        assign(env, inv);
        return;
    }
    if (e->n_envs >= e->max_instances) {
        struct fn_env *victim = lru_idle(e);
        if (!victim) {
            inv_finish(e, inv, FN_THROTTLED, "ConcurrentInvocationLimitExceeded", NULL, 0, NULL);
            return;
        }
        env_teardown(victim);
    }
    struct fn_env *env = env_new(e, fname, inv);
    if (!env_start(e, env, rt, inv))
        return;
    assign(env, inv);
}

/* ---- Runtime API events -------------------------------------------------------------- */

void fn_on_next(struct fn_env *env)
{
    if (env->state == ENV_INIT) {
        env->state = ENV_READY;
        env->init_us = fn_now_us() - env->spawn_us;
        if (h2o_timeout_is_linked(&env->timer))
            h2o_timeout_unlink(&env->timer);
    }
    if (env->cur && !env->cur->delivered)
        deliver(env);
}

/* errorType from the header, else from the body's JSON, into out. */
static void error_type_of(struct qr_slice hdr, struct qr_slice body, char *out, size_t size)
{
    out[0] = '\0';
    if (hdr.len) {
        snprintf(out, size, "%.*s", (int)hdr.len, (const char *)hdr.p);
        return;
    }
    json_error_t jerr;
    json_t *j = json_loadb((const char *)body.p, body.len, JSON_REJECT_DUPLICATES, &jerr);
    const char *t = j ? json_string_value(json_object_get(j, "errorType")) : NULL;
    if (t)
        for (size_t i = 0, o = 0; t[i] && o + 1 < size; i++)
            if ((unsigned char)t[i] >= 0x20 && t[i] != 0x7f)
                out[o++] = t[i], out[o] = '\0';
    json_decref(j);
}

/* Lives with the invocation: result error types point here. */
struct etype_holder {
    char s[128];
};

void fn_on_result(struct fn_env *env, bool is_error, struct qr_slice error_type,
                  struct qr_slice body)
{
    struct fn_inv *inv = env->cur;
    struct etype_holder et;
    if (h2o_timeout_is_linked(&env->timer))
        h2o_timeout_unlink(&env->timer);
    drain_pipes(env);
    if (is_error) {
        error_type_of(error_type, body, et.s, sizeof(et.s));
        if (!et.s[0])
            snprintf(et.s, sizeof(et.s), "Unhandled");
    }
    inv_finish(env->e, inv, is_error ? FN_FUNCTION_ERROR : FN_OK, is_error ? et.s : NULL,
               dup_bytes(body.p, body.len), body.len, NULL);
}

void fn_on_too_large(struct fn_env *env, uint64_t size)
{
    struct fn_inv *inv = env->cur;
    char msg[256];
    if (h2o_timeout_is_linked(&env->timer))
        h2o_timeout_unlink(&env->timer);
    drain_pipes(env);
    if (size > FN_MAX_PAYLOAD + 1ull)
        snprintf(msg, sizeof(msg),
                 "Response payload size (%llu bytes) exceeded maximum allowed payload size "
                 "(%u bytes).",
                 (unsigned long long)size, FN_MAX_PAYLOAD);
    else
        snprintf(msg, sizeof(msg),
                 "Response payload size exceeded maximum allowed payload size (%u bytes).",
                 FN_MAX_PAYLOAD);
    size_t len;
    uint8_t *p = error_json("Function.ResponseSizeTooLarge", msg, &len);
    inv_finish(env->e, inv, FN_TOO_LARGE, "Function.ResponseSizeTooLarge", p, len, NULL);
}

void fn_on_init_error(struct fn_env *env, struct qr_slice error_type, struct qr_slice body)
{
    struct etype_holder et;
    error_type_of(error_type, body, et.s, sizeof(et.s));
    if (!et.s[0])
        snprintf(et.s, sizeof(et.s), "Runtime.Unknown");
    drain_pipes(env);
    env_logf(env,
             "INIT_REPORT Init Duration: %.2f ms\tPhase: init\tStatus: error\tError Type: %s\n",
             (double)(fn_now_us() - env->spawn_us) / 1000.0, et.s);
    env->doomed = true; /* the runtime exits; torn down by the fast timer */
    fn_schedule_fast(env->e);
    if (env->cur)
        inv_finish(env->e, env->cur, FN_INIT_FAILED, et.s, dup_bytes(body.p, body.len), body.len,
                   NULL);
}

/* ---- child output and exit ----------------------------------------------------------- */

static void handle_exit(struct fn_env *env)
{
    struct fn_inv *inv = env->cur;
    int st = env->wstatus, sig = 0, code = 0;
    if (WIFSIGNALED(st))
        sig = WTERMSIG(st);
    else if (WIFEXITED(st))
        code = WEXITSTATUS(st);
    if (env->e->bwrap && code > 128 && code < 128 + 65) {
        sig = code - 128; /* bwrap reports a signalled child as 128 + signal */
        code = 0;
    }
    drain_pipes(env);
    flush_partial(env);
    if (inv) {
        char what[96], msg[256];
        bool oom = sig == SIGKILL && fn_env_oom(env);
        if (sig) {
            char name[64];
            snprintf(name, sizeof(name), "%s", sig == SIGKILL ? "killed" : strsignal(sig));
            for (char *p = name; *p; p++)
                if (*p >= 'A' && *p <= 'Z')
                    *p = (char)(*p + 32);
            snprintf(what, sizeof(what), "signal: %s", name);
        } else {
            snprintf(what, sizeof(what), "exit status %d", code);
        }
        const char *type = oom ? "Runtime.OutOfMemory" : "Runtime.ExitError";
        snprintf(msg, sizeof(msg), "RequestId: %s Error: Runtime exited with error: %s",
                 inv->request_id, what);
        env_logf(env, "%s\n%s\n", msg, type);
        size_t len;
        uint8_t *p = error_json(type, msg, &len);
        inv_finish(env->e, inv, FN_FUNCTION_ERROR, type, p, len, "error");
    }
    env_teardown(env);
}

/* waitpid without blocking; true when env's child is reaped (now or before). */
static bool try_reap(struct fn_env *env)
{
    if (env->reaped)
        return true;
    int st;
    pid_t r = waitpid(env->pid, &st, WNOHANG);
    if (r == env->pid || (r < 0 && errno == ECHILD)) {
        env->reaped = true;
        env->reaped_ms = fn_now_ms();
        env->wstatus = r == env->pid ? st : 0;
        return true;
    }
    return false;
}

static void on_pipe(h2o_socket_t *sock, const char *err)
{
    struct fn_env *env = sock->data;
    int which = env->pipe[0] == sock ? 0 : 1;
    if (sock->input->size) {
        feed_output(env, which, sock->input->bytes, sock->input->size);
        h2o_buffer_consume(&sock->input, sock->input->size);
    }
    if (!err)
        return;
    h2o_socket_close(sock);
    env->pipe[which] = NULL;
    if (env->pipe[0] || env->pipe[1])
        return;
    /* Both closed: the runtime has exited (or closed its output). */
    if (try_reap(env))
        handle_exit(env);
    else
        fn_schedule_fast(env->e); /* checked again shortly */
}

static void env_timer_cb(h2o_timeout_entry_t *entry)
{
    struct fn_env *env = H2O_STRUCT_FROM_MEMBER(struct fn_env, timer, entry);
    struct fn_inv *inv = env->cur;
    char ts[64], msg[256];
    env->killed = true;
    env->timed_out = true;
    (void)kill(-env->pid, SIGKILL);
    (void)kill(env->pid, SIGKILL);
    if (inv) {
        double secs = inv->delivered ? (double)inv->cfg.timeout_s
                                     : (double)(fn_now_us() - env->spawn_us) / 1e6;
        drain_pipes(env);
        flush_partial(env);
        iso8601(fn_now_ms(), ts);
        /* classic wording of the error body (reference §1.6); errorType goes in the
         * result for X-Amz-Function-Error consumers */
        snprintf(msg, sizeof(msg), "%s %s Task timed out after %.2f seconds", ts, inv->request_id,
                 secs);
        env_logf(env, "%s\n", msg);
        size_t len;
        uint8_t *p = error_json(NULL, msg, &len);
        if (!inv->delivered) {
            /* init ran out of time: report it as the invocation's timeout */
            inv->delivered = true;
            inv->delivered_us = env->spawn_us;
        }
        inv_finish(env->e, inv, FN_FUNCTION_ERROR, "Sandbox.Timedout", p, len, "timeout");
    }
    env_teardown(env);
}

/* ---- periodic work ------------------------------------------------------------------- */

static void reap_zombies(struct fn_engine *e)
{
    h2o_linklist_t *l = e->zombies.next;
    while (l != &e->zombies) {
        struct fn_env *env = H2O_STRUCT_FROM_MEMBER(struct fn_env, link, l);
        l = l->next;
        /* the cgroup empties a moment after the leader: its other tasks die too */
        if (try_reap(env) &&
            (fn_env_cleanup(env) || fn_now_ms() - env->reaped_ms > CGROUP_WAIT_MS)) {
            h2o_linklist_unlink(&env->link);
            env_free(env);
        }
    }
}

static void fast_cb(h2o_timeout_entry_t *entry)
{
    struct fn_engine *e = H2O_STRUCT_FROM_MEMBER(struct fn_engine, fast_entry, entry);
    bool again = false, starting = false;
    h2o_linklist_t *l = e->envs.next;
    while (l != &e->envs) {
        struct fn_env *env = H2O_STRUCT_FROM_MEMBER(struct fn_env, link, l);
        l = l->next;
        if (env->doomed) {
            fn_env_kill(env);
        } else if (!env->pipe[0] && !env->pipe[1]) {
            if (try_reap(env))
                handle_exit(env);
            else if (env->cur)
                again = true; /* an idle one is left to the 1 s tick */
        } else if (env->state == ENV_INIT) {
            starting = true;
        }
    }
    reap_zombies(e);
    /* A refill blocks this thread in unshare(CLONE_NEWNET), 0.5-1 ms, more while the
     * kernel tears namespaces down: not while an instance initializes (its first /next
     * would wait behind it) unless the pool is empty; the timer comes back meanwhile. */
    if (!starting || e->ns_pool_n == 0)
        fn_netns_refill(e);
    else
        again = true;
    if (again || !h2o_linklist_is_empty(&e->zombies))
        fn_schedule_fast(e);
}

static void tick_cb(h2o_timeout_entry_t *entry)
{
    struct fn_engine *e = H2O_STRUCT_FROM_MEMBER(struct fn_engine, tick_entry, entry);
    int64_t now = fn_now_ms();
    h2o_linklist_t *l = e->envs.next;
    while (l != &e->envs) {
        struct fn_env *env = H2O_STRUCT_FROM_MEMBER(struct fn_env, link, l);
        l = l->next;
        if (try_reap(env)) {
            handle_exit(env);
            continue;
        }
        bool idle = !env->cur && env->state == ENV_READY;
        if (idle && (now - env->idle_since_ms >= (int64_t)e->idle_timeout_s * 1000 ||
                     creds_short(e, env, now, env->timeout_s)))
            env_teardown(env);
    }
    reap_zombies(e);
    h2o_timeout_link(e->loop, &e->tick, &e->tick_entry);
}

/* ---- messages ------------------------------------------------------------------------ */

static void retire(struct fn_engine *e, const char *name)
{
    struct fn_name *fname = name_get(e, name, false);
    if (!fname)
        return;
    h2o_linklist_t *l = e->envs.next;
    while (l != &e->envs) {
        struct fn_env *env = H2O_STRUCT_FROM_MEMBER(struct fn_env, link, l);
        l = l->next;
        if (env->fname == fname)
            fn_env_kill(env);
    }
}

static void on_messages(h2o_multithread_receiver_t *rx, h2o_linklist_t *list)
{
    struct fn_engine *e = H2O_STRUCT_FROM_MEMBER(struct fn_engine, rx, rx);
    while (!h2o_linklist_is_empty(list)) {
        struct fn_msg *m = H2O_STRUCT_FROM_MEMBER(struct fn_msg, super.link, list->next);
        h2o_linklist_unlink(&m->super.link);
        switch (m->kind) {
        case FN_MSG_INVOKE: {
            struct fn_inv *inv = (struct fn_inv *)m;
            atomic_fetch_sub(&e->queued, 1);
            if (e->stop)
                finish_error(e, inv, FN_SERVICE_ERROR, "ServiceException",
                             "The functions engine is stopping.");
            else
                dispatch(e, inv);
            break;
        }
        case FN_MSG_RETIRE:
            retire(e, ((struct fn_retire_msg *)m)->name);
            free(m);
            break;
        case FN_MSG_STOP:
            e->stop = true;
            break;
        }
    }
}

/* ---- the thread ---------------------------------------------------------------------- */

static void shutdown_all(struct fn_engine *e)
{
    while (!h2o_linklist_is_empty(&e->envs))
        fn_env_kill(H2O_STRUCT_FROM_MEMBER(struct fn_env, link, e->envs.next));
    if (h2o_timeout_is_linked(&e->tick_entry))
        h2o_timeout_unlink(&e->tick_entry);
    /* Everything got SIGKILL: reaping takes milliseconds. Bounded anyway. */
    uint64_t until = fn_now_us() + STOP_REAP_MS * 1000ull;
    while (!h2o_linklist_is_empty(&e->zombies) && fn_now_us() < until) {
        reap_zombies(e);
        h2o_evloop_run(e->loop, 5);
    }
    while (!h2o_linklist_is_empty(&e->zombies)) {
        struct fn_env *env = H2O_STRUCT_FROM_MEMBER(struct fn_env, link, e->zombies.next);
        int st;
        if (!env->reaped)
            (void)waitpid(env->pid, &st, 0);
        env->reaped = true;
        h2o_linklist_unlink(&env->link);
        env_free(env);
    }
    if (h2o_timeout_is_linked(&e->fast_entry))
        h2o_timeout_unlink(&e->fast_entry);
    h2o_evloop_run(e->loop, 0); /* lets closed sockets be disposed */
}

static void *engine_main(void *arg)
{
    struct fn_engine *e = arg;
    (void)pthread_setname_np(pthread_self(), "quarry-fn"); /* top -H, perf */
    fn_netns_refill(e);
    while (!e->stop)
        h2o_evloop_run(e->loop, INT32_MAX);
    shutdown_all(e);
    return NULL;
}

/* ---- public API ---------------------------------------------------------------------- */

static char *xdup(const char *s)
{
    return s ? qr_xstrndup(s, strlen(s)) : NULL;
}

static char *find_runtimes_dir(const char *given)
{
    char buf[PATH_MAX], exe[PATH_MAX];
    const char *env = getenv("QUARRY_RUNTIMES_DIR");
    if (given)
        return realpath(given, NULL);
    if (env && env[0])
        return realpath(env, NULL);
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return NULL;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return NULL;
    *slash = '\0';
    int w = snprintf(buf, sizeof(buf), "%s/../runtimes", exe);
    if (w < 0 || (size_t)w >= sizeof(buf))
        return NULL;
    return realpath(buf, NULL);
}

static enum qr_err mkdir_p(const char *path)
{
    char tmp[PATH_MAX];
    int n = snprintf(tmp, sizeof(tmp), "%s", path);
    if (n < 0 || (size_t)n >= sizeof(tmp))
        return QR_E_IO;
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
                return QR_E_IO;
            *p = '/';
        }
    }
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
        return QR_E_IO;
    return QR_OK;
}

/*
 * Node resolves ES module imports only through node_modules directories on the importing
 * file's parent chain (NODE_PATH is for require). Code dirs live in DATA/functions/, so a
 * DATA/functions/node_modules link to the runtime's SDK makes `import ... from
 * "@aws-sdk/client-s3"` work unsandboxed; the sandbox binds it at /node_modules instead.
 * Best effort: without it the Node bootstrap falls back to a slower resolution hook.
 */
static void link_node_modules(struct fn_engine *e, const char *data_dir)
{
    char link[PATH_MAX], target[PATH_MAX];
    if (!e->runtimes_dir ||
        snprintf(target, sizeof(target), "%s/node/node_modules", e->runtimes_dir) >=
            (int)sizeof(target) ||
        snprintf(link, sizeof(link), "%s/functions/node_modules", data_dir) >= (int)sizeof(link))
        return;
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/functions", data_dir);
    (void)mkdir_p(dir); /* fn_code_unpack creates it too; either may come first */
    (void)unlink(link); /* a stale link from a runtimes dir that moved */
    if (symlink(target, link) != 0)
        fprintf(stderr, "fn: cannot link %s: %s\n", link, strerror(errno));
}

/*
 * What confines functions: bwrap (refused when asked for and missing), the seccomp
 * filter, network namespaces when root. Says at start what functions will get.
 */
static void confinement_init(struct fn_engine *e, const struct fn_engine_opts *o)
{
    e->root = geteuid() == 0;
    if (o->sandbox) {
        e->bwrap = fn_path_search("bwrap");
        if (!e->bwrap)
            e->refusal = "Functions cannot run: bubblewrap (bwrap) is not installed. Install "
                         "it, or start quarry with --no-sandbox to run functions without "
                         "filesystem isolation.";
        else if (e->root && !fn_userns_usable())
            e->refusal = "Functions cannot run: this host does not let unprivileged users make "
                         "user namespaces (sysctl user.max_user_namespaces, "
                         "kernel.unprivileged_userns_clone), which bubblewrap needs to run a "
                         "function as its own uid. Allow them, or start quarry with "
                         "--no-sandbox.";
    }
    if (fn_seccomp_build(e) != QR_OK && !e->refusal)
        e->refusal = "Functions cannot run: the seccomp filter could not be built.";
    e->netns = !e->refusal && fn_netns_init(e);
    if (o->network && e->netns && !(e->pasta = fn_path_search("pasta")))
        e->refusal = "Functions cannot run: --function-network needs pasta (Debian's passt), "
                     "which is not installed.";
    if (e->refusal) {
        free(e->bwrap);
        e->bwrap = NULL;
        fprintf(stderr, "quarry: %s\n", e->refusal);
    } else if (!o->sandbox) {
        fprintf(stderr,
                "quarry: --no-sandbox: functions run without bubblewrap (no filesystem "
                "isolation) as %s%s\n",
                e->root ? "uids 65100-65499, one per instance" : "quarry's own user",
                e->netns ? ", each in its own network namespace" : "");
    } else if (!e->netns) {
        fprintf(stderr, "quarry: not root: functions share the host's network\n");
    }
    if (e->pasta)
        fprintf(stderr, "quarry: --function-network: functions reach the network through "
                        "pasta, not the host's loopback\n");
}

const char *fn_engine_refusal(const struct fn_engine *e)
{
    return e->refusal;
}

static void engine_dispose(struct fn_engine *e)
{
    fn_runtimes_dispose(&e->rt);
    fn_cgroup_fini(e);
    fn_netns_fini(e);
    fn_seccomp_free(e);
    free(e->pasta);
    free(e->fn_endpoint_url);
    free(e->data_dir);
    free(e->endpoint_url);
    free(e->region);
    free(e->account_id);
    free(e->runtimes_dir);
    free(e->bwrap);
    free(e);
}

enum qr_err fn_engine_new(const struct fn_engine_opts *o, struct fn_engine **out)
{
    enum qr_err err;
    if (!o || !o->data_dir || !o->data_dir[0])
        return QR_E_BAD_INPUT;
    struct fn_engine *e = qr_xmalloc(sizeof(*e));
    memset(e, 0, sizeof(*e));
    e->data_dir = xdup(o->data_dir);
    e->endpoint_url = xdup(o->endpoint_url);
    e->region = xdup(o->region);
    e->account_id = xdup(o->account_id);
    e->creds = o->creds;
    e->logs = o->logs;
    e->self_pid = getpid();
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned def_max = ncpu > 0 ? (unsigned)ncpu * 8u : 16u;
    e->max_instances = o->max_instances ? o->max_instances : (def_max < 16 ? 16 : def_max);
    e->idle_timeout_s = o->idle_timeout_s ? o->idle_timeout_s : IDLE_TIMEOUT_DEF_S;
    e->creds_ttl_s = o->creds_ttl_s ? o->creds_ttl_s : FN_CREDS_TTL_S;
    e->queue_max = o->queue_max ? o->queue_max : QUEUE_MAX_DEFAULT;
    e->runtimes_dir = find_runtimes_dir(o->runtimes_dir);
    e->seccomp_fd = e->host_netns_fd = -1;
    e->pids_max = o->pids_max ? o->pids_max : FN_PIDS_MAX_DEF;
    e->fn_endpoint_url = xdup(o->endpoint_url);
    confinement_init(e, o);
    int n = snprintf(e->pid_dir, sizeof(e->pid_dir), "%s/fn/pids", o->data_dir);
    if (n < 0 || (size_t)n >= sizeof(e->pid_dir)) {
        engine_dispose(e);
        return QR_E_IO;
    }
    err = mkdir_p(e->pid_dir);
    if (err != QR_OK) {
        engine_dispose(e);
        return err;
    }
    fn_sweep(e);
    if (e->bwrap)
        fn_sandbox_files(e);
    if (!e->bwrap) /* the sandbox binds the SDK at /node_modules instead */
        link_node_modules(e, o->data_dir);
    err = fn_runtimes_load(o->runtimes_file, e->runtimes_dir, &e->rt);
    if (err != QR_OK) {
        engine_dispose(e);
        return err;
    }
    fn_cgroup_init(e);

    h2o_linklist_init_anchor(&e->names);
    h2o_linklist_init_anchor(&e->envs);
    h2o_linklist_init_anchor(&e->zombies);
    h2o_linklist_init_anchor(&e->timeouts);
    e->loop = h2o_evloop_create();
    e->mq = h2o_multithread_create_queue(e->loop);
    h2o_multithread_register_receiver(e->mq, &e->rx, on_messages);
    h2o_timeout_init(e->loop, &e->tick, TICK_MS);
    h2o_timeout_init(e->loop, &e->fast, FAST_TICK_MS);
    e->tick_entry.cb = tick_cb;
    e->fast_entry.cb = fast_cb;
    h2o_timeout_link(e->loop, &e->tick, &e->tick_entry);
    e->stop_msg.kind = FN_MSG_STOP;
    if (pthread_create(&e->thread, NULL, engine_main, e) != 0) {
        h2o_timeout_unlink(&e->tick_entry);
        h2o_timeout_dispose(e->loop, &e->tick);
        h2o_timeout_dispose(e->loop, &e->fast);
        h2o_multithread_unregister_receiver(e->mq, &e->rx);
        h2o_multithread_destroy_queue(e->mq);
        h2o_evloop_destroy(e->loop);
        engine_dispose(e);
        return QR_E_IO;
    }
    *out = e;
    return QR_OK;
}

void fn_engine_free(struct fn_engine *e)
{
    if (!e)
        return;
    atomic_store(&e->stopping, true);
    while (atomic_load(&e->callers) != 0)
        sched_yield(); /* a racing fn_invoke finishes its send in microseconds */
    h2o_multithread_send_message(&e->rx, &e->stop_msg.super);
    pthread_join(e->thread, NULL);

    h2o_multithread_unregister_receiver(e->mq, &e->rx);
    h2o_multithread_destroy_queue(e->mq);
#if H2O_VERSION_MAJOR == 2 && H2O_VERSION_MINOR == 2
    free(e->mq); /* h2o 2.2's evloop build of destroy_queue closes but never frees it */
#endif
    while (!h2o_linklist_is_empty(&e->timeouts)) {
        struct fn_timeout *t = H2O_STRUCT_FROM_MEMBER(struct fn_timeout, link, e->timeouts.next);
        h2o_linklist_unlink(&t->link);
        h2o_timeout_dispose(e->loop, &t->t);
        free(t);
    }
    h2o_timeout_dispose(e->loop, &e->tick);
    h2o_timeout_dispose(e->loop, &e->fast);
    h2o_evloop_destroy(e->loop);
    while (!h2o_linklist_is_empty(&e->names)) {
        struct fn_name *n = H2O_STRUCT_FROM_MEMBER(struct fn_name, link, e->names.next);
        h2o_linklist_unlink(&n->link);
        free(n->name);
        free(n);
    }
    engine_dispose(e);
}

bool fn_runtime_supported(const struct fn_engine *e, struct qr_slice runtime)
{
    return fn_runtimes_find(&e->rt, runtime) != NULL;
}

static int b64_val(uint8_t c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/* Decodes base64 (padding optional) into out (room for 3*len/4 + 3); false if bad. */
static bool b64_decode(struct qr_slice s, char *out, size_t *out_len)
{
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t o = 0;
    while (s.len && s.p[s.len - 1] == '=')
        s.len--;
    for (size_t i = 0; i < s.len; i++) {
        int d = b64_val(s.p[i]);
        if (d < 0)
            return false;
        acc = (acc << 6) | (uint32_t)d;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    *out_len = o;
    return true;
}

static size_t slen(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

static char *put_str(char **cur, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = *cur;
    memcpy(d, s, n);
    *cur += n;
    return d;
}

static bool request_id_ok(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > 36)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'z') ||
              (id[i] >= 'A' && id[i] <= 'Z') || id[i] == '-'))
            return false;
    return true;
}

static bool name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= 'A' && s[i] <= 'Z') || s[i] == '-' || s[i] == '_'))
            return false;
    return true;
}

/* Printable ASCII without quotes or backslashes: safe in headers and log names. */
static bool token_ok(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return false;
    return true;
}

enum qr_err fn_invoke(struct fn_engine *e, const struct fn_invoke *in, fn_invoke_cb cb, void *arg)
{
    const struct fn_config *c = in->cfg;
    if (in->payload.len > FN_MAX_PAYLOAD)
        return QR_E_TOO_LARGE;
    if (!cb || !c || !name_ok(c->name) || !token_ok(c->arn, 256) || !token_ok(c->version, 64) ||
        !token_ok(c->revision, 128) || !c->runtime || !c->code_dir || c->timeout_s == 0 ||
        c->timeout_s > 900 || c->memory_mb == 0 || !request_id_ok(in->request_id) ||
        in->client_context.len > 8192 || (c->n_env && !c->env))
        return QR_E_BAD_INPUT;

    size_t need = sizeof(struct fn_inv), strs = 0;
    size_t env_arr = 0;
    if (qr_mul_overflow(c->n_env, sizeof(struct fn_env_var), &env_arr) || c->n_env > 4096)
        return QR_E_BAD_INPUT;
    if (in->invoked_arn && !token_ok(in->invoked_arn, 320))
        return QR_E_BAD_INPUT;
    strs = slen(c->name) + slen(c->arn) + slen(c->version) + slen(c->revision) + slen(c->runtime) +
           slen(c->handler) + slen(c->code_dir) + slen(c->role) + slen(in->invoked_arn);
    for (size_t i = 0; i < c->n_env; i++) {
        if (!c->env[i].name || !c->env[i].value)
            return QR_E_BAD_INPUT;
        strs += slen(c->env[i].name) + slen(c->env[i].value);
        if (strs > 1024 * 1024)
            return QR_E_BAD_INPUT;
    }
    size_t cc = in->client_context.len ? in->client_context.len / 4 * 3 + 4 : 0;
    need += env_arr + strs + cc + in->payload.len + 8;

    atomic_fetch_add(&e->callers, 1);
    if (atomic_load(&e->stopping)) {
        atomic_fetch_sub(&e->callers, 1);
        return QR_E_BUSY;
    }
    if (atomic_fetch_add(&e->queued, 1) >= e->queue_max) {
        atomic_fetch_sub(&e->queued, 1);
        atomic_fetch_sub(&e->callers, 1);
        return QR_E_BUSY;
    }
    struct fn_inv *inv = qr_xmalloc(need);
    memset(inv, 0, sizeof(*inv));
    inv->m.kind = FN_MSG_INVOKE;
    struct fn_env_var *vars = (struct fn_env_var *)(inv + 1);
    char *cur = (char *)vars + env_arr;
    inv->cfg = *c;
    inv->cfg.name = put_str(&cur, c->name);
    inv->cfg.arn = put_str(&cur, c->arn);
    inv->cfg.version = put_str(&cur, c->version);
    inv->cfg.revision = put_str(&cur, c->revision);
    inv->cfg.runtime = put_str(&cur, c->runtime);
    inv->cfg.handler = put_str(&cur, c->handler);
    inv->cfg.code_dir = put_str(&cur, c->code_dir);
    inv->cfg.role = put_str(&cur, c->role);
    inv->invoked_arn = in->invoked_arn ? put_str(&cur, in->invoked_arn) : NULL;
    for (size_t i = 0; i < c->n_env; i++) {
        vars[i].name = put_str(&cur, c->env[i].name);
        vars[i].value = put_str(&cur, c->env[i].value);
    }
    inv->cfg.env = c->n_env ? vars : NULL;
    if (cc) {
        size_t dl = 0;
        if (!b64_decode(in->client_context, cur, &dl)) {
            free(inv);
            atomic_fetch_sub(&e->queued, 1);
            atomic_fetch_sub(&e->callers, 1);
            return QR_E_BAD_INPUT;
        }
        for (size_t i = 0; i < dl; i++) /* a header value: no control bytes */
            if ((unsigned char)cur[i] < 0x20 || cur[i] == 0x7f)
                cur[i] = ' ';
        cur[dl] = '\0';
        inv->client_context = dl ? cur : NULL;
        cur += dl + 1;
    }
    inv->payload = (uint8_t *)cur;
    inv->payload_len = in->payload.len;
    if (in->payload.len)
        memcpy(cur, in->payload.p, in->payload.len);
    memcpy(inv->request_id, in->request_id, strlen(in->request_id) + 1);
    inv->want_tail = in->want_log_tail;
    inv->cb = cb;
    inv->arg = arg;
    h2o_multithread_send_message(&e->rx, &inv->m.super);
    atomic_fetch_sub(&e->callers, 1);
    return QR_OK;
}

void fn_retire(struct fn_engine *e, const char *function_name)
{
    size_t n = function_name ? strlen(function_name) : 0;
    if (n == 0 || n > 256)
        return;
    atomic_fetch_add(&e->callers, 1);
    if (atomic_load(&e->stopping)) {
        atomic_fetch_sub(&e->callers, 1);
        return;
    }
    struct fn_retire_msg *m = qr_xmalloc(sizeof(*m) + n + 1);
    memset(m, 0, sizeof(*m));
    m->m.kind = FN_MSG_RETIRE;
    memcpy(m->name, function_name, n + 1);
    h2o_multithread_send_message(&e->rx, &m->m.super);
    atomic_fetch_sub(&e->callers, 1);
}
