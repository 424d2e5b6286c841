/*
 * bench_flowd.c - botsentry-flowd's throughput and memory, each against a
 * baseline measured in the same run.
 *
 *   bench_flowd gen FILE N [EVERY]
 *	write a pcap of N packets: one in EVERY (default 8) a SYN to port 25
 *	from a new source, the others HTTPS data (as t/pcapgen.py big, but fast)
 *   bench_flowd pcap FILE FLOWD CONF
 *	packets/s: a bare pcap_next_ex loop over FILE, flowd's packet path in
 *	this process (decode + detector), and the real `FLOWD -c CONF -r FILE`
 *	(start-up, database and all), the file warm in the page cache
 *   bench_flowd records N
 *	flow records/s through the NetFlow v5 decoder and the detector,
 *	against parsing alone
 *   bench_flowd path FILE [ROUNDS]
 *	only flowd's path over FILE, best of ROUNDS (for a profiler)
 *   bench_flowd memory N [ATTEMPTS]
 *	bytes per tracked source with N sources making ATTEMPTS refused
 *	attempts each (default 1: one-off sources, parked as first sightings;
 *	2: every source counted in the counters) (detector's own count and
 *	the process's resident-set growth)
 */
#include "config.h"
#include "detect_flow.h"
#include "flow_decode.h"
#include "nfv5.h"
#include "util.h"

#include <pcap/pcap.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of this process: on a shared machine, other jobs stretch the
 * wall clock of both loops unevenly; the CPU time they use does not. */
static double
cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double last_cpu;       /* CPU seconds of the last bare_loop/inproc_path */

static void
hit(void *ud, const struct df_hit *h)
{
	(void)h;
	(*(uint64_t *)ud)++;
}

/* ------------------------------------------------------------ gen */

static void
put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static int
gen(const char *path, long n, long every)
{
	FILE *f = fopen(path, "wb");
	uint32_t hdr[6] = { 0xa1b2c3d4, 0x00040002, 0, 0, 65535, 1 };
	uint8_t fr[160];
	long i;
	uint32_t sec = 1700000400, usec = 0;

	if (f == NULL) {
		perror(path);
		return 1;
	}
	fwrite(hdr, sizeof hdr, 1, f);
	for (i = 0; i < n; i++) {
		size_t len;
		uint32_t rec[4];

		memset(fr, 0, sizeof fr);
		fr[12] = 0x08;
		fr[14] = 0x45;
		fr[22] = 64;
		fr[23] = 6;
		if (i % every == 0) {
			long k = i / every;
			len = 14 + 40;
			fr[26] = 100; fr[27] = (uint8_t)(64 + (k >> 16) % 64); fr[28] = (uint8_t)(k >> 8); fr[29] = (uint8_t)k;
			fr[30] = 198; fr[31] = 18; fr[32] = (uint8_t)((k * 7 >> 8) % 20); fr[33] = (uint8_t)(k * 7);
			put16(fr + 34, (unsigned)(1024 + k % 60000));
			put16(fr + 36, 25);
			fr[34 + 13] = 0x02;
		} else {
			len = 14 + 40 + 100;
			fr[26] = 100; fr[27] = 64; fr[28] = 1; fr[29] = 10;
			fr[30] = 203; fr[31] = 0; fr[32] = 113; fr[33] = 80;
			put16(fr + 34, 51000);
			put16(fr + 36, 443);
			fr[34 + 13] = 0x18;
		}
		put16(fr + 16, (unsigned)(len - 14));
		fr[34 + 12] = 0x50;
		usec += 100;
		if (usec >= 1000000) {
			sec++;
			usec -= 1000000;
		}
		rec[0] = sec;
		rec[1] = usec;
		rec[2] = rec[3] = (uint32_t)len;
		fwrite(rec, sizeof rec, 1, f);
		fwrite(fr, len, 1, f);
	}
	return fclose(f) != 0;
}

/* ------------------------------------------------------------ pcap */

struct path_ctx {
	struct df *df;
	struct df_queue q;
	int linktype;
	uint64_t tcp;
};

