#!/usr/bin/env bash
# Upgrade without a gap (issue 17, item 6): a fixed earlier commit of this
# repository (OLD_COMMIT, `git archive`d and built in the case directory)
# runs on the case's own pin dir, cgroup and network namespaces with a
# policy, a just-in-time grant and a revocation, while an allowed TCP flow
# moves bytes and a poller makes denied connects. The old daemon is stopped
# (SIGTERM, no `down`) and the current build started over its pins. Asserted:
# the flow is never cut (every line it sent arrives, no retransmission, no
# packet of it denied), every denied attempt before, during and after the
# switch gets EPERM and is counted, the JIT grant, the revocation and the
# counters are kept, every old map is reused (same map ids), the map new to
# the layout is created, the links are the same links with new programs
# (bpf_link_update, never detach then attach), and the layout is recorded.
# Then pins the current build cannot take over (a future layout record; a
# map of another shape) are refused with a clear message and nothing changes.
#
# Root, a git checkout (for `git archive`). Prints "N passed, N failed".

# Case functions are only called through tcase.
# shellcheck disable=SC2317
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/../e2e/lib.sh"

SRC=$(realpath "$(dirname "$0")/../..")
# the last commit whose pins have no layout record (layout 1)
OLD_COMMIT=${BH_OLD_COMMIT:-71c7963}
NEW_BULKHEAD=$BULKHEAD

# build_old: OLD_COMMIT built in $CASE_DIR/old; its binary in OLD_BULKHEAD.
build_old() {
	mkdir -p "$CASE_DIR/old"
	git -C "$SRC" archive "$OLD_COMMIT" | tar -x -C "$CASE_DIR/old" ||
		fail_now "cannot git archive $OLD_COMMIT (a clone of the repository is needed)"
	make -C "$CASE_DIR/old" -j2 build/bulkhead >"$CASE_DIR/old-build.log" 2>&1 ||
		fail_now "cannot build $OLD_COMMIT: $(tail -n 5 "$CASE_DIR/old-build.log")"
	OLD_BULKHEAD=$CASE_DIR/old/build/bulkhead
	bh_log "built $OLD_COMMIT: $("$OLD_BULKHEAD" --version)"
}

