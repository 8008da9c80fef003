// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `bulkhead check` warnings, the grant linter and the tier requirements
 * (lint.h): findings collected with where they are (a policy key, a grant),
 * located in one walk of the text, reported in file order. The grant
 * linter's rules serve the policy file and a just-in-time grant alike.
 */
#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <jansson.h>
#include "cgroup.h"
#include "cli.h"
#include "events.h"
#include "grants.h"
#include "jpos.h"
#include "lint.h"

enum where {
	AT_ROOT,	/* the partner_root value */
	AT_CGROUP,	/* cgroup idx of partner (or the partner's key: implicit) */
	AT_EXPIRES,	/* the expires value of grant idx of partner */
	AT_PARTNER,	/* the partner's key */
	AT_ORG,		/* the partner's org value */
	AT_GRANT,	/* grant idx of partner: the grant object */
	AT_TO,		/* the to value of grant idx of partner */
	AT_TIER,	/* the partner's tier value (or its key: no tier given) */
	AT_NONE,	/* a just-in-time grant: no position */
};

struct finding {
	enum where at;
	size_t partner, idx;
	const char *rule;	/* the linter rule (lint.h), NULL for other warnings */
	struct jpos pos;
	char *msg;
};

struct findings {
	size_t n;
	struct finding *v;
	const char *rule;	/* the rule of the findings being added */
};

/* A policy grant's stable id in messages (docs/policy.md "Grant ids"). */
#define GID(g) ((g)->gid ? (g)->gid : "?")

static int vadd(struct findings *f, enum where at, size_t partner, size_t idx, const char *fmt,
		va_list ap)
{
	struct finding *nv = realloc(f->v, (f->n + 1) * sizeof(*nv));

	if (!nv)
		return -ENOMEM;
	f->v = nv;
	memset(&nv[f->n], 0, sizeof(nv[f->n]));
	nv[f->n].at = at;
	nv[f->n].partner = partner;
	nv[f->n].idx = idx;
	nv[f->n].rule = f->rule;
	if (vasprintf(&nv[f->n].msg, fmt, ap) < 0)
		return -ENOMEM;
	f->n++;
	return 0;
}

__attribute__((format(printf, 5, 6)))
static int add(struct findings *f, enum where at, size_t partner, size_t idx, const char *fmt,
	       ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vadd(f, at, partner, idx, fmt, ap);
	va_end(ap);
	return r;
}

/* -ENOENT when cg2/rel is not there, 0 when it is (or cannot be told). */
static int cgroup_missing(const char *cg2, const char *rel, char *full, size_t len)
{
	struct stat st;

	snprintf(full, len, "%s/%s", cg2, rel);
	if (stat(full, &st) == 0)
		return S_ISDIR(st.st_mode) ? 0 : -ENOENT;
	return errno == ENOENT || errno == ENOTDIR ? -ENOENT : 0;
}

/* "; did you mean ..." when rel, read as an absolute path, starts with the mount. */
static void mount_hint(const char *cg2, const char *rel, char *buf, size_t len)
{
	size_t n = strlen(cg2);

	buf[0] = '\0';
	if (n > 1 && !strncmp(rel, cg2 + 1, n - 1) && rel[n - 1] == '/' && rel[n])
		snprintf(buf, len, "; it names the cgroup2 mount %s: write \"%s\"", cg2, rel + n);
}

/* cg is in the subtree of another bound cgroup (of any partner). */
static int below_bound(const struct bh_policy *p, const char *cg)
{
	size_t i, j;

	for (i = 0; i < p->npartners; i++)
		for (j = 0; j < p->partners[i].ncgroups; j++)
			if (strcmp(cg, p->partners[i].cgroups[j]) &&
			    bh_path_under(cg, p->partners[i].cgroups[j]))
				return 1;
	return 0;
}

/* What binding outside partner_root costs and leaves open (docs/policy.md,
 * "Restarts"): the programs attach at the parent, or on the cgroup itself
 * directly below the cgroup2 root. */
