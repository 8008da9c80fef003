// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* bulkhead: command table and the foreground daemon. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "control.h"
#include "daemon.h"
#include "loader.h"
#include "log.h"
#include "policy.h"
#include "status.h"

struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

static const char *pin_dir_default(void)
{
	const char *e = getenv("BULKHEAD_PIN_DIR");

	return e && *e ? e : BH_DEFAULT_PIN_DIR;
}

static const char *control_default(void)
{
	const char *e = getenv("BULKHEAD_CONTROL");

	return e && *e ? e : BH_DEFAULT_CONTROL;
}

static void print_errors(const struct bh_errors *e)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		fprintf(stderr, "%s\n", e->msg[i]);
	if (e->more)
		fprintf(stderr, "(and %zu more errors)\n", (size_t)e->more);
}

/* ---- check ---- */

static void check_usage(FILE *f)
{
	fprintf(f,
		"Usage: bulkhead check [--json] FILE\n"
		"\n"
		"Validate and compile a policy without touching the kernel. Prints a summary\n"
		"(partners, grants, compiled trie entries) and exits 0, or prints every error\n"
		"as FILE:LINE:COLUMN: reason and exits 1.\n"
		"\n"
		"  -j, --json   summary as one JSON object\n"
		"  -h, --help   this help\n");
}

