#!/usr/bin/env bash
# End-to-end tests of identity that follows the workload (issue 11): a bound
# cgroup removed and created again (a service restart) is bound to its
# partner in the kernel at mkdir (tp_btf/cgroup_mkdir), before any process
# can enter it, with the daemon running or killed; its old id leaves the
# identity map at rmdir. The fast rmdir/mkdir/enter/connect loop is
# tests/probe/rebind.c (no sleep, no poll between the mkdir and the connect).
# See lib.sh for the harness.
#
# Every case: partner acme may reach 10.20.0.5:9000 (tcp), not 10.20.0.6:9000,
# where the same echo server listens.

# Case functions are only called through tcase.
# shellcheck disable=SC2317
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

RB=$BH_TMP/rebind		# built on first use (rb_prereq), shared by the cases
ALLOW=10.20.0.5:9000
DENY=10.20.0.6:9000

# ------------------------------------------------------------------ helpers

rb_prereq() {
	command -v jq >/dev/null || skip "no jq (needed to read status)"
	command -v bpftool >/dev/null || skip "no bpftool (needed to count the identity map)"
	[ -x "$RB" ] && return 0
	if ! "${CC:-cc}" -O2 -Wall -Wextra -Werror -o "$RB.$$" "$BH_SRC_ROOT/tests/probe/rebind.c" \
		2>"$CASE_DIR/rebind.build"; then
		fail_now "cannot build tests/probe/rebind.c: $(head -n 5 "$CASE_DIR/rebind.build")"
	fi
	mv -f "$RB.$$" "$RB"
}

# rb ARGS...: the rebind probe in the client namespace; its output in RB_OUT.
rb() {
	RB_OUT=$(in_ns "$NS_C" "$RB" "$@" 2>>"$CASE_DIR/rebind.err")
	printf '$ rebind %s\n%s\n' "$*" "$RB_OUT" >>"$CASE_DIR/rebind.log"
}

# rb_cycles N DIR...: N restarts of DIR..., each followed by a fresh process
# connecting to $ALLOW and $DENY; asserts N/N allowed and N/N denied.
rb_cycles() {
	local n=$1
	shift
	rb cycle "$n" "$ALLOW" "$DENY" "$@"
	assert_eq "cycles=$n allowed=$n denied=$n" "$(tail -n 1 <<<"$RB_OUT")" \
		"$n restarts of $(bh_cg_name "${*: -1}"), each entered at once"
}

