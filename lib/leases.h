/*
 * leases.h - who held an IP address at a given time.
 *
 * An in-memory table of (prefix, valid from, valid to) -> subscriber, built
 * from the config's static map and the store's lease history.  A lookup
 * takes the longest prefix that holds the address and whose validity covers
 * the time; ties on length go to the lease that started last.  IPv4 and
 * IPv6.  Read-only after it is built, so any number of threads may look up
 * concurrently; a reload builds a new table.
 */
#ifndef BS_LEASES_H
#define BS_LEASES_H

#include <stddef.h>
#include <stdint.h>
#include "conf.h"
#include "store.h"

struct lease_table;

struct lease_table *lease_table_new(void);
void lease_table_free(struct lease_table *t);      /* NULL is fine */

/* Add a lease; prefix "a.b.c.d[/n]" or "v6addr[/n]".  to_ms INT64_MAX for
 * open-ended.  Returns 0, or -1 for a malformed prefix (or, added by the
 * counters module, when from_ms >= to_ms).  Host bits under the prefix
 * length are cleared; an IPv4-mapped IPv6 prefix (::ffff:a.b.c.d/n, n >= 96)
 * is the IPv4 prefix.  A lease covers t when from_ms <= t < to_ms. */
int lease_table_add(struct lease_table *t, const char *prefix, const char *subscriber,
    int64_t from_ms, int64_t to_ms);
/* Finish building (sorts/indexes); call once before lookups. */
void lease_table_seal(struct lease_table *t);
size_t lease_table_count(const struct lease_table *t);

/* Subscriber holding ip (text form) at at_ms, or NULL.  Borrowed: valid
 * while the table lives. */
const char *lease_table_lookup(const struct lease_table *t, const char *ip, int64_t at_ms);
/* Same for a binary address: family AF_INET (4 bytes) or AF_INET6 (16). */
const char *lease_table_lookup_bin(const struct lease_table *t, int family,
    const unsigned char *addr, int64_t at_ms);

/*
 * Build the table from conf (leases|static sections) and, when st is not
 * NULL, the store's lease history.  NULL and err on failure.
 */
struct lease_table *lease_table_load(const struct conf *c, struct store *st,
    char *err, size_t errlen);

/*
 * The counting key for an unattributed client: the address itself for IPv4,
 * the address masked to v6_prefix_len ("2001:db8:0:100::/56") for IPv6, so
 * that a subscriber rotating through its delegated /56 is one key.
 * Writes into buf; returns buf, or NULL if ip is not an address.
 */
char *lease_client_key(const char *ip, int v6_prefix_len, char *buf, size_t size);

/*
 * Added by the counters module: the canonical form of a prefix
 * ("100.64.1.10" -> "100.64.1.10/32", "2001:DB8::1/56" -> "2001:db8::/56"),
 * for importers and the store.  Returns buf, or NULL if malformed.
 */
char *lease_prefix_normalize(const char *prefix, char *buf, size_t size);

#endif
