/*
 * test_template.c - lib/template: substitution, errors that name file and
 * line, escaping per target (header, text, JSON) with hostile values, and
 * the shipped notice templates render with the variables notifyd sets.
 */
#include "config.h"
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "template.h"
#include "util.h"

#ifndef TEMPLATE_DIR
#define TEMPLATE_DIR "conf/templates"
#endif

static const char hostile[] = "evil.example\r\nBcc: victim@example.org\r\n\r\n\"$(rm -rf /)\" `id`";

static void
test_basic(void **state)
{
	struct tmpl_vars *v = tmpl_vars_new();
	char err[256], *s;

	(void)state;
	tmpl_set(v, "a", "one");
	tmpl_setf(v, "n", "%d", 42);
	tmpl_set(v, "a", "uno");          /* replaced */
	s = tmpl_render("x {{a}} y {{ n }} z {{a}}", "t", v, TMPL_TEXT, err, sizeof err);
	assert_string_equal(s, "x uno y 42 z uno");
	free(s);
	assert_string_equal(tmpl_get(v, "n"), "42");
	assert_null(tmpl_get(v, "missing"));
	s = tmpl_render("line1\nline2 {{nope}}", "file.txt", v, TMPL_TEXT, err, sizeof err);
	assert_null(s);
	assert_string_equal(err, "file.txt:2: unknown variable 'nope'");
	s = tmpl_render("{{a", "f", v, TMPL_TEXT, err, sizeof err);
	assert_null(s);
	assert_non_null(strstr(err, "f:1:"));
	tmpl_vars_free(v);
}

static void
test_escaping(void **state)
{
	struct tmpl_vars *v = tmpl_vars_new();
	char err[256], *s;
	json_t *j;

	(void)state;
	tmpl_set(v, "helo", hostile);
	tmpl_set_lines(v, "ev", "- one\r\n- two\n- three \x01");
	/* text: one line per value, control bytes gone */
	s = tmpl_render("HELO: {{helo}}\n", "t", v, TMPL_TEXT, err, sizeof err);
	assert_string_equal(s, "HELO: evil.example Bcc: victim@example.org \"$(rm -rf /)\" `id`\n");
	free(s);
	s = tmpl_render("{{ev}}", "t", v, TMPL_TEXT, err, sizeof err);
	assert_string_equal(s, "- one\n- two\n- three");
	free(s);
	/* header: even multi-line values are one line */
	s = tmpl_render("{{ev}}", "t", v, TMPL_HEADER, err, sizeof err);
	assert_string_equal(s, "- one - two - three");
	free(s);
	/* JSON: a quoted string that parses back */
	s = tmpl_render("{\"helo\": {{helo}}}", "t", v, TMPL_JSON, err, sizeof err);
	j = json_loads(s, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "helo")),
	    "evil.example Bcc: victim@example.org \"$(rm -rf /)\" `id`");
	json_decref(j);
	free(s);
	tmpl_vars_free(v);
}

static void
test_long_value(void **state)
{
	struct tmpl_vars *v = tmpl_vars_new();
	char *big = xmalloc(10 * 1024 + 1), err[256], *s;

	(void)state;
	memset(big, 'A', 10 * 1024);
	big[10 * 1024] = '\0';
	tmpl_set(v, "big", big);
	s = tmpl_render("[{{big}}]", "t", v, TMPL_TEXT, err, sizeof err);
	assert_true(strlen(s) <= TMPL_VALUE_MAX + 2);
	free(s);
	free(big);
	tmpl_vars_free(v);
}

static void
test_message(void **state)
{
	struct tmpl_vars *v = tmpl_vars_new();
	struct tmpl_message m;
	char err[256];

	(void)state;
	tmpl_set(v, "id", "7");
	tmpl_set(v, "helo", hostile);
	assert_int_equal(tmpl_render_message("Subject: Incident {{id}} {{helo}}\n\nBody {{id}}\n\n\n",
	    "m", v, &m, err, sizeof err), 0);
	assert_null(strchr(m.subject, '\n'));
	assert_non_null(strstr(m.subject, "Incident 7 evil.example"));
	assert_string_equal(m.body, "Body 7\n");
	tmpl_message_clear(&m);
	assert_int_equal(tmpl_render_message("From: x\n\nBody", "m.txt", v, &m, err, sizeof err), -1);
	assert_string_equal(err, "m.txt:1: expected 'Subject: ...' or an empty line before the body");
	assert_int_equal(tmpl_render_message("Subject: a\n\nok\n{{x}}", "m.txt", v, &m, err,
	    sizeof err), -1);
	assert_string_equal(err, "m.txt:4: unknown variable 'x'");
	tmpl_vars_free(v);
}

/* The shipped templates use only the documented variables. */
static void
test_shipped(void **state)
{
	static const char *const names[] = { "organization", "help_url", "help_contact",
	    "subscriber", "subscriber_name", "subscriber_email", "incident_id", "level",
	    "level_text", "state", "kind", "kinds", "what_seen", "sources", "first_seen",
	    "last_seen", "closed", "event_count", "score", "client_ip", "client_ips", "helo",
	    "node", "evidence", "mitigation", "mitigation_text", "ticket", "date", NULL };
	static const char *const files[] = { "new.txt", "update.txt", "resolved.txt",
	    "mitigation.txt", NULL };
	struct tmpl_vars *v = tmpl_vars_new();
	struct tmpl_message m;
	char err[512];
	size_t i;

	(void)state;
	for (i = 0; names[i] != NULL; i++)
		tmpl_set(v, names[i], hostile);
	for (i = 0; files[i] != NULL; i++) {
		int rc = tmpl_render_file(TEMPLATE_DIR, files[i], v, &m, err, sizeof err);
		if (rc != 0)
			fail_msg("%s", err);
		assert_true(strlen(m.subject) > 10);
		assert_null(strchr(m.subject, '\n'));
		assert_null(strchr(m.body, '\r'));
		tmpl_message_clear(&m);
	}
	tmpl_vars_free(v);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_long_value),
		cmocka_unit_test(test_message),
		cmocka_unit_test(test_shipped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
