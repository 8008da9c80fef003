#!/usr/bin/env bash
# End-to-end tests of the enforcement core (issue 2, section 5): real cgroups,
# real network namespaces, real clients (curl, ncat) and tests/probe where the
# errno matters. Each case gets a fresh cgroup ($CASE_CG), a fresh pair of
# namespaces and its own policy; see lib.sh for the harness.
#
# Addresses (server namespace, routed from the client namespace):
#   10.1.2.3 10.2.0.1 10.20.0.5 10.20.0.6 fd00:20::5 fd00:20::6 fd00:21::7
# Every deny is paired with a control from a cgroup bound to no partner
# ($CASE_CG/outside), which proves the server was there to be reached.

# Case functions are only called through tcase.
# shellcheck disable=SC2317
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

# ------------------------------------------------------------------ helpers

# start: the partner cgroups given, the control cgroup, then the daemon.
start() {
	cg_new outside "$@"
	OUT="$CASE_CG/outside"
	bh_start "$POLICY"
}

# curl_body CGROUP URL: the body curl got, or "curl exit N".
curl_body() {
	local cg=$1 url=$2 out
	out=$(in_cg "$cg" curl -sS -g --max-time 5 "$url" 2>>"$CASE_DIR/curl.err")
	local st=$?
	[ "$st" -eq 0 ] || out="curl exit $st"
	printf '%s\n' "$out"
}

# -------------------------------------------------------------------- cases

# Granted TCP (curl, ncat) and UDP (probe, ncat) reach the server.
case_granted_tcp_udp() {
	local tok; tok=$(bh_token)
	policy_acme '[
        {"to": "10.20.0.5", "proto": "tcp", "ports": ["80", "9000"], "purpose": "api"},
        {"to": "10.20.0.5/32", "proto": "udp", "ports": ["5353"]}
      ]'
	srv_start http 80 "$CASE_DIR/http.rx"
	srv_start sink 9000 "$CASE_DIR/tcp.rx"
	srv_start udp 5353 "$CASE_DIR/udp.rx"
	start acme
	local acme="$CASE_CG/acme"

	assert_eq bulkhead-test-ok "$(curl_body "$acme" "http://10.20.0.5/c-$tok")" "curl from acme to granted 10.20.0.5:80"
	assert_file_has "$CASE_DIR/http.rx" "GET /c-$tok" "http server got the granted request"
	printf 'n-%s\n' "$tok" | in_cg "$acme" ncat --send-only 10.20.0.5 9000
	assert_eq 0 "$?" "ncat from acme to granted 10.20.0.5:9000"
	assert_file_has "$CASE_DIR/tcp.rx" "n-$tok" "tcp sink got the ncat payload"
	assert_probe ok "$acme" tcp-connect 10.20.0.5 9000 "p-$tok"
	assert_file_has "$CASE_DIR/tcp.rx" "p-$tok" "tcp sink got the probe payload"

	assert_probe ok "$acme" udp-sendto 10.20.0.5 5353 "u-$tok"
	assert_file_has "$CASE_DIR/udp.rx" "u-$tok" "udp server got the sendto payload"
	assert_probe ok "$acme" udp-connect-send 10.20.0.5 5353 "uc-$tok"
	assert_file_has "$CASE_DIR/udp.rx" "uc-$tok" "udp server got the connected payload"
	printf 'un-%s\n' "$tok" | in_cg "$acme" ncat -u --send-only 10.20.0.5 5353
	assert_file_has "$CASE_DIR/udp.rx" "un-$tok" "udp server got the ncat payload"
	stop_ok
}

# A TCP connect to a destination, a port or a protocol not granted: EPERM.
case_denied_tcp() {
	local tok; tok=$(bh_token)
	policy <<EOF
{
  "version": 1,
  "partners": {
    "acme": {
      "cgroups": ["$CASE_CG_REL/acme"],
      "mode": "enforce",
      "allow": [{"to": "10.20.0.5", "proto": "tcp", "ports": ["80"]},
                {"to": "10.2.0.1", "proto": "udp"}]
    }
  }
}
EOF
	srv_start http 80 "$CASE_DIR/http.rx"
	srv_start echo 9000
	start acme
	local acme="$CASE_CG/acme"

	assert_probe ok "$OUT" tcp-connect 10.1.2.3 80
	assert_probe EPERM "$acme" tcp-connect 10.1.2.3 80
	assert_eq "curl exit 7" "$(curl_body "$acme" "http://10.1.2.3/d-$tok")" "curl from acme to ungranted 10.1.2.3:80"
	assert_probe ok "$OUT" tcp-connect 10.20.0.5 9000
	assert_probe EPERM "$acme" tcp-connect 10.20.0.5 9000
	assert_probe EPERM "$acme" tcp-connect 10.2.0.1 80
	assert_probe ok "$acme" tcp-connect 10.20.0.5 80
	# the barrier: a granted request after the denied one
	assert_eq bulkhead-test-ok "$(curl_body "$acme" "http://10.20.0.5/g-$tok")" "curl from acme to granted 10.20.0.5:80"
	assert_file_has "$CASE_DIR/http.rx" "GET /g-$tok" "http server got the granted request"
	assert_file_lacks "$CASE_DIR/http.rx" "GET /d-$tok" "http server never saw the denied request"
	stop_ok
}

