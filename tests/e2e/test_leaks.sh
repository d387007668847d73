#!/usr/bin/env bash
# Leak-freedom, the auditor's way, in redirect mode and in tun mode: tcpdump records every
# packet on the client namespace's veth during a mixed workload (TCP, DNS to an arbitrary
# resolver address and to dns.listen, UDP, IPv6 TCP/UDP/DNS, ICMP to a foreign address,
# bypassed destinations, proxy-domains inside a bypass network), and each packet that
# leaves must go to the proxy (198.18.0.2:8388, TCP or UDP), to the domestic resolver
# (198.18.0.53:53), or to a bypassed destination (bypass-cidrs 198.18.30.0/24,
# fd00:30::/64, and the bypass-domains address 198.18.20.10 once learned) -- ARP, NDP and
# link-local multicast aside. Then ss-server is killed and the workload repeated: the
# captured connections fail and still nothing else leaves (the kill switch).
# Redirect mode also: UDP to a non-DNS port goes through the proxy's UDP relay (TPROXY),
# never around it; with the upstream down it gets no echo; with
# rules.block-uncaptured: false and the upstream down it still goes to the relay (UDP is
# captured now), so no UDP leaves directly, while ICMP does;
# IPv6 TCP is reset when no IPv6 listener could be opened. The up/down audit runs again
# with redirect.method: tproxy (TCP through TPROXY, no NAT), once with TPROXY's policy
# rule deleted under it: nothing leaves (the tproxy_guard chain). Tun mode also: IPv6 with
# tun.address6 goes into the tun; IPv6 without tun.address6 is blocked (SKIPPED while
# tun/netlink.c has no block_ipv6). In both of those IPv6-less setups a proxy-domains
# IPv6 address inside a bypass network (it cannot be proxied) must not go out directly.
#
#   client ns $NC                                 server ns $NS
#   +-----------------------------------+         +-----------------------------------------+
#   | snet-tun (redirect | tun st$ID)   |         | ss-server 198.18.0.2:8388 TCP+UDP       |
#   | workload: peer.py, dig, ping,     |  veth   |   (killed by PID half-way)              |
#   |   domains-probe.py udp/tcp        |=========| dnsmasq 198.18.0.53 DOMESTIC            |
#   | tcpdump -i vc$ID -w FILE ---------|-- every | unbound 198.18.3.53 FOREIGN (lo)        |
#   | 198.18.0.1/24, fd00::1/64         |  packet | peer.py 198.18.1.2 fd00:1::2 :9000      |
#   | main: default via 198.18.0.2 and  |         |   + UDP echo :9001 (foreign targets)    |
#   |   fd00::2: whatever escapes the   |         | peer.py 198.18.30.3 fd00:30::3 :9000    |
#   |   capture shows up on the veth    |         |   (bypass-cidrs), 198.18.20.10          |
#   +-----------------------------------+         |   (bypass-domains), 198.18.21.20        |
#                                                 |   (proxy-domains, inside the CN list)   |
#                                                 +-----------------------------------------+
TUN_MODE=1
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/e2e/rules/domains-common.sh"
net_up || { fail leaks-netns "cannot create namespaces"; exit 1; }
dom_up >"$T/up.out" 2>&1 || { fail leaks-resolvers "$(tail -n 3 "$T/up.out" | tr '\n' ' ')"; exit 1; }
start_target || { fail leaks-target "peer.py did not listen"; exit 1; }
start_peers 198.18.30.3 fd00:30::3 198.18.20.10 198.18.21.20 fd00:21::20 >"$T/peers.out" 2>&1 ||
	{ fail leaks-targets "$(tail -n 3 "$T/peers.out")"; exit 1; }
bg udpecho4 ns $PEER udpecho $TARGET4 9001
bg udpecho6 ns $PEER udpecho $TARGET6 9001
default_routes || { fail leaks-routes "cannot add the default routes"; exit 1; }
MAC=$(in_nc cat "/sys/class/net/vc$ID/address")

RULES="  scope: bypass-cn
  cn-cidr-file: $CN
  bypass-cidrs: [198.18.30.0/24, fd00:30::/64]
  bypass-domains: [direct.test]
  proxy-domains: [prox.test]"

# ---- the capture ------------------------------------------------------------------------
# What leaves the client namespace: sent from its veth's MAC.
OUT="ether src $MAC"
NOISE="arp or (ip6 and ip6[6] == 58 and ip6[40] >= 133 and ip6[40] <= 137) or dst net ff02::/16 or dst net 224.0.0.0/24"
# (An ICMP error to the proxy or the resolver -- a late answer to a closed port -- is no leak.)
ALLOWED="(dst host 198.18.0.2 and (tcp or udp) and dst port 8388) or (dst host 198.18.0.53 and (tcp or udp) and dst port 53) or (icmp[0] == 3 and (dst host 198.18.0.2 or dst host 198.18.0.53)) or dst net 198.18.30.0/24 or dst net fd00:30::/64 or dst host 198.18.20.10"

cap_start() { # TAG
	CAP=$T/cap-$1.pcap
	bg "tcpdump-$1" nc tcpdump -i "vc$ID" -n -U --immediate-mode -Z root -w "$CAP"
	TCPDUMP_PID=$LAST_PID
	wait_log "$T/tcpdump-$1.log" "listening on" 5 || { fail "$1-capture-started" "$(tail -n 2 "$T/tcpdump-$1.log" | tr '\n' ' ')"; return 1; }
}
cap_stop() {
	sleep 0.5
	stop_pid "$TCPDUMP_PID"
}
pkts() { # FILTER: the captured packets matching FILTER, one a line
	tcpdump -r "$CAP" -n -nn "$1" 2>/dev/null
}
# every packet that left went somewhere allowed
c_no_leak() {
	local l
	l=$(pkts "$OUT and not ($NOISE) and not ($ALLOWED)")
	[ -z "$l" ] || { echo "$(grep -c . <<<"$l") packet(s) left for elsewhere, first: $(head -n 4 <<<"$l" | tr '\n' '|')"; return 1; }
	echo "$(pkts "$OUT" | grep -c .) packets out, all allowed"
}
c_sent_to() { # FILTER WHAT: at least one packet that left matches FILTER
	local n
	n=$(pkts "$OUT and ($1)" | grep -c .)
	[ "$n" -gt 0 ] || { echo "no packet to $2 captured (the workload did not run, or the capture missed it)"; return 1; }
	echo "$n packets to $2"
}
c_none_to() { # FILTER WHAT
	local l
	l=$(pkts "$OUT and ($1)")
	[ -z "$l" ] || { echo "packets to $2 left: $(head -n 3 <<<"$l" | tr '\n' '|')"; return 1; }
}
# DNS questions seen in packets to the domestic resolver
c_domestic_asked() { # NAME: some query for NAME went to the domestic resolver
	pkts "$OUT and dst host 198.18.0.53 and port 53" | grep -iF "? $1." >/dev/null ||
		{ echo "no query for $1 to 198.18.0.53 on the wire"; return 1; }
}
c_domestic_not_asked() { # NAME
	local l
	l=$(pkts "$OUT and dst host 198.18.0.53 and port 53" | grep -iF "$1")
	[ -z "$l" ] || { echo "a query for $1 went to the domestic resolver: $(head -n 1 <<<"$l")"; return 1; }
}

