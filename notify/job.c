/*
 * job.c - everything a channel needs about one delivery, loaded once: the
 * incident, the subscriber, the incident's new events, the JSON document
 * (webhook, exec, RT) and the template variables (email, ARF, RT text).
 *
 * The variables are documented in botsentry-notifyd(8), TEMPLATE VARIABLES;
 * keep the two in step.  Values that came from a bot (evidence) are put in
 * as they are: lib/template escapes them for the place they land.
 */
#include "config.h"
#include "channel.h"
#include "mime.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#ifndef BS_NOTIFY_MAX_EVENTS
#define BS_NOTIFY_MAX_EVENTS 500      /* kept in memory per job */
#endif
#define EVIDENCE_LINES 15

struct notify_job_data {
	struct incident inc;
	struct subscriber sub;
	int have_sub;
	struct delivery d;
	json_t *incident_json;
	json_t *events_json;
	struct tmpl_vars *vars;
};

struct evctx {
	json_t *all;             /* every event, oldest first, bounded */
	int64_t since_ms;
	char first_ip[64];
	char first_helo[256];
	char node[64];
	char ips[512];
	size_t nips;
};

static void
time_str(int64_t ms, char *buf, size_t size)
{
	if (ms <= 0)
		bs_strlcpy(buf, "", size);
	else
		bs_fmt_time(ms, buf, size);
}

static json_t *
comma_array(const char *s)
{
	json_t *a = json_array();
	const char *p = s;

	while (p != NULL && *p) {
		const char *c = strchr(p, ',');
		size_t n = c ? (size_t)(c - p) : strlen(p);
		if (n > 0)
			json_array_append_new(a, json_stringn(p, n));
		p = c ? c + 1 : NULL;
	}
	return a;
}

/* Find a HELO sample in an evidence object: "helo" (string) or the first
 * string of an array whose key mentions helo. */
static const char *
evidence_helo(json_t *ev)
{
	const char *key;
	json_t *v;

	if (!json_is_object(ev))
		return NULL;
	v = json_object_get(ev, "helo");
	if (json_is_string(v))
		return json_string_value(v);
	json_object_foreach(ev, key, v) {
		if (strstr(key, "helo") != NULL && json_is_array(v) && json_array_size(v) > 0
		    && json_is_string(json_array_get(v, 0)))
			return json_string_value(json_array_get(v, 0));
	}
	return NULL;
}

static int
on_event(void *ud, const struct stored_event *e)
{
	struct evctx *c = ud;
	json_t *o, *evj;
	json_error_t jerr;
	char t[40];
	const char *helo;

	evj = e->ev.evidence ? json_loads(e->ev.evidence, JSON_REJECT_DUPLICATES, &jerr) : json_object();
	if (evj == NULL)
		evj = json_string(e->ev.evidence);     /* stored text that is not JSON: kept as text */
	if (evj == NULL)
		evj = json_object();
	bs_fmt_time(e->ev.ts_ms, t, sizeof t);
	o = json_pack("{s:I, s:s, s:I, s:s, s:s, s:s, s:f, s:s, s:s, s:o}",
	    "id", (json_int_t)e->id, "time", t, "ts_ms", (json_int_t)e->ev.ts_ms,
	    "subscriber", e->ev.subscriber, "source", e->ev.source, "kind", e->ev.kind,
	    "score", isfinite(e->ev.score) ? e->ev.score : 0.0, "client_ip", e->ev.client_ip,
	    "node", e->ev.node, "evidence", evj);
	if (o == NULL)
		return 0;           /* not valid UTF-8 in a fixed field: leave the event out */
	json_object_set_new(o, "new", json_boolean(e->ev.ts_ms >= c->since_ms));
	json_array_append_new(c->all, o);
	if (json_array_size(c->all) > BS_NOTIFY_MAX_EVENTS)
		json_array_remove(c->all, 0);
	if (*e->ev.client_ip) {
		if (c->first_ip[0] == '\0')
			bs_strlcpy(c->first_ip, e->ev.client_ip, sizeof c->first_ip);
		if (c->nips < 10 && strstr(c->ips, e->ev.client_ip) == NULL) {
			size_t l = strlen(c->ips);
			snprintf(c->ips + l, sizeof c->ips - l, "%s%s", l ? ", " : "", e->ev.client_ip);
			c->nips++;
		}
	}
	if (c->node[0] == '\0' && *e->ev.node)
		bs_strlcpy(c->node, e->ev.node, sizeof c->node);
	helo = evidence_helo(evj);
	if (helo != NULL && c->first_helo[0] == '\0')
		bs_strlcpy(c->first_helo, helo, sizeof c->first_helo);
	return 0;
}

