// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `bulkhead trace --summary`: the incident report per partner, built in one
 * pass (grants from policy lines, destinations and ports, attempts after each
 * revocation or expiry, alerts, gaps) into tables keyed by destination, so
 * memory follows the number of distinct destinations, not the log's size;
 * then written as one JSON object, and as text from that object.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include "events.h"
#include "trace.h"
#include "tracesum.h"

#define MAX_ALERTS_LISTED 50
#define MAX_GAPS 10000
#define MAX_CHANGES 1000
#define MAX_GRANT_PORTS 16

/* ------------------------------------------------------------ a string table */

struct hent {
	uint64_t h;
	size_t klen;
	char *key;
	void *val;
};

struct htab {
	struct hent *e;
	size_t cap, n;
};

static uint64_t hash(const char *k, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	while (n--)
		h = (h ^ (unsigned char)*k++) * 1099511628211ull;
	return h | 1;
}

static int ht_grow(struct htab *t)
{
	size_t ncap = t->cap ? t->cap * 2 : 64, i;
	struct hent *ne = calloc(ncap, sizeof(*ne));

	if (!ne)
		return -ENOMEM;
	for (i = 0; i < t->cap; i++) {
		size_t j;

		if (!t->e[i].h)
			continue;
		for (j = t->e[i].h & (ncap - 1); ne[j].h; j = (j + 1) & (ncap - 1))
			;
		ne[j] = t->e[i];
	}
	free(t->e);
	t->e = ne;
	t->cap = ncap;
	return 0;
}

/* The value of key, created (vsize zeroed bytes) when missing; *fresh says
 * which. NULL without memory. */
static void *ht_get(struct htab *t, const char *key, size_t klen, size_t vsize, int *fresh)
{
	uint64_t h = hash(key, klen);
	size_t j;

	*fresh = 0;
	if ((t->n + 1) * 2 > t->cap && ht_grow(t))
		return NULL;
	for (j = h & (t->cap - 1); t->e[j].h; j = (j + 1) & (t->cap - 1)) {
		if (t->e[j].h == h && t->e[j].klen == klen && !memcmp(t->e[j].key, key, klen))
			return t->e[j].val;
	}
	t->e[j].key = strndup(key, klen);
	t->e[j].val = calloc(1, vsize);
	if (!t->e[j].key || !t->e[j].val) {
		free(t->e[j].key);
		free(t->e[j].val);
		t->e[j].key = NULL;
		t->e[j].val = NULL;
		return NULL;
	}
	t->e[j].h = h;
	t->e[j].klen = klen;
	t->n++;
	*fresh = 1;
	return t->e[j].val;
}

static void ht_free(struct htab *t)
{
	size_t i;

	for (i = 0; i < t->cap; i++) {
		free(t->e[i].key);
		free(t->e[i].val);
	}
	free(t->e);
	memset(t, 0, sizeof(*t));
}

/* ------------------------------------------------------------ the model */

enum { V_ALLOW, V_DENY, V_AUDIT, V__MAX };
static const char *const vnames[V__MAX] = { "allow", "deny", "audit" };
static const char *const rnames[] = { "granted", "no_grant", "never", "expired", "revoked",
				      "unknown_partner", "other" };
#define R__MAX (sizeof(rnames) / sizeof(rnames[0]))

struct dest {
	char addr[64];
	int64_t first, last;
	uint64_t n[V__MAX], after;
	int64_t tx, rx;
	json_t *ports;		/* filled at output */
};

struct dport {
	struct dest *d;
	int64_t port;
	char proto[8];
	uint64_t n[V__MAX];
	int64_t first, last;
};

struct grant {
	char id[96], to[64], proto[8], ports[160], purpose[160], source[8];
	int64_t granted, expires, revoked, removed, first_use, last_use;
	json_t *granted_by, *revoked_by;
	uint64_t used;
};

struct attempt {
	char dst[64], proto[8], verdict[8];
	int64_t port, first, last;
	uint64_t count;
};

struct after {
	size_t grant;
	const char *kind;	/* "revoke" or "expiry" */
	int64_t ts;
	int dead;		/* an expiry that a revocation came before */
	struct bh_prefix pf;
	int has_pf;
	char proto[8];
	struct bh_port_range ports[MAX_GRANT_PORTS];
	size_t nports;
	struct htab att;
	uint64_t total;
};

struct tpart {
	char name[128];
	int null;
	uint64_t n[V__MAX], reasons[R__MAX], flows;
	int64_t tx, rx;
	struct htab dests, ports;
	struct grant *grants;
	size_t ngrants;
	struct after *afters;
	size_t nafters;
	uint64_t alerts, alerts_what[4];
	json_t *alert_list;
	struct bh_tunix *unix_socks;	/* decisions on UNIX socket names */
};

struct bh_tsum {
	struct bh_tsum_opts o;
	struct tpart *parts;
	size_t nparts;
	int64_t first, last, last_any;
	uint64_t events;
	json_t *gaps, *changes, *gap_totals;
	uint64_t ngaps, nchanges;
	int oom;
};

int bh_tsum_new(struct bh_tsum **s, const struct bh_tsum_opts *o)
{
	*s = calloc(1, sizeof(**s));
	if (!*s)
		return -ENOMEM;
	(*s)->o = *o;
	(*s)->gaps = json_array();
	(*s)->changes = json_array();
	(*s)->gap_totals = json_object();
	if (!(*s)->gaps || !(*s)->changes || !(*s)->gap_totals) {
		bh_tsum_free(*s);
		*s = NULL;
		return -ENOMEM;
	}
	return 0;
}

