/*
 * fuzz_rt_json.c - Request Tracker REST 2.0 answers are outside input to
 * botsentry-notifyd: throw bytes at the three readers (notify/rt_parse.c).
 */
#include "config.h"
#include "channel.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char status[80], err[256];
	long long id;

	rt_parse_ticket((const char *)data, size, &id, status, sizeof status, err, sizeof err);
	rt_parse_created((const char *)data, size, "/REST/2.0/ticket/12", &id, err, sizeof err);
	rt_parse_search((const char *)data, size, &id, err, sizeof err);
	return 0;
}
