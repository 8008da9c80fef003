#!/usr/bin/env bash
# End-to-end tests of safe policy changes (issue 12): exact revocation
# (--to is the exact prefix, --within the inside, a confirmation for several
# or policy-file grants, --dry-run), restoring a revoked policy-file grant,
# one source of truth for the policy (SIGHUP and a restart after `apply`,
# SIGUSR1 reopens the logs only), grant ids derived from content (reordering
# the file changes none), the preview of `diff` / `apply --dry-run` with the
# established flows it would cut, `whois`, and the `grant` defaults. See
# lib.sh for the harness (fresh cgroup, namespaces, pin dir and control
# socket per case); JSON is read with jq.

# Case functions are only called through tcase.
# shellcheck disable=SC2317
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

# ------------------------------------------------------------------ helpers

# The grant list of acme (ids) in one line, sorted: "id to proto ports".
ids_of() { list_json | jq -r '[.[] | select(.source=="policy") | "\(.id) \(.to) \(.proto) \(.ports // ["all"] | join(","))"] | sort | join(";")'; }

# The policy-file grant of acme to $1 (its id).
id_to() { list_json | jq -r ".[] | select(.source==\"policy\" and .to==\"$1\") | .id"; }

# Two grants of acme: the "api" grant (explicit id) and dns (derived id).
policy_two() {
	policy_acme '[{"id": "api", "to": "10.20.0.5/32", "proto": "tcp", "ports": ["9000"], "purpose": "acme api"},
                {"to": "10.20.0.6", "proto": "udp", "ports": ["53"], "purpose": "dns"}]' "${1:-}"
}

# ------------------------------------------------------------------- cases

# 1. Defect 1: `revoke --to 0.0.0.0/0`, meant for a mistaken 0.0.0.0/0 JIT
# grant, takes that grant only; the policy-file grants inside the prefix stay
# (listed as kept), and so does traffic on them.
case_revoke_to_exact() {
	policy_two
	srv_start echo 9000
	srv_start echo 9001
	jit_start
	cli grant acme --to 0.0.0.0/0 --proto tcp --ports 9001 --ttl 10m --purpose mistake --json
	assert_eq acme/j1 "$(jq -r .grant.id <<<"$CLI_OUT")" "the mistaken grant's id"
	cli grant acme --to 10.20.0.0/24 --proto tcp --ports 9001 --ttl 10m --json
	assert_eq acme/j2 "$(jq -r .grant.id <<<"$CLI_OUT")" "the second grant's id"
	assert_probe ok "$ACME" tcp-connect 10.20.0.5 9000

	cli revoke acme --to 0.0.0.0/0
	assert_eq 0 "$CLI_ST" "revoke --to 0.0.0.0/0 exit status"
	assert_eq 1 "$(grep -c '^revoked: ' <<<"$CLI_OUT")" "grants revoked by --to 0.0.0.0/0"
	assert_contains "revoked: acme/j1 " "$CLI_OUT" "stdout"
	assert_eq 3 "$(grep -c '^kept (inside the prefix' <<<"$CLI_OUT")" "grants listed as kept inside 0.0.0.0/0"
	assert_contains "acme/api" "$CLI_OUT" "stdout"
	assert_eq "" "$(grant_field acme/j1 id)" "acme/j1 gone"
	assert_eq live "$(grant_field acme/api state)" "acme/api (policy file) still live"
	assert_eq live "$(grant_field acme/j2 state)" "acme/j2 still live"
	assert_probe ok "$ACME" tcp-connect 10.20.0.5 9000
	assert_probe ok "$ACME" tcp-connect 10.20.0.5 9001
	assert_event "policy event: one grant revoked" "$LOGS/host.jsonl" \
		type=policy action=revoke revoked.#:=1 revoked.0.id=acme/j1 caller.comm=bulkhead

	# --within takes everything inside, but several grants need --yes
	cli revoke acme --within 10.20.0.0/16
	assert_eq 1 "$CLI_ST" "revoke --within without --yes (not a terminal) exit status"
	assert_contains "confirm with --yes" "$CLI_ERR" "stderr"
	assert_eq 3 "$(grep -c '^would revoke: ' <<<"$CLI_OUT")" "matches listed without --yes"
	assert_eq live "$(grant_field acme/api state)" "acme/api untouched without --yes"
	cli revoke acme --within 10.20.0.0/16 --dry-run --json
	assert_eq 0 "$CLI_ST" "revoke --dry-run exit status"
	assert_eq "$(jq -nc --arg d "$(id_to 10.20.0.6/32)" '["acme/api", "acme/j2", $d] | sort')" \
		"$(jq -c '[.matches[].id] | sort' <<<"$CLI_OUT")" "--dry-run matches"
	assert_eq live "$(grant_field acme/j2 state)" "acme/j2 untouched by --dry-run"
	# one policy-file grant needs --yes too
	cli revoke acme --grant acme/api
	assert_eq 1 "$CLI_ST" "revoke of a policy-file grant without --yes"
	assert_contains "from the policy file" "$CLI_ERR" "stderr"
	cli revoke acme --within 10.20.0.0/16 --yes --json
	assert_eq 0 "$CLI_ST" "revoke --within --yes exit status"
	assert_eq 3 "$(jq '.revoked | length' <<<"$CLI_OUT")" "grants revoked by --within --yes"
	assert_probe EPERM "$ACME" tcp-connect 10.20.0.5 9000
	stop_ok
}

