"""The readings store: the last valid value of every label, for publishers that read at their
own pace (a parser frame is only valid until the next poll).

    rd = Readings(guard)            # the reader's IndexGuard; preallocates everything
    rd.update(frame, ok, now_ms)    # in the reader's on_frame; or pass rd.on_frame itself
    await rd.event.wait(); rd.event.clear()     # a frame was stored

Per label row r (tic.labels, 0 <= r < labels.COUNT), no allocation unless noted:
    present(r)        the meter currently sends it (seen within ABSENT_AFTER frames)
    seen(r)           it was stored from the last frame
    changed(r)        its value, horodate or presence changed with the last frame
    changed_since(r, t)   it changed after tick t
    int_value(r)      int of a digit value (at most 9 digits), else -1
    copy_value(r, dst, at=0) -> n    the raw bytes, padding kept
  and, allocating (firmware/readings_more.py): changed_ms(r) (ticks_ms of its last change),
    value_len(r), value(r) (the raw value as bytes), has_horodate(r),
    copy_horodate(r, dst, at=0) -> 13 or 0
Frame-wide: seq (frames stored, wraps at 2^30), mode (of the last frame), generation (+1 at
each reset: mode or meter change; entities of the old set retire), dropped (groups refused,
wraps at 2^30), meter_id (bytes, allocates; b"" until confirmed) or copy_meter_id(dst) -> n
(0 until confirmed), event (asyncio.Event).

What gets in: a known label whose value fits its kind and size (digits: exactly `size` of
them; hex digits: exactly `size`; text: printable, at most `size`; ADCO/ADSC: 1 to 12
digits), with a valid horodate exactly when the label has one. Anything else is counted in
`dropped` and left out. An energy index (F_GUARDED) stores only guard.last(row), the value
the guard confirmed, never the frame's own value; it is present once one is confirmed.
The meter id is confirmed by _ID_CONFIRM frames in a row that agree; a confirmed id that
changes, or a frame of the other mode, resets the store (and a new meter, the guard).
A label goes absent after ABSENT_AFTER frames without it (a group lost to its checksum does
not make it flicker); historique short frames (overload) age nothing. Why: docs/design/
readings.md. The constructor's table building is firmware/readings_init.py and the readers no
firmware part calls (value, meter_id, value_len, changed_ms, has_horodate, copy_horodate) are
firmware/readings_more.py, both loaded on use and dropped: the resident code is the per-frame
update and the allocation-free readers. Memory on a 32-bit board: 2.5 KB per store (2.2 KB of
tables, all made at construction) and about 4 KB of code.
"""

import time

from firmware import unload
from tic import labels

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


# Kinds as the store checks them (the first three are tic.labels' KIND_*).
_K_INT = const(0)  # exactly `size` decimal digits
_K_TEXT = const(1)  # printable, at most `size` characters
_K_HEX = const(2)  # exactly `size` hexadecimal digits
K_ID = const(3)  # ADCO, ADSC: 1 to `size` decimal digits (a capture has 11), kept as text

_K_MASK = const(3)
K_GUARDED = const(4)  # kinds[r] bit: an energy index (labels.F_GUARDED)
K_SHORT = const(8)  # kinds[r] bit: a label of historique short frames (labels.F_SHORT)

# Status bits per row; bits 4-7 count the frames without the label since it was last seen.
S_PRESENT = const(1)
_S_SEEN = const(2)
_S_CHANGED = const(4)
_S_MISS = const(16)

ABSENT_AFTER = const(3)  # frames without a label before it is absent
_ID_CONFIRM = const(2)  # frames in a row with the same meter id before it is taken
HORODATE_LEN = const(13)
NO_SLOT = const(0xFF)

_MASK = const(0x3FFFFFFF)  # ticks period, counter wrap: 2^30
_HALF = const(0x20000000)
_W = const(4)  # tic.parser Frame.idx entries per group: label start, end, value start, end

_R_ADCO = labels.index("ADCO")
_R_ADSC = labels.index("ADSC")
# Days per month for horodate checks (February: 29, leap years checked apart).
_MDAYS = b"\x1f\x1d\x1f\x1e\x1f\x1e\x1f\x1f\x1e\x1f\x1e\x1f"

try:
    _ticks_ms = time.ticks_ms  # MicroPython
except AttributeError:  # CPython (tests)
    _t0 = time.monotonic()

    def _ticks_ms():
        return int((time.monotonic() - _t0) * 1000) & _MASK


def _inc(n):
    return n + 1 if n < _MASK else 0


def _dig2(b, k):
    """The two decimal digits at b[k], b[k + 1] as an int (both known to be digits)."""
    return (b[k] - 48) * 10 + b[k + 1] - 48


