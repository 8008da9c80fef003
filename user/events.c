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

/* ---- values ----
 *
 * jansson keeps insertion order; the _nocheck functions skip the UTF-8 check
 * of text that is valid by construction (see the top of this file).
 * A value slot (json_t **) is created on first use and then updated in
 * place. A put that fails (no memory) returns -ENOMEM and leaves the old
 * value: the caller leaves the field out rather than show stale text.
 */

static int put_str(json_t **slot, const char *v, size_t len)
{
	if (!*slot) {
		*slot = json_stringn_nocheck(v, len);
		return *slot ? 0 : -ENOMEM;
	}
	if (json_string_length(*slot) == len && !memcmp(json_string_value(*slot), v, len))
		return 0;	/* unchanged: no copy */
	return json_string_setn_nocheck(*slot, v, len) ? -ENOMEM : 0;
}

static int put_int(json_t **slot, uint64_t v)
{
	json_int_t i = v > INT64_MAX ? INT64_MAX : (json_int_t)v;

	if (!*slot) {
		*slot = json_integer(i);
		return *slot ? 0 : -ENOMEM;
	}
	return json_integer_set(*slot, i) ? -ENOMEM : 0;
}

/* A string from outside (policy file, cgroup tree), made valid UTF-8.
 * Sanitised text comes out of bh_sanitize unchanged, so an input equal to
 * the slot's text needs no sanitising again. */
static int put_ext(json_t **slot, const char *v)
{
	char buf[1024], *out = buf;
	size_t n = strlen(v), cap = sizeof(buf);
	int err;

	if (*slot && json_string_length(*slot) == n && !memcmp(json_string_value(*slot), v, n))
		return 0;
	if (n >= sizeof(buf) / 3) {	/* long text (a deep cgroup path) */
		cap = n * 3 + 1;
		out = malloc(cap);
		if (!out)
			return -ENOMEM;
	}
	bh_sanitize((const uint8_t *)v, n, out, cap);
	err = put_str(slot, out, strlen(out));
	if (out != buf)
		free(out);
	return err;
}

/* Fields of an object the caller owns. A failed allocation leaves the key out. */
static void set_str(json_t *o, const char *k, const char *v)
{
	json_object_set_new_nocheck(o, k, json_string_nocheck(v));
}

static void set_int(json_t *o, const char *k, uint64_t v)
{
	json_t *i = NULL;

	put_int(&i, v);
	json_object_set_new_nocheck(o, k, i);
}

static void set_ext(json_t *o, const char *k, const char *v)
{
	json_t *s = NULL;

	if (!put_ext(&s, v))
		json_object_set_new_nocheck(o, k, s);
}

static int all_zero(const uint8_t *p, size_t n)
{
	while (n--)
		if (*p++)
			return 0;
	return 1;
}

/* ---- kernel records: the builder ----
 *
 * Each field of a kernel record's object has one value in the builder,
 * updated in place per record; for each shape (the set of fields present)
 * one object holds those values, keys inserted in schema order. A warm
 * builder allocates only for text that changed (the timestamp, an address
 * or name that differs from the previous record's): no object, no integer,
 * no hash table entry is made or freed per record.
 */

enum field {
	F_V, F_TS, F_TYPE, F_PHASE, F_RECORD_TYPE, F_PARTNER, F_PARTNER_NULL, F_ORG, F_PARTNER_ID,
	F_VERDICT, F_REASON, F_GRANT, F_HOOK, F_PROTO, F_SRC, F_SPORT, F_DST, F_DPORT,
	F_PID, F_TID, F_UID, F_COMM, F_CGROUP, F_CGROUP_ID, F_COOKIE, F_COUNT,
	F_AGGREGATED, F_WINDOW_START, F__N
};
_Static_assert(F__N <= 32, "a shape is a 32-bit mask of fields");

/* Keys in schema order (docs/events.md, "Common fields"): a shape's object
 * gets its keys in this order. "partner" is a string or null. */
