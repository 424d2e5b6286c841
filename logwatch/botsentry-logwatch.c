/*
 * botsentry-logwatch - follow the MTA's log for failed and stolen SMTP AUTH
 * and for subscribers whose mail is mostly refused.
 *
 * SYNOPSIS
 *   botsentry-logwatch [-c FILE] [-d URI] [-f] [-n] [-v] [-b] [-p] [-S]
 *                      [-s STATEFILE] [-T TRACEFILE] [FILE | -]
 *   botsentry-logwatch [options] -r FILE|-
 *
 * DESCRIPTION
 *   Glue: lines come from follow.c (a file, tail -F style, with a saved
 *   position) or from a stream (standard input, -r); logparse.h turns each
 *   into a record; this file attributes it (login -> subscriber, address ->
 *   lease at the line's time) and feeds detect_auth.h, whose events go to
 *   the writer queue (or, with -p, to standard output as JSON lines).
 *
 *   Exactly once, as far as it goes: the position in the log is saved only
 *   after every event raised by the lines before it has been committed to
 *   the database.  A process that dies reads again, after its restart, the
 *   lines after the last saved position (at most checkpoint_interval plus
 *   the writer's flush time of them), never fewer; events raised from those
 *   lines and committed before the death may then be recorded twice.  A
 *   clean stop (SIGTERM, SIGINT, end of -r input) flushes the writer and
 *   saves the final position, so nothing is read twice.  The detectors'
 *   windows live in memory; after a restart they are rebuilt from the
 *   lines before the saved position (warm_up_bytes), the events those
 *   raise dropped (they were stored before).
 *
 * DIAGNOSTICS
 *   Malformed lines of a known format are counted and logged once per kind
 *   with their place (input:line); -S prints every counter at exit.
 */
#include "config.h"
#include "cmdline.h"
#include "conf.h"
#include "detect_auth.h"
#include "event.h"
#include "follow.h"
#include "leases.h"
#include "log.h"
#include "logins.h"
#include "logparse.h"
#include "store.h"
#include "util.h"
#include "writer.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#ifndef BS_STATEDIR
#define BS_STATEDIR "/var/lib/botsentry"
#endif

#define MAX_MALFORMED_KINDS 32

static volatile sig_atomic_t got_stop, got_reload, got_stats;

struct opts {
	const char *replay;        /* -r FILE|- */
	const char *state_file;    /* -s */
	const char *trace_file;    /* -T */
	int from_start;            /* -b */
	int print;                 /* -p */
	int stats;                 /* -S */
};

struct lw {
	struct conf *conf;
	struct opts *o;
	struct lp_opts lpo;
	struct lp_tzcache tzc;
	int replay_file;           /* now_ms fixed from the file's mtime */
	struct da *da;
	struct lease_table *leases;
	struct writer *w;
	struct store *st;          /* the main thread's own handle (login lookups) */
	struct logins *logins;
	FILE *trace;
	int en_bf, en_ca, en_br;
	const char *realm;
	int v6_prefix_len;
	const char *input;         /* for messages */
	uint64_t lineno;
	int64_t last_ts, last_expire_ts;
	int64_t next_periodic_mono, next_lease_mono;
	/* counters */
	uint64_t kinds[LP_MALFORMED + 1];
	uint64_t fail_ignored;
	uint64_t events, submitted, queue_waits;
	int warming;               /* re-reading lines already handled (warm_up_bytes) */
	int warm_drop;             /* ... under the same settings: their events were stored */
	uint64_t warm_lines, warm_events;
	char tag[512];             /* settings_tag at start; "reloaded" once a reload changed it */
	const char *malformed_seen[MAX_MALFORMED_KINDS];
	uint64_t malformed_n[MAX_MALFORMED_KINDS];
	int n_malformed_seen;
};

static void
on_signal(int sig)
{
	if (sig == SIGHUP)
		got_reload = 1;
	else if (sig == SIGUSR1)
		got_stats = 1;
	else
		got_stop = 1;
}

static void
install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;   /* no SA_RESTART: a blocking read of standard input must see the stop */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* ------------------------------------------------------------------ settings */

