/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The kernel boundary for maps: every map bulkhead pins (by name, in the pin
 * directory) and a typed accessor for each use of it. A struct bh_maps comes
 * from a loaded skeleton (the daemon) or from the pin directory (`status`,
 * `list` and `down` while no daemon runs). No other file names a map, a map
 * pin path or skel->maps.
 */
#ifndef BULKHEAD_MAPS_H
#define BULKHEAD_MAPS_H

#include <stddef.h>
#include <stdint.h>
#include <bulkhead/bind.h>
#include <bulkhead/bulkhead.h>
#include <bulkhead/events.h>

struct bulkhead_bpf;
struct bind_bpf;

/* Map fds; -1: not pinned (from a pin directory). cgpaths and bindev are the
 * bind object's (bind.bpf.c), the rest the datapath's. */
struct bh_maps {
	int policy, cgroups, state, counters, pnames, jit, events, flood, flows, lost,
	    reported, flowrep, porgs, cgpaths, bindev;
	int owned;		/* opened from pins: bh_maps_close closes them */
};

/* The skeleton's maps (owned by the skeleton); cgpaths and bindev -1. */
void bh_maps_of_skel(struct bh_maps *m, const struct bulkhead_bpf *skel);
/* Add the bind object's (bh_cgpaths, bh_bindev; owned by its skeleton). */
void bh_maps_of_bind_skel(struct bh_maps *m, const struct bind_bpf *skel);
/* The maps pinned in pin_dir. 0, or -ENOENT when nothing is (no bh_pnames). */
int bh_maps_open_pinned(struct bh_maps *m, const char *pin_dir);
void bh_maps_close(struct bh_maps *m);
/* Before load: the event ring's size. 0 or -errno. */
int bh_maps_set_ring_kib(struct bulkhead_bpf *skel, unsigned int kib);

/* bh_state[0] (zeros when absent), and a read-modify-write of it (only the
 * pin directory lock holder writes it). 0 or -errno. */
int bh_maps_state_read(const struct bh_maps *m, struct bh_state *st);
int bh_maps_state_edit(const struct bh_maps *m, void (*edit)(struct bh_state *st));

/* Per-CPU event accounting, summed. 0 or -errno. */
int bh_maps_lost_read(const struct bh_maps *m, struct bh_lost *sum);
/* The loss totals already reported as events (bh_reported[0]). 0 or -errno. */
int bh_maps_reported_read(const struct bh_maps *m, struct bh_reported *rep);
int bh_maps_reported_write(const struct bh_maps *m, const struct bh_reported *rep);

/* Per-CPU decision counters of a partner id, summed. 0 or -errno. */
int bh_maps_counters_sum(const struct bh_maps *m, uint32_t partner, struct bh_counters *sum);

/* Partner names by id (bh_pnames). 0 or -errno. */
int bh_maps_pname_read(const struct bh_maps *m, uint32_t id, struct bh_pname *n);
int bh_maps_pname_write(const struct bh_maps *m, uint32_t id, const struct bh_pname *n);
/* Partner org and contact by id (bh_porgs). 0 or -errno. */
int bh_maps_porg_read(const struct bh_maps *m, uint32_t id, struct bh_porg *o);
int bh_maps_porg_write(const struct bh_maps *m, uint32_t id, const struct bh_porg *o);

/* Flood windows: visit every one (read in batches); those visit returns 1
 * for are deleted after the walk (a few syscalls for the whole map). */
typedef int (*bh_flood_visit)(void *ctx, const struct bh_flood_key *k,
			      const struct bh_flood_val *v);
void bh_maps_flood_drain(const struct bh_maps *m, bh_flood_visit visit, void *ctx);
/* Denied attempts still in the windows (nobody wrote them). */
uint64_t bh_maps_flood_pending(const struct bh_maps *m);

/* Flows: every (key, value) of bh_flows; forgetting one drops it from
 * bh_flows and bh_flowrep; the counters of a flow's last summary. */
typedef void (*bh_flow_visit)(void *ctx, const struct bh_flow_key *k,
			      const struct bh_flow_val *v);