static struct tpart *part_of(struct bh_tsum *s, const struct bh_tev *ev)
{
	char name[128];
	struct tpart *np;
	size_t i;

	bh_tstr_get(&ev->partner, name, sizeof(name));
	for (i = 0; i < s->nparts; i++) {
		if (s->parts[i].null == !ev->partner.p && !strcmp(s->parts[i].name, name))
			return &s->parts[i];
	}
	np = realloc(s->parts, (s->nparts + 1) * sizeof(*np));
	if (!np) {
		s->oom = 1;
		return NULL;
	}
	s->parts = np;
	np = &s->parts[s->nparts++];
	memset(np, 0, sizeof(*np));
	snprintf(np->name, sizeof(np->name), "%s", name);
	np->null = !ev->partner.p;
	np->alert_list = json_array();
	return np;
}

static int vidx(const struct bh_tev *ev)
{
	int i;

	for (i = 0; i < V__MAX; i++) {
		if (bh_tstr_eq(&ev->verdict, vnames[i]))
			return i;
	}
	return -1;
}

static size_t ridx(const struct bh_tev *ev)
{
	size_t i;

	for (i = 0; i + 1 < R__MAX; i++) {
		if (bh_tstr_eq(&ev->reason, rnames[i]))
			return i;
	}
	return R__MAX - 1;
}

static void span(int64_t *first, int64_t *last, int64_t ts)
{
	if (!*first || ts < *first)
		*first = ts;
	if (ts > *last)
		*last = ts;
}

/* ------------------------------------------------------------ grants */

static struct grant *grant_get(struct bh_tsum *s, struct tpart *p, const char *id)
{
	struct grant *ng;
	size_t i;

	for (i = 0; i < p->ngrants; i++) {
		if (!strcmp(p->grants[i].id, id))
			return &p->grants[i];
	}
	ng = realloc(p->grants, (p->ngrants + 1) * sizeof(*ng));
	if (!ng) {
		s->oom = 1;
		return NULL;
	}
	p->grants = ng;
	ng = &p->grants[p->ngrants++];
	memset(ng, 0, sizeof(*ng));
	snprintf(ng->id, sizeof(ng->id), "%s", id);
	snprintf(ng->source, sizeof(ng->source), "%s", strstr(id, "/j") ? "jit" : "policy");
	return ng;
}

static void copy_str(char *dst, size_t len, const json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	if (v)
		snprintf(dst, len, "%s", v);
}

/* The grant's to/proto/ports/purpose/source/expires from a policy line's
 * grant object (or an element of `revoked`). */
static void grant_fill(struct grant *g, const json_t *o)
{
	const json_t *ports = json_object_get(o, "ports"), *e;
	const char *exp = json_string_value(json_object_get(o, "expires"));
	size_t i, n = 0;

	copy_str(g->to, sizeof(g->to), o, "to");
	copy_str(g->proto, sizeof(g->proto), o, "proto");
	copy_str(g->purpose, sizeof(g->purpose), o, "purpose");
	copy_str(g->source, sizeof(g->source), o, "source");
	if (json_is_array(ports)) {
		g->ports[0] = '\0';
		json_array_foreach(ports, i, e) {
			if (json_is_string(e) && n < sizeof(g->ports))
				n += (size_t)snprintf(g->ports + n, sizeof(g->ports) - n, "%s%s",
						      i ? "," : "", json_string_value(e));
		}
	}
	if (exp)
		bh_ts_parse(exp, strlen(exp), &g->expires);
}

static void after_ports(struct after *a, const char *list)
{
	char buf[160], *save = NULL, *tok;

	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, ",", &save); tok && a->nports < MAX_GRANT_PORTS;
	     tok = strtok_r(NULL, ",", &save)) {
		char *dash = strchr(tok, '-');
		long lo = strtol(tok, NULL, 10), hi = dash ? strtol(dash + 1, NULL, 10) : lo;

		a->ports[a->nports++] = (struct bh_port_range){ (uint16_t)lo, (uint16_t)hi };
	}
}

static void after_add(struct bh_tsum *s, struct tpart *p, struct grant *g, const char *kind,
		      int64_t ts)
{
	struct after *na = realloc(p->afters, (p->nafters + 1) * sizeof(*na));
	char why[BH_TWHY_LEN];

	if (!na) {
		s->oom = 1;
		return;
	}
	p->afters = na;
	na = &p->afters[p->nafters++];
	memset(na, 0, sizeof(*na));
	na->grant = (size_t)(g - p->grants);
	na->kind = kind;
	na->ts = ts;
	na->has_pf = g->to[0] && !bh_tprefix_parse(g->to, &na->pf, why);
	snprintf(na->proto, sizeof(na->proto), "%s", g->proto[0] ? g->proto : "any");
	after_ports(na, g->ports);
}

static void on_grant(struct bh_tsum *s, struct tpart *p, const json_t *o, int64_t ts)
{
	const json_t *go = json_object_get(o, "grant");
	const char *id = json_string_value(json_object_get(go, "id"));
	struct grant *g;

	if (!id || !(g = grant_get(s, p, id)))
		return;
	grant_fill(g, go);
	g->granted = ts;
	json_decref(g->granted_by);
	g->granted_by = json_deep_copy(json_object_get(o, "caller"));
	if (g->expires)
		after_add(s, p, g, "expiry", g->expires);
}

