/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * `bulkhead trace --summary`: the incident report per partner, built in one
 * pass over the merged events with memory bounded by the number of distinct
 * destinations, grants and gaps (not by the size of the log); rendered as
 * JSON (the model) and as text from that JSON.
 */
#ifndef BULKHEAD_TRACESUM_H
#define BULKHEAD_TRACESUM_H

#include <stdint.h>
#include <stdio.h>
#include <jansson.h>
#include "tracelog.h"

struct bh_tsum;

struct bh_tsum_opts {
	int64_t since_us, until_us;	/* the window asked for (0: open) */
};

int bh_tsum_new(struct bh_tsum **s, const struct bh_tsum_opts *o);
/* Every policy line of the partners traced, whatever its time: the grants in
 * force over the window are rebuilt from them. */
void bh_tsum_policy(struct bh_tsum *s, const struct bh_tev *ev);
/* An event inside the window that passed the filters (loss lines of the
 * window always come here: a gap is a gap whatever the filter). */
void bh_tsum_add(struct bh_tsum *s, const struct bh_tev *ev);
/* The report (docs/trace.md, "Summary"); NULL without memory. */
json_t *bh_tsum_json(struct bh_tsum *s, uint64_t lines, const struct bh_tbad_stats *bad);
void bh_tsum_free(struct bh_tsum *s);

/* A time in µs since the epoch as RFC 3339 text (null for 0), and counts in
 * the order allow, deny, audit as {"allow", "deny", "audit"}. */
json_t *bh_tsum_ts_json(int64_t us);
json_t *bh_tsum_counts_json(const uint64_t *n);

/* A partner's UNIX socket decisions (traceunix.c): lines with a `path`
 * (family unix) are counted here, apart from the IP verdicts, as the kernel
 * counts them apart (`bulkhead status`: `unix`). v: 0 allow, 1 deny, 2 audit;
 * n: the attempts the line stands for. */
struct bh_tunix;
int bh_tunix_add(struct bh_tunix **u, const struct bh_tev *ev, int v, uint64_t n);
/* {"verdicts": {...}, "paths_total": N, "paths": [{path, counts, first,
 * last}, ...]} (the most attempted first, at most 100), or null with none. */
json_t *bh_tunix_json(const struct bh_tunix *u);
void bh_tunix_text(const json_t *partner, FILE *out);
void bh_tunix_free(struct bh_tunix *u);

/* The report as text (80 columns), from bh_tsum_json's object. */
int bh_tsum_text(const json_t *sum, FILE *out);

/* The lateral-movement graph (tracegraph.c) from the same object: group 0
 * draws one node per host, N one per /N (IPv4; IPv6 /N too). */
int bh_tgraph_html(const json_t *sum, int group, const char *path);
int bh_tgraph_dot(const json_t *sum, int group, const char *path);

#endif
