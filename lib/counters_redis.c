/*
 * counters_redis.c - sliding-window counters shared through Redis
 * (hiredis), behind the counters interface (counters.h, ctr_new_redis):
 * several milters pointed at one Redis see one subscriber's summed counts.
 *
 * ONE ROUND TRIP PER UPDATE.  A Lua script (EVALSHA; loaded on NOSCRIPT)
 * does everything for one key: per count and window it INCRBYs the current
 * fixed bucket (buckets aligned on multiples of the window, as in
 * counters.c) and reads the previous one; per distinct set and window it
 * PFADDs the items (ctr_update_n: all of a message's recipient domains at
 * once) to the current bucket's HyperLogLog and to a second one that
 * started as a copy of the previous bucket's (PFMERGE, once per bucket), and
 * returns the single-key PFCOUNTs of both (cheap: Redis caches them; a
 * PFCOUNT over two keys would merge 12 KB registers on every call).  Every
 * bucket key expires two windows after its bucket.  The values are then interpolated like the
 * local table's: cur + prev * (1 - f), f the fraction of the current bucket
 * elapsed.  Keys: "PREFIX:<64-bit key hash in hex>:c<i>:<W>:<bucket>" and
 * ":d<j>:..." (a hash, not the subscriber id: shorter, and no names in
 * Redis).  The script builds its keys itself, which a single Redis (or a
 * replicated pair) allows and Redis Cluster does not.
 *
 * NEVER BLOCK MAIL.  Connecting and every command have a short timeout
 * (timeout_ms).  A failure marks Redis down for retry_s seconds: during that
 * time updates do not try Redis at all and the local table (which is always
 * updated too) answers; the first failure is logged as a warning, the
 * recovery as a notice, and both are counted (ctr_redis_get_stats).
 *
 * THREADS.  A hiredis context is not thread-safe: a small pool of
 * connections, each behind its own mutex, chosen by the key's hash.
 *
 * AUTH.  With a password every new connection first sends AUTH (with the
 * URL's user name, for a Redis 6 ACL user, or without: the default user);
 * a refused AUTH, or a server that asks for one we do not have (NOAUTH),
 * is handled like an unreachable server: local counters, logged once.
 */
#include "config.h"
#include "counters.h"
#include "log.h"
#include "util.h"

#include <hiredis/hiredis.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define RD_POOL 4
#define RD_RETRY_MS 3000

static const char RD_SCRIPT[] =
    "local base = ARGV[1]\n"
    "local now = tonumber(ARGV[2])\n"
    "local nc, nd, nw = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])\n"
    "local a = 6\n"
    "local win = {}\n"
    "for w = 1, nw do win[w] = tonumber(ARGV[a]); a = a + 1 end\n"
    "local out = {}\n"
    "for i = 1, nc do\n"
    "  local inc = tonumber(ARGV[a]); a = a + 1\n"
    "  for w = 1, nw do\n"
    "    local W = win[w]\n"
    "    local b = math.floor(now / W)\n"
    "    local k = base .. ':c' .. i .. ':' .. W .. ':'\n"
    "    local cur\n"
    "    if inc > 0 then\n"
    "      cur = redis.call('INCRBY', k .. b, inc)\n"
    "      if cur == inc then redis.call('EXPIRE', k .. b, 2 * W + 60) end\n"
    "    else\n"
    "      cur = tonumber(redis.call('GET', k .. b) or '0')\n"
    "    end\n"
    "    out[#out + 1] = cur\n"
    "    out[#out + 1] = tonumber(redis.call('GET', k .. (b - 1)) or '0')\n"
    "  end\n"
    "end\n"
    "for j = 1, nd do\n"
    "  local items = {}\n"
    "  for it in string.gmatch(ARGV[a], '[^,]+') do items[#items + 1] = it end\n"
    "  a = a + 1\n"
    "  for w = 1, nw do\n"
    "    local W = win[w]\n"
    "    local b = math.floor(now / W)\n"
    "    local k = base .. ':d' .. j .. ':' .. W .. ':'\n"
    "    local cur, uni = k .. b, k .. 'u' .. b\n"
    "    if #items > 0 then\n"
    "      if redis.call('EXISTS', uni) == 0 then\n"
    "        redis.call('PFMERGE', uni, k .. (b - 1))\n"
    "        redis.call('EXPIRE', uni, 2 * W + 60)\n"
    "      end\n"
    "      if redis.call('PFADD', cur, unpack(items)) == 1 then\n"
    "        redis.call('EXPIRE', cur, 2 * W + 60)\n"
    "      end\n"
    "      redis.call('PFADD', uni, unpack(items))\n"
    "      out[#out + 1] = redis.call('PFCOUNT', cur)\n"
    "      out[#out + 1] = redis.call('PFCOUNT', uni)\n"
    "    else\n"
    "      out[#out + 1] = redis.call('PFCOUNT', cur)\n"
    "      if redis.call('EXISTS', uni) == 1 then\n"
    "        out[#out + 1] = redis.call('PFCOUNT', uni)\n"
    "      else\n"
    "        out[#out + 1] = redis.call('PFCOUNT', k .. (b - 1))\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return out\n";

