/*
 * test_detect.c - the milter's detectors (lib/detect*.c) on plain
 * observations and counter values: the config they read, rate, fanout,
 * helo, sender_forgery (SPF on a static zone), dkim_replay, the firing
 * discipline (once per crossing, again on doubling or after refire), and
 * evidence that is valid JSON with hostile strings escaped and cut.
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
#include "detect.h"
#include "dkim.h"
#include "spf.h"

static char tmpdir[] = "/tmp/bs-test-detect.XXXXXX";
static struct conf *conf;
static struct detect_config *dc;

static const char conf_text[] =
	"node_name = \"smarthost1\"\n"
	"milter {\n"
	"  hostnames = {\"smtp.isp.example\"}\n"
	"  own_domains = {\"isp.example\"}\n"
	"  outbound_addresses = {\"192.0.2.25\"}\n"
	"  bulk_senders = {\"newsletter-co\"}\n"
	"  refire = 10m\n"
	"  rate {\n"
	"    score = 12\n"
	"    max_messages_1m = 5\n"
	"    max_messages_10m = 20\n"
	"    max_messages_1h = 0\n"
	"    max_recipients_1m = 20\n"
	"  }\n"
	"  fanout { max_domains_10m = 10 }\n"
	"  helo { score_single_label = 1  max_helos_10m = 3 }\n"
	"  sender { max_senders_10m = 4 }\n"
	"  subscriber \"alice\" {\n"
	"    domains = {\"alice.example\"}\n"
	"    max_messages_1m = 50\n"
	"  }\n"
	"  subscriber \"bulky\" { bulk = true }\n"
	"}\n";

static int
setup(void **state)
{
	char path[300], err[256];
	FILE *f;

	assert_non_null(mkdtemp(tmpdir));
	snprintf(path, sizeof path, "%s/t.conf", tmpdir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(conf_text, f);
	fclose(f);
	conf = conf_load(path, stderr);
	assert_non_null(conf);
	unlink(path);
	rmdir(tmpdir);
	dc = detect_config_load(conf, err, sizeof err);
	if (dc == NULL)
		fail_msg("%s", err);
	return 0;
}

static int
teardown(void **state)
{
	detect_config_free(dc);
	conf_unref(conf);
	return 0;
}

static struct det_subject
subj(const char *who, int64_t now_ms)
{
	struct det_subject s = { who, "100.64.1.2", "smarthost1", now_ms };
	return s;
}

/* The evidence of event i, parsed (caller decrefs). */
static json_t *
evidence(const struct det_out *o, size_t i)
{
	json_error_t e;
	json_t *j;

	assert_true(i < o->n);
	assert_non_null(o->ev[i].evidence);
	j = json_loads(o->ev[i].evidence, 0, &e);
	if (j == NULL)
		fail_msg("evidence is not JSON: %s: %s", e.text, o->ev[i].evidence);
	return j;
}

static const char *
jstr(json_t *j, const char *k)
{
	json_t *v = json_object_get(j, k);
	return json_is_string(v) ? json_string_value(v) : "";
}

static long
jint(json_t *j, const char *k)
{
	json_t *v = json_object_get(j, k);
	return json_is_integer(v) ? (long)json_integer_value(v) : -1;
}

/* ------------------------------------------------------------ config */

