#!/usr/bin/env bash
# Upstream groups (proxies: + upstream:) against two real ss-servers, in redirect mode and
# in tun mode: failover is transparent to applications, health follows the upstreams.
#
#   client ns $NC: snet-tun (proxies a = ss-server :8388, b = ss-server :8389, failover,
#                  check-url http://198.18.1.2:9080/ok every 2 s), main default route via
#                  the server ns (whatever escaped the capture would go there)
#   server ns $NS: ss-server a 198.18.0.2:8388, ss-server b 198.18.0.2:8389 (each -u -v,
#                  own log), peer.py at 198.18.1.2:9000, a UDP echo at 198.18.1.2:9100,
#                  the check's HTTP server 198.18.1.2:9080, the foreign resolver (unbound)
#                  at 198.18.3.53 on lo (the client reaches it only through an upstream)
#
# Per mode:
#   - ready only after the first check round; connections go through a (first in order);
#   - a killed under load (4 threads of short connections, plus a long transfer through
#     a): no short connection fails after the first second (the ones a took are opened
#     again through b with their bytes), the long transfer is reset rather than left
#     hanging, a goes down in one log line, new connections go through b;
#   - the resolver's foreign side (split: false, through the tunnel) answers before the
#     kill and while a is down (through b);
#   - a back: a check marks it up and failover returns to it;
#   - tun mode: a UDP flow through a that keeps sending while a is killed moves to b with
#     its next datagram after a is known down: its echoes come back again;
#   - both killed: "none is up" is logged once, a new connection is refused at once (a
#     RST, not a timeout), a name not cached gets SERVFAIL (a cached one its answer),
#     and tcpdump on the client's link sees nothing but the upstreams' ports (nothing
#     falls back to a direct path); one back: service resumes, names resolve again.
# Durations (time to reset, to recover) are printed, never judged.
TUN_MODE=1
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/e2e/rules/domains-common.sh"
PW=fo-secret-$ID
net_up || { fail fo-netns "cannot create namespaces"; exit 1; }
start_target || { fail fo-target "peer.py did not listen"; exit 1; }
default_routes || { fail fo-routes "cannot add the default routes"; exit 1; }
in_ns ip addr add 198.18.3.53/32 dev lo && dom_unbound foreign 198.18.3.53 ||
	{ fail fo-resolver "unbound did not start: $(tail -n 3 "$T/foreign.log")"; exit 1; }
UPORT=9100
bg udpecho ns $PEER udpecho 198.18.1.2 $UPORT
mkdir -p "$T/www" && echo ok >"$T/www/ok"
bg http ns python3 -m http.server 9080 --bind 198.18.1.2 --directory "$T/www"
wait_port ns 198.18.1.2 9080 || { fail fo-http "the check's HTTP server did not listen"; exit 1; }

SS_A= SS_B= RUN_A=0 RUN_B=0
ss_up() { # a|b
	local port=8388 n
	[ "$1" = b ] && port=8389
	if [ "$1" = a ]; then RUN_A=$((RUN_A + 1)); n=a$RUN_A; else RUN_B=$((RUN_B + 1)); n=b$RUN_B; fi
	bg "ss-$n" ns ss-server -s 198.18.0.2 -p $port -k "$PW" -m chacha20-ietf-poly1305 -u -v
	if [ "$1" = a ]; then SS_A=$LAST_PID; else SS_B=$LAST_PID; fi
	wait_port ns 198.18.0.2 $port
}
ss_kill() { # a|b
	local p=$SS_A
	[ "$1" = b ] && p=$SS_B
	kill -KILL "$p" 2>/dev/null
	wait "$p" 2>/dev/null
}
# connects through upstream X so far: lines of its ss-server logs naming the target
conns() { cat "$T"/ss-"$1"*.log 2>/dev/null | grep -c "connect to 198.18.1.2:9000"; }

fo_config() { # NAME MODE
	if [ "$2" = tun ]; then write_tun_config "$1" "  type: direct"; else write_config "$1" "  type: direct"; fi
	sed -i '/^proxy:$/,/^  type: direct$/d; /^dns:$/,$d' "$T/$1.yaml"
	cat >>"$T/$1.yaml" <<EOF2
proxies:
  - {name: a, type: ss, server: 198.18.0.2, port: 8388, password: "$PW"}
  - {name: b, type: ss, server: 198.18.0.2, port: 8389, password: "$PW"}
upstream:
  policy: failover
  check-url: http://198.18.1.2:9080/ok
  check-interval: 2
  check-timeout: 2
EOF2
	tunnel_dns "$1" 2
}

# resolves NAME: the listener answers NAME's A record (198.18.1.2) within dig's 3 s
resolves() {
	local o
	o=$(Q "$1" A)
	expect "$o" NOERROR "A 198.18.1.2"
}

