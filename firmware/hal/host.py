"""Host side of the HAL: the firmware on a PC (MicroPython unix port), as `make sim` runs it.

Also imports on CPython, so its arithmetic is tested on both interpreters. The TIC comes from
a source named by a spec string, normally the environment variable LINKY_TIC set by
tools/sim.py:

  file:PATH[@BAUD][,once]   a capture replayed at line speed (default: looped forever); BAUD
                            is the line's speed, inferred frame by frame when absent (a frame
                            with HT separators is standard, 9600 Bd; else 1200 Bd), so a
                            capture whose mode changes (ticsim --switch-after) changes speed
  PATH                      same, when the file exists
  /dev/ttyXXX               a serial TIC dongle (Linux termios), e.g. on a Raspberry Pi
  tcp://HOST:PORT           raw TIC bytes over TCP (ser2net and the like), reconnecting

All sources have the UART-like interface of firmware/hal/esp32.py: readinto(buf) -> int or
None without blocking or allocating, any(), set_baud(baud), deinit(), `await wait()`.
"""

import errno
import os
import sys
import time

try:
    import asyncio
except ImportError:  # pragma: no cover (both interpreters have it)
    asyncio = None

PLATFORM = "host"

# The exit status that asks tools/sim.py to restart the firmware ("device reset"). It must equal
# RESET_EXIT_CODE in tools/upy.py, which the device cannot import (tests check they agree).
RESET_EXIT_CODE = 75

# Same receive buffer size as the device (see firmware/hal/esp32.py for the arithmetic).
RXBUF = 4096

# Host sources are polled: nothing here is latency-critical, 20 ms is ~19 bytes at 9600 Bd.
POLL_MS = 20

# Time unit of the replay model: 1/9_216_000 s. Every usual baud rate (1200 ... 115200) is a
# whole number of units per bit, and a millisecond is 9216 units, so the model is exact in ints.
UNITS_PER_S = 9216000
UNITS_PER_MS = 9216

_env = os.getenv

try:  # MicroPython
    _ticks_ms = time.ticks_ms
    _ticks_diff = time.ticks_diff
except AttributeError:  # CPython
    _t0 = time.monotonic()

    def _ticks_ms():
        return int((time.monotonic() - _t0) * 1000)

    def _ticks_diff(a, b):
        return a - b


def setting(name, default=None):
    """A run-time option of the host build: environment variable LINKY_<name>, else default.

    The device has no environment; its firmware/hal/esp32.py returns the default.
    """
    v = _env("LINKY_" + name)
    return default if v is None or v == "" else v


def unique_id():
    """Hex id of this 'device': LINKY_UID, else a fixed one ("host" + 0001)."""
    return setting("UID", "686f73740001")


def reset_cause():
    """Why the firmware (re)started: tools/sim.py says "hard" after a reset it performed."""
    return setting("RESET_CAUSE", "power")


def reset():
    """Ask tools/sim.py for a device reset: a clean exit with RESET_EXIT_CODE; it restarts us."""
    try:
        sys.stdout.flush()
    except AttributeError:  # MicroPython's stdout may have no flush
        pass
    sys.exit(RESET_EXIT_CODE)


class Watchdog:
    """Host stand-in for machine.WDT: never fires, records feeds so tests can check them."""

    def __init__(self, timeout_ms):
        if timeout_ms <= 0:
            raise ValueError("watchdog timeout must be > 0 ms")
        self.timeout_ms = timeout_ms
        self.feeds = 0
        self.last_feed = _ticks_ms()

    def feed(self):
        self.feeds += 1
        self.last_feed = _ticks_ms()


def watchdog(timeout_ms):
    return Watchdog(timeout_ms)


def _check_baud(baud):
    if not isinstance(baud, int) or baud <= 0 or UNITS_PER_S % baud:
        raise ValueError("unsupported baud rate %r (use 1200 or 9600)" % (baud,))
    return baud


