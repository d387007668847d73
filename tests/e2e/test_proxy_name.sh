#!/usr/bin/env bash
# A proxy given by host name (issue 11): the name is looked up from the domestic resolver
# on marked sockets, never through snet-tun's own resolver (which needs the proxy for the
# foreign side: a circle that failed every connection after 5 s), with /etc/hosts first;
# re-looked up when the answer's TTL ran out or a connect to it failed; its addresses are
# kept out of the capture (redirect: nft set learn_bypass4; tun: a throw route).
#
#   client ns $NC (/etc/netns/$NC/resolv.conf: nameserver 198.18.0.53)
#   +--------------------------------+         +------------------------------------------+
#   | snet-tun (redirect, then tun)  |         | ss-server  198.18.0.2:8388, later .3     |
#   |   proxy.server: proxy.test     |  veth   | dnsmasq    198.18.0.53:53 DOMESTIC:      |
#   |   dns.split: true              |---------|   proxy.test -> 198.18.0.2, later .3 / .2 |
#   | peer who 198.18.1.2:9000       |         | unbound    198.18.3.53:53 FOREIGN (on lo, |
#   | 198.18.0.1/24                  |         |   reached only through ss-server)        |
#   +--------------------------------+         | target     198.18.1.2:9000               |
#                                              +------------------------------------------+
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/e2e/dns/common.sh"

NETNS_ETC=/etc/netns/$NC
cleanup_pn() {
	rm -rf "$NETNS_ETC"
	cleanup
}
trap cleanup_pn EXIT

net_up || { fail pname-netns "cannot create namespaces"; exit 1; }
start_target || { fail pname-target "peer server did not start"; exit 1; }
in_ns ip addr add 198.18.0.3/24 dev "vs$ID"
in_ns ip addr add 198.18.0.53/32 dev "vs$ID"
in_ns ip addr add 198.18.3.53/32 dev lo

# The machine's resolver is the domestic one, as in the report.
mkdir -p "$NETNS_ETC"
echo "nameserver 198.18.0.53" >"$NETNS_ETC/resolv.conf"

# dnsmasq_at ADDR TTL: (re)starts the domestic resolver with proxy.test -> ADDR, TTL s.
dnsmasq_at() {
	[ -n "${DNSMASQ_PID:-}" ] && stop_pid "$DNSMASQ_PID"
	printf 'no-resolv\nno-hosts\nlog-queries\nlocal-ttl=%s\nhost-record=proxy.test,%s\n' \
		"$2" "$1" >"$T/dm.conf"
	bg dnsmasq ns dnsmasq -C "$T/dm.conf" --keep-in-foreground --listen-address=198.18.0.53 \
		--bind-interfaces --user=root --group=root --log-facility="$DLOG" \
		--pid-file="$T/dnsmasq.pid"
	DNSMASQ_PID=$LAST_PID
	wait_port ns 198.18.0.53 53
}
# ss_at ADDR: ss-server at ADDR:8388 (SS_PID_<last octet>), connections logged (-v).
ss_at() {
	bg "ss-${1##*.}" ns ss-server -s "$1" -p 8388 -k "$PW" -m chacha20-ietf-poly1305 -u -v
	eval "SS_PID_${1##*.}=$LAST_PID"
	wait_port ns "$1" 8388
}
ss_conns() { grep -c 'connect to' "$T/ss-$1.log" 2>/dev/null; }

: >"$DLOG"
dnsmasq_at 198.18.0.2 300 || { fail pname-dnsmasq "did not start: $(tail -n 3 "$T/dnsmasq.log")"; exit 1; }
start_unbound foreign 198.18.3.53 || { fail pname-unbound "did not start"; exit 1; }
ss_at 198.18.0.2 || { fail pname-ss "ss-server did not start"; exit 1; }