static void
settings_from_conf(const struct conf *c, struct da_settings *s)
{
	cfg_t *lw = cfg_getsec(c->cfg, "logwatch");

	da_settings_default(s);
	s->bf_window_ms = cfg_getint(lw, "auth_bruteforce|window") * 1000L;
	s->bf_failures = cfg_getint(lw, "auth_bruteforce|failures");
	s->bf_logins = cfg_getint(lw, "auth_bruteforce|logins");
	s->bf_score = cfg_getfloat(lw, "auth_bruteforce|score");
	s->ca_window_ms = cfg_getint(lw, "credential_abuse|window") * 1000L;
	s->ca_fail_addrs = cfg_getint(lw, "credential_abuse|failed_addresses");
	s->ca_ok_addrs = cfg_getint(lw, "credential_abuse|success_addresses");
	s->ca_ok_nets = cfg_getint(lw, "credential_abuse|success_networks");
	s->ca_v4_net_len = (int)cfg_getint(lw, "credential_abuse|ipv4_network_len");
	s->ca_v6_net_len = (int)cfg_getint(lw, "credential_abuse|ipv6_network_len");
	s->ca_score = cfg_getfloat(lw, "credential_abuse|score");
	s->br_window_ms = cfg_getint(lw, "bounce_ratio|window") * 1000L;
	s->br_min_rcpts = cfg_getint(lw, "bounce_ratio|min_recipients");
	s->br_ratio = cfg_getfloat(lw, "bounce_ratio|ratio");
	s->br_score = cfg_getfloat(lw, "bounce_ratio|score");
	s->br_max_queue = (size_t)cfg_getint(lw, "bounce_ratio|max_queue_ids");
	s->br_queue_ttl_ms = cfg_getint(lw, "bounce_ratio|queue_id_ttl") * 1000L;
	s->max_keys = (size_t)cfg_getint(lw, "max_keys");
	s->idle_ms = cfg_getint(lw, "idle_expiry") * 1000L;
}

/*
 * What decides which events the lines raise, as one line of text, saved
 * with the position: a warm-up drops the events of lines read before the
 * restart only when they were read under the same settings (else the old
 * process may not have raised them, and dropping them would lose them).
 * Scores are left out: they do not decide whether an event is raised.
 */
static void
settings_tag(const struct conf *c, char *buf, size_t n)
{
	struct da_settings s;
	cfg_t *sec = cfg_getsec(c->cfg, "logwatch");

	settings_from_conf(c, &s);
	snprintf(buf, n, "1 bf=%d,%lld,%ld,%ld ca=%d,%lld,%ld,%ld,%ld,%d,%d br=%d,%lld,%ld,%g,%zu,%lld "
	    "keys=%zu,%lld tz=%s realm=%s v6=%ld",
	    (int)cfg_getbool(sec, "auth_bruteforce|enabled"), (long long)s.bf_window_ms, s.bf_failures,
	    s.bf_logins,
	    (int)cfg_getbool(sec, "credential_abuse|enabled"), (long long)s.ca_window_ms, s.ca_fail_addrs,
	    s.ca_ok_addrs, s.ca_ok_nets, s.ca_v4_net_len, s.ca_v6_net_len,
	    (int)cfg_getbool(sec, "bounce_ratio|enabled"), (long long)s.br_window_ms, s.br_min_rcpts,
	    s.br_ratio, s.br_max_queue, (long long)s.br_queue_ttl_ms,
	    s.max_keys, (long long)s.idle_ms, cfg_getstr(sec, "timezone"), cfg_getstr(sec, "login_realm"),
	    (long)c->ipv6_prefix_len);
	/* one line in the state file */
	for (; *buf != '\0'; buf++)
		if (*buf == '\n' || *buf == '\r')
			*buf = ' ';
}

static void
apply_conf(struct lw *lw)
{
	cfg_t *sec = cfg_getsec(lw->conf->cfg, "logwatch");
	const char *tz = cfg_getstr(sec, "timezone");
	long off;

	lw->en_bf = cfg_getbool(sec, "auth_bruteforce|enabled");
	lw->en_ca = cfg_getbool(sec, "credential_abuse|enabled");
	lw->en_br = cfg_getbool(sec, "bounce_ratio|enabled");
	lw->realm = cfg_getstr(sec, "login_realm");
	if (lw->logins != NULL)
		logins_set_realm(lw->logins, lw->realm);
	lw->v6_prefix_len = (int)lw->conf->ipv6_prefix_len;
	memset(&lw->tzc, 0, sizeof lw->tzc);
	lw->lpo.cache = &lw->tzc;
	if (tz == NULL || tz[0] == '\0' || strcmp(tz, "localtime") == 0) {
		lw->lpo.tz_mode = LP_TZ_LOCAL;
	} else if (strcmp(tz, "UTC") == 0) {
		lw->lpo.tz_mode = LP_TZ_UTC;
	} else if (lp_parse_tz_offset(tz, &off) == 0) {
		lw->lpo.tz_mode = LP_TZ_OFFSET;
		lw->lpo.tz_offset_s = off;
	} else {
		setenv("TZ", tz, 1);
		tzset();
		lw->lpo.tz_mode = LP_TZ_LOCAL;
	}
}