class _Source:
    """What every host source shares: the UART-like surface around `readinto`."""

    baud = 0

    def any(self):
        return 0

    def wait(self):
        """An awaitable that completes when data may be available (host: a short poll).

        A plain function returning asyncio's sleep object: calling an `async def` would
        allocate a coroutine object on every wait."""
        return asyncio.sleep_ms(POLL_MS)

    def deinit(self):
        pass

    def _drain(self):
        # Discard what is buffered now: the UART flush that follows a re-init on the device.
        scratch = self._scratch
        while self.readinto(scratch):
            pass


# ---------------------------------------------------------------------------------------------
# Capture file replayed at line speed


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


class FileSource(_Source):
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


def _sub(a, b):
    return a - b


# ---------------------------------------------------------------------------------------------
# Serial TIC dongle (Linux termios)

# termios values of Linux (asm-generic/termbits.h). MicroPython's termios module exports only a
# few B* speeds and no flag constants, so they are spelled out; other OSes differ.
_SPEEDS = {1200: 0o11, 2400: 0o13, 4800: 0o14, 9600: 0o15, 19200: 0o16, 38400: 0o17}
_CBAUD = 0o10017
_CSIZE = 0o60
_CS7 = 0o40
_CSTOPB = 0o100
_CREAD = 0o200
_PARENB = 0o400
_PARODD = 0o1000
_CLOCAL = 0o4000
_CRTSCTS = 0o20000000000
_VTIME = 5
_VMIN = 6


def serial_cflag(cflag, baud):
    """termios c_cflag for the TIC: 7 data bits, even parity, 1 stop bit, no flow control."""
    cflag &= ~(_CBAUD | _CSIZE | _CSTOPB | _PARODD | _CRTSCTS)
    return cflag | _CS7 | _PARENB | _CREAD | _CLOCAL | _SPEEDS[baud]


class SerialSource(_Source):
    """A tty at 1200/9600 Bd 7E1, raw, read without blocking.

    MicroPython's stream readinto loops until the buffer is full on a blocking descriptor and
    the unix port cannot set O_NONBLOCK, so the tty is put in POSIX "polling read" mode
    (VMIN=0, VTIME=0): a read returns what is there, possibly nothing. Bit 7 is left as
    received; masking it is the parser's job.
    """

    def __init__(self, path, baud=9600):
        import termios

        self._termios = termios
        self.path = path
        # buffering=0 on CPython gives a raw FileIO whose readinto is one read() call.
        try:
            self._f = open(path, "r+b", buffering=0)
        except TypeError:  # MicroPython: no buffering argument, files are unbuffered
            self._f = open(path, "r+b")
        self._fd = self._f.fileno()
        self._scratch = bytearray(64)
        self.set_baud(baud)

    def set_baud(self, baud):
        if baud not in _SPEEDS:
            raise ValueError("unsupported baud rate %r for %s" % (baud, self.path))
        termios = self._termios
        a = termios.tcgetattr(self._fd)
        speed = _SPEEDS[baud]
        cflag = serial_cflag(a[2], baud)
        cc = a[6]
        cc[_VMIN] = 0
        cc[_VTIME] = 0
        # iflag 0: no parity check, no CR/LF translation, no flow control; lflag 0: raw.
        termios.tcsetattr(self._fd, termios.TCSANOW, [0, 0, cflag, 0, speed, speed, cc])
        self.baud = baud
        self._drain()

    def readinto(self, buf, nbytes=-1):
        try:
            n = self._f.readinto(buf)
        except OSError:  # device unplugged or I/O error: nothing this time
            return None
        return n if n else None

    def deinit(self):
        self._f.close()


# ---------------------------------------------------------------------------------------------
# TCP client (ser2net and similar)


_NOT_YET = (errno.EAGAIN, errno.EINPROGRESS, errno.EALREADY)


