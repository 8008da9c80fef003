/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* `bulkhead status`: what the pins say, daemon or not. */
#ifndef BULKHEAD_STATUS_H
#define BULKHEAD_STATUS_H

#include <jansson.h>

/* Print what is loaded, per-partner counters and event loss from the pins in
 * pin_dir. Returns the exit code: 0, or 3 when no program is attached (nothing
 * pinned, or maps pinned without links). */
int bh_status(const char *pin_dir, int json);

/* Each object of arr (grants with a "partner") gets the "org" its partner
 * has in the pins of pin_dir (bh_pnames, bh_porgs), if any. */
void bh_pinned_orgs(const char *pin_dir, json_t *arr);

#endif
