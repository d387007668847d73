#!/usr/bin/env bash
# The gateway role (gateway: {enable, lan}) in both capture modes: a third namespace, a
# host on a LAN behind the client namespace, has its traffic carried by the snet-tun
# running there. Its TCP reaches the targets through the proxy (the target sees the
# server side, not the LAN host nor the gateway), IPv4 and IPv6; a bypassed destination
# (rules.bypass-cidrs) directly, masqueraded to the gateway's address in both modes; the
# gateway itself directly; DNS to any address is answered by snet-tun's resolver (a
# dns.hosts name, so no upstream is needed); its UDP goes through ss-server's UDP relay in
# both modes (redirect mode: TPROXY in prerouting, the echo's source the address the
# host sent to), and in redirect mode with proxy.udp: false the kill switch refuses it. A host on the same link
# outside gateway.lan is not served (no proxy, no resolver, refused by the LAN listener).
# Redirect mode runs twice: redirect.method redirect, then tproxy (the LAN's TCP, like the
# machine's own, TPROXYed in prerouting to the transparent listener instead of REDIRECTed).
# Forwarding is on while snet-tun runs and back to the value found after SIGTERM; every
# rule, route and nft table is gone after SIGTERM, and after kill -9 + --cleanup (which
# leaves forwarding as it is: it cannot know the old value).
#
#   LAN ns $NL               client ns $NC: the gateway        server ns $NS
#   +---------------------+   +-----------------------------+   +------------------------+
#   | 198.18.10.2/24      |   | vl$ID 198.18.10.1/24        |   | 198.18.0.2/24 fd00::2  |
#   | fd00:10::2/64       |---|       fd00:10::1/64         |   | ss-server :8388 (-u)   |
#   | 198.18.11.2/24: a   |   | vc$ID 198.18.0.1/24         |---| lo: 198.18.1.2         |
#   |  host outside lan   |   |       fd00::1/64            |   |     fd00:1::2 targets  |
#   | default via         |   | snet-tun, gateway.lan:      |   |     (:9000 TCP, :9001  |
#   |  198.18.10.1,       |   |  198.18.10.0/24 fd00:10::/64|   |      UDP echo)         |
#   |  fd00:10::1         |   | peer.py 198.18.10.1:9000    |   |     198.18.1.3 :9000   |
#   +---------------------+   +-----------------------------+   |      (bypassed)        |
#                                                               +------------------------+
# The server namespace has no route to 198.18.10.0/24 or 198.18.11.0/24: a connection
# from the LAN can reach a target only through the proxy or masqueraded. The gateway
# reaches the targets only with snet-tun's mark (lib.sh's table 100) except 198.18.1.3
# (a main route); in the redirect phase main also routes 198.18.1.0/24, so that what
# the kill switch refuses would otherwise get through. Nothing routes further: no packet
# leaves the machine. Forwarding is only ever changed inside the client namespace.
TUN_MODE=1
. "$(dirname "$0")/lib.sh"
NL=snl$ID
LANIF=vl$ID
gw_cleanup() {
	cleanup
	ip netns del "$NL" 2>/dev/null
}
trap gw_cleanup EXIT
in_nl() { ip netns exec "$NL" "$@"; }

net_up || { fail gw-netns "cannot create namespaces"; exit 1; }
lan_up() {
	ip netns add "$NL" || return 1
	ip link add "$LANIF" netns "$NC" type veth peer name "vh$ID" netns "$NL" || return 1
	in_nl ip link set lo up
	in_nl ip addr add 198.18.10.2/24 dev "vh$ID"
	in_nl ip addr add 198.18.11.2/24 dev "vh$ID"
	in_nl ip -6 addr add fd00:10::2/64 dev "vh$ID" nodad
	in_nc ip addr add 198.18.10.1/24 dev "$LANIF"
	in_nc ip -6 addr add fd00:10::1/64 dev "$LANIF" nodad
	in_nl ip link set "vh$ID" up
	in_nc ip link set "$LANIF" up
	in_nl ip route add default via 198.18.10.1 src 198.18.10.2
	in_nl ip -6 route add default via fd00:10::1
	# The outsider's replies go back on the link (it is not in gateway.lan).
	in_nc ip route add 198.18.11.0/24 dev "$LANIF"
	# The bypassed destination: reached through main, as bypassed traffic is.
	in_nc ip route add 198.18.1.3/32 via 198.18.0.2
	in_ns ip addr add 198.18.1.3/32 dev lo
}
lan_up || { fail gw-netns "cannot create the LAN namespace"; exit 1; }
start_target || { fail gw-target "peer server did not start"; exit 1; }
bg target-bypass ns $PEER server 198.18.1.3 $TPORT
bg udpecho ns $PEER udpecho 198.18.1.2 9001
bg udpecho6 ns $PEER udpecho $TARGET6 9001
bg gw-local nc $PEER server 198.18.10.1 $TPORT
PW=gw-secret-$ID
bg ss-server ns ss-server -s 198.18.0.2 -s ::0 -p 8388 -k "$PW" -m chacha20-ietf-poly1305 -u
for w in "ns 198.18.1.3" "ns 198.18.0.2 8388" "nc 198.18.10.1"; do
	set -- $w
	wait_port "$1" "$2" "${3:-$TPORT}" || { fail gw-peers "nothing listens on $2"; exit 1; }
