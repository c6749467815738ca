"""OTA at run time, the resident part: status, triggers, the trial boot's health check.

Contract:
  build(app)  sets app.ota_status ({"state", "progress", "error", "version", ...}, shown by
              /api/state under "ota"), reports a rollback of the boot before (log, crash record,
              status), adds the MQTT commands `ota` and `ota force`, the periodic check when
              ota_check_h > 0 and ota_url is set, and on a trial boot the health task: the new
              version is marked good (firmware/slots.py; also ota_fw.mark_valid() when the
              release carried a MicroPython image) once TIC frames are parsed (or the TIC is
              known absent) and MQTT is connected when configured, within TRIAL_S; otherwise it
              logs, notes why in the pointer and resets, and the next boot rolls back.
  start(app, url=None, force=False) -> error or None  starts an update task (firmware/ota.py,
              loaded for it and dropped after); an error string when one is running or during
              a trial boot.
  busy(app) -> error or None   why an update cannot start now.
Cost: this module, a small dict and, on a trial boot only, one task; firmware/ota.py and the
manifest code are loaded only during an update.
"""

import asyncio

from firmware import hal, tic_reader, unload
from firmware.version import VERSION
from log import getLogger

TRIAL_S = 120  # a trial boot has this long to become healthy
_BUSY = ("checking", "downloading", "restarting")

log = getLogger("ota")


def build(app):
    from firmware import slots

    st = app.ota_status = {"state": "idle", "progress": 0, "error": None, "version": VERSION}
    p = slots.read()
    if p:
        rb = p.get("rollback")
        if isinstance(rb, dict):
            st["rollback"] = "%s rolled back: %s" % (rb.get("from"), rb.get("why"))
            if not rb.get("noted"):
                _note_rollback(st["rollback"])
                rb["noted"] = True
                slots.write(p)
        run = slots.running()
        if p.get("trial") and run is not None and p.get("active") == run:
            st["state"] = "trial"
            app.add_task("ota-trial", _trial(app, bool(p.get("firmware"))))
    unload("firmware.slots")
    app.commands[b"ota"] = start
    app.commands[b"ota force"] = _force
    if hal.PLATFORM == "host" and hal.setting("OTA_NOW") and p is None:
        start(app, None, hal.setting("OTA_NOW") == "force")  # simulator hook: first boot only
    h = app.settings["ota_check_h"]
    if h > 0 and app.settings["ota_url"]:
        app.add_task("ota-check", _periodic(app, h))


def _note_rollback(what):
    log.warning("%s; running %s", what, VERSION)
    from firmware import crashlog

    crashlog.note("rollback: " + what)
    unload("firmware.crashlog")


def busy(app):
    state = app.ota_status["state"]
    if state in _BUSY:
        return "an update is already running (%s)" % state
    if state == "trial":
        return "this version is on trial: updates wait until it is marked good"
    return None


def start(app, url=None, force=False):
    err = busy(app)
    if err:
        log.warning("update not started: %s", err)
        return err
    app.ota_status["state"] = "checking"
    app.add_task("ota", _update(app, url, force))
    return None


def _force(app):
    start(app, None, True)


async def _update(app, url, force):
    ok = False
    try:
        from firmware import ota

        ok = await ota.from_url(app, url, force)
    except MemoryError as e:  # not even the update's code fits: say so, keep running
        st = app.ota_status
        st["state"] = "failed"
        st["error"] = "out of memory: %s" % e
        log.error("update not run: out of memory (%s)", e)
    finally:
        unload("firmware.ota", "firmware.ota_http", "ota_manifest", "ed25519", "sha512")
    if ok:
        app.stop("reset")


async def _periodic(app, hours):
    while True:
        await asyncio.sleep(hours * 3600)
        start(app)


def healthy(app):
    """(ok, what is missing)."""
    r = app.reader
    if app.frames == 0 and r.state != tic_reader.NO_SIGNAL:
        return False, "no TIC frame parsed"
    m = app.mqtt
    if m is not None and (m.client is None or not m.client.is_connected()):
        return False, "MQTT not connected"
    return True, ""


async def _trial(app, firmware):
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
                _fw_valid()
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


def _fw_valid():
    try:
        from firmware import ota_fw
    except ImportError:
        log.warning("no firmware OTA in this build: MicroPython image not marked valid")
        return
    ota_fw.mark_valid()
    unload("firmware.ota_fw", "firmware.hal.flash", "firmware.hal.flash_esp32",
           "firmware.hal.flash_host", "firmware.hal.otadata")  # fmt: skip
