/*
 * conf_milter.c - the 'milter' section of botsentry.conf: the keys of
 * botsentry-milter (daemon, policy) and of its detectors.
 * Declared here, once, with defaults and bounds; documented in
 * man/conf/20-milter.man (botsentry.conf(5)) and conf/sample/20-milter.conf.
 * lib/detect.c reads the detector keys into a struct detect_config; the
 * milter reads its daemon keys with cfg_get*(c->cfg, "milter|KEY").
 */
#include "config.h"
#include "conf.h"

#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define LIMITS(what, d1, d10, d60) \
	CFG_INT("max_" what "_1m", d1, CFGF_NONE), \
	CFG_INT("max_" what "_10m", d10, CFGF_NONE), \
	CFG_INT("max_" what "_1h", d60, CFGF_NONE)

static cfg_opt_t rate_opts[] = {
	CFG_BOOL("enabled", cfg_true, CFGF_NONE),
	CFG_FLOAT("score", 10.0, CFGF_NONE),
	CFG_STR("action", "throttle", CFGF_NONE),
	LIMITS("messages", 10, 30, 100),
	LIMITS("recipients", 50, 150, 300),
	CFG_END()
};

static cfg_opt_t fanout_opts[] = {
	CFG_BOOL("enabled", cfg_true, CFGF_NONE),
	CFG_FLOAT("score", 10.0, CFGF_NONE),
	CFG_STR("action", "monitor", CFGF_NONE),
	LIMITS("domains", 15, 30, 60),
	CFG_END()
};

static cfg_opt_t helo_opts[] = {
	CFG_BOOL("enabled", cfg_true, CFGF_NONE),
	CFG_STR("action", "monitor", CFGF_NONE),
	CFG_STR_LIST("providers",
	    "{gmail.com, googlemail.com, yahoo.com, yahoo.co.uk, ymail.com, outlook.com, "
	    "hotmail.com, live.com, msn.com, aol.com, icloud.com, me.com, gmx.net, gmx.de, "
	    "web.de, mail.ru, yandex.ru, protonmail.com, zoho.com}", CFGF_NONE),
	CFG_FLOAT("score_empty", 5.0, CFGF_NONE),
	CFG_FLOAT("score_too_long", 10.0, CFGF_NONE),
	CFG_FLOAT("score_control", 10.0, CFGF_NONE),
	CFG_FLOAT("score_bare_ip", 5.0, CFGF_NONE),
	CFG_FLOAT("score_literal_other", 10.0, CFGF_NONE),
	CFG_FLOAT("score_literal_ok", 0.0, CFGF_NONE),
	CFG_FLOAT("score_literal_private", 0.0, CFGF_NONE),
	CFG_FLOAT("score_invalid", 5.0, CFGF_NONE),
	CFG_FLOAT("score_single_label", 0.0, CFGF_NONE),
	CFG_FLOAT("score_own_host", 15.0, CFGF_NONE),
	CFG_FLOAT("score_own_domain", 10.0, CFGF_NONE),
	CFG_FLOAT("score_provider", 15.0, CFGF_NONE),
	CFG_FLOAT("score_churn", 15.0, CFGF_NONE),
	LIMITS("helos", 0, 3, 5),
	CFG_END()
};

static cfg_opt_t sender_opts[] = {
	CFG_BOOL("enabled", cfg_true, CFGF_NONE),
	CFG_STR("action", "monitor", CFGF_NONE),
	CFG_BOOL("spf", cfg_true, CFGF_NONE),
	CFG_BOOL("allow_spf_pass", cfg_true, CFGF_NONE),
	CFG_BOOL("check_from_header", cfg_true, CFGF_NONE),
	CFG_DURATION("spf_cache_ttl", 300),
	CFG_FLOAT("score_fail", 20.0, CFGF_NONE),
	CFG_FLOAT("score_softfail", 10.0, CFGF_NONE),
	CFG_FLOAT("score_neutral", 5.0, CFGF_NONE),
	CFG_FLOAT("score_none", 5.0, CFGF_NONE),
	CFG_FLOAT("score_error", 2.0, CFGF_NONE),
	CFG_FLOAT("score_unchecked", 5.0, CFGF_NONE),
	CFG_FLOAT("score_churn", 10.0, CFGF_NONE),
	LIMITS("senders", 0, 5, 10),
	CFG_END()
};

static cfg_opt_t dkim_opts[] = {
	CFG_BOOL("enabled", cfg_true, CFGF_NONE),
	CFG_STR("action", "monitor", CFGF_NONE),
	CFG_FLOAT("score_replay", 20.0, CFGF_NONE),
	CFG_FLOAT("score_forgery", 10.0, CFGF_NONE),
	CFG_STR("key_file", "", CFGF_NONE),
	CFG_DURATION("timeout", 5),
	CFG_INT("min_key_bits", 1024, CFGF_NONE),
	CFG_INT("max_header_bytes", 262144, CFGF_NONE),
	CFG_END()
};

