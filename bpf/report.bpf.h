/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Event reporting: records into the bh_events ring (struct bh_event, with
 * the task, cgroup and socket it came from), denials aggregated per window in
 * bh_flood (per tuple, within the partner's detail budget, bh_budget) and in
 * bh_scan (per host, every denial, with its ports), and what was emitted or
 * lost counted in bh_lost (host-wide) and bh_plost (per partner).
 */
#ifndef BH_REPORT_BPF_H
#define BH_REPORT_BPF_H

#include <bpf/bpf_endian.h>
#include "maps.bpf.h"
#include "tuple.bpf.h"
#include "verdict.bpf.h"

enum bh_evstat { BH_EVSTAT_EMITTED, BH_EVSTAT_RING_FULL, BH_EVSTAT_MAP_FULL,
		 BH_EVSTAT_UNCOUNTED, BH_EVSTAT_FLOW_FULL };

static __always_inline void bh_evstat_inc(enum bh_evstat what)
{
	__u32 zero = 0;
	struct bh_lost *l = bpf_map_lookup_elem(&bh_lost, &zero);

	if (!l)
		return;
	if (what == BH_EVSTAT_EMITTED)
		l->emitted++;
	else if (what == BH_EVSTAT_RING_FULL)
		l->ring_full++;
	else if (what == BH_EVSTAT_MAP_FULL)
		l->flood_full++;
	else if (what == BH_EVSTAT_FLOW_FULL)
		l->flow_full++;
	else
		l->uncounted++;
}

/* Our end of an event's tuple: the packet's local address at egress and
 * ingress, the socket's bound address at connect and send (none until the
 * socket is bound). Slow path only. */
static __always_inline void bh_fill_src(struct bh_event *e, const struct bh_src *src)
{
	if (src->hook == BH_HOOK_EGRESS || src->hook == BH_HOOK_INGRESS) {
		struct __sk_buff *skb = src->ctx;
		__u32 in = src->hook == BH_HOOK_INGRESS, ip4;

		if (skb->protocol == bpf_htons(ETH_P_IP)) {
			if (!bpf_skb_load_bytes(skb, in ? 16 : 12, &ip4, 4))
				bh_map_v4(e->saddr, ip4);
		} else if (bpf_skb_load_bytes(skb, in ? 24 : 8, e->saddr, 16)) {
			__builtin_memset(e->saddr, 0, 16);
		}
	} else {
		struct bpf_sock *sk = ((struct bpf_sock_addr *)src->ctx)->sk;
		__u32 a[4], ip4;

		if (!sk)
			return;
		bh_sk_end_addrs(sk, src, ip4, a);
		if (src->v6)
			__builtin_memcpy(e->saddr, a, 16);
		else if (ip4)
			bh_map_v4(e->saddr, ip4);
	}
}

/* Task, cgroup and socket identity of an event. Slow path only. */
static __always_inline void bh_fill_origin(struct bh_event *e, const struct bh_src *src,
					  const struct bh_sk *s)
{
	if (src->hook == BH_HOOK_CONNECT || src->hook == BH_HOOK_SENDMSG) {
		__u64 pt = bpf_get_current_pid_tgid();

		e->pid = pt >> 32;
		e->tid = (__u32)pt;
		e->uid = (__u32)bpf_get_current_uid_gid();
		bpf_get_current_comm(e->comm, sizeof(e->comm));
		e->cgroup_id = bpf_get_current_cgroup_id();
		e->flags |= BH_EVF_TASK;
	} else if (s) {
		e->pid = s->owner_pid;
		e->uid = s->owner_uid;
		__builtin_memcpy(e->comm, s->owner_comm, sizeof(e->comm));
	}
	if (src->v6)
		e->flags |= BH_EVF_V6;
	if (!src->ctx)
		return;
	bh_fill_src(e, src);
	if (src->hook == BH_HOOK_EGRESS || src->hook == BH_HOOK_INGRESS)
		e->cgroup_id = bpf_skb_cgroup_id(src->ctx);
	e->cookie = bpf_get_socket_cookie(src->ctx);
}

enum bh_plstat { BH_PL_RING_FULL, BH_PL_UNFOLDED, BH_PL_SCAN_FULL, BH_PL_OVER_BUDGET };

static __always_inline void bh_plost_inc(__u32 partner, enum bh_plstat what)
{
	struct bh_plost *l = bpf_map_lookup_elem(&bh_plost, &partner);

	if (!l)
		return;
	if (what == BH_PL_RING_FULL)
		l->ring_full++;
	else if (what == BH_PL_UNFOLDED)
		l->unfolded++;
	else if (what == BH_PL_SCAN_FULL)
		l->scan_full++;
	else
		l->over_budget++;
}

static __always_inline int bh_emit(const struct bh_src *src, const struct bh_sk *s, __u32 partner,
				   const struct bh_tuple *t, __u8 type, __u8 verdict,
				   __u8 reason, __u32 grant, __u64 count, __u64 now)
{
	struct bh_event *e = bpf_ringbuf_reserve(&bh_events, sizeof(*e), 0);

	if (!e) {
		bh_evstat_inc(BH_EVSTAT_RING_FULL);
		bh_plost_inc(partner, BH_PL_RING_FULL);
		return -1;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_boot_ns = now;
	e->count = count;
	e->partner = partner;
	e->grant = grant;
	e->sport = t->sport;
	e->dport = t->dport;
	e->type = type;
	e->hook = src->hook;
	e->verdict = verdict;
	e->reason = reason;
	e->proto = t->proto;
	__builtin_memcpy(e->daddr, t->addr, 16);
	bh_fill_origin(e, src, s);
	bpf_ringbuf_submit(e, 0);
	bh_evstat_inc(BH_EVSTAT_EMITTED);
	return 0;
}

/* One more new flood key for partner in window: 1 while within its detail
 * budget. The reset at a new window may race with another CPU's take: the
 * budget is approximate, the counts it decides between are not. */
static __always_inline int bh_budget_take(__u32 partner, __u64 window)
{
	struct bh_budget *b = bpf_map_lookup_elem(&bh_budget, &partner);

	if (!b)
		return 1;
	if (b->window != window) {
		b->window = window;
		b->used = 0;
	}
	return __sync_fetch_and_add(&b->used, 1) < BH_PARTNER_EVENTS_PER_WINDOW;
}

/* Every denial, per (partner, host, proto, reason) and window, with its port
 * set; folded: the attempt is in no event or flood key. Returns 0, or -1 when
 * bh_scan is full (the attempt is in no scan count). */
static __always_inline int bh_scan_add(const struct bh_src *src, __u32 partner,
				       const struct bh_tuple *t, const struct bh_decision *d,
				       __u64 window, __u64 now, int folded)
{
	struct bh_scan_key k = {};
	struct bh_scan_val *v;
	__u64 bit = 1ull << (t->dport & 63), old;
	__u32 w = (t->dport >> 6) & (BH_SCAN_PORT_WORDS - 1);

	k.window = window;
	k.partner = partner;
	k.proto = t->proto;
	k.reason = d->reason;
	__builtin_memcpy(k.daddr, t->addr, 16);
	v = bpf_map_lookup_elem(&bh_scan, &k);
	if (!v) {
		struct bh_scan_val *nv;
		__u32 zero = 0;

		/* the 8 KiB value cannot live on the stack: start from an
		 * empty one of bh_scan_zero */
		nv = bpf_map_lookup_elem(&bh_scan_zero, &zero);
		if (!nv)
			return -1;
		nv->verdict = d->verdict;
		nv->hook = src->hook;
		bpf_map_update_elem(&bh_scan, &k, nv, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&bh_scan, &k);
		if (!v)
			return -1;
	}
	__sync_fetch_and_add(&v->attempts, 1);
	if (folded)
		__sync_fetch_and_add(&v->folded, 1);
	v->last_ts_boot_ns = now;
	old = __sync_fetch_and_or(&v->ports[w], bit);
	if (!(old & bit))
		__sync_fetch_and_add(&v->distinct, 1);
	return 0;
}

/* A deny or audit decision. Per (partner, dst, dport, proto, reason) in a
 * window: the first is an event, the rest are counted in bh_flood and flushed
 * by userspace as one event with `count`; an event that cannot be reserved is
 * kept as a count too. A partner over its detail budget opens no new key: its
 * attempt is counted in bh_scan only (folded), which userspace reports per
 * host. Every attempt is in bh_scan as well (for the scan alert). So the
 * counts always add up to the attempts. */
static __always_inline void bh_report_deny(const struct bh_src *src, const struct bh_sk *s,
					   __u32 partner, const struct bh_tuple *t,
					   const struct bh_decision *d)
{
	struct bh_flood_key k = {};
	struct bh_flood_val nv = {}, *v;
	__u64 now = bpf_ktime_get_boot_ns();

	k.window = now / BH_FLOOD_WINDOW_NS;
	k.partner = partner;
	k.dport = t->dport;
	k.proto = t->proto;
	k.reason = d->reason;
	__builtin_memcpy(k.daddr, t->addr, 16);

	v = bpf_map_lookup_elem(&bh_flood, &k);
	if (v) {
		__sync_fetch_and_add(&v->suppressed, 1);
		v->last_ts_boot_ns = now;
		if (bh_scan_add(src, partner, t, d, k.window, now, 0))
			bh_plost_inc(partner, BH_PL_SCAN_FULL);
		return;
	}
	if (!bh_budget_take(partner, k.window)) {
		bh_plost_inc(partner, BH_PL_OVER_BUDGET);
		if (bh_scan_add(src, partner, t, d, k.window, now, 1)) {
			bh_plost_inc(partner, BH_PL_SCAN_FULL);
			bh_plost_inc(partner, BH_PL_UNFOLDED);	/* only counted here */
		}
		return;
	}
	if (bh_scan_add(src, partner, t, d, k.window, now, 0))
		bh_plost_inc(partner, BH_PL_SCAN_FULL);
	nv.last_ts_boot_ns = now;
	nv.verdict = d->verdict;
	nv.hook = src->hook;
	if (bpf_map_update_elem(&bh_flood, &k, &nv, BPF_NOEXIST)) {
		v = bpf_map_lookup_elem(&bh_flood, &k);
		if (v) {	/* another CPU opened this key first */
			__sync_fetch_and_add(&v->suppressed, 1);
			return;
		}
		bh_evstat_inc(BH_EVSTAT_MAP_FULL);	/* flood map full: event on its own */
		if (bh_emit(src, s, partner, t, BH_EV_DECISION, d->verdict, d->reason, d->grant, 1,
			    now))
			bh_evstat_inc(BH_EVSTAT_UNCOUNTED);	/* reported as a loss */
		return;
	}
	if (bh_emit(src, s, partner, t, BH_EV_DECISION, d->verdict, d->reason, d->grant, 1, now)) {
		v = bpf_map_lookup_elem(&bh_flood, &k);
		if (v)
			__sync_fetch_and_add(&v->suppressed, 1);
	}
}

#endif /* BH_REPORT_BPF_H */