static void
load_leases(struct lw *lw)
{
	char err[512];
	struct lease_table *t;

	t = lease_table_load(lw->conf, lw->st, err, sizeof err);
	if (t == NULL && lw->leases == NULL) {
		/* none yet (the database away at start): the static map meanwhile */
		log_warn("leases: %s; the static map only until the next reload", err);
		t = lease_table_load(lw->conf, NULL, err, sizeof err);
	}
	if (t == NULL) {
		log_warn("leases: %s; keeping the previous table", err);
		return;
	}
	lease_table_free(lw->leases);
	lw->leases = t;
	log_debug("leases: %zu loaded", lease_table_count(t));
}

/* ------------------------------------------------------------------ events */

static void
on_event(void *ud, struct event *ev)
{
	struct lw *lw = ud;
	char *sub;

	if ((!lw->en_bf && strcmp(ev->kind, "auth_bruteforce") == 0) ||
	    (!lw->en_ca && strcmp(ev->kind, "credential_abuse") == 0) ||
	    (!lw->en_br && strcmp(ev->kind, "bounce_ratio") == 0)) {
		event_clear(ev);
		return;
	}
	if (lw->warming && lw->warm_drop) {
		/* raised before the restart from these very lines, and committed
		 * (the position is saved only then): not again */
		lw->warm_events++;
		event_clear(ev);
		return;
	}
	event_set_node(ev, lw->conf->node_name);
	lw->events++;
	sub = bs_sanitize(ev->subscriber, strlen(ev->subscriber), 200);
	if (lw->warming)
		log_notice("%s (warm-up, line %" PRIu64 " of it): event kind=%s subscriber=\"%s\" client=%s "
		    "score=%.1f evidence=%s", lw->input, lw->warm_lines, ev->kind, sub,
		    ev->client_ip[0] ? ev->client_ip : "-", ev->score, ev->evidence ? ev->evidence : "{}");
	else
		log_notice("%s:%" PRIu64 ": event kind=%s subscriber=\"%s\" client=%s score=%.1f evidence=%s",
		    lw->input, lw->lineno, ev->kind, sub, ev->client_ip[0] ? ev->client_ip : "-", ev->score,
		    ev->evidence ? ev->evidence : "{}");
	free(sub);
	if (lw->o->print) {
		json_t *j = json_object();
		char tbuf[40];
		char *txt;

		json_object_set_new(j, "time", json_string(bs_fmt_time(ev->ts_ms, tbuf, sizeof tbuf)));
		json_object_set_new(j, "ts_ms", json_integer(ev->ts_ms));
		json_object_set_new(j, "kind", json_string(ev->kind));
		{
			/* a subscriber id from a login name need not be UTF-8 */
			json_t *sj = json_string(ev->subscriber);
			if (sj == NULL) {
				char *safe = bs_sanitize(ev->subscriber, strlen(ev->subscriber), 400);
				sj = json_string(safe);
				free(safe);
			}
			json_object_set_new(j, "subscriber", sj != NULL ? sj : json_string(""));
		}
		json_object_set_new(j, "client_ip", json_string(ev->client_ip));
		json_object_set_new(j, "score", json_real(ev->score));
		json_object_set_new(j, "node", json_string(ev->node));
		json_object_set_new(j, "evidence", ev->evidence ?
		    json_loads(ev->evidence, 0, NULL) : json_object());
		txt = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
		if (txt != NULL) {
			puts(txt);
			fflush(stdout);
		}
		free(txt);
		json_decref(j);
	} else {
		/* never drop: the log is not the mail path, so wait for room */
		while (writer_submit(lw->w, ev) != 0) {
			struct timespec ts = { 0, 10 * 1000 * 1000 };
			lw->queue_waits++;
			nanosleep(&ts, NULL);
		}
		lw->submitted++;
	}
	event_clear(ev);
}

/* ------------------------------------------------------------------ lines */

static const char *
ip_subscriber(const struct lw *lw, const char *ip, int64_t ts_ms)
{
	if (lw->leases == NULL || ip == NULL || ip[0] == '\0')
		return NULL;
	return lease_table_lookup(lw->leases, ip, ts_ms);
}

static void
note_malformed(struct lw *lw, const struct lp_record *r, const char *line, size_t len)
{
	int i;
	char *s;

	for (i = 0; i < lw->n_malformed_seen; i++)
		if (lw->malformed_seen[i] == r->malformed) {
			lw->malformed_n[i]++;
			return;
		}
	if (lw->n_malformed_seen < MAX_MALFORMED_KINDS) {
		lw->malformed_seen[lw->n_malformed_seen] = r->malformed;
		lw->malformed_n[lw->n_malformed_seen++] = 1;
	}
	s = bs_sanitize(line, len, 160);
	log_warn("%s:%" PRIu64 ": malformed %s; counted, and not logged again for this kind: \"%s\"",
	    lw->input, lw->lineno, r->malformed, s);
	free(s);
}