# An unconnected UDP sendto (and a connected send) not granted: EPERM, and
# nothing reaches the server.
case_denied_udp() {
	local tok; tok=$(bh_token)
	policy_acme '[{"to": "10.20.0.5", "proto": "udp", "ports": ["5353"]},
                {"to": "10.1.2.3", "proto": "tcp"}]'
	srv_start udp 5353 "$CASE_DIR/udp.rx"
	srv_start udp 5354 "$CASE_DIR/udp2.rx"
	start acme
	local acme="$CASE_CG/acme"

	assert_probe EPERM "$acme" udp-sendto 10.1.2.3 5353 "d1-$tok"
	assert_probe EPERM "$acme" udp-sendto 10.20.0.5 5354 "d2-$tok"
	assert_probe EPERM "$acme" udp-connect-send 10.1.2.3 5353 "d3-$tok"
	assert_probe ok "$acme" udp-sendto 10.20.0.5 5353 "g-$tok"
	# barriers: a datagram from outside to each socket after the denied ones
	assert_probe ok "$OUT" udp-sendto 10.1.2.3 5353 "o1-$tok"
	assert_probe ok "$OUT" udp-sendto 10.20.0.5 5354 "o2-$tok"
	assert_file_has "$CASE_DIR/udp.rx" "g-$tok" "granted datagram arrived"
	assert_file_has "$CASE_DIR/udp.rx" "o1-$tok" "control datagram arrived on 5353"
	assert_file_has "$CASE_DIR/udp2.rx" "o2-$tok" "control datagram arrived on 5354"
	assert_file_lacks "$CASE_DIR/udp.rx" "d1-$tok" "denied sendto never arrived"
	assert_file_lacks "$CASE_DIR/udp2.rx" "d2-$tok" "denied sendto to ungranted port never arrived"
	assert_file_lacks "$CASE_DIR/udp.rx" "d3-$tok" "denied connected send never arrived"
	stop_ok
}

# IPv6: a granted prefix is reachable, the rest of IPv6 (and the IPv4
# addresses of the same servers) is not.
case_ipv6() {
	local tok; tok=$(bh_token)
	policy_acme '[{"to": "fd00:20::/64", "proto": "tcp", "ports": ["80"]},
                {"to": "fd00:20::5/128", "proto": "udp", "ports": ["5353"]}]'
	srv_start http 80 "$CASE_DIR/http.rx"
	srv_start udp 5353 "$CASE_DIR/udp.rx"
	start acme
	local acme="$CASE_CG/acme"

	assert_eq bulkhead-test-ok "$(curl_body "$acme" "http://[fd00:20::5]/v6-$tok")" "curl from acme to granted [fd00:20::5]:80"
	assert_file_has "$CASE_DIR/http.rx" "GET /v6-$tok" "http server got the IPv6 request"
	assert_probe ok "$acme" tcp-connect fd00:20::6 80
	assert_probe ok "$OUT" tcp-connect fd00:21::7 80
	assert_probe EPERM "$acme" tcp-connect fd00:21::7 80
	assert_probe EPERM "$acme" tcp-connect 10.20.0.5 80
	assert_probe ok "$acme" udp-sendto fd00:20::5 5353 "u6-$tok"
	assert_file_has "$CASE_DIR/udp.rx" "u6-$tok" "udp server got the IPv6 datagram"
	assert_probe EPERM "$acme" udp-sendto fd00:20::6 5353
	assert_probe EPERM "$acme" udp-sendto fd00:21::7 5353
	assert_probe EPERM "$acme" udp-connect-send fd00:21::7 5353
	stop_ok
}

# AF_INET6 sockets to ::ffff:a.b.c.d are judged as the IPv4 address.
case_v4_mapped() {
	local tok; tok=$(bh_token)
	policy_acme '[{"to": "10.20.0.0/24", "proto": "tcp", "ports": ["80"]},
                {"to": "10.20.0.5", "proto": "udp", "ports": ["5353"]}]'
	srv_start echo 80
	srv_start udp 5353 "$CASE_DIR/udp.rx"
	start acme
	local acme="$CASE_CG/acme"

	assert_probe ok "$acme" tcp6-connect ::ffff:10.20.0.5 80 "m-$tok"
	assert_probe ok "$acme" tcp6-connect ::ffff:10.20.0.6 80
	assert_probe ok "$OUT" tcp6-connect ::ffff:10.1.2.3 80
	assert_probe EPERM "$acme" tcp6-connect ::ffff:10.1.2.3 80
	assert_probe EPERM "$acme" tcp6-connect ::ffff:10.2.0.1 80
	assert_probe ok "$acme" udp-sendto ::ffff:10.20.0.5 5353 "um-$tok"
	assert_file_has "$CASE_DIR/udp.rx" "um-$tok" "udp server got the mapped datagram"
	assert_probe EPERM "$acme" udp-sendto ::ffff:10.1.2.3 5353
	assert_probe EPERM "$acme" udp-connect-send ::ffff:10.1.2.3 5353
	stop_ok
}

