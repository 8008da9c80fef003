#!/usr/bin/env bash
# End-to-end tests of just-in-time grants and instant revocation (issue 4):
# revocation of established TCP and UDP flows (egress, and the replies on
# ingress), the default destruction of their sockets, kernel-enforced expiry,
# a narrowing `apply`, atomic reload (SIGHUP and `apply`) with a broken file,
# kill -9 and adoption of the pinned state, the root-only control socket, and
# a remembered revocation of a policy-file grant. See lib.sh for the harness
# (fresh cgroup, namespaces, pin dir and control socket per case).
#
# Long-lived flows come from tests/probe/jitflow.c (built by lib.sh's jit_prereq):
# `jitflow stream` sends numbered lines "1\n", "2\n", ... every 20 ms and
# stores the number of each line in a shared state file *before* handing it
# to send(); `jitflow mark STATE -- bulkhead revoke ...` runs the CLI and reads
# that number the instant the CLI has exited. So every line the client sent
# after `revoke` returned has a number above the mark, and the server may hold
# nothing above it. Lines at or below the mark may or may not arrive (those in
# flight when the kernel switched are dropped too).
#
# The daemon destroys (sock_diag SOCK_DESTROY) the sockets a revocation,
# narrowing or expiry cut off, after the kernel already drops their packets;
# `run --no-destroy` leaves them to the datapath alone. The cases that prove
# the kernel drop itself (the next packet, egress and ingress) run with
# --no-destroy; revoke_destroys_sockets, ttl_expiry and apply_removes_grant
# run with the default and check what the applications see.
#
# JSON (events, `--json` outputs) is read with jq.

# Case functions are only called through tcase.
# shellcheck disable=SC2317
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

# ------------------------------------------------------------------ helpers

# Shared with the other files (jitflow flows, jq event queries, the CLI): lib.sh.

# start [RUN ARGS...]: jit_start (lib.sh): acme and a control cgroup, the daemon.
start() { jit_start "$@"; }

# The id of acme's first policy-file grant (derived from its content).
policy_gid() { list_json | jq -r '[.[] | select(.source=="policy")][0].id'; }

# ------------------------------------------------------------------- cases

# 1. An established TCP stream on a just-in-time grant: once `bulkhead revoke`
# has returned, the server gets nothing the client sends; the kernel drops
# every packet (--no-destroy: the socket lives on, the client keeps writing).
case_revoke_tcp() {
	local id S max n issued
	policy_acme '[{"to": "10.1.2.3", "proto": "tcp", "ports": ["80"]}]'
	srv_start sink 9000 "$CASE_DIR/tcp.rx"
	start --no-destroy
	assert_probe EPERM "$ACME" tcp-connect 10.20.0.5 9000

	cli grant acme --to 10.20.0.5 --proto tcp --ports 9000 --ttl 10m --purpose "case revoke-tcp" --json
	assert_eq 0 "$CLI_ST" "bulkhead grant exit status"
	id=$(jq -r '.grant.id' <<<"$CLI_OUT")
	assert_eq acme/j1 "$id" "id of the first just-in-time grant"
	stream_start c "$ACME" tcp 10.20.0.5 9000
	wait_until 5 rx_at_least "$CASE_DIR/tcp.rx" 10 ||
		fail_now "the granted stream delivered $(rx_lines "$CASE_DIR/tcp.rx") lines in 5 s"
	assert_event "the stream was allowed by the just-in-time grant" "$LOGS/acme.jsonl" \
		type=flow phase=new grant.id=acme/j1 dport:=9000

	mark c -- "$BULKHEAD" revoke acme --grant "$id"
	assert_eq 0 "$MARK_STATUS" "bulkhead revoke exit status"
	S=$MARK_ISSUED
	# the client goes on writing; half a second of lines after the return
	wait_until 5 jf_ge c issued $((S + 25)) ||
		fail "the client stopped writing after the revoke: $(jf c phase) $(jf c end_err)"
	EV_WAIT=10 assert_decision "packet event: deny, reason revoked, hook egress" "$LOGS/acme.jsonl" \
		packet revoked egress 10.20.0.5 9000 tcp
	jf_stop c
	issued=$(jf c issued)
	max=$(rx_max "$CASE_DIR/tcp.rx")
	n=$(rx_lines "$CASE_DIR/tcp.rx")
	bh_log "client issued $issued lines, $S before revoke returned; the server got $n, the last $max"
	if [ "${max:-0}" -le "$S" ]; then
		bh_log "ok: nothing sent after revoke returned reached the server (max $max <= $S)"
	else
		fail "the server received line $max, sent after revoke returned (the client had issued $S when it returned)"
	fi
	assert_eq "$max" "$n" "lines at the server are 1..max without gaps"
	[ "$issued" -gt "$S" ] || fail "the client sent nothing after revoke returned ($issued <= $S)"
	assert_eq "connected none" "$(jf c phase) $(jf c end_err)" "client socket with --no-destroy (alive, no error)"
	assert_eq 0 "$(ev_count "$LOGS/host.jsonl" action=sockets-destroyed)" "sockets-destroyed events with --no-destroy"
	assert_event "alert what revoked in acme.jsonl" "$LOGS/acme.jsonl" \
		type=alert what=revoked dst=10.20.0.5 dport:=9000
	assert_event "alert what revoked in host.jsonl" "$LOGS/host.jsonl" \
		type=alert what=revoked partner=acme
	assert_event "policy event revoke naming the caller and acme/j1" "$LOGS/host.jsonl" \
		type=policy action=revoke partner=acme caller.uid:=0 caller.comm=bulkhead revoked.#:=1 revoked.0.id=acme/j1
	assert_event "policy event revoke in acme.jsonl" "$LOGS/acme.jsonl" \
		type=policy action=revoke revoked.0.id=acme/j1
	assert_probe EPERM "$ACME" tcp-connect 10.20.0.5 9000
	assert_eq "" "$(grant_field acme/j1 id)" "acme/j1 no longer listed"
	[ "$(acme_count reasons revoked)" -ge 1 ] ||
		fail "bulkhead status: acme's revoked counter is $(acme_count reasons revoked)"
	stop_ok
}

