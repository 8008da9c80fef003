// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Schema v1 validation (validate.h): the jansson tree of a policy or of one
 * grant checked key by key and turned into struct bh_policy; single values
 * are parsed by values.c.
 *
 * Validation collects every problem (up to BH_MAX_ERRORS) as
 * "file:line:column: reason". jansson keeps no positions for values, so
 * positions are looked up in the text (jpos.c): those of all errors together
 * in one walk once validation is done.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "arena.h"
#include "jpos.h"
#include "names.h"
#include "validate.h"

/* ------------------------------------------------------- positioned errors */

/*
 * An error found while validating. Where it is gets looked up once
 * validation is done, for all errors in one walk over the text (a walk per
 * error would make a policy with many errors cost many passes).
 */
struct pending {
	struct jpos_want at;
	int at_key;		/* the member's key, not its value */
	char *reason;		/* NULL: out of memory */
};

struct pctx {
	const char *name;
	struct jpos_src src;
	struct bh_errors *errs;
	struct pending pend[BH_MAX_ERRORS];
	size_t npend;
	int failed;
	int in_store;		/* grants' blocks go to the policy's store */
	int root_unknown;	/* the root has an unknown key (a misspelt
				   partner_root?): no second error about it */
};

enum { AT_VAL = 0, AT_KEY = 1 };

/* Room for one more message? Otherwise it is only counted. */
static int err_room(struct pctx *c)
{
	c->failed = 1;
	if (c->errs->n + c->npend < BH_MAX_ERRORS)
		return 1;
	c->errs->more++;
	return 0;
}

static void add_at(struct pctx *c, struct jpos_want at, int at_key, const char *fmt, va_list ap)
{
	struct pending *e = &c->pend[c->npend++];

	e->at = at;
	e->at_key = at_key;
	if (vasprintf(&e->reason, fmt, ap) < 0)
		e->reason = NULL;
}

/* Error at member key of obj (its value, or with at_key the key); obj NULL: the root. */
__attribute__((format(printf, 5, 6)))
static void err_member(struct pctx *c, const json_t *obj, const char *key, int at_key,
		       const char *fmt, ...)
{
	va_list ap;

	if (!err_room(c))
		return;
	va_start(ap, fmt);
	add_at(c, (struct jpos_want){ .parent = obj, .key = key }, at_key, fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 4, 5)))
static void err_elem(struct pctx *c, const json_t *arr, size_t idx, const char *fmt, ...)
{
	va_list ap;

	if (!err_room(c))
		return;
	va_start(ap, fmt);
	add_at(c, (struct jpos_want){ .parent = arr, .idx = idx }, AT_VAL, fmt, ap);
	va_end(ap);
}

/* Look up where the pending errors are (one walk) and add them to c->errs. */
static void report_pending(struct pctx *c)
{
	struct jpos_want w[BH_MAX_ERRORS];
	size_t i;

	for (i = 0; i < c->npend; i++)
		w[i] = c->pend[i].at;
	jpos_find(&c->src, w, c->npend);
	for (i = 0; i < c->npend; i++) {
		struct pending *e = &c->pend[i];
		struct jpos pos = !w[i].found ? (struct jpos){ 0, 0 } : e->at_key ? w[i].kpos : w[i].vpos;

		bh_errors_add(c->errs, "%s:%d:%d: %s", c->name, pos.line, pos.col,
			      e->reason ? e->reason : "(out of memory formatting the message)");
		free(e->reason);
	}
	c->npend = 0;
}

/* Report what is pending; then err, or -EINVAL if anything failed. */
static int finish(struct pctx *c, int err)
{
	report_pending(c);
	return !err && c->failed ? -EINVAL : err;
}

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	default: return "null";
	}
}

/* ------------------------------------------------------------------ grants */

/* A grant being parsed: allow[i] of partner g.partner_idx. */
struct gctx {
	struct pctx *c;
	struct bh_policy *p;
	const json_t *gv;		/* the grant object */
	struct bh_grant g;
	const json_t *ports;		/* checked once proto is known */
	const char *time_key;		/* "expires" or "ttl", once seen */
	int has_to;
};

/* A copy of s for a grant of x->p: in its store, or (!in_store) a block of its own. */
static char *grant_strdup(struct gctx *x, const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = x->c->in_store ? bh_store_alloc(&x->p->store, n) : malloc(n);

	return d ? memcpy(d, s, n) : NULL;
}

/* Each grant key's value into x->g: 0, 1 (reported) or -ENOMEM. */
static int grant_to(struct gctx *x, const char *key, const json_t *v)
{
	char why[BH_REASON_LEN];

	x->has_to = 1;
	if (!json_is_string(v)) {
		err_member(x->c, x->gv, key, AT_VAL, "\"to\" must be an address or CIDR string");
		return 1;
	}
	if (bh_parse_prefix(json_string_value(v), &x->g.to, why)) {
		err_member(x->c, x->gv, key, AT_VAL, "%s", why);
		return 1;
	}
	x->g.to_text = grant_strdup(x, json_string_value(v));
	return x->g.to_text ? 0 : -ENOMEM;
}

