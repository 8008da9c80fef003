// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The daemon: setup (policy, signals, event log, loader, grant records,
 * control socket, ring buffer), the loop, teardown. What the loop calls
 * lives elsewhere: control operations in ops.c, grants in grants.c, event
 * objects in events.c, flows in flows.c, the socket cut-off in cutoff.c.
 *
 * Every second: flush flood windows that have closed (aggregated deny counts),
 * report ring/map losses, sweep expired JIT grants. The rescan of bound
 * cgroup paths runs every 200 ms in rescan mode (every second at creation,
 * to repair what a race with apply left); bind and unbind records (the
 * kernel's, in the bh_bindev ring, or the rescan's) become lifecycle events. Every --flow-interval: flow summaries. At each grant expiry:
 * destroy the sockets it cut off.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "bind.h"
#include "cgroup.h"
#include "control.h"
#include "cutoff.h"
#include "daemon.h"
#include "verify_job.h"
#include "events.h"
#include "flows.h"
#include "grants.h"
#include "lint.h"
#include "loader.h"
#include "log.h"
#include "maps.h"
#include "metrics.h"
#include "notify.h"
#include "ops.h"
#include "policy.h"
#include "sha256.h"

#define BH_CG_CACHE 256

struct bh_daemon {
	const struct bh_daemon_opts *o;
	struct bh_loader *l;
	struct bh_grants gs;
	struct bh_ops ops;		/* the control operations' view of the above */
	uint64_t expiry_checked_ns;	/* expiries up to here have been acted on */
	struct bh_writer *w;
	struct bh_event_builder *eb;	/* kernel records -> JSON, no allocation per record */
	struct ring_buffer *rb;
	struct bh_clock clk;
	char grant_name[128];		/* name_grant's answer, until its next call */
	struct {
		uint64_t id;
		char *path;
	} cg[BH_CG_CACHE];
	size_t ncg, cg_next;
	struct bh_flows flows;
	struct bh_reported reported;	/* bh_reported[0] */
	int reported_loaded;
	int reattach;			/* an attach point was recreated: apply again */
	uint64_t records;
	uint64_t gen_before;		/* the generation found pinned (0: fresh) */
	size_t restored[BH_JIT_NEXT + 1];	/* pinned records found, by kind */
	int ctl_fd;
	int sfd;
	int enforced;
	struct bh_verify_job vj;		/* --verify-every */
	struct bh_metrics_http *metrics;	/* --metrics-listen; NULL: off */
	struct bh_metrics_hist cutoff_hist;	/* bulkhead_revocation_cutoff_seconds */
	uint64_t cutoff_t0;		/* CLOCK_BOOTTIME of the change being cut off */
};

static uint64_t boot_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- names for events ---- */

static const char *name_partner(void *ctx, uint32_t id)
{
	struct bh_daemon *d = ctx;

	return bh_loader_partner(d->l, id);
}

static const char *name_org(void *ctx, uint32_t id)
{
	struct bh_daemon *d = ctx;

	return bh_grants_org(&d->gs, id);
}

static int name_grant(void *ctx, uint32_t id, const char **text, const char **purpose)
{
	struct bh_daemon *d = ctx;

	if (bh_grants_name(&d->gs, id, d->grant_name, sizeof(d->grant_name), purpose))
		return -ENOENT;
	*text = d->grant_name;
	return 0;
}

struct cg_find {
	uint64_t id;
	const char *point;	/* the attach point walked, relative to the mount */
	char *found;
};

static int cg_match(void *ctx, const struct bh_cgroup_entry *e)
{
	struct cg_find *f = ctx;

	if (e->id != f->id)
		return 0;
	if (!e->path[0])
		f->found = strdup(f->point);
	else if (asprintf(&f->found, "%s/%s", f->point, e->path) < 0)
		f->found = NULL;
	return 2;	/* found (or out of memory): stop */
}

