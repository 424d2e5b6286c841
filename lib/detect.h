/*
 * detect.h - the milter's detectors as plain functions over observations.
 *
 * No libmilter types here: the milter (milter/), the unit tests and the
 * replay decode their input into these observations and call the same
 * functions.  Each detector appends zero or more scored events (event.h)
 * with readable evidence to a det_out; the caller stamps subscriber, client
 * IP and node (det_subject) and submits them to the writer.
 *
 * Contract between the detector helper (lib/detect*.c, lib/helo.c,
 * lib/spf.c, lib/dkim.c) and the milter helper (milter/): the detector
 * helper owns and may extend this header; keep additions backwards
 * compatible while the milter is being written against it.
 *
 * How the milter uses it (one process):
 *   startup:  dc = detect_config_load(conf)      per config snapshot
 *             fire = det_fire_new(0)             process lifetime
 *             spf = spf_checker_new(...)         process lifetime (spf.h)
 *             dk = dkim_checker_new(...)         process lifetime (dkim.h)
 *             detect_ctr_spec(dc, &spec); ctr = ctr_new(&spec)
 *   mail:     detect_rate_check() (peek) to throttle a subscriber already over
 *   eom:      one ctr_update_n(messages=1, recipients=n, distinct rcpt
 *             domains and sender, plus what the session has not counted
 *             yet: CONNECTIONS=1 the first time, dh[DET_D_HELOS] =
 *             detect_hash_item(helo) after a new HELO); then detect_helo
 *             (when the HELO was new), detect_rate, detect_fanout,
 *             detect_sender, detect_dkim; submit out.ev[0..n), det_out_clear
 *   close:    a session that ended with something uncounted (no accepted
 *             message) counts it in one ctr_update and runs detect_helo
 * Every detector is thread-safe given distinct det_out; det_fire locks itself.
 */
#ifndef BS_DETECT_H
#define BS_DETECT_H

#include <stddef.h>
#include <stdint.h>
#include "conf.h"
#include "counters.h"
#include "event.h"
#include "helo.h"

struct spf_checker;          /* spf.h */
struct dkim_check_result;    /* dkim.h */

/* Who and when, stamped on every event a detector raises. */
struct det_subject {
	const char *subscriber;   /* "" when unattributed (then key on client_ip) */
	const char *client_ip;
	const char *node;
	int64_t now_ms;
};

/* Events raised by one call; the caller owns them (det_out_clear). */
struct det_out {
	struct event *ev;
	size_t n, cap;
};
void det_out_init(struct det_out *o);
/* Append an event; returns it for the caller to fill evidence. */
struct event *det_out_push(struct det_out *o, const struct det_subject *s,
    const char *kind, double score);
void det_out_clear(struct det_out *o);

/* ------------------------------------------------------------ counter layout */

/*
 * The per-subscriber counters the detectors read.  The milter keys the
 * counter table by subscriber id (or "ip:ADDR" when unattributed) and uses
 * exactly this layout (detect_ctr_spec gives the ctr_spec).
 */
enum det_count {
	DET_C_CONNECTIONS = 0,   /* +1 per SMTP connection */
	DET_C_MESSAGES = 1,      /* +1 per message accepted at end of message */
	DET_C_RECIPIENTS = 2,    /* + accepted recipients of that message */
	DET_N_COUNTS = 3
};
enum det_distinct {
	DET_D_RCPT_DOMAINS = 0,  /* detect_hash_item(recipient domain), per rcpt */
	DET_D_SENDERS = 1,       /* detect_hash_item(envelope sender address) */
	DET_D_HELOS = 2,         /* detect_hash_item(HELO argument) */
	DET_N_DISTINCT = 3
};
enum det_window {
	DET_W_1M = 0,            /* 60 s */
	DET_W_10M = 1,           /* 600 s */
	DET_W_1H = 2,            /* 3600 s */
	DET_N_WINDOWS = 3
};
/* "1m", "10m", "1h" (evidence labels). */
const char *det_window_name(int w);
int64_t det_window_secs(int w);