def _copy(src, a, e, dst, at):
    """dst[at:] = src[a:e] byte by byte (no slice object, no allocation); True if any byte
    differed."""
    ch = False
    at -= a
    for j in range(a, e):
        c = src[j]
        if dst[at + j] != c:
            dst[at + j] = c
            ch = True
    return ch


def _same(src, a, e, dst):
    """src[a:e] == dst[:e - a], compared in place."""
    o = -a
    for j in range(a, e):
        if dst[o + j] != src[j]:
            return False
    return True


def horodate_ok(b, k):
    """True if b[k:k + 13] is a valid SAAMMJJhhmmss horodate (season H E h e or space, a real
    date of 20AA, a time of day): what tic.decode.horodate accepts. No allocation."""
    s = b[k]
    if s not in (72, 69, 104, 101, 32):  # H E h e SP
        return False
    for j in range(k + 1, k + HORODATE_LEN):
        if not 48 <= b[j] <= 57:
            return False
    yy = _dig2(b, k + 1)
    mo = _dig2(b, k + 3)
    d = _dig2(b, k + 5)
    if not 1 <= mo <= 12 or not 1 <= d <= _MDAYS[mo - 1]:
        return False
    if mo == 2 and d == 29 and yy % 4:
        return False
    return _dig2(b, k + 7) < 24 and _dig2(b, k + 9) < 60 and _dig2(b, k + 11) < 60


