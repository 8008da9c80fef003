// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `bulkhead status`: read everything from the pinned maps and links, so it
 * works the same whether the daemon runs or not.
 */
#include <arpa/inet.h>
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
#include <bulkhead/unix.h>
#include "bind.h"
#include "cgroup.h"
#include "events.h"
#include "grants.h"
#include "sha256.h"
#include "loader.h"
#include "log.h"
#include "maps.h"
#include "names.h"
#include "status.h"
#include "unix.h"
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
	if (bpf_obj_get_info_by_fd(fd, &li, &lilen) == 0 && li.type != BPF_LINK_TYPE_CGROUP) {
		/* the bind tracepoints (bind.c) */
		json_object_set_new(o, "link_id", json_integer(li.id));
		json_object_set_new(o, "prog_id", json_integer(li.prog_id));
		json_object_set_new(o, "attach_type", json_string("tp_btf"));
		json_object_set_new(o, "cgroup", json_null());
		pfd = bpf_prog_get_fd_by_id(li.prog_id);
		if (pfd >= 0 && bpf_obj_get_info_by_fd(pfd, &pi, &pilen) == 0)
			json_object_set_new(o, "program", json_string(pi.name));
		if (pfd >= 0)
			close(pfd);
	} else if (lilen) {
		json_object_set_new(o, "link_id", json_integer(li.id));
		json_object_set_new(o, "prog_id", json_integer(li.prog_id));
		json_object_set_new(o, "attach_type",
				    json_string(bh_attach_type_str(li.cgroup.attach_type) ?:
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

/* Processes in the cgroup at cg2/rel (its own, not its children's). */
static json_int_t cg_procs(const char *cg2, const char *rel)
{
	char path[PATH_MAX * 2], *line = NULL;
	size_t cap = 0;
	json_int_t n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s%s/cgroup.procs", cg2, rel);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (getline(&line, &cap, f) > 0)
		n++;
	free(line);
	fclose(f);
	return n;
}

static json_t *binding_json(const struct bh_maps *m, const char *cg2,
			    const struct bh_cgpath_key *k, const struct bh_cgpath_val *v)
{
	struct bh_pname name = {};
	const char *how = bh_bound_by_str(v->how);
	json_t *b = json_object();

	bh_maps_pname_read(m, v->partner, &name);
	json_object_set_new(b, "cgroup", json_string(k->path + 1));
	json_object_set_new(b, "cgroup_id", v->cgid ? json_integer(v->cgid) : json_null());
	json_object_set_new(b, "partner", name.name[0] ? json_string(name.name) : json_null());
	json_object_set_new(b, "partner_id", json_integer(v->partner));
	json_object_set_new(b, "processes", json_integer(v->cgid ? cg_procs(cg2, k->path) : 0));
	json_object_set_new(b, "bound_by", how ? json_string(how) : json_null());
	json_object_set_new(b, "binds_at_creation", json_integer(v->binds));
	json_object_set_new(b, "unbinds_at_removal", json_integer(v->unbinds));
	json_object_set_new(b, "lifecycle_lost", json_integer(v->ev_lost));
	return b;
}

/* The binding mode and every bound path: its cgroup now, its partner, how
 * it was bound. */
static json_t *bindings_json(const char *pin_dir, const char *cg2, const struct bh_maps *m)
{
	json_t *o = json_object(), *arr = json_array();
	struct bh_cgpath_key key, next;
	struct bh_cgpath_val v;
	int have = 0;

	json_object_set_new(o, "mode", json_string(bh_bind_mode_str(bh_bind_mode_pinned(pin_dir))));
	while (m->cgpaths >= 0 && bh_maps_cgpath_next(m, have ? &key : NULL, &next) == 0) {
		key = next;
		have = 1;
		if (bh_maps_cgpath_get(m, &key, &v) == 0)
			json_array_append_new(arr, binding_json(m, cg2, &key, &v));
	}
	json_object_set_new(o, "paths", arr);
	return o;
}

static void bindings_print(const json_t *bind)
{
	const json_t *paths = json_object_get(bind, "paths");
	const char *mode = json_string_value(json_object_get(bind, "mode"));
	size_t i;

	printf("\nbinding      %s (%s)\n", mode, !strcmp(mode, "rescan") ?
	       "recreated cgroups are bound by the daemon's rescan, within a second" :
	       "recreated cgroups are bound by the kernel at mkdir");
	if (json_array_size(paths))
		printf("  %-44s %10s %-16s %6s %s\n", "cgroup", "id", "partner", "procs", "bound by");
	for (i = 0; i < json_array_size(paths); i++) {
		const json_t *b = json_array_get(paths, i);
		const json_t *id = json_object_get(b, "cgroup_id"), *nm = json_object_get(b, "partner");
		const json_t *how = json_object_get(b, "bound_by");
		char idtext[24] = "(absent)";

		if (json_is_integer(id))
			snprintf(idtext, sizeof(idtext), "%lld", json_integer_value(id));
		printf("  %-44s %10s %-16s %6lld %s\n", json_string_value(json_object_get(b, "cgroup")),
		       idtext, json_is_string(nm) ? json_string_value(nm) : "?",
		       json_integer_value(json_object_get(b, "processes")),
		       json_is_string(how) ? json_string_value(how) : "-");
	}
}

void bh_pinned_orgs(const char *pin_dir, json_t *arr)
{
	struct bh_maps m;
	size_t i;

	if (bh_maps_open_pinned(&m, pin_dir))
		return;
	for (i = 0; m.porgs >= 0 && i < json_array_size(arr); i++) {
		json_t *g = json_array_get(arr, i);
		const char *partner = json_string_value(json_object_get(g, "partner"));
		struct bh_pname name;
		struct bh_porg org;
		uint32_t id;

		for (id = 1; partner && id < BH_MAX_PARTNERS; id++) {
			if (bh_maps_pname_read(&m, id, &name) || strcmp(name.name, partner))
				continue;
			if (bh_maps_porg_read(&m, id, &org) == 0 && org.org[0])
				json_object_set_new(g, "org", json_string(org.org));
			break;
		}
	}
	bh_maps_close(&m);
}

/* The partners' UNIX socket decisions, for those that made any. */
static void unix_print(const json_t *partners)
{
	const json_t *p, *u;
	size_t i;
	int head = 0;

	json_array_foreach(partners, i, p) {
		u = json_object_get(p, "unix");
		if (!json_is_object(u) || !(json_integer_value(json_object_get(u, "allow")) |
					    json_integer_value(json_object_get(u, "deny")) |
					    json_integer_value(json_object_get(u, "audit"))))
			continue;
		if (!head++)
			printf("\n%-20s %10s %10s %10s  (UNIX sockets)\n", "partner", "allow", "deny",
			       "audit");
		printf("%-20s %10lld %10lld %10lld\n", json_string_value(json_object_get(p, "partner")),
		       json_integer_value(json_object_get(u, "allow")),
		       json_integer_value(json_object_get(u, "deny")),
		       json_integer_value(json_object_get(u, "audit")));
	}
}

/* The partner's UNIX socket decisions by verdict (bh_unix_cnt, counted apart
 * from the IP verdicts); null where the UNIX hooks are not loaded. */
static json_t *unix_json(const struct bh_maps *m, uint32_t id)
{
	struct bh_unix_counts uc;
	json_t *v;
	int i;

	if (m->unixcnt < 0 || bh_maps_unix_counts_sum(m, id, &uc))
		return json_null();
	v = json_object();
	for (i = 0; i < BH_VERDICT__MAX; i++)
		json_object_set_new(v, bh_verdict_str(i), json_integer((json_int_t)uc.verdicts[i]));
	return v;
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
		if (id) {
			struct bh_porg org = {};

			if (m->porgs >= 0)
				bh_maps_porg_read(m, id, &org);
			json_object_set_new(o, "org", org.org[0] ? json_string(org.org) : json_null());
			json_object_set_new(o, "contact", org.contact[0] ? json_string(org.contact) :
					    json_null());
		}
		v = json_object();
		for (i = 0; i < BH_VERDICT__MAX; i++)
			json_object_set_new(v, bh_verdict_str(i), json_integer(sum.verdicts[i]));
		r = json_object();
		for (i = 0; i < BH_REASON__MAX; i++)
			json_object_set_new(r, bh_reason_str(i), json_integer(sum.reasons[i]));
		json_object_set_new(o, "verdicts", v);
		json_object_set_new(o, "reasons", r);
		json_object_set_new(o, "unix", id ? unix_json(m, id) : json_null());
		json_array_append_new(arr, o);
	}
	return arr;
}

/* The policy file in force (pinned BH_JIT_SOURCE): path, sha256, when and
 * by whom it was applied; null when none is pinned. */
static json_t *policy_json(const char *pin_dir, uint64_t gen)
{
	const struct bh_jit *r;
	struct bh_jitset js;
	char hex[65], ts[BH_TS_LEN];
	json_t *o;

	if (bh_jit_load_pinned(pin_dir, &js))
		return json_null();
	r = bh_jit_source(&js);
	if (!r) {
		bh_jitset_free(&js);
		return json_null();
	}
	bh_sha256_hex((const uint8_t *)r->reserved, hex);
	bh_format_unix_ts((int64_t)r->created_unix_ns, ts, sizeof(ts));
	o = json_pack("{s:s, s:s, s:I, s:s, s:{s:i, s:i, s:s}}", "file", r->purpose, "sha256", hex,
		      "generation", (json_int_t)gen, "applied_at", ts, "applied_by", "uid",
		      (int)r->by_uid, "pid", (int)r->by_pid, "comm", r->by_comm);
	bh_jitset_free(&js);
	return o;
}

/* Each partner's mode (the default entry of the trie in force) and the
 * cgroups bound to it. */
static void partners_add_mode(const struct bh_maps *m, json_t *partners, const json_t *bind)
{
	const json_t *paths = json_object_get(bind, "paths");
	int trie = bh_maps_trie_current(m);

	for (size_t i = 0; i < json_array_size(partners); i++) {
		json_t *p = json_array_get(partners, i), *cgs = json_array();
		json_int_t id = json_integer_value(json_object_get(p, "id"));
		struct bh_lpm_key k = { .prefixlen = 32, .partner = htonl((uint32_t)id) };
		struct bh_lpm_val v;

		if (id && trie >= 0 && bh_maps_trie_lookup(trie, &k, &v) == 0)
			json_object_set_new(p, "mode", json_string(bh_mode_str(v.mode)));
		for (size_t j = 0; j < json_array_size(paths); j++) {
			const json_t *b = json_array_get(paths, j);

			if (json_integer_value(json_object_get(b, "partner_id")) == id && id)
				json_array_append(cgs, json_object_get(b, "cgroup"));
		}
		json_object_set_new(p, "cgroups", cgs);
	}
	if (trie >= 0)
		close(trie);
}

/* "acme: enforce, org Acme; cgroups a, b; denies no_grant 3, revoked 1" */
static void partner_print(const json_t *p)
{
	const json_t *cgs = json_object_get(p, "cgroups"), *r = json_object_get(p, "reasons");
	const char *key, *mode = json_string_value(json_object_get(p, "mode"));
	json_t *v;
	int n = 0;

	if (!json_is_string(json_object_get(p, "partner"))) {
		printf("  (unknown partner): cgroups below partner_root bound to no partner "
		       "(fail-closed)");
	} else {
		printf("  %s: %s, org %s; cgroups ", json_string_value(json_object_get(p, "partner")),
		       mode ? mode : "not in the policy",
		       json_string_value(json_object_get(p, "org")) ?: "(none)");
		for (size_t i = 0; i < json_array_size(cgs); i++)
			printf("%s%s", i ? ", " : "", json_string_value(json_array_get(cgs, i)));
		if (!json_array_size(cgs))
			printf("(none)");
	}
	json_object_foreach((json_t *)r, key, v) {
		if (!json_integer_value(v) || !strcmp(key, "granted"))
			continue;
		printf("%s %s %lld", n++ ? "," : "; denies", key, json_integer_value(v));
	}
	printf("%s\n", n ? "" : "; no denies");
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

static void policy_print(const json_t *p)
{
	const json_t *by = json_object_get(p, "applied_by");

	if (!json_is_object(p)) {
		printf("policy       (not recorded on these pins)\n");
		return;
	}
	printf("policy       %s\n             sha256 %s\n             applied %s by uid %lld "
	       "(%s, pid %lld)\n", json_string_value(json_object_get(p, "file")),
	       json_string_value(json_object_get(p, "sha256")),
	       json_string_value(json_object_get(p, "applied_at")),
	       json_integer_value(json_object_get(by, "uid")),
	       json_string_value(json_object_get(by, "comm")) ?: "?",
	       json_integer_value(json_object_get(by, "pid")));
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
	json_t *root, *links, *partners, *events, *bind;
	struct bh_layout lay;
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
	if (bh_maps_layout_read(&m, &lay))
		lay = (struct bh_layout){ .version = 1 };	/* no record: layout 1 */
	json_object_set_new(root, "pin_layout", json_integer(lay.version));
	json_object_set_new(root, "policy", policy_json(pin_dir, st.gen));
	links = links_json(pin_dir, cg2);
	partners = partners_json(&m);
	events = events_json(&m);
	bind = bindings_json(pin_dir, cg2, &m);
	partners_add_mode(&m, partners, bind);
	json_object_set(root, "programs", links);
	/* enforcement is the attached programs; pinned maps alone enforce nothing */
	json_object_set_new(root, "attached", json_boolean(json_array_size(links) > 0));
	if (!json_array_size(links))
		ret = 3;
	json_object_set(root, "partners", partners);
	json_object_set(root, "events", events);
	json_object_set(root, "binding", bind);

	if (json) {
		char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

		if (s)
			puts(s);
		free(s);
	} else {
		printf("bulkhead     %s\npin dir      %s\ncgroup2      %s\ndaemon       %s\n"
		       "generation   %llu\npin layout   %u\n", BH_VERSION, pin_dir, cg2,
		       daemon_running(pin_dir) ? "running" :
		       ret ? "not running" : "not running (enforcement stays pinned)",
		       (unsigned long long)st.gen, lay.version);
		policy_print(json_object_get(root, "policy"));
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
			       json_is_string(cg) ? json_string_value(cg) :
			       !strcmp(json_string_value(json_object_get(l, "attach_type")) ?: "",
				       "tp_btf") ? "(every cgroup mkdir/rmdir)" : "(cgroup gone)");
		}
		bindings_print(bind);
		printf("\n%-20s %10s %10s %10s  %s\n", "partner", "allow", "deny", "audit", "org");
		for (i = 0; i < json_array_size(partners); i++) {
			json_t *p = json_array_get(partners, i);
			json_t *v = json_object_get(p, "verdicts");
			json_t *nm = json_object_get(p, "partner");

			json_t *org = json_object_get(p, "org");

			printf("%-20s %10lld %10lld %10lld  %s\n",
			       json_is_string(nm) ? json_string_value(nm) : "(unknown partner)",
			       json_integer_value(json_object_get(v, "allow")),
			       json_integer_value(json_object_get(v, "deny")),
			       json_integer_value(json_object_get(v, "audit")),
			       json_is_string(org) ? json_string_value(org) :
			       json_is_string(nm) ? "(none)" : "");
		}
		unix_print(partners);
		printf("\npartners (mode, org, bound cgroups, denies by reason)\n");
		for (i = 0; i < json_array_size(partners); i++)
			partner_print(json_array_get(partners, i));
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
	json_decref(bind);
	json_decref(root);
	bh_maps_close(&m);
	return ret;
}
