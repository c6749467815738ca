"""The web server's two OTA entry points (loaded by firmware/web.py when asked, then dropped).

Contract (docs/design/web-api.md; the caller does the authentication and CSRF checks):
  start(app, url, force) -> (status, dict)   POST /api/ota: 202 {"ok": true} once the update
        task runs (progress in app.ota_status), or 409 {"error"} when one is running or the
        running version is on trial.
  await upload(app, req) -> (status, dict)   POST /api/ota/upload: req.length, await
        req.readinto(buf) -> n (0 at the body's end); streams a release.bin through
        firmware/ota.py. 200 {"ok": true, "restart": true}, then the device resets RESET_MS
        later (the answer goes out first); 400 {"error"} (nothing changed) or 409 (busy).
        ota_run.make_room() first: MQTT goes on when the heap has room (stopped otherwise,
        and started again when the upload is refused), and other connections get 503 with
        the update's status until it ends.
  await install_upload(app, req, force=False) -> bool   the upload's work without the
        answer nor the reset: the release.bin (b"LKR1", manifest length on 4 bytes big-endian,
        manifest, files in manifest order, MicroPython image) through firmware/ota.py.
Cost: firmware/ota.py and the manifest check are loaded for an upload and dropped after.
"""

import asyncio
import struct

from firmware import unload

RESET_MS = 1500
MAGIC = b"LKR1"  # release.bin: MAGIC, manifest length (4 bytes, big-endian), manifest, files


def start(app, url=None, force=False):
    err = _boot().start(app, url or None, bool(force))  # the task keeps what it uses
    if err:
        return 409, {"error": err}
    return 202, {"ok": True}


async def upload(app, req):
    err = _boot().busy(app)  # not held through the upload
    if err:
        return 409, {"error": err}
    ok = stopped = False
    try:
        app.ota_status["state"] = "checking"  # busy: the publisher starts no discovery round
        stopped = await _room().make_room(app)  # after a round; MQTT off if no room
        ok = await install_upload(app, req)
    except MemoryError as e:
        app.ota_status["state"] = "failed"
        app.ota_status["error"] = "out of memory: %s" % e
    finally:
        unload(
            "firmware.ota",
            "firmware.ota_check",
            "ota_sig",
            "ota_manifest",
            "ota_head",
            "ota_entries",
        )
        unload("firmware.ota_copy", "ed25519", "sha512")
        if not ok:
            _room().give_back(app, stopped)  # the web server, MQTT if stopped
    if not ok:
        return 400, {"error": app.ota_status["error"]}
    app.add_task("ota-reset", _reset_later(app))
    return 200, {"ok": True, "restart": True}


def _boot():
    """firmware/ota_boot.py, loaded for a call and dropped right after."""
    from firmware import ota_boot

    unload("firmware.ota_boot")
    return ota_boot


def _room():
    """firmware/ota_run.py (MQTT off for the update, and on again), loaded for a call."""
    from firmware import ota_run

    unload("firmware.ota_run")
    return ota_run


async def _reset_later(app):
    await asyncio.sleep(RESET_MS / 1000)
    app.stop("reset")


class _Upload:
    """The request body as the source of every file in turn (a close() does nothing)."""

    def __init__(self, req):
        self.req = req
        self.left = req.length

    async def readinto(self, mv):
        n = await self.req.readinto(mv)
        self.left -= n
        return n

    async def exactly(self, mv):
        got = 0
        while got < len(mv):
            n = await self.readinto(mv[got:])
            if not n:
                raise ValueError("release file truncated")
            got += n

    def close(self):
        pass


async def install_upload(app, req, force=False):
    """Install the release.bin of request body `req` (firmware/ota.py does the work): True
    when switched (the caller resets); never raises (a refusal: app.ota_status, the log)."""
    from firmware import ota

    ota._folder().begin(app)
    folder = None
    try:
        body = _Upload(req)
        mv = memoryview(bytearray(ota.BUF_SIZE))
        head = mv[:8]
        await body.exactly(head)
        if bytes(head[:4]) != MAGIC:
            raise ota.OtaError("not a release file (tools/ota.py build writes release.bin)")
        n = struct.unpack(">I", head[4:8])[0]
        if n > ota.MANIFEST_MAX:
            raise ota.OtaError(
                "release file: manifest of %d bytes, at most %d" % (n, ota.MANIFEST_MAX)
            )
        folder = ota._folder().target()
        m = await ota.check(app, body, n, folder, mv, force=force)
        app.ota_status["available"] = m["version"]
        await ota.image_room(app, m)
        if body.left != m["total"]:
            raise ota.OtaError(
                "release file: %d bytes after the manifest, %d expected" % (body.left, m["total"])
            )

        async def open_file(f):
            return body

        await ota.install(app, m, folder, open_file, mv)
        ota._folder().switch(app, m, folder)
        return True
    except Exception as e:  # noqa: BLE001 (a refusal of any kind: reported, nothing changes)
        unload("firmware.ota_copy")
        ota._folder().failed(app, e, folder)
        return False
    finally:
        unload("ota_sig", "ota_manifest", "ota_head", "ota_entries", "ed25519", "sha512")
