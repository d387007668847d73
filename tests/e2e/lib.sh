# tests/e2e/lib.sh -- sourced by the end-to-end tests: two network namespaces joined by a
# veth pair, the real proxy peers started inside them, snet-tun started in the client
# namespace, PASS/FAIL reporting, and cleanup of every process, namespace and file on exit.
#
#   client ns  $NC: 198.18.0.1/24, fd00::1/64     routes 198.18.1.0/24, fd00:1::/64 via server
#   server ns  $NS: 198.18.0.2/24, fd00::2/64     proxies listen here
#                   198.18.1.2/32, fd00:1::2/128  the target (peer.py server) listens here
# Nothing is routed anywhere else, so no packet can leave the machine.

set -uo pipefail

SRC=${SNET_SRC_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BIN=${SNET_TUN_BIN:-$SRC/build/snet-tun}
PEER="python3 $SRC/tests/e2e/peer.py"
ID=$(printf '%x' $$)
NC=snc$ID
NS=sns$ID
T=$(mktemp -d /tmp/snet-e2e.XXXXXX)
chmod 755 "$T"
PIDS=()
FAILS=0
TARGET4=198.18.1.2
TARGET6=fd00:1::2
TPORT=9000

pass() { echo "PASS $1"; }
fail() {
	echo "FAIL $1: $2"
	FAILS=$((FAILS + 1))
}
# check NAME CMD...: PASS when CMD succeeds, else FAIL with CMD's last output line.
check() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then
		pass "$name"
	else
		fail "$name" "$(printf '%s' "$out" | tail -n 3 | tr '\n' ' ')"
	fi
}

in_nc() { ip netns exec "$NC" "$@"; }
in_ns() { ip netns exec "$NS" "$@"; }

# stop_pid PID: TERM, wait up to 5 s, then KILL. Returns the exit status when it exited.
stop_pid() {
	local p=$1 i
	kill -TERM "$p" 2>/dev/null || return 0
	for i in $(seq 50); do
		kill -0 "$p" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$p" 2>/dev/null
	wait "$p" 2>/dev/null
}

cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill -0 "$p" 2>/dev/null && stop_pid "$p"
	done
	ip netns del "$NC" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	for p in "${TEST_USERS[@]}"; do userdel "$p" 2>/dev/null; done
	# KEEP_LOGS=DIR: a failing test's files (every process's log) are kept there
	if [ -n "${KEEP_LOGS:-}" ] && [ "$FAILS" -gt 0 ]; then
		mkdir -p "$KEEP_LOGS" && cp -a "$T" "$KEEP_LOGS/"
	fi
	rm -rf "$T"
}
trap cleanup EXIT

# test_users TAG: the two test users of the per-user tests, U1=snettest1 and U2=snettest2
# (UID1, UID2), made when missing and deleted by cleanup when this run made them. Runs
# take turns (a lock held until exit), so one never deletes the users another is using.
# UPEER: peer.py from a copy they can read. 1 (reported as TAG-lock / TAG-users) on failure.
TEST_USERS=()
test_users() {
	local u
	U1=snettest1 U2=snettest2
	exec 9>/tmp/snet-e2e-peruser.lock
	flock -w 600 9 || { fail "$1-lock" "another run holds /tmp/snet-e2e-peruser.lock"; return 1; }
	for u in $U1 $U2; do
		if ! id -u "$u" >/dev/null 2>&1; then
			useradd --system --no-create-home --shell /usr/sbin/nologin "$u" ||
				{ fail "$1-users" "cannot create $u"; return 1; }
			TEST_USERS+=("$u")
		fi
	done
	UID1=$(id -u $U1) UID2=$(id -u $U2)
	cp "$SRC/tests/e2e/peer.py" "$T/peer.py" && chmod 644 "$T/peer.py"
	UPEER="python3 $T/peer.py"
}
trap 'exit 130' INT TERM

