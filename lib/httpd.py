"""A small asyncio HTTP/1.1 server (HTTP/1.0 semantics: one request per connection, then
`Connection: close`) for MicroPython and CPython.

    srv = Server(max_conns=3, bufsize=1536)          # + limits: srv.max_body = 1024...
    srv = Server(0, (2048, 1024))                    # or one slot per buffer size
    srv.route("GET", "/api/state", handler)          # exact path
    httpd_file.static(srv, "/", "/www")              # files, with .gz, ETag and 304
    srv.catch_all = handler                          # any request no route matches
    srv.route("POST", "/up", handler, stream=True, timeout_ms=60000)   # streamed body
    await srv.start("0.0.0.0", 80)                   # asyncio.start_server; srv.close()

A handler is `handler(req)` or `async handler(req)`; it returns a response: an int status (no
body), a dict or list (JSON), or a tuple (status, content type, body, header lines) as made by
`response`, `json_response`, `send_file` (and httpd_form's `redirect`); a body may also be
a list of bytes-like parts (sent one after the other), or a producer (an object with `size`,
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
`bad` (4xx from the server), `timeouts`, `errors` (500s). While `srv.hold` is not None (its
owner is busy: an update), every new connection gets a 503 with `Retry-After: 2` and
`srv.hold` as its JSON body, and no route runs (lib/httpd_hold.py, loaded for it).

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
else:  # CPython
    from aio_host import Pair as _Pair
    from aio_host import sleep_ms as _sleep_ms


_BUSY = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
_TEXT = "text/plain; charset=utf-8"


class HTTPError(Exception):
    """Raised by a handler (or the request accessors) to answer with status args[0]."""


def response(status=200, body=b"", ctype=_TEXT, headers=""):
    """A response tuple; `body` str or bytes-like; `headers`: extra lines, each ending CRLF."""
    return (status, ctype, body, headers)


def json_response(obj, status=200, headers=""):
    """`obj` as JSON (json.dumps), or bytes already encoded."""
    if not isinstance(obj, (bytes, bytearray)):
        obj = json.dumps(obj)
    return (status, "application/json", obj, headers)


def send_file(path, headers=""):
    """Stream the file `path` (or `path`.gz, see Server docs) with ETag and 304."""
    return (200, None, path, headers)


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

    def grow(self, keep=-1):
        """Swap this slot's buffer for the largest free slot's, when that one is larger (the
        first `keep` bytes are copied; -1: the request read so far, up to its body's end):
        whether it did. For a request or an answer wider than this slot; allocates only a
        memoryview."""
        return _c().grow(self, keep)

    def readinto(self, buf):
        """Streamed routes: `await req.readinto(buf)`, the next body bytes into `buf`; 0 at
        the end of the body; HTTPError(400) when the client stops early, 408 when a read
        waits over timeout_ms."""
        return _c().readinto(self, buf)

    def header(self, name):
        """The value of header `name` (any case) as a str, or None; HTTPError(400) when it is
        not UTF-8. Allocates the name's key and the value."""
        return _c().header(self, name)


def _c():
    import httpd_conn  # loaded while a connection is in progress (Server._use)

    return httpd_conn


async def _timer(ms, task):
    """Cancel `task` after `ms`: an exchange's time limit (lib/httpd_conn.py). It lives here,
    not in httpd_conn, so that a finished timer references no per-connection code (see
    Server.serve)."""
    await _sleep_ms(ms)
    task.cancel()


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
        self._users = 0  # connections using lib/httpd_conn.py
        self._srv = None
        self.hold = None  # JSON-able: new connections get 503 with it (lib/httpd_hold.py)

    def route(self, method, path, handler, prefix=False, *, stream=False, timeout_ms=0):
        """Add a route: `method` ("GET", "POST"...; GET also answers HEAD), `path` exact, or
        a prefix when `prefix`. The first match wins. `stream`: the handler reads the body
        (req.length, req.readinto), within `timeout_ms` (0: the server's) for the handler and
        the response."""
        self.routes.append((method, path, prefix, handler, stream, timeout_ms))

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

    def _conn(self, r, w):
        return self.serve(r if _MP else _Pair(r, w))

    def _use(self):
        """lib/httpd_conn.py, loaded for a connection in progress (MemoryError: the
        caller's)."""
        import httpd_conn

        self._users += 1
        return httpd_conn

    def _done(self):
        self._users -= 1
        if not self._users:  # no connection in progress: its code goes
            sys.modules.pop("httpd_conn", None)

    async def serve(self, s):
        """Serve stream `s` (async readinto, write, async drain, async wait_closed) as one
        connection, then close it; never raises. The exchange (reading, the handler, sending)
        is bounded by `timeout_ms`: then 408 if nothing was sent yet, and the stream closed.
        No memory for the connection's code: 503. While `hold` is set: lib/httpd_hold.py."""
        if self.hold is not None:
            import httpd_hold

            return await httpd_hold.serve(self, s)
        try:
            c = self._use().serve(self, s)
        except MemoryError:
            self.busy += 1
            try:
                s.write(_BUSY)
                await s.wait_closed()
            except Exception:  # noqa: BLE001
                pass
            return
        try:
            await c
        finally:  # a finished task may stay referenced from asyncio's queue for a while (a
            c = None  # stale pointer in MicroPython's pairing heap): keep no httpd_conn object
            self._done()  # in this frame, or the dropped module would stay with it
