/*
 * server.h - struct qr_server, the one process-wide context, and struct qr_thread, the
 * state of one event-loop thread.
 *
 * Threads: one h2o event loop per core (SO_REUSEPORT listeners), a pool of worker
 * threads for anything that blocks (store writes, body hashing), and the store's own
 * writer thread. A request is touched only by the loop thread that accepted it, except
 * while it is handed to a worker: then the loop leaves it alone (h2o's HTTP/1 stops
 * reading the socket while a request is being processed, so the request cannot be freed
 * under the worker), and the worker hands it back through the loop's message queue.
 *
 * Lock order: server.jobs_mu is a leaf lock; the store's locks are internal to the store
 * and never held across a call back into the server.
 */
#ifndef QR_SERVER_H
#define QR_SERVER_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <h2o.h>

#include "auth/creds.h"
#include "batch/batch.h"
#include "http/http.h"
#include "store/store.h"
#include "util/err.h"

enum qr_log_level {
    QR_LOG_DEBUG,
    QR_LOG_INFO,
    QR_LOG_WARN,
    QR_LOG_ERROR,
};

struct qr_config {
    const char *address;     /* listen address, e.g. "127.0.0.1" */
    uint16_t port;           /* 0 = pick a free port */
    const char *data_dir;    /* DATA */
    const char *root_akid;   /* root access key id */
    const char *root_secret; /* root secret; never logged */
    const char *account_id;  /* 12 digits */
    const char *region;      /* e.g. us-east-1 */
    const char *domain;      /* base name stripped from virtual-hosted Host headers */
    const char *access_log;  /* file for access-log lines, NULL = stderr */
    enum qr_log_level log_level;
    bool no_fsync;              /* throwaway server: acknowledge before durable */
    bool no_sandbox;            /* run functions without bubblewrap even when installed */
    bool function_network;      /* functions get outbound network access (pasta) */
    const char *runtimes_file;  /* JSON runtime table replacing the built-in one, or NULL */
    unsigned max_instances;     /* function instances in total; 0 = engine default */
    unsigned threads;           /* event-loop threads; 0 = one per core */
    unsigned workers;           /* worker threads for blocking work */
    uint64_t max_body;          /* largest request body accepted (bytes) */
    uint64_t max_inflight_body; /* request body bytes held by requests being processed */
    unsigned fn_pids_max;       /* processes per function instance; 0 = engine default */
    uint64_t fn_code_max;       /* bytes of all unpacked function code; 0 = no cap */
    uint32_t fn_creds_ttl_s;    /* lifetime of function credentials; 0 = 12 h (tests) */
    unsigned max_conns;         /* open connections, all loops (see http/http.h) */
    unsigned max_conns_per_ip;  /* open connections from one client address */
    uint32_t header_timeout_ms; /* a request head, once begun, must arrive within this */
    uint32_t idle_timeout_ms;   /* keep-alive connections with no request are closed */
    uint32_t min_body_rate;     /* body bytes/s a sender must keep up */
    const char *tls_cert;       /* PEM certificate chain for HTTPS, or NULL */
    const char *tls_key;        /* PEM private key for HTTPS, or NULL */
    uint16_t tls_port;          /* HTTPS port (0 = pick a free one) when tls_cert is set */
    bool no_default_sse;        /* objects with no encryption asked for and no bucket rule are
                                   stored unencrypted (measurements; S3 encrypts them all) */
    bool sse_c_plain_http;      /* accept SSE-C keys over plain HTTP (S3 requires HTTPS) */
    uint32_t key_use_flush_ms;  /* access key last-used saved this often; 0 = a minute */
    struct batch_defaults batch; /* the opt-in batch job options' defaults (--batch-*) */
};

struct qr_job;
struct qr_server;

/* Runs on a worker thread; may block. */
typedef void (*qr_job_run_cb)(struct qr_job *job);
/* Runs on the loop thread that submitted the job, after run. */
typedef void (*qr_job_done_cb)(struct qr_job *job);

/* A unit of blocking work handed from a loop thread to a worker and back. Embed it. */
struct qr_job {
    h2o_multithread_message_t _msg; /* links the job in the done queue of its loop */
    struct qr_job *_next;           /* links the job in the server's pending queue */
    struct qr_thread *thread;       /* the loop thread to come back to */
    struct store_reader *reader;    /* set by the worker: its own store reader */
    qr_job_run_cb run;
    qr_job_done_cb done;
};