/* One line per recent event: "time source/kind from ip: key=value, ..." */
static char *
evidence_lines(json_t *events)
{
	struct mbuf b = { 0 };
	size_t n = json_array_size(events), i, from = n > EVIDENCE_LINES ? n - EVIDENCE_LINES : 0;

	for (i = from; i < n; i++) {
		json_t *e = json_array_get(events, i), *ev = json_object_get(e, "evidence"), *v;
		const char *key;
		struct mbuf l = { 0 };
		int first = 1;

		mbuf_printf(&l, "- %s %s/%s", json_string_value(json_object_get(e, "time")),
		    json_string_value(json_object_get(e, "source")),
		    json_string_value(json_object_get(e, "kind")));
		if (*json_string_value(json_object_get(e, "client_ip")))
			mbuf_printf(&l, " from %s", json_string_value(json_object_get(e, "client_ip")));
		if (json_is_object(ev)) {
			json_object_foreach(ev, key, v) {
				mbuf_printf(&l, "%s%s=", first ? ": " : ", ", key);
				first = 0;
				if (json_is_string(v)) {
					mbuf_printf(&l, "\"%s\"", json_string_value(v));
				} else if (json_is_array(v)) {
					size_t k;
					mbuf_adds(&l, "[");
					for (k = 0; k < json_array_size(v) && k < 5; k++) {
						json_t *x = json_array_get(v, k);
						char *s = json_dumps(x, JSON_ENCODE_ANY);
						mbuf_printf(&l, "%s%s", k ? ", " : "", s ? s : "?");
						free(s);
					}
					mbuf_adds(&l, json_array_size(v) > 5 ? ", ...]" : "]");
				} else {
					char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
					mbuf_adds(&l, s ? s : "?");
					free(s);
				}
				if (l.len > 400)
					break;
			}
		} else if (json_is_string(ev)) {
			mbuf_printf(&l, ": %s", json_string_value(ev));
		}
		/* one line each; lib/template cleans control bytes and cuts */
		for (char *p = l.p; p && *p; p++)
			if (*p == '\n' || *p == '\r')
				*p = ' ';
		mbuf_adds(&b, l.p ? l.p : "");
		mbuf_adds(&b, "\n");
		mbuf_free(&l);
	}
	if (from > 0)
		mbuf_printf(&b, "(and %zu earlier events)\n", from);
	if (b.len > 0)
		b.p[--b.len] = '\0';
	return mbuf_take(&b);
}

/* Plain words for each kind of event, for the subscriber. */
static const struct {
	const char *kind, *text;
} kind_words[] = {
	{ "rate", "Much more email than usual was sent through your connection in a short time." },
	{ "fanout", "Email went from your connection to an unusually large number of different destinations." },
	{ "helo", "A program on your connection announced itself to our mail server in a way that normal mail programs do not; spam software does this." },
	{ "sender_forgery", "Email was sent from your connection under sender addresses that do not belong to you." },
	{ "dkim_replay", "Your connection re-sent email signed by other companies, a trick spammers use." },
	{ "direct_mx", "A device on your connection tried to deliver email directly to other providers' mail servers, bypassing ours; infected computers do this." },
	{ "auth_bruteforce", "Someone tried many passwords on your email account." },
	{ "credential_abuse", "Your email account's password appears to be used by someone else to send email." },
	{ "fbl", "Other providers reported spam coming from your connection." },
};

