/*
 * logparse.c - the MTA log line parser (see logparse.h).
 *
 * Order of work, cheapest first: split the syslog header far enough to see
 * the program tag; give up at once on programs we do not read (the bulk of
 * a mail log on a busy host is other Postfix daemons and other programs);
 * only then parse the timestamp and the message.  Every field is copied with
 * a length bound; nothing in a line can make the parser read outside it.
 *
 * What a line carries that came from a client (the SASL user name, the
 * client name) is copied as bytes: sanitizing for display is the job of
 * whoever prints it (bs_sanitize).
 */
#include "config.h"
#include "logparse.h"

#include <arpa/inet.h>
#include <string.h>
#include <time.h>

struct span {
	const char *p;
	const char *e;
};

static size_t
slen(struct span s)
{
	return (size_t)(s.e - s.p);
}

/* Copy a span into a fixed field; flags truncation. */
static void
copy(char *dst, size_t size, const char *p, const char *e, struct lp_record *r)
{
	size_t n = (size_t)(e - p);

	if (n >= size) {
		n = size - 1;
		r->truncated = 1;
	}
	memcpy(dst, p, n);
	dst[n] = '\0';
}

/* First occurrence of needle in [p, e), or NULL. */
static const char *
find(const char *p, const char *e, const char *needle)
{
	size_t n = strlen(needle);

	if (n == 0)
		return p;
	while ((size_t)(e - p) >= n) {
		const char *q = memchr(p, needle[0], (size_t)(e - p) - n + 1);
		if (q == NULL)
			return NULL;
		if (memcmp(q, needle, n) == 0)
			return q;
		p = q + 1;
	}
	return NULL;
}

/* Last occurrence of needle in [p, e), or NULL. */
static const char *
rfind(const char *p, const char *e, const char *needle)
{
	size_t n = strlen(needle);
	const char *q;

	if ((size_t)(e - p) < n)
		return NULL;
	for (q = e - n; q >= p; q--)
		if (*q == needle[0] && memcmp(q, needle, n) == 0)
			return q;
	return NULL;
}

static int
starts(const char *p, const char *e, const char *prefix)
{
	size_t n = strlen(prefix);

	return (size_t)(e - p) >= n && memcmp(p, prefix, n) == 0;
}

static int
isdig(int c)
{
	return c >= '0' && c <= '9';
}

/* ------------------------------------------------------------------ time */

int64_t
lp_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* Civil year of a day count. */
static int64_t
year_from_days(int64_t z)
{
	int64_t era, y;
	unsigned doe, yoe, doy, mp, m;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = (int64_t)yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	m = mp < 10 ? mp + 3 : mp - 9;
	return y + (m <= 2);
}

static int
num(const char *p, int n, int *out)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (!isdig((unsigned char)p[i]))
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	*out = v;
	return 0;
}

/* Fractional seconds ".123456" -> ms; returns bytes consumed (0 if none). */
static size_t
frac_ms(const char *p, const char *e, int *ms)
{
	const char *q = p;
	int digits = 0, v = 0;

	*ms = 0;
	if (q >= e || *q != '.')
		return 0;
	q++;
	while (q < e && isdig((unsigned char)*q)) {
		if (digits < 3) {
			v = v * 10 + (*q - '0');
			digits++;
		}
		q++;
	}
	if (q == p + 1)
		return 0;
	while (digits < 3) {
		v *= 10;
		digits++;
	}
	*ms = v;
	return (size_t)(q - p);
}

static int
month_of(const char *p)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	int i;

	for (i = 0; i < 12; i++)
		if (memcmp(months + 3 * i, p, 3) == 0)
			return i + 1;
	return 0;
}

static int
valid_hms(int h, int mi, int s)
{
	return h <= 23 && mi <= 59 && s <= 60;
}

