#!/usr/bin/env bash
# The stats endpoint (stats.listen), in tun and redirect mode through a real ss-server:
#
#   client ns $NC  198.18.0.1   snet-tun, stats at 127.0.0.1:$SP (or 198.18.0.1:$SP2 with
#                               stats.allow: [198.18.1.2/32]); curl, /usr/bin/python3
#                               (python3-prometheus-client's text parser)
#   server ns $NS  198.18.0.2   ss-server :8388, dnsmasq :53 (named.example); asks
#                               198.18.0.1:$SP2 from here (403) and from 198.18.1.2 (200)
#                  198.18.1.2   openssl s_server :443 (self-signed, serves a 40 MB file),
#                               an HTTP holder :8080, UDP echo :5353, peer.py :9000
#
# During an HTTPS download (curl --resolve stats.example:443:198.18.1.2 --limit-rate 4M,
# about 9 s): /metrics parses as Prometheus text with the families expected; /connections
# twice: the SNI name appears and its bytes grow; a plain HTTP request's Host is learned;
# a UDP flow is listed (tun); /upstreams and /dns are JSON; 404, 405, a malformed request
# and a flood of idle stats connections leave the relay working. Then: a connection opened
# by address is named after the DNS answer for it; a client outside stats.allow gets 403,
# an allowed one (reached through the default route: in tun mode only the listener's mark
# keeps the reply out of the tun) 200; --check refuses a non-loopback listen without allow.
TUN_MODE=1
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/e2e/rules/domains-common.sh"
net_up || { fail stats-netns "cannot create namespaces"; exit 1; }
start_target || { fail stats-target "peer server did not start"; exit 1; }
default_routes || { fail stats-routes "cannot add the default routes"; exit 1; }

SP=9190
SP2=9191
PW=e2e-secret-$ID
SNI=stats.example
bg ss-server ns ss-server -s 198.18.0.2 -p 8388 -k "$PW" -m chacha20-ietf-poly1305 -u
wait_port ns 198.18.0.2 8388 || { fail stats-ss "ss-server did not listen"; exit 1; }

# A TLS server at the target address: openssl s_server -WWW serves files of its cwd.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
	-subj "/CN=$SNI" -addext "subjectAltName=DNS:$SNI" \
	-keyout "$T/tls.key" -out "$T/tls.pem" >"$T/openssl.log" 2>&1 ||
	{ fail stats-cert "openssl: $(tail -n 2 "$T/openssl.log" | tr '\n' ' ')"; exit 1; }
mkdir -p "$T/www"
head -c 40000000 /dev/zero >"$T/www/big"
(cd "$T/www" && ip netns exec "$NS" openssl s_server -quiet -WWW -accept 198.18.1.2:443 \
	-cert "$T/tls.pem" -key "$T/tls.key" >"$T/s_server.log" 2>&1) &
PIDS+=("$!")
wait_port ns 198.18.1.2 443 || { fail stats-tls "s_server did not listen"; exit 1; }
# An HTTP server that reads the request and holds the connection (for the Host check).
bg holder ns python3 -c '
import socket, threading, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("198.18.1.2", 8080))
s.listen(16)
def hold(c):
    c.settimeout(10)
    try:
        c.recv(4096)
        time.sleep(5)
    except OSError:
        pass
    c.close()
for _ in range(20):
    c, _ = s.accept()
    threading.Thread(target=hold, args=(c,), daemon=True).start()'
wait_port ns 198.18.1.2 8080 || { fail stats-holder "the HTTP holder did not listen"; exit 1; }
bg udpecho ns $PEER udpecho 198.18.1.2 5353

stats_block() { # LISTEN [ALLOW]
	printf 'stats:\n  listen: %s\n' "$1"
	[ -n "${2:-}" ] && printf '  allow: [%s]\n' "$2"
	return 0
}

get() { in_nc curl -sS -m 10 -o "$T/body" -w '%{http_code}' "$@"; }

