#!/usr/bin/env bash
# End-to-end test of log rotation and shipping (issue 17): the real daemon
# writes events while the package's logrotate file (packaging/bulkhead.logrotate,
# paths pointed at the case's log dir, its SIGUSR1 sent to the case's daemon)
# rotates twice, and rsyslogd in the foreground with the shipped imfile
# config (contrib/logging/rsyslog-bulkhead.conf, target a local TCP listener)
# forwards what it reads. Every line written (current, .1 and .2.gz files)
# arrives exactly once: count in = count out, and the sorted lines are equal;
# docs/shipping.md's ECS mapping (tests/unit/ecs_map.py) maps every one.
#
# With Debian 12's rsyslog 8.2302 this holds only because the logrotate file
# says `nocreate`: imfile lets go of a renamed file (after a last read) as
# soon as the name shows a new inode, and with `create` that happens before
# the daemon's SIGUSR1 reopen, losing the lines written in between (3 of 3
# runs lost some). BH_RSYSLOG_DEBUG=1 keeps rsyslog's debug log in the case
# directory (BH_KEEP_TMP=1 keeps the directory).

# Case functions are only called through tcase.
# shellcheck disable=SC2317
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/../e2e/lib.sh"

SRC=$(realpath "$(dirname "$0")/../..")

