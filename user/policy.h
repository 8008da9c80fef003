/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Policy schema v1 (docs/policy.md): parse and validate with jansson, then
 * compile into the flattened trie entries the kernel looks up.
 */
#ifndef BULKHEAD_POLICY_H
#define BULKHEAD_POLICY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <bulkhead/bulkhead.h>

/*
 * Semantics the compiler relies on and the kernel mirrors:
 * - IPv4 lives in the IPv6 space as ::ffff:a.b.c.d, so an IPv6 prefix that
 *   covers ::ffff:0:0/96 (::/0, ::/64, ...) covers every IPv4 address too;
 *   ::ffff:a.b.c.d/n with n >= 96 is the IPv4 prefix a.b.c.d/(n-96).
 * - A rule matches a packet when rule.proto is BH_PROTO_ANY or equals the
 *   packet's proto, and port_lo <= port <= port_hi, where port is the
 *   destination port for tcp/udp and 0 for every other protocol. Grants
 *   without `ports` compile to 0-65535, so they match portless traffic too;
 *   a grant with `ports` (never 0) matches only tcp/udp to those ports, also
 *   when its proto is `any`.
 * - A partner with no `cgroups` (or an empty list) is allowed only when
 *   partner_root is set: it is then bound to "<partner_root>/<name>", and
 *   bh_policy_load puts that path in its cgroups.
 */

struct bh_port_range {
	uint16_t lo, hi;		/* inclusive, host order */
};

struct bh_prefix {
	uint8_t addr[16];		/* IPv6; IPv4 as ::ffff:a.b.c.d */
	uint8_t plen;			/* 0..128 in that 128-bit space (IPv4 /n = 96+n) */
};

struct bh_grant {
	uint32_t id;			/* 1-based, unique within a policy */
	uint32_t partner_idx;		/* index into bh_policy.partners */
	struct bh_prefix to;
	uint8_t proto;			/* enum bh_proto */
	size_t nports;			/* 0 = all ports */
	struct bh_port_range *ports;
	int64_t expires_unix_ns;	/* absolute wall-clock expiry; 0 = none */
	int64_t ttl_ns;			/* relative to when the grant was first applied
					   (the daemon turns it into expires_boot_ns); 0 = none */
	int64_t expires_boot_ns;	/* absolute CLOCK_BOOTTIME expiry (JIT grants and
					   started ttls); 0 = none; wins over the two above */
	char *purpose;			/* may be NULL */
	char *to_text;			/* the `to` string as written */
	int line, col;			/* where the grant object starts */
};

struct bh_partner {
	char *name;
	uint32_t id;			/* kernel partner id; set by the caller before compile
					   (bh_policy_load assigns 1..n in file order) */
	uint8_t mode;			/* enum bh_mode */
	size_t ncgroups;
	char **cgroups;			/* paths relative to the cgroup2 mount, no leading '/' */
	char *org;			/* the organisation the identity belongs to; NULL: none */
	char *contact;			/* who to call about it; NULL: none */
};

/* org and contact: 1..BH_ORG_MAX - 1 bytes of UTF-8 without control characters. */
#define BH_ORG_MAX BH_ORG_LEN

struct bh_policy {
	char *file;			/* path as given, for messages */
	void *store;			/* when set, holds every grant's ports, purpose and
					   to_text (bh_policy_parse puts them there): free
					   those only with bh_policy_free */
	char *partner_root;		/* NULL when absent; relative, no leading '/' */
	size_t nnever;
	struct bh_prefix *never;
	size_t npartners;
	struct bh_partner *partners;
	size_t ngrants;
	struct bh_grant *grants;
};

/* At most this many messages are kept; later ones are only counted. */
#define BH_MAX_ERRORS 20

/*
 * Error messages, each "file:line:column: reason" (a file that cannot be
 * read at all: "file: reason"). more counts the messages dropped beyond
 * BH_MAX_ERRORS; print "(and N more errors)" when it is non-zero.
 */
struct bh_errors {
	size_t n;
	char **msg;
	size_t more;
};

