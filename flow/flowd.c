/*
 * flowd.c - botsentry-flowd: the port-25 flow watcher.
 *
 * NAME
 *	botsentry-flowd - raise direct_mx events for subscribers that bypass
 *	the smarthost
 * SYNOPSIS
 *	botsentry-flowd [-c FILE] [-d URI] [-f] [-n] [-v] [-r FILE]...
 * DESCRIPTION
 *	Reads any of: live captures (libpcap), IPFIX and NetFlow v9 (libfixbuf),
 *	NetFlow v5 (lib/nfv5.c); feeds the direct_mx detector (lib/detect_flow.c);
 *	attributes each hit through lease history at the traffic time and
 *	writes the event through the writer queue.  With -r it reads pcap files
 *	in time order and exits at their end.  See botsentry-flowd(8).
 * DIAGNOSTICS
 *	One log line per event, key=value; bad input is counted per kind and
 *	logged once per kind; statistics every stats_interval and at exit.
 */
#include "config.h"
#include "cmdline.h"
#include "conf.h"
#include "conf_flow.h"
#include "detect_flow.h"
#include "event.h"
#include "flowd.h"
#include "leases.h"
#include "log.h"
#include "store.h"
#include "util.h"
#include "writer.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#define MAX_INPUTS 32
#define MAX_FILES 256
#define MAX_BAD_KINDS 64

static const char *synopsis = "[-c FILE] [-d URI] [-f] [-n] [-v] [-r FILE]...";
static const char *usage_extra =
    "  -r FILE   read a pcap file (repeatable; merged in time order) and exit at its end\n"
    "  -S FILE   write the statistics as JSON to FILE (at every interval and at exit)\n";

struct opts {
	char *files[MAX_FILES];
	int nfiles;
	const char *stats_file;
};

/* ------------------------------------------------------------ bad input */

static pthread_mutex_t bad_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char kind[40];
	uint64_t n;
} bad_kinds[MAX_BAD_KINDS];
static int n_bad_kinds;

void
flowd_bad(struct flowd *fd, const char *place, const char *kind, const char *fmt, ...)
{
	char detail[512];
	va_list ap;
	int i, first = 0;

	(void)fd;
	pthread_mutex_lock(&bad_lock);
	for (i = 0; i < n_bad_kinds; i++)
		if (strcmp(bad_kinds[i].kind, kind) == 0)
			break;
	if (i == n_bad_kinds && n_bad_kinds < MAX_BAD_KINDS) {
		bs_strlcpy(bad_kinds[i].kind, kind, sizeof bad_kinds[i].kind);
		n_bad_kinds++;
	}
	if (i < n_bad_kinds)
		first = bad_kinds[i].n++ == 0;
	pthread_mutex_unlock(&bad_lock);
	if (!first)
		return;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof detail, fmt, ap);
	va_end(ap);
	log_warn("%s bad_input=%s detail=\"%s\" action=\"skipped and counted; further ones are only counted\"",
	    place, kind, detail);
}

uint64_t
flowd_bad_count(const char *kind)
{
	uint64_t n = 0;
	int i;

	pthread_mutex_lock(&bad_lock);
	for (i = 0; i < n_bad_kinds; i++)
		if (strcmp(bad_kinds[i].kind, kind) == 0)
			n = bad_kinds[i].n;
	pthread_mutex_unlock(&bad_lock);
	return n;
}

int
flowd_time_plausible(int64_t ms)
{
	return ms >= 946684800000LL && ms <= bs_now_ms() + 86400000LL;
}

void
flowd_lock(struct flowd *fd)
{
	pthread_mutex_lock(&fd->lock);
}

void
flowd_unlock(struct flowd *fd)
{
	pthread_mutex_unlock(&fd->lock);
}

void
flowd_input_register(struct flowd *fd, struct flow_input *in, int replies_visible)
{
	flowd_lock(fd);
	in->df_input = df_input_add(fd->df, in->name, replies_visible);
	flowd_unlock(fd);
}

/* ------------------------------------------------------------ hits -> events */

static int
allowlisted(const struct flowd *fd, const struct df_addr *src, const char *subscriber)
{
	size_t i;

	for (i = 0; i < fd->fs.n_allow_prefixes; i++)
		if (df_prefix_match(&fd->fs.allow_prefixes[i], src))
			return 1;
	if (subscriber != NULL)
		for (i = 0; i < fd->fs.n_allow_subscribers; i++)
			if (strcmp(fd->fs.allow_subscribers[i], subscriber) == 0)
				return 1;
	return 0;
}

