#!/usr/bin/env bash
# End-to-end test of `bulkhead trace` (issue 16) on a real daemon: a scripted
# incident in acme's cgroup (granted traffic; lateral attempts to 20 ports on
# 3 hosts; a just-in-time grant, its use, its revocation and attempts after
# it; a log rotation with the old files gzipped in the middle; a flood while
# the daemon is stopped that loses ring events), then `trace --summary
# --json` must report exactly those destinations, deny counts that add up to
# the kernel's counters (`bulkhead status --json`), the revocation with its
# caller, the attempts after it and the gap. The HTML report is loaded in
# headless Chromium: no console error, no network request (Chromium's NetLog
# lists every URL it requested), one SVG node per destination; a screenshot is
# kept (case dir, and build/artefacts/trace-incident.png). A negative control
# page proves the console and network checks see what they look for.
# See lib.sh for the harness.

# Case functions are only called through tcase.
# shellcheck disable=SC2317
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

ARTEFACTS=${BH_ARTEFACT_DIR:-$BH_SRC_ROOT/build/artefacts}
LATERAL_HOSTS="10.1.2.3 10.2.0.1 10.20.0.6"
LATERAL_PORTS="$(seq -s ' ' 5000 5019)"
FLOOD_N=300			# distinct ports while the daemon is stopped: > a 4 KiB ring

# connect_all CG HOST PORTS...: one TCP connect per port from a Python
# client in CG (one process, comm "python3"); prints "ok N, EPERM M, other K".
connect_all() {
	local cg=$1 host=$2
	shift 2
	in_cg "$cg" python3 - "$host" "$@" <<'EOF'
import errno, socket, sys
host, ports = sys.argv[1], [int(p) for p in sys.argv[2:]]
ok = eperm = other = 0
for p in ports:
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect((host, p)); ok += 1
    except PermissionError:
        eperm += 1
    except OSError:
        other += 1
    s.close()
print(f"ok {ok}, EPERM {eperm}, other {other}")
EOF
}

# unix_connect CG PATH: in CG, listen on the UNIX socket PATH and connect to
# it (only the connect is judged); prints "connected" or the error.
unix_connect() {
	in_cg "$1" python3 - "$2" <<'EOF'
import socket, sys
srv = socket.socket(socket.AF_UNIX)
srv.bind(sys.argv[1]); srv.listen(1)
c = socket.socket(socket.AF_UNIX)
try:
    c.connect(sys.argv[1]); print("connected")
except OSError as e:
    print(e)
EOF
}

# trace_json: `bulkhead trace --summary --json` of the case's logs.
trace_json() { "$BULKHEAD" trace --log-dir "$LOGS" acme --summary --json 2>"$CASE_DIR/trace.err"; }

# sum_matches: the summary's acme deny count equals the kernel's counter.
sum_matches() {
	local k t
	k=$(acme_count verdicts deny)
	t=$(trace_json | jq '.partners[] | select(.partner=="acme") | .verdicts.deny')
	[ -n "$k" ] && [ "$k" = "$t" ]
}

# chromium_load HTML NAME: load HTML in headless Chromium, run in a network
# namespace of its own with only a loopback (Chromium's own background
# requests, its updater and account checks, can reach nothing); NetLog in
# NAME.netlog.json and NAME.shot.netlog.json, stderr (console messages at
# --v=0) in NAME.log, the rendered DOM in NAME.dom, a screenshot in NAME.png.
chromium_load() {
	local html=$1 name=$CASE_DIR/$2 flags
	flags=(--headless --no-sandbox --disable-gpu --no-first-run --disable-extensions
	       --disable-background-networking --disable-component-update --disable-sync
	       --disable-default-apps --user-data-dir="$CASE_DIR/chromium-profile"
	       --enable-logging=stderr --v=0 --net-log-capture-mode=Default)
	unshare --net sh -c 'ip link set lo up; exec "$@"' chromium-netns \
		timeout 60 chromium "${flags[@]}" --log-net-log="$name.netlog.json" --dump-dom "file://$html" \
		>"$name.dom" 2>"$name.log"
	unshare --net sh -c 'ip link set lo up; exec "$@"' chromium-netns \
		timeout 60 chromium "${flags[@]}" --log-net-log="$name.shot.netlog.json" \
		--window-size=1100,2200 --screenshot="$name.png" "file://$html" >/dev/null 2>>"$name.log"
}

