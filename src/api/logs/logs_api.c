/*
 * logs_api.c - CloudWatch Logs over AWS JSON 1.1: POST / with X-Amz-Target
 * "Logs_20140328.<Operation>", a JSON object body, a JSON object answer, errors as
 * {"__type": code, "message": text} with status 400 (500 for ServiceUnavailable).
 *
 * Operations come from a table; each handler decodes the request into a logs/ query,
 * calls the store and renders the answer. Handlers run on a worker (they pread log
 * files and PutLogEvents waits for its events to be readable); the response is sent
 * back on the request's loop. Shapes follow botocore's logs 2014-03-28 model; what
 * `aws logs tail` needs (FilterLogEvents: every event carries logStreamName, timestamp,
 * message, ingestionTime and a stable eventId; no nextToken on the last page) is the
 * part that matters most. Messages are bytes (a function may print anything), so the
 * JSON writer here replaces invalid UTF-8 with U+FFFD instead of failing.
 */
#include "api/logs/logs_api.h"
#include "api/authorize.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "logs/logs.h"
#include "server.h"
#include "util/buf.h"

#define TARGET_PREFIX  "Logs_20140328."
#define CT_JSON        "application/x-amz-json-1.1"
#define MAX_BODY       (2u * 1024u * 1024u)  /* PutLogEvents allows 1 MB of events */
#define MAX_OUT        (64u * 1024u * 1024u) /* 10000 events, escaped, fit easily */
#define MAX_PUT_EVENTS 10000u

struct lop;
typedef void (*lop_fn)(struct lop *op);

struct lroute {
    const char *name; /* operation, after the target prefix */
    lop_fn fn;
};

struct lop {
    struct qr_job job;
    struct api_req *ar;
    struct logs *logs;
    const struct lroute *route;
    json_t *in;                 /* request object (worker only) */
    int status;                 /* error status, 0 = 200 */
    const char *code;           /* error __type, NULL = success */
    const char *msg;            /* error message (static) */
    char msg_buf[256];          /* or formatted here */
    struct qr_slice names[100]; /* FilterLogEvents logStreamNames (borrowed from in) */
    struct qr_buf out;          /* response JSON */
};

/* ---- errors ---- */

static void fail(struct lop *op, const char *code, const char *msg)
{
    op->status = strcmp(code, "ServiceUnavailableException") == 0 ? 500 : 400;
    op->code = code;
    op->msg = msg;
}

/* AWS's validation message for member `name` failing `constraint`. */
static void fail_param(struct lop *op, const char *name, const char *constraint)
{
    snprintf(op->msg_buf, sizeof(op->msg_buf),
             "1 validation error detected: Value at '%s' failed to satisfy constraint: %s", name,
             constraint);
    fail(op, "InvalidParameterException", op->msg_buf);
}

/* The store's errors; `what` says whether a conflict is about a group or a stream. */
static void fail_err(struct lop *op, enum qr_err e, bool stream)
{
    if (e == LOGS_E_NO_GROUP)
        fail(op, "ResourceNotFoundException", "The specified log group does not exist.");
    else if (e == LOGS_E_NO_STREAM)
        fail(op, "ResourceNotFoundException", "The specified log stream does not exist.");
    else if (e == LOGS_E_EXISTS)
        fail(op, "ResourceAlreadyExistsException",
             stream ? "The specified log stream already exists"
                    : "The specified log group already exists");
    else if (e == QR_E_NOT_IMPLEMENTED)
        fail(op, "InvalidParameterException",
             "This filter pattern form (JSON, space-delimited or regex) is not supported.");
    else if (e == QR_E_BAD_INPUT || e == QR_E_TOO_LARGE)
        fail(op, "InvalidParameterException", "Invalid parameter, paging token or pattern.");
    else
        fail(op, "ServiceUnavailableException", "The service cannot complete the request.");
}

/* ---- JSON output ---- */

