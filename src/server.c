/*
 * server.c - startup and shutdown order, the event-loop threads, the worker pool and
 * the signal thread.
 *
 * Start: store -> credentials -> h2o config -> listeners (bound before any thread runs,
 * so the printed port accepts at once) -> workers -> loops. Stop (SIGTERM/SIGINT): the
 * loops finish their current iteration and exit, the workers finish their current job
 * and exit, then the store drains its writer and closes. Every write acknowledged to a
 * client was durable before its response was sent, so stopping drops nothing.
 */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "api/iam/iam.h"
#include "api/lambda/lambda.h"
#include "api/route.h"
#include "auth/authz.h"
#include "batch/batch.h"
#include "fn/code.h"
#include "fn/fn.h"
#include "logs/logs.h"
#include "util/buf.h"

#define LOG_FLUSH_BYTES (16u * 1024u)

void server_log(struct qr_server *s, enum qr_log_level level, const char *fmt, ...)
{
    if (level < s->cfg.log_level)
        return;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    pthread_mutex_lock(&s->log_mu);
    ssize_t w = write(s->log_fd, line, (size_t)n);
    pthread_mutex_unlock(&s->log_mu);
    (void)w; /* a log line that cannot be written is dropped, never fatal */
}

static void flush_thread_log(struct qr_thread *th)
{
    struct qr_buf *b = th->log;
    if (b->len == 0)
        return;
    pthread_mutex_lock(&th->server->log_mu);
    size_t off = 0;
    while (off < b->len) {
        ssize_t w = write(th->server->log_fd, b->p + off, b->len - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    pthread_mutex_unlock(&th->server->log_mu);
    qr_buf_reset(b);
}

/* ---- listeners ---- */

/* Binds one SO_REUSEPORT listener on address (IPv4 or IPv6 literal) and port. quiet: the
 * caller reports a failure itself. */
static enum qr_err bind_addr(const char *address, uint16_t port, bool quiet, int *out_fd)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *sa4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sa6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, address, &sa4->sin_addr) == 1) {
        sa4->sin_family = AF_INET;
        sa4->sin_port = htons(port);
        sslen = sizeof(*sa4);
    } else if (inet_pton(AF_INET6, address, &sa6->sin6_addr) == 1) {
        sa6->sin6_family = AF_INET6;
        sa6->sin6_port = htons(port);
        sslen = sizeof(*sa6);
    } else {
        fprintf(stderr, "quarry: --address %s is not an IP address\n", address);
        return QR_E_BAD_INPUT;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return QR_E_IO;
    int one = 1;
    /* Accepted sockets inherit TCP_NODELAY on Linux: small responses leave at once. */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0 ||
        (ss.ss_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0) ||
        bind(fd, (struct sockaddr *)&ss, sslen) != 0 || listen(fd, SOMAXCONN) != 0) {
        if (!quiet)
            fprintf(stderr, "quarry: cannot listen on %s:%u: %s\n", address, port,
                    strerror(errno));
        close(fd);
        return QR_E_IO;
    }
    *out_fd = fd;
    return QR_OK;
}

static enum qr_err bind_listener(const struct qr_config *cfg, uint16_t port, int *out_fd)
{
    return bind_addr(cfg->address, port, false, out_fd);
}

/* S3 Control clients always send to <account>.<endpoint host>; with the endpoint
 * http://localhost:PORT the resolver may answer ::1 first (libnss-myhostname does), so a
 * server on 127.0.0.1 also serves [::1] on the same port. Only for the IPv4 loopback
 * address: any other address is the operator's explicit choice. */
static bool wants_ipv6_loopback(const struct qr_config *cfg)
{
    return strcmp(cfg->address, "127.0.0.1") == 0;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    struct qr_thread *th = listener->data;
    if (err != NULL)
        return;
    /* Accept a bounded batch per wake-up so one busy listener cannot starve the loop. */
    for (int i = 0; i < 64; i++) {
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL)
            break;
        http_accept(&th->http, sock, listener == th->tls_listener ? th->server->tls : NULL);
    }
}