static int outside_root(const struct bh_policy *p, size_t i, size_t j, struct findings *f)
{
	const char *cg = p->partners[i].cgroups[j], *slash = strrchr(cg, '/');

	if ((p->partner_root && bh_path_under(cg, p->partner_root)) || below_bound(p, cg))
		return 0;
	if (!slash)
		return add(f, AT_CGROUP, i, j, "cgroup \"%s\" of partner %s is directly below the "
			   "cgroup2 root: bulkhead attaches on the cgroup itself, so once it is "
			   "removed and created again (a service restart) it runs no bulkhead code "
			   "until the daemon attaches again (at once while it runs, when it starts "
			   "otherwise); bind a cgroup inside a slice, or below partner_root", cg,
			   p->partners[i].name);
	return add(f, AT_CGROUP, i, j, "cgroup \"%s\" of partner %s is outside partner_root: "
		   "bulkhead attaches at its parent \"%.*s\", so the other cgroups there run the "
		   "identity walk at socket creation (and pass), and where binding at creation is "
		   "unavailable (`bulkhead status`: binding rescan) a restarted \"%s\" is "
		   "unenforced until the rescan binds it, within a second; below partner_root it "
		   "would be fail-closed instead", cg, p->partners[i].name, (int)(slash - cg), cg,
		   cg);
}

/* Partners without an org; partners claiming one org with different contacts. */
static int find_orgs(const struct bh_policy *p, struct findings *f)
{
	size_t i, k;
	int err = 0;

	for (i = 0; !err && i < p->npartners; i++) {
		const struct bh_partner *a = &p->partners[i];

		if (!a->org) {
			if (!bh_partner_tier(p, (uint32_t)i)->require_org)	/* else an error */
				err = add(f, AT_PARTNER, i, 0, "partner %s has no \"org\": its "
					  "events name no organisation (tiers critical and high "
					  "require one)", a->name);
			continue;
		}
		for (k = 0; !err && k < i; k++) {
			const struct bh_partner *b = &p->partners[k];

			if (!b->org || strcmp(a->org, b->org))
				continue;
			if (a->contact && b->contact && !strcmp(a->contact, b->contact))
				continue;
			err = add(f, AT_ORG, i, 0, "partners %s and %s claim org \"%s\" with "
				  "different contacts (%s%s%s, %s%s%s)", b->name, a->name, a->org,
				  b->contact ? "\"" : "", b->contact ? b->contact : "none",
				  b->contact ? "\"" : "", a->contact ? "\"" : "",
				  a->contact ? a->contact : "none", a->contact ? "\"" : "");
			break;
		}
	}
	return err;
}

static int find_cgroups(const struct bh_policy *p, const char *cg2, struct findings *f)
{
	char full[PATH_MAX * 2], hint[PATH_MAX + 96];
	size_t i, j;
	int err = 0;

	if (p->partner_root && cgroup_missing(cg2, p->partner_root, full, sizeof(full)))
		err = add(f, AT_ROOT, 0, 0, "partner_root \"%s\" does not exist (%s): `bulkhead "
			  "run` refuses it until it is created", p->partner_root, full);
	for (i = 0; !err && i < p->npartners; i++) {
		const struct bh_partner *pt = &p->partners[i];

		for (j = 0; !err && j < pt->ncgroups; j++) {
			const char *cg = pt->cgroups[j];

			if (!cgroup_missing(cg2, cg, full, sizeof(full)))
				continue;
			mount_hint(cg2, cg, hint, sizeof(hint));
			if (p->partner_root && bh_path_under(cg, p->partner_root))
				err = add(f, AT_CGROUP, i, j, "cgroup \"%s\" of partner %s does not "
					  "exist yet (%s): fail-closed below partner_root until it "
					  "appears%s", cg, pt->name, full, hint);
			else
				err = add(f, AT_CGROUP, i, j, "cgroup \"%s\" of partner %s does not "
					  "exist (%s): `bulkhead run` refuses it until it is created "
					  "(or bind it below partner_root)%s", cg, pt->name, full, hint);
		}
	}
	return err;
}

static int find_expired(const struct bh_policy *p, int64_t now, struct findings *f)
{
	size_t *nth = calloc(p->npartners + 1, sizeof(*nth)), i;
	char ts[BH_TS_LEN];
	int err = 0;

	if (!nth)
		return -ENOMEM;
	for (i = 0; !err && i < p->ngrants; i++) {
		const struct bh_grant *g = &p->grants[i];
		size_t k = nth[g->partner_idx]++;

		if (!g->expires_unix_ns || g->expires_unix_ns > now)
			continue;
		bh_format_unix_ts(g->expires_unix_ns, ts, sizeof(ts));
		err = add(f, AT_EXPIRES, g->partner_idx, k, "grant %s/%s expired at %s, "
			  "before now: it allows nothing (denials say reason \"expired\")",
			  p->partners[g->partner_idx].name, GID(g), ts);
	}
	free(nth);
	return err;
}

