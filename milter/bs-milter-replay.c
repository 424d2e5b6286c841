/*
 * bs-milter-replay.c - replay a traffic sample through the milter protocol.
 *
 * SYNOPSIS
 *	bs-milter-replay -s SOCKET [-q] FILE
 *
 * DESCRIPTION
 *	Plays the MTA's side (milter/mclient.c) for each session described in
 *	FILE, as Postfix would for the same SMTP dialogue, and prints per
 *	session what the milter answered.  It is the project's own client for
 *	the quick start (tools/quickstart-milter) and for tests: no MTA is
 *	needed.
 *
 * FILE FORMAT
 *	One directive a line; '#' starts a comment; values are key=value,
 *	double-quoted when they hold blanks.
 *
 *	  session[*N] ip=ADDR [auth=LOGIN] [helo=NAME] [label=TEXT]
 *	      begin a session (N times with *N); auth sets {auth_authen}
 *	  mail[*N] from=ADDR to=ADDR[,ADDR...] [rcpts=K] [fromhdr=TEXT] [subject=TEXT]
 *	      one message (N with *N); with rcpts=K the first to= template
 *	      is used K times
 *	  end
 *	      close the session
 *
 *	In values, {n} is replaced by a counter that grows with every use,
 *	{s} by the session number and {r} by a pseudo-random number (fixed
 *	seed, so that a replay is repeatable), {o} by a pseudo-random number
 *	from 1 to 254 (an address octet).
 *
 * EXIT STATUS
 *	0, 1 when the milter could not be reached or broke the protocol, 64
 *	for usage or a malformed FILE (file:line: message).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mclient.h"

#define MAXVAL 1024
#define MAXKV 12

struct kv {
	char key[32];
	char val[MAXVAL];
};

struct line {
	char verb[32];
	int times;
	struct kv kv[MAXKV];
	int nkv;
};

static const char *sockspec;
static int quiet;
static unsigned long counter_n, session_no;
static unsigned long rng = 12345;

static unsigned long
rnd(void)
{
	rng = rng * 6364136223846793005UL + 1442695040888963407UL;
	return (rng >> 33) % 100000;
}

static const char *
get(const struct line *l, const char *key)
{
	int i;

	for (i = 0; i < l->nkv; i++)
		if (strcmp(l->kv[i].key, key) == 0)
			return l->kv[i].val;
	return NULL;
}

/* Expand {n} {s} {r} {o} into out. */
static void
expand(const char *in, char *out, size_t size)
{
	size_t o = 0;

	while (*in != '\0' && o + 24 < size) {
		if (in[0] == '{' && in[1] != '\0' && in[2] == '}' && strchr("nsro", in[1]) != NULL) {
			unsigned long v = in[1] == 'n' ? counter_n++ : in[1] == 's' ? session_no :
			    in[1] == 'o' ? rnd() % 254 + 1 : rnd();
			o += (size_t)snprintf(out + o, size - o, "%lu", v);
			in += 3;
			continue;
		}
		out[o++] = *in++;
	}
	out[o] = '\0';
}

