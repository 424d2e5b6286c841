/*
 * bench_writer.c - events/s into SQLite through the writer queue, against a
 * bare sqlite3 insert loop of the same rows in one transaction (the
 * baseline, measured in the same run on a fresh file of the same schema).
 *
 *	bench/bench_writer [-n EVENTS] [-s SUBSCRIBERS] [-b BATCH] [-d DIR]
 *
 * Defaults: 200000 events over 10000 subscribers, batch 500, files in
 * $TMPDIR.  The writer path does the full work of a sensor's event: copy
 * into the queue, then in the writer thread the correlation (find or open
 * the incident, decay, level, outbox rows on a rise, mitigation at level 3)
 * and the insert, in transactions of BATCH events.  The baseline inserts
 * the same event rows only (no correlation), all in one transaction, with
 * one prepared statement: the floor that SQLite sets on this machine.
 * A middle line shows correlation alone (all events in one
 * store_record_events() call, one transaction, no queue or thread).
 */
#include "config.h"
#include "log.h"
#include "store.h"
#include "store_sqlite_int.h"
#include "util.h"
#include "writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct event *
make_events(long n, long subs, int64_t t0)
{
	struct event *evs = xcalloc((size_t)n, sizeof *evs);
	char sub[32], ip[32];
	long i;

	for (i = 0; i < n; i++) {
		event_init(&evs[i], t0 + i, i % 2 ? "milter" : "flow", i % 3 ? "rate" : "direct_mx", 0.25);
		snprintf(sub, sizeof sub, "sub%06ld", (i * 7919) % subs);
		snprintf(ip, sizeof ip, "100.64.%ld.%ld", (i % subs) / 250, (i % subs) % 250 + 1);
		event_set_subscriber(&evs[i], sub);
		event_set_client_ip(&evs[i], ip);
		event_set_node(&evs[i], "mx1");
		evs[i].evidence = xasprintf("{\"count\":%ld,\"window\":60}", i % 97);
	}
	return evs;
}

static struct store *
fresh(const char *dir, const char *name, char *uri, size_t urilen)
{
	char err[512], path[512];
	struct store *st;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	unlink(path);
	snprintf(uri, urilen, "%s-wal", path);
	unlink(uri);
	snprintf(uri, urilen, "%s-shm", path);
	unlink(uri);
	snprintf(uri, urilen, "sqlite:%s", path);
	if ((st = store_open(uri, err, sizeof err)) == NULL || store_migrate(st, NULL, NULL) != 0) {
		fprintf(stderr, "bench_writer: %s\n", st ? store_errmsg(st) : err);
		exit(1);
	}
	return st;
}

static double
baseline(struct store *st, const struct event *evs, long n)
{
	int64_t t0 = bs_mono_ms();
	sqlite3_stmt *s;
	long i;

	sqlite3_exec(st->db, "BEGIN", NULL, NULL, NULL);
	if (sqlite3_prepare_v2(st->db,
	    "INSERT INTO events (ts_ms, subscriber, source, kind, score, client_ip, node, evidence) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", -1, &s, NULL) != SQLITE_OK) {
		fprintf(stderr, "bench_writer: %s\n", sqlite3_errmsg(st->db));
		exit(1);
	}
	for (i = 0; i < n; i++) {
		sqlite3_bind_int64(s, 1, evs[i].ts_ms);
		sqlite3_bind_text(s, 2, evs[i].subscriber, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, evs[i].source, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 4, evs[i].kind, -1, SQLITE_STATIC);
		sqlite3_bind_double(s, 5, evs[i].score);
		sqlite3_bind_text(s, 6, evs[i].client_ip, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 7, evs[i].node, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 8, evs[i].evidence, -1, SQLITE_STATIC);
		if (sqlite3_step(s) != SQLITE_DONE) {
			fprintf(stderr, "bench_writer: %s\n", sqlite3_errmsg(st->db));
			exit(1);
		}
		sqlite3_reset(s);
	}
	sqlite3_finalize(s);
	sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
	return (double)(bs_mono_ms() - t0) / 1000.0;
}

int
main(int argc, char **argv)
{
	static const struct score_settings pol = { .half_life_s = 3600.0, .level = { 10.0, 30.0, 60.0 }, .mitigation = "throttle" };
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	long n = 200000, subs = 10000, batch = 500, i;
	struct writer_stats ws;
	struct event *evs;
	struct writer *w;
	struct store *st;
	char uri[600], err[512];
	double tb, tr, tw;
	int64_t t0, spins = 0;
	int c;

	while ((c = getopt(argc, argv, "n:s:b:d:")) != -1) {
		switch (c) {
		case 'n': n = atol(optarg); break;
		case 's': subs = atol(optarg); break;
		case 'b': batch = atol(optarg); break;
		case 'd': dir = optarg; break;
		default:
			fprintf(stderr, "usage: bench_writer [-n EVENTS] [-s SUBSCRIBERS] [-b BATCH] [-d DIR]\n");
			return 2;
		}
	}
	if (n < 1 || subs < 1 || batch < 1)
		return 2;
	log_init("bench_writer", 1, LOG_USER, LOG_ERR);   /* quiet: the bench fills the queue on purpose */
	evs = make_events(n, subs, 1790000000000LL);

	st = fresh(dir, "bench-baseline.db", uri, sizeof uri);
	tb = baseline(st, evs, n);
	store_close(st);

	/* correlation alone: every event in one store_record_events() call */
	st = fresh(dir, "bench-record.db", uri, sizeof uri);
	t0 = bs_mono_ms();
	if (store_record_events(st, &pol, evs, (size_t)n, NULL) != 0) {
		fprintf(stderr, "bench_writer: %s\n", store_errmsg(st));
		return 1;
	}
	tr = (double)(bs_mono_ms() - t0) / 1000.0;
	store_close(st);

	st = fresh(dir, "bench-writer.db", uri, sizeof uri);
	store_close(st);
	w = writer_start(uri, &pol, 100000, batch, 100, NULL, NULL, err, sizeof err);
	if (w == NULL) {
		fprintf(stderr, "bench_writer: %s\n", err);
		return 1;
	}
	t0 = bs_mono_ms();
	for (i = 0; i < n; i++)
		while (writer_submit(w, &evs[i]) != 0) {
			spins++;
			usleep(200);
		}
	writer_get_stats(w, &ws);
	writer_stop(w);
	tw = (double)(bs_mono_ms() - t0) / 1000.0;

	printf("events=%ld subscribers=%ld batch=%ld\n", n, subs, batch);
	printf("baseline (bare insert loop, one transaction): %.3f s  %.0f events/s\n", tb, n / tb);
	printf("store_record_events, one transaction:          %.3f s  %.0f events/s\n", tr, n / tr);
	printf("writer queue (correlation, batched tx):        %.3f s  %.0f events/s\n", tw, n / tw);
	printf("ratio writer/baseline: %.2f  (queue full waits: %lld, max depth %llu)\n",
	    (n / tw) / (n / tb), (long long)spins, (unsigned long long)ws.max_depth);
	for (i = 0; i < n; i++)
		event_clear(&evs[i]);
	free(evs);
	snprintf(uri, sizeof uri, "rm -f %s/bench-baseline.db* %s/bench-record.db* %s/bench-writer.db*", dir, dir, dir);
	if (system(uri) != 0)
		return 1;
	return 0;
}