/* ------------------------------------------------------------ grant linter */

/* What the grant rules look at: the grants of p (the policy file, or the
 * effective policy for a just-in-time grant) and how to name one. */
struct lctx {
	const struct bh_policy *p;
	const size_t *nth;		/* file grant i is its partner's nth[i]-th (from 0) */
	const struct bh_grants *gs;	/* set for a just-in-time grant: names from it */
	struct findings *f;
	int64_t now_unix_ns;
	int64_t now_boot_ns;		/* 0: boot-time expiries not checked (a file) */
};

/* The special ranges a partner grant should not reach. */
static const struct {
	const char *cidr, *what;
} special[] = {
	{ "169.254.0.0/16", "link-local 169.254.0.0/16 (instance metadata services and the like)" },
	{ "fe80::/10", "link-local fe80::/10" },
	{ "fd00:ec2::254/128", "the EC2 IPv6 metadata service fd00:ec2::254" },
	{ "100.100.100.200/32", "the Alibaba Cloud metadata service 100.100.100.200" },
	{ "168.63.129.16/32", "the Azure host service 168.63.129.16" },
};
#define NSPECIAL (sizeof(special) / sizeof(special[0]))

/* special[i] parsed (once): 1, or 0 if it does not parse (it does). */
static int special_prefix(size_t i, struct bh_prefix *out)
{
	static struct bh_prefix pf[NSPECIAL];
	static int ok[NSPECIAL], done;
	char why[BH_REASON_LEN];

	for (size_t k = 0; !done && k < NSPECIAL; k++)
		ok[k] = !bh_parse_prefix(special[k].cidr, &pf[k], why);
	done = 1;
	*out = pf[i];
	return ok[i];
}

static int overlap(const struct bh_prefix *a, const struct bh_prefix *b)
{
	return bh_prefix_within(a, b) || bh_prefix_within(b, a);
}

static int is_v4(const struct bh_prefix *pf)
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };

	return pf->plen >= 96 && !memcmp(pf->addr, mapped, sizeof(mapped));
}

/* The ports a grant matches (none given: 0-65535, portless traffic too). */
static size_t ports_of(const struct bh_grant *g, const struct bh_port_range **r)
{
	static const struct bh_port_range all = { 0, 65535 };

	*r = g->nports ? g->ports : &all;
	return g->nports ? g->nports : 1;
}

/* Every port of inner within outer's ranges (each list sorted and merged). */
static int ports_cover(const struct bh_grant *outer, const struct bh_grant *inner)
{
	const struct bh_port_range *o, *in;
	size_t no = ports_of(outer, &o), ni = ports_of(inner, &in), i, j;

	for (i = 0; i < ni; i++) {
		for (j = 0; j < no && !(o[j].lo <= in[i].lo && in[i].hi <= o[j].hi); j++)
			;
		if (j == no)
			return 0;
	}
	return 1;
}

static int ports_overlap(const struct bh_grant *a, const struct bh_grant *b)
{
	const struct bh_port_range *x, *y;
	size_t nx = ports_of(a, &x), ny = ports_of(b, &y);

	for (size_t i = 0; i < nx; i++)
		for (size_t j = 0; j < ny; j++)
			if (x[i].lo <= y[j].hi && y[j].lo <= x[i].hi)
				return 1;
	return 0;
}

static int proto_overlap(const struct bh_grant *a, const struct bh_grant *b)
{
	return a->proto == BH_PROTO_ANY || b->proto == BH_PROTO_ANY || a->proto == b->proto;
}

/* outer lives at least as long as inner (both of one kind, or outer forever). */
static int outlives(const struct bh_grant *outer, const struct bh_grant *inner)
{
	int oe = outer->expires_unix_ns || outer->ttl_ns || outer->expires_boot_ns;

	if (!oe)
		return 1;
	if (outer->expires_boot_ns || inner->expires_boot_ns)
		return inner->expires_boot_ns && inner->expires_boot_ns <= outer->expires_boot_ns;
	if (outer->ttl_ns)
		return inner->ttl_ns && inner->ttl_ns <= outer->ttl_ns;
	return inner->expires_unix_ns && inner->expires_unix_ns <= outer->expires_unix_ns;
}

