// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Unit tests for the policy parser and compiler (user/policy.c, user/jpos.c).
 * No root, no BPF: decisions are checked with a userspace model of the
 * kernel lookup (longest-prefix match over the compiled entries, then the
 * rules), and against a brute-force evaluation of the grants themselves.
 *
 *   build/test_policy [BAD_DIR]
 *
 * BAD_DIR (default tests/unit/bad) holds one policy per bad-input class and
 * expect.txt, one line per file: "FILE LINE:COL substring-of-reason"; the
 * first error of FILE must be "BAD_DIR/FILE:LINE:COL: ..." containing the
 * substring. The last line printed is "N passed, N failed" (tests/harness.h,
 * one count per check).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <bulkhead/decide.h>
#include "lint.h"
#include "policy.h"
#include "../harness.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse(const char *text, struct bh_policy *p, struct bh_errors *e)
{
	return bh_policy_parse("t.json", text, strlen(text), p, e);
}

static int starts_with(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

static const char *first_err(const struct bh_errors *e)
{
	return e->n ? e->msg[0] : "(no error)";
}

/* Every message must be "NAME:LINE:COL: reason". */
static int well_formed(const char *msg, const char *name)
{
	size_t n = strlen(name);
	int line, col, used = 0;

	if (strncmp(msg, name, n) || msg[n] != ':')
		return 0;
	if (sscanf(msg + n + 1, "%d:%d: %n", &line, &col, &used) != 2 || !used)
		return 0;
	return line >= 1 && col >= 1;
}

/* ------------------------------------------------------------- bad inputs */

struct bad_case {
	const char *label;
	const char *json;
	const char *where;	/* "LINE:COL" of the first error */
	const char *reason;	/* substring of its reason */
};

/* A policy with one partner; the grant list goes from line 2 on. */
#define G(grants) \
	"{\"version\": 1, \"partners\": {\"acme\": {\"cgroups\": [\"a.slice\"], \"allow\": [\n" \
	grants "]}}}\n"
/* A policy whose partners go from line 2 on. */
#define P(partners) "{\"version\": 1, \"partners\": {\n" partners "}}\n"

static const struct bad_case bad_cases[] = {
	/* unknown keys, at the key */
	{ "unknown top-level key", "{\"version\": 1,\n  \"partner\": {}}\n", "2:3", "unknown key \"partner\"" },
	{ "unknown partner key", P("\"acme\": {\"cgroups\": [\"a\"],\n  \"allows\": []}\n"), "3:3",
	  "unknown key \"allows\"" },
	{ "unknown grant key", G("{\"to\": \"10.0.0.1\",\n  \"port\": [\"443\"]}\n"), "3:3",
	  "unknown key \"port\"" },
	/* addresses */
	{ "bad CIDR", G("{\"to\":\n  \"10.0.0.300/8\"}\n"), "3:3", "bad address \"10.0.0.300/8\"" },
	{ "bad CIDR text", G("{\"to\":\n  \"example.com\"}\n"), "3:3", "bad address" },
	{ "prefix too long", G("{\"to\":\n  \"10.0.0.0/33\"}\n"), "3:3", "prefix length /33 out of range" },
	{ "prefix not a number", G("{\"to\":\n  \"10.0.0.0/x\"}\n"), "3:3", "bad prefix length" },
	{ "host bits", G("{\"to\":\n  \"10.1.2.3/8\"}\n"), "3:3", "host bits set in \"10.1.2.3/8\": write "
	  "10.1.2.3/32 for that one address, or 10.0.0.0/8 for the whole prefix (16777216 addresses)" },
	{ "host bits /24", G("{\"to\":\n  \"10.77.0.10/24\"}\n"), "3:3", "write 10.77.0.10/32 for that one "
	  "address, or 10.77.0.0/24 for the whole prefix (256 addresses)" },
	{ "host bits v6", G("{\"to\":\n  \"2001:db8::1/32\"}\n"), "3:3", "write 2001:db8::1/128 for that one "
	  "address, or 2001:db8::/32 for the whole prefix (2^96 addresses)" },
	{ "host bits mapped", G("{\"to\":\n  \"::ffff:10.1.2.3/104\"}\n"), "3:3", "or 10.0.0.0/8 for the whole prefix" },
	/* grant ids */
	{ "grant id twice", G("{\"id\": \"api\", \"to\": \"10.0.0.1\"},\n{\"id\":\n  \"api\", \"to\": \"10.0.0.2\"}\n"),
	  "4:3", "grant id \"api\" given twice in this partner" },
	{ "grant id like a jit id", G("{\"to\": \"10.0.0.1\", \"id\":\n  \"j12\"}\n"), "3:3",
	  "has the form of a just-in-time grant's id" },
	{ "grant id like a derived id", G("{\"to\": \"10.0.0.1\", \"id\":\n  \"h0123456789ab\"}\n"), "3:3",
	  "has the form of a derived id" },
	{ "grant id characters", G("{\"to\": \"10.0.0.1\", \"id\":\n  \"a b\"}\n"), "3:3",
	  "must be 1-32 characters of A-Z a-z 0-9 . _ -, starting with a letter" },
	{ "grant id not a string", G("{\"to\": \"10.0.0.1\", \"id\":\n  7}\n"), "3:3", "\"id\" must be a string" },
	{ "ports text bad", G("{\"to\": \"10.0.0.1\", \"proto\": \"tcp\", \"ports\":\n  \"443,x\"}\n"), "3:3", "bad port" },
	{ "to not a string", G("{\"to\":\n  167772161}\n"), "3:3", "\"to\" must be" },
	{ "missing to", G("  {\"proto\": \"tcp\"}\n"), "2:3", "grant has no \"to\"" },
	{ "grant not an object", G("  \"10.0.0.1\"\n"), "2:3", "a grant is an object" },
	{ "never host bits", "{\"version\": 1, \"never\": [\n  \"169.254.169.254/16\"]}\n", "2:3",
	  "or 169.254.0.0/16 for the whole prefix (65536 addresses)" },
	/* ports */
	{ "port 0", G("{\"to\": \"10.0.0.1\", \"proto\": \"tcp\", \"ports\": [\"443\",\n  \"0\"]}\n"), "3:3",
	  "port 0 out of range (1-65535)" },
	{ "port 70000", G("{\"to\": \"10.0.0.1\", \"proto\": \"tcp\", \"ports\": [\n  \"70000\"]}\n"), "3:3",
	  "port 70000 out of range" },
	{ "port 70000 integer", G("{\"to\": \"10.0.0.1\", \"proto\": \"tcp\", \"ports\": [\n  70000]}\n"), "3:3",
	  "port 70000 out of range" },
	{ "port range end 70000", G("{\"to\": \"10.0.0.1\", \"ports\": [\n  \"1-70000\"]}\n"), "3:3",
	  "port 70000 out of range" },
	{ "reversed range", G("{\"to\": \"10.0.0.1\", \"proto\": \"udp\", \"ports\": [\n  \"8100-8000\"]}\n"), "3:3",
	  "reversed port range 8100-8000" },
	{ "bad port text", G("{\"to\": \"10.0.0.1\", \"ports\": [\n  \"https\"]}\n"), "3:3", "bad port \"https\"" },
	{ "empty ports", G("{\"to\": \"10.0.0.1\", \"ports\":\n  []}\n"), "3:3", "non-empty array" },
	{ "ports with icmp", G("{\"to\": \"10.0.0.1\", \"proto\": \"icmp\", \"ports\":\n  [\"7\"]}\n"), "3:3",
	  "proto \"icmp\"" },
	{ "too many port ranges", G("{\"to\": \"10.0.0.1\", \"ports\":\n  [1, 3, 5, 7, 9, 11, 13, 15, 17]}\n"),
	  "3:3", "9 separate port ranges" },
	{ "bad proto", G("{\"to\": \"10.0.0.1\", \"proto\":\n  \"sctp\"}\n"), "3:3", "unknown proto \"sctp\"" },
	{ "proto not a string", G("{\"to\": \"10.0.0.1\", \"proto\":\n  6}\n"), "3:3", "\"proto\" must be" },
	/* lifetimes */
	{ "expires and ttl", G("{\"to\": \"10.0.0.1\", \"expires\": \"2030-01-01T00:00:00Z\", \"ttl\":\n  \"1h\"}\n"),
	  "3:3", "both \"expires\" and \"ttl\"" },
	{ "ttl and expires", G("{\"to\": \"10.0.0.1\", \"ttl\": \"1h\", \"expires\":\n  \"2030-01-01T00:00:00Z\"}\n"),
	  "3:3", "both \"expires\" and \"ttl\"" },
	{ "bad ttl unit", G("{\"to\": \"10.0.0.1\", \"ttl\":\n  \"1x\"}\n"), "3:3", "bad ttl \"1x\"" },
	{ "zero ttl", G("{\"to\": \"10.0.0.1\", \"ttl\":\n  \"0s\"}\n"), "3:3", "must be positive" },
	{ "negative ttl", G("{\"to\": \"10.0.0.1\", \"ttl\":\n  \"-5m\"}\n"), "3:3", "bad ttl" },
	{ "ttl number", G("{\"to\": \"10.0.0.1\", \"ttl\":\n  90}\n"), "3:3", "\"ttl\" must be a string" },
	{ "bad expires month", G("{\"to\": \"10.0.0.1\", \"expires\":\n  \"2030-13-01T00:00:00Z\"}\n"), "3:3",
	  "bad expires" },
	{ "bad expires date", G("{\"to\": \"10.0.0.1\", \"expires\":\n  \"2030-02-30T00:00:00Z\"}\n"), "3:3",
	  "no such date" },
	{ "expires without zone", G("{\"to\": \"10.0.0.1\", \"expires\":\n  \"2030-01-01T00:00:00\"}\n"), "3:3",
	  "bad expires" },
	{ "expires date only", G("{\"to\": \"10.0.0.1\", \"expires\":\n  \"2030-01-01\"}\n"), "3:3",
	  "bad expires" },
	/* partners */
	{ "duplicate partner", P("\"acme\": {\"cgroups\": [\"a\"]},\n  \"acme\": {\"cgroups\": [\"b\"]}\n"), "3:3",
	  "duplicate key \"acme\"" },
	{ "duplicate grant key", G("{\"to\": \"10.0.0.1\",\n  \"to\": \"10.0.0.2\"}\n"), "3:3", "duplicate key \"to\"" },
	{ "bad partner name", P("  \"ac me\": {\"cgroups\": [\"a\"]}\n"), "2:3", "bad partner name \"ac me\"" },
	{ "partner name ..", P("  \"..\": {\"cgroups\": [\"a\"]}\n"), "2:3", "bad partner name \"..\"" },
	{ "partner name too long",
	  P("  \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\": {\"cgroups\": [\"a\"]}\n"),
	  "2:3", "bad partner name" },
	{ "bad mode", P("\"acme\": {\"cgroups\": [\"a\"], \"mode\":\n  \"block\"}\n"), "3:3", "unknown mode \"block\"" },
	{ "mode not a string", P("\"acme\": {\"cgroups\": [\"a\"], \"mode\":\n  true}\n"), "3:3", "\"mode\" must be \"enforce\" or \"audit\", not a boolean" },
	{ "partner not an object", P("\"acme\":\n  []\n"), "3:3", "must be an object" },
	/* cgroups */
	{ "cgroup bound to two partners",
	  P("\"acme\": {\"cgroups\": [\"x.slice\"]},\n\"beta\": {\"cgroups\": [\n  \"/x.slice/\"]}\n"), "4:3",
	  "cgroup \"x.slice\" bound to partners \"acme\" (at 2:22) and \"beta\"" },
	{ "cgroup listed twice", P("\"acme\": {\"cgroups\": [\"x\",\n  \"x\"]}\n"), "3:3", "listed twice" },
	{ "cgroup with ..", P("\"acme\": {\"cgroups\": [\n  \"a/../b\"]}\n"), "3:3", "\"..\" component" },
	{ "cgroup root", P("\"acme\": {\"cgroups\": [\n  \"/\"]}\n"), "3:3", "names the cgroup root" },
	{ "empty cgroups", P("\"acme\": {\"cgroups\":\n  []}\n"), "3:3", "empty \"cgroups\"" },
	{ "no cgroups", P("  \"acme\": {}\n"), "2:3", "has no \"cgroups\"" },
	{ "implicit binding taken",
	  "{\"version\": 1, \"partner_root\": \"p.slice\", \"partners\": {\n  \"acme\": {},\n"
	  "\"beta\": {\"cgroups\": [\"p.slice/acme\"]}}}\n", "2:3", "cgroup \"p.slice/acme\" bound to partners \"beta\"" },
	{ "cgroup is partner_root",
	  "{\"version\": 1, \"partner_root\": \"p.slice\", \"partners\": {\n\"acme\": {\"cgroups\": [\n  \"p.slice\"]}}}\n",
	  "3:3", "is the partner_root" },
	{ "partner_root with ..", "{\"version\": 1, \"partner_root\":\n  \"../x\"}\n", "2:3", "\"..\" component" },
	/* a filesystem path instead of one relative to the cgroup2 mount */
	{ "cgroup as a filesystem path", P("\"acme\": {\"cgroups\": [\n  \"/sys/fs/cgroup/a.slice/b\"]}\n"),
	  "3:3", "is a filesystem path: write \"a.slice/b\", relative to the cgroup2 mount" },
	{ "cgroup as a hybrid filesystem path",
	  P("\"acme\": {\"cgroups\": [\n  \"/sys/fs/cgroup/unified/a.slice\"]}\n"), "3:3", "write \"a.slice\"" },
	{ "cgroup below /sys", P("\"acme\": {\"cgroups\": [\n  \"/sys/kernel/x\"]}\n"), "3:3",
	  "is a filesystem path: write it relative to the cgroup2 mount" },
	{ "cgroup2 mount itself", P("\"acme\": {\"cgroups\": [\n  \"/sys/fs/cgroup/unified\"]}\n"), "3:3",
	  "is a filesystem path: write it relative" },
	{ "partner_root as a filesystem path",
	  "{\"version\": 1, \"partner_root\":\n  \"/sys/fs/cgroup/p.slice\"}\n", "2:3", "write \"p.slice\"" },
	/* version */
	{ "unknown version", "{\"version\":\n  2}\n", "2:3", "unsupported version 2" },
	{ "version string", "{\"version\":\n  \"1\"}\n", "2:3", "must be the integer 1" },
	{ "version real", "{\"version\":\n  1.0}\n", "2:3", "must be the integer 1" },
	{ "missing version", "\n  {\"partners\": {}}\n", "2:3", "missing \"version\"" },
	/* syntax (jansson's own position) */
	{ "trailing comma", "{\"version\": 1,\n  \"partners\": {},}\n", "2:18", "string or '}' expected" },
	{ "not an object", "[1]\n", "1:1", "a policy is a JSON object" },
	{ "empty file", "", "1:1", "expected" },
};

static void test_bad_inputs(void)
{
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *bc = &bad_cases[i];
		struct bh_errors e = { 0 };
		struct bh_policy p;
		char prefix[64];
		int rc;

		snprintf(prefix, sizeof(prefix), "t.json:%s: ", bc->where);
		rc = parse(bc->json, &p, &e);
		CHECK(rc == -EINVAL, "%s: rc %d, want -EINVAL", bc->label, rc);
		CHECK(e.n >= 1 && !strncmp(first_err(&e), prefix, strlen(prefix)) &&
		      strstr(first_err(&e), bc->reason),
		      "%s: got '%s', want '%s...%s'", bc->label, first_err(&e), prefix, bc->reason);
		for (size_t j = 0; j < e.n; j++)
			CHECK(well_formed(e.msg[j], "t.json"), "%s: malformed '%s'", bc->label, e.msg[j]);
		CHECK(p.npartners == 0 && p.ngrants == 0 && !p.file, "%s: policy not left empty", bc->label);
		bh_errors_free(&e);
		bh_policy_free(&p);
	}
}

