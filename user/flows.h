/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Allowed flows, user side: folding and summaries (flows.c). */
#ifndef BULKHEAD_FLOWS_H
#define BULKHEAD_FLOWS_H

#include "events.h"
#include "loader.h"

/*
 * Allowed traffic is counted per socket (in its storage) and folded into
 * bh_flows when the socket changes destination, closes, or sends or receives
 * its first packet after the fold epoch advanced. Before a flow summary the
 * daemon advances the epoch and runs this: the bh_fold_tcp and bh_fold_udp
 * iterators in every network namespace used by a partner process (and the
 * daemon's own) fold every TCP and UDP socket, idle ones included. Sockets of
 * other kinds (ping, raw) fold at their next packet or at close. Returns the
 * number of namespaces walked, or -errno (logged) when none could be.
 */
int bh_fold_flows(struct bh_loader *l);

/* What the last summaries saw, kept between intervals. */
struct bh_flow_seen;
struct bh_flows {
	struct bh_flow_seen *v;		/* sorted by key */
	size_t n;
};

/*
 * Fold (above), then write a summary (bh_event_flow_summary) for every flow
 * that moved since its last one, through w, to its partner's file. The last
 * summary's counters are pinned (bh_flowrep), so a restarted daemon neither
 * repeats nor skips traffic. Flows idle for 6 intervals are forgotten (their
 * next packet is a new flow). O(n log n) in the flows.
 */
void bh_flows_summarise(struct bh_flows *fs, struct bh_loader *l, unsigned int interval_s,
			const struct bh_namer *n, const struct bh_clock *clk,
			struct bh_writer *w);
void bh_flows_free(struct bh_flows *fs);

#endif
