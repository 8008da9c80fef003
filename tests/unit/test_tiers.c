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
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
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
			   "\"a\": {}, \"b\": {\"tier\": \"critical\", \"org\": \"B\"}, \"c\": {\"tier\": \"low\"}}}\n";
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
		" \"partners\": {\"a\": {\"tier\": \"lab\"}, \"b\": {\"tier\": \"critical\", \"org\": \"B\"}}}\n";
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

/* A message with its grant ids made comparable: "/" and a number, or a
 * derived id ("/h" and 12 hex digits, ".2" for a repeat), become "/#". The
 * grants' file positions in the messages still say which grant is which. */
static const char *norm_ids(const char *in, char *out, size_t n)
{
	size_t o = 0;

	while (*in && o + 3 < n) {
		size_t k = 0;

		if (*in == '/' && in[1] == 'h') {
			while (k < 12 && isxdigit((unsigned char)in[2 + k]))
				k++;
		}
		if (*in == '/' && k == 12) {
			in += 14;
			if (*in == '.' && isdigit((unsigned char)in[1]))
				for (in++; isdigit((unsigned char)*in); in++)
					;
		} else if (*in == '/' && isdigit((unsigned char)in[1])) {
			for (in++; isdigit((unsigned char)*in); in++)
				;
		} else {
			out[o++] = *in++;
			continue;
		}
		out[o++] = '/';
		out[o++] = '#';
	}
	out[o] = '\0';
	return out;
}

