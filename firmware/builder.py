"""Boot-only: builds the application's parts and logs the boot line; unloaded after boot.

Contract: build(app) runs STEPS, collecting after each: it first interns the rare loads'
names (_intern), then fills app.settings, mode, profile, tic (the HAL port), readings, reader,
parser, wifi, mqtt (a Publisher when mqtt_host is set), hooks (host test hooks or None),
last_crash (read first: crash.json needs a 2 KB block), from firmware/config.py's settings (a
bad one falls back to its default with a log line) and the board profile (an unknown one: the
default board, logged); then the services (portal, web server, OTA). announce(app) logs the
boot line and the last crash. Both run once; firmware.app drops this module, config and boards
after, so their code and tables are freed (docs/design/memory.md).
"""

import gc
import sys

from firmware import hal, tic_reader, unload
from firmware.readings import Readings
from firmware.version import VERSION
from firmware.wifi import Wifi
from log import getLogger
from tic.guard import IndexGuard

log = getLogger("app")


def _board(name, rx_pin=-1, rx_invert="board"):
    from firmware import boards

    over = {}
    if rx_pin >= 0:
        over["rx"] = rx_pin
    if rx_invert != "board":
        over["invert"] = rx_invert == "inverted"
    try:
        p = boards.profile(name, **over)
    except ValueError as e:
        log.warning("board: %s; using %s", e, boards.DEFAULT_BOARD)
        p = boards.profile(boards.DEFAULT_BOARD)
    unload("firmware.boards")
    return p


# The rare big loads' modules (App.spare()): loaded once first thing at boot and dropped, so
# that the names they intern, which stay for good, grow the pool now, low in a clean heap,
# not in the middle of a fragmented one later. Without it the simulator's discovery rounds
# fail at 208K and now and then at 224K (memory-diet.md, round 5).
_RARE = (
    "ha_tpl",  # per discovery round
    "firmware.config",
    "httpd_form",
    "firmware.web_auth",
    "firmware.web_config",
    "firmware.web_api",
    "firmware.web_req",  # per request
    "firmware.web_poll",  # per GET /api/state
    "httpd_conn",  # per connection
    "httpd_file",  # per static file
    "mqtt_link",  # per connection
    "firmware.mqtt_ctl",  # client start, commands
    "firmware.mqtt_round",  # per discovery round
)


def _intern():
    for name in _RARE:  # one at a time: boot's peak holds one of them, not all of them
        before = list(sys.modules)
        try:
            __import__(name)
        except ImportError:
            pass
        for m in list(sys.modules):  # it, and what it imported (mqtt_pub, with MQTT off)
            if m not in before:
                unload(m)
        before = None
        gc.collect()


def build(app):
    for step in STEPS:
        step(app)
        gc.collect()  # each step's garbage goes before the next one's allocations


def _names(app):
    _intern()


def _settings(app):
    from firmware import config, crashlog

    app.last_crash = crashlog.last()  # first: reading crash.json needs a 2 KB block
    unload("firmware.crashlog")

    app.settings = config.load(override=hal.setting)
    unload("firmware.config")
    if hal.PLATFORM == "host":
        from firmware import hooks

        app.hooks = hooks.load(app)


def _tic(app):
    s = app.settings
    app.mode = tic_reader.parse_mode(s["mode"])
    app.profile = _board(s["board"], s["rx_pin"], s["rx_invert"])
    baud = tic_reader.start_baud(app.mode, s["baud"], tic_reader.STATE_FILE)
    app.tic = hal.open_tic(app.profile, baud)
    guard = IndexGuard()
    app.readings = Readings(guard)
    app.reader = tic_reader.TicReader(
        app.tic,
        app.mode,
        baud=s["baud"],
        state_path=tic_reader.STATE_FILE,
        signal_lost_ms=s["signal_lost_s"] * 1000,
        guard=guard,
        on_frame=app.on_frame,
    )
    app.parser = app.reader.parser


def _net(app):
    s = app.settings
    name = s["hostname"] or "linky-" + hal.unique_id()[-6:]  # what the router shows
    app.wifi = Wifi(hal.wlan(), s["wifi_ssid"], s["wifi_password"], name)
    if s["mqtt_host"]:
        from firmware.mqtt_pub import Publisher

        app.mqtt = Publisher(app)


# The services: each module's build(app) adds its tasks (app.add_task) and its MQTT commands
# (app.commands). Portal: access point and captive DNS; web: the HTTP server and the chart's
# history; ota_boot: the OTA command, periodic check and trial-boot health check (then
# dropped: the commands load it again when they run).
def _portal(app):
    from firmware import portal_ap

    portal_ap.build(app)
    unload("firmware.portal_ap")


def _web(app):
    from firmware import web

    web.build(app)


def _ota(app):
    from firmware import ota_boot

    ota_boot.build(app)
    unload("firmware.ota_boot")


# build()'s steps, in order, with a collection after each (tools/mem32.py runs them one by one)
STEPS = (_names, _settings, _tic, _net, _portal, _web, _ota)


def announce(app):
    gc.collect()
    log.info(
        "linky %s on %s, boot %d (%s), id %s, board %s, TIC mode %s at %d Bd, mem used %d",
        VERSION,
        hal.PLATFORM,
        app.boot,
        hal.reset_cause(),
        hal.unique_id(),
        app.profile.name,
        tic_reader.SETTINGS[app.mode],
        app.tic.baud,
        gc.mem_alloc(),
    )
    last = app.last_crash
    if last is not None:
        log.info(
            "last crash: %s (after %s s, reset %s)", last["what"], last["up_s"], last["reset"]
        )