# ---- the workload -----------------------------------------------------------------------
# step NAME CMD...: runs CMD (bounded), its output and status into $T/wl-$WL.NAME.
step() {
	local f=$T/wl-$WL.$1
	shift
	"$@" >"$f" 2>&1
	echo "rc=$?" >>"$f"
}
out_of() { sed '$d' "$T/wl-$WL.$1"; }
rc_of() { tail -n 1 "$T/wl-$WL.$1" | sed 's/^rc=//'; }
# workload SUFFIX: SUFFIX makes the foreign names fresh (not cached) after the kill.
workload() {
	local s=$1
	step get4 in_nc timeout 15 $PEER get $TARGET4 $TPORT 300000
	step who4 in_nc timeout 10 $PEER who $TARGET4 $TPORT
	step who6 in_nc timeout 10 $PEER who $TARGET6 $TPORT
	step dns4 DIG @198.18.77.77 "web$s.far.test" A
	step dns6 DIG @fd00:77::77 "six$s.far.test" AAAA
	step home Q www.home.test A
	step direct DIG @198.18.77.77 www.direct.test A
	step prox Q www.prox.test A
	step udp4 in_nc timeout 10 $PROBE udp $TARGET4 9001 2
	step udp6 in_nc timeout 10 $PROBE udp $TARGET6 9001 2
	step ping4 in_nc timeout 5 ping -n -c 1 -W 1 198.18.99.99
	step ping6 in_nc timeout 5 ping -6 -n -c 1 -W 1 fd00:99::99
	step byp4 in_nc timeout 10 $PEER who 198.18.30.3 $TPORT
	step byp6 in_nc timeout 10 $PEER who fd00:30::3 $TPORT
	step bypdom in_nc timeout 10 $PEER who 198.18.20.10 $TPORT
	step proxdom in_nc timeout 10 $PEER who 198.18.21.20 $TPORT
	# The machine's resolver on its own LAN (the domestic one, 198.18.0.53 on the veth's
	# subnet, which main routes directly), asked for a proxy-domains name: intercepted
	# like any query, so answered by the foreign side and never seen on the wire asking
	# the domestic resolver for prox.test. UDP and TCP; IPv6 to an address on the LAN
	# where nothing answers unless snet-tun does.
	step lan4 DIG @198.18.0.53 "lan$s.prox.test" A
	step lan4t DIG +tcp @198.18.0.53 "lan$s.prox.test" A
	step lan6 DIG @fd00::53 "six$s.far.test" AAAA
}
want_ok() { [ "$(rc_of "$1")" = 0 ] || { echo "$1 failed: $(out_of "$1" | tail -n 2 | tr '\n' ' ')"; return 1; }; }
want_fail() { [ "$(rc_of "$1")" != 0 ] || { echo "$1 succeeded: $(out_of "$1" | tail -n 2 | tr '\n' ' ')"; return 1; }; }
want_who() { # STEP ADDR
	want_ok "$1" && [ "$(out_of "$1")" = "$2" ] || { echo "$1: target saw '$(out_of "$1" | tail -n 1)', want $2"; return 1; }
}
want_dig() { expect "$(out_of "$1")" NOERROR "$2"; }
# want_not_foreign STEP FALLBACK: the foreign resolver's answer could not be had (the
# proxy is down): no answer, or -- split's documented fallback when every foreign
# resolver failed -- the domestic resolver's (poisoned) FALLBACK.
want_not_foreign() {
	local o
	o=$(out_of "$1")
	[ "$(st_of "$o")" != NOERROR ] || [ "$(count_of "$o")" = 0 ] || [ "$(rrs_of "$o")" = "$2" ] ||
		{ echo "$1 answered: $(rrs_of "$o" | tr '\n' ' ') (want no answer or the domestic fallback $2)"; return 1; }
}
# want_probe STEP PATTERN: the probe's outcome (refused, reset, timeout, echo...) matches.
# "refused" means an error came back (not a silent drop); how long it took is not judged.
want_probe() {
	local o
	o=$(out_of "$1")
	[[ $o =~ ^$2 ]] || { echo "$1: '$o', want $2"; return 1; }
}

# The checks common to every capture: TAG PHASE(up|down)
audit() {
	local t=$1
	check "$t-no-packet-elsewhere" c_no_leak
	check "$t-sent-to-proxy" c_sent_to "dst host 198.18.0.2 and dst port 8388" "the proxy"
	check "$t-sent-to-domestic" c_sent_to "dst host 198.18.0.53 and dst port 53" "the domestic resolver"
	check "$t-bypass-cidr-sent-directly" c_sent_to "dst host 198.18.30.3 or dst host fd00:30::3" "the bypass-cidrs targets"
	check "$t-no-packet-to-foreign-targets" c_none_to "host $TARGET4 or host $TARGET6 or host 198.18.3.53 or host 198.18.21.20" "the foreign targets/resolver or the proxy-domains target"
	check "$t-no-icmp-echo-out" c_none_to "(icmp and icmp[0] == 8) or (ip6 and ip6[6] == 58 and ip6[40] == 128)" "anyone (ICMP echo)"
	check "$t-proxy-domain-not-asked-domestic" c_domestic_not_asked prox.test
}