/* Fill the counter spec the detectors expect (windows, max keys, idle). */
struct detect_config;
void detect_ctr_spec(const struct detect_config *dc, struct ctr_spec *out);
/* Hash of a distinct item, lower-cased first (ASCII); never 0.  len may be
 * (size_t)-1 for a NUL-terminated string. */
uint64_t detect_hash_item(const char *s, size_t len);

/* ------------------------------------------------------------ configuration */

enum det_action {            /* what a rule does when it fires and enforcing */
	DET_ACT_MONITOR = 0,     /* record only (and count "would have") */
	DET_ACT_THROTTLE,        /* 4xx */
	DET_ACT_QUARANTINE,      /* hold */
	DET_ACT_REJECT           /* 5xx */
};
const char *det_action_name(enum det_action a);
/* -1 if unknown */
int det_action_from_name(const char *name);

enum det_on_error { DET_ONERR_ACCEPT = 0, DET_ONERR_TEMPFAIL, DET_ONERR_REJECT };

/* A string list owned by the config. */
struct det_strlist {
	char **v;
	size_t n;
};
/* Does the list hold s (case-insensitive)? */
int det_strlist_has(const struct det_strlist *l, const char *s);
/* Is domain equal to, or a subdomain of, an entry of l (case-insensitive)? */
int det_domain_in(const struct det_strlist *l, const char *domain);

/* Limits per window; 0 = no limit for that window. */
struct det_limits {
	long v[DET_N_WINDOWS];
};

/* milter|subscriber "NAME" { ... }: per-subscriber overrides. */
struct det_subscriber {
	char *name;
	int bulk;                    /* known bulk sender: never rate/fanout, never throttled */
	struct det_strlist domains;  /* sender domains this subscriber may use */
	int has_messages, has_recipients, has_domains;  /* which limits override */
	struct det_limits max_messages, max_recipients, max_domains;
};

struct detect_config {
	/* shared */
	struct det_strlist hostnames;     /* the smarthost's own names */
	struct det_strlist own_domains;   /* the ISP's domains: allowed senders for all */
	struct det_strlist outbound;      /* smarthost egress addresses (SPF checks) */
	int64_t refire_s;                 /* min gap between repeated identical events */
	int64_t refire_oneoff_s;          /* the same for one-off anomalies */
	size_t max_subscribers;           /* counter table cap */
	struct det_subscriber *subs;      /* overrides, sorted by name */
	size_t nsubs;
	struct det_strlist bulk;          /* allowlisted subscriber names (bulk senders) */

	struct {
		int enabled;
		double score;                 /* per firing */
		enum det_action action;
		struct det_limits max_messages, max_recipients;
	} rate;
	struct {
		int enabled;
		double score;
		enum det_action action;
		struct det_limits max_domains;
	} fanout;
	struct {
		int enabled;
		enum det_action action;
		struct det_strlist providers;  /* well-known provider domains */
		double score[HELO_N_CLASSES];  /* by enum helo_class (helo.h) */
		double score_churn;
		struct det_limits max_helos;
	} helo;
	struct {
		int enabled;
		enum det_action action;
		int spf;                       /* check SPF for outbound addresses */
		int allow_spf_pass;            /* a domain whose SPF passes is allowed */
		int check_from_header;
		int64_t spf_cache_ttl_s;       /* for spf_checker_new */
		double score_fail, score_softfail, score_neutral, score_none, score_error;
		double score_unchecked;        /* foreign domain, SPF off or no outbound */
		double score_churn;
		struct det_limits max_senders;
	} sender;
	struct {
		int enabled;
		enum det_action action;
		double score_replay, score_forgery;
		char *key_file;                /* DKIM_QUERY_FILE (tests); "" = DNS */
		long timeout_s;
		long min_key_bits;
		long max_header_bytes;
	} dkim;
};

