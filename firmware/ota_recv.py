"""The manifest of an update, received: loaded by firmware/ota_check.py for the call.

Contract: await receive_manifest(src, n, folder, mv) -> the lib/ota_sig.py Stream that hashed
the manifest's `n` bytes, read from src.readinto through the buffer `mv` into folder/MANIFEST
(the folder wiped first); OtaError if cut or refused.
"""

import os

from firmware.ota import MANIFEST, OtaError, _folder


async def receive_manifest(src, n, folder, mv):
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
