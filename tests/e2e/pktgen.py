#!/usr/bin/env python3
"""pktgen.py -- writes garbage IP packets into a tun device, for the tun-mode e2e tests.

A packet sent with an AF_PACKET socket on a tun interface is "transmitted" by the kernel,
i.e. handed verbatim to whoever reads the tun fd: truncated, oversized-length,
bad-checksum, bad-version and fragmented packets all reach the reader unmodified (only
packets longer than the device MTU are refused with EMSGSIZE). A second AF_PACKET socket
on the same interface sees what the reader writes back (pkttype PACKET_HOST).

    pktgen.py probe IFNAME
        Sends one well-formed IPv4 and one IPv6 SYN and waits for the SYN-ACKs: proves
        that injected packets reach the tun's reader and that it answers. Exit 0 on both.

    pktgen.py corpus DIR [--seed N] [--count N]
        Writes --count packets of each generated kind below (random, tcp, tcp-mut,
        frag4, frag6, ext6, udp, icmp4, icmp6, a SYN-ACK with an MSS option) as files
        DIR/KIND-N, each after a 10-byte virtio_net_hdr (every other TCP one with
        VIRTIO_NET_HDR_F_NEEDS_CSUM, the checksum left as TSO leaves it): the seed corpus
        of tests/fuzz/fuzz_tun_input.c.

    pktgen.py fuzz IFNAME [--seconds S] [--rate PPS] [--seed N] [--max-ports N]
                          [--max-handshakes N] [--mtu M]
        For S seconds (at most --rate packets per second) sends a mix of:
          random     pure random bytes, 0..MTU+100 long (IPv4 or IPv6 ethertype)
          tcp        valid IPv4/IPv6 TCP SYN/ACK/FIN/RST/data segments, valid checksums
          tcp-mut    the same, mutated: bit flips, truncation, length fields, IHL and IP
                     option garbage, TCP data offset garbage, TCP option garbage (MSS,
                     window scale, SACK, timestamps with bad lengths) with fixed checksums
          frag4      IPv4 fragments: out of order, overlapping, missing, duplicated,
                     huge offsets, odd lengths
          frag6/ext6 IPv6 fragment headers and extension-header chains (hop-by-hop,
                     destination options, routing, unknown / bad-length options)
          udp, icmp4, icmp6 (echo, errors with quoted packets, ND/RA/redirect, MLD,
                     random types), valid and mutated
          syn-ports  SYNs to distinct ports (a new listener each), at most --max-ports
          stateful   real handshakes (the SYN-ACK is read back), then in-window garbage
                     on the established connection: data, out-of-order pieces, bad
                     options, odd flags, RST/FIN/SYN; at most --max-handshakes
        Destinations are in 198.18.1.0/24 and fd00:1::/64, sources in 198.18.128.0/17 and
        fd00:2::/64 (not local to the namespace, so the kernel drops the replies).
        Prints the number of packets of each kind sent, and the send errors.
"""
import argparse
import errno
import os
import random
import select
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
PACKET_HOST = 0

FIN, SYN, RST, PSH, ACK, URG, ECE, CWR = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80

R = random.Random()


# ---- checksums and headers -------------------------------------------------

def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ip4_header(src, dst, proto, payload_len, ttl=64, ident=None, frag=0, options=b"", tos=0):
    ihl = 5 + len(options) // 4
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, tos, ihl * 4 + payload_len,
                      R.getrandbits(16) if ident is None else ident, frag, ttl, proto, 0,
                      src, dst) + options
    return hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]


def ip6_header(src, dst, nxt, payload_len, hlim=64):
    return struct.pack("!IHBB16s16s", 0x60000000 | R.getrandbits(20), payload_len, nxt, hlim,
                       src, dst)


def pseudo(src, dst, proto, length):
    if len(src) == 4:
        return src + dst + struct.pack("!BBH", 0, proto, length)
    return src + dst + struct.pack("!IxxxB", length, proto)


def l4_with_csum(src, dst, proto, seg, off):
    """Fills the 16-bit checksum at offset off of seg (TCP 16, UDP 6, ICMPv6 2)."""
    seg = seg[:off] + b"\0\0" + seg[off + 2:]
    c = csum(pseudo(src, dst, proto, len(seg)) + seg)
    if proto == 17 and c == 0:
        c = 0xFFFF
    return seg[:off] + struct.pack("!H", c) + seg[off + 2:]


def wrap(src, dst, proto, seg, **kw):
    if len(src) == 4:
        return ip4_header(src, dst, proto, len(seg), **kw) + seg
    return ip6_header(src, dst, proto, len(seg), hlim=kw.get("ttl", 64)) + seg


def tcp_seg(src, dst, sport, dport, seq, ack, flags, win=65535, opts=b"", data=b"", urg=0,
            doff=None):
    if doff is None:
        opts += b"\0" * (-len(opts) % 4)
        doff = 5 + len(opts) // 4
    seg = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                      (doff & 15) << 4, flags & 0xFF, win & 0xFFFF, 0, urg & 0xFFFF) + opts + data
    return l4_with_csum(src, dst, 6, seg, 16)


def tcp_packet(src, dst, sport, dport, seq, ack, flags, **kw):
    return wrap(src, dst, 6, tcp_seg(src, dst, sport, dport, seq, ack, flags, **kw))


def udp_packet(src, dst, sport, dport, data):
    seg = struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data
    return wrap(src, dst, 17, l4_with_csum(src, dst, 17, seg, 6))


def icmp4_packet(src, dst, typ, code, body):
    m = struct.pack("!BBH", typ, code, 0) + body
    m = m[:2] + struct.pack("!H", csum(m)) + m[4:]
    return wrap(src, dst, 1, m)


def icmp6_msg(src, dst, typ, code, body):
    return l4_with_csum(src, dst, 58, struct.pack("!BBH", typ, code, 0) + body, 2)


def icmp6_packet(src, dst, typ, code, body, hlim=64):
    return ip6_header(src, dst, 58, 4 + len(body), hlim) + icmp6_msg(src, dst, typ, code, body)


def fix_ip4_csum(p):
    """Recomputes the IPv4 header checksum over the IHL the header claims (if it fits)."""
    if len(p) < 20 or p[0] >> 4 != 4:
        return p
    ihl = (p[0] & 15) * 4
    if ihl < 20 or ihl > len(p):
        return p
    h = p[:10] + b"\0\0" + p[12:ihl]
    return h[:10] + struct.pack("!H", csum(h)) + p[12:]


