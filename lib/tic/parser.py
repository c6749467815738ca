"""Zero-allocation streaming TIC parser, both modes, for CPython and MicroPython.

Feed it bytes as they come from the UART, in any chunking: `feed(buf, n, start)`. It frames on
STX/ETX/EOT and LF/CR (never on timing), checks every group's checksum when its CR arrives,
finds the mode from the bytes (a group whose last separator is HT is standard, SP historique)
and keeps the valid groups of the frame. At each ETX it calls `on_frame(frame)`.

One frame buffer: `parser.frame` is the last complete frame, readable until the next frame
starts (its STX); from then on it is None until that frame completes. A caller that reads the
frame after feed() rather than in on_frame passes `stop=True`: feed() then returns right after
the ETX that completes a frame, with the number of bytes it consumed, and the caller feeds the
rest later (docs/design/parser.md, "One frame buffer").

Bit 7 policy (one rule, every byte): bit 7 is masked off before anything else. A 7E1 UART
reads it as 0; an 8N1 reader (USB dongle) gets the parity bit there. So 0x82 is STX, 0x8D is
CR, 0xC1 is "A". After masking, 0x20-0x7E and HT are text; STX, ETX, EOT, LF and CR frame;
anything else (other C0 controls, DEL 0x7F) is line noise that makes its group a format error.

Output does not depend on how the input is cut: the state between two bytes is the same
whatever the chunking, and a frame may hold at most `frame_size` bytes from its STX to its
ETX whatever the chunk boundaries (docs/design/parser.md).

Cost: each chunk is copied into the frame buffer by one C slice assignment, then iterated
whole (`for c in chunk`, the cheapest loop MicroPython has): a text byte costs a table look-up
and an addition to the checksum; a control byte finds its position with a C `find`; the group
check at CR is inline (a few more `find` calls). A chunk fed as a part of a buffer is first
copied into a staging buffer (by slice assignments when the buffer has at most CHUNK bytes,
else byte by byte), then takes the same loop. Everything that allocates
(strings, lists) is on demand only: `frame.label(i)`, `frame.value(i)`, `frame.groups()`,
`parser.stats()`.

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
_EMPTY = b""

# The longest legal group, LF and CR excluded: PJOURF+1 (8) HT data (98) HT checksum = 109.
# Anything longer is line noise (a lost CR), a format error; the next LF resynchronises.
MAX_GROUP = const(109)
# Longest label: SMAXSN1-1 (9). Horodates are always 13 characters (SAAMMJJhhmmss).
_MAX_LABEL = const(9)
_HORODATE_LEN = const(13)
# Longest frame, STX to ETX: a three-phase producer frame in standard mode is about 1,900
# bytes. The frame buffer holds that plus CHUNK bytes: a frame may start anywhere in the first
# CHUNK bytes of a caller's buffer copied whole to the front of the frame buffer. Buffers fed
# whole are scanned in place up to CHUNK bytes (the firmware reads 256), else staged by CHUNK.
FRAME_SIZE = const(2560)
CHUNK = const(256)
MAX_GROUPS = const(96)
# Counters that can grow past 2^30 in a device's life wrap there to stay small ints (ESP32
# small ints are 31-bit); compare them by difference modulo 2^30.
_WRAP = const(0x3FFFFFFF)

# `_gs` (group start) states besides a position >= 0 (inside a group):
_BETWEEN = const(-1)  # between groups, or outside a frame
_BAD = const(-2)  # inside a group already known bad: skip to its end

# Per-group entries in Frame.idx: label start, label end, value start, value end.
_W = const(4)

# _TEXT[b] is 0 when byte b is 7-bit text (0x20-0x7E, HT): one look-up per byte in the scan.
_TEXT = bytes(0 if 0x20 <= b < 0x7F or b == _HT else 1 for b in range(256))


class Frame:
    """The valid groups of one frame, in received order. Readers allocate nothing unless noted.

    `buf` holds the frame's bytes (bit 7 masked), `idx` four positions per valid group (label
    start, label end, value start, value end; a horodate sits between label end + 1 and value
    start), `n` the number of valid groups, `mode` the mode of its groups (MODE_UNKNOWN when it
    has none), `seq` the parser's frame count when it completed. The parser reuses its one
    Frame: it describes a complete frame from its ETX until the parser meets the next STX.
    """

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
        # The parser masked bit 7 in place: a valid group holds only 0x20-0x7E (and HT).
        return bytes(self.buf[a:e]).decode()

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
    """Streaming parser. `mode`: MODE_UNKNOWN (auto), MODE_HISTORIQUE or MODE_STANDARD.

    Counters (attributes, always up to date after feed()): `bytes` fed; `frames` completed
    (STX..ETX); `groups` valid groups, whether or not their frame completes; `checksum_errors`
    (well-formed groups whose checksum is wrong); `format_errors` (malformed groups, groups
    of the other mode or over MAX_GROUPS in a frame, a group cut by LF or ETX, a frame over
    `frame_size` bytes); `interrupted` (frames ended by EOT or a new STX); `ignored` (bytes
    outside frames). `bytes`, `groups` and `ignored` wrap at 2^30.

    Frame bytes: from an STX up to and including the ETX or EOT that ends its frame; up to, not
    including, a new STX that interrupts it or the byte that would make it longer than
    `frame_size`; up to the last byte fed before reset(). Every other byte is ignored, so
    frame bytes + ignored == bytes (modulo 2^30) after every feed().

    `on_frame(frame)` runs inside feed(), counters up to date; it must not feed or reset.
    """

    def __init__(self, on_frame=None, mode=MODE_UNKNOWN, frame_size=FRAME_SIZE,
                 max_groups=MAX_GROUPS):  # fmt: skip
        if frame_size < CHUNK:  # a frame must not overflow inside one scanned chunk
            raise ValueError("frame_size < CHUNK")
        self.on_frame = on_frame
        self.fixed_mode = mode
        self.frame_size = frame_size
        self._f = Frame(frame_size + CHUNK, max_groups)  # the one frame buffer
        self.frame = None  # the last complete frame until the next STX, else None
        self.mode = mode  # mode of the last valid group
        # Counters.
        self.bytes = 0
        self.frames = 0
        self.groups = 0
        self.checksum_errors = 0
        self.format_errors = 0
        self.interrupted = 0
        self.ignored = 0
        self._stage = bytearray(CHUNK)  # a part of a caller's buffer, copied to be scanned
        self._one = bytearray(1)  # a control byte to find
        self._in = False  # inside a frame
        self._out = 0  # stream offset where the current run of ignored bytes began
        self._fs = 0  # the STX position of the frame in progress in the frame buffer
        self._w = 0  # where the next chunk goes in the frame buffer
        self._s = 0  # byte sum of the group so far
        self._gs = _BETWEEN

    def reset(self):
        """Forget any partial frame (after a baud-rate change, say). Counters are kept; a
        complete frame still readable stays so."""
        if self._in:
            self._in = False
            self._out = self.bytes
        self._gs = _BETWEEN

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

    def feed(self, buf, n=-1, start=0, stop=False):
        """Parse buf[start:start+n] (n=-1: to the end); buf is bytes or a bytearray. Returns
        the number of bytes consumed: all of them, unless `stop` is true and a frame completed
        (its ETX consumed, on_frame called): then the count up to and including that ETX, and
        parser.frame is readable until the caller feeds the rest, buf[start+k:start+n].
        Never raises on bad input; allocates nothing (on MicroPython >= 1.26).

        Cost: one scan of buf when it is fed whole and is at most CHUNK bytes (the firmware's
        full reads); else one per CHUNK bytes, each after a copy into the staging buffer: in C
        when buf has at most CHUNK bytes (the firmware's short reads and rests), else byte by
        byte (about the cost of the scan again).
        """
        whole = len(buf)
        end = whole if n < 0 or start + n > whole else start + n
        base = self.bytes - start  # stream offset of buf[0], modulo 2^30
        self.bytes = (self.bytes + end - start) & _WRAP
        if (
            start == 0
            and end == whole <= CHUNK
            and (not self._in or self._w + whole <= self._fs + self.frame_size)
        ):
            if whole:
                k = self._scan(buf, base, stop)
                if k >= 0:  # stopped after an ETX: the rest is the caller's
                    end = k
                    self.bytes = (base + k) & _WRAP
        else:
            st = self._stage
            i = start
            while i < end:
                k = min(end - i, CHUNK)
                if self._in:
                    room = self._fs + self.frame_size - self._w
                    if room <= 0:  # one byte more than a frame may hold: drop the frame
                        self.format_errors += 1
                        self._in = False
                        self._gs = _BETWEEN
                        self._out = (base + i) & _WRAP
                        continue
                    k = min(k, room)
                if whole <= CHUNK:
                    # buf fits in st: copy it whole and cut it to buf[i:i + k], in C (slice
                    # assignments within st's capacity move bytes, allocate nothing)
                    st[0:] = buf
                    st[i + k :] = _EMPTY
                    st[0:i] = _EMPTY
                else:
                    st[0:] = _EMPTY  # no allocation: a bytearray keeps its capacity
                    for j in range(i, i + k):
                        st.append(buf[j])
                j = self._scan(st, base + i, stop)
                if j >= 0:  # stopped after an ETX
                    end = i + j
                    self.bytes = (base + end) & _WRAP
                    break
                i += k
        if not self._in:
            self.ignored = (self.ignored + ((base + end - self._out) & _WRAP)) & _WRAP
            self._out = (base + end) & _WRAP
        return end - start

    def _scan(self, src, base, stop):
        """Parse src (at most CHUNK bytes; base: the stream offset of src[0]). Returns -1 once
        all of src is parsed; with `stop`, the count of bytes parsed up to and including the
        first ETX that completes a frame, if any (the rest of src is left alone).

        Inside a frame, src is copied to the frame buffer at _w; a frame starting in src gets
        src copied to the front of the frame buffer unless it already sits within its first
        CHUNK bytes. Everything is inline, locals only: on MicroPython a call with many
        locals puts its frame on the heap, and an attribute costs a dictionary look-up."""
        # The loop's locals first: MicroPython numbers locals in order of appearance, and the
        # first 16 take one-byte opcodes.
        t = _TEXT
        s = self._s
        c = m = pos = e = le = st = fb = k = gs = idx = chk = 0
        one = self._one
        gs = self._gs
        inf = self._in
        f = self._f
        fb = f.buf
        idx = f.idx
        k0 = k = f.n * _W  # idx[k] is the next group's entry; k0: where this scan began
        kmax = f.max_groups * _W
        # Every group of a frame has the frame's mode, else the configured one (0: any). One
        # stream never mixes modes; a group of the other one is noise.
        want = f.mode or self.fixed_mode
        lm = 0  # mode of the last valid group
        ng = 0  # valid groups of frames ended in this scan
        fe = 0
        ce = 0
        if inf:
            q = self._w  # src[i] is at fb[q + i]
            fb[q : q + len(src)] = src  # C copy; a slice of src would allocate
        else:
            q = -1  # src is not in the frame buffer
        pos = -1  # position in src of the last control byte
        done = -1  # what to return: -1, or the bytes parsed when stopped after an ETX
        for c in src:
            if not t[c]:
                s += c
                continue
            # Not 7-bit text: find where it is (all bytes since the last one are text).
            m = c & 0x7F
            if m == _CR:
                one[0] = c
                pos = src.find(one, pos + 1)
                if gs < 0:
                    if gs == _BAD:
                        fe += 1
                    gs = _BETWEEN
                    continue
                # The group check. st: label start; e: the last separator (value end).
                st = gs
                gs = _BETWEEN
                e = q + pos - 2
                chk = fb[e + 1]
                sep = fb[e]
                if e - st > MAX_GROUP - 2:
                    fe += 1
                elif sep == _SP:
                    # Historique: label SP value SP checksum: no HT, SP only as separator
                    # (tic-protocol.md §3), label and value not empty; the sum stops before
                    # the last SP.
                    le = fb.find(b" ", st, e)
                    if (
                        le <= st
                        or le - st > _MAX_LABEL
                        or le + 1 >= e
                        or fb.find(b" ", le + 1, e) >= 0
                        or fb.find(b"\t", st, e) >= 0
                    ):
                        fe += 1
                    elif ((s - chk - _SP) & 0x3F) + 0x20 != chk:
                        ce += 1
                    elif want == MODE_STANDARD or k >= kmax:
                        fe += 1
                    else:
                        want = MODE_HISTORIQUE
                        idx[k] = st
                        idx[k + 1] = le
                        idx[k + 2] = le + 1
                        idx[k + 3] = e
                        k += _W
                elif sep == _HT:
                    # Standard: label HT [horodate HT] value HT checksum; the sum includes
                    # the last HT.
                    le = fb.find(b"\t", st, e)
                    vs = fb.find(b"\t", le + 1, e) + 1 if le > st else 0
                    if not vs:
                        vs = le + 1  # no horodate
                    elif vs != le + 2 + _HORODATE_LEN or fb.find(b"\t", vs, e) >= 0:
                        vs = 0
                    if not vs or le <= st or le - st > _MAX_LABEL:
                        fe += 1
                    elif ((s - chk) & 0x3F) + 0x20 != chk:
                        ce += 1
                    elif want == MODE_HISTORIQUE or k >= kmax:
                        fe += 1
                    else:
                        want = MODE_STANDARD
                        idx[k] = st
                        idx[k + 1] = le
                        idx[k + 2] = vs
                        idx[k + 3] = e
                        k += _W
                else:
                    fe += 1
                continue
            if m == _LF:
                pos += 1  # an LF usually follows the last control byte (a CR)
                if src[pos] != c:  # (pos < len(src): this LF is at pos or after)
                    one[0] = c
                    pos = src.find(one, pos)
                if inf:
                    if gs != _BETWEEN:  # the previous group had no CR (CR turned into FF)
                        fe += 1
                    gs = q + pos + 1
                    s = 0
                continue
            one[0] = c
            pos = src.find(one, pos + 1)
            if c > 0x7F:  # bit 7 set (8N1 reader): mask it, in place
                if inf:
                    fb[q + pos] = m
                if not t[m]:
                    s += c  # the checksum is modulo 64: the raw byte does as well
                    continue
                c = m
            if c == _STX:
                if inf:  # a new frame inside a frame: the first one was cut
                    self.interrupted += 1
                else:
                    self.ignored = (self.ignored + ((base + pos - self._out) & _WRAP)) & _WRAP
                    inf = True
                    self.frame = None  # its buffer now fills with this frame
                if q < 0 or q + pos > CHUNK:  # start the frame near the front of the buffer
                    q = 0
                    fb[0 : len(src)] = src
                self._fs = q + pos
                gs = _BETWEEN
                if k != k0:
                    ng += (k - k0) >> 2
                    lm = want
                k0 = k = 0
                f.mode = MODE_UNKNOWN
                want = self.fixed_mode
                continue
            if not inf:
                continue  # outside frames, only an STX matters
            if _ETX <= c <= _EOT:
                inf = False
                self._out = (base + pos + 1) & _WRAP
                if c == _EOT:
                    self.interrupted += 1
                    gs = _BETWEEN
                    continue
                if gs != _BETWEEN:
                    fe += 1  # a group cut by the ETX
                gs = _BETWEEN
                # The frame is complete: flush the counters, tell.
                f.n = k >> 2
                if k:
                    f.mode = want
                if k != k0:
                    ng += (k - k0) >> 2
                    lm = want
                if ng:
                    self.groups = (self.groups + ng) & _WRAP
                    self.mode = lm
                if fe:
                    self.format_errors += fe
                if ce:
                    self.checksum_errors += ce
                k0 = k = ng = fe = ce = 0
                self.frames += 1
                f.seq = self.frames
                self.frame = f
                cb = self.on_frame
                if cb is not None:
                    cb(f)
                q = -1
                if stop:
                    done = pos + 1
                    break
                continue
            if gs >= 0:  # any other control byte in a group is noise: drop the group
                gs = _BAD
        self._s = s
        self._gs = gs
        self._in = inf
        if inf:  # (outside a frame, f holds the last complete frame: leave it)
            self._w = q + len(src)
            f.n = k >> 2
            if k:
                f.mode = want
        if k != k0:
            self.groups = (self.groups + ng + ((k - k0) >> 2)) & _WRAP
            self.mode = want
        elif ng:
            self.groups = (self.groups + ng) & _WRAP
            self.mode = lm
        if fe:
            self.format_errors += fe
        if ce:
            self.checksum_errors += ce
        return done
