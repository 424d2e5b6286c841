/*
 * botsentry - the abuse desk's command: review incidents, manage
 * subscribers, allowlists and leases, ingest complaints, prune.
 *
 * SYNOPSIS
 *	botsentry [-c FILE] [-d URI] [-v] NOUN VERB [ARGS...]
 *
 * This file holds the command table and the dispatch; each noun's commands
 * are in cli/cmd_<noun>.c.
 */
#include "config.h"
#include "cli.h"
#include "log.h"
#include "util.h"

#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const struct cli_command cli_commands[] = {
	{ "config", "check", "[--defaults]", "validate the configuration and print the effective settings", cmd_config_check },
	{ NULL, NULL, NULL, NULL, NULL }
};

void
cli_error(const char *hint, const char *fmt, ...)
{
	va_list ap;

	fputs("botsentry: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (hint != NULL)
		fprintf(stderr, "  try: %s\n", hint);
}

struct store *
cli_open_store(struct cli *c)
{
	char err[512];
	struct store *st = store_open(c->conf->database, err, sizeof err);

	if (st == NULL)
		cli_error("check the database key in the config, or pass -d sqlite:PATH",
		    "cannot open the store %s: %s", c->conf->database, err);
	return st;
}

static void
usage(FILE *f, const struct cli *c)
{
	const struct cli_command *cmd;

	cmdline_usage(f, &c->cl, "[options] COMMAND [ARGS...]", NULL);
	fprintf(f, "\ncommands:\n");
	for (cmd = cli_commands; cmd->noun != NULL; cmd++) {
		char left[64];
		snprintf(left, sizeof left, "%s%s%s", cmd->noun, cmd->verb ? " " : "", cmd->verb ? cmd->verb : "");
		fprintf(f, "  %-24s %s\n", left, cmd->help);
	}
	fprintf(f, "\nexit status: 0 ok, 1 not found or nothing to do, 2 usage, 3 store error, 78 bad configuration\n"
	    "see botsentry(1) for every command and the JSON fields\n");
}

static int
extra_opt(int opt, const char *arg, void *ud)
{
	struct cli *c = ud;

	if (opt == 'a') {
		c->actor = arg;
		return 0;
	}
	return -1;
}

int
main(int argc, char **argv)
{
	struct cli c;
	const struct cli_command *cmd, *noun_match = NULL;
	const char *noun, *verb;
	int first, rc;

	memset(&c, 0, sizeof c);
	c.cl.prog = "botsentry";
	c.cl.foreground = 1;
	first = cmdline_parse(&c.cl, argc, argv, "[options] COMMAND [ARGS...]", "a:", extra_opt, &c,
	    "  -a ACTOR  who is acting, for the audit log (default: the login name)\n");
	if (first >= argc) {
		usage(stderr, &c);
		return CLI_USAGE;
	}
	noun = argv[first];
	verb = first + 1 < argc ? argv[first + 1] : NULL;
	if (strcmp(noun, "help") == 0) {
		usage(stdout, &c);
		return CLI_OK;
	}
	for (cmd = cli_commands; cmd->noun != NULL; cmd++) {
		if (strcmp(cmd->noun, noun) != 0)
			continue;
		noun_match = cmd;
		if (cmd->verb == NULL || (verb != NULL && strcmp(cmd->verb, verb) == 0))
			break;
	}
	if (cmd->noun == NULL) {
		if (noun_match != NULL)
			cli_error("botsentry help", "%s: unknown or missing subcommand%s%s", noun,
			    verb ? " " : "", verb ? verb : "");
		else
			cli_error("botsentry help", "unknown command '%s'", noun);
		return CLI_USAGE;
	}
	if (c.actor == NULL) {
		struct passwd *pw = getpwuid(getuid());
		const char *login = getenv("SUDO_USER");
		c.actor = login ? login : pw ? pw->pw_name : "unknown";
	}
	c.is_tty = isatty(STDOUT_FILENO);
	c.conf = cmdline_load_conf(&c.cl, 1);
	if (cmd->verb == NULL)
		rc = cmd->run(&c, argc - first, argv + first);
	else
		rc = cmd->run(&c, argc - first - 1, argv + first + 1);
	conf_unref(c.conf);
	return rc;
}
