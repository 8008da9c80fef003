#!/usr/bin/env bash
# End-to-end tests of `bulkhead verify` (issue 15): probes from a transient
# child cgroup of the partner in verify's own namespaces, the kernel's answers
# against the policy in force, the failures verify exists to catch (a hook
# detached behind the daemon's back, a cgroup unbound, a grant missing from
# the trie), the revocation and expiry proofs. See lib.sh for the harness.

# Case functions are only called through tcase.
# shellcheck disable=SC2317
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

verify_policy() {
	policy <<EOF2
{
  "version": 1,
  "never": ["10.20.0.6/32", "169.254.169.254/32"],
  "partners": {
    "acme": {
      "cgroups": ["$CASE_CG_REL/acme"],
      "allow": [
        {"to": "10.20.0.0/24", "proto": "tcp", "ports": ["8000-8100"], "purpose": "api range", "id": "api"},
        {"to": "192.0.2.7", "proto": "icmp"},
        {"to": "fd00:20::/64", "proto": "udp", "ports": ["53"]}
      ]
    }
  }
}
EOF2
}

# verify_run ARGS...: `bulkhead verify ARGS --json` against this case's daemon.
verify_run() {
	cli verify "$@" --json --pin-dir "$PINDIR" --policy "$POLICY" --log-dir "$LOGS"
}

# probe_is JSON PROBE FIELD VALUE: the probe named PROBE has FIELD = VALUE.
probe_is() {
	assert_eq "$4" "$(jq -r --arg p "$2" "[.partners[].probes[] | select(.probe == \$p) | .$3] | first" <<<"$1")" "$2 $3"
}

case_verify_as_expected() {
	command -v jq >/dev/null || skip "no jq"
	verify_policy
	cg_new acme
	bh_start "$POLICY"
	verify_run --no-revocation
	assert_eq 0 "$CLI_ST" "verify exit status ($CLI_ERR)"
	assert_eq 0 "$(jq -r .wrong <<<"$CLI_OUT")" "wrong probes"
	assert_eq "lo" "$(jq -r .probe_netns.interfaces <<<"$CLI_OUT")" "the probe namespace has only lo"
	probe_is "$CLI_OUT" "tcp 10.20.0.0:8000" kernel allow
	probe_is "$CLI_OUT" "tcp 10.20.0.0:8000" errno ENETUNREACH
	probe_is "$CLI_OUT" "tcp 10.20.0.255:8100" kernel allow
	probe_is "$CLI_OUT" "tcp 10.20.0.128:8000" rule "granted acme/api (event)"
	probe_is "$CLI_OUT" "tcp 10.20.0.6:443" rule "never (event)"
	probe_is "$CLI_OUT" "tcp 10.20.0.0:8101" kernel deny
	probe_is "$CLI_OUT" "tcp 10.20.0.0:7999" kernel deny
	probe_is "$CLI_OUT" "tcp 10.20.1.0:8000" kernel deny
	probe_is "$CLI_OUT" "tcp 10.20.0.6:443" expected_reason never
	probe_is "$CLI_OUT" "icmp 192.0.2.7" kernel allow
	probe_is "$CLI_OUT" "icmp 192.0.2.8" kernel deny
	probe_is "$CLI_OUT" "udp [fd00:20::]:53" kernel allow
	probe_is "$CLI_OUT" "tcp 127.0.0.1:22" kernel deny
	probe_is "$CLI_OUT" "tcp 169.254.169.254:80" kernel deny
	assert_contains "as expected, 0 wrong" "$(jq -r .summary <<<"$CLI_OUT")" "summary"
	# nothing left behind: no probe cgroup
	assert_eq "" "$(find "$CASE_CG/acme" -mindepth 1 -type d -name 'bh-verify*')" "probe cgroup removed"
	stop_ok
}


# le_bytes N WIDTH: N as WIDTH little-endian bytes (decimal, for bpftool).
le_bytes() {
	local v=$1 i out=""
	for ((i = 0; i < $2; i++)); do out+="$(((v >> (8 * i)) & 255)) "; done
	printf '%s\n' "${out% }"
}

