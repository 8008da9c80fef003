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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "bulkhead.skel.h"
#include "cgroup.h"
#include "control.h"
#include "bind.h"
#include "cutoff.h"
#include "flows.h"
#include "daemon.h"
#include "grants.h"
#include "events.h"
#include "loader.h"
#include "log.h"
#include "policy.h"
#include "status.h"

#define BH_CG_CACHE 256

struct flow_seen {
	struct bh_flow_key key;
	struct bh_flow_val now;		/* read this interval */
	struct bh_flow_val last;	/* as of the last summary */
	int idle_rounds;
};

struct bh_daemon {
	const struct bh_daemon_opts *o;
	struct bh_loader l;
	struct bh_policy pol;		/* the policy file as last applied */
	uint32_t *file_nth;		/* file grant i is its partner's file_nth[i]-th */
	struct bh_jitset jit;		/* JIT grants and revocations (pinned) */
	struct bh_policy eff;		/* what the kernel enforces: pol - revoked + JIT */
	size_t eff_shared;
	int ctl_fd;
	const char *cutoff_pending;	/* why sockets may have lost their grant */
	int down;			/* `bulkhead down` removed the pins: exit */
	uint64_t expiry_checked_ns;	/* expiries up to here have been acted on */
	struct bh_writer *w;
	struct bh_event_builder *eb;	/* kernel records -> JSON, no allocation per record */
	struct ring_buffer *rb;
	struct bh_clock clk;
	struct {
		uint64_t id;
		char *path;
	} cg[BH_CG_CACHE];
	size_t ncg, cg_next;
	struct flow_seen *flows;
	size_t nflows;
	const char *org_of[BH_MAX_PARTNERS];	/* by partner id, into pol */
	struct bh_lost reported;	/* as in bh_reported[0] */
	uint64_t reported_lifecycle;	/* bh_reported[0].lifecycle_lost */
	int reattach;			/* an attach point was recreated: apply again */
	int reported_loaded;
	uint64_t records;
};

/* ---- names for events ---- */

static const char *name_partner(void *ctx, uint32_t id)
{
	struct bh_daemon *d = ctx;

	if (id == 0 || id >= BH_MAX_PARTNERS || !d->l.names || !d->l.names[id].name[0])
		return NULL;
	return d->l.names[id].name;
}

static const char *name_org(void *ctx, uint32_t id)
{
	struct bh_daemon *d = ctx;

	return id < BH_MAX_PARTNERS ? d->org_of[id] : NULL;
}

static const struct bh_jit *jit_of_seq(const struct bh_daemon *d, uint32_t seq)
{
	size_t i;

	for (i = 0; i < d->jit.n; i++)
		if (d->jit.r[i].seq == seq && d->jit.r[i].kind == BH_JIT_GRANT)
			return &d->jit.r[i];
	return NULL;
}

/* Kernel grant id -> "<partner>/<n>" (file) or "<partner>/j<seq>" (JIT). */
static int grant_text(const struct bh_daemon *d, uint32_t id, char *buf, size_t len,
		      const char **purpose)
{
	if (id & BH_JIT_GRANT_BIT) {
		const struct bh_jit *r = jit_of_seq(d, id & ~BH_JIT_GRANT_BIT);

		if (!r)
			return -ENOENT;
		snprintf(buf, len, "%s/j%u", r->partner, r->seq);
		*purpose = r->purpose[0] ? r->purpose : NULL;
		return 0;
	}
	if (id == 0 || id > d->pol.ngrants || !d->file_nth)
		return -ENOENT;
	snprintf(buf, len, "%s/%u", d->pol.partners[d->pol.grants[id - 1].partner_idx].name,
		 d->file_nth[id - 1]);
	*purpose = d->pol.grants[id - 1].purpose;
	return 0;
}

static int name_grant(void *ctx, uint32_t id, const char **text, const char **purpose)
{
	static char buf[128];
	struct bh_daemon *d = ctx;

	if (grant_text(d, id, buf, sizeof(buf), purpose))
		return -ENOENT;
	*text = buf;
	return 0;
}

static int index_file_grants(struct bh_daemon *d)
{
	uint32_t *count = calloc(d->pol.npartners + 1, sizeof(*count));
	size_t i;

	free(d->file_nth);
	d->file_nth = calloc(d->pol.ngrants + 1, sizeof(*d->file_nth));
	if (!count || !d->file_nth) {
		free(count);
		return -ENOMEM;
	}
	for (i = 0; i < d->pol.ngrants; i++)
		d->file_nth[i] = ++count[d->pol.grants[i].partner_idx];
	free(count);
	return 0;
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
		.org = name_org,
	};
	return n;
}

/* ---- kernel records ---- */

/* Decisions that deserve a human also raise an alert (in addition, so counts
 * are unaffected), in the partner's file and host.jsonl. */
static void maybe_alert(struct bh_daemon *d, const struct bh_event *e, const char *partner,
			const json_t *decision)
{
	static const char *const what[BH_REASON__MAX] = {
		[BH_REASON_NEVER] = "never",
		[BH_REASON_UNKNOWN_PARTNER] = "unknown_partner",
		[BH_REASON_REVOKED] = "revoked",
	};
	json_t *a;

	if (e->type != BH_EV_DECISION || e->reason >= BH_REASON__MAX || !what[e->reason])
		return;
	a = bh_alert_json(decision, what[e->reason]);
	if (a)
		bh_writer_emit_both(d->w, partner, a);
}

/* obj: the builder's, valid until its next build */
static void emit_json(struct bh_daemon *d, const struct bh_event *e, const json_t *obj)
{
	const char *partner = name_partner(d, e->partner);

	if (!obj)
		return;
	d->records++;
	maybe_alert(d, e, partner, obj);
	bh_writer_write(d->w, partner, obj);
}

static void emit_record(struct bh_daemon *d, const struct bh_event *e)
{
	struct bh_namer n = namer_of(d);

	emit_json(d, e, bh_event_build(d->eb, e, &n, &d->clk));
}

/* A bind or unbind after apply (the kernel's at creation, or the rescan's):
 * a `lifecycle` event in host.jsonl and in the partner's file. */
