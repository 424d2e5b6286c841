/*
 * flow_decode.c - frame -> addresses, ports and TCP flags.
 *
 * Every read is checked against caplen first; nothing here trusts a length
 * field from the packet beyond the bytes that were captured.
 */
#include "config.h"
#include "flow_decode.h"

#include <string.h>

#define ETH_IPV4 0x0800
#define ETH_IPV6 0x86dd
#define ETH_VLAN 0x8100
#define ETH_QINQ 0x88a8
#define ETH_QINQ_OLD 0x9100

static uint16_t
rd16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static enum fd_result
decode_tcp(const uint8_t *p, size_t len, struct fd_packet *out)
{
	unsigned doff;

	if (len < 14)
		return FD_TRUNCATED;
	doff = (unsigned)(p[12] >> 4);
	if (doff < 5)
		return FD_MALFORMED;
	out->sport = rd16(p);
	out->dport = rd16(p + 2);
	out->flags = p[13];
	return FD_OK;
}

static enum fd_result
decode_ipv4(const uint8_t *p, size_t len, struct fd_packet *out)
{
	unsigned ihl, total, frag;

	if (len < 20)
		return FD_TRUNCATED;
	if ((p[0] >> 4) != 4)
		return FD_MALFORMED;
	ihl = (unsigned)(p[0] & 0x0f) * 4;
	total = rd16(p + 2);
	if (ihl < 20 || total < ihl)
		return FD_MALFORMED;
	frag = rd16(p + 6) & 0x1fff;
	if (p[9] != 6)
		return FD_NOT_TCP;
	if (frag != 0)
		return FD_FRAGMENT;
	if (len < ihl)
		return FD_TRUNCATED;
	out->family = 4;
	memset(out->src, 0, sizeof out->src);
	memset(out->dst, 0, sizeof out->dst);
	memcpy(out->src, p + 12, 4);
	memcpy(out->dst, p + 16, 4);
	/* the TCP header is what was captured, within the datagram's own length */
	if (len > total)
		len = total;
	return decode_tcp(p + ihl, len - ihl, out);
}

static enum fd_result
decode_ipv6(const uint8_t *p, size_t len, struct fd_packet *out)
{
	unsigned next, hops = 0;
	size_t off = 40, payload;

	if (len < 40)
		return FD_TRUNCATED;
	if ((p[0] >> 4) != 6)
		return FD_MALFORMED;
	payload = rd16(p + 4);
	if (payload != 0 && len > 40 + payload)
		len = 40 + payload;     /* ignore Ethernet padding */
	next = p[6];
	out->family = 6;
	memcpy(out->src, p + 8, 16);
	memcpy(out->dst, p + 24, 16);
	for (;;) {
		switch (next) {
		case 6:
			return decode_tcp(p + off, len - off, out);
		case 0:     /* hop-by-hop */
		case 43:    /* routing */
		case 60:    /* destination options */
			if (len < off + 2)
				return FD_TRUNCATED;
			next = p[off];
			off += ((size_t)p[off + 1] + 1) * 8;
			break;
		case 44:    /* fragment */
			if (len < off + 8)
				return FD_TRUNCATED;
			if ((rd16(p + off + 2) & 0xfff8) != 0)
				return FD_FRAGMENT;
			next = p[off];
			off += 8;
			break;
		default:
			return FD_NOT_TCP;
		}
		if (off > len)
			return FD_TRUNCATED;
		if (++hops > 8)
			return FD_MALFORMED;
	}
}

static enum fd_result
decode_ethertype(unsigned type, const uint8_t *p, size_t len, struct fd_packet *out)
{
	if (type == ETH_IPV4)
		return decode_ipv4(p, len, out);
	if (type == ETH_IPV6)
		return decode_ipv6(p, len, out);
	return FD_NOT_IP;
}

static enum fd_result
decode_by_version(const uint8_t *p, size_t len, struct fd_packet *out)
{
	if (len < 1)
		return FD_TRUNCATED;
	switch (p[0] >> 4) {
	case 4: return decode_ipv4(p, len, out);
	case 6: return decode_ipv6(p, len, out);
	default: return FD_NOT_IP;
	}
}

static enum fd_result
decode_ethernet(const uint8_t *p, size_t len, struct fd_packet *out)
{
	size_t off = 12;
	unsigned type, tags = 0;
	uint16_t vlan = 0;

	if (len < 14)
		return FD_TRUNCATED;
	type = rd16(p + off);
	while (type == ETH_VLAN || type == ETH_QINQ || type == ETH_QINQ_OLD) {
		if (++tags > 2)
			return FD_MALFORMED;
		if (len < off + 6)
			return FD_TRUNCATED;
		if (vlan == 0)
			vlan = rd16(p + off + 2) & 0x0fff;
		off += 4;
		type = rd16(p + off);
	}
	off += 2;
	if (type < 0x0600)
		return FD_NOT_IP;       /* an 802.3 length: LLC/SNAP, not IP for us */
	out->vlan = vlan;
	return decode_ethertype(type, p + off, len - off, out);
}

int
flow_decode_link_supported(int linktype)
{
	switch (linktype) {
	case FD_LINK_NULL: case FD_LINK_EN10MB: case FD_LINK_RAW: case FD_LINK_RAW_OBSD:
	case FD_LINK_RAW_FILE: case FD_LINK_LOOP: case FD_LINK_LINUX_SLL:
	case FD_LINK_IPV4: case FD_LINK_IPV6: case FD_LINK_LINUX_SLL2:
		return 1;
	default:
		return 0;
	}
}

enum fd_result
flow_decode(int linktype, const uint8_t *p, size_t len, struct fd_packet *out)
{
	struct fd_packet tmp;
	enum fd_result r;

	memset(&tmp, 0, sizeof tmp);
	if (p == NULL)
		return FD_TRUNCATED;
	switch (linktype) {
	case FD_LINK_EN10MB:
		r = decode_ethernet(p, len, &tmp);
		break;
	case FD_LINK_RAW: case FD_LINK_RAW_OBSD: case FD_LINK_RAW_FILE:
		r = decode_by_version(p, len, &tmp);
		break;
	case FD_LINK_IPV4:
		r = decode_ipv4(p, len, &tmp);
		break;
	case FD_LINK_IPV6:
		r = decode_ipv6(p, len, &tmp);
		break;
	case FD_LINK_LINUX_SLL:
		/* type(2) arphrd(2) addrlen(2) addr(8) protocol(2) */
		r = len < 16 ? FD_TRUNCATED : decode_ethertype(rd16(p + 14), p + 16, len - 16, &tmp);
		break;
	case FD_LINK_LINUX_SLL2:
		/* protocol(2) reserved(2) ifindex(4) arphrd(2) type(1) addrlen(1) addr(8) */
		r = len < 20 ? FD_TRUNCATED : decode_ethertype(rd16(p), p + 20, len - 20, &tmp);
		break;
	case FD_LINK_NULL:
	case FD_LINK_LOOP:
		/* the family word's byte order varies; the IP version nibble does not */
		r = len < 4 ? FD_TRUNCATED : decode_by_version(p + 4, len - 4, &tmp);
		break;
	default:
		return FD_BAD_LINK;
	}
	if (r == FD_OK)
		*out = tmp;
	return r;
}

const char *
flow_decode_result_name(enum fd_result r)
{
	static const char *const names[FD_NRESULTS] = {
		"ok", "not_ip", "not_tcp", "fragment", "truncated", "malformed", "bad_link"
	};

	if ((unsigned)r >= FD_NRESULTS)
		return "unknown";
	return names[r];
}
