/*
 * conf_logwatch.c - the 'logwatch' section of botsentry.conf: the keys of botsentry-logwatch.
 * Declared here, once, with defaults and bounds; documented in
 * man/botsentry.conf.5 and conf/botsentry.conf.
 */
#include "config.h"
#include "conf.h"

static cfg_opt_t logwatch_opts[] = {
	CFG_END()
};

const struct conf_area conf_area_logwatch = {
	.name = "logwatch",
	.opts = logwatch_opts,
	.bounds = NULL,
	.check = NULL,
};
