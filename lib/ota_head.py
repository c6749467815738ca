"""The checks of a release manifest's head (board, MicroPython, version), split from
lib/ota_manifest.py (which re-exports them) so that an update's plan loads only this and
lib/ota_entries.py, not the signature code.

    m = ota_head.check_head(m, board, running, force=False, micropython=None, files=True)
    ota_head.parse_version("1.2.0-rc1") -> a comparable key, or None
"""

import sys

from ota_entries import ManifestError, check_file


def check_head(m, board, running, *, force=False, micropython=None, files=True):
    """The checks of check() after the signature, on the parsed manifest `m` (its file list
    too unless `files` is False: Stream callers check each entry with check_file). Returns m
    without "sig"; ManifestError otherwise."""
    if not isinstance(m, dict):
        raise ManifestError("manifest is not a JSON object")
    m.pop("sig", None)
    version = _field(m, "version")
    mp_min = _field(m, "min_micropython")
    their_board = _field(m, "board")
    seen = set()
    if files:
        entries = m.get("files")
        if not isinstance(entries, list) or not entries:
            raise ManifestError("manifest has no file list")
        for f in entries:
            check_file(f, seen)
    fw = m.get("firmware")  # optional: a MicroPython image (firmware/ota_fw.py)
    if fw is not None:
        check_file(fw, seen)
    if their_board != board:
        raise ManifestError("release is for board %r, this is %r" % (their_board, board))
    need = parse_version(mp_min)
    have = micropython if micropython is not None else sys.implementation.version[:3]
    if need is None:
        raise ManifestError("manifest min_micropython %r is not a version" % mp_min)
    if tuple(have[:3]) < need[0]:
        raise ManifestError(
            "release needs MicroPython %s or later, this is %s"
            % (mp_min, ".".join(str(x) for x in have[:3]))
        )
    new = parse_version(version)
    if new is None:
        raise ManifestError("manifest version %r is not a version" % version)
    old = parse_version(running)
    if not force and old is not None and new <= old:
        raise ManifestError(
            "release %s is not newer than the running %s (force to install it)"
            % (version, running)
        )
    return m


def parse_version(v):
    """A comparable key for "X.Y.Z" (1 to 4 numbers) with an optional "-tag" (a pre-release:
    "1.2.0-rc1" < "1.2.0"; tags compare as text), or None when `v` is not such a string."""
    if not isinstance(v, str) or not v or len(v) > 40:
        return None
    tag = ""
    dash = v.find("-")
    if dash >= 0:
        v, tag = v[:dash], v[dash + 1 :]
        if not tag:
            return None
    parts = v.split(".")
    if len(parts) > 4:
        return None
    nums = []
    for p in parts:
        if not p or len(p) > 9 or not _digits(p):
            return None
        nums.append(int(p))
    while len(nums) < 3:
        nums.append(0)
    return (tuple(nums), 0 if tag else 1, tag)


def _digits(s):
    for c in s:
        if c < "0" or c > "9":
            return False
    return True


def _field(m, name):
    v = m.get(name)
    if not isinstance(v, str) or not v:
        raise ManifestError("manifest has no %s" % name)
    return v
