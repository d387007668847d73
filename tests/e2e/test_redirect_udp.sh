#!/usr/bin/env bash
# Redirect mode, UDP through TPROXY: the client namespace's own datagrams are marked in
# nft's output route chain, come back in through lo (fwmark rule -> local default route
# in table 21330), and TPROXY hands them to snet-tun's transparent sockets at the
# listener's address; they become flows relayed through ss-server's UDP relay (-u),
# dante-server's UDP ASSOCIATE, or directly. Per upstream: 10 000 echoes of mixed sizes
# over IPv4 and IPv6 with the loss reported; the echo's source is the address the client
# sent to (an unconnected socket reads it; the connected one of `udp` accepts nothing
# else); the datagrams went through snet-tun (its counters); the flows and reply sockets
# expire and the application keeps working after; rules and policy routes gone after
# SIGTERM, and after kill -9 + --cleanup. An HTTP CONNECT upstream carries no UDP: the
# kill switch refuses the datagrams and counts them.
#
#   client ns 198.18.0.1 fd00::1 --veth-- server ns 198.18.0.2 fd00::2 (proxies)
#     peer.py udp -> TPROXY -> snet-tun          198.18.1.2 fd00:1::2 udpecho :7000
. "$(dirname "$0")/lib.sh"
net_up || { fail rudp-netns "cannot create namespaces"; exit 1; }
bg udpecho4 ns $PEER udpecho $TARGET4 7000
bg udpecho6 ns $PEER udpecho $TARGET6 7000
bg udpstray4 ns $PEER udpstray $TARGET4 7100
bg udpecho4-low ns $PEER udpecho $TARGET4 123
PW=rudp-secret-$ID
bg ss-server ns ss-server -s 198.18.0.2 -p 8388 -k "$PW" -m chacha20-ietf-poly1305 -u
wait_port ns 198.18.0.2 8388
N=${UDP_COUNT:-10000}
LOSS=${UDP_MAX_LOSS:-2}
UDP_TABLE=21330 # capture/capture_redirect.c's UDP_TABLE
UDP_PRIO=5190

# Our policy rule (either family) or a route in our table.
udp_routes_present() {
	in_nc ip rule show | grep -c "^$UDP_PRIO:" >/dev/null && return 0
	in_nc ip -6 rule show | grep -c "^$UDP_PRIO:" >/dev/null && return 0
	[ -n "$(in_nc ip route show table $UDP_TABLE 2>/dev/null)" ] && return 0
	[ -n "$(in_nc ip -6 route show table $UDP_TABLE 2>/dev/null)" ] && return 0
	return 1
}
# (grep -c, not -q: with pipefail an early exit would fail the pipe through SIGPIPE.)
both_routes() { # the rule and the local default route, in both families
	in_nc ip rule show | grep -c "^$UDP_PRIO:.*lookup $UDP_TABLE" >/dev/null &&
		in_nc ip -6 rule show | grep -c "^$UDP_PRIO:.*lookup $UDP_TABLE" >/dev/null &&
		in_nc ip route show table $UDP_TABLE | grep -c '^local default dev lo' >/dev/null &&
		in_nc ip -6 route show table $UDP_TABLE | grep -c '^local default dev lo' >/dev/null
}
tproxy_rules() { in_nc nft list chain inet snet_tun udp_tproxy 2>/dev/null | grep -c tproxy >/dev/null; }
nothing_left() { ! rules_present && ! udp_routes_present; }

# Adds the tun section's UDP flow settings (redirect mode's flows use them too).
udp_config() { # NAME PROXY-BLOCK
	write_config "$1" "$2"
	printf 'tun:\n  udp-timeout: 2\n  udp-max-flows: 64\n' >>"$T/$1.yaml"
}

