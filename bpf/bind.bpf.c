// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * bulkhead binding at creation: a cgroup whose path the policy binds gets its
 * partner in bh_cgroups when it is created, before any process can enter it,
 * and loses it when it is removed, so a restarted service keeps its identity
 * and bh_cgroups stays bounded however often services restart.
 *
 *   tp_btf/cgroup_mkdir   bh_cgroups[new id] = {partner, BH_CG_BOUND}
 *   tp_btf/cgroup_rmdir   delete bh_cgroups[id]
 *
 * Both run synchronously in mkdir(2)/rmdir(2), under cgroup_mutex, before the
 * new directory is activated in kernfs: no process can be moved into the new
 * cgroup before its binding is in place. A separate object from the datapath
 * (bulkhead.bpf.c), so a kernel without these tracepoints still loads the
 * datapath (the daemon then falls back to its periodic rescan). The maps are
 * the datapath's, reused through their pins (user/bind.c).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bulkhead/bulkhead.h>
#include <bulkhead/bind.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The datapath's identity map, by its pin. */
#include "cgroups.bpf.h"

/* Bound paths -> partner (the loader), current id (whoever binds). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BH_MAX_CGPATHS);
	__type(key, struct bh_cgpath_key);
	__type(value, struct bh_cgpath_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bh_cgpaths SEC(".maps");

/* Lifecycle records (bind, unbind) for the daemon's `lifecycle` events. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, BH_BINDEV_RING);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bh_bindev SEC(".maps");

/* The key is too large for the BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bh_cgpath_key);
} bh_cgpath_tmp SEC(".maps");

/* path as a bh_cgpaths key; NULL for cgroup v1 hierarchies (their ids are
 * another kernfs root's) and for paths too long to be a key (the loader
 * never stores one). */
static __always_inline struct bh_cgpath_key *bh_cgpath_key(struct cgroup *cgrp, const char *path)
{
	struct bh_cgpath_key *k;
	__u32 zero = 0;
	long n;

	if (cgrp->root->hierarchy_id != 0)
		return NULL;
	k = bpf_map_lookup_elem(&bh_cgpath_tmp, &zero);
	if (!k)
		return NULL;
	__builtin_memset(k, 0, sizeof(*k));
	n = bpf_probe_read_kernel_str(k->path, sizeof(k->path), path);
	if (n <= 0 || n >= (long)sizeof(k->path))
		return NULL;
	return k;
}

static __always_inline void bh_bindev_send(const struct bh_cgpath_key *k, struct bh_cgpath_val *pv,
					   __u8 what, __u64 old_id, __u64 new_id, __u64 now)
{
	struct bh_bindev *e = bpf_ringbuf_reserve(&bh_bindev, sizeof(*e), 0);

	if (!e) {
		__sync_fetch_and_add(&pv->ev_lost, 1);
		return;
	}
	e->ts_boot_ns = now;
	e->old_cgid = old_id;
	e->new_cgid = new_id;
	e->partner = pv->partner;
	e->what = what;
	e->how = BH_BOUND_CREATION;
	e->pad[0] = e->pad[1] = 0;
	__builtin_memcpy(e->path, k->path, sizeof(e->path));
	bpf_ringbuf_submit(e, 0);
}

SEC("tp_btf/cgroup_mkdir")
int BPF_PROG(bh_cg_mkdir, struct cgroup *cgrp, const char *path)
{
	struct bh_cgroup_val cv = { .kind = BH_CG_BOUND };
	struct bh_cgpath_key *k;
	struct bh_cgpath_val *pv;
	__u64 id, now;

	k = bh_cgpath_key(cgrp, path);
	if (!k)
		return 0;
	pv = bpf_map_lookup_elem(&bh_cgpaths, k);
	if (!pv || pv->partner == BH_PARTNER_UNKNOWN)
		return 0;
	id = cgrp->kn->id;
	cv.partner = pv->partner;
	if (bpf_map_update_elem(&bh_cgroups, &id, &cv, BPF_ANY))
		return 0;	/* map full: the cgroup stays fail-closed */
	now = bpf_ktime_get_boot_ns();
	if (pv->cgid)
		pv->last_cgid = pv->cgid;	/* its rmdir was not seen */
	pv->cgid = id;
	pv->how = BH_BOUND_CREATION;
	pv->bound_ns = now;
	__sync_fetch_and_add(&pv->binds, 1);
	bh_bindev_send(k, pv, BH_BINDEV_BIND, pv->last_cgid, id, now);
	return 0;
}

SEC("tp_btf/cgroup_rmdir")
int BPF_PROG(bh_cg_rmdir, struct cgroup *cgrp, const char *path)
{
	struct bh_cgpath_key *k;
	struct bh_cgpath_val *pv;
	__u64 id;

	if (cgrp->root->hierarchy_id != 0)
		return 0;
	id = cgrp->kn->id;
	/* every removed cgroup: also bindings made by the loader or the rescan,
	 * partner roots and anchors (their links die with the cgroup) */
	bpf_map_delete_elem(&bh_cgroups, &id);
	k = bh_cgpath_key(cgrp, path);
	if (!k)
		return 0;
	pv = bpf_map_lookup_elem(&bh_cgpaths, k);
	if (!pv || pv->cgid != id)
		return 0;
	pv->last_cgid = id;
	pv->cgid = 0;
	pv->how = BH_BOUND_NONE;
	__sync_fetch_and_add(&pv->unbinds, 1);
	bh_bindev_send(k, pv, BH_BINDEV_UNBIND, id, 0, bpf_ktime_get_boot_ns());
	return 0;
}
