// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Grants (see grants.h): JIT records, ttl starts, the effective policy and
 * applying it, grant ids, and the grant/revoke/list selections.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "control.h"
#include "events.h"
#include "grants.h"
#include "loader.h"
#include "log.h"
#include "maps.h"
#include "names.h"

/* Layout 1 (pinned as bh_jit) is the first part of layout 2. */
_Static_assert(offsetof(struct bh_jit, expires_unix_ns) == BH_JIT_V1_SIZE, "bh_jit layout 1 prefix");
_Static_assert(sizeof(struct bh_jit) == BH_JIT_V1_SIZE + 56, "bh_jit layout 2");

static const uint32_t next_key;	/* BH_JIT_NEXT lives at key 0 */

/* Read the records of map fd into s; v1: a layout-1 map, whose records get
 * the layout-2 fields derived from the clocks now. */
static int load_fd(int fd, int v1, struct bh_jitset *s)
{
	struct bh_clock clk;
	uint32_t key, next, max_seq = 0;
	int have = 0;

	memset(s, 0, sizeof(*s));
	bh_clock_now(&clk);
	while (bh_maps_jit_next(fd, have ? &key : NULL, &next) == 0) {
		struct bh_jit r, *nr;

		key = next;
		have = 1;
		memset(&r, 0, sizeof(r));
		if (bh_maps_jit_get(fd, next, &r))
			continue;
		if (next == next_key && r.kind == BH_JIT_NEXT) {
			s->next_seq = r.next_seq;
			continue;
		}
		if (v1) {
			r.created_boot_ns = r.created_unix_ns - clk.wall_ns + clk.boot_ns;
			if (r.kind == BH_JIT_GRANT)
				r.expires_unix_ns = r.expires_boot_ns - clk.boot_ns + clk.wall_ns;
		}
		if (!(next & BH_JIT_AUX_KEY) && next > max_seq)
			max_seq = next;
		nr = realloc(s->r, (s->n + 1) * sizeof(*nr));
		if (!nr) {
			bh_jitset_free(s);
			return -ENOMEM;
		}
		s->r = nr;
		s->r[s->n++] = r;
	}
	if (s->next_seq <= max_seq)
		s->next_seq = max_seq + 1;
	return 0;
}

int bh_jit_load(int map_fd, struct bh_jitset *s)
{
	return load_fd(map_fd, 0, s);
}

int bh_jit_load_pinned(const char *pin_dir, struct bh_jitset *s)
{
	int v1, err, fd = bh_maps_jit_open_pinned(pin_dir, &v1);

	if (fd < 0)
		return fd;
	err = load_fd(fd, v1, s);
	close(fd);
	return err;
}

int bh_jit_migrate(const char *pin_dir, int map_fd)
{
	struct bh_jit next = { .kind = BH_JIT_NEXT };
	struct bh_jitset old;
	size_t i;
	int fd, err;

	fd = bh_maps_jit_open_v1(pin_dir);
	if (fd == -ENOENT)
		return 0;
	if (fd < 0)
		return fd;
	err = load_fd(fd, 1, &old);
	close(fd);
	if (err)
		return err;
	for (i = 0; i < old.n && !err; i++)
		err = bh_maps_jit_put(map_fd, old.r[i].seq, &old.r[i]);
	next.next_seq = old.next_seq;
	if (!err)
		err = bh_maps_jit_put(map_fd, next_key, &next);
	if (!err)
		err = bh_maps_jit_unpin_v1(pin_dir);
	bh_jitset_free(&old);
	return err ? err : (int)i;
}

void bh_jitset_free(struct bh_jitset *s)
{
	free(s->r);
	s->r = NULL;
	s->n = 0;
}

int bh_jit_add(int map_fd, struct bh_jitset *s, const struct bh_jit *r)
{
	struct bh_jit *nr = realloc(s->r, (s->n + 1) * sizeof(*nr));
	int err;

	if (!nr)
		return -ENOMEM;
	s->r = nr;
	err = bh_maps_jit_put(map_fd, r->seq, r);
	if (err)
		return err;
	s->r[s->n++] = *r;
	return 0;
}

int bh_jit_remove(int map_fd, struct bh_jitset *s, size_t i)
{
	int err;

	if (i >= s->n)
		return -EINVAL;
	err = bh_maps_jit_del(map_fd, s->r[i].seq);
	if (err)
		return err;
	s->r[i] = s->r[--s->n];
	return 0;
}

int bh_jit_alloc_seq(int map_fd, struct bh_jitset *s, uint32_t *seq)
{
	struct bh_jit next = { .kind = BH_JIT_NEXT };
	int err;

	if (s->next_seq >= BH_JIT_AUX_KEY - 1)
		return -EOVERFLOW;
	next.next_seq = s->next_seq + 1;
	err = bh_maps_jit_put(map_fd, next_key, &next);
	if (err)
		return err;
	*seq = s->next_seq++;
	return 0;
}

uint32_t bh_jit_aux_key(const struct bh_jitset *s)
{
	uint32_t max = 0;
	size_t i;

	for (i = 0; i < s->n; i++)
		if ((s->r[i].seq & BH_JIT_AUX_KEY) && (s->r[i].seq & ~BH_JIT_AUX_KEY) > max)
			max = s->r[i].seq & ~BH_JIT_AUX_KEY;
	return BH_JIT_AUX_KEY | (max + 1);
}

