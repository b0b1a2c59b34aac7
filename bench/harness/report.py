"""Medians over rounds, the ratio table, the targets of issue 6, and results.md."""

import statistics

from .peers import PAIRS
from .scenarios import BIG_BODY, SMALL_BODY

PEERS = ["haproxy", "nginx", "nghttpx"]
SEAWALL = "seawall"
POLICIES = "seawall-policies"
# Best peer's CPU per request measured when issue 6 was filed (one proxy core, 100-byte bodies).
ISSUE_REFERENCE_US = {"h1-h1": 23.7, "h2c-h1": 15.7, "h1-h2": 25.4, "h2c-h2": 19.1}
PAIR_TITLES = {"h1-h1": "HTTP/1.1 -> HTTP/1.1", "h2c-h1": "h2c -> HTTP/1.1",
               "h1-h2": "HTTP/1.1 -> h2c", "h2c-h2": "h2c -> h2c"}


def median(records, metric, **match):
    values = [r[metric] for r in records
              if r.get(metric) is not None and all(r.get(k) == v for k, v in match.items())]
    return statistics.median(values) if values else None


def direct_pair(pair):
    """The direct run whose client protocol is the pair's (latency added = proxy - direct)."""
    return "h2c-h2" if pair.startswith("h2c") else "h1-h1"


def fmt(value, digits=1, unit=""):
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}{unit}"


def fmt_ratio(value):
    return "n/a" if value is None else f"{value:.2f}x"


def ratio(a, b):
    return a / b if a is not None and b else None


def _best_peer(records, metric, kind, pair, **extra):
    best = None
    for peer in PEERS:
        v = median(records, metric, kind=kind, target=peer, pair=pair, **extra)
        if v is not None and (best is None or v < best[1]):
            best = (peer, v)
    return best


def _mark(ok):
    return "n/a" if ok is None else ("**met**" if ok else "**not met**")


def cpu_table(records, targets):
    proxies = [t for t in targets if t != "direct"]
    lines = ["| pair | " + " | ".join(proxies)
             + " | best peer | Seawall / best peer | Seawall / each peer | target <= 0.8x |",
             "|---" * (len(proxies) + 5) + "|"]
    verdicts = {}
    for pair in PAIRS:
        cells = [fmt(median(records, "cpu_us", kind="thr", target=t, pair=pair, body=SMALL_BODY))
                 for t in proxies]
        sw = median(records, "cpu_us", kind="thr", target=SEAWALL, pair=pair, body=SMALL_BODY)
        best = _best_peer(records, "cpu_us", "thr", pair, body=SMALL_BODY)
        r = ratio(sw, best[1]) if best else None
        each = []
        for peer in PEERS:
            v = median(records, "cpu_us", kind="thr", target=peer, pair=pair, body=SMALL_BODY)
            each.append(f"{peer} {fmt_ratio(ratio(sw, v))}")
        ok = None if r is None else r <= 0.8
        verdicts[pair] = ok
        lines.append(f"| {PAIR_TITLES[pair]} | " + " | ".join(cells)
                     + f" | {best[0] + ' ' + fmt(best[1]) if best else 'n/a'} | {fmt_ratio(r)} | "
                     + ", ".join(each) + f" | {_mark(ok)} |")
    return lines, verdicts


def throughput_table(records, targets, body):
    lines = ["| pair | " + " | ".join(targets) + " |", "|---" * (len(targets) + 1) + "|"]
    for pair in PAIRS:
        cells = []
        for t in targets:
            p = direct_pair(pair) if t == "direct" else pair
            rps = median(records, "rps", kind="thr", target=t, pair=p, body=body)
            cpu = median(records, "cpu_us", kind="thr", target=t, pair=p, body=body)
            util = median(records, "util", kind="thr", target=t, pair=p, body=body)
            cell = fmt(rps, 0)
            if cpu is not None:
                cell += f" ({fmt(cpu)} us, {util:.0%})"
            cells.append(cell)
        lines.append(f"| {PAIR_TITLES[pair]} | " + " | ".join(cells) + " |")
    return lines


def latency_table(records, targets):
    lines = ["| pair | " + " | ".join(targets) + " |", "|---" * (len(targets) + 1) + "|"]
    verdicts = {}
    for pair in PAIRS:
        cells = []
        d50 = median(records, "p50_us", kind="lat", target="direct", pair=direct_pair(pair))
        d99 = median(records, "p99_us", kind="lat", target="direct", pair=direct_pair(pair))
        added = {}
        for t in targets:
            p = direct_pair(pair) if t == "direct" else pair
            p50 = median(records, "p50_us", kind="lat", target=t, pair=p)
            p99 = median(records, "p99_us", kind="lat", target=t, pair=p)
            if p50 is None:
                cells.append("n/a")
                continue
            cell = f"{fmt(p50, 0)} / {fmt(p99, 0)}"
            if t != "direct" and d50 is not None:
                added[t] = (p50 - d50, p99 - d99)
                cell += f" ({p50 - d50:+,.0f} / {p99 - d99:+,.0f})"
            cells.append(cell)
        peers = [added[p] for p in PEERS if p in added]
        if SEAWALL in added and peers:
            verdicts[pair] = (added[SEAWALL][0] <= min(a[0] for a in peers),
                              added[SEAWALL][1] <= min(a[1] for a in peers))
        lines.append(f"| {PAIR_TITLES[pair]} | " + " | ".join(cells) + " |")
    return lines, verdicts