static char *
what_seen(const char *kinds)
{
	struct mbuf b = { 0 };
	const char *p = kinds;

	while (p != NULL && *p) {
		const char *c = strchr(p, ',');
		size_t n = c ? (size_t)(c - p) : strlen(p), i;
		int found = 0;

		for (i = 0; i < BS_ARRAY_LEN(kind_words); i++)
			if (strlen(kind_words[i].kind) == n && strncmp(kind_words[i].kind, p, n) == 0) {
				mbuf_printf(&b, "%s- %s", b.len ? "\n" : "", kind_words[i].text);
				found = 1;
			}
		if (!found && n > 0)
			mbuf_printf(&b, "%s- Unusual email activity (%.*s).", b.len ? "\n" : "", (int)n, p);
		p = c ? c + 1 : NULL;
	}
	return mbuf_take(&b);
}

static const char *
level_text(int level)
{
	switch (level) {
	case 1: return "We noticed signs of abuse and are letting you know.";
	case 2: return "The signs are strong; our abuse desk has been told and is following up.";
	case 3: return "The abuse continued; we have restricted outgoing email from your connection.";
	default: return "We are watching unusual activity.";
	}
}

static const char *
mitigation_text(const char *m)
{
	if (m == NULL || strcmp(m, "monitor") == 0)
		return "Your email is not restricted.";
	if (strcmp(m, "throttle") == 0)
		return "Until this is fixed, outgoing email from your connection is slowed down: a few messages still go out, larger amounts are delayed.";
	if (strcmp(m, "quarantine") == 0)
		return "Until this is fixed, outgoing email from your connection is held by us and not delivered.";
	if (strcmp(m, "reject") == 0)
		return "Until this is fixed, outgoing email from your connection is refused.";
	return "Outgoing email from your connection is restricted.";
}

