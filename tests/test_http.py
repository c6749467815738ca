# micropython: also
"""lib/httpd.py on CPython and the MicroPython unix port: routes, query/form/JSON parsing,
responses, cookies, limits (headers, body, fields, time, connections), static files (gzip,
ETag, 304, content types, streaming) and traversal attempts, through an in-memory stream at
the socket edge; then a few requests over real loopback sockets with a task ticking beside.
The hostile runs against a server process are in test_http_hostile.py."""

import asyncio
import os

import httpd
import httpd_form as form
import log

# Seconds each: make test runs them, make check does not (conftest.py).
SLOW_TESTS = ("test_catch_all_hook",)

WWW = "tests/fixtures/http/www"


class FakeStream:
    """The server's stream contract in memory: `data` is what the client sends, in reads of at
    most `chunk` bytes; `hang`: after the data, the client waits forever instead of ending."""

    def __init__(self, data, chunk=0, hang=False):
        self.rx = bytearray(data)
        self.tx = bytearray()
        self.chunk = chunk
        self.hang = hang
        self.closed = False

    async def readinto(self, buf):
        await asyncio.sleep(0)
        if not self.rx:
            if self.hang:
                await asyncio.sleep(3600)
            return 0
        n = min(len(buf), len(self.rx), self.chunk or len(self.rx))
        buf[:n] = self.rx[:n]
        self.rx = self.rx[n:]
        return n

    def write(self, b):
        if self.closed:
            raise OSError(32)
        self.tx += b

    async def drain(self):
        await asyncio.sleep(0)

    async def wait_closed(self):
        self.closed = True


class Resp:
    def __init__(self, raw, head=False):
        self.raw = bytes(raw)
        i = self.raw.find(b"\r\n\r\n")
        if i < 0:
            raise AssertionError("no complete head: %r" % self.raw[:200])
        lines = self.raw[:i].decode().split("\r\n")
        self.status = int(lines[0].split(" ")[1])
        self.status_line = lines[0]
        self.headers = {}
        self.cookies = []
        for ln in lines[1:]:
            k, v = ln.split(":", 1)
            if k.lower() == "set-cookie":
                self.cookies.append(v.strip())
            self.headers[k.lower()] = v.strip()
        self.body = self.raw[i + 4 :]
        if "content-length" in self.headers and not head:
            assert int(self.headers["content-length"]) == len(self.body), self.raw[:300]


def _run(coro):
    return asyncio.run(coro)


def ask(srv, raw, **kw):
    """One request through a FakeStream; the parsed response (or None: closed, no answer)."""
    s = FakeStream(raw, **kw)
    _run(srv.serve(s))
    assert s.closed
    return Resp(s.tx, raw.startswith(b"HEAD")) if s.tx else None


def get(srv, path, headers=""):
    return ask(srv, ("GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n" % (path, headers)).encode())


def post(srv, path, body, ctype, extra=""):
    if isinstance(body, str):
        body = body.encode()
    head = "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s\r\n"
    return ask(srv, (head % (path, ctype, len(body), extra)).encode() + body)


def _app(max_conns=3, bufsize=1536, **limits):
    srv = httpd.Server(max_conns, bufsize)
    for k, v in limits.items():
        setattr(srv, k, v)
    srv.route("GET", "/", lambda req: httpd.response(200, "root", "text/html"))
    srv.route("GET", "/api/", lambda req: httpd.response(200, "api:" + req.path), True)
    srv.route("GET", "/api/state", lambda req: {"p": req.path})  # after the prefix: never hit
    srv.route("GET", "/args", form.args)
    srv.route("POST", "/form", form.form)
    srv.route("POST", "/json", lambda req: {"got": form.json_body(req)})
    srv.route("GET", "/hdr", lambda req: [req.header("X-Thing"), req.header("host")])
    srv.route("GET", "/cookie", lambda req: [form.cookie(req, "sid"), form.cookie(req, "s")])
    srv.route("POST", "/empty", lambda req: 204)

    async def slow(req):
        await asyncio.sleep(0)
        return httpd.json_response(b'{"pre":1}')

    srv.route("GET", "/async", slow)
    import httpd_file  # loaded for the file answers anyway

    httpd_file.static(srv, "/s/", WWW)
    return srv