static void
test_config(void **state)
{
	struct det_limits m, r, d;
	const struct det_subscriber *a;
	struct ctr_spec spec;
	struct detect_config *def;
	char err[128];

	assert_int_equal(dc->rate.max_messages.v[DET_W_1M], 5);
	assert_int_equal(dc->rate.max_messages.v[DET_W_1H], 0);
	assert_int_equal(dc->rate.max_recipients.v[DET_W_10M], 150);   /* default */
	assert_true(dc->rate.score == 12);
	assert_int_equal(dc->rate.action, DET_ACT_THROTTLE);
	assert_int_equal(dc->helo.action, DET_ACT_MONITOR);
	assert_true(dc->helo.score[HELO_PROVIDER] == 15);
	assert_true(dc->helo.score[HELO_SINGLE_LABEL] == 1);
	assert_int_equal(dc->refire_s, 600);
	assert_int_equal(dc->refire_oneoff_s, 86400);
	assert_true(det_strlist_has(&dc->helo.providers, "GMAIL.com"));

	a = detect_subscriber(dc, "alice");
	assert_non_null(a);
	assert_null(detect_subscriber(dc, "bob"));
	detect_limits(dc, "alice", &m, &r, &d);
	assert_int_equal(m.v[DET_W_1M], 50);
	assert_int_equal(m.v[DET_W_10M], 20);    /* -1 keeps the default */
	assert_int_equal(r.v[DET_W_1M], 20);
	assert_int_equal(d.v[DET_W_10M], 10);
	detect_limits(dc, "bob", &m, NULL, NULL);
	assert_int_equal(m.v[DET_W_1M], 5);

	assert_true(detect_is_bulk(dc, "newsletter-co"));
	assert_true(detect_is_bulk(dc, "bulky"));
	assert_false(detect_is_bulk(dc, "alice"));
	assert_false(detect_is_bulk(dc, ""));

	assert_true(detect_domain_allowed(dc, "bob", "isp.example"));
	assert_true(detect_domain_allowed(dc, "bob", "Mail.ISP.example"));
	assert_false(detect_domain_allowed(dc, "bob", "notisp.example"));
	assert_false(detect_domain_allowed(dc, "bob", "alice.example"));
	assert_true(detect_domain_allowed(dc, "alice", "alice.example"));
	assert_true(detect_dkim_foreign(dc, "alice", "gmail.com"));
	assert_false(detect_dkim_foreign(dc, "alice", "isp.example"));

	detect_ctr_spec(dc, &spec);
	assert_int_equal(spec.n_counts, DET_N_COUNTS);
	assert_int_equal(spec.n_distinct, DET_N_DISTINCT);
	assert_int_equal(spec.n_windows, 3);
	assert_int_equal(spec.window_s[DET_W_10M], 600);
	assert_int_equal(spec.max_keys, 1000000);
	assert_true(spec.n_counts <= CTR_MAX_COUNTS && spec.n_distinct <= CTR_MAX_DISTINCT);

	/* built-in defaults, and hostnames falling back to node_name */
	def = detect_config_load(NULL, err, sizeof err);
	assert_non_null(def);
	assert_int_equal(def->rate.max_messages.v[DET_W_10M], 30);
	assert_int_equal(def->hostnames.n, 1);
	detect_config_free(def);
	detect_config_free(NULL);
}

static void
test_config_errors(void **state)
{
	static const char *const bad[] = {
		"milter { on_error = \"maybe\" }\n",
		"milter { rate { action = \"explode\" } }\n",
		"milter { outbound_addresses = {\"not-an-ip\"} }\n",
		"milter { helo { score_provider = -1 } }\n",
		"milter { rate { max_messages_1m = -5 } }\n",
		"milter { subscriber \"x\" { max_messages_1h = -2 } }\n",
		"milter { socket = \"tcp:1234\" }\n",
		"milter { own_domains = {\"bad domain\"} }\n",
	};
	char path[64], errbuf[1024];
	size_t i;

	snprintf(path, sizeof path, "/tmp/bs-test-detect-bad.%d.conf", (int)getpid());
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		FILE *f = fopen(path, "w"), *e;
		struct conf *c;

		assert_non_null(f);
		fputs(bad[i], f);
		fclose(f);
		e = fmemopen(errbuf, sizeof errbuf, "w");
		memset(errbuf, 0, sizeof errbuf);
		c = conf_load(path, e);
		fclose(e);
		if (c != NULL)
			fail_msg("accepted: %s", bad[i]);
		assert_true(strlen(errbuf) > 0);
	}
	unlink(path);
}

/* ------------------------------------------------------------ rate */

