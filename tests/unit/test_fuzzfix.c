// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Unit tests (no root) of what fuzzing found (docs/fuzzing.md), one named
 * test a finding: ttl bound and saturating expiries (and `list` of a long
 * ttl), a kernel timestamp far out of range, messages that stay UTF-8
 * (duplicate key, jansson's text, bh_quote on invalid UTF-8), second 61,
 * and over-long JIT purposes. The fuzzers' reproducers are in fuzz/corpus.
 * Ends with "N passed, N failed" (tests/harness.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "grants.h"
#include "ops.h"
#include "policy.h"
#include "text.h"
#include "../harness.h"

static const struct bh_clock clk = { .wall_ns = 1795432831ll * BH_NS_PER_SEC,
				     .boot_ns = 86400 * BH_NS_PER_SEC };

static int utf8_ok(const char *s)
{
	size_t n = strlen(s), i, k;

	for (i = 0; i < n; i += k)
		if (!(k = bh_utf8_len((const uint8_t *)s + i, n - i)))
			return 0;
	return 1;
}

static void test_ttl_bound(void)
{
	char why[BH_REASON_LEN];
	int64_t ns = 0;

	CHECK(bh_parse_ttl("99999d", &ns, why) == -EINVAL, "99999d taken");
	CHECK(strstr(why, "at most 100 years"), "why: %s", why);
	CHECK(bh_parse_ttl("36526d", &ns, why) == -EINVAL, "36526d taken");
	CHECK(bh_parse_ttl("36525d", &ns, why) == 0 && ns == BH_TTL_MAX_S * BH_NS_PER_SEC, "36525d");
	CHECK(bh_ns_add(INT64_MAX - 5, 10) == INT64_MAX, "saturates");
	CHECK(bh_ns_add(5, 10) == 15, "adds");
}

static const char pol_text[] =
	"{\"version\":1,\"partners\":{\"acme\":{\"cgroups\":[\"p/acme\"],\"allow\":[]}}}";

/* parse a `grant acme` request of spec against pol_text */
static int grant_req(const char *spec, struct bh_policy *p, struct bh_grant_req *r,
		     struct bh_req_error *e)
{
	struct bh_errors pe = { 0 };
	json_t *req;
	char *text;
	int err;

	if (bh_policy_parse("t.json", pol_text, strlen(pol_text), p, &pe))
		return -EINVAL;
	if (asprintf(&text, "{\"op\":\"grant\",\"partner\":\"acme\",\"grant\":%s}", spec) < 0)
		return -ENOMEM;
	req = json_loads(text, 0, NULL);
	free(text);
	err = req ? bh_parse_grant_req(p, req, r, e) : -EINVAL;
	json_decref(req);
	return err;
}

/* `grant acme --to 10.0.0.1 --ttl 36525d` lists as expiring in 100 years,
 * not in 1716; 99999d is refused naming the bound */
static void test_ttl_list(void)
{
	struct bh_policy p = { 0 };
	struct bh_grant_req r;
	struct bh_req_error e = { 0 };
	struct bh_jit rec;
	struct bh_jitset s = { .n = 1, .r = &rec };
	json_t *list;
	const char *exp;

	CHECK(grant_req("{\"to\":\"10.0.0.1\",\"ttl\":\"99999d\"}", &p, &r, &e) == -EINVAL, "99999d");
	CHECK(e.e.n == 1 && strstr(e.e.msg[0], "too long"), "%s", e.e.n ? e.e.msg[0] : "-");
	bh_req_error_free(&e);
	bh_policy_free(&p);
	CHECK(grant_req("{\"to\":\"10.0.0.1\",\"ttl\":\"36525d\"}", &p, &r, &e) == 0, "36525d");
	if (T_FAILED())
		return;
	bh_jit_grant_record(&rec, 1, "acme", &r.g, &clk);
	CHECK((int64_t)rec.expires_unix_ns > clk.wall_ns && (int64_t)rec.expires_boot_ns > clk.boot_ns,
	      "expiry in the past");
	list = bh_jit_list_json(&s, NULL, &clk);
	exp = json_string_value(json_object_get(json_array_get(list, 0), "expires"));
	CHECK(exp && !strncmp(exp, "2126-", 5), "expires %s", exp ? exp : "(none)");
	json_decref(list);
	bh_grant_free(&r.g);
	bh_policy_free(&p);
}

static void test_purpose_bound(void)
{
	struct bh_policy p = { 0 };
	struct bh_grant_req r;
	struct bh_req_error e = { 0 };
	char spec[512], purpose[256] = "";
	struct bh_jit rec;

	for (int i = 0; i < 64; i++)
		strcat(purpose, "\xc3\xa9");	/* 128 bytes */
	snprintf(spec, sizeof(spec), "{\"to\":\"10.0.0.1\",\"ttl\":\"1h\",\"purpose\":\"%s\"}", purpose);
	CHECK(grant_req(spec, &p, &r, &e) == -EINVAL, "128-byte purpose taken");
	CHECK(e.e.n == 1 && strstr(e.e.msg[0], "at most 127"), "%s", e.e.n ? e.e.msg[0] : "-");
	bh_req_error_free(&e);
	bh_policy_free(&p);
	purpose[126] = 0;		/* 63 characters */
	snprintf(spec, sizeof(spec), "{\"to\":\"10.0.0.1\",\"ttl\":\"1h\",\"purpose\":\"%sx\"}", purpose);
	CHECK(grant_req(spec, &p, &r, &e) == 0, "127-byte purpose refused");
	if (T_FAILED())
		return;
	bh_jit_grant_record(&rec, 1, "acme", &r.g, &clk);
	CHECK(strlen(rec.purpose) == 127 && !strcmp(rec.purpose, r.g.purpose), "purpose kept whole");
	bh_grant_free(&r.g);
	bh_policy_free(&p);
}

static void test_format_ts_range(void)
{
	char buf[64] = "";

	bh_format_ts(INT64_MAX, &clk, buf, sizeof(buf));	/* UBSan: no overflow */
	CHECK(buf[0], "empty timestamp");
	bh_format_ts(INT64_MIN, &clk, buf, sizeof(buf));
	CHECK(buf[0], "empty timestamp");
}

static void test_second_61(void)
{
	char why[BH_REASON_LEN];
	int64_t ns;

	CHECK(bh_parse_rfc3339("2026-12-31T23:59:61Z", &ns, why) == -EINVAL, "61 taken");
	CHECK(strstr(why, "no such time"), "why: %s", why);
	CHECK(bh_parse_rfc3339("2016-12-31T23:59:60Z", &ns, why) == 0, "leap second refused");
}

static void test_messages_utf8(void)
{
	char text[512], key[200] = "", buf[BH_QUOTE_LEN];
	struct bh_policy p = { 0 };
	struct bh_errors e = { 0 };
	const char *q;

	for (int i = 0; i < 60; i++)
		strcat(key, "\xc3\xa9");
	snprintf(text, sizeof(text), "{\"version\":1,\"partners\":{\"%s\":{},\"%s\":{}}}", key, key);
	CHECK(bh_policy_parse("t.json", text, strlen(text), &p, &e) == -EINVAL, "taken");
	CHECK(e.n >= 1 && strstr(e.msg[0], "duplicate key") && utf8_ok(e.msg[0]), "%s",
	      e.n ? e.msg[0] : "-");
	bh_errors_free(&e);
	snprintf(text, sizeof(text), "{\"version\":1,\"partners\":{\"a\\\xc3\xa9\":{}}}");
	CHECK(bh_policy_parse("t.json", text, strlen(text), &p, &e) == -EINVAL, "taken");
	CHECK(e.n == 1 && utf8_ok(e.msg[0]), "%s", e.n ? e.msg[0] : "-");
	bh_errors_free(&e);
	memset(text, 0xff, 300);
	text[300] = 0;
	q = bh_quote(text, buf);
	CHECK(strlen(q) < BH_QUOTE_LEN && utf8_ok(q) && !strncmp(q, "\"\\xff", 5), "%s", q);
	q = bh_quote(key, buf);
	CHECK(utf8_ok(q) && strstr(q, "...\""), "%s", q);
}

int main(void)
{
	T_RUN("ttl bounded to 100 years; expiries saturate", test_ttl_bound);
	T_RUN("grant --ttl 36525d lists in 2126, 99999d refused", test_ttl_list);
	T_RUN("JIT purpose over 127 bytes refused, 127 kept whole", test_purpose_bound);
	T_RUN("kernel timestamp out of range formats without overflow", test_format_ts_range);
	T_RUN("expires second 61 refused, 60 taken", test_second_61);
	T_RUN("messages stay UTF-8 (duplicate key, jansson text, quote)", test_messages_utf8);
	return T_SUMMARY();
}