void bh_errors_add(struct bh_errors *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void bh_errors_free(struct bh_errors *e);

/*
 * Parse and validate the policy at path. Returns 0, or -EINVAL with every
 * problem in errs (and *p left empty), or another -errno when the file
 * cannot be read (also described in errs).
 */
int bh_policy_load(const char *path, struct bh_policy *p, struct bh_errors *errs);
/* Same, from a buffer; name is used in messages. */
int bh_policy_parse(const char *name, const char *text, size_t len,
		    struct bh_policy *p, struct bh_errors *errs);
void bh_policy_free(struct bh_policy *p);

/*
 * Parse one grant object (the keys of a policy grant: to, proto, ports,
 * purpose, expires, ttl) from text for partner pidx of p, validated exactly as
 * in a policy file, with messages prefixed by name. On success *out holds the
 * grant (id 0; free with bh_grant_free). 0 or -EINVAL/-ENOMEM with errs.
 */
int bh_grant_parse(const struct bh_policy *p, uint32_t pidx, const char *name,
		   const char *text, struct bh_grant *out, struct bh_errors *errs);
void bh_grant_free(struct bh_grant *g);

/* Compiled trie contents, ready for BPF_MAP_UPDATE_BATCH or per-entry updates. */
struct bh_compiled {
	size_t n;
	struct bh_lpm_key *keys;
	struct bh_lpm_val *vals;
	size_t nprefixes;		/* distinct grant prefixes (all partners) */
};

/* Clocks used to turn wall-clock expiries and ttls into CLOCK_BOOTTIME ns. */
struct bh_clock {
	int64_t wall_ns;		/* CLOCK_REALTIME now */
	int64_t boot_ns;		/* CLOCK_BOOTTIME now */
};

void bh_clock_now(struct bh_clock *c);

/*
 * Flatten p into trie entries: one default entry per partner (prefixlen 32,
 * mode, no rules), one entry per distinct (partner, prefix) among grants and
 * never prefixes, each holding the union of the rules of every covering
 * grant, BH_ENTRY_NEVER when any never prefix covers it. Expired grants stay
 * (expires_ns in the past) so the kernel can report reason "expired".
 * Returns 0 or -E2BIG (more than BH_MAX_RULES rules cover a prefix; described
 * in errs with the grant's file:line:col) or -ENOMEM, or -EINVAL for a grant
 * whose partner_idx is out of range. Rules subsumed by another rule of the
 * same entry (same or wider proto and ports, living at least as long) are
 * left out: they cannot change a decision. Entries are grouped by partner,
 * sorted by address within one; out is left empty on error.
 */
int bh_compile(const struct bh_policy *p, const struct bh_clock *clk,
	       struct bh_compiled *out, struct bh_errors *errs);
void bh_compiled_free(struct bh_compiled *c);

/* At most this many entries: bh_compile's and bh_compile_stream's n. */
size_t bh_compile_max_entries(const struct bh_policy *p);

/*
 * The same entries in the same order without holding them all: they are
 * handed to sink in batches of at most BH_COMPILE_BATCH from one small
 * buffer, reused after sink returns (200 MB less for a million entries, and
 * the batch is still in the cache when the kernel copies it). sink returns 0
 * or -errno; after the first error, sink's or the compiler's, no batch is
 * handed over, but compile errors are still collected. sink NULL: count
 * only. counts gets n and nprefixes (no keys or vals; as far as it got on
 * error). Returns 0, the compiler's -errno as bh_compile does, or sink's.
 */
#define BH_COMPILE_BATCH 2048
typedef int (*bh_compile_sink)(void *arg, const struct bh_lpm_key *keys,
			       const struct bh_lpm_val *vals, size_t n);
int bh_compile_stream(const struct bh_policy *p, const struct bh_clock *clk,
		      bh_compile_sink sink, void *arg, struct bh_compiled *counts,
		      struct bh_errors *errs);

/* "10.0.0.0/8" style text of a prefix (IPv4-mapped shown as IPv4). */
#define BH_PREFIX_STRLEN 64	/* enough for any prefix */
const char *bh_prefix_str(const struct bh_prefix *pf, char *buf, size_t len);

/*
 * Summary for `bulkhead check`: partners (name, id, mode, cgroups, grants),
 * grant total, never prefixes and, when c is not NULL, the compiled trie
 * entries. json != 0 writes one JSON object (jansson) and a newline.
 * Returns 0, -ENOMEM or -EIO.
 */
int bh_policy_summary(const struct bh_policy *p, const struct bh_compiled *c,
		      FILE *out, int json);
/* The JSON summary as an object (the caller may add to it), or NULL (ENOMEM). */
#include <jansson.h>
json_t *bh_policy_summary_json(const struct bh_policy *p, const struct bh_compiled *c);

#endif
