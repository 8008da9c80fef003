/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Just-in-time grants, revocations and the start of policy-file ttls (the
 * control plane's records, pinned in bh_jit_v2), and the effective policy:
 * the policy file's grants minus revoked ones, plus live JIT grants.
 */
#ifndef BULKHEAD_GRANTS_H
#define BULKHEAD_GRANTS_H

#include <stddef.h>
#include <stdint.h>
#include <bulkhead/bulkhead.h>
#include "policy.h"

struct bh_jitset {
	size_t n;
	struct bh_jit *r;	/* every record but BH_JIT_NEXT */
	uint32_t next_seq;	/* the next grant seq (BH_JIT_NEXT, or past every seq) */
};

/* Read every record of the pinned map. 0 or -errno. */
int bh_jit_load(int map_fd, struct bh_jitset *s);
/* The records pinned in pin_dir, read-only (the daemon is down): bh_jit_v2, or
 * a layout-1 bh_jit not migrated yet. 0, -ENOENT (neither) or -errno. */
int bh_jit_load_pinned(const char *pin_dir, struct bh_jitset *s);
/* Copy the records of a layout-1 bh_jit pinned in pin_dir into map_fd (the
 * bh_jit_v2 map), persist the grant id counter past them, then unpin bh_jit.
 * Returns the number of records moved (0: nothing to migrate) or -errno;
 * after a failure the old pin stays, so the next start migrates again. */
int bh_jit_migrate(const char *pin_dir, int map_fd);
void bh_jitset_free(struct bh_jitset *s);
/* Store r (its seq is the key) in the map and in s. 0 or -errno. */
int bh_jit_add(int map_fd, struct bh_jitset *s, const struct bh_jit *r);
/* Remove record i from the map and s (the last record takes its place). */
int bh_jit_remove(int map_fd, struct bh_jitset *s, size_t i);
/* A new JIT grant seq, never handed out before for the life of the pin
 * directory: the counter is persisted before the seq is returned. 0 or -errno. */
int bh_jit_alloc_seq(int map_fd, struct bh_jitset *s, uint32_t *seq);
/* A free key for a new revocation or ttl record (BH_JIT_AUX_KEY | n). */
uint32_t bh_jit_aux_key(const struct bh_jitset *s);
/* r describes grant g of partner: addr/plen, proto and ports. */
void bh_jit_set_def(struct bh_jit *r, const char *partner, const struct bh_grant *g);

/* inner lies within outer (same family space; plen counted in 128 bits). */
int bh_prefix_within(const struct bh_prefix *inner, const struct bh_prefix *outer);

/* The revocation record in s that masks file grant g of partner, or NULL. */
const struct bh_jit *bh_jit_mask_of(const struct bh_jitset *s, const char *partner,
				    const struct bh_grant *g);

/*
 * Policy-file ttls count from when the grant (partner, to, proto, ports) first
 * became part of the applied policy, recorded in a BH_JIT_TTL record:
 * - bh_ttl_start adds a record, started at clk, for every ttl grant of p that
 *   has none yet (*nadded of them, at the end of s); 0 or -errno (none added);
 * - bh_ttl_unstart removes the last nadded records again (p was not applied);
 * - bh_ttl_prune removes the records of grants p no longer has (p applied).
 */
int bh_ttl_start(int map_fd, struct bh_jitset *s, const struct bh_policy *p,
		 const struct bh_clock *clk, size_t *nadded);
void bh_ttl_unstart(int map_fd, struct bh_jitset *s, size_t nadded);
int bh_ttl_prune(int map_fd, struct bh_jitset *s, const struct bh_policy *p);

/* A JIT record as a grant (owned members; free with bh_grant_free). */
int bh_jit_to_grant(const struct bh_jit *r, uint32_t pidx, struct bh_grant *g);

/*
 * Effective policy: a shallow copy of file whose grants are the unmasked file
 * grants (shared members; a started ttl becomes the absolute expiry it gives)
 * followed by one grant per JIT grant record whose partner is in the file
 * (owned members, id BH_JIT_GRANT_BIT | seq).
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
/* Adds expires, remaining_s and state (live/expired) for an expiry: the kernel's
 * instant expires_boot_ns (CLOCK_BOOTTIME; 0 = none: state live) decides
 * remaining_s and state; expires is expires_unix_ns when set (fixed when the
 * grant was made or its ttl started, so it reads the same every time). */
void bh_grant_json_lifetime(json_t *o, uint64_t expires_boot_ns, int64_t expires_unix_ns,
			    const struct bh_clock *clk);

/* What the pinned records alone say (the daemon is down): JIT grants with
 * their lifetime and revocations, as `list` shows them; partner NULL = all. */
json_t *bh_jit_list_json(const struct bh_jitset *s, const char *partner,
			 const struct bh_clock *clk);

#endif
