// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The network namespaces a set of cgroup subtrees uses, and running code
 * inside one of them (see netns.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>

#include "cgroup.h"
#include "log.h"
#include "netns.h"


/* Takes ownership of fd (closed if the namespace is already known). */
static int netns_add_fd(struct bh_netns_set *set, int fd, bool self)
{
	struct bh_netns *v;
	struct stat st;
	bool keep = false;
	size_t i;
	int err = 0;

	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto out;
	}
	for (i = 0; i < set->n; i++)
		if (set->v[i].dev == st.st_dev && set->v[i].ino == st.st_ino)
			goto out;
	if (set->n == set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 8;

		v = realloc(set->v, cap * sizeof(*v));
		if (!v) {
			err = -ENOMEM;
			goto out;
		}
		set->v = v;
		set->cap = cap;
	}
	set->v[set->n].dev = st.st_dev;
	set->v[set->n].ino = st.st_ino;
	set->v[set->n].fd = self ? -1 : fd;
	set->n++;
	keep = !self;	/* the set owns the fd of a partner's namespace */
out:
	if (!keep)
		close(fd);
	return err;
}

/* Namespace of one process; a process that is gone is skipped. */
static int netns_add_pid(struct bh_netns_set *set, long pid)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/ns/net", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return (errno == ENOENT || errno == ESRCH) ? 0 : -errno;
	return netns_add_fd(set, fd, false);
}

static int cgroup_read_procs(struct bh_netns_set *set, int dfd)
{
	FILE *f = NULL;
	long pid;
	int fd, err = 0;

	fd = openat(dfd, "cgroup.procs", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = errno == ENOENT ? 0 : -errno; /* removed meanwhile */
		goto out;
	}
	f = fdopen(fd, "r");
	if (!f) {
		err = -errno;
		close(fd);
		goto out;
	}
	while (fscanf(f, "%ld", &pid) == 1) {
		err = netns_add_pid(set, pid);
		if (err)
			goto out;
	}
	if (ferror(f))
		err = errno == ENODEV ? 0 : -EIO; /* ENODEV: cgroup removed */
out:
	if (f)
		fclose(f);
	return err;
}

static int visit_procs(void *ctx, const struct bh_cgroup_entry *e)
{
	return cgroup_read_procs(ctx, e->dfd);
}

int bh_netns_collect(struct bh_netns_set *set, const char *const *dirs, size_t n)
{
	struct statfs sfs;
	size_t i;
	int fd, e, err = 0;

	fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		pr_warn("/proc/thread-self/ns/net: %s\n", strerror(errno));
		goto out;
	}
	err = netns_add_fd(set, fd, true);
	if (err) {
		pr_warn("own network namespace: %s\n", strerror(-err));
		goto out;
	}
	for (i = 0; i < n; i++) {
		fd = open(dirs[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0) {
			if (errno == ENOENT) {
				pr_debug("%s: no such cgroup, nothing to scan\n",
					 dirs[i]);
				continue;
			}
			e = -errno;
		} else if (fstatfs(fd, &sfs) < 0) {
			e = -errno;
			close(fd);
		} else if (sfs.f_type != CGROUP2_SUPER_MAGIC) {
			/* never walk an arbitrary tree looking for cgroup.procs */
			e = -EINVAL;
			close(fd);
		} else {
			e = bh_cgroup_walk_fd(fd, -1, visit_procs, set);
			close(fd);
		}
		if (e) {
			/* Keep going: the other subtrees still deserve a scan. */
			pr_warn("%s: cannot list processes: %s\n",
				dirs[i], e == -EINVAL ? "not a cgroup v2 directory" :
				strerror(-e));
			if (!err)
				err = e;
		}
	}
out:
	return err;
}

void bh_netns_free(struct bh_netns_set *set)
{
	size_t i;

	for (i = 0; i < set->n; i++)
		if (set->v[i].fd >= 0)
			close(set->v[i].fd);
	free(set->v);
	set->v = NULL;
	set->n = set->cap = 0;
}

struct ns_run {
	int nsfd;
	int (*fn)(void *arg);
	void *arg;
	int ret;
};

/* Runs on its own thread: the namespace switch dies with the thread. */
static void *ns_run_thread(void *p)
{
	struct ns_run *r = p;

	if (setns(r->nsfd, CLONE_NEWNET) < 0)
		r->ret = -errno;
	else
		r->ret = r->fn(r->arg);
	return NULL;
}

int bh_netns_run(int nsfd, int (*fn)(void *arg), void *arg)
{
	struct ns_run r = { .nsfd = nsfd, .fn = fn, .arg = arg, .ret = -EINVAL };
	pthread_t t;
	int err;

	if (nsfd < 0)
		return fn(arg);
	err = pthread_create(&t, NULL, ns_run_thread, &r);
	if (err)
		return -err;
	err = pthread_join(t, NULL);
	if (err)	/* cannot happen for a joinable thread we own */
		return -err;
	return r.ret;
}
