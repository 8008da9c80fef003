/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Event stream, JSON Lines schema v1 (docs/events.md): every event object is
 * made here (kernel records decoded once, each event type built in one
 * place: decision, flow new and flow summary, flood, alert, loss, policy,
 * lifecycle); the writer (writer.c, declared below) only writes them.
 */
#ifndef BULKHEAD_EVENTS_USER_H
#define BULKHEAD_EVENTS_USER_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <bulkhead/bind.h>
#include <bulkhead/events.h>
#include "names.h"
#include "text.h"
#include "clock.h"

/* Every line carries "v": BH_EVENTS_SCHEMA; it changes only when a field
 * changes meaning or type (new fields do not change it). */
#define BH_EVENTS_SCHEMA 1

/* Names the kernel does not know; supplied by the daemon. Any callback may be
 * NULL; a name that cannot be resolved is left out of the object. */
struct bh_namer {
	void *ctx;
	const char *(*partner)(void *ctx, uint32_t partner_id);
	/* grant id -> its text id (e.g. "acme/2") and purpose (may be NULL) */
	int (*grant)(void *ctx, uint32_t grant_id, const char **id, const char **purpose);
	const char *(*cgroup)(void *ctx, uint64_t cgroup_id);
	/* partner id -> its organisation ("org" of every event of the partner) */
	const char *(*org)(void *ctx, uint32_t partner_id);
};

/* A kernel record as a JSON object (caller owns it; NULL only without
 * memory). type is "connect", "send", "packet" (decisions by hook) or "flow"
 * (with "phase":"new"); every field is described in docs/events.md. */
json_t *bh_event_json(const struct bh_event *e, const struct bh_namer *n,
		      const struct bh_clock *clk);

/* The aggregated event of a closed flood window: the decision fields of the
 * key, "count" = the attempts the window suppressed, "ts" = the last one,
 * plus "aggregated": true and "window_start". */
json_t *bh_flood_json(const struct bh_flood_key *k, const struct bh_flood_val *v,
		      const struct bh_namer *n, const struct bh_clock *clk);

/* The same objects, built without allocating per record: the hot path of
 * the daemon. A builder keeps one value per field, updated in place, and one
 * object per shape (set of fields present) holding them, keys in the order of
 * bh_event_json; only text that changed (the timestamp, an address or a name
 * that differs from the previous record's) is copied. The object returned
 * belongs to the builder and holds only until its next build: write it
 * (bh_writer_write) or copy it (json_deep_copy) before then,
 * and never change it. NULL only without memory. One thread at a time. */
struct bh_event_builder;

struct bh_event_builder *bh_event_builder_new(void);
/* NULL is ignored. */
void bh_event_builder_free(struct bh_event_builder *b);
const json_t *bh_event_build(struct bh_event_builder *b, const struct bh_event *e,
			     const struct bh_namer *n, const struct bh_clock *clk);
const json_t *bh_flood_build(struct bh_event_builder *b, const struct bh_flood_key *k,
			     const struct bh_flood_val *v, const struct bh_namer *n,
			     const struct bh_clock *clk);

/* The aggregated line of a closed per-host window (bh_scan) with attempts
 * that had no event of their own ("folded"): the decision fields of the key,
 * "count" = folded, "scope": "host", "distinct_ports", no dport. */
json_t *bh_scan_json(const struct bh_scan_key *k, const struct bh_scan_val *v,
		     const struct bh_namer *n, const struct bh_clock *clk);

/* A new object with v, ts (now), type, and, if partner is not NULL, partner. */
json_t *bh_event_new(const char *type, const char *partner);
/* The same with the partner's org (when not NULL) after partner. */
json_t *bh_event_new_org(const char *type, const char *partner, const char *org);

/* A `lifecycle` event of a bind or unbind of a bound cgroup path (by the
 * kernel at creation, or by the rescan): event "bind"/"unbind", cgroup,
 * old_cgroup_id, cgroup_id (0 on unbind), partner, org (when not NULL),
 * partner_id, how. */
/* A decision of the UNIX socket hooks (bulkhead/unix.h): type "connect" or
 * "send", "family": "unix", "path" (a path, or "@name" for an abstract name;
 * sanitised: any byte that is not valid UTF-8, and every control character
 * and embedded 0 of an abstract name, becomes U+FFFD), "socktype". Grant
 * ids are "<partner>/u<n>". NULL only without memory. */
struct bh_unixev;
json_t *bh_event_unix(const struct bh_unixev *e, const struct bh_namer *n,
		      const struct bh_clock *clk);
/* A ring record of the UNIX hooks: 0, or -EPROTO when len is not one. */
int bh_unixev_decode(const void *data, size_t len, struct bh_unixev *e);
json_t *bh_event_binding(const struct bh_bindev *e, const char *partner, const char *org,
			 const struct bh_clock *clk);

/* {"type":"loss","what":what,"count":count[,"error":error]}: events or lines
 * that could not be delivered (what: "ring", "flood_map", "log_write"). */
json_t *bh_event_loss(const char *what, uint64_t count, const char *error);

/* {"type":"loss","partner":partner,"what":what,"count":count}: what one
 * partner lost ("partner_ring", "partner_unfolded", "partner_scan_map"). */
json_t *bh_event_partner_loss(const char *what, const char *partner, uint64_t count);

/* A ring buffer record as a struct bh_event (copied out after its size is
 * checked). 0, or -EPROTO for a record of another size (another ABI). */
