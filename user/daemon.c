// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The daemon: open -> apply -> poll the ring buffer and timers -> close.
 *
 * Every second: flush flood windows that have closed (aggregated deny counts),
 * report ring/map losses, bind partner cgroups that appeared. Every
 * --flow-interval: flow summaries (bytes/packets both ways since the last one).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "bulkhead.skel.h"
#include "cgroup.h"
#include "daemon.h"
#include "events.h"
#include "loader.h"
#include "log.h"
#include "policy.h"

#define BH_CG_CACHE 256

struct flow_seen {
	struct bh_flow_key key;
	struct bh_flow_val last;
	int idle_rounds;
};

struct bh_daemon {
	const struct bh_daemon_opts *o;
	struct bh_loader l;
	struct bh_policy pol;
	struct bh_writer *w;
	struct ring_buffer *rb;
	struct bh_clock clk;
	struct bh_pname names[BH_MAX_PARTNERS];
	char **grant_ids;		/* by grant id: "partner/n" */
	size_t ngrant_ids;
	struct {
		uint64_t id;
		char *path;
	} cg[BH_CG_CACHE];
	size_t ncg, cg_next;
	struct flow_seen *flows;
	size_t nflows;
	struct bh_lost reported;
	uint64_t records;
};

/* ---- names for events ---- */

static void refresh_names(struct bh_daemon *d)
{
	int fd = bpf_map__fd(d->l.skel->maps.bh_pnames);
	uint32_t id;

	for (id = 1; id < BH_MAX_PARTNERS; id++)
		if (bpf_map_lookup_elem(fd, &id, &d->names[id]))
			d->names[id].name[0] = '\0';
}

static const char *name_partner(void *ctx, uint32_t id)
{
	struct bh_daemon *d = ctx;

	if (id == 0 || id >= BH_MAX_PARTNERS || !d->names[id].name[0])
		return NULL;
	return d->names[id].name;
}

static int name_grant(void *ctx, uint32_t id, const char **text, const char **purpose)
{
	struct bh_daemon *d = ctx;
	size_t i;

	for (i = 0; i < d->pol.ngrants; i++) {
		if (d->pol.grants[i].id != id)
			continue;
		*text = i < d->ngrant_ids ? d->grant_ids[i] : NULL;
		*purpose = d->pol.grants[i].purpose;
		return 0;
	}
	return -ENOENT;
}

static void free_grant_ids(struct bh_daemon *d)
{
	size_t i;

	for (i = 0; i < d->ngrant_ids; i++)
		free(d->grant_ids[i]);
	free(d->grant_ids);
	d->grant_ids = NULL;
	d->ngrant_ids = 0;
}

/* Grant text ids: "<partner>/<n>", n counting that partner's grants from 1. */
static void build_grant_ids(struct bh_daemon *d)
{
	size_t i, j;

	free_grant_ids(d);
	d->grant_ids = calloc(d->pol.ngrants ? d->pol.ngrants : 1, sizeof(char *));
	if (!d->grant_ids)
		return;
	for (i = 0; i < d->pol.ngrants; i++) {
		const struct bh_grant *g = &d->pol.grants[i];
		size_t n = 1;

		for (j = 0; j < i; j++)
			n += d->pol.grants[j].partner_idx == g->partner_idx;
		if (asprintf(&d->grant_ids[i], "%s/%zu", d->pol.partners[g->partner_idx].name,
			     n) < 0)
			d->grant_ids[i] = NULL;
	}
	d->ngrant_ids = d->pol.ngrants;
}

static uint64_t cg_want;
static char *cg_found;
static size_t cg_root_len;

static int cg_walk(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	uint64_t id;

	(void)st;
	(void)ftw;
	if (flag != FTW_D)
		return 0;
	if (bh_cgroup_id(path, &id) == 0 && id == cg_want) {
		cg_found = strdup(path + cg_root_len + (path[cg_root_len] == '/'));
		return 1;
	}
	return 0;
}

/* cgroup id -> path relative to the cgroup2 mount, searched below the attach
 * points (the only places partner sockets live) and cached. */