static void on_revoke(struct bh_tsum *s, struct tpart *p, const json_t *o, int64_t ts)
{
	const json_t *arr = json_object_get(o, "revoked"), *e;
	size_t i, j;

	json_array_foreach(arr, i, e) {
		const char *id = json_string_value(json_object_get(e, "id"));
		struct grant *g;

		if (!id || !(g = grant_get(s, p, id)))
			continue;
		grant_fill(g, e);
		g->revoked = ts;
		json_decref(g->revoked_by);
		g->revoked_by = json_deep_copy(json_object_get(o, "caller"));
		for (j = 0; j < p->nafters; j++) {
			if (p->afters[j].grant == (size_t)(g - p->grants) && p->afters[j].ts > ts)
				p->afters[j].dead = 1;	/* revoked before it could expire */
		}
		after_add(s, p, g, "revoke", ts);
	}
}

static void on_removed(struct bh_tsum *s, const json_t *o, int64_t ts)
{
	const json_t *arr = json_object_get(o, "grants"), *e;
	size_t i, j;

	json_array_foreach(arr, i, e) {
		const char *pn = json_string_value(json_object_get(e, "partner"));
		char id[96];

		if (!pn)
			continue;
		snprintf(id, sizeof(id), "%s/j%lld", pn,
			 (long long)json_integer_value(json_object_get(e, "seq")));
		for (j = 0; j < s->nparts; j++) {
			struct tpart *p = &s->parts[j];
			size_t k;

			for (k = 0; !p->null && !strcmp(p->name, pn) && k < p->ngrants; k++) {
				if (!strcmp(p->grants[k].id, id))
					p->grants[k].removed = ts;
			}
		}
	}
}

static void add_change(struct bh_tsum *s, json_t *o, const char *action)
{
	json_t *c;

	if (s->nchanges++ >= MAX_CHANGES)
		return;
	c = json_pack("{s:O?, s:s, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?}", "ts",
		      json_object_get(o, "ts"), "action", action, "caller",
		      json_object_get(o, "caller"), "file", json_object_get(o, "file"), "result",
		      json_object_get(o, "result"), "cause", json_object_get(o, "cause"), "count",
		      json_object_get(o, "count"), "errors", json_object_get(o, "errors"));
	if (c)
		json_array_append_new(s->changes, c);
}

void bh_tsum_policy(struct bh_tsum *s, const struct bh_tev *ev)
{
	json_t *o = json_loadb(ev->line, ev->len, 0, NULL);
	const char *action = json_string_value(json_object_get(o, "action"));
	struct tpart *p = ev->partner.p ? part_of(s, ev) : NULL;
	int inw = (!s->o.since_us || ev->ts_us >= s->o.since_us) &&
		  (!s->o.until_us || ev->ts_us <= s->o.until_us);

	if (ev->ts_us > s->last_any)
		s->last_any = ev->ts_us;
	if (!o || !action) {
		json_decref(o);
		return;
	}
	if (p && !strcmp(action, "grant"))
		on_grant(s, p, o, ev->ts_us);
	else if (p && !strcmp(action, "revoke"))
		on_revoke(s, p, o, ev->ts_us);
	else if (!strcmp(action, "expired-removed"))
		on_removed(s, o, ev->ts_us);
	else if (inw)
		add_change(s, o, action);
	json_decref(o);
}

/* ------------------------------------------------------------ events */

static int covers(const struct after *a, const struct bh_tev *ev, const uint8_t addr[16])
{
	size_t i;

	if (!a->has_pf || !bh_prefix_has(&a->pf, addr))
		return 0;
	if (strcmp(a->proto, "any") && !bh_tstr_eq(&ev->proto, a->proto))
		return 0;
	if (!a->nports)
		return 1;
	for (i = 0; i < a->nports; i++) {
		if (ev->dport >= a->ports[i].lo && ev->dport <= a->ports[i].hi)
			return 1;
	}
	return 0;
}

/* An attempt after a revocation or expiry of a grant that covered it. */
static int after_note(struct bh_tsum *s, struct tpart *p, const struct bh_tev *ev, int v)
{
	char key[160], dst[64], proto[8];
	int found = 0, fresh;
	uint8_t addr[16];
	size_t i;

	if (!p->nafters || bh_taddr(&ev->dst, addr))
		return 0;
	bh_tstr_get(&ev->dst, dst, sizeof(dst));
	bh_tstr_get(&ev->proto, proto, sizeof(proto));
	for (i = 0; i < p->nafters; i++) {
		struct after *a = &p->afters[i];
		struct attempt *t;
		uint64_t n = ev->count > 0 ? (uint64_t)ev->count : 1;

		if (a->dead || ev->ts_us < a->ts || !covers(a, ev, addr))
			continue;
		snprintf(key, sizeof(key), "%s|%lld|%s|%s", dst, (long long)ev->dport, proto,
			 vnames[v]);
		t = ht_get(&a->att, key, strlen(key), sizeof(*t), &fresh);
		if (!t) {
			s->oom = 1;
			return found;
		}
		if (fresh) {
			snprintf(t->dst, sizeof(t->dst), "%s", dst);
			snprintf(t->proto, sizeof(t->proto), "%s", proto);
			snprintf(t->verdict, sizeof(t->verdict), "%s", vnames[v]);
			t->port = ev->dport;
		}
		t->count += n;
		a->total += n;
		span(&t->first, &t->last, ev->ts_us);
		found = 1;
	}
	return found;
}

