/*
 * ch_rt.c - the 'rt' channel: Request Tracker through its REST 2.0 API with
 * token authentication ("Authorization: token ...").
 *
 * One ticket per incident, created in notify.rt.queue on the first delivery
 * (POST /ticket); later deliveries comment on it (POST /ticket/N/comment).
 * The ticket is kept on the incident (incidents.ticket = "rt:N", and the
 * notify_rt_tickets table), so a retry comments instead of creating a second
 * ticket; a creation retried after a crash first searches the queue for the
 * incident's subject marker "[botsentry incident N]".
 *
 * Two-way: between batches the channel polls the status of the tickets of
 * active incidents every notify.rt.poll_interval (GET /ticket/N) and resolves
 * the incident (actor "rt") when the status is one of
 * notify.rt.resolved_statuses.  When an incident is resolved or marked a
 * false positive in botsentry, the ticket gets a comment saying so and, with
 * notify.rt.resolve_ticket, its status is set to resolved (PUT /ticket/N).
 */
#include "config.h"
#include "channel.h"
#include "log.h"
#include "mime.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rt {
	char *base;              /* ".../REST/2.0" without a trailing slash */
	char *auth;              /* "Authorization: token ..." */
	char *queue;
	int64_t timeout_ms;
	int64_t poll_ms;
	int64_t last_poll;
	int resolve_ticket;
	char **resolved;         /* statuses that resolve the incident, lower-case */
	size_t nresolved;
};

static void *
rt_open(const struct notify_env *env, cfg_t *sec, char *err, size_t errlen)
{
	struct rt *r;
	char *token;
	size_t len, i;
	const char *url = cfg_getstr(sec, "url");

	(void)env;
	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
		snprintf(err, errlen, "notify|rt|url: expected http://HOST[:PORT]/REST/2.0, got '%s'", url);
		return NULL;
	}
	token = bs_read_secret(cfg_getstr(sec, "token_file"), &len, err, errlen);
	if (token == NULL)
		return NULL;
	for (i = 0; i < len; i++)
		if ((unsigned char)token[i] <= 0x20 || (unsigned char)token[i] >= 0x7f) {
			snprintf(err, errlen, "%s: the RT token must be one word of printable ASCII",
			    cfg_getstr(sec, "token_file"));
			free(token);
			return NULL;
		}
	r = xcalloc(1, sizeof *r);
	r->base = xstrdup(url);
	while (*r->base && r->base[strlen(r->base) - 1] == '/')
		r->base[strlen(r->base) - 1] = '\0';
	r->auth = xasprintf("Authorization: token %s", token);
	memset(token, 0, len);
	free(token);
	r->queue = xstrdup(cfg_getstr(sec, "queue"));
	r->timeout_ms = cfg_getint(sec, "timeout") * 1000;
	r->poll_ms = cfg_getint(sec, "poll_interval") * 1000;
	r->resolve_ticket = cfg_getbool(sec, "resolve_ticket");
	r->nresolved = cfg_size(sec, "resolved_statuses");
	r->resolved = xcalloc(r->nresolved + 1, sizeof *r->resolved);
	for (i = 0; i < r->nresolved; i++)
		r->resolved[i] = bs_lower(xstrdup(cfg_getnstr(sec, "resolved_statuses", (unsigned)i)));
	return r;
}

/* One REST call with JSON in and out. */
static int
call(struct rt *r, const char *method, const char *path, json_t *body, struct http_response *resp)
{
	const char *headers[4];
	char *url = xasprintf("%s%s", r->base, path), *b = NULL;
	int rc;

	headers[0] = r->auth;
	headers[1] = "Accept: application/json";
	headers[2] = body ? "Content-Type: application/json; charset=utf-8" : NULL;
	headers[3] = NULL;
	if (body != NULL)
		b = json_dumps(body, JSON_COMPACT);
	rc = http_request(method, url, headers, b, b ? strlen(b) : 0, r->timeout_ms, resp);
	free(b);
	free(url);
	return rc;
}