# A port range is inclusive at both ends and nothing beyond.
case_port_range_edges() {
	local p
	policy_acme '[{"to": "10.20.0.5", "proto": "tcp", "ports": ["8000-8100"]}]'
	for p in 7999 8000 8050 8100 8101; do srv_start echo "$p"; done
	start acme
	local acme="$CASE_CG/acme"

	for p in 7999 8101; do
		assert_probe ok "$OUT" tcp-connect 10.20.0.5 "$p"
		assert_probe EPERM "$acme" tcp-connect 10.20.0.5 "$p"
	done
	for p in 8000 8050 8100; do
		assert_probe ok "$acme" tcp-connect 10.20.0.5 "$p"
	done
	stop_ok
}

# The never list beats every grant covering it, an exact one included.
case_never_beats_grant() {
	policy <<EOF
{
  "version": 1,
  "never": ["10.20.0.5/32", "fd00:20::5/128"],
  "partners": {
    "acme": {
      "cgroups": ["$CASE_CG_REL/acme"],
      "allow": [{"to": "10.20.0.0/16", "proto": "tcp", "ports": ["80"]},
                {"to": "10.20.0.5", "proto": "any"},
                {"to": "fd00:20::/64", "proto": "tcp"}]
    }
  }
}
EOF
	srv_start echo 80
	start acme
	local acme="$CASE_CG/acme"

	assert_probe ok "$acme" tcp-connect 10.20.0.6 80
	assert_probe ok "$acme" tcp-connect fd00:20::6 80
	assert_probe EPERM "$acme" tcp-connect 10.20.0.5 80
	assert_probe EPERM "$acme" tcp6-connect ::ffff:10.20.0.5 80
	assert_probe EPERM "$acme" udp-sendto 10.20.0.5 80
	assert_probe EPERM "$acme" ping 10.20.0.5
	assert_probe EPERM "$acme" tcp-connect fd00:20::5 80
	assert_probe ok "$OUT" tcp-connect 10.20.0.5 80
	stop_ok
}

# Loopback is not special: a service on 127.0.0.1/::1 in the partner's own
# namespace is denied unless granted.
case_loopback_denied() {
	policy_acme '[{"to": "10.20.0.5", "proto": "tcp", "ports": ["9000"]}]'
	srv_start --ns "$NS_C" echo 9000
	srv_start --ns "$NS_C" udp 9001 "$CASE_DIR/udp.rx"
	start acme
	local acme="$CASE_CG/acme"

	assert_probe ok "$OUT" tcp-connect 127.0.0.1 9000
	assert_probe EPERM "$acme" tcp-connect 127.0.0.1 9000
	assert_probe EPERM "$acme" tcp-connect ::1 9000
	assert_probe EPERM "$acme" tcp6-connect ::ffff:127.0.0.1 9000
	assert_probe EPERM "$acme" tcp-connect "$C4" 9000
	assert_probe EPERM "$acme" udp-sendto 127.0.0.1 9001
	assert_probe EPERM "$acme" ping 127.0.0.1
	stop_ok
}

case_loopback_granted() {
	local tok; tok=$(bh_token)
	policy_acme '[{"to": "127.0.0.1", "proto": "tcp", "ports": ["9000"]},
                {"to": "127.0.0.1", "proto": "udp", "ports": ["9002"]}]'
	srv_start --ns "$NS_C" sink 9000 "$CASE_DIR/tcp.rx"
	srv_start --ns "$NS_C" echo 9001
	srv_start --ns "$NS_C" udp 9002 "$CASE_DIR/udp.rx"
	start acme
	local acme="$CASE_CG/acme"

	assert_probe ok "$acme" tcp-connect 127.0.0.1 9000 "l-$tok"
	assert_file_has "$CASE_DIR/tcp.rx" "l-$tok" "loopback sink got the payload"
	assert_probe ok "$acme" udp-sendto 127.0.0.1 9002 "lu-$tok"
	assert_file_has "$CASE_DIR/udp.rx" "lu-$tok" "loopback udp got the datagram"
	assert_probe EPERM "$acme" tcp-connect 127.0.0.1 9001
	assert_probe EPERM "$acme" tcp-connect ::1 9000
	stop_ok
}

