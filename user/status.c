// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `bulkhead status`: read everything from the pinned maps and links, so it
 * works the same whether the daemon runs or not.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <jansson.h>
#include <bulkhead/bulkhead.h>
#include <bulkhead/events.h>
#include "cgroup.h"
#include "loader.h"
#include "log.h"
#include "maps.h"
#include "names.h"
#include "status.h"
#include "version.h"

struct find_cg {
	uint64_t id;
	char path[PATH_MAX];
};

/* Cgroups down to 6 levels below the mount: where a link can be attached. */
static int find_cg(void *ctx, const struct bh_cgroup_entry *e)
{
	struct find_cg *f = ctx;

	if (e->id != f->id)
		return 0;
	snprintf(f->path, sizeof(f->path), "%s%s", e->path[0] ? "/" : "", e->path);
	return 2;	/* found: stop */
}

/* cgroup id -> "/path" below the cgroup2 mount in buf, or NULL (the mount
 * itself too: no cgroup to name). */
static const char *cgroup_path(const char *cg2, uint64_t id, struct find_cg *f)
{
	f->id = id;
	f->path[0] = '\0';
	bh_cgroup_walk(cg2, 6, find_cg, f);
	return f->path[0] ? f->path : NULL;
}

struct links {
	const char *cg2;
	json_t *arr;
};

static void link_json(void *ctx, const char *name, int fd)
{
	struct links *ls = ctx;
	struct bpf_link_info li = {};
	struct bpf_prog_info pi = {};
	uint32_t lilen = sizeof(li), pilen = sizeof(pi);
	struct find_cg find;
	const char *cgp;
	json_t *o = json_object();
	int pfd;

	json_object_set_new(o, "pin", json_string(name));
	if (bpf_obj_get_info_by_fd(fd, &li, &lilen) == 0) {
		json_object_set_new(o, "link_id", json_integer(li.id));
		json_object_set_new(o, "prog_id", json_integer(li.prog_id));
		json_object_set_new(o, "attach_type",
				    json_string(libbpf_bpf_attach_type_str(li.cgroup.attach_type) ?:
						"unknown"));
		json_object_set_new(o, "cgroup_id", json_integer(li.cgroup.cgroup_id));
		cgp = cgroup_path(ls->cg2, li.cgroup.cgroup_id, &find);
		json_object_set_new(o, "cgroup", cgp ? json_string(cgp) : json_null());
		pfd = bpf_prog_get_fd_by_id(li.prog_id);
		if (pfd >= 0 && bpf_obj_get_info_by_fd(pfd, &pi, &pilen) == 0)
			json_object_set_new(o, "program", json_string(pi.name));
		if (pfd >= 0)
			close(pfd);
	}
	json_array_append_new(ls->arr, o);
}

static json_t *links_json(const char *pin_dir, const char *cg2)
{
	struct links ls = { cg2, json_array() };

	bh_links_each(pin_dir, link_json, &ls);
	return ls.arr;
}

static json_t *partners_json(const struct bh_maps *m)
{
	json_t *arr = json_array();
	uint32_t id;

	for (id = 0; id < BH_MAX_PARTNERS; id++) {
		struct bh_pname name = {};
		struct bh_counters sum;
		json_t *o, *v, *r;
		int i, any = 0;

		if (id && (bh_maps_pname_read(m, id, &name) || !name.name[0]))
			continue;
		bh_maps_counters_sum(m, id, &sum);	/* zeros when there are none */
		for (i = 0; i < BH_VERDICT__MAX; i++)
			any |= sum.verdicts[i] != 0;
		if (id == 0 && !any)
			continue;	/* no unknown-partner decisions: leave it out */
		o = json_object();
		json_object_set_new(o, "id", json_integer(id));
		json_object_set_new(o, "partner", id ? json_string(name.name) : json_null());
		v = json_object();
		for (i = 0; i < BH_VERDICT__MAX; i++)
			json_object_set_new(v, bh_verdict_str(i), json_integer(sum.verdicts[i]));
		r = json_object();
		for (i = 0; i < BH_REASON__MAX; i++)
			json_object_set_new(r, bh_reason_str(i), json_integer(sum.reasons[i]));
		json_object_set_new(o, "verdicts", v);
		json_object_set_new(o, "reasons", r);
		json_array_append_new(arr, o);
	}
	return arr;
}

static json_t *events_json(const struct bh_maps *m)
{
	struct bh_lost sum;
	json_t *o = json_object();

	bh_maps_lost_read(m, &sum);	/* zeros when absent */
	json_object_set_new(o, "emitted", json_integer(sum.emitted));
	json_object_set_new(o, "lost_ring_full", json_integer(sum.ring_full));
	json_object_set_new(o, "lost_map_full", json_integer(sum.flood_full));
	json_object_set_new(o, "uncounted_denies", json_integer(sum.uncounted));
	json_object_set_new(o, "lost_flow_map_full", json_integer(sum.flow_full));
	return o;
}