/* Parse one line; 0 blank, 1 directive, -1 error (message in err). */
static int
parse(char *s, struct line *l, char *err, size_t errlen)
{
	char *p = s, *star;
	size_t n;

	memset(l, 0, sizeof *l);
	l->times = 1;
	while (isspace((unsigned char)*p))
		p++;
	if (*p == '\0' || *p == '#')
		return 0;
	n = strcspn(p, " \t\r\n");
	if (n >= sizeof l->verb) {
		snprintf(err, errlen, "directive too long");
		return -1;
	}
	memcpy(l->verb, p, n);
	l->verb[n] = '\0';
	p += n;
	if ((star = strchr(l->verb, '*')) != NULL) {
		*star = '\0';
		l->times = atoi(star + 1);
		if (l->times < 1 || l->times > 1000000) {
			snprintf(err, errlen, "bad repeat count '*%s'", star + 1);
			return -1;
		}
	}
	for (;;) {
		char *eq;
		size_t vl = 0;
		struct kv *kv;

		while (isspace((unsigned char)*p))
			p++;
		if (*p == '\0' || *p == '#')
			break;
		if (l->nkv == MAXKV) {
			snprintf(err, errlen, "too many key=value pairs");
			return -1;
		}
		kv = &l->kv[l->nkv++];
		eq = strchr(p, '=');
		if (eq == NULL || (size_t)(eq - p) >= sizeof kv->key || eq == p) {
			snprintf(err, errlen, "expected key=value near '%.20s'", p);
			return -1;
		}
		memcpy(kv->key, p, (size_t)(eq - p));
		kv->key[eq - p] = '\0';
		p = eq + 1;
		if (*p == '"') {
			p++;
			while (*p != '\0' && *p != '"' && vl + 1 < MAXVAL)
				kv->val[vl++] = *p++;
			if (*p != '"') {
				snprintf(err, errlen, "unterminated quote in %s=", kv->key);
				return -1;
			}
			p++;
		} else {
			while (*p != '\0' && !isspace((unsigned char)*p) && vl + 1 < MAXVAL)
				kv->val[vl++] = *p++;
		}
		kv->val[vl] = '\0';
	}
	return 1;
}

struct tally {
	long sessions, messages, accepted, tempfail, reject, quarantined, errors;
};

static const char *
answer_name(int r, const struct mclient *mc)
{
	switch (r) {
	case 'c': case 0: return "continue";
	case 'a': return "accept";
	case 'r': return "reject";
	case 't': return "tempfail";
	case 'd': return "discard";
	case 'y': return mc->reply[0] == '4' ? "tempfail" : "reject";
	default: return "?";
	}
}

static int
message(struct mclient *mc, const struct line *l, struct tally *t, const char *label,
    const char *auth)
{
	char from[MAXVAL], fromb[MAXVAL + 2], tmp[MAXVAL], subj[MAXVAL], hdr[MAXVAL];
	const char *to = get(l, "to"), *fh = get(l, "fromhdr"), *sj = get(l, "subject");
	const char *rc = get(l, "rcpts");
	const char *argv[1];
	const char *mac[4];
	int r, nr = rc ? atoi(rc) : 0;
	static const char body[] =
	    "Hello,\r\n\r\nthis is a sample message of the botsentry quick start.\r\n\r\nBye\r\n";

	expand(get(l, "from") ? get(l, "from") : "", from, sizeof from);
	snprintf(fromb, sizeof fromb, "<%s>", from);
	/* one macro packet per stage: a second one would replace the first */
	mac[0] = "{mail_addr}";
	mac[1] = from;
	mac[2] = "{auth_authen}";
	mac[3] = auth;
	if (mc_macros(mc, 'M', mac, auth[0] ? 4 : 2) < 0)
		return -1;
	argv[0] = fromb;
	t->messages++;
	r = mc_mail(mc, argv, 1);
	if (r < 0)
		return -1;
	if (r != 'c' && r != 0) {
		if (!quiet)
			printf("  %s: MAIL %s -> %s %s\n", label, from, answer_name(r, mc), mc->reply);
		if (strcmp(answer_name(r, mc), "tempfail") == 0)
			t->tempfail++;
		else
			t->reject++;
		mc->reply[0] = '\0';
		return mc_abort(mc);
	}
	/* recipients: a comma list, or the first template rcpts= times */
	if (to != NULL) {
		char list[MAXVAL];
		char *save = NULL, *one;
		int count = 0;

		do {
			snprintf(list, sizeof list, "%s", to);
			for (one = strtok_r(list, ",", &save); one != NULL;
			    one = strtok_r(NULL, ",", &save)) {
				char rb[MAXVAL + 2];
				expand(one, tmp, sizeof tmp);
				snprintf(rb, sizeof rb, "<%s>", tmp);
				argv[0] = rb;
				if (mc_rcpt(mc, argv, 1) < 0)
					return -1;
				count++;
				if (nr > 0)
					break;     /* only the first template */
			}
		} while (nr > 0 && count < nr);
	}
	if (mc_data(mc) < 0)
		return -1;
	expand(fh ? fh : from, hdr, sizeof hdr);
	expand(sj ? sj : "Hello", subj, sizeof subj);
	if (mc_header(mc, "From", hdr, strlen(hdr)) < 0 ||
	    mc_header(mc, "To", "undisclosed-recipients:;", 24) < 0 ||
	    mc_header(mc, "Subject", subj, strlen(subj)) < 0 ||
	    mc_header(mc, "Date", "Thu, 26 Nov 2026 14:00:00 +0000", 31) < 0 ||
	    mc_header(mc, "MIME-Version", "1.0", 3) < 0 ||
	    mc_eoh(mc) < 0 || mc_body(mc, body, sizeof body - 1) < 0)
		return -1;
	r = mc_eom(mc);
	if (r < 0)
		return -1;
	if (r == 'c' || r == 'a') {
		if (strstr(mc->mods, "q:") != NULL) {
			t->quarantined++;
			if (!quiet)
				printf("  %s: message from %s quarantined\n", label, from);
		} else {
			t->accepted++;
		}
	} else {
		if (!quiet)
			printf("  %s: end of message from %s -> %s %s\n", label, from,
			    answer_name(r, mc), mc->reply);
		if (strcmp(answer_name(r, mc), "tempfail") == 0)
			t->tempfail++;
		else
			t->reject++;
	}
	mc->reply[0] = '\0';
	return mc_abort(mc);
}