/* Per-subscriber overrides; -1 means "the default from the rate/fanout
 * section". */
static cfg_opt_t subscriber_opts[] = {
	CFG_BOOL("bulk", cfg_false, CFGF_NONE),
	CFG_STR_LIST("domains", "{}", CFGF_NONE),
	LIMITS("messages", -1, -1, -1),
	LIMITS("recipients", -1, -1, -1),
	LIMITS("domains", -1, -1, -1),
	CFG_END()
};

static cfg_opt_t milter_opts[] = {
	/* the daemon */
	CFG_STR("socket", "unix:/run/botsentry/milter.sock", CFGF_NONE),
	CFG_MODE("socket_mode", 0660),
	CFG_STR("pid_file", "/run/botsentry/botsentry-milter.pid", CFGF_NONE),
	CFG_STR("user", "", CFGF_NONE),
	CFG_DURATION("timeout", 300),
	CFG_STR("on_error", "accept", CFGF_NONE),
	/* policy */
	CFG_STR("mode", "monitor", CFGF_NONE),
	CFG_BOOL("add_header", cfg_false, CFGF_NONE),
	CFG_STR("header_name", "X-Botsentry", CFGF_NONE),
	CFG_STR("throttle_message", "Too much mail from your account right now; please try again later", CFGF_NONE),
	CFG_STR("throttle_url", "", CFGF_NONE),
	CFG_STR("reject_message", "Mail from your account is blocked because your computer or account appears to be sending spam", CFGF_NONE),
	CFG_STR("quarantine_reason", "botsentry: suspected spam bot", CFGF_NONE),
	CFG_DURATION("state_refresh", 60),
	/* who we are */
	CFG_STR_LIST("hostnames", "{}", CFGF_NONE),
	CFG_STR_LIST("own_domains", "{}", CFGF_NONE),
	CFG_STR_LIST("outbound_addresses", "{}", CFGF_NONE),
	CFG_STR_LIST("bulk_senders", "{}", CFGF_NONE),
	/* detectors */
	CFG_INT("max_subscribers", 1000000, CFGF_NONE),
	CFG_DURATION("refire", 600),
	CFG_DURATION("refire_oneoff", 86400),
	CFG_SEC("rate", rate_opts, CFGF_NONE),
	CFG_SEC("fanout", fanout_opts, CFGF_NONE),
	CFG_SEC("helo", helo_opts, CFGF_NONE),
	CFG_SEC("sender", sender_opts, CFGF_NONE),
	CFG_SEC("dkim", dkim_opts, CFGF_NONE),
	CFG_SEC("subscriber", subscriber_opts, CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
	CFG_END()
};

#define LIMIT_BOUNDS(sec, what, hi) \
	{ "milter|" sec "|max_" what "_1m", 0, hi }, \
	{ "milter|" sec "|max_" what "_10m", 0, hi }, \
	{ "milter|" sec "|max_" what "_1h", 0, hi }

static const struct conf_bound milter_bounds[] = {
	{ "milter|timeout", 1, 7210 },
	{ "milter|state_refresh", 1, 86400 },
	{ "milter|max_subscribers", 1000, 100000000 },
	{ "milter|refire", 10, 86400 },
	{ "milter|refire_oneoff", 60, 30L * 86400 },
	LIMIT_BOUNDS("rate", "messages", 10000000),
	LIMIT_BOUNDS("rate", "recipients", 10000000),
	LIMIT_BOUNDS("fanout", "domains", 10000000),
	LIMIT_BOUNDS("helo", "helos", 10000000),
	LIMIT_BOUNDS("sender", "senders", 10000000),
	{ "milter|sender|spf_cache_ttl", 0, 86400 },
	{ "milter|dkim|timeout", 1, 120 },
	{ "milter|dkim|min_key_bits", 512, 16384 },
	{ "milter|dkim|max_header_bytes", 4096, 16 * 1024 * 1024 },
	{ NULL, 0, 0 }
};

static const char *const actions[] = { "monitor", "throttle", "quarantine", "reject", NULL };
static const char *const on_errors[] = { "accept", "tempfail", "reject", NULL };
static const char *const modes[] = { "monitor", "enforce", NULL };

static int
one_of(const char *v, const char *const *list)
{
	for (; v != NULL && *list != NULL; list++)
		if (strcmp(v, *list) == 0)
			return 1;
	return 0;
}

static void
check_str(cfg_t *sec, const char *where, const char *key, const char *const *list,
    const char *expect, int *nerr)
{
	const char *v = cfg_getstr(sec, key);

	if (!one_of(v, list))
		conf_error(sec, nerr, "option 'milter|%s%s': expected %s, got '%s'",
		    where, key, expect, v ? v : "");
}

static void
check_scores(cfg_t *sec, const char *where, int *nerr)
{
	cfg_opt_t *o;
	unsigned i;

	for (i = 0; i < cfg_num(sec) && (o = cfg_getnopt(sec, i)) != NULL; i++) {
		double v;
		if (o->type != CFGT_FLOAT)
			continue;
		v = cfg_opt_getnfloat(o, 0);
		if (!isfinite(v) || v < 0 || v > 1000)
			conf_error(sec, nerr, "option 'milter|%s%s': expected a score from 0 to 1000, got %g",
			    where, o->name, v);
	}
}

static int
is_ip(const char *s)
{
	unsigned char buf[16];

	return s != NULL && (inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1);
}

static int
is_domainish(const char *s)
{
	size_t n = s ? strlen(s) : 0, i;

	if (n == 0 || n > 253 || s[0] == '.' || s[0] == '-')
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (!(ch == '.' || ch == '-' || ch == '_' || (ch >= '0' && ch <= '9')
		    || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch >= 0x80))
			return 0;
	}
	return 1;
}

