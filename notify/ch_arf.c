/*
 * ch_arf.c - the 'arf' channel: an abuse report in the Abuse Reporting
 * Format (RFC 5965) to the abuse desk's address, composed by lib/arf
 * (arf_compose: text part, message/feedback-report, headers-only third
 * part) and sent through the mail transport.
 *
 * What goes in: Source-IP (the incident's first client address), Arrival-Date
 * (when the incident opened), Reported-Domain (notify.arf.reported_domain
 * when set), X-Botsentry-* fields for the incident and its newest evidence
 * (X-Botsentry-Evidence), and the evidence again in the human-readable part.  The third part is a reconstructed trace header with
 * the observed HELO name and address (botsentry keeps no message, so there
 * are no original headers and never a body).
 */
#include "config.h"
#include "arf.h"
#include "channel.h"
#include "mime.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

/* The newest evidence lines also go into the machine-readable part, one
 * X-Botsentry-Evidence field each, cut to keep header lines short. */
#define ARF_EVIDENCE_FIELDS 5
#define ARF_EVIDENCE_LEN 300

struct arf {
	char *to, *from, *reported_domain;
	char domain[256];
};

static void *
arf_open(const struct notify_env *env, cfg_t *sec, char *err, size_t errlen)
{
	struct arf *a;
	char spec[256];
	const char *at;

	(void)env;
	if (!mime_addr_ok(cfg_getstr(sec, "to"))) {
		snprintf(err, errlen, "notify|arf|to: expected a plain address, got '%s'", cfg_getstr(sec, "to"));
		return NULL;
	}
	if (mime_addr_spec(cfg_getstr(sec, "from"), spec, sizeof spec) != 0) {
		snprintf(err, errlen, "notify|arf|from: expected an address or \"Name <address>\", got '%s'",
		    cfg_getstr(sec, "from"));
		return NULL;
	}
	a = xcalloc(1, sizeof *a);
	a->to = xstrdup(cfg_getstr(sec, "to"));
	a->from = xstrdup(cfg_getstr(sec, "from"));
	a->reported_domain = xstrdup(cfg_getstr(sec, "reported_domain"));
	at = strchr(spec, '@');
	bs_strlcpy(a->domain, at ? at + 1 : "localhost", sizeof a->domain);
	return a;
}

/* LF line ends for sendmail (arf_compose writes CRLF). */
static char *
to_lf(const char *s)
{
	char *out = xmalloc(strlen(s) + 1), *o = out;

	for (; *s; s++)
		if (!(*s == '\r' && s[1] == '\n'))
			*o++ = *s;
	*o = '\0';
	return out;
}

static void
arf_deliver(void *ch, const struct notify_env *env, const struct notify_job *job,
    struct ch_result *res)
{
	struct arf *a = ch;
	struct arf_compose c;
	struct arf_field extra[6 + ARF_EVIDENCE_FIELDS];
	char *evl[ARF_EVIDENCE_FIELDS];
	size_t nev = 0, k;
	const char *ip = tmpl_get(job->vars, "client_ip");
	const char *helo = tmpl_get(job->vars, "helo");
	const char *node = tmpl_get(job->vars, "node");
	char *msgid, *subject, *text, *headers = NULL, *msg, *lf;
	char lvl[16], id[32], date[48];

