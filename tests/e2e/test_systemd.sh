#!/usr/bin/env bash
# What the systemd unit relies on, without systemd as PID 1:
# - its SystemCallFilter: the unit's groups expanded with `systemd-analyze syscall-filter`,
#   snet-tun run under exactly that allow-list (tests/tools/seccomp-run, EPERM for the
#   rest, as SystemCallErrorNumber=EPERM) in tun mode and redirect mode, each relaying a
#   transfer through ss-server, answering DNS (domestic and through the tunnel),
#   reloading, logging counters and exiting 0, with no "Operation not permitted" logged;
#   and the filter shown to bite (setsockopt removed: snet-tun cannot start);
# - Type=notify: a NOTIFY_SOCKET listener receives READY=1 after the ready line,
#   RELOADING=1 with MONOTONIC_USEC= then READY=1 on SIGHUP, STOPPING=1 on SIGTERM;
# - journald: with JOURNAL_STREAM naming stderr, lines carry <N> and no time stamp.
#
#   client ns $NC (snet-tun under seccomp-run)   veth   server ns $NS
#     198.18.0.1                                -------  198.18.0.2:8388 ss-server (TCP+UDP)
#     tun st$ID 198.18.255.1/30 (tun part)               198.18.0.53 dnsmasq (domestic)
#     marked sockets: table 100 -> 198.18.1.0/24         198.18.3.53 unbound (foreign, only
#     redirect part: main table -> 198.18.1.0/24            via ss-server)
#                                                        198.18.1.2:9000 target (peer.py)
TUN_MODE=1
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/e2e/dns/common.sh"
SECCOMP_RUN=${SECCOMP_RUN:-$(dirname "$BIN")/seccomp-run}
UNIT_IN=$SRC/packaging/snet-tun.service.in

[ -x "$SECCOMP_RUN" ] || { fail systemd-seccomp-run "no $SECCOMP_RUN (libseccomp-dev missing at build time?)"; exit 1; }

# The unit's allow-list, groups expanded recursively (systemd-analyze prints a group's
# members, nested groups by name).
expand() { # NAME...
	local n
	for n in "$@"; do
		case $n in
		@*) expand $(systemd-analyze syscall-filter "$n" | tail -n +2 | sed 's/#.*//; s/^ *//' | grep .) ;;
		*) echo "$n" ;;
		esac
	done
}
filters=$(sed -n 's/^SystemCallFilter=//p' "$UNIT_IN")
case $filters in
"" | *"~"*) fail systemd-filter-parse "expected allow-list SystemCallFilter= lines in $UNIT_IN, got '$filters'"; exit 1 ;;
esac
# shellcheck disable=SC2086
expand $filters | sort -u >"$T/allowed.txt"
n_allowed=$(wc -l <"$T/allowed.txt")
if [ "$n_allowed" -gt 100 ] && grep -qx sendmsg "$T/allowed.txt"; then
	pass "systemd-filter-expanded ($filters: $n_allowed names)"
else
	fail systemd-filter-expanded "$n_allowed names from '$filters'"
fi
grep -q '^SystemCallErrorNumber=EPERM$' "$UNIT_IN" && pass systemd-unit-errno-eperm ||
	fail systemd-unit-errno-eperm "the unit does not say SystemCallErrorNumber=EPERM (the filter here does)"

net_up || { fail systemd-netns "cannot create namespaces"; exit 1; }
start_target || { fail systemd-target "peer server did not start"; exit 1; }
dns_resolvers_up >"$T/resolvers.out" 2>&1 || { fail systemd-resolvers "$(tail -n 3 "$T/resolvers.out" | tr '\n' ' ')"; exit 1; }

dns_block() {
	cat <<EOD
rules:
  scope: global
  cn-cidr-file: $DNSDIR/cn.txt
dns:
  enable: true
  listen: 127.0.0.1:1153
  domestic: [198.18.0.53]
  foreign: [198.18.3.53]
  query-log: $T/query-$1.log
EOD
}