# Nested cgroups belong to the nearest bound ancestor, including one created
# after the daemon started.
case_nested_child() {
	policy <<EOF
{
  "version": 1,
  "partners": {
    "acme": {
      "cgroups": ["$CASE_CG_REL/acme"],
      "allow": [{"to": "10.20.0.5", "proto": "tcp", "ports": ["80"]}]
    },
    "beta": {
      "cgroups": ["$CASE_CG_REL/acme/worker/beta"],
      "allow": [{"to": "10.1.2.3", "proto": "tcp", "ports": ["80"]}]
    }
  }
}
EOF
	srv_start echo 80
	start acme/worker/deep acme/worker/beta/job
	cg_new acme/late/child
	local cg
	for cg in acme/worker acme/worker/deep acme/late/child; do
		assert_probe ok "$CASE_CG/$cg" tcp-connect 10.20.0.5 80
		assert_probe EPERM "$CASE_CG/$cg" tcp-connect 10.1.2.3 80
	done
	for cg in acme/worker/beta acme/worker/beta/job; do
		assert_probe ok "$CASE_CG/$cg" tcp-connect 10.1.2.3 80
		assert_probe EPERM "$CASE_CG/$cg" tcp-connect 10.20.0.5 80
	done
	stop_ok
}

# Every child of partner_root without a partner gets nothing: one that
# existed at start, its descendants, and one created after the daemon started.
case_unknown_child() {
	policy <<EOF
{
  "version": 1,
  "partner_root": "$CASE_CG_REL/partners",
  "partners": {
    "acme": {
      "cgroups": ["$CASE_CG_REL/partners/acme"],
      "allow": [{"to": "10.20.0.5", "proto": "any"},
                {"to": "fd00:20::5", "proto": "any"},
                {"to": "127.0.0.1", "proto": "any"}]
    }
  }
}
EOF
	srv_start echo 80
	srv_start udp 5353 "$CASE_DIR/udp.rx"
	srv_start --ns "$NS_C" echo 9000
	start partners/acme partners/stranger/sub
	cg_new partners/late
	local cg tok; tok=$(bh_token)

	assert_probe ok "$CASE_CG/partners/acme" tcp-connect 10.20.0.5 80
	assert_probe ok "$CASE_CG/partners/acme" ping 10.20.0.5
	for cg in partners/stranger partners/stranger/sub partners/late; do
		assert_probe EPERM "$CASE_CG/$cg" tcp-connect 10.20.0.5 80
		assert_probe EPERM "$CASE_CG/$cg" tcp-connect fd00:20::5 80
		assert_probe EPERM "$CASE_CG/$cg" tcp6-connect ::ffff:10.20.0.5 80
		assert_probe EPERM "$CASE_CG/$cg" udp-sendto 10.20.0.5 5353 "x-$tok"
		assert_probe EPERM "$CASE_CG/$cg" udp-connect-send 10.20.0.5 5353 "x-$tok"
		assert_probe EPERM "$CASE_CG/$cg" tcp-connect 127.0.0.1 9000
		assert_probe EPERM "$CASE_CG/$cg" ping 10.20.0.5
	done
	assert_probe ok "$OUT" udp-sendto 10.20.0.5 5353 "o-$tok"
	assert_file_has "$CASE_DIR/udp.rx" "o-$tok" "control datagram arrived"
	assert_file_lacks "$CASE_DIR/udp.rx" "x-$tok" "no datagram from an unknown partner arrived"
	stop_ok
}

# Audit mode lets what enforce would deny through; the mode is per partner.
case_audit_mode() {
	local tok; tok=$(bh_token)
	policy <<EOF
{
  "version": 1,
  "partners": {
    "acme": {
      "cgroups": ["$CASE_CG_REL/acme"],
      "mode": "audit",
      "allow": [{"to": "10.20.0.5", "proto": "tcp", "ports": ["80"]}]
    },
    "beta": {
      "cgroups": ["$CASE_CG_REL/beta"],
      "mode": "enforce",
      "allow": [{"to": "10.20.0.5", "proto": "tcp", "ports": ["80"]}]
    }
  }
}
EOF
	srv_start sink 9000 "$CASE_DIR/tcp.rx"
	srv_start udp 5353 "$CASE_DIR/udp.rx"
	start acme beta
	local acme="$CASE_CG/acme"

	assert_probe ok "$acme" tcp-connect 10.1.2.3 9000 "a-$tok"
	assert_file_has "$CASE_DIR/tcp.rx" "a-$tok" "audited TCP payload arrived"
	assert_probe ok "$acme" udp-sendto 10.1.2.3 5353 "au-$tok"
	assert_file_has "$CASE_DIR/udp.rx" "au-$tok" "audited datagram arrived"
	assert_probe EPERM "$CASE_CG/beta" tcp-connect 10.1.2.3 9000
	stop_ok
}