rudp_suite() { # NAME MAX4 MAX6 (MAX6 "-": IPv4 only)
	local n=$1 out st fam host max up0 up1
	if ! start_snet "$n"; then
		fail "$n-ready" "no ready line: $(tail -n 3 "$T/snet-$n.log" | tr '\n' ' ')"
		stop_pid "$SNET_PID"
		return 1
	fi
	pass "$n-ready"
	check "$n-tproxy-rules" tproxy_rules
	check "$n-policy-routes" both_routes
	for fam in 4 6; do
		host=$TARGET4 max=$2
		[ $fam = 6 ] && host=$TARGET6 max=$3
		[ "$max" = - ] && continue
		up0=$(stat_of "$(snet_stats "$n")" udp-up)
		if out=$(in_nc timeout 150 $PEER udp $host 7000 "$N" "$max" "$LOSS" 2>&1); then
			pass "$n-udp$fam-echo-$N ($out)"
		else
			fail "$n-udp$fam-echo-$N" "$out $(grep -m1 "udp:" "$T/snet-$n.log")"
		fi
		st=$(snet_stats "$n")
		up1=$(stat_of "$st" udp-up)
		if [ -n "$up1" ] && [ $((up1 - ${up0:-0})) -ge $((N * 9 / 10)) ]; then
			pass "$n-udp$fam-through-snet-tun (udp-up $up0 -> $up1)"
		else
			fail "$n-udp$fam-through-snet-tun" "udp-up $up0 -> $up1: $st"
		fi
		check "$n-udp$fam-echo-source" in_nc timeout 10 $PEER udpsrc $host 7000
	done
	# udp-timeout 2: flows and reply sockets go within a few seconds, and new ones work.
	local i flows socks
	for i in $(seq 10); do
		sleep 1
		st=$(snet_stats "$n")
		flows=$(stat_of "$st" udp-flows)
		socks=$(stat_of "$st" udp-reply-sockets)
		[ "$flows" = 0 ] && [ "$socks" = 0 ] && break
	done
	if [ "$flows" = 0 ] && [ "$socks" = 0 ]; then
		pass "$n-flows-expire (after ${i}s)"
	else
		fail "$n-flows-expire" "$st"
	fi
	check "$n-echo-after-expiry" in_nc timeout 30 $PEER udp $TARGET4 7000 100 512 "$LOSS"
	return 0
}

after_stop() { # NAME
	if nothing_left; then
		pass "$1-rules-and-routes-removed"
	else
		fail "$1-rules-and-routes-removed" "$(in_nc ip rule show | grep "^$UDP_PRIO:") $(in_nc nft list tables)"
	fi
}

udp_config rudp-ss "$(ss_proxy)"
# Sizes as in test_tun_udp.sh: ss-server sends with DF, so what fits the veth's MTU once
# wrapped (salt, tag, address header).
if rudp_suite rudp-ss $((1472 - 55)) $((1452 - 67)); then
	udp_eviction rudp-ss
	# A reply that ss-server relays from another address (the target answers from port
	# 7101) is not the flow's: dropped and counted, never handed to the client.
	d0=$(stat_of "$(snet_stats rudp-ss)" udp-dropped)
	out=$(in_nc timeout 20 $PEER udp $TARGET4 7100 10 64 100)
	d1=$(stat_of "$(snet_stats rudp-ss)" udp-dropped)
	case $out in *" 0 echoed"*) pass "rudp-ss-stray-reply-not-delivered ($out)" ;; *) fail rudp-ss-stray-reply-not-delivered "$out" ;; esac
	if [ $((${d1:-0} - ${d0:-0})) -ge 10 ] && grep -q "a reply from another address" "$T/snet-rudp-ss.log"; then
		pass "rudp-ss-stray-reply-dropped-counted (udp-dropped $d0 -> $d1)"
	else
		fail rudp-ss-stray-reply-dropped-counted "udp-dropped $d0 -> $d1"
	fi
	check_exit rudp-ss-sigterm-exit-0 rudp-ss
	after_stop rudp-ss
fi

