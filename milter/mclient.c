/*
 * mclient.c - the MTA's side of the milter protocol; see mclient.h.
 *
 * Wire format (libmilter's mfdef.h): every packet is a 32-bit big-endian
 * length (command byte included), the command byte, then the data.  The
 * option negotiation carries three 32-bit words (version, actions, protocol
 * flags); the filter answers with its own three, possibly followed by macro
 * lists it wants (ignored here).  Strings are NUL-terminated.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "mclient.h"

/* protocol constants (libmilter/mfdef.h values; not included so that this
 * file builds without libmilter's headers) */
#define P_NOCONNECT 0x1u
#define P_NOHELO 0x2u
#define P_NOMAIL 0x4u
#define P_NORCPT 0x8u
#define P_NOBODY 0x10u
#define P_NOHDRS 0x20u
#define P_NOEOH 0x40u
#define P_NR_HDR 0x80u
#define P_NOUNKNOWN 0x100u
#define P_NODATA 0x200u
#define P_SKIP 0x400u
#define P_NR_CONN 0x1000u
#define P_NR_HELO 0x2000u
#define P_NR_MAIL 0x4000u
#define P_NR_RCPT 0x8000u
#define P_NR_DATA 0x10000u
#define P_NR_EOH 0x40000u
#define P_NR_BODY 0x80000u

/* What Postfix 3.7 offers (milter8.c): every stage, every no-reply flag,
 * skip, rejected recipients, leading space. */
#define MTA_PFLAGS 0x001FFFFFu
#define MTA_ACTIONS 0x000001FFu

static int fail(struct mclient *mc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
fail(struct mclient *mc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(mc->err, sizeof mc->err, fmt, ap);
	va_end(ap);
	return -1;
}

int
mc_open(struct mclient *mc, const char *spec)
{
	const char *p;

	memset(mc, 0, sizeof *mc);
	mc->fd = -1;
	if (strncmp(spec, "unix:", 5) == 0 || strncmp(spec, "local:", 6) == 0 || spec[0] == '/') {
		struct sockaddr_un sun;

		p = spec[0] == '/' ? spec : strchr(spec, ':') + 1;
		if (strlen(p) >= sizeof sun.sun_path)
			return fail(mc, "socket path too long: %s", p);
		memset(&sun, 0, sizeof sun);
		sun.sun_family = AF_UNIX;
		strcpy(sun.sun_path, p);
		mc->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (mc->fd < 0)
			return fail(mc, "socket: %s", strerror(errno));
		if (connect(mc->fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
			int e = errno;
			close(mc->fd);
			mc->fd = -1;
			return fail(mc, "connect %s: %s", p, strerror(e));
		}
		return 0;
	}
	if (strncmp(spec, "inet:", 5) == 0 || strncmp(spec, "inet6:", 6) == 0) {
		char port[16], host[256];
		const char *at;
		struct addrinfo hints, *ai = NULL, *a;
		int one = 1, rc;

		p = strchr(spec, ':') + 1;
		at = strchr(p, '@');
		if (at == NULL || (size_t)(at - p) >= sizeof port || strlen(at + 1) >= sizeof host)
			return fail(mc, "expected inet:PORT@HOST, got %s", spec);
		memcpy(port, p, (size_t)(at - p));
		port[at - p] = '\0';
		strcpy(host, at + 1);
		memset(&hints, 0, sizeof hints);
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
		if ((rc = getaddrinfo(host, port, &hints, &ai)) != 0)
			return fail(mc, "%s: %s", spec, gai_strerror(rc));
		for (a = ai; a != NULL; a = a->ai_next) {
			mc->fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
			if (mc->fd < 0)
				continue;
			if (connect(mc->fd, a->ai_addr, a->ai_addrlen) == 0)
				break;
			close(mc->fd);
			mc->fd = -1;
		}
		freeaddrinfo(ai);
		if (mc->fd < 0)
			return fail(mc, "connect %s: %s", spec, strerror(errno));
		setsockopt(mc->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		return 0;
	}
	return fail(mc, "unknown socket form (unix:PATH or inet:PORT@HOST): %s", spec);
}

void
mc_close(struct mclient *mc)
{
	if (mc->fd >= 0)
		close(mc->fd);
	mc->fd = -1;
}

static int
write_all(struct mclient *mc, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = send(mc->fd, p, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return fail(mc, "write: %s", strerror(errno));
		}
		p += n;
		len -= (size_t)n;
		mc->bytes_out += (uint64_t)n;
	}
	return 0;
}

static int
read_all(struct mclient *mc, void *buf, size_t len)
{
	char *p = buf;
	int tmo = mc->timeout_ms > 0 ? mc->timeout_ms : 30000;

	while (len > 0) {
		struct pollfd pfd = { .fd = mc->fd, .events = POLLIN };
		ssize_t n;
		int r = poll(&pfd, 1, tmo);

		if (r == 0)
			return fail(mc, "read: timeout after %d ms", tmo);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return fail(mc, "poll: %s", strerror(errno));
		}
		n = read(mc->fd, p, len);
		if (n == 0)
			return fail(mc, "read: the filter closed the connection");
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return fail(mc, "read: %s", strerror(errno));
		}
		p += n;
		len -= (size_t)n;
		mc->bytes_in += (uint64_t)n;
	}
	return 0;
}