static const char *name_cgroup(void *ctx, uint64_t id)
{
	struct bh_daemon *d = ctx;
	size_t i;

	for (i = 0; i < d->ncg; i++)
		if (d->cg[i].id == id)
			return d->cg[i].path;
	cg_want = id;
	cg_found = NULL;
	cg_root_len = strlen(d->l.cg2);
	for (i = 0; i < d->l.npoints && !cg_found; i++) {
		char full[PATH_MAX * 2];

		snprintf(full, sizeof(full), "%s/%s", d->l.cg2, d->l.points[i].path);
		nftw(full, cg_walk, 16, FTW_PHYS);
	}
	if (!cg_found)
		return NULL;
	i = d->ncg < BH_CG_CACHE ? d->ncg++ : d->cg_next++ % BH_CG_CACHE;
	free(d->cg[i].path);
	d->cg[i].id = id;
	d->cg[i].path = cg_found;
	return cg_found;
}

static struct bh_namer namer_of(struct bh_daemon *d)
{
	struct bh_namer n = {
		.ctx = d,
		.partner = name_partner,
		.grant = name_grant,
		.cgroup = name_cgroup,
	};
	return n;
}

/* ---- kernel records ---- */

static void emit_record(struct bh_daemon *d, const struct bh_event *e)
{
	struct bh_namer n = namer_of(d);
	const char *partner = name_partner(d, e->partner);
	json_t *obj = bh_event_json(e, &n, &d->clk);

	if (!obj)
		return;
	d->records++;
	bh_writer_emit(d->w, partner, obj);
}

static int on_record(void *ctx, void *data, size_t len)
{
	struct bh_daemon *d = ctx;
	struct bh_event e;

	if (len < sizeof(e))
		return 0;	/* not ours: a record from a different ABI */
	memcpy(&e, data, sizeof(e));
	emit_record(d, &e);
	return 0;
}

static uint64_t boot_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* Aggregated denies of windows that have closed (the kernel writes only the
 * current window; one more window of slack covers a program still running). */
static void flush_floods(struct bh_daemon *d)
{
	int fd = bpf_map__fd(d->l.skel->maps.bh_flood);
	uint64_t cur = boot_now() / BH_FLOOD_WINDOW_NS;
	struct bh_flood_key *keys = NULL, k;
	size_t n = 0, cap = 0, i;
	int have = 0;

	while (bpf_map_get_next_key(fd, have ? &k : NULL, &k) == 0) {
		have = 1;
		if (k.window + 2 > cur)
			continue;
		if (n == cap) {
			struct bh_flood_key *nk;

			cap = cap ? cap * 2 : 64;
			nk = realloc(keys, cap * sizeof(*keys));
			if (!nk)
				break;
			keys = nk;
		}
		keys[n++] = k;
	}
	for (i = 0; i < n; i++) {
		struct bh_flood_val v;
		struct bh_event e = {};

		if (bpf_map_lookup_and_delete_elem(fd, &keys[i], &v))
			continue;
		if (!v.suppressed)
			continue;
		e.type = BH_EV_DECISION;
		e.ts_boot_ns = v.last_ts_boot_ns;
		e.count = v.suppressed;
		e.partner = keys[i].partner;
		e.dport = keys[i].dport;
		e.proto = keys[i].proto;
		e.reason = keys[i].reason;
		e.verdict = v.verdict;
		e.hook = v.hook;
		e.pid = v.pid;
		e.uid = v.uid;
		e.cgroup_id = v.cgroup_id;
		memcpy(e.comm, v.comm, sizeof(e.comm));
		memcpy(e.daddr, keys[i].daddr, sizeof(e.daddr));
		emit_record(d, &e);
	}
	free(keys);
}

static void report_loss(struct bh_daemon *d)
{
	int fd = bpf_map__fd(d->l.skel->maps.bh_lost);
	int ncpu = libbpf_num_possible_cpus();
	struct bh_lost *pc, sum = {};
	uint32_t zero = 0;
	int i;

	if (ncpu <= 0)
		return;
	pc = calloc(ncpu, sizeof(*pc));
	if (!pc)
		return;
	if (bpf_map_lookup_elem(fd, &zero, pc) == 0) {
		for (i = 0; i < ncpu; i++) {
			sum.emitted += pc[i].emitted;
			sum.ring_full += pc[i].ring_full;
			sum.flood_full += pc[i].flood_full;
		}
	}
	free(pc);
	if (sum.ring_full > d->reported.ring_full) {
		json_t *o = bh_event_new("loss", NULL);

		json_object_set_new(o, "what", json_string("ring"));
		json_object_set_new(o, "count", json_integer(sum.ring_full - d->reported.ring_full));
		json_object_set_new(o, "note", json_string("kernel events not delivered (ring "
			"buffer full); decisions and counters unaffected, deny counts kept"));
		bh_writer_emit(d->w, NULL, o);
	}
	if (sum.flood_full > d->reported.flood_full) {
		json_t *o = bh_event_new("loss", NULL);

		json_object_set_new(o, "what", json_string("flood_map"));
		json_object_set_new(o, "count",
				    json_integer(sum.flood_full - d->reported.flood_full));
		json_object_set_new(o, "note", json_string("aggregation map full: events sent "
			"unaggregated or flow not tracked"));
		bh_writer_emit(d->w, NULL, o);
	}
	d->reported = sum;
}

