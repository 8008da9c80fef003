// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Unit tests of the alert machinery (no root): suppression by key with the
 * count reported when the window ends (user/alerts.c), the scan rule's exact
 * distinct counts (user/scan.c) and the state files (user/seen.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>
#include "alerts.h"
#include "scan.h"
#include "seen.h"
#include "../harness.h"

static char tmpdir[64];

/* The lines of LOGDIR/host.jsonl, parsed. */
static json_t *host_lines(const char *dir)
{
	char path[256], line[4096];
	json_t *a = json_array();
	FILE *f;

	snprintf(path, sizeof(path), "%s/host.jsonl", dir);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		json_array_append_new(a, json_loads(line, 0, NULL));
	if (f)
		fclose(f);
	return a;
}

static void test_suppression(void)
{
	const int64_t s = 1000000000ll, t0 = 1800000000ll * s;
	struct bh_alerts *a = bh_alerts_new(60 * s);
	struct bh_writer *w = NULL;
	char dir[128];
	json_t *lines, *l;
	struct bh_alert al = { .rule = BH_RULE_NEVER, .partner_id = 3, .partner = "acme",
			       .org = "Acme", .key = "never/3/x", .message = "m", .count = 1 };

	snprintf(dir, sizeof(dir), "%s/sup", tmpdir);
	CHECK(a && bh_writer_open(&w, dir, 0) == 0, "open");
	if (!a || !w)
		return;
	al.evidence = json_pack("{s:s, s:i}", "dst", "10.0.0.1", "dport", 80);
	bh_alerts_raise(a, w, &al, t0);
	al.count = 4;
	al.evidence = NULL;
	bh_alerts_raise(a, w, &al, t0 + s);		/* 4 repeats */
	bh_alerts_tick(a, w, t0 + 59 * s);		/* window not over */
	bh_writer_flush(w);
	lines = host_lines(dir);
	CHECK(json_array_size(lines) == 1, "one alert line before the window ends: %zu",
	      json_array_size(lines));
	l = json_array_get(lines, 0);
	CHECK(bh_str_is(json_string_value(json_object_get(l, "rule")), "never") &&
	      bh_str_is(json_string_value(json_object_get(l, "severity")), "critical") &&
	      bh_str_is(json_string_value(json_object_get(l, "dst")), "10.0.0.1") &&
	      json_integer_value(json_object_get(l, "count")) == 1, "the alert line");
	json_decref(lines);
	bh_alerts_tick(a, w, t0 + 60 * s);
	bh_writer_flush(w);
	lines = host_lines(dir);
	l = json_array_get(lines, 1);
	CHECK(json_array_size(lines) == 2 &&
	      bh_str_is(json_string_value(json_object_get(l, "phase")), "suppressed") &&
	      json_integer_value(json_object_get(l, "count")) == 4, "the count at the window end");
	json_decref(lines);
	al.count = 1;
	al.floor = BH_SEV_LOW;
	al.rule = BH_RULE_FIRST_SEEN;
	al.key = "first_seen/3/y";
	al.floor = BH_SEV_HIGH;
	bh_alerts_raise(a, w, &al, t0 + 61 * s);	/* the tier's floor raises it */
	bh_writer_flush(w);
	lines = host_lines(dir);
	CHECK(bh_str_is(json_string_value(json_object_get(json_array_get(lines, 2), "severity")),
			"high"), "severity floor");
	json_decref(lines);
	CHECK(bh_alerts_total(a, 3, BH_RULE_NEVER) == 5, "total: %llu",
	      (unsigned long long)bh_alerts_total(a, 3, BH_RULE_NEVER));
	CHECK(bh_alerts_total(a, 3, BH_RULE_FIRST_SEEN) == 1, "first_seen total");
	bh_alerts_free(a, w, t0 + 62 * s);
	bh_writer_close(w);
}

static struct bh_scan_found found[8];
static int nfound;

static void limits(void *ctx, uint32_t partner, struct bh_scan_limits *l)
{
	(void)ctx;
	(void)partner;
	l->ports = 15;
	l->hosts = 25;
	l->window_ns = 300ll * 1000000000ll;
}

static void on_found(void *ctx, const struct bh_scan_found *f)
{
	(void)ctx;
	if (nfound < 8)
		found[nfound++] = *f;
}

static void test_scan(void)
{
	struct bh_scan_ops ops = { NULL, limits, on_found };
	struct bh_scan *s = bh_scan_new(&ops);
	struct bh_scan_key k = { .window = 100, .partner = 2, .proto = BH_PROTO_TCP };
	struct bh_scan_val *v = calloc(1, sizeof(*v));
	struct timespec ts;

	if (!s || !v)
		return;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	k.window = (uint64_t)ts.tv_sec;
	k.daddr[15] = 1;
	for (int p = 1000; p < 1020; p++)	/* 20 ports, in two windows, 5 overlapping */
		v->ports[p / 64] |= 1ull << (p % 64);
	v->attempts = 20;
	bh_scan_add(s, &k, v);
	memset(v->ports, 0, sizeof(v->ports));
	for (int p = 1015; p < 1040; p++)
		v->ports[p / 64] |= 1ull << (p % 64);
	v->attempts = 25;
	k.window++;
	bh_scan_add(s, &k, v);
	bh_scan_tick(s);		/* touched in this flush: not yet */
	CHECK(nfound == 0, "nothing reported while the host is still scanned");
	bh_scan_tick(s);		/* quiet: reported */
	CHECK(nfound == 1 && found[0].by_host && found[0].distinct == 40 &&
	      found[0].attempts == 45 && found[0].first_port == 1000 && found[0].last_port == 1039,
	      "one host finding with 40 distinct ports (%d found, %u)", nfound,
	      nfound ? found[0].distinct : 0);
	bh_scan_tick(s);
	CHECK(nfound == 1, "reported once per window");
	/* 25 hosts on port 22 */
	memset(v->ports, 0, sizeof(v->ports));
	v->ports[0] = 1ull << 22;
	v->attempts = 1;
	for (int h = 0; h < 25; h++) {
		k.daddr[14] = 9;
		k.daddr[15] = (uint8_t)h;
		bh_scan_add(s, &k, v);
	}
	bh_scan_tick(s);
	bh_scan_tick(s);
	CHECK(nfound == 2 && !found[1].by_host && found[1].dport == 22 && found[1].distinct == 25,
	      "one port finding with 25 hosts");
	bh_scan_free(s);
	free(v);
}

static void test_seen(void)
{
	struct bh_seen *s;
	char dir[128];

	snprintf(dir, sizeof(dir), "%s/state/sub", tmpdir);
	CHECK(bh_seen_open(&s, dir, "x.tsv", 2, 0) == 0, "open");
	if (!s)
		return;
	bh_seen_put(s, "a\tb", 100);
	bh_seen_put(s, "c", 200);
	bh_seen_put(s, "d", 300);	/* bound 2: "a\tb" (the oldest) goes */
	CHECK(bh_seen_get(s, "a\tb") == 0 && bh_seen_get(s, "d") == 300, "bounded");
	bh_seen_close(s);
	CHECK(bh_seen_open(&s, dir, "x.tsv", 10, 0) == 0, "reopen");
	if (!s)
		return;
	CHECK(bh_seen_get(s, "c") == 200 && bh_seen_get(s, "d") == 300, "kept across a restart");
	bh_seen_close(s);
}

int main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/bh-alerts-test.XXXXXX");
	if (!mkdtemp(tmpdir))
		return 1;
	T_RUN("alerts: suppression, count at the window end, floor, totals", test_suppression);
	T_RUN("alerts: scan distinct ports per host and hosts per port", test_scan);
	T_RUN("alerts: state files bounded and kept", test_seen);
	T_RMTREE(tmpdir);
	return T_SUMMARY();
}
