// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libFuzzer target: a control-socket request (the bytes a client sends)
 * parsed as the daemon does (json_loadb), then through the request parser of
 * its op (user/ops.h) against a built-in policy, no map touched; `apply`'s
 * text goes through bh_policy_parse as the daemon's apply does. Every
 * reason must be UTF-8.
 */
#include "fuzz.h"
#include "ops.h"

static void parse(const struct bh_policy *pol, const json_t *req, const char *op)
{
	struct bh_req_error e = { 0 };

	if (!strcmp(op, "grant")) {
		struct bh_grant_req r;

		if (!bh_parse_grant_req(pol, req, &r, &e))
			bh_grant_free(&r.g);
	} else if (!strcmp(op, "revoke")) {
		struct bh_revoke_req r;

		(void)bh_parse_revoke_req(pol, req, &r, &e);
	} else if (!strcmp(op, "list")) {
		struct bh_list_req r;

		(void)bh_parse_list_req(pol, req, &r, &e);
	} else if (!strcmp(op, "apply")) {
		struct bh_apply_req r;
		struct bh_policy p = { 0 };

		if (!bh_parse_apply_req(req, &r, &e) &&
		    !bh_policy_parse(r.file, r.text, strlen(r.text), &p, &e.e))
			bh_policy_free(&p);
	} else if (!strcmp(op, "down")) {
		struct bh_down_req r;

		(void)bh_parse_down_req(req, &r, &e);
	}
	fz_check_errors(&e.e);
	bh_req_error_free(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct bh_policy *pol = fz_policy();
	json_t *req = json_loadb((const char *)data, size, 0, NULL);
	const char *op = json_string_value(json_object_get(req, "op"));

	if (op)
		parse(pol, req, op);
	json_decref(req);
	return 0;
}
