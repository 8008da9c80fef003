// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Allowed flows: folding per-socket traffic counters into bh_flows, and
 * the flow summaries (see flows.h). */
#include <errno.h>
#include <stdlib.h>
#include <time.h>
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

/* ---- summaries ---- */

struct bh_flow_seen {
	struct bh_flow_key key;
	struct bh_flow_val now;		/* read this interval */
	struct bh_flow_val last;	/* as of the last summary */
	int idle_rounds;
};

static int flow_cmp(const void *a, const void *b)
{
	return memcmp(&((const struct bh_flow_seen *)a)->key,
		      &((const struct bh_flow_seen *)b)->key, sizeof(struct bh_flow_key));
}

static uint64_t boot_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* A flow's counters as of its last summary, by an earlier daemon of this pin
 * directory (bh_flowrep): a restart neither repeats nor skips traffic. */
static void flow_last_reported(int rfd, struct bh_flow_seen *f)
{
	struct bh_flow_rep r;

	if (bpf_map_lookup_elem(rfd, &f->key, &r))
		return;
	f->last.tx_bytes = r.tx_bytes;
	f->last.tx_packets = r.tx_packets;
	f->last.rx_bytes = r.rx_bytes;
	f->last.rx_packets = r.rx_packets;
}

static void flow_reported(int rfd, const struct bh_flow_seen *f)
{
	struct bh_flow_rep r = {
		.tx_bytes = f->now.tx_bytes, .tx_packets = f->now.tx_packets,
		.rx_bytes = f->now.rx_bytes, .rx_packets = f->now.rx_packets,
	};

	bpf_map_update_elem(rfd, &f->key, &r, BPF_ANY);
}

/* The kernel's flows, sorted by key, in *out. Returns how many. */
static size_t flow_snapshot(int fd, struct bh_flow_seen **out)
{
	struct bh_flow_seen *cur = NULL, *nc;
	size_t n = 0, cap = 0;
	struct bh_flow_key k;
	int have = 0;

	while (bpf_map_get_next_key(fd, have ? &k : NULL, &k) == 0) {
		have = 1;
		if (n == cap) {
			cap = cap ? 2 * cap : 256;
			nc = realloc(cur, cap * sizeof(*cur));
			if (!nc)
				break;
			cur = nc;
		}
		memset(&cur[n], 0, sizeof(cur[n]));
		cur[n].key = k;
		if (bpf_map_lookup_elem(fd, &k, &cur[n].now) == 0)
			n++;
	}
	if (n)
		qsort(cur, n, sizeof(*cur), flow_cmp);
	*out = cur;
	return n;
}

static void flow_summary(const struct bh_flow_seen *f, unsigned int interval_s,
			 const struct bh_namer *n, const struct bh_clock *clk,
			 struct bh_writer *w)
{
	json_t *o = bh_event_flow_summary(&f->key, &f->now, &f->last, interval_s, boot_now(), n,
					  clk);

	if (o)
		bh_writer_emit(w, n->partner ? n->partner(n->ctx, f->key.partner) : NULL, o);
}

void bh_flows_summarise(struct bh_flows *fs, struct bh_loader *l, unsigned int interval_s,
			const struct bh_namer *n, const struct bh_clock *clk,
			struct bh_writer *w)
{
	int fd = bpf_map__fd(l->skel->maps.bh_flows);
	int rfd = bpf_map__fd(l->skel->maps.bh_flowrep);
	struct bh_flow_seen *cur;
	size_t nc, i, kept = 0;

	bh_advance_fold_epoch(l);	/* sockets fold at their next packet */
	bh_fold_flows(l);		/* and those of partner namespaces now */
	nc = flow_snapshot(fd, &cur);
	for (i = 0; i < nc; i++) {
		struct bh_flow_seen *f = &cur[i];
		const struct bh_flow_seen *prev = fs->n ?
			bsearch(f, fs->v, fs->n, sizeof(*f), flow_cmp) : NULL;

		if (prev) {
			f->last = prev->last;
			f->idle_rounds = prev->idle_rounds;
		} else {
			flow_last_reported(rfd, f);
		}
		if (f->now.tx_packets == f->last.tx_packets &&
		    f->now.rx_packets == f->last.rx_packets) {
			if (++f->idle_rounds >= 6) {
				bpf_map_delete_elem(fd, &f->key);
				bpf_map_delete_elem(rfd, &f->key);
				continue;
			}
		} else {
			flow_summary(f, interval_s, n, clk, w);
			flow_reported(rfd, f);
			f->last = f->now;
			f->idle_rounds = 0;
		}
		cur[kept++] = *f;
	}
	free(fs->v);
	fs->v = cur;
	fs->n = kept;
}

void bh_flows_free(struct bh_flows *fs)
{
	free(fs->v);
	fs->v = NULL;
	fs->n = 0;
}