# ---- redirect mode ----------------------------------------------------------------------
# capture_audit METHOD P W: redirect mode with redirect.method METHOD, checks named P-...,
# workload files W-...: the audit with the upstream up, then with it killed (the kill
# switch). TPROXY leaves TCP's addresses alone (no NAT), so what keeps a captured
# connection from leaving directly is the mark and its policy route, checked here too.
# no_policy_route P W: TPROXY's policy rule (5190, fwmark 0x534f) deleted under the running
# instance: the marked connections would be routed out directly, past the kill switch
# (which lets the mark pass); the tproxy_guard chain drops them instead. Restored after.
no_policy_route() {
	local P=$1 W=$2 f
	for f in -4 -6; do in_nc ip $f rule del pref 5190; done
	WL=$W-norule
	if cap_start $W-norule; then
		step who4 in_nc timeout 10 $PEER who $TARGET4 $TPORT
		step who6 in_nc timeout 10 $PEER who $TARGET6 $TPORT
		cap_stop
		check $P-norule-tcp-ipv4-fails want_fail who4
		check $P-norule-tcp-ipv6-fails want_fail who6
		check $P-norule-no-packet-elsewhere c_no_leak
		check $P-norule-no-packet-to-targets c_none_to "host $TARGET4 or host $TARGET6" "the targets"
		check $P-norule-guard-dropped eval 'in_nc nft list chain inet snet_tun tproxy_guard | grep -Ec "packets [1-9]" >/dev/null || { echo "tproxy_guard dropped nothing"; false; }'
	fi
	for f in -4 -6; do in_nc ip $f rule add pref 5190 fwmark 0x534f lookup 21330; done
}
capture_audit() {
	local P=$2 W=$3
	N=lk-$W
	REDIRECT_METHOD=$1 dom_config $N redirect "$RULES" ""
	if start_snet $N; then
		pass $P-ready
		WL=$W-up
		if cap_start $W-up; then
			workload ""
			cap_stop
			audit $P-up
			check $P-up-bypass-domain-asked-domestic c_domestic_asked www.direct.test
			check $P-up-bypass-domain-not-asked-foreign eval '[ "$(fcount www.direct.test A)" = 0 ] || { echo "foreign resolver asked"; false; }'
			check $P-up-tcp-ipv4-get-via-proxy want_ok get4
			check $P-up-tcp-ipv4-via-proxy want_who who4 $TARGET4
			check $P-up-tcp-ipv6-via-proxy want_who who6 $TARGET6
			check $P-up-dns-intercepted-ipv4 want_dig dns4 "A 198.18.1.2"
			check $P-up-dns-intercepted-ipv6 want_dig dns6 "AAAA fd00:1::2"
			check $P-up-dns-domestic-name want_dig home "A 198.18.5.10"
			check $P-up-dns-bypass-name want_dig direct "A 198.18.20.10"
			check $P-up-dns-proxy-domain want_dig prox "A 198.18.21.20"
			check $P-up-udp-ipv4-via-proxy want_probe udp4 echo
			check $P-up-udp-ipv6-via-proxy want_probe udp6 echo
			check $P-up-udp-relayed-by-ss-server eval 'ss_log | grep -E "cache miss: \[?fd00:1::2\]?:9001|cache miss: 198\.18\.1\.2:9001" >/dev/null || { echo "ss-server relayed no UDP to the target"; false; }'
			check $P-up-ping4-blocked want_fail ping4
			check $P-up-ping6-blocked want_fail ping6
			check $P-up-bypass-cidr-direct-ipv4 want_who byp4 198.18.0.1
			check $P-up-bypass-cidr-direct-ipv6 want_who byp6 fd00::1
			check $P-up-bypass-domain-direct want_who bypdom 198.18.0.1
			check $P-up-proxy-domain-via-proxy want_who proxdom 198.18.21.20
			check $P-up-lan-resolver-intercepted-udp want_dig lan4 "A 198.18.21.23"
			check $P-up-lan-resolver-intercepted-tcp want_dig lan4t "A 198.18.21.23"
			check $P-up-lan-resolver-intercepted-ipv6 want_dig lan6 "AAAA fd00:1::2"
		fi
		[ "$1" = tproxy ] && no_policy_route "$P" "$W"
		# Kill the upstream: captured traffic fails, nothing goes out around it.
		stop_pid "$SS_PID"
		WL=$W-down
		if cap_start $W-down; then
			workload 2
			cap_stop
			audit $P-down
			check $P-down-tcp-ipv4-fails want_fail who4
			check $P-down-tcp-ipv4-get-fails want_fail get4
			check $P-down-tcp-ipv6-fails want_fail who6
			check $P-down-proxy-domain-fails want_fail proxdom
			check $P-down-foreign-dns-no-answer want_not_foreign dns4 "A 198.18.6.66"
			check $P-down-foreign-dns6-no-answer want_not_foreign dns6 "AAAA fd00:6::66"
			check $P-down-domestic-dns-still-answers want_dig home "A 198.18.5.10"
			check $P-down-udp-no-echo want_probe udp4 "(timeout|refused)"
			check $P-down-udp6-no-echo want_probe udp6 "(timeout|refused)"
			check $P-down-bypass-cidr-still-direct want_who byp4 198.18.0.1
			check $P-down-bypass-domain-still-direct want_who bypdom 198.18.0.1
			check $P-down-lan-resolver-no-answer want_not_foreign lan4 none
		fi
		check $P-still-running kill -0 "$SNET_PID"
		check_exit $P-sigterm-exit-0 $N
	else
		fail $P-ready "no ready line: $(tail -n 3 "$T/snet-$N.log" | tr '\n' ' ')"
		stop_pid "$SNET_PID"
	fi
}
capture_audit redirect redirect rd
# The same with TCP through TPROXY (ss-server was killed above).
start_ss >"$T/ss.out" 2>&1 || fail leaks-ss-restart-tproxy "$(tail -n 2 "$T/ss.out")"
capture_audit tproxy tproxy tp

