#!/usr/bin/env bash
# End-to-end test of `make demo` (issue 3): it leaves nothing behind, whether it
# runs to the end or is interrupted by SIGINT at any point (as Ctrl-C sends it:
# to the whole process group of make, the demo script and its children),
# including while it cleans up, and when interrupted twice.
#
# Each run is compared before and after on `ip netns list`, the cgroup2 tree
# (mount point from /proc/self/mountinfo), the bpffs tree (`ls -R
# /sys/fs/bpf`), `ip link` of the host namespace and /tmp, and no process of
# the run may be left in its cgroup. Other engineers' tests run on the same
# machine at the same time, so a difference counts as a leak when it carries
# the demo's tag, bhdemo<PID> (every name tools/demo.sh creates has it), and
# PID is no longer a running demo.
#
# The sweep: demo_runs_clean runs the demo to the end and records how long it
# takes (T), the sections it prints ("== ...") and how long its cleanup
# lasts (C, from its last section, "cleaning up", to the exit). Then:
#   - BH_DEMO_POINTS cases (default 8) send SIGINT at instants spread evenly
#     over [0, T + 200 ms] after `make demo` started;
#   - one case per section sends it the moment the demo printed the section;
#   - BH_DEMO_CLEANUP_POINTS cases (5) send it at instants spread over [0, C]
#     after the demo printed "cleaning up" (its own cleanup at the end);
#   - BH_DEMO_TWICE cases (4) send one at instants spread over [0, T] and a
#     second one at instants spread over [0, C] after the demo printed
#     "interrupted: cleaning up" (the cleanup the first one started).
# The run's duration varies a lot on a busy machine, so all but the first
# kind are anchored on what the demo printed, not on the clock. The last case
# checks that both kinds of cleanup were hit.

# Case functions are only called through tcase.
# shellcheck disable=SC2317
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

DEMO_TIMING=$BH_TMP/demo.timing	# "T C" in ms, from demo_runs_clean
DEMO_SECTIONS=$BH_TMP/demo.sections	# the sections it printed, in order
DEMO_PHASES=$BH_TMP/demo.phases	# one line per interrupted run: case, sections hit
DEMO_SECTION=0			# per case: send SIGINT DEMO_AT ms after the
DEMO_AT=0			# demo printed its section number DEMO_SECTION (0: start)
DEMO_AGAIN=""			# and again DEMO_AGAIN ms after "interrupted: ...", if set
DEMO_END_CLEANUP="cleaning up (cgroups, namespaces, pins)"
DEMO_SIG_CLEANUP="interrupted: cleaning up"

# ------------------------------------------------------------------ helpers

demo_prereq() {
	command -v make >/dev/null || skip "no make"
}

# The state a demo run could leave behind, one sorted line per item.
demo_state() {
	{
		ip netns list 2>/dev/null | awk '{ print "netns " $1 }'
		find "$BH_CG2" -type d 2>/dev/null | sed 's/^/cgroup /'
		# shellcheck disable=SC2012  # ls -R is the listing compared
		ls -R /sys/fs/bpf 2>/dev/null |
			awk '/:$/ { dir = substr($0, 1, length($0) - 1); next } NF { print "bpffs " dir "/" $0 }'
		ip -o link show 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2); print "link " $2 }'
		find /tmp -mindepth 1 -maxdepth 1 -printf 'tmp %f\n' 2>/dev/null
	} | LC_ALL=C sort -u
}

# demo_running PID: a demo script with that pid is running.
demo_running() {
	bh_pid_alive "$1" && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q 'demo\.sh'
}

# demo_leaks BEFORE AFTER: print what appeared since BEFORE and belongs to a
# demo that is no longer running.
demo_leaks() {
	local line
	LC_ALL=C comm -13 "$1" "$2" | while IFS= read -r line; do
		[[ $line =~ bhdemo([0-9]+) ]] || continue
		demo_running "${BASH_REMATCH[1]}" || printf '%s\n' "$line"
	done
}