void bh_jit_set_def(struct bh_jit *r, const char *partner, const struct bh_grant *g)
{
	size_t i;

	memcpy(r->addr, g->to.addr, 16);
	r->plen = g->to.plen;
	r->proto = g->proto;
	r->nports = (uint8_t)g->nports;
	for (i = 0; i < g->nports && i < BH_MAX_RULES; i++) {
		r->ports[2 * i] = g->ports[i].lo;
		r->ports[2 * i + 1] = g->ports[i].hi;
	}
	snprintf(r->partner, sizeof(r->partner), "%s", partner);
}

int bh_prefix_within(const struct bh_prefix *inner, const struct bh_prefix *outer)
{
	int full = outer->plen / 8, rest = outer->plen % 8;

	if (inner->plen < outer->plen)
		return 0;
	if (memcmp(inner->addr, outer->addr, full))
		return 0;
	if (rest) {
		uint8_t m = (uint8_t)(0xff << (8 - rest));

		return (inner->addr[full] & m) == (outer->addr[full] & m);
	}
	return 1;
}

static int same_ports(const struct bh_jit *r, const struct bh_grant *g)
{
	size_t i;

	if (r->nports != g->nports)
		return 0;
	for (i = 0; i < g->nports; i++)
		if (r->ports[2 * i] != g->ports[i].lo || r->ports[2 * i + 1] != g->ports[i].hi)
			return 0;
	return 1;
}

/* r names exactly grant g's destination, proto and ports. */
static int same_def(const struct bh_jit *r, const struct bh_grant *g)
{
	return r->plen == g->to.plen && !memcmp(r->addr, g->to.addr, 16) &&
	       r->proto == g->proto && same_ports(r, g);
}

/* Record r (a revocation or a ttl start) is about file grant g of partner:
 * by the grant id it carries, or (a record of an earlier version, without
 * one) by g's definition. */
static int rec_of_grant(const struct bh_jit *r, const char *partner, const struct bh_grant *g)
{
	if (strcmp(r->partner, partner))
		return 0;
	if (r->purpose[0])
		return g->gid && !strcmp(r->purpose, g->gid);
	return same_def(r, g);
}

/* Revocation record r of an earlier version: every grant within a prefix. */
static int rec_is_prefix_mask(const struct bh_jit *r)
{
	return r->kind == BH_JIT_REVOKE && !r->purpose[0] && r->proto == BH_JIT_ANY_PROTO;
}

void bh_jit_set_grant(struct bh_jit *r, const char *partner, const struct bh_grant *g)
{
	bh_jit_set_def(r, partner, g);
	snprintf(r->purpose, sizeof(r->purpose), "%s", g->gid ? g->gid : "");
}

const struct bh_jit *bh_jit_mask_of(const struct bh_jitset *s, const char *partner,
				    const struct bh_grant *g)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		const struct bh_jit *r = &s->r[i];
		struct bh_prefix pf;

		if (r->kind != BH_JIT_REVOKE || strcmp(r->partner, partner))
			continue;
		memcpy(pf.addr, r->addr, 16);
		pf.plen = r->plen;
		if (rec_is_prefix_mask(r) ? bh_prefix_within(&g->to, &pf) : rec_of_grant(r, partner, g))
			return r;
	}
	return NULL;
}

int bh_jit_to_grant(const struct bh_jit *r, uint32_t pidx, struct bh_grant *g)
{
	char buf[64];
	size_t i;

	memset(g, 0, sizeof(*g));
	g->id = BH_JIT_GRANT_BIT | r->seq;
	g->partner_idx = pidx;
	memcpy(g->to.addr, r->addr, 16);
	g->to.plen = r->plen;
	g->proto = r->proto;
	g->expires_boot_ns = (int64_t)r->expires_boot_ns;
	g->expires_unix_ns = (int64_t)r->expires_unix_ns;	/* listed; the kernel's is boot */
	g->nports = r->nports;
	if (g->nports) {
		g->ports = calloc(g->nports, sizeof(*g->ports));
		if (!g->ports)
			return -ENOMEM;
		for (i = 0; i < g->nports; i++) {
			g->ports[i].lo = r->ports[2 * i];
			g->ports[i].hi = r->ports[2 * i + 1];
		}
	}
	g->to_text = strdup(bh_prefix_str(&g->to, buf, sizeof(buf)));
	g->purpose = r->purpose[0] ? strndup(r->purpose, sizeof(r->purpose)) : NULL;
	if (!g->to_text || (r->purpose[0] && !g->purpose)) {
		bh_grant_free(g);
		return -ENOMEM;
	}
	return 0;
}

/* ---- policy-file ttls ---- */

static const struct bh_jit *ttl_of(const struct bh_jitset *s, const char *partner,
				   const struct bh_grant *g, size_t *idx)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		const struct bh_jit *r = &s->r[i];

		if (r->kind == BH_JIT_TTL && rec_of_grant(r, partner, g)) {
			if (idx)
				*idx = i;
			return r;
		}
	}
	return NULL;
}