/* Called by the detector, under fd->lock. */
static void
on_hit(void *ud, const struct df_hit *h)
{
	struct flowd *fd = ud;
	const char *sub = NULL;
	struct event ev;
	char ip[64], when[32];

	if (fd->leases != NULL)
		sub = lease_table_lookup_bin(fd->leases, h->src.family == 4 ? AF_INET : AF_INET6,
		    h->src.a, h->ts_ms);
	df_addr_format(&h->src, ip, sizeof ip);
	if (allowlisted(fd, &h->src, sub)) {
		fd->allowlisted++;
		log_info("flow:%s subscriber=%s action=allowlisted attempts=%.0f destinations=%.0f",
		    ip, sub ? sub : "-", h->attempts, h->destinations);
		return;
	}
	df_hit_event(h, &ev);
	event_set_subscriber(&ev, sub ? sub : "");
	event_set_node(&ev, fd->conf->node_name);
	log_notice("flow:%s subscriber=%s kind=direct_mx score=%.1f attempts=%.0f destinations=%.0f "
	    "failed=%.0f smarthost=%s input=%s at=%s", ip, sub ? sub : "-", h->score, h->attempts,
	    h->destinations, h->failed, h->smarthost ? "yes" : "no", h->input,
	    bs_fmt_time(h->ts_ms, when, sizeof when));
	if (fd->writer != NULL && writer_submit(fd->writer, &ev) != 0)
		fd->submit_failed++;
	fd->events++;
	event_clear(&ev);
}

/* ------------------------------------------------------------ statistics */

static char *
stats_json(struct flowd *fd, struct flow_input **inputs, int ninputs)
{
	struct df_stats s;
	struct writer_stats ws;
	char buf[1024];
	char *out, *tmp;
	int i;

	flowd_lock(fd);
	df_get_stats(fd->df, &s);
	flowd_unlock(fd);
	ws = fd->last_ws;
	if (fd->writer != NULL)
		writer_get_stats(fd->writer, &ws);
	out = xasprintf("{\"detector\":{\"segments\":%llu,\"records\":%llu,\"out_of_scope\":%llu,"
	    "\"attempts\":%llu,\"established\":%llu,\"refused\":%llu,\"unanswered\":%llu,\"unknown\":%llu,"
	    "\"smarthost\":%llu,\"retransmits\":%llu,\"pending\":%llu,\"pending_evicted\":%llu,"
	    "\"hits\":%llu,\"sources\":%llu,\"source_evictions\":%llu,\"source_expirations\":%llu,"
	    "\"state_evictions\":%llu,\"bytes\":%llu,\"first_parked\":%llu,\"first_promoted\":%llu,"
	    "\"first_spilled\":%llu,\"first_evicted\":%llu,\"first_expired\":%llu,\"first_live\":%llu},"
	    "\"events\":%llu,\"allowlisted\":%llu,\"submit_failed\":%llu,"
	    "\"writer\":{\"submitted\":%llu,\"committed\":%llu,\"allowlisted\":%llu,\"dropped\":%llu,"
	    "\"failed\":%llu},\"inputs\":{",
	    (unsigned long long)s.segments, (unsigned long long)s.records,
	    (unsigned long long)s.out_of_scope, (unsigned long long)s.attempts,
	    (unsigned long long)s.established, (unsigned long long)s.refused,
	    (unsigned long long)s.unanswered, (unsigned long long)s.unknown,
	    (unsigned long long)s.smarthost, (unsigned long long)s.retransmits,
	    (unsigned long long)s.pending, (unsigned long long)s.pending_evicted,
	    (unsigned long long)s.hits, (unsigned long long)s.sources,
	    (unsigned long long)s.source_evictions, (unsigned long long)s.source_expirations,
	    (unsigned long long)s.state_evictions, (unsigned long long)s.bytes,
	    (unsigned long long)s.first_parked, (unsigned long long)s.first_promoted,
	    (unsigned long long)s.first_spilled, (unsigned long long)s.first_evicted,
	    (unsigned long long)s.first_expired, (unsigned long long)s.first_live,
	    (unsigned long long)fd->events, (unsigned long long)fd->allowlisted,
	    (unsigned long long)fd->submit_failed,
	    (unsigned long long)ws.submitted, (unsigned long long)ws.committed,
	    (unsigned long long)ws.allowlisted,
	    (unsigned long long)ws.dropped, (unsigned long long)ws.failed);
	for (i = 0; i < ninputs; i++) {
		buf[0] = '\0';
		inputs[i]->ops->stats(inputs[i], buf, sizeof buf);
		tmp = xasprintf("%s%s\"%s\":{%s}", out, i ? "," : "", inputs[i]->name, buf);
		free(out);
		out = tmp;
	}
	tmp = xasprintf("%s},\"bad_input\":{", out);
	free(out);
	out = tmp;
	pthread_mutex_lock(&bad_lock);
	for (i = 0; i < n_bad_kinds; i++) {
		tmp = xasprintf("%s%s\"%s\":%llu", out, i ? "," : "", bad_kinds[i].kind,
		    (unsigned long long)bad_kinds[i].n);
		free(out);
		out = tmp;
	}
	pthread_mutex_unlock(&bad_lock);
	tmp = xasprintf("%s}}", out);
	free(out);
	return tmp;
}

