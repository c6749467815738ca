"""Ed25519 signature verification (RFC 8032, section 5.1.7), pure Python, no signing.

    ed25519.verify(public_key, message, signature) -> bool   # 32, any, 64 bytes

    v = ed25519.Verifier(public_key, signature)              # the same, message in chunks
    v.update(chunk); ...; v.verify() -> bool

Bad input never raises: wrong types or lengths, a public key that is not a canonical curve point
encoding or is of small order (signatures for it can be forged), S >= L, or a signature that
does not match all give False. The check is the cofactorless equation [S]B == R + [k]A, with
k = SHA-512(R || A || M) mod L, done as "encode([S]B - [k]A) == R" (so a non-canonical or
invalid R cannot match).

Same code on CPython and MicroPython (arbitrary-precision ints, 32-bit ports included; its
hashlib has no SHA-512, hence lib/sha512.py). Cost: SHA-512 over 64 + len(message) bytes, two
modular exponentiations by addition chains (decoding A, final inversion) and one joint
double-and-add loop (Shamir's trick): 255 point doublings and about 190 additions in extended
coordinates with three cached points (B, -A, B - A). Built for a small heap (one verify per
update): the module ~3 KB and a few hundred bytes of points on a 32-bit port, no state kept
between calls. Figures and derivation: docs/design/ota-signing.md.
"""

import sha512

_P = 2**255 - 19  # the field
_L = 2**252 + 27742317777372353535851937790883648493  # the group order
# the curve constant d = -121665/121666, 2d, and a square root of -1
_D = 37095705934669439343138083508754565189542113879843219016388785533085940283555
_D2 = 2 * _D % _P
_SQRT_M1 = 19681161376707505956807079304988542015446066515923890162744021073123829784752
_BX = 15112221349535400772501151409588531511454012693041857206046113283949847762202
_BY = 46316835694926478169428394003475163141307993866256225615783033603165251855960  # 4/5


def _bytes(x, n):
    """`x` as bytes when it is a bytes-like object of length n (any length if n is None)."""
    if not isinstance(x, (bytes, bytearray, memoryview)):
        return None
    if n is not None and len(x) != n:
        return None
    return bytes(x)


def _sq(a, n):
    """a^(2^n) mod p."""
    p = _P
    for _ in range(n):
        a = a * a % p
    return a


def _pow22523(x):
    """x^((p-5)/8) = x^(2^252-3) mod p by a fixed addition chain: 251 squarings, 11
    multiplications (faster than pow() on MicroPython, which may also lack 3-argument pow)."""
    p = _P
    x2 = x * x % p
    x9 = _sq(x2, 2) * x % p
    x11 = x9 * x2 % p
    t5 = x11 * x11 % p * x9 % p  # x^(2^5-1)
    t10 = _sq(t5, 5) * t5 % p
    t20 = _sq(t10, 10) * t10 % p
    t40 = _sq(t20, 20) * t20 % p
    t50 = _sq(t40, 10) * t10 % p
    t100 = _sq(t50, 50) * t50 % p
    t200 = _sq(t100, 100) * t100 % p
    t250 = _sq(t200, 50) * t50 % p  # x^(2^250-1)
    return _sq(t250, 2) * x % p


def _inverse(z):
    """1/z mod p = z^(p-2) = (z^(2^252-3))^8 * z^3."""
    p = _P
    return _sq(_pow22523(z), 3) * (z * z % p * z % p) % p


def _decode_point(s):
    """RFC 8032 5.1.3: 32 bytes -> affine (x, y), or None when not a canonical point encoding."""
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    if y >= _P:
        return None
    yy = y * y % _P
    u = (yy - 1) % _P
    v = (_D * yy + 1) % _P
    v3 = v * v * v % _P
    # candidate root x = u v^3 (u v^7)^((p-5)/8)
    x = u * v3 * _pow22523(u * v3 * v3 * v % _P) % _P
    vxx = v * x * x % _P
    if vxx != u:
        if vxx != _P - u:
            return None
        x = x * _SQRT_M1 % _P
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = _P - x
    return x, y


