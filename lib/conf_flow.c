/*
 * conf_flow.c - the 'flow' section of botsentry.conf: the keys of
 * botsentry-flowd.  Declared here, once, with defaults and bounds;
 * documented in man/botsentry.conf.5 (man/conf/30-flow.man) and the sample
 * conf/botsentry.conf (conf/sample/30-flow.conf).
 */
#include "config.h"
#include "conf.h"
#include "conf_flow.h"
#include "detect_flow.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

static cfg_opt_t flow_opts[] = {
	/* inputs (reload: no) */
	CFG_STR_LIST("interfaces", "{}", CFGF_NONE),
	CFG_STR_LIST("pcap_files", "{}", CFGF_NONE),
	CFG_STR("bpf_filter", "", CFGF_NONE),
	CFG_BOOL("capture_replies", cfg_true, CFGF_NONE),
	CFG_INT("snaplen", 128, CFGF_NONE),
	CFG_INT("buffer_size", 32L * 1024 * 1024, CFGF_NONE),
	CFG_STR("ipfix_listen", "", CFGF_NONE),
	CFG_STR("ipfix_transport", "udp", CFGF_NONE),
	CFG_STR("netflow9_listen", "", CFGF_NONE),
	CFG_STR("netflow5_listen", "", CFGF_NONE),
	CFG_INT("udp_rcvbuf", 8L * 1024 * 1024, CFGF_NONE),
	/* scope (reload: yes) */
	CFG_STR_LIST("subscriber_prefixes", "{}", CFGF_NONE),
	CFG_STR_LIST("exclude", "{}", CFGF_NONE),
	CFG_STR_LIST("allowlist", "{}", CFGF_NONE),
	CFG_STR_LIST("smarthosts", "{}", CFGF_NONE),
	/* thresholds and weights (reload: yes) */
	CFG_DURATION("window", 600),
	CFG_INT("min_attempts", 10, CFGF_NONE),
	CFG_INT("min_destinations", 10, CFGF_NONE),
	CFG_FLOAT("weight_base", 10.0, CFGF_NONE),
	CFG_FLOAT("weight_volume", 5.0, CFGF_NONE),
	CFG_FLOAT("weight_failed", 10.0, CFGF_NONE),
	CFG_FLOAT("weight_smarthost", 5.0, CFGF_NONE),
	CFG_DURATION("syn_timeout", 10),
	/* memory and operation */
	CFG_INT("max_sources", 1000000, CFGF_NONE),
	CFG_DURATION("idle_expiry", 3600),
	CFG_INT("max_pending", 65536, CFGF_NONE),
	CFG_DURATION("stats_interval", 300),
	CFG_DURATION("lease_refresh", 300),
	CFG_STR("pid_file", "", CFGF_NONE),
	CFG_END()
};

static const struct conf_bound flow_bounds[] = {
	{ "flow|snaplen", 68, 65535 },
	{ "flow|buffer_size", 1L << 20, 1L << 31 },
	{ "flow|udp_rcvbuf", 65536, 1L << 30 },
	{ "flow|window", 10, 86400 },
	{ "flow|min_attempts", 1, 1000000 },
	{ "flow|min_destinations", 1, 1000000 },
	{ "flow|syn_timeout", 1, 600 },
	{ "flow|max_sources", 1000, 100000000 },
	{ "flow|idle_expiry", 60, 7L * 86400 },
	{ "flow|max_pending", 1024, 8L * 1024 * 1024 },
	{ "flow|stats_interval", 10, 86400 },
	{ "flow|lease_refresh", 0, 86400 },
	{ NULL, 0, 0 }
};

int
conf_flow_split_listen(const char *spec, char *host, size_t hostlen, char *port, size_t portlen)
{
	const char *colon, *p;
	size_t hl;
	long n;
	char *end;

	if (spec == NULL || *spec == '\0')
		return -1;
	if (spec[0] == '[') {
		const char *close = strchr(spec, ']');
		if (close == NULL || close[1] != ':')
			return -1;
		hl = (size_t)(close - spec - 1);
		if (hl == 0 || hl >= hostlen)
			return -1;
		memcpy(host, spec + 1, hl);
		host[hl] = '\0';
		p = close + 2;
	} else if ((colon = strrchr(spec, ':')) != NULL) {
		hl = (size_t)(colon - spec);
		if (hl == 0 || hl >= hostlen || memchr(spec, ':', hl) != NULL)
			return -1;
		memcpy(host, spec, hl);
		host[hl] = '\0';
		p = colon + 1;
	} else {
		if (hostlen < 8)
			return -1;
		strcpy(host, "0.0.0.0");
		p = spec;
	}
	if (*p < '0' || *p > '9')
		return -1;
	n = strtol(p, &end, 10);
	if (*end != '\0' || n < 1 || n > 65535 || strlen(p) >= portlen)
		return -1;
	strcpy(port, p);
	return 0;
}

static void
check_prefix_list(cfg_t *sec, const char *key, int allow_names, int *nerr)
{
	unsigned i;

	for (i = 0; i < cfg_size(sec, key); i++) {
		const char *v = cfg_getnstr(sec, key, i);
		struct df_prefix p;

		if (df_prefix_parse(v, &p) == 0)
			continue;
		if (allow_names && v[0] != '\0' && strpbrk(v, " \t\"/:") == NULL)
			continue;   /* a subscriber id */
		conf_error(sec, nerr, "flow: option '%s': '%s' is not an address or prefix "
		    "(expected 100.64.0.0/10 or 2001:db8::/32%s)", key, v,
		    allow_names ? ", or a subscriber id" : "");
	}
}