/* Length of the valid UTF-8 sequence at p (at most n bytes), or 0. */
static size_t utf8_len(const uint8_t *p, size_t n)
{
    uint8_t c = p[0];
    size_t len;
    uint32_t min, cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2, min = 0x80, cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3, min = 0x800, cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4, min = 0x10000, cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

static void jraw(struct lop *op, const char *s)
{
    (void)qr_buf_adds(&op->out, s); /* MAX_OUT is far above any answer; see jstr */
}

/* Appends s as a JSON string. */
static void jstr(struct lop *op, struct qr_slice s)
{
    static const char hex[] = "0123456789abcdef";
    struct qr_buf *b = &op->out;
    (void)qr_buf_add(b, "\"", 1);
    size_t i = 0;
    while (i < s.len) {
        size_t run = i;
        while (run < s.len && s.p[run] >= 0x20 && s.p[run] < 0x80 && s.p[run] != '"' &&
               s.p[run] != '\\')
            run++;
        if (run > i) {
            (void)qr_buf_add(b, s.p + i, run - i);
            i = run;
            continue;
        }
        uint8_t c = s.p[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            (void)qr_buf_add(b, e, 2);
            i++;
        } else if (c < 0x20) {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            if (c == '\n' || c == '\t' || c == '\r')
                (void)qr_buf_add(b, c == '\n' ? "\\n" : c == '\t' ? "\\t" : "\\r", 2);
            else
                (void)qr_buf_add(b, e, 6);
            i++;
        } else {
            size_t n = utf8_len(s.p + i, s.len - i);
            if (n)
                (void)qr_buf_add(b, s.p + i, n);
            else
                (void)qr_buf_add(b, "\\ufffd", 6);
            i += n ? n : 1;
        }
    }
    (void)qr_buf_add(b, "\"", 1);
}

static void jkey(struct lop *op, bool *first, const char *k)
{
    if (!*first)
        jraw(op, ",");
    *first = false;
    jstr(op, qr_slice_cstr(k));
    jraw(op, ":");
}

static void ji64(struct lop *op, int64_t v)
{
    (void)qr_buf_addf(&op->out, "%" PRId64, v);
}

/* "arn:aws:logs:REGION:ACCOUNT:log-group:" */
static void jarn_prefix(struct lop *op, struct qr_buf *b)
{
    const struct qr_config *c = &op->ar->server->cfg;
    (void)qr_buf_addf(b, "arn:aws:logs:%s:%s:log-group:", c->region, c->account_id);
}

/* ---- JSON input ---- */

/* Reads an optional string member; false (op failed) when it is not a string or its
 * length is outside [min, max]. */
static bool in_str(struct lop *op, const char *key, size_t min, size_t max, bool required,
                   struct qr_slice *out)
{
    json_t *v = json_object_get(op->in, key);
    *out = qr_slice(NULL, 0);
    if (!v || json_is_null(v)) {
        if (required)
            fail_param(op, key, "Member must not be null");
        return !required;
    }
    if (!json_is_string(v)) {
        fail(op, "SerializationException", "A member has the wrong JSON type.");
        return false;
    }
    size_t n = json_string_length(v);
    if (n < min || n > max) {
        fail_param(op, key, "Member must have a length within the allowed range");
        return false;
    }
    *out = qr_slice(json_string_value(v), n);
    return true;
}

static bool in_i64(struct lop *op, const char *key, int64_t min, int64_t max, bool *has,
                   int64_t *out)
{
    json_t *v = json_object_get(op->in, key);
    *has = false;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_integer(v)) {
        fail(op, "SerializationException", "A member has the wrong JSON type.");
        return false;
    }
    json_int_t x = json_integer_value(v);
    if (x < min || x > max) {
        fail_param(op, key, "Member must be within the allowed range");
        return false;
    }
    *has = true;
    *out = (int64_t)x;
    return true;
}

static bool in_bool(struct lop *op, const char *key, bool *out)
{
    json_t *v = json_object_get(op->in, key);
    if (!v || json_is_null(v))
        return true;
    if (!json_is_boolean(v)) {
        fail(op, "SerializationException", "A member has the wrong JSON type.");
        return false;
    }
    *out = json_is_true(v);
    return true;
}

/* logGroupName characters: [\.\-_/#A-Za-z0-9]+ */
static bool group_name_ok(struct qr_slice s)
{
    for (size_t i = 0; i < s.len; i++) {
        uint8_t c = s.p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_' || c == '/' || c == '#'))
            return false;
    }
    return s.len >= 1 && s.len <= LOGS_MAX_NAME;
}