/* Classify an unsuccessful answer. */
static void
http_fail(struct ch_result *res, const char *what, const struct http_response *h)
{
	char *m = NULL;

	if (h->status == 0) {
		ch_result(res, CH_RETRY, "RT %s: %s", what, h->error);
		return;
	}
	if (h->body != NULL) {
		json_t *j = json_loadb(h->body, h->body_len, 0, NULL);
		if (json_is_string(json_object_get(j, "message")))
			m = mime_clean(json_string_value(json_object_get(j, "message")),
			    strlen(json_string_value(json_object_get(j, "message"))));
		json_decref(j);
	}
	/* 400 on a comment means the ticket is gone; anything else may be
	 * fixed by the RT admin (token, queue rights) or pass (5xx) */
	ch_result(res, h->status == 400 ? CH_FAIL : CH_RETRY, "RT %s: HTTP %ld%s%s", what, h->status,
	    m ? ": " : "", m ? m : "");
	free(m);
}

static char *
urlencode(const char *s)
{
	struct mbuf b = { 0 };
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
		    || strchr("-_.~", c) != NULL) {
			mbuf_add(&b, (const char *)&c, 1);
		} else {
			char t[3] = { '%', hex[c >> 4], hex[c & 15] };
			mbuf_add(&b, t, 3);
		}
	}
	return mbuf_take(&b);
}

static const char *const rt_text =
    "{{opening}}\n\n"
    "Incident:     {{incident_id}} (level {{level}}, {{state}})\n"
    "Subscriber:   {{subscriber}} ({{subscriber_name}})\n"
    "Seen:         {{kinds}} from {{sources}}\n"
    "First seen:   {{first_seen}}\n"
    "Last seen:    {{last_seen}}\n"
    "Events:       {{event_count}}, score {{score}}\n"
    "Addresses:    {{client_ips}}\n"
    "Mitigation:   {{mitigation}}\n\n"
    "Evidence:\n{{evidence}}\n\n"
    "Work it with: botsentry incidents show {{incident_id}}\n"
    "(botsentry delivery {{delivery}})\n";

static char *
render(const struct notify_job *job, const char *opening, struct ch_result *res)
{
	struct tmpl_vars *v = tmpl_vars_new();
	char *t;

	/* the job's variables plus two of our own: copy through the public API */
	static const char *const names[] = { "incident_id", "level", "state", "subscriber",
	    "subscriber_name", "kinds", "sources", "first_seen", "last_seen", "event_count",
	    "score", "client_ips", "mitigation", NULL };
	for (const char *const *n = names; *n; n++)
		tmpl_set(v, *n, tmpl_get(job->vars, *n));
	tmpl_set_lines(v, "evidence", tmpl_get(job->vars, "evidence"));
	tmpl_set(v, "opening", opening);
	tmpl_set(v, "delivery", job->d->idem_key);
	t = tmpl_render(rt_text, "rt ticket text", v, TMPL_TEXT, res->msg, sizeof res->msg);
	if (t == NULL)
		res->status = CH_RETRY;
	tmpl_vars_free(v);
	return t;
}

static void
remember(const struct notify_env *env, const struct notify_job *job, long long id)
{
	char ref[40];

	snprintf(ref, sizeof ref, "rt:%lld", id);
	if (store_incident_set_ticket(env->st, job->inc->id, ref) != 0
	    || store_notify_rt_set(env->st, job->inc->id, id, job->now_ms) != 0)
		log_err("incident=%lld channel=rt cannot record ticket %lld: %s",
		    (long long)job->inc->id, id, store_errmsg(env->st));
}

/* A ticket created by an earlier attempt that died before recording it. */
static int
find_existing(struct rt *r, const struct notify_job *job, long long *id)
{
	struct http_response h;
	char *q, *qe, *path, err[128];
	int rc = 1;

	q = xasprintf("Queue = '%s' AND Subject LIKE '[botsentry incident %lld]'", r->queue,
	    (long long)job->inc->id);
	qe = urlencode(q);
	path = xasprintf("/tickets?query=%s&fields=Subject", qe);
	if (call(r, "GET", path, NULL, &h) == 0 && h.status == 200)
		rc = rt_parse_search(h.body, h.body_len, id, err, sizeof err);
	else
		rc = -1;
	http_response_clear(&h);
	free(path);
	free(qe);
	free(q);
	return rc;
}

static void
create_ticket(struct rt *r, const struct notify_env *env, const struct notify_job *job,
    struct ch_result *res)
{
	struct http_response h;
	json_t *body;
	char *subject, *text, *cs, err[128];
	long long id = 0;

