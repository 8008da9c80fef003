/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Load, pin, attach and apply: everything that touches the kernel. */
#ifndef BULKHEAD_LOADER_H
#define BULKHEAD_LOADER_H

#include <limits.h>
#include <stdint.h>
#include <bulkhead/bind.h>
#include "policy.h"

#define BH_DEFAULT_PIN_DIR "/sys/fs/bpf/bulkhead"
#define BH_DEFAULT_LOG_DIR "/var/log/bulkhead"

struct bulkhead_bpf;
struct bh_bind;

struct bh_attach_point {
	char *path;		/* relative to the cgroup2 mount */
	uint64_t cgid;
};

struct bh_loader {
	char pin_dir[PATH_MAX];
	char cg2[PATH_MAX];	/* cgroup2 mount point */
	int lock_fd;
	struct bulkhead_bpf *skel;
	size_t npoints;
	struct bh_attach_point *points;
	/* partner names by id: the pinned bh_pnames, read once at open (this
	 * loader holds the pin lock, so it is the only writer) */
	struct bh_pname *names;
	/* attach points whose links this loader already attached or updated */
	size_t nattached;
	uint64_t *attached;
	/* binding at creation, or the rescan fallback (user/bind.c) */
	struct bh_bind *bind;
	/* bh_fold_tcp, bh_fold_udp iterators (flows.c), made on first use */
	struct bpf_link *fold_links[2];
	/* the pin directory held no pins when this loader locked it (nothing
	 * to adopt), and this loader created the directory itself */
	int fresh;
	int made_dir;
};

/* The pin directory's exclusive lock (the daemon's, or `down`'s), on its open
 * fd: waits up to a second for a reader's brief shared probe (`status`) to
 * pass; fails with errno EWOULDBLOCK when another daemon holds it. 0 or -1. */
int bh_lock_pin_dir(int fd);

/* Mount bpffs at /sys/fs/bpf if needed, create pin_dir. 0 or -errno. */
int bh_pin_prepare(const char *pin_dir);

/* Open + load the skeleton, reusing maps pinned in pin_dir (adoption), and
 * take the pin directory lock; then the bind object (bind_tp: binding at
 * creation if the kernel can, else the rescan; 0: the rescan). ring_kib:
 * event ring size (0 = built-in default; must match a pinned ring). 0 or
 * -errno (logged). */
int bh_loader_open(struct bh_loader *l, const char *pin_dir, unsigned int ring_kib,
		   int bind_tp);
void bh_loader_close(struct bh_loader *l);

/* Resolve cgroups, compile, swap the policy trie, bind cgroups, attach (or
 * link-update) programs at every attach point and detach stale ones.
 * Nothing the programs see changes before every path is resolved and the
 * policy compiled: it is compiled straight into a new trie, which is
 * installed only once complete (and dropped on any error). 0, or -errno with
 * the reasons in errs. */
int bh_apply(struct bh_loader *l, struct bh_policy *p, struct bh_errors *errs);

/* The rescan: bound paths whose cgroup was created, recreated or removed
 * since they were last bound are bound anew (in rescan mode: every change;
 * at creation: what a race with apply left). on_ev gets a record for each
 * bind and unbind. Returns the number of changes. */
int bh_rescan(struct bh_loader *l, void (*on_ev)(void *ctx, const struct bh_bindev *e),
	      void *ctx);

/* Sockets fold their traffic counters into bh_flows at their next packet
 * (bh_state.fold_epoch). 0 or -errno. */
int bh_advance_fold_epoch(struct bh_loader *l);

/* Absolute cgroup2 paths of the attach points, NULL-terminated (free with
 * bh_free_strv), or NULL when out of memory. */
char **bh_point_dirs(const struct bh_loader *l);
void bh_free_strv(char **v);

/* Detach and unpin everything under pin_dir and remove it, holding the pin
 * directory lock. 0, -EWOULDBLOCK (not logged: a daemon holds the lock; ask
 * it) or another -errno (logged). */
int bh_down(const char *pin_dir);
/* The same from the loader holding the lock (`down` through the daemon).
 * *nlinks counts the links detached. 0 or -errno (logged). */
int bh_loader_unpin(struct bh_loader *l, int *nlinks);
/* A `run` that failed before it enforced anything: when the pin directory
 * was fresh, remove what this loader pinned (and the directory, if it made
 * it), so nothing half-loaded stays behind. Adopted pins are never touched. */
void bh_loader_discard(struct bh_loader *l);

#endif
