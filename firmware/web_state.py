"""GET /api/history (docs/design/web-api.md), the status page's chart; imported by
firmware/web_req.py for one request and dropped after (GET /api/state: firmware/web_poll.py).

history: every point kept, streamed through the slot buffer, whatever its size, by Points
(below); nothing allocated per point.
"""

from firmware import crash
from firmware.history import MISSING

_JSON = "application/json"


def history(app, req):
    h = getattr(app, "history", None)
    if h is None:
        return {"period_s": 10, "now_s": crash.uptime_ms() // 1000, "papp": [], "injected": []}
    return (200, _JSON, Points(h, crash.uptime_ms() // 1000), "")


class Points:
    """/api/history's answer for lib/httpd.py (`size`, `readinto(buf)` for any buf of 64
    bytes or more, `close()`): {"period_s", "now_s", "papp", "injected"} of the points the
    History `h` keeps at creation (oldest first, MISSING as null; a sample taken while it is
    sent lands in the ring's spare slot), as many items as fit in each buffer; nothing
    allocated per point. Item k: -1 the head, 0..n-1 the
    apparent power points, n the middle, n+1..2n the injected ones, 2n+1 the end."""

    def __init__(self, h, now_s):
        self.h = h
        self.now = now_s
        n = self.n = h.count
        ring = h.points + 1
        self.i0 = (h.pos - n) % ring
        size = 46 + _width(h.period_ms // 1000) + _width(now_s)  # the keys, brackets, "}"
        if n:
            size += 2 * (n - 1)  # commas
        i = self.i0
        for _ in range(n):
            size += _width(h.papp[i]) + _width(h.injected[i])
            i = i + 1 if i + 1 < ring else 0
        self.size = size
        self.k = -1
        self.i = self.i0

    def readinto(self, buf):
        h = self.h
        n = self.n
        ring = h.points + 1
        top = len(buf) - 64
        p = 0
        while p <= top and self.k <= 2 * n + 1:
            k = self.k
            if k < 0:
                p = _put(buf, p, b'{"period_s":')
                p = _num(buf, p, h.period_ms // 1000)
                p = _put(buf, p, b',"now_s":')
                p = _num(buf, p, self.now)
                p = _put(buf, p, b',"papp":[')
            elif k == n:
                p = _put(buf, p, b'],"injected":[')
                self.i = self.i0
            elif k > 2 * n:
                p = _put(buf, p, b"]}")
            else:
                if k and k != n + 1:
                    buf[p] = 44  # ,
                    p += 1
                v = (h.papp if k < n else h.injected)[self.i]
                p = _put(buf, p, b"null") if v == MISSING else _num(buf, p, v)
                self.i = self.i + 1 if self.i + 1 < ring else 0
            self.k = k + 1
        return p

    def close(self):
        self.h = None


def _width(v):
    """Characters of v's decimal digits (4 for MISSING: "null"), v < 10**10."""
    if v == MISSING:
        return 4
    n = 1
    while v >= 10:
        v //= 10
        n += 1
    return n


def _put(buf, p, b):
    n = len(b)
    if p + n > len(buf):
        raise ValueError("history: buffer too small")
    buf[p : p + n] = b
    return p + n


def _num(buf, p, v):
    """Decimal digits of int v >= 0 at buf[p:], without allocating; the new end."""
    e = p
    x = v
    while True:
        e += 1
        x //= 10
        if not x:
            break
    if e > len(buf):
        raise ValueError("history: buffer too small")
    q = e
    while True:
        q -= 1
        buf[q] = 48 + v % 10
        v //= 10
        if not v:
            return e
