// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Policy loading (policy.h): a file or buffer read, parsed by jansson (its
 * DOM in the parse arena, arena.c), validated into struct bh_policy
 * (validate.c) with its errors in file order, each grant's position recorded,
 * and freed. The compiler is in
 * compile.c, the summary in summary.c.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "arena.h"
#include "jpos.h"
#include "lint.h"
#include "policy.h"
#include "text.h"
#include "validate.h"

#define MAX_FILE	(1u << 30)

/* jansson's own message; a duplicate key is pointed at its start, not its end. */
static void report_json_error(const char *name, const char *text, size_t len,
			      const json_error_t *je, struct bh_errors *errs)
{
	struct jpos pos = { je->line > 0 ? je->line : 1, je->column > 0 ? je->column : 1 };
	size_t end = je->position > 0 ? (size_t)je->position : 0, j;
	char msg[JSON_ERROR_TEXT_LENGTH];	/* jansson's text or the key, as UTF-8 */

	if (!strncmp(je->text, "duplicate object key", 20) && end >= 2 && end <= len &&
	    text[end - 1] == '"') {
		for (j = end - 2; j > 0; j--) {
			size_t bs = 0;

			while (bs < j && text[j - 1 - bs] == '\\')
				bs++;
			if (text[j] == '"' && bs % 2 == 0)
				break;
		}
		pos = jpos_at_offset(text, len, j);
		/* the key as written, cut after about 80 bytes at a character */
		bh_sanitize((const uint8_t *)text + j, end - j, msg, 81);
		bh_errors_add(errs, "%s:%d:%d: duplicate key %s (each partner and key may appear once)",
			      name, pos.line, pos.col, msg);
		return;
	}
	/* jansson's text may echo part of a character (an escape like "\é") */
	bh_sanitize((const uint8_t *)je->text, sizeof(je->text), msg, sizeof(msg));
	bh_errors_add(errs, "%s:%d:%d: %s", name, pos.line, pos.col, msg);
}

/*
 * Record where each grant object starts: one walk that enters only the root,
 * "partners", each partner and each "allow", and steps over everything else
 * (the grants included). For a valid policy only: every allow element is
 * then a grant, and the grants are in file order.
 */
struct gpos {
	const json_t *partners;
	struct bh_grant *g;
	size_t ng, i;
};

static enum jpos_next gpos_cb(void *arg, const json_t *parent, const char *key, size_t idx,
			      const json_t *val, int depth, struct jpos kpos, struct jpos vpos)
{
	struct gpos *st = arg;

	(void)parent;
	(void)idx;
	(void)kpos;
	switch (depth) {
	case 0:					/* the root */
	case 2:					/* a partner */
		return JPOS_ENTER;
	case 1:
		return val == st->partners ? JPOS_ENTER : JPOS_SKIP;
	case 3:
		return key && !strcmp(key, "allow") ? JPOS_ENTER : JPOS_SKIP;
	default:				/* a grant */
		if (st->i == st->ng)
			return JPOS_STOP;
		st->g[st->i].line = vpos.line;
		st->g[st->i].col = vpos.col;
		return ++st->i == st->ng ? JPOS_STOP : JPOS_SKIP;
	}
}

static int fill_grant_positions(const struct jpos_src *src, struct bh_policy *p)
{
	struct gpos st = { .partners = json_object_get(src->root, "partners"), .g = p->grants,
			   .ng = p->ngrants };

	if (!p->ngrants)
		return 0;
	if (jpos_walk(src, gpos_cb, &st) < 0 || st.i != st.ng)
		return -EINVAL;	/* cannot happen: text and tree come from one parse */
	return 0;
}

int bh_policy_parse(const char *name, const char *text, size_t len,
		    struct bh_policy *p, struct bh_errors *errs)
{
	size_t first_err = errs->n;
	struct jpos_src src;
	struct bh_arena a;
	json_error_t je;
	json_t *root;
	int err = 0, in_arena;

	memset(p, 0, sizeof(*p));
	in_arena = bh_arena_begin(&a);
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		report_json_error(name, text, len, &je, errs);
		err = -EINVAL;
		goto out;
	}
	p->file = strdup(name);
	if (!p->file) {
		err = -ENOMEM;
		goto out;
	}
	src = (struct jpos_src){ .text = text, .len = len, .root = root };
	err = bh_validate_policy(name, &src, p, errs);
	if (!err)
		err = fill_grant_positions(&src, p);
	if (!err)
		err = bh_grant_derive_ids(p);
	if (!err)
		err = bh_tier_enforce(p, &src, errs);
	bh_errors_sort(errs, first_err, name);
