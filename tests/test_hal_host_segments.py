# micropython: also
"""The simulator's line model (tools/sim_line.py) on a line whose speed changes (a meter
switched from historique to standard mid-capture): speed inference per frame, the line-time
arithmetic of the segments, decoding at the right speed on each side of the change, argument
checks."""

from reader_drive import Clock

from tic import MODE_HISTORIQUE, MODE_STANDARD
from tic.encode import frame
from tic_helpers import read as _data
from tools import sim_line

CAPS = "tests/fixtures/captures/"


def _hist(k):
    return frame(
        MODE_HISTORIQUE,
        [("ADCO", "031961098836"), ("BASE", "%09d" % (1000 + k)), ("IINST", "002")],
    )


def _std(k):
    return frame(
        MODE_STANDARD, [("ADSC", "041776199277"), ("EAST", "%09d" % (1000 + k)), ("IRMS1", "002")]
    )


def _drain(src, clk, t_end, step=10):
    out = bytearray()
    buf = bytearray(64)
    t = clk.t
    while t < t_end:
        t += step
        clk.t = t
        while True:
            n = src.readinto(buf)
            if not n:
                break
            out.extend(buf[:n])
    return bytes(out)


def test_speed_inferred_frame_by_frame():
    hist = b"".join(_hist(k) for k in range(3))
    std = b"".join(_std(k) for k in range(3))
    assert sim_line.infer_segments(hist + std) == [(0, 1200), (len(hist), 9600)]
    assert sim_line.infer_segments(std + hist) == [(0, 9600), (len(std), 1200)]
    assert sim_line.infer_segments(hist + std + hist) == [
        (0, 1200),
        (len(hist), 9600),
        (len(hist + std), 1200),
    ]
    # A bit flip that turns a historique character into HT (an 'I' with bit 6 cleared) does
    # not make the frame standard: the majority of separators decides.
    flipped = hist.replace(b"IINST", b"\tINST", 1)
    assert flipped != hist and sim_line.infer_segments(flipped) == [(0, 1200)]
    # A part before the first STX takes the speed of the first frame.
    assert sim_line.infer_segments(b"xx" + std) == [(0, 9600)]
    assert sim_line.infer_segments(b"no frame here") == [(0, 1200)]
    # Real captures are one mode each.
    for name, baud in (
        ("hist-mono-tempo-teleinfo-nom.raw", 1200),
        ("std-tri-tempo-stream-errors-teleinfo-nom.raw", 9600),
        ("std-mono-hchp-goteleinfo.raw", 9600),
    ):
        assert sim_line.infer_segments(_data(CAPS + name)) == [(0, baud)]


def test_line_time_of_the_segments():
    hist = b"".join(_hist(k) for k in range(3))
    std = b"".join(_std(k) for k in range(3))
    src = sim_line.FileSource(hist + std, baud=1200, clock=Clock())
    assert src.segments == ((0, 1200), (len(hist), 9600))
    assert src.line_baud == 1200 and not src._uniform
    u = sim_line.UNITS_PER_S
    assert src.char_time(0) == 0
    assert src.char_time(len(hist)) == len(hist) * 10 * u // 1200
    assert src.char_time(len(hist) + 3) == src.char_time(len(hist)) + 3 * 10 * u // 9600
    assert src._dur == src.char_time(len(hist)) + len(std) * 10 * u // 9600
    # bit index and bit time are inverse, across the change and the loop
    for k in (
        0,
        7,
        10 * len(hist) - 1,
        10 * len(hist),
        10 * len(hist) + 13,
        10 * len(hist + std) + 5,
    ):
        t = src._bit_time(k)
        assert src._bit_index(t) == k and (k == 0 or src._bit_index(t - 1) == k - 1)


def test_each_side_decodes_at_its_own_speed():
    hist = b"".join(_hist(k) for k in range(4))
    std = b"".join(_std(k) for k in range(20))
    clk = Clock()
    src = sim_line.FileSource(hist + std, baud=1200, loop=False, clock=clk)
    t_cut = src.char_time(len(hist)) // sim_line.UNITS_PER_MS
    got = _drain(src, clk, t_cut)
    assert got == hist[: len(got)] and len(hist) - len(got) <= 1  # the last one in flight
    src.set_baud(9600)  # as auto-detection would, a little late
    clk.t += 100
    got = _drain(src, clk, clk.t + 1000)
    # The receiver starts mid-stream: after at most a few misread characters it is in step.
    start = std.find(got[-200:])
    assert start > 0 and std.startswith(got[-200:], start)
    # Once over, the line idles: nothing more.
    got = _drain(src, clk, clk.t + 1000)
    assert _drain(src, clk, clk.t + 1000) == b""


def test_wrong_speed_on_either_side_gives_no_group():
    hist = b"".join(_hist(k) for k in range(4))
    std = b"".join(_std(k) for k in range(20))
    clk = Clock()
    src = sim_line.FileSource(hist + std, baud=9600, loop=False, clock=clk)
    t_cut = src.char_time(len(hist)) // sim_line.UNITS_PER_MS
    garbled = _drain(src, clk, t_cut)
    assert len(garbled) > 50 and b"ADCO" not in garbled
    src.set_baud(1200)
    garbled = _drain(src, clk, clk.t + 1000)
    assert b"ADSC" not in garbled and b"EAST" not in garbled


def test_uniform_segments_keep_the_exact_path():
    data = _data(CAPS + "std-mono-hchp-goteleinfo.raw")
    clk = Clock()
    src = sim_line.FileSource(data, segments=[(0, 9600), (100, 9600)], baud=9600, clock=clk)
    assert src._uniform and src._matched
    assert _drain(src, clk, 500) == data[:480]


def test_bad_segments():
    data = b"\x02\nA B C\r\x03" * 10
    for segs, word in (
        ([], "byte 0"),
        ([(1, 1200)], "byte 0"),
        ([(0, 1200), (0, 9600)], "increasing"),
        ([(0, 1200), (30, 9600), (20, 1200)], "increasing"),
        ([(0, 1200), (len(data), 9600)], "increasing"),
        ([(0, 1234)], "baud"),
    ):
        try:
            sim_line.FileSource(data, segments=segs)
        except ValueError as e:
            assert word in str(e), (segs, str(e))
        else:
            raise AssertionError("accepted %r" % (segs,))


if __name__ == "__main__":
    import mpunit

    mpunit.main(globals())
