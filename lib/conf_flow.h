/*
 * conf_flow.h - helpers over the 'flow' section (conf_flow.c): listen
 * addresses and the detector's settings from a loaded configuration.
 */
#ifndef BS_CONF_FLOW_H
#define BS_CONF_FLOW_H

#include <stddef.h>
#include "conf.h"
#include "detect_flow.h"

/* "HOST:PORT", "[V6]:PORT" or "PORT" (host 0.0.0.0).  0, or -1 if malformed. */
int conf_flow_split_listen(const char *spec, char *host, size_t hostlen, char *port, size_t portlen);

/* The detector's settings from the flow section, with their prefix lists
 * (owned by *out; conf_flow_settings_clear frees them). */
struct conf_flow_settings {
	struct df_settings df;
	struct df_prefix *watch, *exclude, *smarthosts, *allow_prefixes;
	size_t n_allow_prefixes;
	char **allow_subscribers;         /* allowlist entries that are not prefixes */
	size_t n_allow_subscribers;
};
void conf_flow_settings(const struct conf *c, struct conf_flow_settings *out);
void conf_flow_settings_clear(struct conf_flow_settings *s);

#endif
