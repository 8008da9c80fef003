/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Every map of the kernel datapath, declared in one place, BTF-style, each
 * pinned by name under the pin directory (/sys/fs/bpf/bulkhead/ by default).
 * These names and layouts are the kernel/user boundary: the types live in
 * include/bulkhead/, userspace reaches the maps through the skeleton or the
 * pins. Maps marked "userspace only" are never touched by the programs; they
 * are declared here so that one object owns every pin.
 */
#ifndef BH_MAPS_BPF_H
#define BH_MAPS_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bulkhead/bulkhead.h>
#include <bulkhead/events.h>

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

#endif /* BH_MAPS_BPF_H */