# ---- addresses ---------------------------------------------------------------

def src4():
    return bytes([198, 18, R.randint(128, 254), R.randint(1, 254)])


def dst4():
    return bytes([198, 18, 1, 2 if R.random() < 0.2 else R.randint(1, 254)])


def src6():
    return bytes.fromhex("fd000002000000000000") + R.randbytes(6)


def dst6():
    if R.random() < 0.2:
        return bytes.fromhex("fd000001000000000000000000000002")
    return bytes.fromhex("fd000001000000000000") + R.randbytes(6)


def addrs(v6=None):
    if v6 is None:
        v6 = R.random() < 0.5
    return (src6(), dst6()) if v6 else (src4(), dst4())


def port():
    return R.choice([9000, 80, 443, 22, 53, R.randint(1, 65535), R.randint(1, 65535), 0])


# ---- TCP options -------------------------------------------------------------

def tcp_opts_valid():
    o = b""
    for _ in range(R.randint(0, 4)):
        k = R.randrange(6)
        if k == 0:
            o += struct.pack("!BBH", 2, 4, R.choice([0, 1, 88, 536, 1460, 65535]))
        elif k == 1:
            o += b"\x01" + struct.pack("!BBB", 3, 3, R.choice([0, 1, 7, 14, 15, 255]))
        elif k == 2:
            o += b"\x01\x01\x04\x02"
        elif k == 3:
            o += b"\x01\x01" + struct.pack("!BBII", 8, 10, R.getrandbits(32), R.getrandbits(32))
        elif k == 4:
            n = R.randint(1, 4)
            o += b"\x01\x01" + struct.pack("!BB", 5, 2 + 8 * n) + R.randbytes(8 * n)
        else:
            o += b"\x01"
    return o[:40]


def tcp_opts_garbage():
    o = b""
    while len(o) < R.randint(1, 40):
        kind = R.choice([0, 1, 2, 3, 4, 5, 8, 19, 28, 29, 30, 34, 254, R.randint(0, 255)])
        if kind in (0, 1):
            o += bytes([kind])
            continue
        ln = R.choice([0, 1, 2, 3, 4, 5, 8, 10, 18, 34, 39, 40, 41, 255, R.randint(0, 255)])
        body = R.randbytes(max(0, min(ln - 2, 40)))
        o += bytes([kind, ln]) + body
    if R.random() < 0.3:
        o = o[:R.randint(0, len(o))]  # an option cut short by the header's end
    return o[:40]


# ---- mutations -----------------------------------------------------------------

def bitflip(p, n=None):
    if not p:
        return p
    b = bytearray(p)
    for _ in range(n or R.randint(1, 8)):
        i = R.randrange(len(b))
        b[i] ^= 1 << R.randrange(8)
    return bytes(b)


def mutate(p):
    """A mutation of a well-formed IPv4/IPv6 packet p. Returns (packet, name)."""
    v4 = p[0] >> 4 == 4
    k = R.randrange(11)
    b = bytearray(p)
    if k == 0:
        return bitflip(p), "bitflip"
    if k == 1:
        return p[:R.randint(0, len(p))], "truncate"
    if k == 2:
        return p + R.randbytes(R.randint(1, 64)), "trailing-bytes"
    if k == 3:  # length field: anything, or off by a little
        v = R.choice([0, 1, 19, 20, 39, 40, 0xFFFF, len(p) + R.randint(-8, 8), R.getrandbits(16)])
        v &= 0xFFFF
        if v4:
            b[2:4] = struct.pack("!H", v)
            return fix_ip4_csum(bytes(b)), "ip-length"
        b[4:6] = struct.pack("!H", v)
        return bytes(b), "ip-length"
    if k == 4:  # version nibble
        b[0] = (R.choice([0, 1, 5, 7, 15, 6 if v4 else 4]) << 4) | (b[0] & 15)
        return bytes(b), "version"
    if k == 5 and v4:  # IHL garbage, with or without option bytes behind it
        if R.random() < 0.5:
            b[0] = 0x40 | R.randrange(16)
            return fix_ip4_csum(bytes(b)), "ihl"
        opts = R.randbytes(4 * R.randint(1, 10))
        if R.random() < 0.5:  # well-known options with bad lengths
            opts = bytes([R.choice([7, 68, 130, 131, 137, 148]), R.randint(0, 45)]) + opts[2:]
        ihl = 5 + len(opts) // 4
        q = bytes([0x40 | ihl]) + p[1:2] + struct.pack("!H", len(p) + len(opts)) + p[4:20] + opts + p[20:]
        return fix_ip4_csum(q), "ip-options"
    if k == 6:  # TTL / hop limit 0 or 1 (lwIP must not forward)
        if v4:
            b[8] = R.choice([0, 1])
            return fix_ip4_csum(bytes(b)), "ttl"
        b[7] = R.choice([0, 1, 255])
        return bytes(b), "hoplimit"
    if k == 7:  # DF/MF/offset bits on an unfragmented datagram
        if v4:
            b[6:8] = struct.pack("!H", R.getrandbits(16))
            return fix_ip4_csum(bytes(b)), "frag-bits"
        b[6] = R.choice([0, 44, 43, 60, 59, 255, R.randrange(256)])
        return bytes(b), "next-header"
    if k == 8:  # protocol swapped (TCP bytes parsed as UDP/ICMP and back)
        if v4:
            b[9] = R.choice([1, 6, 17, 58, 2, 136, 255, R.randrange(256)])
            return fix_ip4_csum(bytes(b)), "protocol"
        b[6] = R.choice([1, 6, 17, 58])
        return bytes(b), "protocol"
    if k == 9:  # source address garbage (multicast, any, loopback, own)
        s = R.choice([b"\xe0\0\0\1", b"\0\0\0\0", b"\x7f\0\0\1", b"\xff\xff\xff\xff", p[16:20]]) if v4 else \
            R.choice([b"\xff\x02" + b"\0" * 13 + b"\1", b"\0" * 16, b"\0" * 15 + b"\1",
                      b"\0" * 10 + b"\xff\xff\xc6\x12\x01\x02", p[24:40]])
        if v4:
            b[12:16] = s
            return fix_ip4_csum(bytes(b)), "src-addr"
        b[8:24] = s
        return bytes(b), "src-addr"
    return bitflip(p, R.randint(20, 200)), "shred"


