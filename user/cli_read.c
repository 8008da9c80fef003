// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * status, why and reach for a caller who is not root: the pins and bpf(2)
 * are root's, so the CLI asks the daemon (op "read", readcmd.c runs the
 * command on its own pin directory) and prints what it printed, exiting
 * with its status. --control/-c (or $BULKHEAD_CONTROL) picks the daemon.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "cli.h"
#include "control.h"

int cli_read_remote(int argc, char **argv)
{
	const char *control = cli_control_default();
	json_t *args = json_array(), *req, *resp;
	int i, rc;

	for (i = 1; i < argc; i++) {
		if ((!strcmp(argv[i], "--control") || !strcmp(argv[i], "-c")) && i + 1 < argc)
			control = argv[++i];
		else if (!strncmp(argv[i], "--control=", 10))
			control = argv[i] + 10;
		else
			json_array_append_new(args, json_string(argv[i]));
	}
	req = json_pack("{s:s, s:s, s:o}", "op", "read", "cmd", argv[0], "args", args);
	resp = req ? bh_ctl_call(control, req) : NULL;
	json_decref(req);
	if (!resp) {
		fprintf(stderr, "bulkhead %s: not root, so asked the daemon, but cannot reach it at "
			"%s: %s (root reads the pins itself; --control/BULKHEAD_CONTROL select the "
			"socket)\n", argv[0], control, strerror(errno));
		return 4;
	}
	if (!json_is_true(json_object_get(resp, "ok"))) {
		fprintf(stderr, "bulkhead: %s\n",
			json_string_value(json_object_get(resp, "error")) ?: "refused");
		json_decref(resp);
		return 1;
	}
	fputs(json_string_value(json_object_get(resp, "stdout")) ?: "", stdout);
	fputs(json_string_value(json_object_get(resp, "stderr")) ?: "", stderr);
	rc = (int)json_integer_value(json_object_get(resp, "exit"));
	json_decref(resp);
	return rc;
}
