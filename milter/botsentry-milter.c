/*
 * botsentry-milter.c - the SMTP sensor and enforcer on the smarthost.
 *
 * NAME
 *	botsentry-milter - find and limit spam bots among an ISP's subscribers
 * SYNOPSIS
 *	botsentry-milter [-c FILE] [-d URI] [-p SOCKET] [-f] [-n] [-v]
 * DESCRIPTION
 *	Start-up, privileges, signals and shutdown; the work per message is
 *	in callbacks.c, the cached mitigation states in policy.c, the counters
 *	of decisions in stats.c.  man/botsentry-milter.8 is the user's page.
 *
 *	Order of start-up, and why:
 *	  1. configuration (exits 78 on error), the site secret (refused when
 *	     missing or readable by others), the detector settings;
 *	  2. the socket is opened while still root (smfi_opensocket) and given
 *	     milter|socket_mode and the run-time user as owner;
 *	  3. daemonize (before any thread exists) and write the pid file;
 *	  4. drop privileges to milter|user (or the top-level user);
 *	  5. the store: schema check, lease table, mitigation cache, writer
 *	     thread, refresh thread, signal thread; then smfi_main.
 *	libmilter owns SIGHUP, SIGTERM and SIGINT (stop); SIGUSR1 reloads the
 *	configuration from a sigwait thread; SIGUSR2 logs the counters.  At
 *	exit the writer queue is flushed (writer_stop).
 * DIAGNOSTICS
 *	Exit status from sysexits.h: 64 usage, 78 configuration or secret,
 *	69 store unavailable, 71 socket, 70 internal.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>
#include <libmilter/mfapi.h>

#include "cmdline.h"
#include "dkim.h"
#include "leases.h"
#include "log.h"
#include "milter.h"
#include "spf.h"
#include "store.h"
#include "util.h"
#include "writer.h"

struct bsm bsm = { .lock = PTHREAD_MUTEX_INITIALIZER };

static struct cmdline cl;
static const char *opt_socket;
static pthread_t sig_thread;
static volatile int quitting;

/* ------------------------------------------------------------ snapshots */

struct bsm_snap *
bsm_snap_get(void)
{
	struct bsm_snap *s;

	pthread_mutex_lock(&bsm.lock);
	s = bsm.snap;
	if (s != NULL)
		atomic_fetch_add(&s->refs, 1);
	pthread_mutex_unlock(&bsm.lock);
	return s;
}

void
bsm_snap_put(struct bsm_snap *s)
{
	if (s == NULL || atomic_fetch_sub(&s->refs, 1) != 1)
		return;
	detect_config_free(s->dc);
	lease_table_free(s->leases);
	free(s->throttle_text);
	free(s->reject_text);
	conf_unref(s->conf);
	free(s);
}

/* Text for smfi_setreply: no CR/LF or other controls, % doubled, bounded. */
static char *
reply_text(const char *msg, const char *url)
{
	char *full = url != NULL && url[0] ? xasprintf("%s; see %s", msg, url) : xstrdup(msg);
	char *out = xmalloc(strlen(full) * 2 + 1);
	size_t i, o = 0;

	for (i = 0; full[i] != '\0' && o < 900; i++) {
		unsigned char ch = (unsigned char)full[i];
		if (ch < 0x20 || ch == 0x7f)
			ch = ' ';
		if (ch == '%')
			out[o++] = '%';
		out[o++] = (char)ch;
	}
	out[o] = '\0';
	free(full);
	return out;
}

static int
on_error_status(const char *s)
{
	if (s != NULL && strcmp(s, "tempfail") == 0)
		return SMFIS_TEMPFAIL;
	if (s != NULL && strcmp(s, "reject") == 0)
		return SMFIS_REJECT;
	return SMFIS_ACCEPT;
}

