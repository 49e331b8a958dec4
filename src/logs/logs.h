/*
 * logs.h - the function log store: log groups ("/aws/lambda/NAME"), their streams
 * ("2026/11/25/[$LATEST]<32 hex>") and events (timestamp, ingestion time, message bytes,
 * a stable event id), kept in append-only files under DATA/logs/ (no SQLite: log volume
 * is high and must not contend with the metadata writer).
 *
 * Writes never block on disk: logs_append copies the event into a bounded in-memory
 * queue and returns; one logs thread drains the queue in batches (one write() per group
 * segment per batch, fdatasync at most every opts.fsync_ms, never per line). When the
 * queue is full the oldest queued events are dropped and counted.
 *
 * Reads (the CloudWatch Logs calls) see an event once the logs thread has written it,
 * normally within opts.batch_ms (2 ms) and one write; logs_flush waits for that. Each
 * read does bounded work (LOGS_SCAN_MAX index entries, LOGS_READ_MAX message bytes)
 * and returns a token to go on from. Reads pread files: call them from a worker
 * thread, not a loop.
 *
 * Names are bytes and never reach a path: a group's directory is named after a hash of
 * its name, streams are numbered, and the real names live in a small file per group.
 * Groups and streams are never removed while the store is open, so names handed out
 * by the read calls stay valid until logs_close.
 */
#ifndef QR_LOGS_H
#define QR_LOGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "util/slice.h"

/* Errors the store returns beyond the generic ones. err.h has no neutral "not found" /
 * "exists" values yet; these aliases keep the meaning readable here and in api/logs. */
#define LOGS_E_NO_GROUP  QR_E_NO_SUCH_BUCKET /* the log group does not exist */
#define LOGS_E_NO_STREAM QR_E_NO_SUCH_KEY    /* the log stream does not exist */
#define LOGS_E_EXISTS    QR_E_CONFLICT       /* the group or stream already exists */

#define LOGS_MAX_NAME     512u            /* group and stream names, bytes (AWS) */
#define LOGS_MAX_MESSAGE  (256u * 1024u)  /* one event's message, bytes (AWS) */
#define LOGS_MAX_LIMIT    10000u          /* events per read call (AWS) */
#define LOGS_MAX_LIST     50u             /* groups or streams per list call (AWS) */
#define LOGS_READ_MAX     (1024u * 1024u) /* message bytes per read call (AWS: 1 MB) */
#define LOGS_SCAN_MAX     (1024u * 1024u) /* index entries examined per read call */
#define LOGS_TOKEN_LEN    64u             /* paging tokens fit in this, NUL included */
#define LOGS_EVENT_ID_LEN 57u             /* 56 decimal digits + NUL, as AWS */
#define LOGS_MAX_PATTERN  1024u           /* filterPattern, bytes (AWS) */

struct logs;

struct logs_opts {
    uint64_t group_cap_bytes; /* per group; oldest segment files go first. 0 = 64 MB */
    uint64_t segment_bytes;   /* a segment file is closed past this size. 0 = 4 MB */
    int64_t retention_ms;     /* segments whose newest event is older go. 0 = keep */
    uint64_t queue_bytes;     /* queued, unwritten message bytes. 0 = 16 MB */
    unsigned fsync_ms;        /* fdatasync written segments at most this often.
                               * 0 = 1000 ms; LOGS_FSYNC_NEVER = never */
    unsigned batch_ms;        /* events gather this long before a write; a logs_flush,
                               * close or a queue past 1/LOGS_QUEUE_HIGH_DIV of
                               * queue_bytes ends it early.
                               * 0 = 2 ms; at most 60000 */
};
#define LOGS_FSYNC_NEVER ((unsigned)-1)
/* The queue fill (as a fraction, 1/N, of queue_bytes) that ends a batch_ms gather early:
 * a burst is written as it comes, well before the queue is full and drops. */
#define LOGS_QUEUE_HIGH_DIV 8u

/*
 * Opens (creating DATA/logs/ if needed) the store under data_dir, loads every group,
 * stream and event index, cuts torn record tails left by a crash, and starts the logs
 * thread. o may be NULL for the defaults. *out owned by caller (free with logs_close).
 * Errors: QR_E_IO. Main thread.
 */
enum qr_err logs_open(const char *data_dir, const struct logs_opts *o, struct logs **out)
    __attribute__((warn_unused_result));

