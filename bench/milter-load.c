/*
 * milter-load.c - a milter-protocol load generator playing Postfix's side.
 *
 * SYNOPSIS
 *	milter-load -s SOCKET [-c CONNS] [-m MSGS] [-t SECS] [-P PID]
 *	    [-S SUBSCRIBERS] [-B FIRST] [-r RCPTS] [-w WARMUP_SECS]
 *
 * DESCRIPTION
 *	CONNS threads each open milter sessions one after the other, as
 *	Postfix's smtpd processes do: negotiate (offering what Postfix 3.7
 *	offers), connect with the client macros, HELO, then MSGS messages,
 *	each MAIL with {auth_authen}, RCPTS recipients, DATA, eight headers, a
 *	1 KiB body, end of message, and ABORT between the messages of a
 *	session (Postfix's RSET), then QUIT.  Every session is a different
 *	subscriber out of SUBSCRIBERS (default 10000), with its own client
 *	address and HELO name.  It runs for SECS seconds (default 3) after
 *	WARMUP_SECS (default 0.5) and prints one line:
 *
 *	  conns=16 msgs=10 messages=24000 secs=3.00 msg_per_s=8000
 *	  p50_us=1500 p99_us=4000 cpu_us_per_msg=95.2 tempfail=0 reject=0 errors=0
 *
 *	Latency is one message's transaction: from MAIL to the answer to end
 *	of message.  cpu_us_per_msg is the user+system CPU time of process PID
 *	(the milter; from /proc/PID/stat) over the measured interval divided
 *	by the messages; it is omitted without -P.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../milter/mclient.h"

static const char *sock;
static int nconns = 1, nmsgs = 1, nrcpts = 3;
static double secs = 3.0, warmup = 0.5;
static long nsubs = 10000, sub_base;
static atomic_long next_session;
static atomic_int measuring, stopping;

struct worker {
	pthread_t th;
	int id;
	uint32_t *lat;        /* microseconds */
	size_t nlat, caplat;
	long messages, tempfail, reject, errors;
	char err[256];
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char body[1024 + 1];

static void
make_body(void)
{
	size_t i;
	const char *line = "The quick brown fox jumps over the lazy dog, again and again. 0123\r\n";
	size_t ll = strlen(line);

	for (i = 0; i < 1024; i++)
		body[i] = line[i % ll];
	body[1022] = '\r';
	body[1023] = '\n';
}

static void
note_latency(struct worker *w, double dt)
{
	if (w->nlat == w->caplat) {
		w->caplat = w->caplat ? w->caplat * 2 : 4096;
		w->lat = realloc(w->lat, w->caplat * sizeof *w->lat);
		if (w->lat == NULL)
			abort();
	}
	w->lat[w->nlat++] = (uint32_t)(dt * 1e6);
}

