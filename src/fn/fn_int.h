/*
 * fn_int.h - shared by the engine's .c files in src/fn only: the engine's state, execution
 * environments, invocations and Runtime API connections.
 *
 * Threads: everything here except the message header of struct fn_msg is touched only
 * by the engine thread (the one running e->loop). fn_invoke and fn_retire reach it
 * through h2o's multithread queue.
 *
 * Invariants (engine thread):
 *  - an env is on exactly one of e->envs (alive) and e->zombies (killed or exited, not
 *    yet reaped); it is on its name's idle list iff it is alive and env->cur == NULL;
 *  - env->cur != NULL iff the invocation is counted in env->fname->in_use;
 *  - an invocation is owned by the queue, then by one env (env->cur), then finished
 *    exactly once by inv_finish, which calls the callback and frees it.
 */
#ifndef QR_FN_INT_H
#define QR_FN_INT_H

#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/types.h>

#include <h2o.h>

#include "fn/fn.h"
#include "util/buf.h"
#include "util/picohttp.h"

#define FN_MAX_PAYLOAD    6291556u        /* AWS: "maximum allowed payload size (6291556 bytes)" */
#define FN_MAX_ERROR_BODY (1024u * 1024u) /* /error and /init/error bodies */
#define FN_TAIL_MAX       4096u           /* LogType Tail: last 4 KB */
#define FN_LINE_MAX                                                                                \
    (256u * 1024u)                      /* a longer child output line is split (CloudWatch's       \
                                           event size) */
#define FN_INIT_LIMIT_MS  10000u        /* AWS's init phase limit */
#define FN_CREDS_TTL_S    (12u * 3600u) /* function credentials, unless the engine is told */
#define FN_CREDS_MARGIN_MAX_MS 300000ll  /* see fn_env_creds_short */
#define FN_TMP_BYTES      (512ull << 20)         /* /tmp of a sandbox: Lambda's default 512 MB */
#define FN_PIDS_MAX_DEF   1024u                  /* processes and threads per environment */
#define FN_NETNS_POOL     4u /* network namespaces made ahead of cold starts (netns.c) */
/* Host uids (and gids, the same numbers) of function processes when quarry runs as
 * root: nobody's accounts, outside Debian's user and system ranges (65000-65533 is
 * reserved), so a process that escapes the sandbox owns nothing and can signal nothing
 * of the host's. Each running environment has one of its own (engine.c, uid_take), so
 * functions cannot read each other's /proc/PID/environ or signal each other even
 * without a pid namespace (--no-sandbox); past FN_UID_SLOTS environments, uids are
 * shared by the fewest. */
#define FN_UID_FIRST      65100u
#define FN_UID_SLOTS      400u
/* uid and gid inside a user-namespace sandbox (quarry not root): Lambda's sbx_user1051 */
#define FN_NS_UID         993u
#define FN_NS_GID         990u

/* ---- runtime table (runtimes.c) ------------------------------------------------------ */

/* One runtime: how to start its bootstrap. Strings may contain ${task_root} and
 * ${runtime_dir}, substituted per environment (sandboxed: /var/task and /var/runtime). */
struct fn_runtime {
    char *name;  /* "python3.11" */
    char **argv; /* argc entries + NULL; argv[0] is an absolute path */
    size_t argc;
    char **env; /* n_env "NAME=value" */
    size_t n_env;
    char **binds; /* n_binds absolute paths bound read-only in the sandbox */
    size_t n_binds;
    bool provided; /* a custom runtime: ${task_root}/bootstrap must exist */
};

struct fn_runtimes {
    struct fn_runtime *v; /* n entries, names unique */
    size_t n;
};

/* Builds the table: the built-in one, then the file's entries (replacing same names).
 * Entries whose program cannot be found are left out. Errors: QR_E_BAD_INPUT (file),
 * QR_E_IO. Main thread (probes python3 with a short-lived child). */
enum qr_err fn_runtimes_load(const char *file, const char *runtimes_dir, struct fn_runtimes *out)
    __attribute__((warn_unused_result));
void fn_runtimes_dispose(struct fn_runtimes *t);
const struct fn_runtime *fn_runtimes_find(const struct fn_runtimes *t, struct qr_slice name);
/* Absolute path of prog on $PATH (a name without '/'), or NULL; caller frees. */
char *fn_path_search(const char *prog);

