/*
 * logs_int.h - shared by the files of src/logs/ only: the in-memory catalog, the event index and
 * the on-disk record formats.
 *
 * On disk, under DATA/logs/:
 *   g<32 hex>/             one directory per group, named by SHA-256(name) (never the name)
 *     group                "QLG1", int64 creation ms, u32 name length, name bytes
 *     streams              append-only: per stream "QLS1", u32 number, int64 creation ms,
 *                          u32 name length, name bytes; numbers are 0, 1, 2... in order
 *     NNNNNNNNNN.seg       segments, numbered from 1, never reused; records in ingestion
 *                          order: struct rec_hdr + message bytes
 * Integers are in host byte order (the files are not meant to move between machines).
 *
 * Lock order: group->rw, then logs->mu, then logs->q_mu (a leaf). No lock is held
 * across a write(), fsync or unlink; readers hold group->rw (shared) across their
 * preads so the logs thread cannot remove a segment under them.
 */
#ifndef QR_LOGS_INT_H
#define QR_LOGS_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "logs/logs.h"

#define LOGS_REC_MAGIC    0x31454c51u /* "QLE1" */
#define LOGS_STREAM_MAGIC 0x31534c51u /* "QLS1" */
#define LOGS_GROUP_MAGIC  0x31474c51u /* "QLG1" */
#define LOGS_DIR_LEN      34u         /* "g" + 32 hex + NUL */

/* One event record's header in a segment; the message follows. */
struct rec_hdr {
    uint32_t magic;  /* LOGS_REC_MAGIC */
    uint32_t crc;    /* crc32 of the fields after it and the message */
    uint32_t stream; /* stream number in the group */
    uint32_t len;    /* message bytes */
    int64_t ts_ms;
    int64_t ingest_ms;
};

/* One written event in a group's index. Entries are in (seg, off) order. */
struct logs_ent {
    uint32_t seg;    /* segment number */
    uint32_t off;    /* offset of the record header in the segment */
    uint32_t len;    /* message bytes */
    uint32_t stream; /* stream number */
    int64_t ts_ms;
};

/* The stable position of an event: (segment, offset). 0 is before every event. */
static inline uint64_t logs_ent_pos(const struct logs_ent *e)
{
    return (uint64_t)e->seg << 32 | e->off;
}

struct logs_seg {
    uint32_t no;           /* file NNNNNNNNNN.seg */
    uint64_t size;         /* bytes written */
    int64_t max_ingest_ms; /* newest ingestion time in it, for retention */
};

struct logs_stream {
    uint8_t *name; /* owned, name_len bytes, immutable */
    size_t name_len;
    uint32_t no; /* index in group->by_no */
    int64_t creation_ms;
    /* guarded by logs->mu */
    bool has_events;
    int64_t first_ms, last_ms, last_ingest_ms;
    uint64_t stored_bytes;
};

/*
 * A group. The name, dir and hash never change. by_no[i]->no == i; by_name holds the
 * same streams sorted by name. Streams [0, n_persisted) are in the streams file.
 * ent[ent_start, n_ent) are the live index entries, all in segments segs[0, n_segs).
 */
struct logs_group {
    uint8_t *name; /* owned, immutable */
    size_t name_len;
    char dir[LOGS_DIR_LEN]; /* directory name under DATA/logs */
    uint64_t hash64;        /* first 8 bytes of the name hash: event id prefix */
    int64_t creation_ms;

    /* guarded by logs->mu */
    struct logs_stream **by_no;
    struct logs_stream **by_name;
    size_t n_streams, cap_streams;
    uint64_t stored_bytes; /* sum of segment sizes */
    bool cat_dirty;        /* on logs->cat_dirty: the group or a stream needs writing */
    struct logs_group *cat_next;

    /* guarded by rw */
    pthread_rwlock_t rw;
    struct logs_ent *ent;
    size_t ent_start, n_ent, cap_ent;
    struct logs_seg *segs;
    size_t n_segs, cap_segs;