# The all-down audit: tcpdump on the client's link, what it sent (-Q out).
NOISE="arp or (ip6 and ip6[6] == 58 and ip6[40] >= 133 and ip6[40] <= 137) or dst net ff02::/16 or dst net 224.0.0.0/24"
UPSTREAMS="dst host 198.18.0.2 and (tcp or udp) and (dst port 8388 or dst port 8389)"
cap_start() { # TAG
	CAP=$T/cap-$1.pcap
	bg "tcpdump-$1" nc tcpdump -i "vc$ID" -Q out -n -U --immediate-mode -Z root -w "$CAP"
	TCPDUMP_PID=$LAST_PID
	wait_log "$T/tcpdump-$1.log" "listening on" 5
}
cap_stop() {
	sleep 0.5
	stop_pid "$TCPDUMP_PID"
}
only_to_upstreams() {
	local l
	l=$(tcpdump -r "$CAP" -n -nn "not ($NOISE) and not ($UPSTREAMS)" 2>/dev/null)
	[ -z "$l" ] || { echo "$(grep -c . <<<"$l") packet(s) left for elsewhere, first: $(head -n 3 <<<"$l" | tr '\n' '|')"; return 1; }
	[ -n "$(tcpdump -r "$CAP" -n -nn "udp and dst port 8389 and udp[8:4] == 0x636f6e74" 2>/dev/null)" ] ||
		{ echo "the capture missed the control datagram: it saw nothing"; return 1; }
}

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

# late_failures FILE T: churn failures later than T seconds after its start
late_failures() { awk -v t="$2" '$1 == "fail" && $2 > t' "$1" | grep -c .; }

# udp_moves: 10 s of a UDP flow (50 datagrams a second) to the echo; a killed after 2 s.
# The flow's last two seconds must be echoed in full (through b); the seconds without an
# echo are printed.
udp_moves() {
	local f=$T/udpflow.out last
	in_nc timeout 30 $PEER udpflow 198.18.1.2 $UPORT 10 50 >"$f" 2>&1 &
	local u=$!
	PIDS+=("$u")
	sleep 2
	ss_kill a
	wait "$u"
	last=$(awk '$1 == "sec" && $2 >= 8 { s += $3; e += $4 } END { print s + 0, e + 0 }' "$f")
	if [ "${last% *}" -gt 0 ] && [ "${last% *}" = "${last#* }" ]; then
		pass "tun-udp-flow-moves ($(tail -n 1 "$f"))"
	else
		fail "tun-udp-flow-moves" "last 2 s: sent/echoed $last; $(tail -n 1 "$f"); $(grep -c 'udp flow moves' "$T/snet-fo-tun.log") move(s) logged"
	fi
	check "tun-udp-move-logged" grep -q "udp flow moves from a (down) to b" "$T/snet-fo-tun.log"
}

