/*
 * ch_exec.c - the 'exec' channel: run a configured program (a walled
 * garden, an SMS gateway, a firewall address set) with the incident as JSON
 * on standard input.
 *
 * The program is started with execve: no shell, the argument list exactly
 * as configured (notify.exec.command), and an environment of its own:
 * PATH, BOTSENTRY_INCIDENT_ID, BOTSENTRY_SUBSCRIBER, BOTSENTRY_LEVEL,
 * BOTSENTRY_KIND, BOTSENTRY_DELIVERY, BOTSENTRY_MITIGATION.  Values from
 * outside are cleaned of control bytes.  Exit 0 is delivered.  The exit
 * statuses of <sysexits.h> that say retrying cannot help (64 usage, 65 data,
 * 66 no input, 67 no user, 68 no host, 77 no permission, 78 config) fail the
 * delivery at once, as a mail transport's would; any other exit (75
 * EX_TEMPFAIL among them), a signal or the timeout (the process group is
 * killed) is retried.
 */
#include "config.h"
#include "channel.h"
#include "mime.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

/* The sysexits.h statuses after which a retry would fail the same way. */
static int
permanent_exit(int rc)
{
	return rc == 64 || rc == 65 || rc == 66 || rc == 67 || rc == 68 || rc == 77 || rc == 78;
}

struct exec {
	char **argv;
	size_t argc;
	int64_t timeout_ms;
};

static void *
exec_open(const struct notify_env *env, cfg_t *sec, char *err, size_t errlen)
{
	struct exec *x;
	unsigned i, n = cfg_size(sec, "command");

	(void)env;
	if (n == 0 || cfg_getnstr(sec, "command", 0)[0] != '/') {
		snprintf(err, errlen, "notify|exec|command: expected {\"/absolute/program\", ...}");
		return NULL;
	}
	x = xcalloc(1, sizeof *x);
	x->argv = xcalloc(n + 1, sizeof *x->argv);
	for (i = 0; i < n; i++)
		x->argv[i] = xstrdup(cfg_getnstr(sec, "command", i));
	x->argc = n;
	x->timeout_ms = cfg_getint(sec, "timeout") * 1000;
	return x;
}

static char *
env_var(const char *name, const char *value)
{
	char *c = mime_clean(value ? value : "", value ? strlen(value) : 0);
	char *s = xasprintf("%s=%s", name, c);

	free(c);
	return s;
}

static void
exec_deliver(void *ch, const struct notify_env *env, const struct notify_job *job,
    struct ch_result *res)
{
	struct exec *x = ch;
	char *envp[8], *doc, out[1024], lvl[16], id[32];
	int rc, k = 0, i;

	(void)env;
	snprintf(lvl, sizeof lvl, "%d", job->d->level);
	snprintf(id, sizeof id, "%lld", (long long)job->inc->id);
	envp[k++] = xstrdup("PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin");
	envp[k++] = env_var("BOTSENTRY_INCIDENT_ID", id);
	envp[k++] = env_var("BOTSENTRY_SUBSCRIBER", job->inc->subscriber);
	envp[k++] = env_var("BOTSENTRY_LEVEL", lvl);
	envp[k++] = env_var("BOTSENTRY_KIND", job->d->kind);
	envp[k++] = env_var("BOTSENTRY_DELIVERY", job->d->idem_key);
	envp[k++] = env_var("BOTSENTRY_MITIGATION", job->sub && job->sub->mitigation
	    ? job->sub->mitigation : "monitor");
	envp[k] = NULL;
	doc = notify_job_json(job, "exec", 1000);
	rc = run_program(x->argv, envp, doc, strlen(doc), x->timeout_ms, out, sizeof out);
	{
		char *line = mime_clean(out, strcspn(out, "\n"));
		if (rc == 0)
			ch_result(res, CH_SENT, "%s exited 0", x->argv[0]);
		else if (rc == -2)
			ch_result(res, CH_RETRY, "%s timed out after %llds and was killed", x->argv[0],
			    (long long)(x->timeout_ms / 1000));
		else if (rc == -3)
			ch_result(res, CH_RETRY, "%s was killed by a signal", x->argv[0]);
		else if (rc == -1)
			ch_result(res, CH_RETRY, "cannot run %s: %s", x->argv[0], line);
		else
			ch_result(res, permanent_exit(rc) ? CH_FAIL : CH_RETRY,
			    "%s exited with status %d%s%s%s", x->argv[0], rc,
			    permanent_exit(rc) ? " (permanent)" : "", *line ? ": " : "", line);
		free(line);
	}
	free(doc);
	for (i = 0; i < k; i++)
		free(envp[i]);
}

static void
exec_close(void *ch)
{
	struct exec *x = ch;
	size_t i;

	if (x == NULL)
		return;
	for (i = 0; i < x->argc; i++)
		free(x->argv[i]);
	free(x->argv);
	free(x);
}

const struct channel_ops ch_exec_ops = {
	.name = "exec",
	.open = exec_open,
	.deliver = exec_deliver,
	.tick = NULL,
	.close = exec_close,
};