static void periodic(struct lw *lw);

static int
on_line(void *ud, const char *line, size_t len)
{
	struct lw *lw = ud;
	struct lp_record r;
	struct da_auth_obs ao;
	struct da_origin og;
	struct da_delivery dl;
	char lbuf[LP_LOGIN_MAX], keybuf[80];
	const char *lsub, *isub;
	int k;

	if (lw->warming)
		lw->warm_lines++;
	else
		lw->lineno++;
	if (lw->trace != NULL && !lw->warming) {
		fwrite(line, 1, len, lw->trace);
		fputc('\n', lw->trace);
	}
	if ((lw->lineno & 1023) == 0)
		periodic(lw);
	k = lp_parse(&lw->lpo, line, len, &r);
	if (!lw->warming)
		lw->kinds[k]++;
	if (k == LP_SKIP)
		return 0;
	if (k == LP_MALFORMED) {
		if (!lw->warming)
			note_malformed(lw, &r, line, len);
		return 0;
	}
	if (r.ts_ms > lw->last_ts)
		lw->last_ts = r.ts_ms;

	switch (k) {
	case LP_AUTH_FAIL:
	case LP_AUTH_OK:
		if (k == LP_AUTH_FAIL && strncmp(r.reason, "Connection lost to authentication server", 40) == 0) {
			lw->fail_ignored++;   /* the SASL server's trouble, not a guess */
			break;
		}
		memset(&ao, 0, sizeof ao);
		ao.ts_ms = r.ts_ms;
		ao.ok = k == LP_AUTH_OK;
		ao.client_ip = r.client_ip;
		ao.source_key = lease_client_key(r.client_ip, lw->v6_prefix_len, keybuf, sizeof keybuf);
		isub = ip_subscriber(lw, r.client_ip, r.ts_ms);
		ao.ip_subscriber = isub;
		ao.login = r.login;
		lsub = r.login[0] ? logins_lookup(lw->logins, r.login, bs_mono_ms()) : NULL;
		if (lsub != NULL) {
			bs_strlcpy(lbuf, lsub, sizeof lbuf);
			lsub = lbuf;
		}
		ao.login_subscriber = lsub;
		ao.mech = r.mech;
		da_auth(lw->da, &ao);
		if (k == LP_AUTH_OK && r.qid[0] != '\0') {
			memset(&og, 0, sizeof og);
			og.ts_ms = r.ts_ms;
			og.qid = r.qid;
			og.subscriber = lsub;
			og.client_ip = r.client_ip;
			og.login = r.login;
			da_origin(lw->da, &og);
		}
		break;
	case LP_CLIENT:
		memset(&og, 0, sizeof og);
		og.ts_ms = r.ts_ms;
		og.qid = r.qid;
		og.subscriber = ip_subscriber(lw, r.client_ip, r.ts_ms);
		og.client_ip = r.client_ip;
		da_origin(lw->da, &og);
		break;
	case LP_DELIVERY:
		memset(&dl, 0, sizeof dl);
		dl.ts_ms = r.ts_ms;
		dl.qid = r.qid;
		if (r.status == LP_ST_SENT)
			dl.fate = DA_SENT;
		else if (r.status == LP_ST_BOUNCED || r.dsn[0] == '5')
			dl.fate = DA_REFUSED;
		else
			dl.fate = DA_DEFERRED;
		dl.dsn = r.dsn;
		dl.rcpt_domain = r.rcpt_domain;
		da_delivery(lw->da, &dl);
		break;
	case LP_REMOVED:
		da_removed(lw->da, r.qid);
		break;
	default:
		break;
	}
	if (lw->last_ts - lw->last_expire_ts > 60 * 1000) {
		da_expire(lw->da, lw->last_ts);
		lw->last_expire_ts = lw->last_ts;
	}
	return 0;
}

/* Housekeeping by the wall clock: the reference time for the year, leases. */
static void
periodic(struct lw *lw)
{
	int64_t mono = bs_mono_ms();
	long reload_s;

	if (mono < lw->next_periodic_mono)
		return;
	lw->next_periodic_mono = mono + 1000;
	if (!lw->replay_file)
		lw->lpo.now_ms = bs_now_ms();
	reload_s = cfg_getint(cfg_getsec(lw->conf->cfg, "logwatch"), "lease_reload");
	if (reload_s > 0 && mono >= lw->next_lease_mono) {
		if (lw->next_lease_mono != 0)
			load_leases(lw);
		lw->next_lease_mono = mono + reload_s * 1000;
	}
}