/* logStreamName: [^:*]* */
static bool stream_name_ok(struct qr_slice s)
{
    for (size_t i = 0; i < s.len; i++)
        if (s.p[i] == ':' || s.p[i] == '*')
            return false;
    return s.len >= 1 && s.len <= LOGS_MAX_NAME;
}

/* logGroupName, or logGroupIdentifier (a name or an ARN), exactly one of them. */
static bool in_group(struct lop *op, bool required, struct qr_slice *out)
{
    struct qr_slice name, ident;
    if (!in_str(op, "logGroupName", 1, LOGS_MAX_NAME, false, &name) ||
        !in_str(op, "logGroupIdentifier", 1, 2048, false, &ident))
        return false;
    if (name.len && ident.len) {
        fail(op, "InvalidParameterException",
             "LogGroup name and LogGroup ARN are mutually exclusive parameters.");
        return false;
    }
    if (ident.len) {
        struct qr_slice mark = QR_SLICE_LIT(":log-group:");
        size_t i = 0;
        while (i + mark.len <= ident.len &&
               !qr_slice_starts(qr_slice(ident.p + i, ident.len - i), mark))
            i++;
        if (qr_slice_starts(ident, QR_SLICE_LIT("arn:")) && i + mark.len <= ident.len) {
            size_t s = i + mark.len, e = s;
            while (e < ident.len && ident.p[e] != ':')
                e++;
            ident = qr_slice(ident.p + s, e - s);
        }
        name = ident;
    }
    if (!name.len && required) {
        fail(op, "InvalidParameterException",
             "Either LogGroup name or LogGroup ARN must be specified.");
        return false;
    }
    *out = name;
    return true;
}

/* ---- events ---- */

static void render_events(struct lop *op, const struct logs_events *ev, bool filtered)
{
    jraw(op, "\"events\":[");
    for (size_t i = 0; i < ev->n; i++) {
        const struct logs_event *e = &ev->ev[i];
        bool first = true;
        jraw(op, i ? ",{" : "{");
        if (filtered) {
            jkey(op, &first, "logStreamName");
            jstr(op, e->stream);
        }
        jkey(op, &first, "timestamp");
        ji64(op, e->ts_ms);
        jkey(op, &first, "message");
        jstr(op, e->message);
        jkey(op, &first, "ingestionTime");
        ji64(op, e->ingest_ms);
        if (filtered) {
            jkey(op, &first, "eventId");
            jstr(op, qr_slice_cstr(e->event_id));
        }
        jraw(op, "}");
    }
    jraw(op, "]");
}

static bool in_stream_names(struct lop *op, const struct qr_slice **out, size_t *n_out)
{
    json_t *v = json_object_get(op->in, "logStreamNames");
    *out = NULL;
    *n_out = 0;
    if (!v || json_is_null(v))
        return true;
    size_t n = json_is_array(v) ? json_array_size(v) : 0;
    if (!json_is_array(v) || n < 1 || n > 100) {
        fail_param(op, "logStreamNames", "Member must have length between 1 and 100");
        return false;
    }
    struct qr_slice *names = op->names; /* n <= 100 checked above */
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(v, i);
        if (!json_is_string(s)) {
            fail(op, "SerializationException", "A member has the wrong JSON type.");
            return false;
        }
        names[i] = qr_slice(json_string_value(s), json_string_length(s));
    }
    *out = names;
    *n_out = n;
    return true;
}