int bh_event_decode(const void *data, size_t len, struct bh_event *e);

/* {"type":"loss","what":"log_write",...} for lines of partner's file (NULL:
 * of every file) that the writer could not write. */
json_t *bh_event_log_loss(const char *partner, uint64_t count, const char *error);

/* A flow summary ("type":"flow","phase":"summary"): the traffic of flow k
 * since its last summary (now - last) and its totals (now). */
json_t *bh_event_flow_summary(const struct bh_flow_key *k, const struct bh_flow_val *now,
			      const struct bh_flow_val *last, unsigned int interval_s,
			      uint64_t ts_boot_ns, const struct bh_namer *n,
			      const struct bh_clock *clk);

struct bh_peer;
/* A "policy" event: action, caller (peer; NULL: "by":"daemon") and the
 * fields of fields (consumed; may be NULL), for partner (may be NULL) and
 * its org (may be NULL). */
json_t *bh_event_policy(const char *action, const struct bh_peer *peer, const char *partner,
			const char *org, json_t *fields);
/* A "lifecycle" event of this process: what ("start", "reload", "stop"),
 * pin_dir, policy and detail (both may be NULL). */
json_t *bh_event_lifecycle(const char *what, const char *pin_dir, const char *policy,
			   const char *detail);
/* The lifecycle event after start: "adopt" (gen_before: the generation
 * found pinned) or "fresh", with the records restored. */
json_t *bh_event_adopt(uint64_t gen_before, size_t grants, size_t revokes, size_t ttls);

/* A grant as the control plane and `list` show it: id, partner, to, proto,
 * ports, purpose, source ("policy" or "jit"). id and purpose may be NULL. */
json_t *bh_grant_json(const struct bh_grant *g, const char *partner, const char *id,
		      const char *purpose);
/* Adds expires, remaining_s and state (live/expired) for an expiry: the kernel's
 * instant expires_boot_ns (CLOCK_BOOTTIME; 0 = none: state live) decides
 * remaining_s and state; expires is expires_unix_ns when set (fixed when the
 * grant was made or its ttl started, so it reads the same every time). */
void bh_grant_json_lifetime(json_t *o, uint64_t expires_boot_ns, int64_t expires_unix_ns,
			    const struct bh_clock *clk);

/* Adds state "revoked", revoked_at and revoked_by of revocation record r. */
void bh_grant_json_revoked(json_t *o, const struct bh_jit *r);

/* ---- writer: LOGDIR/<partner>.jsonl + LOGDIR/host.jsonl, or stdout ----
 * One thread at a time. */

struct bh_writer;

/* mkdir -p, 0750 for what it creates (LOGDIR, the state directory). 0 or -errno. */
int bh_make_dir(const char *dir);

struct bh_writer_stats {
	uint64_t lines;		/* lines written */
	uint64_t bytes;
	uint64_t failed;	/* lines that could not be written (ENOSPC, missing dir...) */
	uint64_t failed_reported;	/* of failed, already reported in an event */
};

/* log_dir NULL with to_stdout: everything on stdout (one stream); both: the
 * files and a copy of every line on stdout. Creates LOGDIR (mkdir -p, 0750)
 * and opens host.jsonl now, so a LOGDIR that cannot be written fails here.
 * With to_stdout, SIGPIPE is ignored: a reader that went away costs lines
 * (counted), not the daemon. Returns 0 or -errno. */
int bh_writer_open(struct bh_writer **w, const char *log_dir, int to_stdout);
/* Flush, then close every file; each is reopened (O_APPEND|O_CREAT, 0640) on
 * its next line, and LOGDIR is recreated (0750) if it was removed. SIGHUP,
 * logrotate. */
void bh_writer_reopen(struct bh_writer *w);
/* Write obj (consumed; NULL is ignored) as one line to the partner's file
 * (partner NULL, "host", or a name that is not [A-Za-z0-9._-]+ or starts
 * with '.': host.jsonl, where the line keeps or gets its "partner" field).
 * Never fails nor blocks the caller: a line that cannot be written is counted
 * (stats.failed); once writing works again, a "loss" event (what "log_write")
 * reports how many were not written, before the next line, in host.jsonl and
 * in the file that lost them.
 * Lines are buffered per file and written whole with one write(2) each batch:
 * call bh_writer_flush() after each batch of events (each ring buffer poll)
 * and before exiting; a file's buffer is also written once it exceeds 64 KiB. */
void bh_writer_emit(struct bh_writer *w, const char *partner, json_t *obj);
/* Also copy to host.jsonl (policy and lifecycle events). */
void bh_writer_emit_both(struct bh_writer *w, const char *partner, json_t *obj);
/* As bh_writer_emit, but obj is only read: it stays the caller's, unchanged
 * (a builder's object; a "partner" field the line needs goes into a copy). */
void bh_writer_write(struct bh_writer *w, const char *partner, const json_t *obj);
/* Write out every buffered line. */
void bh_writer_flush(struct bh_writer *w);
void bh_writer_stats(const struct bh_writer *w, struct bh_writer_stats *st);
/* Flush and close everything; w is freed. NULL is ignored. */
void bh_writer_close(struct bh_writer *w);

/* Test only (tests/unit): make the partner's file (NULL: host.jsonl) use fd
 * (e.g. /dev/full to simulate ENOSPC) until the next reopen; the writer owns
 * fd from then on. Returns 0 or -errno. */
int bh_writer_test_redirect(struct bh_writer *w, const char *partner, int fd);

#endif