/* Flush and stop the writer, keeping its final counters for the stats;
 * the number of events the database did not take in time. */
static uint64_t
stop_writer(struct flowd *fd)
{
	uint64_t lost;
	int i;

	/* give the writer thread a moment to commit what is queued, so that
	 * the counters below are final; writer_stop() flushes in any case */
	for (i = 0; i < 50 && fd->writer != NULL; i++) {
		writer_get_stats(fd->writer, &fd->last_ws);
		if (fd->last_ws.depth == 0 && fd->last_ws.committed + fd->last_ws.dropped +
		    fd->last_ws.allowlisted + fd->last_ws.rejected >= fd->last_ws.submitted)
			break;
		usleep(20000);
	}
	lost = writer_stop(fd->writer);
	fd->writer = NULL;
	return lost;
}

static void
log_stats(struct flowd *fd, struct flow_input **inputs, int ninputs, const char *stats_file,
    const char *when)
{
	char *js = stats_json(fd, inputs, ninputs);

	log_info("flowd stats=%s %s", when, js);
	if (stats_file != NULL) {
		char *tmp = xasprintf("%s.tmp", stats_file);
		FILE *f = fopen(tmp, "w");

		if (f == NULL) {
			log_warn("flowd stats_file=%s error=\"%s\"", tmp, strerror(errno));
		} else {
			fprintf(f, "%s\n", js);
			if (fclose(f) != 0 || rename(tmp, stats_file) != 0)
				log_warn("flowd stats_file=%s error=\"%s\"", stats_file, strerror(errno));
		}
		free(tmp);
	}
	free(js);
}

/* ------------------------------------------------------------ set-up */

static void
apply_settings(struct flowd *fd, struct conf *c)
{
	struct conf_flow_settings fs;
	cfg_t *sec = cfg_getsec(c->cfg, "flow");

	conf_flow_settings(c, &fs);
	if (fd->df == NULL) {
		fd->df = df_new(&fs.df, on_hit, fd);
		if (fd->df == NULL)
			log_fatal(EX_CONFIG, "flowd: the flow section's settings are not usable");
	} else {
		df_set_settings(fd->df, &fs.df);
	}
	conf_flow_settings_clear(&fd->fs);
	fd->fs = fs;
	fd->replies = cfg_getbool(sec, "capture_replies");
	fd->snaplen = (int)cfg_getint(sec, "snaplen");
	fd->buffer_size = cfg_getint(sec, "buffer_size");
	fd->udp_rcvbuf = cfg_getint(sec, "udp_rcvbuf");
	fd->bpf_filter = cfg_getstr(sec, "bpf_filter");
}

static void
describe_scope(struct flowd *fd)
{
	if (fd->fs.df.n_watch == 0)
		log_notice("flowd scope=all action=\"no subscriber_prefixes configured: watching every source address\"");
	else
		log_info("flowd scope=prefixes prefixes=%zu exclude=%zu smarthosts=%zu allowlist=%zu",
		    fd->fs.df.n_watch, fd->fs.df.n_exclude, fd->fs.df.n_smarthosts,
		    fd->fs.n_allow_prefixes + fd->fs.n_allow_subscribers);
}

