/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Binding at creation (bpf/bind.bpf.c): the bound cgroup paths the loader
 * writes (bh_cgpaths), what the kernel records in them at mkdir/rmdir, and
 * the lifecycle records it sends (bh_bindev ring). Fixed-width types and
 * explicit padding only: the layout is the ABI of pinned maps.
 */
#ifndef BULKHEAD_BIND_H
#define BULKHEAD_BIND_H

#include <bulkhead/bulkhead.h>

/* A cgroup path as the cgroup_mkdir tracepoint passes it: from the root of
 * the cgroup2 hierarchy, with a leading '/' ("/partners.slice/acme.service"),
 * with its NUL. Longer bound paths are bound by the daemon's rescan only. */
#define BH_CG_PATH_MAX 256
#define BH_MAX_CGPATHS 4096
#define BH_BINDEV_RING (256 << 10)	/* bytes: about 900 lifecycle records */

/*
 * bh_cgpaths key: the exact path, NUL padded to the full size (the hash
 * compares every byte). Not a hash of the path: a partner allowed to make
 * its own sub-cgroups (Delegate=) could craft a colliding name.
 */
struct bh_cgpath_key {
	char path[BH_CG_PATH_MAX];
};

/* How the current cgroup id of a bound path was bound. */
enum bh_bound_by {
	BH_BOUND_NONE     = 0,	/* the path does not exist now */
	BH_BOUND_APPLY    = 1,	/* the loader, when a policy was applied */
	BH_BOUND_RESCAN   = 2,	/* the daemon's periodic rescan (fallback mode) */
	BH_BOUND_CREATION = 3,	/* the kernel, at mkdir (tp_btf/cgroup_mkdir) */
};

/* bh_cgpaths value: partner written by the loader; the rest by whoever binds
 * (the kernel at mkdir/rmdir, the loader at apply, the daemon at rescan). */
struct bh_cgpath_val {
	__u64 cgid;		/* cgroup id bound now; 0 while the path is absent */
	__u64 last_cgid;	/* the id bound before (the old id of the next bind) */
	__u64 bound_ns;		/* CLOCK_BOOTTIME of the last bind */
	__u64 binds;		/* bindings made at creation (kernel) */
	__u64 unbinds;		/* ids dropped at rmdir (kernel) */
	__u64 ev_lost;		/* lifecycle records of this path the ring lost */
	__u32 partner;
	__u8  how;		/* enum bh_bound_by of cgid */
	__u8  pad[3];
};

enum bh_bindev_what {
	BH_BINDEV_BIND   = 1,	/* a bound path's new cgroup got its partner */
	BH_BINDEV_UNBIND = 2,	/* a bound path's cgroup was removed */
};

/* bh_bindev ring record: one per bind and unbind made in the kernel, kept
 * in the pinned ring while no daemon runs. */
struct bh_bindev {
	__u64 ts_boot_ns;
	__u64 old_cgid;		/* bind: the id bound before (0: first); unbind: the id removed */
	__u64 new_cgid;		/* bind: the new id; unbind: 0 */
	__u32 partner;
	__u8  what;		/* enum bh_bindev_what */
	__u8  how;		/* enum bh_bound_by */
	__u8  pad[2];
	char  path[BH_CG_PATH_MAX];	/* the key (raw kernel bytes) */
};

#endif /* BULKHEAD_BIND_H */
