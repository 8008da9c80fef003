// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Unit tests (no root) for `bulkhead trace`: the line parser on buffers
 * (fields, escapes, every kind of bad line, every truncation of a good line
 * read from an exact-size heap copy so a sanitizer sees any overread), the
 * timestamp parser, the k-way merge over plain, gzip and rotated files (order,
 * torn and cut lines counted with file:line, host copies left out), and the
 * filters (kinds AND, items OR, --not).
 * Ends with "N passed, N failed" (tests/harness.h, one count per named
 * test); exits non-zero on any failure.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include "trace.h"
#include "tracelog.h"
#include "../harness.h"

static const char connect_line[] =
	"{\"v\":1,\"ts\":\"2026-11-30T05:41:37.902513Z\",\"type\":\"connect\",\"partner\":\"acme\","
	"\"partner_id\":1,\"verdict\":\"deny\",\"reason\":\"no_grant\",\"hook\":\"connect\","
	"\"proto\":\"tcp\",\"dst\":\"10.30.0.5\",\"dport\":5432,\"pid\":15218,\"tid\":15218,"
	"\"uid\":0,\"comm\":\"a\\\"b\\\\c\\u00e9\",\"cgroup\":\"evdoc.slice/acme.service\","
	"\"cgroup_id\":81041,\"cookie\":1322609,\"count\":1}";

/* Parse a heap copy of exactly len bytes. */
static int parse_copy(const char *s, size_t len, struct bh_tev *ev)
{
	char *b = malloc(len ? len : 1);
	int r;

	memcpy(b, s, len);
	r = bh_tev_parse(b, len, ev, NULL);
	free(b);
	return r;
}

static void t_parse_fields(void)
{
	struct bh_tev ev;
	char buf[64];

	CHECK(bh_tev_parse(connect_line, strlen(connect_line), &ev, NULL) == 0, "parse");
	CHECK(ev.type == BH_T_CONNECT, "type %d", ev.type);
	CHECK(ev.ts_us == 1796017297902513LL, "ts %lld", (long long)ev.ts_us);
	CHECK(bh_tstr_eq(&ev.partner, "acme"), "partner");
	CHECK(bh_tstr_eq(&ev.verdict, "deny"), "verdict");
	CHECK(bh_tstr_eq(&ev.dst, "10.30.0.5"), "dst");
	CHECK(ev.dport == 5432 && ev.pid == 15218 && ev.count == 1, "ints");
	CHECK(!strcmp(bh_tstr_get(&ev.comm, buf, sizeof(buf)), "a\"b\\c\xc3\xa9"), "comm '%s'", buf);
	CHECK(bh_tstr_eq(&ev.comm, "a\"b\\c\xc3\xa9"), "comm eq");
	CHECK(ev.tx_bytes == -1 && !ev.grant_id.p, "absent");
}

static void t_parse_nested(void)
{
	static const char l[] =
		"{\"v\":1,\"ts\":\"2026-11-30T05:41:37.873851Z\",\"type\":\"flow\",\"phase\":\"new\","
		"\"partner\":null,\"verdict\":\"allow\",\"grant\":{\"id\":\"acme/1\",\"purpose\":"
		"\"billing api\",\"x\":[1,2.5e3,{\"id\":\"no\"}]},\"dst\":\"::1\",\"count\":1,"
		"\"aggregated\":true}";
	struct bh_tev ev;

	CHECK(bh_tev_parse(l, strlen(l), &ev, NULL) == 0, "parse");
	CHECK(bh_tstr_eq(&ev.grant_id, "acme/1"), "grant id");
	CHECK(ev.partner.null && !ev.partner.p, "null partner");
	CHECK(ev.aggregated == 1, "aggregated");
}