# metrics_parse: /metrics through prometheus_client's parser; the families we promise.
metrics_parse() {
	in_nc curl -sS -m 10 "http://127.0.0.1:$SP/metrics" >"$T/metrics" || return 1
	# Debian's python3-prometheus-client is in the system interpreter's path.
	/usr/bin/python3 - "$T/metrics" <<'EOF'
import sys
from prometheus_client.parser import text_string_to_metric_families
fams = {f.name: f for f in text_string_to_metric_families(open(sys.argv[1]).read())}
want = ["snet_connections_open", "snet_connections", "snet_upstream_bytes", "snet_upstream_up",
        "snet_relay_sessions", "snet_relay_sessions_active", "snet_connect_failures",
        "snet_connect_addrnotavail", "snet_bytes"]
missing = [w for w in want if w not in fams]
if missing:
    sys.exit("missing families %s (have %s)" % (missing, sorted(fams)))
def total(name, **labels):
    return sum(s.value for s in fams[name].samples
               if all(s.labels.get(k) == v for k, v in labels.items()))
if total("snet_connections_open", proto="tcp") < 1:
    sys.exit("no open connection counted during the transfer")
if total("snet_bytes", direction="down") < 100000:
    sys.exit("snet_bytes_total{direction=down} is %s" % total("snet_bytes", direction="down"))
# A group of one without checks stays "unknown" (0): nothing depends on its health.
ups = [s for s in fams["snet_upstream_up"].samples if s.labels.get("upstream") == "proxy"]
if len(ups) != 1 or ups[0].value not in (0, 1):
    sys.exit("snet_upstream_up{upstream=proxy}: %s" % ups)
print("%d families" % len(fams))
EOF
}

# conn_bytes: bytes_down of the connection whose host is $SNI (empty when none).
conn_bytes() {
	in_nc curl -sS -m 10 "http://127.0.0.1:$SP/connections" >"$T/conns" || return 1
	python3 - "$T/conns" "$1" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
for c in d["connections"]:
    for k in ("id", "proto", "src", "dst", "host", "upstream", "bytes_up", "bytes_down",
              "rate_up", "rate_down", "age_s"):
        if k not in c:
            sys.exit("connection without %s: %s" % (k, c))
    if c["host"] == sys.argv[2]:
        print(c["bytes_down"], c["rate_down"], c["dst"])
        sys.exit(0)
sys.exit("no connection with host %s in %s" % (sys.argv[2], [c["host"] for c in d["connections"]]))
EOF
}

sni_grows() {
	local a b
	a=$(conn_bytes "$SNI") || { echo "$a"; return 1; }
	sleep 1.5
	b=$(conn_bytes "$SNI") || { echo "$b"; return 1; }
	echo "first: $a; then: $b"
	[ "${b%% *}" -gt "${a%% *}" ] || { echo "bytes_down did not grow: $a -> $b"; return 1; }
}

# http_host: a plain HTTP request (to a server that holds it open) names its Host.
http_host() {
	in_nc timeout 5 python3 -c '
import socket, time
s = socket.create_connection(("198.18.1.2", 8080), timeout=5)
s.sendall(b"GET / HTTP/1.1\r\nHost: Plain.Example:8080\r\nUser-Agent: t\r\n\r\n")
time.sleep(2.5)' &
	local p=$! i
	for i in $(seq 20); do
		sleep 0.1
		conn_bytes plain.example >/dev/null 2>&1 && { wait $p; return 0; }
	done
	wait $p
	conn_bytes plain.example
}

