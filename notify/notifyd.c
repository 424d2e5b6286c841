/*
 * notifyd.c - botsentry-notifyd: drains the outbox.
 *
 * Each round: fan the new outbox rows (channel '') out into per-channel
 * deliveries by the escalation rules (notify.<channel>.levels and .kinds),
 * claim a batch of due deliveries in a transaction, hand each to its
 * channel, record the outcome (sent, skipped, retry with exponential backoff
 * and jitter, failed after notify.max_attempts), then let channels do their
 * periodic work (RT status polling).  Then sleep notify.poll_interval, or
 * exit with -1 / --once when nothing is due.
 *
 * Signals: SIGHUP reloads the configuration (channels are reopened; a bad
 * new configuration is reported and the old one kept), SIGTERM and SIGINT
 * stop after the delivery in progress.  A delivery claimed but not finished
 * when the process dies is taken over after notify.lease.
 */
#include "config.h"
#include "channel.h"
#include "cmdline.h"
#include "conf.h"
#include "log.h"
#include "store.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

/* The channels this build knows; config subsections of the same names. */
static const struct channel_ops *const all_channels[] = {
	&ch_email_ops,
	&ch_arf_ops,
#if HAVE_CURL
	&ch_rt_ops,
	&ch_webhook_ops,
#endif
	&ch_exec_ops,
};
#define NCHAN BS_ARRAY_LEN(all_channels)

struct chan {
	const struct channel_ops *ops;
	void *state;             /* NULL: not enabled or could not open */
	int enabled;
	unsigned levels;         /* bit n: fires at level n */
	unsigned kinds;          /* bit per kind_names index */
	char error[512];         /* why it could not open */
};

static const char *const kind_names[] = { "new", "update", "resolved", "mitigation" };

struct notifyd {
	struct cmdline cl;
	struct conf *conf;
	struct store *st;
	struct notify_env env;
	struct chan ch[NCHAN];
	char worker[128];
	const char *pid_opt;
	int once;
	unsigned seed;
	int ready;               /* the database answered with the right schema */
	int away_logged;
};

static volatile sig_atomic_t got_term, got_hup;

static void
on_signal(int sig)
{
	if (sig == SIGHUP)
		got_hup = 1;
	else
		got_term = 1;
}

static unsigned
kind_bit(const char *k)
{
	size_t i;

	for (i = 0; i < BS_ARRAY_LEN(kind_names); i++)
		if (strcmp(kind_names[i], k) == 0)
			return 1u << i;
	return 0;
}

static void
channels_close(struct notifyd *nd)
{
	size_t i;

	for (i = 0; i < NCHAN; i++) {
		if (nd->ch[i].state != NULL && nd->ch[i].ops->close != NULL)
			nd->ch[i].ops->close(nd->ch[i].state);
		nd->ch[i].state = NULL;
	}
}

/* Open every enabled channel; returns how many could not open. */
static int
channels_open(struct notifyd *nd)
{
	cfg_t *n = nd->env.ncfg;
	size_t i;
	unsigned j;
	int bad = 0;

	for (i = 0; i < NCHAN; i++) {
		struct chan *c = &nd->ch[i];
		cfg_t *sec = cfg_getsec(n, all_channels[i]->name);

		memset(c, 0, sizeof *c);
		c->ops = all_channels[i];
		c->enabled = cfg_getbool(sec, "enabled");
		for (j = 0; j < cfg_size(sec, "levels"); j++)
			c->levels |= 1u << cfg_getnint(sec, "levels", j);
		for (j = 0; j < cfg_size(sec, "kinds"); j++)
			c->kinds |= kind_bit(cfg_getnstr(sec, "kinds", j));
		if (!c->enabled)
			continue;
		c->state = c->ops->open(&nd->env, sec, c->error, sizeof c->error);
		if (c->state == NULL) {
			log_err("channel=%s status=unusable error=\"%s\"", c->ops->name, c->error);
			bad++;
		} else {
			log_info("channel=%s status=ready", c->ops->name);
		}
	}
	return bad;
}

/* Escalation: which channels fire for an outbox row. */
static size_t
route(void *ud, const struct notification *n, const char **out, size_t max)
{
	struct notifyd *nd = ud;
	unsigned kb = kind_bit(n->kind);
	size_t i, k = 0;

	for (i = 0; i < NCHAN && k < max; i++) {
		const struct chan *c = &nd->ch[i];
		if (c->enabled && n->level >= 0 && n->level < 32 && (c->levels & (1u << n->level))
		    && (c->kinds & kb))
			out[k++] = c->ops->name;
	}
	return k;
}

