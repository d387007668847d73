#!/usr/bin/env bash
# The Debian package: built with cpack in a temporary build dir, its file list checked,
# installed with dpkg -i (its dependencies are there: scripts/deps installs them), the
# installed binary's --check run on the template (refused, naming the placeholder) and on
# a filled copy (accepted), the unit checked with systemd-analyze verify, the man pages
# rendered, then dpkg -r and dpkg -P leaving nothing behind: no file of the package, no
# /etc/snet-tun, no user or group, no nft table, no policy rule. Nothing is started (the
# machine's own namespace never runs snet-tun). An exit at any point, a failure or
# ^C, purges the package if this test installed it.
# PKG_TEST_ABORT=1 exits right after the install (to see that the trap cleans up).
. "$(dirname "$0")/lib.sh"
B=$T/build
INSTALLED_BY_US=0

pkg_cleanup() {
	if [ "$INSTALLED_BY_US" = 1 ] && dpkg-query -W snet-tun >/dev/null 2>&1; then
		dpkg -P snet-tun >"$T/purge-trap.log" 2>&1 || cat "$T/purge-trap.log"
	fi
}
trap 'pkg_cleanup; cleanup' EXIT

if dpkg-query -W -f='${Status}' snet-tun 2>/dev/null | grep -q 'installed'; then
	fail pkg-not-installed-before "snet-tun is already installed here: this test will not touch it"
	exit 1
fi
snapshot() { # what must be the same before the install and after the purge
	{
		getent passwd | cut -d: -f1 | sort
		getent group | cut -d: -f1 | sort
		nft list tables 2>/dev/null
		ip rule show; ip -6 rule show
		ls -d /etc/snet-tun /usr/share/snet-tun /var/log/snet-tun /usr/share/doc/snet-tun 2>&1
	} | md5sum
}
before=$(snapshot)

# Build: a fresh build dir with the default prefix (/usr), only what the package holds.
if cmake -S "$SRC" -B "$B" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$T/cmake.log" 2>&1 &&
	cmake --build "$B" -j2 --target snet-tun man >>"$T/cmake.log" 2>&1 &&
	(cd "$B" && cpack -G DEB) >"$T/cpack.log" 2>&1; then
	pass pkg-cpack
else
	fail pkg-cpack "$(tail -n 5 "$T/cmake.log" "$T/cpack.log" 2>/dev/null | tr '\n' ' ')"
	exit 1
fi
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$B/CMakeCache.txt")
DEB=$B/snet-tun_${version}_$(dpkg --print-architecture).deb
check pkg-file-name test -f "$DEB"
echo "package: $(basename "$DEB"), $(stat -c %s "$DEB") bytes"

