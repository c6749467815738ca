"""Steps of the memory harness (tools/mem32), run on MicroPython with the fake `machine`.

tools/mem32/harness.mjs (32-bit WebAssembly port) calls each step in its own runPython call,
with a garbage collection in a separate call before every reading: within one call the wasm GC
may keep garbage alive through stale stack slots. tools/mem32.py runs the same steps in one
unix-port process (64-bit) for the ratio. Readings are printed as `MEM32 <key> <value>` lines,
never kept in Python objects, so that they do not count in what they measure.

Cost of this module and the fake machine and network: imported before the first reading (they
stand for what is in ROM on a board); `in_use()` figures include them.

Scenario "web" is scenario mqtt plus the web server driven through an in-memory stream at
the socket edge: its steps are in mem32_web.py (imported with the mqtt fakes, so that this
module stays small enough to compile within the first heap area).

Scenario "mqtt" (the WebAssembly run only): the harness also imports, before its first reading,
mem32_clock (the board's clock, installed as `time`), mem32_socket (name resolution) and
mem32_broker (the in-memory MQTT stream that replaces firmware.hal.open_connection); then
edge_mqtt() after asyncio's import, edge_socket() after the firmware's imports, and the async
steps mqtt_start() and mqtt_step() (runPythonAsync: the port's asyncio runs on the JavaScript
loop). Method: docs/design/memory.md.
"""

import gc
import sys

import machine
import network  # in ROM on a board: loaded before the first reading

try:
    from os import urandom as _urandom  # noqa: F401
except ImportError:  # the WebAssembly port: os without urandom (an ESP32 has it)
    import mem32_os

    sys.modules["os"] = mem32_os

TICK_MS = 100  # the reader's wait() when the port does not say (hal.esp32: port.period_ms)
MAX_POLLS = 4000000

_split = 0  # gc.mem_free() counts this much growth room beyond the areas (split-heap ports)
area_max = 0  # largest heap (sum of the areas) seen while driving
peak = 0  # largest gc.mem_alloc() seen at the end of a step (see note())
collect_each_step = False  # set by the WebAssembly harness (see note())
APP = None
SNAPSHOT = False  # boot() notes sys.modules first (the probe: _drop_late_modules)
_BEFORE_BOOT = ()
INTERNED = None  # the module whose _intern() import_module() ran (boot() skips it then)


# Scenario mqtt: config.json as a user would write it for a broker, with the shortest publish
# periods the schema allows (so they all fire within 1,000 frames) and the longest keepalive:
# the fake clock jumps by a frame's line time between two awaits of the harness, while the
# client's keepalive task wakes on the real clock (once a second), so a short keepalive would
# look like a dead broker. Keepalive pings still happen (every 900 s of line time).
MQTT_CONFIG = (
    '{"wifi_ssid": "home", "wifi_password": "wifi-secret", "mqtt_host": "broker.lan", '
    '"mqtt_user": "linky", "mqtt_password": "mqtt-secret", "mqtt_keepalive_s": 3600, '
    '"fast_min_s": 1, "slow_s": 10, "diag_s": 30}'
)
MQTT_WAIT_MS = 5  # how often mqtt_start() looks at the connection (real time)
MQTT_WAIT_MAX = 2000  # ... and for how many times at most
_pub_alloc = 0  # bytes allocated by the publisher's steps since mqtt_alloc_reset()
_pub_steps = 0
_pub_clean = True  # no collection could run inside the steps measured


def report(key, value):
    print("MEM32", key, value)


def calibrate(total):
    """`total`: the heap size micropython.mem_info() printed ("GC: total"); from then on
    area() = gc.mem_alloc() + gc.mem_free() - the growth room."""
    global _split, area_max, FIRST_AREA
    _split = gc.mem_alloc() + gc.mem_free() - total
    area_max = FIRST_AREA = total


