/*
 * privacy.c - the site secret and keyed hashes of recipient addresses (see
 * privacy.h).
 *
 * The secret file holds the key as text (any bytes; surrounding whitespace
 * and a final newline are trimmed; what privacy_create_secret writes is 64
 * hex digits, and those are used as they are, as text, so that a secret
 * typed by hand works the same way).  It must be a regular file that
 * neither group nor others may read or write: the same rule OpenSMTPD and
 * ssh apply to private keys, because a leaked secret lets anyone confirm
 * a guessed address against the database.
 *
 * Hashing: HMAC-SHA256(secret, lower-case(address without <> and
 * surrounding blanks)), as 64 lower-case hex digits.  Lower-casing the local
 * part too is a choice: RFC 5321 lets it be case-sensitive, but no real
 * mailbox provider treats it so, and counting must not split one mailbox.
 */
#include "config.h"
#include "privacy.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

int
privacy_load_secret(const char *path, struct privacy_key *k, char *err, size_t errlen)
{
	struct stat sb;
	unsigned char buf[PRIVACY_KEY_MAX + 2];
	size_t len = 0, start = 0;
	ssize_t r;
	int fd;

	memset(k, 0, sizeof *k);
	if (path == NULL || *path == '\0') {
		snprintf(err, errlen, "no secret file configured (secret_file = PATH; "
		    "`botsentry db init` creates one)");
		return -1;
	}
	fd = open(path, O_RDONLY | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "secret file %s: %s%s", path, strerror(errno),
		    errno == ENOENT ? " (`botsentry db init` creates one with mode 0600)" : "");
		return -1;
	}
	if (fstat(fd, &sb) < 0) {
		snprintf(err, errlen, "secret file %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "secret file %s: not a regular file", path);
		close(fd);
		return -1;
	}
	if ((sb.st_mode & 077) != 0) {
		snprintf(err, errlen, "secret file %s: mode %04o lets group or others read or "
		    "write it; refusing to use it (fix: chmod 600 %s)", path,
		    (unsigned)(sb.st_mode & 07777), path);
		close(fd);
		return -1;
	}
	while (len < sizeof buf && (r = read(fd, buf + len, sizeof buf - len)) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "secret file %s: %s", path, strerror(errno));
			close(fd);
			return -1;
		}
		len += (size_t)r;
	}
	close(fd);
	while (len > 0 && isspace(buf[len - 1]))
		len--;
	while (start < len && isspace(buf[start]))
		start++;
	if (len - start > PRIVACY_KEY_MAX) {
		snprintf(err, errlen, "secret file %s: longer than %d bytes", path, PRIVACY_KEY_MAX);
		return -1;
	}
	if (len == start) {
		snprintf(err, errlen, "secret file %s: empty (remove it and run `botsentry db init`, "
		    "or write 64 random hex digits into it with mode 0600)", path);
		return -1;
	}
	memcpy(k->key, buf + start, len - start);
	k->len = len - start;
	OPENSSL_cleanse(buf, sizeof buf);
	return 0;
}

int
privacy_create_secret(const char *path, char *err, size_t errlen)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[32];
	char txt[65 + 1];
	size_t i, off = 0;
	int fd;

	if (RAND_bytes(raw, sizeof raw) != 1) {
		snprintf(err, errlen, "secret file %s: no random bytes from OpenSSL", path);
		return -1;
	}
	for (i = 0; i < sizeof raw; i++) {
		txt[2 * i] = hex[raw[i] >> 4];
		txt[2 * i + 1] = hex[raw[i] & 15];
	}
	txt[64] = '\n';
	txt[65] = '\0';
	OPENSSL_cleanse(raw, sizeof raw);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "secret file %s: cannot create it: %s", path, strerror(errno));
		OPENSSL_cleanse(txt, sizeof txt);
		return -1;
	}
	/* the umask may only remove bits; make sure of 0600 anyway */
	(void)fchmod(fd, 0600);
	while (off < 65) {
		ssize_t w = write(fd, txt + off, 65 - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			snprintf(err, errlen, "secret file %s: write: %s", path, strerror(errno));
			close(fd);
			unlink(path);
			OPENSSL_cleanse(txt, sizeof txt);
			return -1;
		}
		off += (size_t)w;
	}
	OPENSSL_cleanse(txt, sizeof txt);
	if (fsync(fd) < 0 || close(fd) < 0) {
		snprintf(err, errlen, "secret file %s: %s", path, strerror(errno));
		unlink(path);
		return -1;
	}
	return 0;
}

/* The address without surrounding blanks and <>: [*s, *s + *n). */
static void
bare(const char *addr, const char **s, size_t *n)
{
	const char *a = addr, *e = addr + strlen(addr);

	while (a < e && isspace((unsigned char)*a))
		a++;
	while (e > a && isspace((unsigned char)e[-1]))
		e--;
	if (a < e && *a == '<')
		a++;
	if (e > a && e[-1] == '>')
		e--;
	*s = a;
	*n = (size_t)(e - a);
}

void
privacy_hash_addr(const struct privacy_key *k, const char *addr, char out[PRIVACY_HASH_HEX])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE], stackbuf[256], *low;
	unsigned int mdlen = 0, i;
	const char *s;
	size_t n, j;

	bare(addr != NULL ? addr : "", &s, &n);
	low = n <= sizeof stackbuf ? stackbuf : xmalloc(n);
	for (j = 0; j < n; j++)
		low[j] = (unsigned char)tolower((unsigned char)s[j]);
	if (HMAC(EVP_sha256(), k->key, (int)k->len, low, n, md, &mdlen) == NULL)
		mdlen = 0;   /* cannot happen with SHA-256; leaves "" below */
	if (low != stackbuf)
		free(low);
	for (i = 0; i < mdlen && i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[2 * i] = '\0';
}

char *
privacy_addr_domain(const char *addr, char *buf, size_t size)
{
	const char *s, *at;
	size_t n, dn, j;

	if (size == 0)
		return buf;
	buf[0] = '\0';
	bare(addr != NULL ? addr : "", &s, &n);
	at = memrchr(s, '@', n);
	if (at == NULL)
		return buf;
	dn = n - (size_t)(at + 1 - s);
	if (dn >= size)
		dn = size - 1;
	for (j = 0; j < dn; j++)
		buf[j] = (char)tolower((unsigned char)at[1 + j]);
	buf[dn] = '\0';
	/* a trailing dot names the same domain */
	if (dn > 0 && buf[dn - 1] == '.')
		buf[dn - 1] = '\0';
	return buf;
}
