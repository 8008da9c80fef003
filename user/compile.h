/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The trie compiler: a validated struct bh_policy flattened into the LPM
 * trie entries (struct bh_lpm_key/bh_lpm_val) the kernel looks up, whole
 * (bh_compile) or streamed in batches (bh_compile_stream). Included by
 * policy.h.
 */
#ifndef BULKHEAD_COMPILE_H
#define BULKHEAD_COMPILE_H

#include <stddef.h>
#include <bulkhead/bulkhead.h>
#include "clock.h"
#include "errors.h"

struct bh_policy;

/* Compiled trie contents, ready for BPF_MAP_UPDATE_BATCH or per-entry updates. */
struct bh_compiled {
	size_t n;
	struct bh_lpm_key *keys;
	struct bh_lpm_val *vals;
	size_t nprefixes;		/* distinct grant prefixes (all partners) */
};

/*
 * Flatten p into trie entries: one default entry per partner (prefixlen 32,
 * mode, no rules), one entry per distinct (partner, prefix) among grants and
 * never prefixes, each holding the union of the rules of every covering
 * grant, BH_ENTRY_NEVER when any never prefix covers it. Expired grants stay
 * (expires_ns in the past) so the kernel can report reason "expired".
 * Returns 0 or -E2BIG (more than BH_MAX_RULES rules cover a prefix; described
 * in errs with the grant's file:line:col) or -ENOMEM, or -EINVAL for a grant
 * whose partner_idx is out of range. Rules subsumed by another rule of the
 * same entry (same or wider proto and ports, living at least as long) are
 * left out: they cannot change a decision. Entries are grouped by partner,
 * sorted by address within one; out is left empty on error.
 */
int bh_compile(const struct bh_policy *p, const struct bh_clock *clk,
	       struct bh_compiled *out, struct bh_errors *errs);
void bh_compiled_free(struct bh_compiled *c);

/* At most this many entries: bh_compile's and bh_compile_stream's n. */
size_t bh_compile_max_entries(const struct bh_policy *p);

/*
 * The same entries in the same order without holding them all: they are
 * handed to sink in batches of at most BH_COMPILE_BATCH from one small
 * buffer, reused after sink returns (200 MB less for a million entries, and
 * the batch is still in the cache when the kernel copies it). sink returns 0
 * or -errno; after the first error, sink's or the compiler's, no batch is
 * handed over, but compile errors are still collected. sink NULL: count
 * only. counts gets n and nprefixes (no keys or vals; as far as it got on
 * error). Returns 0, the compiler's -errno as bh_compile does, or sink's.
 */
#define BH_COMPILE_BATCH 2048
typedef int (*bh_compile_sink)(void *arg, const struct bh_lpm_key *keys,
			       const struct bh_lpm_val *vals, size_t n);
int bh_compile_stream(const struct bh_policy *p, const struct bh_clock *clk,
		      bh_compile_sink sink, void *arg, struct bh_compiled *counts,
		      struct bh_errors *errs);

/*
 * Local UNIX sockets (bulkhead/unix.h): p's entries of the UNIX name trie,
 * one by one to sink: a default entry per partner (prefixlen 32: its
 * unix_mode), an entry per `unix` grant (exact with its 0, or a directory
 * prefix), and the never list's names under BH_PARTNER_NEVER (with every
 * partner's mode irrelevant there). Partner ids must be set. 0 or sink's
 * -errno. bh_unix_max_entries: how many at most.
 */
struct bh_unix_key;
struct bh_unix_val;
typedef int (*bh_unix_sink)(void *arg, const struct bh_unix_key *k, const struct bh_unix_val *v);
int bh_unix_compile(const struct bh_policy *p, bh_unix_sink sink, void *arg);
size_t bh_unix_max_entries(const struct bh_policy *p);

#endif
