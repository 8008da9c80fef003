/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The pin directory's layout version (BH_LAYOUT_VERSION): may this build take
 * over the pins an earlier daemon left, and the record once it has.
 */
#ifndef BULKHEAD_LAYOUT_H
#define BULKHEAD_LAYOUT_H

#include <stdint.h>

struct bpf_object;
struct bh_maps;

/* Before anything is loaded over pin_dir (which holds pins): its layout in
 * *found (1 when unrecorded) when this build can reuse every pinned map that
 * obj and the bind object share with it and create the others; otherwise
 * -EPROTO, logged with what to do, and nothing has changed. */
int bh_layout_check(const char *pin_dir, const struct bpf_object *obj, uint32_t *found);
/* After load: record BH_LAYOUT_VERSION and this build in bh_layout. 0 or
 * -errno (logged). */
int bh_layout_record(const struct bh_maps *m, const char *pin_dir);

#endif