static void emit_binding(void *ctx, const struct bh_bindev *e)
{
	struct bh_daemon *d = ctx;
	const char *partner = name_partner(d, e->partner);

	d->records++;
	bh_writer_emit_both(d->w, partner, bh_event_binding(e, partner, name_org(d, e->partner),
							    &d->clk));
	/* a bound cgroup that is its own attach point (directly below the
	 * cgroup2 root) lost its links with its old directory */
	for (size_t i = 0; e->what == BH_BINDEV_BIND && i < d->l.npoints; i++)
		d->reattach |= !strcmp(d->l.points[i].path, e->path + (e->path[0] == '/'));
}

static int on_bindev(void *ctx, void *data, size_t len)
{
	struct bh_bindev e;

	if (len < sizeof(e))
		return 0;	/* a record from a different ABI */
	memcpy(&e, data, sizeof(e));
	emit_binding(ctx, &e);
	return 0;
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
 * current window; one more window of slack covers a program still running,
 * so a closed window's count is final), or of every window (all: the programs
 * are detached, nothing writes any more). The map is read in batches, a few
 * syscalls for all of it, and the flushed windows deleted in one more. */
static void flush_floods(struct bh_daemon *d, int all)
{
	enum { CHUNK = 1024 };
	int fd = bpf_map__fd(d->l.skel->maps.bh_flood);
	uint64_t cur = boot_now() / BH_FLOOD_WINDOW_NS;
	struct bh_flood_key *keys = malloc(CHUNK * sizeof(*keys)), *done = NULL, *nd;
	struct bh_flood_val *vals = malloc(CHUNK * sizeof(*vals));
	size_t ndone = 0, cap = 0;
	uint32_t i, count, batch = 0;
	int err = 0, first = 1;

	if (!keys || !vals)
		goto out;
	while (!err) {
		count = CHUNK;
		err = bpf_map_lookup_batch(fd, first ? NULL : &batch, &batch, keys, vals, &count,
					   NULL) ? errno : 0;
		first = 0;
		if (err && err != ENOENT)	/* ENOENT: this was the last chunk */
			break;
		for (i = 0; i < count; i++) {
			struct bh_namer nm = namer_of(d);
			struct bh_event e = {
				.type = BH_EV_DECISION, .partner = keys[i].partner,
				.reason = keys[i].reason, .verdict = vals[i].verdict,
			};

			if (!all && keys[i].window + 2 > cur)
				continue;
			if (ndone == cap) {
				cap = cap ? cap * 2 : CHUNK;
				nd = realloc(done, cap * sizeof(*done));
				if (!nd)
					goto out;
				done = nd;
			}
			done[ndone++] = keys[i];
			if (vals[i].suppressed)
				emit_json(d, &e, bh_flood_build(d->eb, &keys[i], &vals[i], &nm, &d->clk));
		}
	}
	if (ndone) {
		count = (uint32_t)ndone;
		if (bpf_map_delete_batch(fd, done, &count, NULL))
			for (i = 0; i < ndone; i++)	/* one by one */
				bpf_map_delete_elem(fd, &done[i]);
	}
out:
	free(keys);
	free(vals);
	free(done);
}

/* Kernel losses not yet reported: against the totals the daemons of this pin
 * directory have reported (pinned, so a restart does not repeat them, and
 * what happened while no daemon ran is reported by the next one). */
static void report_loss(struct bh_daemon *d)
{
	int rfd = bpf_map__fd(d->l.skel->maps.bh_reported);
	struct bh_reported rep = {};
	uint64_t lifecycle = bh_bind_lost(d->l.bind);
	struct bh_lost sum;
	uint32_t zero = 0;

	if (bh_lost_read(bpf_map__fd(d->l.skel->maps.bh_lost), &sum))
		return;
	if (!d->reported_loaded && bpf_map_lookup_elem(rfd, &zero, &rep) == 0) {
		d->reported = rep.lost;
		d->reported_lifecycle = rep.lifecycle_lost;
		d->reported_loaded = 1;
	}
	if (lifecycle > d->reported_lifecycle)
		bh_writer_emit(d->w, NULL, bh_event_loss("lifecycle_ring", lifecycle -
							 d->reported_lifecycle, NULL));
	if (sum.ring_full > d->reported.ring_full)
		bh_writer_emit(d->w, NULL, bh_event_loss("ring", sum.ring_full -
							 d->reported.ring_full, NULL));
	if (sum.flood_full > d->reported.flood_full)
		bh_writer_emit(d->w, NULL, bh_event_loss("flood_map", sum.flood_full -
							 d->reported.flood_full, NULL));
	if (sum.flow_full > d->reported.flow_full)
		bh_writer_emit(d->w, NULL, bh_event_loss("flow_map", sum.flow_full -
							 d->reported.flow_full, NULL));
	/* the only attempts no event's count includes (bh_counters still has them) */
	if (sum.uncounted > d->reported.uncounted)
		bh_writer_emit(d->w, NULL, bh_event_loss("uncounted_denies", sum.uncounted -
							 d->reported.uncounted, NULL));
	if (memcmp(&d->reported, &sum, sizeof(sum)) || lifecycle != d->reported_lifecycle) {
		rep.lost = sum;
		rep.lifecycle_lost = lifecycle;	/* fewer: bound paths removed */
		bpf_map_update_elem(rfd, &zero, &rep, BPF_ANY);
	}
	d->reported = sum;
	d->reported_lifecycle = lifecycle;
}

/* ---- flows ---- */

static int flow_cmp(const void *a, const void *b)
{
	return memcmp(&((const struct flow_seen *)a)->key, &((const struct flow_seen *)b)->key,
		      sizeof(struct bh_flow_key));
}

