/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The `scan` rule (docs/alerts.md): distinct ports per (partner, host) and
 * distinct hosts per (partner, port), counted exactly from the kernel's
 * per-host denial windows (bh_scan: every denial, with its port set), over
 * windows of W per partner; and the aggregated per-host lines of attempts
 * that had no event of their own (a partner over its detail budget).
 */
#ifndef BULKHEAD_SCAN_H
#define BULKHEAD_SCAN_H

#include <stdint.h>
#include <bulkhead/events.h>

struct bh_scan;

/* A partner's thresholds: >= ports distinct ports of one host, or >= hosts
 * distinct hosts on one port, within window_ns. */
struct bh_scan_limits {
	uint32_t ports, hosts;
	int64_t window_ns;
};

/* What crossed a threshold: by_host (dst set, dport 0) or by port. */
struct bh_scan_found {
	uint32_t partner;
	uint8_t proto;
	int by_host;
	uint8_t dst[16];
	uint16_t dport;
	uint32_t distinct;		/* ports of the host, or hosts on the port */
	uint64_t attempts;		/* denials counted for the host or port */
	uint16_t first_port, last_port;	/* by_host: lowest and highest port tried */
	int64_t window_ns;
};

struct bh_scan_ops {
	void *ctx;
	void (*limits)(void *ctx, uint32_t partner, struct bh_scan_limits *l);
	void (*found)(void *ctx, const struct bh_scan_found *f);
};

struct bh_scan *bh_scan_new(const struct bh_scan_ops *ops);
void bh_scan_free(struct bh_scan *s);
/* One closed kernel window of (partner, host). */
void bh_scan_add(struct bh_scan *s, const struct bh_scan_key *k, const struct bh_scan_val *v);
/* After the windows of a flush: report what crossed a threshold and has been
 * quiet since (or crossed 10 s ago), end partners' windows older than W. */
void bh_scan_tick(struct bh_scan *s);
/* The daemon stops: report what crossed and was not reported yet. */
void bh_scan_finish(struct bh_scan *s);

#endif
