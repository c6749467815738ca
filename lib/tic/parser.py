"""Zero-allocation streaming TIC parser, both modes, for CPython and MicroPython.

Feed it bytes as they come from the UART, in any chunking: `feed(buf, n)`. It frames on
STX/ETX/EOT and LF/CR (never on timing), checks every group's checksum, finds the mode from the
bytes (a group with HT is standard, with SP only historique) and keeps the valid groups of a
frame. At each ETX it calls `on_frame(frame)`; `parser.frame` is the last complete frame.

Why it allocates nothing: each chunk is copied whole into a preallocated frame buffer (a
slice assignment from an existing buffer, done in C, allocates nothing since MicroPython 1.26)
and scanned there in place; positions go into a preallocated array; numbers are accumulated
as small ints; labels are compared byte by byte or by a 20-bit hash. Two frame buffers
alternate, so the last complete frame stays readable while the next one fills.

Why it is fast: the per-byte work is one loop that classifies the byte and adds it to the
checksum; copying is done in C; control bytes (2 to 5 per group) take the slower paths.
Everything that allocates (strings, lists) is on demand only: `frame.label(i)`,
`frame.value(i)`, `frame.groups()`, `parser.stats()`.

Protocol reference: tic-protocol.md §2, §3 and §13 (the project's shared notes).
"""

from array import array

from tic import MODE_HISTORIQUE, MODE_STANDARD, MODE_UNKNOWN

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


_STX = const(0x02)
_ETX = const(0x03)
_EOT = const(0x04)
_HT = const(0x09)
_LF = const(0x0A)
_CR = const(0x0D)
_SP = const(0x20)

# The longest legal group, LF and CR excluded: PJOURF+1 (8) HT data (98) HT checksum = 109.
# Anything longer is line noise (a lost CR), a format error; the next LF resynchronises.
MAX_GROUP = const(109)
# Longest label: SMAXSN1-1 (9). Horodates are always 13 characters (SAAMMJJhhmmss).
_MAX_LABEL = const(9)
_HORODATE_LEN = const(13)
# Frame buffer: a three-phase producer frame in standard mode is about 1,900 bytes; the
# buffer also holds the last chunk fed (up to CHUNK bytes are copied in one C-speed move).
FRAME_SIZE = const(2560)
CHUNK = const(512)
MAX_GROUPS = const(96)
# Counters that can grow past 2^30 in a device's life wrap there to stay small ints (ESP32
# small ints are 31-bit); compare them by difference modulo 2^30.
_WRAP = const(0x3FFFFFFF)

# `_gs` (group start) states besides a position >= 0 (inside a group):
_BETWEEN = const(-1)  # between groups, or outside a frame
_BAD = const(-2)  # inside a group already known bad: skip to its end

# Per-group entries in Frame.idx: label start, label end, value start, value end. A horodate,
# when there is one, sits between label end and value start (value start = label end + 15);
# the separator and the checksum follow the value.
_W = const(4)