/*
 * Read the 'milter' section into a new detect_config.  Returns NULL with a
 * message in err when a value makes no sense (conf_load already checked
 * types and bounds, so this should not happen with a loaded conf).  Caller
 * frees with detect_config_free.  c NULL: the built-in defaults.
 */
struct detect_config *detect_config_load(const struct conf *c, char *err, size_t errlen);
void detect_config_free(struct detect_config *dc);   /* NULL is fine */

/* The override section for a subscriber, or NULL (borrowed). */
const struct det_subscriber *detect_subscriber(const struct detect_config *dc,
    const char *subscriber);
/* Allowlisted bulk sender (milter|bulk_senders or subscriber "x" { bulk = true })? */
int detect_is_bulk(const struct detect_config *dc, const char *subscriber);
/* May this subscriber use this sender domain without SPF? (own domains,
 * subscriber domains; subdomains included) */
int detect_domain_allowed(const struct detect_config *dc, const char *subscriber,
    const char *domain);
/* The effective limits for a subscriber (its overrides or the defaults). */
void detect_limits(const struct detect_config *dc, const char *subscriber,
    struct det_limits *messages, struct det_limits *recipients, struct det_limits *domains);

/* ------------------------------------------------------------ firing discipline */

/*
 * Memory of what was raised, so that an event is not raised on every message
 * once a subscriber is over a limit.  Rule: for a (subscriber, kind, detail)
 * key, an event fires when the value first crosses the limit; while the
 * value stays over the limit it fires again only when the value has at least
 * doubled since the last firing, or refire_s has passed since it.  A key
 * whose value falls back under the limit is re-armed.  For one-off anomalies
 * (a HELO class, a forged domain, a replayed DKIM domain) the value is 1 and
 * the key fires at most once per refire_oneoff_s (milter|refire_oneoff, a
 * day by default: a subscriber who keeps one odd HELO or one foreign sender
 * domain is one fact, not a growing score; bots that rotate make many keys).  Bounded: the oldest entries are
 * dropped when full (then an event may fire again early, which is harmless).
 * Thread-safe (one mutex).
 */
struct det_fire;
struct det_fire *det_fire_new(size_t max_entries);   /* 0: 65536 */
void det_fire_free(struct det_fire *f);               /* NULL is fine */
/* Returns 1 if an event should be raised now (and records it), else 0. */
int det_fire_check(struct det_fire *f, const char *subscriber, const char *kind,
    const char *detail, double value, double limit, int64_t now_ms, int64_t refire_ms);
/* Would det_fire_check stay quiet for a one-off key (value 1) now?  1 if
 * it fired less than refire_ms ago; does not record anything.  Lets a
 * detector skip expensive work (SPF lookups) for a key it will not raise. */
int det_fire_quiet(struct det_fire *f, const char *subscriber, const char *kind,
    const char *detail, int64_t now_ms, int64_t refire_ms);
/* Forget a key (value went back under its limit); detectors call it. */
void det_fire_rearm(struct det_fire *f, const char *subscriber, const char *kind,
    const char *detail);
size_t det_fire_size(struct det_fire *f);

/*
 * Recent samples per subscriber (HELO names, envelope senders) for the
 * evidence of churn events.  Bounded (oldest subscribers dropped), locked.
 */
#define DET_SAMPLE_N 5
#define DET_SAMPLE_LEN 80
enum det_sample_kind { DET_S_HELO = 0, DET_S_SENDER = 1 };
/* Part of det_fire (same lock, same bound); the detectors record samples
 * themselves; the milter need not call these. */
void det_sample_note(struct det_fire *f, const char *subscriber, enum det_sample_kind k,
    const char *s, size_t len);
/* Add the samples as a JSON array of strings under key (json_t *obj). */
void det_sample_add_json(struct det_fire *f, const char *subscriber, enum det_sample_kind k,
    json_t *obj, const char *key);