static void
check_listen(cfg_t *sec, const char *key, int *nerr)
{
	const char *v = cfg_getstr(sec, key);
	char host[128], port[8];

	if (v == NULL || *v == '\0')
		return;
	if (conf_flow_split_listen(v, host, sizeof host, port, sizeof port) != 0)
		conf_error(sec, nerr, "flow: option '%s': expected HOST:PORT, [IPV6]:PORT or PORT, got '%s'",
		    key, v);
}

static void
check_weight(cfg_t *sec, const char *key, int *nerr)
{
	double v = cfg_getfloat(sec, key);

	if (!(v >= 0 && v <= 1000))
		conf_error(sec, nerr, "flow: option '%s': expected a weight from 0 to 1000, got %g", key, v);
}

static void
flow_check(cfg_t *root, int *nerr)
{
	cfg_t *sec = cfg_getsec(root, "flow");
	const char *tr;
	unsigned i;

	if (sec == NULL)
		return;
	check_prefix_list(sec, "subscriber_prefixes", 0, nerr);
	check_prefix_list(sec, "exclude", 0, nerr);
	check_prefix_list(sec, "smarthosts", 0, nerr);
	check_prefix_list(sec, "allowlist", 1, nerr);
	check_listen(sec, "ipfix_listen", nerr);
	check_listen(sec, "netflow9_listen", nerr);
	check_listen(sec, "netflow5_listen", nerr);
	tr = cfg_getstr(sec, "ipfix_transport");
	if (tr == NULL || (strcmp(tr, "udp") != 0 && strcmp(tr, "tcp") != 0))
		conf_error(sec, nerr, "flow: option 'ipfix_transport': expected udp or tcp, got '%s'",
		    tr ? tr : "");
	check_weight(sec, "weight_base", nerr);
	check_weight(sec, "weight_volume", nerr);
	check_weight(sec, "weight_failed", nerr);
	check_weight(sec, "weight_smarthost", nerr);
	if (cfg_getint(sec, "idle_expiry") < cfg_getint(sec, "window"))
		conf_error(sec, nerr, "flow: option 'idle_expiry' (%ld s) must be at least 'window' (%ld s)",
		    cfg_getint(sec, "idle_expiry"), cfg_getint(sec, "window"));
	for (i = 0; i < cfg_size(sec, "interfaces"); i++) {
		const char *v = cfg_getnstr(sec, "interfaces", i);
		if (v == NULL || *v == '\0' || strlen(v) > 64)
			conf_error(sec, nerr, "flow: option 'interfaces': '%s' is not an interface name",
			    v ? v : "");
	}
}

static struct df_prefix *
prefix_list(cfg_t *sec, const char *key, size_t *n, char ***names, size_t *nnames)
{
	unsigned i, sz = cfg_size(sec, key);
	struct df_prefix *p = xcalloc(sz ? sz : 1, sizeof *p);

	*n = 0;
	for (i = 0; i < sz; i++) {
		const char *v = cfg_getnstr(sec, key, i);
		if (df_prefix_parse(v, &p[*n]) == 0) {
			(*n)++;
		} else if (names != NULL) {
			*names = xrealloc(*names, (*nnames + 1) * sizeof **names);
			(*names)[(*nnames)++] = xstrdup(v);
		}
	}
	return p;
}

void
conf_flow_settings(const struct conf *c, struct conf_flow_settings *out)
{
	cfg_t *sec = cfg_getsec(c->cfg, "flow");
	struct df_settings *s = &out->df;

	memset(out, 0, sizeof *out);
	df_settings_default(s);
	s->v6_prefix_len = (int)c->ipv6_prefix_len;
	if (sec == NULL)
		return;
	s->window_ms = cfg_getint(sec, "window") * 1000L;
	s->min_attempts = cfg_getint(sec, "min_attempts");
	s->min_destinations = cfg_getint(sec, "min_destinations");
	s->weight_base = cfg_getfloat(sec, "weight_base");
	s->weight_volume = cfg_getfloat(sec, "weight_volume");
	s->weight_failed = cfg_getfloat(sec, "weight_failed");
	s->weight_smarthost = cfg_getfloat(sec, "weight_smarthost");
	s->syn_timeout_ms = cfg_getint(sec, "syn_timeout") * 1000L;
	s->max_sources = (size_t)cfg_getint(sec, "max_sources");
	s->idle_ms = cfg_getint(sec, "idle_expiry") * 1000L;
	s->max_pending = (size_t)cfg_getint(sec, "max_pending");
	out->watch = prefix_list(sec, "subscriber_prefixes", &s->n_watch, NULL, NULL);
	out->exclude = prefix_list(sec, "exclude", &s->n_exclude, NULL, NULL);
	out->smarthosts = prefix_list(sec, "smarthosts", &s->n_smarthosts, NULL, NULL);
	out->allow_prefixes = prefix_list(sec, "allowlist", &out->n_allow_prefixes,
	    &out->allow_subscribers, &out->n_allow_subscribers);
	s->watch = out->watch;
	s->exclude = out->exclude;
	s->smarthosts = out->smarthosts;
}

void
conf_flow_settings_clear(struct conf_flow_settings *s)
{
	size_t i;

	if (s == NULL)
		return;
	free(s->watch);
	free(s->exclude);
	free(s->smarthosts);
	free(s->allow_prefixes);
	for (i = 0; i < s->n_allow_subscribers; i++)
		free(s->allow_subscribers[i]);
	free(s->allow_subscribers);
	memset(s, 0, sizeof *s);
}

const struct conf_area conf_area_flow = {
	.name = "flow",
	.opts = flow_opts,
	.bounds = flow_bounds,
	.check = flow_check,
};