static void flow_summary(struct bh_daemon *d, const struct flow_seen *f, unsigned int interval_s)
{
	const struct bh_flow_key *k = &f->key;
	const struct bh_flow_val *v = &f->now;
	struct bh_namer n = namer_of(d);
	struct bh_event e = {
		.type = BH_EV_FLOW_NEW, .ts_boot_ns = boot_now(), .partner = k->partner,
		.dport = k->dport, .proto = k->proto, .verdict = BH_VERDICT_ALLOW,
		.reason = BH_REASON_GRANTED, .grant = v->grant, .count = 1,
		.hook = BH_HOOK_EGRESS,
	};
	json_t *o;

	memcpy(e.daddr, k->daddr, sizeof(e.daddr));
	o = bh_event_json(&e, &n, &d->clk);
	if (!o)
		return;
	json_object_set_new(o, "phase", json_string("summary"));
	json_object_set_new(o, "interval", json_integer(interval_s));
	json_object_set_new(o, "tx_bytes", json_integer(v->tx_bytes - f->last.tx_bytes));
	json_object_set_new(o, "tx_packets", json_integer(v->tx_packets - f->last.tx_packets));
	json_object_set_new(o, "rx_bytes", json_integer(v->rx_bytes - f->last.rx_bytes));
	json_object_set_new(o, "rx_packets", json_integer(v->rx_packets - f->last.rx_packets));
	json_object_set_new(o, "total_tx_bytes", json_integer(v->tx_bytes));
	json_object_set_new(o, "total_rx_bytes", json_integer(v->rx_bytes));
	bh_writer_emit(d->w, name_partner(d, k->partner), o);
}

/* A flow's counters as of its last summary, by an earlier daemon of this pin
 * directory (bh_flowrep): a restart neither repeats nor skips traffic. */
static void flow_last_reported(struct bh_daemon *d, struct flow_seen *f)
{
	struct bh_flow_rep r;

	if (bpf_map_lookup_elem(bpf_map__fd(d->l.skel->maps.bh_flowrep), &f->key, &r))
		return;
	f->last.tx_bytes = r.tx_bytes;
	f->last.tx_packets = r.tx_packets;
	f->last.rx_bytes = r.rx_bytes;
	f->last.rx_packets = r.rx_packets;
}

static void flow_reported(struct bh_daemon *d, const struct flow_seen *f)
{
	struct bh_flow_rep r = {
		.tx_bytes = f->now.tx_bytes, .tx_packets = f->now.tx_packets,
		.rx_bytes = f->now.rx_bytes, .rx_packets = f->now.rx_packets,
	};

	bpf_map_update_elem(bpf_map__fd(d->l.skel->maps.bh_flowrep), &f->key, &r, BPF_ANY);
}

/* Summaries of the flows that moved since the last interval: the kernel's
 * flows are read and sorted, and joined with the previous (sorted) snapshot,
 * so each interval costs O(n log n). Flows idle for 6 intervals are forgotten
 * (their next packet is a new flow). */
static void flush_flows(struct bh_daemon *d, unsigned int interval_s)
{
	int fd = bpf_map__fd(d->l.skel->maps.bh_flows);
	int rfd = bpf_map__fd(d->l.skel->maps.bh_flowrep);
	struct flow_seen *cur = NULL, *nc;
	size_t n = 0, cap = 0, i, kept = 0;
	struct bh_flow_key k;
	int have = 0;

	bh_advance_fold_epoch(&d->l);	/* sockets fold at their next packet */
	bh_fold_flows(&d->l);		/* and those of partner namespaces now */
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
	for (i = 0; i < n; i++) {
		struct flow_seen *f = &cur[i];
		const struct flow_seen *prev = d->nflows ?
			bsearch(f, d->flows, d->nflows, sizeof(*f), flow_cmp) : NULL;

		if (prev) {
			f->last = prev->last;
			f->idle_rounds = prev->idle_rounds;
		} else {
			flow_last_reported(d, f);
		}
		if (f->now.tx_packets == f->last.tx_packets &&
		    f->now.rx_packets == f->last.rx_packets) {
			if (++f->idle_rounds >= 6) {
				bpf_map_delete_elem(fd, &f->key);
				bpf_map_delete_elem(rfd, &f->key);
				continue;
			}
		} else {
			flow_summary(d, f, interval_s);
			flow_reported(d, f);
			f->last = f->now;
			f->idle_rounds = 0;
		}
		cur[kept++] = *f;
	}
	free(d->flows);
	d->flows = cur;
	d->nflows = kept;
}

/* ---- applying: the effective policy ---- */

static int jit_fd(const struct bh_daemon *d)
{
	return bpf_map__fd(d->l.skel->maps.bh_jit_v2);
}

static json_t *errors_json(const struct bh_errors *e)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < e->n; i++)
		json_array_append_new(a, json_string(e->msg[i]));
	return a;
}

static json_t *peer_json(const struct bh_peer *peer)
{
	if (!peer)
		return json_pack("{s:s}", "by", "daemon");
	return json_pack("{s:i, s:i, s:s}", "uid", (int)peer->uid, "pid", (int)peer->pid,
			 "comm", peer->comm);
}

/* A `policy` event in host.jsonl and, for a partner, in its file too. */
static void policy_event(struct bh_daemon *d, const char *action, const struct bh_peer *peer,
			 const char *partner, json_t *fields)
{
	uint32_t id = 0;
	size_t i;
	json_t *o;

	for (i = 0; partner && i < d->pol.npartners && !id; i++)
		if (!strcmp(d->pol.partners[i].name, partner))
			id = d->pol.partners[i].id;
	o = bh_event_new_org("policy", partner, id ? name_org(d, id) : NULL);
	json_object_set_new(o, "action", json_string(action));
	json_object_set_new(o, "caller", peer_json(peer));
	if (fields)
		json_object_update(o, fields);
	json_decref(fields);
	if (partner)
		bh_writer_emit_both(d->w, partner, o);
	else
		bh_writer_emit(d->w, NULL, o);
}

/* Compile and swap in file policy p (taking ownership on success) with the
 * JIT records. A ttl grant p brings in for the first time starts now; one
 * already applied keeps its start. On failure nothing in the kernel changed
 * and no ttl was started; errs says why. */
