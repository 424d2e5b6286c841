/*
 * test_conf.c - the configuration loader: defaults, durations, bounds,
 * includes, and errors that name file:line, all of them.
 */
#include "config.h"
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "conf.h"
#include "util.h"

static char tmpdir[] = "/tmp/bs-test-conf.XXXXXX";

static const char *
write_file(const char *name, const char *text)
{
	static char path[4][256];
	static int i;
	FILE *f;
	char *p = path[i++ % 4];

	snprintf(p, 256, "%s/%s", tmpdir, name);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return p;
}

/* Load text as a config; errors captured into errbuf. */
static struct conf *
load(const char *text, char *errbuf, size_t size)
{
	const char *p = write_file("t.conf", text);
	FILE *e = fmemopen(errbuf, size, "w");
	struct conf *c;

	memset(errbuf, 0, size);
	c = conf_load(p, e);
	fclose(e);
	return c;
}

static void
test_defaults(void **state)
{
	struct conf *c = conf_load(NULL, stderr);

	assert_non_null(c);
	assert_non_null(c->node_name);
	assert_true(strncmp(c->database, "sqlite:", 7) == 0);
	assert_int_equal(c->queue_capacity, 65536);
	assert_int_equal((long)c->score.half_life_s, 86400);
	assert_true(c->score.level[0] < c->score.level[1] && c->score.level[1] < c->score.level[2]);
	assert_string_equal(c->score.mitigation, "throttle");
	assert_int_equal(c->ipv6_prefix_len, 56);
	conf_unref(c);
}

static void
test_values_and_durations(void **state)
{
	char err[2048];
	struct conf *c = load(
	    "node_name = \"mx1\"\n"
	    "database = \"sqlite:/tmp/x.db\"\n"
	    "scoring {\n  half_life = 2h\n  level1 = 5\n  level2 = 6\n  level3 = 7\n  mitigation = reject\n}\n"
	    "retention { events = 30d }\n"
	    "leases { static \"10.1.0.0/16\" { subscriber = \"biz\" } }\n", err, sizeof err);

	assert_non_null(c);
	assert_string_equal(c->node_name, "mx1");
	assert_int_equal((long)c->score.half_life_s, 7200);
	assert_string_equal(c->score.mitigation, "reject");
	assert_int_equal(c->retention_events_s, 30 * 86400);
	assert_int_equal(cfg_size(cfg_getsec(c->cfg, "leases"), "static"), 1);
	conf_unref(c);
}

static void
test_errors_name_file_and_line(void **state)
{
	char err[4096];
	struct conf *c = load(
	    "# comment\n"
	    "queue {\n"
	    "  capacity = 3\n"          /* line 3: out of range */
	    "}\n"
	    "scoring { half_life = 10x }\n"   /* line 5: bad duration */
	    "bogus = 1\n", err, sizeof err);   /* line 6: unknown key */

	assert_null(c);
	assert_non_null(strstr(err, "t.conf:3: option 'capacity': value 3 out of range, expected 16 to"));
	assert_non_null(strstr(err, "t.conf:5: option 'half_life': expected a duration"));
	assert_non_null(strstr(err, "t.conf:6: no such option 'bogus'"));
}

/* libconfuse 3.3 miscounts lines after comments; we must not. */
static void
test_lines_after_comments(void **state)
{
	char err[4096];
	struct conf *c = load(
	    "# one\n"
	    "// two\n"
	    "/* three\n"
	    "   four */\n"
	    "node_name = \"a#b\" # five\n"
	    "bogus = 1\n", err, sizeof err);

	assert_null(c);
	assert_non_null(strstr(err, "t.conf:6: no such option 'bogus'"));
}

static void
test_cross_field_errors(void **state)
{
	char err[4096];
	struct conf *c = load(
	    "log_level = \"loud\"\n"
	    "database = \"mysql://x\"\n"
	    "scoring { level1 = 50 }\n"
	    "leases { static \"10.0.0.0/8\" { } }\n"
	    "# a comment\n"
	    "notify {\n"
	    "  backoff_initial = 2h\n"
	    "  backoff_max = 1h\n"
	    "}\n", err, sizeof err);

	assert_null(c);
	/* checks that run after parsing still name the line the value came from */
	assert_non_null(strstr(err, "t.conf:1: option 'log_level'"));
	assert_non_null(strstr(err, "t.conf:2: option 'database'"));
	/* and checks over several options, the line of one of them */
	assert_non_null(strstr(err, "t.conf:3: section 'scoring': expected 0 < level1 < level2"));
	assert_non_null(strstr(err, "t.conf:7: section 'notify': expected backoff_initial <= backoff_max"));
	/* a section missing a key: the line where it was given */
	assert_non_null(strstr(err, "t.conf:4: section 'leases|static 10.0.0.0/8': expected a subscriber"));
}

static void
test_include(void **state)
{
	char err[4096], text[512];
	struct conf *c;
	write_file("inc.conf", "\n\nnode_name = \"from-include\"\nqueue { batch_size = 0 }\n");

	snprintf(text, sizeof text, "# relative to this file's folder\ninclude(\"inc.conf\")\n");
	c = load(text, err, sizeof err);
	assert_null(c);
	/* the error names the included file and its line */
	assert_non_null(strstr(err, "inc.conf:4: option 'batch_size'"));

	write_file("inc.conf", "node_name = \"from-include\"\n");
	c = load(text, err, sizeof err);
	assert_non_null(c);
	assert_string_equal(c->node_name, "from-include");
	conf_unref(c);
}

static void
test_missing_file(void **state)
{
	char err[1024];
	FILE *e = fmemopen(err, sizeof err, "w");
	struct conf *c = conf_load("/nonexistent/botsentry.conf", e);

	fclose(e);
	assert_null(c);
	assert_non_null(strstr(err, "/nonexistent/botsentry.conf: cannot read"));
}

static void
test_refcount(void **state)
{
	struct conf *c = conf_load(NULL, stderr);

	assert_ptr_equal(conf_ref(c), c);
	assert_int_equal(c->refs, 2);
	conf_unref(c);
	assert_int_equal(c->refs, 1);
	conf_unref(c);
	conf_unref(NULL);
}

static int
setup(void **state)
{
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char cmd[300];

	snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_values_and_durations),
		cmocka_unit_test(test_errors_name_file_and_line),
		cmocka_unit_test(test_lines_after_comments),
		cmocka_unit_test(test_cross_field_errors),
		cmocka_unit_test(test_include),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_refcount),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
