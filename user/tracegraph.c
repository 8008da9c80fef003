// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `bulkhead trace --html` and `--dot`: the lateral-movement graph of each
 * partner (the partner in the middle, one node per destination or per /N,
 * edges coloured by verdict, width by count, port labels, counts on hover)
 * and, in the HTML, the summary tables and a time strip, all from the
 * summary object of tracesum.c. The HTML is one file with nothing fetched
 * from anywhere: inline CSS, inline SVG, no script (hover uses SVG <title>).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "policy.h"
#include "trace.h"
#include "tracesum.h"

#define W 960
#define H 720
#define MAX_PORT_LABEL 6

enum { E_ALLOW, E_DENY, E_AFTER, E_AUDIT, E__MAX };
static const char *const ecolor[E__MAX] = { "#2e7d32", "#c62828", "#6a1b9a", "#ef8f00" };
static const char *const ename[E__MAX] = { "allowed", "denied", "denied after revocation",
					   "audited" };

struct node {
	char key[72];
	long long n[E__MAX], tx, rx;
	char ports[160];
};

struct graph {
	struct node *v;
	size_t n;
};

static const char *gs(const json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v ? v : "";
}

static long long gi(const json_t *o, const char *k)
{
	return (long long)json_integer_value(json_object_get(o, k));
}

/* The node a destination belongs to: itself, or its /group prefix. */
static void node_key(const char *dst, int group, char *key, size_t len)
{
	struct bh_tstr s = { dst, (uint32_t)strlen(dst), 0, 0 };
	struct bh_prefix pf = { .plen = 128 };
	int v4;
	unsigned int i;

	if (!group || bh_taddr(&s, pf.addr)) {
		snprintf(key, len, "%s", dst);
		return;
	}
	v4 = !strchr(dst, ':');
	pf.plen = (uint8_t)(v4 ? 96 + (group > 32 ? 32 : group) : group);
	for (i = pf.plen; i < 128; i++)
		pf.addr[i / 8] &= (uint8_t)~(0x80 >> (i % 8));
	bh_prefix_str(&pf, key, len);
}

/* A node's ports: gathered while building, then written as ranges. */
struct pp {
	long long port;		/* -1: no port (icmp, other) */
	char proto[8];
};

static int pp_cmp(const void *a, const void *b)
{
	const struct pp *x = a, *y = b;
	int c = strcmp(x->proto, y->proto);

	return c ? c : (x->port > y->port) - (x->port < y->port);
}

/* "tcp 5000-5019 6000-6299, icmp" into nd->ports (cut with "..."). */
static void ports_label(struct node *nd, struct pp *v, size_t n)
{
	size_t i = 0, o = 0, cap = sizeof(nd->ports) - 4;

	qsort(v, n, sizeof(*v), pp_cmp);
	nd->ports[0] = '\0';
	while (i < n && o < cap) {
		size_t j = i;

		o += (size_t)snprintf(nd->ports + o, cap - o, "%s%s", o ? ", " : "", v[i].proto);
		while (j < n && !strcmp(v[j].proto, v[i].proto) && o < cap) {
			size_t k = j;

			while (k + 1 < n && !strcmp(v[k + 1].proto, v[j].proto) &&
			       v[k + 1].port <= v[k].port + 1)
				k++;
			if (v[j].port >= 0 && v[k].port > v[j].port)
				o += (size_t)snprintf(nd->ports + o, cap - o, " %lld-%lld", v[j].port,
						      v[k].port);
			else if (v[j].port >= 0)
				o += (size_t)snprintf(nd->ports + o, cap - o, " %lld", v[j].port);
			j = k + 1;
		}
		i = j;
	}
	if (o >= cap)
		strcpy(nd->ports + cap - 1, "...");
}

