"""A small logger with the shape of CPython's `logging`, for MicroPython and CPython.

    lg = getLogger(name)            # .debug/.info/.warning/.error(msg, *args),
                                    # .log(level, msg, *args), .exception(msg, *args, exc=e),
                                    # .isEnabledFor(level)
    basicConfig(level=INFO, console=True, ring_bytes=None, ring_size=None)
    recent() -> [str]               # the ring's whole lines, oldest first (allocates)

`%`-style arguments are formatted only when the level is enabled; one level for every logger
(a logger is only its name). Lines go to the console (print) and to a ring of recent lines for
the status page: one fixed bytearray (RING_BYTES, 1 KB: about 10 frame lines), written as
UTF-8 with a newline after each line, oldest overwritten first; it never grows or fragments
the heap. A log call allocates its line (the formatting, and its UTF-8 bytes to copy into the
ring), freed once written: keep logging out of per-byte and per-frame paths, or at one line
per frame at most. Memory: about 2.3 KB on a 32-bit board, the ring included.
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

RING_BYTES = const(1024)

_NAMES = ("NOTSET", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

try:
    _ticks_ms = time.ticks_ms  # MicroPython
except AttributeError:
    _start = time.monotonic()

    def _ticks_ms():
        return int((time.monotonic() - _start) * 1000)


# Module-wide state: level, whether to print, the ring and where its next byte goes; once the
# ring has wrapped, its oldest line is partial.
_level = INFO
_console = True
_buf = bytearray(RING_BYTES)
_pos = 0
_wrapped = False


def basicConfig(level=INFO, console=True, ring_bytes=None, ring_size=None):  # noqa: N802
    """Set the level, whether lines are printed, and a new empty ring of `ring_bytes` bytes
    (`ring_size`: the older form, in lines of up to 128 bytes)."""
    global _buf, _pos, _wrapped, _level, _console
    _level = level
    _console = console
    if ring_size is not None and ring_bytes is None:
        ring_bytes = ring_size * 128
    if ring_bytes is not None:
        _buf = bytearray(ring_bytes)
        _pos = 0
        _wrapped = False


def _add(line):
    """Copy a str into the ring (allocates its bytes); a line longer than the ring keeps its
    end."""
    global _pos, _wrapped
    b = line.encode()
    buf = _buf
    size = len(buf)
    n = len(b)
    p = _pos
    if n >= size - 1:  # longer than the whole ring: it alone, its end
        b = b[n - size + 2 :]
        n = size - 2
        p = 0
        _wrapped = False
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
        _wrapped = True
    buf[p] = 10  # "\n" ends every line
    p += 1
    if p == size:
        p = 0
        _wrapped = True
    _pos = p


def recent():
    """The whole lines kept in the ring, oldest first, as str (allocates)."""
    buf = _buf
    p = _pos
    data = bytes(buf[p:]) + bytes(buf[:p]) if _wrapped else bytes(buf[:p])
    lines = data.split(b"\n")
    if _wrapped:
        lines = lines[1:]  # the oldest line's start may have been overwritten: skip it
    out = []
    for b in lines[:-1]:  # after the last "\n": nothing (or partial)
        try:
            out.append(b.decode())
        except UnicodeError:  # a multi-byte character cut by a truncation
            pass
    return out


def _emit(level, name, msg, args):
    if level < _level:
        return
    if args:
        try:
            msg = msg % args
        except (TypeError, ValueError):
            msg = "%s %r" % (msg, args)
    t = _ticks_ms()
    i = level // 10
    lv = _NAMES[i] if level % 10 == 0 and 0 <= i < 6 else str(level)
    line = "%d.%03d %s %s: %s" % (t // 1000, t % 1000, lv, name, msg)
    _add(line)
    if _console:
        print(line)


class Logger:
    """A named logger; every one follows the module-wide level (basicConfig)."""

    def __init__(self, name):
        self.name = name

    def isEnabledFor(self, level):  # noqa: N802
        return level >= _level

    def log(self, level, msg, *args):
        _emit(level, self.name, msg, args)

    def debug(self, msg, *args):
        _emit(DEBUG, self.name, msg, args)

    def info(self, msg, *args):
        _emit(INFO, self.name, msg, args)

    def warning(self, msg, *args):
        _emit(WARNING, self.name, msg, args)

    def error(self, msg, *args):
        _emit(ERROR, self.name, msg, args)

    def exception(self, msg, *args, exc=None):
        """Log at ERROR, then the traceback of `exc` (MicroPython has no sys.exc_info)."""
        _emit(ERROR, self.name, msg, args)
        if exc is not None and _console:
            if hasattr(sys, "print_exception"):
                sys.print_exception(exc)
            else:
                import traceback

                traceback.print_exception(exc)


def getLogger(name="root"):  # noqa: N802
    """A Logger for `name` (a new small object each call: keep it in a module global)."""
    return Logger(name)
