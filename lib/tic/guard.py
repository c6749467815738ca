"""Keep corrupt energy indexes away from energy dashboards.

The TIC checksum is a 6-bit sum: it misses bit-6 flips, permutations and compensating errors
(tic-protocol.md §3, §13). A wrong energy index that reaches Home Assistant is expensive: a
`total_increasing` sensor that goes down is taken as a meter reset, so one bad value can add
the whole index to the statistics. IndexGuard therefore checks every energy index (the rows of
tic.labels with F_GUARDED: all Wh and VArh registers of both modes) against a trusted
reference per label, and publishes a new value only once the next frame confirms it.

Why confirm: a value can pass the checksum and every plausibility test and still be wrong (a
survey at BER 1e-3 saw EASF04 "000000002" for "000000000", bit 1 flipped in the last digit and
in the checksum character). Taken as the reference, such a value makes every later true value
look like a decrease, forever on a register that never moves. A single corrupt value is
almost never followed by a value that agrees with it, so requiring that agreement keeps it out
at the cost of one frame of latency (1-3 s; one more frame each time the confirming group is
lost to its checksum): nothing for energy.

Consistency of v with an earlier value u, dt ms earlier: u <= v <= u + allowance(dt), where
    allowance(dt) = power_VA * margin * (dt_s + jitter_s) / 3600 + slack_wh.
The power is PCOUP (else PREF) kVA in standard mode; ISOUSC A x 200 V (x 3 on three-phase) or
else IMAX A x 240 V (x 3) in historique; `default_va` (36 kVA) until known. Injected and
reactive energies (producer rows) use the larger of that and `default_va`, as injection is not
bounded by the subscription.

Per label the guard keeps the reference (confirmed: what is published), and at most one
candidate (a plausible newer value awaiting confirmation). For each value v:

* not all digits (the parser gives -1; a bit-6 flip of a digit is never a digit) -> REJECT;
* v == reference -> ACCEPT (the candidate, if any, is dropped: it was not confirmed);
* v consistent with the reference and greater (plausible growth) -> PENDING. First, if the
  candidate c is consistent with v (reference <= c <= v, v - c within the allowance for their
  time gap) c is confirmed: it becomes the reference. Then v becomes the candidate; but if v
  equals the reference just confirmed, v is that reference: ACCEPT;
* otherwise (a decrease, or growth faster than the power allows) -> REJECT; the candidate
  stays (the next value may still confirm it).
A corrupt value is thus published only if the next value that arrives agrees with it, i.e. is
not lower and close enough. If that next value is true, what gets published is at most the
true index, so it never has to go down: a slightly wrong value confirmed that way (a little
low, or a little high with the meter already past it) costs nothing but a wrong step.
Start-up is the same mechanism without a reference: each value is a candidate (PENDING), the
first one that the next value confirms becomes the reference; a value that disagrees with the
candidate replaces it (start over).

Recovery: if values keep disagreeing with the reference but agree with each other for
`resync_frames` frames in a row, the reference was wrong or the meter really jumped (TIC cut
for a long time, clock aliasing): the guard re-anchors on the last of them (ACCEPT). Downwards
only for a drop of at least `resync_drop_wh` (meter replaced): a small drop is what follows a
slightly-high wrong reference, and re-anchoring there would publish a decrease; the guard
waits until the real index catches up instead. Call reset() when the meter changes.

Codes per group (check_frame's bytearray, accept()'s return value):
    REJECT  = 0  guarded value refused; the reference did not change
    ACCEPT  = 1  the value IS the reference (equal to it, or just confirmed): publish it
    PENDING = 2  plausible, awaiting confirmation by the next frame; the reference may have
                 changed (an earlier candidate confirmed): publish guard.last(row) if it did
    FREE    = 3  not an energy index: the guard has no opinion, publish as is
So a publisher publishes guard.last(row) for ACCEPT and PENDING groups when it is >= 0 and
differs from what it published last; the reference never changes on REJECT.

Time: `now_ms` is time.ticks_ms() (or any increasing ms counter); differences are taken modulo
2^30 like ticks_diff, so gaps over 2^29 ms (6.2 days) alias to "no time" (then the resync
path recovers). Values are < 10^9 < 2^30 and every intermediate stays below 2^30: no long ints,
so check_frame allocates nothing after construction (tests/mptest_guard.py proves it).

Use:
    guard = IndexGuard()                  # options: see __init__
    ok = guard.check_frame(frame, time.ticks_ms())   # in the parser's on_frame
    for i in range(frame.n):
        if ok[i] == FREE: publish group i as is
        elif ok[i] != REJECT: v = guard.last(labels.index_for_frame(frame, i)); publish v if
            it is >= 0 and new
    guard.accept(row_or_index, value, now_ms) -> code, for one value outside a frame
    guard.last(row_index) -> the reference (confirmed value) or -1; guard.limit_va
    guard.accepted   values that became the reference or equalled it (a candidate counts
                     when it is confirmed)
    guard.rejected   values refused (REJECT)
    guard.dropped    candidates never confirmed
    guard.resyncs    re-anchorings; all counters wrap at 2^30
    reset(); set_limit(va)
"""

