/*
 * writer.h - the sensors' path into the store: a bounded queue and a writer
 * thread that records events in batched transactions.
 *
 * writer_submit() never blocks on the database: it copies the event into the
 * queue, or counts a drop when the queue is full.  An event is acknowledged
 * once its batch commits (writer_stats().committed), or when the desk's
 * allowlist covers it (.allowlisted: not recorded, on purpose).
 * writer_stop() flushes everything queued before it returns.
 */
#ifndef BS_WRITER_H
#define BS_WRITER_H

#include <stdint.h>
#include "conf.h"
#include "event.h"
#include "store.h"

struct writer;

struct writer_stats {
	uint64_t submitted;
	uint64_t committed;
	uint64_t dropped;        /* queue full */
	uint64_t failed;         /* batches that failed and were retried */
	uint64_t rejected;       /* events the database refused for good (logged) */
	uint64_t allowlisted;    /* not recorded: the desk's allowlist covers them */
	uint64_t depth;          /* now */
	uint64_t max_depth;
};

/* Callback run in the writer thread after each committed event (may be NULL):
 * the milter uses it to learn new mitigation states at once. */
typedef void (*writer_result_fn)(void *ud, const struct event *ev, const struct record_result *r);

/* Open its own store handle from uri; NULL and err on failure. */
struct writer *writer_start(const char *uri, const struct score_settings *policy,
    long capacity, long batch, long flush_ms, writer_result_fn fn, void *ud,
    char *err, size_t errlen);
/* Copy ev into the queue; 0, or -1 when full (counted, logged once a minute). */
int writer_submit(struct writer *w, const struct event *ev);
/* Replace the scoring policy (reload). */
void writer_set_policy(struct writer *w, const struct score_settings *policy);
void writer_get_stats(struct writer *w, struct writer_stats *out);
/* Flush and stop; logs final counters; NULL is fine.  Returns the number
 * of accepted events given up because the database did not take them
 * within 30 s of the stop (0 normally). */
uint64_t writer_stop(struct writer *w);

#endif
