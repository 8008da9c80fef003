// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Unit tests (no root) for the event stream: timestamps, sanitising, the
 * schema v1 objects built from kernel records (fresh, and by a builder reused
 * across records), and the writer (per-partner files, logrotate, a removed
 * directory, a full disk, torn writes, stdout).
 * Ends with "N passed, N failed" (tests/harness.h, one count per named
 * test); exits non-zero on any failure.
 * A micro benchmark prints lines per CPU-second (informational, never
 * asserted; BH_BENCH_LINES, BH_BENCH_ROUNDS; --no-bench skips it).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <bulkhead/unix.h>
#include "events.h"
#include "../harness.h"

/* ---- fixtures ---- */

/* 2026-11-23T11:20:31Z was CLOCK_BOOTTIME 5 s. */
static const struct bh_clock clk = {
	.wall_ns = 1795432831ll * 1000000000ll,
	.boot_ns = 5000000000ll,
};

static const char *t_partner(void *ctx, uint32_t id)
{
	(void)ctx;
	return id == 3 ? "acme" : id == 4 ? "beta" : NULL;
}

static int t_grant(void *ctx, uint32_t id, const char **text, const char **purpose)
{
	(void)ctx;
	if (id == 7) {
		*text = "acme/2";
		*purpose = "billing api";
		return 0;
	}
	if (id == 8) {
		*text = "acme/3";
		*purpose = NULL;
		return 0;
	}
	return -ENOENT;
}

static const char *t_cgroup(void *ctx, uint64_t id)
{
	(void)ctx;
	return id == 4242 ? "partners.slice/acme.service" : NULL;
}

static const struct bh_namer namer = {
	.partner = t_partner,
	.grant = t_grant,
	.cgroup = t_cgroup,
};

static void v4(uint8_t a[16], uint8_t b0, uint8_t b1, uint8_t b2, uint8_t b3)
{
	memset(a, 0, 16);
	a[10] = a[11] = 0xff;
	a[12] = b0;
	a[13] = b1;
	a[14] = b2;
	a[15] = b3;
}

/* obj must equal the JSON text want exactly: same keys, same values, same
 * types (json_equal: integers are not reals, null is not absent). */
static void check_obj(json_t *obj, const char *want, int line)
{
	json_error_t err;
	json_t *w = json_loads(want, 0, &err);
	char *got;

	if (!w) {
		CHECK(0, "line %d: bad expected JSON: %s", line, err.text);
		json_decref(obj);
		return;
	}
	got = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
	CHECK(obj && json_equal(obj, w), "line %d:\n  got  %s\n  want %s", line,
	      got ? got : "(null)", want);
	free(got);
	json_decref(w);
	json_decref(obj);
}

/* json_dumps then json_loads: what a log reader sees. */
static json_t *roundtrip(json_t *obj)
{
	char *s = json_dumps(obj, JSON_COMPACT);
	json_t *back = s ? json_loads(s, 0, NULL) : NULL;

	free(s);
	return back;
}

/* ---- timestamps ---- */

static void test_ts(void)
{
	char buf[BH_TS_LEN];
	struct bh_clock leap = { .wall_ns = 1709251199ll * 1000000000ll + 999999500,
				 .boot_ns = 1000 };

	bh_format_ts(5000000000ll, &clk, buf, sizeof(buf));
	CHECK_STR(buf, "2026-11-23T11:20:31.000000Z");
	bh_format_ts(6234567891ll, &clk, buf, sizeof(buf));
	CHECK_STR(buf, "2026-11-23T11:20:32.234567Z");	/* truncated, not rounded */
	bh_format_ts(5999999999ll, &clk, buf, sizeof(buf));
	CHECK_STR(buf, "2026-11-23T11:20:31.999999Z");
	bh_format_ts(4999999999ll, &clk, buf, sizeof(buf));	/* before the pair */
	CHECK_STR(buf, "2026-11-23T11:20:30.999999Z");
	bh_format_ts(3600ll * 24 * 1000000000ll + 5000000000ll, &clk, buf, sizeof(buf));
	CHECK_STR(buf, "2026-11-24T11:20:31.000000Z");
	/* 2024-02-29T23:59:59.9999995 + 500 ns: leap day rolls into March */
	bh_format_ts(1000, &leap, buf, sizeof(buf));
	CHECK_STR(buf, "2024-02-29T23:59:59.999999Z");
	bh_format_ts(1500, &leap, buf, sizeof(buf));
	CHECK_STR(buf, "2024-03-01T00:00:00.000000Z");
	/* the first instant after the epoch and one before it */
	struct bh_clock epoch = { .wall_ns = 0, .boot_ns = 0 };

	bh_format_ts(1000, &epoch, buf, sizeof(buf));
	CHECK_STR(buf, "1970-01-01T00:00:00.000001Z");
	bh_format_ts(-1000, &epoch, buf, sizeof(buf));
	CHECK_STR(buf, "1969-12-31T23:59:59.999999Z");
}

static void test_ts_now(void)
{
	char buf[BH_TS_LEN];
	struct tm tm;
	time_t t0 = time(NULL), t;
	char *end;

	bh_format_now(buf, sizeof(buf));
	CHECK(strlen(buf) == 27, "length %zu: %s", strlen(buf), buf);
	end = strptime(buf, "%Y-%m-%dT%H:%M:%S", &tm);
	CHECK(end && end[0] == '.' && strlen(end) == 8 && end[7] == 'Z', "format: %s", buf);
	if (end) {
		t = timegm(&tm);
		CHECK(t >= t0 - 1 && t <= t0 + 2, "now %s is not near %ld", buf, (long)t0);
	}
}

/* ---- sanitising ---- */

#define FFFD "\xef\xbf\xbd"

static void sanitized(const char *in, size_t len, const char *want)
{
	char out[256];

	bh_sanitize((const uint8_t *)in, len, out, sizeof(out));
	CHECK(!strcmp(out, want), "sanitize of %zu bytes gave \"%s\", want \"%s\"", len, out,
	      want);
	/* and jansson accepts it as a string (it validates UTF-8) */
	json_t *s = json_string(out);

	CHECK(s != NULL, "json_string refused \"%s\"", out);
	json_decref(s);
}

static void test_sanitize(void)
{
	char small[8];

	sanitized("plain", 5, "plain");
	sanitized("a\"b\\c", 5, "a\"b\\c");		/* jansson escapes these */
	sanitized("a\nb\tc\r", 6, "a" FFFD "b" FFFD "c" FFFD);
	sanitized("\x7f", 1, FFFD);				/* DEL */
	sanitized("\xc2\x85x", 3, FFFD "x");			/* C1 control (NEL) */
	sanitized("caf\xc3\xa9", 5, "caf\xc3\xa9");		/* valid 2-byte kept */
	sanitized("\xe2\x82\xac", 3, "\xe2\x82\xac");		/* valid 3-byte (euro) */
	sanitized("\xf0\x9f\x98\x80", 4, "\xf0\x9f\x98\x80");	/* valid 4-byte */
	sanitized("\xff\xfe", 2, FFFD FFFD);
	sanitized("\xc3", 1, FFFD);				/* truncated at the end */
	sanitized("\xe2\x82x", 3, FFFD FFFD "x");		/* truncated sequence */
	sanitized("\xc0\xaf", 2, FFFD FFFD);			/* overlong '/' */
	sanitized("\xe0\x80\xaf", 3, FFFD FFFD FFFD);		/* overlong */
	sanitized("\xed\xa0\x80", 3, FFFD FFFD FFFD);		/* surrogate */
	sanitized("\xf4\x90\x80\x80", 4, FFFD FFFD FFFD FFFD);	/* > U+10FFFF */
	sanitized("\x80" "a", 2, FFFD "a");			/* lone continuation */
	sanitized("ab\0cd", 5, "ab");				/* stops at NUL */
	sanitized("abcdef", 3, "abc");				/* stops at len */

	/* output too small: whole characters only, always terminated */
	bh_sanitize((const uint8_t *)"ab\xc3\xa9\xc3\xa9", 6, small, 5);
	CHECK(!strcmp(small, "ab\xc3\xa9"), "cut: \"%s\"", small);
	bh_sanitize((const uint8_t *)"abc\n", 4, small, 6);
	CHECK(!strcmp(small, "abc"), "cut before U+FFFD: \"%s\"", small);
	bh_sanitize((const uint8_t *)"x", 1, small, 1);
	CHECK(small[0] == '\0', "outlen 1");
}

/* The case: a comm with quotes, a backslash, a newline and bytes
 * >= 0x80 (valid and invalid) survives json_dumps + json_loads. */
static void test_comm_roundtrip(void)
{
	static const uint8_t comm[BH_TASK_COMM_LEN] = {
		'"', 'q', '\\', '\n', 0xff, 0xc3, 0xa9, 0xe2, 0x82, 'x', 0x7f, 0x80, 'z', 0xc0,
		0xaf, 0
	};
	const char *want = "\"q\\" FFFD FFFD "\xc3\xa9" FFFD FFFD "x" FFFD FFFD "z" FFFD FFFD;
	struct bh_event e = {
		.ts_boot_ns = 5000000000ull, .count = 1, .partner = 3, .pid = 10, .tid = 10,
		.type = BH_EV_DECISION, .hook = BH_HOOK_CONNECT, .verdict = BH_VERDICT_DENY,
		.reason = BH_REASON_NO_GRANT, .proto = BH_PROTO_TCP, .dport = 80,
		.flags = BH_EVF_TASK,
	};
	json_t *o, *back;
	char *text;

	memcpy(e.comm, comm, sizeof(comm));
	v4(e.daddr, 10, 0, 0, 1);
	o = bh_event_json(&e, &namer, &clk);
	CHECK(o != NULL, "no object");
	if (!o)
		return;
	text = json_dumps(o, JSON_COMPACT);
	CHECK(text && !strchr(text, '\n'), "raw newline in the line");
	CHECK(text && strstr(text, "\"comm\":\"\\\"q\\\\"), "escapes: %s", text ? text : "(null)");
	back = json_loads(text, 0, NULL);
	CHECK(back != NULL, "line does not re-parse: %s", text);
	CHECK_STR(json_string_value(json_object_get(back, "comm")), want);
	free(text);
	json_decref(back);
	json_decref(o);

	/* a comm filling all 16 bytes without NUL stays within the record */
	memset(e.comm, 'A', sizeof(e.comm));
	o = bh_event_json(&e, &namer, &clk);
	CHECK_STR(json_string_value(json_object_get(o, "comm")), "AAAAAAAAAAAAAAAA");
	json_decref(o);
}

