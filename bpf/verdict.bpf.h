/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The decision: what the applied policy (the trie in bh_policy slot 0) says
 * about a partner's tuple, with its precedence written beside it, plus the
 * per-partner verdict counters (bh_counters) and the generation and fold
 * epoch userspace publishes (bh_state). The per-value matcher is
 * include/bulkhead/decide.h, shared with userspace so both judge alike.
 */
#ifndef BH_VERDICT_BPF_H
#define BH_VERDICT_BPF_H

#include <bpf/bpf_endian.h>
#include <bulkhead/decide.h>
#include "maps.bpf.h"
#include "tuple.bpf.h"

struct bh_decision {
	__u8  verdict;
	__u8  reason;
	__u8  mode;
	__u32 grant;
	__u64 valid_until;	/* 0 = until the next generation */
};

/*
 * Decision precedence (bh_decide, then bh_val_decide in bulkhead/decide.h):
 *   1. no identity (under partner_root, bound to no partner)  deny unknown_partner
 *   2. partner absent from the applied policy                   deny unknown_partner
 *   3. destination covered by the never list                    deny never
 *   4. a live rule covers (proto, port)                         allow granted
 *   5. only expired rules cover it                              deny expired
 *   6. otherwise                                                deny no_grant
 *   A deny of a tuple this socket had been allowed before becomes `revoked`
 *   (unless expired; bh_judge in judge.bpf.h). Audit mode turns every deny
 *   into verdict audit (passes).
 */
static __always_inline void bh_decide(__u32 partner, __u8 skflags, const struct bh_tuple *t,
				      struct bh_decision *d)
{
	struct bh_val_result res;
	struct bh_lpm_key key = {};
	struct bh_lpm_val *v;
	__u32 zero = 0;
	void *trie;

	d->verdict = BH_VERDICT_DENY;
	d->mode = BH_MODE_ENFORCE;
	d->grant = 0;
	d->valid_until = 0;
	d->reason = BH_REASON_UNKNOWN_PARTNER;
	if (skflags & BH_SK_UNKNOWN)
		return;
	trie = bpf_map_lookup_elem(&bh_policy, &zero);
	if (!trie)
		return;
	key.prefixlen = 32 + 128;
	key.partner = bpf_htonl(partner);
	__builtin_memcpy(key.addr, t->addr, 16);
	v = bpf_map_lookup_elem(trie, &key);
	if (!v)
		return;		/* partner not in the applied policy */
	d->mode = v->mode;
	bh_val_decide(v, t->proto, t->dport, v->nrules ? bpf_ktime_get_boot_ns() : 0, &res);
	d->reason = res.reason;
	d->grant = res.grant;
	d->valid_until = res.valid_until;
	if (res.reason == BH_REASON_GRANTED)
		d->verdict = BH_VERDICT_ALLOW;
	else if (d->mode == BH_MODE_AUDIT)
		d->verdict = BH_VERDICT_AUDIT;
}

static __always_inline void bh_count(__u32 partner, __u8 verdict, __u8 reason)
{
	struct bh_counters *c;
	__u32 idx = partner < BH_MAX_PARTNERS ? partner : 0;

	c = bpf_map_lookup_elem(&bh_counters, &idx);
	if (!c)
		return;
	if (verdict < BH_VERDICT__MAX)
		c->verdicts[verdict]++;
	if (reason < BH_REASON__MAX)
		c->reasons[reason]++;
}

static __always_inline void bh_state_get(__u64 *gen, __u32 *fold_epoch)
{
	__u32 zero = 0;
	struct bh_state *st = bpf_map_lookup_elem(&bh_state, &zero);

	*gen = st ? st->gen : 0;
	*fold_epoch = st ? (__u32)st->fold_epoch : 0;
}

#endif /* BH_VERDICT_BPF_H */