/* ---- messages to the engine thread --------------------------------------------------- */

enum fn_msg_kind {
    FN_MSG_INVOKE, /* struct fn_inv */
    FN_MSG_RETIRE, /* struct fn_retire_msg */
    FN_MSG_STOP,   /* e->stop_msg: wind up */
};

struct fn_msg {
    h2o_multithread_message_t super;
    enum fn_msg_kind kind;
};

struct fn_retire_msg {
    struct fn_msg m;
    char name[]; /* NUL-terminated function name */
};

/* One invocation; one allocation holding the copied config, payload and strings. */
struct fn_inv {
    struct fn_msg m;
    struct fn_config cfg; /* strings point into this allocation */
    uint8_t *payload;     /* into this allocation */
    size_t payload_len;
    char *client_context; /* decoded JSON, CR/LF-free, or NULL */
    char *invoked_arn;    /* the ARN the caller named, or NULL */
    char request_id[37];
    bool want_tail;
    fn_invoke_cb cb;
    void *arg;
    struct fn_env *env;    /* assigned environment, or NULL while queued */
    bool delivered;        /* /next has returned it to the runtime */
    uint64_t delivered_us; /* monotonic */
    int64_t deadline_ms;   /* epoch ms, sent as Lambda-Runtime-Deadline-Ms */
};

/* ---- execution environments ---------------------------------------------------------- */

/* Per function name: concurrency and the environments without an invocation. */
struct fn_name {
    h2o_linklist_t link; /* e->names */
    char *name;
    unsigned in_use;     /* envs with an invocation (reserved concurrency counts these) */
    unsigned n_envs;     /* alive envs */
    h2o_linklist_t idle; /* struct fn_env.idle_link, most recently used first */
    double log_tokens;   /* bytes of output the log store may still take (engine.c) */
    uint64_t log_refill_us;
    uint64_t log_dropped, log_dropped_bytes; /* over the budget, not yet reported */
    uint64_t log_report_us;                  /* last report of drops */
};

enum fn_env_state {
    ENV_INIT,  /* started, has not asked for an invocation yet */
    ENV_READY, /* has asked /next at least once (init done) */
    ENV_DEAD,  /* killed or exited: on e->zombies until reaped */
};

struct fn_rt_conn;

struct fn_env {
    h2o_linklist_t link;      /* e->envs or e->zombies */
    h2o_linklist_t idle_link; /* fname->idle while alive and cur == NULL */
    struct fn_engine *e;
    struct fn_name *fname;
    enum fn_env_state state;
    char *version; /* the config it runs */
    char *revision;
    uint32_t memory_mb;
    char instance_id[33];   /* 32 hex */
    char log_group[80];     /* "/aws/lambda/NAME" */
    char log_stream[96];    /* "YYYY/MM/DD/[VERSION]ID" */
    h2o_socket_t *listener; /* Runtime API endpoint */
    uint16_t port;
    int netns_fd;              /* the environment's network namespace (netns.c), or -1 */
    pid_t net_pid;             /* --function-network: pasta serving that namespace, or 0 */
    unsigned uid;              /* quarry as root: its host uid and gid (FN_UID_FIRST + slot) */
    h2o_socket_t *api_listener; /* quarry's API port inside it, or NULL */
    h2o_linklist_t proxies;     /* struct fn_proxy.link: forwarded API connections */
    h2o_linklist_t conns;           /* struct fn_rt_conn.link */
    struct fn_rt_conn *waiter;      /* connection parked in GET /next, or NULL */
    struct fn_inv *cur;             /* the invocation it runs, or NULL */
    pid_t pid;                      /* the child (bwrap or the runtime), process group leader */
    unsigned long long start_ticks; /* /proc/PID/stat starttime, for the sweep */
    bool reaped;                    /* waitpid has returned pid */
    int64_t reaped_ms;              /* when (cgroup removal is retried for a while) */
    int wstatus;                    /* valid once reaped */
    bool killed;                    /* we sent SIGKILL (timeout, retire, stop) */
    bool doomed;                    /* kill at the next tick (init error reported) */
    bool timed_out;
    h2o_socket_t *pipe[2];     /* child's stdout, stderr (read ends), NULL once closed */
    struct qr_buf line[2];     /* partial line per pipe */
    h2o_timeout_entry_t timer; /* init or invocation deadline */
    uint64_t spawn_us;         /* monotonic */
    uint64_t init_us;          /* init duration, reported with the first invocation */
    bool reported_init;
    int64_t born_ms;
    int64_t idle_since_ms;
    int64_t creds_expire_ms; /* its credentials (minted at spawn, born_ms + creds_ttl_s) */
    uint32_t timeout_s;      /* of the configuration it runs */
    char *cgroup;   /* memory cgroup dir, or NULL */
    char *cg_pids;  /* v1 pids cgroup dir, or NULL (v2: cgroup has both) */
    int cg_peak_fd; /* memory.max_usage_in_bytes / memory.peak, or -1 */
    char pidfile[PATH_MAX];
    uint8_t tail[FN_TAIL_MAX]; /* ring: the last FN_TAIL_MAX bytes of log */
    size_t tail_start, tail_len;
};

