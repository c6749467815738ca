"""The check half of an update: receive the manifest, verify its signature, plan the download.

Loaded by firmware/ota.py's check() for that step and dropped with what it loads
(lib/ota_sig.py, ota_manifest.py, ed25519.py, sha512.py) before the first file is fetched, so the
download holds none of it. Contract: await check(app, src, n, folder, mv, force=) -> the
planned manifest head (dict with "version", "count", "total", maybe "firmware"); OtaError if
refused.
Steps and costs: docs/design/ota.md §3 and §6.
"""

import os

from firmware import unload
from firmware.ota import BOARD, MANIFEST, OtaError, _folder
from firmware.version import VERSION


async def check(app, src, n, folder, mv, *, force=False):
    """Stream the manifest's `n` bytes from `src` into folder/MANIFEST (the folder wiped
    first), close `src`, check the signature, then plan(). OtaError when refused."""
    chk = await receive_manifest(app, src, n, folder, mv)
    src.close()
    unload("firmware.ota_http")  # not needed during the signature check, the heap's peak
    verify(app, chk)
    del chk
    return plan(folder, force)


def _key(app):
    k = app.settings.get("ota_key") or ""
    if not k:
        try:
            from firmware import ota_key

            k = ota_key.KEY
            unload("firmware.ota_key")
        except ImportError:
            k = ""
    if not k:
        raise OtaError("no public key: set ota_key (64 hex digits)")
    return k


async def receive_manifest(app, src, n, folder, mv):
    """Stream the manifest's `n` bytes from src.readinto into folder/MANIFEST (the folder
    wiped first); the ota_sig.Stream that hashed it, for verify(). OtaError if cut."""
    import ota_sig

    try:
        chk = ota_sig.Stream(n)
        f = _folder()
        f.claim(folder)
        f.wipe(folder)
        f = None
        os.mkdir(folder)
        with open(folder + "/" + MANIFEST, "wb") as out:
            got = 0
            while got < n:
                try:
                    k = await src.readinto(mv if n - got >= len(mv) else mv[: n - got])
                except (OSError, ValueError) as e:  # a stall (HttpError) or a drop
                    raise OtaError("manifest: %s after %d of %d bytes" % (e, got, n))
                if not k:
                    raise OtaError("manifest truncated: %d of %d bytes" % (got, n))
                part = mv[:k]
                chk.update(part)
                out.write(part)
                got += k
    except ValueError as e:  # ManifestError (its class is not loaded until one is raised)
        raise OtaError(str(e))
    return chk


def verify(app, chk):
    """Check the signature of the manifest `chk` (receive_manifest()) received: OtaError if it
    is not right. ed25519 and sha512 are loaded for it and dropped after."""
    try:
        chk.verify(_key(app))
    except ValueError as e:  # ManifestError
        raise OtaError(str(e))
    finally:
        unload("ed25519", "sha512", "ota_sig")


def plan(folder, force):
    """The checked manifest head of folder/MANIFEST (signature already verified), with
    "count" and "total" (bytes to receive); OtaError if it is refused."""
    import ota_manifest

    try:
        with open(folder + "/" + MANIFEST, "rb") as f:
            it = ota_manifest.Entries(f, bytearray(128))
            count = total = 0
            while True:
                e = it.next()
                if e is None:
                    break
                if e["path"] == MANIFEST:
                    raise OtaError("manifest lists a file named %s" % MANIFEST)
                count += 1
                total += e["size"]
            m = ota_manifest.check_head(it.head(), BOARD, VERSION, force=force, files=False)
    except ota_manifest.ManifestError as e:
        raise OtaError(str(e))
    finally:
        unload("ota_manifest")  # the download needs only ota_entries
    if not count:
        raise OtaError("manifest has no file list")
    fw = m.get("firmware")
    m["count"] = count
    m["total"] = total + (fw["size"] if fw else 0)
    return m