class Frame:
    """The valid groups of one frame, in received order. Readers allocate nothing unless noted."""

    def __init__(self, size=FRAME_SIZE, max_groups=MAX_GROUPS):
        self.buf = bytearray(size)
        self.idx = array("H", [0] * (_W * max_groups))
        self.max_groups = max_groups
        self.n = 0
        self.mode = MODE_UNKNOWN
        self.seq = 0

    def label_hash(self, i):
        """tic.label_hash of group i's label, computed on demand (the parser's hot path is
        spared the work for consumers that never ask)."""
        k = i * _W
        b = self.buf
        h = 0
        for j in range(self.idx[k], self.idx[k + 1]):
            h = (h * 33 + b[j]) & 0xFFFFF
        return h

    def label_is(self, i, name):
        """True if group i's label is `name` (bytes)."""
        k = i * _W
        st = self.idx[k]
        ln = self.idx[k + 1] - st
        if ln != len(name):
            return False
        b = self.buf
        for j in range(ln):
            if b[st + j] != name[j]:
                return False
        return True

    def label_in(self, i, blob, start, end):
        """True if group i's label equals blob[start:end] (blob: bytes-like), compared in place:
        one blob can hold many names (tic.labels) without an object per name."""
        k = i * _W
        st = self.idx[k]
        if self.idx[k + 1] - st != end - start:
            return False
        b = self.buf
        for j in range(start, end):
            if b[st] != blob[j]:
                return False
            st += 1
        return True

    def find(self, name):
        """Index of the first group labelled `name` (bytes), or -1."""
        for i in range(self.n):
            if self.label_is(i, name):
                return i
        return -1

    def int_value(self, i):
        """The value as a non-negative int; -1 if empty, not all digits, or over 9 digits.

        Nine digits stay below 2^30, a small int on the ESP32 (PRM and ADSC have more
        digits: read them as text).
        """
        k = i * _W
        a = self.idx[k + 2]
        e = self.idx[k + 3]
        if e <= a or e - a > 9:
            return -1
        b = self.buf
        v = 0
        for j in range(a, e):
            d = b[j] - 48
            if d < 0 or d > 9:
                return -1
            v = v * 10 + d
        return v

    def int_of(self, name):
        i = self.find(name)
        return -1 if i < 0 else self.int_value(i)

    def checksum(self, i):
        """The checksum character received with group i (an int; 0x20 to 0x5F)."""
        return self.buf[self.idx[i * _W + 3] + 1]

    def has_horodate(self, i):
        k = i * _W
        return self.idx[k + 2] - self.idx[k + 1] > 1

    def _text(self, a, e):  # allocates
        # Bit 7 is masked here too: a stray high byte on a 7-bit reader (line noise that the
        # checksum cannot see, since it sums modulo 64) must not break decoding.
        return bytes(b & 0x7F for b in self.buf[a:e]).decode()

    def label(self, i):
        k = i * _W
        return self._text(self.idx[k], self.idx[k + 1])

    def value(self, i):
        """The raw value, padding included (trim for display only)."""
        k = i * _W
        return self._text(self.idx[k + 2], self.idx[k + 3])

    def horodate(self, i):
        if not self.has_horodate(i):
            return None
        h = self.idx[i * _W + 1] + 1
        return self._text(h, h + _HORODATE_LEN)

    def groups(self):
        """[(label, horodate or None, value)] for tools and tests; allocates."""
        return [(self.label(i), self.horodate(i), self.value(i)) for i in range(self.n)]