static int apply_policy(struct bh_daemon *d, struct bh_policy *p, struct bh_errors *errs)
{
	struct bh_policy eff;
	struct bh_clock clk;
	size_t nshared, started;
	int err;

	bh_clock_now(&clk);
	err = bh_ttl_start(jit_fd(d), &d->jit, p, &clk, &started);
	if (err) {
		if (err == -E2BIG)
			bh_errors_add(errs, "%s: cannot record when its ttl grants start: more than "
				      "%d just-in-time grants, revocations and ttl grants", p->file,
				      BH_MAX_JIT);
		else
			bh_errors_add(errs, "%s: cannot record when its ttl grants start: %s",
				      p->file, strerror(-err));
		return err;
	}
	err = bh_effective_build(p, &d->jit, &eff, &nshared);
	if (err) {
		bh_errors_add(errs, "out of memory building the effective policy");
		bh_ttl_unstart(jit_fd(d), &d->jit, started);
		return err;
	}
	err = bh_apply(&d->l, &eff, errs);
	if (err) {
		bh_effective_free(&eff, nshared);
		bh_ttl_unstart(jit_fd(d), &d->jit, started);
		return err;
	}
	bh_effective_free(&d->eff, d->eff_shared);
	d->eff = eff;
	d->eff_shared = nshared;
	if (p != &d->pol) {
		bh_policy_free(&d->pol);
		d->pol = *p;
		memset(p, 0, sizeof(*p));
	}
	/* ttl starts of grants the applied policy no longer has: gone, so a
	 * grant that comes back later is a new grant */
	err = bh_ttl_prune(jit_fd(d), &d->jit, &d->pol);
	if (err)
		pr_warn("forgetting the ttl starts of removed grants: %s\n", strerror(-err));
	index_file_grants(d);
	memset(d->org_of, 0, sizeof(d->org_of));
	for (size_t i = 0; i < d->pol.npartners; i++)
		if (d->pol.partners[i].id < BH_MAX_PARTNERS)
			d->org_of[d->pol.partners[i].id] = d->pol.partners[i].org;
	return 0;
}

/* Re-apply the current file policy with the current JIT records. */
static int reapply(struct bh_daemon *d, struct bh_errors *errs)
{
	return apply_policy(d, &d->pol, errs);
}

/* Attach again at recreated attach points (a policy apply, links only new
 * where a cgroup id changed). */
static void reattach_points(struct bh_daemon *d)
{
	struct bh_errors errs = {};

	d->reattach = 0;
	if (reapply(d, &errs))
		pr_warn("attaching at a recreated cgroup: %s\n", errs.n ? errs.msg[0] : "failed");
	bh_errors_free(&errs);
}

/* Expiry instant of a grant in force (CLOCK_BOOTTIME), 0 = none. JIT grants
 * and file ttl grants carry theirs (bh_effective_build). */
static uint64_t grant_expiry_boot(const struct bh_daemon *d, const struct bh_grant *g)
{
	if (g->expires_boot_ns)
		return g->expires_boot_ns;
	if (g->expires_unix_ns)
		return g->expires_unix_ns - d->clk.wall_ns + d->clk.boot_ns;
	return 0;
}

static json_t *grant_json(const struct bh_daemon *d, const struct bh_grant *g)
{
	const char *purpose = g->purpose;
	char id[128];

	const struct bh_partner *pt = &d->pol.partners[g->partner_idx];
	json_t *o;

	if (grant_text(d, g->id, id, sizeof(id), &purpose))
		id[0] = '\0';
	o = bh_grant_json(g, pt->name, id[0] ? id : NULL, purpose);
	if (o && pt->org)
		json_object_set_new(o, "org", json_string(pt->org));
	return o;
}

/* Adds expires / remaining_s / state to a grant object; a file ttl counts
 * from when the grant was first applied. */
static void grant_lifetime(const struct bh_daemon *d, json_t *o, const struct bh_grant *g,
			   const struct bh_clock *clk)
{
	bh_grant_json_lifetime(o, grant_expiry_boot(d, g), g->expires_unix_ns, clk);
}

static int find_partner(const struct bh_daemon *d, const char *name, uint32_t *idx)
{
	size_t i;

	for (i = 0; name && i < d->pol.npartners; i++) {
		if (!strcmp(d->pol.partners[i].name, name)) {
			*idx = i;
			return 0;
		}
	}
	return -ENOENT;
}

static json_t *ok_response(void)
{
	return json_pack("{s:b}", "ok", 1);
}

static json_t *apply_failed(struct bh_errors *errs)
{
	json_t *r = bh_ctl_error("%s", errs->n ? errs->msg[0] : "apply failed");

	json_object_set_new(r, "errors", errors_json(errs));
	return r;
}

static json_t *do_grant(struct bh_daemon *d, const json_t *req, const struct bh_peer *peer)
{
	const char *partner = json_string_value(json_object_get(req, "partner"));
	json_t *spec = json_object_get(req, "grant"), *resp, *ev;
	struct bh_errors errs = {};
	struct bh_jit r = {};
	struct bh_grant g;
	struct bh_clock clk;
	uint32_t pidx;
	char *text;
	size_t i;
	int err;

	if (find_partner(d, partner, &pidx))
		return bh_ctl_error("unknown partner %s: grants are for partners of the policy",
				    partner ? partner : "(none)");
	if (!json_is_object(spec))
		return bh_ctl_error("bad request: \"grant\" must be an object");
	text = json_dumps(spec, JSON_COMPACT);
	err = text ? bh_grant_parse(&d->pol, pidx, "grant", text, &g, &errs) : -ENOMEM;
	free(text);
	if (err) {
		resp = apply_failed(&errs);
		bh_errors_free(&errs);
		return resp;
	}
	if (!g.ttl_ns && !g.expires_unix_ns) {
		bh_grant_free(&g);
		return bh_ctl_error("a just-in-time grant needs --ttl or --expires");
	}
	err = bh_jit_alloc_seq(jit_fd(d), &d->jit, &r.seq);
	if (err) {
		bh_grant_free(&g);
		return bh_ctl_error("grant failed: cannot allocate a grant id: %s", strerror(-err));
	}
	bh_clock_now(&clk);
	r.kind = BH_JIT_GRANT;
	/* the kernel's instant (boot) and the listed one (wall), fixed now */
	r.expires_boot_ns = g.ttl_ns ? clk.boot_ns + g.ttl_ns :
			    g.expires_unix_ns - clk.wall_ns + clk.boot_ns;
	r.expires_unix_ns = g.ttl_ns ? clk.wall_ns + g.ttl_ns : g.expires_unix_ns;
	r.created_unix_ns = clk.wall_ns;
	r.created_boot_ns = clk.boot_ns;
	r.by_uid = peer->uid;
	r.by_pid = peer->pid;
	snprintf(r.by_comm, sizeof(r.by_comm), "%.15s", peer->comm);
	bh_jit_set_def(&r, partner, &g);
	snprintf(r.purpose, sizeof(r.purpose), "%s", g.purpose ? g.purpose : "");
	bh_grant_free(&g);
	err = bh_jit_add(jit_fd(d), &d->jit, &r);
	if (!err)
		err = reapply(d, &errs);
	if (err) {
		for (i = 0; i < d->jit.n; i++)
			if (d->jit.r[i].seq == r.seq)
				bh_jit_remove(jit_fd(d), &d->jit, i);
		resp = errs.n ? apply_failed(&errs) : bh_ctl_error("grant failed: %s",
								   strerror(-err));
		bh_errors_free(&errs);
		return resp;
	}
	resp = ok_response();
	for (i = 0; i < d->eff.ngrants; i++) {
		if (d->eff.grants[i].id != (BH_JIT_GRANT_BIT | r.seq))
			continue;
		ev = grant_json(d, &d->eff.grants[i]);
		grant_lifetime(d, ev, &d->eff.grants[i], &clk);
		json_object_set(resp, "grant", ev);
		policy_event(d, "grant", peer, partner, json_pack("{s:o}", "grant", ev));
	}
	return resp;
}