dns_block() {
	cat <<EOF
rules:
  scope: global
  cn-cidr-file: $DNSDIR/cn.txt
dns:
  enable: true
  listen: 127.0.0.1:1153
  domestic: [${DOMESTIC:-198.18.0.53}]
  foreign: [198.18.3.53]
  split: true
  prefetch: false
  timeout: 5
EOF
}
proxy_block() {
	printf '  type: ss\n  server: %s\n  port: 8388\n  method: chacha20-ietf-poly1305\n  password: "%s"\n  connect-timeout: 8\n' "$1" "$PW"
}

# The first connection goes through at once: no 5 s wait for a circle.
quick() {
	local who
	who=$(in_nc timeout 4 $PEER who $TARGET4 $TPORT) || { echo "no connection within 4 s: $who"; return 1; }
	case $who in 198.18.0.1 | "") echo "not through the proxy: '$who'"; return 1 ;; esac
}
no_circle() {
	! grep -E 'proxy\.test.*no upstream answered|cannot resolve' "$T/snet-$1.log" ||
		{ echo "the lookup went round through snet-tun"; return 1; }
}
# bypassed MODE ADDR: the address is kept out of the capture. (The listing is read
# whole first: grep -q closing the pipe early would fail it under pipefail.)
bypassed() {
	local out
	if [ "$1" = redirect ]; then
		out=$(in_nc nft list set inet snet_tun learn_bypass4 2>&1)
		grep -qE "(^|[^0-9.])${2//./\\.}([^0-9.]|$)" <<<"$out" ||
			{ echo "learn_bypass4: $(grep -A1 elements <<<"$out" | tr -s ' \n' ' ')"; return 1; }
	else
		out=$(in_nc ip route show table all)
		grep -qE "^throw $2 table 2132[67]" <<<"$out" ||
			{ echo "no throw route for $2: $(grep -E 'table 2132[67]' <<<"$out" | grep throw | tr '\n' '|')"; return 1; }
	fi
}
# via_ss LAST_OCTET: a new connection went through the ss-server at 198.18.0.LAST_OCTET.
via_ss() {
	local before after
	before=$(ss_conns "$1")
	quick || return 1
	sleep 0.3
	after=$(ss_conns "$1")
	[ "$after" -gt "$before" ] || { echo "ss-server at .$1 saw no new connection ($before -> $after)"; return 1; }
}
foreign_name() {
	local o
	o=$(Q www.for.test A); expect "$o" NOERROR "A 198.18.7.1"
}

run_mode() { # MODE
	local m=$1 n=pname-$1
	if [ "$m" = redirect ]; then
		write_config "$n" "$(proxy_block proxy.test)"
	else
		write_tun_config "$n" "$(proxy_block proxy.test)"
	fi
	sed -i '/^dns:$/,$d' "$T/$n.yaml"
	dns_block >>"$T/$n.yaml"
	# Back to the start: ss-server at .2 only, proxy.test -> .2 with a long TTL.
	[ -n "${SS_PID_3:-}" ] && { stop_pid "$SS_PID_3"; SS_PID_3=; }
	[ -z "${SS_PID_2:-}" ] && ss_at 198.18.0.2
	dnsmasq_at 198.18.0.2 300
	if ! start_snet "$n"; then
		fail "$n-ready" "no ready line: $(tail -n 3 "$T/snet-$n.log" | tr '\n' ' ')"
		stop_pid "$SNET_PID"
		return
	fi
	pass "$n-ready"
	check "$n-connect-at-once" quick
	check "$n-foreign-name" foreign_name
	check "$n-no-circle" no_circle "$n"
	check "$n-bypass-has-proxy" bypassed "$m" 198.18.0.2
	kill -HUP "$SNET_PID"
	wait_log "$T/snet-$n.log" "reloaded" 5
	check "$n-bypass-survives-sighup" bypassed "$m" 198.18.0.2

	# The server moves to .3 (nothing listens at .2 any more) and the name follows, with
	# a TTL of 10 s: the failed connect makes snet-tun look the name up again.
	stop_pid "$SS_PID_2"; SS_PID_2=
	ss_at 198.18.0.3
	dnsmasq_at 198.18.0.3 10
	check "$n-follows-after-failed-connect" via_ss 3
	check "$n-bypass-has-new-address" bypassed "$m" 198.18.0.3

	# Back to .2 (both servers up, so no connect fails): followed once the TTL ran out.
	ss_at 198.18.0.2
	dnsmasq_at 198.18.0.2 10
	sleep 11
	check "$n-follows-after-ttl" via_ss 2
	check "$n-bypass-refreshed" bypassed "$m" 198.18.0.2
	check "$n-no-circle-at-end" no_circle "$n"
	check_exit "$n-sigterm-exit-0" "$n"
}

