#!/usr/bin/env bash
# rules.block-domain-files with the DNS resolver in redirect mode: a generated hosts-format
# list of 200 000 names plus a small plain list. A listed name and its subdomains are
# answered NXDOMAIN without asking an upstream (any case), unlisted names resolve as usual,
# SIGHUP re-reads the lists, a list with a bad line is reported as FILE:LINE:COL (--check
# fails; a reload keeps the lists in force). The load time and the resident set size are
# printed, never asserted.
#
#   client ns $NC                             server ns $NS
#   +-------------------------------+         +------------------------------------------+
#   | snet-tun (redirect mode)      |         | ss-server     198.18.0.2:8388 (TCP+UDP)   |
#   |   dns.listen 127.0.0.1:1153   |  veth   | dnsmasq       198.18.0.53:53  DOMESTIC    |
#   |   block-domain-files:         |---------|   www.dom.test 198.18.5.10 (in cn.txt)    |
#   |     $T/hosts.txt (200 000)    |         |   www.byp.test 198.18.8.8                 |
#   |     $T/plain.txt              |         | unbound       198.18.3.53:53  FOREIGN     |
#   | dig                           |         |   (reached only through ss-server)        |
#   | 198.18.0.1/24, fd00::1/64     |         | 198.18.0.2/24, fd00::2/64                 |
#   +-------------------------------+         +------------------------------------------+
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/e2e/dns/common.sh"
net_up || { fail block-netns "cannot create namespaces"; exit 1; }
dns_resolvers_up >"$T/resolvers.out" 2>&1 || { fail block-resolvers "$(tail -n 3 "$T/resolvers.out" | tr '\n' ' ')"; exit 1; }

N=${BLOCK_NAMES:-200000}
# Name I of the generated list (the awk below writes the same names).
gen_name() { printf 'ad%d-%x.tracker%d.example' "$1" $(($1 * 2654435761 % 4294967296)) $(($1 % 997)); }
{
	printf '# generated: %d names, hosts format\n127.0.0.1 localhost\n::1 localhost ip6-localhost\n' "$N"
	awk -v n="$N" 'BEGIN { for (i = 0; i < n; i++) printf "0.0.0.0 ad%d-%x.tracker%d.example\n", i, (i * 2654435761) % 4294967296, i % 997 }'
} >"$T/hosts.txt"
printf '# a plain list\nWWW.byp.test.\nsome.other.example  # comment\n' >"$T/plain.txt"
LISTED=$(gen_name $((N / 2 + 17)))
LAST=$(gen_name $((N - 1)))

write_config block "$(ss_proxy)"
sed -i '/^dns:$/,$d' "$T/block.yaml"
cat >>"$T/block.yaml" <<EOF
rules:
  scope: global
  cn-cidr-file: $DNSDIR/cn.txt
  block-domain-files: [$T/hosts.txt, plain.txt]
dns:
  enable: true
  listen: 127.0.0.1:1153
  domestic: [198.18.0.53]
  foreign: [198.18.3.53]
  split: true
  timeout: 5
EOF

check block-config-valid "$BIN" -c "$T/block.yaml" --check
if ! start_snet block; then
	fail block-ready "no ready line: $(tail -n 3 "$T/snet-block.log" | tr '\n' ' ')"
	finish
	exit
fi
pass block-ready
line=$(grep -m1 'rules: block lists:' "$T/snet-block.log")
echo "load: ${line#*rules: }"
echo "snet-tun resident set with the lists: $(awk '/^VmRSS/ {print $2, $3}' "/proc/$SNET_PID/status")"
c_loaded() { grep -q "rules: block lists: $((N + 2)) names from 2 files" "$T/snet-block.log" || { echo "log: $line"; return 1; }; }
check block-loaded-count c_loaded

c_listed() {
	local o
	o=$(Q "$LISTED" A); expect "$o" NXDOMAIN || return 1
	o=$(Q "$LAST" AAAA); expect "$o" NXDOMAIN || return 1
	settle
	[ "$(dcount "$LISTED" A)$(fcount "$LISTED" A)" = 00 ] || { echo "an upstream was asked a blocked name"; return 1; }
}
check block-listed-name-nxdomain c_listed
c_sub() {
	local o
	o=$(Q "deep.sub.$LISTED" A); expect "$o" NXDOMAIN || return 1
	o=$(Q "X.$(tr a-z A-Z <<<"$LISTED")" A); expect "$o" NXDOMAIN || return 1
	o=$(Q www.byp.test A); expect "$o" NXDOMAIN || return 1
	o=$(Q a.WWW.Byp.Test A); expect "$o" NXDOMAIN
}
check block-subdomain-and-case c_sub
c_unlisted() {
	local o
	o=$(Q www.dom.test A); expect "$o" NOERROR "A 198.18.5.10" || return 1
	o=$(Q www.for.test A); expect "$o" NOERROR "A 198.18.7.1" || return 1
	# The parent of a listed name is not blocked: it goes to an upstream.
	local parent
	parent=tracker$(((N / 2 + 17) % 997)).example
	Q "$parent" A >/dev/null
	Q byp.test A >/dev/null
	settle
	[ $(($(dcount "$parent" A) + $(fcount "$parent" A))) -ge 1 ] || { echo "$parent (parent of a listed name) was answered locally"; return 1; }
	[ $(($(dcount byp.test A) + $(fcount byp.test A))) -ge 1 ] || { echo "byp.test (parent of www.byp.test) was answered locally"; return 1; }
}
check block-unlisted-resolves c_unlisted

# SIGHUP: the plain list now blocks www.dom.test and no longer www.byp.test.
printf 'www.dom.test\n' >"$T/plain.txt"
kill -HUP "$SNET_PID"
if wait_log "$T/snet-block.log" "reloaded" 15; then pass block-reload; else fail block-reload "no reloaded line"; fi
c_reloaded() {
	local o
	o=$(Q www.dom.test A); expect "$o" NXDOMAIN || return 1
	o=$(Q www.byp.test A) # 198.18.8.8 is outside cn.txt: the foreign answer wins
	[ "$(st_of "$o")" = NOERROR ] && [ "$(count_of "$o")" -ge 1 ] || { echo "www.byp.test: $(st_of "$o") $(rrs_of "$o")"; return 1; }
	o=$(Q "$LISTED" A); expect "$o" NXDOMAIN
}
check block-reload-applies c_reloaded

# A bad line: --check fails naming FILE:LINE:COL; a reload keeps the running lists.
printf 'ok.example\nnot a name\n' >"$T/plain.txt"
c_check_bad() {
	local out
	if out=$("$BIN" -c "$T/block.yaml" --check 2>&1); then echo "--check passed a bad list"; return 1; fi
	grep -q "^$T/plain.txt:2:5: expected one domain name" <<<"$out" || { echo "got: $out"; return 1; }
}
check block-check-bad-line c_check_bad
kill -HUP "$SNET_PID"
if wait_log "$T/snet-block.log" "plain.txt:2:5: .*keeping the running configuration" 15; then
	pass block-reload-bad-reported
else
	fail block-reload-bad-reported "$(tail -n 3 "$T/snet-block.log" | tr '\n' ' ')"
fi
c_kept() {
	local o
	o=$(Q www.dom.test A); expect "$o" NXDOMAIN || return 1
	o=$(Q "$LISTED" A); expect "$o" NXDOMAIN
}
check block-reload-bad-keeps-lists c_kept

check_exit block-sigterm-exit-0 block
finish