struct bsm_snap *
bsm_snap_new(struct conf *c, char *err, size_t errlen)
{
	struct bsm_snap *s = xcalloc(1, sizeof *s);
	char lerr[512];
	struct store *st;
	int a;

	atomic_init(&s->refs, 1);
	s->conf = conf_ref(c);
	if ((s->dc = detect_config_load(c, err, errlen)) == NULL) {
		bsm_snap_put(s);
		return NULL;
	}
	s->enforce = strcmp(cfg_getstr(c->cfg, "milter|mode"), "enforce") == 0;
	s->on_error = on_error_status(cfg_getstr(c->cfg, "milter|on_error"));
	s->add_header = cfg_getbool(c->cfg, "milter|add_header") ? 1 : 0;
	s->header_name = cfg_getstr(c->cfg, "milter|header_name");
	s->throttle_text = reply_text(cfg_getstr(c->cfg, "milter|throttle_message"),
	    cfg_getstr(c->cfg, "milter|throttle_url"));
	s->reject_text = reply_text(cfg_getstr(c->cfg, "milter|reject_message"),
	    cfg_getstr(c->cfg, "milter|throttle_url"));
	s->quarantine_reason = cfg_getstr(c->cfg, "milter|quarantine_reason");
	if (s->quarantine_reason == NULL || s->quarantine_reason[0] == '\0')
		s->quarantine_reason = "botsentry";
	a = det_action_from_name(c->score.mitigation);
	s->mitigation = a < 0 ? DET_ACT_THROTTLE : (enum det_action)a;
	s->v6_prefix = (int)c->ipv6_prefix_len;
	s->dkim_on = s->dc->dkim.enabled;
	s->refresh_ms = cfg_getint(c->cfg, "milter|state_refresh") * 1000;

	/* the lease history; the static map alone when the store cannot say */
	/* (at a start without the database, not tried again: each try may
	 * wait a connect timeout, and Postfix waits for the socket) */
	st = bsm.start_away ? NULL : store_open(c->database, lerr, sizeof lerr);
	if (st == NULL) {
		if (!bsm.start_away)
			log_warn("leases: cannot open the store %s: %s; using the static map only "
			    "until it answers", c->database, lerr);
		s->leases_partial = 1;          /* tried again when the store answers */
	}
	s->leases = lease_table_load(c, st, lerr, sizeof lerr);
	if (s->leases == NULL && st != NULL) {
		/* the store answered but its rows would not load: for good */
		log_warn("leases: %s; using the static map only", lerr);
		s->leases = lease_table_load(c, NULL, lerr, sizeof lerr);
	}
	store_close(st);
	if (s->leases == NULL) {
		snprintf(err, errlen, "leases: %s", lerr);
		bsm_snap_put(s);
		return NULL;
	}
	return s;
}

/* ------------------------------------------------------------ signals */

/* The refresh thread reached the store: if the running snapshot was made
 * without the store's lease history, make it again with the same
 * configuration. */
static void
store_answers(void)
{
	struct bsm_snap *cur = bsm_snap_get(), *s = NULL, *old = NULL;
	char err[512];

	if (cur != NULL && cur->leases_partial)
		s = bsm_snap_new(cur->conf, err, sizeof err);
	if (s != NULL && !s->leases_partial) {
		pthread_mutex_lock(&bsm.lock);
		if (bsm.snap == cur) {       /* not replaced by a reload meanwhile */
			old = bsm.snap;
			bsm.snap = s;
			s = NULL;
		}
		pthread_mutex_unlock(&bsm.lock);
		if (old != NULL)
			log_notice("leases: the lease history is loaded from the store now that it answers");
	}
	bsm_snap_put(old);
	bsm_snap_put(s);
	bsm_snap_put(cur);
}

static void
reload(void)
{
	const char *path = cl.config_path ? cl.config_path : conf_default_path();
	struct conf *c;
	struct bsm_snap *s, *old;
	char err[512];

	if (!cl.config_given && access(path, F_OK) != 0)
		path = NULL;
	c = conf_load(path, NULL);
	if (c == NULL) {
		log_err("reload: %s has errors (logged above); keeping the running configuration",
		    path ? path : "(defaults)");
		return;
	}
	if (cl.db_uri != NULL) {
		cfg_setstr(c->cfg, "database", cl.db_uri);
		c->database = cfg_getstr(c->cfg, "database");
	}
	s = bsm_snap_new(c, err, sizeof err);
	conf_unref(c);
	if (s == NULL) {
		log_err("reload: %s; keeping the running configuration", err);
		return;
	}
	log_set_level(cl.verbose > 0 ? LOG_DEBUG : s->conf->log_level);
	pthread_mutex_lock(&bsm.lock);
	old = bsm.snap;
	bsm.snap = s;
	pthread_mutex_unlock(&bsm.lock);
	bsm_snap_put(old);
	if (bsm.writer != NULL)
		writer_set_policy(bsm.writer, &s->conf->score);
	stats_inc(ST_RELOADS, 1);
	log_notice("reload: configuration %s loaded; mode=%s; connections in progress finish "
	    "with the previous one", path ? path : "(defaults)", s->enforce ? "enforce" : "monitor");
}

