#!/usr/bin/env python3
"""report.py -- bench/run's report: the table, bench/out/results.json, the chart and the
goal check, from the raw numbers one run collected.

report.py RAW META GOALS OUTDIR [--check]
  RAW    lines "PEER|METRIC|VALUE|ROUND" (VALUE a number; ROUND 1.. when the cases ran
         several rounds, 1 when left out)
  META   JSON object: method, seconds, mtu, kernel, date, counts, notes, ...
  GOALS  bench/goals.yaml
Writes OUTDIR/results.json, OUTDIR/table.txt, OUTDIR/chart.png (gnuplot) and prints the
table and the goals. With --check, exits 1 when a goal that could be evaluated failed.

Several rounds: a value is the median of its rounds; a ratio is taken in each round that
measured both numbers (value / baseline of that round), and the median of those is what
the table shows (with the min and max) and what a goal is judged on.
"""
import json
import os
import shutil
import subprocess
import sys

PEERS = [
    ("bare", "bare veth"),
    ("tun-ss", "snet-tun tun + ss"),
    ("tun-direct", "snet-tun tun + direct"),
    ("redir-ss", "snet-tun redirect + ss"),
    ("redir-ss-tp", "snet-tun redirect + ss, TCP via TPROXY"),
    ("ss-redir", "ss-redir + ss-server"),
    ("redsocks", "redsocks -> microsocks"),
    ("redir-socks5", "snet-tun redirect + socks5 -> microsocks"),
    ("hev", "hev-socks5-tunnel -> ss-local"),
    ("dnsmasq", "dnsmasq"),
    ("unbound", "unbound"),
]
LABEL = dict(PEERS)
LABEL["ceiling"] = "min(cipher, veth)"
ORDER = [p for p, _ in PEERS]

# DNS: snet-tun (redirect + ss) is compared with each of the two resolvers; metrics
# dns-{hit,miss,miss-full}-KEY: (KEY, name, compared with the baselines).
DNS_PEERS = [("redir-ss", "dnsmasq"), ("redir-ss", "unbound"), ("dnsmasq", None), ("unbound", None)]
DNS_METRICS = [("qps", "queries/s", True), ("ms", "mean ms", True),
               ("cpu-us", "resolver cpu us/query", True), ("lost", "lost %", False)]

VARIANTS = [("tcp1-up", "TCP 1 stream upload"), ("tcp1-down", "TCP 1 stream download"),
            ("tcp8-up", "TCP 8 streams upload"), ("tcp8-down", "TCP 8 streams download")]
# Under loss (per mille of the packets into the tun or veth dropped) and with many flows:
# each compared with the same peer's lossless 1-stream run of the same direction.
LOSS = [("loss5-up", "tcp1-up", "0.5 % loss into the tun, 1 stream upload"),
        ("loss5-down", "tcp1-down", "0.5 % loss into the tun, 1 stream download"),
        ("loss20-up", "tcp1-up", "2 % loss into the tun, 1 stream upload"),
        ("loss20-down", "tcp1-down", "2 % loss into the tun, 1 stream download"),
        ("tcp200-up", "tcp1-up", "TCP 200 streams upload (vs 1 stream)")]
LOSS_PEERS = ["tun-ss", "tun-direct", "hev", "bare"]


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def baseline_peer(peer, group, m):
    """Which peer a number is compared with (same run), or None."""
    have = lambda p: p in m
    if group == "tput":
        return {"tun-ss": "hev" if have("hev") else "ss-redir", "tun-direct": "bare",
                "redir-ss": "ss-redir", "redir-ss-tp": "redir-ss", "ss-redir": "bare",
                "redsocks": "bare",
                "redir-socks5": "redsocks", "hev": "bare"}.get(peer)
    if group == "cpu":
        return {"tun-ss": "hev" if have("hev") else "ss-redir", "redir-ss": "ss-redir",
                "redir-ss-tp": "redir-ss", "redir-socks5": "redsocks"}.get(peer)
    if group == "conn":
        return {"tun-ss": "ss-redir", "redir-ss": "ss-redir", "ss-redir": "bare",
                "redsocks": "bare", "hev": "bare"}.get(peer)
    if group == "rss":
        return {"tun-ss": "ss-redir", "redir-ss": "ss-redir", "hev": "ss-redir"}.get(peer)
    if group == "udp":
        ssr = "ss-redir" if have("ss-redir") and "udp-high-dps" in m["ss-redir"] else "bare"
        return {"tun-ss": ssr, "redir-ss": ssr, "ss-redir": "bare"}.get(peer)
    return None


