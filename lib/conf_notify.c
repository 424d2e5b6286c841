/*
 * conf_notify.c - the 'notify' section of botsentry.conf: the keys of botsentry-notify.
 * Declared here, once, with defaults and bounds; documented in
 * man/botsentry.conf.5 and conf/botsentry.conf.
 */
#include "config.h"
#include "conf.h"

static cfg_opt_t notify_opts[] = {
	CFG_END()
};

const struct conf_area conf_area_notify = {
	.name = "notify",
	.opts = notify_opts,
	.bounds = NULL,
	.check = NULL,
};