int
mc_send_raw(struct mclient *mc, char cmd, const void *data, size_t len)
{
	unsigned char hdr[5];
	uint32_t l;

	if (len > 0x7ffffff0u)
		return fail(mc, "packet too large");
	l = htonl((uint32_t)len + 1);
	memcpy(hdr, &l, 4);
	hdr[4] = (unsigned char)cmd;
	/* one write for small packets keeps the benchmark honest */
	if (len <= 4096) {
		unsigned char buf[4096 + 5];
		memcpy(buf, hdr, 5);
		if (len > 0)
			memcpy(buf + 5, data, len);
		return write_all(mc, buf, len + 5);
	}
	if (write_all(mc, hdr, 5) < 0)
		return -1;
	return len > 0 ? write_all(mc, data, len) : 0;
}

int
mc_read_reply(struct mclient *mc, char *buf, size_t size, size_t *outlen)
{
	uint32_t l;
	unsigned char cmd;
	size_t len, keep;
	char scratch[512];

	if (read_all(mc, &l, 4) < 0)
		return -1;
	len = ntohl(l);
	if (len < 1 || len > 64 * 1024 * 1024)
		return fail(mc, "bad packet length %zu from the filter", len);
	if (read_all(mc, &cmd, 1) < 0)
		return -1;
	len--;
	keep = len < size ? len : (size > 0 ? size - 1 : 0);
	if (keep > 0 && read_all(mc, buf, keep) < 0)
		return -1;
	if (size > 0)
		buf[keep] = '\0';
	len -= keep;
	while (len > 0) {    /* drain what does not fit */
		size_t n = len < sizeof scratch ? len : sizeof scratch;
		if (read_all(mc, scratch, n) < 0)
			return -1;
		len -= n;
	}
	if (outlen != NULL)
		*outlen = keep;
	return cmd;
}

/* Read answers until a final one; progress is skipped, modification
 * requests are collected (only legal at end of message). */
static int
answer(struct mclient *mc)
{
	char buf[1024];
	size_t len;

	for (;;) {
		int c = mc_read_reply(mc, buf, sizeof buf, &len);
		size_t used;
		size_t i;

		switch (c) {
		case -1:
			return -1;
		case 'p':
			continue;
		case 'y':
			for (i = 0; i < len; i++)
				if (buf[i] == '\0')
					break;
			memcpy(mc->reply, buf, i < sizeof mc->reply ? i : sizeof mc->reply - 1);
			mc->reply[i < sizeof mc->reply ? i : sizeof mc->reply - 1] = '\0';
			return c;
		case 'c': case 'a': case 'r': case 't': case 'd': case 's': case '4': case 'f':
			return c;
		case 'h': case 'i': case 'm': case 'q': case 'e': case '+': case '-': case '2':
		case 'b':
			/* record "letter:first string[: second]" */
			for (i = 0; i < len; i++)
				if (buf[i] == '\0')
					buf[i] = ':';
			used = strlen(mc->mods);
			if (used + len + 4 < sizeof mc->mods)
				snprintf(mc->mods + used, sizeof mc->mods - used, "%s%c:%.*s",
				    used ? "\n" : "", c, (int)len, buf);
			mc->nmods++;
			continue;
		default:
			return fail(mc, "unexpected answer '%c' (0x%02x) from the filter", c, c & 0xff);
		}
	}
}

int
mc_negotiate(struct mclient *mc, uint32_t actions, uint32_t pflags)
{
	uint32_t w[3];
	char buf[1024];
	size_t len;
	int c;

	w[0] = htonl(6);
	w[1] = htonl(actions ? actions : MTA_ACTIONS);
	w[2] = htonl(pflags ? pflags : MTA_PFLAGS);
	if (mc_send_raw(mc, 'O', w, sizeof w) < 0)
		return -1;
	c = mc_read_reply(mc, buf, sizeof buf, &len);
	if (c < 0)
		return -1;
	if (c != 'O' || len < 12)
		return fail(mc, "negotiation: unexpected answer '%c' len %zu", c, len);
	memcpy(w, buf, 12);
	mc->version = ntohl(w[0]);
	mc->actions = ntohl(w[1]);
	mc->pflags = ntohl(w[2]);
	return 'O';
}

int
mc_macros(struct mclient *mc, char cmd, const char *const *kv, size_t nkv)
{
	char buf[8192];
	size_t off = 1, i;

	buf[0] = cmd;
	for (i = 0; i < nkv; i++) {
		size_t l = strlen(kv[i]) + 1;
		if (off + l > sizeof buf)
			return fail(mc, "macros too long");
		memcpy(buf + off, kv[i], l);
		off += l;
	}
	return mc_send_raw(mc, 'D', buf, off);
}

