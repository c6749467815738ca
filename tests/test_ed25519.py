# micropython: also
"""lib/ed25519.py and lib/sha512.py: RFC 8032 vectors, signatures made by `cryptography`, and
every kind of bad input refused (False, never an exception), on CPython and MicroPython.

tests/fixtures/ed25519_cryptography.json holds signatures made by the PyPI package
`cryptography` (OpenSSL) for random seeds and messages, so the MicroPython run checks them too;
the CPython run also checks that `cryptography` accepts each of them, and makes fresh random
ones on every run. regenerate_fixture() (CPython) rewrites the file.
"""

import binascii
import json
import struct
import sys

import ed25519
import sha512

CPYTHON = sys.implementation.name != "micropython"
FIXTURE = "tests/fixtures/ed25519_cryptography.json"
P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493


def h(s):
    return binascii.unhexlify(s.replace(" ", ""))


# RFC 8032 section 7.1: (secret key, public key, message, signature), hex.
RFC8032 = (
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
        "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
        "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
        "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
    (  # TEST 1024 (a 1023-byte message)
        "f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5",
        "278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e",
        "08b8b2b733424243760fe426a4b54908632110a66c2f6591eabd3345e3e4eb98"
        "fa6e264bf09efe12ee50f8f54e9f77b1e355f6c50544e23fb1433ddf73be84d8"
        "79de7c0046dc4996d9e773f4bc9efe5738829adb26c81b37c93a1b270b20329d"
        "658675fc6ea534e0810a4432826bf58c941efb65d57a338bbd2e26640f89ffbc"
        "1a858efcb8550ee3a5e1998bd177e93a7363c344fe6b199ee5d02e82d522c4fe"
        "ba15452f80288a821a579116ec6dad2b3b310da903401aa62100ab5d1a36553e"
        "06203b33890cc9b832f79ef80560ccb9a39ce767967ed628c6ad573cb116dbef"
        "efd75499da96bd68a8a97b928a8bbc103b6621fcde2beca1231d206be6cd9ec7"
        "aff6f6c94fcd7204ed3455c68c83f4a41da4af2b74ef5c53f1d8ac70bdcb7ed1"
        "85ce81bd84359d44254d95629e9855a94a7c1958d1f8ada5d0532ed8a5aa3fb2"
        "d17ba70eb6248e594e1a2297acbbb39d502f1a8c6eb6f1ce22b3de1a1f40cc24"
        "554119a831a9aad6079cad88425de6bde1a9187ebb6092cf67bf2b13fd65f270"
        "88d78b7e883c8759d2c4f5c65adb7553878ad575f9fad878e80a0c9ba63bcbcc"
        "2732e69485bbc9c90bfbd62481d9089beccf80cfe2df16a2cf65bd92dd597b07"
        "07e0917af48bbb75fed413d238f5555a7a569d80c3414a8d0859dc65a46128ba"
        "b27af87a71314f318c782b23ebfe808b82b0ce26401d2e22f04d83d1255dc51a"
        "ddd3b75a2b1ae0784504df543af8969be3ea7082ff7fc9888c144da2af58429e"
        "c96031dbcad3dad9af0dcbaaaf268cb8fcffead94f3c7ca495e056a9b47acdb7"
        "51fb73e666c6c655ade8297297d07ad1ba5e43f1bca32301651339e22904cc8c"
        "42f58c30c04aafdb038dda0847dd988dcda6f3bfd15c4b4c4525004aa06eeff8"
        "ca61783aacec57fb3d1f92b0fe2fd1a85f6724517b65e614ad6808d6f6ee34df"
        "f7310fdc82aebfd904b01e1dc54b2927094b2db68d6f903b68401adebf5a7e08"
        "d78ff4ef5d63653a65040cf9bfd4aca7984a74d37145986780fc0b16ac451649"
        "de6188a7dbdf191f64b5fc5e2ab47b57f7f7276cd419c17a3ca8e1b939ae49e4"
        "88acba6b965610b5480109c8b17b80e1b7b750dfc7598d5d5011fd2dcc5600a3"
        "2ef5b52a1ecc820e308aa342721aac0943bf6686b64b2579376504ccc493d97e"
        "6aed3fb0f9cd71a43dd497f01f17c0e2cb3797aa2a2f256656168e6c496afc5f"
        "b93246f6b1116398a346f1a641f3b041e989f7914f90cc2c7fff357876e506b5"
        "0d334ba77c225bc307ba537152f3f1610e4eafe595f6d9d90d11faa933a15ef1"
        "369546868a7f3a45a96768d40fd9d03412c091c6315cf4fde7cb68606937380d"
        "b2eaaa707b4c4185c32eddcdd306705e4dc1ffc872eeee475a64dfac86aba41c"
        "0618983f8741c5ef68d3a101e8a3b8cac60c905c15fc910840b94c00a0b9d0",
        "0aab4c900501b3e24d7cdf4663326a3a87df5e4843b2cbdb67cbf6e460fec350"
        "aa5371b1508f9f4528ecea23c436d94b5e8fcd4f681e30a6ac00a9704a188a03",
    ),
    (  # TEST SHA(abc): the message is SHA-512("abc")
        "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
        "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
        "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b589"
        "09351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704",
    ),
)