done

# conf NAME MODE: $T/NAME.yaml, ss-server as the proxy, the gateway on for the LAN.
conf() {
	{
		printf 'mode: %s\nlog-level: %s\nproxy:\n  type: ss\n  server: 198.18.0.2\n' "$2" "${LOG_LEVEL:-info}"
		printf '  port: 8388\n  method: chacha20-ietf-poly1305\n  password: "%s"\n' "$PW"
		printf 'tun:\n  name: st%s\n  address: 198.18.255.1/30\n  address6: fd00:255::1/126\n' "$ID"
		printf 'redirect:\n  listen: 127.0.0.1:1111\n  method: %s\n' "${REDIRECT_METHOD:-redirect}"
		printf 'rules:\n  bypass-cidrs: [198.18.1.3/32]\n'
		printf 'dns:\n  enable: true\n  listen: 127.0.0.1:1153\n'
		printf '  hosts:\n    gw.test: [198.18.9.9, "fd00:9::9"]\n'
		printf 'gateway:\n  enable: true\n  lan: [198.18.10.0/24, "fd00:10::/64"]\n'
	} >"$T/$1.yaml"
}

# who_from NS SRC HOST PORT: the peer address the target saw (SRC "": any source).
who_from() {
	ip netns exec "$1" timeout 15 python3 -c '
import socket, sys
src, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
s.settimeout(5)
if src:
    s.bind((src, 0))
s.connect((host, port))
s.sendall(b"WHO\n")
print(s.recv(200).decode().strip())' "$2" "$3" "$4" 2>&1
}
# lan_via_proxy HOST: the LAN host's connection reached HOST through the proxy.
lan_via_proxy() {
	local who
	who=$(who_from "$NL" "" "$1" $TPORT) || { echo "who failed: $who"; return 1; }
	case $who in
	198.18.10.2 | fd00:10::2 | 198.18.11.2) echo "$1 saw the LAN host itself ($who): not captured"; return 1 ;;
	198.18.0.1 | fd00::1) echo "$1 saw the gateway ($who): forwarded around the proxy"; return 1 ;;
	198.18.0.2 | fd00::2 | 198.18.1.2 | fd00:1::2) return 0 ;;
	*) echo "unexpected answer: $who"; return 1 ;;
	esac
}
# who_is NS SRC HOST WANT: the target saw WANT.
who_is() {
	local who
	who=$(who_from "$1" "$2" "$3" $TPORT) || { echo "who failed: $who"; return 1; }
	[ "$who" = "$4" ] || { echo "$3 saw '$who', expected $4"; return 1; }
}
# outsider_not_served HOST: from 198.18.11.2 the connection never comes through the proxy
# (it fails: nothing routes it back, or it is refused).
outsider_not_served() {
	local who
	if who=$(who_from "$NL" 198.18.11.2 "$1" $TPORT); then
		echo "a host outside gateway.lan reached $1 (seen as $who)"
		return 1
	fi
	return 0
}
# dig_is SERVER NAME TYPE WANT [DIG OPTIONS...]: the answer's address, from the LAN host.
dig_is() {
	local out s=$1 q=$2 t=$3 want=$4
	shift 4
	out=$(in_nl dig +short +time=2 +tries=2 "$@" "@$s" "$q" "$t" 2>&1)
	[ "$out" = "$want" ] || { echo "dig $* @$s $q $t: '$out', expected $want"; return 1; }
}
# dig_unanswered SERVER [PORT]: the outsider gets no answer.
dig_unanswered() {
	local out
	if out=$(in_nl dig +short +time=2 +tries=1 -b 198.18.11.2 -p "${2:-53}" "@$1" gw.test A 2>&1) &&
		[ -n "$out" ] && [ "${out#*timed out}" = "$out" ]; then
		echo "answered a host outside gateway.lan: $out"
		return 1
	fi
	return 0
}
fwd() { in_nc cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv6/conf/all/forwarding | tr '\n' ' ' | sed 's/ $//'; }
# fwd_is "V4 V6"
fwd_is() { [ "$(fwd)" = "$1" ] || { echo "forwarding (ipv4 ipv6) is '$(fwd)', expected '$1'"; return 1; }; }
# Nothing of snet-tun's: rules at 5200..5204, routes in our two tables, the nft table.
gone() {
	local out
	out=$({ ip -n "$NC" rule show; ip -n "$NC" -6 rule show; } | grep -E '^520[0-4]:|^5190:|lookup 2132[67]|lookup 21330')
	[ -z "$out" ] || { echo "rules left: $out"; return 1; }
	out=$({ for t in 21326 21327 21330; do ip -n "$NC" route show table $t; ip -n "$NC" -6 route show table $t; done; } 2>/dev/null)
	[ -z "$out" ] || { echo "routes left: $out"; return 1; }
	! rules_present || { echo "table inet snet_tun still there"; return 1; }
}
present() {
	rules_present || { echo "no table inet snet_tun"; return 1; }
	[ "$1" = redirect ] || routes_present || { echo "no rule into our tables"; return 1; }
}