struct rd_conn {
	pthread_mutex_t mu;
	redisContext *c;
};

struct ctr_remote {
	struct ctr_spec spec;
	char *url;               /* for messages */
	char *host;              /* NULL with a unix socket */
	int port;
	char *path;              /* unix socket */
	char *user;              /* ACL user name, or NULL */
	char *password;          /* or NULL */
	char *prefix;
	struct timeval tv;
	char sha[41];            /* of RD_SCRIPT */
	struct rd_conn pool[RD_POOL];
	pthread_mutex_t mu;      /* the state below */
	int64_t down_until_ms;   /* monotonic; 0: up */
	int down_logged;
	struct ctr_redis_stats st;
};

static void
rd_stat_add(struct ctr_remote *r, uint64_t *field)
{
	pthread_mutex_lock(&r->mu);
	(*field)++;
	pthread_mutex_unlock(&r->mu);
}

/* Redis failed (why; refused: it answered, with an error): down for a
 * while, log once. */
static void
rd_down(struct ctr_remote *r, const char *why, int refused)
{
	int first;

	pthread_mutex_lock(&r->mu);
	r->st.errors++;
	r->st.connected = 0;
	r->down_until_ms = bs_mono_ms() + RD_RETRY_MS;
	first = !r->down_logged;
	r->down_logged = 1;
	pthread_mutex_unlock(&r->mu);
	if (first)
		log_warn("counters: redis %s %s (%s): using local counters, retrying every %d s",
		    r->url, refused ? "refused us" : "unreachable", why, RD_RETRY_MS / 1000);
}

static int
rd_connect(struct ctr_remote *r, struct rd_conn *k)
{
	int was_down;

	k->c = r->host != NULL ? redisConnectWithTimeout(r->host, r->port, r->tv) :
	    redisConnectUnixWithTimeout(r->path, r->tv);
	if (k->c == NULL || k->c->err) {
		rd_down(r, k->c != NULL ? k->c->errstr : "out of memory", 0);
		if (k->c != NULL)
			redisFree(k->c);
		k->c = NULL;
		return -1;
	}
	redisSetTimeout(k->c, r->tv);
	if (r->password != NULL) {
		redisReply *rep = r->user != NULL ?
		    redisCommand(k->c, "AUTH %s %s", r->user, r->password) :
		    redisCommand(k->c, "AUTH %s", r->password);
		char why[200];

		if (rep == NULL || rep->type == REDIS_REPLY_ERROR) {
			snprintf(why, sizeof why, "AUTH%s%s: %s", r->user != NULL ? " as " : "",
			    r->user != NULL ? r->user : "",
			    rep != NULL ? rep->str : k->c->errstr[0] ? k->c->errstr : "no reply");
			redisFree(k->c);
			k->c = NULL;
			rd_down(r, why, rep != NULL);
			if (rep != NULL)
				freeReplyObject(rep);
			return -1;
		}
		freeReplyObject(rep);
	}
	pthread_mutex_lock(&r->mu);
	was_down = r->down_logged;
	r->down_logged = 0;
	r->st.connected = 1;
	if (was_down)
		r->st.reconnects++;
	pthread_mutex_unlock(&r->mu);
	if (was_down)
		log_notice("counters: redis %s reachable again: shared counters resumed", r->url);
	return 0;
}

