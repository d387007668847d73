#!/usr/bin/env bash
# type: https -- HTTP CONNECT over TLS, against a real TLS front: stunnel4 (a certificate
# made here for 198.18.0.2) in front of tinyproxy, in both modes. With proxy.ca-file set
# to that certificate: the standard suite (both families, 50 MB each way with SHA-256,
# 200 concurrent connections); checked against the system's CAs instead, the certificate
# is refused and the log says why; insecure: true goes through, with a warning at start;
# a certificate for another address is refused (the name check).
TUN_MODE=1
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/e2e/rules/domains-common.sh"
net_up || { fail https-netns "cannot create namespaces"; exit 1; }
start_target || { fail https-target "peer server did not start"; exit 1; }
default_routes || { fail https-routes "cannot add the default routes"; exit 1; }
start_tinyproxy 3128 || { fail https-tinyproxy "tinyproxy did not listen: $(tail -n 3 "$T/tinyproxy.log" | tr '\n' ' ')"; exit 1; }

# cert_for NAME SAN: a self-signed certificate and key in $T/NAME.pem / NAME.key
cert_for() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj "/CN=snet-tun test $1" -addext "subjectAltName=$2" \
		-keyout "$T/$1.key" -out "$T/$1.pem" >"$T/openssl-$1.log" 2>&1
}
# stunnel_up NAME PORT: stunnel4 at 198.18.0.2:PORT with NAME's certificate, to tinyproxy
stunnel_up() {
	cat >"$T/stunnel-$1.conf" <<EOF2
foreground = yes
debug = info
pid =
[https]
accept = 198.18.0.2:$2
connect = 198.18.0.2:3128
cert = $T/$1.pem
key = $T/$1.key
EOF2
	bg "stunnel-$1" ns stunnel4 "$T/stunnel-$1.conf"
	wait_port ns 198.18.0.2 "$2"
}
https_block() { # PORT [extra lines]
	printf '  type: https\n  server: 198.18.0.2\n  port: %s\n%s' "$1" "${2:-}"
}

cert_for good "IP:198.18.0.2" && cert_for other "IP:198.18.0.9" ||
	{ fail https-cert "openssl: $(tail -n 2 "$T"/openssl-*.log | tr '\n' ' ')"; exit 1; }
stunnel_up good 8443 && stunnel_up other 8444 ||
	{ fail https-stunnel "stunnel4 did not listen: $(tail -n 3 "$T"/stunnel-*.log | tr '\n' ' ')"; exit 1; }

# closes_with_close_notify: a connection that the client ends first (HOLD, closed by the
# client after 1 s) ends its TLS with close_notify: stunnel reads the end of TLS, not an
# unexpected end of the TCP stream. (A half-close cannot be checked here: stunnel ends the
# whole connection at close_notify.)
closes_with_close_notify() {
	local l0 new
	l0=$(wc -l <"$T/stunnel-good.log")
	in_nc timeout 60 $PEER hold $TARGET4 $TPORT 1 1 || return 1
	sleep 0.5
	new=$(tail -n +"$((l0 + 1))" "$T/stunnel-good.log")
	grep -q "TLS closed (SSL_read)" <<<"$new" && ! grep -qiE "unexpected eof|reset" <<<"$new" ||
		{ echo "stunnel saw no close_notify from us: $(grep -iE 'closed|eof|reset' <<<"$new" | head -n 3 | tr '\n' '|')"; return 1; }
}

refused() { # NAME WHY-PATTERN: with config NAME, a connection does not go through; the log says why
	local out
	if ! start_snet "$1"; then
		fail "$1-ready" "no ready line: $(tail -n 3 "$T/snet-$1.log" | tr '\n' ' ')"
		stop_pid "$SNET_PID"
		return
	fi
	out=$(in_nc timeout 20 $PEER get $TARGET4 $TPORT 1000)
	case $out in *"sha256 ok"*) fail "$1-refused" "it went through" ;; *) pass "$1-refused" ;; esac
	if wait_log "$T/snet-$1.log" "$2" 5; then pass "$1-says-why"
	else fail "$1-says-why" "want /$2/: $(tail -n 2 "$T/snet-$1.log" | tr '\n' ' ')"; fi
	check_exit "$1-exit-0" "$1"
}

for mode in redirect tun; do
	w=write_config
	[ $mode = tun ] && w=write_tun_config
	$w "https-$mode" "$(https_block 8443 "  ca-file: $T/good.pem
")"
	n=https-$mode
	if start_snet "$n"; then
		pass "$n-ready"
		check "$n-ipv4-through-proxy" via_proxy $TARGET4
		check "$n-ipv6-through-proxy" via_proxy $TARGET6
		check "$n-get-50MB-sha256" in_nc timeout 120 $PEER get $TARGET4 $TPORT 50000000
		check "$n-put-50MB-sha256" in_nc timeout 120 $PEER put $TARGET4 $TPORT 50000000
		check "$n-ipv6-get-1MB" in_nc timeout 60 $PEER get $TARGET6 $TPORT 1000000
		check "$n-200-concurrent" in_nc timeout 120 $PEER many $TARGET4 $TPORT 200 65536
		check "$n-client-closes-first" closes_with_close_notify
		check_exit "$n-sigterm-exit-0" "$n"
	else
		fail "$n-ready" "no ready line: $(tail -n 3 "$T/snet-$n.log" | tr '\n' ' ')"
		stop_pid "$SNET_PID"
	fi
	$w "https-$mode-system-cas" "$(https_block 8443)"
	refused "https-$mode-system-cas" "certificate: self-signed certificate"
	$w "https-$mode-wrong-address" "$(https_block 8444 "  ca-file: $T/other.pem
")"
	refused "https-$mode-wrong-address" "certificate: .*IP address mismatch"
	$w "https-$mode-insecure" "$(https_block 8443 "  insecure: true
")"
	if start_snet "https-$mode-insecure"; then
		check "https-$mode-insecure-warned" grep -q "insecure: true -- the https proxy's certificate is not verified" "$T/snet-https-$mode-insecure.log"
		check "https-$mode-insecure-goes-through" in_nc timeout 60 $PEER get $TARGET4 $TPORT 1000000
		check_exit "https-$mode-insecure-exit-0" "https-$mode-insecure"
	else
		fail "https-$mode-insecure-ready" "no ready line: $(tail -n 3 "$T/snet-https-$mode-insecure.log" | tr '\n' ' ')"
		stop_pid "$SNET_PID"
	fi
done
finish