def ladder_table(records, targets, ladder):
    lines = ["| target | " + " | ".join(f"{n:,} conns" for n in ladder) + " |",
             "|---" * (len(ladder) + 1) + "|"]
    cliffs = {}
    for t in targets:
        cells, rates = [], []
        for n in ladder:
            rps = median(records, "rps", kind="ladder", target=t, conns=n)
            cpu = median(records, "cpu_us", kind="ladder", target=t, conns=n)
            p99 = median(records, "p99_us", kind="ladder", target=t, conns=n)
            err = median(records, "errors", kind="ladder", target=t, conns=n)
            rates.append(rps)
            cell = fmt(rps, 0)
            if cpu is not None:
                cell += f" ({fmt(cpu)} us)"
            if p99 is not None:
                cell += f" p99 {fmt(p99 / 1000, 1)} ms"
            if err:
                cell += f" err {err:.0f}"
            cells.append(cell)
        valid = [r for r in rates if r]
        if valid and rates[-1] is not None:
            cliffs[t] = rates[-1] >= 0.5 * max(valid)
        lines.append(f"| {t} | " + " | ".join(cells) + " |")
    return lines, cliffs


def memory_table(records, targets):
    lines = ["| target | idle RSS | per idle HTTP/1.1 connection | per idle h2c connection |",
             "|---|---|---|---|"]
    for t in targets:
        if t == "direct":
            continue
        idle_kib = median(records, "idle_kib", kind="mem", target=t)
        h1 = median(records, "h1_conn_kib", kind="mem", target=t)
        h2 = median(records, "h2c_conn_kib", kind="mem", target=t)
        lines.append(f"| {t} | {fmt(idle_kib / 1024 if idle_kib else None, 1, ' MiB')} | "
                     f"{fmt(h1, 2, ' KiB')} | {fmt(h2, 2, ' KiB')} |")
    return lines


def targets_summary(records, cpu_verdicts, lat_verdicts, cliffs):
    out = []
    for pair in PAIRS:
        out.append(f"- CPU per request <= 0.8x best peer, {PAIR_TITLES[pair]}: {_mark(cpu_verdicts.get(pair))}")
    for pair in PAIRS:
        v = lat_verdicts.get(pair)
        out.append(f"- Added latency (1 in flight) <= best peer's, {PAIR_TITLES[pair]}: "
                   f"p50 {_mark(v[0] if v else None)}, p99 {_mark(v[1] if v else None)}")
    for pair in PAIRS:
        a = median(records, "cpu_us", kind="thr", target=POLICIES, pair=pair, body=SMALL_BODY)
        b = median(records, "cpu_us", kind="thr", target=SEAWALL, pair=pair, body=SMALL_BODY)
        r = ratio(a, b)
        out.append(f"- All policies <= 1.05x no policy, {PAIR_TITLES[pair]}: {fmt_ratio(r)} "
                   f"{_mark(None if r is None else r <= 1.05)}")
    h1 = median(records, "h1_conn_kib", kind="mem", target=SEAWALL)
    h2 = median(records, "h2c_conn_kib", kind="mem", target=SEAWALL)
    out.append(f"- Idle memory per HTTP/1.1 connection <= 1 KiB: {fmt(h1, 2, ' KiB')} "
               f"{_mark(None if h1 is None else h1 <= 1.0)}")
    out.append(f"- Idle memory per h2c connection <= 2 KiB: {fmt(h2, 2, ' KiB')} "
               f"{_mark(None if h2 is None else h2 <= 2.0)}")
    out.append(f"- No cliff from 1 to 10,000 connections (req/s at the top rung >= half the best "
               f"rung): {_mark(cliffs.get(SEAWALL))}")
    return out


def build(records, targets, settings, machine, micro_lines, notes):
    cpu_lines, cpu_verdicts = cpu_table(records, targets)
    lat_lines, lat_verdicts = latency_table(records, targets)
    ladder_lines, cliffs = ladder_table(records, targets, settings.ladder)
    md = ["# Seawall benchmark results", ""]
    md += [f"- {k}: {v}" for k, v in machine]
    md += ["", "## Headline: proxy CPU time per request (us, 100-byte bodies, medians)", ""]
    md += ["Lower is better. The proxy runs one worker pinned to core 1; load generator and upstream "
           "share core 0 and usually saturate first, so CPU per request, not requests/s, ranks "
           "the proxies. Reference (best peer when issue 6 was filed): "
           + ", ".join(f"{PAIR_TITLES[p]} {v} us" for p, v in ISSUE_REFERENCE_US.items()) + ".", ""]
    md += cpu_lines
    md += ["", "## Targets (issue 6)", ""] + targets_summary(records, cpu_verdicts, lat_verdicts, cliffs)
    md += ["", "## Throughput, 100-byte bodies", "",
           "requests/s (proxy CPU us per request, proxy core utilisation). HTTP/1.1 clients: wrk, "
           f"16 connections; h2c clients: h2load, 16 connections x 10 streams. direct = the same "
           "client straight to the upstream.", ""]
    md += throughput_table(records, targets, SMALL_BODY)
    md += ["", "## Throughput, 64 KiB bodies", ""] + throughput_table(records, targets, BIG_BODY)
    md += ["", "## Latency with one request in flight (wrk -c1, h2load -c1 -m1)", "",
           "p50 / p99 in us (added over direct, whose client speaks the same protocol).", ""]
    md += lat_lines
    md += ["", "## Connection ladder (HTTP/1.1 -> HTTP/1.1, 100-byte bodies)", "",
           f"N open connections: min(N, 1,000) loaded by wrk, the rest idle after one request each. "
           "requests/s (proxy CPU us per request) and wrk's p99.", ""]
    md += ladder_lines
    md += ["", f"## Memory (VmRSS; {settings.mem_connections:,} idle connections, one request "
           "each, fresh process per protocol)", ""]
    md += memory_table(records, targets)
    if micro_lines:
        md += ["", "## Micro-benchmarks (bench/micro, Google Benchmark)", ""] + micro_lines
    md += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(md) + "\n", cpu_lines
