/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * `bulkhead verify [PARTNER...]`: synthetic probes from inside each
 * partner's identity (verify.c: the plan from the policy in force, the
 * kernel's answers, the cross-checks and the report) and the revocation
 * and expiry proofs (verify_cut.c).
 */
#ifndef BULKHEAD_VERIFY_H
#define BULKHEAD_VERIFY_H

#include <jansson.h>
#include "probe.h"

int bh_cmd_verify(int argc, char **argv);

/* Set by SIGINT/SIGTERM while verify runs: everything stops and is removed. */
extern volatile int bh_verify_stop;

/*
 * The revocation proof (ttl_s 0: a JIT grant to the sink, then `revoke`) or
 * the expiry proof (a grant of ttl_s seconds): a TCP flow and a connected UDP
 * flow from the partner's probe cgroup cgpath in env's wire namespace to a
 * sink in its sink namespace, through a grant asked of the daemon at
 * control. Returns the result object ("ok", "cut_ms", the checks), or NULL
 * with *why set when the proof could not run.
 */
json_t *bh_verify_cut(const struct bh_probe_env *env, const char *cgpath, const char *control,
		      const char *partner, unsigned int ttl_s, char *why, size_t whylen);

#endif
