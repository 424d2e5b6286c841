/*
 * milter-badclient.c - hostile input for botsentry-milter through the
 * milter protocol (used by t/milter-badinput.sh).
 *
 *	milter-badclient SOCKET
 *
 * Plays sessions an MTA would pass on from a hostile SMTP client, and a few
 * an MTA would never send (oversized or malformed packets), each on its own
 * connection.  After every case a normal session must still be answered,
 * i.e. the filter survived.  Prints TAP lines ("ok N - ..."); exits 1 if
 * any case failed.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "../milter/mclient.h"

static const char *sock;
static int n, failed;
static int no_abort;      /* end a transaction at end of message, without ABORT */

static void
report(int good, const char *what, const char *detail)
{
	n++;
	printf("%sok %d - %s%s%s\n", good ? "" : "not ", n, what, detail ? ": " : "",
	    detail ? detail : "");
	if (!good)
		failed++;
	fflush(stdout);
}

static int
begin(struct mclient *mc, const char *helo, size_t helolen)
{
	const char *cmac[] = { "j", "smarthost.test", "{client_addr}", "100.64.66.6" };

	if (mc_open(mc, sock) < 0 || mc_negotiate(mc, 0, 0) < 0)
		return -1;
	mc->timeout_ms = 10000;
	if (mc_macros(mc, 'C', cmac, 4) < 0 ||
	    mc_connect(mc, "unknown", '4', 40000, "100.64.66.6") < 0)
		return -1;
	return mc_helo(mc, helo, helolen) < 0 ? -1 : 0;
}

/* MAIL .. EOM with the given sender, recipients and one extra header. */
static int
transaction(struct mclient *mc, const char *from, const char *const *rcpts, size_t nrcpt,
    const char *hname, const char *hval, size_t hlen, const char *auth)
{
	const char *mmac[] = { "{auth_authen}", auth ? auth : "", "i", "BADQ1" };
	const char *argv[1];
	size_t i;
	int r;

	if (mc_macros(mc, 'M', mmac, auth ? 4 : 2) < 0)
		return -1;
	argv[0] = from;
	if ((r = mc_mail(mc, argv, 1)) < 0)
		return -1;
	if (r != 'c' && r != 0)
		return r;
	for (i = 0; i < nrcpt; i++) {
		argv[0] = rcpts[i];
		if (mc_rcpt(mc, argv, 1) < 0)
			return -1;
	}
	if (mc_data(mc) < 0 || mc_header(mc, "From", from, strlen(from)) < 0)
		return -1;
	if (hname != NULL && mc_header(mc, hname, hval, hlen) < 0)
		return -1;
	if (mc_eoh(mc) < 0 || mc_body(mc, "hello\r\n", 7) < 0)
		return -1;
	r = mc_eom(mc);
	if (r >= 0 && !no_abort)
		mc_abort(mc);
	return r;
}

/* A normal session: the filter must still answer. */
static void
alive(const char *after)
{
	struct mclient mc;
	const char *rc[] = { "<friend@example.org>" };
	char what[200];
	int r = -1;

	if (begin(&mc, "alice-laptop", 12) == 0)
		r = transaction(&mc, "<alice@isp.example>", rc, 1, NULL, NULL, 0, "alice");
	snprintf(what, sizeof what, "the filter still answers after %s", after);
	report(r == 'c', what, r < 0 ? mc.err : NULL);
	mc_quit(&mc);
	mc_close(&mc);
}