static json_t *do_revoke(struct bh_daemon *d, const json_t *req, const struct bh_peer *peer)
{
	const char *partner = json_string_value(json_object_get(req, "partner"));
	const char *gid = json_string_value(json_object_get(req, "grant"));
	const char *to = json_string_value(json_object_get(req, "to"));
	int jfd = jit_fd(d);
	json_t *removed = json_array(), *resp;
	struct bh_errors errs = {};
	struct bh_prefix within = {};
	struct bh_clock clk;
	struct bh_jit mask = {};
	uint32_t pidx;
	size_t i;
	int err = 0, masked = 0;
	char buf[128];

	if (find_partner(d, partner, &pidx)) {
		json_decref(removed);
		return bh_ctl_error("unknown partner %s", partner ? partner : "(none)");
	}
	if (!gid == !to) {
		json_decref(removed);
		return bh_ctl_error("revoke needs exactly one of --grant ID or --to CIDR");
	}
	if (to) {
		/* reuse the grant parser for the CIDR: same errors as a policy file */
		struct bh_grant g;
		json_t *spec = json_pack("{s:s}", "to", to);
		char *text = spec ? json_dumps(spec, JSON_COMPACT) : NULL;

		json_decref(spec);
		err = text ? bh_grant_parse(&d->pol, pidx, "--to", text, &g, &errs) : -ENOMEM;
		free(text);
		if (err) {
			json_decref(removed);
			resp = apply_failed(&errs);
			bh_errors_free(&errs);
			return resp;
		}
		within = g.to;
		bh_grant_free(&g);
	}
	bh_clock_now(&clk);
	mask.kind = BH_JIT_REVOKE;
	mask.created_unix_ns = clk.wall_ns;
	mask.by_uid = peer->uid;
	mask.by_pid = peer->pid;
	snprintf(mask.by_comm, sizeof(mask.by_comm), "%.15s", peer->comm);
	snprintf(mask.partner, sizeof(mask.partner), "%s", partner);

	for (i = 0; i < d->eff.ngrants; i++) {
		const struct bh_grant *g = &d->eff.grants[i];
		const char *purpose;

		if (g->partner_idx != pidx || grant_text(d, g->id, buf, sizeof(buf), &purpose))
			continue;
		if (gid ? strcmp(gid, buf) : !bh_prefix_within(&g->to, &within))
			continue;
		json_array_append_new(removed, grant_json(d, g));
		if (g->id & BH_JIT_GRANT_BIT)
			continue;
		/* a policy-file grant: remember the revocation (pinned) */
		if (!masked && gid) {
			bh_jit_set_def(&mask, partner, g);
		} else if (!masked) {
			memcpy(mask.addr, within.addr, 16);
			mask.plen = within.plen;
			mask.proto = BH_JIT_ANY_PROTO;
		}
		masked = 1;
	}
	if (!json_array_size(removed)) {
		json_decref(removed);
		return bh_ctl_error("no live grant of %s %s %s", partner, gid ? "with id" : "within",
				    gid ? gid : to);
	}
	for (i = 0; i < d->jit.n;) {
		struct bh_jit *r = &d->jit.r[i];
		struct bh_prefix pf;

		memcpy(pf.addr, r->addr, 16);
		pf.plen = r->plen;
		snprintf(buf, sizeof(buf), "%s/j%u", r->partner, r->seq);
		if (r->kind == BH_JIT_GRANT && !strcmp(r->partner, partner) &&
		    (gid ? !strcmp(gid, buf) : bh_prefix_within(&pf, &within))) {
			bh_jit_remove(jfd, &d->jit, i);
			continue;
		}
		i++;
	}
	if (masked) {
		mask.seq = bh_jit_aux_key(&d->jit);
		err = bh_jit_add(jfd, &d->jit, &mask);
	}
	if (!err)
		err = reapply(d, &errs);
	if (err) {
		json_decref(removed);
		resp = errs.n ? apply_failed(&errs) : bh_ctl_error("revoke failed: %s",
								   strerror(-err));
		bh_errors_free(&errs);
		return resp;
	}
	d->cutoff_pending = "revoke";
	resp = ok_response();
	json_object_set(resp, "revoked", removed);
	policy_event(d, "revoke", peer, partner, json_pack("{s:o}", "revoked", removed));
	return resp;
}