static void test_addr(void)
{
	uint8_t a[16];
	char buf[INET6_ADDRSTRLEN];

	v4(a, 10, 1, 2, 3);
	CHECK_STR(bh_addr_str(a, buf, sizeof(buf)), "10.1.2.3");
	memset(a, 0, 16);
	CHECK_STR(bh_addr_str(a, buf, sizeof(buf)), "::");
	a[15] = 1;
	CHECK_STR(bh_addr_str(a, buf, sizeof(buf)), "::1");
	memset(a, 0, 16);
	a[0] = 0x20;
	a[1] = 0x01;
	a[2] = 0x0d;
	a[3] = 0xb8;
	a[15] = 1;
	CHECK_STR(bh_addr_str(a, buf, sizeof(buf)), "2001:db8::1");
	/* ::ffff:0:a.b.c.d (SIIT) is not v4-mapped */
	memset(a, 0, 16);
	a[8] = a[9] = 0xff;
	a[15] = 1;
	CHECK_STR(bh_addr_str(a, buf, sizeof(buf)), "::ffff:0:0:1");
}

/* ---- schema v1 objects ---- */

static void test_json_deny_connect(void)
{
	struct bh_event e = {
		.ts_boot_ns = 6234567891ull, .cgroup_id = 4242, .cookie = 8193, .count = 1,
		.partner = 3, .grant = 0, .pid = 4711, .tid = 4712, .uid = 1000,
		.sport = 0, .dport = 5432, .type = BH_EV_DECISION, .hook = BH_HOOK_CONNECT,
		.verdict = BH_VERDICT_DENY, .reason = BH_REASON_NO_GRANT,
		.proto = BH_PROTO_TCP, .flags = BH_EVF_TASK, .comm = "curl",
	};
	json_t *o;
	char *text;

	v4(e.daddr, 10, 30, 0, 5);
	o = bh_event_json(&e, &namer, &clk);
	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	/* the key order is part of what people read: fixed head */
	static const char head[] = "{\"v\":1,\"ts\":\"2026-11-23T11:20:32.234567Z\","
				   "\"type\":\"connect\",\"partner\":\"acme\",";
	CHECK(text && !strncmp(text, head, sizeof(head) - 1), "head: %s", text ? text : "(null)");
	free(text);
	check_obj(o, "{\"v\":1,\"ts\":\"2026-11-23T11:20:32.234567Z\",\"type\":\"connect\","
		  "\"partner\":\"acme\",\"partner_id\":3,\"verdict\":\"deny\","
		  "\"reason\":\"no_grant\",\"hook\":\"connect\",\"proto\":\"tcp\","
		  "\"dst\":\"10.30.0.5\",\"dport\":5432,\"pid\":4711,\"tid\":4712,"
		  "\"uid\":1000,\"comm\":\"curl\",\"cgroup\":\"partners.slice/acme.service\","
		  "\"cgroup_id\":4242,\"cookie\":8193,\"count\":1}", __LINE__);

	/* with a source address and port, IPv6 */
	memset(e.saddr, 0, 16);
	e.saddr[0] = 0xfd;
	e.saddr[15] = 2;
	memset(e.daddr, 0, 16);
	e.daddr[0] = 0xfd;
	e.daddr[15] = 9;
	e.sport = 40000;
	e.flags |= BH_EVF_V6;
	o = bh_event_json(&e, &namer, &clk);
	CHECK_STR(json_string_value(json_object_get(o, "src")), "fd00::2");
	CHECK(json_integer_value(json_object_get(o, "sport")) == 40000, "sport");
	CHECK_STR(json_string_value(json_object_get(o, "dst")), "fd00::9");
	json_decref(o);
}

static void test_json_audit_send(void)
{
	struct bh_event e = {
		.ts_boot_ns = 5000001000ull, .cgroup_id = 99, .cookie = 77, .count = 1,
		.partner = 4, .pid = 50, .tid = 51, .uid = 0, .sport = 53000, .dport = 53,
		.type = BH_EV_DECISION, .hook = BH_HOOK_SENDMSG, .verdict = BH_VERDICT_AUDIT,
		.reason = BH_REASON_NO_GRANT, .proto = BH_PROTO_UDP, .flags = BH_EVF_TASK,
		.comm = "dig",
	};

	v4(e.daddr, 192, 0, 2, 53);
	/* cgroup 99 has no known path: only its id */
	check_obj(bh_event_json(&e, &namer, &clk),
		  "{\"v\":1,\"ts\":\"2026-11-23T11:20:31.000001Z\",\"type\":\"send\","
		  "\"partner\":\"beta\",\"partner_id\":4,\"verdict\":\"audit\","
		  "\"reason\":\"no_grant\",\"hook\":\"sendmsg\",\"proto\":\"udp\","
		  "\"sport\":53000,\"dst\":\"192.0.2.53\",\"dport\":53,\"pid\":50,\"tid\":51,"
		  "\"uid\":0,\"comm\":\"dig\",\"cgroup_id\":99,\"cookie\":77,\"count\":1}",
		  __LINE__);
}

static void test_json_never_packet(void)
{
	/* an ICMP packet to the metadata service, seen at egress: the task is
	 * the socket's creator (no tid), no ports */
	struct bh_event e = {
		.ts_boot_ns = 5500000000ull, .cgroup_id = 4242, .cookie = 12, .count = 1,
		.partner = 3, .pid = 300, .tid = 0, .uid = 1001, .sport = 0, .dport = 0,
		.type = BH_EV_DECISION, .hook = BH_HOOK_EGRESS, .verdict = BH_VERDICT_DENY,
		.reason = BH_REASON_NEVER, .proto = BH_PROTO_ICMP, .comm = "ping",
	};

	v4(e.daddr, 169, 254, 169, 254);
	check_obj(bh_event_json(&e, &namer, &clk),
		  "{\"v\":1,\"ts\":\"2026-11-23T11:20:31.500000Z\",\"type\":\"packet\","
		  "\"partner\":\"acme\",\"partner_id\":3,\"verdict\":\"deny\","
		  "\"reason\":\"never\",\"hook\":\"egress\",\"proto\":\"icmp\","
		  "\"dst\":\"169.254.169.254\",\"pid\":300,\"uid\":1001,\"comm\":\"ping\","
		  "\"cgroup\":\"partners.slice/acme.service\",\"cgroup_id\":4242,"
		  "\"cookie\":12,\"count\":1}", __LINE__);

	/* a packet of a socket whose creator is unknown (pid 0): no task fields;
	 * BH_PROTO_OTHER is "other" and has no ports either */
	e.pid = 0;
	e.uid = 0;
	memset(e.comm, 0, sizeof(e.comm));
	e.proto = BH_PROTO_OTHER;
	e.dport = 0;
	e.hook = BH_HOOK_INGRESS;
	e.reason = BH_REASON_REVOKED;
	check_obj(bh_event_json(&e, &namer, &clk),
		  "{\"v\":1,\"ts\":\"2026-11-23T11:20:31.500000Z\",\"type\":\"packet\","
		  "\"partner\":\"acme\",\"partner_id\":3,\"verdict\":\"deny\","
		  "\"reason\":\"revoked\",\"hook\":\"ingress\",\"proto\":\"other\","
		  "\"dst\":\"169.254.169.254\",\"cgroup\":\"partners.slice/acme.service\","
		  "\"cgroup_id\":4242,\"cookie\":12,\"count\":1}", __LINE__);
}

static void test_json_unknown_partner(void)
{
	struct bh_event e = {
		.ts_boot_ns = 5000000000ull, .cgroup_id = 555, .cookie = 3, .count = 1,
		.partner = 0, .pid = 9, .tid = 9, .uid = 0, .dport = 22,
		.type = BH_EV_DECISION, .hook = BH_HOOK_CONNECT, .verdict = BH_VERDICT_DENY,
		.reason = BH_REASON_UNKNOWN_PARTNER, .proto = BH_PROTO_TCP,
		.flags = BH_EVF_TASK | BH_EVF_V6, .comm = "ssh",
	};

	v4(e.daddr, 127, 0, 0, 1);	/* an AF_INET6 socket to ::ffff:127.0.0.1 */
	check_obj(bh_event_json(&e, &namer, &clk),
		  "{\"v\":1,\"ts\":\"2026-11-23T11:20:31.000000Z\",\"type\":\"connect\","
		  "\"partner\":null,\"partner_id\":0,\"verdict\":\"deny\","
		  "\"reason\":\"unknown_partner\",\"hook\":\"connect\",\"proto\":\"tcp\","
		  "\"dst\":\"127.0.0.1\",\"dport\":22,\"pid\":9,\"tid\":9,\"uid\":0,"
		  "\"comm\":\"ssh\",\"cgroup_id\":555,\"cookie\":3,\"count\":1}", __LINE__);
}

