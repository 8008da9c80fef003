// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The trie compiler (compile.h): each partner's grant and never prefixes
 * sorted and swept into LPM trie entries, each holding the union of the
 * rules of every grant covering it, with grant expiries turned into
 * CLOCK_BOOTTIME instants through the clock pair.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <bulkhead/unix.h>
#include "compile.h"
#include "policy.h"

_Static_assert(sizeof(struct bh_lpm_key) == 24, "bh_lpm_key layout");
_Static_assert(sizeof(struct bh_rule) == 24, "bh_rule layout");
_Static_assert(sizeof(struct bh_lpm_val) == 8 + 24 * BH_MAX_RULES, "bh_lpm_val layout");

/* A prefix to place in one partner's trie: the address as two host-order halves. */
struct citem {
	uint64_t hi, lo;
	uint32_t grant;		/* index into p->grants, or NO_GRANT */
	uint8_t plen;
	uint8_t never;
};

#define NO_GRANT UINT32_MAX

static uint64_t mask_hi(int plen)
{
	return plen >= 64 ? ~0ULL : plen <= 0 ? 0 : ~0ULL << (64 - plen);
}

static uint64_t mask_lo(int plen)
{
	return plen <= 64 ? 0 : plen >= 128 ? ~0ULL : ~0ULL << (128 - plen);
}

static struct citem citem_of(const struct bh_prefix *pf, uint32_t grant, uint8_t never)
{
	struct citem it = { .grant = grant, .plen = pf->plen > 128 ? 128 : pf->plen, .never = never };

	for (int i = 0; i < 8; i++) {
		it.hi = it.hi << 8 | pf->addr[i];
		it.lo = it.lo << 8 | pf->addr[8 + i];
	}
	it.hi &= mask_hi(it.plen);
	it.lo &= mask_lo(it.plen);
	return it;
}

/* Order of a sweep: by address, then length (enclosing first), then grant. */
static inline int citem_less(const struct citem *a, const struct citem *b)
{
	if (a->hi != b->hi)
		return a->hi < b->hi;
	if (a->lo != b->lo)
		return a->lo < b->lo;
	if (a->plen != b->plen)
		return a->plen < b->plen;
	return a->grant < b->grant;
}

/*
 * Sort v[n] by citem_less with tmp[n] as scratch: sorted runs of 16
 * (insertion), then merged pairwise between v and tmp. qsort would do the
 * same with an indirect call for every comparison, which for a million
 * grants costs more than the rest of the compile.
 */
static void citem_sort(struct citem *v, size_t n, struct citem *tmp)
{
	enum { RUN = 16 };
	struct citem *src = v, *dst = tmp, *t;
	size_t w, i;

	for (i = 0; i < n; i += RUN) {
		size_t end = i + RUN < n ? i + RUN : n;

		for (size_t j = i + 1; j < end; j++) {
			struct citem x = v[j];
			size_t k;

			for (k = j; k > i && citem_less(&x, &v[k - 1]); k--)
				v[k] = v[k - 1];
			v[k] = x;
		}
	}
	for (w = RUN; w < n; w *= 2) {
		for (i = 0; i < n; i += 2 * w) {
			size_t a = i, m = i + w < n ? i + w : n, b = m, e = i + 2 * w < n ? i + 2 * w : n;
			size_t o = i;

			while (a < m && b < e)
				dst[o++] = citem_less(&src[b], &src[a]) ? src[b++] : src[a++];
			while (a < m)
				dst[o++] = src[a++];
			while (b < e)
				dst[o++] = src[b++];
		}
		t = src;
		src = dst;
		dst = t;
	}
	if (src != v)
		memcpy(v, src, n * sizeof(*v));
}

static int same_prefix(const struct citem *a, const struct citem *b)
{
	return a->hi == b->hi && a->lo == b->lo && a->plen == b->plen;
}

static int covers(const struct citem *a, const struct citem *b)
{
	return a->plen <= b->plen && !((a->hi ^ b->hi) & mask_hi(a->plen)) &&
	       !((a->lo ^ b->lo) & mask_lo(a->plen));
}

