#!/usr/bin/env bash
# Tun mode, TCP: the client namespace's traffic is routed into snet-tun's tun device
# (policy routing, auto-route), lwIP terminates it, and the relay sends it through
# ss-server, microsocks, tinyproxy or direct: 50 MB each way over IPv4 and IPv6,
# concurrent connections, half-close (direct), a closed port, the upstream killed
# mid-transfer, routes gone after SIGTERM and after kill -9 + --cleanup.
TUN_MODE=1
. "$(dirname "$0")/lib.sh"
net_up || { fail tun-netns "cannot create namespaces"; exit 1; }
start_target || { fail tun-target "peer server did not start"; exit 1; }

PW=tun-secret-$ID
bg ss-server ns ss-server -s 198.18.0.2 -s ::0 -p 8388 -k "$PW" -m chacha20-ietf-poly1305 -u
SS_PID=$LAST_PID
bg microsocks ns microsocks -i 198.18.0.2 -p 1080
wait_port ns 198.18.0.2 1080
wait_port ns 198.18.0.2 8388
# 500 destinations: 10 addresses x 50 ports.
HOSTS=""
for i in $(seq 10 19); do
	in_ns ip addr add 198.18.1.$i/32 dev lo
	HOSTS=$HOSTS${HOSTS:+,}198.18.1.$i
done
bg spread-target ns $PEER server 0.0.0.0 9100-9149
wait_port ns 0.0.0.0 9149

tun_suite() { # NAME [nohalf]
	local n=$1 fds0
	if ! start_snet "$n"; then
		fail "$n-ready" "no ready line: $(tail -n 3 "$T/snet-$n.log" | tr '\n' ' ')"
		stop_pid "$SNET_PID"
		return 1
	fi
	pass "$n-ready"
	fds0=$(fd_count)
	check "$n-routes-present" routes_present
	if [ "${VIA_PROXY:-1}" = 1 ]; then
		check "$n-ipv4-through-proxy" via_proxy $TARGET4
		check "$n-ipv6-through-proxy" via_proxy $TARGET6
	fi
	check "$n-get-50MB-sha256" in_nc timeout 120 $PEER get $TARGET4 $TPORT "$BIG"
	check "$n-put-50MB-sha256" in_nc timeout 120 $PEER put $TARGET4 $TPORT "$BIG"
	check "$n-ipv6-get-50MB-sha256" in_nc timeout 120 $PEER get $TARGET6 $TPORT "$BIG"
	check "$n-ipv6-put-50MB-sha256" in_nc timeout 120 $PEER put $TARGET6 $TPORT "$BIG"
	check "$n-200-concurrent" in_nc timeout 120 $PEER many $TARGET4 $TPORT 200 65536
	[ "${VIA_PROXY:-1}" = 1 ] && check "$n-500-destinations" in_nc timeout 180 $PEER spread "$HOSTS" 9100-9149 16384
	[ "${2:-}" != nohalf ] && check "$n-half-close" in_nc timeout 60 $PEER half $TARGET4 $TPORT 300000
	check "$n-no-fd-leak" fds_back_to "$fds0"
	return 0
}

tun_stop() { # NAME
	check_exit "$1-sigterm-exit-0" "$1"
	if routes_present; then fail "$1-routes-removed" "$(in_nc ip rule show | tr '\n' ' ')"; else pass "$1-routes-removed"; fi
	if in_nc ip link show "st$ID" >/dev/null 2>&1; then fail "$1-tun-removed" "device st$ID still there"; else pass "$1-tun-removed"; fi
}

