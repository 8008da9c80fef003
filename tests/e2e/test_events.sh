#!/usr/bin/env bash
# End-to-end tests of the per-partner JSON event stream (issue 3): exact field
# values of allow, deny, audit, never and unknown_partner events, UTF-8
# sanitising of a hostile process name, flood aggregation (>= 100,000 denied
# connects whose counts add up exactly), ring buffer loss, a full log disk,
# log rotation and a removed log directory, flow summaries, and `bulkhead
# status` from the pinned maps. Schema: docs/events.md. Harness: lib.sh.
#
# Events are read with python3 (tests/e2e/ev.py: json, strict UTF-8), never
# with grep on JSON text: see ev_* in lib.sh. Every case ends by checking that
# every line of every log file is valid UTF-8 JSON of schema v1.
#
# Addresses (server namespace, routed from the client namespace):
#   10.1.2.3 10.2.0.1 10.20.0.5 10.20.0.6 fd00:20::5 fd00:20::6 fd00:21::7

# Case functions are only called through tcase.
# shellcheck disable=SC2317
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

# Flood size (issue 3: at least 100,000) and the ring-loss sweep size.
EV_FLOOD_N=${EV_FLOOD_N:-100000}
EV_FLOOD_PAR_N=${EV_FLOOD_PAR_N:-100000}	# per process and round, two processes a round
EV_SWEEP_N=${EV_SWEEP_N:-3000}

# ------------------------------------------------------- event log reader

# tests/e2e/ev.py, with ev, ev_count and assert_event* from lib.sh.

# ev_sum_ge N FILE FILTER...: the count fields of the matching lines add up to
# N or more; the sum and the number of lines are left in EV_SUM and EV_LINES.
ev_sum_ge() {
	local n=$1
	shift
	read -r EV_SUM EV_LINES < <(ev sum count "$@")
	[ "$EV_SUM" -ge "$n" ]
}

# assert_count_sum SECONDS N LABEL FILE FILTER...: once the count fields of the
# matching lines add up to N or more (waiting SECONDS at most), they add up to
# exactly N.
assert_count_sum() {
	local secs=$1 n=$2 label=$3
	shift 3
	wait_until "$secs" ev_sum_ge "$n" "$@"
	assert_eq "$n" "$(ev sum count "$@" | cut -d' ' -f1)" "$label"
}

# assert_logs_valid: every line of every file in LOGDIR is strict UTF-8 JSON
# of schema v1 (and every file ends in a newline).
assert_logs_valid() {
	local out files
	files=$(find "$LOGS" -maxdepth 1 -type f -name '*.jsonl*' | sort)
	if [ -z "$files" ]; then
		fail "no log file in $LOGS"
		return 1
	fi
	# shellcheck disable=SC2086
	if out=$(ev validate $files); then
		bh_log "ok: $out"
		return 0
	fi
	fail "invalid log lines: $out"
}

# ------------------------------------------------------------------ helpers

# start [DAEMON ARGS...]: the daemon on $POLICY, logs in $LOGS (lib.sh);
# $T_START: microseconds, just before it started.
start() {
	T_START=$(bh_now_us)
	bh_start "$POLICY" "$@"
	[ -f "$LOGS/host.jsonl" ] || fail_now "bulkhead run did not create $LOGS/host.jsonl"
}

# finish: the daemon survived, exits 0 on SIGTERM, and every log line is valid.
finish() {
	stop_ok
	assert_logs_valid
}

# run_in CGROUP_DIR CMD...: run CMD (an executable, not a function) in the
# client namespace as a member of CGROUP_DIR, in the foreground; its pid (the
# process that made the syscalls: nsenter and sh exec into it) is in RUN_PID,
# its stdout in RUN_OUT, its stderr goes to probe.err; T0/T1 bracket it
# (microseconds since the epoch).
run_in() {
	local cg=$1
	shift
	T0=$(bh_now_us)
	in_cg_bg "$cg" "$@" >"$CASE_DIR/run.out" 2>>"$CASE_DIR/probe.err"
	RUN_PID=$BH_BG_PID
	wait "$RUN_PID"
	T1=$(bh_now_us)
	RUN_OUT=$(cat "$CASE_DIR/run.out")
}

# probe_pid EXPECTED CGROUP_DIR ARGS...: run the probe there (pid in RUN_PID)
# and assert it prints EXPECTED.
probe_pid() {
	local want=$1 cg=$2
	shift 2
	run_in "$cg" "$BH_PROBE" "$@"
	assert_eq "$want" "$RUN_OUT" "probe $* from $(bh_cg_name "$cg")"
}

# The window of the last run_in, with 100 ms of slack either side, for ts@.
ts_window() { printf '%s..%s\n' "$((T0 - 100000))" "$((T1 + 100000))"; }

# A cgroup's id as the kernel reports it (its inode number on 64-bit).
cg_id() { stat -c %i "$1"; }

# status_json FILE: `bulkhead status --json` of this case's pins into FILE.
status_json() {
	"$BULKHEAD" status --json --pin-dir "$PINDIR" >"$1" 2>"$1.err"
	local st=$?
	[ "$st" -eq 0 ] || fail "bulkhead status --json exited $st: $(head -c 300 "$1.err")"
	return "$st"
}

