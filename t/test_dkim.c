/*
 * test_dkim.c - verifying DKIM signatures already on a message (lib/dkim.c)
 * with keys the test makes: an RSA key from OpenSSL, a message signed with
 * libopendkim's own signer, the public key served from a key file
 * (DKIM_QUERY_FILE), no DNS.  Valid -> pass (a replay), tampered body or
 * header -> fail (a forgery), the ISP's own domain -> nothing to judge.
 */
#include "config.h"
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/types.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <opendkim/dkim.h>

#include "dkim.h"

static char tmpdir[] = "/tmp/bs-test-dkim.XXXXXX";
static char keyfile[300];
static char *privpem;

/* the message: headers as the milter gets them (name, value) and a body */
static const char *const hdr_names[] = { "From", "To", "Subject", "Date", "Message-ID" };
static const char *const hdr_values[] = {
	"News <news@thirdparty.example>", "someone@victim.example", "Big offer",
	"Thu, 26 Nov 2026 14:00:00 +0000", "<abc123@thirdparty.example>",
};
static const char body[] = "Hello,\r\n\r\nthis message was signed once.\r\n";

static char sighdr[4096];    /* the DKIM-Signature value made by setup */

static void
make_key(void)
{
	EVP_PKEY *pk = EVP_RSA_gen(1024);
	BIO *b = BIO_new(BIO_s_mem());
	unsigned char *der = NULL, *b64;
	char *p;
	long n;
	int dl;
	FILE *f;

	assert_non_null(pk);
	assert_int_equal(PEM_write_bio_PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL), 1);
	n = BIO_get_mem_data(b, &p);
	privpem = calloc(1, (size_t)n + 1);
	memcpy(privpem, p, (size_t)n);
	BIO_free(b);
	dl = i2d_PUBKEY(pk, &der);
	assert_true(dl > 0);
	b64 = calloc(1, (size_t)dl * 2 + 4);
	EVP_EncodeBlock(b64, der, dl);
	OPENSSL_free(der);
	EVP_PKEY_free(pk);

	snprintf(keyfile, sizeof keyfile, "%s/keys", tmpdir);
	f = fopen(keyfile, "w");
	assert_non_null(f);
	fprintf(f, "# test keys\n");
	fprintf(f, "sel1._domainkey.thirdparty.example v=DKIM1; k=rsa; p=%s\n", b64);
	fprintf(f, "sel1._domainkey.isp.example v=DKIM1; k=rsa; p=%s\n", b64);
	fclose(f);
	free(b64);
}

/* Sign the message with libopendkim's signer as domain d. */
static void
sign(const char *d, char *out, size_t size)
{
	DKIM_LIB *lib = dkim_init(NULL, NULL);
	DKIM_STAT st;
	DKIM *k;
	char line[512];
	size_t i;

	assert_non_null(lib);
	k = dkim_sign(lib, (const unsigned char *)"test", NULL, (dkim_sigkey_t)privpem,
	    (const unsigned char *)"sel1", (const unsigned char *)d, DKIM_CANON_RELAXED,
	    DKIM_CANON_RELAXED, DKIM_SIGN_RSASHA256, -1, &st);
	assert_non_null(k);
	for (i = 0; i < sizeof hdr_names / sizeof hdr_names[0]; i++) {
		snprintf(line, sizeof line, "%s: %s", hdr_names[i], hdr_values[i]);
		assert_int_equal(dkim_header(k, (u_char *)line, strlen(line)), DKIM_STAT_OK);
	}
	assert_int_equal(dkim_eoh(k), DKIM_STAT_OK);
	assert_int_equal(dkim_body(k, (u_char *)body, strlen(body)), DKIM_STAT_OK);
	assert_int_equal(dkim_eom(k, NULL), DKIM_STAT_OK);
	assert_int_equal(dkim_getsighdr(k, (u_char *)out, size, strlen("DKIM-Signature: ")),
	    DKIM_STAT_OK);
	dkim_free(k);
	dkim_close(lib);
}

