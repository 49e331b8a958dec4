/*
 * netns.c - a network of its own for every execution environment.
 *
 * Where quarry runs as root, each environment gets a fresh network namespace in which
 * 127.0.0.1 carries exactly two listening sockets: the environment's Runtime API and a
 * port that forwards to quarry's own API (the port AWS_ENDPOINT_URL names). Nothing
 * else exists there: no other interface, no route out, no other function's Runtime API,
 * no host service, and packet sockets would see only the function's own traffic.
 *
 * How, without daemons or helper processes: network namespaces are per thread. The
 * engine thread unshares into a new namespace, brings its loopback up, creates the two
 * listening sockets (a socket stays in the namespace it was created in), keeps a
 * reference to the namespace, and returns to the host's. The child joins the namespace
 * with setns before it executes bwrap. The engine loop then serves both sockets: the
 * Runtime API with rtapi.c, the API port by copying bytes to a connection it opens to
 * quarry's listener in the host namespace. A connection to the Runtime API therefore
 * comes from its own environment by construction: no other process can reach the
 * socket.
 *
 * Cost: unshare + two ioctls + two sockets is half a millisecond when the machine is
 * quiet, but it waits behind the kernel's teardown of earlier namespaces (which runs
 * when an environment goes, often right before the next cold start): measured 10-20 ms
 * on a loaded machine. So namespaces are made ahead, FN_NETNS_POOL of them, and the pool
 * is refilled from the engine's fast timer, off the cold-start path; a cold start with
 * the pool empty makes its own.
 *
 * --function-network: each namespace also gets a pasta (Debian's passt), started with
 * the namespace and killed with it. pasta makes a tap interface in the namespace with
 * the host's address and default route, and carries the namespace's TCP, UDP and ICMP
 * echo out through ordinary sockets of its own on the host. What it must not do is map
 * the host's loopback into the namespace: its gateway address normally leads to the
 * host's 127.0.0.1 (--no-map-gw turns that off), and its port forwarding in both
 * directions defaults to "auto" (-t/-u/-T/-U none turn it off). So 127.0.0.1 inside
 * still carries only the two sockets above, and the host's loopback services stay out
 * of reach. Since pasta configures the namespace a few milliseconds after it starts, a
 * namespace is handed to an environment only once its default route exists (a UDP
 * connect made from inside it succeeds).
 */
#include "fn/fn_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RUNTIME_API_PORT 9001 /* AWS's */
#define PROXY_BACKLOG    64
#define NET_WAIT_MS      2000 /* pasta configures a namespace in a few ms; give up after */

static void ready_close(struct fn_engine *e, struct fn_netns_ready *r);

/* One forwarded connection: s[0] inside the environment's namespace, s[1] to quarry. */
struct fn_proxy {
    h2o_linklist_t link; /* env->proxies */
    struct fn_env *env;
    h2o_socket_t *s[2];
    size_t inflight[2]; /* bytes of s[i]->input being written to the other side */
};

/* "http://A.B.C.D:PORT" (quarry's own endpoint) into an address; 0.0.0.0 is reached
 * through 127.0.0.1. */
static bool parse_endpoint(const char *url, struct sockaddr_in *out)
{
    char host[64];
    unsigned port = 0;
    if (!url || strncmp(url, "http://", 7) != 0)
        return false;
    const char *h = url + 7, *colon = strrchr(h, ':');
    if (!colon || (size_t)(colon - h) >= sizeof(host))
        return false;
    memcpy(host, h, (size_t)(colon - h));
    host[colon - h] = '\0';
    char *end = NULL;
    unsigned long p = strtoul(colon + 1, &end, 10);
    if (!end || (*end && *end != '/') || p == 0 || p > 65535)
        return false;
    port = (unsigned)p;
    memset(out, 0, sizeof(*out));
    out->sin_family = AF_INET;
    out->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &out->sin_addr) != 1)
        return false;
    if (out->sin_addr.s_addr == htonl(INADDR_ANY))
        out->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return true;
}

bool fn_netns_init(struct fn_engine *e)
{
    if (geteuid() != 0)
        return false; /* unshare(CLONE_NEWNET) needs CAP_SYS_ADMIN */
    e->host_netns_fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (e->host_netns_fd < 0)
        return false;
    if (parse_endpoint(e->endpoint_url, &e->api_addr)) {
        char url[64];
        snprintf(url, sizeof(url), "http://127.0.0.1:%u", (unsigned)ntohs(e->api_addr.sin_port));
        free(e->fn_endpoint_url);
        e->fn_endpoint_url = qr_xstrndup(url, strlen(url));
    } else {
        fprintf(stderr, "fn: endpoint %s is not an IPv4 address: functions will not reach the "
                        "API\n",
                e->endpoint_url ? e->endpoint_url : "(none)");
    }
    return true;
}

