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

#include "flows.h"
#include "log.h"
#include "maps.h"
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
	struct bpf_link *links[2];
	struct bh_netns_set set = { 0 };
	char **dirs;
	size_t i, k;
	int err = 0, e, walked = 0;

	for (k = 0; k < 2; k++) {
		links[k] = bh_loader_fold_iter(l, (int)k);
		if (!links[k])
			return -errno;
	}
	dirs = bh_point_dirs(l);
	if (!dirs)
		return -ENOMEM;
	bh_netns_collect(&set, (const char *const *)dirs, bh_loader_npoints(l));	/* logs its failures */
	for (i = 0; i < set.n; i++) {
		for (k = 0, e = 0; k < 2 && !e; k++)
			e = run_iter(links[k], set.v[i].fd);
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
static void flow_last_reported(const struct bh_maps *m, struct bh_flow_seen *f)
{
	struct bh_flow_rep r;

	if (bh_maps_flowrep_read(m, &f->key, &r))
		return;
	f->last.tx_bytes = r.tx_bytes;
	f->last.tx_packets = r.tx_packets;
	f->last.rx_bytes = r.rx_bytes;
	f->last.rx_packets = r.rx_packets;
}

static void flow_reported(const struct bh_maps *m, const struct bh_flow_seen *f)
{
	struct bh_flow_rep r = {
		.tx_bytes = f->now.tx_bytes, .tx_packets = f->now.tx_packets,
		.rx_bytes = f->now.rx_bytes, .rx_packets = f->now.rx_packets,
	};

	bh_maps_flowrep_write(m, &f->key, &r);
}

struct snapshot {
	struct bh_flow_seen *v;
	size_t n, cap;
	int full;
};

static void snap_one(void *ctx, const struct bh_flow_key *k, const struct bh_flow_val *v)
{
	struct snapshot *s = ctx;
	struct bh_flow_seen *nv;

	if (s->full)
		return;
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 256;
		nv = realloc(s->v, s->cap * sizeof(*nv));
		if (!nv) {
			s->full = 1;	/* summarise what fitted */
			return;
		}
		s->v = nv;
	}
	memset(&s->v[s->n], 0, sizeof(s->v[s->n]));
	s->v[s->n].key = *k;
	s->v[s->n].now = *v;
	s->n++;
}

/* The kernel's flows, sorted by key, in *out. Returns how many. */
static size_t flow_snapshot(const struct bh_maps *m, struct bh_flow_seen **out)
{
	struct snapshot s = { 0 };

	bh_maps_flows_each(m, snap_one, &s);
	if (s.n)
		qsort(s.v, s.n, sizeof(*s.v), flow_cmp);
	*out = s.v;
	return s.n;
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
	const struct bh_maps *m = bh_loader_maps(l);
	struct bh_flow_seen *cur;
	size_t nc, i, kept = 0;

	bh_advance_fold_epoch(l);	/* sockets fold at their next packet */
	bh_fold_flows(l);		/* and those of partner namespaces now */
	nc = flow_snapshot(m, &cur);
	for (i = 0; i < nc; i++) {
		struct bh_flow_seen *f = &cur[i];
		const struct bh_flow_seen *prev = fs->n ?
			bsearch(f, fs->v, fs->n, sizeof(*f), flow_cmp) : NULL;

		if (prev) {
			f->last = prev->last;
			f->idle_rounds = prev->idle_rounds;
		} else {
			flow_last_reported(m, f);
		}
		if (f->now.tx_packets == f->last.tx_packets &&
		    f->now.rx_packets == f->last.rx_packets) {
			if (++f->idle_rounds >= 6) {
				bh_maps_flow_forget(m, &f->key);
				continue;
			}
		} else {
			flow_summary(f, interval_s, n, clk, w);
			flow_reported(m, f);
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
