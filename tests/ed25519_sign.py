"""Ed25519 signing (RFC 8032 5.1.6) for tests that run on MicroPython, where `cryptography` is
not available. Built on lib/ed25519.py's internals and lib/sha512.py; test code only (not
constant-time, no key hygiene). tests/test_ota_manifest.py checks it against RFC 8032.
"""

import ed25519
import sha512


def _h(*parts):
    s = sha512.sha512()
    for p in parts:
        s.update(p)
    return s.digest()


def _expand(seed):
    d = _h(seed)
    a = int.from_bytes(d[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    return a, d[32:]


def public_key(seed):
    """The 32-byte public key of a 32-byte secret seed."""
    a, _ = _expand(seed)
    return ed25519._straus(a, 0, ed25519._BX, ed25519._BY)


def sign(seed, message):
    """The 64-byte signature of `message` with the secret `seed`."""
    a, prefix = _expand(seed)
    pk = ed25519._straus(a, 0, ed25519._BX, ed25519._BY)
    r = int.from_bytes(_h(prefix, message), "little") % ed25519._L
    big_r = ed25519._straus(r, 0, ed25519._BX, ed25519._BY)
    k = int.from_bytes(_h(big_r, pk, message), "little") % ed25519._L
    s = (r + k * a) % ed25519._L
    return big_r + s.to_bytes(32, "little")