/* "dst|port|proto" without printf (this runs for every event); key holds
 * at least 64 + 24 + 8 bytes. */
#define PORT_KEY_LEN (64 + 24 + 8)
static size_t port_key(char *key, const char *dst, int64_t port, const char *proto)
{
	size_t n = strnlen(dst, 63), pl = strnlen(proto, 7), d;
	uint64_t u = port < 0 ? 0 : (uint64_t)port;
	char num[24];
	int i = 23;

	num[i] = '\0';
	do
		num[--i] = (char)('0' + u % 10);
	while ((u /= 10) && i > 1);
	if (port < 0)
		num[--i] = '-';
	d = (size_t)(23 - i);
	memcpy(key, dst, n);
	key[n++] = '|';
	memcpy(key + n, num + i, d);
	n += d;
	key[n++] = '|';
	memcpy(key + n, proto, pl);
	key[n + pl] = '\0';
	return n + pl;
}

static void add_dest(struct bh_tsum *s, struct tpart *p, const struct bh_tev *ev, int v)
{
	char key[PORT_KEY_LEN], dst[64], proto[8];
	size_t klen;
	uint64_t n = ev->count > 0 ? (uint64_t)ev->count : 1;
	struct dest *d;
	struct dport *dp;
	int fresh;

	if (!ev->dst.p)
		return;
	bh_tstr_get(&ev->dst, dst, sizeof(dst));
	d = ht_get(&p->dests, dst, strlen(dst), sizeof(*d), &fresh);
	if (!d) {
		s->oom = 1;
		return;
	}
	if (fresh)
		snprintf(d->addr, sizeof(d->addr), "%s", dst);
	span(&d->first, &d->last, ev->ts_us);
	if (v < 0) {		/* a flow summary: bytes only */
		d->tx += ev->tx_bytes > 0 ? ev->tx_bytes : 0;
		d->rx += ev->rx_bytes > 0 ? ev->rx_bytes : 0;
		return;
	}
	d->n[v] += n;
	if (v == V_DENY && (bh_tstr_eq(&ev->reason, "revoked") || after_note(s, p, ev, v)))
		d->after += n;
	else if (v != V_DENY)
		after_note(s, p, ev, v);
	bh_tstr_get(&ev->proto, proto, sizeof(proto));
	klen = port_key(key, dst, ev->dport, proto);
	dp = ht_get(&p->ports, key, klen, sizeof(*dp), &fresh);
	if (!dp) {
		s->oom = 1;
		return;
	}
	if (fresh) {
		dp->d = d;
		dp->port = ev->dport;
		snprintf(dp->proto, sizeof(dp->proto), "%s", proto);
	}
	dp->n[v] += n;
	span(&dp->first, &dp->last, ev->ts_us);
}

static void add_alert(struct tpart *p, const struct bh_tev *ev)
{
	static const char *const what[] = { "never", "unknown_partner", "revoked" };
	char w[32], dst[64];
	size_t i;

	p->alerts++;
	for (i = 0; i < 3 && !bh_tstr_eq(&ev->what, what[i]); i++)
		;
	p->alerts_what[i]++;
	if (json_array_size(p->alert_list) >= MAX_ALERTS_LISTED)
		return;
	json_array_append_new(p->alert_list,
			      json_pack("{s:s, s:s, s:s, s:I, s:I}", "ts",
					bh_tstr_get(&ev->ts, (char[40]){ 0 }, 40), "what",
					bh_tstr_get(&ev->what, w, sizeof(w)), "dst",
					bh_tstr_get(&ev->dst, dst, sizeof(dst)), "dport",
					(json_int_t)ev->dport, "count", (json_int_t)ev->count));
}

static void add_gap(struct bh_tsum *s, const struct bh_tev *ev)
{
	char what[32], ts[40], partner[128];
	json_t *g, *tot;

	bh_tstr_get(&ev->what, what, sizeof(what));
	tot = json_object_get(s->gap_totals, what);
	json_object_set_new(s->gap_totals, what,
			    json_integer(json_integer_value(tot) + (ev->count > 0 ? ev->count : 0)));
	if (s->ngaps++ >= MAX_GAPS)
		return;
	g = json_pack("{s:s, s:s, s:I}", "ts", bh_tstr_get(&ev->ts, ts, sizeof(ts)), "what", what,
		      "count", (json_int_t)ev->count);
	if (g && ev->partner.p)
		json_object_set_new(g, "partner",
				    json_string(bh_tstr_get(&ev->partner, partner, sizeof(partner))));
	if (g)
		json_array_append_new(s->gaps, g);
}

