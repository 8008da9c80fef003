/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Binding at creation (bpf/bind.bpf.c) and its fallback: opens the bind
 * object over the pinned maps, attaches and pins its two tracepoint links,
 * writes the bound paths (bh_cgpaths), and rescans them where the
 * tracepoints cannot be used.
 */
#ifndef BULKHEAD_BIND_USER_H
#define BULKHEAD_BIND_USER_H

#include <stddef.h>
#include <stdint.h>
#include <bulkhead/bind.h>

enum bh_bind_mode {
	BH_BIND_MODE_RESCAN = 0,	/* the daemon's periodic rescan binds */
	BH_BIND_MODE_CREATION = 1,	/* the kernel binds at mkdir */
};

/* Pins of the two tracepoint links, under pin_dir/links. */
#define BH_BIND_LINK_MKDIR "bind-mkdir"
#define BH_BIND_LINK_RMDIR "bind-rmdir"

struct bh_bind;
struct bh_maps;

/* Open the bind object over the maps pinned in pin_dir (the datapath's
 * bh_cgroups must be pinned already; bh_cgpaths and bh_bindev are created
 * and pinned if absent) and add its maps to maps (which must outlive b).
 * With use_tp, load, attach and pin the tracepoint programs (kept when the
 * pinned links run the same programs, else replaced: the new one attaches
 * before the old one goes); if that fails, or without use_tp, load the maps
 * only and detach pinned bind links: rescan mode. 0 or -errno (logged). */
int bh_bind_open(struct bh_bind **b, const char *pin_dir, int use_tp, struct bh_maps *maps);
/* NULL is ignored. Pinned state (maps, links) stays. */
void bh_bind_close(struct bh_bind *b);
/* Before load: add the bind object's maps to fit (bh_maps_pins_fit). 0 or
 * -errno (the object cannot be opened). */
struct bh_pin_fit;
int bh_bind_pins_fit(const char *pin_dir, struct bh_pin_fit *fit);

enum bh_bind_mode bh_bind_mode(const struct bh_bind *b);
/* "at-creation" or "rescan". */
const char *bh_bind_mode_str(enum bh_bind_mode m);
/* The mode the pins say (no daemon needed): at-creation when both links are pinned. */
enum bh_bind_mode bh_bind_mode_pinned(const char *pin_dir);
/* "apply", "rescan", "creation" or NULL (enum bh_bound_by). */
const char *bh_bound_by_str(unsigned int how);

/* Lifecycle records the bh_bindev ring had no room for, over the bound paths. */
uint64_t bh_bind_lost(const struct bh_maps *m);

/* "/" + rel as a key. 0 or -ENAMETOOLONG (rel needs BH_CG_PATH_MAX - 2 bytes
 * or fewer). */
int bh_cgpath_key_of(const char *rel, struct bh_cgpath_key *k);

/* One bound path of a policy: rel is relative to the cgroup2 mount; cgid the
 * id it has now (0: absent). */
struct bh_bound_path {
	const char *rel;
	uint32_t partner;
	uint64_t cgid;
};

/* Make bh_cgpaths hold exactly v: entries are added or updated (a present
 * path's id is recorded as bound by apply when it changed; the kernel's
 * counts are kept), others are deleted. 0 or -errno (logged). */
int bh_bind_set_paths(struct bh_bind *b, const struct bh_bound_path *v, size_t n);

/* Is id the current id of a bound path (bound by the kernel, maybe after the
 * caller looked)? */
int bh_bind_is_current(const struct bh_bind *b, uint64_t id);

/* Rescan mode: every bound path whose cgroup id changed since it was last
 * bound (recreated, created, removed) is bound anew in bh_cgroups,
 * the stale id removed, and on_ev called for each bind and unbind (how
 * BH_BOUND_RESCAN). cg2: the cgroup2 mount. Returns the number of changes. */
int bh_bind_rescan(struct bh_bind *b, const char *cg2,
		   void (*on_ev)(void *ctx, const struct bh_bindev *e), void *ctx);

#endif