static int grant_proto(struct gctx *x, const char *key, const json_t *v)
{
	const char *s = json_is_string(v) ? json_string_value(v) : "";

	if (!bh_proto_parse(s, &x->g.proto))
		return 0;
	if (json_is_string(v))
		err_member(x->c, x->gv, key, AT_VAL,
			   "unknown proto %s (expected " BH_PROTO_NAMES ")", BH_Q(s));
	else
		err_member(x->c, x->gv, key, AT_VAL,
			   "\"proto\" must be " BH_PROTO_NAMES ", not %s", type_name(v));
	return 1;
}

static int grant_ports_seen(struct gctx *x, const char *key, const json_t *v)
{
	(void)key;
	x->ports = v;
	return 0;
}

static int grant_purpose(struct gctx *x, const char *key, const json_t *v)
{
	if (!json_is_string(v)) {
		err_member(x->c, x->gv, key, AT_VAL, "\"purpose\" must be a string");
		return 1;
	}
	x->g.purpose = grant_strdup(x, json_string_value(v));
	return x->g.purpose ? 0 : -ENOMEM;
}

/* "expires" or "ttl" (at most one of them). */
static int grant_time(struct gctx *x, const char *key, const json_t *v)
{
	int is_ttl = key[0] == 't', seen = x->time_key != NULL;
	char why[BH_REASON_LEN];

	x->time_key = key;
	if (seen) {
		err_member(x->c, x->gv, key, AT_VAL, "both \"expires\" and \"ttl\" given; use one");
		return 1;
	}
	if (!json_is_string(v)) {
		err_member(x->c, x->gv, key, AT_VAL, is_ttl ?
			   "\"ttl\" must be a string like \"90s\", \"15m\", \"8h\" or \"2d\"" :
			   "\"expires\" must be an RFC 3339 string");
		return 1;
	}
	if (is_ttl ? bh_parse_ttl(json_string_value(v), &x->g.ttl_ns, why) :
	    bh_parse_rfc3339(json_string_value(v), &x->g.expires_unix_ns, why)) {
		err_member(x->c, x->gv, key, AT_VAL, "%s", why);
		return 1;
	}
	return 0;
}

/* "id": a stable name, unique among the partner's grants. */
static int grant_id(struct gctx *x, const char *key, const json_t *v)
{
	char why[BH_REASON_LEN];
	const char *s = json_string_value(v);

	if (!json_is_string(v)) {
		err_member(x->c, x->gv, key, AT_VAL, "\"id\" must be a string like \"api\"");
		return 1;
	}
	if (bh_grant_id_check(s, why)) {
		err_member(x->c, x->gv, key, AT_VAL, "%s", why);
		return 1;
	}
	for (size_t i = 0; i < x->p->ngrants; i++) {
		const struct bh_grant *o = &x->p->grants[i];

		if (o->partner_idx == x->g.partner_idx && o->gid_explicit && !strcmp(o->gid, s)) {
			err_member(x->c, x->gv, key, AT_VAL, "grant id %s given twice in this partner "
				   "(ids are unique per partner)", BH_Q(s));
			return 1;
		}
	}
	x->g.gid = grant_strdup(x, s);
	x->g.gid_explicit = 1;
	return x->g.gid ? 0 : -ENOMEM;
}

static const struct {
	const char *key;
	int (*parse)(struct gctx *x, const char *key, const json_t *v);
} grant_keys[] = {
	{ "id", grant_id }, { "to", grant_to }, { "proto", grant_proto }, { "ports", grant_ports_seen },
	{ "purpose", grant_purpose }, { "expires", grant_time }, { "ttl", grant_time },
};

static int grant_key(struct gctx *x, const char *key, const json_t *v)
{
	for (size_t i = 0; i < sizeof(grant_keys) / sizeof(grant_keys[0]); i++)
		if (!strcmp(key, grant_keys[i].key))
			return grant_keys[i].parse(x, key, v);
	err_member(x->c, x->gv, key, AT_KEY,
		   "unknown key %s in grant (expected id, to, proto, ports, purpose, expires, ttl)",
		   BH_Q(key));
	return 1;
}

/* A port list element: "443", "8000-8100" or a JSON integer. */
static int port_of_json(const json_t *v, struct bh_port_range *r, char *why)
{
	if (json_is_integer(v))
		return bh_port_of_int(json_integer_value(v), r, why);
	if (json_is_string(v))
		return bh_parse_port(json_string_value(v), r, why);
	snprintf(why, BH_REASON_LEN, "a port is a string like \"443\" or \"8000-8100\", or an integer");
	return -EINVAL;
}