static const char *const field_key[F__N] = {
	[F_V] = "v", [F_TS] = "ts", [F_TYPE] = "type", [F_PHASE] = "phase",
	[F_RECORD_TYPE] = "record_type", [F_PARTNER] = "partner",
	[F_PARTNER_NULL] = "partner", [F_ORG] = "org", [F_PARTNER_ID] = "partner_id", [F_VERDICT] = "verdict",
	[F_REASON] = "reason", [F_GRANT] = "grant", [F_HOOK] = "hook", [F_PROTO] = "proto",
	[F_SRC] = "src", [F_SPORT] = "sport", [F_DST] = "dst", [F_DPORT] = "dport",
	[F_PID] = "pid", [F_TID] = "tid", [F_UID] = "uid", [F_COMM] = "comm",
	[F_CGROUP] = "cgroup", [F_CGROUP_ID] = "cgroup_id", [F_COOKIE] = "cookie",
	[F_COUNT] = "count", [F_AGGREGATED] = "aggregated", [F_WINDOW_START] = "window_start",
};

/* Shapes kept: a stream has a handful (deny at connect, flow new with a
 * grant, packet without a task...); beyond that the oldest is replaced. */
#define BH_SHAPES 8

struct bh_event_builder {
	json_t *val[F__N];
	json_t *grant_id, *grant_purpose;	/* inside val[F_GRANT] */
	int grant_has_purpose;
	uint8_t src[16], dst[16];	/* the addresses val[F_SRC], val[F_DST] show */
	char comm[BH_TASK_COMM_LEN];	/* the raw comm val[F_COMM] shows */
	struct {
		uint32_t mask;
		json_t *obj;
	} shape[BH_SHAPES];
	unsigned int nshapes, hit, evict;
};

struct bh_event_builder *bh_event_builder_new(void)
{
	struct bh_event_builder *b = calloc(1, sizeof(*b));

	if (b) {
		b->val[F_PARTNER_NULL] = json_null();
		b->val[F_AGGREGATED] = json_true();
	}
	return b;
}

void bh_event_builder_free(struct bh_event_builder *b)
{
	unsigned int i;

	if (!b)
		return;
	for (i = 0; i < b->nshapes; i++)
		json_decref(b->shape[i].obj);
	for (i = 0; i < F__N; i++)
		json_decref(b->val[i]);
	json_decref(b->grant_id);
	json_decref(b->grant_purpose);
	free(b);
}

static void field_int(struct bh_event_builder *b, uint32_t *m, enum field f, uint64_t v)
{
	if (!put_int(&b->val[f], v))
		*m |= 1u << f;
}

static void field_str(struct bh_event_builder *b, uint32_t *m, enum field f, const char *v)
{
	if (!put_str(&b->val[f], v, strlen(v)))
		*m |= 1u << f;
}

static void field_ext(struct bh_event_builder *b, uint32_t *m, enum field f, const char *v)
{
	if (!put_ext(&b->val[f], v))
		*m |= 1u << f;
}

/* An address: formatted only when it differs from the one shown. */
static void field_addr(struct bh_event_builder *b, uint32_t *m, enum field f,
		       const uint8_t addr[16], uint8_t shown[16])
{
	char buf[INET6_ADDRSTRLEN];

	if (!b->val[f] || memcmp(addr, shown, 16)) {
		bh_addr_str(addr, buf, sizeof(buf));
		if (put_str(&b->val[f], buf, strlen(buf)))
			return;
		memcpy(shown, addr, 16);
	}
	*m |= 1u << f;
}

/* The kernel's comm: sanitised only when it differs from the one shown. */
static void field_comm(struct bh_event_builder *b, uint32_t *m, const char comm[BH_TASK_COMM_LEN])
{
	char buf[BH_TASK_COMM_LEN * 3 + 1];

	if (!b->val[F_COMM] || memcmp(comm, b->comm, sizeof(b->comm))) {
		bh_sanitize((const uint8_t *)comm, BH_TASK_COMM_LEN, buf, sizeof(buf));
		if (put_str(&b->val[F_COMM], buf, strlen(buf)))
			return;
		memcpy(b->comm, comm, sizeof(b->comm));
	}
	*m |= 1u << F_COMM;
}

/* "grant": {"id", "purpose"}: one object, its last key "purpose" added and
 * removed as grants with and without one come by. */
static void field_grant(struct bh_event_builder *b, uint32_t *m, const char *id,
			const char *purpose)
{
	int with = purpose && !put_ext(&b->grant_purpose, purpose);
	json_t *g = b->val[F_GRANT];

	if (put_ext(&b->grant_id, id))
		return;
	if (!g) {
		g = json_object();
		if (!g || json_object_set_nocheck(g, "id", b->grant_id)) {
			json_decref(g);
			return;
		}
		b->val[F_GRANT] = g;
	}
	if (with && !b->grant_has_purpose)
		with = !json_object_set_nocheck(g, "purpose", b->grant_purpose);
	else if (!with && b->grant_has_purpose)
		json_object_del(g, "purpose");
	b->grant_has_purpose = with;
	*m |= 1u << F_GRANT;
}

