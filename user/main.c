// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* bulkhead: command table and the foreground daemon. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
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
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct bh_daemon_opts o = {
		.pin_dir = pin_dir_default(),
		.log_dir = BH_DEFAULT_LOG_DIR,
		.flow_interval_s = 10,
	};
	int c;

	while ((c = getopt_long(argc, argv, "p:l:sf:r:P:vh", opts, NULL)) != -1) {
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

/* ---- dispatch ---- */

static int cmd_help(int argc, char **argv);

static const struct cmd cmds[] = {
	{ "run", cmd_run, "load, attach, apply a policy and stay in the foreground" },
	{ "check", cmd_check, "validate and compile a policy, print a summary" },
	{ "status", cmd_status, "what is loaded, per-partner counters, event loss" },
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
