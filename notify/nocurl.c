/*
 * nocurl.c - stand-ins for notify/http.c when configure found no libcurl:
 * the SMTP relay transport reports that it is not built in.  (The rt and
 * webhook channels are left out of the build altogether.)
 */
#include "config.h"
#include "channel.h"

#include <stdio.h>

int
smtp_send(const char *url, const char *from, const char *rcpt, const char *msg,
    int64_t timeout_ms, char *err, size_t errlen)
{
	(void)url; (void)from; (void)rcpt; (void)msg; (void)timeout_ms;
	snprintf(err, errlen, "built without libcurl: set notify.smtp_url = \"\" to use sendmail");
	return -1;
}