static void
test_rate_once_per_crossing(void **state)
{
	struct det_fire *f = det_fire_new(0);
	struct det_out o;
	struct ctr_values v;
	struct det_subject s = subj("bob", 1000000);
	json_t *j;

	det_out_init(&o);
	memset(&v, 0, sizeof v);
	v.count[DET_C_MESSAGES][DET_W_1M] = 5;      /* at the limit: fine */
	detect_rate(dc, f, &s, &v, "DESKTOP-1", &o);
	assert_int_equal(o.n, 0);

	v.count[DET_C_MESSAGES][DET_W_1M] = 6;      /* over: one event */
	v.count[DET_C_RECIPIENTS][DET_W_1M] = 9;
	detect_rate(dc, f, &s, &v, "DESKTOP-1", &o);
	assert_int_equal(o.n, 1);
	assert_string_equal(o.ev[0].kind, "rate");
	assert_string_equal(o.ev[0].source, "milter");
	assert_string_equal(o.ev[0].subscriber, "bob");
	assert_string_equal(o.ev[0].client_ip, "100.64.1.2");
	assert_string_equal(o.ev[0].node, "smarthost1");
	assert_true(o.ev[0].score == 12);
	j = evidence(&o, 0);
	assert_string_equal(jstr(j, "window"), "1m");
	assert_int_equal(jint(j, "messages"), 6);
	assert_int_equal(jint(j, "limit"), 5);
	assert_int_equal(jint(j, "recipients_in_window"), 9);
	assert_string_equal(jstr(j, "helo"), "DESKTOP-1");
	json_decref(j);

	/* still over, not doubled, refire not reached: quiet */
	v.count[DET_C_MESSAGES][DET_W_1M] = 11;
	s.now_ms += 1000;
	detect_rate(dc, f, &s, &v, NULL, &o);
	assert_int_equal(o.n, 1);
	/* doubled since the last event: again */
	v.count[DET_C_MESSAGES][DET_W_1M] = 12;
	detect_rate(dc, f, &s, &v, NULL, &o);
	assert_int_equal(o.n, 2);
	/* back under the limit and over again within the refire period: a
	 * steady sender hovering at its limit must not fire on every crossing */
	v.count[DET_C_MESSAGES][DET_W_1M] = 3;
	detect_rate(dc, f, &s, &v, NULL, &o);
	assert_int_equal(o.n, 2);
	v.count[DET_C_MESSAGES][DET_W_1M] = 6;
	s.now_ms += 60 * 1000;
	detect_rate(dc, f, &s, &v, NULL, &o);
	assert_int_equal(o.n, 2);
	/* re-armed: the doubling rule starts afresh, so 12 does not count as
	 * a doubling of the earlier 6 either */
	v.count[DET_C_MESSAGES][DET_W_1M] = 12;
	detect_rate(dc, f, &s, &v, NULL, &o);
	assert_int_equal(o.n, 2);
	/* over again once the refire period has passed: fires */
	v.count[DET_C_MESSAGES][DET_W_1M] = 7;
	s.now_ms += 601 * 1000;
	detect_rate(dc, f, &s, &v, NULL, &o);
	assert_int_equal(o.n, 3);
	det_out_clear(&o);
	assert_int_equal(o.n, 0);
	det_fire_free(f);
}

static void
test_rate_overrides_bulk_recipients(void **state)
{
	struct det_fire *f = det_fire_new(0);
	struct det_out o;
	struct ctr_values v;
	struct det_subject s;
	json_t *j;
	int w = -1;

	det_out_init(&o);
	memset(&v, 0, sizeof v);
	v.count[DET_C_MESSAGES][DET_W_1M] = 30;
	s = subj("alice", 1000);          /* her limit is 50 */
	detect_rate(dc, f, &s, &v, NULL, &o);
	assert_int_equal(o.n, 0);
	s = subj("newsletter-co", 1000);  /* bulk: never */
	v.count[DET_C_MESSAGES][DET_W_1M] = 100000;
	detect_rate(dc, f, &s, &v, NULL, &o);
	assert_int_equal(o.n, 0);
	assert_int_equal(detect_rate_check(dc, "newsletter-co", &v, NULL), 0);

	/* recipients over in 1m, messages over in 10m: two events, two checks */
	memset(&v, 0, sizeof v);
	v.count[DET_C_RECIPIENTS][DET_W_1M] = 21;
	v.count[DET_C_MESSAGES][DET_W_10M] = 21;
	s = subj("", 1000);                /* unattributed: keyed by IP */
	detect_rate(dc, f, &s, &v, NULL, &o);
	assert_int_equal(o.n, 2);
	assert_string_equal(o.ev[0].subscriber, "");
	j = evidence(&o, 0);
	assert_string_equal(jstr(j, "check"), "messages");
	assert_string_equal(jstr(j, "window"), "10m");
	json_decref(j);
	j = evidence(&o, 1);
	assert_string_equal(jstr(j, "check"), "recipients");
	assert_int_equal(jint(j, "recipients"), 21);
	json_decref(j);

	/* the throttle check: at the limit means the next one is over */
	memset(&v, 0, sizeof v);
	v.count[DET_C_MESSAGES][DET_W_10M] = 19;
	assert_int_equal(detect_rate_check(dc, "bob", &v, &w), 0);
	v.count[DET_C_MESSAGES][DET_W_10M] = 20;
	assert_int_equal(detect_rate_check(dc, "bob", &v, &w), 1);
	assert_int_equal(w, DET_W_10M);
	det_out_clear(&o);
	det_fire_free(f);
}

