# shellcheck shell=bash
#
# End-to-end test harness for bulkhead. Source it from tests/e2e/test_*.sh:
#
#   . "$(dirname "$0")/lib.sh"
#   case_x() { ...; assert_probe EPERM "$cg" tcp-connect 10.1.2.3 80; }
#   tcase deny_x case_x
#   bh_finish
#
# Every case runs in its own subshell with its own cgroup
# (<cgroup2>/bh-test.$$/caseN, relative path in $CASE_CG_REL), its own pin dir
# ($PINDIR) and its own pair of network namespaces joined by a veth:
#
#   client ns $NS_C  veth 10.201.N.1/24  fd00:201:N::1/64   (probes, partners)
#   server ns $NS_S  veth 10.201.N.2/24  fd00:201:N::2/64   (servers)
#
# plus the extra server addresses in BH_V4_EXTRA / BH_V6_EXTRA on the server's
# lo, routed from the client through the veth. Nothing leaves those namespaces.
#
# The daemon (bh_start) writes its event logs to $LOGS ($CASE_DIR/logs) and
# listens on a control socket of the case's own.
#
# Shared helpers for the test files (details above each one):
#   policy                  the policy JSON on stdin becomes $POLICY
#   policy_acme ALLOW [F [MODE]]  a policy with one partner, acme ($CASE_CG_REL/acme),
#                           allowed the JSON array ALLOW, in MODE (enforce if
#                           omitted); in $POLICY, or in F ("": $POLICY)
#   in_cg / in_cg_bg        run a command in the client namespace and a cgroup,
#                           in the foreground / in the background (its pid in
#                           BH_BG_PID)
#   stop_ok                 the daemon survived the case and exits 0 on SIGTERM
#   cli                     a bulkhead CLI command, output in CLI_OUT/CLI_ERR/CLI_ST
#   ev, ev_count, assert_event, assert_event_n, assert_no_event, assert_decision
#                           event log lines matching filters (tests/e2e/ev.py)
#   jit_prereq, stream_start, talk_start, jf*, mark, rx_*
#                           long-lived flows (tests/probe/jitflow.c) and the
#                           mark of what they had sent when a command returned
#   status_json, acme_count, list_json, grant_field
#                           `bulkhead status|list --json` of the case
#   assert_le, now_past, ts_us, cut_at_expiry
#   bh_kill9                the daemon crashes (SIGKILL), its pins stay
#   assert_eq, assert_contains, assert_file_has, assert_file_lacks,
#   assert_probe            assertions: each logs "ok: ..." or records a failure
#
# Cleanup (daemon, `bulkhead down`, servers, namespaces, cgroups, pins) always
# runs: per case in the case subshell's EXIT trap, and again for the whole run
# in this shell's EXIT trap, even on failure or Ctrl-C. The last line printed is
# "N passed, N failed" (", N skipped" when any); the exit status is non-zero
# when anything failed.
#
# Environment: BULKHEAD (default build/bulkhead), BH_PROBE (default
# build/probe, compiled from tests/probe/probe.c when missing), CI=true (a case
# that cannot run is a failure, not a skip), BH_CASES=REGEX (run only matching
# cases), BH_VERBOSE=1 (stream case output), BH_KEEP_TMP=1 (keep logs).

