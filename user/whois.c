// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* `bulkhead whois` (whois.h): the identity walk over the pinned bh_cgroups. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <bulkhead/bulkhead.h>
#include "cgroup.h"
#include "cli.h"
#include "loader.h"
#include "maps.h"
#include "values.h"
#include "whois.h"

static void whois_usage(FILE *f)
{
	fprintf(f,
		"Usage: bulkhead whois PID|CGROUP [--json] [--pin-dir DIR]\n"
		"\n"
		"Which partner a process (PID) or a cgroup (a path relative to the cgroup2\n"
		"mount, as /proc/PID/cgroup writes it) is attributed to, and the bound\n"
		"ancestor that decides it, as the kernel decides at socket creation: the\n"
		"nearest ancestor bound to a partner; below partner_root with no bound\n"
		"ancestor, fail-closed (no network); otherwise outside every partner\n"
		"(not enforced). Reads the pins; the daemon may be down.\n"
		"\n"
		"  -j, --json           JSON\n"
		"  -P, --pin-dir DIR    (default $BULKHEAD_PIN_DIR or " BH_DEFAULT_PIN_DIR ")\n"
		"  -h, --help           this help\n");
}

/* The cgroup (relative, no leading '/') of process pid into rel. */
static int cgroup_of_pid(const char *pid, char *rel, size_t len)
{
	char path[64], *line = NULL;
	size_t cap = 0;
	int err = -ENOENT;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%s/cgroup", pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		if (strncmp(line, "0::/", 4))
			continue;
		line[strcspn(line, "\n")] = '\0';
		snprintf(rel, len, "%s", line + 4);
		err = 0;
		break;
	}
	free(line);
	fclose(f);
	return err;
}

/* The verdict of the walk from rel upwards, as JSON. */
static json_t *walk_up(const struct bh_maps *m, const char *cg2, const char *rel)
{
	char path[2 * PATH_MAX + 2], at[PATH_MAX];
	struct bh_cgroup_val v;
	struct bh_pname name = {};
	uint64_t id;
	char *slash;

	snprintf(at, sizeof(at), "%s", rel);
	for (;;) {
		snprintf(path, sizeof(path), "%s%s%s", cg2, at[0] ? "/" : "", at);
		if (bh_cgroup_id(path, &id) == 0 && bh_maps_cgroup_lookup(m, id, &v) == 0) {
			if (v.kind == BH_CG_BOUND) {
				bh_maps_pname_read(m, v.partner, &name);
				return json_pack("{s:s, s:s, s:s, s:s}", "cgroup", rel, "verdict",
						 "partner", "partner", name.name, "bound_ancestor", at);
			}
			if (v.kind == BH_CG_ROOT)
				return json_pack("{s:s, s:s, s:s}", "cgroup", rel, "verdict",
						 "fail-closed", "partner_root", at);
			return json_pack("{s:s, s:s, s:s}", "cgroup", rel, "verdict", "outside",
					 "anchor", at);
		}
		if (!at[0])
			return json_pack("{s:s, s:s}", "cgroup", rel, "verdict", "outside");
		slash = strrchr(at, '/');
		if (slash)
			*slash = '\0';
		else
			at[0] = '\0';
	}
}

static void whois_print(const json_t *o)
{
	const char *verdict = json_string_value(json_object_get(o, "verdict"));
	const char *cg = json_string_value(json_object_get(o, "cgroup"));

	if (json_is_integer(json_object_get(o, "pid")))
		printf("pid %lld in ", json_integer_value(json_object_get(o, "pid")));
	if (!strcmp(verdict, "partner"))
		printf("cgroup %s: partner %s, bound at %s\n", cg,
		       json_string_value(json_object_get(o, "partner")),
		       json_string_value(json_object_get(o, "bound_ancestor")));
	else if (!strcmp(verdict, "fail-closed"))
		printf("cgroup %s: fail-closed: below partner_root %s, bound to no partner "
		       "(no network)\n", cg, json_string_value(json_object_get(o, "partner_root")));
	else
		printf("cgroup %s: outside every partner (not enforced)\n", cg);
}

int bh_cmd_whois(int argc, char **argv)
{
	char rel[PATH_MAX], cg2[PATH_MAX] = "", why[BH_REASON_LEN], *norm = NULL;
	const char *what;
	struct cli_args a;
	struct bh_maps m;
	json_t *o;
	int rc, is_pid;

	rc = cli_parse(argc, argv, OPT_JSON | OPT_PIN_DIR, NULL, NULL, NULL, whois_usage, 1, 1, &a);
	if (rc >= 0)
		return rc;
	what = a.args[0];
	is_pid = what[0] && strspn(what, "0123456789") == strlen(what);
	if (is_pid && (rc = cgroup_of_pid(what, rel, sizeof(rel)))) {
		fprintf(stderr, "bulkhead whois: no process %s (%s)\n", what, strerror(-rc));
		return 1;
	}
	if (!is_pid) {
		if (bh_parse_cgroup_path(what, &norm, why)) {
			fprintf(stderr, "bulkhead whois: %s\n", why);
			return 2;
		}
		snprintf(rel, sizeof(rel), "%s", norm);
		free(norm);
	}
	if (bh_cgroup2_mount(cg2, sizeof(cg2)) || bh_maps_open_pinned(&m, a.pin_dir)) {
		fprintf(stderr, "bulkhead whois: nothing loaded in %s (no pinned maps): no "
			"process is attributed to any partner\n", a.pin_dir);
		return 3;
	}
	o = walk_up(&m, cg2, rel);
	bh_maps_close(&m);
	if (is_pid)
		json_object_set_new(o, "pid", json_integer(atoll(what)));
	if (a.json) {
		char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

		if (s)
			puts(s);
		free(s);
	} else {
		whois_print(o);
	}
	json_decref(o);
	return 0;
}
