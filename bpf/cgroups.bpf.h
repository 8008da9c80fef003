/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * bh_cgroups, the identity map (cgroup id -> binding, include/bulkhead/
 * bulkhead.h), and bh_idgen, its change counter, declared once for both BPF
 * objects: the datapath reads them, the binding at creation (bind.bpf.c)
 * writes bh_cgroups; both share their pins.
 */
#ifndef BULKHEAD_CGROUPS_BPF_H
#define BULKHEAD_CGROUPS_BPF_H

#include <bulkhead/bulkhead.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BH_MAX_CGROUPS);
	__type(key, __u64);
	__type(value, struct bh_cgroup_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bh_cgroups SEC(".maps");

/* bh_idgen[0]: incremented by userspace after every change of bh_cgroups
 * (bh_idc entries of an older value are not used; bulkhead.h). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bh_idgen SEC(".maps");

#endif