static void test_json_flow(void)
{
	struct bh_event e = {
		.ts_boot_ns = 7000000000ull, .cgroup_id = 4242, .cookie = 40, .count = 1,
		.partner = 3, .grant = 7, .pid = 60, .tid = 61, .uid = 1000, .sport = 41000,
		.dport = 443, .type = BH_EV_FLOW_NEW, .hook = BH_HOOK_CONNECT,
		.verdict = BH_VERDICT_ALLOW, .reason = BH_REASON_GRANTED,
		.proto = BH_PROTO_TCP, .flags = BH_EVF_TASK, .comm = "curl",
	};

	v4(e.daddr, 10, 20, 1, 10);
	check_obj(bh_event_json(&e, &namer, &clk),
		  "{\"v\":1,\"ts\":\"2026-11-23T11:20:33.000000Z\",\"type\":\"flow\","
		  "\"phase\":\"new\",\"partner\":\"acme\",\"partner_id\":3,"
		  "\"verdict\":\"allow\",\"reason\":\"granted\","
		  "\"grant\":{\"id\":\"acme/2\",\"purpose\":\"billing api\"},"
		  "\"hook\":\"connect\",\"proto\":\"tcp\",\"sport\":41000,"
		  "\"dst\":\"10.20.1.10\",\"dport\":443,\"pid\":60,\"tid\":61,\"uid\":1000,"
		  "\"comm\":\"curl\",\"cgroup\":\"partners.slice/acme.service\","
		  "\"cgroup_id\":4242,\"cookie\":40,\"count\":1}", __LINE__);
}

/* Names that cannot be resolved are left out; the ids stay. */
static void test_json_unresolved(void)
{
	struct bh_event e = {
		.ts_boot_ns = 5000000000ull, .count = 123456, .partner = 9, .grant = 8,
		.type = BH_EV_DECISION, .hook = BH_HOOK_CONNECT, .verdict = BH_VERDICT_DENY,
		.reason = BH_REASON_EXPIRED, .proto = BH_PROTO_TCP, .dport = 443,
	};
	json_t *o;

	v4(e.daddr, 10, 0, 0, 1);
	/* an aggregated record as the daemon builds it from bh_flood: no task */
	check_obj(bh_event_json(&e, &namer, &clk),
		  "{\"v\":1,\"ts\":\"2026-11-23T11:20:31.000000Z\",\"type\":\"connect\","
		  "\"partner_id\":9,\"verdict\":\"deny\",\"reason\":\"expired\","
		  "\"grant\":{\"id\":\"acme/3\"},\"hook\":\"connect\",\"proto\":\"tcp\","
		  "\"dst\":\"10.0.0.1\",\"dport\":443,\"count\":123456}", __LINE__);
	/* no namer at all; unknown enum values */
	e.grant = 7;
	e.verdict = 9;
	e.reason = 200;
	e.hook = 77;
	o = bh_event_json(&e, NULL, &clk);
	CHECK(o && !json_object_get(o, "partner") && !json_object_get(o, "grant"),
	      "names without a namer");
	CHECK_STR(json_string_value(json_object_get(o, "verdict")), "unknown");
	CHECK_STR(json_string_value(json_object_get(o, "reason")), "unknown");
	CHECK_STR(json_string_value(json_object_get(o, "hook")), "unknown");
	CHECK_STR(json_string_value(json_object_get(o, "type")), "packet");
	json_decref(o);
	/* a record type this build does not know is still reported */
	e.type = 42;
	o = bh_event_json(&e, NULL, &clk);
	CHECK_STR(json_string_value(json_object_get(o, "type")), "unknown");
	CHECK(json_integer_value(json_object_get(o, "record_type")) == 42, "record_type");
	json_decref(o);
}

/* A closed flood window as the daemon flushes it from bh_flood. */
static void test_json_flood(void)
{
	struct bh_flood_key k = {
		.window = 6, .partner = 3, .dport = 5432, .proto = BH_PROTO_TCP,
		.reason = BH_REASON_NO_GRANT,
	};
	struct bh_flood_val v = {
		.suppressed = 99999, .last_ts_boot_ns = 6999999999ull,
		.verdict = BH_VERDICT_DENY, .hook = BH_HOOK_CONNECT,
	};
	json_t *o;

	v4(k.daddr, 10, 30, 0, 5);
	o = bh_flood_json(&k, &v, &namer, &clk);
	check_obj(o, "{\"v\":1,\"ts\":\"2026-11-23T11:20:32.999999Z\",\"type\":\"connect\","
		  "\"partner\":\"acme\",\"partner_id\":3,\"verdict\":\"deny\","
		  "\"reason\":\"no_grant\",\"hook\":\"connect\",\"proto\":\"tcp\","
		  "\"dst\":\"10.30.0.5\",\"dport\":5432,\"count\":99999,\"aggregated\":true,"
		  "\"window_start\":\"2026-11-23T11:20:32.000000Z\"}", __LINE__);
}

/* Names from outside (policy, cgroup tree) are sanitised too. */
static const char *bad_cgroup(void *ctx, uint64_t id)
{
	(void)ctx;
	(void)id;
	return "partners.slice/\xff\nevil";
}

static void test_json_bad_names(void)
{
	struct bh_namer n = { .cgroup = bad_cgroup };
	struct bh_event e = { .type = BH_EV_DECISION, .cgroup_id = 1, .count = 1 };
	json_t *o = bh_event_json(&e, &n, &clk), *back;

	back = o ? roundtrip(o) : NULL;
	CHECK_STR(json_string_value(json_object_get(back, "cgroup")),
		  "partners.slice/" FFFD FFFD "evil");
	json_decref(back);
	json_decref(o);
}

static void test_event_new(void)
{
	json_t *o = bh_event_new("lifecycle", NULL), *l;
	const char *ts;

	CHECK(json_integer_value(json_object_get(o, "v")) == 1, "v");
	CHECK_STR(json_string_value(json_object_get(o, "type")), "lifecycle");
	ts = json_string_value(json_object_get(o, "ts"));
	CHECK(ts && strlen(ts) == 27 && ts[26] == 'Z', "ts %s", ts ? ts : "(null)");
	CHECK(!json_object_get(o, "partner"), "no partner for host events");
	CHECK(json_object_size(o) == 3, "size %zu", json_object_size(o));
	json_decref(o);
	o = bh_event_new("policy", "acme");
	CHECK_STR(json_string_value(json_object_get(o, "partner")), "acme");
	json_decref(o);

	l = bh_event_loss("ring", 17, NULL);
	json_object_del(l, "ts");
	check_obj(l, "{\"v\":1,\"type\":\"loss\",\"what\":\"ring\",\"count\":17}", __LINE__);
}

/* ---- the builder: objects reused across records ---- */

/* obj, dumped compact, must be exactly want (key order included). */
static void check_line(const json_t *obj, const char *want, int line)
{
	char *got = obj ? json_dumps(obj, JSON_COMPACT) : NULL;

	CHECK(got && !strcmp(got, want), "line %d:\n  got  %s\n  want %s", line,
	      got ? got : "(null)", want);
	free(got);
}

/* The builder's object for e is the object bh_event_json makes, byte for byte. */
static void check_same(struct bh_event_builder *b, const struct bh_event *e,
		       const struct bh_namer *n, int line)
{
	json_t *fresh = bh_event_json(e, n, &clk);
	char *want = fresh ? json_dumps(fresh, JSON_COMPACT) : NULL;

	check_line(bh_event_build(b, e, n, &clk), want ? want : "(none)", line);
	free(want);
	json_decref(fresh);
}

/* One builder through records of every shape: each line is exact, and no
 * field, value or grant purpose of a record shows up in the next. */
