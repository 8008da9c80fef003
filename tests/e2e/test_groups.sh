#!/usr/bin/env bash
# End-to-end: operators without root (issue 13 item 4). `run --control-group
# C --read-group R`: the control socket is 0660 root:C with an ACL for R. Real
# unprivileged users, created here and removed afterwards, run the CLI with
# setpriv: a member of C grants and revokes (each change audited with its
# uid, pid and comm); a member of R runs status, list, why and reach (the
# daemon answers for its own pins) and is refused any change with a clear
# error; a user in neither cannot connect. Nothing changes on a refusal.
. "$(dirname "$0")/lib.sh"

GC="bhc$BH_RUN_ID" GR="bhr$BH_RUN_ID" GN="bhn$BH_RUN_ID"

# users_add / users_remove: groups GC, GR, GN and one user in each
# (UC, UR, UN: the user names; their uids in UID_C, UID_R, UID_N).
users_add() {
	local g
	for g in "$GC" "$GR" "$GN"; do
		groupadd "$g" && useradd -M -N -g "$g" -d / -s /usr/sbin/nologin "${g}u" ||
			fail_now "cannot create user ${g}u"
		echo "${g}u" >>"$CASE_DIR/users"
	done
	UC="${GC}u" UR="${GR}u" UN="${GN}u"
	UID_C=$(id -u "$UC") UID_R=$(id -u "$UR") UID_N=$(id -u "$UN")
}
users_remove() {
	local u
	[ -s "$CASE_DIR/users" ] || return 0
	while read -r u; do
		userdel "$u" 2>/dev/null
		groupdel "$u%u" 2>/dev/null
		groupdel "${u%u}" 2>/dev/null
	done <"$CASE_DIR/users"
	: >"$CASE_DIR/users"
}

# as USER ARGS...: bulkhead as USER (its groups from the user database);
# stdout in AS_OUT, stderr in AS_ERR, status in AS_ST.
as() {
	local u=$1
	shift
	AS_OUT=$(setpriv --reuid "$u" --regid "$(id -g "$u")" --init-groups \
		env BULKHEAD_CONTROL="$CTL" "$BULKHEAD" "$@" 2>"$CASE_DIR/as.err" </dev/null)
	AS_ST=$?
	AS_ERR=$(cat "$CASE_DIR/as.err")
	printf '$ (%s) bulkhead %s  => %s\n%s\n%s\n' "$u" "$*" "$AS_ST" "$AS_OUT" "$AS_ERR" >>"$CASE_DIR/cli.log"
}

