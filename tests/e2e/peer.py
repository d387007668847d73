#!/usr/bin/env python3
"""peer.py -- the far end and the near end of the end-to-end tests.

server ADDR PORT[-LAST]          a threaded TCP server (on each port of the range)
                                 speaking a one-line protocol:
    GET n        sends n bytes of the deterministic stream, then closes
    PUT n        reads n bytes, answers "<sha256 hex>\n", closes
    HALF         reads until EOF (the client's FIN), then answers "<sha256> <bytes>\n"
    WHO          answers "<peer ip>\n" (shows whether a proxy was in the path)
    HOLD         keeps the connection open until the client closes it
    ECHO         echoes every byte back, with no timeout, until the client closes it
Clients (exit 0 on success, print one line saying what happened):
    get HOST PORT n | put HOST PORT n | half HOST PORT n | who HOST PORT
    many HOST PORT COUNT n   COUNT simultaneous GETs of n bytes, all checked
    hold HOST PORT COUNT SECONDS  COUNT idle connections held for SECONDS
    idle HOST PORT SECONDS        ECHO: one line echoed, SECONDS idle, one more line echoed
    vanish HOST PORT SECONDS      ECHO: one line echoed, then waits up to SECONDS for the
                                  connection to be closed or reset (exit 0 when it is)
    churn HOST PORT SECONDS WORKERS  WORKERS threads each opening short connections (WHO,
                                  answer read) one after another for SECONDS, each within
                                  5 s; prints the count and, per failure, its time since
                                  the start and why (exit 0 whatever failed)
    spread HOSTS PORT-LAST n      one GET of n bytes to every host (comma-separated)
                                  and port pair, all at once, all checked
udpecho ADDR PORT                echoes every UDP datagram back to its sender
    udp HOST PORT COUNT MAXSIZE MAXLOSS%  sends COUNT datagrams of mixed sizes (8..MAXSIZE),
                                  at most 32 unanswered at a time; checks each echo's
                                  bytes, reports the loss, fails above MAXLOSS percent
    udpflow HOST PORT SECONDS RATE  one socket (one flow) sending RATE datagrams a second
                                  for SECONDS; prints "sec SENT ECHOED" per second, then
                                  the seconds without any echo (exit 0 whatever was lost)
The stream is 1 MiB of seeded random bytes, each repetition stamped with its index, so
loss, duplication and reordering all change the SHA-256.
"""
import hashlib
import random
import socket
import sys
import threading
import time

BLOCK = random.Random(20261125).randbytes(1 << 20)
TIMEOUT = 60


def stream_blocks(n):
    i = 0
    while n > 0:
        b = i.to_bytes(8, "big") + BLOCK[8:]
        yield b[:n]
        n -= min(n, len(b))
        i += 1


def expected_sha(n):
    h = hashlib.sha256()
    for b in stream_blocks(n):
        h.update(b)
    return h.hexdigest()


def readline(s):
    buf = b""
    while not buf.endswith(b"\n"):
        c = s.recv(1)
        if not c:
            break
        buf += c
        if len(buf) > 200:
            break
    return buf.decode(errors="replace").strip()


def handle(c, addr):
    try:
        c.settimeout(TIMEOUT)
        words = readline(c).split()
        if not words:
            return
        cmd = words[0]
        if cmd == "GET":
            for b in stream_blocks(int(words[1])):
                c.sendall(b)
        elif cmd == "PUT":
            n, h = int(words[1]), hashlib.sha256()
            while n > 0:
                d = c.recv(min(n, 1 << 18))
                if not d:
                    break
                h.update(d)
                n -= len(d)
            c.sendall((h.hexdigest() + "\n").encode())
        elif cmd == "HALF":
            h, total = hashlib.sha256(), 0
            while True:
                d = c.recv(1 << 18)
                if not d:
                    break
                h.update(d)
                total += len(d)
            c.sendall(("%s %d\n" % (h.hexdigest(), total)).encode())
        elif cmd == "WHO":
            c.sendall((addr[0] + "\n").encode())
        elif cmd == "HOLD":
            c.settimeout(None)
            while c.recv(4096):
                pass
        elif cmd == "ECHO":
            c.settimeout(None)
            while True:
                d = c.recv(4096)
                if not d:
                    break
                c.sendall(d)
    except OSError:
        pass
    finally:
        c.close()


def port_range(spec):
    lo, _, hi = spec.partition("-")
    return range(int(lo), int(hi or lo) + 1)


def accept_loop(s):
    while True:
        c, a = s.accept()
        threading.Thread(target=handle, args=(c, a), daemon=True).start()


def serve(addr, ports):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    socks = []
    for port in port_range(ports):
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, port))
        s.listen(1024)
        socks.append(s)
    for s in socks[1:]:
        threading.Thread(target=accept_loop, args=(s,), daemon=True).start()
    accept_loop(socks[0])


def udpecho(addr, port):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.bind((addr, int(port)))
    while True:
        d, a = s.recvfrom(65535)
        s.sendto(d, a)