static h2o_socket_t *listen_on(struct qr_thread *th, int fd)
{
    h2o_socket_t *sock = h2o_evloop_socket_create(th->loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    sock->data = th;
    h2o_socket_read_start(sock, on_accept);
    return sock;
}

/* Every connection holds a descriptor: raise the soft limit to the hard one, and keep
 * --max-conns below it with room for the store, blobs being written, functions and
 * listeners, so a crowd of connections cannot starve the rest of the process. */
static void init_http_limits(struct qr_server *s)
{
    const unsigned reserve = 256;
    struct rlimit rl;
    unsigned max_conns = s->cfg.max_conns;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        if (rl.rlim_cur < rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max;
            (void)setrlimit(RLIMIT_NOFILE, &rl); /* best effort: the check below uses the result */
            (void)getrlimit(RLIMIT_NOFILE, &rl);
        }
        if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)max_conns + 2 * reserve) {
            max_conns = rl.rlim_cur > 2 * reserve ? (unsigned)rl.rlim_cur - reserve
                                                  : (unsigned)rl.rlim_cur / 2;
            server_log(s, QR_LOG_WARN,
                       "quarry: descriptor limit %llu: --max-conns lowered to %u",
                       (unsigned long long)rl.rlim_cur, max_conns);
        }
    }
    struct http_limits lim = {
        .max_conns = max_conns,
        .max_conns_per_ip = s->cfg.max_conns_per_ip ? s->cfg.max_conns_per_ip : max_conns,
        .header_timeout_ms = s->cfg.header_timeout_ms ? s->cfg.header_timeout_ms : 10000,
        .idle_timeout_ms = s->cfg.idle_timeout_ms ? s->cfg.idle_timeout_ms : 60000,
        .min_body_rate = s->cfg.min_body_rate,
        .discard_max = 64 * 1024,
    };
    http_shared_init(&s->http, &lim);
}

/* HTTPS on a second port: plain HTTP stays on --port for functions, which reach quarry
 * through AWS_ENDPOINT_URL without a CA bundle. */
static enum qr_err init_tls(struct qr_server *s)
{
    if (s->cfg.tls_cert == NULL && s->cfg.tls_key == NULL)
        return QR_OK;
    if (s->cfg.tls_cert == NULL || s->cfg.tls_key == NULL) {
        fprintf(stderr, "quarry: --tls-cert and --tls-key go together\n");
        return QR_E_BAD_INPUT;
    }
    enum qr_err err = http_tls_ctx(s->cfg.tls_cert, s->cfg.tls_key, &s->tls);
    if (err != QR_OK)
        return err;
    if ((err = bind_listener(&s->cfg, s->cfg.tls_port, &s->tls_fd_first)) != QR_OK)
        return err;
    struct sockaddr_in sa;
    socklen_t salen = sizeof(sa);
    if (getsockname(s->tls_fd_first, (struct sockaddr *)&sa, &salen) != 0)
        return QR_E_IO;
    s->tls_port = ntohs(sa.sin_port);
    return QR_OK;
}

/* ---- jobs ---- */

void server_submit(struct qr_server *s, struct qr_job *job)
{
    job->_next = NULL;
    pthread_mutex_lock(&s->jobs_mu);
    *s->jobs_tail = job;
    s->jobs_tail = &job->_next;
    pthread_cond_signal(&s->jobs_cv);
    pthread_mutex_unlock(&s->jobs_mu);
}

bool server_body_acquire(struct qr_server *s, uint64_t len)
{
    uint64_t cur = atomic_load_explicit(&s->inflight_body, memory_order_relaxed);
    for (;;) {
        if (cur != 0 && (cur + len > s->cfg.max_inflight_body || cur + len < cur))
            return false;
        if (atomic_compare_exchange_weak_explicit(&s->inflight_body, &cur, cur + len,
                                                  memory_order_relaxed, memory_order_relaxed))
            return true;
    }
}

