/*
 * writer_feeder.c - test helper for t/writer-kill.sh: feeds events through
 * the writer queue and reports acknowledged events.
 *
 *	writer_feeder URI COUNT
 *
 * Initialises the database (migrate), starts a writer, and submits events
 * for 100 subscribers (COUNT of them, or without end when COUNT is 0),
 * waiting briefly whenever the queue is full so that nothing is dropped.
 * From the writer's result callback - that is, only after the event's
 * batch has committed - it prints on stdout, line by line, the number of
 * events committed so far.  With COUNT > 0 it stops the writer (flushing)
 * and prints "done COUNT".
 */
#include "config.h"
#include "log.h"
#include "store.h"
#include "util.h"
#include "writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static unsigned long long committed;

static void
on_result(void *ud, const struct event *ev, const struct record_result *r)
{
	committed++;
	printf("%llu\n", committed);
}

int
main(int argc, char **argv)
{
	static const struct score_settings pol = { .half_life_s = 600.0, .level = { 10.0, 30.0, 60.0 }, .mitigation = "throttle" };
	struct writer *w;
	struct store *st;
	struct event ev;
	char err[512], sub[32];
	long long count, i;
	int64_t t0 = bs_now_ms();

	if (argc != 3) {
		fprintf(stderr, "usage: writer_feeder URI COUNT\n");
		return 2;
	}
	count = atoll(argv[2]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	log_init("writer_feeder", 1, LOG_USER, LOG_NOTICE);
	if ((st = store_open(argv[1], err, sizeof err)) == NULL) {
		fprintf(stderr, "writer_feeder: %s\n", err);
		return 1;
	}
	if (store_migrate(st, NULL, NULL) != 0) {
		fprintf(stderr, "writer_feeder: %s\n", store_errmsg(st));
		return 1;
	}
	store_close(st);
	w = writer_start(argv[1], &pol, 20000, 500, 20, on_result, NULL, err, sizeof err);
	if (w == NULL) {
		fprintf(stderr, "writer_feeder: %s\n", err);
		return 1;
	}
	for (i = 0; count == 0 || i < count; i++) {
		event_init(&ev, t0 + i, i % 2 ? "milter" : "flow", i % 3 ? "rate" : "direct_mx", 0.5);
		snprintf(sub, sizeof sub, "feed%lld", i % 100);
		event_set_subscriber(&ev, sub);
		event_set_client_ip(&ev, "100.64.0.1");
		event_set_evidence(&ev, json_pack("{s:I}", "seq", (json_int_t)i));
		while (writer_submit(w, &ev) != 0)
			usleep(1000);
		event_clear(&ev);
	}
	writer_stop(w);
	printf("done %lld\n", count);
	return 0;
}