/* cgroup id -> path relative to the cgroup2 mount, searched below the attach
 * points (the only places partner sockets live) and cached. */
static const char *name_cgroup(void *ctx, uint64_t id)
{
	struct bh_daemon *d = ctx;
	struct cg_find f = { .id = id };
	size_t i;

	for (i = 0; i < d->ncg; i++)
		if (d->cg[i].id == id)
			return d->cg[i].path;
	for (i = 0; i < bh_loader_npoints(d->l) && !f.found; i++) {
		char full[PATH_MAX * 2];

		f.point = bh_loader_point(d->l, i);
		snprintf(full, sizeof(full), "%s/%s", bh_loader_cg2(d->l), f.point);
		bh_cgroup_walk(full, -1, cg_match, &f);
	}
	if (!f.found)
		return NULL;
	i = d->ncg < BH_CG_CACHE ? d->ncg++ : d->cg_next++ % BH_CG_CACHE;
	free(d->cg[i].path);
	d->cg[i].id = id;
	d->cg[i].path = f.found;
	return f.found;
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

/* A decision's object (the builder's, valid until its next build) to its
 * partner's file; one that deserves a human also raises an alert (in
 * addition, so counts are unaffected), in that file and host.jsonl. */
static void emit_decision(struct bh_daemon *d, const struct bh_event *e, const json_t *obj)
{
	const char *partner = name_partner(d, e->partner);

	if (!obj)
		return;
	d->records++;
	if (e->type == BH_EV_DECISION && bh_reason_alerts(e->reason))
		bh_writer_emit_both(d->w, partner, bh_alert_json(obj, bh_reason_str(e->reason)));
	bh_writer_write(d->w, partner, obj);
}

static int on_record(void *ctx, void *data, size_t len)
{
	struct bh_daemon *d = ctx;
	struct bh_namer n = namer_of(d);
	struct bh_event e;

	if (bh_event_decode(data, len, &e))
		return 0;	/* not ours: a record from a different ABI */
	emit_decision(d, &e, bh_event_build(d->eb, &e, &n, &d->clk));
	return 0;
}

/* A bind or unbind after apply (the kernel's at creation, or the rescan's):
 * a `lifecycle` event in host.jsonl and in the partner's file. */
static void emit_binding(void *ctx, const struct bh_bindev *e)
{
	struct bh_daemon *d = ctx;
	const char *partner = name_partner(d, e->partner);
	size_t i;

	d->records++;
	bh_writer_emit_both(d->w, partner, bh_event_binding(e, partner, name_org(d, e->partner),
							    &d->clk));
	/* a bound cgroup that is its own attach point (directly below the
	 * cgroup2 root) lost its links with its old directory */
	for (i = 0; e->what == BH_BINDEV_BIND && i < bh_loader_npoints(d->l); i++)
		d->reattach |= !strcmp(bh_loader_point(d->l, i), e->path + (e->path[0] == '/'));
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

/* Attach again at recreated attach points (a policy apply: links are new
 * only where a cgroup id changed). */
static void reattach_points(struct bh_daemon *d)
{
	struct bh_errors errs = {};

	d->reattach = 0;
	if (bh_grants_reapply(&d->gs, d->l, &errs))
		pr_warn("attaching at a recreated cgroup: %s\n", errs.n ? errs.msg[0] : "failed");
	bh_errors_free(&errs);
}

struct flood_flush {
	struct bh_daemon *d;
	uint64_t cur;		/* the current window */
	int all;
};

static int flush_window(void *ctx, const struct bh_flood_key *k, const struct bh_flood_val *v)
{
	struct flood_flush *f = ctx;
	struct bh_namer nm = namer_of(f->d);
	struct bh_event e = {
		.type = BH_EV_DECISION, .partner = k->partner, .reason = k->reason,
		.verdict = v->verdict,
	};

	if (!f->all && k->window + 2 > f->cur)
		return 0;
	if (v->suppressed)
		emit_decision(f->d, &e, bh_flood_build(f->d->eb, k, v, &nm, &f->d->clk));
	return 1;
}

/* Aggregated denies of windows that have closed (the kernel writes only the
 * current window; one more window of slack covers a program still running,
 * so a closed window's count is final), or of every window (all: the programs
 * are detached, nothing writes any more); flushed windows are deleted. */
static void flush_floods(struct bh_daemon *d, int all)
{
	struct flood_flush f = { d, boot_now() / BH_FLOOD_WINDOW_NS, all };

	bh_maps_flood_drain(bh_loader_maps(d->l), flush_window, &f);
}

static void loss_if(struct bh_daemon *d, const char *what, uint64_t now, uint64_t reported)
{
	if (now > reported)
		bh_writer_emit(d->w, NULL, bh_event_loss(what, now - reported, NULL));
}

/* Kernel losses not yet reported: against the totals the daemons of this pin
 * directory have reported (pinned, so a restart does not repeat them, and
 * what happened while no daemon ran is reported by the next one). */
static void report_loss(struct bh_daemon *d)
{
	const struct bh_maps *m = bh_loader_maps(d->l);
	struct bh_reported now = {};

	if (bh_maps_lost_read(m, &now.lost))
		return;
	now.lifecycle_lost = bh_bind_lost(m);
	if (!d->reported_loaded && bh_maps_reported_read(m, &d->reported) == 0)
		d->reported_loaded = 1;
	loss_if(d, "ring", now.lost.ring_full, d->reported.lost.ring_full);
	loss_if(d, "flood_map", now.lost.flood_full, d->reported.lost.flood_full);
	loss_if(d, "flow_map", now.lost.flow_full, d->reported.lost.flow_full);
	/* the only attempts no event's count includes (bh_counters still has them) */
	loss_if(d, "uncounted_denies", now.lost.uncounted, d->reported.lost.uncounted);
	/* fewer than reported: bound paths were removed with their counts */
	loss_if(d, "lifecycle_ring", now.lifecycle_lost, d->reported.lifecycle_lost);
	if (memcmp(&d->reported, &now, sizeof(now)))
		bh_maps_reported_write(m, &now);
	d->reported = now;
}

static void flush_flows(struct bh_daemon *d)
{
	struct bh_namer n = namer_of(d);

	bh_flows_summarise(&d->flows, d->l, d->o->flow_interval_s, &n, &d->clk, d->w);
}

/* ---- expiry and cut-off ---- */

/* JIT grants dead for longer than the linger are removed (the kernel already
 * denies them; until then it reports reason "expired" rather than "no_grant"). */
#define BH_EXPIRED_LINGER_NS (60ull * 1000000000ull)

static void sweep_expired(struct bh_daemon *d)
{
	json_t *removed = json_array();
	struct bh_errors errs = {};

	if (bh_grants_sweep(&d->gs, boot_now(), BH_EXPIRED_LINGER_NS, removed)) {
		if (bh_grants_reapply(&d->gs, d->l, &errs))
			pr_warn("removing expired grants: %s\n", errs.n ? errs.msg[0] : "failed");
		bh_ops_event(&d->ops, "expired-removed", NULL, NULL,
			     json_pack("{s:o}", "grants", removed));
	} else {
		json_decref(removed);
	}
	bh_errors_free(&errs);
}

/* The kernel already enforces expiries by itself; here we only notice that
 * one passed, so the sockets it cut off can be destroyed. */
static void check_expiries(struct bh_daemon *d)
{
	uint64_t now = boot_now(), next;

	next = bh_grants_next_expiry(&d->gs, d->expiry_checked_ns, &d->clk);
	if (next && next <= now) {
		d->ops.cutoff_pending = "expiry";
		d->cutoff_t0 = next;	/* the kernel cut the flows at the expiry itself */
	}
	d->expiry_checked_ns = now;
}

/* Destroy the sockets a revocation, narrowing or expiry left uncovered. */
static void run_cutoff(struct bh_daemon *d)
{
	const char *why = d->ops.cutoff_pending;
	unsigned int n = 0;
	int err;

	d->ops.cutoff_pending = NULL;
	if (!why || d->o->no_destroy)
		return;
	err = bh_cutoff(d->l, &n);
	if (err)
		pr_warn("destroying sockets cut off by %s: %s\n", why, strerror(-err));
	else if (n && d->cutoff_t0)
		bh_metrics_observe(&d->cutoff_hist, (double)(boot_now() - d->cutoff_t0) / 1e9);
	d->cutoff_t0 = 0;
	if (n || err)
		bh_ops_event(&d->ops, "sockets-destroyed", NULL, NULL,
			     json_pack("{s:s, s:i, s:s}", "cause", why, "count", (int)n,
				       "result", err ? strerror(-err) : "ok"));
}

/* ---- metrics ---- */

static char *render_metrics(void *ctx, size_t *len)
{
	struct bh_daemon *d = ctx;
	struct bh_clock now;
	char *buf;

	bh_clock_now(&now);
	if (bh_metrics_render(&(struct bh_metrics_src){ .maps = bh_loader_maps(d->l), .gs = &d->gs,
			      .clk = &now, .cutoff = &d->cutoff_hist,
			      .verify_ok_unix_ns = d->vj.ok_unix_ns }, &buf, len))
		return NULL;
	return buf;
}

/* --metrics-file: the whole text, atomically. */
static void write_metrics(struct bh_daemon *d)
{
	size_t len;
	char *buf;
	int err;

	if (!d->o->metrics_file)
		return;
	buf = render_metrics(d, &len);
	err = buf ? bh_metrics_write_file(d->o->metrics_file, buf, len) : -ENOMEM;
	if (err)
		pr_warn("cannot write the metrics file %s: %s\n", d->o->metrics_file, strerror(-err));
	free(buf);
}

static void lifecycle(struct bh_daemon *d, const char *what, const char *detail)
{
	bh_writer_emit(d->w, NULL, bh_event_lifecycle(what, bh_loader_pin_dir(d->l),
						      d->ops.policy_path ? d->ops.policy_path : d->o->policy, detail));
}

/* ---- setup ---- */

/* The service manager's one-line status (systemctl status): what is
 * enforced; with ready, also READY=1 (notify.c). */
static void notify_enforcing(struct bh_daemon *d, int ready, const char *note)
{
	char st[PATH_MAX + 256];

	snprintf(st, sizeof(st), "enforcing %zu partners, %zu grants (%s)%s%s",
		 d->gs.pol.npartners, d->gs.eff.ngrants, bh_loader_pin_dir(d->l),
		 note ? "; " : "", note ? note : "");
	if (ready)
		bh_notify_ready(st);
	else
		bh_notify_status("%s", st);
}

static uint64_t current_gen(struct bh_daemon *d)
{
	struct bh_state st;

	bh_maps_state_read(bh_loader_maps(d->l), &st);
	return st.gen;
}

/* The records found pinned at start (before this daemon applied anything). */
static void count_restored(struct bh_daemon *d)
{
	size_t i;

	for (i = 0; i < d->gs.jit.n; i++)
		if (d->gs.jit.r[i].kind <= BH_JIT_NEXT)
			d->restored[d->gs.jit.r[i].kind]++;
}

static void print_errors(const struct bh_errors *errs)
{
	size_t i;

	for (i = 0; i < errs->n; i++)
		fprintf(stderr, "%s\n", errs->msg[i]);
}

static int open_signals(void)
{
	sigset_t mask;
	int fd;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	fd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (fd < 0)
		pr_warn("signalfd: %s\n", strerror(errno));
	return fd;
}

/* The pinned grant records, migrated from layout 1 if need be. 0 or -errno
 * (logged). */
static int migrate_records(struct bh_daemon *d)
{
	int err = bh_jit_migrate(bh_loader_pin_dir(d->l), d->gs.jit_fd);

	if (err < 0) {
		/* starting without them would bring revoked grants back */
		pr_warn("cannot migrate the grant records in %s/bh_jit: %s\n",
			bh_loader_pin_dir(d->l), strerror(-err));
		return err;
	}
	if (err > 0)
		pr_info("migrated %d grant records from %s/bh_jit (layout 1)\n", err,
			bh_loader_pin_dir(d->l));
	return 0;
}

/* Load (adopting what is pinned), restore the grant records and apply
 * policy np (taken on success): enforcement is in place when it returns 0. */
static int enforce(struct bh_daemon *d, struct bh_policy *np)
{
	struct bh_errors errs = {};
	int err;

	err = bh_loader_open(&d->l, d->o->pin_dir, d->o->ring_size_kib, !d->o->no_bind_tp);
	if (err)
		return err;
	d->gs.jit_fd = bh_loader_maps(d->l)->jit;
	d->gen_before = current_gen(d);
	err = migrate_records(d);
	if (err)
		return err;
	err = bh_jit_load(d->gs.jit_fd, &d->gs.jit);
	count_restored(d);
	if (!err)
		err = bh_grants_apply(&d->gs, d->l, np, &errs);
	if (err) {
		print_errors(&errs);
		pr_warn("policy not applied: %s\n", strerror(-err));
	}
	bh_errors_free(&errs);
	d->enforced = !err;
	return err;
}

/* The policy file to start with, absolute, in *path (free it): the one an
 * `apply` made the policy in force on these pins (pinned BH_JIT_SOURCE), or
 * --policy. 0 or -errno (logged). */
static int policy_in_force(struct bh_daemon *d, char **path)
{
	struct bh_jitset js;
	const struct bh_jit *src;
	char *given = realpath(d->o->policy, NULL);

	*path = NULL;
	if (!given) {
		int err = -errno;

		pr_warn("%s: cannot open: %s\n", d->o->policy, strerror(-err));
		return err;
	}
	if (bh_jit_load_pinned(d->o->pin_dir, &js) == 0) {
		src = bh_jit_source(&js);
		if (src && strcmp(src->purpose, given) && access(src->purpose, R_OK) == 0) {
			pr_info("policy in force: %s (made so by `bulkhead apply`; --policy %s "
				"is not read until `bulkhead apply %s` or `bulkhead down`)\n",
				src->purpose, d->o->policy, given);
			*path = strdup(src->purpose);
		} else if (src && strcmp(src->purpose, given)) {
			pr_warn("the applied policy file %s cannot be read (%s): starting with "
				"--policy %s\n", src->purpose, strerror(errno), given);
		}
		bh_jitset_free(&js);
	}
	if (*path) {
		free(given);
		return 0;
	}
	*path = given;
	return 0;
}

/* Everything up to `ready`. 0 or -errno (logged). */
static int setup(struct bh_daemon *d)
{
	const struct bh_daemon_opts *o = d->o;
	struct bh_errors errs = {};
	struct bh_policy np = {};
	char *path = NULL, *text = NULL;
	uint8_t sha[32];
	size_t len;
	int err, owner;

	/* one daemon a control socket: a live one is never taken over (nothing
	 * is loaded or pinned before this check) */
	owner = bh_ctl_owner(o->control);
	if (owner) {
		if (owner > 0)
			pr_warn("another bulkhead daemon (pid %d) is serving %s: stop it first, "
				"or give this one its own --control socket\n", owner, o->control);
		else
			pr_warn("another bulkhead daemon is serving %s: stop it first, "
				"or give this one its own --control socket\n", o->control);
		return -EADDRINUSE;
	}
	err = policy_in_force(d, &path);
	if (err)
		return err;
	if (bh_policy_read(path, &text, &len, &errs) ||
	    bh_policy_parse(path, text, len, &np, &errs)) {
		print_errors(&errs);
		bh_errors_free(&errs);
		free(text);
		free(path);
		return -EINVAL;
	}
	bh_sha256(text, len, sha);
	free(text);
	if (bh_policy_warnings(&np, NULL, &errs) > 0)	/* as `check` says them */
		print_errors(&errs);
	bh_errors_free(&errs);
	if (o->metrics_listen) {
		char why[256];

		err = bh_metrics_listen(o->metrics_listen, o->metrics_any_addr, &d->metrics, why);
		if (err) {
			pr_warn("%s\n", why);
			bh_policy_free(&np);
			return err;
		}
	}
	d->sfd = open_signals();
	err = d->sfd < 0 ? -EIO : 0;
	if (!err) {
		err = bh_writer_open(&d->w, o->log_dir, o->to_stdout);
		if (err)
			pr_warn("cannot open the event log %s: %s\n",
				o->log_dir ? o->log_dir : "stdout", strerror(-err));
	}
	if (!err && !(d->eb = bh_event_builder_new())) {
		err = -ENOMEM;
		pr_warn("cannot allocate the event builder: %s\n", strerror(ENOMEM));
	}
	if (!err)
		err = enforce(d, &np);
	bh_policy_free(&np);
	if (err) {
		free(path);
		return err;
	}
	d->ops = (struct bh_ops){ .gs = &d->gs, .l = d->l, .w = d->w, .clk = &d->clk,
				  .pin_dir = bh_loader_pin_dir(d->l), .policy_path = path };
	err = bh_grants_set_source(&d->gs, path, sha, NULL);
	if (err)
		pr_warn("cannot pin %s as the policy file in force: %s\n", path, strerror(-err));
	d->ctl_fd = bh_ctl_listen(o->control);
	if (d->ctl_fd < 0) {
		pr_warn("cannot listen on %s: %s (enforcement is applied and pinned)\n",
			o->control, strerror(-d->ctl_fd));
		return d->ctl_fd;
	}
	bh_clock_now(&d->clk);
	d->rb = ring_buffer__new(bh_loader_maps(d->l)->events, on_record, d, NULL);
	if (!d->rb || ring_buffer__add(d->rb, bh_loader_maps(d->l)->bindev, on_bindev, d)) {
		err = -errno;
		pr_warn("cannot open the event ring buffers: %s\n", strerror(-err));
		return err;
	}
	return 0;
}

/* Enforcement is attached: report, cut off what expired while no daemon
 * ran, say `ready`. */
static void started(struct bh_daemon *d)
{
	report_loss(d);		/* baseline: losses before this start were reported */
	lifecycle(d, "start", bh_loader_bind_mode(d->l) == BH_BIND_MODE_CREATION ?
		  "binding: at-creation (recreated cgroups are bound by the kernel at mkdir)" :
		  "binding: rescan (recreated cgroups are bound by the daemon within a second)");
	bh_writer_emit(d->w, NULL, bh_event_adopt(d->gen_before, d->restored[BH_JIT_GRANT],
						  d->restored[BH_JIT_REVOKE],
						  d->restored[BH_JIT_TTL]));
	d->expiry_checked_ns = boot_now();
	d->ops.cutoff_pending = d->gen_before ? "adopt" : NULL;	/* expiries while down */
	run_cutoff(d);
	bh_writer_flush(d->w);
	write_metrics(d);
	if (d->o->to_stdout) {
		pr_info("ready\n");	/* stdout is the JSON stream */
	} else {
		printf("ready\n");
		fflush(stdout);
	}
	notify_enforcing(d, 1, NULL);	/* applied, attached and pinned */
}

/* ---- the loop ---- */

/* SIGUSR1: reopen the log files only (logrotate). */
static void reopen(struct bh_daemon *d)
{
	bh_writer_reopen(d->w);
	lifecycle(d, "reopen", "SIGUSR1: log files reopened, policy not reloaded");
}

/* SIGHUP: reload the policy file in force (the last one applied), reopen
 * the log files. */
static void reload(struct bh_daemon *d)
{
	json_t *r;
	int ok;

	bh_notify_reloading();
	d->cutoff_t0 = boot_now();
	r = bh_ops_apply(&d->ops, d->ops.policy_path, NULL, NULL, "reload");
	ok = json_is_true(json_object_get(r, "ok"));
	json_decref(r);
	run_cutoff(d);
	bh_writer_reopen(d->w);
	lifecycle(d, "reload", ok ? "SIGHUP: policy reloaded, log files reopened" :
		  "SIGHUP: the policy file has errors (see the policy line), the "
		  "running policy stays; log files reopened");
	notify_enforcing(d, 1, ok ? NULL : "last reload failed: policy file has errors, "
			 "running policy kept");
}

/* Every second. */
static void tick(struct bh_daemon *d)
{
	bh_clock_now(&d->clk);	/* follow wall-clock steps */
	flush_floods(d, 0);
	report_loss(d);
	sweep_expired(d);
	check_expiries(d);
	run_cutoff(d);
	bh_writer_flush(d->w);
	write_metrics(d);
}

/* Rescan mode binds recreated cgroups, well within a second; at creation
 * the kernel binds and the rescan only repairs what a race with apply left. */
static int rescan_ms(const struct bh_daemon *d)
{
	return bh_loader_bind_mode(d->l) == BH_BIND_MODE_CREATION ? 1000 : 200;
}

static void rescan(struct bh_daemon *d)
{
	if (bh_rescan(d->l, emit_binding, d))
		bh_writer_flush(d->w);
}

/* Poll timeout: the next wake-up (second or rescan), or the next grant
 * expiry when sooner (the kernel already enforces it; waking then destroys
 * the sockets it cut off without delay). */
static int poll_timeout(int64_t wake, uint64_t exp)
{
	int64_t now = mono_ms();
	int timeout = wake > now ? (int)(wake - now) : 0;
	uint64_t bnow = boot_now();

	if (exp && (exp <= bnow || (exp - bnow) / 1000000 + 1 < (uint64_t)timeout))
		timeout = exp <= bnow ? 0 : (int)((exp - bnow) / 1000000 + 1);
	return timeout;
}

/* Until SIGINT, SIGTERM or `down`. */
static void loop(struct bh_daemon *d)
{
	struct pollfd pfd[4 + BH_METRICS_MAX_FDS] = {
		{ .fd = d->sfd, .events = POLLIN },
		{ .fd = ring_buffer__epoll_fd(d->rb), .events = POLLIN },
		{ .fd = d->ctl_fd, .events = POLLIN },
		{ .fd = -1, .events = POLLIN },
	};
	unsigned int flow_s = d->o->flow_interval_s;
	int64_t next_sec = mono_ms() + 1000, next_rescan = mono_ms() + rescan_ms(d);
	int64_t next_flow = flow_s ? mono_ms() + flow_s * 1000ll : INT64_MAX;

	for (;;) {
		struct signalfd_siginfo si;
		uint64_t exp = bh_grants_next_expiry(&d->gs, d->expiry_checked_ns, &d->clk);
		int64_t now;
		int nm, n;

		pfd[3].fd = bh_verify_job_fd(&d->vj);
		nm = bh_metrics_http_fds(d->metrics, pfd + 4);
		n = poll(pfd, 4 + (nfds_t)nm, poll_timeout(next_sec < next_rescan ? next_sec : next_rescan,
							  exp));

		if (exp && boot_now() >= exp) {
			check_expiries(d);
			run_cutoff(d);
		}
		if (n < 0 && errno != EINTR) {
			pr_warn("poll: %s\n", strerror(errno));
			return;
		}
		if (n > 0 && (pfd[1].revents & POLLIN))
			ring_buffer__consume(d->rb);
		if (d->reattach)
			reattach_points(d);
		if (n > 0 && nm)
			bh_metrics_http_serve(d->metrics, pfd + 4, nm, render_metrics, d);
		if (n > 0 && (pfd[2].revents & POLLIN)) {
			d->cutoff_t0 = boot_now();	/* a revoke or apply may cut flows */
			bh_ctl_serve_one(d->ctl_fd, bh_ops_handle, &d->ops);
			if (d->ops.down)
				return;
			run_cutoff(d);	/* after the reply: enforcement already holds */
			notify_enforcing(d, 0, NULL);
		}
		if (n > 0 && (pfd[3].revents & (POLLIN | POLLHUP)))
			bh_verify_job_read(&d->vj, d->w, mono_ms());
		if (n > 0)
			bh_writer_flush(d->w);	/* one write per batch, never stale */
		now = mono_ms();
		if (now >= next_sec) {
			next_sec = now + 1000;
			tick(d);
			bh_verify_job_tick(&d->vj, d->o, now);
		}
		if (now >= next_rescan) {
			next_rescan = now + rescan_ms(d);
			rescan(d);
		}
		if (now >= next_flow) {
			next_flow = now + flow_s * 1000ll;
			flush_flows(d);
		}
		if (n <= 0 || !(pfd[0].revents & POLLIN) || read(d->sfd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo == SIGUSR1)
			reopen(d);
		else if (si.ssi_signo == SIGHUP)
			reload(d);
		else
			return;
	}
}

/* ---- teardown ---- */

/* The loop ended: what the kernel still holds, then the last lifecycle line. */
static void stopping(struct bh_daemon *d)
{
	char detail[160];

	bh_notify_stopping();
	bh_verify_job_stop(&d->vj);
	ring_buffer__consume(d->rb);
	/* open windows stay for the next daemon, unless `down` removed it all */
	flush_floods(d, d->ops.down);
	if (d->o->flow_interval_s)
		flush_flows(d);
	report_loss(d);
	if (!d->ops.down)
		write_metrics(d);	/* the last word; after `down` there is nothing to say */
	snprintf(detail, sizeof(detail), "%llu kernel records written; %s",
		 (unsigned long long)d->records, d->ops.down ?
		 "enforcement removed by `bulkhead down`" :
		 "enforcement stays pinned, `bulkhead down` removes it");
	lifecycle(d, "stop", detail);
	if (d->ops.down)
		pr_info("exiting: `bulkhead down` removed the enforcement in %s\n", bh_loader_pin_dir(d->l));
	else
		pr_info("exiting; enforcement stays pinned in %s\n", bh_loader_pin_dir(d->l));
}

static void teardown(struct bh_daemon *d)
{
	size_t i;

	bh_ctl_close(d->ctl_fd, d->o->control);
	bh_metrics_http_close(d->metrics);
	ring_buffer__free(d->rb);
	if (d->w) {
		bh_writer_flush(d->w);
		bh_writer_close(d->w);
	}
	bh_event_builder_free(d->eb);
	if (d->l && !d->enforced)
		bh_loader_discard(d->l);	/* a fresh pin dir: nothing half-loaded stays */
	bh_loader_close(d->l);
	for (i = 0; i < d->ncg; i++)
		free(d->cg[i].path);
	bh_flows_free(&d->flows);
	bh_grants_free(&d->gs);
	free(d->ops.policy_path);
	if (d->sfd >= 0)
		close(d->sfd);
	free(d);
}

int bh_daemon_run(const struct bh_daemon_opts *o)
{
	struct bh_daemon *d = calloc(1, sizeof(*d));
	int ret = 1;

	if (!d)
		return 1;
	d->o = o;
	d->ctl_fd = -1;
	d->sfd = -1;
	if (setup(d) == 0) {
		started(d);
		bh_verify_job_init(&d->vj, o->verify_every_ms, mono_ms());
		loop(d);
		stopping(d);
		ret = 0;
	}
	teardown(d);
	return ret;
}
