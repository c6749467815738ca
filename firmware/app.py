"""The application: builds every part, supervises their tasks, resets on a crash.

Contract:
  App().build()   reads the settings (firmware/config.py), the board profile, opens the TIC
                  port through the HAL and builds the reader (UART -> parser -> index guard).
                  Synchronous, starts no task; a bad setting falls back to its default with a
                  log line. The boot-only modules (config, boards) are dropped afterwards.
  App.add_task(name, coro)  supervise a coroutine: before run() it starts with the others,
                  after, at once. A task that raises is a crash: logged, written to the crash
                  record (firmware/crash.py), then the device resets.
  await App.main()  build (if not done), log the boot line, arm the watchdog, run the tasks
                  until stop(code).
  run()           main.py's entry (through crash.start()): the loop, then a reset if asked.
Data flows one way: UART -> tic_reader -> (frame callback) -> log line today; readings and
publishers (MQTT, web) hang off build() as they arrive.

The hardware watchdog (hal.watchdog) is fed every WDT_FEED_MS (at most a third of WDT_MS)
by a task of this loop, and
only while the TIC reader keeps polling: a blocked loop or a dead reader stops the feeding,
and the board resets WDT_MS later.
"""

import asyncio
import gc

from firmware import crash, hal, tic_reader, unload
from firmware.readings import Readings
from firmware.version import VERSION
from firmware.wifi import Wifi
from log import getLogger
from tic import MODE_NAMES
from tic.guard import IndexGuard

WDT_MS = 30000  # longest stall tolerated; the UART buffer holds 34 s at 1200 Bd, 4.3 at 9600
WDT_FEED_MS = 5000
READER_STALE_MS = 10000  # the reader polls every ~0.1 s; this long without a poll is a hang

log = getLogger("app")


def _hook(name):
    """A host test hook (tools/sim.py --set NAME=N): a count >= 0, 0 when absent or bad."""
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