void server_body_release(struct qr_server *s, uint64_t len)
{
    atomic_fetch_sub_explicit(&s->inflight_body, len, memory_order_relaxed);
}

void server_job_return(struct qr_job *job)
{
    h2o_multithread_send_message(&job->thread->done_rx, &job->_msg);
}

static void *worker_main(void *arg)
{
    struct qr_server *s = arg;
    (void)pthread_setname_np(pthread_self(), "quarry-worker"); /* top -H, perf */
    struct store_reader *reader = NULL;
    if (store_reader_new(s->store, &reader) != QR_OK) {
        server_log(s, QR_LOG_ERROR, "quarry: worker cannot open a store reader");
        abort();
    }
    for (;;) {
        pthread_mutex_lock(&s->jobs_mu);
        while (s->jobs_head == NULL && !s->jobs_stop)
            pthread_cond_wait(&s->jobs_cv, &s->jobs_mu);
        struct qr_job *job = s->jobs_head;
        if (job == NULL) { /* stopping and drained */
            pthread_mutex_unlock(&s->jobs_mu);
            break;
        }
        s->jobs_head = job->_next;
        if (s->jobs_head == NULL)
            s->jobs_tail = &s->jobs_head;
        pthread_mutex_unlock(&s->jobs_mu);

        job->reader = reader;
        job->run(job);
        job->reader = NULL;
        server_job_return(job);
    }
    store_reader_free(reader);
    return NULL;
}

static void on_jobs_done(h2o_multithread_receiver_t *rx, h2o_linklist_t *messages)
{
    struct qr_thread *th = H2O_STRUCT_FROM_MEMBER(struct qr_thread, done_rx, rx);
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *msg =
            H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&msg->link);
        struct qr_job *job = H2O_STRUCT_FROM_MEMBER(struct qr_job, _msg, msg);
        /* The job's own writes (a worker's commit) are seen by what the loop reads next. */
        store_reader_fresh(th->reader);
        job->done(job);
    }
}

/* ---- loops ---- */

/* Each loop's SQLite page cache: GETs of hot objects are served from it (inline bodies
 * included) while no write changes the database. */
#define LOOP_READER_CACHE_KIB 8192u

static void *loop_main(void *arg)
{
    struct qr_thread *th = arg;
    (void)pthread_setname_np(pthread_self(), "quarry-loop"); /* top -H, perf */
    struct qr_server *s = th->server;

    th->loop = h2o_evloop_create();
    h2o_context_init(&th->ctx, th->loop, &s->h2o_cfg);
    th->ctx.storage.size = 0;
    th->accept_ctx.ctx = &th->ctx;
    th->accept_ctx.hosts = s->h2o_cfg.hosts;
    th->queue = h2o_multithread_create_queue(th->loop);
    h2o_multithread_register_receiver(th->queue, &th->done_rx, on_jobs_done);
    http_loop_init(&th->http, &s->http, &th->accept_ctx, th->log);

    int fd = s->listen_fd_first;
    if (th->index != 0 && bind_listener(&s->cfg, s->port, &fd) != QR_OK)
        abort(); /* the first bind of this port succeeded; a second failing is a broken host */
    th->listener = listen_on(th, fd);
    int fd6 = s->listen6_fd_first;
    if (fd6 >= 0 && th->index != 0 && bind_addr("::1", s->port, true, &fd6) != QR_OK)
        fd6 = -1;
    th->listener6 = fd6 >= 0 ? listen_on(th, fd6) : NULL;
    if (s->tls != NULL) {
        int tfd = s->tls_fd_first;
        if (th->index != 0 && bind_listener(&s->cfg, s->tls_port, &tfd) != QR_OK)
            abort();
        th->tls_listener = listen_on(th, tfd);
    }

    while (!atomic_load_explicit(&s->stopping, memory_order_relaxed)) {
        h2o_evloop_run(th->loop, 100);
        store_reader_idle(th->reader); /* an idle loop pins no old WAL frames */
        if (th->log->len >= LOG_FLUSH_BYTES || th->log->len > 0)
            flush_thread_log(th);
    }
    flush_thread_log(th);
    h2o_socket_read_stop(th->listener);
    h2o_socket_close(th->listener);
    if (th->listener6 != NULL) {
        h2o_socket_read_stop(th->listener6);
        h2o_socket_close(th->listener6);
    }
    if (th->tls_listener != NULL) {
        h2o_socket_read_stop(th->tls_listener);
        h2o_socket_close(th->tls_listener);
    }
    /* Connections and the context are left to process exit: disposing a context with
     * live connections is not supported by h2o 2.2.5, and the process ends next. */
    return NULL;
}