/* "ports" written as the CLI's --ports: "443,8000-8100", one string. */
static int grant_ports_text(struct gctx *x)
{
	struct bh_grant *g = &x->g;
	char why[BH_REASON_LEN], *dup, *tok, *save = NULL;
	size_t n = 1;

	for (const char *s = json_string_value(x->ports); *s; s++)
		n += *s == ',';
	g->ports = x->c->in_store ? bh_store_alloc(&x->p->store, n * sizeof(*g->ports)) :
				    calloc(n, sizeof(*g->ports));
	dup = strdup(json_string_value(x->ports));
	if (!g->ports || !dup) {
		free(dup);
		return -ENOMEM;
	}
	for (tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (bh_parse_port(tok, &g->ports[g->nports], why)) {
			err_member(x->c, x->gv, "ports", AT_VAL, "%s", why);
			free(dup);
			return 1;
		}
		g->nports++;
	}
	free(dup);
	if (!g->nports) {
		err_member(x->c, x->gv, "ports", AT_VAL, "\"ports\" is empty (omit it for all ports)");
		return 1;
	}
	return 0;
}

/* The "ports" seen into x->g (merged): 0, 1 (reported) or -ENOMEM. */
static int grant_ports(struct gctx *x)
{
	size_t n = json_array_size(x->ports), j;
	struct bh_grant *g = &x->g;
	char why[BH_REASON_LEN];
	int bad = 0;
	json_t *e;

	if (g->proto == BH_PROTO_ICMP) {
		err_member(x->c, x->gv, "ports", AT_VAL,
			   "\"ports\" given with proto \"icmp\", which has no ports");
		return 1;
	}
	if (json_is_string(x->ports)) {
		bad = grant_ports_text(x);
		if (bad)
			return bad;
		goto merge;
	}
	if (!json_is_array(x->ports) || !n) {
		err_member(x->c, x->gv, "ports", AT_VAL,
			   "\"ports\" must be a non-empty array or a string like \"443,8000-8100\" "
			   "(omit it for all ports)");
		return 1;
	}
	g->ports = x->c->in_store ? bh_store_alloc(&x->p->store, n * sizeof(*g->ports)) :
				    calloc(n, sizeof(*g->ports));
	if (!g->ports)
		return -ENOMEM;
	json_array_foreach(x->ports, j, e) {
		if (port_of_json(e, &g->ports[g->nports], why)) {
			err_elem(x->c, x->ports, j, "%s", why);
			bad = 1;
		} else {
			g->nports++;
		}
	}
merge:
	g->nports = bh_port_ranges_merge(g->ports, g->nports);
	if (!bad && g->nports > BH_MAX_RULES) {
		err_member(x->c, x->gv, "ports", AT_VAL,
			   "%zu separate port ranges; at most %d (use ranges like \"8000-8100\")",
			   g->nports, BH_MAX_RULES);
		bad = 1;
	}
	return bad;
}

/* allow[i] of partner pidx into p->grants[p->ngrants]; errors go to c. */
static int parse_grant(struct pctx *c, const json_t *allow, size_t i, uint32_t pidx,
		       struct bh_policy *p)
{
	struct gctx x = { .c = c, .p = p, .gv = json_array_get(allow, i),
			  .g = { .partner_idx = pidx, .proto = BH_PROTO_ANY } };
	const char *key;
	json_t *v;
	int bad = 0, r = 0;

	if (!json_is_object(x.gv)) {
		err_elem(c, allow, i, "a grant is an object, not %s", type_name(x.gv));
		return 0;
	}
	json_object_foreach((json_t *)x.gv, key, v) {
		r = grant_key(&x, key, v);
		if (r < 0)
			goto out;
		bad |= r;
	}
	if (!x.has_to) {
		err_elem(c, allow, i, "grant has no \"to\"");
		bad = 1;
	}
	r = x.ports ? grant_ports(&x) : 0;
	if (r < 0)
		goto out;
	if (!(bad |= r)) {
		x.g.id = (uint32_t)p->ngrants + 1;
		p->grants[p->ngrants++] = x.g;
		return 0;
	}
out:
	if (!c->in_store)	/* otherwise it goes with the store */
		bh_grant_free(&x.g);
	return r < 0 ? r : 0;
}

/* ------------------------------------------------------------------- tiers */

/* A boolean tier setting into *dst. */
static void tier_bool(struct pctx *c, const json_t *tv, const char *key, const json_t *v,
		      uint8_t *dst)
{
	if (!json_is_boolean(v)) {
		err_member(c, tv, key, AT_VAL, "%s must be true or false, not %s", BH_Q(key),
			   type_name(v));
		return;
	}
	*dst = json_is_true(v);
}

/* An integer tier setting lo..hi into *dst. */
static void tier_int(struct pctx *c, const json_t *tv, const char *key, const json_t *v,
		     json_int_t lo, json_int_t hi, uint32_t *dst)
{
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
		err_member(c, tv, key, AT_VAL, "%s must be an integer from %" JSON_INTEGER_FORMAT
			   " to %" JSON_INTEGER_FORMAT, BH_Q(key), lo, hi);
		return;
	}
	*dst = (uint32_t)json_integer_value(v);
}