/* ------------------------------------------------------------ helpers */

/*
 * A hostile string as a JSON string value: control bytes and bytes that are
 * not valid UTF-8 become the text \xNN, cut at max bytes (default 255 when
 * max is 0) with "..." appended.  Never NULL.
 */
json_t *det_json_str(const char *s, size_t len, size_t max);

/* ------------------------------------------------------------ detectors */

/*
 * rate: messages or recipients per window over the subscriber's limit.
 * Call after a message was accepted (end of message) with the values
 * ctr_update returned.  Bulk senders never fire.  Evidence:
 * {"window":"10m","messages":57,"limit":30,"recipients":..,"helo":"..."}.
 * helo may be NULL.
 */
void detect_rate(const struct detect_config *dc, struct det_fire *f,
    const struct det_subject *s, const struct ctr_values *v, const char *helo,
    struct det_out *out);
/*
 * Pure check without events, for throttling at MAIL/RCPT time: returns 1 if
 * the values are at or over a message or recipient limit (the next message
 * would exceed), with the window index in *window (may be NULL); 0 for bulk
 * senders or when under every limit.
 */
int detect_rate_check(const struct detect_config *dc, const char *subscriber,
    const struct ctr_values *v, int *window);

/* fanout: distinct recipient domains per window. Evidence has "domains",
 * "limit", "window" and "sample_domains" when given (array of n strings). */
void detect_fanout(const struct detect_config *dc, struct det_fire *f,
    const struct det_subject *s, const struct ctr_values *v,
    const char *const *sample_domains, size_t nsample, struct det_out *out);

/* helo: one HELO/EHLO argument (may hold NUL bytes: len given). */
struct helo_obs {
	const char *helo;
	size_t len;
	const char *client_ip;    /* the connection's peer address, for [literal] checks */
};
/* Classifies (helo.h), raises a 'helo' event for an anomalous class (once per
 * refire_oneoff_s per subscriber and class), and a 'helo' event with
 * "check":"churn" when distinct HELO names in a window exceed the limit.
 * v may be NULL (no churn check). */
void detect_helo(const struct detect_config *dc, struct det_fire *f,
    const struct det_subject *s, const struct helo_obs *h, const struct ctr_values *v,
    struct det_out *out);

/* sender_forgery: envelope sender and From: header of one message. */
struct sender_obs {
	const char *env_from;     /* MAIL FROM argument as given (with or without <>) */
	const char *from_header;  /* raw From: header value, or NULL */
	const char *helo;         /* for SPF; may be NULL */
};
/*
 * The envelope sender's and the From: header's domains are checked against
 * detect_domain_allowed; a foreign domain is checked with SPF against the
 * smarthost's outbound addresses (spf may be NULL: then unchecked).  Raises
 * 'sender_forgery' with "spf":"fail|softfail|..." scored accordingly (once per
 * refire_oneoff_s per subscriber and domain), and churn of distinct senders per
 * window (v may be NULL).  SPF calls may block on DNS: call at end of message.
 */
void detect_sender(const struct detect_config *dc, struct det_fire *f,
    struct spf_checker *spf, const struct det_subject *s, const struct sender_obs *o,
    const struct ctr_values *v, struct det_out *out);

/*
 * dkim_replay: given the result of dkim_check_end (dkim.h), raise an event
 * for a third-party signature: valid = replay (score_replay), broken =
 * forgery (score_forgery); once per refire_oneoff_s per subscriber and d= domain.
 */
void detect_dkim(const struct detect_config *dc, struct det_fire *f,
    const struct det_subject *s, const struct dkim_check_result *r, struct det_out *out);
/* Is a DKIM d= domain third-party for this subscriber (not own, not its)? */
int detect_dkim_foreign(const struct detect_config *dc, const char *subscriber,
    const char *domain);

#endif
