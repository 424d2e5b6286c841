/*
 * pflags.h - the milter protocol options botsentry-milter asks for in
 * negotiate, shared with bench/null-milter so that the benchmark can
 * compare like with like.  Needs <libmilter/mfapi.h> first.
 *
 * botsentry decides only at MAIL (throttle, reject) and at end of message
 * (quarantine, tempfail over the recipient quota, header); it never answers
 * at connect, HELO, RCPT, DATA, headers or end of headers, so it asks for
 * no reply there (SMFIP_NR_*), and does not want unknown commands.  The body
 * is read only to verify a DKIM signature: with DKIM on it negotiates
 * SMFIP_SKIP and answers the first body chunk with SMFIS_SKIP when the
 * headers held no DKIM-Signature; with DKIM off it asks for no body.
 *
 * The no-reply flags are only requested on a unix socket: over TCP a run
 * of writes without a read meets Nagle and delayed ACK on the MTA's side
 * (about 40 ms per message, API-NOTES.md B7), which costs far more than
 * the round trips saved.
 */
#ifndef BS_MILTER_PFLAGS_H
#define BS_MILTER_PFLAGS_H

#define BSM_PFLAGS_NR (SMFIP_NR_CONN | SMFIP_NR_HELO | SMFIP_NR_RCPT | SMFIP_NR_DATA | \
	SMFIP_NR_HDR | SMFIP_NR_EOH)
#define BSM_PFLAGS_BASE (SMFIP_NOUNKNOWN)

/* The flags wanted, given what the MTA offers. */
static inline unsigned long
bsm_pflags(unsigned long offered, int want_body, int no_reply)
{
	unsigned long want = BSM_PFLAGS_BASE;

	if (no_reply)
		want |= BSM_PFLAGS_NR;
	if (want_body)
		want |= SMFIP_SKIP;
	else
		want |= SMFIP_NOBODY;
	return want & offered;
}

#endif
