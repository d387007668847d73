#!/usr/bin/env bash
# CIDR rules in both capture modes (redirect with ss-server as the proxy; tun with
# auto-route and ss-server), IPv4 and IPv6: destinations in the "domestic" list
# (rules.cn-cidr-file, scope bypass-cn) and in a rules.bypass-cidr-files list are reached
# directly, the others through the proxy, as the target itself reports (peer.py `who`:
# the source address it saw). SIGHUP with other lists swaps which is which. With the full
# CN list ($SNET_SHARED_DIR/data/cn-ipv4-cidrs.txt) every network is applied at start and
# on each reload (the "rules: N bypass networks applied in X ms" log line; the times are
# printed, not judged), a listed address bypasses the capture, five reloads in a
# row never leave a moment without the capture, and in tun mode --cleanup after kill -9
# removes both of the tables the reloads alternate between.
#
#   client ns $NC                                    server ns $NS
#   +---------------------------------------+ veth +--------------------------------------+
#   | 198.18.0.1/24  fd00::1/64             |------| 198.18.0.2/24  fd00::2/64            |
#   | main: default via 198.18.0.2, fd00::2 |      | ss-server :8388 (the proxy)          |
#   | snet-tun: redirect (nft inet snet_tun)|      | lo + peer.py servers on :9000:       |
#   |   or tun st$ID 198.18.255.1/30,       |      |   198.18.1.2  fd00:1::2  in cn-a     |
#   |   fd00:255::1/126, tables 21326 and   |      |   198.18.2.2  fd00:2::2  in cn-b     |
#   |   21327, rules 5200..5203             |      |   198.18.3.2  fd00:3::2  bypass-a    |
#   +---------------------------------------+      +--------------------------------------+
# The lists are tests/e2e/rules/*.txt. The server namespace forwards nothing, so the
# client's default route ends there and no packet can leave the machine; 198.18.4.2 and
# fd00:4::2 (on no list, nowhere) and the CN address are only asked `ip route get` or
# looked up in the nft sets.
TUN_MODE=1 # targets reachable by our marked sockets only through table 100 (lib.sh)
. "$(dirname "$0")/lib.sh"
R=$SRC/tests/e2e/rules
CN=${SNET_SHARED_DIR:-$SRC/../shared}/data/cn-ipv4-cidrs.txt

net_up || { fail cidr-netns "cannot create namespaces"; exit 1; }
# Bypassed destinations leave through the main table; its default route is no more
# specific than ours, so `suppress_prefixlength 0` does not let it win in tun mode.
in_nc ip route add default via 198.18.0.2
in_nc ip -6 route add default via fd00::2
for i in 2 3; do
	in_ns ip addr add 198.18.$i.2/32 dev lo
	in_ns ip -6 addr add fd00:$i::2/128 dev lo nodad
done
start_target || { fail cidr-target "peer server did not start"; exit 1; }
for i in 2 3; do
	bg target4-$i ns $PEER server 198.18.$i.2 $TPORT
	bg target6-$i ns $PEER server fd00:$i::2 $TPORT
	wait_port ns 198.18.$i.2 $TPORT && wait_port ns "[fd00:$i::2]" $TPORT || { fail cidr-target "peer server on .$i.2 did not start"; exit 1; }
done
PW=cidr-secret-$ID
bg ss-server ns ss-server -s 198.18.0.2 -p 8388 -k "$PW" -m chacha20-ietf-poly1305
wait_port ns 198.18.0.2 8388 || { fail cidr-ss "ss-server did not start"; exit 1; }

