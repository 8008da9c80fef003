// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Unit tests for the criticality tiers (user/tiers.c, the "tiers" block in
 * user/validate.c) and the grant linter (user/lint.c): every finding with
 * its file:line:column. No root. The last line printed is "N passed, N
 * failed" (tests/harness.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lint.h"
#include "policy.h"
#include "../harness.h"

#define MIN_NS (60ll * 1000000000ll)

static int parse(const char *text, struct bh_policy *p, struct bh_errors *e)
{
	return bh_policy_parse("t.json", text, strlen(text), p, e);
}

static const char *first_err(const struct bh_errors *e)
{
	return e->n ? e->msg[0] : "(no error)";
}

static void test_tier_defaults(void)
{
	const char *text = "{\"version\": 1, \"partner_root\": \"p\", \"partners\": {\n"
			   "\"a\": {}, \"b\": {\"tier\": \"critical\"}, \"c\": {\"tier\": \"low\"}}}\n";
	struct bh_errors e = { 0 };
	const struct bh_tier *t;
	struct bh_policy p;
	size_t n;

	t = bh_tier_defaults(&n);
	CHECK(n == 4 && !strcmp(t[0].name, "critical") && !strcmp(t[1].name, "high") &&
	      !strcmp(t[2].name, "standard") && !strcmp(t[3].name, "low"), "four default tiers");
	/* standard is Zeek's scan policy; the others scale it */
	CHECK(t[2].scan_ports == 15 && t[2].scan_hosts == 25 && t[2].scan_window_ns == 5 * MIN_NS,
	      "standard: P=15 H=25 W=5m");
	CHECK(t[0].scan_ports == 5 && t[0].scan_hosts == 8 && t[0].scan_window_ns == 15 * MIN_NS,
	      "critical: P=5 H=8 W=15m");
	CHECK(t[3].scan_ports == 30 && t[3].scan_hosts == 50, "low: P=30 H=50");
	CHECK(t[0].must_expire && t[0].require_purpose && t[0].require_org && t[0].first_seen &&
	      t[0].lint_refuses && t[0].severity_floor == BH_SEV_HIGH && t[0].max_ttl_ns == 60 * MIN_NS,
	      "critical asks for everything");
	CHECK(!t[2].must_expire && !t[2].require_purpose && !t[2].require_org && !t[2].first_seen &&
	      t[2].max_ttl_ns == 24 * 60 * MIN_NS, "standard asks for little");
	CHECK(!strcmp(bh_partner_tier(NULL, 0)->name, "standard"), "no policy: standard");
	if (parse(text, &p, &e)) {
		CHECK(0, "parse: %s", first_err(&e));
		bh_errors_free(&e);
		return;
	}
	CHECK(p.ntiers == 4, "ntiers %zu", p.ntiers);
	CHECK(!strcmp(bh_partner_tier(&p, 0)->name, "standard"), "default tier standard");
	CHECK(!strcmp(bh_partner_tier(&p, 1)->name, "critical"), "tier critical");
	CHECK(!strcmp(bh_partner_tier(&p, 2)->name, "low"), "tier low");
	CHECK(!strcmp(bh_partner_tier(&p, 99)->name, "standard"), "out of range: standard");
	bh_policy_free(&p);
}

static void test_tier_overrides(void)
{
	const char *text =
		"{\"version\": 1, \"partner_root\": \"p\",\n"
		" \"tiers\": {\"critical\": {\"max_ttl\": \"15m\", \"scan_ports\": 3},\n"
		"   \"lab\": {\"max_ttl\": null, \"lint\": \"refuse\", \"severity_floor\": \"medium\",\n"
		"            \"widest_ipv4\": 8, \"widest_ipv6\": 32, \"scan_window\": \"1h\",\n"
		"            \"first_seen\": true, \"scan_hosts\": 100}},\n"
		" \"partners\": {\"a\": {\"tier\": \"lab\"}, \"b\": {\"tier\": \"critical\"}}}\n";
	struct bh_errors e = { 0 };
	const struct bh_tier *t;
	struct bh_policy p;

	if (parse(text, &p, &e)) {
		CHECK(0, "parse: %s", first_err(&e));
		bh_errors_free(&e);
		return;
	}
	CHECK(p.ntiers == 5, "a tier added: %zu", p.ntiers);
	t = bh_partner_tier(&p, 0);
	CHECK(!strcmp(t->name, "lab") && t->max_ttl_ns == 0 && t->lint_refuses &&
	      t->severity_floor == BH_SEV_MEDIUM && t->widest_v4 == 8 && t->widest_v6 == 32 &&
	      t->scan_window_ns == 60 * MIN_NS && t->first_seen && t->scan_hosts == 100 &&
	      t->scan_ports == 15 && !t->must_expire, "lab: set keys, standard's for the rest");
	t = bh_partner_tier(&p, 1);
	CHECK(t->max_ttl_ns == 15 * MIN_NS && t->scan_ports == 3 && t->scan_hosts == 8 &&
	      t->must_expire, "critical overridden key by key");
	bh_policy_free(&p);
}