void bh_tsum_add(struct bh_tsum *s, const struct bh_tev *ev)
{
	struct tpart *p;
	int v;

	s->events++;
	span(&s->first, &s->last, ev->ts_us);
	if (ev->ts_us > s->last_any)
		s->last_any = ev->ts_us;
	if (ev->type == BH_T_LOSS) {
		add_gap(s, ev);
		return;
	}
	if (ev->type == BH_T_POLICY || ev->type == BH_T_LIFECYCLE ||
	    (!ev->partner.p && !ev->partner.null))
		return;
	p = part_of(s, ev);
	if (!p)
		return;
	if (ev->type == BH_T_ALERT) {
		add_alert(p, ev);
		return;
	}
	if (ev->type == BH_T_FLOW && bh_tstr_eq(&ev->phase, "summary")) {
		p->tx += ev->tx_bytes > 0 ? ev->tx_bytes : 0;
		p->rx += ev->rx_bytes > 0 ? ev->rx_bytes : 0;
		add_dest(s, p, ev, -1);
		return;
	}
	v = vidx(ev);
	if (v < 0)
		return;
	if (ev->path.p && ev->type != BH_T_FLOW) {	/* a UNIX socket name: counted apart */
		if (bh_tunix_add(&p->unix_socks, ev, v, ev->count > 0 ? (uint64_t)ev->count : 1))
			s->oom = 1;
		return;
	}
	if (ev->type == BH_T_FLOW) {
		char id[96];
		struct grant *g;

		p->flows++;
		if (ev->grant_id.p && (g = grant_get(s, p, bh_tstr_get(&ev->grant_id, id, sizeof(id))))) {
			g->used++;
			span(&g->first_use, &g->last_use, ev->ts_us);
		}
	}
	p->n[v] += ev->count > 0 ? (uint64_t)ev->count : 1;
	if (ev->type != BH_T_FLOW)
		p->reasons[ridx(ev)] += ev->count > 0 ? (uint64_t)ev->count : 1;
	add_dest(s, p, ev, v);
}

/* ------------------------------------------------------------ the report */

json_t *bh_tsum_ts_json(int64_t us)
{
	char buf[40];
	time_t secs = (time_t)(us / 1000000);
	struct tm tm;

	if (!us)
		return json_null();
	gmtime_r(&secs, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), ".%06lldZ",
		 (long long)(us % 1000000));
	return json_string(buf);
}

json_t *bh_tsum_counts_json(const uint64_t *n)
{
	return json_pack("{s:I, s:I, s:I}", "allow", (json_int_t)n[V_ALLOW], "deny",
			 (json_int_t)n[V_DENY], "audit", (json_int_t)n[V_AUDIT]);
}

static int dest_cmp(const void *a, const void *b)
{
	const struct dest *x = *(struct dest *const *)a, *y = *(struct dest *const *)b;

	return x->first < y->first ? -1 : x->first > y->first ? 1 : strcmp(x->addr, y->addr);
}

static int dport_cmp(const void *a, const void *b)
{
	const struct dport *x = *(struct dport *const *)a, *y = *(struct dport *const *)b;
	int c = strcmp(x->d->addr, y->d->addr);

	if (c)
		return c;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	return strcmp(x->proto, y->proto);
}

/* The values of a table, sorted. */
static void **ht_values(const struct htab *t, int (*cmp)(const void *, const void *))
{
	void **v = calloc(t->n + 1, sizeof(*v));
	size_t i, n = 0;

	if (!v)
		return NULL;
	for (i = 0; i < t->cap; i++) {
		if (t->e[i].h)
			v[n++] = t->e[i].val;
	}
	qsort(v, n, sizeof(*v), cmp);
	return v;
}

static json_t *port_json(const struct dport *dp)
{
	json_t *o = json_pack("{s:s, s:o, s:o, s:o}", "proto", dp->proto, "counts",
			      bh_tsum_counts_json(dp->n), "first", bh_tsum_ts_json(dp->first), "last",
			      bh_tsum_ts_json(dp->last));

	if (o && dp->port >= 0)
		json_object_set_new(o, "port", json_integer(dp->port));
	return o;
}

/* destinations (with their ports) and lateral (denied, by destination and port) */
static int dests_json(struct tpart *p, json_t *po)
{
	struct dest **d = (struct dest **)ht_values(&p->dests, dest_cmp);
	struct dport **dp = (struct dport **)ht_values(&p->ports, dport_cmp);
	json_t *dests = json_array(), *lateral = json_array();
	size_t i;

	if (!d || !dp || !dests || !lateral)
		goto oom;
	for (i = 0; i < p->dests.n; i++)
		d[i]->ports = json_array();
	for (i = 0; i < p->ports.n; i++) {
		json_t *pj = port_json(dp[i]);

		json_array_append_new(dp[i]->d->ports, pj);
		if (dp[i]->n[V_DENY]) {
			json_t *l = json_pack("{s:s, s:s, s:I, s:o, s:o}", "dst", dp[i]->d->addr,
					      "proto", dp[i]->proto, "count",
					      (json_int_t)dp[i]->n[V_DENY], "first",
					      bh_tsum_ts_json(dp[i]->first), "last", bh_tsum_ts_json(dp[i]->last));

			if (l && dp[i]->port >= 0)
				json_object_set_new(l, "dport", json_integer(dp[i]->port));
			json_array_append_new(lateral, l);
		}
	}
	for (i = 0; i < p->dests.n; i++) {
		json_array_append_new(dests, json_pack("{s:s, s:o, s:o, s:o, s:I, s:I, s:I, s:o}",
			"dst", d[i]->addr, "first", bh_tsum_ts_json(d[i]->first), "last",
			bh_tsum_ts_json(d[i]->last), "counts", bh_tsum_counts_json(d[i]->n),
			"denied_after_revocation", (json_int_t)d[i]->after, "tx_bytes",
			(json_int_t)d[i]->tx, "rx_bytes", (json_int_t)d[i]->rx, "ports",
			d[i]->ports));
		d[i]->ports = NULL;
	}
	free(d);
	free(dp);
	json_object_set_new(po, "destinations", dests);
	json_object_set_new(po, "lateral", lateral);
	return 0;
oom:
	free(d);
	free(dp);
	json_decref(dests);
	json_decref(lateral);
	return -ENOMEM;
}

