# micropython: also
"""lib/ha_tpl.py and tools/ha_gen.py: the configs streamed from the templates file are
byte-identical to lib/ha.py's (the reference) for every entity of both modes and odd settings;
a missing or corrupt file is refused with OSError / ValueError, and a discovery round
(firmware/mqtt_round.py, real Publisher, client and readings store; the broker in memory at the
socket edge) then logs one error, sends nothing and publishing goes on."""

import asyncio
import gc
import os
import sys

sys.path.append("tools")

import ha
import ha_gen
import ha_tpl
import mqtt
from firmware import mqtt_round
from firmware.mqtt_pub import Publisher
from firmware.readings import Readings
from firmware.version import VERSION
from mqtt_fake import FakeBroker, run
from tic import MODE_HISTORIQUE, MODE_STANDARD, labels
from tic.guard import IndexGuard
from tic.parser import Parser
from tic_helpers import CAPTURES, read

BOTH = (MODE_HISTORIQUE, MODE_STANDARD)
# (meter id, prefix, ha prefix, version): defaults; 32-byte prefixes with quotes, backslashes,
# control characters and UTF-8, a 24-byte version; an unknown meter type; made in 199x.
SETTINGS = (
    ("041776199277", "linky", "homeassistant", "0.2.0-dev"),
    ("009975123456", 'a"b\\c/d\x01e' + "é" * 4 + "x" * 15, 'h"a\\' + "ü" * 2 + "y" * 24,
     "1.2.3-rc.4+g0123456789ab"),
    ("629461000001", "", "", ""),
    ("999999999999", "p" * 32, "q" * 32, "v" * 24),
)  # fmt: skip
_DATA = None


def _data():
    """The templates file's bytes (generated once)."""
    global _DATA
    if _DATA is None:
        _DATA = ha_gen.generate()
    return _DATA


# This run's own files: two runs of the module at once (pytest workers, or two checkouts)
# must not overwrite each other's templates file. They are removed when the process ends.
_TAG = "%08x" % int.from_bytes(os.urandom(4), "big")
_MADE = []


def _cleanup():
    for p in _MADE:
        try:
            os.remove(p)
        except OSError:
            pass


if hasattr(sys, "atexit"):  # MicroPython's unix port: one function
    sys.atexit(_cleanup)
else:
    import atexit

    atexit.register(_cleanup)


def _path(name="ha_tpl"):
    try:
        import tempfile

        d = tempfile.gettempdir()
    except ImportError:  # MicroPython
        d = "/tmp"
    return "%s/%s-%s-%s.bin" % (d, name, sys.implementation.name, _TAG)


def _file(data=None, name="ha_tpl"):
    """Write data (default: the generated file) and point ha_tpl.PATH at it."""
    p = _path(name)
    if p not in _MADE:
        _MADE.append(p)
    with open(p, "wb") as f:
        f.write(_data() if data is None else data)
    ha_tpl.PATH = p
    return p


def _entities():
    # Every code that has an entity (the reference's object ids).
    d = ha.Discovery("041776199277", MODE_STANDARD)
    out = []
    for code in range(ha.SET_BYTES * 8):
        try:
            d.object_id(code)
        except ValueError:
            continue
        out.append(code)
    return out


def test_every_config_is_byte_identical_to_the_reference():
    _file()
    codes = _entities()
    assert len(codes) == labels.COUNT + len(ha.KEYS) + len(ha.DIAG_KEYS)
    buf, tbuf = bytearray(ha.PAYLOAD_MAX), bytearray(ha.TOPIC_MAX)
    out, tout = bytearray(ha.PAYLOAD_MAX), bytearray(ha.TOPIC_MAX)
    longest = 0
    for mode in BOTH:
        for mid, prefix, ha_prefix, version in SETTINGS:
            d = ha.Discovery(mid, mode, prefix=prefix, ha_prefix=ha_prefix, version=version)
            t = ha_tpl.Templates(mid, mode, prefix, ha_prefix, version)
            try:
                for code in codes:
                    n = d.config(code, buf)
                    k = d.topic(code, tbuf)
                    tn = t.config(code, tout, out)
                    tk = t.tn
                    assert out[:tn] == buf[:n], (mode, mid, code, bytes(out[:tn]))
                    assert tout[:tk] == tbuf[:k], (mode, mid, code, bytes(tout[:tk]))
                    assert t.topic(code, tout) == k and tout[:k] == tbuf[:k]
                    longest = max(longest, n)
            finally:
                t.close()
    assert longest <= ha.PAYLOAD_MAX