void fn_netns_fini(struct fn_engine *e)
{
    while (e->ns_pool_n > 0)
        ready_close(e, &e->ns_pool[--e->ns_pool_n]);
    for (size_t i = 0; i < e->net_reap_n; i++)
        (void)waitpid(e->net_reap[i], NULL, 0); /* SIGKILLed already */
    free(e->net_reap);
    e->net_reap = NULL;
    e->net_reap_n = e->net_reap_cap = 0;
    if (e->host_netns_fd >= 0)
        close(e->host_netns_fd);
    e->host_netns_fd = -1;
}

/* ---- the API port: byte copying -------------------------------------------------------- */

static void proxy_close(struct fn_proxy *p)
{
    h2o_linklist_unlink(&p->link);
    for (int i = 0; i < 2; i++)
        if (p->s[i])
            h2o_socket_close(p->s[i]);
    free(p);
}

static void proxy_on_read(h2o_socket_t *sock, const char *err);

/* A write to s[i] finished: what came from the other side is consumed, read it again. */
static void proxy_on_write(h2o_socket_t *sock, const char *err)
{
    struct fn_proxy *p = sock->data;
    int to = p->s[0] == sock ? 0 : 1, from = 1 - to;
    if (err) {
        proxy_close(p);
        return;
    }
    h2o_buffer_consume(&p->s[from]->input, p->inflight[from]);
    p->inflight[from] = 0;
    h2o_socket_read_start(p->s[from], proxy_on_read);
}

static void proxy_on_read(h2o_socket_t *sock, const char *err)
{
    struct fn_proxy *p = sock->data;
    int from = p->s[0] == sock ? 0 : 1, to = 1 - from;
    if (err) {
        proxy_close(p); /* either side closing ends both (HTTP needs no half-close) */
        return;
    }
    if (sock->input->size == 0)
        return;
    /* One write in flight per direction: the bytes stay in input until it completes. */
    h2o_socket_read_stop(sock);
    p->inflight[from] = sock->input->size;
    h2o_iovec_t v = h2o_iovec_init(sock->input->bytes, sock->input->size);
    h2o_socket_write(p->s[to], &v, 1, proxy_on_write);
}

static void proxy_on_connect(h2o_socket_t *sock, const char *err)
{
    struct fn_proxy *p = sock->data;
    if (err) {
        proxy_close(p);
        return;
    }
    h2o_socket_read_start(p->s[0], proxy_on_read);
    h2o_socket_read_start(p->s[1], proxy_on_read);
}

