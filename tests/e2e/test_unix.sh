#!/usr/bin/env bash
# End-to-end tests of local UNIX sockets (issue 13 item 5): a partner's
# connect(2) and datagram sendto(2) to UNIX sockets judged by its `unix`
# grants and unix_mode (off, audit, enforce) in the kernel
# (cgroup/connect_unix, cgroup/sendmsg_unix), the never list's UNIX names,
# abstract names, a path reached through a symlink, the exact event fields,
# and a non-partner process unaffected. Clients and servers are
# tests/probe/unixprobe.c. See lib.sh for the harness.

# Case functions are only called through tcase.
# shellcheck disable=SC2317
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

UP=$BH_TMP/unixprobe	# built on first use, shared by the cases

unix_prereq() {
	command -v jq >/dev/null || skip "no jq"
	[ -x "$UP" ] && return 0
	"${CC:-cc}" -O2 -Wall -Wextra -Werror -o "$UP.$$" "$BH_SRC_ROOT/tests/probe/unixprobe.c" \
		2>"$CASE_DIR/unixprobe.build" ||
		fail_now "cannot build tests/probe/unixprobe.c: $(head -n 5 "$CASE_DIR/unixprobe.build")"
	mv "$UP.$$" "$UP"
}

# The hooks need kernel 6.7+: without them the daemon says so (checked in
# case_unix_unavailable_says_once where it applies) and these cases cannot run.
unix_hooks_or_skip() {
	if grep -q '"event":"warning"' "$LOGS/host.jsonl" 2>/dev/null &&
	   grep -q 'UNIX socket hooks unavailable' "$LOGS/host.jsonl"; then
		skip "this kernel lacks cgroup/connect_unix (6.7+)"
	fi
}

# serve TYPE NAME: a unixprobe server outside every partner (the client
# namespace, for abstract names), waiting until it is bound.
serve() {
	local out="$CASE_DIR/serve.$RANDOM.out"
	in_ns "$NS_C" "$UP" serve "$1" "$2" >"$out" 2>&1 &
	echo "$!" >>"$CASE_DIR/server.pids"
	wait_until 5 bh__file_has "$out" ready || fail_now "server $1 $2: $(cat "$out")"
}

# The sockets of a case: S is their directory (canonical, short).
unix_setup() {
	unix_prereq
	S=$(realpath "$CASE_DIR")/s
	AB="bh-$BH_RUN_ID-$CASE_N"
	mkdir -p "$S/dir"
	serve stream "$S/granted.sock"
	serve stream "$S/other.sock"
	serve seqpacket "$S/seq.sock"
	serve dgram "$S/granted.dg"
	serve dgram "$S/other.dg"
	serve stream "$S/dir/in.sock"
	serve stream "$S/never.sock"
	serve stream "@$AB-granted"
	serve stream "@$AB-other"
	serve dgram "@$AB-dg"
	ln -s "$S/granted.sock" "$S/link-to-granted"	# a name not granted, to a granted socket
	ln -s "$S/other.sock" "$S/granted-link"		# a granted name, to a socket not granted
	ln -s "$S/granted.sock" "$S/dir/link-out"	# below a granted prefix
	cg_new acme other
}

# unix_policy MODE: acme with its unix grants in unix_mode MODE.
unix_policy() {
	policy <<EOF2
{
  "version": 1,
  "never": ["10.9.9.9/32", "$S/never.sock"],
  "partners": {
    "acme": {
      "cgroups": ["$CASE_CG_REL/acme"],
      "unix_mode": "$1",
      "unix": ["$S/granted.sock", "$S/granted.dg", "$S/dir/", "@$AB-granted", "@$AB-dg",
               "$S/granted-link", "$S/never.sock", "$S/seq.sock"],
      "allow": []
    }
  }
}
EOF2
}

# The table: OP TYPE NAME then the outcome in off, audit and enforce, the
# enforce reason and the grant id (u<n>: the n-th `unix` entry, - none).
# NAME: s/... is below $S, @... is an abstract name of the case.
UNIX_TABLE="
connect stream    s/granted.sock     ok ok    ok    granted  u1
connect stream    s/other.sock       ok ok    EPERM no_grant -
connect seqpacket s/seq.sock         ok ok    ok    granted  u8
connect dgram     s/granted.dg       ok ok    ok    granted  u2
connect dgram     s/other.dg         ok ok    EPERM no_grant -
sendto  dgram     s/granted.dg       ok ok    ok    granted  u2
sendto  dgram     s/other.dg         ok ok    EPERM no_grant -
connect stream    s/dir/in.sock      ok ok    ok    granted  u3
connect stream    @granted           ok ok    ok    granted  u4
connect stream    @other             ok ok    EPERM no_grant -
sendto  dgram     @dg                ok ok    ok    granted  u5
connect stream    s/link-to-granted  ok ok    EPERM no_grant -
connect stream    s/granted-link     ok ok    ok    granted  u6
connect stream    s/dir/link-out     ok ok    ok    granted  u3
connect stream    s/dir/../other.sock ok ok   EPERM no_grant -
connect stream    s/never.sock       ok EPERM EPERM never    -
"

