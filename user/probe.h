/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Synthetic probes for `bulkhead verify`: the private network namespaces
 * verify makes (a probe namespace with only `lo` up; a wire namespace whose
 * veth leads to a sink namespace that forwards nothing), the transient child
 * cgroup a probe runs in, and the forked child that joins both (setns(2), a
 * write to cgroup.procs) and asks the kernel: one socket per probe, the
 * errno of connect/sendto says the hook's decision.
 */
#ifndef BULKHEAD_PROBE_H
#define BULKHEAD_PROBE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include "values.h"

/* The namespaces of one verify run. Every fd -1 when not made. Closing the
 * fds (bh_probe_env_close, or the process exiting) removes the namespaces
 * and the veth pair with them: nothing is left behind, even after a crash. */
struct bh_probe_env {
	int probe_ns;		/* lo only, up */
	int wire_ns;		/* lo + veth bhw0 wire4/30, fd00:b4::1/64, default via the sink */
	int sink_ns;		/* lo + veth bhw1 sink4/30, fd00:b4::2/64, no forwarding */
	/* a /30 of 198.18.0.0/16 chosen by pid: two verify runs at once (the
	 * daemon's and an operator's) never grant the same sink address */
	char wire4[20], sink4[16];
};
#define BH_PROBE_SINK6 "fd00:b4::2"

/* Make the namespaces (wire and sink only when wire is set). 0 or -errno,
 * logged with what failed. */
int bh_probe_env_open(struct bh_probe_env *env, int wire);
void bh_probe_env_close(struct bh_probe_env *env);
/* The interface names seen from inside ns, comma-separated. 0 or -errno. */
int bh_probe_ifnames(int ns, char *buf, size_t len);

/* A transient child cgroup of the directory cgdir (absolute): *out (a
 * PATH_MAX buffer) is its path. 0 or -errno, logged. */
int bh_probe_cgroup_make(const char *cgdir, char *out);
/* Remove it (its processes have exited). */
void bh_probe_cgroup_remove(const char *path);

enum bh_probe_said {
	BH_SAID_NOT_RUN = 0,
	BH_SAID_ALLOW = 1,	/* any errno but EPERM: the hooks let it through */
	BH_SAID_DENY = 2,	/* EPERM */
	BH_SAID_ERROR = 3,	/* the probe socket could not be made */
};

struct bh_probe {
	struct bh_prefix dst;	/* one address (plen 128) */
	uint16_t port;		/* tcp/udp; 0 for icmp */
	uint8_t proto;		/* BH_PROTO_TCP, UDP or ICMP */
	uint8_t said;		/* enum bh_probe_said, filled by bh_probe_run */
	int err;		/* errno of connect/sendto (0: it returned success) */
	uint64_t cookie;	/* SO_COOKIE of the probe socket */
};

/* Run probes p[0..n) in a forked child that joins cgroup cgpath and the
 * namespaces of env (tcp/udp in probe_ns, icmp in wire_ns). progress (may be
 * NULL) is called now and then with the number done. 0 or -errno (-EINTR:
 * interrupted; the probes not run say so). */
int bh_probe_run(const struct bh_probe_env *env, const char *cgpath, struct bh_probe *p,
		 size_t n, void (*progress)(void *ctx, size_t done), void *ctx);

/* In a forked child in cgroup cgpath and namespace ns: fn(arg), its
 * return value the child's exit status (0..255). The child's pid, or -errno. */
pid_t bh_probe_spawn(const char *cgpath, int ns, int (*fn)(void *arg), void *arg);

/* fill sa with dst:port (AF_INET for IPv4-mapped addresses); its length. */
socklen_t bh_probe_sockaddr(const struct bh_prefix *dst, uint16_t port, void *sa);

#endif
