"""Load generators, pinned to the client core: wrk (HTTP/1.1 keep-alive) and h2load (h2c; its
per-request log gives exact latency percentiles)."""

import os
import re
import subprocess
import tempfile

from .peers import CLIENT_CORE

_UNITS = {"us": 1.0, "ms": 1000.0, "s": 1e6}


class LoadResult:
    def __init__(self, ok, done, seconds, p50_us=None, p99_us=None, errors=0, note=""):
        self.ok = ok              # successful (2xx) responses
        self.done = done          # responses of any kind
        self.seconds = seconds    # measured duration
        self.p50_us = p50_us
        self.p99_us = p99_us
        self.errors = errors      # non-2xx, socket errors, timeouts
        self.note = note

    @property
    def rps(self):
        return self.ok / self.seconds if self.seconds > 0 else 0.0


def _duration_us(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    return float(m.group(1)) * _UNITS[m.group(2)] if m else None


def _run(argv, timeout):
    try:
        p = subprocess.run(["taskset", "-c", str(CLIENT_CORE)] + argv, capture_output=True,
                           text=True, timeout=timeout)
        return p.returncode, p.stdout + p.stderr
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else ""
        return -1, out + "\n(timed out)"


def wrk(url, connections, seconds):
    """HTTP/1.1 keep-alive load with one wrk thread."""
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s", url]
    rc, out = _run(argv, seconds + 60)
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", out)
    if rc != 0 or not m:
        return LoadResult(0, 0, seconds, errors=1, note=f"wrk failed: {out.strip()[-300:]}")
    done = int(m.group(1))
    secs = float(m.group(2)) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[m.group(3)]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    bad = int(non2xx.group(1)) if non2xx else 0
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    sock_errors = sum(int(x) for x in sock.groups()) if sock else 0
    pct = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    return LoadResult(done - bad, done, secs, _duration_us(pct.get("50", "")),
                      _duration_us(pct.get("99", "")), errors=bad + sock_errors)


def _percentile(sorted_values, q):
    if not sorted_values:
        return None
    k = min(len(sorted_values) - 1, max(0, int(round(q * (len(sorted_values) - 1)))))
    return sorted_values[k]


def h2load(url, connections, streams, seconds, h1=False, latency=False):
    """h2load with one thread; with `latency`, p50/p99 from its per-request log."""
    argv = ["h2load", "-t1", f"-c{connections}", f"-m{streams}", f"-D{seconds}"]
    if h1:
        argv.append("--h1")
    log = None
    if latency:
        fd, log = tempfile.mkstemp(prefix="h2load-", suffix=".log")
        os.close(fd)
        argv.append(f"--log-file={log}")
    argv.append(url)
    try:
        rc, out = _run(argv, seconds + 60)
        fin = re.search(r"finished in ([\d.]+)(us|ms|s)", out)
        req = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                        r"(\d+) errored, (\d+) timeout", out)
        if rc != 0 or not fin or not req:
            return LoadResult(0, 0, seconds, errors=1, note=f"h2load failed: {out.strip()[-300:]}")
        secs = float(fin.group(1)) * {"us": 1e-6, "ms": 1e-3, "s": 1.0}[fin.group(2)]
        done, ok = int(req.group(1)), int(req.group(2))
        errors = int(req.group(3)) + int(req.group(4)) + int(req.group(5))
        p50 = p99 = None
        if log:
            lat = []
            with open(log) as f:
                for line in f:
                    cols = line.split("\t")
                    if len(cols) >= 3 and cols[1].startswith("2"):
                        lat.append(float(cols[2]))
            lat.sort()
            p50, p99 = _percentile(lat, 0.50), _percentile(lat, 0.99)
        return LoadResult(ok, done, secs, p50, p99, errors=errors + (done - ok))
    finally:
        if log:
            os.unlink(log)