run_mode redirect
# Tun mode: only marked sockets reach the targets directly (lib.sh's TUN_MODE routes).
in_nc ip route del 198.18.1.0/24 via 198.18.0.2
in_nc ip -6 route del fd00:1::/64 via fd00::2
in_nc ip route add 198.18.1.0/24 via 198.18.0.2 table 100
in_nc ip rule add fwmark 0x534e lookup 100 pref 100
run_mode tun

# /etc/hosts first: a name only the hosts file knows (dnsmasq refuses it). Redirect mode
# again: the targets are routed in the main table once more.
in_nc ip route add 198.18.1.0/24 via 198.18.0.2
echo "198.18.0.2 pinned.test" >"$NETNS_ETC/hosts"
[ -n "${SS_PID_2:-}" ] || ss_at 198.18.0.2
write_config pname-hosts "$(proxy_block pinned.test)"
sed -i '/^dns:$/,$d' "$T/pname-hosts.yaml"
dns_block >>"$T/pname-hosts.yaml"
if start_snet pname-hosts; then
	check pname-hosts-connect quick
	check pname-hosts-bypass bypassed redirect 198.18.0.2
	check pname-hosts-no-dns-query sh -c "! grep -q 'pinned.test' '$DLOG' || { echo 'pinned.test was asked to the domestic resolver'; exit 1; }"
	check_exit pname-hosts-sigterm-exit-0 pname-hosts
else
	fail pname-hosts-ready "no ready line: $(tail -n 3 "$T/snet-pname-hosts.log" | tr '\n' ' ')"
fi

# dns.domestic empty (split off): the nameservers of /etc/resolv.conf are asked instead,
# on marked sockets; with only a loopback one there, a warning at start.
write_config pname-resolv "$(proxy_block proxy.test)"
sed -i '/^dns:$/,$d' "$T/pname-resolv.yaml"
dns_block | sed -e 's/^  domestic: .*/  domestic: []/' -e 's/^  split: true/  split: false/' >>"$T/pname-resolv.yaml"
dnsmasq_at 198.18.0.2 300
if start_snet pname-resolv; then
	check pname-resolv-connect quick
	check pname-resolv-no-circle no_circle pname-resolv
	check pname-resolv-asked-domestic sh -c "grep -q 'proxy.test from 198.18.0.1' '$DLOG' || { echo 'dnsmasq was not asked for proxy.test'; exit 1; }"
	check_exit pname-resolv-sigterm-exit-0 pname-resolv
else
	fail pname-resolv-ready "no ready line: $(tail -n 3 "$T/snet-pname-resolv.log" | tr '\n' ' ')"
fi
echo "nameserver 127.0.0.53" >"$NETNS_ETC/resolv.conf"
if start_snet pname-resolv; then
	check pname-resolv-loopback-warns grep -q 'no usable nameserver' "$T/snet-pname-resolv.log"
	check_exit pname-resolv-loopback-sigterm-exit-0 pname-resolv
else
	fail pname-resolv-loopback-ready "no ready line: $(tail -n 3 "$T/snet-pname-resolv.log" | tr '\n' ' ')"
fi
finish