# A process in no partner cgroup is unaffected, whatever the policy says,
# even in a cgroup named like a partner outside every bound path.
case_non_partner() {
	local tok; tok=$(bh_token)
	policy <<EOF
{
  "version": 1,
  "partner_root": "$CASE_CG_REL/partners",
  "never": ["10.1.2.3/32"],
  "partners": {
    "acme": {
      "cgroups": ["$CASE_CG_REL/partners/acme"],
      "allow": [{"to": "10.20.0.5", "proto": "tcp", "ports": ["80"]}]
    }
  }
}
EOF
	srv_start echo 80
	srv_start udp 5353 "$CASE_DIR/udp.rx"
	srv_start --ns "$NS_C" echo 9000
	start partners/acme outside/deeper acme
	local cg
	for cg in outside outside/deeper acme ""; do
		cg=${cg:+/$cg}
		assert_probe ok "$CASE_CG$cg" tcp-connect 10.1.2.3 80
		assert_probe ok "$CASE_CG$cg" tcp-connect 10.2.0.1 80
		assert_probe ok "$CASE_CG$cg" tcp-connect fd00:21::7 80
		assert_probe ok "$CASE_CG$cg" tcp6-connect ::ffff:10.2.0.1 80
		assert_probe ok "$CASE_CG$cg" tcp-connect 127.0.0.1 9000
		assert_probe ok "$CASE_CG$cg" ping 10.2.0.1
		assert_probe ok "$CASE_CG$cg" udp-sendto 10.1.2.3 5353 "n$cg-$tok"
		assert_file_has "$CASE_DIR/udp.rx" "n$cg-$tok" "datagram from ${cg:-the case root} arrived"
	done
	assert_probe EPERM "$CASE_CG/partners/acme" tcp-connect 10.2.0.1 80
	stop_ok
}

# ICMP echo: granted destination ok, others EPERM; icmp grants no TCP.
case_icmp() {
	policy_acme '[{"to": "10.20.0.5", "proto": "icmp"},
                {"to": "fd00:20::5", "proto": "icmp"}]'
	srv_start echo 80
	start acme
	local acme="$CASE_CG/acme"

	assert_probe ok "$acme" ping 10.20.0.5
	assert_probe ok "$acme" ping fd00:20::5
	assert_probe ok "$OUT" ping 10.1.2.3
	assert_probe EPERM "$acme" ping 10.1.2.3
	# ICMPv6 ping sockets do not report a cgroup egress drop to sendto (ICMPv4
	# ones do, as EPERM): the echo request is dropped and never answered,
	# although the same address answers a process outside the partner.
	assert_probe ok "$OUT" ping fd00:21::7
	assert_probe ETIMEDOUT "$acme" ping fd00:21::7
	assert_probe EPERM "$acme" tcp-connect 10.20.0.5 80
	stop_ok
}

# Overlapping grants are a union: 10.0.0.0/8 tcp 443 + 10.1.0.0/16 tcp 22.
case_overlapping_union() {
	policy_acme '[{"to": "10.0.0.0/8", "proto": "tcp", "ports": ["443"]},
                {"to": "10.1.0.0/16", "proto": "tcp", "ports": ["22"]}]'
	srv_start echo 22
	srv_start echo 443
	start acme
	local acme="$CASE_CG/acme"

	assert_probe ok "$acme" tcp-connect 10.1.2.3 443
	assert_probe ok "$acme" tcp-connect 10.1.2.3 22
	assert_probe ok "$acme" tcp-connect 10.2.0.1 443
	assert_probe ok "$OUT" tcp-connect 10.2.0.1 22
	assert_probe EPERM "$acme" tcp-connect 10.2.0.1 22
	stop_ok
}

# Stopping the daemon leaves enforcement in place; `down` removes it.
case_stop_then_down() {
	policy_acme '[{"to": "10.20.0.5", "proto": "tcp", "ports": ["80"]}]'
	srv_start echo 80
	start acme
	local acme="$CASE_CG/acme"

	assert_probe EPERM "$acme" tcp-connect 10.1.2.3 80
	stop_ok
	assert_probe EPERM "$acme" tcp-connect 10.1.2.3 80
	assert_probe ok "$acme" tcp-connect 10.20.0.5 80
	cg_new acme/after-stop
	assert_probe EPERM "$acme/after-stop" tcp-connect 10.1.2.3 80
	bh_down
	assert_eq 0 "$?" "bulkhead down exit status"
	assert_eq "" "$(find "$PINDIR" -mindepth 1 2>/dev/null | head -n 3)" "pins left after down"
	assert_probe ok "$acme" tcp-connect 10.1.2.3 80
	assert_probe ok "$acme/after-stop" tcp-connect 10.1.2.3 80
}