class TcpSource(_Source):
    """Raw TIC bytes from a TCP server; non-blocking socket, reconnects every retry_ms.

    The bytes are already decoded by the remote UART, so the baud rate set here has no effect
    on them (set_baud only flushes).
    """

    def __init__(self, host, port, baud=9600, retry_ms=1000, clock=None):
        self.host = host
        self.port = port
        self.baud = baud
        self.retry_ms = retry_ms
        self.connects = 0
        self.drops = 0
        self._clock = clock or _ticks_ms
        self._diff = _ticks_diff if clock is None else _sub
        self._sock = None
        self._recv = None
        self._scratch = bytearray(64)
        self._next_try = self._clock()
        self._connect()

    def _connect(self):
        import socket

        self._next_try = self._clock()
        try:
            addr = socket.getaddrinfo(self.host, self.port, 0, socket.SOCK_STREAM)[0][-1]
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        except OSError:
            return
        s.setblocking(False)
        try:
            s.connect(addr)
        except OSError:
            pass  # EINPROGRESS; a refusal shows up as an error on the first read
        self._sock = s
        # Bound once: MicroPython streams have readinto, CPython sockets recv_into.
        self._recv = getattr(s, "readinto", None) or s.recv_into
        self.connects += 1

    def _drop(self):
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
            self._sock = None
            self._recv = None
            self.drops += 1
        self._next_try = self._clock()

    def connected(self):
        return self._sock is not None

    def set_baud(self, baud):
        self.baud = _check_baud(baud)
        if self._sock is not None:
            self._drain()

    def readinto(self, buf, nbytes=-1):
        if self._sock is None:
            if self._diff(self._clock(), self._next_try) >= self.retry_ms:
                self._connect()
            return None
        try:
            n = self._recv(buf)
        except OSError as e:
            # EAGAIN/EWOULDBLOCK: nothing yet (also while connecting); CPython raises
            # BlockingIOError, MicroPython returns None instead. Anything else: start over.
            if e.args and e.args[0] in _NOT_YET:
                return None
            self._drop()
            return None
        if n is None:
            return None
        if n == 0:  # orderly close by the server
            self._drop()
            return None
        return n

    def deinit(self):
        self._drop()


# ---------------------------------------------------------------------------------------------


def open_source(spec, baud, rxbuf=RXBUF, clock=None):
    """A TIC source from a spec string (see the module docstring)."""
    if not spec:
        raise ValueError(
            "no TIC source: set LINKY_TIC (file:PATH[@BAUD], /dev/ttyX or tcp://HOST:PORT); "
            "tools/sim.py does it"
        )
    if spec.startswith("tcp://"):
        hostport = spec[6:]
        i = hostport.rfind(":")
        if i <= 0 or not hostport[i + 1 :].isdigit():
            raise ValueError("TIC source %r: expected tcp://HOST:PORT" % spec)
        return TcpSource(hostport[:i], int(hostport[i + 1 :]), baud, clock=clock)
    if spec.startswith("/dev/"):
        return SerialSource(spec, baud)
    if spec.startswith("serial:"):
        return SerialSource(spec[7:], baud)
    path = spec[5:] if spec.startswith("file:") else spec
    loop = True
    if path.endswith(",once"):
        path = path[:-5]
        loop = False
    elif path.endswith(",loop"):
        path = path[:-5]
    line_baud = None
    i = path.rfind("@")
    if i > 0 and path[i + 1 :].isdigit():
        line_baud = int(path[i + 1 :])
        path = path[:i]
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        raise ValueError("TIC source %r: cannot read %s" % (spec, path))
    return FileSource(data, line_baud=line_baud, baud=baud, loop=loop, rxbuf=rxbuf, clock=clock)


def open_tic(profile, baud, rxbuf=RXBUF):
    """The TIC input. On the host the board profile has no pins to set: the source comes
    from LINKY_TIC."""
    return open_source(setting("TIC"), baud, rxbuf)