static redisReply *
rd_eval(struct ctr_remote *r, redisContext *c, int argc, const char **argv, const size_t *lens)
{
	redisReply *rep = redisCommandArgv(c, argc, argv, lens);

	if (rep != NULL && rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOSCRIPT", 8) == 0) {
		freeReplyObject(rep);
		rep = redisCommand(c, "SCRIPT LOAD %s", RD_SCRIPT);
		if (rep == NULL)
			return NULL;
		freeReplyObject(rep);
		rep = redisCommandArgv(c, argc, argv, lens);
	}
	return rep;
}

static int
rd_update(struct ctr_remote *r, const char *key, int64_t now_ms, const uint32_t *inc,
    const uint64_t *dh, int set, const uint64_t *more, size_t nmore, struct ctr_values *out)
{
	enum { MAXARG = 8 + CTR_MAX_WINDOWS + CTR_MAX_COUNTS + CTR_MAX_DISTINCT };
	const struct ctr_spec *sp = &r->spec;
	char *argv[MAXARG];
	size_t lens[MAXARG], m;
	uint64_t h = ctr_hash_str(key);
	struct rd_conn *k;
	redisReply *rep = NULL;
	int argc = 0, i, j, w, n, rc = -1;
	int64_t down;

	pthread_mutex_lock(&r->mu);
	down = r->down_until_ms;
	pthread_mutex_unlock(&r->mu);
	if (down != 0 && bs_mono_ms() < down) {
		rd_stat_add(r, &r->st.fallbacks);
		return -1;
	}

	argv[argc++] = xstrdup("EVALSHA");
	argv[argc++] = xstrdup(r->sha);
	argv[argc++] = xstrdup("0");
	argv[argc++] = xasprintf("%s:%016llx", r->prefix, (unsigned long long)h);
	argv[argc++] = xasprintf("%lld", (long long)(now_ms / 1000));
	argv[argc++] = xasprintf("%d", sp->n_counts);
	argv[argc++] = xasprintf("%d", sp->n_distinct);
	argv[argc++] = xasprintf("%d", sp->n_windows);
	for (w = 0; w < sp->n_windows; w++)
		argv[argc++] = xasprintf("%lld", (long long)sp->window_s[w]);
	for (i = 0; i < sp->n_counts; i++)
		argv[argc++] = xasprintf("%u", inc != NULL ? inc[i] : 0);
	for (j = 0; j < sp->n_distinct; j++) {
		/* the set's items, comma-separated hex ("" for none) */
		char *list = xstrdup(""), *tmp;

		if (dh != NULL && dh[j] != 0) {
			free(list);
			list = xasprintf("%016llx", (unsigned long long)dh[j]);
		}
		for (m = 0; j == set && m < nmore; m++) {
			if (more[m] == 0)
				continue;
			tmp = xasprintf("%s%s%016llx", list, list[0] ? "," : "", (unsigned long long)more[m]);
			free(list);
			list = tmp;
		}
		argv[argc++] = list;
	}
	for (i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);

	k = &r->pool[h % RD_POOL];
	pthread_mutex_lock(&k->mu);
	if (k->c == NULL) {
		/* threads that queued here behind a connect that failed must not
		 * each try their own, one timeout after another: mail waits */
		pthread_mutex_lock(&r->mu);
		down = r->down_until_ms;
		pthread_mutex_unlock(&r->mu);
		if (down != 0 && bs_mono_ms() < down) {
			pthread_mutex_unlock(&k->mu);
			rd_stat_add(r, &r->st.fallbacks);
			goto out;
		}
	}
	if (k->c == NULL && rd_connect(r, k) != 0) {
		pthread_mutex_unlock(&k->mu);
		rd_stat_add(r, &r->st.fallbacks);
		goto out;
	}
	rep = rd_eval(r, k->c, argc, (const char **)argv, lens);
	if (rep == NULL) {
		char why[128];

		snprintf(why, sizeof why, "%s", k->c->errstr[0] ? k->c->errstr : "no reply");
		redisFree(k->c);
		k->c = NULL;
		pthread_mutex_unlock(&k->mu);
		rd_down(r, why, 0);
		rd_stat_add(r, &r->st.fallbacks);
		goto out;
	}
	if (rep->type == REDIS_REPLY_ERROR) {
		/* NOAUTH (a password set on the server since), NOPERM, OOM, a
		 * script error: the same for every message, so treated like an
		 * outage (logged once, tried again after the retry period) */
		char why[200];

		snprintf(why, sizeof why, "%s", rep->str);
		redisFree(k->c);
		k->c = NULL;
		pthread_mutex_unlock(&k->mu);
		rd_down(r, why, 1);
		rd_stat_add(r, &r->st.fallbacks);
		goto out;
	}
	pthread_mutex_unlock(&k->mu);
	n = (sp->n_counts + sp->n_distinct) * sp->n_windows * 2;
	if (rep->type != REDIS_REPLY_ARRAY || (int)rep->elements != n) {
		log_err("counters: redis %s: unexpected script reply (wrong shape)", r->url);
		rd_stat_add(r, &r->st.errors);
		rd_stat_add(r, &r->st.fallbacks);
		goto out;
	}
	memset(out, 0, sizeof *out);
	n = 0;
	for (i = 0; i < sp->n_counts + sp->n_distinct; i++)
		for (w = 0; w < sp->n_windows; w++) {
			int64_t wms = sp->window_s[w] * 1000;
			double f = (double)(now_ms % wms) / (double)wms;
			double a = (double)rep->element[n]->integer;
			double b = (double)rep->element[n + 1]->integer;

			n += 2;
			if (i < sp->n_counts)
				out->count[i][w] = a + b * (1 - f);
			else            /* b is the union: current + previous */
				out->distinct[i - sp->n_counts][w] = a + (b > a ? b - a : 0) * (1 - f);
		}
	rd_stat_add(r, &r->st.updates);
	rc = 0;
out:
	if (rep != NULL)
		freeReplyObject(rep);
	for (i = 0; i < argc; i++)
		free(argv[i]);
	return rc;
}

