// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Load, attach, apply: the BPF object (struct bh_loader, opaque), partner
 * ids, cgroup bindings and attach points, the compiled policy trie, and the
 * programs' links.
 *
 * Pin layout under the pin directory (default /sys/fs/bpf/bulkhead; pindir.c):
 *   bh_policy bh_cgroups bh_state bh_counters bh_sk bh_pnames   maps (by name; maps.c)
 *   links/<cgroup id>-<program>                                  one bpf_link each
 * Maps are reused on the next load (libbpf pin-by-name), links are updated in
 * place with the new program (BPF_LINK_UPDATE), so a restart never opens a gap.
 * Binding at creation (bind.c) is opened with it: bh_cgpaths is filled before
 * bh_cgroups at every apply.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <bulkhead/events.h>
#include "bind.h"
#include "bulkhead.skel.h"
#include "cgroup.h"
#include "loader.h"
#include "log.h"
#include "maps.h"
#include "pindir.h"


struct bh_attach_point {
	char *path;		/* relative to the cgroup2 mount */
	uint64_t cgid;
};

struct bh_loader {
	char pin_dir[PATH_MAX];
	char cg2[PATH_MAX];	/* cgroup2 mount point */
	int lock_fd;
	struct bulkhead_bpf *skel;
	struct bh_maps maps;	/* the skeleton's */
	size_t npoints;
	struct bh_attach_point *points;
	/* partner names by id: the pinned bh_pnames, read once at open (this
	 * loader holds the pin lock, so it is the only writer) */
	struct bh_pname *names;
	/* attach points whose links this loader already attached or updated */
	size_t nattached;
	uint64_t *attached;
	/* binding at creation, or the rescan fallback (bind.c) */
	struct bh_bind *bind;
	/* bh_fold_tcp, bh_fold_udp iterators (flows.c), made on first use */
	struct bpf_link *fold_links[2];
	/* the pin directory held no pins when this loader locked it (nothing
	 * to adopt), and this loader created the directory itself */
	int fresh;
	int made_dir;
};

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && bh_log_level < BH_LOG_DEBUG)
		return 0;
	if (level == LIBBPF_INFO && bh_log_level < BH_LOG_INFO)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

