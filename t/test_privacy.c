/*
 * test_privacy.c - the site secret file and HMAC-SHA256 of addresses
 * (lib/privacy.c).
 */
#include "config.h"

#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "privacy.h"

static char dir[64];

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/test_privacy_XXXXXX");
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char cmd[128];
	(void)state;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
set_key(struct privacy_key *k, const char *s)
{
	memset(k, 0, sizeof *k);
	k->len = strlen(s);
	memcpy(k->key, s, k->len);
}

/* RFC 4231 test case 2 (key "Jefe"), and the same after normalising. */
static void
test_hmac_vector(void **state)
{
	static const char want[] =
	    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
	struct privacy_key k;
	char out[PRIVACY_HASH_HEX];

	(void)state;
	set_key(&k, "Jefe");
	privacy_hash_addr(&k, "what do ya want for nothing?", out);
	assert_string_equal(out, want);
	privacy_hash_addr(&k, "<WHAT do ya want for Nothing?>", out);
	assert_string_equal(out, want);
	privacy_hash_addr(&k, "  <what do ya want for nothing?> ", out);
	assert_string_equal(out, want);
}

static void
test_hmac_addresses(void **state)
{
	struct privacy_key k;
	char a[PRIVACY_HASH_HEX], b[PRIVACY_HASH_HEX], c[PRIVACY_HASH_HEX];
	char *longaddr;
	size_t i;

	(void)state;
	set_key(&k, "site-secret-1");
	privacy_hash_addr(&k, "<Alice@Example.COM>", a);
	privacy_hash_addr(&k, "alice@example.com", b);
	assert_string_equal(a, b);
	assert_int_equal(strlen(a), 64);
	for (i = 0; i < 64; i++)
		assert_true(isxdigit((unsigned char)a[i]) && !isupper((unsigned char)a[i]));
	privacy_hash_addr(&k, "bob@example.com", c);
	assert_string_not_equal(a, c);
	/* another site, another hash */
	set_key(&k, "site-secret-2");
	privacy_hash_addr(&k, "alice@example.com", c);
	assert_string_not_equal(a, c);
	/* long input takes the heap path */
	longaddr = malloc(5000);
	memset(longaddr, 'A', 4999);
	longaddr[4999] = '\0';
	privacy_hash_addr(&k, longaddr, a);
	for (i = 0; i < 4999; i++)
		longaddr[i] = 'a';
	privacy_hash_addr(&k, longaddr, b);
	assert_string_equal(a, b);
	free(longaddr);
}

static void
test_domain(void **state)
{
	char buf[64];

	(void)state;
	assert_string_equal(privacy_addr_domain("<User@Example.COM>", buf, sizeof buf), "example.com");
	assert_string_equal(privacy_addr_domain("user@mail.example.org.", buf, sizeof buf), "mail.example.org");
	assert_string_equal(privacy_addr_domain("\"a@b\"@c.example", buf, sizeof buf), "c.example");
	assert_string_equal(privacy_addr_domain("postmaster", buf, sizeof buf), "");
	assert_string_equal(privacy_addr_domain("<>", buf, sizeof buf), "");
	assert_string_equal(privacy_addr_domain("", buf, sizeof buf), "");
	assert_string_equal(privacy_addr_domain("x@verylongdomain.example", buf, 8), "verylon");
}

static void
test_secret_files(void **state)
{
	char path[128], err[512];
	struct privacy_key k;
	struct stat sb;
	FILE *f;
	size_t i;

	(void)state;
	snprintf(path, sizeof path, "%s/secret", dir);
	/* missing */
	assert_int_equal(privacy_load_secret(path, &k, err, sizeof err), -1);
	assert_non_null(strstr(err, path));
	/* created fresh: 0600, 64 hex digits */
	assert_int_equal(privacy_create_secret(path, err, sizeof err), 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(privacy_load_secret(path, &k, err, sizeof err), 0);
	assert_int_equal(k.len, 64);
	for (i = 0; i < 64; i++)
		assert_true(isxdigit(k.key[i]));
	/* never overwritten */
	assert_int_equal(privacy_create_secret(path, err, sizeof err), -1);
	assert_non_null(strstr(err, path));
	/* group- or world-accessible: refused, with the fix */
	chmod(path, 0640);
	assert_int_equal(privacy_load_secret(path, &k, err, sizeof err), -1);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "chmod 600"));
	chmod(path, 0604);
	assert_int_equal(privacy_load_secret(path, &k, err, sizeof err), -1);
	chmod(path, 0602);
	assert_int_equal(privacy_load_secret(path, &k, err, sizeof err), -1);
	chmod(path, 0400);
	assert_int_equal(privacy_load_secret(path, &k, err, sizeof err), 0);
	/* empty */
	snprintf(path, sizeof path, "%s/empty", dir);
	f = fopen(path, "w");
	fputs(" \n", f);
	fclose(f);
	chmod(path, 0600);
	assert_int_equal(privacy_load_secret(path, &k, err, sizeof err), -1);
	assert_non_null(strstr(err, "empty"));
	/* too long */
	snprintf(path, sizeof path, "%s/long", dir);
	f = fopen(path, "w");
	for (i = 0; i < 300; i++)
		fputc('a', f);
	fclose(f);
	chmod(path, 0600);
	assert_int_equal(privacy_load_secret(path, &k, err, sizeof err), -1);
	/* a folder is not a secret */
	assert_int_equal(privacy_load_secret(dir, &k, err, sizeof err), -1);
	/* no path at all */
	assert_int_equal(privacy_load_secret(NULL, &k, err, sizeof err), -1);
	/* a hand-written secret is used as text */
	snprintf(path, sizeof path, "%s/hand", dir);
	f = fopen(path, "w");
	fputs("Jefe\n", f);
	fclose(f);
	chmod(path, 0600);
	assert_int_equal(privacy_load_secret(path, &k, err, sizeof err), 0);
	assert_int_equal(k.len, 4);
	assert_memory_equal(k.key, "Jefe", 4);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hmac_vector),
		cmocka_unit_test(test_hmac_addresses),
		cmocka_unit_test(test_domain),
		cmocka_unit_test(test_secret_files),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
