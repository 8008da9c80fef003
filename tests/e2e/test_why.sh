#!/usr/bin/env bash
# End-to-end tests of `bulkhead why` (issue 15): the verdict read from the
# loaded maps (the pinned trie, bh_pnames, the JIT records), the deciding
# grant or the reason for a deny, and the kernel agreeing (a real connect from
# the partner's cgroup with tests/probe). See lib.sh for the harness.

# Case functions are only called through tcase.
# shellcheck disable=SC2317
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

# why_is EXIT VERDICT REASON ARGS...: `bulkhead why ARGS --json` exits EXIT
# and says VERDICT and REASON.
why_is() {
	local st=$1 verdict=$2 reason=$3
	shift 3
	cli why "$@" --json --pin-dir "$PINDIR" --policy "$POLICY"
	assert_eq "$st" "$CLI_ST" "why $* exit status"
	assert_eq "$verdict" "$(jq -r .verdict <<<"$CLI_OUT")" "why $* verdict"
	assert_eq "$reason" "$(jq -r .reason <<<"$CLI_OUT")" "why $* reason"
}

why_policy() {
	policy <<EOF2
{
  "version": 1,
  "never": ["10.20.0.6/32"],
  "partners": {
    "acme": {
      "cgroups": ["$CASE_CG_REL/acme"],
      "allow": [
        {"id": "api", "to": "10.20.0.0/24", "proto": "tcp", "ports": ["8000-8100"], "purpose": "api range"},
        {"id": "short", "to": "10.1.2.3", "proto": "tcp", "ports": ["9000"], "ttl": "1s"}
      ]
    }
  }
}
EOF2
}

case_why_verdicts() {
	command -v jq >/dev/null || skip "no jq"
	why_policy
	cg_new acme
	bh_start "$POLICY"
	why_is 0 allow granted acme 10.20.0.5:8000
	assert_eq acme/api "$(jq -r .grant.id <<<"$CLI_OUT")" "deciding grant id"
	assert_eq "api range" "$(jq -r .grant.purpose <<<"$CLI_OUT")" "deciding grant purpose"
	assert_eq "$POLICY:8" "$(jq -r .grant.source <<<"$CLI_OUT")" "deciding grant source"
	why_is 0 allow granted acme 10.20.0.5:8100
	why_is 1 deny no_grant acme 10.20.0.5:8101
	why_is 1 deny no_grant acme 10.20.0.5:7999
	why_is 1 deny never acme 10.20.0.6:8000
	why_is 0 allow granted acme '[::ffff:10.20.0.5]:8050/tcp'
	assert_eq 10.20.0.5 "$(jq -r .dst <<<"$CLI_OUT")" "v4-mapped judged as IPv4"
	why_is 1 deny no_grant acme 10.20.0.5:8050/udp
	why_is 1 deny unknown_partner nobody 10.20.0.5:8050
	# the kernel agrees: a real connect from acme's cgroup
	srv_start echo 8050
	assert_probe ok "$CASE_CG/acme" tcp-connect 10.20.0.5 8050
	assert_probe EPERM "$CASE_CG/acme" tcp-connect 10.20.0.5 8101
	assert_probe EPERM "$CASE_CG/acme" tcp-connect 10.20.0.6 8000
	# the ttl grant expires after 1 s (the kernel's clock)
	wait_until 5 sh -c "! '$BULKHEAD' why acme 10.1.2.3:9000 --pin-dir '$PINDIR' >/dev/null" ||
		fail "the 1 s ttl grant did not expire"
	why_is 1 deny expired acme 10.1.2.3:9000
	assert_eq acme/short "$(jq -r .grant.id <<<"$CLI_OUT")" "expired grant id"
	assert_probe EPERM "$CASE_CG/acme" tcp-connect 10.1.2.3 9000
	cli why acme 10.20.0.5 --pin-dir "$PINDIR"
	assert_eq 2 "$CLI_ST" "why without port or proto is a usage error"
	stop_ok
}