/* a matches every packet b matches, at least as long (expiry 0 = never). */
static int rule_subsumes(const struct bh_rule *a, const struct bh_rule *b)
{
	return (a->proto == BH_PROTO_ANY || a->proto == b->proto) &&
	       a->port_lo <= b->port_lo && b->port_hi <= a->port_hi &&
	       (a->expires_ns == 0 || (b->expires_ns != 0 && a->expires_ns >= b->expires_ns));
}

/*
 * Add r unless a rule already there subsumes it; drop the rules r subsumes.
 * Dropping a subsumed rule changes no decision: whenever it matches, the
 * subsuming rule matches too and is live at least as long.
 */
static int add_rule(struct bh_lpm_val *v, const struct bh_rule *r)
{
	uint8_t i, o = 0;

	for (i = 0; i < v->nrules; i++)
		if (rule_subsumes(&v->rules[i], r))
			return 0;
	for (i = 0; i < v->nrules; i++)
		if (!rule_subsumes(r, &v->rules[i]))
			v->rules[o++] = v->rules[i];
	v->nrules = o;
	if (v->nrules == BH_MAX_RULES)
		return -E2BIG;
	v->rules[v->nrules++] = *r;
	return 0;
}

static uint64_t grant_expiry(const struct bh_grant *g, const struct bh_clock *clk)
{
	int64_t rel;

	if (g->expires_boot_ns)
		return g->expires_boot_ns > clk->boot_ns ? (uint64_t)g->expires_boot_ns : 1;
	if (g->expires_unix_ns) {
		if (__builtin_sub_overflow(g->expires_unix_ns, clk->wall_ns, &rel))
			rel = g->expires_unix_ns < 0 ? -1 : INT64_MAX;
	} else if (g->ttl_ns) {
		rel = g->ttl_ns;
	} else {
		return 0;
	}
	if (rel <= 0)
		return 1;	/* already expired: the kernel reports "expired" */
	return (uint64_t)clk->boot_ns + (uint64_t)rel;
}

static int add_grant_rules(struct bh_lpm_val *v, const struct bh_grant *g, const struct bh_clock *clk)
{
	struct bh_rule r = {
		.expires_ns = grant_expiry(g, clk), .grant = g->id, .proto = g->proto,
		.port_lo = 0, .port_hi = 65535,
	};
	int err = 0;

	if (!g->nports)
		return add_rule(v, &r);
	for (size_t i = 0; i < g->nports; i++) {
		r.port_lo = g->ports[i].lo;
		r.port_hi = g->ports[i].hi;
		if (add_rule(v, &r))
			err = -E2BIG;
	}
	return err;
}

struct cstate {
	const struct bh_policy *p;
	const struct bh_clock *clk;
	struct bh_errors *errs;
	struct citem *items, *scratch;	/* scratch: for citem_sort */
	struct cframe {			/* an enclosing entry of the current one */
		const struct citem *it;
		struct bh_lpm_val val;
		int overflow;
	} *stack;			/* 129 prefix lengths, and the partner default */
	/* Entries are written to keys/vals[nbuf]; a full buffer goes to sink
	 * (never full without a sink: it holds every entry). */
	struct bh_lpm_key *keys;
	struct bh_lpm_val *vals;
	size_t cap, nbuf;
	bh_compile_sink sink;
	void *arg;
	int err;			/* the first error; no batch goes out after it */
	size_t n, nprefixes;
};

#define CSTACK 130

/* Hand the buffered entries over (or, after an error, drop them). */
static void cflush(struct cstate *s)
{
	if (s->nbuf && s->sink && !s->err)
		s->err = s->sink(s->arg, s->keys, s->vals, s->nbuf);
	s->nbuf = 0;
}

/* One partner's prefixes into s->items, sorted: the default ::/0, the never
 * list, its grants. Returns how many. */