static json_t *grant_json(const struct grant *g)
{
	json_t *o = json_pack("{s:s, s:s, s:o, s:O?, s:o, s:o, s:O?, s:o, s:I, s:o, s:o}",
			      "id", g->id, "source", g->source, "granted", bh_tsum_ts_json(g->granted),
			      "granted_by", g->granted_by, "expires", bh_tsum_ts_json(g->expires),
			      "revoked", bh_tsum_ts_json(g->revoked), "revoked_by", g->revoked_by,
			      "removed", bh_tsum_ts_json(g->removed), "used", (json_int_t)g->used,
			      "first_use", bh_tsum_ts_json(g->first_use), "last_use", bh_tsum_ts_json(g->last_use));

	if (!o)
		return NULL;
	if (g->to[0])
		json_object_set_new(o, "to", json_string(g->to));
	if (g->proto[0])
		json_object_set_new(o, "proto", json_string(g->proto));
	if (g->ports[0])
		json_object_set_new(o, "ports", json_string(g->ports));
	if (g->purpose[0])
		json_object_set_new(o, "purpose", json_string(g->purpose));
	return o;
}

static int attempt_cmp(const void *a, const void *b)
{
	const struct attempt *x = *(struct attempt *const *)a, *y = *(struct attempt *const *)b;

	return x->first < y->first ? -1 : x->first > y->first;
}

static json_t *after_json(const struct tpart *p, const struct after *a)
{
	const struct grant *g = &p->grants[a->grant];
	struct attempt **t = (struct attempt **)ht_values(&a->att, attempt_cmp);
	json_t *arr = json_array(), *o;
	size_t i;

	for (i = 0; t && i < a->att.n; i++) {
		json_t *e = json_pack("{s:s, s:s, s:s, s:I, s:o, s:o}", "dst", t[i]->dst, "proto",
				      t[i]->proto, "verdict", t[i]->verdict, "count",
				      (json_int_t)t[i]->count, "first", bh_tsum_ts_json(t[i]->first),
				      "last", bh_tsum_ts_json(t[i]->last));

		if (e && t[i]->port >= 0)
			json_object_set_new(e, "dport", json_integer(t[i]->port));
		json_array_append_new(arr, e);
	}
	free(t);
	o = json_pack("{s:s, s:s, s:o, s:O?, s:I, s:o}", "grant", g->id, "kind", a->kind, "ts",
		      bh_tsum_ts_json(a->ts), "by", !strcmp(a->kind, "revoke") ? g->revoked_by : NULL,
		      "attempts_total", (json_int_t)a->total, "attempts", arr);
	if (o && g->to[0])
		json_object_set_new(o, "to", json_string(g->to));
	return o;
}

static int in_force(const struct bh_tsum *s, const struct grant *g)
{
	int64_t end_of_life = g->revoked ? g->revoked : g->expires;

	if (s->o.until_us && g->granted > s->o.until_us)
		return 0;
	return !(s->o.since_us && end_of_life && end_of_life < s->o.since_us);
}