int bh_ttl_start(int map_fd, struct bh_jitset *s, const struct bh_policy *p,
		 const struct bh_clock *clk, size_t *nadded)
{
	uint32_t key = bh_jit_aux_key(s);
	size_t i;
	int err;

	*nadded = 0;
	for (i = 0; i < p->ngrants; i++) {
		const struct bh_grant *g = &p->grants[i];
		const char *partner = p->partners[g->partner_idx].name;
		struct bh_jit r = { .kind = BH_JIT_TTL };

		if (!g->ttl_ns || ttl_of(s, partner, g, NULL))
			continue;
		r.seq = key++;
		r.created_unix_ns = (uint64_t)clk->wall_ns;
		r.created_boot_ns = (uint64_t)clk->boot_ns;
		bh_jit_set_grant(&r, partner, g);
		err = bh_jit_add(map_fd, s, &r);
		if (err) {
			bh_ttl_unstart(map_fd, s, *nadded);
			*nadded = 0;
			return err;
		}
		(*nadded)++;
	}
	return 0;
}

void bh_ttl_unstart(int map_fd, struct bh_jitset *s, size_t nadded)
{
	while (nadded-- && s->n)
		bh_jit_remove(map_fd, s, s->n - 1);
}

int bh_ttl_prune(int map_fd, struct bh_jitset *s, const struct bh_policy *p)
{
	char *used = calloc(s->n + 1, 1);
	size_t i, idx;
	int err = 0;

	if (!used)
		return -ENOMEM;
	for (i = 0; i < p->ngrants; i++) {
		const struct bh_grant *g = &p->grants[i];

		if (g->ttl_ns && ttl_of(s, p->partners[g->partner_idx].name, g, &idx))
			used[idx] = 1;
	}
	/* downwards: a removal moves the last (already visited) record into i */
	for (i = s->n; i-- > 0;)
		if (s->r[i].kind == BH_JIT_TTL && !used[i] && !err)
			err = bh_jit_remove(map_fd, s, i);
	free(used);
	return err;
}

static int partner_index(const struct bh_policy *p, const char *name, uint32_t *idx)
{
	size_t i;

	for (i = 0; i < p->npartners; i++) {
		if (!strcmp(p->partners[i].name, name)) {
			*idx = i;
			return 0;
		}
	}
	return -ENOENT;
}

int bh_effective_build(const struct bh_policy *file, const struct bh_jitset *s,
		       struct bh_policy *eff, size_t *nshared)
{
	size_t i, n = 0;
	uint32_t pidx;

	*eff = *file;
	eff->grants = calloc(file->ngrants + s->n + 1, sizeof(*eff->grants));
	if (!eff->grants)
		return -ENOMEM;
	for (i = 0; i < file->ngrants; i++) {
		const struct bh_grant *g = &file->grants[i];

		const char *partner = file->partners[g->partner_idx].name;
		const struct bh_jit *t;

		if (bh_jit_mask_of(s, partner, g))
			continue;
		eff->grants[n] = *g;
		/* a started ttl: the absolute instant it gives, for the kernel
		 * (boot) and for `list` (wall), the same at every apply */
		if (g->ttl_ns && (t = ttl_of(s, partner, g, NULL))) {
			eff->grants[n].expires_boot_ns = bh_ns_add((int64_t)t->created_boot_ns, g->ttl_ns);
			eff->grants[n].expires_unix_ns = bh_ns_add((int64_t)t->created_unix_ns, g->ttl_ns);
		}
		n++;
	}
	*nshared = n;
	for (i = 0; i < s->n; i++) {
		if (s->r[i].kind != BH_JIT_GRANT ||
		    partner_index(file, s->r[i].partner, &pidx))
			continue;
		if (bh_jit_to_grant(&s->r[i], pidx, &eff->grants[n])) {
			eff->ngrants = n;
			bh_effective_free(eff, *nshared);
			return -ENOMEM;
		}
		n++;
	}
	eff->ngrants = n;
	return 0;
}

void bh_effective_free(struct bh_policy *eff, size_t nshared)
{
	size_t i;

	for (i = nshared; i < eff->ngrants; i++)
		bh_grant_free(&eff->grants[i]);
	free(eff->grants);
	eff->grants = NULL;
	eff->ngrants = 0;
}

void bh_grant_format_id(char *buf, size_t len, const char *partner, uint32_t n, int jit)
{
	snprintf(buf, len, jit ? "%s/j%u" : "%s/%u", partner, n);
}

void bh_grant_format_file_id(char *buf, size_t len, const char *partner, const char *gid)
{
	snprintf(buf, len, "%s/%s", partner, gid);
}

json_t *bh_jit_list_json(const struct bh_jitset *s, const char *partner,
			 const struct bh_clock *clk)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; i < s->n; i++) {
		const struct bh_jit *r = &s->r[i];
		struct bh_grant g;
		char id[224];
		json_t *o;

		if ((partner && strcmp(partner, r->partner)) ||
		    (r->kind != BH_JIT_GRANT && r->kind != BH_JIT_REVOKE))
			continue;
		if (bh_jit_to_grant(r, 0, &g))
			continue;
		if (r->kind == BH_JIT_GRANT) {
			bh_grant_format_id(id, sizeof(id), r->partner, r->seq, 1);
			o = bh_grant_json(&g, r->partner, id, g.purpose);
			bh_grant_json_lifetime(o, r->expires_boot_ns, (int64_t)r->expires_unix_ns, clk);
		} else {
			if (r->proto == BH_JIT_ANY_PROTO)
				g.proto = BH_PROTO_ANY;
			g.id = 0;
			bh_grant_format_file_id(id, sizeof(id), r->partner, r->purpose);
			o = bh_grant_json(&g, r->partner, r->purpose[0] ? id : NULL, NULL);
			json_object_set_new(o, "source", json_string("revocation"));
			bh_grant_json_revoked(o, r);
		}
		bh_grant_free(&g);
		json_array_append_new(arr, o);
	}
	return arr;
}

