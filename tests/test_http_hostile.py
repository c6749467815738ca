"""Hostile HTTP against a real lib/httpd.py server process on 127.0.0.1 (tests/http_runner.py),
run by the MicroPython unix port and by CPython: garbage bytes, oversized headers and bodies,
path traversal, requests left hanging half sent, a slow drip, 50 connections at once. After
each attack the server answers a normal request, the ticker task beside it (standing for the
TIC reader) has kept counting, no handler error was logged, and on MicroPython the heap in use
after a collection is back near where it started. Every socket has a timeout; attacks are
bounded in count (seeded random data)."""

import json
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import upy

# A real server process under attack: make test runs these, make check does not.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_MS = 1000  # the server's per-request limit in these runs
HEAP_SLACK = 4096  # bytes the heap may keep after the attacks (64-bit unix port)


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture(scope="module", params=["micropython", "cpython"])
def server(request):
    port = _free_port()
    args = [str(ROOT / "tests" / "http_runner.py"), str(port), str(TIMEOUT_MS)]
    if request.param == "micropython":
        cmd = [upy.require_micropython(), "-X", "heapsize=512K", *args]
        env = upy.env_with(upy.micropypath(ROOT / "lib", ROOT / "tests"))
    else:
        cmd = [sys.executable, "-u", *args]
        env = dict(os.environ)
    p = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        line = p.stdout.readline()
        assert line.strip() == "READY", line + p.stdout.read()
        srv = Server(port, p, request.param)
        srv.start = srv.stats()
        yield srv
    finally:
        p.kill()
        p.wait()