def test_routes_exact_prefix_and_methods():
    srv = _app()
    r = get(srv, "/")
    assert r.status == 200 and r.body == b"root", r.raw
    assert r.headers["content-type"] == "text/html"
    assert r.headers["connection"] == "close"
    assert r.status_line == "HTTP/1.1 200 OK"
    assert get(srv, "/api/state").body == b"api:/api/state"  # first match wins
    assert get(srv, "/api/x?y=1").body == b"api:/api/x"
    assert get(srv, "/nothing").status == 404
    assert post(srv, "/", "", "text/plain").status == 405
    r = post(srv, "/empty", "", "text/plain")
    assert r.status == 204 and r.body == b"" and "content-length" not in r.headers
    r = get(srv, "/async")
    assert r.status == 200 and r.body == b'{"pre":1}'
    assert r.headers["content-type"] == "application/json"
    r = ask(srv, b"HEAD / HTTP/1.0\r\n\r\n")
    assert r.status == 200 and r.body == b"" and r.headers["content-length"] == "4", r.raw
    assert srv.served == 8


def test_catch_all_hook():
    srv = _app()
    srv.catch_all = lambda req: form.redirect("http://192.168.4.1/")
    for path in ("/generate_204", "/hotspot-detect.html", "/x/y?z"):
        r = get(srv, path)
        assert r.status == 302 and r.headers["location"] == "http://192.168.4.1/", r.raw
    assert post(srv, "/", "", "text/plain").status == 405  # the path exists
    assert get(srv, "/").status == 200


def test_query_args():
    srv = _app()
    r = get(srv, "/args?a=1&b=x+y&c=%C3%A9t%C3%A9&d=&e&a=2&&f=%26%3D")
    assert r.status == 200
    import json

    assert json.loads(r.body) == {"a": "2", "b": "x y", "c": "été", "d": "", "e": "", "f": "&="}
    assert json.loads(get(srv, "/args").body) == {}
    assert get(srv, "/args?a=%zz").status == 400
    assert get(srv, "/args?a=%ff").status == 400  # not UTF-8
    assert get(srv, "/args?a=%4").status == 400
    many = "&".join("k%d=v" % i for i in range(17))
    assert get(srv, "/args?" + many).status == 413
    assert get(srv, "/args?" + many[: many.rfind("&")]).status == 200  # 16 fields


def test_form_parsing():
    srv = _app()
    form = "application/x-www-form-urlencoded"
    r = post(srv, "/form", "ssid=My+Box&pw=a%26b%3Dc&x=", form)
    import json

    assert json.loads(r.body) == {"ssid": "My Box", "pw": "a&b=c", "x": ""}, r.raw
    assert post(srv, "/form", "a=1", form + "; charset=UTF-8").status == 200
    assert post(srv, "/form", "a=1", "text/plain").status == 415
    assert post(srv, "/form", "a=%G1", form).status == 400
    assert post(srv, "/form", "&".join("f%d=1" % i for i in range(20)), form).status == 413


def test_json_bodies_and_responses():
    srv = _app()
    import json

    r = post(srv, "/json", '{"a": [1, 2], "b": "é"}', "application/json")
    assert r.status == 200 and json.loads(r.body) == {"got": {"a": [1, 2], "b": "é"}}
    assert post(srv, "/json", '{"a": ', "application/json").status == 400
    assert post(srv, "/json", "\xff", "application/json").status == 400
    assert post(srv, "/json", "{}", "text/plain").status == 415
    assert post(srv, "/json", "x" * 1025, "application/json").status == 413  # max_body 1024
    r = post(srv, "/json", "[" + "1," * 500 + "1]", "application/json")
    assert r.status == 200 and len(json.loads(r.body)["got"]) == 501


def test_headers_lookup_any_case():
    srv = _app()
    import json

    r = get(srv, "/hdr", "X-THING:  a value  \r\nx-other: 1\r\n")
    assert json.loads(r.body) == ["a value", "x"]
    r = get(srv, "/hdr")
    assert json.loads(r.body) == [None, "x"]


