/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * `bulkhead trace`: the incident view over live and rotated event logs
 * (docs/trace.md). The command's entry point, its filters (parsed from
 * options into plain values, testable on their own) and the parsers of its
 * option values.
 */
#ifndef BULKHEAD_TRACE_H
#define BULKHEAD_TRACE_H

#include <stddef.h>
#include <stdint.h>
#include "policy.h"
#include "tracelog.h"

int bh_cmd_trace(int argc, char **argv);

/* ---- filters ---- */

enum bh_tfkind {
	BH_TF_PARTNER, BH_TF_VERDICT, BH_TF_REASON, BH_TF_TO, BH_TF_PORT, BH_TF_PROTO,
	BH_TF_GRANT, BH_TF_TYPE, BH_TF_PID, BH_TF_COMM, BH_TF__MAX
};

struct bh_tfilter {
	enum bh_tfkind kind;
	int neg;			/* --not */
	const char *text;		/* string kinds */
	struct bh_prefix pf;		/* BH_TF_TO */
	uint32_t lo, hi;		/* BH_TF_PORT range, BH_TF_PID */
};

struct bh_tfilters {
	struct bh_tfilter *f;
	size_t n;
	int64_t since_us, until_us;	/* 0: open */
};

/*
 * Parse one filter option value (kind, text) into f. 0, or -EINVAL with the
 * reason in why (BH_TWHY_LEN bytes).
 */
#define BH_TWHY_LEN 256
int bh_tfilter_parse(enum bh_tfkind kind, const char *text, struct bh_tfilter *f, char *why);
/* `--since`/`--until`: RFC 3339, or a duration before now_us ("2h", "30m"). */
int bh_ttime_parse(const char *text, int64_t now_us, int64_t *us, char *why);
/* An address or CIDR ("10.0.0.0/8", "fd00::/16"), as a policy's `to`. */
int bh_tprefix_parse(const char *text, struct bh_prefix *pf, char *why);
/* Address text to its 128-bit form (IPv4 as ::ffff:a.b.c.d). 0 or -EINVAL. */
int bh_taddr(const struct bh_tstr *s, uint8_t addr[16]);
/* addr inside pf. */
int bh_prefix_has(const struct bh_prefix *pf, const uint8_t addr[16]);

/* Does ev pass the filters other than time (kinds AND, items of a kind OR,
 * --not items must all fail)? */
int bh_tfilter_match(const struct bh_tfilters *fs, const struct bh_tev *ev);
/* Only the partner filter. */
int bh_tfilter_partner(const struct bh_tfilters *fs, const struct bh_tev *ev);

#endif
