/*
 * test_fn.c - the functions engine with real processes: a custom runtime written in sh
 * (tests/unit/fn_fixtures/bootstrap.sh, speaking the Runtime API with curl) mapped by a
 * runtimes file. Results, warm reuse, concurrency and throttling, timeouts, crashes,
 * init errors, oversized responses, log tails, function credentials, revisions, the
 * sandbox (when bwrap works), and that no child outlives the engine or a sweep.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "auth/creds.h"
#include "fn/fn.h"

struct fixture {
    char dir[64];
    char rtfile[128];
    char code[PATH_MAX];
    char empty[PATH_MAX + 16];
    struct creds *creds;
    struct fn_engine *e;
};

struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    enum fn_status status;
    char etype[128];
    char *payload;
    size_t payload_len;
    char *tail;
    uint64_t init_us;
    char request_id[37];
};

static void on_done(void *arg, struct fn_result *r)
{
    struct waiter *w = arg;
    pthread_mutex_lock(&w->mu);
    w->status = r->status;
    snprintf(w->etype, sizeof(w->etype), "%s", r->error_type ? r->error_type : "");
    w->payload = calloc(1, r->payload_len + 1);
    if (r->payload_len)
        memcpy(w->payload, r->payload, r->payload_len);
    w->payload_len = r->payload_len;
    if (r->log_tail) {
        w->tail = calloc(1, r->log_tail_len + 1);
        memcpy(w->tail, r->log_tail, r->log_tail_len);
    }
    w->init_us = r->init_us;
    memcpy(w->request_id, r->request_id, sizeof(w->request_id));
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void waiter_init(struct waiter *w)
{
    memset(w, 0, sizeof(*w));
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
}

static void waiter_dispose(struct waiter *w)
{
    free(w->payload);
    free(w->tail);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
}

/* Waits for the callback with a deadline (every wait has one). */
static void waiter_wait(struct waiter *w, int secs)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += secs;
    pthread_mutex_lock(&w->mu);
    while (!w->done)
        if (pthread_cond_timedwait(&w->cv, &w->mu, &ts) == ETIMEDOUT)
            break;
    bool done = w->done;
    pthread_mutex_unlock(&w->mu);
    assert_true(done);
}

static void base_cfg(struct fixture *f, struct fn_config *c)
{
    memset(c, 0, sizeof(*c));
    c->name = "f1";
    c->arn = "arn:aws:lambda:us-east-1:123456789012:function:f1";
    c->version = "$LATEST";
    c->revision = "r1";
    c->runtime = "test.sh";
    c->handler = "h";
    c->code_dir = f->code;
    c->role = "arn:aws:iam::123456789012:role/lambda-ex";
    c->timeout_s = 10;
    c->memory_mb = 128;
    c->reserved_concurrency = -1;
}

static unsigned seq;

static void start(struct fixture *f, const struct fn_config *c, const char *event, bool tail,
                  struct waiter *w)
{
    char id[37];
    snprintf(id, sizeof(id), "00000000-0000-4000-8000-%012u", ++seq);
    waiter_init(w);
    struct fn_invoke inv = {
        .cfg = c,
        .payload = qr_slice_cstr(event),
        .request_id = id,
        .want_log_tail = tail,
    };
    assert_int_equal(fn_invoke(f->e, &inv, on_done, w), QR_OK);
}

static void invoke(struct fixture *f, const struct fn_config *c, const char *event, bool tail,
                   struct waiter *w)
{
    start(f, c, event, tail, w);
    waiter_wait(w, 30);
}

static long payload_int(const struct waiter *w, const char *field)
{
    json_error_t err;
    json_t *j = json_loads(w->payload, 0, &err);
    assert_non_null(j);
    json_t *v = json_object_get(j, field);
    assert_true(json_is_integer(v));
    long r = (long)json_integer_value(v);
    json_decref(j);
    return r;
}

static char *payload_str(const struct waiter *w, const char *field)
{
    json_error_t err;
    json_t *j = json_loads(w->payload, 0, &err);
    assert_non_null(j);
    const char *s = json_string_value(json_object_get(j, field));
    assert_non_null(s);
    char *r = strdup(s);
    json_decref(j);
    return r;
}

/* Polls, with a deadline, until pid no longer exists. */
static bool gone_within(pid_t pid, int ms)
{
    for (int i = 0; i < ms / 10; i++) {
        if (kill(pid, 0) != 0 && errno == ESRCH)
            return true;
        usleep(10000);
    }
    return false;
}

