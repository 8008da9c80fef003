// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Folding per-socket traffic counters into bh_flows (see flows.h). */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bulkhead.skel.h"
#include "flows.h"
#include "log.h"
#include "netns.h"

static int iter_open(void *arg)
{
	int fd = bpf_iter_create(bpf_link__fd(arg));

	return fd < 0 ? -errno : fd;
}

/* Create the iterator in the namespace (it walks the sockets of the namespace
 * it was created in) and run it to the end: the programs print nothing. */
static int run_iter(struct bpf_link *link, int nsfd)
{
	char buf[64];
	ssize_t n;
	int fd = bh_netns_run(nsfd, iter_open, link);

	if (fd < 0)
		return fd;
	while ((n = read(fd, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
		;
	n = n < 0 ? -errno : 0;
	close(fd);
	return (int)n;
}

int bh_fold_flows(struct bh_loader *l)
{
	struct bpf_program *progs[2] = { l->skel->progs.bh_fold_tcp, l->skel->progs.bh_fold_udp };
	struct bh_netns_set set = { 0 };
	char **dirs;
	size_t i, k;
	int err = 0, e, walked = 0;

	for (k = 0; k < 2; k++) {
		if (l->fold_links[k])
			continue;
		l->fold_links[k] = bpf_program__attach_iter(progs[k], NULL);
		if (!l->fold_links[k]) {
			err = -errno;
			pr_warn("cannot attach the %s iterator: %s\n", bpf_program__name(progs[k]),
				strerror(-err));
			return err;
		}
	}
	dirs = bh_point_dirs(l);
	if (!dirs)
		return -ENOMEM;
	bh_netns_collect(&set, (const char *const *)dirs, l->npoints);	/* logs its failures */
	for (i = 0; i < set.n; i++) {
		for (k = 0, e = 0; k < 2 && !e; k++)
			e = run_iter(l->fold_links[k], set.v[i].fd);
		if (e) {
			pr_warn("netns %lu: cannot fold socket counters: %s\n",
				(unsigned long)set.v[i].ino, strerror(-e));
			if (!err)
				err = e;
			continue;
		}
		walked++;
	}
	bh_netns_free(&set);
	bh_free_strv(dirs);
	return walked ? walked : err;
}
