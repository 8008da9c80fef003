/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The summary `bulkhead check` prints of a policy (and of its compiled
 * trie), as text or JSON. Included by policy.h.
 */
#ifndef BULKHEAD_SUMMARY_H
#define BULKHEAD_SUMMARY_H

#include <stdio.h>
#include <jansson.h>
#include "compile.h"

struct bh_policy;

/*
 * Summary for `bulkhead check`: partners (name, id, mode, cgroups, grants),
 * grant total, never prefixes and, when c is not NULL, the compiled trie
 * entries. json != 0 writes one JSON object (jansson) and a newline.
 * Returns 0, -ENOMEM or -EIO.
 */
int bh_policy_summary(const struct bh_policy *p, const struct bh_compiled *c,
		      FILE *out, int json);
/* The JSON summary as an object (the caller may add to it), or NULL (ENOMEM). */
json_t *bh_policy_summary_json(const struct bh_policy *p, const struct bh_compiled *c);

#endif
