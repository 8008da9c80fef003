// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The summary of a policy and its compiled trie (summary.h), as text or as
 * one JSON object.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "names.h"
#include "policy.h"
#include "summary.h"

/* The "partners" array of the JSON summary, or NULL (ENOMEM). */
static json_t *partners_json(const struct bh_policy *p, const size_t *per)
{
	json_t *parts = json_array();

	for (size_t i = 0; parts && i < p->npartners; i++) {
		const struct bh_partner *pt = &p->partners[i];
		json_t *cg = json_array();

		if (!cg || json_array_append_new(parts, json_pack("{s:s, s:I, s:s, s:s, s:o, s:I, s:s?, s:s?}",
				"name", pt->name, "id", (json_int_t)pt->id,
				"mode", bh_mode_str(pt->mode), "tier", bh_partner_tier(p, (uint32_t)i)->name,
				"cgroups", cg, "grants", (json_int_t)per[i], "org", pt->org,
				"contact", pt->contact)))
			goto fail;
		for (size_t j = 0; j < pt->ncgroups; j++)
			if (json_array_append_new(cg, json_string(pt->cgroups[j])))
				goto fail;
	}
	return parts;
fail:
	json_decref(parts);
	return NULL;
}

/* The "never" array of the JSON summary, or NULL (ENOMEM). */
static json_t *never_json(const struct bh_policy *p)
{
	json_t *never = json_array();
	char buf[BH_PREFIX_STRLEN];

	for (size_t i = 0; never && i < p->nnever; i++) {
		if (json_array_append_new(never, json_string(bh_prefix_str(&p->never[i], buf,
									  sizeof(buf))))) {
			json_decref(never);
			return NULL;
		}
	}
	return never;
}

static json_t *summary_json(const struct bh_policy *p, const struct bh_compiled *c,
			    const size_t *per)
{
	json_t *o = json_object(), *parts = partners_json(p, per), *never = never_json(p);
	int ok = 0;

	if (!o || !parts || !never)
		goto out;
	if (json_object_set_new(o, "file", p->file ? json_string(p->file) : json_null()) ||
	    json_object_set_new(o, "version", json_integer(1)) ||
	    json_object_set_new(o, "partner_root",
				p->partner_root ? json_string(p->partner_root) : json_null()) ||
	    json_object_set(o, "partners", parts) ||
	    json_object_set_new(o, "grants", json_integer((json_int_t)p->ngrants)) ||
	    json_object_set(o, "never", never))
		goto out;
	if (c && (json_object_set_new(o, "trie_entries", json_integer((json_int_t)c->n)) ||
		  json_object_set_new(o, "grant_prefixes", json_integer((json_int_t)c->nprefixes))))
		goto out;
	ok = 1;
out:
	json_decref(never);
	json_decref(parts);
	if (!ok) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

static int summary_text(const struct bh_policy *p, const struct bh_compiled *c,
			const size_t *per, FILE *out)
{
	char buf[BH_PREFIX_STRLEN];
	size_t i, j;

	fprintf(out, "%s: policy version 1, %zu partner%s, %zu grant%s, %zu never prefix%s\n",
		p->file ? p->file : "policy", p->npartners, p->npartners == 1 ? "" : "s",
		p->ngrants, p->ngrants == 1 ? "" : "s", p->nnever, p->nnever == 1 ? "" : "es");
	fprintf(out, "partner_root: %s\n", p->partner_root ? p->partner_root : "(none)");
	for (i = 0; i < p->npartners; i++) {
		const struct bh_partner *pt = &p->partners[i];

		fprintf(out, "partner %s (id %u): %s, %zu grant%s, cgroups:", pt->name, pt->id,
			bh_mode_str(pt->mode), per[i], per[i] == 1 ? "" : "s");
		for (j = 0; j < pt->ncgroups; j++)
			fprintf(out, " %s", pt->cgroups[j]);
		if (strcmp(bh_partner_tier(p, (uint32_t)i)->name, BH_TIER_DEFAULT))
			fprintf(out, "; tier %s", bh_partner_tier(p, (uint32_t)i)->name);
		if (pt->org || pt->contact)
			fprintf(out, "; org %s, contact %s", pt->org ? pt->org : "(none)",
				pt->contact ? pt->contact : "(none)");
		fputc('\n', out);
	}
	if (p->nnever) {
		fputs("never:", out);
		for (i = 0; i < p->nnever; i++)
			fprintf(out, " %s", bh_prefix_str(&p->never[i], buf, sizeof(buf)));
		fputc('\n', out);
	}
	if (c)
		fprintf(out, "compiled: %zu trie entries, %zu distinct grant prefixes\n",
			c->n, c->nprefixes);
	return ferror(out) ? -EIO : 0;
}

static size_t *grants_per_partner(const struct bh_policy *p)
{
	size_t *per = calloc(p->npartners + 1, sizeof(*per));

	for (size_t i = 0; per && i < p->ngrants; i++)
		if (p->grants[i].partner_idx < p->npartners)
			per[p->grants[i].partner_idx]++;
	return per;
}

json_t *bh_policy_summary_json(const struct bh_policy *p, const struct bh_compiled *c)
{
	size_t *per = grants_per_partner(p);
	json_t *o = per ? summary_json(p, c, per) : NULL;

	free(per);
	return o;
}

int bh_policy_summary(const struct bh_policy *p, const struct bh_compiled *c,
		      FILE *out, int json)
{
	size_t *per;
	json_t *o;
	int err;

	if (json) {
		o = bh_policy_summary_json(p, c);
		if (!o)
			return -ENOMEM;
		err = json_dumpf(o, out, JSON_COMPACT) || fputc('\n', out) == EOF ? -EIO : 0;
		json_decref(o);
		return err;
	}
	per = grants_per_partner(p);
	if (!per)
		return -ENOMEM;
	err = summary_text(p, c, per, out);
	free(per);
	return err;
}
