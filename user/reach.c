// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `bulkhead reach` (reach.h): the pinned trie walked once; each entry's own
 * addresses are its prefix minus the more specific entries of the same
 * partner (the LPM lookup sends those elsewhere), counted in long double
 * (::/0 is 2^128 addresses), times the tcp and udp ports its live rules cover.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>
#include "cli.h"
#include "events.h"
#include "grants.h"
#include "loader.h"
#include "maps.h"
#include "names.h"
#include "reach.h"

struct rent {
	uint32_t partner;
	struct bh_prefix pf;
	struct bh_lpm_val v;
	long double own;	/* addresses this entry decides */
	int live;		/* not never, a live rule */
};

struct rset {
	size_t n, cap;
	struct rent *e;
	uint64_t now;
};

static int collect(void *ctx, const struct bh_lpm_key *k, const struct bh_lpm_val *v)
{
	struct rset *s = ctx;
	struct rent *e;

	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 256;
		struct rent *ne = realloc(s->e, cap * sizeof(*ne));

		if (!ne)
			return 1;
		s->e = ne;
		s->cap = cap;
	}
	e = &s->e[s->n++];
	memset(e, 0, sizeof(*e));
	e->partner = ntohl(k->partner);
	memcpy(e->pf.addr, k->addr, 16);
	e->pf.plen = (uint8_t)(k->prefixlen - 32);
	e->v = *v;
	return 0;
}

static int rule_live(const struct bh_rule *r, uint64_t now)
{
	return !r->expires_ns || r->expires_ns > now;
}

/* Own addresses and liveness of every entry (pairwise: a first slice). */
static void weigh(struct rset *s)
{
	size_t i, j, k;

	for (i = 0; i < s->n; i++) {
		struct rent *e = &s->e[i];

		e->own = ldexpl(1.0L, 128 - e->pf.plen);
		for (j = 0; j < s->n; j++) {
			struct rent *c = &s->e[j];
			int direct = 1;

			if (j == i || c->partner != e->partner || c->pf.plen <= e->pf.plen ||
			    !bh_prefix_within(&c->pf, &e->pf))
				continue;
			for (k = 0; k < s->n && direct; k++)	/* nearest enclosing is e */
				direct = !(k != i && k != j && s->e[k].partner == e->partner &&
					   s->e[k].pf.plen > e->pf.plen && s->e[k].pf.plen < c->pf.plen &&
					   bh_prefix_within(&c->pf, &s->e[k].pf));
			if (direct)
				e->own -= ldexpl(1.0L, 128 - c->pf.plen);
		}
		for (k = 0; k < e->v.nrules && k < BH_MAX_RULES; k++)
			e->live |= rule_live(&e->v.rules[k], s->now);
		if (e->v.flags & BH_ENTRY_NEVER)
			e->live = 0;
	}
}

/* tcp plus udp ports the live rules of e cover. */
static unsigned int ports_of(const struct rent *e, uint64_t now)
{
	static uint8_t seen[2][65536];
	unsigned int n = 0, p;
	int i, t;

	memset(seen, 0, sizeof(seen));
	for (i = 0; i < e->v.nrules && i < BH_MAX_RULES; i++) {
		const struct bh_rule *r = &e->v.rules[i];

		if (!rule_live(r, now))
			continue;
		for (t = 0; t < 2; t++) {
			if (r->proto != BH_PROTO_ANY && r->proto != (t ? BH_PROTO_UDP : BH_PROTO_TCP))
				continue;
			for (p = r->port_lo ? r->port_lo : 1; p <= r->port_hi; p++)
				if (!seen[t][p]++)
					n++;
		}
	}
	return n;
}

static json_t *count_json(long double v)
{
	char buf[64];

	snprintf(buf, sizeof(buf), "%.0Lf", v);
	return json_string(buf);
}

static void pname(const struct bh_maps *m, uint32_t id, char *buf, size_t len)
{
	struct bh_pname n = {};

	if (bh_maps_pname_read(m, id, &n) || !n.name[0])
		snprintf(n.name, sizeof(n.name), "#%u", id);
	snprintf(buf, len, "%.*s", (int)sizeof(n.name), n.name);
}

