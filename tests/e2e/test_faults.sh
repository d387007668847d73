#!/usr/bin/env bash
# Faults around snet-tun, in network namespaces against ss-server (issue 13):
#   - the tun device deleted from under a running tun-mode instance: it shuts down as on
#     SIGTERM (its rules removed) and exits 1 saying why, rather than spinning on EBADFD;
#   - 100 SIGHUPs during 50 transfers (both modes): none of them broken;
#   - an impaired path to the upstream (5 % random loss by nft, a tbf rate limit with
#     its queueing delay and tail drops): a 20 MB transfer arrives whole (SHA-256) in
#     both modes, and 10 names asked of the resolver (foreign, through the tunnel to
#     unbound at 198.18.3.53 behind ss-server) are answered within dns.timeout;
#   - the descriptor limit hit (RLIMIT_NOFILE 96, 150 clients held open): a transfer
#     started before keeps flowing, snet-tun stays up, and once the clients are gone new
#     connections work again.
# Durations are printed, never judged.
TUN_MODE=1
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/e2e/rules/domains-common.sh"
PW=faults-secret-$ID
net_up || { fail faults-netns "cannot create namespaces"; exit 1; }
start_target || { fail faults-target "peer.py did not listen"; exit 1; }
default_routes || { fail faults-routes "cannot add the default routes"; exit 1; }
start_ss >"$T/ss.out" 2>&1 || { fail faults-ss "$(cat "$T/ss.out")"; exit 1; }
bg iperf3 ns iperf3 -s -B $TARGET4 -p 5201
wait_port ns $TARGET4 5201 || { fail faults-iperf3 "iperf3 did not listen"; exit 1; }
in_ns ip addr add 198.18.3.53/32 dev lo && dom_unbound foreign 198.18.3.53 ||
	{ fail faults-resolver "unbound did not start: $(tail -n 3 "$T/foreign.log")"; exit 1; }

cfg() { # NAME MODE
	if [ "$2" = tun ]; then write_tun_config "$1" "$(ss_proxy)"; else write_config "$1" "$(ss_proxy)"; fi
}

# ---- the tun device deleted -------------------------------------------------------------
cfg fl-del tun
if start_snet fl-del; then
	pass tun-deleted-ready
	check tun-deleted-via-proxy reached_via_proxy $TARGET4
	in_nc ip link del "st$ID"
	for _ in $(seq 100); do kill -0 "$SNET_PID" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$SNET_PID" 2>/dev/null; then
		fail tun-deleted-exits "still running 10 s after the device went: $(tail -n 2 "$T/snet-fl-del.log" | tr '\n' ' ')"
		stop_pid "$SNET_PID"
	else
		wait "$SNET_PID"
		rc=$?
		[ $rc = 1 ] && pass tun-deleted-exits-1 || fail tun-deleted-exits-1 "exit status $rc: $(tail -n 3 "$T/snet-fl-del.log" | tr '\n' ' ')"
	fi
	check tun-deleted-says-why grep -q "tun st$ID is gone (read: File descriptor in bad state): shutting down" "$T/snet-fl-del.log"
	check tun-deleted-did-not-spin eval '[ "$(grep -c "read:" "$T/snet-fl-del.log")" = 1 ] || { echo "$(grep -c "read:" "$T/snet-fl-del.log") read errors logged"; false; }'
	check tun-deleted-rules-removed eval '! routes_present || { echo "rules left: $(in_nc ip rule show | grep 2132)"; false; }'
else
	fail tun-deleted-ready "no ready line: $(tail -n 3 "$T/snet-fl-del.log" | tr '\n' ' ')"
	stop_pid "$SNET_PID"
fi

# ---- 100 SIGHUPs during 50 transfers ----------------------------------------------------
hup_storm() { # MODE
	local m=$1 n=fl-hup-$1 many sent=0 i
	cfg "$n" "$m"
	if ! start_snet "$n"; then
		fail "$m-hup-ready" "no ready line: $(tail -n 3 "$T/snet-$n.log" | tr '\n' ' ')"
		stop_pid "$SNET_PID"
		return
	fi
	# 8 uploads the server resets at their end (iperf3 -P 8) must not take the one
	# upstream down with the control connection (a regression the bench found).
	check "$m-iperf3-8-uploads" in_nc timeout 30 iperf3 -c $TARGET4 -p 5201 -P 8 -t 2
	in_nc timeout 120 $PEER many $TARGET4 $TPORT 50 10000000 >"$T/many-$m.out" 2>&1 &
	many=$!
	PIDS+=("$many")
	for i in $(seq 100); do
		kill -0 "$many" 2>/dev/null || break
		kill -HUP "$SNET_PID" && sent=$((sent + 1))
		sleep 0.02
	done
	if wait "$many"; then
		pass "$m-hup-50-transfers-intact ($sent SIGHUPs during them, $(grep -c 'reloaded' "$T/snet-$n.log") reloads; $(tail -n 1 "$T/many-$m.out"))"
	else
		fail "$m-hup-50-transfers-intact" "$sent SIGHUPs: $(tail -n 2 "$T/many-$m.out" | tr '\n' ' ')"
	fi
	[ "$sent" -ge 10 ] || fail "$m-hup-enough-signals" "only $sent SIGHUPs reached it before the transfers ended"
	check "$m-hup-still-serving" reached_via_proxy $TARGET4
	check_exit "$m-hup-sigterm-exit-0" "$n"
}
hup_storm redirect
hup_storm tun