/* S3 Control clients send every request to <account>.<endpoint host>: with the endpoint
 * http://localhost:PORT that is ACCOUNT.localhost, which only resolves where the system
 * resolver knows RFC 6761's *.localhost (libnss-myhostname). Say so at start instead of
 * letting the first `aws s3control` fail with a DNS error. Only names under localhost
 * are looked up: a real domain's DNS could stall the start. */
static void check_control_host(const struct qr_config *cfg)
{
    size_t dl = strlen(cfg->domain);
    if (dl < 9 || strcmp(cfg->domain + dl - 9, "localhost") != 0)
        return;
    char host[256];
    if ((size_t)snprintf(host, sizeof(host), "%s.%s", cfg->account_id, cfg->domain) >=
        sizeof(host))
        return;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(host, NULL, &hints, &res) == 0) {
        freeaddrinfo(res);
        return;
    }
    fprintf(stderr,
            "quarry: warning: %s does not resolve, so S3 Control clients (aws s3control, "
            "boto3, SDK v3) cannot reach http://%s:PORT. Fix: apt-get install "
            "libnss-myhostname (and 'myhostname' on the hosts line of /etc/nsswitch.conf), "
            "or add '127.0.0.1 %s' to /etc/hosts\n",
            host, cfg->domain, host);
}

/* The functions engine needs the bound port: functions reach quarry through
 * AWS_ENDPOINT_URL, by IP address (a host name sends directory buckets to
 * <bucket>.localhost). */
static enum qr_err start_functions(struct qr_server *s)
{
    char endpoint[64];
    snprintf(endpoint, sizeof(endpoint), "http://%s:%u", s->cfg.address, s->port);
    fn_code_sweep(s->cfg.data_dir);
    fn_code_account(s->cfg.data_dir, s->cfg.fn_code_max);
    struct fn_engine_opts fo = {
        .data_dir = s->cfg.data_dir,
        .endpoint_url = endpoint,
        .region = s->cfg.region,
        .account_id = s->cfg.account_id,
        .runtimes_file = s->cfg.runtimes_file,
        .max_instances = s->cfg.max_instances,
        .sandbox = !s->cfg.no_sandbox,
        .network = s->cfg.function_network,
        .pids_max = s->cfg.fn_pids_max,
        .creds = s->creds,
        .creds_ttl_s = s->cfg.fn_creds_ttl_s,
        .logs = s->logs,
    };
    enum qr_err err = fn_engine_new(&fo, &s->fn);
    if (err != QR_OK) {
        fprintf(stderr, "quarry: cannot start the functions engine: %s\n", qr_strerror(err));
        return err;
    }
    if ((err = lambda_new(s, &s->lambda)) != QR_OK) {
        fprintf(stderr, "quarry: cannot start the Lambda API: %s\n", qr_strerror(err));
        return err;
    }
    struct batch_engine_opts bo = {
        .store = s->store,
        .fn = s->fn,
        .authz = s->authz,
        .data_dir = s->cfg.data_dir,
        .region = s->cfg.region,
        .account_id = s->cfg.account_id,
        .defaults = s->cfg.batch,
    };
    if ((err = batch_engine_new(&bo, &s->batch)) != QR_OK)
        fprintf(stderr, "quarry: cannot start the batch engine: %s\n", qr_strerror(err));
    return err;
}

