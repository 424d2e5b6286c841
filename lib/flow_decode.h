/*
 * flow_decode.h - decode a captured frame down to its TCP header.
 *
 * Pure: takes the bytes and the capture's link-layer type number (the DLT
 * value pcap_datalink() returns, or the LINKTYPE value of a file), so that
 * it needs no pcap.h and the fuzz target can call it directly.  Handles
 * Ethernet with up to two VLAN tags (802.1Q, 802.1ad, QinQ), Linux cooked
 * captures (SLL and SLL2), raw IP, BSD loopback, IPv4 (with options; later
 * fragments are reported, not decoded) and IPv6 (walking the hop-by-hop,
 * routing, destination-options and fragment headers).  It reads only the
 * bytes captured: a frame cut by the snap length is reported as truncated.
 */
#ifndef BS_FLOW_DECODE_H
#define BS_FLOW_DECODE_H

#include <stddef.h>
#include <stdint.h>

/* Link types (DLT_* on Linux, and their LINKTYPE_* file values). */
#define FD_LINK_NULL 0          /* BSD loopback: 4-byte host-order family */
#define FD_LINK_EN10MB 1        /* Ethernet */
#define FD_LINK_RAW 12          /* raw IP (Linux DLT_RAW) */
#define FD_LINK_RAW_OBSD 14
#define FD_LINK_RAW_FILE 101    /* LINKTYPE_RAW in files */
#define FD_LINK_LOOP 108        /* OpenBSD loopback: network-order family */
#define FD_LINK_LINUX_SLL 113
#define FD_LINK_IPV4 228
#define FD_LINK_IPV6 229
#define FD_LINK_LINUX_SLL2 276

enum fd_result {
	FD_OK = 0,
	FD_NOT_IP,            /* ARP, LLDP, ...: not an error */
	FD_NOT_TCP,           /* UDP, ICMP, ...: not an error */
	FD_FRAGMENT,          /* a later IPv4/IPv6 fragment: no TCP header in it */
	FD_TRUNCATED,         /* cut before the TCP flags (snap length, or a short frame) */
	FD_MALFORMED,         /* impossible header values */
	FD_BAD_LINK,          /* a link type we do not decode */
	FD_NRESULTS
};

struct fd_packet {
	uint8_t family;       /* 4 or 6 */
	uint8_t src[16], dst[16];   /* IPv4 in the first 4 bytes, rest zero */
	uint16_t sport, dport;
	uint8_t flags;        /* TCP flags byte (FIN 0x01 SYN 0x02 RST 0x04 PSH 0x08 ACK 0x10) */
	uint16_t vlan;        /* outer VLAN id, 0 if untagged */
};

/* Decode; fills *out only with FD_OK. */
enum fd_result flow_decode(int linktype, const uint8_t *p, size_t caplen, struct fd_packet *out);

/* Is this a link type flow_decode handles? */
int flow_decode_link_supported(int linktype);

/* A short name for a result ("truncated"), for counters and logs. */
const char *flow_decode_result_name(enum fd_result r);

#endif