static void test_error_collection(void)
{
	struct bh_errors e = { 0 };
	struct bh_policy p;
	char *big = NULL;
	size_t len = 0;
	FILE *f;
	int rc;

	/* All errors are collected, in file order here; columns count characters. */
	rc = parse("{\"version\": 1,\n\"never\": [\"\xc3\xa9\", \"x\"],\n  \"bogus\": 1}\n", &p, &e);
	CHECK(rc == -EINVAL && e.n == 3, "three errors: rc %d n %zu", rc, e.n);
	CHECK(e.n == 3 && !strncmp(e.msg[0], "t.json:2:11: ", 13), "utf-8 first: %s", first_err(&e));
	CHECK(e.n == 3 && !strncmp(e.msg[1], "t.json:2:16: ", 13), "utf-8 column: %s", e.n > 1 ? e.msg[1] : "");
	CHECK(e.n == 3 && !strncmp(e.msg[2], "t.json:3:3: unknown key", 23), "third: %s", e.n > 2 ? e.msg[2] : "");
	bh_errors_free(&e);

	/* Reported in file order even when found in another order. */
	rc = parse(G("{\"to\": \"10.0.0.1\", \"ports\": [0], \"bogus\": 1}\n"), &p, &e);
	CHECK(rc == -EINVAL && e.n == 2 && starts_with(e.msg[0], "t.json:2:30: port 0") &&
	      starts_with(e.msg[1], "t.json:2:34: unknown key"), "file order: %s | %s", first_err(&e),
	      e.n > 1 ? e.msg[1] : "");
	bh_errors_free(&e);

	/* Capped at BH_MAX_ERRORS; the rest are counted. */
	f = open_memstream(&big, &len);
	fputs("{\"version\": 1, \"partners\": {\"acme\": {\"cgroups\": [\"a.slice\"], \"allow\": [\n"
	      "{\"to\": \"10.0.0.1\", \"ports\": [0", f);
	for (int i = 0; i < 24; i++)
		fputs(", 0", f);
	fputs("]}\n]}}}\n", f);
	fclose(f);
	rc = parse(big, &p, &e);
	CHECK(rc == -EINVAL && e.n == BH_MAX_ERRORS && e.more == 5, "cap: rc %d n %zu more %zu",
	      rc, e.n, e.more);
	CHECK(e.n && starts_with(e.msg[0], "t.json:2:30: port 0"), "cap first: %s", first_err(&e));
	bh_errors_free(&e);
	free(big);

	rc = bh_policy_load("/nonexistent/policy.json", &p, &e);
	CHECK(rc == -ENOENT && e.n == 1 && strstr(first_err(&e), "/nonexistent/policy.json: cannot open"),
	      "missing file: rc %d '%s'", rc, first_err(&e));
	bh_errors_free(&e);
}

/* ------------------------------------------------------ reference lookups */

/*
 * The kernel's view: an LPM trie lookup of (partner, address) over the
 * compiled entries, then the value decides. Modelled by trying every prefix
 * length from the longest down against a sorted copy of the keys.
 */
struct ref {
	const struct bh_compiled *c;
	size_t *idx;
};

static const struct bh_compiled *g_sort_c;

static int key_cmp(const struct bh_lpm_key *a, const struct bh_lpm_key *b)
{
	if (a->partner != b->partner)
		return a->partner < b->partner ? -1 : 1;
	if (a->prefixlen != b->prefixlen)
		return a->prefixlen < b->prefixlen ? -1 : 1;
	return memcmp(a->addr, b->addr, sizeof(a->addr));
}

static int idx_cmp(const void *x, const void *y)
{
	return key_cmp(&g_sort_c->keys[*(const size_t *)x], &g_sort_c->keys[*(const size_t *)y]);
}

static void ref_init(struct ref *r, const struct bh_compiled *c)
{
	r->c = c;
	r->idx = calloc(c->n + 1, sizeof(*r->idx));
	for (size_t i = 0; i < c->n; i++)
		r->idx[i] = i;
	g_sort_c = c;
	qsort(r->idx, c->n, sizeof(*r->idx), idx_cmp);
}

static void ref_free(struct ref *r)
{
	free(r->idx);
}

static void mask_addr(uint8_t *a, int plen)
{
	for (int i = 0; i < 16; i++) {
		int bits = plen - 8 * i;

		if (bits < 8)
			a[i] &= bits <= 0 ? 0 : (uint8_t)(0xff << (8 - bits));
	}
}

