/*
 * cmd_config.c - botsentry config check: validate and show the settings.
 */
#include "config.h"
#include "cli.h"

#include <string.h>

int
cmd_config_check(struct cli *c, int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--defaults") == 0) {
			struct conf *d = conf_load(NULL, stderr);
			if (d == NULL)
				return 78;
			conf_print(d, stdout);
			conf_unref(d);
			return CLI_OK;
		}
		cli_error("botsentry config check [--defaults]", "config check: unknown argument '%s'", argv[i]);
		return CLI_USAGE;
	}
	/* cmdline_load_conf() has already refused a bad file with exit 78. */
	fprintf(stderr, "botsentry: configuration %s is valid\n", c->conf->path ? c->conf->path : "(built-in defaults)");
	conf_print(c->conf, stdout);
	return CLI_OK;
}
