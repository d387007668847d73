# tests/e2e/rules/domains-common.sh -- sourced after lib.sh by test_rules_domains.sh,
# test_fakeip.sh and test_leaks.sh: the resolvers and ss-server in the server namespace
# (ss-server resolving names through the foreign resolver), extra targets, and helpers
# that read where a connection went and what the kernel learned.
#
#   server ns $NS: 198.18.0.53/32 on vs$ID   DOMESTIC: dnsmasq, domains-domestic.conf
#                  198.18.3.53/32 on lo       FOREIGN: unbound, domains-foreign.conf (the
#                                             client ns reaches it only through ss-server)
#                  198.18.0.2:8388            ss-server -u -v; its resolv.conf (from
#                                             /etc/netns/$NS/resolv.conf) names 198.18.3.53
#                  extra targets on lo        peer.py servers on TCP 9000 (start_peers)
#
# The DNS helpers (Q, DIG, expect, st_of, rrs_of, ttl_of, count_of, dcount, fcount, settle)
# come from tests/e2e/dns/common.sh; its dns_resolvers_up is not used here.

. "$SRC/tests/e2e/dns/common.sh"
DOMDIR=$SRC/tests/e2e/rules
PROBE="python3 $DOMDIR/domains-probe.py"
CN=$DOMDIR/domains-cn.txt
SS_PID=
SS_RUN=0

# lib.sh's cleanup, plus the server namespace's resolv.conf. KEEP_LOGS=DIR keeps a copy
# of the run's files (configs, logs, captures) in DIR/ for a look afterwards.
trap '[ -n "${KEEP_LOGS:-}" ] && mkdir -p "$KEEP_LOGS" && cp -r "$T/." "$KEEP_LOGS/"; cleanup; rm -rf "/etc/netns/$NS"' EXIT

# dom_up: addresses, dnsmasq, unbound at 198.18.3.53, ss-server (TCP+UDP) whose own name
# lookups go to 198.18.3.53. Call in the main shell (bg records the PIDs).
dom_up() {
	in_ns ip addr add 198.18.0.53/32 dev "vs$ID" || return 1
	in_ns ip addr add 198.18.3.53/32 dev lo || return 1
	# Before anything starts in the server namespace: `ip netns exec` bind-mounts it
	# over /etc/resolv.conf there.
	mkdir -p "/etc/netns/$NS" && echo "nameserver 198.18.3.53" >"/etc/netns/$NS/resolv.conf" || return 1
	: >"$DLOG"
	bg dnsmasq ns dnsmasq -C "$DOMDIR/domains-domestic.conf" --keep-in-foreground \
		--listen-address=198.18.0.53 --bind-interfaces --user=root --group=root \
		--log-facility="$DLOG" --pid-file="$T/dnsmasq.pid"
	dom_unbound foreign 198.18.3.53 || { echo "unbound did not start: $(tail -n 3 "$T/foreign.log")"; return 1; }
	start_ss || return 1
	wait_port ns 198.18.0.53 53 || { echo "dnsmasq did not listen: $(tail -n 3 "$T/dnsmasq.log")"; return 1; }
}

# start_ss: ss-server at 198.18.0.2:8388 (TCP and UDP, -v logs each connection's
# target); SS_PID. Each run logs to its own $T/ss-server-N.log.
start_ss() {
	SS_RUN=$((SS_RUN + 1))
	bg "ss-server-$SS_RUN" ns ss-server -s 198.18.0.2 -p 8388 -k "$PW" -m chacha20-ietf-poly1305 -u -v
	SS_PID=$LAST_PID
	wait_port ns 198.18.0.2 8388 || { echo "ss-server did not listen: $(tail -n 3 "$T/ss-server-$SS_RUN.log")"; return 1; }
}
# ss_log: everything every ss-server run logged so far.
ss_log() { cat "$T"/ss-server-*.log 2>/dev/null; }

# dom_unbound NAME ADDR: unbound at ADDR:53 with domains-foreign.conf, queries logged to
# $T/NAME-queries.log (FLOG for "foreign").
dom_unbound() {
	unbound_up "$1" "$2" "$DOMDIR/domains-foreign.conf"
}

# start_peers ADDR...: each ADDR on the server's lo with a peer.py server on $TPORT.
start_peers() {
	local a
	for a in "$@"; do
		if [[ $a == *:* ]]; then in_ns ip -6 addr add "$a/128" dev lo nodad; else in_ns ip addr add "$a/32" dev lo; fi
		bg "peer-$a" ns $PEER server "$a" $TPORT
	done
	for a in "$@"; do
		if [[ $a == *:* ]]; then wait_port ns "[$a]" $TPORT; else wait_port ns "$a" $TPORT; fi || { echo "peer at $a did not listen"; return 1; }
	done
}

# default_routes: the client namespace gets default routes via the server namespace (a
# real machine's main table has one; the server ns routes nowhere further), so anything
# that escaped the capture would be seen on the veth, and a throw route (tun mode) has
# somewhere to go: rule 5201 `lookup main suppress_prefixlength 0` ignores a default
# route, so only what our table throws reaches it.
default_routes() {
	in_nc ip route add default via 198.18.0.2 &&
		in_nc ip -6 route add default via fd00::2
}