/* ------------------------------------------------------------------ reload, stats */

static void
reload(struct lw *lw, const struct cmdline *cl)
{
	struct conf *c;
	struct da_settings s;

	got_reload = 0;
	c = conf_load(lw->conf->path, NULL);
	if (c == NULL) {
		log_err("reload: %s has errors; keeping the running configuration",
		    lw->conf->path ? lw->conf->path : "(built-in)");
		return;
	}
	if (cl->db_uri != NULL) {
		cfg_setstr(c->cfg, "database", cl->db_uri);
		c->database = cfg_getstr(c->cfg, "database");
	}
	conf_unref(lw->conf);
	lw->conf = c;
	log_set_level(c->log_level + cl->verbose > LOG_DEBUG ? LOG_DEBUG : c->log_level + cl->verbose);
	apply_conf(lw);
	settings_from_conf(c, &s);
	da_set_settings(lw->da, &s);
	{
		char tag[sizeof lw->tag];
		settings_tag(c, tag, sizeof tag);
		if (lw->tag[0] != '\0' && strcmp(tag, lw->tag) != 0)
			/* lines read before and after: a later warm-up records
			 * what it raises (at least once) rather than drop it */
			bs_strlcpy(lw->tag, "reloaded", sizeof lw->tag);
	}
	if (lw->w != NULL)
		writer_set_policy(lw->w, &c->score);
	load_leases(lw);
	log_notice("reload: configuration re-read (windows and table sizes need a restart)");
}

static void
print_stats(struct lw *lw, const struct follow_stats *fs, FILE *out, int as_log)
{
	struct da_stats ds;
	struct writer_stats ws;
	char buf[1400];
	int i;

	memset(&ws, 0, sizeof ws);
	if (lw->w != NULL)
		writer_get_stats(lw->w, &ws);
	da_get_stats(lw->da, &ds);
	snprintf(buf, sizeof buf,
	    "lines=%" PRIu64 " bytes=%" PRIu64 " long_lines=%" PRIu64 " skipped=%" PRIu64
	    " auth_fail=%" PRIu64 " auth_ok=%" PRIu64 " client=%" PRIu64 " delivery=%" PRIu64
	    " removed=%" PRIu64 " malformed=%" PRIu64 " fail_ignored=%" PRIu64
	    " events=%" PRIu64 " submitted=%" PRIu64 " committed=%" PRIu64 " queue_waits=%" PRIu64
	    " rotations_rename=%" PRIu64 " rotations_truncate=%" PRIu64 " rotated_lines=%" PRIu64
	    " reopen_unmatched=%" PRIu64 " queue_ids=%" PRIu64 " queue_evicted=%" PRIu64
	    " queue_expired=%" PRIu64 " unknown_qid=%" PRIu64 " warm_lines=%" PRIu64
	    " warm_events=%" PRIu64,
	    fs->lines, fs->bytes, fs->long_lines, lw->kinds[LP_SKIP],
	    lw->kinds[LP_AUTH_FAIL], lw->kinds[LP_AUTH_OK], lw->kinds[LP_CLIENT], lw->kinds[LP_DELIVERY],
	    lw->kinds[LP_REMOVED], lw->kinds[LP_MALFORMED], lw->fail_ignored,
	    lw->events, lw->submitted, ws.committed, lw->queue_waits,
	    fs->rotations_rename, fs->rotations_truncate, fs->rotated_lines, fs->reopen_unmatched,
	    ds.queue_tracked, ds.queue_evicted, ds.queue_expired, ds.deliveries_unknown_qid,
	    lw->warm_lines, lw->warm_events);
	if (as_log)
		log_notice("stats: %s", buf);
	else
		fprintf(out, "%s\n", buf);
	for (i = 0; i < lw->n_malformed_seen; i++) {
		if (as_log)
			log_notice("stats: malformed \"%s\"=%" PRIu64, lw->malformed_seen[i], lw->malformed_n[i]);
		else
			fprintf(out, "malformed \"%s\"=%" PRIu64 "\n", lw->malformed_seen[i], lw->malformed_n[i]);
	}
}

/* ------------------------------------------------------------------ main */

static int
extra_opt(int opt, const char *arg, void *ud)
{
	struct opts *o = ud;

	switch (opt) {
	case 'r': o->replay = arg; return 0;
	case 's': o->state_file = arg; return 0;
	case 'T': o->trace_file = arg; return 0;
	case 'b': o->from_start = 1; return 0;
	case 'p': o->print = 1; return 0;
	case 'S': o->stats = 1; return 0;
	default: return -1;
	}
}

