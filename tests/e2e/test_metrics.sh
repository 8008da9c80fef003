#!/usr/bin/env bash
# End-to-end tests of the Prometheus metrics (issue 14 item 4): `run
# --metrics-file` (rewritten atomically) and `--metrics-listen` (HTTP
# /metrics from the event loop) both pass `promtool check metrics`, their
# counters equal `bulkhead status --json`, grants and the revocation cut-off
# histogram follow grant and revoke, a non-loopback address is refused, and a
# client that connects and says nothing never holds up the daemon. See lib.sh
# for the harness.

# Case functions are only called through tcase.
# shellcheck disable=SC2317
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

PROM_PORT=$((20000 + RANDOM % 20000))

# metric TEXT NAME{LABELS}: the sample's value (empty: none).
metric() { awk -v m="$2" '$1 == m { print $2 }' <<<"$1"; }

# scrape: GET /metrics from the case's daemon.
scrape() { curl -sf --max-time 5 "http://127.0.0.1:$PROM_PORT/metrics"; }

# promtool_ok LABEL TEXT: promtool check metrics accepts TEXT.
promtool_ok() {
	local out
	out=$(promtool check metrics <<<"$2" 2>&1)
	assert_eq 0 "$?" "promtool check metrics: $1 ($out)"
	assert_eq "" "$out" "promtool has nothing to say about $1"
}

# status_vs TEXT: the counters of TEXT equal `bulkhead status --json` now;
# each mismatch printed. 0 when all equal.
status_vs() {
	local st r bad=0 want got sum=0
	st=$(status_json)
	want=$(jq -r '.partners[] | select(.partner=="acme") | .verdicts.allow' <<<"$st")
	got=$(metric "$1" 'bulkhead_decisions_total{partner="acme",verdict="allow",reason="granted"}')
	[ "$want" = "$got" ] || { echo "allow: status $want, metrics $got"; bad=1; }
	for r in no_grant never expired revoked unknown_partner; do
		want=$(jq -r ".partners[] | select(.partner==\"acme\") | .reasons.$r" <<<"$st")
		got=$(metric "$1" "bulkhead_decisions_total{partner=\"acme\",verdict=\"deny\",reason=\"$r\"}")
		[ "$want" = "$got" ] || { echo "$r: status $want, metrics $got"; bad=1; }
		sum=$((sum + ${got:-0}))
	done
	want=$(jq -r '.partners[] | select(.partner=="acme") | .verdicts.deny' <<<"$st")
	[ "$want" = "$sum" ] || { echo "deny: status $want, metrics (sum of reasons) $sum"; bad=1; }
	for r in ring_full:lost_ring_full flood_map_full:lost_map_full \
		uncounted_denies:uncounted_denies flow_map_full:lost_flow_map_full; do
		want=$(jq -r ".events.${r#*:}" <<<"$st")
		got=$(metric "$1" "bulkhead_events_lost_total{partner=\"\",stage=\"${r%%:*}\"}")
		[ "$want" = "$got" ] || { echo "${r%%:*}: status $want, metrics $got"; bad=1; }
	done
	return $bad
}

file_matches() { status_vs "$(cat "$CASE_DIR/m.prom" 2>/dev/null)" >/dev/null; }
http_matches() { status_vs "$(scrape)" >/dev/null; }
file_has() { grep -qF -- "$1" "$CASE_DIR/m.prom" 2>/dev/null; }

# 1. Decisions counted in both outputs as `status` counts them; promtool passes.
case_counters_equal_status() {
	local text i
	policy_acme '[{"to": "10.20.0.5", "proto": "tcp", "ports": ["9000"], "purpose": "api"}]'
	srv_start sink 9000 "$CASE_DIR/tcp.rx"
	jit_start --metrics-file "$CASE_DIR/m.prom" --metrics-listen "127.0.0.1:$PROM_PORT"
	assert_probe ok "$ACME" tcp-connect 10.20.0.5 9000
	for i in 1 2 3; do
		assert_probe EPERM "$ACME" tcp-connect 10.1.2.3 80
	done
	wait_until 5 file_matches || fail "metrics file vs status: $(status_vs "$(cat "$CASE_DIR/m.prom")")"
	text=$(cat "$CASE_DIR/m.prom")
	promtool_ok "the metrics file" "$text"
	assert_eq 1 "$(metric "$text" 'bulkhead_decisions_total{partner="acme",verdict="allow",reason="granted"}')" \
		"allow/granted in the file"
	assert_eq 3 "$(metric "$text" 'bulkhead_decisions_total{partner="acme",verdict="deny",reason="no_grant"}')" \
		"deny/no_grant in the file"
	wait_until 5 http_matches || fail "/metrics vs status: $(status_vs "$(scrape)")"
	text=$(scrape)
	assert_eq 0 "$?" "GET /metrics"
	promtool_ok "the /metrics answer" "$text"
	assert_eq 3 "$(metric "$text" 'bulkhead_decisions_total{partner="acme",verdict="deny",reason="no_grant"}')" \
		"deny/no_grant over HTTP"
	assert_eq 0 "$(metric "$text" 'bulkhead_alerts_total{partner="acme",rule="scan"}')" "alerts_total exposed"
	assert_eq 1 "$(grep -cxF "bulkhead_build_info{version=\"$("$BULKHEAD" --version | sed 's/^bulkhead //')\"} 1" <<<"$text")" \
		"build_info names the version --version prints"
	assert_eq 0 "$(grep -cE '10\.20\.0\.5|10\.1\.2\.3' <<<"$text")" "no destination in any label"
	assert_eq 404 "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$PROM_PORT/")" \
		"GET / is 404"
	ls "$CASE_DIR" | grep -q 'm.prom.*tmp' && fail "a temporary metrics file was left: $(ls "$CASE_DIR")"
	stop_ok
}