BH_SRC_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BULKHEAD=${BULKHEAD:-$BH_SRC_ROOT/build/bulkhead}
case $BULKHEAD in */*) BULKHEAD=$(realpath -m "$BULKHEAD") ;; esac
BH_PROBE=${BH_PROBE:-$BH_SRC_ROOT/build/probe}
BH_SCRIPT=$(basename "$0")

BH_RUN_ID=$$
BH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/bh-test.$BH_RUN_ID.XXXXXX") || exit 1
BH_CG2=""			# cgroup2 mount point, discovered
BH_CG_RUN_REL="bh-test.$BH_RUN_ID"
BH_CG_RUN=""			# $BH_CG2/$BH_CG_RUN_REL once created
BH_BPFFS=/sys/fs/bpf
BH_PIN_RUN="$BH_BPFFS/bh-test-$BH_RUN_ID"	# bpffs refuses names with a '.'

BH_NS_PREFIX="bh-t$BH_RUN_ID-"
BH_MOUNTED_BPFFS=0
BH_RUN_READY=0

# Server addresses reachable from every case's client namespace.
BH_V4_EXTRA="10.1.2.3 10.2.0.1 10.20.0.5 10.20.0.6"
BH_V6_EXTRA="fd00:20::5 fd00:20::6 fd00:21::7"

BH_NPASS=0
BH_NFAIL=0
BH_NSKIP=0
BH_NCASE=0
BH_INTERRUPTED=0
BH_CASE_PID=""
BH_PREREQ_MISSING=""

# ---------------------------------------------------------------- utilities

bh_log() { printf '%s\n' "$*"; }

bh_is_ci() { [ "${CI:-}" = true ]; }

# Microseconds since the epoch.
bh_now_us() { local t=${EPOCHREALTIME/./}; printf '%s\n' "$((10#$t))"; }

# wait_until SECONDS CMD...: poll CMD (every 50 ms) until it succeeds.
# Returns 0 when it did, 1 on timeout.
wait_until() {
	local secs=$1 deadline
	shift
	deadline=$(( $(bh_now_us) + ${secs%.*} * 1000000 ))
	while :; do
		"$@" && return 0
		[ "$(bh_now_us)" -ge "$deadline" ] && return 1
		sleep 0.05
	done
}

bh_pid_alive() {
	local state
	[ -r "/proc/$1/stat" ] || return 1
	state=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

bh_pid_dead() { ! bh_pid_alive "$1"; }

# Send SIGTERM to the given pids, then SIGKILL to any alive after `secs`.
bh_kill_pids() {
	local secs=$1 p left
	shift
	[ $# -gt 0 ] || return 0
	kill -TERM "$@" 2>/dev/null
	for p in "$@"; do
		wait_until "$secs" bh_pid_dead "$p" || { kill -KILL "$p" 2>/dev/null; left=1; }
	done
	[ -z "${left:-}" ] || for p in "$@"; do wait_until 2 bh_pid_dead "$p"; done
	return 0
}

# A unique token to send and look for on the server side.
bh_token() { printf 'bh%s-%s%s\n' "${CASE_N:-0}" "$RANDOM" "$RANDOM"; }

# ------------------------------------------------------ cgroup2 and bpffs

# The cgroup2 mount point, from /proc/self/mountinfo (first cgroup2 mount).
bh_find_cg2() {
	local line rest mp
	while IFS= read -r line; do
		rest=${line#* - }
		[ "${rest%% *}" = cgroup2 ] || continue
		mp=$(printf '%s\n' "$line" | cut -d' ' -f5)
		printf '%b\n' "$mp"
		return 0
	done </proc/self/mountinfo
	return 1
}

bh_is_bpffs() { [ "$(stat -f -c %T "$1" 2>/dev/null)" = bpf_fs ]; }

# Every pid in the cgroup subtree at $1.
bh_cg_pids() {
	[ -d "$1" ] || return 0
	find "$1" -name cgroup.procs -exec cat {} + 2>/dev/null
}

bh_cg_empty() { [ -z "$(bh_cg_pids "$1")" ]; }

# Kill what runs in the subtree, move survivors to the root cgroup, then
# remove the directories bottom-up.
bh_cg_remove() {
	local cg=$1 p
	[ -n "$cg" ] && [ -d "$cg" ] || return 0
	# shellcheck disable=SC2046
	set -- $(bh_cg_pids "$cg")
	if [ $# -gt 0 ]; then
		kill -TERM "$@" 2>/dev/null
		wait_until 3 bh_cg_empty "$cg" || {
			# shellcheck disable=SC2046
			kill -KILL $(bh_cg_pids "$cg") 2>/dev/null
			wait_until 2 bh_cg_empty "$cg"
		}
		for p in $(bh_cg_pids "$cg"); do
			echo "$p" >"$BH_CG2/cgroup.procs" 2>/dev/null
		done
	fi
	find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null
	[ ! -d "$cg" ] || { bh_log "warning: could not remove cgroup $cg"; return 1; }
}

# ------------------------------------------------------------ prerequisites

# bh_prereq LEVEL: check what LEVEL needs ("bin": a bulkhead binary; "root":
# also root, cgroup2, BTF, bpffs, namespaces, the clients and the probe) and
# set up the run for it. Returns 1 with the reasons in BH_PREREQ_MISSING.
# Not to be called in a command substitution: it sets up this shell.
declare -A BH_PREREQ=()
bh_prereq() {
	local need=$1 missing="" t
	if [ -n "${BH_PREREQ[$need]+set}" ]; then
		BH_PREREQ_MISSING=${BH_PREREQ[$need]}
		[ -z "$BH_PREREQ_MISSING" ]
		return
	fi
	[ -x "$BULKHEAD" ] || missing="$missing; no bulkhead binary at $BULKHEAD (run make)"
	if [ "$need" = root ]; then
		[ "$(id -u)" = 0 ] || missing="$missing; not root"
		BH_CG2=${BH_CG2:-$(bh_find_cg2)}
		[ -n "$BH_CG2" ] || missing="$missing; no cgroup2 mount in /proc/self/mountinfo"
		[ -r /sys/kernel/btf/vmlinux ] || missing="$missing; no kernel BTF (/sys/kernel/btf/vmlinux)"
		for t in ip nsenter ss socat ncat curl; do
			command -v "$t" >/dev/null || missing="$missing; no $t"
		done
		if [ -z "$missing" ] && [ ! -x "$BH_PROBE" ]; then
			if [ -r "$BH_SRC_ROOT/tests/probe/probe.c" ] && command -v "${CC:-gcc}" >/dev/null &&
			   "${CC:-gcc}" -Wall -Wextra -O2 -o "$BH_TMP/probe" "$BH_SRC_ROOT/tests/probe/probe.c"; then
				BH_PROBE=$BH_TMP/probe
			else
				missing="$missing; no probe at $BH_PROBE and cannot build it"
			fi
		fi
		[ -n "$missing" ] || bh_run_setup || missing="$missing; $BH_SETUP_ERR"
	fi
	BH_PREREQ_MISSING=${missing#; }
	BH_PREREQ[$need]=$BH_PREREQ_MISSING
	[ -z "$BH_PREREQ_MISSING" ]
}

# Per-run setup: bpffs, the run's pin dir and cgroup subtree.
bh_run_setup() {
	[ "$BH_RUN_READY" = 1 ] && return 0
	BH_SETUP_ERR=""
	if ! bh_is_bpffs "$BH_BPFFS"; then
		if ! { mkdir -p "$BH_BPFFS" && mount -t bpf bpf "$BH_BPFFS"; } 2>"$BH_TMP/mount.err"; then
			BH_SETUP_ERR="cannot mount bpffs at $BH_BPFFS: $(cat "$BH_TMP/mount.err")"
			return 1
		fi
		BH_MOUNTED_BPFFS=1
	fi
	mkdir -p "$BH_PIN_RUN" || { BH_SETUP_ERR="cannot create $BH_PIN_RUN"; return 1; }
	BH_CG_RUN="$BH_CG2/$BH_CG_RUN_REL"
	mkdir -p "$BH_CG_RUN" || { BH_SETUP_ERR="cannot create cgroup $BH_CG_RUN"; return 1; }
	BH_RUN_READY=1
}

# ------------------------------------------------------------------ network

# Create the case's namespaces, veth, addresses and routes.
net_setup() {
	local n=$CASE_N a
	NS_C="${BH_NS_PREFIX}$n-c"
	NS_S="${BH_NS_PREFIX}$n-s"
	C4="10.201.$n.1"; S4="10.201.$n.2"
	C6="fd00:201:$n::1"; S6="fd00:201:$n::2"
	ip netns add "$NS_C" || return 1
	echo "$NS_C" >>"$CASE_DIR/netns"
	ip netns add "$NS_S" || return 1
	echo "$NS_S" >>"$CASE_DIR/netns"
	ip link add veth-c netns "$NS_C" type veth peer name veth-s netns "$NS_S" || return 1
	in_ns "$NS_C" sh -ec "
		ip link set lo up
		ip link set veth-c up
		ip addr add $C4/24 dev veth-c
		ip -6 addr add $C6/64 dev veth-c nodad
		sysctl -qw net.ipv4.ping_group_range='0 2147483647'" || return 1
	in_ns "$NS_S" sh -ec "
		ip link set lo up
		ip link set veth-s up
		ip addr add $S4/24 dev veth-s
		ip -6 addr add $S6/64 dev veth-s nodad" || return 1
	for a in $BH_V4_EXTRA $BH_V6_EXTRA; do
		net_addr "$a" || return 1
	done
}

# net_addr ADDR: one more server address (on the server's lo), routed from
# the client namespace through the veth.
net_addr() {
	case $1 in
	*:*) in_ns "$NS_S" ip -6 addr add "$1/128" dev lo nodad &&
	     in_ns "$NS_C" ip -6 route add "$1/128" via "$S6" ;;
	*)   in_ns "$NS_S" ip addr add "$1/32" dev lo &&
	     in_ns "$NS_C" ip route add "$1/32" via "$S4" ;;
	esac
}

# in_ns NS CMD...: run CMD in network namespace NS (mounts untouched, so
# cgroupfs and bpffs stay visible; `ip netns exec` would hide them).
in_ns() {
	local ns=$1
	shift
	nsenter --net="/run/netns/$ns" "$@"
}

# in_cg CGROUP_DIR CMD...: run CMD in the client namespace as a member of
# CGROUP_DIR (an absolute path in the cgroup2 tree).
in_cg() { in_cg_ns "$NS_C" "$@"; }

# in_cg_ns NS CGROUP_DIR CMD...
in_cg_ns() {
	local ns=$1 cg=$2
	shift 2
	nsenter --net="/run/netns/$ns" sh -c "$BH__JOIN_CG" bh-in-cg "$cg" "$@"
}

# in_cg_bg CGROUP_DIR CMD...: in_cg in the background. BH_BG_PID is the pid of
# CMD itself (nsenter and sh exec into it; a backgrounded shell function would
# leave $! naming a subshell); redirections on the call apply to CMD.
in_cg_bg() {
	local cg=$1
	shift
	nsenter --net="/run/netns/$NS_C" sh -c "$BH__JOIN_CG" bh-in-cg "$cg" "$@" &
	# shellcheck disable=SC2034  # for the caller
	BH_BG_PID=$!
}

# The shell script of in_cg: join the cgroup $1 (exit 125 if that fails), then
# exec the rest of the arguments.
# shellcheck disable=SC2016
BH__JOIN_CG='echo $$ >"$1/cgroup.procs" || exit 125; shift; exec "$@"'

# cg_new REL...: create the cgroups $CASE_CG/REL (and their parents).
cg_new() {
	local rel
	for rel in "$@"; do
		mkdir -p "$CASE_CG/$rel" || fail_now "cannot create cgroup $CASE_CG/$rel"
	done
}

# ------------------------------------------------------------------ servers

# srv_start [--ns NS] KIND PORT [FILE]: start a server listening on every
# address (IPv4 and IPv6) of NS (default the server namespace), and wait until
# it listens. KIND:
#   echo  TCP, echoes what it gets
#   sink  TCP, appends what it gets to FILE
#   http  TCP, HTTP/1.0 200 to any request, appends each request line to FILE
#   udp   UDP, appends every datagram to FILE
srv_start() {
	local ns=$NS_S kind port file pid proto=tcp listen
	if [ "$1" = --ns ]; then ns=$2; shift 2; fi
	kind=$1 port=$2 file=${3:-}
	listen="TCP6-LISTEN:$port,ipv6only=0,reuseaddr,fork"
	case $kind in
	echo) set -- "$listen" PIPE ;;
	sink) set -- -u "$listen" "OPEN:$file,creat,append" ;;
	http) bh__http_handler
	      set -- "$listen" "EXEC:bash $CASE_DIR/http.sh $file" ;;
	udp)  proto=udp
	      set -- -u "UDP6-RECV:$port,ipv6only=0,reuseaddr" "OPEN:$file,creat,append" ;;
	*) fail_now "srv_start: unknown kind $kind" ;;
	esac
	[ -n "$file" ] || [ "$kind" = echo ] || fail_now "srv_start $kind: no file"
	# nsenter execs socat, so $! is the server itself
	nsenter --net="/run/netns/$ns" socat "$@" </dev/null >>"$CASE_DIR/servers.log" 2>&1 &
	pid=$!
	echo "$pid" >>"$CASE_DIR/server.pids"
	[ -z "$file" ] || : >>"$file"
	wait_until 5 srv_listening "$ns" "$proto" "$port" ||
		fail_now "$kind server on port $port in $ns did not start listening: $(tail -n 3 "$CASE_DIR/servers.log")"
}

# srv_listening NS tcp|udp PORT
srv_listening() {
	local flags=-Hltn
	[ "$2" = udp ] && flags=-Hlun
	[ -n "$(in_ns "$1" ss "$flags" "sport = :$3" 2>/dev/null)" ]
}

bh__http_handler() {
	[ -f "$CASE_DIR/http.sh" ] && return 0
	cat >"$CASE_DIR/http.sh" <<'EOF'
# one HTTP/1.0 exchange on stdin/stdout: log the request line to $1, answer 200
IFS= read -r req || exit 0
printf '%s\n' "${req%$'\r'}" >>"$1"
while IFS= read -r h; do h=${h%$'\r'}; [ -n "$h" ] || break; done
body='bulkhead-test-ok'
printf 'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s\n' \
	$(( ${#body} + 1 )) "$body"
EOF
}

bh__file_has() { grep -qF -- "$2" "$1" 2>/dev/null; }

# ------------------------------------------------------------------- policy

# policy: write the policy JSON read from stdin; its path is in $POLICY.
policy() {
	POLICY="$CASE_DIR/policy.json"
	cat >"$POLICY"
}

# policy_acme ALLOW [FILE [MODE]]: a policy with one partner, acme, bound to
# $CASE_CG_REL/acme, whose allow list is the JSON text ALLOW (an array) and
# whose mode is MODE (none given: the default, enforce), written as `policy`
# does, or to FILE when given and not "" ($POLICY then unchanged).
policy_acme() {
	local file=${2:-} mode=""
	[ -z "${3:-}" ] || mode="
      \"mode\": \"$3\","
	if [ -z "$file" ]; then
		POLICY="$CASE_DIR/policy.json"
		file=$POLICY
	fi
	cat >"$file" <<EOF
{
  "version": 1,
  "partners": {
    "acme": {
      "cgroups": ["$CASE_CG_REL/acme"],$mode
      "allow": $1
    }
  }
}
EOF
}

# ------------------------------------------------------------------- daemon

# bh_spawn POLICYFILE [ARGS...]: start `bulkhead run --policy POLICYFILE
# --pin-dir $PINDIR` in the background (pid in BH_DAEMON_PID, stdout in
# $CASE_DIR/bulkhead.out, stderr in $CASE_DIR/bulkhead.err); don't wait.
bh_spawn() {
	local policy=$1
	shift
	[ -z "${BH_DAEMON_PID:-}" ] || fail_now "bh_spawn: a daemon is already running"
	: >"$CASE_DIR/bulkhead.out"
	: >"$CASE_DIR/bulkhead.err"
	# keep the event logs in the case dir when the binary knows --log-dir
	if "$BULKHEAD" run --help 2>&1 | grep -q -- --log-dir; then
		set -- --log-dir "$LOGS" "$@"
	fi
	# and the alerts' state (first_seen, identity_reuse) unless the case gives one
	case " $* " in
	*" --state-dir "*) ;;
	*) if "$BULKHEAD" run --help 2>&1 | grep -q -- --state-dir; then
		set -- --state-dir "$CASE_DIR/state" "$@"
	   fi ;;
	esac
	# and the control socket, so CLI commands in the case reach this daemon only
	export BULKHEAD_CONTROL="$CASE_DIR/control.sock"
	set -- --control "$BULKHEAD_CONTROL" "$@"
	"$BULKHEAD" run --policy "$policy" --pin-dir "$PINDIR" "$@" \
		</dev/null >>"$CASE_DIR/bulkhead.out" 2>>"$CASE_DIR/bulkhead.err" &
	BH_DAEMON_PID=$!
	BH_DAEMON_STARTED=1
	echo "$BH_DAEMON_PID" >"$CASE_DIR/daemon.pid"
}

# bh_start POLICYFILE [ARGS...]: bh_spawn, then wait (10 s at most) for the
# daemon's `ready` line. The case fails and stops if it never comes.
bh_start() {
	local st
	bh_spawn "$@"
	if ! wait_until 10 bh__ready_or_dead; then
		fail_now "bulkhead run did not print 'ready' within 10 s: $(bh__daemon_tail)"
	fi
	if ! bh__is_ready; then
		wait "$BH_DAEMON_PID"
		st=$?
		BH_DAEMON_PID=""
		fail_now "bulkhead run exited with status $st before 'ready': $(bh__daemon_tail)"
	fi
	bh_log "bulkhead run (pid $BH_DAEMON_PID) ready"
}

# bh_wait_exit SECONDS: wait for the daemon to exit by itself; its status is
# in BH_DAEMON_STATUS. Returns 1 (daemon left running) on timeout.
bh_wait_exit() {
	wait_until "$1" bh_pid_dead "$BH_DAEMON_PID" || return 1
	wait "$BH_DAEMON_PID"
	# shellcheck disable=SC2034  # for the caller
	BH_DAEMON_STATUS=$?
	BH_DAEMON_PID=""
}

# `ready` on stdout, or `bulkhead: ready` on stderr when stdout is the --stdout JSON stream
bh__is_ready() {
	grep -qxE 'ready[[:space:]]*' "$CASE_DIR/bulkhead.out" 2>/dev/null ||
		grep -qx 'bulkhead: ready' "$CASE_DIR/bulkhead.err" 2>/dev/null
}
bh__ready_or_dead() { bh__is_ready || bh_pid_dead "$BH_DAEMON_PID"; }
bh__daemon_tail() { tail -n 5 "$CASE_DIR/bulkhead.err" "$CASE_DIR/bulkhead.out" 2>/dev/null | tr '\n' ' '; }

# bh_stop: SIGTERM the daemon and wait for it (10 s, then SIGKILL and fail).
# Returns the daemon's exit status.
bh_stop() {
	local pid=${BH_DAEMON_PID:-} st
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	if ! wait_until 10 bh_pid_dead "$pid"; then
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		BH_DAEMON_PID=""
		fail "bulkhead run ignored SIGTERM for 10 s (killed)"
		return 1
	fi
	wait "$pid" 2>/dev/null
	st=$?
	BH_DAEMON_PID=""
	bh_log "bulkhead run exited with status $st"
	return "$st"
}

# bh_kill9: SIGKILL the daemon (a crash) and reap it; what it pinned stays.
bh_kill9() {
	[ -n "${BH_DAEMON_PID:-}" ] || return 0
	kill -KILL "$BH_DAEMON_PID"
	wait "$BH_DAEMON_PID" 2>/dev/null
	BH_DAEMON_PID=""
	bh_log "daemon killed with SIGKILL"
}

# bh_alive: the daemon started by bh_start still runs.
bh_alive() { [ -n "${BH_DAEMON_PID:-}" ] && bh_pid_alive "$BH_DAEMON_PID"; }

# stop_ok: the daemon survived the case and exits 0 on SIGTERM.
stop_ok() {
	bh_alive || fail "bulkhead run died during the case: $(tail -n 3 "$CASE_DIR/bulkhead.err" | tr '\n' ' ')"
	bh_stop
	assert_eq 0 "$?" "bulkhead run exit status after SIGTERM"
}

# bh_down: `bulkhead down` on the case's pin dir; returns its status.
bh_down() {
	"$BULKHEAD" down --pin-dir "$PINDIR" </dev/null >>"$CASE_DIR/down.log" 2>&1
}

# ------------------------------------- flows and the CLI (jq)
#
# Long-lived flows and timed revocations (tests/probe/jitflow.c), JSON of the
# CLI read with jq: test_jit.sh and test_matrix.sh.

JF=$BH_TMP/jitflow		# built on first use (jit_prereq), shared by the cases

# jit_prereq: jq and the jitflow helper (tests/probe/jitflow.c, built on first
# use into $JF); a case that lacks them cannot run.
# jit_start [RUN ARGS...]: jq and jitflow, the cgroups acme ($ACME) and
# outside ($OUT, bound to no partner), then the daemon on $POLICY.
jit_start() {
	jit_prereq
	cg_new outside acme
	OUT="$CASE_CG/outside"
	ACME="$CASE_CG/acme"
	bh_start "$POLICY" "$@"
}

jit_prereq() {
	command -v jq >/dev/null || skip "no jq (needed to read the JSON events)"
	[ -x "$JF" ] && return 0
	if ! "${CC:-cc}" -O2 -Wall -Wextra -o "$JF.$$" "$BH_SRC_ROOT/tests/probe/jitflow.c" \
		-ljansson 2>"$CASE_DIR/jitflow.build"; then
		fail_now "cannot build tests/probe/jitflow.c: $(head -n 5 "$CASE_DIR/jitflow.build")"
	fi
	mv -f "$JF.$$" "$JF"
}

# cli ARGS...: run bulkhead; stdout in CLI_OUT, stderr in CLI_ERR, status in CLI_ST.
cli() {
	CLI_OUT=$("$BULKHEAD" "$@" 2>"$CASE_DIR/cli.err" </dev/null)
	CLI_ST=$?
	CLI_ERR=$(cat "$CASE_DIR/cli.err")
	printf '$ bulkhead %s  => %s\n%s\n%s\n' "$*" "$CLI_ST" "$CLI_OUT" "$CLI_ERR" >>"$CASE_DIR/cli.log"
}

# ------------------------------------------------------------- event logs
#
# Every suite reads events with tests/e2e/ev.py (python3 json, strict UTF-8;
# its docstring lists the commands and the FILTER syntax: FIELD=VALUE,
# FIELD:=JSON, FIELD!=VALUE, FIELD~REGEX, FIELD^=PREFIX, FIELD>=N, +F, -F, ...;
# FIELD is a dotted path, a number indexes a list, # is a list's length).
EV_PY=$BH_SRC_ROOT/tests/e2e/ev.py

# ev CMD ARGS...: tests/e2e/ev.py (ev lines FILE FILTER...: the matching lines).
ev() { python3 "$EV_PY" "$@"; }

# ev_count FILE FILTER...: how many lines match.
ev_count() { ev count "$@"; }

ev__has() { [ "$(ev count "$@")" -ge 1 ]; }
ev__has_n() { local n=$1; shift; [ "$(ev count "$@")" -ge "$n" ]; }

# assert_event LABEL FILE FILTER...: a line matching every filter appears in
# FILE within EV_WAIT seconds (default 5; events are on disk within about a
# second of the decision). The log shows the first matching line.
assert_event() {
	local label=$1 file=$2
	shift 2
	if wait_until "${EV_WAIT:-5}" ev__has "$file" "$@"; then
		bh_log "ok: $label: $(ev lines "$file" "$@" | head -n 1 | head -c 400)"
		return 0
	fi
	fail "$label: no such line in $(basename "$file") [$*]: $(ev explain "$file" "$@")"
}

# assert_event_n N LABEL FILE FILTER...: exactly N lines match (waiting for
# them to arrive, then checking no more than N did).
assert_event_n() {
	local n=$1 label=$2 file=$3 got
	shift 3
	[ "$n" -eq 0 ] || wait_until "${EV_WAIT:-5}" ev__has_n "$n" "$file" "$@"
	got=$(ev count "$file" "$@")
	if [ "$got" -eq "$n" ]; then
		bh_log "ok: $label ($n lines)"
		return 0
	fi
	if [ "$got" -eq 0 ]; then
		fail "$label: expected $n lines, got 0 [$*]: $(ev explain "$file" "$@")"
	else
		fail "$label: expected $n lines, got $got [$*]: $(ev lines "$file" "$@" | head -n 4)"
	fi
}

# assert_no_event LABEL FILE FILTER...: no line matches (now).
assert_no_event() {
	local label=$1 file=$2
	shift 2
	assert_event_n 0 "$label" "$file" "$@"
}

# assert_decision LABEL FILE TYPE REASON HOOK DST DPORT PROTO [FILTER...]: a
# deny decision of acme with these fields (and FILTERs) appears (assert_event).
assert_decision() {
	local label=$1 file=$2
	shift 2
	assert_event "$label" "$file" type="$1" verdict=deny reason="$2" hook="$3" dst="$4" \
		dport:="$5" proto="$6" partner=acme "${@:7}"
}

# stream_start NAME CGROUP ARGS...: `jitflow stream ARGS... STATE` in CGROUP
# (client namespace), state in $CASE_DIR/NAME.state, log in NAME.log; waits
# until it is connected (the case fails otherwise).
stream_start() {
	local name=$1 cg=$2 pid
	shift 2
	rm -f "$CASE_DIR/$name.state"
	in_cg_bg "$cg" "$JF" stream "$@" "$CASE_DIR/$name.state" >"$CASE_DIR/$name.log" 2>&1 </dev/null
	pid=$BH_BG_PID
	echo "$pid" >>"$CASE_DIR/server.pids"	# the case cleanup kills these
	eval "PID_$name=$pid"
	wait_until 5 bh__file_has "$CASE_DIR/$name.log" connect ||
		fail_now "jitflow stream $* did not start: $(cat "$CASE_DIR/$name.log")"
	bh__file_has "$CASE_DIR/$name.log" connected ||
		fail_now "jitflow stream $*: $(cat "$CASE_DIR/$name.log")"
}

# talk_start NAME PORT [udp]: `jitflow talk PORT` (UDP: `talk -u`, which talks to
# the sender of the first datagram, see `stream -r`) in the server namespace.
talk_start() {
	local name=$1 port=$2 proto=${3:-tcp} pid
	rm -f "$CASE_DIR/$name.state"
	set -- talk
	[ "$proto" = tcp ] || set -- talk -u
	nsenter --net="/run/netns/$NS_S" "$JF" "$@" "$port" "$CASE_DIR/$name.state" \
		>"$CASE_DIR/$name.log" 2>&1 </dev/null &
	pid=$!
	echo "$pid" >>"$CASE_DIR/server.pids"
	eval "PID_$name=$pid"
	wait_until 5 srv_listening "$NS_S" "$proto" "$port" ||
		fail_now "jitflow talk $port ($proto) did not listen: $(cat "$CASE_DIR/$name.log")"
}

# jf NAME FIELD: a field of NAME's state (see `jitflow get`).
jf() { "$JF" get "$CASE_DIR/$1.state" 2>/dev/null | sed -n "s/^$2=//p"; }
jf_ge() { local v; v=$(jf "$1" "$2"); [ -n "$v" ] && [ "$v" -ge "$3" ]; }
jf_is() { [ "$(jf "$1" "$2")" = "$3" ]; }
# jf_went_on NAME N: the flow issued line N, or it ended (a destroyed socket)
jf_went_on() { jf_ge "$1" issued "$2" || jf_is "$1" phase ended; }

# jf_stop NAME: SIGTERM the flow process and wait for it, so its state is final.
jf_stop() {
	local pid
	eval "pid=\${PID_$1:-}"
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	wait_until 5 bh_pid_dead "$pid" || kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

# mark NAMES -- CMD...: run CMD through `jitflow mark`; sets MARK_STATUS,
# MARK_ISSUED (comma-separated, one per NAME).
mark() {
	local names=$1 states="" n line
	shift 2
	for n in ${names//,/ }; do states="$states,$CASE_DIR/$n.state"; done
	"$JF" mark "${states#,}" -- "$@" >"$CASE_DIR/mark.out" 2>&1 </dev/null
	cat "$CASE_DIR/mark.out" >>"$CASE_DIR/cli.log"
	line=$(grep '^mark ' "$CASE_DIR/mark.out" | tail -n 1)
	[ -n "$line" ] || fail_now "jitflow mark printed no result: $(cat "$CASE_DIR/mark.out")"
	# shellcheck disable=SC2034  # for the caller
	MARK_STATUS=$(sed -E 's/.* status=([0-9]+).*/\1/' <<<"$line")
	# shellcheck disable=SC2034  # for the caller
	MARK_ISSUED=$(sed -E 's/.* issued=([0-9,]+).*/\1/' <<<"$line")
	bh_log "$line ($(sed -E 's/.* elapsed_ns=([0-9]+).*/\1/' <<<"$line" | awk '{ printf "%.1f", $1 / 1e6 }') ms)"
}

