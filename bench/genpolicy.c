// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * genpolicy: a random grant set of N distinct prefixes, written as a bulkhead
 * policy (JSON, schema v1) and as the equivalent nftables ruleset (interval
 * sets), so both enforce exactly the same prefixes.
 *
 * Mix (by count): 40 % IPv4 /32, 30 % /24, 2 % /16, 18 % IPv6 /128, 10 % /64.
 * IPv4 prefixes are drawn from 1.0.0.0-223.255.255.255 without 10/8 and
 * 127/8, IPv6 from 2000::/3. Every address given with -g is one of the
 * prefixes (as /32 or /128), so the benchmark's destination is granted by a
 * prefix of the set and not by a special rule. Same seed, same policy.
 *
 *   genpolicy -n N [-s SEED] [-g ADDR]... [-P PORTS]
 *             [-j FILE -r ROOT_REL -c CGROUP_REL]
 *             [-t FILE -T TABLE -C NFT_CGROUP_PATH -L LEVEL]
 *
 * PORTS is a comma list ("443,5000-5999"); every grant gets proto tcp and
 * these ports. -j writes the policy (partner "bench" bound to CGROUP_REL under
 * partner_root ROOT_REL). -t writes an nft script: table inet TABLE with sets
 * g4/g6 and an output chain that sends sockets of cgroup NFT_CGROUP_PATH
 * (path as nft resolves it, below /sys/fs/cgroup) at LEVEL to a chain that
 * accepts granted tcp and drops the rest. Without -C the script holds the
 * sets and the `partner` chain only, and the caller adds the base chain that
 * jumps to it (so it can hook and unhook it without reloading the sets).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

