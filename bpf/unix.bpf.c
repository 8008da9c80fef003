// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * bulkhead local UNIX sockets: a partner's connect(2) to a UNIX socket and
 * its sendmsg(2) with an address (a datagram to a named socket) are judged
 * against the partner's `unix` grants and unix_mode, and reported.
 *
 *   cgroup/connect_unix   decide at connect (stream, seqpacket, datagram)
 *   cgroup/sendmsg_unix   decide at an unconnected datagram send
 *
 * Kernel 6.7+. libbpf 1.1.2 does not know these section names: the loader
 * (user/unix.c) sets the program type and the expected attach types
 * BPF_CGROUP_UNIX_CONNECT / BPF_CGROUP_UNIX_SENDMSG itself and attaches
 * with cgroup links at the datapath's attach points. A separate object from
 * the datapath (bulkhead.bpf.c), so a kernel without these hooks still loads
 * the datapath. The identity map is the datapath's, by its pin.
 *
 * The name judged is the address the process passed (sun_path), as it
 * wrote it: the kernel resolves it only after this hook. Lookup precedence:
 * the never list (BH_PARTNER_NEVER) first, in every mode but off; then the
 * partner's longest matching entry (an exact name beats a directory prefix,
 * both beat the partner's default entry, which carries its unix_mode).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bulkhead/bulkhead.h>
#include <bulkhead/unix.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define AF_UNIX_ 1
#define SOCK_DGRAM_ 2
#define SOCK_SEQPACKET_ 5
#define EPERM_RET 0	/* a sock_addr program returning 0: EPERM */

_Static_assert(BPF_CGROUP_UNIX_CONNECT == BH_ATTACH_UNIX_CONNECT &&
	       BPF_CGROUP_UNIX_SENDMSG == BH_ATTACH_UNIX_SENDMSG, "attach types of vmlinux.h");

extern void *bpf_cast_to_kern_ctx(void *obj) __ksym;

/* The datapath's identity map, by its pin. */
#include "cgroups.bpf.h"

struct bh_unix_trie {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(key_size, sizeof(struct bh_unix_key));
	__uint(value_size, sizeof(struct bh_unix_val));
};

/* [0]: the applied name trie, swapped whole at apply (user/unix.c). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct bh_unix_trie);
} bh_unix_pol SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, BH_UNIXEV_RING);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bh_unixev SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, BH_MAX_PARTNERS);
	__type(key, __u32);
	__type(value, struct bh_unix_counts);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bh_unix_cnt SEC(".maps");

/* A name being judged: the lookup key and what its scan found. On the
 * stack, not in a per-CPU map: this kernel can preempt a program in
 * process context, and another task would reuse a per-CPU buffer. */
struct unix_scan {
	struct bh_unix_key k;
	__u32 len;		/* bytes of sun_path in the address */
	__u32 match;		/* bytes a lookup may match: the name and its 0, or fewer */
	__u32 clen, dots, bad;	/* the scan: current component, its dots, seen bad */
	__u8  abstract;
	__u8  noncanon;		/* a path with a ".", ".." or empty component */
	__u8  pad[2];
};

/* Partner of the deepest bound ancestor of the current task; 0 when that
 * is not a bound cgroup (a partner root, an anchor, nothing). */
static __always_inline __u32 unix_partner(void)
{
	__u32 partner = 0, kind = 0;
	struct bh_cgroup_val *v;
	int level;

	for (level = 1; level < BH_MAX_CGROUP_DEPTH; level++) {
		__u64 id = bpf_get_current_ancestor_cgroup_id(level);

		if (!id)
			break;
		v = bpf_map_lookup_elem(&bh_cgroups, &id);
		if (v) {
			partner = v->partner;
			kind = v->kind;
		}
	}
	return kind == BH_CG_BOUND ? partner : 0;
}

/* One byte of the name a bpf_loop step (verified once, whatever the
 * name's length). */
static long unix_scan_byte(__u32 i, void *arg)
{
	struct unix_scan *sc = arg;
	__u8 c;

	i += 1;		/* byte 0 is '/' (or 0: abstract) */
	if (i >= sc->len || i >= BH_UNIX_PATH_MAX)
		return 1;
	c = sc->k.name[i];
	if (c == 0) {
		sc->match = sc->abstract ? i : i + 1;
		if (!sc->abstract)
			sc->len = i;
		return 1;
	}
	if (c == '/') {
		sc->bad |= sc->clen == 0 || (sc->clen == sc->dots && sc->dots <= 2);
		sc->clen = sc->dots = 0;
	} else {
		sc->clen += sc->clen < 3;
		sc->dots += c == '.' && sc->dots < 3;
	}
	return 0;
}

/*
 * sun_path of ctx into sc->k.name, scanned once from its second byte. A path
 * name ends at its first 0 (as the kernel reads it) and matches with that
 * 0; a component "", "." or ".." makes it non-canonical. An abstract name is
 * every byte of the address: one holding a 0 byte past its first matches
 * only up to it, so never an exact entry.
 */