# 2. Grants by source, the next expiry, and the cut-off histogram after a
# revoke destroyed an established flow.
case_grants_and_cutoff() {
	local text exp want
	policy_acme '[{"to": "10.1.2.3", "proto": "tcp", "ports": ["80"]}]'
	srv_start sink 9000 "$CASE_DIR/tcp.rx"
	jit_start --metrics-file "$CASE_DIR/m.prom"
	wait_until 5 file_has 'bulkhead_grants{partner="acme",source="policy"} 1' ||
		fail "policy grant count: $(grep bulkhead_grants "$CASE_DIR/m.prom")"
	assert_file_has "$CASE_DIR/m.prom" 'bulkhead_grants{partner="acme",source="jit"} 0' "no JIT grant yet"
	assert_file_lacks "$CASE_DIR/m.prom" 'bulkhead_grant_expiry_timestamp_seconds{' "no expiry yet"
	cli grant acme --to 10.20.0.5 --proto tcp --ports 9000 --ttl 10m --json
	assert_eq 0 "$CLI_ST" "grant exit status"
	want=$(date -u -d "$(jq -r .grant.expires <<<"$CLI_OUT")" +%s)
	wait_until 5 file_has 'bulkhead_grants{partner="acme",source="jit"} 1' || fail "JIT grant count"
	exp=$(metric "$(cat "$CASE_DIR/m.prom")" 'bulkhead_grant_expiry_timestamp_seconds{partner="acme"}')
	assert_eq "$want" "${exp%.*}" "next expiry = the JIT grant's expires"
	stream_start c "$ACME" tcp 10.20.0.5 9000
	wait_until 5 rx_at_least "$CASE_DIR/tcp.rx" 5 || fail_now "the stream delivered nothing"
	cli revoke acme --grant acme/j1
	assert_eq 0 "$CLI_ST" "revoke exit status"
	wait_until 5 file_has 'bulkhead_revocation_cutoff_seconds_count 1' ||
		fail "cut-off histogram: $(grep cutoff "$CASE_DIR/m.prom")"
	assert_file_has "$CASE_DIR/m.prom" 'bulkhead_grants{partner="acme",source="jit"} 0' "JIT grant gone"
	text=$(cat "$CASE_DIR/m.prom")
	bh_log "cut-off: $(grep cutoff_seconds_sum <<<"$text")"
	assert_eq 1 "$(metric "$text" 'bulkhead_revocation_cutoff_seconds_bucket{le="+Inf"}')" "+Inf bucket"
	promtool_ok "the metrics file after revoke" "$text"
	jf_stop c
	stop_ok
}

# 3. A non-loopback address is refused before anything is loaded; a bad spec too.
case_listen_refused() {
	policy_acme '[]'
	cg_new acme
	bh_spawn "$POLICY" --metrics-listen "0.0.0.0:$PROM_PORT"
	bh_wait_exit 10 || fail_now "run --metrics-listen 0.0.0.0 did not exit"
	assert_eq 1 "$BH_DAEMON_STATUS" "exit status with a non-loopback address"
	assert_file_has "$CASE_DIR/bulkhead.err" "--metrics-listen 0.0.0.0:$PROM_PORT: not a loopback address" \
		"the reason"
	bh_is_bpffs "$PINDIR" && [ -n "$(ls "$PINDIR" 2>/dev/null)" ] && fail "pins left: $(ls "$PINDIR")"
	bh_spawn "$POLICY" --metrics-listen "localhost"
	bh_wait_exit 10 || fail_now "run --metrics-listen localhost did not exit"
	assert_eq 1 "$BH_DAEMON_STATUS" "exit status with a bad spec"
	assert_file_has "$CASE_DIR/bulkhead.err" "expected ADDR:PORT with a numeric address" "the bad spec"
}

# 4. Clients that connect and send nothing, or half a request, hold up
# neither the control socket nor the event stream nor other scrapes.
case_never_blocks() {
	local t0 t1
	policy_acme '[]'
	jit_start --metrics-listen "127.0.0.1:$PROM_PORT"
	exec 7<>"/dev/tcp/127.0.0.1/$PROM_PORT"
	exec 8<>"/dev/tcp/127.0.0.1/$PROM_PORT"
	printf 'GET /metr' >&8
	t0=$(bh_now_us)
	cli grant acme --to 10.20.0.5 --proto tcp --ports 9000 --ttl 10m
	t1=$(bh_now_us)
	assert_eq 0 "$CLI_ST" "grant while two metrics clients hang"
	assert_le $(( (t1 - t0) / 1000 )) 2000 "grant round trip (ms) with hanging metrics clients"
	assert_probe EPERM "$ACME" tcp-connect 10.1.2.3 80
	assert_event "a deny event while the clients hang" "$LOGS/acme.jsonl" dport:=80 verdict=deny
	scrape >/dev/null
	assert_eq 0 "$?" "a third client is answered"
	exec 7>&- 8>&-
	stop_ok
}

# -------------------------------------------------------------- the table

tcase counters_equal_status   case_counters_equal_status
tcase grants_and_cutoff       case_grants_and_cutoff
tcase listen_refused          case_listen_refused
tcase never_blocks            case_never_blocks

bh_finish