struct pfx {
	uint8_t addr[16];	/* v4 in the first 4 bytes */
	uint8_t plen;
	uint8_t v6;
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

/* ---- a set of distinct prefixes (open addressing) ---- */

static struct pfx *tab;
static uint8_t *used;
static size_t tab_cap;

static uint64_t pfx_hash(const struct pfx *p)
{
	uint64_t h = 1469598103934665603ull;

	for (int i = 0; i < 16; i++)
		h = (h ^ p->addr[i]) * 1099511628211ull;
	h = (h ^ p->plen) * 1099511628211ull;
	return (h ^ p->v6) * 1099511628211ull;
}

static int pfx_eq(const struct pfx *a, const struct pfx *b)
{
	return a->plen == b->plen && a->v6 == b->v6 && !memcmp(a->addr, b->addr, 16);
}

/* 1 if added, 0 if already there */
static int set_add(const struct pfx *p)
{
	size_t i = pfx_hash(p) & (tab_cap - 1);

	while (used[i]) {
		if (pfx_eq(&tab[i], p))
			return 0;
		i = (i + 1) & (tab_cap - 1);
	}
	used[i] = 1;
	tab[i] = *p;
	return 1;
}

static void mask(struct pfx *p)
{
	int bits = p->plen, nbytes = p->v6 ? 16 : 4;

	for (int i = 0; i < nbytes; i++) {
		int keep = bits >= 8 ? 8 : bits > 0 ? bits : 0;

		p->addr[i] &= (uint8_t)(0xff00 >> keep);
		bits -= 8;
	}
}

static void random_pfx(struct pfx *p, int kind)
{
	static const uint8_t plens[5] = { 32, 24, 16, 128, 64 };
	uint64_t a = rnd(), b = rnd();

	memset(p, 0, sizeof(*p));
	p->plen = plens[kind];
	p->v6 = kind >= 3;
	if (!p->v6) {
		uint8_t first;

		do {
			first = (uint8_t)(1 + rnd() % 223);
		} while (first == 10 || first == 127);
		p->addr[0] = first;
		p->addr[1] = (uint8_t)(a >> 8);
		p->addr[2] = (uint8_t)(a >> 16);
		p->addr[3] = (uint8_t)(a >> 24);
	} else {
		memcpy(p->addr, &a, 8);
		memcpy(p->addr + 8, &b, 8);
		p->addr[0] = (uint8_t)(0x20 | (p->addr[0] & 0x1f));	/* 2000::/3 */
	}
	mask(p);
}

static const char *pfx_str(const struct pfx *p, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(p->v6 ? AF_INET6 : AF_INET, p->addr, a, sizeof(a));
	snprintf(buf, len, "%s/%u", a, p->plen);
	return buf;
}

static void usage(void)
{
	usage_exit("usage: genpolicy -n N [-s SEED] [-g ADDR]... [-P PORTS]\n"
		   "                 [-j FILE -r ROOT_REL -c CGROUP_REL]\n"
		   "                 [-t FILE -T TABLE -C NFT_CGROUP_PATH -L LEVEL]\n");
}

static int write_json(const char *path, const struct pfx *list, size_t n, const char *root,
		      const char *cg, const char *ports)
{
	FILE *f = fopen(path, "w");
	char buf[64], pl[256], portjson[512] = "", *tok, *save = NULL;
	size_t i, off = 0;

	if (!f)
		return -errno;
	/* ports as a JSON list of strings */
	snprintf(pl, sizeof(pl), "%s", ports);
	fprintf(f, "{\n  \"version\": 1,\n  \"partner_root\": \"%s\",\n  \"partners\": {\n"
		   "    \"bench\": {\n      \"cgroups\": [\"%s\"],\n      \"allow\": [\n",
		root, cg);
	for (tok = strtok_r(pl, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		off += (size_t)snprintf(portjson + off, sizeof(portjson) - off, "%s\"%s\"",
					off ? ", " : "", tok);
	for (i = 0; i < n; i++)
		fprintf(f, "        {\"to\": \"%s\", \"proto\": \"tcp\", \"ports\": [%s]}%s\n",
			pfx_str(&list[i], buf, sizeof(buf)), portjson, i + 1 < n ? "," : "");
	fprintf(f, "      ]\n    }\n  }\n}\n");
	if (fclose(f))
		return -errno;
	return 0;
}

static int write_nft(const char *path, const struct pfx *list, size_t n, const char *table,
		     const char *cg, int level, const char *ports)
{
	FILE *f = fopen(path, "w");
	char buf[64];
	size_t i;
	int fam, first;

	if (!f)
		return -errno;
	fprintf(f, "table inet %s {\n", table);
	for (fam = 0; fam < 2; fam++) {
		fprintf(f, "  set g%d {\n    type %s\n    flags interval\n    auto-merge\n",
			fam ? 6 : 4, fam ? "ipv6_addr" : "ipv4_addr");
		first = 1;
		for (i = 0; i < n; i++) {
			if (list[i].v6 != fam)
				continue;
			fprintf(f, "%s%s", first ? "    elements = {\n      " : ",\n      ",
				pfx_str(&list[i], buf, sizeof(buf)));
			first = 0;
		}
		fprintf(f, "%s  }\n", first ? "" : "\n    }\n");
	}
	fprintf(f, "  chain partner {\n"
		   "    tcp dport { %s } ip daddr @g4 accept\n"
		   "    tcp dport { %s } ip6 daddr @g6 accept\n"
		   "    drop\n"
		   "  }\n",
		ports, ports);
	if (cg)
		fprintf(f, "  chain output {\n"
			   "    type filter hook output priority filter; policy accept;\n"
			   "    socket cgroupv2 level %d \"%s\" jump partner\n"
			   "  }\n",
			level, cg);
	fprintf(f, "}\n");
	if (fclose(f))
		return -errno;
	return 0;
}

int main(int argc, char **argv)
{
	static const unsigned int weight[5] = { 40, 30, 2, 18, 10 };
	const char *json = NULL, *root = NULL, *cg = NULL, *nft = NULL, *table = "bhbench";
	const char *nftcg = NULL, *ports = "443,5000-5999";
	const char *granted[16];
	size_t n = 0, ngranted = 0, i, k, want[5], got;
	int level = 0, c, err;
	struct pfx *list;

	while ((c = getopt(argc, argv, "n:s:g:P:j:r:c:t:T:C:L:h")) != -1) {
		switch (c) {
		case 'n': n = strtoull(optarg, NULL, 0); break;
		case 's': rng_state ^= strtoull(optarg, NULL, 0) * 0x9e3779b97f4a7c15ull; break;
		case 'g':
			if (ngranted == 16)
				usage();
			granted[ngranted++] = optarg;
			break;
		case 'P': ports = optarg; break;
		case 'j': json = optarg; break;
		case 'r': root = optarg; break;
		case 'c': cg = optarg; break;
		case 't': nft = optarg; break;
		case 'T': table = optarg; break;
		case 'C': nftcg = optarg; break;
		case 'L': level = atoi(optarg); break;
		default: usage();
		}
	}
	if (!n || n < ngranted || (json && (!root || !cg)) || (nftcg && level <= 0))
		usage();
	if (!rng_state)
		rng_state = 1;

	for (tab_cap = 1024; tab_cap < 2 * n; tab_cap <<= 1)
		;
	tab = calloc(tab_cap, sizeof(*tab));
	used = calloc(tab_cap, 1);
	list = calloc(n, sizeof(*list));
	if (!tab || !used || !list) {
		fprintf(stderr, "genpolicy: out of memory\n");
		return 1;
	}
	got = 0;
	for (i = 0; i < ngranted; i++) {
		struct pfx p = {};

		if (inet_pton(AF_INET, granted[i], p.addr) == 1) {
			p.plen = 32;
		} else if (inet_pton(AF_INET6, granted[i], p.addr) == 1) {
			p.plen = 128;
			p.v6 = 1;
		} else {
			fprintf(stderr, "genpolicy: bad address %s\n", granted[i]);
			return 2;
		}
		if (set_add(&p))
			list[got++] = p;
	}
	/* per-kind counts; the rounding rest goes to /32 */
	for (k = 0, i = 0; k < 5; k++) {
		want[k] = n * weight[k] / 100;
		i += want[k];
	}
	want[0] += n - i;
	want[0] = want[0] > got ? want[0] - got : 0;	/* the granted /32s count as /32s */
	if (want[2] > 60000)
		want[2] = 60000, want[0] += n * weight[2] / 100 - 60000;
	for (k = 0; k < 5; k++) {
		size_t added = 0;

		while (added < want[k] && got < n) {
			struct pfx p;

			random_pfx(&p, (int)k);
			if (set_add(&p)) {
				list[got++] = p;
				added++;
			}
		}
	}
	/* shuffle so the file order is not grouped by kind */
	for (i = got; i > 1; i--) {
		size_t j = rnd() % i;
		struct pfx t = list[i - 1];

		list[i - 1] = list[j];
		list[j] = t;
	}
	if (json && (err = write_json(json, list, got, root, cg, ports))) {
		fprintf(stderr, "genpolicy: %s: %s\n", json, strerror(-err));
		return 1;
	}
	if (nft && (err = write_nft(nft, list, got, table, nftcg, level, ports))) {
		fprintf(stderr, "genpolicy: %s: %s\n", nft, strerror(-err));
		return 1;
	}
	printf("%zu\n", got);
	return 0;
}
