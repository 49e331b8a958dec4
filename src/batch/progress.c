/*
 * progress.c - throughput and ETA of a job, readable by any client (beyond AWS, opt-in):
 * a job tagged quarry:progress=true shows two more tags in GetJobTagging, computed from
 * its stored counters when read (nothing is written for them):
 *   quarry:rate  tasks finished per second of the job's time in Active ("12345.6")
 *   quarry:eta   seconds until the remaining tasks finish at that rate ("42"); "0" once
 *                every task finished, "unknown" before the first one did
 * A client putting the tags back does not store them: they are the server's.
 */
#include "batch/batch_int.h"

#include <stdio.h>
#include <string.h>

static bool want(const struct batch_tags *t)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->v[i].key, BATCH_TAG_PROGRESS) == 0)
            return strcmp(t->v[i].value, "true") == 0;
    return false;
}

/* Sets key to value, replacing a stored one, else appending when there is room. */
static void set_tag(struct batch_tags *t, const char *key, const char *value)
{
    size_t i;
    for (i = 0; i < t->n && strcmp(t->v[i].key, key) != 0; i++)
        ;
    if (i == t->n) {
        if (t->n == BATCH_MAX_JOB_TAGS)
            return;
        t->n++;
    }
    snprintf(t->v[i].key, sizeof(t->v[i].key), "%s", key);
    snprintf(t->v[i].value, sizeof(t->v[i].value), "%s", value);
}

void batch_progress_tags(const struct batch_job *j, struct batch_tags *t)
{
    if (!want(t))
        return;
    const struct store_job *r = &j->row;
    uint64_t done = r->succeeded + r->failed;
    double secs = (double)r->active_ms / 1000.0, rate = secs > 0 ? (double)done / secs : 0;
    char v[64];
    snprintf(v, sizeof(v), "%.1f", rate);
    set_tag(t, BATCH_TAG_RATE, v);
    if (r->total > 0 && done >= r->total && r->state != BATCH_NEW && r->state != BATCH_PREPARING)
        snprintf(v, sizeof(v), "0");
    else if (rate > 0 && r->total > done)
        snprintf(v, sizeof(v), "%.0f", (double)(r->total - done) / rate);
    else
        snprintf(v, sizeof(v), "unknown");
    set_tag(t, BATCH_TAG_ETA, v);
}

void batch_strip_progress_tags(struct batch_tags *t)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->v[i].key, BATCH_TAG_RATE) != 0 && strcmp(t->v[i].key, BATCH_TAG_ETA) != 0)
            t->v[n++] = t->v[i];
    t->n = n;
}
