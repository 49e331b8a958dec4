/*
 * job.c - `quarry job watch|manifest|rerun-failed` (cli.h): a client of a running quarry,
 * as a person at a terminal or a script would use it next to the aws CLI.
 *
 * Requests are signed by libcurl (CURLOPT_AWS_SIGV4, service s3 as S3 Control signs)
 * with the aws CLI's variables: AWS_ENDPOINT_URL_S3_CONTROL / AWS_ENDPOINT_URL_S3 /
 * AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION (or
 * AWS_DEFAULT_REGION), AWS_ACCOUNT_ID for S3 Control's x-amz-account-id, and
 * AWS_CA_BUNDLE (a PEM file of certificates to trust for https endpoints). S3 Control
 * requests go to the endpoint as given (the server ignores an account label in front of
 * the host, so none is added). Answers are read with libxml2 and jansson; every answer
 * is the server's, but it is still bounded (S3_ANSWER_MAX) before anything parses it.
 */
#include "cli/cli.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/evp.h>

#include "util/buf.h"
#include "util/codec.h"

#define ANSWER_MAX   (256u * 1024u * 1024u)
#define CTL_NS       "http://awss3control.amazonaws.com/doc/2018-08-20/"
#define WATCH_POLL_S 0.5

struct env {
    const char *ctl, *s3, *akid, *secret, *region, *account, *ca_bundle;
};

struct answer {
    long status;
    struct qr_buf body;
};

static const char *env_first(const char *a, const char *b, const char *c)
{
    const char *v = getenv(a);
    if ((!v || !*v) && b)
        v = getenv(b);
    if ((!v || !*v) && c)
        v = getenv(c);
    return v && *v ? v : NULL;
}

static bool env_load(struct env *e)
{
    e->ctl = env_first("AWS_ENDPOINT_URL_S3_CONTROL", "AWS_ENDPOINT_URL", NULL);
    e->s3 = env_first("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", NULL);
    e->akid = env_first("AWS_ACCESS_KEY_ID", NULL, NULL);
    e->secret = env_first("AWS_SECRET_ACCESS_KEY", NULL, NULL);
    e->region = env_first("AWS_REGION", "AWS_DEFAULT_REGION", NULL);
    e->account = env_first("AWS_ACCOUNT_ID", NULL, NULL);
    e->ca_bundle = env_first("AWS_CA_BUNDLE", NULL, NULL);
    e->region = e->region ? e->region : "us-east-1";
    e->account = e->account ? e->account : "123456789012";
    if (!e->ctl || !e->s3 || !e->akid || !e->secret) {
        fprintf(stderr, "quarry job: set AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_S3 and "
                        "AWS_ENDPOINT_URL_S3_CONTROL), AWS_ACCESS_KEY_ID and "
                        "AWS_SECRET_ACCESS_KEY\n");
        return false;
    }
    return true;
}

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    struct answer *a = arg;
    return qr_buf_add(&a->body, p, size * n) == QR_OK ? size * n : 0;
}

/* One signed request; the answer's body in a->body (dispose it). false: no answer. */
static bool request(const struct env *e, const char *method, const char *url, bool control,
                    struct qr_slice body, struct answer *a)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    char sigv4[128], userpwd[600], hdr[160], hex[65];
    unsigned char d[32];
    if (c == NULL)
        return false;
    memset(a, 0, sizeof(*a));
    qr_buf_init(&a->body, ANSWER_MAX);
    EVP_Digest(body.p ? body.p : (const uint8_t *)"", body.len, d, NULL, EVP_sha256(), NULL);
    for (size_t i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    snprintf(hdr, sizeof(hdr), "x-amz-content-sha256: %s", hex);
    h = curl_slist_append(h, hdr);
    if (control) {
        snprintf(hdr, sizeof(hdr), "x-amz-account-id: %s", e->account);
        h = curl_slist_append(h, hdr);
    }
    snprintf(sigv4, sizeof(sigv4), "aws:amz:%s:s3", e->region);
    snprintf(userpwd, sizeof(userpwd), "%s:%s", e->akid, e->secret);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_AWS_SIGV4, sigv4);
    curl_easy_setopt(c, CURLOPT_USERPWD, userpwd);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
    if (e->ca_bundle != NULL) /* as the aws CLI: trust these instead of the system's */
        curl_easy_setopt(c, CURLOPT_CAINFO, e->ca_bundle);
    if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.p ? (const char *)body.p : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body.len);
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a->status);
    else
        fprintf(stderr, "quarry job: %s %s: %s\n", method, url, curl_easy_strerror(rc));
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return rc == CURLE_OK;
}