def test_a_buffer_too_small_and_unknown_codes_are_refused():
    _file()
    t = ha_tpl.Templates("041776199277", MODE_STANDARD)
    try:
        for code in (-1, ha.SET_BYTES * 8, labels.COUNT + 1, ha.DECODED + len(ha.KEYS)):
            _refused(t.config, code, bytearray(128), bytearray(768))
        _refused(t.config, 0, bytearray(128), bytearray(100))
        _refused(t.config, 0, bytearray(10), bytearray(768))
        _refused(t.topic, 0, bytearray(10))
    finally:
        t.close()
    for raw in (bytearray(10), bytearray(2048), memoryview(bytearray(1024))[600:]):
        t = ha_tpl.Templates("041776199277", MODE_STANDARD, raw=raw)  # short: its own
        try:
            out = bytearray(768)
            d = ha.Discovery("041776199277", MODE_STANDARD)
            ref = bytearray(768)
            assert out[: t.config(0, bytearray(128), out)] == ref[: d.config(0, ref)]
        finally:
            t.close()
    for mid in ("04177619927", "04177619927x", ""):
        _refused(ha_tpl.Templates, mid, MODE_STANDARD)
    _refused(ha_tpl.Templates, "041776199277", 3)


def _refused(fn, *args, err=ValueError):
    try:
        r = fn(*args)
    except err:
        return
    raise AssertionError("not refused: %r -> %r" % (args, r))


def test_sets_and_layout_agree_with_the_reference():
    # The device's private consts against lib/ha.py's and tools/ha_gen.py's names.
    for mode in BOTH:
        s = ha_tpl.possible(mode)
        for k in range(len(ha.KEYS)):
            assert ha_tpl.has(s, ha.DECODED + k) == bool(ha._KEY_BITS[k] & mode), (mode, k)
        diag = [c for c in ha_tpl.codes(s) if c >= ha.DIAG]
        assert diag == list(range(ha.DIAG, ha.DIAG + len(ha.DIAG_KEYS)))
    s = ha_tpl.select([labels.index("PTEC")], MODE_HISTORIQUE)
    assert ha_tpl.has(s, ha.DECODED) and ha_tpl.has(s, ha.DECODED + 6)
    s = ha_tpl.select([labels.index("STGE")], MODE_STANDARD)
    assert [c - ha.DECODED for c in ha_tpl.codes(s) if ha.DECODED <= c < ha.DIAG] == [
        3,
        4,
        5,
        6,
        8,
    ]
    data = _data()
    assert data[:4] == ha_gen.MAGIC and data[4] == ha_gen.FORMAT
    assert ha_gen.CODES == ha.SET_BYTES * 8
    assert int.from_bytes(data[6:8], "big") == ha_gen.SLOTS
    assert int.from_bytes(data[8:12], "big") == len(data)


def test_the_file_is_reproducible_and_small():
    a = _data()
    assert ha_gen.generate() == a
    assert len(a) < 48 * 1024, len(a)  # 37.4 KB at 2026-12-02


def test_a_missing_file_is_an_oserror():
    ha_tpl.PATH = _path("missing")
    try:
        import os

        os.remove(ha_tpl.PATH)
    except OSError:
        pass
    _refused(ha_tpl.Templates, "041776199277", MODE_STANDARD, err=OSError)


