"""The download half of an update: stream every planned file into the new folder.

Loaded by firmware/ota.py's install() after the check (firmware/ota_check.py, dropped by then)
and dropped after, so the signature check, the update's peak, holds none of this code.
Contract:
  await install(app, m, folder, open_file, mv)   m: the planned manifest head (ota_check.plan);
        the files come from folder/PLAN, one line each, "<size> <sha256 hex> <path>", written
        by the check from the verified manifest; open_file({"path", "size"}) -> awaitable
        source (readinto, close); each file streamed through the one buffer `mv`, its SHA-256
        computed as it is written; then the MicroPython image (m["firmware"]) if any. PLAN is
        removed once every file is in. OtaError (firmware/ota.py) when a file is short or does
        not match. m["code"] False (the linky image, firmware/ota_plan.py): the code files
        (.py, .mpy) are not written; open_file gets them with "skip" set and returns None
        (a server: not fetched) or the source to read past (an upload: hash still checked).
Cost (32-bit): this module ~1.5 KB, one line and one entry dict per file; no JSON parser.
"""

import binascii
import hashlib
import os

from firmware.ota import PLAN, OtaError, _isdir, log

try:
    from asyncio import sleep_ms as _sleep_ms

    def _yield():
        return _sleep_ms(0)
except ImportError:  # CPython
    from asyncio import sleep as _sleep

    def _yield():
        return _sleep(0)


def _mkdirs(path):
    at = 0
    while True:
        at = path.find("/", at + 1)
        if at < 0:
            return
        d = path[:at]
        if not _isdir(d):
            os.mkdir(d)


class Copier:
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
            await _yield()  # the TIC reader and MQTT run between chunks


async def install(app, m, folder, open_file, mv):
    cp = Copier(app, m["total"], mv)
    app.ota_status["state"] = "downloading"
    log.info("installing %s into %s (%d files, %d bytes)", m["version"], folder, m["count"],
             m["total"])  # fmt: skip
    plan = folder + "/" + PLAN
    code = m.get("code", True)
    with open(plan, "rb") as pf:
        for line in pf:
            size, digest, path = line.rstrip(b"\n").split(b" ", 2)
            p = path.decode()
            f = {"path": p, "size": int(size)}
            line = size = path = None
            if not code and (p[-3:] == ".py" or p[-4:] == ".mpy"):
                f["skip"] = True  # the new image has it frozen
            h = hashlib.sha256()
            src = await open_file(f)
            if src is None:  # skipped, not fetched
                cp.done += f["size"]
                continue
            try:
                if "skip" in f:
                    await cp.copy(src, f["size"], _drop, h, p)
                else:
                    _mkdirs(folder + "/" + p)
                    with open(folder + "/" + p, "wb") as out:
                        await cp.copy(src, f["size"], out.write, h, p)
            finally:
                src.close()
            if binascii.hexlify(h.digest()) != digest:
                raise OtaError("%s: SHA-256 does not match the manifest" % p)
    os.remove(plan)
    fw = m.get("firmware")
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
