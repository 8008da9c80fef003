#!/usr/bin/env bash
# `make test`: unit tests (no root), then kernel and end-to-end tests (root,
# real kernel), then the packaging tests (tests/pkg/test_pkg.sh: root, the apt mirror).
# Each suite prints "N passed, N failed"; this adds them up into one last line.
set -u
cd "$(dirname "$0")/.."
total_pass=0 total_fail=0 total_skip=0 rc=0
run_suite() {
	local name=$1; shift
	local out status log
	echo "== $name"
	log=$(mktemp)
	"$@" 2>&1 | tee "$log"
	status=${PIPESTATUS[0]}
	out=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
	rm -f "$log"
	if [ -z "$out" ]; then
		echo "$name: no summary line (exit $status): counted as 1 failure" >&2
		total_fail=$((total_fail + 1)); rc=1; return
	fi
	local p f s
	p=$(sed -E 's/^([0-9]+) passed.*/\1/' <<<"$out")
	f=$(sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/' <<<"$out")
	s=$(sed -nE 's/.*, ([0-9]+) skipped.*/\1/p' <<<"$out")
	total_pass=$((total_pass + p)); total_fail=$((total_fail + f)); total_skip=$((total_skip + ${s:-0}))
	[ "$f" -eq 0 ] && [ "$status" -eq 0 ] || rc=1
}
# The C test binaries: tests/unit/X.c is BIN/X, tests/kernel/X.c is BIN/kernel/X.
bin=${BH_TEST_BIN_DIR:-build}
run_suite "unit: policy parser and compiler" "$bin/test_policy"
run_suite "unit: criticality tiers and grant linter" "$bin/test_tiers"
run_suite "unit: event JSON and writer" "$bin/test_events"
run_suite "unit: trace log parser, merge and filters" "$bin/test_trace"
run_suite "unit: regressions of fuzzing findings" "$bin/test_fuzzfix"
run_suite "unit: make deps installs every command the tests call" tests/unit/deps_check.sh
# libFuzzer targets (make fuzz): each over its corpus plus FUZZ_RUNS new inputs
fuzzdir=${BH_FUZZ_BIN_DIR:-build/fuzz/fuzz}
for t in "$fuzzdir"/fuzz_*; do
	[ -x "$t" ] && run_suite "fuzz: $(basename "$t")" tests/fuzz-run.sh "$fuzzdir" "$(basename "$t")"
done
run_suite "kernel: socket destroy (sock_diag)" "$bin/kernel/test_sockkill"
run_suite "end-to-end: kernel datapath" tests/e2e/run.sh
run_suite "packaging: deb, Debian 12 root, unit, man pages, Ansible role" tests/pkg/test_pkg.sh
if [ "$total_skip" -gt 0 ]; then
	echo "$total_pass passed, $total_fail failed, $total_skip skipped"
else
	echo "$total_pass passed, $total_fail failed"
fi
exit $rc