# 2. The same for a connected UDP flow granted by the policy file: every send
# after the revoke fails with EPERM (the egress drop), nothing arrives.
case_revoke_udp() {
	local S max issued sent nerr
	policy_acme '[{"id": "dns", "to": "10.20.0.5", "proto": "udp", "ports": ["5353"], "purpose": "dns"},
                {"id": "web", "to": "10.1.2.3", "proto": "tcp", "ports": ["80"]}]'
	srv_start udp 5353 "$CASE_DIR/udp.rx"
	srv_start echo 80
	start --no-destroy
	stream_start c "$ACME" udp 10.20.0.5 5353
	wait_until 5 rx_at_least "$CASE_DIR/udp.rx" 10 ||
		fail_now "the granted UDP flow delivered $(rx_lines "$CASE_DIR/udp.rx") datagrams in 5 s"
	assert_eq "live" "$(grant_field acme/dns state)" "acme/dns (the udp grant) state before"

	mark c -- "$BULKHEAD" revoke acme --grant acme/dns --yes
	assert_eq 0 "$MARK_STATUS" "bulkhead revoke exit status"
	S=$MARK_ISSUED
	wait_until 5 jf_ge c issued $((S + 25)) || fail "the client stopped sending after the revoke"
	EV_WAIT=10 assert_decision "packet event: deny, reason revoked, hook egress" "$LOGS/acme.jsonl" \
		packet revoked egress 10.20.0.5 5353 udp
	jf_stop c
	issued=$(jf c issued) sent=$(jf c sent) nerr=$(jf c nerr)
	max=$(rx_max "$CASE_DIR/udp.rx")
	bh_log "client issued $issued, last accepted by send() $sent, $nerr failed; $S issued when revoke returned; server max $max"
	if [ "${max:-0}" -le "$S" ]; then
		bh_log "ok: no datagram sent after revoke returned reached the server (max $max <= $S)"
	else
		fail "the server received datagram $max, sent after revoke returned (mark $S)"
	fi
	[ "$sent" -le "$S" ] || fail "send() accepted datagram $sent after revoke returned (mark $S)"
	[ "$nerr" -ge $((issued - S)) ] || fail "only $nerr sends failed, $((issued - S)) were made after the revoke"
	assert_eq "EPERM EPERM" "$(jf c first_err) $(jf c last_err)" "errno of the first and last sends the kernel dropped"
	assert_event "alert what revoked" "$LOGS/acme.jsonl" type=alert what=revoked dport:=5353
	assert_eq revoked "$(grant_field acme/dns state)" "acme/dns state after revoke"
	assert_eq live "$(grant_field acme/web state)" "acme/web (not revoked) state"
	assert_probe EPERM "$ACME" udp-connect-send 10.20.0.5 5353
	assert_probe ok "$ACME" tcp-connect 10.1.2.3 80
	stop_ok
}

# 3. Replies dropped: a server that keeps talking to the client; after the
# revoke nothing it sends reaches the client application (dropped on ingress;
# --no-destroy, so the socket is there to receive).
case_revoke_replies() {
	local S_srv max srv_issued
	policy_acme '[{"to": "10.1.2.3", "proto": "tcp", "ports": ["80"]}]'
	start --no-destroy
	talk_start srv 9100
	cli grant acme --to 10.20.0.5/32 --proto tcp --ports 9100 --ttl 10m --json
	assert_eq 0 "$CLI_ST" "bulkhead grant exit status"
	stream_start c "$ACME" -q -r tcp 10.20.0.5 9100
	wait_until 5 jf_ge c recv_max 10 || fail_now "the client received $(jf c recv_max) server lines in 5 s"

	mark srv,c -- "$BULKHEAD" revoke acme --to 10.20.0.5/32
	assert_eq 0 "$MARK_STATUS" "bulkhead revoke exit status"
	S_srv=${MARK_ISSUED%%,*}
	wait_until 5 jf_ge srv issued $((S_srv + 25)) || fail "the server stopped sending after the revoke"
	EV_WAIT=15 assert_decision "packet event: deny, reason revoked, hook ingress" "$LOGS/acme.jsonl" \
		packet revoked ingress 10.20.0.5 9100 tcp
	jf_stop c
	jf_stop srv
	max=$(jf c recv_max) srv_issued=$(jf srv issued)
	bh_log "server issued $srv_issued lines, $S_srv when revoke returned; the client application got up to $max"
	if [ "$max" -le "$S_srv" ]; then
		bh_log "ok: nothing the server sent after revoke returned reached the client ($max <= $S_srv)"
	else
		fail "the client application received server line $max, sent after revoke returned (mark $S_srv)"
	fi
	[ "$srv_issued" -gt "$S_srv" ] || fail "the server sent nothing after the revoke"
	assert_event "alert what revoked for the ingress drop" "$LOGS/acme.jsonl" \
		type=alert what=revoked hook=ingress
	stop_ok
}

# 3b. The default: the kernel drops the flows at once and the daemon then
# destroys their sockets, so applications see ECONNABORTED instead of hanging.
# One grant, three flows: a TCP stream, a connected UDP flow, a TCP reader of
# a talking server; one revoke.
case_revoke_destroys() {
	local S_tcp S_udp S_srv
	policy_acme '[{"to": "10.1.2.3", "proto": "tcp", "ports": ["80"]}]'
	srv_start sink 9000 "$CASE_DIR/tcp.rx"
	srv_start udp 5353 "$CASE_DIR/udp.rx"
	start
	talk_start srv 9100
	cli grant acme --to 10.20.0.5 --proto any --ports 9000,9100,5353 --ttl 10m --json
	assert_eq 0 "$CLI_ST" "bulkhead grant exit status"
	stream_start t "$ACME" tcp 10.20.0.5 9000
	stream_start u "$ACME" udp 10.20.0.5 5353
	stream_start r "$ACME" -q -r tcp 10.20.0.5 9100
	wait_until 5 rx_at_least "$CASE_DIR/tcp.rx" 10 || fail_now "the TCP stream did not get going"
	wait_until 5 rx_at_least "$CASE_DIR/udp.rx" 10 || fail_now "the UDP flow did not get going"
	wait_until 5 jf_ge r recv_max 10 || fail_now "the reader did not get going"

	mark t,u,srv -- "$BULKHEAD" revoke acme --grant acme/j1
	assert_eq 0 "$MARK_STATUS" "bulkhead revoke exit status"
	IFS=, read -r S_tcp S_udp S_srv <<<"$MARK_ISSUED"
	assert_event "policy event sockets-destroyed, cause revoke, count 3" "$LOGS/host.jsonl" \
		type=policy action=sockets-destroyed cause=revoke count:=3 result=ok
	wait_until 5 jf_is t phase ended
	assert_eq "ended ECONNABORTED" "$(jf t phase) $(jf t end_err)" "TCP writer: its socket was destroyed"
	wait_until 5 jf_is r phase ended
	assert_eq ECONNABORTED "$(jf r end_err)" "TCP reader: error seen by the application"
	# the UDP socket is disconnected by the destroy: later sends fail
	wait_until 5 jf_ge u issued $((S_udp + 10)) || fail "the UDP client stopped"
	jf_stop t
	jf_stop u
	jf_stop r
	jf_stop srv
	assert_le "$(rx_max "$CASE_DIR/tcp.rx")" "$S_tcp" "last line at the TCP server (<= mark at revoke return)"
	assert_le "$(rx_max "$CASE_DIR/udp.rx")" "$S_udp" "last datagram at the UDP server (<= mark at revoke return)"
	assert_le "$(jf u sent)" "$S_udp" "last datagram send() accepted (<= mark at revoke return)"
	[ "$(jf u nerr)" -ge $(( $(jf u issued) - S_udp )) ] ||
		fail "only $(jf u nerr) UDP sends failed, $(( $(jf u issued) - S_udp )) were made after the revoke"
	bh_log "UDP client: first error $(jf u first_err), last $(jf u last_err)"
	assert_le "$(jf r recv_max)" "$S_srv" "last server line the reader application got (<= server mark at revoke return)"
	stop_ok
}