# revoke PARTNER without a selector names what is missing, then the usage.
case_revoke_no_selector() {
	cli revoke acme
	assert_eq 2 "$CLI_ST" "revoke without selector exit status"
	assert_eq "bulkhead revoke: nothing selected: give exactly one of --grant ID, --to CIDR or --within CIDR (\`bulkhead list acme\` shows the grants)" \
		"$(head -n 1 <<<"$CLI_ERR")" "first line of the error"
	assert_contains "Usage: bulkhead revoke" "$CLI_ERR" "stderr"
	cli restore acme
	assert_eq 2 "$CLI_ST" "restore without --grant exit status"
	assert_contains "no --grant ID given" "$CLI_ERR" "stderr"
}

# 2. Defect 2: a revoked policy-file grant is restored with `restore`:
# traffic flows again (a real connect), the audit trail names who revoked it
# and who restored it, and `list` shows who revoked what and when.
case_restore_file_grant() {
	local line
	policy_two
	srv_start echo 9000
	jit_start
	assert_probe ok "$ACME" tcp-connect 10.20.0.5 9000
	cli revoke acme --grant acme/api --yes
	assert_eq 0 "$CLI_ST" "revoke acme/api exit status"
	assert_probe EPERM "$ACME" tcp-connect 10.20.0.5 9000
	cli list acme
	line=$(grep '^acme/api ' <<<"$CLI_OUT")
	assert_contains "revoked" "$line" "output"
	[[ $line =~ revoked\ 20[0-9-]+T[0-9:.]+Z\ by\ uid\ 0\ \(bulkhead,\ pid\ [0-9]+\) ]] ||
		fail "list (text) does not say who revoked acme/api and when: $line"
	# revoked stays revoked across SIGHUP
	kill -HUP "$BH_DAEMON_PID"
	wait_until 5 ev__has "$LOGS/host.jsonl" type=policy action=reload result=applied ||
		fail "no reload after SIGHUP"
	assert_eq revoked "$(grant_field acme/api state)" "acme/api after SIGHUP"

	cli restore acme --grant acme/nope
	assert_eq 1 "$CLI_ST" "restore of an unknown grant"
	assert_contains "acme has no policy-file grant acme/nope" "$CLI_ERR" "stderr"
	cli restore acme --grant "$(id_to 10.20.0.6/32)"
	assert_eq 1 "$CLI_ST" "restore of a grant not revoked"
	assert_contains "is not revoked" "$CLI_ERR" "stderr"
	cli restore acme --grant acme/api --dry-run
	assert_eq 0 "$CLI_ST" "restore --dry-run"
	assert_contains "would restore: acme/api" "$CLI_OUT" "stdout"
	assert_eq revoked "$(grant_field acme/api state)" "acme/api after restore --dry-run"
	cli restore acme --grant acme/api
	assert_eq 0 "$CLI_ST" "restore exit status"
	assert_contains "restored: acme/api" "$CLI_OUT" "stdout"
	assert_eq live "$(grant_field acme/api state)" "acme/api after restore"
	assert_probe ok "$ACME" tcp-connect 10.20.0.5 9000
	assert_event "policy event restore naming the caller and who revoked" "$LOGS/host.jsonl" \
		type=policy action=restore partner=acme caller.uid:=0 caller.comm=bulkhead \
		restored.id=acme/api restored.revoked_by.comm=bulkhead
	assert_event "policy event restore in acme.jsonl" "$LOGS/acme.jsonl" \
		type=policy action=restore restored.id=acme/api
	stop_ok
}

