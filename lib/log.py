"""A small logger with the shape of CPython's `logging`, for MicroPython and CPython.

micropython-lib's `logging` is not installable from PyPI, so this is our own: `getLogger(name)`,
the usual levels, `%`-style arguments formatted only when the level is enabled, a console
handler, and a ring of recent lines that the status page can show.

The ring is one fixed bytearray (RING_BYTES, 2 KB: about 20 frame lines), not a list of
strings: what it keeps never grows or fragments the heap, whatever the lines. A log call
allocates its line (the formatting, and its UTF-8 bytes to copy into the ring), freed once
written: keep logging out of per-byte and per-frame paths, or at one line per frame at most.
"""

import sys
import time

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


DEBUG = const(10)
INFO = const(20)
WARNING = const(30)
ERROR = const(40)
CRITICAL = const(50)

RING_BYTES = const(2048)

_NAMES = ("NOTSET", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

try:
    _ticks_ms = time.ticks_ms  # MicroPython
except AttributeError:
    _start = time.monotonic()

    def _ticks_ms():
        return int((time.monotonic() - _start) * 1000)


class Ring:
    """The last lines written, in a fixed bytearray of `size` bytes; the oldest are
    overwritten first (once it has wrapped, the oldest line read back may be one fewer than
    what fits). add(line) copies a str in (allocates its bytes; a line longer than the ring
    keeps its end), recent() reads whole lines back (allocates the list)."""

    def __init__(self, size=RING_BYTES):
        self.buf = bytearray(size)
        self.pos = 0  # where the next byte goes
        self.wrapped = False  # the buffer has been filled once: the oldest line is partial

    def add(self, line):
        b = line.encode()
        buf = self.buf
        size = len(buf)
        n = len(b)
        if n >= size - 1:  # longer than the whole ring: it alone, its end
            b = b[n - size + 2 :]
            n = size - 2
            self.pos = 0
            self.wrapped = False
        p = self.pos
        if p + n <= size:
            buf[p : p + n] = b
        else:  # the line wraps around
            k = size - p
            mv = memoryview(b)
            buf[p:] = mv[:k]
            buf[: n - k] = mv[k:]
        p += n
        if p >= size:
            p -= size
            self.wrapped = True
        buf[p] = 10  # "\n" ends every line
        p += 1
        if p == size:
            p = 0
            self.wrapped = True
        self.pos = p

    def recent(self):
        """The whole lines kept, oldest first, as str."""
        buf = self.buf
        p = self.pos
        data = bytes(buf[p:]) + bytes(buf[:p]) if self.wrapped else bytes(buf[:p])
        lines = data.split(b"\n")
        if self.wrapped:
            lines = lines[1:]  # the oldest line's start may have been overwritten: skip it
        out = []
        for b in lines[:-1]:  # after the last "\n": nothing (or partial)
            try:
                out.append(b.decode())
            except UnicodeError:  # a multi-byte character cut by a truncation
                pass
        return out


# Module-wide state: level, whether to print, and the ring (shared by every logger).
_level = INFO
_console = True
ring = Ring()
_loggers = {}


def basicConfig(level=INFO, console=True, ring_bytes=None, ring_size=None):  # noqa: N802
    """Set the level, whether lines are printed, and a new ring of `ring_bytes` bytes
    (`ring_size`: the older form, in lines of up to 128 bytes)."""
    global ring, _level, _console
    _level = level
    _console = console
    if ring_size is not None and ring_bytes is None:
        ring_bytes = ring_size * 128
    if ring_bytes is not None:
        ring = Ring(ring_bytes)


def recent():
    """The recent log lines, oldest first."""
    return ring.recent()


def _level_name(level):
    i = level // 10
    return _NAMES[i] if level % 10 == 0 and 0 <= i < len(_NAMES) else str(level)


class Logger:
    def __init__(self, name):
        self.name = name
        self.level = 0  # 0: follow the module-wide level

    def setLevel(self, level):  # noqa: N802
        self.level = level

    def isEnabledFor(self, level):  # noqa: N802
        return level >= (self.level or _level)

    def log(self, level, msg, *args):
        if not self.isEnabledFor(level):
            return
        if args:
            try:
                msg = msg % args
            except (TypeError, ValueError):
                msg = "%s %r" % (msg, args)
        t = _ticks_ms()
        line = "%d.%03d %s %s: %s" % (t // 1000, t % 1000, _level_name(level), self.name, msg)
        ring.add(line)
        if _console:
            print(line)

    def debug(self, msg, *args):
        self.log(DEBUG, msg, *args)

    def info(self, msg, *args):
        self.log(INFO, msg, *args)

    def warning(self, msg, *args):
        self.log(WARNING, msg, *args)

    def error(self, msg, *args):
        self.log(ERROR, msg, *args)

    def critical(self, msg, *args):
        self.log(CRITICAL, msg, *args)

    def exception(self, msg, *args, exc=None):
        """Log at ERROR, then the traceback of `exc` (MicroPython has no sys.exc_info)."""
        self.log(ERROR, msg, *args)
        if exc is not None and _console:
            if hasattr(sys, "print_exception"):
                sys.print_exception(exc)
            else:
                import traceback

                traceback.print_exception(exc)


def getLogger(name="root"):  # noqa: N802
    lg = _loggers.get(name)
    if lg is None:
        lg = _loggers[name] = Logger(name)
    return lg
