// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Cutting off the sockets a revocation or expiry left without a grant. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <bulkhead/decide.h>
#include "cgroup.h"
#include "cutoff.h"
#include "grants.h"
#include "log.h"
#include "maps.h"
#include "sockkill.h"

/* cgroup id -> partner (nearest bound ancestor) for every cgroup below the
 * attach points: the userspace twin of the kernel's identity walk. */
struct cg_partner {
	uint64_t cgid;
	uint32_t partner;	/* BH_PARTNER_UNKNOWN: under a root, bound to no partner;
				   CG_OUTSIDE: below an anchor, no partner's */
};

#define CG_OUTSIDE UINT32_MAX

struct walk {
	const struct bh_maps *maps;
	struct cg_partner *v;
	size_t n, cap;
	uint32_t at_level[64];	/* partner in force at each depth of the walk */
	int err;
};

static int walk_cb(void *ctx, const struct bh_cgroup_entry *e)
{
	struct walk *w = ctx;
	struct bh_cgroup_val b;
	uint32_t partner;

	if (!e->id)
		return 0;
	partner = e->level > 0 && e->level < 64 ? w->at_level[e->level - 1] :
		  BH_PARTNER_UNKNOWN;
	if (bh_maps_cgroup_lookup(w->maps, e->id, &b) == 0)
		partner = b.kind == BH_CG_BOUND ? b.partner :
			  b.kind == BH_CG_ANCHOR ? CG_OUTSIDE : BH_PARTNER_UNKNOWN;
	if (e->level < 64)
		w->at_level[e->level] = partner;
	if (w->n == w->cap) {
		struct cg_partner *nv;

		w->cap = w->cap ? 2 * w->cap : 64;
		nv = realloc(w->v, w->cap * sizeof(*nv));
		if (!nv) {
			w->err = -ENOMEM;
			return w->err;
		}
		w->v = nv;
	}
	w->v[w->n++] = (struct cg_partner){ e->id, partner };
	return 0;
}

struct judge {
	const struct walk *w;
	int trie_fd;
	uint64_t now;
};

static int cg_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct cg_partner *)a)->cgid, y = ((const struct cg_partner *)b)->cgid;

	return x < y ? -1 : x > y;
}

static const struct cg_partner *partner_of(const struct walk *w, uint64_t cgid)
{
	struct cg_partner k = { .cgid = cgid };

	return w->n ? bsearch(&k, w->v, w->n, sizeof(k), cg_cmp) : NULL;
}

static int uncovered(void *ctx, const struct bh_sock_info *si)
{
	const struct judge *j = ctx;
	const struct cg_partner *cp = partner_of(j->w, si->cgroup_id);
	struct bh_lpm_key key = { .prefixlen = 32 + 128 };
	struct bh_lpm_val v;
	struct bh_val_result res;
	uint8_t proto = si->proto == IPPROTO_TCP ? BH_PROTO_TCP : BH_PROTO_UDP;

	if (!cp || cp->partner == CG_OUTSIDE || !si->dport)
		return 0;	/* not a partner socket, or not connected */
	if (cp->partner == BH_PARTNER_UNKNOWN)
		return 1;	/* denied everything */
	key.partner = htonl(cp->partner);
	memcpy(key.addr, si->dst, 16);
	if (bh_maps_trie_lookup(j->trie_fd, &key, &v))
		return 1;	/* partner gone from the policy */
	if (v.mode == BH_MODE_AUDIT)
		return 0;
	bh_val_decide(&v, proto, si->dport, j->now, &res);
	return res.reason != BH_REASON_GRANTED;
}

/* The partner of every cgroup below the attach points (w, sorted), and the
 * trie in force, for a scan of the sockets. */
