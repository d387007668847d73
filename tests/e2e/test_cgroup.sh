#!/usr/bin/env bash
# Per-application capture (capture.cgroups) in redirect and tun mode through ss-server: a
# process in the captured cgroup-v2 group reaches the target through the proxy (TCP, and
# UDP through snet-tun) while one beside it, outside the group, reaches it directly;
# `snet-tun run -- CMD` runs CMD captured; after SIGTERM the rules and the groups
# snet-tun created are gone; kill -9 then --cleanup removes the rules. Bad paths refused.
#
# The test makes one group of its own, $CGROOT/snet-e2e-$ID, and names its child "cap" in
# the config (snet-tun creates it and must remove it). Only processes this test starts are
# ever moved into it (each moves itself, then execs). snet-tun and the clients run with
# `nsenter --net`, not `ip netns exec`, which mounts a fresh /sys without the cgroup tree.
. "$(dirname "$0")/lib.sh"

CGROOT=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
if [ -z "$CGROOT" ]; then
	fail cgroup-v2 "no cgroup2 file system mounted"
	exit 1
fi
CGTOP=$CGROOT/snet-e2e-$ID
CGPATH=${CGTOP#"$CGROOT"/}/cap # as the config names it (relative to the cgroup2 root)

cg_cleanup() {
	local d
	cleanup
	# Whatever the test left in its groups is its own: killed, then the groups removed.
	for d in $(find "$CGTOP" -depth -type d 2>/dev/null); do
		[ -e "$d/cgroup.kill" ] && echo 1 >"$d/cgroup.kill" 2>/dev/null
	done
	sleep 0.2
	for d in $(find "$CGTOP" -depth -type d 2>/dev/null); do
		rmdir "$d" 2>/dev/null
	done
}
trap cg_cleanup EXIT

net_up || { fail cg-netns "cannot create namespaces"; exit 1; }
start_target || { fail cg-target "peer server did not start"; exit 1; }
mkdir "$CGTOP" || { fail cg-mkdir "cannot create $CGTOP"; exit 1; }

PW=e2e-secret-$ID
bg ss-server ns ss-server -s 198.18.0.2 -p 8388 -k "$PW" -m chacha20-ietf-poly1305 -u -v
bg udpecho4 ns $PEER udpecho $TARGET4 7000
wait_port ns 198.18.0.2 8388 || { fail cg-ss "ss-server did not start"; exit 1; }

nc_net() { nsenter --net=/run/netns/"$NC" "$@"; }
# in_group DIR CMD...: CMD in the client namespace, moved into cgroup DIR before exec.
in_group() {
	local dir=$1
	shift
	nc_net sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$dir" "$@"
}

SSBLOCK=$(ss_proxy)
write_config cg "$SSBLOCK"
write_tun_config cg-tun "$SSBLOCK"
for f in cg cg-tun; do
	printf 'capture:\n  cgroups: [ "%s" ]\n' "$CGPATH" >>"$T/$f.yaml"
done

# Bad input: paths outside the tree, empty components, quotes; a clear error each.
for bad in '../x' 'a//b' 'a/./b' '""' '"a\"b"' '[1]'; do
	printf 'mode: redirect\nproxy:\n  type: direct\ncapture:\n  cgroups: [ %s ]\n' "$bad" >"$T/bad.yaml"
	out=$("$BIN" -c "$T/bad.yaml" --check 2>&1)
	if [ $? -eq 1 ] && printf '%s' "$out" | grep -q 'bad.yaml:5'; then
		pass "cg-bad-path $bad"
	else
		fail "cg-bad-path $bad" "expected exit 1 with bad.yaml:5: $out"
	fi
done
check cg-config-valid "$BIN" -c "$T/cg.yaml" --check
check cg-tun-config-valid "$BIN" -c "$T/cg-tun.yaml" --check

# One mode's run: NAME is cg (redirect) or cg-tun; the checks are named NAME-...
mode_suite() {
	local n=$1 rules who_in who_out who6 out rc left p_in p_out

	# snet-tun itself with nsenter (see above), tracked like bg's processes.
	nsenter --net=/run/netns/"$NC" "$BIN" -c "$T/$n.yaml" >"$T/snet-$n.log" 2>&1 &
	SNET_PID=$!
	PIDS+=("$SNET_PID")
	if ! wait_log "$T/snet-$n.log" ready 15; then
		fail "$n-ready" "no ready line: $(tail -n 3 "$T/snet-$n.log" | tr '\n' ' ')"
		stop_pid "$SNET_PID"
		return
	fi
	pass "$n-ready"
	[ -d "$CGTOP/cap" ] && pass "$n-group-created" || fail "$n-group-created" "$CGTOP/cap missing"
	check "$n-rules-present" rules_present
	rules=$(nc_net nft list table inet snet_tun 2>&1)
	if printf '%s\n' "$rules" | grep -q "socket cgroupv2 level 2 \"${CGROOT#/sys/fs/cgroup/}/$CGPATH\" $2"; then
		pass "$n-rules-name-group"
	else
		fail "$n-rules-name-group" "no socket cgroupv2 rule naming the group: $(printf '%s' "$rules" | grep cgroup | tr '\n' ' ')"
	fi

	# Side by side: one captured, one not, at the same time.
	in_group "$CGTOP/cap" timeout 20 $PEER who $TARGET4 $TPORT >"$T/who-in.out" 2>&1 &
	p_in=$!
	PIDS+=("$p_in")
	nc_net timeout 20 $PEER who $TARGET4 $TPORT >"$T/who-out.out" 2>&1 &
	p_out=$!
	PIDS+=("$p_out")
	wait "$p_in"
	wait "$p_out"
	who_in=$(cat "$T/who-in.out")
	who_out=$(cat "$T/who-out.out")
	echo "  $n: captured process seen from: $who_in; uncaptured: $who_out"
	# ss-server reaches the target from the server namespace (198.18.1.2, the target's own
	# lo address); only a direct connection comes from the client's 198.18.0.1.
	[ -n "$who_in" ] && [ "$who_in" != 198.18.0.1 ] && pass "$n-captured-through-proxy" ||
		fail "$n-captured-through-proxy" "the target saw '$who_in', the client itself"
	[ "$who_out" = 198.18.0.1 ] && pass "$n-uncaptured-direct" ||
		fail "$n-uncaptured-direct" "the target saw $who_out, not the client 198.18.0.1"
	if [ "$n" = cg ]; then # tun mode's IPv6 rides the same mark; the test covers IPv4 there
		who6=$(in_group "$CGTOP/cap" timeout 20 $PEER who $TARGET6 $TPORT 2>&1)
		[ "$who6" != fd00::1 ] && [ -n "$who6" ] && pass "$n-captured-ipv6-through-proxy" ||
			fail "$n-captured-ipv6-through-proxy" "the target saw '$who6'"
	fi
	check "$n-captured-get-5MB" in_group "$CGTOP/cap" timeout 60 $PEER get $TARGET4 $TPORT 5000000

	# UDP: the captured process's datagrams go through snet-tun, the uncaptured one's do
	# not (redirect mode counts datagrams in udp-up; tun mode's flows stay in udp-flows for
	# tun.udp-timeout, 60 s: one flow per run of `udp`).
	local key=udp-up min=200 st0 st1 st2
	[ "$n" = cg-tun ] && key=udp-flows min=1
	st0=$(stat_of "$(snet_stats "$n")" $key)
	check "$n-captured-udp-echo" in_group "$CGTOP/cap" timeout 60 $PEER udp $TARGET4 7000 200 1200 0
	st1=$(stat_of "$(snet_stats "$n")" $key)
	check "$n-uncaptured-udp-echo" nc_net timeout 60 $PEER udp $TARGET4 7000 200 1200 0
	st2=$(stat_of "$(snet_stats "$n")" $key)
	echo "  $n: $key $st0 -> $st1 (captured) -> $st2 (uncaptured)"
	[ "${st1:-0}" -ge $((${st0:-0} + min)) ] && pass "$n-captured-udp-through-snet-tun" ||
		fail "$n-captured-udp-through-snet-tun" "$key $st0 -> $st1"
	[ "${st2:-0}" = "${st1:-0}" ] && pass "$n-uncaptured-udp-not-through-snet-tun" ||
		fail "$n-uncaptured-udp-not-through-snet-tun" "$key $st1 -> $st2"

	# snet-tun run: the command in $CGTOP/cap/run-<pid>, captured; the group gone after.
	out=$(nc_net "$BIN" run -c "$T/$n.yaml" -- $PEER who $TARGET4 $TPORT 2>&1)
	rc=$?
	echo "  $n: snet-tun run: exit $rc, seen from: $out"
	[ $rc -eq 0 ] && [ -n "$out" ] && [ "$out" != 198.18.0.1 ] && pass "$n-run-captured" ||
		fail "$n-run-captured" "exit $rc, the target saw '$out'"
	left=$(find "$CGTOP/cap" -mindepth 1 -maxdepth 1 -type d -name 'run-*' | wc -l)
	[ "$left" -eq 0 ] && pass "$n-run-group-removed" || fail "$n-run-group-removed" "$left run-* groups left"
	out=$(nc_net "$BIN" run -c "$T/$n.yaml" -- sh -c 'exit 7' 2>&1)
	rc=$?
	[ $rc -eq 7 ] && pass "$n-run-exit-status" || fail "$n-run-exit-status" "exit $rc, expected 7: $out"
	nc_net "$BIN" run -c "$T/$n.yaml" -- /nonexistent/cmd >"$T/run-bad.out" 2>&1
	rc=$?
	[ $rc -eq 127 ] && grep -q 'No such file' "$T/run-bad.out" && pass "$n-run-missing-command" ||
		fail "$n-run-missing-command" "exit $rc: $(cat "$T/run-bad.out")"
	out=$(in_nc timeout 20 $PEER who $TARGET4 $TPORT 2>&1)
	[ "$out" = 198.18.0.1 ] && pass "$n-still-direct-outside" || fail "$n-still-direct-outside" "the target saw $out"

	check_exit "$n-sigterm-exit-0" "$n"
	if rules_present; then fail "$n-rules-removed" "table inet snet_tun still there"; else pass "$n-rules-removed"; fi
	if in_nc ip rule show | grep -q 'lookup 2132[67]'; then
		fail "$n-ip-rules-removed" "$(in_nc ip rule show | grep 2132 | tr '\n' ' ')"
	else
		pass "$n-ip-rules-removed"
	fi
	[ -d "$CGTOP/cap" ] && fail "$n-group-removed" "$CGTOP/cap still there" || pass "$n-group-removed"
	[ -d "$CGTOP" ] && pass "$n-foreign-group-kept" || fail "$n-foreign-group-kept" "the test's own $CGTOP was removed"

	# `run` without a running instance: its group is missing, a clear error, exit 127.
	out=$(nc_net "$BIN" run -c "$T/$n.yaml" -- true 2>&1)
	rc=$?
	[ $rc -eq 127 ] && printf '%s' "$out" | grep -q 'cannot create' && pass "$n-run-without-instance" ||
		fail "$n-run-without-instance" "exit $rc: $out"
}

# (REDIRECT_METHOD=tproxy: TCP is marked for TPROXY in tcp_route, not redirected.)
if [ "${REDIRECT_METHOD:-redirect}" = tproxy ]; then mode_suite cg "goto tcp_route_cg"; else mode_suite cg "goto output_cg"; fi
# Tun mode: main's specific routes win over the tun (suppress_prefixlength 0), as they do
# on a real machine for its LAN; so the targets move out of main into table 100, looked up
# after tun mode's rules (as a default route in main would be).
in_nc ip route del 198.18.1.0/24 via 198.18.0.2
in_nc ip -6 route del fd00:1::/64 via fd00::2
in_nc ip route add 198.18.1.0/24 via 198.18.0.2 table 100
in_nc ip -6 route add fd00:1::/64 via fd00::2 table 100
in_nc ip rule add lookup 100 pref 6000
in_nc ip -6 rule add lookup 100 pref 6000
mode_suite cg-tun "meta mark set"

# kill -9 leaves the rules (and the group it made) behind; --cleanup removes the rules
# in both modes (the group stays: it cannot know it made it; the test removes it).
for n in cg cg-tun; do
	nsenter --net=/run/netns/"$NC" "$BIN" -c "$T/$n.yaml" >"$T/snet-$n-k9.log" 2>&1 &
	SNET_PID=$!
	PIDS+=("$SNET_PID")
	if ! wait_log "$T/snet-$n-k9.log" ready 15; then
		fail "$n-kill9-ready" "no ready line: $(tail -n 3 "$T/snet-$n-k9.log" | tr '\n' ' ')"
		continue
	fi
	kill -KILL "$SNET_PID"
	wait "$SNET_PID" 2>/dev/null
	check "$n-rules-left-after-kill-9" rules_present
	check "$n-cleanup-exit-0" nc_net "$BIN" --cleanup -c "$T/$n.yaml"
	if rules_present || in_nc ip rule show | grep -q 'lookup 2132[67]'; then
		fail "$n-cleanup-removes-rules" "$(in_nc ip rule show | grep 2132 | tr '\n' ' ')"
	else
		pass "$n-cleanup-removes-rules"
	fi
	out=$(in_group "$CGTOP/cap" timeout 20 $PEER who $TARGET4 $TPORT 2>&1)
	[ "$out" = 198.18.0.1 ] && pass "$n-direct-after-cleanup" || fail "$n-direct-after-cleanup" "the target saw '$out'"
	rmdir "$CGTOP/cap" 2>/dev/null
done
finish