# block-uncaptured: false (upstream still down): ICMP now leaves directly, which the audit
# sees; captured TCP and UDP (TPROXY) still fail rather than going direct.
N=lk-rd-open
dom_config $N redirect "$RULES
  block-uncaptured: false" ""
if start_snet $N; then
	pass redirect-open-ready
	check redirect-open-no-filter-chain eval '! in_nc nft list chain inet snet_tun filter >/dev/null 2>&1 || { echo "a filter chain is installed"; false; }'
	WL=rd-open
	if cap_start rd-open; then
		step udp4 in_nc timeout 10 $PROBE udp $TARGET4 9001 2
		step ping4 in_nc timeout 5 ping -n -c 1 -W 1 198.18.99.99
		step who4 in_nc timeout 10 $PEER who $TARGET4 $TPORT
		cap_stop
		check redirect-open-udp-captured-no-echo want_probe udp4 "(timeout|refused)"
		check redirect-open-no-udp-to-target c_none_to "udp and host $TARGET4" "the UDP target"
		check redirect-open-icmp-seen-leaving c_sent_to "icmp and dst host 198.18.99.99" "198.18.99.99 (ICMP)"
		check redirect-open-audit-flags-them eval '! c_no_leak >/dev/null || { echo "the audit found nothing to flag"; false; }'
		check redirect-open-tcp-still-no-fallback want_fail who4
		check redirect-open-no-tcp-to-target c_none_to "tcp and host $TARGET4" "the target over TCP"
	fi
	check_exit redirect-open-sigterm-exit-0 $N
else
	fail redirect-open-ready "no ready line: $(tail -n 3 "$T/snet-$N.log" | tr '\n' ' ')"
	stop_pid "$SNET_PID"
fi

