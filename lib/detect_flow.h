/*
 * detect_flow.h - the direct_mx detector: subscribers that talk to remote
 * MXes on TCP port 25 instead of going through the smarthost.
 *
 * Pure: no pcap or fixbuf types.  botsentry-flowd decodes packets
 * (flow_decode.h) and flow records (IPFIX, NetFlow v9 and v5) into the two
 * observations below; the unit tests and the benchmark call the same
 * functions.
 *
 * How it counts.  A SYN from an in-scope source to port 25 opens a pending
 * connection attempt (a retransmitted SYN for the same 5-tuple is the same
 * attempt).  The attempt is resolved by the first answer seen (SYN+ACK:
 * established; RST: refused), or, when no answer came within syn_timeout
 * of traffic time, as unanswered (or as unknown, when the input cannot see
 * answers).  A resolved attempt enters the source's sliding window: attempts,
 * failed attempts (refused or unanswered) and distinct destinations.  A SYN
 * from the same source to a configured smarthost (ports 25 and 587) counts
 * as "also used the smarthost".  Counting at resolution makes packet and
 * flow inputs count the same way, whatever order the answers come in.
 *
 * When a source's window holds at least min_attempts attempts and
 * min_destinations distinct destinations, the detector reports one hit; it
 * reports again only after the window has fallen below the thresholds (a
 * new crossing) or a whole window after the last hit while it stays above.
 *
 * Not thread-safe: one thread (or a caller's lock) per detector.
 */
#ifndef BS_DETECT_FLOW_H
#define BS_DETECT_FLOW_H

#include <stddef.h>
#include <stdint.h>
#include "event.h"

/* An IPv4 or IPv6 address; IPv4 in a[0..3], the rest zero. */
struct df_addr {
	uint8_t family;          /* 4 or 6 */
	uint8_t a[16];
};

struct df_prefix {
	uint8_t family;          /* 4 or 6 */
	uint8_t len;             /* prefix length in bits */
	uint8_t a[16];           /* host bits cleared */
};

/* "192.0.2.1", "2001:db8::1": 0, or -1. */
int df_addr_parse(const char *s, struct df_addr *out);
/* "192.0.2.0/24", "2001:db8::/32", or a bare address (a host prefix):
 * 0, or -1.  Host bits are cleared. */
int df_prefix_parse(const char *s, struct df_prefix *out);
int df_prefix_match(const struct df_prefix *p, const struct df_addr *a);
/* Text form into buf (>= 46 bytes); returns buf. */
char *df_addr_format(const struct df_addr *a, char *buf, size_t size);

/* Settings; the lists are borrowed for the detector's life. */
struct df_settings {
	int64_t window_ms;
	long min_attempts;
	long min_destinations;
	double weight_base;          /* score at the crossing */
	double weight_volume;        /* per multiple of min_destinations beyond it, up to 4 */
	double weight_failed;        /* times the failed share */
	double weight_smarthost;     /* when the source also used a smarthost */
	int64_t syn_timeout_ms;      /* an unanswered SYN is resolved after this */
	size_t max_sources;          /* cap on tracked sources (eviction counted) */
	int64_t idle_ms;             /* a source untouched this long expires */
	size_t max_pending;          /* cap on pending attempts (oldest resolved as unknown) */
	int v6_prefix_len;           /* IPv6 sources are counted per prefix of this length */
	const struct df_prefix *watch;      /* subscriber prefixes; none: every source */
	size_t n_watch;
	const struct df_prefix *exclude;    /* never watched (smarthosts, relays, business) */
	size_t n_exclude;
	const struct df_prefix *smarthosts; /* the ISP's smarthosts (as destinations) */
	size_t n_smarthosts;
};

/* Defaults suited to residential subscribers (see botsentry.conf(5)). */
void df_settings_default(struct df_settings *s);

/* A TCP segment, as decoded from a packet. */
struct df_segment {
	int64_t ts_ms;
	struct df_addr src, dst;
	uint16_t sport, dport;
	uint8_t flags;           /* TCP flags byte: FIN 0x01 SYN 0x02 RST 0x04 ACK 0x10 */
	int input;               /* from df_input_add */
};

/* A unidirectional flow record (IPFIX, NetFlow v9/v5). */
struct df_flowrec {
	int64_t start_ms, end_ms;
	struct df_addr src, dst;
	uint16_t sport, dport;
	uint8_t proto;
	uint8_t flags;           /* OR of the TCP flags of the flow's packets */
	uint64_t packets;
	int input;
};

/* What a resolved attempt turned out to be. */
enum df_outcome {
	DF_ESTABLISHED = 0,
	DF_REFUSED,
	DF_UNANSWERED,
	DF_UNKNOWN                /* no answer seen, and the input cannot see answers */
};

#define DF_SAMPLE_MAX 5

/* One detection (borrowed by the callback; copy what you keep). */
struct df_hit {
	int64_t ts_ms;                    /* traffic time of the attempt that crossed */
	struct df_addr src;               /* the address seen */
	char key[64];                     /* the counting key ("2001:db8:1::/56" for IPv6) */
	double attempts, failed, destinations;
	int smarthost;                    /* also used the smarthost in the window */
	int64_t window_ms;
	struct df_addr sample[DF_SAMPLE_MAX];
	int n_sample;
	const char *input;                /* the input's name */
	double score;
	int repeat;                       /* 0 at a crossing, 1 for a later window */
};

