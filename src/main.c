/* main.c - argv and environment -> struct qr_config -> server_init -> server_run. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api/s3/s3.h"
#include "fn/code.h"
#include "auth/authz.h"
#include "cli/cli.h"
#include "server.h"
#include "util/slice.h"

/* The documented local default; `make run` prints it. Override with the environment. */
#define DEFAULT_ROOT_AKID   "quarry"
#define DEFAULT_ROOT_SECRET "quarry-secret-key"

static void usage(FILE *f)
{
    fputs("usage: quarry serve [options]\n"
          "       quarry s3-operations   print every S3 operation and its state (markdown)\n"
          "       quarry iam explain [--data DIR] --principal ARN --action A [--resource ARN]\n"
          "       quarry job watch ID | manifest BUCKET [--prefix P] [--output s3://b/k|FILE]\n"
          "                  | rerun-failed ID   (batch jobs; see docs/batch.md)\n"
          "  --address A        listen address (default 127.0.0.1)\n"
          "  --port N           listen port, 0 picks a free one (default 9000)\n"
          "  --data DIR         data directory (default ./data)\n"
          "  --account-id ID    account id (default 123456789012)\n"
          "  --region R         region (default us-east-1)\n"
          "  --domain D         base name of virtual-hosted Host headers (default localhost)\n"
          "  --access-key K     root access key id (default $QUARRY_ROOT_ACCESS_KEY or "
          "'" DEFAULT_ROOT_AKID "')\n"
          "  --secret-key S     root secret (default $QUARRY_ROOT_SECRET_KEY or the local "
          "default)\n"
          "  --log-level L      debug|info|warn|error (default info: one line per request)\n"
          "  --access-log FILE  write request lines to FILE instead of stderr\n"
          "  --threads N        event-loop threads (default: one per core)\n"
          "  --workers N        worker threads for blocking work (default 32)\n"
          "  --max-body BYTES   largest request body (default 5 GiB)\n"
          "  --max-inflight-body BYTES  body bytes being processed at once (default 2 GiB)\n"
          "  --max-conns N      open connections in total; over it the oldest idle one is\n"
          "                     closed, or the new one refused (default 10000, capped by\n"
          "                     the descriptor limit)\n"
          "  --max-conns-per-ip N  open connections from one client address (default 1000)\n"
          "  --header-timeout MS   time to send a request head once begun (default 10000)\n"
          "  --idle-timeout MS  keep-alive connection with no request (default 60000)\n"
          "  --min-body-rate B  body bytes per second a sender must keep up, measured over\n"
          "                     --header-timeout (default 1024)\n"
          "  --tls-cert FILE    PEM certificate chain: serve HTTPS on --tls-port as well\n"
          "  --tls-key FILE     PEM private key of --tls-cert\n"
          "  --tls-port N       HTTPS port, 0 picks a free one (default 9443)\n"
          "  --no-fsync         acknowledge writes before they are durable (throwaway data)\n"
          "  --no-default-encryption  store objects unencrypted unless the request or the\n"
          "                     bucket's default encryption asks (S3 encrypts all; see docs/s3.md)\n"
          "  --sse-c-over-http  accept SSE-C keys on plain HTTP (S3 refuses: HTTPS only)\n"
          "  --runtimes FILE    JSON runtime table for functions (see docs/functions.md)\n"
          "  --max-instances N  function instances running at once, all functions\n"
          "  --no-sandbox       run functions without bubblewrap (no filesystem isolation);\n"
          "                     without this flag and without bubblewrap, functions are refused\n"
          "  --function-pids-max N  processes and threads per function instance (default 1024)\n"
          "  --function-code-max BYTES  all unpacked function code together (default 10 GiB,\n"
          "                     0: no cap)\n"
          "  --function-network outbound network for functions (passt's pasta; the host's\n"
          "                     loopback stays out of reach)\n"
          "  --function-credentials-ttl S  lifetime of a function instance's credentials\n"
          "                     (default 43200; shorter values are for testing renewal)\n"
          "  --key-use-flush-interval MS  save access key last-used dates this often\n"
          "                     (default 60000; a clean stop saves them too)\n"
          "  --batch-tasks-per-invocation N  batch jobs' default of the quarry:tasks-per-\n"
          "                     invocation tag, 1-64 (default 1, as AWS; docs/batch.md)\n"
          "  --batch-concurrency N  default of quarry:concurrency, LambdaInvoke invocations\n"
          "                     in flight per job, 1-64 (default 16)\n"
          "  --batch-max-retries N  default of quarry:max-retries, 0-20 (default 3)\n"
          "  --batch-failure-threshold PCT  default of quarry:failure-threshold-percent,\n"
          "                     0-100 (default 50, as AWS; 100 never fails a job)\n",
          f);
}

