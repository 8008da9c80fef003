// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Criticality tiers (policy.h, docs/policy.md "Tiers"): the built-in tiers,
 * the lookup of a partner's effective settings. The policy's "tiers" block is validated in validate.c.
 *
 * The scan thresholds scale Zeek's scan policy (P = 15 ports of one host,
 * H = 25 hosts on one port, within W = 5 min), which is the standard tier:
 * critical divides P and H by 3 and triples W, high takes 2/3 of them and
 * doubles W, low doubles P and H.
 */
#include <string.h>
#include "policy.h"

#define MIN_NS	(60ll * 1000000000ll)
#define HOUR_NS	(60 * MIN_NS)

static const struct bh_tier defaults[] = {
	{ .name = "critical", .max_ttl_ns = HOUR_NS, .must_expire = 1, .require_purpose = 1,
	  .require_org = 1, .first_seen = 1, .severity_floor = BH_SEV_HIGH, .lint_refuses = 1,
	  .widest_v4 = 24, .widest_v6 = 64,
	  .scan_ports = 5, .scan_hosts = 8, .scan_window_ns = 15 * MIN_NS },
	{ .name = "high", .max_ttl_ns = 8 * HOUR_NS, .must_expire = 1, .require_purpose = 1,
	  .require_org = 1, .first_seen = 1, .severity_floor = BH_SEV_MEDIUM,
	  .widest_v4 = 20, .widest_v6 = 56,
	  .scan_ports = 10, .scan_hosts = 17, .scan_window_ns = 10 * MIN_NS },
	{ .name = "standard", .max_ttl_ns = 24 * HOUR_NS, .severity_floor = BH_SEV_LOW,
	  .widest_v4 = 16, .widest_v6 = 48,
	  .scan_ports = 15, .scan_hosts = 25, .scan_window_ns = 5 * MIN_NS },
	{ .name = "low", .max_ttl_ns = 7 * 24 * HOUR_NS, .severity_floor = BH_SEV_LOW,
	  .widest_v4 = 8, .widest_v6 = 32,
	  .scan_ports = 30, .scan_hosts = 50, .scan_window_ns = 5 * MIN_NS },
};
#define NDEFAULTS (sizeof(defaults) / sizeof(defaults[0]))
#define STANDARD 2

_Static_assert(NDEFAULTS <= BH_MAX_TIERS, "the defaults fit the tier table");

const struct bh_tier *bh_tier_defaults(size_t *n)
{
	*n = NDEFAULTS;
	return defaults;
}

const struct bh_tier *bh_tier_find(const struct bh_policy *p, const char *name)
{
	const struct bh_tier *t = p && p->ntiers ? p->tiers : defaults;
	size_t n = p && p->ntiers ? p->ntiers : NDEFAULTS;

	for (size_t i = 0; i < n; i++)
		if (!strcmp(t[i].name, name))
			return &t[i];
	return NULL;
}

const struct bh_tier *bh_partner_tier(const struct bh_policy *p, uint32_t pidx)
{
	if (!p || !p->ntiers || pidx >= p->npartners || p->partners[pidx].tier >= p->ntiers)
		return &defaults[STANDARD];
	return &p->tiers[p->partners[pidx].tier];
}
