// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * bulkhead kernel datapath.
 *
 * Attached (bpf_link, BPF_F_ALLOW_MULTI) only at the top of partner subtrees:
 * partner_root, and the parent directory (an anchor) of each bound cgroup
 * outside it, so the programs outlive the bound cgroup's recreation.
 * Processes elsewhere run no bulkhead code at all; siblings of such a bound
 * cgroup run sock_create's identity walk and pass (BH_SK_OUTSIDE).
 *
 *   cgroup/sock_create   tag the socket with its partner (socket storage)
 *   cgroup/connect4|6    decide at connect, EPERM on deny
 *   cgroup/sendmsg4|6    decide at unconnected UDP send, EPERM on deny
 *   cgroup_skb/egress    every packet: cached verdict if still valid, else decide
 *
 * Decision precedence (bh_decide):
 *   1. no identity (under partner_root, bound to no partner)  deny unknown_partner
 *   2. partner absent from the applied policy                   deny unknown_partner
 *   3. destination covered by the never list                    deny never
 *   4. a live rule covers (proto, port)                         allow granted
 *   5. only expired rules cover it                              deny expired
 *   6. otherwise                                                deny no_grant
 *   A deny of a tuple this socket had been allowed before becomes `revoked`
 *   (unless expired). Audit mode turns every deny into verdict audit (passes).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bulkhead/bulkhead.h>
#include <bulkhead/events.h>
#include <bulkhead/decide.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define AF_INET		2
#define AF_INET6	10
#define ETH_P_IP	0x0800
#define ETH_P_IPV6	0x86DD
#define IPPROTO_FRAGMENT_HDR 44
#define IPPROTO_ICMPV6	58
#define ICMP_ECHO	8
#define ICMPV6_ECHO_REQUEST 128
#define IP_OFFSET_MASK	0x1fff
#define SOCK_STREAM	1

/* Keeps clang from sinking a load into the branches that use it (and then
 * addressing the context through a register, which the verifier refuses). */
#define bh_barrier_var(v) asm volatile("" : "+r"(v))

/* ---- maps: declared here, pinned by name under the pin directory ---- */

struct bh_trie {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(struct bh_lpm_key));
	__uint(value_size, sizeof(struct bh_lpm_val));
};

/* Slot 0 holds the applied policy trie; swapping it is the atomic apply. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct bh_trie);
} bh_policy SEC(".maps");

#include "cgroups.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bh_state);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bh_state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, BH_MAX_PARTNERS);
	__type(key, __u32);
	__type(value, struct bh_counters);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bh_counters SEC(".maps");

/* Userspace only: partner names by id (stable ids across restarts). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, BH_MAX_PARTNERS);
	__type(key, __u32);
	__type(value, struct bh_pname);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bh_pnames SEC(".maps");

/* Userspace only: partner organisations and contacts by id. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, BH_MAX_PARTNERS);
	__type(key, __u32);
	__type(value, struct bh_porg);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bh_porgs SEC(".maps");

/* Userspace only: just-in-time grants, revocations, ttl starts, the grant
 * id counter (survive restarts; layout version 2, see bulkhead.h). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, BH_MAX_JIT);
	__type(key, __u32);
	__type(value, struct bh_jit);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bh_jit_v2 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_CLONE);
	__type(key, int);
	__type(value, struct bh_sk);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bh_sk SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);	/* resized by `run --ring-size` */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bh_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BH_MAX_FLOOD_KEYS);
	__type(key, struct bh_flood_key);
	__type(value, struct bh_flood_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bh_flood SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BH_MAX_FLOWS);
	__type(key, struct bh_flow_key);
	__type(value, struct bh_flow_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bh_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bh_lost);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bh_lost SEC(".maps");

/* Userspace only: what has been reported, across daemon restarts. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bh_reported);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bh_reported SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, BH_MAX_FLOWS);
	__type(key, struct bh_flow_key);
	__type(value, struct bh_flow_rep);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bh_flowrep SEC(".maps");

static __always_inline void bh_map_v4(__u8 *addr, __u32 ip4_be)
{
	__builtin_memset(addr, 0, 10);
	addr[10] = 0xff;
	addr[11] = 0xff;
	__builtin_memcpy(addr + 12, &ip4_be, 4);
}

/* ---- identity ---- */

