/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * What one policy trie value says about a (protocol, port): compiled into the
 * kernel programs and into userspace (the daemon choosing which sockets a
 * revocation cut off, the unit tests' reference), so both judge alike.
 */
#ifndef BULKHEAD_DECIDE_H
#define BULKHEAD_DECIDE_H

#include <bulkhead/bulkhead.h>

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

/* A rule covers TCP/UDP by port range; icmp and other protocols carry no port,
 * so only a rule without a port limit covers them. */
static __always_inline int bh_rule_covers(const struct bh_rule *r, __u8 proto, __u16 dport)
{
	if (r->proto != BH_PROTO_ANY && r->proto != proto)
		return 0;
	if (proto == BH_PROTO_TCP || proto == BH_PROTO_UDP)
		return dport >= r->port_lo && dport <= r->port_hi;
	return r->port_lo == 0 && r->port_hi == 0xffff;
}

struct bh_val_result {
	__u8  reason;		/* granted, no_grant, never or expired */
	__u32 grant;		/* deciding grant (allowing, or the expired one) */
	__u64 valid_until;	/* allow: expiry of the longest-living covering rule; 0 = never */
};

/*
 * Precedence: never, then a live covering rule (allow; the one that lives
 * longest is reported), then an expired covering rule (expired), else
 * no_grant. now: CLOCK_BOOTTIME ns.
 */
static __always_inline void bh_val_decide(const struct bh_lpm_val *v, __u8 proto, __u16 dport,
					  __u64 now, struct bh_val_result *res)
{
	__u64 best_exp = 0;
	__u32 expired_grant = 0, allow_grant = 0;
	int allowed = 0, i;

	res->grant = 0;
	res->valid_until = 0;
	if (v->flags & BH_ENTRY_NEVER) {
		res->reason = BH_REASON_NEVER;
		return;
	}
	for (i = 0; i < BH_MAX_RULES; i++) {
		const struct bh_rule *r = &v->rules[i];

		if (i >= v->nrules)
			break;
		if (!bh_rule_covers(r, proto, dport))
			continue;
		if (r->expires_ns && now >= r->expires_ns) {
			expired_grant = r->grant;
			continue;
		}
		if (!allowed || (best_exp && (!r->expires_ns || r->expires_ns > best_exp))) {
			best_exp = r->expires_ns;
			allow_grant = r->grant;
		}
		allowed = 1;
	}
	if (allowed) {
		res->reason = BH_REASON_GRANTED;
		res->grant = allow_grant;
		res->valid_until = best_exp;
	} else if (expired_grant) {
		res->reason = BH_REASON_EXPIRED;
		res->grant = expired_grant;
	} else {
		res->reason = BH_REASON_NO_GRANT;
	}
}

#endif /* BULKHEAD_DECIDE_H */
