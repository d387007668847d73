#!/usr/bin/env bash
# Domain rules, in redirect mode and in tun mode (auto-route), IPv4 and IPv6, through
# ss-server: the addresses in DNS answers for rules.bypass-domains are reached directly
# for the record's TTL (at least 60 s), those for rules.proxy-domains through the proxy
# even inside a bypass network (scope bypass-cn), and a name of no list changes nothing.
# Where a connection went is read on the target (peer.py `who`: the client's own
# address = direct, the target's own address = ss-server in the server namespace); what
# was learned, in the kernel: tun mode's table (`throw ADDR`, `ADDR dev TUN`), redirect
# mode's nft sets learn_bypass4/6 and learn_proxy4/6 (with their timeouts).
#
#   client ns $NC                              server ns $NS
#   +---------------------------------+        +------------------------------------------+
#   | snet-tun (redirect | tun st$ID) |        | ss-server  198.18.0.2:8388               |
#   |   dns.listen 127.0.0.1:1153     |  veth  | dnsmasq    198.18.0.53  DOMESTIC          |
#   | dig, peer.py who                |--------|   www.direct.test 198.18.20.10 fd00:20::10|
#   | 198.18.0.1/24, fd00::1/64       |        |   (TTL 20), long.direct.test (TTL 300)   |
#   | main: default via 198.18.0.2 /  |        | unbound    198.18.3.53  FOREIGN (on lo,   |
#   |   fd00::2 (what is thrown out   |        |   only through ss-server)                 |
#   |   of our table / not redirected |        |   www.prox.test 198.18.21.20 fd00:21::20  |
#   |   leaves this way, directly)    |        | peer.py on lo, TCP 9000:                  |
#   | rules: scope bypass-cn,         |        |   198.18.20.10 fd00:20::10  bypass-domains|
#   |   domains-cn.txt (198.18.21/24, |        |   198.18.21.20 fd00:21::20  proxy-domains |
#   |   fd00:21::/64, 198.18.5/24...) |        |      (inside the CN list)                 |
#   |   bypass-domains [direct.test]  |        |   198.18.20.30 fd00:20::30  no list       |
#   |   proxy-domains [prox.test]     |        |      (www.none.test)                      |
#   +---------------------------------+        +------------------------------------------+
TUN_MODE=1 # targets only in table 100 for marked sockets; the rest is our default routes
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/e2e/rules/domains-common.sh"
net_up || { fail domains-netns "cannot create namespaces"; exit 1; }
dom_up >"$T/up.out" 2>&1 || { fail domains-resolvers "$(tail -n 3 "$T/up.out" | tr '\n' ' ')"; exit 1; }
start_peers 198.18.20.10 fd00:20::10 198.18.21.20 fd00:21::20 198.18.20.30 fd00:20::30 >"$T/peers.out" 2>&1 ||
	{ fail domains-targets "$(tail -n 3 "$T/peers.out")"; exit 1; }
default_routes || { fail domains-routes "cannot add the default routes"; exit 1; }

RULES="  scope: bypass-cn
  cn-cidr-file: $CN
  bypass-domains: [direct.test, both.test]
  proxy-domains: [prox.test, both.test]"

fam() { [[ $1 == *:* ]] && echo 6 || echo 4; }

# What MODE learned, in the kernel. learned_bypass/learned_proxy ADDR MIN MAX (MIN/MAX:
# the nft timeout, redirect mode only); not_learned ADDR.
learned_bypass() {
	if [ "$MODE" = tun ]; then
		has_route "$(fam "$1")" "$(our_table)" "throw ${1//./\\.}( |$)"
	else
		in_set "learn_bypass$(fam "$1")" "$1" "$2" "$3" && not_in_set "learn_proxy$(fam "$1")" "$1"
	fi
}
learned_proxy() {
	if [ "$MODE" = tun ]; then
		has_route "$(fam "$1")" "$(our_table)" "${1//./\\.} dev st$ID( |$)"
	else
		in_set "learn_proxy$(fam "$1")" "$1" "$2" "$3" && not_in_set "learn_bypass$(fam "$1")" "$1"
	fi
}
not_learned() {
	local a
	for a in "$@"; do
		if [ "$MODE" = tun ]; then
			no_route_for "$(fam "$a")" "$(our_table)" "$a" || return 1
		else
			not_in_set "learn_bypass$(fam "$a")" "$a" && not_in_set "learn_proxy$(fam "$a")" "$a" || return 1
		fi
	done
}
# Everything learned now: tun mode's table, redirect mode's four sets.
snapshot() {
	if [ "$MODE" = tun ]; then
		troute 4 "$(our_table)" | sort
		troute 6 "$(our_table)" | sort
	else
		for s in learn_bypass4 learn_bypass6 learn_proxy4 learn_proxy6; do echo "$s: $(set_elems $s | tr '\n' ' ')"; done
	fi
}