static const struct bh_lpm_val *ref_lookup(const struct ref *r, uint32_t partner, const uint8_t *addr)
{
	for (int plen = 128; plen >= 0; plen--) {
		struct bh_lpm_key k = { .prefixlen = 32 + (uint32_t)plen, .partner = htonl(partner) };
		size_t lo = 0, hi = r->c->n;

		memcpy(k.addr, addr, 16);
		mask_addr(k.addr, plen);
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			int c = key_cmp(&r->c->keys[r->idx[mid]], &k);

			if (!c)
				return &r->c->vals[r->idx[mid]];
			if (c < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
	}
	return NULL;
}

static uint16_t pkt_port(uint8_t proto, uint16_t port)
{
	return proto == BH_PROTO_TCP || proto == BH_PROTO_UDP ? port : 0;
}

/* What the kernel does with one looked-up value: the shared bh_val_decide. */
static int ref_decide(const struct ref *r, uint32_t partner, const uint8_t *addr,
		      uint8_t proto, uint16_t port, uint64_t now, uint32_t *grant)
{
	const struct bh_lpm_val *v = ref_lookup(r, partner, addr);
	struct bh_val_result res;

	if (!v)
		return BH_REASON_UNKNOWN_PARTNER;
	bh_val_decide(v, proto, pkt_port(proto, port), now, &res);
	if (grant && res.reason == BH_REASON_GRANTED)
		*grant = res.grant;
	return res.reason;
}

static int prefix_covers(const struct bh_prefix *pf, const uint8_t *addr)
{
	uint8_t a[16];

	memcpy(a, addr, 16);
	mask_addr(a, pf->plen);
	return !memcmp(a, pf->addr, 16);
}

/* The policy's meaning, straight from the grants (no flattening). */
static int brute_decide(const struct bh_policy *p, const struct bh_clock *clk, size_t pidx,
			const uint8_t *addr, uint8_t proto, uint16_t port, uint64_t now)
{
	int expired = 0;

	for (size_t i = 0; i < p->nnever; i++)
		if (prefix_covers(&p->never[i], addr))
			return BH_REASON_NEVER;
	port = pkt_port(proto, port);
	for (size_t i = 0; i < p->ngrants; i++) {
		const struct bh_grant *g = &p->grants[i];
		int pm = !g->nports;
		uint64_t exp = 0;

		if (g->partner_idx != pidx || !prefix_covers(&g->to, addr) ||
		    (g->proto != BH_PROTO_ANY && g->proto != proto))
			continue;
		for (size_t j = 0; j < g->nports; j++)
			pm |= port >= g->ports[j].lo && port <= g->ports[j].hi;
		if (!pm)
			continue;
		if (g->expires_unix_ns) {
			int64_t rel = g->expires_unix_ns - clk->wall_ns;

			exp = rel <= 0 ? 1 : (uint64_t)(clk->boot_ns + rel);
		} else if (g->ttl_ns) {
			exp = (uint64_t)(clk->boot_ns + g->ttl_ns);
		}
		if (!exp || exp > now)
			return BH_REASON_GRANTED;
		expired = 1;
	}
	return expired ? BH_REASON_EXPIRED : BH_REASON_NO_GRANT;
}

static void addr_of(const char *s, uint8_t *a)
{
	memset(a, 0, 16);
	if (strchr(s, ':')) {
		inet_pton(AF_INET6, s, a);
	} else {
		a[10] = a[11] = 0xff;
		inet_pton(AF_INET, s, a + 12);
	}
}

static const char *reason_str(int r)
{
	static const char *names[] = { "granted", "no_grant", "never", "expired", "revoked",
				       "unknown_partner" };

	return r >= 0 && r < BH_REASON__MAX ? names[r] : "?";
}

/* --------------------------------------------------------- decision tests */

struct probe {
	const char *partner;
	const char *addr;
	uint8_t proto;
	uint16_t port;
	int later;		/* decide 2h after apply */
	int want;		/* enum bh_reason */
};

static const char decide_policy[] =
	"{\"version\": 1,\n"
	" \"never\": [\"169.254.169.254/32\", \"fd00:ec2::254/128\"],\n"
	" \"partners\": {\n"
	"  \"union\": {\"cgroups\": [\"u.slice\"], \"allow\": [\n"
	"    {\"to\": \"10.0.0.0/8\", \"proto\": \"tcp\", \"ports\": [\"443\"]},\n"
	"    {\"to\": \"10.1.0.0/16\", \"proto\": \"tcp\", \"ports\": [22]}]},\n"
	"  \"never\": {\"cgroups\": [\"n.slice\"], \"allow\": [\n"
	"    {\"to\": \"169.254.0.0/16\", \"proto\": \"any\"},\n"
	"    {\"to\": \"fd00:ec2::/32\"}]},\n"
	"  \"misc\": {\"cgroups\": [\"m.slice\"], \"mode\": \"audit\", \"allow\": [\n"
	"    {\"to\": \"2001:db8:5::/48\", \"proto\": \"udp\", \"ports\": [\"53\"], \"purpose\": \"dns\"},\n"
	"    {\"to\": \"192.0.2.7\", \"proto\": \"icmp\"},\n"
	"    {\"to\": \"192.0.2.0/24\", \"proto\": \"tcp\", \"ports\": [\"80\"], \"expires\": \"2000-01-01T00:00:00Z\"},\n"
	"    {\"to\": \"198.51.100.0/24\", \"proto\": \"any\"},\n"
	"    {\"to\": \"203.0.113.0/24\", \"proto\": \"tcp\", \"ports\": [\"8000-8100\"]},\n"
	"    {\"to\": \"198.18.0.0/15\", \"proto\": \"tcp\", \"ports\": [\"443\"], \"ttl\": \"1h\"},\n"
	"    {\"to\": \"100.64.0.0/10\", \"ports\": [\"53\"]},\n"
	"    {\"to\": \"::ffff:172.16.0.0/108\", \"proto\": \"udp\"}]},\n"
	"  \"empty\": {\"cgroups\": [\"e.slice\"]}}}\n";

static const struct probe probes[] = {
	/* union of overlapping grants */
	{ "union", "10.1.2.3", BH_PROTO_TCP, 443, 0, BH_REASON_GRANTED },
	{ "union", "10.1.2.3", BH_PROTO_TCP, 22, 0, BH_REASON_GRANTED },
	{ "union", "10.2.0.1", BH_PROTO_TCP, 22, 0, BH_REASON_NO_GRANT },
	{ "union", "10.2.0.1", BH_PROTO_TCP, 443, 0, BH_REASON_GRANTED },
	{ "union", "10.1.2.3", BH_PROTO_UDP, 443, 0, BH_REASON_NO_GRANT },
	{ "union", "11.0.0.1", BH_PROTO_TCP, 443, 0, BH_REASON_NO_GRANT },
	{ "union", "::ffff:10.1.2.3", BH_PROTO_TCP, 22, 0, BH_REASON_GRANTED },
	{ "union", "::ffff:10.2.0.1", BH_PROTO_TCP, 22, 0, BH_REASON_NO_GRANT },
	{ "union", "169.254.169.254", BH_PROTO_TCP, 80, 0, BH_REASON_NEVER },
	/* never beats a grant */
	{ "never", "169.254.169.254", BH_PROTO_TCP, 80, 0, BH_REASON_NEVER },
	{ "never", "::ffff:169.254.169.254", BH_PROTO_TCP, 80, 0, BH_REASON_NEVER },
	{ "never", "169.254.169.253", BH_PROTO_TCP, 80, 0, BH_REASON_GRANTED },
	{ "never", "169.254.1.1", BH_PROTO_ICMP, 0, 0, BH_REASON_GRANTED },
	{ "never", "fd00:ec2::254", BH_PROTO_UDP, 53, 0, BH_REASON_NEVER },
	{ "never", "fd00:ec2::253", BH_PROTO_UDP, 53, 0, BH_REASON_GRANTED },
	/* IPv6, icmp, proto any, port ranges, expiry */
	{ "misc", "2001:db8:5::1", BH_PROTO_UDP, 53, 0, BH_REASON_GRANTED },
	{ "misc", "2001:db8:5:ffff::1", BH_PROTO_UDP, 54, 0, BH_REASON_NO_GRANT },
	{ "misc", "2001:db8:5::1", BH_PROTO_TCP, 53, 0, BH_REASON_NO_GRANT },
	{ "misc", "2001:db8:6::1", BH_PROTO_UDP, 53, 0, BH_REASON_NO_GRANT },
	{ "misc", "192.0.2.7", BH_PROTO_ICMP, 0, 0, BH_REASON_GRANTED },
	{ "misc", "192.0.2.8", BH_PROTO_ICMP, 0, 0, BH_REASON_NO_GRANT },
	{ "misc", "192.0.2.7", BH_PROTO_TCP, 80, 0, BH_REASON_EXPIRED },
	{ "misc", "192.0.2.9", BH_PROTO_TCP, 80, 0, BH_REASON_EXPIRED },
	{ "misc", "192.0.2.7", BH_PROTO_TCP, 81, 0, BH_REASON_NO_GRANT },
	{ "misc", "198.51.100.9", BH_PROTO_TCP, 1, 0, BH_REASON_GRANTED },
	{ "misc", "198.51.100.9", BH_PROTO_UDP, 65535, 0, BH_REASON_GRANTED },
	{ "misc", "198.51.100.9", BH_PROTO_ICMP, 0, 0, BH_REASON_GRANTED },
	{ "misc", "198.51.100.9", BH_PROTO_OTHER, 0, 0, BH_REASON_GRANTED },
	{ "misc", "198.51.101.9", BH_PROTO_TCP, 1, 0, BH_REASON_NO_GRANT },
	{ "misc", "203.0.113.5", BH_PROTO_TCP, 7999, 0, BH_REASON_NO_GRANT },
	{ "misc", "203.0.113.5", BH_PROTO_TCP, 8000, 0, BH_REASON_GRANTED },
	{ "misc", "203.0.113.5", BH_PROTO_TCP, 8100, 0, BH_REASON_GRANTED },
	{ "misc", "203.0.113.5", BH_PROTO_TCP, 8101, 0, BH_REASON_NO_GRANT },
	{ "misc", "203.0.113.5", BH_PROTO_UDP, 8000, 0, BH_REASON_NO_GRANT },
	{ "misc", "203.0.113.5", BH_PROTO_ICMP, 0, 0, BH_REASON_NO_GRANT },
	{ "misc", "198.19.255.1", BH_PROTO_TCP, 443, 0, BH_REASON_GRANTED },
	{ "misc", "198.19.255.1", BH_PROTO_TCP, 443, 1, BH_REASON_EXPIRED },
	{ "misc", "198.20.0.1", BH_PROTO_TCP, 443, 0, BH_REASON_NO_GRANT },
	{ "misc", "100.100.1.1", BH_PROTO_UDP, 53, 0, BH_REASON_GRANTED },
	{ "misc", "100.100.1.1", BH_PROTO_TCP, 53, 0, BH_REASON_GRANTED },
	{ "misc", "100.100.1.1", BH_PROTO_ICMP, 0, 0, BH_REASON_NO_GRANT },
	{ "misc", "172.31.255.255", BH_PROTO_UDP, 9, 0, BH_REASON_GRANTED },
	{ "misc", "172.32.0.0", BH_PROTO_UDP, 9, 0, BH_REASON_NO_GRANT },
	{ "misc", "169.254.169.254", BH_PROTO_ICMP, 0, 0, BH_REASON_NEVER },
	{ "empty", "192.0.2.7", BH_PROTO_ICMP, 0, 0, BH_REASON_NO_GRANT },
	{ "nobody", "192.0.2.7", BH_PROTO_ICMP, 0, 0, BH_REASON_UNKNOWN_PARTNER },
};

static uint32_t partner_id(const struct bh_policy *p, const char *name)
{
	for (size_t i = 0; i < p->npartners; i++)
		if (!strcmp(p->partners[i].name, name))
			return p->partners[i].id;
	return 999;
}

static void test_decisions(void)
{
	const struct bh_clock clk = { .wall_ns = 1700000000LL * 1000000000LL, .boot_ns = 5000LL * 1000000000LL };
	const uint64_t now = (uint64_t)clk.boot_ns + 1, later = (uint64_t)clk.boot_ns + 7200ULL * 1000000000ULL;
	struct bh_errors e = { 0 };
	struct bh_compiled c = { 0 };
	struct bh_policy p;
	const struct bh_lpm_val *v;
	struct ref r;
	uint8_t a[16];
	int rc, found = 0;

	rc = parse(decide_policy, &p, &e);
	CHECK(rc == 0, "decide policy: rc %d '%s'", rc, first_err(&e));
	rc = rc ? rc : bh_compile(&p, &clk, &c, &e);
	CHECK(rc == 0, "decide compile: rc %d '%s'", rc, first_err(&e));
	if (rc)
		goto out;
	ref_init(&r, &c);
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		const struct probe *pr = &probes[i];
		uint32_t id = partner_id(&p, pr->partner);
		uint64_t t = pr->later ? later : now;
		int got, brute;

		addr_of(pr->addr, a);
		got = ref_decide(&r, id, a, pr->proto, pr->port, t, NULL);
		CHECK(got == pr->want, "%s %s proto %u port %u: %s, want %s", pr->partner, pr->addr,
		      pr->proto, pr->port, reason_str(got), reason_str(pr->want));
		if (id != 999) {
			brute = brute_decide(&p, &clk, id - 1, a, pr->proto, pr->port, t);
			CHECK(brute == got, "%s %s: flattened %s, grants say %s", pr->partner, pr->addr,
			      reason_str(got), reason_str(brute));
		}
	}

	/* key layout: {32 + 96 + 16, htonl(1), ::ffff:10.1.0.0} holds both union grants */
	addr_of("10.1.0.0", a);
	for (size_t i = 0; i < c.n; i++) {
		const struct bh_lpm_key *k = &c.keys[i];

		if (k->partner == htonl(1) && k->prefixlen == 32 + 96 + 16 && !memcmp(k->addr, a, 16)) {
			found = 1;
			CHECK(c.vals[i].nrules == 2 && !c.vals[i].flags && c.vals[i].mode == BH_MODE_ENFORCE,
			      "10.1.0.0/16 entry: %u rules flags %u", c.vals[i].nrules, c.vals[i].flags);
		}
	}
	CHECK(found, "key {144, htonl(1), ::ffff:10.1.0.0} present");
	/* default entries carry the mode and no rules */
	addr_of("2002::1", a);
	v = ref_lookup(&r, partner_id(&p, "misc"), a);
	CHECK(v && v->mode == BH_MODE_AUDIT && v->nrules == 0 && !v->flags, "misc default entry");
	v = ref_lookup(&r, partner_id(&p, "union"), a);
	CHECK(v && v->mode == BH_MODE_ENFORCE && v->nrules == 0, "union default entry");
	/* 4 partners x (default + 2 never) + 12 distinct grant prefixes */
	CHECK(c.n == 4 * 3 + 12 && c.nprefixes == 12, "entries %zu prefixes %zu", c.n, c.nprefixes);
	/* expiry arithmetic and grant ids */
	addr_of("198.18.0.0", a);
	v = ref_lookup(&r, partner_id(&p, "misc"), a);
	CHECK(v && v->nrules == 1 && v->rules[0].expires_ns == (uint64_t)clk.boot_ns + 3600ULL * 1000000000ULL,
	      "ttl 1h -> boot + 3600 s");
	addr_of("192.0.2.0", a);
	v = ref_lookup(&r, partner_id(&p, "misc"), a);
	CHECK(v && v->nrules == 1 && v->rules[0].expires_ns == 1, "past expiry -> 1");
	CHECK(v && v->rules[0].grant == 7, "grant ids in file order: %u", v ? v->rules[0].grant : 0);
	ref_free(&r);
	bh_compiled_free(&c);
	bh_policy_free(&p);

	/* A never prefix less specific than a grant still wins. */
	rc = parse("{\"version\": 1, \"never\": [\"10.0.0.0/8\"], \"partners\": {\"w\": {\"cgroups\": [\"w\"],"
		   " \"allow\": [{\"to\": \"10.1.2.3/32\", \"proto\": \"tcp\", \"ports\": [\"443\"]},"
		   " {\"to\": \"11.0.0.0/8\"}]}}}", &p, &e);
	rc = rc ? rc : bh_compile(&p, &clk, &c, &e);
	CHECK(rc == 0, "never-wide policy: %s", first_err(&e));
	if (rc)
		goto out;
	ref_init(&r, &c);
	addr_of("10.1.2.3", a);
	CHECK(ref_decide(&r, 1, a, BH_PROTO_TCP, 443, now, NULL) == BH_REASON_NEVER,
	      "never 10.0.0.0/8 beats grant 10.1.2.3/32");
	addr_of("11.1.2.3", a);
	CHECK(ref_decide(&r, 1, a, BH_PROTO_TCP, 443, now, NULL) == BH_REASON_GRANTED, "11/8 granted");
	ref_free(&r);
	bh_compiled_free(&c);
out:
	bh_policy_free(&p);
	bh_errors_free(&e);
}

