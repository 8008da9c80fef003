// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Alerts (alerts.h, docs/alerts.md): the alert line of each rule, the
 * suppression of repeats by key (Zeek's notice suppression: one line, then a
 * count when the window ends), and the per-partner per-rule totals.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bulkhead/bulkhead.h>
#include "alerts.h"
#include "clock.h"

#define BH_ALERT_KEYS 4096	/* keys suppressed at once; beyond, the oldest ends early */

struct sup {
	char *key;
	unsigned int rule, severity;
	uint32_t partner_id;
	char *partner, *org;
	int64_t start_ns;
	uint64_t repeats;
};

struct bh_alerts {
	int64_t window_ns;
	struct sup *v;
	size_t n, cap;
	uint64_t total[BH_MAX_PARTNERS][BH_RULE__MAX];
};

static const unsigned int rule_severity[BH_RULE__MAX] = {
	[BH_RULE_SCAN] = BH_SEV_HIGH,
	[BH_RULE_USE_AFTER_REVOKE] = BH_SEV_HIGH,
	[BH_RULE_EXPIRED_GRANT_USE] = BH_SEV_MEDIUM,
	[BH_RULE_NEVER] = BH_SEV_CRITICAL,
	[BH_RULE_UNKNOWN_IDENTITY] = BH_SEV_MEDIUM,
	[BH_RULE_FIRST_SEEN] = BH_SEV_LOW,
	[BH_RULE_IDENTITY_REUSE] = BH_SEV_HIGH,
	[BH_RULE_VERIFY_FAILED] = BH_SEV_HIGH,
};

unsigned int bh_rule_severity(unsigned int rule)
{
	return rule < BH_RULE__MAX ? rule_severity[rule] : BH_SEV_HIGH;
}

struct bh_alerts *bh_alerts_new(int64_t window_ns)
{
	struct bh_alerts *a = calloc(1, sizeof(*a));

	if (a)
		a->window_ns = window_ns;
	return a;
}

/* The common head of both lines of a key. */
static json_t *alert_head(const char *partner, const char *org, uint32_t partner_id,
			  unsigned int rule, unsigned int severity, const char *key)
{
	json_t *o = bh_event_new_org("alert", partner, org);

	if (!o)
		return NULL;
	if (!partner)	/* as kernel events: null for no partner */
		json_object_set_new(o, "partner", json_null());
	if (partner_id < BH_MAX_PARTNERS)	/* UINT32_MAX: not known (verify_failed) */
		json_object_set_new(o, "partner_id", json_integer(partner_id));
	json_object_set_new(o, "rule", json_string(bh_rule_str(rule)));
	json_object_set_new(o, "severity", json_string(bh_severity_str(severity)));
	json_object_set_new(o, "key", json_string(key));
	return o;
}

static void emit_suppressed(struct bh_alerts *a, struct bh_writer *w, const struct sup *s,
			    int64_t now_ns)
{
	char msg[256], ts[BH_TS_LEN];
	json_t *o;

	if (!s->repeats || !w)
		return;
	o = alert_head(s->partner, s->org, s->partner_id, s->rule, s->severity, s->key);
	if (!o)
		return;
	snprintf(msg, sizeof(msg), "%llu more %s alerts of key %s in %llds",
		 (unsigned long long)s->repeats, bh_rule_str(s->rule), s->key,
		 (long long)(a->window_ns / 1000000000));
	json_object_set_new(o, "phase", json_string("suppressed"));
	json_object_set_new(o, "message", json_string(msg));
	json_object_set_new(o, "count", json_integer((json_int_t)s->repeats));
	bh_format_unix_ts(s->start_ns, ts, sizeof(ts));
	json_object_set_new(o, "window_start", json_string(ts));
	bh_format_unix_ts(now_ns < s->start_ns + a->window_ns ? now_ns : s->start_ns + a->window_ns,
			  ts, sizeof(ts));
	json_object_set_new(o, "window_end", json_string(ts));
	bh_writer_emit_both(w, s->partner, o);
}

static void sup_free(struct sup *s)
{
	free(s->key);
	free(s->partner);
	free(s->org);
}