# net_urls NAME: every URL the page asked for (requests a document initiated,
# from both NetLogs; Chromium's own have the initiator "not an origin"),
# file: URLs left out.
net_urls() {
	local f
	for f in "$CASE_DIR/$1.netlog.json" "$CASE_DIR/$1.shot.netlog.json"; do
		jq -r '(.constants.logEventTypes | to_entries | map({(.value | tostring): .key}) | add) as $n
			| .events[] | select($n[.type | tostring] == "URL_REQUEST_START_JOB")
			| .params | select(.url and .initiator != "not an origin") | .url' "$f" ||
			echo "unreadable NetLog $f"
	done | grep -v '^file:' | sort -u
}

# console_errors NAME: console messages and page errors Chromium logged.
console_errors() { grep -E 'CONSOLE|Uncaught' "$CASE_DIR/$1.log"; }

case_incident() {
	local st h sum rev j1 n
	command -v chromium >/dev/null || fail_now "chromium is not installed (make deps installs it)"
	command -v python3 >/dev/null || fail_now "python3 is not installed (make deps installs it)"
	jit_prereq
	net_addr 10.20.0.6
	policy_acme '[{"to": "10.20.0.5", "proto": "tcp", "ports": ["9000"], "purpose": "billing api"}]'
	srv_start sink 9000 "$CASE_DIR/billing.rx"
	srv_start sink 5000 "$CASE_DIR/jit.rx"
	jit_start --ring-size 4

	# 1. granted traffic
	assert_probe ok "$ACME" tcp-connect 10.20.0.5 9000 "billing-1"
	# 2. lateral attempts: 20 ports on 3 hosts
	for h in $LATERAL_HOSTS; do
		# shellcheck disable=SC2086
		assert_eq "ok 0, EPERM 20, other 0" "$(connect_all "$ACME" "$h" $LATERAL_PORTS)" \
			"lateral scan of $h, 20 ports"
	done
	# 3. a just-in-time grant and its use
	cli grant acme --to 10.20.0.6 --proto tcp --ports 5000 --ttl 10m --purpose "INC-7 debug" --json
	assert_eq 0 "$CLI_ST" "bulkhead grant"
	j1=$(jq -r .grant.id <<<"$CLI_OUT")
	assert_probe ok "$ACME" tcp-connect 10.20.0.6 5000 "jit-use"
	assert_event "the grant was used" "$LOGS/acme.jsonl" type=flow grant.id="$j1"
	# 3b. a UNIX connect to a local socket: audited (unix_mode audit by default)
	# and counted apart from the IP verdicts, by the kernel as by trace
	UNIXSOCK=$(realpath "$CASE_DIR")/local.sock
	assert_eq "connected" "$(unix_connect "$ACME" "$UNIXSOCK")" "UNIX connect in audit mode"
	# 4. rotation: move the files, SIGHUP, gzip the old ones once the new ones exist
	mv "$LOGS/acme.jsonl" "$LOGS/acme.jsonl.1"
	mv "$LOGS/host.jsonl" "$LOGS/host.jsonl.1"
	kill -HUP "$BH_DAEMON_PID"
	assert_event "a new host.jsonl after SIGHUP" "$LOGS/host.jsonl" type=lifecycle event=reload
	gzip "$LOGS/acme.jsonl.1" "$LOGS/host.jsonl.1" || fail_now "gzip of the rotated files"
	# 5. revocation, then attempts after it: 3 on the revoked grant, 1 beside it
	cli revoke acme --grant "$j1"
	assert_eq 0 "$CLI_ST" "bulkhead revoke"
	assert_eq "ok 0, EPERM 3, other 0" "$(connect_all "$ACME" 10.20.0.6 5000 5000 5000)" \
		"3 attempts on the revoked grant"
	assert_eq "ok 0, EPERM 1, other 0" "$(connect_all "$ACME" 10.20.0.6 5001)" "1 attempt beside it"
	# 6. a flood while the daemon is stopped: the 4 KiB ring overflows
	kill -STOP "$BH_DAEMON_PID"
	# shellcheck disable=SC2046
	assert_eq "ok 0, EPERM $FLOOD_N, other 0" \
		"$(connect_all "$ACME" 10.1.2.3 $(seq 6000 $((6000 + FLOOD_N - 1))))" "the flood"
	kill -CONT "$BH_DAEMON_PID"
	st=$(status_json)
	n=$(jq .events.lost_ring_full <<<"$st")
	[ "$n" -gt 0 ] || fail_now "no ring loss (lost_ring_full $n)"
	assert_event "the loss line" "$LOGS/host.jsonl" type=loss what=ring
	# lost first events come back as aggregated lines once their windows close
	wait_until 20 sum_matches || fail "trace deny count never reached the kernel's deny counter"

	sum=$(trace_json)
	echo "$sum" >"$CASE_DIR/summary.json"
	"$BULKHEAD" trace --log-dir "$LOGS" acme --summary >"$CASE_DIR/summary.txt" 2>&1
	"$BULKHEAD" trace --log-dir "$LOGS" acme >"$CASE_DIR/timeline.txt" 2>&1
	st=$(status_json)
	echo "$st" >"$CASE_DIR/status.json"
	local A='.partners[] | select(.partner=="acme")'
	assert_eq 0 "$(jq .skipped.total <<<"$sum")" "no skipped lines"
	assert_eq "10.1.2.3 10.2.0.1 10.20.0.5 10.20.0.6" \
		"$(jq -r "[$A | .destinations[].dst] | sort | join(\" \")" <<<"$sum")" "exactly the destinations"
	assert_eq "$(jq "$A.verdicts.deny" <<<"$st")" "$(jq "$A.verdicts.deny" <<<"$sum")" \
		"deny count = kernel counter"
	assert_eq "$(jq "$A.reasons.no_grant" <<<"$st")" "$(jq "$A.reasons.no_grant" <<<"$sum")" \
		"no_grant count = kernel counter"
	assert_eq "$(jq "$A.verdicts.audit" <<<"$st")" "$(jq "$A.verdicts.audit" <<<"$sum")" \
		"audit count = kernel counter"
	assert_eq "$(jq -cS "$A.unix" <<<"$st")" "$(jq -cS "$A.unix.verdicts" <<<"$sum")" \
		"UNIX verdicts = the kernel's UNIX counters"
	assert_eq '{"allow":0,"audit":1,"deny":0}' \
		"$(jq -cS "$A.unix.paths[] | select(.path==\"$UNIXSOCK\") | .counts" <<<"$sum")" \
		"the UNIX socket: one audited connect"
	assert_file_has "$CASE_DIR/timeline.txt" "audit unix $UNIXSOCK no_grant" \
		"the UNIX connect in the timeline"
	assert_eq "$(jq "$A.verdicts.allow" <<<"$st")" "$(jq "$A.verdicts.allow" <<<"$sum")" \
		"allowed: one flow per allowed connect (each allowed tuple was connected once)"
	assert_eq $((3 * 20 + 3 + 1 + FLOOD_N)) "$(jq "$A.verdicts.deny" <<<"$sum")" "denies of the script"
	assert_eq 20 "$(jq "[$A | .lateral[] | select(.dst==\"10.2.0.1\")] | length" <<<"$sum")" \
		"lateral: 20 ports on 10.2.0.1"
	assert_eq 20 "$(jq "[$A | .lateral[] | select(.dst==\"10.20.0.6\")] | length" <<<"$sum")" \
		"lateral: 20 ports on 10.20.0.6"
	assert_eq $((20 + FLOOD_N)) "$(jq "[$A | .lateral[] | select(.dst==\"10.1.2.3\")] | length" <<<"$sum")" \
		"lateral: 20 ports and the flood's on 10.1.2.3"
	assert_eq 4 "$(jq "$A | .lateral[] | select(.dst==\"10.20.0.6\" and .dport==5000) | .count" <<<"$sum")" \
		"10.20.0.6:5000 denied once before the grant, 3 times after its revocation"
	rev=$(jq -c "$A | .after_revocation[] | select(.grant==\"$j1\" and .kind==\"revoke\")" <<<"$sum")
	assert_eq bulkhead "$(jq -r .by.comm <<<"$rev")" "the revocation's caller"
	assert_eq 0 "$(jq -r .by.uid <<<"$rev")" "the revocation's caller uid"
	assert_eq 3 "$(jq -r .attempts_total <<<"$rev")" "attempts after the revocation"
	assert_eq '[{"dst":"10.20.0.6","dport":5000,"verdict":"deny","count":3}]' \
		"$(jq -c '[.attempts[] | {dst, dport, verdict, count}]' <<<"$rev")" "what was attempted after it"
	assert_eq "$(zcat "$LOGS/acme.jsonl.1.gz" | jq -r 'select(.type=="policy" and .action=="grant") | .caller.pid')" \
		"$(jq -r "$A | .grants[] | select(.id==\"$j1\") | .granted_by.pid" <<<"$sum")" \
		"the grant's caller, read from the gzipped rotated file"
	assert_eq 3 "$(jq "$A.destinations[] | select(.dst==\"10.20.0.6\") | .denied_after_revocation" <<<"$sum")" \
		"10.20.0.6: 3 denied after the revocation"
	assert_eq "$(jq .events.lost_ring_full <<<"$st")" \
		"$(jq '[.gaps[] | select(.what=="ring") | .count] | add' <<<"$sum")" "the gap: ring loss count"
	assert_eq "$(jq .events.uncounted_denies <<<"$st")" \
		"$(jq '.gap_counts.uncounted_denies // 0' <<<"$sum")" "uncounted denies"

	# the HTML report in headless Chromium
	"$BULKHEAD" trace --log-dir "$LOGS" acme --html "$CASE_DIR/incident.html" --dot "$CASE_DIR/incident.dot" \
		2>>"$CASE_DIR/trace.err"
	assert_eq 0 "$?" "trace --html exit status"
	assert_eq "" "$(grep -oiE '(src|href)=|url\(|@import|<script|<link|<img|<iframe' "$CASE_DIR/incident.html" | sort -u | tr '\n' ' ')" \
		"offline check: nothing to fetch in the HTML"
	chromium_load "$CASE_DIR/incident.html" incident
	assert_eq "" "$(console_errors incident)" "no console error"
	assert_eq "" "$(net_urls incident)" "no network request"
	assert_eq 4 "$(grep -o '<g class="node"' "$CASE_DIR/incident.dom" | wc -l)" "one SVG node per destination"
	assert_eq "10.1.2.3 10.2.0.1 10.20.0.5 10.20.0.6" \
		"$(grep -oE '<g class="node" data-dst="[^"]*"' "$CASE_DIR/incident.dom" | sed 's/.*data-dst="//; s/"$//' | sort | tr '\n' ' ' | sed 's/ $//')" \
		"the nodes are the destinations"
	[ -s "$CASE_DIR/incident.png" ] || fail "no screenshot"
	mkdir -p "$ARTEFACTS" && cp "$CASE_DIR/incident.png" "$ARTEFACTS/trace-incident.png" &&
		cp "$CASE_DIR/incident.html" "$CASE_DIR/summary.txt" "$CASE_DIR/timeline.txt" "$ARTEFACTS/"
	assert_eq 4 "$(grep -oE -- '-> p0_n[0-9]+ ' "$CASE_DIR/incident.dot" | sort -u | wc -l)" \
		"the DOT graph has an edge to every node"

	# negative control: the checks do see a console error and a request
	cat >"$CASE_DIR/control.html" <<'EOF'
<!DOCTYPE html><html><body><script>console.error("control error")</script>
<img src="http://127.0.0.1:9/control.png"></body></html>
EOF
	chromium_load "$CASE_DIR/control.html" control
	assert_contains "control error" "$(console_errors control)" "control: the console error is seen"
	assert_contains "127.0.0.1:9" "$(net_urls control)" "control: the request is seen"
	stop_ok
}

# Bad input never stops it: torn, cut gzip, not JSON, unknown type, newer v.
case_bad_input() {
	local d=$CASE_DIR/logs2 out
	mkdir -p "$d"
	printf '%s\n' '{"v":1,"ts":"2026-11-30T05:41:01Z","type":"connect","partner":"acme","verdict":"deny","reason":"no_grant","proto":"tcp","dst":"10.1.2.3","dport":1,"count":1}' \
		'garbage' '{"v":9,"ts":"2026-11-30T05:41:02Z","type":"connect"}' \
		'{"v":1,"ts":"2026-11-30T05:41:03Z","type":"teleport"}' >"$d/acme.jsonl.1"
	gzip "$d/acme.jsonl.1"
	head -c 60 "$d/acme.jsonl.1.gz" >"$d/acme.jsonl.2.gz"
	printf '%s\n{"v":1,"ts' '{"v":1,"ts":"2026-11-30T05:41:05Z","type":"connect","partner":"acme","verdict":"deny","reason":"no_grant","proto":"tcp","dst":"10.1.2.4","dport":2,"count":5}' \
		>"$d/acme.jsonl"
	out=$("$BULKHEAD" trace --log-dir "$d" --summary --json 2>"$CASE_DIR/bad.err")
	assert_eq 0 "$?" "exit status with bad lines"
	assert_eq 6 "$(jq .partners[0].verdicts.deny <<<"$out")" "the good lines counted"
	assert_eq '{"not_json":1,"missing_field":0,"unknown_type":1,"newer_version":1,"torn":1,"too_long":0,"gzip":1}' \
		"$(jq -c .skipped.by_kind <<<"$out")" "each bad line counted by kind"
	assert_contains "acme.jsonl.1.gz:2: not JSON" "$(cat "$CASE_DIR/bad.err")" "file:line on stderr"
	"$BULKHEAD" trace --log-dir "$CASE_DIR/nothing-here" >/dev/null 2>&1
	assert_eq 1 "$?" "exit 1 when no file can be read"
	"$BULKHEAD" trace --bogus >/dev/null 2>&1
	assert_eq 2 "$?" "exit 2 on a usage error"
}

# --follow keeps reading across a rotation.
case_follow() {
	local d=$CASE_DIR/logs3 pid
	mkdir -p "$d"
	echo '{"v":1,"ts":"2026-11-30T05:41:01Z","type":"loss","what":"ring","count":1}' >"$d/host.jsonl"
	"$BULKHEAD" trace --log-dir "$d" --follow --json >"$CASE_DIR/follow.out" 2>&1 &
	pid=$!
	wait_until 5 grep -q '"count":1' "$CASE_DIR/follow.out" || fail "first line"
	echo '{"v":1,"ts":"2026-11-30T05:41:02Z","type":"loss","what":"ring","count":2}' >>"$d/host.jsonl"
	wait_until 5 grep -q '"count":2' "$CASE_DIR/follow.out" || fail "appended line"
	mv "$d/host.jsonl" "$d/host.jsonl.1"
	echo '{"v":1,"ts":"2026-11-30T05:41:03Z","type":"loss","what":"ring","count":3}' >>"$d/host.jsonl.1"
	echo '{"v":1,"ts":"2026-11-30T05:41:04Z","type":"loss","what":"ring","count":4}' >"$d/host.jsonl"
	wait_until 5 grep -q '"count":4' "$CASE_DIR/follow.out" || fail "line of the new file after a rotation"
	assert_eq 1 "$(grep -c '"count":3' "$CASE_DIR/follow.out")" "the old file's last line, once"
	kill -INT "$pid"
	wait "$pid"
	assert_eq 0 "$?" "--follow ends on SIGINT with status 0"
}

tcase trace_incident   case_incident
tcase trace_bad_input  case_bad_input bin
tcase trace_follow     case_follow bin

bh_finish