static size_t load_items(struct cstate *s, const uint32_t *grants, size_t ngrants)
{
	const struct bh_policy *p = s->p;
	size_t n = 0, i;

	s->items[n++] = (struct citem){ .grant = NO_GRANT };
	for (i = 0; i < p->nnever; i++)
		s->items[n++] = citem_of(&p->never[i], NO_GRANT, 1);
	for (i = 0; i < ngrants; i++)
		s->items[n++] = citem_of(&p->grants[grants[i]].to, grants[i], 0);
	citem_sort(s->items, n, s->scratch);
	return n;
}

/* The next entry, for cur of partner pt: its key written, its value to fill. */
static struct bh_lpm_val *next_entry(struct cstate *s, const struct bh_partner *pt,
				     const struct citem *cur, struct bh_lpm_key **key)
{
	struct bh_lpm_key *k;

	if (s->nbuf == s->cap)
		cflush(s);
	k = &s->keys[s->nbuf];
	s->n++;
	k->prefixlen = 32 + cur->plen;
	k->partner = htonl(pt->id);
	for (int b = 0; b < 8; b++) {
		k->addr[b] = (uint8_t)(cur->hi >> (56 - 8 * b));
		k->addr[8 + b] = (uint8_t)(cur->lo >> (56 - 8 * b));
	}
	*key = k;
	return &s->vals[s->nbuf++];
}

/* Prefix k of partner pt needs more rules than an entry holds, with grant g. */
static void report_overflow(struct cstate *s, const struct bh_partner *pt,
			    const struct bh_lpm_key *k, uint8_t plen, const struct bh_grant *g)
{
	char buf[BH_PREFIX_STRLEN];
	struct bh_prefix pf;

	memcpy(pf.addr, k->addr, sizeof(pf.addr));
	pf.plen = plen;
	bh_errors_add(s->errs,
		      "%s:%d:%d: %s of partner %s needs more than %d port/proto rules "
		      "with this grant and the grants covering it; merge port lists "
		      "or use fewer overlapping grants",
		      s->p->file ? s->p->file : "policy", g->line, g->col,
		      bh_prefix_str(&pf, buf, sizeof(buf)), BH_Q(pt->name), BH_MAX_RULES);
}

/*
 * The items [i, n) of one prefix, from the first at i, into entry v (key k):
 * never flags and grants' rules. up: the enclosing entry (NULL: none).
 * Returns the index after the prefix's last item; *has_grant and *overflow
 * say whether it has grants and whether their rules overflowed.
 */
static size_t add_prefix(struct cstate *s, const struct bh_partner *pt, size_t i, size_t n,
			 const struct bh_lpm_key *k, struct bh_lpm_val *v,
			 const struct cframe *up, int *has_grant, int *overflow)
{
	const struct citem *cur = &s->items[i];
	size_t j;

	*has_grant = *overflow = 0;
	for (j = i; j < n && same_prefix(&s->items[j], cur); j++) {
		const struct bh_grant *g;

		if (s->items[j].never) {
			v->flags |= BH_ENTRY_NEVER;
			continue;
		}
		if (s->items[j].grant == NO_GRANT)
			continue;
		*has_grant = 1;
		g = &s->p->grants[s->items[j].grant];
		if (!add_grant_rules(v, g, s->clk) || *overflow)
			continue;
		*overflow = 1;
		if (!s->err)
			s->err = -E2BIG;
		if (!(up && up->overflow))	/* else reported for the enclosing prefix */
			report_overflow(s, pt, k, cur->plen, g);
	}
	return j;
}

/*
 * One partner: sort its prefixes (grants, never list, the default ::/0) by
 * (address, length), so every prefix comes after the prefixes enclosing it,
 * and sweep with a stack of the enclosing chain. An entry starts from a copy
 * of its nearest enclosing entry (which already holds everything above it)
 * and adds its own grants' rules and never flag.
 */
