/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The verdict a hook returns for a tuple: the socket's cached verdict while
 * it is still valid (same tuple, same generation, not expired), else a fresh
 * decision (verdict.bpf.h), with `revoked` for a tuple that socket had been
 * allowed before. Every verdict is counted; allowed traffic goes to flow
 * accounting (flows.bpf.h), denials to reporting (report.bpf.h).
 */
#ifndef BH_JUDGE_BPF_H
#define BH_JUDGE_BPF_H

#include "maps.bpf.h"
#include "tuple.bpf.h"
#include "verdict.bpf.h"
#include "report.bpf.h"
#include "flows.bpf.h"

/* Judge tuple t for a tagged socket, using and refreshing its verdict cache.
 * Returns 1 to let the operation/packet through, 0 to refuse it. */
static __always_inline int bh_judge(struct bh_sk *s, const struct bh_tuple *t,
				    const struct bh_src *src)
{
	struct bh_decision d;
	__u32 fold_epoch;
	__u64 gen;
	int same = s->proto == t->proto && bh_same_addr(s->daddr, t->addr) &&
		   (t->frag || s->dport == t->dport);

	if (s->flags & BH_SK_OUTSIDE)
		return 1;	/* no partner's: not judged */
	bh_state_get(&gen, &fold_epoch);
	if ((s->flags & BH_SK_CACHED) && same && s->gen == gen &&
	    (!s->valid_until_ns || bpf_ktime_get_boot_ns() < s->valid_until_ns)) {
		d.verdict = s->verdict;
		d.reason = s->reason;
		d.grant = s->grant;
		if (d.verdict == BH_VERDICT_ALLOW) {
			bh_sk_account(s, src, t, fold_epoch);
			return 1;
		}
		/* An audited flow was reported (and counted) when it was decided,
		 * like an allowed one: its later packets pass silently. A denied
		 * tuple is reported at every attempt (aggregated per window). */
		if (d.verdict == BH_VERDICT_AUDIT)
			return 1;
		bh_count(s->partner, d.verdict, d.reason);
		bh_report_deny(src, s, s->partner, t, &d);
		return d.verdict != BH_VERDICT_DENY;
	}

	bh_decide(s->partner, s->flags, t, &d);
	if (d.verdict != BH_VERDICT_ALLOW && d.reason != BH_REASON_EXPIRED && same &&
	    (s->flags & BH_SK_WAS_ALLOWED))
		d.reason = BH_REASON_REVOKED;

	if (!same && (s->flags & BH_SK_CACHED))
		bh_fold(s);	/* the counters belong to the old tuple */
	if (same && d.verdict == BH_VERDICT_ALLOW)
		s->flags |= BH_SK_WAS_ALLOWED;
	else if (!same)
		s->flags = (s->flags & ~BH_SK_WAS_ALLOWED) |
			   (d.verdict == BH_VERDICT_ALLOW ? BH_SK_WAS_ALLOWED : 0);
	s->flags |= BH_SK_CACHED;
	s->verdict = d.verdict;
	s->reason = d.reason;
	s->grant = d.grant;
	s->gen = gen;
	s->fold_epoch = fold_epoch;	/* this decision counts in bh_flows itself */
	s->valid_until_ns = d.valid_until;
	s->proto = t->proto;
	if (!t->frag)
		s->dport = t->dport;
	__builtin_memcpy(s->daddr, t->addr, 16);

	bh_count(s->partner, d.verdict, d.reason);
	if (d.verdict == BH_VERDICT_ALLOW)
		bh_flow_account(src, s, s->partner, t, d.grant);
	else
		bh_report_deny(src, s, s->partner, t, &d);
	return d.verdict != BH_VERDICT_DENY;
}

/* Judge without a socket cache (request sockets, storage allocation failure). */
static __always_inline int bh_judge_uncached(__u32 partner, __u8 flags, const struct bh_tuple *t,
					     const struct bh_src *src)
{
	struct bh_decision d;

	if (flags & BH_SK_OUTSIDE)
		return 1;
	bh_decide(partner, flags, t, &d);
	bh_count(partner, d.verdict, d.reason);
	if (d.verdict == BH_VERDICT_ALLOW)
		bh_flow_account(src, 0, partner, t, d.grant);
	else
		bh_report_deny(src, 0, partner, t, &d);
	return d.verdict != BH_VERDICT_DENY;
}

#endif /* BH_JUDGE_BPF_H */
