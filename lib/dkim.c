/*
 * dkim.c - verify third-party DKIM signatures already on a subscriber's
 * message, with libopendkim (see dkim.h and API-NOTES.md B3).
 *
 * Headers are kept in one bounded buffer while the milter streams them; a
 * DKIM-Signature's d= is read with our own tag parser (addr.c) so that
 * libopendkim is only started for messages that carry a signature for a
 * foreign domain.  At end of header the kept headers are replayed into a
 * libopendkim verifying handle; the body follows; at end of message the
 * foreign signatures are judged: PASSED flag and matching body hash = a
 * valid (replayed) signature, anything else = broken (forged), a key that
 * could not be fetched = no verdict.
 *
 * libopendkim's stock resolver shares one res_state per library handle
 * between threads, so the steps that may look keys up (eoh, eom) run under
 * the checker's mutex.  That serialises DNS lookups of DKIM keys, which is
 * acceptable because only messages with foreign signatures get there.
 */
#include "config.h"
#include "dkim.h"
#include "addr.h"
#include "log.h"
#include "util.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>
#include <opendkim/dkim.h>

struct dkim_checker {
	DKIM_LIB *lib;
	pthread_mutex_t mu;
	size_t max_hdr;
};

enum kstate { K_HEADERS, K_BODY, K_DONE, K_GAVEUP };

struct dkim_check {
	struct dkim_checker *c;
	char id[64];
	dkim_foreign_fn foreign;
	void *arg;
	enum kstate state;
	char *buf;                 /* "Name: value\0" records, one after another */
	size_t len, cap;
	DKIM *d;
	struct dkim_check_result r;
};

static const char *const verdict_names[] = { "none", "pass", "fail", "temperror", "skipped" };

const char *
dkim_verdict_name(enum dkim_verdict v)
{
	return (int)v >= 0 && (size_t)v < BS_ARRAY_LEN(verdict_names) ? verdict_names[v] : "skipped";
}

/* ------------------------------------------------------------ the library */

static int
setopt(DKIM_LIB *lib, int opt, void *v, size_t len, const char *what, char *err, size_t errlen)
{
	DKIM_STAT st = dkim_options(lib, DKIM_OP_SETOPT, opt, v, len);

	if (st != DKIM_STAT_OK) {
		snprintf(err, errlen, "libopendkim: cannot set %s: %s", what, dkim_getresultstr(st));
		return -1;
	}
	return 0;
}

struct dkim_checker *
dkim_checker_new(const struct dkim_checker_opts *o, char *err, size_t errlen)
{
	struct dkim_checker *c;
	unsigned int flags, u;
	uint64_t fixed;
	dkim_query_t q;

	c = xcalloc(1, sizeof *c);
	c->lib = dkim_init(NULL, NULL);
	if (c->lib == NULL) {
		snprintf(err, errlen, "libopendkim: dkim_init failed");
		free(c);
		return NULL;
	}
	c->max_hdr = o != NULL && o->max_header_bytes > 0 ? o->max_header_bytes : 256 * 1024;
	flags = DKIM_LIBFLAGS_FIXCRLF;
	if (setopt(c->lib, DKIM_OPTS_FLAGS, &flags, sizeof flags, "flags", err, errlen) != 0)
		goto fail;
	if (o != NULL && o->key_file != NULL && o->key_file[0] != '\0') {
		q = DKIM_QUERY_FILE;
		if (setopt(c->lib, DKIM_OPTS_QUERYMETHOD, &q, sizeof q, "query method", err, errlen) != 0
		    || setopt(c->lib, DKIM_OPTS_QUERYINFO, (void *)o->key_file, strlen(o->key_file),
		    "key file", err, errlen) != 0)
			goto fail;
	}
	if (o != NULL && o->timeout_s > 0) {
		u = (unsigned int)o->timeout_s;
		if (setopt(c->lib, DKIM_OPTS_TIMEOUT, &u, sizeof u, "timeout", err, errlen) != 0)
			goto fail;
	}
	if (o != NULL && o->min_key_bits > 0) {
		u = (unsigned int)o->min_key_bits;
		if (setopt(c->lib, DKIM_OPTS_MINKEYBITS, &u, sizeof u, "minimum key bits", err, errlen) != 0)
			goto fail;
	}
	if (o != NULL && o->fixed_time > 0) {
		fixed = (uint64_t)o->fixed_time;
		if (setopt(c->lib, DKIM_OPTS_FIXEDTIME, &fixed, sizeof fixed, "fixed time", err, errlen) != 0)
			goto fail;
	}
	pthread_mutex_init(&c->mu, NULL);
	return c;
fail:
	dkim_close(c->lib);
	free(c);
	return NULL;
}