static int graph_build(const json_t *part, int group, struct graph *g)
{
	const json_t *dests = json_object_get(part, "destinations"), *d;
	size_t nd_max = json_array_size(dests), i, j, k, np = 0;
	struct pp *pv = NULL;
	size_t *owner = NULL;

	g->v = calloc(nd_max + 1, sizeof(*g->v));
	g->n = 0;
	json_array_foreach(dests, i, d)
		np += json_array_size(json_object_get(d, "ports"));
	pv = calloc(np + 1, sizeof(*pv));
	owner = calloc(np + 1, sizeof(*owner));
	if (!g->v || !pv || !owner) {
		free(g->v);
		free(pv);
		free(owner);
		return -ENOMEM;
	}
	np = 0;
	json_array_foreach(dests, i, d) {
		const json_t *c = json_object_get(d, "counts"), *p;
		char key[72];
		struct node *nd = NULL;
		long long after = gi(d, "denied_after_revocation");

		node_key(gs(d, "dst"), group, key, sizeof(key));
		for (j = 0; j < g->n && !nd; j++)
			nd = strcmp(g->v[j].key, key) ? NULL : &g->v[j];
		if (!nd) {
			nd = &g->v[g->n++];
			snprintf(nd->key, sizeof(nd->key), "%s", key);
		}
		nd->n[E_ALLOW] += gi(c, "allow");
		nd->n[E_DENY] += gi(c, "deny") - after;
		nd->n[E_AFTER] += after;
		nd->n[E_AUDIT] += gi(c, "audit");
		nd->tx += gi(d, "tx_bytes");
		nd->rx += gi(d, "rx_bytes");
		json_array_foreach(json_object_get(d, "ports"), j, p) {
			pv[np].port = json_object_get(p, "port") ? gi(p, "port") : -1;
			snprintf(pv[np].proto, sizeof(pv[np].proto), "%s", gs(p, "proto"));
			owner[np++] = (size_t)(nd - g->v);
		}
	}
	/* each node's ports: gather them in place, then label */
	for (i = 0; i < g->n; i++) {
		size_t m = 0;

		for (k = 0; k < np; k++) {
			if (owner[k] == i) {
				struct pp t = pv[m];
				size_t o = owner[m];

				pv[m] = pv[k];
				owner[m] = owner[k];
				pv[k] = t;
				owner[k] = o;
				m++;
			}
		}
		ports_label(&g->v[i], pv, m);
		memmove(pv, pv + m, (np - m) * sizeof(*pv));
		memmove(owner, owner + m, (np - m) * sizeof(*owner));
		np -= m;
	}
	free(pv);
	free(owner);
	return 0;
}

/* ------------------------------------------------------------ HTML */

static void esc(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '&': fputs("&amp;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default: fputc(*s, f);
		}
	}
}

static double width_of(long long n)
{
	double w = 1.5 + 1.6 * log2(1.0 + (double)n);

	return w > 14 ? 14 : w;
}

static void svg_edges(FILE *f, const struct node *nd, double cx, double cy, double x, double y)
{
	double dx = x - cx, dy = y - cy, l = sqrt(dx * dx + dy * dy), ox, oy;
	int e, k = 0, nk = 0;

	for (e = 0; e < E__MAX; e++)
		nk += nd->n[e] > 0;
	ox = l > 0 ? -dy / l : 0;
	oy = l > 0 ? dx / l : 0;
	for (e = 0; e < E__MAX; e++) {
		double off;

		if (nd->n[e] <= 0)
			continue;
		off = (k++ - (nk - 1) / 2.0) * 7;
		fprintf(f, "<line class=\"edge e%d\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
			"stroke=\"%s\" stroke-width=\"%.1f\"><title>", e, cx + ox * off, cy + oy * off,
			x + ox * off, y + oy * off, ecolor[e], width_of(nd->n[e]));
		esc(f, nd->key);
		fprintf(f, ": %s %lld</title></line>\n", ename[e], nd->n[e]);
	}
	if (nd->ports[0]) {
		fprintf(f, "<text class=\"ports\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">",
			cx + dx * 0.62, cy + dy * 0.62 - 6);
		esc(f, nd->ports);
		fputs("</text>\n", f);
	}
}

