"""The per-connection half of lib/httpd.py: reading and parsing a request, routing, calling
the handler and sending its answer. Imported by Server.serve() (and _exchange, _reply) while a
connection is in progress and dropped when none is (Server._use, _done): between requests
only the Server, its slots and the small resident half stay in the heap.

Functions of a Request (`self`: read, parse, grow, readinto, hval, header; the last
three behind Request's methods) or of the Server (`self`: slot, serve, exchange, reply,
match, dispatch, send); lib/httpd.py documents the behaviour.
Cost: loading this module per connection (its code, a few KB, freed after); see
docs/design/http.md.
"""

import asyncio
import sys

from httpd import _BUSY, _MP, _TEXT, HTTPError, _log, _timer, json_response

if _MP:
    _sleep_ms = asyncio.sleep_ms
    _wait_ms = asyncio.wait_for_ms
else:  # CPython
    from aio_host import sleep_ms as _sleep_ms
    from aio_host import wait_for_ms as _wait_ms

_REASONS = (
    "200 OK|204 No Content|302 Found|303 See Other|304 Not Modified|"
    "400 Bad Request|401 Unauthorized|403 Forbidden|404 Not Found|405 Method Not Allowed|"
    "406 Not Acceptable|408 Request Timeout|411 Length Required|413 Content Too Large|"
    "415 Unsupported Media Type|431 Request Header Fields Too Large|"
    "500 Internal Server Error|503 Service Unavailable|"
)
_LATE = b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


def _reason(status):
    i = _REASONS.find("%d " % status)
    return _REASONS[i + 4 : _REASONS.find("|", i)] if i >= 0 else ""


async def read(self, s):
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
        st = parse(self, e)
    except HTTPError as x:
        st = x.args[0]
    if st:
        return st
    total = e + 4 + self._n
    self._b = e + 4
    rt = match(self.srv, self)
    st = rt is not None and rt[4]  # streamed: the handler reads the body
    if st:
        if hval(self, b"\r\ncontent-length:") < 0:
            return 411
        self.length = self._n
        self._n = min(n, total)  # the body's first bytes, already in the buffer
        self._left = total - self._n
        self._s = s
    else:
        self._n = total
        if total - e - 4 > self.srv.max_body:
            return 413
        if total > size:
            if not self.grow(n) or total > len(self.buf):
                return 413
            mv = self.mv
    if n < total and hval(self, b"\r\nexpect:") >= 0:  # more to come: 100 if asked
        s.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        await s.drain()
    if st:
        return 0
    while n < total:
        k = await s.readinto(mv[n:total])
        if not k:
            return -1
        n += k
    return 0


def parse(self, e):
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
    t = q if q >= 0 else sp2
    if buf.find(b"%", sp + 1, t) < 0:  # nothing to decode (the usual case)
        try:
            self.path = bytes(buf[sp + 1 : t]).decode()
        except ValueError:
            return 400
    else:  # escapes: decoded by httpd_form, loaded for it if it is not
        had = "httpd_form" in sys.modules
        try:
            import httpd_form

            self.path = httpd_form.unquote(buf, sp + 1, t)
        finally:
            if not had:
                sys.modules.pop("httpd_form", None)
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
    if hval(self, b"\r\ntransfer-encoding:") >= 0:
        return 411
    n = 0
    a = hval(self, b"\r\ncontent-length:")
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


async def slot(self):
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


async def serve(self, s):
    """Serve stream `s` (async readinto, write, async drain, async wait_closed) as one
    connection, then close it; never raises. The exchange (reading, the handler, sending)
    is bounded by `timeout_ms`: then 408 if nothing was sent yet, and the stream closed.
    The limit is one timer task (httpd._timer) that cancels this one; not wait_for, whose
    two tasks per exchange hold this module's coroutines (memory-diet.md, round 6)."""
    req = t = None
    try:
        req = await slot(self)
        if req is None:
            self.busy += 1
            s.write(_BUSY)  # the socket takes it at once
        else:
            req._sent = False
            req._s = req._rt = None
            req.length = req._left = 0
            me = asyncio.current_task()
            t = asyncio.create_task(_timer(self.timeout_ms, me))
            rt = await exchange(self, req, s)
            if rt is not None:  # a streamed body: the handler reads it, with its time
                t.cancel()
                t = asyncio.create_task(_timer(rt[5] or self.timeout_ms, me))
                await reply(self, req, s)
    except asyncio.CancelledError:
        if t is None or not t.done():  # not our time limit: not ours to swallow
            raise
        self.timeouts += 1  # reading, the handler and sending took too long
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
        if t is not None:
            t.cancel()
            t = None
        if req is not None:
            req._s = None
            self._free(req)
        try:
            await s.wait_closed()
        except Exception:  # noqa: BLE001
            pass


async def exchange(self, req, s):
    st = await read(req, s)
    if st < 0:
        return None
    if st:
        self.bad += 1
        res = (st, _TEXT, _reason(st), "")
    elif req._s is not None:
        return req._rt  # serve() runs the streamed handler within its own time
    else:
        res = await dispatch(self, req)
    await reply(self, req, s, res)
    return None


async def reply(self, req, s, res=None):
    if res is None:  # a streamed body: its handler, then what it left unread is read
        await send(self, req, s, await dispatch(self, req))  # (closing on unread bytes
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
        await send(self, req, s, res)
    except HTTPError as e:  # from a static file's headers, before anything was sent
        self.bad += 1
        await send(self, req, s, (e.args[0], _TEXT, _reason(e.args[0]), ""))


def match(self, req):
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


async def dispatch(self, req):
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


async def send(self, req, s, res):
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


def hval(self, key):
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
    a = hval(self, b"\r\n" + name.lower().encode() + b":")
    if a < 0:
        return None
    try:
        return bytes(self.buf[a : self.buf.find(b"\r\n", a, self._e)]).decode().rstrip()
    except ValueError:
        raise HTTPError(400)