# demo_start: `make demo` as a user starts it: in its own process group
# (pgid DEMO_PID, so one kill reaches all of it, as Ctrl-C would), with
# SIGINT's default disposition (the case runs as a background job, which
# ignores SIGINT, and so would make and the demo), in a make of its own. It
# runs in the case's cgroup demo/, so the case cleanup stops it if the test
# itself is interrupted.
demo_start() {
	mkdir -p "$CASE_CG/demo" || fail_now "cannot create $CASE_CG/demo"
	demo_state >"$CASE_DIR/before"
	set -m
	# shellcheck disable=SC2016
	env --default-signal=INT -u MAKEFLAGS -u MFLAGS -u MAKELEVEL sh -c 'echo $$ >"$1/cgroup.procs" || exit 125; shift; exec "$@"' \
		demo "$CASE_CG/demo" make -C "$BH_SRC_ROOT" --no-print-directory demo \
		</dev/null >"$CASE_DIR/demo.out" 2>&1 &
	DEMO_PID=$!
	set +m
	DEMO_T0=$(bh_now_us)
}

demo_ms() { echo $(( ($(bh_now_us) - DEMO_T0) / 1000 )); }

# The sections the demo printed so far ("== ..." lines), one a line.
demo_sections() {
	grep -a '== ' "$CASE_DIR/demo.out" 2>/dev/null | sed 's/.*== //; s/\x1b\[0m$//'
}

# The section the demo is in.
demo_phase() {
	local p
	p=$(demo_sections | tail -n 1)
	echo "${p:-(not started)}"
}

# The polling below uses builtins only (no fork), so that it sees a section
# within a few milliseconds of its printing.

