#!/usr/bin/env bash
# `make bench`: bulkhead's overhead and scale against no enforcement and
# nftables, measured side by side in one run. Root only; touches nothing but
# what it creates (two network namespaces joined by a veth, a cgroup subtree,
# a private bpffs pin dir, nft tables inside its own namespace) and removes
# all of it on exit, also on failure or Ctrl-C.
#
# Every comparison is interleaved: each round runs every configuration once
# (the order rotates from round to round), and the summary reports medians and
# the ratio of each median to the baseline's median from the same run.
#
#   bench/run.sh [--quick] [--only "SECTIONS"] [--update-docs]
#
# Sections: connect throughput scale hooks revoke events trace soak scan (default: all).
# `--only conncost` runs the per-connection part of hooks alone.
# `--only trace` runs the `bulkhead trace --summary` section alone.
# --quick: a short validation run (1 s samples, scale up to 100k).
# --update-docs: after the run, put results.md into
#   docs/benchmarks.md between its "results" markers.
#
# Knobs (environment): BENCH_ROUNDS (5), BENCH_CONNECT_SECS (4),
# BENCH_TPUT_SECS (3), BENCH_SCALE_SIZES ("1000 100000 1000000"),
# BENCH_SCALE_SECS (3), BENCH_EVENT_SECS (4), BENCH_HOOK_SECS (2),
# BENCH_HOOK_SIZES ("1 100000 1000000": grant prefixes of the per-connection cost),
# BENCH_REVOKE_SIZES ("1 100000 1000000": grant prefixes of the revoke latency),
# BENCH_TRACE_SIZES ("100 1024": MiB of generated log), BENCH_TRACE_ROUNDS (3),
# BENCH_SOAK_SECS (300; the issue's soak is 3600), BENCH_SOAK_RATE (10000
# connections/s), BENCH_SOAK_FLOWS (100000 distinct flows),
# BENCH_PIN (1: client on CPU 0, servers and daemon on CPU 1), BENCH_OUT
# (build/bench: where the outputs and the compiled bench tools go).
#
# Output: BENCH_OUT/results.md, results.json, raw.tsv (one line per sample:
# section case config round metric value), chart.svg (bench/chart.py; with
# --update-docs also docs/benchmarks.svg).

