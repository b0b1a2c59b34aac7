"""The proxies under test: how to configure, start and reach each one.

Every target exposes an HTTP/1.1 port and an h2c port (the same port for all but nginx). Requests
under /h2/ go to the upstream over h2c, every other path over HTTP/1.1; a target that cannot
speak a protocol pair says so in `pairs`.
"""

import os
import re
import string
import time

from . import procs

CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")

PAIRS = ["h1-h1", "h2c-h1", "h1-h2", "h2c-h2"]
ALL_TARGETS = ["direct", "seawall", "seawall-policies", "haproxy", "nginx", "nghttpx"]
PROXY_CORE = 1
CLIENT_CORE = 0


def render(template, out_path, **values):
    with open(os.path.join(CONFIG_DIR, template)) as f:
        text = string.Template(f.read()).substitute(values)
    with open(out_path, "w") as f:
        f.write(text)
    return out_path


class Target:
    """One proxy (or `direct`: the load generator straight to the upstream)."""

    def __init__(self, name, pairs, seawall_bin=None, template=None):
        self.name = name
        self.pairs = pairs
        self.seawall_bin = seawall_bin
        self.template = template
        self.proc = None
        self.h1_port = self.h2c_port = None

    @property
    def is_direct(self):
        return self.name == "direct"

    def path(self, pair, body):
        upstream = pair.split("-")[1]
        return f"/{upstream}/bench?body_size={body}"

    def port(self, pair):
        return self.h2c_port if pair.startswith("h2c") else self.h1_port

    def start(self, upstream_port, workdir):
        """Starts the proxy pinned to PROXY_CORE; returns once it answers through both paths."""
        if self.is_direct:
            self.h1_port = self.h2c_port = upstream_port
            return
        d = os.path.join(workdir, self.name)
        os.makedirs(d, exist_ok=True)
        port = procs.free_port()
        self.h1_port = self.h2c_port = port
        log = os.path.join(d, "stdout.log")
        if self.name.startswith("seawall"):
            cfg = render(self.template, os.path.join(d, "seawall.yaml"), port=port,
                         admin_port=procs.free_port(), upstream_port=upstream_port)
            argv = [self.seawall_bin, "--config", cfg]
        elif self.name == "haproxy":
            cfg = render("haproxy.cfg.in", os.path.join(d, "haproxy.cfg"), port=port,
                         upstream_port=upstream_port)
            argv = ["haproxy", "-db", "-f", cfg]
        elif self.name == "nginx":
            self.h2c_port = procs.free_port()
            for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
                os.makedirs(os.path.join(d, sub), exist_ok=True)
            cfg = render("nginx.conf.in", os.path.join(d, "nginx.conf"), port=port,
                         h2c_port=self.h2c_port, upstream_port=upstream_port, dir=d)
            argv = ["nginx", "-p", d, "-c", cfg]
        elif self.name == "nghttpx":
            cfg = render("nghttpx.conf.in", os.path.join(d, "nghttpx.conf"), port=port,
                         upstream_port=upstream_port, dir=d)
            argv = ["nghttpx", "--conf", cfg]
        else:
            raise ValueError(self.name)
        self.proc = procs.Proc(self.name, argv, PROXY_CORE, log)
        if not procs.wait_port(port) or not procs.wait_port(self.h2c_port):
            raise RuntimeError(f"{self.name} did not listen:\n{self.proc.log_tail()}")
        deadline = time.monotonic() + 5
        want = ["/h1/ready"] + (["/h2/ready"] if "h1-h2" in self.pairs else [])
        while want and time.monotonic() < deadline:
            if procs.http_get_ok(port, want[0]):
                want.pop(0)
            else:
                time.sleep(0.05)
        if want:
            raise RuntimeError(f"{self.name} does not proxy {want[0]}:\n{self.proc.log_tail()}")

    def stop(self):
        if self.proc is not None:
            self.proc.stop()
            self.proc = None

    def cpu(self):
        return self.proc.cpu() if self.proc else 0.0

    def rss(self):
        return self.proc.rss() if self.proc else 0


def make_targets(seawall_bin, names):
    known = {
        "direct": lambda: Target("direct", ["h1-h1", "h2c-h2"]),
        "seawall": lambda: Target("seawall", PAIRS, seawall_bin, "seawall.yaml.in"),
        "seawall-policies": lambda: Target("seawall-policies", PAIRS, seawall_bin,
                                           "seawall-policies.yaml.in"),
        "haproxy": lambda: Target("haproxy", PAIRS),
        "nginx": lambda: Target("nginx", ["h1-h1", "h2c-h1"]),
        "nghttpx": lambda: Target("nghttpx", PAIRS),
    }
    return [known[n]() for n in names]


def start_upstream(build_dir, workdir):
    binary = os.path.join(build_dir, "seawall-test-upstream")
    up = procs.Proc("upstream", [binary, "--listen", "127.0.0.1:0", "--name", "bench"],
                    CLIENT_CORE, os.path.join(workdir, "upstream.log"))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        m = re.search(r"LISTENING (\d+)", up.log_tail())
        if m:
            up.port = int(m.group(1))
            return up
        time.sleep(0.05)
    up.stop()
    raise RuntimeError(f"the upstream did not start: {up.log_tail()}")