/* Is a daemon holding the pin directory lock? A shared probe: a daemon's is
 * exclusive, and a shared one held for a moment here is what a starting
 * daemon waits out (bh_lock_pin_dir). */
static int daemon_running(const char *pin_dir)
{
	int fd = open(pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int busy = 0;

	if (fd < 0)
		return 0;
	if (flock(fd, LOCK_SH | LOCK_NB))
		busy = errno == EWOULDBLOCK;
	close(fd);
	return busy;
}

int bh_status(const char *pin_dir, int json)
{
	struct bh_maps m;
	struct bh_state st;
	char cg2[PATH_MAX] = "";
	json_t *root, *links, *partners, *events;
	size_t i;
	int ret = 0;

	if (bh_maps_open_pinned(&m, pin_dir)) {
		fprintf(stderr, "bulkhead: nothing loaded: no pinned maps in %s (start "
			"`bulkhead run`)\n", pin_dir);
		return 3;
	}
	bh_maps_state_read(&m, &st);	/* zeros when absent */
	bh_cgroup2_mount(cg2, sizeof(cg2));

	root = json_object();
	json_object_set_new(root, "pin_dir", json_string(pin_dir));
	json_object_set_new(root, "cgroup2", json_string(cg2));
	json_object_set_new(root, "daemon_running", json_boolean(daemon_running(pin_dir)));
	json_object_set_new(root, "policy_generation", json_integer(st.gen));
	json_object_set_new(root, "version", json_string(BH_VERSION));
	links = links_json(pin_dir, cg2);
	partners = partners_json(&m);
	events = events_json(&m);
	json_object_set(root, "programs", links);
	/* enforcement is the attached programs; pinned maps alone enforce nothing */
	json_object_set_new(root, "attached", json_boolean(json_array_size(links) > 0));
	if (!json_array_size(links))
		ret = 3;
	json_object_set(root, "partners", partners);
	json_object_set(root, "events", events);

	if (json) {
		char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

		if (s)
			puts(s);
		free(s);
	} else {
		printf("bulkhead     %s\npin dir      %s\ncgroup2      %s\ndaemon       %s\n"
		       "generation   %llu\n", BH_VERSION, pin_dir, cg2, daemon_running(pin_dir) ? "running" :
		       ret ? "not running" : "not running (enforcement stays pinned)",
		       (unsigned long long)st.gen);
		printf("\nprograms (%zu links)\n", json_array_size(links));
		if (!json_array_size(links))
			printf("  none attached: nothing is enforced (maps pinned without programs;\n"
			       "  `bulkhead run` attaches them, `bulkhead down` removes the maps)\n");
		for (i = 0; i < json_array_size(links); i++) {
			json_t *l = json_array_get(links, i);
			json_t *cg = json_object_get(l, "cgroup");

			printf("  %-16s %-22s %s\n",
			       json_string_value(json_object_get(l, "program")) ?: "?",
			       json_string_value(json_object_get(l, "attach_type")) ?: "?",
			       json_is_string(cg) ? json_string_value(cg) : "(cgroup gone)");
		}
		printf("\n%-20s %10s %10s %10s\n", "partner", "allow", "deny", "audit");
		for (i = 0; i < json_array_size(partners); i++) {
			json_t *p = json_array_get(partners, i);
			json_t *v = json_object_get(p, "verdicts");
			json_t *nm = json_object_get(p, "partner");

			printf("%-20s %10lld %10lld %10lld\n",
			       json_is_string(nm) ? json_string_value(nm) : "(unknown partner)",
			       json_integer_value(json_object_get(v, "allow")),
			       json_integer_value(json_object_get(v, "deny")),
			       json_integer_value(json_object_get(v, "audit")));
		}
		printf("\nevents       %lld emitted, %lld lost (ring full), %lld unaggregated "
		       "(map full), %lld uncounted by flows (flow table full)\n",
		       json_integer_value(json_object_get(events, "emitted")),
		       json_integer_value(json_object_get(events, "lost_ring_full")),
		       json_integer_value(json_object_get(events, "lost_map_full")),
		       json_integer_value(json_object_get(events, "lost_flow_map_full")));
		printf("\nallow counts decisions (connects, unconnected sends, first packets of a "
		       "flow);\ndeny and audit count every refused attempt and packet.\n");
	}
	json_decref(links);
	json_decref(partners);
	json_decref(events);
	json_decref(root);
	bh_maps_close(&m);
	return ret;
}
