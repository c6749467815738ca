"""A small asyncio HTTP/1.1 server (HTTP/1.0 semantics: one request per connection, then
`Connection: close`) for MicroPython and CPython.

    srv = Server(max_conns=3, bufsize=1536)          # + limits: srv.max_body = 1024...
    srv = Server(0, (2048, 1024))                    # or one slot per buffer size
    srv.route("GET", "/api/state", handler)          # exact path
    srv.static("/", "/www")                          # files, with .gz, ETag and 304
    srv.catch_all = handler                          # any request no route matches
    srv.route("POST", "/up", handler, stream=True, timeout_ms=60000)   # streamed body
    await srv.start("0.0.0.0", 80)                   # asyncio.start_server; srv.close()

A handler is `handler(req)` or `async handler(req)`; it returns a response: an int status (no
body), a dict or list (JSON), or a tuple (status, content type, body, header lines) as made by
`response`, `json_response`, `redirect` and `send_file`; a body may also be a list of
bytes-like parts (sent one after the other), or a producer (an object with `size`,
`readinto(buf)` and `close()`, streamed through the slot's buffer like a file, for an answer
bigger than the buffer). It may raise HTTPError(status);
any other exception is a 500 and one log line. `req` (a Request: `method`, `path`,
`header(name)`) is valid during the call only; its query, form, JSON body and cookies are read
by lib/httpd_form.py, which the handlers that need it import (it is not resident).

Each connection gets one Request from a pool of `max_conns` (or one per size of a tuple
`bufsize`), made with the server, the largest free one first: its one bytearray of `bufsize`
bytes holds the request line, headers and body, and then streams a static file (whose code,
lib/httpd_file.py, is imported for each file and dropped after). Up to `max_wait` more
connections wait for a free one (polling every 50 ms, up to `timeout_ms`); the rest get a 503
at once. The whole exchange (reading, the handler, sending) is bounded by `timeout_ms`: a
half-sent request gets 408 and is dropped. Every malformed or oversized request gets a 4xx
(431 headers, 413 body, 411 chunked, 400 anything else) and is closed; nothing raised by a
client reaches the caller. Counters: `served`, `busy` (503s),
`bad` (4xx from the server), `timeouts`, `errors` (500s).

A streamed route (`stream=True`, for uploads) gets its body unread: `req.length` is the
Content-Length (411 without one, no `max_body` limit), and `await req.readinto(buf)` gives the
next bytes into the handler's own `buf` (not `req.buf`), 0 at the end of the body;
HTTPError(400) when the client stops early, 408 when one read waits over `timeout_ms`. The
handler, its response and reading what it left of the body (so that closing does not reset
the connection before the client reads the answer) are bounded by the route's `timeout_ms`
(default: the server's).

Cost: headers are not stored; the few the server needs are found in the buffer on demand.
A request allocates its method and path strings, the timeout task, its coroutines and the
response head (1 to 3 KB on a 32-bit board, freed after); the server's code
allocates nothing per file chunk or per header. Design and figures: docs/design/http.md.
"""

import asyncio
import json
import sys

import log

_log = log.getLogger("http")

_MP = hasattr(asyncio, "sleep_ms")
if _MP:
    _sleep_ms = asyncio.sleep_ms
    _wait_ms = asyncio.wait_for_ms
else:  # CPython
    from aio_host import Pair as _Pair
    from aio_host import sleep_ms as _sleep_ms
    from aio_host import wait_for_ms as _wait_ms


_REASONS = (
    "200 OK|204 No Content|302 Found|303 See Other|304 Not Modified|"
    "400 Bad Request|401 Unauthorized|403 Forbidden|404 Not Found|405 Method Not Allowed|"
    "406 Not Acceptable|408 Request Timeout|411 Length Required|413 Content Too Large|"
    "415 Unsupported Media Type|431 Request Header Fields Too Large|"
    "500 Internal Server Error|503 Service Unavailable|"
)
_BUSY = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
_LATE = b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
_TEXT = "text/plain; charset=utf-8"


class HTTPError(Exception):
    """Raised by a handler (or the request accessors) to answer with status args[0]."""