static void *
signal_main(void *arg)
{
	sigset_t set;
	int sig;

	(void)arg;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	while (!quitting) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (quitting)
			break;
		if (sig == SIGUSR1)
			reload();
		else if (sig == SIGUSR2)
			stats_log("SIGUSR2");
	}
	return NULL;
}

/* The writer tells us at once when correlation raises an incident to level
 * 3: the subscriber's new state applies to its next message.  Of a batch
 * that an earlier attempt recorded (its answer lost) it cannot say what
 * correlation did: the subscribers' state is then read from the database
 * at once instead of at the end of milter.state_refresh. */
static void
writer_result(void *ud, const struct event *ev, const struct record_result *r)
{
	struct bsm_snap *s;

	(void)ud;
	if (r != NULL && r->replayed) {
		policy_refresh_soon(bsm.policy);
		return;
	}
	if (r == NULL || ev == NULL || ev->subscriber[0] == '\0')
		return;
	if (r->level_after >= 3 && r->level_before < 3) {
		s = bsm_snap_get();
		if (s != NULL && s->mitigation != DET_ACT_MONITOR) {
			policy_set(bsm.policy, ev->subscriber, s->mitigation);
			log_notice("incident=%lld: subscriber=%s reached level 3; mitigation=%s",
			    (long long)r->incident_id, ev->subscriber, det_action_name(s->mitigation));
		}
		bsm_snap_put(s);
	}
}

/* ------------------------------------------------------------ start-up */

static int
extra_opt(int opt, const char *arg, void *ud)
{
	(void)ud;
	if (opt == 'p') {
		opt_socket = arg;
		return 0;
	}
	return -1;
}

static void
daemonize(void)
{
	pid_t pid;
	int fd;

	if ((pid = fork()) < 0)
		log_fatal(EX_OSERR, "fork: %s", strerror(errno));
	if (pid > 0)
		_exit(0);
	setsid();
	if ((pid = fork()) < 0)
		log_fatal(EX_OSERR, "fork: %s", strerror(errno));
	if (pid > 0)
		_exit(0);
	if (chdir("/") != 0)
		log_warn("chdir /: %s", strerror(errno));
	if ((fd = open("/dev/null", O_RDWR)) >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
}

static void
write_pid(const char *path)
{
	char *dir, *slash;
	FILE *f;

	if (path == NULL || path[0] == '\0')
		return;
	dir = xstrdup(path);
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		bs_mkdir_p(dir, 0755);
	}
	free(dir);
	if ((f = fopen(path, "w")) == NULL) {
		log_err("pid file %s: %s", path, strerror(errno));
		return;
	}
	fprintf(f, "%ld\n", (long)getpid());
	fclose(f);
}

static void
drop_privileges(const char *user, uid_t *uid, gid_t *gid)
{
	struct passwd *pw;

	*uid = (uid_t)-1;
	*gid = (gid_t)-1;
	if (user == NULL || user[0] == '\0')
		return;
	if ((pw = getpwnam(user)) == NULL)
		log_fatal(EX_NOUSER, "milter|user: no such user '%s'", user);
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
}

static void
become(const char *user, uid_t uid, gid_t gid)
{
	if (uid == (uid_t)-1 || getuid() == uid)
		return;
	if (getuid() != 0)
		log_fatal(EX_NOPERM, "milter|user %s: only root can change user", user);
	if (initgroups(user, gid) != 0 || setgid(gid) != 0 || setuid(uid) != 0)
		log_fatal(EX_OSERR, "cannot become user %s: %s", user, strerror(errno));
	log_info("running as user %s (uid %ld)", user, (long)uid);
}