# 4. ttl 2s: allowed at once, the established flow works until the kernel's
# expiry instant and is dead after it; new connects: EPERM, reason expired.
# ttl_expiry: the default, the daemon also destroys the socket (within its
# one-second expiry check); ttl_expiry_kernel_only: --no-destroy, the client
# keeps writing after the expiry and the kernel alone drops every line.
ttl_case() {
	local mode=$1 exp exp_us now
	policy_acme '[{"to": "10.1.2.3", "proto": "tcp", "ports": ["80"]}]'
	srv_start sink 9000 "$CASE_DIR/tcp.rx"
	srv_start echo 9001
	if [ "$mode" = kernel-only ]; then start --no-destroy; else start; fi
	assert_probe EPERM "$ACME" tcp-connect 10.20.0.5 9001

	cli grant acme --to 10.20.0.5 --proto tcp --ports 9000,9001 --ttl 2s --json
	assert_eq 0 "$CLI_ST" "bulkhead grant --ttl 2s exit status"
	assert_probe ok "$ACME" tcp-connect 10.20.0.5 9001
	stream_start c "$ACME" tcp 10.20.0.5 9000
	exp=$(grant_field acme/j1 expires)
	if [ -z "$exp" ] || [ "$exp" = null ]; then
		fail_now "bulkhead list --json shows no expires for acme/j1"
	fi
	exp_us=$(ts_us "$exp")
	assert_eq live "$(grant_field acme/j1 state)" "acme/j1 state before expiry"
	# working before expiry: lines arrive while the grant lives
	wait_until 1 rx_at_least "$CASE_DIR/tcp.rx" 5
	now=$(bh_now_us)
	if rx_at_least "$CASE_DIR/tcp.rx" 5 && [ "$now" -lt "$exp_us" ]; then
		bh_log "ok: $(rx_lines "$CASE_DIR/tcp.rx") lines arrived, $(( (exp_us - now) / 1000 )) ms before expiry"
	else
		fail "the flow did not carry 5 lines before the expiry ($(rx_lines "$CASE_DIR/tcp.rx") lines)"
	fi
	# poll (not sleep) until the expiry instant has passed, plus half a second
	wait_until 5 now_past $((exp_us + 500000))
	EV_WAIT=10 assert_decision "packet event: deny, reason expired, hook egress, grant acme/j1" "$LOGS/acme.jsonl" \
		packet expired egress 10.20.0.5 9000 tcp grant.id=acme/j1
	if [ "$mode" = kernel-only ]; then
		assert_eq "connected none" "$(jf c phase) $(jf c end_err)" "client socket with --no-destroy (alive, no error)"
	else
		# the daemon notices the expiry within its one-second check
		wait_until 5 jf_is c phase ended
		assert_eq "ended ECONNABORTED" "$(jf c phase) $(jf c end_err)" \
			"client socket after the expiry (destroyed: the application sees ECONNABORTED)"
		assert_event "policy event sockets-destroyed, cause expiry, count 1" "$LOGS/host.jsonl" \
			type=policy action=sockets-destroyed cause=expiry count:=1 result=ok
	fi
	jf_stop c
	cut_at_expiry c "$CASE_DIR/tcp.rx" "$exp_us"
	if [ "$mode" = kernel-only ] && [ "$CUT_LATE" -le 10 ]; then
		fail "the client sent only $CUT_LATE lines after the expiry"
	fi

	assert_probe EPERM "$ACME" tcp-connect 10.20.0.5 9001
	assert_decision "connect event: deny, reason expired, grant acme/j1" "$LOGS/acme.jsonl" \
		connect expired connect 10.20.0.5 9001 tcp grant.id=acme/j1
	assert_eq expired "$(grant_field acme/j1 state)" "acme/j1 state in bulkhead list --json"
	assert_eq "$exp" "$(grant_field acme/j1 expires)" "acme/j1 expires unchanged"
	stop_ok
}
case_ttl_expiry() { ttl_case default; }
case_ttl_expiry_kernel_only() { ttl_case kernel-only; }

# 5. SIGHUP with a broken policy file: an error event naming FILE:LINE:COL,
# the old grants stay enforced. Then `apply` of a bad and of a good file.
case_reload_broken() {
	local good="$CASE_DIR/good.json" bad="$CASE_DIR/bad.json" n0
	policy_acme '[{"to": "10.20.0.5", "proto": "tcp", "ports": ["9000"]}]'
	srv_start echo 9000
	srv_start echo 80
	start
	assert_probe ok "$ACME" tcp-connect 10.20.0.5 9000
	assert_probe EPERM "$ACME" tcp-connect 10.1.2.3 80
	assert_probe ok "$OUT" tcp-connect 10.1.2.3 80

	# invalid JSON: a trailing comma; jansson stops at the ']' (line 8, column 7)
	cat >"$POLICY" <<EOF
{
  "version": 1,
  "partners": {
    "acme": {
      "cgroups": ["$CASE_CG_REL/acme"],
      "allow": [
        {"to": "10.1.2.3", "proto": "tcp", "ports": ["80"]},
      ]
    }
  }
}
EOF
	n0=$(ev_count "$LOGS/host.jsonl" type=policy action=reload)
	kill -HUP "$BH_DAEMON_PID"
	assert_event "reload error event naming $POLICY:8:7" "$LOGS/host.jsonl" \
		type=policy action=reload result=error file="$POLICY" errors.0^="$POLICY:8:7: "
	assert_eq $((n0 + 1)) "$(ev_count "$LOGS/host.jsonl" type=policy action=reload)" "reload policy events"
	assert_probe ok "$ACME" tcp-connect 10.20.0.5 9000
	assert_probe EPERM "$ACME" tcp-connect 10.1.2.3 80

	# a bad CIDR: line 7, the value starts at column 16
	cat >"$POLICY" <<EOF
{
  "version": 1,
  "partners": {
    "acme": {
      "cgroups": ["$CASE_CG_REL/acme"],
      "allow": [
        {"to": "10.1.2.300/32", "proto": "tcp", "ports": ["80"]}
      ]
    }
  }
}
EOF
	kill -HUP "$BH_DAEMON_PID"
	assert_event "reload error event naming $POLICY:7:16 and the bad CIDR" "$LOGS/host.jsonl" \
		type=policy action=reload result=error errors.0^="$POLICY:7:16: " 'errors.0~.*10\.1\.2\.300/32.*'
	assert_event "lifecycle reload event" "$LOGS/host.jsonl" type=lifecycle event=reload
	assert_probe ok "$ACME" tcp-connect 10.20.0.5 9000
	assert_probe EPERM "$ACME" tcp-connect 10.1.2.3 80
	bh_alive || fail_now "bulkhead run died on a broken reload"

	# `apply` of a bad file: exit 1, FILE:LINE:COL on stderr, nothing changes
	cp "$POLICY" "$bad"
	cli apply "$bad"
	assert_eq 1 "$CLI_ST" "bulkhead apply (bad CIDR) exit status"
	assert_contains "$bad:7:16: " "$CLI_ERR" "bulkhead apply stderr"
	assert_event "apply error event" "$LOGS/host.jsonl" \
		type=policy action=apply result=error caller.uid:=0 errors.0^="$bad:7:16: "
	assert_probe ok "$ACME" tcp-connect 10.20.0.5 9000
	assert_probe EPERM "$ACME" tcp-connect 10.1.2.3 80

	# `apply` of a good file: exit 0, and it is what the kernel enforces
	policy_acme '[{"to": "10.1.2.3", "proto": "tcp", "ports": ["80"]}]' "$good"
	cli apply "$good"
	assert_eq 0 "$CLI_ST" "bulkhead apply (good) exit status"
	assert_contains "applied: 1 partners, 1 grants in force" "$CLI_OUT" "bulkhead apply output"
	assert_probe ok "$ACME" tcp-connect 10.1.2.3 80
	assert_probe EPERM "$ACME" tcp-connect 10.20.0.5 9000
	assert_event "apply applied event" "$LOGS/host.jsonl" \
		type=policy action=apply result=applied file="$good" grants:=1
	stop_ok
}