static void api_on_accept(h2o_socket_t *listener, const char *err)
{
    struct fn_env *env = listener->data;
    h2o_socket_t *in;
    if (err)
        return;
    while ((in = h2o_evloop_socket_accept(listener)) != NULL) {
        struct fn_proxy *p = qr_xmalloc(sizeof(*p));
        memset(p, 0, sizeof(*p));
        p->env = env;
        p->s[0] = in;
        in->data = p;
        h2o_linklist_insert(&env->proxies, &p->link);
        /* the engine thread is in the host's namespace here: this reaches quarry */
        p->s[1] = h2o_socket_connect(env->e->loop, (struct sockaddr *)&env->e->api_addr,
                                     sizeof(env->e->api_addr), proxy_on_connect);
        if (!p->s[1]) {
            proxy_close(p);
            continue;
        }
        p->s[1]->data = p;
        int one = 1;
        (void)setsockopt(h2o_socket_get_fd(in), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        (void)setsockopt(h2o_socket_get_fd(p->s[1]), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
}

/* ---- the namespace ------------------------------------------------------------------- */

static bool lo_up(void)
{
    struct ifreq ifr;
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return false;
    memset(&ifr, 0, sizeof(ifr));
    memcpy(ifr.ifr_name, "lo", 3);
    bool ok = ioctl(s, SIOCGIFFLAGS, &ifr) == 0;
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    ok = ok && ioctl(s, SIOCSIFFLAGS, &ifr) == 0;
    close(s);
    return ok;
}

/* ---- pasta (--function-network) ----------------------------------------------------- */

/*
 * pasta's options. --runas 0: run as an unprivileged user, pasta would drop to nobody
 * before it joins the namespace, which then fails (the namespace belongs to the host's
 * user namespace); as root it still confines itself (seccomp, no_new_privs, a mount
 * namespace of its own, only CAP_NET_BIND_SERVICE and CAP_SYS_ADMIN left). The
 * namespace is fd 3 in pasta (no path names it).
 */
static char *const pasta_opts[] = {
    "--runas", "0", "--netns", "/proc/self/fd/3", "--config-net",
    "--no-map-gw",               /* the gateway address is not the host's loopback */
    "-t", "none", "-u", "none",  /* no host port forwarded into the namespace */
    "-T", "none", "-U", "none",  /* no namespace port forwarded to the host's loopback */
    "-f", "--quiet",             /* foreground: its pid is ours to kill */
};

/* Starts pasta on the namespace ns_fd; its pid, or 0. The engine thread is in the
 * host's namespace here: pasta's own sockets must be made there. */
static pid_t pasta_start(struct fn_engine *e, int ns_fd)
{
    enum { N = sizeof(pasta_opts) / sizeof(*pasta_opts) };
    char *argv[N + 2], *envp[] = {NULL};
    argv[0] = "pasta"; /* passt picks its mode by the name it is called by */
    for (size_t i = 0; i < N; i++)
        argv[i + 1] = pasta_opts[i];
    argv[N + 1] = NULL;
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull < 0)
        return 0;
    pid_t parent = getpid();
    pid_t pid = vfork();
    if (pid == 0) { /* system calls only, as in spawn.c's child */
        sigset_t none;
        struct sigaction dfl;
        memset(&dfl, 0, sizeof(dfl));
        dfl.sa_handler = SIG_DFL;
        /* quarry ignores SIGPIPE, an ignored disposition survives exec, and pasta takes
         * signal(SIGPIPE, SIG_IGN) returning SIG_IGN for a failure */
        for (int sig = 1; sig < 32; sig++)
            if (sig != SIGKILL && sig != SIGSTOP)
                (void)sigaction(sig, &dfl, NULL);
        sigemptyset(&none);
        (void)sigprocmask(SIG_SETMASK, &none, NULL);
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
            _exit(127);
        if (dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 || dup2(devnull, 2) < 0 ||
            dup2(ns_fd, 3) < 0)
            _exit(127);
        if (syscall(SYS_close_range, 4u, ~0u, 0u) != 0)
            for (int fd = 4; fd < 1024; fd++)
                (void)close(fd);
        execve(e->pasta, argv, envp);
        _exit(127);
    }
    close(devnull);
    return pid > 0 ? pid : 0;
}

/* Kills a pasta; it is reaped from the timer (fn_netns_refill) without blocking, or by
 * fn_netns_fini. Schedules nothing: fini runs after the loop is gone. */
static void pasta_stop(struct fn_engine *e, pid_t pid)
{
    if (pid <= 0)
        return;
    (void)kill(pid, SIGKILL);
    if (e->net_reap_n == e->net_reap_cap) {
        e->net_reap_cap = e->net_reap_cap ? e->net_reap_cap * 2 : 8;
        e->net_reap = qr_xrealloc(e->net_reap, e->net_reap_cap * sizeof(*e->net_reap));
    }
    e->net_reap[e->net_reap_n++] = pid;
}

static void pasta_reap(struct fn_engine *e)
{
    size_t k = 0;
    for (size_t i = 0; i < e->net_reap_n; i++)
        if (waitpid(e->net_reap[i], NULL, WNOHANG) == 0)
            e->net_reap[k++] = e->net_reap[i];
    e->net_reap_n = k;
    if (k)
        fn_schedule_fast(e);
}

/* Waits until pasta has given r's namespace its default route (a connect of the UDP
 * socket made inside it finds a route: no packet is sent). Usually done before the
 * namespace leaves the pool. */
static bool pasta_wait(struct fn_netns_ready *r)
{
    struct sockaddr_in probe = {.sin_family = AF_INET, .sin_port = htons(9)};
    probe.sin_addr.s_addr = htonl(0xcb007101); /* 203.0.113.1, TEST-NET-3 */
    if (r->probe_fd < 0)
        return true;
    for (int ms = 0; ms < NET_WAIT_MS; ms++) {
        if (connect(r->probe_fd, (struct sockaddr *)&probe, sizeof(probe)) == 0) {
            close(r->probe_fd);
            r->probe_fd = -1;
            return true;
        }
        if (errno != ENETUNREACH)
            break; /* the namespace is broken */
        if (waitpid(r->net_pid, NULL, WNOHANG) != 0) {
            r->net_pid = 0; /* gone and reaped: its pid is not ours to kill any more */
            break;
        }
        struct timespec ts = {0, 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return false;
}

static void ready_close(struct fn_engine *e, struct fn_netns_ready *r)
{
    int *fds[] = {&r->ns_fd, &r->rt_fd, &r->api_fd, &r->probe_fd};
    for (size_t i = 0; i < sizeof(fds) / sizeof(*fds); i++) {
        if (*fds[i] >= 0)
            close(*fds[i]);
        *fds[i] = -1;
    }
    pasta_stop(e, r->net_pid);
    r->net_pid = 0;
}

/* Makes a namespace with loopback up and the two listening sockets; the calling thread
 * returns to the host's namespace whatever happens. */
static bool ready_make(struct fn_engine *e, struct fn_netns_ready *r)
{
    r->ns_fd = r->rt_fd = r->api_fd = r->probe_fd = -1;
    r->net_pid = 0;
    if (unshare(CLONE_NEWNET) != 0)
        return false;
    uint16_t api_port = ntohs(e->api_addr.sin_port);
    bool ok = lo_up();
    if (ok && api_port)
        ok = (r->api_fd = fn_listen_loopback(api_port, PROXY_BACKLOG)) >= 0;
    if (ok)
        ok = (r->rt_fd = fn_listen_loopback(api_port == RUNTIME_API_PORT ? 0 : RUNTIME_API_PORT,
                                            16)) >= 0;
    if (ok)
        ok = (r->ns_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)) >= 0;
    if (ok && e->pasta)
        ok = (r->probe_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) >= 0;
    /* Back to the host's namespace, or every later connection of this thread would be
     * made in the wrong one: there is no way to go on from that. */
    if (setns(e->host_netns_fd, CLONE_NEWNET) != 0) {
        fprintf(stderr, "fn: cannot return to the host network namespace: %s\n",
                strerror(errno));
        abort();
    }
    if (ok && e->pasta)
        ok = (r->net_pid = pasta_start(e, r->ns_fd)) > 0;
    if (!ok) {
        ready_close(e, r);
        fn_schedule_fast(e); /* reaps its pasta, if it had one */
    }
    return ok;
}

void fn_netns_refill(struct fn_engine *e)
{
    pasta_reap(e);
    while (e->netns && e->ns_pool_n < FN_NETNS_POOL &&
           ready_make(e, &e->ns_pool[e->ns_pool_n]))
        e->ns_pool_n++;
}

enum qr_err fn_netns_open(struct fn_env *env)
{
    struct fn_engine *e = env->e;
    struct fn_netns_ready r;
    if (e->ns_pool_n > 0) {
        r = e->ns_pool[--e->ns_pool_n];
        fn_schedule_fast(e); /* refilled there, after this cold start */
    } else if (!ready_make(e, &r)) {
        return QR_E_IO;
    }
    if (!pasta_wait(&r)) {
        fprintf(stderr, "fn: pasta did not configure a function's network\n");
        ready_close(e, &r);
        fn_schedule_fast(e);
        return QR_E_IO;
    }
    env->netns_fd = r.ns_fd;
    env->net_pid = r.net_pid;
    if (r.api_fd >= 0) {
        env->api_listener = h2o_evloop_socket_create(e->loop, r.api_fd, H2O_SOCKET_FLAG_DONT_READ);
        env->api_listener->data = env;
        h2o_socket_read_start(env->api_listener, api_on_accept);
    }
    if (fn_rt_adopt(env, r.rt_fd) != QR_OK) {
        fn_netns_close(env);
        return QR_E_IO;
    }
    return QR_OK;
}

void fn_netns_close(struct fn_env *env)
{
    while (!h2o_linklist_is_empty(&env->proxies))
        proxy_close(H2O_STRUCT_FROM_MEMBER(struct fn_proxy, link, env->proxies.next));
    if (env->api_listener) {
        h2o_socket_close(env->api_listener);
        env->api_listener = NULL;
    }
    if (env->netns_fd >= 0)
        close(env->netns_fd);
    env->netns_fd = -1;
    if (env->net_pid > 0) {
        pasta_stop(env->e, env->net_pid);
        env->net_pid = 0;
        fn_schedule_fast(env->e);
    }
}
