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
 */
#include "fn/fn_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define RUNTIME_API_PORT 9001 /* AWS's */
#define PROXY_BACKLOG    64

static void ready_close(struct fn_netns_ready *r);

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
        ready_close(&e->ns_pool[--e->ns_pool_n]);
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

static void ready_close(struct fn_netns_ready *r)
{
    int *fds[] = {&r->ns_fd, &r->rt_fd, &r->api_fd};
    for (size_t i = 0; i < 3; i++) {
        if (*fds[i] >= 0)
            close(*fds[i]);
        *fds[i] = -1;
    }
}

/* Makes a namespace with loopback up and the two listening sockets; the calling thread
 * returns to the host's namespace whatever happens. */
static bool ready_make(struct fn_engine *e, struct fn_netns_ready *r)
{
    r->ns_fd = r->rt_fd = r->api_fd = -1;
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
    /* Back to the host's namespace, or every later connection of this thread would be
     * made in the wrong one: there is no way to go on from that. */
    if (setns(e->host_netns_fd, CLONE_NEWNET) != 0) {
        fprintf(stderr, "fn: cannot return to the host network namespace: %s\n",
                strerror(errno));
        abort();
    }
    if (!ok)
        ready_close(r);
    return ok;
}

void fn_netns_refill(struct fn_engine *e)
{
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
    env->netns_fd = r.ns_fd;
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
}