/* One message; returns 0, 1 when the filter refused it, -1 on error. */
static int
one_message(struct worker *w, struct mclient *mc, long sub, int k)
{
	char from[128], auth[64], rcpt[128], qid[32], msgid[128];
	const char *argv[2];
	const char *mmac[6];
	const char *rmac[2];
	int r, i;

	snprintf(auth, sizeof auth, "sub%06ld@isp.example", sub);
	snprintf(from, sizeof from, "<user%ld@isp.example>", sub);
	snprintf(qid, sizeof qid, "%lX%02X%04X", sub, w->id, k);
	mmac[0] = "{auth_authen}"; mmac[1] = auth;
	mmac[2] = "{mail_addr}"; mmac[3] = from;
	mmac[4] = "{auth_type}"; mmac[5] = "PLAIN";
	if (mc_macros(mc, 'M', mmac, 6) < 0)
		return -1;
	argv[0] = from;
	argv[1] = "SIZE=1500";
	r = mc_mail(mc, argv, 2);
	if (r < 0)
		return -1;
	if (r == 't' || r == 'r' || r == 'y' || r == 'd' || r == 'a') {
		if (r == 't' || (r == 'y' && mc->reply[0] == '4'))
			w->tempfail++;
		else if (r != 'a')
			w->reject++;
		return mc_abort(mc) < 0 ? -1 : 1;
	}
	for (i = 0; i < nrcpts; i++) {
		snprintf(rcpt, sizeof rcpt, "<friend%d@dest%ld.example>", i, (sub * 7 + i) % 997);
		rmac[0] = "{rcpt_addr}";
		rmac[1] = rcpt;
		if (mc_macros(mc, 'R', rmac, 2) < 0)
			return -1;
		argv[0] = rcpt;
		if (mc_rcpt(mc, argv, 1) < 0)
			return -1;
	}
	rmac[0] = "i";
	rmac[1] = qid;
	if (mc_macros(mc, 'T', rmac, 2) < 0 || mc_data(mc) < 0)
		return -1;
	snprintf(msgid, sizeof msgid, "<%s.%d@home%ld.example>", qid, k, sub);
	{
		const char *h[8][2] = {
			{ "From", from },
			{ "To", "friend0@dest.example" },
			{ "Subject", "Photos from the weekend" },
			{ "Date", "Thu, 26 Nov 2026 14:00:00 +0000" },
			{ "Message-ID", msgid },
			{ "MIME-Version", "1.0" },
			{ "Content-Type", "text/plain; charset=utf-8" },
			{ "User-Agent", "Mozilla Thunderbird" },
		};
		for (i = 0; i < 8; i++)
			if (mc_header(mc, h[i][0], h[i][1], strlen(h[i][1])) < 0)
				return -1;
	}
	if (mc_eoh(mc) < 0)
		return -1;
	r = mc_body(mc, body, 1024);
	if (r < 0)
		return -1;
	if (mc_macros(mc, 'E', rmac, 2) < 0)
		return -1;
	r = mc_eom(mc);
	if (r < 0)
		return -1;
	if (r == 't' || (r == 'y' && mc->reply[0] == '4'))
		w->tempfail++;
	else if (r == 'r' || r == 'y' || r == 'd')
		w->reject++;
	/* Postfix sends ABORT when the client starts the next transaction
	 * (or at QUIT); between messages it is what RSET becomes */
	return mc_abort(mc) < 0 ? -1 : 0;
}