# ---- packet generators ---------------------------------------------------------------

def gen_random(mtu):
    n = R.randint(0, mtu + 100)
    p = bytearray(R.randbytes(n))
    if n and R.random() < 0.7:  # mostly with a plausible version nibble
        p[0] = (R.choice([4, 6]) << 4) | (p[0] & 15)
    return bytes(p)


def gen_tcp_valid():
    src, dst = addrs()
    flags = R.choice([SYN, SYN | ACK, ACK, FIN | ACK, RST, RST | ACK, PSH | ACK, FIN,
                      SYN | FIN, SYN | RST, URG | ACK, 0, 0xFF, R.randrange(256)])
    data = R.randbytes(R.choice([0, 0, 1, 10, 100, 1000]))
    opts = tcp_opts_valid() if flags & SYN else b""
    return tcp_packet(src, dst, R.randint(1024, 65535), port(), R.getrandbits(32), R.getrandbits(32),
                      flags, win=R.choice([0, 1, 512, 65535]), opts=opts, data=data,
                      urg=R.choice([0, 0, 1, 0xFFFF]))


def gen_tcp_mut():
    """Either an IP-level mutation or TCP garbage behind a correct checksum."""
    src, dst = addrs()
    if R.random() < 0.5:
        return mutate(gen_tcp_valid())
    flags = R.choice([SYN, ACK, PSH | ACK, FIN | ACK, R.randrange(256)])
    k = R.randrange(4)
    if k == 0:  # option garbage, correct data offset and checksum
        seg = tcp_seg(src, dst, R.randint(1, 65535), port(), R.getrandbits(32), R.getrandbits(32),
                      flags, opts=tcp_opts_garbage(), data=R.randbytes(R.randint(0, 64)))
        name = "tcp-opt-garbage"
    elif k == 1:  # data offset garbage (beyond the segment, below 5)
        opts = tcp_opts_valid()
        seg = tcp_seg(src, dst, R.randint(1, 65535), port(), R.getrandbits(32), R.getrandbits(32),
                      flags, opts=opts, data=R.randbytes(R.randint(0, 20)), doff=R.randrange(16))
        name = "tcp-doff"
    elif k == 2:  # shorter than a TCP header, correct checksum
        seg = l4_with_csum(src, dst, 6, R.randbytes(R.randint(18, 19)) if R.random() < 0.5 else
                           R.randbytes(R.randint(0, 15)) + b"\0\0", 16) if R.random() < 0.5 else \
            R.randbytes(R.randint(0, 19))
        name = "tcp-short"
    else:  # random header fields, correct checksum
        seg = l4_with_csum(src, dst, 6, R.randbytes(20) + tcp_opts_garbage(), 16)
        name = "tcp-random-hdr"
    return wrap(src, dst, 6, seg), name