	if (job->d->attempts > 1 && find_existing(r, job, &id) == 0) {
		remember(env, job, id);
		ch_result(res, CH_SENT, "ticket %lld (created by an earlier attempt)", id);
		return;
	}
	text = render(job, strcmp(job->d->kind, "mitigation") == 0
	    ? "botsentry restricted a subscriber's outgoing mail (level 3)."
	    : "botsentry opened an incident that needs the abuse desk.", res);
	if (text == NULL)
		return;
	subject = xasprintf("[botsentry incident %lld] %s: %s (level %d)", (long long)job->inc->id,
	    job->inc->subscriber, job->inc->kinds ? job->inc->kinds : "", job->d->level);
	cs = mime_clean(subject, strlen(subject));
	body = json_pack("{s:s, s:s, s:s, s:s}", "Queue", r->queue, "Subject", cs,
	    "Content", text, "ContentType", "text/plain");
	free(cs);
	free(subject);
	free(text);
	if (body == NULL) {
		ch_result(res, CH_FAIL, "cannot build the ticket JSON");
		return;
	}
	if (call(r, "POST", "/ticket", body, &h) != 0 || h.status != 201) {
		http_fail(res, "create ticket", &h);
		if (h.status == 400 || h.status == 403)
			res->status = CH_RETRY;      /* queue or rights: the admin can fix it */
	} else if (rt_parse_created(h.body, h.body_len, h.location, &id, err, sizeof err) != 0) {
		ch_result(res, CH_RETRY, "RT create ticket: %s", err);
	} else {
		remember(env, job, id);
		ch_result(res, CH_SENT, "created ticket %lld", id);
	}
	json_decref(body);
	http_response_clear(&h);
}

static int
comment(struct rt *r, long long id, const char *text, struct ch_result *res)
{
	struct http_response h;
	json_t *body = json_pack("{s:s, s:s}", "Content", text, "ContentType", "text/plain");
	char path[64];
	int ok;

	snprintf(path, sizeof path, "/ticket/%lld/comment", id);
	ok = call(r, "POST", path, body, &h) == 0 && h.status == 201;
	if (!ok)
		http_fail(res, "comment", &h);
	json_decref(body);
	http_response_clear(&h);
	return ok ? 0 : -1;
}

static int
set_status(struct rt *r, long long id, const char *status, struct ch_result *res)
{
	struct http_response h;
	json_t *body = json_pack("{s:s}", "Status", status);
	char path[64];
	int ok;

	snprintf(path, sizeof path, "/ticket/%lld", id);
	ok = call(r, "PUT", path, body, &h) == 0 && h.status == 200;
	if (!ok)
		http_fail(res, "set status", &h);
	json_decref(body);
	http_response_clear(&h);
	return ok ? 0 : -1;
}

static void
rt_deliver(void *ch, const struct notify_env *env, const struct notify_job *job,
    struct ch_result *res)
{
	struct rt *r = ch;
	int64_t ticket = 0;
	const char *kind = job->d->kind, *opening;
	char *text;
	int closing = strcmp(kind, "resolved") == 0;

	if (store_notify_rt_get(env->st, job->inc->id, &ticket) != STORE_OK) {
		ticket = 0;
		if (job->inc->ticket != NULL && strncmp(job->inc->ticket, "rt:", 3) == 0)
			ticket = strtoll(job->inc->ticket + 3, NULL, 10);
	}
	if (ticket <= 0) {
		if (closing) {
			ch_result(res, CH_SKIPPED, "no RT ticket to close");
			return;
		}
		create_ticket(r, env, job, res);
		return;
	}
	if (strcmp(kind, "new") == 0) {
		ch_result(res, CH_SENT, "ticket %lld exists", (long long)ticket);
		return;
	}
	if (closing)
		opening = strcmp(job->inc->state, "false_positive") == 0
		    ? "botsentry: the abuse desk marked this incident a false positive."
		    : "botsentry: the incident was resolved.";
	else if (strcmp(kind, "mitigation") == 0)
		opening = "botsentry: level 3 reached; the subscriber's outgoing mail is now restricted.";
	else
		opening = "botsentry: the incident grew.";
	text = render(job, opening, res);
	if (text == NULL)
		return;
	if (comment(r, ticket, text, res) != 0) {
		free(text);
		return;
	}
	free(text);
	if (closing && r->resolve_ticket && set_status(r, ticket, "resolved", res) != 0)
		return;
	if (closing)
		store_notify_rt_polled(env->st, job->inc->id, "resolved", 1, job->now_ms);
	ch_result(res, CH_SENT, "%s ticket %lld", closing ? "closed" : "commented on",
	    (long long)ticket);
}