# resolve NAME TYPE ADDR: snet-tun answers NAME/TYPE with exactly ADDR.
resolve() {
	local o
	o=$(Q "$1" "$2")
	expect "$o" NOERROR "$2 $3"
}
c_bypass_answer() {
	resolve www.direct.test A 198.18.20.10 && resolve www.direct.test AAAA fd00:20::10 || return 1
	settle
	[ "$(fcount www.direct.test A):$(fcount www.direct.test AAAA)" = 0:0 ] ||
		{ echo "the foreign resolver was asked about www.direct.test"; return 1; }
}
c_bypass_ttl300() {
	resolve long.direct.test A 198.18.20.11 || return 1
	learned_bypass 198.18.20.11 295 300
}
c_proxy_answer() {
	resolve www.prox.test A 198.18.21.20 && resolve www.prox.test AAAA fd00:21::20 || return 1
	settle
	[ "$(dcount www.prox.test A):$(dcount www.prox.test AAAA)" = 0:0 ] ||
		{ echo "the domestic resolver was asked about www.prox.test: $(grep -i prox "$DLOG" | tail -n 1)"; return 1; }
}
c_both() {
	resolve www.both.test A 198.18.21.21 && learned_proxy 198.18.21.21 295 300
}
c_none() {
	local before after
	before=$(snapshot)
	resolve www.none.test A 198.18.20.30 && resolve www.none.test AAAA fd00:20::30 || return 1
	after=$(snapshot)
	[ "$before" = "$after" ] || { echo "learned state changed: before [$(echo $before)] after [$(echo $after)]"; return 1; }
	not_learned 198.18.20.30 fd00:20::30
}
# After SIGHUP (tun: the rules now look up the other table of the two).
c_hup() {
	local t0 t1
	t0=$(our_table)
	hup "$N" || return 1
	if [ "$MODE" = tun ]; then
		t1=$(our_table)
		[ -n "$t1" ] || { echo "no rule at priority 5202 after the reload"; return 1; }
		[ "$t1" = "$t0" ] || [ -z "$(troute 4 "$t0")$(troute 6 "$t0")" ] ||
			{ echo "the rules moved from table $t0 to $t1, but $t0 still holds: $(troute 4 "$t0" | head -n 3 | tr '\n' '|')"; return 1; }
		echo "table $t0 -> $t1"
	fi
}