# ---- an impaired path to the upstream ---------------------------------------------------
# 5 % of the packets between the namespaces dropped each way (nft numgen in the server
# namespace) and the server's side of the link limited by tbf (40 Mbit/s: a queue, its
# delay and its tail drops).
impair_on() {
	in_ns nft -f - <<EOF2 || return 1
table inet snet_faults {
	chain in { type filter hook input priority 0; ip saddr 198.18.0.1 numgen random mod 100 < 5 counter drop; }
	chain out { type filter hook output priority 0; ip daddr 198.18.0.1 numgen random mod 100 < 5 counter drop; }
}
EOF2
	in_ns tc qdisc add dev "vs$ID" root tbf rate 40mbit burst 32kbit latency 200ms
}
impair_off() {
	in_ns nft delete table inet snet_faults 2>/dev/null
	in_ns tc qdisc del dev "vs$ID" root 2>/dev/null
}
trap '[ -n "${KEEP_LOGS:-}" ] && mkdir -p "$KEEP_LOGS" && cp -r "$T/." "$KEEP_LOGS/"; impair_off; cleanup; rm -rf "/etc/netns/$NS"' EXIT
impaired() { # MODE
	local m=$1 n=fl-imp-$1 t0 i o late=0 slow=0
	cfg "$n" "$m"
	tunnel_dns "$n" 5 "  cache-size: 0"
	if ! start_snet "$n"; then
		fail "$m-impaired-ready" "no ready line: $(tail -n 3 "$T/snet-$n.log" | tr '\n' ' ')"
		stop_pid "$SNET_PID"
		return
	fi
	if impair_on >"$T/impair.out" 2>&1; then
		t0=$SECONDS
		check "$m-impaired-20MB-sha256" in_nc timeout 180 $PEER get $TARGET4 $TPORT 20000000
		echo "# $m: 20 MB over 5 % loss each way and 40 Mbit/s in $((SECONDS - t0)) s; dropped by nft: $(in_ns nft list table inet snet_faults | grep -o 'packets [0-9]*' | tr '\n' ' ')"
		check "$m-impaired-put-5MB-sha256" in_nc timeout 180 $PEER put $TARGET4 $TPORT 5000000
		# No cache: each query goes through the tunnel. dig waits longer than
		# dns.timeout (5 s): an answer that is not NOERROR with the address (a
		# SERVFAIL at the deadline, or none) fails.
		for i in 1 2 3 4 5 6 7 8 9 10; do
			t0=$(date +%s%N)
			o=$(DT=8 Q web.far.test A)
			[ "$(st_of "$o")" = NOERROR ] && [ -n "$(rrs_of "$o")" ] || late=$((late + 1))
			[ $((($(date +%s%N) - t0) / 1000000)) -gt "$slow" ] && slow=$((($(date +%s%N) - t0) / 1000000))
		done
		[ $late = 0 ] && pass "$m-impaired-dns-answers (10 of 10, slowest ${slow} ms)" ||
			fail "$m-impaired-dns-answers" "$late of 10 not answered with the address within dns.timeout (slowest ${slow} ms)"
	else
		fail "$m-impair-on" "$(tail -n 2 "$T/impair.out" | tr '\n' ' ')"
	fi
	impair_off
	check_exit "$m-impaired-sigterm-exit-0" "$n"
}
impaired redirect
impaired tun

# ---- the descriptor limit ---------------------------------------------------------------
fd_limit() { # MODE
	local m=$1 n=fl-fd-$1 idle hold
	cfg "$n" "$m"
	bg "snet-$n" nc prlimit --nofile=96:96 "$BIN" -c "$T/$n.yaml"
	SNET_PID=$LAST_PID
	if ! wait_log "$T/snet-$n.log" ready 15; then
		fail "$m-fd-ready" "no ready line: $(tail -n 3 "$T/snet-$n.log" | tr '\n' ' ')"
		stop_pid "$SNET_PID"
		return
	fi
	# An established connection (echo, 8 s idle, echo), then 150 clients held for 5 s.
	in_nc timeout 30 $PEER idle $TARGET4 $TPORT 8 >"$T/idle-$m.out" 2>&1 &
	idle=$!
	PIDS+=("$idle")
	sleep 0.5
	in_nc timeout 30 $PEER hold $TARGET4 $TPORT 150 5 >"$T/hold-$m.out" 2>&1 &
	hold=$!
	PIDS+=("$hold")
	wait "$hold"
	if wait "$idle"; then
		pass "$m-fd-established-keeps-flowing ($(tail -n 1 "$T/idle-$m.out"))"
	else
		fail "$m-fd-established-keeps-flowing" "$(tail -n 2 "$T/idle-$m.out" | tr '\n' ' ')"
	fi
	check "$m-fd-limit-was-hit" grep -q "Too many open files" "$T/snet-$n.log"
	check "$m-fd-still-running" kill -0 "$SNET_PID"
	check "$m-fd-recovers" reached_via_proxy $TARGET4
	check_exit "$m-fd-sigterm-exit-0" "$n"
}
fd_limit redirect
fd_limit tun

finish
