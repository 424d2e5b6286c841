/*
 * logparse.h - one MTA log line in, one parsed record out.
 *
 * Knows the syslog line formats botsentry-logwatch meets:
 *   traditional     "Nov 26 13:39:20 host prog[pid]: msg"   (also journalctl
 *                   -o short; "Nov 26 13:39:20.123456" from -o short-precise)
 *   RFC 3339        "2026-11-26T13:39:20.123456+00:00 host prog[pid]: msg"
 *                   (rsyslog high precision, journalctl -o short-iso with
 *                   "+0000", "Z" also accepted)
 * with an optional "<PRI>" in front, and the messages of Postfix (smtpd SASL
 * failures and successful logins, client= lines, delivery lines, qmgr
 * removed) and Sendmail (AUTH failure, AUTH=server, from= and to= lines).
 *
 * Pure: no I/O, no allocation, no global state; safe from any thread
 * (LP_TZ_LOCAL consults the C library's time zone through mktime(), and
 * writes the caller's cache).  The
 * record holds copies (truncated to the field sizes), never pointers into
 * the line.  What it does not do: decide anything (detect_auth.h does), map
 * logins or addresses to subscribers (the program does).
 */
#ifndef BS_LOGPARSE_H
#define BS_LOGPARSE_H

#include <stddef.h>
#include <stdint.h>

enum lp_kind {
	LP_SKIP = 0,        /* another program, or a line of ours that carries nothing */
	LP_AUTH_FAIL,       /* failed SASL / AUTH attempt */
	LP_AUTH_OK,         /* successful login (Postfix: the qid client=... sasl_username= line) */
	LP_CLIENT,          /* Postfix "QID: client=NAME[ADDR]" without SASL; Sendmail from= line */
	LP_DELIVERY,        /* one recipient's fate: to=, relay=, dsn=, status= */
	LP_REMOVED,         /* Postfix qmgr "QID: removed" */
	LP_MALFORMED        /* a line of a known format that did not parse; see .malformed */
};

enum lp_mta {
	LP_MTA_NONE = 0,
	LP_MTA_POSTFIX,
	LP_MTA_SENDMAIL
};

/* Delivery outcome, from Postfix status= or Sendmail dsn=. */
enum lp_status {
	LP_ST_NONE = 0,
	LP_ST_SENT,
	LP_ST_DEFERRED,
	LP_ST_BOUNCED,
	LP_ST_OTHER          /* expired, undeliverable, ... */
};

/* How a timestamp without a zone ("Nov 26 13:39:20") is read. */
enum lp_tz_mode {
	LP_TZ_UTC = 0,
	LP_TZ_OFFSET,       /* fixed offset: tz_offset_s east of UTC */
	LP_TZ_LOCAL         /* the process's local time zone (mktime); the caller sets TZ */
};

/* LP_TZ_LOCAL asks mktime(), which is slow: the caller may hand a cache
 * (one per thread) that remembers the offset per local hour. */
struct lp_tzcache {
	int64_t hour_key;   /* local days*24 + hour, +1 (0 = empty) */
	long off;
	int64_t now_key;    /* now_ms / 3600000, +1 */
	long now_off;
};

struct lp_opts {
	int64_t now_ms;     /* reference for the year of a traditional timestamp;
	                       the parser never reads the clock itself */
	int tz_mode;        /* enum lp_tz_mode */
	long tz_offset_s;
	struct lp_tzcache *cache;   /* LP_TZ_LOCAL only; may be NULL */
};

#define LP_HOST_MAX 64
#define LP_PROG_MAX 64
#define LP_QID_MAX 32
#define LP_NAME_MAX 256
#define LP_IP_MAX 64
#define LP_MECH_MAX 32
#define LP_LOGIN_MAX 256
#define LP_REASON_MAX 160
#define LP_DOMAIN_MAX 128
#define LP_DSN_MAX 16

struct lp_record {
	int kind;                      /* enum lp_kind */
	int mta;                       /* enum lp_mta */
	int64_t ts_ms;                 /* from the line, UTC */
	char host[LP_HOST_MAX];
	char prog[LP_PROG_MAX];        /* "postfix/submission/smtpd", "sm-mta" */
	long pid;
	char qid[LP_QID_MAX];          /* "" when none (NOQUEUE, NOQID) */
	char client_name[LP_NAME_MAX]; /* "unknown" when the MTA found none */
	char client_ip[LP_IP_MAX];     /* text form, IPv6 without "IPv6:" */
	char mech[LP_MECH_MAX];        /* PLAIN, LOGIN, CRAM-MD5, ... */
	char login[LP_LOGIN_MAX];      /* SASL user name; may hold spaces and any byte but NUL */
	char reason[LP_REASON_MAX];    /* failure text */
	char rcpt_domain[LP_DOMAIN_MAX]; /* delivery: the recipient's domain only (privacy) */
	char dsn[LP_DSN_MAX];          /* "5.1.1" */
	int status;                    /* enum lp_status */
	char relay[LP_NAME_MAX];       /* delivery: where it went ("none" if nowhere) */
	const char *malformed;         /* static text naming the kind of malformed line */
	unsigned truncated : 1;        /* some field was cut to its size */
};

/* Defaults: UTC, the given reference time, no cache. */
void lp_opts_init(struct lp_opts *o, int64_t now_ms);

/*
 * Parse one line (len bytes, no need for a NUL; a trailing "\n" or "\r\n" is
 * ignored).  Fills *r (every string is terminated; unused ones are "") and
 * returns r->kind.  Never fails: junk is
 * LP_SKIP (not a syslog line of a mail program) or LP_MALFORMED (r->malformed
 * says which kind: "syslog header", "postfix sasl failure", ...).
 */
int lp_parse(const struct lp_opts *o, const char *line, size_t len, struct lp_record *r);

/*
 * The timestamp part alone: parse a syslog timestamp at s (either format),
 * set *ms and return the number of bytes consumed, or 0 if s does not start
 * with one.
 */
size_t lp_parse_time(const struct lp_opts *o, const char *s, size_t len, int64_t *ms);

/* A fixed zone offset "+01:00", "-0530" or "+02": 0 and *off_s (seconds
 * east of UTC), or -1. */
int lp_parse_tz_offset(const char *s, long *off_s);

/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
int64_t lp_days_from_civil(int64_t y, unsigned m, unsigned d);

const char *lp_kind_name(int kind);
const char *lp_status_name(int status);

#endif
