"""An application update's task, started by firmware/ota_boot.py start(), which drops this
module: the task keeps it (and only it) while it runs.

    await run(app, url, force)   waits for a running discovery round, makes room (MQTT off:
        firmware/ota_run.py, loaded per call), then firmware/ota.py from_url() (loaded only
        now, after the room is made); a reset when the new version is switched to, else MQTT
        on again (give_back). Never raises; out of memory is a refused update.
Cost: this module (~0.6 KB on 32 bits) while an update runs. docs/design/ota.md §6.2.
"""

from firmware import unload


def _room():
    from firmware import ota_run

    unload("firmware.ota_run")
    return ota_run


async def run(app, url, force):
    ok = stopped = False
    try:
        stopped = await _room().make_room(app)
        from firmware import ota

        co = ota.from_url(app, url, force)
        ota = None  # the coroutine keeps what it needs; a done task's frame keeps its locals
        ok = await co
    except MemoryError as e:  # not even the update's code fits: say so, keep running
        st = app.ota_status
        st["state"] = "failed"
        st["error"] = "out of memory: %s" % e
        from log import getLogger

        getLogger("ota").error("update not run: out of memory (%s)", e)
    finally:
        co = None  # its frame (the buffers) goes before MQTT comes back
        unload(
            "firmware.ota",
            "firmware.ota_check",
            "firmware.ota_http",
            "ota_sig",
            "ota_manifest",
            "ota_entries",
            "ota_head",
            "firmware.ota_copy",
            "ed25519",
            "sha512",
        )
        if not ok:
            _room().give_back(app, stopped)
    if ok:
        app.stop("reset")