struct bad {
	const char *label, *json, *want;	/* want: the first error, whole prefix */
};

static void test_tier_errors(void)
{
	static const struct bad cases[] = {
		{ "unknown tier", "{\"version\": 1, \"partner_root\": \"p\", \"partners\": {\n"
		  "\"a\": {\"tier\": \"gold\"}}}",
		  "t.json:2:15: unknown tier \"gold\" (the tiers are critical, high, standard, low;" },
		{ "tier not a string", "{\"version\": 1, \"partner_root\": \"p\", \"partners\": {\n"
		  "\"a\": {\"tier\": 3}}}", "t.json:2:15: \"tier\" must be a tier name" },
		{ "tiers not an object", "{\"version\": 1, \"tiers\": [],\n\"partners\": {}}",
		  "t.json:1:25: \"tiers\" must be an object" },
		{ "unknown tier key", "{\"version\": 1, \"tiers\": {\"high\":\n {\"max_tll\": \"1h\"}}}",
		  "t.json:2:3: unknown key \"max_tll\" in tier" },
		{ "bad max_ttl", "{\"version\": 1, \"tiers\": {\"high\":\n {\"max_ttl\": \"1y\"}}}",
		  "t.json:2:14: " },
		{ "bad bool", "{\"version\": 1, \"tiers\": {\"high\":\n {\"must_expire\": 1}}}",
		  "t.json:2:18: \"must_expire\" must be true or false" },
		{ "bad floor", "{\"version\": 1, \"tiers\": {\"high\":\n {\"severity_floor\": \"info\"}}}",
		  "t.json:2:21: \"severity_floor\" must be \"low\"" },
		{ "bad lint", "{\"version\": 1, \"tiers\": {\"high\":\n {\"lint\": \"error\"}}}",
		  "t.json:2:11: \"lint\" must be \"warn\" or \"refuse\"" },
		{ "bad prefix", "{\"version\": 1, \"tiers\": {\"high\":\n {\"widest_ipv4\": 33}}}",
		  "t.json:2:18: \"widest_ipv4\" must be an integer from 0 to 32" },
		{ "bad ports", "{\"version\": 1, \"tiers\": {\"high\":\n {\"scan_ports\": 0}}}",
		  "t.json:2:17: \"scan_ports\" must be an integer from 1 to 65535" },
		{ "bad window", "{\"version\": 1, \"tiers\": {\"high\":\n {\"scan_window\": null}}}",
		  "t.json:2:18: \"scan_window\" must be a duration" },
		{ "bad name", "{\"version\": 1, \"tiers\": {\n\"a/b\": {}}}",
		  "t.json:2:1: bad tier name \"a/b\"" },
		{ "tier not an object", "{\"version\": 1, \"tiers\": {\n\"x\": 1}}",
		  "t.json:2:6: tier \"x\" must be an object" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct bh_errors e = { 0 };
		struct bh_policy p;
		int rc = parse(cases[i].json, &p, &e);

		CHECK(rc == -EINVAL && !strncmp(first_err(&e), cases[i].want, strlen(cases[i].want)),
		      "%s: rc %d, got '%s', want '%s...'", cases[i].label, rc, first_err(&e),
		      cases[i].want);
		if (!rc)
			bh_policy_free(&p);
		bh_errors_free(&e);
	}
}

int main(void)
{
	T_RUN("tiers: defaults and a partner's tier", test_tier_defaults);
	T_RUN("tiers: overrides and added tiers", test_tier_overrides);
	T_RUN("tiers: errors with file:line:column", test_tier_errors);
	return T_SUMMARY();
}
