/*
 * cmdline.c - common options and start-up for every botsentry program.
 */
#include "config.h"
#include "cmdline.h"
#include "log.h"
#include "util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

void
cmdline_usage(FILE *f, const struct cmdline *cl, const char *synopsis, const char *usage_extra)
{
	fprintf(f, "usage: %s %s\n", cl->prog, synopsis ? synopsis : "[options]");
	fprintf(f,
	    "  -c FILE   configuration file (default %s)\n"
	    "  -d URI    store, overriding the config's database key (sqlite:PATH)\n"
	    "  -f        stay in the foreground and log to stderr\n"
	    "  -n        check the configuration and exit (0 good, 78 bad)\n"
	    "  -v        more log output (repeat for debug)\n"
	    "  -V        print the version and exit\n"
	    "  -h        print this help and exit\n", conf_default_path());
	if (usage_extra != NULL)
		fputs(usage_extra, f);
}

int
cmdline_parse(struct cmdline *cl, int argc, char **argv, const char *synopsis,
    const char *extra_opts, cmdline_extra_fn extra, void *ud, const char *usage_extra)
{
	char optstring[128];
	int ch;
	const char *slash = strrchr(argv[0], '/');

	if (cl->prog == NULL)
		cl->prog = slash ? slash + 1 : argv[0];
	snprintf(optstring, sizeof optstring, "+c:d:fnvVh%s", extra_opts ? extra_opts : "");
	opterr = 0;
	while ((ch = getopt(argc, argv, optstring)) != -1) {
		switch (ch) {
		case 'c':
			cl->config_path = optarg;
			cl->config_given = 1;
			break;
		case 'd':
			cl->db_uri = optarg;
			break;
		case 'f':
			cl->foreground = 1;
			break;
		case 'n':
			cl->check_only = 1;
			break;
		case 'v':
			cl->verbose++;
			break;
		case 'V':
			printf("%s (botsentry) %s\n", cl->prog, PACKAGE_VERSION);
			exit(0);
		case 'h':
			cmdline_usage(stdout, cl, synopsis, usage_extra);
			exit(0);
		case '?':
			if (optopt != 0 && strchr(optstring, optopt) != NULL)
				fprintf(stderr, "%s: option -%c needs an argument\n", cl->prog, optopt);
			else
				fprintf(stderr, "%s: unknown option -%c\n", cl->prog, optopt ? optopt : '?');
			cmdline_usage(stderr, cl, synopsis, usage_extra);
			exit(EX_USAGE);
		default:
			if (extra == NULL || extra(ch, optarg, ud) != 0) {
				cmdline_usage(stderr, cl, synopsis, usage_extra);
				exit(EX_USAGE);
			}
			break;
		}
	}
	return optind;
}

struct conf *
cmdline_load_conf(const struct cmdline *cl, int logstderr)
{
	const char *path = cl->config_path;
	struct conf *c;
	int used_defaults = 0;

	if (path == NULL) {
		path = conf_default_path();
		if (access(path, F_OK) != 0) {
			path = NULL;
			used_defaults = 1;
		}
	}
	c = conf_load(path, stderr);
	if (c == NULL) {
		fprintf(stderr, "%s: configuration %s has errors; nothing started\n", cl->prog,
		    path ? path : "(built-in)");
		exit(EX_CONFIG);
	}
	if (cl->db_uri != NULL) {
		if (strncmp(cl->db_uri, "sqlite:", 7) != 0 && strncmp(cl->db_uri, "postgresql://", 13) != 0
		    && strncmp(cl->db_uri, "postgres://", 11) != 0) {
			fprintf(stderr, "%s: -d %s: expected sqlite:PATH or postgresql://...\n", cl->prog, cl->db_uri);
			exit(EX_USAGE);
		}
		cfg_setstr(c->cfg, "database", cl->db_uri);
		c->database = cfg_getstr(c->cfg, "database");
	}
	if (cl->check_only) {
		printf("%s: configuration %s is valid\n", cl->prog, path ? path : "(built-in defaults)");
		conf_unref(c);
		exit(0);
	}
	{
		int level = c->log_level + cl->verbose;
		if (level > LOG_DEBUG)
			level = LOG_DEBUG;
		log_init(cl->prog, cl->foreground || logstderr, c->log_facility, level);
	}
	if (used_defaults && cl->foreground)
		log_notice("config=%s status=missing action=\"using built-in defaults\"", conf_default_path());
	return c;
}