name_of() {
	case $1 in
	s/*) printf '%s\n' "$S/${1#s/}" ;;
	@*) printf '@%s-%s\n' "$AB" "${1#@}" ;;
	esac
}

# unix_mode_case MODE: every row of the table from acme's cgroup, with the
# exact errno and, in audit and enforce, the exact event.
unix_mode_case() {
	local mode=$1 col verdict want n=0 op type name full wo wa we reason grant hook etype
	unix_setup
	unix_policy "$mode"
	bh_start "$POLICY"
	unix_hooks_or_skip
	case $mode in off) col=1 ;; audit) col=2 ;; enforce) col=3 ;; esac
	while read -r op type name wo wa we reason grant; do
		[ -n "$op" ] || continue
		full=$(name_of "$name")
		case $col in 1) want=$wo ;; 2) want=$wa ;; 3) want=$we ;; esac
		if [ "$op" = sendto ]; then
			assert_eq "$want" "$(in_cg "$CASE_CG/acme" "$UP" sendto "$full")" "$mode: sendto $name"
		else
			assert_eq "$want" "$(in_cg "$CASE_CG/acme" "$UP" connect "$type" "$full")" \
				"$mode: connect $type $name"
		fi
		[ "$mode" = off ] && continue
		n=$((n + 1))
		hook=connect etype=connect
		[ "$op" = sendto ] && hook=sendmsg etype=send
		if [ "$reason" = never ]; then
			verdict=deny
		elif [ "$reason" = granted ]; then
			verdict=allow
		elif [ "$mode" = audit ]; then
			verdict=audit
		else
			verdict=deny
		fi
		[ "$mode" = audit ] && [ "$reason" != never ] && [ "$reason" != granted ] &&
			reason=no_grant
		set -- v:=1 type="$etype" family=unix partner=acme partner_id:=1 verdict="$verdict" \
			reason="$reason" hook="$hook" socktype="$type" path="$full" comm=unixprobe \
			cgroup="$CASE_CG_REL/acme" +pid +tid uid:=0 +cgroup_id count:=1
		if [ "$grant" = - ]; then set -- "$@" -grant; else set -- "$@" grant.id="acme/$grant"; fi
		assert_event "$mode: event of $op $name" "$LOGS/acme.jsonl" "$@"
	done <<<"$UNIX_TABLE"
	if [ "$mode" = off ]; then
		assert_no_event "off: no UNIX event" "$LOGS/acme.jsonl" family=unix
	else
		assert_event_n "$n" "$mode: one event per attempt" "$LOGS/acme.jsonl" family=unix type!=alert
		assert_event "$mode: the never deny raises an alert" "$LOGS/host.jsonl" type=alert \
			rule=never family=unix path="$S/never.sock"
	fi
	ev validate "$LOGS"/*.jsonl >"$CASE_DIR/validate.out" 2>&1 ||
		fail "event logs not valid: $(head -n 3 "$CASE_DIR/validate.out")"
	stop_ok
}

case_unix_off() { unix_mode_case off; }
case_unix_audit() { unix_mode_case audit; }
case_unix_enforce() { unix_mode_case enforce; }

# A process outside the partner (a sibling cgroup below the same attach
# point, and the test's own cgroup) is unaffected and unlogged.
case_unix_nonpartner() {
	unix_setup
	unix_policy enforce
	bh_start "$POLICY"
	unix_hooks_or_skip
	assert_eq ok "$(in_cg "$CASE_CG/other" "$UP" connect stream "$S/other.sock")" "sibling cgroup: other.sock"
	assert_eq ok "$(in_cg "$CASE_CG/other" "$UP" connect stream "$S/never.sock")" "sibling cgroup: never.sock"
	assert_eq ok "$(in_ns "$NS_C" "$UP" sendto "$S/other.dg")" "outside every partner: sendto"
	assert_eq EPERM "$(in_cg "$CASE_CG/acme" "$UP" connect stream "$S/other.sock")" "acme still denied"
	assert_event "acme's deny" "$LOGS/acme.jsonl" family=unix path="$S/other.sock" verdict=deny
	assert_event_n 1 "only acme's attempt logged" "$LOGS/acme.jsonl" family=unix type!=alert
	assert_no_event "nothing unattributed" "$LOGS/host.jsonl" family=unix type=connect
	stop_ok
}

# A reload switches unix_mode and grants at once (the name trie is swapped whole).
case_unix_reload() {
	unix_setup
	unix_policy audit
	bh_start "$POLICY"
	unix_hooks_or_skip
	assert_eq ok "$(in_cg "$CASE_CG/acme" "$UP" connect stream "$S/other.sock")" "audit: allowed"
	unix_policy enforce
	cli apply "$POLICY"
	assert_eq 0 "$CLI_ST" "apply: $CLI_ERR"
	assert_eq EPERM "$(in_cg "$CASE_CG/acme" "$UP" connect stream "$S/other.sock")" "enforce after apply"
	assert_eq ok "$(in_cg "$CASE_CG/acme" "$UP" connect stream "$S/granted.sock")" "grant kept"
	stop_ok
}

# Nothing lost: 5,000 connects as fast as one process makes them; the lines
# written plus the `unix_ring` losses reported add up to exactly 5,000.
unix_accounted() {
	local lines lost
	lines=$(ev count "$LOGS/acme.jsonl" family=unix type=connect path="$S/granted.sock")
	lost=$(ev sum count "$LOGS/host.jsonl" type=loss what=unix_ring | cut -d' ' -f1)
	UNIX_SEEN="lines=$lines lost=${lost:-0}"
	[ $((lines + ${lost:-0})) -eq 5000 ]
}

case_unix_accounted() {
	unix_setup
	unix_policy enforce
	bh_start "$POLICY"
	unix_hooks_or_skip
	assert_contains "ok=5000" "$(in_cg "$CASE_CG/acme" "$UP" bench 5000 "$S/granted.sock")" "5000 granted connects"
	wait_until 10 unix_accounted || fail "lines + unix_ring losses != 5000: $UNIX_SEEN"
	bh_log "accounted: $UNIX_SEEN"
	stop_ok
}

tcase unix_off case_unix_off
tcase unix_audit case_unix_audit
tcase unix_enforce case_unix_enforce
tcase unix_nonpartner case_unix_nonpartner
tcase unix_reload case_unix_reload
tcase unix_accounted case_unix_accounted
bh_finish
