// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * bulkhead kernel datapath: the hooks (the SEC() programs), nothing else.
 *
 * Attached (bpf_link, BPF_F_ALLOW_MULTI) only at the top of partner subtrees:
 * partner_root, and the parent directory (an anchor) of each bound cgroup
 * outside it, so the programs outlive the bound cgroup's recreation.
 * Processes elsewhere run no bulkhead code at all; siblings of such a bound
 * cgroup run sock_create's identity walk and pass (BH_SK_OUTSIDE). Binding at
 * creation is another object (bind.bpf.c).
 *
 *   cgroup/sock_create   tag the socket with its partner (socket storage)
 *   cgroup/connect4|6    decide at connect, EPERM on deny
 *   cgroup/sendmsg4|6    decide at unconnected UDP send, EPERM on deny
 *   cgroup_skb/egress    every packet: cached verdict if still valid, else decide
 *   cgroup_skb/ingress   replies of flows no longer covered dropped; accounting
 *   cgroup/sock_release  the socket's counters folded into bh_flows
 *   iter/tcp, iter/udp   run by the daemon: fold idle sockets before a summary
 *
 * What the hooks call, one header a concern (all static __always_inline):
 *   maps.bpf.h      every map, pinned by name
 *   tuple.bpf.h     the tuple and its source, address and protocol helpers
 *   identity.bpf.h  partner of a cgroup, socket tagging (bh_sk)
 *   parse.bpf.h     the remote end of a packet
 *   verdict.bpf.h   the policy decision and its precedence, counters
 *   report.bpf.h    ring events, deny aggregation (bh_flood), losses
 *   flows.bpf.h     flow accounting (bh_flows), folding socket counters
 *   judge.bpf.h     the socket verdict cache tying decision, flows and report
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bulkhead/bulkhead.h>
#include <bulkhead/events.h>
#include "maps.bpf.h"
#include "tuple.bpf.h"
#include "identity.bpf.h"
#include "parse.bpf.h"
#include "verdict.bpf.h"
#include "report.bpf.h"
#include "flows.bpf.h"
#include "judge.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

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
