#!/usr/bin/env bash
# tests/e2e/test_keepalive.sh -- idle relayed connections live; vanished peers are found
# with TCP keepalive. Runs twice, in redirect mode and in tun mode (each in its own pair
# of namespaces: the routes differ), through ss-server:
#   - with no idle-timeout key (the default: never) and proxy.keepalive: 2, a connection
#     idle for 10 s still echoes, and the log has no "idle for"; meanwhile the upstream
#     socket (and in redirect mode the accepted socket) shows a keepalive timer, and in
#     tun mode lwIP's keepalive probes reach the client;
#   - the upstream vanishes (an nft drop in the server namespace): the session is closed
#     with a log reason within keepalive + 3 probes (8 s; checked with 20 s), and the
#     client application sees its connection end;
#   - the client vanishes (an nft drop in the client namespace of what snet-tun sends
#     it): the session is closed with a log reason and snet-tun holds nothing for it.
#
#   client ns $NC                                   server ns $NS
#   peer.py idle/vanish                             ss-server 198.18.0.2:8388
#     | redirect: nft REDIRECT to 127.0.0.1:1111      peer.py ECHO server 198.18.1.2:9000
#     | tun: routed into st$ID, lwIP                  nft table ka_up: drops 198.18.0.1 ->
#   snet-tun -- 198.18.0.1 ===== veth ===== 198.18.0.2   :8388 (the upstream vanishes)
#   nft table ka_client: drops what snet-tun sends the client (the client vanishes)
if [ -z "${KA_PART:-}" ]; then
	KA_PART=redirect bash "$0"
	a=$?
	KA_PART=tun bash "$0"
	b=$?
	[ $a -eq 0 ] && [ $b -eq 0 ]
	exit
fi
[ "$KA_PART" = tun ] && TUN_MODE=1
. "$(dirname "$0")/lib.sh"
P=ka-$KA_PART
net_up || { fail "$P-netns" "cannot create namespaces"; exit 1; }
start_target || { fail "$P-target" "peer server did not start"; exit 1; }

PW=ka-secret-$ID
bg ss-server ns ss-server -s 198.18.0.2 -p 8388 -k "$PW" -m chacha20-ietf-poly1305
wait_port ns 198.18.0.2 8388 || { fail "$P-ss-server" "did not listen"; exit 1; }
block=$(printf '  type: ss\n  server: 198.18.0.2\n  port: 8388\n  method: chacha20-ietf-poly1305\n  password: "%s"\n  keepalive: 2\n' "$PW")
if [ "$KA_PART" = tun ]; then write_tun_config "$P" "$block"; else write_config "$P" "$block"; fi
if ! start_snet "$P"; then
	fail "$P-ready" "no ready line: $(tail -n 3 "$T/snet-$P.log" | tr '\n' ' ')"
	finish
	exit
fi
pass "$P-ready"
fds0=$(fd_count)
LOG=$T/snet-$P.log

# ss_timer FILTER: an established socket matching the ss(8) filter shows a keepalive timer.
ss_timer() {
	local out
	out=$(in_nc ss -Htnoi state established "$1")
	[ -n "$out" ] || { echo "no established socket matches '$1'"; return 1; }
	printf '%s\n' "$out" | grep -q 'timer:(keepalive' ||
		{ echo "no keepalive timer: $(printf '%s' "$out" | head -n 1)"; return 1; }
}

# Packets snet-tun's lwIP sends into the tun towards the target port (tun mode).
tun_pkts() { in_nc nft list chain inet ka_probe in 2>/dev/null | grep -o 'packets [0-9]*' | awk '{ print $2 }'; }

# wait_exit PID SECONDS: waits for a background client; its exit status.
wait_exit() {
	local i
	for i in $(seq $(($2 * 10))); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$1" 2>/dev/null && return 124
	wait "$1"
}

# --- 1. an idle connection lives, and keepalive is armed on both sides ---
if [ "$KA_PART" = tun ]; then
	in_nc nft -f - <<EOF
