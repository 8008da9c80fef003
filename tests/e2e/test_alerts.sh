#!/usr/bin/env bash
# End-to-end tests of alerts (docs/alerts.md) and of the scan-proof deny
# aggregation they count on (issue 13 item 2, issue 14 item 1):
# - one partner's flood of 1,000,000 denied connects to distinct address:port
#   pairs costs another partner nothing: every count adds up, per partner, and
#   the flooding partner's loss (if any) is in its own file only;
# - a scan of 40 ports of one host raises exactly one `scan` alert with the
#   exact distinct-port count, and 30 normal connects raise none;
# - `never` and `expired_grant_use` fire once per episode with their
#   evidence, and their repeats are reported as a count.
# (`unknown_identity` is in test_events.sh, `use_after_revoke` in
# test_jit.sh and test_matrix.sh.) Denied connects come from bench/denygen.c,
# in the client namespace of the case, to addresses it has no route to: the
# kernel refuses them at connect(), nothing is sent.

# Case functions are only called through tcase.
# shellcheck disable=SC2317
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

DENYGEN=$BH_TMP/denygen

start() { bh_start "$POLICY" "$@"; }
finish() { stop_ok; }

denygen_prereq() {
	command -v jq >/dev/null || skip "no jq"
	[ -x "$DENYGEN" ] && return 0
	"${CC:-cc}" -O2 -Wall -Wextra -Werror -I"$BH_SRC_ROOT/bench" -o "$DENYGEN.$$" \
		"$BH_SRC_ROOT/bench/denygen.c" 2>"$CASE_DIR/denygen.build" ||
		fail_now "cannot build bench/denygen.c: $(head -n 5 "$CASE_DIR/denygen.build")"
	mv -f "$DENYGEN.$$" "$DENYGEN"
}

# deny_sum FILE PARTNER: the attempts the decision lines of PARTNER count.
deny_sum() {
	local s
	s=$(ev sum count "$1" partner="$2" verdict=deny type~'connect|send|packet')
	printf '%s\n' "${s%% *}"
}
sum_is() { [ "$(deny_sum "$1" "$2")" = "$3" ]; }

# two partners, acme and beta, each allowed only 10.20.0.5 tcp 80
policy_two() {
	policy <<EOF2
{
  "version": 1,
  ${1:-}
  "partners": {
    "acme": {"cgroups": ["$CASE_CG_REL/acme"], "org": "Acme Corp",
             "allow": [{"to": "10.20.0.5", "proto": "tcp", "ports": ["80"]}]},
    "beta": {"cgroups": ["$CASE_CG_REL/beta"],
             "allow": [{"to": "10.20.0.5", "proto": "tcp", "ports": ["80"]}]}
  }
}
EOF2
}

# ------------------------------------------------------------------- cases

# 1,000,000 denied connects of acme (distinct address:port pairs) while beta
# makes 1,000 to distinct ports.
case_flood_segregation() {
	local a="$LOGS/acme.jsonl" b="$LOGS/beta.jsonl" h="$LOGS/host.jsonl" pa pb outa outb
	local want_a=1000000 lost_a
	denygen_prereq
	policy_two
	cg_new acme beta
	start
	in_cg_bg "$CASE_CG/acme" "$DENYGEN" -d 600 -c "$want_a" -n 16 10.99.0.0 \
		>"$CASE_DIR/acme.out" 2>&1
	pa=$BH_BG_PID
	in_cg_bg "$CASE_CG/beta" "$DENYGEN" -d 600 -c 1000 -n 1 10.98.0.1 \
		>"$CASE_DIR/beta.out" 2>&1
	pb=$BH_BG_PID
	wait "$pb"; wait "$pa"
	outa=$(cat "$CASE_DIR/acme.out") outb=$(cat "$CASE_DIR/beta.out")
	bh_log "acme: $outa"
	bh_log "beta: $outb"
	assert_contains "attempts $want_a eperm $want_a other 0" "$outa" "acme's connects all denied"
	assert_contains "attempts 1000 eperm 1000 other 0" "$outb" "beta's connects all denied"
	wait_until 30 sum_is "$b" beta 1000 ||
		fail "beta's lines count $(deny_sum "$b" beta) attempts, not 1000"
	lost_a() { local s; s=$(ev sum count "$a" type=loss what=partner_unfolded); echo "${s%% *}"; }
	acme_done() { [ $(( $(deny_sum "$a" acme) + $(lost_a) )) -eq "$want_a" ]; }
	wait_until 60 acme_done ||
		fail "acme's lines count $(deny_sum "$a" acme) + $(lost_a) lost, not $want_a"
	lost_a=$(lost_a)
	bh_log "acme: $(deny_sum "$a" acme) attempts in its lines, $lost_a counted only in a loss line;" \
		"$(ev count "$a" type=connect) connect lines, $(ev count "$a" scope=host) per-host lines"
	assert_eq 1000 "$(deny_sum "$b" beta)" "beta's counts add up to its 1,000 attempts"
	assert_eq 0 "$(ev count "$b" type=loss)" "no loss in beta's file"
	assert_eq 0 "$(ev count "$h" type=loss partner=beta)" "no loss of beta's in host.jsonl"
	assert_eq 0 "$(ev count "$h" type=loss partner=acme)" "acme's loss is not in host.jsonl"
	assert_eq 0 "$(ev count "$b" partner=acme)" "nothing of acme's in beta's file"
	assert_le "$(ev count "$a" type=connect)" 100000 "acme's flood folded into few lines"
	assert_eq "$want_a" "$(acme_count verdicts deny)" "status: acme's denies"
	assert_eq 1000 "$(status_json | jq -r '.partners[] | select(.partner=="beta") | .verdicts.deny')" \
		"status: beta's denies"
	finish
}