static const char usage_extra[] =
    "  -r FILE   read FILE (or - for standard input) to its end and exit: replay an old log\n"
    "  -b        with no saved position, start at the beginning of the file (not its end)\n"
    "  -p        print events as JSON lines on standard output; store nothing\n"
    "  -S        print counters (lines, kinds, events, rotations) on standard error at exit\n"
    "  -s FILE   state file (saved position; default: logwatch.state_file or state_dir)\n"
    "  -T FILE   append every line read to FILE (for tests)\n"
    "  FILE      the log to follow (default: logwatch.log_file); - for standard input\n";

/* Has everything submitted up to `target` been acknowledged? */
static int
committed_at_least(struct lw *lw, uint64_t target)
{
	struct writer_stats ws;

	if (lw->w == NULL)
		return 1;
	writer_get_stats(lw->w, &ws);
	/* rejected: refused by the database for good (logged by the writer);
	 * waiting longer would not store them */
	return ws.committed + ws.rejected + ws.allowlisted >= target;
}

/* Wait up to ms for every submitted event to be committed; 1 when they are. */
static int
writer_drain(struct lw *lw, int64_t ms)
{
	int64_t deadline = bs_mono_ms() + ms;

	while (!committed_at_least(lw, lw->submitted)) {
		struct timespec ts = { 0, 20 * 1000 * 1000 };
		if (bs_mono_ms() >= deadline)
			return 0;
		nanosleep(&ts, NULL);
	}
	return 1;
}

struct checkpoint {
	struct follow_pos pos;
	uint64_t submitted;
	int valid;
};

/*
 * After a restart, rebuild the detectors' windows from the lines just
 * before the saved position (logwatch.warm_up_bytes of them): a guesser
 * who was 15 failures into a window of 20 when the watcher stopped is
 * still 15 in.  Events these lines raise were stored before the position
 * was saved, so they are counted and dropped, and the detectors remember
 * that they fired.
 */
static void
warm_up(struct lw *lw, const struct follow_opts *fo, const struct follow_pos *saved,
    const char *saved_tag)
{
	uint64_t max = (uint64_t)cfg_getint(cfg_getsec(lw->conf->cfg, "logwatch"), "warm_up_bytes");
	uint64_t from = 0;
	int64_t t0 = bs_mono_ms();
	char err[600];
	long n;

	if (max == 0 || saved->offset == 0)
		return;
	err[0] = '\0';
	log_notice("warm-up: re-reading up to %" PRIu64 " bytes before offset %" PRIu64 " to rebuild "
	    "the detectors' windows", max, saved->offset);
	lw->warm_drop = strcmp(saved_tag, lw->tag) == 0;
	if (!lw->warm_drop)
		log_notice("warm-up: the detector settings differ from those the saved position was "
		    "read with; events the re-read lines raise are recorded (some may have been before)");
	lw->warming = 1;
	n = follow_warm(fo, saved, max, on_line, lw, &from, err, sizeof err);
	lw->warming = 0;
	if (n < 0) {
		log_warn("warm-up: %s; the detectors' windows start empty", err);
		return;
	}
	if (n == 0 && from == saved->offset) {
		log_notice("warm-up: the file of the saved position is gone; the detectors' windows start empty");
		return;
	}
	if (lw->warm_drop)
		log_notice("warm-up: %ld lines re-read (offsets %" PRIu64 " to %" PRIu64 ") in %lld ms; "
		    "%" PRIu64 " events they raise were stored before the restart and are not raised again",
		    n, from, saved->offset, (long long)(bs_mono_ms() - t0), lw->warm_events);
	else
		log_notice("warm-up: %ld lines re-read (offsets %" PRIu64 " to %" PRIu64 ") in %lld ms",
		    n, from, saved->offset, (long long)(bs_mono_ms() - t0));
}

