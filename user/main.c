// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* bulkhead: command table and the foreground daemon. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <limits.h>
#include "cgroup.h"
#include "control.h"
#include "grants.h"
#include "lint.h"
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

/* ---- option parsing shared by every command ---- */

enum {
	OPT_JSON = 1 << 0,	/* -j, --json */
	OPT_CONTROL = 1 << 1,	/* -c, --control PATH */
	OPT_PIN_DIR = 1 << 2,	/* -P, --pin-dir DIR */
	OPT_VERBOSE = 1 << 3,	/* -v, --verbose */
};

struct cli_args {
	int json;
	const char *control;
	const char *pin_dir;
	int nargs;		/* positional arguments */
	char **args;
};

/* A command's own option: handed to the command's on_opt callback. */
struct cli_opt {
	const char *name;
	int key;		/* short option letter */
	int has_arg;
};

typedef int (*cli_on_opt)(void *ctx, int key, const char *arg);

#define CLI_MAX_OPTS 24

/*
 * Parse argv for a command: the common options in mask, the command's own
 * options (own, NULL-name terminated) through on_opt (0 ok, non-zero = usage
 * error), and min..max positional arguments. Returns -1 to go on, or the exit
 * code to return: 0 after --help, 2 after a usage error.
 */
static int cli_parse(int argc, char **argv, unsigned int mask, const struct cli_opt *own,
		     cli_on_opt on_opt, void *ctx, void (*usage)(FILE *), int min_args,
		     int max_args, struct cli_args *a)
{
	static const struct cli_opt common[] = {
		{ "json", 'j', no_argument },
		{ "control", 'c', required_argument },
		{ "pin-dir", 'P', required_argument },
		{ "verbose", 'v', no_argument },
	};
	struct option lopts[CLI_MAX_OPTS + 1] = {};
	char sopts[3 * CLI_MAX_OPTS + 1] = "";
	size_t n = 0, i;
	int c;

	memset(a, 0, sizeof(*a));
	a->control = control_default();
	a->pin_dir = pin_dir_default();
	for (i = 0; i < sizeof(common) / sizeof(common[0]) + 1 && n < CLI_MAX_OPTS; i++) {
		const struct cli_opt *o = i < 4 ? &common[i] : &(struct cli_opt){ "help", 'h', 0 };

		if (i < 4 && !(mask & (1u << i)))
			continue;
		lopts[n++] = (struct option){ o->name, o->has_arg, NULL, o->key };
	}
	for (i = 0; own && own[i].name && n < CLI_MAX_OPTS; i++)
		lopts[n++] = (struct option){ own[i].name, own[i].has_arg, NULL, own[i].key };
	for (i = 0; i < n; i++) {
		char k[3] = { (char)lopts[i].val, lopts[i].has_arg ? ':' : '\0', '\0' };

		strcat(sopts, k);
	}
	optind = 1;
	while ((c = getopt_long(argc, argv, sopts, lopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return 0;
		case 'j':
			if (mask & OPT_JSON) {
				a->json = 1;
				continue;
			}
			break;
		case 'c':
			if (mask & OPT_CONTROL) {
				a->control = optarg;
				continue;
			}
			break;
		case 'P':
			if (mask & OPT_PIN_DIR) {
				a->pin_dir = optarg;
				continue;
			}
			break;
		case 'v':
			if (mask & OPT_VERBOSE) {
				bh_log_level = BH_LOG_DEBUG;
				continue;
			}
			break;
		case '?':
			usage(stderr);
			return 2;
		}
		if (!on_opt || on_opt(ctx, c, optarg)) {
			usage(stderr);
			return 2;
		}
	}
	a->nargs = argc - optind;
	a->args = argv + optind;
	if (a->nargs < min_args || a->nargs > max_args) {
		usage(stderr);
		return 2;
	}
	return -1;
}

/* The whole of file path in *text (NUL-terminated, *len bytes; free it).
 * 0, or -errno after saying why on stderr. */
static int read_text(const char *path, char **text, size_t *len)
{
	size_t cap = 0;
	ssize_t n = -1;
	FILE *f;
	int err;

	*text = NULL;
	errno = 0;
	f = fopen(path, "re");
	if (f)
		n = getdelim(text, &cap, '\0', f);
	if (n < 0 && f && !ferror(f)) {
		n = 0;		/* empty file */
		free(*text);
		*text = strdup("");
	}
	if (n > 0 && (*text)[n - 1] == '\0') {
		fprintf(stderr, "%s: contains a NUL byte: not a JSON text\n", path);
		errno = EILSEQ;
		n = -2;
	}
	if (n < 0 || !*text) {
		err = errno ? -errno : -EIO;
		if (n != -2)
			fprintf(stderr, "%s: cannot read: %s\n", path, strerror(-err));
		if (f)
			fclose(f);
		free(*text);
		*text = NULL;
		return err;
	}
	fclose(f);
	*len = (size_t)n;
	return 0;
}

static void check_usage(FILE *f)
{
	fprintf(f,
		"Usage: bulkhead check [--json] FILE\n"
		"\n"
		"Validate and compile a policy without touching the kernel. Prints a summary\n"
		"(partners, grants, compiled trie entries) and exits 0, or prints every error\n"
		"as FILE:LINE:COLUMN: reason and exits 1.\n"
		"\n"
		"Likely mistakes that do not make the policy invalid are warnings, printed on\n"
		"stderr as FILE:LINE:COLUMN: warning: reason (and in the JSON summary's\n"
		"\"warnings\"); they do not change the exit status: a partner_root or bound\n"
		"cgroup that does not exist on this host (yet), and an \"expires\" already past.\n"
		"\n"
		"  -j, --json   summary as one JSON object\n"
		"  -h, --help   this help\n");
}

static int cmd_check(int argc, char **argv)
{
	struct bh_policy p = {};
	struct bh_compiled c = {};
	struct bh_errors errs = {}, warns = {};
	struct bh_clock clk;
	struct cli_args a;
	char cg2[PATH_MAX], *text = NULL;
	size_t i, len = 0;
	json_t *o, *w;
	int err;

	err = cli_parse(argc, argv, OPT_JSON, NULL, NULL, NULL, check_usage, 1, 1, &a);
	if (err >= 0)
		return err;
	if (read_text(a.args[0], &text, &len))
		return 1;
	err = bh_policy_parse(a.args[0], text, len, &p, &errs);
	bh_clock_now(&clk);
	if (!err) {
		/* provisional ids in file order: check never touches pinned state */
		for (i = 0; i < p.npartners; i++)
			p.partners[i].id = i + 1;
		err = bh_compile_stream(&p, &clk, NULL, NULL, &c, &errs);	/* counts only */
	}
	if (err) {
		print_errors(&errs);
		bh_errors_free(&errs);
		bh_policy_free(&p);
		free(text);
		return 1;
	}
	if (bh_policy_lint(&p, text, len, bh_cgroup2_mount(cg2, sizeof(cg2)) ? NULL : cg2,
			   clk.wall_ns, &warns) < 0)
		fprintf(stderr, "%s: out of memory looking for warnings\n", a.args[0]);
	print_errors(&warns);
	if (a.json) {
		o = bh_policy_summary_json(&p, &c);
		w = json_array();
		for (i = 0; o && w && i < warns.n; i++)
			json_array_append_new(w, json_string(warns.msg[i]));
		if (o && w)
			json_object_set_new(o, "warnings", w);
		if (o && !json_dumpf(o, stdout, JSON_COMPACT))
			putchar('\n');
		json_decref(o);
	} else {
		bh_policy_summary(&p, &c, stdout, 0);
	}
	bh_errors_free(&warns);
	bh_compiled_free(&c);
	bh_policy_free(&p);
	free(text);
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
		"Under systemd, stop the service first: with Restart=always it would start\n"
		"again and re-apply the policy.\n"
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

static int cmd_grant(int argc, char **argv)
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

static int cmd_revoke(int argc, char **argv)
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
	bh_jitset_free(&js);
	bh_pinned_orgs(a->pin_dir, json_object_get(resp, "grants"));
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

static int cmd_list(int argc, char **argv)
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

static int cmd_apply(int argc, char **argv)
{
	struct cli_args a;
	json_t *req;
	char *text = NULL;
	size_t len = 0;
	int rc;

	rc = cli_parse(argc, argv, OPT_JSON | OPT_CONTROL, NULL, NULL, NULL, apply_usage, 1, 1, &a);
	if (rc >= 0)
		return rc;
	if (read_text(a.args[0], &text, &len))
		return 1;
	req = json_pack("{s:s, s:s, s:s}", "op", "apply", "file", a.args[0], "text", text);
	free(text);
	if (!req) {
		fprintf(stderr, "%s: not valid UTF-8 text\n", a.args[0]);
		return 1;
	}
	return ctl_roundtrip(a.control, req, a.json, print_applied, 0);
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
