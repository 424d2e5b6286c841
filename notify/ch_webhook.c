/*
 * ch_webhook.c - the 'webhook' channel: a JSON POST of the incident and its
 * new events (notify_job_json) to a configured URL, signed.
 *
 * Headers: Content-Type: application/json; X-Botsentry-Delivery: the
 * delivery's idempotency key (the same on every retry, so a receiver can
 * drop repeats); X-Botsentry-Signature: sha256=<hex HMAC-SHA256 of the exact
 * body under the secret in notify.webhook.secret_file>.  The body is ASCII
 * JSON written by jansson, so no value from a bot can break it.
 *
 * Outcome: 2xx is delivered; 408, 429 and 5xx, timeouts and refused
 * connections are retried; any other answer (a 4xx: the receiver says the
 * request itself is wrong) fails at once.
 */
#include "config.h"
#include "channel.h"
#include "util.h"

#include <stdio.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

struct webhook {
	char *url;
	char *secret;
	size_t secret_len;
	int64_t timeout_ms;
	size_t max_events;
};

static void *
webhook_open(const struct notify_env *env, cfg_t *sec, char *err, size_t errlen)
{
	struct webhook *w;
	char *secret;
	size_t len;

	(void)env;
	secret = bs_read_secret(cfg_getstr(sec, "secret_file"), &len, err, errlen);
	if (secret == NULL)
		return NULL;
	w = xcalloc(1, sizeof *w);
	w->url = xstrdup(cfg_getstr(sec, "url"));
	w->secret = secret;
	w->secret_len = len;
	w->timeout_ms = cfg_getint(sec, "timeout") * 1000;
	w->max_events = (size_t)cfg_getint(sec, "max_events");
	return w;
}

static void
webhook_deliver(void *ch, const struct notify_env *env, const struct notify_job *job,
    struct ch_result *res)
{
	struct webhook *w = ch;
	struct http_response r;
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0, i;
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	char *body, *sig, *idem;
	const char *headers[5];

	(void)env;
	body = notify_job_json(job, "webhook", w->max_events);
	HMAC(EVP_sha256(), w->secret, (int)w->secret_len, (const unsigned char *)body, strlen(body),
	    mac, &maclen);
	for (i = 0; i < maclen; i++)
		snprintf(hex + 2 * i, 3, "%02x", mac[i]);
	hex[2 * maclen] = '\0';
	sig = xasprintf("X-Botsentry-Signature: sha256=%s", hex);
	idem = xasprintf("X-Botsentry-Delivery: %s", job->d->idem_key);
	headers[0] = "Content-Type: application/json";
	headers[1] = sig;
	headers[2] = idem;
	headers[3] = NULL;
	if (http_request("POST", w->url, headers, body, strlen(body), w->timeout_ms, &r) != 0)
		ch_result(res, CH_RETRY, "POST %s: %s", w->url, r.error);
	else if (r.status >= 200 && r.status < 300)
		ch_result(res, CH_SENT, "HTTP %ld", r.status);
	else if (r.status == 408 || r.status == 429 || r.status >= 500)
		ch_result(res, CH_RETRY, "POST %s: HTTP %ld", w->url, r.status);
	else
		ch_result(res, CH_FAIL, "POST %s: HTTP %ld (the receiver refused the request)",
		    w->url, r.status);
	http_response_clear(&r);
	free(sig);
	free(idem);
	free(body);
}

static void
webhook_close(void *ch)
{
	struct webhook *w = ch;

	if (w == NULL)
		return;
	free(w->url);
	if (w->secret != NULL)
		memset(w->secret, 0, w->secret_len);
	free(w->secret);
	free(w);
}

const struct channel_ops ch_webhook_ops = {
	.name = "webhook",
	.open = webhook_open,
	.deliver = webhook_deliver,
	.tick = NULL,
	.close = webhook_close,
};