# No IPv6 listener ([::1]:1111 is taken by another socket, so snet-tun cannot open its
# twin): IPv6 TCP is not redirected, and the filter chain resets it instead of letting
# it out.
start_ss >"$T/ss.out" 2>&1 || fail leaks-ss-restart "$(tail -n 2 "$T/ss.out")"
bg squat6 nc python3 -c 'import socket, time
s = socket.socket(socket.AF_INET6)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past the TIME_WAITs of earlier runs
s.bind(("::1", 1111))
s.listen()
time.sleep(60)'
SQUAT_PID=$LAST_PID
wait_port nc "[::1]" 1111 || fail redirect-nov6-squatter "[::1]:1111 is not taken: $(tail -n 2 "$T/squat6.log")"
N=lk-rd-nov6
dom_config $N redirect "$RULES" ""
if start_snet $N; then
	pass redirect-nov6-ready
	check redirect-nov6-no-ipv6-listener grep -q "IPv6 connections will not be redirected" "$T/snet-$N.log"
	WL=rd-nov6
	if cap_start rd-nov6; then
		step tcp6 in_nc timeout 10 $PROBE tcp $TARGET6 $TPORT 3
		step who4 in_nc timeout 10 $PEER who $TARGET4 $TPORT
		step byp6 in_nc timeout 10 $PEER who fd00:30::3 $TPORT
		# A proxy-domains IPv6 address inside a bypass network (the CN list): it cannot
		# be proxied now, and must not go out directly either.
		step prox6 Q www.prox.test AAAA
		step proxdom6 in_nc timeout 10 $PROBE tcp fd00:21::20 $TPORT 3
		cap_stop
		check redirect-nov6-ipv6-tcp-refused want_probe tcp6 "(refused|reset)"
		check redirect-nov6-ipv4-still-via-proxy want_who who4 $TARGET4
		check redirect-nov6-bypass-cidr-ipv6-still-direct want_who byp6 fd00::1
		check redirect-nov6-proxy-domain-ipv6-answer want_dig prox6 "AAAA fd00:21::20"
		check redirect-nov6-proxy-domain-ipv6-not-direct want_probe proxdom6 "(refused|reset|unreachable|timeout)"
		check redirect-nov6-no-packet-elsewhere c_no_leak
		check redirect-nov6-no-ipv6-to-target c_none_to "host $TARGET6 or host fd00:21::20" "$TARGET6 / fd00:21::20"
	fi
	check_exit redirect-nov6-sigterm-exit-0 $N
else
	fail redirect-nov6-ready "no ready line: $(tail -n 3 "$T/snet-$N.log" | tr '\n' ' ')"
	stop_pid "$SNET_PID"
fi
stop_pid "$SQUAT_PID"

# ---- tun mode ---------------------------------------------------------------------------
N=lk-tun
dom_config $N tun "$RULES" ""
if start_snet $N; then
	pass tun-ready
	WL=tun-up
	if cap_start tun-up; then
		workload ""
		cap_stop
		audit tun-up
		check tun-up-bypass-domain-asked-domestic c_domestic_asked www.direct.test
		check tun-up-tcp-ipv4-get-via-proxy want_ok get4
		check tun-up-tcp-ipv4-via-proxy want_who who4 $TARGET4
		check tun-up-tcp-ipv6-into-tun-via-proxy want_who who6 $TARGET6
		check tun-up-dns-intercepted-ipv4 want_dig dns4 "A 198.18.1.2"
		check tun-up-dns-intercepted-ipv6 want_dig dns6 "AAAA fd00:1::2"
		check tun-up-dns-bypass-name want_dig direct "A 198.18.20.10"
		check tun-up-udp-ipv4-via-proxy want_probe udp4 echo
		check tun-up-udp-ipv6-via-proxy want_probe udp6 echo
		check tun-up-udp-relayed-by-ss-server eval 'ss_log | grep -E "cache miss: \[?fd00:1::2\]?:9001|cache miss: 198\.18\.1\.2:9001" >/dev/null || { echo "ss-server relayed no UDP to the target"; false; }'
		check tun-up-bypass-cidr-direct-ipv4 want_who byp4 198.18.0.1
		check tun-up-bypass-cidr-direct-ipv6 want_who byp6 fd00::1
		check tun-up-bypass-domain-direct want_who bypdom 198.18.0.1
		check tun-up-proxy-domain-via-proxy want_who proxdom 198.18.21.20
		check tun-up-lan-resolver-intercepted-udp want_dig lan4 "A 198.18.21.23"
		check tun-up-lan-resolver-intercepted-tcp want_dig lan4t "A 198.18.21.23"
		check tun-up-lan-resolver-intercepted-ipv6 want_dig lan6 "AAAA fd00:1::2"
	fi
	stop_pid "$SS_PID"
	WL=tun-down
	if cap_start tun-down; then
		workload 2
		cap_stop
		audit tun-down
		check tun-down-tcp-ipv4-fails want_fail who4
		check tun-down-tcp-ipv6-fails want_fail who6
		check tun-down-proxy-domain-fails want_fail proxdom
		check tun-down-foreign-dns-no-answer want_not_foreign dns4 "A 198.18.6.66"
		check tun-down-udp-no-echo want_probe udp4 "(timeout|refused)"
		check tun-down-udp6-no-echo want_probe udp6 "(timeout|refused)"
		check tun-down-domestic-dns-still-answers want_dig home "A 198.18.5.10"
		check tun-down-bypass-cidr-still-direct want_who byp4 198.18.0.1
		check tun-down-lan-resolver-no-answer want_not_foreign lan4 none
	fi
	check tun-still-running kill -0 "$SNET_PID"
	check_exit tun-sigterm-exit-0 $N
