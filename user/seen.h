/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * What the daemon has seen, by text key, with the last time (unix seconds),
 * kept across restarts in a bounded file under the state directory
 * (--state-dir): the `first_seen` destinations and the `identity_reuse`
 * identities of docs/alerts.md. One line a key: "<unix_s>\t<key>\n".
 */
#ifndef BULKHEAD_SEEN_H
#define BULKHEAD_SEEN_H

#include <stddef.h>
#include <stdint.h>

struct bh_seen;

#define BH_SEEN_MAX 65536	/* keys a state file holds */

/* DIR/NAME (DIR made like mkdir -p, 0750), read if it exists; at most max
 * keys (the oldest go first), those older than horizon_s before now dropped.
 * 0 or -errno (the file cannot be read or DIR made). */
int bh_seen_open(struct bh_seen **s, const char *dir, const char *name, size_t max,
		 int64_t horizon_s);
/* The last time of key, 0 if never (or forgotten). */
int64_t bh_seen_get(const struct bh_seen *s, const char *key);
/* key seen at t. 0 or -ENOMEM. */
int bh_seen_put(struct bh_seen *s, const char *key, int64_t t);
/* Write the file again (a new file renamed over it) if anything changed.
 * 0 or -errno. */
int bh_seen_save(struct bh_seen *s);
/* Saves first; NULL is ignored. */
void bh_seen_close(struct bh_seen *s);

#endif
