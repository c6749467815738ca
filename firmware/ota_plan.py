"""The download's plan: loaded by firmware/ota_check.py once the signature is checked.

Contract: plan(folder, force) -> the checked manifest head of folder/MANIFEST, with "count"
and "total"; writes folder/PLAN for firmware/ota_copy.py; OtaError if refused. On the linky
image (firmware/slots.py frozen()) a release that carries a MicroPython image gets "code"
False: its code files (.py, .mpy) are left out of the folder, the new image has them frozen
(docs/design/ota.md §8); one without an image installs its code, with a warning.
"""

from firmware import unload
from firmware.ota import BOARD, MANIFEST, PLAN, OtaError, log
from firmware.version import VERSION


def plan(folder, force):
    """The checked manifest head of folder/MANIFEST (signature already verified), with
    "count" and "total" (bytes of every file and the image: what an upload carries) and maybe
    "code" False (the code files are read past); the file list written to folder/PLAN, a
    line per file, "<size> <sha256 hex> <path>" (paths are checked: no spaces), for
    firmware/ota_copy.py; OtaError if it is refused."""
    import ota_entries
    import ota_head

    try:
        with open(folder + "/" + MANIFEST, "rb") as f, open(folder + "/" + PLAN, "wb") as out:
            it = ota_entries.Entries(f, bytearray(128))
            count = total = 0
            while True:
                e = it.next()
                if e is None:
                    break
                p = e["path"]
                if p in (MANIFEST, PLAN):
                    raise OtaError("manifest lists a file named %s" % p)
                out.write(("%d %s %s\n" % (e["size"], e["sha256"], p)).encode())
                count += 1
                total += e["size"]
            m = ota_head.check_head(it.head(), BOARD, VERSION, force=force, files=False)
    except ota_entries.ManifestError as e:
        raise OtaError(str(e))
    if not count:
        raise OtaError("manifest has no file list")
    fw = m.get("firmware")
    from firmware import slots

    if slots.frozen():  # the linky image: code in flash, not in the heap
        if fw:
            m["code"] = False
            log.info("the image carries the code: only data files go into %s", folder)
        else:
            log.warning("release without a MicroPython image: its code goes into %s and runs "
                        "from the heap, not from the image", folder)  # fmt: skip
    unload("firmware.slots")
    m["count"] = count
    m["total"] = total + (fw["size"] if fw else 0)
    return m
