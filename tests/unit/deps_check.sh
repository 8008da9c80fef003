#!/usr/bin/env bash
# Unit check (no root, no network): every external command that tests/, tools/,
# bench/ and the Makefile call comes from a package `make deps` installs, so a
# fresh Debian 12 root (debootstrap --variant=minbase) runs `make test` after
# `make deps`. A command passes when dpkg says its file belongs to a package
# of DEPS_PKGS (Makefile), to one they depend on (Depends/Pre-Depends, through
# any depth), or to a package of priority required (all in minbase).
#
#   tests/unit/deps_check.sh [DEPS_PKGS...]   (default: read from the Makefile)
#
# Shell builtins (kill, echo, ...) are not listed. One check per command; ends with "N passed, N failed". Add a command to
# CMDS when a script starts calling it (git: tests/pkg/test_upgrade.sh builds
# an earlier commit with `git archive`). Not listed on purpose: apt-get,
# dpkg-query (tools/deps.sh itself; in every Debian root).
set -u
cd "$(dirname "$0")/../.." || exit 1

CMDS="awk bash bpftool cat cc chmod clang cp curl date dd df flock gcc getconf git
grep groupadd groupdel id install ip iperf3 jq ls make mkdir mktemp mount mv ncat nft nproc
nsenter pkg-config promtool ps python3 readlink rm rmdir sed setpriv sh sleep socat ss
stat sysctl tail taskset tc tee timeout touch tr umount uname useradd userdel wc"

if [ $# -gt 0 ]; then
	deps="$*"
else
	deps=$(env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -p -n -f Makefile 2>/dev/null |
		sed -n 's/^DEPS_PKGS := //p')
fi
if [ -z "$deps" ]; then
	echo "deps_check: no DEPS_PKGS found in the Makefile" >&2
	echo "0 passed, 1 failed"
	exit 1
fi

# The installed packages DEPS_PKGS pull in (themselves included), one a line.
# shellcheck disable=SC2086 # $deps: one word a package
closure() {
	dpkg-query -W -f='${Package}\t${Pre-Depends}, ${Depends}\n' | python3 -c '
import re, sys
deps = {}
for line in sys.stdin:
    name, _, rest = line.rstrip("\n").partition("\t")
    alts = [a for a in rest.split(",") if a.strip()]
    deps[name] = [[re.sub(r"[ :(].*", "", x.strip()) for x in a.split("|")] for a in alts]
seen, todo = set(), sys.argv[1:]
while todo:
    p = todo.pop()
    if p in seen or p not in deps:
        continue
    seen.add(p)
    for alt in deps[p]:
        todo.extend(x for x in alt if x in deps)
print("\n".join(sorted(seen)))
' $deps
}

# Every file a command may be (Debian's dirs only, not PATH: no local shims),
# as "CMD PATH" lines, then "PATH PACKAGE" for those dpkg knows (diversions
# skipped), all in one dpkg-query call.
candidates() {
	local c d f
	for c in $CMDS; do
		for d in /usr/sbin /usr/bin /sbin /bin; do
			f=$d/$c
			[ -e "$f" ] || continue
			echo "$c $f"
			echo "$c $(readlink -f "$f")"
		done
	done
}

cands=$(candidates)
owners=$(cut -d' ' -f2 <<<"$cands" | sort -u | xargs -r dpkg-query -S 2>/dev/null |
	grep -v '^diversion by' | sed -E 's/^([^:]*): (.*)$/\2 \1/; s/,.*//')
pulled=$(closure)
npass=0 nfail=0
for c in $CMDS; do
	pkg=$({ printf '%s\n--\n' "$owners"; awk -v c="$c" '$1 == c { print $2 }' <<<"$cands"; } |
		awk '$0 == "--" { files = 1; next }
		     !files { own[$1] = $2; next }
		     ($1 in own) { print own[$1]; exit }')
	if [ -z "$pkg" ]; then
		echo "FAIL deps_check: $c: not installed (or not from a package); run 'make deps'" >&2
		nfail=$((nfail + 1))
	elif grep -qxF "$pkg" <<<"$pulled" ||
	     [ "$(dpkg-query -W -f='${Priority}' "$pkg" 2>/dev/null)" = required ]; then
		npass=$((npass + 1))
	else
		echo "FAIL deps_check: $c comes from $pkg, which DEPS_PKGS (Makefile) neither names nor pulls in" >&2
		nfail=$((nfail + 1))
	fi
done
echo "$npass passed, $nfail failed"
[ "$nfail" -eq 0 ]