static void op_filter(struct lop *op)
{
    struct logs_filter_q q = {.limit = LOGS_MAX_LIMIT};
    struct qr_slice pattern, token;
    int64_t limit = 0;
    bool has_limit;
    if (!in_group(op, true, &q.group) || !in_stream_names(op, &q.streams, &q.n_streams) ||
        !in_str(op, "logStreamNamePrefix", 1, LOGS_MAX_NAME, false, &q.prefix) ||
        !in_i64(op, "startTime", 0, INT64_MAX, &q.has_start, &q.start_ms) ||
        !in_i64(op, "endTime", 0, INT64_MAX, &q.has_end, &q.end_ms) ||
        !in_str(op, "filterPattern", 0, LOGS_MAX_PATTERN, false, &pattern) ||
        !in_str(op, "nextToken", 1, LOGS_TOKEN_LEN, false, &token) ||
        !in_i64(op, "limit", 1, LOGS_MAX_LIMIT, &has_limit, &limit))
        return;
    if (q.streams && q.prefix.len) {
        fail(op, "InvalidParameterException",
             "logStreamNames and logStreamNamePrefix are mutually exclusive parameters.");
        return;
    }
    if (has_limit)
        q.limit = (size_t)limit;
    q.token = token;
    struct logs_pattern *p = NULL;
    enum qr_err e = logs_pattern_parse(pattern, &p);
    if (e) {
        fail_err(op, e, false);
        return;
    }
    q.pattern = p;
    struct logs_events ev;
    e = logs_filter(op->logs, &q, &ev);
    logs_pattern_free(p);
    if (e) {
        fail_err(op, e, false);
        return;
    }
    jraw(op, "{");
    render_events(op, &ev, true);
    /* searchedLogStreams is deprecated; the CLI reads nothing from it. */
    jraw(op, ",\"searchedLogStreams\":[]");
    if (ev.has_next) {
        jraw(op, ",\"nextToken\":");
        jstr(op, qr_slice_cstr(ev.next_token));
    }
    jraw(op, "}");
    logs_events_free(&ev);
}

static void op_get(struct lop *op)
{
    struct logs_get_q q = {.limit = LOGS_MAX_LIMIT};
    int64_t limit = 0;
    bool has_limit;
    if (!in_group(op, true, &q.group) ||
        !in_str(op, "logStreamName", 1, LOGS_MAX_NAME, true, &q.stream) ||
        !in_i64(op, "startTime", 0, INT64_MAX, &q.has_start, &q.start_ms) ||
        !in_i64(op, "endTime", 0, INT64_MAX, &q.has_end, &q.end_ms) ||
        !in_str(op, "nextToken", 1, LOGS_TOKEN_LEN, false, &q.token) ||
        !in_i64(op, "limit", 1, LOGS_MAX_LIMIT, &has_limit, &limit) ||
        !in_bool(op, "startFromHead", &q.start_from_head))
        return;
    if (has_limit)
        q.limit = (size_t)limit;
    struct logs_events ev;
    enum qr_err e = logs_get(op->logs, &q, &ev);
    if (e) {
        fail_err(op, e, false);
        return;
    }
    jraw(op, "{");
    render_events(op, &ev, false);
    jraw(op, ",\"nextForwardToken\":");
    jstr(op, qr_slice_cstr(ev.next_token));
    jraw(op, ",\"nextBackwardToken\":");
    jstr(op, qr_slice_cstr(ev.backward_token));
    jraw(op, "}");
    logs_events_free(&ev);
}

/* ---- lists ---- */

static void render_next(struct lop *op, const struct logs_list *p)
{
    if (p->has_next) {
        jraw(op, ",\"nextToken\":");
        jstr(op, qr_slice_cstr(p->next_token));
    }
}

static void op_describe_groups(struct lop *op)
{
    struct qr_slice prefix, token;
    int64_t limit = LOGS_MAX_LIST;
    bool has_limit;
    if (!in_str(op, "logGroupNamePrefix", 1, LOGS_MAX_NAME, false, &prefix) ||
        !in_str(op, "nextToken", 1, 4 * LOGS_MAX_NAME, false, &token) ||
        !in_i64(op, "limit", 1, LOGS_MAX_LIST, &has_limit, &limit))
        return;
    struct logs_list p;
    enum qr_err e = logs_list_groups(op->logs, prefix, (size_t)limit, token, &p);
    if (e) {
        fail_err(op, e, false);
        return;
    }
    struct qr_buf arn;
    qr_buf_init(&arn, 4 * LOGS_MAX_NAME);
    jraw(op, "{\"logGroups\":[");
    for (size_t i = 0; i < p.n; i++) {
        const struct logs_group_info *g = &p.groups[i];
        bool first = true;
        jraw(op, i ? ",{" : "{");
        jkey(op, &first, "logGroupName");
        jstr(op, g->name);
        jkey(op, &first, "creationTime");
        ji64(op, g->creation_ms);
        jkey(op, &first, "metricFilterCount");
        jraw(op, "0");
        qr_buf_reset(&arn);
        jarn_prefix(op, &arn);
        (void)qr_buf_add(&arn, g->name.p, g->name.len); /* 4x the longest name fits */
        jkey(op, &first, "logGroupArn");
        jstr(op, qr_slice(arn.p, arn.len));
        (void)qr_buf_adds(&arn, ":*");
        jkey(op, &first, "arn");
        jstr(op, qr_slice(arn.p, arn.len));
        jkey(op, &first, "storedBytes");
        ji64(op, (int64_t)g->stored_bytes);
        jkey(op, &first, "logGroupClass");
        jraw(op, "\"STANDARD\"");
        jraw(op, "}");
    }
    jraw(op, "]");
    render_next(op, &p);
    jraw(op, "}");
    qr_buf_dispose(&arn);
    logs_list_free(&p);
}