static int
run_follow(struct lw *lw, const char *path, const char *state_path, const struct cmdline *cl)
{
	struct follow_opts fo;
	struct follow_pos saved, cur, last_saved;
	struct follow *f;
	struct follow_stats fs;
	struct checkpoint pending;
	char err[600], saved_tag[sizeof lw->tag];
	cfg_t *sec = cfg_getsec(lw->conf->cfg, "logwatch");
	int rc, have_saved = 0, code = 0, polled = 0;
	int64_t next_ckpt;
	long poll_ms = cfg_getint(sec, "poll_interval_ms");
	long ckpt_ms = cfg_getint(sec, "checkpoint_interval") * 1000L;

	memset(&fo, 0, sizeof fo);
	fo.path = path;
	fo.rotated_suffix = cfg_getstr(sec, "rotated_suffix");
	fo.start_at_end = !lw->o->from_start && strcmp(cfg_getstr(sec, "start_at"), "end") == 0;
	fo.max_line = (size_t)cfg_getint(sec, "max_line_length");
	err[0] = '\0';
	rc = follow_load(state_path, path, &saved, saved_tag, sizeof saved_tag, err, sizeof err);
	if (rc < 0) {
		log_err("%s; remove it to start afresh", err);
		return EX_DATAERR;
	}
	if (rc == 1 && err[0] != '\0')
		log_warn("%s", err);
	have_saved = rc == 0;
	settings_tag(lw->conf, lw->tag, sizeof lw->tag);
	lw->input = path;
	if (have_saved)
		warm_up(lw, &fo, &saved, saved_tag);
	f = follow_open(&fo, have_saved ? &saved : NULL, err, sizeof err);
	if (f == NULL) {
		log_err("%s", err);
		return EX_NOINPUT;
	}
	log_notice("following %s (poll %ld ms, state %s%s)", path, poll_ms, state_path,
	    have_saved ? ", resuming" : "");
	lw->input = path;
	memset(&pending, 0, sizeof pending);
	memset(&last_saved, 0, sizeof last_saved);
	next_ckpt = bs_mono_ms() + ckpt_ms;

	while (!got_stop) {
		long n;

		if (got_reload)
			reload(lw, cl);
		if (got_stats) {
			got_stats = 0;
			follow_get_stats(f, &fs);
			print_stats(lw, &fs, stderr, 1);
		}
		periodic(lw);
		n = follow_poll(f, on_line, lw);
		polled = 1;
		/* checkpoint: every interval capture the position and the events
		 * submitted so far; save it as soon as those are committed */
		if (pending.valid && committed_at_least(lw, pending.submitted)) {
			if (memcmp(&pending.pos, &last_saved, sizeof last_saved) != 0) {
				if (follow_save(state_path, path, &pending.pos, lw->tag, err, sizeof err) != 0)
					log_err("state: %s", err);
				else
					last_saved = pending.pos;
			}
			pending.valid = 0;
		}
		if (bs_mono_ms() >= next_ckpt && !pending.valid) {
			follow_position(f, &pending.pos);
			pending.submitted = lw->submitted;
			pending.valid = 1;
			next_ckpt = bs_mono_ms() + ckpt_ms;
		}
		if (n == 0 && !got_stop) {
			struct timespec ts = { poll_ms / 1000, (poll_ms % 1000) * 1000000L };
			nanosleep(&ts, NULL);
		}
	}

	/* clean stop: wait for the events to be committed, then save where
	 * we are; if the database does not take them, keep the last position
	 * known to be safe (those lines are read again next time) */
	follow_position(f, &cur);
	follow_get_stats(f, &fs);
	{
		int safe = writer_drain(lw, 15000);

		if (lw->o->stats)
			print_stats(lw, &fs, stderr, 0);
		if (!safe) {
			log_err("the database did not commit %" PRIu64 " events in time; "
			    "the position is not advanced past them", lw->submitted);
			if (pending.valid && committed_at_least(lw, pending.submitted))
				cur = pending.pos;
			else
				have_saved = -1;
			code = EX_TEMPFAIL;
		}
		if (lw->w != NULL) {
			writer_stop(lw->w);
			lw->w = NULL;
		}
	}
	if (!polled) {
		/* stopped during the warm-up: nothing was read on, and the
		 * follower's position may not yet say where (a rotated file's
		 * rest is read by the first poll); the saved one still holds */
		log_notice("stopped before following %s; the saved position is kept", path);
	} else if (have_saved != -1 && follow_save(state_path, path, &cur, lw->tag, err, sizeof err) != 0) {
		log_err("state: %s", err);
		code = EX_CANTCREAT;
	}
	log_notice("stopped at %s offset %" PRIu64 " after %" PRIu64 " lines", path, cur.offset, fs.lines);
	follow_close(f);
	return code;
}

static int
run_stream(struct lw *lw, const char *name)
{
	struct follow_stats fs;
	char err[600];
	int fd, code = 0;
	struct stat sb;

	memset(&fs, 0, sizeof fs);
	if (strcmp(name, "-") == 0) {
		fd = 0;
		lw->input = "stdin";
	} else {
		fd = open(name, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			log_err("%s: %s", name, strerror(errno));
			return EX_NOINPUT;
		}
		lw->input = name;
		/* an old log: years are inferred from the file's own time */
		if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode)) {
			lw->lpo.now_ms = (int64_t)sb.st_mtime * 1000;
			lw->replay_file = 1;
		}
	}
	if (follow_read_fd(fd, (size_t)cfg_getint(cfg_getsec(lw->conf->cfg, "logwatch"),
	    "max_line_length"), on_line, lw, &fs, err, sizeof err) != 0 && !got_stop) {
		log_err("%s: %s", lw->input, err);
		code = EX_IOERR;
	}
	if (fd != 0)
		close(fd);
	if (!writer_drain(lw, 30000)) {
		log_err("the database did not commit every event");
		code = EX_TEMPFAIL;
	}
	if (lw->o->stats)
		print_stats(lw, &fs, stderr, 0);
	if (lw->w != NULL) {
		writer_stop(lw->w);
		lw->w = NULL;
	}
	return code;
}