# rx_lines FILE / rx_max FILE: numbered lines a sink or udp server got.
rx_lines() { grep -cE '^[0-9]+$' "$1" 2>/dev/null; }
rx_max() { grep -E '^[0-9]+$' "$1" 2>/dev/null | sort -n | tail -n 1; }
rx_at_least() { [ "$(rx_lines "$1")" -ge "$2" ]; }

# status_json: `bulkhead status --json` of the case's pins.
status_json() { "$BULKHEAD" status --json --pin-dir "$PINDIR" 2>>"$CASE_DIR/cli.log"; }
# acme_count KIND NAME: a counter of acme (KIND verdicts or reasons).
acme_count() { status_json | jq -r ".partners[] | select(.partner==\"acme\") | .$1.$2"; }

# list_json: `bulkhead list --json`, the grants array; grant_field ID FIELD.
list_json() { "$BULKHEAD" list --json 2>>"$CASE_DIR/cli.log" | jq -c '.grants'; }
grant_field() { list_json | jq -r ".[] | select(.id==\"$1\") | .$2"; }

# assert_le ACTUAL BOUND LABEL: ACTUAL (empty: 0) <= BOUND.
assert_le() {
	if [ "${1:-0}" -le "$2" ]; then
		bh_log "ok: $3: ${1:-0} <= $2"
		return 0
	fi
	fail "$3: ${1:-0} > $2"
}