/* Every packet inner allows, outer allows too, for at least as long. */
static int covers(const struct bh_grant *outer, const struct bh_grant *inner)
{
	return bh_prefix_within(&inner->to, &outer->to) &&
	       (outer->proto == BH_PROTO_ANY || outer->proto == inner->proto) &&
	       ports_cover(outer, inner) && outlives(outer, inner);
}

static int same_grant(const struct bh_grant *a, const struct bh_grant *b)
{
	return covers(a, b) && covers(b, a);
}

/* "acme/2 (10.0.0.0/8, line 7)" for a grant of c->p. */
static void label(const struct lctx *c, const struct bh_grant *g, char *buf, size_t len)
{
	const char *purpose, *name = c->p->partners[g->partner_idx].name;
	char id[128];
	size_t i = (size_t)(g - c->p->grants);

	if (g->gid)	/* the grant's stable id (docs/policy.md "Grant ids") */
		bh_grant_format_file_id(id, sizeof(id), name, g->gid);
	else if (!c->gs || bh_grants_name(c->gs, g->id, id, sizeof(id), &purpose))
		bh_grant_format_id(id, sizeof(id), name, (uint32_t)(c->nth ? c->nth[i] + 1 : i + 1), 0);
	if (g->line)
		snprintf(buf, len, "%s (%s, at %d:%d)", id, g->to_text ? g->to_text : "?", g->line,
			 g->col);
	else
		snprintf(buf, len, "%s (%s)", id, g->to_text ? g->to_text : "?");
}

/* A finding about grant g: at its key of its partner's allow (AT_NONE for a JIT grant). */
__attribute__((format(printf, 5, 6)))
static int gadd(const struct lctx *c, const struct bh_grant *g, enum where at, const char *rule,
		const char *fmt, ...)
{
	size_t i = (size_t)(g - c->p->grants);
	int jit = i >= c->p->ngrants || !c->nth;
	va_list ap;
	int r;

	c->f->rule = rule;
	va_start(ap, fmt);
	r = vadd(c->f, jit ? AT_NONE : at, g->partner_idx, jit ? 0 : c->nth[i], fmt, ap);
	va_end(ap);
	c->f->rule = NULL;
	return r;
}

static void name_of(const struct lctx *c, const struct bh_grant *g, char *buf, size_t len);

/* me (BH_NAME_LEN bytes) naming g, filled on first use: names cost only
 * when there is something to report. */
#define BH_NAME_LEN (BH_PREFIX_STRLEN + 160)
static const char *me_of(const struct lctx *c, const struct bh_grant *g, char *me)
{
	if (!me[0])
		name_of(c, g, me, BH_NAME_LEN);
	return me;
}

static int rule_wide(const struct lctx *c, const struct bh_grant *g, char *me)
{
	const struct bh_tier *t = bh_partner_tier(c->p, g->partner_idx);
	int v4 = is_v4(&g->to), plen = v4 ? g->to.plen - 96 : g->to.plen;

	if (!plen)
		return gadd(c, g, AT_TO, BH_LINT_WIDE, "%s grants %s: grant the partner's endpoints, "
			    "not the internet", me_of(c, g, me), v4 ? "every IPv4 address" :
			    "every IPv6 and IPv4 address");
	if (plen < (v4 ? t->widest_v4 : t->widest_v6))
		return gadd(c, g, AT_TO, BH_LINT_WIDE, "%s is a /%d, wider than tier %s allows "
			    "without a warning (/%d, \"%s\" in \"tiers\")", me_of(c, g, me), plen, t->name,
			    v4 ? t->widest_v4 : t->widest_v6, v4 ? "widest_ipv4" : "widest_ipv6");
	return 0;
}

static int rule_all_ports(const struct lctx *c, const struct bh_grant *g, char *me)
{
	if (g->nports || g->proto == BH_PROTO_ICMP)
		return 0;
	return gadd(c, g, AT_GRANT, BH_LINT_ALL_PORTS, "%s allows every port%s: name the "
		    "\"ports\"%s", me_of(c, g, me), g->proto == BH_PROTO_ANY ? " of every protocol" : "",
		    g->proto == BH_PROTO_ANY ? " and the \"proto\"" : "");
}

