# micropython: also
"""lib/ota_manifest.py: a signed release manifest is accepted; unsigned, wrongly signed,
re-formatted, other-board, too-new-MicroPython and not-newer releases are refused with a clear
message; on CPython and MicroPython. Manifests are signed here with tests/ed25519_sign.py (pure
Python, so the MicroPython run can sign too); on CPython they are compared byte for byte with
tools/ota.py's, signed by `cryptography`.
"""

import binascii
import hashlib
import json
import sys

import ed25519
import ed25519_sign
import ota_manifest

# The module whose ManifestError ota_manifest re-exports. Other tests unload it, as the
# firmware does after an update; lib/ota_sig.py then imports it again for an error, with a new
# class that `except ota_manifest.ManifestError` would miss: _pin() puts this one back.
_ENTRIES = sys.modules["ota_entries"]


def _pin():
    sys.modules["ota_entries"] = _ENTRIES


CPYTHON = sys.implementation.name != "micropython"
SEED = bytes(range(32))
OTHER_SEED = bytes(range(1, 33))
PUB = ed25519_sign.public_key(SEED)
MP = (1, 27, 0)
SHA = "0123456789abcdef" * 4


def canon(obj):
    """Canonical JSON as tools/ota.py writes it (sorted keys, no spaces), for ASCII data."""
    if isinstance(obj, dict):
        return "{" + ",".join(canon(k) + ":" + canon(obj[k]) for k in sorted(obj)) + "}"
    if isinstance(obj, list):
        return "[" + ",".join(canon(x) for x in obj) + "]"
    return json.dumps(obj)


def body(**over):
    b = {
        "version": "1.2.0",
        "min_micropython": "1.27.0",
        "board": "esp32",
        "files": [
            {"path": "firmware/app.mpy", "size": 2147, "sha256": SHA},
            {"path": "lib/log.mpy", "size": 0, "sha256": SHA},
        ],
    }
    b.update(over)
    return b


def signed(b, seed=SEED):
    data = canon(b).encode()
    sig = binascii.hexlify(ed25519_sign.sign(seed, hashlib.sha256(data).digest()))
    return data[:-1] + b',"sig":"' + sig + b'"}'


def refused(data, *args, **kw):
    """The ManifestError message check() raises (fails the test if it accepts)."""
    if not args:
        args = (PUB, "esp32", "1.1.0")
    kw.setdefault("micropython", MP)
    _pin()
    try:
        ota_manifest.check(data, *args, **kw)
    except ota_manifest.ManifestError as e:
        return str(e)
    raise AssertionError("accepted")