static void test_builder_lines(void)
{
	struct bh_event_builder *b = bh_event_builder_new();
	struct bh_event flow = {
		.ts_boot_ns = 7000000000ull, .cgroup_id = 4242, .cookie = 40, .count = 1,
		.partner = 3, .grant = 7, .pid = 60, .tid = 61, .uid = 1000, .sport = 41000,
		.dport = 443, .type = BH_EV_FLOW_NEW, .hook = BH_HOOK_CONNECT,
		.verdict = BH_VERDICT_ALLOW, .reason = BH_REASON_GRANTED,
		.proto = BH_PROTO_TCP, .flags = BH_EVF_TASK, .comm = "curl",
	};
	struct bh_event pkt = {
		.ts_boot_ns = 5000000000ull, .count = 1, .partner = 0, .type = BH_EV_DECISION,
		.hook = BH_HOOK_INGRESS, .verdict = BH_VERDICT_DENY,
		.reason = BH_REASON_UNKNOWN_PARTNER, .proto = BH_PROTO_OTHER,
	};
	struct bh_event conn = {
		.ts_boot_ns = 5000000000ull, .cgroup_id = 555, .cookie = 3, .count = 1,
		.partner = 9, .pid = 9, .tid = 9, .dport = 22, .type = BH_EV_DECISION,
		.hook = BH_HOOK_CONNECT, .verdict = BH_VERDICT_DENY,
		.reason = BH_REASON_NO_GRANT, .proto = BH_PROTO_TCP, .flags = BH_EVF_TASK,
		.comm = "curl",
	};
	struct bh_flood_key k = {
		.window = 6, .partner = 3, .dport = 5432, .proto = BH_PROTO_TCP,
		.reason = BH_REASON_NO_GRANT,
	};
	struct bh_flood_val v = {
		.suppressed = 99999, .last_ts_boot_ns = 6999999999ull,
		.verdict = BH_VERDICT_DENY, .hook = BH_HOOK_CONNECT,
	};
	static const char flow_line[] =
		"{\"v\":1,\"ts\":\"2026-11-23T11:20:33.000000Z\",\"type\":\"flow\","
		"\"phase\":\"new\",\"partner\":\"acme\",\"partner_id\":3,\"verdict\":\"allow\","
		"\"reason\":\"granted\",\"grant\":{\"id\":\"acme/2\",\"purpose\":\"billing api\"},"
		"\"hook\":\"connect\",\"proto\":\"tcp\",\"sport\":41000,\"dst\":\"10.20.1.10\","
		"\"dport\":443,\"pid\":60,\"tid\":61,\"uid\":1000,\"comm\":\"curl\","
		"\"cgroup\":\"partners.slice/acme.service\",\"cgroup_id\":4242,\"cookie\":40,"
		"\"count\":1}";
	const json_t *o;

	if (!b) {
		CHECK(0, "no builder");
		return;
	}
	v4(flow.daddr, 10, 20, 1, 10);
	check_line(bh_event_build(b, &flow, &namer, &clk), flow_line, __LINE__);

	/* a grant without a purpose, another address, another process */
	flow.grant = 8;
	flow.daddr[15] = 11;
	memcpy(flow.comm, "python3\0\0\0\0\0\0\0\0", sizeof(flow.comm));
	flow.cookie = 41;
	check_line(bh_event_build(b, &flow, &namer, &clk),
		   "{\"v\":1,\"ts\":\"2026-11-23T11:20:33.000000Z\",\"type\":\"flow\","
		   "\"phase\":\"new\",\"partner\":\"acme\",\"partner_id\":3,\"verdict\":\"allow\","
		   "\"reason\":\"granted\",\"grant\":{\"id\":\"acme/3\"},\"hook\":\"connect\","
		   "\"proto\":\"tcp\",\"sport\":41000,\"dst\":\"10.20.1.11\",\"dport\":443,"
		   "\"pid\":60,\"tid\":61,\"uid\":1000,\"comm\":\"python3\","
		   "\"cgroup\":\"partners.slice/acme.service\",\"cgroup_id\":4242,\"cookie\":41,"
		   "\"count\":1}", __LINE__);

	/* no partner, no task, no ports, no cgroup, no cookie; IPv6 with a source */
	memset(pkt.saddr, 0, 16);
	pkt.saddr[0] = 0xfd;
	pkt.saddr[15] = 2;
	memset(pkt.daddr, 0, 16);
	pkt.daddr[0] = 0xfd;
	pkt.daddr[15] = 9;
	check_line(bh_event_build(b, &pkt, &namer, &clk),
		   "{\"v\":1,\"ts\":\"2026-11-23T11:20:31.000000Z\",\"type\":\"packet\","
		   "\"partner\":null,\"partner_id\":0,\"verdict\":\"deny\","
		   "\"reason\":\"unknown_partner\",\"hook\":\"ingress\",\"proto\":\"other\","
		   "\"src\":\"fd00::2\",\"dst\":\"fd00::9\",\"count\":1}", __LINE__);

	/* a partner id without a name: no "partner" at all; the address and
	 * comm of two records ago again */
	v4(conn.daddr, 10, 20, 1, 10);
	check_line(bh_event_build(b, &conn, &namer, &clk),
		   "{\"v\":1,\"ts\":\"2026-11-23T11:20:31.000000Z\",\"type\":\"connect\","
		   "\"partner_id\":9,\"verdict\":\"deny\",\"reason\":\"no_grant\","
		   "\"hook\":\"connect\",\"proto\":\"tcp\",\"dst\":\"10.20.1.10\",\"dport\":22,"
		   "\"pid\":9,\"tid\":9,\"uid\":0,\"comm\":\"curl\",\"cgroup_id\":555,"
		   "\"cookie\":3,\"count\":1}", __LINE__);

	/* an aggregated line, then a plain one: nothing of it stays */
	v4(k.daddr, 10, 30, 0, 5);
	check_line(bh_flood_build(b, &k, &v, &namer, &clk),
		   "{\"v\":1,\"ts\":\"2026-11-23T11:20:32.999999Z\",\"type\":\"connect\","
		   "\"partner\":\"acme\",\"partner_id\":3,\"verdict\":\"deny\","
		   "\"reason\":\"no_grant\",\"hook\":\"connect\",\"proto\":\"tcp\","
		   "\"dst\":\"10.30.0.5\",\"dport\":5432,\"count\":99999,\"aggregated\":true,"
		   "\"window_start\":\"2026-11-23T11:20:32.000000Z\"}", __LINE__);

	/* the first record again: its purpose comes back after the id */
	flow.grant = 7;
	flow.daddr[15] = 10;
	memcpy(flow.comm, "curl\0\0\0\0\0\0\0\0\0\0\0\0", sizeof(flow.comm));
	flow.cookie = 40;
	o = bh_event_build(b, &flow, &namer, &clk);
	check_line(o, flow_line, __LINE__);


	/* a record type this build does not know */
	conn.type = 42;
	check_same(b, &conn, &namer, __LINE__);
	CHECK(json_integer_value(json_object_get(bh_event_build(b, &conn, &namer, &clk),
						 "record_type")) == 42, "record_type");
	bh_event_builder_free(b);
	bh_event_builder_free(NULL);
}

/* Hostile names and comms through a reused builder: sanitised every time,
 * and a clean value after a hostile one is shown as it is. */
static void test_builder_strings(void)
{
	static const uint8_t bad_comm[BH_TASK_COMM_LEN] = { 'a', '"', '\\', '\n', 0xff, 'z' };
	struct bh_event_builder *b = bh_event_builder_new();
	struct bh_namer bad = { .partner = t_partner, .cgroup = bad_cgroup };
	struct bh_event e = {
		.ts_boot_ns = 5000000000ull, .cgroup_id = 4242, .count = 1, .partner = 3,
		.pid = 1, .tid = 1, .type = BH_EV_DECISION, .hook = BH_HOOK_CONNECT,
		.verdict = BH_VERDICT_DENY, .reason = BH_REASON_NO_GRANT,
		.proto = BH_PROTO_TCP, .flags = BH_EVF_TASK, .comm = "ok",
	};
	int i;

	if (!b) {
		CHECK(0, "no builder");
		return;
	}
	v4(e.daddr, 10, 0, 0, 1);
	for (i = 0; i < 2; i++) {
		const json_t *o = bh_event_build(b, &e, &namer, &clk);

		CHECK_STR(json_string_value(json_object_get(o, "cgroup")),
			  "partners.slice/acme.service");
		CHECK_STR(json_string_value(json_object_get(o, "comm")), "ok");
		memcpy(e.comm, bad_comm, sizeof(e.comm));
		o = bh_event_build(b, &e, &bad, &clk);
		CHECK_STR(json_string_value(json_object_get(o, "cgroup")),
			  "partners.slice/" FFFD FFFD "evil");
		CHECK_STR(json_string_value(json_object_get(o, "comm")), "a\"\\" FFFD FFFD "z");
		memcpy(e.comm, "ok\0\0\0\0\0\0\0\0\0\0\0\0\0\0", sizeof(e.comm));
	}
	/* a comm that differs only after its NUL is the same comm */
	e.comm[5] = 'x';
	CHECK_STR(json_string_value(json_object_get(bh_event_build(b, &e, &namer, &clk),
						    "comm")), "ok");
	bh_event_builder_free(b);
}

/* More shapes than the builder keeps, in and out of order: every line is
 * the one a fresh object gives. */
static void test_builder_shapes(void)
{
	struct bh_event_builder *b = bh_event_builder_new();
	struct bh_event e = {
		.ts_boot_ns = 5000000000ull, .count = 1, .partner = 3, .type = BH_EV_DECISION,
		.hook = BH_HOOK_EGRESS, .verdict = BH_VERDICT_DENY, .reason = BH_REASON_NEVER,
		.proto = BH_PROTO_UDP, .dport = 53, .comm = "dig",
	};
	int pass, i;

	if (!b) {
		CHECK(0, "no builder");
		return;
	}
	v4(e.daddr, 192, 0, 2, 53);
	for (pass = 0; pass < 3; pass++)
		for (i = 0; i < 64; i++) {
			int s = pass == 1 ? 63 - i : (i * 37) % 64;

			e.ts_boot_ns += 1000;
			e.cookie = s & 1 ? 100 + i : 0;
			e.cgroup_id = s & 2 ? 4242 : 0;
			e.pid = s & 4 ? 77 : 0;
			e.flags = s & 8 ? BH_EVF_TASK : 0;
			e.sport = s & 16 ? 5353 : 0;
			e.grant = s & 32 ? (i & 1 ? 7 : 8) : 0;
			e.type = s & 32 ? BH_EV_FLOW_NEW : BH_EV_DECISION;
			check_same(b, &e, &namer, __LINE__);
		}
	bh_event_builder_free(b);
}

/* Random records (fixed seed) through one builder, floods among them: each
 * line is the one a fresh object gives, whatever came before. */
static const char *r_partner(void *ctx, uint32_t id)
{
	(void)ctx;
	return id == 3 ? "acme" : id == 4 ? "be\xfft\na" : id == 5 ? "" : NULL;
}

static int r_grant(void *ctx, uint32_t id, const char **text, const char **purpose)
{
	(void)ctx;
	if (id == 9) {
		*text = "x\x80y";
		*purpose = "q\"\\";
		return 0;
	}
	return t_grant(ctx, id, text, purpose);
}

static const char *r_cgroup(void *ctx, uint64_t id)
{
	(void)ctx;
	return id % 3 == 0 ? NULL : id % 3 == 1 ? "partners.slice/acme.service" : "bad/\xc3\x28/x";
}

static uint32_t rnd(uint64_t *state)
{
	*state = *state * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(*state >> 33);
}

