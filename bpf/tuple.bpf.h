/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * What every hook hands to the rest of the datapath: the tuple a decision is
 * about (struct bh_tuple: remote address as IPv6 or IPv4-mapped, remote port,
 * protocol), where it was seen (struct bh_src, for the event it may raise),
 * the address and protocol helpers that build them, and the constants
 * vmlinux.h does not carry.
 */
#ifndef BH_TUPLE_BPF_H
#define BH_TUPLE_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bulkhead/bulkhead.h>
#include <bulkhead/events.h>

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

/* Both addresses of one end of a socket (end: src or dst) into ip4 and a[4],
 * read unconditionally: the verifier allows only constant offsets into a
 * socket, which a branch-dependent address would not be. The barriers keep
 * the loads ahead of the branch that picks one. */
#define bh_sk_end_addrs(sk, end, ip4, a)		\
	do {						\
		ip4 = (sk)->end##_ip4;			\
		a[0] = (sk)->end##_ip6[0];		\
		a[1] = (sk)->end##_ip6[1];		\
		a[2] = (sk)->end##_ip6[2];		\
		a[3] = (sk)->end##_ip6[3];		\
		bh_barrier_var(ip4);			\
		bh_barrier_var(a[0]);			\
		bh_barrier_var(a[1]);			\
		bh_barrier_var(a[2]);			\
		bh_barrier_var(a[3]);			\
	} while (0)

struct bh_tuple {
	__u8  addr[16];		/* IPv6 or IPv4-mapped */
	__u16 dport;		/* host order; 0 for icmp/other */
	__u16 sport;		/* host order; 0 when not known yet */
	__u8  proto;		/* enum bh_proto */
	__u8  frag;		/* non-first fragment: port unknown */
};

/* Where a decision is taken, for the event it may raise. */
struct bh_src {
	void *ctx;		/* struct bpf_sock_addr * or struct __sk_buff *; NULL in a
				   fold (iterator, release): the origin is the socket's owner */
	__u8 hook;		/* enum bh_hook */
	__u8 v6;
};

static __always_inline void bh_map_v4(__u8 *addr, __u32 ip4_be)
{
	__builtin_memset(addr, 0, 10);
	addr[10] = 0xff;
	addr[11] = 0xff;
	__builtin_memcpy(addr + 12, &ip4_be, 4);
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

#endif /* BH_TUPLE_BPF_H */