# helper_build: compile the C helper below into $CASE_DIR/evhelper.
helper_build() {
	HELPER="$CASE_DIR/evhelper"
	cat >"$CASE_DIR/evhelper.c" <<'CEOF'
/*
 * evhelper: socket operations the end-to-end event tests need from one process.
 *
 *   evhelper comm HEX [tcp|udp ADDR PORT]...
 *       set this process's name (prctl PR_SET_NAME) to the bytes HEX encodes,
 *       then for each operation a TCP connect or an unconnected UDP sendto;
 *       prints one word per operation ("ok" or the errno name)
 *   evhelper sweep ADDR PORT0 COUNT
 *       TCP connects to ADDR ports PORT0 .. PORT0+COUNT-1, one socket each;
 *       prints EPERM when every one failed with EPERM, else
 *       "MIXED ok=N eperm=N other=N"
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

static int target(const char *addr, const char *port, struct sockaddr_in *sin)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((unsigned short)atoi(port));
	return inet_pton(AF_INET, addr, &sin->sin_addr) == 1 ? 0 : -1;
}

static int tcp_connect(const struct sockaddr_in *sin)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), err = 0;
	socklen_t len = sizeof(err);

	if (fd < 0)
		return errno;
	if (connect(fd, (const struct sockaddr *)sin, sizeof(*sin)) < 0) {
		err = errno;
		if (err == EINPROGRESS) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			int r = poll(&p, 1, 2000);

			if (r == 0)
				err = ETIMEDOUT;
			else if (r < 0)
				err = errno;
			else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
				err = errno;
		}
	}
	close(fd);
	return err;
}

static int udp_sendto(const struct sockaddr_in *sin)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), err = 0;

	if (fd < 0)
		return errno;
	if (sendto(fd, "evhelper\n", 9, 0, (const struct sockaddr *)sin, sizeof(*sin)) < 0)
		err = errno;
	close(fd);
	return err;
}

static const char *word(int err)
{
	const char *n;

	if (!err)
		return "ok";
	n = strerrorname_np(err);
	return n ? n : "E?";
}

int main(int argc, char **argv)
{
	struct sockaddr_in sin;

	if (argc >= 3 && !strcmp(argv[1], "comm")) {
		char name[16] = { 0 };
		size_t n = strlen(argv[2]) / 2, i;

		if (n > 15)
			return 2;
		for (i = 0; i < n; i++) {
			unsigned int b;

			if (sscanf(argv[2] + 2 * i, "%2x", &b) != 1)
				return 2;
			name[i] = (char)b;
		}
		if (prctl(PR_SET_NAME, name, 0, 0, 0))
			return 3;
		for (i = 3; i + 2 < (size_t)argc; i += 3) {
			if (target(argv[i + 1], argv[i + 2], &sin))
				return 2;
			printf("%s%s", i > 3 ? " " : "",
			       word(!strcmp(argv[i], "udp") ? udp_sendto(&sin) : tcp_connect(&sin)));
		}
		putchar('\n');
		return 0;
	}
	if (argc == 5 && !strcmp(argv[1], "sweep")) {
		long port0 = atol(argv[3]), count = atol(argv[4]), ok = 0, eperm = 0, other = 0;

		for (long p = port0; p < port0 + count; p++) {
			char ps[16];
			int err;

			snprintf(ps, sizeof(ps), "%ld", p);
			if (target(argv[2], ps, &sin))
				return 2;
			err = tcp_connect(&sin);
			if (!err)
				ok++;
			else if (err == EPERM)
				eperm++;
			else
				other++;
		}
		if (eperm == count)
			puts("EPERM");
		else
			printf("MIXED ok=%ld eperm=%ld other=%ld\n", ok, eperm, other);
		return 0;
	}
	fprintf(stderr, "usage: evhelper comm HEX [tcp|udp ADDR PORT]... | sweep ADDR PORT0 COUNT\n");
	return 2;
}
CEOF
	"${CC:-cc}" -Wall -Wextra -O2 -o "$HELPER" "$CASE_DIR/evhelper.c" 2>"$CASE_DIR/evhelper.cc.err" ||
		fail_now "cannot build the C helper: $(head -n 5 "$CASE_DIR/evhelper.cc.err")"
}

# daemon_idle: the daemon sleeps in poll/epoll (done with what it had read).
daemon_idle() {
	local nr
	nr=$(cut -d' ' -f1 "/proc/$BH_DAEMON_PID/syscall" 2>/dev/null) || return 1
	case $nr in 7|232|271|281) return 0 ;; esac	# poll epoll_wait ppoll epoll_pwait
	return 1
}

# daemon_has_open PATH: the daemon holds a descriptor on PATH.
daemon_has_open() {
	local fd
	for fd in /proc/"$BH_DAEMON_PID"/fd/*; do
		case $(readlink "$fd" 2>/dev/null) in "$1"|"$1 (deleted)") return 0 ;; esac
	done
	return 1
}
daemon_lacks_open() { ! daemon_has_open "$1"; }

# Mounts made by cases (tmpfs log dirs), unmounted after the daemon stopped
# even when a case fails or is interrupted: the case's EXIT trap is wrapped
# here, and the run's EXIT trap too, as a safety net.
ev__trap_cmd() {	# the command of the current EXIT trap
	local t
	t=$(trap -p EXIT)
	t=${t#"trap -- '"}
	printf '%s\n' "${t%"' EXIT"}"
}

ev__umount_all() {	# every mount below $BH_TMP, deepest first
	local mp
	awk -v p="$BH_TMP/" 'index($5, p) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
		while IFS= read -r mp; do
			umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null
		done
}

# mount_small_tmpfs DIR SIZE: a tmpfs of SIZE at DIR for this case.
mount_small_tmpfs() {
	local prev
	mkdir -p "$1"
	mount -t tmpfs -o "size=$2,mode=0750" bh-ev-tmpfs "$1" || fail_now "cannot mount a tmpfs on $1"
	prev=$(ev__trap_cmd)
	# shellcheck disable=SC2064  # expand now: the mount point and the old trap
	# shellcheck disable=SC2154  # ev__st: assigned in the trap
	trap "ev__st=\$?; { [ -z \"\${BH_DAEMON_PID:-}\" ] || bh_stop; mkdir -p '$1.saved'; cp -a '$1'/. '$1.saved'/; umount '$1' || umount -l '$1'; } >/dev/null 2>&1; (exit \$ev__st); $prev" EXIT
}

ev__run_trap=$(ev__trap_cmd)
# shellcheck disable=SC2064
trap "ev__st=\$?; ev__umount_all; (exit \$ev__st); $ev__run_trap" EXIT

# -------------------------------------------------------------------- cases

# A granted TCP connect: one flow/new event with every field exact; a second
# connect to the same destination makes no second one.
case_allow_flow_new() {
	policy_acme '[{"id": "billing", "to": "10.20.0.5", "proto": "tcp", "ports": ["80"], "purpose": "billing api"},
                {"to": "10.2.0.1", "proto": "udp"}]'
	srv_start echo 80
	cg_new acme
	start
	local acme="$CASE_CG/acme" f="$LOGS/acme.jsonl"

	probe_pid ok "$acme" tcp-connect 10.20.0.5 80
	assert_event "flow/new of the granted connect" "$f" \
		v:=1 type=flow phase=new partner=acme partner_id\>0 verdict=allow reason=granted \
		grant.id=acme/billing grant.purpose="billing api" hook=connect proto=tcp \
		dst=10.20.0.5 dport:=80 pid:="$RUN_PID" tid:="$RUN_PID" uid:=0 comm=probe \
		cgroup="$CASE_CG_REL/acme" cgroup_id:="$(cg_id "$acme")" cookie\>0 count:=1 \
		"ts~\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{6}Z" "ts@$(ts_window)" \
		-aggregated -sport
	probe_pid ok "$acme" tcp-connect 10.20.0.5 80 "second-$(bh_token)"
	finish
	assert_event_n 1 "one flow/new for (acme, 10.20.0.5, 80, tcp)" "$f" type=flow phase=new dst=10.20.0.5 dport=80
	assert_no_event "no deny or audit for acme" "$f" verdict!=allow
	assert_no_event "acme's decisions stay out of host.jsonl" "$LOGS/host.jsonl" partner=acme
}

# Denied connect (TCP IPv4, IPv6, v4-mapped, connected UDP) and denied
# unconnected UDP sendto: exact fields of each event.
case_deny_events() {
	policy_acme '[{"to": "10.20.0.5", "proto": "tcp", "ports": ["80"]}]'
	cg_new acme
	start
	local acme="$CASE_CG/acme" f="$LOGS/acme.jsonl" cgid
	cgid=$(cg_id "$acme")
	local common=(v:=1 partner=acme partner_id\>0 verdict=deny reason=no_grant uid:=0 comm=probe
		      cgroup="$CASE_CG_REL/acme" cgroup_id:="$cgid" cookie\>0 count:=1 -grant -aggregated)

	probe_pid EPERM "$acme" tcp-connect 10.1.2.3 80
	assert_event "denied TCP connect (not bound yet: no src, no sport)" "$f" "${common[@]}" \
		type=connect hook=connect proto=tcp dst=10.1.2.3 dport:=80 pid:="$RUN_PID" \
		tid:="$RUN_PID" "ts@$(ts_window)" -sport -src
	# the kernel gives an unconnected UDP socket its port before the sendmsg
	# hook runs (docs/events.md): sport, but no src (bound to no address)
	probe_pid EPERM "$acme" udp-sendto 10.1.2.3 5353
	assert_event "denied unconnected UDP sendto (autobound: sport, no src)" "$f" "${common[@]}" \
		type=send hook=sendmsg proto=udp sport\>=1 dst=10.1.2.3 dport:=5353 pid:="$RUN_PID" \
		tid:="$RUN_PID" "ts@$(ts_window)" -src
	# connect(2) on a UDP socket runs the hook before the kernel binds a port
	probe_pid EPERM "$acme" udp-connect-send 10.2.0.1 53
	assert_event "denied connected UDP (not bound yet: no src, no sport)" "$f" "${common[@]}" \
		type=connect hook=connect proto=udp dst=10.2.0.1 dport:=53 pid:="$RUN_PID" \
		"ts@$(ts_window)" -sport -src
	probe_pid EPERM "$acme" tcp-connect fd00:21::7 8080
	assert_event "denied IPv6 TCP connect" "$f" "${common[@]}" type=connect hook=connect proto=tcp \
		dst=fd00:21::7 dport:=8080 pid:="$RUN_PID" "ts@$(ts_window)"
	probe_pid EPERM "$acme" tcp6-connect ::ffff:10.2.0.1 443
	assert_event "denied v4-mapped connect shows the IPv4 address" "$f" "${common[@]}" \
		type=connect hook=connect proto=tcp dst=10.2.0.1 dport:=443 pid:="$RUN_PID"
	probe_pid EPERM "$acme" ping 10.1.2.3
	assert_event "denied ping, a packet at egress: both ends named" "$f" "${common[@]}" \
		type=packet hook=egress proto=icmp src="$C4" dst=10.1.2.3 pid:="$RUN_PID" -dport \
		"ts@$(ts_window)"
	finish
	assert_event_n 6 "one line per denied attempt" "$f" verdict=deny
	assert_no_event "no flow event for denied traffic" "$f" type=flow
}

# Audit mode: the connection goes through, the event says audit/no_grant.
case_audit_events() {
	local tok; tok=$(bh_token)
	policy_acme '[{"to": "10.20.0.5", "proto": "tcp", "ports": ["80"]}]' "" audit
	srv_start sink 9000 "$CASE_DIR/tcp.rx"
	srv_start udp 5353 "$CASE_DIR/udp.rx"
	cg_new acme
	start
	local acme="$CASE_CG/acme" f="$LOGS/acme.jsonl"

	probe_pid ok "$acme" tcp-connect 10.1.2.3 9000 "a-$tok"
	assert_file_has "$CASE_DIR/tcp.rx" "a-$tok" "the audited connection reached the server"
	assert_event "audited TCP connect" "$f" v:=1 type=connect partner=acme verdict=audit \
		reason=no_grant hook=connect proto=tcp dst=10.1.2.3 dport:=9000 pid:="$RUN_PID" \
		tid:="$RUN_PID" uid:=0 comm=probe cgroup="$CASE_CG_REL/acme" count:=1 -grant \
		-aggregated "ts@$(ts_window)"
	probe_pid ok "$acme" udp-sendto 10.1.2.3 5353 "au-$tok"
	assert_file_has "$CASE_DIR/udp.rx" "au-$tok" "the audited datagram reached the server"
	assert_event "audited UDP sendto" "$f" type=send partner=acme verdict=audit reason=no_grant \
		hook=sendmsg proto=udp dst=10.1.2.3 dport:=5353 pid:="$RUN_PID" comm=probe count:=1
	finish
	assert_no_event "nothing in audit mode says deny" "$f" verdict=deny
}

# The never list: reason never (even with a grant covering it), and an alert
# with what never in the partner file and in host.jsonl.
case_never_alert() {
	policy <<EOF
{
  "version": 1,
  "never": ["10.20.0.5/32"],
  "partners": {
    "acme": {
      "cgroups": ["$CASE_CG_REL/acme"],
      "allow": [{"id": "subnet", "to": "10.20.0.0/16", "proto": "tcp", "purpose": "whole subnet"}]
    }
  }
}
EOF
	srv_start echo 80
	cg_new acme
	start
	local acme="$CASE_CG/acme" f="$LOGS/acme.jsonl" h="$LOGS/host.jsonl"
	local dec=(partner=acme verdict=deny reason=never hook=connect proto=tcp dst=10.20.0.5
		   dport:=80 uid:=0 comm=probe cgroup="$CASE_CG_REL/acme" count:=1 -grant)

	probe_pid EPERM "$acme" tcp-connect 10.20.0.5 80
	local pid=$RUN_PID win; win=$(ts_window)
	assert_event "connect denied by never" "$f" v:=1 type=connect "${dec[@]}" pid:="$pid" "ts@$win"
	assert_event "alert never in acme.jsonl" "$f" v:=1 type=alert what=never "${dec[@]}" pid:="$pid" "ts@$win"
	assert_event "alert never in host.jsonl" "$h" v:=1 type=alert what=never "${dec[@]}" pid:="$pid" "ts@$win"
	assert_no_event "the decision itself is not copied to host.jsonl" "$h" partner=acme type!=alert
	probe_pid ok "$acme" tcp-connect 10.20.0.6 80
	assert_event "the grant still covers the rest of the subnet" "$f" type=flow phase=new \
		dst=10.20.0.6 grant.id=acme/subnet grant.purpose="whole subnet"
	finish
	assert_event_n 1 "one alert in acme.jsonl" "$f" type=alert
	assert_event_n 1 "one alert in host.jsonl" "$h" type=alert
}

# A child of partner_root bound to no partner: its denies are in host.jsonl
# with partner null, reason unknown_partner, plus an alert.
case_unknown_partner() {
	policy <<EOF
{
  "version": 1,
  "partner_root": "$CASE_CG_REL/partners",
  "partners": {
    "acme": {
      "cgroups": ["$CASE_CG_REL/partners/acme"],
      "allow": [{"to": "10.20.0.5", "proto": "any"}]
    }
  }
}
EOF
	srv_start echo 80
	cg_new partners/acme partners/stranger
	start
	local cg="$CASE_CG/partners/stranger" h="$LOGS/host.jsonl" st="$CASE_DIR/status.json"
	local dec=(partner:=null partner_id:=0 verdict=deny reason=unknown_partner hook=connect
		   proto=tcp dst=10.20.0.5 dport:=80 uid:=0 comm=probe
		   cgroup="$CASE_CG_REL/partners/stranger" cgroup_id:="$(cg_id "$cg")" count:=1 -grant)

	probe_pid EPERM "$cg" tcp-connect 10.20.0.5 80
	assert_event "unknown_partner connect in host.jsonl" "$h" v:=1 type=connect "${dec[@]}" \
		pid:="$RUN_PID" tid:="$RUN_PID" cookie\>0 "ts@$(ts_window)"
	assert_event "unknown_partner alert in host.jsonl" "$h" v:=1 type=alert what=unknown_partner \
		"${dec[@]}" pid:="$RUN_PID"
	probe_pid EPERM "$cg" udp-sendto 10.20.0.5 53
	assert_event "unknown_partner sendto in host.jsonl" "$h" type=send partner:=null \
		reason=unknown_partner hook=sendmsg proto=udp dst=10.20.0.5 dport:=53 pid:="$RUN_PID"
	finish
	assert_event_n 2 "one alert per unknown_partner decision" "$h" type=alert what=unknown_partner
	assert_eq "host.jsonl" "$(cd "$LOGS" && ls)" "files in LOGDIR (no file for a null partner)"
	status_json "$st"
	assert_eq 2 "$(ev jget "$st" 'partners.[id=0].verdicts.deny')" "status: denies of no partner"
	assert_eq 2 "$(ev jget "$st" 'partners.[id=0].reasons.unknown_partner')" "status: unknown_partner reasons"
}

# Partner names that cannot be file names of their own ("host", a leading
# dot): their lines go to host.jsonl and keep their partner field.
case_partner_names_to_host() {
	policy <<EOF
{
  "version": 1,
  "partners": {
    "host": {
      "cgroups": ["$CASE_CG_REL/h"],
      "allow": [{"to": "10.20.0.5", "proto": "tcp", "ports": ["80"]}]
    },
    ".hidden": {
      "cgroups": ["$CASE_CG_REL/d"],
      "allow": [{"to": "10.20.0.5", "proto": "tcp", "ports": ["80"]}]
    }
  }
}
EOF
	cg_new h d
	start
	local h="$LOGS/host.jsonl"

	probe_pid EPERM "$CASE_CG/h" tcp-connect 10.1.2.3 81
	assert_event "partner \"host\" in host.jsonl" "$h" type=connect partner=host dport:=81 \
		pid:="$RUN_PID" cgroup="$CASE_CG_REL/h"
	probe_pid EPERM "$CASE_CG/d" tcp-connect 10.1.2.3 82
	assert_event "partner \".hidden\" in host.jsonl" "$h" type=connect partner=.hidden dport:=82 \
		pid:="$RUN_PID" cgroup="$CASE_CG_REL/d"
	finish
	assert_eq "host.jsonl" "$(cd "$LOGS" && ls -A)" "files in LOGDIR"
}

# --stdout: one stream of JSON lines on standard output (besides LOGDIR,
# which lib.sh always passes), for journald or a container runtime. Every
# line of the stream must be JSON: `bulkhead run --stdout | jq ...`, the
# filter docs/events.md suggests, stops at the first line that is not.
case_stdout_stream() {
	policy_acme '[{"to": "10.20.0.5", "proto": "tcp", "ports": ["80"]}]'
	cg_new acme
	local out="$CASE_DIR/bulkhead.out"
	# readiness from the stream itself: the lifecycle start line (or `ready`)
	stdout_started() { ev__has "$out" type=lifecycle event=start || bh__is_ready || bh_pid_dead "$BH_DAEMON_PID"; }
	bh_spawn "$POLICY" --stdout
	wait_until 10 stdout_started
	bh_alive || fail_now "bulkhead run --stdout exited: $(bh__daemon_tail)"
	wait_until 10 bh__is_ready	# enforcement attached (printed after the start line)

	probe_pid EPERM "$CASE_CG/acme" tcp-connect 10.1.2.3 5000
	assert_event "the denied connect on stdout" "$out" v:=1 type=connect partner=acme \
		verdict=deny reason=no_grant dst=10.1.2.3 dport:=5000 pid:="$RUN_PID" comm=probe
	assert_event "and in acme.jsonl" "$LOGS/acme.jsonl" type=connect dport:=5000 pid:="$RUN_PID"
	bh_stop
	assert_event "lifecycle stop ends the stream" "$out" _last=true type=lifecycle event=stop
	local bad
	bad=$(ev validate "$out") || fail "standard output with --stdout is not only JSON lines: $bad"
	assert_logs_valid
}

# A process named with quotes, a backslash, a newline, C1 control and bytes
# >= 0x80 (valid and invalid UTF-8): every line stays valid JSON and the name
# is sanitised as docs/events.md "Strings" says.
case_hostile_comm() {
	policy <<EOF
{
  "version": 1,
  "never": ["10.20.0.6/32"],
  "partners": {
    "acme": {
      "cgroups": ["$CASE_CG_REL/acme"],
      "allow": [{"to": "10.20.0.5", "proto": "tcp", "ports": ["80"]}]
    }
  }
}
EOF
	srv_start echo 80
	# the process runs in a child cgroup of acme whose name holds a quote, a
	# backslash, 0xff, é, a control character (0x01) and 0x7f (DEL); cgroupfs
	# refuses only '/' and newlines
	local child
	child=$(printf 'w"\\\377\303\251\001x\177')
	cg_new acme "acme/$child"
	helper_build
	start
	local cg="$CASE_CG/acme/$child" f="$LOGS/acme.jsonl"
	# a " b \ c LF 0xff é(c3 a9) z 0x80 NEL(c2 85) and a cut euro sign (e2 82)
	local hex=6122625c630affc3a97a80c285e282
	# each byte that starts no valid sequence, and each control, is one U+FFFD
	local want='"a\"b\\c\ufffd\ufffd\u00e9z\ufffd\ufffd\ufffd\ufffd"'
	local want_cg="\"$CASE_CG_REL/acme/w\\\"\\\\\\ufffd\\u00e9\\ufffdx\\ufffd\""

	run_in "$cg" "$HELPER" comm "$hex" tcp 10.1.2.3 80 udp 10.1.2.3 53 tcp 10.20.0.5 80 tcp 10.20.0.6 80
	assert_eq "EPERM EPERM ok EPERM" "$RUN_OUT" "hostile-named process: denied, denied, granted, never"
	local pid=$RUN_PID
	assert_event "denied connect with the sanitised names" "$f" type=connect verdict=deny \
		dst=10.1.2.3 dport:=80 pid:="$pid" comm:="$want" cgroup:="$want_cg" \
		cgroup_id:="$(cg_id "$cg")"
	assert_event "denied sendto with the sanitised names" "$f" type=send dst=10.1.2.3 \
		dport:=53 pid:="$pid" comm:="$want" cgroup:="$want_cg"
	assert_event "flow/new with the sanitised names" "$f" type=flow phase=new dst=10.20.0.5 \
		pid:="$pid" comm:="$want" cgroup:="$want_cg"
	assert_event "never alert (host.jsonl) with the sanitised names" "$LOGS/host.jsonl" \
		type=alert what=never dst=10.20.0.6 pid:="$pid" comm:="$want" cgroup:="$want_cg"
	finish
	assert_event_n 5 "every acme line carries the sanitised name" "$f" comm:="$want"
	assert_event_n 5 "and the sanitised cgroup" "$f" cgroup:="$want_cg"
}

# >= 100,000 denied connects to one destination: few lines, counts summing to
# exactly the attempts, and the same number in the kernel's deny counter.
case_flood() {
	policy_acme '[{"to": "10.20.0.5", "proto": "tcp", "ports": ["80"]}]'
	cg_new acme
	start
	local acme="$CASE_CG/acme" f="$LOGS/acme.jsonl" n=$EV_FLOOD_N st="$CASE_DIR/status.json"
	local key=(type=connect partner=acme verdict=deny reason=no_grant proto=tcp dst=10.1.2.3 dport:=5432)
	local t_loop t_done sum lines

	probe_pid EPERM "$acme" connect-loop 10.1.2.3 5432 "$n"
	t_loop=$((T1 - T0))
	bh_log "connect-loop: $(tail -n 1 "$CASE_DIR/probe.err")"
	# aggregated lines come once their window has closed (2-3 s after it opened)
	wait_until 30 ev_sum_ge "$n" "$f" "${key[@]}"
	t_done=$(( $(bh_now_us) - T1 ))
	sum=$EV_SUM lines=$EV_LINES
	assert_eq "$n" "$sum" "sum of count over the deny lines of 10.1.2.3:5432"
	bh_log "figures: $n denied connects in $((t_loop / 1000)) ms ($((n * 1000000 / (t_loop > 0 ? t_loop : 1))) /s);" \
		"$lines lines; counts complete $((t_done / 1000)) ms after the last attempt"
	if [ "$lines" -eq 0 ] || [ $((lines * 100)) -ge "$n" ]; then
		fail "expected far fewer lines than attempts: $lines lines for $n attempts"
	fi
	assert_event "aggregated lines say so" "$f" "${key[@]}" aggregated:=true count\>1 \
		hook=connect +window_start -pid -tid -cookie "ts@$((T0 - 100000))..$((T1 + 100000))"
	local out
	out=$(ev windows "$f" "${key[@]}") || fail "aggregation windows: $out"
	assert_event "the first attempt of the flood is a full event" "$f" "${key[@]}" count:=1 \
		pid:="$RUN_PID" comm=probe cgroup="$CASE_CG_REL/acme" -aggregated
	# each window: at most one first event and one aggregated line
	local firsts; firsts=$(ev count "$f" "${key[@]}" -aggregated)
	[ $((lines - firsts)) -le "$firsts" ] ||
		fail "more aggregated lines ($((lines - firsts))) than windows with a first event ($firsts)"
	status_json "$st"
	assert_eq "$n" "$(ev jget "$st" 'partners.[partner=acme].verdicts.deny')" "status: acme deny counter"
	assert_eq "$n" "$(ev jget "$st" 'partners.[partner=acme].reasons.no_grant')" "status: acme no_grant counter"
	assert_eq 0 "$(ev jget "$st" 'events.lost_ring_full')" "status: ring losses"
	finish
	read -r sum lines < <(ev sum count "$f" "${key[@]}")
	assert_eq "$n" "$sum" "sum of counts after the daemon stopped"
}

# Two processes flooding the same key at once (one per CPU) across several
# windows: the kernel's first-of-window race and the window flush still add
# up to exactly the attempts.
case_flood_parallel() {
	policy_acme '[{"to": "10.20.0.5", "proto": "tcp", "ports": ["80"]}]'
	cg_new acme
	start
	local acme="$CASE_CG/acme" f="$LOGS/acme.jsonl" n=$EV_FLOOD_PAR_N st="$CASE_DIR/status.json"
	local key=(type=connect partner=acme verdict=deny reason=no_grant proto=tcp dst=10.2.0.1 dport:=22)
	local i r pids=() t0 t1 sum lines out total=0 rounds=0

	# rounds of two concurrent loops until 2.5 s have passed: the flood spans
	# at least two window boundaries
	t0=$(bh_now_us)
	for ((r = 1; r <= 20; r++)); do
		pids=()
		for i in 1 2; do
			in_cg_bg "$acme" "$BH_PROBE" connect-loop 10.2.0.1 22 "$n" \
				>"$CASE_DIR/loop$i.out" 2>>"$CASE_DIR/probe.err"
			pids+=("$BH_BG_PID")
		done
		wait "${pids[@]}"
		for i in 1 2; do
			[ "$(cat "$CASE_DIR/loop$i.out")" = EPERM ] ||
				fail "round $r, connect-loop $i: expected EPERM for all $n connects, got $(cat "$CASE_DIR/loop$i.out")"
		done
		total=$((total + 2 * n))
		rounds=$r
		[ $(( $(bh_now_us) - t0 )) -lt 2500000 ] || break
	done
	t1=$(bh_now_us)
	n=$((total / 2))
	wait_until 30 ev_sum_ge $((2 * n)) "$f" "${key[@]}"
	sum=$EV_SUM lines=$EV_LINES
	assert_eq $((2 * n)) "$sum" "sum of count over the deny lines of 10.2.0.1:22"
	bh_log "figures: $total denied connects ($rounds rounds of 2 parallel loops) in $(((t1 - t0) / 1000)) ms; $lines lines"
	out=$(ev windows "$f" "${key[@]}") || fail "aggregation windows: $out"
	bh_log "$out"
	[ "$(ev count "$f" "${key[@]}" aggregated:=true)" -ge 3 ] ||
		fail "a flood of $(((t1 - t0) / 1000)) ms should have aggregated lines in 3 windows or more: $out"
	status_json "$st"
	assert_eq $((2 * n)) "$(ev jget "$st" 'partners.[partner=acme].verdicts.deny')" "status: acme deny counter"
	finish
}

# A tiny ring and a stopped daemon: events are lost, a loss/ring line says
# how many, decisions are unaffected, and the counts still add up.
case_ring_loss() {
	policy_acme '[{"to": "10.20.0.5", "proto": "tcp", "ports": ["80"]}]'
	cg_new acme
	helper_build
	start --ring-size 4	# KiB: one page, the smallest ring (about 34 records)
	local acme="$CASE_CG/acme" f="$LOGS/acme.jsonl" h="$LOGS/host.jsonl" st="$CASE_DIR/status.json"
	local m=$EV_SWEEP_N key=(type=connect partner=acme verdict=deny reason=no_grant proto=tcp dst=10.1.2.3)
	local lost nagg

	wait_until 5 daemon_idle || fail "the daemon never went idle"
	kill -STOP "$BH_DAEMON_PID"
	run_in "$acme" "$HELPER" sweep 10.1.2.3 20000 "$m"
	kill -CONT "$BH_DAEMON_PID"
	assert_eq EPERM "$RUN_OUT" "$m denied connects while the ring was full: every one EPERM"
	status_json "$st"
	lost=$(ev jget "$st" events.lost_ring_full)
	bh_log "figures: $m first-of-window denies with a 4 KiB ring and the reader stopped: $lost lost"
	[ "$lost" -gt 0 ] || fail "status: events.lost_ring_full is $lost, expected > 0"
	assert_eq "$m" "$(ev jget "$st" 'partners.[partner=acme].verdicts.deny')" "status: acme deny counter"
	assert_count_sum 10 "$lost" "sum of loss/ring counts = status lost_ring_full" \
		"$h" type=loss what=ring
	assert_event "loss/ring line in host.jsonl" "$h" v:=1 type=loss what=ring count\>0
	wait_until 15 ev_sum_ge "$m" "$f" "${key[@]}"
	assert_eq "$m" "$EV_SUM" "sum of count over acme's deny lines (lost events kept as counts)"
	nagg=$(ev count "$f" "${key[@]}" aggregated:=true)
	assert_eq "$lost" "$nagg" "one aggregated line (count 1) per lost first event"
	assert_event_n "$nagg" "aggregated lines of single lost attempts have count 1" "$f" \
		"${key[@]}" aggregated:=true count:=1
	assert_event_n "$((m - lost))" "delivered events" "$f" "${key[@]}" -aggregated count:=1
	finish
	# a restarted daemon reports only what is new: not these losses again
	start --ring-size 4
	finish
	assert_eq "$lost" "$(ev sum count "$h" type=loss what=ring | cut -d' ' -f1)" \
		"after a restart, the sum of loss/ring counts is still lost_ring_full"
}

# More distinct (dst, dport) keys in one window than the aggregation map
# holds (65,536): the rest are sent one event each, a loss/flood_map line says
# how many, and the counts still add up to the attempts.
case_flood_map_full() {
	policy_acme '[{"to": "10.20.0.5", "proto": "tcp", "ports": ["80"]}]'
	cg_new acme
	helper_build
	start --ring-size 32768	# KiB: room for every record while the reader is stopped
	local acme="$CASE_CG/acme" f="$LOGS/acme.jsonl" h="$LOGS/host.jsonl" st="$CASE_DIR/status.json"
	local m1=65535 m2=10000 out1 out2 full sum lines
	local m=$((m1 + m2)) key=(partner=acme verdict=deny reason=no_grant proto=tcp)

	wait_until 5 daemon_idle || fail "the daemon never went idle"
	# stopped, the daemon flushes no window, so every key stays in the map
	kill -STOP "$BH_DAEMON_PID"
	run_in "$acme" "$HELPER" sweep 10.1.2.3 1 "$m1"
	out1=$RUN_OUT
	run_in "$acme" "$HELPER" sweep 10.2.0.1 1 "$m2"
	out2=$RUN_OUT
	local t_cont; t_cont=$(bh_now_us)
	kill -CONT "$BH_DAEMON_PID"
	assert_eq EPERM "$out1" "$m1 denied connects to 10.1.2.3, one per port"
	assert_eq EPERM "$out2" "$m2 denied connects to 10.2.0.1, one per port"
	status_json "$st"
	full=$(ev jget "$st" events.lost_map_full)
	bh_log "figures: $m distinct keys in one burst: $full sent unaggregated (map full)"
	[ "$full" -gt 0 ] || fail "status: events.lost_map_full is $full, expected > 0"
	assert_eq 0 "$(ev jget "$st" events.lost_ring_full)" "status: ring losses with a 32 MiB ring"
	assert_eq "$m" "$(ev jget "$st" 'partners.[partner=acme].verdicts.deny')" "status: acme deny counter"
	assert_count_sum 10 "$full" "sum of loss/flood_map counts = status lost_map_full" \
		"$h" type=loss what=flood_map
	wait_until 30 ev_sum_ge "$m" "$f" "${key[@]}"
	local t_lines=$(( $(bh_now_us) - t_cont ))
	sum=$EV_SUM lines=$EV_LINES
	bh_log "figures: the daemon wrote the $lines queued lines within $((t_lines / 1000)) ms of SIGCONT" \
		"(>= $((lines * 1000000 / (t_lines > 0 ? t_lines : 1))) lines/s, polling included)"
	assert_eq "$m" "$sum" "sum of count over acme's deny lines"
	assert_eq "$m" "$lines" "one line per attempt (every key had one attempt)"
	assert_eq 0 "$(ev count "$f" "${key[@]}" aggregated:=true)" "aggregated lines"
	finish
}

# LOGDIR on a small full tmpfs: denies stay EPERM, the daemon lives, the
# lines that could not be written are counted and reported with loss/log_write
# once writing works again, and are never written late.
case_disk_full() {
	policy_acme '[{"to": "10.20.0.5", "proto": "tcp", "ports": ["80"]}]'
	cg_new acme
	mount_small_tmpfs "$LOGS" 64k
	start
	local acme="$CASE_CG/acme" f="$LOGS/acme.jsonl" h="$LOGS/host.jsonl" k=5 p
	local enospc="No space left on device"

	dd if=/dev/zero of="$LOGS/fill" bs=4096 >/dev/null 2>&1
	[ "$(stat -f -c %a "$LOGS")" = 0 ] || fail_now "the tmpfs is not full: $(df "$LOGS" | tail -n 1)"
	for p in $(seq 7001 $((7000 + k))); do
		probe_pid EPERM "$acme" tcp-connect 10.1.2.3 "$p"
	done
	bh_alive || fail_now "bulkhead run died on a full disk: $(tail -n 3 "$CASE_DIR/bulkhead.err" | tr '\n' ' ')"
	# host.jsonl still has room in its last page: the writer reports there
	# as soon as the partner file's writes failed
	assert_count_sum 10 "$k" "lines lost while the disk was full (host.jsonl loss/log_write)" \
		"$h" type=loss what=log_write
	assert_event "the loss says why" "$h" type=loss what=log_write error="$enospc"
	assert_eq 0 "$(stat -c %s "$f" 2>/dev/null || echo 0)" "acme.jsonl got nothing while the disk was full"
	rm -f "$LOGS/fill"
	probe_pid EPERM "$acme" tcp-connect 10.1.2.3 7100
	assert_event "the next acme line arrives once there is room" "$f" type=connect dport:=7100
	assert_event "acme.jsonl starts with its own loss line" "$f" _line=1 v:=1 type=loss \
		what=log_write partner=acme count:="$k" error="$enospc"
	assert_event_n 0 "lost lines are never written late" "$f" type=connect dport\<7100
	assert_event_n 1 "acme.jsonl: the loss line, then the new event" "$f" _line=2 type=connect dport:=7100
	finish
}

# logrotate: lines go to the renamed file until SIGHUP, then to new files;
# lifecycle start, reload and stop lines in host.jsonl.
case_log_rotate() {
	policy_acme '[{"to": "10.20.0.5", "proto": "tcp", "ports": ["80"]}]'
	cg_new acme
	start
	local acme="$CASE_CG/acme" f="$LOGS/acme.jsonl" h="$LOGS/host.jsonl" dpid=$BH_DAEMON_PID

	assert_event "lifecycle start" "$h" v:=1 type=lifecycle event=start pid:="$dpid" \
		pin_dir="$PINDIR" policy="$POLICY" "ts@$T_START..$(( $(bh_now_us) + 100000 ))"
	probe_pid EPERM "$acme" tcp-connect 10.1.2.3 1001
	assert_event "first event" "$f" type=connect dport:=1001
	mv "$f" "$f.1"
	mv "$h" "$h.1"
	probe_pid EPERM "$acme" tcp-connect 10.1.2.3 1002
	assert_event "before SIGHUP, lines go on into the renamed file" "$f.1" type=connect dport:=1002
	kill -HUP "$dpid"
	assert_event "the new host.jsonl starts with lifecycle reload" "$h" _line=1 v:=1 \
		type=lifecycle event=reload pid:="$dpid"
	probe_pid EPERM "$acme" tcp-connect 10.1.2.3 1003
	assert_event "after SIGHUP, a new acme.jsonl" "$f" _line=1 type=connect dport:=1003
	assert_no_event "the renamed file gets nothing new" "$f.1" dport:=1003
	assert_event_n 2 "the renamed file kept both earlier events" "$f.1" type=connect
	bh_stop
	assert_eq 0 "$?" "bulkhead run exit status after SIGTERM"
	assert_event "host.jsonl ends with lifecycle stop" "$h" _last=true v:=1 type=lifecycle \
		event=stop pid:="$dpid" pin_dir="$PINDIR"
	assert_logs_valid
}

# The log directory removed under the daemon: it lives, enforcement holds,
# lines are counted as lost, SIGHUP recreates the directory.
case_log_dir_removed() {
	policy_acme '[{"to": "10.20.0.5", "proto": "tcp", "ports": ["80"]}]'
	srv_start echo 80
	cg_new acme
	start
	local acme="$CASE_CG/acme" f="$LOGS/acme.jsonl" h="$LOGS/host.jsonl" dpid=$BH_DAEMON_PID

	probe_pid EPERM "$acme" tcp-connect 10.1.2.3 2001
	assert_event "first event" "$f" type=connect dport:=2001
	rm -rf "$LOGS"
	probe_pid EPERM "$acme" tcp-connect 10.1.2.3 2002
	# the writer notices the deleted file before writing and lets go of it
	wait_until 5 daemon_lacks_open "$f" || fail "the daemon still holds the deleted acme.jsonl"
	bh_alive || fail_now "bulkhead run died when its log directory was removed"
	[ ! -e "$LOGS" ] || fail "the log directory came back before SIGHUP"
	kill -HUP "$dpid"
	wait_until 5 test -f "$h" || fail_now "SIGHUP did not recreate $h"
	# the new host.jsonl starts with the reload, or with the pending loss
	# report ("before the next line") and then the reload
	assert_event "host.jsonl reports the lost lines" "$h" _line=1 type=loss what=log_write \
		count\>=1 error="No such file or directory"
	assert_event "then lifecycle reload" "$h" _line=2 type=lifecycle event=reload pid:="$dpid"
	probe_pid EPERM "$acme" tcp-connect 10.1.2.3 2003
	assert_event "events flow again" "$f" type=connect dport:=2003
	assert_event "acme.jsonl reports its own lost line first" "$f" _line=1 type=loss \
		what=log_write partner=acme count:=1 error="No such file or directory"
	assert_event "then the new event" "$f" _line=2 type=connect dport:=2003
	assert_no_event "the lost line is never written late" "$f" dport:=2002
	probe_pid ok "$acme" tcp-connect 10.20.0.5 80
	assert_event "granted traffic still flows, and is logged" "$f" type=flow phase=new dport:=80
	finish
}

# Allowed traffic: flow summaries every --flow-interval with bytes both ways.
case_flow_summary() {
	local payload
	payload=$(head -c 3000 /dev/zero | tr '\0' x)
	policy_acme '[{"id": "echo", "to": "10.20.0.5", "proto": "tcp", "ports": ["9000"], "purpose": "echo"}]'
	srv_start echo 9000
	cg_new acme
	start --flow-interval 1
	local acme="$CASE_CG/acme" f="$LOGS/acme.jsonl" tx rx n
	local key=(type=flow phase=summary partner=acme dst=10.20.0.5 dport:=9000 proto=tcp)

	probe_pid ok "$acme" tcp-connect 10.20.0.5 9000 "$payload"
	assert_event "flow/new" "$f" type=flow phase=new dst=10.20.0.5 dport:=9000 pid:="$RUN_PID"
	# the payload went out and came back (echo): both directions add up to it
	both_ways() {
		tx=$(ev sum tx_bytes "$f" "${key[@]}" | cut -d' ' -f1)
		rx=$(ev sum rx_bytes "$f" "${key[@]}" | cut -d' ' -f1)
		[ "$tx" -ge 3000 ] && [ "$rx" -ge 3000 ]
	}
	wait_until 10 both_ways ||
		fail "flow summaries never covered the 3000-byte echo: tx $tx, rx $rx bytes"
	bh_log "figures: summaries tx $tx bytes, rx $rx bytes for a 3000-byte echo"
	assert_event "a summary with bytes both ways" "$f" v:=1 "${key[@]}" verdict=allow \
		reason=granted grant.id=acme/echo grant.purpose=echo hook=egress interval:=1 \
		tx_bytes\>0 tx_packets\>0 rx_bytes\>0 rx_packets\>0 total_tx_bytes\>0 \
		total_rx_bytes\>0 count:=1 -pid -cookie "ts@$T0..$(( $(bh_now_us) + 100000 ))"
	finish
	# sums_are_totals WHEN: the summaries' tx/rx bytes add up to the last totals
	sums_are_totals() {
		read -r tx n < <(ev sum tx_bytes "$f" "${key[@]}")
		read -r rx _ < <(ev sum rx_bytes "$f" "${key[@]}")
		bh_log "figures: $n summary lines $1"
		assert_eq "$tx" "$(ev last total_tx_bytes "$f" "${key[@]}")" "$1: sum of tx_bytes = last total_tx_bytes"
		assert_eq "$rx" "$(ev last total_rx_bytes "$f" "${key[@]}")" "$1: sum of rx_bytes = last total_rx_bytes"
	}
	sums_are_totals "one daemon"
	# after a restart the summaries go on from what was reported: the second
	# echo is counted once, the first not again
	start --flow-interval 1
	local tx0=$tx
	probe_pid ok "$acme" tcp-connect 10.20.0.5 9000 "$payload"
	grown() { tx=$(ev sum tx_bytes "$f" "${key[@]}" | cut -d' ' -f1); [ "$tx" -ge $((tx0 + 3000)) ]; }
	wait_until 10 grown || fail "no summary after the restart covered the second echo: tx $tx bytes"
	finish
	sums_are_totals "across a restart"
}

# `bulkhead down` with the daemon running: the deny windows still open are
# written before the maps go, so the counts still add up to the attempts.
case_down_flushes_windows() {
	local n=500
	policy_acme '[{"to": "10.20.0.5", "proto": "tcp", "ports": ["80"]}]'
	cg_new acme
	start
	local acme="$CASE_CG/acme" f="$LOGS/acme.jsonl" out st
	local key=(type=connect partner=acme verdict=deny reason=no_grant proto=tcp dst=10.1.2.3 dport:=5432)

	probe_pid EPERM "$acme" connect-loop 10.1.2.3 5432 "$n"
	out=$("$BULKHEAD" down --pin-dir "$PINDIR" 2>&1)
	st=$?
	bh_log "$out"
	assert_eq 0 "$st" "bulkhead down exit status with the daemon running"
	bh_wait_exit 5 || fail_now "the daemon still runs 5 s after bulkhead down"
	assert_eq 0 "$BH_DAEMON_STATUS" "daemon exit status after bulkhead down"
	assert_eq "$n" "$(ev sum count "$f" "${key[@]}" | cut -d' ' -f1)" \
		"sum of count over the deny lines written before down = $n attempts"
	assert_logs_valid

	# with no daemon running, `down` cannot write them: it says how many go
	start
	probe_pid EPERM "$acme" connect-loop 10.1.2.3 5433 "$n"
	finish
	local logged gone
	key=(type=connect partner=acme verdict=deny reason=no_grant proto=tcp dst=10.1.2.3 dport:=5433)
	logged=$(ev sum count "$f" "${key[@]}" | cut -d' ' -f1)
	out=$("$BULKHEAD" down --pin-dir "$PINDIR" 2>&1)
	assert_eq 0 "$?" "bulkhead down exit status with no daemon"
	bh_log "$out"
	gone=$(sed -nE 's/.* ([0-9]+) denied attempts counted after the daemon stopped.*/\1/p' <<<"$out")
	assert_eq "$n" "$(( ${logged:-0} + ${gone:-0} ))" \
		"attempts in log lines ($logged) + those down reports unwritten ($gone)"
}