# now_past US: the wall clock is at or past US (µs since the epoch).
now_past() { [ "$(bh_now_us)" -ge "$1" ]; }

# RFC 3339 (UTC, microseconds) -> microseconds since the epoch.
ts_us() { date -u -d "$1" +%s%6N; }

# cut_at_expiry NAME RXFILE EXP_US: after the (stopped) stream NAME, every
# line the server got in RXFILE was issued before the expiry instant EXP_US
# (a 2 ms allowance for the wall clock of `expires` against the kernel's
# boot clock), without gaps. CUT_LATE: lines the client issued after it.
cut_at_expiry() {
	local name=$1 rx=$2 exp_us=$3 max t n
	max=$(rx_max "$rx")
	t=$(awk -v n="$max" '$1 == n { print $2 }' "$CASE_DIR/$name.log")
	CUT_LATE=$(awk -v e="$exp_us" '$2 ~ /^[0-9]+$/ && $2 > e + 2000 { n++ } END { print n + 0 }' "$CASE_DIR/$name.log")
	bh_log "server max line $max issued at $t, expiry at $exp_us ($(( t - exp_us )) us); $CUT_LATE lines issued after expiry"
	if [ -n "$t" ] && [ "$t" -le $((exp_us + 2000)) ]; then
		bh_log "ok: the server got nothing issued after the expiry"
	else
		fail "the server received line $max, issued at $t, after the expiry $exp_us"
	fi
	n=$(rx_lines "$rx")
	assert_eq "$max" "$n" "lines at the server are 1..max without gaps"
}