/* A duration tier setting ("15m"; null: none, where allowed) into *dst. */
static void tier_duration(struct pctx *c, const json_t *tv, const char *key, const json_t *v,
			  int nullable, int64_t *dst)
{
	char why[BH_REASON_LEN];

	if (nullable && json_is_null(v)) {
		*dst = 0;
		return;
	}
	if (!json_is_string(v)) {
		err_member(c, tv, key, AT_VAL, "%s must be a duration like \"15m\" or \"8h\"%s, not %s",
			   BH_Q(key), nullable ? " (null: no limit)" : "", type_name(v));
		return;
	}
	if (bh_parse_ttl(json_string_value(v), dst, why))
		err_member(c, tv, key, AT_VAL, "%s", why);
}

static void tier_named(struct pctx *c, const json_t *tv, const char *key, const json_t *v,
		       struct bh_tier *t)
{
	const char *s = json_is_string(v) ? json_string_value(v) : "";

	if (!strcmp(key, "severity_floor")) {
		if (bh_severity_parse(s, &t->severity_floor))
			err_member(c, tv, key, AT_VAL, "\"severity_floor\" must be " BH_SEVERITY_NAMES);
	} else if (!strcmp(s, "warn") || !strcmp(s, "refuse")) {
		t->lint_refuses = s[0] == 'r';
	} else {
		err_member(c, tv, key, AT_VAL, "\"lint\" must be \"warn\" or \"refuse\"");
	}
}

#define TIER_KEYS "max_ttl, must_expire, require_purpose, require_org, first_seen, " \
	"severity_floor, lint, widest_ipv4, widest_ipv6, scan_ports, scan_hosts, scan_window"

static void tier_key(struct pctx *c, const json_t *tv, const char *key, const json_t *v,
		     struct bh_tier *t)
{
	uint32_t n;

	if (!strcmp(key, "max_ttl"))
		tier_duration(c, tv, key, v, 1, &t->max_ttl_ns);
	else if (!strcmp(key, "scan_window"))
		tier_duration(c, tv, key, v, 0, &t->scan_window_ns);
	else if (!strcmp(key, "must_expire"))
		tier_bool(c, tv, key, v, &t->must_expire);
	else if (!strcmp(key, "require_purpose"))
		tier_bool(c, tv, key, v, &t->require_purpose);
	else if (!strcmp(key, "require_org"))
		tier_bool(c, tv, key, v, &t->require_org);
	else if (!strcmp(key, "first_seen"))
		tier_bool(c, tv, key, v, &t->first_seen);
	else if (!strcmp(key, "severity_floor") || !strcmp(key, "lint"))
		tier_named(c, tv, key, v, t);
	else if (!strcmp(key, "scan_ports"))
		tier_int(c, tv, key, v, 1, 65535, &t->scan_ports);
	else if (!strcmp(key, "scan_hosts"))
		tier_int(c, tv, key, v, 1, 1 << 24, &t->scan_hosts);
	else if (!strcmp(key, "widest_ipv4") || !strcmp(key, "widest_ipv6")) {
		int v6 = !strcmp(key, "widest_ipv6");
		uint8_t *dst = v6 ? &t->widest_v6 : &t->widest_v4;

		n = *dst;
		tier_int(c, tv, key, v, 0, v6 ? 128 : 32, &n);
		*dst = (uint8_t)n;
	} else
		err_member(c, tv, key, AT_KEY, "unknown key %s in tier (expected " TIER_KEYS ")",
			   BH_Q(key));
}

/* The tier named name in p, or a new one (from standard's settings), or NULL (reported). */
static struct bh_tier *tier_slot(struct pctx *c, const json_t *tiers, const char *name,
				 struct bh_policy *p)
{
	struct bh_tier *t = (struct bh_tier *)bh_tier_find(p, name);

	if (t)
		return t;
	if (!bh_valid_partner_name(name) || strlen(name) >= BH_TIER_NAME_LEN) {
		err_member(c, tiers, name, AT_KEY, "bad tier name %s: 1-%d characters of A-Z a-z "
			   "0-9 . _ -", BH_Q(name), BH_TIER_NAME_LEN - 1);
		return NULL;
	}
	if (p->ntiers == BH_MAX_TIERS) {
		err_member(c, tiers, name, AT_KEY, "too many tiers (at most %d)", BH_MAX_TIERS);
		return NULL;
	}
	t = &p->tiers[p->ntiers++];
	*t = *bh_tier_find(p, BH_TIER_DEFAULT);
	snprintf(t->name, sizeof(t->name), "%s", name);
	return t;
}