# phase MODE [METHOD]: the whole run for one capture mode (redirect mode with
# redirect.method METHOD, default $REDIRECT_METHOD or redirect).
phase() {
	local m=$1 n=gw-$1${2:+-$2}
	in_nc sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0
	REDIRECT_METHOD=${2:-${REDIRECT_METHOD:-redirect}} conf "$n" "$m"
	if ! start_snet "$n"; then
		fail "$n-ready" "no ready line: $(tail -n 3 "$T/snet-$n.log" | tr '\n' ' ')"
		stop_pid "$SNET_PID"
		return
	fi
	pass "$n-ready"
	check "$n-rules-present" present "$m"
	if [ "${2:-}" = tproxy ]; then # the LAN's TCP is TPROXYed in prerouting, not redirected
		check "$n-lan-tcp-tproxy-rules" eval 'in_nc nft list chain inet snet_tun lan_tcp | grep -c "tproxy ip to 127.0.0.1:1111" >/dev/null &&
			! in_nc nft list chain inet snet_tun lan_prerouting | grep -c "tcp redirect to :1111" >/dev/null'
	fi
	check "$n-forwarding-on" fwd_is "1 1"
	check "$n-lan-ipv4-through-proxy" lan_via_proxy $TARGET4
	check "$n-lan-ipv6-through-proxy" lan_via_proxy $TARGET6
	check "$n-lan-get-10MB-sha256" in_nl timeout 60 $PEER get $TARGET4 $TPORT 10000000
	check "$n-lan-bypass-direct-masqueraded" who_is "$NL" "" 198.18.1.3 198.18.0.1
	check "$n-lan-to-gateway-itself-direct" who_is "$NL" "" 198.18.10.1 198.18.10.2
	check "$n-lan-dns-any-address" dig_is 198.18.77.77 gw.test A 198.18.9.9
	check "$n-lan-dns-tcp" dig_is 198.18.77.77 gw.test A 198.18.9.9 +tcp
	check "$n-lan-dns-ipv6" dig_is fd00:77::77 gw.test AAAA fd00:9::9
	check "$n-outsider-not-through-proxy" outsider_not_served $TARGET4
	check "$n-outsider-no-dns" dig_unanswered 198.18.77.77
	if [ "$m" = redirect ]; then
		check "$n-lan-dns-gateway-address" dig_is 198.18.10.1 gw.test A 198.18.9.9
		check "$n-lan-served-at-listener" dig_is 198.18.10.1 gw.test A 198.18.9.9 -p 1153
		check "$n-lan-served-at-listener-tcp" dig_is 198.18.10.1 gw.test A 198.18.9.9 -p 1153 +tcp
		check "$n-outsider-no-dns-at-listener" dig_unanswered 198.18.10.1 1153
		who_from "$NL" 198.18.11.2 198.18.10.1 1111 >/dev/null 2>&1
		if wait_log "$T/snet-$n.log" "198.18.11.2:[0-9]* -> 0.0.0.0:1111: refused: the peer is outside gateway.lan" 5; then
			pass "$n-outsider-refused-at-listener"
		else
			fail "$n-outsider-refused-at-listener" "no refusal logged: $(tail -n 2 "$T/snet-$n.log" | tr '\n' ' ')"
		fi
		# The LAN's UDP: TPROXY in prerouting, through ss-server's UDP relay.
		local up0 up1
		up0=$(stat_of "$(snet_stats "$n")" udp-up)
		if out=$(in_nl timeout 60 $PEER udp $TARGET4 9001 500 1200 10 2>&1); then
			pass "$n-lan-udp-through-proxy ($out)"
		else
			fail "$n-lan-udp-through-proxy" "$out"
		fi
		up1=$(stat_of "$(snet_stats "$n")" udp-up)
		if [ $((${up1:-0} - ${up0:-0})) -ge 450 ]; then pass "$n-lan-udp-via-snet-tun (udp-up $up0 -> $up1)"
		else fail "$n-lan-udp-via-snet-tun" "udp-up $up0 -> $up1"; fi
		check "$n-lan-udp-echo-source" in_nl timeout 10 $PEER udpsrc $TARGET4 9001
		check "$n-lan-udp6-through-proxy" in_nl timeout 60 $PEER udp $TARGET6 9001 200 1200 10
		check "$n-lan-udp6-echo-source" in_nl timeout 10 $PEER udpsrc $TARGET6 9001
	else
		check "$n-lan-udp-through-proxy" in_nl timeout 60 $PEER udp $TARGET4 9001 50 1200 10
		# A reload swaps the routes and the LAN's rules with them.
		kill -HUP "$SNET_PID"
		if wait_log "$T/snet-$n.log" reloaded 10; then pass "$n-hup-reload"; else fail "$n-hup-reload" "no reloaded line"; fi
		check "$n-lan-through-proxy-after-reload" lan_via_proxy $TARGET4
		check "$n-outsider-not-served-after-reload" outsider_not_served $TARGET4
	fi
	check_exit "$n-sigterm-exit-0" "$n"
	check "$n-forwarding-restored" fwd_is "0 0"
	check "$n-all-gone-after-sigterm" gone
	# kill -9: everything left; --cleanup removes it and leaves forwarding as it is.
	if start_snet "$n"; then
		kill -KILL "$SNET_PID"
		wait "$SNET_PID" 2>/dev/null
		check "$n-left-after-kill-9" present "$m"
		check "$n-cleanup-exit-0" in_nc "$BIN" --cleanup -c "$T/$n.yaml"
		check "$n-all-gone-after-cleanup" gone
		check "$n-cleanup-leaves-forwarding" fwd_is "1 1"
	else
		fail "$n-restart" "no ready line: $(tail -n 3 "$T/snet-$n.log" | tr '\n' ' ')"
		stop_pid "$SNET_PID"
	fi
	in_nc sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0
}