/* ------------------------------------------------------------ fanout */

static void
test_fanout(void **state)
{
	struct det_fire *f = det_fire_new(0);
	struct det_out o;
	struct ctr_values v;
	struct det_subject s = subj("bob", 5000);
	const char *sample[] = { "a.example", "b.example", "c\x01.example" };
	json_t *j;

	det_out_init(&o);
	memset(&v, 0, sizeof v);
	v.distinct[DET_D_RCPT_DOMAINS][DET_W_10M] = 10;
	detect_fanout(dc, f, &s, &v, sample, 3, &o);
	assert_int_equal(o.n, 0);
	v.distinct[DET_D_RCPT_DOMAINS][DET_W_10M] = 11.4;   /* an estimate */
	v.count[DET_C_RECIPIENTS][DET_W_10M] = 40;
	detect_fanout(dc, f, &s, &v, sample, 3, &o);
	assert_int_equal(o.n, 1);
	assert_string_equal(o.ev[0].kind, "fanout");
	j = evidence(&o, 0);
	assert_int_equal(jint(j, "domains"), 11);
	assert_int_equal(jint(j, "limit"), 10);
	assert_int_equal(json_array_size(json_object_get(j, "sample_domains")), 3);
	assert_string_equal(json_string_value(json_array_get(json_object_get(j, "sample_domains"), 2)),
	    "c\\x01.example");
	json_decref(j);
	detect_fanout(dc, f, &s, &v, NULL, 0, &o);
	assert_int_equal(o.n, 1);
	s.subscriber = "bulky";
	v.distinct[DET_D_RCPT_DOMAINS][DET_W_10M] = 1000;
	detect_fanout(dc, f, &s, &v, NULL, 0, &o);
	assert_int_equal(o.n, 1);
	det_out_clear(&o);
	det_fire_free(f);
}

/* ------------------------------------------------------------ helo */

static void
helo(struct det_fire *f, struct det_subject *s, const char *h, size_t len,
    const struct ctr_values *v, struct det_out *o)
{
	struct helo_obs ob = { h, len, s->client_ip };
	detect_helo(dc, f, s, &ob, v, o);
}

static void
test_helo_classes(void **state)
{
	struct det_fire *f = det_fire_new(0);
	struct det_out o;
	struct det_subject s = subj("bob", 1000);
	json_t *j;
	char big[10240];

	det_out_init(&o);
	helo(f, &s, "mail.bob.example", 16, NULL, &o);
	assert_int_equal(o.n, 0);
	helo(f, &s, "gmail.com", 9, NULL, &o);
	assert_int_equal(o.n, 1);
	assert_string_equal(o.ev[0].kind, "helo");
	assert_true(o.ev[0].score == 15);
	j = evidence(&o, 0);
	assert_string_equal(jstr(j, "check"), "provider");
	assert_string_equal(jstr(j, "helo"), "gmail.com");
	json_decref(j);
	/* same class again within refire: quiet; another class: an event */
	helo(f, &s, "yahoo.com", 9, NULL, &o);
	assert_int_equal(o.n, 1);
	helo(f, &s, "smtp.isp.example", 16, NULL, &o);
	assert_int_equal(o.n, 2);
	assert_true(o.ev[1].score == 15);
	helo(f, &s, "[192.0.2.1]", 11, NULL, &o);     /* not the client's */
	assert_int_equal(o.n, 3);
	j = evidence(&o, 2);
	assert_string_equal(jstr(j, "check"), "literal_other");
	assert_string_equal(jstr(j, "client_ip"), "100.64.1.2");
	json_decref(j);
	helo(f, &s, "[100.64.1.2]", 12, NULL, &o);    /* the client's: fine */
	assert_int_equal(o.n, 3);
	helo(f, &s, "DESKTOP-AB12", 12, NULL, &o);    /* scored 1 in this config */
	assert_int_equal(o.n, 4);
	assert_true(o.ev[3].score == 1);

	/* 10 kB with CR LF and NUL: escaped, cut, valid JSON */
	memset(big, 'A', sizeof big);
	memcpy(big, "x\r\nRCPT TO:<a@b>\0", 17);
	helo(f, &s, big, sizeof big, NULL, &o);
	assert_int_equal(o.n, 5);
	j = evidence(&o, 4);
	assert_string_equal(jstr(j, "check"), "control");
	assert_int_equal(jint(j, "helo_length"), (long)sizeof big);
	assert_true(strlen(jstr(j, "helo")) <= 258);
	assert_true(strncmp(jstr(j, "helo"), "x\\x0d\\x0aRCPT TO:<a@b>\\x00AAA", 29) == 0);
	json_decref(j);
	/* empty */
	helo(f, &s, "", 0, NULL, &o);
	assert_int_equal(o.n, 6);
	/* a one-off anomaly comes back after refire_oneoff (a day), not before */
	s.now_ms += 601 * 1000;
	helo(f, &s, "gmail.com", 9, NULL, &o);
	assert_int_equal(o.n, 6);
	s.now_ms += 86400 * 1000;
	helo(f, &s, "gmail.com", 9, NULL, &o);
	assert_int_equal(o.n, 7);
	det_out_clear(&o);
	det_fire_free(f);
}