def test_cookies():
    srv = _app()
    import json

    r = get(srv, "/cookie", "Cookie: s=1; sid=abc.def; x=2\r\n")
    assert json.loads(r.body) == ["abc.def", "1"]
    assert json.loads(get(srv, "/cookie", "Cookie: sidx=1\r\n").body) == [None, None]
    line = form.set_cookie("sid", "abc123", max_age=3600)
    assert line == "Set-Cookie: sid=abc123; Path=/; Max-Age=3600; HttpOnly; SameSite=Strict\r\n"
    assert "Max-Age=0" in form.set_cookie("sid", "", max_age=0)
    for name, value in (
        ("sid", "a;b"),
        ("sid", "a\r\nX: y"),
        ("s id", "1"),
        ("a=b", "1"),
        ("", "1"),
    ):
        try:
            form.set_cookie(name, value)
        except ValueError:
            continue
        raise AssertionError("accepted %r=%r" % (name, value))
    srv.route("GET", "/login", lambda req: form.redirect("/", 303, form.set_cookie("sid", "t")))
    r = get(srv, "/login")
    assert r.status == 303 and r.headers["location"] == "/"
    assert r.cookies == ["sid=t; Path=/; HttpOnly; SameSite=Strict"]
    try:
        form.redirect("/x\r\nSet-Cookie: a=b")
    except ValueError:
        pass
    else:
        raise AssertionError("header injection in a redirect")


def test_handler_exception_is_a_500_and_one_log_line():
    srv = _app()

    def boom(req):
        raise KeyError("oops")

    srv.route("GET", "/boom", boom)
    srv.route("GET", "/teapot", lambda req: (_ for _ in ()).throw(httpd.HTTPError(403)))
    log.basicConfig(console=False)
    try:
        r = get(srv, "/boom")
        assert r.status == 500 and srv.errors == 1
        lines = [x for x in log.recent() if "http" in x]
        assert len(lines) == 1 and "GET /boom" in lines[0] and "oops" in lines[0], lines
        srv.route("GET", "/str", lambda req: "not a response")
        assert get(srv, "/str").status == 500 and srv.errors == 2
        assert len([x for x in log.recent() if "http" in x]) == 2
    finally:
        log.basicConfig()
    assert get(srv, "/").status == 200


def test_http_error_from_handler():
    srv = _app()

    def deny(req):
        raise httpd.HTTPError(403)

    srv.route("GET", "/deny", deny)
    r = get(srv, "/deny")
    assert r.status == 403 and r.body == b"Forbidden" and srv.errors == 0


def test_malformed_requests_get_400():
    srv = _app()
    bad = (
        b"GET\r\n\r\n",
        b"GET / \r\n\r\n",
        b"get / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/2.0\r\n\r\n",
        b"GET / HTTP/1.1 x\r\n\r\n",
        b"GET  / HTTP/1.1\r\n\r\n",
        b"GET x HTTP/1.1\r\n\r\n",
        b"GET http://h/ HTTP/1.1\r\n\r\n",
        b"VERYLONGMETHOD / HTTP/1.1\r\n\r\n",
        b"GET /\x01 HTTP/1.1\r\n\r\n",
        b"GET /\xff HTTP/1.1\r\n\r\n",
        b"GET /a%00b HTTP/1.1\r\n\r\n",
        b"GET /a%0d%0aX:%20y HTTP/1.1\r\n\r\n",
        b"GET /%e9 HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nno colon\r\n\r\n",
        b"GET / HTTP/1.1\r\n: empty name\r\n\r\n",
        b"GET / HTTP/1.1\r\nbad name: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nA: 1\r\n folded\r\n\r\n",
        b"POST /form HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
        b"POST /form HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        b"POST /form HTTP/1.1\r\nContent-Length:\r\n\r\n",
        b"POST /form HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",  # a TLS hello, cut
    )
    for raw in bad:
        r = ask(srv, raw)
        assert r is not None and r.status == 400, (raw, r and r.raw)
    assert srv.bad == len(bad) and srv.errors == 0