set -uo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$SRC/build
OUT=${BENCH_OUT:-$BUILD/bench}
case $OUT in /*) ;; *) OUT=$PWD/$OUT ;; esac
BULKHEAD=${BULKHEAD:-$BUILD/bulkhead}
ONLY="connect throughput scale hooks revoke events trace soak scan"
QUICK=0
UPDATE_DOCS=0

while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 ;;
	--only) ONLY=$2; shift ;;
	--update-docs) UPDATE_DOCS=1 ;;
	-h|--help) sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done

if [ "$QUICK" = 1 ]; then
	: "${BENCH_CONNECT_SECS:=1}" "${BENCH_TPUT_SECS:=1}" "${BENCH_SCALE_SECS:=1}"
	: "${BENCH_EVENT_SECS:=2}" "${BENCH_HOOK_SECS:=1}" "${BENCH_SCALE_SIZES:=1000 100000}"
	: "${BENCH_HOOK_SIZES:=1 100000}" "${BENCH_REVOKE_SIZES:=1 100000}"
fi
ROUNDS=${BENCH_ROUNDS:-5}
CONNECT_SECS=${BENCH_CONNECT_SECS:-4}
TPUT_SECS=${BENCH_TPUT_SECS:-3}
SCALE_SIZES=${BENCH_SCALE_SIZES:-1000 100000 1000000}
SCALE_SECS=${BENCH_SCALE_SECS:-3}
EVENT_SECS=${BENCH_EVENT_SECS:-4}
HOOK_SECS=${BENCH_HOOK_SECS:-2}
HOOK_SIZES=${BENCH_HOOK_SIZES:-1 100000 1000000}
REVOKE_SIZES=${BENCH_REVOKE_SIZES:-1 100000 1000000}
PIN=${BENCH_PIN:-1}
TRACE_SIZES=${BENCH_TRACE_SIZES:-100 1024}
TRACE_ROUNDS=${BENCH_TRACE_ROUNDS:-3}
SOAK_SECS=${BENCH_SOAK_SECS:-300}
SOAK_RATE=${BENCH_SOAK_RATE:-10000}
SOAK_FLOWS=${BENCH_SOAK_FLOWS:-100000}

# ------------------------------------------------------------------ state

TAG=bhb$$
NS_C=$TAG-c			# client namespace (also the loopback case)
NS_S=$TAG-s			# server namespace, behind the veth
PINDIR=/sys/fs/bpf/bh-bench-$$
W=""				# temp dir
CG2=""				# cgroup2 mount
CGB=""				# $CG2/$TAG: everything we create lives below
CG_REL=$TAG			# the same, relative to the cgroup2 mount
NFT_CGPREFIX=""			# how nft names a cgroup path below /sys/fs/cgroup
NFT_OK=0
MOUNTED_BPFFS=0
STATS_SAVED=""
DAEMON_PID=""
DAEMON_FD=""
SERVER_PIDS=""
T_START=$EPOCHREALTIME

C4=10.231.0.1 S4=10.231.0.2 C6=fd00:231::1 S6=fd00:231::2
DENY_BASE=10.99.0.0		# denygen's targets: no route from the client namespace
P_CRR=5001 P_UDP=5002 P_IPERF=5201
P_CRR_FREE=5003			# a CRR server on no particular CPU (the unpinned case)

# ------------------------------------------------------------------ output

elapsed() {
	local now=${EPOCHREALTIME/./} start=${T_START/./}
	local s=$(( (10#$now - 10#$start) / 1000000 ))
	printf '%02d:%02d' $((s / 60)) $((s % 60))
}
say() { printf '[%s] %s\n' "$(elapsed)" "$*"; }
warn() { printf '[%s] warning: %s\n' "$(elapsed)" "$*" >&2; }
die() { printf '[%s] bench: %s\n' "$(elapsed)" "$*" >&2; exit 1; }

# rec SECTION CASE CONFIG ROUND METRIC VALUE: one sample into raw.tsv.
rec() {
	[ -n "$6" ] || { warn "no value for $*"; return 0; }
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$OUT/raw.tsv"
}

# Microseconds since the epoch; seconds between two of them.
now_us() { local t=${EPOCHREALTIME/./}; echo $((10#$t)); }
secs_between() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", (b - a) / 1e6 }'; }

# ---------------------------------------------------------------- cleanup

pid_alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

kill_wait() {	# kill_wait PID...: TERM, then KILL after 3 s
	local p i
	for p in "$@"; do kill -TERM "$p" 2>/dev/null; done
	for p in "$@"; do
		for i in $(seq 60); do pid_alive "$p" || break; sleep 0.05; done
		pid_alive "$p" && kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	return 0
}

cg_pids() { [ -d "$1" ] && find "$1" -name cgroup.procs -exec cat {} + 2>/dev/null; }

cleanup() {
	local st=$? ns p
	trap '' INT TERM HUP
	set +e
	daemon_stop
	# shellcheck disable=SC2086
	[ -z "$SERVER_PIDS" ] || kill_wait $SERVER_PIDS
	[ -n "$STATS_SAVED" ] && sysctl -qw kernel.bpf_stats_enabled="$STATS_SAVED"
	if [ -d "$PINDIR" ]; then
		"$BULKHEAD" down --pin-dir "$PINDIR" >/dev/null 2>&1
		rm -rf "$PINDIR"
	fi
	for ns in "$NS_C" "$NS_S"; do
		[ -e "/run/netns/$ns" ] || continue
		nsenter --net="/run/netns/$ns" nft list tables 2>/dev/null | while read -r _ fam name; do
			nsenter --net="/run/netns/$ns" nft delete table "$fam" "$name"
		done
		# shellcheck disable=SC2046
		kill_wait $(ip netns pids "$ns" 2>/dev/null)
		ip netns del "$ns" 2>/dev/null || warn "cannot delete netns $ns"
	done
	if [ -n "$CGB" ] && [ -d "$CGB" ]; then
		# shellcheck disable=SC2046
		kill_wait $(cg_pids "$CGB")
		for p in $(cg_pids "$CGB"); do echo "$p" >"$CG2/cgroup.procs"; done 2>/dev/null
		find "$CGB" -depth -type d -exec rmdir {} + 2>/dev/null
		[ ! -d "$CGB" ] || warn "could not remove cgroup $CGB"
	fi
	if [ "$MOUNTED_BPFFS" = 1 ] &&
	   [ -z "$(find /sys/fs/bpf -mindepth 1 -maxdepth 1 ! -name '*.debug' 2>/dev/null)" ]; then
		umount /sys/fs/bpf 2>/dev/null
	fi
	[ -n "$W" ] && [ "${BENCH_KEEP_TMP:-0}" != 1 ] && rm -rf "$W"
	[ "${BENCH_KEEP_TMP:-0}" = 1 ] && [ -n "$W" ] && echo "bench: temp files kept in $W"
	exit "$st"
}
trap cleanup EXIT
trap 'echo; say "interrupted, cleaning up"; exit 130' INT TERM HUP
trap : PIPE

# ------------------------------------------------------------------ setup

[ "$(id -u)" = 0 ] || die "run as root (it creates namespaces, cgroups and BPF pins)"
[ -x "$BULKHEAD" ] || die "$BULKHEAD not built (make)"
"$SRC/tools/deps.sh" iperf3 nftables jq bpftool iproute2 util-linux procps gcc ||
	die "cannot install the packages the benchmark needs"

mkdir -p "$OUT"
: >"$OUT/raw.tsv"
W=$(mktemp -d /tmp/bh-bench.XXXXXX) || die "mktemp"

CC=${CC:-cc}
for t in crr udpflood denygen genpolicy tracegen churn; do
	"$CC" -O2 -Wall -Wextra -Werror -o "$OUT/$t" "$SRC/bench/$t.c" -lpthread -lz ||
		die "cannot build bench/$t.c"
done

CG2=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
[ -n "$CG2" ] || die "no cgroup2 mount in /proc/self/mountinfo"
CGB=$CG2/$TAG
mkdir -p "$CGB/partners.slice/acme" "$CGB/outside" "$CGB/servers" "$CGB/daemon" ||
	die "cannot create cgroups under $CGB"
# nft resolves `socket cgroupv2` paths below /sys/fs/cgroup
case $CG2/ in
/sys/fs/cgroup/*) NFT_CGPREFIX=${CG2#/sys/fs/cgroup}; NFT_CGPREFIX=${NFT_CGPREFIX#/}
		  NFT_CGPREFIX=${NFT_CGPREFIX:+$NFT_CGPREFIX/}; NFT_OK=1 ;;
*) warn "cgroup2 is mounted at $CG2, not below /sys/fs/cgroup: nft cannot name it; nftables configurations are skipped" ;;
esac
NFT_ACME="${NFT_CGPREFIX}$CG_REL/partners.slice/acme"
NFT_LEVEL=3

if [ "$(stat -f -c %T /sys/fs/bpf 2>/dev/null)" != bpf_fs ]; then
	{ mkdir -p /sys/fs/bpf && mount -t bpf bpf /sys/fs/bpf; } || die "cannot mount bpffs"
	MOUNTED_BPFFS=1
fi

# in_ns NS CMD...: run in a network namespace without `ip netns exec` (which
# remounts /sys and hides cgroupfs and bpffs).
in_ns() { local ns=$1; shift; nsenter --net="/run/netns/$ns" "$@"; }

# run_in NS CGROUP CPU CMD...: CMD in namespace NS, as a member of cgroup
# $CGB/CGROUP, on CPU when pinning ("-": anywhere).
run_in() {
	local ns=$1 cg=$2 cpu=$3
	shift 3
	if [ "$PIN" = 1 ] && [ "$cpu" != - ]; then set -- taskset -c "$cpu" "$@"; fi
	# shellcheck disable=SC2016
	nsenter --net="/run/netns/$ns" sh -c 'echo $$ >"$1/cgroup.procs" || exit 125; shift; exec "$@"' \
		bench "$CGB/$cg" "$@"
}
# spawn_in NS CGROUP CPU CMD...: the same in the background; SPAWNED is the
# pid of CMD itself (every step execs), so it can be signalled.
spawn_in() {
	exec_run_in "$@" &
	SPAWNED=$!
}
exec_run_in() {
	local ns=$1 cg=$2 cpu=$3
	shift 3
	if [ "$PIN" = 1 ] && [ "$cpu" != - ]; then set -- taskset -c "$cpu" "$@"; fi
	# shellcheck disable=SC2016
	exec nsenter --net="/run/netns/$ns" sh -c 'echo $$ >"$1/cgroup.procs" || exit 125; shift; exec "$@"' \
		bench "$CGB/$cg" "$@"
}

NCPU=$(nproc)
# Placement (BENCH_PIN=1): in this kind of VM a cross-CPU wakeup costs more
# than the work of a small request, so the request/response pairs (CRR,
# iperf3) run client and server on one CPU, as the scheduler's wake-affine
# placement would; the UDP receiver and the daemon get the other CPU.
CPU_CLIENT=${BENCH_CPU_CLIENT:-0} CPU_SERVER=${BENCH_CPU_SERVER:-0}
CPU_UDP_RECV=${BENCH_CPU_UDP_RECV:-1} CPU_DAEMON=${BENCH_CPU_DAEMON:-1}
if [ "$NCPU" -lt 2 ]; then CPU_UDP_RECV=0 CPU_DAEMON=0; fi

say "bulkhead benchmark: rounds $ROUNDS; samples: connect ${CONNECT_SECS}s, throughput ${TPUT_SECS}s, scale ${SCALE_SECS}s; sizes: $SCALE_SIZES; sections: $ONLY"
est=0
for s in $ONLY; do
	case $s in
	connect) est=$((est + ROUNDS * 15 * (CONNECT_SECS + 1))) ;;
	throughput) est=$((est + ROUNDS * 4 * (4 * TPUT_SECS + 3))) ;;
	scale) for n in $SCALE_SIZES; do est=$((est + 3 * (1 + n / 200000) + (1 + n / 80000) + ROUNDS * (3 * SCALE_SECS + 3 + n / 125000))); done ;;
	hooks) est=$((est + 7 * (HOOK_SECS + 1)))
	       for n in $HOOK_SIZES; do est=$((est + HOOK_SECS + 2 + n / 250000)); done ;;
	revoke) for n in $REVOKE_SIZES; do est=$((est + ROUNDS + 1 + n / 200000)); done ;;
	events) est=$((est + 18 * (EVENT_SECS + 1))) ;;
	trace) for n in $TRACE_SIZES; do est=$((est + n / 40 + TRACE_ROUNDS * (1 + n / 200))); done ;;
	esac
done
say "estimated duration on an idle machine: about $((est / 60)) min $((est % 60)) s"
say "setting up namespaces $NS_C, $NS_S and cgroup $CGB"
ip netns add "$NS_C" || die "ip netns add"
ip netns add "$NS_S" || die "ip netns add"
ip link add "${TAG}c" netns "$NS_C" type veth peer name "${TAG}s" netns "$NS_S" || die "veth"
in_ns "$NS_C" sh -ec "
	ip link set lo up; ip link set ${TAG}c up
	ip addr add $C4/24 dev ${TAG}c; ip -6 addr add $C6/64 dev ${TAG}c nodad
	sysctl -qw net.ipv4.tcp_tw_reuse=1 net.ipv4.ip_local_port_range='1024 65535' \
		net.core.somaxconn=4096 net.ipv4.tcp_max_syn_backlog=4096" || die "client namespace setup"
in_ns "$NS_S" sh -ec "
	ip link set lo up; ip link set ${TAG}s up
	ip addr add $S4/24 dev ${TAG}s; ip -6 addr add $S6/64 dev ${TAG}s nodad
	sysctl -qw net.core.somaxconn=4096 net.ipv4.tcp_max_syn_backlog=4096" || die "server namespace setup"

# Long-running servers: CRR and iperf3, behind the veth and on the client's lo.
start_server() {	# NS CMD...
	local ns=$1
	shift
	spawn_in "$ns" servers "$CPU_SERVER" "$@" </dev/null >>"$W/servers.log" 2>&1
	SERVER_PIDS="$SERVER_PIDS $SPAWNED"
}
listening() { [ -n "$(in_ns "$1" ss -Hltn "sport = :$2")" ]; }
for ns in "$NS_S" "$NS_C"; do
	start_server "$ns" "$OUT/crr" server -t 2 "$P_CRR"
	start_server "$ns" iperf3 -s -p "$P_IPERF"
done
spawn_in "$NS_C" servers - "$OUT/crr" server -t 2 "$P_CRR_FREE" </dev/null >>"$W/servers.log" 2>&1
SERVER_PIDS="$SERVER_PIDS $SPAWNED"
for i in $(seq 100); do
	listening "$NS_C" "$P_CRR_FREE" &&
	listening "$NS_S" "$P_CRR" && listening "$NS_C" "$P_CRR" &&
		listening "$NS_S" "$P_IPERF" && listening "$NS_C" "$P_IPERF" && break
	sleep 0.05
done
if ! { listening "$NS_S" "$P_CRR" && listening "$NS_C" "$P_IPERF"; }; then
	die "servers did not start: $(tail -n 5 "$W/servers.log")"
fi

# ------------------------------------------------------------------ bulkhead

daemon_stop() {
	if [ -n "$DAEMON_PID" ]; then
		kill_wait "$DAEMON_PID"
		DAEMON_PID=""
	fi
	if [ -n "$DAEMON_FD" ]; then
		exec {DAEMON_FD}<&-
		DAEMON_FD=""
	fi
	if [ -d "$PINDIR" ]; then
		"$BULKHEAD" down --pin-dir "$PINDIR" >>"$W/daemon.err" 2>&1 || warn "bulkhead down failed"
	fi
}

# daemon_start POLICY [RUN ARGS...]: run bulkhead (in its own cgroup, on the
# server CPU) and wait for `ready`; APPLY_SECS is the time from start to ready.
daemon_start() {
	local policy=$1 line="" t0 t1 pre=()
	shift
	[ "$PIN" = 1 ] && pre=(taskset -c "$CPU_DAEMON")
	rm -rf "$W/logs"
	t0=$(now_us)
	# shellcheck disable=SC2016
	exec {DAEMON_FD}< <(exec sh -c 'echo $$ >"$1/cgroup.procs" || exit 125; shift; exec "$@"' \
		bench "$CGB/daemon" "${pre[@]}" "$BULKHEAD" run --policy "$policy" --pin-dir "$PINDIR" \
		--control "$W/control.sock" --log-dir "$W/logs" --state-dir "$W/state" "$@" \
		2>>"$W/daemon.err")
	DAEMON_PID=$!
	while IFS= read -r -t 300 -u "$DAEMON_FD" line; do
		[ "$line" = ready ] && break
	done
	t1=$(now_us)
	if [ "$line" != ready ]; then
		tail -n 5 "$W/daemon.err" >&2
		die "bulkhead run did not become ready"
	fi
	APPLY_SECS=$(secs_between "$t0" "$t1")
}

# bulkhead status --json of our pin dir
bh_status() { "$BULKHEAD" status --json --pin-dir "$PINDIR" 2>/dev/null; }

# The id of the policy trie the daemon installed in bh_policy[0].
trie_id() {
	local v
	v=$(bpftool map lookup pinned "$PINDIR/bh_policy" key 0 0 0 0 -j 2>/dev/null |
	    jq -r '.value | reverse | map(ltrimstr("0x")) | join("")') || return 1
	[ -n "$v" ] && echo $((16#$v))
}
map_memlock() { bpftool map show "$@" -j 2>/dev/null | jq -r '.bytes_memlock // empty'; }

# Kernel memory of every bulkhead map (pinned maps plus the trie), and of the trie.
record_map_memory() {	# SECTION CASE ROUND
	local total=0 m b id
	for m in "$PINDIR"/bh_*; do
		b=$(map_memlock pinned "$m")
		total=$((total + ${b:-0}))
	done
	id=$(trie_id)
	b=$(map_memlock id "$id")
	rec "$1" "$2" bulkhead "$3" trie_bytes "$b"
	rec "$1" "$2" bulkhead "$3" maps_bytes "$((total + ${b:-0}))"
}

# ------------------------------------------------------------------ nft

# The nft rule: sockets of the partner cgroup go to the `partner` chain. The
# sets and that chain stay loaded; this base chain is hooked for an nft
# configuration and removed after it, so other configurations run no nft code.
nft_hook() {
	in_ns "$NS_C" nft -f - <<EOF
table inet $1 {
  chain output {
    type filter hook output priority filter; policy accept;
    socket cgroupv2 level $NFT_LEVEL "$NFT_ACME" jump partner
  }
}
EOF
}
nft_unhook() { in_ns "$NS_C" nft delete chain inet "$1" output; }

# ------------------------------------------------------------- workloads

num() { awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k) { print $(i + 1); exit } }'; }

# crr_run NS CGROUP ADDR SECS: connections per second
crr_run() {
	run_in "$1" "$2" "$CPU_CLIENT" "$OUT/crr" client -d "$4" "$3" "$P_CRR" 2>>"$W/clients.err" | num rate
}

# iperf_run NS CGROUP ADDR SECS: TCP stream Gbit/s (receiver side)
iperf_run() {
	run_in "$1" "$2" "$CPU_CLIENT" iperf3 -c "$3" -p "$P_IPERF" -t "$4" -J 2>>"$W/clients.err" |
		jq -r '.end.sum_received.bits_per_second / 1e9 // empty' 2>>"$W/clients.err"
}

# udp_run SERVER_NS CLIENT_NS CGROUP ADDR SECS: "sent_pps recv_pps"
udp_run() {
	local rpid sent recv i
	spawn_in "$1" servers "$CPU_UDP_RECV" "$OUT/udpflood" recv "$P_UDP" >"$W/udp.recv" 2>>"$W/clients.err"
	rpid=$SPAWNED
	for i in $(seq 100); do grep -q listening "$W/udp.recv" && break; sleep 0.02; done
	sent=$(run_in "$2" "$3" "$CPU_CLIENT" "$OUT/udpflood" send -d "$5" -s 64 "$4" "$P_UDP" 2>>"$W/clients.err" | num rate)
	sleep 0.1
	kill -INT "$rpid" 2>/dev/null
	wait "$rpid" 2>/dev/null
	recv=$(num rate <"$W/udp.recv")
	echo "${sent:-} ${recv:-}"
}

# ----------------------------------------------------------- the policies

# Section 1 and 2: the partner may reach the bench servers (tcp and udp
# 5000-5999) behind the veth and on loopback; the never list and two other
# grants make the trie more than one entry.
cat >"$W/policy.json" <<EOF
{
  "version": 1,
  "partner_root": "$CG_REL/partners.slice",
  "never": ["169.254.169.254/32", "fd00:ec2::254/128"],
  "partners": {
    "acme": {
      "cgroups": ["$CG_REL/partners.slice/acme"],
      "allow": [
        {"to": "$S4", "proto": "tcp", "ports": ["5000-5999"], "purpose": "bench servers"},
        {"to": "$S4", "proto": "udp", "ports": ["5000-5999"]},
        {"to": "$S6", "proto": "tcp", "ports": ["5000-5999"]},
        {"to": "$S6", "proto": "udp", "ports": ["5000-5999"]},
        {"to": "127.0.0.1", "proto": "tcp", "ports": ["5000-5999"]},
        {"to": "127.0.0.1", "proto": "udp", "ports": ["5000-5999"]},
        {"to": "10.20.0.0/16", "proto": "tcp", "ports": ["443"]},
        {"to": "2001:db8:5::/48", "proto": "udp", "ports": ["53"]}
      ]
    }
  }
}
EOF
"$BULKHEAD" check "$W/policy.json" >/dev/null || die "the benchmark policy does not check"

# The same policy in nftables: interval sets and a per-partner chain.
NFT_T=bhbench
cat >"$W/policy.nft" <<EOF
table inet $NFT_T {
  set g4 { type ipv4_addr; flags interval; auto-merge; elements = { $S4/32, 127.0.0.1/32 } }
  set g6 { type ipv6_addr; flags interval; auto-merge; elements = { $S6/128 } }
  set never4 { type ipv4_addr; flags interval; elements = { 169.254.169.254/32 } }
  set never6 { type ipv6_addr; flags interval; elements = { fd00:ec2::254/128 } }
  chain partner {
    ip daddr @never4 drop
    ip6 daddr @never6 drop
    meta l4proto { tcp, udp } th dport 5000-5999 ip daddr @g4 accept
    meta l4proto { tcp, udp } th dport 5000-5999 ip6 daddr @g6 accept
    ip daddr 10.20.0.0/16 tcp dport 443 accept
    ip6 daddr 2001:db8:5::/48 udp dport 53 accept
    drop
  }
}
EOF
if [ "$NFT_OK" = 1 ] && ! in_ns "$NS_C" nft -f "$W/policy.nft" 2>"$W/nft.err"; then
	warn "nft cannot load the policy, nftables configurations are skipped: $(head -c 300 "$W/nft.err")"
	NFT_OK=0
fi

# ------------------------------------------------------------------ rounds

# Config units of sections 1 and 2. A unit is set up once per round and runs
# its configurations back to back: "none", "bulkhead" (partner, outside),
# "nft" (partner[, outside]). The unit order rotates from round to round.
unit_setup() {
	case $1 in
	bulkhead) daemon_start "$W/policy.json" ;;
	nft) nft_hook "$NFT_T" || die "cannot hook the nft chain" ;;
	esac
}
unit_teardown() {
	case $1 in
	bulkhead) daemon_stop ;;
	nft) nft_unhook "$NFT_T" ;;
	esac
}
unit_configs() {	# UNIT SECTION
	case $1 in
	none) echo none ;;
	bulkhead) echo bh-partner bh-outside ;;
	nft) if [ "$2" = connect ]; then echo nft-partner nft-outside; else echo nft-partner; fi ;;
	esac
}
cfg_cgroup() { case $1 in *-outside) echo outside ;; *) echo partners.slice/acme ;; esac; }

rotate() {	# rotate N WORDS...: the words, starting at the N-th (mod count)
	local n=$1 k
	shift
	k=$(( n % $# ))
	echo "${@:k+1}" "${@:1:k}"
}

units_for_round() {
	local u="none bulkhead"
	[ "$NFT_OK" = 1 ] && u="$u nft"
	# shellcheck disable=SC2086
	rotate "$1" $u
}

# --------------------------------------------------------- 1. connect rate

section_connect() {
	local r u cfg cg v s rv
	say "1. connect rate (TCP_CRR-like, ${CONNECT_SECS}s samples): veth and loopback"
	for r in $(seq "$ROUNDS"); do
		for u in $(units_for_round "$r"); do
			unit_setup "$u"
			for cfg in $(unit_configs "$u" connect); do
				cg=$(cfg_cgroup "$cfg")
				v=$(crr_run "$NS_C" "$cg" "$S4" "$CONNECT_SECS")
				rec connect veth "$cfg" "$r" conn_per_s "$v"
				say "   round $r/$ROUNDS $cfg veth: ${v:-?} conn/s"
				v=$(crr_run "$NS_C" "$cg" 127.0.0.1 "$CONNECT_SECS")
				rec connect loopback "$cfg" "$r" conn_per_s "$v"
				say "   round $r/$ROUNDS $cfg loopback: ${v:-?} conn/s"
				v=$(PIN=0 P_CRR=$P_CRR_FREE crr_run "$NS_C" "$cg" 127.0.0.1 "$CONNECT_SECS")
				rec connect loopback-unpinned "$cfg" "$r" conn_per_s "$v"
				say "   round $r/$ROUNDS $cfg loopback, unpinned: ${v:-?} conn/s"
			done
			unit_teardown "$u"
		done
	done
}

# ---------------------------------------------------------- 2. throughput

section_throughput() {
	local r u cfg cg v s rv
	say "2. throughput (${TPUT_SECS}s samples): iperf3 TCP stream, 64-byte UDP"
	for r in $(seq "$ROUNDS"); do
		for u in $(units_for_round "$r"); do
			unit_setup "$u"
			for cfg in $(unit_configs "$u" throughput); do
				cg=$(cfg_cgroup "$cfg")
				v=$(iperf_run "$NS_C" "$cg" "$S4" "$TPUT_SECS")
				rec throughput tcp-veth "$cfg" "$r" gbit_per_s "$v"
				say "   round $r/$ROUNDS $cfg tcp veth: ${v:-?} Gbit/s"
				v=$(iperf_run "$NS_C" "$cg" 127.0.0.1 "$TPUT_SECS")
				rec throughput tcp-loopback "$cfg" "$r" gbit_per_s "$v"
				say "   round $r/$ROUNDS $cfg tcp loopback: ${v:-?} Gbit/s"
				read -r s rv <<<"$(udp_run "$NS_S" "$NS_C" "$cg" "$S4" "$TPUT_SECS")"
				rec throughput udp64-veth "$cfg" "$r" sent_pps "${s:-}"
				rec throughput udp64-veth "$cfg" "$r" recv_pps "${rv:-}"
				say "   round $r/$ROUNDS $cfg udp64 veth: sent ${s:-?} pps, received ${rv:-?} pps"
				read -r s rv <<<"$(udp_run "$NS_C" "$NS_C" "$cg" 127.0.0.1 "$TPUT_SECS")"
				rec throughput udp64-loopback "$cfg" "$r" sent_pps "${s:-}"
				rec throughput udp64-loopback "$cfg" "$r" recv_pps "${rv:-}"
				say "   round $r/$ROUNDS $cfg udp64 loopback: sent ${s:-?} pps, received ${rv:-?} pps"
			done
			unit_teardown "$u"
		done
	done
}

# --------------------------------------------------------------- 3. scale

meminfo_kb() {	# kernel memory that map and set elements come from (Slab + VmallocUsed + Percpu)
	awk '/^(Slab|VmallocUsed|Percpu):/ { s += $2 } END { print s }' /proc/meminfo
}

section_scale() {
	local n r u v t0 t1 i kb0 kb1 tn runs loaded
	say "3. scale: $SCALE_SIZES grant prefixes (mix of /32 /24 /16 /128 /64)"
	for n in $SCALE_SIZES; do
		tn=bhs$n
		say "   $n: generating the policy and the nft ruleset"
		"$OUT/genpolicy" -n "$n" -s 42 -g "$S4" -g "$S6" -P "443,5000-5999" \
			-j "$W/scale-$n.json" -r "$CG_REL/partners.slice" -c "$CG_REL/partners.slice/acme" \
			-t "$W/scale-$n.nft" -T "$tn" >/dev/null || die "genpolicy $n failed"
		runs=3
		for i in $(seq "$runs"); do
			t0=$(now_us)
			"$BULKHEAD" check "$W/scale-$n.json" >"$W/check.out" 2>&1 || die "bulkhead check of $n grants failed: $(tail -n 3 "$W/check.out")"
			t1=$(now_us)
			v=$(secs_between "$t0" "$t1")
			rec scale "$n" bulkhead "$i" check_s "$v"
			say "   $n: bulkhead check (compile) run $i/$runs: ${v}s"
		done
		loaded=0
		if [ "$NFT_OK" = 1 ]; then
			[ "$n" -le 100000 ] || runs=1
			for i in $(seq "$runs"); do
				kb0=$(meminfo_kb)
				t0=$(now_us)
				if ! timeout 300 nsenter --net="/run/netns/$NS_C" nft -f "$W/scale-$n.nft" 2>"$W/nft.err"; then
					warn "nft could not load $n prefixes within 300 s: $(head -c 300 "$W/nft.err")"
					in_ns "$NS_C" nft delete table inet "$tn" 2>/dev/null
					break
				fi
				t1=$(now_us)
				kb1=$(meminfo_kb)
				v=$(secs_between "$t0" "$t1")
				rec scale "$n" nft "$i" load_s "$v"
				rec scale "$n" nft "$i" kmem_delta_bytes "$(( (kb1 - kb0) * 1024 ))"
				say "   $n: nft -f (load) run $i/$runs: ${v}s, kernel memory +$(( (kb1 - kb0) / 1024 )) MiB (meminfo, approximate)"
				loaded=1
				[ "$i" = "$runs" ] || { in_ns "$NS_C" nft delete table inet "$tn"; loaded=0; }
			done
		fi
		for r in $(seq "$ROUNDS"); do
			u="none bulkhead"
			# (not `nft list`: listing a million elements takes nft ~20 s)
			[ "$loaded" = 1 ] && u="$u nft"
			# shellcheck disable=SC2086
			for u in $(rotate "$r" $u); do
				case $u in
				bulkhead)
					kb0=$(meminfo_kb)
					daemon_start "$W/scale-$n.json"
					kb1=$(meminfo_kb)
					rec scale "$n" bulkhead "$r" apply_s "$APPLY_SECS"
					rec scale "$n" bulkhead "$r" kmem_delta_bytes "$(( (kb1 - kb0) * 1024 ))"
					record_map_memory scale "$n" "$r"
					;;
				nft) nft_hook "$tn" || die "cannot hook the nft chain" ;;
				esac
				v=$(crr_run "$NS_C" partners.slice/acme "$S4" "$SCALE_SECS")
				rec scale "$n" "$u" "$r" conn_per_s "$v"
				case $u in
				bulkhead) daemon_stop
					  say "   $n round $r/$ROUNDS bulkhead: ready after ${APPLY_SECS}s, ${v:-?} conn/s" ;;
				nft) nft_unhook "$tn"
				     say "   $n round $r/$ROUNDS nft: ${v:-?} conn/s" ;;
				*) say "   $n round $r/$ROUNDS none: ${v:-?} conn/s" ;;
				esac
			done
		done
		in_ns "$NS_C" nft delete table inet "$tn" 2>/dev/null
		rm -f "$W/scale-$n.json" "$W/scale-$n.nft"
	done
}

# -------------------------------------------------------- 4. per-hook cost

prog_stats() {	# "name run_cnt run_time_ns" for each of our programs
	local id
	for id in $(bh_status | jq -r '.programs[].prog_id' | sort -u); do
		bpftool prog show id "$id" -j 2>/dev/null |
			jq -r '"\(.name) \(.run_cnt // 0) \(.run_time_ns // 0)"'
	done
}

section_hooks() {
	local w before after name c0 t0 c1 t1 runs ns line rpid
	say "4. per-hook cost (bpf_stats, ${HOOK_SECS}s per workload)"
	STATS_SAVED=$(sysctl -n kernel.bpf_stats_enabled)
	sysctl -qw kernel.bpf_stats_enabled=1 || { warn "cannot enable bpf_stats"; STATS_SAVED=""; return 0; }
	daemon_start "$W/policy.json"
	spawn_in "$NS_S" servers "$CPU_UDP_RECV" "$OUT/udpflood" recv "$P_UDP" >/dev/null 2>&1
	rpid=$SPAWNED
	for w in crr-v4 crr-v6 tcp-stream-v4 udp-connected-v4 udp-sendto-v4 udp-sendto-v6 denied-connect-v4; do
		before=$(prog_stats)
		case $w in
		crr-v4) crr_run "$NS_C" partners.slice/acme "$S4" "$HOOK_SECS" >/dev/null ;;
		crr-v6) crr_run "$NS_C" partners.slice/acme "$S6" "$HOOK_SECS" >/dev/null ;;
		tcp-stream-v4) iperf_run "$NS_C" partners.slice/acme "$S4" "$HOOK_SECS" >/dev/null ;;
		udp-connected-v4) run_in "$NS_C" partners.slice/acme "$CPU_CLIENT" "$OUT/udpflood" send -d "$HOOK_SECS" "$S4" "$P_UDP" >/dev/null 2>>"$W/clients.err" ;;
		udp-sendto-v4) run_in "$NS_C" partners.slice/acme "$CPU_CLIENT" "$OUT/udpflood" send -u -d "$HOOK_SECS" "$S4" "$P_UDP" >/dev/null 2>>"$W/clients.err" ;;
		udp-sendto-v6) run_in "$NS_C" partners.slice/acme "$CPU_CLIENT" "$OUT/udpflood" send -u -d "$HOOK_SECS" "$S6" "$P_UDP" >/dev/null 2>>"$W/clients.err" ;;
		denied-connect-v4) run_in "$NS_C" partners.slice/acme "$CPU_CLIENT" "$OUT/denygen" -d "$HOOK_SECS" "$DENY_BASE" >/dev/null 2>>"$W/clients.err" ;;
		esac
		after=$(prog_stats)
		line=""
		while read -r name c1 t1; do
			[ -n "$name" ] || continue
			read -r _ c0 t0 <<<"$(grep "^$name " <<<"$before")"
			runs=$((c1 - ${c0:-0}))
			[ "$runs" -gt 0 ] || continue
			ns=$(awk -v c="$runs" -v t="$((t1 - ${t0:-0}))" 'BEGIN { printf "%.1f", t / c }')
			rec hooks "$w" "$name" 1 runs "$runs"
			rec hooks "$w" "$name" 1 ns_per_run "$ns"
			line="$line ${name#bh_} ${ns}ns"
		done <<<"$after"
		say "   $w:$line"
	done
	kill_wait "$rpid"
	daemon_stop
	sysctl -qw kernel.bpf_stats_enabled="$STATS_SAVED"
	STATS_SAVED=""
	section_conncost
}

# The per-connection part of section 4 alone (`--only conncost`).
section_conncost() {
	local n
	say "4b. BPF time per partner connection at $HOOK_SIZES grants (bpf_stats, ${HOOK_SECS}s each)"
	STATS_SAVED=$(sysctl -n kernel.bpf_stats_enabled)
	sysctl -qw kernel.bpf_stats_enabled=1 || { warn "cannot enable bpf_stats"; STATS_SAVED=""; return 0; }
	for n in $HOOK_SIZES; do conn_cost "$n"; done
	sysctl -qw kernel.bpf_stats_enabled="$STATS_SAVED"
	STATS_SAVED=""
}

# conn_cost N: BPF time per partner connection with N grant prefixes (the
# loopback CRR loop, one client process in the partner cgroup): each
# program's ns per run and runs per connection, and their sum per connection
# (section conncost; case N; config = program or "total").
conn_cost() {
	local n=$1 before after name c0 t0 c1 t1 conns total=0 line=""
	"$OUT/genpolicy" -n "$n" -s 42 -g 127.0.0.1 -P "443,5000-5999" \
		-j "$W/cost-$n.json" -r "$CG_REL/partners.slice" -c "$CG_REL/partners.slice/acme" \
		>/dev/null || die "genpolicy $n failed"
	daemon_start "$W/cost-$n.json"
	before=$(prog_stats)
	conns=$(run_in "$NS_C" partners.slice/acme "$CPU_CLIENT" "$OUT/crr" client -d "$HOOK_SECS" \
		127.0.0.1 "$P_CRR" 2>>"$W/clients.err" | num conns)
	after=$(prog_stats)
	daemon_stop
	rm -f "$W/cost-$n.json"
	[ "${conns:-0}" -gt 0 ] || { warn "conncost $n: no connections"; return 0; }
	while read -r name c1 t1; do
		[ -n "$name" ] || continue
		read -r _ c0 t0 <<<"$(grep "^$name " <<<"$before")"
		[ "$((c1 - ${c0:-0}))" -gt 0 ] || continue
		rec conncost "$n" "$name" 1 ns_per_run "$(calc %.1f "($t1 - ${t0:-0}) / ($c1 - ${c0:-0})")"
		rec conncost "$n" "$name" 1 runs_per_conn "$(calc %.3f "($c1 - ${c0:-0}) / $conns")"
		rec conncost "$n" "$name" 1 ns_per_conn "$(calc %.1f "($t1 - ${t0:-0}) / $conns")"
		total=$((total + t1 - ${t0:-0}))
		line="$line ${name#bh_} $(calc %.0f "($t1 - ${t0:-0}) / $conns")"
	done <<<"$after"
	rec conncost "$n" total 1 ns_per_conn "$(calc %.1f "$total / $conns")"
	say "   $n grants, ns per connection:$line; total $(calc %.0f "$total / $conns") ($conns connections)"
}

# ------------------------------------------------------- 4c. revoke latency

# revoke latency with N grant prefixes in the policy: the wall time of
# `bulkhead revoke` of a just-in-time grant (it returns once the kernel
# enforces the revocation), BENCH_ROUNDS times per size.
section_revoke() {
	local n r id t0 t1 v ctl=$W/control.sock
	say "4c. revoke latency at $REVOKE_SIZES grant prefixes"
	for n in $REVOKE_SIZES; do
		"$OUT/genpolicy" -n "$n" -s 42 -g 127.0.0.1 -P "443,5000-5999" \
			-j "$W/rev-$n.json" -r "$CG_REL/partners.slice" -c "$CG_REL/partners.slice/acme" \
			>/dev/null || die "genpolicy $n failed"
		daemon_start "$W/rev-$n.json"
		for r in $(seq "$ROUNDS"); do
			id=$("$BULKHEAD" grant bench --to "10.77.$r.1" --proto tcp --ports 443 --ttl 1h \
				--control "$ctl" --json 2>>"$W/daemon.err" | jq -r '.id // .grant.id // empty')
			[ -n "$id" ] || { warn "revoke $n: grant failed"; break; }
			t0=$(now_us)
			"$BULKHEAD" revoke bench --grant "$id" --control "$ctl" >/dev/null 2>>"$W/daemon.err" ||
				{ warn "revoke $n: revoke failed"; break; }
			t1=$(now_us)
			v=$(calc %.2f "($t1 - $t0) / 1000")
			rec revoke "$n" bulkhead "$r" revoke_ms "$v"
			say "   $n prefixes, round $r/$ROUNDS: revoke ${v} ms"
		done
		daemon_stop
		rm -f "$W/rev-$n.json"
	done
}

# ------------------------------------------------------------- 5. events

log_lines() { cat "$W"/logs/*.jsonl 2>/dev/null | wc -l; }
log_bytes() { cat "$W"/logs/*.jsonl 2>/dev/null | wc -c; }
log_mtime_us() {	# the last write to any log file, microseconds since the epoch
	stat -c %.6Y "$W"/logs/*.jsonl 2>/dev/null | sort -n | tail -n 1 | tr -d .
}
# The writer appends (O_APPEND), so the files can be emptied between runs.
log_truncate() { local f; for f in "$W"/logs/*.jsonl; do [ -f "$f" ] && : >"$f"; done; }
daemon_cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$DAEMON_PID/stat"; }
ev_counter() { jq -r ".events.$1 // 0" <<<"$2"; }
calc() { awk "BEGIN { printf(\"$1\", ($2)) }"; }	# calc FORMAT EXPR

# event_run LEVEL RATE ROUND: denied connects at RATE (0: as fast as the
# generator goes) for EVENT_SECS; records offered rate, ring events/s, lines
# written/s (until the writer drained the ring), ring losses, daemon CPU.
event_run() {
	local level=$1 rate=$2 r=$3 st0 st1 lines c0 c1 t0 tl out secs att em lost mapfull hz size prev i wall cpu
	hz=$(getconf CLK_TCK)
	log_truncate
	st0=$(bh_status)
	c0=$(daemon_cpu_ticks)
	t0=$(now_us)
	out=$(run_in "$NS_C" partners.slice/acme "$CPU_CLIENT" "$OUT/denygen" -r "$rate" -d "$EVENT_SECS" "$DENY_BASE" 2>>"$W/clients.err")
	# the writer has drained the ring when the logs stop growing
	prev=-1
	for i in $(seq 120); do
		size=$(log_bytes)
		[ "$size" = "$prev" ] && break
		prev=$size
		sleep 0.25
	done
	tl=$(log_mtime_us)
	c1=$(daemon_cpu_ticks)
	st1=$(bh_status)
	lines=$(log_lines)
	log_truncate
	secs=$(num secs <<<"$out")
	att=$(num attempts <<<"$out")
	em=$(( $(ev_counter emitted "$st1") - $(ev_counter emitted "$st0") ))
	lost=$(( $(ev_counter lost_ring_full "$st1") - $(ev_counter lost_ring_full "$st0") ))
	mapfull=$(( $(ev_counter lost_map_full "$st1") - $(ev_counter lost_map_full "$st0") ))
	wall=$(secs_between "$t0" "$tl")
	cpu=$(calc %.3f "$((c1 - c0)) / $hz")
	EV_LINES_PER_S=$(calc %.0f "$lines / $wall")
	EV_LOST=$lost
	rec events "$level" bulkhead "$r" offered_per_s "$(num rate <<<"$out")"
	rec events "$level" bulkhead "$r" ring_events_per_s "$(calc %.0f "$em / $secs")"
	rec events "$level" bulkhead "$r" lines_per_s "$EV_LINES_PER_S"
	rec events "$level" bulkhead "$r" lost_ring_full "$lost"
	rec events "$level" bulkhead "$r" lost_pct "$(calc %.2f "$att ? 100 * $lost / $att : 0")"
	rec events "$level" bulkhead "$r" flood_map_full "$mapfull"
	rec events "$level" bulkhead "$r" daemon_cpu_pct "$(calc %.1f "100 * $cpu / $wall")"
	rec events "$level" bulkhead "$r" lines_per_cpu_s "$(calc %.0f "$cpu > 0 ? $lines / $cpu : 0")"
	say "   $level round $r: offered $(num rate <<<"$out")/s, $em ring events, $lines lines in ${wall}s ($EV_LINES_PER_S/s), ring lost $lost, flood map full $mapfull, daemon CPU ${cpu}s"
}

section_events() {
	local r mult rate seed last_ok="" i ev_rounds=3
	say "5. events: denied connects to distinct tuples, ${EVENT_SECS}s per run, daemon on its own CPU"
	daemon_start "$W/policy.json"
	# The generator flat out: the ring overflows; what the writer gets out.
	for r in $(seq "$ev_rounds"); do
		event_run max 0 "$r"
	done
	# The sustainable rate: the highest offer (steps of 1.25x from what the
	# writer got out flat out) that the writer keeps up with: no ring loss and
	# lines written at >= 95 % of the offer over the run.
	seed=$(awk -F'\t' '$1 == "events" && $2 == "max" && $5 == "lines_per_s" { print $6 }' "$OUT/raw.tsv" |
		sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
	rate=$seed
	for i in 1 2 3 4 5 6; do
		event_run "probe-$i" "$rate" 1
		if [ "$EV_LOST" -eq 0 ] && [ "$(calc %d "$EV_LINES_PER_S >= 0.95 * $rate")" = 1 ]; then
			last_ok=$rate
			rate=$(calc %.0f "$rate * 1.25")
		else
			break
		fi
	done
	if [ -z "$last_ok" ]; then	# even the seed was too much: step down
		rate=$seed
		for i in 1 2 3 4; do
			rate=$(calc %.0f "$rate * 0.8")
			event_run "probe-down-$i" "$rate" 1
			if [ "$EV_LOST" -eq 0 ] && [ "$(calc %d "$EV_LINES_PER_S >= 0.95 * $rate")" = 1 ]; then
				last_ok=$rate
				break
			fi
		done
	fi
	last_ok=${last_ok:-$rate}
	rec events sustainable bulkhead 1 lines_per_s "$last_ok"
	say "   the writer keeps up with about $last_ok events/s; now 1x, 2x, 4x that offer"
	for r in $(seq "$ev_rounds"); do
		for mult in 1 2 4; do
			event_run "${mult}x" "$((last_ok * mult))" "$r"
		done
	done
	daemon_stop
}

# `bulkhead trace --summary --json` over a generated log (bench/tracegen.c:
# a rotated chain with its two oldest files gzipped, a second partner and
# host.jsonl) of each size, on one CPU: lines per second (wall clock and per
# CPU-second) and peak RSS, from /usr/bin/time.
section_trace() {
	local n r d st lines secs cpu rss
	say "6. trace: bulkhead trace --summary over generated logs of $TRACE_SIZES MiB, on CPU $CPU_DAEMON"
	for n in $TRACE_SIZES; do
		d=$W/trace-$n
		mkdir -p "$d" && "$OUT/tracegen" "$d" "$n" || die "tracegen $n MiB"
		say "   $n MiB: $(du -sm "$d" | cut -f1) MiB on disk (two of the acme files gzipped)"
		for r in $(seq "$TRACE_ROUNDS"); do
			cat "$d"/* >/dev/null	# page cache: measure trace, not the disk
			taskset -c "$CPU_DAEMON" /usr/bin/time -f '%e %U %S %M' -o "$W/trace.time" \
				"$BULKHEAD" trace --log-dir "$d" --summary --json >"$W/trace.json" 2>"$W/trace.err"
			st=$?
			[ "$st" -eq 0 ] || die "bulkhead trace exited $st: $(tail -n 3 "$W/trace.err")"
			lines=$(jq .lines "$W/trace.json")
			read -r secs usr sys rss <"$W/trace.time"
			cpu=$(calc %.3f "$usr + $sys")
			rec trace "${n}MiB" bulkhead "$r" lines "$lines"
			rec trace "${n}MiB" bulkhead "$r" lines_per_s "$(calc %.0f "$lines / ($secs > 0 ? $secs : 0.01)")"
			rec trace "${n}MiB" bulkhead "$r" lines_per_cpu_s "$(calc %.0f "$lines / ($cpu > 0 ? $cpu : 0.01)")"
			rec trace "${n}MiB" bulkhead "$r" rss_mib "$(calc %.1f "$rss / 1024")"
			say "   $n MiB run $r/$TRACE_ROUNDS: $lines lines in ${secs}s wall, ${cpu}s CPU, peak RSS $((rss / 1024)) MiB"
		done
		rm -rf "$d"
	done
}

# ---------------------------------------------------------------- 7. soak

# The daemon's memory while SOAK_RATE new connections a second churn through
# SOAK_FLOWS distinct (address, port) pairs for SOAK_SECS (bench/churn.c:
# each a new socket, a non-blocking connect, its SYN out of the veth to
# 10.240.0.0/16, routed to the server namespace, which drops it, and a
# close). VmRSS at the start (after 10 s of churn) and at the end, sampled
# every 10 s; the flow map's losses at the end.
section_soak() {
	local pid t0 rss0="" rss rss_max=0 out n
	say "7. soak: ${SOAK_RATE} connections/s through ${SOAK_FLOWS} flows for ${SOAK_SECS}s"
	jq '.partners.acme.allow += [{"to": "10.240.0.0/16", "proto": "tcp", "ports": ["1-2"]}]' \
		"$W/policy.json" >"$W/soak.json" || die "cannot write the soak policy"
	ip -n "$NS_C" route replace 10.240.0.0/16 via "$S4" || die "cannot route 10.240.0.0/16"
	daemon_start "$W/soak.json"
	spawn_in "$NS_C" partners.slice/acme "$CPU_CLIENT" "$OUT/churn" -r "$SOAK_RATE" \
		-d "$((SOAK_SECS + 10))" -n "$SOAK_FLOWS" 10.240.0.0 2 >"$W/churn.out" 2>>"$W/clients.err"
	pid=$SPAWNED
	t0=$(now_us)
	while kill -0 "$pid" 2>/dev/null; do
		sleep 10
		rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$DAEMON_PID/status")
		[ -n "$rss0" ] || rss0=$rss
		[ "$rss" -le "$rss_max" ] || rss_max=$rss
		say "   $(( ($(now_us) - t0) / 1000000 ))s: daemon VmRSS ${rss} KiB"
	done
	wait "$pid"
	out=$(cat "$W/churn.out")
	n=$(awk '{ print $4 }' <<<"$out")
	rec soak churn bulkhead 1 conn_per_s "$n"
	rec soak churn bulkhead 1 rss_start_kib "$rss0"
	rec soak churn bulkhead 1 rss_end_kib "$rss"
	rec soak churn bulkhead 1 rss_max_kib "$rss_max"
	rec soak churn bulkhead 1 flow_map_full "$(bh_status | jq -r .events.lost_flow_map_full)"
	rec soak churn bulkhead 1 secs "$SOAK_SECS"
	say "   $out; VmRSS $rss0 -> $rss KiB (max $rss_max)"
	daemon_stop
	ip -n "$NS_C" route del 10.240.0.0/16 2>/dev/null
}

# ------------------------------------------------------------------ main

# 7. A scan of 65,535 ports of one host at full speed: every attempt counted
# (the counts of acme's lines add up), one scan alert per host; the rate and
# the daemon's CPU. A new host each round (an alert's key is suppressed for
# an hour).
section_scan() {
	local r out att sum nal i c0 c1 t0 tl hz wall cpu lines f="$W/logs/acme.jsonl"
	say "7. scan: 65,535 denied ports of one host at full speed"
	daemon_start "$W/policy.json"
	hz=$(getconf CLK_TCK)
	for r in 1 2 3; do
		log_truncate
		c0=$(daemon_cpu_ticks)
		t0=$(now_us)
		out=$(run_in "$NS_C" partners.slice/acme "$CPU_CLIENT" "$OUT/denygen" -d 600 -c 65535 -n 1 \
			"10.98.$r.1" 2>>"$W/clients.err")
		att=$(num attempts <<<"$out")
		for i in $(seq 120); do	# the windows close 2-3 s after the scan
			sum=$(jq -s '[.[] | select(.verdict == "deny") | .count] | add // 0' "$f" 2>/dev/null)
			nal=$(jq -s '[.[] | select(.type == "alert" and .rule == "scan" and .phase == null)] | length' "$f" 2>/dev/null)
			[ "$sum" = "$att" ] && [ "${nal:-0}" -ge 1 ] && break
			sleep 0.25
		done
		tl=$(log_mtime_us)
		c1=$(daemon_cpu_ticks)
		lines=$(wc -l <"$f")
		wall=$(secs_between "$t0" "$tl")
		cpu=$(calc %.3f "$((c1 - c0)) / $hz")
		rec scan one-host bulkhead "$r" attempts_per_s "$(num rate <<<"$out")"
		rec scan one-host bulkhead "$r" attempts "$att"
		rec scan one-host bulkhead "$r" counted "$sum"
		rec scan one-host bulkhead "$r" scan_alerts "$nal"
		rec scan one-host bulkhead "$r" lines "$lines"
		rec scan one-host bulkhead "$r" daemon_cpu_s "$cpu"
		say "   round $r: $att attempts at $(num rate <<<"$out")/s, counted $sum, $nal scan alert(s), $lines lines, daemon CPU ${cpu}s over ${wall}s"
	done
	daemon_stop
}

for s in $ONLY; do
	case $s in
	connect) section_connect ;;
	throughput) section_throughput ;;
	scale) section_scale ;;
	hooks) section_hooks ;;
	conncost) section_conncost ;;
	revoke) section_revoke ;;
	events) section_events ;;
	trace) section_trace ;;
	soak) section_soak ;;
	scan) section_scan ;;
	*) die "unknown section $s" ;;
	esac
done

say "writing $OUT/results.json and $OUT/results.md"
GIT_REV=$(git -C "$SRC" describe --always --dirty 2>/dev/null || echo unknown)
jq -n \
	--arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
	--arg cpu "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" \
	--arg nproc "$NCPU" --arg kernel "$(uname -r)" --arg rev "$GIT_REV" \
	--arg nft "$(nft --version 2>/dev/null)" --arg iperf "$(iperf3 --version 2>/dev/null | head -n 1)" \
	--arg load "$(cut -d' ' -f1-3 /proc/loadavg)" --arg rounds "$ROUNDS" \
	--arg params "connect ${CONNECT_SECS}s, throughput ${TPUT_SECS}s, scale ${SCALE_SECS}s, events ${EVENT_SECS}s, hooks ${HOOK_SECS}s; sizes $SCALE_SIZES; pinning $PIN; quick $QUICK" \
	--arg secs "$(elapsed)" \
	'{date: $date, cpu: $cpu, nproc: ($nproc | tonumber), kernel: $kernel, bulkhead: $rev,
	  nft: $nft, iperf3: $iperf, loadavg_at_end: $load, rounds: ($rounds | tonumber),
	  parameters: $params, duration: $secs}' >"$W/machine.json"
jq -R -s -f "$SRC/bench/report.jq" --slurpfile machine "$W/machine.json" "$OUT/raw.tsv" >"$OUT/results.json" ||
	die "cannot summarise the results"
jq -r -f "$SRC/bench/report-md.jq" "$OUT/results.json" >"$W/results.md" || die "cannot write results.md"
python3 "$SRC/bench/chart.py" "$OUT/results.json" "$OUT/chart.svg" || warn "cannot draw the chart"
{ printf '# bulkhead benchmark results\n\n![rates against no enforcement](chart.svg)\n\n'; cat "$W/results.md"; } >"$OUT/results.md"
cat "$OUT/results.md"

if [ "$UPDATE_DOCS" = 1 ]; then
	awk -v f="$W/results.md" '
		/<!-- results:begin -->/ { print; while ((getline l < f) > 0) print l; skip = 1; next }
		/<!-- results:end -->/ { skip = 0 }
		!skip' "$SRC/docs/benchmarks.md" >"$W/benchmarks.md" &&
		cat "$W/benchmarks.md" >"$SRC/docs/benchmarks.md" && say "updated docs/benchmarks.md"
	[ -s "$OUT/chart.svg" ] && cp "$OUT/chart.svg" "$SRC/docs/benchmarks.svg" && say "updated docs/benchmarks.svg"
fi
say "done in $(elapsed)"
