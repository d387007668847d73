#!/usr/bin/env bash
# Tun mode per user, without root at run time: (a) started as root with `user:`, it drops
# to that user keeping only CAP_NET_ADMIN, captures only tun.uids, and still removes its
# routes at SIGTERM; (b) `--setup` as root leaves a persistent tun owned by the user plus
# the routes, the user runs snet-tun with no capabilities at all (upstream sockets
# unmarked, kept out of the tun by the proxy server's throw route), `--cleanup` removes
# it all; (c) a copy of the binary with file capability cap_net_admin, run by the user,
# captures that user's traffic only (tun.uids empty). In each, a second user's traffic
# is shown not to enter the tun.
TUN_MODE=1
. "$(dirname "$0")/lib.sh"

test_users peruser || exit 1
peruser_cleanup() {
	# Whatever a failed run left: the persistent device and routes of (b).
	[ -f "$T/pu-setup.yaml" ] && in_nc "$BIN" --cleanup -c "$T/pu-setup.yaml" >/dev/null 2>&1
	cleanup
}
trap peruser_cleanup EXIT

net_up || { fail peruser-netns "cannot create namespaces"; exit 1; }
start_target || { fail peruser-target "peer server did not start"; exit 1; }

PW=peruser-secret-$ID
bg ss-server ns ss-server -s 198.18.0.2 -p 8388 -k "$PW" -m chacha20-ietf-poly1305
# (b)'s proxy: an address the client reaches only through its main table's default route,
# so only the throw route keeps the unmarked upstream sockets out of the tun.
in_ns ip addr add 198.18.1.3/32 dev lo
bg ss-server-b ns ss-server -s 198.18.1.3 -p 8389 -k "$PW" -m chacha20-ietf-poly1305
wait_port ns 198.18.0.2 8388 && wait_port ns 198.18.1.3 8389 || { fail peruser-ss "ss-server did not start"; exit 1; }

# A user may attach to a tun it owns only if it can open /dev/net/tun. Debian makes it
# 0666; where it is not (containers), unprivileged runs get a 0666 node of the same
# device bind-mounted in a private mount namespace, the host's node stays untouched.
TUNDEV=()
if [ "$(stat -c %a /dev/net/tun)" != 666 ]; then
	mknod "$T/tun" c 10 200 && chmod 666 "$T/tun" || { fail peruser-devtun "cannot make a tun node"; exit 1; }
	TUNDEV=(unshare -m sh -c 'mount --bind "$0" /dev/net/tun && exec "$@"' "$T/tun")
fi
# as USER CMD...: CMD in the client namespace as USER, no capabilities (setpriv execs in
# place, so a background PID is the command's own).
as() {
	local u=$1
	shift
	in_nc "${TUNDEV[@]}" setpriv --reuid="$u" --regid="$(id -g "$u")" --init-groups -- "$@"
}

status_field() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
# runs_as PID UID CAPEFF: the process's real uid and effective capabilities.
runs_as() {
	local uid cap
	uid=$(status_field "$1" Uid)
	cap=$(status_field "$1" CapEff)
	[ "$uid" = "$2" ] && [ "$cap" = "$3" ] || { echo "Uid $uid CapEff $cap, expected $2 $3"; return 1; }
}
# through_proxy USER: USER's connection to the target went through the proxy, and 1 MB
# arrived intact.
through_proxy() {
	local who
	who=$(as "$1" timeout 20 $UPEER who $TARGET4 $TPORT) || { echo "who failed: $who"; return 1; }
	case $who in 198.18.0.1 | "") echo "target saw '$who', not the proxy"; return 1 ;; esac
	as "$1" timeout 60 $UPEER get $TARGET4 $TPORT 1000000
}
# not_captured USER: without the tun the client has no route to the target.
not_captured() {
	local out
	out=$(as "$1" timeout 20 $UPEER get $TARGET4 $TPORT 1000)
	case $out in *unreachable*) return 0 ;; esac
	echo "expected 'network unreachable', got: $out"
	return 1
}
dev_gone() { ! in_nc ip link show "st$ID" >/dev/null 2>&1; }
no_routes() { ! routes_present || { in_nc ip rule show; return 1; }; }