# `run` on a policy binding a cgroup that does not exist (no partner_root):
# non-zero exit naming the path, never `ready`.
case_run_missing_cgroup() {
	local missing="$CASE_CG_REL/does-not-exist" out
	policy <<EOF
{
  "version": 1,
  "partners": {
    "acme": {
      "cgroups": ["$missing"],
      "allow": [{"to": "10.20.0.5", "proto": "tcp", "ports": ["80"]}]
    }
  }
}
EOF
	bh_spawn "$POLICY"
	wait_until 10 bh__ready_or_dead
	if bh__is_ready; then
		fail_now "bulkhead run printed ready although $missing does not exist"
	fi
	bh_wait_exit 1 || fail_now "bulkhead run still running after 10 s"
	[ "$BH_DAEMON_STATUS" -ne 0 ] || fail "bulkhead run exited 0"
	out=$(cat "$CASE_DIR/bulkhead.err" "$CASE_DIR/bulkhead.out")
	assert_contains "$missing" "$out" "bulkhead run output"
	# it enforced nothing: it leaves nothing pinned in the (fresh) pin dir,
	# and status says nothing is loaded
	assert_eq "" "$(find "$PINDIR" -mindepth 1 2>/dev/null | head -n 3)" "pins left by the failed run"
	"$BULKHEAD" status --pin-dir "$PINDIR" >"$CASE_DIR/status.out" 2>&1
	assert_eq 3 "$?" "bulkhead status exit status after the failed run"
	# a pin dir the run had to create is removed again
	bh_spawn "$POLICY" --pin-dir "$PINDIR/new"	# the last --pin-dir wins
	bh_wait_exit 10 || fail_now "bulkhead run (new pin dir) still running after 10 s"
	[ "$BH_DAEMON_STATUS" -ne 0 ] || fail "bulkhead run (new pin dir) exited 0"
	assert_eq absent "$([ -e "$PINDIR/new" ] && echo present || echo absent)" \
		"the pin dir the failed run created"
}

# A `run` that fails on pinned enforcement it was adopting (kill -9, then a
# policy naming a missing cgroup) leaves it all in place: fail closed.
case_failed_run_keeps_adopted() {
	local good="$CASE_DIR/good.json" pins
	policy_acme '[{"to": "10.20.0.5", "proto": "tcp", "ports": ["80"]}]' "$good"
	policy <<EOF
{
  "version": 1,
  "partners": {
    "acme": {"cgroups": ["$CASE_CG_REL/acme", "$CASE_CG_REL/does-not-exist"], "allow": []}
  }
}
EOF
	srv_start echo 80
	cg_new outside acme
	bh_start "$good"
	local acme="$CASE_CG/acme"
	assert_probe EPERM "$acme" tcp-connect 10.1.2.3 80
	bh_kill9
	pins=$(find "$PINDIR" -mindepth 1 | sort)
	bh_spawn "$POLICY"
	bh_wait_exit 10 || fail_now "bulkhead run still running after 10 s"
	[ "$BH_DAEMON_STATUS" -ne 0 ] || fail "bulkhead run exited 0 with a missing cgroup"
	assert_eq "$pins" "$(find "$PINDIR" -mindepth 1 | sort)" "pins after the failed adoption"
	assert_probe EPERM "$acme" tcp-connect 10.1.2.3 80
	assert_probe ok "$acme" tcp-connect 10.20.0.5 80
	"$BULKHEAD" status --pin-dir "$PINDIR" >"$CASE_DIR/status.out" 2>&1
	assert_eq 0 "$?" "bulkhead status exit status (enforcement attached, no daemon)"
}

# `bulkhead status` exits 3 when no program is attached, also when maps are
# pinned (links unpinned, as a failed run of an older version left them).
case_status_nothing_attached() {
	policy_acme '[{"to": "10.20.0.5", "proto": "tcp", "ports": ["80"]}]'
	start acme
	stop_ok
	[ -d "$PINDIR/links" ] || fail_now "no $PINDIR/links"
	"$BULKHEAD" status --pin-dir "$PINDIR" >"$CASE_DIR/status.out" 2>&1
	assert_eq 0 "$?" "bulkhead status exit status with programs attached"
	find "$PINDIR/links" -mindepth 1 -delete
	"$BULKHEAD" status --pin-dir "$PINDIR" >"$CASE_DIR/status.out" 2>&1
	assert_eq 3 "$?" "bulkhead status exit status with maps but no links"
	assert_contains "none attached" "$(cat "$CASE_DIR/status.out")" "bulkhead status text"
	"$BULKHEAD" status --json --pin-dir "$PINDIR" >"$CASE_DIR/status.json" 2>&1
	assert_eq 3 "$?" "bulkhead status --json exit status with maps but no links"
	assert_eq false "$(jq -r .attached "$CASE_DIR/status.json")" "status --json: attached"
	bh_down
	"$BULKHEAD" status --pin-dir "$PINDIR" >"$CASE_DIR/status.out" 2>&1
	assert_eq 3 "$?" "bulkhead status exit status with nothing pinned"
}

# `bulkhead down` while the daemon runs: the daemon removes the enforcement,
# logs who asked, and exits 0; nothing is left half alive.
case_down_stops_daemon() {
	local out st
	policy_acme '[{"to": "10.20.0.5", "proto": "tcp", "ports": ["80"]}]'
	srv_start echo 80
	start acme
	local acme="$CASE_CG/acme"
	assert_probe EPERM "$acme" tcp-connect 10.1.2.3 80
	out=$("$BULKHEAD" down --pin-dir "$PINDIR" 2>&1)
	st=$?
	bh_log "$out"
	assert_eq 0 "$st" "bulkhead down exit status with the daemon running"
	assert_contains "links, removed $PINDIR and exited" "$out" "bulkhead down output"
	bh_wait_exit 5 || fail_now "the daemon still runs 5 s after bulkhead down"
	assert_eq 0 "$BH_DAEMON_STATUS" "daemon exit status after bulkhead down"
	assert_eq absent "$([ -e "$PINDIR" ] && echo present || echo absent)" "the pin dir after down"
	assert_probe ok "$acme" tcp-connect 10.1.2.3 80
	assert_file_has "$LOGS/host.jsonl" '"action":"down","caller":{"uid":0' "policy event down naming the caller"
	assert_file_has "$LOGS/host.jsonl" '"event":"stop"' "lifecycle stop event"
	assert_file_has "$LOGS/host.jsonl" 'enforcement removed by' "lifecycle stop event: enforcement removed"
	"$BULKHEAD" list >"$CASE_DIR/list.out" 2>&1
	assert_eq 4 "$?" "bulkhead list exit status after down (no daemon, nothing pinned)"
	"$BULKHEAD" status --pin-dir "$PINDIR" >"$CASE_DIR/status.out" 2>&1
	assert_eq 3 "$?" "bulkhead status exit status after down"
}

