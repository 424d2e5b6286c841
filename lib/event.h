/*
 * event.h - a scored observation about one subscriber: what every sensor
 * produces and the store records.
 *
 * Fixed-size fields so that events can be copied into the writer queue
 * without allocation; the evidence is a JSON object (text) owned by the
 * event.  Evidence holds counts, windows and samples (HELO names, domains,
 * hashed recipients), never message content.
 */
#ifndef BS_EVENT_H
#define BS_EVENT_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#define EVENT_SUBSCRIBER_MAX 256
#define EVENT_SOURCE_MAX 16
#define EVENT_KIND_MAX 32
#define EVENT_IP_MAX 64
#define EVENT_NODE_MAX 64

struct event {
	int64_t ts_ms;                             /* when it happened (traffic time) */
	char subscriber[EVENT_SUBSCRIBER_MAX];     /* "" when unattributed */
	char source[EVENT_SOURCE_MAX];             /* milter, flow, logwatch, fbl, manual */
	char kind[EVENT_KIND_MAX];                 /* rate, fanout, helo, ... */
	double score;
	char client_ip[EVENT_IP_MAX];              /* may be "" */
	char node[EVENT_NODE_MAX];                 /* which host saw it */
	char *evidence;                            /* JSON object text; owned; NULL = {} */
};

/* Initialise *ev (zeroes it); strings are cut to their field size. */
void event_init(struct event *ev, int64_t ts_ms, const char *source, const char *kind,
    double score);
void event_set_subscriber(struct event *ev, const char *subscriber);
void event_set_client_ip(struct event *ev, const char *ip);
void event_set_node(struct event *ev, const char *node);
/* Takes the JSON object, serialises it compactly, and drops the reference. */
void event_set_evidence(struct event *ev, json_t *obj);
/* Free what the event owns (not the struct itself). */
void event_clear(struct event *ev);
/* Deep copy. */
void event_copy(struct event *dst, const struct event *src);

/*
 * Check an event from outside (botsentry event add, ARF ingestion): known
 * source, kind of [a-z0-9_], finite score in [0, 1000], time not before 2000
 * nor more than a day ahead, evidence a JSON object.  Returns 0, or -1 with a
 * message in err naming the field.
 */
int event_validate(const struct event *ev, int64_t now_ms, char *err, size_t errlen);

/* Is this source name one we know? */
int event_source_known(const char *source);

#endif
