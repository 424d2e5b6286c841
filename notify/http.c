/*
 * http.c - the libcurl side of botsentry-notifyd: one HTTP request (webhook,
 * Request Tracker REST 2.0) and one SMTP submission (relay transport).
 * Built only when configure found libcurl (notify/nocurl.c otherwise).
 *
 * No redirects are followed (a webhook answering 302 is a misconfiguration,
 * not a place to send incident data), no proxies from the environment are
 * used, and every transfer has a total timeout.
 */
#include "config.h"
#include "channel.h"
#include "mime.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <curl/curl.h>

#define HTTP_BODY_MAX (1024 * 1024)

static void
curl_once(void)
{
	static int done;

	if (!done) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		done = 1;
	}
}

static size_t
on_body(char *p, size_t size, size_t nmemb, void *ud)
{
	struct http_response *r = ud;
	size_t n = size * nmemb, keep = n;

	if (r->body_len + keep > HTTP_BODY_MAX)
		keep = HTTP_BODY_MAX - r->body_len;
	if (keep > 0) {
		r->body = xrealloc(r->body, r->body_len + keep + 1);
		memcpy(r->body + r->body_len, p, keep);
		r->body_len += keep;
		r->body[r->body_len] = '\0';
	}
	return n;
}

static size_t
on_header(char *p, size_t size, size_t nmemb, void *ud)
{
	struct http_response *r = ud;
	size_t n = size * nmemb;

	if (n > 9 && strncasecmp(p, "Location:", 9) == 0) {
		const char *v = p + 9;
		size_t l = n - 9;
		while (l > 0 && (*v == ' ' || *v == '\t')) {
			v++;
			l--;
		}
		while (l > 0 && (v[l - 1] == '\r' || v[l - 1] == '\n' || v[l - 1] == ' '))
			l--;
		free(r->location);
		r->location = xstrndup(v, l);
	}
	return n;
}

int
http_request(const char *method, const char *url, const char *const *headers,
    const char *body, size_t body_len, int64_t timeout_ms, struct http_response *resp)
{
	CURL *c;
	struct curl_slist *hl = NULL;
	CURLcode rc;
	int i;

	memset(resp, 0, sizeof *resp);
	curl_once();
	c = curl_easy_init();
	if (c == NULL) {
		snprintf(resp->error, sizeof resp->error, "curl_easy_init failed");
		return -1;
	}
	for (i = 0; headers != NULL && headers[i] != NULL; i++)
		hl = curl_slist_append(hl, headers[i]);
	hl = curl_slist_append(hl, "Expect:");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(timeout_ms < 10000 ? timeout_ms : 10000));
	curl_easy_setopt(c, CURLOPT_USERAGENT, "botsentry-notifyd/" PACKAGE_VERSION);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, resp);
	if (strcmp(method, "GET") != 0) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? body_len : 0));
	}
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
	} else {
		resp->status = 0;
		snprintf(resp->error, sizeof resp->error, "%s", curl_easy_strerror(rc));
	}
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	return rc == CURLE_OK ? 0 : -1;
}

void
http_response_clear(struct http_response *r)
{
	free(r->body);
	free(r->location);
	r->body = r->location = NULL;
	r->body_len = 0;
}

struct upload {
	const char *p;
	size_t left;
};

static size_t
on_read(char *buf, size_t size, size_t nmemb, void *ud)
{
	struct upload *u = ud;
	size_t n = size * nmemb;

	if (n > u->left)
		n = u->left;
	memcpy(buf, u->p, n);
	u->p += n;
	u->left -= n;
	return n;
}

int
smtp_send(const char *url, const char *from, const char *rcpt, const char *msg,
    int64_t timeout_ms, char *err, size_t errlen)
{
	CURL *c;
	struct curl_slist *rl = NULL;
	struct upload u;
	char *crlf, *mailfrom;
	size_t len;
	CURLcode rc;

	curl_once();
	c = curl_easy_init();
	if (c == NULL) {
		snprintf(err, errlen, "curl_easy_init failed");
		return -1;
	}
	crlf = mime_to_crlf(msg, &len);
	u.p = crlf;
	u.left = len;
	mailfrom = xasprintf("<%s>", from);
	rl = curl_slist_append(rl, rcpt);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(c, CURLOPT_MAIL_FROM, mailfrom);
	curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rl);
	curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
	curl_easy_setopt(c, CURLOPT_READDATA, &u);
	curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
	rc = curl_easy_perform(c);
	if (rc != CURLE_OK)
		snprintf(err, errlen, "%s", curl_easy_strerror(rc));
	curl_slist_free_all(rl);
	curl_easy_cleanup(c);
	free(mailfrom);
	free(crlf);
	return rc == CURLE_OK ? 0 : -1;
}