enum bh_cg_src { SRC_TASK, SRC_SKB };

static __always_inline __u64 bh_ancestor(enum bh_cg_src src, struct __sk_buff *skb,
					 int level)
{
	if (src == SRC_SKB)
		return bpf_skb_ancestor_cgroup_id(skb, level);
	return bpf_get_current_ancestor_cgroup_id(level);
}

/* Partner of the deepest bound ancestor; BH_SK_OUTSIDE when the deepest hit is
 * an anchor (a sibling of a bound cgroup outside partner_root: no partner's);
 * BH_SK_UNKNOWN when it is a partner root or nothing matched (the programs
 * only run below attach points, so "nothing" means the binding was removed:
 * fail closed). */
static __always_inline void bh_identify(enum bh_cg_src src, struct __sk_buff *skb,
					__u32 *partner, __u8 *flags)
{
	__u32 hit_partner = 0, hit_kind = 0;
	struct bh_cgroup_val *v;
	__u64 id;
	int level;

	for (level = 1; level < BH_MAX_CGROUP_DEPTH; level++) {
		id = bh_ancestor(src, skb, level);
		if (!id)
			break;
		v = bpf_map_lookup_elem(&bh_cgroups, &id);
		if (v) {
			hit_partner = v->partner;
			hit_kind = v->kind;
		}
	}
	if (hit_kind == BH_CG_BOUND) {
		*partner = hit_partner;
		*flags = BH_SK_TAGGED;
	} else if (hit_kind == BH_CG_ANCHOR) {
		*partner = BH_PARTNER_UNKNOWN;
		*flags = BH_SK_TAGGED | BH_SK_OUTSIDE;
	} else {
		*partner = BH_PARTNER_UNKNOWN;
		*flags = BH_SK_TAGGED | BH_SK_UNKNOWN;
	}
}

/* ---- decision ---- */

struct bh_tuple {
	__u8  addr[16];		/* IPv6 or IPv4-mapped */
	__u16 dport;		/* host order; 0 for icmp/other */
	__u16 sport;		/* host order; 0 when not known yet */
	__u8  proto;		/* enum bh_proto */
	__u8  frag;		/* non-first fragment: port unknown */
};

struct bh_decision {
	__u8  verdict;
	__u8  reason;
	__u8  mode;
	__u32 grant;
	__u64 valid_until;	/* 0 = until the next generation */
};

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

static __always_inline int bh_same_addr(const __u8 *a, const __u8 *b)
{
	__u64 a0, a1, b0, b1;

	__builtin_memcpy(&a0, a, 8);
	__builtin_memcpy(&a1, a + 8, 8);
	__builtin_memcpy(&b0, b, 8);
	__builtin_memcpy(&b1, b + 8, 8);
	return a0 == b0 && a1 == b1;
}

/* Where a decision is taken, for the event it may raise. */
struct bh_src {
	void *ctx;		/* struct bpf_sock_addr * or struct __sk_buff *; NULL in a
				   fold (iterator, release): the origin is the socket's owner */
	__u8 hook;		/* enum bh_hook */
	__u8 v6;
};

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
		ip4 = sk->src_ip4;
		a[0] = sk->src_ip6[0];
		a[1] = sk->src_ip6[1];
		a[2] = sk->src_ip6[2];
		a[3] = sk->src_ip6[3];
		bh_barrier_var(ip4);
		bh_barrier_var(a[0]);
		bh_barrier_var(a[1]);
		bh_barrier_var(a[2]);
		bh_barrier_var(a[3]);
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