/* Send a stage command and read its answer unless the filter said it
 * does not want the stage (no) or will not answer it (nr). */
static int
stage(struct mclient *mc, char cmd, const void *data, size_t len, uint32_t no, uint32_t nr)
{
	if (no && (mc->pflags & no))
		return 0;
	if (mc_send_raw(mc, cmd, data, len) < 0)
		return -1;
	if (nr && (mc->pflags & nr))
		return 0;
	return answer(mc);
}

int
mc_connect(struct mclient *mc, const char *hostname, char family, uint16_t port,
    const char *addr)
{
	char buf[1024];
	size_t hl = strlen(hostname), al = strlen(addr), off;
	uint16_t p = htons(port);

	if (hl + al + 8 > sizeof buf)
		return fail(mc, "connect arguments too long");
	memcpy(buf, hostname, hl + 1);
	off = hl + 1;
	buf[off++] = family;
	if (family != 'U') {
		memcpy(buf + off, &p, 2);
		off += 2;
		memcpy(buf + off, addr, al + 1);
		off += al + 1;
	}
	return stage(mc, 'C', buf, off, P_NOCONNECT, P_NR_CONN);
}

static int
send_buf(struct mclient *mc, char cmd, const char *s, size_t len, uint32_t no, uint32_t nr)
{
	char small[2048];
	char *buf = len + 1 <= sizeof small ? small : malloc(len + 1);
	int r;

	if (buf == NULL)
		return fail(mc, "out of memory");
	memcpy(buf, s, len);
	buf[len] = '\0';
	r = stage(mc, cmd, buf, len + 1, no, nr);
	if (buf != small)
		free(buf);
	return r;
}

int
mc_helo(struct mclient *mc, const char *helo, size_t len)
{
	return send_buf(mc, 'H', helo, len, P_NOHELO, P_NR_HELO);
}

static int
argv_cmd(struct mclient *mc, char cmd, const char *const *argv, size_t argc, uint32_t no,
    uint32_t nr)
{
	char buf[8192];
	size_t off = 0, i;

	for (i = 0; i < argc; i++) {
		size_t l = strlen(argv[i]) + 1;
		if (off + l > sizeof buf)
			return fail(mc, "arguments too long");
		memcpy(buf + off, argv[i], l);
		off += l;
	}
	return stage(mc, cmd, buf, off, no, nr);
}

int
mc_mail(struct mclient *mc, const char *const *argv, size_t argc)
{
	mc->mods[0] = '\0';
	mc->nmods = 0;
	return argv_cmd(mc, 'M', argv, argc, P_NOMAIL, P_NR_MAIL);
}

int
mc_rcpt(struct mclient *mc, const char *const *argv, size_t argc)
{
	return argv_cmd(mc, 'R', argv, argc, P_NORCPT, P_NR_RCPT);
}

int
mc_data(struct mclient *mc)
{
	return stage(mc, 'T', NULL, 0, P_NODATA, P_NR_DATA);
}

int
mc_header(struct mclient *mc, const char *name, const char *value, size_t vlen)
{
	size_t nl = strlen(name);
	char small[4096];
	char *buf = nl + vlen + 2 <= sizeof small ? small : malloc(nl + vlen + 2);
	int r;

	if (buf == NULL)
		return fail(mc, "out of memory");
	memcpy(buf, name, nl + 1);
	memcpy(buf + nl + 1, value, vlen);
	buf[nl + 1 + vlen] = '\0';
	r = stage(mc, 'L', buf, nl + vlen + 2, P_NOHDRS, P_NR_HDR);
	if (buf != small)
		free(buf);
	return r;
}

int
mc_eoh(struct mclient *mc)
{
	return stage(mc, 'N', NULL, 0, P_NOEOH, P_NR_EOH);
}

int
mc_body(struct mclient *mc, const void *chunk, size_t len)
{
	return stage(mc, 'B', chunk, len, P_NOBODY, P_NR_BODY);
}

int
mc_eom(struct mclient *mc)
{
	return stage(mc, 'E', NULL, 0, 0, 0);
}

int
mc_abort(struct mclient *mc)
{
	return mc_send_raw(mc, 'A', NULL, 0);
}

/* QUIT, then wait (up to the timeout) for the filter to close its end.
 * libmilter drops commands still unread when it sees the peer hang up, so a
 * client that closes at once after a run of no-reply commands (connect,
 * HELO, QUIT) can lose the whole session; waiting makes the replay what an
 * MTA produces, where the commands are spread over an SMTP dialogue. */
int
mc_quit(struct mclient *mc)
{
	int tmo = mc->timeout_ms > 0 ? mc->timeout_ms : 30000;
	char buf[256];

	if (mc_send_raw(mc, 'Q', NULL, 0) < 0)
		return -1;
	for (;;) {
		struct pollfd pfd = { .fd = mc->fd, .events = POLLIN };
		int r = poll(&pfd, 1, tmo);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return 0;          /* gone quiet: close anyway */
		r = (int)read(mc->fd, buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return 0;          /* the filter closed */
	}
}
