#!/usr/bin/env python3
"""notify_listen.py SOCKET OUT LOG -- a stand-in for systemd's notification socket.

Binds an AF_UNIX datagram socket at SOCKET and appends one line to OUT per message
received: the message's fields joined by "|", then "ready-line=yes" or "=no" telling
whether LOG (the notifier's stderr) already held a line with "ready" when the message
came. Runs until killed (at most 120 s).
"""
import os
import socket
import sys
import time

path, out, log = sys.argv[1:4]
if os.path.exists(path):
    os.unlink(path)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o666)
end = time.monotonic() + 120
with open(out, "a", buffering=1) as f:
    f.write("listening\n")
    while time.monotonic() < end:
        s.settimeout(max(0.1, end - time.monotonic()))
        try:
            msg = s.recv(4096).decode("utf-8", "replace")
        except socket.timeout:
            break
        try:
            seen = "ready" in open(log, encoding="utf-8", errors="replace").read()
        except OSError:
            seen = False
        fields = "|".join(x for x in msg.split("\n") if x)
        f.write("%s ready-line=%s\n" % (fields, "yes" if seen else "no"))
