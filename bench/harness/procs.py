"""Processes of the benchmark: start pinned to a core, wait until ready, read CPU time and RSS
from /proc, stop by PID."""

import os
import signal
import socket
import subprocess
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children():
    """pid -> list of child pids, from /proc/*/stat."""
    kids = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        kids.setdefault(int(fields[1]), []).append(int(entry))
    return kids


def process_tree(pid):
    """pid and all its descendants (nghttpx forks its worker; the others are one process)."""
    kids = _children()
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(kids.get(p, []))
    return tree


def _schedstat_ns(pid):
    """CPU time of every live thread of pid from /proc/<pid>/task/*/schedstat (nanoseconds), or
    None when the kernel does not provide it."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return total


def cpu_seconds(pid):
    """CPU time (user + system) of pid and its descendants, all threads, in seconds.

    From schedstat's run time (nanoseconds) when available, else utime + stime of
    /proc/<pid>/stat (clock ticks: 10 ms, too coarse for 1-second runs)."""
    tree = process_tree(pid)
    precise = [_schedstat_ns(p) for p in tree]
    if all(ns is not None for ns in precise):
        return sum(precise) / 1e9
    total = 0
    for p in tree:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / CLK_TCK


def rss_kib(pid):
    """VmRSS of pid and its descendants, in KiB."""
    total = 0
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total


def wait_port(port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def http_get_ok(port, path, timeout=2.0):
    """One HTTP/1.1 GET; True on a 200 answer."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while b"\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            return data.startswith(b"HTTP/1.1 200")
    except OSError:
        return False


class Proc:
    """A process pinned to `core` with taskset (exec'd, so the PID is the program's)."""

    def __init__(self, name, argv, core, log_path, env=None):
        self.name = name
        self.log_path = log_path
        self._log = open(log_path, "ab")
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.popen = subprocess.Popen(["taskset", "-c", str(core)] + argv, stdin=subprocess.DEVNULL,
                                      stdout=self._log, stderr=subprocess.STDOUT, env=full_env,
                                      start_new_session=True)
        self.pid = self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def cpu(self):
        return cpu_seconds(self.pid)

    def rss(self):
        return rss_kib(self.pid)

    def stop(self, timeout=5.0):
        if self.alive():
            tree = process_tree(self.pid)
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
            for p in tree[1:]:  # a forked worker that outlived its parent
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
        self._log.close()

    def log_tail(self, lines=20):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""
