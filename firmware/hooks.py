"""Host-only test hooks of the simulator (tools/sim.py --set NAME=N), never on a board.

load(app) -> Hooks or None: reads BOOT, EXIT_AFTER_FRAMES, RESET_AFTER_FRAMES,
RAISE_AFTER_FRAMES, BLOCK_AFTER_FRAMES (counts >= 0; a bad value is ignored with a log line)
and WDT_MS (the watchdog period). Hooks.frame(app, n) runs after frame n: stop, reset, a task
that raises, or a task that blocks the loop (so the watchdog fires).
"""

from firmware import hal
from log import getLogger

log = getLogger("app")


def _count(name):
    v = hal.setting(name)
    if v is None:
        return 0
    try:
        n = int(v)
    except ValueError:
        n = -1
    if n < 0:
        log.warning("test hook %s=%r ignored: expected a count >= 0", name, v)
        return 0
    return n


class Hooks:
    def __init__(self):
        self.exit_after = _count("EXIT_AFTER_FRAMES")
        self.reset_after = _count("RESET_AFTER_FRAMES")
        self.raise_after = _count("RAISE_AFTER_FRAMES")
        self.block_after = _count("BLOCK_AFTER_FRAMES")

    def frame(self, app, n):
        if self.reset_after and n >= self.reset_after:
            log.warning("reset requested after %d frames (test hook)", n)
            app.stop("reset")
        elif self.exit_after and n >= self.exit_after:
            log.info("stopping after %d frames (test hook)", n)
            app.stop(0)
        elif self.raise_after and n == self.raise_after:
            app.add_task("test-raise", _raise())
        elif self.block_after and n == self.block_after:
            app.add_task("test-block", _block())


def load(app):
    app.boot = _count("BOOT") or 1
    app.wdt_ms = _count("WDT_MS") or app.wdt_ms
    h = Hooks()
    if h.exit_after or h.reset_after or h.raise_after or h.block_after:
        return h
    return None


async def _raise():
    raise RuntimeError("test hook: a task raised")


async def _block():
    import time

    log.warning("blocking the loop (test hook)")
    while True:
        time.sleep(1)  # deliberately blocks the event loop: the watchdog must fire
