/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * bh_cgroups, the identity map (cgroup id -> binding, include/bulkhead/
 * bulkhead.h), declared once for both BPF objects: the datapath reads it,
 * the binding at creation (bind.bpf.c) writes it; both share its pin.
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

#endif