from tic import MODE_STANDARD, labels

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


# Per-group results of check_frame / accept (see the module docstring).
REJECT = const(0)  # guarded, refused: the reference did not change
ACCEPT = const(1)  # guarded, the value is the reference: publish it
PENDING = const(2)  # guarded, plausible, awaiting confirmation: publish last() if it changed
FREE = const(3)  # not an energy index: the guard has no opinion

_MASK = const(0x3FFFFFFF)  # ticks period and counter wrap: 2^30
_HALF = const(0x20000000)
_MAX_VA_M = const(250000)  # cap on power x margin (VA): keeps 3599 s x it below 2^30
_NONE = const(0xFF)


def _inc(n):
    """n + 1, wrapping to 0 after 2^30 - 1 without ever forming 2^30 (a long int on ESP32)."""
    return n + 1 if n < _MASK else 0


# Per label row: its slot if guarded (0 <= slot < SLOTS), else what check_frame learns from
# it (a row that sets the power limit, one that only three-phase meters send), else _NONE.
# And per slot: whether it is a producer register.
_PCOUP = const(0xF0)
_PREF = const(0xF1)
_ISOUSC = const(0xF2)
_IMAX = const(0xF3)
_IMAX1 = const(0xF4)  # three-phase, too
_TRI = const(0xF5)
_slot_of = bytearray(b"\xff" * labels.COUNT)
_n = 0
_prod = []
for _r in range(labels.COUNT):
    _f = labels.flags(_r)
    if _f & labels.F_GUARDED:
        _slot_of[_r] = _n
        _prod.append(1 if _f & labels.F_PRODUCER else 0)
        _n += 1
    elif _f & labels.F_TRI:
        _slot_of[_r] = _TRI
if _n > _PCOUP:
    raise ValueError("tic.guard: too many guarded labels")
_slot_of[labels.index("PCOUP")] = _PCOUP
_slot_of[labels.index("PREF")] = _PREF
_slot_of[labels.index("ISOUSC")] = _ISOUSC
_slot_of[labels.index("IMAX")] = _IMAX
_slot_of[labels.index("IMAX1")] = _IMAX1
SLOTS = _n
_PRODUCER = bytes(_prod)
del _n, _prod, _r, _f