in_nc ip route add 198.18.1.0/24 via 198.18.0.2
phase redirect
phase redirect tproxy
# proxy.udp: false: no TPROXY; the LAN's UDP is forwarded, and the kill switch refuses
# it though main routes it.
n=gw-redirect-noudp
conf $n redirect
sed -i 's/^  password: .*/&\n  udp: false/' "$T/$n.yaml"
in_nc sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0
if start_snet $n; then
	if out=$(in_nl timeout 20 $PEER udp $TARGET4 9001 5 100 0 2>&1); then
		fail "$n-lan-udp-refused-kill-switch" "UDP got through around the proxy: $out"
	else
		pass "$n-lan-udp-refused-kill-switch"
	fi
	check_exit "$n-sigterm-exit-0" $n
	check "$n-all-gone-after-sigterm" gone
else
	fail "$n-ready" "no ready line: $(tail -n 3 "$T/snet-$n.log" | tr '\n' ' ')"
	stop_pid "$SNET_PID"
fi
in_nc sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0
in_nc ip route del 198.18.1.0/24 via 198.18.0.2
phase tun

# Config errors: gateway.enable with an empty lan, a lan entry that is no CIDR.
printf 'mode: redirect\nproxy:\n  type: direct\ngateway:\n  enable: true\n  lan: []\n' >"$T/bad1.yaml"
out=$("$BIN" -c "$T/bad1.yaml" --check 2>&1)
case "$?:$out" in "1:$T/bad1.yaml:6:8: gateway.lan: at least one CIDR"*) pass gw-config-empty-lan ;; *) fail gw-config-empty-lan "$out" ;; esac
printf 'mode: redirect\nproxy:\n  type: direct\ngateway:\n  enable: true\n  lan: [eth0]\n' >"$T/bad2.yaml"
out=$("$BIN" -c "$T/bad2.yaml" --check 2>&1)
case "$?:$out" in "1:$T/bad2.yaml:6:9: "*"invalid CIDR 'eth0'"*) pass gw-config-bad-cidr ;; *) fail gw-config-bad-cidr "$out" ;; esac
finish
