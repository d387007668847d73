#!/usr/bin/env bash
# Redirect mode through SOCKS5 proxies: Debian's microsocks (no auth, then RFC 1929
# user/password) and dante-server (danted); a wrong password is refused cleanly.
. "$(dirname "$0")/lib.sh"
net_up || { fail socks5-netns "cannot create namespaces"; exit 1; }
start_target || { fail socks5-target "peer server did not start"; exit 1; }

socks_block() { # port [user pass]
	printf '  type: socks5\n  server: 198.18.0.2\n  port: %s\n' "$1"
	[ $# -ge 3 ] && printf '  username: "%s"\n  password: "%s"\n' "$2" "$3"
}

# microsocks closes both directions on EOF: no half-close check with it.
bg microsocks ns microsocks -i 198.18.0.2 -p 1080
if wait_port ns 198.18.0.2 1080; then
	write_config microsocks "$(socks_block 1080)"
	suite microsocks nohalf
else
	fail microsocks-start "$(tail -n 3 "$T/microsocks.log" | tr '\n' ' ')"
fi

bg microsocks-auth ns microsocks -i 198.18.0.2 -p 1081 -u snet -P s3cret
if wait_port ns 198.18.0.2 1081; then
	write_config microsocks-auth "$(socks_block 1081 snet s3cret)"
	if start_snet microsocks-auth; then
		check microsocks-auth-through-proxy via_proxy $TARGET4
		check microsocks-auth-get-5MB in_nc timeout 60 $PEER get $TARGET4 $TPORT 5000000
		check_exit microsocks-auth-exit-0 microsocks-auth
	else
		fail microsocks-auth-ready "no ready line"
	fi
	write_config microsocks-badauth "$(socks_block 1081 snet wrong)"
	if start_snet microsocks-badauth; then
		out=$(in_nc timeout 20 $PEER get $TARGET4 $TPORT 1000)
		case $out in *"sha256 ok"*) fail microsocks-wrong-password "transfer went through" ;; *) pass microsocks-wrong-password ;; esac
		if wait_log "$T/snet-microsocks-badauth.log" 'socks5' 5; then pass microsocks-wrong-password-logged
		else fail microsocks-wrong-password-logged "$(tail -n 2 "$T/snet-microsocks-badauth.log" | tr '\n' ' ')"; fi
		check_exit microsocks-wrong-password-exit-0 microsocks-badauth
	else
		fail microsocks-badauth-ready "no ready line"
	fi
else
	fail microsocks-auth-start "$(tail -n 3 "$T/microsocks-auth.log" | tr '\n' ' ')"
fi

# dante-server: no authentication, IPv4 and IPv6 out of the server namespace.
if start_dante 1082; then
	write_config dante "$(socks_block 1082)"
	suite dante
else
	fail dante-start "$(tail -n 3 "$T/danted.log" "$T/danted-internal.log" 2>/dev/null | tr '\n' ' ')"
fi
finish