# udp_flow (tun mode): a UDP flow through the tun is listed with proto udp and its bytes,
# and counted in /metrics.
udp_flow() {
	in_nc timeout 20 $PEER udpflow 198.18.1.2 5353 3 20 >"$T/udpflow.out" 2>&1 &
	local p=$! i got=""
	for i in $(seq 25); do
		sleep 0.1
		in_nc curl -sS -m 5 "http://127.0.0.1:$SP/connections" >"$T/conns-udp" || continue
		got=$(python3 -c '
import json, sys
for c in json.load(open(sys.argv[1]))["connections"]:
    if c["proto"] == "udp" and c["dst"] == "198.18.1.2:5353" and c["bytes_up"] > 0 and c["bytes_down"] > 0:
        print(c["bytes_up"], c["bytes_down"])' "$T/conns-udp")
		[ -n "$got" ] && break
	done
	wait $p
	[ -n "$got" ] || { echo "no udp flow to 198.18.1.2:5353 with bytes: $(head -c 600 "$T/conns-udp")"; return 1; }
	in_nc curl -sS -m 5 "http://127.0.0.1:$SP/metrics" | grep -q '^snet_connections_total{mode="tun",proto="udp",upstream="all"} [1-9]' ||
		{ echo "no udp flows in snet_connections_total"; return 1; }
}

# flood: 40 idle connections to the endpoint (more than its limit of 16) held for 3 s: the
# relay goes on meanwhile, and the endpoint answers again once they are gone.
flood() {
	in_nc timeout 10 python3 -c '
import socket, sys, time
held = []
for i in range(40):
    try:
        held.append(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2))
    except OSError:
        pass
time.sleep(3)
print(len(held), "held")' "$SP" >"$T/flood.out" 2>&1 &
	local p=$!
	sleep 0.5
	in_nc timeout 30 $PEER get $TARGET4 $TPORT 1000000 || { wait $p; echo "relay broken during the flood"; return 1; }
	wait $p
	echo "flood: $(cat "$T/flood.out")"
	status_is 200 "http://127.0.0.1:$SP/metrics"
}

json_ok() { # PATH KEY
	[ "$(get "http://127.0.0.1:$SP$1")" = 200 ] || { echo "status $(cat "$T/body")"; return 1; }
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert sys.argv[2] in d, d' "$T/body" "$2"
}
status_is() { # WANT CURL-ARGS...
	local want=$1 got
	shift
	got=$(get "$@")
	[ "$got" = "$want" ] || { echo "got $got, want $want: $(head -c 200 "$T/body")"; return 1; }
}
malformed() { # a request line that is no HTTP: MHD answers 400 (or closes)
	local out
	out=$(printf 'GARBAGE\x01\x02 / HTTP/9\r\n\r\n' | in_nc timeout 5 python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=4)
s.sendall(sys.stdin.buffer.read())
try:
    print(s.recv(200).decode("latin1").split("\r\n")[0])
except Exception as e:
    print("error", e)' "$SP")
	echo "answer: $out"
	case $out in "HTTP/1."?" 4"*|"") return 0 ;; *) return 1 ;; esac
}
forbidden() { # from the server namespace (198.18.0.2), to the non-loopback listener
	local got
	got=$(in_ns curl -sS -m 10 -o /dev/null -w '%{http_code}' "http://198.18.0.1:$SP2/metrics")
	[ "$got" = 403 ] || { echo "got $got, want 403"; return 1; }
}
# allowed: from the target address 198.18.1.2, which the client namespace reaches only
# through its default route: in tun mode an unmarked reply would go into the tun.
allowed() {
	local got
	got=$(in_ns curl -sS -m 10 --interface 198.18.1.2 -o /dev/null -w '%{http_code}' "http://198.18.0.1:$SP2/metrics")
	[ "$got" = 200 ] || { echo "got $got from an allowed address, want 200"; return 1; }
}

for mode in tun redirect; do
	w=write_config
	[ $mode = tun ] && w=write_tun_config
	n=stats-$mode
	$w "$n" "$(ss_proxy)"
	# Two listeners would need two keys; the allowed/forbidden pair runs on its own below.
	stats_block "127.0.0.1:$SP" >>"$T/$n.yaml"
	if ! start_snet "$n"; then
		fail "$n-ready" "no ready line: $(tail -n 3 "$T/snet-$n.log" | tr '\n' ' ')"
		stop_pid "$SNET_PID"
		continue
	fi
	pass "$n-ready"
	check "$n-no-warning" bash -c "! grep -q 'stats: not available' '$T/snet-$n.log'"
	in_nc curl -sk -m 30 --limit-rate 4M --resolve "$SNI:443:198.18.1.2" -o /dev/null \
		-w '%{http_code} %{size_download} %{time_total}\n' "https://$SNI/big" >"$T/curl-$mode.out" 2>&1 &
	CURL=$!
	PIDS+=("$CURL")
	sleep 1.5
	check "$n-metrics-parse" metrics_parse
	check "$n-connections-sni-bytes-grow" sni_grows
	check "$n-http-host" http_host
	[ $mode = tun ] && check "$n-udp-flow-listed" udp_flow
	check "$n-upstreams-json" json_ok /upstreams upstreams
	check "$n-dns-json" json_ok /dns enabled
	check "$n-404" status_is 404 "http://127.0.0.1:$SP/nothing"
	check "$n-405" status_is 405 -X POST -d x "http://127.0.0.1:$SP/metrics"
	check "$n-malformed-4xx" malformed
	check "$n-connection-flood" flood
	wait "$CURL"
	echo "  download: $(cat "$T/curl-$mode.out")"
	check "$n-download-complete" grep -q '^200 40000000 ' "$T/curl-$mode.out"
	check "$n-relay-still-works" in_nc timeout 60 $PEER get $TARGET4 $TPORT 1000000
	check_exit "$n-sigterm-exit-0" "$n"