def test_limits_on_headers_and_body():
    srv = _app(bufsize=1024, max_body=256, max_headers=8)
    r = get(srv, "/", "".join("H%d: v\r\n" % i for i in range(7)))  # + Host: 8 headers
    assert r.status == 200
    assert get(srv, "/", "".join("H%d: v\r\n" % i for i in range(8))).status == 431
    assert get(srv, "/", "X: " + "a" * 1100 + "\r\n").status == 431
    assert ask(srv, b"GET /" + b"a" * 2000).status == 431  # no end of line at all
    assert post(srv, "/json", "x" * 257, "application/json").status == 413
    assert post(srv, "/json", "1" * 256, "application/json").status == 200
    big = b"POST /json HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n"
    assert ask(srv, big).status == 413
    # headers and body must fit the buffer together
    r = post(srv, "/json", "1" * 200, "application/json", "X: " + "a" * 800 + "\r\n")
    assert r.status == 413
    chunked = b"POST /json HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n"
    assert ask(srv, chunked).status == 411


def test_request_in_one_byte_reads():
    srv = _app()
    raw = b"POST /json HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n"
    raw += b"[1,2,3]"
    r = ask(srv, raw, chunk=1)
    assert r.status == 200 and r.body == b'{"got": [1, 2, 3]}', r.raw


def test_expect_100_continue():
    srv = _app()
    raw = (
        b"POST /json HTTP/1.1\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
        b"Content-Length: 2\r\n\r\n"
    )
    s = FakeStream(raw)

    async def main():
        t = asyncio.create_task(srv.serve(s))
        for _ in range(100):
            await asyncio.sleep(0)
            if s.tx:
                break
        assert bytes(s.tx) == b"HTTP/1.1 100 Continue\r\n\r\n", s.tx
        s.rx += b"{}"
        await t

    _run(main())
    assert b"\r\n\r\nHTTP/1.1 200 OK\r\n" in s.tx, s.tx


def test_half_sent_request_gets_408_and_is_dropped():
    srv = _app(timeout_ms=200)
    for raw in (
        b"",
        b"GET / HTTP/1.1\r\nHost: x\r\n",
        b"POST /json HTTP/1.1\r\nContent-Length: 9\r\n\r\n1",
    ):
        r = ask(srv, raw, hang=True)
        assert r.status == 408, raw
    assert srv.timeouts == 3
    assert get(srv, "/").status == 200

    # a client gone when the 408 is written: nothing raised, the slot comes back
    class Gone(FakeStream):
        def write(self, b):
            raise OSError(104)

    g = Gone(b"GET / HTTP/1.1\r\n", hang=True)
    _run(srv.serve(g))
    assert g.closed and srv.timeouts == 4
    # a client that closes half-way gets nothing and costs nothing
    assert ask(srv, b"GET / HTTP/1.1\r\nHo") is None
    assert len(srv._pool) == 3


def test_a_held_server_answers_503_with_its_status():
    """While `hold` is set (the owner is busy: an update), every connection gets a 503 with
    Retry-After and `hold` as JSON, as it is at that moment; no route runs and no
    per-connection code stays; a client that sends nothing is answered after the read limit;
    no slot is lost. Then the routes again."""
    import json
    import sys

    srv = _app(timeout_ms=200)
    st = {"state": "downloading", "progress": 0}
    srv.hold = {"error": "an update is running", "ota": st}
    for p in ("/", "/api/state", "/nope"):
        st["progress"] += 10
        r = get(srv, p)
        assert r.status == 503 and r.headers["retry-after"] == "2", r.raw
        assert r.headers["content-type"] == "application/json"
        want = {"state": "downloading", "progress": st["progress"]}
        assert json.loads(r.body) == {"error": "an update is running", "ota": want}
    assert "httpd_hold" not in sys.modules and "httpd_conn" not in sys.modules
    assert ask(srv, b"", hang=True).status == 503
    assert srv.busy == 4 and srv.served == 0 and len(srv._pool) == 3
    srv.hold = None
    assert get(srv, "/").status == 200


