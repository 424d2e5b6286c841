/*
 * detect.h - the milter's detectors as plain functions over observations.
 *
 * No libmilter types here: the milter (milter/), the unit tests and the
 * replay decode their input into these observations and call the same
 * functions.  Each detector appends zero or more scored events (event.h)
 * with readable evidence to a det_out; the caller stamps subscriber, client
 * IP and node (det_subject) and submits them to the writer.
 *
 * Contract between the detector helper (lib/detect*.c, lib/helo.c,
 * lib/spf.c, lib/dkim.c) and the milter helper (milter/): the detector
 * helper owns and may extend this header; keep additions backwards
 * compatible while the milter is being written against it.
 */
#ifndef BS_DETECT_H
#define BS_DETECT_H

#include <stddef.h>
#include <stdint.h>
#include "conf.h"
#include "counters.h"
#include "event.h"

/* Who and when, stamped on every event a detector raises. */
struct det_subject {
	const char *subscriber;   /* "" when unattributed */
	const char *client_ip;
	const char *node;
	int64_t now_ms;
};

/* Events raised by one call; the caller owns them (det_out_clear). */
struct det_out {
	struct event *ev;
	size_t n, cap;
};
void det_out_init(struct det_out *o);
/* Append an event; returns it for the caller to fill evidence. */
struct event *det_out_push(struct det_out *o, const struct det_subject *s,
    const char *kind, double score);
void det_out_clear(struct det_out *o);

#endif