void bh_maps_flows_each(const struct bh_maps *m, bh_flow_visit visit, void *ctx);
void bh_maps_flow_forget(const struct bh_maps *m, const struct bh_flow_key *k);
int bh_maps_flowrep_read(const struct bh_maps *m, const struct bh_flow_key *k,
			 struct bh_flow_rep *r);
int bh_maps_flowrep_write(const struct bh_maps *m, const struct bh_flow_key *k,
			  const struct bh_flow_rep *r);

/* A new, empty policy trie for max entries (installed by bh_maps_trie_swap).
 * fd or -errno. */
int bh_maps_trie_new(size_t max);
/* Add n entries to trie fd: in batches where the kernel can, else one by one
 * (*one_by_one remembers which). 0 or -errno. */
int bh_maps_trie_fill(int fd, const struct bh_lpm_key *keys, const struct bh_lpm_val *vals,
		      size_t n, int *one_by_one);
/* The longest-prefix entry of trie fd for k. 0 or -errno (-ENOENT: none). */
int bh_maps_trie_lookup(int fd, const struct bh_lpm_key *k, struct bh_lpm_val *v);
/* Every (key, value) of trie fd, in the kernel's order; visit returns
 * non-zero to stop. 0 or -errno. */
int bh_maps_trie_each(int fd, int (*visit)(void *ctx, const struct bh_lpm_key *k,
					   const struct bh_lpm_val *v), void *ctx);
/* The policy trie: install trie_fd (atomic swap), or an fd of the one in
 * force. 0 / fd, or -errno. */
int bh_maps_trie_swap(const struct bh_maps *m, int trie_fd);
int bh_maps_trie_current(const struct bh_maps *m);

/* cgroup bindings (bh_cgroups). 0 or -errno. */
int bh_maps_cgroup_bind(const struct bh_maps *m, uint64_t cgid, const struct bh_cgroup_val *v);
int bh_maps_cgroup_lookup(const struct bh_maps *m, uint64_t cgid, struct bh_cgroup_val *v);
int bh_maps_cgroup_unbind(const struct bh_maps *m, uint64_t cgid);	/* absent: not an error */
/* Drop every binding keep(ctx, cgid) does not keep. */
void bh_maps_cgroups_prune(const struct bh_maps *m, int (*keep)(void *ctx, uint64_t cgid),
			   void *ctx);

/* Bound cgroup paths (bh_cgpaths): the key after k (NULL: the first), an
 * entry, its replacement (flags: BPF_ANY, BPF_EXIST), its removal. 0 or
 * -errno (-ENOENT: no more / none). */
int bh_maps_cgpath_next(const struct bh_maps *m, const struct bh_cgpath_key *k,
			struct bh_cgpath_key *next);
int bh_maps_cgpath_get(const struct bh_maps *m, const struct bh_cgpath_key *k,
		       struct bh_cgpath_val *v);
int bh_maps_cgpath_put(const struct bh_maps *m, const struct bh_cgpath_key *k,
		       const struct bh_cgpath_val *v, uint64_t flags);
int bh_maps_cgpath_del(const struct bh_maps *m, const struct bh_cgpath_key *k);

/* The JIT record map (bh_jit_v2, or a layout-1 bh_jit), by fd (m->jit). */
int bh_maps_jit_next(int fd, const uint32_t *key, uint32_t *next);
int bh_maps_jit_get(int fd, uint32_t key, struct bh_jit *r);
int bh_maps_jit_put(int fd, uint32_t key, const struct bh_jit *r);
int bh_maps_jit_del(int fd, uint32_t key);	/* an absent key is not an error */
/* The pinned record map of pin_dir: bh_jit_v2 (*v1 = 0), else a layout-1
 * bh_jit (*v1 = 1). fd, -ENOENT (neither) or -errno. */
int bh_maps_jit_open_pinned(const char *pin_dir, int *v1);
/* The layout-1 bh_jit alone: fd, -ENOENT or -EPROTO (another layout). */
int bh_maps_jit_open_v1(const char *pin_dir);
int bh_maps_jit_unpin_v1(const char *pin_dir);
/* Layout 1's record size: layout 2's first part. */
#define BH_JIT_V1_SIZE 288

#endif
