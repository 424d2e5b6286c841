/*
 * detect_auth.h - the MTA log detectors: auth_bruteforce, credential_abuse
 * and bounce_ratio, as plain functions over observations.
 *
 * Pure: no log lines, no files, no clock.  botsentry-logwatch parses lines
 * (logparse.h), attributes them (login -> subscriber, address -> lease at
 * the line's time) and feeds the observations below; the unit tests and the
 * benchmark call the same functions.  Time is the observation's (the log
 * line's), so a replayed log counts as it did when it was written.
 *
 * auth_bruteforce  per source (an IPv4 address, or an IPv6 prefix: the
 *                  caller's key): failed logins in the window, and distinct
 *                  login names tried.  When either reaches its threshold, one
 *                  event.  Subscriber: whoever held the source address at
 *                  that time (their machine is the bot); "" when none.
 * credential_abuse per login: (a) failures from distinct addresses in the
 *                  window, then a success: the guesser got in; (b) successes
 *                  from many distinct addresses, or many distinct networks
 *                  (/24, /48), in the window: the password is shared with a
 *                  botnet.  Subscriber: the owner of the login.
 * bounce_ratio     per subscriber: queue ids are tied to their origin (the
 *                  smtpd client= line with the SASL login, or the client
 *                  address through its lease), each recipient's final fate
 *                  (sent, or refused: bounced / 5.x.x) is counted; when at
 *                  least min_rcpts fates in the window are mostly refused,
 *                  one event.  Deferrals (4.x.x) are not final and not
 *                  counted.  The queue-id table is bounded (oldest evicted)
 *                  and entries expire.
 *
 * Each detector fires once when a key crosses its threshold; while the key
 * stays above it, again at most once per window.  Evidence is JSON with the
 * counts, the window and a few samples (login names, addresses, recipient
 * domains, DSN codes); never passwords (logs do not carry them) nor
 * recipient addresses.
 *
 * Not thread-safe: one thread (or a caller's lock) per detector.
 */
#ifndef BS_DETECT_AUTH_H
#define BS_DETECT_AUTH_H

#include <stddef.h>
#include <stdint.h>
#include "event.h"

struct da_settings {
	/* auth_bruteforce */
	int64_t bf_window_ms;
	long bf_failures;          /* failures from one source in the window */
	long bf_logins;            /* distinct login names from one source */
	double bf_score;
	/* credential_abuse */
	int64_t ca_window_ms;
	long ca_fail_addrs;        /* failures from this many addresses, then a success */
	long ca_ok_addrs;          /* successes from this many distinct addresses */
	long ca_ok_nets;           /* ... or from this many distinct networks */
	int ca_v4_net_len;         /* network size for ca_ok_nets: /24 */
	int ca_v6_net_len;         /* /48 */
	double ca_score;
	/* bounce_ratio */
	int64_t br_window_ms;
	long br_min_rcpts;         /* fates needed before the ratio means anything */
	double br_ratio;           /* refused / fates at or above this fires */
	double br_score;
	size_t br_max_queue;       /* queue ids tracked at once */
	int64_t br_queue_ttl_ms;   /* a queue id untouched this long is forgotten */
	/* all */
	size_t max_keys;           /* per table (sources, logins, subscribers) */
	int64_t idle_ms;           /* keys untouched this long expire */
};

/* The defaults documented in botsentry.conf(5). */
void da_settings_default(struct da_settings *s);

/* One login attempt (failed or successful) as the MTA logged it. */
struct da_auth_obs {
	int64_t ts_ms;
	int ok;                    /* 1 success, 0 failure */
	const char *client_ip;     /* text; may be NULL when the MTA did not say */
	const char *source_key;    /* counting key for the source (address or v6 prefix); NULL: client_ip */
	const char *ip_subscriber; /* who held client_ip at ts_ms (lease), or NULL */
	const char *login;         /* as logged; NULL or "" when unknown */
	const char *login_subscriber; /* the subscriber owning login, or NULL */
	const char *mech;          /* PLAIN, LOGIN, ... (may be NULL) */
};

/* A queue id's origin (Postfix smtpd client= line, Sendmail from= line). */
struct da_origin {
	int64_t ts_ms;
	const char *qid;
	const char *subscriber;    /* login's subscriber, else the lease's; NULL/"" unattributed */
	const char *client_ip;
	const char *login;         /* may be NULL */
};

/* One recipient's fate (Postfix smtp/lmtp/... to= line, Sendmail to= line). */
enum da_fate { DA_SENT = 1, DA_REFUSED, DA_DEFERRED };
struct da_delivery {
	int64_t ts_ms;
	const char *qid;
	int fate;                  /* enum da_fate */
	const char *dsn;           /* "5.1.1" (may be NULL) */
	const char *rcpt_domain;   /* may be NULL */
};

/* Receives each event; the callee owns ev's evidence (event_clear) and may
 * copy the struct.  Source, kind, score, subscriber, client_ip and time are
 * set; node is not. */
typedef void (*da_event_fn)(void *ud, struct event *ev);

struct da_stats {
	uint64_t auth_fail, auth_ok;
	uint64_t origins, deliveries, deliveries_unknown_qid, removed;
	uint64_t queue_tracked;          /* now */
	uint64_t queue_evicted, queue_expired;
	uint64_t ev_bruteforce, ev_credential, ev_bounce;
	uint64_t note_evictions;         /* sample/firing state dropped for lack of room */
};

struct da;

/* NULL when the settings are unusable (zero windows, no room). */
struct da *da_new(const struct da_settings *s, da_event_fn fn, void *ud);
void da_free(struct da *d);            /* NULL is fine */
/* Thresholds, windows and scores from a reload; counts are kept. */
void da_set_settings(struct da *d, const struct da_settings *s);

void da_auth(struct da *d, const struct da_auth_obs *o);
void da_origin(struct da *d, const struct da_origin *o);
void da_delivery(struct da *d, const struct da_delivery *o);
void da_removed(struct da *d, const char *qid);
/* Forget expired queue ids and keys as of now_ms (traffic time). */
void da_expire(struct da *d, int64_t now_ms);
void da_get_stats(const struct da *d, struct da_stats *out);

/* The network of an address for ca_ok_nets ("192.0.2.0/24"); buf >= 64.
 * Returns buf, or NULL if ip is not an address. */
char *da_net_of(const char *ip, int v4_len, int v6_len, char *buf, size_t size);

#endif
