#!/usr/bin/env bash
# rules.scope bypass-cn without rules.cn-cidr-file: snet-tun takes the shipped CN lists
# (data/cn-ipv4-cidrs.txt and data/cn-ipv6-cidrs.txt of the source tree its build sits in,
# when /usr/share/snet-tun has none), says which files and how many networks in its log,
# and keeps both families' networks out of the capture: redirect mode's nft sets bypass4
# and bypass6, tun mode's throw routes (IPv4 and IPv6). No packet is sent to a CN address;
# they are only looked up in the sets and tables.
#
#   client ns $NC                                    server ns $NS
#   +---------------------------------------+ veth +--------------------------------+
#   | 198.18.0.1/24  fd00::1/64             |------| 198.18.0.2/24  fd00::2/64      |
#   | snet-tun: redirect (nft inet snet_tun)|      | (nothing runs here)            |
#   |   or tun st$ID, auto-route            |      |                                |
#   +---------------------------------------+      +--------------------------------+
. "$(dirname "$0")/lib.sh"
net_up || { fail cn-default-netns "cannot create namespaces"; exit 1; }

DATA=$SRC/data
if [ -r /usr/share/snet-tun/cn-ipv4-cidrs.txt ]; then DATA=/usr/share/snet-tun; fi
N4=$(grep -c '^[0-9]' "$DATA/cn-ipv4-cidrs.txt")
N6=$(grep -c '^[0-9a-f]*:' "$DATA/cn-ipv6-cidrs.txt")
V4=$(grep -m1 '^[0-9]' "$DATA/cn-ipv4-cidrs.txt")
V6=$(grep -m1 '^[0-9a-f]*:' "$DATA/cn-ipv6-cidrs.txt")
echo "expecting $DATA: $N4 IPv4 networks (first $V4), $N6 IPv6 networks (first $V6)"
RULES='rules:
  scope: bypass-cn'
PROXY='  type: ss
  server: 198.18.0.2
  port: 8388
  method: chacha20-ietf-poly1305
  password: "cn-default"'

write_config redir "$PROXY"
printf '%s\n' "$RULES" >>"$T/redir.yaml"
write_tun_config tun "$PROXY"
printf '%s\n' "$RULES" >>"$T/tun.yaml"

c_log() {
	grep -qF "rules: CN networks (default lists): $DATA/cn-ipv4-cidrs.txt ($N4), $DATA/cn-ipv6-cidrs.txt ($N6)" "$T/snet-$1.log" ||
		{ echo "log: $(grep -m1 'CN networks' "$T/snet-$1.log")"; return 1; }
}
in_set() { in_nc nft get element inet snet_tun "$1" "{ $2 }" >/dev/null; }
c_sets() { in_set bypass4 "$V4" && in_set bypass6 "$V6"; }
# Our table (21326 after a start) throws both lists' networks, so `ip route get` of an
# address inside them does not pick the tun.
c_routes() {
	# grep -c reads everything: with pipefail, -q would fail the pipe by SIGPIPE.
	in_nc ip -4 route show table 21326 | grep -c "^throw $V4\( \|$\)" >/dev/null || { echo "no throw route for $V4"; return 1; }
	in_nc ip -6 route show table 21326 | grep -c "^throw $V6\( \|$\)" >/dev/null || { echo "no throw route for $V6"; return 1; }
	! in_nc ip route get "${V4%.*/*}.1" mark 0 | grep -q "dev st$ID " || { echo "${V4%.*/*}.1 goes into the tun"; return 1; }
	! in_nc ip -6 route get "${V6%::/*}::1" | grep -q "dev st$ID " || { echo "${V6%::/*}::1 goes into the tun"; return 1; }
}

if start_snet redir; then
	pass cn-default-redirect-ready
	check cn-default-redirect-log c_log redir
	check cn-default-redirect-nft-sets c_sets
	check_exit cn-default-redirect-exit redir
else
	fail cn-default-redirect-ready "$(tail -n 3 "$T/snet-redir.log" | tr '\n' ' ')"
	stop_pid "$SNET_PID"
fi
if start_snet tun; then
	pass cn-default-tun-ready
	check cn-default-tun-log c_log tun
	check cn-default-tun-throw-routes c_routes
	check_exit cn-default-tun-exit tun
else
	fail cn-default-tun-ready "$(tail -n 3 "$T/snet-tun.log" | tr '\n' ' ')"
	stop_pid "$SNET_PID"
fi
# Without any list to find, bypass-cn is a config error naming where it looked.
mkdir -p "$T/bin" && cp "$BIN" "$T/bin/snet-tun-alone" # its ../data is $T/data: none
c_none() {
	local out
	if [ -r /usr/share/snet-tun/cn-ipv4-cidrs.txt ]; then echo "skipped: an installed list exists"; return 0; fi
	if out=$("$T/bin/snet-tun-alone" -c "$T/redir.yaml" --check 2>&1); then echo "--check passed without any CN list"; return 1; fi
	grep -q "scope bypass-cn without cn-cidr-file, and no installed CN list (looked for /usr/share/snet-tun/cn-ipv4-cidrs.txt, " <<<"$out" || { echo "got: $out"; return 1; }
}
check cn-default-missing-is-an-error c_none
finish
