/*
 * conf_flow.c - the 'flow' section of botsentry.conf: the keys of botsentry-flow.
 * Declared here, once, with defaults and bounds; documented in
 * man/botsentry.conf.5 and conf/botsentry.conf.
 */
#include "config.h"
#include "conf.h"

static cfg_opt_t flow_opts[] = {
	CFG_END()
};

const struct conf_area conf_area_flow = {
	.name = "flow",
	.opts = flow_opts,
	.bounds = NULL,
	.check = NULL,
};
