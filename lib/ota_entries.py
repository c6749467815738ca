"""The file entries of a verified release manifest, read from flash one at a time.

    it = ota_entries.Entries(f, bytearray(128))   # f: the manifest file, opened "rb"
    it.next() -> {"path", "size", "sha256"} (checked), or None after the last; it.head()

Split from lib/ota_manifest.py (which re-exports all of it) so that an update's download holds
only this part (about 2 KB on a 32-bit port, against 6 KB for the whole): the signature and
head checks are done and their module dropped before the first file is fetched.
"""

import json

_HEX = "0123456789abcdef"


class ManifestError(ValueError):
    """A manifest refused: the message says why, in one line."""


def check_file(f, seen=None):
    """ManifestError unless `f` is a valid file entry (and its path not in the set `seen`)."""
    if not isinstance(f, dict):
        raise ManifestError("manifest file entry is not an object")
    path = f.get("path")
    if not isinstance(path, str) or not _safe_path(path):
        raise ManifestError("manifest file path %r is not a safe relative path" % (path,))
    if seen is not None:
        if path in seen:
            raise ManifestError("manifest lists %s twice" % path)
        seen.add(path)
    size = f.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ManifestError("manifest size of %s is not a byte count" % path)
    digest = f.get("sha256")
    if not isinstance(digest, str) or len(digest) != 64 or not _lower_hex(digest):
        raise ManifestError("manifest sha256 of %s is not 64 lower-case hex digits" % path)


def _safe_path(path):
    if not path or len(path) > 128 or path[0] == "/":
        return False
    for c in path:
        if c <= " " or c > "~" or c == "\\":
            return False
    for part in path.split("/"):
        if part in ("", ".", ".."):
            return False
    return True


def _lower_hex(s):
    for c in s:
        if c not in _HEX:
            return False
    return True


class Entries:
    """Reads a manifest from the binary file object `f` (already verified) with the small
    bytearray `buf`: next() -> the next file entry (dict), or None after the last one; then
    head() -> the rest of the manifest (dict; "files" empty). Cost: one pass, a few small
    objects per entry; the file list is never held."""

    def __init__(self, f, buf):
        self.f = f
        self.buf = buf
        self.pos = self.end = 0
        self.depth = 0
        self.in_str = self.esc = self.arr = False
        self.rest = bytearray()

    def next(self):
        buf = self.buf
        ent = None
        while True:
            if self.pos == self.end:
                self.end = self.f.readinto(buf)
                self.pos = 0
                if not self.end:
                    if ent is not None or self.depth or self.in_str:
                        raise ManifestError("manifest ends in the middle")
                    return None
            c = buf[self.pos]
            self.pos += 1
            d0 = self.depth
            plain = False  # a structural character (not in a string)
            if self.in_str:
                if self.esc:
                    self.esc = False
                elif c == 0x5C:
                    self.esc = True
                elif c == 0x22:
                    self.in_str = False
            elif c == 0x22:
                self.in_str = True
            else:
                plain = True
                if c in (0x7B, 0x5B):
                    self.depth += 1
                elif c in (0x7D, 0x5D):
                    self.depth -= 1
            if not self.arr:
                self.rest.append(c)
                if plain and c == 0x5B and d0 == 1:
                    self.arr = True  # the top level's only array: the file list
            elif d0 >= 3 or (plain and c == 0x7B and d0 == 2):
                if ent is None:
                    ent = bytearray()
                ent.append(c)
                if plain and self.depth == 2:
                    try:
                        e = json.loads(bytes(ent))
                    except ValueError:
                        raise ManifestError("manifest file entry is not JSON")
                    check_file(e)
                    return e
            elif plain and c == 0x5D and self.depth == 1:
                self.arr = False
                self.rest.append(c)

    def head(self):
        while self.next() is not None:
            pass
        try:
            m = json.loads(bytes(self.rest))
        except ValueError:
            raise ManifestError("manifest is not valid JSON")
        if not isinstance(m, dict):
            raise ManifestError("manifest is not a JSON object")
        return m