# The growth's ballast. The run's first area is an ESP32's 56 KB plus what the harness keeps
# (BALLAST_SIZE, set by the harness), so the firmware meets a board's room there. The port's
# heap then grows by as much as it has (doubling), as a board's does (to ~112 KB): the second
# area would give the firmware BALLAST_SIZE bytes more than a board has. So at the end of the
# step where the heap first grows, note() allocates BALLAST_SIZE bytes, which land in the new
# area, and every reading leaves them out (used()); "grew twice" (past ~112 KB) is then seen
# where a board's heap would grow a second time.
FIRST_AREA = 0
BALLAST_SIZE = 0
_ballast = None
_ballast_cost = 0  # what the ballast takes in the heap (its object and its bytes)


# Interned names (qstrs) the harness holds beyond a board's, from the boot on: set by the
# harness after the build (tools/mem32.py qstr_excess(), docs/design/qstr-pools.md). Its fakes
# intern names of their own, and this port's ROM lacks names an ESP32 image has, so the harness
# holds more pool and text than a board; every reading from the boot on leaves that out.
QSTR_EXCESS = 0


def used():
    """gc.mem_alloc() without the ballast and QSTR_EXCESS (allocates nothing)."""
    return gc.mem_alloc() - _ballast_cost - QSTR_EXCESS


def _place_ballast():
    global _ballast, _ballast_cost
    if _ballast is None and BALLAST_SIZE and area() > FIRST_AREA:
        a = gc.mem_alloc()
        _ballast = bytearray(BALLAST_SIZE)
        _ballast_cost = gc.mem_alloc() - a


def area():
    """The heap's size now: the sum of its areas, in bytes (allocates nothing)."""
    return gc.mem_alloc() + gc.mem_free() - _split


def collect():
    gc.collect()
    gc.collect()


def note():
    """End of a step: record the heap in use and size. The WebAssembly port collects only when
    control returns to JavaScript (a gc.collect() or a failed allocation inside a call only
    asks for it; the failed allocation grows the heap at once), so with collect_each_step the
    harness asks for a collection at every step: the next step then starts from what is live,
    and what is in use at its end is live data plus all the step allocated (no collection
    inside a step: a pessimistic peak; a board collects before it grows)."""
    global area_max, peak
    _place_ballast()
    t = area()
    area_max = max(area_max, t)
    u = used()
    peak = max(peak, u)
    if collect_each_step:
        gc.collect()


def peak_reset():
    """The peak starts again from here (what one step holds at its writes: a poll's)."""
    global peak
    peak = 0


def in_use(key):
    """Report the bytes in use after a collection, the heap size and the peak so far (call in
    a runPython of its own). `key`: a small int in the WebAssembly run (a string literal there
    would become an interned string that stays in the heap), any text on the unix port."""
    collect()
    print("MEM32", key, used())
    print("MEM32A", key, area())
    print("MEM32P", key, peak)


class ThreadSafeFlag:
    """Stand-in for asyncio.ThreadSafeFlag where the port has none (here: counted with the
    harness, not with asyncio)."""

    def __init__(self):
        self.state = 0

    def set(self):
        self.state = 1

    def clear(self):
        self.state = 0


def asyncio_import():
    """Import asyncio; where it has no ThreadSafeFlag (the WebAssembly port's asyncio runs on
    the JavaScript loop), add the stand-in, so that an ESP32 HAL using it builds."""
    import asyncio

    if not hasattr(asyncio, "ThreadSafeFlag"):
        asyncio.ThreadSafeFlag = ThreadSafeFlag
    note()


def _interned(*_):
    pass


def import_module(name):
    """Import `name`. A pseudo-module "<owner>._intern.<rare>" is one step of the build's
    _intern() instead (firmware/builder.py: each rare module loaded, then dropped, so that its
    names are interned at boot): `rare` imported, then everything new unloaded (what it
    imported and kept, httpd or firmware.web, is the services', imported again by the build),
    so that the names it leaves are read apart from the TIC path's, one module a step as a
    board collects between them. boot() then skips the build's own _intern()."""
    i = name.find("._intern.")
    if i < 0:
        __import__(name)
        note()
        return
    from firmware import unload

    global INTERNED
    INTERNED = name[:i]
    before = list(sys.modules)
    try:
        __import__(name[i + len("._intern.") :])
    except ImportError:  # as _intern() does
        pass
    for m in list(sys.modules):
        if m not in before:
            unload(m)
    before = None
    note()