const struct bh_jit *bh_jit_source(const struct bh_jitset *s)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->r[i].kind == BH_JIT_SOURCE)
			return &s->r[i];
	return NULL;
}

/* ---- the daemon's grant state ---- */

void bh_grants_free(struct bh_grants *gs)
{
	bh_effective_free(&gs->eff, gs->eff_shared);
	bh_jitset_free(&gs->jit);
	bh_policy_free(&gs->pol);
}

/* The file grant of partner pidx in p with id gid (bare, or "partner/gid"). */
const struct bh_grant *bh_policy_grant_by_id(const struct bh_policy *p, uint32_t pidx,
					     const char *gid)
{
	const char *name = p->partners[pidx].name;
	size_t n = strlen(name), i;

	if (!strncmp(gid, name, n) && gid[n] == '/')
		gid += n + 1;
	for (i = 0; i < p->ngrants; i++)
		if (p->grants[i].partner_idx == pidx && p->grants[i].gid &&
		    !strcmp(p->grants[i].gid, gid))
			return &p->grants[i];
	return NULL;
}

/* Revocation record r names a grant p still has (records of an earlier
 * version, by definition or prefix, always count as kept). */
int bh_revocation_kept(const struct bh_policy *p, const struct bh_jit *r)
{
	uint32_t pidx;

	if (r->kind != BH_JIT_REVOKE || !r->purpose[0])
		return 1;
	if (partner_index(p, r->partner, &pidx))
		return 0;
	return bh_policy_grant_by_id(p, pidx, r->purpose) != NULL;
}

/* Revocations of grants the applied policy no longer has are lifted: a
 * grant that comes back later is a new grant (as for ttl starts). */
static int revoke_prune(int map_fd, struct bh_jitset *s, const struct bh_policy *p)
{
	int err = 0;

	for (size_t i = s->n; i-- > 0;)
		if (!bh_revocation_kept(p, &s->r[i]) && !err)
			err = bh_jit_remove(map_fd, s, i);
	return err;
}

int bh_grants_apply(struct bh_grants *gs, struct bh_loader *l, struct bh_policy *p,
		    struct bh_errors *errs)
{
	struct bh_policy eff;
	struct bh_clock clk;
	size_t nshared, started;
	int err;

	bh_clock_now(&clk);
	err = bh_ttl_start(gs->jit_fd, &gs->jit, p, &clk, &started);
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
	err = bh_effective_build(p, &gs->jit, &eff, &nshared);
	if (err) {
		bh_errors_add(errs, "out of memory building the effective policy");
		bh_ttl_unstart(gs->jit_fd, &gs->jit, started);
		return err;
	}
	err = bh_apply(l, &eff, errs);
	if (err) {
		bh_effective_free(&eff, nshared);
		bh_ttl_unstart(gs->jit_fd, &gs->jit, started);
		return err;
	}
	bh_effective_free(&gs->eff, gs->eff_shared);
	gs->eff = eff;
	gs->eff_shared = nshared;
	if (p != &gs->pol) {
		bh_policy_free(&gs->pol);
		gs->pol = *p;
		memset(p, 0, sizeof(*p));
	}
	/* ttl starts of grants the applied policy no longer has: gone, so a
	 * grant that comes back later is a new grant */
	err = bh_ttl_prune(gs->jit_fd, &gs->jit, &gs->pol);
	if (err)
		pr_warn("forgetting the ttl starts of removed grants: %s\n", strerror(-err));
	err = revoke_prune(gs->jit_fd, &gs->jit, &gs->pol);
	if (err)
		pr_warn("lifting the revocations of removed grants: %s\n", strerror(-err));
	return 0;
}

int bh_grants_reapply(struct bh_grants *gs, struct bh_loader *l, struct bh_errors *errs)
{
	return bh_grants_apply(gs, l, &gs->pol, errs);
}

int bh_grants_partner(const struct bh_policy *pol, const char *name, uint32_t *idx)
{
	return name ? partner_index(pol, name, idx) : -ENOENT;
}

const struct bh_jit *bh_jit_grant_of(const struct bh_jitset *s, uint32_t seq)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->r[i].seq == seq && s->r[i].kind == BH_JIT_GRANT)
			return &s->r[i];
	return NULL;
}

int bh_grants_name(const struct bh_grants *gs, uint32_t id, char *buf, size_t len,
		   const char **purpose)
{
	const struct bh_grant *g;

	if (id & BH_JIT_GRANT_BIT) {
		const struct bh_jit *r = bh_jit_grant_of(&gs->jit, id & ~BH_JIT_GRANT_BIT);

		if (!r)
			return -ENOENT;
		bh_grant_format_id(buf, len, r->partner, r->seq, 1);
		*purpose = r->purpose[0] ? r->purpose : NULL;
		return 0;
	}
	if (id == 0 || id > gs->pol.ngrants || !gs->pol.grants[id - 1].gid)
		return -ENOENT;
	g = &gs->pol.grants[id - 1];
	bh_grant_format_file_id(buf, len, gs->pol.partners[g->partner_idx].name, g->gid);
	*purpose = g->purpose;
	return 0;
}