# 6. kill -9: enforcement and counting go on without the daemon; a new `run`
# adopts the pins (links updated in place), keeps the just-in-time grant with
# its expiry and the counters, and delivers the downtime's events.
case_kill9_adopt() {
	local exp0 deny0 deny_down links0 progs0 links1 progs1 tps0 total
	policy_acme '[{"to": "10.20.0.5", "proto": "tcp", "ports": ["9000"]}]'
	srv_start echo 9000
	srv_start echo 80
	start
	cli grant acme --to 10.20.0.6 --proto tcp --ports 9000 --ttl 1h --purpose "case kill9" --json
	assert_eq 0 "$CLI_ST" "bulkhead grant exit status"
	exp0=$(grant_field acme/j1 expires)
	assert_probe ok "$ACME" tcp-connect 10.20.0.6 9000
	assert_probe ok "$ACME" tcp-connect 10.20.0.5 9000
	assert_probe EPERM "$ACME" tcp-connect 10.1.2.3 80
	assert_probe EPERM "$ACME" tcp-connect 10.2.0.1 80
	# both denials on disk before the kill (nothing in the daemon's buffers)
	assert_decision "deny event before the kill" "$LOGS/acme.jsonl" connect no_grant connect 10.1.2.3 80 tcp
	assert_decision "second deny event before the kill" "$LOGS/acme.jsonl" connect no_grant connect 10.2.0.1 80 tcp
	deny0=$(acme_count verdicts deny)
	assert_eq 2 "$deny0" "acme deny counter before the kill"
	# cgroup links are updated in place (new programs, same links); the
	# tracepoint links of binding at creation cannot be, and are kept as
	# they are when the program is the same (user/bind.c)
	links0=$(status_json | jq -c '[.programs[] | select(.attach_type != "tp_btf") | {pin, link_id}] | sort_by(.pin)')
	progs0=$(status_json | jq -c '[.programs[] | select(.attach_type != "tp_btf") | {pin, prog_id}] | sort_by(.pin)')
	tps0=$(status_json | jq -c '[.programs[] | select(.attach_type == "tp_btf") | {pin, link_id, prog_id}] | sort_by(.pin)')
	[ "$(jq length <<<"$links0" 2>/dev/null)" -gt 0 ] 2>/dev/null ||
		fail_now "bulkhead status --json shows no programs: '$links0' $(tail -n 3 "$CASE_DIR/cli.log" | tr '\n' ' ')"

	bh_kill9

	for _ in 1 2 3 4 5; do
		assert_probe EPERM "$ACME" tcp-connect 10.1.2.3 80
	done
	assert_probe ok "$ACME" tcp-connect 10.20.0.6 9000
	assert_probe ok "$ACME" tcp-connect 10.20.0.5 9000
	deny_down=$(acme_count verdicts deny)
	assert_eq 7 "$deny_down" "acme deny counter during the downtime (2 before + 5)"
	assert_eq false "$(status_json | jq -r .daemon_running)" "status: daemon_running during the downtime"

	bh_start "$POLICY"
	assert_event "lifecycle adopt with jit_grants_restored 1" "$LOGS/host.jsonl" \
		type=lifecycle event=adopt jit_grants_restored:=1 revocations_restored:=0 previous_generation\>0
	assert_eq live "$(grant_field acme/j1 state)" "acme/j1 state after the restart"
	assert_eq "10.20.0.6/32 tcp 9000 case kill9" \
		"$(list_json | jq -r '.[] | select(.id=="acme/j1") | "\(.to) \(.proto) \(.ports|join(",")) \(.purpose)"')" \
		"acme/j1 after the restart"
	local exp1 d; exp1=$(grant_field acme/j1 expires)
	if [ -n "$exp0" ] && [ -n "$exp1" ] && [ "$exp0" != null ] &&
	   d=$(( $(ts_us "$exp1") - $(ts_us "$exp0") )) && [ "${d#-}" -le 1000 ]; then
		bh_log "ok: acme/j1 expires $exp1 (before the kill: $exp0)"
	else
		fail "acme/j1 expiry changed across the restart: $exp0 -> $exp1"
	fi
	assert_eq 7 "$(acme_count verdicts deny)" "acme deny counter after the restart"
	links1=$(status_json | jq -c '[.programs[] | select(.attach_type != "tp_btf") | {pin, link_id}] | sort_by(.pin)')
	progs1=$(status_json | jq -c '[.programs[] | select(.attach_type != "tp_btf") | {pin, prog_id}] | sort_by(.pin)')
	assert_eq "$links0" "$links1" "link ids (updated in place, not recreated)"
	assert_eq 2 "$(jq length <<<"$tps0")" "tracepoint links of binding at creation"
	assert_eq "$tps0" "$(status_json | jq -c '[.programs[] | select(.attach_type == "tp_btf") | {pin, link_id, prog_id}] | sort_by(.pin)')" \
		"tracepoint links kept across the restart (same program)"
	assert_eq 0 "$(jq -n --argjson a "$progs0" --argjson b "$progs1" \
		'[range($a|length) | select($a[.].prog_id == $b[.].prog_id)] | length')" \
		"programs whose prog_id did not change (all were replaced)"
	assert_eq "$(jq length <<<"$progs0")" "$(jq length <<<"$progs1")" "number of programs"
	# the downtime's denials reach the log: counts add up to all 6 attempts
	total_denied() {
		ev sum count "$LOGS/acme.jsonl" type=connect verdict=deny reason=no_grant hook=connect \
			dst=10.1.2.3 dport:=80 proto=tcp partner=acme | cut -d" " -f1
	}
	denied_at_least() { [ "$(total_denied)" -ge "$1" ]; }
	wait_until 8 denied_at_least 6
	total=$(total_denied)
	assert_eq 6 "$total" "denied connects to 10.1.2.3:80 in acme.jsonl (sum of count: 1 before + 5 during the downtime)"

	assert_probe ok "$ACME" tcp-connect 10.20.0.6 9000
	assert_probe EPERM "$ACME" tcp-connect 10.1.2.3 80
	assert_eq 8 "$(acme_count verdicts deny)" "acme deny counter after one more denial"
	stop_ok
}