net_up() {
	ip netns add "$NC" || return 1
	ip netns add "$NS" || return 1
	ip link add "vc$ID" netns "$NC" type veth peer name "vs$ID" netns "$NS" || return 1
	in_nc ip link set lo up
	in_ns ip link set lo up
	in_nc ip addr add 198.18.0.1/24 dev "vc$ID"
	in_nc ip -6 addr add fd00::1/64 dev "vc$ID" nodad
	in_ns ip addr add 198.18.0.2/24 dev "vs$ID"
	in_ns ip -6 addr add fd00::2/64 dev "vs$ID" nodad
	in_ns ip addr add 198.18.1.2/32 dev lo
	in_ns ip -6 addr add fd00:1::2/128 dev lo nodad
	in_nc ip link set "vc$ID" up
	in_ns ip link set "vs$ID" up
	if [ -z "${TUN_MODE:-}" ]; then
		in_nc ip route add 198.18.1.0/24 via 198.18.0.2
		in_nc ip -6 route add fd00:1::/64 via fd00::2
	else
		# Tun mode: only snet-tun's own (marked) sockets reach the targets directly,
		# through table 100; everything else can reach them only through the tun.
		in_nc ip route add 198.18.1.0/24 via 198.18.0.2 table 100
		in_nc ip -6 route add fd00:1::/64 via fd00::2 table 100
		in_nc ip rule add fwmark 0x534e lookup 100 pref 100
		in_nc ip -6 rule add fwmark 0x534e lookup 100 pref 100
	fi
}

# bg NAME NS CMD...: starts CMD in namespace NS (nc|ns), output to $T/NAME.log; sets LAST_PID.
bg() {
	local name=$1 where=$2
	shift 2
	# Emptied here, not by the background job's own redirection: that one may come after
	# the caller's first look at the log, which would find a previous run's "ready".
	: >"$T/$name.log"
	if [ "$where" = nc ]; then
		ip netns exec "$NC" "$@" >>"$T/$name.log" 2>&1 &
	else
		ip netns exec "$NS" "$@" >>"$T/$name.log" 2>&1 &
	fi
	LAST_PID=$!
	PIDS+=("$LAST_PID")
}