/* Seconds east of UTC for a local civil time (LP_TZ_LOCAL). */
static long
local_offset(const struct lp_opts *o, int64_t y, int mo, int d, int h)
{
	struct tm tm;
	time_t t;
	int64_t as_utc, key;
	long off;

	key = (lp_days_from_civil(y, (unsigned)mo, (unsigned)d) * 24 + h) + 1;
	if (o->cache != NULL && o->cache->hour_key == key)
		return o->cache->off;
	memset(&tm, 0, sizeof tm);
	tm.tm_year = (int)(y - 1900);
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_isdst = -1;
	t = mktime(&tm);
	if (t == (time_t)-1)
		return 0;
	as_utc = (key - 1) * 3600;
	off = (long)(as_utc - (int64_t)t);
	if (o->cache != NULL) {
		o->cache->hour_key = key;
		o->cache->off = off;
	}
	return off;
}

/* Offset of the zone at the reference time itself. */
static long
now_offset(const struct lp_opts *o)
{
	struct tm tm;
	time_t t;
	int64_t key;

	switch (o->tz_mode) {
	case LP_TZ_OFFSET:
		return o->tz_offset_s;
	case LP_TZ_LOCAL:
		key = o->now_ms / 3600000 + 1;
		if (o->cache != NULL && o->cache->now_key == key)
			return o->cache->now_off;
		t = (time_t)(o->now_ms / 1000);
		if (localtime_r(&t, &tm) == NULL)
			return 0;
		if (o->cache != NULL) {
			o->cache->now_key = key;
			o->cache->now_off = tm.tm_gmtoff;
		}
		return tm.tm_gmtoff;
	default:
		return 0;
	}
}

static long
zone_offset(const struct lp_opts *o, int64_t y, int mo, int d, int h)
{
	switch (o->tz_mode) {
	case LP_TZ_OFFSET:
		return o->tz_offset_s;
	case LP_TZ_LOCAL:
		return local_offset(o, y, mo, d, h);
	default:
		return 0;
	}
}

/* "Nov 26 13:39:20[.frac]" */
static size_t
parse_traditional(const struct lp_opts *o, const char *p, const char *e, int64_t *ms)
{
	int mo, d, h, mi, s, fr;
	int64_t y, t, now_local;
	long off;
	size_t n = 15;

	if (e - p < 15 || p[3] != ' ' || p[6] != ' ' || p[9] != ':' || p[12] != ':')
		return 0;
	if ((mo = month_of(p)) == 0)
		return 0;
	if (p[4] == ' ') {
		if (!isdig((unsigned char)p[5]))
			return 0;
		d = p[5] - '0';
	} else if (num(p + 4, 2, &d) != 0) {
		return 0;
	}
	if (num(p + 7, 2, &h) || num(p + 10, 2, &mi) || num(p + 13, 2, &s))
		return 0;
	if (d < 1 || d > 31 || !valid_hms(h, mi, s))
		return 0;
	n += frac_ms(p + 15, e, &fr);

	/* The year: the reference time's, or the one before when the date
	 * would lie more than a day in the future (a December line read in
	 * January). */
	now_local = o->now_ms / 1000 + now_offset(o);
	y = year_from_days(now_local >= 0 ? now_local / 86400 : (now_local - 86399) / 86400);
	t = lp_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + s;
	if (t > now_local + 86400) {
		y--;
		t = lp_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + s;
	}
	off = zone_offset(o, y, mo, d, h);
	*ms = (t - off) * 1000 + fr;
	return n;
}