def cmd_udp(host, port, count, maxsize, maxloss):
    count, maxsize, maxloss = int(count), int(maxsize), float(maxloss)
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.connect((host, int(port)))
    s.settimeout(0.5)
    rnd = random.Random(7)
    sent = {}
    got = bad = 0
    seq = 0
    deadline = time.monotonic() + 120
    t0 = time.monotonic()
    while (seq < count or sent) and time.monotonic() < deadline:
        while seq < count and len(sent) < 32:
            size = rnd.choice([8, 64, 512, 1000, maxsize, rnd.randint(8, maxsize)])
            body = seq.to_bytes(4, "big") + hashlib.sha256(seq.to_bytes(4, "big")).digest()
            d = (body * (size // len(body) + 1))[:size]
            s.send(d)
            sent[seq] = (d, time.monotonic())
            seq += 1
        try:
            d = s.recv(65535)
        except socket.timeout:
            # what has waited 2 s is lost
            now = time.monotonic()
            for k in [k for k, v in sent.items() if now - v[1] > 2]:
                del sent[k]
            continue
        k = int.from_bytes(d[:4], "big")
        if k in sent:
            if sent[k][0] == d:
                got += 1
            else:
                bad += 1
            del sent[k]
    dt = time.monotonic() - t0
    loss = 100.0 * (count - got) / count
    print("udp: %d datagrams (8..%d bytes), %d echoed intact, %d corrupted, loss %.2f%% in %.1f s"
          % (count, maxsize, got, bad, loss, dt))
    return 0 if bad == 0 and loss <= maxloss else 1


def cmd_udpflow(host, port, seconds, rate):
    seconds, rate = int(seconds), int(rate)
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.connect((host, int(port)))
    sent = [0] * seconds
    echoed = [0] * seconds
    t0 = time.monotonic()
    seq = 0
    end = t0 + seconds + 1  # a last second for late echoes
    while True:
        now = time.monotonic()
        if now >= end:
            break
        sec = int(now - t0)
        if sec < seconds and seq < (now - t0) * rate:
            s.send(seq.to_bytes(4, "big") + b"udpflow" * 8)
            sent[sec] += 1
            seq += 1
        s.settimeout(max(0.001, min(1.0 / rate, end - now)))
        try:
            d = s.recv(65535)
        except socket.timeout:
            continue
        except ConnectionRefusedError:
            continue
        k = int.from_bytes(d[:4], "big")
        when = int(k / rate)  # the second it was sent in
        if 0 <= when < seconds:
            echoed[when] += 1
    for i in range(seconds):
        print("sec %d %d %d" % (i, sent[i], echoed[i]))
    print("udpflow: %d sent, %d echoed, %d s without an echo"
          % (sum(sent), sum(echoed), sum(1 for e in echoed if e == 0)))
    return 0


def connect(host, port):
    s = socket.create_connection((host, int(port)), timeout=TIMEOUT)
    return s


def recv_all(s):
    h, total = hashlib.sha256(), 0
    while True:
        d = s.recv(1 << 18)
        if not d:
            return h.hexdigest(), total
        h.update(d)
        total += len(d)


def do_get(host, port, n):
    s = connect(host, port)
    s.sendall(b"GET %d\n" % n)
    sha, total = recv_all(s)
    s.close()
    if total != n or sha != expected_sha(n):
        return "get: received %d of %d bytes, sha256 %s" % (total, n, "ok" if sha == expected_sha(n) else "WRONG")
    return None


def cmd_get(host, port, n):
    t = time.monotonic()
    err = do_get(host, port, int(n))
    dt = time.monotonic() - t
    if err:
        print(err)
        return 1
    print("get: %s bytes sha256 ok in %.2f s (%.1f MB/s)" % (n, dt, int(n) / dt / 1e6))
    return 0


def cmd_put(host, port, n):
    n = int(n)
    t = time.monotonic()
    s = connect(host, port)
    s.sendall(b"PUT %d\n" % n)
    for b in stream_blocks(n):
        s.sendall(b)
    reply = readline(s)
    s.close()
    dt = time.monotonic() - t
    if reply != expected_sha(n):
        print("put: server saw sha256 %r, expected %s" % (reply, expected_sha(n)))
        return 1
    print("put: %d bytes sha256 ok in %.2f s (%.1f MB/s)" % (n, dt, n / dt / 1e6))
    return 0


def cmd_half(host, port, n):
    n = int(n)
    s = connect(host, port)
    s.sendall(b"HALF\n")
    for b in stream_blocks(n):
        s.sendall(b)
    s.shutdown(socket.SHUT_WR)
    reply = readline(s)
    s.close()
    want = "%s %d" % (expected_sha(n), n)
    if reply != want:
        print("half: after shutdown(SHUT_WR) got %r, expected %r" % (reply, want))
        return 1
    print("half: reply received after our FIN, %d bytes sha256 ok" % n)
    return 0


def cmd_who(host, port):
    s = connect(host, port)
    s.sendall(b"WHO\n")
    print(readline(s))
    s.close()
    return 0


def cmd_spread(hosts, ports, n):
    pairs = [(h, p) for h in hosts.split(",") for p in port_range(ports)]
    return run_all(pairs, int(n), "spread")


def cmd_many(host, port, count, n):
    return run_all([(host, port)] * int(count), int(n), "many")


def run_all(pairs, n, what):
    count = len(pairs)
    errors = []
    lock = threading.Lock()

    def one(host, port):
        try:
            e = do_get(host, port, n)
        except OSError as ex:
            e = "get %s:%s: %s" % (host, port, ex)
        if e:
            with lock:
                errors.append(e)

    t = time.monotonic()
    threads = [threading.Thread(target=one, args=pr) for pr in pairs]
    for th in threads:
        th.start()
    for th in threads:
        th.join(TIMEOUT * 2)
    dt = time.monotonic() - t
    if errors:
        print("%s: %d of %d failed, first: %s" % (what, len(errors), count, errors[0]))
        return 1
    print("%s: %d concurrent connections of %d bytes, all sha256 ok in %.2f s" % (what, count, n, dt))
    return 0


def cmd_seq(host, port, count):
    """COUNT short connections one after another (WHO: the server answers and closes
    first), each within 5 s; with a narrow ephemeral port range this reuses ports."""
    t0, fails = time.monotonic(), 0
    for _ in range(int(count)):
        try:
            s = socket.create_connection((host, int(port)), timeout=5)
            s.sendall(b"WHO\n")
            if not readline(s):
                fails += 1
            while s.recv(100):  # wait for the far end's FIN: it closes first
                pass
            s.close()
        except OSError:
            fails += 1
    print("seq: %s connections one after another, %d failed, %.1f s" % (count, fails, time.monotonic() - t0))
    return 1 if fails else 0


def cmd_churn(host, port, seconds, workers):
    t0 = time.monotonic()
    end = t0 + float(seconds)
    lock = threading.Lock()
    stats = {"ok": 0, "fail": []}

    def worker():
        while time.monotonic() < end:
            t = time.monotonic() - t0
            try:
                s = socket.create_connection((host, int(port)), timeout=5)
                s.sendall(b"WHO\n")
                line = readline(s)
                s.close()
                if not line:
                    raise OSError("no answer")
                with lock:
                    stats["ok"] += 1
            except OSError as e:
                with lock:
                    stats["fail"].append((t, str(e)))
                time.sleep(0.05)

    threads = [threading.Thread(target=worker) for _ in range(int(workers))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    print("churn: %d ok, %d failed" % (stats["ok"], len(stats["fail"])))
    for t, why in sorted(stats["fail"]):
        print("fail %.3f %s" % (t, why))
    return 0


def cmd_hold(host, port, count, seconds):
    socks = []
    for _ in range(int(count)):
        s = connect(host, port)
        s.sendall(b"HOLD\n")
        socks.append(s)
    time.sleep(float(seconds))
    for s in socks:
        s.close()
    print("hold: %d connections held" % len(socks))
    return 0


def echo_line(s, line):
    s.sendall(line + b"\n")
    got = readline(s)
    if got != line.decode():
        raise OSError("echo: sent %r, got %r back" % (line, got))


def echo_open(host, port):
    s = connect(host, port)
    s.sendall(b"ECHO\n")
    echo_line(s, b"ping 1")
    return s


def cmd_idle(host, port, seconds):
    s = echo_open(host, port)
    print("idle: echo ok, idling %s s" % seconds, flush=True)
    time.sleep(float(seconds))
    echo_line(s, b"ping 2")
    s.close()
    print("idle: echo ok after %s s idle" % seconds)
    return 0


def cmd_vanish(host, port, seconds):
    s = echo_open(host, port)
    print("vanish: echo ok, waiting for the connection to end", flush=True)
    t = time.monotonic()
    s.settimeout(float(seconds))
    try:
        d = s.recv(4096)
        how = "EOF" if not d else "unexpected data %r" % d
    except socket.timeout:
        print("vanish: still open after %s s" % seconds)
        return 1
    except OSError as e:
        how = e.strerror or str(e)
    print("vanish: closed (%s) after %.1f s" % (how, time.monotonic() - t))
    return 0


def main(argv):
    cmds = {"get": cmd_get, "put": cmd_put, "half": cmd_half, "who": cmd_who,
            "many": cmd_many, "hold": cmd_hold, "spread": cmd_spread, "udp": cmd_udp, "seq": cmd_seq,
            "idle": cmd_idle, "vanish": cmd_vanish, "churn": cmd_churn,
            "udpflow": cmd_udpflow}
    if len(argv) >= 3 and argv[0] == "server":
        serve(argv[1], argv[2])
        return 0
    if len(argv) >= 3 and argv[0] == "udpecho":
        udpecho(argv[1], argv[2])
        return 0
    if argv and argv[0] in cmds:
        try:
            return cmds[argv[0]](*argv[1:])
        except OSError as e:
            print("%s: %s" % (argv[0], e))
            return 1
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
