#!/bin/bash
# test_update_data.sh -- scripts/update-data on a small delegated-statistics fixture
# (tests/e2e/data/delegated-small.txt): the CN IPv4 and IPv6 lists it writes match the
# expected files byte for byte (a non-power-of-two IPv4 count split into CIDRs, adjacent
# and overlapping ranges merged, other countries, reserved records and ASNs left out,
# header with source and date), and a malformed record is reported as SOURCE:LINE with
# exit status 1 and leaves the previous files in place. No namespace is needed.
. "$(dirname "$0")/lib.sh"

UD=$SRC/scripts/update-data
D=$SRC/tests/e2e/data

same() { diff -u "$1" "$2"; }

mkdir -p "$T/out"
if (cd "$D" && python3 "$UD" -o "$T/out" delegated-small.txt) >"$T/ud.log" 2>&1; then
	pass update-data-runs
else
	fail update-data-runs "$(tail -n 3 "$T/ud.log" | tr '\n' ' ')"
fi
check update-data-ipv4-exact same "$D/delegated-small.cn-ipv4.expected" "$T/out/cn-ipv4-cidrs.txt"
check update-data-ipv6-exact same "$D/delegated-small.cn-ipv6.expected" "$T/out/cn-ipv6-cidrs.txt"

# The output is loadable by snet-tun as a cn-cidr-file (when a build is there).
if [ -x "$BIN" ]; then
	cat >"$T/cn.yaml" <<EOC
mode: redirect
proxy: {type: direct}
rules: {scope: bypass-cn, cn-cidr-file: $T/out/cn-ipv4-cidrs.txt, cn-cidr6-file: $T/out/cn-ipv6-cidrs.txt}
dns: {enable: false}
EOC
	check update-data-output-loads "$BIN" -c "$T/cn.yaml" --check
fi

# A malformed record: SOURCE:LINE message, exit 1, files untouched.
{ head -n 8 "$D/delegated-small.txt"; echo 'apnic|CN|ipv4|1.0.300.0|256|20110414|allocated'; } >"$T/bad.txt"
cp "$T/out/cn-ipv4-cidrs.txt" "$T/before.txt"
if (cd "$T" && python3 "$UD" -o "$T/out" bad.txt) >"$T/bad.log" 2>&1; then
	fail update-data-bad-record "exit 0 on a malformed record"
elif grep -q '^update-data: bad.txt:9: bad ipv4 record' "$T/bad.log"; then
	pass update-data-bad-record
else
	fail update-data-bad-record "$(cat "$T/bad.log")"
fi
check update-data-bad-keeps-files same "$T/before.txt" "$T/out/cn-ipv4-cidrs.txt"
# An unreadable source.
if python3 "$UD" -o "$T/out" "$T/missing" >"$T/miss.log" 2>&1; then
	fail update-data-missing "exit 0 on a missing file"
else
	check update-data-missing grep -q 'cannot read .*missing' "$T/miss.log"
fi
finish