/* "2026-11-26T13:39:20[.frac](Z|+HH:MM|+HHMM)"; a space instead of T is fine. */
static size_t
parse_rfc3339(const struct lp_opts *o, const char *p, const char *e, int64_t *ms)
{
	int y, mo, d, h, mi, s, fr, zh = 0, zm = 0;
	const char *q;
	long off;
	int64_t t;

	if (e - p < 19 || p[4] != '-' || p[7] != '-' || (p[10] != 'T' && p[10] != ' ') ||
	    p[13] != ':' || p[16] != ':')
		return 0;
	if (num(p, 4, &y) || num(p + 5, 2, &mo) || num(p + 8, 2, &d) ||
	    num(p + 11, 2, &h) || num(p + 14, 2, &mi) || num(p + 17, 2, &s))
		return 0;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || !valid_hms(h, mi, s))
		return 0;
	q = p + 19;
	q += frac_ms(q, e, &fr);
	if (q < e && *q == 'Z') {
		off = 0;
		q++;
	} else if (q < e && (*q == '+' || *q == '-')) {
		int sign = *q == '-' ? -1 : 1;
		if (e - q >= 6 && q[3] == ':' && num(q + 1, 2, &zh) == 0 && num(q + 4, 2, &zm) == 0)
			q += 6;
		else if (e - q >= 5 && num(q + 1, 2, &zh) == 0 && num(q + 3, 2, &zm) == 0)
			q += 5;
		else
			return 0;
		if (zh > 23 || zm > 59)
			return 0;
		off = sign * (zh * 3600L + zm * 60L);
	} else {
		off = zone_offset(o, y, mo, d, h);
	}
	t = lp_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + s;
	*ms = (t - off) * 1000 + fr;
	return (size_t)(q - p);
}

int
lp_parse_tz_offset(const char *s, long *off_s)
{
	size_t n = strlen(s);
	int h = 0, m = 0;

	if (n < 3 || (s[0] != '+' && s[0] != '-'))
		return -1;
	if (n == 3 && num(s + 1, 2, &h) == 0)
		;
	else if (n == 5 && num(s + 1, 2, &h) == 0 && num(s + 3, 2, &m) == 0)
		;
	else if (n == 6 && s[3] == ':' && num(s + 1, 2, &h) == 0 && num(s + 4, 2, &m) == 0)
		;
	else
		return -1;
	if (h > 23 || m > 59)
		return -1;
	*off_s = (s[0] == '-' ? -1 : 1) * (h * 3600L + m * 60L);
	return 0;
}

size_t
lp_parse_time(const struct lp_opts *o, const char *s, size_t len, int64_t *ms)
{
	const char *e = s + len;

	if (len >= 19 && isdig((unsigned char)s[0]))
		return parse_rfc3339(o, s, e, ms);
	return parse_traditional(o, s, e, ms);
}

/* ------------------------------------------------------------------ fields */

/* Strip "IPv6:" and check that what remains is an address. */
static int
set_ip(struct lp_record *r, const char *p, const char *e)
{
	char buf[LP_IP_MAX];
	unsigned char bin[16];
	size_t n;

	if (starts(p, e, "IPv6:") || starts(p, e, "ipv6:"))
		p += 5;
	n = (size_t)(e - p);
	if (n == 0 || n >= sizeof buf)
		return -1;
	memcpy(buf, p, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, bin) != 1 && inet_pton(AF_INET6, buf, bin) != 1)
		return -1;
	memcpy(r->client_ip, buf, n + 1);
	return 0;
}

/*
 * Postfix "name[addr]" with an optional ":port" after it, exactly filling
 * [p, e).  The name holds no '['; the address is the bracketed part.
 */
static int
namaddr(struct lp_record *r, const char *p, const char *e)
{
	const char *lb = memchr(p, '[', (size_t)(e - p));
	const char *rb;

	if (lb == NULL || lb == p)
		return -1;
	rb = memchr(lb, ']', (size_t)(e - lb));
	if (rb == NULL)
		return -1;
	if (rb + 1 != e) {
		const char *q = rb + 1;
		if (*q != ':' || q + 1 == e)
			return -1;
		for (q++; q < e; q++)
			if (!isdig((unsigned char)*q))
				return -1;
	}
	copy(r->client_name, sizeof r->client_name, p, lb, r);
	return set_ip(r, lb + 1, rb);
}

