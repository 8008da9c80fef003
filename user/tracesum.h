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

/* The report as text (80 columns), from bh_tsum_json's object. */
int bh_tsum_text(const json_t *sum, FILE *out);

/* The lateral-movement graph (tracegraph.c) from the same object: group 0
 * draws one node per host, N one per /N (IPv4; IPv6 /N too). */
int bh_tgraph_html(const json_t *sum, int group, const char *path);
int bh_tgraph_dot(const json_t *sum, int group, const char *path);

#endif