def edge_mqtt():
    """Scenario mqtt, after asyncio's import and before the firmware's: the fake clock as
    `time` and the fake `socket` (sys.modules: the firmware's imports find them first), a
    Wi-Fi network that the station joins at once, config.json with the broker set."""
    import mem32_clock
    import mem32_socket

    sys.modules["time"] = mem32_clock
    sys.modules["socket"] = mem32_socket
    network.joins(True)
    with open("config.json", "w") as f:
        f.write(MQTT_CONFIG)
    note()


def edge_socket():
    """Scenario mqtt, after the firmware's imports: the ESP32 HAL's TCP opener replaced by the
    in-memory broker (the only change to the firmware's objects)."""
    import mem32_broker

    from firmware import hal

    hal.open_connection = mem32_broker.open_connection
    note()


async def _connected(p, what):
    """Wait (real time, MQTT_WAIT_MAX turns of MQTT_WAIT_MS) until publisher p's client is
    connected and subscribed; RuntimeError naming `what` if it never is."""
    import asyncio

    for _ in range(MQTT_WAIT_MAX):
        await asyncio.sleep_ms(MQTT_WAIT_MS)
        if p.client is not None and p.client.is_connected() and p._online:
            return
    raise RuntimeError("%s: not connected: %r" % (what, p.client and p.client.last_error))


async def _mqtt_start():
    """What App.main() does for Wi-Fi and MQTT, once the readings hold the meter id: start the
    Wi-Fi station's task and the publisher's task, and wait until the client is connected and
    subscribed. The publisher's own 250 ms timer is pushed out of the run (mqtt_pub.POLL_MS):
    the harness calls its _step() once per frame instead (mqtt_step())."""

    from firmware import mqtt_pub

    a = APP
    a._started = True  # add_task() now starts tasks at once, as after main() started them
    a.add_task("wifi", a.wifi.run())
    await a.wifi.up.wait()
    # A day: longer than any run. Not near 2^29 ms: asyncio orders its sleepers by
    # ticks_diff(), which wraps at +-2^29, so a sleeper due 2^29 - 1 ms ahead compared with a
    # task queued a few ms ago looked due first, and the loop slept for 6 days (a hang of
    # about one run in ten).
    mqtt_pub.POLL_MS = 24 * 3600 * 1000
    p = a.mqtt
    a.add_task("mqtt", p.run())
    await _connected(p, "mqtt")
    note()


async def _mqtt_step():
    """The publisher's poll after a frame (its run() loop's body): publish what the policy
    says (the first call after connecting: availability, the discovery round, state and
    diagnostics). The bytes allocated meanwhile are added up (mqtt_alloc_reset())."""
    global _pub_alloc, _pub_steps, _pub_clean
    p = APP.mqtt
    c = p.client
    if not c.is_connected():
        raise RuntimeError("mqtt: connection lost: %r" % (c.last_error,))
    a = gc.mem_alloc()
    await p._step(c)
    d = gc.mem_alloc() - a
    if d < 0:  # a collection ran inside (an await handed control to JavaScript)
        _pub_clean = False
    _pub_alloc += d
    _pub_steps += 1
    note()


_task = [None]  # firmware.ota_task while "the update" runs: its task keeps it on a board


def _ota_task():
    m = _task[0]
    if m is None:
        from firmware import ota_task, unload

        unload("firmware.ota_task")
        _task[0] = m = ota_task
    return m


async def _room_kept():
    """What an application update does before its heavy phases when the heap has room for it
    (firmware/ota_run.py make_room() with a need any heap meets: this heap holds the harness
    too; on a board the test is room() >= NEED):
    nothing but a collection, MQTT keeps publishing. firmware.ota_task stays loaded, as the
    update's task keeps it; the update's own code is in its peak (tools/mem32_ota.py)."""
    if await _ota_task()._room().make_room(APP, -(1 << 30)):  # a need any heap meets
        raise RuntimeError("room_kept: MQTT was stopped")
    if APP.mqtt is None:
        raise RuntimeError("room_kept: no publisher")
    note()


