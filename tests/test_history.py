# micropython: also
"""firmware/history.py on CPython and the unix port: points from real frames (PAPP in
historique, SINSTS and SINSTI in standard), the missing marker, the ring's order and wrap, the
JSON (firmware/web_state.py streams it) through buffers of any size (exact length, points fixed
at the call), the clamp and the fixed arrays."""

import json

import web_paths
from reader_drive import EtxPort

from firmware.history import MISSING, History
from firmware.readings import Readings
from firmware.tic_reader import TicReader
from firmware.web_state import Points
from tic import labels
from tic.guard import IndexGuard

CAP = web_paths.ROOT + "/tests/fixtures/captures/"


def _readings(name, baud):
    rd = Readings(IndexGuard())
    with open(CAP + name, "rb") as f:
        data = f.read()
    port = EtxPort(data, baud)
    r = TicReader(port, baud=baud, guard=rd.guard, on_frame=rd.on_frame)
    while port.pos < len(data):
        r.poll(port.pos * 10000 // baud)
        if r.events:
            r.service()
    return rd


def _stream(h, now=0, size=64):
    """The producer's bytes, read through a buffer of `size` (as lib/httpd.py does)."""
    f = Points(h, now)
    buf = bytearray(size)
    out = b""
    while True:
        k = f.readinto(buf)
        if not k:
            break
        out += bytes(buf[:k])
    f.close()
    if len(out) != f.size:
        raise AssertionError("size %d, sent %d" % (f.size, len(out)))
    return out


def _json(h, now=0, size=64):
    return json.loads(_stream(h, now, size))


def test_standard_and_historique_points():
    rd = _readings("std-tri-tempo-teleinfo-nom.raw", 9600)
    h = History(points=4)
    h.sample(rd)
    assert h.papp[0] == rd.int_value(labels.index("SINSTS")) == 2700
    assert h.injected[0] == MISSING  # not a producer
    rd = _readings("hist-mono-tempo-teleinfo-nom.raw", 1200)
    h2 = History(points=4)
    h2.sample(rd)
    assert h2.papp[0] == rd.int_value(labels.index("PAPP")) > 0
    d = _json(h2, 42)
    assert d == {"period_s": 10, "now_s": 42, "papp": [h2.papp[0]], "injected": [None]}


def test_missing_when_no_new_frame_and_ring_order():
    rd = _readings("std-tri-tempo-teleinfo-nom.raw", 9600)
    h = History(points=3)
    assert _json(h) == {"period_s": 10, "now_s": 0, "papp": [], "injected": []}
    h.sample(rd)
    h.sample(rd)  # no frame since: missing
    assert _json(h)["papp"] == [2700, None]
    rd.seq += 1  # a new frame (same values)
    h.sample(rd)
    rd.seq += 1
    h.sample(rd)  # wraps: the oldest goes
    assert h.count == 3 and _json(h)["papp"] == [None, 2700, 2700]
    for _ in range(5):  # around the ring again
        rd.seq += 1
        h.sample(rd)
    assert h.count == 3 and _json(h)["papp"] == [2700, 2700, 2700]


def test_clamp_and_fixed_arrays():
    h = History()
    assert h.points == 360 and len(h.papp) == 361 and len(h.injected) == 361
    assert h.papp.itemsize == 2 if hasattr(h.papp, "itemsize") else True

    class Fake:  # the readings' reading side (the hardware edge is not involved)
        seq = 1

        def present(self, r):
            return True

        def int_value(self, r):
            return 99999

    h.sample(Fake())
    assert h.papp[0] == MISSING - 1 and h.injected[0] == MISSING - 1
    for i in range(400):
        Fake.seq = i + 2
        h.sample(Fake())
    d = _json(h)
    assert len(d["papp"]) == 360 and d["papp"][0] == 65534


def test_any_buffer_size_gives_the_same_bytes():
    h = History(points=360)

    class Fake:
        seq = 0

        @staticmethod
        def present(r):
            return True

        @staticmethod
        def int_value(r):
            return 12345 if Fake.seq % 3 else 7

    whole = _stream(h, 5, 64)
    assert json.loads(whole) == {"period_s": 10, "now_s": 5, "papp": [], "injected": []}
    for i in range(400):
        Fake.seq = i + 2
        h.sample(Fake())
        if i == 200:
            h.sample(Fake())  # no frame since the last sample: a missing point
    whole = _stream(h, 4000000000, 4096)
    d = json.loads(whole)
    assert len(d["papp"]) == 360 and d["now_s"] == 4000000000 and None in d["papp"]
    for size in (64, 65, 100, 1000, 1024, 2048):
        assert _stream(h, 4000000000, size) == whole


def test_points_fixed_when_a_sample_comes_while_sending():
    """The history task samples every 10 s and an answer is sent within the server's 5 s: at
    most one sample lands while it streams, in the ring's spare slot."""
    h = History(points=4)

    class Fake:
        seq = 0
        v = 1

        @staticmethod
        def present(r):
            return True

        @staticmethod
        def int_value(r):
            return Fake.v

    for i in range(6):
        Fake.seq += 1
        Fake.v = 10 ** (i % 5)
        h.sample(Fake())
    before = _stream(h, 1, 4096)
    f = Points(h, 1)
    buf = bytearray(64)
    out = bytes(buf[: f.readinto(buf)])  # the head, the first point
    Fake.seq += 1
    Fake.v = 99999  # wider than any point sent
    h.sample(Fake())
    while True:
        k = f.readinto(buf)
        if not k:
            break
        out += bytes(buf[:k])
    assert out == before and len(out) == f.size


if __name__ == "__main__":
    import mpunit

    mpunit.main(globals())
