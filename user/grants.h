/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Grants, one home for the user side: the just-in-time grants, revocations
 * and policy-file ttl starts (the control plane's records, pinned in
 * bh_jit_v2), the effective policy (the policy file's grants minus revoked
 * ones, plus live JIT grants) and applying it, the one grant id format
 * ("<partner>/<id>", "<partner>/j<seq>"), the grant, revoke, restore and list
 * selections, which take parsed values (ops.h), the policy file in force,
 * and what a new file would change (diff).
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
/* The JIT grant record of seq in s, or NULL. */
const struct bh_jit *bh_jit_grant_of(const struct bh_jitset *s, uint32_t seq);
/* r describes grant g of partner: addr/plen, proto and ports. */
void bh_jit_set_def(struct bh_jit *r, const char *partner, const struct bh_grant *g);
/* ... and, for a revocation or ttl record of a policy-file grant, the grant's
 * id (in r->purpose, unused by those records otherwise): the record follows
 * the id, whatever the file's order. Records without one (earlier versions)
 * match by definition (or, a revocation with proto BH_JIT_ANY_PROTO, every
 * grant within its prefix). */
void bh_jit_set_grant(struct bh_jit *r, const char *partner, const struct bh_grant *g);

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

/* The record of JIT grant g (request seq) of partner, made at clk: its boot and
 * wall expiries fixed now (a ttl added saturating), no actor yet. Touches no
 * map: what `grant` stores, and what a fuzzer checks. */
void bh_jit_grant_record(struct bh_jit *r, uint32_t seq, const char *partner,
			 const struct bh_grant *g, const struct bh_clock *clk);

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

/* The one grant id format: "<partner>/<gid>" for a policy-file grant (its
 * "id", or the id derived from its content: bh_grant_derive_ids;
 * bh_grant_format_file_id), "<partner>/j<seq>" for a JIT grant (jit set; n
 * is the seq; jit 0 is the positional form of earlier versions). */
void bh_grant_format_id(char *buf, size_t len, const char *partner, uint32_t n, int jit);
void bh_grant_format_file_id(char *buf, size_t len, const char *partner, const char *gid);

/* The file grant of partner pidx in p with id gid (bare or "partner/gid"), or NULL. */
const struct bh_grant *bh_policy_grant_by_id(const struct bh_policy *p, uint32_t pidx,
					     const char *gid);
/* Revocation record r still names a grant of p (an apply of p keeps it);
 * 0: p no longer has that grant, applying p lifts the revocation. */
int bh_revocation_kept(const struct bh_policy *p, const struct bh_jit *r);

/* What the pinned records alone say (the daemon is down): JIT grants with
 * their lifetime and revocations, as `list` shows them; partner NULL = all. */
json_t *bh_jit_list_json(const struct bh_jitset *s, const char *partner,
			 const struct bh_clock *clk);

/* The policy-file record (BH_JIT_SOURCE) in s, or NULL. */
const struct bh_jit *bh_jit_source(const struct bh_jitset *s);

/* ---- the daemon's grant state ---- */

struct bh_loader;
struct bh_peer;

struct bh_grants {
	struct bh_policy pol;		/* the policy file as last applied */
	struct bh_jitset jit;		/* JIT grants and revocations (pinned) */
	struct bh_policy eff;		/* what the kernel enforces: pol - revoked + JIT */
	size_t eff_shared;
	int jit_fd;			/* the pinned record map */
};

void bh_grants_free(struct bh_grants *gs);

/* Compile and swap in file policy p (taking ownership on success) with the
 * JIT records. A ttl grant p brings in for the first time starts now; one
 * already applied keeps its start. On failure nothing in the kernel changed
 * and no ttl was started; errs says why. 0 or -errno. */
int bh_grants_apply(struct bh_grants *gs, struct bh_loader *l, struct bh_policy *p,
		    struct bh_errors *errs);
/* Record (pinned) that path, whose text hashes to sha, is the policy file in
 * force, applied by peer (NULL: the daemon itself). 0 or -errno. */
int bh_grants_set_source(struct bh_grants *gs, const char *path, const uint8_t sha[32],
			 const struct bh_peer *peer);
/* Re-apply the current file policy with the current JIT records. */
int bh_grants_reapply(struct bh_grants *gs, struct bh_loader *l, struct bh_errors *errs);

/* Index of partner name in the applied policy file. 0 or -ENOENT. */
int bh_grants_partner(const struct bh_policy *pol, const char *name, uint32_t *idx);

/* Kernel grant id -> its text id in buf and its purpose (may be NULL).
 * 0 or -ENOENT (no such grant). */
