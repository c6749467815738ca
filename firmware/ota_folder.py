"""The steps of an update around its download: the status at its start, the folder it writes,
the switch to it, a refusal. Loaded by firmware/ota.py (`ota._folder()`) for each call and
dropped right after, so that the download holds none of it (docs/design/ota.md §6.1).

Contract (the folder and pointer: firmware/slots.py, loaded per call too):
  begin(app)             app.ota_status "checking", progress 0, no error; a collection
  target() -> folder     the inactive app folder; OtaError when both are in use
  claim(folder)          no pointer field names `folder` any more (before it is wiped)
  wipe(path)             remove the folder `path` and everything under it
  switch(app, m, folder) point at `folder` in trial; the caller resets
  failed(app, e, folder=None)   a refusal or an error: logged, app.ota_status "failed" (or
                         "current": nothing newer) with its "error"; the partial folder wiped
"""

import os

from firmware import unload
from firmware.ota import OtaError, _isdir, log
from firmware.version import VERSION


def _slots():
    """firmware/slots.py, loaded when needed (3 KB), dropped by the caller."""
    from firmware import slots

    return slots


def begin(app):
    import gc

    st = app.ota_status
    st["state"] = "checking"
    st["progress"] = 0
    st["error"] = None
    gc.collect()
    log.info("update: mem used %d, free %d", gc.mem_alloc(), gc.mem_free())


def target():
    slots = _slots()
    folder = slots.inactive(slots.read())
    unload("firmware.slots")
    if folder is None:
        raise OtaError("both app folders are in use: restart before another update")
    return folder


def claim(folder):
    """Make sure no pointer field names `folder` before it is wiped: a rollback target that is
    being overwritten becomes the factory image (always complete)."""
    slots = _slots()
    p = slots.read()
    if p is not None and p.get("previous") == folder:
        p["previous"] = None
        p["previous_version"] = None
        slots.write(p)
    unload("firmware.slots")


def wipe(path):
    """Remove the folder `path` and everything under it (missing: nothing to do)."""
    if not _isdir(path):
        return
    for name in os.listdir(path):
        p = path + "/" + name
        if _isdir(p):
            wipe(p)
        else:
            os.remove(p)
    os.rmdir(path)


def switch(app, m, folder):
    """Point at `folder` in trial (firmware/slots.py); the caller resets."""
    _slots().switch(folder, m["version"], VERSION, firmware=bool(m.get("firmware")))
    unload("firmware.slots")
    app.ota_status["state"] = "restarting"
    app.ota_status["progress"] = 100
    log.info("%s installed in %s: restarting into a trial boot", m["version"], folder)


def failed(app, e, folder=None):
    st = app.ota_status
    msg = str(e) or repr(e)
    if not isinstance(e, OtaError):  # not a refusal: a bug, or out of memory
        log.exception("update failed: %r", e, exc=e)
    if isinstance(e, OtaError) and "not newer" in msg:
        st["state"] = "current"
        log.info("no update: %s", msg)
    else:
        st["state"] = "failed"
        log.error("update refused: %s; %s keeps running", msg, VERSION)
    st["error"] = msg
    if folder is not None:
        try:
            claim(folder)
            wipe(folder)
        except OSError:
            pass
