/*
 * fuzz_flow_decode.c - libFuzzer target for the packet decoder
 * (lib/flow_decode.c).  The first byte picks the link type, the rest is the
 * captured frame; every decoded segment also goes through the detector, so
 * that hostile addresses and flags reach its tables too.
 */
#include "config.h"
#include "detect_flow.h"
#include "flow_decode.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const int links[] = {
	FD_LINK_EN10MB, FD_LINK_RAW, FD_LINK_LINUX_SLL, FD_LINK_LINUX_SLL2, FD_LINK_NULL,
	FD_LINK_IPV4, FD_LINK_IPV6, FD_LINK_RAW_FILE, FD_LINK_LOOP, 147
};

static struct df *det;

static void
hit(void *ud, const struct df_hit *h)
{
	struct event ev;

	(void)ud;
	df_hit_event(h, &ev);
	event_clear(&ev);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fd_packet pk;
	struct df_segment s;
	static int64_t t = 1700000000000LL;

	if (det == NULL) {
		struct df_settings set;
		df_settings_default(&set);
		set.max_sources = 4096;
		set.max_pending = 1024;
		set.min_attempts = 2;
		set.min_destinations = 2;
		det = df_new(&set, hit, NULL);
		df_input_add(det, "fuzz", 1);
	}
	if (size < 1)
		return 0;
	if (flow_decode(links[data[0] % (sizeof links / sizeof links[0])], data + 1, size - 1, &pk) != FD_OK)
		return 0;
	memset(&s, 0, sizeof s);
	s.ts_ms = (t += 7);
	s.src.family = s.dst.family = pk.family;
	memcpy(s.src.a, pk.src, 16);
	memcpy(s.dst.a, pk.dst, 16);
	s.sport = pk.sport;
	s.dport = pk.dport;
	s.flags = pk.flags;
	df_segment(det, &s);
	return 0;
}