int bh_grants_name(const struct bh_grants *gs, uint32_t id, char *buf, size_t len,
		   const char **purpose);

/* Expiry instant of a grant in force (CLOCK_BOOTTIME), 0 = none; a wall-clock
 * expiry is converted with the clock pair clk. */
uint64_t bh_grants_expiry_boot(const struct bh_grant *g, const struct bh_clock *clk);
/* The earliest expiry among the grants in force after `after`, 0 = none. */
uint64_t bh_grants_next_expiry(const struct bh_grants *gs, uint64_t after,
			       const struct bh_clock *clk);

/* JIT grants dead for longer than linger_ns at now (CLOCK_BOOTTIME) leave
 * the records; each removed one is appended to removed as {partner, seq}.
 * Returns how many (the caller re-applies). */
size_t bh_grants_sweep(struct bh_grants *gs, uint64_t now, uint64_t linger_ns, json_t *removed);

/* A new JIT grant seq (bh_jit_alloc_seq). 0 or -errno. */
int bh_grants_new_seq(struct bh_grants *gs, uint32_t *seq);
/* A parsed grant request (ops.h): g of partner pidx, made by peer at clk.
 * Records it (pinned) as JIT grant seq and re-applies; on failure nothing
 * stays. The grant as listed (with its lifetime) in *out. 0 or -errno
 * (errs may say why). */
int bh_grants_add(struct bh_grants *gs, struct bh_loader *l, uint32_t seq, uint32_t pidx,
		  const struct bh_grant *g, const struct bh_peer *peer, const struct bh_clock *clk,
		  json_t **out, struct bh_errors *errs);

/* Which grants of partner pidx a revocation takes: the one with text id gid
 * (BH_REVOKE_ID; "partner/id" or the bare id), every grant whose destination
 * is exactly pfx (BH_REVOKE_TO), or every grant within pfx (BH_REVOKE_WITHIN). */
enum { BH_REVOKE_ID, BH_REVOKE_TO, BH_REVOKE_WITHIN };
struct bh_revoke_sel {
	uint32_t pidx;
	int how;
	const char *gid;
	struct bh_prefix pfx;
	int dry_run;		/* only say what would be revoked */
	int yes;		/* confirmed: more than one grant, or a policy-file grant */
};

/* Revoke what sel selects, by peer: JIT grants leave the records, each
 * policy-file grant gets a pinned revocation record naming its id;
 * re-applies. The selected grants (as listed) in *removed, also with
 * -EAGAIN and with dry_run. 0, -ESRCH (nothing selected), -EAGAIN (more than
 * one grant or a policy-file grant selected without sel->yes: nothing
 * changed) or another -errno (errs may say why). */
int bh_grants_revoke(struct bh_grants *gs, struct bh_loader *l, const struct bh_revoke_sel *sel,
		     const struct bh_peer *peer, json_t **removed, struct bh_errors *errs);

/* The grants in force inside sel's prefix that sel (BH_REVOKE_TO) does not
 * take: what a `revoke --to` leaves, listed so --within is one step away. */
json_t *bh_grants_inside(const struct bh_grants *gs, const struct bh_revoke_sel *sel);

/* Lift the revocation of policy-file grant gid of partner pidx and
 * re-apply (dry_run: only say so). The grant as it was revoked (who, when)
 * in *restored. 0, -ENOENT (no such grant in the file), -ESRCH (not
 * revoked) or another -errno. */
int bh_grants_restore(struct bh_grants *gs, struct bh_loader *l, uint32_t pidx, const char *gid,
		      int dry_run, json_t **restored, struct bh_errors *errs);

/* The grants in force (of partner pidx, or all with all set) with their
 * lifetime, then the revoked policy-file grants: `list`. ref converts
 * wall-clock expiries (the daemon's clock pair), now is the listing's. */
/* The org of a partner of the applied policy, by kernel id or by name
 * (NULL: none, or no such partner). */
const char *bh_grants_org(const struct bh_grants *gs, uint32_t id);
const char *bh_grants_org_of(const struct bh_grants *gs, const char *partner);

json_t *bh_grants_list(const struct bh_grants *gs, int all, uint32_t pidx,
		       const struct bh_clock *ref, const struct bh_clock *now);

/*
 * What applying policy file np would change against the one in force, per
 * partner: grants added, removed, widened, narrowed or otherwise changed
 * (matched by id; a grant whose derived id changed is matched by its
 * destination), mode changes, the revocations np lifts (it no longer has
 * the grant) or keeps; partners added and removed. `diff`, `apply --dry-run`
 * and `apply` print it.
 */
json_t *bh_grants_diff(const struct bh_grants *gs, const struct bh_policy *np);

#endif