    /* logs thread only (and open/close) */
    size_t n_persisted;                 /* streams written to the streams file */
    int dir_fd;                         /* open directory, or -1 */
    int wfd;                            /* open segment being appended to, or -1 */
    uint32_t wseg;                      /* its number */
    uint64_t wsize;                     /* its size */
    bool dirty;                         /* written since the last fdatasync */
    uint32_t next_seg;                  /* number of the next segment */
    bool persisted;                     /* the directory and group file exist */
    struct logs_group *batch_next;      /* groups touched by the current batch */
    struct logs_qitem *b_head, *b_tail; /* this group's events of the current batch */
    bool in_batch;
    struct logs_group *sync_next; /* groups written since the last fdatasync */
};

/* A queued event. */
struct logs_qitem {
    struct logs_qitem *next;
    struct logs_group *g;
    struct logs_stream *s;
    int64_t ts_ms, ingest_ms;
    uint64_t seq;
    size_t len;
    uint8_t msg[];
};

struct logs {
    int dir_fd;         /* DATA/logs */
    struct logs_opts o; /* with defaults filled in */

    pthread_mutex_t mu;         /* guards the catalog: groups and the fields marked so */
    struct logs_group **groups; /* sorted by name */
    size_t n_groups, cap_groups;
    struct logs_group *cat_dirty; /* groups with something to write, via cat_next */

    pthread_mutex_t q_mu;   /* guards the fields below */
    pthread_cond_t q_cv;    /* wakes the logs thread (CLOCK_MONOTONIC) */
    pthread_cond_t done_cv; /* wakes logs_flush */
    struct logs_qitem *q_head, *q_tail;
    size_t q_bytes;
    uint64_t q_seq;       /* sequence of the last queued event */
    bool catalog_pending; /* a group or stream waits to be written */
    bool flush_wanted;
    bool stop;
    /* Wake-ups are rationed: a signal costs the appender a futex call and the logs thread
     * a context switch, per line if done per line. The logs thread sets one of these
     * before it waits (under q_mu, after checking for work); logs_append signals only
     * while one is set, and clears it, so each wait is ended at most once. */
    bool w_idle;     /* waiting for anything to do */
    bool w_gather;   /* waiting opts.batch_ms for more events; ends early at q_high */
    size_t q_high;   /* queue bytes that end a gather: queue_bytes / LOGS_QUEUE_HIGH_DIV */
    uint64_t n_wake; /* wake-ups sent (appends, flushes, catalog, close), for tests */
    uint64_t cycles_begun, cycles_done;

    pthread_t thr;
    bool thr_started;
    atomic_uint_fast64_t n_appended, n_dropped, n_written, n_removed; /* relaxed */
};

/* The logs thread (writer.c). */
void *logs_writer_main(void *arg);
/* Puts g on the list of groups whose catalog entries need writing. Caller holds l->mu. */
void logs_mark_dirty(struct logs *l, struct logs_group *g);
/* Appends an index entry. Caller holds g->rw exclusively (or owns g, at open). */
void logs_index_add(struct logs_group *g, const struct logs_ent *e);
/* Notes an event written to s. Caller holds l->mu (or owns the store, at open). */
void logs_stream_note(struct logs_stream *s, int64_t ts, int64_t ingest, uint64_t bytes);
/* Registers a segment of g. Caller holds g->rw exclusively (or owns g, at open). */
void logs_seg_add(struct logs_group *g, uint32_t no, uint64_t size, int64_t max_ingest);
/* Finds a group by name, or NULL. Caller holds l->mu. */
struct logs_group *logs_find_group(struct logs *l, struct qr_slice name);
/* Finds a stream of g by name, or NULL. Caller holds l->mu. */
struct logs_stream *logs_find_stream(struct logs_group *g, struct qr_slice name);
/* Index of the first live entry of g at or after pos. Caller holds g->rw. */
size_t logs_ent_lower_bound(const struct logs_group *g, uint64_t pos);
/* Writes the 56-digit event id of the entry at pos in g. */
void logs_event_id(const struct logs_group *g, uint64_t pos, char out[LOGS_EVENT_ID_LEN]);
/* The crc of a record (header fields after crc + message). */
uint32_t logs_rec_crc(const struct rec_hdr *h, const uint8_t *msg);

#endif