static struct chan *
find_chan(struct notifyd *nd, const char *name)
{
	size_t i;

	for (i = 0; i < NCHAN; i++)
		if (strcmp(nd->ch[i].ops->name, name) == 0)
			return &nd->ch[i];
	return NULL;
}

/* Exponential backoff with jitter: the n-th retry waits between half and all
 * of min(backoff_max, backoff_initial * 2^(n-1)). */
static int64_t
backoff_ms(struct notifyd *nd, int attempts)
{
	int64_t base = cfg_getint(nd->env.ncfg, "backoff_initial") * 1000;
	int64_t max = cfg_getint(nd->env.ncfg, "backoff_max") * 1000;
	int64_t d = base;
	int i;

	for (i = 1; i < attempts && d < max; i++)
		d *= 2;
	if (d > max)
		d = max;
	return d / 2 + (int64_t)(rand_r(&nd->seed) % (unsigned)(d / 2 + 1));
}

static void
record(struct notifyd *nd, const struct delivery *d, const struct ch_result *res, int64_t now)
{
	int max = (int)cfg_getint(nd->env.ncfg, "max_attempts"), rc = STORE_OK;
	const char *what = "";

	switch (res->status) {
	case CH_SENT:
		rc = store_notify_sent(nd->st, d->id, nd->worker, now, res->msg);
		what = "sent";
		break;
	case CH_SKIPPED:
		rc = store_notify_skipped(nd->st, d->id, nd->worker, now, res->msg);
		what = "skipped";
		break;
	case CH_DEFER:
		rc = store_notify_retry(nd->st, d->id, nd->worker, now,
		    res->defer_until > now ? res->defer_until : now + 1000, res->msg, 0);
		what = "deferred";
		break;
	case CH_RETRY:
		if (d->attempts < max) {
			rc = store_notify_retry(nd->st, d->id, nd->worker, now,
			    now + backoff_ms(nd, d->attempts), res->msg, 1);
			what = "retry";
			break;
		}
		/* FALLTHROUGH */
	case CH_FAIL: {
		char *e = res->status == CH_RETRY
		    ? xasprintf("gave up after %d attempts: %s", d->attempts, res->msg)
		    : xstrdup(res->msg);
		rc = store_notify_failed(nd->st, d->id, nd->worker, now, e);
		free(e);
		what = "failed";
		break;
	}
	}
	if (res->status == CH_SENT || res->status == CH_SKIPPED || res->status == CH_DEFER)
		log_info("incident=%lld delivery=%lld channel=%s kind=%s level=%d attempt=%d status=%s note=\"%s\"",
		    (long long)d->incident_id, (long long)d->id, d->channel, d->kind, d->level,
		    d->attempts, what, res->msg);
	else
		log_warn("incident=%lld delivery=%lld channel=%s kind=%s level=%d attempt=%d status=%s error=\"%s\"",
		    (long long)d->incident_id, (long long)d->id, d->channel, d->kind, d->level,
		    d->attempts, what, res->msg);
	if (rc == STORE_NOTFOUND)
		log_warn("incident=%lld delivery=%lld claim was taken over by another worker (lease expired)",
		    (long long)d->incident_id, (long long)d->id);
	else if (rc != STORE_OK)
		log_err("delivery=%lld cannot record outcome: %s", (long long)d->id, store_errmsg(nd->st));
}

static void
deliver_one(struct notifyd *nd, const struct delivery *d)
{
	struct ch_result res = { CH_RETRY, 0, "" };
	struct chan *c = find_chan(nd, d->channel);
	struct notify_job job;
	struct notify_job_data *data = NULL;
	int64_t now = bs_now_ms();
	int rc;

	if (c == NULL) {
		ch_result(&res, CH_FAIL, "channel '%s' is not built into this botsentry-notifyd", d->channel);
	} else if (c->state == NULL) {
		ch_result(&res, CH_RETRY, "channel '%s' is %s", d->channel,
		    c->enabled ? c->error : "not enabled in notify settings");
	} else {
		rc = notify_job_load(&nd->env, d, now, &job, &data);
		if (rc == STORE_NOTFOUND)
			ch_result(&res, CH_FAIL, "incident %lld no longer exists", (long long)d->incident_id);
		else if (rc != STORE_OK)
			ch_result(&res, CH_RETRY, "store: %s", store_errmsg(nd->st));
		else
			c->ops->deliver(c->state, &nd->env, &job, &res);
	}
	notify_job_free(data);
	record(nd, d, &res, bs_now_ms());
}

/* Is the database there, with this build's schema (migrated if older, as
 * at start)?  While it does not answer (a start without it, an outage)
 * the rounds wait; that is logged when it starts and when it ends. */
/* The schema this build writes, migrated if older: 0, or -1 (the store's
 * error says why). */