/* Everything in DATA is the server's alone: an existing directory opened to others (an
 * older quarry made it 0755, its files 0644) is closed with a warning. Only DATA itself
 * and its direct entries: a closed DATA keeps everyone out of what lies below, and a
 * walk over every blob would slow every start. Group x on DATA is left (--no-sandbox as
 * root opens DATA to the functions' group that way). */
static void close_data_dir(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) != 0)
        return; /* the store creates it, with umask 077 */
    if (st.st_mode & 067) {
        fprintf(stderr, "quarry: warning: %s was mode %03o, now 0700\n", dir,
                (unsigned)(st.st_mode & 0777));
        if (chmod(dir, 0700) != 0)
            perror("quarry: chmod");
    }
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        char path[4096];
        if (de->d_name[0] == '.' ||
            snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path) ||
            lstat(path, &st) != 0 || S_ISLNK(st.st_mode) || (st.st_mode & 077) == 0)
            continue;
        if (S_ISDIR(st.st_mode) && strcmp(de->d_name, "functions") == 0 && !(st.st_mode & 067))
            continue; /* 0710: see above */
        fprintf(stderr, "quarry: warning: %s was mode %03o, now private\n", path,
                (unsigned)(st.st_mode & 0777));
        if (chmod(path, st.st_mode & 0700) != 0)
            perror("quarry: chmod");
    }
    if (d)
        closedir(d);
}

/* `quarry iam explain --data DIR --principal ARN --action A --resource R`: the decision
 * and the statement that made it, from the data directory's IAM state (read-only). */
static int iam_explain(int argc, char **argv)
{
    const char *data = "./data", *account = "123456789012", *principal = NULL, *action = NULL,
               *resource = "*";
    for (int i = 3; i + 1 < argc; i += 2) {
        static const char *const names[] = {"--data", "--account-id", "--principal", "--action",
                                            "--resource"};
        const char **slots[] = {&data, &account, &principal, &action, &resource};
        size_t k = 0;
        while (k < 5 && strcmp(argv[i], names[k]) != 0)
            k++;
        if (k == 5) {
            fprintf(stderr, "quarry iam explain: bad option %s\n", argv[i]);
            return 2;
        }
        *slots[k] = argv[i + 1];
    }
    if (!principal || !action || (argc - 3) % 2 != 0) {
        fprintf(stderr, "usage: quarry iam explain [--data DIR] [--account-id ID] --principal ARN "
                        "--action ACTION [--resource ARN]\n");
        return 2;
    }
    return authz_explain(data, account, principal, action, resource, stdout);
}

/* The built-in root keys are public (they are in this file): fine on loopback, where only
 * this machine can use them, and refused anywhere else. */
static bool default_keys_exposed(const struct qr_config *c)
{
    bool defaults = strcmp(c->root_akid, DEFAULT_ROOT_AKID) == 0 ||
                    strcmp(c->root_secret, DEFAULT_ROOT_SECRET) == 0;
    bool loopback = strncmp(c->address, "127.", 4) == 0 || strcmp(c->address, "::1") == 0 ||
                    strcmp(c->address, "localhost") == 0;
    return defaults && !loopback;
}

static int parse_uint(const char *s, uint64_t max, uint64_t *out)
{
    return qr_slice_u64(qr_slice_cstr(s), max, out) ? 0 : -1;
}

