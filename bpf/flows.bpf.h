/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Flow accounting of allowed traffic: bytes and packets per flow in
 * bh_flows (first sight of a flow is an event), counted in the socket's
 * storage between decisions and folded into bh_flows by bh_fold.
 */
#ifndef BH_FLOWS_BPF_H
#define BH_FLOWS_BPF_H

#include "maps.bpf.h"
#include "tuple.bpf.h"
#include "report.bpf.h"

/*
 * Allowed traffic: bytes and packets per (partner, remote, port, proto) in
 * bh_flows; the first sight of a flow is an event. The hash is touched when a
 * socket decides (connect, send, first packet of a tuple, a new generation),
 * and when its own counters are folded in (bh_fold); between the two, packets
 * of the socket's cached tuple only add to the socket's storage.
 */
static __always_inline void bh_flow_key(struct bh_flow_key *k, __u32 partner, __u8 proto,
					__u16 dport, const __u8 *daddr)
{
	k->partner = partner;
	k->dport = dport;
	k->proto = proto;
	__builtin_memcpy(k->daddr, daddr, 16);
}

static __always_inline void bh_flow_add(struct bh_flow_val *v, __u64 txb, __u64 txp, __u64 rxb,
					__u64 rxp)
{
	if (txp) {
		__sync_fetch_and_add(&v->tx_bytes, txb);
		__sync_fetch_and_add(&v->tx_packets, txp);
	}
	if (rxp) {
		__sync_fetch_and_add(&v->rx_bytes, rxb);
		__sync_fetch_and_add(&v->rx_packets, rxp);
	}
}

/* Add to the flow of k, creating it (and its first-seen event) if it is new;
 * a full table is counted (bh_lost.flow_full). */
static __always_inline void bh_flow_put(const struct bh_src *src, const struct bh_sk *s,
					const struct bh_flow_key *k, const struct bh_tuple *t,
					__u32 grant, __u64 txb, __u64 txp, __u64 rxb, __u64 rxp)
{
	struct bh_flow_val *v, nv = {};
	__u64 now;

	v = bpf_map_lookup_elem(&bh_flows, k);
	if (v) {
		bh_flow_add(v, txb, txp, rxb, rxp);
		return;
	}
	now = bpf_ktime_get_boot_ns();
	nv.first_ts_boot_ns = now;
	nv.last_ts_boot_ns = now;
	nv.grant = grant;
	nv.tx_bytes = txb;
	nv.tx_packets = txp;
	nv.rx_bytes = rxb;
	nv.rx_packets = rxp;
	if (bpf_map_update_elem(&bh_flows, k, &nv, BPF_NOEXIST)) {
		v = bpf_map_lookup_elem(&bh_flows, k);
		if (v)		/* another CPU created it first */
			bh_flow_add(v, txb, txp, rxb, rxp);
		else
			bh_evstat_inc(BH_EVSTAT_FLOW_FULL);
		return;
	}
	bh_emit(src, s, k->partner, t, BH_EV_FLOW_NEW, BH_VERDICT_ALLOW, BH_REASON_GRANTED, grant,
		1, now);
}

/* An allowed decision or packet, straight into bh_flows. Ingress only adds to
 * flows that exist (an inbound packet does not start a flow). */
static __always_inline void bh_flow_account(const struct bh_src *src, const struct bh_sk *s,
					    __u32 partner, const struct bh_tuple *t, __u32 grant)
{
	struct bh_flow_key k = {};
	struct bh_flow_val *v;
	__u32 bytes = 0;

	if (src->hook == BH_HOOK_EGRESS || src->hook == BH_HOOK_INGRESS)
		bytes = ((struct __sk_buff *)src->ctx)->len;
	bh_flow_key(&k, partner, t->proto, t->dport, t->addr);
	if (src->hook == BH_HOOK_INGRESS) {
		v = bpf_map_lookup_elem(&bh_flows, &k);
		if (v)
			bh_flow_add(v, 0, 0, bytes, 1);
		return;
	}
	bh_flow_put(src, s, &k, t, grant, bytes, bytes ? 1 : 0, 0, 0);
}

/* Move the socket's counters into the flow of its cached tuple. Exchanges
 * make it safe against packets on other CPUs and against a concurrent fold. */
static __always_inline void bh_fold(struct bh_sk *s)
{
	struct bh_src src = { .hook = BH_HOOK_EGRESS };
	struct bh_flow_key k = {};
	struct bh_tuple t = {};
	__u64 txb, txp, rxb, rxp;

	if (!s->tx_packets && !s->rx_packets)
		return;
	txp = __sync_lock_test_and_set(&s->tx_packets, 0);
	txb = __sync_lock_test_and_set(&s->tx_bytes, 0);
	rxp = __sync_lock_test_and_set(&s->rx_packets, 0);
	rxb = __sync_lock_test_and_set(&s->rx_bytes, 0);
	t.proto = s->proto;
	t.dport = s->dport;
	__builtin_memcpy(t.addr, s->daddr, 16);
	bh_flow_key(&k, s->partner, t.proto, t.dport, t.addr);
	bh_flow_put(&src, s, &k, &t, s->grant, txb, txp, rxb, rxp);
}

/* A packet of the socket's cached, allowed tuple. Its first packet after the
 * daemon advanced the fold epoch folds, so flow summaries see live sockets. */
static __always_inline void bh_sk_account(struct bh_sk *s, const struct bh_src *src,
					  const struct bh_tuple *t, __u32 fold_epoch)
{
	__u32 bytes;

	if (src->hook != BH_HOOK_EGRESS && src->hook != BH_HOOK_INGRESS)
		return;		/* connect/send: its packets are counted */
	if (s->flags & BH_SK_RELEASED) {	/* no fold is coming: straight in */
		bh_flow_account(src, s, s->partner, t, s->grant);
		return;
	}
	bytes = ((struct __sk_buff *)src->ctx)->len;
	if (src->hook == BH_HOOK_EGRESS) {
		__sync_fetch_and_add(&s->tx_bytes, bytes);
		__sync_fetch_and_add(&s->tx_packets, 1);
	} else {
		__sync_fetch_and_add(&s->rx_bytes, bytes);
		__sync_fetch_and_add(&s->rx_packets, 1);
	}
	if (s->fold_epoch != fold_epoch) {
		s->fold_epoch = fold_epoch;
		bh_fold(s);
	}
}

#endif /* BH_FLOWS_BPF_H */