uint64_t bh_grants_expiry_boot(const struct bh_grant *g, const struct bh_clock *clk)
{
	if (g->expires_boot_ns)
		return g->expires_boot_ns;
	if (g->expires_unix_ns)
		return g->expires_unix_ns - clk->wall_ns + clk->boot_ns;
	return 0;
}

uint64_t bh_grants_next_expiry(const struct bh_grants *gs, uint64_t after,
			       const struct bh_clock *clk)
{
	uint64_t next = 0;
	size_t i;

	for (i = 0; i < gs->eff.ngrants; i++) {
		uint64_t exp = bh_grants_expiry_boot(&gs->eff.grants[i], clk);

		if (exp > after && (!next || exp < next))
			next = exp;
	}
	return next;
}

size_t bh_grants_sweep(struct bh_grants *gs, uint64_t now, uint64_t linger_ns, json_t *removed)
{
	size_t i, n = 0;

	for (i = 0; i < gs->jit.n;) {
		struct bh_jit *r = &gs->jit.r[i];

		if (r->kind == BH_JIT_GRANT && r->expires_boot_ns + linger_ns < now) {
			json_array_append_new(removed, json_pack("{s:s, s:i}", "partner", r->partner,
								 "seq", (int)r->seq));
			bh_jit_remove(gs->jit_fd, &gs->jit, i);
			n++;
			continue;
		}
		i++;
	}
	return n;
}

/* A grant in force as `list` and the events show it. */
static json_t *grant_json(const struct bh_grants *gs, const struct bh_grant *g)
{
	const char *purpose = g->purpose;
	char id[128];

	const struct bh_partner *pt = &gs->pol.partners[g->partner_idx];
	json_t *o;

	if (bh_grants_name(gs, g->id, id, sizeof(id), &purpose))
		id[0] = '\0';
	o = bh_grant_json(g, pt->name, id[0] ? id : NULL, purpose);
	if (o && pt->org)
		json_object_set_new(o, "org", json_string(pt->org));
	return o;
}

const char *bh_grants_org(const struct bh_grants *gs, uint32_t id)
{
	for (size_t i = 0; id && i < gs->pol.npartners; i++)
		if (gs->pol.partners[i].id == id)
			return gs->pol.partners[i].org;
	return NULL;
}

const char *bh_grants_org_of(const struct bh_grants *gs, const char *partner)
{
	for (size_t i = 0; partner && i < gs->pol.npartners; i++)
		if (!strcmp(gs->pol.partners[i].name, partner))
			return gs->pol.partners[i].org;
	return NULL;
}

/* ... with expires / remaining_s / state; a file ttl counts from when the
 * grant was first applied. */
static json_t *grant_json_live(const struct bh_grants *gs, const struct bh_grant *g,
			       const struct bh_clock *ref, const struct bh_clock *now)
{
	json_t *o = grant_json(gs, g);

	bh_grant_json_lifetime(o, bh_grants_expiry_boot(g, ref), g->expires_unix_ns, now);
	return o;
}

static void set_actor(struct bh_jit *r, const struct bh_peer *peer)
{
	r->by_uid = peer->uid;
	r->by_pid = peer->pid;
	snprintf(r->by_comm, sizeof(r->by_comm), "%.15s", peer->comm);
}

int bh_grants_set_source(struct bh_grants *gs, const char *path, const uint8_t sha[32],
			 const struct bh_peer *peer)
{
	struct bh_peer self = { .uid = getuid(), .pid = getpid(), .comm = "bulkhead" };
	struct bh_jit r = { .kind = BH_JIT_SOURCE, .seq = BH_JIT_AUX_KEY };
	const struct bh_jit *old = bh_jit_source(&gs->jit);
	struct bh_clock clk;

	if (strlen(path) >= sizeof(r.purpose))
		return -ENAMETOOLONG;
	bh_clock_now(&clk);
	r.created_unix_ns = clk.wall_ns;
	r.created_boot_ns = clk.boot_ns;
	set_actor(&r, peer ? peer : &self);
	snprintf(r.purpose, sizeof(r.purpose), "%s", path);
	_Static_assert(sizeof(r.reserved) == 32, "a sha256 in bh_jit.reserved");
	memcpy(r.reserved, sha, 32);
	if (old)
		bh_jit_remove(gs->jit_fd, &gs->jit, (size_t)(old - gs->jit.r));
	return bh_jit_add(gs->jit_fd, &gs->jit, &r);
}

static void remove_seq(struct bh_grants *gs, uint32_t seq)
{
	size_t i;

	for (i = 0; i < gs->jit.n; i++)
		if (gs->jit.r[i].seq == seq)
			bh_jit_remove(gs->jit_fd, &gs->jit, i);
}

int bh_grants_new_seq(struct bh_grants *gs, uint32_t *seq)
{
	return bh_jit_alloc_seq(gs->jit_fd, &gs->jit, seq);
}