int main(int argc, char **argv)
{
    /* Data, database, blobs, code and logs: readable by the server's user only. */
    umask(077);
    struct qr_config cfg = {
        .address = "127.0.0.1",
        .port = 9000,
        .data_dir = "./data",
        .account_id = "123456789012",
        .region = "us-east-1",
        .domain = "localhost",
        .log_level = QR_LOG_INFO,
        .max_body = 5ull * 1024 * 1024 * 1024,
        .max_inflight_body = 2ull * 1024 * 1024 * 1024,
        .fn_code_max = FN_CODE_CAP_DEFAULT,
        .max_conns = 10000,
        .max_conns_per_ip = 1000,
        .header_timeout_ms = 10000,
        .idle_timeout_ms = 60000,
        .min_body_rate = 1024,
        .tls_port = 9443,
        .batch = BATCH_DEFAULTS_BUILTIN,
    };
    cfg.root_akid = getenv("QUARRY_ROOT_ACCESS_KEY");
    cfg.root_secret = getenv("QUARRY_ROOT_SECRET_KEY");
    if (!cfg.root_akid || !*cfg.root_akid)
        cfg.root_akid = DEFAULT_ROOT_AKID;
    if (!cfg.root_secret || !*cfg.root_secret)
        cfg.root_secret = DEFAULT_ROOT_SECRET;

    if (argc == 2 && strcmp(argv[1], "s3-operations") == 0) {
        s3_routes_print(stdout); /* docs/s3.md's operation table, from the route table */
        return 0;
    }
    if (argc >= 3 && strcmp(argv[1], "iam") == 0 && strcmp(argv[2], "explain") == 0)
        return iam_explain(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "job") == 0)
        return cli_job(argc - 1, argv + 1);
    if (argc < 2 || strcmp(argv[1], "serve") != 0) {
        usage(argc >= 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
        return argc >= 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
    }
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t n;
        if (strcmp(a, "--no-fsync") == 0) {
            cfg.no_fsync = true;
            continue;
        }
        if (strcmp(a, "--no-default-encryption") == 0) {
            cfg.no_default_sse = true;
            continue;
        }
        if (strcmp(a, "--sse-c-over-http") == 0) {
            cfg.sse_c_plain_http = true;
            continue;
        }
        if (strcmp(a, "--no-sandbox") == 0) {
            cfg.no_sandbox = true;
            continue;
        }
        if (strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--function-network") == 0) {
            cfg.function_network = true;
            continue;
        }
        if (!v) {
            fprintf(stderr, "quarry: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (strcmp(a, "--address") == 0)
            cfg.address = v;
        else if (strcmp(a, "--port") == 0 && parse_uint(v, 65535, &n) == 0)
            cfg.port = (uint16_t)n;
        else if (strcmp(a, "--data") == 0)
            cfg.data_dir = v;
        else if (strcmp(a, "--account-id") == 0)
            cfg.account_id = v;
        else if (strcmp(a, "--region") == 0)
            cfg.region = v;
        else if (strcmp(a, "--domain") == 0)
            cfg.domain = v;
        else if (strcmp(a, "--access-key") == 0)
            cfg.root_akid = v;
        else if (strcmp(a, "--secret-key") == 0)
            cfg.root_secret = v;
        else if (strcmp(a, "--access-log") == 0)
            cfg.access_log = v;
        else if (strcmp(a, "--runtimes") == 0)
            cfg.runtimes_file = v;
        else if (strcmp(a, "--max-instances") == 0 && parse_uint(v, 100000, &n) == 0)
            cfg.max_instances = (unsigned)n;
        else if (strcmp(a, "--function-pids-max") == 0 && parse_uint(v, 1u << 22, &n) == 0 &&
                 n >= 16)
            cfg.fn_pids_max = (unsigned)n;
        else if (strcmp(a, "--function-credentials-ttl") == 0 && parse_uint(v, 43200, &n) == 0 &&
                 n >= 1)
            cfg.fn_creds_ttl_s = (uint32_t)n;
        else if (strcmp(a, "--key-use-flush-interval") == 0 && parse_uint(v, 3600000, &n) == 0 &&
                 n >= 10)
            cfg.key_use_flush_ms = (uint32_t)n;
        else if (strcmp(a, "--function-code-max") == 0 && parse_uint(v, UINT64_MAX, &n) == 0)
            cfg.fn_code_max = n;
        else if (strcmp(a, "--batch-tasks-per-invocation") == 0 && parse_uint(v, 64, &n) == 0 &&
                 n >= 1)
            cfg.batch.tasks_per_invocation = (unsigned)n;
        else if (strcmp(a, "--batch-concurrency") == 0 && parse_uint(v, 64, &n) == 0 && n >= 1)
            cfg.batch.concurrency = (unsigned)n;
        else if (strcmp(a, "--batch-max-retries") == 0 && parse_uint(v, 20, &n) == 0)
            cfg.batch.max_retries = (unsigned)n;
        else if (strcmp(a, "--batch-failure-threshold") == 0 && parse_uint(v, 100, &n) == 0)
            cfg.batch.failure_threshold_pct = (unsigned)n;
        else if (strcmp(a, "--threads") == 0 && parse_uint(v, 256, &n) == 0)
            cfg.threads = (unsigned)n;
        else if (strcmp(a, "--workers") == 0 && parse_uint(v, 1024, &n) == 0 && n > 0)
            cfg.workers = (unsigned)n;
        else if (strcmp(a, "--max-body") == 0 && parse_uint(v, UINT64_MAX, &n) == 0)
            cfg.max_body = n;
        else if (strcmp(a, "--max-inflight-body") == 0 && parse_uint(v, UINT64_MAX, &n) == 0)
            cfg.max_inflight_body = n;
        else if (strcmp(a, "--max-conns") == 0 && parse_uint(v, 1000000, &n) == 0 && n > 0)
            cfg.max_conns = (unsigned)n;
        else if (strcmp(a, "--max-conns-per-ip") == 0 && parse_uint(v, 1000000, &n) == 0 && n > 0)
            cfg.max_conns_per_ip = (unsigned)n;
        else if (strcmp(a, "--header-timeout") == 0 && parse_uint(v, 3600000, &n) == 0 && n > 0)
            cfg.header_timeout_ms = (uint32_t)n;
        else if (strcmp(a, "--idle-timeout") == 0 && parse_uint(v, 3600000, &n) == 0 && n > 0)
            cfg.idle_timeout_ms = (uint32_t)n;
        else if (strcmp(a, "--min-body-rate") == 0 && parse_uint(v, UINT32_MAX, &n) == 0)
            cfg.min_body_rate = (uint32_t)n;
        else if (strcmp(a, "--tls-cert") == 0)
            cfg.tls_cert = v;
        else if (strcmp(a, "--tls-key") == 0)
            cfg.tls_key = v;
        else if (strcmp(a, "--tls-port") == 0 && parse_uint(v, 65535, &n) == 0)
            cfg.tls_port = (uint16_t)n;
        else if (strcmp(a, "--log-level") == 0) {
            if (strcmp(v, "debug") == 0)
                cfg.log_level = QR_LOG_DEBUG;
            else if (strcmp(v, "info") == 0)
                cfg.log_level = QR_LOG_INFO;
            else if (strcmp(v, "warn") == 0)
                cfg.log_level = QR_LOG_WARN;
            else if (strcmp(v, "error") == 0)
                cfg.log_level = QR_LOG_ERROR;
            else {
                fprintf(stderr, "quarry: unknown --log-level %s\n", v);
                return 2;
            }
        } else {
            fprintf(stderr, "quarry: bad option %s %s\n", a, v);
            usage(stderr);
            return 2;
        }
    }

    close_data_dir(cfg.data_dir);
    if (default_keys_exposed(&cfg)) {
        fprintf(stderr,
                "quarry: refusing to listen on %s with the built-in root keys; set "
                "QUARRY_ROOT_ACCESS_KEY and QUARRY_ROOT_SECRET_KEY (or --access-key and "
                "--secret-key)\n",
                cfg.address);
        return 2;
    }
    struct qr_server s;
    enum qr_err err = server_init(&s, &cfg);
    if (err == QR_OK)
        err = server_run(&s);
    server_dispose(&s);
    if (err != QR_OK) {
        fprintf(stderr, "quarry: %s\n", qr_strerror(err));
        return 1;
    }
    return 0;
}