static json_t *do_list(struct bh_daemon *d, const json_t *req)
{
	const char *partner = json_string_value(json_object_get(req, "partner"));
	json_t *arr = json_array(), *resp;
	struct bh_clock clk;
	uint32_t pidx;
	size_t i;

	if (partner && find_partner(d, partner, &pidx)) {
		json_decref(arr);
		return bh_ctl_error("unknown partner %s", partner);
	}
	bh_clock_now(&clk);
	for (i = 0; i < d->eff.ngrants; i++) {
		const struct bh_grant *g = &d->eff.grants[i];
		json_t *o;

		if (partner && g->partner_idx != pidx)
			continue;
		o = grant_json(d, g);
		grant_lifetime(d, o, g, &clk);
		json_array_append_new(arr, o);
	}
	/* revoked policy-file grants stay listed, so a revocation is visible */
	for (i = 0; i < d->pol.ngrants; i++) {
		const struct bh_grant *g = &d->pol.grants[i];
		const struct bh_jit *m;
		json_t *o;
		char ts[64];

		if (partner && g->partner_idx != pidx)
			continue;
		m = bh_jit_mask_of(&d->jit, d->pol.partners[g->partner_idx].name, g);
		if (!m)
			continue;
		o = grant_json(d, g);
		json_object_set_new(o, "state", json_string("revoked"));
		bh_format_unix_ts((int64_t)m->created_unix_ns, ts, sizeof(ts));
		json_object_set_new(o, "revoked_at", json_string(ts));
		json_object_set_new(o, "revoked_by", json_pack("{s:i, s:i, s:s}", "uid",
					(int)m->by_uid, "pid", (int)m->by_pid, "comm", m->by_comm));
		json_array_append_new(arr, o);
	}
	resp = ok_response();
	json_object_set_new(resp, "grants", arr);
	return resp;
}

/* apply (request) and reload (SIGHUP): the new file is parsed and compiled in
 * full before any map is touched; on any error the running policy stays. */
static json_t *do_apply(struct bh_daemon *d, const char *name, const char *text,
			const struct bh_peer *peer, const char *action)
{
	struct bh_policy np = {};
	struct bh_errors errs = {};
	json_t *resp;
	size_t gen_grants;
	int err;

	err = text ? bh_policy_parse(name, text, strlen(text), &np, &errs) :
		     bh_policy_load(name, &np, &errs);
	if (!err)
		err = apply_policy(d, &np, &errs);
	if (err) {
		resp = apply_failed(&errs);
		policy_event(d, action, peer, NULL,
			     json_pack("{s:s, s:s, s:o, s:s}", "file", name, "result", "error",
				       "errors", errors_json(&errs), "note",
				       "running policy left untouched"));
		bh_policy_free(&np);
		bh_errors_free(&errs);
		return resp;
	}
	gen_grants = d->eff.ngrants;
	d->cutoff_pending = action;
	policy_event(d, action, peer, NULL,
		     json_pack("{s:s, s:s, s:i, s:i}", "file", name, "result", "applied",
			       "partners", (int)d->pol.npartners, "grants", (int)gen_grants));
	resp = ok_response();
	json_object_set_new(resp, "partners", json_integer(d->pol.npartners));
	json_object_set_new(resp, "grants", json_integer(gen_grants));
	return resp;
}

/* `bulkhead down` while this daemon runs: the daemon holds the pin directory
 * lock, so it removes the enforcement itself, answers, and exits (a daemon
 * left running with nothing enforced would go on listing grants that are
 * gone). Only for its own pin directory. */
static json_t *do_down(struct bh_daemon *d, const json_t *req, const struct bh_peer *peer)
{
	const char *dir = json_string_value(json_object_get(req, "pin_dir"));
	struct stat want, mine;
	json_t *resp;
	int err, n = 0;

	if (!dir || stat(dir, &want) || stat(d->l.pin_dir, &mine) || want.st_dev != mine.st_dev ||
	    want.st_ino != mine.st_ino)
		return bh_ctl_error("this daemon enforces %s, not %s", d->l.pin_dir,
				    dir ? dir : "(no pin_dir in the request)");
	err = bh_loader_unpin(&d->l, &n);
	d->down = 1;	/* exit either way: what is left is for a local `down` */
	policy_event(d, "down", peer, NULL,
		     json_pack("{s:s, s:i, s:s}", "pin_dir", d->l.pin_dir, "links_detached", n,
			       "result", err ? strerror(-err) : "ok"));
	if (err)
		return bh_ctl_error("down: %s: %s (the daemon exits; run `bulkhead down` again)",
				    d->l.pin_dir, strerror(-err));
	resp = ok_response();
	json_object_set_new(resp, "pin_dir", json_string(d->l.pin_dir));
	json_object_set_new(resp, "links_detached", json_integer(n));
	json_object_set_new(resp, "daemon_pid", json_integer(getpid()));
	return resp;
}

static json_t *on_request(void *ctx, const json_t *req, const struct bh_peer *peer)
{
	struct bh_daemon *d = ctx;
	const char *op = json_string_value(json_object_get(req, "op"));

	if (!op)
		return bh_ctl_error("bad request: no \"op\"");
	if (!strcmp(op, "grant"))
		return do_grant(d, req, peer);
	if (!strcmp(op, "revoke"))
		return do_revoke(d, req, peer);
	if (!strcmp(op, "list"))
		return do_list(d, req);
	if (!strcmp(op, "apply")) {
		const char *file = json_string_value(json_object_get(req, "file"));
		const char *text = json_string_value(json_object_get(req, "text"));

		if (!file || !text)
			return bh_ctl_error("bad request: apply needs \"file\" and \"text\"");
		return do_apply(d, file, text, peer, "apply");
	}
	if (!strcmp(op, "down"))
		return do_down(d, req, peer);
	if (!strcmp(op, "ping"))
		return ok_response();
	return bh_ctl_error("unknown op %s", op);
}

/* JIT grants dead for longer than the linger are removed (the kernel already
 * denies them; until then it reports reason "expired" rather than "no_grant"). */
#define BH_EXPIRED_LINGER_NS (60ull * 1000000000ull)

