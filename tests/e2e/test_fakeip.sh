#!/usr/bin/env bash
# dns.fake-ip, tun mode (TCP, UDP, IPv6 pool) and redirect mode (TCP), through ss-server:
# A/AAAA answers for proxied names come from the pool (198.19.0.0/16 by default), and a
# connection to a pool address is opened at the proxy by the NAME, which ss-server then
# resolves itself (its namespace's resolv.conf names the foreign unbound). Names that are
# domestic (split: the domestic answer is inside the CN list) or in bypass-domains keep
# their real addresses; proxy-domains are faked without asking the domestic resolver.
#
#   client ns $NC                              server ns $NS
#   +---------------------------------+        +------------------------------------------+
#   | snet-tun (tun st$ID | redirect) |        | ss-server -u -v 198.18.0.2:8388           |
#   |   dns.listen 127.0.0.1:1153     |  veth  |   logs "connect to NAME:PORT"; resolves   |
#   |   fake-ip 198.19.0.0/16         |--------|   names via /etc/netns/$NS/resolv.conf -> |
#   |   (+ fd00:fa4e::/96 in run 2)   |        |   198.18.3.53                             |
#   | dig, peer.py, domains-probe.py  |        | dnsmasq 198.18.0.53 DOMESTIC: *.far.test  |
#   | 198.18.0.1/24, fd00::1/64       |        |   poisoned (198.18.6.66), www.home.test   |
#   | main: default via the server    |        |   198.18.5.10 (in the CN list)            |
#   |   (redirect mode: the pool must |        | unbound 198.18.3.53 FOREIGN (lo): web/udp |
#   |   be routable to be captured)   |        |   .far.test -> 198.18.1.2, www.prox.test  |
#   +---------------------------------+        |   -> 198.18.21.20                         |
#                                              | peer.py 198.18.1.2:9000, 198.18.21.20:9000|
#                                              | UDP echo 198.18.1.2:9001                  |
#                                              +------------------------------------------+
TUN_MODE=1
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/e2e/rules/domains-common.sh"
net_up || { fail fakeip-netns "cannot create namespaces"; exit 1; }
dom_up >"$T/up.out" 2>&1 || { fail fakeip-resolvers "$(tail -n 3 "$T/up.out" | tr '\n' ' ')"; exit 1; }
start_target || { fail fakeip-target "peer.py did not listen"; exit 1; }
start_peers 198.18.21.20 >"$T/peers.out" 2>&1 || { fail fakeip-targets "$(tail -n 3 "$T/peers.out")"; exit 1; }
bg udpecho ns $PEER udpecho $TARGET4 9001
default_routes || { fail fakeip-routes "cannot add the default routes"; exit 1; }

RULES="  scope: bypass-cn
  cn-cidr-file: $CN
  bypass-domains: [direct.test]
  proxy-domains: [prox.test]"
FAKE="  fake-ip:
    enable: true"

