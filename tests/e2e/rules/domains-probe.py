#!/usr/bin/env python3
"""tests/e2e/rules/domains-probe.py -- small probes for test_rules_domains.sh,
test_fakeip.sh and test_leaks.sh, each bounded in time, printing one line.

  udp HOST PORT [SECONDS]   one datagram from a connected UDP socket, waits for its echo:
                            "echo MS" (exit 0), "refused MS" (ICMP unreachable came back
                            as ECONNREFUSED) or "blocked MS" (send() got EPERM from a
                            local firewall rule) (exit 1), "timeout MS" (exit 2),
                            "error: ..." (3)
  tcp HOST PORT [SECONDS]   connects and asks WHO (peer.py's protocol): "who ADDR MS" (0),
                            "refused MS" (RST to the SYN), "reset MS" (RST after the
                            handshake), "closed MS" (FIN before an answer), "timeout MS",
                            "unreachable MS" (ENETUNREACH/EHOSTUNREACH/EACCES/EPERM) (1)
  nftelem ADDR              reads `nft -j list set ...` on stdin: "TIMEOUT EXPIRES" of ADDR's
                            element (seconds), "none" when ADDR is not in the set (exit 1)
  inrange ADDR CIDR         exit 0 when ADDR is a host address inside CIDR (not the
                            network's first or last address), else prints why (exit 1)
"""
import errno
import ipaddress
import json
import socket
import sys
import time


def ms(t0):
    return "%d" % ((time.monotonic() - t0) * 1000)


def fam(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def udp(host, port, secs="2"):
    s = socket.socket(fam(host), socket.SOCK_DGRAM)
    s.settimeout(float(secs))
    t0 = time.monotonic()
    try:
        s.connect((host, int(port)))
        s.send(b"domains-probe datagram")
        d = s.recv(2048)
        if d != b"domains-probe datagram":
            print("error: wrong echo %r %s" % (d[:40], ms(t0)))
            return 3
        print("echo %s" % ms(t0))
        return 0
    except socket.timeout:
        print("timeout %s" % ms(t0))
        return 2
    except ConnectionRefusedError:
        print("refused %s" % ms(t0))
        return 1
    except PermissionError:  # a local firewall rule refused the datagram (EPERM)
        print("blocked %s" % ms(t0))
        return 1
    except OSError as e:
        print("error: %s %s" % (e, ms(t0)))
        return 3


def tcp(host, port, secs="3"):
    t0 = time.monotonic()
    s = socket.socket(fam(host), socket.SOCK_STREAM)
    s.settimeout(float(secs))
    try:
        s.connect((host, int(port)))
    except ConnectionRefusedError:
        print("refused %s" % ms(t0))
        return 1
    except ConnectionResetError:
        print("reset %s" % ms(t0))
        return 1
    except socket.timeout:
        print("timeout %s" % ms(t0))
        return 1
    except OSError as e:
        if e.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EACCES, errno.EPERM):
            print("unreachable %s (%s)" % (ms(t0), e.strerror))
            return 1
        print("error: %s %s" % (e, ms(t0)))
        return 1
    try:
        s.sendall(b"WHO\n")
        buf = b""
        while not buf.endswith(b"\n"):
            c = s.recv(100)
            if not c:
                print("closed %s" % ms(t0))
                return 1
            buf += c
        print("who %s %s" % (buf.decode(errors="replace").strip(), ms(t0)))
        return 0
    except (ConnectionResetError, BrokenPipeError):
        print("reset %s" % ms(t0))
        return 1
    except socket.timeout:
        print("timeout %s" % ms(t0))
        return 1
    except OSError as e:
        print("error: %s %s" % (e, ms(t0)))
        return 1


def nftelem(addr):
    want = ipaddress.ip_address(addr)
    for obj in json.load(sys.stdin).get("nftables", []):
        for e in obj.get("set", {}).get("elem", []) or []:
            e = e.get("elem", e) if isinstance(e, dict) else e
            val = e.get("val") if isinstance(e, dict) else e
            try:
                if ipaddress.ip_address(val) != want:
                    continue
            except (ValueError, TypeError):
                continue
            if isinstance(e, dict):
                print("%s %s" % (e.get("timeout", "-"), e.get("expires", "-")))
            else:
                print("- -")
            return 0
    print("none")
    return 1


def inrange(addr, cidr):
    try:
        a, n = ipaddress.ip_address(addr), ipaddress.ip_network(cidr)
    except ValueError as e:
        print("not an address: %s" % e)
        return 1
    if a not in n or a in (n.network_address, n.broadcast_address):
        print("%s is not a host address of %s" % (addr, cidr))
        return 1
    return 0


def main(argv):
    cmds = {"udp": udp, "tcp": tcp, "nftelem": nftelem, "inrange": inrange}
    if argv and argv[0] in cmds:
        return cmds[argv[0]](*argv[1:])
    print(__doc__)
    return 4


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