# ------------------------------------------------------------ case results

bh__record() {	# bh__record fail|skip MESSAGE (one line)
	local msg=${2//$'\n'/ \/ }
	printf '%s\n' "$msg" >>"$CASE_DIR/$1"
	bh_log "${1^^}: $msg"
}

# fail MSG: the case fails (and goes on). fail_now MSG: fails and stops.
fail() { bh__record fail "$*"; return 1; }
fail_now() { bh__record fail "$*"; exit 1; }

# skip MSG: the case cannot run here (a failure when CI=true).
skip() { bh__record skip "$*"; exit 0; }

# assert_eq EXPECTED ACTUAL LABEL
assert_eq() {
	if [ "$1" = "$2" ]; then
		bh_log "ok: $3 = '$2'"
		return 0
	fi
	fail "$3: expected '$1', got '$2'"
}

# assert_contains NEEDLE HAYSTACK LABEL
assert_contains() {
	case $2 in
	*"$1"*) bh_log "ok: $3 contains '$1'"; return 0 ;;
	esac
	fail "$3: '$1' not found in '$(printf '%s' "$2" | head -c 300)'"
}

# assert_file_has FILE NEEDLE LABEL [SECONDS]: wait for NEEDLE to appear in FILE.
assert_file_has() {
	if wait_until "${4:-5}" bh__file_has "$1" "$2"; then
		bh_log "ok: $3"
		return 0
	fi
	fail "$3: '$2' never reached $(basename "$1")"
}