case_why_jit_revoked_down() {
	command -v jq >/dev/null || skip "no jq"
	why_policy
	cg_new acme
	bh_start "$POLICY"
	cli grant acme --to 10.2.0.1 --proto tcp --ports 443 --ttl 10m --purpose "INC-1"
	assert_eq 0 "$CLI_ST" "grant"
	why_is 0 allow granted acme 10.2.0.1:443
	assert_eq acme/j1 "$(jq -r .grant.id <<<"$CLI_OUT")" "JIT grant id"
	assert_eq INC-1 "$(jq -r .grant.purpose <<<"$CLI_OUT")" "JIT purpose"
	rem=$(jq -r '.grant.remaining_s | floor' <<<"$CLI_OUT")
	[ "$rem" -gt 590 ] && [ "$rem" -le 600 ] && bh_log "ok: remaining $rem s" || fail "remaining $rem"
	cli revoke acme --grant acme/api --yes
	assert_eq 0 "$CLI_ST" "revoke acme/api"
	why_is 1 deny revoked acme 10.20.0.5:8000
	assert_eq no_grant "$(jq -r .kernel_reason <<<"$CLI_OUT")" "a new connect gets no_grant"
	assert_probe EPERM "$CASE_CG/acme" tcp-connect 10.20.0.5 8000
	bh_stop
	# daemon down: pins only
	why_is 0 allow granted acme 10.2.0.1:443
	assert_eq acme/j1 "$(jq -r .grant.id <<<"$CLI_OUT")" "JIT grant id with the daemon down"
	why_is 1 deny revoked acme 10.20.0.5:8000
}

case_reach() {
	command -v jq >/dev/null || skip "no jq"
	cg_new acme beta
	policy <<EOF2
{
  "version": 1,
  "never": ["10.20.0.6/32"],
  "partners": {
    "acme": {
      "cgroups": ["$CASE_CG_REL/acme"],
      "allow": [{"to": "10.20.0.0/24", "proto": "tcp", "ports": ["8000-8100"]}]
    },
    "beta": {
      "cgroups": ["$CASE_CG_REL/beta"],
      "allow": [{"to": "10.20.0.5", "proto": "tcp", "ports": ["5432"]}]
    }
  }
}
EOF2
	bh_start "$POLICY"
	cli grant acme --to 10.2.0.1 --proto tcp --ports 443 --ttl 10m
	assert_eq 0 "$CLI_ST" "grant"
	local pass
	for pass in up down; do
		cli reach acme --json --pin-dir "$PINDIR"
		assert_eq 0 "$CLI_ST" "reach acme ($pass)"
		# 256 - the never address + the JIT address; 255 x 101 ports + 1
		assert_eq 256 "$(jq -r .addresses <<<"$CLI_OUT")" "acme addresses ($pass)"
		assert_eq 25756 "$(jq -r .address_ports <<<"$CLI_OUT")" "acme address:port pairs ($pass)"
		assert_eq "beta 10.20.0.5/32" "$(jq -r '.shared[] | "\(.with) \(.overlap)"' <<<"$CLI_OUT")" "hidden reuse ($pass)"
		assert_eq acme/j1 "$(jq -r '.jit[0].id' <<<"$CLI_OUT")" "live JIT grant ($pass)"
		rem=$(jq -r '.jit[0].remaining_s | floor' <<<"$CLI_OUT")
		[ "$rem" -gt 590 ] && [ "$rem" -le 600 ] && bh_log "ok: remaining $rem s" || fail "remaining $rem"
		cli reach --pin-dir "$PINDIR"
		assert_eq "acme beta" "$(awk '{print $1}' <<<"$CLI_OUT" | tr '\n' ' ' | sed 's/ $//')" "ranked by breadth ($pass)"
		[ "$pass" = down ] || bh_stop
	done
}

tcase why_verdicts case_why_verdicts
tcase why_jit_revoked_down case_why_jit_revoked_down
tcase reach case_reach
bh_finish
