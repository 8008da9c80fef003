#!/usr/bin/env bash
# Revoke latency: how long `bulkhead revoke` takes to return, and the proof
# that the kernel enforces the revocation by the time it has returned,
# measured over N revocations (default 1000) for each policy size in SIZES
# (default: 1, 1,000 and 100,000 grant prefixes, written by
# bench/genpolicy.c; every revoke recompiles and swaps the whole trie).
#
#   tools/revoke-latency.sh                 # as root, after `make`
#   N=200 tools/revoke-latency.sh           # fewer revocations per size
#   SIZES="1000" tools/revoke-latency.sh    # one policy size only
#   NO_DESTROY=1 tools/revoke-latency.sh    # daemon with --no-destroy
#   INTERVAL_US=5 TAIL_US=1000              # the stream (below)
#   PIN=0,1 SENDER_NICE=0                   # CPU placement (below)
#
# Per revocation: a just-in-time grant of one UDP port to the partner; a
# sender in the partner cgroup streams datagrams to a receiver in the server
# namespace, one every INTERVAL_US, each carrying its CLOCK_BOOTTIME send time
# and a sequence number; while it streams, `bulkhead revoke --grant ID` runs,
# timed on CLOCK_BOOTTIME from fork() to waitpid(); the stream goes on for
# TAIL_US after the CLI returned, and until the kernel refused a datagram (a
# sender kept off its CPU may not have sent one yet). The datagrams that
# reached the receiver, the first send() the kernel refused (EPERM) and the
# flow's first `packet` deny event (reason revoked) are compared with the
# CLI's return instant.
# tests/probe/revlat.c (built here with cc) does the measuring and documents
# every figure; docs/operations.md has the method and results.
#
# PIN=S,R (default 0,1 on a machine with 2 CPUs or more; PIN= turns it off):
# the sender runs on CPU S, the daemon, the CLI and the receiver on CPU R, so
# the daemon's work does not take the sender's CPU right when the policy
# switches (which would leave a gap in the stream exactly there).
# SENDER_NICE: the sender's nice value (default 0).
#
# Setup and cleanup are the end-to-end harness's (tests/e2e/lib.sh): for each
# size a partner cgroup, a client and a server network namespace joined by a
# veth, a pin dir and a daemon of its own (default options, --flow-interval 0);
# all of it is removed at the end, also on failure or Ctrl-C.
#
# Prints a table per size and writes BENCH_OUT/revoke-latency.json (default
# build/bench/): the figures per size, every sample, the machine. Exit status
# non-zero on any violation or failure.
set -u
BH_ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=${N:-1000}
SIZES=${SIZES:-1 1000 100000}
PORT_BASE=${PORT_BASE:-20000}
INTERVAL_US=${INTERVAL_US:-5}
TAIL_US=${TAIL_US:-1000}
PIN=${PIN-$([ "$(nproc)" -ge 2 ] && echo 0,1)}
OUT_DIR=${BENCH_OUT:-$BH_ROOT/build/bench}
case $OUT_DIR in /*) ;; *) OUT_DIR=$PWD/$OUT_DIR ;; esac
export BH_VERBOSE=1		# stream the cases' output
if ! [ "$N" -gt 0 ] 2>/dev/null || [ $((PORT_BASE + N)) -gt 65536 ]; then
	echo "revoke-latency: bad N=$N or PORT_BASE=$PORT_BASE" >&2
	exit 2
fi

# shellcheck source-path=SCRIPTDIR/..
# shellcheck source=tests/e2e/lib.sh
. "$BH_ROOT/tests/e2e/lib.sh"

REVLAT=$BH_TMP/revlat
GENPOLICY=$BH_TMP/genpolicy
RL_SIZE=""			# the case's policy size

# rl_build: the two helpers, once for the run.
# shellcheck disable=SC2317  # called from the case function
rl_build() {
	[ -x "$REVLAT" ] && [ -x "$GENPOLICY" ] && return 0
	"${CC:-cc}" -O2 -Wall -Wextra -Werror -o "$REVLAT" "$BH_ROOT/tests/probe/revlat.c" \
		-ljansson -lpthread || fail_now "cannot build tests/probe/revlat.c"
	"${CC:-cc}" -O2 -Wall -Wextra -Werror -o "$GENPOLICY" "$BH_ROOT/bench/genpolicy.c" ||
		fail_now "cannot build bench/genpolicy.c"
}

# shellcheck disable=SC2317  # called through tcase
revoke_latency() {
	local st
	rl_build
	mkdir -p "$OUT_DIR" || fail_now "cannot create $OUT_DIR"
	cg_new partners/bench
	# partner "bench", RL_SIZE random tcp/443 prefixes (none covers 10.20.0.5)
	POLICY=$CASE_DIR/policy.json
	"$GENPOLICY" -n "$RL_SIZE" -s 42 -P 443 -j "$POLICY" -r "$CASE_CG_REL/partners" \
		-c "$CASE_CG_REL/partners/bench" >/dev/null || fail_now "genpolicy -n $RL_SIZE failed"
	if [ "${NO_DESTROY:-0}" = 1 ]; then
		bh_start "$POLICY" --flow-interval 0 --no-destroy
	else
		bh_start "$POLICY" --flow-interval 0
	fi
	if [ -n "${PIN:-}" ]; then
		taskset -a -pc "${PIN#*,}" "$BH_DAEMON_PID" >/dev/null
		set -- taskset -c "${PIN#*,}" "$REVLAT" --sender-cpu "${PIN%%,*}"
	else
		set -- "$REVLAT"
	fi
	in_ns "$NS_C" "$@" -n "$N" --bulkhead "$BULKHEAD" --partner bench \
		--cgroup "$CASE_CG/partners/bench" --server-netns "/run/netns/$NS_S" \
		--addr 10.20.0.5 --port-base "$PORT_BASE" --events "$LOGS/bench.jsonl" \
		--interval-us "$INTERVAL_US" --tail-us "$TAIL_US" --nice "${SENDER_NICE:-0}" \
		--label "$RL_SIZE prefixes" \
		--json "$BH_TMP/revoke-latency-$RL_SIZE.json"
	st=$?
	[ "$st" -eq 0 ] || fail "revlat exited with status $st"
	bh_alive || fail "bulkhead run died during the measurement: $(tail -n 3 "$CASE_DIR/bulkhead.err")"
	bh_stop
}

for RL_SIZE in $SIZES; do
	tcase "revoke_latency_${RL_SIZE}_prefixes" revoke_latency
done

# All sizes in one file, with the machine they ran on.
set -- "$BH_TMP"/revoke-latency-*.json
if [ -e "$1" ] && command -v jq >/dev/null && mkdir -p "$OUT_DIR" &&
   jq -s --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg kernel "$(uname -r)" \
	--arg cpu "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" \
	--arg nproc "$(nproc)" --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" \
	--arg rev "$(git -C "$BH_ROOT" describe --always --dirty 2>/dev/null || echo unknown)" \
	--arg daemon "$([ "${NO_DESTROY:-0}" = 1 ] && echo --no-destroy || echo default)" \
	--arg pin "${PIN:-none}" \
	'{bench: "revoke-latency", date: $date, kernel: $kernel, cpu: $cpu,
	  nproc: ($nproc | tonumber), loadavg_at_end: $load, bulkhead: $rev, daemon: $daemon,
	  pin_sender_rest: $pin, runs: .}' "$@" >"$OUT_DIR/revoke-latency.json"; then
	bh_log "wrote $OUT_DIR/revoke-latency.json"
fi
bh_finish