# assert_wrong PROBE...: verify (table output) exits 1 and names each PROBE
# as WRONG.
assert_wrong() {
	local p
	cli verify --no-revocation --pin-dir "$PINDIR" --policy "$POLICY" --log-dir "$LOGS"
	assert_eq 1 "$CLI_ST" "verify exit status ($CLI_ERR)"
	for p in "$@"; do
		assert_contains "WRONG" "$(grep -F "  $p " <<<"$CLI_OUT")" "verify names $p"
	done
	assert_contains " wrong" "$(tail -n 1 <<<"$CLI_OUT")" "summary line"
	[ "$(tail -n 1 <<<"$CLI_OUT" | sed -n 's/.*expected, \([0-9]*\) wrong.*/\1/p')" -gt 0 ] ||
		fail "summary counts no wrong probe: $(tail -n 1 <<<"$CLI_OUT")"
}

# detach_connect4: the connect4 links detached behind the daemon's back.
detach_connect4() {
	local l n=0
	for l in "$PINDIR"/links/*connect4*; do
		[ -e "$l" ] || continue
		bpftool link detach pinned "$l" || fail_now "bpftool link detach $l"
		n=$((n + 1))
	done
	[ "$n" -ge 1 ] || fail_now "no connect4 link pinned in $PINDIR/links"
}

case_verify_detached_link() {
	command -v jq >/dev/null || skip "no jq"
	verify_policy
	cg_new acme
	bh_start "$POLICY"
	detach_connect4
	assert_wrong "tcp 10.20.0.0:8101" "tcp 10.20.0.0:7999" "tcp 10.20.1.0:8000" "tcp 127.0.0.1:22"
	# udp and icmp still decided by their hooks
	assert_contains " ok " "$(grep -F "  udp [fd00:20::]:52 " <<<"$CLI_OUT")" "udp unaffected"
	stop_ok
}

case_verify_unbound_cgroup() {
	command -v jq >/dev/null || skip "no jq"
	verify_policy
	cg_new acme
	bh_start "$POLICY"
	local id
	id=$(stat -c %i "$CASE_CG/acme")
	# the identity map loses acme's cgroup behind the daemon's back
	bpftool map delete pinned "$PINDIR/bh_cgroups" key $(le_bytes "$id" 8) ||
		fail_now "bpftool map delete bh_cgroups $id"
	assert_wrong "tcp 10.20.0.0:8101" "tcp 127.0.0.1:22" "tcp 169.254.169.254:80"
	stop_ok
}

case_verify_missing_trie_entry() {
	command -v jq >/dev/null || skip "no jq"
	verify_policy
	cg_new acme
	bh_start "$POLICY"
	delete_trie_entry
	assert_wrong "tcp 10.20.0.0:8000" "tcp 10.20.0.255:8100" "tcp 10.20.0.128:8000"
	assert_contains "no_grant" "$(grep -F "  tcp 10.20.0.0:8000 " <<<"$CLI_OUT")" "the trie says no_grant"
	stop_ok
}

case_verify_revocation_expiry() {
	command -v jq >/dev/null || skip "no jq"
	verify_policy
	cg_new acme
	bh_start "$POLICY"
	verify_run --junit "$CASE_DIR/verify.xml"
	assert_eq 0 "$CLI_ST" "verify exit status ($CLI_ERR)"
	bh_log "$(jq -c .proofs <<<"$CLI_OUT")"
	local proof
	for proof in revocation expiry; do
		assert_eq true "$(jq -r ".proofs[] | select(.proof == \"$proof\") | .ok" <<<"$CLI_OUT")" "$proof proved"
		assert_eq EPERM "$(jq -r ".proofs[] | select(.proof == \"$proof\") | .udp_after_cut" <<<"$CLI_OUT")" "$proof: first datagram after the cut dropped"
		assert_eq 0 "$(jq -r ".proofs[] | select(.proof == \"$proof\") | .bytes_after_cut" <<<"$CLI_OUT")" "$proof: no byte after the cut reached the sink"
		assert_eq ECONNABORTED "$(jq -r ".proofs[] | select(.proof == \"$proof\") | .tcp_socket" <<<"$CLI_OUT")" "$proof: TCP socket destroyed"
		assert_contains "$proof cut in " "$(jq -r .summary <<<"$CLI_OUT")" "$proof cut-off time in the summary"
	done
	assert_file_has "$CASE_DIR/verify.xml" '<testsuite name="proofs" tests="2">' "junit report"
	assert_file_lacks "$CASE_DIR/verify.xml" '<failure' "junit: no failure"
	# no verify grant left in force
	assert_eq 0 "$(list_json | jq '[.[] | select(.state == "live" and (.id | test("/j")))] | length')" "no live JIT grant left"
	assert_eq "" "$(find "$CASE_CG/acme" -mindepth 1 -type d -name 'bh-verify*')" "probe cgroup removed"
	stop_ok
}

# delete_trie_entry: 10.20.0.0/24 of acme leaves the pinned trie behind the
# daemon's back (prefixlen 32 + 96 + 24, partner id in network order,
# ::ffff:10.20.0.0).
delete_trie_entry() {
	local inner pid
	inner=$(bpftool -j map lookup pinned "$PINDIR/bh_policy" key 0 0 0 0 | jq -r '.value | if type == "array" then map(ltrimstr("0x")) | reverse | join("") else . end')
	inner=$((16#$inner))
	pid=$("$BULKHEAD" status --json --pin-dir "$PINDIR" | jq -r '.partners[] | select(.partner == "acme") | .id')
	[ -n "$pid" ] && [ "$pid" != null ] || pid=1
	bpftool map delete id "$inner" key $(le_bytes 152 4) 0 0 0 "$pid" 0 0 0 0 0 0 0 0 0 0 255 255 10 20 0 0 ||
		fail_now "bpftool map delete (trie $inner) 10.20.0.0/24"
}

case_verify_every() {
	command -v jq >/dev/null || skip "no jq"
	verify_policy
	cg_new acme
	bh_start "$POLICY" --verify-every 2s
	EV_WAIT=20 assert_event "a verify event in acme's file" "$LOGS/acme.jsonl" type=verify ok=true wrong=0 probes'>'20 proofs.0.proof=revocation proofs.0.ok=true proofs.1.proof=expiry
	assert_event "and in host.jsonl" "$LOGS/host.jsonl" type=verify partner=acme ok=true
	assert_no_event "no alert while all is as expected" "$LOGS/host.jsonl" type=alert rule=verify_failed
	# (a trie entry deleted behind its back would not do: the proofs' grant
	# and revoke rebuild the whole trie, which heals it)
	detach_connect4
	EV_WAIT=20 assert_event "verify_failed alert" "$LOGS/host.jsonl" type=alert rule=verify_failed what=verify_failed partner=acme ok=false
	assert_event "the alert in acme's file" "$LOGS/acme.jsonl" type=alert rule=verify_failed
	assert_event "the failing probe named" "$LOGS/acme.jsonl" type=verify ok=false wrong'>'0 failing.0.probe='tcp 127.0.0.1:22' failing.0.kernel=allow
	stop_ok
	assert_eq "" "$(find "$CASE_CG/acme" -mindepth 1 -type d -name 'bh-verify*')" "probe cgroups removed"
}

# verify_grant_live: a verify proof grant is in force now.
verify_grant_live() {
	"$BULKHEAD" list acme --json 2>/dev/null | jq -e '[.grants[] | select(.state == "live" and (.purpose // "" | startswith("bulkhead verify")))] | length > 0' >/dev/null
}

case_verify_sigint() {
	command -v jq >/dev/null || skip "no jq"
	verify_policy
	cg_new acme
	bh_start "$POLICY"
	local pid st
	"$BULKHEAD" verify --pin-dir "$PINDIR" --policy "$POLICY" --log-dir "$LOGS" \
		>"$CASE_DIR/verify.out" 2>"$CASE_DIR/verify.err" &
	pid=$!
	# Ctrl-C while a proof's grant is in force
	wait_until 20 verify_grant_live || fail_now "no verify grant appeared"
	kill -INT "$pid"
	wait "$pid"
	st=$?
	assert_eq 2 "$st" "verify interrupted exits 2"
	assert_file_has "$CASE_DIR/verify.err" "interrupted; everything it made is removed" "says so"
	assert_eq "" "$(find "$CASE_CG/acme" -mindepth 1 -type d -name 'bh-verify*')" "probe cgroup removed"
	wait_until 5 sh -c "! '$BULKHEAD' list acme --json 2>/dev/null | jq -e '[.grants[] | select(.state == \"live\" and (.id | test(\"/j\")))] | length > 0' >/dev/null" ||
		fail "a verify grant is still in force: $(list_json)"
	stop_ok
}

tcase verify_as_expected case_verify_as_expected
tcase verify_detached_link case_verify_detached_link
tcase verify_unbound_cgroup case_verify_unbound_cgroup
tcase verify_missing_trie_entry case_verify_missing_trie_entry
tcase verify_revocation_expiry case_verify_revocation_expiry
tcase verify_every case_verify_every
tcase verify_sigint case_verify_sigint
bh_finish
