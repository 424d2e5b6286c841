/*
 * test_flow_decode.c - flow_decode.c: link types, VLAN tags, IPv4 options
 * and fragments, IPv6 extension headers, and frames cut short.
 */
#include "config.h"
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "flow_decode.h"

/* Build an IPv4 TCP segment (20-byte TCP header) at p; returns its length. */
static size_t
ipv4_tcp(uint8_t *p, const uint8_t src[4], const uint8_t dst[4], uint16_t sport, uint16_t dport,
    uint8_t flags, int optwords)
{
	size_t ihl = 20 + (size_t)optwords * 4, tot = ihl + 20;

	memset(p, 0, tot);
	p[0] = (uint8_t)(0x40 | (ihl / 4));
	p[2] = (uint8_t)(tot >> 8);
	p[3] = (uint8_t)tot;
	p[8] = 64;
	p[9] = 6;
	memcpy(p + 12, src, 4);
	memcpy(p + 16, dst, 4);
	p[ihl] = (uint8_t)(sport >> 8);
	p[ihl + 1] = (uint8_t)sport;
	p[ihl + 2] = (uint8_t)(dport >> 8);
	p[ihl + 3] = (uint8_t)dport;
	p[ihl + 12] = 0x50;
	p[ihl + 13] = flags;
	return tot;
}

static size_t
ipv6_tcp(uint8_t *p, uint8_t first_next, size_t ext, uint16_t dport, uint8_t flags)
{
	size_t tot = 40 + ext + 20, i;

	memset(p, 0, tot);
	p[0] = 0x60;
	p[4] = (uint8_t)((tot - 40) >> 8);
	p[5] = (uint8_t)(tot - 40);
	p[6] = first_next;
	p[7] = 64;
	p[8] = 0x20; p[9] = 0x01; p[10] = 0x0d; p[11] = 0xb8; p[23] = 1;    /* 2001:db8::1 */
	p[24] = 0x20; p[25] = 0x01; p[26] = 0x0d; p[27] = 0xb8; p[39] = 2;  /* 2001:db8::2 */
	for (i = 0; i < ext; i += 8) {
		p[40 + i] = (uint8_t)(i + 8 < ext ? 60 : 6);   /* next */
		p[40 + i + 1] = 0;                             /* 8 bytes */
	}
	p[40 + ext + 0] = 0xc0;
	p[40 + ext + 1] = 0x01;
	p[40 + ext + 2] = (uint8_t)(dport >> 8);
	p[40 + ext + 3] = (uint8_t)dport;
	p[40 + ext + 12] = 0x50;
	p[40 + ext + 13] = flags;
	return tot;
}

static const uint8_t A[4] = { 100, 64, 1, 10 }, B[4] = { 192, 0, 2, 25 };

static void
test_ethernet_ipv4(void **state)
{
	uint8_t f[128];
	struct fd_packet pk;
	size_t n;

	memset(f, 0, 14);
	f[12] = 0x08;
	n = 14 + ipv4_tcp(f + 14, A, B, 40000, 25, 0x02, 0);
	assert_int_equal(flow_decode(FD_LINK_EN10MB, f, n, &pk), FD_OK);
	assert_int_equal(pk.family, 4);
	assert_memory_equal(pk.src, A, 4);
	assert_memory_equal(pk.dst, B, 4);
	assert_int_equal(pk.sport, 40000);
	assert_int_equal(pk.dport, 25);
	assert_int_equal(pk.flags, 0x02);
	assert_int_equal(pk.vlan, 0);
	/* cut by the snap length inside the TCP header: truncated, never read past */
	assert_int_equal(flow_decode(FD_LINK_EN10MB, f, 14 + 20 + 13, &pk), FD_TRUNCATED);
	assert_int_equal(flow_decode(FD_LINK_EN10MB, f, 14 + 20 + 14, &pk), FD_OK);
	assert_int_equal(flow_decode(FD_LINK_EN10MB, f, 10, &pk), FD_TRUNCATED);
	assert_int_equal(flow_decode(FD_LINK_EN10MB, f, 0, &pk), FD_TRUNCATED);
	/* ARP */
	f[12] = 0x08; f[13] = 0x06;
	assert_int_equal(flow_decode(FD_LINK_EN10MB, f, n, &pk), FD_NOT_IP);
}

static void
test_vlan(void **state)
{
	uint8_t f[160];
	struct fd_packet pk;
	size_t n;

	memset(f, 0, 22);
	f[12] = 0x88; f[13] = 0xa8; f[14] = 0x00; f[15] = 0x64;   /* S-tag 100 */
	f[16] = 0x81; f[17] = 0x00; f[18] = 0x00; f[19] = 0xc8;   /* C-tag 200 */
	f[20] = 0x08; f[21] = 0x00;
	n = 22 + ipv4_tcp(f + 22, A, B, 1234, 25, 0x02, 0);
	assert_int_equal(flow_decode(FD_LINK_EN10MB, f, n, &pk), FD_OK);
	assert_int_equal(pk.vlan, 100);
	assert_int_equal(pk.dport, 25);
	/* three tags: refused */
	memmove(f + 20, f + 16, n - 16);
	f[16] = 0x81; f[17] = 0x00; f[18] = 0; f[19] = 1;
	assert_int_equal(flow_decode(FD_LINK_EN10MB, f, n + 4, &pk), FD_MALFORMED);
	/* a tag cut short */
	assert_int_equal(flow_decode(FD_LINK_EN10MB, f, 17, &pk), FD_TRUNCATED);
}