/* ---- flows ---- */

static struct flow_seen *flow_find(struct bh_daemon *d, const struct bh_flow_key *k)
{
	size_t i;

	for (i = 0; i < d->nflows; i++)
		if (!memcmp(&d->flows[i].key, k, sizeof(*k)))
			return &d->flows[i];
	return NULL;
}

static void flush_flows(struct bh_daemon *d, unsigned int interval_s)
{
	int fd = bpf_map__fd(d->l.skel->maps.bh_flows);
	struct bh_flow_key k;
	size_t i;
	int have = 0;

	while (bpf_map_get_next_key(fd, have ? &k : NULL, &k) == 0) {
		struct bh_flow_val v;
		struct flow_seen *f;
		struct bh_event e = {};
		json_t *o;
		struct bh_namer n = namer_of(d);

		have = 1;
		if (bpf_map_lookup_elem(fd, &k, &v))
			continue;
		f = flow_find(d, &k);
		if (!f) {
			struct flow_seen *nf = realloc(d->flows, (d->nflows + 1) * sizeof(*nf));

			if (!nf)
				return;
			d->flows = nf;
			f = &d->flows[d->nflows++];
			memset(f, 0, sizeof(*f));
			f->key = k;
		}
		if (v.tx_packets == f->last.tx_packets && v.rx_packets == f->last.rx_packets) {
			f->idle_rounds++;
			continue;
		}
		e.type = BH_EV_FLOW_NEW;
		e.ts_boot_ns = v.last_ts_boot_ns;
		e.partner = k.partner;
		e.dport = k.dport;
		e.proto = k.proto;
		e.verdict = BH_VERDICT_ALLOW;
		e.reason = BH_REASON_GRANTED;
		e.grant = v.grant;
		e.count = 1;
		e.hook = BH_HOOK_EGRESS;
		memcpy(e.daddr, k.daddr, sizeof(e.daddr));
		o = bh_event_json(&e, &n, &d->clk);
		if (!o)
			continue;
		json_object_set_new(o, "phase", json_string("summary"));
		json_object_set_new(o, "interval", json_integer(interval_s));
		json_object_set_new(o, "tx_bytes", json_integer(v.tx_bytes - f->last.tx_bytes));
		json_object_set_new(o, "tx_packets",
				    json_integer(v.tx_packets - f->last.tx_packets));
		json_object_set_new(o, "rx_bytes", json_integer(v.rx_bytes - f->last.rx_bytes));
		json_object_set_new(o, "rx_packets",
				    json_integer(v.rx_packets - f->last.rx_packets));
		json_object_set_new(o, "total_tx_bytes", json_integer(v.tx_bytes));
		json_object_set_new(o, "total_rx_bytes", json_integer(v.rx_bytes));
		bh_writer_emit(d->w, name_partner(d, k.partner), o);
		f->last = v;
		f->idle_rounds = 0;
	}
	/* forget flows idle for 6 intervals: the next packet is a new flow */
	for (i = 0; i < d->nflows;) {
		if (d->flows[i].idle_rounds < 6) {
			i++;
			continue;
		}
		bpf_map_delete_elem(fd, &d->flows[i].key);
		d->flows[i] = d->flows[--d->nflows];
	}
}

/* ---- lifecycle ---- */