# 7. The control socket: 0600 root in a 0700 directory; a non-root caller that
# gets through anyway (mode changed) is refused by the daemon.
case_control_root_only() {
	local ctl="$CASE_DIR/ctl/control.sock" dir tmpmode casemode out st before want
	policy_acme '[{"to": "10.20.0.5", "proto": "tcp", "ports": ["9000"]}]'
	jit_prereq
	command -v setpriv >/dev/null || skip "no setpriv (util-linux)"
	cg_new acme
	bh_start "$POLICY" --control "$ctl"	# the last --control wins
	export BULKHEAD_CONTROL="$ctl"
	dir=$(dirname "$ctl")
	assert_eq "srw------- root root" "$(stat -c '%A %U %G' "$ctl")" "control socket mode and owner"
	assert_eq "drwx------ root root" "$(stat -c '%A %U %G' "$dir")" "control socket directory mode and owner"

	cli list --json
	assert_eq 0 "$CLI_ST" "bulkhead list as root"
	before=$CLI_OUT

	# nobody cannot even reach it as installed
	out=$(setpriv --reuid 65534 --regid 65534 --clear-groups "$BULKHEAD" list 2>&1)
	st=$?
	bh_log "as uid 65534 (socket 0600): status $st: $out"
	[ "$st" -ne 0 ] || fail "bulkhead list as uid 65534 succeeded on a 0600 socket"

	# open the path up (temporarily) so the daemon's own check is what refuses
	tmpmode=$(stat -c %a "$BH_TMP") casemode=$(stat -c %a "$CASE_DIR")
	chmod o+x "$BH_TMP" "$CASE_DIR" "$dir"
	chmod 0666 "$ctl"
	# ten of each: the refusal must be clean every time, not only when the
	# timing is kind (the daemon answers without reading the request)
	for _ in $(seq 10); do
		out=$(setpriv --reuid 65534 --regid 65534 --clear-groups "$BULKHEAD" list 2>&1)
		echo "list $?: $out" >>"$CASE_DIR/nobody.out"
		out=$(setpriv --reuid 65534 --regid 65534 --clear-groups "$BULKHEAD" grant acme \
			--to 10.1.2.3 --proto tcp --ports 80 --ttl 1h 2>&1)
		echo "grant $?: $out" >>"$CASE_DIR/nobody.out"
	done
	chmod 0600 "$ctl"
	chmod 0700 "$dir"
	chmod "$casemode" "$CASE_DIR"
	chmod "$tmpmode" "$BH_TMP"
	bh_log "as uid 65534 (socket 0666):"
	sed 's/^/    /' "$CASE_DIR/nobody.out"
	want="permission denied: the control socket is for root only"
	assert_eq 10 "$(grep -cxF "list 1: bulkhead: $want" "$CASE_DIR/nobody.out")" \
		"bulkhead list as uid 65534: exit 1 with \"$want\" (of 10)"
	assert_eq 10 "$(grep -cxF "grant 1: bulkhead: $want" "$CASE_DIR/nobody.out")" \
		"bulkhead grant as uid 65534: exit 1 with \"$want\" (of 10)"
	assert_file_has "$CASE_DIR/bulkhead.err" "refused uid 65534" "the daemon logged the refusal"
	cli list --json
	assert_eq "$before" "$CLI_OUT" "grants unchanged after the refused grant"
	assert_eq "srw------- root root" "$(stat -c '%A %U %G' "$ctl")" "control socket mode restored"
	stop_ok
}

# 8. Revoking a policy-file grant by --within CIDR is remembered: across kill -9
# and a new `run`, and across a reload of the same file.
case_revoke_cidr_persists() {
	local pid
	policy_acme '[{"id": "db", "to": "10.20.0.5", "proto": "tcp", "ports": ["9000"], "purpose": "db"},
                {"id": "web", "to": "10.1.2.3", "proto": "tcp", "ports": ["80"]}]'
	srv_start echo 9000
	srv_start echo 80
	start
	assert_probe ok "$ACME" tcp-connect 10.20.0.5 9000

	cli revoke acme --within 10.20.0.0/24 --yes --json
	assert_eq 0 "$CLI_ST" "bulkhead revoke --within 10.20.0.0/24 --yes exit status"
	assert_eq '["acme/db"]' "$(jq -c '[.revoked[].id]' <<<"$CLI_OUT")" "grants revoked"
	pid=$(ev lines "$LOGS/host.jsonl" type=policy action=revoke | jq -r '.caller.pid' | tail -n 1)
	assert_probe EPERM "$ACME" tcp-connect 10.20.0.5 9000
	assert_probe ok "$ACME" tcp-connect 10.1.2.3 80
	check_revoked() {
		assert_eq revoked "$(grant_field acme/db state)" "acme/db state ($1)"
		assert_eq "0 $pid bulkhead" \
			"$(list_json | jq -r '.[] | select(.id=="acme/db") | "\(.revoked_by.uid) \(.revoked_by.pid) \(.revoked_by.comm)"')" \
			"acme/db revoked_by ($1)"
		assert_eq live "$(grant_field acme/web state)" "acme/web state ($1)"
	}
	check_revoked "after revoke"

	bh_kill9
	assert_probe EPERM "$ACME" tcp-connect 10.20.0.5 9000
	assert_probe ok "$ACME" tcp-connect 10.1.2.3 80
	bh_start "$POLICY"
	assert_event "lifecycle adopt with revocations_restored 1" "$LOGS/host.jsonl" \
		type=lifecycle event=adopt revocations_restored:=1
	assert_probe EPERM "$ACME" tcp-connect 10.20.0.5 9000
	assert_probe ok "$ACME" tcp-connect 10.1.2.3 80
	check_revoked "after kill -9 and run"

	kill -HUP "$BH_DAEMON_PID"
	assert_event "reload applied" "$LOGS/host.jsonl" type=policy action=reload result=applied
	assert_probe EPERM "$ACME" tcp-connect 10.20.0.5 9000
	assert_probe ok "$ACME" tcp-connect 10.1.2.3 80
	check_revoked "after SIGHUP"
	stop_ok
}