int bh_loader_open(struct bh_loader **lp, const char *pin_dir, unsigned int ring_kib,
		   int bind_tp)
{
	struct bh_loader *l = calloc(1, sizeof(*l));
	LIBBPF_OPTS(bpf_object_open_opts, oo);
	int err;

	*lp = NULL;
	if (!l)
		return -ENOMEM;
	oo.pin_root_path = l->pin_dir;
	l->lock_fd = -1;
	libbpf_set_print(libbpf_print);
	if ((size_t)snprintf(l->pin_dir, sizeof(l->pin_dir), "%s", pin_dir) >= sizeof(l->pin_dir)) {
		err = -ENAMETOOLONG;
		goto fail;
	}
	err = bh_cgroup2_mount(l->cg2, sizeof(l->cg2));
	if (err) {
		pr_warn("no cgroup v2 hierarchy mounted (see /proc/self/mountinfo): %s\n",
			strerror(-err));
		goto fail;
	}
	l->made_dir = access(l->pin_dir, F_OK) != 0;
	err = bh_pin_prepare(l->pin_dir);
	if (err)
		goto fail;
	l->lock_fd = open(l->pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (l->lock_fd < 0 || bh_lock_pin_dir(l->lock_fd)) {
		err = -errno;
		pr_warn("%s: %s\n", l->pin_dir, err == -EWOULDBLOCK ?
			"another bulkhead daemon holds this pin directory" : strerror(-err));
		goto fail;
	}
	l->fresh = bh_pin_dir_empty(l->pin_dir);
	l->skel = bulkhead_bpf__open_opts(&oo);
	if (!l->skel) {
		err = -errno;
		pr_warn("cannot open the BPF object: %s\n", strerror(-err));
		goto fail;
	}
	if (ring_kib) {
		err = bh_maps_set_ring_kib(l->skel, ring_kib);
		if (err) {
			pr_warn("ring size %u KiB: %s (a power of two, at least 4)\n", ring_kib,
				strerror(-err));
			goto fail;
		}
	}
	err = bulkhead_bpf__load(l->skel);
	if (err) {
		pr_warn("cannot load the BPF programs: %s%s\n", strerror(-err),
			err == -EINVAL ? " (maps pinned in the pin directory by another "
			"bulkhead version? run `bulkhead down` first)" : "");
		goto fail;
	}
	bh_maps_of_skel(&l->maps, l->skel);
	l->names = calloc(BH_MAX_PARTNERS, sizeof(*l->names));
	if (!l->names) {
		err = -ENOMEM;
		goto fail;
	}
	for (uint32_t id = 1; id < BH_MAX_PARTNERS; id++)
		bh_maps_pname_read(&l->maps, id, &l->names[id]);
	err = bh_bind_open(&l->bind, l->pin_dir, bind_tp, &l->maps);	/* bh_cgroups is pinned */
	if (err)
		goto fail;
	*lp = l;
	return 0;
fail:
	bh_loader_discard(l);
	bh_loader_close(l);
	return err;
}

static void free_points(struct bh_loader *l)
{
	size_t i;

	for (i = 0; i < l->npoints; i++)
		free(l->points[i].path);
	free(l->points);
	l->points = NULL;
	l->npoints = 0;
}

void bh_loader_close(struct bh_loader *l)
{
	size_t i;

	if (!l)
		return;
	for (i = 0; i < sizeof(l->fold_links) / sizeof(l->fold_links[0]); i++) {
		bpf_link__destroy(l->fold_links[i]);
		l->fold_links[i] = NULL;
	}
	bh_bind_close(l->bind);
	bulkhead_bpf__destroy(l->skel);	/* closes fds; pinned state stays */
	l->skel = NULL;
	free_points(l);
	free(l->names);
	l->names = NULL;
	free(l->attached);
	l->attached = NULL;
	l->nattached = 0;
	if (l->lock_fd >= 0)
		close(l->lock_fd);
	free(l);
}

const char *bh_loader_pin_dir(const struct bh_loader *l)
{
	return l->pin_dir;
}

const char *bh_loader_cg2(const struct bh_loader *l)
{
	return l->cg2;
}

const struct bh_maps *bh_loader_maps(const struct bh_loader *l)
{
	return &l->maps;
}

const char *bh_loader_partner(const struct bh_loader *l, uint32_t id)
{
	if (id == 0 || id >= BH_MAX_PARTNERS || !l->names || !l->names[id].name[0])
		return NULL;
	return l->names[id].name;
}

size_t bh_loader_npoints(const struct bh_loader *l)
{
	return l->npoints;
}

const char *bh_loader_point(const struct bh_loader *l, size_t i)
{
	return i < l->npoints ? l->points[i].path : NULL;
}

enum bh_bind_mode bh_loader_bind_mode(const struct bh_loader *l)
{
	return bh_bind_mode(l->bind);
}

struct bpf_link *bh_loader_fold_iter(struct bh_loader *l, int k)
{
	struct bpf_program *prog = k ? l->skel->progs.bh_fold_udp : l->skel->progs.bh_fold_tcp;

	if (!l->fold_links[k]) {
		l->fold_links[k] = bpf_program__attach_iter(prog, NULL);
		if (!l->fold_links[k]) {
			int err = errno;

			pr_warn("cannot attach the %s iterator: %s\n", bpf_program__name(prog),
				strerror(err));
			errno = err;
		}
	}
	return l->fold_links[k];
}

/* ---- partner ids: stable per name for the lifetime of the pins ---- */

static int assign_partner_ids(struct bh_loader *l, struct bh_policy *p, struct bh_errors *errs)
{
	struct bh_pname *names = l->names;
	uint32_t id;
	size_t i;
	int err;

	for (i = 0; i < p->npartners; i++) {
		uint32_t free_id = 0;

		p->partners[i].id = 0;
		for (id = 1; id < BH_MAX_PARTNERS; id++) {
			if (!names[id].name[0] && !free_id)
				free_id = id;
			if (!strcmp(names[id].name, p->partners[i].name)) {
				p->partners[i].id = id;
				break;
			}
		}
		if (p->partners[i].id)
			continue;
		if (!free_id) {
			bh_errors_add(errs, "%s: more than %d partners over the life of %s; "
				      "run `bulkhead down` to reset partner ids", p->file,
				      BH_MAX_PARTNERS - 1, l->pin_dir);
			return -ENOSPC;
		}
		snprintf(names[free_id].name, sizeof(names[free_id].name), "%s",
			 p->partners[i].name);
		err = bh_maps_pname_write(&l->maps, free_id, &names[free_id]);
		if (err) {
			names[free_id].name[0] = '\0';
			bh_errors_add(errs, "cannot record partner %s: %s", p->partners[i].name,
				      strerror(-err));
			return err;
		}
		p->partners[i].id = free_id;
	}
	return 0;
}

/* ---- cgroup bindings and attach points ---- */

struct binding {
	char *path;
	uint32_t partner;	/* kernel id; BH_PARTNER_UNKNOWN for the root */
	uint32_t kind;
	uint64_t cgid;
	int present;
};

static int add_binding(struct binding **b, size_t *n, const char *path, uint32_t partner,
		       uint32_t kind)
{
	struct binding *nb = realloc(*b, (*n + 1) * sizeof(**b));

	if (!nb)
		return -ENOMEM;
	*b = nb;
	memset(&nb[*n], 0, sizeof(nb[*n]));
	nb[*n].path = strdup(path);
	nb[*n].partner = partner;
	nb[*n].kind = kind;
	if (!nb[*n].path)
		return -ENOMEM;
	(*n)++;
	return 0;
}

/* Some binding other than b[i] at or above path. */
static const struct binding *binding_above(const struct binding *b, size_t n, size_t i,
					   const char *path)
{
	size_t j;

	for (j = 0; j < n; j++)
		if (j != i && bh_path_under(path, b[j].path))
			return &b[j];
	return NULL;
}

/* A bound cgroup in no other binding's subtree gets its programs at its
 * parent directory (an anchor) when it has one below the cgroup2 root: its
 * own links would die when it is recreated (fail-open), the anchor's stay,
 * and the kernel binds the new cgroup at mkdir. */
static int add_anchors(struct binding **b, size_t *n)
{
	size_t i, nb = *n;
	int err = 0;

	for (i = 0; !err && i < nb; i++) {
		char *parent, *slash;

		if ((*b)[i].kind != BH_CG_BOUND)
			continue;
		parent = strdup((*b)[i].path);
		if (!parent)
			return -ENOMEM;
		slash = strrchr(parent, '/');
		if (slash) {
			*slash = '\0';
			if (!binding_above(*b, *n, i, parent))
				err = add_binding(b, n, parent, BH_PARTNER_UNKNOWN, BH_CG_ANCHOR);
		}
		free(parent);
	}
	return err;
}

/* An absent bound cgroup is fine below partner_root (fail-closed until it
 * appears, then bound); elsewhere it is refused: a misspelt path would leave
 * the workload it meant unconfined. */
static int check_presence(const struct bh_policy *p, const char *cg2, struct binding *b,
			  size_t n, struct bh_errors *errs)
{
	char full[PATH_MAX * 2];
	size_t i;

	for (i = 0; i < n; i++) {
		if (b[i].present)
			continue;
		snprintf(full, sizeof(full), "%s/%s", cg2, b[i].path);
		if (b[i].kind == BH_CG_BOUND && p->partner_root &&
		    bh_path_under(b[i].path, p->partner_root) &&
		    strcmp(b[i].path, p->partner_root)) {
			pr_info("%s: cgroup %s does not exist yet; fail-closed under %s until it "
				"appears\n", p->file, full, p->partner_root);
			continue;
		}
		if (b[i].kind == BH_CG_ROOT)
			bh_errors_add(errs, "%s: partner_root %s: %s (create it: the programs "
				      "attach there, and every partner's cgroup is created below "
				      "it)", p->file, full, strerror(ENOENT));
		else
			bh_errors_add(errs, "%s: cgroup %s: %s (create it%s)", p->file, full,
				      strerror(ENOENT), b[i].kind == BH_CG_ANCHOR ?
				      ": the parent of a bound cgroup is where its programs attach" :
				      ", or bind it below partner_root so it may appear later");
		return -ENOENT;
	}
	return 0;
}

static int collect_bindings(struct bh_loader *l, const struct bh_policy *p,
			    struct binding **out, size_t *nout, struct bh_errors *errs)
{
	struct binding *b = NULL;
	size_t n = 0, i, j;
	int err = 0;

	if (p->partner_root)
		err = add_binding(&b, &n, p->partner_root, BH_PARTNER_UNKNOWN, BH_CG_ROOT);
	for (i = 0; !err && i < p->npartners; i++) {
		const struct bh_partner *pt = &p->partners[i];

		for (j = 0; !err && j < pt->ncgroups; j++)
			err = add_binding(&b, &n, pt->cgroups[j], pt->id, BH_CG_BOUND);
	}
	if (!err)
		err = add_anchors(&b, &n);
	for (i = 0; !err && i < n; i++) {
		char full[PATH_MAX * 2];

		snprintf(full, sizeof(full), "%s/%s", l->cg2, b[i].path);
		b[i].present = bh_cgroup_id(full, &b[i].cgid) == 0;
	}
	if (!err)
		err = check_presence(p, l->cg2, b, n, errs);
	if (err) {
		for (i = 0; i < n; i++)
			free(b[i].path);
		free(b);
		return err;
	}
	*out = b;
	*nout = n;
	return 0;
}

/* Attach points: present bindings not below another binding (programs attached
 * with ALLOW_MULTI run for all descendants; attaching twice would run twice). */
static int compute_points(struct bh_loader *l, struct binding *b, size_t n)
{
	size_t i, j;

	free_points(l);
	for (i = 0; i < n; i++) {
		int covered = 0;

		if (!b[i].present)
			continue;
		for (j = 0; j < n && !covered; j++)
			covered = j != i && b[j].present && bh_path_under(b[i].path, b[j].path) &&
				  (strcmp(b[i].path, b[j].path) || j < i);
		if (covered)
			continue;
		l->points = realloc(l->points, (l->npoints + 1) * sizeof(*l->points));
		if (!l->points)
			return -ENOMEM;
		l->points[l->npoints].path = strdup(b[i].path);
		l->points[l->npoints].cgid = b[i].cgid;
		l->npoints++;
	}
	return 0;
}

/* ---- the policy trie ---- */

struct trie_fill {
	int fd;
	int one_by_one;		/* batch updates unsupported for this map type here */
	int err;		/* the kernel's refusal */
};

static int trie_put(void *arg, const struct bh_lpm_key *keys, const struct bh_lpm_val *vals,
		    size_t n)
{
	struct trie_fill *t = arg;

	t->err = bh_maps_trie_fill(t->fd, keys, vals, n, &t->one_by_one);
	return t->err;
}

/*
 * Compile p straight into a new trie, a batch at a time, so the entries
 * never sit in memory all at once. Returns its fd (not installed anywhere
 * yet) or -errno with the reasons in errs.
 */
static int build_trie(const struct bh_policy *p, const struct bh_clock *clk,
		      struct bh_compiled *counts, struct bh_errors *errs)
{
	size_t max = bh_compile_max_entries(p);
	struct trie_fill t = { .fd = -1 };
	int err;

	memset(counts, 0, sizeof(*counts));
	t.fd = bh_maps_trie_new(max);
	if (t.fd < 0)
		t.err = err = t.fd;
	else
		err = bh_compile_stream(p, clk, trie_put, &t, counts, errs);
	if (!err)
		return t.fd;
	if (t.fd >= 0)
		close(t.fd);
	if (t.err)	/* otherwise the compiler's, already described in errs */
		bh_errors_add(errs, "%s: cannot create the policy trie (%zu entries): %s",
			      p->file, max, strerror(-err));
	return err;
}

/* ---- links ---- */

char **bh_point_dirs(const struct bh_loader *l)
{
	char **v = calloc(l->npoints + 1, sizeof(*v));
	size_t i;

	if (!v)
		return NULL;
	for (i = 0; i < l->npoints; i++) {
		if (asprintf(&v[i], "%s/%s", l->cg2, l->points[i].path) < 0) {
			v[i] = NULL;
			bh_free_strv(v);
			return NULL;
		}
	}
	return v;
}

void bh_free_strv(char **v)
{
	size_t i;

	for (i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

static int attach_point(struct bh_loader *l, const struct bh_attach_point *pt)
{
	struct bpf_program *prog;
	char full[PATH_MAX * 2], lpath[PATH_MAX + 64];
	int cgfd, err = 0;

	snprintf(full, sizeof(full), "%s/%s", l->cg2, pt->path);
	cgfd = open(full, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cgfd < 0) {
		err = -errno;
		pr_warn("cannot open cgroup %s: %s\n", full, strerror(-err));
		return err;
	}
	bpf_object__for_each_program(prog, l->skel->obj) {
		struct bpf_link *link;

		if (bpf_program__type(prog) == BPF_PROG_TYPE_TRACING)
			continue;	/* the fold iterators: bh_fold_flows */
		bh_pin_link_path(lpath, sizeof(lpath), l->pin_dir, pt->cgid, bpf_program__name(prog));
		link = access(lpath, F_OK) == 0 ? bpf_link__open(lpath) : NULL;
		if (link) {
			/* adopt: swap the program in place, no detach/attach gap */
			err = bpf_link__update_program(link, prog);
			bpf_link__destroy(link);
			if (err) {
				pr_warn("cannot update %s: %s\n", lpath, strerror(-err));
				break;
			}
			continue;
		}
		link = bpf_program__attach_cgroup(prog, cgfd);
		if (!link) {
			err = -errno;
			pr_warn("cannot attach %s to %s: %s\n", bpf_program__name(prog), full,
				strerror(-err));
			break;
		}
		err = bpf_link__pin(link, lpath);
		if (err) {
			pr_warn("cannot pin %s: %s\n", lpath, strerror(-err));
			bpf_link__destroy(link);
			break;
		}
		bpf_link__destroy(link);	/* the pin keeps it attached */
	}
	close(cgfd);
	return err;
}

/* Organisations and contacts by partner id, for readers of the pins. */
static int record_orgs(struct bh_loader *l, const struct bh_policy *p, struct bh_errors *errs)
{
	size_t i;
	int err;

	for (i = 0; i < p->npartners; i++) {
		const struct bh_partner *pt = &p->partners[i];
		struct bh_porg o = {};

		snprintf(o.org, sizeof(o.org), "%s", pt->org ? pt->org : "");
		snprintf(o.contact, sizeof(o.contact), "%s", pt->contact ? pt->contact : "");
		err = bh_maps_porg_write(&l->maps, pt->id, &o);
		if (err) {
			bh_errors_add(errs, "cannot record the org of partner %s: %s", pt->name,
				      strerror(-err));
			return err;
		}
	}
	return 0;
}

/* bh_cgpaths first: a bound cgroup created from here on is bound by the
 * kernel (at creation), the rest by what follows. */
static int record_paths(struct bh_loader *l, const struct binding *b, size_t n,
			struct bh_errors *errs)
{
	struct bh_bound_path *v = calloc(n ? n : 1, sizeof(*v));
	size_t i, nv = 0;
	int err;

	if (!v)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		if (b[i].kind == BH_CG_BOUND)
			v[nv++] = (struct bh_bound_path){ b[i].path, b[i].partner,
							  b[i].present ? b[i].cgid : 0 };
	err = bh_bind_set_paths(l->bind, v, nv);
	free(v);
	if (err)
		bh_errors_add(errs, "cannot record the bound cgroup paths: %s", strerror(-err));
	return err;
}

static int bind_cgroups(struct bh_loader *l, const struct binding *b, size_t n,
			struct bh_errors *errs)
{
	char full[PATH_MAX * 2];
	uint64_t now_id;
	size_t i;
	int err;

	for (i = 0; i < n; i++) {
		struct bh_cgroup_val v = { .partner = b[i].partner, .kind = b[i].kind };

		if (!b[i].present)
			continue;
		err = bh_maps_cgroup_bind(&l->maps, b[i].cgid, &v);
		if (err) {
			bh_errors_add(errs, "cannot bind cgroup %s: %s", b[i].path, strerror(-err));
			return err;
		}
		/* removed since it was looked up: its rmdir may have passed */
		snprintf(full, sizeof(full), "%s/%s", l->cg2, b[i].path);
		if (bh_cgroup_id(full, &now_id) || now_id != b[i].cgid)
			bh_maps_cgroup_unbind(&l->maps, b[i].cgid);
	}
	return 0;
}

struct bindings {
	const struct binding *b;
	size_t n;
	const struct bh_bind *bind;
};

static int binding_kept(void *ctx, uint64_t cgid)
{
	const struct bindings *bs = ctx;
	size_t i;

	for (i = 0; i < bs->n; i++)
		if (bs->b[i].present && bs->b[i].cgid == cgid)
			return 1;
	/* bound by the kernel since the bindings were collected */
	return bh_bind_is_current(bs->bind, cgid);
}

/* Drop bindings the new policy no longer has. */
static int prune_cgroups(struct bh_loader *l, const struct binding *b, size_t n)
{
	struct bindings bs = { b, n, l->bind };

	bh_maps_cgroups_prune(&l->maps, binding_kept, &bs);
	return 0;
}

static void next_gen(struct bh_state *st)
{
	struct timespec ts;

	st->gen++;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	st->applied_boot_ns = (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static int bump_gen(struct bh_loader *l)
{
	return bh_maps_state_edit(&l->maps, next_gen);
}

static void next_fold_epoch(struct bh_state *st)
{
	st->fold_epoch++;
}

int bh_advance_fold_epoch(struct bh_loader *l)
{
	return bh_maps_state_edit(&l->maps, next_fold_epoch);
}

/* cgid is one of l's attach points (its links stay). */
static int is_point(void *ctx, uint64_t cgid)
{
	const struct bh_loader *l = ctx;
	size_t i;

	for (i = 0; i < l->npoints; i++)
		if (l->points[i].cgid == cgid)
			return 1;
	return 0;
}

int bh_apply(struct bh_loader *l, struct bh_policy *p, struct bh_errors *errs)
{
	struct bh_compiled c = {};	/* counts only: the entries went to the trie */
	struct binding *b = NULL;
	struct bh_clock clk;
	size_t nb = 0, i;
	int err, trie_fd = -1, ndetached;

	/* 1. everything that can fail on bad input, before any kernel change */
	err = assign_partner_ids(l, p, errs);
	if (err)
		return err;
	err = collect_bindings(l, p, &b, &nb, errs);
	if (err)
		return err;
	bh_clock_now(&clk);
	trie_fd = build_trie(p, &clk, &c, errs);
	if (trie_fd < 0) {
		err = trie_fd;
		goto out;
	}
	err = compute_points(l, b, nb);
	if (err)
		goto out;

	/* 2. bindings for new cgroups first (a socket tagged with a partner the
	 * old trie lacks is denied: fail closed), then the atomic trie swap (the
	 * kernel waits for an RCU grace period), then the generation bump that
	 * makes every cached verdict re-decide. */
	err = record_orgs(l, p, errs);
	if (!err)
		err = record_paths(l, b, nb, errs);
	if (!err)
		err = bind_cgroups(l, b, nb, errs);
	if (err)
		goto out;
	err = bh_maps_trie_swap(&l->maps, trie_fd);
	if (err) {
		bh_errors_add(errs, "cannot install the policy trie: %s", strerror(-err));
		goto out;
	}
	err = bump_gen(l);
	if (err) {
		bh_errors_add(errs, "cannot bump the policy generation: %s", strerror(-err));
		goto out;
	}

	/* 3. attach (or adopt: link update) programs at points this loader has not
	 * handled yet, then drop what the policy no longer names */
	for (i = 0; i < l->npoints; i++) {
		size_t j;
		uint64_t *na;

		for (j = 0; j < l->nattached && l->attached[j] != l->points[i].cgid; j++)
			;
		if (j < l->nattached)
			continue;
		err = attach_point(l, &l->points[i]);
		if (err) {
			bh_errors_add(errs, "cannot attach to cgroup %s: %s", l->points[i].path,
				      strerror(-err));
			goto out;
		}
		na = realloc(l->attached, (l->nattached + 1) * sizeof(*na));
		if (!na) {
			err = -ENOMEM;
			goto out;
		}
		l->attached = na;
		l->attached[l->nattached++] = l->points[i].cgid;
	}
	err = prune_cgroups(l, b, nb);
	if (!err)
		err = bh_pin_detach_links(l->pin_dir, is_point, l, &ndetached);
	/* points dropped above lost their links: forget them, so a later policy
	 * naming them again attaches anew */
	for (i = 0; i < l->nattached;) {
		size_t j;

		for (j = 0; j < l->npoints && l->points[j].cgid != l->attached[i]; j++)
			;
		if (j < l->npoints)
			i++;
		else
			l->attached[i] = l->attached[--l->nattached];
	}
	if (err)
		bh_errors_add(errs, "cannot remove stale bindings: %s", strerror(-err));
	pr_info("applied %s: %zu partners, %zu grants, %zu trie entries, %zu attach points, "
		"generation bumped\n", p->file, p->npartners, p->ngrants, c.n, l->npoints);
out:
	if (trie_fd >= 0)
		close(trie_fd);
	for (i = 0; i < nb; i++)
		free(b[i].path);
	free(b);
	return err;
}

int bh_rescan(struct bh_loader *l, void (*on_ev)(void *ctx, const struct bh_bindev *e),
	      void *ctx)
{
	return bh_bind_rescan(l->bind, l->cg2, on_ev, ctx);
}

int bh_loader_unpin(struct bh_loader *l, int *nlinks)
{
	return bh_pin_remove_all(l->pin_dir, 1, nlinks);
}

void bh_loader_discard(struct bh_loader *l)
{
	int n = 0;

	if (!l || !l->fresh || l->lock_fd < 0)
		return;
	if (bh_pin_remove_all(l->pin_dir, l->made_dir, &n) == 0)
		pr_info("nothing enforced: removed what this run pinned in %s\n", l->pin_dir);
	l->fresh = 0;
}
