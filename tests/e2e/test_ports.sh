#!/usr/bin/env bash
# Local port exhaustion toward the one upstream (issue 15, item 8). Every proxied
# connection goes to the same server address and port, and when the client closes first
# snet-tun's side of the upstream connection holds the TIME_WAIT; with few ephemeral
# ports and tcp_tw_reuse off, connect() fails with EADDRNOTAVAIL.
#
#   client ns: ip_local_port_range 40000-40007, tcp_tw_reuse 0; the client binds its own
#              source ports (50000...), outside that range, so only snet-tun runs out
#   server ns: ss-server 198.18.0.2:8388, the target 198.18.1.2:9000
#
# What must hold: the start-up check names both settings with the fix; a refused
# connection is counted (SIGUSR1 line, connect-addrnotavail) and warned about once per
# interval, not once per connection; the upstream is not blamed (it stays up, and the
# first connection after ports are free again goes through at once).
. "$(dirname "$0")/lib.sh"
net_up || { fail ports-netns "cannot create namespaces"; exit 1; }
start_target || { fail ports-target "peer server did not start"; exit 1; }

PW=e2e-secret-$ID
bg ss-server ns ss-server -s 198.18.0.2 -p 8388 -k "$PW" -m chacha20-ietf-poly1305
wait_port ns 198.18.0.2 8388 || { fail ports-ss "ss-server did not start"; exit 1; }

in_nc sysctl -qw net.ipv4.ip_local_port_range="40000 40007" net.ipv4.tcp_tw_reuse=0
write_config ports "$(ss_proxy)"
if ! start_snet ports; then
	fail ports-ready "$(tail -n 3 "$T/snet-ports.log" | tr '\n' ' ')"
	finish
	exit
fi
LOG=$T/snet-ports.log

c_startup_check() {
	grep -q 'tcp_tw_reuse' "$LOG" && grep -q 'ip_local_port_range' "$LOG" ||
		{ echo "no start-up note naming tcp_tw_reuse and ip_local_port_range: $(head -n 5 "$LOG" | tr '\n' '|')"; return 1; }
}
check ports-startup-check c_startup_check

# 40 connections through 8 ports: the 9th on finds none free (TIME_WAIT lasts 60 s).
SEQ_OUT=$(in_nc timeout 120 $PEER seqbind $TARGET4 $TPORT 40 50000)
echo "$SEQ_OUT" >&2
refused=$(printf "%s" "$SEQ_OUT" | sed -n 's/^seqbind: 40 connections, \([0-9]*\) failed.*/\1/p')
c_reproduced() {
	[ -n "$refused" ] && [ "$refused" -ge 20 ] ||
		{ echo "only ${refused:-?} of 40 connections failed: the exhaustion was not reproduced ($SEQ_OUT)"; return 1; }
}
check ports-exhaustion-reproduced c_reproduced

c_warned_once() {
	local n
	n=$(grep -ciE 'EADDRNOTAVAIL|Cannot assign requested address' "$LOG")
	[ "$n" -ge 1 ] && [ "$n" -le 2 ] ||
		{ echo "$n log lines about it for $refused refused connections, want 1 or 2: $(grep -iE 'EADDRNOTAVAIL|Cannot assign' "$LOG" | head -n 3 | tr '\n' '|')"; return 1; }
	grep -qE 'tcp_tw_reuse=1.*ip_local_port_range' "$LOG" ||
		{ echo "the warning does not say how to fix it"; return 1; }
}
check ports-warned-once c_warned_once

c_counted() {
	local line n
	line=$(snet_stats ports) || { echo "no stats line"; return 1; }
	n=$(printf '%s' "$line" | sed -n 's/.* connect-addrnotavail \([0-9]*\).*/\1/p')
	[ -n "$n" ] && [ "$n" -ge "$refused" ] ||
		{ echo "connect-addrnotavail ${n:-missing}, $refused refused: $line"; return 1; }
	case $line in
	*upstreams*down*) echo "the upstream was marked down for a local shortage: $line"; return 1 ;;
	esac
}
check ports-counted-upstream-up c_counted

# Ports free again: the next connection goes through at once (no upstream to recover).
in_nc sysctl -qw net.ipv4.ip_local_port_range="10240 65000"
c_recovers() {
	local o
	o=$(in_nc timeout 30 $PEER seqbind $TARGET4 $TPORT 3 51000)
	case $o in
	"seqbind: 3 connections, 0 failed"*) return 0 ;;
	*) echo "after widening the range: $o; $(grep -E 'refused|no upstream' "$LOG" | tail -n 2 | tr '\n' '|')"; return 1 ;;
	esac
}
check ports-recover-at-once c_recovers
check_exit ports-exit-0 ports
finish
