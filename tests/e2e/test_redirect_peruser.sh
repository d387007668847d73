#!/usr/bin/env bash
# Redirect mode per user: with redirect.uids: [U1] only U1's TCP and UDP go through
# ss-server (the target sees the proxy's address, snet-tun's UDP counter grows) and only
# U1's port-53 datagrams go to the resolver, while U2 and root, side by side, reach the
# target directly (it sees the client's own address, the kill switch lets them pass);
# after SIGHUP to redirect.exclude-uids: [U1] it is the other way round. The chains carry
# the `meta skuid` rules ahead of the DNS redirect; the rules are gone after SIGTERM.
#
#   client ns 198.18.0.1 --veth-- server ns 198.18.0.2 (ss-server -u)
#     U1, U2: peer.py who / udpwho      198.18.1.2: TCP target, UDP "who" :7200 and :53
. "$(dirname "$0")/lib.sh"

test_users rpu || exit 1

net_up || { fail rpu-netns "cannot create namespaces"; exit 1; }
start_target || { fail rpu-target "peer server did not start"; exit 1; }
# UDP "who": answers each datagram with the address it came from.
cat >"$T/udpwho.py" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
if sys.argv[1] == "serve":
    s.bind((sys.argv[2], int(sys.argv[3])))
    while True:
        d, a = s.recvfrom(2048)
        s.sendto(a[0].encode(), a)
else:
    s.settimeout(5)
    s.sendto(b"who?", (sys.argv[2], int(sys.argv[3])))
    print(s.recvfrom(2048)[0].decode())
EOF
chmod 644 "$T/udpwho.py"
bg udpwho ns python3 "$T/udpwho.py" serve $TARGET4 7200
# The same on port 53: a query that reaches it was not taken by the resolver.
bg udpwho53 ns python3 "$T/udpwho.py" serve $TARGET4 53

PW=rpu-secret-$ID
bg ss-server ns ss-server -s 198.18.0.2 -p 8388 -k "$PW" -m chacha20-ietf-poly1305 -u
wait_port ns 198.18.0.2 8388 || { fail rpu-ss "ss-server did not start"; exit 1; }

# as USER CMD...: CMD in the client namespace as USER (root: as is).
as() {
	local u=$1
	shift
	[ "$u" = root ] && { in_nc "$@"; return; }
	in_nc setpriv --reuid="$u" --regid="$(id -g "$u")" --init-groups -- "$@"
}
# captured USER: USER's TCP and UDP reached the target through the proxy, not from the
# client's own address, the UDP datagram went through snet-tun, and a datagram to port
# 53 went to the resolver (which answers no such thing), not to the target.
captured() {
	local who up0 up1 up_who
	who=$(as "$1" timeout 20 $UPEER who $TARGET4 $TPORT) || { echo "tcp who failed: $who"; return 1; }
	case $who in 198.18.0.1 | "") echo "tcp: target saw '$who', not the proxy"; return 1 ;; esac
	up0=$(stat_of "$(snet_stats rpu)" udp-up)
	who=$(as "$1" timeout 10 python3 "$T/udpwho.py" ask $TARGET4 7200) || { echo "udp who failed: $who"; return 1; }
	case $who in 198.18.0.1 | "") echo "udp: target saw '$who', not the proxy"; return 1 ;; esac
	up_who=$who
	up1=$(stat_of "$(snet_stats rpu)" udp-up)
	[ "${up1:-0}" -gt "${up0:-0}" ] || { echo "udp-up $up0 -> $up1: not through snet-tun"; return 1; }
	who=$(as "$1" timeout 10 python3 "$T/udpwho.py" ask $TARGET4 53 2>&1)
	case $who in 198.18.*) echo "dns: port 53 reached the target (it saw '$who'), not the resolver"; return 1 ;; esac
	echo "tcp and udp from $up_who, udp-up $up0 -> $up1, port 53 kept from the target"
}
# direct USER [-]: USER's TCP, UDP and port-53 UDP reached the target from the client's
# own address, snet-tun saw no UDP (not checked with "-": another client runs at the
# same time).
direct() {
	local who up0 up1
	who=$(as "$1" timeout 20 $UPEER who $TARGET4 $TPORT) || { echo "tcp who failed: $who"; return 1; }
	[ "$who" = 198.18.0.1 ] || { echo "tcp: target saw '$who', not the client"; return 1; }
	up0=$(stat_of "$(snet_stats rpu)" udp-up)
	who=$(as "$1" timeout 10 python3 "$T/udpwho.py" ask $TARGET4 7200) || { echo "udp who failed: $who"; return 1; }
	[ "$who" = 198.18.0.1 ] || { echo "udp: target saw '$who', not the client"; return 1; }
	up1=$(stat_of "$(snet_stats rpu)" udp-up)
	[ "${2:-}" = - ] || [ "${up1:-0}" = "${up0:-0}" ] || { echo "udp-up $up0 -> $up1: went through snet-tun"; return 1; }
	who=$(as "$1" timeout 10 python3 "$T/udpwho.py" ask $TARGET4 53) || { echo "dns: port 53 did not reach the target: $who"; return 1; }
	[ "$who" = 198.18.0.1 ] || { echo "dns: target's port 53 saw '$who'"; return 1; }
}
# report NAME FN USER: runs FN USER, PASS with its output or FAIL with it.
report() {
	local out
	if out=$("$2" "$3" 2>&1); then pass "$1${out:+ ($out)}"; else fail "$1" "$out"; fi
}
# scoped CHAIN PATTERN FIRST: the user rule PATTERN stands in CHAIN ahead of the first
# rule matching FIRST (what captures).
scoped() {
	local l
	l=$(in_nc nft list chain inet snet_tun "$1" 2>&1)
	printf '%s\n' "$l" | awk -v p="$2" -v f="$3" '$0 ~ p && !s { s = NR } $0 ~ f && !c { c = NR }
		END { exit !(s && c && s < c) }' || { echo "$1: no '$2' ahead of '$3': $l"; return 1; }
}