def test_slots_of_two_sizes_and_growing_into_the_larger():
    """Server(0, (1024, 256)): a connection takes the smallest free slot; a request or an
    answer wider than it moves to the larger free one (req.grow()), else 431 / 413."""
    srv = httpd.Server(0, (1024, 256))
    assert [len(r.buf) for r in srv._pool] == [1024, 256]

    def wide(req):  # an answer of 600 bytes written in place, as /api/state does
        if len(req.buf) < 600 and not req.grow(0):
            return 503
        req.buf[:600] = b"v" * 600
        return (200, "text/plain", [b"<", memoryview(req.buf)[:600], b">"], "")

    srv.route("GET", "/wide", wide)
    srv.route("GET", "/size", lambda req: [len(req.buf), req.header("x-pad")])
    srv.route("POST", "/json", lambda req: {"got": form.json_body(req)})
    assert get(srv, "/size").body == b"[256, null]"
    pad = "p" * 500  # a head wider than the small slot: read on into the large one
    r = get(srv, "/size", "X-Pad: %s\r\n" % pad)
    assert r.status == 200 and r.body == ('[1024, "%s"]' % pad).encode(), r.raw[:100]
    r = get(srv, "/wide")
    assert r.status == 200 and r.body == b"<" + b"v" * 600 + b">"
    body = '{"k": "%s"}' % ("b" * 400)
    r = post(srv, "/json", body, "application/json")
    assert r.status == 200 and r.body == ('{"got": {"k": "%s"}}' % ("b" * 400)).encode()
    assert sorted(len(r.buf) for r in srv._pool) == [256, 1024]
    assert [len(r.buf) for r in srv._pool] == [1024, 256]  # the pool stays sorted
    big = srv._pool.pop(0)  # the large slot busy: nothing to grow into
    assert get(srv, "/size", "X-Pad: %s\r\n" % pad).status == 431
    assert get(srv, "/wide").status == 503
    assert post(srv, "/json", body, "application/json").status == 413
    srv._free(big)
    assert get(srv, "/wide").status == 200 and srv.bad == 2 and srv.errors == 0


def test_connection_limit_503_and_waiting():
    srv = _app(max_conns=1, max_wait=1, timeout_ms=300)
    a = FakeStream(b"GET / HTTP/1.1\r\n\r\n", chunk=1)  # holds the only buffer a while
    b = FakeStream(b"GET / HTTP/1.1\r\n\r\n")  # waits for it
    c = FakeStream(b"GET / HTTP/1.1\r\n\r\n")  # too many: 503 at once

    async def main():
        ta = asyncio.create_task(srv.serve(a))
        await asyncio.sleep(0)
        tb = asyncio.create_task(srv.serve(b))
        await asyncio.sleep(0)
        await srv.serve(c)
        assert Resp(c.tx).status == 503 and not b.tx and not a.tx
        await ta
        await tb

    _run(main())
    assert Resp(a.tx).status == 200
    assert Resp(b.tx).status == 200, b.tx
    assert srv.busy == 1 and len(srv._pool) == 1


def _etag(path):
    st = os.stat(path)
    return '"%x-%x%s"' % (st[6], st[8], "g" if path.endswith(".gz") else "")