static int
schema_ready(struct notifyd *nd)
{
	int v = store_schema_version(nd->st), from, to;

	if (v < 0)
		return -1;
	if (v < store_schema_latest(nd->st)) {
		if (store_migrate(nd->st, &from, &to) != 0)
			return -1;
		log_notice("database=%s migrated from=%d to=%d", nd->conf->database, from, to);
	}
	return 0;
}

static int
store_ready(struct notifyd *nd)
{
	if (nd->ready)
		return 1;
	if (schema_ready(nd) != 0) {
		if (!nd->away_logged)
			log_warn("database=%s error=\"%s\" action=\"deliveries wait until it answers\"",
			    nd->conf->database, store_errmsg(nd->st));
		nd->away_logged = 1;
		return 0;
	}
	if (nd->away_logged)
		log_notice("database=%s status=answering action=\"delivering\"", nd->conf->database);
	nd->away_logged = 0;
	nd->ready = 1;
	return 1;
}

/* One round; returns how many outbox rows and deliveries it handled. */
static int
round_once(struct notifyd *nd)
{
	int64_t now = bs_now_ms(), lease = cfg_getint(nd->env.ncfg, "lease") * 1000, claimed_at;
	int batch = (int)cfg_getint(nd->env.ncfg, "batch_size"), fanned, done = 0;
	struct delivery *d = NULL;
	size_t n = 0, i;

	if (!store_ready(nd))
		return 0;
	fanned = store_notify_fanout(nd->st, now, batch, route, nd);
	if (fanned < 0 && store_error_transient(nd->st)) {
		/* the database gone away (or a conflict): the next round checks
		 * it first, and an outage is logged there, once */
		nd->ready = 0;
		return 0;
	}
	if (fanned < 0) {
		log_err("outbox fan-out failed: %s", store_errmsg(nd->st));
		fanned = 0;
	}
	claimed_at = bs_mono_ms();
	if (store_notify_claim(nd->st, nd->worker, now, lease, batch, &d, &n) != 0) {
		log_err("claiming deliveries failed: %s", store_errmsg(nd->st));
		n = 0;
	}
	for (i = 0; i < n; i++) {
		/* Give back what we cannot start well within the lease, so that
		 * no other worker takes over a claim we are still working on. */
		if (got_term || bs_mono_ms() - claimed_at > lease / 2) {
			struct ch_result r = { CH_DEFER, bs_now_ms(), "released unstarted" };
			record(nd, &d[i], &r, bs_now_ms());
			continue;
		}
		deliver_one(nd, &d[i]);
		done++;
	}
	store_notify_free(d, n);
	for (i = 0; i < NCHAN; i++)
		if (nd->ch[i].state != NULL && nd->ch[i].ops->tick != NULL)
			nd->ch[i].ops->tick(nd->ch[i].state, &nd->env, bs_now_ms());
	return fanned + done;
}

static void
apply_conf(struct notifyd *nd, struct conf *c)
{
	nd->conf = c;
	nd->env.conf = c;
	nd->env.ncfg = cfg_getsec(c->cfg, "notify");
	nd->env.st = nd->st;
	nd->env.worker = nd->worker;
}

static void
reload(struct notifyd *nd)
{
	struct conf *c = conf_load(nd->conf->path, NULL);

	if (c == NULL) {
		log_err("reload: configuration %s has errors; keeping the running one",
		    nd->conf->path ? nd->conf->path : "(built-in)");
		return;
	}
	if (nd->cl.db_uri != NULL) {
		cfg_setstr(c->cfg, "database", nd->cl.db_uri);
		c->database = cfg_getstr(c->cfg, "database");
	}
	if (strcmp(c->database, nd->conf->database) != 0)
		log_warn("reload: 'database' changed; restart botsentry-notifyd to use %s", c->database);
	channels_close(nd);
	conf_unref(nd->conf);
	apply_conf(nd, c);
	log_set_level(c->log_level + nd->cl.verbose > LOG_DEBUG ? LOG_DEBUG : c->log_level + nd->cl.verbose);
	channels_open(nd);
	log_notice("status=reloaded config=%s", c->path ? c->path : "(built-in)");
}

static void
sleep_interval(int64_t ms)
{
	int64_t end = bs_mono_ms() + ms;

	while (!got_term && !got_hup && bs_mono_ms() < end) {
		struct timespec ts = { 0, 100 * 1000000L };
		nanosleep(&ts, NULL);
	}
}