done

# A connection opened by address is named after the DNS answer that gave the address:
# dnsmasq (server ns, 198.18.0.2:53) answers named.example with the target; the resolver
# asks it through the tunnel (split: false).
names_learned() {
	local got
	got=$(in_nc dig +short +time=3 +tries=1 @127.0.0.1 -p 1153 named.example A)
	[ "$got" = 198.18.1.2 ] || { echo "dig named.example: '$got'"; return 1; }
	in_nc timeout 20 $PEER hold 198.18.1.2 $TPORT 1 3 >/dev/null 2>&1 &
	local p=$! i
	for i in $(seq 25); do
		sleep 0.1
		conn_bytes named.example >/dev/null 2>&1 && { wait $p; return 0; }
	done
	wait $p
	conn_bytes named.example
}
bg dnsmasq ns dnsmasq --keep-in-foreground --no-resolv --no-hosts --listen-address=198.18.0.2 \
	--bind-interfaces --user=root --group=root --pid-file="$T/dnsmasq.pid" \
	--address=/named.example/198.18.1.2 --log-facility="$T/dnsmasq-queries.log"
write_tun_config stats-names "$(ss_proxy)"
sed -i '/^dns:/,$d' "$T/stats-names.yaml"
printf 'dns:\n  enable: true\n  listen: 127.0.0.1:1153\n  foreign: [198.18.0.2]\n  split: false\n' >>"$T/stats-names.yaml"
stats_block "127.0.0.1:$SP" >>"$T/stats-names.yaml"
if wait_port ns 198.18.0.2 53 && start_snet stats-names; then
	pass stats-names-ready
	check stats-names-host-from-dns names_learned
	check stats-names-dns-json json_ok /dns answers
	check_exit stats-names-sigterm-exit-0 stats-names
else
	fail stats-names-ready "no ready line: $(tail -n 3 "$T/snet-stats-names.log" "$T/dnsmasq.log" | tr '\n' ' ')"
	stop_pid "$SNET_PID"
fi

# stats.allow: a non-loopback listener answers the allowed address, 403 to the others. In
# tun mode its replies to the server namespace must not be captured (the listener's mark).
for mode in redirect tun; do
	w=write_config
	[ $mode = tun ] && w=write_tun_config
	n=stats-allow-$mode
	$w "$n" "$(ss_proxy)"
	stats_block "198.18.0.1:$SP2" "198.18.1.2/32" >>"$T/$n.yaml"
	if start_snet "$n"; then
		pass "$n-ready"
		check "$n-403-outside" forbidden
		check "$n-200-inside" allowed
		check_exit "$n-sigterm-exit-0" "$n"
	else
		fail "$n-ready" "no ready line: $(tail -n 3 "$T/snet-$n.log" | tr '\n' ' ')"
		stop_pid "$SNET_PID"
	fi
done

# --check refuses a non-loopback listen without allow, and names the key.
write_config stats-noallow "$(ss_proxy)"
stats_block "198.18.0.1:$SP2" >>"$T/stats-noallow.yaml"
if out=$("$BIN" --check -c "$T/stats-noallow.yaml" 2>&1); then
	fail stats-check-needs-allow "--check passed: $out"
elif grep -q "stats.allow" <<<"$out"; then
	pass stats-check-needs-allow
else
	fail stats-check-needs-allow "no word of stats.allow: $out"
fi
finish
