/*
 * nfv5.h - NetFlow v5 datagrams (Cisco's fixed format; libfixbuf lacks it).
 *
 * Pure: bytes in, host-order structs out.  A datagram is a 24-byte header
 * and 1 to 30 records of 48 bytes.  Times in records are router uptime
 * milliseconds; they are turned into epoch milliseconds with the header's
 * export time (unix_secs, unix_nsecs) and uptime, across uptime wrap.
 * Also a small per-exporter sequence tracker, for counting lost records.
 */
#ifndef BS_NFV5_H
#define BS_NFV5_H

#include <stddef.h>
#include <stdint.h>

#define NFV5_HEADER_LEN 24
#define NFV5_RECORD_LEN 48
#define NFV5_MAX_RECORDS 30

struct nfv5_header {
	uint16_t version, count;
	uint32_t uptime_ms;
	uint32_t unix_secs, unix_nsecs;
	uint32_t sequence;            /* flows the exporter sent before this datagram */
	uint8_t engine_type, engine_id;
	uint16_t sampling;
	int64_t export_ms;            /* unix_secs/nsecs in ms */
};

struct nfv5_record {
	uint8_t src[4], dst[4], nexthop[4];
	uint16_t input, output;
	uint32_t packets, octets;
	uint32_t first_uptime, last_uptime;
	int64_t start_ms, end_ms;     /* epoch ms */
	uint16_t sport, dport;
	uint8_t flags, proto, tos;
	uint16_t src_as, dst_as;
	uint8_t src_mask, dst_mask;
};

enum nfv5_result {
	NFV5_OK = 0,
	NFV5_SHORT,           /* shorter than a header */
	NFV5_VERSION,         /* not version 5 */
	NFV5_COUNT,           /* count 0, above 30, or not matching the length */
	NFV5_NRESULTS
};

/*
 * Parse a datagram.  recs must hold NFV5_MAX_RECORDS; *nrec receives the
 * number decoded.  Fails as a whole: a datagram whose length does not match
 * its count is not half-trusted.
 */
enum nfv5_result nfv5_parse(const uint8_t *buf, size_t len, struct nfv5_header *h,
    struct nfv5_record *recs, size_t *nrec);
const char *nfv5_result_name(enum nfv5_result r);

/*
 * Sanity of a record: NULL if plausible, else a short reason ("zero_packets",
 * "octets_below_packets", "end_before_start", "too_long",
 * "future_start", "bad_address").  Impossible values come from broken
 * exporters or forged datagrams; the caller counts and skips them.
 */
const char *nfv5_record_check(const struct nfv5_header *h, const struct nfv5_record *r);

/* Per-exporter sequence tracking: records lost between datagrams. */
struct nfv5_seq {
	int started;
	uint32_t next;                /* the sequence expected next */
};
/* Feed a datagram's sequence and record count; returns records lost
 * before it (0 for the first, for reordering and for a restart). */
uint64_t nfv5_seq_update(struct nfv5_seq *s, uint32_t sequence, uint32_t count);

#endif