# wait_port NS(nc|ns) ADDR PORT: waits up to 10 s for a TCP listener.
wait_port() {
	local where=$1 addr=$2 port=$3 i ns=$NC
	[ "$where" = ns ] && ns=$NS
	for i in $(seq 100); do
		ip netns exec "$ns" ss -Hltn "src $addr and sport = :$port" 2>/dev/null | grep -c . >/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# hup NAME: SIGHUP, then wait (5 s) for one more "reloaded" line in the log.
hup() {
	local n i
	n=$(grep -c reloaded "$T/snet-$1.log")
	kill -HUP "$SNET_PID"
	for i in $(seq 50); do
		[ "$(grep -c reloaded "$T/snet-$1.log")" -gt "$n" ] && return 0
		sleep 0.1
	done
	echo "no 'reloaded' line within 5 s: $(tail -n 2 "$T/snet-$1.log" | tr '\n' ' ')"
	return 1
}

# ss_proxy: an ss proxy block for write_config / write_tun_config: ss-server on
# 198.18.0.2:8388, chacha20-ietf-poly1305, password $PW.
ss_proxy() {
	printf '  type: ss\n  server: 198.18.0.2\n  port: 8388\n  method: chacha20-ietf-poly1305\n  password: "%s"\n' "$PW"
}

# udp_eviction NAME: 100 UDP flows at once against a bound of 64 (udp-max-flows: 64): the
# oldest go, the process lives (NAME-still-serving) and a new flow is echoed in full
# (NAME-echo-after-eviction, at most $LOSS % lost). The echo listens on $TARGET4:7000.
udp_eviction() {
	local i pids=()
	for i in $(seq 100); do
		in_nc timeout 5 $PEER udp $TARGET4 7000 1 64 100 >/dev/null 2>&1 &
		pids+=($!)
	done
	wait "${pids[@]}"
	check "$1-still-serving" kill -0 "$SNET_PID"
	check "$1-echo-after-eviction" in_nc timeout 30 $PEER udp $TARGET4 7000 100 512 "$LOSS"
}

# wait_log FILE PATTERN [SECONDS]
wait_log() { wait_new_log "$1" 0 "$2" "${3:-10}"; }

# wait_new_log FILE N PATTERN [SECS]: like wait_log, for a line after FILE's first N lines
# (an older line with the same words does not count). grep -c, not -q: -q would leave
# tail writing into a closed pipe on a long log, and pipefail would call that a failure.
wait_new_log() {
	local i
	for i in $(seq $((${4:-10} * 10))); do
		tail -n +"$(($2 + 1))" "$1" 2>/dev/null | grep -c -- "$3" >/dev/null && return 0
		sleep 0.1
	done
	return 1
}

start_target() {
	bg target4 ns $PEER server $TARGET4 $TPORT
	bg target6 ns $PEER server $TARGET6 $TPORT
	wait_port ns $TARGET4 $TPORT && wait_port ns "[$TARGET6]" $TPORT
}

# start_tinyproxy PORT [USER PASS]: tinyproxy in the foreground at 198.18.0.2:PORT, with no
# ConnectPort line (CONNECT to any port), Basic auth when USER is given; waits for it.
start_tinyproxy() {
	{
		printf 'User nobody\nGroup nogroup\nPort %s\nListen 198.18.0.2\nTimeout 60\n' "$1"
		printf 'MaxClients 1024\nLogLevel Info\nAllow 198.18.0.0/15\nDisableViaHeader Yes\n'
		[ $# -ge 3 ] && printf 'BasicAuth %s %s\n' "$2" "$3"
	} >"$T/tinyproxy.conf"
	bg tinyproxy ns tinyproxy -d -c "$T/tinyproxy.conf"
	wait_port ns 198.18.0.2 "$1"
}

# start_dante PORT: dante-server without authentication at 198.18.0.2:PORT, reaching the
# targets over IPv4 and IPv6 from the server namespace; logs in $T/danted*.log.
start_dante() {
	cat >"$T/danted.conf" <<EOF
logoutput: $T/danted-internal.log
internal: 198.18.0.2 port = $1
external: $TARGET4
external: $TARGET6
socksmethod: none
clientmethod: none
user.privileged: root
user.unprivileged: nobody
client pass { from: 198.18.0.0/15 to: 0.0.0.0/0 }
socks pass { from: 0.0.0.0/0 to: 0.0.0.0/0 }
socks pass { from: 0.0.0.0/0 to: ::/0 }
EOF
	bg danted ns danted -f "$T/danted.conf" -N 2 -p "$T/danted.pid"
	wait_port ns 198.18.0.2 "$1"
}

# Writes $T/NAME.yaml for redirect mode with the given proxy block (YAML lines, indented);
# redirect.method is $REDIRECT_METHOD (default redirect).
write_config() {
	local name=$1 proxy=$2
	cat >"$T/$name.yaml" <<EOF
mode: redirect
log-level: ${LOG_LEVEL:-info}
proxy:
$proxy
redirect:
  listen: 127.0.0.1:1111
  install-rules: true
  method: ${REDIRECT_METHOD:-redirect}
dns:
  enable: false
EOF
}

# Writes $T/NAME.yaml for tun mode (device st$ID, auto-route) with the given proxy block.
write_tun_config() {
	local name=$1 proxy=$2
	cat >"$T/$name.yaml" <<EOF
mode: tun
log-level: ${LOG_LEVEL:-info}
proxy:
$proxy
tun:
  name: st$ID
  address: 198.18.255.1/30
  address6: fd00:255::1/126
  mtu: ${TUN_MTU:-1500}
  auto-route: true
dns:
  enable: false
EOF
}

# A rule into one of tun mode's two tables (21326, 21327: reloads alternate between them).
routes_present() { in_nc ip rule show | grep -Ec 'lookup 2132[67]( |$)' >/dev/null; }

# start_snet NAME: runs snet-tun -c $T/NAME.yaml in the client namespace, waits for ready.
start_snet() {
	bg "snet-$1" nc "$BIN" -c "$T/$1.yaml"
	SNET_PID=$LAST_PID
	wait_log "$T/snet-$1.log" ready 15
}

# stop_snet NAME: SIGTERM; succeeds when it exited 0 (ASan reports leaks as non-zero).
stop_snet() {
	local rc
	kill -TERM "$SNET_PID" 2>/dev/null
	for _ in $(seq 100); do
		kill -0 "$SNET_PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$SNET_PID" 2>/dev/null; then
		kill -KILL "$SNET_PID"
		wait "$SNET_PID" 2>/dev/null
		echo "snet-tun did not exit within 10 s of SIGTERM"
		return 1
	fi
	wait "$SNET_PID"
	rc=$?
	if [ $rc -ne 0 ]; then
		echo "snet-tun exited $rc after SIGTERM"
		tail -n 20 "$T/snet-$1.log"
		return 1
	fi
}

fd_count() { ls "/proc/$SNET_PID/fd" 2>/dev/null | wc -l; }
# fds_back_to N: within 5 s snet-tun holds no more descriptors than N (all sessions gone).
fds_back_to() {
	local i
	for i in $(seq 50); do
		[ "$(fd_count)" -le "$1" ] && return 0
		sleep 0.1
	done
	echo "snet-tun holds $(fd_count) descriptors, $1 before the connections"
	return 1
}

# snet_stats NAME: SIGUSR1 to snet-tun, then prints the stats line it logged (within 5 s).
snet_stats() {
	local log=$T/snet-$1.log n i
	n=$(grep -c 'stats: ' "$log")
	kill -USR1 "$SNET_PID" 2>/dev/null || return 1
	for i in $(seq 50); do
		if [ "$(grep -c 'stats: ' "$log")" -gt "$n" ]; then
			grep 'stats: ' "$log" | tail -n 1
			return 0
		fi
		sleep 0.1
	done
	return 1
}
# stat_of LINE KEY: the value after KEY in a stats line (empty when absent).
stat_of() { printf '%s\n' "$1" | sed -n "s/.* $2 \([^ ]*\).*/\1/p"; }

rules_present() { in_nc nft list table inet snet_tun >/dev/null 2>&1; }

# via_proxy HOST: the target saw a connection from the server namespace, not from us.
via_proxy() {
	local who
	who=$(in_nc timeout 20 $PEER who "$1" $TPORT) || { echo "who failed: $who"; return 1; }
	case $who in
	198.18.0.1 | fd00::1) echo "connection reached $1 directly from $who, not through the proxy"; return 1 ;;
	"") echo "no answer"; return 1 ;;
	esac
}