/* The defaults into p, then the "tiers" block v (may be NULL) over them; 0 or -ENOMEM. */
static int parse_tiers(struct pctx *c, const json_t *root, const json_t *v, struct bh_policy *p)
{
	const struct bh_tier *d = bh_tier_defaults(&p->ntiers);
	const char *name, *key;
	json_t *tv, *kv;

	p->tiers = calloc(BH_MAX_TIERS, sizeof(*p->tiers));
	if (!p->tiers)
		return -ENOMEM;
	memcpy(p->tiers, d, p->ntiers * sizeof(*d));
	if (v && !json_is_object(v)) {
		err_member(c, root, "tiers", AT_VAL, "\"tiers\" must be an object of name: settings, "
			   "not %s", type_name(v));
		return 0;
	}
	json_object_foreach((json_t *)v, name, tv) {
		struct bh_tier *t;

		if (!json_is_object(tv)) {
			err_member(c, v, name, AT_VAL, "tier %s must be an object, not %s",
				   BH_Q(name), type_name(tv));
			continue;
		}
		t = tier_slot(c, v, name, p);
		json_object_foreach(tv, key, kv)
			if (t)
				tier_key(c, tv, key, kv, t);
	}
	return 0;
}

/* A partner's "tier": the name of one of p's tiers. */
static void partner_tier(struct pctx *c, const json_t *pv, const char *key, const json_t *v,
			 const struct bh_policy *p, struct bh_partner *pt)
{
	const struct bh_tier *t = json_is_string(v) ? bh_tier_find(p, json_string_value(v)) : NULL;
	char names[BH_MAX_TIERS * (BH_TIER_NAME_LEN + 2)] = "";
	size_t i, o = 0;

	if (t) {
		pt->tier = (uint32_t)(t - p->tiers);
		return;
	}
	for (i = 0; i < p->ntiers && o < sizeof(names); i++)
		o += (size_t)snprintf(names + o, sizeof(names) - o, "%s%s", i ? ", " : "",
				      p->tiers[i].name);
	if (json_is_string(v))
		err_member(c, pv, key, AT_VAL, "unknown tier %s (the tiers are %s; add one in "
			   "\"tiers\")", BH_Q(json_string_value(v)), names);
	else
		err_member(c, pv, key, AT_VAL, "\"tier\" must be a tier name (%s), not %s", names,
			   type_name(v));
}

/* ---------------------------------------------------------------- partners */

/* A cgroup binding, for the "bound twice" check. */
struct binding {
	const char *path;
	uint32_t partner;
	const json_t *arr;	/* the cgroups array; NULL: implicit partner_root/<name> */
	size_t idx;
	size_t seq;		/* file order */
};

struct bindings {
	struct binding *v;
	size_t n, cap;
};

static int bindings_add(struct bindings *b, struct binding x)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 16;
		struct binding *v = realloc(b->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		b->v = v;
		b->cap = cap;
	}
	x.seq = b->n;
	b->v[b->n++] = x;
	return 0;
}

/* "cgroups" of partner pidx: 0 or -ENOMEM (problems go to c). */
static int partner_cgroups(struct pctx *c, const json_t *pv, const char *key, const json_t *v,
			   struct bh_policy *p, uint32_t pidx, struct bindings *b)
{
	struct bh_partner *pt = &p->partners[pidx];
	char why[BH_REASON_LEN];
	json_t *e;
	size_t i;
	int err;

	if (!json_is_array(v)) {
		err_member(c, pv, key, AT_VAL, "\"cgroups\" must be an array of cgroup paths");
		return 0;
	}
	pt->cgroups = calloc(json_array_size(v) + 1, sizeof(*pt->cgroups));
	if (!pt->cgroups)
		return -ENOMEM;
	json_array_foreach(v, i, e) {
		char *path;

		if (!json_is_string(e)) {
			err_elem(c, v, i, "a cgroup is a path string, not %s", type_name(e));
			continue;
		}
		err = bh_parse_cgroup_path(json_string_value(e), &path, why);
		if (err == -ENOMEM)
			return err;
		if (err) {
			err_elem(c, v, i, "%s", why);
			continue;
		}
		pt->cgroups[pt->ncgroups++] = path;
		err = bindings_add(b, (struct binding){ path, pidx, v, i, 0 });
		if (err)
			return err;
	}
	return 0;
}

static void partner_mode(struct pctx *c, const json_t *pv, const char *key, const json_t *v,
			 struct bh_partner *pt)
{
	const char *s = json_is_string(v) ? json_string_value(v) : "";

	if (!bh_mode_parse(s, &pt->mode))
		return;
	if (json_is_string(v))
		err_member(c, pv, key, AT_VAL, "unknown mode %s (expected " BH_MODE_NAMES ")",
			   BH_Q(s));
	else
		err_member(c, pv, key, AT_VAL, "\"mode\" must be " BH_MODE_NAMES ", not %s",
			   type_name(v));
}

