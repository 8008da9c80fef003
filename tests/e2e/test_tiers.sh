#!/usr/bin/env bash
# End-to-end tests of the criticality tiers and the grant linter (issue 14
# items 2 and 3) through the real daemon: a just-in-time grant longer than
# the partner's tier allows, or without the purpose it requires, is refused
# by the daemon and changes nothing (the kernel still denies); `grant acme
# --to 0.0.0.0/0` warns in the standard tier and is refused in the critical
# one; `run` and `apply` print the linter's warnings as `check` does;
# `check --strict` fails on them. See lib.sh for the harness.

# Case functions are only called through tcase.
# shellcheck disable=SC2317
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

# tier_policy TIER ALLOW: acme in TIER (org, and ALLOW, a JSON array).
tier_policy() {
	policy <<EOF
{
  "version": 1,
  "never": ["169.254.169.254/32"],
  "partners": {
    "acme": {
      "cgroups": ["$CASE_CG_REL/acme"],
      "tier": "$1",
      "org": "Acme Corp",
      "allow": $2
    }
  }
}
EOF
}

# no_jit_grant: the daemon lists no just-in-time grant of acme.
no_jit_grant() {
	assert_eq 0 "$(list_json | jq '[.[] | select(.id | startswith("acme/j"))] | length')" \
		"just-in-time grants of acme"
}

# 1. critical allows 1h: --ttl 2h is refused by the daemon (nothing granted,
# the kernel still denies), --ttl 1h is granted; so is --expires too far out.
case_ttl_over_tier() {
	tier_policy critical '[{"to": "10.1.2.3", "proto": "tcp", "ports": ["80"], "ttl": "1h", "purpose": "p"}]'
	srv_start sink 9000 "$CASE_DIR/tcp.rx"
	jit_start
	cli grant acme --to 10.20.0.5 --proto tcp --ports 9000 --ttl 2h --purpose "case ttl"
	assert_eq 1 "$CLI_ST" "grant --ttl 2h exit status (tier critical)"
	assert_eq "grant: a just-in-time grant of partner acme may last at most 1h (tier critical, \"max_ttl\"): ask for a shorter --ttl" \
		"$CLI_ERR" "the refusal"
	cli grant acme --to 10.20.0.5 --proto tcp --ports 9000 --purpose "case ttl" \
		--expires "$(date -u -d '+3 hours' +%Y-%m-%dT%H:%M:%SZ)"
	assert_eq 1 "$CLI_ST" "grant --expires in 3 h exit status (tier critical)"
	assert_contains "may last at most 1h (tier critical" "$CLI_ERR" "the refusal of --expires"
	cli grant acme --to 10.20.0.5 --proto tcp --ports 9000 --ttl 30m
	assert_eq 1 "$CLI_ST" "grant without --purpose exit status (tier critical)"
	assert_eq "grant: tier critical of partner acme requires a --purpose" "$CLI_ERR" \
		"the refusal without purpose"
	no_jit_grant
	assert_probe EPERM "$ACME" tcp-connect 10.20.0.5 9000
	cli grant acme --to 10.20.0.5 --proto tcp --ports 9000 --ttl 1h --purpose "case ttl" --json
	assert_eq 0 "$CLI_ST" "grant --ttl 1h exit status (tier critical)"
	assert_eq acme/j1 "$(jq -r .grant.id <<<"$CLI_OUT")" "the grant made"
	assert_eq null "$(jq -r .warnings <<<"$CLI_OUT")" "no linter warning for a narrow grant"
	assert_probe ok "$ACME" tcp-connect 10.20.0.5 9000
	stop_ok
}

# 2. standard allows 1d: --ttl 2d is refused, 24h granted.
case_ttl_standard() {
	tier_policy standard '[]'
	jit_start
	cli grant acme --to 10.20.0.5 --proto tcp --ports 9000 --ttl 2d
	assert_eq 1 "$CLI_ST" "grant --ttl 2d exit status (tier standard)"
	assert_contains "may last at most 1d (tier standard" "$CLI_ERR" "the refusal"
	no_jit_grant
	cli grant acme --to 10.20.0.5 --proto tcp --ports 9000 --ttl 24h
	assert_eq 0 "$CLI_ST" "grant --ttl 24h exit status (tier standard)"
	stop_ok
}