static void
test_ipv4_options_fragments(void **state)
{
	uint8_t f[128];
	struct fd_packet pk;
	size_t n = ipv4_tcp(f, A, B, 5000, 25, 0x12, 3);

	assert_int_equal(flow_decode(FD_LINK_RAW, f, n, &pk), FD_OK);
	assert_int_equal(pk.flags, 0x12);
	assert_int_equal(flow_decode(FD_LINK_RAW_FILE, f, n, &pk), FD_OK);
	assert_int_equal(flow_decode(FD_LINK_IPV4, f, n, &pk), FD_OK);
	/* a later fragment has no TCP header */
	f[6] = 0x00; f[7] = 0x10;
	assert_int_equal(flow_decode(FD_LINK_RAW, f, n, &pk), FD_FRAGMENT);
	f[7] = 0;
	/* IHL below 5 */
	f[0] = 0x44;
	assert_int_equal(flow_decode(FD_LINK_RAW, f, n, &pk), FD_MALFORMED);
	f[0] = 0x48;
	/* UDP */
	f[9] = 17;
	assert_int_equal(flow_decode(FD_LINK_RAW, f, n, &pk), FD_NOT_TCP);
	f[9] = 6;
	/* TCP data offset below 5 */
	f[32 + 12] = 0x40;
	assert_int_equal(flow_decode(FD_LINK_RAW, f, n, &pk), FD_MALFORMED);
	/* total length shorter than the TCP header: truncated, not over-read */
	f[32 + 12] = 0x50;
	f[2] = 0; f[3] = 40;
	assert_int_equal(flow_decode(FD_LINK_RAW, f, n, &pk), FD_TRUNCATED);
}

static void
test_ipv6(void **state)
{
	uint8_t f[256];
	struct fd_packet pk;
	size_t n = ipv6_tcp(f, 6, 0, 25, 0x02);

	assert_int_equal(flow_decode(FD_LINK_RAW, f, n, &pk), FD_OK);
	assert_int_equal(pk.family, 6);
	assert_int_equal(pk.src[15], 1);
	assert_int_equal(pk.dst[0], 0x20);
	assert_int_equal(pk.dport, 25);
	/* two destination-options headers before TCP */
	n = ipv6_tcp(f, 60, 16, 25, 0x02);
	assert_int_equal(flow_decode(FD_LINK_IPV6, f, n, &pk), FD_OK);
	assert_int_equal(pk.dport, 25);
	assert_int_equal(flow_decode(FD_LINK_IPV6, f, 40 + 16 + 10, &pk), FD_TRUNCATED);
	assert_int_equal(flow_decode(FD_LINK_IPV6, f, 45, &pk), FD_TRUNCATED);
	/* a non-first fragment */
	n = ipv6_tcp(f, 44, 8, 25, 0x02);
	f[40] = 6;
	f[42] = 0x01;
	assert_int_equal(flow_decode(FD_LINK_IPV6, f, n, &pk), FD_FRAGMENT);
	/* a first fragment is decoded */
	f[42] = 0; f[43] = 1;
	assert_int_equal(flow_decode(FD_LINK_IPV6, f, n, &pk), FD_OK);
	/* ICMPv6 */
	n = ipv6_tcp(f, 58, 0, 25, 0x02);
	assert_int_equal(flow_decode(FD_LINK_IPV6, f, n, &pk), FD_NOT_TCP);
}

static void
test_cooked_and_loopback(void **state)
{
	uint8_t f[160];
	struct fd_packet pk;
	size_t n;

	memset(f, 0, 20);
	f[14] = 0x08; f[15] = 0x00;           /* SLL protocol */
	n = 16 + ipv4_tcp(f + 16, A, B, 1, 25, 0x02, 0);
	assert_int_equal(flow_decode(FD_LINK_LINUX_SLL, f, n, &pk), FD_OK);
	assert_int_equal(flow_decode(FD_LINK_LINUX_SLL, f, 15, &pk), FD_TRUNCATED);

	memset(f, 0, 20);
	f[0] = 0x86; f[1] = 0xdd;             /* SLL2 protocol */
	n = 20 + ipv6_tcp(f + 20, 6, 0, 25, 0x04);
	assert_int_equal(flow_decode(FD_LINK_LINUX_SLL2, f, n, &pk), FD_OK);
	assert_int_equal(pk.family, 6);
	assert_int_equal(pk.flags, 0x04);

	memset(f, 0, 4);
	f[0] = 2;                              /* AF_INET, little-endian host */
	n = 4 + ipv4_tcp(f + 4, A, B, 1, 25, 0x02, 0);
	assert_int_equal(flow_decode(FD_LINK_NULL, f, n, &pk), FD_OK);
	assert_int_equal(flow_decode(147, f, n, &pk), FD_BAD_LINK);
	assert_false(flow_decode_link_supported(147));
	assert_true(flow_decode_link_supported(FD_LINK_LINUX_SLL2));
	assert_string_equal(flow_decode_result_name(FD_TRUNCATED), "truncated");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ethernet_ipv4),
		cmocka_unit_test(test_vlan),
		cmocka_unit_test(test_ipv4_options_fragments),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_cooked_and_loopback),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
