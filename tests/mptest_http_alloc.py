"""MicroPython only: what lib/httpd.py allocates. Header lookups allocate nothing (heap locked);
a request allocates the same whatever its number of headers (no per-header objects); a static
file allocates the same whatever its size (nothing per chunk through the one buffer); the heap
comes back after many requests (nothing kept). The bytes per request are printed for
docs/design/http.md (64-bit unix port: about twice a 32-bit board's)."""

import asyncio
import gc
import os

import httpd
import micropython

WWW = "tests/fixtures/http/www"
BIG = "/tmp/linky-mptest-http-big.bin"


class NullStream:
    """Gives `req` in as few reads as the buffers allow, takes every write; drain is asyncio's
    shared sleep_ms(0)."""

    def __init__(self, req):
        self.req = memoryview(req)
        self.at = 0
        self.sent = 0
        self.closed = False

    async def readinto(self, buf):
        n = min(len(buf), len(self.req) - self.at)
        if n <= 0:
            return 0
        buf[:n] = self.req[self.at : self.at + n]  # a memoryview: the same cost for any size
        self.at += n
        return n

    def write(self, b):
        self.sent += len(b)

    def drain(self):
        return asyncio.sleep_ms(0)

    async def wait_closed(self):
        self.closed = True


def _server():
    srv = httpd.Server(1, 1536)
    srv.route("GET", "/a", lambda req: (200, "text/plain", b"ok", ""))
    import httpd_file  # loaded for the file answers anyway

    httpd_file.static(srv, "/s/", WWW)
    httpd_file.static(srv, "/t/", "/tmp")
    return srv


def _allocated(srv, raw):
    """Bytes allocated (collector off) to serve `raw`, and the stream."""
    s = NullStream(raw)
    gc.collect()
    gc.disable()
    try:
        a = gc.mem_alloc()
        asyncio.run(srv.serve(s))
        b = gc.mem_alloc()
    finally:
        gc.enable()
    return b - a, s


def test_header_lookup_allocates_nothing():
    srv = _server()
    req = srv._pool[0]
    raw = b"GET /a?x=1 HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip\r\nContent-Length: 12\r\n\r\n"
    req.buf[: len(raw)] = raw
    import httpd_conn

    assert httpd_conn.parse(req, len(raw) - 4) == 0 and req._n == 12
    micropython.heap_lock()
    try:
        a = httpd_conn.hval(req, b"\r\naccept-encoding:")
        b = httpd_conn.hval(req, b"\r\nif-none-match:")
        c = httpd_conn.hval(req, b"\r\ncontent-length:")
    finally:
        micropython.heap_unlock()
    assert raw[a : a + 4] == b"gzip" and b == -1 and raw[c : c + 2] == b"12"


def test_request_allocation_does_not_grow_with_headers():
    srv = _server()
    few = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
    many = b"".join(b"X-H%02d: value\r\n" % i for i in range(20))
    many = b"GET /a HTTP/1.1\r\n" + many + b"\r\n"
    _allocated(srv, few)  # warm-up (first-call caches)
    n1, s1 = _allocated(srv, few)
    n2, s2 = _allocated(srv, many)
    assert s1.sent == s2.sent > 0 and s1.closed
    print("bytes allocated per request (64-bit):", n1)
    assert n1 == n2, (n1, n2)


def test_static_file_allocation_does_not_grow_with_size():
    srv = _server()
    with open(BIG, "wb") as f:
        chunk = bytes(range(256)) * 16
        for _ in range(25):  # 100 KB: 67 chunks of 1536 bytes
            f.write(chunk)
    try:
        small = b"GET /s/big.bin HTTP/1.1\r\n\r\n"
        big = b"GET /t/linky-mptest-http-big.bin HTTP/1.1\r\n\r\n"
        _allocated(srv, small)
        n1, s1 = _allocated(srv, small)
        n2, s2 = _allocated(srv, big)
        assert s1.sent > 5000 and s2.sent > 102400
        print("bytes allocated per static file (64-bit):", n1, n2)
        # the longer path and file name cost a few blocks; 67 chunks would cost far more
        assert n2 - n1 <= 128, (n1, n2)
    finally:
        os.remove(BIG)


def test_heap_comes_back_after_many_requests():
    srv = _server()
    reqs = (
        b"GET /a HTTP/1.1\r\n\r\n",
        b"GET /s/index.html HTTP/1.1\r\nAccept-Encoding: gzip\r\n\r\n",
        b"GET /nothing HTTP/1.1\r\n\r\n",
        b"BAD\r\n\r\n",
    )
    for r in reqs:
        asyncio.run(srv.serve(NullStream(r)))
    gc.collect()
    base = gc.mem_alloc()
    for _ in range(50):
        for r in reqs:
            asyncio.run(srv.serve(NullStream(r)))
    gc.collect()
    assert gc.mem_alloc() - base <= 256, (base, gc.mem_alloc())
    assert srv.served == 204 and srv.bad == 51  # every answer counts


def test_history_sample_allocates_nothing():
    import web_fixture as wf

    app = wf.make_app()
    h = app.history
    rd = app.readings
    h.sample(rd)
    micropython.heap_lock()
    try:
        for i in range(20):
            rd.seq += i & 1  # fresh, then not
            h.sample(rd)
    finally:
        micropython.heap_unlock()
    assert h.count == h.points


ROUNDS = 40


def test_web_api_heap_comes_back():
    """/api/state, /api/history, /api/session and a page through firmware/web.py's server,
    handlers imported and dropped per request: nothing kept after many of them."""
    import os as _os

    import web_fixture as wf
    import web_paths

    from firmware import web

    app = wf.make_app()
    srv = web.make(app)
    reqs = (
        b"GET /api/state HTTP/1.1\r\n\r\n",
        b"GET /api/history HTTP/1.1\r\n\r\n",
        b"GET /api/session HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nAccept-Encoding: gzip\r\n\r\n",
        b"GET /generate_204 HTTP/1.1\r\n\r\n",
    )
    _os.chdir(app.dir)
    try:
        for r in reqs:
            asyncio.run(srv.serve(NullStream(r)))
        gc.collect()
        base = gc.mem_alloc()
        least = 1 << 30
        for _ in range(ROUNDS):
            for r in reqs:
                s = NullStream(r)
                asyncio.run(srv.serve(s))
                least = min(least, s.sent)
        gc.collect()
        kept = gc.mem_alloc() - base
    finally:
        _os.chdir(web_paths.ROOT)
    print("web: bytes kept after %d requests (64-bit):" % (ROUNDS * 5), kept)
    assert kept <= 512, (base, kept)
    assert srv.served == ROUNDS * 5 + 5 and srv.errors == 0 and least > 0


if __name__ == "__main__":
    import mpunit

    mpunit.main(globals())
