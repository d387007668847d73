#!/usr/bin/env bash
# `snet-tun top` under tmux (a 160x40 pane, read with capture-pane), against a real
# snet-tun in tun mode with stats.listen set, during a rate-limited HTTP download through
# the tunnel and ss-server:
#
#   client ns: snet-tun (tun st$ID, stats on 127.0.0.1:9190)   server ns: ss-server :8388
#              curl --limit-rate 2M ------ tun -> ss --------> http.server 198.18.1.2:8080
#              peer.py hold (idle) ------- tun -> ss --------> peer.py 198.18.1.2:9000
#              snet-tun top, as nobody, in tmux
#
# Checks: the screen shows the download's destination with a non-zero DOWN/s; sort keys
# change the header and the order (r: the download first; a: the older idle connection
# first); `q` quits with status 0. Also: an endpoint that is not there is shown as an error
# and retried, malformed JSON is shown as an error line, and neither ends top.
# Needs the stats endpoint (GET /connections): FAILs when the binary does not answer it.
TUN_MODE=1
. "$(dirname "$0")/lib.sh"

TMUX_SOCK=snettop$ID
top_cleanup() {
	tmux -L "$TMUX_SOCK" kill-server 2>/dev/null
	cleanup
}
trap top_cleanup EXIT

net_up || { fail top-netns "cannot create namespaces"; exit 1; }
start_target || { fail top-target "peer server did not start"; exit 1; }
PW=top-secret-$ID
bg ss-server ns ss-server -s 198.18.0.2 -p 8388 -k "$PW" -m chacha20-ietf-poly1305
wait_port ns 198.18.0.2 8388 || { fail top-ss-server "ss-server did not listen"; exit 1; }
# A 400 MB file that costs no disk (sparse), served over HTTP from the target address.
mkdir -p "$T/www" "$T/bad"
truncate -s 400M "$T/www/big"
bg http ns python3 -m http.server --bind 198.18.1.2 --directory "$T/www" 8080
wait_port ns 198.18.1.2 8080 || { fail top-http "http.server did not listen"; exit 1; }

STATS=127.0.0.1:9190
write_tun_config top "$(ss_proxy)"
printf 'stats:\n  listen: %s\n' "$STATS" >>"$T/top.yaml"
if ! start_snet top; then
	fail top-snet-ready "no ready line: $(tail -n 3 "$T/snet-top.log" | tr '\n' ' ')"
	exit 1
fi
pass top-snet-ready
if ! in_nc curl -sSf --max-time 5 "http://$STATS/connections" >"$T/conns.json" 2>"$T/conns.err"; then
	fail top-stats-endpoint "snet-tun does not answer GET http://$STATS/connections ($(cat "$T/conns.err")); top needs the stats endpoint (issue 15 item 5)"
	exit 1
fi
pass top-stats-endpoint

# The idle connection first (the older one), then the download.
bg hold nc $PEER hold $TARGET4 $TPORT 1 120
sleep 1.5
bg download nc timeout 120 curl -s -o /dev/null --limit-rate 2M "http://$TARGET4:8080/big"
DL_PID=$LAST_PID
for _ in $(seq 100); do
	in_nc curl -sf --max-time 2 "http://$STATS/connections" >"$T/conns.json" 2>/dev/null &&
		grep -q "$TARGET4:8080" "$T/conns.json" && break
	sleep 0.1
done
if grep -q "$TARGET4:8080" "$T/conns.json"; then
	pass top-endpoint-lists-download
else
	fail top-endpoint-lists-download "$(head -c 300 "$T/conns.json")"
fi

# pane NAME: the visible screen of tmux window NAME.
pane() { tmux -L "$TMUX_SOCK" capture-pane -p -t "$1"; }
# start_top NAME ARGS...: top as nobody in the client namespace, its exit status into
# $T/NAME.rc; the pane stays open after it exits so its last screen can be read.
start_top() {
	local name=$1
	shift
	tmux -L "$TMUX_SOCK" new-session -d -x 160 -y 40 -s "$name" \
		"ip netns exec $NC setpriv --reuid=nobody --regid=nogroup --clear-groups $BIN top $* 2>$T/$name.err; echo \$? >$T/$name.rc; sleep 600"
}
# wait_screen NAME PATTERN [SECONDS]: until the screen matches PATTERN (extended regex).
wait_screen() {
	local i
	for i in $(seq $((${3:-10} * 10))); do
		pane "$1" | grep -Eq -- "$2" && return 0
		sleep 0.1
	done
	return 1
}
# wait_exit NAME: top's exit status (within 5 s), or "none".
wait_exit() {
	local i
	for i in $(seq 50); do
		[ -s "$T/$1.rc" ] && { cat "$T/$1.rc"; return; }
		sleep 0.1
	done
	echo none
}
# row_line NAME PATTERN: the screen line number of the first row matching PATTERN.
row_line() { pane "$1" | grep -n -- "$2" | head -n 1 | cut -d: -f1; }
# down_rate NAME PATTERN: the DOWN/s column of the row matching PATTERN.
down_rate() {
	local s end
	s=$(pane "$1")
	end=$(printf '%s\n' "$s" | grep -m1 DESTINATION | awk '{ print index($0, "DOWN/s") + 5 }')
	printf '%s\n' "$s" | grep -m1 -- "$2" | cut -c"$((end - 10))-$end" | sed 's/^ *//'
}

