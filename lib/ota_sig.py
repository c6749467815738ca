"""The signature of a release manifest received in pieces (see lib/ota_manifest.py).

    s = ota_sig.Stream(n)      # n: the manifest's length in bytes
    s.update(chunk) ...        # any sizes, in order
    s.verify(public_key)       # None, or ManifestError (lib/ota_entries.py)
    key, msg, sig = s.signed(public_key)   # or: the check's input, for ed25519.verify()

Split from lib/ota_manifest.py (which re-exports it) so that an update's signature check holds
only this, ed25519 and sha512 (about 1.5 KB on a 32-bit port for this module): the rest of the
manifest code is loaded after. Errors import their class on the way out.
"""

import binascii
import hashlib

MAX_BYTES = 32768  # about 124 bytes per file: some 260 files
SIG_KEY = b',"sig":"'
SIG_INSERT = len(SIG_KEY) + 128 + 1  # ,"sig":"<128 hex>"
BAD_SIG = "manifest signature is not valid for the configured public key"


def _err(msg):
    from ota_entries import ManifestError

    return ManifestError(msg)


def _key(public_key):
    if isinstance(public_key, str):
        if len(public_key) != 64:
            raise _err("public key must be 64 hexadecimal characters")
        try:
            public_key = binascii.unhexlify(public_key)
        except ValueError:
            raise _err("public key is not hexadecimal")
    if not isinstance(public_key, (bytes, bytearray)) or len(public_key) != 32:
        raise _err("no public key configured (32 bytes needed)")
    return public_key


class Stream:
    """Checks the signature of a manifest of `n` bytes fed in pieces (update(chunk), any
    sizes), without holding it: SHA-256 of the body as it goes, the last SIG_INSERT + 1 bytes
    kept. verify(public_key) after the last piece: None, or ManifestError."""

    def __init__(self, n):
        if n > MAX_BYTES:
            raise _err("manifest too big (%d bytes, at most %d)" % (n, MAX_BYTES))
        if n < SIG_INSERT + 2:
            raise _err("manifest is not signed (no sig field at its end)")
        self.n = n
        self.at = n - 1 - SIG_INSERT
        self.got = 0
        self.h = hashlib.sha256()
        self.tail = bytearray(SIG_INSERT + 1)

    def update(self, mv):
        k = len(mv)
        start = self.got
        end = start + k
        if end > self.n:
            raise _err("manifest longer than announced")
        at = self.at
        if start < at:
            self.h.update(mv[: min(k, at - start)] if end > at else mv)
        if end > at:
            s = max(start, at)
            self.tail[s - at : end - at] = mv[s - start : k]
        self.got = end

    def verify(self, public_key):
        key, digest, sig = self.signed(public_key)
        import ed25519

        if not ed25519.verify(key, digest, sig):
            raise _err(BAD_SIG)

    def signed(self, public_key):
        """(key, message, signature) for ed25519.verify() once every byte is in, the key and
        the signature field well-formed; ManifestError otherwise. For a caller that drops this
        module (and the Stream) before the heavy check."""
        key = _key(public_key)
        if self.got != self.n:
            raise _err("manifest truncated: %d of %d bytes" % (self.got, self.n))
        t = self.tail
        if bytes(t[: len(SIG_KEY)]) != SIG_KEY or t[-1] != 0x7D or t[-2] != 0x22:
            raise _err("manifest is not signed (no sig field at its end)")
        try:
            sig = binascii.unhexlify(bytes(t[len(SIG_KEY) : -2]))
        except ValueError:
            raise _err("manifest signature is not hexadecimal")
        self.h.update(b"}")
        return key, self.h.digest(), sig