static json_t *rules_json(const struct rent *e, uint64_t now)
{
	json_t *arr = json_array();
	int i;

	for (i = 0; i < e->v.nrules && i < BH_MAX_RULES; i++) {
		const struct bh_rule *r = &e->v.rules[i];
		json_t *o;

		if (!rule_live(r, now))
			continue;
		o = json_pack("{s:s, s:I, s:I, s:I}", "proto", bh_proto_str(r->proto),
			      "port_lo", (json_int_t)r->port_lo, "port_hi", (json_int_t)r->port_hi,
			      "grant", (json_int_t)r->grant);
		if (r->expires_ns)
			json_object_set_new(o, "remaining_s",
					    json_real((double)(r->expires_ns - now) / 1e9));
		json_array_append_new(arr, o);
	}
	return arr;
}

/* One partner's reach as JSON. */
static json_t *partner_json(const struct bh_maps *m, const struct rset *s, uint32_t id,
			    const struct bh_jitset *js, const struct bh_clock *clk)
{
	long double addrs = 0, pairs = 0;
	json_t *o = json_object(), *ents = json_array(), *shared = json_array(), *jit = json_array();
	char name[80], other[80], buf[BH_PREFIX_STRLEN];
	size_t i, j;

	pname(m, id, name, sizeof(name));
	for (i = 0; i < s->n; i++) {
		const struct rent *e = &s->e[i];

		if (e->partner != id || !e->live)
			continue;
		addrs += e->own;
		pairs += e->own * ports_of(e, s->now);
		json_array_append_new(ents, json_pack("{s:s, s:o, s:o}", "to",
			bh_prefix_str(&e->pf, buf, sizeof(buf)), "addresses", count_json(e->own),
			"rules", rules_json(e, s->now)));
		for (j = 0; j < s->n; j++) {
			const struct rent *c = &s->e[j];
			const struct bh_prefix *ov;

			if (c->partner == id || c->partner == BH_PARTNER_NEVER || !c->live)
				continue;
			if (bh_prefix_within(&c->pf, &e->pf))
				ov = &c->pf;
			else if (bh_prefix_within(&e->pf, &c->pf))
				ov = &e->pf;
			else
				continue;
			pname(m, c->partner, other, sizeof(other));
			json_array_append_new(shared, json_pack("{s:s, s:s}", "with", other, "overlap",
				bh_prefix_str(ov, buf, sizeof(buf))));
		}
	}
	for (i = 0; i < js->n; i++) {
		const struct bh_jit *r = &js->r[i];
		char gid[128];

		if (r->kind != BH_JIT_GRANT || strncmp(r->partner, name, sizeof(r->partner)) ||
		    (int64_t)r->expires_boot_ns <= clk->boot_ns)
			continue;
		bh_grant_format_id(gid, sizeof(gid), name, r->seq, 1);
		json_array_append_new(jit, json_pack("{s:s, s:f}", "id", gid, "remaining_s",
			(double)((int64_t)r->expires_boot_ns - clk->boot_ns) / 1e9));
	}
	json_object_set_new(o, "partner", json_string(name));
	json_object_set_new(o, "addresses", count_json(addrs));
	json_object_set_new(o, "address_ports", count_json(pairs));
	json_object_set_new(o, "breadth", json_real((double)addrs));
	json_object_set_new(o, "entries", ents);
	json_object_set_new(o, "jit", jit);
	json_object_set_new(o, "shared", shared);
	return o;
}

static void reach_usage(FILE *f)
{
	fprintf(f,
"Usage: bulkhead reach [PARTNER] [--json] [--pin-dir DIR]\n"
"\n"
"The blast radius, read from the loaded policy trie (works with the daemon down):\n"
"what PARTNER can reach now, one line per trie entry (prefix and its live rules:\n"
"protocol and ports), the number of addresses it can reach and of address:port\n"
"pairs (tcp and udp ports counted apart), its live just-in-time grants with their\n"
"remaining lifetime, and the destinations it shares with other partners (\"hidden\n"
"reuse\": two partners whose granted prefixes overlap, with the overlap). The\n"
"never list and expired rules reach nothing. Counts are exact up to 2^64 and\n"
"rounded above (::/0 is 2^128 addresses).\n"
"\n"
"Without PARTNER, one line per partner, ranked by the addresses it reaches.\n"
"\n"
"  -j, --json          JSON\n"
"  -P, --pin-dir DIR   (default $BULKHEAD_PIN_DIR or " BH_DEFAULT_PIN_DIR ")\n"
"  -h, --help          this help\n");
}

static int by_breadth(const void *a, const void *b)
{
	double x = json_real_value(json_object_get(*(json_t *const *)a, "breadth"));
	double y = json_real_value(json_object_get(*(json_t *const *)b, "breadth"));

	return x < y ? 1 : x > y ? -1 : 0;
}

