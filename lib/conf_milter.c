/*
 * conf_milter.c - the 'milter' section of botsentry.conf: the keys of botsentry-milter.
 * Declared here, once, with defaults and bounds; documented in
 * man/botsentry.conf.5 and conf/botsentry.conf.
 */
#include "config.h"
#include "conf.h"

static cfg_opt_t milter_opts[] = {
	CFG_END()
};

const struct conf_area conf_area_milter = {
	.name = "milter",
	.opts = milter_opts,
	.bounds = NULL,
	.check = NULL,
};