/* The tier requirements: errors at the grant (or the partner's tier). */
static void test_tier_enforced(void)
{
	static const struct bad cases[] = {
		{ "must_expire", "{\"version\": 1, \"partner_root\": \"p\", \"partners\": {\n"
		  "\"a\": {\"tier\": \"high\", \"org\": \"A\", \"allow\": [\n"
		  "  {\"to\": \"10.0.0.1\", \"purpose\": \"x\", \"ttl\": \"1h\"},\n"
		  "  {\"to\": \"10.0.0.2\", \"purpose\": \"y\"}]}}}",
		  "t.json:4:3: grant a/# never expires: tier high wants every grant to" },
		{ "require_purpose", "{\"version\": 1, \"partner_root\": \"p\", \"partners\": {\n"
		  "\"a\": {\"tier\": \"critical\", \"org\": \"A\", \"allow\": [\n"
		  "    {\"to\": \"10.0.0.1\", \"ttl\": \"1h\"}]}}}",
		  "t.json:3:5: grant a/# has no \"purpose\": tier critical requires one" },
		{ "require_org", "{\"version\": 1, \"partner_root\": \"p\", \"partners\": {\n"
		  "\"a\": {\"tier\": \"high\"}}}",
		  "t.json:2:15: partner a has no \"org\": tier high requires one" },
		{ "require_org, tier added", "{\"version\": 1, \"partner_root\": \"p\",\n"
		  "\"tiers\": {\"standard\": {\"require_org\": true}}, \"partners\": {\n"
		  "\"a\": {}}}",
		  "t.json:3:1: partner a has no \"org\": tier standard requires one" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct bh_errors e = { 0 };
		struct bh_policy p;
		int rc = parse(cases[i].json, &p, &e);
		char got[512];

		CHECK(rc == -EINVAL && e.n == 1 &&
		      !strncmp(norm_ids(first_err(&e), got, sizeof(got)), cases[i].want,
			       strlen(cases[i].want)),
		      "%s: rc %d, %zu errors, got '%s', want '%s...'", cases[i].label, rc, e.n,
		      first_err(&e), cases[i].want);
		if (!rc)
			bh_policy_free(&p);
		bh_errors_free(&e);
	}
}

/* Lint text (a valid policy); each want must be one of the warnings, and
 * there must be exactly nwant of them. */
static void lint_case(const char *label, const char *text, size_t nwant, const char *const *want,
		      const char *rule)
{
	const int64_t now = 1767225600LL * 1000000000LL;	/* 2026-01-01T00:00:00Z */
	struct bh_errors e = { 0 }, w = { 0 };
	json_t *list = json_array();
	struct bh_policy p;
	int n;

	if (parse(text, &p, &e)) {
		CHECK(0, "%s: parse: %s", label, first_err(&e));
		bh_errors_free(&e);
		json_decref(list);
		return;
	}
	n = bh_policy_lint_list(&p, text, strlen(text), NULL, now, &w, list);
	CHECK(n == (int)nwant && w.n == nwant, "%s: %d warnings, want %zu (first: %s)", label, n,
	      nwant, w.n ? w.msg[0] : "none");
	for (size_t i = 0; i < nwant; i++) {
		char a[512], b[512];
		size_t j;

		norm_ids(want[i], a, sizeof(a));
		for (j = 0; j < w.n && strncmp(norm_ids(w.msg[j], b, sizeof(b)), a, strlen(a)); j++)
			;
		CHECK(j < w.n, "%s: no warning '%s...' (first: %s)", label, want[i],
		      w.n ? w.msg[0] : "none");
	}
	for (size_t i = 0; rule && i < json_array_size(list); i++) {
		const char *r = json_string_value(json_object_get(json_array_get(list, i), "rule"));

		CHECK(r && !strcmp(r, rule), "%s: finding %zu has rule %s, want %s", label, i,
		      r ? r : "(none)", rule);
	}
	CHECK(json_array_size(list) == w.n, "%s: %zu listed, %zu warnings", label,
	      json_array_size(list), w.n);
	json_decref(list);
	bh_errors_free(&w);
	bh_policy_free(&p);
}

/* One partner "a" with org; GRANTS from line 3 on. */
#define ONE(grants) "{\"version\": 1, \"partner_root\": \"p\", \"partners\": {\n" \
	"\"a\": {\"org\": \"A\", \"allow\": [\n" grants "]}}}\n"
#define W(...) ((const char *const[]){ __VA_ARGS__ })

static void test_lint_rules(void)
{
	lint_case("wide: 0.0.0.0/0", ONE("  {\"to\": \"0.0.0.0/0\", \"proto\": \"tcp\", \"ports\": [443]}"),
		  2, W("t.json:3:10: warning: a/1 (0.0.0.0/0, at 3:3) grants every IPv4 address",
		       "t.json:3:10: warning: a/1 (0.0.0.0/0, at 3:3) reaches link-local 169.254.0.0/16"),
		  NULL);
	lint_case("wide: ::/0", ONE("  {\"to\": \"::/0\", \"proto\": \"tcp\", \"ports\": [443]}"), 2,
		  W("t.json:3:10: warning: a/1 (::/0, at 3:3) grants every IPv6 and IPv4 address",
		    "t.json:3:10: warning: a/1 (::/0, at 3:3) reaches link-local 169.254.0.0/16"), NULL);
	lint_case("wide: /8 in standard", ONE("  {\"to\": \"10.0.0.0/8\", \"proto\": \"udp\", \"ports\": [53]}"),
		  1, W("t.json:3:10: warning: a/1 (10.0.0.0/8, at 3:3) is a /8, wider than tier standard "
		       "allows without a warning (/16, \"widest_ipv4\" in \"tiers\")"), BH_LINT_WIDE);
	lint_case("wide: configurable", "{\"version\": 1, \"partner_root\": \"p\",\n"
		  "\"tiers\": {\"standard\": {\"widest_ipv6\": 64}}, \"partners\": {\n"
		  "\"a\": {\"org\": \"A\", \"allow\": [{\"to\": \"2001:db8::/48\", \"proto\": \"tcp\", "
		  "\"ports\": [1]}, {\"to\": \"10.0.0.0/16\", \"proto\": \"tcp\", \"ports\": [1]}]}}}", 1,
		  W("t.json:3:36: warning: a/1 (2001:db8::/48, at 3:29) is a /48, wider than tier "
		    "standard allows without a warning (/64, \"widest_ipv6\""), BH_LINT_WIDE);
	lint_case("all ports, every protocol", ONE("  {\"to\": \"10.0.0.1\"},\n"
		  "  {\"to\": \"10.0.0.2\", \"proto\": \"tcp\"},\n"
		  "  {\"to\": \"10.0.0.3\", \"proto\": \"icmp\"}"), 2,
		  W("t.json:3:3: warning: a/1 (10.0.0.1, at 3:3) allows every port of every protocol: "
		    "name the \"ports\" and the \"proto\"",
		    "t.json:4:3: warning: a/2 (10.0.0.2, at 4:3) allows every port: name the \"ports\""),
		  BH_LINT_ALL_PORTS);
	lint_case("dead under never", "{\"version\": 1, \"partner_root\": \"p\",\n"
		  "\"never\": [\"10.9.0.0/16\"], \"partners\": {\"a\": {\"org\": \"A\", \"allow\": [\n"
		  "  {\"to\": \"10.9.1.0/24\", \"proto\": \"tcp\", \"ports\": [80]}]}}}", 1,
		  W("t.json:3:10: warning: a/1 (10.9.1.0/24, at 3:3) lies within never 10.9.0.0/16: "
		    "it allows nothing"), BH_LINT_DEAD);
	lint_case("link-local and metadata", ONE(
		  "  {\"to\": \"169.254.10.0/24\", \"proto\": \"tcp\", \"ports\": [80]},\n"
		  "  {\"to\": \"100.100.100.200\", \"proto\": \"tcp\", \"ports\": [80]},\n"
		  "  {\"to\": \"fe80::1\", \"proto\": \"tcp\", \"ports\": [80]}"), 3,
		  W("t.json:3:10: warning: a/1 (169.254.10.0/24, at 3:3) reaches link-local 169.254.0.0/16",
		    "t.json:4:10: warning: a/2 (100.100.100.200, at 4:3) reaches the Alibaba Cloud "
		    "metadata service 100.100.100.200: add it to \"never\"",
		    "t.json:5:10: warning: a/3 (fe80::1, at 5:3) reaches link-local fe80::/10"),
		  BH_LINT_LINK_LOCAL);
	lint_case("link-local excluded by never", "{\"version\": 1, \"partner_root\": \"p\",\n"
		  "\"never\": [\"169.254.0.0/16\"], \"partners\": {\"a\": {\"org\": \"A\", \"allow\": [\n"
		  "  {\"to\": \"169.0.0.0/16\", \"proto\": \"tcp\", \"ports\": [80]}]}}}", 0, NULL, NULL);
	lint_case("duplicate", ONE("  {\"to\": \"10.0.0.1\", \"proto\": \"tcp\", \"ports\": [443]},\n"
		  "  {\"to\": \"10.0.0.1\", \"proto\": \"tcp\", \"ports\": [\"443\"]}"), 1,
		  W("t.json:4:3: warning: a/2 (10.0.0.1, at 4:3) duplicates a/1 (10.0.0.1, at 3:3)"),
		  BH_LINT_DUPLICATE);
	lint_case("subsumed, either order", ONE(
		  "  {\"to\": \"10.0.0.1\", \"proto\": \"tcp\", \"ports\": [443]},\n"
		  "  {\"to\": \"10.0.0.0/24\", \"proto\": \"any\", \"ports\": [\"400-500\"]},\n"
		  "  {\"to\": \"10.0.0.2\", \"proto\": \"udp\", \"ports\": [450], \"ttl\": \"1h\"},\n"
		  "  {\"to\": \"10.0.0.3\", \"proto\": \"udp\", \"ports\": [501]}"), 2,
		  W("t.json:3:3: warning: a/1 (10.0.0.1, at 3:3) is subsumed by a/2 (10.0.0.0/24, at 4:3)",
		    "t.json:5:3: warning: a/3 (10.0.0.2, at 5:3) is subsumed by a/2"), BH_LINT_SUBSUMED);
	lint_case("not subsumed: outlives the wider", ONE(
		  "  {\"to\": \"10.0.0.0/24\", \"proto\": \"tcp\", \"ports\": [443], \"ttl\": \"1h\"},\n"
		  "  {\"to\": \"10.0.0.1\", \"proto\": \"tcp\", \"ports\": [443]}"), 0, NULL, NULL);
	lint_case("shared across partners", "{\"version\": 1, \"partner_root\": \"p\", \"partners\": {\n"
		  "\"a\": {\"org\": \"A\", \"allow\": [{\"to\": \"10.0.0.0/24\", \"proto\": \"tcp\", \"ports\": [443]}]},\n"
		  "\"b\": {\"org\": \"B\", \"allow\": [{\"to\": \"10.0.0.7\", \"proto\": \"any\", \"ports\": [\"400-500\"]},\n"
		  "  {\"to\": \"10.0.0.8\", \"proto\": \"tcp\", \"ports\": [80]}]}}}", 1,
		  W("t.json:3:36: warning: b/1 (10.0.0.7, at 3:29) overlaps a/1 (10.0.0.0/24, at 2:29) of "
		    "partner a: a destination granted to two partners"), BH_LINT_SHARED);
	lint_case("shared: nested prefixes, three partners", "{\"version\": 1, \"partner_root\": \"p\", \"partners\": {\n"
		  "\"a\": {\"org\": \"A\", \"allow\": [{\"to\": \"10.0.0.0/16\", \"proto\": \"tcp\", \"ports\": [443]}]},\n"
		  "\"b\": {\"org\": \"B\", \"allow\": [{\"to\": \"10.0.5.0/24\", \"proto\": \"tcp\", \"ports\": [443]},\n"
		  "  {\"to\": \"10.1.0.0/24\", \"proto\": \"tcp\", \"ports\": [443]}]},\n"
		  "\"c\": {\"org\": \"C\", \"allow\": [{\"to\": \"10.0.5.7\", \"proto\": \"tcp\", \"ports\": [443]}]}}}\n", 3,
		  W("t.json:3:36: warning: b/1 (10.0.5.0/24, at 3:29) overlaps a/1 (10.0.0.0/16, at 2:29)",
		    "t.json:5:36: warning: c/1 (10.0.5.7, at 5:29) overlaps a/1 (10.0.0.0/16, at 2:29)",
		    "t.json:5:36: warning: c/1 (10.0.5.7, at 5:29) overlaps b/1 (10.0.5.0/24, at 3:29)"),
		  BH_LINT_SHARED);
	lint_case("clean", ONE("  {\"to\": \"10.0.0.1\", \"proto\": \"tcp\", \"ports\": [443]}"), 0,
		  NULL, NULL);
}

int main(void)
{
	T_RUN("tiers: defaults and a partner's tier", test_tier_defaults);
	T_RUN("tiers: overrides and added tiers", test_tier_overrides);
	T_RUN("tiers: errors with file:line:column", test_tier_errors);
	T_RUN("tiers: must_expire, require_purpose, require_org enforced", test_tier_enforced);
	T_RUN("lint: each rule with file:line:column", test_lint_rules);
	return T_SUMMARY();
}