static void
test_helo_churn(void **state)
{
	struct det_fire *f = det_fire_new(0);
	struct det_out o;
	struct det_subject s = subj("bot", 1000);
	struct ctr_values v;
	char name[64];
	json_t *j, *arr;
	int i;

	det_out_init(&o);
	memset(&v, 0, sizeof v);
	for (i = 1; i <= 6; i++) {
		snprintf(name, sizeof name, "host%d.random%d.example", i, i * 7);
		v.distinct[DET_D_HELOS][DET_W_10M] = i;
		v.distinct[DET_D_HELOS][DET_W_1H] = i;
		v.count[DET_C_CONNECTIONS][DET_W_10M] = i;
		helo(f, &s, name, strlen(name), &v, &o);
	}
	/* over 3 in 10m at the 4th name; over 5 in 1h at the 6th */
	assert_int_equal(o.n, 2);
	j = evidence(&o, 0);
	assert_string_equal(jstr(j, "check"), "churn");
	assert_string_equal(jstr(j, "window"), "10m");
	assert_int_equal(jint(j, "helos"), 4);
	assert_int_equal(jint(j, "limit"), 3);
	arr = json_object_get(j, "sample_helos");
	/* the first name came before there was churn to sample */
	assert_int_equal(json_array_size(arr), 3);
	assert_string_equal(json_string_value(json_array_get(arr, 0)), "host2.random14.example");
	json_decref(j);
	j = evidence(&o, 1);
	assert_string_equal(jstr(j, "window"), "1h");
	assert_int_equal(json_array_size(json_object_get(j, "sample_helos")), DET_SAMPLE_N);
	json_decref(j);
	det_out_clear(&o);
	det_fire_free(f);
}

/* ------------------------------------------------------------ sender */

static struct spf_checker *
spf_zone(void)
{
	struct spf_checker *c = spf_checker_new_zone("smarthost1", 300);

	assert_non_null(c);
	spf_zone_add(c, "forged.example", "v=spf1 ip4:198.51.100.0/24 -all");
	spf_zone_add(c, "soft.example", "v=spf1 ip4:198.51.100.0/24 ~all");
	spf_zone_add(c, "vanity.example", "v=spf1 ip4:192.0.2.0/24 -all");
	spf_zone_add(c, "*", NULL);
	return c;
}

static void
sender(struct det_fire *f, struct spf_checker *spf, struct det_subject *s, const char *env,
    const char *from, const struct ctr_values *v, struct det_out *o)
{
	struct sender_obs ob = { env, from, "DESKTOP-1" };
	detect_sender(dc, f, spf, s, &ob, v, o);
}