# 40 denied ports of one host: one scan alert with the exact count; 30 normal
# connects raise none.
case_scan_40_ports() {
	local a="$LOGS/acme.jsonl" h="$LOGS/host.jsonl" i
	denygen_prereq
	policy_two
	srv_start echo 80
	cg_new acme beta
	start
	in_cg "$CASE_CG/acme" "$DENYGEN" -c 40 -n 1 -p 1000 10.99.1.1 >"$CASE_DIR/scan.out"
	assert_contains "attempts 40 eperm 40 other 0" "$(cat "$CASE_DIR/scan.out")" "40 denied connects"
	wait_until 20 ev__has "$a" type=alert rule=scan ||
		fail_now "no scan alert in acme.jsonl: $(tail -n 3 "$a")"
	assert_event "the scan alert with the exact count" "$a" v:=1 type=alert rule=scan \
		severity=high partner=acme org="Acme Corp" partner_id:=1 key~'scan/1/host/tcp/10\.99\.1\.1' \
		dst=10.99.1.1 proto=tcp distinct_ports:=40 attempts:=40 first_port:=1000 \
		last_port:=1039 window_s:=300 count:=1 message~'denied attempts to 40 distinct tcp ports of 10\.99\.1\.1 within 300s'
	assert_event "and in host.jsonl" "$h" type=alert rule=scan partner=acme distinct_ports:=40
	for i in $(seq 30); do
		in_cg "$CASE_CG/acme" "$BH_PROBE" tcp-connect 10.20.0.5 80 >>"$CASE_DIR/ok.out"
	done
	assert_eq 30 "$(grep -c '^ok$' "$CASE_DIR/ok.out")" "30 allowed connects"
	finish
	assert_event_n 1 "exactly one scan alert" "$a" type=alert rule=scan
	assert_eq 1 "$(ev count "$h" type=alert)" "one alert in host.jsonl"
	assert_eq 40 "$(deny_sum "$a" acme)" "the denials count 40"
}

# never: once per episode, repeats counted.
case_never_rule() {
	local a="$LOGS/acme.jsonl" h="$LOGS/host.jsonl" i
	policy_two '"never": ["169.254.169.254/32"],'
	cg_new acme beta
	start
	for i in 1 2 3; do
		in_cg "$CASE_CG/acme" "$BH_PROBE" tcp-connect 169.254.169.254 80 >>"$CASE_DIR/n.out"
	done
	assert_eq 3 "$(grep -c '^EPERM$' "$CASE_DIR/n.out")" "3 connects to the metadata address denied"
	wait_until 10 ev__has "$a" type=alert rule=never || fail_now "no never alert"
	# the two repeats were folded in the kernel: their line closes the window
	wait_until 10 sum_is "$a" acme 3 || fail_now "the denials count $(deny_sum "$a" acme), not 3"
	finish
	assert_event_n 1 "one never alert" "$a" type=alert rule=never severity=critical -phase \
		dst=169.254.169.254 dport:=80 proto=tcp reason=never verdict=deny comm=probe uid:=0 \
		+pid cgroup="$CASE_CG_REL/acme" key='never/1/tcp/169.254.169.254/80' \
		message='tried a never-listed destination: tcp 169.254.169.254:80'
	assert_event_n 1 "its repeats as a count" "$a" type=alert rule=never phase=suppressed count:=2 \
		key='never/1/tcp/169.254.169.254/80' +window_start +window_end
	assert_event_n 2 "both in host.jsonl" "$h" type=alert rule=never partner=acme
}