static void
check_domains(cfg_t *sec, const char *where, const char *key, int *nerr)
{
	unsigned i;

	for (i = 0; i < cfg_size(sec, key); i++) {
		const char *d = cfg_getnstr(sec, key, i);
		if (!is_domainish(d))
			conf_error(sec, nerr, "option 'milter|%s%s': expected domain names, got '%s'",
			    where, key, d ? d : "");
	}
}

static void
check_milter(cfg_t *root, int *nerr)
{
	cfg_t *m = cfg_getsec(root, "milter");
	static const char *const secs[] = { "rate", "fanout", "helo", "sender", "dkim" };
	const char *sock;
	unsigned i;
	char where[300];

	if (m == NULL)
		return;
	sock = cfg_getstr(m, "socket");
	if (sock == NULL || (strncmp(sock, "unix:", 5) != 0 && strncmp(sock, "local:", 6) != 0
	    && strncmp(sock, "inet:", 5) != 0 && strncmp(sock, "inet6:", 6) != 0))
		conf_error(m, nerr, "option 'milter|socket': expected unix:PATH, inet:PORT@HOST or inet6:PORT@HOST, got '%s'",
		    sock ? sock : "");
	check_str(m, "", "on_error", on_errors, "accept, tempfail or reject", nerr);
	check_str(m, "", "mode", modes, "monitor or enforce", nerr);
	if (cfg_getstr(m, "header_name") == NULL || !is_domainish(cfg_getstr(m, "header_name"))
	    || strchr(cfg_getstr(m, "header_name"), '.') != NULL)
		conf_error(m, nerr, "option 'milter|header_name': expected a header field name such as X-Botsentry, got '%s'",
		    cfg_getstr(m, "header_name") ? cfg_getstr(m, "header_name") : "");
	for (i = 0; i < cfg_size(m, "outbound_addresses"); i++)
		if (!is_ip(cfg_getnstr(m, "outbound_addresses", i)))
			conf_error(m, nerr, "option 'milter|outbound_addresses': expected IPv4 or IPv6 addresses, got '%s'",
			    cfg_getnstr(m, "outbound_addresses", i));
	check_domains(m, "", "hostnames", nerr);
	check_domains(m, "", "own_domains", nerr);
	for (i = 0; i < sizeof secs / sizeof secs[0]; i++) {
		cfg_t *s = cfg_getsec(m, secs[i]);
		snprintf(where, sizeof where, "%s|", secs[i]);
		check_str(s, where, "action", actions, "monitor, throttle, quarantine or reject", nerr);
		check_scores(s, where, nerr);
	}
	check_domains(cfg_getsec(m, "helo"), "helo|", "providers", nerr);
	for (i = 0; i < cfg_size(m, "subscriber"); i++) {
		cfg_t *s = cfg_getnsec(m, "subscriber", i);
		cfg_opt_t *o;
		unsigned j;

		snprintf(where, sizeof where, "subscriber \"%s\"|", cfg_title(s));
		check_domains(s, where, "domains", nerr);
		for (j = 0; j < cfg_num(s) && (o = cfg_getnopt(s, j)) != NULL; j++) {
			long v;
			if (o->type != CFGT_INT)
				continue;
			v = cfg_opt_getnint(o, 0);
			if (v < -1 || v > 10000000)
				conf_error(s, nerr, "option 'milter|%s%s': expected -1 (the default) or 0 to 10000000, got %ld",
				    where, o->name, v);
		}
	}
}

const struct conf_area conf_area_milter = {
	.name = "milter",
	.opts = milter_opts,
	.bounds = milter_bounds,
	.check = check_milter,
};
