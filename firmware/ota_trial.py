"""The trial boot of a new version, and the report of a rollback (loaded only for those).

Contract:
  await run(app, firmware)  the trial boot's task: marks the running version good
        (firmware/slots.py; also ota_fw.mark_valid() when `firmware`, the release carried a
        MicroPython image) once healthy(app), checked every second for TRIAL_S (host hook
        OTA_TRIAL_S); otherwise logs, writes why into the pointer and resets: the next boot
        rolls back (docs/design/ota.md).
  healthy(app) -> (ok, what is missing)  TIC frames parsed (or the TIC known absent: "no
        signal") and, when MQTT is configured, the client connected.
  note_rollback(what)  logs a rollback and adds it to the crash record (crashlog.note).
  fw_valid()  ota_fw.mark_valid(), if the build has firmware OTA.
"""

import asyncio

from firmware import hal, tic_reader, unload
from firmware.version import VERSION
from log import getLogger

TRIAL_S = 120  # a trial boot has this long to become healthy

log = getLogger("ota")


def note_rollback(what):
    log.warning("%s; running %s", what, VERSION)
    from firmware import crashlog

    e = crashlog.note("rollback: " + what)
    unload("firmware.crashlog")
    return e


def healthy(app):
    """(ok, what is missing)."""
    r = app.reader
    if app.frames == 0 and r.state != tic_reader.NO_SIGNAL:
        return False, "no TIC frame parsed"
    m = app.mqtt
    if m is not None and (m.client is None or not m.client.is_connected()):
        return False, "MQTT not connected"
    return True, ""


async def run(app, firmware):
    bound = int(hal.setting("OTA_TRIAL_S", TRIAL_S))
    st = app.ota_status
    log.info("trial boot of %s: marked good once healthy, within %d s", VERSION, bound)
    t = 0
    what = ""
    while t < bound:
        await asyncio.sleep(1)
        t += 1
        ok, what = healthy(app)
        if ok:
            from firmware import slots

            slots.mark_good()
            unload("firmware.slots")
            if firmware:
                fw_valid()
            st["state"] = "idle"
            log.info("trial boot: %s healthy after %d s, marked good", VERSION, t)
            return
    why = "not healthy within %d s (%s)" % (bound, what)
    log.error("trial boot: %s %s: resetting, the next boot rolls back", VERSION, why)
    from firmware import slots

    p = slots.read()
    if p is not None:
        p["why"] = why
        slots.write(p)
    app.stop("reset")


def fw_valid():
    try:
        from firmware import ota_fw
    except ImportError:
        log.warning("no firmware OTA in this build: MicroPython image not marked valid")
        return
    ota_fw.mark_valid()
    unload("firmware.ota_fw", "firmware.hal.flash", "firmware.hal.flash_esp32",
           "firmware.hal.flash_host", "firmware.hal.otadata")  # fmt: skip