/* Open a session as the 'session' directive l describes. */
static int
open_session(struct mclient *mc, const struct line *l, char *auth, size_t authlen,
    char *label, size_t labellen)
{
	char ip[MAXVAL], helo[MAXVAL];
	const char *cmac[8];
	const char *a = get(l, "auth");

	session_no++;
	expand(get(l, "ip"), ip, sizeof ip);
	expand(get(l, "helo") ? get(l, "helo") : "localhost", helo, sizeof helo);
	expand(a ? a : "", auth, authlen);
	snprintf(label, labellen, "%s", get(l, "label") ? get(l, "label") : auth[0] ? auth : ip);
	if (mc_open(mc, sockspec) < 0 || mc_negotiate(mc, 0, 0) < 0)
		return -1;
	cmac[0] = "j"; cmac[1] = "smarthost.isp.example";
	cmac[2] = "{daemon_name}"; cmac[3] = "ORIGINATING";
	cmac[4] = "{client_addr}"; cmac[5] = ip;
	cmac[6] = "{client_name}"; cmac[7] = "unknown";
	if (mc_macros(mc, 'C', cmac, 8) < 0 ||
	    mc_connect(mc, "unknown", strchr(ip, ':') ? '6' : '4', 40000, ip) < 0 ||
	    mc_helo(mc, helo, strlen(helo)) < 0)
		return -1;
	return 0;
}