/* Prints an error answer's Code and Message; false. */
static bool answer_failed(const char *what, const struct answer *a)
{
    fprintf(stderr, "quarry job: %s: HTTP %ld: %.*s\n", what, a->status,
            (int)(a->body.len > 600 ? 600 : a->body.len), a->body.p ? (char *)a->body.p : "");
    return false;
}

/* ---- XML answers ---- */

static xmlDocPtr parse_xml(const struct answer *a)
{
    return xmlReadMemory(a->body.p ? (const char *)a->body.p : "", (int)a->body.len, NULL, NULL,
                         XML_PARSE_NONET | XML_PARSE_NOBLANKS);
}

/* The first element named name under n (depth first), or NULL. */
static xmlNodePtr find(xmlNodePtr n, const char *name)
{
    for (xmlNodePtr c = n ? n->children : NULL; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (strcmp((const char *)c->name, name) == 0)
            return c;
        xmlNodePtr f = find(c, name);
        if (f)
            return f;
    }
    return NULL;
}

/* The text of find(n, name) into out; "" when absent. */
static const char *text_of(xmlNodePtr n, const char *name, char *out, size_t cap)
{
    xmlNodePtr f = find(n, name);
    xmlChar *t = f ? xmlNodeGetContent(f) : NULL;
    snprintf(out, cap, "%s", t ? (const char *)t : "");
    xmlFree(t);
    return out;
}

static uint64_t num_of(xmlNodePtr n, const char *name)
{
    char v[32];
    return strtoull(text_of(n, name, v, sizeof(v)), NULL, 10);
}

/* ---- describe ---- */

struct job_view {
    char status[32];
    uint64_t total, ok, failed, active_s;
};

static bool describe(const struct env *e, const char *id, xmlDocPtr *out_doc, struct job_view *v)
{
    char url[1024];
    struct answer a;
    snprintf(url, sizeof(url), "%s/v20180820/jobs/%s", e->ctl, id);
    if (!request(e, "GET", url, true, qr_slice(NULL, 0), &a))
        return false;
    bool ok = a.status == 200 || answer_failed("DescribeJob", &a);
    xmlDocPtr doc = ok ? parse_xml(&a) : NULL;
    qr_buf_dispose(&a.body);
    if (ok && doc == NULL) {
        fprintf(stderr, "quarry job: DescribeJob: the answer is not XML\n");
        return false;
    }
    if (!ok)
        return false;
    xmlNodePtr r = xmlDocGetRootElement(doc);
    text_of(r, "Status", v->status, sizeof(v->status));
    v->total = num_of(r, "TotalNumberOfTasks");
    v->ok = num_of(r, "NumberOfTasksSucceeded");
    v->failed = num_of(r, "NumberOfTasksFailed");
    v->active_s = num_of(r, "ElapsedTimeInActiveSeconds");
    if (out_doc)
        *out_doc = doc;
    else
        xmlFreeDoc(doc);
    return true;
}

static bool terminal(const char *s)
{
    return strcmp(s, "Complete") == 0 || strcmp(s, "Failed") == 0 || strcmp(s, "Cancelled") == 0;
}

/* ---- watch ---- */

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fmt_eta(double rate, uint64_t left, char out[32])
{
    if (left == 0)
        snprintf(out, 32, "0s");
    else if (rate <= 0)
        snprintf(out, 32, "unknown");
    else if ((double)left / rate >= 3600)
        snprintf(out, 32, "%.0fh%02.0fm", (double)left / rate / 3600,
                 (double)((uint64_t)((double)left / rate) % 3600) / 60);
    else
        snprintf(out, 32, "%.0fs", (double)left / rate);
}