# 3. Defect 3: after `apply policy2`, SIGHUP reloads policy2 (not --policy),
# a restart on the same pins loads policy2, `status` names it with its
# sha256, and SIGUSR1 reopens the logs without reloading anything.
case_sighup_keeps_apply() {
	local p2="$CASE_DIR/policy2.json" sum n
	policy_acme '[{"to": "10.20.0.5", "proto": "tcp", "ports": ["9000"]}]'
	policy_acme '[{"to": "10.20.0.5", "proto": "tcp", "ports": ["9000"]},
                {"to": "10.20.0.6", "proto": "tcp", "ports": ["9000"]}]' "$p2"
	srv_start echo 9000
	jit_start
	assert_probe EPERM "$ACME" tcp-connect 10.20.0.6 9000
	cli apply "$p2"
	assert_eq 0 "$CLI_ST" "apply policy2"
	assert_contains "applied: 1 partners, 2 grants in force; $p2 (sha256" "$CLI_OUT" "stdout"
	sum=$(sha256sum "$p2" | cut -d' ' -f1)
	kill -HUP "$BH_DAEMON_PID"
	wait_until 5 ev__has "$LOGS/host.jsonl" type=policy action=reload result=applied ||
		fail_now "no reload after SIGHUP"
	assert_event "the reload read policy2" "$LOGS/host.jsonl" \
		type=policy action=reload file="$p2" sha256="$sum" grants:=2
	assert_probe ok "$ACME" tcp-connect 10.20.0.6 9000
	assert_eq "$p2 $sum" "$(status_json | jq -r '"\(.policy.file) \(.policy.sha256)"')" "status --json: policy file and sha256"
	"$BULKHEAD" status --pin-dir "$PINDIR" >"$CASE_DIR/status.txt"
	assert_file_has "$CASE_DIR/status.txt" "policy       $p2" "status (text): the policy file"
	assert_file_has "$CASE_DIR/status.txt" "sha256 $sum" "status (text): its sha256"

	# SIGUSR1: the logs are reopened, the policy is not reloaded
	n=$(ev_count "$LOGS/host.jsonl" type=policy)
	mv "$LOGS/host.jsonl" "$LOGS/host.jsonl.1"
	kill -USR1 "$BH_DAEMON_PID"
	wait_until 5 ev__has "$LOGS/host.jsonl" type=lifecycle event=reopen ||
		fail "no reopen lifecycle event in a new host.jsonl after SIGUSR1"
	assert_eq "$n" "$(ev_count "$LOGS/host.jsonl.1" type=policy)" "policy events before SIGUSR1"
	assert_eq 0 "$(ev_count "$LOGS/host.jsonl" type=policy)" "policy events after SIGUSR1"

	# a restart with --policy policy1 on the same pins: policy2 is in force
	bh_stop
	bh_start "$POLICY"
	assert_file_has "$CASE_DIR/bulkhead.err" "policy in force: $p2" "the restart says which policy file it loaded"
	assert_probe ok "$ACME" tcp-connect 10.20.0.6 9000
	assert_eq 2 "$(list_json | jq length)" "grants after the restart"
	# applying policy1 again makes it the policy in force
	cli apply "$POLICY"
	assert_eq 0 "$CLI_ST" "apply policy1"
	assert_probe EPERM "$ACME" tcp-connect 10.20.0.6 9000
	assert_eq "$POLICY" "$(status_json | jq -r .policy.file)" "status: policy1 again"
	stop_ok
}