table inet ka_probe {
	chain in { type filter hook input priority 0; iifname "st$ID" tcp sport $TPORT counter; }
}
EOF
fi
bg "idle-$P" nc timeout 40 $PEER idle $TARGET4 $TPORT 10
idle_pid=$LAST_PID
if wait_log "$T/idle-$P.log" idling 15; then
	sleep 1
	check "$P-upstream-keepalive-armed" ss_timer "dst 198.18.0.2 and dport = :8388"
	if [ "$KA_PART" = redirect ]; then
		check "$P-client-keepalive-armed" ss_timer "src 127.0.0.1 and sport = :1111"
	else
		p0=$(tun_pkts)
		sleep 6
		p1=$(tun_pkts)
		if [ -n "$p0" ] && [ -n "$p1" ] && [ $((p1 - p0)) -ge 2 ]; then
			pass "$P-client-keepalive-probes"
		else
			fail "$P-client-keepalive-probes" "lwIP sent ${p0:-?} -> ${p1:-?} packets to the idle client in 6 s (want >= 2 probes)"
		fi
	fi
	wait_exit "$idle_pid" 30
	rc=$?
	if [ $rc -eq 0 ] && grep -q 'echo ok after' "$T/idle-$P.log"; then
		pass "$P-idle-10s-then-echo"
	else
		fail "$P-idle-10s-then-echo" "rc $rc: $(tail -n 1 "$T/idle-$P.log")"
	fi
else
	fail "$P-idle-connect" "$(tail -n 1 "$T/idle-$P.log")"
fi
in_nc nft delete table inet ka_probe 2>/dev/null
if grep -q 'idle for' "$LOG"; then
	fail "$P-no-idle-reset" "$(grep 'idle for' "$LOG" | head -n 1)"
else
	pass "$P-no-idle-reset"
fi

# --- 2. the upstream vanishes: keepalive reaps the session, the client sees it end ---
bg "vanish-up-$P" nc timeout 60 $PEER vanish $TARGET4 $TPORT 30
vpid=$LAST_PID
if wait_log "$T/vanish-up-$P.log" 'echo ok' 15; then
	in_ns nft -f - <<EOF
table inet ka_up {
	chain in { type filter hook input priority -10; ip saddr 198.18.0.1 tcp dport 8388 drop; }
}
EOF
	wait_exit "$vpid" 45
	rc=$?
	in_ns nft delete table inet ka_up
	secs=$(sed -n 's/.*closed (.*) after \([0-9.]*\) s.*/\1/p' "$T/vanish-up-$P.log")
	if [ $rc -eq 0 ] && [ -n "$secs" ] && [ "${secs%.*}" -lt 20 ]; then
		pass "$P-upstream-vanished-client-sees-close"
	else
		fail "$P-upstream-vanished-client-sees-close" "rc $rc: $(tail -n 1 "$T/vanish-up-$P.log") (want closed within 20 s)"
	fi
	if grep -q 'upstream vanished' "$LOG"; then
		pass "$P-upstream-vanished-logged"
		echo "  $(tail -n 1 "$T/vanish-up-$P.log"); $(grep -m 1 'upstream vanished' "$LOG")"
	else
		fail "$P-upstream-vanished-logged" "no 'upstream vanished' line: $(tail -n 2 "$LOG" | tr '\n' ' ')"
	fi
	check "$P-upstream-vanished-no-fd-leak" fds_back_to "$fds0"
else
	fail "$P-vanish-up-connect" "$(tail -n 1 "$T/vanish-up-$P.log")"
fi

# --- 3. the client vanishes: what snet-tun sends it is dropped from now on ---
bg "vanish-cl-$P" nc timeout 60 $PEER vanish $TARGET4 $TPORT 50
vpid=$LAST_PID
if wait_log "$T/vanish-cl-$P.log" 'echo ok' 15; then
	if [ "$KA_PART" = tun ]; then
		rule="chain in { type filter hook input priority -10; iifname \"st$ID\" tcp sport $TPORT drop; }"
	else
		# The accepted socket's packets, before (1111) and after (9000) the reply is un-NATed.
		rule="chain out { type filter hook output priority -10; ip daddr 198.18.0.1 tcp sport { 1111, $TPORT } drop; }"
	fi
	printf 'table inet ka_client {\n\t%s\n}\n' "$rule" | in_nc nft -f -
	if wait_log "$LOG" 'client vanished' 20; then
		pass "$P-client-vanished-logged"
		echo "  $(grep -m 1 'client vanished' "$LOG")"
	else
		fail "$P-client-vanished-logged" "no 'client vanished' line within 20 s: $(tail -n 2 "$LOG" | tr '\n' ' ')"
	fi
	check "$P-client-vanished-no-fd-leak" fds_back_to "$fds0"
	in_nc nft delete table inet ka_client
else
	fail "$P-vanish-cl-connect" "$(tail -n 1 "$T/vanish-cl-$P.log")"
fi
stop_pid "$vpid"

check "$P-still-serving" in_nc timeout 20 $PEER get $TARGET4 $TPORT 100000
check_exit "$P-sigterm-exit-0" "$P"
finish
