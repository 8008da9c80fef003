/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Types shared by the kernel programs (bpf/) and the bulkhead binary (user/).
 * Fixed-width types and explicit padding only: the layout is the ABI between
 * the two sides and between a pinned map and a later bulkhead version.
 */
#ifndef BULKHEAD_BULKHEAD_H
#define BULKHEAD_BULKHEAD_H

#ifndef __BPF__
#include <linux/types.h>
#endif

#define BH_ABI_VERSION 1

/* Limits. */
#define BH_MAX_PARTNERS   1024   /* partner ids 1..BH_MAX_PARTNERS-1; 0 = none */
#define BH_MAX_RULES      8      /* port/proto rules in one flattened prefix */
#define BH_MAX_CGROUP_DEPTH 32   /* deepest cgroup level walked for identity */
#define BH_MAX_CGROUPS    65536  /* bound cgroups + partner roots */

/* Partner id reserved for "under a partner root, but bound to no partner". */
#define BH_PARTNER_UNKNOWN 0u
/* Partner id under which the host-wide never list lives in a policy trie. */
#define BH_PARTNER_NEVER   0xffffffffu

/* Protocols in rules and decisions (IANA numbers, ICMPv6 folded into ICMP). */
enum bh_proto {
	BH_PROTO_ANY  = 0,
	BH_PROTO_ICMP = 1,
	BH_PROTO_TCP  = 6,
	BH_PROTO_UDP  = 17,
	BH_PROTO_OTHER = 255,	/* a packet of any other protocol (only `any` matches) */
};

enum bh_mode {
	BH_MODE_ENFORCE = 0,
	BH_MODE_AUDIT   = 1,
};

enum bh_verdict {
	BH_VERDICT_ALLOW = 0,
	BH_VERDICT_DENY  = 1,
	BH_VERDICT_AUDIT = 2,	/* enforce would deny; audit mode let it through */
	BH_VERDICT__MAX,
};

enum bh_reason {
	BH_REASON_GRANTED = 0,
	BH_REASON_NO_GRANT = 1,
	BH_REASON_NEVER = 2,
	BH_REASON_EXPIRED = 3,
	BH_REASON_REVOKED = 4,
	BH_REASON_UNKNOWN_PARTNER = 5,
	BH_REASON__MAX,
};

/* Where a decision was taken. */
enum bh_hook {
	BH_HOOK_CONNECT = 0,
	BH_HOOK_SENDMSG = 1,
	BH_HOOK_EGRESS  = 2,
	BH_HOOK_INGRESS = 3,
	BH_HOOK__MAX,
};

/*
 * bh_cgroups: cgroup id -> binding. A socket belongs to the binding of its
 * deepest ancestor cgroup present in this map. A BH_CG_ROOT entry is a
 * partner_root: a socket whose deepest hit is a root is an unknown partner.
 * A BH_CG_ANCHOR entry is the parent directory of a bound cgroup outside
 * partner_root, where the programs are attached so that they survive the
 * bound cgroup's recreation: a socket whose deepest hit is an anchor belongs
 * to no partner and passes untouched (BH_SK_OUTSIDE), like a socket of a
 * process outside every partner subtree.
 */
enum bh_cg_kind {
	BH_CG_BOUND  = 1,
	BH_CG_ROOT   = 2,
	BH_CG_ANCHOR = 3,
};

struct bh_cgroup_val {
	__u32 partner;		/* BH_PARTNER_UNKNOWN for BH_CG_ROOT */
	__u32 kind;		/* enum bh_cg_kind */
};

/*
 * Policy trie (LPM) key: 32 bits of partner id, then the destination as a
 * 128-bit IPv6 address (IPv4 as ::ffff:a.b.c.d). prefixlen counts both, so a
 * grant of 10.0.0.0/8 for partner 3 is {32 + 96 + 8, 3, ::ffff:10.0.0.0}.
 * Every partner has one entry with prefixlen 32 (no address bits): its
 * default, carrying its mode and no rules.
 */
struct bh_lpm_key {
	__u32 prefixlen;
	__u32 partner;		/* network byte order: the trie compares bytes */
	__u8  addr[16];
};

/* One port/protocol rule of a grant. Ports in host byte order, inclusive. */
struct bh_rule {
	__u64 expires_ns;	/* CLOCK_BOOTTIME ns; 0 = never expires */
	__u32 grant;		/* grant id (index into the daemon's grant table) */
	__u16 port_lo;
	__u16 port_hi;		/* tcp/udp only; ignored for icmp/any-without-ports */
	__u8  proto;		/* enum bh_proto */
	__u8  pad[7];
};

enum bh_entry_flags {
	BH_ENTRY_NEVER = 1 << 0,	/* destination is on the never list */
};

/*
 * Trie value: the union of the rules of every grant whose prefix covers this
 * entry's prefix, flattened by the compiler so one lookup decides.
 */
struct bh_lpm_val {
	__u8  flags;		/* enum bh_entry_flags */
	__u8  mode;		/* enum bh_mode of the partner */
	__u8  nrules;
	__u8  pad[5];
	struct bh_rule rules[BH_MAX_RULES];
};

/* bh_state[0]: global state. gen changes on every policy apply; fold_epoch
 * every flow interval (sockets then fold their traffic counters into
 * bh_flows at their next packet). */
struct bh_state {
	__u64 gen;
	__u64 applied_boot_ns;
	__u64 fold_epoch;
};

/* bh_pnames[id]: partner name, so ids stay stable across reloads and restarts
 * and read-only commands can name partners while the daemon is down. */
struct bh_pname {
	char name[64];
};

/* bh_porgs[id]: the partner's organisation and contact from the policy
 * (empty: none), for status and list while the daemon is down. Userspace only. */