# A socket that sent and then stays open and idle: its traffic still reaches
# the summaries (the daemon folds the per-socket counters of every partner
# namespace before each one), exactly: 25 datagrams of 100 bytes are 25
# packets of 128 bytes (IPv4 and UDP headers included).
case_flow_idle_socket() {
	policy_acme '[{"to": "10.20.0.5", "proto": "udp", "ports": ["9001"]}]'
	srv_start udp 9001 "$CASE_DIR/udp.out"
	cg_new acme
	start --flow-interval 1
	local acme="$CASE_CG/acme" f="$LOGS/acme.jsonl" holder txp txb n
	local key=(type=flow phase=summary partner=acme dst=10.20.0.5 dport:=9001 proto=udp)

	in_cg_bg "$acme" "$BH_PROBE" udp-hold 10.20.0.5 9001 25 100 >"$CASE_DIR/hold.out" \
		2>>"$CASE_DIR/probe.err"
	holder=$BH_BG_PID
	wait_until 5 grep -qx ok "$CASE_DIR/hold.out" ||
		fail_now "udp-hold did not send: $(cat "$CASE_DIR/hold.out" "$CASE_DIR/probe.err")"
	sent_all() {
		read -r txp n < <(ev sum tx_packets "$f" "${key[@]}")
		[ "${txp:-0}" -ge 25 ]
	}
	wait_until 10 sent_all || fail "summaries never covered the 25 datagrams: ${txp:-0} packets"
	bh_pid_alive "$holder" && bh_log "ok: the socket is still open and idle" ||
		fail "udp-hold exited: the fold came from a close, not from the daemon"
	assert_eq 25 "$txp" "tx_packets of the idle socket, summed over $n summaries"
	assert_eq 3200 "$(ev sum tx_bytes "$f" "${key[@]}" | cut -d' ' -f1)" \
		"tx_bytes of the idle socket (25 x 128)"
	kill "$holder" 2>/dev/null
	wait "$holder" 2>/dev/null
	finish
}