/* Writes what is queued, stops the logs thread, frees l. NULL is a no-op. Main thread. */
void logs_close(struct logs *l);

/*
 * Queues one event for group/stream, creating both (in memory at once, on disk by the
 * logs thread) if they do not exist. The ingestion time is now. Bytes are copied;
 * group, stream and message are borrowed. Never blocks on disk: if the queue is full,
 * the oldest queued events are dropped (logs_stats counts them).
 * Errors: QR_E_BAD_INPUT (empty or over-long name), QR_E_TOO_LARGE (message over
 * LOGS_MAX_MESSAGE). Any thread, including event loops.
 */
enum qr_err logs_append(struct logs *l, struct qr_slice group, struct qr_slice stream,
                        int64_t ts_ms, struct qr_slice message) __attribute__((warn_unused_result));

/* Waits until every event appended before the call is written and readable (not
 * necessarily fsynced). Blocks: tests and workers only, never a loop thread. */
void logs_flush(struct logs *l);

/* Creates an empty group (CreateLogGroup). Errors: LOGS_E_EXISTS, QR_E_BAD_INPUT. Any. */
enum qr_err logs_group_create(struct logs *l, struct qr_slice group)
    __attribute__((warn_unused_result));
/* Creates an empty stream (CreateLogStream). Errors: LOGS_E_NO_GROUP, LOGS_E_EXISTS,
 * QR_E_BAD_INPUT. Any thread. */
enum qr_err logs_stream_create(struct logs *l, struct qr_slice group, struct qr_slice stream)
    __attribute__((warn_unused_result));
/* Whether group exists. Any thread. */
bool logs_group_exists(struct logs *l, struct qr_slice group);

struct logs_stats {
    uint64_t appended;         /* events accepted by logs_append */
    uint64_t dropped;          /* events dropped because the queue was full */
    uint64_t written;          /* events written to segment files */
    uint64_t segments_removed; /* segment files removed by the size cap or retention */
};
/* Counters since logs_open. Any thread. */
void logs_stats(struct logs *l, struct logs_stats *out);

/* ---- reads ---- */

/* One log group as listed. */
struct logs_group_info {
    struct qr_slice name; /* lives until logs_close */
    int64_t creation_ms;
    uint64_t stored_bytes; /* segment bytes on disk */
};

/* One log stream as listed. first/last fields are 0 while has_events is false. */
struct logs_stream_info {
    struct qr_slice name; /* lives until logs_close */
    int64_t creation_ms;
    bool has_events;
    int64_t first_event_ms; /* smallest event timestamp written */
    int64_t last_event_ms;  /* largest event timestamp written */
    int64_t last_ingest_ms; /* ingestion time of the newest event written */
    uint64_t stored_bytes;  /* record bytes written for this stream */
};

/* A page of a list call. Free with logs_list_free. */
struct logs_list {
    struct logs_group_info *groups;   /* n entries (list_groups), or NULL */
    struct logs_stream_info *streams; /* n entries (list_streams), or NULL */
    size_t n;
    bool has_next;                                       /* next_token is set */
    char next_token[LOGS_TOKEN_LEN + 2 * LOGS_MAX_NAME]; /* NUL-terminated */
};
void logs_list_free(struct logs_list *p);

/*
 * Lists groups in name (byte) order whose name starts with prefix (empty = all), at
 * most limit (1..LOGS_MAX_LIST), after token (empty = from the start; a next_token of
 * an earlier page). Fills *out (free with logs_list_free).
 * Errors: QR_E_BAD_INPUT (limit, token). Any thread (memory only).
 */
enum qr_err logs_list_groups(struct logs *l, struct qr_slice prefix, size_t limit,
                             struct qr_slice token, struct logs_list *out)
    __attribute__((warn_unused_result));

enum logs_stream_order {
    LOGS_ORDER_NAME,       /* LogStreamName: byte order of names */
    LOGS_ORDER_LAST_EVENT, /* LastEventTime: last event timestamp, then name */
};

struct logs_stream_q {
    struct qr_slice group;
    struct qr_slice prefix; /* name prefix, empty = all */
    enum logs_stream_order order;
    bool descending;
    size_t limit;          /* 1..LOGS_MAX_LIST */
    struct qr_slice token; /* empty, or an earlier next_token of the same query */
};
/* Lists the streams of a group. Errors: LOGS_E_NO_GROUP, QR_E_BAD_INPUT. Any thread. */
enum qr_err logs_list_streams(struct logs *l, const struct logs_stream_q *q, struct logs_list *out)
    __attribute__((warn_unused_result));