# pins: "NAME map-id" of every pinned map, "links/NAME link-id" of every link
pins_maps() {
	local f
	for f in "$PINDIR"/*; do
		[ -f "$f" ] || continue
		printf '%s %s\n' "$(basename "$f")" "$(bpftool -j map show pinned "$f" | jq .id)"
	done
}
pins_links() {
	local f
	for f in "$PINDIR"/links/*; do
		printf '%s %s\n' "links/$(basename "$f")" "$(bpftool -j link show pinned "$f" | jq -c '[.id, .prog_id]')"
	done
}
# set_layout VERSION BUILT_BY: write the layout record
set_layout() {
	local bytes i
	bytes="$(($1 & 255)) $(($1 >> 8 & 255)) 0 0 0 0 0 0"
	for ((i = 0; i < 64; i++)); do bytes="$bytes $(printf '%d' "'${2:i:1}" 2>/dev/null || echo 0)"; done
	for ((i = 0; i < 32; i++)); do bytes="$bytes 0"; done
	# shellcheck disable=SC2086  # the bytes
	bpftool map update pinned "$PINDIR/bh_layout" key 0 0 0 0 value $bytes ||
		fail_now "cannot write the layout record"
}
layout_version() { bpftool -j map dump pinned "$PINDIR/bh_layout" | jq '.[0].formatted.value.version'; }

# tcp_lost: TCP segments of the client namespace resent because they were
# lost (retransmitted, but for tail loss probes that found nothing lost: a
# probe sent when an ACK is late, as it may be on a loaded machine, repairs a
# loss only when TCPLossProbeRecovery counts it); with the counters it is from
tcp_lost() {
	# shellcheck disable=SC2016  # awk program
	in_ns "$NS_C" awk '
		$1 == "Tcp:" || $1 == "TcpExt:" {
			if (!(($1) in h)) { h[$1] = 1; for (i = 2; i <= NF; i++) n[$1, i] = $i; next }
			for (i = 2; i <= NF; i++) v[n[$1, i]] = $i
		}
		END { printf "%d RetransSegs=%d TCPLossProbes=%d TCPLossProbeRecovery=%d\n",
			v["RetransSegs"] - v["TCPLossProbes"] + v["TCPLossProbeRecovery"],
			v["RetransSegs"], v["TCPLossProbes"], v["TCPLossProbeRecovery"] }' \
		/proc/net/snmp /proc/net/netstat
}

# poller FILE: denied connects (no grant; revoked) until $STOPF, one
# "REALTIME_US DEST RESULT" line each
poller() {
	local t r
	while [ ! -e "$STOPF" ]; do
		for d in "10.2.0.1 80" "10.20.0.6 9000"; do
			t=$(bh_now_us)
			# shellcheck disable=SC2086  # address and port
			r=$(probe_in "$ACME" tcp-connect $d)
			echo "$t ${d// /:} $r" >>"$1"
		done
	done
}
polled_between() { awk -v a="$2" -v b="$3" '$1 >= a && $1 <= b' "$1" | wc -l; }

case_upgrade() {
	local links0 links1 maps0 maps1 progs0 progs1 re0 re1 exp0 exp1 deny0 deny1 \
		t_stop t_stopped t_ready n_sw n_all bad pl_pid issued
	command -v bpftool >/dev/null || fail_now "bpftool not installed (make deps)"
	build_old
	jit_prereq
	cg_new acme
	ACME=$CASE_CG/acme
	STOPF=$CASE_DIR/stop-poller
	policy_acme '[{"to": "10.20.0.5", "proto": "tcp", "ports": ["9000"]},
		      {"to": "10.20.0.6", "proto": "tcp", "ports": ["9000"]}]'
	srv_start sink 9000 "$CASE_DIR/rx9000"
	srv_start echo 80
	srv_start echo 7000

	BULKHEAD=$OLD_BULKHEAD
	bh_start "$POLICY"
	cli grant acme --to 10.1.2.3 --proto tcp --ports 7000 --ttl 1h --purpose "upgrade case" --json
	assert_eq 0 "$CLI_ST" "grant acme/j1 (old build)"
	cli revoke acme --to 10.20.0.6/32 --json
	assert_eq 0 "$CLI_ST" "revoke 10.20.0.6 (old build)"
	assert_probe ok "$ACME" tcp-connect 10.1.2.3 7000
	assert_probe EPERM "$ACME" tcp-connect 10.20.0.6 9000
	assert_probe EPERM "$ACME" tcp-connect 10.2.0.1 80
	exp0=$(grant_field acme/j1 expires)
	stream_start flow "$ACME" -i 10 tcp 10.20.0.5 9000
	wait_until 5 rx_at_least "$CASE_DIR/rx9000" 20 || fail_now "the flow moves no bytes"
	re0=$(tcp_lost)
	deny0=$(acme_count verdicts deny)
	maps0=$(pins_maps)
	links0=$(pins_links | sed 's/,[0-9]*\]$/]/')
	progs0=$(pins_links)
	[ -n "$links0" ] || fail_now "no pinned links"
	[ ! -e "$PINDIR/bh_layout" ] || fail_now "the old build pinned bh_layout: not a layout-1 build"
	poller "$CASE_DIR/polled" &
	pl_pid=$!
	wait_until 5 sh -c "[ \$(wc -l <'$CASE_DIR/polled' 2>/dev/null || echo 0) -ge 4 ]" ||
		fail_now "the denied poller does not run"

	# the switch: stop without `down`, start the current build over the pins
	t_stop=$(bh_now_us)
	bh_stop
	assert_eq 0 "$?" "old daemon exit status after SIGTERM"
	t_stopped=$(bh_now_us)
	cp "$CASE_DIR/bulkhead.err" "$CASE_DIR/old-bulkhead.err"
	wait_until 5 sh -c "[ \$(awk -v a=$t_stop '\$1 > a' '$CASE_DIR/polled' | wc -l) -ge 4 ]" ||
		fail "no denied attempt while no daemon ran"
	BULKHEAD=$NEW_BULKHEAD
	bh_start "$POLICY"
	t_ready=$(bh_now_us)
	assert_file_has "$CASE_DIR/bulkhead.err" "taking over the pins of layout 1" "new daemon's log"
	# a few more denied attempts with the new programs, then stop the poller
	wait_until 5 sh -c "[ \$(awk -v a=$t_ready '\$1 > a' '$CASE_DIR/polled' | wc -l) -ge 4 ]" ||
		fail "no denied attempt after the switch"
	touch "$STOPF"
	wait "$pl_pid"

	n_all=$(wc -l <"$CASE_DIR/polled")
	n_sw=$(polled_between "$CASE_DIR/polled" "$t_stop" "$t_ready")
	bad=$(awk '$3 != "EPERM"' "$CASE_DIR/polled" | head -n 3)
	assert_eq "" "$bad" "denied attempts that did not get EPERM (of $n_all, $n_sw during the switch)"
	[ "$n_sw" -ge 2 ] || fail "only $n_sw denied attempts during the switch"
	bh_log "switch: $(( (t_ready - t_stop) / 1000 )) ms from SIGTERM to ready (old daemon exited after $(( (t_stopped - t_stop) / 1000 )) ms); $n_sw of $n_all denied attempts in it"
	deny1=$(acme_count verdicts deny)
	assert_eq "$((deny0 + n_all))" "$deny1" "acme deny counter: before the poller + every attempt"

	# the flow went on: every line it had issued arrives, nothing retransmitted
	assert_eq connected "$(jf flow phase)" "flow phase after the switch"
	issued=$(jf flow issued)
	wait_until 5 sh -c "[ \"\$(grep -cE '^[0-9]+\$' '$CASE_DIR/rx9000')\" -ge $issued ]"
	[ "$(rx_max "$CASE_DIR/rx9000")" -ge "$issued" ] ||
		fail "flow: $issued lines issued, $(rx_max "$CASE_DIR/rx9000") arrived"
	assert_eq 0 "$(jf flow nerr)" "flow send errors"
	re1=$(tcp_lost)
	bh_log "TCP counters of the client namespace: before the switch $re0; after $re1"
	assert_eq "${re0%% *}" "${re1%% *}" "TCP segments lost in the client namespace across the switch"
	assert_no_event "no packet of the allowed flow denied" "$LOGS/acme.jsonl" verdict=deny dst=10.20.0.5
	jf_stop flow

	# grants, revocation and records kept; the pins taken over
	assert_eq live "$(grant_field acme/j1 state)" "acme/j1 after the upgrade"
	exp1=$(grant_field acme/j1 expires)
	assert_eq "$exp0" "$exp1" "acme/j1 expiry after the upgrade"
	assert_probe ok "$ACME" tcp-connect 10.1.2.3 7000
	assert_probe EPERM "$ACME" tcp-connect 10.20.0.6 9000
	assert_probe ok "$ACME" tcp-connect 10.20.0.5 9000
	assert_event "lifecycle adopt: the JIT grant and the revocation restored" "$LOGS/host.jsonl" \
		type=lifecycle event=adopt jit_grants_restored:=1 revocations_restored:=1 previous_generation\>0
	maps1=$(pins_maps)
	# every old map reused (same id); the maps new since 71c7963 (bh_layout,
	# the scan and budget maps, the UNIX socket maps) created beside them
	assert_eq "" "$(comm -23 <(sort <<<"$maps0") <(sort <<<"$maps1"))" \
		"map ids of the old pins (all reused)"
	assert_eq "$(wc -l <<<"$maps0")" "$(join <(sort <<<"$maps0") <(sort <<<"$maps1") | wc -l)" \
		"every old map still pinned"
	assert_eq 1 "$(grep -c '^bh_layout ' <<<"$maps1")" "bh_layout created (new in layout 2)"
	assert_eq 2 "$(layout_version)" "layout recorded"
	assert_eq 2 "$(status_json | jq .pin_layout)" "status: pin_layout"
	links1=$(pins_links | sed 's/,[0-9]*\]$/]/')
	progs1=$(pins_links)
	# the old links kept (updated in place); links of programs new since
	# 71c7963 (the UNIX socket hooks) attached beside them
	assert_eq "" "$(comm -23 <(sort <<<"$links0") <(sort <<<"$links1"))" \
		"link ids (the same links: updated in place)"
	assert_eq "" "$(comm -13 <(sort <<<"$links0") <(sort <<<"$links1") | grep -v -- '-bh_unix_')" \
		"no new link but the UNIX hooks'"
	assert_eq "" "$(comm -12 <(sort <<<"$progs0") <(sort <<<"$progs1") | grep -v '^links/bind-')" \
		"cgroup links still running an old program"
	stop_ok
}

# refused_unchanged LABEL WHAT ARGS...: `bulkhead run ARGS` over the pins
# exits non-zero, says WHAT and "nothing was changed", and the pins and
# enforcement are as they were.
refused_unchanged() {
	local label=$1 what=$2 maps0 links0
	shift 2
	maps0=$(pins_maps)
	links0=$(pins_links)
	bh_spawn "$POLICY" "$@"
	bh_wait_exit 10 || fail_now "$label: the daemon did not exit"
	[ "$BH_DAEMON_STATUS" -ne 0 ] || fail "$label: exit status 0"
	assert_file_has "$CASE_DIR/bulkhead.err" "$what" "$label: message"
	assert_file_has "$CASE_DIR/bulkhead.err" "nothing was changed" "$label: message"
	bh_log "$label: $(grep -m1 "$what" "$CASE_DIR/bulkhead.err")"
	assert_eq "$maps0" "$(pins_maps)" "$label: pinned maps"
	assert_eq "$links0" "$(pins_links)" "$label: pinned links and their programs"
	assert_probe EPERM "$ACME" tcp-connect 10.2.0.1 80
	assert_probe ok "$ACME" tcp-connect 10.20.0.5 9000
}

case_refused() {
	command -v bpftool >/dev/null || fail_now "bpftool not installed (make deps)"
	cg_new acme
	ACME=$CASE_CG/acme
	policy_acme '[{"to": "10.20.0.5", "proto": "tcp", "ports": ["9000"]}]'
	srv_start echo 9000
	srv_start echo 80
	bh_start "$POLICY"
	bh_stop
	# a layout from the future: version 99 in the record (struct bh_layout:
	# version, pad, built_by[64] "9.9", reserved)
	set_layout 99 9.9
	assert_eq 99 "$(layout_version)" "layout record set to 99"
	refused_unchanged "future layout" "pins of layout 99, made by bulkhead 9.9"
	set_layout 2 test
	# a map of another shape (here the ring, resized): refused the same way
	refused_unchanged "map of another shape" "bh_events is pinned with max entries" --ring-size 64
	bh_start "$POLICY"
	stop_ok
}

tcase upgrade_from_layout1_without_a_gap case_upgrade
tcase unknown_layout_refused_unchanged case_refused
bh_finish
