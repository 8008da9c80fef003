// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Binding at creation (bpf/bind.bpf.c) and its fallback, the rescan: the bind
 * object over the pinned maps, its two pinned tracepoint links, the bound
 * paths in bh_cgpaths, and the rescan that binds recreated cgroups where the
 * tracepoints cannot be used (and repairs what a race with apply left).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "bind.h"
#include "bind.skel.h"
#include "cgroup.h"
#include "log.h"
#include "maps.h"
#include "pindir.h"

_Static_assert(sizeof(struct bh_cgpath_key) == BH_CG_PATH_MAX, "bh_cgpath_key layout");
_Static_assert(sizeof(struct bh_cgpath_val) == 56, "bh_cgpath_val layout");
_Static_assert(sizeof(struct bh_bindev) == 32 + BH_CG_PATH_MAX, "bh_bindev layout");

struct bh_bind {
	struct bind_bpf *skel;
	struct bh_maps *maps;	/* the loader's, with the bind object's maps added */
	char pin_dir[PATH_MAX];
	enum bh_bind_mode mode;
};

static const char *const link_names[2] = { BH_BIND_LINK_MKDIR, BH_BIND_LINK_RMDIR };

static uint64_t boot_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* The object with its programs (with_progs) or its maps only. NULL with errno. */
static struct bind_bpf *load_skel(const char *pin_dir, int with_progs)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .pin_root_path = pin_dir);
	struct bind_bpf *s = bind_bpf__open_opts(&oo);
	int err;

	if (!s)
		return NULL;
	if (!with_progs) {
		bpf_program__set_autoload(s->progs.bh_cg_mkdir, false);
		bpf_program__set_autoload(s->progs.bh_cg_rmdir, false);
	}
	err = bind_bpf__load(s);
	if (err) {
		bind_bpf__destroy(s);
		errno = -err;
		return NULL;
	}
	return s;
}

/* Pin link at pin_dir/links/name, replacing a pinned one (the rename drops
 * the old link once the new one is attached). 0 or -errno. */
static int pin_replace(struct bpf_link *link, const char *pin_dir, const char *name)
{
	char path[PATH_MAX + 32], tmp[PATH_MAX + 40];
	int err;

	bh_pin_named_link_path(path, sizeof(path), pin_dir, name, "");
	bh_pin_named_link_path(tmp, sizeof(tmp), pin_dir, name, "-new");	/* bpffs: no dots */
	unlink(tmp);
	err = bpf_link__pin(link, tmp);
	if (err)
		return err;
	if (rename(tmp, path)) {
		err = -errno;
		unlink(tmp);
	}
	return err;
}

static int prog_tag(int prog_fd, uint8_t tag[BPF_TAG_SIZE])
{
	struct bpf_prog_info pi = {};
	uint32_t len = sizeof(pi);

	if (bpf_obj_get_info_by_fd(prog_fd, &pi, &len))
		return -errno;
	memcpy(tag, pi.tag, BPF_TAG_SIZE);
	return 0;
}

/* The link pinned as name runs prog already (same instructions: an adopted
 * pin directory of this bulkhead version). Tracing links cannot swap their
 * program in place, so a link kept is a link that never lapses. */
static int pinned_runs(const char *pin_dir, const char *name, const struct bpf_program *prog)
{
	uint8_t want[BPF_TAG_SIZE], have[BPF_TAG_SIZE];
	struct bpf_link_info li = {};
	uint32_t len = sizeof(li);
	char path[PATH_MAX + 32];
	int fd, pfd, same = 0;

	bh_pin_named_link_path(path, sizeof(path), pin_dir, name, "");
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;
	if (bpf_obj_get_info_by_fd(fd, &li, &len) == 0 &&
	    (pfd = bpf_prog_get_fd_by_id(li.prog_id)) >= 0) {
		same = !prog_tag(pfd, have) && !prog_tag(bpf_program__fd(prog), want) &&
		       !memcmp(have, want, sizeof(have));
		close(pfd);
	}
	close(fd);
	return same;
}

static int attach_tp(struct bh_bind *b)
{
	struct bpf_program *progs[2] = { b->skel->progs.bh_cg_mkdir, b->skel->progs.bh_cg_rmdir };
	int i, err = 0;

	for (i = 0; i < 2 && !err; i++) {
		struct bpf_link *link;

		if (pinned_runs(b->pin_dir, link_names[i], progs[i]))
			continue;
		link = bpf_program__attach(progs[i]);

		if (!link)
			return -errno;
		err = pin_replace(link, b->pin_dir, link_names[i]);
		bpf_link__destroy(link);	/* the pin keeps it attached */
	}
	return err;
}

/* Rescan mode: pinned links of an earlier at-creation run go (nothing else
 * holds them: this process holds the pin directory lock). */
