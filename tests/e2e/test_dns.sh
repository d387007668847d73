#!/usr/bin/env bash
# The DNS resolver in redirect mode, against real resolvers: dnsmasq as the domestic
# upstream (asked directly), unbound as the foreign one (reachable only through
# ss-server). Queries go to dns.listen over UDP and TCP, and to an arbitrary address's
# port 53 (intercepted by the nftables rules). Upstream query counts come from the
# resolvers' query logs. Tun-mode interception is in test_dns_tun.sh.
#
#   client ns $NC                             server ns $NS
#   +-------------------------------+         +------------------------------------------+
#   | snet-tun (redirect mode)      |         | ss-server     198.18.0.2:8388 (TCP+UDP)   |
#   |   dns.listen 127.0.0.1:1153   |  veth   | dnsmasq       198.18.0.53:53  DOMESTIC    |
#   |   (+ [::1]:1153)              |---------|   dom.test in cn.txt, *.for.test poisoned |
#   | dig, dnsq.py                  |         | unbound       198.18.3.53:53  FOREIGN     |
#   | 198.18.0.1/24, fd00::1/64     |         |   on lo; no route to it from $NC: only    |
#   | routes 198.18.77.0/24,        |         |   ss-server's connections reach it        |
#   |   fd00:77::/64 via the server |         | unbound       198.18.3.99:53  (started    |
#   |   (nothing listens there:     |         |   late, upstream-down test)               |
#   |   only interception answers)  |         | 198.18.0.2/24, fd00::2/64                 |
#   +-------------------------------+         +------------------------------------------+
#
# Zone data: tests/e2e/dns/{domestic.conf,foreign.conf,for.test.zone,neg.for.test.zone};
# split CIDRs: tests/e2e/dns/cn.txt (198.18.5.0/24, fd00:5::/64).
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/e2e/dns/common.sh"
net_up || { fail dns-netns "cannot create namespaces"; exit 1; }
# Not in a subshell: bg must record the PIDs in this shell for the cleanup.
dns_resolvers_up >"$T/resolvers.out" 2>&1 || { fail dns-resolvers "$(tail -n 3 "$T/resolvers.out" | tr '\n' ' ')"; exit 1; }
in_nc ip route add 198.18.77.0/24 via 198.18.0.2
in_nc ip -6 route add fd00:77::/64 via fd00::2

# The foreign resolver is out of the client's reach except through the proxy.
if in_nc ip route get 198.18.3.53 >/dev/null 2>&1; then
	fail dns-foreign-unreachable-directly "the client namespace has a route to 198.18.3.53"
else
	pass dns-foreign-unreachable-directly
fi

# dns_config NAME SPLIT FOREIGN [EXTRA-DNS-LINES]: redirect mode through ss-server.
dns_config() {
	write_config "$1" "$(ss_proxy)"
	sed -i '/^dns:$/,$d' "$T/$1.yaml"
	cat >>"$T/$1.yaml" <<EOF
rules:
  scope: global
  cn-cidr-file: $DNSDIR/cn.txt
  bypass-domains: [byp.test]
  block-domains: [ads.test]
dns:
  enable: true
  listen: 127.0.0.1:1153
  domestic: [198.18.0.53]
  foreign: [$3]
  split: $2
  cache-size: 10000
  prefetch: ${PREFETCH:-false}
  hosts:
    myhost.test: [198.18.9.9, fd00:9::9]
  disable-qtypes: [HTTPS]
  query-log: $T/query-$1.log
${4:-}
EOF
}

# --- the main instance: split on ----------------------------------------------------
dns_config dns true 198.18.3.53 "  timeout: 5"
if ! start_snet dns; then
	fail dns-ready "no ready line: $(tail -n 3 "$T/snet-dns.log" | tr '\n' ' ')"
	finish
	exit
fi
pass dns-ready
QLOG=$T/query-dns.log

# Basic answers through the tunnel (the domestic answer is poisoned, so foreign's).
c_basic() {
	local o
	o=$(Q www.for.test A); expect "$o" NOERROR "A 198.18.7.1" || return 1
	o=$(Q www.for.test AAAA); expect "$o" NOERROR "AAAA fd00:7::1" || return 1
	settle
	[ "$(fcount www.for.test A)" = 1 ] || { echo "foreign resolver saw $(fcount www.for.test A) A queries, want 1"; return 1; }
	grep -qE 'info: 198\.18\.3\.53 www\.for\.test\. A IN$' "$FLOG" || { echo "the foreign query did not come from ss-server (198.18.3.53)"; return 1; }
}
check dns-udp-a-aaaa-via-proxy c_basic

