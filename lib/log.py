"""A small logger with the shape of CPython's `logging`, for MicroPython and CPython.

micropython-lib's `logging` is not installable from PyPI, so this is our own: `getLogger(name)`,
the usual levels, `%`-style arguments formatted only when the level is enabled, a console
handler, and a bounded ring of recent lines that the status page can show.

Keep it out of per-byte and per-frame paths: any formatting allocates. Count there, log summaries.
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

_NAMES = {DEBUG: "DEBUG", INFO: "INFO", WARNING: "WARNING", ERROR: "ERROR", CRITICAL: "CRITICAL"}

try:
    _ticks_ms = time.ticks_ms  # MicroPython
except AttributeError:
    _start = time.monotonic()

    def _ticks_ms():
        return int((time.monotonic() - _start) * 1000)


class Ring:
    """The last `size` formatted lines, oldest first; a fixed list, never grows."""

    def __init__(self, size=40):
        self.lines = [None] * size
        self.next = 0
        self.count = 0

    def add(self, line):
        self.lines[self.next] = line
        self.next = (self.next + 1) % len(self.lines)
        if self.count < len(self.lines):
            self.count += 1

    def recent(self):
        n = len(self.lines)
        first = (self.next - self.count) % n
        return [self.lines[(first + i) % n] for i in range(self.count)]


# Module-wide state: level, whether to print, and the ring (shared by every logger).
_state = {"level": INFO, "console": True}
ring = Ring()
_loggers = {}


def basicConfig(level=INFO, console=True, ring_size=None):  # noqa: N802 (logging's name)
    global ring
    _state["level"] = level
    _state["console"] = console
    if ring_size is not None:
        ring = Ring(ring_size)


def recent():
    """The recent log lines, oldest first."""
    return ring.recent()


class Logger:
    def __init__(self, name):
        self.name = name
        self.level = 0  # 0: follow the module-wide level

    def setLevel(self, level):  # noqa: N802
        self.level = level

    def isEnabledFor(self, level):  # noqa: N802
        return level >= (self.level or _state["level"])

    def log(self, level, msg, *args):
        if not self.isEnabledFor(level):
            return
        if args:
            try:
                msg = msg % args
            except (TypeError, ValueError):
                msg = "%s %r" % (msg, args)
        t = _ticks_ms()
        line = "%d.%03d %s %s: %s" % (
            t // 1000,
            t % 1000,
            _NAMES.get(level, level),
            self.name,
            msg,
        )
        ring.add(line)
        if _state["console"]:
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
        if exc is not None and _state["console"]:
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