# pooled OUT CIDR: NOERROR, exactly one address, a host address of CIDR, TTL 1..10.
pooled() {
	local a t
	[ "$(st_of "$1")" = NOERROR ] || { echo "status $(st_of "$1")"; return 1; }
	a=$(addr_of "$1") || { echo "want one address, got [$(rrs_of "$1" | tr '\n' ' ')]"; return 1; }
	$PROBE inrange "$a" "$2" || return 1
	t=$(ttl_of "$1")
	[ "$t" -ge 1 ] && [ "$t" -le 10 ] || { echo "TTL $t, want 1..10 (fake answers live 10 s)"; return 1; }
	echo "$a"
}
c_counts() { # NAME TYPE DOMESTIC FOREIGN: queries each upstream saw
	settle
	[ "$(dcount "$1" "$2"):$(fcount "$1" "$2")" = "$3:$4" ] ||
		{ echo "$1 $2: the domestic resolver saw $(dcount "$1" "$2"), the foreign one $(fcount "$1" "$2"); want $3 and $4"; return 1; }
}
c_same() { # OUT WANT
	local a
	a=$(addr_of "$1")
	[ -n "$2" ] && [ "$a" = "$2" ] || { echo "got [$(rrs_of "$1" | tr '\n' ' ')], want A $2"; return 1; }
}
c_distinct() { [ -n "$1" ] && [ -n "$2" ] && [ "$1" != "$2" ] || { echo "addresses '$1' and '$2'"; return 1; }; }
resolve() { local o; o=$(Q "$1" "$2"); expect "$o" NOERROR "$2 $3"; }
c_real() { # NAME ADDR DOMESTIC FOREIGN
	resolve "$1" A "$2" && c_counts "$1" A "$3" "$4"
}
# by_name FAKE NAME PORT WANT-WHO: a TCP connection to FAKE:PORT reached the target (who
# = WANT-WHO) and ss-server was asked for NAME:PORT, one more time than before.
by_name() {
	local n0 n1 who
	n0=$(ss_log | grep -c "connect to $2:$3")
	who=$(in_nc timeout 10 $PEER who "$1" "$3" 2>&1) || { echo "who $1 failed: $who"; return 1; }
	[ "$who" = "$4" ] || { echo "the target saw $who, want $4 (ss-server in the server ns)"; return 1; }
	sleep 0.2
	n1=$(ss_log | grep -c "connect to $2:$3")
	[ "$n1" -gt "$n0" ] || { echo "ss-server logged no 'connect to $2:$3' ($n0 before, $n1 after): $(ss_log | grep 'connect to' | tail -n 2 | tr '\n' '|')"; return 1; }
}
# The foreign resolver was asked about NAME only by ss-server's own lookup: snet-tun
# opened no tunnelled connection to it (ss-server would log "connect to 198.18.3.53:53").
c_resolved_by_proxy() {
	settle
	[ "$(fcount "$1" A)" -ge 1 ] || { echo "the foreign resolver never saw $1 A: ss-server did not resolve it there"; return 1; }
	! ss_log | grep -E 'connect to 198\.18\.3\.53:53' >/dev/null ||
		{ echo "snet-tun sent DNS through the proxy: $(ss_log | grep -c 'connect to 198.18.3.53:53') connections to 198.18.3.53:53"; return 1; }
}
# refused_now HOST PORT: the connection fails with an error (refused, reset or closed),
# not by the probe's own timeout; how long that took is not judged.
refused_now() {
	local o rc
	o=$(in_nc timeout 10 $PROBE tcp "$1" "$2" 3)
	rc=$?
	[ $rc -ne 0 ] || { echo "connected: $o"; return 1; }
	case $o in refused* | reset* | closed*) ;; *) echo "want refused/reset/closed, got: $o"; return 1 ;; esac
	kill -0 "$SNET_PID" 2>/dev/null || { echo "snet-tun died"; return 1; }
	echo "$o"
}
c_udp_echo() { # HOST PORT NAME
	local o n0 n1
	n0=$(ss_log | grep -ciE "$3")
	o=$(in_nc timeout 10 $PROBE udp "$1" "$2" 3) || { echo "no echo: $o"; return 1; }
	sleep 0.2
	n1=$(ss_log | grep -ciE "$3")
	[ "$n1" -gt "$n0" ] || { echo "echo came back ($o), but ss-server's log never names $3: $(ss_log | grep -i udp | tail -n 2 | tr '\n' '|')"; return 1; }
}
c_nodata() { # NAME TYPE
	local o
	o=$(Q "$1" "$2")
	[ "$(st_of "$o")" = NOERROR ] && [ "$(count_of "$o")" = 0 ] ||
		{ echo "want NOERROR without answers, got $(st_of "$o") [$(rrs_of "$o" | tr '\n' ' ')]"; return 1; }
}
c_log_refused() {
	grep -q 'fake-IP address that no name has now' "$T/snet-$1.log" ||
		{ echo "no log line for the refused pool address: $(tail -n 2 "$T/snet-$1.log" | tr '\n' '|')"; return 1; }
}