run_mode() {
	MODE=$1
	N=dom-$MODE
	local m=$MODE
	dom_config "$N" "$MODE" "$RULES" ""
	if ! start_snet "$N"; then
		fail "$m-ready" "no ready line: $(tail -n 3 "$T/snet-$N.log" | tr '\n' ' ')"
		stop_pid "$SNET_PID"
		return
	fi
	pass "$m-ready"
	[ "$MODE" = tun ] && check "$m-our-table" test -n "$(our_table)"

	# Before any name was resolved: the bypass-domains target is an ordinary foreign
	# address (proxied), the proxy-domains target an ordinary CN one (direct).
	check "$m-nothing-learned-at-start" not_learned 198.18.20.10 fd00:20::10 198.18.21.20 fd00:21::20
	check "$m-bypass-target-via-proxy-before-dns-ipv4" reached_via_proxy 198.18.20.10
	check "$m-bypass-target-via-proxy-before-dns-ipv6" reached_via_proxy fd00:20::10
	check "$m-cn-target-direct-before-dns-ipv4" reached_directly 198.18.21.20
	check "$m-cn-target-direct-before-dns-ipv6" reached_directly fd00:21::20

	# bypass-domains: domestic answer only; learned for max(TTL, 60) = 60 s (TTL 20).
	check "$m-bypass-domain-answer-domestic-only" c_bypass_answer
	check "$m-bypass-learned-ipv4-min-60s" learned_bypass 198.18.20.10 59 60
	check "$m-bypass-learned-ipv6-min-60s" learned_bypass fd00:20::10 59 60
	check "$m-bypass-learned-record-ttl-300" c_bypass_ttl300
	check "$m-bypass-domain-direct-ipv4" reached_directly 198.18.20.10
	check "$m-bypass-domain-direct-ipv6" reached_directly fd00:20::10

	# proxy-domains: foreign answer only, inside the CN list, yet proxied.
	check "$m-proxy-domain-answer-foreign-only" c_proxy_answer
	check "$m-proxy-learned-ipv4" learned_proxy 198.18.21.20 295 300
	check "$m-proxy-learned-ipv6" learned_proxy fd00:21::20 295 300
	check "$m-proxy-domain-via-proxy-ipv4" reached_via_proxy 198.18.21.20
	check "$m-proxy-domain-via-proxy-ipv6" reached_via_proxy fd00:21::20
	check "$m-name-in-both-lists-proxied" c_both

	# A name of no list: nothing learned, still proxied.
	check "$m-no-list-learns-nothing" c_none
	check "$m-no-list-still-via-proxy-ipv4" reached_via_proxy 198.18.20.30
	check "$m-no-list-still-via-proxy-ipv6" reached_via_proxy fd00:20::30

	# SIGHUP: the learned entries stay in force (the sets / the table are rebuilt).
	check "$m-sighup-reloaded" c_hup
	check "$m-after-sighup-bypass-learned-ipv4" learned_bypass 198.18.20.10 1 60
	check "$m-after-sighup-bypass-learned-ipv6" learned_bypass fd00:20::10 1 60
	check "$m-after-sighup-proxy-learned-ipv4" learned_proxy 198.18.21.20 240 300
	check "$m-after-sighup-proxy-learned-ipv6" learned_proxy fd00:21::20 240 300
	check "$m-after-sighup-bypass-direct-ipv4" reached_directly 198.18.20.10
	check "$m-after-sighup-bypass-direct-ipv6" reached_directly fd00:20::10
	check "$m-after-sighup-proxy-via-proxy-ipv4" reached_via_proxy 198.18.21.20
	check "$m-after-sighup-proxy-via-proxy-ipv6" reached_via_proxy fd00:21::20
	check "$m-after-sighup-no-list-via-proxy" reached_via_proxy 198.18.20.30

	check "$m-still-running" kill -0 "$SNET_PID"
	check_exit "$m-sigterm-exit-0" "$N"
	if [ "$MODE" = tun ]; then
		c_gone() {
			local r
			r=$(in_nc ip rule show; in_nc ip -6 rule show)
			! grep -E '^520[0-3]:|lookup 2132[67]' <<<"$r" >/dev/null || { echo "policy rules still there: $(grep -E '^520[0-3]:|lookup 2132[67]' <<<"$r" | tr '\n' '|')"; return 1; }
			[ -z "$(troute 4 21326)$(troute 4 21327)$(troute 6 21326)$(troute 6 21327)" ] ||
				{ echo "routes left in 21326/21327: $(troute 4 21326; troute 4 21327)"; return 1; }
		}
	else
		c_gone() { ! rules_present || { echo "table inet snet_tun still there"; return 1; }; }
	fi
	check "$m-rules-removed" c_gone
}

run_mode redirect
run_mode tun

# Expiry (tun mode), opt-in because it waits the 60 s a learned address lives at least:
# the learned routes go when their records run out, and a bypass-cidrs host route of the
# same address (198.18.20.12 for bypass-domains, 198.18.21.22 for proxy-domains) stays.
if [ "${DOMAINS_EXPIRY:-0}" != 1 ]; then
	echo "SKIP tun-expiry-*: set DOMAINS_EXPIRY=1 to run them (they wait 63 s)"
else
	MODE=tun
	N=dom-expiry
	start_peers 198.18.20.12 198.18.21.22 >"$T/peers2.out" 2>&1 || fail expiry-targets "$(tail -n 2 "$T/peers2.out")"
	dom_config $N tun "$RULES
  bypass-cidrs: [198.18.20.12, 198.18.21.22]" ""
	if start_snet $N; then
		pass tun-expiry-ready
		c_expiry_learn() {
			resolve www.direct.test A 198.18.20.10 && resolve cidr.direct.test A 198.18.20.12 &&
				resolve cidr.prox.test A 198.18.21.22 && learned_bypass 198.18.20.10 &&
				learned_proxy 198.18.21.22
		}
		check tun-expiry-learned c_expiry_learn
		sleep 63
		check tun-expiry-learned-route-gone no_route_for 4 "$(our_table)" 198.18.20.10
		check tun-expiry-target-via-proxy-again reached_via_proxy 198.18.20.10
		check tun-expiry-bypass-cidr-host-route-kept has_route 4 "$(our_table)" "throw 198\.18\.20\.12( |$)"
		check tun-expiry-bypass-cidr-host-still-direct reached_directly 198.18.20.12
		check tun-expiry-proxy-learned-gone-bypass-cidr-kept has_route 4 "$(our_table)" "throw 198\.18\.21\.22( |$)"
		check_exit tun-expiry-sigterm-exit-0 $N
	else
		fail tun-expiry-ready "no ready line: $(tail -n 3 "$T/snet-$N.log" | tr '\n' ' ')"
		stop_pid "$SNET_PID"
	fi
fi
finish