def test_the_file_is_found_beside_the_module_or_in_a_frozen_image():
    """Imported from a file, the templates are beside the module (build/device/lib/ on the
    host, /lib on a board). Frozen into a MicroPython image, the module's __file__ is its
    name in the image, `ha_tpl.py`: the file is then looked for along sys.path, as modules
    are: an update's app folder's lib/ (its data files go with the image's code), else the
    root's lib/ (make deploy-image); lib/ha_tpl.bin under the current folder when none has
    it. Faked here: __file__, sys.path and a folder as the board's root."""
    d = "/tmp/linky-test-tpl-%d" % (os.getpid() if hasattr(os, "getpid") else 0)
    saved = ha_tpl.PATH, ha_tpl.__file__, list(sys.path), os.getcwd()

    def path_is(entries, want):
        del sys.path[:]
        sys.path.extend(entries)
        assert ha_tpl.path() == want, (entries, ha_tpl.path())

    made = []
    try:
        ha_tpl.PATH = None
        ha_tpl.__file__ = "/flash/lib/ha_tpl.mpy"
        assert ha_tpl.path() == "/flash/lib/ha_tpl.bin"
        ha_tpl.__file__ = "app_a/lib/ha_tpl.mpy"  # an update's app folder
        path_is(["lib", "app_b/lib"], "app_a/lib/ha_tpl.bin")  # beside it, whatever the path
        for p in (d, d + "/app_a", d + "/app_a/lib", d + "/lib", d + "/.frozen"):
            os.mkdir(p)
            made.insert(0, p)
        os.chdir(d)
        for p in ("app_a/lib/ha_tpl.bin", "lib/ha_tpl.bin", ".frozen/ha_tpl.bin"):
            open(p, "wb").close()
            made.insert(0, d + "/" + p)
        ha_tpl.__file__ = "ha_tpl.py"  # frozen
        board = ["", ".frozen", d + "/lib"]  # a board's sys.path ("/lib" there)
        path_is(["app_a", "app_a/lib"] + board, "app_a/lib/ha_tpl.bin")
        path_is([".frozen"] + board, d + "/lib/ha_tpl.bin")
        path_is(["app_b", "app_b/lib"] + board, d + "/lib/ha_tpl.bin")  # no templates there
        path_is(["", ".frozen"], "lib/ha_tpl.bin")  # none on the path: today's answer
        ha_tpl.PATH = "/x/t.bin"
        assert ha_tpl.path() == "/x/t.bin"
    finally:
        ha_tpl.PATH, ha_tpl.__file__ = saved[:2]
        del sys.path[:]
        sys.path.extend(saved[2])
        os.chdir(saved[3])
        for p in made:
            try:
                os.remove(p)
            except OSError:
                os.rmdir(p)


