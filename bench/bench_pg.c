/*
 * bench_pg.c - event ingest through the writer queue into PostgreSQL,
 * against the same into SQLite (the baseline), measured in the same run.
 *
 *	bench/bench_pg -u POSTGRESQL-URI [-n EVENTS] [-s SUBSCRIBERS]
 *	    [-b BATCH] [-w WRITERS] [-d DIR]
 *
 * Defaults: 100000 events over 10000 subscribers, batch 500, 1 writer,
 * SQLite file in $TMPDIR.  Each run starts from an empty schema (the
 * PostgreSQL database's public schema is dropped: give it a throwaway
 * database).  The writer path is the sensors' one: writer_submit() into
 * the bounded queue, the writer thread correlating and committing batches
 * (store_record_events).  With -w 2 or more, the events are split over
 * that many writers (as that many sensor processes would have), each with
 * its own connection: PostgreSQL takes them concurrently, SQLite
 * serialises them on its write lock.  bench/pg-bench.sh starts a server
 * and runs the standard set.
 */
#include "config.h"
#include "counters.h"
#include "log.h"
#include "store.h"
#include "store_int.h"
#include "util.h"
#include "writer.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct score_settings pol = {
	.half_life_s = 3600.0, .level = { 10.0, 30.0, 60.0 }, .mitigation = "throttle",
	.volume_max_level = 3,
};

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

static void
fresh(const char *uri)
{
	char err[512];
	struct store *st = store_open(uri, err, sizeof err);

	if (st == NULL) {
		fprintf(stderr, "bench_pg: %s\n", err);
		exit(1);
	}
	if (strncmp(uri, "postgres", 8) == 0) {
		PGresult *r = PQexec((PGconn *)st->db, "DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public");

		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			fprintf(stderr, "bench_pg: %s\n", PQresultErrorMessage(r));
			exit(1);
		}
		PQclear(r);
	}
	if (store_migrate(st, NULL, NULL) != 0) {
		fprintf(stderr, "bench_pg: %s\n", store_errmsg(st));
		exit(1);
	}
	store_close(st);
}

/* Events/s through nw writers on uri. */
static double
run(const char *uri, const struct event *evs, long n, long batch, int nw)
{
	struct writer *w[16];
	char err[512];
	int64_t t0;
	long i;
	int k;

	fresh(uri);
	for (k = 0; k < nw; k++)
		if ((w[k] = writer_start(uri, &pol, 100000, batch, 100, NULL, NULL, err, sizeof err)) == NULL) {
			fprintf(stderr, "bench_pg: %s\n", err);
			exit(1);
		}
	t0 = bs_mono_ms();
	/* a subscriber always goes to the same writer, as a sticky load
	 * balancer would send it to the same smarthost */
	for (i = 0; i < n; i++) {
		k = (int)(ctr_hash_str(evs[i].subscriber) % (uint64_t)nw);
		while (writer_submit(w[k], &evs[i]) != 0)
			usleep(200);
	}
	for (k = 0; k < nw; k++)
		writer_stop(w[k]);
	return (double)n / ((double)(bs_mono_ms() - t0) / 1000.0);
}

int
main(int argc, char **argv)
{
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", *pg = NULL;
	long n = 100000, subs = 10000, batch = 500, i;
	char sq[600];
	double rs, rp;
	struct event *evs;
	int c, nw = 1;

	while ((c = getopt(argc, argv, "u:n:s:b:w:d:")) != -1) {
		switch (c) {
		case 'u': pg = optarg; break;
		case 'n': n = atol(optarg); break;
		case 's': subs = atol(optarg); break;
		case 'b': batch = atol(optarg); break;
		case 'w': nw = atoi(optarg); break;
		case 'd': dir = optarg; break;
		default:
			goto usage;
		}
	}
	if (pg == NULL || n < 1 || subs < 1 || batch < 1 || nw < 1 || nw > 16)
		goto usage;
	log_init("bench_pg", 1, LOG_USER, LOG_ERR);
	evs = make_events(n, subs, 1790000000000LL);
	snprintf(sq, sizeof sq, "sqlite:%s/bench-pg-baseline.db", dir);
	rs = run(sq, evs, n, batch, nw);
	rp = run(pg, evs, n, batch, nw);
	printf("events=%ld subscribers=%ld batch=%ld writers=%d\n", n, subs, batch, nw);
	printf("sqlite (baseline):  %.0f events/s\n", rs);
	printf("postgresql:         %.0f events/s\n", rp);
	printf("ratio postgresql/sqlite: %.2f\n", rp / rs);
	for (i = 0; i < n; i++)
		event_clear(&evs[i]);
	free(evs);
	snprintf(sq, sizeof sq, "rm -f %s/bench-pg-baseline.db*", dir);
	return system(sq) != 0;
usage:
	fprintf(stderr, "usage: bench_pg -u POSTGRESQL-URI [-n EVENTS] [-s SUBSCRIBERS] [-b BATCH] "
	    "[-w WRITERS] [-d DIR]\n");
	return 2;
}