# `bulkhead status --json` from the pinned maps after the daemon stopped: the
# 8 cgroup programs at their attach point (the parent of acme, which is
# outside partner_root: docs/policy.md "Binding") and the 2 tracepoints of
# binding at creation, the partner's counters, events.
case_status_after_stop() {
	policy_acme '[{"to": "10.20.0.5", "proto": "tcp", "ports": ["80"]}]'
	srv_start echo 80
	cg_new acme
	start
	local acme="$CASE_CG/acme" st="$CASE_DIR/status.json" p progs

	for p in 3001 3002 3003; do
		assert_probe EPERM "$acme" tcp-connect 10.1.2.3 "$p"
	done
	assert_probe ok "$acme" tcp-connect 10.20.0.5 80
	assert_probe ok "$acme" tcp-connect 10.20.0.5 80
	assert_event_n 4 "the events are written" "$LOGS/acme.jsonl" partner=acme
	finish
	status_json "$st" || return 1
	assert_eq false "$(ev jget "$st" daemon_running)" "status: daemon_running"
	assert_eq 10 "$(ev jget "$st" 'programs.#')" "status: programs"
	progs=$(python3 - "$st" "$CASE_CG_REL" <<'EOF'
import json, sys
st = json.load(open(sys.argv[1]))
for l in st["programs"]:
    cg = (l.get("cgroup") or "").lstrip("/")
    print(l.get("program"), l.get("attach_type"), "at-partner-parent" if cg == sys.argv[2] else "at " + repr(l.get("cgroup")))
EOF
)
	assert_eq "bh_cg_mkdir tp_btf at None
bh_cg_rmdir tp_btf at None
bh_connect4 cgroup_inet4_connect at-partner-parent
bh_connect6 cgroup_inet6_connect at-partner-parent
bh_egress cgroup_inet_egress at-partner-parent
bh_ingress cgroup_inet_ingress at-partner-parent
bh_sendmsg4 cgroup_udp4_sendmsg at-partner-parent
bh_sendmsg6 cgroup_udp6_sendmsg at-partner-parent
bh_sock_create cgroup_inet_sock_create at-partner-parent
bh_sock_release cgroup_inet_sock_release at-partner-parent" "$(printf '%s\n' "$progs" | sort)" "status: programs and attach points"
	assert_eq 3 "$(ev jget "$st" 'partners.[partner=acme].verdicts.deny')" "status: acme deny"
	assert_eq 2 "$(ev jget "$st" 'partners.[partner=acme].verdicts.allow')" "status: acme allow (one per connect)"
	assert_eq 0 "$(ev jget "$st" 'partners.[partner=acme].verdicts.audit')" "status: acme audit"
	assert_eq 3 "$(ev jget "$st" 'partners.[partner=acme].reasons.no_grant')" "status: acme no_grant"
	assert_eq 2 "$(ev jget "$st" 'partners.[partner=acme].reasons.granted')" "status: acme granted"
	assert_eq 4 "$(ev jget "$st" events.emitted)" "status: events emitted (3 denies, 1 flow/new)"
	assert_eq 0 "$(ev jget "$st" events.lost_ring_full)" "status: events lost"
	"$BULKHEAD" status --pin-dir "$PINDIR" >"$CASE_DIR/status.txt" 2>&1
	assert_eq 0 "$?" "bulkhead status (text) exit status with the daemon down"
	assert_contains "not running" "$(cat "$CASE_DIR/status.txt")" "bulkhead status text"
}

# -------------------------------------------------------------- the table

tcase events_allow_flow_new    case_allow_flow_new
tcase events_deny              case_deny_events
tcase events_audit             case_audit_events
tcase events_never_alert       case_never_alert
tcase events_unknown_partner   case_unknown_partner
tcase events_partner_names     case_partner_names_to_host
tcase events_stdout_stream     case_stdout_stream
tcase events_hostile_comm      case_hostile_comm
tcase events_flood_100k        case_flood
tcase events_flood_parallel    case_flood_parallel
tcase events_ring_loss         case_ring_loss
tcase events_flood_map_full    case_flood_map_full
tcase events_disk_full         case_disk_full
tcase events_log_rotate        case_log_rotate
tcase events_log_dir_removed   case_log_dir_removed
tcase events_flow_summary      case_flow_summary
tcase events_flow_idle_socket  case_flow_idle_socket
tcase events_down_flushes_windows case_down_flushes_windows
tcase events_status_after_stop case_status_after_stop

bh_finish
