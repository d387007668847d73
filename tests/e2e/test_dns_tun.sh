#!/usr/bin/env bash
# The DNS resolver in tun mode: queries to port 53 of any address routed into the tun
# (UDP and TCP, IPv4 and IPv6) are answered by snet-tun itself with the asked address as
# source; the domestic resolver is reached directly (marked sockets), the foreign one
# through ss-server. Same resolvers and zone data as test_dns.sh.
#
#   client ns $NC                              server ns $NS
#   +--------------------------------+         +-----------------------------------------+
#   | snet-tun (tun mode, st$ID,     |         | ss-server     198.18.0.2:8388           |
#   |   auto-route)                  |  veth   | dnsmasq       198.18.0.53:53 DOMESTIC   |
#   |   dns.listen 127.0.0.1:1153    |---------| unbound       198.18.3.53:53 FOREIGN    |
#   | dig @198.18.1.77 / fd00:1::77  |         |   (on lo, no route from $NC)            |
#   |   -> table 21326 -> the tun    |         | nothing listens at 198.18.1.77 or       |
#   | 198.18.0.1/24, fd00::1/64      |         |   fd00:1::77: only interception answers |
#   +--------------------------------+         +-----------------------------------------+
TUN_MODE=1
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/e2e/dns/common.sh"
net_up || { fail dnstun-netns "cannot create namespaces"; exit 1; }
# Not in a subshell: bg must record the PIDs in this shell for the cleanup.
dns_resolvers_up >"$T/resolvers.out" 2>&1 || { fail dnstun-resolvers "$(tail -n 3 "$T/resolvers.out" | tr '\n' ' ')"; exit 1; }

write_tun_config dnstun "$(ss_proxy)"
sed -i '/^dns:$/,$d' "$T/dnstun.yaml"
cat >>"$T/dnstun.yaml" <<EOF
rules:
  scope: global
  cn-cidr-file: $DNSDIR/cn.txt
dns:
  enable: true
  listen: 127.0.0.1:1153
  domestic: [198.18.0.53]
  foreign: [198.18.3.53]
  split: true
  prefetch: false
  query-log: $T/query-dnstun.log
  timeout: 5
EOF

if ! start_snet dnstun; then
	fail dnstun-ready "no ready line: $(tail -n 3 "$T/snet-dnstun.log" | tr '\n' ' ')"
	finish
	exit
fi
pass dnstun-ready
check dnstun-routes-present routes_present

c_listen() {
	local o
	o=$(Q www.for.test A); expect "$o" NOERROR "A 198.18.7.1" || return 1
	o=$(Q www.dom.test A); expect "$o" NOERROR "A 198.18.5.10"
}
check dnstun-listener-foreign-and-domestic c_listen

c_icpt() { # ADDR NAME TYPE WANT DIG-OPTS...
	local o a=$1 n=$2 t=$3 w=$4
	shift 4
	o=$(DIG "$@" @"$a" "$n" "$t"); expect "$o" NOERROR "$w" || return 1
	grep -q "SERVER: $a#53" <<<"$o" || { echo "reply not from $a#53: $(grep SERVER <<<"$o")"; return 1; }
}
check dnstun-intercept-udp4 c_icpt 198.18.1.77 icpt.for.test A "A 198.18.7.9"
check dnstun-intercept-tcp4 c_icpt 198.18.1.77 icpt.for.test A "A 198.18.7.9" +tcp
check dnstun-intercept-udp6 c_icpt fd00:1::77 icpt.for.test AAAA "AAAA fd00:7::9"
check dnstun-intercept-tcp6 c_icpt fd00:1::77 icpt.for.test AAAA "AAAA fd00:7::9" +tcp
check dnstun-intercept-domestic c_icpt 198.18.1.77 www.dom.test AAAA "AAAA fd00:5::10"
check dnstun-intercept-tcp-mx c_icpt 198.18.1.77 mx.for.test MX "MX 10 mail.for.test." +tcp
c_icpt_big() {
	local o
	o=$(DIG +tcp @198.18.1.77 big.for.test A)
	[ "$(st_of "$o")" = NOERROR ] && [ "$(rrs_of "$o" | sort -u | grep -c '^A 198\.18\.4\.')" = 100 ] ||
		{ echo "want 100 A records over TCP, got $(st_of "$o") $(count_of "$o")"; return 1; }
	o=$(DIG +notcp +ignore +bufsize=1232 @198.18.1.77 big.for.test A)
	[[ " $(flags_of "$o") " == *" tc "* ]] && [ "$(count_of "$o")" = 0 ] ||
		{ echo "over UDP want tc and 0 answers, got [$(flags_of "$o")] $(count_of "$o")"; return 1; }
}
check dnstun-intercept-truncation c_icpt_big

# One upstream query for all of that: the intercepted queries share the cache.
c_shared() {
	settle
	[ "$(fcount icpt.for.test A):$(fcount icpt.for.test AAAA)" = 1:1 ] ||
		{ echo "foreign saw $(fcount icpt.for.test A) A and $(fcount icpt.for.test AAAA) AAAA queries, want 1 and 1"; return 1; }
}
check dnstun-intercepted-share-cache c_shared
c_qlog() {
	sleep 0.3
	grep -qiE "Z [0-9.]+:[0-9]+ icpt\.for\.test\. A NOERROR (foreign|cache) " "$T/query-dnstun.log" ||
		{ echo "no query-log line for the intercepted query: $(tail -n 2 "$T/query-dnstun.log" | tr '\n' '|')"; return 1; }
}
check dnstun-intercept-logged c_qlog

check dnstun-still-running kill -0 "$SNET_PID"
check_exit dnstun-sigterm-exit-0 dnstun
if routes_present; then fail dnstun-routes-removed "policy rules still there"; else pass dnstun-routes-removed; fi
finish