void
dkim_checker_free(struct dkim_checker *c)
{
	if (c == NULL)
		return;
	dkim_close(c->lib);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

/* ------------------------------------------------------------ one message */

struct dkim_check *
dkim_check_begin(struct dkim_checker *c, const char *id, dkim_foreign_fn foreign, void *arg)
{
	struct dkim_check *k = xcalloc(1, sizeof *k);

	k->c = c;
	snprintf(k->id, sizeof k->id, "%s", id != NULL && *id != '\0' ? id : "botsentry");
	k->foreign = foreign;
	k->arg = arg;
	k->state = K_HEADERS;
	k->r.verdict = DKIM_CHECK_NONE;
	return k;
}

static void
give_up(struct dkim_check *k, const char *why)
{
	k->state = K_GAVEUP;
	k->r.verdict = DKIM_CHECK_SKIPPED;
	snprintf(k->r.error, sizeof k->r.error, "%s", why);
}

int
dkim_check_header(struct dkim_check *k, const char *name, const char *value)
{
	size_t nl, vl, need;
	int lead;

	if (k == NULL || k->state != K_HEADERS)
		return -1;
	if (name == NULL)
		name = "";
	if (value == NULL)
		value = "";
	nl = strlen(name);
	vl = strlen(value);
	/* MTAs strip the blank after the colon unless asked to keep it
	 * (SMFIP_HDR_LEADSPC): put one back when it is missing */
	lead = vl > 0 && (value[0] == ' ' || value[0] == '\t');
	need = nl + 1 + (lead ? 0 : 1) + vl + 1;
	if (k->len + need > k->c->max_hdr) {
		give_up(k, "headers too large to verify");
		return -1;
	}
	if (k->len + need > k->cap) {
		k->cap = (k->len + need) * 2;
		if (k->cap > k->c->max_hdr + 1)
			k->cap = k->c->max_hdr + 1;
		k->buf = xrealloc(k->buf, k->cap);
	}
	memcpy(k->buf + k->len, name, nl);
	k->len += nl;
	k->buf[k->len++] = ':';
	if (!lead)
		k->buf[k->len++] = ' ';
	memcpy(k->buf + k->len, value, vl);
	k->len += vl;
	k->buf[k->len++] = '\0';

	if (strcasecmp(name, DKIM_SIGNHEADER) == 0) {
		char dom[DKIM_CHECK_DOMAIN_MAX], sel[DKIM_CHECK_SEL_MAX];

		k->r.nsigs++;
		if (addr_dkim_tags(value, vl, dom, sizeof dom, sel, sizeof sel) == 0
		    && (k->foreign == NULL || k->foreign(dom, k->arg))) {
			if (k->r.nforeign++ == 0) {
				snprintf(k->r.domain, sizeof k->r.domain, "%s", dom);
				snprintf(k->r.selector, sizeof k->r.selector, "%s", sel);
			}
		}
	}
	return 0;
}

int
dkim_check_eoh(struct dkim_check *k)
{
	DKIM_STAT st;
	size_t off;

	if (k == NULL || k->state != K_HEADERS)
		return DKIM_CHECK_NO_BODY;
	if (k->r.nforeign == 0) {
		k->state = K_DONE;
		return DKIM_CHECK_NO_BODY;
	}
	k->d = dkim_verify(k->c->lib, (const unsigned char *)k->id, NULL, &st);
	if (k->d == NULL) {
		give_up(k, "libopendkim: cannot start verification");
		return DKIM_CHECK_NO_BODY;
	}
	for (off = 0; off < k->len; ) {
		size_t l = strlen(k->buf + off);
		st = dkim_header(k->d, (u_char *)k->buf + off, l);
		if (st != DKIM_STAT_OK) {
			/* a header libopendkim refuses (junk): judge what we can */
			log_debug("%s: dkim: header refused: %s", k->id, dkim_getresultstr(st));
		}
		off += l + 1;
	}
	free(k->buf);
	k->buf = NULL;
	k->len = k->cap = 0;
	pthread_mutex_lock(&k->c->mu);
	st = dkim_eoh(k->d);
	pthread_mutex_unlock(&k->c->mu);
	if (st != DKIM_STAT_OK) {
		/* our parser saw a foreign signature that libopendkim cannot use */
		k->state = K_DONE;
		k->r.verdict = DKIM_CHECK_FAIL;
		snprintf(k->r.error, sizeof k->r.error, "signature unusable: %s",
		    dkim_geterror(k->d) != NULL ? dkim_geterror(k->d) : dkim_getresultstr(st));
		return DKIM_CHECK_NO_BODY;
	}
	k->state = K_BODY;
	return DKIM_CHECK_NEED_BODY;
}

int
dkim_check_body(struct dkim_check *k, const unsigned char *chunk, size_t len)
{
	DKIM_STAT st;

	if (k == NULL || k->state != K_BODY)
		return 0;
	st = dkim_body(k->d, (u_char *)chunk, len);
	if (st != DKIM_STAT_OK && st != DKIM_STAT_NOSIG) {
		give_up(k, "libopendkim refused the body");
		return -1;
	}
	return 0;
}

static int
temporary(int sigerr)
{
	return sigerr == DKIM_SIGERROR_KEYFAIL || sigerr == DKIM_SIGERROR_DNSSYNTAX;
}

static void
judge(struct dkim_check *k)
{
	DKIM_SIGINFO **sigs = NULL;
	int nsigs = 0, i, have_fail = 0, have_temp = 0;

	if (dkim_getsiglist(k->d, &sigs, &nsigs) != DKIM_STAT_OK || nsigs == 0) {
		k->r.verdict = DKIM_CHECK_FAIL;
		snprintf(k->r.error, sizeof k->r.error, "no usable signature");
		return;
	}
	for (i = 0; i < nsigs; i++) {
		const char *dom = (const char *)dkim_sig_getdomain(sigs[i]);
		const char *sel = (const char *)dkim_sig_getselector(sigs[i]);
		unsigned int fl = dkim_sig_getflags(sigs[i]);
		char ldom[DKIM_CHECK_DOMAIN_MAX];
		int serr;

		log_debug("%s: dkim: sig d=%s flags=0x%x bh=%d err=%d", k->id, dom ? dom : "", fl, dkim_sig_getbh(sigs[i]), dkim_sig_geterror(sigs[i]));
		if (dom == NULL || (fl & DKIM_SIGFLAG_IGNORE))
			continue;
		snprintf(ldom, sizeof ldom, "%s", dom);
		bs_lower(ldom);
		if (k->foreign != NULL && !k->foreign(ldom, k->arg))
			continue;
		if ((fl & DKIM_SIGFLAG_PASSED) && dkim_sig_getbh(sigs[i]) == DKIM_SIGBH_MATCH) {
			k->r.verdict = DKIM_CHECK_PASS;
			snprintf(k->r.domain, sizeof k->r.domain, "%s", ldom);
			snprintf(k->r.selector, sizeof k->r.selector, "%s", sel ? sel : "");
			k->r.error[0] = '\0';
			return;
		}
		serr = dkim_sig_geterror(sigs[i]);
		if (temporary(serr)) {
			if (!have_fail && !have_temp) {
				snprintf(k->r.domain, sizeof k->r.domain, "%s", ldom);
				snprintf(k->r.selector, sizeof k->r.selector, "%s", sel ? sel : "");
				snprintf(k->r.error, sizeof k->r.error, "%s", dkim_sig_geterrorstr(serr));
			}
			have_temp = 1;
			continue;
		}
		if (!have_fail) {
			snprintf(k->r.domain, sizeof k->r.domain, "%s", ldom);
			snprintf(k->r.selector, sizeof k->r.selector, "%s", sel ? sel : "");
			if ((fl & DKIM_SIGFLAG_PASSED) && dkim_sig_getbh(sigs[i]) != DKIM_SIGBH_MATCH)
				snprintf(k->r.error, sizeof k->r.error, "body hash mismatch");
			else if (serr != DKIM_SIGERROR_UNKNOWN && serr != DKIM_SIGERROR_OK)
				snprintf(k->r.error, sizeof k->r.error, "%s", dkim_sig_geterrorstr(serr));
			else
				snprintf(k->r.error, sizeof k->r.error, "signature did not verify");
		}
		have_fail = 1;
	}
	if (have_fail)
		k->r.verdict = DKIM_CHECK_FAIL;
	else if (have_temp)
		k->r.verdict = DKIM_CHECK_TEMPERROR;
	else
		k->r.verdict = DKIM_CHECK_NONE;
}

void
dkim_check_end(struct dkim_check *k, struct dkim_check_result *r)
{
	DKIM_STAT st;

	if (k == NULL) {
		memset(r, 0, sizeof *r);
		r->verdict = DKIM_CHECK_SKIPPED;
		return;
	}
	if (k->state == K_HEADERS)
		(void)dkim_check_eoh(k);   /* no body came: judge on an empty one */
	if (k->state == K_BODY) {
		bool testkey = false;

		pthread_mutex_lock(&k->c->mu);
		st = dkim_eom(k->d, &testkey);
		pthread_mutex_unlock(&k->c->mu);
		(void)st;                  /* decided on the signatures, not on st */
		judge(k);
		k->state = K_DONE;
	}
	*r = k->r;
}

void
dkim_check_free(struct dkim_check *k)
{
	if (k == NULL)
		return;
	if (k->d != NULL)
		dkim_free(k->d);
	free(k->buf);
	free(k);
}