/* Every grant of a random-ish small policy, checked point by point against brute force. */
static void test_flatten_brute(void)
{
	const struct bh_clock clk = { .wall_ns = 1700000000LL * 1000000000LL, .boot_ns = 1000000000LL };
	static const char text[] =
		"{\"version\": 1, \"never\": [\"10.9.0.0/16\", \"10.0.0.128/25\"], \"partners\": {\"a\": {\"cgroups\": [\"a\"], \"allow\": [\n"
		"{\"to\": \"10.0.0.0/8\", \"proto\": \"udp\"},\n"
		"{\"to\": \"10.0.0.0/16\", \"proto\": \"tcp\", \"ports\": [\"1-100\", \"443\"]},\n"
		"{\"to\": \"10.0.0.0/24\", \"proto\": \"tcp\", \"ports\": [\"50-200\"], \"ttl\": \"10s\"},\n"
		"{\"to\": \"10.0.0.0/24\", \"proto\": \"icmp\"},\n"
		"{\"to\": \"10.0.0.7\", \"proto\": \"any\", \"ports\": [\"7\"], \"expires\": \"2001-01-01T00:00:00Z\"},\n"
		"{\"to\": \"10.0.0.64/26\", \"proto\": \"tcp\", \"ports\": [\"443\"]},\n"
		"{\"to\": \"10.0.1.0/24\", \"proto\": \"any\"},\n"
		"{\"to\": \"10.0.1.0/24\", \"proto\": \"tcp\", \"ports\": [\"22\"]},\n"
		"{\"to\": \"0.0.0.0/0\", \"proto\": \"tcp\", \"ports\": [\"25\"]}\n"
		"]}}}\n";
	static const uint8_t protos[] = { BH_PROTO_TCP, BH_PROTO_UDP, BH_PROTO_ICMP, BH_PROTO_OTHER };
	static const uint16_t ports[] = { 0, 1, 7, 22, 25, 49, 50, 100, 101, 200, 201, 443, 65535 };
	static const uint64_t times[] = { 1000000001ULL, 20000000000ULL };
	struct bh_errors e = { 0 };
	struct bh_compiled c;
	struct bh_policy p;
	struct ref r;
	int rc, bad = 0, n = 0;

	rc = parse(text, &p, &e);
	CHECK(rc == 0, "brute policy: %s", first_err(&e));
	if (rc)
		goto out;
	rc = bh_compile(&p, &clk, &c, &e);
	CHECK(rc == 0, "brute compile: %s", first_err(&e));
	if (rc)
		goto out;
	ref_init(&r, &c);
	for (uint32_t host = 0; host < 512; host++) {
		uint8_t a[16];
		char s[32];

		snprintf(s, sizeof(s), "10.0.%u.%u", host >> 8, host & 255);
		addr_of(s, a);
		for (size_t i = 0; i < sizeof(protos); i++)
			for (size_t j = 0; j < sizeof(ports) / sizeof(ports[0]); j++)
				for (size_t t = 0; t < 2; t++) {
					int got = ref_decide(&r, 1, a, protos[i], ports[j], times[t], NULL);
					int want = brute_decide(&p, &clk, 0, a, protos[i], ports[j], times[t]);

					n++;
					if (got != want && bad++ < 5)
						fprintf(stderr, "  %s proto %u port %u t%zu: %s want %s\n", s,
							protos[i], ports[j], t, reason_str(got), reason_str(want));
				}
	}
	CHECK(!bad, "flattened != brute force in %d of %d probes", bad, n);
	{
		uint8_t a[16];

		addr_of("192.0.2.1", a);
		CHECK(ref_decide(&r, 1, a, BH_PROTO_TCP, 25, times[0], NULL) == BH_REASON_GRANTED,
		      "0.0.0.0/0 tcp 25 covers any IPv4");
		addr_of("2001:db8::1", a);
		CHECK(ref_decide(&r, 1, a, BH_PROTO_TCP, 25, times[0], NULL) == BH_REASON_NO_GRANT,
		      "0.0.0.0/0 does not cover IPv6");
	}
	ref_free(&r);
	bh_compiled_free(&c);
out:
	bh_policy_free(&p);
	bh_errors_free(&e);
}

/* ------------------------------------------------------- parser semantics */

static void test_parse_values(void)
{
	static const char text[] =
		"{\"version\": 1, \"partner_root\": \"/partners.slice/\",\n"
		" \"never\": [\"::/0\"],\n"
		" \"partners\": {\n"
		"  \"acme\": {\"allow\": [\n"
		"    {\"to\": \"::ffff:10.0.0.0/104\", \"ports\": [\"8000-8100\", 443, \"8050-8200\", \"444\"]},\n"
		"     {\"to\": \"10.0.0.1\", \"expires\": \"2026-12-01T00:00:00Z\"},\n"
		"    {\"to\": \"10.0.0.2\", \"expires\": \"2026-12-01T02:30:00.25+02:30\"},\n"
		"    {\"to\": \"10.0.0.3\", \"expires\": \"2016-12-31T23:59:60Z\", \"purpose\": \"leap\"},\n"
		"    {\"to\": \"10.0.0.4\", \"ttl\": \"2d\"},\n"
		"    {\"to\": \"2001:db8::\", \"expires\": \"1969-12-31T00:00:00-01:00\"}]},\n"
		"  \"b-2.x_y\": {\"cgroups\": [\"//b//\", \"b/c\"]}}}\n";
	struct bh_errors e = { 0 };
	struct bh_policy p;
	char buf[BH_PREFIX_STRLEN];
	int rc;

	rc = parse(text, &p, &e);
	CHECK(rc == 0, "values policy: rc %d '%s'", rc, first_err(&e));
	if (rc)
		goto out;
	CHECK(!strcmp(p.partner_root, "partners.slice"), "partner_root '%s'", p.partner_root);
	CHECK(p.npartners == 2 && p.partners[0].id == 1 && p.partners[1].id == 2, "partner ids");
	CHECK(p.partners[0].ncgroups == 1 && !strcmp(p.partners[0].cgroups[0], "partners.slice/acme"),
	      "implicit binding '%s'", p.partners[0].ncgroups ? p.partners[0].cgroups[0] : "");
	CHECK(p.partners[1].ncgroups == 2 && !strcmp(p.partners[1].cgroups[0], "b") &&
	      !strcmp(p.partners[1].cgroups[1], "b/c"), "cgroup paths normalised");
	CHECK(p.nnever == 1 && p.never[0].plen == 0, "never ::/0");
	CHECK(p.ngrants == 6, "grants %zu", p.ngrants);
	if (p.ngrants != 6)
		goto out;
	CHECK(!strcmp(bh_prefix_str(&p.grants[0].to, buf, sizeof(buf)), "10.0.0.0/8"),
	      "mapped /104 is 10.0.0.0/8: %s", buf);
	CHECK(!strcmp(p.grants[0].to_text, "::ffff:10.0.0.0/104"), "to_text kept");
	CHECK(p.grants[0].nports == 2 && p.grants[0].ports[0].lo == 443 && p.grants[0].ports[0].hi == 444 &&
	      p.grants[0].ports[1].lo == 8000 && p.grants[0].ports[1].hi == 8200, "port ranges merged");
	CHECK(p.grants[0].proto == BH_PROTO_ANY && p.grants[0].id == 1, "defaults");
	CHECK(p.grants[0].line == 5 && p.grants[0].col == 5 && p.grants[1].line == 6 && p.grants[1].col == 6,
	      "grant positions %d:%d %d:%d", p.grants[0].line, p.grants[0].col, p.grants[1].line, p.grants[1].col);
	CHECK(p.grants[1].expires_unix_ns == 1796083200LL * 1000000000LL, "expires Z: %lld",
	      (long long)p.grants[1].expires_unix_ns);
	CHECK(p.grants[2].expires_unix_ns == 1796083200LL * 1000000000LL + 250000000LL,
	      "expires offset + fraction: %lld", (long long)p.grants[2].expires_unix_ns);
	CHECK(p.grants[3].expires_unix_ns == 1483228800LL * 1000000000LL, "leap second: %lld",
	      (long long)p.grants[3].expires_unix_ns);
	CHECK(p.grants[3].purpose && !strcmp(p.grants[3].purpose, "leap"), "purpose");
	CHECK(p.grants[4].ttl_ns == 2LL * 86400 * 1000000000LL && !p.grants[4].expires_unix_ns, "ttl 2d");
	CHECK(p.grants[5].expires_unix_ns == 1, "pre-1970 expiry clamps to 1");
	{
		const struct bh_clock clk = { .wall_ns = 1700000000LL * 1000000000LL, .boot_ns = 42 };
		struct bh_compiled c;

		rc = bh_compile(&p, &clk, &c, &e);
		CHECK(rc == 0, "compile: %s", first_err(&e));
		if (!rc) {
			/* never ::/0 merges with the default entry; everything is never */
			CHECK(c.keys[0].prefixlen == 32 && c.keys[0].partner == htonl(1) &&
			      (c.vals[0].flags & BH_ENTRY_NEVER), "default entry flagged never");
			for (size_t i = 0; i < c.n; i++)
				CHECK(c.vals[i].flags & BH_ENTRY_NEVER, "entry %zu not never", i);
			CHECK(c.n == 1 + 6 + 1, "entries %zu", c.n);
			bh_compiled_free(&c);
		}
	}
out:
	bh_policy_free(&p);
	bh_errors_free(&e);
}