/* ---- the engine ---------------------------------------------------------------------- */

struct fn_timeout {
    h2o_linklist_t link; /* e->timeouts */
    h2o_timeout_t t;
};

struct fn_engine {
    char *data_dir;
    char *endpoint_url;
    char *region;
    char *account_id;
    char *runtimes_dir; /* absolute, or NULL when not found */
    char *bwrap;        /* bubblewrap to sandbox with, or NULL */
    const char *refusal; /* why functions cannot run (sandbox asked for, not possible), or
                            NULL */
    bool root;           /* quarry runs as root: functions run as FN_UID_FIRST.. (the
                            child drops to it before exec); else as quarry's uid */
    bool netns;          /* environments get their own network namespace (netns.c) */
    int host_netns_fd;   /* the namespace quarry's engine thread returns to */
    struct fn_netns_ready {
        int ns_fd, rt_fd, api_fd; /* a namespace made ahead, its two listening sockets */
        int probe_fd;             /* --function-network: a UDP socket in it (route probe) */
        pid_t net_pid;            /* --function-network: its pasta, or 0 */
    } ns_pool[FN_NETNS_POOL];
    unsigned ns_pool_n;
    char *pasta;       /* --function-network as root: passt's pasta, or NULL (no way out) */
    pid_t *net_reap;   /* pastas killed, not yet reaped (waitpid WNOHANG on the timer) */
    size_t net_reap_n, net_reap_cap;
    struct sockaddr_in api_addr; /* quarry's API, where the API port inside forwards to */
    char *fn_endpoint_url;       /* AWS_ENDPOINT_URL as functions see it */
    int seccomp_fd;              /* exported BPF (memfd), or -1 */
    uint8_t *seccomp_bpf;        /* the same program, for the unsandboxed child */
    size_t seccomp_len;
    unsigned pids_max;
    unsigned max_instances;
    unsigned idle_timeout_s;
    unsigned queue_max;
    uint32_t creds_ttl_s; /* lifetime of the credentials an environment is given */
    struct creds *creds;
    struct logs *logs;
    struct fn_runtimes rt; /* immutable after fn_engine_new */
    char *cg_root;         /* our memory cgroup dir for envs, or NULL */
    char *cg_pids_root;    /* v1: our pids cgroup dir for envs, or NULL */
    bool cg_v2;
    char pid_dir[PATH_MAX]; /* DATA/fn/pids */
    char etc_dir[PATH_MAX]; /* DATA/fn/etc: the sandbox's passwd and group, or "" */

    pthread_t thread;
    h2o_evloop_t *loop;
    h2o_multithread_queue_t *mq;
    h2o_multithread_receiver_t rx;
    atomic_uint queued;     /* messages sent, not yet taken (back-pressure) */
    atomic_uint callers;    /* fn_invoke/fn_retire calls in progress */
    atomic_bool stopping;   /* fn_engine_free began: no new messages */
    struct fn_msg stop_msg; /* sent once by fn_engine_free */
    bool stop;              /* engine thread: stop_msg arrived */

    /* Engine thread only: */
    h2o_linklist_t names;    /* struct fn_name */
    h2o_linklist_t envs;     /* alive struct fn_env */
    h2o_linklist_t zombies;  /* dead, unreaped struct fn_env */
    unsigned n_envs;         /* alive */
    h2o_linklist_t timeouts; /* struct fn_timeout, one per distinct duration */
    h2o_timeout_t tick;      /* 1 s: idle reaping, exit checks */
    h2o_timeout_entry_t tick_entry;
    h2o_timeout_t fast; /* 10 ms: zombies, doomed envs */
    h2o_timeout_entry_t fast_entry;
    uint64_t env_seq;
    uint16_t uid_refs[FN_UID_SLOTS]; /* environments alive per uid slot */
    unsigned uid_next;               /* where the next search for a free slot starts */
    pid_t self_pid;
};

