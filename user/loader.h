/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Load, attach and apply: the BPF object, its programs and their links, the
 * cgroup bindings and the policy trie, through the map accessors of maps.h
 * (the pin directory itself is pindir.h's). struct bh_loader is opaque.
 */
#ifndef BULKHEAD_LOADER_H
#define BULKHEAD_LOADER_H

#include <limits.h>
#include <stdint.h>
#include <bulkhead/bind.h>
#include "bind.h"
#include "pindir.h"
#include "policy.h"

#define BH_DEFAULT_PIN_DIR "/sys/fs/bpf/bulkhead"
#define BH_DEFAULT_LOG_DIR "/var/log/bulkhead"
#define BH_DEFAULT_STATE_DIR "/var/lib/bulkhead"

struct bh_loader;
struct bh_maps;
struct bpf_link;

/* Open + load the skeleton, reusing maps pinned in pin_dir (adoption), and
 * take the pin directory lock; then the bind object (bind_tp: binding at
 * creation if the kernel can, else the rescan; 0: the rescan). ring_kib:
 * event ring size (0 = built-in default; must match a pinned ring). 0 or
 * -errno (logged). */
int bh_loader_open(struct bh_loader **l, const char *pin_dir, unsigned int ring_kib,
		   int bind_tp);
/* Frees l (NULL is ignored). */
void bh_loader_close(struct bh_loader *l);

/* The pin directory and the cgroup2 mount point. */
const char *bh_loader_pin_dir(const struct bh_loader *l);
const char *bh_loader_cg2(const struct bh_loader *l);
/* The maps of the loaded object. */
const struct bh_maps *bh_loader_maps(const struct bh_loader *l);
/* A partner's name by kernel id, NULL when none has it. */
const char *bh_loader_partner(const struct bh_loader *l, uint32_t id);
/* The attach points (relative to the cgroup2 mount): how many, the i-th. */
size_t bh_loader_npoints(const struct bh_loader *l);
const char *bh_loader_point(const struct bh_loader *l, size_t i);
/* NULL when the UNIX socket hooks are attached, else why not (unix.h). */
const char *bh_loader_unix_unavailable(const struct bh_loader *l);
/* How recreated bound cgroups are bound (bind.h). */
enum bh_bind_mode bh_loader_bind_mode(const struct bh_loader *l);
/* The socket iterator k (0: bh_fold_tcp, 1: bh_fold_udp), attached on first
 * use and kept with the loader; NULL with errno set. */
struct bpf_link *bh_loader_fold_iter(struct bh_loader *l, int k);
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

/* The same from the loader holding the lock (`down` through the daemon).
 * *nlinks counts the links detached. 0 or -errno (logged). */
int bh_loader_unpin(struct bh_loader *l, int *nlinks);
/* A `run` that failed before it enforced anything: when the pin directory
 * was fresh, remove what this loader pinned (and the directory, if it made
 * it), so nothing half-loaded stays behind. Adopted pins are never touched. */
void bh_loader_discard(struct bh_loader *l);

#endif