def load_raw(path):
    """{round: {peer: {metric: value}}}"""
    runs = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            parts = line.split("|")
            peer, metric, value = parts[:3]
            rnd = int(parts[3]) if len(parts) > 3 and parts[3] else 1
            try:
                runs.setdefault(rnd, {}).setdefault(peer, {})[metric] = float(value)
            except ValueError:
                pass
    return runs


def medians(runs):
    """{peer: {metric: median over the rounds that measured it}}"""
    vals = {}
    for r in runs.values():
        for p, ms in r.items():
            for k, v in ms.items():
                vals.setdefault(p, {}).setdefault(k, []).append(v)
    return {p: {k: median(v) for k, v in ms.items()} for p, ms in vals.items()}


def spread(runs, key):
    """(median, min, max, rounds) of PEER/METRIC over the rounds, or None."""
    peer, metric = key.split("/", 1)
    xs = [r[peer][metric] for r in runs.values() if metric in r.get(peer, {})]
    return (median(xs), min(xs), max(xs), len(xs)) if xs else None


def ratios(runs, key, bkey):
    """(median, min, max, rounds) of value / baseline, each taken within one round."""
    vp, vm = key.split("/", 1)
    bp, bm = bkey.split("/", 1)
    xs = []
    for r in runs.values():
        v, b = r.get(vp, {}).get(vm), r.get(bp, {}).get(bm)
        if v is not None and b not in (None, 0):
            xs.append(v / b)
    return (median(xs), min(xs), max(xs), len(xs)) if xs else None


def parse_goals(path):
    """The small YAML subset goals.yaml uses: a top-level list of flat mappings."""
    goals, cur = [], None
    with open(path) as f:
        for raw in f:
            line = raw.rstrip("\n")
            s = line.strip()
            if not s or s.startswith("#") or s == "goals:":
                continue
            if s.startswith("- "):
                cur = {}
                goals.append(cur)
                s = s[2:].strip()
            if cur is None or ":" not in s:
                raise SystemExit("goals.yaml: cannot read line: %r" % line)
            k, v = s.split(":", 1)
            v = v.strip()
            if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
                v = v[1:-1]
            if k.strip() in ("min", "max"):
                v = float(v)
            cur[k.strip()] = v
    return goals


def get(m, key):
    peer, metric = key.split("/", 1)
    return m.get(peer, {}).get(metric)


def fmt(v, unit=""):
    if v is None:
        return "-"
    if abs(v) >= 100:
        return "%.0f%s" % (v, unit)
    if abs(v) >= 10:
        return "%.1f%s" % (v, unit)
    return "%.2f%s" % (v, unit)