static __always_inline int unix_name(struct bpf_sock_addr *ctx, struct unix_scan *sc)
{
	struct bpf_sock_addr_kern *sa = bpf_cast_to_kern_ctx(ctx);
	__u32 alen = sa->uaddrlen, len;

	if (alen <= 2)
		return -1;	/* unnamed (autobind): nothing to judge */
	sc->len = alen - 2 > BH_UNIX_PATH_MAX ? BH_UNIX_PATH_MAX : alen - 2;
	if (bpf_probe_read_kernel(sc->k.name, BH_UNIX_PATH_MAX, (char *)sa->uaddr + 2))
		return -1;
	sc->abstract = sc->k.name[0] == 0;
	sc->match = sc->len + 1;
	bpf_loop(BH_UNIX_PATH_MAX - 1, unix_scan_byte, sc, 0);	/* bytes 1 .. 107 */
	sc->bad |= sc->clen == sc->dots && sc->dots && sc->dots <= 2;	/* a trailing "." or ".." */
	sc->noncanon = !sc->abstract && sc->bad;
	len = sc->len;
	if (len < BH_UNIX_NAME_LEN)
		sc->k.name[len] = 0;	/* the terminator slot */
	return 0;
}

static __always_inline void unix_count(__u32 partner, __u8 verdict, int lost)
{
	struct bh_unix_counts *c = bpf_map_lookup_elem(&bh_unix_cnt, &partner);

	if (!c)
		return;
	if (verdict < BH_VERDICT__MAX)
		c->verdicts[verdict]++;
	if (!lost)
		return;
	c->ring_full++;
	partner = 0;	/* and the total */
	c = bpf_map_lookup_elem(&bh_unix_cnt, &partner);
	if (c)
		c->ring_full++;
}

static __always_inline void unix_report(struct bpf_sock_addr *ctx, const struct unix_scan *x,
					__u32 partner, __u32 grant, __u8 hook, __u8 verdict,
					__u8 reason)
{
	struct bh_unixev *e = bpf_ringbuf_reserve(&bh_unixev, sizeof(*e), 0);
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	unix_count(partner, verdict, !e);
	if (!e)
		return;
	e->ts_boot_ns = bpf_ktime_get_boot_ns();
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->partner = partner;
	e->grant = grant;
	e->pid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->name_len = x->len;
	e->hook = hook;
	e->verdict = verdict;
	e->reason = reason;
	e->flags = (x->abstract ? BH_UNIXEV_ABSTRACT : 0) |
		   (ctx->type == SOCK_DGRAM_ ? BH_UNIXEV_DGRAM : 0) |
		   (ctx->type == SOCK_SEQPACKET_ ? BH_UNIXEV_SEQPACKET : 0);
	__builtin_memset(e->pad, 0, sizeof(e->pad));
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	__builtin_memcpy(e->name, x->k.name, sizeof(e->name));
	bpf_ringbuf_submit(e, 0);
}

static __always_inline int unix_judge(struct bpf_sock_addr *ctx, __u8 hook)
{
	struct unix_scan sc = {}, *x = &sc;
	struct bh_unix_val *v;
	__u32 zero = 0, partner, grant = 0;
	__u8 mode, verdict, reason;
	void *trie;

	partner = unix_partner();
	if (!partner)
		return 1;
	trie = bpf_map_lookup_elem(&bh_unix_pol, &zero);
	if (!trie || unix_name(ctx, x))
		return 1;
	x->k.prefixlen = 32;
	x->k.partner = bpf_htonl(partner);
	v = bpf_map_lookup_elem(trie, &x->k);	/* the partner's default entry */
	if (!v || v->mode == BH_UNIX_OFF)
		return 1;
	mode = v->mode;
	x->k.prefixlen = 32 + 8 * (x->match & 0xff);
	x->k.partner = bpf_htonl(BH_PARTNER_NEVER);
	v = bpf_map_lookup_elem(trie, &x->k);
	if (v && (v->flags & BH_UNIXF_NEVER)) {
		reason = BH_REASON_NEVER;
		verdict = BH_VERDICT_DENY;
		goto out;
	}
	x->k.partner = bpf_htonl(partner);
	v = x->noncanon ? NULL : bpf_map_lookup_elem(trie, &x->k);
	if (v && (v->flags & BH_UNIXF_GRANT)) {
		grant = v->grant;
		reason = BH_REASON_GRANTED;
		verdict = BH_VERDICT_ALLOW;
	} else {
		reason = BH_REASON_NO_GRANT;
		verdict = mode == BH_UNIX_ENFORCE ? BH_VERDICT_DENY : BH_VERDICT_AUDIT;
	}
out:
	unix_report(ctx, x, partner, grant, hook, verdict, reason);
	return verdict == BH_VERDICT_DENY ? EPERM_RET : 1;
}

SEC("cgroup/connect_unix")
int bh_unix_connect(struct bpf_sock_addr *ctx)
{
	return unix_judge(ctx, BH_HOOK_CONNECT);
}

SEC("cgroup/sendmsg_unix")
int bh_unix_sendmsg(struct bpf_sock_addr *ctx)
{
	return unix_judge(ctx, BH_HOOK_SENDMSG);
}
