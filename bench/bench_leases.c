/*
 * bench_leases.c - lease lookups/s with 1M leases (lib/leases.c), against a
 * baseline measured in the same run: a plain open-addressing hash of exact
 * IPv4 /32 keys -> subscriber (no prefixes, no time).
 *
 * usage: bench_leases [-n LEASES] [-l LOOKUPS]
 * The table: 90% IPv4 /32 leases with two holders each over time (the
 * DHCP case), 5% IPv4 /24 static prefixes, 5% IPv6 /56 delegations.
 * Lookups: random leased IPv4 addresses at random times (binary form, as
 * the milter has it from the connect sockaddr), plus a text-form run.
 * Three alternating rounds, the best of each counts (shared machine).
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "leases.h"

static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

struct bslot {
	uint32_t addr;
	uint32_t used;
	const char *sub;
};

int
main(int argc, char **argv)
{
	size_t n = 1000000, nl = 2000000, i, n4, size = 1, mask, found = 0, found_b = 0;
	struct lease_table *t = lease_table_new();
	struct bslot *base;
	uint32_t *addrs;
	uint64_t s = 88172645463325252ULL;
	double t0, t_build, t_base, t_bin, t_txt;
	int c, round;

	while ((c = getopt(argc, argv, "n:l:")) != -1) {
		switch (c) {
		case 'n': n = strtoul(optarg, NULL, 10); break;
		case 'l': nl = strtoul(optarg, NULL, 10); break;
		default:
			fprintf(stderr, "usage: %s [-n LEASES] [-l LOOKUPS]\n", argv[0]);
			return 64;
		}
	}
	n4 = n * 9 / 10 / 2;                   /* addresses, two leases each */
	addrs = malloc(n4 * sizeof *addrs);
	t0 = now_s();
	for (i = 0; i < n4; i++) {
		char p[32], sub[32];
		uint32_t a = 0x0a000000u + (uint32_t)(i * 7 + 1);   /* 10/8, spread */
		addrs[i] = a;
		snprintf(p, sizeof p, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
		snprintf(sub, sizeof sub, "cpe-%zu", i);
		lease_table_add(t, p, sub, 0, 43200000);
		snprintf(sub, sizeof sub, "cpe-%zu-b", i);
		lease_table_add(t, p, sub, 43200000, 86400000);
	}
	for (i = 0; i < n / 20; i++) {
		char p[32], sub[32];
		snprintf(p, sizeof p, "100.%zu.%zu.0/24", 64 + (i >> 16) % 64, (i >> 8) & 255);
		snprintf(sub, sizeof sub, "biz-%zu", i);
		lease_table_add(t, p, sub, 0, INT64_MAX);
		snprintf(p, sizeof p, "2001:db8:%zx:%zx00::/56", (i >> 8) & 0xffff, i & 0xff);
		lease_table_add(t, p, sub, 0, INT64_MAX);
	}
	lease_table_seal(t);
	t_build = now_s() - t0;

	/* baseline: exact /32 -> subscriber */
	while (size < n4 * 2)
		size *= 2;
	mask = size - 1;
	base = calloc(size, sizeof *base);
	for (i = 0; i < n4; i++) {
		size_t p = (size_t)(((uint64_t)addrs[i] * 0x9e3779b97f4a7c15ULL) >> 32) & mask;
		while (base[p].used)
			p = (p + 1) & mask;
		base[p].addr = addrs[i];
		base[p].used = 1;
		base[p].sub = "x";
	}
	t_base = t_bin = t_txt = 1e30;
	for (round = 0; round < 3; round++) {
		double d;
		found = found_b = 0;
		t0 = now_s();
		for (i = 0; i < nl; i++) {
			uint32_t a = addrs[rnd(&s) % n4];
			size_t p = (size_t)(((uint64_t)a * 0x9e3779b97f4a7c15ULL) >> 32) & mask;
			while (base[p].used && base[p].addr != a)
				p = (p + 1) & mask;
			found_b += base[p].used;
		}
		d = now_s() - t0;
		t_base = d < t_base ? d : t_base;

		t0 = now_s();
		for (i = 0; i < nl; i++) {
			uint64_t r = rnd(&s);
			uint32_t a = htonl(addrs[r % n4]);
			found += lease_table_lookup_bin(t, AF_INET, (const unsigned char *)&a,
			    (int64_t)((r >> 40) % 86400000)) != NULL;
		}
		d = now_s() - t0;
		t_bin = d < t_bin ? d : t_bin;
		t0 = now_s();
		for (i = 0; i < nl / 4; i++) {
			uint64_t r = rnd(&s);
			uint32_t a = addrs[r % n4];
			char ip[32];
			snprintf(ip, sizeof ip, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
			found += lease_table_lookup(t, ip, (int64_t)((r >> 40) % 86400000)) != NULL;
		}
		d = now_s() - t0;
		t_txt = d < t_txt ? d : t_txt;
	}

	printf("leases                     %zu (build+seal %.2f s)\n", lease_table_count(t), t_build);
	printf("baseline exact /32 hash    %.0f lookups/s\n", nl / t_base);
	printf("lease_table_lookup_bin     %.0f lookups/s\n", nl / t_bin);
	printf("ratio bin/baseline         %.3f\n", (nl / t_bin) / (nl / t_base));
	printf("lease_table_lookup (text)  %.0f lookups/s (incl. snprintf of the address)\n",
	    (nl / 4) / t_txt);
	printf("hits                       %zu of %zu (baseline %zu)\n", found, nl + nl / 4, found_b);
	lease_table_free(t);
	free(base);
	free(addrs);
	return found == nl + nl / 4 ? 0 : 1;
}
