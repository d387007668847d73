#!/usr/bin/env bash
# Tun mode, hostile input: pktgen.py writes random and mutated IP packets into the tun
# device (AF_PACKET on st$ID: the kernel hands them to snet-tun's tun fd verbatim) for
# PKTGEN_SECONDS (default 30) at PKTGEN_RATE packets/s (default 3000): random bytes,
# mutated IPv4/IPv6 TCP, fragments, extension headers, UDP, ICMP/ICMPv6, SYNs to up to
# 5000 ports, and garbage inside real handshaken connections. Checks that snet-tun
# survives, that its RSS stays bounded, that a normal transfer works afterwards, and that
# it exits 0 on SIGTERM (under ASan: no leaks) with its routes removed.
#
# RSS bound: growth from the sample ~5 s into the run to the last sample must stay under
# RSS_LIMIT_KB (default 32 MiB). What snet-tun may legitimately keep: one listener pcb per
# SYN port (<= 5000 x ~200 B = 1 MB), half-open pcbs until lwIP's 20 s SYN_RCVD timeout
# (SYNs arrive at ~10% of the rate: ~300/s x 20 s x ~1 KB with the SYN-ACK segment = ~6 MB),
# lwIP's bounded reassembly queue (10 pbufs) and ND/MLD tables, and a few hundred relay
# sessions (64 KiB scratch buffers are shared; pending data is per session and small here).
# That is under ~10 MB in steady state, also with ASan's allocator overhead; 32 MB leaves
# room for malloc fragmentation, while a leak per packet (90 000 packets) or per-connection
# growth without bound shows up well above it.
TUN_MODE=1
. "$(dirname "$0")/lib.sh"
SECS=${PKTGEN_SECONDS:-30}
RATE=${PKTGEN_RATE:-3000}
RSS_LIMIT_KB=${RSS_LIMIT_KB:-32768}
PKTGEN="python3 $SRC/tests/e2e/pktgen.py"
# Under ASan, freed memory sits in a 256 MB quarantine, which would read as RSS growth of
# ~1.5 MB/s here; a small quarantine keeps use-after-free detection for recent frees.
if [ -n "${ASAN_OPTIONS:-}" ] && [ "${ASAN_OPTIONS#*quarantine_size_mb}" = "$ASAN_OPTIONS" ]; then
	export ASAN_OPTIONS="$ASAN_OPTIONS:quarantine_size_mb=4"
fi

net_up || { fail garbage-netns "cannot create namespaces"; exit 1; }
start_target || { fail garbage-target "peer server did not start"; exit 1; }

write_tun_config garbage "$(printf '  type: direct\n')"
if ! start_snet garbage; then
	fail garbage-ready "no ready line: $(tail -n 3 "$T/snet-garbage.log" | tr '\n' ' ')"
	exit 1
fi
pass garbage-ready
check garbage-routes-present routes_present
check garbage-get-before in_nc timeout 60 $PEER get $TARGET4 $TPORT 1000000

# The injection path works: a SYN written into the tun this way is answered with a SYN-ACK
# that a second AF_PACKET socket sees coming out of the tun (IPv4 and IPv6).
check garbage-injection-reaches-snet-tun in_nc timeout 20 $PKTGEN probe "st$ID"

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$SNET_PID/status" 2>/dev/null; }

reads_before=$(awk '/^syscr:/ { print $2 }' "/proc/$SNET_PID/io" 2>/dev/null)
bg pktgen nc timeout $((${SECS%.*} + 30)) $PKTGEN fuzz "st$ID" --seconds "$SECS" --rate "$RATE"
GEN_PID=$LAST_PID
start=$(date +%s.%N)
samples=()
rss5=""
while kill -0 "$GEN_PID" 2>/dev/null; do
	sleep 2.5
	kill -0 "$SNET_PID" 2>/dev/null || break
	r=$(rss_kb)
	[ -n "$r" ] || break
	t=$(awk -v s="$start" -v n="$(date +%s.%N)" 'BEGIN { printf "%.1f", n - s }')
	samples+=("${t}s:${r}kB")
	[ -z "$rss5" ] && awk -v t="$t" 'BEGIN { exit !(t >= 5) }' && rss5=$r
	rss_last=$r
done
wait "$GEN_PID"
gen_rc=$?
cat "$T/pktgen.log"
echo "snet-tun VmRSS samples: ${samples[*]}"
reads_after=$(awk '/^syscr:/ { print $2 }' "/proc/$SNET_PID/io" 2>/dev/null)
[ -n "$reads_before" ] && [ -n "$reads_after" ] &&
	echo "snet-tun read-type syscalls during the run: $((reads_after - reads_before))"

if [ $gen_rc -eq 0 ]; then pass garbage-pktgen-ran; else fail garbage-pktgen-ran "pktgen exited $gen_rc: $(tail -n 3 "$T/pktgen.log" | tr '\n' ' ')"; fi
if kill -0 "$SNET_PID" 2>/dev/null; then
	pass garbage-snet-tun-alive
else
	fail garbage-snet-tun-alive "snet-tun died: $(tail -n 30 "$T/snet-garbage.log" | tr '\n' ' ')"
	exit 1
fi
if [ -z "$rss5" ] || [ -z "${rss_last:-}" ]; then
	fail garbage-rss-bounded "too few RSS samples: ${samples[*]}"
elif [ $((rss_last - rss5)) -lt "$RSS_LIMIT_KB" ]; then
	pass garbage-rss-bounded
	echo "RSS growth $((rss_last - rss5)) kB (limit $RSS_LIMIT_KB kB)"
else
	fail garbage-rss-bounded "VmRSS grew $((rss_last - rss5)) kB (from $rss5 to $rss_last kB), limit $RSS_LIMIT_KB kB"
fi

check garbage-get-after in_nc timeout 60 $PEER get $TARGET4 $TPORT 1000000
check garbage-ipv6-get-after in_nc timeout 60 $PEER get $TARGET6 $TPORT 1000000
fails0=$FAILS
check_exit garbage-sigterm-exit-0 garbage
# A sanitizer report at exit: show its stacks, not only the summary line.
[ "$FAILS" -gt "$fails0" ] && grep -E -A14 '^(Direct|Indirect) leak|ERROR: AddressSanitizer' "$T/snet-garbage.log" | head -60
if routes_present; then fail garbage-routes-removed "$(in_nc ip rule show | tr '\n' ' ')"; else pass garbage-routes-removed; fi
if in_nc ip link show "st$ID" >/dev/null 2>&1; then fail garbage-tun-removed "device st$ID still there"; else pass garbage-tun-removed; fi
finish
