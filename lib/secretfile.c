/*
 * secretfile.c - read a secret file (webhook key, RT token, Redis
 * password) the way privacy_load_secret does: a secret that others can
 * read is refused, not used (OpenSMTPD's habit).
 */
#include "config.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *
bs_read_secret(const char *path, size_t *len, char *err, size_t errlen)
{
	struct stat sb;
	char *buf;
	size_t n = 0;
	int fd;

	if (path == NULL || *path == '\0') {
		snprintf(err, errlen, "no secret file configured");
		return NULL;
	}
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot open secret file: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return NULL;
	}
	if ((sb.st_mode & 077) != 0) {
		snprintf(err, errlen, "%s: mode %04o lets group or others read or write it; chmod 600 it",
		    path, (unsigned)(sb.st_mode & 07777));
		close(fd);
		return NULL;
	}
	if (sb.st_size <= 0 || sb.st_size > 4096) {
		snprintf(err, errlen, "%s: expected a secret of 1 to 4096 bytes, the file has %lld",
		    path, (long long)sb.st_size);
		close(fd);
		return NULL;
	}
	buf = xmalloc((size_t)sb.st_size + 1);
	while (n < (size_t)sb.st_size) {
		ssize_t r = read(fd, buf + n, (size_t)sb.st_size - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	if (n == 0) {
		snprintf(err, errlen, "%s: the secret file is empty", path);
		free(buf);
		return NULL;
	}
	*len = n;
	return buf;
}