static void test_builder_random(void)
{
	static const uint8_t protos[] = { BH_PROTO_ANY, BH_PROTO_ICMP, BH_PROTO_TCP, BH_PROTO_UDP,
					  BH_PROTO_OTHER };
	const struct bh_namer n = { .partner = r_partner, .grant = r_grant, .cgroup = r_cgroup };
	struct bh_event_builder *b = bh_event_builder_new();
	uint64_t seed = 42;
	int i, j, bad = 0;

	for (i = 0; b && i < 3000 && bad < 3; i++) {
		struct bh_event e = {
			.ts_boot_ns = (uint64_t)rnd(&seed) * 1000 + rnd(&seed) % 1000,
			.cgroup_id = rnd(&seed) % 4 ? rnd(&seed) % 9 : 0,
			.cookie = rnd(&seed) % 3 ? rnd(&seed) : 0,
			.count = rnd(&seed) % 5 ? 1 : (uint64_t)rnd(&seed) << 32 | rnd(&seed),
			.partner = rnd(&seed) % 7, .grant = rnd(&seed) % 3 ? 0 : 6 + rnd(&seed) % 5,
			.pid = rnd(&seed) % 3 ? rnd(&seed) : 0, .tid = rnd(&seed),
			.uid = rnd(&seed) % 2000, .sport = rnd(&seed) % 2 ? rnd(&seed) : 0,
			.dport = rnd(&seed),
			.type = rnd(&seed) % 10 ? rnd(&seed) % 2 : rnd(&seed) % 256,
			.hook = rnd(&seed) % 6, .verdict = rnd(&seed) % 5, .reason = rnd(&seed) % 8,
			.proto = protos[rnd(&seed) % sizeof(protos)], .flags = rnd(&seed) % 4,
		};
		struct bh_flood_key k;
		struct bh_flood_val v;
		json_t *fresh;
		char *want;

		for (j = 0; j < 16; j++) {
			e.saddr[j] = rnd(&seed) % 3 ? 0 : rnd(&seed);
			e.daddr[j] = rnd(&seed) % 2 ? 0 : rnd(&seed);
			e.comm[j] = rnd(&seed) % 3 ? "python3"[j % 8] : (char)rnd(&seed);
		}
		if (rnd(&seed) % 2)
			v4(e.daddr, 10, 0, e.daddr[14], e.daddr[15]);
		if (rnd(&seed) % 8) {
			check_same(b, &e, &n, __LINE__);
			bad += T_FAILED();
			continue;
		}
		k = (struct bh_flood_key){ .window = rnd(&seed) % 100, .partner = e.partner,
					   .dport = e.dport, .proto = e.proto,
					   .reason = e.reason };
		v = (struct bh_flood_val){ .suppressed = rnd(&seed), .uid = e.uid,
					   .last_ts_boot_ns = e.ts_boot_ns,
					   .cgroup_id = e.cgroup_id, .verdict = e.verdict,
					   .hook = e.hook };
		memcpy(k.daddr, e.daddr, sizeof(k.daddr));
		memcpy(v.comm, e.comm, sizeof(v.comm));
		fresh = bh_flood_json(&k, &v, &n, &clk);
		want = fresh ? json_dumps(fresh, JSON_COMPACT) : NULL;
		check_line(bh_flood_build(b, &k, &v, &n, &clk), want ? want : "(none)", __LINE__);
		bad += T_FAILED();
		free(want);
		json_decref(fresh);
	}
	CHECK(b, "no builder");
	bh_event_builder_free(b);
}

/* ---- writer ---- */

static char tmpdir[64];

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