/* Dead under never; reaching link-local or a metadata service never excludes. */
static int rule_never(const struct lctx *c, const struct bh_grant *g, char *me)
{
	const struct bh_policy *p = c->p;
	struct bh_prefix sp;
	char nb[BH_PREFIX_STRLEN];
	size_t i, k;

	for (k = 0; k < p->nnever; k++)
		if (bh_prefix_within(&g->to, &p->never[k]))
			return gadd(c, g, AT_TO, BH_LINT_DEAD, "%s lies within never %s: it allows "
				    "nothing (remove it, or the never entry)", me_of(c, g, me),
				    bh_prefix_str(&p->never[k], nb, sizeof(nb)));
	for (i = 0; i < NSPECIAL; i++) {
		if (!special_prefix(i, &sp) || !overlap(&g->to, &sp))
			continue;
		for (k = 0; k < p->nnever && !bh_prefix_within(&sp, &p->never[k]); k++)
			;
		if (k == p->nnever)
			return gadd(c, g, AT_TO, BH_LINT_LINK_LOCAL, "%s reaches %s: add it to "
				    "\"never\", or grant narrower", me_of(c, g, me), special[i].what);
	}
	return 0;
}

static int live(const struct lctx *c, const struct bh_grant *g)
{
	return (!g->expires_unix_ns || g->expires_unix_ns > c->now_unix_ns) &&
	       (!c->now_boot_ns || !g->expires_boot_ns || g->expires_boot_ns > c->now_boot_ns);
}

/* How a message names g: "acme/2 (10.0.0.0/8, at 7:9)", or a JIT grant
 * being asked for (not one of c->p's) "grant of acme to 10.0.0.0/8". */
static void name_of(const struct lctx *c, const struct bh_grant *g, char *buf, size_t len)
{
	if (g >= c->p->grants && g < c->p->grants + c->p->ngrants)
		label(c, g, buf, len);
	else
		snprintf(buf, len, "grant of %s to %s", c->p->partners[g->partner_idx].name,
			 g->to_text ? g->to_text : "?");
}

/*
 * The pair rules for grants a and b whose destinations overlap: a is the
 * earlier in the file (or a grant in force, b the JIT grant asked for).
 * Reported at the later (duplicate, shared) or the narrower (subsumed).
 */
static int rule_pair(const struct lctx *c, const struct bh_grant *a, const struct bh_grant *b)
{
	char me[BH_NAME_LEN], other[BH_NAME_LEN];
	const struct bh_grant *at = b, *by = a;
	enum { SHARED, DUPLICATE, SUBSUMED } kind;

	if (a->partner_idx != b->partner_idx) {
		if (!proto_overlap(a, b) || !ports_overlap(a, b))
			return 0;
		kind = SHARED;
	} else if (same_grant(a, b)) {
		kind = DUPLICATE;
	} else if (covers(a, b)) {
		kind = SUBSUMED;
	} else if (covers(b, a) && c->nth) {	/* a JIT grant is not blamed on what is in force */
		kind = SUBSUMED;
		at = a;
		by = b;
	} else {
		return 0;
	}
	name_of(c, at, me, sizeof(me));
	name_of(c, by, other, sizeof(other));
	if (kind == SHARED)
		return gadd(c, at, AT_TO, BH_LINT_SHARED, "%s overlaps %s of partner %s: a "
			    "destination granted to two partners hides one partner's credentials "
			    "used as the other's", me, other, c->p->partners[by->partner_idx].name);
	if (kind == DUPLICATE)
		return gadd(c, at, AT_GRANT, BH_LINT_DUPLICATE, "%s duplicates %s", me, other);
	return gadd(c, at, AT_GRANT, BH_LINT_SUBSUMED, "%s is subsumed by %s: it adds nothing",
		    me, other);
}

/* The rules on grant g alone. */
static int lint_grant(const struct lctx *c, const struct bh_grant *g)
{
	char me[BH_NAME_LEN] = "";
	int err;

	if (!live(c, g))
		return 0;	/* already warned: expired */
	err = rule_wide(c, g, me);
	if (!err)
		err = rule_all_ports(c, g, me);
	return err ? err : rule_never(c, g, me);
}

static const struct bh_grant *sort_base;

/* By address, then shorter prefix first: a prefix comes before what it contains. */
static int by_prefix(const void *x, const void *y)
{
	const struct bh_prefix *a = &sort_base[*(const size_t *)x].to;
	const struct bh_prefix *b = &sort_base[*(const size_t *)y].to;
	int r = memcmp(a->addr, b->addr, sizeof(a->addr));

	return r ? r : (a->plen > b->plen) - (a->plen < b->plen);
}