static int prepare(struct bh_loader *l, struct walk *w, struct judge *j, char ***dirs)
{
	size_t npoints = bh_loader_npoints(l), i;
	struct timespec ts;
	int err = 0;

	*w = (struct walk){ .maps = bh_loader_maps(l) };
	*j = (struct judge){ .w = w, .trie_fd = -1 };
	*dirs = bh_point_dirs(l);
	if (!*dirs)
		return -ENOMEM;
	for (i = 0; i < npoints && !err; i++) {
		memset(w->at_level, 0, sizeof(w->at_level));
		bh_cgroup_walk((*dirs)[i], -1, walk_cb, w);
		err = w->err;
	}
	if (!err && w->n)
		qsort(w->v, w->n, sizeof(*w->v), cg_cmp);
	if (!err) {
		j->trie_fd = bh_maps_trie_current(w->maps);
		err = j->trie_fd < 0 ? j->trie_fd : 0;
	}
	clock_gettime(CLOCK_BOOTTIME, &ts);
	j->now = (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
	return err;
}

static void release(struct walk *w, struct judge *j, char **dirs)
{
	if (j->trie_fd >= 0)
		close(j->trie_fd);
	bh_free_strv(dirs);
	free(w->v);
}

int bh_cutoff(struct bh_loader *l, unsigned int *destroyed)
{
	struct walk w;
	struct judge j;
	char **dirs;
	int err;

	*destroyed = 0;
	err = prepare(l, &w, &j, &dirs);
	if (!err)
		err = bh_sock_kill((const char *const *)dirs, bh_loader_npoints(l), uncovered, &j,
				   destroyed);
	release(&w, &j, dirs);
	return err;
}

/* A socket judged against the policy in force and against a candidate. */
struct preview {
	struct judge j;
	const struct bh_compiled *c;
	unsigned int cut;
};

/* The candidate's entry for partner (network order) and address: the
 * longest prefix, as the kernel's trie would find it. */
static const struct bh_lpm_val *candidate_entry(const struct bh_compiled *c, uint32_t partner,
						const uint8_t *addr)
{
	const struct bh_lpm_val *best = NULL;
	uint32_t best_len = 0;

	for (size_t i = 0; i < c->n; i++) {
		const struct bh_lpm_key *k = &c->keys[i];
		struct bh_prefix in, pf;

		if (k->partner != partner || (best && k->prefixlen <= best_len))
			continue;
		memcpy(in.addr, addr, 16);
		in.plen = 128;
		memcpy(pf.addr, k->addr, 16);
		pf.plen = (uint8_t)(k->prefixlen - 32);
		if (bh_prefix_within(&in, &pf)) {
			best = &c->vals[i];
			best_len = k->prefixlen;
		}
	}
	return best;
}

/* Allowed now, denied by the candidate: counted, never destroyed. */
static int would_cut(void *ctx, const struct bh_sock_info *si)
{
	struct preview *p = ctx;
	const struct cg_partner *cp = partner_of(p->j.w, si->cgroup_id);
	const struct bh_lpm_val *v;
	struct bh_val_result res;

	if (!cp || cp->partner == CG_OUTSIDE || cp->partner == BH_PARTNER_UNKNOWN || !si->dport ||
	    uncovered(&p->j, si))
		return 0;	/* not a partner flow, or already not allowed */
	v = candidate_entry(p->c, htonl(cp->partner), si->dst);
	if (v && v->mode == BH_MODE_AUDIT)
		return 0;
	if (v)
		bh_val_decide(v, si->proto == IPPROTO_TCP ? BH_PROTO_TCP : BH_PROTO_UDP, si->dport,
			      p->j.now, &res);
	p->cut += !v || res.reason != BH_REASON_GRANTED;
	return 0;
}

int bh_cutoff_preview(struct bh_loader *l, const struct bh_policy *eff, unsigned int *cut)
{
	struct bh_compiled c = {};
	struct bh_errors errs = {};
	struct preview p = { .c = &c };
	struct bh_clock clk;
	struct walk w;
	char **dirs;
	int err;

	*cut = 0;
	bh_clock_now(&clk);
	err = bh_compile(eff, &clk, &c, &errs);
	bh_errors_free(&errs);
	if (err)
		return err;
	err = prepare(l, &w, &p.j, &dirs);
	if (!err)
		err = bh_sock_kill((const char *const *)dirs, bh_loader_npoints(l), would_cut, &p,
				   NULL);
	*cut = p.cut;
	release(&w, &p.j, dirs);
	bh_compiled_free(&c);
	return err;
}
