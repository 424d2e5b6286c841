/*
 * bench_detect.c - what the milter's detectors cost per message, against a
 * baseline measured in the same run: one ctr_update of the per-subscriber
 * counters (three counts and three distinct items), which the milter pays
 * per message anyway.
 *
 * usage: bench_detect [-n MESSAGES] [-s SUBSCRIBERS]
 * Single thread.  Cases:
 *   baseline      ctr_update for one message
 *   helo_classify the classifier on a typical FQDN
 *   detect_helo   classify + churn check (under the limits)
 *   rate+fanout   both detectors on values under the limits
 *   sender_own    sender_forgery, an allowed domain (no SPF)
 *   sender_forged sender_forgery, a forged domain already raised (no SPF)
 *   sender_raise  sender_forgery raising an event (SPF cached, evidence JSON)
 *   spf_uncached  one libspf2 check on a static zone, cache off
 *   spf_cached    the same answered from the result cache
 *   dkim_unsigned the DKIM check of an unsigned 8-header message
 *   per_message   counters + rate + fanout + sender_own + dkim_unsigned
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "counters.h"
#include "detect.h"
#include "dkim.h"
#include "helo.h"
#include "spf.h"

static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long nmsg = 1000000, nsubs = 100000;
static char (*subs)[24];
static struct detect_config *dc;
static struct det_fire *fire;
static struct ctr_table *ctr;
static struct spf_checker *spf_nc, *spf_c;
static struct dkim_checker *dk;
static double base_ns;

static void
report(const char *name, long n, double secs)
{
	double ns = secs * 1e9 / (double)n;

	if (base_ns == 0)
		base_ns = ns;
	printf("%-14s %10.0f ns/op %12.0f op/s  %6.2fx baseline\n", name, ns, n / secs, ns / base_ns);
}

static void
one_counter(long i, struct ctr_values *v)
{
	uint32_t inc[DET_N_COUNTS] = { 0, 1, 3 };
	uint64_t dh[DET_N_DISTINCT];

	dh[DET_D_RCPT_DOMAINS] = detect_hash_item("example.net", 11) + (uint64_t)(i % 3);
	dh[DET_D_SENDERS] = detect_hash_item("me@isp.example", 14);
	dh[DET_D_HELOS] = detect_hash_item("pc1.home.example", 16);
	ctr_update(ctr, subs[i % nsubs], 1700000000000LL + i, inc, dh, v);
}

static int
never(const char *d, void *arg)
{
	(void)d;
	(void)arg;
	return 0;
}

static void
dkim_unsigned(void)
{
	static const char *const names[] = { "From", "To", "Subject", "Date", "Message-ID",
		"MIME-Version", "Content-Type", "User-Agent" };
	static const char *const vals[] = { "Me <me@isp.example>", "you@example.net", "Lunch",
		"Thu, 26 Nov 2026 14:00:00 +0000", "<x1@isp.example>", "1.0",
		"text/plain; charset=utf-8", "Thunderbird" };
	struct dkim_check *k = dkim_check_begin(dk, "b", never, NULL);
	struct dkim_check_result r;
	int j;

	for (j = 0; j < 8; j++)
		dkim_check_header(k, names[j], vals[j]);
	dkim_check_eoh(k);
	dkim_check_end(k, &r);
	dkim_check_free(k);
}

int
main(int argc, char **argv)
{
	struct ctr_spec spec;
	struct ctr_values v;
	struct det_out out;
	struct dkim_checker_opts o = { 0 };
	char err[256];
	double t;
	long i;
	int c;

	while ((c = getopt(argc, argv, "n:s:")) != -1) {
		if (c == 'n')
			nmsg = atol(optarg);
		else if (c == 's')
			nsubs = atol(optarg);
		else {
			fprintf(stderr, "usage: bench_detect [-n MESSAGES] [-s SUBSCRIBERS]\n");
			return 64;
		}
	}
	if (nmsg < 1000 || nsubs < 1)
		return 64;
	dc = detect_config_load(NULL, err, sizeof err);
	if (dc == NULL) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	/* the ISP's domain and outbound address, as a real site would set */
	detect_config_free(dc);
	{
		char path[] = "/tmp/bench_detect.XXXXXX";
		int fd = mkstemp(path);
		FILE *f = fdopen(fd, "w");
		struct conf *cf;

		fprintf(f, "milter { own_domains = {\"isp.example\"} outbound_addresses = {\"192.0.2.25\"} }\n");
		fclose(f);
		cf = conf_load(path, stderr);
		unlink(path);
		if (cf == NULL)
			return 1;
		dc = detect_config_load(cf, err, sizeof err);
		conf_unref(cf);
	}
	subs = calloc((size_t)nsubs, sizeof *subs);
	for (i = 0; i < nsubs; i++)
		snprintf(subs[i], sizeof subs[i], "sub%ld", i);
	fire = det_fire_new(0);
	detect_ctr_spec(dc, &spec);
	ctr = ctr_new(&spec);
	spf_nc = spf_checker_new_zone("relay.isp.example", 0);
	spf_c = spf_checker_new_zone("relay.isp.example", 300);
	spf_zone_add(spf_nc, "forged.example", "v=spf1 ip4:198.51.100.0/24 -all");
	spf_zone_add(spf_nc, "*", NULL);
	spf_zone_add(spf_c, "forged.example", "v=spf1 ip4:198.51.100.0/24 -all");
	spf_zone_add(spf_c, "*", NULL);
	dk = dkim_checker_new(&o, err, sizeof err);
	if (ctr == NULL || spf_nc == NULL || spf_c == NULL || dk == NULL) {
		fprintf(stderr, "setup failed: %s\n", err);
		return 1;
	}
	det_out_init(&out);
	printf("bench_detect: %ld messages, %ld subscribers, 1 thread\n", nmsg, nsubs);

	t = now_s();
	for (i = 0; i < nmsg; i++)
		one_counter(i, &v);
	report("baseline", nmsg, now_s() - t);

	{
		struct helo_lists l = { NULL, 0, (const char *const *)dc->own_domains.v, dc->own_domains.n,
			(const char *const *)dc->helo.providers.v, dc->helo.providers.n };
		volatile int sink = 0;
		t = now_s();
		for (i = 0; i < nmsg; i++)
			sink += helo_classify("pc1.home.example", 16, "100.64.0.1", &l);
		report("helo_classify", nmsg, now_s() - t);
		(void)sink;
	}

	memset(&v, 0, sizeof v);
	v.distinct[DET_D_HELOS][DET_W_1H] = 1;
	t = now_s();
	for (i = 0; i < nmsg; i++) {
		struct det_subject s = { subs[i % nsubs], "100.64.0.1", "n", 1700000000000LL + i };
		struct helo_obs h = { "pc1.home.example", 16, "100.64.0.1" };
		detect_helo(dc, fire, &s, &h, &v, &out);
	}
	report("detect_helo", nmsg, now_s() - t);

	v.count[DET_C_MESSAGES][DET_W_1M] = 2;
	v.count[DET_C_RECIPIENTS][DET_W_1M] = 4;
	v.distinct[DET_D_RCPT_DOMAINS][DET_W_1M] = 2;
	t = now_s();
	for (i = 0; i < nmsg; i++) {
		struct det_subject s = { subs[i % nsubs], "100.64.0.1", "n", 1700000000000LL + i };
		detect_rate(dc, fire, &s, &v, "pc1.home.example", &out);
		detect_fanout(dc, fire, &s, &v, NULL, 0, &out);
	}
	report("rate+fanout", nmsg, now_s() - t);

	t = now_s();
	for (i = 0; i < nmsg; i++) {
		struct det_subject s = { subs[i % nsubs], "100.64.0.1", "n", 1700000000000LL + i };
		struct sender_obs so = { "<me@isp.example>", "Me <me@isp.example>", "pc1.home.example" };
		detect_sender(dc, fire, spf_c, &s, &so, &v, &out);
	}
	report("sender_own", nmsg, now_s() - t);

	/* 1000 bots, each raised once already: the steady state */
	for (i = 0; i < 1000; i++) {
		struct det_subject s = { subs[i % nsubs], "100.64.0.1", "n", 1700000000000LL };
		struct sender_obs so = { "<ceo@forged.example>", NULL, "pc1.home.example" };
		detect_sender(dc, fire, spf_c, &s, &so, &v, &out);
	}
	t = now_s();
	for (i = 0; i < nmsg; i++) {
		struct det_subject s = { subs[i % 1000 % nsubs], "100.64.0.1", "n", 1700000000000LL + i / 10 };
		struct sender_obs so = { "<ceo@forged.example>", NULL, "pc1.home.example" };
		detect_sender(dc, fire, spf_c, &s, &so, &v, &out);
	}
	report("sender_forged", nmsg, now_s() - t);
	/* raising: each message a new subscriber, SPF answered from the cache */
	t = now_s();
	for (i = 0; i < nmsg / 10; i++) {
		char who[32];
		struct det_subject s = { who, "100.64.0.1", "n", 1700000000000LL };
		struct sender_obs so = { "<ceo@forged.example>", NULL, "pc1.home.example" };
		snprintf(who, sizeof who, "new%ld", i);
		detect_sender(dc, fire, spf_c, &s, &so, &v, &out);
		det_out_clear(&out);
	}
	report("sender_raise", nmsg / 10, now_s() - t);
	det_out_clear(&out);
	det_out_init(&out);

	t = now_s();
	for (i = 0; i < nmsg / 10; i++)
		spf_check(spf_nc, "192.0.2.25", NULL, "<ceo@forged.example>", NULL, 0);
	report("spf_uncached", nmsg / 10, now_s() - t);
	t = now_s();
	for (i = 0; i < nmsg; i++)
		spf_check(spf_c, "192.0.2.25", NULL, "<ceo@forged.example>", NULL, 0);
	report("spf_cached", nmsg, now_s() - t);

	t = now_s();
	for (i = 0; i < nmsg; i++)
		dkim_unsigned();
	report("dkim_unsigned", nmsg, now_s() - t);

	t = now_s();
	for (i = 0; i < nmsg; i++) {
		struct det_subject s = { subs[i % nsubs], "100.64.0.1", "n", 1700000000000LL + i };
		struct sender_obs so = { "<me@isp.example>", "Me <me@isp.example>", "pc1.home.example" };
		struct ctr_values cv;
		one_counter(i, &cv);
		detect_rate(dc, fire, &s, &cv, "pc1.home.example", &out);
		detect_fanout(dc, fire, &s, &cv, NULL, 0, &out);
		detect_sender(dc, fire, spf_c, &s, &so, &cv, &out);
		dkim_unsigned();
		det_out_clear(&out);
	}
	report("per_message", nmsg, now_s() - t);

	det_out_clear(&out);
	dkim_checker_free(dk);
	spf_checker_free(spf_nc);
	spf_checker_free(spf_c);
	ctr_free(ctr);
	det_fire_free(fire);
	detect_config_free(dc);
	free(subs);
	return 0;
}