else
	fail tun-ready "no ready line: $(tail -n 3 "$T/snet-$N.log" | tr '\n' ' ')"
	stop_pid "$SNET_PID"
fi

# Tun mode without tun.address6: IPv6 cannot enter the tun, so it is blocked rather than
# sent around it (and with block-uncaptured: false it does go around: the check can fail).
start_ss >"$T/ss.out" 2>&1 || fail leaks-ss-restart2 "$(tail -n 2 "$T/ss.out")"
N=lk-tun-nov6
dom_config $N tun "$RULES" "" '  address6: ""'
if start_snet $N; then
	pass tun-nov6-ready
	WL=tun-nov6
	if cap_start tun-nov6; then
		step tcp6 in_nc timeout 10 $PROBE tcp $TARGET6 $TPORT 3
		step udp6 in_nc timeout 10 $PROBE udp $TARGET6 9001 2
		step ping6 in_nc timeout 5 ping -6 -n -c 1 -W 1 fd00:99::99
		step who4 in_nc timeout 10 $PEER who $TARGET4 $TPORT
		step byp6 in_nc timeout 10 $PEER who fd00:30::3 $TPORT
		step prox6 Q www.prox.test AAAA
		step proxdom6 in_nc timeout 10 $PROBE tcp fd00:21::20 $TPORT 3
		cap_stop
		check tun-nov6-ipv6-tcp-fails want_probe tcp6 "(refused|reset|unreachable)"
		check tun-nov6-ipv6-udp-no-echo want_fail udp6
		check tun-nov6-ipv4-still-via-proxy want_who who4 $TARGET4
		check tun-nov6-bypass-cidr-ipv6-still-direct want_who byp6 fd00::1
		check tun-nov6-proxy-domain-ipv6-answer want_dig prox6 "AAAA fd00:21::20"
		check tun-nov6-proxy-domain-ipv6-not-direct want_probe proxdom6 "(refused|reset|unreachable|timeout)"
		check tun-nov6-ipv6-blocked c_none_to "ip6 and not ($NOISE) and not dst net fd00:30::/64" "anyone over IPv6 but the bypass-cidrs"
		check tun-nov6-no-packet-elsewhere c_no_leak
	fi
	check_exit tun-nov6-sigterm-exit-0 $N
else
	fail tun-nov6-ready "no ready line: $(tail -n 3 "$T/snet-$N.log" | tr '\n' ' ')"
	stop_pid "$SNET_PID"
fi
N=lk-tun-nov6-open
dom_config $N tun "$RULES
  block-uncaptured: false" "" '  address6: ""'
if start_snet $N; then
	pass tun-nov6-open-ready
	WL=tun-nov6-open
	if cap_start tun-nov6-open; then
		step who6 in_nc timeout 10 $PEER who $TARGET6 $TPORT
		cap_stop
		check tun-nov6-open-ipv6-leaves-directly want_who who6 fd00::1
		check tun-nov6-open-ipv6-seen-leaving c_sent_to "ip6 and dst host $TARGET6" "$TARGET6"
	fi
	check_exit tun-nov6-open-sigterm-exit-0 $N
else
	fail tun-nov6-open-ready "no ready line: $(tail -n 3 "$T/snet-$N.log" | tr '\n' ' ')"
	stop_pid "$SNET_PID"