void bh_jit_grant_record(struct bh_jit *r, uint32_t seq, const char *partner,
			 const struct bh_grant *g, const struct bh_clock *clk)
{
	memset(r, 0, sizeof(*r));
	r->kind = BH_JIT_GRANT;
	r->seq = seq;
	/* the kernel's instant (boot) and the listed one (wall), fixed now */
	r->expires_boot_ns = g->ttl_ns ? bh_ns_add(clk->boot_ns, g->ttl_ns) :
			     bh_clock_wall_to_boot(clk, g->expires_unix_ns);
	r->expires_unix_ns = g->ttl_ns ? bh_ns_add(clk->wall_ns, g->ttl_ns) : g->expires_unix_ns;
	r->created_unix_ns = clk->wall_ns;
	r->created_boot_ns = clk->boot_ns;
	bh_jit_set_def(r, partner, g);
	snprintf(r->purpose, sizeof(r->purpose), "%s", g->purpose ? g->purpose : "");
}

int bh_grants_add(struct bh_grants *gs, struct bh_loader *l, uint32_t seq, uint32_t pidx,
		  const struct bh_grant *g, const struct bh_peer *peer, const struct bh_clock *clk,
		  json_t **out, struct bh_errors *errs)
{
	struct bh_jit r;
	size_t i;
	int err;

	*out = NULL;
	bh_jit_grant_record(&r, seq, gs->pol.partners[pidx].name, g, clk);
	set_actor(&r, peer);
	err = bh_jit_add(gs->jit_fd, &gs->jit, &r);
	if (!err)
		err = bh_grants_reapply(gs, l, errs);
	if (err) {
		remove_seq(gs, r.seq);
		return err;
	}
	for (i = 0; i < gs->eff.ngrants; i++)
		if (gs->eff.grants[i].id == (BH_JIT_GRANT_BIT | r.seq))
			*out = grant_json_live(gs, &gs->eff.grants[i], clk, clk);
	return 0;
}

/* Grant g (text id name) is one sel takes. */
static int selected(const struct bh_revoke_sel *sel, const struct bh_grant *g, const char *name)
{
	if (g->partner_idx != sel->pidx)
		return 0;
	switch (sel->how) {
	case BH_REVOKE_ID:
		return !strcmp(sel->gid, name) ||
		       (!strchr(sel->gid, '/') && !strcmp(strchr(name, '/') + 1, sel->gid));
	case BH_REVOKE_TO:
		return g->to.plen == sel->pfx.plen && !memcmp(g->to.addr, sel->pfx.addr, 16);
	default:
		return bh_prefix_within(&g->to, &sel->pfx);
	}
}

/* The grants in force sel takes (indices into gs->eff), as listed in *arr;
 * *nfile of them from the policy file. */
static size_t select_grants(const struct bh_grants *gs, const struct bh_revoke_sel *sel,
			    size_t *idx, json_t *arr, size_t *nfile)
{
	size_t i, n = 0;
	char buf[128];
	const char *purpose;

	*nfile = 0;
	for (i = 0; i < gs->eff.ngrants; i++) {
		const struct bh_grant *g = &gs->eff.grants[i];

		if (bh_grants_name(gs, g->id, buf, sizeof(buf), &purpose) || !selected(sel, g, buf))
			continue;
		idx[n++] = i;
		*nfile += !(g->id & BH_JIT_GRANT_BIT);
		json_array_append_new(arr, grant_json(gs, g));
	}
	return n;
}

/* Take grant eff[i] away: a JIT grant leaves the records, a policy-file grant
 * gets a pinned revocation record naming its id. */
static int take(struct bh_grants *gs, const struct bh_grant *g, const struct bh_jit *mask)
{
	struct bh_jit r = *mask;

	if (g->id & BH_JIT_GRANT_BIT) {
		remove_seq(gs, g->id & ~BH_JIT_GRANT_BIT);
		return 0;
	}
	bh_jit_set_grant(&r, gs->pol.partners[g->partner_idx].name, g);
	r.seq = bh_jit_aux_key(&gs->jit);
	return bh_jit_add(gs->jit_fd, &gs->jit, &r);
}

int bh_grants_revoke(struct bh_grants *gs, struct bh_loader *l, const struct bh_revoke_sel *sel,
		     const struct bh_peer *peer, json_t **removed, struct bh_errors *errs)
{
	struct bh_jit mask = { .kind = BH_JIT_REVOKE };
	size_t *idx = calloc(gs->eff.ngrants + 1, sizeof(*idx)), n, nfile, i;
	struct bh_grant *take_v = NULL;
	struct bh_clock clk;
	int err = 0;

	*removed = json_array();
	if (!idx || !*removed) {
		free(idx);
		json_decref(*removed);
		*removed = NULL;
		return -ENOMEM;
	}
	n = select_grants(gs, sel, idx, *removed, &nfile);
	if (!n)
		err = -ESRCH;
	else if (!sel->yes && !sel->dry_run && (n > 1 || nfile))
		err = -EAGAIN;	/* the caller lists the matches and asks */
	if (err || sel->dry_run)
		goto out;
	bh_clock_now(&clk);
	mask.created_unix_ns = clk.wall_ns;
	set_actor(&mask, peer);
	/* copies: taking one changes gs->eff's JIT part */
	take_v = calloc(n, sizeof(*take_v));
	if (!take_v) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++)
		take_v[i] = gs->eff.grants[idx[i]];
	for (i = 0; i < n && !err; i++)
		err = take(gs, &take_v[i], &mask);
	if (!err)
		err = bh_grants_reapply(gs, l, errs);