finish() {
	[ "$FAILS" -eq 0 ]
}

# check_exit NAME CONFIG: stop_snet in this shell (a subshell cannot wait for it).
check_exit() {
	if stop_snet "$2" >"$T/stop.out" 2>&1; then
		pass "$1"
	else
		fail "$1" "$(tail -n 5 "$T/stop.out" | tr '\n' ' ')"
	fi
}

# suite NAME [nohalf]: the standard checks for the running proxy config $T/NAME.yaml:
# ready + rules, both families go through the proxy, 50 MB each way with SHA-256,
# 200 concurrent connections, half-close, clean SIGTERM exit with the rules removed.
BIG=${BIG:-50000000}
suite() {
	local n=$1
	if ! start_snet "$n"; then
		fail "$n-ready" "no ready line: $(tail -n 3 "$T/snet-$n.log" | tr '\n' ' ')"
		stop_pid "$SNET_PID"
		return
	fi
	pass "$n-ready"
	local fds0
	fds0=$(fd_count)
	check "$n-rules-present" rules_present
	check "$n-ipv4-through-proxy" via_proxy $TARGET4
	check "$n-ipv6-through-proxy" via_proxy $TARGET6
	check "$n-get-50MB-sha256" in_nc timeout 120 $PEER get $TARGET4 $TPORT "$BIG"
	check "$n-put-50MB-sha256" in_nc timeout 120 $PEER put $TARGET4 $TPORT "$BIG"
	check "$n-ipv6-get-1MB" in_nc timeout 60 $PEER get $TARGET6 $TPORT 1000000
	check "$n-200-concurrent" in_nc timeout 120 $PEER many $TARGET4 $TPORT 200 65536
	check "$n-no-fd-leak" fds_back_to "$fds0"
	if [ "${2:-}" != nohalf ]; then
		check "$n-half-close" in_nc timeout 60 $PEER half $TARGET4 $TPORT 300000
	fi
	check_exit "$n-sigterm-exit-0" "$n"
	if rules_present; then fail "$n-rules-removed" "table inet snet_tun still there"; else pass "$n-rules-removed"; fi
}