/* The IAM snapshot every request is authorized against, compiled from the store. */
static enum qr_err load_iam(struct qr_server *s)
{
    struct store_reader *r;
    enum qr_err err = authz_new(s->cfg.account_id, &s->authz);
    if (err == QR_OK)
        err = store_reader_new(s->store, &r);
    if (err == QR_OK) {
        err = authz_reload(s->authz, r);
        store_reader_free(r);
    }
    if (err != QR_OK)
        fprintf(stderr, "quarry: cannot load the IAM state: %s\n", qr_strerror(err));
    return err;
}

enum qr_err server_init(struct qr_server *s, const struct qr_config *cfg)
{
    enum qr_err err;
    memset(s, 0, sizeof(*s));
    s->cfg = *cfg;
    pthread_mutex_init(&s->log_mu, NULL);
    pthread_mutex_init(&s->jobs_mu, NULL);
    pthread_cond_init(&s->jobs_cv, NULL);
    s->jobs_tail = &s->jobs_head;
    s->log_fd = STDERR_FILENO;
    if (cfg->access_log) {
        s->log_fd = open(cfg->access_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (s->log_fd < 0) {
            fprintf(stderr, "quarry: cannot open %s: %s\n", cfg->access_log, strerror(errno));
            return QR_E_IO;
        }
    }

    struct store_opts so = {.dir = cfg->data_dir, .no_fsync = cfg->no_fsync};
    if ((err = store_open(&so, &s->store)) != QR_OK) {
        fprintf(stderr, "quarry: cannot open the store in %s: %s\n", cfg->data_dir,
                qr_strerror(err));
        return err;
    }
    if ((err = creds_new(cfg->data_dir, cfg->root_akid, cfg->root_secret, &s->creds)) != QR_OK) {
        fprintf(stderr, "quarry: cannot open credentials: %s\n", qr_strerror(err));
        return err;
    }
    if ((err = load_iam(s)) != QR_OK)
        return err;
    if ((err = logs_open(cfg->data_dir, NULL, &s->logs)) != QR_OK) {
        fprintf(stderr, "quarry: cannot open the function logs: %s\n", qr_strerror(err));
        return err;
    }

    h2o_config_init(&s->h2o_cfg);
    s->h2o_cfg.server_name = h2o_iovec_init(H2O_STRLIT("quarry"));
    s->h2o_cfg.max_request_entity_size = (size_t)cfg->max_body;
    s->h2o_cfg.http1.upgrade_to_http2 = 0; /* AWS clients speak HTTP/1.1 on plain http */
    s->hostconf =
        h2o_config_register_host(&s->h2o_cfg, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pc = h2o_config_register_path(s->hostconf, "/", 0);
    api_register(s, pc);

    init_http_limits(s);
    if ((err = bind_listener(cfg, cfg->port, &s->listen_fd_first)) != QR_OK)
        return err;
    struct sockaddr_in sa;
    socklen_t salen = sizeof(sa);
    if (getsockname(s->listen_fd_first, (struct sockaddr *)&sa, &salen) != 0)
        return QR_E_IO;
    s->port = ntohs(sa.sin_port);
    s->listen6_fd_first = -1;
    if (wants_ipv6_loopback(cfg) && bind_addr("::1", s->port, true, &s->listen6_fd_first) != QR_OK)
        fprintf(stderr, "quarry: not listening on [::1]:%u (%s): clients that resolve localhost "
                        "to ::1 first must use 127.0.0.1\n",
                s->port, strerror(errno));
    check_control_host(cfg);
    if ((err = init_tls(s)) != QR_OK)
        return err;
    if ((err = start_functions(s)) != QR_OK)
        return err;

    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    s->n_threads = cfg->threads ? cfg->threads : (unsigned)(ncpu > 0 ? ncpu : 1);
    s->threads = calloc(s->n_threads, sizeof(*s->threads));
    if (!s->threads)
        abort();
    for (unsigned i = 0; i < s->n_threads; i++) {
        struct qr_thread *th = &s->threads[i];
        th->server = s;
        th->index = i;
        th->log = qr_xmalloc(sizeof(*th->log));
        qr_buf_init(th->log, 1u << 20);
        if ((err = store_reader_new(s->store, &th->reader)) != QR_OK)
            return err;
        store_reader_cache(th->reader, LOOP_READER_CACHE_KIB);
    }
    return QR_OK;
}

enum qr_err server_run(struct qr_server *s)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    /* Block the stop signals in every thread; this one waits for them synchronously,
     * so no work ever happens in a signal handler. */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    s->n_workers = s->cfg.workers ? s->cfg.workers : 32;
    s->workers = calloc(s->n_workers, sizeof(*s->workers));
    if (!s->workers)
        abort();
    for (unsigned i = 0; i < s->n_workers; i++)
        if (pthread_create(&s->workers[i], NULL, worker_main, s) != 0)
            abort();
    if (iam_keyuse_start(s, s->cfg.key_use_flush_ms, &s->keyuse) != QR_OK)
        abort();
    for (unsigned i = 0; i < s->n_threads; i++)
        if (pthread_create(&s->threads[i].tid, NULL, loop_main, &s->threads[i]) != 0)
            abort();

    printf("quarry listening on http://%s:%u\n", s->cfg.address, s->port);
    if (s->tls != NULL)
        printf("quarry listening on https://%s:%u\n", s->cfg.address, s->tls_port);
    fflush(stdout);

    int sig = 0;
    sigwait(&set, &sig);
    server_log(s, QR_LOG_INFO, "quarry: signal %d, stopping", sig);
    atomic_store_explicit(&s->stopping, true, memory_order_relaxed);
    for (unsigned i = 0; i < s->n_threads; i++)
        pthread_join(s->threads[i].tid, NULL);
    pthread_mutex_lock(&s->jobs_mu);
    s->jobs_stop = true;
    pthread_cond_broadcast(&s->jobs_cv);
    pthread_mutex_unlock(&s->jobs_mu);
    for (unsigned i = 0; i < s->n_workers; i++)
        pthread_join(s->workers[i], NULL);
    iam_keyuse_stop(s->keyuse); /* after the last request: saves every key use left */
    s->keyuse = NULL;
    /* Order: no new Event invokes, then every instance stopped (pending callbacks land
     * in the dispatcher), then the dispatcher's state goes. */
    /* The batch engine waits for its in-flight invocations, so it stops first. */
    batch_engine_free(s->batch);
    s->batch = NULL;
    lambda_stop(s->lambda);
    fn_engine_free(s->fn);
    s->fn = NULL;
    return QR_OK;
}

void server_dispose(struct qr_server *s)
{
    if (s->threads) {
        for (unsigned i = 0; i < s->n_threads; i++) {
            store_reader_free(s->threads[i].reader);
            if (s->threads[i].log) {
                qr_buf_dispose(s->threads[i].log);
                free(s->threads[i].log);
            }
        }
    }
    free(s->threads);
    free(s->workers);
    batch_engine_free(s->batch);
    fn_engine_free(s->fn);
    lambda_free(s->lambda);
    logs_close(s->logs);
    creds_free(s->creds);
    authz_free(s->authz);
    store_close(s->store);
    if (s->tls != NULL)
        SSL_CTX_free(s->tls);
    if (s->log_fd > STDERR_FILENO)
        close(s->log_fd);
}