# demo_alive: make demo still runs (not even a zombie).
demo_alive() {
	local st
	read -r st <"/proc/$DEMO_PID/stat" 2>/dev/null || return 1
	st=${st##*) }
	[[ $st != [ZX]* ]]
}

# demo_reached N|TEXT: the demo printed N sections, or the section TEXT.
demo_reached() {
	local lines l n=0
	[ "$1" != 0 ] || return 0
	mapfile -t lines <"$CASE_DIR/demo.out" 2>/dev/null
	for l in "${lines[@]}"; do
		[[ $l == *"== "* ]] || continue
		n=$((n + 1))
		[[ $l != *"== $1"* ]] || return 0
		[[ ! $1 =~ ^[0-9]+$ ]] || [ "$n" -lt "$1" ] || return 0
	done
	return 1
}

# demo_wait_for N|TEXT: wait until demo_reached N|TEXT (or the demo exited).
demo_wait_for() {
	until demo_reached "$1" || ! demo_alive; do
		sleep 0.002
	done
}

# demo_sleep MS: sleep MS ms (or until the demo exits).
demo_sleep() {
	local t=${EPOCHREALTIME/./} end
	end=$(( 10#$t + $1 * 1000 ))
	while t=${EPOCHREALTIME/./}; [ $((10#$t)) -lt "$end" ] && demo_alive; do
		sleep 0.002
	done
}

# demo_sigint: SIGINT to the demo's process group; returns 1 if it was gone.
demo_sigint() {
	demo_alive && kill -INT -- "-$DEMO_PID" 2>/dev/null
}

# demo_finish SECONDS: wait for make to exit (status in DEMO_STATUS), then
# assert that nothing of the run is left.
demo_finish() {
	local leaks left
	if ! wait_until "$1" bh_pid_dead "$DEMO_PID"; then
		kill -TERM -- "-$DEMO_PID" 2>/dev/null
		fail "make demo still running $1 s after it was started or interrupted: $(tail -n 3 "$CASE_DIR/demo.out" | tr '\n' ' ')"
		wait_until 20 bh_pid_dead "$DEMO_PID"
	fi
	wait "$DEMO_PID"
	DEMO_STATUS=$?
	bh_log "make demo exited with status $DEMO_STATUS after $(demo_ms) ms"
	demo_state >"$CASE_DIR/after"
	leaks=$(demo_leaks "$CASE_DIR/before" "$CASE_DIR/after")
	if [ -z "$leaks" ]; then
		bh_log "ok: nothing left (netns, cgroups, bpffs, links, /tmp)"
	else
		fail "make demo left behind: $(printf '%s\n' "$leaks" | head -n 20 | tr '\n' ';')"
	fi
	left=$(bh_cg_pids "$CASE_CG/demo" | tr '\n' ' ')
	assert_eq "" "$left" "processes left in the demo's cgroup"
}

# ------------------------------------------------------------------ cases

case_clean() {
	local t tc=""
	demo_prereq
	demo_start
	while demo_alive; do
		[ -n "$tc" ] || ! demo_reached "$DEMO_END_CLEANUP" || tc=$(demo_ms)
		sleep 0.002
	done
	t=$(demo_ms)
	demo_finish 5
	assert_eq 0 "$DEMO_STATUS" "make demo exit status"
	assert_file_has "$CASE_DIR/demo.out" "billing api: ok" "the granted request got its answer" 0
	assert_file_has "$CASE_DIR/demo.out" '"reason":"no_grant"' "the lateral move was denied (event)" 0
	assert_file_has "$CASE_DIR/demo.out" '"reason":"never"' "the metadata service was denied (event)" 0
	assert_file_lacks "$CASE_DIR/demo.out" "you should not see this" "the database answered nothing"
	[ -n "$tc" ] || fail_now "the demo never printed '$DEMO_END_CLEANUP'"
	bh_log "demo: $t ms, its cleanup $((t - tc)) ms"
	echo "$t $((t - tc))" >"$DEMO_TIMING"
	demo_sections >"$DEMO_SECTIONS"
}

case_sigint() {
	local hit
	demo_prereq
	demo_start
	demo_wait_for "$DEMO_SECTION"
	demo_sleep "$DEMO_AT"
	hit="in: $(demo_phase)"
	if demo_sigint; then
		bh_log "SIGINT at $(demo_ms) ms, $hit"
		if [ -n "$DEMO_AGAIN" ]; then
			demo_wait_for "$DEMO_SIG_CLEANUP"
			demo_sleep "$DEMO_AGAIN"
			if demo_sigint; then
				hit="$hit; then in: $(demo_phase)"
				bh_log "second SIGINT at $(demo_ms) ms, in: $(demo_phase)"
			fi
		fi
		echo "$CASE_NAME $hit" >>"$DEMO_PHASES"
	else
		bh_log "the demo had already exited at $(demo_ms) ms"
	fi
	demo_finish 60
}

case_sweep_hit_cleanup() {
	[ -s "$DEMO_PHASES" ] || fail_now "no interrupted run recorded its phase"
	bh_log "sections hit: $(cut -d' ' -f2- "$DEMO_PHASES" | sort | uniq -c | tr '\n' ';')"
	grep -qF "in: $DEMO_END_CLEANUP" "$DEMO_PHASES" ||
		fail "no SIGINT landed while the demo cleaned up at its end"
	grep -qF "then in: $DEMO_SIG_CLEANUP" "$DEMO_PHASES" ||
		fail "no second SIGINT landed while the demo cleaned up after a first one"
}

# -------------------------------------------------------------- the table

tcase demo_runs_clean case_clean

T=3000 C=300
[ ! -s "$DEMO_TIMING" ] || read -r T C <"$DEMO_TIMING"
n=${BH_DEMO_POINTS:-8}
for i in $(seq 0 $((n - 1))); do
	DEMO_AT=$(( (2 * i + 1) * (T + 200) / (2 * n) ))
	tcase "demo_sigint_at_${DEMO_AT}ms" case_sigint
done
DEMO_AT=0
sections=()
[ ! -s "$DEMO_SECTIONS" ] || mapfile -t sections <"$DEMO_SECTIONS"
for i in "${!sections[@]}"; do
	DEMO_SECTION=$((i + 1))
	name=${sections[i]%%[:(]*}
	name=$(printf '%s' "$name" | tr -cs 'A-Za-z0-9' '_')
	tcase "demo_sigint_at_section_${DEMO_SECTION}_${name%_}" case_sigint
done
DEMO_SECTION=${#sections[@]}	# the last one: cleaning up
n=${BH_DEMO_CLEANUP_POINTS:-5}
for i in $(seq 0 $((n - 1))); do
	DEMO_AT=$(( i * C / n ))
	tcase "demo_sigint_${DEMO_AT}ms_into_its_cleanup" case_sigint
done
# Twice: the first SIGINT once the daemon runs (so the cleanup has the most
# to undo: daemon, pins, namespaces, cgroups), the second at points of the
# cleanup the first one started. Placed by section, not by time, so a slow
# machine (a sanitizer build) shifts nothing.
DEMO_SECTION=$(( ${#sections[@]} / 2 ))
for i in "${!sections[@]}"; do
	[[ ${sections[i]} != *"bulkhead run"* ]] || DEMO_SECTION=$((i + 2))
done
DEMO_AT=0
n=${BH_DEMO_TWICE:-4}
for i in $(seq 0 $((n - 1))); do
	DEMO_AGAIN=$(( i * C / n ))
	tcase "demo_sigint_at_section_${DEMO_SECTION}_again_${DEMO_AGAIN}ms_into_its_cleanup" case_sigint
done
DEMO_SECTION=0
DEMO_AGAIN=""
tcase demo_sweep_hit_cleanup case_sweep_hit_cleanup bin

bh_finish