static void t_parse_bad(void)
{
	static const struct {
		const char *line;
		int want;
	} cases[] = {
		{ "", -(1 + BH_BAD_JSON) },
		{ "not json", -(1 + BH_BAD_JSON) },
		{ "{\"v\":1,\"ts\":\"2026-11-30T05:41:37Z\",\"type\":\"loss\"", -(1 + BH_BAD_JSON) },
		{ "{\"v\":1,\"ts\":\"2026-11-30T05:41:37Z\",\"type\":\"loss\"} x", -(1 + BH_BAD_JSON) },
		{ "{\"v\":1,\"ts\":\"2026-11-30T05:41:37Z\",\"type\":\"lo\\qss\"}", -(1 + BH_BAD_JSON) },
		{ "{\"v\":1,\"ts\":\"2026-11-30T05:41:37Z\",\"type\":\"lo\tss\"}", -(1 + BH_BAD_JSON) },
		{ "{\"v\":01,\"ts\":\"2026-11-30T05:41:37Z\",\"type\":\"loss\"}", -(1 + BH_BAD_JSON) },
		{ "{\"v\":1,\"ts\":\"2026-11-30T05:41:37Z\",\"type\":\"loss\",}", -(1 + BH_BAD_JSON) },
		{ "[1,2]", -(1 + BH_BAD_JSON) },
		{ "{\"ts\":\"2026-11-30T05:41:37Z\",\"type\":\"loss\"}", -(1 + BH_BAD_FIELD) },
		{ "{\"v\":1,\"ts\":\"yesterday\",\"type\":\"loss\"}", -(1 + BH_BAD_FIELD) },
		{ "{\"v\":1,\"ts\":\"2026-02-30T05:41:37Z\",\"type\":\"loss\"}", -(1 + BH_BAD_FIELD) },
		{ "{\"v\":\"1\",\"ts\":\"2026-11-30T05:41:37Z\",\"type\":\"loss\"}", -(1 + BH_BAD_FIELD) },
		{ "{\"v\":2,\"ts\":\"2026-11-30T05:41:37Z\",\"type\":\"loss\"}", -(1 + BH_BAD_VERSION) },
		{ "{\"v\":1,\"ts\":\"2026-11-30T05:41:37Z\",\"type\":\"unknown\"}", -(1 + BH_BAD_TYPE) },
		{ "{\"v\":1,\"ts\":\"2026-11-30T05:41:37Z\",\"type\":\"loss\"}", 0 },
	};
	struct bh_tev ev;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = parse_copy(cases[i].line, strlen(cases[i].line), &ev);

		CHECK(r == cases[i].want, "case %zu '%s': got %d want %d", i, cases[i].line, r,
		      cases[i].want);
	}
}

/* Every proper prefix of a good line is rejected, read from an exact copy. */
static void t_parse_truncations(void)
{
	size_t n = strlen(connect_line), i;
	struct bh_tev ev;

	for (i = 0; i < n; i++)
		CHECK(parse_copy(connect_line, i, &ev) < 0, "prefix of %zu bytes accepted", i);
	CHECK(parse_copy(connect_line, n, &ev) == 0, "whole line");
}

static void t_ts(void)
{
	int64_t us = 0;

	CHECK(bh_ts_parse("2026-11-30T05:41:37Z", 20, &us) == 0 && us == 1796017297000000LL,
	      "Z: %lld", (long long)us);
	CHECK(bh_ts_parse("2026-11-30T06:41:37.5+01:00", 27, &us) == 0 &&
	      us == 1796017297500000LL, "offset: %lld", (long long)us);
	CHECK(bh_ts_parse("2026-11-30T05:41:37.1234567Z", 28, &us) == 0 &&
	      us == 1796017297123456LL, "7 digits");
	CHECK(bh_ts_parse("2026-11-30T05:41:37", 19, &us) < 0, "no zone");
	CHECK(bh_ts_parse("2026-11-30T25:41:37Z", 20, &us) < 0, "hour 25");
}

/* ---- files ---- */

static char dir[64];

static void write_file(const char *name, const char *text, int gz)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (gz) {
		gzFile g = gzopen(path, "wb");

		gzwrite(g, text, (unsigned int)strlen(text));
		gzclose(g);
	} else {
		FILE *f = fopen(path, "w");

		fputs(text, f);
		fclose(f);
	}
}

#define L(sec, type, extra) \
	"{\"v\":1,\"ts\":\"2026-11-30T05:41:" sec "Z\",\"type\":\"" type "\"" extra "}\n"

