/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Network namespaces of partner processes. Sockets are only visible (to
 * sock_diag, to socket iterators) from inside their namespace, so whatever
 * walks a partner's sockets walks each namespace its processes use.
 */
#ifndef BULKHEAD_NETNS_H
#define BULKHEAD_NETNS_H

#include <stddef.h>
#include <sys/types.h>

struct bh_netns {
	dev_t dev;
	ino_t ino;
	int fd;		/* nsfs fd; -1 for the caller's own namespace */
};

struct bh_netns_set {
	struct bh_netns *v;
	size_t n, cap;
};

/*
 * The caller's own namespace (fd -1), then that of every process in
 * cgroup.procs of every cgroup below dirs (absolute cgroup2 directory paths,
 * read recursively; a missing directory counts as empty, one outside cgroup2
 * is -EINVAL and is not walked), deduplicated by nsfs inode. A failure in one
 * subtree is logged and does not stop the others; the first is returned.
 */
int bh_netns_collect(struct bh_netns_set *set, const char *const *dirs, size_t n);
void bh_netns_free(struct bh_netns_set *set);

/*
 * fn(arg) inside the namespace nsfd (-1: the caller's own, on the caller's
 * thread), on a short-lived thread that only does setns(CLONE_NEWNET) and fn:
 * the caller's threads never change namespace. Returns fn's result or -errno.
 * What fn creates (a socket, an iterator) stays bound to that namespace.
 */
int bh_netns_run(int nsfd, int (*fn)(void *arg), void *arg);

#endif
