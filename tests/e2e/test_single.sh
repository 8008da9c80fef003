#!/usr/bin/env bash
# End-to-end: one daemon a control socket (issue 13 item 3, first part). A
# second `bulkhead run` on the control socket of a live daemon, with its own
# pin directory, is refused naming the live daemon's pid, loads and pins
# nothing, and leaves the first daemon reachable; a socket left by a daemon
# killed with SIGKILL is reclaimed by the next one.
. "$(dirname "$0")/lib.sh"

case_second_same_control() {
	local other="$PINDIR.second" st
	cg_new acme
	policy_acme '[]'
	bh_start "$POLICY"
	timeout 20 "$BULKHEAD" run --policy "$POLICY" --pin-dir "$other" \
		--control "$BULKHEAD_CONTROL" </dev/null >"$CASE_DIR/second.out" 2>"$CASE_DIR/second.err"
	st=$?
	assert_eq 1 "$st" "second bulkhead run exit status"
	assert_eq 1 "$(grep -c "another bulkhead daemon (pid $BH_DAEMON_PID) is serving $BULKHEAD_CONTROL" \
		"$CASE_DIR/second.err")" "the refusal names the live daemon's pid"
	assert_eq no "$( [ -e "$other" ] && echo yes || echo no)" "nothing pinned in the second pin dir"
	cli list --json
	assert_eq 0 "$CLI_ST" "bulkhead list reaches the first daemon"
	assert_eq true "$(jq -r .ok <<<"$CLI_OUT")" "list ok"
	stop_ok
}

case_kill9_reclaims_socket() {
	cg_new acme
	policy_acme '[]'
	bh_start "$POLICY"
	kill -9 "$BH_DAEMON_PID"
	wait "$BH_DAEMON_PID" 2>/dev/null
	BH_DAEMON_PID=""
	assert_eq yes "$( [ -S "$BULKHEAD_CONTROL" ] && echo yes || echo no)" "stale socket left"
	bh_start "$POLICY"
	cli list --json
	assert_eq 0 "$CLI_ST" "bulkhead list reaches the restarted daemon"
	stop_ok
}

tcase second_daemon_same_control case_second_same_control
tcase kill9_reclaims_socket      case_kill9_reclaims_socket

bh_finish
