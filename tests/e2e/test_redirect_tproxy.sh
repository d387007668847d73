#!/usr/bin/env bash
# Redirect mode with redirect.method: tproxy, through Debian's ss-server: the machine's TCP
# reaches the transparent listener through TPROXY instead of REDIRECT, and its original
# destination is the accepted socket's own address (getsockname), not conntrack's NAT.
# The standard suite (both families through the proxy, 50 MB each way, 200 at once, no
# descriptor leak, SIGTERM removes the rules), the rules that do it (tcp_route marks,
# tcp_tproxy hands over, no nat chain, the policy rule 5190 in both families), the log
# naming the original destinations, a bypassed destination going direct, a connection to
# the listener itself refused, SIGHUP, a wildcard listener (and a connection straight to
# the machine's own address at its port refused), and kill -9 followed by --cleanup.
#
#   client ns $NC 198.18.0.1/24, fd00::1/64          server ns $NS
#   +------------------------------------------+      +-------------------------------+
#   | app --SYN--> output: tcp_route sets the  |      | ss-server 198.18.0.2:8388     |
#   |   mark (fwmark+1); rule 5190 -> 21330    | veth | peer.py 198.18.1.2 :9000      |
#   |   local default dev lo; prerouting on lo |======|         fd00:1::2 :9000       |
#   |   tcp_tproxy -> 127.0.0.1:1111 / [::1]   |      +-------------------------------+
#   | snet-tun (transparent listeners) --ss--> |
#   +------------------------------------------+
REDIRECT_METHOD=tproxy
. "$(dirname "$0")/lib.sh"
net_up || { fail tp-netns "cannot create namespaces"; exit 1; }
start_target || { fail tp-target "peer server did not start"; exit 1; }

PW=e2e-secret-$ID
bg ss-server ns ss-server -s 198.18.0.2 -s ::0 -p 8388 -k "$PW" -m chacha20-ietf-poly1305 -u
wait_port ns 198.18.0.2 8388 || { fail tp-ss-server "ss-server did not listen"; exit 1; }
SS=$(ss_proxy)

PRIO=5190 # capture/capture_redirect.c's TPROXY_RULE_PRIORITY, table 21330
prio_rules() { { in_nc ip rule show; in_nc ip -6 rule show; } | grep -c "^$PRIO:.*lookup 21330"; }
# The policy rule of both families and the table are there.
tproxy_present() {
	local n
	n=$(prio_rules)
	[ "$n" = 2 ] || { echo "$n rule(s) at $PRIO, want 2 (IPv4 and IPv6)"; return 1; }
	rules_present || { echo "no table inet snet_tun"; return 1; }
}
# Neither the table, nor a rule at 5190, nor a route in table 21330 is left.
tproxy_gone() {
	local r
	rules_present && { echo "table inet snet_tun still there"; return 1; }
	r=$({ in_nc ip rule show; in_nc ip -6 rule show; } | grep "^$PRIO:")
	[ -z "$r" ] || { echo "rules left: $r"; return 1; }
	r=$({ in_nc ip route show table 21330; in_nc ip -6 route show table 21330; } 2>/dev/null)
	[ -z "$r" ] || { echo "routes left in 21330: $r"; return 1; }
}
# The redirect rules' chain is not what carries TCP: no nat chain (dns is off), and the
# mark chain and the TPROXY chain are in the table.
tproxy_chains() {
	in_nc nft list chain inet snet_tun output >/dev/null 2>&1 && { echo "a nat output chain is installed"; return 1; }
	in_nc nft list chain inet snet_tun tcp_route | grep -c 'ct mark set' >/dev/null || { echo "no tcp_route chain marking"; return 1; }
	in_nc nft list chain inet snet_tun tcp_tproxy | grep -c 'tproxy ip to 127.0.0.1:1111' >/dev/null || { echo "no tcp_tproxy rule to the listener"; return 1; }
	in_nc nft list chain inet snet_tun tcp_tproxy | grep -c 'tproxy ip6 to \[::1\]:1111' >/dev/null || { echo "no IPv6 tcp_tproxy rule"; return 1; }
}

write_config tp "$SS"
suite tp nohalf
check tp-tproxy-rules-removed tproxy_gone