async def _room_make():
    """What an application update does before its heavy phases when the heap has no room for
    it and MQTT too, with the same functions: firmware/ota_task.py's task loads
    firmware/ota_run.py and calls make_room() (here with a need no heap meets: MQTT stopped:
    "offline", DISCONNECT, its tasks ended, the publisher and the MQTT modules dropped, a
    collection). firmware.ota_task stays loaded until room_back(), as the task keeps it; the
    update's own code (firmware/ota.py and the rest, loaded after) is in its peak
    (tools/mem32_ota.py), not here."""
    if not await _ota_task()._room().make_room(APP, 1 << 30):
        raise RuntimeError("room: MQTT was not running")
    if APP.mqtt is not None:
        raise RuntimeError("room: the publisher is still there")
    note()


async def _room_back():
    """The update refused (no reset): the task's firmware/ota_run.py give_back() starts MQTT
    again as at boot; then, as mqtt_start(), the publisher's timer pushed out of the run
    (room_connected() waits for the connection)."""

    m = _task[0]
    _task[0] = None
    m._room().give_back(APP, True)
    m = None
    from firmware import mqtt_pub  # loaded again by give_back()

    mqtt_pub.POLL_MS = 24 * 3600 * 1000  # before the new task's first turn (see mqtt_start)
    note()


async def _room_connected():
    """After room_back(), in a step of its own (a board collects whenever it needs to; this
    port only between steps): wait until the new client is connected and subscribed."""
    await _connected(APP.mqtt, "room_back")
    note()


# The async steps the harness calls (runPythonAsync), each a wrapper around the step: the
# port's JavaScript proxy of the called coroutine keeps it alive until V8 finalizes the proxy,
# which may be long after, and a finished coroutine keeps its whole frame, stale stack slots
# included (the objects a call was given: the publisher, its client). A wrapper's frame holds
# only the inner coroutine, replaced by its result when it returns. Without them, room() read
# the publisher and its client as still in use.
async def mqtt_start():
    await _mqtt_start()


async def mqtt_step():
    await _mqtt_step()


async def room_kept():
    await _room_kept()


async def room():
    await _room_make()


async def room_back():
    await _room_back()


async def room_connected():
    await _room_connected()


def rediscover():
    """The `rediscover` command, as the publisher's command handler gets it."""
    APP.mqtt._on_message(APP.mqtt.topic(b"/cmd"), b"rediscover", False)
    note()


def mqtt_alloc_reset():
    global _pub_alloc, _pub_steps, _pub_clean
    _pub_alloc = _pub_steps = 0
    _pub_clean = True


def mqtt_report():
    import mem32_broker

    b = mem32_broker.STREAM
    p = APP.mqtt
    report("broker_kept", b.kept)
    report("broker_opens", b.opens)
    report("broker_connects", b.connects)
    report("broker_subscribes", b.subscribes)
    report("broker_pings", b.pings)
    report("broker_pub0", b.pub0)
    report("broker_pub1", b.pub1)
    report("broker_retained", b.retained)
    report("broker_pub_bytes", b.pub_bytes)
    report("broker_peak", b.peak)
    report("pub_published", p.published)
    report("pub_alloc", _pub_alloc)
    report("pub_steps", _pub_steps)
    report("pub_clean", 1 if _pub_clean else 0)
    report("entities", sum(bin(x).count("1") for x in p._entities))


def broker_watch(on):
    """From now on, each write to the broker ends a harness step (on) or not; the broker's
    peak starts again from here."""
    import mem32_broker

    mem32_broker.STREAM.watch = bool(on)
    mem32_broker.STREAM.peak = 0


def plug(path, baud):
    """The meter: stream file `path` at `baud` on the fake line."""
    machine.line(path, baud)