static void t_merge(void)
{
	struct bh_tmerge_opts o = { .dedupe_host = 1 };
	struct bh_tmerge *m;
	struct bh_tev ev;
	const struct bh_tbad_stats *bad;
	char got[256] = "", path[256];
	int64_t last = 0;
	int n = 0, sorted = 1;
	size_t i;

	write_file("acme.jsonl.2.gz", L("01", "connect", ",\"partner\":\"acme\",\"dport\":1")
		   L("04", "connect", ",\"partner\":\"acme\",\"dport\":4"), 1);
	write_file("acme.jsonl.1", L("05", "connect", ",\"partner\":\"acme\",\"dport\":5")
		   "not json\n", 0);
	write_file("acme.jsonl", L("08", "alert", ",\"partner\":\"acme\",\"dport\":8")
		   L("09", "connect", ",\"partner\":\"acme\",\"dport\":9") "{\"v\":1,\"ts", 0);
	write_file("host.jsonl", L("02", "loss", ",\"what\":\"ring\",\"count\":2")
		   L("08", "alert", ",\"partner\":\"acme\",\"dport\":88")
		   L("10", "lifecycle", ",\"event\":\"stop\""), 0);
	snprintf(path, sizeof(path), "%s/extra.jsonl.1.gz", dir);
	{	/* a gzip stream cut short: its complete lines still count */
		gzFile g = gzopen(path, "wb");
		FILE *f;
		long sz;
		char *b;

		for (i = 0; i < 2000; i++)
			gzprintf(g, L("03", "connect", ",\"partner\":\"x\",\"dport\":%zu"), i);
		gzclose(g);
		f = fopen(path, "r+");
		fseek(f, 0, SEEK_END);
		sz = ftell(f);
		b = malloc((size_t)sz);
		fseek(f, 0, SEEK_SET);
		CHECK(fread(b, 1, (size_t)sz, f) == (size_t)sz, "read back");
		fclose(f);
		f = fopen(path, "w");
		fwrite(b, 1, (size_t)sz / 2, f);
		fclose(f);
		free(b);
	}
	CHECK(bh_tmerge_new(&m, &o) == 0, "new");
	CHECK(bh_tmerge_add_dir(m, dir, NULL, 0) == 0, "add dir");
	CHECK(bh_tmerge_open_all(m) >= 3, "opened %zu", bh_tmerge_nopen(m));
	while (bh_tmerge_next(m, &ev) == 1) {
		if (ev.ts_us < last)
			sorted = 0;
		last = ev.ts_us;
		if (!bh_tstr_eq(&ev.partner, "x"))
			snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%lld ",
				 bh_ttype_name(ev.type), (long long)ev.dport);
		n++;
	}
	CHECK(sorted, "not in timestamp order");
	CHECK(!strcmp(got, "connect1 loss-1 connect4 connect5 alert8 connect9 lifecycle-1 "),
	      "order: '%s'", got);
	bad = bh_tmerge_bad(m);
	CHECK(bad->n[BH_BAD_JSON] == 1, "not json %llu", (unsigned long long)bad->n[BH_BAD_JSON]);
	CHECK(bad->n[BH_BAD_TORN] >= 1, "torn %llu", (unsigned long long)bad->n[BH_BAD_TORN]);
	CHECK(bad->n[BH_BAD_GZIP] == 1, "gzip %llu", (unsigned long long)bad->n[BH_BAD_GZIP]);
	for (i = 0; i < bad->nkept && !strstr(bad->kept[i].where, "/acme.jsonl.1:2"); i++)
		;
	CHECK(bad->nkept == 3 && i < bad->nkept, "file:line of the bad JSON line not kept");
	CHECK(n > 7 && n < 7 + 2000, "the cut gzip gave %d lines", n - 7);
	bh_tmerge_free(m);
}

static void t_filters(void)
{
	struct bh_tfilter f[4];
	struct bh_tfilters fs = { f, 0, 0, 0 };
	char why[BH_TWHY_LEN];
	struct bh_tev ev;

	CHECK(bh_tev_parse(connect_line, strlen(connect_line), &ev, NULL) == 0, "parse");
	CHECK(bh_tfilter_parse(BH_TF_TO, "10.30.0.0/16", &f[0], why) == 0, "to: %s", why);
	CHECK(bh_tfilter_parse(BH_TF_PORT, "5000-6000", &f[1], why) == 0, "port: %s", why);
	fs.n = 2;
	CHECK(bh_tfilter_match(&fs, &ev), "to and port");
	CHECK(bh_tfilter_parse(BH_TF_VERDICT, "allow", &f[2], why) == 0, "verdict");
	fs.n = 3;
	CHECK(!bh_tfilter_match(&fs, &ev), "verdict allow must not match a deny");
	CHECK(bh_tfilter_parse(BH_TF_VERDICT, "deny", &f[3], why) == 0, "verdict");
	fs.n = 4;
	CHECK(bh_tfilter_match(&fs, &ev), "allow or deny");
	f[1].neg = 1;
	CHECK(!bh_tfilter_match(&fs, &ev), "--not --port 5000-6000");
	CHECK(bh_tfilter_parse(BH_TF_PORT, "0", &f[0], why) < 0, "port 0");
	CHECK(bh_tfilter_parse(BH_TF_PORT, "70-60", &f[0], why) < 0, "reversed");
	CHECK(bh_tfilter_parse(BH_TF_TO, "10.0.0.300", &f[0], why) < 0, "bad address");
	CHECK(bh_tfilter_parse(BH_TF_VERDICT, "maybe", &f[0], why) < 0 && strstr(why, "allow"),
	      "verdict list: %s", why);
}

static void t_time_options(void)
{
	char why[BH_TWHY_LEN];
	int64_t us;

	CHECK(bh_ttime_parse("2h", 10000000000LL, &us, why) == 0 && us == 10000000000LL - 7200000000LL,
	      "2h");
	CHECK(bh_ttime_parse("2026-11-30T05:41:37Z", 0, &us, why) == 0 && us == 1796017297000000LL,
	      "rfc3339");
	CHECK(bh_ttime_parse("soon", 0, &us, why) < 0 && strstr(why, "RFC 3339"), "bad: %s", why);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/bh-unit-trace.XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	T_RUN("parse: fields and escapes", t_parse_fields);
	T_RUN("parse: nested objects, null, booleans", t_parse_nested);
	T_RUN("parse: bad lines, each with its kind", t_parse_bad);
	T_RUN("parse: every truncation of a line is refused", t_parse_truncations);
	T_RUN("timestamps", t_ts);
	T_RUN("merge: rotated chain, gzip, host copies, bad lines", t_merge);
	T_RUN("filters: kinds AND, items OR, --not", t_filters);
	T_RUN("--since/--until values", t_time_options);
	T_RMTREE(dir);
	return T_SUMMARY();
}