int
main(int argc, char **argv)
{
	struct conf *conf;
	struct smfiDesc desc;
	char err[512];
	const char *sock;
	char *user, *pid_file;
	long mode;
	uid_t uid;
	gid_t gid;
	sigset_t set;
	struct store *st;
	int ver, rc, away = 0;
	struct bsm_snap *snap;
	struct dkim_checker_opts dko;

	memset(&cl, 0, sizeof cl);
	cl.prog = "botsentry-milter";
	cmdline_parse(&cl, argc, argv, "[-c FILE] [-d URI] [-p SOCKET] [-f] [-n] [-v]", "p:",
	    extra_opt, NULL, "  -p SOCKET unix:PATH or inet:PORT@HOST (overrides milter|socket)\n");
	conf = cmdline_load_conf(&cl, 0);

	sock = xstrdup(opt_socket ? opt_socket : cfg_getstr(conf->cfg, "milter|socket"));
	if (strncmp(sock, "unix:", 5) != 0 && strncmp(sock, "local:", 6) != 0 &&
	    strncmp(sock, "inet:", 5) != 0 && strncmp(sock, "inet6:", 6) != 0)
		log_fatal(EX_USAGE, "-p %s: expected unix:PATH, inet:PORT@HOST or inet6:PORT@HOST", sock);
	bsm.no_reply = sock[0] == 'u' || sock[0] == 'l';
	mode = cfg_getint(conf->cfg, "milter|socket_mode");
	{
		const char *u = cfg_getstr(conf->cfg, "milter|user");
		user = (char *)(u != NULL && u[0] != '\0' ? u : conf->user);
	}
	/* copies: conf goes away at the first reload */
	pid_file = xstrdup(cfg_getstr(conf->cfg, "milter|pid_file"));
	user = xstrdup(user);
	bsm.db_uri = xstrdup(conf->database);

	/* the site secret: required, and private */
	if (privacy_load_secret(conf->secret_file, &bsm.key, err, sizeof err) != 0)
		log_fatal(EX_CONFIG, "%s (create it with 'botsentry db init', mode 0600)", err);

	/* detector settings now, so that errors show before we detach */
	{
		struct detect_config *dc = detect_config_load(conf, err, sizeof err);
		if (dc == NULL)
			log_fatal(EX_CONFIG, "milter: %s", err);
		{
			struct ctr_spec spec;
			detect_ctr_spec(dc, &spec);
			/* counters|backend: shared through Redis, or this process's own */
			if (strcmp(cfg_getstr(conf->cfg, "counters|backend"), "redis") == 0) {
				const char *pf = cfg_getstr(conf->cfg, "counters|redis_password_file");
				char *pw = NULL;
				size_t pwlen = 0;

				if (pf[0] != '\0' && (pw = bs_read_secret(pf, &pwlen, err, sizeof err)) == NULL)
					log_fatal(EX_CONFIG, "counters|redis_password_file: %s", err);
				bsm.ctr = ctr_new_redis(&spec, cfg_getstr(conf->cfg, "counters|redis_url"), pw,
				    cfg_getstr(conf->cfg, "counters|prefix"),
				    (int)cfg_getint(conf->cfg, "counters|timeout_ms"), err, sizeof err);
				if (pw != NULL) {
					explicit_bzero(pw, pwlen);
					free(pw);
				}
				if (bsm.ctr == NULL)
					log_fatal(EX_CONFIG, "counters: %s", err);
			} else
				bsm.ctr = ctr_new(&spec);
		}
		memset(&dko, 0, sizeof dko);
		dko.key_file = dc->dkim.key_file;
		dko.timeout_s = dc->dkim.timeout_s;
		dko.min_key_bits = dc->dkim.min_key_bits;
		dko.max_header_bytes = (size_t)dc->dkim.max_header_bytes;
		if (dc->dkim.enabled && (bsm.dkim = dkim_checker_new(&dko, err, sizeof err)) == NULL)
			log_fatal(EX_CONFIG, "milter|dkim: %s", err);
		/* libspf2's handlers are process-wide: before any thread starts */
		if (dc->sender.enabled && dc->sender.spf) {
			bsm.spf = spf_checker_new(dc->hostnames.n > 0 ? dc->hostnames.v[0] : conf->node_name,
			    cfg_getint(conf->cfg, "milter|sender|spf_cache_ttl"));
			if (bsm.spf == NULL)
				log_warn("milter|sender|spf: the SPF checker could not be set up; "
				    "foreign sender domains are reported unchecked");
		}
		detect_config_free(dc);
	}
	bsm.fire = det_fire_new(0);

	/* the socket, while still root */
	drop_privileges(user, &uid, &gid);
	if (sock[0] == 'u' || sock[0] == 'l') {
		char *path = xstrdup(strchr(sock, ':') + 1), *slash = strrchr(path, '/');
		if (slash != NULL && slash != path) {
			*slash = '\0';
			if (access(path, F_OK) != 0) {
				bs_mkdir_p(path, 0755);
				if (uid != (uid_t)-1 && chown(path, uid, gid) != 0)
					log_warn("chown %s: %s", path, strerror(errno));
			}
		}
		free(path);
	}
	if (smfi_setconn((char *)sock) != MI_SUCCESS)
		log_fatal(EX_USAGE, "milter|socket %s: not accepted by libmilter", sock);
	smfi_settimeout((int)cfg_getint(conf->cfg, "milter|timeout"));
	bsm_callbacks(&desc);
	if (smfi_register(desc) != MI_SUCCESS)
		log_fatal(EX_SOFTWARE, "smfi_register failed");
	if (smfi_opensocket(true) != MI_SUCCESS)
		log_fatal(EX_OSERR, "cannot open the milter socket %s (in use? folder missing?)", sock);
	if (sock[0] == 'u' || sock[0] == 'l') {
		const char *path = strchr(sock, ':') + 1;
		if (chmod(path, (mode_t)mode) != 0)
			log_warn("chmod %s %lo: %s", path, mode, strerror(errno));
		if (uid != (uid_t)-1 && chown(path, uid, gid) != 0)
			log_warn("chown %s: %s", path, strerror(errno));
	}
	smfi_setbacklog(256);

	if (!cl.foreground)
		daemonize();
	write_pid(pid_file);
	become(user, uid, gid);

	/* the store: must be initialised (botsentry db init); a database
	 * server that does not answer yet is waited for, mail flows meanwhile */
	st = store_open_waiting(conf->database, &away, err, sizeof err);
	if (st == NULL)
		log_fatal(EX_UNAVAILABLE, "store %s: %s", conf->database, err);
	if (away)
		log_warn("store %s does not answer (%s): starting without it; events are queued, "
		    "and the lease history and mitigation states are read when it answers",
		    conf->database, err);
	ver = away ? 1 : store_schema_version(st);
	if (ver <= 0) {
		store_close(st);
		log_fatal(EX_UNAVAILABLE, "store %s: %s; run 'botsentry db init' first", conf->database,
		    ver == 0 ? "not initialised" : "cannot read the schema version");
	}
	store_close(st);
	bsm.start_away = away;
	if ((snap = bsm_snap_new(conf, err, sizeof err)) == NULL)
		log_fatal(EX_CONFIG, "%s", err);
	bsm.snap = snap;
	bsm.start_away = 0;

	/* Block the signals before any thread exists, so that every thread
	 * inherits the mask: SIGUSR1/2 then reach only our sigwait thread, and
	 * SIGTERM/HUP/INT only libmilter's (a thread of ours with them
	 * unblocked would take the default action: death without a flush). */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	bsm.policy = policy_new();
	if (away || policy_refresh_now(bsm.policy, conf->database) != 0)
		log_warn("policy: starting without cached mitigation states");
	bsm.writer = writer_start(conf->database, &conf->score, conf->queue_capacity,
	    conf->queue_batch, conf->queue_flush_ms, writer_result, NULL, err, sizeof err);
	if (bsm.writer == NULL)
		log_fatal(EX_UNAVAILABLE, "writer: %s", err);
	policy_on_refresh(bsm.policy, store_answers);
	policy_start(bsm.policy, bsm.db_uri);
	if (pthread_create(&sig_thread, NULL, signal_main, NULL) != 0)
		log_fatal(EX_OSERR, "cannot start the signal thread");

	log_notice("started: socket=%s mode=%s store=%s node=%s no_reply=%s dkim=%s spf=%s",
	    sock, snap->enforce ? "enforce" : "monitor", conf->database, conf->node_name,
	    bsm.no_reply ? "yes" : "no", bsm.dkim ? "on" : "off", bsm.spf ? "on" : "off");
	conf_unref(conf);

	rc = smfi_main();

	/* shutdown: libmilter has stopped taking connections */
	log_notice("stopping: flushing the event queue");
	quitting = 1;
	pthread_kill(sig_thread, SIGUSR2);
	pthread_join(sig_thread, NULL);
	policy_stop(bsm.policy);
	writer_stop(bsm.writer);
	bsm.writer = NULL;
	stats_log("exit");
	policy_free(bsm.policy);
	bsm.policy = NULL;
	ctr_free(bsm.ctr);
	det_fire_free(bsm.fire);
	spf_checker_free(bsm.spf);
	dkim_checker_free(bsm.dkim);
	pthread_mutex_lock(&bsm.lock);
	snap = bsm.snap;
	bsm.snap = NULL;
	pthread_mutex_unlock(&bsm.lock);
	if (pid_file != NULL && pid_file[0] != '\0')
		unlink(pid_file);
	free(pid_file);
	free(user);
	free((char *)sock);
	free((char *)bsm.db_uri);
	bsm_snap_put(snap);
	return rc == MI_SUCCESS ? EX_OK : EX_SOFTWARE;
}