#define BH_ORG_LEN 128
struct bh_porg {
	char org[BH_ORG_LEN];
	char contact[BH_ORG_LEN];
};

/*
 * bh_jit_v2: records of the control plane, pinned so that a daemon restarted
 * after a crash finds them all again. Userspace only; a hash keyed by seq.
 * - BH_JIT_GRANT: a just-in-time grant with a kernel-enforced expiry; its seq
 *   is its id ("<partner>/j<seq>"), taken from BH_JIT_NEXT, so it is never
 *   reused for the life of the pin directory.
 * - BH_JIT_REVOKE: masks one policy-file grant of a partner: the one whose id
 *   is in purpose (records of earlier versions, purpose empty: the grants
 *   within addr/plen, proto BH_JIT_ANY_PROTO: all of them; otherwise only
 *   grants with exactly this proto and these ports). Removed by `restore`,
 *   or when a policy without that grant id is applied.
 * - BH_JIT_TTL: when a policy-file grant with a `ttl` (its id in purpose;
 *   earlier versions: partner, addr/plen, proto, ports) first became part of
 *   the applied policy: its ttl counts from created_boot_ns, whatever is
 *   re-applied later. Removed when a policy without that grant is applied.
 * - BH_JIT_NEXT (key 0 only): next_seq, the next grant seq.
 * - BH_JIT_SOURCE (key BH_JIT_AUX_KEY only): the policy file in force, which
 *   SIGHUP re-reads and the next `run` loads: its absolute path in purpose,
 *   the SHA-256 of the text applied in reserved, when and by whom.
 * Revocations and ttl records are keyed BH_JIT_AUX_KEY | n, apart from grant
 * seqs (1 .. BH_JIT_AUX_KEY - 1).
 *
 * Layout version 2: version 1 (pinned as bh_jit, the first 288 bytes of this
 * struct) is migrated on the first `run` (user/grants.c).
 */
#define BH_MAX_JIT 65536
#define BH_JIT_ANY_PROTO 0xff
#define BH_JIT_GRANT_BIT 0x80000000u	/* kernel grant id of JIT grant seq: bit | seq */
#define BH_JIT_AUX_KEY 0x80000000u	/* bh_jit_v2 keys of revocations and ttl records */

enum bh_jit_kind {
	BH_JIT_GRANT = 1,
	BH_JIT_REVOKE = 2,
	BH_JIT_TTL = 3,
	BH_JIT_NEXT = 4,
	BH_JIT_SOURCE = 5,
};

struct bh_jit {
	__u64 expires_boot_ns;	/* grants: CLOCK_BOOTTIME expiry the kernel enforces */
	__u64 created_unix_ns;	/* wall clock: grant made, revocation made, ttl start */
	__u32 seq;		/* the key */
	__u32 by_uid;
	__u32 by_pid;
	__u8  kind;		/* enum bh_jit_kind */
	__u8  proto;
	__u8  plen;		/* 0..128, IPv4 as 96 + n */
	__u8  nports;
	__u8  addr[16];
	__u16 ports[2 * BH_MAX_RULES];	/* lo, hi pairs */
	char  partner[64];
	char  purpose[128];
	char  by_comm[16];
	/* since layout version 2 */
	__u64 expires_unix_ns;	/* grants: the wall-clock expiry fixed at creation (listed) */
	__u64 created_boot_ns;	/* CLOCK_BOOTTIME at created_unix_ns */
	__u32 next_seq;		/* BH_JIT_NEXT only */
	__u32 pad;
	__u64 reserved[4];	/* zero: room to grow without a new layout */
};

/* Per-partner counters (per-CPU array indexed by partner id). */
struct bh_counters {
	__u64 verdicts[BH_VERDICT__MAX];
	__u64 reasons[BH_REASON__MAX];
	__u64 pad;
};

/* Socket-local storage: identity fixed at creation plus the verdict cache. */
enum bh_sk_flags {
	BH_SK_TAGGED  = 1 << 0,
	BH_SK_UNKNOWN = 1 << 1,	/* under a partner root, no partner */
	BH_SK_CACHED  = 1 << 2,
	BH_SK_WAS_ALLOWED = 1 << 3,	/* the cached tuple was allowed before */
	BH_SK_RELEASED = 1 << 4,	/* closed by its owner: traffic (FIN, ACKs) is
					   accounted in bh_flows directly */
	BH_SK_OUTSIDE = 1 << 5,	/* below an anchor, in no partner subtree:
					   never judged, never counted */
};

struct bh_sk {
	__u32 partner;
	__u8  flags;		/* enum bh_sk_flags */
	__u8  verdict;		/* cached enum bh_verdict */
	__u8  reason;		/* cached enum bh_reason */
	__u8  proto;		/* cached tuple: proto, dport, daddr */
	__u64 gen;		/* policy generation the cache was computed under */
	__u64 valid_until_ns;	/* CLOCK_BOOTTIME; 0 = until the next generation */
	__u32 grant;
	__u16 dport;
	__u16 pad;
	__u8  daddr[16];
	/* owner at creation, for events raised outside process context */
	__u32 owner_pid;
	__u32 owner_uid;
	char  owner_comm[16];
	/*
	 * Traffic of the cached (allowed) tuple not yet in bh_flows: the packet
	 * path adds here (no hash lookup per packet); a fold moves it into the
	 * tuple's bh_flows entry when the tuple changes, when the socket is
	 * released, and at the socket's first packet after the daemon advanced
	 * bh_state.fold_epoch (every flow interval).
	 */
	__u64 tx_bytes, tx_packets;
	__u64 rx_bytes, rx_packets;
	__u32 fold_epoch;	/* bh_state.fold_epoch at the last fold */
	__u32 pad2;
};

#endif /* BULKHEAD_BULKHEAD_H */