static void svg_graph(FILE *f, const char *partner, const struct graph *g)
{
	double cx = W / 2.0, cy = H / 2.0, r = g->n > 12 ? 300 : 240;
	size_t i;

	fprintf(f, "<svg class=\"graph\" width=\"%d\" "
		"height=\"%d\" viewBox=\"0 0 %d %d\">\n", W, H, W, H);
	for (i = 0; i < g->n; i++) {
		double a = 2 * M_PI * (double)i / (double)g->n - M_PI / 2;

		svg_edges(f, &g->v[i], cx, cy, cx + r * cos(a), cy + r * sin(a));
	}
	for (i = 0; i < g->n; i++) {
		const struct node *nd = &g->v[i];
		double a = 2 * M_PI * (double)i / (double)g->n - M_PI / 2;
		double x = cx + r * cos(a), y = cy + r * sin(a);
		const char *fill = nd->n[E_ALLOW] ? "#e8f5e9" : nd->n[E_AFTER] ? "#f3e5f5" : "#ffebee";

		fputs("<g class=\"node\" data-dst=\"", f);
		esc(f, nd->key);
		fprintf(f, "\"><circle cx=\"%.1f\" cy=\"%.1f\" r=\"16\" fill=\"%s\"/>"
			"<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", x, y, fill, x, y + 32);
		esc(f, nd->key);
		fputs("</text><title>", f);
		esc(f, nd->key);
		fprintf(f, "\nallowed flows %lld\ndenied %lld\ndenied after revocation %lld\n"
			"audited %lld\nbytes tx %lld rx %lld\nports: ", nd->n[E_ALLOW], nd->n[E_DENY],
			nd->n[E_AFTER], nd->n[E_AUDIT], nd->tx, nd->rx);
		esc(f, nd->ports);
		fputs("</title></g>\n", f);
	}
	fprintf(f, "<g class=\"partner\"><circle cx=\"%.1f\" cy=\"%.1f\" r=\"30\"/>"
		"<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", cx, cy, cx, cy + 5);
	esc(f, partner);
	fputs("</text></g>\n</svg>\n", f);
}

static int64_t ts_of(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	int64_t us = 0;

	if (s)
		bh_ts_parse(s, strlen(s), &us);
	return us;
}

/* A time strip: destinations' first..last spans, grants, revocations, gaps. */
static void svg_strip(FILE *f, const json_t *sum, const json_t *part)
{
	const json_t *w = json_object_get(sum, "window"), *d, *a, *gp;
	int64_t t0 = ts_of(w, "first"), t1 = ts_of(w, "last");
	size_t i, nd = json_array_size(json_object_get(part, "destinations"));
	int hgt = 40 + 12 * (int)(nd > 60 ? 60 : nd);
	double span = t1 > t0 ? (double)(t1 - t0) : 1;

#define X(t) (150 + ((double)((t) - t0)) / span * (W - 210))
	fprintf(f, "<svg class=\"strip\" width=\"%d\" "
		"height=\"%d\">\n<text x=\"150\" y=\"14\">%s</text><text x=\"%d\" y=\"14\" "
		"text-anchor=\"end\">%s</text>\n", W, hgt, gs(w, "first"), W - 60, gs(w, "last"));
	json_array_foreach(json_object_get(part, "destinations"), i, d) {
		const json_t *c = json_object_get(d, "counts");
		double y = 30 + 12 * (double)i;

		if (i >= 60)
			break;
		fprintf(f, "<text x=\"140\" y=\"%.1f\" text-anchor=\"end\">", y + 4);
		esc(f, gs(d, "dst"));
		fprintf(f, "</text><line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
			"stroke-width=\"6\"><title>", X(ts_of(d, "first")), y,
			X(ts_of(d, "last")) + 2, y, gi(c, "allow") ? ecolor[E_ALLOW] : ecolor[E_DENY]);
		esc(f, gs(d, "dst"));
		fprintf(f, " %s .. %s</title></line>\n", gs(d, "first"), gs(d, "last"));
	}
	json_array_foreach(json_object_get(part, "after_revocation"), i, a) {
		double x = X(ts_of(a, "ts"));

		fprintf(f, "<line x1=\"%.1f\" y1=\"20\" x2=\"%.1f\" y2=\"%d\" stroke=\"%s\" "
			"stroke-dasharray=\"4 3\" stroke-width=\"2\"><title>%s ", x, x, hgt,
			ecolor[E_AFTER], gs(a, "kind"));
		esc(f, gs(a, "grant"));
		fprintf(f, " at %s</title></line>\n", gs(a, "ts"));
	}
	json_array_foreach(json_object_get(sum, "gaps"), i, gp) {
		double x = X(ts_of(gp, "ts"));

		fprintf(f, "<rect x=\"%.1f\" y=\"18\" width=\"3\" height=\"%d\" fill=\"#000\">"
			"<title>gap: %lld %s lost at %s</title></rect>\n", x - 1, hgt - 18,
			gi(gp, "count"), gs(gp, "what"), gs(gp, "ts"));
	}
#undef X
	fputs("</svg>\n", f);
}