static struct lease_table *
load_leases(struct conf *c)
{
	char err[512];
	struct store *st;
	struct lease_table *lt;

	st = store_open(c->database, err, sizeof err);
	if (st == NULL) {
		log_warn("flowd database=%s error=\"%s\" action=\"static leases only\"", c->database, err);
	}
	lt = lease_table_load(c, st, err, sizeof err);
	if (lt == NULL)
		log_warn("flowd leases error=\"%s\" action=\"events stay unattributed\"", err);
	store_close(st);
	return lt;
}

static void
drop_privileges(const char *user)
{
	struct passwd *pw;

	if (user == NULL || *user == '\0' || geteuid() != 0)
		return;
	pw = getpwnam(user);
	if (pw == NULL)
		log_fatal(EX_NOUSER, "flowd user=%s error=\"no such user\" action=\"fix the 'user' key\"", user);
	if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
		log_fatal(EX_OSERR, "flowd user=%s error=\"cannot switch user: %s\"", user, strerror(errno));
	log_info("flowd user=%s uid=%ld action=\"privileges dropped after opening the inputs\"", user,
	    (long)pw->pw_uid);
}

static void
daemonize(void)
{
	pid_t pid = fork();
	int fdn;

	if (pid < 0)
		log_fatal(EX_OSERR, "flowd error=\"fork: %s\"", strerror(errno));
	if (pid > 0)
		_exit(0);
	setsid();
	pid = fork();
	if (pid < 0)
		log_fatal(EX_OSERR, "flowd error=\"fork: %s\"", strerror(errno));
	if (pid > 0)
		_exit(0);
	if (chdir("/") != 0)
		log_warn("flowd error=\"chdir /: %s\"", strerror(errno));
	fdn = open("/dev/null", O_RDWR);
	if (fdn >= 0) {
		dup2(fdn, 0);
		dup2(fdn, 1);
		dup2(fdn, 2);
		if (fdn > 2)
			close(fdn);
	}
}

static char *
write_pid_file(const struct conf *c, const char *user)
{
	cfg_t *sec = cfg_getsec(c->cfg, "flow");
	const char *cfgpath = cfg_getstr(sec, "pid_file");
	char *path = (cfgpath && *cfgpath) ? xstrdup(cfgpath)
	    : xasprintf("%s/botsentry-flowd.pid", c->state_dir);
	FILE *f = fopen(path, "w");

	if (f == NULL) {
		log_warn("flowd pid_file=%s error=\"%s\"", path, strerror(errno));
		free(path);
		return NULL;
	}
	fprintf(f, "%ld\n", (long)getpid());
	fclose(f);
	if (user != NULL && *user != '\0' && geteuid() == 0) {
		struct passwd *pw = getpwnam(user);
		if (pw != NULL && chown(path, pw->pw_uid, pw->pw_gid) != 0)
			log_warn("flowd pid_file=%s error=\"chown: %s\"", path, strerror(errno));
	}
	return path;
}

static int
extra_opt(int opt, const char *arg, void *ud)
{
	struct opts *o = ud;

	switch (opt) {
	case 'r':
		if (o->nfiles == MAX_FILES) {
			fprintf(stderr, "botsentry-flowd: at most %d -r files\n", MAX_FILES);
			return -1;
		}
		o->files[o->nfiles++] = (char *)arg;
		return 0;
	case 'S':
		o->stats_file = arg;
		return 0;
	default:
		return -1;
	}
}

static void *
input_thread(void *arg)
{
	struct flow_input *in = arg;

	in->ops->run(in);
	return NULL;
}