static void
path_cb(u_char *user, const struct pcap_pkthdr *h, const u_char *data)
{
	struct path_ctx *c = (struct path_ctx *)user;
	struct fd_packet pk;
	struct df_segment *s;

	if (flow_decode(c->linktype, data, h->caplen, &pk) != FD_OK)
		return;
	c->tcp++;
	/* as botsentry-flowd -r does (flow/input_pcap.c, file_cb) */
	if (!df_segment_wanted(pk.sport, pk.dport, pk.flags)) {
		df_queue_tick(c->df, &c->q, (int64_t)h->ts.tv_sec * 1000 + h->ts.tv_usec / 1000);
		return;
	}
	s = df_queue_next(c->df, &c->q);
	s->ts_ms = (int64_t)h->ts.tv_sec * 1000 + h->ts.tv_usec / 1000;
	s->src.family = s->dst.family = pk.family;
	memcpy(s->src.a, pk.src, 16);
	memcpy(s->dst.a, pk.dst, 16);
	s->sport = pk.sport;
	s->dport = pk.dport;
	s->flags = pk.flags;
	s->input = 0;
	df_queue_commit(c->df, &c->q);
}

static double
bare_loop(const char *file, uint64_t *npk)
{
	char err[PCAP_ERRBUF_SIZE];
	pcap_t *p = pcap_open_offline(file, err);
	struct pcap_pkthdr *h;
	const u_char *d;
	uint64_t n = 0, sum = 0;
	double t0;

	if (p == NULL) {
		fprintf(stderr, "%s\n", err);
		exit(1);
	}
	last_cpu = cpu_s();
	t0 = now_s();
	while (pcap_next_ex(p, &h, &d) == 1) {
		n++;
		sum += d[h->caplen - 1];      /* touch the packet */
	}
	t0 = now_s() - t0;
	last_cpu = cpu_s() - last_cpu;
	pcap_close(p);
	*npk = n + (sum & 0);
	return t0;
}

static struct df_stats last_stats;

static double
inproc_path(const char *file, uint64_t *npk, uint64_t *hits)
{
	char err[PCAP_ERRBUF_SIZE];
	pcap_t *p = pcap_open_offline(file, err);
	struct df_settings s;
	struct path_ctx c;
	double t0;
	int r;

	df_settings_default(&s);
	memset(&c, 0, sizeof c);
	c.df = df_new(&s, hit, hits);
	df_input_add(c.df, "bench", 1);
	c.linktype = pcap_datalink(p);
	last_cpu = cpu_s();
	t0 = now_s();
	while ((r = pcap_dispatch(p, 4096, path_cb, (u_char *)&c)) > 0)
		df_queue_drain(c.df, &c.q);
	df_queue_drain(c.df, &c.q);
	df_flush(c.df);
	t0 = now_s() - t0;
	last_cpu = cpu_s() - last_cpu;
	df_get_stats(c.df, &last_stats);
	*npk = c.tcp;
	pcap_close(p);
	df_free(c.df);
	return t0;
}

static double
real_flowd(const char *flowd, const char *conf, const char *file)
{
	char *argv[] = { (char *)flowd, "-c", (char *)conf, "-r", (char *)file, NULL };
	pid_t pid;
	int st;
	double t0 = now_s();
	posix_spawn_file_actions_t fa;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", 1, 0);
	if (posix_spawn(&pid, flowd, &fa, NULL, argv, environ) != 0) {
		perror(flowd);
		exit(1);
	}
	waitpid(pid, &st, 0);
	posix_spawn_file_actions_destroy(&fa);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fprintf(stderr, "warning: %s exited with %d\n", flowd, WEXITSTATUS(st));
	return now_s() - t0;
}

static int
bench_pcap(const char *file, const char *flowd, const char *conf)
{
	uint64_t n, tcp, hits = 0;
	double tb, ti, tf, best_b = 1e9, best_i = 1e9, best_f = 1e9, cpu_b = 1e9, cpu_i = 1e9;
	int round;

	bare_loop(file, &n);              /* warm the page cache */
	for (round = 0; round < 3; round++) {
		tb = bare_loop(file, &n);
		if (last_cpu < cpu_b) cpu_b = last_cpu;
		ti = inproc_path(file, &tcp, &hits);
		if (last_cpu < cpu_i) cpu_i = last_cpu;
		tf = flowd ? real_flowd(flowd, conf, file) : 0;
		if (tb < best_b) best_b = tb;
		if (ti < best_i) best_i = ti;
		if (flowd && tf < best_f) best_f = tf;
	}
	printf("pcap file: %llu packets (best of 3 rounds)\n", (unsigned long long)n);
	printf("  bare pcap_next_ex loop      %8.2f Mpkt/s  (%.3f s)  1.00x   cpu %.3f s  1.00x\n",
	    n / best_b / 1e6, best_b, cpu_b);
	printf("  flowd path, in process      %8.2f Mpkt/s  (%.3f s)  %.2fx   cpu %.3f s  %.2fx  (%llu hits)\n",
	    n / best_i / 1e6, best_i, best_b / best_i, cpu_i, cpu_b / cpu_i, (unsigned long long)(hits / 3));
	printf("    detector: %llu attempts, %llu sources at the end; first sightings %llu parked,"
	    " %llu promoted, %llu spilled, %llu evicted\n",
	    (unsigned long long)last_stats.attempts, (unsigned long long)last_stats.sources,
	    (unsigned long long)last_stats.first_parked, (unsigned long long)last_stats.first_promoted,
	    (unsigned long long)last_stats.first_spilled, (unsigned long long)last_stats.first_evicted);
	if (flowd)
		printf("  botsentry-flowd -r (whole)  %8.2f Mpkt/s  (%.3f s)  %.2fx\n", n / best_f / 1e6, best_f,
		    best_b / best_f);
	return 0;
}