static void show(const char *id, const struct job_view *v, double rate, bool tty)
{
    uint64_t done = v->ok + v->failed, left = v->total > done ? v->total - done : 0;
    char eta[32];
    fmt_eta(rate, left, eta);
    if (!tty) {
        printf("job %s %s %llu/%llu succeeded=%llu failed=%llu rate=%.1f/s eta=%s\n", id,
               v->status, (unsigned long long)done, (unsigned long long)v->total,
               (unsigned long long)v->ok, (unsigned long long)v->failed, rate, eta);
        fflush(stdout);
        return;
    }
    int width = 30, fill = v->total ? (int)((double)done * width / (double)v->total) : 0;
    char bar[31];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    printf("\r\033[K%-10s [%s] %3.0f%% %llu/%llu  failed %llu  %.1f tasks/s  ETA %s", v->status,
           bar, v->total ? 100.0 * (double)done / (double)v->total : 0.0,
           (unsigned long long)done, (unsigned long long)v->total,
           (unsigned long long)v->failed, rate, eta);
    fflush(stdout);
}

static int cmd_watch(const struct env *e, int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: quarry job watch JOB_ID\n");
        return 2;
    }
    const char *id = argv[2];
    bool tty = isatty(STDOUT_FILENO);
    struct job_view v, last;
    memset(&last, 0, sizeof(last));
    double t_last = 0, rate = 0;
    bool first = true;
    for (;;) {
        if (!describe(e, id, NULL, &v))
            return 1;
        double now = mono_s();
        uint64_t done = v.ok + v.failed, was = last.ok + last.failed;
        /* The rate over the last poll, smoothed; from the job's own timer at the start. */
        if (!first && now > t_last && done >= was) {
            double r = (double)(done - was) / (now - t_last);
            rate = rate > 0 ? 0.7 * rate + 0.3 * r : r;
        } else if (first && v.active_s > 0) {
            rate = (double)done / (double)v.active_s;
        }
        bool changed = first || strcmp(v.status, last.status) != 0 || done != was;
        if (tty || changed)
            show(id, &v, terminal(v.status) && v.active_s ? (double)done / (double)v.active_s
                                                           : rate,
                 tty);
        if (terminal(v.status)) {
            if (tty)
                printf("\n");
            return strcmp(v.status, "Complete") == 0 ? 0 : 1;
        }
        last = v;
        t_last = now;
        first = false;
        usleep((useconds_t)(WATCH_POLL_S * 1e6));
    }
}

/* ---- manifest ---- */

/* Appends key URL-encoded (everything but unreserved characters and '/'). */
static void url_encode(struct qr_buf *b, const char *s, size_t n, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
            (void)qr_buf_add(b, &s[i], 1);
        } else {
            char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
            (void)qr_buf_add(b, esc, 3);
        }
    }
}

/* Appends "bucket,key\n" for every object of one ListObjectsV2 page; *next: the
 * continuation token ("" at the end). */
static bool list_page(const struct env *e, const char *bucket, const char *prefix,
                      const char *token, struct qr_buf *out, char *next, size_t next_cap)
{
    struct qr_buf url;
    struct answer a;
    qr_buf_init(&url, 16384);
    (void)qr_buf_addf(&url, "%s/", e->s3);
    url_encode(&url, bucket, strlen(bucket), false);
    /* In sorted order: libcurl signs the query as written (SigV4 wants it sorted). */
    (void)qr_buf_adds(&url, "?");
    if (token[0]) {
        (void)qr_buf_adds(&url, "continuation-token=");
        url_encode(&url, token, strlen(token), false);
        (void)qr_buf_adds(&url, "&");
    }
    (void)qr_buf_adds(&url, "list-type=2&prefix=");
    url_encode(&url, prefix, strlen(prefix), false);
    bool ok = request(e, "GET", (const char *)url.p, false, qr_slice(NULL, 0), &a);
    qr_buf_dispose(&url);
    if (!ok)
        return false;
    ok = a.status == 200 || answer_failed("ListObjectsV2", &a);
    xmlDocPtr doc = ok ? parse_xml(&a) : NULL;
    qr_buf_dispose(&a.body);
    if (!ok || doc == NULL)
        return false;
    xmlNodePtr r = xmlDocGetRootElement(doc);
    for (xmlNodePtr c = r->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE || strcmp((const char *)c->name, "Contents") != 0)
            continue;
        xmlNodePtr k = find(c, "Key");
        xmlChar *key = k ? xmlNodeGetContent(k) : NULL;
        if (key) {
            (void)qr_buf_addf(out, "%s,", bucket);
            url_encode(out, (const char *)key, strlen((const char *)key), true);
            (void)qr_buf_adds(out, "\n");
        }
        xmlFree(key);
    }
    char trunc[8];
    text_of(r, "IsTruncated", trunc, sizeof(trunc));
    if (strcmp(trunc, "true") == 0)
        text_of(r, "NextContinuationToken", next, next_cap);
    else
        next[0] = '\0';
    xmlFreeDoc(doc);
    return true;
}