# expired_grant_use: a ttl grant keeps being used after it expired.
case_expired_grant_use() {
	local a="$LOGS/acme.jsonl" n
	policy <<EOF2
{
  "version": 1,
  "partners": {
    "acme": {"cgroups": ["$CASE_CG_REL/acme"],
             "allow": [{"id": "short", "to": "10.20.0.5", "proto": "tcp", "ports": ["80"], "ttl": "2s",
                        "purpose": "short"}]}
  }
}
EOF2
	srv_start echo 80
	cg_new acme
	start
	denied() {
		in_cg "$CASE_CG/acme" "$BH_PROBE" tcp-connect 10.20.0.5 80 >>"$CASE_DIR/e.out"
		[ "$(tail -n 1 "$CASE_DIR/e.out")" = EPERM ]
	}
	wait_until 10 denied || fail_now "the ttl grant did not expire"
	denied || fail "a connect after the expiry was allowed"
	n=$(grep -c '^EPERM$' "$CASE_DIR/e.out")
	wait_until 10 ev__has "$a" type=alert rule=expired_grant_use || fail_now "no expired_grant_use alert"
	wait_until 10 sum_is "$a" acme "$n" || fail_now "the denials count $(deny_sum "$a" acme), not $n"
	finish
	bh_log "$n denied connects after the expiry"
	assert_event_n 1 "one expired_grant_use alert" "$a" type=alert rule=expired_grant_use \
		severity=medium -phase reason=expired dst=10.20.0.5 dport:=80 grant.id=acme/short \
		grant.purpose=short comm=probe
	assert_event_n 1 "its repeats as a count" "$a" type=alert rule=expired_grant_use \
		phase=suppressed count:=$((n - 1))
}

# first_seen: a wide grant's new destination alerts once; the state file
# remembers it across a restart (and `down`: the kernel's flows are gone).
case_first_seen() {
	local a="$LOGS/acme.jsonl" st="$CASE_DIR/fs-state"
	policy <<EOF2
{
  "version": 1,
  "partners": {
    "acme": {"cgroups": ["$CASE_CG_REL/acme"],
             "allow": [{"id": "wide", "to": "10.20.0.0/16", "proto": "tcp", "ports": ["80"], "purpose": "wide"}]}
  }
}
EOF2
	srv_start echo 80
	cg_new acme
	start --state-dir "$st"
	assert_eq ok "$(in_cg "$CASE_CG/acme" "$BH_PROBE" tcp-connect 10.20.0.5 80)" "first connect"
	assert_eq ok "$(in_cg "$CASE_CG/acme" "$BH_PROBE" tcp-connect 10.20.0.5 80)" "second connect"
	wait_until 10 ev__has "$a" type=alert rule=first_seen || fail_now "no first_seen alert"
	bh_down
	bh_wait_exit 10 || fail_now "the daemon did not exit after down"
	assert_file_has "$st/first_seen.tsv" "$(printf 'acme	tcp	10.20.0.5	80')" "state file"
	start --state-dir "$st"
	assert_eq ok "$(in_cg "$CASE_CG/acme" "$BH_PROBE" tcp-connect 10.20.0.5 80)" "after restart"
	assert_eq ok "$(in_cg "$CASE_CG/acme" "$BH_PROBE" tcp-connect 10.20.0.6 80)" "a new address"
	wait_until 10 ev__has "$a" type=alert rule=first_seen dst=10.20.0.6 ||
		fail_now "no first_seen alert for 10.20.0.6"
	finish
	assert_event_n 1 "one first_seen alert for 10.20.0.5, across the restart" "$a" \
		type=alert rule=first_seen dst=10.20.0.5 dport:=80 severity=low grant.id=acme/wide \
		days:=7 comm=probe key='first_seen/1/tcp/10.20.0.5/80'
	assert_event_n 2 "two first_seen alerts in all" "$a" type=alert rule=first_seen
}

# identity_reuse: after the learning period, a process name the partner did
# not use alerts once; its repeats are counted.
case_identity_reuse() {
	local a="$LOGS/acme.jsonl" t_end
	denygen_prereq
	policy_two
	srv_start echo 80
	cg_new acme beta
	start --learn-period 2s
	t_end=$(( $(bh_now_us) + 2500000 ))
	assert_eq ok "$(in_cg "$CASE_CG/acme" "$BH_PROBE" tcp-connect 10.20.0.5 80)" "probe learnt"
	wait_until 10 now_past "$t_end" || fail_now "the clock stood still"
	assert_eq EPERM "$(in_cg "$CASE_CG/acme" "$BH_PROBE" tcp-connect 10.99.3.1 80)" \
		"probe again after learning (denied: an event with its comm)"
	in_cg "$CASE_CG/acme" "$DENYGEN" -c 5 -n 1 -p 2000 10.99.2.1 >"$CASE_DIR/d.out"
	wait_until 10 ev__has "$a" type=alert rule=identity_reuse || fail_now "no identity_reuse alert"
	wait_until 10 sum_is "$a" acme 6 || fail_now "the denials count $(deny_sum "$a" acme)"
	finish
	assert_event_n 1 "one identity_reuse alert" "$a" type=alert rule=identity_reuse -phase \
		severity=high comm=denygen uid:=0 key='identity_reuse/1/denygen/0' dst=10.99.2.1
	assert_event_n 1 "its repeats as a count" "$a" type=alert rule=identity_reuse \
		phase=suppressed count:=4
	assert_event_n 0 "the learnt process raised none" "$a" type=alert rule=identity_reuse comm=probe
}

tcase flood_segregation case_flood_segregation
tcase scan_40_ports case_scan_40_ports
tcase never_rule case_never_rule
tcase expired_grant_use case_expired_grant_use
tcase first_seen case_first_seen
tcase identity_reuse case_identity_reuse
bh_finish
