"""The check half of an update: receive the manifest, verify its signature, plan the download.

Loaded by firmware/ota.py's check() for that step and dropped with what it loads before the
first file is fetched, so the download holds none of it. The manifest is received by
firmware/ota_recv.py and the download planned by firmware/ota_plan.py, each loaded for its
call: the signature check, the update's peak, holds only this module, lib/ota_sig.py,
ed25519.py and sha512.py. Contract: await check(app, src, n, folder, mv, force=) -> the
planned manifest head (dict with "version", "count", "total", maybe "firmware"); OtaError if
refused.
Steps and costs: docs/design/ota.md §3 and §6.
"""

from firmware import unload
from firmware.ota import OtaError


async def check(app, src, n, folder, mv, *, force=False):
    """Stream the manifest's `n` bytes from `src` into folder/MANIFEST (the folder wiped
    first; firmware/ota_recv.py), close `src`, check the signature, then plan
    (firmware/ota_plan.py). OtaError when refused."""
    from firmware import ota_recv

    try:
        chk = await ota_recv.receive_manifest(src, n, folder, mv)
    finally:
        ota_recv = None
        unload("firmware.ota_recv")
    src.close()
    unload("firmware.ota_http")  # not needed during the signature check, the heap's peak
    try:  # the key and the signature field: ota_sig and the Stream go before the heavy check
        key, msg, sig = chk.signed(_key(app))
    except ValueError as e:  # ManifestError
        raise OtaError(str(e))
    finally:
        chk = None
        unload("ota_sig")
    verify(key, msg, sig)
    from firmware import ota_plan

    try:
        return ota_plan.plan(folder, force)
    finally:
        ota_plan = None
        unload("firmware.ota_plan", "ota_manifest", "ota_head", "ota_entries", "ota_sig")


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


def verify(key, msg, sig):
    """The Ed25519 check of the manifest's signature (the update's peak): OtaError if it is
    not right. ed25519 and sha512 are loaded for it and dropped after."""
    import ed25519

    try:
        ok = ed25519.verify(key, msg, sig)
    finally:
        ed25519 = None
        unload("ed25519", "sha512")
    if not ok:
        raise OtaError("manifest signature is not valid for the configured public key")
