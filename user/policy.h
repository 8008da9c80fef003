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
#include "summary.h"
#include "values.h"

/* The comment key: allowed in every object of a policy (its value a string
 * or an array of strings) and ignored, so a policy file can explain itself. */
#define BH_POLICY_COMMENT "//"

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
	char *contact;			/* who to call about it; NULL: none (bh_parse_label) */
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
};

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

#endif