def save_state(mode_name, baud):
    """tic_state.json as a previous boot leaves it (the device remembers the detected mode)."""
    with open("tic_state.json", "w") as f:
        f.write('{"mode": "%s", "baud": %d}' % (mode_name, baud))


def boot():
    """Make the App as main.py does; its build is then boot_step(0), boot_step(1)... each a
    harness step of its own (firmware/builder.py STEPS), up to (not including) starting the
    tasks."""
    global APP, _BEFORE_BOOT
    from firmware import app

    if SNAPSHOT:  # the probe only: the run's readings stay free of this list
        _BEFORE_BOOT = list(sys.modules)
    if INTERNED:  # done by its import steps: the build's own run would only make garbage
        __import__(INTERNED)  # firmware.builder is imported again by build(), as is
        sys.modules[INTERNED]._intern = _interned
    __import__("firmware.builder")
    a = APP = app.App()
    if not hasattr(sys.modules["firmware.builder"], "STEPS"):  # older: the build in one step
        if hasattr(a, "build"):
            a.build()
        else:
            _build_like_main(a, app)
    note()


BOOT_STEPS_MAX = 12  # the harness calls boot_step() this many times


def boot_step(i):
    """Step `i` of App.build(): firmware/builder.py's STEPS[i] and its collection, then (at
    i == len(STEPS)) what App.build() does after builder.build(). One harness step each: within
    one step the WebAssembly port cannot collect, where a board collects when it must."""
    b = sys.modules.get("firmware.builder")
    steps = getattr(b, "STEPS", None)
    if steps is not None:
        if len(steps) >= BOOT_STEPS_MAX:
            raise RuntimeError("firmware.builder has %d steps: raise BOOT_STEPS_MAX" % len(steps))
        if i < len(steps):
            steps[i](APP)
            gc.collect()
        elif i == len(steps):
            from firmware import unload

            unload("firmware.builder")
            gc.collect()
    note()


def _build_like_main(a, app):
    # What App.main() does before it creates the asyncio tasks (firmware/app.py of 2026-12):
    # replaced by App.build() when that exists.
    hal = app.hal
    tic_reader = app.tic_reader
    baud = tic_reader.start_baud(a.mode, a.baud, tic_reader.STATE_FILE)
    a.tic = hal.open_tic(a.profile, baud)
    a.reader = tic_reader.TicReader(
        a.tic,
        a.mode,
        baud=a.baud,
        state_path=tic_reader.STATE_FILE,
        signal_lost_ms=a.signal_lost_s * 1000,
        on_frame=a._on_frame,
    )
    a.parser = a.reader.parser
    gc.collect()
    app.log.info(
        "linky on %s, boot %d (%s), id %s, board %s, TIC mode %s at %d Bd, mem free %d",
        hal.PLATFORM,
        a.boot,
        hal.reset_cause(),
        hal.unique_id(),
        a.profile.name,
        tic_reader.SETTINGS[a.mode],
        a.tic.baud,
        gc.mem_free(),
    )


# What boot keeps, object by object: each step drops one part of the built app (the attributes
# that hold it), so the bytes freed by the next collection are that part's. Run after boot().
# Labels start with the module that owns the part (tools/mem32.py sorts them by feature).
def _none(obj, name):
    if obj is not None and getattr(obj, name, None) is not None:
        setattr(obj, name, None)


def _drop_services():
    # the builder's services: the portal, the web server (its slots) and chart history, the OTA
    # status; the coroutines of the tasks not started yet (main() starts them) and the MQTT
    # commands they hold.
    for name in ("portal", "web", "history", "ota_status", "ota"):
        _none(APP, name)
    APP._tasks = []
    APP.commands = {}


def _drop_late_modules():
    # The modules the build loaded and kept (the services' and theirs: portal, web, httpd...),
    # which the harness did not import before boot; their interned names stay.
    from firmware import unload

    for name in list(sys.modules):
        if name not in _BEFORE_BOOT:
            unload(name)  # and from its package's attributes


