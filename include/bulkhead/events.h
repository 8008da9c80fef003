/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Kernel -> userspace event records (one BPF ring buffer, bh_events) and the
 * maps that aggregate floods and flows. Fixed-width types, explicit padding.
 */
#ifndef BULKHEAD_EVENTS_H
#define BULKHEAD_EVENTS_H

#include <bulkhead/bulkhead.h>

#define BH_TASK_COMM_LEN 16
#define BH_FLOOD_WINDOW_NS 1000000000ull	/* deny aggregation window: 1 s */
#define BH_MAX_FLOOD_KEYS 65536
#define BH_MAX_FLOWS 65536
#define BH_MAX_SCAN_KEYS 2048	/* (partner, host) denial windows at once */
#define BH_SCAN_PORT_WORDS 1024	/* 65,536 port bits */
/* Detail budget: new (partner, dst, dport, proto, reason) keys, that is
 * events on the ring, a partner may open per flood window. Beyond it its
 * denials are only counted per host (bh_scan), so one partner's flood
 * cannot take the ring or the flood map from the others. */
#define BH_PARTNER_EVENTS_PER_WINDOW 1000

enum bh_event_type {
	BH_EV_DECISION = 1,	/* a connect/send/packet decision (hook says which) */
	BH_EV_FLOW_NEW = 2,	/* first packet of an allowed (partner, dst, dport, proto) */
};

enum bh_event_flags {
	BH_EVF_TASK = 1 << 0,	/* pid/tgid/uid/comm are the current task's */
	BH_EVF_V6   = 1 << 1,	/* the socket is AF_INET6 (addresses may be v4-mapped) */
};

struct bh_event {
	__u64 ts_boot_ns;	/* bpf_ktime_get_boot_ns() */
	__u64 cgroup_id;	/* socket's (or task's) cgroup v2 id */
	__u64 cookie;		/* socket cookie; 0 if none */
	__u64 count;		/* attempts this record stands for (1 unless aggregated) */
	__u32 partner;
	__u32 grant;
	__u32 pid;		/* tgid (process id) */
	__u32 tid;
	__u32 uid;
	__u16 sport;		/* host order */
	__u16 dport;		/* host order */
	__u8  type;		/* enum bh_event_type */
	__u8  hook;		/* enum bh_hook */
	__u8  verdict;		/* enum bh_verdict */
	__u8  reason;		/* enum bh_reason */
	__u8  proto;		/* enum bh_proto */
	__u8  flags;		/* enum bh_event_flags */
	__u8  pad[2];
	__u8  saddr[16];	/* IPv6 or IPv4-mapped; zero when unknown */
	__u8  daddr[16];
	char  comm[BH_TASK_COMM_LEN];	/* raw kernel bytes: sanitise before output */
};

/* Flood aggregation: the first deny of a key in a window is an event, the
 * rest only bump count here; userspace flushes windows that have closed. */
struct bh_flood_key {
	__u64 window;		/* ts_boot_ns / BH_FLOOD_WINDOW_NS */
	__u32 partner;
	__u16 dport;
	__u8  proto;
	__u8  reason;
	__u8  daddr[16];
};

struct bh_flood_val {
	__u64 suppressed;	/* attempts not sent as events */
	__u64 last_ts_boot_ns;
	__u32 pid;		/* reserved (0): the window's first event names the process */
	__u32 uid;
	__u64 cgroup_id;
	__u8  verdict;
	__u8  hook;
	__u8  pad[6];
	char  comm[BH_TASK_COMM_LEN];
};

/* Scan aggregation: every denial, per (partner, host) and window, with the
 * set of its ports; userspace counts distinct ports per host and distinct
 * hosts per port from them (the `scan` alert). `folded` are the attempts of
 * the window that have no event and no flood key (the partner was over its
 * detail budget): the host's aggregated line reports them. */
struct bh_scan_key {
	__u64 window;		/* ts_boot_ns / BH_FLOOD_WINDOW_NS */
	__u32 partner;
	__u8  proto;
	__u8  reason;
	__u8  pad[2];
	__u8  daddr[16];
};

struct bh_scan_val {
	__u64 attempts;		/* every denial of the key in the window */
	__u64 folded;		/* of those, the ones in no event or flood key */
	__u64 last_ts_boot_ns;
	__u32 distinct;		/* bits set in ports */
	__u8  verdict;		/* of the window's first denial */
	__u8  hook;
	__u8  pad[2];
	__u64 ports[BH_SCAN_PORT_WORDS];	/* bit p: port p was tried */
};

/* bh_budget (array by partner id): the partner's detail budget in use. */
struct bh_budget {
	__u64 window;
	__u64 used;		/* new flood keys opened in window */
};

/* bh_plost (per-CPU array by partner id): what one partner lost, reported
 * in its own file (userspace keeps what it reported in bh_plost_rep). */
struct bh_plost {
	__u64 ring_full;	/* its events not reserved (counted in their key) */
	__u64 unfolded;		/* over budget with bh_scan full: only in this count */
	__u64 scan_full;	/* denials missing from scan counting (bh_scan full) */
	__u64 over_budget;	/* attempts folded per host (not a loss: counted) */
};

/* Allowed flows: first packet emits BH_EV_FLOW_NEW, bytes/packets both ways. */
struct bh_flow_key {
	__u32 partner;
	__u16 dport;		/* remote port */
	__u8  proto;
	__u8  pad;
	__u8  daddr[16];	/* remote address */
};

struct bh_flow_val {
	__u64 first_ts_boot_ns;
	__u64 last_ts_boot_ns;	/* creation (the daemon stamps summaries itself) */
	__u64 tx_bytes, tx_packets;
	__u64 rx_bytes, rx_packets;
	__u32 grant;
	__u32 pad;
};

/* bh_lost (per-CPU array, index 0): events submitted and events that could
 * not be reserved. */
struct bh_lost {
	__u64 emitted;		/* records submitted to the ring */
	__u64 ring_full;	/* ring buffer reservation failed */
	__u64 flood_full;	/* flood map full: event sent un-aggregated or lost */
	__u64 uncounted;	/* denies with the flood map AND the ring full: in no
				   event's count (still in bh_counters) */
	__u64 flow_full;	/* flow table full: allowed traffic (a packet, or a
				   socket's folded counts) in no flow summary */
};

/*
 * What the daemons of a pin directory have reported so far, pinned so that a
 * restarted daemon reports only what is new (userspace only).
 * bh_reported[0]: the bh_lost totals already written as `loss` events.
 * bh_flowrep: per flow, the counters as of its last `flow` summary.
 */
struct bh_reported {
	struct bh_lost lost;
	__u64 lifecycle_lost;	/* sum of bh_cgpaths ev_lost already reported (bind.h) */
	__u64 unix_lost;	/* bh_unix_cnt[0].ring_full already reported (unix.h) */
	__u64 reserved[2];
};

struct bh_flow_rep {
	__u64 tx_bytes, tx_packets;
	__u64 rx_bytes, rx_packets;
};

#endif /* BULKHEAD_EVENTS_H */
