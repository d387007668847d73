#!/usr/bin/env bash
# tests/soak/idle.sh [redirect|tun] -- long run, not part of scripts/test: one connection
# through snet-tun and ss-server is held idle for SOAK_SECONDS (default 600, longer than
# the old 300 s idle reset) with the default config (no idle-timeout, no keepalive key),
# then must still echo. With no argument both modes run at once, each in its own pair
# of namespaces (tests/e2e/lib.sh, same topology as tests/e2e/test_keepalive.sh).
# Prints PASS/FAIL lines like the e2e tests; every wait is bounded.
SOAK_SECONDS=${SOAK_SECONDS:-600}
if [ -z "${1:-}" ]; then
	bash "$0" redirect &
	a=$!
	bash "$0" tun &
	b=$!
	wait $a
	ra=$?
	wait $b
	rb=$?
	[ $ra -eq 0 ] && [ $rb -eq 0 ]
	exit
fi
case $1 in
redirect) ;;
tun) TUN_MODE=1 ;;
*) echo "usage: $0 [redirect|tun]"; exit 2 ;;
esac
. "$(dirname "$0")/../e2e/lib.sh"
P=soak-idle-$1
net_up || { fail "$P-netns" "cannot create namespaces"; exit 1; }
start_target || { fail "$P-target" "peer server did not start"; exit 1; }
PW=soak-$ID
# ss-server's own idle timeout (-t) must not be what ends the connection.
bg ss-server ns ss-server -s 198.18.0.2 -p 8388 -k "$PW" -m chacha20-ietf-poly1305 -t $((SOAK_SECONDS * 2))
wait_port ns 198.18.0.2 8388 || { fail "$P-ss-server" "did not listen"; exit 1; }
block=$(printf '  type: ss\n  server: 198.18.0.2\n  port: 8388\n  method: chacha20-ietf-poly1305\n  password: "%s"\n' "$PW")
if [ "$1" = tun ]; then write_tun_config "$P" "$block"; else write_config "$P" "$block"; fi
start_snet "$P" || { fail "$P-ready" "$(tail -n 3 "$T/snet-$P.log" | tr '\n' ' ')"; exit 1; }
if out=$(in_nc timeout $((SOAK_SECONDS + 60)) $PEER idle $TARGET4 $TPORT "$SOAK_SECONDS" 2>&1) &&
	[ "${out#*echo ok after}" != "$out" ]; then
	pass "$P-${SOAK_SECONDS}s-then-echo"
else
	fail "$P-${SOAK_SECONDS}s-then-echo" "$(printf '%s' "$out" | tail -n 1); log: $(grep -E 'idle for|vanished|failed' "$T/snet-$P.log" | tail -n 1)"
fi
if grep -q 'idle for' "$T/snet-$P.log"; then fail "$P-no-idle-reset" "$(grep 'idle for' "$T/snet-$P.log" | head -n 1)"; else pass "$P-no-idle-reset"; fi
check_exit "$P-sigterm-exit-0" "$P"
finish