static void op_describe_streams(struct lop *op)
{
    struct logs_stream_q q = {.limit = LOGS_MAX_LIST};
    struct qr_slice order;
    int64_t limit = LOGS_MAX_LIST;
    bool has_limit;
    if (!in_group(op, true, &q.group) ||
        !in_str(op, "logStreamNamePrefix", 1, LOGS_MAX_NAME, false, &q.prefix) ||
        !in_str(op, "orderBy", 1, 32, false, &order) || !in_bool(op, "descending", &q.descending) ||
        !in_str(op, "nextToken", 1, 4 * LOGS_MAX_NAME, false, &q.token) ||
        !in_i64(op, "limit", 1, LOGS_MAX_LIST, &has_limit, &limit))
        return;
    q.limit = (size_t)limit;
    if (order.len && qr_slice_eq_lit(order, "LastEventTime")) {
        q.order = LOGS_ORDER_LAST_EVENT;
    } else if (order.len && !qr_slice_eq_lit(order, "LogStreamName")) {
        fail_param(op, "orderBy",
                   "Member must satisfy enum value set: [LogStreamName, LastEventTime]");
        return;
    }
    if (q.order == LOGS_ORDER_LAST_EVENT && q.prefix.len) {
        fail(op, "InvalidParameterException",
             "Cannot order by LastEventTime with a logStreamNamePrefix.");
        return;
    }
    struct logs_list p;
    enum qr_err e = logs_list_streams(op->logs, &q, &p);
    if (e) {
        fail_err(op, e, false);
        return;
    }
    struct qr_buf arn;
    qr_buf_init(&arn, 8 * LOGS_MAX_NAME);
    jraw(op, "{\"logStreams\":[");
    for (size_t i = 0; i < p.n; i++) {
        const struct logs_stream_info *s = &p.streams[i];
        bool first = true;
        jraw(op, i ? ",{" : "{");
        jkey(op, &first, "logStreamName");
        jstr(op, s->name);
        jkey(op, &first, "creationTime");
        ji64(op, s->creation_ms);
        if (s->has_events) {
            jkey(op, &first, "firstEventTimestamp");
            ji64(op, s->first_event_ms);
            jkey(op, &first, "lastEventTimestamp");
            ji64(op, s->last_event_ms);
            jkey(op, &first, "lastIngestionTime");
            ji64(op, s->last_ingest_ms);
        }
        qr_buf_reset(&arn);
        jarn_prefix(op, &arn);
        (void)qr_buf_add(&arn, q.group.p, q.group.len); /* sized for both names */
        (void)qr_buf_adds(&arn, ":log-stream:");
        (void)qr_buf_add(&arn, s->name.p, s->name.len);
        jkey(op, &first, "arn");
        jstr(op, qr_slice(arn.p, arn.len));
        jkey(op, &first, "storedBytes");
        ji64(op, (int64_t)s->stored_bytes);
        jraw(op, "}");
    }
    jraw(op, "]");
    render_next(op, &p);
    jraw(op, "}");
    qr_buf_dispose(&arn);
    logs_list_free(&p);
}

/* ---- writes (for testing the store without a function) ---- */

static void op_create_group(struct lop *op)
{
    struct qr_slice g;
    if (!in_str(op, "logGroupName", 1, LOGS_MAX_NAME, true, &g))
        return;
    if (!group_name_ok(g)) {
        fail_param(op, "logGroupName",
                   "Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+");
        return;
    }
    enum qr_err e = logs_group_create(op->logs, g);
    if (e)
        fail_err(op, e, false);
}

