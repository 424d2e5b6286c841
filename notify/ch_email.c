/*
 * ch_email.c - the 'email' channel: a plain-text notice to the subscriber,
 * rendered from the template of the notification's kind (new.txt,
 * update.txt, resolved.txt, mitigation.txt in notify.template_dir), sent
 * through the mail transport (mailer.c).
 *
 * Restraint: at most one notice per subscriber per notify.subscriber_interval
 * (a later one is deferred, not dropped; an update or mitigation notice that
 * waited and has since been followed by a newer notice of the incident is
 * skipped as superseded, so the subscriber gets the latest news once).  Idempotency: the Message-ID is
 * made from the delivery's key, so a resend after a crash carries the same
 * Message-ID.  Injection: the subscriber's address must be a plain
 * addr-spec; every header value goes through lib/mime; the body is
 * quoted-printable UTF-8.
 */
#include "config.h"
#include "channel.h"
#include "log.h"
#include "mime.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

struct email {
	char *from;
	char *reply_to;
	char *bcc;
	char domain[256];
};

static void *
email_open(const struct notify_env *env, cfg_t *sec, char *err, size_t errlen)
{
	struct email *e;
	char spec[256];
	const char *at;

	(void)env;
	if (mime_addr_spec(cfg_getstr(sec, "from"), spec, sizeof spec) != 0) {
		snprintf(err, errlen, "notify|email|from: expected an address or \"Name <address>\", got '%s'",
		    cfg_getstr(sec, "from"));
		return NULL;
	}
	if (*cfg_getstr(sec, "reply_to") != '\0'
	    && mime_addr_spec(cfg_getstr(sec, "reply_to"), spec + 128, 128) != 0) {
		snprintf(err, errlen, "notify|email|reply_to: expected an address, got '%s'",
		    cfg_getstr(sec, "reply_to"));
		return NULL;
	}
	if (*cfg_getstr(sec, "bcc") != '\0' && !mime_addr_ok(cfg_getstr(sec, "bcc"))) {
		snprintf(err, errlen, "notify|email|bcc: expected a plain address, got '%s'",
		    cfg_getstr(sec, "bcc"));
		return NULL;
	}
	e = xcalloc(1, sizeof *e);
	e->from = xstrdup(cfg_getstr(sec, "from"));
	e->reply_to = xstrdup(cfg_getstr(sec, "reply_to"));
	e->bcc = xstrdup(cfg_getstr(sec, "bcc"));
	mime_addr_spec(e->from, spec, sizeof spec);
	at = strchr(spec, '@');
	bs_strlcpy(e->domain, at ? at + 1 : "localhost", sizeof e->domain);
	return e;
}

/*
 * Build the whole notice; NULL with res set when the template fails (a
 * broken template is the operator's to fix: retried, so that fixing the file
 * and reloading sends it).
 */
static char *
email_build(const char *from, const char *reply_to, const char *to, const char *domain,
    const char *template_dir, const struct notify_job *job, struct ch_result *res)
{
	struct tmpl_message m;
	struct mbuf b = { 0 };
	char err[512], date[48], name[64];
	char *msgid;

	snprintf(name, sizeof name, "%s.txt", job->d->kind);
	if (tmpl_render_file(template_dir, name, job->vars, &m, err, sizeof err) != 0) {
		ch_result(res, CH_RETRY, "template: %s", err);
		return NULL;
	}
	if (mime_address_header(&b, "From", from) != 0 || mime_address_header(&b, "To", to) != 0) {
		ch_result(res, CH_FAIL, "unusable From or To address");
		mbuf_free(&b);
		tmpl_message_clear(&m);
		return NULL;
	}
	if (reply_to != NULL && *reply_to != '\0')
		mime_address_header(&b, "Reply-To", reply_to);
	mime_header(&b, "Subject", *m.subject ? m.subject : "Important: your Internet connection");
	mime_header(&b, "Date", mime_date(job->now_ms, date, sizeof date));
	msgid = mime_message_id(job->d->idem_key, domain);
	mime_header(&b, "Message-ID", msgid);
	free(msgid);
	mime_header(&b, "MIME-Version", "1.0");
	mime_header(&b, "Content-Type", "text/plain; charset=utf-8");
	mime_header(&b, "Content-Transfer-Encoding", "quoted-printable");
	mime_header(&b, "Auto-Submitted", "auto-generated");
	mbuf_printf(&b, "X-Botsentry-Incident: %lld\n", (long long)job->inc->id);
	mbuf_adds(&b, "\n");
	mime_qp(&b, m.body, strlen(m.body));
	tmpl_message_clear(&m);
	return mbuf_take(&b);
}

