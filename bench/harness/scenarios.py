"""One round of the benchmark for one target: memory, then load (throughput, latency, ladder).

Each measurement is a dict appended to `records`:
  kind  thr | lat | ladder | mem
  target, round, pair, body, conns
  rps, cpu_us (proxy CPU per successful request), util (proxy CPU / wall time),
  p50_us, p99_us, errors, idle_kib, h1_conn_kib, h2c_conn_kib
"""

import time

from . import idle, load

THR_CONNECTIONS = 16  # wrk connections; h2load: 16 connections x 10 streams
THR_STREAMS = 10
BIG_BODY = 64 * 1024
SMALL_BODY = 100
LADDER_MAX_ACTIVE = 1000  # above this a ladder rung holds the rest of its connections idle


class Settings:
    def __init__(self, rounds, thr_seconds, big_seconds, lat_seconds, ladder_seconds, ladder,
                 mem_connections, warmup_seconds, slow_rounds):
        self.rounds = rounds
        self.slow_rounds = slow_rounds  # the ladder and memory run in the first slow_rounds only
        self.thr_seconds = thr_seconds
        self.big_seconds = big_seconds
        self.lat_seconds = lat_seconds
        self.ladder_seconds = ladder_seconds
        self.ladder = ladder
        self.mem_connections = mem_connections
        self.warmup_seconds = warmup_seconds


def _url(target, pair, body):
    return f"http://127.0.0.1:{target.port(pair)}{target.path(pair, body)}"


def _measure(target, upstream, fn):
    """Runs fn() and returns (result, proxy CPU seconds, wall seconds, upstream CPU seconds)."""
    cpu0, up0, t0 = target.cpu(), upstream.cpu(), time.monotonic()
    result = fn()
    return result, target.cpu() - cpu0, time.monotonic() - t0, upstream.cpu() - up0


def _record(records, base, result, cpu, wall, up_cpu, is_direct):
    rec = dict(base)
    rec.update(rps=result.rps, p50_us=result.p50_us, p99_us=result.p99_us, errors=result.errors,
               requests=result.ok, note=result.note)
    if result.ok > 0:
        rec["up_cpu_us"] = up_cpu / result.ok * 1e6
        if not is_direct:
            rec["cpu_us"] = cpu / result.ok * 1e6
            rec["util"] = cpu / wall if wall > 0 else None
    records.append(rec)
    return rec


def _throughput(target, pair, body, seconds):
    url = _url(target, pair, body)
    if pair.startswith("h2c"):
        return lambda: load.h2load(url, THR_CONNECTIONS, THR_STREAMS, seconds)
    return lambda: load.wrk(url, THR_CONNECTIONS, seconds)


def run_memory(target, upstream_port, workdir, s, rnd, records, log):
    """Fresh process each time: idle RSS, then RSS per idle HTTP/1.1 (and h2c) connection."""
    rec = {"kind": "mem", "target": target.name, "round": rnd}
    for proto in ("h1", "h2c"):
        target.start(upstream_port, workdir)
        try:
            time.sleep(0.2)
            before = target.rss()
            if proto == "h1":
                rec["idle_kib"] = before
            pair = "h2c-h1" if proto == "h2c" else "h1-h1"
            socks, failures = idle.open_idle(target.port(pair), s.mem_connections, proto == "h2c",
                                             target.path(pair, SMALL_BODY))
            time.sleep(0.3)
            after = target.rss()
            if socks:
                rec[f"{proto}_conn_kib"] = (after - before) / len(socks)
            rec["errors"] = rec.get("errors", 0) + failures
            idle.close_all(socks)
        finally:
            target.stop()
    records.append(rec)
    log(f"  mem   {target.name:17s} idle {rec.get('idle_kib', 0) / 1024:6.1f} MiB  "
        f"h1 {rec.get('h1_conn_kib', float('nan')):6.2f} KiB/conn  "
        f"h2c {rec.get('h2c_conn_kib', float('nan')):6.2f} KiB/conn")