def _reason(status):
    i = _REASONS.find("%d " % status)
    return _REASONS[i + 4 : _REASONS.find("|", i)] if i >= 0 else ""


def response(status=200, body=b"", ctype=_TEXT, headers=""):
    """A response tuple; `body` str or bytes-like; `headers`: extra lines, each ending CRLF."""
    return (status, ctype, body, headers)


def json_response(obj, status=200, headers=""):
    """`obj` as JSON (json.dumps), or bytes already encoded."""
    if not isinstance(obj, (bytes, bytearray)):
        obj = json.dumps(obj)
    return (status, "application/json", obj, headers)


def redirect(url, status=302, headers=""):
    """A redirect to `url` (no CR, LF)."""
    if "\r" in url or "\n" in url:
        raise ValueError("bad url")
    return (status, "", b"", "Location: %s\r\n%s" % (url, headers))


def send_file(path, headers=""):
    """Stream the file `path` (or `path`.gz, see Server docs) with ETag and 304."""
    return (200, None, path, headers)


def _hex(c):
    if 48 <= c <= 57:
        return c - 48
    c |= 32
    return c - 87 if 97 <= c <= 102 else -1


def unquote(src, a=0, b=None, plus=False):
    """Percent-decode src[a:b] (bytes-like) to a str; `plus`: "+" is a space (forms).
    HTTPError(400) on a bad escape or bytes that are not UTF-8."""
    if b is None:
        b = len(src)
    out = bytearray()
    while a < b:
        c = src[a]
        a += 1
        if c == 37:  # %
            h = _hex(src[a]) if a < b else -1
            lo = _hex(src[a + 1]) if a + 1 < b else -1
            if h < 0 or lo < 0:
                raise HTTPError(400)
            c = h * 16 + lo
            a += 2
        elif c == 43 and plus:
            c = 32
        out.append(c)
    try:
        return out.decode()
    except ValueError:
        raise HTTPError(400)