typedef void (*df_hit_fn)(void *ud, const struct df_hit *hit);

struct df_stats {
	uint64_t segments, records;       /* observations offered */
	uint64_t out_of_scope;            /* not watched or excluded */
	uint64_t attempts;                /* resolved attempts counted */
	uint64_t established, refused, unanswered, unknown;
	uint64_t smarthost;               /* uses of the smarthost seen */
	uint64_t retransmits;             /* SYNs for an attempt already pending */
	uint64_t pending;                 /* now */
	uint64_t pending_evicted;         /* resolved early because max_pending was reached */
	uint64_t hits;
	uint64_t sources;                 /* tracked now (counted and parked) */
	uint64_t source_evictions, source_expirations;
	/* first sightings (detect_flow.c): an IPv4 source's first resolved
	 * attempt is parked outside the counters until its second */
	uint64_t first_parked;            /* parked */
	uint64_t first_promoted;          /* replayed into the counters at the second */
	uint64_t first_spilled;           /* went to the counters directly: full bucket */
	uint64_t first_evicted;           /* dropped at max_sources (also in source_evictions) */
	uint64_t first_expired;           /* aged out unreplayed (also in source_expirations) */
	uint64_t first_live;              /* parked now (also in sources) */
	uint64_t state_evictions;         /* firing state dropped for lack of room */
	uint64_t bytes;                   /* memory held */
};

struct df;

/* NULL when the counters cannot be made (bad settings). */
struct df *df_new(const struct df_settings *s, df_hit_fn fn, void *ud);
void df_free(struct df *d);           /* NULL is fine; does not flush */

/* Replace thresholds, weights and scope (reload); counts are kept. */
void df_set_settings(struct df *d, const struct df_settings *s);

/* Name an input; replies_visible: whether it sees the answers from port 25
 * (a SYN-only capture filter does not).  Returns the input's number. */
int df_input_add(struct df *d, const char *name, int replies_visible);
const char *df_input_name(const struct df *d, int input);

/* Is this source watched (in a subscriber prefix and not excluded)? */
int df_in_scope(const struct df *d, const struct df_addr *src);

void df_segment(struct df *d, const struct df_segment *s);

/*
 * A short look-ahead for packet inputs that read in batches (pcap files):
 * queued segments reach df_segment's counting in the same order, but
 * DF_QUEUE_LEN segments late, having fetched the table slots each will
 * touch into the cache meanwhile (a SYN or an answer probes a table of a
 * megabyte at a random place).  Segments that concern neither port 25
 * nor 587 only count and move time on; consecutive ones with the same
 * millisecond are queued as one.  Drain before the detector is used
 * otherwise (df_advance, df_flush, df_get_stats from elsewhere) and at the
 * end of each batch: hits are reported from inside next and drain.
 */
#define DF_QUEUE_LEN 8
struct df_queue {
	struct df_segment seg[DF_QUEUE_LEN];
	uint64_t hash[DF_QUEUE_LEN];
	uint32_t ticks[DF_QUEUE_LEN];   /* >0: that many segments of no interest at seg's time */
	unsigned head, tail;
};
/* The slot for the next segment (the oldest queued one is counted first
 * when the queue is full): fill every field, then df_queue_commit.  A slot
 * not committed is simply reused. */
struct df_segment *df_queue_next(struct df *d, struct df_queue *q);
void df_queue_commit(struct df *d, struct df_queue *q);
void df_queue_drain(struct df *d, struct df_queue *q);

/* Does the detector look at this segment beyond counting it and moving
 * time (a SYN to port 25/587, or anything from port 25/587)? */
static inline int
df_segment_wanted(uint16_t sport, uint16_t dport, uint8_t flags)
{
	if ((flags & 0x12) == 0x02)
		return dport == 25 || dport == 587;
	return sport == 25 || sport == 587;
}

/* Queue a segment df_segment_wanted says no to: only its time is kept
 * (the same as df_queue_next, filling it, and df_queue_commit). */
void df_queue_tick_slow(struct df *d, struct df_queue *q, int64_t ts_ms);
static inline void
df_queue_tick(struct df *d, struct df_queue *q, int64_t ts_ms)
{
	if (q->tail != q->head) {
		unsigned j = (q->tail - 1) % DF_QUEUE_LEN;
		if (q->ticks[j] != 0 && q->seg[j].ts_ms == ts_ms) {
			q->ticks[j]++;
			return;
		}
	}
	df_queue_tick_slow(d, q, ts_ms);
}
void df_flowrec(struct df *d, const struct df_flowrec *r);
/* Move traffic time forward: resolve attempts pending longer than
 * syn_timeout before now_ms.  Inputs call it as their time advances. */
void df_advance(struct df *d, int64_t now_ms);
/* Resolve every pending attempt now (end of input, shutdown). */
void df_flush(struct df *d);
void df_get_stats(struct df *d, struct df_stats *out);

/*
 * Turn a hit into a direct_mx event (source "flow", client IP, evidence
 * JSON); the caller adds subscriber and node.  ev is initialised here and
 * owns its evidence (event_clear).
 */
void df_hit_event(const struct df_hit *hit, struct event *ev);

#endif