static void
email_deliver(void *ch, const struct notify_env *env, const struct notify_job *job,
    struct ch_result *res)
{
	struct email *e = ch;
	const char *to = job->sub ? job->sub->email : NULL;
	int64_t interval_ms = cfg_getint(env->ncfg, "subscriber_interval") * 1000, prev = -1;
	char *msg;
	int rc;

	if (job->sub == NULL && strncmp(job->inc->subscriber, "ip:", 3) == 0) {
		/* unattributed: there is nobody to write to; the desk sees why */
		ch_result(res, CH_SKIPPED, "unattributed incident (%s): no subscriber to notify",
		    job->inc->subscriber);
		return;
	}
	if (to == NULL || *to == '\0') {
		ch_result(res, CH_FAIL, "subscriber has no contact email in the subscribers table");
		return;
	}
	if (!mime_addr_ok(to)) {
		ch_result(res, CH_FAIL, "subscriber's contact email is not a plain address");
		return;
	}
	/* An update or mitigation notice that a later notice of the same
	 * incident supersedes (it waited for the notice interval) is not sent
	 * late: the later one says everything.  A first notice always goes. */
	if ((strcmp(job->d->kind, "update") == 0 || strcmp(job->d->kind, "mitigation") == 0)
	    && store_notify_superseded(env->st, job->d) == 1) {
		ch_result(res, CH_SKIPPED, "superseded by a later notice of the same incident");
		return;
	}
	msg = email_build(e->from, e->reply_to, to, e->domain,
	    cfg_getstr(env->ncfg, "template_dir"), job, res);
	if (msg == NULL)
		return;
	rc = store_notify_notice_slot(env->st, job->d->subscriber, job->d->idem_key, job->now_ms,
	    interval_ms, &prev);
	if (rc == 1) {
		char when[40];

		res->status = CH_DEFER;
		res->defer_until = prev;
		snprintf(res->msg, sizeof res->msg,
		    "subscriber notice interval: one notice went out recently; this one waits until %s",
		    bs_fmt_time(prev, when, sizeof when));
		free(msg);
		return;
	}
	if (rc != 0) {
		ch_result(res, CH_RETRY, "store: %s", store_errmsg(env->st));
		free(msg);
		return;
	}
	mailer_send(env, e->from, to, msg, res);
	if (res->status == CH_SENT && *e->bcc != '\0') {
		struct ch_result r2;
		mailer_send(env, e->from, e->bcc, msg, &r2);
		if (r2.status != CH_SENT)
			log_warn("incident=%lld channel=email bcc failed: %s", (long long)job->inc->id, r2.msg);
	}
	if (res->status != CH_SENT)
		store_notify_notice_release(env->st, job->d->subscriber, prev);
	free(msg);
}

static void
email_close(void *ch)
{
	struct email *e = ch;

	if (e == NULL)
		return;
	free(e->from);
	free(e->reply_to);
	free(e->bcc);
	free(e);
}

const struct channel_ops ch_email_ops = {
	.name = "email",
	.open = email_open,
	.deliver = email_deliver,
	.tick = NULL,
	.close = email_close,
};
