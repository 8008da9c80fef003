// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* bulkhead: command table and the foreground daemon. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include "loader.h"
#include "log.h"
#include "policy.h"

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
		"Usage: bulkhead run --policy FILE [--pin-dir DIR] [-v]\n"
		"\n"
		"Load the BPF programs, apply the policy, attach at the top of every partner\n"
		"subtree, and stay in the foreground until SIGINT or SIGTERM. Enforcement\n"
		"stays pinned after the daemon exits; `bulkhead down` removes it. A daemon\n"
		"started on existing pins adopts them: maps are reused and programs replaced\n"
		"in place, so enforcement never lapses. Any load or attach failure exits\n"
		"non-zero with the reason: bulkhead never fails open silently.\n"
		"\n"
		"Prints `ready` on stdout once enforcement is attached.\n"
		"\n"
		"  -p, --policy FILE   policy (JSON, schema v1; see docs/policy.md)\n"
		"  -P, --pin-dir DIR   bpffs directory for maps and links\n"
		"                      (default $BULKHEAD_PIN_DIR or " BH_DEFAULT_PIN_DIR ")\n"
		"  -v, --verbose       debug output, libbpf's included\n"
		"  -h, --help          this help\n");
}

static int cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "policy", required_argument, NULL, 'p' },
		{ "pin-dir", required_argument, NULL, 'P' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *policy = NULL, *pin_dir = pin_dir_default();
	struct bh_policy p = {};
	struct bh_errors errs = {};
	struct bh_loader l;
	struct pollfd pfd;
	sigset_t mask;
	int o, err, sfd = -1, ret = 1;

	while ((o = getopt_long(argc, argv, "p:P:vh", opts, NULL)) != -1) {
		switch (o) {
		case 'p':
			policy = optarg;
			break;
		case 'P':
			pin_dir = optarg;
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
	if (!policy || optind != argc) {
		run_usage(stderr);
		return 2;
	}
	if (bh_policy_load(policy, &p, &errs)) {
		print_errors(&errs);
		bh_errors_free(&errs);
		return 1;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0) {
		pr_warn("signalfd: %s\n", strerror(errno));
		goto out_policy;
	}

	err = bh_loader_open(&l, pin_dir);
	if (err)
		goto out_policy;
	err = bh_apply(&l, &p, &errs);
	if (err) {
		print_errors(&errs);
		pr_warn("policy not applied: %s\n", strerror(-err));
		goto out_loader;
	}
	printf("ready\n");
	fflush(stdout);

	pfd.fd = sfd;
	pfd.events = POLLIN;
	for (;;) {
		struct signalfd_siginfo si;
		int n = poll(&pfd, 1, 1000);

		if (n < 0 && errno != EINTR) {
			pr_warn("poll: %s\n", strerror(errno));
			break;
		}
		if (l.npending)
			bh_bind_pending(&l);
		if (n <= 0)
			continue;
		if (read(sfd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo == SIGHUP) {
			pr_info("SIGHUP: policy reload arrives with the control plane\n");
			continue;
		}
		pr_info("signal %u: exiting; enforcement stays pinned in %s\n", si.ssi_signo,
			pin_dir);
		break;
	}
	ret = 0;
out_loader:
	bh_loader_close(&l);
out_policy:
	if (sfd >= 0)
		close(sfd);
	bh_errors_free(&errs);
	bh_policy_free(&p);
	return ret;
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

/* ---- dispatch ---- */

static int cmd_help(int argc, char **argv);

static const struct cmd cmds[] = {
	{ "run", cmd_run, "load, attach, apply a policy and stay in the foreground" },
	{ "check", cmd_check, "validate and compile a policy, print a summary" },
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
