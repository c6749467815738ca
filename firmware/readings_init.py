"""Boot only: builds the tables of a firmware.readings.Readings (its constructor loads this
module and drops it after, so that the code is not kept).

    init(rd, guard)     every table of rd, preallocated; see firmware/readings.py
    size(r), kind(r)    tic.labels' value size and kind of row r (as tic.label_rows reads them;
                        that module is not loaded for two numbers per row: 3 KB on 32 bits)
"""

import asyncio
from array import array

from firmware.readings import (
    _R_ADCO,
    _R_ADSC,
    HORODATE_LEN,
    K_GUARDED,
    K_ID,
    K_SHORT,
)
from tic import labels

_ATTR = labels._ATTR  # 4 bytes a row: size, flags, mode|kind|unit, classes


def size(r):
    return _ATTR[4 * r]


def kind(r):
    return (_ATTR[4 * r + 2] >> 4) & 3


def init(rd, guard):
    """Set every attribute of the store `rd` (see firmware/readings.py)."""
    rd.guard = guard
    n = labels.COUNT
    rd.kinds = bytearray(n)
    rd.off = array("H", [0] * (n + 1))  # row r's value slot: vals[off[r]:off[r + 1]]
    rd.hslot = bytearray(b"\xff" * n)  # row r's horodate at hods[13 * hslot[r]]
    o = nh = 0
    for r in range(n):
        f = labels.flags(r)
        k = K_ID if r in (_R_ADCO, _R_ADSC) else kind(r)
        if f & labels.F_GUARDED:
            k |= K_GUARDED
        if f & labels.F_SHORT:
            k |= K_SHORT
        rd.kinds[r] = k
        if f & labels.F_HORODATE:
            rd.hslot[r] = nh
            nh += 1
        o += size(r)
        rd.off[r + 1] = o
    rd.vals = bytearray(o)
    rd.lens = bytearray(n)
    rd.hods = bytearray(HORODATE_LEN * nh)
    rd.status = bytearray(n)
    rd._ticks = array("i", [0] * n)
    rd._id = bytearray(12)  # confirmed meter id
    rd._idn = 0
    rd._cand = bytearray(12)  # meter id awaiting confirmation
    rd._candn = 0
    rd._candk = 0  # frames in a row that sent the candidate
    rd.seq = 0
    rd.mode = 0  # tic.MODE_*: of the last frame
    rd.generation = 0
    rd.dropped = 0
    rd.event = asyncio.Event()
