#!/usr/bin/env bash
# Run every tests/e2e/test_*.sh (root, real kernel; see lib.sh) and add their
# "N passed, N failed[, N skipped]" lines up into one last line of the same
# form. A file that prints no such line counts as one failure. Exit status:
# non-zero when anything failed. Environment as in lib.sh (BULKHEAD, CI, ...).
set -u
cd "$(dirname "$0")" || exit 1

pass=0 fail=0 skip=0
out=$(mktemp "${TMPDIR:-/tmp}/bh-e2e-run.XXXXXX") || exit 1
trap 'rm -f "$out"' EXIT
# Ctrl-C reaches the test files (same process group); they clean up and
# print their summaries, and this loop stops after the current one.
interrupted=0
trap 'interrupted=1' INT TERM

for t in test_*.sh; do
	[ -e "$t" ] || continue
	[ "$interrupted" = 0 ] || break
	echo "== $t"
	# tee ignores Ctrl-C so the test file can still print while it cleans up
	bash "$t" 2>&1 | (trap '' INT TERM; exec tee "$out")
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$' "$out" | tail -n 1)
	if [ -z "$line" ]; then
		echo "FAIL $t: printed no summary line"
		fail=$((fail + 1))
		continue
	fi
	read -r p _ f _ s _ <<<"${line//,/}"
	pass=$((pass + p))
	fail=$((fail + f))
	skip=$((skip + ${s:-0}))
done

if [ "$skip" -gt 0 ]; then
	echo "$pass passed, $fail failed, $skip skipped"
else
	echo "$pass passed, $fail failed"
fi
[ "$fail" -eq 0 ] && [ "$interrupted" = 0 ]
