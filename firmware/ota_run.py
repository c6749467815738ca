"""The room an application update makes, and gives back: loaded for each call by the update's
task (firmware/ota_task.py) and by firmware/ota_web.py for an upload, dropped after.

Contract:
  await after_round(app)   waits (ROUND_WAIT_S at most) while an MQTT discovery round runs
  room() -> int            bytes the heap can still take before a board's second growth, after
        a collection, in 32-bit bytes (hal.HEAP_LIMIT; on the unix port its whole heap, and its
        64-bit figures scaled down to 32-bit ones)
  await make_room(app, need=NEED, image=False) -> bool   before an update's heavy phases
        (the manifest, the signature check, the download), once a running discovery round
        has ended, and a collection: when room() >= need, nothing else: MQTT keeps
        publishing through the update (the publisher starts no discovery round meanwhile).
        Otherwise MQTT is stopped (firmware/mqtt_ctl.py stop(): diagnostics, availability
        "offline", DISCONNECT, its tasks ended), the publisher and the MQTT modules dropped, a
        collection. The TIC reader goes on; the web server answers every new connection with
        a 503 and the update's status (app.web.hold, lib/httpd_hold.py: no page, poll or
        handler code loaded while the update holds its peak). True when MQTT was stopped.
        `need` None: NEED (on the host, the simulator's OTA_NEED hook if set). `image`: the
        release carries a MicroPython image, FW_NEED more (OTA_FW_NEED on the host): the
        update calls it again once the manifest says so (firmware/ota.py image_room()).
  give_back(app, stopped)  after a refused or failed update (no reset): the web server
        answers again, and MQTT, when a make_room() call stopped it, is started again as at
        boot (mqtt_ctl.restart()); without the memory for it, a reset (which brings it back).
Why and figures: docs/design/ota.md §6.2. Cost: this module (~1.3 KB on 32 bits) during a
call.
"""

import asyncio
import gc
import sys

from firmware import hal, unload
from log import getLogger

ROUND_WAIT_S = 60  # the longest an update waits for a discovery round to end
# What an update needs on top of the firmware, 32-bit bytes (docs/design/ota.md §6): its peak
# (tools/mem32_ota.py: 13.7 KB read at the download, one chunk's garbage included) and the
# little a frame's publish holds meanwhile.
NEED = 14300
# ... and more when the release carries a MicroPython image: its writer (firmware/ota_fw.py,
# flash, otadata, flash_esp32, a Writer; the slot read back through the update's buffer) adds
# 8.5 KB to the download (tools/mem32_ota.py): make_room(app, image=True) once the manifest
# says so.
FW_NEED = 9216
log = getLogger("ota")


async def after_round(app):
    """Wait, ROUND_WAIT_S at most, while an MQTT discovery round runs (`app.mqtt.in_round`,
    firmware/mqtt_pub.py): a round and an update are the heap's two biggest users and must not
    overlap (docs/design/ota.md §6). While an update runs (ota_boot.busy()), the publisher
    starts no round."""
    m = getattr(app, "mqtt", None)
    n = 0
    while m is not None and getattr(m, "in_round", False) and n < ROUND_WAIT_S * 10:
        await asyncio.sleep(0.1)
        n += 1


def _spare(app, keep):
    f = getattr(app, "spare", None)  # firmware/app.py's App.spare(): a collection before
    if f is not None:
        f(keep)


def _ctl():
    from firmware import mqtt_ctl  # loaded for the call: its stop() unloads it

    return mqtt_ctl


def room():
    gc.collect()
    used = gc.mem_alloc()
    r = (getattr(hal, "HEAP_LIMIT", 0) or used + gc.mem_free()) - used
    return r if sys.maxsize < 1 << 32 else r * 2 // 3  # the 64-bit port: ~1.45x the bytes


def _hold(app, on):
    w = getattr(app, "web", None)  # lib/httpd.py's Server (firmware/web.py), when there is one
    if w is not None:
        w.hold = {"error": "an update is running", "ota": app.ota_status} if on else None


def _hook(name, default):
    try:  # the simulator's tests may ask for more (host hooks; on a board, the default)
        return int(hal.setting(name, default))
    except ValueError:
        return default


async def make_room(app, need=None, image=False):
    _hold(app, True)
    if need is None:
        need = _hook("OTA_NEED", NEED)
    if image:
        need += _hook("OTA_FW_NEED", FW_NEED)
    await after_round(app)
    _spare(app, False)
    if getattr(app, "mqtt", None) is None:
        return False
    r = room()
    if r >= need:
        log.info("update: %d B of heap for it: MQTT keeps publishing", r)
        return False
    log.info("update: %d B of heap for it, %d needed: MQTT stopped until it ends", r, need)
    app.ota_mqtt_off = True  # for give_back(): a second call may stop it, or stop() fail
    await _ctl().stop(app)
    _spare(app, False)
    return True


def give_back(app, stopped):
    _hold(app, False)
    _spare(app, True)
    stopped = stopped or getattr(app, "ota_mqtt_off", False)
    app.ota_mqtt_off = False
    if not stopped or getattr(app, "mqtt", None) is not None:
        return
    try:
        _ctl().restart(app)
    except MemoryError as e:
        log.error("MQTT not restarted: out of memory (%s): resetting", e)
        app.stop("reset")
    finally:
        unload("firmware.mqtt_ctl")
