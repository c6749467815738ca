"""The application: supervises the tasks of the parts firmware/builder.py builds.

Contract:
  App().build()   builds every part (firmware/builder.py: settings, board, TIC port, reader,
                  readings, Wi-Fi, MQTT), synchronously, starting no task; builder, config
                  and boards are unloaded after.
  App.add_task(name, coro)  supervise a coroutine: before main() it starts with the others,
                  after, at once. A task that raises is a crash: logged, written to the crash
                  record (firmware/crash.py), then the device resets.
  App.spare(keep)  around the rare big loads (a discovery round, the web server's slots, the
                  web handlers other than the polls, an update): False before (a collection),
                  True after (nothing since the spare region went: memory-diet.md, round 5)
  await App.main()  build (if not done), log the boot line, arm the watchdog, run the tasks
                  until stop(code): 0 stops, "reset" resets.
  run()           main.py's entry (through crash.start()).
Data flows one way: UART -> tic_reader -> on_frame -> readings -> publishers (MQTT, later web).
The hardware watchdog (hal.watchdog, WDT_MS) is fed every WDT_FEED_MS (at most a third of
WDT_MS) by a task of this loop, and only while the TIC reader keeps polling: a blocked loop or
a dead reader stops the feeding, and the board resets.
"""

import asyncio
import gc
import time

from firmware import crash, hal, tic_reader, unload
from log import getLogger
from tic import MODE_NAMES

WDT_MS = 30000  # longest stall tolerated; the UART buffer holds 34 s at 1200 Bd, 4.3 at 9600
WDT_FEED_MS = 5000
READER_STALE_MS = 10000  # the reader polls every ~0.1 s; this long without a poll is a hang

log = getLogger("app")


class App:
    def __init__(self):
        self.boot = 1  # boot count (the simulator's hook; the board does not count)
        self.wdt_ms = WDT_MS
        self.hooks = None  # host test hooks (firmware/hooks.py), never on a board
        # Built by firmware/builder.py:
        self.settings = self.mode = self.profile = self.tic = None
        self.reader = self.parser = self.readings = self.wifi = self.mqtt = None
        self.wdt = None
        self.commands = {}  # MQTT `~/cmd` payload (bytes) -> fn(app): added by the parts
        self.last_crash = None  # the newest crash record entry, read at boot
        self.frames = 0  # valid frames this boot
        self.exit_code = None  # 0 = stop, "reset" = reset the device
        self._stop = asyncio.Event()
        self._tasks = []  # (name, coro) waiting for main() to start them
        self._running = []
        self._started = False

    def spare(self, keep):
        """Called before (keep False) and after (keep True) a rare big load: a discovery
        round, the web server's slots, a web handler other than the polls, an update. Before,
        a collection, so that the load finds the holes boot and steady state left; after,
        nothing. (It gave back and took again a 10 KB spare region until round 5 of
        docs/design/memory-diet.md, which measured the firmware better without it.)"""
        if not keep:
            gc.collect()

    def build(self):
        from firmware import builder  # which interns the rare loads' names first

        builder.build(self)
        unload("firmware.builder")
        gc.collect()  # start-up garbage (module tables built at import) is not our footprint

    # -- life cycle
    def add_task(self, name, coro):
        if self._started:
            # Finished tasks go: a done task keeps its coroutine, and so its variables, alive.
            self._running = [t for t in self._running if not t.done()]
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
        except Exception as e:  # noqa: BLE001 (a crash of any kind: record, then reset)
            crash.report(e, "task %s: " % name)
            self.stop("reset")

    async def main(self):
        if self.reader is None:
            self.build()
        from firmware import builder

        builder.announce(self)
        unload("firmware.builder")
        self.wdt = hal.watchdog(self.wdt_ms)
        self._started = True
        pending = [
            ("tic", self.reader.run()),
            ("watchdog", self.feed_watchdog()),  # and the heartbeat line
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
    def on_frame(self, frame, ok):
        """The reader's frame callback (outside its allocation-free poll): the readings
        store, one log line, the test hooks. `ok`: the index guard's code per group."""
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
        if self.hooks is not None:
            self.hooks.frame(self, self.frames)

    async def feed_watchdog(self):
        """One task for two periodic jobs: feed the watchdog every `period` ms while the
        reader polls, and log the heartbeat line every heartbeat_s (one coroutine less)."""
        r = self.reader
        period = min(WDT_FEED_MS, self.wdt_ms // 3)
        beat = self.settings["heartbeat_s"] * 1000
        up = due = 0
        while True:
            await asyncio.sleep_ms(period)
            age = time.ticks_diff(time.ticks_ms(), r.last_poll_ms)
            if age < READER_STALE_MS:
                self.wdt.feed()
            else:
                log.error("TIC reader silent for %d ms: watchdog not fed", age)
            up += period
            if up - due >= beat:
                due += beat
                self.heartbeat(due // 1000)

    def heartbeat(self, t):
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


def run():
    """Run the loop until a stop; then reset if that was asked. Ctrl-C propagates."""
    app = App()
    asyncio.run(app.main())
    if app.exit_code == "reset":
        log.warning("resetting")
        hal.reset()