/*
 * The policy file's grants: each alone, then every overlapping pair, found
 * in one sweep over the grants sorted by prefix with a stack of the prefixes
 * that contain the current one (two prefixes overlap only when one contains
 * the other), so the cost is the pairs that overlap, not every pair.
 */
static int lint_file(const struct bh_policy *p, const size_t *nth, int64_t now,
		     struct findings *f)
{
	struct lctx c = { .p = p, .nth = nth, .f = f, .now_unix_ns = now };
	size_t *ord = calloc(p->ngrants + 1, sizeof(*ord)), *stack = calloc(p->ngrants + 1,
									   sizeof(*stack));
	size_t i, n = 0, depth = 0;
	int err = ord && stack ? 0 : -ENOMEM;

	for (i = 0; !err && i < p->ngrants; i++) {
		err = lint_grant(&c, &p->grants[i]);
		if (live(&c, &p->grants[i]))
			ord[n++] = i;
	}
	sort_base = p->grants;
	if (!err)
		qsort(ord, n, sizeof(*ord), by_prefix);
	for (i = 0; !err && i < n; i++) {
		const struct bh_grant *g = &p->grants[ord[i]];

		while (depth && !bh_prefix_within(&g->to, &p->grants[stack[depth - 1]].to))
			depth--;
		for (size_t k = 0; !err && k < depth; k++)
			err = stack[k] < ord[i] ? rule_pair(&c, &p->grants[stack[k]], g) :
						  rule_pair(&c, g, &p->grants[stack[k]]);
		stack[depth++] = ord[i];
	}
	free(ord);
	free(stack);
	return err;
}

/* Each file grant's rank within its partner (nth[i], from 0); NULL: ENOMEM. */
static size_t *grant_ranks(const struct bh_policy *p)
{
	size_t *per = calloc(p->npartners + 1, sizeof(*per));
	size_t *nth = calloc(p->ngrants + 1, sizeof(*nth));

	for (size_t i = 0; per && nth && i < p->ngrants; i++)
		nth[i] = per[p->grants[i].partner_idx]++;
	free(per);
	if (!per) {
		free(nth);
		return NULL;
	}
	return nth;
}

/* ------------------------------------------------------- tier requirements */

static int tier_findings(const struct bh_policy *p, const size_t *nth, struct findings *f)
{
	size_t i;
	int err = 0;

	for (i = 0; !err && i < p->npartners; i++) {
		const struct bh_tier *t = bh_partner_tier(p, (uint32_t)i);

		if (t->require_org && !p->partners[i].org)
			err = add(f, AT_TIER, i, 0, "partner %s has no \"org\": tier %s requires one "
				  "(add \"org\", or choose another tier)", p->partners[i].name, t->name);
	}
	for (i = 0; !err && i < p->ngrants; i++) {
		const struct bh_grant *g = &p->grants[i];
		const struct bh_tier *t = bh_partner_tier(p, g->partner_idx);
		const char *name = p->partners[g->partner_idx].name;

		if (t->must_expire && !g->expires_unix_ns && !g->ttl_ns)
			err = add(f, AT_GRANT, g->partner_idx, nth[i], "grant %s/%s never "
				  "expires: tier %s wants every grant to (add \"expires\" or \"ttl\")",
				  name, GID(g), t->name);
		if (!err && t->require_purpose && !g->purpose)
			err = add(f, AT_GRANT, g->partner_idx, nth[i], "grant %s/%s has no "
				  "\"purpose\": tier %s requires one", name, GID(g), t->name);
	}
	return err;
}

/* What to look up for a finding: its value, or (the implicit cgroup
 * partner_root/<name>, a partner, a tier not written) the partner's key. */
static void want_of(const json_t *root, const struct bh_policy *p, const struct finding *fd,
		    struct jpos_want *w)
{
	const json_t *partners = json_object_get(root, "partners");
	const char *name = fd->at == AT_ROOT ? NULL : p->partners[fd->partner].name;
	const json_t *pv = name ? json_object_get(partners, name) : NULL;
	const json_t *cg = json_object_get(pv, "cgroups");
	const json_t *allow = json_object_get(pv, "allow");