out:
	free(take_v);
	free(idx);
	if (err && err != -EAGAIN && err != -ESRCH) {
		json_decref(*removed);
		*removed = NULL;
	}
	return err;
}

json_t *bh_grants_inside(const struct bh_grants *gs, const struct bh_revoke_sel *sel)
{
	struct bh_revoke_sel in = *sel;
	json_t *arr = json_array();
	const char *purpose;
	char buf[128];

	in.how = BH_REVOKE_WITHIN;
	for (size_t i = 0; i < gs->eff.ngrants; i++) {
		const struct bh_grant *g = &gs->eff.grants[i];

		if (!bh_grants_name(gs, g->id, buf, sizeof(buf), &purpose) &&
		    selected(&in, g, buf) && !selected(sel, g, buf))
			json_array_append_new(arr, grant_json(gs, g));
	}
	return arr;
}

int bh_grants_restore(struct bh_grants *gs, struct bh_loader *l, uint32_t pidx, const char *gid,
		      int dry_run, json_t **restored, struct bh_errors *errs)
{
	const struct bh_grant *g = bh_policy_grant_by_id(&gs->pol, pidx, gid);
	const char *partner = gs->pol.partners[pidx].name;
	const struct bh_jit *m;
	struct bh_jit legacy;
	size_t i;
	int err;

	*restored = NULL;
	if (!g)
		return -ENOENT;
	m = bh_jit_mask_of(&gs->jit, partner, g);
	if (!m)
		return -ESRCH;
	*restored = grant_json(gs, g);
	bh_grant_json_revoked(*restored, m);
	if (dry_run)
		return 0;
	legacy = *m;
	for (i = 0; i < gs->jit.n; i++)
		if (&gs->jit.r[i] == m)
			break;
	err = bh_jit_remove(gs->jit_fd, &gs->jit, i);
	/* a prefix revocation of an earlier version masked more than g: the
	 * others stay revoked, each by a record of its own */
	for (i = 0; !err && rec_is_prefix_mask(&legacy) && i < gs->pol.ngrants; i++) {
		const struct bh_grant *o = &gs->pol.grants[i];
		struct bh_prefix pf;

		memcpy(pf.addr, legacy.addr, 16);
		pf.plen = legacy.plen;
		if (o == g || o->partner_idx != pidx || !bh_prefix_within(&o->to, &pf) ||
		    bh_jit_mask_of(&gs->jit, partner, o))
			continue;
		err = take(gs, o, &legacy);
	}
	if (!err)
		err = bh_grants_reapply(gs, l, errs);
	if (err) {
		json_decref(*restored);
		*restored = NULL;
	}
	return err;
}

json_t *bh_grants_list(const struct bh_grants *gs, int all, uint32_t pidx,
		       const struct bh_clock *ref, const struct bh_clock *now)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; i < gs->eff.ngrants; i++) {
		const struct bh_grant *g = &gs->eff.grants[i];

		if (all || g->partner_idx == pidx)
			json_array_append_new(arr, grant_json_live(gs, g, ref, now));
	}
	/* revoked policy-file grants stay listed, so a revocation is visible */
	for (i = 0; i < gs->pol.ngrants; i++) {
		const struct bh_grant *g = &gs->pol.grants[i];
		const struct bh_jit *m;
		json_t *o;

		if (!all && g->partner_idx != pidx)
			continue;
		m = bh_jit_mask_of(&gs->jit, gs->pol.partners[g->partner_idx].name, g);
		if (!m)
			continue;
		o = grant_json(gs, g);
		bh_grant_json_revoked(o, m);
		json_array_append_new(arr, o);
	}
	return arr;
}

/* ---- what a new policy file would change ---- */

/* a allows everything b allows (destination, protocol, ports). */
static int grant_covers(const struct bh_grant *a, const struct bh_grant *b)
{
	size_t i, j;

	if (!bh_prefix_within(&b->to, &a->to))
		return 0;
	if (a->proto != BH_PROTO_ANY && a->proto != b->proto)
		return 0;
	if (!a->nports)
		return 1;
	if (!b->nports || (a->proto == BH_PROTO_ANY && b->proto != a->proto &&
			   b->proto != BH_PROTO_TCP && b->proto != BH_PROTO_UDP))
		return 0;
	for (i = 0; i < b->nports; i++) {
		for (j = 0; j < a->nports; j++)
			if (a->ports[j].lo <= b->ports[i].lo && b->ports[i].hi <= a->ports[j].hi)
				break;
		if (j == a->nports)
			return 0;
	}
	return 1;
}

/* One file grant as `diff` lists it. */
static json_t *file_grant_json(const struct bh_policy *p, const struct bh_grant *g)
{
	char id[224];

	bh_grant_format_file_id(id, sizeof(id), p->partners[g->partner_idx].name, g->gid);
	return bh_grant_json(g, p->partners[g->partner_idx].name, id, g->purpose);
}

