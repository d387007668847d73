#!/usr/bin/env python3
"""check_layers.py -- the include rules of the source tree, checked from the files alone.

The folders are layers, lowest first (LAYERS below). A file may include headers of its
own folder and of folders below it, never above: so no lower layer knows a higher one,
and no two folders include each other. Every project include is written from the source
root ("dns/msg.h"), names a file that exists, and sits in a folder of the list; main.c at
the top may include anything. tests/ and bench/ are not layers: they may include any
layer, written the same way.

Prints one "PASS layers (...)" or "FAIL layers: ..." line (the first few offences) and
exits non-zero on failure. With --graph, prints which folder includes which instead.
"""
import os
import re
import sys

LAYERS = ["base", "proxy", "relay", "dns", "tun", "netstack", "capture", "service"]
TOP = "main.c"  # above every layer
FREE = ["tests", "bench"]  # not layers: may include any layer
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def sources(root):
    for d in LAYERS + FREE:
        for dirpath, _, files in os.walk(os.path.join(root, d)):
            for f in files:
                if f.endswith((".c", ".h")):
                    yield os.path.relpath(os.path.join(dirpath, f), root)
    if os.path.exists(os.path.join(root, TOP)):
        yield TOP


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    rank = {d: i for i, d in enumerate(LAYERS)}
    bad, edges, n = [], set(), 0
    for path in sorted(sources(root)):
        folder = path.split("/")[0] if "/" in path else None
        with open(os.path.join(root, path), encoding="utf-8", errors="replace") as f:
            text = f.read()
        for inc in INCLUDE.findall(text):
            n += 1
            to = inc.split("/")[0] if "/" in inc else None
            if to not in rank and to not in FREE:
                bad.append('%s: "%s" is not written from the source root (FOLDER/FILE.h)' % (path, inc))
                continue
            if not os.path.exists(os.path.join(root, inc)):
                bad.append('%s: "%s" does not exist' % (path, inc))
                continue
            if folder in rank:
                if to in FREE:
                    bad.append('%s: includes "%s" from %s/' % (path, inc, to))
                elif rank[to] > rank[folder]:
                    bad.append('%s: includes "%s", a layer above %s/' % (path, inc, folder))
            if folder != to:
                edges.add((folder or TOP, to))
    if "--graph" in sys.argv:
        for a, b in sorted(edges):
            print("%s -> %s" % (a, b))
        return 0
    if bad:
        print("FAIL layers: %d offence(s): %s" % (len(bad), "; ".join(bad[:5])))
        return 1
    print("PASS layers (%d includes; %s, then %s on top)" % (n, " < ".join(LAYERS), TOP))
    return 0


if __name__ == "__main__":
    sys.exit(main())
