"""The application: one asyncio loop, a few long-lived tasks.

Now: the TIC reader (firmware/tic_reader.py: UART -> parser -> index guard, mode and speed
auto-detection, signal state; one log line per frame and per state change) and a heartbeat.
Later features (MQTT, web page, OTA) add their tasks with `App.add_task(name, coro)` before
the loop starts; a task that crashes is logged and the device resets, which is the only
recovery that also works when nobody is watching.

Settings come from defaults and, on the host, from tools/sim.py through hal.setting()
(LINKY_* variables); a configuration module comes later.
"""

import asyncio
import gc

from firmware import boards, hal, tic_reader
from log import getLogger
from tic import MODE_NAMES

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
        # TIC: MODE auto|historique|standard; BAUD forces the start speed (0: the fixed
        # mode's, or the last detected one); SIGNAL_LOST_S: no valid frame for that long.
        self.mode = tic_reader.parse_mode(hal.setting("MODE", "auto"))
        self.baud = _int_setting("BAUD", 0)
        self.signal_lost_s = _int_setting("SIGNAL_LOST_S", tic_reader.SIGNAL_LOST_MS // 1000)
        if self.signal_lost_s <= 0:
            raise ValueError("setting SIGNAL_LOST_S: expected seconds > 0")
        self.profile = boards.profile(hal.setting("BOARD", boards.DEFAULT_BOARD))
        self.heartbeat_s = _int_setting("HEARTBEAT_S", HEARTBEAT_S)
        # Test and simulator hooks (host only; 0 = off).
        self.exit_after_frames = _int_setting("EXIT_AFTER_FRAMES", 0)
        self.reset_after_frames = _int_setting("RESET_AFTER_FRAMES", 0)
        self.tic = None  # the HAL port
        self.reader = None  # its tic_reader.TicReader
        self.parser = None  # the reader's parser
        self.frames = 0  # valid frames handed to _on_frame this boot
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
        baud = tic_reader.start_baud(self.mode, self.baud, tic_reader.STATE_FILE)
        self.tic = hal.open_tic(self.profile, baud)
        self.reader = tic_reader.TicReader(
            self.tic,
            self.mode,
            baud=self.baud,
            state_path=tic_reader.STATE_FILE,
            signal_lost_ms=self.signal_lost_s * 1000,
            on_frame=self._on_frame,
        )
        self.parser = self.reader.parser
        # Start-up garbage (module tables built at import) is not the firmware's footprint:
        # collect it before reporting what is left.
        gc.collect()
        log.info(
            "linky on %s, boot %d (%s), id %s, board %s, TIC mode %s at %d Bd, mem free %d",
            hal.PLATFORM,
            self.boot,
            hal.reset_cause(),
            hal.unique_id(),
            self.profile.name,
            tic_reader.SETTINGS[self.mode],
            self.tic.baud,
            gc.mem_free(),
        )
        self._tasks[:0] = [("tic", self.reader.run()), ("heartbeat", self.heartbeat())]
        running = [asyncio.create_task(self._guard(name, coro)) for name, coro in self._tasks]
        await self._stop.wait()
        for task in running:
            task.cancel()
        self.tic.deinit()

    # -- tasks
    def _on_frame(self, frame, ok):
        # Called by the reader (outside its allocation-free poll) after each valid frame;
        # `ok` holds the index guard's code per group (publishing comes later): one log
        # line, then the test hooks.
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
            r = self.reader
            log.info(
                "up %d s: %d bytes, %d frames, %d groups, %d checksum errors, %d rejected "
                "indexes, TIC %s, %s at %d Bd, mem free %d",
                t,
                p.bytes,
                r.frames,
                p.groups,
                p.checksum_errors,
                r.guard.rejected,
                tic_reader.STATE_NAMES[r.state],
                MODE_NAMES[r.mode],
                r.port.baud,
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
