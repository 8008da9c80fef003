// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The control-plane client commands: grant, revoke, list, apply. Each builds
 * one request for the daemon's control socket (ops.c answers it) and prints
 * the response; `list` reads the pins when no daemon runs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "control.h"
#include "grants.h"
#include "loader.h"
#include "status.h"

/* ---- control-plane commands: grant, revoke, list, apply ---- */

/* Send req (consumed) to the daemon; print the response as JSON or via
 * print_human. Returns the exit code: 0 ok, 1 refused/error, 4 no daemon. */
static int ctl_roundtrip(const char *control, json_t *req, int json,
			 void (*print_human)(const json_t *resp), int quiet_unreachable)
{
	json_t *resp = bh_ctl_call(control, req);
	json_t *errs;
	int ok;

	json_decref(req);
	if (!resp && quiet_unreachable)
		return 4;
	if (!resp) {
		fprintf(stderr, "bulkhead: cannot reach the daemon at %s: %s (is `bulkhead run` "
			"running? --control/BULKHEAD_CONTROL select the socket)\n", control,
			strerror(errno));
		return 4;
	}
	ok = json_is_true(json_object_get(resp, "ok"));
	errs = json_object_get(resp, "warnings");	/* the linter's, as `check` prints them */
	for (size_t i = 0; !json && i < json_array_size(errs); i++)
		fprintf(stderr, "%s\n", json_string_value(json_array_get(errs, i)));
	if (json) {
		char *s = json_dumps(resp, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

		if (s)
			puts(s);
		free(s);
	} else if (ok) {
		print_human(resp);
	} else {
		size_t i;

		errs = json_object_get(resp, "errors");
		if (json_array_size(errs)) {
			for (i = 0; i < json_array_size(errs); i++)
				fprintf(stderr, "%s\n", json_string_value(json_array_get(errs, i)));
		} else {
			fprintf(stderr, "bulkhead: %s\n",
				json_string_value(json_object_get(resp, "error")) ?: "refused");
		}
	}
	json_decref(resp);
	return ok ? 0 : 1;
}

static void print_grant_line(const json_t *g)
{
	json_t *ports = json_object_get(g, "ports");
	const char *purpose = json_string_value(json_object_get(g, "purpose"));
	const char *exp = json_string_value(json_object_get(g, "expires"));
	json_t *rem = json_object_get(g, "remaining_s");
	size_t i;

	printf("%-16s %-8s %-28s %-5s ", json_string_value(json_object_get(g, "id")) ?: "-",
	       json_string_value(json_object_get(g, "state")) ?: "",
	       json_string_value(json_object_get(g, "to")) ?: "?",
	       json_string_value(json_object_get(g, "proto")) ?: "?");
	if (!json_array_size(ports))
		printf("%-14s", "all");
	for (i = 0; i < json_array_size(ports); i++)
		printf("%s%s", i ? "," : "", json_string_value(json_array_get(ports, i)));
	if (exp)
		printf("  expires %s (%.1fs left)", exp, json_real_value(rem));
	if (purpose)
		printf("  \"%s\"", purpose);
	if (json_is_string(json_object_get(g, "org")))
		printf("  org %s", json_string_value(json_object_get(g, "org")));
	printf("\n");
}

static void print_granted(const json_t *resp)
{
	printf("granted: ");
	print_grant_line(json_object_get(resp, "grant"));
}

static void print_revoked(const json_t *resp)
{
	json_t *arr = json_object_get(resp, "revoked");
	size_t i;

	for (i = 0; i < json_array_size(arr); i++) {
		printf("revoked: ");
		print_grant_line(json_array_get(arr, i));
	}
	printf("enforced now: established flows no longer covered are dropped at their next "
	       "packet\n");
}

static void print_list(const json_t *resp)
{
	json_t *arr = json_object_get(resp, "grants");
	size_t i;

	printf("%-16s %-8s %-28s %-5s %s\n", "ID", "STATE", "TO", "PROTO", "PORTS");
	for (i = 0; i < json_array_size(arr); i++)
		print_grant_line(json_array_get(arr, i));
}

static void print_applied(const json_t *resp)
{
	printf("applied: %lld partners, %lld grants in force\n",
	       json_integer_value(json_object_get(resp, "partners")),
	       json_integer_value(json_object_get(resp, "grants")));
}

static void grant_usage(FILE *f)
{
	fprintf(f,
		"Usage: bulkhead grant PARTNER --to CIDR (--ttl D | --expires T) [--proto P]\n"
		"                      [--ports LIST] [--purpose TEXT] [--json] [--control PATH]\n"
		"\n"
		"Just-in-time grant: PARTNER may reach CIDR until the grant expires. The expiry\n"
		"is enforced by the kernel's clock at every decision, not by a sweeper: at that\n"
		"instant established flows it covered are dropped at their next packet\n"
		"(reason \"expired\"). Survives daemon restarts. A `policy` event names you.\n"
		"The grant's id, PARTNER/jN, is never reused for another grant until\n"
		"`bulkhead down`, so the grant.id of an event names one grant.\n"
		"\n"
		"The partner's tier (docs/policy.md, Tiers) bounds the lifetime (max_ttl:\n"
		"critical 1h, high 8h, standard 1d, low 7d) and may require --purpose; a\n"
		"grant beyond them is refused. The grant linter's findings (the whole\n"
		"internet, every port, link-local or metadata addresses, a grant another\n"
		"one already covers, a destination another partner has) are printed as\n"
		"warnings on stderr, or refuse the grant in a tier that says so (critical).\n"
		"\n"
		"  -t, --to CIDR        address or prefix (IPv4 or IPv6)\n"
		"  -T, --ttl D          lifetime: 90s, 15m, 8h, 2d\n"
		"  -e, --expires T      RFC 3339 instant instead of --ttl\n"
		"  -p, --proto P        tcp, udp, icmp or any (default any)\n"
		"  -o, --ports LIST     comma-separated ports and ranges: 443,8000-8100\n"
		"  -u, --purpose TEXT   why; appears in every event this grant decides\n"
		"  -j, --json           print the daemon's JSON response\n"
		"  -c, --control PATH   (default $BULKHEAD_CONTROL or " BH_DEFAULT_CONTROL ")\n"
		"  -h, --help           this help\n");
}

static int grant_opt(void *ctx, int key, const char *arg)
{
	static const char *const keys[] = {
		['t'] = "to", ['T'] = "ttl", ['e'] = "expires", ['p'] = "proto", ['u'] = "purpose",
	};
	json_t *spec = ctx;

	if (key == 'o') {
		json_t *ports = json_array();
		char *dup = strdup(arg), *save = NULL, *tok;

		for (tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
			json_array_append_new(ports, json_string(tok));
		free(dup);
		json_object_set_new(spec, "ports", ports);
		return 0;
	}
	if (key < 0 || (size_t)key >= sizeof(keys) / sizeof(keys[0]) || !keys[key])
		return -1;
	json_object_set_new(spec, keys[key], json_string(arg));
	return 0;
}

int cmd_grant(int argc, char **argv)
{
	static const struct cli_opt own[] = {
		{ "to", 't', required_argument },
		{ "ttl", 'T', required_argument },
		{ "expires", 'e', required_argument },
		{ "proto", 'p', required_argument },
		{ "ports", 'o', required_argument },
		{ "purpose", 'u', required_argument },
		{ 0 }
	};
	json_t *spec = json_object(), *req;
	struct cli_args a;
	int rc;

	rc = cli_parse(argc, argv, OPT_JSON | OPT_CONTROL, own, grant_opt, spec, grant_usage, 1,
		       1, &a);
	if (rc < 0 && !json_object_get(spec, "to")) {
		grant_usage(stderr);
		rc = 2;
	}
	if (rc >= 0) {
		json_decref(spec);
		return rc;
	}
	req = json_pack("{s:s, s:s, s:o}", "op", "grant", "partner", a.args[0], "grant", spec);
	return ctl_roundtrip(a.control, req, a.json, print_granted, 0);
}

static void revoke_usage(FILE *f)
{
	fprintf(f,
		"Usage: bulkhead revoke PARTNER (--grant ID | --to CIDR) [--json] [--control PATH]\n"
		"\n"
		"Revoke a grant (ID as `bulkhead list` shows it, e.g. acme/2 or acme/j7) or every\n"
		"grant of PARTNER lying within CIDR. When the command returns, the kernel already\n"
		"enforces it: the next packet of an established flow no longer covered is\n"
		"dropped (reason \"revoked\"), replies included. Revoking a policy-file grant is\n"
		"remembered (pinned) across restarts and reloads; `bulkhead list` shows it.\n"
		"\n"
		"  -g, --grant ID       one grant\n"
		"  -t, --to CIDR        every grant of PARTNER within CIDR\n"
		"  -j, --json           print the daemon's JSON response\n"
		"  -c, --control PATH   (default $BULKHEAD_CONTROL or " BH_DEFAULT_CONTROL ")\n"
		"  -h, --help           this help\n");
}

static int revoke_opt(void *ctx, int key, const char *arg)
{
	const char **sel = ctx;	/* [0] grant id, [1] cidr */

	if (key != 'g' && key != 't')
		return -1;
	sel[key == 't'] = arg;
	return 0;
}

int cmd_revoke(int argc, char **argv)
{
	static const struct cli_opt own[] = {
		{ "grant", 'g', required_argument },
		{ "to", 't', required_argument },
		{ 0 }
	};
	const char *sel[2] = { NULL, NULL };
	struct cli_args a;
	json_t *req;
	int rc;

	rc = cli_parse(argc, argv, OPT_JSON | OPT_CONTROL, own, revoke_opt, sel, revoke_usage, 1,
		       1, &a);
	if (rc >= 0)
		return rc;
	if (!sel[0] == !sel[1]) {
		revoke_usage(stderr);
		return 2;
	}
	req = json_pack("{s:s, s:s}", "op", "revoke", "partner", a.args[0]);
	json_object_set_new(req, sel[0] ? "grant" : "to", json_string(sel[0] ? sel[0] : sel[1]));
	return ctl_roundtrip(a.control, req, a.json, print_revoked, 0);
}

static void list_usage(FILE *f)
{
	fprintf(f,
		"Usage: bulkhead list [PARTNER] [--json] [--control PATH] [--pin-dir DIR]\n"
		"\n"
		"Grants in force (policy file and just-in-time) with their expiry and remaining\n"
		"lifetime, and revoked policy-file grants with who revoked them and when. The\n"
		"expiry is fixed: a just-in-time grant's when it was made, a policy-file\n"
		"`ttl` grant's from when that grant first became part of the applied policy\n"
		"(reloads do not extend it). With the daemon down, the just-in-time grants\n"
		"and revocations pinned in the kernel.\n"
		"\n"
		"  -j, --json           JSON\n"
		"  -c, --control PATH   (default $BULKHEAD_CONTROL or " BH_DEFAULT_CONTROL ")\n"
		"  -P, --pin-dir DIR    pins to read when the daemon is down\n"
		"  -h, --help           this help\n");
}

/* The daemon is down: what the pins alone say (JIT grants, revocations). */
static int list_pinned(const struct cli_args *a)
{
	struct bh_jitset js;
	struct bh_clock clk;
	json_t *resp;
	int rc;

	rc = bh_jit_load_pinned(a->pin_dir, &js);
	if (rc) {
		fprintf(stderr, "bulkhead: no daemon and %s in %s\n", rc == -ENOENT ?
			"nothing pinned" : strerror(-rc), a->pin_dir);
		return 4;
	}
	bh_clock_now(&clk);
	resp = json_pack("{s:b, s:s, s:o}", "ok", 1, "daemon", "down", "grants",
			 bh_jit_list_json(&js, a->nargs ? a->args[0] : NULL, &clk));
	bh_pinned_orgs(a->pin_dir, json_object_get(resp, "grants"));
	bh_jitset_free(&js);
	if (a->json) {
		char *s = json_dumps(resp, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

		if (s)
			puts(s);
		free(s);
	} else {
		printf("daemon down: just-in-time grants and revocations from %s (policy-file\n"
		       "grants are enforced as pinned; `bulkhead check FILE` lists them)\n",
		       a->pin_dir);
		print_list(resp);
	}
	json_decref(resp);
	rc = 0;
	return rc;
}

int cmd_list(int argc, char **argv)
{
	struct cli_args a;
	json_t *req;
	int rc;

	rc = cli_parse(argc, argv, OPT_JSON | OPT_CONTROL | OPT_PIN_DIR, NULL, NULL, NULL,
		       list_usage, 0, 1, &a);
	if (rc >= 0)
		return rc;
	req = json_pack("{s:s}", "op", "list");
	if (a.nargs)
		json_object_set_new(req, "partner", json_string(a.args[0]));
	rc = ctl_roundtrip(a.control, req, a.json, print_list, 1);
	return rc == 4 ? list_pinned(&a) : rc;
}

static void apply_usage(FILE *f)
{
	fprintf(f,
		"Usage: bulkhead apply FILE [--json] [--control PATH]\n"
		"\n"
		"Replace the running policy with FILE. The daemon compiles it in full before\n"
		"touching any map, then switches atomically: no packet is judged by a mix of\n"
		"old and new. On any error the running policy stays and the errors are printed\n"
		"as FILE:LINE:COLUMN: reason. Just-in-time grants and revocations are kept,\n"
		"and so is the expiry of every `ttl` grant FILE still has (a new or changed\n"
		"one starts now).\n"
		"\n"
		"  -j, --json           print the daemon's JSON response\n"
		"  -c, --control PATH   (default $BULKHEAD_CONTROL or " BH_DEFAULT_CONTROL ")\n"
		"  -h, --help           this help\n");
}

int cmd_apply(int argc, char **argv)
{
	struct cli_args a;
	json_t *req;
	char *text = NULL;
	size_t len = 0;
	int rc;

	rc = cli_parse(argc, argv, OPT_JSON | OPT_CONTROL, NULL, NULL, NULL, apply_usage, 1, 1, &a);
	if (rc >= 0)
		return rc;
	if (cli_read_text(a.args[0], &text, &len))
		return 1;
	req = json_pack("{s:s, s:s, s:s}", "op", "apply", "file", a.args[0], "text", text);
	free(text);
	if (!req) {
		fprintf(stderr, "%s: not valid UTF-8 text\n", a.args[0]);
		return 1;
	}
	return ctl_roundtrip(a.control, req, a.json, print_applied, 0);
}

