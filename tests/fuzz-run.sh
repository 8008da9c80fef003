#!/usr/bin/env bash
# Each libFuzzer target of `make fuzz` (DIR/fuzz_*, or only the one named) over its seed corpus
# fuzz/corpus/<target> (read only: new inputs go to a scratch directory that
# is removed) plus FUZZ_RUNS new inputs (a fixed -runs=, not a time limit).
# One "N passed, N failed" line per target, as tests/run-all.sh reads them.
set -u
cd "$(dirname "$0")/.."
dir=${1:-build/fuzz/fuzz}
only=${2:-}
runs=${FUZZ_RUNS:-20000}
rc=0
for bin in "$dir"/fuzz_*; do
	[ -x "$bin" ] || continue
	t=$(basename "$bin")
	[ -z "$only" ] || [ "$t" = "$only" ] || continue
	scratch=$(mktemp -d)
	log="$scratch/log"
	if "$bin" -runs="$runs" -seed=1 -print_final_stats=1 -artifact_prefix="$scratch/" \
		"$scratch" "fuzz/corpus/$t" >"$log" 2>&1; then
		echo "$t: $(grep -E '^#[0-9]+.*DONE' "$log" | tail -1)"
		echo "1 passed, 0 failed"
	else
		tail -n 40 "$log"
		echo "$t: FAILED (reproducer kept in ${scratch}; add it to fuzz/corpus/$t once fixed)"
		echo "0 passed, 1 failed"
		rc=1
		continue
	fi
	rm -rf "$scratch"
done
exit $rc
