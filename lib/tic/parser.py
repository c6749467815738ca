"""Zero-allocation streaming TIC parser, both modes, for CPython and MicroPython.

Feed it bytes as they come from the UART, in any chunking: `feed(buf, n)`. It frames on
STX/ETX/EOT and LF/CR (never on timing), checks every group's checksum, finds the mode from the
bytes (a group with HT is standard, with SP only historique) and keeps the valid groups of a
frame. At each ETX it calls `on_frame(frame)`; `parser.frame` is the last complete frame.

Why it allocates nothing: group bytes are written straight into a preallocated frame buffer;
positions go into a preallocated array; numbers are accumulated as small ints; labels are
compared byte by byte or by a 20-bit hash. Two frame buffers alternate, so the last complete
frame stays readable while the next one fills. Everything that allocates (strings, lists) is
on demand only: `frame.label(i)`, `frame.value(i)`, `frame.groups()`, `parser.stats()`.

Reference: ../../docs (tic-protocol.md §2, §3, §13 in the project's shared notes).
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
# Frame buffer: a three-phase producer frame in standard mode is about 1,900 bytes.
FRAME_SIZE = const(2560)
MAX_GROUPS = const(96)
# Counters that can grow past 2^30 in a device's life wrap there to stay small ints (ESP32
# small ints are 31-bit); compare them by difference modulo 2^30.
_WRAP = const(0x3FFFFFFF)

# `_lim` states besides a buffer limit >= 0 (inside a group):
_BETWEEN = const(-1)  # between groups, or outside a frame
_BAD = const(-2)  # inside a group already known bad: skip to its end

# Per-group entries in Frame.idx: label start, label end, horodate start (0: none),
# value start, value end. The separator and checksum follow the value in the buffer.
_W = const(5)


class Frame:
    """The valid groups of one frame, in received order. Readers allocate nothing unless noted."""

    def __init__(self, size=FRAME_SIZE, max_groups=MAX_GROUPS):
        self.buf = bytearray(size)
        self.idx = array("H", [0] * (_W * max_groups))
        self.hashes = array("L", [0] * max_groups)
        self.max_groups = max_groups
        self.n = 0
        self.mode = MODE_UNKNOWN
        self.seq = 0

    def label_hash(self, i):
        return self.hashes[i]

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
        a = self.idx[k + 3]
        e = self.idx[k + 4]
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
        return self.buf[self.idx[i * _W + 4] + 1]

    def has_horodate(self, i):
        return self.idx[i * _W + 2] != 0

    def _text(self, a, e):  # allocates
        return bytes(self.buf[a:e]).decode()

    def label(self, i):
        k = i * _W
        return self._text(self.idx[k], self.idx[k + 1])

    def value(self, i):
        """The raw value, padding included (trim for display only)."""
        k = i * _W
        return self._text(self.idx[k + 3], self.idx[k + 4])

    def horodate(self, i):
        k = i * _W
        h = self.idx[k + 2]
        return self._text(h, h + _HORODATE_LEN) if h else None

    def groups(self):
        """[(label, horodate or None, value)] for tools and tests; allocates."""
        return [(self.label(i), self.horodate(i), self.value(i)) for i in range(self.n)]


class Parser:
    """Streaming parser. `mode`: MODE_UNKNOWN (auto), MODE_HISTORIQUE or MODE_STANDARD."""

    def __init__(self, on_frame=None, mode=MODE_UNKNOWN, frame_size=FRAME_SIZE,
                 max_groups=MAX_GROUPS):  # fmt: skip
        self.on_frame = on_frame
        self.fixed_mode = mode
        self._frames = (Frame(frame_size, max_groups), Frame(frame_size, max_groups))
        self._k = 0  # which of the two buffers is filling
        self.frame = None  # last complete frame
        self.mode = mode  # mode of the last valid group
        self._ht = array("H", [0, 0, 0])  # positions of the first 3 HT of the current group
        # Counters.
        self.bytes = 0  # wraps at 2^30
        self.frames = 0
        self.groups = 0  # valid groups; wraps at 2^30
        self.checksum_errors = 0
        self.format_errors = 0
        self.interrupted = 0
        self.ignored = 0  # bytes that belong to no group: before STX, between groups
        self.reset()

    def reset(self):
        """Forget any partial frame (after a baud-rate change, say). Counters are kept."""
        self._in_frame = False
        self._lim = _BETWEEN
        self._gl = 0  # write position of the current group in the frame buffer
        self._gstart = 0
        self._fpos = 0  # end of the last valid group
        self._sum = 0
        self._nht = 0
        self._frames[self._k].n = 0

    def stats(self):
        """The counters as a dict (allocates)."""
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
        """Parse buf[start:start+n] (n=-1: to the end). Never raises on bad input."""
        if n < 0:
            n = len(buf) - start
        self.bytes = (self.bytes + n) & _WRAP
        # The hot loop works on locals; state goes back to self around the rare control bytes.
        g = self._frames[self._k].buf
        gl = self._gl
        lim = self._lim
        s = self._sum
        for i in range(start, start + n):
            c = buf[i] & 0x7F  # 8N1 readers see the parity bit as bit 7
            if c > 0x1F:
                if gl < lim:  # the common case: a data byte inside a group
                    g[gl] = c
                    gl += 1
                    s += c
                elif lim >= 0:  # group too long (or frame buffer full)
                    lim = _BAD
                elif lim == _BETWEEN:
                    self.ignored += 1
            elif c == _HT:
                if gl < lim:
                    if self._nht < 3:
                        self._ht[self._nht] = gl
                    self._nht += 1
                    g[gl] = c
                    gl += 1
                    s += c
                elif lim >= 0:
                    lim = _BAD
                elif lim == _BETWEEN:
                    self.ignored += 1
            else:
                self._gl = gl
                self._lim = lim
                self._sum = s
                self._control(c)
                g = self._frames[self._k].buf
                gl = self._gl
                lim = self._lim
                s = self._sum
        self._gl = gl
        self._lim = lim
        self._sum = s

    def _control(self, c):
        in_group = self._lim != _BETWEEN
        if c == _CR:
            if in_group:
                bad = self._lim == _BAD
                self._lim = _BETWEEN
                if bad:
                    self.format_errors += 1
                else:
                    self._end_group()
            else:
                self.ignored += 1
        elif c == _LF:
            if not self._in_frame:
                self.ignored += 1
                return
            if in_group:  # no CR: the previous group is lost (e.g. CR turned into FF)
                self.format_errors += 1
            st = self._fpos
            self._gstart = st
            self._gl = st
            lim = st + MAX_GROUP
            size = len(self._frames[self._k].buf)
            self._lim = lim if lim < size else size
            self._sum = 0
            self._nht = 0
        elif c == _STX:
            if self._in_frame:  # a new frame inside a frame: the first one was cut
                self.interrupted += 1
            self.reset()
            self._in_frame = True
        elif c == _ETX:
            if not self._in_frame:
                self.ignored += 1
                return
            if in_group:
                self.format_errors += 1
            self._complete()
        elif c == _EOT:
            if self._in_frame:
                self.interrupted += 1
                self.reset()
            else:
                self.ignored += 1
        elif in_group:  # any other control byte in a group is noise: drop the group
            if self._lim != _BAD:
                self._lim = _BAD
        else:
            self.ignored += 1

    def _end_group(self):
        f = self._frames[self._k]
        g = f.buf
        st = self._gstart
        end = self._gl
        nht = self._nht
        if end - st < 4:
            self.format_errors += 1
            return
        chk = g[end - 1]
        if nht:
            # Standard: label HT [horodate HT] value HT checksum; the sum includes the last HT.
            if nht > 3 or nht < 2 or self._ht[nht - 1] != end - 2:
                self.format_errors += 1
                return
            label_end = self._ht[0]
            if nht == 3:
                hs = label_end + 1
                vs = self._ht[1] + 1
                if vs - 1 - hs != _HORODATE_LEN:
                    self.format_errors += 1
                    return
            else:
                hs = 0
                vs = label_end + 1
            mode = MODE_STANDARD
            calc = ((self._sum - chk) & 0x3F) + 0x20
        else:
            # Historique: label SP value SP checksum; the sum stops before the last SP.
            if g[end - 2] != _SP:
                self.format_errors += 1
                return
            label_end = g.find(b" ", st, end - 2)
            if label_end < 0:
                self.format_errors += 1
                return
            hs = 0
            vs = label_end + 1
            mode = MODE_HISTORIQUE
            calc = ((self._sum - chk - _SP) & 0x3F) + 0x20
        if label_end == st or label_end - st > _MAX_LABEL:
            self.format_errors += 1
            return
        if calc != chk:
            self.checksum_errors += 1
            return
        # One stream never mixes modes: a group of the other mode is noise, or the wrong setting.
        if (self.fixed_mode and mode != self.fixed_mode) or (f.n and mode != f.mode):
            self.format_errors += 1
            return
        n = f.n
        if n >= f.max_groups:
            self.format_errors += 1
            return
        k = n * _W
        idx = f.idx
        idx[k] = st
        idx[k + 1] = label_end
        idx[k + 2] = hs
        idx[k + 3] = vs
        idx[k + 4] = end - 2
        h = 0
        for j in range(st, label_end):
            h = (h * 33 + g[j]) & 0xFFFFF  # same as tic.label_hash
        f.hashes[n] = h
        f.n = n + 1
        f.mode = mode
        self.mode = mode
        self._fpos = end
        self.groups = (self.groups + 1) & _WRAP

    def _complete(self):
        f = self._frames[self._k]
        self.frames += 1
        f.seq = self.frames
        self.frame = f
        self._k ^= 1
        self._in_frame = False
        self._lim = _BETWEEN
        self._frames[self._k].n = 0
        cb = self.on_frame
        if cb is not None:
            cb(f)