SS_A="$(printf '  type: ss\n  server: 198.18.0.2\n  port: 8388\n  password: "%s"\n' "$PW")"
SS_B="$(printf '  type: ss\n  server: 198.18.1.3\n  port: 8389\n  password: "%s"\n' "$PW")"

# An unknown user is a config error at load time.
printf 'user: snet-no-such-user\n' >"$T/pu-bad.yaml"
out=$("$BIN" --check -c "$T/pu-bad.yaml" 2>&1)
rc=$?
[ $rc = 1 ] && [ "$out" = "$T/pu-bad.yaml:1:7: user: no such user \"snet-no-such-user\"" ] && pass pu-unknown-user || fail pu-unknown-user "rc $rc: $out"

# ---- (a) root, `user:` and tun.uids: drops to the user with CAP_NET_ADMIN only ----
write_tun_config pu-root "$SS_A"
printf 'user: %s\n' $U1 >>"$T/pu-root.yaml"
sed -i "s/^  auto-route: true/  auto-route: true\n  uids: [$UID1]/" "$T/pu-root.yaml"
if start_snet pu-root; then
	pass pu-root-ready
	check pu-root-dropped runs_as "$SNET_PID" "$UID1" 0000000000001000
	check pu-root-log grep -q "running as $U1 (uid $UID1" "$T/snet-pu-root.log"
	check pu-root-user1-through-proxy through_proxy $U1
	check pu-root-user2-not-captured not_captured $U2
	check_exit pu-root-sigterm-exit-0 pu-root
	check pu-root-routes-removed no_routes
	check pu-root-tun-removed dev_gone
else
	fail pu-root-ready "no ready line: $(tail -n 3 "$T/snet-pu-root.log" | tr '\n' ' ')"
	stop_pid "$SNET_PID"
fi

# ---- (b) --setup as root, the user runs without any privilege, --cleanup ----
write_tun_config pu-setup "$SS_B"
printf 'user: %s\n' $U1 >>"$T/pu-setup.yaml"
chmod 644 "$T/pu-setup.yaml"
check pu-setup-no-user-refused sh -c "sed '/^user:/d' '$T/pu-setup.yaml' >'$T/pu-nouser.yaml' && ! ip netns exec $NC '$BIN' --setup -c '$T/pu-nouser.yaml'"
if in_nc "$BIN" --setup -c "$T/pu-setup.yaml" >"$T/setup.log" 2>&1; then
	pass pu-setup-exit-0
	check pu-setup-owner sh -c "ip netns exec $NC cat /sys/class/net/st$ID/owner | grep -qx $UID1"
	sed "s/^/  setup: /" "$T/setup.log" >&2
	check pu-setup-routes routes_present
	check pu-setup-uid-rule sh -c "ip netns exec $NC ip rule show | grep -Eq 'uidrange $UID1-$UID1 lookup 2132[67]'"
	# The default route that (b)'s proxy address needs, and that makes the uncaptured
	# user reach the target directly.
	in_nc ip route add default via 198.18.0.2
	bg snet-pu-user nc "${TUNDEV[@]}" setpriv --reuid=$U1 --regid="$(id -g $U1)" --init-groups -- "$BIN" -c "$T/pu-setup.yaml"
	SNET_PID=$LAST_PID
	if wait_log "$T/snet-pu-user.log" ready 15; then
		pass pu-user-ready
		check pu-user-no-caps runs_as "$SNET_PID" "$UID1" 0000000000000000
		check pu-user-attached grep -q "attached to the persistent device" "$T/snet-pu-user.log"
		check pu-user-setup-routes grep -q "routes installed by --setup" "$T/snet-pu-user.log"
		check pu-user-no-mark-warning grep -q "cannot set SO_MARK" "$T/snet-pu-user.log"
		check pu-user-proxy-thrown sh -c "ip netns exec $NC ip route get 198.18.1.3 uid $UID1 | grep -v 'dev st$ID' | grep -q 'via 198.18.0.2'"
		check pu-user-target-into-tun sh -c "ip netns exec $NC ip route get $TARGET4 uid $UID1 | grep -q 'dev st$ID'"
		check pu-user-user1-through-proxy through_proxy $U1
		check pu-user-200-concurrent as $U1 timeout 120 $UPEER many $TARGET4 $TPORT 200 65536
		who2=$(as $U2 timeout 20 $UPEER who $TARGET4 $TPORT)
		[ "$who2" = 198.18.0.1 ] && pass pu-user-user2-not-captured || fail pu-user-user2-not-captured "target saw '$who2', expected 198.18.0.1 (direct)"
		sed "s/^/  user run: /" "$T/snet-pu-user.log" >&2
		check_exit pu-user-sigterm-exit-0 pu-user
		check pu-user-setup-routes-stay routes_present
	else
		fail pu-user-ready "no ready line: $(tail -n 3 "$T/snet-pu-user.log" | tr '\n' ' ')"
		stop_pid "$SNET_PID"
	fi
	# A proxy the routes from --setup throw no route for would loop: refused at start.
	sed 's/198.18.1.3/198.18.1.4/' "$T/pu-setup.yaml" >"$T/pu-other.yaml" && chmod 644 "$T/pu-other.yaml"
	out=$(as $U1 timeout 10 "$BIN" -c "$T/pu-other.yaml" 2>&1)
	case $out in *"would be routed into the tun"*) pass pu-user-unthrown-proxy-refused ;; *) fail pu-user-unthrown-proxy-refused "$out" ;; esac
	in_nc ip route del default via 198.18.0.2
	check pu-cleanup-exit-0 in_nc "$BIN" --cleanup -c "$T/pu-setup.yaml"
	check pu-cleanup-routes-removed no_routes
	check pu-cleanup-tun-removed dev_gone
