#!/usr/bin/env bash
# A QUIC exchange through snet-tun: Debian's ngtcp2 example client (gtlsclient) fetches a
# file of random bytes over HTTP/3 from the example server (gtlsserver) through ss-server's
# UDP relay, in redirect mode (TPROXY) and in tun mode, over IPv4 and IPv6. Per case: the
# file arrived whole (SHA-256), the QUIC server received datagrams and none from the
# client's own address (they came from ss-server), ss-server relayed UDP to the target
# (its -v log), and in redirect mode snet-tun's udp-up counter moved. The time each fetch
# took is printed, never checked. A connection that migrates to a new client port keeps
# working (a second flow). With proxy.udp: false the fetch must fail (redirect
# mode's kill switch refuses the datagrams): nothing goes around the proxy.
#
#   client ns 198.18.0.1 fd00::1 --veth-- server ns 198.18.0.2 fd00::2  ss-server -u :8388
#     gtlsclient -> snet-tun (TPROXY | tun)        198.18.1.2 fd00:1::2  gtlsserver :443
#                                                  (-d $T/htdocs: the file "blob")
. "$(dirname "$0")/lib.sh"
# QUIC's own port: in redirect mode the reply socket binds the target's address and a port
# below 1024 (CAP_NET_BIND_SERVICE; with user: too, see test_redirect_udp's rudp-user).
QPORT=443
SIZE=${QUIC_SIZE:-4000000}
mkdir -p "$T/htdocs"
head -c "$SIZE" /dev/urandom >"$T/htdocs/blob"
WANT=$(sha256sum "$T/htdocs/blob" | cut -d' ' -f1)
if ! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
	-subj /CN=quic.snet-tun.test -keyout "$T/quic.key" -out "$T/quic.crt" >"$T/openssl.log" 2>&1; then
	fail quic-cert "openssl req: $(tail -n 1 "$T/openssl.log")"
	exit 1
fi

# One server per family, so each log holds one family's peers; --no-quic-dump and
# --no-http-dump leave one "Received packet: ... remote=[ADDR]:PORT" line per datagram.
net_up || { fail quic-netns "cannot create namespaces"; exit 1; }
bg quic4 ns gtlsserver --no-quic-dump --no-http-dump -d "$T/htdocs" "$TARGET4" $QPORT "$T/quic.key" "$T/quic.crt"
bg quic6 ns gtlsserver --no-quic-dump --no-http-dump -d "$T/htdocs" "$TARGET6" $QPORT "$T/quic.key" "$T/quic.crt"
PW=quic-secret-$ID
bg ss-server ns ss-server -v -s 198.18.0.2 -p 8388 -k "$PW" -m chacha20-ietf-poly1305 -u
wait_port ns 198.18.0.2 8388 || fail quic-ss-server "ss-server did not listen"
# gtlsserver has no TCP port to wait for: its two UDP sockets, within 5 s.
quic_servers_up() {
	local _
	for _ in $(seq 50); do
		[ "$(in_ns ss -Hlun "sport = :$QPORT" | wc -l)" -ge 2 ] && return 0
		sleep 0.1
	done
	return 1
}
quic_servers_up || fail quic-servers "gtlsserver: $(tail -n 1 "$T/quic4.log") $(tail -n 1 "$T/quic6.log")"
SS="$(ss_proxy)"