SS="$(ss_proxy)"
RULES_A="$(printf 'rules:\n  scope: bypass-cn\n  cn-cidr-file: %s\n  bypass-cidr-files: [%s]\n' "$R/cn-a.txt" "$R/bypass-a.txt")"
RULES_B="$(printf 'rules:\n  scope: bypass-cn\n  cn-cidr-file: %s\n' "$R/cn-b.txt")"
RULES_CN="$(printf 'rules:\n  scope: bypass-cn\n  cn-cidr-file: %s\n' "$CN")"
# The networks the CN config keeps out of the capture: the list plus the proxy server.
NCN=$(($(grep -v '^[[:space:]]*#' "$CN" | grep -c '[^[:space:]]') + 1))
# An address inside the list: one above the network address of its first /24-or-larger.
CNADDR=$(awk -F'[./]' '/^[0-9]/ && $5 <= 24 { print $1 "." $2 "." $3 "." ($4 + 1); exit }' "$CN")

# conf MODE NAME RULES: $T/NAME.yaml for MODE (redirect | tun) with ss-server and RULES.
conf() {
	if [ "$1" = tun ]; then write_tun_config "$2" "$SS"; else write_config "$2" "$SS"; fi
	printf '%s\n' "$3" >>"$T/$2.yaml"
}

# direct HOST: the target saw the client's own address (no proxy in the path).
direct() {
	local who
	who=$(in_nc timeout 20 $PEER who "$1" $TPORT) || { echo "who failed: $who"; return 1; }
	case $who in 198.18.0.1 | fd00::1) return 0 ;; esac
	echo "the connection to $1 came from '$who', not directly from the client"
	return 1
}

# expect NAME W1 W2 W3: targets .1.2, .2.2, .3.2 (IPv4 and IPv6 each) reached directly
# (D) or through the proxy (P).
expect() {
	local n=$1 i=1 want host
	shift
	for want in "$@"; do
		for host in 198.18.$i.2 fd00:$i::2; do
			if [ "$want" = D ]; then
				check "$n-$host-direct" direct "$host"
			else
				check "$n-$host-via-proxy" via_proxy "$host"
			fi
		done
		i=$((i + 1))
	done
}

applied() { grep -c 'bypass networks applied in' "$T/snet-$1.log"; }
now_us() { echo "${EPOCHREALTIME/./}"; }
# reload NAME: SIGHUP; waits (10 s at most) for one more "applied" line. RELOAD_MS: the
# time from the signal to that line (the file loaded again, the rules applied), seen
# through 20 ms polls.
reload() {
	local n0 t0
	n0=$(applied "$1")
	t0=$(now_us)
	kill -HUP "$SNET_PID"
	for _ in $(seq 500); do
		if [ "$(applied "$1")" -gt "$n0" ]; then
			RELOAD_MS=$((($(now_us) - t0) / 1000))
			return 0
		fi
		sleep 0.02
	done
	echo "no new 'applied' line after SIGHUP: $(tail -n 3 "$T/snet-$1.log" | tr '\n' ' ')"
	return 1
}

# timing NAME LOGNAME COUNT [RELOAD_MS]: the last apply logged was of COUNT networks. How
# long it took (the log line, and RELOAD_MS from the signal when given) is printed, never
# judged: durations are the bench's business (bench/run), not a test's.
timing() {
	local line cnt ms
	line=$(grep -o 'rules: [0-9]* bypass networks applied in [0-9.]* ms' "$T/snet-$2.log" | tail -n 1)
	cnt=$(printf '%s' "$line" | awk '{ print $2 }')
	ms=$(printf '%s' "$line" | awk '{ print $7 }')
	if [ "$cnt" = "$3" ] && [ -n "$ms" ]; then
		pass "$1-applied ($cnt networks applied in $ms ms${4:+; SIGHUP to applied $4 ms})"
	else
		fail "$1-applied" "expected $3 networks applied, logged: '$line'"
	fi
}