def test_static_gzip_negotiation():
    srv = _app()
    gz = _etag(WWW + "/index.html.gz")
    r = get(srv, "/s/index.html", "Accept-Encoding: gzip, deflate, br\r\n")
    with open(WWW + "/index.html.gz", "rb") as f:
        assert r.body == f.read()
    assert r.headers["content-encoding"] == "gzip"
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.headers["vary"] == "Accept-Encoding"
    assert r.headers["etag"] == gz
    r = get(srv, "/s/", "Accept-Encoding: gzip\r\n")  # index.html of the directory
    assert r.headers["etag"] == gz
    for ae in ("identity", "gzip;q=0, identity", "deflate, gzip; q=0.0"):
        r = get(srv, "/s/index.html", "Accept-Encoding: %s\r\n" % ae)
        assert r.body == b"<!doctype html><title>home</title>plain\n", ae
        assert "content-encoding" not in r.headers and r.headers["etag"] == _etag(
            WWW + "/index.html"
        )
    r = get(srv, "/s/index.html")  # no Accept-Encoding: any coding is acceptable
    assert r.headers["content-encoding"] == "gzip"
    for ae, gzipped in (("*", True), ("*;q=0, gzip", True), ("gzip;q=0, *", False), ("", False)):
        r = get(srv, "/s/index.html", "Accept-Encoding: %s\r\n" % ae)
        assert ("content-encoding" in r.headers) == gzipped, ae
    r = ask(srv, b"GET /s/index.html HTTP/1.1\r\nAccept-Encoding: \xe9\r\n\r\n")
    assert r.status == 400  # not UTF-8
    # only style.css.gz exists
    r = get(srv, "/s/style.css", "Accept-Encoding: gzip;q=0.5\r\n")
    assert r.status == 200 and r.headers["content-type"] == "text/css"
    assert r.headers["content-encoding"] == "gzip"
    assert get(srv, "/s/style.css", "Accept-Encoding: identity\r\n").status == 406
    assert get(srv, "/s/sub/").body == b"sub index\n"
    assert get(srv, "/s/a%20b.txt").body == b"data with space\n"
    assert get(srv, "/s/missing.html").status == 404
    assert get(srv, "/s/sub").status == 404  # a directory is not a file


def test_static_etag_304_head_and_streaming():
    srv = _app(bufsize=512)
    tag = _etag(WWW + "/plain.txt")
    r = get(srv, "/s/plain.txt", "If-None-Match: %s\r\n" % tag)
    assert r.status == 304 and r.body == b"" and r.headers["etag"] == tag
    assert "content-length" not in r.headers
    r = get(srv, "/s/plain.txt", 'If-None-Match: "zz", %s\r\n' % tag)
    assert r.status == 304
    r = get(srv, "/s/plain.txt", 'If-None-Match: "1-2"\r\n')
    assert r.status == 200 and r.body == b"hello\n"
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.headers["cache-control"] == "no-cache"
    r = ask(srv, b"HEAD /s/big.bin HTTP/1.1\r\n\r\n")
    assert r.status == 200 and r.headers["content-length"] == "5000" and r.body == b""
    r = get(srv, "/s/big.bin")  # 5000 bytes through a 512-byte buffer
    with open(WWW + "/big.bin", "rb") as f:
        assert r.body == f.read()
    assert r.headers["content-type"] == "application/octet-stream"


TRAVERSALS = (
    "/s/../secret.txt",
    "/s/..%2fsecret.txt",
    "/s/%2e%2e/secret.txt",
    "/s/%2E%2E%2Fsecret.txt",
    "/s/sub/../../secret.txt",
    "/s/sub/%2e%2e/%2e%2e/secret.txt",
    "/s/..\\secret.txt",
    "/s/..%5csecret.txt",
    "/s//etc/passwd",
    "/s/%2fetc/passwd",
    "/s/%2Fetc%2Fpasswd",
    "/s/.%2e/secret.txt",
    "/s/..",
    "/s/%252e%252e/secret.txt",
    "/s/sub/..%c0%af../secret.txt",
    "/../secret.txt",
)


def test_static_traversal_refused():
    srv = _app()
    srv.catch_all = lambda req: 404
    for path in TRAVERSALS:
        r = get(srv, path)
        assert r.status in (400, 404), (path, r.raw)
        assert b"secret" not in r.body and b"root:" not in r.body, path


def test_real_sockets_with_a_ticking_task():
    """Loopback: 12 clients at once on a 3-slot server; every one gets 200 or 503, the ticker
    keeps counting between requests, the next request is served."""
    srv = _app(max_conns=3, max_wait=3)
    ticks = [0]
    seen = []

    async def ticker():
        while True:
            ticks[0] += 1
            await asyncio.sleep(0.005)

    async def fetch(port, path):
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(("GET %s HTTP/1.1\r\nAccept-Encoding: gzip\r\n\r\n" % path).encode())
        await w.drain()
        data = b""
        while True:
            b = await r.read(1024)
            if not b:
                break
            data += b
        w.close()
        seen.append(ticks[0])
        return Resp(data)

    async def main():
        port = 0
        for p in range(18730, 18830):
            try:
                await srv.start("127.0.0.1", p)
                port = p
                break
            except OSError:
                pass
        assert port
        t = asyncio.create_task(ticker())
        rs = await asyncio.gather(*[fetch(port, "/s/big.bin") for _ in range(12)])
        one = await fetch(port, "/api/x")
        srv.close()
        t.cancel()
        return rs, one

    rs, one = _run(main())
    assert one.status == 200 and one.body == b"api:/api/x"
    ok = [r for r in rs if r.status == 200]
    assert len(ok) + len([r for r in rs if r.status == 503]) == 12
    assert len(ok) >= 3
    for r in ok:
        assert len(r.body) == 5000
    assert seen == sorted(seen) and seen[-1] > seen[0], seen  # the ticker ran meanwhile
    assert len(srv._pool) == 3


