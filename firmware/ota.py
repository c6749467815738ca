"""An application update: check a signed release, stream it into the inactive folder, switch.

Loaded for one update by firmware/ota_task.py (the update's task, after it has stopped
MQTT) or firmware/ota_web.py and dropped after.
Contract (docs/design/ota.md):
  await from_url(app, url, force) -> bool   fetch <url>/manifest.json, check it, download each
        file from <url>/<version>/<path>; True when the new folder is switched to (the caller
        resets). `url`: the setting ota_url when None.
  (firmware/ota_web.py's install_upload does the same from a release.bin upload with
  check() and install() here and firmware/ota_folder.py's begin, target, switch, failed.)
Both never raise: a refusal or a failure leaves the running version and the pointer untouched,
wipes the partial folder, logs one line and sets app.ota_status["state"] = "failed" (or
"current": nothing newer) and ["error"]. Progress goes to app.ota_status["progress"] (0-100).
Steps: check (firmware/ota_check.py, loaded for it and dropped after: the manifest streamed
into <folder>/manifest.json and hashed, its Ed25519 signature checked with the setting
ota_key, else firmware/ota_key.py's KEY, each entry checked, then board BOARD, MicroPython,
newer than the running version unless `force`; the file list written to <folder>/PLAN),
install (firmware/ota_copy.py, loaded after the check: each file of PLAN streamed through ONE
buffer of BUF_SIZE bytes, its SHA-256 computed as it is written; a MicroPython image,
"firmware" entry, through firmware/ota_fw.py when the build has it; on the linky image, a
release with an image installs only its data files: ota_plan.py), switch (the pointer, in
trial). The steps around the download (start, folder, switch, refusal) are
firmware/ota_folder.py, loaded per call.
Cost (32-bit, docs/design/ota.md §6): this module ~2 KB and one buffer of BUF_SIZE bytes (each
answer's headers, then its body); the check adds ~10 KB for its duration, the download
ota_http and ota_copy (~4 KB). The file list is never held in RAM. The loop runs between
chunks, so the TIC reader and MQTT go on (firmware/ota_run.py stops MQTT first only when the
heap has no room for both).
"""

import os

from firmware import unload
from log import getLogger

BOARD = "esp32"  # the board family releases name (the simulator runs the ESP32's image)
# The one buffer of an update: each HTTP answer's status line and headers must fit in it,
# then its body goes through it. Half a TCP segment: the update holds it with MQTT running.
BUF_SIZE = 512
TIMEOUT_MS = 15000  # a server silent this long is given up on
MANIFEST_MAX = 32768

log = getLogger("ota")


class OtaError(Exception):
    pass


MANIFEST = "manifest.json"  # the release's manifest, kept in its folder


async def check(app, src, n, folder, mv, *, force=False):
    """Receive, verify and plan (firmware/ota_check.py, loaded for it and dropped with the
    manifest and signature code): the planned manifest head; OtaError if refused. Closes
    `src` once the manifest is in."""
    from firmware import ota_check

    try:
        return await ota_check.check(app, src, n, folder, mv, force=force)
    finally:
        unload("firmware.ota_check", "ota_sig", "ota_manifest", "ed25519", "sha512")


def _isdir(p):
    try:
        return os.stat(p)[0] & 0x4000 != 0
    except OSError:
        return False


PLAN = ".plan"  # the files to download, written by the check (firmware/ota_check.py plan())


async def install(app, m, folder, open_file, mv):
    """Write the files of the planned manifest `m` (ota_check.plan()) into `folder`, from
    folder/PLAN; open_file({"path", "size"[, "skip"]}) -> awaitable source (readinto, close;
    None: a skipped file not fetched); then the MicroPython image if any.
    firmware/ota_copy.py does it, loaded for the call."""
    from firmware import ota_copy

    try:
        await ota_copy.install(app, m, folder, open_file, mv)
    finally:
        ota_copy = None
        unload("firmware.ota_copy")


# -- from a server


async def _get(url, buf, size=None):
    """GET url (firmware/ota_http.py) as a source; its status line and headers must fit in
    `buf` (a writable buffer), which the caller may use again once this returns."""
    from firmware import ota_http

    try:
        r = await ota_http.get(url, buf, TIMEOUT_MS)
    except ota_http.HttpError as e:
        raise OtaError("%s: %s" % (url, e))
    if r.status != 200:
        r.close()
        raise OtaError("%s: HTTP status %d" % (url, r.status))
    if size is not None and r.length is not None and r.length != size:
        r.close()
        raise OtaError("%s: %d bytes on the server, %d in the manifest" % (url, r.length, size))
    return r  # a source: readinto, close (and length)


async def image_room(app, m):
    """When the release `m` carries a MicroPython image, firmware/ota_run.py make_room() again
    with the image writer's need: MQTT stopped unless the heap has room for it too."""
    if m.get("firmware"):
        from firmware import ota_run

        unload("firmware.ota_run")
        await ota_run.make_room(app, None, True)


def _folder():
    """firmware/ota_folder.py (start, folder, switch, refusal), loaded for a call and dropped
    right after (`unload`): the download holds none of it."""
    from firmware import ota_folder

    unload("firmware.ota_folder")
    return ota_folder


async def from_url(app, url=None, force=False):
    _folder().begin(app)
    folder = None
    try:
        base = (url or app.settings["ota_url"] or "").rstrip("/")
        if not base:
            raise OtaError("no update URL: set ota_url")
        folder = _folder().target()
        mv = memoryview(bytearray(BUF_SIZE))  # each answer's headers, then its body
        src = await _get(base + "/" + MANIFEST, mv)
        try:
            n = src.length
            if n is None:
                raise OtaError("manifest: the server sent no Content-Length")
            m = await check(app, src, n, folder, mv, force=force)
        finally:
            src.close()
        app.ota_status["available"] = m["version"]
        log.info("release %s found at %s", m["version"], base)
        await image_room(app, m)
        vbase = base + "/" + m["version"] + "/"

        async def open_file(f):  # after the previous file: the buffer is free for the headers
            if "skip" not in f:  # a code file the image carries (ota_copy.py): not fetched
                return await _get(vbase + f["path"], mv, f["size"])

        await install(app, m, folder, open_file, mv)
        _folder().switch(app, m, folder)
        return True
    except Exception as e:  # noqa: BLE001 (a refusal of any kind: reported, nothing changes)
        unload("firmware.ota_http", "firmware.ota_copy")
        _folder().failed(app, e, folder)
        return False
    finally:
        unload(
            "firmware.ota_http",
            "ota_sig",
            "ota_manifest",
            "ota_head",
            "ota_entries",
            "ed25519",
            "sha512",
        )
