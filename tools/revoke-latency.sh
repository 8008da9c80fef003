#!/usr/bin/env bash
# Revoke latency: how long `bulkhead revoke` takes to return, and how soon
# after it returns the kernel drops the next packet of the revoked flow,
# measured over N revocations (default 1000) of just-in-time grants that
# each carry an established TCP flow.
#
#   tools/revoke-latency.sh            # as root, after `make`
#   N=200 tools/revoke-latency.sh      # fewer revocations
#   DESTROY=1 tools/revoke-latency.sh  # daemon as by default, destroying sockets
#
# The daemon runs with --no-destroy unless DESTROY=1: what is measured is the
# kernel's enforcement, and with socket destruction (the daemon's default, run
# right after it has replied to `revoke`) the first packet dropped is often
# the destroy's own RST, racing the client's byte, and the byte may not even
# be sent (ECONNABORTED). The CLI latency is the same either way.
#
# Setup and cleanup are the end-to-end harness's (tests/e2e/lib.sh): a partner
# cgroup, a client and a server network namespace joined by a veth, a pin dir
# and a daemon of its own; all of it is removed at the end, also on failure or
# Ctrl-C. The loop itself is `jitflow bench` (tests/probe/jitflow.c, built
# here with cc). For i in 1..N, on port 20000+i (one deny-aggregation key per
# flow, so each flow's first drop is an event of its own):
#
#   1. `bulkhead grant acme --to 10.20.0.5 --proto tcp --ports P --ttl 1h`
#   2. a client in the partner cgroup connects, sends 'a' and waits until it
#      is acknowledged; the server reads 'a' (the flow works and is idle)
#   3. `bulkhead revoke acme --grant ID`, timed with CLOCK_MONOTONIC from
#      fork() to waitpid() returning (exit status 0 required)
#   4. at once the client sends 'b'; the server must never receive it
#      (checked 5 ms later, and for every flow again at the end, after 1.5 s
#      of retransmissions): any byte is a violation
#   5. later, from acme.jsonl: the first `packet` event of that flow with
#      reason revoked; its ts (kernel CLOCK_BOOTTIME, converted to the wall
#      clock by the daemon) minus CLOCK_REALTIME taken right after waitpid()
#      is "revoke returned -> first packet dropped"
#
# Prints a table and writes build/bench/revoke-latency.json (OUT_JSON=...).
# Exit status non-zero on any violation or failure.
set -u
BH_ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=${N:-1000}
PORT_BASE=${PORT_BASE:-20000}
OUT_JSON=${OUT_JSON:-$BH_ROOT/build/bench/revoke-latency.json}
case $OUT_JSON in /*) ;; *) OUT_JSON=$PWD/$OUT_JSON ;; esac
export BH_VERBOSE=1		# stream the case's output
if ! [ "$N" -gt 0 ] 2>/dev/null || [ $((PORT_BASE + N)) -gt 65536 ]; then
	echo "revoke-latency: bad N=$N or PORT_BASE=$PORT_BASE" >&2
	exit 2
fi

# shellcheck source-path=SCRIPTDIR/..
# shellcheck source=tests/e2e/lib.sh
. "$BH_ROOT/tests/e2e/lib.sh"

# shellcheck disable=SC2317  # called through tcase
revoke_latency() {
	local jf="$CASE_DIR/jitflow" st
	"${CC:-cc}" -O2 -Wall -Wextra -o "$jf" "$BH_ROOT/tests/probe/jitflow.c" -ljansson ||
		fail_now "cannot build tests/probe/jitflow.c"
	policy_acme '[{"to": "10.1.2.3", "proto": "tcp", "ports": ["80"]}]'
	cg_new acme
	local mode=no-destroy
	if [ "${DESTROY:-0}" = 1 ]; then
		mode=destroy
		bh_start "$POLICY" --flow-interval 0
	else
		bh_start "$POLICY" --flow-interval 0 --no-destroy
	fi
	mkdir -p "$(dirname "$OUT_JSON")" || fail_now "cannot create $(dirname "$OUT_JSON")"
	in_ns "$NS_C" "$jf" bench -n "$N" --bulkhead "$BULKHEAD" --partner acme \
		--cgroup "$CASE_CG/acme" --server-netns "/run/netns/$NS_S" --addr 10.20.0.5 \
		--port-base "$PORT_BASE" --events "$LOGS/acme.jsonl" --json "$OUT_JSON" \
		--mode "$mode"
	st=$?
	[ "$st" -eq 0 ] || fail "jitflow bench exited with status $st"
	[ ! -s "$OUT_JSON" ] || bh_log "wrote $OUT_JSON"
	bh_alive || fail "bulkhead run died during the bench: $(tail -n 3 "$CASE_DIR/bulkhead.err")"
	bh_stop
}

tcase revoke_latency revoke_latency
bh_finish
