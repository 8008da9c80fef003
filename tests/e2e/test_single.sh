#!/usr/bin/env bash
# End-to-end: one daemon a control socket and a pin directory (issue 13
# item 3). A second `bulkhead run` on the control socket of a live daemon
# (its own pin directory), or on its pin directory (its own control socket),
# is refused naming the live daemon's pid, loads and pins nothing, and
# leaves the first daemon reachable; the socket and locks left by a daemon
# killed with SIGKILL are reclaimed by the next one. The control socket's
# limits: malformed JSON, a request too large, a client that sends nothing
# and one that sends a byte a second each get an exact error, and meanwhile
# the daemon writes events and answers other clients.
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

case_second_same_pindir() {
	local st
	cg_new acme
	policy_acme '[]'
	bh_start "$POLICY"
	timeout 20 "$BULKHEAD" run --policy "$POLICY" --pin-dir "$PINDIR" \
		--control "$CASE_DIR/second.sock" --log-dir "$CASE_DIR/second-logs" </dev/null \
		>"$CASE_DIR/second.out" 2>"$CASE_DIR/second.err"
	st=$?
	assert_eq 1 "$st" "second bulkhead run exit status"
	assert_eq 1 "$(grep -c "another bulkhead daemon (pid $BH_DAEMON_PID) holds the pin directory $PINDIR: stop it first, or give this one its own --pin-dir" \
		"$CASE_DIR/second.err")" "the refusal names the live daemon's pid"
	assert_eq no "$( [ -e "$CASE_DIR/second.sock" ] && echo yes || echo no)" "the second daemon never listened"
	cli list --json
	assert_eq 0 "$CLI_ST" "bulkhead list reaches the first daemon"
	assert_eq true "$(jq -r .ok <<<"$CLI_OUT")" "list ok"
	stop_ok
}

# A daemon killed with SIGKILL leaves its pins, its socket and the lock files:
# the next daemon on the same pin directory, with another control socket,
# starts (the kernel dropped the dead daemon's locks) and adopts the pins.
case_kill9_reclaims_pindir() {
	local first_control
	cg_new acme
	policy_acme '[]'
	bh_start "$POLICY"
	first_control=$BULKHEAD_CONTROL
	bh_kill9
	assert_eq yes "$( [ -e "$first_control.lock" ] && echo yes || echo no)" "lock file left"
	bh_start "$POLICY" --control "$CASE_DIR/other.sock"
	BULKHEAD_CONTROL=$CASE_DIR/other.sock cli list --json
	assert_eq 0 "$CLI_ST" "bulkhead list reaches the restarted daemon"
	assert_event "the restarted daemon adopted the pins" "$LOGS/host.jsonl" type=lifecycle event=adopt
	stop_ok
}

CTL_CLIENT=$BH_SRC_ROOT/tests/e2e/ctl_client.py
CTL_TIMEOUT='{"ok":false,"error":"bad request: timed out: no complete request within 5000 ms (a request is one JSON object on one line)"}'

# ctl NAME MODE ARGS...: tests/e2e/ctl_client.py on the case's socket; the
# reply in $CASE_DIR/NAME.reply, "reply_at=... sent=..." in NAME.err.
ctl() {
	local name=$1
	shift
	python3 "$CTL_CLIENT" "$BULKHEAD_CONTROL" "$@" >"$CASE_DIR/$name.reply" 2>"$CASE_DIR/$name.err"
}
ctl_at() { sed -n 's/^reply_at=\([0-9.]*\) .*/\1/p' "$CASE_DIR/$1.err"; }
ctl_sent() { sed -n 's/.* sent=\([0-9]*\)$/\1/p' "$CASE_DIR/$1.err"; }
# earlier A B: epoch seconds A < B
earlier() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && b != "" && a < b) }'; }

case_bad_requests() {
	cg_new acme
	policy_acme '[]'
	bh_start "$POLICY"
	ctl notjson send $'not json\n'
	assert_eq '{"ok":false,"error":"bad request: not JSON: line 1, column 3: '"'"'['"'"' or '"'"'{'"'"' expected near '"'"'not'"'"' (a request is one JSON object on one line)"}' \
		"$(cat "$CASE_DIR/notjson.reply")" "malformed JSON"
	ctl cut send '{"op": "list"'
	assert_eq '{"ok":false,"error":"bad request: not JSON: line 1, column 13: '"'"'}'"'"' expected near end of file (a request is one JSON object on one line)"}' \
		"$(cat "$CASE_DIR/cut.reply")" "JSON cut short (EOF without a newline)"
	ctl array send $'[1]\n'
	assert_eq '{"ok":false,"error":"bad request: a JSON object expected, not an array (a request is one JSON object on one line)"}' \
		"$(cat "$CASE_DIR/array.reply")" "not an object"
	ctl big big $((16 * 1024 * 1024 + 4096))
	assert_eq '{"ok":false,"error":"bad request: longer than 16777216 bytes (a request is one JSON object on one line)"}' \
		"$(cat "$CASE_DIR/big.reply")" "a request over 16 MiB"
	cli list --json
	assert_eq 0 "$CLI_ST" "the daemon still answers"
	stop_ok
}

