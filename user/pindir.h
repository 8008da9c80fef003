/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The pin directory: bpffs, creation, the lock, pinned links, `down`.
 */
#ifndef BULKHEAD_PINDIR_H
#define BULKHEAD_PINDIR_H

#include <stddef.h>
#include <stdint.h>

/* The pin directory's exclusive lock (the daemon's, or `down`'s), on its open
 * fd: waits up to a second for a reader's brief shared probe (`status`) to
 * pass; fails with errno EWOULDBLOCK when another daemon holds it. 0 or -1. */
int bh_lock_pin_dir(int fd);

/* Mount bpffs at /sys/fs/bpf if needed, create pin_dir. 0 or -errno. */
int bh_pin_prepare(const char *pin_dir);

/* Detach and unpin everything under pin_dir and remove it, holding the pin
 * directory lock. 0, -EWOULDBLOCK (not logged: a daemon holds the lock; ask
 * it) or another -errno (logged). */
int bh_down(const char *pin_dir);
/* pin_dir holds no pin (links/ aside, and empty), or is absent. */
int bh_pin_dir_empty(const char *pin_dir);
/* Detach and unpin the links in pin_dir/links but those keep(ctx, cgroup id)
 * keeps (keep NULL: all). *n counts them. 0 or the first -errno (logged). */
int bh_pin_detach_links(const char *pin_dir, int (*keep)(void *ctx, uint64_t cgid), void *ctx,
			int *n);
/* Detach every pinned link, unpin every map, remove links/ and, with rm_dir,
 * pin_dir itself. *nlinks counts the links. 0 or the first -errno (logged). */
int bh_pin_remove_all(const char *pin_dir, int rm_dir, int *nlinks);
/* The pin of program prog's link at cgroup cgid. */
void bh_pin_link_path(char *buf, size_t len, const char *pin_dir, uint64_t cgid,
		      const char *prog);
/* The pin of a link that is no cgroup's (name: not starting with a digit;
 * suffix appended, "" for none): bind.c's tracepoint links. */
void bh_pin_named_link_path(char *buf, size_t len, const char *pin_dir, const char *name,
			    const char *suffix);
/* Each pinned link of pin_dir: visit(ctx, its pin name, an fd of it). */
void bh_links_each(const char *pin_dir, void (*visit)(void *ctx, const char *name, int fd),
		   void *ctx);

#endif