static int cmd_check(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct bh_policy p = {};
	struct bh_compiled c = {};
	struct bh_errors errs = {};
	struct bh_clock clk;
	size_t i;
	int json = 0, o, err;

	while ((o = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		switch (o) {
		case 'j':
			json = 1;
			break;
		case 'h':
			check_usage(stdout);
			return 0;
		default:
			check_usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		check_usage(stderr);
		return 2;
	}
	err = bh_policy_load(argv[optind], &p, &errs);
	if (!err) {
		/* provisional ids in file order: check never touches pinned state */
		for (i = 0; i < p.npartners; i++)
			p.partners[i].id = i + 1;
		bh_clock_now(&clk);
		err = bh_compile(&p, &clk, &c, &errs);
	}
	if (err) {
		print_errors(&errs);
		bh_errors_free(&errs);
		bh_policy_free(&p);
		return 1;
	}
	bh_policy_summary(&p, &c, stdout, json);
	bh_compiled_free(&c);
	bh_policy_free(&p);
	return 0;
}

/* ---- run ---- */

static void run_usage(FILE *f)
{
	fprintf(f,
		"Usage: bulkhead run --policy FILE [--log-dir DIR | --stdout] [OPTIONS]\n"
		"\n"
		"Load the BPF programs, apply the policy, attach at the top of every partner\n"
		"subtree, and stream every decision as JSON Lines until SIGINT or SIGTERM.\n"
		"Enforcement stays pinned after the daemon exits; `bulkhead down` removes it.\n"
		"A daemon started on existing pins adopts them: maps are reused and programs\n"
		"replaced in place, so enforcement never lapses. Any load or attach failure\n"
		"exits non-zero with the reason: bulkhead never fails open silently.\n"
		"SIGHUP reopens the log files (logrotate).\n"
		"\n"
		"Prints `ready` on stdout once enforcement is attached.\n"
		"\n"
		"  -p, --policy FILE        policy (JSON, schema v1; see docs/policy.md)\n"
		"  -l, --log-dir DIR        LOGDIR/<partner>.jsonl and LOGDIR/host.jsonl\n"
		"                           (default " BH_DEFAULT_LOG_DIR ")\n"
		"  -s, --stdout             every event on stdout instead (journald, containers)\n"
		"  -f, --flow-interval SEC  allowed-flow summaries every SEC seconds (default 10,\n"
		"                           0 = off)\n"
		"  -r, --ring-size KIB      event ring buffer size, a power of two (default 8192)\n"
		"  -P, --pin-dir DIR        bpffs directory for maps and links\n"
		"                           (default $BULKHEAD_PIN_DIR or " BH_DEFAULT_PIN_DIR ")\n"
		"  -c, --control PATH       control socket for grant/revoke/list/apply\n"
		"                           (default $BULKHEAD_CONTROL or " BH_DEFAULT_CONTROL ")\n"
		"  -v, --verbose            debug output, libbpf's included\n"
		"  -h, --help               this help\n");
}

static int parse_uint(const char *opt, const char *s, unsigned int *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > 0xffffffffUL) {
		fprintf(stderr, "bulkhead: %s: '%s' is not a non-negative integer\n", opt, s);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "policy", required_argument, NULL, 'p' },
		{ "log-dir", required_argument, NULL, 'l' },
		{ "stdout", no_argument, NULL, 's' },
		{ "flow-interval", required_argument, NULL, 'f' },
		{ "ring-size", required_argument, NULL, 'r' },
		{ "pin-dir", required_argument, NULL, 'P' },
		{ "control", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct bh_daemon_opts o = {
		.pin_dir = pin_dir_default(),
		.control = control_default(),
		.log_dir = BH_DEFAULT_LOG_DIR,
		.flow_interval_s = 10,
	};
	int c;

	while ((c = getopt_long(argc, argv, "p:l:sf:r:P:c:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			o.policy = optarg;
			break;
		case 'l':
			o.log_dir = optarg;
			break;
		case 's':
			o.to_stdout = 1;
			break;
		case 'f':
			if (parse_uint("--flow-interval", optarg, &o.flow_interval_s))
				return 2;
			break;
		case 'r':
			if (parse_uint("--ring-size", optarg, &o.ring_size_kib))
				return 2;
			break;
		case 'P':
			o.pin_dir = optarg;
			break;
		case 'c':
			o.control = optarg;
			break;
		case 'v':
			bh_log_level = BH_LOG_DEBUG;
			break;
		case 'h':
			run_usage(stdout);
			return 0;
		default:
			run_usage(stderr);
			return 2;
		}
	}
	if (!o.policy || optind != argc) {
		fprintf(stderr, "bulkhead run: --policy FILE is required\n\n");
		run_usage(stderr);
		return 2;
	}
	if (o.to_stdout)
		o.log_dir = NULL;
	return bh_daemon_run(&o);
}

/* ---- down ---- */

static void down_usage(FILE *f)
{
	fprintf(f,
		"Usage: bulkhead down [--pin-dir DIR]\n"
		"\n"
		"Detach every program bulkhead attached and remove everything it pinned.\n"
		"This is the only way enforcement is removed: a stopped or crashed daemon\n"
		"leaves it in place.\n"
		"\n"
		"  -P, --pin-dir DIR   (default $BULKHEAD_PIN_DIR or " BH_DEFAULT_PIN_DIR ")\n"
		"  -h, --help          this help\n");
}

static int cmd_down(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pin-dir", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *pin_dir = pin_dir_default();
	int o;

	while ((o = getopt_long(argc, argv, "P:h", opts, NULL)) != -1) {
		switch (o) {
		case 'P':
			pin_dir = optarg;
			break;
		case 'h':
			down_usage(stdout);
			return 0;
		default:
			down_usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		down_usage(stderr);
		return 2;
	}
	return bh_down(pin_dir) ? 1 : 0;
}

/* ---- status ---- */

static void status_usage(FILE *f)
{
	fprintf(f,
		"Usage: bulkhead status [--json] [--pin-dir DIR]\n"
		"\n"
		"What is loaded (programs and their cgroups), the policy generation, per-partner\n"
		"allow/deny/audit counters, and events emitted and lost. Reads the pinned maps,\n"
		"so it works while the daemon is down. Exits 3 when nothing is loaded.\n"
		"\n"
		"  -j, --json          one JSON object\n"
		"  -P, --pin-dir DIR   (default $BULKHEAD_PIN_DIR or " BH_DEFAULT_PIN_DIR ")\n"
		"  -h, --help          this help\n");
}

static int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "pin-dir", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *pin_dir = pin_dir_default();
	int o, json = 0;

	while ((o = getopt_long(argc, argv, "jP:h", opts, NULL)) != -1) {
		switch (o) {
		case 'j':
			json = 1;
			break;
		case 'P':
			pin_dir = optarg;
			break;
		case 'h':
			status_usage(stdout);
			return 0;
		default:
			status_usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		status_usage(stderr);
		return 2;
	}
	return bh_status(pin_dir, json);
}

/* ---- control-plane commands: grant, revoke, list, apply ---- */

/* Send req (consumed) to the daemon; print the response as JSON or via
 * print_human. Returns the exit code: 0 ok, 1 refused/error, 4 no daemon. */
static int ctl_roundtrip(const char *control, json_t *req, int json,
			 void (*print_human)(const json_t *resp))
{
	json_t *resp = bh_ctl_call(control, req);
	json_t *errs;
	int ok;

	json_decref(req);
	if (!resp) {
		fprintf(stderr, "bulkhead: cannot reach the daemon at %s: %s (is `bulkhead run` "
			"running? --control/BULKHEAD_CONTROL select the socket)\n", control,
			strerror(errno));
		return 4;
	}
	ok = json_is_true(json_object_get(resp, "ok"));
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

	printf("%-16s %-8s %-28s %-5s ", json_string_value(json_object_get(g, "id")) ?: "?",
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

static int cmd_grant(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "to", required_argument, NULL, 't' },
		{ "ttl", required_argument, NULL, 'T' },
		{ "expires", required_argument, NULL, 'e' },
		{ "proto", required_argument, NULL, 'p' },
		{ "ports", required_argument, NULL, 'o' },
		{ "purpose", required_argument, NULL, 'u' },
		{ "json", no_argument, NULL, 'j' },
		{ "control", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *control = control_default();
	json_t *spec = json_object(), *req;
	int o, json = 0;

	while ((o = getopt_long(argc, argv, "t:T:e:p:o:u:jc:h", opts, NULL)) != -1) {
		switch (o) {
		case 't':
			json_object_set_new(spec, "to", json_string(optarg));
			break;
		case 'T':
			json_object_set_new(spec, "ttl", json_string(optarg));
			break;
		case 'e':
			json_object_set_new(spec, "expires", json_string(optarg));
			break;
		case 'p':
			json_object_set_new(spec, "proto", json_string(optarg));
			break;
		case 'o': {
			json_t *ports = json_array();
			char *dup = strdup(optarg), *save = NULL, *tok;

			for (tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
				json_array_append_new(ports, json_string(tok));
			free(dup);
			json_object_set_new(spec, "ports", ports);
			break;
		}
		case 'u':
			json_object_set_new(spec, "purpose", json_string(optarg));
			break;
		case 'j':
			json = 1;
			break;
		case 'c':
			control = optarg;
			break;
		case 'h':
			json_decref(spec);
			grant_usage(stdout);
			return 0;
		default:
			json_decref(spec);
			grant_usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1 || !json_object_get(spec, "to")) {
		json_decref(spec);
		grant_usage(stderr);
		return 2;
	}
	req = json_pack("{s:s, s:s, s:o}", "op", "grant", "partner", argv[optind], "grant", spec);
	return ctl_roundtrip(control, req, json, print_granted);
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

static int cmd_revoke(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "grant", required_argument, NULL, 'g' },
		{ "to", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "control", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *control = control_default(), *grant = NULL, *to = NULL;
	json_t *req;
	int o, json = 0;

	while ((o = getopt_long(argc, argv, "g:t:jc:h", opts, NULL)) != -1) {
		switch (o) {
		case 'g':
			grant = optarg;
			break;
		case 't':
			to = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'c':
			control = optarg;
			break;
		case 'h':
			revoke_usage(stdout);
			return 0;
		default:
			revoke_usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1 || !grant == !to) {
		revoke_usage(stderr);
		return 2;
	}
	req = json_pack("{s:s, s:s}", "op", "revoke", "partner", argv[optind]);
	json_object_set_new(req, grant ? "grant" : "to", json_string(grant ? grant : to));
	return ctl_roundtrip(control, req, json, print_revoked);
}

static void list_usage(FILE *f)
{
	fprintf(f,
		"Usage: bulkhead list [PARTNER] [--json] [--control PATH]\n"
		"\n"
		"Grants in force (policy file and just-in-time) with their remaining lifetime,\n"
		"and revoked policy-file grants with who revoked them and when.\n"
		"\n"
		"  -j, --json           JSON\n"
		"  -c, --control PATH   (default $BULKHEAD_CONTROL or " BH_DEFAULT_CONTROL ")\n"
		"  -h, --help           this help\n");
}

static int cmd_list(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "control", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *control = control_default();
	json_t *req;
	int o, json = 0;

	while ((o = getopt_long(argc, argv, "jc:h", opts, NULL)) != -1) {
		switch (o) {
		case 'j':
			json = 1;
			break;
		case 'c':
			control = optarg;
			break;
		case 'h':
			list_usage(stdout);
			return 0;
		default:
			list_usage(stderr);
			return 2;
		}
	}
	if (optind < argc - 1) {
		list_usage(stderr);
		return 2;
	}
	req = json_pack("{s:s}", "op", "list");
	if (optind == argc - 1)
		json_object_set_new(req, "partner", json_string(argv[optind]));
	return ctl_roundtrip(control, req, json, print_list);
}

static void apply_usage(FILE *f)
{
	fprintf(f,
		"Usage: bulkhead apply FILE [--json] [--control PATH]\n"
		"\n"
		"Replace the running policy with FILE. The daemon compiles it in full before\n"
		"touching any map, then switches atomically: no packet is judged by a mix of\n"
		"old and new. On any error the running policy stays and the errors are printed\n"
		"as FILE:LINE:COLUMN: reason. Just-in-time grants and revocations are kept.\n"
		"\n"
		"  -j, --json           print the daemon's JSON response\n"
		"  -c, --control PATH   (default $BULKHEAD_CONTROL or " BH_DEFAULT_CONTROL ")\n"
		"  -h, --help           this help\n");
}

static int cmd_apply(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "control", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *control = control_default();
	json_t *req;
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	int o, json = 0;

	while ((o = getopt_long(argc, argv, "jc:h", opts, NULL)) != -1) {
		switch (o) {
		case 'j':
			json = 1;
			break;
		case 'c':
			control = optarg;
			break;
		case 'h':
			apply_usage(stdout);
			return 0;
		default:
			apply_usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		apply_usage(stderr);
		return 2;
	}
	f = fopen(argv[optind], "re");
	if (!f || getdelim(&text, &len, '\0', f) < 0) {
		fprintf(stderr, "%s: cannot read: %s\n", argv[optind], strerror(errno));
		if (f)
			fclose(f);
		free(text);
		return 1;
	}
	fclose(f);
	req = json_pack("{s:s, s:s, s:s}", "op", "apply", "file", argv[optind], "text", text);
	free(text);
	if (!req) {
		fprintf(stderr, "%s: not valid UTF-8 text\n", argv[optind]);
		return 1;
	}
	return ctl_roundtrip(control, req, json, print_applied);
}

/* ---- dispatch ---- */

static int cmd_help(int argc, char **argv);

static const struct cmd cmds[] = {
	{ "run", cmd_run, "load, attach, apply a policy and stay in the foreground" },
	{ "check", cmd_check, "validate and compile a policy, print a summary" },
	{ "status", cmd_status, "what is loaded, per-partner counters, event loss" },
	{ "grant", cmd_grant, "just-in-time grant with a kernel-enforced expiry" },
	{ "revoke", cmd_revoke, "revoke grants; enforced before the command returns" },
	{ "list", cmd_list, "grants in force with remaining lifetime, revocations" },
	{ "apply", cmd_apply, "replace the running policy atomically" },
	{ "down", cmd_down, "detach and unpin everything" },
	{ "help", cmd_help, "this help" },
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f,
		"Usage: bulkhead COMMAND [OPTIONS]\n"
		"\n"
		"Contain partner integrations: every socket created in a partner's cgroup\n"
		"reaches only the destinations that partner was granted, enforced in the\n"
		"kernel with cgroup BPF programs.\n"
		"\n"
		"Commands:\n");
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  %-8s %s\n", cmds[i].name, cmds[i].summary);
	fprintf(f, "\n`bulkhead COMMAND --help` for a command's options. See README.md and docs/.\n");
}

static int cmd_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	usage(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	size_t i;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return cmd_help(argc, argv);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	}
	fprintf(stderr, "bulkhead: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return 2;
}
