"""The web server's two OTA entry points (loaded by firmware/web.py when asked, then dropped).

Contract (docs/design/web-api.md; the caller does the authentication and CSRF checks):
  start(app, url, force) -> (status, dict)   POST /api/ota: 202 {"ok": true} once the update
        task runs (progress in app.ota_status), or 409 {"error"} when one is running or the
        running version is on trial.
  await upload(app, req) -> (status, dict)   POST /api/ota/upload: req.length, await
        req.readinto(buf) -> n (0 at the body's end); streams a release.bin through
        firmware/ota.py. 200 {"ok": true, "restart": true}, then the device resets RESET_MS
        later (the answer goes out first); 400 {"error"} (nothing changed) or 409 (busy).
Cost: firmware/ota.py and the manifest check are loaded for an upload and dropped after.
"""

import asyncio

from firmware import ota_boot, unload

RESET_MS = 1500


def start(app, url=None, force=False):
    err = ota_boot.start(app, url or None, bool(force))
    if err:
        return 409, {"error": err}
    return 202, {"ok": True}


async def upload(app, req):
    err = ota_boot.busy(app)
    if err:
        return 409, {"error": err}
    try:
        from firmware import ota

        ok = await ota.from_upload(app, req)
    except MemoryError as e:
        app.ota_status["state"] = "failed"
        ok = False
        app.ota_status["error"] = "out of memory: %s" % e
    finally:
        unload("firmware.ota", "ota_manifest", "ed25519", "sha512")
    if not ok:
        return 400, {"error": app.ota_status["error"]}
    app.add_task("ota-reset", _reset_later(app))
    return 200, {"ok": True, "restart": True}


async def _reset_later(app):
    await asyncio.sleep(RESET_MS / 1000)
    app.stop("reset")
