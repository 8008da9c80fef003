/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Local UNIX sockets (bpf/unix.bpf.c): the per-partner name trie the loader
 * compiles (bh_unix_pol, an LPM trie inside an array of maps) and the
 * decision records the kernel sends (bh_unixev ring). Fixed-width types and
 * explicit padding only: the layout is the ABI of pinned maps.
 */
#ifndef BULKHEAD_UNIX_H
#define BULKHEAD_UNIX_H

#include <bulkhead/bulkhead.h>

/* enum bpf_attach_type values of the UNIX hooks (kernel 6.7+, vmlinux.h):
 * the userspace UAPI headers of Debian 12 predate them. bpf/unix.bpf.c
 * checks them against vmlinux.h. */
#define BH_ATTACH_UNIX_CONNECT 49	/* BPF_CGROUP_UNIX_CONNECT */
#define BH_ATTACH_UNIX_SENDMSG 50	/* BPF_CGROUP_UNIX_SENDMSG */

/* sun_path as the kernel holds it (struct sockaddr_un). */
#define BH_UNIX_PATH_MAX 108
/* Key bytes: sun_path plus its terminator slot, rounded up. */
#define BH_UNIX_NAME_LEN 112
#define BH_UNIXEV_RING (256 << 10)	/* bytes: about 1,400 records */

/*
 * Trie key: partner id (network byte order), then the socket's name as the
 * kernel holds it in sun_path: "/run/x.sock" for a path, "\0name" for an
 * abstract name. An exact name is stored with its terminating 0 byte
 * (prefixlen 32 + 8 * (len + 1)), a directory prefix ("/run/foo/") without
 * (prefixlen 32 + 8 * len); a lookup uses the name and its 0. Each partner
 * in the policy has one entry of prefixlen 32 (no name bits): its unix_mode
 * with no grant. The never list lives under BH_PARTNER_NEVER.
 */
struct bh_unix_key {
	__u32 prefixlen;
	__u32 partner;
	__u8  name[BH_UNIX_NAME_LEN];
};

enum bh_unix_mode {
	BH_UNIX_OFF     = 0,	/* UNIX sockets of the partner are not looked at */
	BH_UNIX_AUDIT   = 1,	/* every connect/send logged, allowed */
	BH_UNIX_ENFORCE = 2,	/* not granted: EPERM */
};

enum bh_unix_flags {
	BH_UNIXF_EXACT  = 1 << 0,	/* entry is an exact name (with its 0) */
	BH_UNIXF_NEVER  = 1 << 1,	/* entry is on the never list */
	BH_UNIXF_GRANT  = 1 << 2,	/* entry is a grant (else the partner's default) */
};

struct bh_unix_val {
	__u32 grant;		/* deciding grant id (policy grant table); 0: none */
	__u8  mode;		/* enum bh_unix_mode of the partner */
	__u8  flags;		/* enum bh_unix_flags */
	__u8  pad[2];
};

enum bh_unixev_flags {
	BH_UNIXEV_ABSTRACT = 1 << 0,	/* name is abstract (name[0] == 0) */
	BH_UNIXEV_DGRAM    = 1 << 1,	/* SOCK_DGRAM (else SOCK_STREAM/SEQPACKET) */
	BH_UNIXEV_SEQPACKET = 1 << 2,
};

/* bh_unixev ring record: one per decision of a partner's UNIX connect or
 * send with an address (hook BH_HOOK_CONNECT or BH_HOOK_SENDMSG). */
struct bh_unixev {
	__u64 ts_boot_ns;
	__u64 cgroup_id;	/* the task's */
	__u32 partner;
	__u32 grant;
	__u32 pid;
	__u32 tid;
	__u32 uid;
	__u16 name_len;		/* bytes of name (sun_path) the address held */
	__u8  hook;		/* enum bh_hook */
	__u8  verdict;		/* enum bh_verdict */
	__u8  reason;		/* enum bh_reason */
	__u8  flags;		/* enum bh_unixev_flags */
	__u8  pad[6];
	char  comm[16];		/* raw kernel bytes: sanitise before output */
	__u8  name[BH_UNIX_NAME_LEN];	/* raw sun_path bytes: sanitise before output */
};

/* bh_unix_cnt[partner] (per-CPU): the partner's UNIX decisions by verdict,
 * and those whose record the ring had no room for (counted, not written).
 * Index 0 (no partner decides there) holds the ring_full total of all. */
struct bh_unix_counts {
	__u64 verdicts[BH_VERDICT__MAX];
	__u64 ring_full;
};

#endif /* BULKHEAD_UNIX_H */