else
	fail pu-setup-exit-0 "$(tail -n 3 "$T/setup.log" | tr '\n' ' ')"
fi
# An unprivileged run cannot use `direct` (its connections would be captured again).
write_tun_config pu-direct "$(printf '  type: direct\n')"
chmod 644 "$T/pu-direct.yaml"
out=$(as $U1 timeout 10 "$BIN" -c "$T/pu-direct.yaml" 2>&1)
case $out in *"direct needs CAP_NET_ADMIN"*) pass pu-user-direct-refused ;; *) fail pu-user-direct-refused "$out" ;; esac

# ---- (c) a setcap'd copy run by the user: captures that user only ----
# (The ASan build copes too: the file capability makes it AT_SECURE and non-dumpable, but
# the sanitizer options come from ASAN_OPTIONS, which glibc keeps, and LeakSanitizer
# makes the process dumpable itself for its exit-time check.)
mkdir -p "$T/bin" && cp "$BIN" "$T/bin/snet-tun" && chmod 755 "$T/bin/snet-tun"
if setcap cap_net_admin+ep "$T/bin/snet-tun"; then
	write_tun_config pu-setcap "$SS_A"
	bg snet-pu-setcap nc "${TUNDEV[@]}" setpriv --reuid=$U1 --regid="$(id -g $U1)" --init-groups -- "$T/bin/snet-tun" -c "$T/pu-setcap.yaml"
	SNET_PID=$LAST_PID
	if wait_log "$T/snet-pu-setcap.log" ready 15; then
		pass pu-setcap-ready
		check pu-setcap-caps runs_as "$SNET_PID" "$UID1" 0000000000001000
		check pu-setcap-own-uid grep -q "capturing only uid $UID1's traffic" "$T/snet-pu-setcap.log"
		check pu-setcap-uid-rule sh -c "ip netns exec $NC ip rule show | grep -Eq 'uidrange $UID1-$UID1 lookup 2132[67]'"
		check pu-setcap-user1-through-proxy through_proxy $U1
		check pu-setcap-user2-not-captured not_captured $U2
		check pu-setcap-root-not-captured sh -c "! ip netns exec $NC timeout 20 python3 $T/peer.py get $TARGET4 $TPORT 1000"
		check_exit pu-setcap-sigterm-exit-0 pu-setcap
		check pu-setcap-routes-removed no_routes
		check pu-setcap-tun-removed dev_gone
	else
		fail pu-setcap-ready "no ready line: $(tail -n 3 "$T/snet-pu-setcap.log" | tr '\n' ' ')"
		stop_pid "$SNET_PID"
	fi
else
	fail pu-setcap "setcap cap_net_admin+ep failed (does the file system keep security xattrs?)"
fi
finish