int
main(int argc, char **argv)
{
	FILE *f;
	char buf[4096], err[256], auth[MAXVAL], label[MAXVAL] = "";
	int c, lineno = 0, in_session = 0, rc = 0, sess_left = 0, sess_line = 0;
	long sess_start = 0;
	struct mclient mc;
	struct line l, sline;
	struct tally total, sess;
	const char *file;

	while ((c = getopt(argc, argv, "qs:")) != -1) {
		switch (c) {
		case 'q': quiet = 1; break;
		case 's': sockspec = optarg; break;
		default:
			fprintf(stderr, "usage: bs-milter-replay -s SOCKET [-q] FILE\n");
			return 64;
		}
	}
	if (sockspec == NULL || optind + 1 != argc) {
		fprintf(stderr, "usage: bs-milter-replay -s SOCKET [-q] FILE\n");
		return 64;
	}
	file = argv[optind];
	if ((f = fopen(file, "r")) == NULL) {
		fprintf(stderr, "bs-milter-replay: %s: %s\n", file, strerror(errno));
		return 64;
	}
	memset(&total, 0, sizeof total);
	memset(&sess, 0, sizeof sess);
	memset(&mc, 0, sizeof mc);
	mc.fd = -1;
	while (rc == 0 && fgets(buf, sizeof buf, f) != NULL) {
		int pr;

		lineno++;
		pr = parse(buf, &l, err, sizeof err);
		if (pr < 0) {
			fprintf(stderr, "%s:%d: %s\n", file, lineno, err);
			rc = 64;
			break;
		}
		if (pr == 0)
			continue;
		if (strcmp(l.verb, "session") == 0) {
			if (in_session) {
				fprintf(stderr, "%s:%d: 'session' inside a session (missing 'end')\n",
				    file, lineno);
				rc = 64;
				break;
			}
			if (get(&l, "ip") == NULL) {
				fprintf(stderr, "%s:%d: session needs ip=\n", file, lineno);
				rc = 64;
				break;
			}
			sline = l;
			sess_left = l.times;
			sess_line = lineno;
			sess_start = ftell(f);
			memset(&sess, 0, sizeof sess);
			if (open_session(&mc, &sline, auth, sizeof auth, label, sizeof label) < 0) {
				fprintf(stderr, "bs-milter-replay: %s\n", mc.err);
				rc = 1;
				break;
			}
			sess.sessions++;
			in_session = 1;
		} else if (strcmp(l.verb, "mail") == 0) {
			int i;

			if (!in_session) {
				fprintf(stderr, "%s:%d: 'mail' outside a session\n", file, lineno);
				rc = 64;
				break;
			}
			for (i = 0; i < l.times && rc == 0; i++) {
				if (message(&mc, &l, &sess, label, auth) < 0)
					rc = 1;
				if (rc)
					fprintf(stderr, "bs-milter-replay: %s:%d: %s\n", file, lineno, mc.err);
			}
		} else if (strcmp(l.verb, "end") == 0) {
			if (!in_session) {
				fprintf(stderr, "%s:%d: 'end' outside a session\n", file, lineno);
				rc = 64;
				break;
			}
			mc_quit(&mc);
			mc_close(&mc);
			in_session = 0;
			if (--sess_left > 0) {     /* session*N: play its lines again */
				fseek(f, sess_start, SEEK_SET);
				lineno = sess_line;
				if (open_session(&mc, &sline, auth, sizeof auth, label, sizeof label) < 0) {
					fprintf(stderr, "bs-milter-replay: %s\n", mc.err);
					rc = 1;
					break;
				}
				sess.sessions++;
				in_session = 1;
				continue;
			}
			printf("%-28s sessions=%ld messages=%ld accepted=%ld tempfail=%ld reject=%ld "
			    "quarantined=%ld\n", label, sess.sessions, sess.messages, sess.accepted,
			    sess.tempfail, sess.reject, sess.quarantined);
			total.sessions += sess.sessions;
			total.messages += sess.messages;
			total.accepted += sess.accepted;
			total.tempfail += sess.tempfail;
			total.reject += sess.reject;
			total.quarantined += sess.quarantined;
		} else {
			fprintf(stderr, "%s:%d: unknown directive '%s' (session, mail, end)\n",
			    file, lineno, l.verb);
			rc = 64;
		}
	}
	if (in_session) {
		mc_close(&mc);
		if (rc == 0) {
			fprintf(stderr, "%s:%d: missing 'end'\n", file, lineno);
			rc = 64;
		}
	}
	fclose(f);
	if (rc == 0)
		printf("total: sessions=%ld messages=%ld accepted=%ld tempfail=%ld reject=%ld "
		    "quarantined=%ld\n", total.sessions, total.messages, total.accepted,
		    total.tempfail, total.reject, total.quarantined);
	return rc;
}