static int partner_allow(struct pctx *c, const json_t *pv, const char *key, const json_t *v,
			 struct bh_policy *p, uint32_t pidx)
{
	int err;

	if (!json_is_array(v)) {
		err_member(c, pv, key, AT_VAL, "\"allow\" must be an array of grants");
		return 0;
	}
	for (size_t i = 0; i < json_array_size(v); i++) {
		err = parse_grant(c, v, i, pidx, p);
		if (err)
			return err;
	}
	return 0;
}

/* org or contact: a string (bh_parse_label); 0 or -ENOMEM. */
static int partner_label(struct pctx *c, const json_t *pv, const char *key, const json_t *v,
			 char **dst)
{
	char why[BH_REASON_LEN];
	int err;

	free(*dst);
	*dst = NULL;
	if (!json_is_string(v)) {
		err_member(c, pv, key, AT_VAL, "\"%s\" must be a string of 1 to %d bytes, not %s",
			   key, BH_ORG_LEN - 1, type_name(v));
		return 0;
	}
	err = bh_parse_label(json_string_value(v), key, dst, why);
	if (err == -EINVAL)
		err_member(c, pv, key, AT_VAL, "%s", why);
	return err == -ENOMEM ? err : 0;
}

/* The next partner (name: pv of partners) into p; 0 or -ENOMEM. */
static int parse_partner(struct pctx *c, const json_t *partners, const char *name,
			 const json_t *pv, struct bh_policy *p, struct bindings *b)
{
	uint32_t pidx = (uint32_t)p->npartners;
	struct bh_partner *pt = &p->partners[p->npartners++];
	const char *key;
	json_t *v;
	int err = 0;

	memset(pt, 0, sizeof(*pt));
	pt->id = pidx + 1;
	pt->mode = BH_MODE_ENFORCE;
	pt->tier = (uint32_t)(bh_tier_find(p, BH_TIER_DEFAULT) - p->tiers);
	pt->name = strdup(name);
	if (!pt->name)
		return -ENOMEM;
	if (!bh_valid_partner_name(name))
		err_member(c, partners, name, AT_KEY,
			   "bad partner name %s: 1-64 characters of A-Z a-z 0-9 . _ - (not \".\" or \"..\")",
			   BH_Q(name));
	if (pidx + 1 >= BH_MAX_PARTNERS) {
		err_member(c, partners, name, AT_KEY, "too many partners (at most %d)", BH_MAX_PARTNERS - 1);
		return 0;
	}
	if (!json_is_object(pv)) {
		err_member(c, partners, name, AT_VAL, "partner %s must be an object, not %s",
			   BH_Q(name), type_name(pv));
		return 0;
	}
	json_object_foreach((json_t *)pv, key, v) {
		if (!strcmp(key, "cgroups"))
			err = partner_cgroups(c, pv, key, v, p, pidx, b);
		else if (!strcmp(key, "mode"))
			partner_mode(c, pv, key, v, pt);
		else if (!strcmp(key, "allow"))
			err = partner_allow(c, pv, key, v, p, pidx);
		else if (!strcmp(key, "org"))
			err = partner_label(c, pv, key, v, &pt->org);
		else if (!strcmp(key, "contact"))
			err = partner_label(c, pv, key, v, &pt->contact);
		else if (!strcmp(key, "tier"))
			partner_tier(c, pv, key, v, p, pt);
		else
			err_member(c, pv, key, AT_KEY, "unknown key %s in partner (expected cgroups, "
				   "mode, allow, org, contact, tier)", BH_Q(key));
		if (err)
			return err;
	}
	return 0;
}

/* ---------------------------------------------------------------- bindings */

static int binding_cmp(const void *x, const void *y)
{
	const struct binding *a = x, *b = y;
	int r = strcmp(a->path, b->path);

	return r ? r : (a->seq > b->seq) - (a->seq < b->seq);
}

/* Partners without cgroups get partner_root/<name>, or an error. */
static int implicit_bindings(struct pctx *c, const json_t *partners, struct bh_policy *p,
			     struct bindings *b)
{
	for (size_t i = 0; i < p->npartners; i++) {
		struct bh_partner *pt = &p->partners[i];
		const json_t *pv = json_object_get(partners, pt->name);
		const json_t *cg = json_is_object(pv) ? json_object_get(pv, "cgroups") : NULL;
		char **v, *path;

		if (pt->ncgroups || !json_is_object(pv) || (cg && !json_is_array(cg)) ||
		    json_array_size(cg))
			continue;
		if (!p->partner_root && c->root_unknown)
			continue;	/* one mistake, one error: the unknown key's */
		if (!p->partner_root) {
			if (cg)
				err_member(c, pv, "cgroups", AT_VAL,
					   "empty \"cgroups\": bind the partner to a cgroup or set \"partner_root\"");
			else
				err_member(c, partners, pt->name, AT_KEY,
					   "partner %s has no \"cgroups\" and there is no \"partner_root\"",
					   BH_Q(pt->name));
			continue;
		}
		if (asprintf(&path, "%s/%s", p->partner_root, pt->name) < 0)
			return -ENOMEM;
		v = realloc(pt->cgroups, 2 * sizeof(*v));
		if (!v) {
			free(path);
			return -ENOMEM;
		}
		pt->cgroups = v;
		pt->cgroups[pt->ncgroups++] = path;
		if (bindings_add(b, (struct binding){ path, (uint32_t)i, NULL, 0, 0 }))
			return -ENOMEM;
	}
	return 0;
}