static void
rd_free(struct ctr_remote *r)
{
	int i;

	if (r == NULL)
		return;
	for (i = 0; i < RD_POOL; i++) {
		if (r->pool[i].c != NULL)
			redisFree(r->pool[i].c);
		pthread_mutex_destroy(&r->pool[i].mu);
	}
	pthread_mutex_destroy(&r->mu);
	free(r->url);
	free(r->host);
	free(r->path);
	free(r->user);
	if (r->password != NULL) {
		explicit_bzero(r->password, strlen(r->password));
		free(r->password);
	}
	free(r->prefix);
	free(r);
}

static void
rd_stats(struct ctr_remote *r, struct ctr_redis_stats *out)
{
	pthread_mutex_lock(&r->mu);
	*out = r->st;
	pthread_mutex_unlock(&r->mu);
}

static const struct ctr_remote_ops rd_ops = { rd_update, rd_free, rd_stats };

/* "redis://[USER@]HOST[:PORT][/]" or "unix:PATH"; 0 or -1. */
static int
rd_parse_url(struct ctr_remote *r, const char *url, char *err, size_t errlen)
{
	const char *p, *colon, *end, *user;
	size_t ulen;
	char *tail;
	long port = 6379;

	if (strncmp(url, "unix:", 5) == 0 && url[5] == '/') {
		r->path = xstrdup(url + 5);
		return 0;
	}
	if (strncmp(url, "redis://", 8) != 0) {
		snprintf(err, errlen, "%s: expected redis://[USER@]HOST[:PORT] or unix:/PATH", url);
		return -1;
	}
	p = url + 8;
	switch (ctr_redis_url_user(p, &user, &ulen)) {
	case -1:
		snprintf(err, errlen, "redis://...: a password does not belong in the URL "
		    "(put it in counters.redis_password_file, mode 0600)");
		return -1;
	case 1:
		if (ulen == 0) {
			snprintf(err, errlen, "%s: empty user name", url);
			return -1;
		}
		r->user = xstrndup(user, ulen);
		p = user + ulen + 1;
		break;
	}
	end = p + strcspn(p, "/");
	colon = memchr(p, ':', (size_t)(end - p));
	if (colon != NULL) {
		port = strtol(colon + 1, &tail, 10);
		if (tail != end || port < 1 || port > 65535) {
			snprintf(err, errlen, "%s: bad port", url);
			return -1;
		}
	} else
		colon = end;
	if (colon == p) {
		snprintf(err, errlen, "%s: no host", url);
		return -1;
	}
	r->host = xasprintf("%.*s", (int)(colon - p), p);
	r->port = (int)port;
	return 0;
}

