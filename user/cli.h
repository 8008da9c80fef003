/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The command line: what every subcommand shares (cli.c) and the
 * control-plane client commands (cli_ctl.c); main.c holds the command table.
 */
#ifndef BULKHEAD_CLI_H
#define BULKHEAD_CLI_H

#include <stddef.h>
#include <stdio.h>
#include <getopt.h>
#include "policy.h"

/* $BULKHEAD_PIN_DIR / $BULKHEAD_CONTROL, or the built-in defaults. */
const char *cli_pin_dir_default(void);
const char *cli_control_default(void);

void cli_print_errors(const struct bh_errors *e);

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

/*
 * Parse argv for a command: the common options in mask, the command's own
 * options (own, NULL-name terminated) through on_opt (0 ok, non-zero = usage
 * error), and min..max positional arguments. Returns -1 to go on, or the exit
 * code to return: 0 after --help, 2 after a usage error.
 */
int cli_parse(int argc, char **argv, unsigned int mask, const struct cli_opt *own,
	      cli_on_opt on_opt, void *ctx, void (*usage)(FILE *), int min_args, int max_args,
	      struct cli_args *a);

/* The whole of file path in *text (NUL-terminated, *len bytes; free it).
 * 0, or -errno after saying why on stderr. */
int cli_read_text(const char *path, char **text, size_t *len);

/* The control-plane client commands (cli_ctl.c). */
int cmd_grant(int argc, char **argv);
int cmd_revoke(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_apply(int argc, char **argv);
int cmd_diff(int argc, char **argv);

#endif
