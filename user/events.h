/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Event stream, JSON Lines schema v1 (docs/events.md): kernel records and
 * daemon events turned into JSON objects (jansson) and written per partner.
 */
#ifndef BULKHEAD_EVENTS_USER_H
#define BULKHEAD_EVENTS_USER_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <bulkhead/events.h>
#include "policy.h"

#define BH_EVENTS_SCHEMA 1

/* Names the kernel does not know; supplied by the daemon. Any callback may be
 * NULL; a name that cannot be resolved is left out of the object. */
struct bh_namer {
	void *ctx;
	const char *(*partner)(void *ctx, uint32_t partner_id);
	/* grant id -> its text id (e.g. "acme/2") and purpose (may be NULL) */
	int (*grant)(void *ctx, uint32_t grant_id, const char **id, const char **purpose);
	const char *(*cgroup)(void *ctx, uint64_t cgroup_id);
};

/* Kernel CLOCK_BOOTTIME ns -> RFC 3339 UTC with microseconds
 * ("2026-11-23T11:20:31.123456Z"), using the clock pair in clk. */
void bh_format_ts(int64_t boot_ns, const struct bh_clock *clk, char *buf, size_t len);
/* Wall-clock now, same format. */
void bh_format_now(char *buf, size_t len);

/* Copy kernel-supplied bytes into valid UTF-8: valid UTF-8 sequences are kept,
 * every other byte becomes U+FFFD, control characters become U+FFFD too, stops
 * at NUL or len. Returns out. */
char *bh_sanitize(const uint8_t *in, size_t len, char *out, size_t outlen);

/* Address text: IPv4-mapped shown as IPv4. */
const char *bh_addr_str(const uint8_t addr[16], char *buf, size_t len);

/* A kernel record as a JSON object (caller owns it). type is "connect",
 * "send", "packet" (decisions by hook) or "flow". */
json_t *bh_event_json(const struct bh_event *e, const struct bh_namer *n,
		      const struct bh_clock *clk);

/* A new object with ts (now), type, and, if partner is not NULL, partner. */
json_t *bh_event_new(const char *type, const char *partner);

/* ---- writer: LOGDIR/<partner>.jsonl + LOGDIR/host.jsonl, or stdout ---- */

struct bh_writer;

struct bh_writer_stats {
	uint64_t lines;		/* lines written */
	uint64_t bytes;
	uint64_t failed;	/* lines that could not be written (ENOSPC, missing dir...) */
	uint64_t failed_reported;	/* of failed, already reported in an event */
};

/* log_dir NULL with to_stdout: everything on stdout (one stream). */
int bh_writer_open(struct bh_writer **w, const char *log_dir, int to_stdout);
/* Reopen every file (SIGHUP, logrotate). */
void bh_writer_reopen(struct bh_writer *w);
/* Write obj (consumed) as one line to the partner's file (partner NULL: host.jsonl).
 * Never fails the caller: a line that cannot be written is counted; once
 * writing works again, a "loss" event reports how many were not written. */
void bh_writer_emit(struct bh_writer *w, const char *partner, json_t *obj);
/* Also copy to host.jsonl (policy and lifecycle events). */
void bh_writer_emit_both(struct bh_writer *w, const char *partner, json_t *obj);
void bh_writer_flush(struct bh_writer *w);
void bh_writer_stats(const struct bh_writer *w, struct bh_writer_stats *st);
void bh_writer_close(struct bh_writer *w);

#endif