static void compile_partner(struct cstate *s, uint32_t pidx, const uint32_t *grants, size_t ngrants)
{
	const struct bh_policy *p = s->p;
	const struct bh_partner *pt = &p->partners[pidx];
	enum { AHEAD = 8 };
	struct cframe *stack = s->stack, *up;
	size_t n = load_items(s, grants, ngrants), i, j, depth = 0;
	uint32_t far, near;

	for (i = 0; i < n; i = j) {
		const struct citem *cur = &s->items[i];
		struct bh_lpm_key *k;
		struct bh_lpm_val *v;
		int has_grant, overflow;

		/* Grants are read in address order, which is no order in
		 * memory: a cache miss for the grant and one for its ports,
		 * every time, unless fetched a few items ahead (the grant
		 * first, its ports once the grant is in). In this function,
		 * not a helper: GCC takes a function doing nothing but
		 * prefetches for pure and drops its calls. */
		far = s->items[i + 2 * AHEAD < n ? i + 2 * AHEAD : n - 1].grant;
		near = s->items[i + AHEAD < n ? i + AHEAD : n - 1].grant;
		if (far != NO_GRANT) {
			__builtin_prefetch(&p->grants[far]);
			__builtin_prefetch((const char *)&p->grants[far + 1] - 1);
		}
		if (near != NO_GRANT)
			__builtin_prefetch(p->grants[near].ports);

		while (depth && !covers(stack[depth - 1].it, cur))
			depth--;
		up = depth ? &stack[depth - 1] : NULL;
		v = next_entry(s, pt, cur, &k);
		if (up)
			*v = up->val;
		else
			memset(v, 0, sizeof(*v));
		v->mode = pt->mode;
		j = add_prefix(s, pt, i, n, k, v, up, &has_grant, &overflow);
		s->nprefixes += has_grant;
		stack[depth].it = cur;
		stack[depth].val = *v;
		stack[depth].overflow = overflow || (up && up->overflow);
		depth++;
	}
}

size_t bh_compile_max_entries(const struct bh_policy *p)
{
	return p->ngrants + p->npartners * (p->nnever + 1);
}

/*
 * Group grant indices by partner (a counting sort keeps file order):
 * partner i's are order[start[i], start[i + 1]). start has npartners + 1
 * entries, order ngrants. Returns the most grants of one partner, or -1 for
 * a grant without a partner (described in errs).
 */
static ssize_t group_grants(const struct bh_policy *p, size_t *start, uint32_t *order,
			    struct bh_errors *errs)
{
	size_t maxg = 0, i;
	size_t *fill = calloc(p->npartners + 1, sizeof(*fill));

	if (!fill)
		return -ENOMEM;
	for (i = 0; i < p->ngrants; i++) {
		if (p->grants[i].partner_idx >= p->npartners) {
			bh_errors_add(errs, "%s: grant %u has no partner", p->file ? p->file : "policy",
				      p->grants[i].id);
			free(fill);
			return -EINVAL;
		}
		start[p->grants[i].partner_idx + 1]++;
	}
	for (i = 0; i < p->npartners; i++) {
		if (start[i + 1] > maxg)
			maxg = start[i + 1];
		start[i + 1] += start[i];
		fill[i] = start[i];
	}
	for (i = 0; i < p->ngrants; i++)
		order[fill[p->grants[i].partner_idx]++] = (uint32_t)i;
	free(fill);
	return (ssize_t)maxg;
}

/*
 * Compile into buffers of s->cap entries allocated here (s->keys, s->vals),
 * handing full ones to s->sink; s->n and s->nprefixes count. On error the
 * buffers are freed.
 */
