// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libFuzzer target: kernel records as the daemon decodes them. The first
 * byte picks a ring record (the size check of bh_event_decode on the rest,
 * then bh_event_build with a builder kept across inputs, as the daemon's)
 * or a flood window (a bh_flood_key and a bh_flood_val from the rest, then
 * bh_flood_build), or with first byte 'U' a UNIX socket record
 * (bh_unixev_decode, then bh_event_unix); every object built must dump to
 * valid UTF-8 JSON.
 */
#include <errno.h>
#include "fuzz.h"
#include <bulkhead/unix.h>
#include "events.h"

static const char *f_partner(void *ctx, uint32_t id)
{
	(void)ctx;
	return id == 1 ? "acme" : id == 2 ? "b\xc3\xa9ta" : NULL;
}

static int f_grant(void *ctx, uint32_t id, const char **text, const char **purpose)
{
	(void)ctx;
	if (id % 3)
		return -ENOENT;
	*text = "acme/1";
	*purpose = id % 2 ? "billing" : NULL;
	return 0;
}

static const char *f_cgroup(void *ctx, uint64_t id)
{
	(void)ctx;
	return id & 1 ? "partners.slice/acme.service" : NULL;
}

static void dump_ok(const json_t *o)
{
	char *s;

	if (!o)
		abort();
	s = json_dumps(o, JSON_COMPACT);
	if (!s || !fz_utf8_ok(s))
		abort();
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct bh_namer n = { .partner = f_partner, .grant = f_grant,
					   .cgroup = f_cgroup };
	static const struct bh_clock clk = { .wall_ns = 1795432831ll * BH_NS_PER_SEC,
					     .boot_ns = 5 * BH_NS_PER_SEC };
	static struct bh_event_builder *b;
	struct bh_flood_key k;
	struct bh_flood_val v;
	struct bh_unixev u;
	struct bh_event e;
	json_t *o;

	if (!b && !(b = bh_event_builder_new()))
		abort();
	if (!size)
		return 0;
	if (data[0] == 'U') {
		if (bh_unixev_decode(data + 1, size - 1, &u))
			return 0;
		o = bh_event_unix(&u, &n, &clk);
		dump_ok(o);
		json_decref(o);
		return 0;
	}
	if (!(data[0] & 1)) {
		if (bh_event_decode(data + 1, size - 1, &e))
			return 0;
		dump_ok(bh_event_build(b, &e, &n, &clk));
		return 0;
	}
	if (size - 1 < sizeof(k) + sizeof(v))
		return 0;
	memcpy(&k, data + 1, sizeof(k));
	memcpy(&v, data + 1 + sizeof(k), sizeof(v));
	dump_ok(bh_flood_build(b, &k, &v, &n, &clk));
	return 0;
}
