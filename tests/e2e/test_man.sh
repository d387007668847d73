#!/usr/bin/env bash
# The man pages: snet-tun(8) and snet-tun.yaml(5) as the build made them (scdoc, gzip)
# render with groff and man without a warning, and snet-tun.yaml(5) documents exactly
# the keys of config.yaml and of the parser (tests/check_man_keys.py). Needs no root and
# no namespace.
. "$(dirname "$0")/lib.sh"
MAN=$(dirname "$BIN")/man

for page in snet-tun.8 snet-tun.yaml.5; do
	f=$MAN/$page.gz
	if [ ! -f "$f" ]; then
		# a build without scdoc: make the page here from its source
		if command -v scdoc >/dev/null && scdoc <"$SRC/man/$page.scd" | gzip -9n >"$T/$page.gz"; then
			f=$T/$page.gz
		else
			fail "man-$page-built" "no $f and no scdoc to make it"
			continue
		fi
	fi
	out=$(zcat "$f" | groff -man -Tutf8 -ww -z 2>&1)
	if [ -z "$out" ]; then pass "man-$page-groff-no-warnings"; else fail "man-$page-groff-no-warnings" "$(head -n 3 <<<"$out" | tr '\n' ' ')"; fi
	out=$(MANWIDTH=80 man --warnings -l "$f" 2>&1 >"$T/$page.txt")
	if [ -z "$out" ] && [ -s "$T/$page.txt" ]; then
		pass "man-$page-man-l ($(wc -l <"$T/$page.txt") lines)"
	else
		fail "man-$page-man-l" "$(head -n 3 <<<"$out" | tr '\n' ' ')"
	fi
done
check man-keys-match python3 "$SRC/tests/check_man_keys.py"
finish
