/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * `bulkhead whois PID|CGROUP`: which partner a process or a cgroup is
 * attributed to (and by which bound ancestor), or that it is outside every
 * partner, or fail-closed below partner_root: the userspace twin of the
 * kernel's identity walk, read from the pinned bh_cgroups; works with the
 * daemon down.
 */
#ifndef BULKHEAD_WHOIS_H
#define BULKHEAD_WHOIS_H

int bh_cmd_whois(int argc, char **argv);

#endif
