#!/usr/bin/env bash
# Redirect mode with the direct "proxy" (bypassed traffic): the standard suite including
# half-close, plus the command line: --check, --version, --help, a bad config, SIGHUP.
. "$(dirname "$0")/lib.sh"
net_up || { fail direct-netns "cannot create namespaces"; exit 1; }
start_target || { fail direct-target "peer server did not start"; exit 1; }

write_config direct "$(printf '  type: direct\n')"
# With direct the connection comes from us, so "through the proxy" is checked as "not
# refused and correct"; via_proxy does not apply.
if start_snet direct; then
	pass direct-ready
	check direct-rules-present rules_present
	check direct-get-50MB-sha256 in_nc timeout 120 $PEER get $TARGET4 $TPORT "$BIG"
	check direct-put-50MB-sha256 in_nc timeout 120 $PEER put $TARGET4 $TPORT "$BIG"
	check direct-ipv6-get-1MB in_nc timeout 60 $PEER get $TARGET6 $TPORT 1000000
	check direct-200-concurrent in_nc timeout 120 $PEER many $TARGET4 $TPORT 200 65536
	check direct-half-close in_nc timeout 60 $PEER half $TARGET4 $TPORT 300000
	check direct-ipv6-half-close in_nc timeout 60 $PEER half $TARGET6 $TPORT 300000
	# SIGHUP with an invalid file keeps the old config and the process.
	cp "$T/direct.yaml" "$T/direct.good"
	echo "bogus-key: 1" >>"$T/direct.yaml"
	kill -HUP "$SNET_PID"
	if wait_log "$T/snet-direct.log" "keeping the running configuration" 5; then pass direct-hup-invalid-kept
	else fail direct-hup-invalid-kept "$(tail -n 2 "$T/snet-direct.log" | tr '\n' ' ')"; fi
	check direct-hup-still-serving in_nc timeout 30 $PEER get $TARGET4 $TPORT 100000
	cp "$T/direct.good" "$T/direct.yaml"
	kill -HUP "$SNET_PID"
	if wait_log "$T/snet-direct.log" "reloaded" 5; then pass direct-hup-reload; else fail direct-hup-reload "no reloaded line"; fi
	check direct-rules-after-reload rules_present
	check_exit direct-sigterm-exit-0 direct
	if rules_present; then fail direct-rules-removed "table still there"; else pass direct-rules-removed; fi
else
	fail direct-ready "$(tail -n 3 "$T/snet-direct.log" | tr '\n' ' ')"
fi

# SIGTERM with over a thousand connections open (descriptors past FD_SETSIZE): the
# rules still go (libnftables select()s on its socket; ours was opened at start-up).
write_config many "$(printf '  type: direct\n')"
if start_snet many; then
	in_nc timeout 60 $PEER hold $TARGET4 $TPORT 1100 8 >"$T/hold.out" 2>&1 &
	holdpid=$!
	for _ in $(seq 100); do [ "$(fd_count)" -gt 2100 ] && break; sleep 0.1; done
	if [ "$(fd_count)" -gt 2100 ]; then pass many-conns-open; else fail many-conns-open "only $(fd_count) descriptors"; fi
	# SIGUSR1: one stats line counting the sessions held, the process goes on.
	if line=$(snet_stats many); then
		n=$(stat_of "$line" sessions)
		if [ "${n:-0}" -ge 1100 ] && [ "$(stat_of "$line" upstreams)" = proxy:unknown ]; then
			pass "many-conns-sigusr1-stats ($n sessions)"
		else
			fail many-conns-sigusr1-stats "$line"
		fi
	else
		fail many-conns-sigusr1-stats "no stats line: $(tail -n 2 "$T/snet-many.log" | tr '\n' ' ')"
	fi
	check many-conns-alive-after-sigusr1 kill -0 "$SNET_PID"
	check_exit many-conns-sigterm-exit-0 many
	if rules_present; then fail many-conns-rules-removed "table still there"; else pass many-conns-rules-removed; fi
	wait "$holdpid" 2>/dev/null
else
	fail many-ready "no ready line"
fi

# A connection to the listener itself is refused (no loop) and logged. Loopback is not
# redirected, so conntrack reports the listener as the original destination.
write_config loop "$(printf '  type: direct\n')"
if start_snet loop; then
	in_nc timeout 10 $PEER who 127.0.0.1 1111 >/dev/null 2>&1
	if wait_log "$T/snet-loop.log" "is this listener (would loop)" 5; then pass loop-refused
	else fail loop-refused "no refusal logged: $(tail -n 2 "$T/snet-loop.log" | tr '\n' ' ')"; fi
	check loop-still-serving kill -0 "$SNET_PID"
	check_exit loop-exit-0 loop
else
	fail loop-ready "no ready line"
fi

# The ready line is printed whatever log-level says (scripts wait for it).
write_config quiet "$(printf '  type: direct\n')"
sed -i 's/^log-level: .*/log-level: error/' "$T/quiet.yaml"
if start_snet quiet; then
	pass ready-at-log-level-error
	kill -USR1 "$SNET_PID"
	if wait_log "$T/snet-quiet.log" "stats: sessions 0 " 5; then pass sigusr1-stats-at-log-level-error
	else fail sigusr1-stats-at-log-level-error "$(tail -n 2 "$T/snet-quiet.log" | tr '\n' ' ')"; fi
	check_exit quiet-exit-0 quiet
else fail ready-at-log-level-error "no ready line with log-level: error"; stop_pid "$SNET_PID"; fi

# Command line.
check cli-check-valid "$BIN" -c "$SRC/config.yaml" --check
out=$("$BIN" -c "$SRC/config.yaml" --check 2>&1)
[ -z "$out" ] && pass cli-check-silent || fail cli-check-silent "printed: $out"
printf 'mode: redirect\nproxy:\n  type: ss\n  serverr: x\n' >"$T/bad.yaml"
out=$("$BIN" -c "$T/bad.yaml" --check 2>&1)
rc=$?
case "$rc:$out" in
"1:$T/bad.yaml:4:"*) pass cli-check-invalid ;;
*) fail cli-check-invalid "exit $rc: $out" ;;
esac
[ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] && pass cli-error-one-line || fail cli-error-one-line "$out"
out=$("$BIN" -c "$T/nonexistent.yaml" --check 2>&1)
rc=$?
[ $rc -eq 1 ] && [ "${out#"$T/nonexistent.yaml"}" != "$out" ] && pass cli-missing-file || fail cli-missing-file "exit $rc: $out"
check cli-version "$BIN" --version
"$BIN" --help | grep -c -- --cleanup >/dev/null && pass cli-help || fail cli-help "no usage text"
"$BIN" --bogus >/dev/null 2>&1
rc=$?
[ $rc -ne 0 ] && pass cli-bad-flag || fail cli-bad-flag "exit 0 on an unknown flag"
finish
