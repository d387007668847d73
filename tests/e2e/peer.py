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
soakserver ADDR PORT             one epoll thread for any number of connections: the
                                 first line must be ECHO, then every byte is echoed back
    soakclient HOST PORT COUNT SECONDS PER_SECOND
                                  holds COUNT connections (ECHO, at most 200 connecting at
                                  a time) for SECONDS from the start; every second
                                  PER_SECOND of the open ones, chosen at random, send one
                                  line and must get it back within 10 s. A connection that
                                  ends (EOF, reset) is counted as broken and opened again,
                                  so is one whose connect fails. Prints a status line each
                                  second ("soak t ... open ... broken ..."), closes all at
                                  the end, prints "soakclient: ..." and exits 1 when an
                                  echo came back wrong or late, 0 otherwise. SIGTERM ends
                                  it early, the same way.
udpecho ADDR PORT                echoes every UDP datagram back to its sender
udpstray ADDR PORT               echoes every UDP datagram back from another port (PORT+1)
    udp HOST PORT COUNT MAXSIZE MAXLOSS%  sends COUNT datagrams of mixed sizes (8..MAXSIZE),
                                  at most 32 unanswered at a time; checks each echo's
                                  bytes, reports the loss, fails above MAXLOSS percent
    udpsrc HOST PORT                one datagram from an unconnected socket; prints the echo's
                                  source address, fails unless it is HOST PORT
    udpflow HOST PORT SECONDS RATE  one socket (one flow) sending RATE datagrams a second
                                  for SECONDS; prints "sec SENT ECHOED" per second, then
                                  the seconds without any echo (exit 0 whatever was lost)
The stream is 1 MiB of seeded random bytes, each repetition stamped with its index, so
loss, duplication and reordering all change the SHA-256.
"""
import errno
import hashlib
import random
import select
import signal
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


def udpstray(addr, port):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.bind((addr, int(port)))
    o = socket.socket(fam, socket.SOCK_DGRAM)
    o.bind((addr, int(port) + 1))
    while True:
        d, a = s.recvfrom(65535)
        o.sendto(d, a)


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


def cmd_udpsrc(host, port):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.settimeout(5)
    s.sendto(b"where from?", (host, int(port)))
    d, a = s.recvfrom(65535)
    print("udpsrc: echo from %s port %d" % (a[0], a[1]))
    return 0 if d == b"where from?" and a[0] == host and a[1] == int(port) else 1


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
        if sec < seconds and seq < (now - t0) * rate and seq < seconds * rate:
            s.send(seq.to_bytes(4, "big") + b"udpflow" * 8)
            # counted in the second it was due, as its echo is: one sent late on a busy
            # machine must not look like a lost echo in the next second
            sent[int(seq / rate)] += 1
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


def cmd_seqbind(host, port, count, first_port):
    """COUNT short connections one after another, the i-th from source port FIRST_PORT+i
    (bound explicitly, so outside ip_local_port_range), each closed by this side first
    once its echo came: the proxy in between closes first toward its upstream and holds
    those TIME_WAITs."""
    t0, fails, why = time.monotonic(), 0, {}
    for i in range(int(count)):
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("0.0.0.0", int(first_port) + i))
            s.settimeout(5)
            s.connect((host, int(port)))
            s.sendall(b"ECHO\nping\n")  # the far end holds the connection open
            if readline(s) != "ping":
                raise OSError("no echo")
            s.close()
        except OSError as e:
            fails += 1
            why[str(e)] = why.get(str(e), 0) + 1
            s.close()
    print("seqbind: %s connections, %d failed, %.1f s %s" % (count, fails, time.monotonic() - t0, why))
    return 0


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


def soakserver(addr, port):
    """The ECHO command for any number of connections on one epoll thread."""
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    ls = socket.socket(fam, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, int(port)))
    ls.listen(4096)
    ls.setblocking(False)
    ep = select.epoll()
    ep.register(ls.fileno(), select.EPOLLIN)
    conns = {}  # fd -> [socket, command line so far or None once echoing, bytes to send]

    def drop(fd):
        st = conns.pop(fd)
        ep.unregister(fd)
        st[0].close()

    while True:
        for fd, ev in ep.poll(1.0, 1024):
            if fd == ls.fileno():
                for _ in range(256):
                    try:
                        c, _a = ls.accept()
                    except OSError:
                        break
                    c.setblocking(False)
                    conns[c.fileno()] = [c, b"", b""]
                    ep.register(c.fileno(), select.EPOLLIN)
                continue
            st = conns.get(fd)
            if st is None:
                continue
            c = st[0]
            if ev & select.EPOLLOUT and st[2]:
                try:
                    n = c.send(st[2])
                    st[2] = st[2][n:]
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    drop(fd)
                    continue
                if not st[2]:
                    ep.modify(fd, select.EPOLLIN)
            if not ev & (select.EPOLLIN | select.EPOLLERR | select.EPOLLHUP) or st[2]:
                continue
            try:
                d = c.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                d = b""
            if not d:
                drop(fd)
                continue
            if st[1] is not None:
                st[1] += d
                if b"\n" not in st[1]:
                    if len(st[1]) > 200:
                        drop(fd)
                    continue
                line, _, d = st[1].partition(b"\n")
                if line.strip() != b"ECHO":
                    drop(fd)
                    continue
                st[1] = None
                if not d:
                    continue
            try:
                n = c.send(d)
            except (BlockingIOError, InterruptedError):
                n = 0
            except OSError:
                drop(fd)
                continue
            if n < len(d):
                st[2] = d[n:]
                ep.modify(fd, select.EPOLLOUT)


class SoakConn:
    __slots__ = ("sock", "state", "expect", "got", "deadline", "sent_at", "opened")

    def __init__(self, sock):
        self.sock = sock
        self.state = "connecting"  # connecting, open, echo
        self.expect = b""
        self.got = b""
        self.deadline = 0.0
        self.sent_at = 0.0
        self.opened = 0.0


def cmd_soakclient(host, port, count, seconds, per_second):
    """COUNT connections held, a rotating subset echoing, broken ones opened again."""
    count, seconds, per_second = int(count), float(seconds), int(per_second)
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    addr = (host, int(port))
    rng = random.Random(20261126)
    ep = select.epoll()
    conns = {}  # fd -> SoakConn
    idle = set()  # fds open and not echoing: the pool the echoes are drawn from
    st = dict(opened=0, open=0, connecting=0, reopened=0, broken=0, broken_in_echo=0,
              connect_failed=0, echo_ok=0, echo_bad=0, echo_late=0, echo_bytes=0)
    rtt_max = [0.0]
    first_full = [None]
    stop = [False]
    bad = []
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, True))
    t0 = time.monotonic()
    owed = [count]  # connections to open (new, or again after a break)
    retry_at = [0.0]  # after a failed connect, wait a little before the next ones

    def close(fd, again, why_broken=None):
        c = conns.pop(fd)
        ep.unregister(fd)
        idle.discard(fd)
        if c.state == "connecting":
            st["connecting"] -= 1
        else:
            st["open"] -= 1
        try:
            c.sock.close()
        except OSError:
            pass
        if why_broken == "connect":
            st["connect_failed"] += 1
            retry_at[0] = time.monotonic() + 0.2
        elif why_broken:
            st["broken"] += 1
            if c.state == "echo":
                st["broken_in_echo"] += 1
        if again:
            owed[0] += 1
            if why_broken != "connect":
                st["reopened"] += 1

    def open_some(now):
        while owed[0] > 0 and st["connecting"] < 200 and now >= retry_at[0]:
            s = socket.socket(fam, socket.SOCK_STREAM)
            s.setblocking(False)
            err = s.connect_ex(addr)
            if err not in (0, errno.EINPROGRESS):
                s.close()
                st["connect_failed"] += 1
                retry_at[0] = now + 0.2
                return
            owed[0] -= 1
            c = SoakConn(s)
            conns[s.fileno()] = c
            st["connecting"] += 1
            ep.register(s.fileno(), select.EPOLLOUT)

    def status(now):
        print("soak t %.1f open %d connecting %d opened %d broken %d broken_in_echo %d "
              "reopened %d connect_failed %d echo_ok %d echo_bad %d echo_late %d rtt_max_ms %.0f"
              % (now - t0, st["open"], st["connecting"], st["opened"], st["broken"],
                 st["broken_in_echo"], st["reopened"], st["connect_failed"], st["echo_ok"],
                 st["echo_bad"], st["echo_late"], rtt_max[0] * 1000), flush=True)
        rtt_max[0] = 0.0

    next_tick = t0 + 1.0
    seq = 0
    while not stop[0]:
        now = time.monotonic()
        if now - t0 >= seconds:
            break
        open_some(now)
        for fd, ev in ep.poll(max(0.0, min(0.05, next_tick - now)), 4096):
            c = conns.get(fd)
            if c is None:
                continue
            if c.state == "connecting":
                err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err or ev & (select.EPOLLERR | select.EPOLLHUP):
                    close(fd, True, "connect")
                    continue
                try:
                    c.sock.send(b"ECHO\n")
                except OSError:
                    close(fd, True, "connect")
                    continue
                c.state = "open"
                c.opened = time.monotonic()
                st["connecting"] -= 1
                st["open"] += 1
                st["opened"] += 1
                idle.add(fd)
                ep.modify(fd, select.EPOLLIN)
                if first_full[0] is None and st["open"] >= count:
                    first_full[0] = time.monotonic() - t0
                    print("soak: all %d open after %.1f s" % (count, first_full[0]), flush=True)
                continue
            try:
                d = c.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                d = b""
            if not d:
                close(fd, True, "broken")
                continue
            if c.state != "echo":
                st["echo_bad"] += 1
                bad.append("unexpected %d bytes on an idle connection" % len(d))
                close(fd, True)
                continue
            c.got += d
            if len(c.got) < len(c.expect):
                if not c.expect.startswith(c.got):
                    st["echo_bad"] += 1
                    bad.append("echo differs after %d bytes" % len(c.got))
                    close(fd, True)
                continue
            if c.got != c.expect:
                st["echo_bad"] += 1
                bad.append("echo differs: %d bytes back for %d" % (len(c.got), len(c.expect)))
                close(fd, True)
                continue
            rtt = time.monotonic() - c.sent_at
            rtt_max[0] = max(rtt_max[0], rtt)
            st["echo_ok"] += 1
            st["echo_bytes"] += len(c.expect)
            c.state = "open"
            c.got = b""
            idle.add(fd)
        now = time.monotonic()
        if now >= next_tick:
            next_tick += 1.0
            for fd, c in list(conns.items()):
                if c.state == "echo" and now > c.deadline:
                    st["echo_late"] += 1
                    try:
                        port = c.sock.getsockname()[1]
                    except OSError:
                        port = 0
                    bad.append("no echo within 10 s (%d of %d bytes back), local port %d, sent %.1f s after the start"
                               % (len(c.got), len(c.expect), port, c.sent_at - t0))
                    close(fd, True)
            pick = rng.sample(sorted(idle), min(per_second, len(idle)))
            for fd in pick:
                c = conns[fd]
                seq += 1
                line = b"%d %s\n" % (seq, rng.randbytes(rng.randint(8, 600)).hex().encode())
                try:
                    n = c.sock.send(line)
                except OSError:
                    close(fd, True, "broken")
                    continue
                if n < len(line):  # never with a few hundred bytes on an idle socket
                    st["echo_bad"] += 1
                    bad.append("short send")
                    close(fd, True)
                    continue
                c.state = "echo"
                c.expect = line
                c.got = b""
                c.sent_at = now
                c.deadline = now + 10.0
                idle.discard(fd)
            status(now)
    status(time.monotonic())
    for fd in list(conns):
        close(fd, False)
    print("soakclient: %d wanted, all open after %s s, %d opened, %d broken (%d during an "
          "echo), %d reopened, %d connects failed, %d echoes ok (%d bytes), %d wrong, %d late"
          % (count, "%.1f" % first_full[0] if first_full[0] is not None else "never",
             st["opened"], st["broken"], st["broken_in_echo"], st["reopened"],
             st["connect_failed"], st["echo_ok"], st["echo_bytes"], st["echo_bad"],
             st["echo_late"]), flush=True)
    for why in bad[:10]:
        print("soakclient: bad: %s" % why)
    return 1 if st["echo_bad"] or st["echo_late"] else 0


def main(argv):
    cmds = {"get": cmd_get, "put": cmd_put, "half": cmd_half, "who": cmd_who,
            "many": cmd_many, "hold": cmd_hold, "spread": cmd_spread, "udp": cmd_udp, "seq": cmd_seq, "seqbind": cmd_seqbind,
            "idle": cmd_idle, "vanish": cmd_vanish, "churn": cmd_churn,
            "udpflow": cmd_udpflow, "udpsrc": cmd_udpsrc, "soakclient": cmd_soakclient}
    if len(argv) >= 3 and argv[0] == "server":
        serve(argv[1], argv[2])
        return 0
    if len(argv) >= 3 and argv[0] == "soakserver":
        soakserver(argv[1], argv[2])
        return 0
    if len(argv) >= 3 and argv[0] == "udpecho":
        udpecho(argv[1], argv[2])
        return 0
    if len(argv) >= 3 and argv[0] == "udpstray":
        udpstray(argv[1], argv[2])
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