static int
open_inputs(struct flowd *fd, struct conf *c, struct flow_input **inputs)
{
	cfg_t *sec = cfg_getsec(c->cfg, "flow");
	char err[512];
	int n = 0, bad = 0;
	unsigned i;
	const char *v;
	struct flow_input *in;

	for (i = 0; i < cfg_size(sec, "interfaces") && n < MAX_INPUTS; i++) {
		v = cfg_getnstr(sec, "interfaces", i);
		in = input_pcap_live_open(fd, v, err, sizeof err);
		if (in == NULL) {
			log_err("flowd interface=%s error=\"%s\"", v, err);
			bad++;
		} else {
			inputs[n++] = in;
		}
	}
	if ((v = cfg_getstr(sec, "ipfix_listen")) != NULL && *v != '\0') {
		in = input_ipfix_open(fd, v, 0, strcmp(cfg_getstr(sec, "ipfix_transport"), "tcp") == 0,
		    err, sizeof err);
		if (in == NULL) {
			log_err("flowd ipfix_listen=%s error=\"%s\"", v, err);
			bad++;
		} else {
			inputs[n++] = in;
		}
	}
	if ((v = cfg_getstr(sec, "netflow9_listen")) != NULL && *v != '\0') {
		in = input_ipfix_open(fd, v, 1, 0, err, sizeof err);
		if (in == NULL) {
			log_err("flowd netflow9_listen=%s error=\"%s\"", v, err);
			bad++;
		} else {
			inputs[n++] = in;
		}
	}
	if ((v = cfg_getstr(sec, "netflow5_listen")) != NULL && *v != '\0') {
		in = input_nfv5_open(fd, v, err, sizeof err);
		if (in == NULL) {
			log_err("flowd netflow5_listen=%s error=\"%s\"", v, err);
			bad++;
		} else {
			inputs[n++] = in;
		}
	}
	return bad ? -1 : n;
}