class Server:
    def __init__(self, port, proc, kind):
        self.port = port
        self.proc = proc
        self.kind = kind
        self.last_ticks = -1
        self.errors = 0  # handler errors expected in the counters

    def exchange(self, data, timeout=5.0, drip=0.0, shut=False):
        """Send `data` (in 1-byte steps `drip` s apart when drip) on a new connection, end the
        sending side when `shut`, then read to the end; the bytes received (b"" if reset before
        any)."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        out = b""
        try:
            try:
                if drip:
                    for i in range(len(data)):
                        s.sendall(data[i : i + 1])
                        time.sleep(drip)
                else:
                    s.sendall(data)
                if shut:
                    s.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            while True:
                try:
                    b = s.recv(4096)
                except ConnectionResetError:
                    break
                if not b:
                    break
                out += b
        finally:
            s.close()
        return out

    def get(self, path, headers=""):
        raw = self.exchange(("GET %s HTTP/1.1\r\nHost: t\r\n%s\r\n" % (path, headers)).encode())
        return _parse(raw)

    def stats(self):
        st, _, body = self.get("/stats")
        assert st == 200
        return json.loads(body)

    def check_alive(self, strict=True):
        """A normal request is answered, the ticker kept counting (`strict`: it counted since
        the last check; only after attacks that last many ticks), no handler error."""
        st, _, body = self.get("/tick")
        assert st == 200, body
        t = json.loads(body)[0]
        assert t > self.last_ticks or (t == self.last_ticks and not strict), (t, self.last_ticks)
        self.last_ticks = t
        s = self.stats()
        assert s["errors"] == self.errors, s
        assert self.proc.poll() is None
        return s


def _parse(raw):
    """(status, headers dict, body) of a response; status 0 when nothing came back."""
    if not raw:
        return 0, {}, b""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0].startswith("HTTP/1.1 "), raw[:200]
    h = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        h[k.lower()] = v.strip()
    return int(lines[0].split(" ")[1]), h, body


def test_normal_requests(server):
    st, h, body = server.get("/s/index.html", "Accept-Encoding: gzip\r\n")
    assert st == 200 and h["content-encoding"] == "gzip"
    assert body == (ROOT / "tests/fixtures/http/www/index.html.gz").read_bytes()
    st, h, _ = server.get(
        "/s/index.html", "Accept-Encoding: gzip\r\nIf-None-Match: %s\r\n" % h["etag"]
    )
    assert st == 304
    head = b"POST /echo HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n"
    raw = server.exchange(head + b'{"a": 1}\n')
    assert _parse(raw)[0] == 200 and json.loads(_parse(raw)[2]) == {"echo": {"a": 1}}
    st, _, big = server.get("/s/big.bin")
    assert st == 200 and big == (ROOT / "tests/fixtures/http/www/big.bin").read_bytes()
    server.check_alive(strict=False)


def test_handler_exception_is_500(server):
    assert server.get("/boom")[0] == 500
    server.errors = 1  # what check_alive expects from now on


def test_garbage(server):
    """Random bytes, ended by a blank line or by the client's end of sending, then garbage
    in every part of a request (the cut TLS hello waits for the time limit)."""
    rnd = random.Random(10)
    for i in range(40):
        n = rnd.choice((1, 5, 100, 1000, 3000))
        data = bytes(rnd.getrandbits(8) for _ in range(n))
        if i % 2:
            data += b"\r\n\r\n"
        st, _, _ = _parse(server.exchange(data, shut=not i % 2))
        assert st == 0 or 400 <= st < 500, (i, st)
    for data in (
        b"\r\n\r\n",
        b"GET / HTTP/1.1\r\n" + b"\x00" * 50 + b"\r\n\r\n",
        b"GET /%%%% HTTP/1.1\r\n\r\n",
        b"GET /s/index.html HTTP/1.1\r\nAccept-Encoding: \xff\xfe\r\n\r\n",
        b"GET /s/index.html HTTP/1.1\r\nIf-None-Match: \x80\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 4\r\n\r\n"
        b"\xff\xfe{[",
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(range(256)) * 2,
    ):
        st, _, _ = _parse(server.exchange(data))
        assert st == 0 or 400 <= st < 500, (data[:40], st)
    server.check_alive()


def test_oversized_headers_and_bodies(server):
    st, _, _ = server.get("/tick", "X-Big: " + "a" * 10000 + "\r\n")
    assert st in (0, 431)
    st, _, _ = server.get("/tick", "".join("X-%d: 1\r\n" % i for i in range(200)))
    assert st in (0, 431)
    head = b"POST /echo HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
    assert _parse(server.exchange(head % 1000000))[0] == 413
    st, _, _ = _parse(server.exchange(head % 50000 + b"[" * 50000))
    assert st in (0, 413)
    assert _parse(server.exchange(head % 2000 + b"1" * 2000))[0] == 413
    server.check_alive(strict=False)


TRAVERSALS = (
    "/s/../secret.txt",
    "/s/..%2fsecret.txt",
    "/s/%2e%2e/secret.txt",
    "/s/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/s/sub/../../secret.txt",
    "/s/..\\secret.txt",
    "/s/..%5c..%5csecret.txt",
    "/s//etc/passwd",
    "/s/%2fetc%2fpasswd",
    "/s/.%2e/.%2e/secret.txt",
    "/s/%252e%252e%252fsecret.txt",
    "/s/%c0%ae%c0%ae/secret.txt",
    "/../../etc/passwd",
    "/s/../../../../../../etc/passwd",
)


def test_path_traversal(server):
    for path in TRAVERSALS:
        st, _, body = server.get(path)
        assert st in (400, 404), (path, st)
        assert b"secret" not in body and b"root:" not in body, path
    server.check_alive(strict=False)


@pytest.mark.slow
def test_half_sent_requests_are_dropped(server):
    """Three slots held by half-sent requests: each gets 408 after the time limit and is
    closed; a normal request that waited meanwhile is served."""
    import threading

    results = []

    def half(data):
        results.append(_parse(server.exchange(data, timeout=10)))

    partial = (
        b"GET /tick HTTP/1.1\r\nHost: t\r\n",
        b"GET /ti",
        b"POST /echo HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n[1,",
    )
    threads = [threading.Thread(target=half, args=(d,)) for d in partial]
    for t in threads:
        t.start()
    time.sleep(0.2)
    st, _, _ = server.get("/tick")  # waits for a slot, served once one is free
    assert st == 200
    for t in threads:
        t.join(15)
    assert [r[0] for r in results] == [408, 408, 408]
    # a drip of one byte every 50 ms is dropped at the limit, complete or not
    st, _, _ = _parse(server.exchange(b"GET /tick HTTP/1.1\r\n" + b"X: y\r\n" * 10, drip=0.05))
    assert st == 408
    s = server.check_alive()
    assert s["timeouts"] >= 4


@pytest.mark.slow
def test_fifty_connections_at_once(server):
    """Each socket sends its bytes as soon as it is connected. (Sending only once all 50 were
    connected failed on a loaded machine: when the server's accept queue (backlog 16) is full,
    Linux drops the next SYN and the client retries it a second later, so the first
    connections, accepted at once, sat idle past TIMEOUT_MS and got 408, the ones waiting for
    their slot 503, and no request was ever complete in time: no 200.)"""
    socks = []
    for i in range(50):
        s = socket.socket()
        s.settimeout(10)
        socks.append(s)
        if s.connect_ex(("127.0.0.1", server.port)):
            continue
        try:
            if i % 3 == 0:
                s.sendall(b"GET /s/big.bin HTTP/1.1\r\n\r\n")
            elif i % 3 == 1:
                s.sendall(b"GET /tick HTTP/1.1\r\n")  # never finished
        except OSError:
            pass
    statuses = []
    for s in socks:
        out = b""
        try:
            while True:
                b = s.recv(8192)
                if not b:
                    break
                out += b
        except OSError:
            pass
        s.close()
        statuses.append(_parse(out)[0])
    assert set(statuses) <= {0, 200, 408, 503}, statuses
    assert statuses.count(503) > 0 and statuses.count(200) > 0, statuses
    s = server.check_alive()
    assert s["busy"] > 0


def test_heap_back_after_attacks(server):
    """Last in the file: the server's state is where it was (MicroPython heap, in bytes, after
    a collection), and the ticker never stopped. Prints the figures for the record. (Until
    the exchange's time limit became a timer task in lib/httpd.py, wait_for's tasks kept a
    dropped copy of lib/httpd_conn.py, +7.3 KB, through a stale pointer in MicroPython's
    task queue: docs/design/memory-diet.md, round 6.)"""
    s = server.stats()
    assert s["errors"] == server.errors
    print("\n[%s] %s; at start: %s" % (server.kind, s, server.start))
    assert s["ticks"] > server.start["ticks"]
    if s["heap"] is not None:
        assert s["heap"] <= server.start["heap"] + HEAP_SLACK, (s["heap"], server.start["heap"])