# `bulkhead down` that cannot ask the daemon (its control socket elsewhere),
# or asks a daemon of another pin dir: exit 1, nothing removed, the daemon
# and its enforcement untouched.
case_down_refused() {
	local out st other="$PINDIR-other" pins lockpid
	policy_acme '[{"to": "10.20.0.5", "proto": "tcp", "ports": ["80"]}]'
	srv_start echo 80
	start acme
	local acme="$CASE_CG/acme"
	pins=$(find "$PINDIR" -mindepth 1 | sort)
	out=$("$BULKHEAD" down --pin-dir "$PINDIR" --control "$CASE_DIR/nothing.sock" 2>&1)
	st=$?
	bh_log "$out"
	assert_eq 1 "$st" "bulkhead down exit status (daemon unreachable)"
	assert_contains "cannot be asked to stop" "$out" "bulkhead down message"
	bh_alive || fail "the daemon died"
	assert_eq "$pins" "$(find "$PINDIR" -mindepth 1 | sort)" "pins after the refused down"
	assert_probe EPERM "$acme" tcp-connect 10.1.2.3 80
	# another pin dir, locked as a daemon would lock it: this daemon refuses
	mkdir "$other"
	flock "$other" sleep 30 &	# blocking: the probe below holds it for an instant
	lockpid=$!
	locked() { ! flock -n "$other" true; }
	wait_until 5 locked || fail "flock on $other did not take"
	out=$("$BULKHEAD" down --pin-dir "$other" 2>&1)
	st=$?
	kill "$lockpid" 2>/dev/null
	wait "$lockpid" 2>/dev/null
	rmdir "$other"
	bh_log "$out"
	assert_eq 1 "$st" "bulkhead down exit status (the daemon runs on another pin dir)"
	assert_contains "this daemon enforces $PINDIR" "$out" "bulkhead down message"
	bh_alive || fail "the daemon died"
	assert_probe EPERM "$acme" tcp-connect 10.1.2.3 80
	stop_ok
}

# `bulkhead check` on a valid policy: exit 0.
case_check_good() {
	local out st
	cat >"$CASE_DIR/good.json" <<'EOF'
{
  "version": 1,
  "partner_root": "partners.slice",
  "never": ["169.254.169.254/32", "fd00:ec2::254/128"],
  "partners": {
    "acme": {
      "cgroups": ["partners.slice/acme.service"],
      "mode": "enforce",
      "allow": [
        {"to": "10.20.0.0/16", "proto": "tcp", "ports": ["443", "8000-8100"], "purpose": "billing api"},
        {"to": "2001:db8:5::/48", "proto": "udp", "ports": ["53"], "expires": "2099-12-01T00:00:00Z"},
        {"to": "192.0.2.7", "proto": "icmp"}
      ]
    }
  }
}
EOF
	out=$("$BULKHEAD" check "$CASE_DIR/good.json" 2>&1)
	st=$?
	bh_log "$out"
	assert_eq 0 "$st" "bulkhead check exit status on a valid policy"
}

# `bulkhead check` warns (stderr, FILE:LINE:COL, exit status unchanged; in
# --json too) about a cgroup that does not exist, a binding outside
# partner_root, a partner without org and an `expires` in the past.
case_check_warnings() {
	local f="$CASE_DIR/warn.json" out st
	cat >"$f" <<'EOF'
{
  "version": 1,
  "partners": {
    "acme": {
      "cgroups": ["bh-no-such-cgroup.slice/acme.service"],
      "allow": [
        {"to": "10.20.0.0/16", "proto": "tcp", "ports": ["443"]},
        {"to": "10.30.0.0/16", "expires": "2020-01-01T00:00:00Z"}
      ]
    }
  }
}
EOF
	out=$("$BULKHEAD" check "$f" 2>"$CASE_DIR/check.err")
	st=$?
	bh_log "$out"
	cat "$CASE_DIR/check.err"
	assert_eq 0 "$st" "bulkhead check exit status with warnings"
	assert_contains "partner acme (id 1)" "$out" "summary on stdout"
	assert_eq 4 "$(grep -c ': warning: ' "$CASE_DIR/check.err")" "warnings on stderr"
	assert_contains "$f:4:5: warning: partner acme has no \"org\"" \
		"$(cat "$CASE_DIR/check.err")" "no org warning"
	assert_contains "$f:5:19: warning: cgroup \"bh-no-such-cgroup.slice/acme.service\" of partner acme is outside partner_root: bulkhead attaches at its parent" \
		"$(cat "$CASE_DIR/check.err")" "outside partner_root warning"
	assert_contains "$f:5:19: warning: cgroup \"bh-no-such-cgroup.slice/acme.service\" of partner acme does not exist" \
		"$(cat "$CASE_DIR/check.err")" "missing cgroup warning"
	assert_contains "$f:8:43: warning: grant acme/h" "$(cat "$CASE_DIR/check.err")" \
		"past expires warning, named by its derived id"
	assert_contains " expired at 2020-01-01T00:00:00.000000Z" \
		"$(cat "$CASE_DIR/check.err")" "past expires warning"
	out=$("$BULKHEAD" check --json "$f" 2>/dev/null)
	assert_eq 0 "$?" "bulkhead check --json exit status with warnings"
	assert_eq 4 "$(jq '.warnings | length' <<<"$out")" "warnings in the --json summary"
	assert_eq 1 "$(jq '.partners | length' <<<"$out")" "partners in the --json summary"
}

# `bulkhead check` on one bad example ($BAD_FILE, relative to $BAD_DIR; its
# line in expect.txt is "FILE LINE:COL substring"): exit 1 and exactly one
# error line, naming FILE:LINE:COL and containing the substring.
case_check_bad() {
	local want loc sub out st lines n l
	want=$(awk -v f="$BAD_FILE" '$1 == f { print; exit }' "$BAD_DIR/expect.txt")
	[ -n "$want" ] || fail_now "$BAD_FILE has no line in expect.txt"
	loc=$(printf '%s\n' "$want" | awk '{ print $2 }')
	sub=$(printf '%s\n' "$want" | sed -E 's/^[^[:space:]]+[[:space:]]+[^[:space:]]+[[:space:]]*//')
	out=$(cd "$BAD_DIR" && "$BULKHEAD" check "$BAD_FILE" 2>&1)
	st=$?
	bh_log "$out"
	assert_eq 1 "$st" "bulkhead check $BAD_FILE exit status"
	lines="" n=0
	while IFS= read -r l; do
		[[ $l == *"$BAD_FILE:"[0-9]*:[0-9]* ]] || continue
		lines="$lines$l"$'\n'
		n=$((n + 1))
	done <<<"$out"
	assert_eq 1 "$n" "error lines naming $BAD_FILE:LINE:COL"
	assert_contains "$BAD_FILE:$loc:" "$lines" "error position"
	assert_contains "$sub" "$lines" "error reason"
}

case_check_bad_missing() { skip "no tests/unit/bad/*.json with an expect.txt yet"; }

# expect.txt lines that name no existing file are a failure of the suite.
case_check_bad_orphans() {
	local f
	while read -r f _; do
		case $f in ''|'#'*) continue ;; esac
		[ -f "$BAD_DIR/$f" ] || fail "expect.txt names $f, which does not exist"
	done <"$BAD_DIR/expect.txt"
	return 0
}

# -------------------------------------------------------------- the table

tcase granted_tcp_udp        case_granted_tcp_udp
tcase denied_tcp_connect     case_denied_tcp
tcase denied_udp_sendto      case_denied_udp
tcase ipv6_grants            case_ipv6
tcase v4_mapped_ipv6         case_v4_mapped
tcase port_range_edges       case_port_range_edges
tcase never_beats_grant      case_never_beats_grant
tcase loopback_denied        case_loopback_denied
tcase loopback_granted       case_loopback_granted
tcase nested_child           case_nested_child
tcase unknown_child          case_unknown_child
tcase audit_mode             case_audit_mode
tcase non_partner_unaffected case_non_partner
tcase icmp_echo              case_icmp
tcase overlapping_union      case_overlapping_union
tcase stop_keeps_down_removes case_stop_then_down
tcase run_missing_cgroup     case_run_missing_cgroup
tcase failed_run_keeps_adopted case_failed_run_keeps_adopted
tcase status_nothing_attached case_status_nothing_attached
tcase down_stops_daemon      case_down_stops_daemon
tcase down_refused           case_down_refused

tcase check_good             case_check_good bin
tcase check_warnings         case_check_warnings bin
BAD_DIR="$BH_SRC_ROOT/tests/unit/bad"
if [ -r "$BAD_DIR/expect.txt" ] && compgen -G "$BAD_DIR/*.json" >/dev/null; then
	for f in "$BAD_DIR"/*.json; do
		BAD_FILE=$(basename "$f")
		tcase "check_bad:$BAD_FILE" case_check_bad bin
	done
	tcase check_bad_expect_orphans case_check_bad_orphans bin
else
	tcase check_bad_examples case_check_bad_missing bin
fi

bh_finish
