# tests/e2e/dns/common.sh -- sourced after lib.sh by test_dns.sh and test_dns_tun.sh:
# the two upstream resolvers and ss-server in the server namespace, query counting in
# their logs, and dig wrappers that pull fields out of dig's answer.
#
#   server ns $NS: 198.18.0.53/32 on vs$ID   DOMESTIC: dnsmasq, domestic.conf
#                                             (reached directly from the client ns)
#                  198.18.3.53/32 on lo       FOREIGN: unbound, foreign.conf; the client
#                                             ns has no route to 198.18.3.0/24, so only
#                                             ss-server (198.18.0.2:8388) reaches it
#                  198.18.3.99/32 on lo       a second foreign unbound, started late
#                                             (upstream-down test)

DNSDIR=$SRC/tests/e2e/dns
DNSQ="python3 $DNSDIR/dnsq.py"
DLOG=$T/domestic-queries.log
FLOG=$T/foreign-queries.log
PW=dns-secret-$ID

# dns_resolvers_up: addresses, dnsmasq, unbound at 198.18.3.53 and ss-server (TCP+UDP).
dns_resolvers_up() {
	in_ns ip addr add 198.18.0.53/32 dev "vs$ID" || return 1
	in_ns ip addr add 198.18.3.53/32 dev lo || return 1
	: >"$DLOG"
	bg dnsmasq ns dnsmasq -C "$DNSDIR/domestic.conf" --keep-in-foreground \
		--listen-address=198.18.0.53 --bind-interfaces --user=root --group=root \
		--log-facility="$DLOG" --pid-file="$T/dnsmasq.pid"
	DNSMASQ_PID=$LAST_PID
	start_unbound foreign 198.18.3.53 || { echo "unbound did not start: $(tail -n 3 "$T/foreign.log")"; return 1; }
	bg ss-server ns ss-server -s 198.18.0.2 -p 8388 -k "$PW" -m chacha20-ietf-poly1305 -u -v
	wait_port ns 198.18.0.2 8388 || { echo "ss-server did not listen"; return 1; }
	wait_port ns 198.18.0.53 53 || { echo "dnsmasq did not listen: $(tail -n 3 "$T/dnsmasq.log")"; return 1; }
}

# unbound_up NAME ADDR INCLUDE [CLAUSES]: unbound in the foreground at ADDR:53 (UDP+TCP),
# never recursing, with the server clauses of INCLUDE and then CLAUSES (e.g. auth-zones),
# queries logged to $T/NAME-queries.log; waits for its TCP listener.
unbound_up() {
	local name=$1 addr=$2 include=$3 clauses=${4:-}
	: >"$T/$name-queries.log"
	cat >"$T/$name.conf" <<EOF
server:
  verbosity: 1
  num-threads: 1
  interface: $addr
  port: 53
  do-ip4: yes
  do-ip6: no
  do-udp: yes
  do-tcp: yes
  so-reuseport: no
  chroot: ""
  username: ""
  directory: "$T"
  pidfile: "$T/$name.pid"
  use-syslog: no
  logfile: "$T/$name-queries.log"
  log-time-ascii: yes
  log-queries: yes
  do-daemonize: no
  access-control: 0.0.0.0/0 allow
  module-config: "iterator"
  do-not-query-localhost: yes
  # Nothing is ever resolved recursively: names outside the local zones are REFUSED.
  local-zone: "." refuse
  include: "$include"
$clauses
remote-control:
  control-enable: no
EOF
	bg "$name" ns unbound -d -c "$T/$name.conf"
	wait_port ns "$addr" 53
}

# start_unbound NAME ADDR: the foreign resolver: foreign.conf, for.test.zone and
# neg.for.test.zone.
start_unbound() {
	local zones="" z
	for z in for.test neg.for.test; do
		zones+="auth-zone:
  name: \"$z.\"
  zonefile: \"$DNSDIR/$z.zone\"
  for-downstream: yes
  for-upstream: no
  fallback-enabled: no
"
	done
	unbound_up "$1" "$2" "$DNSDIR/foreign.conf" "$zones"
}

# Upstream query counts (case-insensitive names, without the trailing dot).
fcount() { # NAME TYPE [LOG]: queries the foreign unbound received
	grep -ciE "info: [0-9.]+ $(printf '%s' "$1" | sed 's/\./\\./g')\. $2 IN\$" "${3:-$FLOG}"
}
dcount() { # NAME TYPE: queries the domestic dnsmasq received
	grep -ciE "query\[$2\] $(printf '%s' "$1" | sed 's/\./\\./g') from " "$DLOG"
}
# settle: give the resolvers a moment to write their log lines.
settle() { sleep "${1:-0.3}"; }

# dig wrappers: Q asks snet-tun's listener; DIG asks anything. Both print dig's answer.
DNS_AT=${DNS_AT:-127.0.0.1}
DNS_PORT=${DNS_PORT:-1153}
DIG() { in_nc dig +tries=1 +time="${DT:-3}" "$@" 2>&1; }
Q() { DIG @"$DNS_AT" -p "$DNS_PORT" "$@"; }
st_of() { sed -n 's/.*status: \([A-Z]*\),.*/\1/p' <<<"$1" | head -n 1; }
flags_of() { sed -n 's/^;; flags: \([^;]*\);.*/\1/p' <<<"$1" | head -n 1; }
# section_of OUT NAME (ANSWER|AUTHORITY|QUESTION): that section's records, one a line.
section_of() { awk -v s=";; $2 SECTION:" '$0 == s {a = 1; next} a && /^$/ {exit} a' <<<"$1"; }
# rrs_of OUT: "TYPE RDATA" of every answer record, sorted.
rrs_of() { section_of "$1" ANSWER | awk '{$1 = $2 = $3 = ""; sub(/^ +/, ""); print}' | sort; }
ttl_of() { section_of "$1" ANSWER | awk 'NR == 1 {print $2}'; }
count_of() { section_of "$1" ANSWER | grep -c .; }

# expect OUT STATUS [RR...]: the answer has STATUS and exactly the records "TYPE RDATA".
expect() {
	local out=$1 st=$2 want got
	shift 2
	got=$(rrs_of "$out")
	want=$(printf '%s\n' "$@" | sed '/^$/d' | sort)
	if [ "$(st_of "$out")" != "$st" ] || [ "$got" != "$want" ]; then
		echo "want $st [$(echo $want)], got $(st_of "$out") [$(echo $got)] $(grep -m1 -E '^;; (connection|communications)' <<<"$out")"
		return 1
	fi
}
