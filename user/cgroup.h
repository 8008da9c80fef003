/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * cgroup v2: the mount point, cgroup ids, and the one walk of a cgroup
 * subtree (openat-based, no globals) every caller shares.
 */
#ifndef BULKHEAD_CGROUP_H
#define BULKHEAD_CGROUP_H

#include <stddef.h>
#include <stdint.h>

/* Mount point of the cgroup v2 hierarchy, from /proc/self/mountinfo.
 * Returns 0 or -ENOENT (no cgroup2 mounted). */
int bh_cgroup2_mount(char *buf, size_t len);

/* cgroup id (kernfs node id) of the directory at path. 0 or -errno. */
int bh_cgroup_id(const char *path, uint64_t *id);

/* "a/b/c" is at or below "a/b" (both relative, no leading '/'). */
int bh_path_under(const char *path, const char *ancestor);

/* cgroup id of the directory open at dfd. 0 or -errno. */
int bh_cgroup_id_fd(int dfd, uint64_t *id);

/* One cgroup of a walk: dfd is open on it (valid during the call only), path
 * is relative to the walk's root ("" for the root itself), level 0 is the
 * root. */
struct bh_cgroup_entry {
	int dfd;
	const char *path;
	int level;
	uint64_t id;		/* 0 when it could not be read */
};

/* Return 0 to go on, BH_WALK_SKIP to skip the cgroups below this one, any
 * other value to end the walk with it. */
#define BH_WALK_SKIP 1
typedef int (*bh_cgroup_visit)(void *ctx, const struct bh_cgroup_entry *e);

/*
 * visit(ctx, ...) for the cgroup open at rootfd (stays the caller's) and every
 * cgroup below it, parents first, not below max_depth levels (-1: all).
 * Symlinks are not followed; a cgroup removed meanwhile is skipped. Returns
 * the value that ended the walk, 0, or the first -errno met listing it.
 */
int bh_cgroup_walk_fd(int rootfd, int max_depth, bh_cgroup_visit visit, void *ctx);
/* The same from a path; a root that cannot be opened is -errno. */
int bh_cgroup_walk(const char *root, int max_depth, bh_cgroup_visit visit, void *ctx);

#endif
