/*
 * bench_logwatch.c - lines per second through the log line parser and the
 * detectors, against `grep -c` of the same file in the same run.
 *
 *   bench/bench_logwatch [-n LINES] [-f FILE] [-k]
 *
 * Writes a synthetic mail log of LINES lines (default 2,000,000) to FILE
 * (default /tmp/bench-logwatch.log; -k keeps it): a busy smarthost's mix,
 * in which most lines are other Postfix daemons and other programs (skipped
 * by tag), and the rest are SASL failures and logins (from a pool of
 * addresses and logins, some of them brute-forcing), client= lines,
 * delivery lines (20% refused) and qmgr "removed".  Then, each timed with
 * the monotonic clock, best of three:
 *   grep     `grep -c sasl_username FILE` (a scan of the file: the floor for
 *            any log reader; run through /bin/sh, output to a file because
 *            GNU grep stops at the first match when it writes to /dev/null)
 *   grep -E  `grep -cE` with a regex that selects the lines we act on (what
 *            a fail2ban-style filter pays before it parses anything)
 *   parse    read the file, split lines, lp_parse() each
 *   detect   the same plus the detectors (detect_auth.h), fed the way
 *            botsentry-logwatch feeds them (no leases, no database)
 * and prints lines/s for each and the ratios to grep.
 */
#include "config.h"
#include "detect_auth.h"
#include "event.h"
#include "logparse.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint64_t events;

static void
on_event(void *ud, struct event *ev)
{
	(void)ud;
	events++;
	event_clear(ev);
}

static unsigned long rng = 88172645463325252UL;

