/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Prometheus metrics (docs/metrics.md): the text exposition format rendered
 * from the pinned maps and the daemon's grant state, written atomically to a
 * file (node_exporter's textfile collector) and served over HTTP on a local
 * address, from the daemon's own poll loop (never blocking it).
 */
#ifndef BULKHEAD_METRICS_H
#define BULKHEAD_METRICS_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include "clock.h"

struct bh_maps;
struct bh_grants;

/* bulkhead_revocation_cutoff_seconds: from a revocation, narrowing or
 * expiry to its sockets destroyed. */
#define BH_CUTOFF_NBUCKETS 9
struct bh_metrics_hist {
	uint64_t bucket[BH_CUTOFF_NBUCKETS];	/* observations <= bh_cutoff_le[i] */
	uint64_t count;
	double sum;
};
extern const double bh_cutoff_le[BH_CUTOFF_NBUCKETS];
void bh_metrics_observe(struct bh_metrics_hist *h, double seconds);

/* What the metrics are read from. */
struct bh_metrics_src {
	const struct bh_maps *maps;		/* the pinned maps */
	const struct bh_grants *gs;		/* the grants in force; NULL: none exposed */
	const struct bh_clock *clk;		/* now */
	const struct bh_metrics_hist *cutoff;	/* NULL: an empty histogram */
	/* alert totals per partner id and rule index (the alert rules of
	 * docs/alerts.md); NULL: 0 for every one */
	uint64_t (*alerts)(const void *ctx, uint32_t partner_id, unsigned int rule);
	const void *alerts_ctx;
	int64_t verify_ok_unix_ns;		/* last successful verify; 0: never (no sample) */
};

/* The exposition text (format 0.0.4) in *buf (malloc'd, NUL-terminated,
 * *len bytes). 0 or -ENOMEM. */
int bh_metrics_render(const struct bh_metrics_src *s, char **buf, size_t *len);

/* buf into path atomically: a temporary file beside it, fsync'd, renamed
 * over it. 0 or -errno. */
int bh_metrics_write_file(const char *path, const char *buf, size_t len);

/* The HTTP endpoint: GET /metrics answered, anything else 404. */
struct bh_metrics_http;

/* Listen on "ADDR:PORT" ("127.0.0.1:9477", "[::1]:9477"). A non-loopback
 * address is refused unless any_addr. 0, or -errno with the reason in why
 * (256 bytes). */
int bh_metrics_listen(const char *spec, int any_addr, struct bh_metrics_http **out, char *why);
void bh_metrics_http_close(struct bh_metrics_http *h);
/* At most this many pollfds: the listener and its clients. */
#define BH_METRICS_MAX_FDS 9
/* Fill p (BH_METRICS_MAX_FDS room) with what to poll; returns how many. */
int bh_metrics_http_fds(const struct bh_metrics_http *h, struct pollfd *p);
/* After poll: accept, read requests, write answers, each non-blocking; a
 * complete request gets render(ctx) (malloc'd text, NULL: 500). p and n are
 * what bh_metrics_http_fds filled. */
void bh_metrics_http_serve(struct bh_metrics_http *h, const struct pollfd *p, int n,
			   char *(*render)(void *ctx, size_t *len), void *ctx);

#endif