/* The object of shape m: kept from before, or made now from the values. */
static json_t *shape_obj(struct bh_event_builder *b, uint32_t m)
{
	unsigned int i, f;
	json_t *o;

	if (b->nshapes && b->shape[b->hit].mask == m)
		return b->shape[b->hit].obj;
	for (i = 0; i < b->nshapes; i++)
		if (b->shape[i].mask == m)
			return b->shape[b->hit = i].obj;
	o = json_object();
	for (f = 0; o && f < F__N; f++)
		if ((m & 1u << f) && json_object_set_nocheck(o, field_key[f], b->val[f])) {
			json_decref(o);
			o = NULL;
		}
	if (!o)
		return NULL;
	if (b->nshapes < BH_SHAPES) {
		i = b->nshapes++;
	} else {
		i = b->evict++ % BH_SHAPES;
		json_decref(b->shape[i].obj);
	}
	b->shape[i].mask = m;
	b->shape[i].obj = o;
	b->hit = i;
	return o;
}

/* The fields of docs/events.md for e; window_ns: an aggregated line of the
 * flood window starting then. */
static const json_t *build(struct bh_event_builder *b, const struct bh_event *e,
			   const struct bh_namer *n, const struct bh_clock *clk,
			   const int64_t *window_ns)
{
	char ts[BH_TS_LEN];
	const char *name = NULL;
	int ports = e->proto == BH_PROTO_TCP || e->proto == BH_PROTO_UDP;
	uint32_t m = 0;

	field_int(b, &m, F_V, BH_EVENTS_SCHEMA);
	bh_format_ts((int64_t)e->ts_boot_ns, clk, ts, sizeof(ts));
	field_str(b, &m, F_TS, ts);
	field_str(b, &m, F_TYPE, event_type(e));
	if (e->type == BH_EV_FLOW_NEW)
		field_str(b, &m, F_PHASE, "new");
	else if (e->type != BH_EV_DECISION)
		field_int(b, &m, F_RECORD_TYPE, e->type);

	if (e->partner != BH_PARTNER_UNKNOWN && n && n->partner)
		name = n->partner(n->ctx, e->partner);
	if (name)
		field_ext(b, &m, F_PARTNER, name);
	else if (e->partner == BH_PARTNER_UNKNOWN)
		m |= 1u << F_PARTNER_NULL;
	name = name && n->org ? n->org(n->ctx, e->partner) : NULL;
	if (name)
		field_ext(b, &m, F_ORG, name);
	field_int(b, &m, F_PARTNER_ID, e->partner);

	field_str(b, &m, F_VERDICT, bh_verdict_str(e->verdict));
	field_str(b, &m, F_REASON, bh_reason_str(e->reason));
	if (e->grant && n && n->grant) {
		const char *gid = NULL, *purpose = NULL;

		if (n->grant(n->ctx, e->grant, &gid, &purpose) == 0 && gid)
			field_grant(b, &m, gid, purpose);
	}
	field_str(b, &m, F_HOOK, bh_hook_str(e->hook));
	field_str(b, &m, F_PROTO, bh_proto_str(e->proto));
	if (!all_zero(e->saddr, sizeof(e->saddr)))
		field_addr(b, &m, F_SRC, e->saddr, b->src);
	if (ports && e->sport)
		field_int(b, &m, F_SPORT, e->sport);
	field_addr(b, &m, F_DST, e->daddr, b->dst);
	if (ports)
		field_int(b, &m, F_DPORT, e->dport);

	/* Connect/send: the calling task. Packets: the socket's creator, when
	 * known (pid 0: a socket bulkhead did not see created). */
	if ((e->flags & BH_EVF_TASK) || e->pid) {
		field_int(b, &m, F_PID, e->pid);
		if (e->flags & BH_EVF_TASK)
			field_int(b, &m, F_TID, e->tid);
		field_int(b, &m, F_UID, e->uid);
		field_comm(b, &m, e->comm);
	}
	if (e->cgroup_id) {
		name = n && n->cgroup ? n->cgroup(n->ctx, e->cgroup_id) : NULL;
		if (name)
			field_ext(b, &m, F_CGROUP, name);
		field_int(b, &m, F_CGROUP_ID, e->cgroup_id);
	}
	if (e->cookie)
		field_int(b, &m, F_COOKIE, e->cookie);
	field_int(b, &m, F_COUNT, e->count);
	if (window_ns) {
		m |= 1u << F_AGGREGATED;
		bh_format_ts(*window_ns, clk, ts, sizeof(ts));
		field_str(b, &m, F_WINDOW_START, ts);
	}
	return shape_obj(b, m);
}

