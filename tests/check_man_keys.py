#!/usr/bin/env python3
"""check_man_keys.py -- snet-tun.yaml(5) documents exactly the keys snet-tun accepts.

Three sources must agree: the key paths of config.yaml (the annotated default, read by
indentation: "  port: 8388" under "proxy:" is proxy.port; `proxies`, shown there only as
a commented example, counts as a key), the key names of the parser's tables in
base/config*.c (K_xxx("name", ...) and .name = "name"), and the terms of the man page
(a line "*dns.fake-ip.size*" in man/snet-tun.yaml.5.scd). Prints one PASS or FAIL line
with what is missing where, and exits non-zero on failure.
"""
import glob
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEY = re.compile(r"^( *)([a-z][a-z0-9-]*):(\s|$)")


def yaml_paths(path):
    paths, stack = set(), []  # stack of (indent, name)
    for line in open(path, encoding="utf-8"):
        m = KEY.match(line)
        if not m:
            continue
        indent, name = len(m.group(1)), m.group(2)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, name))
        paths.add(".".join(n for _, n in stack))
    # a path that has children is a section, not a key
    return {p for p in paths if not any(q.startswith(p + ".") for q in paths)} | {"proxies"}


def parser_names():
    names = set()
    for f in glob.glob(os.path.join(ROOT, "base", "config*.c")):
        text = open(f, encoding="utf-8").read()
        names |= set(re.findall(r'\bK_[A-Z]+\(\s*"([a-z0-9-]+)"', text))
        names |= set(re.findall(r'\.name\s*=\s*"([a-z0-9-]+)"', text))
    return names


def man_terms(path):
    terms = set()
    for line in open(path, encoding="utf-8"):
        m = re.match(r"^\*([a-z][a-z0-9.-]*)\*\s*$", line)
        if m:
            terms.add(m.group(1))
    return terms


def main():
    keys = yaml_paths(os.path.join(ROOT, "config.yaml"))
    man = man_terms(os.path.join(ROOT, "man", "snet-tun.yaml.5.scd"))
    leaves = {part for p in keys for part in p.split(".")}
    errors = []
    for p in sorted(keys - man):
        errors.append("config.yaml key %s not in snet-tun.yaml(5)" % p)
    for p in sorted(man - keys):
        errors.append("snet-tun.yaml(5) documents %s, which config.yaml lacks" % p)
    for n in sorted(parser_names() - leaves):
        errors.append("parser key '%s' (base/config*.c) in neither config.yaml nor the man page" % n)
    if errors:
        print("FAIL man-keys: " + "; ".join(errors[:8]))
        return 1
    print("PASS man-keys (%d keys in config.yaml, the parser and snet-tun.yaml(5))" % len(keys))
    return 0


if __name__ == "__main__":
    sys.exit(main())
