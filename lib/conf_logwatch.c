/*
 * conf_logwatch.c - the 'logwatch' section of botsentry.conf: the keys of botsentry-logwatch.
 * Declared here, once, with defaults and bounds; documented in
 * man/botsentry.conf.5 and conf/botsentry.conf.
 */
#include "config.h"
#include "conf.h"
#include "logparse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static cfg_opt_t bruteforce_opts[] = {
	CFG_BOOL("enabled", cfg_true, CFGF_NONE),
	CFG_DURATION("window", 600),
	CFG_INT("failures", 20, CFGF_NONE),
	CFG_INT("logins", 5, CFGF_NONE),
	CFG_FLOAT("score", 15.0, CFGF_NONE),
	CFG_END()
};

static cfg_opt_t credential_opts[] = {
	CFG_BOOL("enabled", cfg_true, CFGF_NONE),
	CFG_DURATION("window", 3600),
	CFG_INT("failed_addresses", 5, CFGF_NONE),
	CFG_INT("success_addresses", 10, CFGF_NONE),
	CFG_INT("success_networks", 5, CFGF_NONE),
	CFG_INT("ipv4_network_len", 24, CFGF_NONE),
	CFG_INT("ipv6_network_len", 48, CFGF_NONE),
	CFG_FLOAT("score", 30.0, CFGF_NONE),
	CFG_END()
};

static cfg_opt_t bounce_opts[] = {
	CFG_BOOL("enabled", cfg_true, CFGF_NONE),
	CFG_DURATION("window", 3600),
	CFG_INT("min_recipients", 20, CFGF_NONE),
	CFG_FLOAT("ratio", 0.5, CFGF_NONE),
	CFG_FLOAT("score", 20.0, CFGF_NONE),
	CFG_INT("max_queue_ids", 100000, CFGF_NONE),
	CFG_DURATION("queue_id_ttl", 86400),
	CFG_END()
};

static cfg_opt_t logwatch_opts[] = {
	CFG_STR("log_file", "/var/log/mail.log", CFGF_NONE),
	CFG_STR("state_file", "", CFGF_NONE),
	CFG_STR("start_at", "end", CFGF_NONE),
	CFG_STR("rotated_suffix", ".1", CFGF_NONE),
	CFG_INT("poll_interval_ms", 200, CFGF_NONE),
	CFG_DURATION("checkpoint_interval", 2),
	CFG_INT("max_line_length", 16384, CFGF_NONE),
	CFG_INT("warm_up_bytes", 67108864, CFGF_NONE),
	CFG_STR("timezone", "", CFGF_NONE),
	CFG_STR("login_realm", "", CFGF_NONE),
	CFG_DURATION("lease_reload", 300),
	CFG_INT("max_keys", 100000, CFGF_NONE),
	CFG_DURATION("idle_expiry", 7200),
	CFG_SEC("auth_bruteforce", bruteforce_opts, CFGF_NONE),
	CFG_SEC("credential_abuse", credential_opts, CFGF_NONE),
	CFG_SEC("bounce_ratio", bounce_opts, CFGF_NONE),
	CFG_END()
};

static const struct conf_bound logwatch_bounds[] = {
	{ "logwatch|poll_interval_ms", 10, 60000 },
	{ "logwatch|checkpoint_interval", 1, 3600 },
	{ "logwatch|max_line_length", 512, 1048576 },
	{ "logwatch|warm_up_bytes", 0, 1073741824 },
	{ "logwatch|lease_reload", 0, 86400 },
	{ "logwatch|max_keys", 1000, 16 * 1024 * 1024 },
	{ "logwatch|idle_expiry", 60, 7 * 86400 },
	{ "logwatch|auth_bruteforce|window", 10, 86400 },
	{ "logwatch|auth_bruteforce|failures", 1, 1000000 },
	{ "logwatch|auth_bruteforce|logins", 1, 1000000 },
	{ "logwatch|credential_abuse|window", 10, 7 * 86400 },
	{ "logwatch|credential_abuse|failed_addresses", 1, 1000000 },
	{ "logwatch|credential_abuse|success_addresses", 2, 1000000 },
	{ "logwatch|credential_abuse|success_networks", 2, 1000000 },
	{ "logwatch|credential_abuse|ipv4_network_len", 8, 32 },
	{ "logwatch|credential_abuse|ipv6_network_len", 16, 128 },
	{ "logwatch|bounce_ratio|window", 60, 7 * 86400 },
	{ "logwatch|bounce_ratio|min_recipients", 1, 1000000 },
	{ "logwatch|bounce_ratio|max_queue_ids", 100, 10000000 },
	{ "logwatch|bounce_ratio|queue_id_ttl", 60, 30 * 86400 },
	{ NULL, 0, 0 }
};

static void
logwatch_check(cfg_t *root, int *nerr)
{
	cfg_t *lw = cfg_getsec(root, "logwatch");
	const char *s;
	double r;
	long off;

	if (lw == NULL)
		return;
	s = cfg_getstr(lw, "start_at");
	if (s == NULL || (strcmp(s, "end") != 0 && strcmp(s, "beginning") != 0))
		conf_error(lw, nerr, "logwatch: start_at must be \"end\" or \"beginning\", got \"%s\"",
		    s ? s : "");
	s = cfg_getstr(lw, "timezone");
	if (s != NULL && s[0] != '\0' && strcmp(s, "UTC") != 0 && strcmp(s, "localtime") != 0) {
		if (s[0] == '+' || s[0] == '-') {
			if (lp_parse_tz_offset(s, &off) != 0)
				conf_error(lw, nerr, "logwatch: timezone \"%s\": expected +HH:MM or -HH:MM", s);
		} else if (strstr(s, "..") != NULL || s[0] == '/') {
			conf_error(lw, nerr, "logwatch: timezone \"%s\": expected a zone name such as Europe/Berlin", s);
		} else {
			char path[512];
			FILE *f;
			snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", s);
			if ((f = fopen(path, "r")) == NULL)
				conf_error(lw, nerr, "logwatch: timezone \"%s\": no such zone in /usr/share/zoneinfo", s);
			else
				fclose(f);
		}
	}
	s = cfg_getstr(lw, "log_file");
	if (s == NULL || s[0] == '\0')
		conf_error(lw, nerr, "logwatch: log_file must name a file, or \"-\" for standard input");
	r = cfg_getfloat(lw, "bounce_ratio|ratio");
	if (!(r > 0.0 && r <= 1.0))
		conf_error(lw, nerr, "logwatch: bounce_ratio ratio must be above 0 and at most 1, got %g", r);
	if (cfg_getfloat(lw, "auth_bruteforce|score") < 0 || cfg_getfloat(lw, "auth_bruteforce|score") > 1000 ||
	    cfg_getfloat(lw, "credential_abuse|score") < 0 || cfg_getfloat(lw, "credential_abuse|score") > 1000 ||
	    cfg_getfloat(lw, "bounce_ratio|score") < 0 || cfg_getfloat(lw, "bounce_ratio|score") > 1000)
		conf_error(lw, nerr, "logwatch: a detector's score must be between 0 and 1000");
}

const struct conf_area conf_area_logwatch = {
	.name = "logwatch",
	.opts = logwatch_opts,
	.bounds = logwatch_bounds,
	.check = logwatch_check,
};