/* The record a closed flood window stands for. */
static void flood_record(const struct bh_flood_key *k, const struct bh_flood_val *v,
			 struct bh_event *e, int64_t *window_ns)
{
	memset(e, 0, sizeof(*e));
	e->ts_boot_ns = v->last_ts_boot_ns;
	e->cgroup_id = v->cgroup_id;
	e->count = v->suppressed;
	e->partner = k->partner;
	e->pid = v->pid;
	e->uid = v->uid;
	e->dport = k->dport;
	e->type = BH_EV_DECISION;
	e->hook = v->hook;
	e->verdict = v->verdict;
	e->reason = k->reason;
	e->proto = k->proto;
	memcpy(e->daddr, k->daddr, sizeof(e->daddr));
	memcpy(e->comm, v->comm, sizeof(e->comm));
	*window_ns = (int64_t)(k->window * BH_FLOOD_WINDOW_NS);
}

const json_t *bh_event_build(struct bh_event_builder *b, const struct bh_event *e,
			     const struct bh_namer *n, const struct bh_clock *clk)
{
	return build(b, e, n, clk, NULL);
}

const json_t *bh_flood_build(struct bh_event_builder *b, const struct bh_flood_key *k,
			     const struct bh_flood_val *v, const struct bh_namer *n,
			     const struct bh_clock *clk)
{
	struct bh_event e;
	int64_t window_ns;

	flood_record(k, v, &e, &window_ns);
	return build(b, &e, n, clk, &window_ns);
}

/* An object for the caller to keep and change: built by a builder of its
 * own, which, freed, leaves the object the only owner of its values. */
static json_t *build_owned(const struct bh_event *e, const struct bh_namer *n,
			   const struct bh_clock *clk, const int64_t *window_ns)
{
	struct bh_event_builder *b = bh_event_builder_new();
	json_t *o;

	if (!b)
		return NULL;
	o = json_incref((json_t *)build(b, e, n, clk, window_ns));
	bh_event_builder_free(b);
	return o;
}

json_t *bh_event_json(const struct bh_event *e, const struct bh_namer *n,
		      const struct bh_clock *clk)
{
	return build_owned(e, n, clk, NULL);
}

json_t *bh_flood_json(const struct bh_flood_key *k, const struct bh_flood_val *v,
		      const struct bh_namer *n, const struct bh_clock *clk)
{
	struct bh_event e;
	int64_t window_ns;

	flood_record(k, v, &e, &window_ns);
	return build_owned(&e, n, clk, &window_ns);
}

/* ---- daemon events ---- */

json_t *bh_event_new_org(const char *type, const char *partner, const char *org)
{
	json_t *o = bh_event_new(type, partner);

	if (o && partner && org)
		set_ext(o, "org", org);
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

json_t *bh_event_binding(const struct bh_bindev *e, const char *partner, const char *org,
			 const struct bh_clock *clk)
{
	json_t *o = bh_event_new_org("lifecycle", partner, org);
	char ts[BH_TS_LEN], path[BH_CG_PATH_MAX * 3];
	const char *how = e->how == BH_BOUND_CREATION ? "creation" : "rescan";

	if (!o)
		return NULL;
	bh_format_ts((int64_t)e->ts_boot_ns, clk, ts, sizeof(ts));
	set_str(o, "ts", ts);
	set_str(o, "event", e->what == BH_BINDEV_BIND ? "bind" : "unbind");
	/* the key has a leading '/'; event paths are relative to the mount */
	bh_sanitize((const uint8_t *)e->path + (e->path[0] == '/'), sizeof(e->path) - 1,
		    path, sizeof(path));
	set_str(o, "cgroup", path);
	set_int(o, "old_cgroup_id", (json_int_t)e->old_cgid);
	set_int(o, "cgroup_id", (json_int_t)e->new_cgid);
	set_int(o, "partner_id", e->partner);
	set_str(o, "how", how);
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