/* PUT data at s3://bucket/key; prints the ETag. */
static bool put_object(const struct env *e, const char *bucket, const char *key,
                       struct qr_slice data, char etag[80])
{
    struct qr_buf url;
    struct answer a;
    qr_buf_init(&url, 16384);
    (void)qr_buf_addf(&url, "%s/", e->s3);
    url_encode(&url, bucket, strlen(bucket), false);
    (void)qr_buf_adds(&url, "/");
    url_encode(&url, key, strlen(key), true);
    bool ok = request(e, "PUT", (const char *)url.p, false, data, &a);
    qr_buf_dispose(&url);
    if (ok && a.status != 200)
        ok = answer_failed("PutObject", &a);
    qr_buf_dispose(&a.body);
    if (ok) {
        unsigned char d[16];
        EVP_Digest(data.p ? data.p : (const uint8_t *)"", data.len, d, NULL, EVP_md5(), NULL);
        etag[0] = '"';
        for (size_t i = 0; i < 16; i++)
            snprintf(etag + 1 + 2 * i, 3, "%02x", d[i]);
        snprintf(etag + 33, 3, "\"");
    }
    return ok;
}

/* "s3://bucket/key" -> bucket and key; false when it is not one. */
static bool s3_url(const char *u, char bucket[64], const char **key)
{
    if (strncmp(u, "s3://", 5) != 0)
        return false;
    const char *b = u + 5, *slash = strchr(b, '/');
    if (slash == NULL || slash == b || slash - b > 63 || slash[1] == '\0')
        return false;
    memcpy(bucket, b, (size_t)(slash - b));
    bucket[slash - b] = '\0';
    *key = slash + 1;
    return true;
}

static int cmd_manifest(const struct env *e, int argc, char **argv)
{
    const char *bucket = NULL, *prefix = "", *output = NULL;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--prefix") == 0 && i + 1 < argc)
            prefix = argv[++i];
        else if (strcmp(argv[i], "--output") == 0 && i + 1 < argc)
            output = argv[++i];
        else if (argv[i][0] != '-' && bucket == NULL)
            bucket = argv[i];
        else
            bucket = NULL, argc = 0;
    }
    if (bucket == NULL) {
        fprintf(stderr, "usage: quarry job manifest BUCKET [--prefix P] "
                        "[--output s3://bucket/key | FILE]\n");
        return 2;
    }
    struct qr_buf out;
    char token[2048] = "", next[2048];
    size_t lines_before = 0;
    qr_buf_init(&out, ANSWER_MAX);
    do {
        if (!list_page(e, bucket, prefix, token, &out, next, sizeof(next))) {
            qr_buf_dispose(&out);
            return 1;
        }
        snprintf(token, sizeof(token), "%s", next);
        lines_before++;
    } while (token[0]);
    int rc = 0;
    char ob[64], etag[80];
    const char *okey;
    struct qr_slice data = qr_slice(out.p, out.len);
    if (output && s3_url(output, ob, &okey)) {
        if (put_object(e, ob, okey, data, etag))
            printf("arn:aws:s3:::%s/%s %s\n", ob, okey, etag);
        else
            rc = 1;
    } else if (output) {
        FILE *f = fopen(output, "wb");
        if (f == NULL || fwrite(data.p ? data.p : (const uint8_t *)"", 1, data.len, f) !=
                             data.len || fclose(f) != 0) {
            fprintf(stderr, "quarry job manifest: cannot write %s\n", output);
            rc = 1;
        }
    } else if (data.len && fwrite(data.p, 1, data.len, stdout) != data.len) {
        rc = 1;
    }
    qr_buf_dispose(&out);
    return rc;
}

/* ---- rerun-failed ---- */

