"""Release manifests from `tools/ota.py build`: signature, board, MicroPython and version checks.

    m = ota_manifest.check(data, public_key, board="esp32", running="0.2.0")
    m["version"], m["files"]   # [{"path", "size", "sha256"}, ...], paths relative to <version>/
    m.get("firmware")          # optional {"path", "size", "sha256"}: a MicroPython .app-bin

`data` is the exact bytes of manifest.json. Its layout (docs/design/ota-signing.md): the
canonical JSON of the manifest body (sorted keys, no spaces, ASCII), with `,"sig":"<128 hex>"`
inserted before the final `}`. The body bytes are `data` without that 137-byte insert, so
nothing is re-serialised on the device; the signed message is their SHA-256 digest (32 bytes).
`public_key`: 32 bytes or 64 hex characters. `running`: the running release's version; `force`
allows the same or an older one. `micropython`: the running MicroPython (x, y, z), default
sys.implementation's. Raises ManifestError with a one-line message naming the problem; returns
the parsed manifest without "sig".
Cost: SHA-256 of the manifest (native), one Ed25519 verify of a 32-byte message (about 5 ms on
the unix port, docs/design/ota-signing.md), then json.loads; no copy of the manifest. Load this
module for an update and drop it after.
"""

import binascii
import hashlib
import json

from ota_entries import (  # noqa: F401 (this module's API)
    Entries,
    ManifestError,
    _lower_hex,
    _safe_path,
    check_file,
)
from ota_head import check_head, parse_version  # noqa: F401 (its API too)
from ota_sig import MAX_BYTES, SIG_INSERT, SIG_KEY, Stream, _key  # noqa: F401 (its API too)


def _locate(data):
    """(offset of the sig insert, 64-byte signature), or ManifestError when `data` does not end
    with a sig member in the expected place."""
    n = len(data)
    if n < SIG_INSERT + 2 or data[n - 1] != 0x7D:  # '}'
        raise ManifestError("manifest is not signed (no sig field at its end)")
    at = n - 1 - SIG_INSERT
    if bytes(data[at : at + len(SIG_KEY)]) != SIG_KEY or data[n - 2] != 0x22:  # '"'
        raise ManifestError("manifest is not signed (no sig field at its end)")
    try:
        sig = binascii.unhexlify(bytes(data[at + len(SIG_KEY) : n - 2]))
    except ValueError:
        raise ManifestError("manifest signature is not hexadecimal")
    return at, sig


def split(data):
    """(body, signature): the body bytes (a copy) and the 64-byte signature of a manifest's
    bytes; ManifestError when it carries no signature in the expected place."""
    at, sig = _locate(data)
    return bytes(data[:at]) + b"}", sig


def body_digest(data, at):
    """SHA-256 of the body: data[:at] followed by the closing brace. The signed message."""
    h = hashlib.sha256(memoryview(data)[:at])
    h.update(b"}")
    return h.digest()


def verify(data, public_key):
    """None if the manifest's signature is valid for `public_key`, else ManifestError."""
    import ed25519  # loaded only for the check (about 16 KB with sha512 on 64 bits)

    key = _key(public_key)
    at, sig = _locate(data)
    if not ed25519.verify(key, body_digest(data, at), sig):
        raise ManifestError("manifest signature is not valid for the configured public key")


def check(data, public_key, board, running, *, force=False, micropython=None):
    """The manifest (dict) if it is signed by `public_key`, for `board`, for this MicroPython,
    and newer than `running` (or `force`); ManifestError otherwise. See the module docstring."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ManifestError("manifest is not bytes")
    if len(data) > MAX_BYTES:
        raise ManifestError("manifest too big (%d bytes, at most %d)" % (len(data), MAX_BYTES))
    verify(data, public_key)
    try:
        m = json.loads(bytes(data) if isinstance(data, memoryview) else data)
    except ValueError:
        raise ManifestError("manifest is not valid JSON")
    return check_head(m, board, running, force=force, micropython=micropython)