write_config rpu "$(ss_proxy)"
# The resolver on (its upstreams are never asked here): the DNS redirect is scoped too.
sed -i "s/^dns:/rules:\n  block-uncaptured: true\ndns:/; s/^  enable: false/  enable: true\n  listen: 127.0.0.1:1153\n  domestic: [198.18.0.2]\n  foreign: [198.18.0.2]/" "$T/rpu.yaml"
cp "$T/rpu.yaml" "$T/rpu.base"
sed -i "s/^  install-rules: true/  install-rules: true\n  uids: [$UID1]/" "$T/rpu.yaml"
# A uid out of range or not a number is a config error with FILE:LINE.
sed "s/^  uids: \[$UID1\]/  uids: [4294967295]/" "$T/rpu.yaml" >"$T/rpu-bad.yaml"
out=$("$BIN" --check -c "$T/rpu-bad.yaml" 2>&1)
case $out in *rpu-bad.yaml:*out\ of\ range*) pass "rpu-bad-uid-rejected" ;; *) fail rpu-bad-uid-rejected "$out" ;; esac
sed "s/^  uids: \[$UID1\]/  exclude-uids: [bob]/" "$T/rpu.yaml" >"$T/rpu-bad.yaml"
out=$("$BIN" --check -c "$T/rpu-bad.yaml" 2>&1)
case $out in *rpu-bad.yaml:*) pass "rpu-bad-exclude-uid-rejected" ;; *) fail rpu-bad-exclude-uid-rejected "$out" ;; esac

# The chain and the verdict that capture TCP (REDIRECT_METHOD=tproxy: marked for TPROXY).
TCP_CHAIN=output TCP_VERDICT="tcp redirect to"
[ "${REDIRECT_METHOD:-redirect}" = tproxy ] && TCP_CHAIN=tcp_route TCP_VERDICT="ct mark set"
if start_snet rpu; then
	pass rpu-ready
	check rpu-output-scoped scoped $TCP_CHAIN "skuid != $UID1 return" "$TCP_VERDICT"
	check rpu-udp-route-scoped scoped udp_route "skuid != $UID1 return" "mark set"
	check rpu-filter-scoped scoped filter "skuid != $UID1 return" "reject"
	check rpu-dns-scoped scoped output "skuid != $UID1 return" "dport 53 redirect"
	report "rpu-uids-$U1-captured" captured $U1
	report "rpu-uids-$U2-direct" direct $U2
	report "rpu-uids-root-direct" direct root
	# Side by side: both users' clients at once, each seeing its own path.
	captured $U1 >"$T/side1.out" 2>&1 &
	p1=$!
	direct $U2 - >"$T/side2.out" 2>&1 &
	p2=$!
	if wait $p1 && wait $p2; then pass "rpu-side-by-side"; else fail rpu-side-by-side "$(cat "$T/side1.out" "$T/side2.out" | tr '\n' ' ')"; fi

	# The other way round, on SIGHUP: every user but U1.
	cp "$T/rpu.base" "$T/rpu.yaml"
	sed -i "s/^  install-rules: true/  install-rules: true\n  exclude-uids: [$UID1]/" "$T/rpu.yaml"
	kill -HUP "$SNET_PID"
	if wait_log "$T/snet-rpu.log" "reloaded" 5; then pass rpu-hup-reload; else fail rpu-hup-reload "$(tail -n 2 "$T/snet-rpu.log" | tr '\n' ' ')"; fi
	check rpu-exclude-scoped scoped $TCP_CHAIN "skuid $UID1 return" "$TCP_VERDICT"
	check rpu-exclude-udp-scoped scoped udp_route "skuid $UID1 return" "mark set"
	report "rpu-exclude-$U1-direct" direct $U1
	report "rpu-exclude-$U2-captured" captured $U2
	report "rpu-exclude-root-captured" captured root
	check_exit rpu-sigterm-exit-0 rpu
	if rules_present; then fail rpu-rules-removed "table still there"; else pass rpu-rules-removed; fi
else
	fail rpu-ready "$(tail -n 3 "$T/snet-rpu.log" | tr '\n' ' ')"
fi
finish
