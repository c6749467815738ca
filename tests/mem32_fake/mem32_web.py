"""Scenario web of the memory harness (tools/mem32/harness.mjs): the web server of issue 10
driven through an in-memory stream at the socket edge, on top of scenario mqtt's steps
(mem32_steps). Imported by the harness before its first reading, with the other fakes."""

import mem32_steps as steps

# Scenario web (the mqtt scenario plus the web server, issue 10): the requests a browser sends
# for the status page, as constants here (not literals in the harness's code, which would be
# interned and stay in the heap). 0: /api/state, the page's poll; PAGE: a whole page load.
_WEB_REQS = (
    b"GET /api/state HTTP/1.1\r\nHost: 192.168.1.20\r\nAccept: */*\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: 192.168.1.20\r\nAccept-Encoding: gzip, deflate\r\n"
    b"User-Agent: Mozilla/5.0 (Linux; Android 14) Chrome/131.0\r\n\r\n",
    b"GET /app.css HTTP/1.1\r\nHost: 192.168.1.20\r\nAccept-Encoding: gzip\r\n\r\n",
    b"GET /app.js HTTP/1.1\r\nHost: 192.168.1.20\r\nAccept-Encoding: gzip\r\n\r\n",
    b"GET /api/session HTTP/1.1\r\nHost: 192.168.1.20\r\n\r\n",
    b"GET /api/history HTTP/1.1\r\nHost: 192.168.1.20\r\n\r\n",
)
WEB_PAGE = 6  # requests in a page load: _WEB_REQS[1:], then /api/state
_web = [0, 0]  # bytes answered, answers that were not 200


class _WebStream:
    """The socket edge of one HTTP connection: the request in one read, the answer counted."""

    def __init__(self, raw):
        self.raw = raw
        self.head = True

    async def readinto(self, buf):
        n = len(self.raw)
        if n:
            buf[:n] = self.raw
            self.raw = b""
        return n

    def write(self, b):
        if self.head and not (b[9] == 50 and b[10] == 48 and b[11] == 48):  # "200"
            _web[1] += 1
        self.head = False
        _web[0] += len(b)
        steps.note()  # the heap now (a step's end: a collection is asked for)

    async def drain(self):
        pass  # no turn of the JavaScript loop: see mem32_broker.Stream.drain()

    async def wait_closed(self):
        pass


async def _serve(raw):
    """What httpd's Server.serve() does for one connection, without its asyncio.wait_for:
    on the WebAssembly port a wait_for inside runPythonAsync throws into the port's top-level
    coroutine, which cannot take it (the task that wait_for makes is a few hundred bytes of
    garbage per request on a board, not counted here)."""
    srv = steps.APP.web
    if srv.hold is not None:  # an update runs: Server.serve's held path (lib/httpd_hold.py)
        await srv.serve(_WebStream(raw))
        return
    req = srv._pool.pop()
    req._sent = False
    req._s = req._rt = None
    req.length = req._left = 0
    m = srv._use()  # lib/httpd_conn.py, loaded while a connection is in progress
    try:
        s = _WebStream(raw)
        rt = await m.exchange(srv, req, s)
        if rt is not None:
            await m.reply(srv, req, s)
    finally:
        req._s = None
        srv._pool.append(req)
        m = None
        srv._done()


def web_start():
    """What the web task does when it starts (firmware/web.py _serve, before listening): the
    Server and its slots; and an hour of history points (the arrays are preallocated: filling
    them changes only the /api/history answer's size)."""
    from firmware import web

    a = steps.APP
    a.web = web.make(a)
    h = a.history
    for _ in range(h.points):
        h._seq = -1  # as if a frame came between two samples
        h.sample(a.readings)
    steps.note()


async def web_get(i):
    """One connection with request i of _WEB_REQS, served whole."""
    await _serve(_WEB_REQS[i])
    steps.note()


async def web_page(k):
    """Request k of a page load (0 to WEB_PAGE - 1)."""
    await _serve(_WEB_REQS[k + 1 if k < WEB_PAGE - 1 else 0])
    steps.note()


def web_report():
    s = steps.APP.web
    steps.report("web_served", s.served)
    steps.report("web_errors", s.errors + s.bad + s.busy + s.timeouts)
    steps.report("web_not_ok", _web[1])
    steps.report("web_bytes", _web[0])


def web_drop(stage):
    """The web part's resident bytes, in stages: 0 the Server and its slots; 1 the history;
    2 the modules (firmware.web, httpd, firmware.history, and the tasks that hold them)."""
    from firmware import unload

    a = steps.APP
    if stage == 0:
        a.web = None
    elif stage == 1:
        a.history = None
        a._tasks = [t for t in a._tasks if t[0] != "history"]  # its coroutine holds it
    else:
        a._tasks = [t for t in a._tasks if t[0] != "web"]
        unload("firmware.web", "firmware.history", "httpd")
    steps.note()