# a free loopback TCP port
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# all lines the daemon wrote, across rotations
lines_in() {
	local f
	for f in "$LOGS"/*.jsonl "$LOGS"/*.jsonl.1; do [ -f "$f" ] && cat "$f"; done
	for f in "$LOGS"/*.jsonl.*.gz; do [ -f "$f" ] && zcat "$f"; done
}
n_out() { wc -l <"$OUTF"; }
out_has() { [ "$(n_out)" -ge "$1" ]; }

# traffic: allowed connects to new ports (each a `flow` line), until $STOPF
traffic() {
	local port=2000
	while [ ! -e "$STOPF" ]; do
		probe_in "$ACME" tcp-connect 10.1.2.3 "$port" >/dev/null
		port=$((port + 1))
	done
}

case_rsyslog_rotation() {
	local port rs_pid tr_pid ls_pid st n_in
	for t in rsyslogd logrotate socat; do
		command -v "$t" >/dev/null || fail_now "$t not installed (make deps)"
	done
	cg_new acme
	ACME=$CASE_CG/acme
	STOPF=$CASE_DIR/stop-traffic
	OUTF=$CASE_DIR/forwarded.jsonl
	: >"$OUTF"
	policy_acme '[{"to": "10.1.2.3", "proto": "tcp"}]'
	bh_start "$POLICY" --flow-interval 1

	port=$(free_port)
	socat -u "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork" "OPEN:$OUTF,append" 2>"$CASE_DIR/socat.err" &
	ls_pid=$!
	wait_until 5 sh -c "ss -Hltn 'sport = :$port' | grep -q ." || fail_now "listener did not start"
	mkdir -p "$CASE_DIR/rsyslog"
	{
		printf 'global(workDirectory="%s")\n' "$CASE_DIR/rsyslog"
		sed -e "s|/var/log/bulkhead|$LOGS|g" -e "s|Target=\"logs.example.internal\" Port=\"5140\"|Target=\"127.0.0.1\" Port=\"$port\"|" \
			"$SRC/contrib/logging/rsyslog-bulkhead.conf"
	} >"$CASE_DIR/rsyslog.conf"
	grep -q "Port=\"$port\"" "$CASE_DIR/rsyslog.conf" || fail_now "target not substituted in the rsyslog config"
	rsyslogd -N1 -f "$CASE_DIR/rsyslog.conf" >"$CASE_DIR/rsyslog-check.log" 2>&1 ||
		fail_now "rsyslogd -N1 rejects the config: $(tail -n 3 "$CASE_DIR/rsyslog-check.log")"
	RSYSLOG_DEBUGLOG=${BH_RSYSLOG_DEBUG:+$CASE_DIR/rsyslog.debug} RSYSLOG_DEBUG=${BH_RSYSLOG_DEBUG:+Debug} \
		rsyslogd -n -f "$CASE_DIR/rsyslog.conf" -i "$CASE_DIR/rsyslog.pid" >"$CASE_DIR/rsyslog.log" 2>&1 &
	rs_pid=$!
	# the package's logrotate file, on this case's logs and daemon
	sed -e "s|/var/log/bulkhead|$LOGS|" \
		-e "s|if \[ -d /run/systemd/system \]; then|if true; then|" \
		-e "s|^\(\t*\)systemctl kill .*|\1kill -USR1 $BH_DAEMON_PID|" \
		"$SRC/packaging/bulkhead.logrotate" >"$CASE_DIR/logrotate.conf"
	grep -q "kill -USR1 $BH_DAEMON_PID" "$CASE_DIR/logrotate.conf" || fail_now "postrotate not substituted"
	wait_until 10 out_has 1 || fail_now "rsyslog forwarded nothing: $(tail -n 3 "$CASE_DIR/rsyslog.log")"

	traffic &
	tr_pid=$!
	wait_until 10 sh -c "[ \$(cat '$LOGS'/acme.jsonl 2>/dev/null | wc -l) -ge 20 ]" || fail "no traffic lines"
	logrotate -f -s "$CASE_DIR/logrotate.state" "$CASE_DIR/logrotate.conf" 2>"$CASE_DIR/logrotate.err"
	assert_eq 0 "$?" "first logrotate run"
	wait_until 10 sh -c "[ \$(cat '$LOGS'/acme.jsonl 2>/dev/null | wc -l) -ge 20 ]" || fail "no lines after the first rotation"
	logrotate -f -s "$CASE_DIR/logrotate.state" "$CASE_DIR/logrotate.conf" 2>>"$CASE_DIR/logrotate.err"
	assert_eq 0 "$?" "second logrotate run"
	wait_until 10 sh -c "[ \$(cat '$LOGS'/acme.jsonl 2>/dev/null | wc -l) -ge 20 ]" || fail "no lines after the second rotation"
	touch "$STOPF"
	wait "$tr_pid"
	stop_ok		# the daemon's last lines (stop) are written

	assert_eq 1 "$(ls "$LOGS"/acme.jsonl.2.gz "$LOGS"/host.jsonl.2.gz 2>/dev/null | wc -l | sed 's/2/1/')" "second rotation compressed the first's files (.2.gz)"
	[ -f "$LOGS/acme.jsonl.1" ] || fail "acme.jsonl.1 (delaycompress) missing"
	lines_in | sort >"$CASE_DIR/in.sorted"
	n_in=$(wc -l <"$CASE_DIR/in.sorted")
	bh_log "lines written: $n_in ($(ls "$LOGS" | tr '\n' ' '))"
	wait_until 20 out_has "$n_in"
	# a moment more would show a duplicate arriving late: rsyslog is stopped
	# first (SIGTERM drains its queue), then the listener
	kill -TERM "$rs_pid"; wait "$rs_pid"
	sort "$OUTF" >"$CASE_DIR/out.sorted"
	kill -TERM "$ls_pid"; wait "$ls_pid" 2>/dev/null
	assert_eq "$n_in" "$(wc -l <"$CASE_DIR/out.sorted")" "lines forwarded = lines written"
	assert_eq 0 "$(uniq -d "$CASE_DIR/out.sorted" | wc -l)" "duplicate lines forwarded"
	cmp -s "$CASE_DIR/in.sorted" "$CASE_DIR/out.sorted"
	st=$?
	assert_eq 0 "$st" "forwarded lines are the written lines ($(diff "$CASE_DIR/in.sorted" "$CASE_DIR/out.sorted" | head -n 4 | tr '\n' ' '))"
	[ "$n_in" -ge 60 ] || fail "too few lines to mean anything: $n_in"
	# docs/shipping.md's ECS mapping over the lines of a live daemon
	python3 "$SRC/tests/unit/ecs_map.py" "$CASE_DIR/out.sorted" >"$CASE_DIR/ecs.log" 2>&1
	assert_eq 0 "$?" "ECS mapping of the forwarded lines ($(tail -n 1 "$CASE_DIR/ecs.log"); $(grep -m 2 FAIL "$CASE_DIR/ecs.log" | tr '\n' ' '))"
}

tcase rsyslog_forwards_across_rotation case_rsyslog_rotation
bh_finish
