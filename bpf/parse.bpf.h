/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Packet parsing for cgroup_skb (data starts at the IP header): the remote
 * end of a packet as a struct bh_tuple, from a connected TCP socket's peer
 * when there is one, else from the IPv4/IPv6 header (fragments included) and
 * the transport ports or ICMP type.
 */
#ifndef BH_PARSE_BPF_H
#define BH_PARSE_BPF_H

#include <bpf/bpf_endian.h>
#include "tuple.bpf.h"

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
	bh_sk_end_addrs(sk, dst, ip4, a);
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

#endif /* BH_PARSE_BPF_H */