def run_load(target, upstream, workdir, s, rnd, records, log):
    target.start(upstream.port, workdir)
    try:
        if s.warmup_seconds > 0:
            load.wrk(_url(target, "h1-h1", SMALL_BODY), THR_CONNECTIONS, s.warmup_seconds)
        for pair in target.pairs:
            for body, seconds in ((SMALL_BODY, s.thr_seconds), (BIG_BODY, s.big_seconds)):
                base = {"kind": "thr", "target": target.name, "round": rnd, "pair": pair, "body": body}
                res = _measure(target, upstream, _throughput(target, pair, body, seconds))
                rec = _record(records, base, *res, target.is_direct)
                log(f"  thr   {target.name:17s} {pair:6s} {body:6d}B {rec['rps']:9.0f} req/s  "
                    f"cpu {rec.get('cpu_us', 0):6.1f} us/req  util {rec.get('util') or 0:4.0%}  "
                    f"err {rec['errors']} {rec['note']}")
            url = _url(target, pair, SMALL_BODY)
            base = {"kind": "lat", "target": target.name, "round": rnd, "pair": pair, "body": SMALL_BODY}
            if pair.startswith("h2c"):
                lat = lambda: load.h2load(url, 1, 1, s.lat_seconds, latency=True)  # noqa: E731
            else:  # h2load --h1 rejects HAProxy's empty reason phrase ("HTTP/1.1 200 ")
                lat = lambda: load.wrk(url, 1, s.lat_seconds)  # noqa: E731
            res = _measure(target, upstream, lat)
            rec = _record(records, base, *res, target.is_direct)
            log(f"  lat   {target.name:17s} {pair:6s} p50 {rec['p50_us'] or 0:7.1f} us  "
                f"p99 {rec['p99_us'] or 0:7.1f} us  err {rec['errors']} {rec['note']}")
        if rnd <= s.slow_rounds:
            run_ladder(target, upstream, s, rnd, records, log)
    finally:
        target.stop()


def _reuse_latency_run(target, rnd, records):
    """The ladder's first rung (1 connection) is the HTTP/1.1 latency run (wrk -c1) of this round."""
    for r in records:
        if r["kind"] == "lat" and r["target"] == target.name and r["round"] == rnd and r["pair"] == "h1-h1":
            rec = dict(r, kind="ladder", conns=1)
            records.append(rec)
            return True
    return False


def run_ladder(target, upstream, s, rnd, records, log):
    """HTTP/1.1 -> HTTP/1.1 with N open connections: min(N, 1000) loaded by wrk, the rest idle."""
    pair = "h1-h1"
    url = _url(target, pair, SMALL_BODY)
    for n in s.ladder:
        active = min(n, LADDER_MAX_ACTIVE)
        if n == 1 and _reuse_latency_run(target, rnd, records):
            continue
        socks, failures = [], 0
        if n > active:
            socks, failures = idle.open_idle(target.port(pair), n - active, False,
                                             target.path(pair, SMALL_BODY), idle.LADDER_BATCH)
        try:
            base = {"kind": "ladder", "target": target.name, "round": rnd, "pair": pair,
                    "body": SMALL_BODY, "conns": n}
            seconds = s.ladder_seconds if n >= LADDER_MAX_ACTIVE else max(1, s.ladder_seconds // 2)
            res = _measure(target, upstream, lambda: load.wrk(url, active, seconds))
            rec = _record(records, base, *res, target.is_direct)
            rec["errors"] += failures
            log(f"  ladder {target.name:16s} {n:6d} conns {rec['rps']:9.0f} req/s  "
                f"cpu {rec.get('cpu_us', 0):6.1f} us/req  p99 {rec['p99_us'] or 0:8.0f} us  "
                f"err {rec['errors']} {rec['note']}")
        finally:
            idle.close_all(socks)
            if socks:
                time.sleep(0.3)
