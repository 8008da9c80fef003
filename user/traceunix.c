// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The UNIX socket part of `bulkhead trace --summary`: per partner, the
 * decisions on UNIX socket names (connect and addressed send, family unix)
 * by verdict and by path. They are kept apart from the IP verdicts because
 * the kernel counts them apart (bh_unix_cnt, `bulkhead status`: `unix`), so
 * each total can be checked against its own counter.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "tracesum.h"

#define MAX_PATHS_LISTED 100
#define NV 3			/* allow, deny, audit */

struct upath {
	char path[128];
	uint64_t n[NV], total;
	int64_t first, last;
};

struct bh_tunix {
	uint64_t n[NV];
	struct upath *paths;
	size_t npaths, cap;
	json_t *index;		/* path -> index in paths */
};

static struct upath *path_of(struct bh_tunix *u, const char *path)
{
	json_t *ix = json_object_get(u->index, path);
	struct upath *np;

	if (ix)
		return &u->paths[json_integer_value(ix)];
	if (u->npaths == u->cap) {
		size_t ncap = u->cap ? u->cap * 2 : 16;

		np = realloc(u->paths, ncap * sizeof(*np));
		if (!np)
			return NULL;
		u->paths = np;
		u->cap = ncap;
	}
	if (json_object_set_new(u->index, path, json_integer((json_int_t)u->npaths)))
		return NULL;
	np = &u->paths[u->npaths++];
	memset(np, 0, sizeof(*np));
	snprintf(np->path, sizeof(np->path), "%s", path);
	return np;
}

int bh_tunix_add(struct bh_tunix **up, const struct bh_tev *ev, int v, uint64_t n)
{
	struct bh_tunix *u = *up;
	struct upath *p;
	char path[128];

	if (v < 0 || v >= NV)
		return 0;
	if (!u) {
		u = calloc(1, sizeof(*u));
		if (!u || !(u->index = json_object())) {
			free(u);
			return -ENOMEM;
		}
		*up = u;
	}
	u->n[v] += n;
	p = path_of(u, bh_tstr_get(&ev->path, path, sizeof(path)));
	if (!p)
		return -ENOMEM;
	p->n[v] += n;
	p->total += n;
	if (!p->first || ev->ts_us < p->first)
		p->first = ev->ts_us;
	if (ev->ts_us > p->last)
		p->last = ev->ts_us;
	return 0;
}

static int by_total(const void *a, const void *b)
{
	const struct upath *x = *(struct upath *const *)a, *y = *(struct upath *const *)b;

	if (x->total != y->total)
		return x->total < y->total ? 1 : -1;
	return strcmp(x->path, y->path);
}

json_t *bh_tunix_json(const struct bh_tunix *u)
{
	struct upath **order;
	json_t *paths;
	size_t i;

	if (!u)
		return json_null();
	order = malloc((u->npaths ? u->npaths : 1) * sizeof(*order));
	paths = json_array();
	if (!order || !paths) {
		free(order);
		json_decref(paths);
		return NULL;
	}
	for (i = 0; i < u->npaths; i++)
		order[i] = &u->paths[i];
	qsort(order, u->npaths, sizeof(*order), by_total);
	for (i = 0; i < u->npaths && i < MAX_PATHS_LISTED; i++)
		json_array_append_new(paths, json_pack("{s:s, s:o, s:o, s:o}", "path", order[i]->path,
						       "counts", bh_tsum_counts_json(order[i]->n),
						       "first", bh_tsum_ts_json(order[i]->first),
						       "last", bh_tsum_ts_json(order[i]->last)));
	free(order);
	return json_pack("{s:o, s:I, s:o}", "verdicts", bh_tsum_counts_json(u->n), "paths_total",
			 (json_int_t)u->npaths, "paths", paths);
}

static long long ji(const json_t *o, const char *k)
{
	return (long long)json_integer_value(json_object_get(o, k));
}

void bh_tunix_text(const json_t *partner, FILE *out)
{
	const json_t *u = json_object_get(partner, "unix"), *v, *p;
	size_t i;

	if (!json_is_object(u))
		return;
	v = json_object_get(u, "verdicts");
	fprintf(out, "  UNIX sockets (%lld names): allowed %lld, denied %lld, audited %lld\n",
		ji(u, "paths_total"), ji(v, "allow"), ji(v, "deny"), ji(v, "audit"));
	json_array_foreach(json_object_get(u, "paths"), i, p) {
		const json_t *c = json_object_get(p, "counts");

		if (i == 10) {
			fprintf(out, "    ... (%lld more in --json)\n", ji(u, "paths_total") - 10);
			break;
		}
		fprintf(out, "    %-40s allowed %lld, denied %lld, audited %lld\n",
			json_string_value(json_object_get(p, "path")), ji(c, "allow"), ji(c, "deny"),
			ji(c, "audit"));
	}
}

void bh_tunix_free(struct bh_tunix *u)
{
	if (!u)
		return;
	json_decref(u->index);
	free(u->paths);
	free(u);
}