out:
	if (err == -ENOMEM)
		bh_errors_add(errs, "%s: out of memory", name);
	if (err)
		bh_policy_free(p);
	if (in_arena)
		bh_arena_end(&a);	/* the whole DOM at once */
	else
		json_decref(root);
	return err;
}

int bh_grant_parse(const struct bh_policy *p, uint32_t pidx, const char *name,
		   const char *text, struct bh_grant *out, struct bh_errors *errs)
{
	struct bh_policy one = { 0 };
	size_t len = strlen(text);
	json_error_t je;
	json_t *obj;
	int err;

	memset(out, 0, sizeof(*out));
	if (pidx >= p->npartners)
		return -EINVAL;
	obj = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!obj) {
		report_json_error(name, text, len, &je, errs);
		return -EINVAL;
	}
	one.grants = calloc(1, sizeof(*one.grants));
	err = !one.grants ? -ENOMEM :
	      bh_validate_grant(name, &(struct jpos_src){ .text = text, .len = len, .root = obj },
				pidx, &one, errs);
	if (!err && one.ngrants == 1) {
		*out = one.grants[0];
		out->id = 0;
	} else if (!err) {
		err = -EINVAL;
	}
	free(one.grants);
	json_decref(obj);
	return err;
}

/* All of f into *buf (malloc'd), *len bytes; 0 or -errno (described in errs). */
static int read_all(FILE *f, const char *path, char **buf, size_t *len, struct bh_errors *errs)
{
	size_t cap = 0, first = 65536;
	struct stat st;
	char *nb;

	*buf = NULL;
	*len = 0;
	/* A regular file is read in one go (the byte beyond shows the end). */
	if (!fstat(fileno(f), &st) && S_ISREG(st.st_mode) && st.st_size > 0 &&
	    (uint64_t)st.st_size < MAX_FILE)
		first = (size_t)st.st_size + 1;
	for (;;) {
		size_t r;

		if (*len == cap) {
			cap = cap ? 2 * cap : first;
			if (cap > MAX_FILE) {
				bh_errors_add(errs, "%s: larger than %u bytes", path, MAX_FILE);
				return -EFBIG;
			}
			nb = realloc(*buf, cap);
			if (!nb) {
				bh_errors_add(errs, "%s: out of memory", path);
				return -ENOMEM;
			}
			*buf = nb;
		}
		r = fread(*buf + *len, 1, cap - *len, f);
		*len += r;
		if (r == 0 && ferror(f)) {
			bh_errors_add(errs, "%s: read error", path);
			return -EIO;
		}
		if (r == 0)
			return 0;
	}
}

int bh_policy_read(const char *path, char **text, size_t *len, struct bh_errors *errs)
{
	FILE *f = fopen(path, "re");
	int err;

	*text = NULL;
	*len = 0;
	if (!f) {
		err = -errno;
		bh_errors_add(errs, "%s: cannot open: %s", path, strerror(-err));
		return err;
	}
	err = read_all(f, path, text, len, errs);
	fclose(f);
	if (!err && !*text && !(*text = calloc(1, 1)))
		err = -ENOMEM;
	if (err) {
		free(*text);
		*text = NULL;
	}
	return err;
}

int bh_policy_load(const char *path, struct bh_policy *p, struct bh_errors *errs)
{
	char *buf;
	size_t len;
	int err;

	memset(p, 0, sizeof(*p));
	err = bh_policy_read(path, &buf, &len, errs);
	if (!err)
		err = bh_policy_parse(path, buf, len, p, errs);
	free(buf);
	return err;
}

/* ---- grant ids ---- */

/* FNV-1a, 64 bits, over bytes. */
static uint64_t fnv(uint64_t h, const void *v, size_t n)
{
	const uint8_t *b = v;

	while (n--)
		h = (h ^ *b++) * 0x100000001b3ull;
	return h;
}

/* The content a derived id names: to, proto and the merged ports. */
static uint64_t content_hash(const struct bh_grant *g)
{
	uint64_t h = fnv(0xcbf29ce484222325ull, g->to.addr, 16);
	uint8_t b[2];

	b[0] = g->to.plen;
	b[1] = g->proto;
	h = fnv(h, b, 2);
	for (size_t i = 0; i < g->nports; i++) {
		uint8_t r[4] = { g->ports[i].lo >> 8, g->ports[i].lo & 0xff,
				 g->ports[i].hi >> 8, g->ports[i].hi & 0xff };

		h = fnv(h, r, 4);
	}
	return h;
}