def _corrupt():
    """(what, bytes) of damaged files."""
    d = _data()
    yield "empty", b""
    yield "truncated", d[: len(d) // 2]
    yield "header only", d[:16]
    yield "magic", b"XXXX" + d[4:]
    yield "format", d[:4] + b"\x09" + d[5:]
    yield "one byte more", d + b"\0"
    o = 16 + 2 * (ha_gen.CODES + 0)  # standard mode, ADCO's row 0... any used slot
    yield "offset out of range", d[:o] + b"\xff\xff" + d[o + 2 :]
    yield "offset into the index", d[:o] + b"\x00\x10" + d[o + 2 :]
    # the device block's record with a length past the end of the file
    dev = 16 + 2 * ha_gen.DEV
    at = int.from_bytes(d[dev : dev + 2], "big")
    yield "record length", d[:at] + b"\xff\xff\xff" + d[at + 3 :]
    yield "longest record", d[:12] + b"\x00\x04" + d[14:]


def test_a_corrupt_file_is_a_valueerror():
    for what, data in _corrupt():
        _file(data, "corrupt")
        try:
            t = ha_tpl.Templates("041776199277", MODE_STANDARD)
        except ValueError:
            continue
        try:  # refused when a record is read, if not at opening
            for code in _entities():
                t.config(code, bytearray(128), bytearray(768))
        except ValueError:
            continue
        finally:
            t.close()
        raise AssertionError("corrupt file accepted: " + what)


# ---- the round (firmware/mqtt_round.py) on a real Publisher


class _App:
    """What the Publisher reads of the application (settings, readings) and spare()."""

    def __init__(self, rd):
        self.settings = {"mqtt_prefix": "linky", "ha_prefix": "homeassistant",
                         "per_label_topics": False}  # fmt: skip
        self.readings = rd
        self.spared = 0

    def spare(self, keep):
        self.spared += 1
        if not keep:
            gc.collect()


def _publisher(capture):
    guard = IndexGuard()
    rd = Readings(guard)
    t = [0]

    def on(f):
        if f.n:
            t[0] += 1000
            rd.update(f, guard.check_frame(f, t[0]), t[0])

    p = Parser(on_frame=on)
    data = read(CAPTURES + capture)
    for _ in range(4):  # ids and indexes confirmed over a few frames
        for k in range(0, len(data), 512):
            p.feed(data[k : k + 512])
    pub = Publisher(_App(rd))
    idb = bytearray(16)
    n = rd.copy_meter_id(idb)
    pub._id = bytes(idb[:n])
    pub.meter = pub._id.decode()
    pub.base = b"linky/" + pub._id
    return pub


def _round(pub, added=False):
    b = FakeBroker()
    c = mqtt.MQTTClient("dev1", "127.0.0.1", open_stream=b.open, timeout_ms=300)

    async def main():
        await c.connect()
        sys.modules["ha_tpl"] = ha_tpl  # with its PATH: the round drops it at its end
        await mqtt_round.round(pub, c, added)
        await pub.publish_state(c)  # publishing goes on
        await c.disconnect()

    run(main())
    out = []
    for op, body in b.of_type(0x30):
        k = body[0] << 8 | body[1]
        topic = body[2 : 2 + k]
        payload = body[2 + k + (2 if op & 6 else 0) :]
        out.append((bytes(topic), bytes(payload)))
    return out


def _reference(pub):
    rd = pub.rd
    d = ha.Discovery(pub.meter, rd.mode, version=VERSION)
    rows = [r for r in range(labels.COUNT) if rd.present(r)]
    buf, tbuf = bytearray(ha.PAYLOAD_MAX), bytearray(ha.TOPIC_MAX)
    tempo = rd.mode == MODE_STANDARD  # both standard captures are Tempo contracts
    out = []
    for code in ha.codes(ha.select(rows, rd.mode, tempo=tempo)):
        n = d.config(code, buf)
        out.append((bytes(tbuf[: d.topic(code, tbuf)]), bytes(buf[:n])))
    return out


def test_a_round_sends_the_reference_configs():
    if not hasattr(asyncio, "sleep_ms"):
        return  # CPython: the firmware's asyncio is MicroPython's (its [micropython] run)
    _file()
    for capture in ("std-tri-tempo-teleinfo-nom.raw", "hist-mono-tempo-teleinfo-nom.raw"):
        pub = _publisher(capture)
        sent = _round(pub)
        want = _reference(pub)
        assert sent[: len(want)] == want, capture
        assert [t for t, _ in sent[len(want) :]] == [b"linky/" + pub._id + b"/state"], capture
        assert not pub.in_round and pub.app.spared == 2
        assert "ha_tpl" not in sys.modules
        assert pub.bytes == sum(len(p) for _, p in sent)  # the configs' and the state's


def test_a_round_without_its_file_is_skipped_and_publishing_goes_on():
    if not hasattr(asyncio, "sleep_ms"):
        return  # CPython, as above
    for what, data in (("missing", None), ("truncated", _data()[:1000])):
        if data is None:
            ha_tpl.PATH = _path("missing")
        else:
            _file(data, "corrupt")
        pub = _publisher("std-tri-tempo-teleinfo-nom.raw")
        sent = _round(pub)
        assert [t for t, _ in sent] == [b"linky/" + pub._id + b"/state"], what
        assert not pub.in_round and pub._retry is None
        # the labels present count as announced: not again at every poll
        assert not pub._grew()
        assert "ha_tpl" not in sys.modules


if __name__ == "__main__":
    import mpunit

    mpunit.main(globals())
