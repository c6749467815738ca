"""An application update's task, and the room it makes: loaded by firmware/ota_boot.py start()
for the task (which keeps it while it runs) and by firmware/ota_web.py for an upload.

Contract:
  await update(app, url, force)  the task: waits for a running discovery round, make_room(),
        firmware/ota.py from_url() (loaded for it, dropped after), then a reset when the new
        version is switched to, else give_back(). Never raises.
  await after_round(app)   waits (ROUND_WAIT_S at most) while an MQTT discovery round runs
  await make_room(app) -> bool   before an update's heavy phases (the manifest, the signature
        check, the download): MQTT stopped (firmware/mqtt_ctl.py stop(): diagnostics,
        availability "offline", DISCONNECT, its tasks ended), the publisher and the MQTT
        modules dropped, a collection. The TIC reader and the web server go on. True when
        MQTT was stopped.
  give_back(app, stopped)  after a refused or failed update (no reset): MQTT started again
        when make_room() stopped it, as at boot (mqtt_ctl.restart()); without the memory for
        it, a reset (which brings it back).
Why and figures: docs/design/ota.md §6.2. Cost: this module (~1 KB on 32 bits) while an update
runs.
"""

import asyncio

from firmware import unload
from log import getLogger

ROUND_WAIT_S = 60  # the longest an update waits for a discovery round to end
log = getLogger("ota")


def _from_url(app, url, force):
    """ota.from_url's coroutine. No local of update() names the module: a finished task that
    stays referenced keeps its frame's locals, and would keep the module."""
    from firmware import ota

    return ota.from_url(app, url, force)


async def update(app, url, force):
    ok = stopped = False
    try:
        await after_round(app)
        stopped = await make_room(app)
        ok = await _from_url(app, url, force)
    except MemoryError as e:  # not even the update's code fits: say so, keep running
        st = app.ota_status
        st["state"] = "failed"
        st["error"] = "out of memory: %s" % e
        log.error("update not run: out of memory (%s)", e)
    finally:
        unload(
            "firmware.ota",
            "firmware.ota_check",
            "firmware.ota_http",
            "ota_sig",
            "ota_manifest",
            "ota_entries",
            "ed25519",
            "sha512",
        )
        if not ok:
            give_back(app, stopped)
    if ok:
        app.stop("reset")


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


async def make_room(app):
    stopped = getattr(app, "mqtt", None) is not None
    if stopped:
        await _ctl().stop(app)
    _spare(app, False)
    return stopped


def give_back(app, stopped):
    _spare(app, True)
    if not stopped or getattr(app, "mqtt", None) is not None:
        return
    try:
        _ctl().restart(app)
    except MemoryError as e:
        log.error("MQTT not restarted: out of memory (%s): resetting", e)
        app.stop("reset")
    finally:
        unload("firmware.mqtt_ctl")