static void drop(struct bh_alerts *a, size_t i, struct bh_writer *w, int64_t now_ns)
{
	emit_suppressed(a, w, &a->v[i], now_ns);
	sup_free(&a->v[i]);
	a->v[i] = a->v[--a->n];
}

void bh_alerts_end(struct bh_alerts *a, struct bh_writer *w, int64_t now_ns)
{
	while (a && a->n)
		drop(a, a->n - 1, w, now_ns);
}

void bh_alerts_free(struct bh_alerts *a, struct bh_writer *w, int64_t now_ns)
{
	if (!a)
		return;
	bh_alerts_end(a, w, now_ns);
	free(a->v);
	free(a);
}

void bh_alerts_tick(struct bh_alerts *a, struct bh_writer *w, int64_t now_ns)
{
	size_t i = 0;

	while (i < a->n) {
		if (now_ns - a->v[i].start_ns >= a->window_ns)
			drop(a, i, w, now_ns);
		else
			i++;
	}
}

static struct sup *find(struct bh_alerts *a, const char *key)
{
	for (size_t i = 0; i < a->n; i++)
		if (!strcmp(a->v[i].key, key))
			return &a->v[i];
	return NULL;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* A new suppression entry (the oldest is ended when the table is full). */
static struct sup *remember(struct bh_alerts *a, struct bh_writer *w, const struct bh_alert *al,
			    unsigned int sev, int64_t now_ns)
{
	struct sup *s;

	if (a->n == BH_ALERT_KEYS) {
		size_t old = 0;

		for (size_t i = 1; i < a->n; i++)
			if (a->v[i].start_ns < a->v[old].start_ns)
				old = i;
		drop(a, old, w, now_ns);
	}
	if (a->n == a->cap) {
		size_t cap = a->cap ? 2 * a->cap : 64;
		struct sup *nv = realloc(a->v, cap * sizeof(*nv));

		if (!nv)
			return NULL;
		a->v = nv;
		a->cap = cap;
	}
	s = &a->v[a->n];
	*s = (struct sup){
		.key = strdup(al->key), .rule = al->rule, .severity = sev,
		.partner_id = al->partner_id, .partner = dup_or_null(al->partner),
		.org = dup_or_null(al->org), .start_ns = now_ns,
	};
	if (!s->key || (al->partner && !s->partner) || (al->org && !s->org)) {
		sup_free(s);
		return NULL;
	}
	a->n++;
	return s;
}

void bh_alerts_raise(struct bh_alerts *a, struct bh_writer *w, const struct bh_alert *al,
		     int64_t now_ns)
{
	unsigned int sev = bh_rule_severity(al->rule);
	uint64_t count = al->count ? al->count : 1;
	struct sup *s;
	json_t *o;

	if (al->partner_id < BH_MAX_PARTNERS && al->rule < BH_RULE__MAX)
		a->total[al->partner_id][al->rule] += count;
	if (al->floor > sev && al->floor < BH_SEV__MAX)
		sev = al->floor;
	s = find(a, al->key);
	if (s) {
		s->repeats += count;
		json_decref(al->evidence);
		return;
	}
	s = remember(a, w, al, sev, now_ns);	/* without memory: alert, unsuppressed */
	o = alert_head(al->partner, al->org, al->partner_id, al->rule, sev, al->key);
	if (o) {
		json_object_set_new(o, "message", json_string(al->message));
		json_object_set_new(o, "suppress_s", json_integer(a->window_ns / 1000000000));
		json_object_set_new(o, "count", json_integer(1));
		if (al->evidence) {
			json_t *ts = json_object_get(al->evidence, "ts");

			if (json_is_string(ts))	/* the instant of what raised it */
				json_object_set(o, "ts", ts);
			json_object_update_missing(o, al->evidence);
		}
		bh_writer_emit_both(w, al->partner, o);
	}
	if (s)
		s->repeats += count - 1;
	json_decref(al->evidence);
}

uint64_t bh_alerts_total(const struct bh_alerts *a, uint32_t partner_id, unsigned int rule)
{
	if (!a || partner_id >= BH_MAX_PARTNERS || rule >= BH_RULE__MAX)
		return 0;
	return a->total[partner_id][rule];
}
