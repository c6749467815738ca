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
newer than the running version unless `force`), install (lib/ota_entries.py reads the
entries again from flash; each file streamed through ONE buffer of BUF_SIZE bytes, its SHA-256
computed as it is written; a MicroPython image, "firmware" entry, through firmware/ota_fw.py
when the build has it), switch (the pointer, in trial). The steps around the download
(start, folder, switch, refusal) are firmware/ota_folder.py, loaded per call.
Cost (32-bit, docs/design/ota.md §6): this module ~5 KB, BUF_SIZE + 128 bytes of buffers
(one buffer takes each answer's headers, then its body); the check adds ~13 KB for its
duration, the download ota_http and ota_entries (~5.5 KB). The file list is never held in
RAM. The loop runs between chunks, so the TIC reader goes on (MQTT is stopped for the update:
firmware/ota_run.py).
"""

import asyncio
import binascii
import hashlib
import os

from firmware import unload
from log import getLogger

BOARD = "esp32"  # the board family releases name (the simulator runs the ESP32's image)
BUF_SIZE = 1024  # about one TCP segment: a socket read rarely gives more
HEAD_SIZE = 512  # an HTTP answer's status line and headers must fit (read into the buffer)
TIMEOUT_MS = 15000  # a server silent this long is given up on
MANIFEST_MAX = 32768

log = getLogger("ota")

try:
    _yield = asyncio.sleep_ms
except AttributeError:  # CPython

    def _yield(ms):
        return asyncio.sleep(ms / 1000)


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


def _mkdirs(path):
    at = 0
    while True:
        at = path.find("/", at + 1)
        if at < 0:
            return
        d = path[:at]
        if not _isdir(d):
            os.mkdir(d)


class _Copier:
    """Streams through the one buffer `mv`, keeping app.ota_status["progress"]."""

    def __init__(self, app, total, mv):
        self.st = app.ota_status
        self.total = max(1, total)
        self.done = 0
        self.mv = mv

    async def copy(self, src, size, sink, h, what):
        """Move `size` bytes from src.readinto to sink(chunk) and hash h; OtaError if short."""
        mv = self.mv
        n = 0
        step = len(mv)
        while n < size:
            try:
                k = await src.readinto(mv if size - n >= step else mv[: size - n])
            except (OSError, ValueError) as e:  # HttpError is a ValueError: a stall, a drop
                raise OtaError("%s: %s after %d of %d bytes" % (what, e, n, size))
            if not k:
                raise OtaError("%s: truncated, %d of %d bytes received" % (what, n, size))
            part = mv[:k] if k < step else mv
            sink(part)
            h.update(part)
            n += k
            self.done += k
            self.st["progress"] = self.done * 100 // self.total
            await _yield(0)  # the TIC reader and MQTT run between chunks


def _same(h, hexdigest):
    return binascii.hexlify(h.digest()).decode() == hexdigest


async def install(app, m, folder, open_file, mv):
    """Write the files of the planned manifest `m` (plan()) into `folder`, entry by entry from
    folder/MANIFEST; open_file(entry) -> awaitable source (readinto, close); then the
    MicroPython image if any."""
    import ota_entries

    fw = m.get("firmware")
    cp = _Copier(app, m["total"], mv)
    app.ota_status["state"] = "downloading"
    log.info("installing %s into %s (%d files, %d bytes)", m["version"], folder, m["count"],
             m["total"])  # fmt: skip
    with open(folder + "/" + MANIFEST, "rb") as mf:
        it = ota_entries.Entries(mf, bytearray(128))
        while True:
            f = it.next()
            if f is None:
                break
            path = folder + "/" + f["path"]
            _mkdirs(path)
            h = hashlib.sha256()
            src = await open_file(f)
            try:
                with open(path, "wb") as out:
                    await cp.copy(src, f["size"], out.write, h, f["path"])
            finally:
                src.close()
            if not _same(h, f["sha256"]):
                raise OtaError("%s: SHA-256 does not match the manifest" % f["path"])
    if fw:
        await _firmware(fw, open_file, cp)


async def _firmware(fw, open_file, cp):
    try:
        from firmware import ota_fw  # its receive() unloads it
    except ImportError:  # read past it (an upload's body goes on after it)
        log.warning("release has a MicroPython image: skipped, no firmware OTA in this build")
        src = await open_file(fw)
        try:
            await cp.copy(src, fw["size"], _drop, hashlib.sha256(), "firmware")
        finally:
            src.close()
        return
    await ota_fw.receive(fw, open_file, cp)


def _drop(_mv):
    pass


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
        mv = memoryview(bytearray(BUF_SIZE))  # each answer's headers, then its body
        head = mv[:HEAD_SIZE]  # body bytes read with the headers are copied: at most this
        folder = _folder().target()
        src = await _get(base + "/" + MANIFEST, head)
        try:
            n = src.length
            if n is None:
                raise OtaError("manifest: the server sent no Content-Length")
            m = await check(app, src, n, folder, mv, force=force)
        finally:
            src.close()
        app.ota_status["available"] = m["version"]
        log.info("release %s found at %s", m["version"], base)
        vbase = base + "/" + m["version"] + "/"

        def open_file(f):  # after the previous file: the buffer is free for the headers
            return _get(vbase + f["path"], head, f["size"])

        await install(app, m, folder, open_file, mv)
        _folder().switch(app, m, folder)
        return True
    except Exception as e:  # noqa: BLE001 (a refusal of any kind: reported, nothing changes)
        unload("firmware.ota_http", "ota_entries")
        _folder().failed(app, e, folder)
        return False
    finally:
        unload("firmware.ota_http", "ota_sig", "ota_manifest", "ota_entries", "ed25519", "sha512")
