/*
 * null-milter.c - the benchmark's baseline: a libmilter filter that does
 * nothing.
 *
 * SYNOPSIS
 *	null-milter -p SOCKET [-s] [-b]
 *
 * DESCRIPTION
 *	Without -s it registers every callback and answers every step with
 *	SMFIS_CONTINUE: the cost of the milter protocol's round trips alone.
 *	With -s it negotiates the same protocol options as botsentry-milter
 *	on a unix socket (milter/pflags.h: no reply at connect, HELO, RCPT,
 *	DATA, headers and end of headers; no unknown commands) and skips the
 *	body at its first chunk, as botsentry does for a message without a
 *	DKIM-Signature (-b: ask for no body at all, as botsentry does with
 *	DKIM off).  It stops on SIGTERM, like any libmilter filter.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <libmilter/mfapi.h>

#include "../milter/pflags.h"

static int same_opts;
static int no_body;

#define NR(x) (same_opts ? SMFIS_NOREPLY : (x))

static sfsistat
nm_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1, unsigned long f2,
    unsigned long f3, unsigned long *pf0, unsigned long *pf1, unsigned long *pf2,
    unsigned long *pf3)
{
	(void)ctx; (void)f2; (void)f3;
	*pf0 = f0 & SMFIF_ADDHDRS;
	*pf1 = same_opts ? bsm_pflags(f1, !no_body, 1) : 0;
	*pf2 = 0;
	*pf3 = 0;
	return SMFIS_CONTINUE;
}

static sfsistat
nm_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *sa)
{
	(void)ctx; (void)host; (void)sa;
	return NR(SMFIS_CONTINUE);
}

static sfsistat
nm_helo(SMFICTX *ctx, char *helo)
{
	(void)ctx; (void)helo;
	return NR(SMFIS_CONTINUE);
}

static sfsistat
nm_envfrom(SMFICTX *ctx, char **argv)
{
	(void)ctx; (void)argv;
	return SMFIS_CONTINUE;
}

static sfsistat
nm_envrcpt(SMFICTX *ctx, char **argv)
{
	(void)ctx; (void)argv;
	return NR(SMFIS_CONTINUE);
}

static sfsistat
nm_data(SMFICTX *ctx)
{
	(void)ctx;
	return NR(SMFIS_CONTINUE);
}

static sfsistat
nm_header(SMFICTX *ctx, char *name, char *value)
{
	(void)ctx; (void)name; (void)value;
	return NR(SMFIS_CONTINUE);
}

static sfsistat
nm_eoh(SMFICTX *ctx)
{
	(void)ctx;
	return NR(SMFIS_CONTINUE);
}

static sfsistat
nm_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
	(void)ctx; (void)chunk; (void)len;
	return same_opts ? SMFIS_SKIP : SMFIS_CONTINUE;
}

static sfsistat
nm_eom(SMFICTX *ctx)
{
	(void)ctx;
	return SMFIS_CONTINUE;
}

static sfsistat
nm_abort(SMFICTX *ctx)
{
	(void)ctx;
	return SMFIS_CONTINUE;
}

static sfsistat
nm_close(SMFICTX *ctx)
{
	(void)ctx;
	return SMFIS_CONTINUE;
}

static sfsistat
nm_unknown(SMFICTX *ctx, const char *cmd)
{
	(void)ctx; (void)cmd;
	return SMFIS_CONTINUE;
}

int
main(int argc, char **argv)
{
	struct smfiDesc desc;
	const char *sock = NULL;
	int c;

	while ((c = getopt(argc, argv, "bp:s")) != -1) {
		switch (c) {
		case 'b': no_body = 1; break;
		case 'p': sock = optarg; break;
		case 's': same_opts = 1; break;
		default:
			fprintf(stderr, "usage: null-milter -p SOCKET [-s] [-b]\n");
			return 64;
		}
	}
	if (sock == NULL) {
		fprintf(stderr, "usage: null-milter -p SOCKET [-s] [-b]\n");
		return 64;
	}
	memset(&desc, 0, sizeof desc);
	desc.xxfi_name = "null-milter";
	desc.xxfi_version = SMFI_VERSION;
	desc.xxfi_flags = SMFIF_ADDHDRS;
	desc.xxfi_connect = nm_connect;
	desc.xxfi_helo = nm_helo;
	desc.xxfi_envfrom = nm_envfrom;
	desc.xxfi_envrcpt = nm_envrcpt;
	desc.xxfi_header = nm_header;
	desc.xxfi_eoh = nm_eoh;
	desc.xxfi_body = nm_body;
	desc.xxfi_eom = nm_eom;
	desc.xxfi_abort = nm_abort;
	desc.xxfi_close = nm_close;
	desc.xxfi_unknown = nm_unknown;
	desc.xxfi_data = nm_data;
	desc.xxfi_negotiate = nm_negotiate;
	if (smfi_setconn((char *)sock) == MI_FAILURE || smfi_register(desc) == MI_FAILURE ||
	    smfi_opensocket(true) == MI_FAILURE) {
		fprintf(stderr, "null-milter: cannot set up %s\n", sock);
		return 71;
	}
	if (strncmp(sock, "unix:", 5) == 0)
		chmod(sock + 5, 0666);
	smfi_setbacklog(256);
	return smfi_main() == MI_SUCCESS ? 0 : 70;
}
