/*
 * conf_notify.c - the 'notify' section of botsentry.conf: the keys of
 * botsentry-notifyd.  Declared here, once, with defaults and bounds;
 * documented in man/botsentry.conf.5 (man/conf/50-notify.man) and shown in
 * conf/botsentry.conf (conf/sample/50-notify.conf).
 *
 * Layout: general delivery settings (poll interval, batch, claim lease,
 * retry and backoff limits, the subscriber notice interval, templates and
 * the mail transport shared by 'email' and 'arf'), then one subsection per
 * channel.  Each channel subsection carries its own escalation rule: the
 * incident levels and the notification kinds on which it fires.
 */
#include "config.h"
#include "conf.h"

#include <string.h>

#ifndef BS_DATADIR
#define BS_DATADIR "/usr/share/botsentry"
#endif

#define NOTIFY_RULE(levels, kinds) \
	CFG_BOOL("enabled", cfg_false, CFGF_NONE), \
	CFG_INT_LIST("levels", levels, CFGF_NONE), \
	CFG_STR_LIST("kinds", kinds, CFGF_NONE)

static cfg_opt_t email_opts[] = {
	NOTIFY_RULE("{1, 2, 3}", "{new, update, resolved, mitigation}"),
	CFG_STR("from", "Abuse desk <abuse@localhost>", CFGF_NONE),
	CFG_STR("reply_to", "", CFGF_NONE),
	CFG_STR("bcc", "", CFGF_NONE),
	CFG_END()
};

static cfg_opt_t arf_opts[] = {
	NOTIFY_RULE("{2, 3}", "{new, update}"),
	CFG_STR("to", "abuse@localhost", CFGF_NONE),
	CFG_STR("from", "botsentry <abuse@localhost>", CFGF_NONE),
	CFG_STR("reported_domain", "", CFGF_NONE),
	CFG_END()
};

static cfg_opt_t rt_opts[] = {
	NOTIFY_RULE("{2, 3}", "{new, update, resolved, mitigation}"),
	CFG_STR("url", "http://127.0.0.1/REST/2.0", CFGF_NONE),
	CFG_STR("token_file", "", CFGF_NONE),
	CFG_STR("queue", "General", CFGF_NONE),
	CFG_DURATION("timeout", 30),
	CFG_DURATION("poll_interval", 300),
	CFG_STR_LIST("resolved_statuses", "{resolved}", CFGF_NONE),
	CFG_BOOL("resolve_ticket", cfg_true, CFGF_NONE),
	CFG_END()
};

static cfg_opt_t webhook_opts[] = {
	NOTIFY_RULE("{1, 2, 3}", "{new, update, resolved, mitigation}"),
	CFG_STR("url", "", CFGF_NONE),
	CFG_STR("secret_file", "", CFGF_NONE),
	CFG_DURATION("timeout", 10),
	CFG_INT("max_events", 100, CFGF_NONE),
	CFG_END()
};

static cfg_opt_t exec_opts[] = {
	NOTIFY_RULE("{3}", "{mitigation, resolved}"),
	CFG_STR_LIST("command", "{}", CFGF_NONE),
	CFG_DURATION("timeout", 30),
	CFG_END()
};

static cfg_opt_t notify_opts[] = {
	CFG_STR("pid_file", "", CFGF_NONE),
	CFG_DURATION("poll_interval", 10),
	CFG_INT("batch_size", 20, CFGF_NONE),
	CFG_DURATION("lease", 300),
	CFG_INT("max_attempts", 10, CFGF_NONE),
	CFG_DURATION("backoff_initial", 60),
	CFG_DURATION("backoff_max", 6 * 3600),
	CFG_DURATION("subscriber_interval", 86400),
	CFG_STR("template_dir", BS_DATADIR "/templates", CFGF_NONE),
	CFG_STR("organization", "Your Internet provider", CFGF_NONE),
	CFG_STR("help_url", "", CFGF_NONE),
	CFG_STR("help_contact", "", CFGF_NONE),
	CFG_STR("sendmail", "/usr/sbin/sendmail", CFGF_NONE),
	CFG_STR_LIST("sendmail_args", "{}", CFGF_NONE),
	CFG_STR("smtp_url", "", CFGF_NONE),
	CFG_STR("envelope_from", "", CFGF_NONE),
	CFG_DURATION("mail_timeout", 60),
	CFG_SEC("email", email_opts, CFGF_NONE),
	CFG_SEC("arf", arf_opts, CFGF_NONE),
	CFG_SEC("rt", rt_opts, CFGF_NONE),
	CFG_SEC("webhook", webhook_opts, CFGF_NONE),
	CFG_SEC("exec", exec_opts, CFGF_NONE),
	CFG_END()
};

static const struct conf_bound notify_bounds[] = {
	{ "notify|poll_interval", 1, 86400 },
	{ "notify|batch_size", 1, 1000 },
	{ "notify|lease", 1, 86400 },
	{ "notify|max_attempts", 1, 1000 },
	{ "notify|backoff_initial", 1, 86400 },
	{ "notify|backoff_max", 1, 30L * 86400 },
	{ "notify|subscriber_interval", 0, 30L * 86400 },
	{ "notify|mail_timeout", 1, 3600 },
	{ "notify|rt|timeout", 1, 600 },
	{ "notify|rt|poll_interval", 1, 86400 },
	{ "notify|webhook|timeout", 1, 600 },
	{ "notify|webhook|max_events", 0, 10000 },
	{ "notify|exec|timeout", 1, 3600 },
	{ NULL, 0, 0 }
};