/* GET s3://bucket/key into a (status 200), false otherwise. */
static bool get_object(const struct env *e, const char *bucket, const char *key,
                       struct answer *a)
{
    struct qr_buf url;
    qr_buf_init(&url, 16384);
    (void)qr_buf_addf(&url, "%s/", e->s3);
    url_encode(&url, bucket, strlen(bucket), false);
    (void)qr_buf_adds(&url, "/");
    url_encode(&url, key, strlen(key), true);
    bool ok = request(e, "GET", (const char *)url.p, false, qr_slice(NULL, 0), a);
    qr_buf_dispose(&url);
    if (ok && a->status != 200) {
        ok = answer_failed(key, a);
        qr_buf_dispose(&a->body);
    }
    return ok;
}

/* The failed rows' first three columns (Bucket, Key, VersionId: as the manifest wrote
 * them) of every failed results file of the report into out as manifest lines. */
static bool failed_rows(const struct env *e, const char *bucket, const char *base,
                        struct qr_buf *out, size_t *n)
{
    char key[2048];
    struct answer a;
    snprintf(key, sizeof(key), "%smanifest.json", base);
    if (!get_object(e, bucket, key, &a))
        return false;
    json_t *m = json_loadb(a.body.p ? (const char *)a.body.p : "", a.body.len, 0, NULL);
    qr_buf_dispose(&a.body);
    json_t *results = json_object_get(m, "Results"), *r;
    size_t i;
    bool ok = json_is_array(results);
    json_array_foreach(results, i, r)
    {
        const char *st = json_string_value(json_object_get(r, "TaskExecutionStatus"));
        const char *k = json_string_value(json_object_get(r, "Key"));
        if (!ok || !st || !k || strcmp(st, "failed") != 0)
            continue;
        if (!(ok = get_object(e, bucket, k, &a)))
            break;
        /* Each row: the first three fields up to the third comma; quoted fields kept. */
        const char *p = a.body.p ? (const char *)a.body.p : "", *end = p + a.body.len;
        while (p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p)), *q = p;
            nl = nl ? nl : end;
            int commas = 0;
            bool quoted = false;
            while (q < nl && commas < 3) {
                if (*q == '"')
                    quoted = !quoted;
                else if (*q == ',' && !quoted)
                    commas++;
                q++;
            }
            if (commas == 3) {
                (void)qr_buf_add(out, p, (size_t)(q - 1 - p));
                (void)qr_buf_adds(out, "\n");
                (*n)++;
            }
            p = nl + 1;
        }
        qr_buf_dispose(&a.body);
    }
    json_decref(m);
    if (!ok)
        fprintf(stderr, "quarry job rerun-failed: the report's manifest.json is unreadable\n");
    return ok;
}

static void dump_node(struct qr_buf *b, xmlDocPtr doc, xmlNodePtr n)
{
    xmlBufferPtr x = xmlBufferCreate();
    xmlNodeDump(x, doc, n, 0, 0);
    (void)qr_buf_add(b, xmlBufferContent(x), (size_t)xmlBufferLength(x));
    xmlBufferFree(x);
}

static void add_escaped(struct qr_buf *b, const char *s)
{
    xmlChar *x = xmlEncodeSpecialChars(NULL, (const xmlChar *)s);
    (void)qr_buf_adds(b, (const char *)x);
    xmlFree(x);
}