static void print_one(const json_t *o)
{
	const json_t *a;
	size_t i, j;

	printf("%s reaches %s addresses, %s address:port pairs\n",
	       json_string_value(json_object_get(o, "partner")),
	       json_string_value(json_object_get(o, "addresses")),
	       json_string_value(json_object_get(o, "address_ports")));
	a = json_object_get(o, "entries");
	for (i = 0; i < json_array_size(a); i++) {
		const json_t *e = json_array_get(a, i), *r = json_object_get(e, "rules");

		printf("  %-32s", json_string_value(json_object_get(e, "to")));
		for (j = 0; j < json_array_size(r); j++) {
			const json_t *x = json_array_get(r, j);

			printf(" %s:%lld-%lld", json_string_value(json_object_get(x, "proto")),
			       json_integer_value(json_object_get(x, "port_lo")),
			       json_integer_value(json_object_get(x, "port_hi")));
		}
		printf("\n");
	}
	a = json_object_get(o, "jit");
	for (i = 0; i < json_array_size(a); i++)
		printf("  jit %s: %.1fs left\n",
		       json_string_value(json_object_get(json_array_get(a, i), "id")),
		       json_real_value(json_object_get(json_array_get(a, i), "remaining_s")));
	a = json_object_get(o, "shared");
	for (i = 0; i < json_array_size(a); i++)
		printf("  shared with %s: %s\n",
		       json_string_value(json_object_get(json_array_get(a, i), "with")),
		       json_string_value(json_object_get(json_array_get(a, i), "overlap")));
}

int bh_cmd_reach(int argc, char **argv)
{
	struct rset s = {};
	struct bh_jitset js = {};
	struct bh_clock clk;
	struct cli_args a;
	struct bh_maps m;
	json_t *arr;
	uint32_t id;
	size_t i;
	int rc, fd, err;

	rc = cli_parse(argc, argv, OPT_JSON | OPT_PIN_DIR, NULL, NULL, NULL, reach_usage, 0, 1, &a);
	if (rc >= 0)
		return rc;
	if (bh_maps_open_pinned(&m, a.pin_dir)) {
		fprintf(stderr, "bulkhead reach: nothing loaded: no pinned maps in %s\n", a.pin_dir);
		return 2;
	}
	bh_clock_now(&clk);
	s.now = (uint64_t)clk.boot_ns;
	fd = bh_maps_trie_current(&m);
	err = fd < 0 ? fd : bh_maps_trie_each(fd, collect, &s);
	if (fd >= 0)
		close(fd);
	if (err) {
		fprintf(stderr, "bulkhead reach: cannot read the policy trie in %s: %s\n",
			a.pin_dir, strerror(-err));
		bh_maps_close(&m);
		free(s.e);
		return 2;
	}
	if (bh_jit_load_pinned(a.pin_dir, &js))
		memset(&js, 0, sizeof(js));
	weigh(&s);
	arr = json_array();
	rc = 0;
	for (i = 0; i < s.n; i++) {
		char name[80];

		id = s.e[i].partner;
		if (s.e[i].pf.plen || id == BH_PARTNER_NEVER)
			continue;	/* one default entry per partner */
		pname(&m, id, name, sizeof(name));
		if (a.nargs && strcmp(name, a.args[0]))
			continue;
		json_array_append_new(arr, partner_json(&m, &s, id, &js, &clk));
	}
	if (a.nargs && !json_array_size(arr)) {
		fprintf(stderr, "bulkhead reach: no partner %s in the applied policy\n", a.args[0]);
		rc = 1;
	}
	if (!rc && a.json) {
		json_t *out = a.nargs ? json_array_get(arr, 0) : arr;

		if (!json_dumpf(out, stdout, JSON_COMPACT))
			putchar('\n');
	} else if (!rc) {
		json_t **v = calloc(json_array_size(arr) + 1, sizeof(*v));

		for (i = 0; v && i < json_array_size(arr); i++)
			v[i] = json_array_get(arr, i);
		if (v)
			qsort(v, json_array_size(arr), sizeof(*v), by_breadth);
		for (i = 0; v && i < json_array_size(arr); i++) {
			if (a.nargs)
				print_one(v[i]);
			else
				printf("%-20s %40s addresses %40s address:port pairs\n",
				       json_string_value(json_object_get(v[i], "partner")),
				       json_string_value(json_object_get(v[i], "addresses")),
				       json_string_value(json_object_get(v[i], "address_ports")));
		}
		free(v);
	}
	json_decref(arr);
	bh_jitset_free(&js);
	bh_maps_close(&m);
	free(s.e);
	return rc;
}
