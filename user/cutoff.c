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

int bh_cutoff(struct bh_loader *l, unsigned int *destroyed)
{
	struct walk w = { .maps = bh_loader_maps(l) };
	size_t npoints = bh_loader_npoints(l);
	struct judge j = { .w = &w };
	char **dirs = bh_point_dirs(l);
	struct timespec ts;
	size_t i;
	int err = 0;

	*destroyed = 0;
	if (!dirs)
		return -ENOMEM;
	for (i = 0; i < npoints && !err; i++) {
		memset(w.at_level, 0, sizeof(w.at_level));
		bh_cgroup_walk(dirs[i], -1, walk_cb, &w);
		err = w.err;
	}
	if (!err && w.n)
		qsort(w.v, w.n, sizeof(*w.v), cg_cmp);
	if (!err) {
		j.trie_fd = bh_maps_trie_current(w.maps);
		err = j.trie_fd < 0 ? j.trie_fd : 0;
	}
	if (!err) {
		clock_gettime(CLOCK_BOOTTIME, &ts);
		j.now = (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
		err = bh_sock_kill((const char *const *)dirs, npoints, uncovered, &j, destroyed);
		close(j.trie_fd);
	}
	bh_free_strv(dirs);
	free(w.v);
	return err;
}