static void test_prefix_str(void)
{
	static const struct { const char *in; const char *out; } cases[] = {
		{ "10.0.0.0/8", "10.0.0.0/8" },
		{ "192.0.2.7", "192.0.2.7/32" },
		{ "0.0.0.0/0", "0.0.0.0/0" },
		{ "::ffff:192.0.2.7", "192.0.2.7/32" },
		{ "::ffff:0:0/96", "0.0.0.0/0" },
		{ "::/0", "::/0" },
		{ "2001:db8::/32", "2001:db8::/32" },
	};
	char json[128], buf[BH_PREFIX_STRLEN];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct bh_errors e = { 0 };
		struct bh_policy p;

		snprintf(json, sizeof(json), "{\"version\": 1, \"never\": [\"%s\"]}", cases[i].in);
		CHECK(parse(json, &p, &e) == 0 && p.nnever == 1 &&
		      !strcmp(bh_prefix_str(&p.never[0], buf, sizeof(buf)), cases[i].out),
		      "prefix %s -> %s, want %s", cases[i].in, p.nnever ? buf : first_err(&e), cases[i].out);
		bh_policy_free(&p);
		bh_errors_free(&e);
	}
}

/* -------------------------------------------------------- compile limits */

static void test_too_many_rules(void)
{
	static const char over[] =
		"{\"version\": 1, \"partners\": {\"acme\": {\"cgroups\": [\"a\"], \"allow\": [\n"
		"{\"to\": \"10.0.0.0/8\", \"proto\": \"tcp\", \"ports\": [\"1\", \"3\", \"5\", \"7\"]},\n"
		"{\"to\": \"10.0.0.0/16\", \"proto\": \"tcp\", \"ports\": [\"9\", \"11\", \"13\", \"15\"]},\n"
		"  {\"to\": \"10.0.0.0/24\", \"proto\": \"udp\", \"ports\": [\"1\"]},\n"
		"{\"to\": \"10.0.0.1\", \"proto\": \"udp\", \"ports\": [\"2\"]}\n"
		"]}}}\n";
	struct bh_clock clk = { 0 };
	struct bh_errors e = { 0 };
	struct bh_compiled c;
	struct bh_policy p;
	char *text;
	size_t len;
	FILE *f;
	int rc;

	rc = parse(over, &p, &e);
	CHECK(rc == 0, "over policy parses: %s", first_err(&e));
	rc = rc ? rc : bh_compile(&p, &clk, &c, &e);
	CHECK(rc == -E2BIG, "9 rules -> -E2BIG, got %d", rc);
	CHECK(e.n == 1 && starts_with(first_err(&e), "t.json:4:3: 10.0.0.0/24 of partner \"acme\"") &&
	      strstr(first_err(&e), "merge port lists"), "E2BIG message (once): n %zu '%s'", e.n, first_err(&e));
	CHECK(c.n == 0 && !c.keys, "nothing compiled on error");
	bh_policy_free(&p);
	bh_errors_free(&e);

	/* 20 identical or subsumed grants need one rule. */
	f = open_memstream(&text, &len);
	fputs("{\"version\": 1, \"partners\": {\"acme\": {\"cgroups\": [\"a\"], \"allow\": [\n"
	      "{\"to\": \"10.0.0.0/8\"}", f);
	for (int i = 0; i < 20; i++)
		fprintf(f, ",\n{\"to\": \"10.0.0.0/%d\", \"proto\": \"tcp\", \"ports\": [\"%d\"]}", 8 + i, 100 + i);
	fputs("]}}}\n", f);
	fclose(f);
	rc = parse(text, &p, &e);
	rc = rc ? rc : bh_compile(&p, &clk, &c, &e);
	CHECK(rc == 0, "subsumed grants compile: %s", first_err(&e));
	if (!rc) {
		for (size_t i = 0; i < c.n; i++)
			CHECK(c.vals[i].nrules == (c.keys[i].prefixlen == 32 ? 0 : 1), "entry %zu has %u rules",
			      i, c.vals[i].nrules);
		CHECK(c.n == 1 + 20 && c.nprefixes == 20, "merged: %zu entries %zu prefixes", c.n, c.nprefixes);
		bh_compiled_free(&c);
	}
	bh_policy_free(&p);
	bh_errors_free(&e);
	free(text);
}

/* -------------------------------------------------------------- positions */

/* Where needle first occurs in text (line, column in characters): the test's own count. */
static void pos_of(const char *text, const char *needle, int *line, int *col)
{
	const char *at = strstr(text, needle);

	*line = *col = 1;
	if (!at) {
		*line = *col = -1;
		return;
	}
	for (const char *s = text; s < at; s++) {
		if (*s == '\n') {
			(*line)++;
			*col = 1;
		} else if (((unsigned char)*s & 0xc0) != 0x80) {
			(*col)++;
		}
	}
}

/*
 * Grant positions come from one walk that steps over everything but the
 * path to the grants: strings full of brackets, quotes and backslashes,
 * multi-byte characters, CRLF, one long line.
 */
static void test_grant_positions(void)
{
	static const char spread[] =
		"{\"version\": 1, \"never\": [\"10.9.0.0/16\"], \"partner_root\": \"p.slice\",\r\n"
		" \"partners\": {\"acme\": {\"cgroups\": [\"x.slice\"], \"mode\": \"audit\", \"allow\": [\r\n"
		"  {\"to\": \"10.0.0.1\", \"purpose\": \"quote \\\" brace } bracket ] back\\\\\"},  {\"to\": \"10.0.0.2\"},\r\n"
		"\t{\"purpose\": \"\xc3\xa9\xe2\x82\xac {[ \xe2\x9c\x93\", \"to\": \"10.0.0.3\"}, {\"to\": \"10.0.0.4\", \"ports\": [443, \"8000-8100\"]}\r\n"
		"  ]},\r\n"
		" \"beta\": {\"mode\": \"enforce\", \"cgroups\": [\"y.slice\"], \"allow\": []}, \"gamma\": {\"allow\": [\n"
		"   {\"ttl\": \"1h\", \"to\": \"10.0.0.5\", \"purpose\": \"\\\\\\\"\\u00e9]}\"},\n"
		"{\"to\": \"10.0.0.6\"}]}}}\n";
	static const char *const spread_at[] = {
		"{\"to\": \"10.0.0.1\"", "{\"to\": \"10.0.0.2\"", "{\"purpose\": \"\xc3\xa9", "{\"to\": \"10.0.0.4\"",
		"{\"ttl\": \"1h\", \"to\": \"10.0.0.5\"", "{\"to\": \"10.0.0.6\"",
	};
	static const char flat[] =
		"{\"partners\":{\"a\":{\"allow\":[{\"to\":\"10.0.0.1\"},{\"to\":\"10.0.0.2\",\"purpose\":\"\xe2\x82\xac\xe2\x82\xac\"},"
		"{\"to\":\"10.0.0.3\"}],\"cgroups\":[\"a\"]},\"b\":{\"cgroups\":[\"b\"],\"allow\":[{\"to\":\"10.0.0.4\"}]}},"
		"\"version\":1}";
	static const char *const flat_at[] = {
		"{\"to\":\"10.0.0.1\"", "{\"to\":\"10.0.0.2\"", "{\"to\":\"10.0.0.3\"", "{\"to\":\"10.0.0.4\"",
	};
	static const struct {
		const char *label, *text;
		const char *const *at;
		size_t n;
	} cases[] = {
		{ "spread", spread, spread_at, sizeof(spread_at) / sizeof(spread_at[0]) },
		{ "one line", flat, flat_at, sizeof(flat_at) / sizeof(flat_at[0]) },
	};

	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct bh_errors e = { 0 };
		struct bh_policy p;
		int rc = parse(cases[k].text, &p, &e), line, col;

		CHECK(rc == 0 && p.ngrants == cases[k].n, "%s: rc %d grants %zu '%s'", cases[k].label, rc,
		      p.ngrants, first_err(&e));
		for (size_t i = 0; !rc && i < p.ngrants; i++) {
			pos_of(cases[k].text, cases[k].at[i], &line, &col);
			CHECK(p.grants[i].line == line && p.grants[i].col == col, "%s: grant %zu at %d:%d, want %d:%d",
			      cases[k].label, i, p.grants[i].line, p.grants[i].col, line, col);
		}
		bh_policy_free(&p);
		bh_errors_free(&e);
	}
}

/*
 * Errors anywhere, of every kind, found in one pass and reported in file
 * order with their positions (the binding conflict names a second one).
 */
static void test_error_positions(void)
{
	static const char text[] =
		"{\"version\": 1, \"bogus\": \"]}\\\"\",\n"
		" \"never\": [\"10.0.0.1/8\", \"nope\"],\n"
		" \"partners\": {\"acme\": {\"cgroups\": [\"x\"], \"mode\": \"block\", \"allow\": [\n"
		"   {\"to\": \"10.0.0.1\", \"purpose\": \"}]\\\"{\xc3\xa9\", \"ports\": [0, \"70000\", \"9-1\"]},\n"
		"   {\"to\": \"10.0.0.2\", \"zz\": 1}]},\n"
		" \"beta\": {\"cgroups\": [\"/x/\"]}}}\n";
	static const struct {
		const char *needle;	/* where the error is */
		const char *reason;
	} want[] = {
		{ "\"bogus\"", "unknown key \"bogus\"" },
		{ "\"10.0.0.1/8\"", "host bits set" },
		{ "\"nope\"", "bad address \"nope\"" },
		{ "\"block\"", "unknown mode \"block\"" },
		{ "0, \"70000\"", "port 0 out of range" },
		{ "\"70000\"", "port 70000 out of range" },
		{ "\"9-1\"", "reversed port range" },
		{ "\"zz\"", "unknown key \"zz\" in grant" },
		{ "\"/x/\"", "cgroup \"x\" bound to partners \"acme\" (at " },
	};
	struct bh_errors e = { 0 };
	struct bh_policy p;
	char prefix[64], first[32];
	int rc, line, col;

	rc = parse(text, &p, &e);
	CHECK(rc == -EINVAL && e.n == sizeof(want) / sizeof(want[0]) && !e.more, "errors: rc %d n %zu more %zu",
	      rc, e.n, e.more);
	for (size_t i = 0; i < e.n && i < sizeof(want) / sizeof(want[0]); i++) {
		pos_of(text, want[i].needle, &line, &col);
		snprintf(prefix, sizeof(prefix), "t.json:%d:%d: ", line, col);
		CHECK(starts_with(e.msg[i], prefix) && strstr(e.msg[i], want[i].reason), "error %zu: '%s', want '%s...%s'",
		      i, e.msg[i], prefix, want[i].reason);
	}
	pos_of(text, "\"x\"]", &line, &col);
	snprintf(first, sizeof(first), "(at %d:%d)", line, col);
	CHECK(e.n && strstr(e.msg[e.n - 1], first), "first binding: '%s', want '%s'", e.n ? e.msg[e.n - 1] : "", first);
	bh_errors_free(&e);
	bh_policy_free(&p);
}

