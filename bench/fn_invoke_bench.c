/*
 * fn_invoke_bench.c - invokes/s of the functions engine called in process (fn_invoke, as
 * the batch engine calls it), without HTTP: the floor under every Lambda Invoke.
 *
 *   fn_invoke_bench RUNTIMES_DIR CODE_DIR DATA_DIR SECONDS CONCURRENCY [nosandbox]
 *
 * CODE_DIR holds a provided.al2023 `bootstrap` (bench/lambda-invoke builds
 * runtimes/c/examples/noop.c there). The first invoke is timed alone (cold start: the
 * engine starts the instance); then CONCURRENCY invocations are kept in flight, issued
 * from this thread and completed on the engine's thread: half a second of warm-up (every
 * instance started, not counted), then SECONDS timed. Prints one line
 * of key=value pairs for the script: cold_us, n, errors, secs, per_s, p50_us, p99_us.
 * Built by bench/lambda-invoke with the project's flags against $BUILD/libqcore.a.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fn/fn.h"

#define MAX_SAMPLES (4u * 1024u * 1024u)

struct bench {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned inflight;
    uint64_t done;
    uint64_t errors;
    uint64_t *lat_ns; /* one per completed invoke, up to MAX_SAMPLES */
    size_t n_lat;
};

struct slot {
    struct bench *b;
    uint64_t t0;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void on_done(void *arg, struct fn_result *res)
{
    struct slot *s = arg;
    struct bench *b = s->b;
    uint64_t t = now_ns() - s->t0;
    pthread_mutex_lock(&b->mu);
    if (res->status != FN_OK) {
        if (b->errors < 5)
            fprintf(stderr, "invoke failed: status %d %s %.*s\n", (int)res->status,
                    res->error_type ? res->error_type : "", (int)(res->payload_len > 300 ? 300 : res->payload_len),
                    res->payload ? (const char *)res->payload : "");
        b->errors++;
    }
    if (b->n_lat < MAX_SAMPLES)
        b->lat_ns[b->n_lat++] = t;
    b->done++;
    b->inflight--;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
    free(s);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static enum qr_err issue(struct fn_engine *e, struct bench *b, const struct fn_config *cfg, uint64_t i)
{
    char rid[40];
    snprintf(rid, sizeof(rid), "00000000-0000-4000-8000-%012" PRIx64, i);
    struct slot *s = malloc(sizeof(*s));
    if (s == NULL)
        return QR_E_INTERNAL;
    s->b = b;
    s->t0 = now_ns();
    static const char ev[] = "{}";
    struct fn_invoke inv = {
        .cfg = cfg,
        .payload = {.p = (const uint8_t *)ev, .len = sizeof(ev) - 1},
        .request_id = rid,
    };
    enum qr_err err = fn_invoke(e, &inv, on_done, s);
    if (err != QR_OK)
        free(s);
    return err;
}

/* Keeps conc invocations in flight for secs; returns the elapsed seconds (every issued
 * invoke finished), or -1 on an engine error. */
static double run_phase(struct fn_engine *e, struct bench *b, const struct fn_config *cfg, unsigned conc,
                        double secs, uint64_t *i)
{
    int failed = 0;
    uint64_t start = now_ns(), end = start + (uint64_t)(secs * 1e9);
    pthread_mutex_lock(&b->mu);
    for (;;) {
        while (b->inflight >= conc)
            pthread_cond_wait(&b->cv, &b->mu);
        if (now_ns() >= end)
            break;
        b->inflight++;
        pthread_mutex_unlock(&b->mu);
        enum qr_err err = issue(e, b, cfg, (*i)++);
        pthread_mutex_lock(&b->mu);
        if (err != QR_OK) {
            b->inflight--;
            if (err != QR_E_BUSY) {
                fprintf(stderr, "fn_invoke: %s\n", qr_strerror(err));
                failed = 1;
                break;
            }
        }
    }
    while (b->inflight > 0)
        pthread_cond_wait(&b->cv, &b->mu);
    pthread_mutex_unlock(&b->mu);
    return failed ? -1.0 : (double)(now_ns() - start) / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: %s RUNTIMES_DIR CODE_DIR DATA_DIR SECONDS CONCURRENCY [nosandbox]\n",
                argv[0]);
        return 2;
    }
    double secs = atof(argv[4]);
    unsigned conc = (unsigned)atoi(argv[5]);
    if (conc == 0)
        conc = 1;
    struct fn_engine_opts o = {
        .data_dir = argv[3],
        .endpoint_url = "http://127.0.0.1:9",
        .region = "us-east-1",
        .account_id = "123456789012",
        .runtimes_dir = argv[1],
        .sandbox = !(argc > 6 && strcmp(argv[6], "nosandbox") == 0),
        .max_instances = conc + 4,
    };
    struct fn_engine *e = NULL;
    if (fn_engine_new(&o, &e) != QR_OK) {
        fprintf(stderr, "fn_engine_new failed\n");
        return 1;
    }
    struct fn_config cfg = {
        .name = "bench-noop",
        .arn = "arn:aws:lambda:us-east-1:123456789012:function:bench-noop",
        .version = "$LATEST",
        .revision = "r1",
        .runtime = "provided.al2023",
        .handler = "noop.handler",
        .code_dir = argv[2],
        .role = "arn:aws:iam::123456789012:role/bench",
        .timeout_s = 30,
        .memory_mb = 128,
        .reserved_concurrency = -1,
    };
    struct bench b = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    b.lat_ns = malloc(sizeof(*b.lat_ns) * MAX_SAMPLES);
    if (b.lat_ns == NULL)
        return 1;

