/*
 * mailer.c - what the channels share: running a program without a shell
 * (sendmail, the exec hook) under a timeout, and handing a finished message
 * to the mail transport (the local sendmail binary, or an SMTP relay through
 * libcurl: notify/http.c).
 */
#include "config.h"
#include "channel.h"
#include "log.h"
#include "mime.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void
ch_result(struct ch_result *res, enum ch_status st, const char *fmt, ...)
{
	va_list ap;

	res->status = st;
	va_start(ap, fmt);
	vsnprintf(res->msg, sizeof res->msg, fmt, ap);
	va_end(ap);
}

static void
msleep(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Kill the child's process group, then reap it. */
static int
kill_and_reap(pid_t pid)
{
	int status, i;

	kill(-pid, SIGTERM);
	kill(pid, SIGTERM);
	for (i = 0; i < 50; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return status;
		msleep(20);
	}
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return status;
}

int
run_program(char *const argv[], char *const envp[], const char *in, size_t inlen,
    int64_t timeout_ms, char *out, size_t out_size)
{
	int pin[2], pout[2], status = 0, exited = 0;
	size_t written = 0, got = 0;
	int64_t deadline = bs_mono_ms() + timeout_ms;
	pid_t pid;
	char scratch[4096];

	if (out != NULL && out_size > 0)
		out[0] = '\0';
	if (pipe2(pin, O_CLOEXEC) != 0)
		goto fail;
	if (pipe2(pout, O_CLOEXEC) != 0) {
		close(pin[0]);
		close(pin[1]);
		goto fail;
	}
	pid = fork();
	if (pid < 0) {
		close(pin[0]); close(pin[1]); close(pout[0]); close(pout[1]);
		goto fail;
	}
	if (pid == 0) {
		/* child: own process group, so a timeout kills what it starts too */
		setpgid(0, 0);
		signal(SIGPIPE, SIG_DFL);
		dup2(pin[0], 0);
		dup2(pout[1], 1);
		dup2(pout[1], 2);
		execve(argv[0], argv, envp);
		dprintf(2, "cannot run %s: %s", argv[0], strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid);
	close(pin[0]);
	close(pout[1]);
	fcntl(pin[1], F_SETFL, O_NONBLOCK);
	fcntl(pout[0], F_SETFL, O_NONBLOCK);
	if (inlen == 0) {
		close(pin[1]);
		pin[1] = -1;
	}
	while (pout[0] >= 0 || pin[1] >= 0) {
		struct pollfd pf[2];
		int npf = 0, left = (int)(deadline - bs_mono_ms()), r;

		if (left <= 0)
			break;
		if (pout[0] >= 0) {
			pf[npf].fd = pout[0];
			pf[npf].events = POLLIN;
			npf++;
		}
		if (pin[1] >= 0) {
			pf[npf].fd = pin[1];
			pf[npf].events = POLLOUT;
			npf++;
		}
		r = poll(pf, (nfds_t)npf, left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break;
		for (int i = 0; i < npf; i++) {
			if (pf[i].revents == 0)
				continue;
			if (pf[i].fd == pout[0]) {
				ssize_t n = read(pout[0], scratch, sizeof scratch);
				if (n > 0) {
					if (out != NULL && got + 1 < out_size) {
						size_t k = (size_t)n;
						if (k > out_size - 1 - got)
							k = out_size - 1 - got;
						memcpy(out + got, scratch, k);
						got += k;
						out[got] = '\0';
					}
				} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
					close(pout[0]);
					pout[0] = -1;
				}
			} else {
				ssize_t n = write(pin[1], in + written, inlen - written);
				if (n > 0)
					written += (size_t)n;
				if ((n < 0 && errno != EAGAIN && errno != EINTR) || written == inlen) {
					/* EPIPE: the program did not read all; its exit says the rest */
					close(pin[1]);
					pin[1] = -1;
				}
			}
		}
	}
	if (pin[1] >= 0)
		close(pin[1]);
	if (pout[0] >= 0)
		close(pout[0]);
	while (bs_mono_ms() < deadline) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid) {
			exited = 1;
			break;
		}
		if (w < 0 && errno != EINTR)
			break;
		msleep(5);
	}
	if (!exited) {
		kill_and_reap(pid);
		return -2;
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return -3;
fail:
	if (out != NULL && out_size > 0)
		snprintf(out, out_size, "%s", strerror(errno));
	return -1;
}

/* The first line of a program's output, cleaned for a log line and the
 * outbox's error column. */
static void
first_line(const char *out, char *buf, size_t size)
{
	char *c = mime_clean(out, strcspn(out, "\n"));

	snprintf(buf, size, "%s", c);
	free(c);
}

void
mailer_send(const struct notify_env *env, const char *from_addr, const char *rcpt,
    const char *msg, struct ch_result *res)
{
	cfg_t *n = env->ncfg;
	const char *smtp = cfg_getstr(n, "smtp_url");
	const char *envfrom = cfg_getstr(n, "envelope_from");
	int64_t timeout_ms = cfg_getint(n, "mail_timeout") * 1000;
	char sender[256], out[1024], line[300];
	unsigned i, nargs = cfg_size(n, "sendmail_args");
	char **argv;
	char *envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
	int rc, k = 0;

	if (envfrom != NULL && *envfrom != '\0')
		bs_strlcpy(sender, envfrom, sizeof sender);
	else if (mime_addr_spec(from_addr, sender, sizeof sender) != 0)
		bs_strlcpy(sender, "", sizeof sender);
	if (!mime_addr_ok(rcpt)) {
		ch_result(res, CH_FAIL, "refusing recipient address that is not a plain addr-spec");
		return;
	}
	if (smtp != NULL && *smtp != '\0') {
		char err[256];
		if (smtp_send(smtp, sender, rcpt, msg, timeout_ms, err, sizeof err) == 0)
			ch_result(res, CH_SENT, "relayed through %s", smtp);
		else
			ch_result(res, CH_RETRY, "SMTP relay %s: %s", smtp, err);
		return;
	}
	argv = xcalloc(nargs + 8, sizeof *argv);
	argv[k++] = (char *)cfg_getstr(n, "sendmail");
	for (i = 0; i < nargs; i++)
		argv[k++] = cfg_getnstr(n, "sendmail_args", i);
	argv[k++] = "-i";
	if (*sender != '\0') {
		argv[k++] = "-f";
		argv[k++] = sender;
	}
	argv[k++] = "--";
	argv[k++] = (char *)rcpt;
	argv[k] = NULL;
	rc = run_program(argv, envp, msg, strlen(msg), timeout_ms, out, sizeof out);
	first_line(out, line, sizeof line);
	if (rc == 0)
		ch_result(res, CH_SENT, "handed to %s", argv[0]);
	else if (rc == -2)
		ch_result(res, CH_RETRY, "%s timed out after %llds", argv[0],
		    (long long)(timeout_ms / 1000));
	else if (rc == -1)
		ch_result(res, CH_RETRY, "cannot run %s: %s", argv[0], line);
	else
		ch_result(res, CH_RETRY, "%s exited with status %d%s%s", argv[0], rc,
		    *line ? ": " : "", line);
	free(argv);
}