# Where the kernel sends an address from the client namespace.
routed_into_tun() { ip -n "$NC" route get "$1" | grep -c "dev st$ID " >/dev/null || { ip -n "$NC" route get "$1"; return 1; }; }
routed_around_tun() { ! ip -n "$NC" route get "$1" | grep -c "dev st$ID " >/dev/null || { ip -n "$NC" route get "$1"; return 1; }; }
in_set() { in_nc nft get element inet snet_tun "$1" "{ $2 }" >/dev/null; }
not_in_set() { ! in_nc nft get element inet snet_tun "$1" "{ $2 }" >/dev/null 2>&1; }
# table_has TABLE FAMILY(4|6) TEXT
table_has() { ip -n "$NC" -"$2" route show table "$1" | grep -c -- "$3" >/dev/null || { echo "table $1 lacks '$3'"; return 1; }; }
table_empty() { [ -z "$({ ip -n "$NC" route show table "$1"; ip -n "$NC" -6 route show table "$1"; } 2>/dev/null)" ] || { echo "table $1 is not empty"; return 1; }; }

# Nothing of snet-tun's left: tun mode's rules, both tables and the device; or the nft table.
gone() {
	if [ "$1" = redirect ]; then
		! rules_present || { echo "table inet snet_tun still there"; return 1; }
		return 0
	fi
	local out
	out=$({ ip -n "$NC" rule show; ip -n "$NC" -6 rule show; } | grep -E '^52(00|01|02|03):|lookup 2132[67]')
	[ -z "$out" ] || { echo "rules left: $out"; return 1; }
	table_empty 21326 && table_empty 21327 || return 1
	! ip -n "$NC" link show "st$ID" >/dev/null 2>&1 || { echo "device st$ID still there"; return 1; }
}

# gap_watch MODE: in the background, at most 300 rounds or 10 s, until $T/gap.stop exists:
# is the capture there (tun: a rule leading into one of our tables, and addresses on no
# list routed into the tun, both families; redirect: the chain's redirect rule), and is
# the CN address still bypassed? Writes "ROUNDS MISSING" to $T/gap.out.
gap_watch() {
	local n=0 bad=0 end=$((SECONDS + 10))
	while [ $n -lt 300 ] && [ $SECONDS -lt $end ] && [ ! -e "$T/gap.stop" ]; do
		if [ "$1" = tun ]; then
			ip -n "$NC" rule show | grep -c 'lookup 2132[67]' >/dev/null || bad=$((bad + 1))
			ip -n "$NC" route get 198.18.4.2 | grep -c "dev st$ID " >/dev/null || bad=$((bad + 1))
			ip -n "$NC" -6 route get fd00:4::2 | grep -c "dev st$ID " >/dev/null || bad=$((bad + 1))
			ip -n "$NC" route get "$CNADDR" | grep -c "dev st$ID " >/dev/null && bad=$((bad + 1))
		else
			in_nc nft list chain inet snet_tun output | grep -c 'tcp redirect to :1111' >/dev/null || bad=$((bad + 1))
			in_set bypass4 "$CNADDR" 2>/dev/null || bad=$((bad + 1))
		fi
		n=$((n + 1))
	done
	echo "$n $bad" >"$T/gap.out"
}