# kill -9 leaves the table and the policy routes (UDP fails closed: marked datagrams
# have no socket); --cleanup removes both, twice is harmless.
if start_snet rudp-ss; then
	kill -KILL "$SNET_PID"
	wait "$SNET_PID" 2>/dev/null
	if rules_present && udp_routes_present; then pass rudp-kill9-leaves-rules; else fail rudp-kill9-leaves-rules "nothing left?"; fi
	out=$(in_nc timeout 10 $PEER udp $TARGET4 7000 10 64 100)
	case $out in *" 0 echoed"* | *"not permitted"* | *refused*) pass "rudp-kill9-fails-closed ($out)" ;; *) fail rudp-kill9-fails-closed "$out" ;; esac
	check rudp-cleanup-exit-0 in_nc "$BIN" --cleanup -c "$T/rudp-ss.yaml"
	after_stop rudp-cleanup
	check rudp-cleanup-twice in_nc "$BIN" --cleanup -c "$T/rudp-ss.yaml"
else
	fail rudp-kill9-ready "no ready line"
fi

# dante-server: SOCKS5 UDP ASSOCIATE. IPv4 only: dante relays IPv6 datagrams only for a
# client whose control connection is IPv6 too (see test_tun_udp.sh).
if start_dante 1082; then
	udp_config rudp-socks5 "$(printf '  type: socks5\n  server: 198.18.0.2\n  port: 1082\n')"
	if rudp_suite rudp-socks5 $((1472 - 10)) -; then
		check_exit rudp-socks5-sigterm-exit-0 rudp-socks5
		after_stop rudp-socks5
	fi
else
	fail rudp-socks5-start "danted did not listen: $(tail -n 3 "$T/danted.log" | tr '\n' ' ')"
fi

# Started as root with `user:`: after the switch, reply sockets are still bound to the
# destinations' own ports, also below 1024 (NTP's 123, QUIC's 443), and the rules still go
# at exit.
udp_config rudp-user "$(printf '  type: ss\n  server: 198.18.0.2\n  port: 8388\n  method: chacha20-ietf-poly1305\n  password: "%s"\nuser: nobody\n' "$PW")"
if start_snet rudp-user; then
	check rudp-user-switched grep -q "running as nobody" "$T/snet-rudp-user.log"
	check rudp-user-port-123-echo in_nc timeout 30 $PEER udp $TARGET4 123 100 512 "$LOSS"
	check rudp-user-port-7000-echo in_nc timeout 30 $PEER udp $TARGET4 7000 100 512 "$LOSS"
	check_exit rudp-user-sigterm-exit-0 rudp-user
	after_stop rudp-user
else
	fail rudp-user-ready "no ready line: $(tail -n 3 "$T/snet-rudp-user.log" | tr '\n' ' ')"
	stop_pid "$SNET_PID"
fi

udp_config rudp-direct "$(printf '  type: direct\n')"
if rudp_suite rudp-direct 1472 1452; then
	check_exit rudp-direct-sigterm-exit-0 rudp-direct
	after_stop rudp-direct
fi

# HTTP CONNECT carries no UDP: no TPROXY rules; the kill switch refuses the datagrams
# (ICMP port unreachable) and its counter counts them.
if start_tinyproxy 8888; then
	udp_config rudp-http "$(printf '  type: http\n  server: 198.18.0.2\n  port: 8888\n')"
	if start_snet rudp-http; then
		if tproxy_rules; then fail rudp-http-no-tproxy "udp_tproxy chain installed"; else pass rudp-http-no-tproxy; fi
		# The reject in output fails the send itself (EPERM), or the echo never comes.
		out=$(in_nc timeout 20 $PEER udp $TARGET4 7000 10 64 100)
		case $out in *" 0 echoed"* | *"not permitted"*) pass "rudp-http-refused ($out)" ;; *) fail rudp-http-refused "$out" ;; esac
		cnt=$(in_nc nft list chain inet snet_tun filter | sed -n 's/.*udp counter packets \([0-9]*\).*/\1/p')
		if [ "${cnt:-0}" -ge 1 ]; then pass "rudp-http-refused-counted ($cnt packets)"; else fail rudp-http-refused-counted "counter: '$cnt'"; fi
		check_exit rudp-http-sigterm-exit-0 rudp-http
		after_stop rudp-http
	else
		fail rudp-http-ready "no ready line: $(tail -n 3 "$T/snet-rudp-http.log" | tr '\n' ' ')"
		stop_pid "$SNET_PID"
	fi
else
	fail rudp-http-start "tinyproxy did not listen"
fi
finish
