"""The last hour of apparent and injected power for the status page's chart.

Contract:
  History(points=360, period_ms=10000)   two fixed arrays('H') of `points` VA values
  await run(readings)   the task: sample() every period_ms
  sample(readings)      adds one point to each series: apparent power (PAPP in historique,
                        SINSTS in standard) and injected power (SINSTI, producers); MISSING
                        when the label is absent or no frame came since the last sample;
                        values above 65534 VA are clamped. Allocates nothing.
  count                 points kept (at most `points`), oldest overwritten first
  write_json(buf, now_s, last=-1) -> n   {"period_s", "now_s", "papp": [...], "injected":
                        [...]}, the newest `last` points (-1: all), oldest first, MISSING
                        as null, into buf (ValueError if too small; JSON_SIZE(points)
                        always fits). Allocates nothing.
  fit(size) -> n        how many of the newest points fit in `size` bytes
Cost: 4 bytes per point (1,440 bytes for an hour) plus the object.
"""

import asyncio
from array import array

from tic import labels

MISSING = 0xFFFF
_R_PAPP = labels.index("PAPP")
_R_SINSTS = labels.index("SINSTS")
_R_SINSTI = labels.index("SINSTI")


def JSON_SIZE(points):  # noqa: N802 (a size, like a constant)
    return 80 + 12 * points  # "65534," or "null," twice per point, plus the keys


class History:
    def __init__(self, points=360, period_ms=10000):
        self.points = points
        self.period_ms = period_ms
        self.papp = _missing(points)
        self.injected = _missing(points)
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
        self.pos = 0 if i == self.points else i
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

    def fit(self, size):
        """How many of the newest points write_json() can put in `size` bytes (the head
        counted at its widest). Allocates nothing."""
        room = size - 80  # the keys, the brackets and two numbers of up to 10 digits
        n = 0
        i = self.pos
        while n < self.count:
            i = (i or self.points) - 1
            room -= _width(self.papp[i]) + _width(self.injected[i]) + 2
            if room < 0:
                break
            n += 1
        return n

    def write_json(self, buf, now_s, last=-1):
        """The JSON of the newest `last` points (-1: all kept) into buf; its length."""
        n = self.count if last < 0 else min(last, self.count)
        p = _put(buf, 0, b'{"period_s":')
        p = _num(buf, p, self.period_ms // 1000)
        p = _put(buf, p, b',"now_s":')
        p = _num(buf, p, now_s)
        p = _put(buf, p, b',"papp":[')
        p = self._series(buf, p, self.papp, n)
        p = _put(buf, p, b'],"injected":[')
        p = self._series(buf, p, self.injected, n)
        return _put(buf, p, b"]}")

    def _series(self, buf, p, a, n):
        i = self.pos - n
        if i < 0:
            i += self.points
        for k in range(n):
            v = a[i]
            if k:
                p = _put(buf, p, b",")
            p = _put(buf, p, b"null") if v == MISSING else _num(buf, p, v)
            i += 1
            if i == self.points:
                i = 0
        return p


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
    if v == MISSING:
        return 4
    return 1 if v < 10 else 2 if v < 100 else 3 if v < 1000 else 4 if v < 10000 else 5


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
