/*
 * cmd_db.c - botsentry db init|migrate|version: create and upgrade the
 * abuse database, and create the site secret on first use.
 */
#include "config.h"
#include "cli.h"
#include "privacy.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* For sqlite:PATH, create the folder the file goes in (mode 0750). */
static void
make_db_folder(const char *uri)
{
	char *path, *slash;

	if (uri == NULL || strncmp(uri, "sqlite:", 7) != 0)
		return;
	path = xstrdup(uri + 7);
	slash = strrchr(path, '/');
	if (slash != NULL && slash != path) {
		*slash = '\0';
		if (bs_mkdir_p(path, 0750) != 0)
			cli_error(NULL, "cannot create the folder %s: %s", path, strerror(errno));
	}
	free(path);
}

static int
only_flags(const char *verb, int argc, char **argv, int *json)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (json != NULL && strcmp(argv[i], "--json") == 0)
			*json = 1;
		else
			return cli_usage_error("db", verb, "db %s: unknown argument '%s'", verb, argv[i]);
	}
	return CLI_OK;
}

int
cmd_db_init(struct cli *c, int argc, char **argv)
{
	struct store *st;
	struct stat sb;
	int from = 0, to = 0, rc;
	const char *secret = c->conf->secret_file;

	if ((rc = only_flags("init", argc, argv, NULL)) != CLI_OK)
		return rc;
	make_db_folder(c->conf->database);
	if ((st = cli_open_store(c)) == NULL)
		return CLI_STORE;
	if (store_migrate(st, &from, &to) != 0) {
		rc = cli_store_fail(st, "db init: applying migrations");
		store_close(st);
		return rc;
	}
	if (from == 0)
		printf("created the database %s (schema version %d)\n", c->conf->database, to);
	else if (from != to)
		printf("database %s existed: migrated schema %d -> %d\n", c->conf->database, from, to);
	else
		printf("database %s exists and is current (schema version %d)\n", c->conf->database, to);
	if (from != to) {
		char detail[64];
		snprintf(detail, sizeof detail, "from=%d to=%d", from, to);
		store_audit(st, bs_now_ms(), c->actor, "db.init", "", detail);
	}
	store_close(st);

	if (secret == NULL || *secret == '\0') {
		printf("no secret_file configured: recipient hashing needs one (see botsentry.conf(5))\n");
		return CLI_OK;
	}
	if (stat(secret, &sb) == 0) {
		struct privacy_key k;
		char err[256];
		if (privacy_load_secret(secret, &k, err, sizeof err) != 0) {
			cli_error("chmod 600 the file, or remove it and run db init again",
			    "the secret file is not usable: %s", err);
			return 78;
		}
		printf("secret file %s exists (left as it is)\n", secret);
		return CLI_OK;
	}
	if (errno != ENOENT) {
		cli_error("check the secret_file key and the folder's permissions", "cannot examine %s: %s",
		    secret, strerror(errno));
		return 78;
	}
	{
		char err[256], *dir = xstrdup(secret), *slash = strrchr(dir, '/');
		if (slash != NULL && slash != dir) {
			*slash = '\0';
			(void)bs_mkdir_p(dir, 0750);
		}
		free(dir);
		if (privacy_create_secret(secret, err, sizeof err) != 0) {
			cli_error("check the secret_file key and the folder's permissions",
			    "cannot create the secret file: %s", err);
			return 78;
		}
	}
	printf("created a fresh secret file %s (mode 0600)\n", secret);
	return CLI_OK;
}

int
cmd_db_migrate(struct cli *c, int argc, char **argv)
{
	struct store *st;
	int from = 0, to = 0, rc;

	if ((rc = only_flags("migrate", argc, argv, NULL)) != CLI_OK)
		return rc;
	if ((st = cli_open_store(c)) == NULL)
		return CLI_STORE;
	if (store_migrate(st, &from, &to) != 0) {
		rc = cli_store_fail(st, "db migrate");
		store_close(st);
		return rc;
	}
	if (from == to)
		printf("schema is current: version %d\n", to);
	else {
		char detail[64];
		printf("migrated schema %d -> %d\n", from, to);
		snprintf(detail, sizeof detail, "from=%d to=%d", from, to);
		store_audit(st, bs_now_ms(), c->actor, "db.migrate", "", detail);
	}
	store_close(st);
	return CLI_OK;
}

int
cmd_db_version(struct cli *c, int argc, char **argv)
{
	struct store *st;
	int v, latest, json = 0, rc;

	if ((rc = only_flags("version", argc, argv, &json)) != CLI_OK)
		return rc;
	if ((st = cli_open_store(c)) == NULL)
		return CLI_STORE;
	v = store_schema_version(st);
	latest = store_schema_latest(st);
	if (v < 0) {
		rc = cli_store_fail(st, "db version");
		store_close(st);
		return rc;
	}
	store_close(st);
	if (json)
		out_json(json_pack("{s:i, s:i, s:b}", "version", v, "latest", latest, "current", v == latest), stdout);
	else
		printf("schema version %d (this build knows %d)%s\n", v, latest,
		    v == 0 ? ": empty, run botsentry db init" : v < latest ? ": run botsentry db migrate" : "");
	return v == 0 ? CLI_NOTFOUND : CLI_OK;
}