/* A Postfix queue id: 6+ alphanumerics (short and long forms). */
static int
is_qid(const char *p, const char *e)
{
	const char *q;

	if (e - p < 5 || e - p >= LP_QID_MAX)
		return 0;
	for (q = p; q < e; q++) {
		unsigned char c = (unsigned char)*q;
		if (!(isdig(c) || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
			return 0;
	}
	return 1;
}

/* Recipient domain of "<local@domain>" held in [p, e) without the <>. */
static void
set_domain(struct lp_record *r, const char *p, const char *e)
{
	const char *at = NULL, *q;
	char *d;

	for (q = p; q < e; q++)
		if (*q == '@')
			at = q;
	if (at == NULL)
		return;
	copy(r->rcpt_domain, sizeof r->rcpt_domain, at + 1, e, r);
	for (d = r->rcpt_domain; *d; d++)
		if (*d >= 'A' && *d <= 'Z')
			*d = (char)(*d - 'A' + 'a');
}

static int
status_from_dsn(const char *dsn)
{
	switch (dsn[0]) {
	case '2': return LP_ST_SENT;
	case '4': return LP_ST_DEFERRED;
	case '5': return LP_ST_BOUNCED;
	default: return LP_ST_OTHER;
	}
}

static int
valid_dsn(const char *p, const char *e)
{
	/* d.d{1,3}.d{1,3} */
	const char *q;
	int dots = 0;

	if (e - p < 5 || (*p != '2' && *p != '4' && *p != '5') || p[1] != '.')
		return 0;
	for (q = p + 1; q < e; q++) {
		if (*q == '.')
			dots++;
		else if (!isdig((unsigned char)*q))
			return 0;
	}
	return dots == 2 && e[-1] != '.';
}

static int
malformed(struct lp_record *r, const char *what)
{
	r->kind = LP_MALFORMED;
	r->malformed = what;
	return r->kind;
}

/* ------------------------------------------------------------------ Postfix */

/* "warning: NAME[ADDR]: SASL MECH authentication failed: REASON[, sasl_username=USER]" */
static int
pf_auth_fail(struct lp_record *r, const char *p, const char *e)
{
	const char *q, *mech, *mech_e, *reason, *user;

	p += strlen("warning: ");
	q = find(p, e, ": SASL ");
	if (q == NULL)
		return malformed(r, "postfix sasl failure");
	if (namaddr(r, p, q) != 0)
		return malformed(r, "postfix sasl failure (client)");
	mech = q + strlen(": SASL ");
	mech_e = memchr(mech, ' ', (size_t)(e - mech));
	if (mech_e == NULL || mech_e == mech || !starts(mech_e, e, " authentication failed"))
		return malformed(r, "postfix sasl failure (mechanism)");
	copy(r->mech, sizeof r->mech, mech, mech_e, r);
	reason = mech_e + strlen(" authentication failed");
	if (starts(reason, e, ": "))
		reason += 2;
	user = find(reason, e, ", sasl_username=");
	copy(r->reason, sizeof r->reason, reason, user ? user : e, r);
	if (user != NULL)
		copy(r->login, sizeof r->login, user + strlen(", sasl_username="), e, r);
	r->kind = LP_AUTH_FAIL;
	return r->kind;
}

/* "client=NAME[ADDR][:PORT][, sasl_method=M, sasl_username=U[, sasl_sender=S]][, orig_...]" */
static int
pf_client(struct lp_record *r, const char *p, const char *e)
{
	const char *c_end, *m, *u, *u_end;

	p += strlen("client=");
	c_end = find(p, e, ", ");
	if (namaddr(r, p, c_end ? c_end : e) != 0)
		return malformed(r, "postfix client line");
	m = c_end ? find(c_end, e, ", sasl_method=") : NULL;
	if (m == NULL) {
		r->kind = LP_CLIENT;
		return r->kind;
	}
	m += strlen(", sasl_method=");
	u = find(m, e, ", sasl_username=");
	if (u == NULL)
		return malformed(r, "postfix client line (sasl_username)");
	copy(r->mech, sizeof r->mech, m, u, r);
	u += strlen(", sasl_username=");
	/* the user name is the client's own text: it ends where Postfix's
	 * next field begins, or at the end of the line */
	u_end = find(u, e, ", sasl_sender=");
	if (u_end == NULL)
		u_end = e;
	if (u_end == u)
		return malformed(r, "postfix client line (sasl_username)");
	copy(r->login, sizeof r->login, u, u_end, r);
	r->kind = LP_AUTH_OK;
	return r->kind;
}

/* "to=<rcpt>, [orig_to=<...>, ]relay=R, ..., dsn=D, status=WORD (text)" */
static int
pf_delivery(struct lp_record *r, const char *p, const char *e)
{
	const char *a, *a_end, *relay, *dsn, *dsn_e, *st, *st_e;

	a = p + strlen("to=<");
	a_end = find(a, e, ">, ");
	if (a_end == NULL)
		return malformed(r, "postfix delivery line");
	relay = find(a_end, e, ", relay=");
	if (relay == NULL)
		return malformed(r, "postfix delivery line (relay)");
	relay += strlen(", relay=");
	dsn = find(relay, e, ", dsn=");
	if (dsn == NULL)
		return malformed(r, "postfix delivery line (dsn)");
	st = find(dsn, e, ", status=");
	if (st == NULL)
		return malformed(r, "postfix delivery line (status)");
	dsn_e = st;
	dsn += strlen(", dsn=");
	if (!valid_dsn(dsn, dsn_e))
		return malformed(r, "postfix delivery line (dsn)");
	set_domain(r, a, a_end);
	{
		const char *re = find(relay, dsn, ", ");
		copy(r->relay, sizeof r->relay, relay, re ? re : dsn, r);
	}
	copy(r->dsn, sizeof r->dsn, dsn, dsn_e, r);
	st += strlen(", status=");
	st_e = memchr(st, ' ', (size_t)(e - st));
	if (st_e == NULL)
		st_e = e;
	if (slen((struct span){ st, st_e }) == 4 && memcmp(st, "sent", 4) == 0)
		r->status = LP_ST_SENT;
	else if (slen((struct span){ st, st_e }) == 8 && memcmp(st, "deferred", 8) == 0)
		r->status = LP_ST_DEFERRED;
	else if (slen((struct span){ st, st_e }) == 7 && memcmp(st, "bounced", 7) == 0)
		r->status = LP_ST_BOUNCED;
	else
		r->status = LP_ST_OTHER;
	copy(r->reason, sizeof r->reason, st_e < e ? st_e + 1 : e, e, r);
	r->kind = LP_DELIVERY;
	return r->kind;
}

/* daemon: last component of the tag ("postfix/submission/smtpd" -> "smtpd") */
static int
postfix_msg(struct lp_record *r, struct span daemon, const char *p, const char *e)
{
	const char *colon;
	size_t dl = slen(daemon);
	int is_smtpd = dl == 5 && memcmp(daemon.p, "smtpd", 5) == 0;

	r->mta = LP_MTA_POSTFIX;
	if (is_smtpd && starts(p, e, "warning: ")) {
		if (find(p, e, " authentication failed") == NULL)
			return LP_SKIP;   /* other warnings, and cyrus' own line without a client */
		return pf_auth_fail(r, p, e);
	}
	/* everything else we read is "QID: ..." */
	colon = memchr(p, ':', (size_t)(e - p) < LP_QID_MAX ? (size_t)(e - p) : LP_QID_MAX);
	if (colon == NULL || colon + 1 >= e || colon[1] != ' ' || !is_qid(p, colon))
		return LP_SKIP;
	copy(r->qid, sizeof r->qid, p, colon, r);
	p = colon + 2;
	if (is_smtpd) {
		if (starts(p, e, "client="))
			return pf_client(r, p, e);
		return LP_SKIP;
	}
	if (dl == 4 && memcmp(daemon.p, "qmgr", 4) == 0) {
		if (e - p == 7 && memcmp(p, "removed", 7) == 0) {
			r->kind = LP_REMOVED;
			return r->kind;
		}
		return LP_SKIP;
	}
	if (starts(p, e, "to=<"))
		return pf_delivery(r, p, e);
	return LP_SKIP;
}

static int
postfix_daemon(struct span d)
{
	static const char *const names[] = {
		"smtpd", "smtp", "lmtp", "qmgr", "local", "virtual", "error", "pipe", NULL
	};
	const char *const *n;
	size_t l = slen(d);

	for (n = names; *n != NULL; n++)
		if (strlen(*n) == l && memcmp(*n, d.p, l) == 0)
			return 1;
	return 0;
}

/* ------------------------------------------------------------------ Sendmail */

/* The address inside the last "[...]" of a sendmail relay= value. */
static int
sm_relay(struct lp_record *r, const char *p, const char *e)
{
	const char *lb = NULL, *rb, *q;

	for (q = p; q < e; q++)
		if (*q == '[')
			lb = q;
	if (lb == NULL)
		return -1;
	rb = memchr(lb, ']', (size_t)(e - lb));
	if (rb == NULL)
		return -1;
	if (lb > p) {
		const char *ne = lb;
		while (ne > p && ne[-1] == ' ')
			ne--;
		copy(r->client_name, sizeof r->client_name, p, ne, r);
	}
	if (r->client_name[0] == '\0')
		memcpy(r->client_name, "unknown", sizeof "unknown");
	return set_ip(r, lb + 1, rb);
}

/* "AUTH failure (MECH): TEXT (N) DETAIL[, user=U], relay=RELAY" */
static int
sm_auth_fail(struct lp_record *r, const char *p, const char *e)
{
	const char *m, *m_e, *relay, *user;

	m = p + strlen("AUTH failure (");
	m_e = memchr(m, ')', (size_t)(e - m));
	if (m_e == NULL || m_e == m || !starts(m_e, e, "): "))
		return malformed(r, "sendmail auth failure");
	copy(r->mech, sizeof r->mech, m, m_e, r);
	p = m_e + 3;
	relay = rfind(p, e, ", relay=");
	if (relay == NULL)
		return malformed(r, "sendmail auth failure (relay)");
	if (sm_relay(r, relay + strlen(", relay="), e) != 0)
		return malformed(r, "sendmail auth failure (relay)");
	user = find(p, relay, ", user=");
	copy(r->reason, sizeof r->reason, p, user ? user : relay, r);
	if (user != NULL)
		copy(r->login, sizeof r->login, user + strlen(", user="), relay, r);
	r->kind = LP_AUTH_FAIL;
	return r->kind;
}

/* "AUTH=server, relay=RELAY, authid=USER, mech=MECH, bits=N" */
static int
sm_auth_ok(struct lp_record *r, const char *p, const char *e)
{
	const char *relay, *authid, *mech, *bits;

	relay = p + strlen("AUTH=server, relay=");
	authid = find(relay, e, ", authid=");
	mech = rfind(relay, e, ", mech=");
	if (authid == NULL || mech == NULL || mech < authid)
		return malformed(r, "sendmail auth success");
	if (sm_relay(r, relay, authid) != 0)
		return malformed(r, "sendmail auth success (relay)");
	copy(r->login, sizeof r->login, authid + strlen(", authid="), mech, r);
	mech += strlen(", mech=");
	bits = find(mech, e, ", bits=");
	copy(r->mech, sizeof r->mech, mech, bits ? bits : e, r);
	if (r->login[0] == '\0')
		return malformed(r, "sendmail auth success (authid)");
	r->kind = LP_AUTH_OK;
	return r->kind;
}

/* "QID: from=<...>, size=..., ..., relay=RELAY" and
 * "QID: to=<...>, ..., relay=RELAY, dsn=D, stat=TEXT" */
static int
sm_envelope(struct lp_record *r, const char *p, const char *e)
{
	const char *relay, *relay_e, *dsn, *dsn_e, *stat;

	if (starts(p, e, "from=")) {
		relay = rfind(p, e, ", relay=");
		if (relay == NULL)
			return LP_SKIP;   /* locally submitted: no client */
		if (sm_relay(r, relay + strlen(", relay="), e) != 0) {
			r->client_name[0] = '\0';
			return LP_SKIP;   /* relay=user@localhost: submitted locally */
		}
		r->kind = LP_CLIENT;
		return r->kind;
	}
	/* to= */
	{
		const char *a = p + strlen("to=");
		const char *a_e = find(a, e, ", ");
		if (a_e == NULL)
			return malformed(r, "sendmail to line");
		if (*a == '<' && a_e > a + 1 && a_e[-1] == '>')
			set_domain(r, a + 1, a_e - 1);
		else
			set_domain(r, a, a_e);
	}
	dsn = rfind(p, e, ", dsn=");
	stat = dsn ? find(dsn, e, ", stat=") : NULL;
	if (dsn == NULL || stat == NULL)
		return malformed(r, "sendmail to line (dsn)");
	dsn += strlen(", dsn=");
	dsn_e = stat;
	if (!valid_dsn(dsn, dsn_e))
		return malformed(r, "sendmail to line (dsn)");
	copy(r->dsn, sizeof r->dsn, dsn, dsn_e, r);
	r->status = status_from_dsn(r->dsn);
	relay = find(p, dsn, ", relay=");
	if (relay != NULL) {
		relay += strlen(", relay=");
		relay_e = find(relay, dsn, ", dsn=");
		copy(r->relay, sizeof r->relay, relay, relay_e ? relay_e : dsn - strlen(", dsn="), r);
	}
	copy(r->reason, sizeof r->reason, stat + strlen(", stat="), e, r);
	r->kind = LP_DELIVERY;
	return r->kind;
}

static int
sendmail_msg(struct lp_record *r, const char *p, const char *e)
{
	const char *colon;

	r->mta = LP_MTA_SENDMAIL;
	if (starts(p, e, "AUTH=server, relay="))
		return sm_auth_ok(r, p, e);
	if (starts(p, e, "AUTH failure ("))
		return sm_auth_fail(r, p, e);
	colon = memchr(p, ':', (size_t)(e - p) < LP_QID_MAX ? (size_t)(e - p) : LP_QID_MAX);
	if (colon == NULL || colon + 1 >= e || colon[1] != ' ' || !is_qid(p, colon))
		return LP_SKIP;
	copy(r->qid, sizeof r->qid, p, colon, r);
	p = colon + 2;
	if (starts(p, e, "AUTH=server, relay="))
		return sm_auth_ok(r, p, e);
	if (starts(p, e, "AUTH failure ("))
		return sm_auth_fail(r, p, e);
	if (starts(p, e, "from=") || starts(p, e, "to="))
		return sm_envelope(r, p, e);
	return LP_SKIP;
}

/* ------------------------------------------------------------------ the line */

void
lp_opts_init(struct lp_opts *o, int64_t now_ms)
{
	memset(o, 0, sizeof *o);
	o->now_ms = now_ms;
	o->tz_mode = LP_TZ_UTC;
}

int
lp_parse(const struct lp_opts *o, const char *line, size_t len, struct lp_record *r)
{
	const char *p = line, *e = line + len, *ts, *host, *host_e, *tag, *tag_e, *q;
	struct span daemon = { NULL, NULL };
	int sendmail = 0;
	size_t n;

	/* clear what a reader may look at, not the whole (large) record */
	r->kind = LP_SKIP;
	r->mta = LP_MTA_NONE;
	r->ts_ms = 0;
	r->host[0] = r->prog[0] = r->qid[0] = r->client_name[0] = r->client_ip[0] = '\0';
	r->mech[0] = r->login[0] = r->reason[0] = r->rcpt_domain[0] = r->dsn[0] = '\0';
	r->relay[0] = '\0';
	r->status = LP_ST_NONE;
	r->malformed = NULL;
	r->truncated = 0;
	r->pid = -1;
	while (e > p && (e[-1] == '\n' || e[-1] == '\r'))
		e--;
	if (p == e)
		return LP_SKIP;
	/* journalctl's own markers ("-- Boot ... --", "-- No entries --") */
	if (e - p >= 3 && p[0] == '-' && p[1] == '-' && p[2] == ' ')
		return LP_SKIP;

	/* "<PRI>" from a raw syslog pipe, and RFC 5424's version "1 " */
	if (*p == '<') {
		q = p + 1;
		while (q < e && q < p + 5 && isdig((unsigned char)*q))
			q++;
		if (q < e && *q == '>' && q > p + 1) {
			p = q + 1;
			if (e - p > 2 && p[0] == '1' && p[1] == ' ')
				p += 2;
		}
	}

	/* the header: TIMESTAMP HOST TAG[PID]: MSG.  Find the tag first,
	 * without parsing the time, so that other programs cost little. */
	ts = p;
	if (e - p >= 19 && isdig((unsigned char)*p)) {
		q = memchr(p, ' ', (size_t)(e - p));
	} else {
		if (e - p < 16)
			return malformed(r, "syslog header");
		q = p + 15;
		if (*q == '.')
			while (q < e && *q != ' ')
				q++;
	}
	if (q == NULL || q >= e || *q != ' ')
		return malformed(r, "syslog header");
	host = q + 1;
	host_e = memchr(host, ' ', (size_t)(e - host));
	if (host_e == NULL || host_e == host)
		return malformed(r, "syslog header");
	tag = host_e + 1;
	for (tag_e = tag; tag_e < e && *tag_e != '[' && *tag_e != ':' && *tag_e != ' '; tag_e++)
		;
	if (tag_e == tag || tag_e >= e || *tag_e == ' ')
		return LP_SKIP;   /* a header without a tag: not a program's message */

	/* which program? */
	q = NULL;
	for (const char *s = tag; s < tag_e; s++)
		if (*s == '/')
			q = s;
	if (q != NULL) {
		daemon.p = q + 1;
		daemon.e = tag_e;
		if (!postfix_daemon(daemon))
			return LP_SKIP;
	} else if ((tag_e - tag == 6 && memcmp(tag, "sm-mta", 6) == 0) ||
	    (tag_e - tag == 8 && memcmp(tag, "sendmail", 8) == 0)) {
		sendmail = 1;
	} else {
		return LP_SKIP;
	}

	/* ours: the rest of the header */
	q = tag_e;
	if (*q == '[') {
		long pid = 0;
		for (q++; q < e && isdig((unsigned char)*q) && pid < 100000000L; q++)
			pid = pid * 10 + (*q - '0');
		if (q >= e || *q != ']')
			return malformed(r, "syslog header (pid)");
		r->pid = pid;
		q++;
	}
	if (e - q < 2 || q[0] != ':' || q[1] != ' ')
		return malformed(r, "syslog header");
	n = lp_parse_time(o, ts, (size_t)(host - 1 - ts), &r->ts_ms);
	if (n == 0 || ts + n != host - 1)
		return malformed(r, "syslog timestamp");
	copy(r->host, sizeof r->host, host, host_e, r);
	copy(r->prog, sizeof r->prog, tag, tag_e, r);
	p = q + 2;

	if (sendmail)
		return sendmail_msg(r, p, e);
	return postfix_msg(r, daemon, p, e);
}

const char *
lp_kind_name(int kind)
{
	switch (kind) {
	case LP_SKIP: return "skip";
	case LP_AUTH_FAIL: return "auth_fail";
	case LP_AUTH_OK: return "auth_ok";
	case LP_CLIENT: return "client";
	case LP_DELIVERY: return "delivery";
	case LP_REMOVED: return "removed";
	case LP_MALFORMED: return "malformed";
	default: return "?";
	}
}

const char *
lp_status_name(int status)
{
	switch (status) {
	case LP_ST_SENT: return "sent";
	case LP_ST_DEFERRED: return "deferred";
	case LP_ST_BOUNCED: return "bounced";
	case LP_ST_OTHER: return "other";
	default: return "none";
	}
}