run_mode() { # MODE
	local m=$1 n=fo-$1 t0 tk churn get rc
	ss_up a && ss_up b || { fail "$m-ss" "ss-server did not listen"; return; }
	fo_config "$n" "$m"
	t0=$(now)
	if ! start_snet "$n"; then
		fail "$m-ready" "no ready line: $(tail -n 3 "$T/snet-$n.log" | tr '\n' ' ')"
		stop_pid "$SNET_PID"
		return
	fi
	pass "$m-ready (after $(since "$t0") s, first check round included)"
	check "$m-ready-names-both" grep -q "ready: .*a: ss 198.18.0.2:8388.*b: ss 198.18.0.2:8389.*(failover)" "$T/snet-$n.log"
	check "$m-checked-up" grep -q "upstream a: unknown -> up (check answered" "$T/snet-$n.log"
	local a0 b0
	a0=$(conns a)
	b0=$(conns b)
	check "$m-via-proxy" reached_via_proxy $TARGET4
	check "$m-first-in-order" eval '[ "$(conns a)" -gt "$a0" ] && [ "$(conns b)" = "$b0" ] || { echo "a: $(conns a) connections ($a0 before), b: $(conns b) ($b0 before)"; false; }'
	check "$m-dns-foreign-through-a" resolves web.far.test

	# ---- a killed under load
	in_nc timeout 30 $PEER churn $TARGET4 $TPORT 8 4 >"$T/churn-$m.out" 2>&1 &
	churn=$!
	PIDS+=("$churn")
	in_nc timeout 30 $PEER get $TARGET4 $TPORT 4000000000 >"$T/get-$m.out" 2>&1 &
	get=$!
	PIDS+=("$get")
	sleep 2
	tk=$(now)
	ss_kill a
	wait "$get"
	rc=$?
	if [ $rc -ne 0 ] && [ $rc -ne 124 ]; then
		pass "$m-long-transfer-reset (ended $(since "$tk") s after the kill: $(tail -n 1 "$T/get-$m.out"))"
	else
		fail "$m-long-transfer-reset" "rc $rc: $(tail -n 1 "$T/get-$m.out")"
	fi
	wait "$churn"
	local kill_at total late
	kill_at=2
	total=$(grep -c '^fail ' "$T/churn-$m.out")
	late=$(late_failures "$T/churn-$m.out" $((kill_at + 1)))
	if [ "$late" = 0 ] && grep -q "^churn: [1-9]" "$T/churn-$m.out"; then
		pass "$m-no-failure-after-first-second ($(head -n 1 "$T/churn-$m.out"); $total failed in all)"
	else
		fail "$m-no-failure-after-first-second" "$late failures after ${kill_at}+1 s: $(grep '^fail' "$T/churn-$m.out" | head -n 3 | tr '\n' '|')"
	fi
	check "$m-a-down-logged" grep -q "upstream a: up -> down" "$T/snet-$n.log"
	check "$m-retried-through-b" grep -q "opening it again through b" "$T/snet-$n.log"
	local nb=$(conns b)
	check "$m-now-via-b" eval 'reached_via_proxy $TARGET4 && [ "$(conns b)" -gt "$nb" ] || { echo "b: $(conns b) connections, $nb before"; false; }'
	check "$m-dns-foreign-through-b" resolves web2.far.test

	# ---- a back: a check finds it, failover returns to it
	tk=$(now)
	local l0
	l0=$(wc -l <"$T/snet-$n.log")
	# what a's old server sent before it died does not bring it back up
	check "$m-a-stays-down" eval '! grep "upstream a: down -> up" "$T/snet-$n.log"'
	ss_up a || fail "$m-a-restart" "ss-server a did not listen"
	if wait_new_log "$T/snet-$n.log" "$l0" "upstream a: down -> up" 10; then
		pass "$m-a-back-up ($(since "$tk") s after it was back)"
	else
		fail "$m-a-back-up" "no 'a: down -> up' within 10 s: $(grep upstream "$T/snet-$n.log" | tail -n 3 | tr '\n' ' ')"
	fi
	local na=$(conns a)
	check "$m-back-to-a" eval 'reached_via_proxy $TARGET4 && [ "$(conns a)" -gt "$na" ] || { echo "a: $(conns a) connections, $na before"; false; }'

	# ---- tun mode: a UDP flow through a moves to b once a is known down
	[ "$m" = tun ] && udp_moves

	# ---- both down: refused at once, said once; one back: service again
	ss_kill a
	ss_kill b
	if wait_log "$T/snet-$n.log" "none is up" 10; then
		pass "$m-none-up-logged"
	else
		fail "$m-none-up-logged" "$(grep upstream "$T/snet-$n.log" | tail -n 3 | tr '\n' ' ')"
	fi
	local o
	cap_start "$m" || fail "$m-capture-started" "$(tail -n 2 "$T/tcpdump-$m.log" | tr '\n' ' ')"
	o=$(in_nc timeout 10 $PROBE tcp $TARGET4 $TPORT 5)
	case $o in
	reset* | refused* | closed*) pass "$m-all-down-refused ($o)" ;;
	*) fail "$m-all-down-refused" "want reset/refused/closed, got '$o'" ;;
	esac
	tk=$(now)
	o=$(DT=4 Q web3.far.test A)
	if [ "$(st_of "$o")" = SERVFAIL ]; then
		pass "$m-all-down-dns-servfail (answered in $(since "$tk") s; dns.timeout 2, dig waits 4)"
	else
		fail "$m-all-down-dns-servfail" "want SERVFAIL, got '$(st_of "$o")' $(grep -m1 -E '^;; (connection|communications)' <<<"$o")"
	fi
	check "$m-all-down-cached-answer" resolves web.far.test
	[ "$m" = tun ] && in_nc timeout 5 $PEER udp 198.18.1.2 $UPORT 20 200 100 >/dev/null 2>&1
	in_nc timeout 5 $PEER who 198.18.1.2 9080 >/dev/null 2>&1
	in_nc bash -c 'echo control >/dev/udp/198.18.0.2/8389' # the capture's own check
	cap_stop
	check "$m-all-down-nothing-around-the-tunnel" only_to_upstreams
	check "$m-none-up-once" eval '[ "$(grep -c "none is up" "$T/snet-$n.log")" = 1 ] || { echo "logged $(grep -c "none is up" "$T/snet-$n.log") times"; false; }'
	tk=$(now)
	ss_up b || fail "$m-b-restart" "ss-server b did not listen"
	if wait_log "$T/snet-$n.log" "one is up again" 10; then
		pass "$m-service-resumes-logged ($(since "$tk") s after b was back)"
	else
		fail "$m-service-resumes-logged" "$(grep upstream "$T/snet-$n.log" | tail -n 3 | tr '\n' ' ')"
	fi
	check "$m-service-resumes" reached_via_proxy $TARGET4
	check "$m-service-resumes-dns" resolves web4.far.test
	check "$m-still-running" kill -0 "$SNET_PID"
	check_exit "$m-sigterm-exit-0" "$n"
	ss_kill b
}

run_mode redirect
run_mode tun
finish
