# micropython: also
"""lib/log.py: levels, lazy formatting, and the fixed-size ring of recent lines."""

import log


def test_levels_filter_and_ring_keeps_recent():
    log.basicConfig(level=log.INFO, console=False, ring_bytes=64)
    lg = log.getLogger("t")
    lg.debug("hidden %d", 1)
    for i in range(5):
        lg.info("line %d", i)
    lines = log.recent()
    # each line is "S.mmm INFO t: line N" (about 21 bytes + newline)
    assert 2 <= len(lines) <= 3
    assert lines[-1].endswith("INFO t: line 4")
    assert all(x.endswith("INFO t: line %d" % (5 - len(lines) + i)) for i, x in enumerate(lines))


def test_ring_is_a_fixed_buffer_and_wraps_cleanly():
    log.basicConfig(console=False, ring_bytes=100)
    buf = log._buf
    assert log.recent() == []
    for i in range(200):
        log._add("entry %03d %s" % (i, "x" * (i % 17)))
        assert log._buf is buf and len(buf) == 100
        got = log.recent()
        assert got and got[-1].startswith("entry %03d" % i)
        # whole lines only, in order, nothing older than what fits
        nums = [int(x.split()[1]) for x in got]
        assert nums == list(range(i - len(got) + 1, i + 1))
        assert sum(len(x) + 1 for x in got) <= 100


def test_ring_exact_fit_and_overlong_line():
    log.basicConfig(console=False, ring_bytes=10)
    log._add("abcd")  # 5 bytes with its newline
    assert log.recent() == ["abcd"]
    log._add("efgh")  # fills the ring: once it has wrapped, the oldest line is not trusted
    assert log.recent() == ["efgh"]
    log._add("0123456789ABCDEF")  # longer than the ring: its end is kept
    assert log.recent() == ["89ABCDEF"]
    log._add("é")  # UTF-8, two bytes
    assert log.recent()[-1] == "é"


def test_default_ring_is_1k():
    assert log.RING_BYTES == 1024


def test_ring_size_in_lines_still_accepted():
    log.basicConfig(console=False, ring_size=3)
    assert len(log._buf) == 3 * 128
    log.basicConfig(console=False, ring_bytes=100, ring_size=3)
    assert len(log._buf) == 100


def test_get_logger_is_its_name():
    log.basicConfig(level=log.INFO, console=False, ring_bytes=200)
    a = log.getLogger("a")
    assert a.name == "a" and log.getLogger("a").name == "a"
    assert a.isEnabledFor(log.INFO) and not a.isEnabledFor(log.DEBUG)


def test_bad_format_args_do_not_raise():
    log.basicConfig(level=log.DEBUG, console=False, ring_bytes=200)
    log.getLogger("x").warning("%d items", "not a number")
    assert "WARNING x:" in log.recent()[-1]


def test_levels_and_their_names():
    log.basicConfig(level=log.DEBUG, console=False, ring_bytes=300)
    lg = log.getLogger("v")
    lg.debug("d")
    lg.info("i %s", "x")
    lg.warning("w")
    lg.error("e")
    lg.exception("x %d", 1, exc=ValueError("boom"))
    lg.log(25, "custom level")
    lg.log(log.CRITICAL, "c")
    tails = [ln.split(" ", 1)[1] for ln in log.recent()]
    assert tails == [
        "DEBUG v: d",
        "INFO v: i x",
        "WARNING v: w",
        "ERROR v: e",
        "ERROR v: x 1",
        "25 v: custom level",
        "CRITICAL v: c",
    ]
    log.basicConfig(level=log.ERROR, console=False, ring_bytes=300)
    lg.warning("hidden")
    assert log.recent() == []


if __name__ == "__main__":
    import mpunit

    mpunit.main(globals())
