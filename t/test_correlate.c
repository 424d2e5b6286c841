/*
 * test_correlate.c - correlate.c: decay, half-life, levels, state machine.
 */
#include "config.h"
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <stdio.h>
#include <cmocka.h>

#include "correlate.h"
#include "event.h"

static const struct score_settings pol = { .half_life_s = 3600.0, .level = { 10.0, 30.0, 60.0 }, .mitigation = "throttle" };

static void
test_decay_exact(void **state)
{
	/* no time: unchanged */
	assert_true(correlate_decay(40.0, 1000, 1000, 3600) == 40.0);
	/* one half-life halves, two quarter them */
	assert_float_equal(correlate_decay(40.0, 0, 3600000, 3600), 20.0, 1e-12);
	assert_float_equal(correlate_decay(40.0, 0, 7200000, 3600), 10.0, 1e-12);
	/* half a half-life: factor 1/sqrt(2) */
	assert_float_equal(correlate_decay(40.0, 0, 1800000, 3600), 40.0 / sqrt(2.0), 1e-9);
	/* only the difference matters */
	assert_float_equal(correlate_decay(8.0, 1700000000000LL, 1700000000000LL + 600000, 600),
	    4.0, 1e-12);
	/* ms resolution: 1 ms with a 1 s half-life */
	assert_float_equal(correlate_decay(1.0, 0, 1, 1.0), exp2(-0.001), 1e-15);
}

static void
test_decay_edges(void **state)
{
	/* time running backwards does not raise the score */
	assert_true(correlate_decay(10.0, 5000, 1000, 60) == 10.0);
	/* a zero or negative half-life means no decay */
	assert_true(correlate_decay(10.0, 0, 1000000, 0) == 10.0);
	assert_true(correlate_decay(10.0, 0, 1000000, -5) == 10.0);
	/* a very long gap goes to (nearly) nothing, never negative */
	assert_true(correlate_decay(1000.0, 0, 1000LL * 3600 * 24 * 365, 60) >= 0.0);
	assert_true(correlate_decay(1000.0, 0, 1000LL * 3600 * 24 * 365, 60) < 1e-9);
	assert_true(correlate_decay(0.0, 0, 1000, 60) == 0.0);
}

static void
test_level_boundaries(void **state)
{
	assert_int_equal(correlate_level(&pol, 0.0), 0);
	assert_int_equal(correlate_level(&pol, -1.0), 0);
	assert_int_equal(correlate_level(&pol, 9.999), 0);
	assert_int_equal(correlate_level(&pol, 10.0), 1);      /* threshold is inclusive */
	assert_int_equal(correlate_level(&pol, 29.99), 1);
	assert_int_equal(correlate_level(&pol, 30.0), 2);
	assert_int_equal(correlate_level(&pol, 59.99), 2);
	assert_int_equal(correlate_level(&pol, 60.0), 3);
	assert_int_equal(correlate_level(&pol, 1e9), 3);
	assert_int_equal(correlate_level(&pol, NAN), 0);
}

static void
test_level_after_decay(void **state)
{
	/* 70 points decay below the level-3 threshold after one half-life */
	double s = correlate_decay(70.0, 0, 3600000, pol.half_life_s);

	assert_int_equal(correlate_level(&pol, 70.0), 3);
	assert_int_equal(correlate_level(&pol, s), 2);
}

/* Volume alone (rate, fanout) stops at level 1; another kind lifts it. */
static void
test_volume_corroboration(void **state)
{
	struct score_settings p = pol;

	p.volume_max_level = 1;
	snprintf(p.volume_kinds, sizeof p.volume_kinds, "rate,fanout");
	assert_int_equal(correlate_level_kinds(&p, 100.0, "rate"), 1);
	assert_int_equal(correlate_level_kinds(&p, 100.0, "fanout,rate"), 1);
	assert_int_equal(correlate_level_kinds(&p, 5.0, "rate"), 0);
	assert_int_equal(correlate_level_kinds(&p, 100.0, "fanout,helo,rate"), 3);
	assert_int_equal(correlate_level_kinds(&p, 35.0, "direct_mx"), 2);
	/* a kind that merely starts like a volume kind is not one */
	assert_int_equal(correlate_level_kinds(&p, 100.0, "rates"), 3);
	assert_int_equal(correlate_level_kinds(&p, 100.0, ""), 3);
	/* the score is held under level 2 while volume-only */
	assert_true(correlate_cap_score(&p, 500.0, "rate,fanout") < 30.0);
	assert_true(correlate_cap_score(&p, 500.0, "rate,fanout") > 29.9);
	assert_true(correlate_cap_score(&p, 12.0, "rate") == 12.0);
	assert_true(correlate_cap_score(&p, 500.0, "rate,helo") == 500.0);
	assert_true(correlate_volume_only(&p, "rate,fanout"));
	assert_false(correlate_volume_only(&p, "rate,helo"));
	/* the rule off: an empty list, or a cap of 3 */
	p.volume_kinds[0] = '\0';
	assert_int_equal(correlate_level_kinds(&p, 100.0, "rate"), 3);
	snprintf(p.volume_kinds, sizeof p.volume_kinds, "rate,fanout");
	p.volume_max_level = 3;
	assert_int_equal(correlate_level_kinds(&p, 100.0, "rate"), 3);
	p.volume_max_level = 0;
	assert_int_equal(correlate_level_kinds(&p, 100.0, "rate"), 0);
}

