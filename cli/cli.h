/*
 * cli.h - the botsentry command: shared context and the command table.
 *
 * Each subcommand lives in cli/cmd_<noun>.c and registers itself in the
 * table in cli/botsentry.c.  Exit codes (botsentry(1)): 0 ok, 1 not found
 * or nothing to do, 2 usage, 3 store error; 78 for a bad configuration.
 */
#ifndef BS_CLI_H
#define BS_CLI_H

#include <stdio.h>
#include "cmdline.h"
#include "conf.h"
#include "store.h"

#define CLI_OK 0
#define CLI_NOTFOUND 1
#define CLI_USAGE 2
#define CLI_STORE 3

struct cli {
	struct cmdline cl;
	struct conf *conf;
	const char *actor;        /* --actor or the login name */
	int is_tty;               /* stdout is a terminal: align and colour */
};

struct cli_command {
	const char *noun;         /* "incidents" */
	const char *verb;         /* "list"; NULL for a noun without verbs */
	const char *args;         /* usage text for the arguments */
	const char *help;         /* one line */
	int (*run)(struct cli *c, int argc, char **argv);  /* argv[0] is the verb (or noun) */
};

/* Open the store named by the config (or -d); prints the reason and returns
 * NULL on failure (the caller exits CLI_STORE). */
struct store *cli_open_store(struct cli *c);
/* Print an error in the house style: "botsentry: what: why\n  try: hint". */
void cli_error(const char *hint, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The command table (cli/botsentry.c) and each file's entries. */
extern const struct cli_command cli_commands[];

int cmd_config_check(struct cli *c, int argc, char **argv);

#endif