static void unpin_links(const char *pin_dir)
{
	char path[PATH_MAX + 32];
	int i;

	for (i = 0; i < 2; i++) {
		bh_pin_named_link_path(path, sizeof(path), pin_dir, link_names[i], "");
		if (unlink(path) == 0)
			pr_info("detached %s (binding at creation off)\n", path);
	}
}

int bh_bind_open(struct bh_bind **out, const char *pin_dir, int use_tp, struct bh_maps *maps)
{
	struct bh_bind *b = calloc(1, sizeof(*b));
	int err = 0;

	*out = NULL;
	if (!b)
		return -ENOMEM;
	snprintf(b->pin_dir, sizeof(b->pin_dir), "%s", pin_dir);
	b->maps = maps;
	if (use_tp) {
		b->skel = load_skel(pin_dir, 1);
		err = b->skel ? attach_tp(b) : -errno;
		if (err) {
			pr_warn("binding at creation unavailable (tp_btf/cgroup_mkdir, "
				"tp_btf/cgroup_rmdir: %s): recreated cgroups are bound by the "
				"rescan, within a second\n", strerror(-err));
			bind_bpf__destroy(b->skel);
			b->skel = NULL;
		} else {
			b->mode = BH_BIND_MODE_CREATION;
		}
	}
	if (!b->skel) {
		unpin_links(pin_dir);
		b->skel = load_skel(pin_dir, 0);
		if (!b->skel) {
			err = -errno;
			pr_warn("cannot load the bind maps in %s: %s\n", pin_dir, strerror(-err));
			free(b);
			return err;
		}
	}
	bh_maps_of_bind_skel(maps, b->skel);
	*out = b;
	return 0;
}

int bh_bind_pins_fit(const char *pin_dir, struct bh_pin_fit *fit)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .pin_root_path = pin_dir);
	struct bind_bpf *s = bind_bpf__open_opts(&oo);

	if (!s)
		return -errno;
	bh_maps_pins_fit(s->obj, fit);
	bind_bpf__destroy(s);
	return 0;
}

void bh_bind_close(struct bh_bind *b)
{
	if (!b)
		return;
	b->maps->cgpaths = b->maps->bindev = -1;
	bind_bpf__destroy(b->skel);
	free(b);
}

enum bh_bind_mode bh_bind_mode(const struct bh_bind *b)
{
	return b->mode;
}

const char *bh_bind_mode_str(enum bh_bind_mode m)
{
	return m == BH_BIND_MODE_CREATION ? "at-creation" : "rescan";
}

enum bh_bind_mode bh_bind_mode_pinned(const char *pin_dir)
{
	char path[PATH_MAX + 32];
	int i;

	for (i = 0; i < 2; i++) {
		bh_pin_named_link_path(path, sizeof(path), pin_dir, link_names[i], "");
		if (access(path, F_OK))
			return BH_BIND_MODE_RESCAN;
	}
	return BH_BIND_MODE_CREATION;
}

const char *bh_bound_by_str(unsigned int how)
{
	static const char *const names[] = {
		[BH_BOUND_APPLY] = "apply",
		[BH_BOUND_RESCAN] = "rescan",
		[BH_BOUND_CREATION] = "creation",
	};

	return how < sizeof(names) / sizeof(names[0]) ? names[how] : NULL;
}

uint64_t bh_bind_lost(const struct bh_maps *m)
{
	struct bh_cgpath_key key, next;
	struct bh_cgpath_val val;
	uint64_t n = 0;
	int have = 0;

	while (bh_maps_cgpath_next(m, have ? &key : NULL, &next) == 0) {
		if (bh_maps_cgpath_get(m, &next, &val) == 0)
			n += val.ev_lost;
		key = next;
		have = 1;
	}
	return n;
}

int bh_cgpath_key_of(const char *rel, struct bh_cgpath_key *k)
{
	memset(k, 0, sizeof(*k));
	if ((size_t)snprintf(k->path, sizeof(k->path), "/%s", rel) >= sizeof(k->path))
		return -ENAMETOOLONG;
	return 0;
}

static int wanted(const struct bh_bound_path *v, size_t n, const struct bh_cgpath_key *k)
{
	struct bh_cgpath_key w;
	size_t i;

	for (i = 0; i < n; i++)
		if (bh_cgpath_key_of(v[i].rel, &w) == 0 && !memcmp(&w, k, sizeof(w)))
			return 1;
	return 0;
}

/* Entries of paths no longer bound go. */
static void prune_paths(const struct bh_maps *m, const struct bh_bound_path *v, size_t n)
{
	struct bh_cgpath_key key, next;
	int have = 0;

	while (bh_maps_cgpath_next(m, have ? &key : NULL, &next) == 0) {
		if (!wanted(v, n, &next) && bh_maps_cgpath_del(m, &next) == 0)
			continue;	/* restart from the same key */
		key = next;
		have = 1;
	}
}

