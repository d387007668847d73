#!/usr/bin/env bash
# Tun mode, UDP: datagrams routed into the tun become flows relayed through ss-server's
# UDP relay (-u), dante-server's UDP ASSOCIATE, or directly; 10 000 echoes of mixed sizes up to the MTU over IPv4 and
# IPv6 with the loss reported, replies carrying the original destination as source
# (the client's connected socket only accepts those), the flow bound, UDP switched off.
TUN_MODE=1
. "$(dirname "$0")/lib.sh"
net_up || { fail udp-netns "cannot create namespaces"; exit 1; }
bg udpecho4 ns $PEER udpecho $TARGET4 7000
bg udpecho6 ns $PEER udpecho $TARGET6 7000
PW=udp-secret-$ID
bg ss-server ns ss-server -s 198.18.0.2 -p 8388 -k "$PW" -m chacha20-ietf-poly1305 -u
wait_port ns 198.18.0.2 8388
N=${UDP_COUNT:-10000}
LOSS=${UDP_MAX_LOSS:-2}

udp_suite() { # NAME MAX4 MAX6 (MAX6 "-": IPv4 only)
	local n=$1
	if ! start_snet "$n"; then
		fail "$n-ready" "no ready line: $(tail -n 3 "$T/snet-$n.log" | tr '\n' ' ')"
		stop_pid "$SNET_PID"
		return 1
	fi
	pass "$n-ready"
	local out
	for fam in 4 6; do
		local host=$TARGET4 max=$2
		[ $fam = 6 ] && host=$TARGET6 max=$3
		[ "$max" = - ] && continue
		if out=$(in_nc timeout 150 $PEER udp $host 7000 "$N" "$max" "$LOSS" 2>&1); then
			pass "$n-udp$fam-echo-$N ($out)"
		else
			fail "$n-udp$fam-echo-$N" "$out"
		fi
	done
	return 0
}

write_tun_config udp-ss "$(ss_proxy)"
sed -i 's/^  auto-route: true/  auto-route: true\n  udp-timeout: 2\n  udp-max-flows: 64/' "$T/udp-ss.yaml"
# Sizes up to what fits the MTU. Through ss the datagram grows by the salt, the tag and
# the address header (32 + 16 + 7 bytes for IPv4, + 19 for IPv6), and ss-server sends
# its replies with DF set, failing (EMSGSIZE) on anything larger than the path MTU.
if udp_suite udp-ss $((1472 - 55)) $((1452 - 67)); then
	udp_eviction udp-ss
	check_exit udp-ss-sigterm-exit-0 udp-ss
fi

# dante-server: SOCKS5 UDP ASSOCIATE (a control connection per flow, then datagrams with
# the RFC 1928 header to the relay address dante names).
if start_dante 1082; then
	write_tun_config udp-socks5 "$(printf '  type: socks5\n  server: 198.18.0.2\n  port: 1082\n')"
	# The RFC 1928 header is 10 bytes on top of the datagram. IPv4 only: dante relays
	# IPv6 datagrams only for a client whose control connection is IPv6 too.
	if udp_suite udp-socks5 $((1472 - 10)) -; then
		check_exit udp-socks5-sigterm-exit-0 udp-socks5
	fi
else
	fail udp-socks5-start "danted did not listen: $(tail -n 3 "$T/danted.log" | tr '\n' ' ')"
fi

write_tun_config udp-direct "$(printf '  type: direct\n')"
# Direct: the full 1500 - 20 - 8 and 1500 - 40 - 8 bytes.
if udp_suite udp-direct 1472 1452; then
	check_exit udp-direct-sigterm-exit-0 udp-direct
fi

# proxy.udp: false: the datagrams are refused (ICMP port unreachable), nothing relayed.
write_tun_config udp-off "$(printf '  type: ss\n  server: 198.18.0.2\n  port: 8388\n  method: chacha20-ietf-poly1305\n  password: "%s"\n  udp: false\n' "$PW")"
if start_snet udp-off; then
	out=$(in_nc timeout 20 $PEER udp $TARGET4 7000 10 64 0)
	case $out in *"10 echoed"*) fail udp-off-not-relayed "$out" ;; *) pass udp-off-not-relayed ;; esac
	check_exit udp-off-sigterm-exit-0 udp-off
fi
finish