static void *
run(void *arg)
{
	struct worker *w = arg;

	while (!atomic_load(&stopping)) {
		struct mclient mc;
		long sess = atomic_fetch_add(&next_session, 1);
		long sub = sub_base + sess % nsubs;
		char ip[64], helo[128], port[8];
		const char *cmac[8];
		int k;

		if (mc_open(&mc, sock) < 0 || mc_negotiate(&mc, 0, 0) < 0) {
			snprintf(w->err, sizeof w->err, "%s", mc.err);
			w->errors++;
			mc_close(&mc);
			usleep(10000);
			continue;
		}
		snprintf(ip, sizeof ip, "100.64.%ld.%ld", (sub / 250) % 256, sub % 250 + 1);
		snprintf(helo, sizeof helo, "pc-%ld.dsl.home%ld.example", sub, sub);
		snprintf(port, sizeof port, "%ld", 40000 + sess % 20000);
		cmac[0] = "j"; cmac[1] = "smarthost.isp.example";
		cmac[2] = "{daemon_name}"; cmac[3] = "ORIGINATING";
		cmac[4] = "{client_addr}"; cmac[5] = ip;
		cmac[6] = "{client_name}"; cmac[7] = "unknown";
		if (mc_macros(&mc, 'C', cmac, 8) < 0 ||
		    mc_connect(&mc, "unknown", '4', (uint16_t)atoi(port), ip) < 0 ||
		    mc_helo(&mc, helo, strlen(helo)) < 0)
			goto fail;
		for (k = 0; k < nmsgs && !atomic_load(&stopping); k++) {
			double t0 = now_s();
			int r = one_message(w, &mc, sub, k);
			if (r < 0)
				goto fail;
			if (atomic_load(&measuring)) {
				note_latency(w, now_s() - t0);
				w->messages++;
			}
		}
		mc_quit(&mc);
		mc_close(&mc);
		continue;
fail:
		snprintf(w->err, sizeof w->err, "%s", mc.err);
		w->errors++;
		mc_close(&mc);
	}
	return NULL;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* utime + stime of a process in seconds; -1 when unreadable */
static double
proc_cpu(long pid)
{
	char path[64], buf[4096];
	FILE *f;
	size_t n;
	char *p;
	unsigned long ut = 0, st = 0;
	int field;

	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');      /* the command name may hold blanks */
	if (p == NULL)
		return -1;
	p += 2;
	/* p is at field 3 (state); utime is field 14, stime 15 */
	for (field = 3; field < 14 && p != NULL; field++) {
		p = strchr(p, ' ');
		if (p != NULL)
			p++;
	}
	if (p == NULL || sscanf(p, "%lu %lu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

int
main(int argc, char **argv)
{
	struct worker *ws;
	long pid = 0, total = 0, tf = 0, rj = 0, errs = 0;
	size_t nlat = 0, i, j;
	uint32_t *all;
	double t0, t1, c0 = -1, c1 = -1;
	int c;

	while ((c = getopt(argc, argv, "B:c:m:P:r:s:S:t:w:")) != -1) {
		switch (c) {
		case 'B': sub_base = atol(optarg); break;
		case 'c': nconns = atoi(optarg); break;
		case 'm': nmsgs = atoi(optarg); break;
		case 'P': pid = atol(optarg); break;
		case 'r': nrcpts = atoi(optarg); break;
		case 's': sock = optarg; break;
		case 'S': nsubs = atol(optarg); break;
		case 't': secs = atof(optarg); break;
		case 'w': warmup = atof(optarg); break;
		default:
			fprintf(stderr, "usage: milter-load -s SOCKET [-c CONNS] [-m MSGS] [-t SECS] "
			    "[-P PID] [-S SUBSCRIBERS] [-B FIRST] [-r RCPTS] [-w WARMUP]\n");
			return 64;
		}
	}
	if (sock == NULL || nconns < 1 || nmsgs < 1 || nsubs < 1 || secs <= 0) {
		fprintf(stderr, "milter-load: -s SOCKET is required; counts must be positive\n");
		return 64;
	}
	make_body();
	ws = calloc((size_t)nconns, sizeof *ws);
	for (i = 0; i < (size_t)nconns; i++) {
		ws[i].id = (int)i;
		pthread_create(&ws[i].th, NULL, run, &ws[i]);
	}
	usleep((useconds_t)(warmup * 1e6));
	if (pid > 0)
		c0 = proc_cpu(pid);
	t0 = now_s();
	atomic_store(&measuring, 1);
	usleep((useconds_t)(secs * 1e6));
	atomic_store(&measuring, 0);
	t1 = now_s();
	if (pid > 0)
		c1 = proc_cpu(pid);
	atomic_store(&stopping, 1);
	for (i = 0; i < (size_t)nconns; i++) {
		pthread_join(ws[i].th, NULL);
		total += ws[i].messages;
		tf += ws[i].tempfail;
		rj += ws[i].reject;
		errs += ws[i].errors;
		nlat += ws[i].nlat;
	}
	all = malloc((nlat + 1) * sizeof *all);
	for (i = 0, j = 0; i < (size_t)nconns; i++) {
		memcpy(all + j, ws[i].lat, ws[i].nlat * sizeof *all);
		j += ws[i].nlat;
	}
	qsort(all, nlat, sizeof *all, cmp_u32);
	printf("conns=%d msgs=%d messages=%ld secs=%.2f msg_per_s=%.0f p50_us=%u p99_us=%u",
	    nconns, nmsgs, total, t1 - t0, (double)total / (t1 - t0),
	    nlat ? all[nlat / 2] : 0, nlat ? all[(size_t)((double)nlat * 0.99)] : 0);
	if (pid > 0 && c0 >= 0 && c1 >= 0 && total > 0)
		printf(" cpu_us_per_msg=%.1f", (c1 - c0) * 1e6 / (double)total);
	printf(" tempfail=%ld reject=%ld errors=%ld\n", tf, rj, errs);
	for (i = 0; i < (size_t)nconns; i++) {
		if (ws[i].errors > 0) {
			fprintf(stderr, "milter-load: %ld errors; last: %s\n", errs, ws[i].err);
			break;
		}
	}
	for (i = 0; i < (size_t)nconns; i++)
		free(ws[i].lat);
	free(ws);
	free(all);
	return errs > 0 && total == 0 ? 1 : 0;
}