# assert_file_lacks FILE NEEDLE LABEL
assert_file_lacks() {
	if ! bh__file_has "$1" "$2"; then
		bh_log "ok: $3"
		return 0
	fi
	fail "$3: '$2' reached $(basename "$1")"
}

# probe_in CGROUP_DIR ARGS...: run the probe there; print its word.
probe_in() {
	local cg=$1 out
	shift
	out=$(in_cg "$cg" "$BH_PROBE" "$@" 2>>"$CASE_DIR/probe.err")
	printf '%s\n' "${out:-<no output, status $?>}"
}

# A cgroup's name for messages: relative to the case's cgroup.
bh_cg_name() {
	case $1 in
	"$CASE_CG") echo "the case cgroup" ;;
	"$CASE_CG"/*) echo "${1#"$CASE_CG"/}" ;;
	*) echo "${1#"$BH_CG2"}" ;;
	esac
}

# assert_probe EXPECTED CGROUP_DIR ARGS...: the probe prints EXPECTED.
assert_probe() {
	local want=$1 cg=$2 got
	shift 2
	got=$(probe_in "$cg" "$@")
	assert_eq "$want" "$got" "probe $* from $(bh_cg_name "$cg")"
}

# --------------------------------------------------------------- case driver

# tcase NAME FUNCTION [NEEDS]: run FUNCTION as one case. NEEDS is "root"
# (default: cgroup, netns, daemon) or "bin" (only the bulkhead binary).
tcase() {
	local name=$1 fn=$2 needs=${3:-root} st dir n
	[ "$BH_INTERRUPTED" = 1 ] && return 0
	if [ -n "${BH_CASES:-}" ] && ! [[ $name =~ $BH_CASES ]]; then
		return 0
	fi
	BH_NCASE=$((BH_NCASE + 1))
	n=$BH_NCASE
	dir="$BH_TMP/case$n"
	mkdir -p "$dir"
	if ! bh_prereq "$needs"; then
		bh__result "$name" skip "$BH_PREREQ_MISSING"
		return 0
	fi
	if [ "${BH_VERBOSE:-0}" = 1 ]; then
		( bh__case_main "$name" "$fn" "$needs" "$n" "$dir" ) &
	else
		( bh__case_main "$name" "$fn" "$needs" "$n" "$dir" ) >"$dir/log" 2>&1 &
	fi
	BH_CASE_PID=$!
	while :; do
		wait "$BH_CASE_PID"
		st=$?
		kill -0 "$BH_CASE_PID" 2>/dev/null || break
	done
	BH_CASE_PID=""
	if [ -s "$dir/fail" ] || [ "$st" -ne 0 ]; then
		[ -s "$dir/fail" ] || echo "case exited with status $st" >"$dir/fail"
		bh__result "$name" fail "$(cat "$dir/fail")" "$dir"
	elif [ -s "$dir/skip" ]; then
		bh__result "$name" skip "$(head -n 1 "$dir/skip")"
	else
		bh__result "$name" pass
	fi
}

bh__result() {	# NAME pass|fail|skip [REASON [CASEDIR]]
	case $2 in
	pass) BH_NPASS=$((BH_NPASS + 1)); bh_log "PASS $1" ;;
	skip) if bh_is_ci; then
		      BH_NFAIL=$((BH_NFAIL + 1)); bh_log "FAIL $1: cannot run with CI=true: $3"
	      else
		      BH_NSKIP=$((BH_NSKIP + 1)); bh_log "SKIP $1: $3"
	      fi ;;
	fail) BH_NFAIL=$((BH_NFAIL + 1))
	      if [ "$(printf '%s\n' "$3" | wc -l)" -eq 1 ]; then
		      bh_log "FAIL $1: $3"
	      else
		      bh_log "FAIL $1:"
		      printf '%s\n' "$3" | sed 's/^/    - /'
	      fi
	      if [ -n "${4:-}" ] && [ "${BH_VERBOSE:-0}" != 1 ]; then
		      bh__show "$4/log" "case log"
		      bh__show "$4/bulkhead.err" "bulkhead stderr"
		      bh__show "$4/bulkhead.out" "bulkhead stdout"
		      bh__show "$4/probe.err" "probe stderr"
		      bh__show "$4/servers.log" "servers"
	      fi ;;
	esac
}

bh__show() {
	[ -s "$1" ] || return 0
	printf '    --- %s (last 20 lines)\n' "$2"
	tail -n 20 "$1" | sed 's/^/    | /'
}

# The case subshell.
bh__case_main() {
	local name=$1 fn=$2 needs=$3
	CASE_NAME=$name		# for the case functions
	export CASE_NAME
	CASE_N=$4
	CASE_DIR=$5
	LOGS="$CASE_DIR/logs"	# the daemon's --log-dir
	BH_DAEMON_PID=""
	BH_DAEMON_STARTED=0
	NS_C="" NS_S=""
	CASE_CG="" CASE_CG_REL="" PINDIR=""
	trap 'bh__case_cleanup' EXIT
	trap 'bh__record fail interrupted; exit 130' INT TERM HUP
	bh_log "=== case $CASE_N: $name ($(date -u +%H:%M:%S))"
	if [ "$needs" = root ]; then
		CASE_CG_REL="$BH_CG_RUN_REL/case$CASE_N"
		CASE_CG="$BH_CG2/$CASE_CG_REL"
		mkdir "$CASE_CG" || fail_now "cannot create cgroup $CASE_CG"
		PINDIR="$BH_PIN_RUN/case$CASE_N"
		mkdir "$PINDIR" || fail_now "cannot create pin dir $PINDIR"
		net_setup || fail_now "network setup failed"
	fi
	"$fn"
	local st=$?
	[ "$st" -eq 0 ] || [ -s "$CASE_DIR/fail" ] || fail "$fn returned $st"
	exit 0
}

bh__case_cleanup() {
	local st=$? ns
	trap '' INT TERM HUP
	if [ -n "${BH_DAEMON_PID:-}" ]; then
		bh_stop >/dev/null 2>&1
	fi
	if [ -n "$PINDIR" ] && [ -d "$PINDIR" ]; then
		if [ "$BH_DAEMON_STARTED" = 1 ] || [ -n "$(ls -A "$PINDIR" 2>/dev/null)" ]; then
			bh_down || bh_log "cleanup: bulkhead down failed: $(tail -n 2 "$CASE_DIR/down.log")"
		fi
		[ -z "$(ls -A "$PINDIR" 2>/dev/null)" ] ||
			bh_log "cleanup: pins left after down: $(find "$PINDIR" -mindepth 1 | tr '\n' ' ')"
		rm -rf "$PINDIR"
	fi
	# shellcheck disable=SC2046
	[ ! -s "$CASE_DIR/server.pids" ] || bh_kill_pids 3 $(cat "$CASE_DIR/server.pids")
	if [ -s "$CASE_DIR/netns" ]; then
		while read -r ns; do bh_netns_remove "$ns"; done <"$CASE_DIR/netns"
	fi
	[ -z "$CASE_CG" ] || bh_cg_remove "$CASE_CG"
	exit "$st"
}

# Kill whatever runs in network namespace NS, then delete it.
bh_netns_remove() {
	local ns=$1
	[ -e "/run/netns/$ns" ] || return 0
	# shellcheck disable=SC2046
	bh_kill_pids 3 $(ip netns pids "$ns" 2>/dev/null)
	ip netns del "$ns" 2>/dev/null || bh_log "warning: cannot delete netns $ns"
}

# ------------------------------------------------------------ run lifecycle

# Safety net for the whole run: whatever a case left (killed subshell, ...).
bh__run_cleanup() {
	local f pid ns dir
	for f in "$BH_TMP"/case*/daemon.pid; do
		[ -s "$f" ] || continue
		pid=$(cat "$f")
		# only if it still is our daemon: its command line names our pin dir
		if bh_pid_alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "--pin-dir $BH_PIN_RUN/"; then
			bh_kill_pids 10 "$pid"
		fi
	done
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
		case $ns in "$BH_NS_PREFIX"*) bh_netns_remove "$ns" ;; esac
	done
	[ -z "$BH_CG_RUN" ] || bh_cg_remove "$BH_CG_RUN"
	if [ -d "$BH_PIN_RUN" ]; then
		for dir in "$BH_PIN_RUN"/*; do
			[ -d "$dir" ] || continue
			if [ -n "$(ls -A "$dir")" ] && [ -x "$BULKHEAD" ]; then
				"$BULKHEAD" down --pin-dir "$dir" </dev/null >/dev/null 2>&1
			fi
			rm -rf "$dir"
		done
		rmdir "$BH_PIN_RUN" 2>/dev/null || bh_log "warning: could not remove $BH_PIN_RUN"
	fi
	# unmount the bpffs we mounted if nothing but its preload files is left
	if [ "$BH_MOUNTED_BPFFS" = 1 ] &&
	   [ -z "$(find "$BH_BPFFS" -mindepth 1 -maxdepth 1 ! -name '*.debug')" ]; then
		umount "$BH_BPFFS" 2>/dev/null
	fi
	if [ "${BH_KEEP_TMP:-0}" = 1 ]; then
		bh_log "logs kept in $BH_TMP"
	else
		rm -rf "$BH_TMP"
	fi
}

bh__on_signal() {
	BH_INTERRUPTED=1
	[ -z "$BH_CASE_PID" ] || kill -TERM "$BH_CASE_PID" 2>/dev/null
}

bh__on_exit() {
	local st=$?
	trap '' INT TERM HUP
	if [ -n "$BH_CASE_PID" ]; then
		kill -TERM "$BH_CASE_PID" 2>/dev/null
		wait "$BH_CASE_PID" 2>/dev/null
	fi
	if [ "$BH_INTERRUPTED" = 1 ]; then
		bh_log "interrupted"
		[ "$BH_NFAIL" -gt 0 ] || BH_NFAIL=1
	elif [ "$st" -ne 0 ] && [ "${BH_FINISHED:-0}" != 1 ]; then
		bh_log "FAIL $BH_SCRIPT: exited with status $st outside a case"
		BH_NFAIL=$((BH_NFAIL + 1))
	fi
	bh__run_cleanup
	if [ "$BH_NSKIP" -gt 0 ]; then
		bh_log "$BH_NPASS passed, $BH_NFAIL failed, $BH_NSKIP skipped"
	else
		bh_log "$BH_NPASS passed, $BH_NFAIL failed"
	fi
	[ "$BH_NFAIL" -eq 0 ] || exit 1
	exit "$st"
}

# bh_finish: end of a test file (cleanup and the summary run from the EXIT trap).
bh_finish() {
	BH_FINISHED=1
	exit 0
}

trap bh__on_exit EXIT
trap bh__on_signal INT TERM HUP
# a reader that went away (Ctrl-C on `... | tee`) must not kill us before
# cleanup: with a handler, writes fail with EPIPE instead
trap : PIPE