dpkg-deb -c "$DEB" | awk '{print $6}' | sed 's|^\./|/|' | grep -v '/$' | sort >"$T/files.txt"
echo "files: $(tr '\n' ' ' <"$T/files.txt")"
c_files() {
	local f missing=""
	for f in /usr/sbin/snet-tun /lib/systemd/system/snet-tun.service /etc/snet-tun/config.yaml \
		/etc/logrotate.d/snet-tun /usr/lib/sysctl.d/60-snet-tun.conf \
		/usr/share/man/man8/snet-tun.8.gz /usr/share/man/man5/snet-tun.yaml.5.gz \
		/usr/share/doc/snet-tun/config-annotated.yaml; do
		grep -qx "$f" "$T/files.txt" || missing+=" $f"
	done
	for f in "$SRC"/data/*; do
		[ -e "$f" ] || continue
		grep -qx "/usr/share/snet-tun/$(basename "$f")" "$T/files.txt" || missing+=" /usr/share/snet-tun/$(basename "$f")"
	done
	[ -z "$missing" ] || { echo "missing:$missing"; return 1; }
	if grep -Ev '^/(usr/sbin|lib/systemd/system|etc/snet-tun|etc/logrotate.d|usr/lib/sysctl.d|usr/share/(man|doc/snet-tun|snet-tun))/' "$T/files.txt"; then
		echo "unexpected files above"
		return 1
	fi
}
check pkg-file-list c_files
c_control() {
	local dep conf
	dep=$(dpkg-deb -f "$DEB" Depends)
	case $dep in *libc6*libsystemd0*) ;; *) echo "Depends not computed from the libraries: '$dep'"; return 1 ;; esac
	conf=$(dpkg-deb --ctrl-tarfile "$DEB" | tar -xO ./conffiles)
	grep -qx /etc/snet-tun/config.yaml <<<"$conf" && grep -qx /etc/logrotate.d/snet-tun <<<"$conf" ||
		{ echo "conffiles: $conf"; return 1; }
}
check pkg-control-depends-conffiles c_control

if dpkg -i "$DEB" >"$T/install.log" 2>&1; then
	INSTALLED_BY_US=1
	pass pkg-dpkg-install
else
	INSTALLED_BY_US=1
	fail pkg-dpkg-install "$(tail -n 3 "$T/install.log" | tr '\n' ' ')"
	exit 1
fi
[ "${PKG_TEST_ABORT:-0}" = 1 ] && { echo "PKG_TEST_ABORT: leaving it to the trap"; exit 1; }

check pkg-installed-files bash -c "while read -r f; do test -e \"\$f\" || { echo \"\$f missing\"; exit 1; }; done <$T/files.txt"
check pkg-version bash -c "/usr/sbin/snet-tun --version | grep -qx 'snet-tun $version'"

# The template is refused until its placeholders are filled; the message names one.
c_template() {
	local out rc
	out=$(/usr/sbin/snet-tun -c /etc/snet-tun/config.yaml --check 2>&1)
	rc=$?
	[ $rc -eq 1 ] || { echo "exit $rc, want 1: $out"; return 1; }
	grep -Eq '^/etc/snet-tun/config.yaml:[0-9]+:[0-9]+: proxy.server: <your-server> is a placeholder' <<<"$out" ||
		{ echo "message: $out"; return 1; }
	echo "$out"
}
check pkg-check-template-refused c_template
echo "template: $(/usr/sbin/snet-tun -c /etc/snet-tun/config.yaml --check 2>&1)"
c_no_test_addresses() {
	! grep -nE '198\.1[89]\.[0-9]+|fd00:' /etc/snet-tun/config.yaml
}
check pkg-template-no-test-addresses c_no_test_addresses
c_filled() {
	local out
	sed -e 's/"<your-server>"/proxy.example.net/' -e 's/"<your-password>"/"a-long-secret"/' \
		/etc/snet-tun/config.yaml >"$T/filled.yaml"
	grep -v '^ *#' "$T/filled.yaml" | grep -n '<[a-z-]*>' && { echo "placeholders left in the filled copy"; return 1; }
	out=$(/usr/sbin/snet-tun -c "$T/filled.yaml" --check 2>&1) || { echo "$out"; return 1; }
	[ -z "$out" ] || { echo "printed: $out"; return 1; }
}
check pkg-check-filled-accepted c_filled
c_one_left() { # each placeholder is refused on its own
	sed -e 's/"<your-server>"/proxy.example.net/' /etc/snet-tun/config.yaml >"$T/one.yaml"
	local out
	out=$(/usr/sbin/snet-tun -c "$T/one.yaml" --check 2>&1) && { echo "accepted with <your-password> left"; return 1; }
	grep -q 'proxy.password: <your-password> is a placeholder' <<<"$out" || { echo "message: $out"; return 1; }
}
check pkg-check-names-each-placeholder c_one_left

c_verify() {
	local out
	out=$(systemd-analyze verify /lib/systemd/system/snet-tun.service 2>&1) || { echo "$out"; return 1; }
	[ -z "$out" ] || { echo "$out"; return 1; }
}
check pkg-unit-verify c_verify
check pkg-unit-type-notify grep -qx 'Type=notify' /lib/systemd/system/snet-tun.service
echo "unit: $(systemd-analyze security --offline=true /lib/systemd/system/snet-tun.service 2>/dev/null | tail -n 1)"
c_man() {
	local p out
	for p in /usr/share/man/man8/snet-tun.8.gz /usr/share/man/man5/snet-tun.yaml.5.gz; do
		out=$(zcat "$p" | groff -man -Tutf8 -ww -z 2>&1) || { echo "$p: $out"; return 1; }
		[ -z "$out" ] || { echo "$p: $out"; return 1; }
	done
	out=$(MANWIDTH=80 man 8 snet-tun 2>&1) || { echo "man 8 snet-tun: $out"; return 1; }
	grep -q -- '--cleanup' <<<"$out" || { echo "man 8 snet-tun lacks --cleanup"; return 1; }
	out=$(MANWIDTH=80 man 5 snet-tun.yaml 2>&1) || { echo "man 5 snet-tun.yaml: $out"; return 1; }
	grep -q 'dns.fake-ip.size' <<<"$out" || { echo "man 5 snet-tun.yaml lacks dns.fake-ip.size"; return 1; }
}
check pkg-man-pages c_man
check pkg-sysctl-file grep -qx 'net.ipv4.tcp_tw_reuse = 1' /usr/lib/sysctl.d/60-snet-tun.conf
check pkg-logrotate-syntax bash -c "logrotate -d /etc/logrotate.d/snet-tun 2>&1 | grep -q 'rotating pattern: /var/log/snet-tun/\*.log'"

# Remove: the conffiles stay (dpkg's rule), everything else goes; purge takes the rest.
check pkg-dpkg-remove dpkg -r snet-tun
c_removed() {
	local f left=""
	while read -r f; do
		case $f in /etc/snet-tun/config.yaml | /etc/logrotate.d/snet-tun) continue ;; esac
		[ -e "$f" ] && left+=" $f"
	done <"$T/files.txt"
	[ -z "$left" ] || { echo "left after dpkg -r:$left"; return 1; }
}
check pkg-remove-leaves-only-conffiles c_removed
check pkg-dpkg-purge dpkg -P snet-tun
c_purged() {
	local f left=""
	while read -r f; do [ -e "$f" ] && left+=" $f"; done <"$T/files.txt"
	for f in /etc/snet-tun /usr/share/snet-tun /usr/share/doc/snet-tun /var/log/snet-tun; do
		[ -e "$f" ] && left+=" $f"
	done
	[ -z "$left" ] || { echo "left after dpkg -P:$left"; return 1; }
	dpkg-query -W snet-tun >/dev/null 2>&1 && { echo "dpkg still knows snet-tun"; return 1; }
	[ "$(snapshot)" = "$before" ] || { echo "users, groups, nft tables or rules differ from before the install"; return 1; }
}
check pkg-purge-leaves-nothing c_purged
INSTALLED_BY_US=0
finish
