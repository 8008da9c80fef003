// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The pin directory's layout version (BH_LAYOUT_VERSION, bulkhead.h): which
 * layout the pins of an earlier daemon have (recorded in bh_layout; layout 1
 * has no record and is known by its maps), whether this build can take them
 * over, decided before anything is loaded so that a refusal changes nothing,
 * and the record once loaded. Taking over is libbpf's pin-by-name reuse of
 * every map that fits and the creation of the maps new to the directory; the
 * programs are then swapped into the pinned links in place (loader.c).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bulkhead/bulkhead.h>
#include "bind.h"
#include "layout.h"
#include "log.h"
#include "maps.h"
#include "version.h"

_Static_assert(sizeof(struct bh_layout) == 104, "bh_layout layout");

/* The layout recorded in pin_dir: 0 with *v (layout 1 when there is no
 * record), or -EPROTO (logged). */
static int recorded_layout(const char *pin_dir, struct bh_layout *v)
{
	int err = bh_maps_layout_pinned(pin_dir, v);

	if (err == -ENOENT) {
		*v = (struct bh_layout){ .version = 1 };
		snprintf(v->built_by, sizeof(v->built_by), "a version before the layout record");
		return 0;
	}
	if (err)
		pr_warn("%s: cannot read the layout record bh_layout: %s\n", pin_dir,
			strerror(-err));
	return err ? -EPROTO : 0;
}

/* Without a record, pins are layout 1 only if some are bulkhead's: a map
 * this build pins too, or layout 1's bh_jit. */
static int known_pins(const char *pin_dir, const struct bh_pin_fit *fit)
{
	int fd;

	if (fit->reused || fit->bad[0])
		return 1;
	fd = bh_maps_jit_open_v1(pin_dir);
	if (fd >= 0)
		close(fd);
	return fd >= 0;
}

int bh_layout_check(const char *pin_dir, const struct bpf_object *obj, uint32_t *found)
{
	struct bh_pin_fit fit = {};
	struct bh_layout v;
	int err;

	err = recorded_layout(pin_dir, &v);
	if (err)
		return err;
	if (v.version > BH_LAYOUT_VERSION) {
		pr_warn("%s: pins of layout %u, made by bulkhead %.*s; this build (bulkhead %s) "
			"takes over layouts 1 to %u: run that version or a later one, or "
			"`bulkhead down` first to start over (that removes enforcement, grants "
			"and counters); nothing was changed\n", pin_dir, v.version,
			(int)sizeof(v.built_by), v.built_by, BH_VERSION, BH_LAYOUT_VERSION);
		return -EPROTO;
	}
	bh_maps_pins_fit(obj, &fit);
	err = bh_bind_pins_fit(pin_dir, &fit);
	if (!err && v.version == 1 && !known_pins(pin_dir, &fit)) {
		pr_warn("%s holds pins that are not bulkhead's (none of its maps): give "
			"bulkhead a pin directory of its own (--pin-dir); nothing was changed\n",
			pin_dir);
		return -EPROTO;
	}
	if (!err && fit.bad[0])
		err = -EPROTO;
	if (err) {
		pr_warn("%s: cannot take over the pins of layout %u (bulkhead %.*s): %s; "
			"nothing was changed (with another --ring-size, give the pinned one; "
			"otherwise `bulkhead down` first to start over, which removes "
			"enforcement, grants and counters)\n", pin_dir, v.version,
			(int)sizeof(v.built_by), v.built_by,
			fit.bad[0] ? fit.bad : strerror(-err));
		return -EPROTO;
	}
	pr_info("%s: taking over the pins of layout %u (bulkhead %.*s): %u maps reused, "
		"%u new\n", pin_dir, v.version, (int)sizeof(v.built_by), v.built_by,
		fit.reused, fit.created);
	*found = v.version;
	return 0;
}

int bh_layout_record(const struct bh_maps *m, const char *pin_dir)
{
	struct bh_layout v = { .version = BH_LAYOUT_VERSION };
	int err;

	snprintf(v.built_by, sizeof(v.built_by), "%s", BH_VERSION);
	err = bh_maps_layout_write(m, &v);
	if (err)
		pr_warn("%s: cannot record the layout version: %s\n", pin_dir, strerror(-err));
	return err;
}