static void
test_sender_forgery(void **state)
{
	struct det_fire *f = det_fire_new(0);
	struct spf_checker *spf = spf_zone();
	struct det_out o;
	struct det_subject s = subj("bob", 1000);
	uint64_t checks, checks2;
	json_t *j;

	det_out_init(&o);
	/* allowed: the ISP's domain and its subdomains; alice's own for alice */
	sender(f, spf, &s, "<bob@isp.example>", "Bob <bob@mail.isp.example>", NULL, &o);
	assert_int_equal(o.n, 0);
	s.subscriber = "alice";
	sender(f, spf, &s, "<a@alice.example>", NULL, NULL, &o);
	assert_int_equal(o.n, 0);
	/* a domain that passes SPF for the smarthost is allowed */
	s.subscriber = "bob";
	sender(f, spf, &s, "<bob@vanity.example>", NULL, NULL, &o);
	assert_int_equal(o.n, 0);
	/* the null sender claims nothing */
	sender(f, spf, &s, "<>", NULL, NULL, &o);
	assert_int_equal(o.n, 0);

	/* a domain that forbids the smarthost: confirmed forgery */
	sender(f, spf, &s, "<ceo@forged.example>", "CEO <ceo@forged.example>", NULL, &o);
	assert_int_equal(o.n, 1);
	assert_string_equal(o.ev[0].kind, "sender_forgery");
	assert_true(o.ev[0].score == 20);
	j = evidence(&o, 0);
	assert_string_equal(jstr(j, "domain"), "forged.example");
	assert_string_equal(jstr(j, "where"), "both");
	assert_string_equal(jstr(j, "spf"), "fail");
	assert_string_equal(jstr(j, "spf_checked_ip"), "192.0.2.25");
	assert_string_equal(jstr(j, "env_from"), "<ceo@forged.example>");
	json_decref(j);
	/* again within refire: quiet, and no SPF lookup spent on it */
	spf_checker_stats(spf, &checks, NULL);
	sender(f, spf, &s, "<other@forged.example>", NULL, NULL, &o);
	assert_int_equal(o.n, 1);
	spf_checker_stats(spf, &checks2, NULL);
	assert_int_equal(checks, checks2);

	/* softfail weighs less; no SPF record weighs less; header-only */
	sender(f, spf, &s, "<bob@isp.example>", "x <x@soft.example>, y@isp.example", NULL, &o);
	assert_int_equal(o.n, 2);
	assert_true(o.ev[1].score == 10);
	j = evidence(&o, 1);
	assert_string_equal(jstr(j, "where"), "header");
	assert_string_equal(jstr(j, "spf"), "softfail");
	assert_int_equal(jint(j, "from_mailboxes"), 2);
	json_decref(j);
	sender(f, spf, &s, "<a@nospf.example>", NULL, NULL, &o);
	assert_int_equal(o.n, 3);
	assert_true(o.ev[2].score == 5);
	/* without an SPF checker: unchecked */
	sender(f, NULL, &s, "<a@unchecked.example>", NULL, NULL, &o);
	assert_int_equal(o.n, 4);
	j = evidence(&o, 3);
	assert_string_equal(jstr(j, "spf"), "unchecked");
	json_decref(j);
	/* junk in the envelope is not an event here (the milter logs it) */
	sender(f, spf, &s, "<<junk", "also junk", NULL, &o);
	assert_int_equal(o.n, 4);
	det_out_clear(&o);
	spf_checker_free(spf);
	det_fire_free(f);
}

static void
test_sender_churn(void **state)
{
	struct det_fire *f = det_fire_new(0);
	struct det_out o;
	struct det_subject s = subj("bot", 1000);
	struct ctr_values v;
	char env[64];
	json_t *j;
	int i;

	det_out_init(&o);
	memset(&v, 0, sizeof v);
	for (i = 1; i <= 5; i++) {
		snprintf(env, sizeof env, "<u%d@isp.example>", i);
		v.distinct[DET_D_SENDERS][DET_W_10M] = i;
		v.distinct[DET_D_SENDERS][DET_W_1H] = i;
		sender(f, NULL, &s, env, NULL, &v, &o);
	}
	assert_int_equal(o.n, 1);
	j = evidence(&o, 0);
	assert_string_equal(jstr(j, "check"), "churn");
	assert_int_equal(jint(j, "senders"), 5);
	assert_int_equal(jint(j, "limit"), 4);
	assert_true(json_array_size(json_object_get(j, "sample_senders")) >= 3);
	json_decref(j);
	det_out_clear(&o);
	det_fire_free(f);
}

/* ------------------------------------------------------------ dkim */