/* Unattributed events: an IPv6 client is keyed by its delegated prefix. */
static void
test_incident_key(void **state)
{
	struct score_settings p = pol;
	struct event ev;
	char key[300];

	p.ipv6_prefix_len = 56;
	event_init(&ev, 1, "milter", "helo", 1);
	event_set_subscriber(&ev, "alice");
	event_set_client_ip(&ev, "2001:db8:0:1ab::5");
	correlate_incident_key(&p, &ev, key, sizeof key);
	assert_string_equal(key, "alice");
	event_set_subscriber(&ev, "");
	correlate_incident_key(&p, &ev, key, sizeof key);
	assert_string_equal(key, "ip:2001:db8:0:100::/56");
	event_set_client_ip(&ev, "2001:db8:0:1ff:aaaa::1");   /* same /56 */
	correlate_incident_key(&p, &ev, key, sizeof key);
	assert_string_equal(key, "ip:2001:db8:0:100::/56");
	event_set_client_ip(&ev, "100.64.1.10");
	correlate_incident_key(&p, &ev, key, sizeof key);
	assert_string_equal(key, "ip:100.64.1.10");
	p.ipv6_prefix_len = 0;
	event_set_client_ip(&ev, "2001:db8:0:1ab::5");
	correlate_incident_key(&p, &ev, key, sizeof key);
	assert_string_equal(key, "ip:2001:db8:0:1ab::5");
	event_set_client_ip(&ev, "");
	correlate_incident_key(&p, &ev, key, sizeof key);
	assert_string_equal(key, "");
}

static void
test_states(void **state)
{
	assert_true(correlate_state_active("open"));
	assert_true(correlate_state_active("notified"));
	assert_true(correlate_state_active("acknowledged"));
	assert_false(correlate_state_active("resolved"));
	assert_false(correlate_state_active("false_positive"));
	assert_false(correlate_state_active("bogus"));
	assert_false(correlate_state_active(NULL));
}

static void
test_transitions(void **state)
{
	/* the life cycle, forwards */
	assert_true(correlate_transition_ok("open", "notified"));
	assert_true(correlate_transition_ok("notified", "acknowledged"));
	assert_true(correlate_transition_ok("acknowledged", "resolved"));
	assert_true(correlate_transition_ok("acknowledged", "false_positive"));
	/* skipping forwards is allowed */
	assert_true(correlate_transition_ok("open", "acknowledged"));
	assert_true(correlate_transition_ok("open", "resolved"));
	assert_true(correlate_transition_ok("notified", "false_positive"));
	/* backwards, sideways and from terminal states are not */
	assert_false(correlate_transition_ok("notified", "open"));
	assert_false(correlate_transition_ok("acknowledged", "notified"));
	assert_false(correlate_transition_ok("open", "open"));
	assert_false(correlate_transition_ok("resolved", "open"));
	assert_false(correlate_transition_ok("resolved", "false_positive"));
	assert_false(correlate_transition_ok("false_positive", "resolved"));
	assert_false(correlate_transition_ok("false_positive", "acknowledged"));
	/* unknown names */
	assert_false(correlate_transition_ok("open", "closed"));
	assert_false(correlate_transition_ok("new", "open"));
	assert_false(correlate_transition_ok(NULL, "open"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decay_exact),
		cmocka_unit_test(test_decay_edges),
		cmocka_unit_test(test_level_boundaries),
		cmocka_unit_test(test_level_after_decay),
		cmocka_unit_test(test_volume_corroboration),
		cmocka_unit_test(test_incident_key),
		cmocka_unit_test(test_states),
		cmocka_unit_test(test_transitions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