# --- run 1: tun mode, IPv4 pool only ---------------------------------------------------
N=fk-tun
dom_config $N tun "$RULES" "$FAKE"
if start_snet $N; then
	pass tun-ready
	O=$(Q web.far.test A)
	check tun-foreign-name-gets-pool-address pooled "$O" 198.19.0.0/16
	FWEB=$(addr_of "$O")
	check tun-foreign-name-domestic-asked-foreign-not c_counts web.far.test A 1 0
	check tun-same-name-other-case-same-address c_same "$(Q WEB.Far.TEST A)" "$FWEB"
	check tun-domestic-name-real-address c_real www.home.test 198.18.5.10 1 0
	check tun-bypass-domain-real-address c_real www.direct.test 198.18.20.10 1 0
	O=$(Q www.prox.test A)
	check tun-proxy-domain-gets-pool-address pooled "$O" 198.19.0.0/16
	FPROX=$(addr_of "$O")
	check tun-proxy-domain-no-upstream-asked c_counts www.prox.test A 0 0
	check tun-pool-addresses-distinct c_distinct "$FWEB" "$FPROX"
	check tun-tcp-opened-by-name by_name "$FWEB" web.far.test $TPORT $TARGET4
	check tun-name-resolved-by-proxy-not-snet c_resolved_by_proxy web.far.test
	check tun-tcp-by-name-get-1MB in_nc timeout 30 $PEER get "$FWEB" $TPORT 1000000
	check tun-proxy-domain-tcp-by-name by_name "$FPROX" www.prox.test $TPORT 198.18.21.20
	FUDP=$(addr_of "$(Q udp.far.test A)")
	check tun-udp-name-gets-pool-address $PROBE inrange "${FUDP:-none}" 198.19.0.0/16
	check tun-udp-opened-by-name c_udp_echo "${FUDP:-198.19.255.253}" 9001 'udp\] cache miss: udp\.far\.test:9001 '
	check tun-unassigned-pool-address-refused refused_now 198.19.255.254 $TPORT
	check tun-unassigned-pool-address-logged c_log_refused $N
	c_udp_unassigned() {
		local o
		o=$(in_nc timeout 10 $PROBE udp 198.19.255.254 9001 1)
		case $o in timeout* | refused*) ;; *) echo "want no echo, got: $o"; return 1 ;; esac
		kill -0 "$SNET_PID" || { echo "snet-tun died"; return 1; }
	}
	check tun-unassigned-pool-address-udp-no-echo c_udp_unassigned
	check tun-aaaa-without-range6-nodata c_nodata web.far.test AAAA
	check tun-sighup-reloaded hup $N
	check tun-sighup-same-address c_same "$(Q web.far.test A)" "$FWEB"
	check tun-sighup-same-address-proxy-domain c_same "$(Q www.prox.test A)" "$FPROX"
	check tun-after-sighup-tcp-by-name by_name "$FWEB" web.far.test $TPORT $TARGET4
	check tun-still-running kill -0 "$SNET_PID"
	check_exit tun-sigterm-exit-0 $N
else
	fail tun-ready "no ready line: $(tail -n 3 "$T/snet-$N.log" | tr '\n' ' ')"
	stop_pid "$SNET_PID"
fi

# --- run 2: tun mode with an IPv6 pool -------------------------------------------------
N=fk-tun6
dom_config $N tun "$RULES" "$FAKE
    range6: fd00:fa4e::/96"
if start_snet $N; then
	pass tun6-ready
	O=$(Q web3.far.test AAAA)
	check tun6-aaaa-gets-pool6-address pooled "$O" fd00:fa4e::/96
	F6=$(addr_of "$O")
	check tun6-a-gets-pool-address pooled "$(Q web3.far.test A)" 198.19.0.0/16
	check tun6-aaaa-no-foreign-query c_counts web3.far.test AAAA 1 0
	check tun6-tcp-over-ipv6-opened-by-name by_name "${F6:-fd00:fa4e::ffff}" web3.far.test $TPORT $TARGET4
	check tun6-unassigned-pool6-address-refused refused_now fd00:fa4e::fffe $TPORT
	check_exit tun6-sigterm-exit-0 $N
else
	fail tun6-ready "no ready line: $(tail -n 3 "$T/snet-$N.log" | tr '\n' ' ')"
	stop_pid "$SNET_PID"
fi

# --- run 3: redirect mode, TCP ----------------------------------------------------------
N=fk-rd
dom_config $N redirect "$RULES" "$FAKE"
if start_snet $N; then
	pass redirect-ready
	O=$(Q web4.far.test A)
	check redirect-foreign-name-gets-pool-address pooled "$O" 198.19.0.0/16
	FR=$(addr_of "$O")
	check redirect-domestic-name-real-address resolve www.home.test A 198.18.5.10
	check redirect-tcp-opened-by-name by_name "${FR:-198.19.255.253}" web4.far.test $TPORT $TARGET4
	check redirect-name-resolved-by-proxy-not-snet c_resolved_by_proxy web4.far.test
	check redirect-unassigned-pool-address-refused refused_now 198.19.255.254 $TPORT
	check redirect-unassigned-pool-address-logged c_log_refused $N
	check redirect-sighup-reloaded hup $N
	check redirect-sighup-same-address c_same "$(Q web4.far.test A)" "$FR"
	check redirect-still-running kill -0 "$SNET_PID"
	check_exit redirect-sigterm-exit-0 $N
else
	fail redirect-ready "no ready line: $(tail -n 3 "$T/snet-$N.log" | tr '\n' ' ')"
	stop_pid "$SNET_PID"
fi
finish
