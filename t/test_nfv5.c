/*
 * test_nfv5.c - nfv5.c: header and record decoding, uptime to epoch time
 * (with wrap), rejection of bad lengths, record sanity, sequence loss.
 */
#include "config.h"
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "nfv5.h"

static void
w16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
w32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* A datagram with n records; record i: 100.64.0.1 -> 192.0.2.(i+1):25. */
static size_t
build(uint8_t *b, int n, uint32_t uptime, uint32_t secs, uint32_t nsecs, uint32_t seq,
    uint32_t first, uint32_t last)
{
	int i;

	memset(b, 0, NFV5_HEADER_LEN + (size_t)n * NFV5_RECORD_LEN);
	w16(b, 5);
	w16(b + 2, (uint16_t)n);
	w32(b + 4, uptime);
	w32(b + 8, secs);
	w32(b + 12, nsecs);
	w32(b + 16, seq);
	b[20] = 1;
	b[21] = 7;
	for (i = 0; i < n; i++) {
		uint8_t *r = b + NFV5_HEADER_LEN + i * NFV5_RECORD_LEN;
		r[0] = 100; r[1] = 64; r[2] = 0; r[3] = 1;
		r[4] = 192; r[5] = 0; r[6] = 2; r[7] = (uint8_t)(i + 1);
		w32(r + 16, 3);            /* packets */
		w32(r + 20, 180);          /* octets */
		w32(r + 24, first);
		w32(r + 28, last);
		w16(r + 32, 40000);
		w16(r + 34, 25);
		r[37] = 0x02;
		r[38] = 6;
	}
	return NFV5_HEADER_LEN + (size_t)n * NFV5_RECORD_LEN;
}

static void
test_parse(void **state)
{
	uint8_t b[NFV5_HEADER_LEN + 30 * NFV5_RECORD_LEN];
	struct nfv5_header h;
	struct nfv5_record r[NFV5_MAX_RECORDS];
	size_t n, len = build(b, 6, 6000, 1700000006, 0, 42, 1000, 4000);

	assert_int_equal(nfv5_parse(b, len, &h, r, &n), NFV5_OK);
	assert_int_equal(n, 6);
	assert_int_equal(h.sequence, 42);
	assert_int_equal(h.engine_type, 1);
	assert_int_equal(h.engine_id, 7);
	assert_int_equal(h.export_ms, 1700000006000LL);
	/* boot = 1700000000.000: first at +1 s */
	assert_int_equal(r[0].start_ms, 1700000001000LL);
	assert_int_equal(r[0].end_ms, 1700000004000LL);
	assert_int_equal(r[5].dst[3], 6);
	assert_int_equal(r[0].dport, 25);
	assert_int_equal(r[0].flags, 0x02);
	assert_int_equal(r[0].proto, 6);
	assert_null(nfv5_record_check(&h, &r[0]));

	/* nanoseconds count */
	len = build(b, 1, 6000, 1700000006, 500000000, 0, 6000, 6000);
	assert_int_equal(nfv5_parse(b, len, &h, r, &n), NFV5_OK);
	assert_int_equal(r[0].start_ms, 1700000006500LL);

	/* uptime wrapped between the flow's start and the export */
	len = build(b, 1, 100, 1700000000, 0, 0, 0xffffff00u, 50);
	assert_int_equal(nfv5_parse(b, len, &h, r, &n), NFV5_OK);
	assert_int_equal(r[0].start_ms, 1700000000000LL - 100 - 256);
	assert_int_equal(r[0].end_ms, 1700000000000LL - 50);
}

static void
test_reject(void **state)
{
	uint8_t b[NFV5_HEADER_LEN + 31 * NFV5_RECORD_LEN];
	struct nfv5_header h;
	struct nfv5_record r[NFV5_MAX_RECORDS];
	size_t n, len = build(b, 2, 6000, 1700000006, 0, 0, 1000, 2000);

	assert_int_equal(nfv5_parse(b, 23, &h, r, &n), NFV5_SHORT);
	assert_int_equal(nfv5_parse(NULL, 0, &h, r, &n), NFV5_SHORT);
	assert_int_equal(nfv5_parse(b, len - 1, &h, r, &n), NFV5_COUNT);
	assert_int_equal(n, 0);
	assert_int_equal(nfv5_parse(b, len + 48, &h, r, &n), NFV5_COUNT);
	w16(b + 2, 0);
	assert_int_equal(nfv5_parse(b, NFV5_HEADER_LEN, &h, r, &n), NFV5_COUNT);
	len = build(b, 30, 6000, 1700000006, 0, 0, 1000, 2000);
	assert_int_equal(nfv5_parse(b, len, &h, r, &n), NFV5_OK);
	w16(b + 2, 31);
	assert_int_equal(nfv5_parse(b, len + NFV5_RECORD_LEN, &h, r, &n), NFV5_COUNT);
	w16(b, 9);
	assert_int_equal(nfv5_parse(b, len, &h, r, &n), NFV5_VERSION);
	assert_string_equal(nfv5_result_name(NFV5_COUNT), "count");
}

static void
test_impossible(void **state)
{
	uint8_t b[NFV5_HEADER_LEN + NFV5_RECORD_LEN];
	struct nfv5_header h;
	struct nfv5_record r[NFV5_MAX_RECORDS], x;
	size_t n, len = build(b, 1, 6000, 1700000006, 0, 0, 1000, 2000);

	assert_int_equal(nfv5_parse(b, len, &h, r, &n), NFV5_OK);
	x = r[0]; x.packets = 0;
	assert_string_equal(nfv5_record_check(&h, &x), "zero_packets");
	x = r[0]; x.octets = 10;
	assert_string_equal(nfv5_record_check(&h, &x), "octets_below_packets");
	x = r[0]; x.end_ms = x.start_ms - 1;
	assert_string_equal(nfv5_record_check(&h, &x), "end_before_start");
	x = r[0]; x.end_ms = x.start_ms + 2 * 86400 * 1000LL;
	assert_string_equal(nfv5_record_check(&h, &x), "too_long");
	x = r[0]; x.start_ms = h.export_ms + 60000; x.end_ms = x.start_ms;
	assert_string_equal(nfv5_record_check(&h, &x), "future_start");
	x = r[0]; memset(x.src, 0, 4);
	assert_string_equal(nfv5_record_check(&h, &x), "bad_address");
}

static void
test_sequence(void **state)
{
	struct nfv5_seq s;

	memset(&s, 0, sizeof s);
	assert_int_equal(nfv5_seq_update(&s, 100, 30), 0);     /* first: nothing known */
	assert_int_equal(nfv5_seq_update(&s, 130, 30), 0);
	assert_int_equal(nfv5_seq_update(&s, 220, 10), 60);    /* two datagrams missed */
	assert_int_equal(nfv5_seq_update(&s, 190, 30), 0);     /* a late one */
	assert_int_equal(nfv5_seq_update(&s, 230, 5), 0);
	/* wrap of the 32-bit sequence */
	memset(&s, 0, sizeof s);
	nfv5_seq_update(&s, 0xfffffff0u, 0x10);
	assert_int_equal(nfv5_seq_update(&s, 0, 1), 0);
	assert_int_equal(nfv5_seq_update(&s, 5, 1), 4);
	/* an exporter restart (a huge jump back) is not loss */
	assert_int_equal(nfv5_seq_update(&s, 0x90000000u, 1), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_reject),
		cmocka_unit_test(test_impossible),
		cmocka_unit_test(test_sequence),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