# FIPS 180-4 examples (NIST CSRC "SHA512.pdf") and edge lengths: message -> digest, hex.
SHA512_VECTORS = (
    (
        b"",
        "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
        "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
    ),
    (
        b"abc",
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
        "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
    ),
    (
        b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
        b"ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
        "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018"
        "501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909",
    ),
)


def rfc_cases():
    for _sk, pk, msg, sig in RFC8032:
        yield h(pk), h(msg), h(sig)


def rfc(i):
    _, pk, msg, sig = RFC8032[i]
    return h(pk), h(msg), h(sig)


def fixture_cases():
    with open(FIXTURE) as f:
        data = json.load(f)
    for c in data["cases"]:
        yield h(c["pk"]), h(c["msg"]), h(c["sig"])


def flip(b, i, bit=1):
    b = bytearray(b)
    b[i] ^= bit
    return bytes(b)


def enc(y, sign=0):
    return (y | (sign << 255)).to_bytes(32, "little")


def not_on_curve_y():
    """A y < p for which no x exists (u/v is not a square), found with Euler's criterion."""
    d = ed25519._D
    y = 2
    while True:
        u = (y * y - 1) % P
        v = (d * y * y + 1) % P
        if pow(u * pow(v, P - 2, P) % P, (P - 1) // 2, P) == P - 1:
            return y
        y += 1


# --- SHA-512 ---


def test_sha512_fips_vectors():
    for msg, digest in SHA512_VECTORS:
        assert sha512.sha512(msg).digest() == h(digest)
        assert sha512.sha512(msg).hexdigest() == digest


def test_sha512_chunks_and_block_edges():
    """Any split into update() calls gives the one-shot digest, around every padding edge."""
    data = bytes((i * 131 + 7) & 0xFF for i in range(400))
    for n in (111, 112, 113, 127, 128, 129, 239, 240, 255, 256, 257, 400):
        whole = sha512.sha512(data[:n]).digest()
        for step in (1, 17, 64, 127, 128, 200):
            s = sha512.sha512()
            part = memoryview(data)[:n]
            for i in range(0, n, step):
                s.update(part[i : i + step])
            assert s.digest() == whole, (n, step)
        if CPYTHON:
            import hashlib

            assert whole == hashlib.sha512(data[:n]).digest()


def test_sha512_constants_follow_from_the_primes():
    def root(n, k):  # floor(n ** (1/k)) by Newton's method, exact on big ints
        x = 1 << (len("%x" % n) * 4 // k + 1)  # above the root
        while True:
            y = ((k - 1) * x + n // x ** (k - 1)) // k
            if y >= x:
                return x
            x = y

    primes = []
    n = 2
    while len(primes) < 80:
        if all(n % q for q in primes):
            primes.append(n)
        n += 1
    mask = (1 << 64) - 1
    assert tuple(root(q << 192, 3) & mask for q in primes) == struct.unpack(">80Q", sha512._K)
    assert tuple(root(q << 128, 2) & mask for q in primes[:8]) == struct.unpack(">8Q", sha512._IV)


def test_sha512_digest_does_not_end_the_hash():
    s = sha512.sha512(b"ab")
    first = s.digest()
    assert s.digest() == first
    s.update(b"c")
    assert s.digest() == h(SHA512_VECTORS[1][1])


# --- constants and group arithmetic ---


def test_constants_follow_from_their_definitions():
    assert ed25519._P == P and ed25519._L == L
    assert ed25519._D == (-121665 * pow(121666, P - 2, P)) % P
    assert ed25519._SQRT_M1 * ed25519._SQRT_M1 % P == P - 1
    x, y = ed25519._BX, ed25519._BY
    assert y == 4 * pow(5, P - 2, P) % P
    # on the curve -x^2 + y^2 = 1 + d x^2 y^2, x even (the RFC's B)
    assert (-x * x + y * y - 1 - ed25519._D * x * x * y * y) % P == 0
    assert x & 1 == 0
    assert ed25519._decode_point(enc(y)) == (x, y)


def test_scalar_multiplication_has_the_group_order():
    x, y = ed25519._BX, ed25519._BY
    identity = enc(1)
    assert ed25519._straus(L, 0, x, y) == identity
    assert ed25519._straus(0, L, x, y) == identity
    assert ed25519._straus(1, 0, x, y) == enc(y)
    assert ed25519._straus(0, 1, x, y) == enc(y)
    # [a]B + [b]B == [a + b]B, with every pair of bits exercised
    a = 0x0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDE
    b = 0x0FEDCBA9876543210FEDCBA9876543210FEDCBA9876543210FEDCBA98765432
    assert ed25519._straus(a, b, x, y) == ed25519._straus((a + b) % L, 0, x, y)
    assert ed25519._straus(a, L - a, x, y) == identity
    # long runs of set and clear bits, the top bit of 2**253 - 1
    for n in (2**252 - 1, int("8" * 63, 16), int("f8" * 31, 16), L - 1, 2**253 - 1):
        assert ed25519._straus(n, 0, x, y) == ed25519._straus(0, n, x, y)
        assert ed25519._straus(n, a, x, y) == ed25519._straus((n + a) % L, 0, x, y)
    assert ed25519._straus(L - 1, 1, x, y) == identity


# --- valid signatures ---


def test_rfc8032_vectors_verify():
    for pk, msg, sig in rfc_cases():
        assert ed25519.verify(pk, msg, sig)
        # bytearray and memoryview inputs are accepted too
        assert ed25519.verify(bytearray(pk), memoryview(msg), bytearray(sig))


def test_signatures_made_by_cryptography_verify():
    n = 0
    for pk, msg, sig in fixture_cases():
        assert ed25519.verify(pk, msg, sig), msg
        n += 1
    assert n >= 20


def test_streaming_verifier_matches_one_shot():
    pk, msg, sig = rfc(3)  # the 1023-byte message
    for step in (1, 100, 128, 1023):
        v = ed25519.Verifier(pk, sig)
        for i in range(0, len(msg), step):
            v.update(msg[i : i + step])
        assert v.verify(), step
    v = ed25519.Verifier(pk, sig)
    v.update(msg[:-1])
    assert not v.verify()


# --- refusals: never an exception ---


def test_modified_message_signature_or_key_is_refused():
    cases = list(rfc_cases())
    for i, (pk, msg, sig) in enumerate(cases):
        other_pk = cases[(i + 1) % len(cases)][0]
        assert not ed25519.verify(other_pk, msg, sig)
        assert not ed25519.verify(pk, msg + b"\x00", sig)
        if msg:
            assert not ed25519.verify(pk, flip(msg, 0), sig)
            assert not ed25519.verify(pk, msg[:-1], sig)
        for at in (0, 17, 31, 32, 45, 63):
            assert not ed25519.verify(pk, msg, flip(sig, at)), at
        assert not ed25519.verify(flip(pk, 5), msg, sig)


def test_fixture_bit_flips_are_refused():
    for pk, msg, sig in list(fixture_cases())[:6]:
        for at in (3, 40):
            assert not ed25519.verify(pk, msg, flip(sig, at, 0x10))
        assert not ed25519.verify(pk, msg + b"!", sig)


def test_non_canonical_s_is_refused():
    """S + L satisfies the group equation as well as S does: it must still be refused."""
    for pk, msg, sig in rfc_cases():
        s = int.from_bytes(sig[32:], "little")
        if s + L < 2**256:
            assert not ed25519.verify(pk, msg, sig[:32] + (s + L).to_bytes(32, "little"))
        assert not ed25519.verify(pk, msg, sig[:32] + L.to_bytes(32, "little"))
        assert not ed25519.verify(pk, msg, sig[:32] + b"\xff" * 32)


def test_malformed_public_keys_are_refused():
    _, msg, sig = rfc(0)
    y_off = not_on_curve_y()
    bad_keys = (
        enc(P),  # y = p: non-canonical (same as y = 0)
        enc(P + 1),  # y = p + 1: non-canonical 1
        b"\xff" * 31 + b"\x7f",  # y = 2^255 - 1
        enc(1, 1),  # x = 0 with the sign bit set
        enc(P - 1, 1),  # y = -1: x = 0, sign bit set
        enc(y_off),  # no point has this y
        enc(y_off, 1),
        enc(1),  # the neutral point: small order
        enc(P - 1),  # (0, -1): order 2
        enc(0),  # (sqrt(-1), 0): order 4
        bytes(32),
    )
    for key in bad_keys:
        assert not ed25519.verify(key, msg, sig), key
    assert ed25519._decode_point(enc(y_off)) is None
    assert ed25519._decode_point(enc(P)) is None
    assert ed25519._decode_point(enc(1, 1)) is None


def test_forgery_with_a_small_order_key_is_refused():
    """With A the neutral point, R = neutral and S = 0 satisfy [S]B = R + [k]A for any message."""
    neutral = enc(1)
    assert not ed25519.verify(neutral, b"anything", neutral + bytes(32))
    assert not ed25519.verify(enc(P - 1), b"anything", neutral + bytes(32))


def test_malformed_r_is_refused():
    pk, msg, sig = rfc(1)
    y_off = not_on_curve_y()
    for r in (enc(P), enc(y_off), enc(1, 1), b"\xff" * 32):
        assert not ed25519.verify(pk, msg, r + sig[32:])
    # R non-canonical: y + p encodes the same y
    y = int.from_bytes(sig[:32], "little") & ((1 << 255) - 1)
    sign = sig[31] >> 7
    if y + P < 2**255:
        assert not ed25519.verify(pk, msg, enc(y + P, sign) + sig[32:])


def test_wrong_lengths_and_types_give_false():
    pk, msg, sig = rfc(2)
    assert ed25519.verify(pk, msg, sig)
    for bad_pk in (pk[:31], pk + b"\x00", b"", None, 1, pk.hex(), [1] * 32):
        assert ed25519.verify(bad_pk, msg, sig) is False
    for bad_sig in (sig[:63], sig + b"\x00", b"", None, 0, sig.hex()):
        assert ed25519.verify(pk, msg, bad_sig) is False
    for bad_msg in (None, "af82", 0xAF82, [0xAF, 0x82]):
        assert ed25519.verify(pk, bad_msg, sig) is False
    v = ed25519.Verifier(pk, sig)
    v.update(msg)
    v.update("text")
    assert v.verify() is False
    v = ed25519.Verifier(None, None)
    v.update(msg)
    assert v.verify() is False


# --- CPython only: cross-checks with cryptography ---


def _crypto():
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519 as ced

    return ced, serialization, InvalidSignature


def test_fixture_is_accepted_by_cryptography():
    if not CPYTHON:
        return
    ced, serialization, _ = _crypto()
    with open(FIXTURE) as f:
        cases = json.load(f)["cases"]
    for c in cases:
        key = ced.Ed25519PrivateKey.from_private_bytes(h(c["seed"]))
        assert key.sign(h(c["msg"])) == h(c["sig"])  # Ed25519 signing is deterministic
        key.public_key().verify(h(c["sig"]), h(c["msg"]))
    for sk, pk, msg, sig in RFC8032:
        key = ced.Ed25519PrivateKey.from_private_bytes(h(sk))
        assert key.sign(h(msg)) == h(sig)
        raw = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        assert raw == h(pk)


def test_fresh_random_signatures_agree_with_cryptography():
    """New keys and messages each run; ours and cryptography's answers agree on tampering."""
    if not CPYTHON:
        return
    import os
    import random

    ced, serialization, invalid = _crypto()
    rng = random.Random(os.urandom(8))
    for _ in range(25):
        key = ced.Ed25519PrivateKey.generate()
        pub = key.public_key()
        pk = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        msg = os.urandom(rng.randrange(0, 600))
        sig = key.sign(msg)
        assert ed25519.verify(pk, msg, sig)
        for _ in range(3):
            what = rng.randrange(3)
            if what == 0:
                sig2, msg2, pk2 = flip(sig, rng.randrange(64), 1 << rng.randrange(8)), msg, pk
            elif what == 1:
                sig2, msg2, pk2 = sig, msg + bytes([rng.randrange(256)]), pk
            else:
                sig2, msg2, pk2 = sig, msg, flip(pk, rng.randrange(32), 1 << rng.randrange(8))
            try:
                ced.Ed25519PublicKey.from_public_bytes(pk2).verify(sig2, msg2)
                theirs = True
            except (invalid, ValueError):
                theirs = False
            assert ed25519.verify(pk2, msg2, sig2) == theirs


def regenerate_fixture(path=FIXTURE, seed=20261201):
    """Rewrite the fixture with `cryptography` (CPython; run by hand, not a test)."""
    import random

    ced, serialization, _ = _crypto()
    rng = random.Random(seed)
    lengths = (0, 1, 2, 31, 32, 33, 63, 64, 65, 111, 112, 127, 128, 129, 255, 256, 300, 1000)
    cases = []
    for n in lengths + (2048, 4500):
        sk = bytes(rng.getrandbits(8) for _ in range(32))
        key = ced.Ed25519PrivateKey.from_private_bytes(sk)
        msg = bytes(rng.getrandbits(8) for _ in range(n))
        pk = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        c = {"seed": sk.hex(), "pk": pk.hex(), "msg": msg.hex(), "sig": key.sign(msg).hex()}
        cases.append("  " + json.dumps(c, sort_keys=True))
    import cryptography

    with open(path, "w") as f:
        f.write(
            '{"about": "Ed25519 signatures made by the PyPI package cryptography %s (OpenSSL) '
            'for random seeds and messages; see tests/test_ed25519.py",\n "cases": [\n'
            % cryptography.__version__
        )
        f.write(",\n".join(cases))
        f.write("\n]}\n")


if __name__ == "__main__":
    import mpunit

    mpunit.main(globals())
