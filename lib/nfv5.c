/*
 * nfv5.c - NetFlow v5 decoding.  Lengths are checked before every read;
 * the record count must match the datagram length exactly.
 */
#include "config.h"
#include "nfv5.h"

#include <string.h>

static uint16_t
rd16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t
rd32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Epoch ms of an uptime stamp, given the header's export time and uptime.
 * The difference is taken modulo 2^32 so that a wrap between the two is
 * handled; stamps "after" the export come out in the future. */
static int64_t
uptime_to_epoch(const struct nfv5_header *h, uint32_t stamp)
{
	int32_t ago = (int32_t)(h->uptime_ms - stamp);

	return h->export_ms - (int64_t)ago;
}

enum nfv5_result
nfv5_parse(const uint8_t *buf, size_t len, struct nfv5_header *h, struct nfv5_record *recs,
    size_t *nrec)
{
	size_t i;

	*nrec = 0;
	if (buf == NULL || len < NFV5_HEADER_LEN)
		return NFV5_SHORT;
	memset(h, 0, sizeof *h);
	h->version = rd16(buf);
	if (h->version != 5)
		return NFV5_VERSION;
	h->count = rd16(buf + 2);
	if (h->count == 0 || h->count > NFV5_MAX_RECORDS
	    || len != NFV5_HEADER_LEN + (size_t)h->count * NFV5_RECORD_LEN)
		return NFV5_COUNT;
	h->uptime_ms = rd32(buf + 4);
	h->unix_secs = rd32(buf + 8);
	h->unix_nsecs = rd32(buf + 12);
	h->sequence = rd32(buf + 16);
	h->engine_type = buf[20];
	h->engine_id = buf[21];
	h->sampling = rd16(buf + 22);
	h->export_ms = (int64_t)h->unix_secs * 1000 + (int64_t)(h->unix_nsecs / 1000000);
	for (i = 0; i < h->count; i++) {
		const uint8_t *p = buf + NFV5_HEADER_LEN + i * NFV5_RECORD_LEN;
		struct nfv5_record *r = &recs[i];

		memset(r, 0, sizeof *r);
		memcpy(r->src, p, 4);
		memcpy(r->dst, p + 4, 4);
		memcpy(r->nexthop, p + 8, 4);
		r->input = rd16(p + 12);
		r->output = rd16(p + 14);
		r->packets = rd32(p + 16);
		r->octets = rd32(p + 20);
		r->first_uptime = rd32(p + 24);
		r->last_uptime = rd32(p + 28);
		r->sport = rd16(p + 32);
		r->dport = rd16(p + 34);
		/* p[36] pad */
		r->flags = p[37];
		r->proto = p[38];
		r->tos = p[39];
		r->src_as = rd16(p + 40);
		r->dst_as = rd16(p + 42);
		r->src_mask = p[44];
		r->dst_mask = p[45];
		r->start_ms = uptime_to_epoch(h, r->first_uptime);
		r->end_ms = uptime_to_epoch(h, r->last_uptime);
	}
	*nrec = h->count;
	return NFV5_OK;
}

const char *
nfv5_result_name(enum nfv5_result r)
{
	static const char *const names[NFV5_NRESULTS] = { "ok", "short", "version", "count" };

	if ((unsigned)r >= NFV5_NRESULTS)
		return "unknown";
	return names[r];
}

const char *
nfv5_record_check(const struct nfv5_header *h, const struct nfv5_record *r)
{
	static const uint8_t zero[4];

	if (r->packets == 0)
		return "zero_packets";
	/* every packet carries at least an IPv4 header */
	if ((uint64_t)r->octets < (uint64_t)r->packets * 20)
		return "octets_below_packets";
	if (r->end_ms < r->start_ms)
		return "end_before_start";
	/* an exporter's active timeout is minutes; a day is impossible */
	if (r->end_ms - r->start_ms > 86400 * 1000LL)
		return "too_long";
	if (r->start_ms > h->export_ms + 1000)
		return "future_start";
	if (memcmp(r->src, zero, 4) == 0 || memcmp(r->dst, zero, 4) == 0)
		return "bad_address";
	return NULL;
}

uint64_t
nfv5_seq_update(struct nfv5_seq *s, uint32_t sequence, uint32_t count)
{
	uint64_t lost = 0;

	if (s->started) {
		uint32_t gap = sequence - s->next;

		if (gap >= 0x80000000u && (uint32_t)(s->next - sequence) < 0x10000u)
			return 0;       /* a late datagram: already counted as lost */
		/* a forward gap below 2^31 is loss; a wild jump is a restart */
		if (gap != 0 && gap < 0x80000000u)
			lost = gap;
	}
	s->started = 1;
	s->next = sequence + count;
	return lost;
}
