/*
 * test_allowlist.c - normalising subjects and scopes, matching (subjects,
 * scopes, expiry, most specific wins) and the explanation of near misses.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "allowlist.h"

#define NOW 1795701960000LL

static void
test_normalize(void **state)
{
	char out[320], err[256];
	char *s;

	assert_int_equal(allowlist_normalize_subject(AL_IP, "100.64.1.77/24", out, sizeof out, err, sizeof err), 0);
	assert_string_equal(out, "100.64.1.0/24");
	assert_int_equal(allowlist_normalize_subject(AL_IP, "100.64.1.7", out, sizeof out, err, sizeof err), 0);
	assert_string_equal(out, "100.64.1.7/32");
	assert_int_equal(allowlist_normalize_subject(AL_IP, "2001:DB8:1:2::5/48", out, sizeof out, err, sizeof err), 0);
	assert_string_equal(out, "2001:db8:1::/48");
	assert_int_equal(allowlist_normalize_subject(AL_IP, "100.64.1.0/33", out, sizeof out, err, sizeof err), -1);
	assert_non_null(strstr(err, "not an IP address"));
	assert_int_equal(allowlist_normalize_subject(AL_IP, "host.example", out, sizeof out, err, sizeof err), -1);
	assert_int_equal(allowlist_normalize_subject(AL_IP, "1.2.3.4/", out, sizeof out, err, sizeof err), -1);
	assert_int_equal(allowlist_normalize_subject(AL_SENDER, "News@Shop.Example", out, sizeof out, err, sizeof err), 0);
	assert_string_equal(out, "news@shop.example");
	assert_int_equal(allowlist_normalize_subject(AL_SENDER, "no-at-sign", out, sizeof out, err, sizeof err), -1);
	assert_int_equal(allowlist_normalize_subject(AL_DOMAIN, "@Shop.Example.", out, sizeof out, err, sizeof err), 0);
	assert_string_equal(out, "shop.example");
	assert_int_equal(allowlist_normalize_subject(AL_DOMAIN, "bad..example", out, sizeof out, err, sizeof err), -1);
	assert_int_equal(allowlist_normalize_subject(AL_SUBSCRIBER, "ali ce", out, sizeof out, err, sizeof err), -1);
	assert_int_equal(allowlist_normalize_subject(AL_SUBSCRIBER, "", out, sizeof out, err, sizeof err), -1);

	s = allowlist_normalize_scope("rate, fanout,rate", err, sizeof err);
	assert_string_equal(s, "fanout,rate");
	free(s);
	s = allowlist_normalize_scope("all", err, sizeof err);
	assert_string_equal(s, "*");
	free(s);
	s = allowlist_normalize_scope(NULL, err, sizeof err);
	assert_string_equal(s, "*");
	free(s);
	assert_null(allowlist_normalize_scope("Rate", err, sizeof err));
	assert_non_null(strstr(err, "not a detector kind"));
	assert_true(allowlist_scope_covers("fanout,rate", "rate"));
	assert_false(allowlist_scope_covers("fanout,rate", "ra"));
	assert_false(allowlist_scope_covers("fanout,rate", "rates"));
	assert_true(allowlist_scope_covers("*", "helo"));
	assert_true(allowlist_scope_covers("helo", NULL));
	assert_int_equal(allowlist_type_parse("domain"), AL_DOMAIN);
	assert_int_equal(allowlist_type_parse("nope"), 0);
	assert_string_equal(allowlist_type_name(AL_IP), "ip");
}

static void
add(struct allowlist *al, int64_t id, enum allowlist_type t, const char *subject, const char *scope, int64_t expires)
{
	struct allowlist_entry e;
	char err[256];

	memset(&e, 0, sizeof e);
	e.id = id;
	e.type = t;
	e.subject = (char *)subject;
	e.scope = (char *)scope;
	e.expires_ms = expires;
	e.owner = "desk";
	e.reason = "test";
	assert_int_equal(allowlist_add(al, &e, err, sizeof err), 0);
}

static int64_t
match_id(const struct allowlist *al, const char *kind, const char *sub, const char *ip, const char *sender)
{
	struct allowlist_query q = { kind, sub, ip, sender, NOW };
	const struct allowlist_entry *e = allowlist_match(al, &q);

	return e ? e->id : 0;
}

static void
test_match(void **state)
{
	struct allowlist *al = allowlist_new();
	struct allowlist_entry bad;
	char err[256];

	add(al, 1, AL_SUBSCRIBER, "alice", "rate", 0);
	add(al, 2, AL_IP, "100.64.0.0/16", "direct_mx", 0);
	add(al, 3, AL_IP, "100.64.7.0/24", "direct_mx", 0);
	add(al, 4, AL_DOMAIN, "shop.example", "rate,fanout", 0);
	add(al, 5, AL_SENDER, "news@shop.example", "*", 0);
	add(al, 6, AL_SUBSCRIBER, "bob", "*", NOW - 1);           /* expired */
	add(al, 7, AL_IP, "2001:db8::/32", "*", NOW + 1000);
	assert_int_equal(allowlist_count(al), 7);

	assert_int_equal(match_id(al, "rate", "alice", NULL, NULL), 1);
	assert_int_equal(match_id(al, "helo", "alice", NULL, NULL), 0);          /* out of scope */
	assert_int_equal(match_id(al, "direct_mx", NULL, "100.64.9.9", NULL), 2);
	assert_int_equal(match_id(al, "direct_mx", NULL, "100.64.7.9", NULL), 3); /* longest prefix */
	assert_int_equal(match_id(al, "direct_mx", NULL, "::ffff:100.64.7.9", NULL), 3);
	assert_int_equal(match_id(al, "direct_mx", NULL, "100.65.0.1", NULL), 0);
	assert_int_equal(match_id(al, "rate", NULL, NULL, "x@mail.shop.example"), 4);   /* subdomain */
	assert_int_equal(match_id(al, "rate", NULL, NULL, "x@evilshop.example"), 0);    /* not a suffix match */
	assert_int_equal(match_id(al, "rate", NULL, NULL, "<News@Shop.Example>"), 5);   /* sender beats domain */
	assert_int_equal(match_id(al, "helo", NULL, NULL, "news@shop.example"), 5);
	assert_int_equal(match_id(al, "rate", "bob", NULL, NULL), 0);            /* expired */
	assert_int_equal(match_id(al, "helo", NULL, "2001:db8:5::1", NULL), 7);
	assert_int_equal(match_id(al, NULL, "alice", NULL, NULL), 1);            /* any detector */
	/* subscriber beats IP when both match */
	add(al, 8, AL_SUBSCRIBER, "carol", "direct_mx", 0);
	assert_int_equal(match_id(al, "direct_mx", "carol", "100.64.7.1", NULL), 8);

	memset(&bad, 0, sizeof bad);
	bad.type = AL_IP;
	bad.subject = "300.1.1.1";
	bad.scope = "*";
	assert_int_equal(allowlist_add(al, &bad, err, sizeof err), -1);
	allowlist_free(al);
	allowlist_free(NULL);
}