/* Only flowd's path, ROUNDS times (for a profiler: perf record). */
static int
bench_path(const char *file, int rounds)
{
	uint64_t tcp, hits = 0;
	double t, best = 1e9;
	int round;

	for (round = 0; round < rounds; round++) {
		t = inproc_path(file, &tcp, &hits);
		if (t < best)
			best = t;
	}
	printf("flowd path, in process: %llu TCP packets, best %.3f s, %.2f Mpkt/s (%llu hits)\n",
	    (unsigned long long)tcp, best, tcp / best / 1e6, (unsigned long long)(hits / (uint64_t)rounds));
	return 0;
}

/* ------------------------------------------------------------ records */

static size_t
v5_datagram(uint8_t *b, uint32_t seq, long base)
{
	int i;

	memset(b, 0, NFV5_HEADER_LEN + 30 * NFV5_RECORD_LEN);
	put16(b, 5);
	put16(b + 2, 30);
	b[4] = 0; b[5] = 1; b[6] = 0x86; b[7] = 0xa0;               /* uptime 100000 */
	b[8] = 0x65; b[9] = 0x53; b[10] = 0xf1; b[11] = 0x00;        /* 1700000000 */
	b[16] = (uint8_t)(seq >> 24); b[17] = (uint8_t)(seq >> 16); b[18] = (uint8_t)(seq >> 8); b[19] = (uint8_t)seq;
	for (i = 0; i < 30; i++) {
		uint8_t *r = b + NFV5_HEADER_LEN + i * NFV5_RECORD_LEN;
		long k = base + i;
		r[0] = 100; r[1] = (uint8_t)(64 + (k >> 16) % 64); r[2] = (uint8_t)(k >> 8); r[3] = (uint8_t)k;
		r[4] = 198; r[5] = 18; r[6] = (uint8_t)(k % 20); r[7] = (uint8_t)(k * 7);
		r[19] = 3;          /* packets */
		r[23] = 180;        /* octets */
		r[26] = 0x5f; r[27] = 0x90;     /* first 90000-ish */
		r[30] = 0x5f; r[31] = 0x90;
		put16(r + 32, (unsigned)(1024 + k % 60000));
		put16(r + 34, 25);
		r[37] = (k & 1) ? 0x1b : 0x02;
		r[38] = 6;
	}
	return NFV5_HEADER_LEN + 30 * NFV5_RECORD_LEN;
}

static int
bench_records(long n)
{
	static uint8_t buf[NFV5_HEADER_LEN + 30 * NFV5_RECORD_LEN];
	struct nfv5_header h;
	struct nfv5_record r[NFV5_MAX_RECORDS];
	struct df_settings s;
	struct df *df;
	size_t nr, i, len;
	long d, nd = n / 30;
	uint64_t hits = 0, ok = 0;
	double t0, tparse, tfull;

	df_settings_default(&s);
	df = df_new(&s, hit, &hits);
	df_input_add(df, "bench", 1);
	t0 = now_s();
	for (d = 0; d < nd; d++) {
		len = v5_datagram(buf, (uint32_t)(d * 30), d * 30 % 2000000);
		if (nfv5_parse(buf, len, &h, r, &nr) == NFV5_OK)
			for (i = 0; i < nr; i++)
				ok += nfv5_record_check(&h, &r[i]) == NULL;
	}
	tparse = now_s() - t0;
	t0 = now_s();
	for (d = 0; d < nd; d++) {
		len = v5_datagram(buf, (uint32_t)(d * 30), d * 30 % 2000000);
		if (nfv5_parse(buf, len, &h, r, &nr) != NFV5_OK)
			continue;
		for (i = 0; i < nr; i++) {
			struct df_flowrec f;
			if (nfv5_record_check(&h, &r[i]) != NULL)
				continue;
			memset(&f, 0, sizeof f);
			f.start_ms = r[i].start_ms;
			f.end_ms = r[i].end_ms;
			f.src.family = f.dst.family = 4;
			memcpy(f.src.a, r[i].src, 4);
			memcpy(f.dst.a, r[i].dst, 4);
			f.sport = r[i].sport;
			f.dport = r[i].dport;
			f.proto = r[i].proto;
			f.flags = r[i].flags;
			df_flowrec(df, &f);
		}
	}
	df_flush(df);
	tfull = now_s() - t0;
	printf("NetFlow v5: %ld records in %ld datagrams (%llu valid)\n", nd * 30, nd, (unsigned long long)ok);
	printf("  build + parse + check only  %8.2f Mrec/s  1.00x\n", nd * 30 / tparse / 1e6);
	printf("  + detector (collector path) %8.2f Mrec/s  %.2fx\n", nd * 30 / tfull / 1e6, tparse / tfull);
	df_free(df);
	return 0;
}