start_top main --stats "$STATS"
if wait_screen main "$TARGET4:8080" 10; then
	pass top-shows-destination
else
	fail top-shows-destination "screen: $(pane main | head -n 6 | tr -s ' ' | tr '\n' '|') err: $(cat "$T/main.err" 2>/dev/null)"
fi
# A non-zero download rate: "0 B/s" is the only rate that starts with 0.
rate=""
for _ in $(seq 50); do
	rate=$(down_rate main "$TARGET4:8080")
	case $rate in [1-9]*/s) break ;; esac
	sleep 0.1
done
case $rate in
[1-9]*/s) pass "top-download-rate-nonzero ($rate)" ;;
*) fail top-download-rate-nonzero "DOWN/s is '$rate': $(pane main | grep -- "$TARGET4:8080")" ;;
esac
if pane main | grep -Eq "connections [1-9][0-9]*  down [1-9]"; then
	pass top-header-totals
else
	fail top-header-totals "$(pane main | head -n 1)"
fi
pane main | grep -q -- "r rate down  u rate up" && pass top-footer-keys || fail top-footer-keys "$(pane main | tail -n 1)"

# r (the default): the download is fastest; a: the idle connection is older.
tmux -L "$TMUX_SOCK" send-keys -t main r
dl=$(row_line main "$TARGET4:8080")
idle=$(row_line main "$TARGET4:$TPORT ")
if wait_screen main "sorted by rate down" 3 && [ -n "$dl" ] && [ -n "$idle" ] && [ "$dl" -lt "$idle" ]; then
	pass top-sort-rate-down-order
else
	fail top-sort-rate-down-order "download on line '$dl', idle on line '$idle'"
fi
tmux -L "$TMUX_SOCK" send-keys -t main a
if wait_screen main "sorted by age" 3; then pass top-sort-key-header; else fail top-sort-key-header "$(pane main | head -n 1)"; fi
sleep 0.3
dl=$(row_line main "$TARGET4:8080")
idle=$(row_line main "$TARGET4:$TPORT ")
if [ -n "$dl" ] && [ -n "$idle" ] && [ "$idle" -lt "$dl" ]; then
	pass top-sort-age-order
else
	fail top-sort-age-order "download on line '$dl', idle on line '$idle'"
fi
tmux -L "$TMUX_SOCK" send-keys -t main q
rc=$(wait_exit main)
[ "$rc" = 0 ] && pass top-q-exit-0 || fail top-q-exit-0 "status $rc: $(cat "$T/main.err" 2>/dev/null)"

# No endpoint there: an error line, retried, top keeps running until q.
start_top gone --stats 127.0.0.1:9
if wait_screen gone "error: cannot fetch" 5; then pass top-unreachable-shown; else fail top-unreachable-shown "$(pane gone | head -n 3)"; fi
sleep 1.5
if [ ! -s "$T/gone.rc" ] && pane gone | grep -q "error: cannot fetch"; then pass top-unreachable-retried; else fail top-unreachable-retried "exited: $(cat "$T/gone.rc" 2>/dev/null)"; fi
tmux -L "$TMUX_SOCK" send-keys -t gone q
rc=$(wait_exit gone)
[ "$rc" = 0 ] && pass top-unreachable-q-exit-0 || fail top-unreachable-q-exit-0 "status $rc"

# Malformed JSON from the endpoint: an error line naming it.
printf '{"connections": [{"id": 1,' >"$T/bad/connections"
bg badhttp nc python3 -m http.server --bind 127.0.0.1 --directory "$T/bad" 9191
if wait_port nc 127.0.0.1 9191; then
	start_top bad --stats 127.0.0.1:9191
	if wait_screen bad "error: malformed /connections: invalid JSON" 5; then
		pass top-malformed-shown
	else
		fail top-malformed-shown "$(pane bad | head -n 3)"
	fi
	tmux -L "$TMUX_SOCK" send-keys -t bad q
	rc=$(wait_exit bad)
	[ "$rc" = 0 ] && pass top-malformed-q-exit-0 || fail top-malformed-q-exit-0 "status $rc"
else
	fail top-malformed-shown "http.server on 127.0.0.1:9191 did not listen"
fi

stop_pid "$DL_PID"
check_exit top-snet-sigterm-exit-0 top
finish
