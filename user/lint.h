/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Warnings of `bulkhead check`: likely mistakes in a valid policy that do
 * not make it invalid, because they may be right later or on another host.
 */
#ifndef BULKHEAD_LINT_H
#define BULKHEAD_LINT_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "jpos.h"
#include "policy.h"

/*
 * Warnings about p, parsed from text (len bytes), each added to warns as
 * "FILE:LINE:COLUMN: warning: ..." in file order:
 * - partner_root or a bound cgroup that does not exist below cg2 (the cgroup2
 *   mount; NULL: not checked). It may be created later: below partner_root the
 *   partner is fail-closed until then, elsewhere `bulkhead run` refuses it.
 *   A path that starts with the mount (written as a filesystem path) says what
 *   to write instead.
 * - a bound cgroup outside partner_root: attached at its parent (whose other
 *   children pay the identity walk; a restart is unenforced until the rescan
 *   in rescan mode), or on itself directly below the cgroup2 root (a restart
 *   leaves it unenforced until the daemon attaches again);
 * - a partner without org; two partners claiming one org with different
 *   contacts;
 * - a grant whose `expires` is at or before now_unix_ns: it allows nothing.
 * Positions are looked up only when there is something to report. Returns
 * the number of warnings, or -ENOMEM.
 */
int bh_policy_lint(const struct bh_policy *p, const char *text, size_t len, const char *cg2,
		   int64_t now_unix_ns, struct bh_errors *warns);

/*
 * The grant linter's rules (docs/policy.md, "Grant linter"), also warnings of
 * bh_policy_lint, each with its rule id:
 * - wide: a grant to 0.0.0.0/0 or ::/0, or wider than the partner's tier's
 *   widest_ipv4 / widest_ipv6;
 * - all_ports: a grant without "ports" (every port; with proto any, of every
 *   protocol);
 * - dead: a grant within a never prefix (it allows nothing);
 * - link_local: a grant that reaches link-local or a cloud metadata service
 *   that never does not exclude;
 * - duplicate, subsumed: a grant that an earlier one repeats, or another
 *   one of the same partner covers (destination, proto, ports and lifetime);
 * - shared: a destination (and proto and port) granted to two partners.
 * Grants already expired are not linted (they are warned about as such).
 */
#define BH_LINT_WIDE		"wide"
#define BH_LINT_ALL_PORTS	"all_ports"
#define BH_LINT_DEAD		"dead"
#define BH_LINT_LINK_LOCAL	"link_local"
#define BH_LINT_DUPLICATE	"duplicate"
#define BH_LINT_SUBSUMED	"subsumed"
#define BH_LINT_SHARED		"shared"

/* bh_policy_lint, each warning also appended to list (when set) as
 * {rule (linter findings only), file, line, column, partner, message}. */
int bh_policy_lint_list(const struct bh_policy *p, const char *text, size_t len,
			const char *cg2, int64_t now_unix_ns, struct bh_errors *warns,
			json_t *list);

/*
 * The tier requirements of p (its grants' and partners' tiers): must_expire,
 * require_purpose, require_org, each unmet one an error "FILE:LINE:COLUMN:
 * reason" in errs. src is the text and tree p was validated from. 0, -EINVAL
 * (errs says why) or -ENOMEM. Part of validation: bh_policy_parse calls it.
 */
int bh_tier_enforce(const struct bh_policy *p, const struct jpos_src *src, struct bh_errors *errs);

/* The warnings of p as `run` and `apply` load it: p's text (NULL: p->file
 * read again) against this host's cgroup2 mount and now. The number of
 * warnings, or -errno. */
int bh_policy_warnings(const struct bh_policy *p, const char *text, struct bh_errors *warns);

struct bh_grants;
struct bh_clock;

/*
 * A just-in-time grant g of partner pidx, asked for at clk, against what the
 * daemon enforces (gs: its tiers, its effective grants). Refused (reasons
 * in refusals, -EINVAL): a lifetime over the tier's max_ttl, no purpose where
 * the tier requires one, and in a tier with lint "refuse" any linter finding.
 * Otherwise the linter's findings go to warns as "warning: ..." and 0 is
 * returned. -ENOMEM.
 */
int bh_jit_lint(const struct bh_grants *gs, uint32_t pidx, const struct bh_grant *g,
		const struct bh_clock *clk, struct bh_errors *refusals, struct bh_errors *warns);

#endif