write_tun_config tun-ss "$(ss_proxy)"
if tun_suite tun-ss nohalf; then
	# A closed port: ss-server's connect fails and closes; the client sees the
	# connection end (reset or EOF) instead of hanging.
	out=$(in_nc timeout 20 $PEER get $TARGET4 9999 10)
	rc=$?
	[ $rc -ne 124 ] && [ "${out#*sha256 ok}" = "$out" ] && pass tun-ss-closed-port || fail tun-ss-closed-port "rc $rc: $out"
	# SIGUSR1 counts lwIP's pcbs: 300 held connections are there, and gone once closed.
	in_nc timeout 60 $PEER hold $TARGET4 $TPORT 300 4 >"$T/hold-tun.out" 2>&1 &
	holdpid=$!
	for _ in $(seq 100); do [ "$(fd_count)" -gt 300 ] && break; sleep 0.1; done
	sleep 1
	line=$(snet_stats tun-ss)
	if [ "$(stat_of "$line" tcp-pcbs)" -ge 300 ] 2>/dev/null && [ "$(stat_of "$line" tcp-conns)" -ge 300 ] &&
		[ "$(stat_of "$line" sessions)" -ge 300 ]; then
		pass "tun-ss-sigusr1-stats-held ($line)"
	else
		fail tun-ss-sigusr1-stats-held "${line:-no stats line}"
	fi
	wait "$holdpid"
	for _ in $(seq 50); do
		line=$(snet_stats tun-ss)
		[ "$(stat_of "$line" tcp-pcbs)" = 0 ] && [ "$(stat_of "$line" sessions)" = 0 ] && break
		sleep 0.1
	done
	if [ "$(stat_of "$line" tcp-pcbs)" = 0 ] && [ "$(stat_of "$line" tcp-conns)" = 0 ] &&
		[ "$(stat_of "$line" sessions)" = 0 ]; then
		pass tun-ss-sigusr1-stats-closed
	else
		fail tun-ss-sigusr1-stats-closed "${line:-no stats line}"
	fi
	tun_stop tun-ss
fi

write_tun_config tun-socks5 "$(printf '  type: socks5\n  server: 198.18.0.2\n  port: 1080\n')"
tun_suite tun-socks5 nohalf && tun_stop tun-socks5

# HTTP CONNECT through tinyproxy (no half-close: tinyproxy closes both ways on EOF).
if start_tinyproxy 8888; then
	write_tun_config tun-http "$(printf '  type: http\n  server: 198.18.0.2\n  port: 8888\n')"
	tun_suite tun-http nohalf && tun_stop tun-http
else
	fail tun-http-start "tinyproxy did not listen"
fi

# The upstream killed mid-transfer: the client's connection ends at once (reset or
# short read, not a hang) and snet-tun holds nothing for it afterwards.
bg ss-server-2 ns ss-server -s 198.18.0.2 -p 8389 -k "$PW" -m chacha20-ietf-poly1305
SS2=$LAST_PID
wait_port ns 198.18.0.2 8389
write_tun_config tun-kill "$(printf '  type: ss\n  server: 198.18.0.2\n  port: 8389\n  method: chacha20-ietf-poly1305\n  password: "%s"\n' "$PW")"
if start_snet tun-kill; then
	fds0=$(fd_count)
	in_nc timeout 60 $PEER get $TARGET4 $TPORT 2000000000 >"$T/kill.out" 2>&1 &
	getpid=$!
	sleep 1.5
	kill -KILL "$SS2"
	t0=$SECONDS
	wait "$getpid"
	rc=$?
	if [ $rc -ne 0 ] && [ $rc -ne 124 ]; then
		pass tun-upstream-killed-client-closed
	else
		fail tun-upstream-killed-client-closed "rc $rc after $((SECONDS - t0)) s: $(cat "$T/kill.out")"
	fi
	check tun-upstream-killed-no-fd-leak fds_back_to "$fds0"
	check tun-upstream-killed-still-serving kill -0 "$SNET_PID"
	tun_stop tun-kill
fi

write_tun_config tun-direct "$(printf '  type: direct\n')"
if VIA_PROXY=0 tun_suite tun-direct; then
	# Ports reused while lwIP still holds the old connection in TIME_WAIT (it closed
	# first): 600 sequential connections over 100 ephemeral ports must all succeed.
	in_nc sysctl -qw net.ipv4.ip_local_port_range="40000 40099"
	check tun-port-reuse-after-time-wait in_nc timeout 120 $PEER seq $TARGET4 $TPORT 600
	in_nc sysctl -qw net.ipv4.ip_local_port_range="32768 60999"
	# direct to a closed port: the upstream connect is refused, the client gets a RST.
	out=$(in_nc timeout 20 $PEER get $TARGET4 9999 10)
	case $out in *refused* | *reset*) pass tun-direct-closed-port-reset ;; *) fail tun-direct-closed-port-reset "got: $out" ;; esac
	# kill -9 leaves routes; --cleanup removes them.
	kill -KILL "$SNET_PID"
	wait "$SNET_PID" 2>/dev/null
	check tun-routes-left-after-kill-9 routes_present
	check tun-cleanup-exit-0 in_nc "$BIN" --cleanup -c "$T/tun-direct.yaml"
	if routes_present; then fail tun-cleanup-removes-routes "$(in_nc ip rule show | tr '\n' ' ')"; else pass tun-cleanup-removes-routes; fi
fi
finish