struct qr_thread {
    struct qr_server *server; /* back pointer */
    unsigned index;           /* 0..n_threads-1 */
    pthread_t tid;
    h2o_evloop_t *loop;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    h2o_socket_t *listener;
    h2o_socket_t *listener6; /* [::1] beside 127.0.0.1, or NULL */
    struct http_loop http;              /* this loop's HTTP/1.1 connections */
    h2o_socket_t *tls_listener;         /* HTTPS, when configured */
    h2o_multithread_queue_t *queue;     /* wakes this loop for messages */
    h2o_multithread_receiver_t done_rx; /* finished jobs come back here */
    struct store_reader *reader;        /* this loop's read-only store connection */
    uint64_t next_request;              /* request id counter, this thread only */
    struct qr_buf *log;                 /* buffered access-log lines, this thread only */
};

struct fn_engine;
struct authz;
struct iam_keyuse;
struct lambda_ctx;
struct logs;
struct batch_engine;

struct qr_server {
    struct qr_config cfg;
    struct store *store;
    struct creds *creds;
    struct authz *authz;        /* the IAM snapshot holder (auth/authz.h) */
    struct iam_keyuse *keyuse;  /* saves access key last-used on a timer (api/iam/iam.h) */
    struct fn_engine *fn;       /* the functions engine (Lambda), or NULL */
    struct logs *logs;          /* function logs (CloudWatch Logs API), or NULL */
    struct lambda_ctx *lambda;  /* Lambda API state: invoke dedupe, Event dispatcher */
    struct batch_engine *batch; /* S3 Batch Operations engine, or NULL */
    h2o_globalconf_t h2o_cfg;
    h2o_hostconf_t *hostconf;
    struct http_shared http; /* connection counters and limits, all loops */
    int listen_fd_first;     /* first listener, bound to learn the port */
    int listen6_fd_first;    /* first [::1] listener on the same port, or -1 */
    SSL_CTX *tls;            /* HTTPS context, or NULL */
    int tls_fd_first;        /* first HTTPS listener */
    uint16_t tls_port;       /* the HTTPS port actually bound */
    uint16_t port;       /* the port actually bound */
    unsigned n_threads;
    struct qr_thread *threads; /* n_threads */
    int log_fd;                /* access log */
    pthread_mutex_t log_mu;    /* serialises whole lines to log_fd */

    pthread_mutex_t jobs_mu; /* guards the fields below */
    pthread_cond_t jobs_cv;
    struct qr_job *jobs_head;  /* guarded by jobs_mu */
    struct qr_job **jobs_tail; /* guarded by jobs_mu */
    bool jobs_stop;            /* guarded by jobs_mu */
    pthread_t *workers;
    unsigned n_workers;

    atomic_bool stopping;               /* set once by the signal thread (relaxed loads) */
    atomic_uint_fast64_t inflight_body; /* body bytes of requests handed to workers; see
                                           server_body_acquire (relaxed: a soft cap) */
};

/* Builds the server from cfg: opens the store and credentials, binds the listeners.
 * Errors: QR_E_IO, QR_E_DB, QR_E_BAD_INPUT. Main thread. */
enum qr_err server_init(struct qr_server *s, const struct qr_config *cfg)
    __attribute__((warn_unused_result));
/* Runs the loops and workers until SIGTERM or SIGINT, then stops them in order.
 * Main thread. */
enum qr_err server_run(struct qr_server *s) __attribute__((warn_unused_result));
/* Frees what server_init made. Main thread. */
void server_dispose(struct qr_server *s);

/* Queues job for a worker; job->done runs later on job->thread's loop. Loop thread. */
void server_submit(struct qr_server *s, struct qr_job *job);
/* Hands a job whose work finished elsewhere (a worker, the functions engine's thread)
 * back to job->thread's loop, where job->done runs. Any thread. */
void server_job_return(struct qr_job *job);

/* Counts a request body of len bytes against --max-inflight-body before its request is
 * handed to a worker. False (nothing counted) when it would pass the cap: the caller
 * answers 503 SlowDown, which every SDK retries. A body larger than the whole cap is
 * still let through when nothing else is in flight, so one maximal PUT always works.
 * Any thread. */
bool server_body_acquire(struct qr_server *s, uint64_t len);
/* Returns what server_body_acquire counted. Any thread. */
void server_body_release(struct qr_server *s, uint64_t len);

/* Writes one access-log or diagnostic line (no newline needed). Any thread. */
void server_log(struct qr_server *s, enum qr_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