# 4. Defect 4: reordering the file changes no grant id; an event written
# before the reorder names, by its grant id, the same grant after it; the
# revocation and the ttl start follow the id.
case_reorder_keeps_ids() {
	local p2="$CASE_DIR/policy2.json" before gid exp
	policy_acme '[{"to": "10.20.0.5", "proto": "tcp", "ports": ["9000"], "purpose": "api"},
                {"to": "10.20.0.6", "proto": "tcp", "ports": ["9000"], "purpose": "dns", "ttl": "1h"},
                {"id": "web", "to": "10.1.2.3", "proto": "tcp", "ports": ["80"]}]'
	policy_acme '[{"id": "web", "to": "10.1.2.3", "proto": "tcp", "ports": ["80"]},
                {"to": "10.20.0.6", "proto": "tcp", "ports": ["9000"], "purpose": "dns", "ttl": "1h"},
                {"to": "10.20.0.5", "proto": "tcp", "ports": ["9000"], "purpose": "api"}]' "$p2"
	srv_start echo 9000
	jit_start
	before=$(ids_of)
	[[ $(id_to 10.20.0.5/32) =~ ^acme/h[0-9a-f]{12}$ ]] || fail "derived id of the api grant: $(id_to 10.20.0.5/32)"
	assert_probe ok "$ACME" tcp-connect 10.20.0.5 9000
	assert_event "the connect's flow event names the api grant" "$LOGS/acme.jsonl" \
		type=flow phase=new dst=10.20.0.5 dport:=9000
	gid=$(ev lines "$LOGS/acme.jsonl" type=flow phase=new dst=10.20.0.5 | head -n 1 | jq -r .grant.id)
	assert_eq "$(id_to 10.20.0.5/32)" "$gid" "the event's grant id"
	cli revoke acme --grant "$(id_to 10.20.0.6/32)" --yes
	exp=$(grant_field "$(id_to 10.20.0.6/32)" expires)
	[ -n "$exp" ] || fail "no expires on the dns ttl grant"
	cli apply "$p2"
	assert_eq 0 "$CLI_ST" "apply of the reordered file"
	assert_contains "no grant changes" "$CLI_OUT" "stdout"
	assert_eq "$before" "$(ids_of)" "every id after the reorder"
	assert_eq "10.20.0.5/32 api" "$(list_json | jq -r ".[] | select(.id==\"$gid\") | \"\(.to) \(.purpose)\"")" \
		"the old event's grant id names the api grant"
	assert_eq revoked "$(grant_field "$(id_to 10.20.0.6/32)" state)" "the revocation followed the dns grant"
	assert_eq "$exp" "$(grant_field "$(id_to 10.20.0.6/32)" expires)" "the dns ttl start followed the grant"
	assert_probe ok "$ACME" tcp-connect 10.20.0.5 9000
	assert_probe EPERM "$ACME" tcp-connect 10.20.0.6 9000
	stop_ok
}