static json_t *part_json(struct bh_tsum *s, struct tpart *p)
{
	int64_t end = s->o.until_us ? s->o.until_us : s->last_any;
	json_t *o, *grants = json_array(), *afters = json_array(), *reasons = json_object();
	size_t i;

	for (i = 0; i < p->ngrants; i++) {
		if (in_force(s, &p->grants[i]))
			json_array_append_new(grants, grant_json(&p->grants[i]));
	}
	for (i = 0; i < p->nafters; i++) {
		const struct after *a = &p->afters[i];

		if (!a->dead && a->ts <= end && (!s->o.since_us || a->ts >= s->o.since_us ||
						 a->total))
			json_array_append_new(afters, after_json(p, a));
	}
	for (i = 0; i < R__MAX; i++) {
		if (p->reasons[i])
			json_object_set_new(reasons, rnames[i], json_integer((json_int_t)p->reasons[i]));
	}
	o = json_pack("{s:o, s:o, s:o, s:I, s:I, s:I, s:o, s:o, s:{s:I, s:I, s:I, s:I, s:I, s:O}}",
		      "partner", p->null ? json_null() : json_string(p->name), "verdicts",
		      bh_tsum_counts_json(p->n), "reasons", reasons, "flows", (json_int_t)p->flows,
		      "tx_bytes", (json_int_t)p->tx, "rx_bytes", (json_int_t)p->rx, "grants", grants,
		      "after_revocation", afters, "alerts", "total", (json_int_t)p->alerts, "never",
		      (json_int_t)p->alerts_what[0], "unknown_partner",
		      (json_int_t)p->alerts_what[1], "revoked", (json_int_t)p->alerts_what[2],
		      "other", (json_int_t)p->alerts_what[3], "first", p->alert_list);
	if (o && json_object_set_new(o, "unix", bh_tunix_json(p->unix_socks)))
		s->oom = 1;
	if (!o || dests_json(p, o)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *bad_json(const struct bh_tbad_stats *b)
{
	static const char *const keys[BH_BAD__MAX] = { "not_json", "missing_field", "unknown_type",
						       "newer_version", "torn", "too_long", "gzip" };
	json_t *o = json_object(), *by = json_object(), *first = json_array();
	size_t i;

	for (i = 0; i < BH_BAD__MAX; i++)
		json_object_set_new(by, keys[i], json_integer((json_int_t)b->n[i]));
	for (i = 0; i < b->nkept; i++)
		json_array_append_new(first, json_pack("{s:s, s:s}", "where", b->kept[i].where,
						       "why", bh_tbad_name(b->kept[i].kind)));
	json_object_set_new(o, "total", json_integer((json_int_t)b->total));
	json_object_set_new(o, "by_kind", by);
	json_object_set_new(o, "first", first);
	return o;
}

json_t *bh_tsum_json(struct bh_tsum *s, uint64_t lines, const struct bh_tbad_stats *bad)
{
	json_t *root, *parts = json_array();
	size_t i;

	for (i = 0; parts && i < s->nparts; i++) {
		json_t *p = part_json(s, &s->parts[i]);

		if (!p || json_array_append_new(parts, p)) {
			json_decref(parts);
			return NULL;
		}
	}
	root = json_pack("{s:{s:o, s:o, s:o, s:o}, s:I, s:I, s:o, s:o, s:O, s:I, s:O, s:I, s:o}",
			 "window", "since", bh_tsum_ts_json(s->o.since_us), "until", bh_tsum_ts_json(s->o.until_us),
			 "first", bh_tsum_ts_json(s->first), "last", bh_tsum_ts_json(s->last), "lines",
			 (json_int_t)lines, "events", (json_int_t)s->events, "skipped",
			 bad_json(bad), "partners", parts, "gaps", s->gaps, "gaps_total",
			 (json_int_t)s->ngaps, "policy_changes", s->changes, "policy_changes_total",
			 (json_int_t)s->nchanges, "gap_counts", json_deep_copy(s->gap_totals));
	if (root && s->oom)
		json_object_set_new(root, "incomplete", json_string("out of memory while counting"));
	return root;
}

void bh_tsum_free(struct bh_tsum *s)
{
	size_t i, j;

	if (!s)
		return;
	for (i = 0; i < s->nparts; i++) {
		struct tpart *p = &s->parts[i];

		ht_free(&p->dests);
		ht_free(&p->ports);
		for (j = 0; j < p->ngrants; j++) {
			json_decref(p->grants[j].granted_by);
			json_decref(p->grants[j].revoked_by);
		}
		for (j = 0; j < p->nafters; j++)
			ht_free(&p->afters[j].att);
		free(p->grants);
		free(p->afters);
		json_decref(p->alert_list);
		bh_tunix_free(p->unix_socks);
	}
	free(s->parts);
	json_decref(s->gaps);
	json_decref(s->changes);
	json_decref(s->gap_totals);
	free(s);
}

/* ------------------------------------------------------------ text */

static const char *js(const json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v ? v : "-";
}

static long long ji(const json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

static const char *caller_text(const json_t *c, char *buf, size_t len)
{
	if (!c || json_is_null(c))
		return "-";
	if (json_object_get(c, "by"))
		snprintf(buf, len, "the daemon");
	else
		snprintf(buf, len, "uid %lld pid %lld (%s)", ji(c, "uid"), ji(c, "pid"), js(c, "comm"));
	return buf;
}

static void text_grants(const json_t *p, FILE *out)
{
	const json_t *g;
	size_t i;
	char b1[96], b2[96];

	fprintf(out, "  Grants in force over the window:\n");
	json_array_foreach(json_object_get(p, "grants"), i, g) {
		if (json_object_get(g, "to"))
			fprintf(out, "    %-10s %s %s %s%s%s%s (%s)\n", js(g, "id"), js(g, "to"),
				js(g, "proto"), js(g, "ports"),
				json_object_get(g, "purpose") ? " \"" : "",
				json_object_get(g, "purpose") ? js(g, "purpose") : "",
				json_object_get(g, "purpose") ? "\"" : "", js(g, "source"));
		else
			fprintf(out, "    %-10s (%s; its rule is in the policy file, not in the logs)\n",
				js(g, "id"), js(g, "source"));
		if (!json_is_null(json_object_get(g, "granted")))
			fprintf(out, "               granted %s by %s\n", js(g, "granted"),
				caller_text(json_object_get(g, "granted_by"), b1, sizeof(b1)));
		if (!json_is_null(json_object_get(g, "expires")))
			fprintf(out, "               expires %s\n", js(g, "expires"));
		if (!json_is_null(json_object_get(g, "revoked")))
			fprintf(out, "               REVOKED %s by %s\n", js(g, "revoked"),
				caller_text(json_object_get(g, "revoked_by"), b2, sizeof(b2)));
		fprintf(out, "               used by %lld flows\n", ji(g, "used"));
	}
	if (!i)
		fprintf(out, "    (none seen)\n");
}

/* One line per (destination, protocol): its ports as ranges, wrapped. */
static void text_lateral(const json_t *lat, FILE *out)
{
	size_t i = 0, n = json_array_size(lat);

	if (!n)
		fprintf(out, "    (none)\n");
	while (i < n) {
		const json_t *l = json_array_get(lat, i);
		const char *dst = js(l, "dst"), *proto = js(l, "proto");
		long long total = 0;
		int col = fprintf(out, "    %s %s:", dst, proto);

		while (i < n) {
			const json_t *a = json_array_get(lat, i);
			long long lo = ji(a, "dport"), hi = lo;
			char r[32];

			if (strcmp(js(a, "dst"), dst) || strcmp(js(a, "proto"), proto))
				break;
			total += ji(a, "count");
			while (i + 1 < n && json_object_get(a, "dport") &&
			       !strcmp(js(json_array_get(lat, i + 1), "dst"), dst) &&
			       !strcmp(js(json_array_get(lat, i + 1), "proto"), proto) &&
			       ji(json_array_get(lat, i + 1), "dport") == hi + 1) {
				total += ji(json_array_get(lat, ++i), "count");
				hi++;
			}
			i++;
			if (!json_object_get(a, "dport"))
				r[0] = '\0';
			else if (lo == hi)
				snprintf(r, sizeof(r), " %lld", lo);
			else
				snprintf(r, sizeof(r), " %lld-%lld", lo, hi);
			if (col + (int)strlen(r) > 76)
				col = fprintf(out, "\n       ") - 1;
			col += fprintf(out, "%s", r);
		}
		fprintf(out, "; %lld\n", total);
	}
}

static void text_dests(const json_t *p, FILE *out)
{
	const json_t *d;
	size_t i;

	fprintf(out, "  Destinations (first, last; allowed flows/denied/audited; bytes tx/rx):\n");
	json_array_foreach(json_object_get(p, "destinations"), i, d) {
		const json_t *c = json_object_get(d, "counts");

		fprintf(out, "    %-16s %.23s .. %.12s  %lld/%lld/%lld  %lld/%lld\n", js(d, "dst"),
			js(d, "first"), js(d, "last") + 11, ji(c, "allow"), ji(c, "deny"),
			ji(c, "audit"), ji(d, "tx_bytes"), ji(d, "rx_bytes"));
	}
	fprintf(out, "  Denied lateral attempts (destination, protocol: ports; attempts):\n");
	text_lateral(json_object_get(p, "lateral"), out);
}

static void text_after(const json_t *p, FILE *out)
{
	const json_t *a, *t;
	size_t i, j;
	char b[96];

	json_array_foreach(json_object_get(p, "after_revocation"), i, a) {
		fprintf(out, "  After the %s of %s (%s) at %s\n    by %s: %lld attempts\n",
			js(a, "kind"), js(a, "grant"), js(a, "to"), js(a, "ts"),
			caller_text(json_object_get(a, "by"), b, sizeof(b)), ji(a, "attempts_total"));
		json_array_foreach(json_object_get(a, "attempts"), j, t) {
			fprintf(out, "    %s %s:%lld/%s x%lld, %.26s .. %.15s\n", js(t, "verdict"),
				js(t, "dst"), ji(t, "dport"), js(t, "proto"), ji(t, "count"),
				js(t, "first"), js(t, "last") + 11);
		}
	}
}

int bh_tsum_text(const json_t *sum, FILE *out)
{
	const json_t *w = json_object_get(sum, "window"), *p, *g, *sk;
	size_t i;
	char b[96];

	fprintf(out, "Window: %s .. %s (events %s .. %s)\n", js(w, "since"), js(w, "until"),
		js(w, "first"), js(w, "last"));
	fprintf(out, "Lines read: %lld, events in the report: %lld\n", ji(sum, "lines"),
		ji(sum, "events"));
	json_array_foreach(json_object_get(sum, "partners"), i, p) {
		const json_t *v = json_object_get(p, "verdicts"), *al = json_object_get(p, "alerts");

		fprintf(out, "\nPartner %s\n", json_is_null(json_object_get(p, "partner")) ?
			"(none: unattributed sockets)" : js(p, "partner"));
		fprintf(out, "  allowed flows %lld, denied %lld, audited %lld; bytes tx %lld rx %lld\n",
			ji(v, "allow"), ji(v, "deny"), ji(v, "audit"), ji(p, "tx_bytes"),
			ji(p, "rx_bytes"));
		text_grants(p, out);
		text_dests(p, out);
		bh_tunix_text(p, out);
		text_after(p, out);
		fprintf(out, "  Alerts: %lld (never %lld, unknown_partner %lld, revoked %lld)\n",
			ji(al, "total"), ji(al, "never"), ji(al, "unknown_partner"), ji(al, "revoked"));
	}
	fprintf(out, "\nGaps in the record (loss lines): %lld\n", ji(sum, "gaps_total"));
	json_array_foreach(json_object_get(sum, "gaps"), i, g)
		fprintf(out, "  %s %s: %lld lost\n", js(g, "ts"), js(g, "what"), ji(g, "count"));
	fprintf(out, "Policy changes: %lld\n", ji(sum, "policy_changes_total"));
	json_array_foreach(json_object_get(sum, "policy_changes"), i, g)
		fprintf(out, "  %s %s %s %s by %s\n", js(g, "ts"), js(g, "action"), js(g, "file"),
			js(g, "result"), caller_text(json_object_get(g, "caller"), b, sizeof(b)));
	sk = json_object_get(sum, "skipped");
	fprintf(out, "Skipped lines: %lld\n", ji(sk, "total"));
	json_array_foreach(json_object_get(sk, "first"), i, g)
		fprintf(out, "  %s: %s\n", js(g, "where"), js(g, "why"));
	return ferror(out) ? -EIO : 0;
}