static void op_create_stream(struct lop *op)
{
    struct qr_slice g, s;
    if (!in_str(op, "logGroupName", 1, LOGS_MAX_NAME, true, &g) ||
        !in_str(op, "logStreamName", 1, LOGS_MAX_NAME, true, &s))
        return;
    if (!stream_name_ok(s)) {
        fail_param(op, "logStreamName", "Member must satisfy regular expression pattern: [^:*]*");
        return;
    }
    enum qr_err e = logs_stream_create(op->logs, g, s);
    if (e)
        fail_err(op, e, true);
}

static void op_put(struct lop *op)
{
    struct qr_slice g, s;
    if (!in_str(op, "logGroupName", 1, LOGS_MAX_NAME, true, &g) ||
        !in_str(op, "logStreamName", 1, LOGS_MAX_NAME, true, &s))
        return;
    json_t *evs = json_object_get(op->in, "logEvents");
    size_t n = json_is_array(evs) ? json_array_size(evs) : 0;
    if (n < 1 || n > MAX_PUT_EVENTS) {
        fail_param(op, "logEvents", "Member must have length between 1 and 10000");
        return;
    }
    /* Check everything before appending anything: a batch is accepted whole. */
    int64_t prev = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        json_t *ev = json_array_get(evs, i);
        json_t *ts = json_object_get(ev, "timestamp"), *m = json_object_get(ev, "message");
        if (!json_is_integer(ts) || !json_is_string(m) || json_string_length(m) < 1 ||
            json_integer_value(ts) < 0) {
            fail(op, "InvalidParameterException",
                 "Each log event needs a timestamp and a non-empty message.");
            return;
        }
        if (json_string_length(m) > LOGS_MAX_MESSAGE) {
            fail(op, "InvalidParameterException", "Log event too large: 262144 bytes maximum.");
            return;
        }
        if (json_integer_value(ts) < prev) {
            fail(op, "InvalidParameterException",
                 "Log events in a single PutLogEvents request must be in chronological order.");
            return;
        }
        prev = json_integer_value(ts);
    }
    /* Unlike Lambda's own logging, PutLogEvents needs the group and stream to exist. */
    struct logs_stream_q probe = {.group = g, .prefix = s, .limit = 1};
    struct logs_list p;
    enum qr_err e = logs_list_streams(op->logs, &probe, &p);
    bool found = !e && p.n == 1 && qr_slice_eq(p.streams[0].name, s);
    if (!e)
        logs_list_free(&p);
    if (e || !found) {
        fail_err(op, e ? e : LOGS_E_NO_STREAM, false);
        return;
    }
    for (size_t i = 0; i < n && !e; i++) {
        json_t *ev = json_array_get(evs, i);
        json_t *m = json_object_get(ev, "message");
        e = logs_append(op->logs, g, s,
                        (int64_t)json_integer_value(json_object_get(ev, "timestamp")),
                        qr_slice(json_string_value(m), json_string_length(m)));
    }
    if (e) {
        fail_err(op, e, false);
        return;
    }
    /* Read-your-writes for API clients: a GetLogEvents right after sees these. */
    logs_flush(op->logs);
}

static const struct lroute routes[] = {
    {"FilterLogEvents", op_filter},
    {"GetLogEvents", op_get},
    {"DescribeLogGroups", op_describe_groups},
    {"DescribeLogStreams", op_describe_streams},
    {"CreateLogGroup", op_create_group},
    {"CreateLogStream", op_create_stream},
    {"PutLogEvents", op_put},
};

/* ---- running ---- */

/* logs:<Operation> on the log group the request names (arn:aws:logs:R:A:log-group:NAME,
 * with ":log-stream:NAME" for stream operations), or on every group when it names none.
 * Decided once the body is parsed, on the worker. */
