#!/usr/bin/env python3
"""report.py -- bench/run's report: the table, bench/out/results.json, the chart and the
goal check, from the raw numbers one run collected.

report.py RAW META GOALS OUTDIR [--check]
  RAW    lines "PEER|METRIC|VALUE" (VALUE a number)
  META   JSON object: method, seconds, mtu, kernel, date, counts, notes, ...
  GOALS  bench/goals.yaml
Writes OUTDIR/results.json, OUTDIR/table.txt, OUTDIR/chart.png (gnuplot) and prints the
table and the goals. With --check, exits 1 when a goal that could be evaluated failed.
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


def baseline_peer(peer, group, m):
    """Which peer a number is compared with (same run), or None."""
    have = lambda p: p in m
    if group == "tput":
        return {"tun-ss": "hev" if have("hev") else "ss-redir", "tun-direct": "bare",
                "redir-ss": "ss-redir", "ss-redir": "bare", "redsocks": "bare",
                "redir-socks5": "redsocks", "hev": "bare"}.get(peer)
    if group == "cpu":
        return {"tun-ss": "hev" if have("hev") else "ss-redir", "redir-ss": "ss-redir",
                "redir-socks5": "redsocks"}.get(peer)
    if group == "conn":
        return {"tun-ss": "ss-redir", "redir-ss": "ss-redir", "ss-redir": "bare",
                "redsocks": "bare", "hev": "bare"}.get(peer)
    if group == "rss":
        return {"tun-ss": "ss-redir", "redir-ss": "ss-redir", "hev": "ss-redir"}.get(peer)
    if group == "udp":
        return {"tun-ss": "ss-redir" if have("ss-redir") and "udp-high-dps" in m["ss-redir"] else "bare",
                "ss-redir": "bare"}.get(peer)
    return None


def load_raw(path):
    m = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            peer, metric, value = line.split("|")
            try:
                m.setdefault(peer, {})[metric] = float(value)
            except ValueError:
                pass
    return m


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


def build_rows(m, meta):
    rows = []  # (case, peer, metric, value, baseline label, baseline value, ratio)

    def add(case, peer, metric_key, metric_name, group, bp=None):
        v = m.get(peer, {}).get(metric_key)
        if callable(metric_name):
            metric_name = metric_name(peer)
        if v is None:
            return
        if group is not None:
            bp = baseline_peer(peer, group, m)
        bv = m.get(bp, {}).get(metric_key) if bp else None
        ratio = v / bv if (bv not in (None, 0)) else None
        rows.append((case, LABEL[peer], metric_name, v, LABEL[bp] if bv is not None else "",
                     bv, ratio))

    for vk, vname in VARIANTS:
        for p in ORDER:
            add(vname, p, vk + "-gbps", "Gbit/s", "tput")
            add(vname, p, vk + "-cpu-client", "client cpu s/GB", "cpu")
            add(vname, p, vk + "-cpu-server", "server cpu s/GB", "cpu")
    # Fraction of the ceiling: the lower of the cipher's one-core seal+open rate and the
    # bare veth of the same direction.
    for vk, vname in VARIANTS[:2]:
        c = m.get("ceiling", {}).get(vk + "-gbps")
        for p in ("tun-ss", "redir-ss", "ss-redir", "hev"):
            v = m.get(p, {}).get(vk + "-gbps")
            if v is not None and c:
                rows.append(("cipher ceiling, " + vname[4:], LABEL[p], "Gbit/s", v,
                             LABEL["ceiling"], c, v / c))
    cc = meta.get("connsetup", {})
    cname = "connection setup (%s conns, %s at a time)" % (cc.get("count", "?"), cc.get("concurrency", "?"))
    for p in ORDER:
        add(cname, p, "conn-rate", "conns/s", "conn")
        add(cname, p, "conn-p50-ms", "p50 ms to 1st byte", "conn")
        add(cname, p, "conn-p99-ms", "p99 ms to 1st byte", "conn")
    mem = meta.get("memory", {})
    for key, count in (("rss-kib-small", mem.get("small")), ("rss-kib-large", mem.get("large"))):
        def name(p, key=key, count=count):
            n = m.get(p, {}).get(key.replace("kib", "count"))
            return "KiB RSS/conn" if n == count else "KiB RSS/conn, %d held" % (n or 0)
        for p in ORDER:
            add("idle memory, %s conns" % count, p, key, name, "rss")
    u = meta.get("udp", {})
    for lvl in ("low", "high"):
        case = "UDP %s Mbit/s offered, %s-byte datagrams" % (u.get(lvl + "_mbit", "?"), u.get("size", "?"))
        for p in ORDER:
            add(case, p, "udp-%s-dps" % lvl, "datagrams/s received", "udp")
            add(case, p, "udp-%s-loss" % lvl, "loss %", "udp")
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
    for case, peer, metric, v, bl, bv, ratio in rows:
        if prev is not None and case != prev:
            out.append("")
        prev = case
        base = "%s (%s)" % (fmt(bv), bl) if bl else "-"
        out.append(line % (w[0], case, w[1], peer, w[2], metric, w[3], fmt(v), w[4], base,
                           w[5], "%.2fx" % ratio if ratio is not None else "-"))
    return "\n".join(out)


def check_goals(goals, m):
    res = []
    for g in goals:
        v = get(m, g["value"])
        b = get(m, g["baseline"]) if g.get("baseline") else 1.0
        r = {"id": g.get("id"), "what": g.get("what", ""), "value": v,
             "baseline": b if g.get("baseline") else None, "min": g.get("min"), "max": g.get("max")}
        if v is None or b in (None, 0):
            r["status"] = "skip"
            r["why"] = "not measured: %s" % (g["value"] if v is None else g["baseline"])
        else:
            ratio = v / b
            r["ratio"] = ratio
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
            out.append("  %-4s  %-34s %s: %s, goal %s" % (r["status"], r["id"], r["what"], got, bound))
    return "\n".join(out)


def chart(m, meta, outdir):
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

    def write(name, peers, keys):
        with open(os.path.join(d, name), "w") as f:
            for p in peers:
                f.write('"%s" %s\n' % (LABEL[p].replace(" -> ", "\\n-> ").replace(" + ", "\\n+ "),
                                       " ".join(val(p, k) for k in keys)))
        return os.path.join(d, name)

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
        tput = write("tput.dat", tput_peers, [v + "-gbps" for v, _ in VARIANTS])
        ymax = 1.15 * max([ceil or 0] + [m[p].get(v + "-gbps") or 0 for p in tput_peers for v, _ in VARIANTS] + [0.1])
        panels.append((True, """