/* A large policy with errors at its far end: positions still exact. */
static void test_errors_far(void)
{
	enum { N = 100000 };
	struct bh_errors e = { 0 };
	struct bh_policy p;
	char *text = NULL, prefix[64];
	size_t len = 0;
	int rc;
	FILE *f;

	f = open_memstream(&text, &len);
	fputs("{\"version\": 1, \"partners\": {\"acme\": {\"cgroups\": [\"a\"], \"allow\": [\n", f);
	for (int i = 0; i < N; i++)
		fprintf(f, "  {\"to\": \"10.%d.%d.0/24\", \"proto\": \"tcp\", \"ports\": [\"443\"]},\n",
			i >> 8 & 255, i & 255);
	fputs("  {\"to\": \"11.0.0.0/24\", \"ports\": [\"0\"]}, {\"to\": \"12.0.0.1/8\"}]},\n"
	      " \"beta\": {\"cgroups\": [\"a\"]}}}\n", f);
	fclose(f);
	rc = parse(text, &p, &e);
	CHECK(rc == -EINVAL && e.n == 3, "far errors: rc %d n %zu '%s'", rc, e.n, first_err(&e));
	for (size_t i = 0; i < e.n && i < 3; i++) {
		static const char *const at[] = { "\"0\"]}", "\"12.0.0.1/8\"", "\"a\"]}}}" };
		int line, col;

		pos_of(text, at[i], &line, &col);
		snprintf(prefix, sizeof(prefix), "t.json:%d:%d: ", line, col);
		CHECK(line > N && starts_with(e.msg[i], prefix), "far error %zu: '%s', want '%s'", i, e.msg[i], prefix);
	}
	CHECK(e.n == 3 && strstr(e.msg[2], "bound to partners \"acme\" (at 1:50)"), "far binding: '%s'",
	      e.n == 3 ? e.msg[2] : "");
	bh_errors_free(&e);
	bh_policy_free(&p);
	free(text);
}

/* ------------------------------------------------------- streamed compile */

struct collect {
	const struct bh_compiled *want;	/* what bh_compile made */
	size_t n, batches, fail_at;	/* fail_at: return -EIO on that batch (1-based; 0 never) */
	int same, big;
};

static int collect_sink(void *arg, const struct bh_lpm_key *keys, const struct bh_lpm_val *vals, size_t n)
{
	struct collect *c = arg;

	if (++c->batches == c->fail_at)
		return -EIO;
	c->big |= n > BH_COMPILE_BATCH || !n;
	if (c->n + n > c->want->n || memcmp(keys, c->want->keys + c->n, n * sizeof(*keys)) ||
	    memcmp(vals, c->want->vals + c->n, n * sizeof(*vals)))
		c->same = 0;
	c->n += n;
	return 0;
}

/* bh_compile_stream hands over exactly bh_compile's entries, a batch at a time. */
static void check_stream(const char *label, const struct bh_policy *p, const struct bh_clock *clk,
			 size_t min_entries)
{
	struct bh_errors e = { 0 };
	struct bh_compiled c, counts;
	struct collect col = { .want = &c, .same = 1 };
	int rc;

	rc = bh_compile(p, clk, &c, &e);
	CHECK(rc == 0, "%s: compile '%s'", label, first_err(&e));
	if (rc)
		goto out;
	rc = bh_compile_stream(p, clk, collect_sink, &col, &counts, &e);
	CHECK(rc == 0 && col.same && !col.big && col.n == c.n && counts.n == c.n &&
	      counts.nprefixes == c.nprefixes && !counts.keys && !counts.vals &&
	      col.batches == (c.n + BH_COMPILE_BATCH - 1) / BH_COMPILE_BATCH,
	      "%s: stream rc %d same %d entries %zu/%zu batches %zu", label, rc, col.same, col.n, c.n, col.batches);
	rc = bh_compile_stream(p, clk, NULL, NULL, &counts, &e);
	CHECK(rc == 0 && counts.n == c.n && counts.nprefixes == c.nprefixes, "%s: count only %zu/%zu", label,
	      counts.n, c.n);
	CHECK(c.n >= min_entries, "%s: only %zu entries", label, c.n);
	if (c.n > BH_COMPILE_BATCH) {	/* a sink's error ends it: no batch after */
		col = (struct collect){ .want = &c, .same = 1, .fail_at = 1 };
		rc = bh_compile_stream(p, clk, collect_sink, &col, &counts, &e);
		CHECK(rc == -EIO && col.batches == 1 && !e.n, "%s: sink error rc %d batches %zu", label, rc,
		      col.batches);
	}
	bh_compiled_free(&c);
out:
	bh_errors_free(&e);
}

static void test_compile_stream(void)
{
	const struct bh_clock clk = { .wall_ns = 1700000000LL * 1000000000LL, .boot_ns = 1000000000LL };
	static const char over[] =
		"{\"version\": 1, \"partners\": {\"acme\": {\"cgroups\": [\"a\"], \"allow\": [\n"
		"{\"to\": \"10.0.0.0/8\", \"proto\": \"tcp\", \"ports\": [\"1\", \"3\", \"5\", \"7\", \"9\"]},\n"
		"  {\"to\": \"10.0.0.0/24\", \"proto\": \"udp\", \"ports\": [\"1\", \"3\", \"5\", \"7\"]}]}}}\n";
	struct bh_errors e = { 0 };
	struct bh_compiled counts;
	struct bh_policy p;
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	int rc;

	rc = parse(decide_policy, &p, &e);
	CHECK(rc == 0, "decide policy: %s", first_err(&e));
	if (!rc)
		check_stream("decide", &p, &clk, 1);
	bh_policy_free(&p);
	bh_errors_free(&e);

	/* Several batches: 3 partners, nested and overlapping prefixes. */
	f = open_memstream(&text, &len);
	fputs("{\"version\": 1, \"never\": [\"10.1.2.0/24\"], \"partners\": {", f);
	for (int k = 0; k < 3; k++) {
		fprintf(f, "%s\"p%d\": {\"cgroups\": [\"p%d\"], \"allow\": [{\"to\": \"10.0.0.0/8\", \"proto\": \"udp\"}",
			k ? ", " : "", k, k);
		for (int i = 0; i < 3000; i++)
			fprintf(f, i % 3 ? ", {\"to\": \"10.%d.%d.0/24\", \"proto\": \"tcp\", \"ports\": [\"%d\"]}" :
				", {\"to\": \"10.%d.%d.0/16\", \"proto\": \"tcp\", \"ports\": [\"%d\"]}",
				i % 3 ? i / 256 : (i / 3 + k) % 256, i % 3 ? i % 256 : 0, 1 + (i + k) % 5);
		fputs("]}", f);
	}
	fputs("}}\n", f);
	fclose(f);
	rc = parse(text, &p, &e);
	CHECK(rc == 0, "batches policy: %s", first_err(&e));
	for (size_t i = 0; !rc && i < p.npartners; i++)
		p.partners[i].id = (uint32_t)(7 * i + 3);
	if (!rc)
		check_stream("batches", &p, &clk, 3 * BH_COMPILE_BATCH);
	bh_policy_free(&p);
	bh_errors_free(&e);
	free(text);

	/* A compile error: reported as bh_compile does, and nothing handed over. */
	rc = parse(over, &p, &e);
	CHECK(rc == 0, "over policy: %s", first_err(&e));
	if (!rc) {
		struct bh_compiled c = { 0 };
		struct collect col = { .want = &c, .same = 1 };

		rc = bh_compile_stream(&p, &clk, collect_sink, &col, &counts, &e);
		CHECK(rc == -E2BIG && col.batches == 0 && e.n == 1 &&
		      starts_with(first_err(&e), "t.json:3:3: 10.0.0.0/24 of partner \"acme\""),
		      "stream E2BIG: rc %d batches %zu '%s'", rc, col.batches, first_err(&e));
	}
	bh_policy_free(&p);
	bh_errors_free(&e);
}

/* A single grant (the control socket's `grant`): owned members, positions in its own text. */
static void test_grant_parse(void)
{
	static const char bad[] = "{\"to\": \"10.1.0.0/16\",\n \"ports\": [\"443\", 0]}";
	struct bh_errors e = { 0 };
	struct bh_policy p;
	struct bh_grant g;
	char want[64];
	int rc, line, col;

	rc = parse(decide_policy, &p, &e);
	CHECK(rc == 0, "policy: %s", first_err(&e));
	if (rc)
		goto out;
	rc = bh_grant_parse(&p, 1, "grant", "{\"to\": \"10.1.0.0/16\", \"proto\": \"tcp\", \"ports\": [\"443\", 80], "
			    "\"purpose\": \"jit\", \"ttl\": \"1h\"}", &g, &e);
	CHECK(rc == 0 && g.id == 0 && g.partner_idx == 1 && g.nports == 2 && g.ports[0].lo == 80 &&
	      g.purpose && !strcmp(g.purpose, "jit") && !strcmp(g.to_text, "10.1.0.0/16") &&
	      g.ttl_ns == 3600LL * 1000000000LL, "grant: rc %d '%s'", rc, first_err(&e));
	if (!rc)
		bh_grant_free(&g);
	rc = bh_grant_parse(&p, 1, "grant", bad, &g, &e);
	pos_of(bad, "0]", &line, &col);
	snprintf(want, sizeof(want), "grant:%d:%d: port 0 out of range", line, col);
	CHECK(rc == -EINVAL && e.n == 1 && starts_with(first_err(&e), want), "bad grant: rc %d '%s', want '%s'",
	      rc, first_err(&e), want);
out:
	bh_policy_free(&p);
	bh_errors_free(&e);
}

/* ------------------------------------------------- jansson's allocator */

/*
 * The parse takes over jansson's allocator for its own thread while it
 * runs: values made before, during (by nobody else) and after a parse are
 * still made and freed by the allocator they came from (the sanitizer
 * build checks the frees).
 */
