"""Drive firmware/tic_reader.py in simulated line time, on CPython or the MicroPython unix port.

Used by tests/test_tic_reader.py (both interpreters, imported) and tests/test_autodetect.py
(CPython, which also runs this file under the unix port to compare the two):

    micropython tests/reader_drive.py detect FILE START_BAUD UNTIL_MS [STEP_MS]
        replay FILE with the host HAL's file source (its speed inferred frame by frame) on a
        clock the test moves; print the source's segments, then one line per poll that left
        events: "EV <t_ms> <events> <state> <baud> <mode> <groups of the last frame>", then
        "END <frames> <switches>"
    micropython tests/reader_drive.py frames FILE BAUD
        feed FILE in reads that end at each ETX (so the parser's byte count at a frame is the
        stream offset just after its ETX) with the time of that offset on the line; print
        "F <offset> <mode> <groups>" then "G <label> <value> <code> <confirmed>" for each
        energy index (value: the int, -1 if not digits; code: the guard's; confirmed: the
        guard's reference after the frame, -1 if none); "END <frames> <rejected> <dropped>
        <checksum errors>"

Only integer arithmetic: both interpreters print the same lines for the same file.
"""

import sys

from firmware.hal import host
from firmware.tic_reader import TicReader
from tic import labels
from tic.guard import FREE

UNITS_PER_MS = host.UNITS_PER_MS


class Clock:
    """Milliseconds, set by the test."""

    def __init__(self, t=0):
        self.t = t

    def __call__(self):
        return self.t


class SilentPort:
    """A TIC input on which nothing ever arrives (wire cut, stage unpowered)."""

    def __init__(self, baud=1200):
        self.baud = baud
        self.bauds = [baud]

    def set_baud(self, baud):
        self.baud = baud
        self.bauds.append(baud)

    def readinto(self, buf, nbytes=-1):
        return None

    def any(self):
        return 0  # like the tcp and serial sources: cannot tell, the reader just reads


class DecodedPort(SilentPort):
    """Bytes decoded elsewhere (tcp from ser2net): the speed set here changes nothing. Hands
    over `rate` bytes per poll from `data`, looping."""

    def __init__(self, data, rate=100, baud=1200):
        super().__init__(baud)
        self.data = data
        self.rate = rate
        self.pos = 0

    def readinto(self, buf, nbytes=-1):
        n = min(self.rate, len(buf))
        data = self.data
        for i in range(n):
            buf[i] = data[self.pos]
            self.pos = (self.pos + 1) % len(data)
        return n


class EtxPort(SilentPort):
    """Hands over `data` in reads that each end just after a byte that reads as ETX."""

    def __init__(self, data, baud=9600):
        super().__init__(baud)
        self.data = data
        self.pos = 0

    def readinto(self, buf, nbytes=-1):
        data = self.data
        p = self.pos
        n = 0
        while p < len(data) and n < len(buf):
            c = data[p]
            buf[n] = c
            n += 1
            p += 1
            if c & 0x7F == 3:
                break
        self.pos = p
        return n or None


def drive(reader, clk, until_ms, step_ms=20, *, trace=None, offset=0):
    """Poll as the drain task does: every step_ms of simulated time (the source's clock
    `clk`), polling again at once while poll() returns len(buf) (a read filled the buffer, or
    the rest of a read waits after a frame), service() after a poll that left events. The
    reader's clock is clk + offset (modulo 2^30, as ticks_ms wraps).
    Appends (t, events, state, baud, mode, n) to `trace` for each service(), n being the
    number of groups of the last valid frame (0 if none)."""
    size = len(reader.buf)
    t = clk.t
    while t < until_ms:
        t += step_ms
        clk.t = t
        while True:
            n = reader.poll((t + offset) & 0x3FFFFFFF)
            if reader.events:
                ev = reader.service()
                if trace is not None:
                    f = reader.frame
                    n = f.n if f is not None else 0
                    trace.append((t, ev, reader.state, reader.port.baud, reader.mode, n))
            if n < size:
                break
    return trace


def detect(data, start_baud, until_ms, step_ms=20, *, segments=None, line_baud=None, **kw):
    """(source, reader, trace) of a reader on `data` replayed once, from t = 0; `kw` goes to
    the reader."""
    clk = Clock()
    src = host.FileSource(
        data, baud=start_baud, loop=False, clock=clk, segments=segments, line_baud=line_baud
    )
    kw.setdefault("baud", start_baud)  # the reader's own start: baud=0 lets it choose
    r = TicReader(src, **kw)
    trace = drive(r, clk, until_ms, step_ms, trace=[])
    return src, r, trace


def frames(data, baud):
    """[(offset after ETX, mode, groups, codes, confirmed)], reader, for a one-mode stream at
    `baud`: groups are the frame's (label, horodate, value), codes the index guard's per
    group, confirmed the guard's reference per group after the frame (-1: none, or not an
    energy index)."""
    port = EtxPort(data, baud)
    out = []

    def on_frame(f, ok):
        g = r.guard
        conf = []
        for i in range(f.n):
            row = labels.index_for_frame(f, i)
            conf.append(g.last(row) if ok[i] != FREE and row >= 0 else -1)
        out.append((r.parser.bytes, f.mode, f.groups(), bytes(ok[: f.n]), conf))

    r = TicReader(port, baud=baud, on_frame=on_frame)
    while port.pos < len(data):
        # The time the line took to send what was read: 10 bits a character (the gaps
        # between frames, 17 to 33 ms, are left out: the guard's bounds have seconds of room).
        r.poll(port.pos * 10000 // baud)
        if r.events:
            r.service()
    return out, r


def main(argv):
    if argv[1] == "detect":
        with open(argv[2], "rb") as f:
            data = f.read()
        step = int(argv[5]) if len(argv) > 5 else 20
        src, r, trace = detect(data, int(argv[3]), int(argv[4]), step)
        for b, baud in src.segments:
            print("SEG", b, baud, src.char_time(b) // UNITS_PER_MS)
        for t, ev, st, baud, mode, n in trace:
            print("EV", t, ev, st, baud, mode, n)
        print("END", r.frames, r.switches)
    elif argv[1] == "frames":
        with open(argv[2], "rb") as f:
            data = f.read()
        out, r = frames(data, int(argv[3]))
        for off, mode, groups, codes, conf in out:
            print("F", off, mode, len(groups))
            for (label, _h, value), code, c in zip(groups, codes, conf):
                if code != FREE:  # an energy index
                    v = int(value) if value.isdigit() else -1
                    print("G", label, v, code, c)
        g = r.guard
        print("END", r.frames, g.rejected, g.dropped, r.parser.checksum_errors)
    else:
        raise SystemExit("usage: see the module docstring")


if __name__ == "__main__":
    main(sys.argv)