static int same_content(const struct bh_grant *a, const struct bh_grant *b)
{
	if (a->to.plen != b->to.plen || memcmp(a->to.addr, b->to.addr, 16) ||
	    a->proto != b->proto || a->nports != b->nports)
		return 0;
	for (size_t i = 0; i < a->nports; i++)
		if (a->ports[i].lo != b->ports[i].lo || a->ports[i].hi != b->ports[i].hi)
			return 0;
	return 1;
}

struct gkey {
	uint64_t h;
	uint32_t partner;
	uint32_t i;		/* grant index: file order among equal contents */
	const struct bh_grant *g;
};

static int gkey_cmp(const void *x, const void *y)
{
	const struct gkey *a = x, *b = y;

	if (a->partner != b->partner)
		return a->partner < b->partner ? -1 : 1;
	if (a->h != b->h)
		return a->h < b->h ? -1 : 1;
	return (a->i > b->i) - (a->i < b->i);
}

static char *policy_strdup(struct bh_policy *p, const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = p->store ? bh_store_alloc(&p->store, n) : malloc(n);

	return d ? memcpy(d, s, n) : NULL;
}

int bh_grant_derive_ids(struct bh_policy *p)
{
	struct gkey *k = calloc(p->ngrants + 1, sizeof(*k));
	size_t i, n = 0, first = 0;
	int err = 0;

	if (!k)
		return -ENOMEM;
	for (i = 0; i < p->ngrants; i++)
		if (!p->grants[i].gid)
			k[n++] = (struct gkey){ content_hash(&p->grants[i]),
						p->grants[i].partner_idx, (uint32_t)i, &p->grants[i] };
	qsort(k, n, sizeof(*k), gkey_cmp);
	for (i = 0; i < n && !err; i++) {
		struct bh_grant *g = &p->grants[k[i].i];
		unsigned int nth = 1;
		char id[40];

		if (!i || k[i].partner != k[first].partner || k[i].h != k[first].h)
			first = i;
		/* equal hashes: the nth grant of this content (a different
		 * content with the same hash counts apart) */
		for (size_t j = first; j < i; j++)
			nth += same_content(k[j].g, g);
		if (nth == 1)
			snprintf(id, sizeof(id), "h%012llx", (unsigned long long)(k[i].h >> 16));
		else
			snprintf(id, sizeof(id), "h%012llx.%u", (unsigned long long)(k[i].h >> 16), nth);
		g->gid = policy_strdup(p, id);
		err = g->gid ? 0 : -ENOMEM;
	}
	free(k);
	return err;
}

int bh_grant_id_check(const char *s, char *why)
{
	size_t n = strlen(s), i;

	if (n < 1 || n > 32 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
		goto bad;
	for (i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", s[i]))
			goto bad;
	if (s[0] == 'j' && n > 1 && strspn(s + 1, "0123456789") == n - 1) {
		snprintf(why, BH_REASON_LEN, "grant id \"%s\" has the form of a just-in-time "
			 "grant's id (j<number>): choose another", s);
		return -EINVAL;
	}
	if (s[0] == 'h' && n >= 13 && strspn(s + 1, "0123456789abcdef") >= 12) {
		snprintf(why, BH_REASON_LEN, "grant id \"%s\" has the form of a derived id "
			 "(h and 12 hex digits): choose another", s);
		return -EINVAL;
	}
	return 0;
bad:
	snprintf(why, BH_REASON_LEN, "grant id \"%.40s\" must be 1-32 characters of "
		 "A-Z a-z 0-9 . _ -, starting with a letter", s);
	return -EINVAL;
}

void bh_grant_free(struct bh_grant *g)
{
	free(g->gid);
	free(g->ports);
	free(g->purpose);
	free(g->to_text);
}

void bh_policy_free(struct bh_policy *p)
{
	size_t i, j;

	for (i = 0; i < p->npartners; i++) {
		for (j = 0; j < p->partners[i].ncgroups; j++)
			free(p->partners[i].cgroups[j]);
		free(p->partners[i].cgroups);
		free(p->partners[i].name);
		free(p->partners[i].org);
		free(p->partners[i].contact);
	}
	for (i = 0; i < p->ngrants && !p->store; i++)
		bh_grant_free(&p->grants[i]);
	bh_store_free(&p->store);
	free(p->partners);
	free(p->grants);
	free(p->never);
	free(p->tiers);
	free(p->partner_root);
	free(p->file);
	memset(p, 0, sizeof(*p));
}