class Readings:
    """Per-label store of valid values. `guard`: the tic.guard.IndexGuard whose codes come
    with each frame (the reader's). See the module docstring."""

    def __init__(self, guard):
        from firmware import readings_init  # boot only: its code is not kept

        readings_init.init(self, guard)
        unload("firmware.readings_init")

    def __getattr__(self, name):
        # The readers no firmware part calls (value, meter_id, value_len, changed_ms,
        # has_horodate, copy_horodate: tests, host tools) are in firmware/readings_more.py,
        # loaded on their use (which allocates); AttributeError for any other name.
        from firmware import readings_more

        f = getattr(readings_more, name)
        if name == "meter_id":
            return f(self)
        return lambda *a: f(self, *a)

    # -- storing
    def reset(self):
        """Forget every value and the meter id (mode or meter change); generation + 1."""
        st = self.status
        for r in range(len(st)):
            st[r] = 0
            self.lens[r] = 0
        self._idn = self._candn = self._candk = 0
        self.generation = _inc(self.generation)

    def on_frame(self, frame, ok):
        """TicReader's on_frame(frame, ok): update() at the current ticks_ms."""
        self.update(frame, ok, _ticks_ms())

    def update(self, frame, ok, now_ms):
        """Store the valid groups of a tic.parser Frame; `ok`: the guard's codes for it
        (guard.check_frame's result, already computed). Sets `event`. Allocates nothing.
        Cost: one pass over the frame's value bytes, plus one over the label rows."""
        if not frame.n:
            return  # no valid group: nothing to store (the reader does not pass these on)
        now = now_ms & _MASK
        m = frame.mode
        if m != self.mode:
            if self.mode:
                self.reset()
            self.mode = m
        st = self.status
        n = len(st)
        for r in range(n):
            st[r] &= ~(_S_SEEN | _S_CHANGED)
        short = m == 1  # tic.MODE_HISTORIQUE: a short frame (overload) has only F_SHORT labels
        for i in range(frame.n):
            r = labels.index_for_frame(frame, i)
            if r < 0:
                self.dropped = _inc(self.dropped)
                continue
            k = self.kinds[r]
            if not k & K_SHORT:
                short = False
            if k & K_GUARDED:
                self._index(r, i, ok, now)
            elif not self._store(r, i, frame, now):
                self.dropped = _inc(self.dropped)
        ticks = self._ticks
        for r in range(n):
            s = st[r]
            if s & _S_SEEN:
                st[r] = s & 7 | S_PRESENT  # no miss
                if not s & S_PRESENT:
                    st[r] |= _S_CHANGED
                    ticks[r] = now
            elif s & S_PRESENT and not short:
                s += _S_MISS
                if s >> 4 >= ABSENT_AFTER:
                    s = _S_CHANGED
                    ticks[r] = now
                st[r] = s
        self.seq = _inc(self.seq)
        self.event.set()

    def _index(self, r, i, ok, now):
        """An energy index: store the guard's confirmed value (9 digits), if it has one."""
        if i < len(ok) and ok[i] == 0:  # tic.guard.REJECT: the reference did not change
            if self.status[r] & S_PRESENT:
                self.status[r] |= _S_SEEN
            return
        v = self.guard.last(r)
        if v < 0:
            return
        b = self.vals
        a = self.off[r]
        e = self.off[r + 1]
        ch = self.lens[r] != e - a
        self.lens[r] = e - a
        for j in range(e - 1, a - 1, -1):
            d = 48 + v % 10
            v //= 10
            if b[j] != d:
                b[j] = d
                ch = True
        self._mark(r, ch, now)

    def _mark(self, r, changed, now):
        s = self.status[r] | _S_SEEN
        if changed:
            s |= _S_CHANGED
            self._ticks[r] = now
        self.status[r] = s

    def _store(self, r, i, frame, now):
        """Check group i (row r) and copy it in; False if it does not fit the label."""
        fb = frame.buf
        idx = frame.idx
        k = i * _W
        a = idx[k + 2]
        e = idx[k + 3]
        size = self.off[r + 1] - self.off[r]
        kind = self.kinds[r] & _K_MASK
        if e - a > size or (kind != _K_TEXT and e - a < (1 if kind == K_ID else size)):
            return False
        if kind == _K_TEXT:
            for j in range(a, e):
                if not 32 <= fb[j] <= 126:
                    return False
        elif kind == _K_HEX:
            for j in range(a, e):
                c = fb[j]
                if not (48 <= c <= 57 or 65 <= c <= 70 or 97 <= c <= 102):
                    return False
        else:
            for j in range(a, e):
                if not 48 <= fb[j] <= 57:
                    return False
        h = self.hslot[r]
        hk = idx[k + 1] + 1  # where a horodate starts
        if frame.has_horodate(i) != (h != NO_SLOT) or (h != NO_SLOT and not horodate_ok(fb, hk)):
            return False
        if kind == K_ID:
            self._meter(r, fb, a, e, now)
            return True
        ch = _copy(fb, a, e, self.vals, self.off[r])
        if self.lens[r] != e - a:
            self.lens[r] = e - a
            ch = True
        if h != NO_SLOT and _copy(fb, hk, hk + HORODATE_LEN, self.hods, h * HORODATE_LEN):
            ch = True
        self._mark(r, ch, now)
        return True

    def _meter(self, r, fb, a, e, now):
        """ADCO/ADSC fb[a:e]: store it if it is the confirmed meter id; confirm a new one
        after _ID_CONFIRM frames in a row (a new meter resets the store and the guard)."""
        ln = e - a
        same = ln == self._candn
        if _copy(fb, a, e, self._cand, 0):
            same = False
        self._candn = ln
        k = self._candk + 1 if same else 1
        self._candk = k = min(k, 255)
        if ln == self._idn and _same(fb, a, e, self._id):
            self._mark(r, False, now)  # the confirmed id again
            return
        if k < _ID_CONFIRM:
            return  # unconfirmed: the row keeps the confirmed id (and is not seen)
        if self._idn:  # another meter: start over
            self.reset()
            self.guard.reset()
            self._candn = ln
            self._candk = k
        _copy(fb, a, e, self._id, 0)
        self._idn = ln
        _copy(fb, a, e, self.vals, self.off[r])
        self.lens[r] = ln
        self._mark(r, True, now)

    # -- reading (allocation-free unless noted)
    def present(self, r):
        return bool(self.status[r] & S_PRESENT)

    def seen(self, r):
        return bool(self.status[r] & _S_SEEN)

    def changed(self, r):
        return bool(self.status[r] & _S_CHANGED)

    def changed_since(self, r, t):
        """True if row r changed after tick t (ticks modulo 2^30, within 2^29 ms)."""
        d = (self._ticks[r] - t) & _MASK
        return 0 < d < _HALF

    def copy_value(self, r, dst, at=0):
        """Copy row r's raw value to dst[at:]; returns its length (0 when absent)."""
        n = self.lens[r] if self.status[r] & S_PRESENT else 0
        b = self.vals
        a = self.off[r]
        for j in range(n):
            dst[at + j] = b[a + j]
        return n

    def int_value(self, r):
        """Row r's value as an int when it is 1 to 9 decimal digits, else -1."""
        n = self.lens[r] if self.status[r] & S_PRESENT else 0
        if not 0 < n <= 9:
            return -1
        b = self.vals
        v = 0
        for j in range(self.off[r], self.off[r] + n):
            d = b[j] - 48
            if not 0 <= d <= 9:
                return -1
            v = v * 10 + d
        return v

    def copy_meter_id(self, dst, at=0):
        """Copy the confirmed meter id to dst[at:]; returns its length, 0 until known."""
        for j in range(self._idn):
            dst[at + j] = self._id[j]
        return self._idn
