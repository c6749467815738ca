"""main.py's entry: safe mode or the app, and any crash turned into a record and a reset.

Contract:
  start()  decides safe mode from the crash record and the reset cause (firmware/crashlog.py:
           three crashes in a row within 300 s of uptime); otherwise imports and runs the app.
           Any exception escaping the app (at import, in App(), in a task) is logged,
           recorded and followed by a reset. Returns only in safe mode or after a Ctrl-C.
  report(exc, what="")  log exc with its traceback and add it to the crash record (the app's
           task supervisor calls it, then stops the loop and resets).
  crashed(exc, what="")  report, then reset.
  uptime_ms()  since main.py started (ticks).
Cost: this module stays loaded (start() is on the stack); the record's code (crashlog) is
loaded only at boot and at a crash.
"""

import time

from firmware import hal, unload
from log import getLogger

log = getLogger("crash")

try:
    _ticks_ms = time.ticks_ms
    _ticks_diff = time.ticks_diff
except AttributeError:  # CPython (tests)

    def _ticks_ms():
        return int(time.monotonic() * 1000)

    def _ticks_diff(a, b):
        return a - b


_T0 = _ticks_ms()  # main.py imports this module first thing: uptime counts from here


def uptime_ms():
    return _ticks_diff(_ticks_ms(), _T0)


def report(exc, what=""):
    """Log exc with its traceback and add it to the crash record; if even that fails (out of
    memory), say so and go on: the reset that follows matters more."""
    up = uptime_ms()
    log.exception("crash after %d s: %s%r", up // 1000, what, exc, exc=exc)
    try:
        from firmware import crashlog

        crashlog.record(what + crashlog.describe(exc), up)
        unload("firmware.crashlog")
    except Exception as e:  # noqa: BLE001 (the reset matters more than the record)
        log.error("crash record not written: %r", e)


def crashed(exc, what=""):
    """report(), then reset (never returns on a board)."""
    report(exc, what)
    log.warning("resetting after a crash")
    hal.reset()


def start():
    from firmware import crashlog

    safe = crashlog.safe_mode()
    unload("firmware.crashlog")
    if safe:
        return
    try:
        if hal.setting("IMPORT_FAIL"):  # host test hook: the app's import fails
            raise ImportError("import failed (test hook)")
        from firmware import app

        app.run()
    except KeyboardInterrupt:
        log.info("stopped by Ctrl-C")
    except Exception as e:  # noqa: BLE001 (anything at all: record it and reset)
        crashed(e)