static void lifecycle(struct bh_daemon *d, const char *what, const char *detail)
{
	json_t *o = bh_event_new("lifecycle", NULL);

	json_object_set_new(o, "event", json_string(what));
	json_object_set_new(o, "pid", json_integer(getpid()));
	json_object_set_new(o, "pin_dir", json_string(d->l.pin_dir));
	if (d->o->policy)
		json_object_set_new(o, "policy", json_string(d->o->policy));
	if (detail)
		json_object_set_new(o, "detail", json_string(detail));
	bh_writer_emit(d->w, NULL, o);
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int bh_daemon_run(const struct bh_daemon_opts *o)
{
	struct bh_daemon *d;
	struct bh_errors errs = {};
	struct pollfd pfd[2];
	int64_t next_sec, next_flow;
	sigset_t mask;
	int sfd = -1, ret = 1, err;
	size_t i;

	d = calloc(1, sizeof(*d));
	if (!d)
		return 1;
	d->o = o;
	d->l.lock_fd = -1;
	if (bh_policy_load(o->policy, &d->pol, &errs)) {
		for (i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msg[i]);
		goto out;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0) {
		pr_warn("signalfd: %s\n", strerror(errno));
		goto out;
	}
	err = bh_writer_open(&d->w, o->log_dir, o->to_stdout);
	if (err) {
		pr_warn("cannot open the event log %s: %s\n", o->log_dir ? o->log_dir : "stdout",
			strerror(-err));
		goto out;
	}
	err = bh_loader_open(&d->l, o->pin_dir, o->ring_size_kib);
	if (err)
		goto out;
	err = bh_apply(&d->l, &d->pol, &errs);
	if (err) {
		for (i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msg[i]);
		pr_warn("policy not applied: %s\n", strerror(-err));
		goto out;
	}
	refresh_names(d);
	build_grant_ids(d);
	bh_clock_now(&d->clk);
	d->rb = ring_buffer__new(bpf_map__fd(d->l.skel->maps.bh_events), on_record, d, NULL);
	if (!d->rb) {
		pr_warn("cannot open the event ring buffer: %s\n", strerror(errno));
		goto out;
	}
	report_loss(d);		/* baseline: losses before this start were reported */
	lifecycle(d, "start", NULL);
	printf("ready\n");
	fflush(stdout);

	pfd[0].fd = sfd;
	pfd[0].events = POLLIN;
	pfd[1].fd = ring_buffer__epoll_fd(d->rb);
	pfd[1].events = POLLIN;
	next_sec = mono_ms() + 1000;
	next_flow = o->flow_interval_s ? mono_ms() + o->flow_interval_s * 1000ll : INT64_MAX;
	for (;;) {
		struct signalfd_siginfo si;
		int64_t now = mono_ms();
		int timeout = next_sec > now ? (int)(next_sec - now) : 0;
		int n = poll(pfd, 2, timeout);

		if (n < 0 && errno != EINTR) {
			pr_warn("poll: %s\n", strerror(errno));
			break;
		}
		if (n > 0 && (pfd[1].revents & POLLIN))
			ring_buffer__consume(d->rb);
		now = mono_ms();
		if (now >= next_sec) {
			next_sec = now + 1000;
			bh_clock_now(&d->clk);	/* follow wall-clock steps */
			if (d->l.npending && bh_bind_pending(&d->l) > 0)
				refresh_names(d);
			flush_floods(d);
			report_loss(d);
			bh_writer_flush(d->w);
		}
		if (now >= next_flow) {
			next_flow = now + o->flow_interval_s * 1000ll;
			flush_flows(d, o->flow_interval_s);
		}
		if (n <= 0 || !(pfd[0].revents & POLLIN))
			continue;
		if (read(sfd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo == SIGHUP) {
			bh_writer_reopen(d->w);
			lifecycle(d, "reopen", "SIGHUP: log files reopened");
			continue;
		}
		break;
	}
	ring_buffer__consume(d->rb);
	flush_floods(d);	/* open windows stay for the next daemon */
	if (o->flow_interval_s)
		flush_flows(d, o->flow_interval_s);
	report_loss(d);
	lifecycle(d, "stop", "enforcement stays pinned; `bulkhead down` removes it");
	pr_info("exiting; enforcement stays pinned in %s\n", d->l.pin_dir);
	ret = 0;
out:
	ring_buffer__free(d->rb);
	if (d->w) {
		bh_writer_flush(d->w);
		bh_writer_close(d->w);
	}
	bh_loader_close(&d->l);
	for (i = 0; i < d->ncg; i++)
		free(d->cg[i].path);
	free(d->flows);
	free_grant_ids(d);
	if (sfd >= 0)
		close(sfd);
	bh_errors_free(&errs);
	bh_policy_free(&d->pol);
	free(d);
	return ret;
}