	memset(&c, 0, sizeof c);
	snprintf(lvl, sizeof lvl, "%d", job->d->level);
	snprintf(id, sizeof id, "%lld", (long long)job->inc->id);
	extra[0] = (struct arf_field){ "X-Botsentry-Incident", id };
	extra[1] = (struct arf_field){ "X-Botsentry-Level", lvl };
	extra[2] = (struct arf_field){ "X-Botsentry-Subscriber", job->inc->subscriber };
	extra[3] = (struct arf_field){ "X-Botsentry-Kinds", job->inc->kinds ? job->inc->kinds : "" };
	extra[4] = (struct arf_field){ "X-Botsentry-Sources", job->inc->sources ? job->inc->sources : "" };
	extra[5] = (struct arf_field){ "X-Botsentry-Delivery", job->d->idem_key };
	{
		const char *ev = tmpl_get(job->vars, "evidence"), *p, *start[64];
		size_t n = 0;

		/* the last ARF_EVIDENCE_FIELDS lines that are events ("- ...") */
		for (p = ev ? ev : ""; *p && n < BS_ARRAY_LEN(start); p = strchr(p, '\n') ? strchr(p, '\n') + 1 : p + strlen(p))
			if (p[0] == '-' && p[1] == ' ')
				start[n++] = p + 2;
		for (k = n > ARF_EVIDENCE_FIELDS ? n - ARF_EVIDENCE_FIELDS : 0; k < n; k++) {
			size_t l = strcspn(start[k], "\n");
			evl[nev] = mime_clean(start[k], l > ARF_EVIDENCE_LEN ? ARF_EVIDENCE_LEN : l);
			extra[6 + nev] = (struct arf_field){ "X-Botsentry-Evidence", evl[nev] };
			nev++;
		}
	}
	msgid = mime_message_id(job->d->idem_key, a->domain);
	msgid[strlen(msgid) - 1] = '\0';      /* arf_compose adds the <> */
	subject = xasprintf("Abuse report: subscriber %s, incident %lld, level %d (%s)",
	    job->inc->subscriber, (long long)job->inc->id, job->d->level, job->d->kind);
	text = tmpl_render(
	    "botsentry saw signs that a subscriber's computer or mail account is\n"
	    "being abused to send spam.\n\n"
	    "Incident:     {{incident_id}} (level {{level}}, {{state}})\n"
	    "Subscriber:   {{subscriber}}\n"
	    "Seen:         {{kinds}} from {{sources}}\n"
	    "First seen:   {{first_seen}}\n"
	    "Last seen:    {{last_seen}}\n"
	    "Events:       {{event_count}}\n"
	    "Mitigation:   {{mitigation}}\n\n"
	    "Evidence:\n{{evidence}}\n",
	    "arf report", job->vars, TMPL_TEXT, res->msg, sizeof res->msg);
	if (text == NULL) {
		res->status = CH_RETRY;
		free(msgid);
		free(subject);
		for (k = 0; k < nev; k++)
			free(evl[k]);
		return;
	}
	if (ip != NULL && *ip != '\0') {
		/* hostile values: one line each, whatever the bot sent */
		char *h = mime_clean(helo && *helo ? helo : "unknown", helo && *helo ? strlen(helo) : 7);
		char *i = mime_clean(ip, strlen(ip));
		char *n = mime_clean(node && *node ? node : "localhost", node && *node ? strlen(node) : 9);
		headers = xasprintf("Received: from %s ([%s])\n\tby %s (botsentry); %s\n", h, i, n,
		    mime_date(job->inc->opened_ms, date, sizeof date));
		free(h);
		free(i);
		free(n);
	}
	c.from = a->from;
	c.to = a->to;
	c.subject = subject;
	c.message_id = msgid + 1;
	c.date_ms = job->now_ms;
	c.feedback_type = "abuse";
	c.source_ip = ip && *ip ? ip : NULL;
	c.arrival_ms = job->inc->opened_ms;
	c.reported_domain = *a->reported_domain ? a->reported_domain : NULL;
	c.incidents = (int)(job->inc->event_count > 1 ? job->inc->event_count : 1);
	c.extra = extra;
	c.n_extra = 6 + nev;
	c.human_text = text;
	c.headers = headers;
	msg = arf_compose(&c);
	lf = to_lf(msg);
	mailer_send(env, a->from, a->to, lf, res);
	free(lf);
	free(msg);
	free(headers);
	free(text);
	free(subject);
	free(msgid);
	for (k = 0; k < nev; k++)
		free(evl[k]);
}

static void
arf_close(void *ch)
{
	struct arf *a = ch;

	if (a == NULL)
		return;
	free(a->to);
	free(a->from);
	free(a->reported_domain);
	free(a);
}

const struct channel_ops ch_arf_ops = {
	.name = "arf",
	.open = arf_open,
	.deliver = arf_deliver,
	.tick = NULL,
	.close = arf_close,
};