static __always_inline int bh_emit(const struct bh_src *src, const struct bh_sk *s, __u32 partner,
				   const struct bh_tuple *t, __u8 type, __u8 verdict,
				   __u8 reason, __u32 grant, __u64 count, __u64 now)
{
	struct bh_event *e = bpf_ringbuf_reserve(&bh_events, sizeof(*e), 0);

	if (!e) {
		bh_evstat_inc(BH_EVSTAT_RING_FULL);
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

/* A deny or audit decision: the first per (partner, dst, dport, proto, reason)
 * in a window is an event; the rest are counted in bh_flood and flushed by
 * userspace as one event with `count`. An event that cannot be reserved is
 * kept as a count too, so counts always add up to the attempts. */
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
		return;
	}
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

static __always_inline void bh_tag(struct bh_sk *s, enum bh_cg_src src, struct __sk_buff *skb)
{
	bh_identify(src, skb, &s->partner, &s->flags);
	if (src == SRC_TASK) {
		s->owner_pid = bpf_get_current_pid_tgid() >> 32;
		s->owner_uid = (__u32)bpf_get_current_uid_gid();
		bpf_get_current_comm(s->owner_comm, sizeof(s->owner_comm));
	}
}

static __always_inline struct bh_sk *bh_sk_get(struct bpf_sock *sk, enum bh_cg_src src,
					       struct __sk_buff *skb)
{
	struct bh_sk *s = bpf_sk_storage_get(&bh_sk, sk, 0, 0);

	if (s && (s->flags & BH_SK_TAGGED))
		return s;
	/* Created before bulkhead attached: tag it now. */
	s = bpf_sk_storage_get(&bh_sk, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (s)
		bh_tag(s, src, skb);
	return s;
}

static __always_inline __u8 bh_l4proto(__u32 ipproto)
{
	switch (ipproto) {
	case IPPROTO_TCP:
		return BH_PROTO_TCP;
	case IPPROTO_UDP:
		return BH_PROTO_UDP;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		return BH_PROTO_ICMP;
	default:
		return BH_PROTO_OTHER;
	}
}


/* ---- hooks ---- */

SEC("cgroup/sock_create")
int bh_sock_create(struct bpf_sock *ctx)
{
	struct bh_sk *s;

	if (ctx->family != AF_INET && ctx->family != AF_INET6)
		return 1;
	s = bpf_sk_storage_get(&bh_sk, ctx, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (s)
		bh_tag(s, SRC_TASK, 0);
	/* On allocation failure the socket is tagged lazily at its first
	 * connect/send/packet; it is never let through untagged. */
	return 1;
}

static __always_inline int bh_sock_addr(struct bpf_sock_addr *ctx, int v6, __u8 hook)
{
	struct bh_src src = { .ctx = ctx, .hook = hook, .v6 = v6 };
	struct bh_tuple t = {};
	struct bpf_sock *sk = ctx->sk;
	struct bh_sk *s;
	__u32 partner;
	__u8 flags;

	if (v6) {
		__u32 a[4];

		a[0] = ctx->user_ip6[0];
		a[1] = ctx->user_ip6[1];
		a[2] = ctx->user_ip6[2];
		a[3] = ctx->user_ip6[3];
		__builtin_memcpy(t.addr, a, 16);
	} else {
		bh_map_v4(t.addr, ctx->user_ip4);
	}
	t.proto = bh_l4proto(ctx->protocol);
	if (t.proto == BH_PROTO_TCP || t.proto == BH_PROTO_UDP)
		t.dport = bpf_ntohs(ctx->user_port);

	if (!sk)
		return 0;
	t.sport = sk->src_port;
	s = bh_sk_get(sk, SRC_TASK, 0);
	if (s)
		return bh_judge(s, &t, &src);
	bh_identify(SRC_TASK, 0, &partner, &flags);
	return bh_judge_uncached(partner, flags, &t, &src);
}

SEC("cgroup/connect4")
int bh_connect4(struct bpf_sock_addr *ctx)
{
	return bh_sock_addr(ctx, 0, BH_HOOK_CONNECT);
}

SEC("cgroup/connect6")
int bh_connect6(struct bpf_sock_addr *ctx)
{
	return bh_sock_addr(ctx, 1, BH_HOOK_CONNECT);
}

SEC("cgroup/sendmsg4")
int bh_sendmsg4(struct bpf_sock_addr *ctx)
{
	return bh_sock_addr(ctx, 0, BH_HOOK_SENDMSG);
}

SEC("cgroup/sendmsg6")
int bh_sendmsg6(struct bpf_sock_addr *ctx)
{
	return bh_sock_addr(ctx, 1, BH_HOOK_SENDMSG);
}

/* Copy len bytes at off from the packet (data starts at the IP header in
 * cgroup_skb): straight from the linear area when they are there, else
 * through the helper. 0 or -1. */
static __always_inline int bh_load(struct __sk_buff *skb, __u32 off, void *to, __u32 len)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;

	if (off <= 128 && data + off + len <= end) {
		__builtin_memcpy(to, data + off, len);
		return 0;
	}
	/* (zeroed first: kernel 6.18's verifier trips over a helper writing to
	 * stack that nothing has written yet, "verifier bug: stack slot") */
	__builtin_memset(to, 0, len);
	return bpf_skb_load_bytes(skb, off, to, len) ? -1 : 0;
}

/* The peer of a connected TCP socket is the remote end of each of its
 * packets, so they need no parsing. Returns 1 when sk is such a socket. A
 * listener is not: the SYN-ACKs it sends for connections being accepted go to
 * each client, while it has no peer of its own. */
static __always_inline int bh_tcp_peer(struct bpf_sock *sk, struct bh_tuple *t)
{
	__u32 a[4], ip4;

	if (sk->type != SOCK_STREAM || sk->protocol != IPPROTO_TCP ||
	    sk->state == BPF_TCP_LISTEN || !sk->dst_port)
		return 0;
	/* both read unconditionally: the verifier allows only constant offsets
	 * into a socket, which a branch-dependent address would not be */
	ip4 = sk->dst_ip4;
	a[0] = sk->dst_ip6[0];
	a[1] = sk->dst_ip6[1];
	a[2] = sk->dst_ip6[2];
	a[3] = sk->dst_ip6[3];
	bh_barrier_var(ip4);
	bh_barrier_var(a[0]);
	bh_barrier_var(a[1]);
	bh_barrier_var(a[2]);
	bh_barrier_var(a[3]);
	if (sk->family == AF_INET)
		bh_map_v4(t->addr, ip4);
	else
		__builtin_memcpy(t->addr, a, 16);
	t->proto = BH_PROTO_TCP;
	t->dport = bpf_ntohs(sk->dst_port);
	t->sport = sk->src_port;
	return 1;
}

/* Parse the remote end of an IP packet: destination on egress, source on
 * ingress, with protocol and ports (t->dport is always the remote port).
 * Returns 0, or -1 when the packet is not IPv4/IPv6. */
static __always_inline int bh_parse(struct __sk_buff *skb, struct bh_tuple *t, int ingress)
{
	__u32 l4off;
	__u8 nexthdr;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr iph;

		if (bh_load(skb, 0, &iph, sizeof(iph)))
			return -1;
		bh_map_v4(t->addr, ingress ? iph.saddr : iph.daddr);
		nexthdr = iph.protocol;
		l4off = (__u32)iph.ihl * 4;
		if (bpf_ntohs(iph.frag_off) & IP_OFFSET_MASK)
			t->frag = 1;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6h;

		if (bh_load(skb, 0, &ip6h, sizeof(ip6h)))
			return -1;
		if (ingress)
			__builtin_memcpy(t->addr, &ip6h.saddr, 16);
		else
			__builtin_memcpy(t->addr, &ip6h.daddr, 16);
		nexthdr = ip6h.nexthdr;
		l4off = sizeof(ip6h);
		if (nexthdr == IPPROTO_FRAGMENT_HDR) {
			struct frag_hdr fh;

			if (bh_load(skb, l4off, &fh, sizeof(fh)))
				return -1;
			nexthdr = fh.nexthdr;
			l4off += sizeof(fh);
			if (bpf_ntohs(fh.frag_off) & ~0x7)
				t->frag = 1;
		}
	} else {
		return -1;
	}

	t->proto = bh_l4proto(nexthdr);
	if (t->frag)
		return 0;
	if (t->proto == BH_PROTO_TCP || t->proto == BH_PROTO_UDP) {
		__be16 ports[2];

		if (bh_load(skb, l4off, ports, sizeof(ports)))
			return -1;
		t->dport = bpf_ntohs(ingress ? ports[0] : ports[1]);
		t->sport = bpf_ntohs(ingress ? ports[1] : ports[0]);
	} else if (t->proto == BH_PROTO_ICMP && !ingress) {
		__u8 type;

		if (bh_load(skb, l4off, &type, 1))
			return -1;
		/* only echo requests are "icmp"; any other ICMP needs proto any */
		if (type != ICMP_ECHO && type != ICMPV6_ECHO_REQUEST)
			t->proto = BH_PROTO_OTHER;
	}
	return 0;
}

SEC("cgroup_skb/egress")
int bh_egress(struct __sk_buff *skb)
{
	struct bh_src src = { .ctx = skb, .hook = BH_HOOK_EGRESS };
	struct bh_tuple t = {};
	struct bpf_sock *sk;
	struct bh_sk *s;
	__u32 partner;
	__u8 flags;

	sk = skb->sk;
	if (sk)
		sk = bpf_sk_fullsock(sk);
	if (!sk || !bh_tcp_peer(sk, &t)) {
		if (bh_parse(skb, &t, 0))
			return 1;	/* not IP: not ours to judge */
	}
	src.v6 = skb->family == AF_INET6;
	if (sk) {
		s = bh_sk_get(sk, SRC_SKB, skb);
		if (s)
			return bh_judge(s, &t, &src);
	}
	bh_identify(SRC_SKB, skb, &partner, &flags);
	return bh_judge_uncached(partner, flags, &t, &src);
}

/* Receive side: replies of a flow that is no longer covered (revoked, narrowed,
 * expired) are dropped like its outgoing packets; bytes and packets of allowed
 * flows are accounted. Other inbound traffic is not judged: containment is
 * about what a partner reaches, and its answers are judged on egress. */
SEC("cgroup_skb/ingress")
int bh_ingress(struct __sk_buff *skb)
{
	struct bh_src src = { .ctx = skb, .hook = BH_HOOK_INGRESS };
	struct bh_tuple t = {};
	struct bpf_sock *sk;
	struct bh_sk *s;

	sk = skb->sk;
	if (!sk)
		return 1;
	sk = bpf_sk_fullsock(sk);
	if (!sk)
		return 1;
	s = bpf_sk_storage_get(&bh_sk, sk, 0, 0);
	if (!s || (s->flags & (BH_SK_UNKNOWN | BH_SK_OUTSIDE)) || !(s->flags & BH_SK_CACHED))
		return 1;
	if (!bh_tcp_peer(sk, &t) && bh_parse(skb, &t, 1))
		return 1;
	src.v6 = skb->family == AF_INET6;
	if (s->proto == t.proto && s->dport == t.dport && bh_same_addr(s->daddr, t.addr))
		return bh_judge(s, &t, &src);
	bh_flow_account(&src, s, s->partner, &t, 0);
	return 1;
}

/* The owner closed the socket: its counters go into bh_flows now, and what
 * the kernel still sends or receives for it (FIN, ACKs) goes there directly. */
SEC("cgroup/sock_release")
int bh_sock_release(struct bpf_sock *ctx)
{
	struct bh_sk *s = bpf_sk_storage_get(&bh_sk, ctx, 0, 0);

	if (s) {
		s->flags |= BH_SK_RELEASED;
		bh_fold(s);
	}
	return 1;
}

/* Run by the daemon (bh_fold_flows) in each partner network namespace before
 * a flow summary, so sockets idle since their last packet are counted too. */
static __always_inline void bh_fold_sock(struct sock *sk)
{
	struct bh_sk *s = bpf_sk_storage_get(&bh_sk, sk, 0, 0);

	if (s)
		bh_fold(s);
}

SEC("iter/tcp")
int bh_fold_tcp(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct tcp_sock *tp;

	if (!skc)
		return 0;
	tp = bpf_skc_to_tcp_sock(skc);
	if (tp)		/* request and time-wait sockets have no storage */
		bh_fold_sock((struct sock *)tp);
	return 0;
}

SEC("iter/udp")
int bh_fold_udp(struct bpf_iter__udp *ctx)
{
	struct udp_sock *up = ctx->udp_sk;

	if (up)
		bh_fold_sock((struct sock *)up);
	return 0;
}
