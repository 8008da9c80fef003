// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Kernel event records -> JSON objects, schema v1 (docs/events.md).
 *
 * Every string that reaches jansson here is valid UTF-8 by construction
 * (fixed ASCII names, inet_ntop output, RFC 3339 timestamps, bh_sanitize
 * output), so the _nocheck constructors are used on the hot path; strings
 * from the namer (partner, grant, purpose, cgroup path) come from the policy
 * file or the cgroup tree and are sanitised first.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "events.h"

/* Kernel ABI: no implicit padding anywhere in the record. */
_Static_assert(sizeof(struct bh_event) % 8 == 0 &&
	       offsetof(struct bh_event, comm) + BH_TASK_COMM_LEN == sizeof(struct bh_event),
	       "struct bh_event has implicit padding");

#define NS_PER_SEC 1000000000ll

/* "YYYY-MM-DDTHH:MM:SS" of the last second formatted, per thread: events come
 * in bursts within one second, and gmtime_r + snprintf cost more than the
 * rest of a timestamp. */
static __thread struct {
	int64_t sec;
	int valid;
	char text[32];
} ts_cache;

static void format_wall(int64_t wall_ns, char *buf, size_t len)
{
	int64_t sec = wall_ns / NS_PER_SEC, rem = wall_ns % NS_PER_SEC;
	uint32_t usec;
	size_t n;
	char frac[9];
	int i;

	if (rem < 0) {		/* floor, so times before 1970 stay correct */
		rem += NS_PER_SEC;
		sec--;
	}
	if (!ts_cache.valid || ts_cache.sec != sec) {
		struct tm tm;
		time_t t = (time_t)sec;

		if (!gmtime_r(&t, &tm) ||
		    snprintf(ts_cache.text, sizeof(ts_cache.text), "%04d-%02d-%02dT%02d:%02d:%02d",
			     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			     tm.tm_sec) >= (int)sizeof(ts_cache.text)) {
			snprintf(buf, len, "1970-01-01T00:00:00.000000Z");
			return;
		}
		ts_cache.sec = sec;
		ts_cache.valid = 1;
	}
	usec = (uint32_t)(rem / 1000);
	frac[0] = '.';
	for (i = 6; i >= 1; i--, usec /= 10)
		frac[i] = (char)('0' + usec % 10);
	frac[7] = 'Z';
	frac[8] = '\0';
	n = strlen(ts_cache.text);
	if (len < n + sizeof(frac)) {
		if (len)
			buf[0] = '\0';
		return;
	}
	memcpy(buf, ts_cache.text, n);
	memcpy(buf + n, frac, sizeof(frac));
}

void bh_format_ts(int64_t boot_ns, const struct bh_clock *clk, char *buf, size_t len)
{
	format_wall(boot_ns - clk->boot_ns + clk->wall_ns, buf, len);
}

void bh_format_now(char *buf, size_t len)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	format_wall((int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec, buf, len);
}

/* Length of the valid UTF-8 sequence at p (n bytes available), 0 if invalid.
 * Rejects overlong forms, surrogates and code points above U+10FFFF. */