	memset(w, 0, sizeof(*w));
	switch (fd->at) {
	case AT_ROOT:
		w->parent = root;
		w->key = "partner_root";
		break;
	case AT_CGROUP:
		if (fd->idx < json_array_size(cg)) {
			w->parent = cg;
			w->idx = fd->idx;
		} else {	/* implicit partner_root/<name>: the partner */
			w->parent = partners;
			w->key = name;
		}
		break;
	case AT_EXPIRES:
	case AT_TO:
		w->parent = json_array_get(allow, fd->idx);
		w->key = fd->at == AT_TO ? "to" : "expires";
		break;
	case AT_GRANT:
		w->parent = allow;
		w->idx = fd->idx;
		break;
	case AT_TIER:
		w->parent = json_object_get(pv, "tier") ? pv : partners;
		w->key = json_object_get(pv, "tier") ? "tier" : name;
		break;
	case AT_PARTNER:
		w->parent = partners;
		w->key = name;
		break;
	case AT_ORG:
		w->parent = pv;
		w->key = "org";
		break;
	case AT_NONE:
		break;
	}
}

/* The partner's key itself is the place (not its value). */
static int at_key(const struct finding *fd, const struct jpos_want *w)
{
	return (fd->at == AT_CGROUP && w->key) || fd->at == AT_PARTNER ||
	       (fd->at == AT_TIER && w->key && strcmp(w->key, "tier"));
}

/* Positions of all findings, in one walk of the text. */
static void locate(const struct jpos_src *src, const struct bh_policy *p, struct findings *f)
{
	struct jpos_want *w = calloc(f->n, sizeof(*w));
	size_t i;

	if (!w)
		return;		/* the findings go out without positions */
	for (i = 0; i < f->n; i++)
		want_of(src->root, p, &f->v[i], &w[i]);
	jpos_find(src, w, f->n);
	for (i = 0; i < f->n; i++)
		if (w[i].found)
			f->v[i].pos = at_key(&f->v[i], &w[i]) ? w[i].kpos : w[i].vpos;
	free(w);
}

static int pos_cmp(const void *x, const void *y)
{
	const struct finding *a = x, *b = y;

	if (a->pos.line != b->pos.line)
		return a->pos.line < b->pos.line ? -1 : 1;
	return (a->pos.col > b->pos.col) - (a->pos.col < b->pos.col);
}

static void findings_free(struct findings *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->v[i].msg);
	free(f->v);
	memset(f, 0, sizeof(*f));
}

/* f located in src (or in text, parsed again when src is NULL) and sorted. */
static void place(const struct bh_policy *p, const struct jpos_src *src, const char *text,
		  size_t len, struct findings *f)
{
	json_error_t je;
	json_t *root;

	if (!f->n)
		return;
	if (src) {
		locate(src, p, f);
	} else {
		/* the text parsed once already: this cannot fail but for memory */
		root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
		if (!root)
			return;
		locate(&(struct jpos_src){ .text = text, .len = len, .root = root }, p, f);
		json_decref(root);
	}
	qsort(f->v, f->n, sizeof(*f->v), pos_cmp);
}

/* Each finding as "FILE:LINE:COLUMN: KIND: msg" into out; and as an object in list. */
static void report(const struct bh_policy *p, const struct findings *f, const char *kind,
		   struct bh_errors *out, json_t *list)
{
	for (size_t i = 0; i < f->n; i++) {
		const struct finding *fd = &f->v[i];

		if (fd->pos.line)
			bh_errors_add(out, "%s:%d:%d: %s%s%s", p->file, fd->pos.line, fd->pos.col,
				      kind, kind[0] ? ": " : "", fd->msg);
		else
			bh_errors_add(out, "%s: %s%s%s", p->file ? p->file : "policy", kind,
				      kind[0] ? ": " : "", fd->msg);
		if (list)
			json_array_append_new(list, json_pack("{s:s?, s:s?, s:i, s:i, s:s?, s:s}",
				"rule", fd->rule, "file", p->file, "line", fd->pos.line,
				"column", fd->pos.col, "partner", fd->at == AT_ROOT ? NULL :
				p->partners[fd->partner].name, "message", fd->msg));
	}
}

