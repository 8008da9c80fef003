#!/usr/bin/env bash
# `make demo`: bulkhead containing one partner, end to end, on this machine only.
#
# Creates a partner cgroup, a client and a service network namespace joined by
# a veth pair (nothing leaves the machine), runs bulkhead on a built-in
# default policy, makes one granted request and one lateral-move attempt with
# curl, prints the JSON events, and removes everything it created, also on
# Ctrl-C or failure.
set -euo pipefail

BULKHEAD=${BULKHEAD:-$(cd "$(dirname "$0")/.." && pwd)/build/bulkhead}
# Everything the demo creates is named after TAG, so leftovers are easy to
# attribute: netns $TAG-cli/-svc, veth ${TAG}c/s, cgroup $TAG.slice, pins
# /sys/fs/bpf/$TAG, temp dir /tmp/bulkhead-$TAG.*
TAG=bhdemo$$
CLI_NS=$TAG-cli
SVC_NS=$TAG-svc
PIN=/sys/fs/bpf/$TAG
WORK=""
CG2=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
ROOT_REL=$TAG.slice
DAEMON_PID=

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# alive PID: the process runs (a zombie only waits to be reaped).
alive() { [ -r "/proc/$1/stat" ] && ! sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | grep -q '^[ZX]'; }

# stop_pids PID...: SIGTERM, then SIGKILL what still runs after 5 s; reap
# those that are our children.
stop_pids() {
	local p
	[ $# -gt 0 ] || return 0
	kill -TERM "$@" 2>/dev/null
	for p in "$@"; do
		for _ in $(seq 100); do alive "$p" || break; sleep 0.05; done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	return 0
}

# Remove everything the demo created. Runs with INT, TERM and HUP ignored (so
# also by the commands it runs: a second Ctrl-C cannot cut it short), and is
# idempotent: each step checks what is still there, so running it again, or
# from the middle of a first run, finishes the job.
cleanup() {
	trap '' INT TERM HUP
	set +e
	# our background jobs (the daemon, the servers), even one whose pid a
	# signal kept from reaching DAEMON_PID
	# shellcheck disable=SC2046
	stop_pids $(jobs -p)
	[ ! -d "$PIN" ] || "$BULKHEAD" down --pin-dir "$PIN" >/dev/null 2>&1 || rm -rf "$PIN"
	for ns in "$SVC_NS" "$CLI_NS"; do
		[ -e "/run/netns/$ns" ] || continue
		# shellcheck disable=SC2046
		stop_pids $(ip netns pids "$ns" 2>/dev/null)
		ip netns del "$ns"
	done
	if [ -n "$CG2" ] && [ -d "$CG2/$ROOT_REL" ]; then
		# shellcheck disable=SC2046
		stop_pids $(find "$CG2/$ROOT_REL" -name cgroup.procs -exec cat {} + 2>/dev/null)
		find "$CG2/$ROOT_REL" -depth -type d -exec rmdir {} + 2>/dev/null
	fi
	[ -z "$WORK" ] || rm -rf "$WORK"
}
# A signal runs the whole cleanup itself (with the signals already ignored)
# before exiting; the EXIT trap then finds nothing left to do.
on_signal() {
	trap '' INT TERM HUP
	say "interrupted: cleaning up" || true
	cleanup
	exit "$1"
}
trap cleanup EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM
trap 'on_signal 129' HUP
# A reader that went away (`make demo | head`) must not kill us before the
# cleanup: writes fail with EPIPE instead, and set -e ends the demo.
trap : PIPE

[ "$(id -u)" = 0 ] || { echo "demo: run as root (it creates cgroups and namespaces)" >&2; exit 1; }
[ -n "$CG2" ] || { echo "demo: no cgroup v2 hierarchy mounted" >&2; exit 1; }
[ -x "$BULKHEAD" ] || { echo "demo: $BULKHEAD not built (run make)" >&2; exit 1; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bulkhead-$TAG.XXXXXX")
CTL=$WORK/control.sock

say "setting up: cgroup $CG2/$ROOT_REL/acme, namespaces $CLI_NS and $SVC_NS"
mkdir -p "$CG2/$ROOT_REL/acme"
ip netns add "$CLI_NS"
ip netns add "$SVC_NS"
# created inside the namespaces: nothing of the demo is ever in the host's
ip link add "${TAG}c" netns "$CLI_NS" type veth peer name "${TAG}s" netns "$SVC_NS"
nsexec() { local ns=$1; shift; nsenter --net="/run/netns/$ns" "$@"; }
nsexec "$CLI_NS" ip addr add 10.250.0.1/24 dev "${TAG}c"
nsexec "$SVC_NS" ip addr add 10.250.0.2/24 dev "${TAG}s"   # billing API (granted)
nsexec "$SVC_NS" ip addr add 10.250.0.3/24 dev "${TAG}s"   # database next door (not granted)
for ns in "$CLI_NS" "$SVC_NS"; do
	nsexec "$ns" ip link set lo up
	nsexec "$ns" ip link set "${TAG}${ns: -3:1}" up
done

http_server() { # ns addr port body
	printf 'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n%s\n' "$4" > "$WORK/resp-$3"
	# a job of this shell itself (nsenter execs socat), so cleanup can stop it
	nsenter --net="/run/netns/$1" socat "TCP-LISTEN:$3,bind=$2,fork,reuseaddr" "SYSTEM:cat $WORK/resp-$3" &
}
http_server "$SVC_NS" 10.250.0.2 8443 "billing api: ok"
http_server "$SVC_NS" 10.250.0.3 5432 "database: you should not see this"
for port in 8443 5432; do
	for _ in $(seq 100); do
		nsexec "$SVC_NS" ss -Hltn "sport = :$port" | grep -q . && break
		sleep 0.05
	done
done

say "built-in demo policy"
cat > "$WORK/policy.json" <<EOF
{
  "version": 1,
  "partner_root": "$ROOT_REL",
  "never": ["169.254.169.254/32"],
  "partners": {
    "acme": {
      "cgroups": ["$ROOT_REL/acme"],
      "mode": "enforce",
      "allow": [
        {"to": "10.250.0.2/32", "proto": "tcp", "ports": ["8443"], "purpose": "billing api"}
      ]
    }
  }
}
EOF
cat "$WORK/policy.json"

say "bulkhead run"
mkdir -p "$WORK/logs"
"$BULKHEAD" run --policy "$WORK/policy.json" --pin-dir "$PIN" --log-dir "$WORK/logs" \
	--control "$CTL" --flow-interval 1 > "$WORK/daemon.out" 2> "$WORK/daemon.err" &
DAEMON_PID=$!
for _ in $(seq 100); do
	grep -q '^ready$' "$WORK/daemon.out" 2>/dev/null && break
	kill -0 "$DAEMON_PID" 2>/dev/null || { cat "$WORK/daemon.err" >&2; exit 1; }
	sleep 0.05
done
grep -q '^ready$' "$WORK/daemon.out" || { echo "demo: daemon not ready" >&2; cat "$WORK/daemon.err" >&2; exit 1; }
cat "$WORK/daemon.err"

as_partner() { # run a command as the partner: in its cgroup, in the client namespace
	nsexec "$CLI_NS" sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$CG2/$ROOT_REL/acme" "$@"
}

say "1. acme calls its billing API (granted): curl http://10.250.0.2:8443/"
as_partner curl -sS --max-time 3 http://10.250.0.2:8443/ || true

say "2. acme tries the database next door (lateral move): curl http://10.250.0.3:5432/"
echo "(connect() fails at once with EPERM: the kernel refused it; the event below says why)"
as_partner curl -sS --max-time 3 http://10.250.0.3:5432/ || true

say "3. acme tries the cloud metadata service (never list): curl http://169.254.169.254/"
as_partner curl -sS --max-time 3 http://169.254.169.254/ || true

# wait until the events are on disk (the daemon flushes every batch)
for _ in $(seq 100); do
	[ "$(cat "$WORK"/logs/acme.jsonl 2>/dev/null | grep -c '"verdict":"deny"')" -ge 2 ] && break
	sleep 0.05
done

say "events: $WORK/logs/acme.jsonl"
cat "$WORK/logs/acme.jsonl"
say "events: $WORK/logs/host.jsonl"
cat "$WORK/logs/host.jsonl"
say "bulkhead status"
"$BULKHEAD" status --pin-dir "$PIN"
say "cleaning up (cgroups, namespaces, pins)"