# 3. `grant acme --to 0.0.0.0/0 --ttl 1h` in the standard tier: granted, with
# the linter's warnings on stderr, in --json and in the policy event.
case_jit_lint_warns() {
	tier_policy standard '[{"to": "10.1.2.3", "proto": "tcp", "ports": ["80"], "id": "web"}]'
	jit_start
	cli grant acme --to 0.0.0.0/0 --proto any --ports all --ttl 1h
	assert_eq 0 "$CLI_ST" "grant --to 0.0.0.0/0 exit status (tier standard)"
	assert_contains "warning: grant of acme to 0.0.0.0/0 grants every IPv4 address" "$CLI_ERR" \
		"wide warning"
	assert_contains "warning: grant of acme to 0.0.0.0/0 allows every port of every protocol" \
		"$CLI_ERR" "all-ports warning"
	assert_contains "warning: grant of acme to 0.0.0.0/0 reaches link-local 169.254.0.0/16" \
		"$CLI_ERR" "link-local warning"
	assert_eq 0 "$(grep -c 'overlaps' <<<"$CLI_ERR")" "a grant of the same partner is not 'shared'"
	assert_eq 3 "$(grep -c '^warning: ' <<<"$CLI_ERR")" "warnings on stderr"
	assert_event "the grant event carries the warnings" "$LOGS/host.jsonl" \
		type=policy action=grant 'warnings.#:=3'
	# 30 min: within both the policy-file grant (no expiry) and acme/j1 (1 h)
	cli grant acme --to 10.1.2.3 --proto tcp --ports 80 --ttl 30m --json
	assert_eq 0 "$CLI_ST" "grant of a subsumed grant exit status"
	assert_eq 2 "$(jq '.warnings | length' <<<"$CLI_OUT")" "warnings in --json"
	assert_contains "is subsumed by acme/j1 (0.0.0.0/0)" "$(jq -r '.warnings[]' <<<"$CLI_OUT")" \
		"subsumed by the live JIT grant"
	assert_contains "is subsumed by acme/web (10.1.2.3, at 9:17)" "$(jq -r '.warnings[]' <<<"$CLI_OUT")" \
		"subsumed by the policy-file grant"
	stop_ok
}

# 4. The same in the critical tier (lint "refuse"): refused, nothing granted.
case_jit_lint_refuses() {
	tier_policy critical '[]'
	jit_start
	cli grant acme --to 0.0.0.0/0 --proto any --ports all --ttl 30m --purpose "all of it"
	assert_eq 1 "$CLI_ST" "grant --to 0.0.0.0/0 exit status (tier critical)"
	assert_contains "grant of acme to 0.0.0.0/0 grants every IPv4 address: grant the partner's endpoints, not the internet (tier critical refuses a grant the linter warns about)" \
		"$CLI_ERR" "the refusal names the finding"
	no_jit_grant
	assert_probe EPERM "$ACME" tcp-connect 10.20.0.5 9000
	stop_ok
}

# 5. `run` and `apply` print the warnings `check` prints, FILE:LINE:COLUMN.
case_run_apply_warn() {
	local f2="$CASE_DIR/wide.json"
	tier_policy standard '[{"to": "10.0.0.0/8", "proto": "tcp", "ports": ["80"], "id": "web"}]'
	jit_start
	assert_file_has "$CASE_DIR/bulkhead.err" \
		"$POLICY:9:24: warning: acme/web (10.0.0.0/8, at 9:17) is a /8, wider than tier standard" \
		"run prints the linter's warning"
	sed 's#10.0.0.0/8#0.0.0.0/0#' "$POLICY" >"$f2"
	cli apply "$f2"
	assert_eq 0 "$CLI_ST" "apply exit status"
	assert_contains "$f2:9:24: warning: acme/web (0.0.0.0/0, at 9:17) grants every IPv4 address" \
		"$CLI_ERR" "apply prints the linter's warning"
	cli check "$f2"
	assert_contains "$f2:9:24: warning: acme/web (0.0.0.0/0, at 9:17) grants every IPv4 address" \
		"$CLI_ERR" "check prints the same"
	stop_ok
}

# 6. check: warnings keep exit 0; --strict exits 1; --json lists the findings.
case_check_strict() {
	CASE_CG_REL=bh-tiers.slice/x
	tier_policy standard '[{"to": "10.0.0.1", "proto": "tcp", "ports": ["80"], "id": "a"}, {"to": "10.0.0.1", "proto": "tcp", "ports": ["80"], "id": "b"}]'
	cli check "$POLICY"
	assert_eq 0 "$CLI_ST" "check exit status with warnings"
	assert_contains "$POLICY:9:81: warning: acme/b (10.0.0.1, at 9:81) duplicates acme/a (10.0.0.1, at 9:17)" "$CLI_ERR" \
		"duplicate warning"
	cli check --strict "$POLICY"
	assert_eq 1 "$CLI_ST" "check --strict exit status with warnings"
	assert_contains "and --strict makes them errors" "$CLI_ERR" "--strict says why"
	cli check --json "$POLICY"
	assert_eq 0 "$CLI_ST" "check --json exit status"
	assert_eq '{"rule":"duplicate","line":9,"column":81,"partner":"acme"}' \
		"$(jq -c '.findings[] | select(.rule) | {rule, line, column, partner}' <<<"$CLI_OUT")" \
		"the finding in --json"
	tier_policy high '[{"to": "10.0.0.1", "proto": "tcp", "ports": ["80"], "purpose": "p", "id": "web"}]'
	cli check "$POLICY"
	assert_eq 1 "$CLI_ST" "check exit status: tier high, a grant without expiry"
	assert_eq "$POLICY:9:17: grant acme/web never expires: tier high wants every grant to (add \"expires\" or \"ttl\")" \
		"$CLI_ERR" "the tier error, FILE:LINE:COLUMN"
}

# -------------------------------------------------------------- the table

tcase ttl_over_tier         case_ttl_over_tier
tcase ttl_standard          case_ttl_standard
tcase jit_lint_warns        case_jit_lint_warns
tcase jit_lint_refuses      case_jit_lint_refuses
tcase run_apply_warn        case_run_apply_warn
tcase check_strict          case_check_strict bin

bh_finish
