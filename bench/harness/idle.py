"""Idle connections: open N connections to a proxy, make one request on each (so every connection
is fully set up, HTTP/2 settings exchanged), then leave them open and silent.

Used to measure RSS per open connection and to hold the idle part of the connection ladder."""

import resource
import selectors
import socket
import struct
import time

LADDER_BATCH = 100  # connections whose first request is in flight at once

_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_FRAME_DATA, _FRAME_HEADERS, _FRAME_SETTINGS, _FRAME_PING = 0x0, 0x1, 0x4, 0x6
_FLAG_END_STREAM, _FLAG_ACK = 0x1, 0x1


def raise_fd_limit(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(hard, max(soft, want))
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


def _frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def _hpack_literal(index, value):
    """Literal header field without indexing, name from the static table, no Huffman."""
    v = value.encode()
    assert index < 15 and len(v) < 127
    return bytes([index, len(v)]) + v


def _h2_request(path):
    block = (b"\x82"                      # :method GET
             + b"\x86"                    # :scheme http
             + _hpack_literal(4, path)    # :path
             + _hpack_literal(1, "bench"))  # :authority
    return _PREFACE + _frame(_FRAME_SETTINGS, 0, 0) + _frame(_FRAME_HEADERS, 0x4 | _FLAG_END_STREAM, 1, block)


class _H1State:
    def __init__(self):
        self.buf = b""

    def feed(self, data, sock):
        self.buf += data
        head_end = self.buf.find(b"\r\n\r\n")
        if head_end < 0:
            return False
        length = 0
        for line in self.buf[:head_end].split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        return len(self.buf) >= head_end + 4 + length


class _H2State:
    def __init__(self):
        self.buf = b""

    def feed(self, data, sock):
        self.buf += data
        done = False
        while len(self.buf) >= 9:
            length = int.from_bytes(self.buf[:3], "big")
            if len(self.buf) < 9 + length:
                break
            kind, flags = self.buf[3], self.buf[4]
            stream = int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF
            payload = self.buf[9:9 + length]
            self.buf = self.buf[9 + length:]
            if kind == _FRAME_SETTINGS and not flags & _FLAG_ACK:
                sock.sendall(_frame(_FRAME_SETTINGS, _FLAG_ACK, 0))
            elif kind == _FRAME_PING and not flags & _FLAG_ACK:
                sock.sendall(_frame(_FRAME_PING, _FLAG_ACK, 0, payload))
            elif kind in (_FRAME_HEADERS, _FRAME_DATA) and stream == 1 and flags & _FLAG_END_STREAM:
                done = True
        return done


def open_idle(port, count, h2c, path, batch=1, timeout=60.0):
    """Opens `count` connections with one completed request each; returns (sockets, failures).

    `batch` requests are in flight at once: 1 (the default, for memory) keeps the proxy at one
    upstream connection, so the RSS delta is the cost of the client connections alone."""
    raise_fd_limit(count + 1024)
    request = (_h2_request(path) if h2c else
               f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
    opened, failures = [], 0
    deadline = time.monotonic() + timeout
    for start in range(0, count, batch):
        sel = selectors.DefaultSelector()
        pending = 0
        for _ in range(min(batch, count - start)):
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                s.sendall(request)
                s.setblocking(False)
            except OSError:
                failures += 1
                continue
            sel.register(s, selectors.EVENT_READ, _H2State() if h2c else _H1State())
            pending += 1
        while pending and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=0.5):
                s = key.fileobj
                try:
                    data = s.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                s.setblocking(True)
                complete = bool(data) and key.data.feed(data, s)
                s.setblocking(False)
                if not data or complete:
                    sel.unregister(s)
                    pending -= 1
                    if complete:
                        opened.append(s)
                    else:
                        failures += 1
                        s.close()
        for key in list(sel.get_map().values()):
            failures += 1
            key.fileobj.close()
        sel.close()
    return opened, failures


def close_all(socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass
