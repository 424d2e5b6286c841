/*
 * cmd_leases.c - botsentry leases import: lease history from ISC Kea
 * DHCPv4 memfile CSV or a plain CSV (prefix,subscriber,valid_from,valid_to).
 *
 * All or nothing: every file is read first and every bad line reported as
 * file:line; only when all files are clean are the leases written, in one
 * transaction.
 */
#include "config.h"
#include "cli.h"
#include "leasefile.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

struct collect {
	struct lease *v;
	size_t n, cap;
	long errors;
};

static int
on_lease(void *ud, const struct lease *l)
{
	struct collect *k = ud;

	if (k->n == k->cap) {
		k->cap = k->cap ? k->cap * 2 : 1024;
		k->v = xrealloc(k->v, k->cap * sizeof *k->v);
	}
	k->v[k->n++] = *l;
	return 0;
}

static void
on_error(void *ud, const char *name, long line, const char *msg)
{
	struct collect *k = ud;

	k->errors++;
	if (k->errors <= 50)
		fprintf(stderr, "%s:%ld: %s\n", name, line, msg);
	else if (k->errors == 51)
		fprintf(stderr, "botsentry: more bad lines; only the first 50 are shown\n");
}

/* Kea files start with the header line kea-dhcp4 writes. */
static int
looks_like_kea(FILE *f)
{
	char line[256];
	int kea = 0;

	if (fgets(line, sizeof line, f) != NULL)
		kea = strncmp(line, "address,hwaddr,client_id,", 25) == 0;
	rewind(f);
	return kea;
}

int
cmd_leases_import(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'F' },
		{ "subscriber-from", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 }
	};
	const char *format = NULL, *from = "hwaddr";
	struct collect k = { 0 };
	struct leasefile_cb cb = { on_lease, on_error, &k };
	struct store *st;
	int ch, i, rc = CLI_OK;
	size_t before;
	char detail[512];

	cli_getopt_reset();
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'F':
			format = optarg;
			if (strcmp(format, "kea") != 0 && strcmp(format, "csv") != 0)
				return cli_usage_error("leases", "import", "--format: expected kea or csv, got '%s'", format);
			break;
		case 's':
			from = optarg;
			if (strcmp(from, "hwaddr") != 0 && strcmp(from, "client_id") != 0 &&
			    strcmp(from, "hostname") != 0 && strncmp(from, "user_context:", 13) != 0)
				return cli_usage_error("leases", "import",
				    "--subscriber-from: expected hwaddr, client_id, hostname or user_context:KEY, got '%s'", from);
			break;
		default:
			return cli_usage_error("leases", "import", "leases import: unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cli_usage_error("leases", "import", "leases import: name at least one lease file");

	for (i = optind; i < argc; i++) {
		FILE *f = strcmp(argv[i], "-") == 0 ? stdin : fopen(argv[i], "r");
		const char *name = strcmp(argv[i], "-") == 0 ? "(stdin)" : argv[i];
		int kea;
		long bad;
		if (f == NULL) {
			cli_error("check the path", "cannot open %s: %s", argv[i], strerror(errno));
			free(k.v);
			return CLI_NOTFOUND;
		}
		kea = format ? strcmp(format, "kea") == 0 : f != stdin && looks_like_kea(f);
		before = k.n;
		bad = kea ? leasefile_read_kea4(f, name, from, &cb) : leasefile_read_csv(f, name, &cb);
		if (f != stdin)
			fclose(f);
		if (bad < 0) {
			cli_error(NULL, "reading %s failed: %s", name, strerror(errno));
			free(k.v);
			return CLI_NOTFOUND;
		}
		fprintf(stderr, "botsentry: %s: %zu lease interval%s (%s)%s\n", name, k.n - before,
		    k.n - before == 1 ? "" : "s", kea ? "kea" : "csv", bad ? ", with errors" : "");
	}
	if (k.errors > 0) {
		cli_error("fix the lines named above and import again",
		    "leases import: %ld bad line%s: nothing was imported", k.errors, k.errors == 1 ? "" : "s");
		free(k.v);
		return CLI_USAGE;
	}
	if ((st = cli_open_store(c)) == NULL) {
		free(k.v);
		return CLI_STORE;
	}
	if (store_begin(st) != 0 || store_leases_add(st, k.v, k.n) != 0)
		rc = cli_store_fail(st, "leases import");
	if (rc == CLI_OK) {
		snprintf(detail, sizeof detail, "leases=%zu files=%d", k.n, argc - optind);
		if (store_audit(st, bs_now_ms(), c->actor, "leases.import", "", detail) != 0 || store_commit(st) != 0)
			rc = cli_store_fail(st, "leases import");
	}
	if (rc != CLI_OK)
		store_rollback(st);
	else
		printf("imported %zu lease interval%s\n", k.n, k.n == 1 ? "" : "s");
	store_close(st);
	free(k.v);
	return rc;
}