static void
test_dkim_events(void **state)
{
	struct det_fire *f = det_fire_new(0);
	struct det_out o;
	struct det_subject s = subj("bob", 1000);
	struct dkim_check_result r;
	json_t *j;

	det_out_init(&o);
	memset(&r, 0, sizeof r);
	r.verdict = DKIM_CHECK_PASS;
	snprintf(r.domain, sizeof r.domain, "bigbank.example");
	snprintf(r.selector, sizeof r.selector, "s2026");
	r.nsigs = 1;
	detect_dkim(dc, f, &s, &r, &o);
	assert_int_equal(o.n, 1);
	assert_string_equal(o.ev[0].kind, "dkim_replay");
	assert_true(o.ev[0].score == 20);
	j = evidence(&o, 0);
	assert_string_equal(jstr(j, "check"), "replay");
	assert_string_equal(jstr(j, "d"), "bigbank.example");
	assert_string_equal(jstr(j, "s"), "s2026");
	json_decref(j);
	detect_dkim(dc, f, &s, &r, &o);         /* once per refire */
	assert_int_equal(o.n, 1);

	r.verdict = DKIM_CHECK_FAIL;
	snprintf(r.error, sizeof r.error, "body hash mismatch");
	detect_dkim(dc, f, &s, &r, &o);
	assert_int_equal(o.n, 2);
	assert_true(o.ev[1].score == 10);
	j = evidence(&o, 1);
	assert_string_equal(jstr(j, "check"), "forgery");
	assert_string_equal(jstr(j, "error"), "body hash mismatch");
	json_decref(j);

	/* the ISP's own domain, and no verdict: nothing */
	snprintf(r.domain, sizeof r.domain, "isp.example");
	detect_dkim(dc, f, &s, &r, &o);
	r.verdict = DKIM_CHECK_TEMPERROR;
	snprintf(r.domain, sizeof r.domain, "other.example");
	detect_dkim(dc, f, &s, &r, &o);
	assert_int_equal(o.n, 2);
	det_out_clear(&o);
	det_fire_free(f);
}

/* ------------------------------------------------------------ helpers */

static void
test_json_str(void **state)
{
	json_t *j;
	char big[600];

	j = det_json_str("ok \xc3\xa9t\xc3\xa9", 8, 0);
	assert_string_equal(json_string_value(j), "ok \xc3\xa9t\xc3\xa9");
	json_decref(j);
	j = det_json_str("a\0b\r\n\xff\xc3", 7, 0);
	assert_string_equal(json_string_value(j), "a\\x00b\\x0d\\x0a\\xff\\xc3");
	json_decref(j);
	j = det_json_str("\xed\xa0\x80", 3, 0);     /* a UTF-16 surrogate: not UTF-8 */
	assert_string_equal(json_string_value(j), "\\xed\\xa0\\x80");
	json_decref(j);
	memset(big, 'z', sizeof big);
	j = det_json_str(big, sizeof big, 0);
	assert_int_equal(strlen(json_string_value(j)), 255 + 3);
	json_decref(j);
	j = det_json_str(NULL, 5, 10);
	assert_string_equal(json_string_value(j), "");
	json_decref(j);
}

static void
test_fire_bounded(void **state)
{
	struct det_fire *f = det_fire_new(4);
	char who[16];
	int i;

	for (i = 0; i < 10; i++) {
		snprintf(who, sizeof who, "s%d", i);
		assert_int_equal(det_fire_check(f, who, "rate", "x", 10, 5, 0, 1000), 1);
		det_sample_note(f, who, DET_S_HELO, "h", 1);
	}
	assert_int_equal(det_fire_size(f), 4);
	/* the most recent is remembered, the oldest forgotten */
	assert_int_equal(det_fire_check(f, "s9", "rate", "x", 10, 5, 0, 1000), 0);
	assert_int_equal(det_fire_check(f, "s0", "rate", "x", 10, 5, 0, 1000), 1);
	det_fire_free(f);
	det_fire_free(NULL);
	assert_int_equal(det_action_from_name("quarantine"), DET_ACT_QUARANTINE);
	assert_int_equal(det_action_from_name("bogus"), -1);
	assert_string_equal(det_action_name(DET_ACT_REJECT), "reject");
	assert_true(detect_hash_item("Example.COM", (size_t)-1) == detect_hash_item("example.com", 11));
	assert_true(detect_hash_item("a", 1) != detect_hash_item("b", 1));
	assert_true(detect_hash_item("", 0) != 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_rate_once_per_crossing),
		cmocka_unit_test(test_rate_overrides_bulk_recipients),
		cmocka_unit_test(test_fanout),
		cmocka_unit_test(test_helo_classes),
		cmocka_unit_test(test_helo_churn),
		cmocka_unit_test(test_sender_forgery),
		cmocka_unit_test(test_sender_churn),
		cmocka_unit_test(test_dkim_events),
		cmocka_unit_test(test_json_str),
		cmocka_unit_test(test_fire_bounded),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