/* old -> new of one grant: widened, narrowed or changed (or 0: the same). */
static const char *change_of(const struct bh_grant *o, const struct bh_grant *n)
{
	int wider = grant_covers(n, o), narrower = grant_covers(o, n);

	if (wider && narrower)
		return NULL;
	return wider ? "widened" : narrower ? "narrowed" : "changed";
}

static void add_change(json_t *pd, const char *what, const struct bh_policy *op,
		       const struct bh_grant *o, const struct bh_policy *np, const struct bh_grant *n)
{
	json_array_append_new(json_object_get(pd, what),
			      json_pack("{s:o, s:o}", "from", file_grant_json(op, o), "to",
					file_grant_json(np, n)));
}

/* The grant changes of partner name between op (index oi) and np (ni). */
static void diff_grants(json_t *pd, const struct bh_policy *op, uint32_t oi,
			const struct bh_policy *np, uint32_t ni)
{
	size_t i, j;
	char *paired = calloc(np->ngrants + 1, 1);

	for (i = 0; op && i < op->ngrants; i++) {
		const struct bh_grant *o = &op->grants[i], *n;
		const char *what;

		if (o->partner_idx != oi)
			continue;
		n = np ? bh_policy_grant_by_id(np, ni, o->gid) : NULL;
		/* the same id, or (a derived id changes with the content) the
		 * same destination among the grants np adds */
		for (j = 0; np && !n && j < np->ngrants; j++) {
			const struct bh_grant *c = &np->grants[j];

			if (c->partner_idx == ni && !paired[j] && !c->gid_explicit &&
			    !bh_policy_grant_by_id(op, oi, c->gid) && c->to.plen == o->to.plen &&
			    !memcmp(c->to.addr, o->to.addr, 16))
				n = c;
		}
		if (!n) {
			json_array_append_new(json_object_get(pd, "removed"), file_grant_json(op, o));
			continue;
		}
		paired[n - np->grants] = 1;
		what = change_of(o, n);
		if (what)
			add_change(pd, what, op, o, np, n);
	}
	for (j = 0; np && j < np->ngrants; j++)
		if (np->grants[j].partner_idx == ni && !paired[j])
			json_array_append_new(json_object_get(pd, "added"),
					      file_grant_json(np, &np->grants[j]));
	free(paired);
}

/* Revocation records of partner name: lifted or kept by applying np. */
static void diff_revocations(json_t *pd, const struct bh_jitset *s, const char *name,
			     const struct bh_policy *np)
{
	char id[224];

	for (size_t i = 0; i < s->n; i++) {
		const struct bh_jit *r = &s->r[i];

		if (r->kind != BH_JIT_REVOKE || strcmp(r->partner, name))
			continue;
		if (r->purpose[0])
			bh_grant_format_file_id(id, sizeof(id), name, r->purpose);
		else
			snprintf(id, sizeof(id), "%s (prefix revocation)", name);
		json_array_append_new(json_object_get(pd, np && bh_revocation_kept(np, r) ?
						      "revocations_kept" : "revocations_lifted"),
				      json_string(id));
	}
}

static json_t *partner_diff(const char *name)
{
	return json_pack("{s:s, s:[], s:[], s:[], s:[], s:[], s:[], s:[]}", "partner", name,
			 "added", "removed", "widened", "narrowed", "changed",
			 "revocations_lifted", "revocations_kept");
}

/* The partner has something to say. */
static int partner_changed(const json_t *pd)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)pd, key, v)
		if (json_is_array(v) && json_array_size(v) && strcmp(key, "revocations_kept"))
			return 1;
	return json_is_string(json_object_get(pd, "mode_from"));
}

json_t *bh_grants_diff(const struct bh_grants *gs, const struct bh_policy *np)
{
	const struct bh_policy *op = &gs->pol;
	json_t *out = json_pack("{s:[], s:[], s:[]}", "partners", "partners_added",
				"partners_removed");
	uint32_t oi, ni = 0;
	size_t i;

	for (i = 0; i < op->npartners; i++) {
		const struct bh_partner *pt = &op->partners[i];
		int gone = partner_index(np, pt->name, &ni) != 0;
		json_t *pd = partner_diff(pt->name);

		diff_grants(pd, op, (uint32_t)i, gone ? NULL : np, ni);
		diff_revocations(pd, &gs->jit, pt->name, gone ? NULL : np);
		if (!gone && np->partners[ni].mode != pt->mode)
			json_object_set_new(pd, "mode_from", json_string(bh_mode_str(pt->mode)));
		if (!gone && np->partners[ni].mode != pt->mode)
			json_object_set_new(pd, "mode_to",
					    json_string(bh_mode_str(np->partners[ni].mode)));
		if (gone)
			json_array_append_new(json_object_get(out, "partners_removed"),
					      json_string(pt->name));
		if (partner_changed(pd))
			json_array_append(json_object_get(out, "partners"), pd);
		json_decref(pd);
	}
	for (i = 0; i < np->npartners; i++) {
		json_t *pd;

		if (!partner_index(op, np->partners[i].name, &oi))
			continue;
		json_array_append_new(json_object_get(out, "partners_added"),
				      json_string(np->partners[i].name));
		pd = partner_diff(np->partners[i].name);
		diff_grants(pd, NULL, 0, np, (uint32_t)i);
		json_array_append_new(json_object_get(out, "partners"), pd);
	}
	return out;
}