int
main(int argc, char **argv)
{
	struct cmdline cl;
	struct opts o;
	struct conf *c;
	struct flowd fd;
	struct flow_input *inputs[MAX_INPUTS];
	int ninputs = 0, i, rc = 0, live = 0;
	char err[512];
	char *pid_path = NULL;
	sigset_t sigs;
	cfg_t *sec;
	int64_t next_stats, next_leases;
	long stats_s, leases_s;
	unsigned j;

	memset(&cl, 0, sizeof cl);
	memset(&o, 0, sizeof o);
	memset(&fd, 0, sizeof fd);
	cl.prog = "botsentry-flowd";
	cmdline_parse(&cl, argc, argv, synopsis, "r:S:", extra_opt, &o, usage_extra);
	if (o.nfiles > 0)
		cl.foreground = 1;          /* like tcpdump -r: read, report, exit */
	c = cmdline_load_conf(&cl, 0);
	sec = cfg_getsec(c->cfg, "flow");
	pthread_mutex_init(&fd.lock, NULL);
	fd.conf = c;
	apply_settings(&fd, c);
	describe_scope(&fd);

	/* signals are taken by sigtimedwait() in the main thread only */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (o.nfiles == 0) {
		ninputs = open_inputs(&fd, c, inputs);
		if (ninputs < 0)
			log_fatal(EX_UNAVAILABLE, "flowd error=\"an input could not be opened\" action=\"nothing started\"");
		for (j = 0; j < cfg_size(sec, "pcap_files"); j++)
			if (o.nfiles < MAX_FILES)
				o.files[o.nfiles++] = cfg_getnstr(sec, "pcap_files", j);
		if (ninputs == 0 && o.nfiles == 0)
			log_fatal(EX_CONFIG, "flowd error=\"no input configured\" action=\"set interfaces, "
			    "ipfix_listen, netflow9_listen, netflow5_listen or pcap_files in the flow section, or use -r\"");
	}
	if (!cl.foreground)
		daemonize();
	if (ninputs > 0)
		pid_path = write_pid_file(c, c->user);
	drop_privileges(c->user);

	fd.writer = writer_start(c->database, &c->score, c->queue_capacity, c->queue_batch,
	    c->queue_flush_ms, NULL, NULL, err, sizeof err);
	if (fd.writer == NULL)
		log_fatal(EX_UNAVAILABLE, "flowd database=%s error=\"%s\"", c->database, err);
	fd.leases = load_leases(c);

	if (ninputs == 0) {
		/* -r (or pcap_files alone): read, flush, report, exit */
		rc = input_pcap_files(&fd, o.files, o.nfiles);
		flowd_lock(&fd);
		df_flush(fd.df);
		flowd_unlock(&fd);
		if (stop_writer(&fd) > 0 && rc == 0)
			rc = EX_TEMPFAIL;     /* the events are logged; the database did not take them */
		log_stats(&fd, inputs, 0, o.stats_file, "final");
		df_free(fd.df);
		lease_table_free(fd.leases);
		conf_flow_settings_clear(&fd.fs);
		conf_unref(c);
		return rc;
	}

	for (i = 0; i < ninputs; i++) {
		if (inputs[i]->live)
			live = 1;
		if (pthread_create(&inputs[i]->thread, NULL, input_thread, inputs[i]) != 0)
			log_fatal(EX_OSERR, "flowd error=\"cannot start a thread for %s\"", inputs[i]->name);
		inputs[i]->started = 1;
	}
	log_notice("flowd status=started inputs=%d pid=%ld", ninputs, (long)getpid());
	if (o.nfiles > 0)
		rc = input_pcap_files(&fd, o.files, o.nfiles);

	stats_s = cfg_getint(sec, "stats_interval");
	leases_s = cfg_getint(sec, "lease_refresh");
	next_stats = bs_mono_ms() + stats_s * 1000;
	next_leases = bs_mono_ms() + leases_s * 1000;
	while (!fd.stop) {
		struct timespec ts = { 1, 0 };
		int sig = sigtimedwait(&sigs, NULL, &ts);
		int64_t now = bs_mono_ms();

		if (sig == SIGTERM || sig == SIGINT) {
			log_notice("flowd signal=%s action=\"stopping\"", sig == SIGTERM ? "TERM" : "INT");
			fd.stop = 1;
			break;
		}
		if (sig == SIGUSR1) {
			log_stats(&fd, inputs, ninputs, o.stats_file, "requested");
		} else if (sig == SIGHUP) {
			struct conf *nc = conf_load(c->path, NULL);

			if (nc == NULL) {
				log_err("flowd signal=HUP config=%s action=\"reload refused: errors above; "
				    "keeping the running settings\"", c->path ? c->path : "(built-in)");
			} else {
				struct lease_table *lt;

				if (cl.db_uri != NULL) {
					cfg_setstr(nc->cfg, "database", cl.db_uri);
					nc->database = cfg_getstr(nc->cfg, "database");
				}
				lt = load_leases(nc);
				flowd_lock(&fd);
				apply_settings(&fd, nc);
				fd.conf = nc;
				if (lt != NULL) {
					lease_table_free(fd.leases);
					fd.leases = lt;
				}
				flowd_unlock(&fd);
				writer_set_policy(fd.writer, &nc->score);
				log_set_level(nc->log_level + cl.verbose > LOG_DEBUG ? LOG_DEBUG
				    : nc->log_level + cl.verbose);
				conf_unref(c);
				c = nc;
				describe_scope(&fd);
				log_notice("flowd signal=HUP action=\"configuration and leases reloaded; "
				    "inputs keep running as opened\"");
			}
		}
		if (live) {
			/* live captures run on the wall clock: time out quiet SYNs */
			flowd_lock(&fd);
			df_advance(fd.df, bs_now_ms());
			flowd_unlock(&fd);
		}
		if (now >= next_stats) {
			log_stats(&fd, inputs, ninputs, o.stats_file, "interval");
			next_stats = now + stats_s * 1000;
		}
		if (leases_s > 0 && now >= next_leases) {
			struct lease_table *lt = load_leases(c);
			if (lt != NULL) {
				flowd_lock(&fd);
				lease_table_free(fd.leases);
				fd.leases = lt;
				flowd_unlock(&fd);
			}
			next_leases = now + leases_s * 1000;
		}
	}

	for (i = 0; i < ninputs; i++)
		inputs[i]->ops->interrupt(inputs[i]);
	for (i = 0; i < ninputs; i++)
		if (inputs[i]->started)
			pthread_join(inputs[i]->thread, NULL);
	flowd_lock(&fd);
	df_flush(fd.df);
	flowd_unlock(&fd);
	if (stop_writer(&fd) > 0 && rc == 0)
		rc = EX_TEMPFAIL;
	log_stats(&fd, inputs, ninputs, o.stats_file, "final");
	for (i = 0; i < ninputs; i++)
		inputs[i]->ops->close(inputs[i]);
	if (pid_path != NULL) {
		unlink(pid_path);
		free(pid_path);
	}
	log_notice("flowd status=stopped events=%llu", (unsigned long long)fd.events);
	df_free(fd.df);
	lease_table_free(fd.leases);
	conf_flow_settings_clear(&fd.fs);
	conf_unref(c);
	return rc;
}