# the policy: partner_root $CASE_CG_REL/partners; acme bound to the paths given
# (relative to the case cgroup); gamma by partner_root/gamma (no cgroups).
policy_root() {
	local cgs="" c
	for c in "$@"; do cgs="$cgs, \"$CASE_CG_REL/$c\""; done
	policy <<EOF
{
  "version": 1,
  "partner_root": "$CASE_CG_REL/partners",
  "partners": {
    "acme": {
      "cgroups": [${cgs#, }],
      "org": "Acme Corp", "contact": "sec@acme.example",
      "allow": [{"to": "10.20.0.5", "proto": "tcp", "ports": ["9000"]}]
    },
    "gamma": {
      "allow": [{"to": "10.20.0.5", "proto": "tcp", "ports": ["9000"]}]
    }
  }
}
EOF
}

status_binding() { status_json | jq -c ".binding.paths[] | select(.cgroup==\"$CASE_CG_REL/$1\")"; }
cgroups_entries() { bpftool map dump pinned "$PINDIR/bh_cgroups" -j | jq length; }

# -------------------------------------------------------------------- cases

# 300 restarts of a bound service below partner_root, with the daemon running
# and then killed (SIGKILL): every fresh process gets its grant at once and
# nothing else. The restarted daemon writes the lifecycle events of the
# bindings made while it was down (the kernel kept them in its ring).
case_restart_300() {
	rb_prereq
	policy_root partners/acme.service
	srv_start echo 9000
	cg_new partners/acme.service
	bh_start "$POLICY"
	assert_eq at-creation "$(status_json | jq -r .binding.mode)" "status: binding mode"
	assert_contains "binding: at-creation" "$(cat "$LOGS/host.jsonl")" "start event names the mode"

	rb_cycles 300 "$CASE_CG/partners/acme.service"
	assert_eq creation "$(status_binding partners/acme.service | jq -r .bound_by)" "status: bound by"
	assert_eq "$(bh_cgroup_id_of "$CASE_CG/partners/acme.service")" \
		"$(status_binding partners/acme.service | jq -r .cgroup_id)" "status: the current cgroup id"
	assert_event "a bind lifecycle event in host.jsonl" "$LOGS/host.jsonl" \
		type=lifecycle event=bind how=creation
	assert_event_n 300 "bind events in acme.jsonl" "$LOGS/acme.jsonl" type=lifecycle event=bind
	assert_event_n 300 "unbind events in host.jsonl" "$LOGS/host.jsonl" type=lifecycle event=unbind partner=acme
	assert_event "a bind event names the path, the old and the new id, the org" "$LOGS/acme.jsonl" \
		type=lifecycle event=bind "cgroup=$CASE_CG_REL/partners/acme.service" \
		old_cgroup_id\>0 cgroup_id\>0 partner_id\>0 "org=Acme Corp"
	assert_event "an unbind event: the removed id, then 0" "$LOGS/host.jsonl" \
		type=lifecycle event=unbind old_cgroup_id\>0 cgroup_id=0 partner=acme
	# org: in status, list and every event of the partner
	assert_eq "Acme Corp sec@acme.example" "$(status_json | jq -r '.partners[] | select(.partner=="acme") | "\(.org) \(.contact)"')" \
		"status: org and contact"
	assert_eq '"Acme Corp"' "$(list_json | jq -c '[.[] | select(.partner=="acme") | .org] | unique | .[]')" "list: org"
	assert_eq 0 "$(( $(ev_count "$LOGS/acme.jsonl" -org) + $(ev_count "$LOGS/acme.jsonl" 'org!=Acme Corp') ))" \
		"every line of acme.jsonl has the org"
	assert_event "deny events of acme carry the org" "$LOGS/acme.jsonl" \
		type=connect verdict=deny "org=Acme Corp"

	bh_kill9
	rb_cycles 300 "$CASE_CG/partners/acme.service"
	assert_eq 600 "$(status_binding partners/acme.service | jq -r .binds_at_creation)" \
		"status (daemon down): binds at creation"
	bh_start "$POLICY"
	assert_event_n 600 "bind events after the restart: none lost while down" "$LOGS/acme.jsonl" \
		type=lifecycle event=bind
	stop_ok
}

# Both levels of a nested path recreated; an intermediate level and an
# unknown sibling below partner_root stay fail-closed (unknown_partner).
case_nested_and_unknown() {
	rb_prereq
	policy_root partners/beta.slice/beta.service
	srv_start echo 9000
	cg_new partners/beta.slice/beta.service partners/evil.service
	bh_start "$POLICY"
	rb_cycles 300 "$CASE_CG/partners/beta.slice" "$CASE_CG/partners/beta.slice/beta.service"
	rb cycle 50 "$ALLOW" "$DENY" "$CASE_CG/partners/evil.service"
	assert_eq "cycles=50 allowed=0 denied=50" "$(tail -n 1 <<<"$RB_OUT")" "unknown sibling: 50 restarts, all denied"
	assert_probe EPERM "$CASE_CG/partners/beta.slice" tcp-connect 10.20.0.5 9000
	assert_event "unknown sibling denied with unknown_partner" "$LOGS/host.jsonl" \
		type=connect reason=unknown_partner partner:=null
	stop_ok
}

# A bound path absent when the policy is applied; partner_root/<name>.
case_absent_and_root_name() {
	rb_prereq
	policy_root partners/late.service
	srv_start echo 9000
	cg_new partners
	bh_start "$POLICY"
	assert_eq null "$(status_binding partners/late.service | jq -r .cgroup_id)" "status: absent path"
	rb_cycles 1 "$CASE_CG/partners/late.service"
	rb_cycles 100 "$CASE_CG/partners/late.service"
	rb cycle 300 "$ALLOW" "$DENY" "$CASE_CG/partners/gamma"
	assert_eq "cycles=300 allowed=300 denied=300" "$(tail -n 1 <<<"$RB_OUT")" "partner_root/gamma: 300 restarts"
	stop_ok
}

# The identity map stays bounded: after 1,500 restarts of every kind of bound
# path (no process ever entered), the same entries as after 0; after the
# last rmdir of a bound cgroup, its entry is gone.
case_map_bounded() {
	local before after dirs
	rb_prereq
	policy_root partners/acme.service partners/beta.slice/beta.service
	cg_new partners/acme.service partners/beta.slice/beta.service partners/gamma partners/evil.service
	bh_start "$POLICY"
	before=$(cgroups_entries)
	dirs="$CASE_CG/partners/acme.service $CASE_CG/partners/beta.slice $CASE_CG/partners/beta.slice/beta.service"
	dirs="$dirs $CASE_CG/partners/gamma $CASE_CG/partners/evil.service"
	# shellcheck disable=SC2086
	rb churn 1500 $dirs
	assert_eq cycles=1500 "$RB_OUT" "1500 churn cycles"
	after=$(cgroups_entries)
	assert_eq "$before" "$after" "bh_cgroups entries after 1500 restarts (before: $before)"
	rmdir "$CASE_CG/partners/acme.service"
	assert_eq $((before - 1)) "$(cgroups_entries)" "bh_cgroups entries after the last rmdir of acme.service"
	stop_ok
}

# A bound cgroup outside partner_root: its programs attach at its parent
# (an anchor), so its restarts stay enforced, with the daemon running and
# killed; a sibling in the same parent passes untouched.
case_outside_root() {
	rb_prereq
	policy <<EOF
{
  "version": 1,
  "partners": {
    "acme": {
      "cgroups": ["$CASE_CG_REL/svc/acme.service"],
      "allow": [{"to": "10.20.0.5", "proto": "tcp", "ports": ["9000"]}]
    }
  }
}
EOF
	srv_start echo 9000
	cg_new svc/acme.service svc/other.service
	bh_start "$POLICY"
	assert_eq "/$CASE_CG_REL/svc" "$(status_json | jq -r '[.programs[] | select(.attach_type != "tp_btf") | .cgroup] | unique | join(",")')" \
		"programs attached at the parent of the bound cgroup"
	rb_cycles 300 "$CASE_CG/svc/acme.service"
	assert_probe ok "$CASE_CG/svc/other.service" tcp-connect 10.20.0.6 9000
	bh_kill9
	rb_cycles 300 "$CASE_CG/svc/acme.service"
	assert_probe ok "$CASE_CG/svc/other.service" tcp-connect 10.20.0.6 9000
	bh_start "$POLICY"
	stop_ok
	assert_eq 0 "$(ev_count "$LOGS/host.jsonl" dst=10.20.0.6)" "the sibling's sockets are no partner's: no events"
}

# Forced fallback (run --no-bind-tracepoints): the rescan binds a recreated
# cgroup within a second; until then it is fail-closed (below partner_root).
case_fallback_window() {
	local i w max=0
	rb_prereq
	policy_root partners/acme.service
	srv_start echo 9000
	cg_new partners/acme.service
	bh_start "$POLICY" --no-bind-tracepoints
	assert_eq rescan "$(status_json | jq -r .binding.mode)" "status: binding mode"
	for i in 1 2 3 4 5; do
		rb window 3000 "$ALLOW" "$CASE_CG/partners/acme.service"
		w=$(sed -n 's/^window_us=\([0-9]*\).*/\1/p' <<<"$RB_OUT")
		[ -n "$w" ] || { fail "restart $i: never bound: $RB_OUT"; continue; }
		[ "$w" -gt "$max" ] && max=$w
	done
	bh_log "fallback windows: max $max us over 5 restarts"
	assert_le "$max" 999999 "fallback: the longest window from mkdir to the first granted connect (us)"
	assert_eq rescan "$(status_binding partners/acme.service | jq -r .bound_by)" "status: bound by"
	assert_event "a bind lifecycle event by the rescan" "$LOGS/acme.jsonl" \
		type=lifecycle event=bind how=rescan
	stop_ok
}

# Restarts while no daemon runs outnumber what the lifecycle ring holds
# (about 900 records): every record is an event or counted in a loss line.
case_lifecycle_ring_full() {
	local binds unbinds lost
	rb_prereq
	policy_root partners/acme.service
	cg_new partners/acme.service
	bh_start "$POLICY"
	bh_kill9
	rb churn 600 "$CASE_CG/partners/acme.service"
	assert_eq cycles=600 "$RB_OUT" "600 restarts while the daemon is down"
	bh_start "$POLICY"
	assert_event "loss lifecycle_ring" "$LOGS/host.jsonl" type=loss what=lifecycle_ring count\>0
	binds=$(ev_count "$LOGS/acme.jsonl" type=lifecycle event=bind)
	unbinds=$(ev_count "$LOGS/host.jsonl" type=lifecycle event=unbind partner=acme)
	lost=$(ev get count "$LOGS/host.jsonl" type=loss what=lifecycle_ring)
	bh_log "lifecycle after 600 restarts while down: $binds binds, $unbinds unbinds, $lost lost"
	assert_eq 1200 "$((binds + unbinds + lost))" "bind and unbind events plus the lost count"
	assert_eq "$lost" "$(status_binding partners/acme.service | jq -r .lifecycle_lost)" "status: lifecycle_lost"
	stop_ok
}

bh_cgroup_id_of() { stat -c %i "$1"; }

tcase restart_300 case_restart_300
tcase nested_and_unknown case_nested_and_unknown
tcase absent_and_root_name case_absent_and_root_name
tcase map_bounded case_map_bounded
tcase outside_root case_outside_root
tcase fallback_window case_fallback_window
tcase lifecycle_ring_full case_lifecycle_ring_full
bh_finish