fi

# ---- a crash: kill -9 fails closed, and the next start takes over -----------------------
# The upstream is up; snet-tun dies without a word. Until it is started again (or
# --cleanup runs) nothing it captured may leave around it: redirect mode keeps its nft
# table (which redirects to a listener that is gone), tun mode keeps its tun device
# (persistent while snet-tun runs) with its routes and rules, so what went into the tun
# goes nowhere. Bypassed destinations still go directly. A new start takes over the
# leftovers, captures again, and at exit leaves nothing behind.
crash_case() { # MODE TAG
	local m=$1 t=$2
	kill -0 "$SS_PID" 2>/dev/null || start_ss >"$T/ss.out" 2>&1 || fail "$t-crash-ss" "$(tail -n 2 "$T/ss.out")"
	N=lk-$t-crash
	dom_config $N "$m" "$RULES" ""
	if ! start_snet $N; then
		fail "$t-crash-ready" "no ready line: $(tail -n 3 "$T/snet-$N.log" | tr '\n' ' ')"
		stop_pid "$SNET_PID"
		return
	fi
	pass "$t-crash-ready"
	check "$t-crash-before-via-proxy" reached_via_proxy $TARGET4
	kill -KILL "$SNET_PID"
	wait "$SNET_PID" 2>/dev/null
	WL=$t-crash
	if cap_start "$t-crash"; then
		step who4 in_nc timeout 10 $PEER who $TARGET4 $TPORT
		step who6 in_nc timeout 10 $PEER who $TARGET6 $TPORT
		step dns4 DIG @198.18.77.77 web3.far.test A
		step lan4 DIG @198.18.0.53 lan2.prox.test A
		step udp4 in_nc timeout 10 $PROBE udp $TARGET4 9001 2
		step byp4 in_nc timeout 10 $PEER who 198.18.30.3 $TPORT
		cap_stop
		check "$t-crash-no-packet-elsewhere" c_no_leak
		check "$t-crash-no-packet-to-foreign-targets" c_none_to "host $TARGET4 or host $TARGET6 or host 198.18.3.53" "the foreign targets/resolver"
		check "$t-crash-lan-resolver-not-asked" c_domestic_not_asked lan2.prox.test
		check "$t-crash-tcp-ipv4-fails" want_fail who4
		check "$t-crash-tcp-ipv6-fails" want_fail who6
		check "$t-crash-dns-no-answer" want_not_foreign dns4 none
		check "$t-crash-udp-no-echo" want_probe udp4 "(timeout|refused|blocked|unreachable)"
		check "$t-crash-bypass-still-direct" want_who byp4 198.18.0.1
	fi
	if [ "$m" = tun ]; then
		check "$t-crash-device-kept" in_nc ip link show "st$ID"
	else
		check "$t-crash-table-kept" rules_present
	fi
	# The restart (what systemd's Restart= does) picks up where the dead one left off.
	if start_snet $N; then
		pass "$t-crash-restart-ready"
		[ "$m" = tun ] && check "$t-crash-restart-took-over" grep -q "took over the device and the routes" "$T/snet-$N.log"
		check "$t-crash-restart-via-proxy" reached_via_proxy $TARGET4
		check "$t-crash-restart-dns" eval 'o=$(DIG @198.18.0.53 lan2.prox.test A); expect "$o" NOERROR "A 198.18.21.23"'
		check_exit "$t-crash-restart-exit-0" $N
	else
		fail "$t-crash-restart-ready" "no ready line: $(tail -n 3 "$T/snet-$N.log" | tr '\n' ' ')"
		stop_pid "$SNET_PID"
	fi
	if [ "$m" = tun ]; then
		check "$t-crash-then-exit-device-gone" eval '! in_nc ip link show "st$ID" >/dev/null 2>&1 || { echo "st$ID is still there"; false; }'
		check "$t-crash-then-exit-rules-gone" eval '! routes_present || { echo "rules left: $(in_nc ip rule show | grep 2132)"; false; }'
	else
		check "$t-crash-then-exit-table-gone" eval '! rules_present || { echo "table inet snet_tun still there"; false; }'
	fi
}
crash_case redirect redirect
crash_case tun tun

finish