/* ------------------------------------------------------------ memory */

static long
rss_kb(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long pages = 0, res = 0;

	if (f != NULL) {
		if (fscanf(f, "%ld %ld", &pages, &res) != 2)
			res = 0;
		fclose(f);
	}
	return res * (sysconf(_SC_PAGESIZE) / 1024);
}

static int
bench_memory(long n, int per)
{
	struct df_settings s;
	struct df *df;
	struct df_stats st;
	uint64_t hits = 0;
	long i, before, after;
	double t0;

	before = rss_kb();
	df_settings_default(&s);
	s.max_sources = (size_t)n;
	df = df_new(&s, hit, &hits);
	df_input_add(df, "bench", 1);
	t0 = now_s();
	for (i = 0; i < n * per; i++) {
		struct df_segment sg;
		long k = i % n;              /* every source once, then again (per > 1) */
		memset(&sg, 0, sizeof sg);
		sg.ts_ms = 1700000400000LL + i / 1000;
		sg.src.family = sg.dst.family = 4;
		sg.src.a[0] = 10; sg.src.a[1] = (uint8_t)(k >> 16); sg.src.a[2] = (uint8_t)(k >> 8); sg.src.a[3] = (uint8_t)k;
		sg.dst.a[0] = 198; sg.dst.a[1] = 18; sg.dst.a[2] = (uint8_t)(i / n); sg.dst.a[3] = (uint8_t)k;
		sg.sport = (uint16_t)(1025 + i / n);
		sg.dport = 25;
		sg.flags = 0x02;
		df_segment(df, &sg);
		/* the RST back: the attempt resolves and the source is counted */
		{
			struct df_segment a = sg;
			a.src = sg.dst;
			a.dst = sg.src;
			a.sport = 25;
			a.dport = sg.sport;
			a.flags = 0x14;
			df_segment(df, &a);
		}
	}
	t0 = now_s() - t0;
	after = rss_kb();
	df_get_stats(df, &st);
	printf("memory: %ld sources x %d attempt%s (%llu tracked: %llu counted, %llu parked; %llu evicted) in %.2f s\n",
	    n, per, per > 1 ? "s" : "", (unsigned long long)st.sources,
	    (unsigned long long)(st.sources - st.first_live), (unsigned long long)st.first_live,
	    (unsigned long long)st.source_evictions, t0);
	printf("  detector's own count        %8.1f bytes/source (%.1f MiB)\n",
	    (double)st.bytes / (double)n, (double)st.bytes / 1048576.0);
	printf("  resident-set growth         %8.1f bytes/source (%.1f MiB)\n",
	    (double)(after - before) * 1024.0 / (double)n, (after - before) / 1024.0);
	df_free(df);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc >= 4 && strcmp(argv[1], "gen") == 0)
		return gen(argv[2], atol(argv[3]), argc >= 5 && atol(argv[4]) > 0 ? atol(argv[4]) : 8);
	if (argc >= 3 && strcmp(argv[1], "pcap") == 0)
		return bench_pcap(argv[2], argc >= 5 ? argv[3] : NULL, argc >= 5 ? argv[4] : NULL);
	if (argc >= 3 && strcmp(argv[1], "path") == 0)
		return bench_path(argv[2], argc >= 4 ? atoi(argv[3]) : 3);
	if (argc >= 3 && strcmp(argv[1], "records") == 0)
		return bench_records(atol(argv[2]));
	if (argc >= 3 && strcmp(argv[1], "memory") == 0)
		return bench_memory(atol(argv[2]), argc >= 4 && atoi(argv[3]) > 0 ? atoi(argv[3]) : 1);
	fprintf(stderr, "usage: bench_flowd gen FILE N [EVERY] | pcap FILE [FLOWD CONF] | path FILE [ROUNDS]"
	    " | records N | memory N [ATTEMPTS]\n");
	return 64;
}
