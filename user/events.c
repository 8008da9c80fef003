// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Event objects, schema v1 (docs/events.md): kernel records decoded and
 * built (decision, flow, flood), and the daemon's own events (alert, loss,
 * flow summary, policy, lifecycle).
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
#include <unistd.h>
#include <bulkhead/unix.h>
#include "control.h"
#include "events.h"
#include "version.h"

/* Kernel ABI: no implicit padding anywhere in the record. */
_Static_assert(sizeof(struct bh_event) % 8 == 0 &&
	       offsetof(struct bh_event, comm) + BH_TASK_COMM_LEN == sizeof(struct bh_event),
	       "struct bh_event has implicit padding");

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

/* ---- local UNIX sockets ---- */

_Static_assert(sizeof(struct bh_unixev) == 48 + 16 + BH_UNIX_NAME_LEN, "bh_unixev layout");

int bh_unixev_decode(const void *data, size_t len, struct bh_unixev *e)
{
	if (len < sizeof(*e))
		return -EPROTO;
	memcpy(e, data, sizeof(*e));
	if (e->name_len > BH_UNIX_PATH_MAX)
		e->name_len = BH_UNIX_PATH_MAX;
	return 0;
}

/* "/path" or "@name" from sun_path bytes, valid UTF-8. */
static void unix_name_text(const struct bh_unixev *e, char *out, size_t outlen)
{
	uint8_t raw[BH_UNIX_NAME_LEN + 1];
	size_t n = e->name_len < BH_UNIX_PATH_MAX ? e->name_len : BH_UNIX_PATH_MAX, i;

	memcpy(raw, e->name, n);
	raw[n] = 0;
	if (e->flags & BH_UNIXEV_ABSTRACT) {
		raw[0] = '@';
		for (i = 1; i < n; i++)
			if (!raw[i])
				raw[i] = 0x01;	/* shown as U+FFFD, not cut */
	}
	bh_sanitize(raw, n, out, outlen);
}

static const char *unix_socktype(uint8_t flags)
{
	return flags & BH_UNIXEV_DGRAM ? "dgram" : flags & BH_UNIXEV_SEQPACKET ? "seqpacket" : "stream";
}