# The same content twice gets a second id of its own; a duplicate explicit id
# is an error at its position.
case_id_rules() {
	local out
	policy_acme '[{"to": "10.20.0.5", "proto": "tcp", "ports": ["9000"]},
                {"to": "10.20.0.5", "proto": "tcp", "ports": ["9000"], "purpose": "again"}]'
	out=$("$BULKHEAD" check --json "$POLICY" 2>&1) || fail "check of two equal grants: $out"
	policy_acme '[{"id": "api", "to": "10.20.0.5", "proto": "tcp", "ports": ["9000"]},
                {"id": "api", "to": "10.20.0.6", "proto": "tcp", "ports": ["9000"]}]'
	out=$("$BULKHEAD" check "$POLICY" 2>&1) && fail "check accepted a duplicate id"
	assert_contains "$POLICY:7:24: grant id \"api\" given twice in this partner (ids are unique per partner)" "$out" "output"
	policy_acme '[{"id": "j7", "to": "10.20.0.5"}]'
	out=$("$BULKHEAD" check "$POLICY" 2>&1) && fail "check accepted id j7"
	assert_contains "has the form of a just-in-time grant's id" "$out" "output"
}

# 5. diff / apply --dry-run: additions, removals, widening, narrowing, a
# lifted and a kept revocation, and the established flows the new file cuts,
# counted against real flows (two TCP streams on the grant it narrows away,
# one UDP flow it keeps).
case_diff_preview() {
	local p2="$CASE_DIR/policy2.json" d
	policy_acme '[{"id": "api", "to": "10.20.0.5", "proto": "tcp", "ports": ["9000", "9001"]},
                {"id": "wide", "to": "10.20.0.6", "proto": "tcp", "ports": ["9000"]},
                {"id": "gone", "to": "10.1.2.3", "proto": "tcp", "ports": ["80"]},
                {"id": "kept", "to": "10.2.0.1", "proto": "tcp", "ports": ["80"]},
                {"id": "dns", "to": "10.20.0.6", "proto": "udp", "ports": ["5353"]}]'
	policy_acme '[{"id": "api", "to": "10.20.0.5", "proto": "tcp", "ports": ["9001"]},
                {"id": "wide", "to": "10.20.0.6/31", "proto": "tcp", "ports": ["9000"]},
                {"id": "kept", "to": "10.2.0.1", "proto": "tcp", "ports": ["80"]},
                {"id": "dns", "to": "10.20.0.6", "proto": "udp", "ports": ["5353"]},
                {"id": "new", "to": "fd00:20::5", "proto": "tcp", "ports": ["9000"]}]' "$p2"
	srv_start sink 9000 "$CASE_DIR/a.rx"
	srv_start udp 5353 "$CASE_DIR/u.rx"
	jit_start
	cli revoke acme --grant acme/gone --yes
	cli revoke acme --grant acme/kept --yes
	stream_start s1 "$ACME" tcp 10.20.0.5 9000
	stream_start s2 "$ACME" tcp 10.20.0.5 9000
	stream_start u1 "$ACME" udp 10.20.0.6 5353
	stream_start o1 "$OUT" tcp 10.20.0.5 9000
	wait_until 5 rx_at_least "$CASE_DIR/u.rx" 3 || fail "the udp flow delivered nothing"

	cli diff "$p2" --json
	assert_eq 0 "$CLI_ST" "diff exit status"
	d=$(jq -c .diff <<<"$CLI_OUT")
	assert_eq '["acme/new"]' "$(jq -c '[.partners[0].added[].id]' <<<"$d")" "added"
	assert_eq '["acme/gone"]' "$(jq -c '[.partners[0].removed[].id]' <<<"$d")" "removed"
	assert_eq '["acme/wide 10.20.0.6/32 -> 10.20.0.6/31"]' \
		"$(jq -c '[.partners[0].widened[] | "\(.from.id) \(.from.to) -> \(.to.to)"]' <<<"$d")" "widened"
	assert_eq '["acme/api 9000-9001 -> 9001"]' \
		"$(jq -c '[.partners[0].narrowed[] | "\(.from.id) \(.from.ports | join(",")) -> \(.to.ports | join(","))"]' <<<"$d")" "narrowed"
	assert_eq '["acme/gone"]' "$(jq -c .partners[0].revocations_lifted <<<"$d")" "revocations lifted"
	assert_eq '["acme/kept"]' "$(jq -c .partners[0].revocations_kept <<<"$d")" "revocations kept"
	assert_eq 2 "$(jq .flows_cut <<<"$d")" "flows the new file would cut (two acme streams to 10.20.0.5:9000)"
	cli apply --dry-run "$p2"
	assert_eq 0 "$CLI_ST" "apply --dry-run exit status"
	assert_contains "~ narrowed acme/api" "$CLI_OUT" "stdout"
	assert_contains "established flows that would be cut: 2" "$CLI_OUT" "stdout"
	assert_contains "dry run: nothing applied" "$CLI_OUT" "stdout"
	assert_eq 0 "$(ev_count "$LOGS/host.jsonl" type=policy action=apply)" "policy apply events after the dry runs"
	jf_is s1 phase connected || fail "stream s1 after the dry runs: $(jf s1 phase)"

	cli apply "$p2"
	assert_eq 0 "$CLI_ST" "apply exit status"
	assert_contains "+ added    acme/new" "$CLI_OUT" "stdout"
	assert_contains "- removed  acme/gone" "$CLI_OUT" "stdout"
	assert_contains "established flows that would be cut: 2" "$CLI_OUT" "stdout"
	wait_until 5 ev__has "$LOGS/host.jsonl" type=policy action=sockets-destroyed cause=apply ||
		fail "no sockets-destroyed event after the apply"
	assert_event "the apply cut the two streams" "$LOGS/host.jsonl" \
		type=policy action=sockets-destroyed cause=apply count:=2
	assert_eq "" "$(grant_field acme/gone id)" "acme/gone no longer listed (revocation lifted)"
	assert_eq revoked "$(grant_field acme/kept state)" "acme/kept still revoked"
	stop_ok
}