class Request:
    """One connection slot: the buffer, and the request it holds: `method`, `path`
    (percent-decoded str), header(name); lib/httpd_form.py reads the query, body and cookies.
    `srv`: the Server."""

    def __init__(self, srv, size):
        self.srv = srv
        self.buf = bytearray(size)
        self.mv = memoryview(self.buf)
        self.method = self.path = ""
        self._h = self._l = self._e = self._q = self._b = self._n = 0
        self._sent = False
        self.length = self._left = 0  # streamed body: Content-Length, bytes not read yet
        self._s = self._rt = None  # the stream and the route (streamed bodies)

    async def _read(self, s):
        """Read one request from stream `s`: 0 when complete, -1 at end of stream, or the
        4xx status to answer."""
        buf = self.buf
        mv = self.mv
        size = len(buf)
        n = 0
        self.method = ""
        while True:
            if n >= size:
                if not self.grow(n):
                    return 431
                buf = self.buf
                mv = self.mv
                size = len(buf)
            k = await s.readinto(mv[n:])
            if not k:
                return -1
            n += k
            e = buf.find(b"\r\n\r\n", n - k - 3 if n - k > 3 else 0, n)
            if e >= 0:
                break
        try:
            st = self._parse(e)
        except HTTPError as x:
            st = x.args[0]
        if st:
            return st
        total = e + 4 + self._n
        self._b = e + 4
        rt = self.srv._match(self)
        if rt is not None and rt[4]:  # streamed: the handler reads the body
            if self._hval(b"\r\ncontent-length:") < 0:
                return 411
            self.length = self._n
            self._n = min(n, total)  # the body's first bytes, already in the buffer
            self._left = total - self._n
            self._s = s
            if self._left:
                await self._continue(s)
            return 0
        self._n = total
        if total - e - 4 > self.srv.max_body:
            return 413
        if total > size:
            if not self.grow(n) or total > len(self.buf):
                return 413
            mv = self.mv
        if n < total:
            await self._continue(s)
        while n < total:
            k = await s.readinto(mv[n:total])
            if not k:
                return -1
            n += k
        return 0

    def grow(self, keep=-1):
        """Swap this slot's buffer for the largest free slot's, when that one is larger (the
        first `keep` bytes are copied; -1: the request read so far, up to its body's end):
        whether it did. For a request or an answer wider than this slot; allocates only a
        memoryview."""
        p = self.srv._pool
        if not p or len(p[0].buf) <= len(self.buf):
            return False
        o = p.pop(0)
        if keep < 0:
            keep = self._n
        o.buf[:keep] = self.mv[:keep]
        self.buf, o.buf = o.buf, self.buf
        self.mv, o.mv = o.mv, self.mv
        self.srv._free(o)
        return True

    async def _continue(self, s):
        if self._hval(b"\r\nexpect:") >= 0:
            s.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await s.drain()

    async def readinto(self, buf):
        """Streamed routes: the next body bytes into `buf`; 0 at the end of the body."""
        k = self._n - self._b
        if k > 0:  # what came with the headers
            k = min(k, len(buf))
            buf[:k] = self.mv[self._b : self._b + k]
            self._b += k
            return k
        if self._left <= 0:
            return 0
        mv = memoryview(buf)
        if len(buf) > self._left:
            mv = mv[: self._left]
        try:
            k = await _wait_ms(self._s.readinto(mv), self.srv.timeout_ms)
        except asyncio.TimeoutError:
            self._left = 0  # nothing more to wait for
            raise HTTPError(408)
        if not k:
            self._left = 0
            raise HTTPError(400)
        self._left -= k
        return k

    def _parse(self, e):
        """Request line and header names (lowercased in place) of buf[:e]; the body length
        goes to _n. Returns 0 or a 4xx status."""
        buf = self.buf
        ln = buf.find(b"\r\n", 0, e + 2)
        sp = buf.find(b" ", 0, ln)
        sp2 = buf.find(b" ", sp + 1, ln)
        if not 0 < sp < 8 or sp2 < 0 or buf[sp + 1] != 47 or ln - sp2 != 9:
            return 400
        if buf.find(b"HTTP/1.", sp2 + 1, ln) != sp2 + 1 or buf[ln - 1] not in b"01":
            return 400
        for i in range(sp):
            if not 65 <= buf[i] <= 90:
                return 400
        for i in range(sp + 1, sp2):
            if not 32 < buf[i] < 127:
                return 400
        q = buf.find(b"?", sp + 1, sp2)
        self._q = q + 1 if q >= 0 else 0
        self._l = sp2  # end of the target
        self.method = bytes(buf[:sp]).decode()
        self.path = unquote(buf, sp + 1, q if q >= 0 else sp2)
        for c in self.path:
            if c < " ":
                return 400
        self._e = e + 2  # headers: buf[ln:e + 2], each line starting with CRLF
        self._h = ln
        i = ln + 2
        count = 0
        while i < e + 2:
            j = buf.find(b"\r\n", i, e + 2)
            c = buf.find(b":", i, j)
            if c <= i:
                return 400
            count += 1
            if count > self.srv.max_headers:
                return 431
            for k in range(i, c):
                x = buf[k]
                if x < 33 or x > 126:
                    return 400
                if 65 <= x <= 90:
                    buf[k] = x + 32
            i = j + 2
        if self._hval(b"\r\ntransfer-encoding:") >= 0:
            return 411
        n = 0
        a = self._hval(b"\r\ncontent-length:")
        if a >= 0:
            if buf.find(b"\r\ncontent-length:", a, self._e) >= 0:
                return 400
            j = buf.find(b"\r\n", a, self._e)
            while j > a and buf[j - 1] in b" \t":
                j -= 1
            if j == a:
                return 400
            if j - a > 7:
                return 413
            for k in range(a, j):
                x = buf[k] - 48
                if not 0 <= x <= 9:
                    return 400
                n = n * 10 + x
        self._n = n
        return 0

    def _hval(self, key):
        """Where the value of header `key` (b"\\r\\nname:", lowercase) starts, or -1."""
        buf = self.buf
        a = buf.find(key, self._h, self._e)
        if a < 0:
            return -1
        a += len(key)
        while buf[a] in b" \t":
            a += 1
        return a

    def header(self, name):
        """The value of header `name` (any case) as a str, or None; HTTPError(400) when it is
        not UTF-8."""
        a = self._hval(b"\r\n" + name.lower().encode() + b":")
        if a < 0:
            return None
        try:
            return bytes(self.buf[a : self.buf.find(b"\r\n", a, self._e)]).decode().rstrip()
        except ValueError:
            raise HTTPError(400)


