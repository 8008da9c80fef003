/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Exclusive flock(2) locks a daemon holds for its life (its pin directory's,
 * its control socket's) and who holds one (from /proc/locks). The kernel
 * drops a lock with its holder, so a killed daemon leaves none behind.
 */
#ifndef BULKHEAD_LOCK_H
#define BULKHEAD_LOCK_H

/* The pid holding an exclusive flock on the file open at fd, or 0 (none, or
 * not found in /proc/locks). */
int bh_flock_holder(int fd);

#endif
