// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Every pinned map and its typed accessors (see maps.h). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "bind.skel.h"
#include "bulkhead.skel.h"
#include "maps.h"

static const uint32_t zero;

void bh_maps_of_skel(struct bh_maps *m, const struct bulkhead_bpf *skel)
{
	*m = (struct bh_maps){
		.policy = bpf_map__fd(skel->maps.bh_policy),
		.cgroups = bpf_map__fd(skel->maps.bh_cgroups),
		.state = bpf_map__fd(skel->maps.bh_state),
		.counters = bpf_map__fd(skel->maps.bh_counters),
		.pnames = bpf_map__fd(skel->maps.bh_pnames),
		.jit = bpf_map__fd(skel->maps.bh_jit_v2),
		.events = bpf_map__fd(skel->maps.bh_events),
		.flood = bpf_map__fd(skel->maps.bh_flood),
		.flows = bpf_map__fd(skel->maps.bh_flows),
		.lost = bpf_map__fd(skel->maps.bh_lost),
		.reported = bpf_map__fd(skel->maps.bh_reported),
		.flowrep = bpf_map__fd(skel->maps.bh_flowrep),
		.porgs = bpf_map__fd(skel->maps.bh_porgs),
		.cgpaths = -1,
		.bindev = -1,
	};
}

void bh_maps_of_bind_skel(struct bh_maps *m, const struct bind_bpf *skel)
{
	m->cgpaths = bpf_map__fd(skel->maps.bh_cgpaths);
	m->bindev = bpf_map__fd(skel->maps.bh_bindev);
}

static int open_pin(const char *pin_dir, const char *name)
{
	char path[PATH_MAX + 32];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", pin_dir, name);
	fd = bpf_obj_get(path);
	return fd < 0 ? -errno : fd;
}

int bh_maps_open_pinned(struct bh_maps *m, const char *pin_dir)
{
	static const struct {
		const char *name;
		size_t off;
	} pins[] = {
		{ "bh_policy", offsetof(struct bh_maps, policy) },
		{ "bh_cgroups", offsetof(struct bh_maps, cgroups) },
		{ "bh_state", offsetof(struct bh_maps, state) },
		{ "bh_counters", offsetof(struct bh_maps, counters) },
		{ "bh_pnames", offsetof(struct bh_maps, pnames) },
		{ "bh_jit_v2", offsetof(struct bh_maps, jit) },
		{ "bh_events", offsetof(struct bh_maps, events) },
		{ "bh_flood", offsetof(struct bh_maps, flood) },
		{ "bh_flows", offsetof(struct bh_maps, flows) },
		{ "bh_lost", offsetof(struct bh_maps, lost) },
		{ "bh_reported", offsetof(struct bh_maps, reported) },
		{ "bh_flowrep", offsetof(struct bh_maps, flowrep) },
		{ "bh_porgs", offsetof(struct bh_maps, porgs) },
		{ "bh_cgpaths", offsetof(struct bh_maps, cgpaths) },
		{ "bh_bindev", offsetof(struct bh_maps, bindev) },
	};
	size_t i;

	for (i = 0; i < sizeof(pins) / sizeof(pins[0]); i++) {
		int fd = open_pin(pin_dir, pins[i].name);

		*(int *)((char *)m + pins[i].off) = fd < 0 ? -1 : fd;
	}
	m->owned = 1;
	if (m->pnames < 0) {
		bh_maps_close(m);
		return -ENOENT;
	}
	return 0;
}

void bh_maps_close(struct bh_maps *m)
{
	int *fd = &m->policy, *end = &m->bindev;

	if (!m->owned)
		return;
	for (; fd <= end; fd++) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
	}
	m->owned = 0;
}

int bh_maps_set_ring_kib(struct bulkhead_bpf *skel, unsigned int kib)
{
	return bpf_map__set_max_entries(skel->maps.bh_events, kib * 1024);
}

int bh_maps_state_read(const struct bh_maps *m, struct bh_state *st)
{
	memset(st, 0, sizeof(*st));
	if (m->state < 0)
		return -ENOENT;
	return bpf_map_lookup_elem(m->state, &zero, st) ? -errno : 0;
}

