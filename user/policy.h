/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Policy schema v1 (docs/policy.md): the parsed policy (struct bh_policy)
 * and its loading, parsing and freeing (policy.c, validation in validate.c).
 * The header callers include for the whole policy module: it brings in the
 * errors (errors.h), the clock (clock.h), the value parsers (values.h), the
 * trie compiler (compile.h) and the summary (summary.h).
 */
#ifndef BULKHEAD_POLICY_H
#define BULKHEAD_POLICY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <bulkhead/bulkhead.h>
#include "clock.h"
#include "compile.h"
#include "errors.h"
#include "names.h"
#include "summary.h"
#include "values.h"

struct bh_policy;

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
	char *gid;			/* its id within the partner (policy grants): the
					   file's "id", or derived from its content
					   (bh_grant_derive_ids); NULL for JIT grants */
	int gid_explicit;		/* gid is the file's "id" */
	int line, col;			/* where the grant object starts */
};

/*
 * Criticality tiers (docs/policy.md, "Tiers"): what a partner's tier asks of
 * its grants and of the alerting on it. The policy's "tiers" block overrides
 * the built-in defaults key by key (bh_tier_defaults: critical, high,
 * standard, low) and may add tiers, which start from standard's settings.
 */
#define BH_MAX_TIERS	16
#define BH_TIER_NAME_LEN 32	/* with the NUL */
#define BH_TIER_DEFAULT	"standard"

struct bh_tier {
	char name[BH_TIER_NAME_LEN];
	int64_t max_ttl_ns;		/* longest JIT grant; 0: no limit */
	uint8_t must_expire;		/* every grant needs expires or ttl */
	uint8_t require_purpose;	/* every grant needs a purpose */
	uint8_t require_org;		/* the partner needs an org */
	uint8_t first_seen;		/* first_seen alerts for every grant, not only wide ones */
	uint8_t severity_floor;		/* enum bh_severity: alerts are raised to at least this */
	uint8_t lint_refuses;		/* `grant`: a linter finding refuses the JIT grant */
	uint8_t widest_v4, widest_v6;	/* a grant wider than /widest_v4 (IPv4) or
					   /widest_v6 (IPv6) is a linter warning */
	uint32_t scan_ports;		/* scan: >= P distinct ports of one host ... */
	uint32_t scan_hosts;		/* ... or >= H distinct hosts on one port ... */
	int64_t scan_window_ns;		/* ... within W */
};

/* The built-in tiers, in order critical, high, standard, low (*n set). */
const struct bh_tier *bh_tier_defaults(size_t *n);
/* The tier named name in p (its tiers, or the defaults when p has none), or NULL. */
const struct bh_tier *bh_tier_find(const struct bh_policy *p, const char *name);
/*
 * The effective settings of partner pidx of p: its tier after the policy's
 * overrides. Never NULL: a policy without tiers (built by hand) or an
 * out-of-range pidx gets the default tier.
 */
const struct bh_tier *bh_partner_tier(const struct bh_policy *p, uint32_t pidx);

struct bh_partner {
	char *name;
	uint32_t id;			/* kernel partner id; set by the caller before compile
					   (bh_policy_load assigns 1..n in file order) */
	uint8_t mode;			/* enum bh_mode */
	size_t ncgroups;
	char **cgroups;			/* paths relative to the cgroup2 mount, no leading '/' */
	char *org;			/* the organisation the identity belongs to; NULL: none */
	char *contact;			/* who to call about it; NULL: none (bh_parse_label) */
	uint32_t tier;			/* index into bh_policy.tiers (bh_partner_tier) */
};

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
	size_t ntiers;			/* the defaults, overridden and added to by "tiers"; */
	struct bh_tier *tiers;		/* 0/NULL only in a policy built by hand */
};

/*
 * Parse and validate the policy at path. Returns 0, or -EINVAL with every
 * problem in errs (and *p left empty), or another -errno when the file
 * cannot be read (also described in errs).
 */
int bh_policy_load(const char *path, struct bh_policy *p, struct bh_errors *errs);
/* The whole file at path in *text (free it; *len bytes, a NUL after them
 * may be missing). 0 or -errno (described in errs). */
int bh_policy_read(const char *path, char **text, size_t *len, struct bh_errors *errs);
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

/*
 * Policy grant ids (docs/policy.md, "Grant ids"): a grant's id within its
 * partner is its "id" when the file gives one, else derived from its content
 * alone, never from its position: "h" and 12 hex digits of a hash of (to,
 * proto, merged ports); the second and later grants of a partner with the
 * same content get ".2", ".3", ... in file order. Sets every gid p lacks
 * (allocated in p's store). 0 or -ENOMEM.
 */
int bh_grant_derive_ids(struct bh_policy *p);
/* s is an id a file may give (1-32 of A-Z a-z 0-9 . _ -, starting with a
 * letter, and not of the derived or just-in-time forms). 0, or -EINVAL with
 * why (BH_REASON_LEN). */
int bh_grant_id_check(const char *s, char *why);

#endif