struct ctr_table *
ctr_new_redis(const struct ctr_spec *spec, const char *url, const char *password,
    const char *prefix, int timeout_ms, char *err, size_t errlen)
{
	unsigned char md[SHA_DIGEST_LENGTH];
	struct ctr_remote *r;
	struct ctr_table *t;
	int i;

	if ((t = ctr_new(spec)) == NULL) {
		snprintf(err, errlen, "counters: spec out of range");
		return NULL;
	}
	r = xcalloc(1, sizeof *r);
	r->spec = *spec;
	if (url == NULL || rd_parse_url(r, url, err, errlen) != 0) {
		if (url == NULL)
			snprintf(err, errlen, "counters: no redis URL");
		free(r->user);
		free(r);
		ctr_free(t);
		return NULL;
	}
	if (r->user != NULL && password == NULL) {
		snprintf(err, errlen, "%s: a user name needs a password (counters.redis_password_file)", url);
		free(r->user);
		free(r->host);
		free(r);
		ctr_free(t);
		return NULL;
	}
	r->password = password != NULL ? xstrdup(password) : NULL;
	r->url = xstrdup(url);
	r->prefix = xstrdup(prefix != NULL && *prefix ? prefix : "bs");
	if (timeout_ms < 1)
		timeout_ms = 1;
	r->tv.tv_sec = timeout_ms / 1000;
	r->tv.tv_usec = (timeout_ms % 1000) * 1000;
	SHA1((const unsigned char *)RD_SCRIPT, sizeof RD_SCRIPT - 1, md);
	for (i = 0; i < SHA_DIGEST_LENGTH; i++)
		snprintf(r->sha + 2 * i, 3, "%02x", md[i]);
	pthread_mutex_init(&r->mu, NULL);
	for (i = 0; i < RD_POOL; i++)
		pthread_mutex_init(&r->pool[i].mu, NULL);
	/* one connection now, to say early whether Redis is there */
	pthread_mutex_lock(&r->pool[0].mu);
	if (rd_connect(r, &r->pool[0]) == 0)
		log_info("counters: shared through redis %s (prefix %s)", r->url, r->prefix);
	pthread_mutex_unlock(&r->pool[0].mu);
	ctr_set_remote(t, r, &rd_ops);
	return t;
}
