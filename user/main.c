// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* bulkhead: the command table (name, handler, one-line help) and the
 * commands that act on the local pins: check, run, status, down. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <limits.h>
#include "cgroup.h"
#include "cli.h"
#include "control.h"
#include "grants.h"
#include "lint.h"
#include "daemon.h"
#include "loader.h"
#include "log.h"
#include "policy.h"
#include "status.h"
#include "trace.h"
#include "version.h"
#include "reach.h"
#include "verify.h"
#include "whois.h"
#include "why.h"

struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

static void check_usage(FILE *f)
{
	fprintf(f,
		"Usage: bulkhead check [--json] [--strict] FILE\n"
		"\n"
		"Validate and compile a policy without touching the kernel. Prints a summary\n"
		"(partners, grants, compiled trie entries) and exits 0, or prints every error\n"
		"as FILE:LINE:COLUMN: reason and exits 1. A partner's tier is enforced here:\n"
		"a grant without expiry, purpose, or a partner without org, where the tier\n"
		"requires one, is an error (see docs/policy.md, Tiers).\n"
		"\n"
		"Likely mistakes that do not make the policy invalid are warnings, printed on\n"
		"stderr as FILE:LINE:COLUMN: warning: reason (and in the JSON summary's\n"
		"\"warnings\", each also in \"findings\" with its rule); they do not change\n"
		"the exit status unless --strict: a partner_root or bound cgroup that does not\n"
		"exist on this host (yet), an \"expires\" already past, and the grant linter's\n"
		"rules: wide (0.0.0.0/0, ::/0, wider than the tier's widest_ipv4/ipv6),\n"
		"all_ports (every port, every protocol), dead (within never), link_local\n"
		"(link-local, cloud metadata services), duplicate, subsumed, shared (one\n"
		"destination granted to two partners). `run`, `apply` and `grant` print the\n"
		"same warnings.\n"
		"\n"
		"  -j, --json     summary as one JSON object\n"
		"  -s, --strict   warnings are errors: exit 1 when there is any\n"
		"  -h, --help     this help\n");
}

static int check_opt(void *ctx, int key, const char *arg)
{
	(void)arg;
	*(int *)ctx = key == 's';
	return key == 's' ? 0 : -1;
}

/* The summary with the warnings (and each finding) as JSON on stdout. */
static void check_json(const struct bh_policy *p, const struct bh_compiled *c,
		       const struct bh_errors *warns, json_t *findings)
{
	json_t *o = bh_policy_summary_json(p, c), *w = json_array();

	for (size_t i = 0; o && w && i < warns->n; i++)
		json_array_append_new(w, json_string(warns->msg[i]));
	if (o && w) {
		json_object_set_new(o, "warnings", w);
		json_object_set(o, "findings", findings);
		w = NULL;
	}
	if (o && !json_dumpf(o, stdout, JSON_COMPACT))
		putchar('\n');
	json_decref(w);
	json_decref(o);
}