static char *
write_pid_file(struct notifyd *nd)
{
	const char *cfgp = cfg_getstr(nd->env.ncfg, "pid_file");
	char *path = nd->pid_opt ? xstrdup(nd->pid_opt)
	    : (cfgp && *cfgp ? xstrdup(cfgp) : xasprintf("%s/botsentry-notifyd.pid", nd->conf->state_dir));
	char *tmp = xasprintf("%s.tmp", path);
	FILE *f;
	int fd;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
		log_warn("pid_file=%s error=\"%s\"", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		free(tmp);
		free(path);
		return NULL;
	}
	fprintf(f, "%ld\n", (long)getpid());
	fclose(f);
	if (rename(tmp, path) != 0) {
		log_warn("pid_file=%s error=\"%s\"", path, strerror(errno));
		unlink(tmp);
		free(tmp);
		free(path);
		return NULL;
	}
	free(tmp);
	return path;
}

static void
daemonize(void)
{
	pid_t pid = fork();
	int fd;

	if (pid < 0)
		log_fatal(EX_OSERR, "fork: %s", strerror(errno));
	if (pid > 0)
		_exit(0);
	setsid();
	pid = fork();
	if (pid < 0)
		log_fatal(EX_OSERR, "fork: %s", strerror(errno));
	if (pid > 0)
		_exit(0);
	if (chdir("/") != 0)
		log_warn("chdir /: %s", strerror(errno));
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
}

static int
extra_opt(int opt, const char *arg, void *ud)
{
	struct notifyd *nd = ud;

	switch (opt) {
	case '1':
		nd->once = 1;
		return 0;
	case 'p':
		nd->pid_opt = arg;
		return 0;
	case 'w':
		if (strlen(arg) == 0 || strlen(arg) >= 64)
			return -1;
		snprintf(nd->worker, sizeof nd->worker, "%s", arg);
		return 0;
	}
	return -1;
}

int
main(int argc, char **argv)
{
	static struct notifyd nd;
	struct sigaction sa;
	char err[512], host[64];
	char *pid_path = NULL;
	int i, rounds = 0, away = 0;

	/* --once is the long spelling of -1 */
	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "--once") == 0)
			argv[i] = "-1";
	nd.cl.prog = "botsentry-notifyd";
	cmdline_parse(&nd.cl, argc, argv, "[-1] [-p pidfile] [-w worker]", "1p:w:", extra_opt, &nd,
	    "  -1, --once  deliver what is due now, then exit (tests, cron)\n"
	    "  -p FILE     pid file (default: notify.pid_file, else state_dir/botsentry-notifyd.pid)\n"
	    "  -w NAME     worker name recorded on claims (default: host:pid)\n");
	apply_conf(&nd, cmdline_load_conf(&nd.cl, nd.once));

	if (!nd.cl.foreground && !nd.once)
		daemonize();
	if (nd.worker[0] == '\0') {
		if (gethostname(host, sizeof host) != 0)
			bs_strlcpy(host, "localhost", sizeof host);
		host[sizeof host - 1] = '\0';
		snprintf(nd.worker, sizeof nd.worker, "%s:%ld", host, (long)getpid());
	}
	nd.seed = (unsigned)(getpid() ^ (unsigned)bs_now_ms());

	nd.st = store_open_waiting(nd.conf->database, &away, err, sizeof err);
	if (nd.st == NULL)
		log_fatal(EX_UNAVAILABLE, "database=%s error=\"%s\"", nd.conf->database, err);
	if (away) {
		/* a database server that does not answer yet: waited for */
		log_warn("database=%s error=\"%s\" action=\"deliveries wait until it answers\"",
		    nd.conf->database, err);
		nd.away_logged = 1;
	} else {
		if (schema_ready(&nd) != 0)
			log_fatal(EX_UNAVAILABLE, "database=%s migrate error=\"%s\"", nd.conf->database,
			    store_errmsg(nd.st));
		nd.ready = 1;
	}
	apply_conf(&nd, nd.conf);
	channels_open(&nd);

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (!nd.once)
		pid_path = write_pid_file(&nd);
	log_notice("status=started worker=%s database=%s mode=%s", nd.worker, nd.conf->database,
	    nd.once ? "once" : "daemon");

	while (!got_term) {
		int handled;

		if (got_hup) {
			got_hup = 0;
			reload(&nd);
		}
		handled = round_once(&nd);
		rounds++;
		if (nd.once) {
			if (handled == 0)
				break;
			continue;
		}
		if (handled == 0)
			sleep_interval(cfg_getint(nd.env.ncfg, "poll_interval") * 1000);
	}
	log_notice("status=stopped worker=%s rounds=%d", nd.worker, rounds);
	channels_close(&nd);
	store_close(nd.st);
	if (pid_path != NULL) {
		unlink(pid_path);
		free(pid_path);
	}
	conf_unref(nd.conf);
	return 0;
}
