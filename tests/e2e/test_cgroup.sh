#!/usr/bin/env bash
# Per-application capture (capture.cgroups) in redirect mode through ss-server: a process in
# the captured cgroup-v2 group reaches the target through the proxy while one beside it,
# outside the group, reaches it directly; `snet-tun run -- CMD` runs CMD captured; after
# SIGTERM the rules and the groups snet-tun created are gone. Bad cgroup paths are refused.
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
bg ss-server ns ss-server -s 198.18.0.2 -p 8388 -k "$PW" -m chacha20-ietf-poly1305 -v
wait_port ns 198.18.0.2 8388 || { fail cg-ss "ss-server did not start"; exit 1; }

nc_net() { nsenter --net=/run/netns/"$NC" "$@"; }
# in_group DIR CMD...: CMD in the client namespace, moved into cgroup DIR before exec.
in_group() {
	local dir=$1
	shift
	nc_net sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$dir" "$@"
}

write_config cg "$(printf '  type: ss\n  server: 198.18.0.2\n  port: 8388\n  method: chacha20-ietf-poly1305\n  password: "%s"\n' "$PW")"
printf 'capture:\n  cgroups: [ "%s" ]\n' "$CGPATH" >>"$T/cg.yaml"

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
printf 'mode: tun\nproxy:\n  type: direct\ncapture:\n  cgroups: [a]\n' >"$T/bad.yaml"
out=$("$BIN" -c "$T/bad.yaml" --check 2>&1)
[ $? -eq 1 ] && printf '%s' "$out" | grep -q 'redirect mode only' && pass cg-tun-mode-refused ||
	fail cg-tun-mode-refused "$out"

# snet-tun itself with nsenter (see above), tracked like bg's processes.
nsenter --net=/run/netns/"$NC" "$BIN" -c "$T/cg.yaml" >"$T/snet-cg.log" 2>&1 &
SNET_PID=$!
PIDS+=("$SNET_PID")
if ! wait_log "$T/snet-cg.log" ready 15; then
	fail cg-ready "no ready line: $(tail -n 3 "$T/snet-cg.log" | tr '\n' ' ')"
	exit 1
fi
pass cg-ready
[ -d "$CGTOP/cap" ] && pass cg-group-created || fail cg-group-created "$CGTOP/cap missing"
check cg-rules-present rules_present
rules=$(nc_net nft list table inet snet_tun 2>&1)
if printf '%s\n' "$rules" | grep -q "socket cgroupv2 level 2 \"${CGROOT#/sys/fs/cgroup/}/$CGPATH\" goto output_cg"; then
	pass cg-rules-name-group
else
	fail cg-rules-name-group "no socket cgroupv2 rule naming the group: $(printf '%s' "$rules" | grep cgroup | tr '\n' ' ')"
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
echo "  captured process seen from: $who_in; uncaptured: $who_out"
# ss-server reaches the target from the server namespace (198.18.1.2, the target's own
# lo address); only a direct connection comes from the client's 198.18.0.1.
[ -n "$who_in" ] && [ "$who_in" != 198.18.0.1 ] && pass cg-captured-through-proxy ||
	fail cg-captured-through-proxy "the target saw '$who_in', the client itself"
[ "$who_out" = 198.18.0.1 ] && pass cg-uncaptured-direct ||
	fail cg-uncaptured-direct "the target saw $who_out, not the client 198.18.0.1"
who6=$(in_group "$CGTOP/cap" timeout 20 $PEER who $TARGET6 $TPORT 2>&1)
[ "$who6" != fd00::1 ] && [ -n "$who6" ] && pass cg-captured-ipv6-through-proxy ||
	fail cg-captured-ipv6-through-proxy "the target saw '$who6'"
check cg-captured-get-5MB in_group "$CGTOP/cap" timeout 60 $PEER get $TARGET4 $TPORT 5000000

# snet-tun run: the command in $CGTOP/cap/run-<pid>, captured; the group gone after.
out=$(nc_net "$BIN" run -c "$T/cg.yaml" -- $PEER who $TARGET4 $TPORT 2>&1)
rc=$?
echo "  snet-tun run: exit $rc, seen from: $out"
[ $rc -eq 0 ] && [ -n "$out" ] && [ "$out" != 198.18.0.1 ] && pass cg-run-captured ||
	fail cg-run-captured "exit $rc, the target saw '$out'"
left=$(find "$CGTOP/cap" -mindepth 1 -maxdepth 1 -type d -name 'run-*' | wc -l)
[ "$left" -eq 0 ] && pass cg-run-group-removed || fail cg-run-group-removed "$left run-* groups left"
out=$(nc_net "$BIN" run -c "$T/cg.yaml" -- sh -c 'exit 7' 2>&1)
rc=$?
[ $rc -eq 7 ] && pass cg-run-exit-status || fail cg-run-exit-status "exit $rc, expected 7: $out"
nc_net "$BIN" run -c "$T/cg.yaml" -- /nonexistent/cmd >"$T/run-bad.out" 2>&1
rc=$?
[ $rc -eq 127 ] && grep -q 'No such file' "$T/run-bad.out" && pass cg-run-missing-command ||
	fail cg-run-missing-command "exit $rc: $(cat "$T/run-bad.out")"
out=$(in_nc timeout 20 $PEER who $TARGET4 $TPORT 2>&1)
[ "$out" = 198.18.0.1 ] && pass cg-still-direct-outside || fail cg-still-direct-outside "the target saw $out"

check_exit cg-sigterm-exit-0 cg
if rules_present; then fail cg-rules-removed "table inet snet_tun still there"; else pass cg-rules-removed; fi
[ -d "$CGTOP/cap" ] && fail cg-group-removed "$CGTOP/cap still there" || pass cg-group-removed
[ -d "$CGTOP" ] && pass cg-foreign-group-kept || fail cg-foreign-group-kept "the test's own $CGTOP was removed"

# `run` without a running instance: its group is missing, a clear error, exit 127.
out=$(nc_net "$BIN" run -c "$T/cg.yaml" -- true 2>&1)
rc=$?
[ $rc -eq 127 ] && printf '%s' "$out" | grep -q 'cannot create' && pass cg-run-without-instance ||
	fail cg-run-without-instance "exit $rc: $out"
finish