def _drop_readings():
    _none(APP, "readings")  # it shares the reader's guard: dropped first


def _drop_guard():
    _none(APP.reader, "guard")
    _none(APP.reader, "ok")


def _drop_parser():
    _none(APP.reader, "parser")
    _none(APP, "parser")


def _drop_reader():
    _none(APP, "reader")


def _drop_wifi():
    _none(APP, "wifi")


def _drop_spare():
    _none(APP, "_spare")


def _drop_mqtt():
    _none(APP, "mqtt")


def _drop_profile():
    _none(APP.tic, "profile")
    _none(APP, "profile")


def _drop_port():
    _none(APP, "tic")


def _drop_app():
    global APP
    APP = None


TEARDOWN = (
    ("spare: App.spare()'s region, kept for the rare big loads", _drop_spare),
    (
        "services: portal, web server and slots, chart history, OTA status, pending tasks",
        _drop_services,
    ),
    (
        "services: the modules the build loaded and kept (portal, web, httpd...)",
        _drop_late_modules,
    ),
    # the publisher first: it holds the readings store
    ("firmware.mqtt_pub: Publisher (when configured)", _drop_mqtt),
    ("firmware.readings: Readings (values of every label)", _drop_readings),
    ("tic.guard: IndexGuard (references, candidates, codes)", _drop_guard),
    ("tic.parser: Parser (frame buffers, group tables)", _drop_parser),
    ("firmware.tic_reader: TicReader (read buffer, state)", _drop_reader),
    ("firmware.wifi: Wifi (its station stays in the HAL)", _drop_wifi),
    ("firmware.boards: the board profile", _drop_profile),
    ("firmware.hal.esp32: TicUart and its UART", _drop_port),
    ("firmware.app: App (settings, event, task list)", _drop_app),
)


def teardown(i):
    TEARDOWN[i][1]()


def step():
    """One turn of the reader's drain task on the fake clock: poll, service, then wait for
    bytes (advance the clock a tick) unless the read filled the buffer; then note(). Returns
    the frames the app has received."""
    a = APP
    r = a.reader
    k = r.poll(machine.now_ms())
    if r.events:
        r.service()
    note()
    if k < len(r.buf):
        machine.advance(getattr(r.port, "period_ms", TICK_MS))  # await port.wait()
    return a.frames


def run_frames(n):
    """step() until `n` more valid frames have reached the app (the unix port run, where a
    collection can happen at any allocation, as on a board)."""
    target = APP.frames + n
    polls = 0
    while step() < target:
        polls += 1
        if polls > MAX_POLLS:
            raise RuntimeError("no frames: %d after %d polls" % (APP.frames, polls))


def frames_report():
    a = APP
    r = a.reader
    p = a.parser
    report("frames", a.frames)
    report("time_ms", machine.now_ms())
    report("state", r.state)
    report("mode", r.mode)
    report("baud", r.port.baud)
    report("checksum_errors", p.checksum_errors)
    report("area_max", area_max)
    report("peak", peak)


def main(argv):
    """Unix port (64-bit), all steps in one process: `mem32_steps.py TOTAL|auto STREAM BAUD MODE
    N100 N MODULE...` prints the same MEM32 lines as the WebAssembly run."""
    total, path, baud, mode_name, n_first, n_all = argv[:6]
    modules = argv[6:]
    if total == "auto":  # a heap that does not grow: everything is in the one area
        total = gc.mem_alloc() + gc.mem_free()
    calibrate(int(total))
    in_use("base")
    asyncio_import()
    in_use("asyncio")
    for m in modules:
        import_module(m)
        in_use("import:" + m)
    save_state(mode_name, int(baud))
    plug(path, int(baud))
    boot()
    for i in range(BOOT_STEPS_MAX):
        boot_step(i)
    in_use("boot")
    run_frames(int(n_first))
    in_use("first")
    frames_report()
    run_frames(int(n_all) - int(n_first))
    in_use("steady")
    frames_report()


if __name__ == "__main__":
    main(sys.argv[1:])