def _small_order(x, y):
    """True if 8*(x, y) is the neutral point: a key for which signatures can be forged."""
    p = _P
    z = 1
    for _ in range(3):
        a = x * x % p
        b = y * y % p
        c = z * z % p
        h = a + b
        e = (h - (x + y) * (x + y)) % p
        g = a - b
        f = c + c + g
        x = e * f % p
        y = g * h % p
        z = f * g % p
    return x == 0


def _cached(x, y, z, t):
    """The cached form (Y+X, Y-X, 2dT, 2Z) of the extended point (X, Y, Z, T), for _add."""
    p = _P
    return ((y + x) % p, (y - x) % p, t * _D2 % p, 2 * z % p)


def _add(x, y, z, t, c):
    """(x, y, z, t) + the cached point c (add-2008-hwcd-3 with a = -1): a new extended point."""
    p = _P
    yp, ym, t2d, z2 = c
    a = (y - x) * ym % p
    b = (y + x) * yp % p
    c = t * t2d % p
    d = z * z2 % p
    e = b - a
    f = d - c
    g = d + c
    h = b + a
    return e * f % p, g * h % p, f * g % p, e * h % p


def _straus(s, k, ax, ay):
    """Encoding (32 bytes) of [s]B + [k](ax, ay), for s, k < 2**255: one doubling chain over
    the bits of both scalars (Shamir's trick) with three cached points, B, A and B + A: small
    tables (12 field elements) rather than speed."""
    p = _P
    bt = _BX * _BY % p
    at = ax * ay % p
    pts = (
        _cached(_BX, _BY, 1, bt),
        _cached(ax, ay, 1, at),
        _cached(*_add(_BX, _BY, 1, bt, _cached(ax, ay, 1, at))),
    )
    x, y, z, t = 0, 1, 1, 0
    for i in range(254, -1, -1):
        # dbl-2008-hwcd with a = -1
        a = x * x % p
        b = y * y % p
        c = z * z % p
        h = a + b
        e = (h - (x + y) * (x + y)) % p
        g = a - b
        f = c + c + g
        x = e * f % p
        y = g * h % p
        z = f * g % p
        t = e * h % p
        n = (s >> i) & 1 | ((k >> i) & 1) << 1
        if n:
            x, y, z, t = _add(x, y, z, t, pts[n - 1])
    zi = _inverse(z)
    x = x * zi % p
    y = y * zi % p
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


class Verifier:
    """Verifies one signature over a message given in chunks: update(data)..., then verify()."""

    def __init__(self, public_key, signature):
        self._a = _bytes(public_key, 32)
        sig = _bytes(signature, 64)
        self._sig = sig
        self._s = None
        self._h = sha512.sha512()
        if self._a is None or sig is None:
            return
        s = int.from_bytes(sig[32:], "little")
        if s >= _L:
            return
        self._s = s
        self._h.update(sig[:32])
        self._h.update(self._a)

    def update(self, data):
        """Add the next chunk of the message (bytes-like; anything else makes verify() False)."""
        if self._s is None:
            return
        if not isinstance(data, (bytes, bytearray, memoryview)):
            self._s = None
            return
        self._h.update(data)

    def verify(self):
        """True only if the signature is valid for this key and the message given so far.
        Call it once: it ends the Verifier (a second call returns False)."""
        s = self._s
        if s is None:
            return False
        self._s = None  # one answer only: the hasher is freed before the point tables are made
        a = _decode_point(self._a)
        if a is None or _small_order(a[0], a[1]):
            return False
        k = int.from_bytes(self._h.digest(), "little") % _L
        self._h = None
        # [S]B - [k]A: the table of -A is that of (-x, y)
        return _straus(s, k, (_P - a[0]) % _P, a[1]) == self._sig[:32]


def verify(public_key, message, signature):
    """True if `signature` (64 bytes) over `message` (bytes-like) is valid for `public_key`
    (32 bytes); False for anything else, bad input included."""
    v = Verifier(public_key, signature)
    v.update(message)
    return v.verify()