def fragments4(src, dst, proto, payload):
    ident = R.getrandbits(16)
    cuts, off = [], 0
    while off < len(payload):
        n = 8 * R.randint(1, 80)
        cuts.append((off, payload[off:off + n]))
        off += n
    pieces = []
    for i, (off, data) in enumerate(cuts):
        mf = 0x2000 if i < len(cuts) - 1 else 0
        pieces.append((off, data, mf))
    kind = R.randrange(8)
    name = "frag4"
    if kind == 0:
        R.shuffle(pieces)
        name = "frag4-reorder"
    elif kind == 1 and len(pieces) > 1:
        del pieces[R.randrange(len(pieces))]
        name = "frag4-missing"
    elif kind == 2:
        pieces += [R.choice(pieces) for _ in range(R.randint(1, 3))]
        R.shuffle(pieces)
        name = "frag4-dup"
    elif kind == 3:  # overlapping pieces with different data
        for _ in range(R.randint(1, 4)):
            o = 8 * R.randint(0, max(0, len(payload) // 8))
            pieces.insert(R.randrange(len(pieces) + 1),
                          (o, R.randbytes(8 * R.randint(1, 40)), R.choice([0, 0x2000])))
        name = "frag4-overlap"
    elif kind == 4:  # offsets near and beyond 64 KiB
        for _ in range(R.randint(1, 4)):
            o = 8 * R.choice([8191, 8190, 8180, R.randint(1000, 8191)])
            pieces.append((o, R.randbytes(R.choice([8, 64, 1000])), R.choice([0, 0x2000])))
        name = "frag4-huge-offset"
    elif kind == 5:  # odd lengths with MF, zero-length pieces, MF on the last piece
        pieces = [(o, d[:R.randint(0, len(d))] if R.random() < 0.4 else d, mf or R.choice([0, 0x2000]))
                  for o, d, mf in pieces]
        name = "frag4-odd"
    elif kind == 6:  # the first piece only (reassembly waits, then times out)
        pieces = pieces[:1]
        name = "frag4-first-only"
    out = []
    for off, data, mf in pieces:
        frag = mf | ((off // 8) & 0x1FFF)
        if R.random() < 0.05:
            frag |= 0x4000  # DF and MF together
        out.append(ip4_header(src, dst, proto, len(data), ident=ident, frag=frag) + data)
    return out, name


def l4_payload(src, dst, big):
    """A transport segment with a correct checksum (TCP, UDP or ICMP echo)."""
    n = R.randint(100, 4000) if big else R.randint(0, 200)
    k = R.randrange(3)
    if k == 0:
        return 6, tcp_seg(src, dst, R.randint(1024, 65535), port(), R.getrandbits(32), 0,
                          R.choice([SYN, ACK | PSH]), data=R.randbytes(n))
    if k == 1:
        seg = struct.pack("!HHHH", R.randint(1, 65535), port(), 8 + n, 0) + R.randbytes(n)
        return 17, l4_with_csum(src, dst, 17, seg, 6)
    if len(src) == 4:
        m = struct.pack("!BBHHH", 8, 0, 0, R.getrandbits(16), R.getrandbits(16)) + R.randbytes(n)
        return 1, m[:2] + struct.pack("!H", csum(m)) + m[4:]
    return 58, icmp6_msg(src, dst, 128, 0, R.randbytes(4 + n))


def gen_frag4():
    src, dst = src4(), dst4()
    proto, seg = l4_payload(src, dst, True)
    return fragments4(src, dst, proto, seg)


def ext_hdr(nxt, kind):
    """One IPv6 extension header (hop-by-hop 0, destination options 60, routing 43)."""
    if kind in (0, 60):
        opts = b""
        for _ in range(R.randint(0, 4)):
            t = R.choice([0, 1, 5, 0xC2, 0xC9, 0x04, 0x3E, 0x7E, 0xBE, 0xFE, R.randrange(256)])
            if t == 0:
                opts += b"\0"
            elif t == 0xC2:  # jumbo payload
                opts += struct.pack("!BBI", 0xC2, R.choice([4, 3, 5]), R.getrandbits(32))
            else:
                ln = R.choice([0, 1, 2, 4, 6, 255, R.randrange(64)])
                opts += bytes([t, ln]) + R.randbytes(min(ln, 60))
        body = opts
    else:
        body = bytes([R.choice([0, 2, 3, 4, 253, R.randrange(256)]), R.randrange(5)]) + R.randbytes(4)
        body += R.randbytes(16 * R.randint(0, 2))
        body = body[:2] + body[2:]
    total = 2 + len(body)
    total += -total % 8
    body += b"\0" * (total - 2 - len(body))
    hlen = (total // 8) - 1
    if R.random() < 0.15:
        hlen = R.randrange(256)  # a length that lies
    return bytes([nxt, hlen]) + body


def gen_ext6():
    """A chain of extension headers before a transport segment (or nothing)."""
    src, dst = src6(), dst6()
    proto, seg = l4_payload(src, dst, False)
    chain = [R.choice([0, 60, 43, 60]) for _ in range(R.randint(1, 6))]
    if R.random() < 0.2:
        chain.insert(R.randrange(len(chain) + 1), 0)  # hop-by-hop not first
    body, nxt = seg, proto
    if R.random() < 0.15:
        nxt, body = R.choice([59, 50, 51, 135, 139, 140, R.randrange(256)]), R.randbytes(R.randint(0, 40))
    for kind in reversed(chain):
        body = ext_hdr(nxt, kind) + body
        nxt = kind
    p = ip6_header(src, dst, nxt, len(body)) + body
    if R.random() < 0.3:
        return mutate(p)[0], "ext6-mut"
    return p, "ext6"


def gen_frag6():
    src, dst = src6(), dst6()
    proto, seg = l4_payload(src, dst, True)
    ident = R.getrandbits(32)
    pieces, off = [], 0
    while off < len(seg):
        n = 8 * R.randint(1, 150)
        pieces.append([off, seg[off:off + n], 1])
        off += n
    pieces[-1][2] = 0
    kind = R.randrange(7)
    name = "frag6"
    if kind == 0:
        R.shuffle(pieces)
        name = "frag6-reorder"
    elif kind == 1 and len(pieces) > 1:
        del pieces[R.randrange(len(pieces))]
        name = "frag6-missing"
    elif kind == 2:
        for _ in range(R.randint(1, 3)):
            pieces.insert(R.randrange(len(pieces) + 1),
                          [8 * R.randint(0, len(seg) // 8), R.randbytes(8 * R.randint(1, 50)), R.randint(0, 1)])
        name = "frag6-overlap"
    elif kind == 3:
        for _ in range(R.randint(1, 3)):
            pieces.append([8 * R.choice([8191, 8190, R.randint(1000, 8191)]), R.randbytes(R.choice([8, 200, 1200])),
                           R.randint(0, 1)])
        name = "frag6-huge-offset"
    elif kind == 4:
        pieces = [[o, d[:R.randint(0, len(d))], R.randint(0, 1)] for o, d, m in pieces]
        name = "frag6-odd"
    elif kind == 5:  # atomic fragment (offset 0, M=0): a whole datagram
        pieces = [[0, seg, 0]]
        name = "frag6-atomic"
    out = []
    for off, data, m in pieces:
        fh = struct.pack("!BBHI", proto, 0, (off & 0xFFF8) | m, ident)
        pre = b""
        if R.random() < 0.2:  # a destination-options header before the fragment header
            pre = ext_hdr(44, 60)
        body = pre + fh + data
        out.append(ip6_header(src, dst, 60 if pre else 44, len(body)) + body)
    return out, name


UDP_FLOWS = []


def gen_udp():
    if len(UDP_FLOWS) < 256:  # a bounded set of flows, so a UDP relay holds few sockets
        v6 = R.random() < 0.5
        s, d = addrs(v6)
        UDP_FLOWS.append((s, d, R.randint(1024, 65535), port()))
    s, d, sp, dp = R.choice(UDP_FLOWS)
    p = udp_packet(s, d, sp, dp, R.randbytes(R.choice([0, 1, 12, 100, 512, 1200])))
    if R.random() < 0.4:
        q, name = mutate(p)
        return q, "udp-" + name
    if R.random() < 0.2:  # UDP length field lies, checksum fixed over the lie
        hl = 20 if len(s) == 4 else 40
        b = bytearray(p)
        b[hl + 4:hl + 6] = struct.pack("!H", R.choice([0, 7, 8, 9, len(p) - hl + 1, 0xFFFF]))
        b[hl + 6:hl + 8] = b"\0\0"
        return bytes(b), "udp-len"
    return p, "udp"


def quoted(src, dst):
    """The start of a packet we 'sent', for ICMP errors."""
    sp, dp = R.randint(1, 65535), R.randint(1, 65535)
    if len(src) == 4:
        inner = tcp_packet(dst, src, sp, dp, R.getrandbits(32), 0, SYN)
    else:
        inner = tcp_packet(dst, src, sp, dp, R.getrandbits(32), 0, SYN)
    return inner[:R.choice([8, 28, 48, len(inner)])]


def gen_icmp4():
    src, dst = src4(), dst4()
    t = R.choice([0, 3, 4, 5, 8, 8, 11, 12, 13, 14, 17, 18, R.randrange(256)])
    code = R.choice([0, 1, 3, 4, R.randrange(256)])
    if t in (3, 4, 5, 11, 12):
        body = struct.pack("!I", R.getrandbits(32)) + quoted(src, dst)
    else:
        body = R.randbytes(R.choice([0, 4, 8, 56, 1000]))
    p = icmp4_packet(src, dst, t, code, body)
    if R.random() < 0.3:
        q, name = mutate(p)
        return q, "icmp4-" + name
    return p, "icmp4"


def gen_icmp6():
    src, dst = src6(), dst6()
    hlim = 64
    t = R.choice([1, 2, 3, 4, 128, 128, 129, 130, 131, 132, 133, 134, 135, 136, 137, 143, R.randrange(256)])
    code = R.choice([0, 0, 0, 1, R.randrange(256)])
    nd_opts = b""
    for _ in range(R.randint(0, 3)):
        ot = R.choice([1, 2, 3, 4, 5, 25, 31, R.randrange(256)])
        ol = R.choice([0, 1, 2, 4, 255, R.randint(1, 6)])
        if ot == 5 and R.random() < 0.7:  # MTU option, sometimes well formed
            nd_opts += struct.pack("!BBHI", 5, 1, 0, R.choice([0, 576, 1280, 1500, 9000, 65535, 0xFFFFFFFF]))
        elif ot == 3 and R.random() < 0.7:  # prefix information, well formed
            nd_opts += struct.pack("!BBBBIII", 3, 4, 64, R.choice([0x40, 0xC0, 0x80]), R.getrandbits(32),
                                   R.getrandbits(32), 0) + bytes.fromhex("fd000003") + R.randbytes(12)
        else:
            nd_opts += bytes([ot, ol]) + R.randbytes(max(0, min(8 * ol - 2, 64)))
    if t in (1, 3, 4):
        body = struct.pack("!I", R.getrandbits(32)) + quoted(src, dst)
    elif t == 2:
        body = struct.pack("!I", R.choice([0, 1279, 1280, 1500, 65535, R.getrandbits(32)])) + quoted(src, dst)
    elif t in (133, 134, 135, 136, 137):  # ND: needs hop limit 255 and (often) a link-local source
        hlim = 255 if R.random() < 0.9 else 64
        if R.random() < 0.6:
            src = bytes.fromhex("fe80000000000000") + R.randbytes(8)
        if t == 134:
            body = struct.pack("!BBHII", R.randrange(256), R.randrange(256), R.getrandbits(16),
                               R.getrandbits(32), R.getrandbits(32)) + nd_opts
        elif t == 137:
            body = b"\0" * 4 + R.choice([dst6(), src6()]) + R.choice([dst6(), src6()]) + nd_opts
        else:
            body = struct.pack("!I", R.getrandbits(32)) + R.choice([dst, dst6(), src]) + nd_opts
            if t == 133:
                body = b"\0" * 4 + nd_opts
    elif t in (130, 131, 132, 143):  # MLD
        body = struct.pack("!HH", R.getrandbits(16), 0) + R.choice([b"\0" * 16, dst]) + R.randbytes(R.choice([0, 4, 20]))
        hlim = 1
    else:
        body = R.randbytes(R.choice([0, 4, 8, 56, 1000]))
    p = icmp6_packet(src, dst, t, code, body, hlim)
    if R.random() < 0.3:
        q, name = mutate(p)
        return q, "icmp6-" + name
    return p, "icmp6"


# ---- the sender ------------------------------------------------------------------

class Injector:
    def __init__(self, ifname, mtu):
        self.ifname = ifname
        self.mtu = mtu
        self.tx = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, 0)
        self.tx.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        self.rx = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL))
        self.rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.rx.bind((ifname, ETH_P_ALL))
        self.rx.setblocking(False)
        self.sent = {}
        self.errors = {}
        self.received = 0
        self.gone = False

    def send(self, pkt, kind, proto=None):
        if proto is None:
            proto = ETH_P_IPV6 if pkt and pkt[0] >> 4 == 6 else ETH_P_IP
        try:
            self.tx.sendto(pkt, (self.ifname, proto))
        except OSError as e:
            name = errno.errorcode.get(e.errno, str(e.errno))
            self.errors[name] = self.errors.get(name, 0) + 1
            if e.errno in (errno.ENODEV, errno.ENXIO, errno.ENETDOWN):
                self.gone = True  # the tun device went away: its reader exited
            return False
        self.sent[kind] = self.sent.get(kind, 0) + 1
        return True

    def replies(self):
        """Packets the tun's reader wrote (the kernel 'received' them)."""
        out = []
        while True:
            try:
                data, addr = self.rx.recvfrom(70000)
            except BlockingIOError:
                return out
            except OSError:  # the device went away (the reader exited)
                return out
            if addr[2] == PACKET_HOST:
                self.received += 1
                out.append(data)


def parse_tcp(p):
    """(src, dst, sport, dport, seq, ack, flags, window) of a TCP packet, or None."""
    if len(p) >= 40 and p[0] >> 4 == 4 and p[9] == 6:
        hl = (p[0] & 15) * 4
        src, dst = p[12:16], p[16:20]
    elif len(p) >= 60 and p[0] >> 4 == 6 and p[6] == 6:
        hl = 40
        src, dst = p[8:24], p[24:40]
    else:
        return None
    t = p[hl:]
    if len(t) < 20:
        return None
    sport, dport, seq, ack, _, flags, win = struct.unpack("!HHIIBBH", t[:16])
    return src, dst, sport, dport, seq, ack, flags, win


def cmd_probe(a):
    inj = Injector(a.ifname, 1500)
    want = {}
    for v6 in (False, True):
        s, d = (src6(), bytes.fromhex("fd000001000000000000000000000077")) if v6 else \
            (src4(), bytes([198, 18, 1, 77]))
        sp = R.randint(20000, 60000)
        inj.send(tcp_packet(s, d, sp, 7777, 1000, 0, SYN, opts=struct.pack("!BBH", 2, 4, 1460)), "probe")
        want[(d, s, 7777, sp)] = "IPv6" if v6 else "IPv4"
    deadline = time.monotonic() + 5
    while want and time.monotonic() < deadline:
        select.select([inj.rx], [], [], 0.2)
        for p in inj.replies():
            t = parse_tcp(p)
            if t and t[6] & (SYN | ACK) == SYN | ACK and t[5] == 1001:
                fam = want.pop(tuple(t[:4]), None)
                if fam:
                    print("probe: %s SYN written into %s answered with SYN-ACK" % (fam, a.ifname))
    if want:
        print("probe: no SYN-ACK for %s" % ", ".join(want.values()))
        return 1
    return 0


class Stateful:
    """Real handshakes through the tun, then garbage inside the connection's window."""

    def __init__(self, inj, limit):
        self.inj = inj
        self.limit = limit
        self.started = 0
        self.pending = {}  # (their addr, our addr, their port, our port) -> (our iss, time, victim)
        self.conns = []
        self.victims_started = 0
        self.completed = 0

    def start(self):
        if self.started >= self.limit:
            return False
        v6 = R.random() < 0.5
        s, d = addrs(v6)
        if R.random() < 0.5:  # the real target: the relay's upstream connect succeeds
            d = bytes.fromhex("fd000001000000000000000000000002") if v6 else bytes([198, 18, 1, 2])
            dp = 9000
        else:
            dp = R.randint(1, 65535)
        sp = R.randint(1024, 65535)
        iss = R.getrandbits(32)
        opts = struct.pack("!BBH", 2, 4, R.choice([536, 1460])) + b"\x01\x03\x03" + bytes([R.randrange(15)]) + \
            b"\x01\x01\x04\x02"
        if self.inj.send(tcp_packet(s, d, sp, dp, iss, 0, SYN, opts=opts), "stateful-syn"):
            self.started += 1
            self.pending[(d, s, dp, sp)] = (iss, time.monotonic(), False)
        return True

    def on_reply(self, p):
        t = parse_tcp(p)
        if not t:
            return
        key = tuple(t[:4])
        if t[6] & (SYN | ACK) == SYN | ACK and key in self.pending:
            iss, _, victim = self.pending.pop(key)
            if t[5] != (iss + 1) & 0xFFFFFFFF:
                return
            c = {"src": key[1], "dst": key[0], "sport": key[3], "dport": key[2],
                 "snd": (iss + 1) & 0xFFFFFFFF, "rcv": (t[4] + 1) & 0xFFFFFFFF, "left": R.randint(20, 200),
                 "victim": victim, "k": min(t[7] << 1, 65535) // 2 if victim else 0}
            self.inj.send(self.pkt(c, ACK), "ooseq-ack" if victim else "stateful-ack")
            self.conns.append(c)
            self.completed += 1
        elif t[6] & RST:
            self.conns = [c for c in self.conns if (c["dst"], c["src"], c["dport"], c["sport"]) != key]

    def pkt(self, c, flags, seq=None, ack=None, **kw):
        return tcp_packet(c["src"], c["dst"], c["sport"], c["dport"], c["snd"] if seq is None else seq,
                          c["rcv"] if ack is None else ack, flags, **kw)

    def ooseq(self):
        """One 1-byte out-of-order segment to a victim connection (every other byte of
        its window, highest first, so nothing is ever in order and each insert is at the
        head of lwIP's queue). Starts a victim when none has room left."""
        for c in self.conns:
            if c.get("victim") and c["k"] > 0:
                c["k"] -= 1
                return self.inj.send(self.pkt(c, ACK, seq=c["snd"] + 2 * c["k"] + 2, data=b"x"), "ooseq")
        if self.victims_started < 8 and not any(v[2] and time.monotonic() - v[1] < 2 for v in self.pending.values()):
            v6 = R.random() < 0.5
            s = src6() if v6 else src4()
            d = bytes.fromhex("fd000001000000000000000000000002") if v6 else bytes([198, 18, 1, 2])
            sp, iss = R.randint(1024, 65535), R.getrandbits(32)
            self.victims_started += 1
            self.inj.send(tcp_packet(s, d, sp, 9000, iss, 0, SYN, opts=struct.pack("!BBH", 2, 4, 1460)),
                          "ooseq-syn")
            self.pending[(d, s, 9000, sp)] = (iss, time.monotonic(), True)
        return False

    def garbage(self):
        if not self.conns:
            return False
        c = R.choice(self.conns)
        if c.get("victim"):
            return False
        c["left"] -= 1
        if c["left"] <= 0:
            self.conns.remove(c)
            self.inj.send(self.pkt(c, RST | ACK), "stateful-rst")
            return True
        k = R.randrange(12)
        if k <= 2:  # in-order data (the relay passes it upstream)
            data = R.randbytes(R.randint(1, 300))
            if self.inj.send(self.pkt(c, PSH | ACK, data=data), "stateful-data"):
                c["snd"] = (c["snd"] + len(data)) & 0xFFFFFFFF
        elif k == 3:  # out of order: a hole before it, inside the window
            off = R.randint(1, 30000)
            self.inj.send(self.pkt(c, ACK, seq=c["snd"] + off, data=R.randbytes(R.randint(1, 200))), "stateful-ooseq")
        elif k == 4:  # outside the window, or old
            self.inj.send(self.pkt(c, ACK, seq=c["snd"] + R.choice([-70000, -1, 200000, 1 << 31]),
                                   data=R.randbytes(R.randint(0, 100))), "stateful-outside")
        elif k == 5:  # acks of data never sent / of the future / window 0
            self.inj.send(self.pkt(c, ACK, ack=c["rcv"] + R.choice([1, 1000, 1 << 20, -5]),
                                   win=R.choice([0, 1, 65535])), "stateful-bad-ack")
        elif k == 6:  # option garbage inside the connection
            self.inj.send(self.pkt(c, ACK | PSH, opts=tcp_opts_garbage()), "stateful-opts")
        elif k == 7:  # odd flag combinations in window
            self.inj.send(self.pkt(c, R.choice([SYN, SYN | ACK, URG | ACK, ECE | CWR | ACK, FIN | SYN, 0, 0xFF]),
                                   data=R.randbytes(R.randint(0, 20)), urg=R.getrandbits(16)), "stateful-flags")
        elif k == 8:  # a RST: in window (closes), or slightly off (ignored / challenge)
            self.inj.send(self.pkt(c, RST, seq=c["snd"] + R.choice([0, 0, 1, 5000, -1])), "stateful-rst")
        elif k == 9:  # FIN, then maybe more data after it
            self.inj.send(self.pkt(c, FIN | ACK), "stateful-fin")
            c["snd"] = (c["snd"] + 1) & 0xFFFFFFFF
        elif k == 10:  # mutated copy of a valid in-window segment
            q, _ = mutate(self.pkt(c, PSH | ACK, data=R.randbytes(R.randint(1, 100))))
            self.inj.send(q, "stateful-mut")
        else:  # SACK blocks and timestamps naming random ranges
            opts = b"\x01\x01\x05\x12" + struct.pack("!IIII", c["rcv"] - 100, c["rcv"] + 100,
                                                     R.getrandbits(32), R.getrandbits(32))
            self.inj.send(self.pkt(c, ACK, opts=opts), "stateful-sack")
        return True


def case_ooseq(inj, a):
    """Out-of-order 1-byte segments filling each connection's receive window (every other
    byte, so nothing is ever in order): each pins a whole MTU-sized pbuf in lwIP's ooseq
    queue. --count connections to 198.18.1.2:9000, paced at --rate packets/s."""
    st = Stateful(inj, a.count)
    for _ in range(a.count):
        s = bytes([198, 18, R.randint(128, 254), R.randint(1, 254)])
        key_iss = R.getrandbits(32)
        sp = R.randint(1024, 65535)
        inj.send(tcp_packet(s, bytes([198, 18, 1, 2]), sp, 9000, key_iss, 0, SYN,
                            opts=struct.pack("!BBH", 2, 4, 1460) + b"\x01\x03\x03\x07"), "syn")
        st.pending[(bytes([198, 18, 1, 2]), s, 9000, sp)] = (key_iss, time.monotonic(), False)
    deadline = time.monotonic() + 5
    while st.pending and time.monotonic() < deadline:
        select.select([inj.rx], [], [], 0.1)
        for p in inj.replies():
            st.on_reply(p)
    print("ooseq: %d connections established" % len(st.conns))
    sent = 0
    t0 = time.monotonic()
    for k in range(a.window // 2, 0, -1):  # highest first: each insert is at the queue's head
        for c in st.conns:
            inj.send(st.pkt(c, ACK, seq=c["snd"] + 2 * k, data=b"x"), "ooseq")
            sent += 1
            if sent % 100 == 0:
                while time.monotonic() - t0 < sent / a.rate:
                    time.sleep(0.001)
    print("ooseq: %d one-byte out-of-order segments sent in %.1f s, errors %s" %
          (sent, time.monotonic() - t0, inj.errors))
    return 0


def cmd_case(a):
    """Single crafted packets (reproducers), e.g. a SYN whose source is its destination."""
    inj = Injector(a.ifname, 1500)
    a4, b4, c4 = bytes([198, 18, 1, 50]), bytes([198, 18, 1, 51]), bytes([198, 18, 200, 7])
    a6 = bytes.fromhex("fd000001000000000000000000000050")
    b6 = bytes.fromhex("fd000001000000000000000000000051")
    syn = lambda s, d: tcp_packet(s, d, 40000, 8080, 1, 0, SYN)
    cases = {
        "land4": [syn(a4, a4)],                       # src == dst: lwIP's SYN-ACK goes to itself
        "land6": [syn(a6, a6)],
        "loopback-src4": [syn(bytes([127, 0, 0, 1]), a4)],
        "loopback-src6": [syn(bytes(15) + b"\1", a6)],
        "echo-land4": [icmp4_packet(a4, a4, 8, 0, b"\0\1\0\1")],
        "echo-land6": [icmp6_packet(a6, a6, 128, 0, b"\0\1\0\1")],
        # A SYN from A, then any packet to A: the netif's address is now A, and the
        # SYN-ACK retransmission (a timer, ~1-3 s later) goes to A == the netif's address.
        "timer4": [syn(a4, b4), udp_packet(c4, a4, 1234, 5678, b"x")],
        "timer6": [syn(a6, b6), udp_packet(src6(), a6, 1234, 5678, b"x")],
        # UDP-Lite whose checksum coverage (the length field) is longer than the datagram.
        "udplite4": [wrap(c4, a4, 136, l4_with_csum(c4, a4, 136, struct.pack("!HHHH", 1, 2, 0xFFFF, 0) + b"x" * 8, 6))],
        "udplite6": [wrap(src6(), a6, 136, struct.pack("!HHHH", 1, 2, 0xFFFF, 0x1234) + b"x" * 8)],
    }
    if a.case == "ooseq":
        return case_ooseq(inj, a)
    for p in cases[a.case]:
        inj.send(p, a.case)
    print("case %s: %d packet(s) sent into %s" % (a.case, len(cases[a.case]), a.ifname))
    return 0


def cmd_fuzz(a):
    R.seed(a.seed)
    inj = Injector(a.ifname, a.mtu)
    st = Stateful(inj, a.max_handshakes)
    syn_ports = set()
    t0 = time.monotonic()
    end = t0 + a.seconds
    budget, last = 0.0, t0
    total = 0
    kinds = ["random", "tcp", "tcp-mut", "frag4", "frag6", "ext6", "udp", "icmp4", "icmp6", "syn-ports", "stateful",
             "ooseq"]
    weights = [10, 8, 14, 3, 3, 6, 4, 3, 6, 4, 5, 34]
    ooseq_sent = 0
    while True:
        now = time.monotonic()
        if now >= end or total >= a.rate * a.seconds:
            break
        if inj.gone:
            print("pktgen: %s is gone after %.1f s: stopping" % (a.ifname, now - t0))
            break
        budget = min(budget + (now - last) * a.rate, a.rate * 0.05)
        last = now
        for p in inj.replies():
            st.on_reply(p)
        if budget < 1:
            time.sleep(0.002)
            continue
        while budget >= 1:
            kind = R.choices(kinds, weights)[0]
            pkts = []
            if kind == "random":
                p = gen_random(a.mtu)
                inj.send(p, "random" if len(p) <= a.mtu else "random-over-mtu",
                         proto=R.choice([ETH_P_IP, ETH_P_IPV6]))
                pkts = [p]
            elif kind == "tcp":
                pkts = [(gen_tcp_valid(), "tcp-valid")]
            elif kind == "tcp-mut":
                p, name = gen_tcp_mut()
                pkts = [(p, "tcp-" + name if not name.startswith("tcp") else name)]
            elif kind == "frag4":
                ps, name = gen_frag4()
                pkts = [(p, name) for p in ps]
            elif kind == "frag6":
                ps, name = gen_frag6()
                pkts = [(p, name) for p in ps]
            elif kind == "ext6":
                pkts = [gen_ext6()]
            elif kind == "udp":
                pkts = [gen_udp()]
            elif kind == "icmp4":
                pkts = [gen_icmp4()]
            elif kind == "icmp6":
                pkts = [gen_icmp6()]
            elif kind == "syn-ports":
                if len(syn_ports) < a.max_ports:
                    p = R.randint(1, 65535)
                    syn_ports.add(p)
                else:
                    p = R.choice(tuple(syn_ports))
                s, d = addrs()
                pkts = [(tcp_packet(s, d, R.randint(1024, 65535), p, R.getrandbits(32), 0, SYN,
                                    opts=tcp_opts_valid()), "syn-ports")]
            elif kind == "ooseq":
                if ooseq_sent < a.ooseq_max and st.ooseq():
                    ooseq_sent += 1
                pkts = [None]
            elif kind == "stateful":
                if not (R.random() < 0.15 and st.start()) and not st.garbage():
                    st.start()
                pkts = [None]
            if kind != "random":
                for item in pkts:
                    if item is None:
                        continue
                    p, name = item
                    inj.send(p, name, proto=R.choice([ETH_P_IP, ETH_P_IPV6]) if R.random() < 0.02 else None)
            n = max(1, len(pkts))
            budget -= n
            total += n
    dt = time.monotonic() - t0
    for p in inj.replies():
        st.on_reply(p)
    print("pktgen: %d packets in %.1f s (%.0f/s), %d distinct SYN ports, %d handshakes started "
          "(+%d ooseq victims), %d completed, %d packets came back out of the tun" %
          (sum(inj.sent.values()), dt, sum(inj.sent.values()) / dt, len(syn_ports), st.started,
           st.victims_started, st.completed, inj.received))
    groups = {}
    for k, v in inj.sent.items():
        g = k.split("-")[0]
        groups[g] = groups.get(g, 0) + v
    print("pktgen: by group: " + ", ".join("%s %d" % kv for kv in sorted(groups.items())))
    print("pktgen: by kind: " + ", ".join("%s %d" % kv for kv in sorted(inj.sent.items())))
    if inj.errors:
        print("pktgen: send errors (EMSGSIZE: longer than the MTU; ENOBUFS: tun queue full): " +
              ", ".join("%s %d" % kv for kv in sorted(inj.errors.items())))
    return 0


def vnet_hdr(p, partial):
    """A virtio_net_hdr for p; partial: NEEDS_CSUM with the TCP checksum field holding
    only the pseudo-header sum, as the kernel hands over a TSO segment."""
    if not partial or len(p) < 1:
        return bytes(10), p
    v6 = p[0] >> 4 == 6
    l4 = 40 if v6 else (p[0] & 15) * 4
    if len(p) < l4 + 18:
        return bytes(10), p
    q = bytearray(p)
    q[l4 + 16:l4 + 18] = b"\0\0"
    src, dst = (q[8:24], q[24:40]) if v6 else (q[12:16], q[16:20])
    ps = pseudo(bytes(src), bytes(dst), 6, len(q) - l4)
    s = sum(struct.unpack("!%dH" % (len(ps) // 2), ps))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    q[l4 + 16:l4 + 18] = struct.pack("!H", s)
    # flags NEEDS_CSUM, gso_type none, hdr_len, gso_size, csum_start, csum_offset
    return struct.pack("<BBHHHH", 1, 0, 0, 0, l4, 16), bytes(q)


def cmd_corpus(a):
    R.seed(a.seed)
    os.makedirs(a.ifname, exist_ok=True)
    gens = {
        "random": lambda: [gen_random(a.mtu)],
        "tcp": lambda: [gen_tcp_valid()],
        "tcp-mut": lambda: [gen_tcp_mut()[0]],
        "frag4": lambda: gen_frag4()[0],
        "frag6": lambda: gen_frag6()[0],
        "ext6": lambda: [gen_ext6()[0]],
        "udp": lambda: [gen_udp()[0]],
        "icmp4": lambda: [gen_icmp4()[0]],
        "icmp6": lambda: [gen_icmp6()[0]],
        "synack-mss": lambda: [tcp_packet(*addrs(), R.randint(1, 65535), R.randint(1024, 65535),
                                          R.getrandbits(32), R.getrandbits(32), SYN | ACK,
                                          opts=struct.pack("!BBH", 2, 4, 1460) + tcp_opts_valid())],
    }
    n = 0
    for kind, gen in gens.items():
        for i in range(a.count):
            for j, p in enumerate(gen()[:4]):
                partial = kind in ("tcp", "tcp-mut", "synack-mss") and i % 2 == 1
                h, p = vnet_hdr(p, partial)
                with open(os.path.join(a.ifname, "%s-%d-%d" % (kind, i, j)), "wb") as f:
                    f.write(h + p)
                n += 1
    print("pktgen: %d corpus files in %s" % (n, a.ifname))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("cmd", choices=["probe", "fuzz", "case", "corpus"])
    ap.add_argument("ifname", help="the tun device (corpus: the directory to write)")
    ap.add_argument("case", nargs="?")
    ap.add_argument("--seconds", type=float, default=float(os.environ.get("PKTGEN_SECONDS", 30)))
    ap.add_argument("--rate", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=int(os.environ.get("PKTGEN_SEED", R.getrandbits(31))))
    ap.add_argument("--max-ports", type=int, default=5000)
    ap.add_argument("--max-handshakes", type=int, default=300)
    ap.add_argument("--mtu", type=int, default=1500)
    ap.add_argument("--ooseq-max", type=int, default=36000,
                    help="fuzz: 1-byte out-of-order segments to victim connections")
    ap.add_argument("--count", type=int, default=4, help="case ooseq: connections; corpus: files per kind")
    ap.add_argument("--window", type=int, default=65535, help="case ooseq: bytes covered")
    a = ap.parse_args()
    if a.cmd == "probe":
        return cmd_probe(a)
    if a.cmd == "case":
        return cmd_case(a)
    if a.cmd == "corpus":
        return cmd_corpus(a)
    print("pktgen: seed %d (PKTGEN_SEED=%d reproduces the packet mix)" % (a.seed, a.seed))
    sys.stdout.flush()
    return cmd_fuzz(a)


if __name__ == "__main__":
    sys.exit(main())
