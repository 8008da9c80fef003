/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The read-only commands (status, why, reach) run by the daemon for a caller
 * who cannot read the pins itself (a --read-group or --control-group member:
 * bpffs and bpf(2) are root's). The CLI side is cli_read.c.
 */
#ifndef BULKHEAD_READCMD_H
#define BULKHEAD_READCMD_H

#include <jansson.h>

/* The commands the daemon runs this way, NULL-terminated. */
extern const char *const bh_readcmd_names[];

/* Request {"op":"read","cmd":C,"args":[...]}: command C (status, why,
 * reach) with args (positional ones and --json only) on pin_dir, in a child
 * process with a deadline: {"ok":true,"exit":N,"stdout":S,"stderr":E}, or a
 * refusal. */
json_t *bh_readcmd_run(const char *pin_dir, const json_t *req);

#endif