def test_signing_helper_reproduces_rfc8032_test_1():
    seed = binascii.unhexlify("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    assert binascii.hexlify(ed25519_sign.public_key(seed)) == (
        b"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    )
    assert binascii.hexlify(ed25519_sign.sign(seed, b"")) == (
        b"e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
        b"5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    )


def test_same_bytes_as_tools_ota_signed_by_cryptography():
    if not CPYTHON:
        return
    import ota  # tools/ota.py
    from cryptography.hazmat.primitives.asymmetric import ed25519 as ced

    b = body()
    assert ota.canonical(b) == canon(b).encode()
    assert json.dumps(b, sort_keys=True, separators=(",", ":")).encode() == canon(b).encode()
    key = ced.Ed25519PrivateKey.from_private_bytes(SEED)
    assert ota.signed_manifest(b, key) == signed(b)


def test_good_manifest_is_accepted():
    data = signed(body())
    m = ota_manifest.check(data, PUB, "esp32", "1.1.0", micropython=MP)
    assert m["version"] == "1.2.0"
    assert [f["path"] for f in m["files"]] == ["firmware/app.mpy", "lib/log.mpy"]
    assert m["files"][0]["size"] == 2147
    # the key as hex, a bytearray or memoryview manifest
    hexkey = binascii.hexlify(PUB).decode()
    assert ota_manifest.check(bytearray(data), hexkey, "esp32", "1.1.0", micropython=MP)
    assert ota_manifest.check(memoryview(data), PUB, "esp32", "1.1.0", micropython=MP)
    assert "sig" not in m
    # the body is the file without the sig member; the signed message is its SHA-256
    got_body, sig = ota_manifest.split(data)
    assert got_body == canon(body()).encode() and len(sig) == 64
    assert json.loads(data)["sig"] == binascii.hexlify(sig).decode()
    digest = hashlib.sha256(got_body).digest()
    assert ota_manifest.body_digest(data, len(got_body) - 1) == digest
    assert ed25519.verify(PUB, digest, sig)
    assert not ed25519.verify(PUB, got_body, sig)


def test_unsigned_and_wrongly_signed_are_refused():
    assert "not signed" in refused(canon(body()).encode())
    assert "not signed" in refused(b"")
    assert "not signed" in refused(b"{}")
    good = signed(body())
    # signed by another key
    assert "not valid" in refused(signed(body(), OTHER_SEED))
    # any change to the signed bytes: a size, a hash digit, the version
    assert "not valid" in refused(good.replace(b'"size":2147', b'"size":2148'))
    assert "not valid" in refused(good.replace(b'"version":"1.2.0"', b'"version":"1.3.0"'))
    assert "not valid" in refused(good.replace(SHA.encode(), b"f" + SHA[1:].encode(), 1))
    # a flipped signature digit, a non-hex signature, a truncated one
    at = len(good) - 10
    flipped = good[:at] + (b"0" if good[at : at + 1] != b"0" else b"1") + good[at + 1 :]
    assert "not valid" in refused(flipped)
    assert "hexadecimal" in refused(good[:at] + b"z" + good[at + 1 :])
    assert "not signed" in refused(good[:-20] + b'"}')
    # the same JSON re-formatted (spaces, another key order) is not the signed bytes
    spaced = good.replace(b'"esp32","files"', b'"esp32", "files"')
    assert spaced != good
    assert "not valid" in refused(spaced)
    assert "not signed" in refused(good + b"\n")


def test_public_key_problems_are_refused():
    data = signed(body())
    assert "public key" in refused(data, None, "esp32", "1.1.0")
    assert "public key" in refused(data, b"", "esp32", "1.1.0")
    assert "public key" in refused(data, "00" * 31, "esp32", "1.1.0")
    assert "public key" in refused(data, "zz" * 32, "esp32", "1.1.0")
    assert "not valid" in refused(data, bytes(32), "esp32", "1.1.0")


def test_other_board_is_refused():
    msg = refused(signed(body(board="esp8266")))
    assert msg == "release is for board 'esp8266', this is 'esp32'"


def test_newer_micropython_needed_is_refused():
    msg = refused(signed(body(min_micropython="1.28.0")))
    assert msg == "release needs MicroPython 1.28.0 or later, this is 1.27.0"
    assert ota_manifest.check(
        signed(body(min_micropython="1.27")), PUB, "esp32", "1.1.0", micropython=(1, 27, 0)
    )


def test_not_newer_versions_are_refused_unless_forced():
    data = signed(body())  # 1.2.0
    for running in ("1.2.0", "1.2.1", "2.0.0", "1.10.0"):
        msg = refused(data, PUB, "esp32", running)
        assert msg == "release 1.2.0 is not newer than the running %s (force to install it)" % (
            running
        )
        assert ota_manifest.check(data, PUB, "esp32", running, force=True, micropython=MP)
    for running in ("1.1.9", "1.2.0-rc1", "0.2.0-dev", "1.1"):
        assert ota_manifest.check(data, PUB, "esp32", running, micropython=MP)


def test_bad_entries_are_refused_even_when_signed():
    def files(*entries):
        return signed(body(files=list(entries)))

    ok = {"path": "lib/a.mpy", "size": 1, "sha256": SHA}
    for path in ("../x.mpy", "/lib/a.mpy", "lib//a.mpy", "lib/./a.mpy", "lib\\a.mpy", "", "a b"):
        bad = dict(ok)
        bad["path"] = path
        assert "safe relative path" in refused(files(bad)), path
    assert "twice" in refused(files(ok, ok))
    for size in (-1, "1", None):
        bad = dict(ok)
        bad["size"] = size
        assert "byte count" in refused(files(bad)), size
    for digest in (SHA.upper(), SHA[:-1], None, SHA[:-1] + "g"):
        bad = dict(ok)
        bad["sha256"] = digest
        assert "sha256" in refused(files(bad)), digest
    assert "file list" in refused(signed(body(files=[])))
    assert "no version" in refused(signed(body(version="")))
    assert "not a version" in refused(signed(body(version="one")))
    b = body()
    del b["board"]
    assert "no board" in refused(signed(b))


def test_oversized_and_non_bytes_are_refused():
    assert "too big" in refused(b"{" + b" " * ota_manifest.MAX_BYTES + b"}")
    assert "not bytes" in refused("{}")
    assert "not bytes" in refused(None)


def test_version_order():
    order = ("0.1", "0.2.0-dev", "0.2.0-rc1", "0.2.0", "0.2.1", "0.10.0", "1.0.0-a", "1.0.0")
    keys = [ota_manifest.parse_version(v) for v in order]
    for i in range(len(keys) - 1):
        assert keys[i] < keys[i + 1], order[i]
    assert ota_manifest.parse_version("1.2") == ota_manifest.parse_version("1.2.0")
    for bad in ("", "1.", ".1", "1..2", "1.2.3.4.5", "v1.2", "1.2-", "1.x", None, 12):
        assert ota_manifest.parse_version(bad) is None, bad


# -- streaming (firmware/ota.py): Stream checks the signature piece by piece, Entries parses
# the manifest one file entry at a time from a file


def _stream(data, piece, key=PUB):
    s = ota_manifest.Stream(len(data))
    mv = memoryview(data)
    for at in range(0, len(data), piece):
        s.update(mv[at : at + piece])
    s.verify(key)


def _stream_refused(data, piece=7, key=PUB):
    _pin()
    try:
        _stream(data, piece, key)
    except ota_manifest.ManifestError as e:
        return str(e)
    raise AssertionError("accepted")


def test_stream_accepts_a_good_manifest_in_any_pieces():
    data = signed(body(firmware={"path": "micropython.app-bin", "size": 9, "sha256": SHA}))
    for piece in (1, 2, 7, 64, 136, 137, 138, 500, len(data)):
        _stream(data, piece)


def test_stream_refuses_what_check_refuses():
    good = signed(body())
    assert "not valid" in _stream_refused(signed(body(), OTHER_SEED))
    assert "not valid" in _stream_refused(good.replace(b'"size":2147', b'"size":2148'))
    assert "not signed" in _stream_refused(canon(body()).encode())
    at = len(good) - 10
    assert "hexadecimal" in _stream_refused(good[:at] + b"z" + good[at + 1 :])
    assert "too big" in _stream_refused(b" " * (ota_manifest.MAX_BYTES + 1))
    s = ota_manifest.Stream(len(good))
    s.update(memoryview(good)[:100])
    _pin()
    try:
        s.verify(PUB)
        raise AssertionError("accepted")
    except ota_manifest.ManifestError as e:
        assert "truncated" in str(e)


class _File:
    """A binary file object over bytes (readinto), small reads."""

    def __init__(self, data):
        self.data = data
        self.at = 0

    def readinto(self, buf):
        n = min(len(buf), len(self.data) - self.at, 5)
        buf[:n] = self.data[self.at : self.at + n]
        self.at += n
        return n


def _entries(data):
    it = ota_manifest.Entries(_File(data), bytearray(16))
    out = []
    while True:
        e = it.next()
        if e is None:
            break
        out.append(e)
    return out, it.head()


def test_entries_reads_each_file_then_the_head():
    fw = {"path": "micropython.app-bin", "size": 9, "sha256": SHA}
    b = body(firmware=fw)
    b["files"].append({"path": 'odd{[",]}\\name.mpy', "size": 1, "sha256": SHA})
    data = signed(b)
    # The odd path is not a safe path: refused when its entry comes.
    _pin()
    try:
        _entries(data)
        raise AssertionError("accepted")
    except ota_manifest.ManifestError as e:
        assert "safe relative path" in str(e)
    b["files"][-1]["path"] = "www/odd{[,]}name.css"
    files, head = _entries(signed(b))
    assert files == b["files"]
    assert head["files"] == [] and head["firmware"] == fw and head["version"] == "1.2.0"
    m = ota_manifest.check_head(head, "esp32", "1.1.0", micropython=MP, files=False)
    assert "sig" not in m
    _pin()
    try:
        ota_manifest.check_head(head, "esp8266", "1.1.0", micropython=MP, files=False)
        raise AssertionError("accepted")
    except ota_manifest.ManifestError as e:
        assert "board" in str(e)


def test_entries_refuses_a_cut_manifest():
    data = signed(body())
    _pin()
    try:
        _entries(data[: len(data) // 2])
        raise AssertionError("accepted")
    except ota_manifest.ManifestError as e:
        assert "middle" in str(e)


if __name__ == "__main__":
    import mpunit

    mpunit.main(globals())
