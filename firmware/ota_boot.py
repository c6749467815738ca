"""OTA at run time: status, triggers, the trial boot's health check. Loaded on demand, never
resident: at boot (build), by the `ota` commands and the periodic check (firmware.lazy: loaded
for the call, dropped after), by firmware/ota_web.py. A running update's task keeps only
firmware/ota_task.py (and firmware/ota.py once it has made room).

Contract:
  build(app)  sets app.ota_status ({"state", "progress", "error", "version", ...}, shown by
              /api/state under "ota"), reports a rollback of the boot before (log, crash record,
              status), adds the MQTT commands `ota` and `ota force` (lazy callers of start and
              _force), the periodic check when ota_check_h > 0 and ota_url is set
              (firmware.every), and on a trial boot the health task of firmware/ota_trial.py
              (loaded only then). The caller drops this module after.
  start(app, url=None, force=False) -> error or None  starts an update task
              (firmware/ota_task.py, which loads firmware/ota.py once MQTT is stopped; both
              dropped after); an error string when one is running or during a trial boot.
  busy(app) -> error or None   why an update cannot start now.
Cost: resident, the status dict and two small closures (with ota_check_h, one task);
firmware/ota_trial.py only on a trial boot; this module (~2 KB on 32 bits) for a call;
firmware/ota.py and the manifest code only during an update.
"""

import os

from firmware import every, hal, lazy, unload
from firmware.version import VERSION
from log import getLogger

POINTER = "app.json"  # firmware/slots.py's POINTER (a test checks they agree)
_BUSY = ("checking", "downloading", "restarting")

log = getLogger("ota")


def build(app):
    st = app.ota_status = {"state": "idle", "progress": 0, "error": None, "version": VERSION}
    try:  # no pointer (an image deployed by cable, never updated): slots' code is not loaded
        os.stat(POINTER)
    except OSError:
        p = None
    else:
        from firmware import slots

        p = slots.read()
    if p:
        rb = p.get("rollback")
        if isinstance(rb, dict):
            st["rollback"] = "%s rolled back: %s" % (rb.get("from"), rb.get("why"))
            if not rb.get("noted"):
                from firmware import ota_trial

                # the newest entry: builder read crash.json before this note was added
                app.last_crash = ota_trial.note_rollback(st["rollback"])
                rb["noted"] = True
                slots.write(p)
        run = slots.running()
        if p.get("trial") and run is not None and p.get("active") == run:
            from firmware import ota_trial

            st["state"] = "trial"
            app.add_task("ota-trial", ota_trial.run(app, bool(p.get("firmware"))))
    unload("firmware.slots", "firmware.ota_trial")  # a running trial task keeps its module
    app.commands[b"ota"] = lazy("firmware.ota_boot", "start")
    app.commands[b"ota force"] = lazy("firmware.ota_boot", "_force")
    if hal.PLATFORM == "host" and hal.setting("OTA_NOW") and p is None:
        start(app, None, hal.setting("OTA_NOW") == "force")  # simulator hook: first boot only
    h = app.settings["ota_check_h"]
    if h > 0 and app.settings["ota_url"]:
        app.add_task("ota-check", every(h * 3600, lazy("firmware.ota_boot", "start"), app))


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
    from firmware import ota_task  # the task keeps it (not this module) while it runs

    unload("firmware.ota_task")
    app.add_task("ota", ota_task.run(app, url, force))
    return None


def _force(app):
    start(app, None, True)