static struct fn_engine *new_engine(struct fixture *f, bool sandbox)
{
    static char runtimes[PATH_MAX];
    if (!realpath("runtimes", runtimes))
        runtimes[0] = '\0';
    struct fn_engine_opts o = {
        .data_dir = f->dir,
        .endpoint_url = "http://127.0.0.1:1",
        .region = "us-east-1",
        .account_id = "123456789012",
        .runtimes_file = f->rtfile,
        .max_instances = 4,
        .idle_timeout_s = 60,
        .sandbox = sandbox,
        .creds = f->creds,
        .runtimes_dir = runtimes[0] ? runtimes : NULL,
    };
    struct fn_engine *e = NULL;
    assert_int_equal(fn_engine_new(&o, &e), QR_OK);
    return e;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    strcpy(f->dir, "/tmp/test_fn.XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->rtfile, sizeof(f->rtfile), "%s/runtimes.json", f->dir);
    FILE *fp = fopen(f->rtfile, "w");
    if (!fp)
        return -1;
    fputs("{\"runtimes\": {\"test.sh\": {\"command\": [\"/bin/sh\", "
          "\"${task_root}/bootstrap.sh\"]}}}\n",
          fp);
    fclose(fp);
    const char *src = getenv("FN_FIXTURES");
    if (!realpath(src ? src : "tests/unit/fn_fixtures", f->code))
        return -1;
    snprintf(f->empty, sizeof(f->empty), "%s/empty", f->code);
    if (creds_new(f->dir, "AKIDEXAMPLE", "secret", &f->creds) != QR_OK)
        return -1;
    f->e = new_engine(f, false);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[128];
    fn_engine_free(f->e);
    creds_free(f->creds);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void test_runtime_table(void **state)
{
    struct fixture *f = *state;
    assert_true(fn_runtime_supported(f->e, QR_SLICE_LIT("test.sh")));
    assert_true(fn_runtime_supported(f->e, QR_SLICE_LIT("provided.al2023")));
    assert_true(fn_runtime_supported(f->e, QR_SLICE_LIT("provided")));
    assert_false(fn_runtime_supported(f->e, QR_SLICE_LIT("cobol1.0")));
    assert_false(fn_runtime_supported(f->e, QR_SLICE_LIT("")));
}

static void test_result_and_warm_reuse(void **state)
{
    struct fixture *f = *state;
    struct fn_config c;
    struct waiter a, b;
    base_cfg(f, &c);
    invoke(f, &c, "hello", false, &a);
    assert_int_equal(a.status, FN_OK);
    assert_int_equal(payload_int(&a, "n"), 1);
    assert_true(a.init_us > 0);
    assert_memory_equal(a.request_id, "00000000-0000-4000-8000-", 24);
    invoke(f, &c, "again", false, &b);
    assert_int_equal(b.status, FN_OK);
    assert_int_equal(payload_int(&b, "pid"), payload_int(&a, "pid"));
    assert_int_equal(payload_int(&b, "n"), 2);
    assert_int_equal(b.init_us, 0);
    waiter_dispose(&a);
    waiter_dispose(&b);
}

static void test_two_concurrent_two_instances(void **state)
{
    struct fixture *f = *state;
    struct fn_config c;
    struct waiter a, b;
    base_cfg(f, &c);
    start(f, &c, "slow", false, &a);
    start(f, &c, "slow", false, &b);
    waiter_wait(&a, 30);
    waiter_wait(&b, 30);
    assert_int_equal(a.status, FN_OK);
    assert_int_equal(b.status, FN_OK);
    assert_int_not_equal(payload_int(&a, "pid"), payload_int(&b, "pid"));
    waiter_dispose(&a);
    waiter_dispose(&b);
}

static void test_reserved_concurrency(void **state)
{
    struct fixture *f = *state;
    struct fn_config c;
    struct waiter a, b;
    base_cfg(f, &c);
    c.reserved_concurrency = 1;
    start(f, &c, "slow", false, &a);
    start(f, &c, "slow", false, &b);
    waiter_wait(&a, 30);
    waiter_wait(&b, 30);
    assert_int_equal(a.status, FN_OK);
    assert_int_equal(b.status, FN_THROTTLED);
    waiter_dispose(&a);
    waiter_dispose(&b);
    c.reserved_concurrency = 0;
    invoke(f, &c, "x", false, &a);
    assert_int_equal(a.status, FN_THROTTLED);
    waiter_dispose(&a);
}

static void test_timeout(void **state)
{
    struct fixture *f = *state;
    struct fn_config c;
    struct waiter a, b;
    base_cfg(f, &c);
    c.timeout_s = 1;
    invoke(f, &c, "first", false, &a);
    assert_int_equal(a.status, FN_OK);
    pid_t pid = (pid_t)payload_int(&a, "pid");
    invoke(f, &c, "sleep", true, &b);
    assert_int_equal(b.status, FN_FUNCTION_ERROR);
    assert_string_equal(b.etype, "Sandbox.Timedout");
    char want[128];
    snprintf(want, sizeof(want), " %s Task timed out after 1.00 seconds\"}", b.request_id);
    assert_non_null(strstr(b.payload, want));
    assert_memory_equal(b.payload, "{\"errorMessage\":\"20", 19);
    assert_non_null(strstr(b.tail, "Task timed out after 1.00 seconds\n"));
    assert_non_null(strstr(b.tail, "Status: timeout"));
    assert_true(gone_within(pid, 5000));
    waiter_dispose(&a);
    waiter_dispose(&b);
    /* the next invoke gets a fresh environment */
    invoke(f, &c, "after", false, &a);
    assert_int_equal(a.status, FN_OK);
    assert_int_equal(payload_int(&a, "n"), 1);
    waiter_dispose(&a);
}

static void test_crash(void **state)
{
    struct fixture *f = *state;
    struct fn_config c;
    struct waiter a;
    base_cfg(f, &c);
    invoke(f, &c, "exit3", true, &a);
    assert_int_equal(a.status, FN_FUNCTION_ERROR);
    assert_string_equal(a.etype, "Runtime.ExitError");
    char want[256];
    snprintf(want, sizeof(want),
             "{\"errorType\":\"Runtime.ExitError\",\"errorMessage\":\"RequestId: %s Error: "
             "Runtime exited with error: exit status 3\"}",
             a.request_id);
    assert_string_equal(a.payload, want);
    assert_non_null(strstr(a.tail, "fn line 1 exit3\n"));
    waiter_dispose(&a);
}

static void test_function_error(void **state)
{
    struct fixture *f = *state;
    struct fn_config c;
    struct waiter a;
    base_cfg(f, &c);
    invoke(f, &c, "fail", false, &a);
    assert_int_equal(a.status, FN_FUNCTION_ERROR);
    assert_string_equal(a.etype, "Custom.Boom");
    assert_string_equal(a.payload, "{\"errorMessage\":\"boom\",\"errorType\":\"Custom.Boom\"}");
    waiter_dispose(&a);
}

static void test_init_error(void **state)
{
    struct fixture *f = *state;
    struct fn_config c;
    struct waiter a;
    base_cfg(f, &c);
    c.handler = "initfail";
    invoke(f, &c, "x", true, &a);
    assert_int_equal(a.status, FN_INIT_FAILED);
    assert_string_equal(a.etype, "Runtime.ImportModuleError");
    assert_string_equal(a.payload, "{\"errorMessage\":\"Unable to import module\","
                                   "\"errorType\":\"Runtime.ImportModuleError\"}");
    assert_non_null(strstr(a.tail, "init failing on purpose\n"));
    waiter_dispose(&a);
}

static void test_oversized_response(void **state)
{
    struct fixture *f = *state;
    struct fn_config c;
    struct waiter a, b;
    base_cfg(f, &c);
    invoke(f, &c, "big", false, &a);
    assert_int_equal(a.status, FN_TOO_LARGE);
    assert_string_equal(a.etype, "Function.ResponseSizeTooLarge");
    assert_non_null(strstr(a.payload, "Response payload size (7000000 bytes) exceeded maximum "
                                      "allowed payload size (6291556 bytes)."));
    /* the runtime carries on and serves the next invoke */
    invoke(f, &c, "ok", false, &b);
    assert_int_equal(b.status, FN_OK);
    waiter_dispose(&a);
    waiter_dispose(&b);

    /* an event over 6 MB is refused up front */
    static char big[6291557];
    memset(big, 'a', sizeof(big));
    struct fn_invoke inv = {.cfg = &c, .payload = qr_slice(big, sizeof(big)), .request_id = "x"};
    assert_int_equal(fn_invoke(f->e, &inv, on_done, NULL), QR_E_TOO_LARGE);
}

static void test_log_tail(void **state)
{
    struct fixture *f = *state;
    struct fn_config c;
    struct waiter a, b;
    char want[256];
    base_cfg(f, &c);
    invoke(f, &c, "one", true, &a);
    invoke(f, &c, "two", true, &b);
    assert_int_equal(b.status, FN_OK);
    snprintf(want, sizeof(want), "START RequestId: %s Version: $LATEST\nfn line 2 two\n"
             "END RequestId: %s\nREPORT RequestId: %s\tDuration: ",
             b.request_id, b.request_id, b.request_id);
    assert_memory_equal(b.tail, want, strlen(want));
    assert_non_null(strstr(b.tail, " ms\tMemory Size: 128 MB\tMax Memory Used: "));
    assert_null(strstr(b.tail, "Init Duration"));
    assert_null(strstr(b.tail, "fn line 1"));
    /* the first tail has the init output and the init duration */
    assert_non_null(strstr(a.tail, "init done\n"));
    assert_non_null(strstr(a.tail, "\tInit Duration: "));
    waiter_dispose(&a);
    waiter_dispose(&b);
}

static void test_credentials_and_env(void **state)
{
    struct fixture *f = *state;
    struct fn_config c;
    struct waiter a;
    struct creds_identity id;
    base_cfg(f, &c);
    c.memory_mb = 256;
    invoke(f, &c, "creds", false, &a);
    assert_int_equal(a.status, FN_OK);
    char *akid = payload_str(&a, "akid"), *token = payload_str(&a, "token");
    char *secret = payload_str(&a, "secret"), *mem = payload_str(&a, "mem");
    char *stream = payload_str(&a, "stream"), *fn = payload_str(&a, "fn");
    assert_int_equal(creds_lookup(f->creds, qr_slice_cstr(akid), qr_slice_cstr(token),
                                  (int64_t)time(NULL) * 1000, &id),
                     QR_OK);
    assert_int_equal(id.kind, CREDS_FUNCTION);
    assert_string_equal(id.principal, c.role);
    assert_string_equal(id.function, "f1");
    assert_string_equal(id.secret, secret);
    assert_string_equal(mem, "256");
    assert_string_equal(fn, "f1");
    /* YYYY/MM/DD/[$LATEST] + 32 hex */
    assert_int_equal(strlen(stream), 11 + 9 + 32);
    assert_memory_equal(stream + 10, "/[$LATEST]", 10);
    free(akid), free(token), free(secret), free(mem), free(stream), free(fn);
    waiter_dispose(&a);
}

static void test_revision_retires(void **state)
{
    struct fixture *f = *state;
    struct fn_config c;
    struct waiter a, b;
    base_cfg(f, &c);
    invoke(f, &c, "r1", false, &a);
    c.revision = "r2";
    invoke(f, &c, "r2", false, &b);
    pid_t old = (pid_t)payload_int(&a, "pid"), cur = (pid_t)payload_int(&b, "pid");
    assert_int_not_equal(cur, old);
    assert_int_equal(payload_int(&b, "n"), 1);
    assert_true(gone_within(old, 5000));
    /* fn_retire stops the rest */
    assert_int_equal(kill(cur, 0), 0);
    fn_retire(f->e, "f1");
    assert_true(gone_within(cur, 5000));
    waiter_dispose(&a);
    waiter_dispose(&b);
}

static void test_missing_bootstrap(void **state)
{
    struct fixture *f = *state;
    struct fn_config c;
    struct waiter a;
    base_cfg(f, &c);
    c.runtime = "provided.al2023";
    c.code_dir = f->empty;
    invoke(f, &c, "x", false, &a);
    assert_int_equal(a.status, FN_FUNCTION_ERROR);
    assert_string_equal(a.etype, "Runtime.InvalidEntrypoint");
    waiter_dispose(&a);
}

static void test_free_leaves_no_child(void **state)
{
    struct fixture *f = *state;
    struct fn_config c;
    struct waiter a;
    base_cfg(f, &c);
    invoke(f, &c, "x", false, &a);
    pid_t pid = (pid_t)payload_int(&a, "pid");
    assert_int_equal(kill(pid, 0), 0);
    fn_engine_free(f->e);
    f->e = NULL;
    assert_int_equal(kill(pid, 0), -1);
    assert_int_equal(errno, ESRCH);
    waiter_dispose(&a);
    f->e = new_engine(f, false);
}

static void test_sweep(void **state)
{
    struct fixture *f = *state;
    char path[PATH_MAX], stat_path[64], buf[1024];
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setsid();
        execl("/bin/sleep", "sleep", "60", (char *)NULL);
        _exit(127);
    }
    /* starttime, field 22 of /proc/PID/stat */
    snprintf(stat_path, sizeof(stat_path), "/proc/%d/stat", (int)pid);
    unsigned long long ticks = 0;
    for (int tries = 0; tries < 100 && ticks == 0; tries++) {
        FILE *fp = fopen(stat_path, "r");
        assert_non_null(fp);
        size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
        fclose(fp);
        buf[n] = '\0';
        char *p = strrchr(buf, ')');
        assert_non_null(p);
        int field = 2;
        for (char *tok = strtok(p + 1, " "); tok; tok = strtok(NULL, " "))
            if (++field == 22)
                ticks = strtoull(tok, NULL, 10);
    }
    assert_true(ticks > 0);
    snprintf(path, sizeof(path), "%s/fn/pids/%d", f->dir, (int)pid);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fprintf(fp, "%d %llu\n", (int)pid, ticks);
    fclose(fp);
    /* a stale entry (wrong start time) for our own pid must be ignored */
    snprintf(path, sizeof(path), "%s/fn/pids/%d", f->dir, (int)getpid());
    fp = fopen(path, "w");
    fprintf(fp, "%d 1\n", (int)getpid());
    fclose(fp);

    fn_engine_free(f->e);
    f->e = new_engine(f, false);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGKILL);
    assert_int_equal(access(path, F_OK), -1); /* cleared */
}