lines() { wc -l <"$1"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# fetch FAM [OPTION...]: gtlsclient downloads /blob into $T/dl$FAM (a fresh directory);
# the client does not verify the self-signed certificate. Exit status 0 when the file is
# whole.
fetch() {
	local fam=$1 host=$TARGET4 uri
	shift
	[ "$fam" = 6 ] && host=$TARGET6
	uri="https://$host:$QPORT/blob"
	[ "$fam" = 6 ] && uri="https://[$host]:$QPORT/blob"
	rm -rf "$T/dl$fam"
	mkdir -p "$T/dl$fam"
	in_nc timeout 30 gtlsclient -q --handshake-timeout=5s --timeout=5s --exit-on-all-streams-close \
		--download="$T/dl$fam" "$@" "$host" $QPORT "$uri" >"$T/client$fam.log" 2>&1
	[ -f "$T/dl$fam/blob" ] && [ "$(sha256sum <"$T/dl$fam/blob" | cut -d' ' -f1)" = "$WANT" ]
}

# quic_case NAME FAM: one fetch through the running snet-tun $NAME, with its proofs.
quic_case() {
	local n=$1 fam=$2 log=$T/quic$2.log s0 q0 t0 t1 up0 up1 got peers direct relayed
	local me=198.18.0.1 host=$TARGET4
	[ "$fam" = 6 ] && me=fd00::1 host=$TARGET6
	s0=$(lines "$T/ss-server.log")
	q0=$(lines "$log")
	up0=$(stat_of "$(snet_stats "$n")" udp-up)
	t0=$(now_ms)
	if fetch "$fam"; then
		t1=$(now_ms)
		pass "$n-quic$fam-fetch-sha256 ($SIZE bytes in $((t1 - t0)) ms)"
	else
		got=$(stat -c %s "$T/dl$fam/blob" 2>/dev/null || echo none)
		fail "$n-quic$fam-fetch-sha256" "got $got bytes: $(tail -n 2 "$T/client$fam.log" | tr '\n' ' ')"
	fi
	# The server's peers: the addresses its datagrams came from (ss-server's, not ours).
	peers=$(tail -n +$((q0 + 1)) "$log" | sed -n 's/^Received packet: .* remote=\[\([^]]*\)\].*/\1/p' | sort | uniq -c | awk '{printf " %s from %s", $1, $2}')
	direct=$(tail -n +$((q0 + 1)) "$log" | grep -c "^Received packet: .* remote=\[$me\]")
	if [ -n "$peers" ] && [ "$direct" = 0 ]; then
		pass "$n-quic$fam-server-peer-is-ss-server (datagrams:$peers)"
	else
		fail "$n-quic$fam-server-peer-is-ss-server" "datagrams:${peers:- none} ($direct from $me, the client)"
	fi
	# ss-server -v logs each datagram it relays up: "[udp] cache miss: TARGET:PORT <-> CLIENT"
	# for the first of an association, "cache hit" for the others.
	relayed=$(tail -n +$((s0 + 1)) "$T/ss-server.log" | grep -cE "\[udp\] cache (miss|hit): $host:$QPORT ")
	if [ "$relayed" -ge 10 ]; then
		pass "$n-quic$fam-ss-server-relayed-udp ($relayed datagrams to $host:$QPORT)"
	else
		fail "$n-quic$fam-ss-server-relayed-udp" "$relayed datagrams to $host:$QPORT in ss-server's log"
	fi
	if grep -q '^mode: redirect' "$T/$n.yaml"; then # its stats count the datagrams relayed up
		up1=$(stat_of "$(snet_stats "$n")" udp-up)
		if [ $((${up1:-0} - ${up0:-0})) -ge 10 ]; then
			pass "$n-quic$fam-through-snet-tun (udp-up $up0 -> $up1)"
		else
			fail "$n-quic$fam-through-snet-tun" "udp-up $up0 -> $up1"
		fi
	fi
}

# quic_migrate NAME: connection migration over IPv4. The client moves to a new local port
# 10 ms after the handshake and sends its request 200 ms after it, so the request and the
# whole transfer go on the new path: a second flow through snet-tun, which ss-server
# relays from a second port of its own. The server must see both ports.
quic_migrate() {
	local n=$1 q0 ports
	q0=$(lines "$T/quic4.log")
	if fetch 4 --change-local-addr=10ms --delay-stream=200ms; then
		pass "$n-quic4-migration-fetch-sha256"
	else
		fail "$n-quic4-migration-fetch-sha256" "$(tail -n 2 "$T/client4.log" | tr '\n' ' ')"
	fi
	ports=$(tail -n +$((q0 + 1)) "$T/quic4.log" | sed -n 's/^Received packet: .* remote=\(\[[^]]*\]:[0-9]*\) .*/\1/p' | sort -u | tr '\n' ' ' | sed 's/ $//')
	case $ports in
	*198.18.0.1*) fail "$n-quic4-migration-two-paths" "the client reached the server directly: $ports" ;;
	"["*" ["*) pass "$n-quic4-migration-two-paths ($ports)" ;;
	*) fail "$n-quic4-migration-two-paths" "one path or none: '$ports'" ;;
	esac
}

quic_suite() { # NAME
	if ! start_snet "$1"; then
		fail "$1-ready" "no ready line: $(tail -n 3 "$T/snet-$1.log" | tr '\n' ' ')"
		stop_pid "$SNET_PID"
		return
	fi
	pass "$1-ready"
	quic_case "$1" 4
	quic_case "$1" 6
	quic_migrate "$1"
	check_exit "$1-sigterm-exit-0" "$1"
}

write_config quic-redirect "$SS"
quic_suite quic-redirect

# proxy.udp: false in redirect mode: the kill switch refuses the datagrams, the fetch
# fails and the server hears nothing from the client.
write_config quic-udp-off "$SS
  udp: false"
if start_snet quic-udp-off; then
	q0=$(lines "$T/quic4.log")
	if fetch 4; then
		fail quic-udp-off-refused "the file arrived without a UDP upstream"
	else
		pass "quic-udp-off-refused ($(tail -n 1 "$T/client4.log"))"
	fi
	n=$(tail -n +$((q0 + 1)) "$T/quic4.log" | grep -c "^Received packet")
	if [ "$n" = 0 ]; then pass quic-udp-off-nothing-reached-server; else fail quic-udp-off-nothing-reached-server "$n datagrams"; fi
	check_exit quic-udp-off-sigterm-exit-0 quic-udp-off
else
	fail quic-udp-off-ready "no ready line: $(tail -n 3 "$T/snet-quic-udp-off.log" | tr '\n' ' ')"
	stop_pid "$SNET_PID"
fi

# Tun mode: the main table's more specific route would win over the tun's default route
# (suppress_prefixlength 0), so the targets' routes move to table 100, where only
# snet-tun's marked sockets look (as lib.sh's net_up does with TUN_MODE).
tun_routes() {
	in_nc ip route del 198.18.1.0/24 via 198.18.0.2 &&
		in_nc ip -6 route del fd00:1::/64 via fd00::2 &&
		in_nc ip route add 198.18.1.0/24 via 198.18.0.2 table 100 &&
		in_nc ip -6 route add fd00:1::/64 via fd00::2 table 100 &&
		in_nc ip rule add fwmark 0x534e lookup 100 pref 100 &&
		in_nc ip -6 rule add fwmark 0x534e lookup 100 pref 100
}
if tun_routes; then
	write_tun_config quic-tun "$SS"
	quic_suite quic-tun
else
	fail quic-tun-routes "cannot move the targets' routes to table 100"
fi
finish