def build_rows(m, meta, runs):
    # (case, peer, metric, value, baseline label, baseline value, ratio spread or None);
    # values are medians over the rounds, the ratio spread (median, min, max, rounds)
    # comes from the per-round ratios.
    rows = []

    def add(case, peer, metric_key, metric_name, group, bp=None, bkey=None):
        v = m.get(peer, {}).get(metric_key)
        if callable(metric_name):
            metric_name = metric_name(peer)
        if v is None:
            return
        if group is not None:
            bp = baseline_peer(peer, group, m)
        bkey = bkey or metric_key
        bv = m.get(bp, {}).get(bkey) if bp else None
        st = ratios(runs, peer + "/" + metric_key, bp + "/" + bkey) if bv not in (None, 0) else None
        bl = ""
        if bv is not None:
            bl = LABEL[bp] if bkey == metric_key else "%s, %s" % (LABEL[bp], bkey)
        rows.append((case, LABEL[peer], metric_name, v, bl, bv, st))

    for vk, vname in VARIANTS:
        for p in ORDER:
            add(vname, p, vk + "-gbps", "Gbit/s", "tput")
            add(vname, p, vk + "-cpu-client", "client cpu s/GB", "cpu")
            add(vname, p, vk + "-cpu-server", "server cpu s/GB", "cpu")
    # Fraction of the ceiling: the lower of the cipher's one-core seal+open rate and the
    # bare veth of the same direction.
    for vk, vname in VARIANTS[:2]:
        for p in ("tun-ss", "redir-ss", "ss-redir", "hev"):
            add("cipher ceiling, " + vname[4:], p, vk + "-gbps", "Gbit/s", None, "ceiling")
    for lk, base, lname in LOSS:
        for p in LOSS_PEERS:
            add(lname, p, lk + "-gbps", "Gbit/s (vs its own lossless)", None, p, base + "-gbps")
            if lk == "tcp200-up":
                add(lname, p, lk + "-cpu-client", "client cpu s/GB", None, p, base + "-cpu-client")
        add(lname, "tun-ss", lk + "-gbps", "Gbit/s (vs hev)", None, "hev")
    cc = meta.get("connsetup", {})
    cname = "connection setup (%s conns, %s at a time)" % (cc.get("count", "?"), cc.get("concurrency", "?"))
    for p in ORDER:
        add(cname, p, "conn-rate", "conns/s", "conn")
        add(cname, p, "conn-p50-ms", "p50 ms to 1st byte", "conn")
        add(cname, p, "conn-p99-ms", "p99 ms to 1st byte", "conn")
    ch = meta.get("churn", {})
    chname = "short-connection churn (%s conns, %s at a time)" % (ch.get("count", "?"), ch.get("concurrency", "?"))
    for p in ORDER:
        add(chname, p, "churn-rate", "conns/s", "conn")
        add(chname, p, "churn-failed", "failed", None)
        add(chname, p, "churn-p99-ms", "p99 ms to 1st byte", "conn")
    mem = meta.get("memory", {})
    for key, count in (("rss-kib-small", mem.get("small")), ("rss-kib-large", mem.get("large"))):
        def name(p, key=key, count=count):
            n = m.get(p, {}).get(key.replace("kib", "count"))
            return "KiB RSS/conn" if n == count else "KiB RSS/conn, %d held" % (n or 0)
        for p in ORDER:
            add("idle memory, %s conns" % count, p, key, name, "rss")
    u = meta.get("udp", {})
    for lvl in ("low", "high", "down"):
        case = "UDP %s Mbit/s offered, %s-byte datagrams" % (u.get(lvl + "_mbit", u.get("high_mbit", "?")), u.get("size", "?"))
        if lvl == "down":
            case = "UDP download (iperf3 -R), " + case[4:]
        for p in ORDER:
            add(case, p, "udp-%s-dps" % lvl, "datagrams/s received", "udp")
            add(case, p, "udp-%s-loss" % lvl, "loss %", "udp")
            add(case, p, "udp-%s-cpu-us-client" % lvl, "client cpu us/datagram", "udp")
            add(case, p, "udp-%s-cpu-us-server" % lvl, "server cpu us/datagram", "udp")
            add(case, p, "udp-%s-server-drops" % lvl, "server socket overflows", None)
    d = meta.get("dns", {})
    for kind, case in (("hit", "DNS cache hits, %s names (dnsperf -c 1 -q %s, %s s)" %
                        (d.get("hits", "?"), d.get("outstanding", "?"), d.get("seconds", "?"))),
                       ("miss", "DNS cache misses, %s new names once each (-q %s, <= %s s)" %
                        (d.get("misses", "?"), d.get("outstanding", "?"), d.get("seconds", "?"))),
                       ("miss-full", "DNS misses, cache full: %s new names, each evicts (<= %s s)" %
                        (d.get("misses_full", "?"), d.get("seconds", "?")))):
        for p in ORDER:
            bps = [b for q, b in DNS_PEERS if q == p]
            for k, name, compared in DNS_METRICS if bps else []:
                key = "dns-%s-%s" % (kind, k)
                # One row per baseline measured, or one without a baseline.
                have = [b for b in bps if compared and b and key in m.get(b, {})]
                for bp in have or [None]:
                    add(case, p, key, name, None, bp)
    return rows