/* engine.c */
uint64_t fn_now_us(void);
int64_t fn_now_ms(void);
void fn_env_log(struct fn_env *env, int64_t ts_ms, const char *msg, size_t len);
void fn_env_kill(struct fn_env *env);
void fn_schedule_fast(struct fn_engine *e);

/* rtapi.c: Runtime API endpoints */
/* Listens on 127.0.0.1:port (0: any) of the calling thread's network namespace. */
enum qr_err fn_rt_listen(struct fn_env *env, uint16_t port) __attribute__((warn_unused_result));
/* Serves env's Runtime API on fd, a listening socket (taken, closed on error). */
enum qr_err fn_rt_adopt(struct fn_env *env, int fd) __attribute__((warn_unused_result));
/* A non-blocking listening socket on 127.0.0.1:port of the calling thread's network
 * namespace, or -1. */
int fn_listen_loopback(uint16_t port, int backlog);
void fn_rt_close(struct fn_env *env);
/* Sends env->cur to the parked /next connection. */
void fn_rt_deliver(struct fn_env *env);

/* Called by rtapi.c on the engine thread. */
void fn_on_next(struct fn_env *env);
void fn_on_result(struct fn_env *env, bool is_error, struct qr_slice error_type,
                  struct qr_slice body);
void fn_on_too_large(struct fn_env *env, uint64_t size);
void fn_on_init_error(struct fn_env *env, struct qr_slice error_type, struct qr_slice body);

/* netns.c: a network namespace per environment (quarry as root) */
/* Whether environments can get namespaces; sets e->host_netns_fd and fn_endpoint_url.
 * Main thread. */
bool fn_netns_init(struct fn_engine *e);
void fn_netns_fini(struct fn_engine *e);
/* Engine thread: env's namespace with its Runtime API and API port listeners (from the
 * pool when it has one ready). */
enum qr_err fn_netns_open(struct fn_env *env) __attribute__((warn_unused_result));
/* Engine thread: makes namespaces until the pool is full (off the cold-start path). */
void fn_netns_refill(struct fn_engine *e);
/* Closes env's listeners, forwarded connections and namespace reference. */
void fn_netns_close(struct fn_env *env);

/* seccomp.c: the filter of function processes (e->seccomp_fd, e->seccomp_bpf) */
enum qr_err fn_seccomp_build(struct fn_engine *e) __attribute__((warn_unused_result));
void fn_seccomp_free(struct fn_engine *e);

/* spawn.c */
enum fn_spawn_err {
    FN_SPAWN_OK,
    FN_SPAWN_NO_BOOTSTRAP, /* provided runtime without an executable bootstrap */
    FN_SPAWN_FAILED,
};
enum fn_spawn_err fn_spawn(struct fn_engine *e, struct fn_env *env, const struct fn_runtime *rt,
                           const struct fn_config *cfg);
/* Writes DATA/fn/etc/passwd and group for sandboxes (e->etc_dir). Main thread. */
void fn_sandbox_files(struct fn_engine *e);
/* As root: whether a function's uid may make a user namespace (bwrap runs as that uid and
 * needs one); false where the host forbids unprivileged user namespaces. Main thread. */
bool fn_userns_usable(void);
/* Kills leftovers listed in DATA/fn/pids whose start time still matches. Main thread. */
void fn_sweep(struct fn_engine *e);
/* Sets up e->cg_root when a memory cgroup can be made. Main thread. */
void fn_cgroup_init(struct fn_engine *e);
void fn_cgroup_fini(struct fn_engine *e);
/* After env was reaped: kills what is left in its cgroup, removes the cgroup, the pid
 * file and fds; false while the cgroup still has tasks (call again later). */
bool fn_env_cleanup(struct fn_env *env);
/* Peak memory of env in MB (cgroup, else /proc), 0 when unknown. */
unsigned fn_env_max_mem_mb(struct fn_env *env);
/* Whether env's cgroup saw an out-of-memory kill. */
bool fn_env_oom(struct fn_env *env);

#endif
