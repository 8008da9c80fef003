/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Identity: which partner a socket or packet belongs to. The deepest bound
 * cgroup ancestor (bh_cgroups) names the partner; sockets are tagged once
 * with it in their storage (bh_sk) at creation, or at first sight when they
 * were created before bulkhead attached.
 */
#ifndef BH_IDENTITY_BPF_H
#define BH_IDENTITY_BPF_H

#include "maps.bpf.h"

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

#endif /* BH_IDENTITY_BPF_H */
