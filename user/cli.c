// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The CLI's shared pieces: option parsing (getopt_long per command), the
 * defaults from the environment, reading a file argument (see cli.h). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "control.h"
#include "loader.h"
#include "log.h"
#include "names.h"
#include "values.h"

const char *cli_pin_dir_default(void)
{
	const char *e = getenv("BULKHEAD_PIN_DIR");

	return e && *e ? e : BH_DEFAULT_PIN_DIR;
}

const char *cli_control_default(void)
{
	const char *e = getenv("BULKHEAD_CONTROL");

	return e && *e ? e : BH_DEFAULT_CONTROL;
}

void cli_print_errors(const struct bh_errors *e)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		fprintf(stderr, "%s\n", e->msg[i]);
	if (e->more)
		fprintf(stderr, "(and %zu more errors)\n", (size_t)e->more);
}

#define CLI_MAX_OPTS 24

/*
 * Parse argv for a command: the common options in mask, the command's own
 * options (own, NULL-name terminated) through on_opt (0 ok, non-zero = usage
 * error), and min..max positional arguments. Returns -1 to go on, or the exit
 * code to return: 0 after --help, 2 after a usage error.
 */
int cli_parse(int argc, char **argv, unsigned int mask, const struct cli_opt *own,
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
	a->control = cli_control_default();
	a->pin_dir = cli_pin_dir_default();
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
int cli_read_text(const char *path, char **text, size_t *len)
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


/* The reason of a value parser without its leading key word ("ttl \"0s\"
 * must be positive" -> "\"0s\" must be positive"): the option names it. */
static const char *reason_of(const char *why, const char *key)
{
	size_t n = strlen(key);

	return !strncmp(why, key, n) && why[n] == ' ' ? why + n + 1 : why;
}

/* One option value through its policy-value parser; 0, or 2 after saying
 * "bulkhead CMD: --OPT: reason". */
static int check_one(const char *cmd, const char *opt, const char *v)
{
	char why[BH_REASON_LEN] = "";
	struct bh_prefix pf;
	struct bh_port_range pr;
	int64_t ns;
	uint8_t proto;
	int err = 0;

	if (!strcmp(opt, "to"))
		err = bh_parse_prefix(v, &pf, why);
	else if (!strcmp(opt, "ttl"))
		err = bh_parse_ttl(v, &ns, why);
	else if (!strcmp(opt, "expires"))
		err = bh_parse_rfc3339(v, &ns, why);
	else if (!strcmp(opt, "ports") && strcmp(v, "all"))	/* "all": every port, asked for */
		err = bh_parse_port(v, &pr, why);
	else if (!strcmp(opt, "proto") && bh_proto_parse(v, &proto)) {
		snprintf(why, sizeof(why), "unknown protocol %s (tcp, udp, icmp or any)", BH_Q(v));
		err = -EINVAL;
	}
	if (!err)
		return 0;
	fprintf(stderr, "bulkhead %s: --%s: %s\n", cmd, opt,
		reason_of(why[0] ? why : "invalid value", opt));
	return 2;
}

int cli_check_value(const char *cmd, const char *opt, const char *v)
{
	return check_one(cmd, opt, v);
}

int cli_check_values(const char *cmd, const json_t *spec)
{
	const char *key;
	json_t *v;
	size_t i;

	json_object_foreach((json_t *)spec, key, v) {
		int rc = 0;

		if (json_is_string(v))
			rc = check_one(cmd, key, json_string_value(v));
		for (i = 0; !rc && json_is_array(v) && i < json_array_size(v); i++)
			rc = check_one(cmd, key, json_string_value(json_array_get(v, i)) ?: "");
		if (rc)
			return rc;
	}
	return 0;
}