class App:
    def __init__(self):
        self.boot = _hook("BOOT") or 1
        self.settings = None  # name -> value, from firmware/config.py
        self.mode = None  # TIC mode setting (tic.MODE_*; MODE_UNKNOWN = auto)
        self.profile = None  # board profile
        self.tic = None  # the HAL port
        self.reader = None  # its tic_reader.TicReader
        self.parser = None  # the reader's parser
        self.readings = None  # firmware.readings.Readings: what publishers read
        self.wifi = None  # firmware.wifi.Wifi
        self.mqtt = None  # firmware.mqtt_pub.Publisher, when MQTT is configured
        self.last_crash = None
        self.wdt = None
        self.frames = 0  # valid frames handed to _on_frame this boot
        self.exit_code = None  # set to stop the loop: 0 = stop, "reset" = reset the device
        self._stop = asyncio.Event()
        self._tasks = []  # (name, coro) waiting for main() to start them
        self._running = []
        self._started = False
        # Host test hooks (0 = off): stop or reset after N frames, raise in a task or block
        # the loop after N frames, watchdog period.
        self.exit_after_frames = _hook("EXIT_AFTER_FRAMES")
        self.reset_after_frames = _hook("RESET_AFTER_FRAMES")
        self.raise_after_frames = _hook("RAISE_AFTER_FRAMES")
        self.block_after_frames = _hook("BLOCK_AFTER_FRAMES")
        self.wdt_ms = _hook("WDT_MS") or WDT_MS

    # -- building
    def build(self):
        from firmware import config

        s = self.settings = config.load(override=hal.setting)
        unload("firmware.config")
        self.mode = tic_reader.parse_mode(s["mode"])
        self.profile = self._board(s["board"])
        baud = tic_reader.start_baud(self.mode, s["baud"], tic_reader.STATE_FILE)
        self.tic = hal.open_tic(self.profile, baud)
        guard = IndexGuard()
        self.readings = Readings(guard)
        self.reader = tic_reader.TicReader(
            self.tic,
            self.mode,
            baud=s["baud"],
            state_path=tic_reader.STATE_FILE,
            signal_lost_ms=s["signal_lost_s"] * 1000,
            guard=guard,
            on_frame=self._on_frame,
        )
        self.parser = self.reader.parser
        self.wifi = Wifi(hal.wlan(), s["wifi_ssid"], s["wifi_password"], s["hostname"])
        if s["mqtt_host"]:
            from firmware.mqtt_pub import Publisher

            self.mqtt = Publisher(self)
        gc.collect()  # start-up garbage (module tables built at import) is not our footprint

    def _board(self, name):
        from firmware import boards

        try:
            p = boards.profile(name)
        except ValueError as e:
            log.warning("board: %s; using %s", e, boards.DEFAULT_BOARD)
            p = boards.profile(boards.DEFAULT_BOARD)
        unload("firmware.boards")
        return p

    # -- life cycle
    def add_task(self, name, coro):
        if self._started:
            self._running.append(asyncio.create_task(self._supervise(name, coro)))
        else:
            self._tasks.append((name, coro))

    def stop(self, code):
        if self.exit_code is None:
            self.exit_code = code
        self._stop.set()

    async def _supervise(self, name, coro):
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a crash of any kind: record, then reset
            what = "task %s: %s" % (name, crash.describe(e))
            log.exception("crash: %s", what, exc=e)
            crash.record(what, _uptime_ms())
            self.stop("reset")

    async def main(self):
        if self.reader is None:
            self.build()
        last = self.last_crash = crash.last()
        log.info(
            "linky %s on %s, boot %d (%s), id %s, board %s, TIC mode %s at %d Bd, mem used %d",
            VERSION,
            hal.PLATFORM,
            self.boot,
            hal.reset_cause(),
            hal.unique_id(),
            self.profile.name,
            tic_reader.SETTINGS[self.mode],
            self.tic.baud,
            gc.mem_alloc(),
        )
        if last is not None:
            log.info(
                "last crash: %s (after %s s, reset %s)", last["what"], last["up_s"], last["reset"]
            )
        self.wdt = hal.watchdog(self.wdt_ms)
        self._started = True
        pending = [
            ("tic", self.reader.run()),
            ("watchdog", self.feed_watchdog()),
            ("heartbeat", self.heartbeat()),
            ("wifi", self.wifi.run()),
        ]
        if self.mqtt is not None:
            pending.append(("mqtt", self.mqtt.run()))
        pending += self._tasks
        self._tasks = []
        for name, coro in pending:
            self.add_task(name, coro)
        await self._stop.wait()
        for task in self._running:
            task.cancel()
        self.tic.deinit()

    # -- tasks
    def _on_frame(self, frame, ok):
        # Called by the reader (outside its allocation-free poll) after each valid frame;
        # `ok` holds the index guard's code per group (publishing comes later): one log
        # line, then the test hooks.
        self.frames += 1
        self.readings.on_frame(frame, ok)
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
        n = self.frames
        if self.reset_after_frames and n >= self.reset_after_frames:
            log.warning("reset requested after %d frames (test hook)", n)
            self.stop("reset")
        elif self.exit_after_frames and n >= self.exit_after_frames:
            log.info("stopping after %d frames (test hook)", n)
            self.stop(0)
        elif self.raise_after_frames and n == self.raise_after_frames:
            self.add_task("test-raise", _raise())
        elif self.block_after_frames and n == self.block_after_frames:
            self.add_task("test-block", _block())

    async def feed_watchdog(self):
        r = self.reader
        period = min(WDT_FEED_MS, self.wdt_ms // 3)
        while True:
            await asyncio.sleep_ms(period)
            age = _age_ms(r.last_poll_ms)
            if age < READER_STALE_MS:
                self.wdt.feed()
            else:
                log.error("TIC reader silent for %d ms: watchdog not fed", age)

    async def heartbeat(self):
        t = 0
        period = self.settings["heartbeat_s"]
        while True:
            await asyncio.sleep(period)
            t += period
            p = self.parser
            r = self.reader
            log.info(
                "up %d s: %d bytes, %d frames, %d groups, %d checksum errors, %d rejected "
                "indexes, TIC %s, %s at %d Bd, mem used %d",
                t,
                p.bytes,
                r.frames,
                p.groups,
                p.checksum_errors,
                r.guard.rejected,
                tic_reader.STATE_NAMES[r.state],
                MODE_NAMES[r.mode],
                r.port.baud,
                gc.mem_alloc(),
            )

    def diagnostics_json(self, buf):
        """The `~/diagnostics` JSON object into bytearray buf; its length (allocates: a few
        strings, once per diagnostics message)."""
        import json

        r = self.reader
        p = self.parser
        w = self.wifi
        last = self.last_crash
        text = (
            '{"tic_state":"%s","tic_mode":"%s","baud":%d,"bytes":%d,"frames":%d,"groups":%d,'
            '"checksum_errors":%d,"format_errors":%d,"interrupted":%d,"rejected_indexes":%d,'
            '"dropped_values":%d,"rssi":%s,"mem_used":%d,"uptime_s":%d,"version":"%s",'
            '"reset_cause":"%s","last_crash":%s}'
        ) % (
            tic_reader.STATE_NAMES[r.state],
            MODE_NAMES[r.mode],
            r.port.baud,
            p.bytes,
            r.frames,
            p.groups,
            p.checksum_errors,
            p.format_errors,
            p.interrupted,
            r.guard.rejected,
            self.readings.dropped,
            "null" if w.rssi is None else str(w.rssi),
            gc.mem_alloc(),
            _uptime_ms() // 1000,
            VERSION,
            hal.reset_cause(),
            "null" if last is None else json.dumps(str(last.get("what"))[:255]),
        )
        n = len(text)
        if n > len(buf):
            raise ValueError("diagnostics: buffer too small")
        buf[:n] = text.encode()
        return n


def _uptime_ms():
    return crash._uptime_ms()


def _age_ms(t):
    import time

    return time.ticks_diff(time.ticks_ms(), t)


async def _raise():
    raise RuntimeError("test hook: a task raised")


async def _block():
    import time

    log.warning("blocking the loop (test hook)")
    while True:
        time.sleep(1)  # deliberately blocks the event loop: the watchdog must fire


def run():
    """Run the loop until a stop; then reset if that was asked. Ctrl-C propagates."""
    app = App()
    asyncio.run(app.main())
    if app.exit_code == "reset":
        log.warning("resetting")
        hal.reset()