static bool create_rerun(const struct env *e, xmlDocPtr doc, const char *id, const char *arn,
                         const char *etag)
{
    xmlNodePtr r = xmlDocGetRootElement(doc);
    char role[2100], prio[32], tok[37], url[1024];
    struct qr_buf x;
    struct answer a;
    qr_uuid4(tok);
    qr_buf_init(&x, 1u << 20);
    (void)qr_buf_addf(&x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?><CreateJobRequest "
                          "xmlns=\"" CTL_NS "\"><ConfirmationRequired>false"
                          "</ConfirmationRequired>");
    dump_node(&x, doc, find(r, "Operation"));
    dump_node(&x, doc, find(r, "Report"));
    (void)qr_buf_adds(&x, "<ClientRequestToken>");
    (void)qr_buf_adds(&x, tok);
    (void)qr_buf_adds(&x, "</ClientRequestToken><Manifest><Spec><Format>"
                          "S3BatchOperations_CSV_20180820</Format><Fields><member>Bucket</member>"
                          "<member>Key</member><member>VersionId</member></Fields></Spec>"
                          "<Location><ObjectArn>");
    add_escaped(&x, arn);
    (void)qr_buf_adds(&x, "</ObjectArn><ETag>");
    add_escaped(&x, etag);
    (void)qr_buf_addf(&x, "</ETag></Location></Manifest><Description>Failed tasks of job "
                          "%.40s</Description><Priority>%s</Priority><RoleArn>",
                      id, text_of(r, "Priority", prio, sizeof(prio)));
    add_escaped(&x, text_of(r, "RoleArn", role, sizeof(role)));
    (void)qr_buf_adds(&x, "</RoleArn></CreateJobRequest>");
    snprintf(url, sizeof(url), "%s/v20180820/jobs", e->ctl);
    bool ok = request(e, "POST", url, true, qr_slice(x.p, x.len), &a);
    qr_buf_dispose(&x);
    if (ok && a.status != 200)
        ok = answer_failed("CreateJob", &a);
    if (ok) {
        xmlDocPtr d = parse_xml(&a);
        char jid[64];
        text_of(d ? xmlDocGetRootElement(d) : NULL, "JobId", jid, sizeof(jid));
        printf("%s\n", jid);
        xmlFreeDoc(d);
        ok = jid[0] != '\0';
    }
    qr_buf_dispose(&a.body);
    return ok;
}

static int cmd_rerun(const struct env *e, int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: quarry job rerun-failed JOB_ID\n");
        return 2;
    }
    const char *id = argv[2];
    xmlDocPtr doc;
    struct job_view v;
    if (!describe(e, id, &doc, &v))
        return 1;
    xmlNodePtr r = xmlDocGetRootElement(doc), rep = find(r, "Report");
    char enabled[8], barn[2100], prefix[1100], base[1200], mkey[1300], etag[80], arn[3500];
    text_of(rep, "Enabled", enabled, sizeof(enabled));
    text_of(rep, "Bucket", barn, sizeof(barn));
    text_of(rep, "Prefix", prefix, sizeof(prefix));
    const char *bucket = strncmp(barn, "arn:aws:s3:::", 13) == 0 ? barn + 13 : barn;
    int rc = 1;
    if (!terminal(v.status) || strcmp(enabled, "true") != 0 || !bucket[0]) {
        fprintf(stderr, "quarry job rerun-failed: job %s must have ended (it is %s) with a "
                        "completion report (Report Enabled)\n", id, v.status);
        goto out;
    }
    size_t pl = strlen(prefix), n = 0;
    snprintf(base, sizeof(base), "%s%sjob-%s/", prefix, pl && prefix[pl - 1] != '/' ? "/" : "",
             id);
    struct qr_buf man;
    qr_buf_init(&man, ANSWER_MAX);
    if (failed_rows(e, bucket, base, &man, &n)) {
        if (n == 0) {
            fprintf(stderr, "quarry job rerun-failed: job %s has no failed tasks\n", id);
        } else {
            snprintf(mkey, sizeof(mkey), "%srerun-failed.csv", base);
            snprintf(arn, sizeof(arn), "arn:aws:s3:::%s/%s", bucket, mkey);
            if (put_object(e, bucket, mkey, qr_slice(man.p, man.len), etag) &&
                create_rerun(e, doc, id, arn, etag))
                rc = 0;
        }
    }
    qr_buf_dispose(&man);
out:
    xmlFreeDoc(doc);
    return rc;
}

int cli_job(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(const struct env *e, int argc, char **argv);
    } cmds[] = {{"watch", cmd_watch}, {"manifest", cmd_manifest}, {"rerun-failed", cmd_rerun}};
    struct env e;
    for (size_t i = 0; argc >= 2 && i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        if (strcmp(argv[1], cmds[i].name) != 0)
            continue;
        if (!env_load(&e))
            return 2;
        curl_global_init(CURL_GLOBAL_DEFAULT);
        int rc = cmds[i].fn(&e, argc, argv);
        curl_global_cleanup();
        return rc;
    }
    fprintf(stderr, "usage: quarry job watch JOB_ID\n"
                    "       quarry job manifest BUCKET [--prefix P] [--output s3://b/k | FILE]\n"
                    "       quarry job rerun-failed JOB_ID\n");
    return 2;
}
