// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libFuzzer target: `bulkhead grant acme --to .. --ttl .. --expires ..
 * --proto .. --ports .. --purpose ..` as the daemon receives it. The input
 * holds the six option values, one a line (an empty line: not given); the
 * request is built as the CLI builds it (cli_ctl.c), parsed by
 * bh_parse_grant_req, turned into the JIT record `grant` stores
 * (bh_jit_grant_record) and listed (bh_jit_list_json). A grant taken must
 * expire after now on both clocks, keep its purpose, and list as UTF-8 JSON.
 */
#include "fuzz.h"
#include "grants.h"
#include "ops.h"

static const char *const keys[] = { "to", "ttl", "expires", "proto", "ports", "purpose" };

static json_t *spec_of(char *s)
{
	json_t *spec = json_object();
	char *save = NULL, *line = s, *nl;

	for (size_t i = 0; i < 6 && line; i++, line = nl) {
		nl = strchr(line, '\n');
		if (nl)
			*nl++ = 0;
		if (!*line)
			continue;
		if (i == 4) {
			json_t *ports = json_array();

			for (char *t = strtok_r(line, ",", &save); t; t = strtok_r(NULL, ",", &save))
				json_array_append_new(ports, json_string(t));
			json_object_set_new(spec, "ports", ports);
		} else {
			json_object_set_new(spec, keys[i], json_string(line));
		}
	}
	return spec;
}

static void check_record(const struct bh_grant *g, const struct bh_clock *clk)
{
	struct bh_jit r;
	struct bh_jitset s = { .n = 1, .r = &r };
	json_t *list;
	char *text;

	bh_jit_grant_record(&r, 1, "acme", g, clk);
	if (g->ttl_ns && ((int64_t)r.expires_unix_ns <= clk->wall_ns ||
			  (int64_t)r.expires_boot_ns <= clk->boot_ns))
		abort();	/* a ttl that wrapped into the past */
	if (g->purpose && strcmp(r.purpose, g->purpose))
		abort();	/* the purpose stored is not the one taken */
	list = bh_jit_list_json(&s, NULL, clk);
	text = list ? json_dumps(list, JSON_COMPACT) : NULL;
	if (!text || !fz_utf8_ok(text) ||
	    (g->purpose && !json_object_get(json_array_get(list, 0), "purpose")))
		abort();
	free(text);
	json_decref(list);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct bh_clock clk = { .wall_ns = 1795432831ll * BH_NS_PER_SEC,
					     .boot_ns = 86400 * BH_NS_PER_SEC };
	char *s = fz_cstr(data, size);
	json_t *req = json_pack("{s:s, s:s, s:o}", "op", "grant", "partner", "acme",
				"grant", spec_of(s));
	struct bh_req_error e = { 0 };
	struct bh_grant_req r;

	if (!req)
		abort();
	if (!bh_parse_grant_req(fz_policy(), req, &r, &e)) {
		check_record(&r.g, &clk);
		bh_grant_free(&r.g);
	}
	fz_check_errors(&e.e);
	bh_req_error_free(&e);
	json_decref(req);
	free(s);
	return 0;
}
