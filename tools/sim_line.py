"""The TIC line model of the simulator: what a UART on a Linky's TIC line receives, and when.

tools/sim.py runs it in its own CPython process (through tools/sim_link.py), outside the
simulated board's interpreter, so a capture never sits in the firmware's heap. The module is
plain Python with integer arithmetic and no imports beyond `time`, so tests also run it under
the MicroPython unix port (driving firmware/tic_reader.py on a clock they move).

A line is a sequence of characters sent back to back at the line's speed, 10 bits each (start,
7 data bits, even parity, stop). Time is counted in units of 1/9_216_000 s: every usual baud
rate (1200 ... 115200) is a whole number of units per bit and a millisecond is 9216 units, so
the model is exact in ints.
"""

import time

# Same receive buffer size as the device (see firmware/hal/esp32.py for the arithmetic).
RXBUF = 4096

UNITS_PER_S = 9216000
UNITS_PER_MS = 9216

# Host sources are polled by the firmware; kept for callers that await wait() directly.
POLL_MS = 20

try:  # MicroPython
    _ticks_ms = time.ticks_ms
    _ticks_diff = time.ticks_diff
except AttributeError:  # CPython
    _t0 = time.monotonic()

    def _ticks_ms():
        return int((time.monotonic() - _t0) * 1000)

    def _ticks_diff(a, b):
        return a - b


def _sub(a, b):
    return a - b


def check_baud(baud):
    """`baud` if the model can run at it (a whole number of units per bit), else ValueError."""
    if not isinstance(baud, int) or baud <= 0 or UNITS_PER_S % baud:
        raise ValueError("unsupported baud rate %r (use 1200 or 9600)" % (baud,))
    return baud


_check_baud = check_baud


def infer_baud(data):
    """The natural speed of a capture: standard mode (9600 Bd) separates fields with HT."""
    return 9600 if b"\t" in data else 1200


def infer_segments(data):
    """[(first byte, baud)] of a capture, frame by frame: a frame (STX to the next STX) is at
    9600 Bd when it has at least as many HT as LF (a standard group has two or three HT, a
    historique one none; a bit flip can make one HT: the majority decides), else 1200 Bd.
    Parts with neither take the speed of the frame before (the first: of the first decided
    one). A capture of one mode gives one segment; ticsim --switch-after gives two."""
    segs = []
    n = len(data)
    a = 0
    while a < n:
        ht = lf = 0
        b = a + 1
        while b < n:
            c = data[b] & 0x7F
            if c == 2:
                break
            if c == 9:
                ht += 1
            elif c == 10:
                lf += 1
            b += 1
        if ht or lf:
            baud = 9600 if ht >= lf else 1200
            if not segs:
                segs.append((0, baud))
            elif segs[-1][1] != baud:
                segs.append((a, baud))
        a = b
    return segs or [(0, infer_baud(data))]


