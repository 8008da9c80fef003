// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The control-plane client commands: grant, revoke, restore, list, apply,
 * diff. Each builds one request for the daemon's control socket (ops.c
 * answers it) and prints the response; `list` reads the pins when no daemon
 * runs; `revoke` asks for a confirmation on a terminal when the daemon wants
 * one, `grant` when a protocol or ports would be widened by default.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"
#include "control.h"
#include "grants.h"
#include "loader.h"
#include "status.h"

/* ---- control-plane commands: grant, revoke, list, apply ---- */

/* Send req (consumed) to the daemon; print the response as JSON or via
 * print_human. Returns the exit code: 0 ok, 1 refused/error, 4 no daemon. */
static int ctl_print(const char *control, json_t *resp, int json,
		     void (*print_human)(const json_t *resp), int quiet_unreachable);

static int ctl_roundtrip(const char *control, json_t *req, int json,
			 void (*print_human)(const json_t *resp), int quiet_unreachable)
{
	json_t *resp = bh_ctl_call(control, req);

	json_decref(req);
	return ctl_print(control, resp, json, print_human, quiet_unreachable);
}

/* Print response resp (consumed; NULL: the daemon could not be reached). */
static int ctl_print(const char *control, json_t *resp, int json,
		     void (*print_human)(const json_t *resp), int quiet_unreachable)
{
	json_t *errs;
	int ok;

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

/* "revoked 2026-... by uid 0 (bulkhead, pid 123)" of a revoked grant. */
static void print_revoked_by(const json_t *g)
{
	const json_t *by = json_object_get(g, "revoked_by");
	const char *at = json_string_value(json_object_get(g, "revoked_at"));

	if (!at)
		return;
	printf("  revoked %s", at);
	if (json_is_object(by))
		printf(" by uid %lld (%s, pid %lld)",
		       json_integer_value(json_object_get(by, "uid")),
		       json_string_value(json_object_get(by, "comm")) ?: "?",
		       json_integer_value(json_object_get(by, "pid")));
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
	print_revoked_by(g);
	printf("\n");
}

static void print_granted(const json_t *resp)
{
	printf("granted: ");
	print_grant_line(json_object_get(resp, "grant"));
}

static void print_matches(const char *what, const json_t *arr);

static void print_revoked(const json_t *resp)
{
	json_t *arr = json_object_get(resp, "revoked");
	size_t i;

	for (i = 0; i < json_array_size(arr); i++) {
		printf("revoked: ");
		print_grant_line(json_array_get(arr, i));
	}
	print_matches("kept (inside the prefix, not exactly it; --within takes these)",
		      json_object_get(resp, "kept_inside"));
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

/* "10.77.0.10/32 tcp 443,8443" */
static void print_grant_short(const json_t *g)
{
	json_t *ports = json_object_get(g, "ports");

	printf("%s %s ", json_string_value(json_object_get(g, "to")) ?: "?",
	       json_string_value(json_object_get(g, "proto")) ?: "?");
	if (!json_array_size(ports))
		printf("all ports");
	for (size_t i = 0; i < json_array_size(ports); i++)
		printf("%s%s", i ? "," : "", json_string_value(json_array_get(ports, i)));
}

static void print_diff_grants(const json_t *pd, const char *key, const char *mark)
{
	const json_t *arr = json_object_get(pd, key);

	for (size_t i = 0; i < json_array_size(arr); i++) {
		const json_t *e = json_array_get(arr, i), *from = json_object_get(e, "from");

		printf("  %s %-8s %-24s ", mark, key,
		       json_string_value(json_object_get(from ? from : e, "id")) ?: "-");
		print_grant_short(from ? from : e);
		if (from) {
			printf("  ->  %s ", json_string_value(json_object_get(json_object_get(e, "to"),
									       "id")) ?: "-");
			print_grant_short(json_object_get(e, "to"));
		}
		printf("\n");
	}
}

static void print_names(const char *what, const json_t *arr)
{
	for (size_t i = 0; i < json_array_size(arr); i++)
		printf("%s%s", i ? ", " : what, json_string_value(json_array_get(arr, i)));
	if (json_array_size(arr))
		printf("\n");
}

/* The diff of `diff`, `apply --dry-run` and `apply`, in text. */
static void print_diff(const json_t *d)
{
	const json_t *parts = json_object_get(d, "partners");
	const json_t *cut = json_object_get(d, "flows_cut");

	print_names("partners added: ", json_object_get(d, "partners_added"));
	print_names("partners removed: ", json_object_get(d, "partners_removed"));
	for (size_t i = 0; i < json_array_size(parts); i++) {
		const json_t *pd = json_array_get(parts, i);

		printf("%s:\n", json_string_value(json_object_get(pd, "partner")));
		if (json_is_string(json_object_get(pd, "mode_from")))
			printf("  ~ mode     %s -> %s\n",
			       json_string_value(json_object_get(pd, "mode_from")),
			       json_string_value(json_object_get(pd, "mode_to")));
		print_diff_grants(pd, "added", "+");
		print_diff_grants(pd, "removed", "-");
		print_diff_grants(pd, "widened", "~");
		print_diff_grants(pd, "narrowed", "~");
		print_diff_grants(pd, "changed", "~");
		print_names("  revocations lifted (the file no longer has the grant): ",
			    json_object_get(pd, "revocations_lifted"));
		print_names("  revocations kept: ", json_object_get(pd, "revocations_kept"));
	}
	if (!json_array_size(parts))
		printf("no grant changes\n");
	if (json_is_integer(cut))
		printf("established flows that would be cut: %lld\n", json_integer_value(cut));
	else
		printf("established flows that would be cut: unknown (%s)\n",
		       json_string_value(json_object_get(d, "flows_cut_error")) ?: "?");
}

static void print_applied(const json_t *resp)
{
	if (json_is_object(json_object_get(resp, "diff")))
		print_diff(json_object_get(resp, "diff"));
	if (json_is_true(json_object_get(resp, "dry_run"))) {
		printf("dry run: nothing applied (%s)\n",
		       json_string_value(json_object_get(resp, "file")) ?: "?");
		return;
	}
	printf("applied: %lld partners, %lld grants in force; %s (sha256 %.12s) is the policy "
	       "file SIGHUP re-reads\n",
	       json_integer_value(json_object_get(resp, "partners")),
	       json_integer_value(json_object_get(resp, "grants")),
	       json_string_value(json_object_get(resp, "file")) ?: "?",
	       json_string_value(json_object_get(resp, "sha256")) ?: "?");
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
		"  -p, --proto P        tcp, udp, icmp, or any (every protocol); required\n"
		"  -o, --ports LIST     ports and ranges, as in a policy file: 443,8000-8100\n"
		"                       (repeatable), or all; required except with icmp\n"
		"\n"
		"Nothing widens by default: without --proto or --ports the grant is refused\n"
		"(on a terminal, bulkhead asks whether every protocol or port is meant).\n"
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
		json_t *ports = json_object_get(spec, "ports");
		char *dup = strdup(arg), *save = NULL, *tok;

		if (!ports) {
			ports = json_array();
			json_object_set_new(spec, "ports", ports);
		}
		/* "all": every port, said out loud (the grant then has no "ports") */
		for (tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
			json_array_append_new(ports, json_string(tok));
		free(dup);
		return 0;
	}
	if (key < 0 || (size_t)key >= sizeof(keys) / sizeof(keys[0]) || !keys[key])
		return -1;
	json_object_set_new(spec, keys[key], json_string(arg));
	return 0;
}

/* Ask on a terminal. 1: yes. */
static int ask(const char *question)
{
	char line[16];

	if (!isatty(0) || !isatty(2))
		return 0;
	fprintf(stderr, "%s [y/N] ", question);
	return fgets(line, sizeof(line), stdin) && (line[0] == 'y' || line[0] == 'Y');
}

/* No default that widens: --proto and --ports (or `all`, or icmp) given, or
 * confirmed on a terminal. 0, or -EINVAL after saying what is missing. */
static int grant_defaults(json_t *spec)
{
	const char *proto = json_string_value(json_object_get(spec, "proto"));
	json_t *ports = json_object_get(spec, "ports");
	int all = 0;

	for (size_t i = 0; i < json_array_size(ports); i++)
		all |= !strcmp(json_string_value(json_array_get(ports, i)), "all");
	if (all && json_array_size(ports) > 1) {
		fprintf(stderr, "bulkhead grant: --ports all together with other ports\n");
		return -EINVAL;
	}
	if (all)
		json_object_del(spec, "ports");
	if (!proto && !ask("no --proto: grant every protocol (tcp, udp, icmp, raw)?")) {
		fprintf(stderr, "bulkhead grant: no --proto: give tcp, udp or icmp, or `--proto any` "
			"for every protocol\n");
		return -EINVAL;
	}
	if (!proto)
		json_object_set_new(spec, "proto", json_string("any"));
	proto = json_string_value(json_object_get(spec, "proto"));
	if (!ports && strcmp(proto, "icmp") && !ask("no --ports: grant every port?")) {
		fprintf(stderr, "bulkhead grant: no --ports: give the ports (443,8000-8100), or "
			"`--ports all` for every port\n");
		return -EINVAL;
	}
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
	if (grant_defaults(spec)) {
		json_decref(spec);
		return 2;
	}
	req = json_pack("{s:s, s:s, s:o}", "op", "grant", "partner", a.args[0], "grant", spec);
	return ctl_roundtrip(a.control, req, a.json, print_granted, 0);
}

static void revoke_usage(FILE *f)
{
	fprintf(f,
		"Usage: bulkhead revoke PARTNER (--grant ID | --to CIDR | --within CIDR)\n"
		"                       [--dry-run] [--yes] [--json] [--control PATH]\n"
		"\n"
		"Revoke a grant (ID as `bulkhead list` shows it, e.g. acme/api or acme/j7),\n"
		"the grants of PARTNER whose destination is exactly CIDR (--to), or every grant\n"
		"of PARTNER inside CIDR (--within). A revocation that takes more than one\n"
		"grant, or a policy-file grant, lists what it would take and needs --yes (on\n"
		"a terminal it asks). When the command returns, the kernel already enforces\n"
		"it: the next packet of an established flow no longer covered is dropped\n"
		"(reason \"revoked\"), replies included. Revoking a policy-file grant is\n"
		"remembered (pinned) across restarts and reloads; `bulkhead list` shows it\n"
		"and `bulkhead restore PARTNER --grant ID` lifts it.\n"
		"\n"
		"  -g, --grant ID       one grant\n"
		"  -t, --to CIDR        the grants whose destination is exactly CIDR\n"
		"  -w, --within CIDR    every grant inside CIDR\n"
		"  -n, --dry-run        only list what would be revoked\n"
		"  -y, --yes            confirm a revocation of several or policy-file grants\n"
		"  -j, --json           print the daemon's JSON response\n"
		"  -c, --control PATH   (default $BULKHEAD_CONTROL or " BH_DEFAULT_CONTROL ")\n"
		"  -h, --help           this help\n");
}

struct revoke_args {
	const char *sel[3];	/* grant id, to, within */
	int dry_run, yes;
};

static int revoke_opt(void *ctx, int key, const char *arg)
{
	struct revoke_args *r = ctx;

	switch (key) {
	case 'g': r->sel[0] = arg; return 0;
	case 't': r->sel[1] = arg; return 0;
	case 'w': r->sel[2] = arg; return 0;
	case 'n': r->dry_run = 1; return 0;
	case 'y': r->yes = 1; return 0;
	default: return -1;
	}
}

static void print_matches(const char *what, const json_t *arr)
{
	for (size_t i = 0; i < json_array_size(arr); i++) {
		printf("%s: ", what);
		print_grant_line(json_array_get(arr, i));
	}
}

static void print_revoke_preview(const json_t *resp)
{
	print_matches("would revoke", json_object_get(resp, "matches"));
	print_matches("would keep (inside the prefix, not exactly it; --within takes these)",
		      json_object_get(resp, "kept_inside"));
}

/* The daemon wants a confirmation: on a terminal, list and ask. 1 yes. */
static int confirm(const json_t *resp)
{
	char line[16];

	if (!isatty(0) || !isatty(2))
		return 0;
	print_matches("would revoke", json_object_get(resp, "matches"));
	fprintf(stderr, "revoke these %zu grant(s)? [y/N] ",
		json_array_size(json_object_get(resp, "matches")));
	if (!fgets(line, sizeof(line), stdin))
		return 0;
	return line[0] == 'y' || line[0] == 'Y';
}

int cmd_revoke(int argc, char **argv)
{
	static const struct cli_opt own[] = {
		{ "grant", 'g', required_argument },
		{ "to", 't', required_argument },
		{ "within", 'w', required_argument },
		{ "dry-run", 'n', no_argument },
		{ "yes", 'y', no_argument },
		{ 0 }
	};
	static const char *const keys[] = { "grant", "to", "within" };
	struct revoke_args r = {};
	struct cli_args a;
	json_t *req, *resp;
	int rc, i, nsel = 0, which = 0;

	rc = cli_parse(argc, argv, OPT_JSON | OPT_CONTROL, own, revoke_opt, &r, revoke_usage, 1,
		       1, &a);
	if (rc >= 0)
		return rc;
	for (i = 0; i < 3; i++)
		if (r.sel[i]) {
			nsel++;
			which = i;
		}
	if (nsel != 1) {
		fprintf(stderr, "bulkhead revoke: %s: give exactly one of --grant ID, --to CIDR "
			"or --within CIDR (`bulkhead list %s` shows the grants)\n\n",
			nsel ? "more than one selector" : "nothing selected", a.args[0]);
		revoke_usage(stderr);
		return 2;
	}
	req = json_pack("{s:s, s:s, s:s, s:b, s:b}", "op", "revoke", "partner", a.args[0],
			keys[which], r.sel[which], "dry_run", r.dry_run, "yes", r.yes);
	if (r.dry_run || r.yes || a.json)
		return ctl_roundtrip(a.control, req, a.json,
				     r.dry_run ? print_revoke_preview : print_revoked, 0);
	/* unconfirmed: the daemon lists what needs a --yes; ask on a terminal */
	resp = bh_ctl_call(a.control, req);
	if (resp && json_is_true(json_object_get(resp, "confirm"))) {
		if (confirm(resp)) {
			json_object_set_new(req, "yes", json_true());
			json_decref(resp);
			return ctl_roundtrip(a.control, req, 0, print_revoked, 0);
		}
		if (!isatty(0) || !isatty(2))
			print_matches("would revoke", json_object_get(resp, "matches"));
	}
	json_decref(req);
	return ctl_print(a.control, resp, 0, print_revoked, 0);
}

static void restore_usage(FILE *f)
{
	fprintf(f,
		"Usage: bulkhead restore PARTNER --grant ID [--dry-run] [--json] [--control PATH]\n"
		"\n"
		"Lift the revocation of policy-file grant ID (as `bulkhead list` shows it): the\n"
		"grant is in force again when the command returns. A `policy` event with\n"
		"action \"restore\" names you, and who revoked it and when.\n"
		"\n"
		"  -g, --grant ID       the revoked grant\n"
		"  -n, --dry-run        only say what would be restored\n"
		"  -j, --json           print the daemon's JSON response\n"
		"  -c, --control PATH   (default $BULKHEAD_CONTROL or " BH_DEFAULT_CONTROL ")\n"
		"  -h, --help           this help\n");
}

static void print_restored(const json_t *resp)
{
	printf("%s: ", json_is_true(json_object_get(resp, "dry_run")) ? "would restore" :
	       "restored");
	print_grant_line(json_object_get(resp, "restored"));
}

int cmd_restore(int argc, char **argv)
{
	static const struct cli_opt own[] = {
		{ "grant", 'g', required_argument },
		{ "dry-run", 'n', no_argument },
		{ 0 }
	};
	struct revoke_args r = {};
	struct cli_args a;
	json_t *req;
	int rc;

	rc = cli_parse(argc, argv, OPT_JSON | OPT_CONTROL, own, revoke_opt, &r, restore_usage, 1,
		       1, &a);
	if (rc >= 0)
		return rc;
	if (!r.sel[0]) {
		fprintf(stderr, "bulkhead restore: no --grant ID given (`bulkhead list %s` shows "
			"the revoked grants)\n\n", a.args[0]);
		restore_usage(stderr);
		return 2;
	}
	req = json_pack("{s:s, s:s, s:s, s:b}", "op", "restore", "partner", a.args[0], "grant",
			r.sel[0], "dry_run", r.dry_run);
	return ctl_roundtrip(a.control, req, a.json, print_restored, 0);
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
		"Usage: bulkhead apply FILE [--dry-run] [--json] [--control PATH]\n"
		"       bulkhead diff FILE [--json] [--control PATH]\n"
		"\n"
		"Replace the running policy with FILE. The daemon compiles it in full before\n"
		"touching any map, then switches atomically: no packet is judged by a mix of\n"
		"old and new. On any error the running policy stays and the errors are printed\n"
		"as FILE:LINE:COLUMN: reason. Just-in-time grants are kept, and so is the\n"
		"expiry of every `ttl` grant FILE still has (a new or changed one starts now);\n"
		"a revocation is kept while FILE has that grant id, lifted when it has not.\n"
		"\n"
		"FILE becomes the daemon's policy file: SIGHUP re-reads FILE, and the next\n"
		"`bulkhead run` on these pins loads FILE instead of its --policy (pinned;\n"
		"`bulkhead status` shows the path, sha256 and generation), until another\n"
		"apply or `bulkhead down`.\n"
		"\n"
		"Before and after: what changes per partner (grants added, removed, widened,\n"
		"narrowed; revocations lifted or kept) and how many established flows the new\n"
		"policy cuts. `diff FILE` (or `apply --dry-run FILE`) prints only that.\n"
		"\n"
		"  -n, --dry-run        print what would change; apply nothing\n"
		"  -j, --json           print the daemon's JSON response\n"
		"  -c, --control PATH   (default $BULKHEAD_CONTROL or " BH_DEFAULT_CONTROL ")\n"
		"  -h, --help           this help\n");
}

static int apply_opt(void *ctx, int key, const char *arg)
{
	(void)arg;
	if (key != 'n')
		return -1;
	*(int *)ctx = 1;
	return 0;
}

/* apply FILE, or (dry_run) diff FILE: the text and the absolute path. */
static int apply_or_diff(int argc, char **argv, int dry_run)
{
	static const struct cli_opt own[] = {
		{ "dry-run", 'n', no_argument },
		{ 0 }
	};
	struct cli_args a;
	json_t *req;
	char *text = NULL, *path;
	size_t len = 0;
	int rc;

	rc = cli_parse(argc, argv, OPT_JSON | OPT_CONTROL, own, apply_opt, &dry_run, apply_usage,
		       1, 1, &a);
	if (rc >= 0)
		return rc;
	if (cli_read_text(a.args[0], &text, &len))
		return 1;
	path = realpath(a.args[0], NULL);
	req = path ? json_pack("{s:s, s:s, s:s}", "op", dry_run ? "diff" : "apply", "file", path,
			       "text", text) : NULL;
	free(text);
	free(path);
	if (!req) {
		fprintf(stderr, "%s: not valid UTF-8 text\n", a.args[0]);
		return 1;
	}
	return ctl_roundtrip(a.control, req, a.json, print_applied, 0);
}

int cmd_apply(int argc, char **argv)
{
	return apply_or_diff(argc, argv, 0);
}

int cmd_diff(int argc, char **argv)
{
	return apply_or_diff(argc, argv, 1);
}