# The small lists: who goes where, and the swap on SIGHUP.
lists() { # MODE
	local m=$1 n=$1-lists tab
	conf "$m" "$n" "$RULES_A"
	check "$n-config-valid" "$BIN" -c "$T/$n.yaml" --check
	if ! start_snet "$n"; then
		fail "$n-ready" "no ready line: $(tail -n 3 "$T/snet-$n.log" | tr '\n' ' ')"
		stop_pid "$SNET_PID"
		return
	fi
	pass "$n-ready"
	# The proxy server, two networks of the CN-style file, two of the bypass file.
	check "$n-applied-logged" grep -q 'rules: 5 bypass networks applied in' "$T/snet-$n.log"
	if [ "$m" = tun ]; then
		check "$n-ipv6-cn-throw" table_has 21326 6 'throw fd00:1::/64'
		check "$n-ipv6-bypass-file-throw" table_has 21326 6 'throw fd00:3::/64'
		check "$n-ipv4-cn-throw" table_has 21326 4 'throw 198.18.1.0/25'
	else
		check "$n-bypass6-has-cn-and-file" in_set bypass6 "fd00:1::2, fd00:3::2"
		check "$n-bypass4-has-cn-and-file" in_set bypass4 "198.18.1.2, 198.18.3.2"
		check "$n-bypass6-lacks-other" not_in_set bypass6 fd00:2::2
	fi
	expect "$n-a" D P D
	conf "$m" "$n" "$RULES_B"
	check "$n-sighup-applied" reload "$n"
	if [ "$m" = tun ]; then
		# The swap moved the routes to the other table and emptied the first.
		check "$n-reload-ipv6-throw" table_has 21327 6 'throw fd00:2::/64'
		check "$n-reload-old-table-empty" table_empty 21326
		check "$n-reload-rules-follow" sh -c "ip -n $NC rule show | grep -c 'lookup 21327' >/dev/null && ! ip -n $NC rule show | grep -c 'lookup 21326' >/dev/null"
	else
		check "$n-reload-bypass6" in_set bypass6 fd00:2::2
		check "$n-reload-bypass6-dropped" not_in_set bypass6 fd00:1::2
	fi
	expect "$n-b" P D P
	check_exit "$n-sigterm-exit-0" "$n"
	check "$n-all-removed" gone "$m"
}

# The full CN list: time at start and on five reloads, no gap, a listed address bypassed.
cnlist() { # MODE
	local m=$1 n=$1-cn gap i rounds="" missing=""
	conf "$m" "$n" "$RULES_CN"
	if ! start_snet "$n"; then
		fail "$n-ready" "no ready line: $(tail -n 3 "$T/snet-$n.log" | tr '\n' ' ')"
		stop_pid "$SNET_PID"
		return
	fi
	pass "$n-ready"
	timing "$n-start" "$n" "$NCN"
	if [ "$m" = tun ]; then
		check "$n-$CNADDR-around-tun" routed_around_tun "$CNADDR"
		check "$n-198.18.4.2-into-tun" routed_into_tun 198.18.4.2
	else
		check "$n-$CNADDR-in-bypass4" in_set bypass4 "$CNADDR"
		check "$n-198.18.4.2-not-in-bypass4" not_in_set bypass4 198.18.4.2
	fi
	rm -f "$T/gap.stop" "$T/gap.out"
	gap_watch "$m" &
	gap=$!
	PIDS+=("$gap")
	sleep 0.2
	for i in 1 2 3 4 5; do
		if reload "$n" >"$T/reload.out"; then
			timing "$n-reload-$i" "$n" "$NCN" "$RELOAD_MS"
		else
			fail "$n-reload-$i" "$(cat "$T/reload.out")"
		fi
	done
	touch "$T/gap.stop"
	wait "$gap"
	read -r rounds missing 2>/dev/null <"$T/gap.out"
	if [ "${rounds:-0}" -ge 10 ] && [ "${missing:-1}" -eq 0 ]; then
		pass "$n-no-gap-during-5-reloads ($rounds rounds)"
	else
		fail "$n-no-gap-during-5-reloads" "${rounds:-?} rounds, capture or bypass missing in ${missing:-?}"
	fi
	check "$n-still-serving" via_proxy 198.18.2.2
	if [ "$m" = tun ]; then
		# Five swaps: the routes are in the second table now. kill -9, then --cleanup.
		check "$n-second-table-in-use" table_has 21327 4 "default dev st$ID"
		kill -KILL "$SNET_PID"
		wait "$SNET_PID" 2>/dev/null
		check "$n-routes-left-after-kill-9" routes_present
		check "$n-cleanup-exit-0" in_nc "$BIN" --cleanup -c "$T/$n.yaml"
	else
		check_exit "$n-sigterm-exit-0" "$n"
	fi
	check "$n-all-removed" gone "$m"
}

[ -n "$CNADDR" ] || fail cidr-cn-list "no CIDRs in $CN"
lists redirect
lists tun
if [ -n "$CNADDR" ]; then
	cnlist redirect
	cnlist tun
fi
finish
