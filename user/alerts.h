/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Alerts (docs/alerts.md): `type: alert` records with a stable rule id, a
 * severity, the partner and org, a one-line message, evidence fields and a
 * key under which repeats are suppressed for a window and then reported as
 * a count. The per-partner per-rule totals (bulkhead_alerts_total) live here.
 */
#ifndef BULKHEAD_ALERTS_H
#define BULKHEAD_ALERTS_H

#include <stdint.h>
#include <jansson.h>
#include "events.h"
#include "names.h"

struct bh_alerts;

/* Repeats of an alert's key are suppressed this long (Zeek's default hour). */
#define BH_ALERT_SUPPRESS_NS (3600ll * 1000000000ll)

struct bh_alert {
	unsigned int rule;		/* enum bh_alert_rule */
	unsigned int floor;		/* enum bh_severity: the partner's tier floor */
	uint32_t partner_id;
	const char *partner, *org;	/* may be NULL */
	const char *key;		/* repeats of key are suppressed */
	const char *message;		/* one line */
	json_t *evidence;		/* its fields go into the line (consumed; may be NULL);
					   its "ts", if any, is the line's */
	uint64_t count;			/* occurrences this raise stands for (>= 1) */
};

/* Repeats of a key within window_ns of its alert are counted, not written. */
struct bh_alerts *bh_alerts_new(int64_t window_ns);
/* End every window now: the pending counts (to w, when not NULL). */
void bh_alerts_end(struct bh_alerts *a, struct bh_writer *w, int64_t now_ns);
/* Ends the windows first. NULL is ignored. */
void bh_alerts_free(struct bh_alerts *a, struct bh_writer *w, int64_t now_ns);

/* The alert line (partner's file and host.jsonl), or a repeat counted. */
void bh_alerts_raise(struct bh_alerts *a, struct bh_writer *w, const struct bh_alert *al,
		     int64_t now_ns);
/* Windows that ended by now_ns: a `phase: "suppressed"` line with their count
 * (none when nothing repeated), and the key may alert again. */
void bh_alerts_tick(struct bh_alerts *a, struct bh_writer *w, int64_t now_ns);
/* Occurrences of rule for partner id (alert lines plus suppressed repeats). */
uint64_t bh_alerts_total(const struct bh_alerts *a, uint32_t partner_id, unsigned int rule);
/* The rule's own severity, before the tier's floor. */
unsigned int bh_rule_severity(unsigned int rule);

#endif