class FileSource:
    """Replays `data` as a UART on a TIC line would deliver it, without threads.

    The line starts sending data[0] when the source opens and never pauses (10 bits a char:
    start, 7 data bits, even parity, stop). On each read the source looks at the clock and
    hands over the characters whose stop bit has been received since the last read.

    Receive buffer: like the ESP32 driver, it holds `rxbuf` characters; when the reader falls
    further behind, the characters arriving after the buffer filled are lost (the IDF stops
    reading the FIFO) and `overflows` counts the event.

    Wrong speed: when the firmware's baud differs from the line's, characters are produced by
    a bit-level model of a UART receiver: it waits for the line to be high, then for a falling
    edge, samples the middle of its own start bit (a high there is a glitch: hunt again), then
    7 data bits and the stop bit at its own bit period. A low stop bit is a framing error: the
    character is delivered anyway (the ESP32 IDF driver does not flag them) and the receiver
    waits for the line to go high again. So 9600 Bd on a 1200 Bd line reads mostly 0x00/0x7F
    bursts, 1200 on 9600 reads a few random characters: no valid group, as on real hardware.
    Bytes are masked to 7 bits in both paths (a 7-bit UART cannot deliver bit 7).

    Speed changes: `segments` [(first byte, baud)] gives the line's speed from that byte on
    (default: infer_segments, or `line_baud` for the whole capture). When the speed changes
    (a meter switched from historique to standard) only the bit-level model is used, at any
    firmware speed: at the right one it decodes the bytes exactly, as a UART does; a receiver
    that was mid-character at the change may misread a few characters before it resyncs.
    """

    def __init__(
        self, data, *, line_baud=None, segments=None, baud=9600, loop=True, rxbuf=RXBUF,
        clock=None,
    ):  # fmt: skip
        if not data:
            raise ValueError("empty TIC capture")
        self._data = data
        self._n = len(data)
        if segments is None:
            segments = [(0, line_baud)] if line_baud else infer_segments(data)
        self._set_segments(segments)
        self.loop = loop
        self.rxbuf = rxbuf
        self.overflows = 0
        self._clock = clock or _ticks_ms
        self._diff = _ticks_diff if clock is None else _sub
        # Even parity bit of each 7-bit value, for the bit-level line model.
        par = bytearray(128)
        for v in range(128):
            p = 0
            x = v
            while x:
                p ^= x & 1
                x >>= 1
            par[v] = p
        self._parity = par
        self._scratch = bytearray(64)
        self._last = self._clock()
        self._t = 0  # units since the line started
        self._pos = 0  # matched speed: index of the next character to deliver
        self._gap_at = -1  # matched speed: overflow: at this index, skip ...
        self._gap_to = -1  # ... to this one
        self._rt = 0  # wrong speed: receiver time cursor (units)
        self._need_high = False
        self.set_baud(baud)

    def _set_segments(self, segments):
        segs = tuple((int(b), _check_baud(r)) for b, r in segments)
        if not segs or segs[0][0] != 0:
            raise ValueError("line segments must start at byte 0")
        for i in range(1, len(segs)):
            if not segs[i - 1][0] < segs[i][0] < self._n:
                raise ValueError("line segments must be increasing byte offsets in the capture")
        self.segments = segs
        self.line_baud = segs[0][1]  # the speed the line starts at
        self._uniform = all(r == self.line_baud for _, r in segs)
        self._lb = UNITS_PER_S // self.line_baud  # units per line bit (uniform line)
        # Non-uniform line: per segment its first character, units per bit, start time.
        self._sb = [b for b, _ in segs]
        self._slb = [UNITS_PER_S // r for _, r in segs]
        st = [0]
        for i in range(1, len(segs)):
            st.append(st[-1] + (self._sb[i] - self._sb[i - 1]) * 10 * self._slb[i - 1])
        self._st = st
        self._dur = st[-1] + (self._n - self._sb[-1]) * 10 * self._slb[-1]  # one pass, units
        self._lb_last = self._slb[-1]

    def char_time(self, i):
        """When character i of the capture (first pass) starts on the line, in units."""
        k = 0
        while k + 1 < len(self._sb) and self._sb[k + 1] <= i:
            k += 1
        return self._st[k] + (i - self._sb[k]) * 10 * self._slb[k]

    # -- clock
    def _advance(self):
        c = self._clock()
        self._t += self._diff(c, self._last) * UNITS_PER_MS
        self._last = c
        return self._t

    def _done(self, t):
        """How many characters have been fully received by time t (matched speed)."""
        lb = self._lb
        first = 9 * lb + lb // 2  # middle of the first stop bit
        if t < first:
            return 0
        d = (t - first) // (10 * lb) + 1
        if not self.loop and d > self._n:
            d = self._n
        return d

    def set_baud(self, baud):
        """Re-init at another speed: what was buffered is dropped, as a UART re-init does."""
        self.baud = _check_baud(baud)
        self._rb = UNITS_PER_S // baud  # units per receiver bit
        # The exact character path needs one line speed all along, equal to ours.
        self._matched = self._uniform and baud == self.line_baud
        t = self._advance()
        self._pos = self._done(t) if self._uniform else 0
        self._gap_at = -1
        self._rt = t
        # A receiver started while the line runs waits for idle first; before the line's
        # first character (t == 0) it has been idle.
        self._need_high = t > 0

    def any(self):
        t = self._advance()
        if self._matched:
            end = self._gap_at if self._gap_at >= 0 else self._done(t)
            return min(end - self._pos, self.rxbuf)
        return min((t - self._rt) // (10 * self._rb), self.rxbuf)

    def readinto(self, buf, nbytes=-1):
        """Copy the characters received since the last read into buf; None if none."""
        t = self._advance()
        lim = len(buf) if nbytes < 0 else min(nbytes, len(buf))
        if self._matched:
            n = self._read_matched(buf, lim, t)
        else:
            n = self._read_garbled(buf, lim, t)
        return n if n else None

    # -- matched speed: the capture's characters, on time
    def _read_matched(self, buf, lim, t):
        done = self._done(t)
        pos = self._pos
        if self._gap_at < 0 and done - pos > self.rxbuf:
            self._gap_at = pos + self.rxbuf
            self._gap_to = done
            self.overflows += 1
        end = self._gap_at if self._gap_at >= 0 else done
        n = end - pos
        n = min(n, lim)
        data = self._data
        size = self._n
        j = pos % size
        for i in range(n):
            buf[i] = data[j] & 0x7F
            j += 1
            if j == size:
                j = 0
        pos += n
        if pos == self._gap_at:
            pos = self._gap_to
            self._gap_at = -1
        self._pos = pos
        return n

    # -- wrong speed: a bit-level UART receiver on the line
    def _bit(self, k):
        """Line level (0/1) during line bit k."""
        c = k // 10
        i = k - c * 10
        if c >= self._n:
            if not self.loop:
                return 1  # capture over: the line idles high
            c %= self._n
        if i == 0:
            return 0
        if i == 9:
            return 1
        b = self._data[c] & 0x7F
        if i == 8:
            return self._parity[b]
        return (b >> (i - 1)) & 1

    def _bit_index(self, t):
        """The line bit being sent at time t (bits counted from the start, loops included)."""
        if self._uniform:
            return t // self._lb
        dur = self._dur
        nb = 10 * self._n
        if t >= dur and not self.loop:  # after the capture: idle bits at the last speed
            return nb + (t - dur) // self._lb_last
        q = t // dur
        r = t - q * dur
        st = self._st
        i = len(st) - 1
        while st[i] > r:
            i -= 1
        return q * nb + 10 * self._sb[i] + (r - st[i]) // self._slb[i]

    def _bit_time(self, k):
        """When line bit k starts (inverse of _bit_index)."""
        if self._uniform:
            return k * self._lb
        nb = 10 * self._n
        if k >= nb and not self.loop:
            return self._dur + (k - nb) * self._lb_last
        q = k // nb
        kk = k - q * nb
        c = kk // 10
        sb = self._sb
        i = len(sb) - 1
        while sb[i] > c:
            i -= 1
        return q * self._dur + self._st[i] + (kk - 10 * sb[i]) * self._slb[i]

    def _level(self, t):
        return self._bit(self._bit_index(t))

    def _past_run(self, k, level, s, t):
        """The first bit index from k whose level differs; -1 if the run lasts past time t
        (the receiver then resumes from the run's last bit, not before s)."""
        while self._bit(k) == level:
            k += 1
            if self._bit_time(k) > t:
                prev = self._bit_time(k - 1)
                self._rt = prev if prev > s else s
                return -1
        return k

    def _decode(self, t):
        """The next character received by time t; -1 if none yet, -2 after a glitch."""
        rb = self._rb
        s = self._rt
        k = self._bit_index(s)
        if self._need_high:
            k = self._past_run(k, 0, s, t)
            if k < 0:
                return -1
            self._need_high = False
            s = max(s, self._bit_time(k))
        k = self._past_run(k, 1, s, t)
        if k < 0:
            return -1
        bt = self._bit_time(k)
        start = bt if bt > s else s
        mid = start + rb // 2
        if mid + 9 * rb > t:  # stop bit not received yet: resume from this start next time
            self._rt = start
            return -1
        if self._level(mid):  # start bit high at its middle: a glitch, not a character
            self._rt = mid
            return -2
        v = 0
        for j in range(7):
            v |= self._level(mid + (j + 1) * rb) << j
        stop = mid + 9 * rb
        if not self._level(stop):
            self._need_high = True  # framing error (or break): wait for idle
        self._rt = stop
        return v

    def _read_garbled(self, buf, lim, t):
        # Receiver far behind: keep the most recent rxbuf characters' worth of line time.
        span = self.rxbuf * 10 * self._rb
        if t - self._rt > span:
            self._rt = t - span
            self._need_high = True
            self.overflows += 1
        n = 0
        while n < lim:
            v = self._decode(t)
            if v == -1:
                break
            if v >= 0:
                buf[n] = v
                n += 1
        return n

    # -- a line that keeps going (tools/ticsim.py's meter)
    def extend(self, more, baud=None):
        """Append characters to a line that is not looped, sent at `baud` (default: the last
        speed) right after the current end. Cost: O(len(more) + number of speed changes)."""
        if self.loop:
            raise ValueError("a looped capture cannot be extended")
        baud = _check_baud(baud or self.segments[-1][1])
        was_matched = self._matched
        if not isinstance(self._data, bytearray):
            self._data = bytearray(self._data)
        start = self._n
        self._data += more
        self._n = len(self._data)
        segs = list(self.segments)
        if baud != segs[-1][1]:
            segs.append((start, baud))
        self._set_segments(segs)
        self._matched = self._uniform and self.baud == self.line_baud
        if was_matched and not self._matched:
            # The exact path no longer applies (the line changes speed ahead): the bit-level
            # receiver goes on from the start of the next character to deliver.
            self._rt = self.char_time(self._pos)
            self._need_high = False
            self._gap_at = -1

    def wait(self):
        """MicroPython: an awaitable that completes after a short poll period."""
        import asyncio

        return asyncio.sleep_ms(POLL_MS)

    def deinit(self):
        pass


class MeterLine(FileSource):
    """An endless line fed by `frames`, an iterator of (bytes, baud) (tools/ticsim.py's meter):
    frames are appended about a second of line time ahead of the clock, so the line never
    idles. Everything else is FileSource's model, not looped. Memory grows with the line
    (about 3.5 MB an hour at 9600 Bd), in the simulator's process."""

    def __init__(self, frames, *, baud=9600, rxbuf=RXBUF, clock=None):
        self._frames = frames
        data, line_baud = next(frames)
        FileSource.__init__(
            self,
            bytearray(data),
            segments=[(0, line_baud)],
            baud=baud,
            loop=False,
            rxbuf=rxbuf,
            clock=clock,
        )

    def _advance(self):
        t = FileSource._advance(self)
        while self._dur < t + UNITS_PER_S:
            data, baud = next(self._frames)
            self.extend(data, baud)
        return t
