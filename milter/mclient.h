/*
 * mclient.h - the MTA's side of the milter protocol (version 6), small and
 * blocking: what Postfix or Sendmail send to a filter.
 *
 * Used by the project's own tools that talk to a milter without an MTA:
 * the traffic replayer (bs-milter-replay, the quick start), the load
 * generator (bench/milter-load) and the bad-input test.  It does not link
 * libmilter and knows nothing of botsentry.
 *
 * Every command returns the filter's final answer as the protocol letter
 * ('c' continue, 'a' accept, 'r' reject, 't' tempfail, 'y' reply code in
 * mc->reply, 'd' discard, 's' skip), 0 when no answer is due (the filter
 * negotiated no reply for that stage, or asked not to get the stage at
 * all), or -1 on an I/O or protocol error (text in mc->err).  Modification
 * requests at end of message (add header, quarantine, ...) are collected in
 * mc->mods.
 */
#ifndef BS_MCLIENT_H
#define BS_MCLIENT_H

#include <stddef.h>
#include <stdint.h>

struct mclient {
	int fd;
	uint32_t actions;        /* what the filter asked to be allowed to do */
	uint32_t pflags;         /* the filter's protocol flags (NO*, NR_*, SKIP) */
	uint32_t version;
	int timeout_ms;          /* per read; 0: 30 s */
	char reply[1024];        /* text of the last 'y' answer */
	char err[256];
	/* end-of-message modifications, as "h:Name: value", "q:reason", ... */
	char mods[2048];
	size_t nmods;
	uint64_t bytes_out, bytes_in;
};

/* Connect to "unix:PATH", "local:PATH", "inet:PORT@HOST" or a bare path.
 * 0, or -1 with mc->err. */
int mc_open(struct mclient *mc, const char *spec);
void mc_close(struct mclient *mc);

/* Offer protocol version 6, the given actions and protocol flags (what
 * Postfix 3.7 offers when both are 0). */
int mc_negotiate(struct mclient *mc, uint32_t actions, uint32_t pflags);

/* Define macros for a command ('C', 'H', 'M', 'R', 'T', 'L', 'N', 'E'):
 * kv is name, value, name, value ...; no answer. */
int mc_macros(struct mclient *mc, char cmd, const char *const *kv, size_t nkv);

/* family '4', '6', 'L' (unix) or 'U' (unknown). */
int mc_connect(struct mclient *mc, const char *hostname, char family, uint16_t port,
    const char *addr);
/* helo of len bytes (may hold NUL: sent as is, then a terminating NUL). */
int mc_helo(struct mclient *mc, const char *helo, size_t len);
/* argv[0] is the address with <>, then ESMTP parameters. */
int mc_mail(struct mclient *mc, const char *const *argv, size_t argc);
int mc_rcpt(struct mclient *mc, const char *const *argv, size_t argc);
int mc_data(struct mclient *mc);
int mc_header(struct mclient *mc, const char *name, const char *value, size_t vlen);
int mc_eoh(struct mclient *mc);
int mc_body(struct mclient *mc, const void *chunk, size_t len);
int mc_eom(struct mclient *mc);
int mc_abort(struct mclient *mc);    /* no answer */
int mc_quit(struct mclient *mc);     /* no answer; waits for the filter to close, closes nothing */

/* Send a raw packet (bad-input tests); no answer is read. */
int mc_send_raw(struct mclient *mc, char cmd, const void *data, size_t len);
/* Read one answer packet: returns its letter, data copied to buf. */
int mc_read_reply(struct mclient *mc, char *buf, size_t size, size_t *len);

#endif