# The rules and the way connections arrive (debug: each accepted connection is logged).
LOG_LEVEL=debug write_config tp-dbg "$SS"
if start_snet tp-dbg; then
	check tp-ready-says-tproxy grep -q 'TCP through TPROXY' "$T/snet-tp-dbg.log"
	check tp-policy-rules tproxy_present
	check tp-chains tproxy_chains
	check tp-ipv4-through-proxy via_proxy $TARGET4
	check tp-ipv6-through-proxy via_proxy $TARGET6
	# The destination the relay was given is the application's, read from getsockname.
	check tp-log-original-dst-ipv4 wait_log "$T/snet-tp-dbg.log" "-> $TARGET4:$TPORT \[via 127.0.0.1:1111\]" 5
	check tp-log-original-dst-ipv6 wait_log "$T/snet-tp-dbg.log" "-> \[$TARGET6\]:$TPORT \[via \[::1\]:1111\]" 5
	# Not captured, straight to the listener: refused, nothing relayed to ourselves.
	out=$(in_nc timeout 10 $PEER who 127.0.0.1 1111 2>&1)
	case $out in 198.* | fd00*) fail tp-listener-itself-refused "answered: $out" ;; *) pass tp-listener-itself-refused ;; esac
	check tp-listener-itself-logged wait_log "$T/snet-tp-dbg.log" "would loop" 5
	# SIGHUP replaces the table atomically; the capture goes on.
	kill -HUP "$SNET_PID"
	if wait_log "$T/snet-tp-dbg.log" "reloaded" 5; then pass tp-hup-reloaded; else fail tp-hup-reloaded "no reloaded line"; fi
	check tp-hup-still-through-proxy via_proxy $TARGET4
	check tp-hup-get-5MB in_nc timeout 60 $PEER get $TARGET4 $TPORT 5000000
	check_exit tp-sigterm-exit-0 tp-dbg
	check tp-rules-gone-after-sigterm tproxy_gone
else
	fail tp-dbg-ready "no ready line: $(tail -n 3 "$T/snet-tp-dbg.log" | tr '\n' ' ')"
	stop_pid "$SNET_PID"
fi

# A bypassed destination goes direct (the same exclusions as the redirect rules); the
# other family's target still goes through the proxy.
write_config tp-bypass "$SS"
printf 'rules:\n  bypass-cidrs: [%s/32]\n' $TARGET4 >>"$T/tp-bypass.yaml"
if start_snet tp-bypass; then
	out=$(in_nc timeout 10 $PEER who $TARGET4 $TPORT)
	[ "$out" = 198.18.0.1 ] && pass tp-bypass-direct || fail tp-bypass-direct "who says '$out'"
	check tp-bypass-other-through-proxy via_proxy $TARGET6
	check tp-bypass-get-1MB in_nc timeout 60 $PEER get $TARGET4 $TPORT 1000000
	check_exit tp-bypass-exit-0 tp-bypass
else
	fail tp-bypass-ready "no ready line: $(tail -n 3 "$T/snet-tp-bypass.log" | tr '\n' ' ')"
	stop_pid "$SNET_PID"
fi

# A wildcard listener (0.0.0.0:1111 and [::]:1111): TPROXY to it works the same, and a
# connection straight to one of the machine's own addresses at that port (not TPROXYed:
# the rules leave local destinations alone) is refused, not relayed to ourselves.
LOG_LEVEL=debug write_config tp-any "$SS"
sed -i 's/^  listen: 127.0.0.1:1111$/  listen: 0.0.0.0:1111/' "$T/tp-any.yaml"
if start_snet tp-any; then
	check tp-any-ipv4-through-proxy via_proxy $TARGET4
	check tp-any-ipv6-through-proxy via_proxy $TARGET6
	check tp-any-get-1MB in_nc timeout 60 $PEER get $TARGET4 $TPORT 1000000
	out=$(in_nc timeout 10 $PEER who 198.18.0.1 1111 2>&1)
	case $out in 198.* | fd00*) fail tp-any-own-address-refused "answered: $out" ;; *) pass tp-any-own-address-refused ;; esac
	check tp-any-own-address-logged wait_log "$T/snet-tp-any.log" "-> 0.0.0.0:1111: refused: the original destination is this listener" 5
	check_exit tp-any-exit-0 tp-any
else
	fail tp-any-ready "no ready line: $(tail -n 3 "$T/snet-tp-any.log" | tr '\n' ' ')"
	stop_pid "$SNET_PID"
fi

# kill -9 leaves the table and the policy rules; --cleanup removes both; twice is harmless.
if start_snet tp; then
	kill -KILL "$SNET_PID"
	wait "$SNET_PID" 2>/dev/null
	check tp-rules-left-after-kill-9 tproxy_present
	check tp-cleanup-exit-0 in_nc "$BIN" --cleanup -c "$T/tp.yaml"
	check tp-cleanup-removes-rules tproxy_gone
	check tp-cleanup-twice in_nc "$BIN" --cleanup -c "$T/tp.yaml"
	out=$(in_nc timeout 10 $PEER who $TARGET4 $TPORT)
	[ "$out" = 198.18.0.1 ] && pass tp-direct-after-cleanup || fail tp-direct-after-cleanup "who says $out"
else
	fail tp-kill9-ready "no ready line"
fi
finish
