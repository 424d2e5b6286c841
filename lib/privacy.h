/*
 * privacy.h - the site secret and keyed hashes of recipient addresses.
 *
 * Recipient addresses are never stored in clear: they are reduced to their
 * domain, or hashed with HMAC-SHA256 under a site secret kept in a file of
 * its own (mode 0600 or stricter).  The same address always gives the same
 * hash at one site, so the abuse desk can count and match, but a leaked
 * database does not give the addresses back.
 */
#ifndef BS_PRIVACY_H
#define BS_PRIVACY_H

#include <stddef.h>

#define PRIVACY_KEY_MAX 128
#define PRIVACY_HASH_HEX 65          /* 64 hex digits + NUL */

struct privacy_key {
	unsigned char key[PRIVACY_KEY_MAX];
	size_t len;
};

/* Read the secret; refuse a missing file, an empty one, or one that group or
 * others may read or write.  0, or -1 with a message naming the file. */
int privacy_load_secret(const char *path, struct privacy_key *k, char *err, size_t errlen);
/* Create a fresh 32-byte random secret (hex) with mode 0600; fails if the
 * file exists.  0 or -1 with a message. */
int privacy_create_secret(const char *path, char *err, size_t errlen);

/* HMAC-SHA256 of the address, lower-cased and without <>, as hex. */
void privacy_hash_addr(const struct privacy_key *k, const char *addr, char out[PRIVACY_HASH_HEX]);
/* The domain part of an address, lower-cased into buf ("" if none). */
char *privacy_addr_domain(const char *addr, char *buf, size_t size);

#endif
