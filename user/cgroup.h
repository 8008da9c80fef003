/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
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

#endif