int
main(int argc, char **argv)
{
	struct mclient mc;
	char *big;
	int r;
	size_t i;

	if (argc != 2) {
		fprintf(stderr, "usage: milter-badclient SOCKET\n");
		return 64;
	}
	sock = argv[1];
	alive("start-up");

	/* 1. an empty HELO */
	r = begin(&mc, "", 0) == 0 ? transaction(&mc, "<a@isp.example>",
	    (const char *[]){ "<b@example.org>" }, 1, NULL, NULL, 0, "mallory") : -1;
	report(r == 'c', "empty HELO is accepted and classified", r < 0 ? mc.err : NULL);
	mc_close(&mc);

	/* 2. a 10 kB HELO */
	big = malloc(1024 * 1024 + 1);
	memset(big, 'h', 10 * 1024);
	r = begin(&mc, big, 10 * 1024) == 0 ? transaction(&mc, "<a@isp.example>",
	    (const char *[]){ "<b@example.org>" }, 1, NULL, NULL, 0, "mallory") : -1;
	report(r == 'c', "10 kB HELO", r < 0 ? mc.err : NULL);
	mc_close(&mc);

	/* 3. NUL and CRLF inside HELO and MAIL/RCPT arguments */
	r = begin(&mc, "evil\0host\r\nMAIL FROM:<x@y>", 26) == 0 ? transaction(&mc,
	    "<a\r\nRCPT TO:<z@evil.example>\r\n@isp.example>",
	    (const char *[]){ "<b@exa\r\nmple.org>", "<\x1b[31mred@example.org>", "<>", "nodomain",
	        "<@route,@route2:c@example.net>" }, 5, "X-Evil\r\nInjected", "v\r\nX-Forged: yes",
	    16, "mal\r\nlory") : -1;
	report(r == 'c', "NUL, CRLF and escapes in HELO, MAIL, RCPT, header and login",
	    r < 0 ? mc.err : NULL);
	mc_close(&mc);
	alive("control bytes");

	/* 4. thousands of recipients in one message, most in distinct domains */
	{
		size_t nr = 5000;
		char **rc = malloc(nr * sizeof *rc);
		for (i = 0; i < nr; i++) {
			rc[i] = malloc(64);
			snprintf(rc[i], 64, "<user%zu@d%zu.example>", i, i % 3000);
		}
		r = begin(&mc, "bulk.example", 12) == 0 ? transaction(&mc, "<a@isp.example>",
		    (const char *const *)rc, nr, NULL, NULL, 0, "mallory") : -1;
		report(r == 'c' || r == 't', "5000 recipients in one message", r < 0 ? mc.err : NULL);
		mc_close(&mc);
		for (i = 0; i < nr; i++)
			free(rc[i]);
		free(rc);
	}

	/* 5. a 60 kB header (under libmilter's 64 kB packet limit) */
	memset(big, 'A', 1024 * 1024);
	r = begin(&mc, "bighdr.example", 14) == 0 ? transaction(&mc, "<a@isp.example>",
	    (const char *[]){ "<b@example.org>" }, 1, "X-Big", big, 60 * 1024, "mallory") : -1;
	report(r == 'c', "60 kB header", r < 0 ? mc.err : NULL);
	mc_close(&mc);

	/* 6. a 1 MB header: more than libmilter takes in one packet (64 kB
	 * without MDS negotiation), so libmilter drops the connection; what
	 * matters is that the filter survives */
	r = begin(&mc, "hugehdr.example", 15) == 0 ? transaction(&mc, "<a@isp.example>",
	    (const char *[]){ "<b@example.org>" }, 1, "X-Huge", big, 1024 * 1024, "mallory") : -1;
	report(1, "1 MB header sent", r < 0 ? mc.err : "answered");
	mc_close(&mc);
	alive("a 1 MB header");

	/* 7. packets no MTA sends: unknown command, truncated connect, lying
	 * length, stage out of order */
	if (mc_open(&mc, sock) == 0 && mc_negotiate(&mc, 0, 0) > 0) {
		mc_send_raw(&mc, 'Z', "junk", 4);
		mc_close(&mc);
	}
	if (mc_open(&mc, sock) == 0 && mc_negotiate(&mc, 0, 0) > 0) {
		mc_send_raw(&mc, 'C', "host\0004\x9c", 8);      /* no address */
		mc_close(&mc);
	}
	if (mc_open(&mc, sock) == 0 && mc_negotiate(&mc, 0, 0) > 0) {
		uint32_t len = htonl(0x7ffffff0u);
		if (write(mc.fd, &len, 4) != 4)
			perror("write");
		mc_close(&mc);
	}
	if (mc_open(&mc, sock) == 0 && mc_negotiate(&mc, 0, 0) > 0) {
		/* end of message without MAIL, then a body chunk */
		mc.timeout_ms = 3000;
		mc_send_raw(&mc, 'E', NULL, 0);
		(void)mc_read_reply(&mc, big, 64, NULL);
		mc_send_raw(&mc, 'B', "x", 1);
		mc_close(&mc);
	}
	if (mc_open(&mc, sock) == 0) {    /* no negotiation at all */
		mc_send_raw(&mc, 'H', "x", 2);
		mc_close(&mc);
	}
	if (mc_open(&mc, sock) == 0)      /* connect and hang up */
		mc_close(&mc);
	report(1, "malformed packets sent", NULL);
	alive("malformed packets");

	/* 8. a DKIM-Signature of a third party: the body must be read (no
	 * skip), the signature cannot verify (no key), a forgery event */
	r = begin(&mc, "dkim.example", 12) == 0 ? transaction(&mc, "<a@isp.example>",
	    (const char *[]){ "<b@example.org>" }, 1, "DKIM-Signature",
	    "v=1; a=rsa-sha256; c=relaxed/relaxed; d=paypal.example; s=sel1;\r\n\th=from:subject; "
	    "bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=dGVzdA==", 141, "mallory") : -1;
	report(r == 'c', "a message with a third-party DKIM-Signature", r < 0 ? mc.err : NULL);
	mc_close(&mc);
	alive("a DKIM-signed message");

	/* 9. Sendmail's QUIT_NC: a new SMTP session on the same milter
	 * connection, without a new negotiation */
	no_abort = 1;     /* QUIT_NC is valid right after end of message */
	r = begin(&mc, "first.example", 13) == 0 ? transaction(&mc, "<a@isp.example>",
	    (const char *[]){ "<b@example.org>" }, 1, NULL, NULL, 0, "alice") : -1;
	no_abort = 0;
	if (r == 'c' && mc_send_raw(&mc, 'K', NULL, 0) == 0 &&
	    mc_connect(&mc, "unknown", '4', 40001, "100.64.66.7") >= 0 &&
	    mc_helo(&mc, "second.example", 14) >= 0)
		r = transaction(&mc, "<a@isp.example>", (const char *[]){ "<c@example.org>" }, 1,
		    NULL, NULL, 0, "bob");
	else
		r = -1;
	report(r == 'c', "QUIT_NC and a second session on one milter connection",
	    r < 0 ? mc.err : NULL);
	mc_close(&mc);

	/* 10. a session that never authenticates, many messages, then a
	 * connection-only session */
	if (begin(&mc, "[10.9.8.7]", 10) == 0) {
		for (i = 0; i < 30; i++)
			if ((r = transaction(&mc, "<>", (const char *[]){ "<b@example.org>" }, 1, NULL, NULL,
			    0, NULL)) < 0)
				break;
		report(r >= 0, "30 unauthenticated messages with a null sender", r < 0 ? mc.err : NULL);
		mc_close(&mc);
	}
	alive("everything");
	free(big);
	printf("1..%d\n", n);
	return failed ? 1 : 0;
}
