/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Warnings of `bulkhead check`: likely mistakes in a valid policy that do
 * not make it invalid, because they may be right later or on another host.
 */
#ifndef BULKHEAD_LINT_H
#define BULKHEAD_LINT_H

#include <stddef.h>
#include <stdint.h>
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

#endif