    /* cold start: the first invoke starts the instance */
    uint64_t i = 0, t0 = now_ns();
    pthread_mutex_lock(&b.mu);
    b.inflight++;
    pthread_mutex_unlock(&b.mu);
    if (issue(e, &b, &cfg, i++) != QR_OK)
        return 1;
    pthread_mutex_lock(&b.mu);
    while (b.inflight > 0)
        pthread_cond_wait(&b.cv, &b.mu);
    uint64_t cold_ns = now_ns() - t0;
    b.n_lat = 0;
    b.done = 0;
    uint64_t cold_errors = b.errors;
    pthread_mutex_unlock(&b.mu);

    /* warm-up (not counted): conc in flight for half a second starts every instance */
    if (run_phase(e, &b, &cfg, conc, 0.5, &i) < 0)
        return 1;
    pthread_mutex_lock(&b.mu);
    b.n_lat = 0;
    b.done = 0;
    b.errors = 0;
    pthread_mutex_unlock(&b.mu);

    /* timed: keep conc in flight for secs */
    double elapsed_s = run_phase(e, &b, &cfg, conc, secs, &i);
    if (elapsed_s < 0)
        return 1;
    uint64_t elapsed = (uint64_t)(elapsed_s * 1e9);

    qsort(b.lat_ns, b.n_lat, sizeof(*b.lat_ns), cmp_u64);
    double p50 = b.n_lat ? (double)b.lat_ns[b.n_lat / 2] / 1e3 : 0;
    double p99 = b.n_lat ? (double)b.lat_ns[(b.n_lat * 99) / 100] / 1e3 : 0;
    printf("cold_us=%.1f cold_errors=%" PRIu64 " n=%" PRIu64 " errors=%" PRIu64
           " secs=%.3f per_s=%.0f p50_us=%.1f p99_us=%.1f\n",
           (double)cold_ns / 1e3, cold_errors, b.done, b.errors, (double)elapsed / 1e9,
           (double)b.done / ((double)elapsed / 1e9), p50, p99);
    fn_engine_free(e);
    free(b.lat_ns);
    return b.errors ? 1 : 0;
}