static void test_sandbox(void **state)
{
    struct fixture *f = *state;
    struct fn_config c;
    struct waiter a;
    struct fn_env_var ev[] = {{"PROBE_DATA", f->dir}};
    if (system("bwrap --ro-bind / / true >/dev/null 2>&1") != 0) {
        skip();
        return;
    }
    fn_engine_free(f->e);
    f->e = new_engine(f, true);
    base_cfg(f, &c);
    c.env = ev;
    c.n_env = 1;
    invoke(f, &c, "probe", false, &a);
    assert_int_equal(a.status, FN_OK);
    char *task = payload_str(&a, "task"), *data = payload_str(&a, "data");
    char *cwd = payload_str(&a, "cwd");
    assert_string_equal(task, "yes");
    assert_string_equal(data, "no");
    assert_string_equal(cwd, "/var/task");
    free(task), free(data), free(cwd);
    waiter_dispose(&a);
}

/* The image's Python through quarry's runtime (runtimes/python), plain and sandboxed,
 * and an out-of-memory kill by the memory cgroup. */
static void test_python(void **state)
{
    struct fixture *f = *state;
    struct fn_config c;
    struct waiter a;
    char code[PATH_MAX + 16];
    if (!fn_runtime_supported(f->e, QR_SLICE_LIT("python3.11"))) {
        skip();
        return;
    }
    snprintf(code, sizeof(code), "%s/py", f->code);
    for (int sandbox = 0; sandbox < 2; sandbox++) {
        if (sandbox) {
            fn_engine_free(f->e);
            f->e = new_engine(f, true);
        }
        base_cfg(f, &c);
        c.runtime = "python3.11";
        c.handler = "lambda_function.lambda_handler";
        c.code_dir = code;
        invoke(f, &c, "{\"k\": 7}", true, &a);
        assert_int_equal(a.status, FN_OK);
        assert_int_equal(payload_int(&a, "k"), 7);
        char *rid = payload_str(&a, "rid"), *task = payload_str(&a, "task");
        assert_string_equal(rid, a.request_id);
        assert_string_equal(task, sandbox ? "/var/task" : code);
        assert_non_null(strstr(a.tail, "py line 7\n"));
        free(rid), free(task);
        waiter_dispose(&a);
        invoke(f, &c, "{\"op\": \"oom\"}", false, &a);
        assert_int_equal(a.status, FN_FUNCTION_ERROR);
        /* with a memory cgroup the kernel kills it; with RLIMIT_DATA Python raises
         * MemoryError, which the runtime reports as a function error */
        assert_true(strcmp(a.etype, "Runtime.OutOfMemory") == 0 ||
                    strcmp(a.etype, "MemoryError") == 0);
        waiter_dispose(&a);
    }
}

static void test_bad_input(void **state)
{
    struct fixture *f = *state;
    struct fn_config c;
    base_cfg(f, &c);
    struct fn_invoke inv = {.cfg = &c, .payload = QR_SLICE_LIT("{}"), .request_id = "bad id"};
    assert_int_equal(fn_invoke(f->e, &inv, on_done, NULL), QR_E_BAD_INPUT);
    inv.request_id = "ok-id";
    c.name = "bad/name";
    assert_int_equal(fn_invoke(f->e, &inv, on_done, NULL), QR_E_BAD_INPUT);
    base_cfg(f, &c);
    inv.client_context = QR_SLICE_LIT("!!!");
    assert_int_equal(fn_invoke(f->e, &inv, on_done, NULL), QR_E_BAD_INPUT);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_runtime_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_result_and_warm_reuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_concurrent_two_instances, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reserved_concurrency, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_function_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_init_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversized_response, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_credentials_and_env, setup, teardown),
        cmocka_unit_test_setup_teardown(test_revision_retires, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_bootstrap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_leaves_no_child, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sweep, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sandbox, setup, teardown),
        cmocka_unit_test_setup_teardown(test_python, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