static void rm_rf(const char *p)
{
	nftw(p, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static char *path_of(const char *dir, const char *name)
{
	static char buf[4][256];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
	return buf[i];
}

/* Every line of a file, parsed; NULL when the file is missing. A line that
 * is not a JSON object fails the current test. */
static json_t *read_lines(const char *path)
{
	FILE *f = fopen(path, "r");
	json_t *arr;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (!f)
		return NULL;
	arr = json_array();
	while ((n = getline(&line, &cap, f)) > 0) {
		json_t *o;

		CHECK(line[n - 1] == '\n', "%s: last line has no newline", path);
		o = json_loads(line, 0, NULL);
		CHECK(json_is_object(o), "%s: not a JSON object: %.200s", path, line);
		json_array_append_new(arr, o ? o : json_null());
	}
	free(line);
	fclose(f);
	return arr;
}

static size_t nlines(const char *path)
{
	json_t *a = read_lines(path);
	size_t n = a ? json_array_size(a) : (size_t)-1;

	json_decref(a);
	return n;
}

static json_t *ev(const char *type, int seq)
{
	json_t *o = bh_event_new(type, NULL);

	json_object_set_new(o, "seq", json_integer(seq));
	return o;
}

static const char *str_at(json_t *arr, size_t i, const char *key)
{
	return json_string_value(json_object_get(json_array_get(arr, i), key));
}

static json_int_t int_at(json_t *arr, size_t i, const char *key)
{
	return json_integer_value(json_object_get(json_array_get(arr, i), key));
}

static void test_writer_files(void)
{
	struct bh_writer *w;
	struct bh_writer_stats st;
	struct stat sb;
	char dir[128];
	json_t *a;

	snprintf(dir, sizeof(dir), "%s/files/sub", tmpdir);	/* created, parents too */
	CHECK(bh_writer_open(&w, dir, 0) == 0, "open");
	if (!w)
		return;
	CHECK(stat(path_of(dir, "host.jsonl"), &sb) == 0 && (sb.st_mode & 0777) == 0640,
	      "host.jsonl created at open, mode 0640 (%o)", sb.st_mode & 0777);
	CHECK(stat(dir, &sb) == 0 && (sb.st_mode & 0777) == 0750, "LOGDIR mode 0750");
	bh_writer_emit(w, "acme", ev("connect", 1));
	bh_writer_emit(w, "beta", ev("connect", 2));
	bh_writer_emit(w, "acme", ev("connect", 3));
	bh_writer_emit(w, NULL, ev("lifecycle", 4));
	bh_writer_emit(w, "../evil", ev("connect", 5));	/* refused as a file name */
	bh_writer_emit(w, "host", ev("connect", 6));	/* would be host.jsonl anyway */
	bh_writer_emit(w, ".hidden", ev("connect", 7));
	bh_writer_emit_both(w, "acme", ev("policy", 8));
	bh_writer_emit(w, "acme", NULL);		/* ignored */
	CHECK(nlines(path_of(dir, "acme.jsonl")) == (size_t)-1, "lazy: nothing before flush");
	bh_writer_flush(w);

	a = read_lines(path_of(dir, "acme.jsonl"));
	CHECK(json_array_size(a) == 3 && int_at(a, 0, "seq") == 1 && int_at(a, 1, "seq") == 3 &&
	      int_at(a, 2, "seq") == 8, "acme.jsonl");
	json_decref(a);
	CHECK(stat(path_of(dir, "acme.jsonl"), &sb) == 0 && (sb.st_mode & 0777) == 0640,
	      "acme.jsonl mode %o", sb.st_mode & 0777);
	a = read_lines(path_of(dir, "beta.jsonl"));
	CHECK(json_array_size(a) == 1 && int_at(a, 0, "seq") == 2, "beta.jsonl");
	json_decref(a);
	a = read_lines(path_of(dir, "host.jsonl"));
	CHECK(json_array_size(a) == 5, "host.jsonl has %zu lines", json_array_size(a));
	CHECK(int_at(a, 0, "seq") == 4 && !json_object_get(json_array_get(a, 0), "partner"),
	      "host line");
	CHECK(int_at(a, 1, "seq") == 5, "refused name");
	CHECK_STR(str_at(a, 1, "partner"), "../evil");
	CHECK_STR(str_at(a, 2, "partner"), "host");
	CHECK_STR(str_at(a, 3, "partner"), ".hidden");
	CHECK(int_at(a, 4, "seq") == 8, "emit_both copy");
	json_decref(a);
	CHECK(access(path_of(tmpdir, "files/evil.jsonl"), F_OK) != 0, "no file outside LOGDIR");
	CHECK(access(path_of(dir, ".hidden.jsonl"), F_OK) != 0, "no hidden file");

	bh_writer_stats(w, &st);
	CHECK(st.lines == 9 && st.failed == 0, "stats lines %llu failed %llu",
	      (unsigned long long)st.lines, (unsigned long long)st.failed);
	bh_writer_close(w);

	/* an existing file is appended to, not truncated */
	CHECK(bh_writer_open(&w, dir, 0) == 0, "reopen writer");
	bh_writer_emit(w, "acme", ev("connect", 9));
	bh_writer_close(w);	/* close flushes */
	CHECK(nlines(path_of(dir, "acme.jsonl")) == 4, "appended");

	/* a LOGDIR that cannot be created is an error at open */
	CHECK(bh_writer_open(&w, "/proc/bulkhead-test/x", 0) < 0 && !w, "bad LOGDIR");
	CHECK(bh_writer_open(&w, NULL, 0) == -EINVAL, "no destination");
}

/* Buffering: many lines, lines bigger than the buffer, all intact. */
static void test_writer_volume(void)
{
	struct bh_writer *w;
	char dir[128], *big;
	json_t *a, *o;
	int i;

	snprintf(dir, sizeof(dir), "%s/volume", tmpdir);
	if (bh_writer_open(&w, dir, 0))
		{ CHECK(0, "open"); return; }
	for (i = 0; i < 20000; i++)
		bh_writer_emit(w, i % 3 ? "acme" : "beta", ev("connect", i));
	big = malloc(200000);
	memset(big, 'x', 199999);
	big[199999] = '\0';
	o = ev("connect", -1);
	json_object_set_new(o, "big", json_string(big));
	bh_writer_emit(w, "acme", o);
	bh_writer_emit(w, "acme", ev("connect", 20000));
	bh_writer_close(w);
	a = read_lines(path_of(dir, "acme.jsonl"));
	CHECK(json_array_size(a) == 13333 + 2, "acme lines %zu", json_array_size(a));
	CHECK(strlen(str_at(a, 13333, "big") ? str_at(a, 13333, "big") : "") == 199999,
	      "big line intact");
	for (i = 1; i < (int)json_array_size(a) - 2; i++)
		if (int_at(a, i, "seq") <= int_at(a, i - 1, "seq")) {
			CHECK(0, "order at %d", i);
			break;
		}
	json_decref(a);
	CHECK(nlines(path_of(dir, "beta.jsonl")) == 6667, "beta lines");
	free(big);
}

/* logrotate: rename, SIGHUP (reopen), the next line goes to a new file. */
static void test_writer_rotate(void)
{
	struct bh_writer *w;
	char dir[128];

	snprintf(dir, sizeof(dir), "%s/rotate", tmpdir);
	if (bh_writer_open(&w, dir, 0))
		{ CHECK(0, "open"); return; }
	bh_writer_emit(w, "acme", ev("connect", 1));
	bh_writer_emit(w, NULL, ev("lifecycle", 1));
	bh_writer_flush(w);
	CHECK(rename(path_of(dir, "acme.jsonl"), path_of(dir, "acme.jsonl.1")) == 0, "mv");
	CHECK(rename(path_of(dir, "host.jsonl"), path_of(dir, "host.jsonl.1")) == 0, "mv");
	bh_writer_emit(w, "acme", ev("connect", 2));	/* before SIGHUP: old file */
	bh_writer_reopen(w);
	bh_writer_emit(w, "acme", ev("connect", 3));
	bh_writer_emit(w, NULL, ev("lifecycle", 3));
	bh_writer_flush(w);
	CHECK(nlines(path_of(dir, "acme.jsonl.1")) == 2, "old file got the line before HUP");
	CHECK(nlines(path_of(dir, "acme.jsonl")) == 1, "new acme.jsonl");
	CHECK(nlines(path_of(dir, "host.jsonl.1")) == 1, "old host");
	CHECK(nlines(path_of(dir, "host.jsonl")) == 1, "new host");

	/* rotated and deleted without SIGHUP: the writer notices and recreates */
	unlink(path_of(dir, "acme.jsonl"));
	bh_writer_emit(w, "acme", ev("connect", 4));
	bh_writer_flush(w);
	CHECK(nlines(path_of(dir, "acme.jsonl")) == 1, "recreated after unlink");
	bh_writer_close(w);
}

/* The LOGDIR removed: lines are counted, reopen recreates it, and the loss
 * is reported in host.jsonl and in the partner file. */
static void test_writer_dir_removed(void)
{
	struct bh_writer *w;
	struct bh_writer_stats st;
	char dir[128];
	json_t *a;

	snprintf(dir, sizeof(dir), "%s/removed", tmpdir);
	if (bh_writer_open(&w, dir, 0))
		{ CHECK(0, "open"); return; }
	bh_writer_emit(w, "acme", ev("connect", 1));
	bh_writer_flush(w);
	rm_rf(dir);
	bh_writer_emit(w, "acme", ev("connect", 2));
	bh_writer_emit(w, "acme", ev("connect", 3));
	bh_writer_emit(w, NULL, ev("lifecycle", 4));
	bh_writer_flush(w);
	bh_writer_stats(w, &st);
	CHECK(st.failed == 3 && st.failed_reported == 0, "failed %llu reported %llu",
	      (unsigned long long)st.failed, (unsigned long long)st.failed_reported);
	CHECK(access(dir, F_OK) != 0, "not recreated behind the admin's back");

	bh_writer_reopen(w);	/* SIGHUP */
	CHECK(access(dir, F_OK) == 0, "LOGDIR recreated on reopen");
	bh_writer_emit(w, "acme", ev("connect", 5));
	bh_writer_flush(w);
	bh_writer_stats(w, &st);
	CHECK(st.failed == 3 && st.failed_reported == 3, "reported %llu",
	      (unsigned long long)st.failed_reported);

	a = read_lines(path_of(dir, "host.jsonl"));
	CHECK(json_array_size(a) == 1, "host lines %zu", json_array_size(a));
	CHECK_STR(str_at(a, 0, "type"), "loss");
	CHECK_STR(str_at(a, 0, "what"), "log_write");
	CHECK(int_at(a, 0, "count") == 3, "host loss count %lld", (long long)int_at(a, 0, "count"));
	CHECK_STR(str_at(a, 0, "error"), strerror(ENOENT));
	json_decref(a);
	a = read_lines(path_of(dir, "acme.jsonl"));
	CHECK(json_array_size(a) == 2, "acme lines %zu", json_array_size(a));
	CHECK_STR(str_at(a, 0, "type"), "loss");	/* first the loss, then the line */
	CHECK_STR(str_at(a, 0, "partner"), "acme");
	CHECK(int_at(a, 0, "count") == 2, "acme loss count %lld", (long long)int_at(a, 0, "count"));
	CHECK(int_at(a, 1, "seq") == 5, "then the line");
	json_decref(a);

	/* reported once: nothing more */
	bh_writer_emit(w, "acme", ev("connect", 6));
	bh_writer_emit(w, NULL, ev("lifecycle", 6));
	bh_writer_flush(w);
	CHECK(nlines(path_of(dir, "acme.jsonl")) == 3, "no second loss line");
	CHECK(nlines(path_of(dir, "host.jsonl")) == 2, "no second host loss line");
	bh_writer_close(w);
}

/* A full disk, simulated with /dev/full (ENOSPC on every write). */
static void test_writer_enospc(void)
{
	struct bh_writer *w;
	struct bh_writer_stats st;
	char dir[128];
	json_t *a;
	int i;

	snprintf(dir, sizeof(dir), "%s/full", tmpdir);
	if (bh_writer_open(&w, dir, 0))
		{ CHECK(0, "open"); return; }
	bh_writer_emit(w, "acme", ev("connect", 0));
	bh_writer_flush(w);
	CHECK(bh_writer_test_redirect(w, "acme", open("/dev/full", O_WRONLY | O_CLOEXEC)) == 0,
	      "redirect acme");
	CHECK(bh_writer_test_redirect(w, NULL, open("/dev/full", O_WRONLY | O_CLOEXEC)) == 0,
	      "redirect host");
	for (i = 1; i <= 5; i++)
		bh_writer_emit(w, "acme", ev("connect", i));
	bh_writer_flush(w);
	bh_writer_emit(w, NULL, ev("lifecycle", 6));
	bh_writer_emit(w, "acme", ev("connect", 7));
	bh_writer_flush(w);	/* host loss line fails too: not counted as a line */
	bh_writer_stats(w, &st);
	CHECK(st.failed == 7 && st.failed_reported == 0 && st.lines == 1,
	      "failed %llu reported %llu lines %llu", (unsigned long long)st.failed,
	      (unsigned long long)st.failed_reported, (unsigned long long)st.lines);

	/* space again (logrotate freed some, SIGHUP) */
	bh_writer_reopen(w);
	bh_writer_emit(w, "acme", ev("connect", 8));
	bh_writer_flush(w);
	bh_writer_stats(w, &st);
	CHECK(st.failed == 7 && st.failed_reported == 7 && st.lines == 2,
	      "after: failed %llu reported %llu lines %llu", (unsigned long long)st.failed,
	      (unsigned long long)st.failed_reported, (unsigned long long)st.lines);
	a = read_lines(path_of(dir, "acme.jsonl"));
	CHECK(json_array_size(a) == 3, "acme lines %zu", json_array_size(a));
	CHECK(int_at(a, 0, "seq") == 0, "line before the disk filled");
	CHECK_STR(str_at(a, 1, "type"), "loss");
	CHECK(int_at(a, 1, "count") == 6, "acme loss %lld", (long long)int_at(a, 1, "count"));
	CHECK_STR(str_at(a, 1, "error"), strerror(ENOSPC));
	CHECK(int_at(a, 2, "seq") == 8, "line after");
	json_decref(a);
	a = read_lines(path_of(dir, "host.jsonl"));
	CHECK(json_array_size(a) == 1, "host lines %zu", json_array_size(a));
	CHECK_STR(str_at(a, 0, "type"), "loss");
	CHECK(int_at(a, 0, "count") == 7, "host loss %lld", (long long)int_at(a, 0, "count"));
	CHECK_STR(str_at(a, 0, "error"), strerror(ENOSPC));
	json_decref(a);
	bh_writer_close(w);
}

/* A write that stops part way (here RLIMIT_FSIZE: the kernel writes up to the
 * limit, then EFBIG): whole lines stay, the torn one is cut off. */
static void test_writer_torn(void)
{
	struct bh_writer *w;
	struct bh_writer_stats st;
	struct rlimit old, lim;
	struct stat sb;
	char dir[128];
	json_t *a;
	int i;

	snprintf(dir, sizeof(dir), "%s/torn", tmpdir);
	if (bh_writer_open(&w, dir, 0))
		{ CHECK(0, "open"); return; }
	bh_writer_emit(w, "acme", ev("connect", 0));
	bh_writer_flush(w);
	stat(path_of(dir, "acme.jsonl"), &sb);
	signal(SIGXFSZ, SIG_IGN);
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = sb.st_size * 5 / 2;	/* room for 1.5 more lines */
	setrlimit(RLIMIT_FSIZE, &lim);
	for (i = 1; i <= 4; i++)
		bh_writer_emit(w, "acme", ev("connect", i));
	bh_writer_flush(w);
	setrlimit(RLIMIT_FSIZE, &old);
	signal(SIGXFSZ, SIG_DFL);
	bh_writer_stats(w, &st);
	CHECK(st.lines == 2 && st.failed == 3, "lines %llu failed %llu",
	      (unsigned long long)st.lines, (unsigned long long)st.failed);
	bh_writer_emit(w, "acme", ev("connect", 5));
	bh_writer_flush(w);
	a = read_lines(path_of(dir, "acme.jsonl"));	/* every line parses */
	CHECK(json_array_size(a) == 4, "lines %zu", json_array_size(a));
	CHECK(int_at(a, 0, "seq") == 0 && int_at(a, 1, "seq") == 1, "whole lines kept");
	CHECK_STR(str_at(a, 2, "type"), "loss");
	CHECK(int_at(a, 2, "count") == 3, "loss count");
	CHECK(int_at(a, 3, "seq") == 5, "next line");
	json_decref(a);
	bh_writer_close(w);
}

/* More partners than descriptors: the least recently used file is closed. */
static void test_writer_many_files(void)
{
	struct bh_writer *w;
	struct bh_writer_stats st;
	struct rlimit old, lim;
	char dir[128], name[32];
	int i, j, ok = 1;

	snprintf(dir, sizeof(dir), "%s/many", tmpdir);
	if (bh_writer_open(&w, dir, 0))
		{ CHECK(0, "open"); return; }
	getrlimit(RLIMIT_NOFILE, &old);
	lim = old;
	lim.rlim_cur = 32;
	setrlimit(RLIMIT_NOFILE, &lim);
	for (j = 0; j < 3; j++) {
		for (i = 0; i < 100; i++) {
			snprintf(name, sizeof(name), "p%03d", i);
			bh_writer_emit(w, name, ev("connect", j));
		}
		bh_writer_flush(w);
	}
	setrlimit(RLIMIT_NOFILE, &old);
	bh_writer_stats(w, &st);
	CHECK(st.failed == 0 && st.lines == 300, "failed %llu lines %llu",
	      (unsigned long long)st.failed, (unsigned long long)st.lines);
	for (i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "p%03d.jsonl", i);
		ok &= nlines(path_of(dir, name)) == 3;
	}
	CHECK(ok, "every partner file has its 3 lines");
	bh_writer_close(w);
}

/* --stdout: every line, partner or host, on stdout. */
static void test_writer_stdout(void)
{
	struct bh_writer *w = NULL;
	char path[128];
	int fd, saved;
	json_t *a;

	snprintf(path, sizeof(path), "%s/stdout.jsonl", tmpdir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	dup2(fd, STDOUT_FILENO);
	close(fd);
	CHECK(bh_writer_open(&w, NULL, 1) == 0, "open");
	dup2(saved, STDOUT_FILENO);	/* the writer keeps its own copy */
	close(saved);
	if (!w)
		return;
	bh_writer_emit(w, "acme", ev("connect", 1));
	bh_writer_emit(w, NULL, ev("lifecycle", 2));
	bh_writer_emit_both(w, "acme", ev("policy", 3));	/* once on one stream */
	bh_writer_reopen(w);	/* flushes; stdout stays */
	bh_writer_emit(w, "beta", ev("connect", 4));
	bh_writer_close(w);
	a = read_lines(path);
	CHECK(json_array_size(a) == 4 && int_at(a, 0, "seq") == 1 && int_at(a, 3, "seq") == 4,
	      "stdout lines %zu", json_array_size(a));
	json_decref(a);
}

/* --stdout into a full non-blocking pipe: the write stops part way (EAGAIN),
 * the writer never waits; a pipe cannot be cut back, so the torn line is
 * closed with a newline, then the loss line, then the next lines. */
static void test_writer_stdout_pipe(void)
{
	struct bh_writer *w = NULL;
	struct bh_writer_stats st;
	int p[2], saved, i, whole = 0, bad = 0, seq_after = -1;
	json_int_t lost = -1;
	char *data = malloc(1 << 20), *line, *save = NULL;
	size_t len = 0;
	ssize_t r;

	if (!data || pipe2(p, O_CLOEXEC)) {
		CHECK(0, "pipe");
		free(data);
		return;
	}
	fcntl(p[1], F_SETPIPE_SZ, 4096);
	fcntl(p[1], F_SETFL, O_NONBLOCK);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	dup2(p[1], STDOUT_FILENO);
	CHECK(bh_writer_open(&w, NULL, 1) == 0, "open");
	dup2(saved, STDOUT_FILENO);
	close(saved);
	close(p[1]);
	if (!w)
		goto out;
	for (i = 0; i < 100; i++)
		bh_writer_emit(w, "acme", ev("connect", i));
	bh_writer_flush(w);	/* must return, not block */
	bh_writer_stats(w, &st);
	CHECK(st.failed > 0 && st.lines + st.failed == 100, "lines %llu failed %llu",
	      (unsigned long long)st.lines, (unsigned long long)st.failed);
	while ((r = read(p[0], data + len, (1 << 20) - 1 - len)) > 0)
		len += r;
	bh_writer_emit(w, "acme", ev("connect", 1000));
	bh_writer_flush(w);
	while ((r = read(p[0], data + len, (1 << 20) - 1 - len)) > 0)
		len += r;
	data[len] = '\0';
	CHECK(len > 0 && data[len - 1] == '\n', "ends with a newline");
	for (line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_t *o = json_loads(line, 0, NULL);

		if (!o) {
			bad++;
			continue;
		}
		if (bh_str_is(json_string_value(json_object_get(o, "type")), "loss"))
			lost = json_integer_value(json_object_get(o, "count"));
		else if (lost >= 0)
			seq_after = json_integer_value(json_object_get(o, "seq"));
		else
			whole++;
		json_decref(o);
	}
	CHECK(bad == 1, "exactly one torn fragment, alone on its line (%d)", bad);
	CHECK(whole == (int)st.lines, "whole lines %d, written %llu", whole,
	      (unsigned long long)st.lines);
	CHECK(lost == (json_int_t)st.failed, "loss count %lld, failed %llu", (long long)lost,
	      (unsigned long long)st.failed);
	CHECK(seq_after == 1000, "the next line after the loss");
	bh_writer_close(w);
out:
	close(p[0]);
	free(data);
}

/* bh_writer_write: the object is the caller's before and after, unchanged,
 * even when the line needs a "partner" it lacks. */
static void test_writer_borrowed(void)
{
	struct bh_event_builder *b = bh_event_builder_new();
	struct bh_writer *w = NULL;
	struct bh_event e = {
		.ts_boot_ns = 5000000000ull, .count = 1, .partner = 9, .type = BH_EV_DECISION,
		.hook = BH_HOOK_CONNECT, .verdict = BH_VERDICT_DENY,
		.reason = BH_REASON_NO_GRANT, .proto = BH_PROTO_TCP, .dport = 22,
	};
	const json_t *o;
	char dir[128], *want = NULL, *line = NULL;
	size_t refs, cap = 0;
	FILE *f;
	json_t *a;

	snprintf(dir, sizeof(dir), "%s/borrowed", tmpdir);
	if (!b || bh_writer_open(&w, dir, 0)) {
		CHECK(0, "open");
		bh_event_builder_free(b);
		return;
	}
	v4(e.daddr, 10, 0, 0, 1);
	o = bh_event_build(b, &e, &namer, &clk);
	want = json_dumps(o, JSON_COMPACT);
	refs = o->refcount;
	bh_writer_write(w, "acme", o);
	bh_writer_write(w, "bad name", o);	/* host.jsonl, with "partner" */
	bh_writer_write(w, "acme", NULL);	/* ignored */
	CHECK(o->refcount == refs, "refcount %zu, was %zu", o->refcount, refs);
	check_line(o, want ? want : "", __LINE__);
	bh_writer_close(w);

	f = fopen(path_of(dir, "acme.jsonl"), "r");
	CHECK(f && getline(&line, &cap, f) > 0 && want && !strncmp(line, want, strlen(want)) &&
	      !strcmp(line + strlen(want), "\n"), "acme.jsonl: %s", line ? line : "(none)");
	if (f)
		fclose(f);
	free(line);
	a = read_lines(path_of(dir, "host.jsonl"));
	CHECK(json_array_size(a) == 1, "host lines %zu", json_array_size(a));
	CHECK_STR(str_at(a, 0, "partner"), "bad name");
	CHECK(int_at(a, 0, "partner_id") == 9, "the record's line");
	json_decref(a);
	free(want);
	bh_event_builder_free(b);
}

/* ---- benchmark (printed, never asserted) ---- */

/* CPU time of the process, user and system (the write(2)s count): "lines
 * per CPU-second" is what one core of the daemon can do. */
static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The next record of a scan, as bench/denygen makes them: a new socket to
 * the next port, 1..65535 of one address, then of the next of 16. */
static void next_record(struct bh_event *e, int i)
{
	e->ts_boot_ns += 1000;
	e->cookie++;
	e->dport = (uint16_t)(1 + i % 65535);
	e->daddr[15] = (uint8_t)(1 + i / 65535 % 16);
}

enum bench_how {
	BENCH_BUILD,		/* builder only */
	BENCH_BUFFERED,		/* builder, serialised into the file's buffer */
	BENCH_ALLOC,		/* the same, with an object allocated and freed per line */
	BENCH_SYNC,		/* builder, one write(2) per line */
	BENCH__N
};

/* CPU-seconds for n lines of e's shape, to a fresh LOGDIR/acme.jsonl. */
static double bench_run(enum bench_how how, struct bh_event *e, int n, const char *dir,
			size_t *bytes_per_line)
{
	struct bh_event_builder *b = bh_event_builder_new();
	struct bh_writer *w = NULL;
	struct bh_writer_stats st;
	double t0, t;
	int i;

	rm_rf(dir);
	if (!b || bh_writer_open(&w, dir, 0)) {
		bh_event_builder_free(b);
		return 0;
	}
	t0 = cpu_s();
	for (i = 0; i < n; i++) {
		next_record(e, i);
		switch (how) {
		case BENCH_BUILD:
			bh_event_build(b, e, &namer, &clk);
			break;
		case BENCH_BUFFERED:
			bh_writer_write(w, "acme", bh_event_build(b, e, &namer, &clk));
			break;
		case BENCH_ALLOC:
			bh_writer_emit(w, "acme", bh_event_json(e, &namer, &clk));
			break;
		default:
			bh_writer_write(w, "acme", bh_event_build(b, e, &namer, &clk));
			bh_writer_flush(w);
			break;
		}
	}
	bh_writer_flush(w);
	t = cpu_s() - t0;
	bh_writer_stats(w, &st);
	if (st.lines)
		*bytes_per_line = st.bytes / st.lines;
	bh_writer_close(w);
	bh_event_builder_free(b);
	rm_rf(dir);
	return t;
}

/* Lines per CPU-second of one shape, each way, best of BH_BENCH_ROUNDS
 * interleaved rounds (the machine may be busy). */
static void bench_one(const char *what, struct bh_event *e, int n, int rounds, const char *dir)
{
	double best[BENCH__N] = { 0 };
	size_t bpl = 0;
	int r, how;

	for (r = 0; r < rounds; r++)
		for (how = 0; how < BENCH__N; how++) {
			int lines = how == BENCH_SYNC ? n / 4 : n;
			double t = bench_run(how, e, lines, dir, &bpl);

			if (t > 0 && lines / t > best[how])
				best[how] = lines / t;
		}
	printf("bench %-22s %3zu B/line, per CPU-second: build %7.0f lines/s, "
	       "build+write buffered %7.0f lines/s (allocating per line %7.0f lines/s, x%.2f), "
	       "one write(2) per line %7.0f lines/s\n", what, bpl, best[BENCH_BUILD],
	       best[BENCH_BUFFERED], best[BENCH_ALLOC],
	       best[BENCH_ALLOC] > 0 ? best[BENCH_BUFFERED] / best[BENCH_ALLOC] : 0,
	       best[BENCH_SYNC]);
}

static void bench(void)
{
	struct bh_event deny = {
		.ts_boot_ns = 6234567891ull, .cgroup_id = 4242, .cookie = 8193, .count = 1,
		.partner = 3, .pid = 4711, .tid = 4712, .uid = 1000, .dport = 5432,
		.type = BH_EV_DECISION, .hook = BH_HOOK_CONNECT, .verdict = BH_VERDICT_DENY,
		.reason = BH_REASON_NO_GRANT, .proto = BH_PROTO_TCP, .flags = BH_EVF_TASK,
		.comm = "python3",
	};
	struct bh_event flow = deny;
	const char *env = getenv("BH_BENCH_LINES"), *env_r = getenv("BH_BENCH_ROUNDS");
	int n = env ? atoi(env) : 50000, rounds = env_r ? atoi(env_r) : 3;
	char dir[128];

	v4(deny.daddr, 10, 99, 0, 1);
	flow.type = BH_EV_FLOW_NEW;
	flow.verdict = BH_VERDICT_ALLOW;
	flow.reason = BH_REASON_GRANTED;
	flow.grant = 7;
	flow.sport = 40000;
	v4(flow.daddr, 10, 20, 1, 10);
	snprintf(dir, sizeof(dir), "%s/bench", tmpdir);
	bench_one("deny connect:", &deny, n, rounds, dir);
	bench_one("flow new with grant:", &flow, n, rounds, dir);
}

/* ---- local UNIX sockets ---- */

static void test_json_unix(void)
{
	struct bh_unixev e = {
		.ts_boot_ns = 6234567891ull, .cgroup_id = 4242, .partner = 3, .grant = 2,
		.pid = 4711, .tid = 4712, .uid = 0, .hook = BH_HOOK_CONNECT,
		.verdict = BH_VERDICT_ALLOW, .reason = BH_REASON_GRANTED, .comm = "psql",
	};
	uint8_t raw[sizeof(struct bh_unixev)];
	struct bh_unixev back;

	memcpy(e.name, "/run/db.sock", 12);
	e.name_len = 12;
	check_obj(bh_event_unix(&e, &namer, &clk),
		  "{\"v\":1,\"ts\":\"2026-11-23T11:20:32.234567Z\",\"type\":\"connect\","
		  "\"partner\":\"acme\",\"partner_id\":3,\"family\":\"unix\",\"verdict\":\"allow\","
		  "\"reason\":\"granted\",\"grant\":{\"id\":\"acme/u2\"},\"hook\":\"connect\","
		  "\"socktype\":\"stream\",\"path\":\"/run/db.sock\",\"pid\":4711,\"tid\":4712,"
		  "\"uid\":0,\"comm\":\"psql\",\"cgroup\":\"partners.slice/acme.service\","
		  "\"cgroup_id\":4242,\"count\":1}", __LINE__);

	/* an abstract name with an embedded 0, a control byte and invalid UTF-8,
	 * sent as a datagram by an unknown partner: valid JSON, nothing cut */
	memset(e.name, 0, sizeof(e.name));
	memcpy(e.name, "\0a\0b\x01\xff\xc3\xa9", 8);
	e.name_len = 8;
	e.flags = BH_UNIXEV_ABSTRACT | BH_UNIXEV_DGRAM;
	e.hook = BH_HOOK_SENDMSG;
	e.partner = 9;
	e.grant = 0;
	e.verdict = BH_VERDICT_AUDIT;
	e.reason = BH_REASON_NO_GRANT;
	check_obj(bh_event_unix(&e, &namer, &clk),
		  "{\"v\":1,\"ts\":\"2026-11-23T11:20:32.234567Z\",\"type\":\"send\","
		  "\"partner\":null,\"partner_id\":9,\"family\":\"unix\",\"verdict\":\"audit\","
		  "\"reason\":\"no_grant\",\"hook\":\"sendmsg\",\"socktype\":\"dgram\","
		  "\"path\":\"@a\\ufffdb\\ufffd\\ufffd\\u00e9\",\"pid\":4711,\"tid\":4712,\"uid\":0,"
		  "\"comm\":\"psql\",\"cgroup\":\"partners.slice/acme.service\",\"cgroup_id\":4242,"
		  "\"count\":1}", __LINE__);

	/* a record with a name_len past sun_path is clamped; a short one refused */
	memset(raw, 0xff, sizeof(raw));
	e.name_len = 4000;
	memcpy(raw, &e, sizeof(e));
	CHECK(bh_unixev_decode(raw, sizeof(e), &back) == 0 && back.name_len == BH_UNIX_PATH_MAX,
	      "name_len clamped to %u", back.name_len);
	CHECK(bh_unixev_decode(raw, sizeof(e) - 1, &back) == -EPROTO, "short record refused");
	back.flags = 0;
	memset(back.name, 0xff, sizeof(back.name));
	json_t *o = bh_event_unix(&back, &namer, &clk);
	CHECK(o && json_string_length(json_object_get(o, "path")) == 3 * BH_UNIX_PATH_MAX,
	      "108 invalid bytes: 108 U+FFFD");
	json_decref(o);
}

int main(int argc, char **argv)
{
	const char *keep = getenv("BH_TEST_KEEP");

	umask(022);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/bh-test-events.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	T_RUN("ts: boot ns to RFC 3339 UTC with microseconds", test_ts);
	T_RUN("ts: now", test_ts_now);
	T_RUN("unix: connect/send events, names sanitised", test_json_unix);
	T_RUN("sanitize: UTF-8 kept, invalid and control bytes replaced", test_sanitize);
	T_RUN("sanitize: hostile comm survives dump and parse", test_comm_roundtrip);
	T_RUN("addr: IPv4-mapped shown as IPv4", test_addr);
	T_RUN("json: deny at connect, every field", test_json_deny_connect);
	T_RUN("json: audit at sendmsg", test_json_audit_send);
	T_RUN("json: never, packet at egress", test_json_never_packet);
	T_RUN("json: unknown partner", test_json_unknown_partner);
	T_RUN("json: flow new with grant", test_json_flow);
	T_RUN("json: unresolved names, aggregated record, unknown enums", test_json_unresolved);
	T_RUN("json: aggregated flood window, alert", test_json_flood);
	T_RUN("json: names from outside are sanitised", test_json_bad_names);
	T_RUN("json: daemon events", test_event_new);
	T_RUN("builder: one builder, every shape, exact lines, nothing carried over",
	    test_builder_lines);
	T_RUN("builder: names and comms sanitised on reuse", test_builder_strings);
	T_RUN("builder: more shapes than kept", test_builder_shapes);
	T_RUN("builder: random records and floods, same as fresh objects", test_builder_random);
	T_RUN("writer: per-partner files and host.jsonl", test_writer_files);
	T_RUN("writer: volume and big lines", test_writer_volume);
	T_RUN("writer: logrotate (rename + reopen, unlink)", test_writer_rotate);
	T_RUN("writer: LOGDIR removed, recreated on reopen, loss reported", test_writer_dir_removed);
	T_RUN("writer: ENOSPC counted, loss reported", test_writer_enospc);
	T_RUN("writer: torn write cut back to whole lines", test_writer_torn);
	T_RUN("writer: more partners than descriptors", test_writer_many_files);
	T_RUN("writer: --stdout", test_writer_stdout);
	T_RUN("writer: --stdout into a full pipe never blocks", test_writer_stdout_pipe);
	T_RUN("writer: a borrowed object is written, not consumed nor changed", test_writer_borrowed);
	if (!(argc > 1 && !strcmp(argv[1], "--no-bench")))
		bench();
	if (!keep)
		rm_rf(tmpdir);
	return T_SUMMARY();
}