struct poll_ctx {
	struct rt *r;
	const struct notify_env *env;
	int64_t now;
};

static int
poll_one(void *ud, int64_t incident_id, int64_t ticket)
{
	struct poll_ctx *p = ud;
	struct http_response h;
	char path[64], status[80], err[256], note[128];
	long long id;
	size_t i;
	int resolved = 0;

	snprintf(path, sizeof path, "/ticket/%lld", (long long)ticket);
	if (call(p->r, "GET", path, NULL, &h) != 0 || h.status != 200) {
		log_warn("incident=%lld channel=rt poll of ticket %lld failed: HTTP %ld %s",
		    (long long)incident_id, (long long)ticket, h.status, h.error);
		store_notify_rt_polled(p->env->st, incident_id, "unknown", 0, p->now);
		http_response_clear(&h);
		return 0;
	}
	if (rt_parse_ticket(h.body, h.body_len, &id, status, sizeof status, err, sizeof err) != 0) {
		log_warn("incident=%lld channel=rt ticket %lld: %s", (long long)incident_id,
		    (long long)ticket, err);
		store_notify_rt_polled(p->env->st, incident_id, "unknown", 0, p->now);
		http_response_clear(&h);
		return 0;
	}
	http_response_clear(&h);
	for (i = 0; i < p->r->nresolved; i++)
		if (strcmp(status, p->r->resolved[i]) == 0)
			resolved = 1;
	if (resolved) {
		snprintf(note, sizeof note, "RT ticket %lld is %s", (long long)ticket, status);
		if (store_incident_set_state(p->env->st, incident_id, "resolved", "rt", note, p->now) != 0)
			log_err("incident=%lld channel=rt cannot resolve: %s", (long long)incident_id,
			    store_errmsg(p->env->st));
		else
			log_notice("incident=%lld channel=rt resolved because %s", (long long)incident_id, note);
	}
	store_notify_rt_polled(p->env->st, incident_id, status, resolved, p->now);
	return 0;
}

/* A ticket whose incident was closed in botsentry without a 'resolved'
 * delivery (a false positive enqueues none): say so on the ticket. */
static int
close_one(void *ud, int64_t incident_id, int64_t ticket, const char *state)
{
	struct poll_ctx *p = ud;
	struct ch_result res;
	char text[256];

	snprintf(text, sizeof text, "botsentry: incident %lld was closed by the abuse desk as %s.\n",
	    (long long)incident_id, strcmp(state, "false_positive") == 0 ? "a false positive" : "resolved");
	if (comment(p->r, ticket, text, &res) != 0
	    || (p->r->resolve_ticket && set_status(p->r, ticket, "resolved", &res) != 0)) {
		log_warn("incident=%lld channel=rt cannot close ticket %lld: %s", (long long)incident_id,
		    (long long)ticket, res.msg);
		return 0;
	}
	store_notify_rt_polled(p->env->st, incident_id, "resolved", 1, p->now);
	log_notice("incident=%lld channel=rt ticket=%lld closed state=%s", (long long)incident_id,
	    (long long)ticket, state);
	return 0;
}

static void
rt_tick(void *ch, const struct notify_env *env, int64_t now_ms)
{
	struct rt *r = ch;
	struct poll_ctx p = { r, env, now_ms };

	store_notify_rt_closing(env->st, 50, close_one, &p);
	if (now_ms - r->last_poll < r->poll_ms)
		return;
	r->last_poll = now_ms;
	if (store_notify_rt_due(env->st, now_ms, r->poll_ms, 200, poll_one, &p) == STORE_ERR)
		log_err("channel=rt cannot list tickets to poll: %s", store_errmsg(env->st));
}

static void
rt_close(void *ch)
{
	struct rt *r = ch;
	size_t i;

	if (r == NULL)
		return;
	free(r->base);
	if (r->auth != NULL)
		memset(r->auth, 0, strlen(r->auth));
	free(r->auth);
	free(r->queue);
	for (i = 0; i < r->nresolved; i++)
		free(r->resolved[i]);
	free(r->resolved);
	free(r);
}

const struct channel_ops ch_rt_ops = {
	.name = "rt",
	.open = rt_open,
	.deliver = rt_deliver,
	.tick = rt_tick,
	.close = rt_close,
};