int bh_maps_state_edit(const struct bh_maps *m, void (*edit)(struct bh_state *st))
{
	struct bh_state st;

	bh_maps_state_read(m, &st);
	edit(&st);
	return bpf_map_update_elem(m->state, &zero, &st, BPF_ANY) ? -errno : 0;
}

/* A per-CPU value of fd at key, one entry a CPU, in a new buffer *out. */
static int percpu_read(int fd, const void *key, size_t size, void **out, int *ncpu)
{
	*ncpu = libbpf_num_possible_cpus();
	if (*ncpu <= 0)
		return *ncpu ? *ncpu : -EINVAL;
	*out = calloc(*ncpu, size);
	if (!*out)
		return -ENOMEM;
	if (fd < 0 || bpf_map_lookup_elem(fd, key, *out)) {
		int err = fd < 0 ? -ENOENT : -errno;

		free(*out);
		*out = NULL;
		return err;
	}
	return 0;
}

int bh_maps_lost_read(const struct bh_maps *m, struct bh_lost *sum)
{
	struct bh_lost *pc;
	int i, ncpu, err;

	memset(sum, 0, sizeof(*sum));
	err = percpu_read(m->lost, &zero, sizeof(*pc), (void **)&pc, &ncpu);
	for (i = 0; !err && i < ncpu; i++) {
		sum->emitted += pc[i].emitted;
		sum->ring_full += pc[i].ring_full;
		sum->flood_full += pc[i].flood_full;
		sum->uncounted += pc[i].uncounted;
		sum->flow_full += pc[i].flow_full;
	}
	free(pc);
	return err;
}

int bh_maps_reported_read(const struct bh_maps *m, struct bh_reported *rep)
{
	return bpf_map_lookup_elem(m->reported, &zero, rep) ? -errno : 0;
}

int bh_maps_reported_write(const struct bh_maps *m, const struct bh_reported *rep)
{
	return bpf_map_update_elem(m->reported, &zero, rep, BPF_ANY) ? -errno : 0;
}

int bh_maps_counters_sum(const struct bh_maps *m, uint32_t partner, struct bh_counters *sum)
{
	struct bh_counters *pc;
	int i, j, ncpu, err;

	memset(sum, 0, sizeof(*sum));
	err = percpu_read(m->counters, &partner, sizeof(*pc), (void **)&pc, &ncpu);
	for (i = 0; !err && i < ncpu; i++) {
		for (j = 0; j < BH_VERDICT__MAX; j++)
			sum->verdicts[j] += pc[i].verdicts[j];
		for (j = 0; j < BH_REASON__MAX; j++)
			sum->reasons[j] += pc[i].reasons[j];
	}
	free(pc);
	return err;
}

int bh_maps_pname_read(const struct bh_maps *m, uint32_t id, struct bh_pname *n)
{
	return bpf_map_lookup_elem(m->pnames, &id, n) ? -errno : 0;
}

int bh_maps_pname_write(const struct bh_maps *m, uint32_t id, const struct bh_pname *n)
{
	return bpf_map_update_elem(m->pnames, &id, n, BPF_ANY) ? -errno : 0;
}

void bh_maps_flood_drain(const struct bh_maps *m, bh_flood_visit visit, void *ctx)
{
	enum { CHUNK = 1024 };
	struct bh_flood_key *keys = malloc(CHUNK * sizeof(*keys)), *done = NULL, *nd;
	struct bh_flood_val *vals = malloc(CHUNK * sizeof(*vals));
	size_t ndone = 0, cap = 0;
	uint32_t i, count, batch = 0;
	int err = 0, first = 1;

	if (!keys || !vals)
		goto out;
	while (!err) {
		count = CHUNK;
		err = bpf_map_lookup_batch(m->flood, first ? NULL : &batch, &batch, keys, vals,
					   &count, NULL) ? errno : 0;
		first = 0;
		if (err && err != ENOENT)	/* ENOENT: this was the last chunk */
			break;
		for (i = 0; i < count; i++) {
			if (visit(ctx, &keys[i], &vals[i]) != 1)
				continue;
			if (ndone == cap) {
				cap = cap ? cap * 2 : CHUNK;
				nd = realloc(done, cap * sizeof(*done));
				if (!nd)
					goto out;
				done = nd;
			}
			done[ndone++] = keys[i];
		}
	}
	if (ndone) {
		count = (uint32_t)ndone;
		if (bpf_map_delete_batch(m->flood, done, &count, NULL))
			for (i = 0; i < ndone; i++)	/* one by one */
				bpf_map_delete_elem(m->flood, &done[i]);
	}
out:
	free(keys);
	free(vals);
	free(done);
}

