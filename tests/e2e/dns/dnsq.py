#!/usr/bin/env python3
"""tests/e2e/dns/dnsq.py -- raw DNS clients for test_dns.sh, things dig cannot do.

  dnsq.py flood HOST PORT NAME N ADDR   N UDP queries for NAME/A at once, each from its
                                        own socket with its own ID; every one must be
                                        answered NOERROR with ADDR, carrying its ID.
  dnsq.py pipeline HOST PORT NAME=ADDR...  one TCP connection, all queries written in one
                                        send() before reading; every one must be answered
                                        (any order) with its ID, name and address.
Prints one summary line; exit status 0 when everything matched, 1 otherwise. Every
wait is bounded (5 s in total).
"""
import random
import select
import socket
import struct
import sys
import time

DEADLINE = 5.0


def query(qid, name, qtype=1):
    q = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\0" + struct.pack("!HH", qtype, 1)


def skip_name(m, i):
    while True:
        n = m[i]
        if n == 0:
            return i + 1
        if n & 0xC0 == 0xC0:
            return i + 2
        i += 1 + n


def read_name(m, i):
    labels, hops = [], 0
    while hops < 64:
        n = m[i]
        if n == 0:
            break
        if n & 0xC0 == 0xC0:
            i = ((n & 0x3F) << 8) | m[i + 1]
            hops += 1
            continue
        labels.append(m[i + 1:i + 1 + n].decode())
        i += 1 + n
    return ".".join(labels)


def parse(m):
    """-> (id, rcode, tc, qname, [A addresses in the answer section])"""
    qid, flags, qd, an = struct.unpack("!HHHH", m[:8])
    i = 12
    qname = read_name(m, i)
    i = skip_name(m, i) + 4
    addrs = []
    for _ in range(an):
        i = skip_name(m, i)
        t, _c, _ttl, rdlen = struct.unpack("!HHIH", m[i:i + 10])
        i += 10
        if t == 1 and rdlen == 4:
            addrs.append(socket.inet_ntoa(m[i:i + 4]))
        i += rdlen
    return qid, flags & 0xF, bool(flags & 0x0200), qname, addrs


def flood(host, port, name, n, addr):
    ids = random.sample(range(1, 65536), n)
    socks = {}
    for qid in ids:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setblocking(False)
        s.connect((host, port))
        socks[s.fileno()] = (s, qid)
    for s, qid in socks.values():
        s.send(query(qid, name))
    ok, bad = 0, []
    pending = dict(socks)
    end = time.monotonic() + DEADLINE
    while pending and time.monotonic() < end:
        r, _, _ = select.select(list(pending), [], [], max(0.0, end - time.monotonic()))
        for fd in r:
            s, qid = pending.pop(fd)
            try:
                got = parse(s.recv(65535))
            except (OSError, IndexError, struct.error) as e:
                bad.append("%d: %s" % (qid, e))
                continue
            if got[0] == qid and got[1] == 0 and got[3].lower() == name.lower() and addr in got[4]:
                ok += 1
            else:
                bad.append("id %d -> %r" % (qid, got))
    print("%d/%d answered correctly, %d unanswered%s" %
          (ok, n, len(pending), (", wrong: " + "; ".join(bad[:3])) if bad else ""))
    return ok == n


def recv_exact(s, n, end):
    b = b""
    while len(b) < n:
        left = end - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out")
        s.settimeout(left)
        c = s.recv(n - len(b))
        if not c:
            raise EOFError("connection closed after %d bytes" % len(b))
        b += c
    return b


def pipeline(host, port, pairs):
    want = {}
    out = b""
    for p in pairs:
        name, addr = p.split("=")
        qid = random.randrange(1, 65536)
        while qid in want:
            qid = random.randrange(1, 65536)
        want[qid] = (name, addr)
        q = query(qid, name)
        out += struct.pack("!H", len(q)) + q
    end = time.monotonic() + DEADLINE
    s = socket.create_connection((host, port), timeout=DEADLINE)
    s.sendall(out)
    ok, bad = 0, []
    try:
        for _ in range(len(want)):
            ln = struct.unpack("!H", recv_exact(s, 2, end))[0]
            got = parse(recv_exact(s, ln, end))
            exp = want.pop(got[0], None)
            if exp and got[1] == 0 and got[3].lower() == exp[0].lower() and exp[1] in got[4]:
                ok += 1
            else:
                bad.append(repr(got))
    except (OSError, EOFError, TimeoutError) as e:
        bad.append(str(e))
    print("%d/%d pipelined queries answered correctly%s" %
          (ok, len(pairs), (", problems: " + "; ".join(bad[:3])) if bad else ""))
    return ok == len(pairs)


def main():
    a = sys.argv[1:]
    if len(a) == 6 and a[0] == "flood":
        return 0 if flood(a[1], int(a[2]), a[3], int(a[4]), a[5]) else 1
    if len(a) >= 4 and a[0] == "pipeline":
        return 0 if pipeline(a[1], int(a[2]), a[3:]) else 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