struct ex {
	int v[16];
};

static int
on_explain(void *ud, const struct allowlist_entry *e, enum allowlist_verdict v)
{
	struct ex *x = ud;

	x->v[e->id] = (int)v + 1;
	return 0;
}

static void
test_explain(void **state)
{
	struct allowlist *al = allowlist_new();
	struct allowlist_query q = { "helo", "alice", "100.64.1.1", NULL, NOW };
	struct ex x;

	add(al, 1, AL_SUBSCRIBER, "alice", "rate", 0);
	add(al, 2, AL_SUBSCRIBER, "alice", "helo", NOW - 5);
	add(al, 3, AL_SUBSCRIBER, "bob", "*", 0);
	add(al, 4, AL_SENDER, "a@b.example", "*", 0);
	add(al, 5, AL_IP, "100.64.1.0/24", "helo", 0);
	memset(&x, 0, sizeof x);
	assert_int_equal(allowlist_explain(al, &q, on_explain, &x), 0);
	assert_int_equal(x.v[1], AL_OUT_OF_SCOPE + 1);
	assert_int_equal(x.v[2], AL_EXPIRED + 1);
	assert_int_equal(x.v[3], AL_NO_SUBJECT + 1);
	assert_int_equal(x.v[4], AL_NOT_COMPARABLE + 1);
	assert_int_equal(x.v[5], AL_MATCH + 1);
	assert_non_null(strstr(allowlist_verdict_text(AL_OUT_OF_SCOPE), "scope"));
	allowlist_free(al);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normalize),
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_explain),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
