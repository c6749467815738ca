"""SHA-512 (FIPS 180-4), streaming, in pure Python: MicroPython's hashlib has no SHA-512.

    h = sha512.sha512(b"optional first chunk")
    h.update(chunk)     # any number of times, any sizes
    h.digest()          # 64 bytes; the object can go on being updated afterwards

Same code on CPython and MicroPython (64-bit words are arbitrary-precision ints there, so each
operation allocates: this is not for hot paths). Cost: one 128-byte block is about 3,700 integer
operations (rounds unrolled eight at a time, rotations as shifts of the word doubled to 128
bits); measured figures in docs/design/ota-signing.md. Memory: the 80 round constants, and per
object a 128-byte buffer and an 80-word schedule list.
"""

import struct

_M = 0xFFFFFFFFFFFFFFFF
# FIPS 180-4 4.2.3 and 5.3.5: the first 64 bits of the fractional parts of the cube roots of
# the first 80 primes (_K) and of the square roots of the first 8 (_IV); a test re-derives them.
# fmt: off
_K = (
    0x428A2F98D728AE22, 0x7137449123EF65CD, 0xB5C0FBCFEC4D3B2F, 0xE9B5DBA58189DBBC,
    0x3956C25BF348B538, 0x59F111F1B605D019, 0x923F82A4AF194F9B, 0xAB1C5ED5DA6D8118,
    0xD807AA98A3030242, 0x12835B0145706FBE, 0x243185BE4EE4B28C, 0x550C7DC3D5FFB4E2,
    0x72BE5D74F27B896F, 0x80DEB1FE3B1696B1, 0x9BDC06A725C71235, 0xC19BF174CF692694,
    0xE49B69C19EF14AD2, 0xEFBE4786384F25E3, 0x0FC19DC68B8CD5B5, 0x240CA1CC77AC9C65,
    0x2DE92C6F592B0275, 0x4A7484AA6EA6E483, 0x5CB0A9DCBD41FBD4, 0x76F988DA831153B5,
    0x983E5152EE66DFAB, 0xA831C66D2DB43210, 0xB00327C898FB213F, 0xBF597FC7BEEF0EE4,
    0xC6E00BF33DA88FC2, 0xD5A79147930AA725, 0x06CA6351E003826F, 0x142929670A0E6E70,
    0x27B70A8546D22FFC, 0x2E1B21385C26C926, 0x4D2C6DFC5AC42AED, 0x53380D139D95B3DF,
    0x650A73548BAF63DE, 0x766A0ABB3C77B2A8, 0x81C2C92E47EDAEE6, 0x92722C851482353B,
    0xA2BFE8A14CF10364, 0xA81A664BBC423001, 0xC24B8B70D0F89791, 0xC76C51A30654BE30,
    0xD192E819D6EF5218, 0xD69906245565A910, 0xF40E35855771202A, 0x106AA07032BBD1B8,
    0x19A4C116B8D2D0C8, 0x1E376C085141AB53, 0x2748774CDF8EEB99, 0x34B0BCB5E19B48A8,
    0x391C0CB3C5C95A63, 0x4ED8AA4AE3418ACB, 0x5B9CCA4F7763E373, 0x682E6FF3D6B2B8A3,
    0x748F82EE5DEFB2FC, 0x78A5636F43172F60, 0x84C87814A1F0AB72, 0x8CC702081A6439EC,
    0x90BEFFFA23631E28, 0xA4506CEBDE82BDE9, 0xBEF9A3F7B2C67915, 0xC67178F2E372532B,
    0xCA273ECEEA26619C, 0xD186B8C721C0C207, 0xEADA7DD6CDE0EB1E, 0xF57D4F7FEE6ED178,
    0x06F067AA72176FBA, 0x0A637DC5A2C898A6, 0x113F9804BEF90DAE, 0x1B710B35131C471B,
    0x28DB77F523047D84, 0x32CAAB7B40C72493, 0x3C9EBE0A15C9BEBC, 0x431D67C49C100D4C,
    0x4CC5D4BECB3E42B6, 0x597F299CFC657E2A, 0x5FCB6FAB3AD6FAEC, 0x6C44198C4A475817,
)
_IV = (
    0x6A09E667F3BCC908, 0xBB67AE8584CAA73B, 0x3C6EF372FE94F82B, 0xA54FF53A5F1D36F1,
    0x510E527FADE682D1, 0x9B05688C2B3E6C1F, 0x1F83D9ABFB41BD6B, 0x5BE0CD19137E2179,
)
# fmt: on