# An ASan build: LeakSanitizer stops the threads with ptrace at exit, which the filter
# (rightly) refuses, so leak checking is left to the other tests; the filter stays exact.
FILTER_ENV=()
if grep -qa __asan_init "$BIN"; then
	FILTER_ENV=(ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0")
	echo "ASan build: detect_leaks=0 under the filter (LeakSanitizer needs ptrace)"
fi

# start_filtered NAME [ENV...]: snet-tun -c $T/NAME.yaml under the unit's filter.
start_filtered() {
	local n=$1
	shift
	bg "snet-$n" nc env "${FILTER_ENV[@]}" "$@" "$SECCOMP_RUN" "$T/allowed.txt" "$BIN" -c "$T/$n.yaml"
	SNET_PID=$LAST_PID
	wait_log "$T/snet-$n.log" ready 15
}
no_eperm() { # NAME: snet-tun's lines only (seccomp-run's own line names EPERM)
	if grep -v '^seccomp-run: ' "$T/snet-$1.log" | grep -Eqi 'operation not permitted|EPERM'; then
		grep -v '^seccomp-run: ' "$T/snet-$1.log" | grep -Ei 'operation not permitted|EPERM' | head -n 3
		return 1
	fi
}
c_dns() { # the foreign answer comes through the tunnel, the domestic one directly
	local o
	o=$(Q www.for.test A); expect "$o" NOERROR "A 198.18.7.1" || return 1
	o=$(Q www.dom.test A); expect "$o" NOERROR "A 198.18.5.10"
}
suite_filtered() { # NAME [ENV...]
	local n=$1 line
	shift
	if ! start_filtered "$n" "$@"; then
		fail "$n-ready-under-filter" "$(tail -n 3 "$T/snet-$n.log" | tr '\n' ' ')"
		stop_pid "$SNET_PID"
		return 1
	fi
	pass "$n-ready-under-filter ($(grep -m1 'seccomp-run:' "$T/snet-$n.log" | sed 's/^seccomp-run: //'))"
	check "$n-filtered-get-5MB" in_nc timeout 60 $PEER get $TARGET4 $TPORT 5000000
	check "$n-filtered-put-5MB" in_nc timeout 60 $PEER put $TARGET4 $TPORT 5000000
	check "$n-filtered-via-proxy" via_proxy $TARGET4
	check "$n-filtered-dns" c_dns
	check "$n-filtered-reload" hup "$n"
	line=$(snet_stats "$n") && pass "$n-filtered-stats" || fail "$n-filtered-stats" "no stats line"
	check "$n-filtered-dns-after-reload" c_dns
	check_exit "$n-filtered-exit-0" "$n"
	check "$n-filtered-no-eperm" no_eperm "$n"
}

# Tun mode under the filter.
write_tun_config sdtun "$(ss_proxy)"
sed -i '/^dns:$/,$d' "$T/sdtun.yaml"
dns_block sdtun >>"$T/sdtun.yaml"
suite_filtered sdtun
check sdtun-routes-removed bash -c "! ip netns exec $NC ip rule show | grep -Eq 'lookup 2132[67]( |\$)'"
# ExecStopPost's --cleanup runs in the same sandbox, after a clean stop (nothing left).
check sdtun-cleanup-under-filter in_nc env "${FILTER_ENV[@]}" "$SECCOMP_RUN" "$T/allowed.txt" "$BIN" --cleanup -c "$T/sdtun.yaml"

# With `user:` (setgroups, setresuid, capset to CAP_NET_ADMIN alone) under the filter.
sed 's/^log-level: .*/&\nuser: nobody/' "$T/sdtun.yaml" >"$T/sduser.yaml"
if start_filtered sduser; then
	if grep -q 'running as nobody' "$T/snet-sduser.log"; then pass sduser-dropped-under-filter; else fail sduser-dropped-under-filter "no 'running as nobody' line"; fi
	check sduser-filtered-get-1MB in_nc timeout 60 $PEER get $TARGET4 $TPORT 1000000
	check sduser-filtered-dns c_dns
	check sduser-filtered-reload hup sduser
	check_exit sduser-filtered-exit-0 sduser
	check sduser-filtered-no-eperm no_eperm sduser
else
	fail sduser-ready-under-filter "$(tail -n 3 "$T/snet-sduser.log" | tr '\n' ' ')"
	stop_pid "$SNET_PID"
fi

# Redirect mode under the filter, reporting to a notification socket.
in_nc ip route add 198.18.1.0/24 via 198.18.0.2
write_config sdredir "$(ss_proxy)"
sed -i '/^dns:$/,$d' "$T/sdredir.yaml"
dns_block sdredir >>"$T/sdredir.yaml"
: >"$T/notify.out"
bg notify nc python3 "$SRC/tests/e2e/notify_listen.py" "$T/notify.sock" "$T/notify.out" "$T/snet-sdredir.log"
NOTIFY_PID=$LAST_PID
wait_log "$T/notify.out" listening 5 || fail notify-listener "did not start: $(cat "$T/notify.log")"
suite_filtered sdredir NOTIFY_SOCKET="$T/notify.sock"
check sdredir-rules-removed bash -c "! ip netns exec $NC nft list table inet snet_tun >/dev/null 2>&1"
check sdredir-cleanup-under-filter in_nc env "${FILTER_ENV[@]}" "$SECCOMP_RUN" "$T/allowed.txt" "$BIN" --cleanup -c "$T/sdredir.yaml"
sleep 0.3
stop_pid "$NOTIFY_PID"
echo "notifications: $(tr '\n' ' ' <"$T/notify.out")"
c_notify() {
	local first
	first=$(grep -m1 'READY=1' "$T/notify.out") || { echo "no READY=1"; return 1; }
	case $first in
	"READY=1|STATUS="*"ready-line=yes") ;;
	*) echo "first READY=1 before the ready line or malformed: $first"; return 1 ;;
	esac
	# in order: READY, RELOADING (with MONOTONIC_USEC), READY, STOPPING
	grep -vx listening "$T/notify.out" | sed 's/|.*//; s/ ready-line.*//' | tr '\n' ' ' |
		grep -qx 'READY=1 RELOADING=1 READY=1 STOPPING=1 ' ||
		{ echo "sequence: $(grep -vx listening "$T/notify.out" | tr '\n' ' ')"; return 1; }
	grep -Eq '^RELOADING=1\|MONOTONIC_USEC=[0-9]+ ' "$T/notify.out" ||
		{ echo "RELOADING=1 without MONOTONIC_USEC"; return 1; }
}
check notify-ready-reload-stopping c_notify