# 6. whois: a partner process, a nested cgroup (the bound ancestor decides),
# an unknown sibling below partner_root (fail-closed) and a process outside
# every partner; `status` shows each partner's mode, org, cgroups and denies.
case_whois() {
	local pid root="$CASE_CG_REL/partners"
	cg_new partners/acme/job1 partners/stranger outside
	POLICY="$CASE_DIR/policy.json"
	cat >"$POLICY" <<EOF
{
  "version": 1,
  "partner_root": "$root",
  "partners": {
    "acme": {"org": "Acme Corp", "mode": "audit", "allow": []}
  }
}
EOF
	bh_start "$POLICY"
	in_cg_bg "$CASE_CG/partners/acme" sleep 300 </dev/null >/dev/null 2>&1
	pid=$BH_BG_PID
	echo "$pid" >>"$CASE_DIR/server.pids"
	wait_until 5 grep -qx "$pid" "$CASE_CG/partners/acme/cgroup.procs" || fail_now "the sleeper is not in acme's cgroup"
	cli whois "$pid" --pin-dir "$PINDIR"
	assert_eq 0 "$CLI_ST" "whois PID exit status"
	assert_eq "pid $pid in cgroup $root/acme: partner acme, bound at $root/acme" "$CLI_OUT" "whois of a partner process"
	cli whois "$root/acme/job1" --pin-dir "$PINDIR" --json
	assert_eq "partner acme $root/acme" "$(jq -r '"\(.verdict) \(.partner) \(.bound_ancestor)"' <<<"$CLI_OUT")" "whois of a nested cgroup"
	cli whois "/$root/stranger" --pin-dir "$PINDIR"
	assert_eq "cgroup $root/stranger: fail-closed: below partner_root $root, bound to no partner (no network)" "$CLI_OUT" "whois of an unknown sibling"
	cli whois "$$" --pin-dir "$PINDIR" --json
	assert_eq outside "$(jq -r .verdict <<<"$CLI_OUT")" "whois of the test shell (outside every partner)"
	cli whois "$CASE_CG_REL/outside" --pin-dir "$PINDIR"
	assert_eq "cgroup $CASE_CG_REL/outside: outside every partner (not enforced)" "$CLI_OUT" "whois of a cgroup outside"
	cli whois 999999999 --pin-dir "$PINDIR"
	assert_eq 1 "$CLI_ST" "whois of no process"
	"$BULKHEAD" status --pin-dir "$PINDIR" >"$CASE_DIR/status.txt"
	assert_file_has "$CASE_DIR/status.txt" "  acme: audit, org Acme Corp; cgroups $root/acme; no denies" "status: partner line"
	stop_ok
}

