/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Socket cut-off: destroying sockets a policy change left without a grant. */
#ifndef BULKHEAD_CUTOFF_H
#define BULKHEAD_CUTOFF_H

#include "loader.h"

/*
 * Destroy (sock_diag SOCK_DESTROY) every established TCP and connected UDP
 * socket of a partner that the policy in force no longer covers, judged with
 * the kernel's own trie and rule matcher (bh_val_decide): after a revoke, a
 * narrowing reload or an expiry the datapath already drops such a flow's next
 * packet; this makes the application see ECONNABORTED instead of a hang.
 * Audit-mode partners are left alone. Returns 0 with *destroyed set, or -errno.
 */
int bh_cutoff(struct bh_loader *l, unsigned int *destroyed);

/*
 * The same scan, destroying nothing: how many established TCP and connected
 * UDP flows of partners the policy in force allows and eff (a candidate
 * effective policy, partner ids set as they would be applied) would deny:
 * what `diff` and `apply --dry-run` report as cut. 0 or -errno.
 */
int bh_cutoff_preview(struct bh_loader *l, const struct bh_policy *eff, unsigned int *cut);

#endif