class sha512:  # noqa: N801 (named like hashlib's constructors)
    """A SHA-512 hash being computed; `update(data)` adds bytes, `digest()` returns 64 bytes."""

    digest_size = 64
    block_size = 128

    def __init__(self, data=None):
        self._h = list(_IV)
        self._buf = bytearray(128)
        self._used = 0  # bytes waiting in _buf
        self._total = 0  # bytes hashed so far
        self._w = [0] * 80
        if data is not None:
            self.update(data)

    def update(self, data):
        """Add `data` (bytes, bytearray or memoryview). Cost: one compression per 128 bytes."""
        data = memoryview(data)
        n = len(data)
        self._total += n
        pos = 0
        used = self._used
        buf = self._buf
        if used:
            take = min(128 - used, n)
            buf[used : used + take] = data[:take]
            used += take
            pos = take
            if used < 128:
                self._used = used
                return
            self._compress(buf, 0)
        while n - pos >= 128:
            self._compress(data, pos)
            pos += 128
        rest = n - pos
        buf[:rest] = data[pos:]
        self._used = rest

    def digest(self):
        """The 64-byte digest of everything added so far (the object stays usable)."""
        h = self._h
        saved = list(h)
        used = self._used
        block = bytearray(256)
        block[:used] = self._buf[:used]
        block[used] = 0x80
        end = 128 if used < 112 else 256
        struct.pack_into(">QQ", block, end - 16, 0, self._total * 8)
        self._compress(block, 0)
        if end == 256:
            self._compress(block, 128)
        out = struct.pack(">8Q", *h)
        self._h = saved
        return out

    def hexdigest(self):
        """The digest as 128 lower-case hexadecimal characters."""
        return "".join("%02x" % b for b in self.digest())

    def _compress(self, block, off):
        w = self._w
        w[0:16] = struct.unpack_from(">16Q", block, off)
        for t in range(16, 80):
            x = w[t - 15]
            y = w[t - 2]
            w[t] = (
                w[t - 16]
                + w[t - 7]
                + ((((x >> 1) ^ (x >> 8) ^ (x << 63) ^ (x << 56)) & _M) ^ (x >> 7))
                + ((((y >> 19) ^ (y >> 61) ^ (y << 45) ^ (y << 3)) & _M) ^ (y >> 6))
            ) & _M
        k = _K
        for t in range(80):
            w[t] += k[t]
        st = self._h
        a, b, c, d, e, f, g, h = st
        for i in range(0, 80, 8):
            x = e | (e << 64)
            t = h + (((x >> 14) ^ (x >> 18) ^ (x >> 41)) & _M) + (g ^ (e & (f ^ g))) + w[i]
            x = a | (a << 64)
            d = (d + t) & _M
            h = (t + (((x >> 28) ^ (x >> 34) ^ (x >> 39)) & _M) + ((a & b) | (c & (a | b)))) & _M
            x = d | (d << 64)
            t = g + (((x >> 14) ^ (x >> 18) ^ (x >> 41)) & _M) + (f ^ (d & (e ^ f))) + w[i + 1]
            x = h | (h << 64)
            c = (c + t) & _M
            g = (t + (((x >> 28) ^ (x >> 34) ^ (x >> 39)) & _M) + ((h & a) | (b & (h | a)))) & _M
            x = c | (c << 64)
            t = f + (((x >> 14) ^ (x >> 18) ^ (x >> 41)) & _M) + (e ^ (c & (d ^ e))) + w[i + 2]
            x = g | (g << 64)
            b = (b + t) & _M
            f = (t + (((x >> 28) ^ (x >> 34) ^ (x >> 39)) & _M) + ((g & h) | (a & (g | h)))) & _M
            x = b | (b << 64)
            t = e + (((x >> 14) ^ (x >> 18) ^ (x >> 41)) & _M) + (d ^ (b & (c ^ d))) + w[i + 3]
            x = f | (f << 64)
            a = (a + t) & _M
            e = (t + (((x >> 28) ^ (x >> 34) ^ (x >> 39)) & _M) + ((f & g) | (h & (f | g)))) & _M
            x = a | (a << 64)
            t = d + (((x >> 14) ^ (x >> 18) ^ (x >> 41)) & _M) + (c ^ (a & (b ^ c))) + w[i + 4]
            x = e | (e << 64)
            h = (h + t) & _M
            d = (t + (((x >> 28) ^ (x >> 34) ^ (x >> 39)) & _M) + ((e & f) | (g & (e | f)))) & _M
            x = h | (h << 64)
            t = c + (((x >> 14) ^ (x >> 18) ^ (x >> 41)) & _M) + (b ^ (h & (a ^ b))) + w[i + 5]
            x = d | (d << 64)
            g = (g + t) & _M
            c = (t + (((x >> 28) ^ (x >> 34) ^ (x >> 39)) & _M) + ((d & e) | (f & (d | e)))) & _M
            x = g | (g << 64)
            t = b + (((x >> 14) ^ (x >> 18) ^ (x >> 41)) & _M) + (a ^ (g & (h ^ a))) + w[i + 6]
            x = c | (c << 64)
            f = (f + t) & _M
            b = (t + (((x >> 28) ^ (x >> 34) ^ (x >> 39)) & _M) + ((c & d) | (e & (c | d)))) & _M
            x = f | (f << 64)
            t = a + (((x >> 14) ^ (x >> 18) ^ (x >> 41)) & _M) + (h ^ (f & (g ^ h))) + w[i + 7]
            x = b | (b << 64)
            e = (e + t) & _M
            a = (t + (((x >> 28) ^ (x >> 34) ^ (x >> 39)) & _M) + ((b & c) | (d & (b | c)))) & _M
        st[0] = (st[0] + a) & _M
        st[1] = (st[1] + b) & _M
        st[2] = (st[2] + c) & _M
        st[3] = (st[3] + d) & _M
        st[4] = (st[4] + e) & _M
        st[5] = (st[5] + f) & _M
        st[6] = (st[6] + g) & _M
        st[7] = (st[7] + h) & _M
