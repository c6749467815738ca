"""Fake `machine` for the memory harness (tools/mem32): the hardware edge and nothing more.

Runs on MicroPython only (the 32-bit WebAssembly port and the unix port). Time is a fake clock
that the driver advances (`advance(ms)`); the TIC line is a file of meter bytes opened with
`line(path, baud)`. The meter sends 10 bits per character, so `baud // 10` bytes per second
of fake time arrive in the UART's receive FIFO (`rxbuf` bytes, as the ESP32 driver's ring).
A UART set to another speed than the line receives the same number of '?' bytes (no STX, no
LF: no group can be valid), and the meter's bytes of that time are lost, as on a real wire.
Overflowing the FIFO raises: the harness must poll often enough (it models no stall).

Cost: reads go from the file straight into the caller's buffer (`readinto(buf, n)` of
MicroPython streams), so the fake allocates nothing per read; bookkeeping stays in small ints.
"""

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5

_now = 0  # fake clock, ms
_line = None  # the meter: [file, baud]
_reset_cause = PWRON_RESET


def now_ms():
    return _now


def advance(ms):
    """Move the fake clock forward by `ms` milliseconds."""
    global _now
    _now += ms


def line(path, baud):
    """Plug the meter in: it sends the bytes of file `path` at `baud`, from now on."""
    global _line
    _line = [open(path, "rb"), baud]


def unique_id():
    return b"\x24\x0a\xc4\x6c\x16\x01"


def reset_cause():
    return _reset_cause


def reset():
    raise SystemExit(75)


def freq(hz=None):
    return 240000000


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 1
    PULL_DOWN = 2

    def __init__(self, pin_id, mode=-1, pull=-1, value=None):
        self.id = pin_id
        self.mode = mode
        self.pull = pull
        self._value = 0 if value is None else value

    def value(self, v=None):
        if v is None:
            return self._value
        self._value = v
        return None


class WDT:
    def __init__(self, id=0, timeout=5000):
        self.timeout = timeout
        self.feeds = 0

    def feed(self):
        self.feeds += 1


class UART:
    INV_RX = 4
    INV_TX = 32
    IRQ_RXIDLE = 4096

    def __init__(self, uart_id, baudrate=115200, rxbuf=256, **kw):
        self.id = uart_id
        self.rxbuf = rxbuf
        self.baudrate = 0
        self.handler = None
        self.inits = 0
        self.overflows = 0
        self.init(baudrate, **kw)

    def init(self, baudrate=None, **kw):
        """(Re)configure; like v1.27, the FIFO is flushed."""
        if baudrate is not None:
            self.baudrate = baudrate
        self.bits = kw.get("bits", 8)
        self.inits += 1
        self._avail = 0  # characters in the FIFO
        self._t = _now  # fake time the FIFO was last brought up to
        self._frac = 0  # ms x bytes/s carried over (integer arrival, no float)

    def _update(self):
        # Bring the FIFO up to the fake clock: the meter sent bps bytes per second meanwhile.
        dt = _now - self._t
        if dt <= 0 or _line is None:
            return
        self._t = _now
        bps = _line[1] // 10
        total = dt * bps + self._frac
        new = total // 1000
        self._frac = total - new * 1000
        if self._avail + new > self.rxbuf:
            raise RuntimeError("fake UART FIFO overflow: the harness polled too slowly")
        self._avail += new

    def any(self):
        self._update()
        return self._avail

    def readinto(self, buf, nbytes=-1):
        self._update()
        n = self._avail
        if 0 <= nbytes < n:
            n = nbytes
        n = min(n, len(buf))
        if n == 0:
            return None
        f = _line[0]
        if self.baudrate == _line[1]:
            got = f.readinto(buf, n)
            if got != n:
                raise EOFError("TIC stream exhausted")
        else:
            f.seek(n, 1)  # the meter's bytes, lost; what the UART decodes is garbage
            for i in range(n):
                buf[i] = 0x3F
        self._avail -= n
        return n

    def read(self, nbytes=-1):
        n = self.any() if nbytes < 0 else min(nbytes, self.any())
        if not n:
            return None
        b = bytearray(n)
        self.readinto(b, n)
        return bytes(b)

    def irq(self, handler=None, trigger=0, hard=False):
        # Never fires: the harness polls the reader itself.
        self.handler = handler

    def deinit(self):
        self._avail = 0
