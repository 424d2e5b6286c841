/*
 * flowd.h - what botsentry-flowd's parts share: the daemon state that the
 * inputs feed, and the inputs' interface.
 *
 * Each input (live pcap capture, IPFIX, NetFlow v9, NetFlow v5) is one file
 * behind struct flow_input_ops, compiled in by AM_CONDITIONAL (a stub file
 * stands in when its library is missing).  An input runs in its own thread,
 * turns what it reads into detect_flow observations and hands them over
 * through flowd_lock()/flowd_unlock(); the detector is not thread-safe.
 * pcap files (-r) are read in the main thread, in time order.
 */
#ifndef BS_FLOWD_H
#define BS_FLOWD_H

#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include "conf.h"
#include "conf_flow.h"
#include "detect_flow.h"
#include "writer.h"

struct flowd;
struct flow_input;

struct flow_input_ops {
	const char *kind;                      /* "pcap", "ipfix", "netflow9", "netflow5" */
	/* Read until flowd_stopping(); runs in the input's own thread. */
	void (*run)(struct flow_input *in);
	/* Make run() return soon (called from the main thread). */
	void (*interrupt)(struct flow_input *in);
	/* Counters as JSON object members ("\"received\":1,..."), for the
	 * stats line and file.  Called with the input running. */
	void (*stats)(struct flow_input *in, char *buf, size_t size);
	/* Free everything (after run() returned). */
	void (*close)(struct flow_input *in);
};

struct flow_input {
	const struct flow_input_ops *ops;
	struct flowd *fd;
	char name[128];                        /* "pcap:eth1", "ipfix:udp:0.0.0.0:4739" */
	int df_input;                          /* its number in the detector */
	int live;                              /* its traffic time is the wall clock */
	pthread_t thread;
	int started;
	void *priv;
};

/* Opening functions; NULL and a message in err when the input cannot be
 * opened (or was not compiled in).  Called as root, before the privilege
 * drop. */
struct flow_input *input_pcap_live_open(struct flowd *fd, const char *ifname, char *err, size_t errlen);
struct flow_input *input_ipfix_open(struct flowd *fd, const char *listen, int netflow9, int tcp,
    char *err, size_t errlen);
struct flow_input *input_nfv5_open(struct flowd *fd, const char *listen, char *err, size_t errlen);

/*
 * Read pcap files to their end, merged in time order (the main thread).
 * Returns 0, or EX_NOINPUT/EX_DATAERR when a file could not be opened or
 * ended in the middle of a record (what could be read was still used).
 */
int input_pcap_files(struct flowd *fd, char *const *files, int n);
/* The capture filter flowd uses for a link type (see botsentry-flowd(8)). */
const char *input_pcap_default_filter(int linktype, int replies, char *buf, size_t size);

/* ---------------------------------------------------------------- the daemon */

struct flowd {
	pthread_mutex_t lock;                  /* guards df, leases, settings */
	struct df *df;
	struct conf *conf;
	struct conf_flow_settings fs;
	struct lease_table *leases;
	struct writer *writer;
	struct writer_stats last_ws;           /* the writer's counters when it stopped */
	volatile sig_atomic_t stop;
	uint64_t events, allowlisted, submit_failed;
	int replies;                           /* capture filter includes the answers */
	int snaplen;
	long buffer_size;
	long udp_rcvbuf;
	const char *bpf_filter;                /* "" = built-in */
};

static inline int
flowd_stopping(const struct flowd *fd)
{
	return fd->stop != 0;
}

void flowd_lock(struct flowd *fd);
void flowd_unlock(struct flowd *fd);

/* Register an input with the detector; sets in->df_input. */
void flowd_input_register(struct flowd *fd, struct flow_input *in, int replies_visible);

/*
 * Bad input: count it under kind ("truncated_pcap", "garbage_datagram",
 * "impossible_record", ...) and log the first one of each kind with the
 * place and the detail; later ones are only counted (see the stats).
 */
void flowd_bad(struct flowd *fd, const char *place, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
uint64_t flowd_bad_count(const char *kind);

/* Traffic times outside [2000-01-01, now + 1 day] are impossible. */
int flowd_time_plausible(int64_t ms);

#endif