int bh_bind_set_paths(struct bh_bind *b, const struct bh_bound_path *v, size_t n)
{
	uint64_t now = boot_ns();
	size_t i;

	for (i = 0; i < n; i++) {
		struct bh_cgpath_key k;
		struct bh_cgpath_val val = {};
		int err = bh_cgpath_key_of(v[i].rel, &k);

		if (err) {
			pr_warn("cgroup %s: a bound path has at most %d bytes\n", v[i].rel,
				BH_CG_PATH_MAX - 2);
			return err;
		}
		bh_maps_cgpath_get(b->maps, &k, &val);	/* absent: zeros */
		val.partner = v[i].partner;
		if (v[i].cgid && v[i].cgid != val.cgid) {
			if (val.cgid)
				val.last_cgid = val.cgid;
			val.cgid = v[i].cgid;
			val.how = BH_BOUND_APPLY;
			val.bound_ns = now;
		}
		err = bh_maps_cgpath_put(b->maps, &k, &val, BPF_ANY);
		if (err) {
			pr_warn("cannot record bound cgroup %s: %s\n", v[i].rel, strerror(-err));
			return err;
		}
	}
	prune_paths(b->maps, v, n);
	return 0;
}

int bh_bind_is_current(const struct bh_bind *b, uint64_t id)
{
	struct bh_cgpath_key key, next;
	struct bh_cgpath_val val;
	int have = 0;

	while (bh_maps_cgpath_next(b->maps, have ? &key : NULL, &next) == 0) {
		if (bh_maps_cgpath_get(b->maps, &next, &val) == 0 && val.cgid == id)
			return 1;
		key = next;
		have = 1;
	}
	return 0;
}

static uint64_t path_id(const char *cg2, const struct bh_cgpath_key *k)
{
	char full[PATH_MAX + BH_CG_PATH_MAX];
	uint64_t id;

	snprintf(full, sizeof(full), "%s%s", cg2, k->path);
	return bh_cgroup_id(full, &id) ? 0 : id;
}

static void send_ev(const struct bh_cgpath_key *k, uint32_t partner, uint8_t what,
		    uint64_t old_id, uint64_t new_id,
		    void (*on_ev)(void *ctx, const struct bh_bindev *e), void *ctx)
{
	struct bh_bindev e = {
		.ts_boot_ns = boot_ns(), .old_cgid = old_id, .new_cgid = new_id,
		.partner = partner, .what = what, .how = BH_BOUND_RESCAN,
	};

	memcpy(e.path, k->path, sizeof(e.path));
	if (on_ev)
		on_ev(ctx, &e);
}

/* One bound path: 1 when something changed. val was read before the path's
 * id, so an id other than the path's current one belongs to a removed cgroup
 * and may go; an id bound here that the path lost meanwhile goes at once. */
static int rescan_one(const struct bh_maps *m, const char *cg2, const struct bh_cgpath_key *k,
		      void (*on_ev)(void *ctx, const struct bh_bindev *e), void *ctx)
{
	struct bh_cgroup_val cv = { .kind = BH_CG_BOUND }, have;
	struct bh_cgpath_val val;
	uint64_t cur;

	if (bh_maps_cgpath_get(m, k, &val) || val.partner == BH_PARTNER_UNKNOWN)
		return 0;
	cur = path_id(cg2, k);
	if (cur == val.cgid && (!cur || (bh_maps_cgroup_lookup(m, cur, &have) == 0 &&
					 have.kind == BH_CG_BOUND && have.partner == val.partner)))
		return 0;
	if (val.cgid && val.cgid != cur) {
		bh_maps_cgroup_unbind(m, val.cgid);
		send_ev(k, val.partner, BH_BINDEV_UNBIND, val.cgid, 0, on_ev, ctx);
		val.last_cgid = val.cgid;
		val.cgid = 0;
		val.how = BH_BOUND_NONE;
	}
	cv.partner = val.partner;
	if (cur && bh_maps_cgroup_bind(m, cur, &cv) == 0) {
		if (path_id(cg2, k) != cur) {
			bh_maps_cgroup_unbind(m, cur);	/* removed meanwhile */
			cur = 0;
		} else {
			/* val.cgid is 0 here, or cur (a repair: apply dropped it) */
			send_ev(k, val.partner, BH_BINDEV_BIND, val.last_cgid, cur, on_ev, ctx);
			val.cgid = cur;
			val.how = BH_BOUND_RESCAN;
			val.bound_ns = boot_ns();
		}
	}
	bh_maps_cgpath_put(m, k, &val, BPF_EXIST);
	return 1;
}

int bh_bind_rescan(struct bh_bind *b, const char *cg2,
		   void (*on_ev)(void *ctx, const struct bh_bindev *e), void *ctx)
{
	struct bh_cgpath_key key, next;
	int have = 0, n = 0;

	while (bh_maps_cgpath_next(b->maps, have ? &key : NULL, &next) == 0) {
		n += rescan_one(b->maps, cg2, &next, on_ev, ctx);
		key = next;
		have = 1;
	}
	return n;
}
