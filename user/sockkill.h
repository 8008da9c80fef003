/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Destroy established sockets that a grant no longer covers (design §1
 * promise 3, §4): the datapath already drops their next packet; this makes
 * the application see ECONNABORTED instead of hanging on a silent flow.
 *
 * Mechanism: NETLINK_SOCK_DIAG. SOCK_DIAG_BY_FAMILY dumps (inet_diag_req_v2)
 * list the sockets, SOCK_DESTROY (CONFIG_INET_DIAG_DESTROY=y, what `ss -K`
 * uses) kills one socket identified by its dumped inet_diag_sockid, cookie
 * included, so a socket that closed and was replaced by another with the same
 * 4-tuple is never hit (the kernel answers ENOENT and nothing is counted).
 *
 * A sock_diag socket only sees the network namespace it was created in, so
 * every namespace used by a process of the given cgroup subtrees is scanned,
 * plus the caller's own.
 */
#ifndef BULKHEAD_SOCKKILL_H
#define BULKHEAD_SOCKKILL_H

#include <stddef.h>
#include <stdint.h>

/* One dumped socket, as handed to the predicate. */
struct bh_sock_info {
	uint8_t family;		/* AF_INET / AF_INET6 (the socket's own family) */
	uint8_t proto;		/* IPPROTO_TCP / IPPROTO_UDP */
	uint8_t src[16];	/* IPv6, or IPv4-mapped ::ffff:a.b.c.d */
	uint8_t dst[16];
	uint16_t sport;		/* host order */
	uint16_t dport;		/* host order */
	uint64_t cgroup_id;	/* INET_DIAG_CGROUP_ID: cgroup v2 id of the creator
				 * (inode of its cgroup2 directory); 0 when the
				 * kernel does not report one (TCP request sockets
				 * in SYN_RECV) */
	uint64_t cookie;	/* socket cookie (SO_COOKIE, bpf_get_socket_cookie) */
	uint8_t state;		/* TCP_ESTABLISHED, ... (UDP: TCP_ESTABLISHED) */
};

/*
 * Return 1 to destroy the socket, 0 (or any other value >= 0) to keep it, a
 * negative errno to stop the scan (bh_sock_kill then returns that value and
 * destroys nothing more).
 * Called on the caller's thread, never concurrently, for every TCP socket in
 * ESTABLISHED, SYN_SENT, SYN_RECV, FIN_WAIT1, FIN_WAIT2, CLOSE_WAIT and every
 * connected UDP socket of each scanned namespace. The caller's own namespace
 * holds host sockets too: decide on cgroup_id, not on addresses alone.
 */
typedef int (*bh_sock_pred)(void *ctx, const struct bh_sock_info *si);

/*
 * For every network namespace used by a process in any of cgroup_dirs
 * (absolute cgroup2 directory paths, read recursively; a missing directory
 * counts as empty, one outside cgroup2 is -EINVAL and is not walked) and the
 * caller's own, dump TCP and connected UDP sockets, IPv4 and IPv6, call pred
 * on each and SOCK_DESTROY those it selects. Selection happens during the
 * dump, destruction after it, so a destroy never shifts the kernel's dump
 * cursor over a socket not yet seen.
 *
 * Cost (kernel 6.18, 2 vCPU, 262144-bucket TCP ehash): about 2.7 ms per
 * namespace whatever it holds (each TCP dump walks the whole global ehash,
 * once per family), about 1 us per socket dumped and 3-4 us per socket
 * destroyed. It runs on revocation, never per packet.
 *
 * Namespaces are entered from a short-lived thread that only does
 * setns(CLONE_NEWNET) and creates the sock_diag socket, then exits: a socket
 * stays bound to the namespace it was created in, the caller's threads never
 * change namespace and no fork is needed.
 *
 * *destroyed (may be NULL) receives the number of sockets the kernel
 * acknowledged as destroyed, also on error. Returns 0, or the first -errno met
 * (-EINVAL bad arguments, -EOPNOTSUPP kernel without INET_DIAG_DESTROY,
 * -EPERM without CAP_NET_ADMIN/CAP_SYS_ADMIN, a negative pred result, ...).
 * A failure in one namespace does not stop the others (except a pred error or
 * -EOPNOTSUPP); each failure is logged once here.
 *
 * Known limits: a socket is found only if some process of the subtrees (or the
 * caller) is still in its namespace; threads that setns() elsewhere are not
 * followed (cgroup.procs lists thread-group leaders).
 */
int bh_sock_kill(const char *const *cgroup_dirs, size_t n, bh_sock_pred pred,
		 void *ctx, unsigned int *destroyed);

/*
 * Probe: 0 if this kernel can destroy sockets through sock_diag (a destroy of
 * a socket that does not exist answers ENOENT), -EOPNOTSUPP if it was built
 * without CONFIG_INET_DIAG_DESTROY, another -errno if sock_diag is unusable.
 */
int bh_sock_kill_supported(void);

#endif