int bh_policy_lint_list(const struct bh_policy *p, const char *text, size_t len,
			const char *cg2, int64_t now_unix_ns, struct bh_errors *warns,
			json_t *list)
{
	struct findings f = { 0 };
	size_t *nth = grant_ranks(p);
	int err = nth ? 0 : -ENOMEM, n;

	if (!err && cg2)
		err = find_cgroups(p, cg2, &f);
	for (size_t i = 0; !err && i < p->npartners; i++)
		for (size_t j = 0; !err && j < p->partners[i].ncgroups; j++)
			err = outside_root(p, i, j, &f);
	if (!err)
		err = find_orgs(p, &f);
	if (!err)
		err = find_expired(p, now_unix_ns, &f);
	if (!err)
		err = lint_file(p, nth, now_unix_ns, &f);
	if (!err) {
		place(p, NULL, text, len, &f);
		report(p, &f, "warning", warns, list);
	}
	n = (int)f.n;
	findings_free(&f);
	free(nth);
	return err ? err : n;
}

int bh_policy_lint(const struct bh_policy *p, const char *text, size_t len, const char *cg2,
		   int64_t now_unix_ns, struct bh_errors *warns)
{
	return bh_policy_lint_list(p, text, len, cg2, now_unix_ns, warns, NULL);
}

int bh_tier_enforce(const struct bh_policy *p, const struct jpos_src *src, struct bh_errors *errs)
{
	struct findings f = { 0 };
	size_t *nth = grant_ranks(p);
	int err = nth ? tier_findings(p, nth, &f) : -ENOMEM;

	if (!err && f.n) {
		place(p, src, NULL, 0, &f);
		report(p, &f, "", errs, NULL);
		err = -EINVAL;
	}
	findings_free(&f);
	free(nth);
	return err;
}

int bh_jit_lint(const struct bh_grants *gs, uint32_t pidx, const struct bh_grant *g,
		const struct bh_clock *clk, struct bh_errors *refusals, struct bh_errors *warns)
{
	const struct bh_policy *eff = &gs->eff;
	const struct bh_tier *t = bh_partner_tier(&gs->pol, pidx);
	struct bh_grant one = *g;
	struct findings f = { 0 };
	struct lctx c = { .p = eff, .gs = gs, .f = &f, .now_unix_ns = clk->wall_ns,
			  .now_boot_ns = clk->boot_ns };
	char lim[32];
	int64_t life = g->ttl_ns ? g->ttl_ns : g->expires_unix_ns - clk->wall_ns;
	int err;

	if (t->max_ttl_ns && life > t->max_ttl_ns) {
		bh_format_ttl(t->max_ttl_ns, lim, sizeof(lim));
		bh_errors_add(refusals, "grant: a just-in-time grant of partner %s may last at most %s "
			      "(tier %s, \"max_ttl\"): ask for a shorter --ttl",
			      gs->pol.partners[pidx].name, lim, t->name);
	}
	if (t->require_purpose && !g->purpose)
		bh_errors_add(refusals, "grant: tier %s of partner %s requires a --purpose",
			      t->name, gs->pol.partners[pidx].name);
	one.partner_idx = pidx;
	one.line = one.col = 0;
	one.expires_boot_ns = bh_ns_add(clk->boot_ns, life);	/* as the kernel will have it */
	err = lint_grant(&c, &one);
	for (size_t j = 0; !err && j < eff->ngrants; j++)
		if (live(&c, &eff->grants[j]) && overlap(&one.to, &eff->grants[j].to))
			err = rule_pair(&c, &eff->grants[j], &one);
	for (size_t i = 0; !err && i < f.n; i++) {
		if (t->lint_refuses)
			bh_errors_add(refusals, "grant: %s (tier %s refuses a grant the linter warns about)",
				      f.v[i].msg, t->name);
		else
			bh_errors_add(warns, "warning: %s", f.v[i].msg);
	}
	findings_free(&f);
	return err ? err : refusals->n ? -EINVAL : 0;
}

int bh_policy_warnings(const struct bh_policy *p, const char *text, struct bh_errors *warns)
{
	char cg2[PATH_MAX], *own = NULL;
	size_t len;
	int n;

	if (!text && cli_read_text(p->file, &own, &len))
		return -EIO;	/* said on stderr */
	text = text ? text : own;
	n = bh_policy_lint(p, text, strlen(text), bh_cgroup2_mount(cg2, sizeof(cg2)) ? NULL : cg2,
			   bh_clock_wall_ns(), warns);
	free(own);
	return n;
}
