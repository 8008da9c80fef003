/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Schema validation (inside the policy module; callers use policy.h): a
 * parsed jansson tree checked against schema v1 and turned into struct
 * bh_policy, every problem reported as "name:line:column: reason" with its
 * position looked up in the text (jpos.h).
 */
#ifndef BULKHEAD_VALIDATE_H
#define BULKHEAD_VALIDATE_H

#include <stdint.h>
#include "jpos.h"
#include "policy.h"

/*
 * The policy tree src->root (parsed from src->text) into p, which the caller
 * zeroed; grants' blocks go to p's store (their line and column are left
 * for the caller to fill). Messages are prefixed with name. Returns 0, -EINVAL
 * (every problem in errs, up to BH_MAX_ERRORS) or -ENOMEM; on error p holds
 * what was parsed so far, for bh_policy_free.
 */
int bh_validate_policy(const char *name, const struct jpos_src *src, struct bh_policy *p,
		       struct bh_errors *errs);

/*
 * One grant object src->root for partner pidx, appended to one->grants
 * (room for one; its blocks are its own, for bh_grant_free). 0, -EINVAL
 * (described in errs) or -ENOMEM.
 */
int bh_validate_grant(const char *name, const struct jpos_src *src, uint32_t pidx,
		      struct bh_policy *one, struct bh_errors *errs);

#endif