static void html_table_dests(FILE *f, const json_t *part)
{
	const json_t *d;
	size_t i;

	fputs("<h3>Destinations</h3><table><tr><th>destination</th><th>first</th><th>last</th>"
	      "<th>allowed flows</th><th>denied</th><th>after revocation</th><th>audited</th>"
	      "<th>tx bytes</th><th>rx bytes</th></tr>\n", f);
	json_array_foreach(json_object_get(part, "destinations"), i, d) {
		const json_t *c = json_object_get(d, "counts");

		fputs("<tr><td>", f);
		esc(f, gs(d, "dst"));
		fprintf(f, "</td><td>%s</td><td>%s</td><td>%lld</td><td>%lld</td><td>%lld</td>"
			"<td>%lld</td><td>%lld</td><td>%lld</td></tr>\n", gs(d, "first"),
			gs(d, "last"), gi(c, "allow"), gi(c, "deny"), gi(d, "denied_after_revocation"),
			gi(c, "audit"), gi(d, "tx_bytes"), gi(d, "rx_bytes"));
	}
	fputs("</table>\n", f);
}

static void caller_cell(FILE *f, const json_t *c)
{
	if (!c || json_is_null(c))
		fputs("-", f);
	else if (json_object_get(c, "by"))
		fputs("daemon", f);
	else {
		fprintf(f, "uid %lld pid %lld ", gi(c, "uid"), gi(c, "pid"));
		esc(f, gs(c, "comm"));
	}
}

static void html_table_grants(FILE *f, const json_t *part)
{
	const json_t *g, *a;
	size_t i;

	fputs("<h3>Grants in force over the window</h3><table><tr><th>id</th><th>to</th>"
	      "<th>proto</th><th>ports</th><th>purpose</th><th>granted</th><th>by</th>"
	      "<th>expires</th><th>revoked</th><th>by</th><th>used</th></tr>\n", f);
	json_array_foreach(json_object_get(part, "grants"), i, g) {
		const char *cols[] = { "id", "to", "proto", "ports", "purpose", "granted" };
		size_t k;

		fputs("<tr>", f);
		for (k = 0; k < 6; k++) {
			fputs("<td>", f);
			esc(f, gs(g, cols[k]));
			fputs("</td>", f);
		}
		fputs("<td>", f);
		caller_cell(f, json_object_get(g, "granted_by"));
		fprintf(f, "</td><td>%s</td><td>%s</td><td>", gs(g, "expires"), gs(g, "revoked"));
		caller_cell(f, json_object_get(g, "revoked_by"));
		fprintf(f, "</td><td>%lld</td></tr>\n", gi(g, "used"));
	}
	fputs("</table>\n<h3>Attempts after revocations and expiries</h3><table><tr><th>grant</th>"
	      "<th>kind</th><th>at</th><th>attempts</th><th>where</th></tr>\n", f);
	json_array_foreach(json_object_get(part, "after_revocation"), i, a) {
		const json_t *t;
		size_t j;

		fputs("<tr><td>", f);
		esc(f, gs(a, "grant"));
		fprintf(f, "</td><td>%s</td><td>%s</td><td>%lld</td><td>", gs(a, "kind"),
			gs(a, "ts"), gi(a, "attempts_total"));
		json_array_foreach(json_object_get(a, "attempts"), j, t) {
			esc(f, gs(t, "dst"));
			fprintf(f, ":%lld/%s %s x%lld<br>", gi(t, "dport"), gs(t, "proto"),
				gs(t, "verdict"), gi(t, "count"));
		}
		fputs("</td></tr>\n", f);
	}
	fputs("</table>\n", f);
}

static void html_gaps(FILE *f, const json_t *sum)
{
	const json_t *g, *sk = json_object_get(sum, "skipped");
	size_t i;

	fprintf(f, "<h2>Gaps in the record</h2><p>%lld loss lines.</p><table><tr><th>time</th>"
		"<th>what</th><th>lost</th></tr>\n", gi(sum, "gaps_total"));
	json_array_foreach(json_object_get(sum, "gaps"), i, g)
		fprintf(f, "<tr><td>%s</td><td>%s</td><td>%lld</td></tr>\n", gs(g, "ts"),
			gs(g, "what"), gi(g, "count"));
	fprintf(f, "</table><h2>Skipped lines</h2><p>%lld lines skipped.</p><ul>\n",
		gi(sk, "total"));
	json_array_foreach(json_object_get(sk, "first"), i, g) {
		fputs("<li>", f);
		esc(f, gs(g, "where"));
		fprintf(f, ": %s</li>\n", gs(g, "why"));
	}
	fputs("</ul>\n", f);
}