char *
notify_job_json(const struct notify_job *job, const char *channel, size_t max_events)
{
	json_t *doc, *evs = json_array();
	size_t n = json_array_size(job->events_json), i, k = 0;
	char t[40];
	char *s;

	/* the new events, newest last, at most max_events */
	for (i = 0; i < n; i++)
		if (json_is_true(json_object_get(json_array_get(job->events_json, i), "new")))
			k++;
	for (i = 0; i < n; i++) {
		json_t *e = json_array_get(job->events_json, i);
		if (!json_is_true(json_object_get(e, "new")))
			continue;
		if (k-- > max_events)
			continue;
		json_array_append(evs, e);
	}
	bs_fmt_time(job->now_ms, t, sizeof t);
	doc = json_pack("{s:s, s:s, s:s, s:i, s:s, s:O, s:o}",
	    "delivery", job->d->idem_key, "channel", channel, "kind", job->d->kind,
	    "level", job->d->level, "time", t, "incident", job->incident_json, "events", evs);
	s = doc ? json_dumps(doc, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
	json_decref(doc);
	return s ? s : xstrdup("{}");
}

int
notify_job_load(const struct notify_env *env, const struct delivery *d, int64_t now_ms,
    struct notify_job *job, struct notify_job_data **datap)
{
	struct notify_job_data *x = xcalloc(1, sizeof *x);
	struct evctx ec;
	cfg_t *n = env->ncfg;
	char t1[40], t2[40], t3[40];
	char *s;
	int rc;

	*datap = x;
	memset(job, 0, sizeof *job);
	memset(&ec, 0, sizeof ec);
	rc = store_incident_get(env->st, d->incident_id, &x->inc);
	if (rc != STORE_OK)
		return rc;
	rc = store_subscriber_get(env->st, x->inc.subscriber, &x->sub);
	if (rc == STORE_ERR)
		return rc;
	x->have_sub = rc == STORE_OK;
	ec.all = json_array();
	ec.since_ms = strcmp(d->kind, "new") == 0 ? 0
	    : store_notify_prev_ms(env->st, d->incident_id, d->notification_id);
	rc = store_incident_events(env->st, x->inc.id, on_event, &ec);
	if (rc == STORE_ERR) {
		json_decref(ec.all);
		return rc;
	}
	x->events_json = ec.all;

	time_str(x->inc.opened_ms, t1, sizeof t1);
	time_str(x->inc.updated_ms, t2, sizeof t2);
	time_str(x->inc.closed_ms, t3, sizeof t3);
	x->incident_json = json_pack("{s:I, s:s, s:s, s:i, s:f, s:s, s:s, s:s, s:I, s:o, s:o, s:s}",
	    "id", (json_int_t)x->inc.id, "subscriber", x->inc.subscriber, "state", x->inc.state,
	    "level", x->inc.level, "score", isfinite(x->inc.score) ? x->inc.score : 0.0,
	    "opened", t1, "updated", t2, "closed", t3, "event_count", (json_int_t)x->inc.event_count,
	    "kinds", comma_array(x->inc.kinds), "sources", comma_array(x->inc.sources),
	    "mitigation", x->have_sub && x->sub.mitigation ? x->sub.mitigation : "monitor");
	if (x->incident_json == NULL)
		x->incident_json = json_pack("{s:I}", "id", (json_int_t)x->inc.id);
	if (x->inc.ticket != NULL)
		json_object_set_new(x->incident_json, "ticket", json_string(x->inc.ticket));

	x->vars = tmpl_vars_new();
	tmpl_set(x->vars, "organization", cfg_getstr(n, "organization"));
	tmpl_set(x->vars, "help_url", cfg_getstr(n, "help_url"));
	tmpl_set(x->vars, "help_contact", cfg_getstr(n, "help_contact"));
	tmpl_set(x->vars, "subscriber", x->inc.subscriber);
	tmpl_set(x->vars, "subscriber_name", x->have_sub && x->sub.name && *x->sub.name
	    ? x->sub.name : "customer");
	tmpl_set(x->vars, "subscriber_email", x->have_sub ? x->sub.email : "");
	tmpl_setf(x->vars, "incident_id", "%lld", (long long)x->inc.id);
	tmpl_setf(x->vars, "level", "%d", d->level);
	tmpl_set(x->vars, "level_text", level_text(d->level));
	tmpl_set(x->vars, "state", x->inc.state);
	tmpl_set(x->vars, "kind", d->kind);
	tmpl_set(x->vars, "kinds", x->inc.kinds);
	s = what_seen(x->inc.kinds);
	tmpl_set_lines(x->vars, "what_seen", s);
	free(s);
	tmpl_set(x->vars, "sources", x->inc.sources);
	tmpl_set(x->vars, "first_seen", t1);
	tmpl_set(x->vars, "last_seen", t2);
	tmpl_set(x->vars, "closed", t3);
	tmpl_setf(x->vars, "event_count", "%lld", (long long)x->inc.event_count);
	tmpl_setf(x->vars, "score", "%.1f", isfinite(x->inc.score) ? x->inc.score : 0.0);
	tmpl_set(x->vars, "client_ip", ec.first_ip);
	tmpl_set(x->vars, "client_ips", ec.ips);
	tmpl_set(x->vars, "helo", ec.first_helo);
	tmpl_set(x->vars, "node", ec.node);
	s = evidence_lines(ec.all);
	tmpl_set_lines(x->vars, "evidence", s);
	free(s);
	tmpl_set(x->vars, "mitigation", x->have_sub && x->sub.mitigation ? x->sub.mitigation : "monitor");
	tmpl_set(x->vars, "mitigation_text",
	    mitigation_text(x->have_sub ? x->sub.mitigation : NULL));
	tmpl_set(x->vars, "ticket", x->inc.ticket ? x->inc.ticket : "");
	bs_fmt_time(now_ms, t1, sizeof t1);
	tmpl_set(x->vars, "date", t1);

	job->d = d;
	job->inc = &x->inc;
	job->sub = x->have_sub ? &x->sub : NULL;
	job->incident_json = x->incident_json;
	job->events_json = x->events_json;
	job->vars = x->vars;
	job->now_ms = now_ms;
	return STORE_OK;
}

void
notify_job_free(struct notify_job_data *x)
{
	if (x == NULL)
		return;
	incident_clear(&x->inc);
	subscriber_clear(&x->sub);
	json_decref(x->incident_json);
	json_decref(x->events_json);
	tmpl_vars_free(x->vars);
	free(x);
}