# One client connects and sends nothing, one sends a request a byte a
# second: while both wait, denied connects of acme are written and `list`
# is answered; each stuck client then gets the timeout error.
case_stuck_clients() {
	local acme="$CASE_CG/acme" silent drip t_list t_event i
	cg_new acme
	policy_acme '[]'
	bh_start "$POLICY"
	ctl silent silent &
	silent=$!
	ctl drip drip '{"op": "list"}'$'\n' &
	drip=$!
	wait_until 5 test -S "$BULKHEAD_CONTROL"
	for i in 1 2 3; do
		cli list --json
		assert_eq 0 "$CLI_ST" "list $i answered while two clients are stuck"
	done
	t_list=$(date +%s.%N)
	for i in 1 2 3; do
		assert_probe EPERM "$acme" tcp-connect 10.1.2.$i 80
		assert_event "denied connect $i written while two clients are stuck" "$LOGS/acme.jsonl" \
			type=connect verdict=deny reason=no_grant dst=10.1.2.$i dport:=80
	done
	t_event=$(date +%s.%N)
	wait "$silent"
	wait "$drip"
	assert_eq "$CTL_TIMEOUT" "$(cat "$CASE_DIR/silent.reply")" "the silent client's reply"
	assert_eq "$CTL_TIMEOUT" "$(cat "$CASE_DIR/drip.reply")" "the dripping client's reply"
	earlier "$t_list" "$(ctl_at silent)" && bh_log "ok: lists answered before the silent client's timeout" ||
		fail "the lists were answered only after the silent client timed out ($t_list, $(ctl_at silent))"
	earlier "$t_event" "$(ctl_at drip)" && bh_log "ok: events written before the dripping client's timeout" ||
		fail "the events came only after the dripping client timed out ($t_event, $(ctl_at drip))"
	assert_le "$(ctl_sent drip)" 7 "bytes the dripping client sent before its timeout"
	assert_file_has "$CASE_DIR/bulkhead.err" "sent no complete request within 5000 ms (0 bytes): refused" \
		"the daemon logs the silent client"
	stop_ok
}

# CLI mistakes name the option (checked before anything is sent: no daemon
# is needed), not a position in a JSON text the user never wrote.
case_cli_option_errors() {
	local args want
	while IFS='|' read -r args want; do
		# shellcheck disable=SC2086  # args: words
		cli $args --control "$CASE_DIR/none.sock"
		assert_eq "2 $want" "$CLI_ST $CLI_ERR" "bulkhead $args"
	done <<'EOF'
grant acme --to 10.0.0.1 --ttl 0s|bulkhead grant: --ttl: "0s" must be positive
grant acme --to 10.0.0.1 --ttl 99999d|bulkhead grant: --ttl: "99999d" too long: at most 100 years ("36525d"); for a grant with no end, give neither ttl nor expires
grant acme --to 10.0.0.1/33 --ttl 1h|bulkhead grant: --to: prefix length /33 out of range (0-32) in "10.0.0.1/33"
grant acme --to 10.0.0.1 --ttl 1h --ports 80,0|bulkhead grant: --ports: port 0 out of range (1-65535)
grant acme --to 10.0.0.1 --ttl 1h --proto sctp|bulkhead grant: --proto: unknown protocol "sctp" (tcp, udp, icmp or any)
revoke acme --to 10.0.0.300|bulkhead revoke: --to: bad address "10.0.0.300": expected an IPv4 or IPv6 address or CIDR
EOF
}

tcase second_daemon_same_control case_second_same_control
tcase kill9_reclaims_socket      case_kill9_reclaims_socket
tcase second_daemon_same_pindir  case_second_same_pindir
tcase kill9_reclaims_pindir      case_kill9_reclaims_pindir
tcase bad_requests               case_bad_requests
tcase stuck_clients              case_stuck_clients
tcase cli_option_errors          case_cli_option_errors

bh_finish