# The filter bites: without setsockopt snet-tun cannot set up its sockets, and says so.
grep -vx setsockopt "$T/allowed.txt" >"$T/allowed-minus.txt"
bg snet-bite nc env "${FILTER_ENV[@]}" ASAN_OPTIONS=abort_on_error=0 "$SECCOMP_RUN" "$T/allowed-minus.txt" "$BIN" -c "$T/sdredir.yaml"
BITE_PID=$LAST_PID
for _ in $(seq 100); do kill -0 "$BITE_PID" 2>/dev/null || break; sleep 0.1; done
if grep -q ready "$T/snet-bite.log"; then
	fail seccomp-filter-bites "snet-tun became ready without setsockopt"
	stop_pid "$BITE_PID"
elif grep -qi 'operation not permitted' "$T/snet-bite.log"; then
	pass seccomp-filter-bites
else
	fail seccomp-filter-bites "no EPERM logged: $(tail -n 2 "$T/snet-bite.log" | tr '\n' ' ')"
	stop_pid "$BITE_PID"
fi
in_nc "$BIN" --cleanup -c "$T/sdredir.yaml" >/dev/null 2>&1

# journald's stream: lines start with <N> and carry no time stamp of their own; with a
# JOURNAL_STREAM that is not stderr (inherited), the usual stamped lines.
c_journal() {
	local f=$T/journal.log st
	: >"$f"
	st=$(stat -c '%d:%i' "$f")
	JOURNAL_STREAM=$st in_nc "$BIN" --cleanup -c "$T/sdredir.yaml" 2>>"$f" || { echo "cleanup failed: $(cat "$f")"; return 1; }
	grep -Eq '^<6>info: cleanup: ' "$f" || { echo "not journal-formatted: $(cat "$f")"; return 1; }
	JOURNAL_STREAM=1:1 in_nc "$BIN" --cleanup -c "$T/sdredir.yaml" 2>"$f.2"
	grep -Eq '^[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3} info: cleanup: ' "$f.2" || { echo "stamp missing with a foreign JOURNAL_STREAM: $(cat "$f.2")"; return 1; }
}
check journal-stream-prefix c_journal
finish