# 9. A reload that removes a grant revokes its established flows too: `apply`
# of a policy without it, while a TCP stream runs on it.
case_apply_removes_grant() {
	local S max new="$CASE_DIR/narrower.json"
	policy_acme '[{"to": "10.20.0.0/24", "proto": "tcp", "ports": ["9000-9001"]}]'
	srv_start sink 9000 "$CASE_DIR/tcp.rx"
	srv_start echo 9001
	start
	stream_start c "$ACME" tcp 10.20.0.5 9000
	wait_until 5 rx_at_least "$CASE_DIR/tcp.rx" 10 ||
		fail_now "the granted stream delivered $(rx_lines "$CASE_DIR/tcp.rx") lines in 5 s"
	# narrowed: port 9001 only
	policy_acme '[{"to": "10.20.0.0/24", "proto": "tcp", "ports": ["9001"]}]' "$new"
	mark c -- "$BULKHEAD" apply "$new"
	assert_eq 0 "$MARK_STATUS" "bulkhead apply exit status"
	S=$MARK_ISSUED
	wait_until 5 jf_went_on c $((S + 25)) || fail "the client stopped writing after the apply"
	EV_WAIT=10 assert_decision "packet event: deny, reason revoked, hook egress" "$LOGS/acme.jsonl" \
		packet revoked egress 10.20.0.5 9000 tcp
	jf_stop c
	max=$(rx_max "$CASE_DIR/tcp.rx")
	bh_log "client issued $(jf c issued), $S when apply returned; server max $max"
	if [ "${max:-0}" -le "$S" ]; then
		bh_log "ok: nothing sent after apply returned reached the server ($max <= $S)"
	else
		fail "the server received line $max, sent after the narrowing apply returned (mark $S)"
	fi
	assert_eq "ended ECONNABORTED" "$(jf c phase) $(jf c end_err)" "client socket after the narrowing (destroyed)"
	assert_event "policy event sockets-destroyed, cause apply, count 1" "$LOGS/host.jsonl" \
		type=policy action=sockets-destroyed cause=apply count:=1
	assert_probe ok "$ACME" tcp-connect 10.20.0.5 9001
	assert_probe EPERM "$ACME" tcp-connect 10.20.0.5 9000
	stop_ok
}

# 10. A policy-file `ttl` counts from when that grant first became part of the
# applied policy: an unrelated grant, SIGHUP, `apply` of the same file, kill -9
# and a new `run` leave its expiry alone, and the flow it carries is cut at
# the original instant, by the kernel (--no-destroy), with reason expired.
case_policy_ttl_kept() {
	local exp0 exp_us n0 left
	policy_acme '[{"id": "api", "to": "10.20.0.5", "proto": "tcp", "ports": ["9000-9001"], "ttl": "15s", "purpose": "file ttl"},
                {"to": "10.1.2.3", "proto": "tcp", "ports": ["80"]}]'
	srv_start sink 9000 "$CASE_DIR/tcp.rx"
	srv_start echo 9001
	start --no-destroy
	assert_probe ok "$ACME" tcp-connect 10.20.0.5 9001
	exp0=$(grant_field acme/api expires)
	if [ -z "$exp0" ] || [ "$exp0" = null ]; then
		fail_now "bulkhead list --json shows no expires for the ttl grant acme/api"
	fi
	exp_us=$(ts_us "$exp0")
	assert_eq "live file ttl" "$(list_json | jq -r '.[] | select(.id=="acme/api") | "\(.state) \(.purpose)"')" \
		"acme/api state and purpose"
	stream_start c "$ACME" tcp 10.20.0.5 9000
	wait_until 5 rx_at_least "$CASE_DIR/tcp.rx" 10 ||
		fail_now "the stream on the ttl grant delivered $(rx_lines "$CASE_DIR/tcp.rx") lines in 5 s"
	sleep 1.1	# the old code restarted the ttl at every apply: make that show

	cli grant acme --to 10.20.0.6 --proto tcp --ports 9001 --ttl 10m --json
	assert_eq 0 "$CLI_ST" "an unrelated bulkhead grant"
	assert_eq "$exp0" "$(grant_field acme/api expires)" "acme/api expires after an unrelated just-in-time grant"
	cli revoke acme --grant acme/j1
	assert_eq 0 "$CLI_ST" "revoke of the unrelated grant"
	assert_eq "$exp0" "$(grant_field acme/api expires)" "acme/api expires after an unrelated revoke"
	reloads() { ev_count "$LOGS/host.jsonl" type=policy action=reload result=applied; }
	reloaded() { [ "$(reloads)" -gt "$1" ]; }
	n0=$(reloads)
	kill -HUP "$BH_DAEMON_PID"
	wait_until 5 reloaded "$n0" || fail "no reload event after SIGHUP"
	assert_eq "$exp0" "$(grant_field acme/api expires)" "acme/api expires after SIGHUP (reload of the same file)"
	cli apply "$POLICY"
	assert_eq 0 "$CLI_ST" "bulkhead apply of the same file"
	assert_eq "$exp0" "$(grant_field acme/api expires)" "acme/api expires after apply of the same file"

	bh_kill9
	bh_start "$POLICY" --no-destroy
	assert_event "lifecycle adopt with ttl_grants_restored 1" "$LOGS/host.jsonl" \
		type=lifecycle event=adopt ttl_grants_restored:=1
	assert_eq "$exp0" "$(grant_field acme/api expires)" "acme/api expires after kill -9 and a new run"
	left=$(( exp_us - $(bh_now_us) ))
	[ "$left" -gt 300000 ] || fail_now "the steps took too long: $left us left before the expiry to watch"
	bh_log "the flow runs; the grant expires in $(( left / 1000 )) ms"

	wait_until 20 now_past $((exp_us + 500000))
	EV_WAIT=10 assert_decision "packet event: deny, reason expired, hook egress, grant acme/api" "$LOGS/acme.jsonl" \
		packet expired egress 10.20.0.5 9000 tcp grant.id=acme/api
	jf_stop c
	cut_at_expiry c "$CASE_DIR/tcp.rx" "$exp_us"
	[ "$CUT_LATE" -gt 10 ] || fail "the client sent only $CUT_LATE lines after the expiry"
	assert_eq expired "$(grant_field acme/api state)" "acme/api state after its expiry"
	assert_eq "$exp0" "$(grant_field acme/api expires)" "acme/api expires after its expiry"
	assert_probe EPERM "$ACME" tcp-connect 10.20.0.5 9001
	assert_decision "connect event: deny, reason expired, grant acme/api" "$LOGS/acme.jsonl" \
		connect expired connect 10.20.0.5 9001 tcp grant.id=acme/api
	# still expired after one more reload: nothing brings it back
	cli apply "$POLICY"
	assert_eq expired "$(grant_field acme/api state)" "acme/api state after a reload past its expiry"
	assert_probe EPERM "$ACME" tcp-connect 10.20.0.5 9001
	stop_ok
}

