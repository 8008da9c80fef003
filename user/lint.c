// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* `bulkhead check` warnings (lint.h). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <jansson.h>
#include "cgroup.h"
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
};

struct finding {
	enum where at;
	size_t partner, idx;
	struct jpos pos;
	char *msg;
};

struct findings {
	size_t n;
	struct finding *v;
};

__attribute__((format(printf, 5, 6)))
static int add(struct findings *f, enum where at, size_t partner, size_t idx, const char *fmt,
	       ...)
{
	struct finding *nv = realloc(f->v, (f->n + 1) * sizeof(*nv));
	va_list ap;
	int r;

	if (!nv)
		return -ENOMEM;
	f->v = nv;
	memset(&nv[f->n], 0, sizeof(nv[f->n]));
	nv[f->n].at = at;
	nv[f->n].partner = partner;
	nv[f->n].idx = idx;
	va_start(ap, fmt);
	r = vasprintf(&nv[f->n].msg, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	f->n++;
	return 0;
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
			err = add(f, AT_PARTNER, i, 0, "partner %s has no \"org\": its events name "
				  "no organisation (a later tier requirement)", a->name);
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
		err = add(f, AT_EXPIRES, g->partner_idx, k, "grant %zu of partner %s expired at %s, "
			  "before now: it allows nothing (denials say reason \"expired\")", k + 1,
			  p->partners[g->partner_idx].name, ts);
	}
	free(nth);
	return err;
}

/* What to look up for a finding: its value, or (the implicit cgroup
 * partner_root/<name>) the partner's key. */
static void want_of(const json_t *root, const struct bh_policy *p, const struct finding *fd,
		    struct jpos_want *w)
{
	const json_t *partners = json_object_get(root, "partners");
	const char *name = fd->at == AT_ROOT ? NULL : p->partners[fd->partner].name;
	const json_t *pv = name ? json_object_get(partners, name) : NULL;
	const json_t *cg = json_object_get(pv, "cgroups");

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
		w->parent = json_array_get(json_object_get(pv, "allow"), fd->idx);
		w->key = "expires";
		break;
	case AT_PARTNER:
		w->parent = partners;
		w->key = name;
		break;
	case AT_ORG:
		w->parent = pv;
		w->key = "org";
		break;
	}
}

/* Positions of all findings, in one walk of the text. */
static void locate(const struct jpos_src *src, const struct bh_policy *p, struct findings *f)
{
	struct jpos_want *w = calloc(f->n, sizeof(*w));
	size_t i;

	if (!w)
		return;		/* the warnings go out without positions */
	for (i = 0; i < f->n; i++)
		want_of(src->root, p, &f->v[i], &w[i]);
	jpos_find(src, w, f->n);
	for (i = 0; i < f->n; i++) {
		int implicit = (f->v[i].at == AT_CGROUP && w[i].key) || f->v[i].at == AT_PARTNER;

		if (w[i].found)
			f->v[i].pos = implicit ? w[i].kpos : w[i].vpos;
	}
	free(w);
}

static int pos_cmp(const void *x, const void *y)
{
	const struct finding *a = x, *b = y;

	if (a->pos.line != b->pos.line)
		return a->pos.line < b->pos.line ? -1 : 1;
	return (a->pos.col > b->pos.col) - (a->pos.col < b->pos.col);
}

int bh_policy_lint(const struct bh_policy *p, const char *text, size_t len, const char *cg2,
		   int64_t now_unix_ns, struct bh_errors *warns)
{
	struct findings f = { 0 };
	json_error_t je;
	json_t *root = NULL;
	size_t i;
	int err = 0;

	if (cg2)
		err = find_cgroups(p, cg2, &f);
	for (size_t i = 0; !err && i < p->npartners; i++)
		for (size_t j = 0; !err && j < p->partners[i].ncgroups; j++)
			err = outside_root(p, i, j, &f);
	if (!err)
		err = find_orgs(p, &f);
	if (!err)
		err = find_expired(p, now_unix_ns, &f);
	if (!err && f.n) {
		/* the text parsed once already: this cannot fail but for memory */
		root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
		if (root) {
			struct jpos_src src = { .text = text, .len = len, .root = root };

			locate(&src, p, &f);
			qsort(f.v, f.n, sizeof(*f.v), pos_cmp);
		}
	}
	for (i = 0; i < f.n; i++) {
		if (!err && f.v[i].pos.line)
			bh_errors_add(warns, "%s:%d:%d: warning: %s", p->file, f.v[i].pos.line,
				      f.v[i].pos.col, f.v[i].msg);
		else if (!err)
			bh_errors_add(warns, "%s: warning: %s", p->file, f.v[i].msg);
		free(f.v[i].msg);
	}
	json_decref(root);
	free(f.v);
	return err ? err : (int)i;
}