case_groups() {
	local f="$LOGS/host.jsonl" before want
	RUNDIR="/run/bh-t$BH_RUN_ID-case$CASE_N"
	CTL="$RUNDIR/control.sock"
	trap 'st=$?; users_remove; rm -rf "$RUNDIR"; (exit $st); bh__case_cleanup' EXIT
	users_add
	cg_new acme
	policy_acme '[{"to": "10.20.0.5", "proto": "tcp", "ports": ["80"]}]'
	bh_start "$POLICY" --control "$CTL" --control-group "$GC" --read-group "$GR"
	export BULKHEAD_CONTROL=$CTL
	assert_eq "srw-rw---- root $GC" "$(stat -c '%A %U %G' "$CTL")" "socket 0660 root:$GC"
	assert_eq "drwx--x--x root" "$(stat -c '%A %U' "$RUNDIR")" "its directory 0711"

	# the control group: changes, audited
	as "$UC" grant acme --to 10.1.2.3 --proto tcp --ports 443 --ttl 1h --json
	assert_eq 0 "$AS_ST" "grant by a member of $GC"
	assert_eq acme/j1 "$(jq -r .grant.id <<<"$AS_OUT")" "the grant's id"
	assert_event "the grant is audited with the caller" "$f" type=policy action=grant \
		caller.uid:="$UID_C" caller.comm=bulkhead caller.pid\>0 grant.id=acme/j1
	as "$UC" revoke acme --grant acme/j1 --json
	assert_eq 0 "$AS_ST" "revoke by a member of $GC"
	assert_event "the revoke is audited with the caller" "$f" type=policy action=revoke \
		caller.uid:="$UID_C" caller.comm=bulkhead revoked.0.id=acme/j1

	# the read group: reads, through the daemon
	cli list --json
	before=$(jq -c .grants <<<"$CLI_OUT")
	as "$UR" list --json
	assert_eq 0 "$AS_ST" "list by a member of $GR"
	assert_eq "$before" "$(jq -c .grants <<<"$AS_OUT")" "list as $GR = list as root"
	as "$UR" status --json
	assert_eq 0 "$AS_ST" "status by a member of $GR"
	assert_eq "$PINDIR true" "$(jq -r '"\(.pin_dir) \(.daemon_running)"' <<<"$AS_OUT")" \
		"status as $GR: the daemon's pin dir, daemon running"
	cli why acme 10.20.0.5:80/tcp --json --pin-dir "$PINDIR"
	as "$UR" why acme 10.20.0.5:80/tcp --json
	assert_eq "0 allow" "$AS_ST $(jq -r .verdict <<<"$AS_OUT")" "why as $GR: exit and verdict"
	assert_eq "$(jq -c 'del(.now)' <<<"$CLI_OUT")" "$(jq -c 'del(.now)' <<<"$AS_OUT")" "why as $GR = why as root"
	as "$UR" why acme 10.1.2.3:443/tcp
	assert_eq 1 "$AS_ST" "why of a denied destination as $GR: exit 1"
	as "$UR" reach acme --json
	assert_eq 0 "$AS_ST" "reach by a member of $GR"
	assert_eq acme "$(jq -r .partner <<<"$AS_OUT")" "reach as $GR names acme"

	# the read group: every change refused, nothing changed
	as "$UR" grant acme --to 10.9.9.9 --proto tcp --ports 443 --ttl 1h
	want="bulkhead: permission denied: \`grant\` changes enforcement: root or the --control-group only (uid $UID_R is in the --read-group: status, list, why, reach)"
	assert_eq "1 $want" "$AS_ST $AS_ERR" "grant by a member of $GR refused"
	as "$UR" revoke acme --to 10.20.0.0/16
	assert_eq 1 "$AS_ST" "revoke by a member of $GR refused"
	assert_contains "permission denied: \`revoke\` changes enforcement" "$AS_ERR" "the revoke refusal"
	install -m 0644 "$POLICY" "$RUNDIR/policy.json"	# a file the user can read
	as "$UR" apply "$RUNDIR/policy.json"
	assert_contains "permission denied: \`apply\` changes enforcement" "$AS_ERR" "the apply refusal"
	as "$UR" status --pin-dir /sys/fs/bpf
	assert_eq "1 bulkhead: status: option \"--pin-dir\" is not available through the daemon (a caller who is not root gets the daemon's pin directory and --json only)" \
		"$AS_ST $AS_ERR" "status --pin-dir by a member of $GR refused"
	assert_file_has "$CASE_DIR/bulkhead.err" "refused \`grant\` from uid $UID_R" "the daemon logs the refusal"

	# neither group: the socket's mode keeps it out
	as "$UN" list
	assert_eq 4 "$AS_ST" "list by a user in neither group: exit 4"
	assert_contains "Permission denied" "$AS_ERR" "connect refused by the socket's mode"

	cli list --json
	assert_eq "$before" "$(jq -c .grants <<<"$CLI_OUT")" "grants unchanged by the refusals"
	assert_no_event "no change but the grant and the revoke" "$f" type=policy action~'^(grant|revoke|apply)$' caller.uid!="$UID_C"
	stop_ok
	assert_eq no "$( [ -e "$CTL" ] && echo yes || echo no)" "socket removed at exit"
}

# A control group alone: the socket is 0660 for it and nobody else reads.
case_control_group_only() {
	RUNDIR="/run/bh-t$BH_RUN_ID-case$CASE_N"
	CTL="$RUNDIR/control.sock"
	trap 'st=$?; users_remove; rm -rf "$RUNDIR"; (exit $st); bh__case_cleanup' EXIT
	users_add
	cg_new acme
	policy_acme '[]'
	mkdir -m 0700 "$RUNDIR"		# as a run without groups left it: made 0711
	bh_start "$POLICY" --control "$CTL" --control-group "$GC"
	assert_eq "drwx--x--x" "$(stat -c '%A' "$RUNDIR")" "its directory made 0711"
	as "$UC" status --json
	assert_eq 0 "$AS_ST" "status by a member of $GC (through the daemon)"
	as "$UR" list
	assert_eq 4 "$AS_ST" "list by a member of $GR (no --read-group): exit 4"
	"$BULKHEAD" run --policy "$POLICY" --control-group "no-such-group-$BH_RUN_ID" \
		>/dev/null 2>"$CASE_DIR/nogroup.err"
	assert_eq "2 bulkhead: --control-group: no such group 'no-such-group-$BH_RUN_ID' (see getent group)" \
		"$? $(head -n 1 "$CASE_DIR/nogroup.err")" "an unknown group is a usage error"
	stop_ok
}

tcase groups             case_groups
tcase control_group_only case_control_group_only

bh_finish