# who_is HOST WANT: a connection to HOST:$TPORT reaches the target, which saw WANT as
# its source. Through ss-server in the server namespace the source is the target's own
# (local) address; directly from the client namespace it is 198.18.0.1 / fd00::1.
who_is() {
	local got
	got=$(in_nc timeout 10 $PEER who "$1" $TPORT 2>&1) || { echo "who $1 failed: $got"; return 1; }
	[ "$got" = "$2" ] || { echo "the target $1 saw the connection from $got, want $2"; return 1; }
}
me_for() { [[ $1 == *:* ]] && echo fd00::1 || echo 198.18.0.1; }
reached_directly() { who_is "$1" "$(me_for "$1")"; }
reached_via_proxy() { who_is "$1" "$1"; }

# Tun mode: the table our rule at priority 5202 looks up now (it alternates on reload).
our_table() {
	in_nc ip rule show pref 5202 | sed -n 's/.*lookup \([^ ]*\).*/\1/p' | head -n 1
}
# troute FAMILY(4|6) TABLE: that table's routes, one a line.
troute() { in_nc ip -"$1" route show table "$2" 2>/dev/null; }
# has_route FAMILY TABLE REGEX: a route line of TABLE matches REGEX (anchored at start).
# (grep reads everything: with pipefail, grep -q's early exit could fail the pipeline.)
has_route() {
	troute "$1" "$2" | grep -E "^$3" >/dev/null ||
		{ echo "no route /$3/ in table $2 (IPv$1): $(troute "$1" "$2" | tr '\n' '|')"; return 1; }
}
no_route_for() { # FAMILY TABLE ADDR: no route of TABLE names ADDR
	! troute "$1" "$2" | grep -E "(^| )${3//./\\.}( |$)" >/dev/null ||
		{ echo "table $2 has a route for $3: $(troute "$1" "$2" | grep -E "(^| )${3//./\\.}( |$)")"; return 1; }
}

# Redirect mode: the element of ADDR in nft set SET of table inet snet_tun, "TIMEOUT
# EXPIRES" in seconds, or "none".
nft_elem() {
	local j
	j=$(in_nc nft -j list set inet snet_tun "$1" 2>&1) || { echo "nft: $j"; return 1; }
	$PROBE nftelem "$2" <<<"$j"
}
# in_set SET ADDR MIN MAX: ADDR is in SET with a timeout within MIN..MAX and an expiry
# no later than that timeout.
in_set() {
	local e to ex
	e=$(nft_elem "$1" "$2") || { echo "$2 is not in $1 ($e): $(in_nc nft -T list set inet snet_tun "$1" | grep elements)"; return 1; }
	read -r to ex <<<"$e"
	[[ $to =~ ^[0-9]+$ && $ex =~ ^[0-9]+$ ]] || { echo "$2 in $1 has no timeout: '$e'"; return 1; }
	[ "$to" -ge "$3" ] && [ "$to" -le "$4" ] && [ "$ex" -le "$to" ] ||
		{ echo "$2 in $1: timeout ${to}s expires ${ex}s, want a timeout of $3..$4 s"; return 1; }
	echo "$2 in $1: timeout ${to}s expires ${ex}s"
}
not_in_set() {
	local e
	e=$(nft_elem "$1" "$2")
	[ "$e" = none ] || { echo "$2 is in $1 ($e)"; return 1; }
}
set_elems() { in_nc nft -j list set inet snet_tun "$1" 2>/dev/null | grep -oE '"val": "[^"]*"' | sort; }

# dom_config NAME MODE RULES-LINES DNS-EXTRA-LINES [TUN-EXTRA]: a config for MODE
# (redirect|tun) through ss-server, with the given rules: block and the resolver.
dom_config() {
	local n=$1 mode=$2
	if [ "$mode" = tun ]; then write_tun_config "$n" "$(ss_proxy)"; else write_config "$n" "$(ss_proxy)"; fi
	sed -i '/^dns:$/,$d' "$T/$n.yaml"
	[ -n "${5:-}" ] && sed -i "s|^  address6: .*|$5|" "$T/$n.yaml"
	cat >>"$T/$n.yaml" <<EOF
rules:
$3
dns:
  enable: true
  listen: 127.0.0.1:1153
  domestic: [198.18.0.53]
  foreign: [198.18.3.53]
  split: true
  prefetch: false
  timeout: 2
  query-log: $T/query-$n.log
$4
EOF
}

# tunnel_dns NAME TIMEOUT [EXTRA-LINES]: $T/NAME.yaml's dns: block becomes the resolver on
# 127.0.0.1:1153 asking only the foreign unbound at 198.18.3.53 (through the tunnel),
# without prefetch, with dns.timeout TIMEOUT and EXTRA-LINES (indented keys).
tunnel_dns() {
	sed -i '/^dns:$/,$d' "$T/$1.yaml"
	cat >>"$T/$1.yaml" <<EOF
dns:
  enable: true
  listen: 127.0.0.1:1153
  foreign: [198.18.3.53]
  split: false
  prefetch: false
  timeout: $2
${3:-}
EOF
}

# A1 OUT: the single A/AAAA address of a dig answer ("" unless exactly one record).
addr_of() {
	local r
	r=$(rrs_of "$1" | grep -E '^(A|AAAA) ')
	[ "$(grep -c . <<<"$r")" = 1 ] && awk '{print $2}' <<<"$r"
}