static const char *const kinds[] = { "new", "update", "resolved", "mitigation", NULL };
static const char *const channels[] = { "email", "arf", "rt", "webhook", "exec", NULL };

static int
known_kind(const char *k)
{
	const char *const *p;

	for (p = kinds; *p != NULL; p++)
		if (strcmp(*p, k) == 0)
			return 1;
	return 0;
}

/* No CR, LF or NUL in anything that ends up in a mail header or URL. */
static void
check_line(cfg_t *sec, const char *where, const char *key, int *nerr)
{
	const char *v = cfg_getstr(sec, key);

	if (v != NULL && strpbrk(v, "\r\n") != NULL)
		conf_error(sec, nerr, "option '%s|%s': must be one line", where, key);
}

static void
notify_check(cfg_t *root, int *nerr)
{
	cfg_t *n = cfg_getsec(root, "notify");
	const char *const *ch;
	unsigned i;

	if (n == NULL)
		return;
	if (cfg_getint(n, "backoff_initial") > cfg_getint(n, "backoff_max")) {
		static const char *const keys[] = { "notify|backoff_initial", "notify|backoff_max", NULL };
		conf_error_keys(n, nerr, keys,
		    "section 'notify': expected backoff_initial <= backoff_max, got %ld > %ld",
		    cfg_getint(n, "backoff_initial"), cfg_getint(n, "backoff_max"));
	}
	check_line(n, "notify", "envelope_from", nerr);
	check_line(n, "notify", "organization", nerr);
	check_line(n, "notify", "help_url", nerr);
	for (ch = channels; *ch != NULL; ch++) {
		cfg_t *s = cfg_getsec(n, *ch);

		for (i = 0; i < cfg_size(s, "levels"); i++) {
			long lv = cfg_getnint(s, "levels", i);
			if (lv < 1 || lv > 3)
				conf_error(s, nerr, "option 'notify|%s|levels': expected levels 1, 2 or 3, got %ld",
				    *ch, lv);
		}
		for (i = 0; i < cfg_size(s, "kinds"); i++)
			if (!known_kind(cfg_getnstr(s, "kinds", i)))
				conf_error(s, nerr, "option 'notify|%s|kinds': expected new, update, resolved or mitigation, got '%s'",
				    *ch, cfg_getnstr(s, "kinds", i));
	}
	check_line(cfg_getsec(n, "email"), "notify|email", "from", nerr);
	check_line(cfg_getsec(n, "email"), "notify|email", "reply_to", nerr);
	check_line(cfg_getsec(n, "email"), "notify|email", "bcc", nerr);
	check_line(cfg_getsec(n, "arf"), "notify|arf", "to", nerr);
	check_line(cfg_getsec(n, "arf"), "notify|arf", "from", nerr);
	check_line(cfg_getsec(n, "arf"), "notify|arf", "reported_domain", nerr);
	check_line(cfg_getsec(n, "rt"), "notify|rt", "url", nerr);
	check_line(cfg_getsec(n, "rt"), "notify|rt", "queue", nerr);
	check_line(cfg_getsec(n, "webhook"), "notify|webhook", "url", nerr);
	if (cfg_getbool(cfg_getsec(n, "webhook"), "enabled")) {
		const char *u = cfg_getstr(cfg_getsec(n, "webhook"), "url");
		if (u == NULL || (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0))
			conf_error(n, nerr, "option 'notify|webhook|url': expected an http:// or https:// URL when the webhook is enabled");
		if (*cfg_getstr(cfg_getsec(n, "webhook"), "secret_file") == '\0')
			conf_error(n, nerr, "option 'notify|webhook|secret_file': expected a file holding the signing secret when the webhook is enabled");
	}
	if (cfg_getbool(cfg_getsec(n, "rt"), "enabled")
	    && *cfg_getstr(cfg_getsec(n, "rt"), "token_file") == '\0')
		conf_error(n, nerr, "option 'notify|rt|token_file': expected a file holding the RT auth token when rt is enabled");
	if (cfg_getbool(cfg_getsec(n, "exec"), "enabled")) {
		cfg_t *e = cfg_getsec(n, "exec");
		if (cfg_size(e, "command") == 0 || cfg_getnstr(e, "command", 0)[0] != '/')
			conf_error(n, nerr, "option 'notify|exec|command': expected {\"/absolute/program\", \"arg\", ...} when exec is enabled");
	}
	{
		const char *s = cfg_getstr(n, "smtp_url");
		if (s != NULL && *s != '\0' && strncmp(s, "smtp://", 7) != 0 && strncmp(s, "smtps://", 8) != 0)
			conf_error(n, nerr, "option 'notify|smtp_url': expected smtp://HOST[:PORT] or smtps://..., got '%s'", s);
		if (s == NULL || *s == '\0') {
			const char *sm = cfg_getstr(n, "sendmail");
			if (sm == NULL || sm[0] != '/')
				conf_error(n, nerr, "option 'notify|sendmail': expected an absolute path");
		}
	}
}

const struct conf_area conf_area_notify = {
	.name = "notify",
	.opts = notify_opts,
	.bounds = notify_bounds,
	.check = notify_check,
};
