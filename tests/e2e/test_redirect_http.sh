#!/usr/bin/env bash
# Redirect mode through HTTP CONNECT proxies: Debian's tinyproxy (with Basic auth) and
# squid; a proxy refusing the client (non-2xx) is reported with its status line.
# Neither passes a half-close on (after the client's FIN the reply never arrives, while the
# same check passes through direct and dante), so the suite runs without it here.
. "$(dirname "$0")/lib.sh"
net_up || { fail http-netns "cannot create namespaces"; exit 1; }
start_target || { fail http-target "peer server did not start"; exit 1; }

http_block() { # port [user pass]
	printf '  type: http\n  server: 198.18.0.2\n  port: %s\n' "$1"
	[ $# -ge 3 ] && printf '  username: "%s"\n  password: "%s"\n' "$2" "$3"
}

# tinyproxy with Basic auth.
if start_tinyproxy 8888 snet s3cret; then
	write_config tinyproxy "$(http_block 8888 snet s3cret)"
	suite tinyproxy nohalf
	# Wrong credentials: tinyproxy answers 407; the log carries the status line.
	write_config tinyproxy-badauth "$(http_block 8888 snet wrong)"
	if start_snet tinyproxy-badauth; then
		out=$(in_nc timeout 20 $PEER get $TARGET4 $TPORT 1000)
		case $out in *"sha256 ok"*) fail tinyproxy-wrong-auth "transfer went through" ;; *) pass tinyproxy-wrong-auth ;; esac
		if wait_log "$T/snet-tinyproxy-badauth.log" 'refused: HTTP/1.[01] 40[17]' 5; then pass tinyproxy-status-line-logged
		else fail tinyproxy-status-line-logged "$(tail -n 2 "$T/snet-tinyproxy-badauth.log" | tr '\n' ' ')"; fi
		check_exit tinyproxy-wrong-auth-exit-0 tinyproxy-badauth
	else
		fail tinyproxy-badauth-ready "no ready line"
	fi
else
	fail tinyproxy-start "tinyproxy did not listen: $(tail -n 3 "$T/tinyproxy.log" | tr '\n' ' ')"
fi

# squid: a minimal config of our own that allows CONNECT to any port from the test net.
mkdir -p "$T/squid"
chown proxy:proxy "$T/squid" 2>/dev/null
cat >"$T/squid.conf" <<EOF
http_port 198.18.0.2:3128
acl testnet src 198.18.0.0/15 fd00::/8
http_access allow testnet
http_access deny all
cache deny all
cache_mem 8 MB
pid_filename $T/squid/squid.pid
cache_log $T/squid/cache.log
access_log $T/squid/access.log
coredump_dir $T/squid
cache_effective_user proxy
shutdown_lifetime 1 seconds
max_filedescriptors 4096
EOF
bg squid ns squid -N -f "$T/squid.conf"
if wait_port ns 198.18.0.2 3128; then
	write_config squid "$(http_block 3128)"
	suite squid nohalf
else
	fail squid-start "squid did not listen: $(tail -n 3 "$T/squid.log" "$T/squid/cache.log" 2>/dev/null | tr '\n' ' ')"
fi
finish