uint64_t bh_maps_flood_pending(const struct bh_maps *m)
{
	struct bh_flood_key k;
	struct bh_flood_val v;
	uint64_t n = 0;
	int have = 0;

	while (m->flood >= 0 && bpf_map_get_next_key(m->flood, have ? &k : NULL, &k) == 0) {
		have = 1;
		if (bpf_map_lookup_elem(m->flood, &k, &v) == 0)
			n += v.suppressed;
	}
	return n;
}

void bh_maps_flows_each(const struct bh_maps *m, bh_flow_visit visit, void *ctx)
{
	struct bh_flow_key k;
	struct bh_flow_val v;
	int have = 0;

	while (bpf_map_get_next_key(m->flows, have ? &k : NULL, &k) == 0) {
		have = 1;
		if (bpf_map_lookup_elem(m->flows, &k, &v) == 0)
			visit(ctx, &k, &v);
	}
}

void bh_maps_flow_forget(const struct bh_maps *m, const struct bh_flow_key *k)
{
	bpf_map_delete_elem(m->flows, k);
	bpf_map_delete_elem(m->flowrep, k);
}

int bh_maps_flowrep_read(const struct bh_maps *m, const struct bh_flow_key *k,
			 struct bh_flow_rep *r)
{
	return bpf_map_lookup_elem(m->flowrep, k, r) ? -errno : 0;
}

int bh_maps_flowrep_write(const struct bh_maps *m, const struct bh_flow_key *k,
			  const struct bh_flow_rep *r)
{
	return bpf_map_update_elem(m->flowrep, k, r, BPF_ANY) ? -errno : 0;
}

int bh_maps_trie_new(size_t max)
{
	LIBBPF_OPTS(bpf_map_create_opts, mo, .map_flags = BPF_F_NO_PREALLOC);
	int fd = bpf_map_create(BPF_MAP_TYPE_LPM_TRIE, "bh_trie", sizeof(struct bh_lpm_key),
				sizeof(struct bh_lpm_val), max ? (uint32_t)max : 1, &mo);

	return fd < 0 ? -errno : fd;
}

int bh_maps_trie_fill(int fd, const struct bh_lpm_key *keys, const struct bh_lpm_val *vals,
		      size_t n, int *one_by_one)
{
	uint32_t count = (uint32_t)n;
	size_t i;

	if (!*one_by_one && bpf_map_update_batch(fd, keys, vals, &count, NULL) == 0 && count == n)
		return 0;
	*one_by_one = 1;
	for (i = 0; i < n; i++)
		if (bpf_map_update_elem(fd, &keys[i], &vals[i], BPF_ANY))
			return -errno;
	return 0;
}

int bh_maps_trie_lookup(int fd, const struct bh_lpm_key *k, struct bh_lpm_val *v)
{
	return bpf_map_lookup_elem(fd, k, v) ? -errno : 0;
}

int bh_maps_trie_each(int fd, int (*visit)(void *ctx, const struct bh_lpm_key *k,
					   const struct bh_lpm_val *v), void *ctx)
{
	struct bh_lpm_key k, next;
	struct bh_lpm_val v;
	int have = 0;

	for (;;) {
		if (bpf_map_get_next_key(fd, have ? &k : NULL, &next))
			return errno == ENOENT ? 0 : -errno;
		k = next;
		have = 1;
		if (bpf_map_lookup_elem(fd, &k, &v))
			continue;	/* replaced meanwhile */
		if (visit(ctx, &k, &v))
			return 0;
	}
}

int bh_maps_trie_swap(const struct bh_maps *m, int trie_fd)
{
	return bpf_map_update_elem(m->policy, &zero, &trie_fd, BPF_ANY) ? -errno : 0;
}

int bh_maps_trie_current(const struct bh_maps *m)
{
	uint32_t id;
	int fd;

	if (bpf_map_lookup_elem(m->policy, &zero, &id))
		return -errno;
	fd = bpf_map_get_fd_by_id(id);
	return fd < 0 ? -errno : fd;
}