static int
setup(void **state)
{
	assert_non_null(mkdtemp(tmpdir));
	make_key();
	sign("thirdparty.example", sighdr, sizeof sighdr);
	return 0;
}

static int
teardown(void **state)
{
	unlink(keyfile);
	rmdir(tmpdir);
	free(privpem);
	return 0;
}

static int
foreign(const char *domain, void *arg)
{
	(void)arg;
	return strcasecmp(domain, "isp.example") != 0;
}

static struct dkim_checker *
checker(void)
{
	struct dkim_checker_opts o = { 0 };
	struct dkim_checker *c;
	char err[256];

	o.key_file = keyfile;
	o.min_key_bits = 1024;
	o.timeout_s = 5;
	c = dkim_checker_new(&o, err, sizeof err);
	if (c == NULL)
		fail_msg("%s", err);
	return c;
}

/* Feed a message: sig (may be NULL) first, then the headers with one value
 * replaced (which/alt), then the body; returns the eoh answer. */
static int
feed(struct dkim_check *k, const char *sig, int which, const char *alt, const char *b)
{
	size_t i;
	int need;

	if (sig != NULL)
		assert_int_equal(dkim_check_header(k, "DKIM-Signature", sig), 0);
	for (i = 0; i < sizeof hdr_names / sizeof hdr_names[0]; i++)
		dkim_check_header(k, hdr_names[i], (int)i == which ? alt : hdr_values[i]);
	need = dkim_check_eoh(k);
	if (need == DKIM_CHECK_NEED_BODY) {
		/* in two chunks, as a milter would get it */
		size_t half = strlen(b) / 2;
		dkim_check_body(k, (const unsigned char *)b, half);
		dkim_check_body(k, (const unsigned char *)b + half, strlen(b) - half);
	}
	return need;
}

static void
test_valid_is_pass(void **state)
{
	struct dkim_checker *c = checker();
	struct dkim_check *k = dkim_check_begin(c, "Q1", foreign, NULL);
	struct dkim_check_result r;

	assert_int_equal(feed(k, sighdr, -1, NULL, body), DKIM_CHECK_NEED_BODY);
	dkim_check_end(k, &r);
	if (r.verdict != DKIM_CHECK_PASS)
		fail_msg("verdict %s: %s", dkim_verdict_name(r.verdict), r.error);
	assert_string_equal(r.domain, "thirdparty.example");
	assert_string_equal(r.selector, "sel1");
	assert_int_equal(r.nsigs, 1);
	assert_int_equal(r.nforeign, 1);
	dkim_check_free(k);
	dkim_checker_free(c);
}

static void
test_tampered_body_is_fail(void **state)
{
	struct dkim_checker *c = checker();
	struct dkim_check *k = dkim_check_begin(c, "Q2", foreign, NULL);
	struct dkim_check_result r;

	feed(k, sighdr, -1, NULL, "Hello,\r\n\r\nthis message was CHANGED.\r\n");
	dkim_check_end(k, &r);
	assert_int_equal(r.verdict, DKIM_CHECK_FAIL);
	assert_string_equal(r.domain, "thirdparty.example");
	assert_string_equal(r.error, "body hash mismatch");
	dkim_check_free(k);
	dkim_checker_free(c);
}

static void
test_tampered_header_is_fail(void **state)
{
	struct dkim_checker *c = checker();
	struct dkim_check *k = dkim_check_begin(c, "Q3", foreign, NULL);
	struct dkim_check_result r;

	feed(k, sighdr, 2, "Another offer", body);
	dkim_check_end(k, &r);
	assert_int_equal(r.verdict, DKIM_CHECK_FAIL);
	assert_true(r.error[0] != '\0');
	dkim_check_free(k);
	dkim_checker_free(c);
}

