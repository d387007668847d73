#!/usr/bin/env bash
# Redirect mode through Debian's ss-server (shadowsocks-libev): the standard suite for
# chacha20-ietf-poly1305, a transfer with every other AEAD method, wrong password,
# upstream down, kill -9 followed by --cleanup.
. "$(dirname "$0")/lib.sh"
net_up || { fail ss-netns "cannot create namespaces"; exit 1; }
start_target || { fail ss-target "peer server did not start"; exit 1; }

PW=e2e-secret-$ID
ss_start() { # method port
	bg "ss-server-$2" ns ss-server -s 198.18.0.2 -s ::0 -p "$2" -k "$PW" -m "$1" -u
	SS_PID=$LAST_PID
	wait_port ns 198.18.0.2 "$2" || wait_port ns '*' "$2"
}
ss_block() { # method port [password]
	printf '  type: ss\n  server: 198.18.0.2\n  port: %s\n  method: %s\n  password: "%s"\n%s' \
		"$2" "$1" "${3:-$PW}" "${4:-}"
}

# ss-server closes both directions on the client's FIN, so no half-close here (README).
ss_start chacha20-ietf-poly1305 8388
write_config ss "$(ss_block chacha20-ietf-poly1305 8388)"
suite ss nohalf

port=8400
for m in aes-128-gcm aes-256-gcm xchacha20-ietf-poly1305; do
	port=$((port + 1))
	ss_start $m $port
	write_config "ss-$m" "$(ss_block $m $port)"
	if start_snet "ss-$m"; then
		check "ss-$m-get-5MB" in_nc timeout 60 $PEER get $TARGET4 $TPORT 5000000
		check "ss-$m-put-5MB" in_nc timeout 60 $PEER put $TARGET4 $TPORT 5000000
		check_exit "ss-$m-exit-0" "ss-$m"
	else
		fail "ss-$m-ready" "$(tail -n 3 "$T/snet-ss-$m.log" | tr '\n' ' ')"
	fi
done

# Wrong password: ss-server stops reading and never answers (it does not close, so a
# prober learns nothing); snet-tun's idle timeout closes the connection, snet-tun lives.
write_config ss-badpw "$(ss_block chacha20-ietf-poly1305 8388 wrong-password '  idle-timeout: 3')"
if start_snet ss-badpw; then
	out=$(in_nc timeout 20 $PEER get $TARGET4 $TPORT 100000)
	rc=$?
	case $rc:$out in
	*"sha256 ok"*) fail ss-wrong-password "transfer succeeded with a wrong password" ;;
	124:*) fail ss-wrong-password "connection still open after 20 s (idle-timeout 3)" ;;
	*) pass ss-wrong-password ;;
	esac
	check ss-wrong-password-still-serving kill -0 "$SNET_PID"
	check_exit ss-wrong-password-exit-0 ss-badpw
else
	fail ss-badpw-ready "$(tail -n 3 "$T/snet-ss-badpw.log")"
fi

# Upstream down: nothing listens on the proxy port; a clear error naming it, no leak.
write_config ss-down "$(ss_block chacha20-ietf-poly1305 8499)"
if start_snet ss-down; then
	fds_down=$(fd_count)
	out=$(in_nc timeout 30 $PEER get $TARGET4 $TPORT 1000)
	case $out in *"sha256 ok"*) fail ss-upstream-down "transfer succeeded with no upstream" ;; *) pass ss-upstream-down ;; esac
	if grep -q '198.18.0.2:8499' "$T/snet-ss-down.log" && grep -qi 'refused' "$T/snet-ss-down.log"; then
		pass ss-upstream-down-logged
	else
		fail ss-upstream-down-logged "no log line naming the upstream and the refusal: $(tail -n 2 "$T/snet-ss-down.log" | tr '\n' ' ')"
	fi
	check ss-upstream-down-no-fd-leak fds_back_to "$fds_down"
	check_exit ss-upstream-down-exit-0 ss-down
else
	fail ss-down-ready "$(tail -n 3 "$T/snet-ss-down.log")"
fi

# kill -9 leaves the rules behind; --cleanup removes them; a second --cleanup is harmless.
if start_snet ss; then
	kill -KILL "$SNET_PID"
	wait "$SNET_PID" 2>/dev/null
	check ss-rules-left-after-kill-9 rules_present
	check ss-cleanup-exit-0 in_nc "$BIN" --cleanup -c "$T/ss.yaml"
	if rules_present; then fail ss-cleanup-removes-rules "table still there"; else pass ss-cleanup-removes-rules; fi
	check ss-cleanup-twice in_nc "$BIN" --cleanup -c "$T/ss.yaml"
	out=$(in_nc timeout 10 $PEER who $TARGET4 $TPORT)
	[ "$out" = 198.18.0.1 ] && pass ss-direct-after-cleanup || fail ss-direct-after-cleanup "who says $out"
else
	fail ss-kill9-ready "no ready line"
fi
finish
