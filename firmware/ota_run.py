"""The room an application update makes, and gives back: loaded for each call by the update's
task (firmware/ota_task.py) and by firmware/ota_web.py for an upload, dropped after.

Contract:
  await after_round(app)   waits (ROUND_WAIT_S at most) while an MQTT discovery round runs
  await make_room(app) -> bool   before an update's heavy phases (the manifest, the signature
        check, the download), once a running discovery round has ended: MQTT stopped
        (firmware/mqtt_ctl.py stop(): diagnostics, availability "offline", DISCONNECT, its
        tasks ended), the publisher and the MQTT modules dropped, a collection. The TIC
        reader and the web server go on. True when MQTT was stopped.
  give_back(app, stopped)  after a refused or failed update (no reset): MQTT started again
        when make_room() stopped it, as at boot (mqtt_ctl.restart()); without the memory for
        it, a reset (which brings it back).
Why and figures: docs/design/ota.md §6.2. Cost: this module (~1.3 KB on 32 bits) during a
call.
"""

import asyncio

from firmware import unload
from log import getLogger

ROUND_WAIT_S = 60  # the longest an update waits for a discovery round to end
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


async def make_room(app):
    await after_round(app)
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