static void test_json_alloc(void)
{
	json_t *before = json_pack("{s:s, s:[i,i]}", "a", "b", "c", 1, 2), *after;
	struct bh_errors e = { 0 };
	struct bh_policy p;
	char *s;
	int rc;

	rc = parse(decide_policy, &p, &e);
	CHECK(rc == 0, "policy: %s", first_err(&e));
	after = json_pack("{s:O, s:s}", "before", before, "d", "e");
	CHECK(json_object_set_new(before, "x", json_string("y")) == 0, "grow a pre-parse object");
	s = json_dumps(after, JSON_COMPACT | JSON_SORT_KEYS);
	CHECK(s && !strcmp(s, "{\"before\":{\"a\":\"b\",\"c\":[1,2],\"x\":\"y\"},\"d\":\"e\"}"), "json after: %s", s);
	free(s);
	json_decref(before);
	json_decref(after);
	bh_policy_free(&p);
	bh_errors_free(&e);
	rc = parse("{\"version\": 1, \"partners\": {\"a\": {\"cgroups\": [\"a\"], \"allow\": [{\"to\": 1}]}}}", &p, &e);
	CHECK(rc == -EINVAL && e.n == 1, "second parse: rc %d '%s'", rc, first_err(&e));
	bh_policy_free(&p);
	bh_errors_free(&e);
}

/* --------------------------------------------------------------- summary */

static void test_summary(void)
{
	struct bh_clock clk = { 0 };
	struct bh_errors e = { 0 };
	struct bh_compiled c = { 0 };
	struct bh_policy p;
	json_error_t je;
	json_t *j = NULL;
	char *out = NULL;
	size_t len;
	FILE *f;
	int rc;

	rc = parse(decide_policy, &p, &e);
	rc = rc ? rc : bh_compile(&p, &clk, &c, &e);
	CHECK(rc == 0, "summary policy: %s", first_err(&e));
	if (rc)
		goto out;
	f = open_memstream(&out, &len);
	rc = bh_policy_summary(&p, &c, f, 0);
	fclose(f);
	CHECK(rc == 0 && strstr(out, "4 partners, 12 grants, 2 never prefixes") &&
	      strstr(out, "partner misc (id 3): audit, 8 grants, cgroups: m.slice") &&
	      strstr(out, "never: 169.254.169.254/32 fd00:ec2::254/128") &&
	      strstr(out, "trie entries"), "text summary:\n%s", out);
	free(out);
	f = open_memstream(&out, &len);
	rc = bh_policy_summary(&p, &c, f, 1);
	fclose(f);
	j = json_loads(out, 0, &je);
	CHECK(rc == 0 && j && json_integer_value(json_object_get(j, "grants")) == 12 &&
	      json_array_size(json_object_get(j, "partners")) == 4 &&
	      json_integer_value(json_object_get(j, "trie_entries")) == (json_int_t)c.n &&
	      !strcmp(json_string_value(json_object_get(json_array_get(json_object_get(j, "partners"), 2), "mode")),
		      "audit"), "json summary: %s", out);
	json_decref(j);
	free(out);
	bh_compiled_free(&c);
out:
	bh_policy_free(&p);
	bh_errors_free(&e);
}

/* ------------------------------------------------------------------ lint */

/* Warnings of `check`: missing cgroups (a temporary directory stands in for
 * the cgroup2 mount), a past `expires`; at their positions, in file order,
 * and none for a policy without those. */
static int has_warning(const struct bh_errors *w, const char *prefix, const char *needle)
{
	for (size_t i = 0; i < w->n; i++)
		if (starts_with(w->msg[i], prefix) && strstr(w->msg[i], needle))
			return 1;
	return 0;
}

/* org and contact: parsed, summarised; `check` warns about a partner
 * without org and about one org claimed with different contacts. */
static void test_org(void)
{
	const char *text =
		"{\"version\": 1, \"partner_root\": \"p.slice\", \"partners\": {\n"
		"\"a\": {\"org\": \"Acme Corp\", \"contact\": \"sec@acme.example\"},\n"
		"\"b\": {\"org\": \"Acme Corp\", \"contact\": \"ops@acme.example\"},\n"
		"\"c\": {\"contact\": \"x@c.example\"},\n"
		"\"d\": {\"org\": \"Acme Corp\", \"contact\": \"sec@acme.example\"}}}\n";
	struct bh_errors e = { 0 }, w = { 0 };
	struct bh_policy p;
	int rc, n;

	rc = parse(text, &p, &e);
	CHECK(rc == 0, "org policy: %s", first_err(&e));
	if (rc)
		goto out;
	CHECK(p.partners[0].org && !strcmp(p.partners[0].org, "Acme Corp") &&
	      !strcmp(p.partners[0].contact, "sec@acme.example") && !p.partners[2].org,
	      "org and contact parsed");
	n = bh_policy_lint(&p, text, strlen(text), NULL, 0, &w);
	CHECK(n == 3, "org lint: %d warnings, want 3", n);
	CHECK(has_warning(&w, "t.json:3:14: warning: partners a and b claim org \"Acme Corp\" with "
			  "different contacts", "\"sec@acme.example\", \"ops@acme.example\""),
	      "org claimed with different contacts");
	CHECK(has_warning(&w, "t.json:4:1: warning: partner c has no \"org\"", ""), "no org");
	CHECK(has_warning(&w, "t.json:5:14: warning: partners b and d claim org", ""),
	      "org claimed with different contacts (d)");
	bh_errors_free(&w);
	bh_policy_free(&p);
	rc = parse("{\"version\": 1, \"partner_root\": \"p\", \"partners\": {\"a\": {\"org\": \"\"}}}",
		   &p, &e);
	CHECK(rc && strstr(first_err(&e), "\"org\" must be a string of 1 to 127 bytes") &&
	      starts_with(first_err(&e), "t.json:1:"), "empty org refused: %s", first_err(&e));
	bh_errors_free(&e);
	rc = parse("{\"version\": 1, \"partner_root\": \"p\", \"partners\": {\"a\": {\"contact\": 7}}}",
		   &p, &e);
	CHECK(rc && strstr(first_err(&e), "\"contact\" must be a string"), "contact type: %s",
	      first_err(&e));
out:
	bh_errors_free(&e);
}

static void test_lint(void)
{
	char cg2[] = "/tmp/bh-lint.XXXXXX", dir[128], text[2048];
	const int64_t now = 1767225600LL * 1000000000LL;	/* 2026-01-01T00:00:00Z */
	struct bh_errors e = { 0 }, w = { 0 };
	struct bh_policy p;
	int rc, n;

	if (!mkdtemp(cg2)) {
		CHECK(0, "mkdtemp: %s", strerror(errno));
		return;
	}
	snprintf(dir, sizeof(dir), "%s/here.slice", cg2);
	mkdir(dir, 0700);
	snprintf(dir, sizeof(dir), "%s/p.slice", cg2);
	mkdir(dir, 0700);
	snprintf(text, sizeof(text),
		 "{\"version\": 1, \"partner_root\": \"p.slice\", \"partners\": {\n"
		 "\"acme\": {\"cgroups\": [\"here.slice\",\n"
		 "  \"gone.slice\", \"p.slice/later\", \"%s/y\"],\n"
		 " \"allow\": [{\"to\": \"10.0.0.1\"},\n"
		 "  {\"to\": \"10.0.0.2\", \"expires\": \"2025-12-31T23:59:59Z\"},\n"
		 "  {\"to\": \"10.0.0.3\", \"expires\": \"2026-01-01T00:00:01Z\"}]},\n"
		 "\"beta\": {}}}\n", cg2 + 1);
	rc = parse(text, &p, &e);
	CHECK(rc == 0, "lint policy: %s", first_err(&e));
	if (rc)
		goto out;
	n = bh_policy_lint(&p, text, strlen(text), cg2, now, &w);
	CHECK(n == 12 && w.n == 12, "lint: %d warnings (%zu kept), want 12", n, w.n);
	/* the grant linter (tests/unit/test_tiers.c has each rule) */
	/* named by their derived ids (acme/h + 12 hex digits) */
	CHECK(has_warning(&w, "t.json:4:12: warning: acme/h", " (10.0.0.1, at 4:12) allows every port "
			  "of every protocol"), "all ports, grant 1");
	CHECK(has_warning(&w, "t.json:6:3: warning: acme/h", " (10.0.0.3, at 6:3) allows every port"),
	      "all ports, grant 3");
	CHECK(has_warning(&w, "t.json:3:3: warning: cgroup \"gone.slice\"", "`bulkhead run` refuses it"),
	      "missing cgroup");
	CHECK(has_warning(&w, "t.json:3:17: warning: cgroup \"p.slice/later\"",
			  "fail-closed below partner_root"), "later");
	CHECK(has_warning(&w, "t.json:3:34: warning: ", "write \"y\""), "mount in the path");
	CHECK(has_warning(&w, "t.json:5:33: warning: grant acme/h", " expired at "
			  "2025-12-31T23:59:59.000000Z"), "past expires");
	CHECK(has_warning(&w, "t.json:7:1: warning: cgroup \"p.slice/beta\" of partner beta", ""),
	      "implicit binding");
	/* binding outside partner_root: on the cgroup itself, or at its parent */
	CHECK(has_warning(&w, "t.json:2:22: warning: cgroup \"here.slice\"",
			  "directly below the cgroup2 root"), "top-level binding");
	CHECK(has_warning(&w, "t.json:3:3: warning: cgroup \"gone.slice\"",
			  "directly below the cgroup2 root"), "top-level binding, missing");
	CHECK(has_warning(&w, "t.json:3:34: warning: ", "attaches at its parent"), "anchor");
	CHECK(has_warning(&w, "t.json:2:1: warning: partner acme has no \"org\"", ""), "no org");
	CHECK(has_warning(&w, "t.json:7:1: warning: partner beta has no \"org\"", ""), "no org (beta)");
	for (size_t i = 0; i < w.n; i++)
		CHECK(well_formed(w.msg[i], "t.json"), "malformed warning '%s'", w.msg[i]);
	bh_errors_free(&w);
	bh_policy_free(&p);

	/* partner_root missing; nothing at all to say without a mount */
	snprintf(text, sizeof(text), "{\"version\": 1, \"partner_root\":\n  \"q.slice\", "
		 "\"partners\": {\"a\": {\"org\": \"A\"}}}\n");
	rc = parse(text, &p, &e);
	n = rc ? -1 : bh_policy_lint(&p, text, strlen(text), cg2, now, &w);
	CHECK(n == 2 && w.n == 2 && starts_with(w.msg[0], "t.json:2:3: warning: partner_root \"q.slice\""),
	      "partner_root: %d %s", n, w.n ? w.msg[0] : "");
	bh_errors_free(&w);
	n = rc ? -1 : bh_policy_lint(&p, "", 0, NULL, now, &w);
	CHECK(n == 0 && w.n == 0, "no mount, nothing past: %d", n);
	bh_errors_free(&w);
	bh_policy_free(&p);
out:
	bh_errors_free(&e);
	snprintf(dir, sizeof(dir), "%s/here.slice", cg2);
	rmdir(dir);
	snprintf(dir, sizeof(dir), "%s/p.slice", cg2);
	rmdir(dir);
	rmdir(cg2);
}

/* ----------------------------------------------------- bad files on disk */