/* A binding that may not be: a second one of its path, or the partner_root. */
struct dup {
	const struct binding *x, *first;	/* first: NULL for the partner_root */
	struct jpos_want at;			/* where first is */
};

/* The problems among the sorted bindings, as many as there is room for. */
static size_t find_dups(struct pctx *c, const json_t *partners, const struct bh_policy *p,
			const struct bindings *b, struct dup *d)
{
	size_t i, run, n = 0;

	for (i = 0, run = 0; i < b->n; i++) {
		const struct binding *x = &b->v[i], *f;

		if (i && strcmp(x->path, b->v[i - 1].path))
			run = i;	/* the first binding of this path */
		if (run == i && !(p->partner_root && !strcmp(x->path, p->partner_root)))
			continue;
		if (c->errs->n + c->npend + n >= BH_MAX_ERRORS) {
			c->failed = 1;
			c->errs->more++;
			continue;
		}
		f = run < i ? &b->v[run] : NULL;
		d[n].x = x;
		d[n].first = f;
		d[n].at = !f ? (struct jpos_want){ .parent = NULL } :	/* unused */
			  f->arr ? (struct jpos_want){ .parent = f->arr, .idx = f->idx } :
			  (struct jpos_want){ .parent = partners, .key = p->partners[f->partner].name };
		n++;
	}
	return n;
}

static void report_dup(struct pctx *c, const json_t *partners, const struct bh_policy *p,
		       const struct dup *d, const struct jpos_want *first)
{
	const struct binding *x = d->x, *f = d->first;
	struct jpos fp = !first->found ? (struct jpos){ 0, 0 } :
			 f && f->arr ? first->vpos : first->kpos;
	char what[3 * BH_QUOTE_LEN + 128];	/* three quoted names, never cut */

	if (f && f->partner == x->partner)
		snprintf(what, sizeof(what), "cgroup %s listed twice for partner %s (first at %d:%d)",
			 BH_Q(x->path), BH_Q(p->partners[x->partner].name), fp.line, fp.col);
	else if (f)
		snprintf(what, sizeof(what), "cgroup %s bound to partners %s (at %d:%d) and %s",
			 BH_Q(x->path), BH_Q(p->partners[f->partner].name), fp.line, fp.col,
			 BH_Q(p->partners[x->partner].name));
	else
		snprintf(what, sizeof(what), "cgroup %s is the partner_root; bind a cgroup below it",
			 BH_Q(x->path));
	if (x->arr)
		err_elem(c, x->arr, x->idx, "%s", what);
	else
		err_member(c, partners, p->partners[x->partner].name, AT_KEY, "%s", what);
}

/*
 * Partners without cgroups get partner_root/<name> (or an error); then no
 * cgroup may be bound twice or be the partner_root itself. The problems
 * first, then where the first binding of each duplicated path is, all in
 * one walk.
 */
static int check_bindings(struct pctx *c, const json_t *partners, struct bh_policy *p,
			  struct bindings *b)
{
	struct dup d[BH_MAX_ERRORS];
	struct jpos_want first[BH_MAX_ERRORS];
	size_t i, n;
	int err = implicit_bindings(c, partners, p, b);

	if (err)
		return err;
	if (b->n > 1)
		qsort(b->v, b->n, sizeof(*b->v), binding_cmp);
	n = find_dups(c, partners, p, b, d);
	for (i = 0; i < n; i++)
		first[i] = d[i].at;
	jpos_find(&c->src, first, n);
	for (i = 0; i < n; i++)
		report_dup(c, partners, p, &d[i], &first[i]);
	return 0;
}

/* -------------------------------------------------------------------- root */

static int parse_never(struct pctx *c, const json_t *root, const json_t *v, struct bh_policy *p)
{
	char why[BH_REASON_LEN];
	size_t i;
	json_t *e;

	if (!json_is_array(v)) {
		err_member(c, root, "never", AT_VAL, "\"never\" must be an array of addresses or CIDRs, not %s",
			   type_name(v));
		return 0;
	}
	p->never = calloc(json_array_size(v) + 1, sizeof(*p->never));
	if (!p->never)
		return -ENOMEM;
	json_array_foreach(v, i, e) {
		if (!json_is_string(e)) {
			err_elem(c, v, i, "a never entry is an address or CIDR string, not %s", type_name(e));
			continue;
		}
		if (bh_parse_prefix(json_string_value(e), &p->never[p->nnever], why)) {
			err_elem(c, v, i, "%s", why);
			continue;
		}
		p->nnever++;
	}
	return 0;
}