def _safe(root, p):
    """root/p, or HTTPError(400) when p holds "..", a backslash, "//" or starts with "/"."""
    if ".." in p or p.startswith("/") or "\\" in p or "//" in p:
        raise HTTPError(400)
    if p == "" or p.endswith("/"):
        p += "index.html"
    return root + "/" + p


class Server:
    """Routes, limits and the connection pool; see the module docstring."""

    max_body = 1024  # limits: change them on the instance before start()
    timeout_ms = 5000
    max_headers = 24
    max_fields = 16
    max_wait = 6

    def __init__(self, max_conns=3, bufsize=1536):
        self.routes = []
        self.catch_all = None
        self.served = self.busy = self.bad = self.timeouts = self.errors = 0
        if isinstance(bufsize, int):
            bufsize = (bufsize,) * max_conns
        self._pool = []  # free slots, largest buffer first: a connection takes the smallest
        for n in bufsize:
            self._free(Request(self, n))
        self._waiting = 0
        self._srv = None

    def route(self, method, path, handler, prefix=False, *, stream=False, timeout_ms=0):
        """Add a route: `method` ("GET", "POST"...; GET also answers HEAD), `path` exact, or
        a prefix when `prefix`. The first match wins. `stream`: the handler reads the body
        (req.length, req.readinto), within `timeout_ms` (0: the server's) for the handler and
        the response."""
        self.routes.append((method, path, prefix, handler, stream, timeout_ms))

    def static(self, prefix, root):
        """Serve the files under directory `root` (with their .gz, see send_file) for GET
        paths starting with `prefix`, the rest of the path naming the file (index.html for a
        directory); 400 for "..", a backslash, an absolute path. Add it after the routes it
        would otherwise hide (the first match wins)."""
        self.route("GET", prefix, lambda req: send_file(_safe(root, req.path[len(prefix) :])), 1)

    async def start(self, host="0.0.0.0", port=80, backlog=5):
        """Listen on host:port; returns the asyncio server."""
        self._srv = await asyncio.start_server(self._conn, host, port, backlog=backlog)
        return self._srv

    def close(self):
        """Stop listening (connections in progress finish)."""
        if self._srv:
            self._srv.close()
            self._srv = None

    def _free(self, req):
        p = self._pool
        i = len(p)
        while i and len(p[i - 1].buf) < len(req.buf):
            i -= 1
        p.insert(i, req)

    async def _slot(self):
        if self._pool:
            return self._pool.pop()
        if self._waiting >= self.max_wait:
            return None
        self._waiting += 1
        try:
            for _ in range(self.timeout_ms // 50):
                await _sleep_ms(50)
                if self._pool:
                    return self._pool.pop()
        finally:
            self._waiting -= 1
        return None

    def _conn(self, r, w):
        return self.serve(r if _MP else _Pair(r, w))

    async def serve(self, s):
        """Serve stream `s` (async readinto, write, async drain, async wait_closed) as one
        connection, then close it; never raises. The exchange (reading, the handler, sending)
        is bounded by `timeout_ms`: then 408 if nothing was sent yet, and the stream closed."""
        req = None
        try:
            req = await self._slot()
            if req is None:
                self.busy += 1
                s.write(_BUSY)  # the socket takes it at once
            else:
                req._sent = False
                req._s = req._rt = None
                req.length = req._left = 0
                rt = await _wait_ms(self._exchange(req, s), self.timeout_ms)
                if rt is not None:  # a streamed body: the handler reads it, with its time
                    await _wait_ms(self._reply(req, s), rt[5] or self.timeout_ms)
        except asyncio.TimeoutError:  # reading, the handler and sending took too long
            self.timeouts += 1
            try:
                if not req._sent:
                    s.write(_LATE)  # the socket takes it at once; no drain, the time is up
            except OSError:
                pass
        except OSError:  # the client's doing: reset, broken pipe
            pass
        except Exception as e:  # noqa: BLE001 (the server's own bug: logged, never raised)
            _log.exception("connection: %r", e, exc=e)
        finally:
            if req is not None:
                req._s = None
                self._free(req)
            try:
                await s.wait_closed()
            except Exception:  # noqa: BLE001
                pass

    async def _exchange(self, req, s):
        st = await req._read(s)
        if st < 0:
            return None
        if st:
            self.bad += 1
            res = (st, _TEXT, _reason(st), "")
        elif req._s is not None:
            return req._rt  # serve() runs the streamed handler within its own time
        else:
            res = await self._dispatch(req)
        await self._reply(req, s, res)
        return None

    async def _reply(self, req, s, res=None):
        if res is None:  # a streamed body: its handler, then what it left unread is read
            await self._send(req, s, await self._dispatch(req))  # (closing on unread bytes
            buf = req.buf  # sends a reset, which can hide the answer from the client), each
            while req._left > 0:  # read within timeout_ms
                try:
                    k = await req.readinto(buf)
                except HTTPError:
                    break
                if not k:
                    break
            return
        try:
            await self._send(req, s, res)
        except HTTPError as e:  # from a static file's headers, before anything was sent
            self.bad += 1
            await self._send(req, s, (e.args[0], _TEXT, _reason(e.args[0]), ""))

    def _match(self, req):
        """The route for req's method and path (also in req._rt), or None (req._rt: whether
        another method matched)."""
        m = req.method
        path = req.path
        other = False
        for rt in self.routes:
            rp = rt[1]
            if path == rp or (rt[2] and path.startswith(rp)):
                if rt[0] == m or (m == "HEAD" and rt[0] == "GET"):
                    req._rt = rt
                    return rt
                other = True
        req._rt = other
        return None

    async def _dispatch(self, req):
        m = req.method
        path = req.path
        rt = req._rt
        h = None
        if isinstance(rt, tuple):
            h = rt[3]
        elif not rt:
            h = self.catch_all
        try:
            if h is None:
                raise HTTPError(405 if rt else 404)
            res = h(req)
            if hasattr(res, "send"):
                res = await res
            if isinstance(res, int):
                res = (res, "", b"", "")
            elif isinstance(res, (dict, list)):
                res = json_response(res)
            elif not isinstance(res, tuple) or len(res) != 4:
                raise TypeError("not a response: %r" % (res,))
        except HTTPError as e:
            st = e.args[0]
            res = (st, _TEXT, _reason(st), "")
        except Exception as e:  # noqa: BLE001 (a handler's bug must not stop the server)
            self.errors += 1
            _log.exception("%s %s: %r", m, path, e, exc=e)
            res = (500, _TEXT, _reason(500), "")
        return res

    async def _send(self, req, s, res):
        st, ct, body, hd = res
        f = None
        if ct is None:  # a static file: its code is loaded for it (not resident)
            try:
                import httpd_file

                st, ct, body, hd, f = httpd_file.open_file(req, body, hd)
            finally:
                sys.modules.pop("httpd_file", None)
        elif hasattr(body, "readinto"):  # a producer: `size` bytes, written into req.buf
            f = body
            body = f.size
        try:
            if isinstance(body, str):
                body = body.encode()
            if f:
                n = body
            elif isinstance(body, list):  # parts, sent one after the other
                n = 0
                for b in body:
                    n += len(b)
            else:
                n = len(body)
            req._sent = True
            if ct:
                hd = "Content-Type: %s\r\n%s" % (ct, hd)
            if st not in (204, 304):
                hd = "Content-Length: %d\r\n%s" % (n, hd)
            hd = "HTTP/1.1 %d %s\r\n%sConnection: close\r\n\r\n" % (st, _reason(st), hd)
            s.write(hd.encode())
            if req.method != "HEAD":
                if f:
                    buf = req.buf
                    while True:
                        k = f.readinto(buf)
                        if not k:
                            break
                        s.write(buf if k == len(buf) else req.mv[:k])
                        await s.drain()
                elif isinstance(body, list):
                    for b in body:
                        s.write(b)
                elif n:
                    s.write(body)
            await s.drain()
            self.served += 1
        finally:
            if f:
                f.close()
