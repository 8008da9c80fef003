/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Just-in-time grants and revocations (the control plane's records, pinned in
 * bh_jit), and the effective policy: the policy file's grants minus revoked
 * ones, plus live JIT grants.
 */
#ifndef BULKHEAD_GRANTS_H
#define BULKHEAD_GRANTS_H

#include <stddef.h>
#include <stdint.h>
#include <bulkhead/bulkhead.h>
#include "policy.h"

struct bh_jitset {
	size_t n;
	struct bh_jit *r;
};

/* Read every record of the pinned map. 0 or -errno. */
int bh_jit_load(int map_fd, struct bh_jitset *s);
void bh_jitset_free(struct bh_jitset *s);
/* Store r (its seq is the key) in the map and in s. 0 or -errno. */
int bh_jit_add(int map_fd, struct bh_jitset *s, const struct bh_jit *r);
/* Remove record i from the map and s. */
int bh_jit_remove(int map_fd, struct bh_jitset *s, size_t i);
uint32_t bh_jit_next_seq(const struct bh_jitset *s);

/* inner lies within outer (same family space; plen counted in 128 bits). */
int bh_prefix_within(const struct bh_prefix *inner, const struct bh_prefix *outer);

/* The revocation record in s that masks file grant g of partner, or NULL. */
const struct bh_jit *bh_jit_mask_of(const struct bh_jitset *s, const char *partner,
				    const struct bh_grant *g);

/* A JIT record as a grant (owned members; free with bh_grant_free). */
int bh_jit_to_grant(const struct bh_jit *r, uint32_t pidx, struct bh_grant *g);

/*
 * Effective policy: a shallow copy of file whose grants are the unmasked file
 * grants (shared members) followed by one grant per JIT grant record whose
 * partner is in the file (owned members, id BH_JIT_GRANT_BIT | seq).
 * Free with bh_effective_free. 0 or -ENOMEM.
 */
int bh_effective_build(const struct bh_policy *file, const struct bh_jitset *s,
		       struct bh_policy *eff, size_t *nshared);
void bh_effective_free(struct bh_policy *eff, size_t nshared);

/* Text id of a grant: "<partner>/<n>" for the n-th grant of that partner in
 * the file, "<partner>/j<seq>" for a JIT grant. */
void bh_grant_text_id(const struct bh_policy *file, const struct bh_grant *g, char *buf,
		      size_t len);

/* A wall-clock instant (ns since the epoch) as the events write timestamps. */
void bh_format_unix_ts(int64_t unix_ns, char *buf, size_t len);

#include <jansson.h>

/* A grant as the control plane and `list` show it: id, partner, to, proto,
 * ports, purpose, source ("policy" or "jit"). id and purpose may be NULL. */
json_t *bh_grant_json(const struct bh_grant *g, const char *partner, const char *id,
		      const char *purpose);
/* Adds expires, remaining_s and state (live/expired) for an expiry instant
 * (CLOCK_BOOTTIME ns; 0 = none: state live). */
void bh_grant_json_lifetime(json_t *o, uint64_t expires_boot_ns, const struct bh_clock *clk);

/* What the pinned records alone say (the daemon is down): JIT grants with
 * their lifetime and revocations, as `list` shows them; partner NULL = all. */
json_t *bh_jit_list_json(const struct bh_jitset *s, const char *partner,
			 const struct bh_clock *clk);

#endif