static size_t utf8_len(const uint8_t *p, size_t n)
{
	uint8_t c = p[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return n >= 2 && (p[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if (n < 3 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80)
			return 0;
		if (c == 0xe0 && p[1] < 0xa0)
			return 0;	/* overlong */
		if (c == 0xed && p[1] >= 0xa0)
			return 0;	/* UTF-16 surrogate */
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (n < 4 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 ||
		    (p[3] & 0xc0) != 0x80)
			return 0;
		if (c == 0xf0 && p[1] < 0x90)
			return 0;	/* overlong */
		if (c == 0xf4 && p[1] >= 0x90)
			return 0;	/* above U+10FFFF */
		return 4;
	}
	return 0;		/* continuation byte, 0xc0, 0xc1, 0xf5..0xff */
}

static const char replacement[] = "\xef\xbf\xbd";	/* U+FFFD */

char *bh_sanitize(const uint8_t *in, size_t len, char *out, size_t outlen)
{
	size_t i = 0, o = 0;

	if (!outlen)
		return out;
	while (i < len && in[i]) {
		const void *src = in + i;
		size_t n = utf8_len(in + i, len - i), k;

		/* a sequence cut by NUL is invalid too: utf8_len saw a non-0x80 byte */
		if (!n) {
			src = replacement;
			k = 3;
			n = 1;
		} else if ((n == 1 && (in[i] < 0x20 || in[i] == 0x7f)) ||
			   (n == 2 && in[i] == 0xc2 && in[i + 1] < 0xa0)) {
			src = replacement;	/* C0, DEL and C1 control characters */
			k = 3;
		} else {
			k = n;
		}
		if (o + k >= outlen)
			break;		/* never cut a character: stop before it */
		memcpy(out + o, src, k);
		o += k;
		i += n;
	}
	out[o] = '\0';
	return out;
}

const char *bh_addr_str(const uint8_t addr[16], char *buf, size_t len)
{
	static const uint8_t v4mapped[12] = { [10] = 0xff, [11] = 0xff };

	if (!memcmp(addr, v4mapped, sizeof(v4mapped))) {
		if (!inet_ntop(AF_INET, addr + 12, buf, len))
			snprintf(buf, len, "?");
	} else if (!inet_ntop(AF_INET6, addr, buf, len)) {
		snprintf(buf, len, "?");
	}
	return buf;
}

const char *bh_verdict_str(unsigned int v)
{
	static const char *const names[BH_VERDICT__MAX] = {
		[BH_VERDICT_ALLOW] = "allow",
		[BH_VERDICT_DENY] = "deny",
		[BH_VERDICT_AUDIT] = "audit",
	};

	return v < BH_VERDICT__MAX ? names[v] : "unknown";
}

const char *bh_reason_str(unsigned int r)
{
	static const char *const names[BH_REASON__MAX] = {
		[BH_REASON_GRANTED] = "granted",
		[BH_REASON_NO_GRANT] = "no_grant",
		[BH_REASON_NEVER] = "never",
		[BH_REASON_EXPIRED] = "expired",
		[BH_REASON_REVOKED] = "revoked",
		[BH_REASON_UNKNOWN_PARTNER] = "unknown_partner",
	};

	return r < BH_REASON__MAX ? names[r] : "unknown";
}

const char *bh_proto_str(unsigned int p)
{
	switch (p) {
	case BH_PROTO_ANY:
		return "any";
	case BH_PROTO_ICMP:
		return "icmp";
	case BH_PROTO_TCP:
		return "tcp";
	case BH_PROTO_UDP:
		return "udp";
	default:
		return "other";
	}
}

const char *bh_hook_str(unsigned int h)
{
	static const char *const names[BH_HOOK__MAX] = {
		[BH_HOOK_CONNECT] = "connect",
		[BH_HOOK_SENDMSG] = "sendmsg",
		[BH_HOOK_EGRESS] = "egress",
		[BH_HOOK_INGRESS] = "ingress",
	};

	return h < BH_HOOK__MAX ? names[h] : "unknown";
}

static const char *event_type(const struct bh_event *e)
{
	if (e->type == BH_EV_FLOW_NEW)
		return "flow";
	if (e->type != BH_EV_DECISION)
		return "unknown";
	switch (e->hook) {
	case BH_HOOK_CONNECT:
		return "connect";
	case BH_HOOK_SENDMSG:
		return "send";
	default:
		return "packet";
	}
}

/* jansson keeps insertion order; the _nocheck setters skip the UTF-8 check of
 * our own ASCII keys. A failed allocation leaves the key out. */
static void set_str(json_t *o, const char *k, const char *v)
{
	json_object_set_new_nocheck(o, k, json_string_nocheck(v));
}

static void set_int(json_t *o, const char *k, uint64_t v)
{
	json_object_set_new_nocheck(o, k, json_integer(v > INT64_MAX ? INT64_MAX : (json_int_t)v));
}

/* A string from outside (policy file, cgroup tree), made valid UTF-8. */
static void set_ext(json_t *o, const char *k, const char *v)
{
	char buf[1024];
	size_t n = strlen(v);

	if (n < sizeof(buf) / 3) {
		set_str(o, k, bh_sanitize((const uint8_t *)v, n, buf, sizeof(buf)));
		return;
	}
	/* long text (a deep cgroup path): sanitise into a buffer of its own */
	char *big = malloc(n * 3 + 1);

	if (!big)
		return;
	set_str(o, k, bh_sanitize((const uint8_t *)v, n, big, n * 3 + 1));
	free(big);
}

static int all_zero(const uint8_t *p, size_t n)
{
	while (n--)
		if (*p++)
			return 0;
	return 1;
}

json_t *bh_event_json(const struct bh_event *e, const struct bh_namer *n,
		      const struct bh_clock *clk)
{
	char buf[BH_TS_LEN > INET6_ADDRSTRLEN ? BH_TS_LEN : INET6_ADDRSTRLEN];
	char comm[BH_TASK_COMM_LEN * 3 + 1];
	const char *name = NULL;
	int ports = e->proto == BH_PROTO_TCP || e->proto == BH_PROTO_UDP;
	json_t *o = json_object();

	if (!o)
		return NULL;
	set_int(o, "v", BH_EVENTS_SCHEMA);
	bh_format_ts((int64_t)e->ts_boot_ns, clk, buf, sizeof(buf));
	set_str(o, "ts", buf);
	set_str(o, "type", event_type(e));
	if (e->type == BH_EV_FLOW_NEW)
		set_str(o, "phase", "new");
	else if (e->type != BH_EV_DECISION)
		set_int(o, "record_type", e->type);

	if (e->partner != BH_PARTNER_UNKNOWN && n && n->partner)
		name = n->partner(n->ctx, e->partner);
	if (name)
		set_ext(o, "partner", name);
	else if (e->partner == BH_PARTNER_UNKNOWN)
		json_object_set_new_nocheck(o, "partner", json_null());
	set_int(o, "partner_id", e->partner);

	set_str(o, "verdict", bh_verdict_str(e->verdict));
	set_str(o, "reason", bh_reason_str(e->reason));
	if (e->grant && n && n->grant) {
		const char *gid = NULL, *purpose = NULL;

		if (n->grant(n->ctx, e->grant, &gid, &purpose) == 0 && gid) {
			json_t *g = json_object();

			if (g) {
				set_ext(g, "id", gid);
				if (purpose)
					set_ext(g, "purpose", purpose);
				json_object_set_new_nocheck(o, "grant", g);
			}
		}
	}
	set_str(o, "hook", bh_hook_str(e->hook));
	set_str(o, "proto", bh_proto_str(e->proto));
	if (!all_zero(e->saddr, sizeof(e->saddr)))
		set_str(o, "src", bh_addr_str(e->saddr, buf, sizeof(buf)));
	if (ports && e->sport)
		set_int(o, "sport", e->sport);
	set_str(o, "dst", bh_addr_str(e->daddr, buf, sizeof(buf)));
	if (ports)
		set_int(o, "dport", e->dport);

	/* Connect/send: the calling task. Packets: the socket's creator, when
	 * known (pid 0: a socket bulkhead did not see created). */
	if ((e->flags & BH_EVF_TASK) || e->pid) {
		set_int(o, "pid", e->pid);
		if (e->flags & BH_EVF_TASK)
			set_int(o, "tid", e->tid);
		set_int(o, "uid", e->uid);
		set_str(o, "comm", bh_sanitize((const uint8_t *)e->comm, sizeof(e->comm),
					       comm, sizeof(comm)));
	}
	if (e->cgroup_id) {
		name = n && n->cgroup ? n->cgroup(n->ctx, e->cgroup_id) : NULL;
		if (name)
			set_ext(o, "cgroup", name);
		set_int(o, "cgroup_id", e->cgroup_id);
	}
	if (e->cookie)
		set_int(o, "cookie", e->cookie);
	set_int(o, "count", e->count);
	return o;
}

json_t *bh_event_new(const char *type, const char *partner)
{
	char ts[BH_TS_LEN];
	json_t *o = json_object();

	if (!o)
		return NULL;
	set_int(o, "v", BH_EVENTS_SCHEMA);
	bh_format_now(ts, sizeof(ts));
	set_str(o, "ts", ts);
	set_ext(o, "type", type);
	if (partner)
		set_ext(o, "partner", partner);
	return o;
}

json_t *bh_event_loss(const char *what, uint64_t count, const char *error)
{
	json_t *o = bh_event_new("loss", NULL);

	if (!o)
		return NULL;
	set_ext(o, "what", what);
	set_int(o, "count", count);
	if (error)
		set_ext(o, "error", error);
	return o;
}

json_t *bh_flood_json(const struct bh_flood_key *k, const struct bh_flood_val *v,
		      const struct bh_namer *n, const struct bh_clock *clk)
{
	struct bh_event e = {
		.ts_boot_ns = v->last_ts_boot_ns,
		.cgroup_id = v->cgroup_id,
		.count = v->suppressed,
		.partner = k->partner,
		.pid = v->pid,
		.uid = v->uid,
		.dport = k->dport,
		.type = BH_EV_DECISION,
		.hook = v->hook,
		.verdict = v->verdict,
		.reason = k->reason,
		.proto = k->proto,
	};
	char ts[BH_TS_LEN];
	json_t *o;

	memcpy(e.daddr, k->daddr, sizeof(e.daddr));
	memcpy(e.comm, v->comm, sizeof(e.comm));
	o = bh_event_json(&e, n, clk);
	if (!o)
		return NULL;
	json_object_set_new_nocheck(o, "aggregated", json_true());
	bh_format_ts((int64_t)(k->window * BH_FLOOD_WINDOW_NS), clk, ts, sizeof(ts));
	set_str(o, "window_start", ts);
	return o;
}

json_t *bh_alert_json(const json_t *decision, const char *what)
{
	json_t *o = json_deep_copy(decision);

	if (!o)
		return NULL;
	set_str(o, "type", "alert");
	set_ext(o, "what", what);
	json_object_del(o, "phase");
	return o;
}
