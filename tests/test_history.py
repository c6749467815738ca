# micropython: also
"""firmware/history.py on CPython and the unix port: points from real frames (PAPP in
historique, SINSTS and SINSTI in standard), the missing marker, the ring's order and wrap, the
JSON, the clamp, and the fixed arrays."""

import json

import web_paths
from reader_drive import EtxPort

from firmware.history import JSON_SIZE, MISSING, History
from firmware.readings import Readings
from firmware.tic_reader import TicReader
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


def _json(h, now=0, last=-1):
    buf = bytearray(JSON_SIZE(h.points))
    return json.loads(bytes(buf[: h.write_json(buf, now, last)]))


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
    assert _json(h, last=2)["papp"] == [2700, 2700]
    assert _json(h, last=0)["papp"] == []


def test_clamp_and_fixed_arrays():
    h = History()
    assert h.points == 360 and len(h.papp) == 360 and len(h.injected) == 360
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
    # _json wrote it into JSON_SIZE(360) bytes: the widest history fits


def test_small_buffer_raises():
    rd = _readings("std-tri-tempo-teleinfo-nom.raw", 9600)
    h = History(points=10)
    for _ in range(10):
        rd.seq += 1
        h.sample(rd)
    buf = bytearray(40)
    try:
        h.write_json(buf, 0)
        raise AssertionError("no error")
    except (ValueError, IndexError):
        pass


def test_fit_is_the_most_that_fits():
    h = History(points=360)

    class Fake:
        seq = 0

        @staticmethod
        def present(r):
            return True

        @staticmethod
        def int_value(r):
            return 12345 if Fake.seq % 3 else 7

    for i in range(360):
        Fake.seq = i + 2
        h.sample(Fake())
    for size in (100, 1000, 3072, JSON_SIZE(360)):
        buf = bytearray(size)
        n = h.fit(size)
        d = json.loads(bytes(buf[: h.write_json(buf, 4000000000, n)]))
        assert len(d["papp"]) == n and d["now_s"] == 4000000000
        if n < 360:  # one point more would not fit (fit() keeps 24 bytes of slack at most)
            assert h.write_json(bytearray(JSON_SIZE(360)), 4000000000, n + 1) > size - 24


if __name__ == "__main__":
    import mpunit

    mpunit.main(globals())
