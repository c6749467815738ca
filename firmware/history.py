"""The last hour of apparent and injected power for the status page's chart.

Contract:
  History(points=360, period_ms=10000)   two fixed arrays('H') of `points` + 1 VA values
                        (the extra slot: a sample taken while an answer is being sent
                        overwrites no point of that answer)
  await run(readings)   the task: sample() every period_ms
  sample(readings)      adds one point to each series: apparent power (PAPP in historique,
                        SINSTS in standard) and injected power (SINSTI, producers); MISSING
                        when the label is absent or no frame came since the last sample;
                        values above 65534 VA are clamped. Allocates nothing.
  count                 points kept (at most `points`), oldest overwritten first
  json(now_s) -> producer   {"period_s", "now_s", "papp": [...], "injected": [...]}: every
                        point kept, oldest first, MISSING as null, streamed by lib/httpd.py
                        (`size`, `readinto(buf)` for any buf of 64 bytes or more, `close()`);
                        the points are those of the call (a later sample does not change
                        them). Allocates the small producer; nothing per point.
Cost: 4 bytes per point (1,444 bytes for an hour) plus the object. Why 16 bits: PAPP and
SINSTS/SINSTI are at most five digits; a Linky meter's subscriptions stop at 36 kVA, so real
values stay under 65,535 VA; the clamp only guards against a corrupt reading.
"""

import asyncio
from array import array

from tic import labels

MISSING = 0xFFFF
_R_PAPP = labels.index("PAPP")
_R_SINSTS = labels.index("SINSTS")
_R_SINSTI = labels.index("SINSTI")


class History:
    def __init__(self, points=360, period_ms=10000):
        self.points = points
        self.period_ms = period_ms
        self.papp = _missing(points + 1)
        self.injected = _missing(points + 1)
        self.pos = 0  # where the next point goes
        self.count = 0
        self._seq = -1

    def sample(self, rd):
        fresh = rd.seq != self._seq
        self._seq = rd.seq
        i = self.pos
        if fresh:
            v = self._get(rd, _R_PAPP)
            self.papp[i] = v if v != MISSING else self._get(rd, _R_SINSTS)
            self.injected[i] = self._get(rd, _R_SINSTI)
        else:
            self.papp[i] = self.injected[i] = MISSING
        i += 1
        self.pos = 0 if i > self.points else i
        if self.count < self.points:
            self.count += 1

    @staticmethod
    def _get(rd, r):
        if not rd.present(r):
            return MISSING
        v = rd.int_value(r)
        if v < 0:
            return MISSING
        return v if v < MISSING else MISSING - 1

    async def run(self, rd):
        while True:
            await asyncio.sleep(self.period_ms / 1000)
            self.sample(rd)

    def json(self, now_s):
        """The answer of /api/history as a producer for lib/httpd.py (see the contract)."""
        return _Json(self, now_s)


class _Json:
    """{"period_s", "now_s", "papp", "injected"} of the points kept at creation, written into
    each buffer readinto() is given, as many items as fit. Item k: -1 the head, 0..n-1 the
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


def _missing(n):
    """array('H') of n MISSING values, made without a list of n items (8 bytes each on a
    64-bit port: a 2.9 KB block for an hour); MicroPython copies a 2n-byte bytes."""
    try:
        a = array("H", bytes(2 * n))  # MicroPython: the bytes' buffer
    except TypeError:  # CPython
        a = array("H", [0]) * n
    for i in range(n):
        a[i] = MISSING
    return a


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