# 11. What makes a policy-file ttl grant "the same grant": partner, to, proto
# and ports. A changed definition is a new grant (its ttl starts at that
# apply); a changed ttl counts from the grant's first application; a grant
# removed and added again is new.
case_policy_ttl_identity() {
	local f2="$CASE_DIR/ports.json" f3="$CASE_DIR/ttl2h.json" f4="$CASE_DIR/without.json" e1 e2 e3 e4
	later_by_1s() {
		if [ "$2" -ge $(($1 + 1000000)) ]; then
			bh_log "ok: $3 (expiry $1 -> $2)"
		else
			fail "$3: expiry $1 -> $2, want a start at least 1 s later"
		fi
	}
	policy_acme '[{"to": "10.20.0.5", "proto": "tcp", "ports": ["9000"], "ttl": "1h"}]'
	policy_acme '[{"to": "10.20.0.5", "proto": "tcp", "ports": ["9000-9001"], "ttl": "1h"}]' "$f2"
	policy_acme '[{"to": "10.20.0.5", "proto": "tcp", "ports": ["9000-9001"], "ttl": "2h", "purpose": "longer"}]' "$f3"
	policy_acme '[{"to": "10.1.2.3", "proto": "tcp", "ports": ["80"]}]' "$f4"
	start
	e1=$(ts_us "$(grant_field "$(policy_gid)" expires)")
	sleep 1.1
	cli apply "$f2"
	assert_eq 0 "$CLI_ST" "apply with the ports changed"
	e2=$(ts_us "$(grant_field "$(policy_gid)" expires)")
	later_by_1s "$e1" "$e2" "ports changed: a new grant, its ttl starts anew"
	sleep 1.1
	cli apply "$f3"
	assert_eq 0 "$CLI_ST" "apply with the ttl changed to 2h"
	e3=$(ts_us "$(grant_field "$(policy_gid)" expires)")
	assert_eq $((e2 + 3600000000)) "$e3" "ttl 1h -> 2h: the expiry counts from the grant's first application"
	cli apply "$f4"
	assert_eq 0 "$CLI_ST" "apply without the grant"
	sleep 1.1
	cli apply "$f3"
	assert_eq 0 "$CLI_ST" "apply with the grant back"
	e4=$(ts_us "$(grant_field "$(policy_gid)" expires)")
	later_by_1s "$e3" "$e4" "removed and added again: a new grant"
	stop_ok
}

# 12. Just-in-time grant ids are never reused for the life of the pin
# directory: not after a revoke, not after kill -9 and a new `run`; a
# revocation takes no id; `bulkhead down` starts them again at j1. The id in
# the events names one grant.
case_jit_ids_monotonic() {
	policy_acme '[{"id": "web", "to": "10.1.2.3", "proto": "tcp", "ports": ["80"]}]'
	srv_start echo 9000
	start
	grant_id() {
		cli grant acme --to "$1" --proto tcp --ports 9000 --ttl 10m --json
		[ "$CLI_ST" = 0 ] || fail "bulkhead grant acme --to $1: exit $CLI_ST: $CLI_ERR"
		jq -r '.grant.id' <<<"$CLI_OUT"
	}
	assert_eq acme/j1 "$(grant_id 10.20.0.5)" "first grant"
	assert_probe ok "$ACME" tcp-connect 10.20.0.5 9000
	cli revoke acme --grant acme/j1
	assert_eq 0 "$CLI_ST" "revoke acme/j1"
	assert_eq acme/j2 "$(grant_id 10.20.0.6)" "the grant after revoking acme/j1"
	assert_probe ok "$ACME" tcp-connect 10.20.0.6 9000
	assert_event "the flow allowed by the second grant names acme/j2" "$LOGS/acme.jsonl" \
		type=flow dst=10.20.0.6 grant.id=acme/j2
	assert_eq 0 "$(ev_count "$LOGS/acme.jsonl" dst=10.20.0.6 grant.id=acme/j1)" \
		"events naming acme/j1 for the second grant's destination"
	cli revoke acme --grant acme/web --yes
	assert_eq 0 "$CLI_ST" "revoke the policy-file grant acme/web"
	assert_eq acme/j3 "$(grant_id 10.20.0.5)" "the grant after a revocation (revocations take no id)"

	bh_kill9
	bh_start "$POLICY"
	cli revoke acme --grant acme/j3
	assert_eq 0 "$CLI_ST" "revoke acme/j3 (the highest id) after the restart"
	assert_eq acme/j4 "$(grant_id 10.20.0.5)" "the grant after kill -9, a new run and revoking the highest id"
	assert_eq '["acme/j2","acme/j4","acme/web"]' "$(list_json | jq -c '[.[].id] | sort')" "ids listed"
	stop_ok

	bh_down
	assert_eq 0 "$?" "bulkhead down"
	bh_start "$POLICY"
	assert_eq acme/j1 "$(grant_id 10.20.0.5)" "the first grant after bulkhead down"
	stop_ok
}