def table_text(rows, meta):
    out = []
    head = ("case", "peer", "metric", "value", "baseline", "ratio")
    w = [max(len(head[0]), *(len(r[0]) for r in rows)) if rows else 10,
         max(len(head[1]), *(len(r[1]) for r in rows)) if rows else 10,
         max(len(head[2]), *(len(r[2]) for r in rows)) if rows else 10, 9, 36, 7]
    line = "%-*s  %-*s  %-*s  %*s  %-*s  %*s"
    out.append(line % (w[0], head[0], w[1], head[1], w[2], head[2], w[3], head[3], w[4], head[4], w[5], head[5]))
    prev = None
    for case, peer, metric, v, bl, bv, st in rows:
        if prev is not None and case != prev:
            out.append("")
        prev = case
        base = "%s (%s)" % (fmt(bv), bl) if bl else "-"
        out.append(line % (w[0], case, w[1], peer, w[2], metric, w[3], fmt(v), w[4], base,
                           w[5], ratio_text(st)))
    return "\n".join(out)


def ratio_text(st):
    """median ratio, and [min-max] when several rounds gave one"""
    if st is None:
        return "-"
    med, lo, hi, n = st
    return "%.2fx" % med if n < 2 else "%.2fx [%.2f-%.2f]" % (med, lo, hi)


def check_goals(goals, m, runs):
    res = []
    for g in goals:
        v = get(m, g["value"])
        b = get(m, g["baseline"]) if g.get("baseline") else 1.0
        r = {"id": g.get("id"), "what": g.get("what", ""), "value": v,
             "baseline": b if g.get("baseline") else None, "min": g.get("min"), "max": g.get("max")}
        st = (ratios(runs, g["value"], g["baseline"]) if g.get("baseline") else
              spread(runs, g["value"]))
        if v is None or b in (None, 0) or st is None:
            r["status"] = "skip"
            r["why"] = "not measured: %s" % (g["value"] if v is None else g["baseline"])
        else:
            ratio = st[0]  # the median of the rounds
            r["ratio"] = ratio
            r["ratio_min"], r["ratio_max"], r["rounds"] = st[1], st[2], st[3]
            ok = True
            if "min" in g and ratio < g["min"]:
                ok = False
            if "max" in g and ratio > g["max"]:
                ok = False
            r["status"] = "pass" if ok else "FAIL"
        res.append(r)
    return res


def goals_text(res):
    out = ["goals (bench/goals.yaml):"]
    for r in res:
        bound = (">= %g" % r["min"]) if r.get("min") is not None else ("<= %g" % r["max"])
        if r["status"] == "skip":
            out.append("  %-4s  %-34s %s  (%s)" % ("skip", r["id"], r["what"], r["why"]))
        else:
            got = ("%.3fx" % r["ratio"]) if r["baseline"] is not None else fmt(r["ratio"])
            if r.get("rounds", 1) > 1:
                got += " (median of %d; %s-%s)" % (r["rounds"], fmt(r["ratio_min"]), fmt(r["ratio_max"]))
            out.append("  %-4s  %-34s %s: %s, goal %s" % (r["status"], r["id"], r["what"], got, bound))
    return "\n".join(out)