def _upload_app(timeout_ms=5000):
    srv = httpd.Server(2, 512)
    srv.timeout_ms = timeout_ms
    got = []

    async def up(req):
        buf = bytearray(100)
        n = 0
        h = 0
        while True:
            k = await req.readinto(buf)
            if not k:
                break
            for i in range(k):
                h = (h * 31 + buf[i]) & 0xFFFFFF
            n += k
        got.append((req.length, n, h))
        return {"n": n}

    srv.route("POST", "/up", up, stream=True, timeout_ms=20000)
    srv.route("POST", "/small", lambda req: 204)
    srv.route("POST", "/refuse", lambda req: {"error": "no"}, stream=True, timeout_ms=20000)
    return srv, got


def _hash(b):
    h = 0
    for c in b:
        h = (h * 31 + c) & 0xFFFFFF
    return h


def test_streamed_body_read_by_the_handler():
    srv, got = _upload_app()
    body = bytes((i * 7) & 0xFF for i in range(20000))  # far over max_body and the buffer
    head = b"POST /up HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(body)
    for chunk in (0, 1000, 333):
        r = ask(srv, head + body, chunk=chunk)
        assert r.status == 200 and r.body == b'{"n": 20000}', r.raw
        assert got[-1] == (20000, 20000, _hash(body))
    r = ask(srv, b"POST /up HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
    assert r.status == 200 and got[-1] == (0, 0, 0)
    extra = head + body + b"GARBAGE AFTER THE BODY"  # not read: one request per connection
    assert ask(srv, extra).status == 200 and got[-1][1] == 20000
    r = ask(srv, b"POST /up HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello")
    assert r.status == 200 and got[-1] == (5, 5, _hash(b"hello"))
    assert post(srv, "/small", "x" * 2000, "text/plain").status == 413  # others: limits stay
    assert len(srv._pool) == 2


def test_streamed_body_errors():
    srv, got = _upload_app(timeout_ms=300)
    r = ask(srv, b"POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
    assert r.status == 411
    r = ask(srv, b"POST /up HTTP/1.1\r\nHost: x\r\n\r\n")  # no Content-Length
    assert r.status == 411
    r = ask(srv, b"POST /up HTTP/1.1\r\nContent-Length: 900\r\n\r\n" + b"x" * 500)
    assert r.status == 400  # the client stopped early
    r = ask(srv, b"POST /up HTTP/1.1\r\nContent-Length: 900\r\n\r\n" + b"x" * 500, hang=True)
    assert r.status == 408  # a read waited over timeout_ms
    assert got == [] and srv.errors == 0 and len(srv._pool) == 2
    # a handler that reads nothing: the rest of the body is read after the answer, so that
    # closing does not reset the connection under the client
    s = FakeStream(b"POST /refuse HTTP/1.1\r\nContent-Length: 9000\r\n\r\n" + b"x" * 9000, 700)
    _run(srv.serve(s))
    assert Resp(s.tx).status == 200 and s.rx == b"" and s.closed
    # ... each read of that rest within the server's timeout_ms, not the route's
    import time

    t = time.time()
    s = FakeStream(b"POST /refuse HTTP/1.1\r\nContent-Length: 9000\r\n\r\nxx", hang=True)
    _run(srv.serve(s))
    assert Resp(s.tx).status == 200 and time.time() - t < 5


if __name__ == "__main__":
    import mpunit

    mpunit.main(globals())