static void root_version(struct pctx *c, const json_t *root, const char *key, const json_t *v)
{
	if (!json_is_integer(v))
		err_member(c, root, key, AT_VAL, "\"version\" must be the integer 1, not %s",
			   type_name(v));
	else if (json_integer_value(v) != 1)
		err_member(c, root, key, AT_VAL,
			   "unsupported version %" JSON_INTEGER_FORMAT " (this bulkhead reads version 1)",
			   json_integer_value(v));
}

static int root_partner_root(struct pctx *c, const json_t *root, const char *key,
			     const json_t *v, struct bh_policy *p)
{
	char why[BH_REASON_LEN];
	int err;

	if (!json_is_string(v)) {
		err_member(c, root, key, AT_VAL, "\"partner_root\" must be a cgroup path string");
		return 0;
	}
	err = bh_parse_cgroup_path(json_string_value(v), &p->partner_root, why);
	if (err == -ENOMEM)
		return err;
	if (err)
		err_member(c, root, key, AT_VAL, "%s", why);
	return 0;
}

static int root_partners(struct pctx *c, const json_t *root, const char *key, const json_t *v,
			 struct bh_policy *p, struct bindings *b)
{
	const char *name;
	json_t *pv;
	int err;

	if (!json_is_object(v)) {
		err_member(c, root, key, AT_VAL, "\"partners\" must be an object of name: partner");
		return 0;
	}
	json_object_foreach((json_t *)v, name, pv) {
		err = parse_partner(c, v, name, pv, p, b);
		if (err)
			return err;
	}
	return 0;
}

/* Size the partner and grant tables up front. */
static int size_tables(const json_t *partners, struct bh_policy *p)
{
	size_t ngrants = 0;
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)partners, key, v)
		ngrants += json_array_size(json_object_get(v, "allow"));
	p->partners = calloc(json_object_size(partners) + 1, sizeof(*p->partners));
	p->grants = calloc(ngrants + 1, sizeof(*p->grants));
	return p->partners && p->grants ? 0 : -ENOMEM;
}

static void unknown_root_key(struct pctx *c, const json_t *root, const char *key)
{
	c->root_unknown = 1;
	err_member(c, root, key, AT_KEY,
		   "unknown key %s (expected version, partner_root, never, tiers, partners)", BH_Q(key));
}

static int parse_root(struct pctx *c, const json_t *root, struct bh_policy *p, struct bindings *b)
{
	const json_t *partners = json_object_get(root, "partners"), *v;
	const char *key;
	int err = 0;

	if (!json_is_object(root)) {
		err_member(c, NULL, NULL, AT_VAL, "a policy is a JSON object, not %s", type_name(root));
		return 0;
	}
	if (!json_object_get(root, "version"))
		err_member(c, NULL, NULL, AT_VAL, "missing \"version\" (this bulkhead reads version 1)");
	if (json_is_object(partners) && size_tables(partners, p))
		return -ENOMEM;
	err = parse_tiers(c, root, json_object_get(root, "tiers"), p);	/* partners name them */
	if (err)
		return err;
	json_object_foreach((json_t *)root, key, v) {
		if (!strcmp(key, "version"))
			root_version(c, root, key, v);
		else if (!strcmp(key, "partner_root"))
			err = root_partner_root(c, root, key, v, p);
		else if (!strcmp(key, "never"))
			err = parse_never(c, root, v, p);
		else if (!strcmp(key, "partners"))
			err = root_partners(c, root, key, v, p, b);
		else if (strcmp(key, "tiers"))
			unknown_root_key(c, root, key);
		if (err)
			return err;
	}
	return json_is_object(partners) ? check_bindings(c, partners, p, b) : 0;
}

/* ------------------------------------------------------------- entry points */

int bh_validate_policy(const char *name, const struct jpos_src *src, struct bh_policy *p,
		       struct bh_errors *errs)
{
	struct pctx c = { .name = name, .src = *src, .errs = errs, .in_store = 1 };
	struct bindings b = { 0 };
	int err;

	err = finish(&c, parse_root(&c, src->root, p, &b));
	free(b.v);
	return err;
}

int bh_validate_grant(const char *name, const struct jpos_src *src, uint32_t pidx,
		      struct bh_policy *one, struct bh_errors *errs)
{
	struct pctx c = { .name = name, .src = *src, .errs = errs };
	json_t *arr = json_array();	/* parse_grant reads allow[i]: give it one */
	int err;

	if (!arr || json_array_append(arr, (json_t *)src->root)) {
		json_decref(arr);
		return -ENOMEM;
	}
	err = finish(&c, parse_grant(&c, arr, 0, pidx, one));
	json_decref(arr);
	return err;
}
