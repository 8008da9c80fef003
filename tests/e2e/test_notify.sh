#!/usr/bin/env bash
# End-to-end tests of the systemd notify protocol (issue 17): `bulkhead run`
# with NOTIFY_SOCKET set to a datagram socket of the test's own (PID 1 need
# not be systemd). notify_listen.py plays the service manager: it freezes the
# daemon at its first READY=1, and the case checks that enforcement was in
# the kernel by then; then RELOADING=1 ... READY=1 around SIGHUP (also when
# the new file is bad), STATUS= with partners and grants, STOPPING=1.
# A probe's ECONNREFUSED means allowed: the connect passed the hooks and the
# server namespace (no listener on that port) refused it.

# Case functions are only called through tcase.
# shellcheck disable=SC2317
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

LISTEN=$(dirname "$(realpath "$0")")/notify_listen.py

# listen_start ADDR: the listener on ADDR, messages in $NLOG.
listen_start() {
	NLOG=$CASE_DIR/notify.jsonl
	python3 "$LISTEN" "$1" "$NLOG" "$CASE_DIR/frozen" "$CASE_DIR/go" "$CASE_DIR/stop" \
		2>"$CASE_DIR/listen.err" &
	LPID=$!
	wait_until 5 test -e "$NLOG.listening" || fail_now "notify listener did not start: $(cat "$CASE_DIR/listen.err")"
	export NOTIFY_SOCKET=$1
}
listen_stop() { touch "$CASE_DIR/stop" "$CASE_DIR/go"; wait "$LPID"; }

# msgs: the messages so far, one line each, newlines as '|'
msgs() { jq -r '.msg | rtrimstr("\n") | gsub("\n"; "|")' "$NLOG"; }
msg_count() { msgs | grep -c -- "$1"; }
# n_msgs N: at least N messages arrived
n_msgs() { [ "$(wc -l <"$NLOG")" -ge "$1" ]; }

proc_state() { awk '/^State:/ {print $2}' "/proc/$1/status"; }

notify_case() {
	local acme seq
	cg_new acme outside
	acme=$CASE_CG/acme
	policy_acme '[{"to": "10.20.0.5", "proto": "tcp", "ports": ["9000"]}]'
	listen_start "$1"
	bh_spawn "$POLICY"
	wait_until 10 test -e "$CASE_DIR/frozen" || fail_now "no READY=1 within 10 s: $(msgs) $(tail -n 3 "$CASE_DIR/bulkhead.err")"
	assert_eq "$BH_DAEMON_PID" "$(cat "$CASE_DIR/frozen")" "READY=1 sent by the main pid"
	assert_eq T "$(proc_state "$BH_DAEMON_PID")" "daemon frozen at READY=1"
	# with the daemon frozen at READY=1: the policy is in the kernel
	assert_probe EPERM "$acme" tcp-connect 10.1.2.3 80
	assert_probe EPERM "$acme" tcp-connect 10.20.0.5 9001
	assert_probe ECONNREFUSED "$CASE_CG/outside" tcp-connect 10.1.2.3 80
	"$BULKHEAD" status --pin-dir "$PINDIR" >"$CASE_DIR/status.out" 2>&1
	assert_eq 0 "$?" "bulkhead status exit status (programs attached) at READY=1"
	assert_eq "READY=1|STATUS=enforcing 1 partners, 1 grants ($PINDIR)" "$(msgs | head -n 1)" "first message"
	touch "$CASE_DIR/go"
	bh__is_ready || wait_until 5 bh__is_ready || fail "no 'ready' line after READY=1"

	# SIGHUP with a policy of two grants: RELOADING=1, then READY=1 with them
	policy_acme '[{"to": "10.20.0.5", "proto": "tcp", "ports": ["9000"]}, {"to": "10.1.2.3", "proto": "tcp"}]'
	kill -HUP "$BH_DAEMON_PID"
	wait_until 5 n_msgs 3 || fail_now "no RELOADING/READY after SIGHUP: $(msgs)"
	seq=$(msgs | sed -n 2,3p | sed -E 's/MONOTONIC_USEC=[0-9]+/MONOTONIC_USEC=N/' | tr '\n' ' ')
	assert_eq "RELOADING=1|MONOTONIC_USEC=N READY=1|STATUS=enforcing 1 partners, 2 grants ($PINDIR) " "$seq" "SIGHUP: RELOADING=1 then READY=1"
	assert_probe ECONNREFUSED "$acme" tcp-connect 10.1.2.3 80

	# a bad file: RELOADING=1, READY=1 saying so, the old policy stays
	echo '{"version": 1, "partners": {"acme": {"cgroups": [' >"$POLICY"
	kill -HUP "$BH_DAEMON_PID"
	wait_until 5 n_msgs 5 || fail_now "no RELOADING/READY after a bad SIGHUP: $(msgs)"
	seq=$(msgs | sed -n 4,5p | sed -E 's/MONOTONIC_USEC=[0-9]+/MONOTONIC_USEC=N/' | tr '\n' ' ')
	assert_eq "RELOADING=1|MONOTONIC_USEC=N READY=1|STATUS=enforcing 1 partners, 2 grants ($PINDIR); last reload failed: policy file has errors, running policy kept " "$seq" "bad SIGHUP: RELOADING=1 then READY=1 with the failure"
	assert_probe ECONNREFUSED "$acme" tcp-connect 10.1.2.3 80

	# a JIT grant over the control socket updates STATUS=
	cli grant acme --to 10.2.0.1 --proto tcp --ports all --ttl 5m
	assert_eq 0 "$CLI_ST" "grant exit status"
	wait_until 5 n_msgs 6 || fail_now "no STATUS= after a grant: $(msgs)"
	assert_eq "STATUS=enforcing 1 partners, 3 grants ($PINDIR)" "$(msgs | sed -n 6p)" "STATUS= after a grant"

	stop_ok
	wait_until 5 n_msgs 7 || fail "no STOPPING=1: $(msgs)"
	assert_eq "STOPPING=1" "$(msgs | tail -n 1)" "last message"
	assert_eq 3 "$(msg_count "^READY=1")" "READY=1 messages: start and two reloads"
	listen_stop
}

case_notify_path() { notify_case "$CASE_DIR/notify.sock"; }
case_notify_abstract() { notify_case "@bh-notify-$$-$RANDOM"; }

# A NOTIFY_SOCKET nobody listens on: a warning naming it, enforcement as before.
case_notify_absent() {
	cg_new acme
	policy_acme '[]'
	export NOTIFY_SOCKET=$CASE_DIR/nobody.sock
	bh_start "$POLICY"
	assert_probe EPERM "$CASE_CG/acme" tcp-connect 10.1.2.3 80
	assert_contains "notifying the service manager at $NOTIFY_SOCKET" "$(cat "$CASE_DIR/bulkhead.err")" "a warning names the socket"
	stop_ok
}

tcase notify_path_socket case_notify_path
tcase notify_abstract_socket case_notify_abstract
tcase notify_unreachable case_notify_absent
bh_finish