static void sweep_expired(struct bh_daemon *d)
{
	int jfd = jit_fd(d);
	uint64_t now = boot_now();
	json_t *removed = json_array();
	struct bh_errors errs = {};
	size_t i;

	for (i = 0; i < d->jit.n;) {
		struct bh_jit *r = &d->jit.r[i];

		if (r->kind == BH_JIT_GRANT && r->expires_boot_ns + BH_EXPIRED_LINGER_NS < now) {
			json_array_append_new(removed, json_pack("{s:s, s:i}", "partner", r->partner,
								 "seq", (int)r->seq));
			bh_jit_remove(jfd, &d->jit, i);
			continue;
		}
		i++;
	}
	if (json_array_size(removed)) {
		if (reapply(d, &errs))
			pr_warn("removing expired grants: %s\n", errs.n ? errs.msg[0] : "failed");
		policy_event(d, "expired-removed", NULL, NULL, json_pack("{s:o}", "grants", removed));
	} else {
		json_decref(removed);
	}
	bh_errors_free(&errs);
}

/* The kernel already enforces expiries by itself; here we only notice that
 * one passed, so the sockets it cut off can be destroyed. */
static void check_expiries(struct bh_daemon *d)
{
	uint64_t now = boot_now();
	size_t i;

	for (i = 0; i < d->eff.ngrants; i++) {
		uint64_t exp = grant_expiry_boot(d, &d->eff.grants[i]);

		if (exp > d->expiry_checked_ns && exp <= now) {
			d->cutoff_pending = "expiry";
			break;
		}
	}
	d->expiry_checked_ns = now;
}

/* The next expiry after the last one acted on (CLOCK_BOOTTIME), 0 = none. */
static uint64_t next_expiry(const struct bh_daemon *d)
{
	uint64_t next = 0;
	size_t i;

	for (i = 0; i < d->eff.ngrants; i++) {
		uint64_t exp = grant_expiry_boot(d, &d->eff.grants[i]);

		if (exp > d->expiry_checked_ns && (!next || exp < next))
			next = exp;
	}
	return next;
}