def chart(m, meta, outdir, runs):
    gp = shutil.which("gnuplot")
    if not gp:
        return "gnuplot not found: no chart"
    d = os.path.join(outdir, ".chart")
    os.makedirs(d, exist_ok=True)
    present = [p for p in ORDER if p in m]

    def val(p, k):
        v = m.get(p, {}).get(k)
        return "-" if v is None else "%.6g" % v

    def having(key):
        return [p for p in present if key in m[p]]

    def val3(p, k):  # median, min and max over the rounds
        st = spread(runs, p + "/" + k)
        return "- - -" if st is None else "%.6g %.6g %.6g" % st[:3]

    def write(name, peers, keys, fn=val):
        with open(os.path.join(d, name), "w") as f:
            for p in peers:
                f.write('"%s" %s\n' % (LABEL[p].replace(" -> ", "\\n-> ").replace(" + ", "\\n+ "),
                                       " ".join(fn(p, k) for k in keys)))
        return os.path.join(d, name)

    nruns = len(runs)
    bars = "; median of %d rounds, whiskers min..max" % nruns if nruns > 1 else ""

    ceil = meta.get("cipher", {}).get("sealopen_gbps")
    mem = meta.get("memory", {})
    u = meta.get("udp", {})
    dn = meta.get("dns", {})
    bare = m.get("bare", {})
    # Panels (full width?, gnuplot lines), each drawn only when something was measured.
    panels = []
    # The bare veth is 5-10x any proxied path: left out of the bars, given in the title.
    tput_peers = [p for p in present if p != "bare" and any(v + "-gbps" in m[p] for v, _ in VARIANTS)]
    if tput_peers:
        tput = write("tput.dat", tput_peers, [v + "-gbps" for v, _ in VARIANTS], val3)
        top = [spread(runs, "%s/%s-gbps" % (p, v)) for p in tput_peers for v, _ in VARIANTS]
        ymax = 1.15 * max([ceil or 0] + [t[2] for t in top if t] + [0.1])
        panels.append((True, """
set title "TCP throughput, iperf3 (Gbit/s%s). Bare veth (not drawn): %s / %s / %s / %s. Dashed: cipher one-core seal+open ceiling %s"
set ylabel "Gbit/s"
set yrange [0:%.2f]
set key outside right top
set style histogram errorbars gap 1 lw 1
plot "%s" using 2:3:4:xtic(1) title "1 stream up", "" using 5:6:7 title "1 stream down", \\
     "" using 8:9:10 title "8 streams up", "" using 11:12:13 title "8 streams down", \\
     %s with lines dashtype 2 lw 2 lc rgb "black" title "cipher ceiling"
set style histogram clustered gap 1
""" % (bars, fmt(bare.get("tcp1-up-gbps")), fmt(bare.get("tcp1-down-gbps")), fmt(bare.get("tcp8-up-gbps")),
       fmt(bare.get("tcp8-down-gbps")), fmt(ceil), ymax, tput, ceil or 0)))
    loss_keys = [lk + "-gbps" for lk, _, _ in LOSS]
    loss_peers = [p for p in present if any(k in m[p] for k in loss_keys)]
    if loss_peers:
        loss = write("loss.dat", loss_peers, loss_keys, val3)
        panels.append((True, """
set title "Under loss into the tun (bare: into the veth), 1 stream, and 200 upload streams without loss (Gbit/s%s; lossless 1 stream: see above)"
set ylabel "Gbit/s"
set key outside right top
set style histogram errorbars gap 1 lw 1
plot "%s" using 2:3:4:xtic(1) title "0.5 %% up", "" using 5:6:7 title "0.5 %% down", \\
     "" using 8:9:10 title "2 %% up", "" using 11:12:13 title "2 %% down", \\
     "" using 14:15:16 title "200 streams up"
set style histogram clustered gap 1
""" % (bars, loss)))
    cpu_keys = ["tcp1-up-cpu-client", "tcp1-down-cpu-client", "tcp1-up-cpu-server", "tcp1-down-cpu-server"]
    cpu_peers = [p for p in present if p != "bare" and any(k in m[p] for k in cpu_keys)]
    if cpu_peers:
        cpu = write("cpu.dat", cpu_peers, cpu_keys)
        panels.append((False, """
set title "CPU seconds per GB moved, 1 stream (lower is better)"
set ylabel "s/GB"
plot "%s" using 2:xtic(1) title "client-side proxy, up", "" using 3 title "client-side proxy, down", \\
     "" using 4 title "server side (ss-server/microsocks), up", "" using 5 title "server side, down"
""" % cpu))
    conn_peers = having("conn-p99-ms")
    if conn_peers:
        conn = write("conn.dat", conn_peers, ["conn-p50-ms", "conn-p99-ms", "conn-rate"])
        panels.append((False, """
set title "Connection setup: connect() to first reply byte (ms, lower is better)"
set ylabel "ms"
plot "%s" using 2:xtic(1) title "p50", "" using 3 title "p99"
""" % conn))
    rss_peers = having("rss-kib-small")
    if rss_peers:
        rss = write("rss.dat", rss_peers, ["rss-kib-small", "rss-kib-large"])
        panels.append((False, """
set title "RSS per idle proxied connection (KiB, lower is better)"
set ylabel "KiB"
plot "%s" using 2:xtic(1) title "%s conns", "" using 3 title "%s conns"
""" % (rss, mem.get("small", "?"), mem.get("large", "?"))))
    udp_peers = having("udp-high-dps")
    if udp_peers:
        udp = write("udp.dat", udp_peers, ["udp-low-dps", "udp-high-dps", "udp-low-loss", "udp-high-loss"])
        panels.append((False, """
set title "UDP, iperf3 -u: datagrams/s received (%s-byte datagrams); loss %% in the JSON and table"
set ylabel "datagrams/s"
plot "%s" using 2:xtic(1) title "offered %s Mbit/s", "" using 3 title "offered %s Mbit/s"
""" % (u.get("size", "?"), udp, u.get("low_mbit", "?"), u.get("high_mbit", "?"))))
    dns_peers = [p for p in present if "dns-hit-qps" in m[p] or "dns-miss-qps" in m[p]]
    if dns_peers:
        dns = write("dns.dat", dns_peers, ["dns-hit-qps", "dns-miss-qps", "dns-miss-full-qps",
                                           "dns-hit-ms", "dns-miss-ms", "dns-miss-full-ms"])
        full = any("dns-miss-full-qps" in m[p] for p in dns_peers)
        what = "cache %s, %s hit names, %s misses; dnsperf -q %s" % (
            dn.get("cache_size", "?"), dn.get("hits", "?"), dn.get("misses", "?"), dn.get("outstanding", "?"))
        panels.append((False, """
set title "DNS queries/s, %s"
set ylabel "queries/s"
plot "%s" using 2:xtic(1) title "cache hits", "" using 3 title "cache misses"%s
""" % (what, dns, ', "" using 4 title "misses, cache full"' if full else "")))
        panels.append((False, """
set title "DNS mean latency (ms, lower is better), %s outstanding"
set ylabel "ms"
plot "%s" using 5:xtic(1) title "cache hits", "" using 6 title "cache misses"%s
""" % (dn.get("outstanding", "?"), dns, ', "" using 7 title "misses, cache full"' if full else "")))
    if not panels:
        shutil.rmtree(d, ignore_errors=True)
        return "nothing measured: no chart"
    # Rows: a full-width panel alone, the others two by two.
    rows, cur = [], []
    for wide, body in panels:
        if wide:
            if cur:
                rows.append(cur)
                cur = []
            rows.append([(wide, body)])
        else:
            cur.append((wide, body))
            if len(cur) == 2:
                rows.append(cur)
                cur = []
    if cur:
        rows.append(cur)
    height = 570 * len(rows)
    h = (1 - 30.0 / height) / len(rows)  # 30 pixels on top for the title
    png = os.path.join(outdir, "chart.png")
    secs = meta.get("seconds")
    if meta.get("only"):
        secs = "%s s per DNS run, %s only" % (dn.get("seconds"), meta["only"])
    else:
        secs = "%s s per case" % secs
    script = """
set terminal pngcairo size 1800,%d font ",10"
set output "%s"
set datafile missing "-"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set xtics nomirror font ",9"
set bmargin 5
set multiplot title "snet-tun bench, %s, %s, veth MTU 1500, %s"
""" % (height, png, meta.get("method"), secs, meta.get("date", ""))
    for r, row in enumerate(rows):
        for c, (wide, body) in enumerate(row):
            script += "set origin %.3f,%.3f\nset size %s,%.3f\nset yrange [0:*]\nset key inside top left\n" % (
                0.5 * c, (len(rows) - 1 - r) * h, "1" if wide else "0.5", h) + body
    script += "unset multiplot\n"
    sp = os.path.join(d, "chart.gp")
    with open(sp, "w") as f:
        f.write(script)
    r = subprocess.run([gp, sp], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        return "gnuplot failed: " + r.stderr.strip().splitlines()[-1] if r.stderr.strip() else "gnuplot failed"
    shutil.rmtree(d, ignore_errors=True)
    return None


def main(argv):
    if len(argv) < 4:
        print(__doc__)
        return 2
    raw, metaf, goalsf, outdir = argv[:4]
    check = "--check" in argv[4:]
    runs = load_raw(raw)
    with open(metaf) as f:
        meta = json.load(f)
    # The ceiling a ss path could reach: the cipher's seal+open rate on one core, or the
    # bare veth of the same direction (of the same round), whichever is lower.
    cg = meta.get("cipher", {}).get("sealopen_gbps")
    for r in runs.values():
        for vk, _ in VARIANTS:
            veth = r.get("bare", {}).get(vk + "-gbps")
            cands = [x for x in (cg, veth) if x]
            if cands:
                r.setdefault("ceiling", {})[vk + "-gbps"] = min(cands)
    m = medians(runs)
    rows = build_rows(m, meta, runs)
    text = table_text(rows, meta)
    goals = check_goals(parse_goals(goalsf), m, runs)
    gtext = goals_text(goals)
    c = meta.get("cipher", {})
    header = ("ratio = value / baseline, same run; for cpu, ms, KiB and lost % lower is better." if not c else
              "cipher %s: seal %s MB/s, open %s MB/s, seal+open %s MB/s on one core = ceiling %s Gbit/s\n"
              "  (the ceiling: a proxied byte is sealed by the client-side proxy and opened by\n"
              "  ss-server, both on this machine's shared cores, so the rate at which one core\n"
              "  does both is the most a ss path can carry per core; compared below with\n"
              "  min(ceiling, bare veth)). ratio = value / baseline, same run; for cpu, ms, KiB\n"
              "  and loss/lost %% lower is better." % (meta.get("method"), fmt(c.get("seal_mbs")), fmt(c.get("open_mbs")),
                                                    fmt(c.get("sealopen_mbs")), fmt(c.get("sealopen_gbps"))))
    notes = meta.get("notes", [])
    err = chart(m, meta, outdir, runs)
    if err:
        notes.append(err)
    print(header)
    print()
    print(text)
    print()
    print(gtext)
    if notes:
        print()
        print("notes:")
        for n in notes:
            print("  - " + n)
    with open(os.path.join(outdir, "table.txt"), "w") as f:
        f.write(header + "\n\n" + text + "\n\n" + gtext + "\n")
        if notes:
            f.write("\nnotes:\n" + "".join("  - %s\n" % n for n in notes))
    out = {"meta": meta, "peers": {p: LABEL.get(p, p) for p in m},
           "rounds": len(runs),
           "metrics": m,
           "metrics_by_round": {str(k): v for k, v in sorted(runs.items())},
           "table": [{"case": r[0], "peer": r[1], "metric": r[2], "value": r[3],
                      "baseline_peer": r[4] or None, "baseline": r[5],
                      "ratio": r[6][0] if r[6] else None,
                      "ratio_min": r[6][1] if r[6] else None,
                      "ratio_max": r[6][2] if r[6] else None,
                      "ratio_rounds": r[6][3] if r[6] else 0} for r in rows],
           "goals": goals}
    with open(os.path.join(outdir, "results.json"), "w") as f:
        json.dump(out, f, indent=1)
    print()
    print("wrote %s/results.json, %s/table.txt%s" % (outdir, outdir, "" if err else ", %s/chart.png" % outdir))
    if check:
        failed = [g for g in goals if g["status"] == "FAIL"]
        if failed:
            print("check: %d goal(s) failed: %s" % (len(failed), ", ".join(g["id"] for g in failed)))
            return 1
        print("check: every goal that could be measured passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