/* One event as read. */
struct logs_event {
    struct qr_slice stream; /* stream name; lives until logs_close */
    int64_t ts_ms;
    int64_t ingest_ms;
    struct qr_slice message;          /* owned by the page */
    char event_id[LOGS_EVENT_ID_LEN]; /* 56 decimal digits: stable, unique in the store */
};

/* A page of events. Free with logs_events_free. */
struct logs_events {
    struct logs_event *ev; /* n events in file (ingestion) order */
    size_t n;
    bool has_next;                       /* filter: next_token is set */
    char next_token[LOGS_TOKEN_LEN];     /* filter: go on; get: nextForwardToken */
    char backward_token[LOGS_TOKEN_LEN]; /* get: nextBackwardToken */
    uint8_t *_mem;                       /* message bytes of all events */
};
void logs_events_free(struct logs_events *p);

/* Filter patterns: see logs_pattern_parse. */
struct logs_pattern;

struct logs_filter_q {
    struct qr_slice group;
    const struct qr_slice *streams; /* exact stream names (n_streams of them), or NULL */
    size_t n_streams;
    struct qr_slice prefix; /* stream name prefix, empty = all (ignored with streams) */
    bool has_start;
    int64_t start_ms; /* inclusive */
    bool has_end;
    int64_t end_ms;                     /* exclusive */
    const struct logs_pattern *pattern; /* NULL = every event */
    size_t limit;                       /* 1..LOGS_MAX_LIMIT */
    struct qr_slice token;              /* empty, or an earlier next_token */
};
/*
 * FilterLogEvents: events of the group's matching streams in [start, end) whose
 * message matches pattern, in ingestion order (which is timestamp order within a
 * stream), at most limit and LOGS_READ_MAX message bytes. has_next is set whenever the
 * scan stopped early (limit, byte or scan budget) even if this page is empty.
 * Errors: LOGS_E_NO_GROUP, QR_E_BAD_INPUT (token, limit), QR_E_IO. Worker thread.
 */
enum qr_err logs_filter(struct logs *l, const struct logs_filter_q *q, struct logs_events *out)
    __attribute__((warn_unused_result));

struct logs_get_q {
    struct qr_slice group;
    struct qr_slice stream;
    bool has_start;
    int64_t start_ms; /* inclusive */
    bool has_end;
    int64_t end_ms;        /* exclusive */
    bool start_from_head;  /* without a token: oldest first, else the newest limit */
    size_t limit;          /* 1..LOGS_MAX_LIMIT */
    struct qr_slice token; /* empty, "f/..." or "b/..." from an earlier page */
};
/*
 * GetLogEvents: one stream's events in [start, end), oldest first. A forward read
 * returns the events after the token's position, a backward one (no token and not
 * start_from_head, or a "b/" token) the last limit events before it. next_token is
 * nextForwardToken, backward_token nextBackwardToken; both are always set, and a
 * forward read that finds nothing new returns the token it was given, as AWS does.
 * Errors: LOGS_E_NO_GROUP, LOGS_E_NO_STREAM, QR_E_BAD_INPUT, QR_E_IO. Worker thread.
 */
enum qr_err logs_get(struct logs *l, const struct logs_get_q *q, struct logs_events *out)
    __attribute__((warn_unused_result));

/*
 * Parses a CloudWatch filter pattern (borrowed; at most LOGS_MAX_PATTERN bytes). Supported:
 * empty or "" (every event); terms separated by spaces, each of which must appear
 * (case-sensitive substring); "quoted phrase" as one term (\" and \\ escapes); a term
 * with a leading '-' must not appear; terms with a leading '?' match if any of them
 * appears. JSON ({...}) and space-delimited ([...]) patterns are refused.
 * *out owned by caller (free with logs_pattern_free).
 * Errors: QR_E_TOO_LARGE, QR_E_BAD_INPUT (unterminated quote), QR_E_NOT_IMPLEMENTED.
 * Any thread.
 */
enum qr_err logs_pattern_parse(struct qr_slice text, struct logs_pattern **out)
    __attribute__((warn_unused_result));
void logs_pattern_free(struct logs_pattern *p);
/* Whether message matches p. Any thread. */
bool logs_pattern_match(const struct logs_pattern *p, struct qr_slice message);

#endif