# 7. No default that widens: grant without --proto or --ports is refused
# (not a terminal); --proto any and --ports all say it out loud; one port
# syntax; the host-bits error offers the address and the prefix.
case_grant_defaults() {
	policy_two
	jit_start
	cli grant acme --to 10.20.0.5 --ttl 10m
	assert_eq 2 "$CLI_ST" "grant without --proto"
	assert_eq "bulkhead grant: no --proto: give tcp, udp or icmp, or \`--proto any\` for every protocol" "$CLI_ERR" "grant without --proto"
	cli grant acme --to 10.20.0.5 --proto tcp --ttl 10m
	assert_eq 2 "$CLI_ST" "grant without --ports"
	assert_eq "bulkhead grant: no --ports: give the ports (443,8000-8100), or \`--ports all\` for every port" "$CLI_ERR" "grant without --ports"
	assert_eq 0 "$(list_json | jq '[.[] | select(.source=="jit")] | length')" "no grant made"
	cli grant acme --to 10.20.0.5 --proto icmp --ttl 10m --json
	assert_eq 0 "$CLI_ST" "icmp needs no --ports"
	cli grant acme --to 10.20.0.5 --proto any --ports all --ttl 10m --json
	assert_eq 0 "$CLI_ST" "--proto any --ports all"
	assert_eq "any null" "$(jq -r '"\(.grant.proto) \(.grant.ports)"' <<<"$CLI_OUT")" "every protocol and port, asked for"
	cli grant acme --to 10.20.0.5 --proto tcp --ports 443 --ports 8000-8100 --ttl 10m --json
	assert_eq '["443","8000-8100"]' "$(jq -c .grant.ports <<<"$CLI_OUT")" "--ports repeated"
	cli grant acme --to 10.77.0.10/24 --proto tcp --ports 443 --ttl 10m
	assert_eq 2 "$CLI_ST" "host bits (refused by the CLI, naming --to)"
	assert_contains "write 10.77.0.10/32 for that one address, or 10.77.0.0/24 for the whole prefix (256 addresses)" "$CLI_ERR" "stderr"
	stop_ok
}

# A missing partner_root: `run` refuses it with a message about the root,
# not the advice meant for a bound cgroup.
case_missing_partner_root() {
	POLICY="$CASE_DIR/policy.json"
	cat >"$POLICY" <<EOF
{"version": 1, "partner_root": "$CASE_CG_REL/nope", "partners": {"acme": {}}}
EOF
	bh_spawn "$POLICY"
	bh_wait_exit 10 || fail_now "bulkhead run with a missing partner_root did not exit"
	assert_eq 1 "$BH_DAEMON_STATUS" "run exit status"
	assert_file_has "$CASE_DIR/bulkhead.err" \
		"$POLICY: partner_root $BH_CG2/$CASE_CG_REL/nope: No such file or directory (create it: the programs attach there, and every partner's cgroup is created below it)" \
		"the error names the partner_root"
	assert_file_lacks "$CASE_DIR/bulkhead.err" "bind it below partner_root" "no advice meant for a bound cgroup"
}

# -------------------------------------------------------------- the table

tcase revoke_to_exact          case_revoke_to_exact
tcase revoke_no_selector       case_revoke_no_selector bin
tcase restore_file_grant       case_restore_file_grant
tcase sighup_keeps_apply       case_sighup_keeps_apply
tcase reorder_keeps_ids        case_reorder_keeps_ids
tcase id_rules                 case_id_rules
tcase diff_preview             case_diff_preview
tcase whois                    case_whois
tcase grant_defaults           case_grant_defaults
tcase missing_partner_root     case_missing_partner_root

bh_finish