static bool authorize(struct lop *op)
{
    struct api_req *ar = op->ar;
    const struct qr_config *c = &ar->server->cfg;
    const char *group = json_string_value(json_object_get(op->in, "logGroupName"));
    const char *stream = json_string_value(json_object_get(op->in, "logStreamName"));
    char action[96], arn[1400], *msg = h2o_mem_alloc_pool(&ar->req->pool, 2600);
    snprintf(action, sizeof(action), "logs:%s", op->route->name);
    int n = snprintf(arn, sizeof(arn), "arn:aws:logs:%s:%s:log-group:%.512s", c->region,
                     c->account_id, group ? group : "*");
    if (group && stream && n > 0 && (size_t)n < sizeof(arn))
        snprintf(arn + n, sizeof(arn) - (size_t)n, ":log-stream:%.512s", stream);
    struct api_authz q = {action, arn, {NULL, 0}, NULL, 0, NULL};
    if (api_authorize(ar, &q, msg, 2600))
        return true;
    fail(op, "AccessDeniedException", msg);
    return false;
}

static void job_run(struct qr_job *job)
{
    struct lop *op = H2O_STRUCT_FROM_MEMBER(struct lop, job, job);
    h2o_req_t *req = op->ar->req;
    json_error_t jerr;
    op->in = json_loadb(req->entity.base ? req->entity.base : "{}",
                        req->entity.base ? req->entity.len : 2, JSON_REJECT_DUPLICATES, &jerr);
    if (!op->in || !json_is_object(op->in)) {
        fail(op, "SerializationException", "The request body is not a JSON object.");
        return;
    }
    if (authorize(op))
        op->route->fn(op);
}

static void send_error(struct api_req *ar, int status, const char *code, const char *msg)
{
    struct lop tmp;
    memset(&tmp, 0, sizeof(tmp));
    qr_buf_init(&tmp.out, 4096);
    bool first = true;
    jraw(&tmp, "{");
    jkey(&tmp, &first, "__type");
    jstr(&tmp, qr_slice_cstr(code));
    jkey(&tmp, &first, "message");
    jstr(&tmp, qr_slice_cstr(msg));
    jraw(&tmp, "}");
    api_send(ar, status, CT_JSON, tmp.out.p, tmp.out.len);
    qr_buf_dispose(&tmp.out);
}

static void job_done(struct qr_job *job)
{
    struct lop *op = H2O_STRUCT_FROM_MEMBER(struct lop, job, job);
    if (op->code) {
        send_error(op->ar, op->status, op->code, op->msg);
        return;
    }
    if (op->out.len == 0)
        jraw(op, "{}");
    api_send(op->ar, 200, CT_JSON, op->out.p, op->out.len);
}

static void dispose_op(void *p)
{
    struct lop *op = p;
    if (op->in)
        json_decref(op->in);
    qr_buf_dispose(&op->out);
}

void logs_api_handle(struct api_req *ar)
{
    h2o_req_t *req = ar->req;
    api_add_header(ar, "x-amzn-RequestId", ar->request_id, 16);
    ar->op = "Logs";
    struct qr_slice target;
    if (!h2o_memis(req->input.method.base, req->input.method.len, H2O_STRLIT("POST")) ||
        !api_header(ar, "x-amz-target", &target) ||
        !qr_slice_starts(target, QR_SLICE_LIT(TARGET_PREFIX))) {
        send_error(ar, 400, "UnknownOperationException", "Missing or unknown X-Amz-Target.");
        return;
    }
    struct qr_slice name =
        qr_slice(target.p + strlen(TARGET_PREFIX), target.len - strlen(TARGET_PREFIX));
    const struct lroute *r = NULL;
    for (size_t i = 0; i < sizeof(routes) / sizeof(*routes) && !r; i++)
        if (qr_slice_eq_lit(name, routes[i].name))
            r = &routes[i];
    if (!r) {
        send_error(ar, 400, "UnknownOperationException",
                   "quarry does not implement this CloudWatch Logs operation.");
        return;
    }
    ar->op = r->name;
    if (!ar->server->logs) {
        send_error(ar, 500, "ServiceUnavailableException", "The log store is not running.");
        return;
    }
    if (req->entity.base && req->entity.len > MAX_BODY) {
        send_error(ar, 400, "InvalidParameterException", "The request body is too large.");
        return;
    }
    struct lop *op = h2o_mem_alloc_shared(&req->pool, sizeof(*op), dispose_op);
    memset(op, 0, sizeof(*op));
    op->ar = ar;
    op->logs = ar->server->logs;
    op->route = r;
    qr_buf_init(&op->out, MAX_OUT);
    op->job.thread = ar->thread;
    op->job.run = job_run;
    op->job.done = job_done;
    server_submit(ar->server, &op->job);
}
