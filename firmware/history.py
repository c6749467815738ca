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
  pos                   where the next point goes in the arrays (a ring of points + 1);
                        firmware/web_state.py streams the points for /api/history
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