int bh_maps_cgroup_bind(const struct bh_maps *m, uint64_t cgid, const struct bh_cgroup_val *v)
{
	return bpf_map_update_elem(m->cgroups, &cgid, v, BPF_ANY) ? -errno : 0;
}

int bh_maps_cgroup_lookup(const struct bh_maps *m, uint64_t cgid, struct bh_cgroup_val *v)
{
	return bpf_map_lookup_elem(m->cgroups, &cgid, v) ? -errno : 0;
}

int bh_maps_cgroup_unbind(const struct bh_maps *m, uint64_t cgid)
{
	return bpf_map_delete_elem(m->cgroups, &cgid) && errno != ENOENT ? -errno : 0;
}

int bh_maps_porg_read(const struct bh_maps *m, uint32_t id, struct bh_porg *o)
{
	return bpf_map_lookup_elem(m->porgs, &id, o) ? -errno : 0;
}

int bh_maps_porg_write(const struct bh_maps *m, uint32_t id, const struct bh_porg *o)
{
	return bpf_map_update_elem(m->porgs, &id, o, BPF_ANY) ? -errno : 0;
}

int bh_maps_cgpath_next(const struct bh_maps *m, const struct bh_cgpath_key *k,
			struct bh_cgpath_key *next)
{
	return bpf_map_get_next_key(m->cgpaths, k, next) ? -errno : 0;
}

int bh_maps_cgpath_get(const struct bh_maps *m, const struct bh_cgpath_key *k,
		       struct bh_cgpath_val *v)
{
	return bpf_map_lookup_elem(m->cgpaths, k, v) ? -errno : 0;
}

int bh_maps_cgpath_put(const struct bh_maps *m, const struct bh_cgpath_key *k,
		       const struct bh_cgpath_val *v, uint64_t flags)
{
	return bpf_map_update_elem(m->cgpaths, k, v, flags) ? -errno : 0;
}

int bh_maps_cgpath_del(const struct bh_maps *m, const struct bh_cgpath_key *k)
{
	return bpf_map_delete_elem(m->cgpaths, k) ? -errno : 0;
}

void bh_maps_cgroups_prune(const struct bh_maps *m, int (*keep)(void *ctx, uint64_t cgid),
			   void *ctx)
{
	uint64_t key, next;
	int have = 0;

	while (bpf_map_get_next_key(m->cgroups, have ? &key : NULL, &next) == 0) {
		if (!keep(ctx, next) && bpf_map_delete_elem(m->cgroups, &next) == 0)
			continue;	/* restart from the same key */
		key = next;
		have = 1;
	}
}

int bh_maps_jit_next(int fd, const uint32_t *key, uint32_t *next)
{
	return bpf_map_get_next_key(fd, key, next) ? -errno : 0;
}

int bh_maps_jit_get(int fd, uint32_t key, struct bh_jit *r)
{
	return bpf_map_lookup_elem(fd, &key, r) ? -errno : 0;
}

int bh_maps_jit_put(int fd, uint32_t key, const struct bh_jit *r)
{
	return bpf_map_update_elem(fd, &key, r, BPF_ANY) ? -errno : 0;
}

int bh_maps_jit_del(int fd, uint32_t key)
{
	return bpf_map_delete_elem(fd, &key) && errno != ENOENT ? -errno : 0;
}

int bh_maps_jit_open_v1(const char *pin_dir)
{
	struct bpf_map_info info = {};
	uint32_t ilen = sizeof(info);
	int fd = open_pin(pin_dir, "bh_jit");

	if (fd < 0)
		return fd;
	if (bpf_obj_get_info_by_fd(fd, &info, &ilen) || info.value_size != BH_JIT_V1_SIZE) {
		close(fd);
		return -EPROTO;
	}
	return fd;
}

int bh_maps_jit_open_pinned(const char *pin_dir, int *v1)
{
	int fd = open_pin(pin_dir, "bh_jit_v2");

	*v1 = fd == -ENOENT;
	return *v1 ? bh_maps_jit_open_v1(pin_dir) : fd;
}

int bh_maps_jit_unpin_v1(const char *pin_dir)
{
	char path[PATH_MAX + 16];

	snprintf(path, sizeof(path), "%s/bh_jit", pin_dir);
	return unlink(path) ? -errno : 0;
}