c_tcp() {
	local o
	o=$(Q +tcp tcp.for.test A); expect "$o" NOERROR "A 198.18.7.14"
}
check dns-tcp c_tcp

# Case: the reply carries the question as asked; case variants share one cache entry.
c_case() {
	local o q
	o=$(Q case.for.test A); expect "$o" NOERROR "A 198.18.7.4" || return 1
	for v in CaSe.FoR.TeSt +tcp:CASE.for.TEST; do
		if [ "${v%%:*}" = +tcp ]; then o=$(Q +tcp "${v#*:}" A); v=${v#*:}; else o=$(Q "$v" A); fi
		expect "$o" NOERROR "A 198.18.7.4" || return 1
		q=$(section_of "$o" QUESTION | awk '{print $1}')
		[ "$q" = ";$v." ] || { echo "question came back as '$q', asked ';$v.'"; return 1; }
	done
	settle
	[ "$(fcount case.for.test A)" = 1 ] || { echo "foreign saw $(fcount case.for.test A) queries for 3 case variants, want 1"; return 1; }
}
check dns-case-preserved-one-cache-entry c_case

# The cache is keyed by type: A then AAAA, and AAAA then A, never mixed.
c_types() { # NAME FIRST SECOND ADDR4 ADDR6
	local o want1 want2
	[ "$2" = A ] && want1="A $4" want2="AAAA $5" || want1="AAAA $5" want2="A $4"
	o=$(Q "$1" "$2"); expect "$o" NOERROR "$want1" || return 1
	o=$(Q "$1" "$3"); expect "$o" NOERROR "$want2" || return 1
	o=$(Q "$1" "$2"); expect "$o" NOERROR "$want1" || return 1
	o=$(Q "$1" "$3"); expect "$o" NOERROR "$want2"
}
check dns-a-then-aaaa c_types ab.for.test A AAAA 198.18.7.2 fd00:7::2
check dns-aaaa-then-a c_types ba.for.test AAAA A 198.18.7.3 fd00:7::3

c_cname() {
	local o i
	for i in 1 2; do
		o=$(Q c1.for.test A); expect "$o" NOERROR "CNAME c2.for.test." "CNAME tgt.for.test." "A 198.18.7.30" || return 1
	done
	settle
	[ "$(fcount c1.for.test A)" = 1 ] || { echo "foreign saw $(fcount c1.for.test A) queries, want 1 (second from cache)"; return 1; }
}
check dns-cname-chain c_cname
c_mx() { local o; o=$(Q mx.for.test MX); expect "$o" NOERROR "MX 10 mail.for.test."; }
check dns-mx c_mx
c_txt() { local o; o=$(Q txt.for.test TXT); expect "$o" NOERROR 'TXT "hello snet-tun"'; }
check dns-txt c_txt

# TTL countdown: 300 at first, 2 s later at most 298..299 (and not above).
c_ttl() {
	local o t1 t2
	o=$(Q ttl.for.test A); expect "$o" NOERROR "A 198.18.7.5" || return 1
	t1=$(ttl_of "$o")
	[ "$t1" -ge 295 ] && [ "$t1" -le 300 ] || { echo "first TTL $t1, want 295..300"; return 1; }
	sleep 2.2
	o=$(Q ttl.for.test A); expect "$o" NOERROR "A 198.18.7.5" || return 1
	t2=$(ttl_of "$o")
	[ "$t2" -le 298 ] && [ "$t2" -ge 290 ] && [ "$t2" -lt "$t1" ] || { echo "TTL $t1 then $t2 2.2 s later, want <= 298 and >= 290"; return 1; }
	[ "$(fcount ttl.for.test A)" = 1 ] || { echo "foreign saw $(fcount ttl.for.test A) queries, want 1"; return 1; }
}
check dns-ttl-countdown c_ttl

# Negative answers: cached (with their SOA) for the SOA's negative TTL.
has_soa() { # OUT ZONE
	section_of "$1" AUTHORITY | grep -qE "^$2\.[[:space:]]+[0-9]+[[:space:]]+IN[[:space:]]+SOA" ||
		{ echo "no SOA of $2 in the authority section: $(section_of "$1" AUTHORITY | tr '\n' ' ')"; return 1; }
}
c_neg() { # NAME TYPE STATUS ZONE
	local o i
	for i in 1 2; do
		o=$(Q "$1" "$2"); expect "$o" "$3" && has_soa "$o" "$4" || { echo "(query $i) $(expect "$o" "$3")"; return 1; }
	done
	settle
	[ "$(fcount "$1" "$2")" = 1 ] || { echo "foreign saw $(fcount "$1" "$2") queries, want 1 (second from cache)"; return 1; }
}
check dns-nxdomain-cached-with-soa c_neg nx.for.test A NXDOMAIN for.test
check dns-nodata-cached-with-soa c_neg nodata.for.test AAAA NOERROR for.test

# ... and they expire: neg.for.test has a 2 s negative TTL.
c_neg_expiry() {
	local o
	o=$(Q x.neg.for.test A); expect "$o" NXDOMAIN || return 1
	o=$(Q a.neg.for.test AAAA); expect "$o" NOERROR || return 1
	o=$(Q x.neg.for.test A); expect "$o" NXDOMAIN || return 1
	o=$(Q a.neg.for.test AAAA); expect "$o" NOERROR || return 1
	settle
	[ "$(fcount x.neg.for.test A):$(fcount a.neg.for.test AAAA)" = 1:1 ] ||
		{ echo "within the TTL foreign saw $(fcount x.neg.for.test A) NXDOMAIN and $(fcount a.neg.for.test AAAA) NODATA queries, want 1 and 1"; return 1; }
	sleep 3
	o=$(Q x.neg.for.test A); expect "$o" NXDOMAIN || return 1
	o=$(Q a.neg.for.test AAAA); expect "$o" NOERROR || return 1
	settle
	[ "$(fcount x.neg.for.test A):$(fcount a.neg.for.test AAAA)" = 2:2 ] ||
		{ echo "3 s later (negative TTL 2) foreign saw $(fcount x.neg.for.test A) and $(fcount a.neg.for.test AAAA) queries, want 2 and 2"; return 1; }
}
check dns-negative-cache-expires c_neg_expiry

# Truncation: over UDP an answer above the client's size (512 without EDNS) is TC with
# header and question only; over TCP it comes whole.
c_tc() { # NAME DIG-OPTS...
	local o n=$1
	shift
	o=$(Q +notcp +ignore "$@" "$n" A)
	[ "$(st_of "$o")" = NOERROR ] && [[ " $(flags_of "$o") " == *" tc "* ]] && [ "$(count_of "$o")" = 0 ] &&
		[ "$(section_of "$o" QUESTION | awk '{print $1}')" = ";$n." ] ||
		{ echo "want NOERROR, tc, 0 answers, the question; got $(st_of "$o"), flags [$(flags_of "$o")], $(count_of "$o") answers"; return 1; }
}
check dns-udp-tc-above-edns-size c_tc big.for.test +bufsize=1232
check dns-udp-tc-above-512-without-edns c_tc mid.for.test +noedns
c_fits() { # NAME COUNT PREFIX DIG-OPTS...: all COUNT distinct addresses, no tc
	local o n=$1 want=$2 pre=$3 got
	shift 3
	o=$(Q "$@" "$n" A)
	got=$(rrs_of "$o" | grep -cE "^A ${pre//./\\.}[0-9]+\$")
	[ "$(st_of "$o")" = NOERROR ] && [[ " $(flags_of "$o") " != *" tc "* ]] && [ "$got" = "$want" ] &&
		[ "$(rrs_of "$o" | sort -u | grep -c .)" = "$want" ] ||
		{ echo "want $want distinct A ${pre}x without tc, got $(st_of "$o") [$(flags_of "$o")] $got ($(count_of "$o") records)"; return 1; }
}
check dns-udp-edns-1232-fits c_fits mid.for.test 40 198.18.7. +notcp +ignore +bufsize=1232
check dns-tcp-big-answer c_fits big.for.test 100 198.18.4. +tcp
# The domestic resolver truncates big.dom.test over UDP (75 of 100): all 100 means
# snet-tun retried it over TCP (foreign knows no big.dom.test: NXDOMAIN).
check dns-domestic-tcp-fallback c_fits big.dom.test 100 198.18.5. +tcp

check dns-tcp-pipelined in_nc timeout 10 $DNSQ pipeline 127.0.0.1 1153 \
	pipe1.for.test=198.18.7.11 pipe2.for.test=198.18.7.12 pipe3.for.test=198.18.7.13

# Coalescing: 100 identical queries at once for an uncached name -> one upstream query.
c_coalesce() {
	in_nc timeout 10 $DNSQ flood 127.0.0.1 1153 flood.for.test 100 198.18.7.7 || return 1
	settle 0.5
	[ "$(fcount flood.for.test A)" = 1 ] && [ "$(dcount flood.for.test A)" -le 1 ] ||
		{ echo "100 concurrent queries: foreign saw $(fcount flood.for.test A), domestic $(dcount flood.for.test A) (want 1 and at most 1)"; return 1; }
}
check dns-coalesce-100-concurrent c_coalesce

# Foreign queries share one tunnelled TCP connection: ss-server (-v) logs each one it opens.
c_reuse() {
	local conns queries
	conns=$(grep -c 'connect to 198.18.3.53:53' "$T/ss-server.log")
	queries=$(grep -cE 'info: [0-9.]+ .* IN$' "$FLOG")
	[ "$queries" -ge 10 ] || { echo "only $queries foreign queries so far"; return 1; }
	[ "$conns" -le 2 ] || { echo "$queries foreign queries took $conns connections through the proxy"; return 1; }
	echo "$queries foreign queries over $conns connection(s)"
}
check dns-foreign-connection-reused c_reuse

# Split: the domestic answer wins when all its addresses are in cn.txt; bypass-domains
# are asked to the domestic resolver only.
c_split_dom() {
	local o
	o=$(Q www.dom.test A); expect "$o" NOERROR "A 198.18.5.10" || return 1
	o=$(Q www.dom.test AAAA); expect "$o" NOERROR "AAAA fd00:5::10"
}
check dns-split-domestic-in-cn c_split_dom
c_split_for() {
	local o
	o=$(Q icpt.for.test A); expect "$o" NOERROR "A 198.18.7.9" || return 1
	settle
	[ "$(dcount icpt.for.test A)" = 1 ] || { echo "the domestic resolver saw $(dcount icpt.for.test A) queries, want 1 (split asks both)"; return 1; }
}
check dns-split-poisoned-takes-foreign c_split_for
c_bypass() {
	local o
	o=$(Q www.byp.test A); expect "$o" NOERROR "A 198.18.8.8" || return 1
	settle
	[ "$(fcount www.byp.test A)" = 0 ] || { echo "the foreign resolver was asked about www.byp.test"; return 1; }
}
check dns-bypass-domain-domestic-only c_bypass

# Local answers: hosts (A, AAAA, PTR), disable-qtypes, block-domains.
c_hosts() {
	local o
	o=$(Q myhost.test A); expect "$o" NOERROR "A 198.18.9.9" || return 1
	o=$(Q myhost.test AAAA); expect "$o" NOERROR "AAAA fd00:9::9" || return 1
	o=$(Q -x 198.18.9.9); expect "$o" NOERROR "PTR myhost.test." || return 1
	settle
	[ "$(grep -ci myhost "$FLOG" "$DLOG" | awk -F: '{s += $2} END {print s}')" = 0 ] || { echo "an upstream was asked about myhost.test"; return 1; }
}
check dns-hosts-a-aaaa-ptr c_hosts
c_qtype() {
	local o
	o=$(Q www.for.test HTTPS); expect "$o" NOERROR || return 1
	settle
	! grep -qiE 'www\.for\.test\. (HTTPS|TYPE65) IN' "$FLOG" || { echo "the foreign resolver was asked the disabled type"; return 1; }
}
check dns-disabled-qtype-empty c_qtype
c_block() {
	local o
	o=$(Q ads.test A); expect "$o" NXDOMAIN || return 1
	o=$(Q x.ads.test AAAA); expect "$o" NXDOMAIN || return 1
	o=$(Q notads.test A); expect "$o" NOERROR "A 198.18.5.68" || return 1
	settle
	[ "$(dcount ads.test A)$(dcount x.ads.test AAAA)" = 00 ] || { echo "the domestic resolver was asked a blocked name"; return 1; }
}
check dns-block-domains c_block

# Query log: one line per query, TIME CLIENT NAME TYPE RCODE SOURCE LATENCY.
qlog_re() { # NAME TYPE RCODE SOURCE
	printf '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?Z 127\\.0\\.0\\.1:[0-9]+ %s\\. %s %s %s [0-9]+(\\.[0-9]+)?ms$' \
		"${1//./\\.}" "$2" "$3" "$4"
}
c_qlog() {
	local i n
	for i in 1 2 3; do Q log.for.test A >/dev/null; done
	sleep 0.5
	n=$(grep -ci ' log\.for\.test\. ' "$QLOG")
	[ "$n" = 3 ] || { echo "3 queries gave $n log lines: $(grep -i ' log\.for\.test\. ' "$QLOG" | tr '\n' '|')"; return 1; }
	for want in "log.for.test A NOERROR foreign" "log.for.test A NOERROR cache" "www.dom.test A NOERROR domestic" \
		"myhost.test A NOERROR local" "nx.for.test A NXDOMAIN foreign" "nx.for.test A NXDOMAIN cache"; do
		set -- $want
		grep -qiE "$(qlog_re "$@")" "$QLOG" || { echo "no line for '$want'; lines: $(grep -i " $1\. " "$QLOG" | head -n 3 | tr '\n' '|')"; return 1; }
	done
	[ "$(grep -ciE "$(qlog_re log.for.test A NOERROR cache)" "$QLOG")" = 2 ] || { echo "want 2 cache lines for log.for.test"; return 1; }
}
check dns-query-log c_qlog

# Log rotation (the package's logrotate file): the log is moved away, SIGUSR1 makes
# snet-tun open the path again; the next query lands in the new file, none in the old.
c_qlog_reopen() {
	mv "$QLOG" "$QLOG.1"
	kill -USR1 "$SNET_PID" || return 1
	wait_log "$T/snet-dns.log" "query log reopened" 5 || { echo "no 'query log reopened' line after SIGUSR1"; return 1; }
	Q rotated.for.test A >/dev/null
	sleep 0.5
	[ -f "$QLOG" ] || { echo "no new $QLOG after SIGUSR1"; return 1; }
	grep -qi ' rotated\.for\.test\. ' "$QLOG" || { echo "the query after SIGUSR1 is not in the new log: $(tr '\n' '|' <"$QLOG")"; return 1; }
	! grep -qi ' rotated\.for\.test\. ' "$QLOG.1" || { echo "the query after SIGUSR1 went to the rotated file"; return 1; }
}
check dns-query-log-reopen c_qlog_reopen

# Load: 3 s of dnsperf at 2000 queries/s over a mix of cached, local, negative and
# truncated answers; nothing lost, and the process is still there.
c_perf() {
	local o
	printf '%s\n' "www.for.test A" "www.for.test AAAA" "www.dom.test A" "myhost.test A" \
		"nx.for.test A" "nodata.for.test AAAA" "ads.test A" "big.for.test A" "c1.for.test A" \
		"txt.for.test TXT" >"$T/perf.txt"
	o=$(in_nc timeout 20 dnsperf -s 127.0.0.1 -p 1153 -d "$T/perf.txt" -l 3 -Q 2000 -c 4 -t 2 2>&1)
	grep -qE 'Queries lost: +0 ' <<<"$o" && grep -qE 'Queries completed: +[1-9]' <<<"$o" ||
		{ echo "$(grep -E 'Queries (sent|completed|lost)' <<<"$o" | tr -s ' ' | tr '\n' ' ')"; return 1; }
	kill -0 "$SNET_PID" || { echo "snet-tun died under load"; return 1; }
	echo "$(grep -E 'Queries completed' <<<"$o" | tr -s ' ')"
}
check dns-dnsperf-no-loss c_perf

# SIGHUP keeps the cache: no new upstream query, the TTL still counting down.
c_hup() {
	local o t1 t2
	o=$(Q hup.for.test A); expect "$o" NOERROR "A 198.18.7.8" || return 1
	t1=$(ttl_of "$o")
	hup dns || return 1
	sleep 1.2
	o=$(Q hup.for.test A); expect "$o" NOERROR "A 198.18.7.8" || return 1
	t2=$(ttl_of "$o")
	settle
	[ "$(fcount hup.for.test A)" = 1 ] || { echo "after SIGHUP the foreign resolver was asked again (cache lost)"; return 1; }
	[ "$t2" -lt "$t1" ] || { echo "TTL $t1 before SIGHUP, $t2 1.2 s after"; return 1; }
}
check dns-sighup-keeps-cache c_hup

# Interception: port 53 of any address, from any process, is answered by snet-tun (dig
# checks that the reply comes from the address it asked). Nothing listens there.
c_icpt() { # ADDR TYPE WANT DIG-OPTS...
	local o a=$1 t=$2 w=$3
	shift 3
	o=$(DIG "$@" @"$a" icpt.for.test "$t"); expect "$o" NOERROR "$w" || return 1
	grep -q "SERVER: $a#53" <<<"$o" || { echo "reply not from $a#53: $(grep SERVER <<<"$o")"; return 1; }
}
check dns-intercept-udp4 c_icpt 198.18.77.77 A "A 198.18.7.9"
check dns-intercept-tcp4 c_icpt 198.18.77.77 A "A 198.18.7.9" +tcp
check dns-intercept-udp6 c_icpt fd00:77::77 AAAA "AAAA fd00:7::9"
check dns-intercept-tcp6 c_icpt fd00:77::77 AAAA "AAAA fd00:7::9" +tcp

check dns-still-running kill -0 "$SNET_PID"
check_exit dns-sigterm-exit-0 dns
if rules_present; then fail dns-rules-removed "table inet snet_tun still there"; else pass dns-rules-removed; fi
c_icpt_gone() {
	local o
	o=$(DT=1 DIG @198.18.77.77 icpt.for.test A)
	[ -z "$(st_of "$o")" ] || { echo "198.18.77.77 still answered after snet-tun exited: $(st_of "$o")"; return 1; }
}
check dns-no-interception-after-exit c_icpt_gone

# --- split off: everything goes to the foreign resolver ------------------------------
# (at debug level: the tunnel's own idle close is logged only there)
LOG_LEVEL=debug dns_config nosplit false 198.18.3.53
if start_snet nosplit; then
	c_nosplit() {
		local o d0
		d0=$(grep -c 'query\[' "$DLOG")
		o=$(Q www.dom.test A); expect "$o" NOERROR "A 198.18.7.50" || return 1
		o=$(Q nosplit.dom.test A); expect "$o" NOERROR "A 198.18.7.51" || return 1
		settle
		[ "$(grep -c 'query\[' "$DLOG")" = "$d0" ] || { echo "the domestic resolver was asked: $(tail -n 1 "$DLOG")"; return 1; }
	}
	check dns-nosplit-foreign-only c_nosplit
	# The relay keeps idle sessions open (idle-timeout 0, the default); the tunnel closes
	# its own connection after 25 s without a query, before unbound's 30 s would.
	c_tunnel_idle_close() {
		wait_log "$T/snet-nosplit.log" 'closing the connection, idle for' 40 ||
			{ echo "the tunnel's connection was not closed by its idle timer within 40 s"; return 1; }
		in_nc ss -Htn state established "dst 198.18.0.2 and dport = :8388" | grep -q . &&
			{ echo "still an established connection to the proxy"; return 1; }
		return 0
	}
	check dns-tunnel-idle-close c_tunnel_idle_close
	check_exit dns-nosplit-sigterm-exit-0 nosplit
else
	fail dns-nosplit-ready "$(tail -n 3 "$T/snet-nosplit.log" | tr '\n' ' ')"
	stop_pid "$SNET_PID"
fi

# --- prefetch: a popular entry is refreshed before it expires -------------------------
# pf.for.test has TTL 6. The second hit with under 5 s left asks the upstream again in
# the background; after the first answer's 6 s the name is still answered from the
# cache, and the upstream has been asked exactly twice.
PREFETCH=true dns_config pf false 198.18.3.53
if start_snet pf; then
	c_prefetch() {
		local o n
		o=$(Q pf.for.test A); expect "$o" NOERROR "A 198.18.7.61" || return 1
		sleep 1.5
		Q pf.for.test A >/dev/null
		Q pf.for.test A >/dev/null
		settle 0.5
		n=$(fcount pf.for.test A)
		[ "$n" = 2 ] || { echo "after two hits near expiry the upstream saw $n queries, want 2 (a prefetch)"; return 1; }
		sleep 4.8 # past the first answer's expiry (6 s), within the refreshed one's
		o=$(Q pf.for.test A); expect "$o" NOERROR "A 198.18.7.61" || return 1
		settle
		n=$(fcount pf.for.test A)
		[ "$n" = 2 ] || { echo "the upstream saw $n queries, want 2: the refreshed entry was not used"; return 1; }
		tail -n 1 "$T/query-pf.log" | grep -q ' cache ' || { echo "last answer not from the cache: $(tail -n 1 "$T/query-pf.log")"; return 1; }
	}
	check dns-prefetch c_prefetch
	check_exit dns-prefetch-sigterm-exit-0 pf
else
	fail dns-pf-ready "$(tail -n 3 "$T/snet-pf.log" | tr '\n' ' ')"
	stop_pid "$SNET_PID"
fi

# --- a foreign resolver that closes the connection: dnsmasq ends a TCP connection after
# 100 answers, so 400 distinct names take several connections through the proxy; queries
# left unanswered on a closed one go again on the next, none is lost or late.
in_ns ip addr add 198.18.3.98/32 dev lo
bg dnsmasq-closer ns dnsmasq --no-daemon --no-resolv --no-hosts --bind-interfaces \
	--listen-address=198.18.3.98 --user=root --group=root --pid-file="$T/closer.pid" \
	--address=/close.test/198.18.7.77 --cache-size=0
dns_config closer false 198.18.3.98
if wait_port ns 198.18.3.98 53 && start_snet closer; then
	c_closer() {
		local o
		for i in $(seq 400); do echo "n$i.close.test A"; done >"$T/closer.txt"
		o=$(in_nc timeout 20 dnsperf -s 127.0.0.1 -p 1153 -d "$T/closer.txt" -n 1 -q 100 -t 2 -c 1 2>&1)
		grep -qE 'Queries lost: +0 ' <<<"$o" && grep -qE 'NOERROR 400 ' <<<"$o" ||
			{ echo "$(grep -E 'Queries (sent|completed|lost)|Response codes' <<<"$o" | tr -s ' ' | tr '\n' ' ')"; return 1; }
		[ "$(grep -c 'connect to 198.18.3.98:53' "$T/ss-server.log")" -ge 2 ] ||
			{ echo "the resolver never closed a connection: the check tests nothing"; return 1; }
	}
	check dns-foreign-closes-connection-no-loss c_closer
	check_exit dns-closer-sigterm-exit-0 closer
else
	fail dns-closer-ready "$(tail -n 3 "$T/snet-closer.log" | tr '\n' ' ')"
	stop_pid "$SNET_PID"
fi

# --- split with the foreign side down: a domestic name still resolves; a foreign one gets
# SERVFAIL, never the domestic resolver's (poisoned) answer as a fallback.
dns_config downsplit true 198.18.3.97 "  timeout: 2"
if start_snet downsplit; then
	c_downsplit() {
		local o
		o=$(Q www.dom.test A); expect "$o" NOERROR "A 198.18.5.10" || return 1
		o=$(DT=6 Q poison.for.test A)
		[ "$(st_of "$o")" = SERVFAIL ] ||
			{ echo "want SERVFAIL, got $(st_of "$o"): $(rrs_of "$o" | tr '\n' ' ')"; return 1; }
	}
	check dns-split-foreign-down-no-poisoned-fallback c_downsplit
	check_exit dns-downsplit-sigterm-exit-0 downsplit
else
	fail dns-downsplit-ready "$(tail -n 3 "$T/snet-downsplit.log" | tr '\n' ' ')"
	stop_pid "$SNET_PID"
fi

# --- foreign upstream down: SERVFAIL by dns.timeout, and SERVFAIL is not cached -------
dns_config down false 198.18.3.99 "  timeout: 2"
if start_snet down; then
	c_down() {
		local o t0 ms
		t0=$(date +%s%N)
		o=$(DT=8 Q sf.for.test A)
		ms=$((($(date +%s%N) - t0) / 1000000))
		[ "$(st_of "$o")" = SERVFAIL ] || { echo "want SERVFAIL, got '$(st_of "$o")' after $ms ms $(grep -m1 '^;; ' <<<"$o")"; return 1; }
		echo "SERVFAIL after $ms ms"
	}
	check dns-upstream-down-servfail c_down
	c_failed_logged() {
		sleep 0.3
		grep -qiE "$(qlog_re sf.for.test A SERVFAIL failed)" "$T/query-down.log" ||
			{ echo "no 'SERVFAIL failed' line: $(tail -n 2 "$T/query-down.log" | tr '\n' '|')"; return 1; }
	}
	check dns-servfail-logged-failed c_failed_logged
	# The upstream comes up (started here, not inside check's subshell, so cleanup
	# knows its PID): the same query now gets the answer.
	in_ns ip addr add 198.18.3.99/32 dev lo
	start_unbound foreign2 198.18.3.99 || fail dns-second-foreign-start "unbound at 198.18.3.99 did not start: $(tail -n 3 "$T/foreign2.log" | tr '\n' ' ')"
	c_not_cached() {
		local o
		o=$(DT=5 Q sf.for.test A); expect "$o" NOERROR "A 198.18.7.10" || return 1
		settle
		[ "$(fcount sf.for.test A "$T/foreign2-queries.log")" = 1 ] || { echo "the upstream saw $(fcount sf.for.test A "$T/foreign2-queries.log") queries"; return 1; }
	}
	check dns-servfail-not-cached c_not_cached
	check_exit dns-down-sigterm-exit-0 down
else
	fail dns-down-ready "$(tail -n 3 "$T/snet-down.log" | tr '\n' ' ')"
	stop_pid "$SNET_PID"
fi
# --- dns.domestic left out: the system's resolvers (the LAN's router, typically) ---------
# The client namespace's resolv.conf (ip netns exec mounts /etc/netns/NAME/resolv.conf)
# names a loopback stub, skipped, and the "router": a second dnsmasq at 198.18.0.54 with
# the domestic data. Before, a left-out domestic meant 198.18.0.53, a test address.
ROUTER_LOG=$T/router-queries.log
: >"$ROUTER_LOG"
in_ns ip addr add 198.18.0.54/32 dev "vs$ID"
bg dnsmasq-router ns dnsmasq -C "$DNSDIR/domestic.conf" --keep-in-foreground \
	--listen-address=198.18.0.54 --bind-interfaces --user=root --group=root \
	--log-facility="$ROUTER_LOG" --pid-file="$T/dnsmasq-router.pid"
NETNS_ETC_NEW=0
[ -d /etc/netns ] || NETNS_ETC_NEW=1
netns_etc_rm() {
	rm -rf "/etc/netns/$NC"
	[ "$NETNS_ETC_NEW" = 1 ] && rmdir /etc/netns 2>/dev/null
	return 0
}
mkdir -p "/etc/netns/$NC"
trap 'netns_etc_rm; cleanup' EXIT
printf 'nameserver 127.0.0.53\nnameserver 198.18.0.54\n' >"/etc/netns/$NC/resolv.conf"
dns_config sysres true 198.18.3.53
sed -i '/^  domestic:/d' "$T/sysres.yaml"
if wait_port ns 198.18.0.54 53 && start_snet sysres; then
	c_sysres() {
		local o
		o=$(Q www.dom.test A); expect "$o" NOERROR "A 198.18.5.10" || return 1
		settle
		grep -qiE 'query\[A\] www\.dom\.test from ' "$ROUTER_LOG" ||
			{ echo "the resolver named in resolv.conf (198.18.0.54) was not asked: $(tail -n 2 "$ROUTER_LOG" | tr '\n' '|')"; return 1; }
	}
	check dns-domestic-from-resolv-conf c_sysres
	check_exit dns-sysres-sigterm-exit-0 sysres
else
	fail dns-sysres-ready "$(tail -n 3 "$T/snet-sysres.log" | tr '\n' ' ')"
fi
netns_etc_rm

finish