static int cmd_check(int argc, char **argv)
{
	static const struct cli_opt own[] = { { "strict", 's', no_argument }, { 0 } };
	struct bh_policy p = {};
	struct bh_compiled c = {};
	struct bh_errors errs = {}, warns = {};
	struct bh_clock clk;
	struct cli_args a;
	char cg2[PATH_MAX], *text = NULL;
	size_t i, len = 0;
	json_t *findings = json_array();
	int err, strict = 0, n;

	err = cli_parse(argc, argv, OPT_JSON, own, check_opt, &strict, check_usage, 1, 1, &a);
	if (err >= 0 || cli_read_text(a.args[0], &text, &len)) {
		json_decref(findings);
		return err >= 0 ? err : 1;
	}
	err = bh_policy_parse(a.args[0], text, len, &p, &errs);
	bh_clock_now(&clk);
	if (!err) {
		/* provisional ids in file order: check never touches pinned state */
		for (i = 0; i < p.npartners; i++)
			p.partners[i].id = i + 1;
		err = bh_compile_stream(&p, &clk, NULL, NULL, &c, &errs);	/* counts only */
	}
	if (err) {
		cli_print_errors(&errs);
		n = 1;
		goto out;
	}
	n = bh_policy_lint_list(&p, text, len, bh_cgroup2_mount(cg2, sizeof(cg2)) ? NULL : cg2,
				clk.wall_ns, &warns, findings);
	if (n < 0)
		fprintf(stderr, "%s: out of memory looking for warnings\n", a.args[0]);
	cli_print_errors(&warns);
	if (a.json)
		check_json(&p, &c, &warns, findings);
	else
		bh_policy_summary(&p, &c, stdout, 0);
	if (strict && n > 0)
		fprintf(stderr, "%s: %d warning%s, and --strict makes them errors\n", a.args[0], n,
			n == 1 ? "" : "s");
	n = strict && n > 0;
out:
	json_decref(findings);
	bh_errors_free(&errs);
	bh_errors_free(&warns);
	bh_compiled_free(&c);
	bh_policy_free(&p);
	free(text);
	return n;
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
		"exits non-zero with the reason: bulkhead never fails open silently. A run\n"
		"that fails before it enforced anything removes what it pinned in a fresh pin\n"
		"directory; pinned enforcement it was adopting is never removed.\n"
		"SIGHUP reloads the policy and reopens the log files (logrotate); a reload\n"
		"restarts no `ttl` (see docs/policy.md).\n"
		"\n"
		"Prints `ready` on stdout once enforcement is attached (with --stdout, where\n"
		"stdout is the JSON stream, `bulkhead: ready` on stderr instead).\n"
		"\n"
		"  -p, --policy FILE        policy (JSON, schema v1; see docs/policy.md)\n"
		"  -l, --log-dir DIR        LOGDIR/<partner>.jsonl and LOGDIR/host.jsonl\n"
		"                           (default " BH_DEFAULT_LOG_DIR ")\n"
		"  -s, --stdout             every event on stdout (journald, containers); with\n"
		"                           an explicit --log-dir, to both\n"
		"  -f, --flow-interval SEC  allowed-flow summaries every SEC seconds (default 10,\n"
		"                           0 = off)\n"
		"  -r, --ring-size KIB      event ring buffer size, a power of two (default 8192)\n"
		"  -k, --no-destroy         do not destroy established sockets that a revocation,\n"
		"                           narrowing or expiry cut off (their packets are\n"
		"                           dropped either way; by default the sockets are\n"
		"                           also destroyed so applications see an error at\n"
		"                           once, ECONNABORTED for TCP, instead of hanging in\n"
		"                           retransmits)\n"
		"  -T, --no-bind-tracepoints  bind recreated cgroups by the periodic rescan\n"
		"                           (within a second) instead of in the kernel at\n"
		"                           creation (tp_btf/cgroup_mkdir); the fallback used\n"
		"                           anyway where the tracepoints cannot attach\n"
		"  -E, --verify-every D     run `bulkhead verify` (probes, revocation and\n"
		"                           expiry proofs) every D (90s, 15m, 1h) and write\n"
		"                           each result as a `verify` event (host.jsonl and\n"
		"                           the partner's file), with an `alert` (rule\n"
		"                           verify_failed) for any result not as expected;\n"
		"                           the first run is D after the start\n"
		"  -M, --metrics-file PATH  Prometheus metrics (docs/metrics.md) written to PATH\n"
		"                           every second, atomically (a temporary file renamed\n"
		"                           over it): for node_exporter's textfile collector,\n"
		"                           name it *.prom in its directory\n"
		"  -m, --metrics-listen ADDR:PORT  serve GET /metrics over HTTP on ADDR:PORT\n"
		"                           (127.0.0.1:9477, [::1]:9477; off by default), from\n"
		"                           the event loop without ever blocking it\n"
		"  -A, --metrics-listen-any  allow --metrics-listen on a non-loopback address\n"
		"                           (refused otherwise: the metrics name every partner)\n"
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

static int run_opt(void *ctx, int key, const char *arg)
{
	struct bh_daemon_opts *o = ctx;

	switch (key) {
	case 'p':
		o->policy = arg;
		return 0;
	case 'l':
		o->log_dir = arg;
		o->log_dir_set = 1;
		return 0;
	case 's':
		o->to_stdout = 1;
		return 0;
	case 'f':
		return parse_uint("--flow-interval", arg, &o->flow_interval_s);
	case 'r':
		return parse_uint("--ring-size", arg, &o->ring_size_kib);
	case 'k':
		o->no_destroy = 1;
		return 0;
	case 'T':
		o->no_bind_tp = 1;
		return 0;
	case 'E': {
		char why[BH_REASON_LEN];
		int64_t ns;

		if (bh_parse_ttl(arg, &ns, why)) {
			fprintf(stderr, "bulkhead run: --verify-every: %s\n", why);
			return -EINVAL;
		}
		o->verify_every_ms = ns / 1000000;
		return 0;
	}
	case 'M':
		o->metrics_file = arg;
		return 0;
	case 'm':
		o->metrics_listen = arg;
		return 0;
	case 'A':
		o->metrics_any_addr = 1;
		return 0;
	}
	return -1;
}

static int cmd_run(int argc, char **argv)
{
	static const struct cli_opt own[] = {
		{ "policy", 'p', required_argument },
		{ "log-dir", 'l', required_argument },
		{ "stdout", 's', no_argument },
		{ "flow-interval", 'f', required_argument },
		{ "ring-size", 'r', required_argument },
		{ "no-destroy", 'k', no_argument },
		{ "no-bind-tracepoints", 'T', no_argument },
		{ "verify-every", 'E', required_argument },
		{ "metrics-file", 'M', required_argument },
		{ "metrics-listen", 'm', required_argument },
		{ "metrics-listen-any", 'A', no_argument },
		{ 0 }
	};
	struct bh_daemon_opts o = {
		.log_dir = BH_DEFAULT_LOG_DIR,
		.flow_interval_s = 10,
	};
	struct cli_args a;
	int rc;

	rc = cli_parse(argc, argv, OPT_CONTROL | OPT_PIN_DIR | OPT_VERBOSE, own, run_opt, &o,
		       run_usage, 0, 0, &a);
	if (rc >= 0)
		return rc;
	if (!o.policy) {
		fprintf(stderr, "bulkhead run: --policy FILE is required\n\n");
		run_usage(stderr);
		return 2;
	}
	o.pin_dir = a.pin_dir;
	o.control = a.control;
	if (o.to_stdout && !o.log_dir_set)
		o.log_dir = NULL;	/* the default log dir only without --stdout */
	return bh_daemon_run(&o);
}

/* ---- down ---- */

static void down_usage(FILE *f)
{
	fprintf(f,
		"Usage: bulkhead down [--pin-dir DIR] [--control PATH]\n"
		"\n"
		"Detach every program bulkhead attached and remove everything it pinned.\n"
		"This is the only way enforcement is removed: a stopped or crashed daemon\n"
		"leaves it in place.\n"
		"\n"
		"When a daemon runs on DIR, `down` asks it over the control socket: the\n"
		"daemon removes the enforcement, records a `policy` event naming you, and\n"
		"exits. If it cannot be asked (no daemon at PATH, or that daemon runs on\n"
		"another pin directory) nothing is removed and `down` exits 1: stop the\n"
		"daemon (systemctl stop bulkhead) or give its --control, then run it again.\n"
		"Under systemd, the shipped bulkhead.service (Restart=on-failure) stays down\n"
		"after that clean exit; a unit with Restart=always would start it again.\n"
		"\n"
		"  -P, --pin-dir DIR    (default $BULKHEAD_PIN_DIR or " BH_DEFAULT_PIN_DIR ")\n"
		"  -c, --control PATH   the running daemon's control socket\n"
		"                       (default $BULKHEAD_CONTROL or " BH_DEFAULT_CONTROL ")\n"
		"  -h, --help           this help\n");
}

static int cmd_down(int argc, char **argv)
{
	struct cli_args a;
	json_t *req, *resp;
	char *abs;
	int rc = cli_parse(argc, argv, OPT_PIN_DIR | OPT_CONTROL, NULL, NULL, NULL, down_usage,
			   0, 0, &a);

	if (rc >= 0)
		return rc;
	rc = bh_down(a.pin_dir);
	if (rc != -EWOULDBLOCK)
		return rc ? 1 : 0;
	/* a daemon holds the pin directory: it must stop with the enforcement
	 * (the path as the daemon sees it: its working directory is not ours) */
	abs = realpath(a.pin_dir, NULL);
	req = json_pack("{s:s, s:s}", "op", "down", "pin_dir", abs ? abs : a.pin_dir);
	free(abs);
	resp = bh_ctl_call(a.control, req);
	json_decref(req);
	if (!resp) {
		fprintf(stderr, "bulkhead down: a bulkhead daemon runs on %s and cannot be asked "
			"to stop at %s (%s); nothing removed. Stop the daemon (systemctl stop "
			"bulkhead) or give its --control, then run `bulkhead down` again\n",
			a.pin_dir, a.control, strerror(errno));
		return 1;
	}
	rc = json_is_true(json_object_get(resp, "ok")) ? 0 : 1;
	if (rc)
		fprintf(stderr, "bulkhead down: %s; nothing removed by this command\n",
			json_string_value(json_object_get(resp, "error")) ?: "refused");
	else
		printf("the daemon (pid %lld) detached %lld links, removed %s and exited\n",
		       json_integer_value(json_object_get(resp, "daemon_pid")),
		       json_integer_value(json_object_get(resp, "links_detached")), a.pin_dir);
	json_decref(resp);
	return rc;
}

/* ---- status ---- */

static void status_usage(FILE *f)
{
	fprintf(f,
		"Usage: bulkhead status [--json] [--pin-dir DIR]\n"
		"\n"
		"What is loaded (programs and their cgroups), the policy generation, per-partner\n"
		"allow/deny/audit counters, and events emitted and lost. Reads the pinned maps,\n"
		"so it works while the daemon is down.\n"
		"\n"
		"Exit status: 0 when programs are attached (enforcement is in place, whether\n"
		"the daemon runs or not); 3 when nothing is attached: nothing pinned, or maps\n"
		"pinned without any attached program (the report is printed all the same).\n"
		"\n"
		"  -j, --json          one JSON object\n"
		"  -P, --pin-dir DIR   (default $BULKHEAD_PIN_DIR or " BH_DEFAULT_PIN_DIR ")\n"
		"  -h, --help          this help\n");
}

static int cmd_status(int argc, char **argv)
{
	struct cli_args a;
	int rc = cli_parse(argc, argv, OPT_JSON | OPT_PIN_DIR, NULL, NULL, NULL, status_usage,
			   0, 0, &a);

	if (rc >= 0)
		return rc;
	return bh_status(a.pin_dir, a.json);
}

/* ---- dispatch ---- */

static int cmd_help(int argc, char **argv);

static const struct cmd cmds[] = {
	{ "run", cmd_run, "load, attach, apply a policy and stay in the foreground" },
	{ "check", cmd_check, "validate and compile a policy, print a summary" },
	{ "status", cmd_status, "what is loaded, per-partner counters, event loss" },
	{ "grant", cmd_grant, "just-in-time grant with a kernel-enforced expiry" },
	{ "revoke", cmd_revoke, "revoke grants; enforced before the command returns" },
	{ "restore", cmd_restore, "lift the revocation of a policy-file grant" },
	{ "list", cmd_list, "grants in force with remaining lifetime, revocations" },
	{ "apply", cmd_apply, "replace the running policy atomically, print what changed" },
	{ "diff", cmd_diff, "what applying a policy file would change, flows it would cut" },
	{ "down", cmd_down, "detach and unpin everything" },
	{ "trace", bh_cmd_trace, "incident view of the event logs: timeline, summary, graph" },
	{ "why", bh_cmd_why, "the verdict the kernel gives a destination now, and why" },
	{ "reach", bh_cmd_reach, "blast radius: what a partner can reach now, shared destinations" },
	{ "verify", bh_cmd_verify, "probe the kernel from each partner's identity: expected vs actual" },
	{ "whois", bh_cmd_whois, "which partner a process or cgroup is attributed to" },
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
	fprintf(f, "\n`bulkhead COMMAND --help` for a command's options; `bulkhead --version`.\n"
		"Manuals: bulkhead(8), bulkhead-policy(5), bulkhead-events(7).\n");
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
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("bulkhead %s\n", BH_VERSION);
		return 0;
	}
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	}
	fprintf(stderr, "bulkhead: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return 2;
}