set title "TCP throughput, iperf3 (Gbit/s). Bare veth (not drawn): %s / %s / %s / %s. Dashed: cipher one-core seal+open ceiling %s"
set ylabel "Gbit/s"
set yrange [0:%.2f]
set key outside right top
plot "%s" using 2:xtic(1) title "1 stream up", "" using 3 title "1 stream down", \\
     "" using 4 title "8 streams up", "" using 5 title "8 streams down", \\
     %s with lines dashtype 2 lw 2 lc rgb "black" title "cipher ceiling"
""" % (fmt(bare.get("tcp1-up-gbps")), fmt(bare.get("tcp1-down-gbps")), fmt(bare.get("tcp8-up-gbps")),
       fmt(bare.get("tcp8-down-gbps")), fmt(ceil), ymax, tput, ceil or 0)))
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
    m = load_raw(raw)
    with open(metaf) as f:
        meta = json.load(f)
    # The ceiling a ss path could reach: the cipher's seal+open rate on one core, or the
    # bare veth of the same direction, whichever is lower.
    cg = meta.get("cipher", {}).get("sealopen_gbps")
    for vk, _ in VARIANTS:
        veth = m.get("bare", {}).get(vk + "-gbps")
        cands = [x for x in (cg, veth) if x]
        if cands:
            m.setdefault("ceiling", {})[vk + "-gbps"] = min(cands)
    rows = build_rows(m, meta)
    text = table_text(rows, meta)
    goals = check_goals(parse_goals(goalsf), m)
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
    err = chart(m, meta, outdir)
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
           "metrics": m,
           "table": [{"case": r[0], "peer": r[1], "metric": r[2], "value": r[3],
                      "baseline_peer": r[4] or None, "baseline": r[5], "ratio": r[6]} for r in rows],
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
