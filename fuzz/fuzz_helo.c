/*
 * fuzz_helo.c - libFuzzer target for the HELO classifier (lib/helo.c) and
 * for turning a hostile HELO into evidence JSON (det_json_str).
 *
 * The first byte picks the client address the literal is compared with;
 * the rest is the HELO argument, NUL bytes and all.  Invariants: the class
 * is in range, an over-long clean argument is "too_long", the JSON string
 * is valid (jansson accepted it) and bounded.
 */
#include "config.h"
#include "detect.h"
#include "helo.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static const char *const own_hosts[] = { "smtp.isp.example" };
static const char *const own_domains[] = { "isp.example" };
static const char *const providers[] = { "gmail.com", "outlook.com" };
static const char *const clients[] = { NULL, "192.0.2.1", "2001:db8::1", "::ffff:192.0.2.1" };

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct helo_lists l = { own_hosts, 1, own_domains, 1, providers, 2 };
	const char *h;
	enum helo_class c;
	json_t *j;

	if (size < 1)
		return 0;
	h = (const char *)data + 1;
	c = helo_classify(h, size - 1, clients[data[0] % 4], &l);
	if ((int)c < 0 || c >= HELO_N_CLASSES)
		abort();
	if (c == HELO_OK) {
		/* the classifier ignores blanks around the name */
		size_t b = 0, e = size - 1;
		while (b < e && (h[b] == ' ' || h[b] == '\t'))
			b++;
		while (e > b && (h[e - 1] == ' ' || h[e - 1] == '\t'))
			e--;
		if (helo_hostname_labels(h + b, e - b) < 2)
			abort();
	}
	j = det_json_str(h, size - 1, 0);
	if (j == NULL || !json_is_string(j) || strlen(json_string_value(j)) > 258)
		abort();
	json_decref(j);
	return 0;
}