static unsigned long
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void
generate(const char *path, long n)
{
	FILE *f = fopen(path, "w");
	long i;
	unsigned qid = 0x10000;

	if (f == NULL) {
		perror(path);
		exit(1);
	}
	for (i = 0; i < n; i++) {
		int s = (int)(i % 86400);
		char ts[32];
		unsigned r = (unsigned)(rnd() % 100);
		unsigned a = (unsigned)(rnd() % 5000);

		snprintf(ts, sizeof ts, "Nov 26 %02d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60);
		if (r < 30) {
			fprintf(f, "%s smarthost postfix/cleanup[2%03u]: %X: message-id=<%lu@pc%u.example>\n",
			    ts, a % 1000, qid, (unsigned long)i, a);
		} else if (r < 45) {
			fprintf(f, "%s smarthost postfix/submission/smtpd[2%03u]: connect from unknown[100.64.%u.%u]\n",
			    ts, a % 1000, a / 250, a % 250);
		} else if (r < 55) {
			fprintf(f, "%s smarthost dovecot: imap-login: Login: user=<u%u@isp.example>, method=PLAIN, rip=100.64.%u.%u\n",
			    ts, a, a / 250, a % 250);
		} else if (r < 62) {
			/* failures: 1 in 8 from a few brute-forcing addresses */
			unsigned src = (rnd() % 8 == 0) ? (unsigned)(rnd() % 20) : a;
			fprintf(f, "%s smarthost postfix/submission/smtpd[2%03u]: warning: unknown[198.51.%u.%u]: "
			    "SASL LOGIN authentication failed: authentication failure, sasl_username=u%u@isp.example\n",
			    ts, a % 1000, src / 250, src % 250, (unsigned)(rnd() % 20000));
		} else if (r < 72) {
			qid++;
			fprintf(f, "%s smarthost postfix/submission/smtpd[2%03u]: %X: client=unknown[100.64.%u.%u], "
			    "sasl_method=PLAIN, sasl_username=u%u@isp.example\n", ts, a % 1000, qid, a / 250, a % 250, a);
		} else if (r < 76) {
			qid++;
			fprintf(f, "%s smarthost postfix/smtpd[2%03u]: %X: client=unknown[100.64.%u.%u]\n",
			    ts, a % 1000, qid, a / 250, a % 250);
		} else if (r < 92) {
			int bad = rnd() % 5 == 0;
			fprintf(f, "%s smarthost postfix/smtp[3%03u]: %X: to=<r%u@example%u.com>, relay=mx.example%u.com[192.0.2.%u]:25, "
			    "delay=0.5, delays=0.1/0/0.2/0.2, dsn=%s, status=%s (%s)\n", ts, a % 1000,
			    qid - (unsigned)(rnd() % 50), a, a % 97, a % 97, a % 250, bad ? "5.1.1" : "2.0.0",
			    bad ? "bounced" : "sent", bad ? "host said: 550 5.1.1 user unknown" : "250 2.0.0 Ok");
		} else if (r < 96) {
			fprintf(f, "%s smarthost postfix/qmgr[1999]: %X: removed\n", ts, qid - (unsigned)(rnd() % 60));
		} else {
			fprintf(f, "%s smarthost postfix/qmgr[1999]: %X: from=<u%u@isp.example>, size=%u, nrcpt=1 (queue active)\n",
			    ts, qid, a, 400 + a);
		}
	}
	fclose(f);
}

static void
feed(struct da *d, const struct lp_record *r)
{
	struct da_auth_obs ao;
	struct da_origin og;
	struct da_delivery dl;

	switch (r->kind) {
	case LP_AUTH_FAIL:
	case LP_AUTH_OK:
		memset(&ao, 0, sizeof ao);
		ao.ts_ms = r->ts_ms;
		ao.ok = r->kind == LP_AUTH_OK;
		ao.client_ip = r->client_ip;
		ao.login = r->login;
		ao.login_subscriber = r->login;
		ao.mech = r->mech;
		da_auth(d, &ao);
		if (r->kind == LP_AUTH_OK) {
			memset(&og, 0, sizeof og);
			og.ts_ms = r->ts_ms;
			og.qid = r->qid;
			og.subscriber = r->login;
			og.client_ip = r->client_ip;
			da_origin(d, &og);
		}
		break;
	case LP_CLIENT:
		memset(&og, 0, sizeof og);
		og.ts_ms = r->ts_ms;
		og.qid = r->qid;
		og.client_ip = r->client_ip;
		da_origin(d, &og);
		break;
	case LP_DELIVERY:
		memset(&dl, 0, sizeof dl);
		dl.ts_ms = r->ts_ms;
		dl.qid = r->qid;
		dl.fate = r->status == LP_ST_SENT ? DA_SENT : r->status == LP_ST_BOUNCED ? DA_REFUSED : DA_DEFERRED;
		dl.dsn = r->dsn;
		dl.rcpt_domain = r->rcpt_domain;
		da_delivery(d, &dl);
		break;
	case LP_REMOVED:
		da_removed(d, r->qid);
		break;
	default:
		break;
	}
}

/* Parse (and detect when d != NULL) every line of buf; returns lines. */
static long
run(const char *buf, size_t len, struct da *d, long *kinds)
{
	struct lp_opts o;
	struct lp_record r;
	const char *p = buf, *e = buf + len, *nl;
	long n = 0;

	lp_opts_init(&o, 1795703400000LL);
	while (p < e) {
		nl = memchr(p, '\n', (size_t)(e - p));
		if (nl == NULL)
			nl = e;
		lp_parse(&o, p, (size_t)(nl - p), &r);
		kinds[r.kind]++;
		if (d != NULL)
			feed(d, &r);
		n++;
		p = nl + 1;
	}
	return n;
}

int
main(int argc, char **argv)
{
	const char *path = "/tmp/bench-logwatch.log";
	long n = 2000000, lines = 0, kinds[LP_MALFORMED + 1];
	int c, keep = 0, i;
	double best_grep = 1e9, best_grepe = 1e9, best_parse = 1e9, best_detect = 1e9;
	char cmd[600], cmde[700];
	char *buf;
	size_t len;

	while ((c = getopt(argc, argv, "n:f:k")) != -1) {
		switch (c) {
		case 'n': n = atol(optarg); break;
		case 'f': path = optarg; break;
		case 'k': keep = 1; break;
		default:
			fprintf(stderr, "usage: bench_logwatch [-n LINES] [-f FILE] [-k]\n");
			return 64;
		}
	}
	generate(path, n);
	/* not >/dev/null: GNU grep notices it and stops at the first match */
	snprintf(cmd, sizeof cmd, "grep -c sasl_username '%s' >'%s.count'", path, path);
	snprintf(cmde, sizeof cmde, "grep -cE 'SASL [A-Z0-9-]+ authentication failed|sasl_username=|status=[a-z]+|: removed$' '%s' >'%s.count'",
	    path, path);
	for (i = 0; i < 3; i++) {
		int64_t t0 = bs_mono_ms();
		struct da_settings s;
		struct da *d;
		double t;

		if (system(cmd) != 0)
			fprintf(stderr, "grep failed\n");
		t = (double)(bs_mono_ms() - t0) / 1000;
		if (t < best_grep)
			best_grep = t;
		t0 = bs_mono_ms();
		if (system(cmde) != 0)
			fprintf(stderr, "grep -E failed\n");
		t = (double)(bs_mono_ms() - t0) / 1000;
		if (t < best_grepe)
			best_grepe = t;

		/* the parser and detectors read the file themselves, as the program does */
		t0 = bs_mono_ms();
		buf = bs_read_file(path, &len);
		memset(kinds, 0, sizeof kinds);
		lines = run(buf, len, NULL, kinds);
		free(buf);
		t = (double)(bs_mono_ms() - t0) / 1000;
		if (t < best_parse)
			best_parse = t;

		da_settings_default(&s);
		d = da_new(&s, on_event, NULL);
		events = 0;
		t0 = bs_mono_ms();
		buf = bs_read_file(path, &len);
		memset(kinds, 0, sizeof kinds);
		lines = run(buf, len, d, kinds);
		free(buf);
		t = (double)(bs_mono_ms() - t0) / 1000;
		if (t < best_detect)
			best_detect = t;
		da_free(d);
	}
	printf("file: %s, %ld lines, %.1f MB\n", path, lines, (double)len / 1e6);
	printf("kinds: skip=%ld auth_fail=%ld auth_ok=%ld client=%ld delivery=%ld removed=%ld malformed=%ld; events=%llu\n",
	    kinds[LP_SKIP], kinds[LP_AUTH_FAIL], kinds[LP_AUTH_OK], kinds[LP_CLIENT], kinds[LP_DELIVERY],
	    kinds[LP_REMOVED], kinds[LP_MALFORMED], (unsigned long long)events);
	printf("%-28s %8.3f s %12.0f lines/s  1.00x\n", "grep -c (baseline)", best_grep, lines / best_grep);
	printf("%-28s %8.3f s %12.0f lines/s  %.2fx of grep's time\n", "grep -cE (the lines we read)", best_grepe,
	    lines / best_grepe, best_grepe / best_grep);
	printf("%-28s %8.3f s %12.0f lines/s  %.2fx of grep's time\n", "parse", best_parse,
	    lines / best_parse, best_parse / best_grep);
	printf("%-28s %8.3f s %12.0f lines/s  %.2fx of grep's time\n", "parse + detectors", best_detect,
	    lines / best_detect, best_detect / best_grep);
	snprintf(cmd, sizeof cmd, "%s.count", path);
	unlink(cmd);
	if (!keep)
		unlink(path);
	return 0;
}