/* Destroy the sockets a revocation, narrowing or expiry left uncovered. */
static void run_cutoff(struct bh_daemon *d)
{
	const char *why = d->cutoff_pending;
	unsigned int n = 0;
	int err;

	d->cutoff_pending = NULL;
	if (!why || d->o->no_destroy)
		return;
	err = bh_cutoff(&d->l, &n);
	if (err)
		pr_warn("destroying sockets cut off by %s: %s\n", why, strerror(-err));
	if (n || err)
		policy_event(d, "sockets-destroyed", NULL, NULL,
			     json_pack("{s:s, s:i, s:s}", "cause", why, "count", (int)n,
				       "result", err ? strerror(-err) : "ok"));
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

/* Rescan mode binds recreated cgroups: well within a second. At creation
 * the kernel binds; the rescan only repairs what a race with apply left. */
static int rescan_ms(const struct bh_daemon *d)
{
	return bh_bind_mode(d->l.bind) == BH_BIND_MODE_CREATION ? 1000 : 200;
}

static const char *bind_mode_detail(const struct bh_daemon *d)
{
	return bh_bind_mode(d->l.bind) == BH_BIND_MODE_CREATION ?
	       "binding: at-creation (recreated cgroups are bound by the kernel at mkdir)" :
	       "binding: rescan (recreated cgroups are bound by the daemon within a second)";
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct restored {
	size_t grants, revokes, ttls;
};

/* The records found pinned at start (before this daemon applied anything). */
static void count_restored(const struct bh_daemon *d, struct restored *r)
{
	size_t i;

	memset(r, 0, sizeof(*r));
	for (i = 0; i < d->jit.n; i++) {
		r->grants += d->jit.r[i].kind == BH_JIT_GRANT;
		r->revokes += d->jit.r[i].kind == BH_JIT_REVOKE;
		r->ttls += d->jit.r[i].kind == BH_JIT_TTL;
	}
}

static void adopt_report(struct bh_daemon *d, uint64_t gen_before, const struct restored *r)
{
	size_t grants = r->grants, revokes = r->revokes, ttls = r->ttls;
	json_t *o;

	o = bh_event_new("lifecycle", NULL);
	json_object_set_new(o, "event", json_string(gen_before ? "adopt" : "fresh"));
	json_object_set_new(o, "previous_generation", json_integer(gen_before));
	json_object_set_new(o, "jit_grants_restored", json_integer(grants));
	json_object_set_new(o, "revocations_restored", json_integer(revokes));
	json_object_set_new(o, "ttl_grants_restored", json_integer(ttls));
	if (gen_before)
		json_object_set_new(o, "detail", json_string("pinned enforcement was in place; "
			"decisions taken while no daemon ran are in the counters (`bulkhead "
			"status`) and in the events that follow"));
	bh_writer_emit(d->w, NULL, o);
}

static uint64_t current_gen(struct bh_daemon *d)
{
	struct bh_state st = {};
	uint32_t zero = 0;

	bpf_map_lookup_elem(bpf_map__fd(d->l.skel->maps.bh_state), &zero, &st);
	return st.gen;
}

int bh_daemon_run(const struct bh_daemon_opts *o)
{
	struct bh_daemon *d;
	struct bh_errors errs = {};
	struct bh_policy np = {};
	struct pollfd pfd[3];
	struct restored restored = {};
	int64_t next_sec, next_flow, next_rescan;
	uint64_t gen_before;
	sigset_t mask;
	int sfd = -1, ret = 1, err, enforced = 0;
	size_t i;

	d = calloc(1, sizeof(*d));
	if (!d)
		return 1;
	d->o = o;
	d->l.lock_fd = -1;
	d->ctl_fd = -1;
	if (bh_policy_load(o->policy, &np, &errs)) {
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
	d->eb = bh_event_builder_new();
	if (!d->eb) {
		pr_warn("cannot allocate the event builder: %s\n", strerror(ENOMEM));
		goto out;
	}
	err = bh_loader_open(&d->l, o->pin_dir, o->ring_size_kib, !o->no_bind_tp);
	if (err)
		goto out;
	gen_before = current_gen(d);
	err = bh_jit_migrate(d->l.pin_dir, jit_fd(d));
	if (err < 0) {
		/* starting without them would bring revoked grants back */
		pr_warn("cannot migrate the grant records in %s/bh_jit: %s\n", d->l.pin_dir,
			strerror(-err));
		goto out;
	}
	if (err > 0)
		pr_info("migrated %d grant records from %s/bh_jit (layout 1)\n", err, d->l.pin_dir);
	err = bh_jit_load(jit_fd(d), &d->jit);
	count_restored(d, &restored);
	if (!err)
		err = apply_policy(d, &np, &errs);
	if (err) {
		for (i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msg[i]);
		pr_warn("policy not applied: %s\n", strerror(-err));
		goto out;
	}
	enforced = 1;
	d->ctl_fd = bh_ctl_listen(o->control);
	if (d->ctl_fd < 0) {
		pr_warn("cannot listen on %s: %s (enforcement is applied and pinned)\n",
			o->control, strerror(-d->ctl_fd));
		goto out;
	}
	bh_clock_now(&d->clk);
	d->rb = ring_buffer__new(bpf_map__fd(d->l.skel->maps.bh_events), on_record, d, NULL);
	if (!d->rb || ring_buffer__add(d->rb, bh_bind_events_fd(d->l.bind), on_bindev, d)) {
		pr_warn("cannot open the event ring buffers: %s\n", strerror(errno));
		goto out;
	}
	report_loss(d);		/* baseline: losses before this start were reported */
	lifecycle(d, "start", bind_mode_detail(d));
	adopt_report(d, gen_before, &restored);
	d->expiry_checked_ns = boot_now();
	d->cutoff_pending = gen_before ? "adopt" : NULL;	/* expiries while down */
	run_cutoff(d);
	bh_writer_flush(d->w);
	if (o->to_stdout) {
		pr_info("ready\n");	/* stdout is the JSON stream */
	} else {
		printf("ready\n");
		fflush(stdout);
	}

	pfd[0].fd = sfd;
	pfd[0].events = POLLIN;
	pfd[1].fd = ring_buffer__epoll_fd(d->rb);
	pfd[1].events = POLLIN;
	pfd[2].fd = d->ctl_fd;
	pfd[2].events = POLLIN;
	next_sec = mono_ms() + 1000;
	next_rescan = mono_ms() + rescan_ms(d);
	next_flow = o->flow_interval_s ? mono_ms() + o->flow_interval_s * 1000ll : INT64_MAX;
	for (;;) {
		struct signalfd_siginfo si;
		int64_t now = mono_ms();
		int64_t wake = next_sec < next_rescan ? next_sec : next_rescan;
		int timeout = wake > now ? (int)(wake - now) : 0;
		uint64_t exp = next_expiry(d), bnow = boot_now();
		int n;

		/* wake at the next grant expiry too: the kernel already enforces
		 * it; this destroys the sockets it cut off without delay */
		if (exp && (exp <= bnow || (exp - bnow) / 1000000 + 1 < (uint64_t)timeout))
			timeout = exp <= bnow ? 0 : (int)((exp - bnow) / 1000000 + 1);
		n = poll(pfd, 3, timeout);
		if (exp && boot_now() >= exp) {
			check_expiries(d);
			run_cutoff(d);
		}

		if (n < 0 && errno != EINTR) {
			pr_warn("poll: %s\n", strerror(errno));
			break;
		}
		if (n > 0 && (pfd[1].revents & POLLIN))
			ring_buffer__consume(d->rb);
		if (d->reattach)
			reattach_points(d);
		if (n > 0 && (pfd[2].revents & POLLIN)) {
			bh_ctl_serve_one(d->ctl_fd, on_request, d);
			if (d->down)
				break;
			run_cutoff(d);	/* after the reply: enforcement already holds */
		}
		if (n > 0)
			bh_writer_flush(d->w);	/* one write per batch, never stale */
		now = mono_ms();
		if (now >= next_sec) {
			next_sec = now + 1000;
			bh_clock_now(&d->clk);	/* follow wall-clock steps */
			flush_floods(d, 0);
			report_loss(d);
			sweep_expired(d);
			check_expiries(d);
			run_cutoff(d);
			bh_writer_flush(d->w);
		}
		if (now >= next_rescan) {
			next_rescan = now + rescan_ms(d);
			if (bh_rescan(&d->l, emit_binding, d))
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
			json_t *r = do_apply(d, o->policy, NULL, NULL, "reload");
			int ok = json_is_true(json_object_get(r, "ok"));

			json_decref(r);
			run_cutoff(d);
			bh_writer_reopen(d->w);
			lifecycle(d, "reload", ok ? "SIGHUP: policy reloaded, log files reopened" :
				  "SIGHUP: the policy file has errors (see the policy line), the "
				  "running policy stays; log files reopened");
			continue;
		}
		break;
	}
	ring_buffer__consume(d->rb);
	/* open windows stay for the next daemon, unless `down` removed it all */
	flush_floods(d, d->down);
	if (o->flow_interval_s)
		flush_flows(d, o->flow_interval_s);
	report_loss(d);
	{
		char detail[160];

		snprintf(detail, sizeof(detail), "%llu kernel records written; %s",
			 (unsigned long long)d->records, d->down ?
			 "enforcement removed by `bulkhead down`" :
			 "enforcement stays pinned, `bulkhead down` removes it");
		lifecycle(d, "stop", detail);
	}
	if (d->down)
		pr_info("exiting: `bulkhead down` removed the enforcement in %s\n", d->l.pin_dir);
	else
		pr_info("exiting; enforcement stays pinned in %s\n", d->l.pin_dir);
	ret = 0;
out:
	bh_ctl_close(d->ctl_fd, o->control);
	ring_buffer__free(d->rb);
	if (d->w) {
		bh_writer_flush(d->w);
		bh_writer_close(d->w);
	}
	bh_event_builder_free(d->eb);
	if (!enforced)
		bh_loader_discard(&d->l);	/* a fresh pin dir: nothing half-loaded stays */
	bh_loader_close(&d->l);
	for (i = 0; i < d->ncg; i++)
		free(d->cg[i].path);
	free(d->flows);
	free(d->file_nth);
	bh_effective_free(&d->eff, d->eff_shared);
	bh_jitset_free(&d->jit);
	if (sfd >= 0)
		close(sfd);
	bh_errors_free(&errs);
	bh_policy_free(&np);
	bh_policy_free(&d->pol);
	free(d);
	return ret;
}
