#!/usr/bin/env bash
# Packaging tests (issue 17): `make deb` builds the package here, lintian
# passes it at error level, and it installs into a fresh Debian 12 root made
# with `debootstrap --variant=minbase bookworm` with the binary, unit, man
# pages, logrotate file, completion and a starter policy that `bulkhead
# check` accepts; `systemd-analyze verify` accepts the unit inside that root;
# the unit's `systemd-analyze security` exposure stays at or below 3.0;
# `make install` honours DESTDIR and PREFIX and keeps an existing policy;
# the man pages pass `groff -ww -z` and render with `man -l`; the Ansible
# role runs with `ansible-playbook -c local` inside the root (PID 1 is not
# systemd there: the service tasks are skipped); remove keeps the pinned
# enforcement and a tool to remove it, purge runs `bulkhead down` on it.
#
# Root; the apt mirror of /etc/apt/sources.list.d must be reachable. The
# debootstrap tarball and the downloaded packages are cached in
# $BH_PKG_CACHE (default /var/cache/bulkhead-test), so reruns are quick.
# Prints "N passed, N failed[, N skipped]"; with CI=true a case that cannot
# run fails.
set -u
cd "$(dirname "$0")/../.." || exit 1
SRC=$PWD
CACHE=${BH_PKG_CACHE:-/var/cache/bulkhead-test}
MIRROR=${BH_PKG_MIRROR:-http://deb.debian.org/debian}
WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/bh-pkgtest.XXXXXX") || exit 1
ROOT=$WORK/root
DEB=""
pass=0 fail=0 skip=0
MOUNTS=()

cleanup() {
	local i
	for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
		umount "${MOUNTS[$i]}" 2>/dev/null || umount -l "${MOUNTS[$i]}" 2>/dev/null
	done
	if ! findmnt -rno TARGET | grep -q "^$WORK"; then
		rm -rf "$WORK"
	else
		echo "test_pkg: mounts left under $WORK, not removed" >&2
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '%s\n' "$*"; }
# a case: run its function in a subshell; its failures are lines in $WORK/fail
tcase() {
	local name=$1 fn=$2
	: >"$WORK/fail"
	: >"$WORK/skip"
	log "=== $name"
	"$fn" >"$WORK/$name.log" 2>&1
	local st=$?
	if [ -s "$WORK/skip" ] && [ ! -s "$WORK/fail" ]; then
		if [ "${CI:-}" = true ]; then
			log "FAIL $name (cannot run, CI=true): $(cat "$WORK/skip")"
			fail=$((fail + 1))
		else
			log "SKIP $name: $(cat "$WORK/skip")"
			skip=$((skip + 1))
		fi
	elif [ -s "$WORK/fail" ] || [ "$st" -ne 0 ]; then
		log "FAIL $name"
		sed 's/^/    - /' "$WORK/fail"
		tail -n 15 "$WORK/$name.log" | sed 's/^/    | /'
		fail=$((fail + 1))
	else
		log "PASS $name"
		pass=$((pass + 1))
	fi
}
bad() { echo "$*" >>"$WORK/fail"; echo "FAIL: $*"; }
cannot() { echo "$*" >>"$WORK/skip"; }
ok() { echo "ok: $*"; }
check() {	# check LABEL CMD...: CMD succeeds
	local label=$1
	shift
	if "$@"; then ok "$label"; else bad "$label (exit $?: $*)"; fi
}
in_root() { chroot "$ROOT" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
	DEBIAN_FRONTEND=noninteractive "$@"; }
apt_root() { in_root apt-get -y -qq -o Dpkg::Use-Pty=0 --no-install-recommends "$@"; }

# ------------------------------------------------------------------ cases

case_deb_builds() {
	make --no-print-directory deb || { bad "make deb failed: $(tail -n 5 build/deb.log)"; return; }
	DEB=$(ls "$SRC"/build/deb/bulkhead_*.deb 2>/dev/null | head -n 1)
	[ -n "$DEB" ] || bad "no build/deb/bulkhead_*.deb"
	echo "$DEB" >"$WORK/deb"
}

case_lintian() {
	[ -n "$DEB" ] || { bad "no package"; return; }
	lintian --fail-on error --no-tag-display-limit "$DEB" >"$WORK/lintian.out" 2>&1
	local st=$?
	cat "$WORK/lintian.out"
	[ "$st" -eq 0 ] || bad "lintian found errors: $(grep '^E:' "$WORK/lintian.out" | head -n 3)"
	[ "$(grep -c '^E:' "$WORK/lintian.out")" -eq 0 ] || bad "lintian E: lines"
	ok "lintian: $(grep -c '^E:' "$WORK/lintian.out") errors, $(grep -c '^W:' "$WORK/lintian.out") warnings"
}

DEB_FILES="./usr/sbin/bulkhead ./lib/systemd/system/bulkhead.service
./usr/lib/tmpfiles.d/bulkhead.conf ./etc/logrotate.d/bulkhead
./usr/share/bash-completion/completions/bulkhead
./usr/share/man/man8/bulkhead.8.gz ./usr/share/man/man5/bulkhead-policy.5.gz
./usr/share/man/man7/bulkhead-events.7.gz
./usr/share/doc/bulkhead/examples/policy.starter.json"

case_deb_contents() {
	local f
	[ -n "$DEB" ] || { bad "no package"; return; }
	dpkg-deb -c "$DEB" | awk '{print $6}' >"$WORK/contents"
	for f in $DEB_FILES; do
		grep -qx -- "$f" "$WORK/contents" && ok "package has $f" || bad "package lacks $f"
	done
	# the policy is not a conffile: postinst puts the starter only where none is
	grep -qx -- ./etc/bulkhead/policy.json "$WORK/contents" && bad "policy.json shipped as a file"
	dpkg-deb -I "$DEB" conffiles | grep -qx /etc/logrotate.d/bulkhead || bad "logrotate file is not a conffile"
	dpkg-deb -f "$DEB" Depends | grep -q libbpf1 || bad "Depends lacks libbpf1"
}

case_unit_security() {
	local score
	[ -n "$DEB" ] || { bad "no package"; return; }
	mkdir -p "$WORK/x"
	dpkg-deb -x "$DEB" "$WORK/x"
	systemd-analyze security --offline=true --no-pager "$WORK/x/lib/systemd/system/bulkhead.service" \
		>"$WORK/security.out" 2>&1
	score=$(sed -nE 's/.*Overall exposure level for bulkhead.service: ([0-9.]+).*/\1/p' "$WORK/security.out")
	[ -n "$score" ] || { bad "no exposure score: $(tail -n 2 "$WORK/security.out")"; return; }
	awk -v s="$score" 'BEGIN { exit !(s <= 3.0) }' && ok "exposure $score <= 3.0" ||
		bad "exposure $score > 3.0"
	grep -q '^Type=notify$' "$WORK/x/lib/systemd/system/bulkhead.service" || bad "not Type=notify"
	grep -q '^Restart=on-failure$' "$WORK/x/lib/systemd/system/bulkhead.service" || bad "not Restart=on-failure"
	grep -q '^ExecReload=/usr/sbin/bulkhead check /etc/bulkhead/policy.json$' \
		"$WORK/x/lib/systemd/system/bulkhead.service" || bad "ExecReload does not validate first"
}

case_man_pages() {
	local m warn
	make --no-print-directory man >/dev/null || { bad "make man"; return; }
	for m in build/man/bulkhead.8 build/man/bulkhead-policy.5 build/man/bulkhead-events.7; do
		warn=$(groff -t -man -ww -z "$m" 2>&1)
		[ -z "$warn" ] && ok "$m: groff -ww -z silent" || bad "$m: groff warns: $(head -n 3 <<<"$warn")"
		MANWIDTH=80 man -l "$m" >"$WORK/man.txt" 2>"$WORK/man.err" || bad "man -l $m failed"
		[ -s "$WORK/man.err" ] && bad "man -l $m: $(head -n 2 "$WORK/man.err")"
		grep -q '^NAME' "$WORK/man.txt" || bad "$m renders without NAME"
	done
	# every command of --help and every option of each command's --help is in bulkhead(8)
	MANWIDTH=200 man -l build/man/bulkhead.8 2>/dev/null >"$WORK/man8.txt"
	for c in $(build/bulkhead --help | awk '/^Commands:/ {on=1; next} on && NF {print $1} on && !NF {exit}'); do
		[ "$c" = help ] && continue
		grep -qE "^   $c\$" "$WORK/man8.txt" || bad "bulkhead(8) lacks the command $c"
		for o in $(build/bulkhead "$c" --help | grep -oE '^  (-[a-zA-Z], )?--[a-z-]+' | grep -oE -- '--[a-z-]+'); do
			grep -q -- "$o" "$WORK/man8.txt" || bad "bulkhead(8) lacks $c $o"
		done
	done
	ok "bulkhead(8) has every command and option of --help"
}

case_make_install() {
	local d=$WORK/destdir f
	make --no-print-directory install DESTDIR="$d" PREFIX=/usr >"$WORK/install.log" 2>&1 ||
		{ bad "make install PREFIX=/usr: $(tail -n 3 "$WORK/install.log")"; return; }
	for f in usr/sbin/bulkhead lib/systemd/system/bulkhead.service usr/lib/tmpfiles.d/bulkhead.conf \
		etc/logrotate.d/bulkhead usr/share/bash-completion/completions/bulkhead \
		usr/share/man/man8/bulkhead.8 usr/share/man/man5/bulkhead-policy.5 \
		usr/share/man/man7/bulkhead-events.7 etc/bulkhead/policy.json; do
		[ -e "$d/$f" ] && ok "installed $f" || bad "make install lacks $f"
	done
	check "starter policy accepted by bulkhead check" build/bulkhead check "$d/etc/bulkhead/policy.json"
	[ "$(jq -c '.partners | del(."//")' "$d/etc/bulkhead/policy.json")" = "{}" ] || bad "starter policy has partners"
	[ "$(jq -r '."//" | length' "$d/etc/bulkhead/policy.json")" -gt 0 ] || bad "starter policy has no comment"
	echo '{"version": 1, "partners": {}, "never": ["10.9.9.9/32"]}' >"$d/etc/bulkhead/policy.json"
	cp "$d/etc/bulkhead/policy.json" "$WORK/mine.json"
	make --no-print-directory install DESTDIR="$d" PREFIX=/usr >"$WORK/install2.log" 2>&1 || bad "second make install"
	cmp -s "$d/etc/bulkhead/policy.json" "$WORK/mine.json" && ok "existing policy kept" ||
		bad "make install replaced an existing policy"
	grep -q "keeping the existing" "$WORK/install2.log" || bad "make install did not say it kept the policy"
	make --no-print-directory install DESTDIR="$WORK/local" >"$WORK/install3.log" 2>&1 || bad "make install (PREFIX default)"
	[ -x "$WORK/local/usr/local/sbin/bulkhead" ] || bad "PREFIX=/usr/local: no /usr/local/sbin/bulkhead"
	grep -q '^ExecStart=/usr/local/sbin/bulkhead run --policy /etc/bulkhead/policy.json$' \
		"$WORK/local/usr/local/lib/systemd/system/bulkhead.service" || bad "unit not filled in for PREFIX=/usr/local"
}

case_completion() {
	local out
	[ -r /usr/share/bash-completion/bash_completion ] || { cannot "bash-completion not installed (make deps)"; return; }
	out=$(bash -c '. /usr/share/bash-completion/bash_completion; . packaging/bulkhead.bash-completion
		c() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=(); _bulkhead; echo "${COMPREPLY[*]}"; }
		c bulkhead gr; c bulkhead run --p; c bulkhead grant -p ""; BULKHEAD_POLICY=examples/policy.json c bulkhead revoke ""')
	printf '%s\n' "$out"
	[ "$(sed -n 1p <<<"$out")" = grant ] || bad "command completion"
	[ "$(sed -n 2p <<<"$out")" = "--policy --pin-dir" ] || bad "option completion"
	[ "$(sed -n 3p <<<"$out")" = "tcp udp icmp any" ] || bad "--proto completion"
	[ "$(sed -n 4p <<<"$out")" = "acme globex" ] || bad "partner completion from the policy"
}

case_contrib_configs() {
	local st
	python3 - contrib/kubernetes/bulkhead.yaml "$WORK/k8s-policy.json" <<'PY' || bad "kubernetes manifest"
import sys, yaml
docs = list(yaml.safe_load_all(open(sys.argv[1])))
kinds = [d["kind"] for d in docs]
assert kinds == ["Namespace", "ConfigMap", "DaemonSet"], kinds
open(sys.argv[2], "w").write(docs[1]["data"]["policy.json"])
ds = docs[2]["spec"]["template"]["spec"]
assert ds["hostPID"] and ds["hostNetwork"]
caps = ds["containers"][0]["securityContext"]["capabilities"]
assert caps["drop"] == ["ALL"] and sorted(caps["add"]) == ["BPF", "NET_ADMIN", "PERFMON", "SYS_ADMIN", "SYS_PTRACE"]
PY
	check "the ConfigMap's policy passes bulkhead check" build/bulkhead check "$WORK/k8s-policy.json"
	{ printf 'global(workDirectory="%s")\n' "$WORK"; cat contrib/logging/rsyslog-bulkhead.conf; } >"$WORK/rs.conf"
	rsyslogd -N1 -f "$WORK/rs.conf" >"$WORK/rs.out" 2>&1
	st=$?
	[ "$st" -eq 0 ] && ok "rsyslogd -N1 accepts the shipped config" || bad "rsyslogd -N1: $(tail -n 2 "$WORK/rs.out")"
	for y in contrib/ansible/site.yml contrib/ansible/roles/bulkhead/*/main.yml; do
		python3 -c 'import sys, yaml; yaml.safe_load(open(sys.argv[1]))' "$y" || bad "$y: not YAML"
	done
	ok "contrib YAML parses"
}

# A fresh minbase root, from the cached tarball (made on first use).
make_root() {
	mkdir -p "$CACHE/archives/partial"
	if [ ! -s "$CACHE/bookworm-minbase.tgz" ]; then
		debootstrap --variant=minbase --make-tarball="$CACHE/bookworm-minbase.tgz.part" \
			bookworm "$WORK/mk" "$MIRROR" >"$WORK/debootstrap-mk.log" 2>&1 ||
			{ cannot "debootstrap --make-tarball failed (mirror?): $(tail -n 2 "$WORK/debootstrap-mk.log")"; return 1; }
		mv "$CACHE/bookworm-minbase.tgz.part" "$CACHE/bookworm-minbase.tgz"
	fi
	debootstrap --variant=minbase --unpack-tarball="$CACHE/bookworm-minbase.tgz" bookworm "$ROOT" \
		"$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
		{ bad "debootstrap --unpack-tarball failed: $(tail -n 2 "$WORK/debootstrap.log")"; return 1; }
	cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
	mount --bind "$CACHE/archives" "$ROOT/var/cache/apt/archives" && MOUNTS+=("$ROOT/var/cache/apt/archives")
	mount -t proc proc "$ROOT/proc" && MOUNTS+=("$ROOT/proc")
	apt_root update >"$WORK/apt-update.log" 2>&1 || { cannot "apt-get update in the root failed (mirror?)"; return 1; }
}

case_chroot_install() {
	local f
	[ -n "$DEB" ] || { bad "no package"; return; }
	command -v debootstrap >/dev/null || { cannot "debootstrap not installed (make deps)"; return; }
	make_root || return
	in_root dpkg-query -W -f='${Status}' systemd 2>/dev/null | grep -q installed && bad "minbase root has systemd"
	cp "$DEB" "$ROOT/tmp/bulkhead.deb"
	apt_root install /tmp/bulkhead.deb >"$WORK/apt-install.log" 2>&1 ||
		{ bad "apt-get install ./bulkhead.deb: $(tail -n 3 "$WORK/apt-install.log")"; return; }
	for f in /usr/sbin/bulkhead /lib/systemd/system/bulkhead.service /usr/lib/tmpfiles.d/bulkhead.conf \
		/etc/logrotate.d/bulkhead /usr/share/bash-completion/completions/bulkhead \
		/usr/share/man/man8/bulkhead.8.gz /usr/share/man/man5/bulkhead-policy.5.gz \
		/usr/share/man/man7/bulkhead-events.7.gz /etc/bulkhead/policy.json; do
		[ -e "$ROOT$f" ] && ok "root has $f" || bad "root lacks $f"
	done
	in_root bulkhead --version | grep -qE '^bulkhead [0-9]+\.[0-9]+\.[0-9]+' && ok "bulkhead --version" ||
		bad "bulkhead --version: $(in_root bulkhead --version 2>&1)"
	check "starter policy accepted in the root" in_root bulkhead check /etc/bulkhead/policy.json
	[ "$(jq -c '.partners | del(."//")' "$ROOT/etc/bulkhead/policy.json")" = "{}" ] || bad "starter policy has partners"
	[ "$(jq -r '."//" | length' "$ROOT/etc/bulkhead/policy.json")" -gt 0 ] || bad "starter policy has no comment"
	# an existing policy survives a reinstall
	echo '{"version": 1, "partners": {}, "never": ["10.9.9.9/32"]}' >"$ROOT/etc/bulkhead/policy.json"
	cp "$ROOT/etc/bulkhead/policy.json" "$WORK/mine.json"
	apt_root install --reinstall /tmp/bulkhead.deb >>"$WORK/apt-install.log" 2>&1 || bad "reinstall"
	cmp -s "$ROOT/etc/bulkhead/policy.json" "$WORK/mine.json" && ok "policy kept on reinstall" ||
		bad "reinstall replaced the policy"
	touch "$WORK/root-ok"
}

case_unit_verify() {
	[ -e "$WORK/root-ok" ] || { bad "no root with the package"; return; }
	apt_root install systemd man-db >"$WORK/apt-systemd.log" 2>&1 ||
		{ bad "installing systemd in the root: $(tail -n 3 "$WORK/apt-systemd.log")"; return; }
	in_root systemd-analyze verify /lib/systemd/system/bulkhead.service >"$WORK/verify.out" 2>&1
	local st=$?
	cat "$WORK/verify.out"
	[ "$st" -eq 0 ] && [ ! -s "$WORK/verify.out" ] && ok "systemd-analyze verify: clean" ||
		bad "systemd-analyze verify (exit $st): $(head -n 3 "$WORK/verify.out")"
	in_root man -w bulkhead-events >/dev/null || bad "man -w bulkhead-events in the root"
}

case_ansible_role() {
	local play out
	[ -e "$WORK/root-ok" ] || { bad "no root with the package"; return; }
	apt_root install ansible-core python3-apt >"$WORK/apt-ansible.log" 2>&1 ||
		{ bad "installing ansible-core in the root: $(tail -n 3 "$WORK/apt-ansible.log")"; return; }
	rm -rf "$ROOT/tmp/ansible"
	cp -r contrib/ansible "$ROOT/tmp/ansible"
	cat >"$ROOT/tmp/good.json" <<'JSON'
{"version": 1, "partners": {"acme": {"cgroups": ["partners.slice/acme.service"],
  "allow": [{"to": "10.20.0.0/16", "proto": "tcp", "ports": ["443"]}]}}}
JSON
	printf '{"version": 1, "partners": {"acme": {"allow": [{"to": "10.0.0.0/33"}]}}}\n' >"$ROOT/tmp/bad.json"
	play() {
		in_root env ANSIBLE_NOCOLOR=1 ANSIBLE_LOCALHOST_WARNING=0 ansible-playbook -i localhost, -c local \
			/tmp/ansible/site.yml -e bulkhead_hosts=localhost -e bulkhead_deb=/tmp/bulkhead.deb \
			-e "bulkhead_policy_src=$1"
	}
	out=$(play /tmp/good.json 2>&1)
	printf '%s\n' "$out"
	grep -qE 'localhost +: ok=[0-9]+ +changed=[1-9][0-9]* .*failed=0' <<<"$out" || bad "first run did not change and succeed"
	grep -q 'skipping: \[localhost\]' <<<"$(grep -A1 'Enable and start bulkhead' <<<"$out")" ||
		bad "service task not skipped where PID 1 is not systemd"
	grep -q 'RUNNING HANDLER \[bulkhead : Reload bulkhead\]' <<<"$out" || bad "reload handler not notified"
	cmp -s "$ROOT/tmp/good.json" "$ROOT/etc/bulkhead/policy.json" && ok "policy placed" || bad "policy not placed"
	in_root dpkg-query -W -f='${Status}' bulkhead | grep -q "install ok installed" || bad "package not installed"
	out=$(play /tmp/bad.json 2>&1)
	printf '%s\n' "$out"
	grep -qE 'failed=1' <<<"$out" && ok "a bad policy fails the play" || bad "a bad policy did not fail the play"
	grep -q 'prefix length /33 out of range' <<<"$out" || bad "the failure does not show bulkhead check's message"
	cmp -s "$ROOT/tmp/good.json" "$ROOT/etc/bulkhead/policy.json" && ok "the good policy stayed" ||
		bad "the bad policy replaced the good one"
	out=$(play /tmp/good.json 2>&1)
	grep -qE 'localhost +: ok=[0-9]+ +changed=0 .*failed=0' <<<"$out" && ok "second run changes nothing" ||
		bad "second run not idempotent: $(grep 'localhost *:' <<<"$out")"
}

case_remove_purge() {
	local out
	[ -e "$WORK/root-ok" ] || { bad "no root with the package"; return; }
	# something pinned where purge's `bulkhead down` looks (a bpffs of this root's own)
	mkdir -p "$ROOT/sys/fs/bpf"
	mount -t bpf bpf "$ROOT/sys/fs/bpf" && MOUNTS+=("$ROOT/sys/fs/bpf") || { bad "cannot mount a bpffs"; return; }
	mkdir -p "$ROOT/sys/fs/bpf/bulkhead"
	bpftool map create "$ROOT/sys/fs/bpf/bulkhead/bh_state" type array key 4 value 4 entries 1 name bh_state ||
		{ bad "bpftool map create"; return; }
	out=$(apt_root remove bulkhead 2>&1)
	printf '%s\n' "$out"
	[ -e "$ROOT/sys/fs/bpf/bulkhead/bh_state" ] && ok "remove leaves the pins" || bad "remove removed the pins"
	grep -q "enforcement stays pinned" <<<"$out" || bad "remove did not say enforcement stays"
	check "remove keeps a bulkhead to run down with" in_root /var/lib/bulkhead/bulkhead --version
	out=$(apt_root purge bulkhead 2>&1)
	printf '%s\n' "$out"
	grep -q 'purge: running `bulkhead down`' <<<"$out" && ok "purge says it runs bulkhead down" ||
		bad "purge did not say it runs bulkhead down"
	[ ! -e "$ROOT/sys/fs/bpf/bulkhead" ] && ok "purge removed the pins" || bad "pins left after purge"
	[ ! -e "$ROOT/var/lib/bulkhead" ] && [ ! -e "$ROOT/etc/bulkhead/policy.json" ] &&
		[ ! -e "$ROOT/usr/sbin/bulkhead" ] || bad "files left after purge"
}

# ------------------------------------------------------------------ main

if [ "$(id -u)" != 0 ]; then
	cannot "needs root"
	tcase root_available true
else
	tcase deb_builds case_deb_builds
	[ -s "$WORK/deb" ] && DEB=$(cat "$WORK/deb")
	tcase lintian_errors case_lintian
	tcase deb_contents case_deb_contents
	tcase unit_security case_unit_security
	tcase man_pages case_man_pages
	tcase make_install case_make_install
	tcase bash_completion case_completion
	tcase contrib_configs case_contrib_configs
	tcase chroot_install case_chroot_install
	tcase unit_verify_in_chroot case_unit_verify
	tcase ansible_role case_ansible_role
	tcase remove_and_purge case_remove_purge
fi
if [ "$skip" -gt 0 ]; then
	echo "$pass passed, $fail failed, $skip skipped"
else
	echo "$pass passed, $fail failed"
fi
[ "$fail" -eq 0 ]
