#!/usr/bin/env python3
"""load.py -- bench/run's load tools: one epoll thread each, so the Python side is not
what limits a proxy's connection rate, and every loop is bounded in count and time.

server ADDR PORT
    the target: "WHO\\n" gets "<peer ip>\\n" at once and the connection is closed;
    "HOLD\\n" keeps it open until the client closes it (no thread per connection,
    so 10 000 held connections cost one fd each and nothing else)
connsetup HOST PORT COUNT CONCURRENCY SECONDS
    COUNT connections, CONCURRENCY at a time, each: connect(), "WHO\\n", wait for the
    first byte of the reply, close. Prints one JSON line: ok, failed, seconds, rate
    (completed connections per second), p50_ms, p99_ms, max_ms (time from connect()
    to the first byte of the reply). Stops launching after SECONDS.
hold HOST PORT COUNT SECONDS
    opens COUNT idle connections (at most 200 connecting at a time), sends "HOLD\\n"
    on each, prints "open N failed M" once all are open, then keeps them until SECONDS
    have passed since the start (or SIGTERM), and closes them.
"""
import json
import select
import socket
import sys
import time

EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP = select.EPOLLIN, select.EPOLLOUT, select.EPOLLERR, select.EPOLLHUP


def serve(addr, port):
    ls = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, int(port)))
    ls.listen(4096)
    ls.setblocking(False)
    ep = select.epoll()
    ep.register(ls.fileno(), EPOLLIN)
    conns = {}  # fd -> [socket, peer ip, bytes of the command line so far, holding]
    while True:
        for fd, ev in ep.poll(1.0, 1024):
            if fd == ls.fileno():
                for _ in range(256):
                    try:
                        c, a = ls.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        break
                    c.setblocking(False)
                    conns[c.fileno()] = [c, a[0], b"", False]
                    ep.register(c.fileno(), EPOLLIN)
                continue
            st = conns.get(fd)
            if st is None:
                continue
            c = st[0]
            try:
                d = c.recv(4096)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                d = b""
            if not d:
                ep.unregister(fd)
                del conns[fd]
                c.close()
                continue
            if st[3]:
                continue  # holding: discard
            st[2] += d
            if b"\n" not in st[2] and len(st[2]) < 64:
                continue
            cmd = st[2].split(b"\n", 1)[0].strip()
            if cmd == b"HOLD":
                st[3] = True
                continue
            if cmd == b"WHO":
                try:
                    c.send((st[1] + "\n").encode())
                except OSError:
                    pass
            ep.unregister(fd)
            del conns[fd]
            c.close()


def pct(sorted_vals, p):
    if not sorted_vals:
        return None
    i = min(len(sorted_vals) - 1, max(0, int(round(p / 100.0 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[i]


def connsetup(host, port, count, concurrency, seconds):
    count, concurrency, seconds = int(count), int(concurrency), float(seconds)
    dest = (host, int(port))
    ep = select.epoll()
    inflight = {}  # fd -> [socket, t0, sent]
    lat = []
    failed = launched = 0
    t_start = time.perf_counter()
    deadline = t_start + seconds

    def launch():
        nonlocal launched, failed
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        t0 = time.perf_counter()
        rc = s.connect_ex(dest)
        launched += 1
        if rc not in (0, 115):  # 115: EINPROGRESS
            failed += 1
            s.close()
            return
        inflight[s.fileno()] = [s, t0, False]
        ep.register(s.fileno(), EPOLLOUT)

    def finish(fd, ok, t=None):
        nonlocal failed
        st = inflight.pop(fd)
        ep.unregister(fd)
        st[0].close()
        if ok:
            lat.append(t - st[1])
        else:
            failed += 1

    while time.perf_counter() < deadline:
        while launched < count and len(inflight) < concurrency and time.perf_counter() < deadline:
            launch()
        if not inflight:
            break
        for fd, ev in ep.poll(0.2):
            st = inflight.get(fd)
            if st is None:
                continue
            s = st[0]
            if not st[2]:
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
                    finish(fd, False)
                    continue
                try:
                    s.send(b"WHO\n")
                except OSError:
                    finish(fd, False)
                    continue
                st[2] = True
                ep.modify(fd, EPOLLIN)
                continue
            try:
                d = s.recv(64)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                d = b""
            t = time.perf_counter()
            finish(fd, bool(d), t)
    for fd in list(inflight):
        finish(fd, False)
    dt = time.perf_counter() - t_start
    lat.sort()
    ms = lambda v: None if v is None else round(v * 1000, 3)
    print(json.dumps({"ok": len(lat), "failed": failed, "seconds": round(dt, 3),
                      "rate": round(len(lat) / dt, 1) if dt > 0 else 0,
                      "p50_ms": ms(pct(lat, 50)), "p99_ms": ms(pct(lat, 99)),
                      "max_ms": ms(lat[-1] if lat else None)}))
    return 0 if lat else 1


def hold(host, port, count, seconds):
    count, seconds = int(count), float(seconds)
    dest = (host, int(port))
    deadline = time.monotonic() + seconds
    ep = select.epoll()
    pending = {}
    opened = []
    launched = failed = 0
    while (launched < count or pending) and time.monotonic() < deadline:
        while launched < count and len(pending) < 200:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            launched += 1
            if s.connect_ex(dest) not in (0, 115):
                failed += 1
                s.close()
                continue
            pending[s.fileno()] = s
            ep.register(s.fileno(), EPOLLOUT)
        for fd, ev in ep.poll(0.2):
            s = pending.pop(fd)
            ep.unregister(fd)
            try:
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
                    raise OSError("connect failed")
                s.send(b"HOLD\n")
                opened.append(s)
            except OSError:
                failed += 1
                s.close()
    for s in pending.values():
        s.close()
    print("open %d failed %d" % (len(opened), failed + len(pending)), flush=True)
    # Hold until the deadline (bench/run usually ends it sooner with SIGTERM).
    time.sleep(max(0.0, deadline - time.monotonic()))
    for s in opened:
        s.close()
    return 0


def main(argv):
    if len(argv) == 3 and argv[0] == "server":
        serve(argv[1], argv[2])
        return 0
    if len(argv) == 6 and argv[0] == "connsetup":
        return connsetup(*argv[1:])
    if len(argv) == 5 and argv[0] == "hold":
        return hold(*argv[1:])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
