"""The application: one asyncio loop, a few long-lived tasks.

Now: the TIC reader (UART -> tic.parser.Parser, one log line per frame) and a heartbeat.
Later features (MQTT, web page, OTA) add their tasks with `App.add_task(name, coro)` before
the loop starts; a task that crashes is logged and the device resets, which is the only
recovery that also works when nobody is watching.

Settings come from defaults and, on the host, from tools/sim.py through hal.setting()
(LINKY_* variables); a configuration module comes later.
"""

import asyncio
import gc

from firmware import boards, hal
from log import getLogger
from tic import MODE_NAMES

try:
    from tic.parser import Parser
except ImportError:  # the parser is optional for the skeleton: count bytes only
    Parser = None

# Historique (1200 Bd) is the mode a Linky leaves the factory in; mode/speed auto-detection
# is planned, until then the host passes LINKY_BAUD.
DEFAULT_BAUD = 1200
# Bytes taken from the UART per read: at most the parser's CHUNK (512) so it copies the
# chunk in one C move; 256 B is ~0.27 s of line at 9600 Bd.
READ_SIZE = 256
HEARTBEAT_S = 60

log = getLogger("app")


def _int_setting(name, default):
    v = hal.setting(name)
    if v is None:
        return default
    try:
        return int(v)
    except ValueError:
        raise ValueError("setting %s: expected an integer, got %r" % (name, v))


class App:
    def __init__(self):
        self.boot = _int_setting("BOOT", 1)
        self.baud = _int_setting("BAUD", DEFAULT_BAUD)
        self.profile = boards.profile(hal.setting("BOARD", boards.DEFAULT_BOARD))
        self.heartbeat_s = _int_setting("HEARTBEAT_S", HEARTBEAT_S)
        # Test and simulator hooks (host only; 0 = off).
        self.exit_after_frames = _int_setting("EXIT_AFTER_FRAMES", 0)
        self.reset_after_frames = _int_setting("RESET_AFTER_FRAMES", 0)
        self.buf = bytearray(READ_SIZE)
        self.parser = Parser(on_frame=self._on_frame) if Parser is not None else None
        self.tic = None
        self.rx_bytes = 0  # received this boot (wraps at 2^30 to stay a small int)
        self.frames = 0  # complete frames this boot
        self.exit_code = None  # set to stop the loop: 0 = stop, "reset" = reset the device
        self._stop = asyncio.Event()
        self._tasks = []

    # -- life cycle
    def add_task(self, name, coro):
        """Register a coroutine to run in the loop (call before run())."""
        self._tasks.append((name, coro))

    def stop(self, code):
        if self.exit_code is None:
            self.exit_code = code
        self._stop.set()

    async def _guard(self, name, coro):
        try:
            await coro
        except Exception as e:
            log.exception("task %s crashed: %r", name, e, exc=e)
            self.stop("reset")

    async def main(self):
        log.info(
            "linky on %s, boot %d (%s), id %s, board %s, TIC at %d Bd, mem free %d",
            hal.PLATFORM,
            self.boot,
            hal.reset_cause(),
            hal.unique_id(),
            self.profile.name,
            self.baud,
            gc.mem_free(),
        )
        self.tic = hal.open_tic(self.profile, self.baud)
        self._tasks[:0] = [("tic", self.read_tic()), ("heartbeat", self.heartbeat())]
        running = [asyncio.create_task(self._guard(name, coro)) for name, coro in self._tasks]
        await self._stop.wait()
        for task in running:
            task.cancel()
        self.tic.deinit()

    # -- tasks
    async def read_tic(self):
        """Drain the UART into the parser; yield between chunks so other tasks run."""
        tic = self.tic
        buf = self.buf
        parser = self.parser
        while True:
            n = tic.readinto(buf)
            if n:
                self.rx_bytes = (self.rx_bytes + n) & 0x3FFFFFFF
                if parser is not None:
                    parser.feed(buf, n)
                await asyncio.sleep_ms(0)
            else:
                await tic.wait()

    def _on_frame(self, frame):
        # Called by the parser at each complete frame: one log line, then the test hooks.
        self.frames += 1
        p = self.parser
        log.info(
            "frame %d: %s, %d groups (checksum errors %d, format errors %d, interrupted %d)",
            frame.seq,
            MODE_NAMES[frame.mode],
            frame.n,
            p.checksum_errors,
            p.format_errors,
            p.interrupted,
        )
        if self.reset_after_frames and self.frames >= self.reset_after_frames:
            log.warning("reset requested after %d frames (test hook)", self.frames)
            self.stop("reset")
        elif self.exit_after_frames and self.frames >= self.exit_after_frames:
            log.info("stopping after %d frames (test hook)", self.frames)
            self.stop(0)

    async def heartbeat(self):
        t = 0
        while True:
            await asyncio.sleep(self.heartbeat_s)
            t += self.heartbeat_s
            p = self.parser
            log.info(
                "up %d s: %d bytes, %d frames, %d groups, %d checksum errors, mem free %d",
                t,
                self.rx_bytes,
                self.frames,
                p.groups if p is not None else 0,
                p.checksum_errors if p is not None else 0,
                gc.mem_free(),
            )


def run():
    """Entry point (main.py): run the loop until a stop; then reset if that was asked."""
    app = App()
    try:
        asyncio.run(app.main())
    except KeyboardInterrupt:  # Ctrl-C at the REPL or in the simulator
        log.info("stopped by Ctrl-C")
        return
    if app.exit_code == "reset":
        log.warning("resetting")
        hal.reset()