# 13. The expiry `bulkhead list` prints is the same every time (fixed when the
# grant is made, not converted anew from the boot clock), for a just-in-time
# --ttl and --expires grant and a policy-file ttl grant, across several
# seconds (the daemon resamples its clocks every second) and a restart.
case_list_expiry_stable() {
	local want first all far
	# microseconds as given; within the standard tier's max_ttl (1d)
	far=$(date -u -d '+20 hours' +%Y-%m-%dT%H:%M:%S).123456Z
	policy_acme '[{"id": "api", "to": "10.1.2.3", "proto": "tcp", "ports": ["80"], "ttl": "1h"}]'
	start
	cli grant acme --to 10.20.0.5 --proto tcp --ports 9000 --ttl 1h --json
	assert_eq 0 "$CLI_ST" "bulkhead grant --ttl"
	first=$(jq -r '.grant.expires' <<<"$CLI_OUT")
	cli grant acme --to 10.20.0.6 --proto tcp --ports 9000 --expires "$far" --json
	assert_eq 0 "$CLI_ST" "bulkhead grant --expires"
	assert_eq "$far" "$(jq -r '.grant.expires' <<<"$CLI_OUT")" "--expires as given"
	want="acme/api $(grant_field acme/api expires)
acme/j1 $first
acme/j2 $far"
	all=""
	for _ in $(seq 25); do
		all="$all$(list_json | jq -r '.[] | "\(.id) \(.expires)"' | sort)"$'\n'
		sleep 0.1
	done
	assert_eq 3 "$(printf '%s' "$all" | sort -u | grep -c .)" \
		"distinct (id, expires) in 25 listings over 2.5 s (three grants)"
	assert_eq "$want" "$(list_json | jq -r '.[] | "\(.id) \(.expires)"' | sort)" "expiries listed (acme/j1 as granted)"
	bh_kill9
	assert_eq "$(sed -n 2,3p <<<"$want")" \
		"$("$BULKHEAD" list --json --pin-dir "$PINDIR" 2>>"$CASE_DIR/cli.log" | jq -r '.grants[] | "\(.id) \(.expires)"' | sort)" \
		"expiries the pins list with the daemon down"
	bh_start "$POLICY"
	assert_eq "$want" "$(list_json | jq -r '.[] | "\(.id) \(.expires)"' | sort)" "expiries after kill -9 and a new run"
	stop_ok
}

# 14. Pins of an older bulkhead (grant records in the layout-1 map bh_jit) are
# migrated by `run`: the grant keeps its id, expiry and effect, the
# revocation its mask, later ids continue after them; bh_jit is unpinned.
case_jit_records_migrated() {
	local boot exp7 hex_g hex_r
	command -v bpftool >/dev/null || skip "no bpftool (to make a layout-1 map)"
	policy_acme '[{"id": "web", "to": "10.1.2.3", "proto": "tcp", "ports": ["80"]}, {"id": "web2", "to": "10.2.0.1", "proto": "tcp", "ports": ["80"]}]'
	srv_start echo 9000
	srv_start echo 80
	jit_prereq
	cg_new acme
	ACME="$CASE_CG/acme"
	# struct bh_jit, layout 1 (288 bytes, little-endian): a grant (seq 7,
	# acme, 10.20.0.5/32 tcp 9000, an hour left) and a revocation (seq 3,
	# acme, 10.1.2.3/32 tcp 80, exactly the policy's acme/web)
	v1() {
		python3 - "$@" <<'PY'
import struct, sys, time, ipaddress
kind, seq, exp, addr, port, purpose = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), sys.argv[6]
a = ipaddress.IPv6Address("::ffff:" + addr).packed
rec = struct.pack("<QQIIIBBBB16s32s64s128s16s", exp, time.time_ns(), seq, 0, 1, kind, 6, 128, 1, a,
                  struct.pack("<2H", port, port) + bytes(28), b"acme", purpose.encode(), b"bulkhead")
assert len(rec) == 288
print(" ".join("%02x" % b for b in rec))
PY
	}
	boot=$(python3 -c 'import time; print(time.clock_gettime_ns(time.CLOCK_BOOTTIME))')
	hex_g=$(v1 1 7 $((boot + 3600000000000)) 10.20.0.5 9000 "from layout 1")
	hex_r=$(v1 2 3 0 10.1.2.3 80 "")
	bpftool map create "$PINDIR/bh_jit" type hash key 4 value 288 entries 4096 name bh_jit ||
		fail_now "bpftool map create failed"
	# shellcheck disable=SC2086  # one argument per byte
	if ! bpftool map update pinned "$PINDIR/bh_jit" key hex 07 00 00 00 value hex $hex_g ||
	   ! bpftool map update pinned "$PINDIR/bh_jit" key hex 03 00 00 00 value hex $hex_r; then
		fail_now "bpftool map update failed"
	fi
	assert_eq "acme/j7 live 10.20.0.5/32 from layout 1" \
		"$("$BULKHEAD" list --json --pin-dir "$PINDIR" 2>>"$CASE_DIR/cli.log" | jq -r '.grants[] | select(.source=="jit") | "\(.id) \(.state) \(.to) \(.purpose)"')" \
		"bulkhead list reads the layout-1 pins with no daemon"

	bh_start "$POLICY"
	assert_file_has "$CASE_DIR/bulkhead.err" "migrated 2 grant records" "the daemon migrated both records"
	if [ ! -e "$PINDIR/bh_jit" ] && [ -e "$PINDIR/bh_jit_v2" ]; then
		bh_log "ok: bh_jit unpinned, bh_jit_v2 pinned"
	else
		fail "pins after the migration: $(find "$PINDIR" -maxdepth 1 | tr '\n' ' ')"
	fi
	assert_eq "live from layout 1" "$(list_json | jq -r '.[] | select(.id=="acme/j7") | "\(.state) \(.purpose)"')" "acme/j7 after the migration"
	assert_eq revoked "$(grant_field acme/web state)" "acme/web (masked by the migrated revocation)"
	assert_eq live "$(grant_field acme/web2 state)" "acme/web2"
	assert_probe ok "$ACME" tcp-connect 10.20.0.5 9000
	assert_probe EPERM "$ACME" tcp-connect 10.1.2.3 80
	assert_probe ok "$ACME" tcp-connect 10.2.0.1 80
	exp7=$(grant_field acme/j7 expires)
	cli grant acme --to 10.20.0.6 --proto tcp --ports 9000 --ttl 1h --json
	assert_eq acme/j8 "$(jq -r '.grant.id' <<<"$CLI_OUT")" "the next grant id after the migrated ones"
	assert_eq "$exp7" "$(grant_field acme/j7 expires)" "acme/j7 expires, the same again"
	stop_ok
}

# -------------------------------------------------------------- the table

tcase revoke_tcp_established   case_revoke_tcp
tcase revoke_udp_connected     case_revoke_udp
tcase revoke_drops_replies     case_revoke_replies
tcase revoke_destroys_sockets  case_revoke_destroys
tcase ttl_expiry               case_ttl_expiry
tcase ttl_expiry_kernel_only   case_ttl_expiry_kernel_only
tcase reload_broken_policy     case_reload_broken
tcase kill9_adopt              case_kill9_adopt
tcase control_root_only        case_control_root_only
tcase revoke_cidr_persists     case_revoke_cidr_persists
tcase apply_removes_grant      case_apply_removes_grant
tcase policy_ttl_kept          case_policy_ttl_kept
tcase policy_ttl_identity      case_policy_ttl_identity
tcase jit_ids_monotonic        case_jit_ids_monotonic
tcase list_expiry_stable       case_list_expiry_stable
tcase jit_records_migrated     case_jit_records_migrated

bh_finish