int
main(int argc, char **argv)
{
	struct cmdline cl;
	struct opts o;
	struct lw lw;
	struct da_settings s;
	const char *path, *state_path;
	char *state_buf = NULL, *path_buf = NULL, err[512];
	cfg_t *sec;
	int idx, code;

	memset(&cl, 0, sizeof cl);
	memset(&o, 0, sizeof o);
	memset(&lw, 0, sizeof lw);
	idx = cmdline_parse(&cl, argc, argv, "[options] [FILE | -]   or   [options] -r FILE|-",
	    "r:s:T:bpS", extra_opt, &o, usage_extra);
	if (argc - idx > 1) {
		fprintf(stderr, "%s: one log file at most\n", cl.prog);
		return EX_USAGE;
	}
	/* early, so that a stop during start-up is a clean stop */
	install_signals();
	follow_set_stop_flag(&got_stop);
	lw.conf = cmdline_load_conf(&cl, o.replay != NULL || o.print);
	lw.o = &o;
	sec = cfg_getsec(lw.conf->cfg, "logwatch");
	lp_opts_init(&lw.lpo, bs_now_ms());
	apply_conf(&lw);
	settings_from_conf(lw.conf, &s);
	lw.da = da_new(&s, on_event, &lw);
	if (lw.da == NULL) {
		log_err("logwatch: the detector settings are unusable");
		code = EX_CONFIG;
		goto out;
	}
	if (o.trace_file != NULL) {
		if ((lw.trace = fopen(o.trace_file, "a")) == NULL) {
			log_err("%s: %s", o.trace_file, strerror(errno));
			code = EX_CANTCREAT;
			goto out;
		}
		setvbuf(lw.trace, NULL, _IOLBF, 0);   /* what was read survives a kill -9 */
	}
	if (!o.print) {
		int away = 0;

		lw.st = store_open_waiting(lw.conf->database, &away, err, sizeof err);
		if (lw.st == NULL) {
			log_err("database %s: %s", lw.conf->database, err);
			code = EX_UNAVAILABLE;
			goto out;
		}
		if (away)
			log_warn("database %s does not answer (%s): starting without it; events are "
			    "queued, logins and leases are looked up when it answers", lw.conf->database, err);
	}
	lw.logins = logins_new(lw.st, lw.realm, cfg_getint(sec, "lease_reload") * 1000L);
	load_leases(&lw);
	if (!o.print) {
		lw.w = writer_start(lw.conf->database, &lw.conf->score, lw.conf->queue_capacity,
		    lw.conf->queue_batch, lw.conf->queue_flush_ms, NULL, NULL, err, sizeof err);
		if (lw.w == NULL) {
			log_err("database %s: %s", lw.conf->database, err);
			code = EX_UNAVAILABLE;
			goto out;
		}
	}
	lw.next_lease_mono = bs_mono_ms() + cfg_getint(sec, "lease_reload") * 1000L;

	/* copies: a reload (SIGHUP) replaces the configuration they came from */
	path = path_buf = xstrdup(idx < argc ? argv[idx] : cfg_getstr(sec, "log_file"));
	if (o.replay != NULL) {
		code = run_stream(&lw, o.replay);
	} else if (strcmp(path, "-") == 0) {
		code = run_stream(&lw, "-");
	} else {
		state_path = o.state_file ? o.state_file : cfg_getstr(sec, "state_file");
		if (state_path == NULL || state_path[0] == '\0') {
			const char *dir = lw.conf->state_dir ? lw.conf->state_dir : BS_STATEDIR;
			state_buf = xasprintf("%s/logwatch.state", dir);
		} else {
			state_buf = xstrdup(state_path);
		}
		state_path = state_buf;
		code = run_follow(&lw, path, state_path, &cl);
	}
out:
	if (lw.w != NULL)
		writer_stop(lw.w);
	if (lw.trace != NULL)
		fclose(lw.trace);
	da_free(lw.da);
	logins_free(lw.logins);
	store_close(lw.st);
	lease_table_free(lw.leases);
	free(state_buf);
	free(path_buf);
	conf_unref(lw.conf);
	return code;
}