static void test_bad_files(const char *dir)
{
	char path[512], line[512], file[128], where[32], prefix[700];
	int nfiles = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/expect.txt", dir);
	f = fopen(path, "r");
	CHECK(f, "cannot open %s (run from the repository root or pass BAD_DIR)", path);
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		struct bh_errors e = { 0 };
		struct bh_policy p;
		int used = 0, rc;
		char *reason;

		line[strcspn(line, "\n")] = '\0';
		if (!line[0])
			continue;
		if (sscanf(line, "%127s %31s %n", file, where, &used) != 2 || !used) {
			CHECK(0, "bad expect.txt line '%s'", line);
			continue;
		}
		reason = line + used;
		snprintf(path, sizeof(path), "%s/%s", dir, file);
		snprintf(prefix, sizeof(prefix), "%s:%s: ", path, where);
		rc = bh_policy_load(path, &p, &e);
		CHECK(rc == -EINVAL && !strncmp(first_err(&e), prefix, strlen(prefix)) &&
		      strstr(first_err(&e), reason), "%s: rc %d '%s', want '%s...%s'", file, rc,
		      first_err(&e), prefix, reason);
		bh_policy_free(&p);
		bh_errors_free(&e);
		nfiles++;
	}
	fclose(f);
	CHECK(nfiles >= 16, "only %d bad files", nfiles);
}

/* ----------------------------------------------------------- 1M grants */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void random_grant(FILE *f)
{
	static const char *protos[] = { "tcp", "udp", "icmp", "any" };
	const char *proto = protos[rnd() % 4];
	uint8_t a[16] = { 0 };
	struct bh_prefix pf;
	char buf[BH_PREFIX_STRLEN];
	uint64_t x = rnd();
	int r = (int)(rnd() % 100);

	if (x & 1) {
		uint32_t v4 = (uint32_t)(x >> 32);
		int plen = r < 70 ? 32 : r < 90 ? 24 + (int)(rnd() % 8) : r < 98 ? 20 + (int)(rnd() % 4) :
			   16 + (int)(rnd() % 4);

		if ((v4 >> 16) == 0xa9fe)	/* keep clear of the never list */
			v4 ^= 0x01000000;
		a[10] = a[11] = 0xff;
		a[12] = (uint8_t)(v4 >> 24);
		a[13] = (uint8_t)(v4 >> 16);
		a[14] = (uint8_t)(v4 >> 8);
		a[15] = (uint8_t)v4;
		pf.plen = (uint8_t)(96 + plen);
	} else {
		uint64_t lo = rnd();

		a[0] = 0x20, a[1] = 0x01, a[2] = 0x0d, a[3] = 0xb8;
		for (int i = 0; i < 4; i++)
			a[4 + i] = (uint8_t)(x >> (8 * i + 8));
		for (int i = 0; i < 8; i++)
			a[8 + i] = (uint8_t)(lo >> (8 * i));
		pf.plen = (uint8_t)(r < 60 ? 128 : r < 85 ? 64 : 48 + (int)(rnd() % 16));
	}
	memcpy(pf.addr, a, 16);
	mask_addr(pf.addr, pf.plen);
	fprintf(f, "{\"to\": \"%s\", \"proto\": \"%s\"", bh_prefix_str(&pf, buf, sizeof(buf)), proto);
	if (strcmp(proto, "icmp") && rnd() % 2) {
		uint16_t p1 = (uint16_t)(1 + rnd() % 65000);

		if (rnd() % 2)
			fprintf(f, ", \"ports\": [\"%u\"]", p1);
		else
			fprintf(f, ", \"ports\": [\"%u-%u\", %u]", p1, p1 + 100, 1 + (unsigned)(rnd() % 1000));
	}
	if (r == 42)
		fputs(", \"ttl\": \"1h\"", f);
	else if (r == 43)
		fputs(", \"expires\": \"2001-01-01T00:00:00Z\"", f);
	fputc('}', f);
}

static void test_million(void)
{
	enum { NPARTNERS = 8, PER = 125000 };
	const struct bh_clock clk = { .wall_ns = 1700000000LL * 1000000000LL, .boot_ns = 1000LL * 1000000000LL };
	struct bh_errors e = { 0 };
	struct bh_compiled c = { 0 };
	struct bh_policy p = { 0 };
	struct ref r;
	char *text = NULL;
	size_t len = 0;
	double t0, t1, t2;
	int rc, bad = 0;
	FILE *f;

	f = open_memstream(&text, &len);
	fputs("{\"version\": 1, \"never\": [\"169.254.169.254/32\", \"fd00:ec2::254/128\", \"2001:db8:dead::/48\"],\n"
	      " \"partners\": {\n", f);
	for (int i = 0; i < NPARTNERS; i++) {
		fprintf(f, "%s  \"p%d\": {\"cgroups\": [\"x.slice/p%d\"], \"allow\": [\n", i ? ",\n" : "", i, i);
		for (int j = 0; j < PER; j++) {
			random_grant(f);
			fputs(j + 1 < PER ? ",\n" : "]}", f);
		}
	}
	fputs("}}\n", f);
	fclose(f);

	t0 = now_s();
	rc = bh_policy_parse("million.json", text, len, &p, &e);
	t1 = now_s();
	CHECK(rc == 0 && p.ngrants == NPARTNERS * PER, "1M parse: rc %d grants %zu '%s'", rc, p.ngrants,
	      first_err(&e));
	if (rc)
		goto out;
	rc = bh_compile(&p, &clk, &c, &e);
	t2 = now_s();
	CHECK(rc == 0, "1M compile: rc %d '%s'", rc, first_err(&e));
	if (rc)
		goto out;
	printf("1M grants (%.1f MB JSON): parse+validate %.3f s, compile %.3f s -> %zu entries, %zu prefixes\n",
	       (double)len / 1e6, t1 - t0, t2 - t1, c.n, c.nprefixes);
	{
		struct collect col = { .want = &c, .same = 1 };
		struct bh_compiled counts;

		t0 = now_s();
		rc = bh_compile_stream(&p, &clk, collect_sink, &col, &counts, &e);
		printf("1M grants: streamed compile %.3f s in %zu batches\n", now_s() - t0, col.batches);
		CHECK(rc == 0 && col.same && !col.big && col.n == c.n && counts.nprefixes == c.nprefixes,
		      "1M stream: rc %d same %d entries %zu/%zu", rc, col.same, col.n, c.n);
	}
	CHECK(p.grants[PER].line == 5 + PER && p.grants[PER].col == 1, "grant %d at %d:%d", PER,
	      p.grants[PER].line, p.grants[PER].col);

	/* Probes in and around random grants, flattened vs brute force. */
	ref_init(&r, &c);
	for (int i = 0; i < 300; i++) {
		static const uint8_t protos[] = { BH_PROTO_TCP, BH_PROTO_UDP, BH_PROTO_ICMP, BH_PROTO_ANY };
		const struct bh_grant *g = &p.grants[rnd() % p.ngrants];
		uint8_t a[16], proto = protos[rnd() % 4];
		uint16_t port = g->nports && rnd() % 2 ? g->ports[0].lo : (uint16_t)(1 + rnd() % 65535);
		uint64_t t = rnd() % 2 ? (uint64_t)clk.boot_ns + 1 : (uint64_t)clk.boot_ns + 7200ULL * 1000000000ULL;
		int got, want;

		if (proto == BH_PROTO_ANY)
			proto = g->proto == BH_PROTO_ANY ? BH_PROTO_TCP : g->proto;
		memcpy(a, g->to.addr, 16);
		for (int k = g->to.plen / 8; k < 16; k++)
			a[k] = (uint8_t)(a[k] | (rnd() & (k == g->to.plen / 8 ? (0xffu >> (g->to.plen % 8)) : 0xffu)));
		got = ref_decide(&r, p.partners[g->partner_idx].id, a, proto, port, t, NULL);
		want = brute_decide(&p, &clk, g->partner_idx, a, proto, port, t);
		if (got != want && bad++ < 5)
			fprintf(stderr, "  1M probe %d: %s want %s\n", i, reason_str(got), reason_str(want));
	}
	CHECK(!bad, "1M: %d probes disagree with brute force", bad);
	ref_free(&r);
out:
	bh_compiled_free(&c);
	bh_policy_free(&p);
	bh_errors_free(&e);
	free(text);
}

/* Grant ids (issue 12): derived from content, not position; the same
 * content twice gets .2; an explicit id is kept. */
static void test_grant_ids(void)
{
	static const char *const a = G("{\"to\": \"10.0.0.1\", \"proto\": \"tcp\", \"ports\": [\"443\"]},\n"
				       "{\"to\": \"10.0.0.2\", \"proto\": \"udp\", \"ports\": \"53\"},\n"
				       "{\"id\": \"web\", \"to\": \"10.0.0.3\"},\n"
				       "{\"to\": \"10.0.0.1\", \"proto\": \"tcp\", \"ports\": [443], \"purpose\": \"x\"}\n");
	static const char *const b = G("{\"id\": \"web\", \"to\": \"10.0.0.3\"},\n"
				       "{\"to\": \"10.0.0.2\", \"proto\": \"udp\", \"ports\": [\"53\"]},\n"
				       "{\"to\": \"10.0.0.1\", \"proto\": \"tcp\", \"ports\": \"443\"}\n");
	struct bh_errors e = { 0 };
	struct bh_policy pa, pb;

	CHECK(parse(a, &pa, &e) == 0 && parse(b, &pb, &e) == 0, "id policies parse: %s", first_err(&e));
	if (pa.ngrants != 4 || pb.ngrants != 3)
		return;
	CHECK(!strcmp(pa.grants[2].gid, "web") && pa.grants[2].gid_explicit, "explicit id: %s",
	      pa.grants[2].gid);
	CHECK(pa.grants[0].gid[0] == 'h' && strlen(pa.grants[0].gid) == 13, "derived form: %s",
	      pa.grants[0].gid);
	CHECK(!strcmp(pa.grants[0].gid, pb.grants[2].gid), "reordered, same id: %s %s",
	      pa.grants[0].gid, pb.grants[2].gid);
	CHECK(!strcmp(pa.grants[1].gid, pb.grants[1].gid), "\"53\" and [\"53\"]: one id: %s %s",
	      pa.grants[1].gid, pb.grants[1].gid);
	CHECK(!strncmp(pa.grants[3].gid, pa.grants[0].gid, 13) && !strcmp(pa.grants[3].gid + 13, ".2"),
	      "same content twice: %s and %s", pa.grants[0].gid, pa.grants[3].gid);
	bh_policy_free(&pa);
	bh_policy_free(&pb);
}

/* One mistake, one error: a misspelt partner_root is not also reported as
 * the partner's missing binding. */
static void test_one_mistake(void)
{
	struct bh_errors e = { 0 };
	struct bh_policy p;
	int rc;

	rc = parse("{\"version\": 1,\n  \"partner_rot\": \"p.slice\",\n"
		   "  \"partners\": {\"acme\": {\"cgroups\": []}, \"beta\": {}}}\n", &p, &e);
	CHECK(rc == -EINVAL && e.n == 1 && starts_with(first_err(&e), "t.json:2:3: unknown key \"partner_rot\""),
	      "one error for partner_rot: %zu, %s", e.n, first_err(&e));
	bh_errors_free(&e);
}

int main(int argc, char **argv)
{
	const char *bad_dir = argc > 1 ? argv[1] : "tests/unit/bad";

	test_bad_inputs();
	test_error_collection();
	test_parse_values();
	test_prefix_str();
	test_decisions();
	test_flatten_brute();
	test_too_many_rules();
	test_grant_positions();
	test_error_positions();
	test_errors_far();
	test_compile_stream();
	test_grant_parse();
	test_grant_ids();
	test_one_mistake();
	test_json_alloc();
	test_summary();
	test_lint();
	test_org();
	test_bad_files(bad_dir);
	if (!getenv("BH_TEST_SKIP_1M"))
		test_million();
	return T_SUMMARY();
}