static const char css[] =
	"body{font:14px sans-serif;margin:1em 2em;color:#222}"
	"table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;"
	"padding:2px 6px;font-size:12px;text-align:left}"
	"svg text{font:11px sans-serif}.partner circle{fill:#1565c0}.partner text{fill:#fff;"
	"font-weight:bold}.node circle{stroke:#555}.ports{fill:#444;font-size:10px}"
	".legend span{display:inline-block;width:14px;height:6px;margin:0 4px 0 12px}";

int bh_tgraph_html(const json_t *sum, int group, const char *path)
{
	const json_t *part, *w = json_object_get(sum, "window");
	FILE *f = fopen(path, "we");
	size_t i;
	int e;

	if (!f) {
		fprintf(stderr, "bulkhead trace: %s: cannot write: %s\n", path, strerror(errno));
		return -errno;
	}
	fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
		"<title>bulkhead trace</title><style>%s</style></head><body>\n"
		"<h1>bulkhead trace</h1><p>Events %s .. %s; %lld lines read, %lld events.</p>\n",
		css, gs(w, "first"), gs(w, "last"), gi(sum, "lines"), gi(sum, "events"));
	fputs("<p class=\"legend\">", f);
	for (e = 0; e < E__MAX; e++)
		fprintf(f, "<span style=\"background:%s\"></span>%s", ecolor[e], ename[e]);
	fputs("</p>\n", f);
	json_array_foreach(json_object_get(sum, "partners"), i, part) {
		const char *name = json_is_null(json_object_get(part, "partner")) ? "(none)" :
				   gs(part, "partner");
		const json_t *v = json_object_get(part, "verdicts");
		struct graph g;

		fputs("<h2>Partner ", f);
		esc(f, name);
		fprintf(f, "</h2><p>allowed flows %lld, denied %lld, audited %lld, alerts %lld</p>\n",
			gi(v, "allow"), gi(v, "deny"), gi(v, "audit"),
			gi(json_object_get(part, "alerts"), "total"));
		if (graph_build(part, group, &g)) {
			fclose(f);
			return -ENOMEM;
		}
		svg_graph(f, name, &g);
		free(g.v);
		svg_strip(f, sum, part);
		html_table_grants(f, part);
		html_table_dests(f, part);
	}
	html_gaps(f, sum);
	fputs("</body></html>\n", f);
	if (fclose(f)) {
		fprintf(stderr, "bulkhead trace: %s: write failed\n", path);
		return -EIO;
	}
	return 0;
}

/* ------------------------------------------------------------ DOT */

static void dot_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

int bh_tgraph_dot(const json_t *sum, int group, const char *path)
{
	const json_t *part;
	FILE *f = fopen(path, "we");
	size_t i, j;
	int e;

	if (!f) {
		fprintf(stderr, "bulkhead trace: %s: cannot write: %s\n", path, strerror(errno));
		return -errno;
	}
	fputs("digraph bulkhead_trace {\n  layout=neato; overlap=false; node [fontsize=10];\n", f);
	json_array_foreach(json_object_get(sum, "partners"), i, part) {
		const char *name = json_is_null(json_object_get(part, "partner")) ? "(none)" :
				   gs(part, "partner");
		struct graph g;

		if (graph_build(part, group, &g)) {
			fclose(f);
			return -ENOMEM;
		}
		fprintf(f, "  p%zu [shape=box, style=filled, fillcolor=\"#1565c0\", fontcolor=white, "
			"label=", i);
		dot_str(f, name);
		fputs("];\n", f);
		for (j = 0; j < g.n; j++) {
			fprintf(f, "  p%zu_n%zu [label=", i, j);
			dot_str(f, g.v[j].key);
			fprintf(f, ", tooltip=\"allowed %lld, denied %lld, after revocation %lld, "
				"audited %lld\"];\n", g.v[j].n[E_ALLOW], g.v[j].n[E_DENY],
				g.v[j].n[E_AFTER], g.v[j].n[E_AUDIT]);
			for (e = 0; e < E__MAX; e++) {
				if (g.v[j].n[e] <= 0)
					continue;
				fprintf(f, "  p%zu -> p%zu_n%zu [color=\"%s\", penwidth=%.1f, label=", i,
					i, j, ecolor[e], width_of(g.v[j].n[e]) / 2);
				dot_str(f, g.v[j].ports);
				fprintf(f, ", tooltip=\"%s %lld\"];\n", ename[e], g.v[j].n[e]);
			}
		}
		free(g.v);
	}
	fputs("}\n", f);
	if (fclose(f)) {
		fprintf(stderr, "bulkhead trace: %s: write failed\n", path);
		return -EIO;
	}
	return 0;
}