json_t *bh_event_unix(const struct bh_unixev *e, const struct bh_namer *n,
		      const struct bh_clock *clk)
{
	const char *partner = n && n->partner ? n->partner(n->ctx, e->partner) : NULL;
	json_t *o = bh_event_new_org(e->hook == BH_HOOK_SENDMSG ? "send" : "connect", partner,
				     partner && n->org ? n->org(n->ctx, e->partner) : NULL);
	char ts[BH_TS_LEN], name[BH_UNIX_NAME_LEN * 3 + 4], comm[BH_TASK_COMM_LEN * 3 + 1];
	const char *cg = n && n->cgroup ? n->cgroup(n->ctx, e->cgroup_id) : NULL;

	if (!o)
		return NULL;
	bh_format_ts((int64_t)e->ts_boot_ns, clk, ts, sizeof(ts));
	set_str(o, "ts", ts);
	if (!partner)
		json_object_set_new_nocheck(o, "partner", json_null());
	set_int(o, "partner_id", e->partner);
	set_str(o, "family", "unix");
	set_str(o, "verdict", bh_verdict_str(e->verdict));
	set_str(o, "reason", bh_reason_str(e->reason));
	if (e->grant && partner) {
		json_t *g = json_object();
		char id[96];

		snprintf(id, sizeof(id), "%s/u%u", partner, e->grant);
		if (g)
			set_ext(g, "id", id);
		json_object_set_new_nocheck(o, "grant", g);
	}
	set_str(o, "hook", bh_hook_str(e->hook));
	set_str(o, "socktype", unix_socktype(e->flags));
	unix_name_text(e, name, sizeof(name));
	set_str(o, "path", name);
	set_int(o, "pid", e->pid);
	set_int(o, "tid", e->tid);
	set_int(o, "uid", e->uid);
	bh_sanitize((const uint8_t *)e->comm, sizeof(e->comm), comm, sizeof(comm));
	set_str(o, "comm", comm);
	if (cg)
		set_ext(o, "cgroup", cg);
	set_int(o, "cgroup_id", e->cgroup_id);
	set_int(o, "count", 1);
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

json_t *bh_scan_json(const struct bh_scan_key *k, const struct bh_scan_val *v,
		     const struct bh_namer *n, const struct bh_clock *clk)
{
	struct bh_event e = {
		.ts_boot_ns = v->last_ts_boot_ns, .count = v->folded, .partner = k->partner,
		.type = BH_EV_DECISION, .hook = v->hook, .verdict = v->verdict,
		.reason = k->reason, .proto = k->proto,
	};
	int64_t window_ns = (int64_t)(k->window * BH_FLOOD_WINDOW_NS);
	json_t *o;

	memcpy(e.daddr, k->daddr, sizeof(e.daddr));
	o = build_owned(&e, n, clk, &window_ns);
	if (!o)
		return NULL;
	json_object_del(o, "dport");
	set_str(o, "scope", "host");
	set_int(o, "distinct_ports", v->distinct);
	set_int(o, "host_attempts", v->attempts);
	return o;
}

json_t *bh_event_partner_loss(const char *what, const char *partner, uint64_t count)
{
	json_t *o = bh_event_loss(what, count, NULL);

	if (o && partner)
		set_ext(o, "partner", partner);
	return o;
}

int bh_event_decode(const void *data, size_t len, struct bh_event *e)
{
	if (len < sizeof(*e))
		return -EPROTO;
	memcpy(e, data, sizeof(*e));
	return 0;
}

json_t *bh_event_log_loss(const char *partner, uint64_t count, const char *error)
{
	json_t *o = bh_event_loss("log_write", count, error);

	if (o && partner)
		json_object_set_new(o, "partner", json_string(partner));
	return o;
}

json_t *bh_event_flow_summary(const struct bh_flow_key *k, const struct bh_flow_val *v,
			      const struct bh_flow_val *last, unsigned int interval_s,
			      uint64_t ts_boot_ns, const struct bh_namer *n,
			      const struct bh_clock *clk)
{
	struct bh_event e = {
		.type = BH_EV_FLOW_NEW, .ts_boot_ns = ts_boot_ns, .partner = k->partner,
		.dport = k->dport, .proto = k->proto, .verdict = BH_VERDICT_ALLOW,
		.reason = BH_REASON_GRANTED, .grant = v->grant, .count = 1,
		.hook = BH_HOOK_EGRESS,
	};
	json_t *o;

	memcpy(e.daddr, k->daddr, sizeof(e.daddr));
	o = bh_event_json(&e, n, clk);
	if (!o)
		return NULL;
	json_object_set_new(o, "phase", json_string("summary"));
	json_object_set_new(o, "interval", json_integer(interval_s));
	json_object_set_new(o, "tx_bytes", json_integer(v->tx_bytes - last->tx_bytes));
	json_object_set_new(o, "tx_packets", json_integer(v->tx_packets - last->tx_packets));
	json_object_set_new(o, "rx_bytes", json_integer(v->rx_bytes - last->rx_bytes));
	json_object_set_new(o, "rx_packets", json_integer(v->rx_packets - last->rx_packets));
	json_object_set_new(o, "total_tx_bytes", json_integer(v->tx_bytes));
	json_object_set_new(o, "total_rx_bytes", json_integer(v->rx_bytes));
	return o;
}

static json_t *peer_json(const struct bh_peer *peer)
{
	if (!peer)
		return json_pack("{s:s}", "by", "daemon");
	return json_pack("{s:i, s:i, s:s}", "uid", (int)peer->uid, "pid", (int)peer->pid,
			 "comm", peer->comm);
}

json_t *bh_event_policy(const char *action, const struct bh_peer *peer, const char *partner,
			const char *org, json_t *fields)
{
	json_t *o = bh_event_new_org("policy", partner, org);

	if (o) {
		json_object_set_new(o, "action", json_string(action));
		json_object_set_new(o, "caller", peer_json(peer));
		if (fields)
			json_object_update(o, fields);
	}
	json_decref(fields);
	return o;
}

json_t *bh_event_lifecycle(const char *what, const char *pin_dir, const char *policy,
			   const char *detail)
{
	json_t *o = bh_event_new("lifecycle", NULL);

	if (!o)
		return NULL;
	json_object_set_new(o, "event", json_string(what));
	json_object_set_new(o, "pid", json_integer(getpid()));
	json_object_set_new(o, "pin_dir", json_string(pin_dir));
	json_object_set_new(o, "version", json_string(BH_VERSION));
	if (policy)
		json_object_set_new(o, "policy", json_string(policy));
	if (detail)
		json_object_set_new(o, "detail", json_string(detail));
	return o;
}

json_t *bh_event_adopt(uint64_t gen_before, size_t grants, size_t revokes, size_t ttls)
{
	json_t *o = bh_event_new("lifecycle", NULL);

	if (!o)
		return NULL;
	json_object_set_new(o, "event", json_string(gen_before ? "adopt" : "fresh"));
	json_object_set_new(o, "previous_generation", json_integer(gen_before));
	json_object_set_new(o, "jit_grants_restored", json_integer(grants));
	json_object_set_new(o, "revocations_restored", json_integer(revokes));
	json_object_set_new(o, "ttl_grants_restored", json_integer(ttls));
	if (gen_before)
		json_object_set_new(o, "detail", json_string("pinned enforcement was in place; "
			"decisions taken while no daemon ran are in the counters (`bulkhead "
			"status`) and in the events that follow"));
	return o;
}

/* ---- grants as the control plane and the policy events show them ---- */

json_t *bh_grant_json(const struct bh_grant *g, const char *partner, const char *id,
		      const char *purpose)
{
	json_t *o = json_object(), *ports = json_array();
	char buf[64];
	size_t i;

	if (id)
		json_object_set_new(o, "id", json_string(id));
	json_object_set_new(o, "partner", json_string(partner));
	json_object_set_new(o, "to", json_string(bh_prefix_str(&g->to, buf, sizeof(buf))));
	json_object_set_new(o, "proto", json_string(bh_proto_str(g->proto)));
	for (i = 0; i < g->nports; i++) {
		if (g->ports[i].lo == g->ports[i].hi)
			snprintf(buf, sizeof(buf), "%u", g->ports[i].lo);
		else
			snprintf(buf, sizeof(buf), "%u-%u", g->ports[i].lo, g->ports[i].hi);
		json_array_append_new(ports, json_string(buf));
	}
	if (g->nports)
		json_object_set_new(o, "ports", ports);
	else
		json_decref(ports);
	if (purpose)
		json_object_set_new(o, "purpose", json_string(purpose));
	json_object_set_new(o, "source", json_string(g->id & BH_JIT_GRANT_BIT ? "jit" : "policy"));
	return o;
}

void bh_grant_json_lifetime(json_t *o, uint64_t exp, int64_t exp_unix, const struct bh_clock *clk)
{
	char ts[BH_TS_LEN];

	if (!exp) {
		json_object_set_new(o, "state", json_string("live"));
		return;
	}
	if (exp_unix)
		bh_format_unix_ts(exp_unix, ts, sizeof(ts));
	else
		bh_format_ts((int64_t)exp, clk, ts, sizeof(ts));
	json_object_set_new(o, "expires", json_string(ts));
	json_object_set_new(o, "remaining_s", json_real((int64_t)exp > clk->boot_ns ?
				(double)((int64_t)exp - clk->boot_ns) / 1e9 : 0.0));
	json_object_set_new(o, "state", json_string((int64_t)exp > clk->boot_ns ? "live" :
						    "expired"));
}

/* revoked_at and revoked_by of revocation record r. */
void bh_grant_json_revoked(json_t *o, const struct bh_jit *r)
{
	char ts[BH_TS_LEN];

	json_object_set_new(o, "state", json_string("revoked"));
	bh_format_unix_ts((int64_t)r->created_unix_ns, ts, sizeof(ts));
	json_object_set_new(o, "revoked_at", json_string(ts));
	json_object_set_new(o, "revoked_by", json_pack("{s:i, s:i, s:s}", "uid", (int)r->by_uid,
						       "pid", (int)r->by_pid, "comm", r->by_comm));
}