class Parser:
    """Streaming parser. `mode`: MODE_UNKNOWN (auto), MODE_HISTORIQUE or MODE_STANDARD."""

    def __init__(self, on_frame=None, mode=MODE_UNKNOWN, frame_size=FRAME_SIZE,
                 max_groups=MAX_GROUPS):  # fmt: skip
        self.on_frame = on_frame
        self.fixed_mode = mode
        size = frame_size + CHUNK
        self._frames = (Frame(size, max_groups), Frame(size, max_groups))
        self._k = 0  # which of the two buffers is filling
        self.frame = None  # last complete frame
        self.mode = mode  # mode of the last valid group
        self._one = bytearray(1)  # the byte to look for when the fast path needs a position
        # Groups seen but not yet checked: (start, end, byte sum) each; a frame's worth.
        self._pend = array("H", [0] * (3 * max_groups))
        self._np = 0
        # Counters.
        self.bytes = 0  # wraps at 2^30
        self.frames = 0
        self.groups = 0  # valid groups; wraps at 2^30
        self.checksum_errors = 0
        self.format_errors = 0
        self.interrupted = 0
        self.ignored = 0  # bytes outside frames: before the first STX, after ETX/EOT
        self._outside_from = 0  # stream offset where the current outside-frame run began
        self._fast = -1  # while the fast path runs: where its chunk starts in the buffer
        self._chunk = None  # and the chunk itself
        self._off = 0  # stream offset of buffer position 0 for the chunk being scanned
        self.reset()

    def reset(self):
        """Forget any partial frame (after a baud-rate change, say). Counters are kept."""
        if getattr(self, "_in_frame", False):
            self._outside_from = self.bytes
        self._in_frame = False
        self._gs = _BETWEEN
        self._sum = 0
        self._np = 0
        self._wpos = 0  # where the next chunk goes in the filling buffer
        self._fresh = True  # nothing before _wpos is needed: a chunk may land anywhere
        # Until the first STX shows whether bit 7 carries parity (8N1 reader), scan byte by
        # byte, masking; the fast path assumes a 7-bit reader.
        self._probing = True
        self._bytewise = True
        if self.frame is self._frames[self._k]:  # keep the last complete frame readable
            self._k ^= 1
        self._frames[self._k].n = 0

    def settle(self):
        """Bring the group counters (groups, checksum_errors, format_errors) up to date with
        the frame in progress. They settle by themselves at each frame boundary; a caller that
        watches them between frames (mode detection) calls this. Allocates nothing."""
        self._check_pending()

    def stats(self):
        """The counters as a dict (allocates). Groups are counted once per frame; this
        counts those of the frame in progress too."""
        self.settle()
        return {
            "bytes": self.bytes,
            "frames": self.frames,
            "groups": self.groups,
            "checksum_errors": self.checksum_errors,
            "format_errors": self.format_errors,
            "interrupted": self.interrupted,
            "ignored": self.ignored,
        }

    def feed(self, buf, n=-1, start=0):
        """Parse buf[start:start+n] (n=-1: to the end). Never raises on bad input.

        Fastest when given a whole buffer (the firmware's reader fills its buffer before
        feeding it whenever the line keeps up). Why this one function holds the fast loop:
        MicroPython allocates the frame of a call with many locals on the heap (and frees it
        on return), at a cost that grows with heap fragmentation, so the per-chunk path makes
        no other call; group checks and callbacks happen once per frame.
        """
        whole = len(buf)
        end = whole if n < 0 else start + n
        stream = self.bytes  # stream offset of buf[start]
        self.bytes = (stream + end - start) & _WRAP
        if start or end != whole or self._bytewise:
            self._feed_bytewise(buf, start, end, stream)
            return
        fb = self._frames[self._k].buf
        if self._fresh:
            p = 0  # a new frame buffer: the chunk at its front
        else:
            p = self._wpos  # the chunk right after the previous one
            if p + whole > len(fb):
                self._feed_bytewise(buf, start, end, stream)
                return
        fb[p : p + whole] = buf  # C copy; a slice of buf would allocate, a whole one does not
        self._off = stream - p
        self._fresh = False
        self._fast = p
        self._chunk = buf
        lim = p + whole
        # The scan: iterating the bytes directly is the cheapest loop MicroPython has;
        # positions are only needed at control bytes, and a C `find` recovers them there.
        # Complete groups are only recorded here (start, end, sum), then checked in one batch
        # per frame by _check_pending.
        s = self._sum
        gs = self._gs
        inf = self._in_frame
        pend = self._pend
        np = self._np
        maxp = len(pend)
        pos = p - 1  # position of the last control byte handled
        for c in buf:
            if c > 0x1F:  # printable; bit 7 is clear on a 7-bit reader (see _bytewise)
                s += c
                continue
            if c == _HT:
                s += c
                continue
            if c == _CR:  # the same logic as _cr()
                pos = fb.find(b"\r", pos + 1, lim)
                if gs >= 0 and np < maxp:
                    pend[np] = gs
                    pend[np + 1] = pos
                    pend[np + 2] = s
                    np += 3
                elif gs != _BETWEEN:  # a bad group, or more groups than a frame holds
                    self.format_errors += 1
                gs = _BETWEEN
                continue
            if c == _LF:  # the same logic as _lf()
                pos = fb.find(b"\n", pos + 1, lim)
                if inf:
                    if gs != _BETWEEN:  # no CR: that group is lost (e.g. CR turned into FF)
                        self.format_errors += 1
                    gs = pos + 1
                    s = 0
                continue
            one = self._one
            one[0] = c
            pos = fb.find(one, pos + 1, lim)
            self._sum = s
            self._gs = gs
            self._np = np
            if self._control(fb, c, pos):
                # An STX moved parsing to the front of a buffer, where _control copied the
                # chunk again: same bytes, positions shifted; go on from there.
                d = self._fast
                fb = self._frames[self._k].buf
                pos -= d
                lim -= d
                self._fast = 0
            s = self._sum
            gs = self._gs
            np = self._np
            inf = self._in_frame
        self._sum = s
        self._gs = gs
        self._np = np
        self._wpos = lim
        self._fast = -1
        self._chunk = None

    def _feed_bytewise(self, buf, start, end, stream):
        """Partial chunks, 8N1 readers, and a chunk that does not fit after the last one."""
        i = start
        whole = len(buf)
        while i < end:
            fb = self._frames[self._k].buf
            size = len(fb)
            w = self._wpos
            if self._fresh and whole <= size:
                p = 0  # a new frame buffer: the chunk at position 0, scanning from i
            elif i == 0 and w + whole <= size:
                p = w  # the chunk right after the previous one
            else:
                p = -1
            if p >= 0:
                fb[p : p + whole] = buf  # C copy; bytes outside [i, end) are not looked at
                self._off = stream - start - p
                self._fresh = False
                r = self._scan(fb, p + i, p + end)
                i = r - p
            else:
                # A slice of the caller's buffer would allocate: copy byte by byte instead,
                # at most what fits; a frame too long for the buffer is dropped.
                k = end - i if end - i < CHUNK else CHUNK
                if w + k > size:
                    self._overflow()
                    continue
                for j in range(k):
                    fb[w + j] = buf[i + j]
                self._off = stream + i - start - w
                self._fresh = False
                r = self._scan(fb, w, w + k)
                i += r - w
            if not self._fresh:  # else an event moved parsing to a fresh buffer
                self._wpos = r

    def _overflow(self):
        # No room for the next bytes: a frame longer than any legal one, or a long run of
        # bytes outside frames.
        self._check_pending()
        if self._in_frame:
            self.format_errors += 1
        self.reset()

    def _scan(self, fb, a, b):
        """Scan fb[a:b] in place (partial chunks, and the rest of a chunk after a frame
        boundary). Same result as _scan_all, byte by byte."""
        s = self._sum
        for j in range(a, b):
            c = fb[j]
            if c > 0x1F:
                if c < 0x7F:
                    s += c
                    continue
            elif c == _HT:
                s += c
                continue
            self._sum = s
            if self._control(fb, c, j):
                return j + 1
            s = self._sum
        self._sum = s
        return b

    def _lf(self, j):
        if self._in_frame:
            if self._gs != _BETWEEN:
                self.format_errors += 1
            self._gs = j + 1
            self._sum = 0

    def _cr(self, j):
        gs = self._gs
        np = self._np
        if gs >= 0 and np < len(self._pend):
            self._pend[np] = gs
            self._pend[np + 1] = j
            self._pend[np + 2] = self._sum
            self._np = np + 3
        elif gs != _BETWEEN:
            self.format_errors += 1
        self._gs = _BETWEEN

    def _control(self, fb, c, j):
        """Byte c at fb[j] is not printable ASCII. True when parsing moved to a fresh buffer."""
        raw = c
        if c > 0x7E:  # an 8N1 reader sees the parity bit as bit 7: strip it in place
            c &= 0x7F
            fb[j] = c
            if 0x1F < c < 0x7F or c == _HT:
                self._sum += c
                return False
        if c == _LF:
            self._lf(j)
        elif c == _CR:
            self._cr(j)
        elif c == _STX:
            # The first STX tells the reader: 0x82 means 8N1 with the parity bit in bit 7,
            # so every byte must be masked, byte by byte; 0x02 means a 7-bit reader.
            if self._probing:
                self._probing = False
                self._bytewise = raw > 0x7F
            if self._in_frame:  # a new frame inside a frame: the first one was cut
                self._check_pending()
                self.interrupted += 1
            else:
                self.ignored = (self.ignored + self._off + j - self._outside_from) & _WRAP
            self._in_frame = True
            self._gs = _BETWEEN
            # The buffer holds the last complete frame (keep it readable: use the other
            # one), or has too little room left: start the frame at the front of a buffer.
            if self.frame is self._frames[self._k] or j > CHUNK:
                if self.frame is self._frames[self._k]:
                    self._k ^= 1
                nf = self._frames[self._k]
                nf.n = 0
                if self._fast >= 0:  # the fast path goes on at the front of nf.buf
                    chunk = self._chunk
                    nf.buf[0 : len(chunk)] = chunk
                    self._off += self._fast
                else:
                    self._wpos = 0
                    self._fresh = True
                return True
            self._frames[self._k].n = 0
        elif not self._in_frame:
            pass  # outside frames: everything waits for an STX
        elif c == _ETX:
            if self._gs != _BETWEEN:
                self.format_errors += 1
            self._check_pending()
            self._complete(j)
        elif c == _EOT:
            self._check_pending()
            self.interrupted += 1
            self._in_frame = False
            self._gs = _BETWEEN
            self._frames[self._k].n = 0
            self._outside_from = self._off + j + 1
        elif self._gs >= 0:  # any other control byte in a group is noise: drop the group
            self._gs = _BAD
        return False

    def _check_pending(self):
        """Check the groups recorded since the last call (start, end, byte sum each) and keep
        the valid ones in the filling frame. One call per chunk, not per group; the loop
        touches locals only (an attribute costs a dictionary look-up on MicroPython)."""
        np = self._np
        if not np:
            return
        self._np = 0
        pend = self._pend
        f = self._frames[self._k]
        g = f.buf
        idx = f.idx
        n = f.n
        maxg = f.max_groups
        # The mode every group of this frame must have: the frame's, else the configured
        # one (0: any). One stream never mixes modes; a group of the other is noise.
        want = f.mode if n else self.fixed_mode
        bad = 0
        wrong_sum = 0
        for q in range(0, np, 3):
            st = pend[q]
            end = pend[q + 1]
            if end - st < 4 or end - st > MAX_GROUP:
                bad += 1
                continue
            chk = g[end - 1]
            label_end = g.find(b"\t", st, end)
            if label_end >= 0:
                # Standard: label HT [horodate HT] value HT checksum, the last HT just before
                # the checksum (the sum includes it), and no other HT.
                vs = g.find(b"\t", label_end + 1, end) + 1  # after the 2nd HT
                if vs == end - 1:
                    vs = label_end + 1  # no horodate: that was the last HT
                elif (
                    vs != label_end + 2 + _HORODATE_LEN
                    or g[end - 2] != _HT
                    or (g.find(b"\t", vs, end - 2) >= 0)
                ):
                    bad += 1
                    continue
                mode = MODE_STANDARD
                calc = ((pend[q + 2] - chk) & 0x3F) + 0x20
            else:
                # Historique: label SP value SP checksum; the sum stops before the last SP.
                label_end = g.find(b" ", st, end - 2)
                if label_end < 0 or g[end - 2] != _SP:
                    bad += 1
                    continue
                vs = label_end + 1
                mode = MODE_HISTORIQUE
                calc = ((pend[q + 2] - chk - _SP) & 0x3F) + 0x20
            if label_end == st or label_end - st > _MAX_LABEL:
                bad += 1
                continue
            if calc != chk:
                wrong_sum += 1
                continue
            if (want and mode != want) or n >= maxg:
                bad += 1
                continue
            want = mode
            k = n * _W
            idx[k] = st
            idx[k + 1] = label_end
            idx[k + 2] = vs
            idx[k + 3] = end - 2
            n += 1
        kept = n - f.n
        if kept:
            f.n = n
            f.mode = want
            self.mode = want
            self.groups = (self.groups + kept) & _WRAP
        if bad:
            self.format_errors += bad
        if wrong_sum:
            self.checksum_errors += wrong_sum

    def _complete(self, j):
        # The buffer keeps the frame; the next STX moves parsing to the other buffer.
        f = self._frames[self._k]
        self.frames += 1
        f.seq = self.frames
        self.frame = f
        self._in_frame = False
        self._gs = _BETWEEN
        self._outside_from = self._off + j + 1
        cb = self.on_frame
        if cb is not None:
            cb(f)