static void
test_own_domain_not_judged(void **state)
{
	struct dkim_checker *c = checker();
	struct dkim_check *k = dkim_check_begin(c, "Q4", foreign, NULL);
	struct dkim_check_result r;
	char own[4096];

	sign("isp.example", own, sizeof own);
	/* not foreign: no libopendkim, no body */
	assert_int_equal(feed(k, own, -1, NULL, body), DKIM_CHECK_NO_BODY);
	dkim_check_end(k, &r);
	assert_int_equal(r.verdict, DKIM_CHECK_NONE);
	assert_int_equal(r.nsigs, 1);
	assert_int_equal(r.nforeign, 0);
	dkim_check_free(k);

	/* unsigned mail: nothing either */
	k = dkim_check_begin(c, "Q5", foreign, NULL);
	assert_int_equal(feed(k, NULL, -1, NULL, body), DKIM_CHECK_NO_BODY);
	dkim_check_end(k, &r);
	assert_int_equal(r.verdict, DKIM_CHECK_NONE);
	assert_int_equal(r.nsigs, 0);
	dkim_check_free(k);
	dkim_checker_free(c);
}

static void
test_unknown_key_and_junk(void **state)
{
	struct dkim_checker *c = checker();
	struct dkim_check *k;
	struct dkim_check_result r;
	char other[4096], *p;

	/* the same signature claiming a selector with no key: forged */
	snprintf(other, sizeof other, "%s", sighdr);
	p = strstr(other, "s=sel1");
	assert_non_null(p);
	p[5] = '9';
	k = dkim_check_begin(c, "Q6", foreign, NULL);
	feed(k, other, -1, NULL, body);
	dkim_check_end(k, &r);
	assert_int_equal(r.verdict, DKIM_CHECK_FAIL);
	dkim_check_free(k);

	/* a well-formed tag list for a foreign d= with made-up hashes: forged */
	k = dkim_check_begin(c, "Q7", foreign, NULL);
	feed(k, "v=1; a=rsa-sha256; c=relaxed/relaxed; d=thirdparty.example; s=sel1;\r\n\t"
	    "h=from:to:subject; bh=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=; b=AAAAAAAA", -1, NULL, body);
	dkim_check_end(k, &r);
	assert_int_equal(r.verdict, DKIM_CHECK_FAIL);
	assert_string_equal(r.domain, "thirdparty.example");
	dkim_check_free(k);

	/* a header that is not even a tag list names no domain: nothing to judge */
	k = dkim_check_begin(c, "Q8", foreign, NULL);
	assert_int_equal(feed(k, "d=thirdparty.example; v=1; junk", -1, NULL, body), DKIM_CHECK_NO_BODY);
	dkim_check_end(k, &r);
	assert_int_equal(r.verdict, DKIM_CHECK_NONE);
	assert_int_equal(r.nsigs, 1);
	dkim_check_free(k);
	dkim_checker_free(c);
}

static void
test_too_large_is_skipped(void **state)
{
	struct dkim_checker_opts o = { 0 };
	struct dkim_checker *c;
	struct dkim_check *k;
	struct dkim_check_result r;
	char err[128], *big;
	int i;

	o.key_file = keyfile;
	o.max_header_bytes = 8192;
	c = dkim_checker_new(&o, err, sizeof err);
	assert_non_null(c);
	k = dkim_check_begin(c, NULL, foreign, NULL);
	assert_int_equal(dkim_check_header(k, "DKIM-Signature", sighdr), 0);
	big = malloc(1 << 20);
	memset(big, 'x', (1 << 20) - 1);
	big[(1 << 20) - 1] = '\0';
	assert_int_equal(dkim_check_header(k, "X-Big", big), -1);
	for (i = 0; i < 3; i++)
		assert_int_equal(dkim_check_header(k, "X-More", "y"), -1);
	assert_int_equal(dkim_check_eoh(k), DKIM_CHECK_NO_BODY);
	dkim_check_end(k, &r);
	assert_int_equal(r.verdict, DKIM_CHECK_SKIPPED);
	dkim_check_free(k);
	free(big);
	dkim_checker_free(c);
	dkim_check_free(NULL);
	dkim_checker_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_is_pass),
		cmocka_unit_test(test_tampered_body_is_fail),
		cmocka_unit_test(test_tampered_header_is_fail),
		cmocka_unit_test(test_own_domain_not_judged),
		cmocka_unit_test(test_unknown_key_and_junk),
		cmocka_unit_test(test_too_large_is_skipped),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