static int compile(struct cstate *s)
{
	const struct bh_policy *p = s->p;
	size_t *start = calloc(p->npartners + 1, sizeof(*start)), i;
	uint32_t *order = calloc(p->ngrants + 1, sizeof(*order));
	ssize_t maxg = -ENOMEM;
	int err = -ENOMEM;

	s->stack = calloc(CSTACK, sizeof(*s->stack));
	s->keys = malloc(s->cap * sizeof(*s->keys));
	s->vals = malloc(s->cap * sizeof(*s->vals));
	if (start && order && s->stack && s->keys && s->vals)
		maxg = group_grants(p, start, order, s->errs);
	if (maxg < 0) {
		err = (int)maxg;
		goto out;
	}
	s->items = calloc((size_t)maxg + p->nnever + 1, sizeof(*s->items));
	s->scratch = calloc((size_t)maxg + p->nnever + 1, sizeof(*s->scratch));
	if (!s->items || !s->scratch)
		goto out;
	for (i = 0; i < p->npartners; i++)
		compile_partner(s, (uint32_t)i, order + start[i], start[i + 1] - start[i]);
	cflush(s);
	err = s->err;
out:
	if (err == -ENOMEM)
		bh_errors_add(s->errs, "%s: out of memory compiling the policy",
			      p->file ? p->file : "policy");
	if (err) {
		free(s->keys);
		free(s->vals);
		s->keys = NULL;
		s->vals = NULL;
	}
	free(s->items);
	free(s->scratch);
	free(s->stack);
	free(order);
	free(start);
	return err;
}

int bh_compile(const struct bh_policy *p, const struct bh_clock *clk,
	       struct bh_compiled *out, struct bh_errors *errs)
{
	struct cstate s = { .p = p, .clk = clk, .errs = errs,
			    .cap = bh_compile_max_entries(p) + 1 };	/* never flushed */
	int err;

	memset(out, 0, sizeof(*out));
	err = compile(&s);
	if (err)
		return err;
	out->keys = s.keys;
	out->vals = s.vals;
	out->n = s.n;
	out->nprefixes = s.nprefixes;
	return 0;
}

int bh_compile_stream(const struct bh_policy *p, const struct bh_clock *clk,
		      bh_compile_sink sink, void *arg, struct bh_compiled *counts,
		      struct bh_errors *errs)
{
	struct cstate s = { .p = p, .clk = clk, .errs = errs, .sink = sink, .arg = arg,
			    .cap = BH_COMPILE_BATCH };
	int err;

	memset(counts, 0, sizeof(*counts));
	err = compile(&s);
	free(s.keys);
	free(s.vals);
	counts->n = s.n;
	counts->nprefixes = s.nprefixes;
	return err;
}

void bh_compiled_free(struct bh_compiled *c)
{
	free(c->keys);
	free(c->vals);
	memset(c, 0, sizeof(*c));
}

/* ------------------------------------------------------- local UNIX sockets */

static void unix_key_of(uint32_t partner, const struct bh_unix_name *n, struct bh_unix_key *k)
{
	memset(k, 0, sizeof(*k));
	k->prefixlen = 32 + 8 * (n ? n->len + !n->prefix : 0);
	k->partner = htonl(partner);
	if (n)
		memcpy(k->name, n->bytes, n->len);
}

int bh_unix_compile(const struct bh_policy *p, bh_unix_sink sink, void *arg)
{
	struct bh_unix_key k;
	size_t i, j;
	int err = 0;

	for (i = 0; !err && i < p->nnever_unix; i++) {
		struct bh_unix_val v = { .flags = BH_UNIXF_NEVER |
				       (p->never_unix[i].prefix ? 0 : BH_UNIXF_EXACT) };

		unix_key_of(BH_PARTNER_NEVER, &p->never_unix[i], &k);
		err = sink(arg, &k, &v);
	}
	for (i = 0; !err && i < p->npartners; i++) {
		const struct bh_partner *pt = &p->partners[i];
		struct bh_unix_val v = { .mode = pt->unix_mode };

		unix_key_of(pt->id, NULL, &k);
		err = sink(arg, &k, &v);
		for (j = 0; !err && j < pt->nunix; j++) {
			v.grant = (uint32_t)j + 1;
			v.flags = BH_UNIXF_GRANT | (pt->unixg[j].prefix ? 0 : BH_UNIXF_EXACT);
			unix_key_of(pt->id, &pt->unixg[j], &k);
			err = sink(arg, &k, &v);
		}
	}
	return err;
}

size_t bh_unix_max_entries(const struct bh_policy *p)
{
	size_t n = p->nnever_unix + p->npartners;

	for (size_t i = 0; i < p->npartners; i++)
		n += p->partners[i].nunix;
	return n;
}