class IndexGuard:
    """Per-label plausibility check of energy indexes. See the module docstring."""

    def __init__(
        self,
        *,
        default_va=36000,
        margin_pct=150,
        jitter_s=3,
        slack_wh=2,
        resync_frames=10,
        resync_drop_wh=100000,
        max_groups=96,
    ):
        self.default_va = default_va
        self.margin_pct = margin_pct
        self.jitter_s = jitter_s
        self.slack_wh = slack_wh
        self.resync_frames = resync_frames
        self.resync_drop_wh = resync_drop_wh
        self.limit_va = 0  # 0: not known yet (default_va applies)
        self._va_m = self._va_m_prod = 0
        self.set_limit(0)
        self._tri = False
        self.ok = bytearray(max_groups)  # per-group result of the last check_frame
        # Counters, wrapped at 2^30 to stay small ints.
        self.accepted = 0
        self.rejected = 0
        self.dropped = 0
        self.resyncs = 0
        # Per slot: reference (confirmed) value (-1: none yet) and the time of its frame;
        # candidate value (-1: none) and time; follower value, time and run length (successive
        # mutually consistent values that disagree with the reference: the resync path).
        self._last = [-1] * SLOTS
        self._ltime = [0] * SLOTS
        self._cand = [-1] * SLOTS
        self._ctime = [0] * SLOTS
        self._fol = [0] * SLOTS
        self._ftime = [0] * SLOTS
        self._run = bytearray(SLOTS)

    def reset(self):
        """Forget every reference (new meter, mode change): the next values start over."""
        for s in range(SLOTS):
            self._last[s] = -1
            self._cand[s] = -1
            self._run[s] = 0
        self.set_limit(0)
        self._tri = False

    def set_limit(self, va):
        """Set the meter's power limit in VA (0: unknown, use default_va). check_frame calls
        it with what the frame says; call it yourself when using accept() alone."""
        self.limit_va = va
        va = va or self.default_va
        prod = max(va, self.default_va)
        # power x margin, capped so that 3599 s x it stays below 2^30
        self._va_m = min(va * self.margin_pct // 100, _MAX_VA_M)
        self._va_m_prod = min(prod * self.margin_pct // 100, _MAX_VA_M)

    def last(self, row_index):
        """The reference of a guarded label (row index): the last confirmed value, the one to
        publish; -1 if there is none yet or the row is not guarded."""
        s = _slot_of[row_index]
        return -1 if s >= _PCOUP else self._last[s]

    def _allow(self, s, dt):
        """Largest plausible growth in Wh for dt ms (ticks difference, may be negative)."""
        d = dt & _MASK
        if d >= _HALF:  # "negative": time went back or aliased; count no time
            d = 0
        sec = (d + 999) // 1000 + self.jitter_s
        va_m = self._va_m_prod if _PRODUCER[s] else self._va_m
        return (sec // 3600) * va_m + (sec % 3600) * va_m // 3600 + self.slack_wh

    def _follows(self, s, u, ut, v, now):
        """Is v (at now) consistent with an earlier value u (at ut)?"""
        return u <= v and v - u <= self._allow(s, now - ut)

    def _anchor(self, s, v, t):
        """v (from the frame at t) becomes the reference."""
        self._last[s] = v
        self._ltime[s] = t
        self._run[s] = 0
        self.accepted = _inc(self.accepted)

    def _grow(self, s, v, now):
        """v is plausible after the reference (or there is none yet): confirm the candidate
        if v agrees with it, then v is the new candidate, or the reference itself."""
        self._run[s] = 0
        c = self._cand[s]
        if c >= 0:
            self._cand[s] = -1
            if self._follows(s, c, self._ctime[s], v, now):
                self._anchor(s, c, self._ctime[s])
                if v == c:
                    self._ltime[s] = now  # the same value, seen later: a tighter bound
                    self.accepted = _inc(self.accepted)
                    return ACCEPT
            else:
                self.dropped = _inc(self.dropped)
        self._cand[s] = v
        self._ctime[s] = now
        return PENDING

    def _check(self, s, v, now):
        if v < 0:  # not all digits (or empty)
            self.rejected = _inc(self.rejected)
            return REJECT
        last = self._last[s]
        if last < 0:  # no reference yet
            return self._grow(s, v, now)
        if v == last:
            if self._cand[s] >= 0:  # not confirmed: dropped
                self._cand[s] = -1
                self.dropped = _inc(self.dropped)
            self._ltime[s] = now
            self._run[s] = 0
            self.accepted = _inc(self.accepted)
            return ACCEPT
        if self._follows(s, last, self._ltime[s], v, now):
            return self._grow(s, v, now)
        # Disagrees with the reference: track the run of such values that agree with each
        # other (the follower).
        run = self._run[s]
        if run and self._follows(s, self._fol[s], self._ftime[s], v, now):
            if run < 255:
                run += 1
        else:
            run = 1
        self._fol[s] = v
        self._ftime[s] = now
        self._run[s] = run
        if run >= self.resync_frames and (v > last or last - v >= self.resync_drop_wh):
            # a run of values that agree with each other: they confirm themselves
            self.resyncs = _inc(self.resyncs)
            if self._cand[s] >= 0:
                self._cand[s] = -1
                self.dropped = _inc(self.dropped)
            self._anchor(s, v, now)
            return ACCEPT
        self.rejected = _inc(self.rejected)
        return REJECT

    def accept(self, row, value, now_ms):
        """Check one value of a label (a tic.labels row or row index); returns a code.
        Unlike check_frame it does not learn the power limit: call set_limit() for that."""
        r = row if isinstance(row, int) else labels.row_index(row)
        s = _slot_of[r] if r >= 0 else _NONE
        if s >= _PCOUP:  # not guarded
            return FREE
        return self._check(s, value, now_ms & _MASK)

    def check_frame(self, frame, now_ms):
        """Check every group of a tic.parser Frame; returns self.ok, a bytearray where ok[i] is
        the code of group i (what to publish: see the module docstring). No allocation (unless
        the frame has more groups than max_groups, which grows self.ok once).

        The power limit found in this frame (PCOUP, PREF, ISOUSC, IMAX) applies from the next
        frame on; the first frame only makes the values candidates anyway.
        """
        n = frame.n
        if n > len(self.ok):
            self.ok = bytearray(n)
        ok = self.ok
        now = now_ms & _MASK
        pcoup = pref = isousc = imax = -1
        for i in range(n):
            r = labels.index_for_frame(frame, i)
            if r < 0:
                ok[i] = FREE
                continue
            s = _slot_of[r]
            if s < _PCOUP:  # a slot: guarded
                ok[i] = self._check(s, frame.int_value(i), now)
                continue
            ok[i] = FREE
            if s == _NONE:
                pass
            elif s == _PCOUP:
                pcoup = frame.int_value(i)
            elif s == _PREF:
                pref = frame.int_value(i)
            elif s == _ISOUSC:
                isousc = frame.int_value(i)
            elif s == _IMAX:
                imax = frame.int_value(i)
            elif s == _IMAX1:
                imax = frame.int_value(i)
                self._tri = True
            else:  # _TRI
                self._tri = True
        va = self.limit_va
        if frame.mode == MODE_STANDARD:
            if pcoup > 0:
                va = pcoup * 1000
            elif pref > 0:
                va = pref * 1000
        else:
            phases = 3 if self._tri else 1
            if isousc > 0:
                va = isousc * 200 * phases
            elif imax > 0:
                va = imax * 240 * phases
        if va != self.limit_va:
            self.set_limit(va)
        return ok
