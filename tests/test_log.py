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
    ring = log.Ring(100)
    buf = ring.buf
    assert ring.recent() == []
    for i in range(200):
        ring.add("entry %03d %s" % (i, "x" * (i % 17)))
        assert ring.buf is buf and len(buf) == 100
        got = ring.recent()
        assert got and got[-1].startswith("entry %03d" % i)
        # whole lines only, in order, nothing older than what fits
        nums = [int(x.split()[1]) for x in got]
        assert nums == list(range(i - len(got) + 1, i + 1))
        assert sum(len(x) + 1 for x in got) <= 100


def test_ring_exact_fit_and_overlong_line():
    ring = log.Ring(10)
    ring.add("abcd")  # 5 bytes with its newline
    assert ring.recent() == ["abcd"]
    ring.add("efgh")  # fills the ring: once it has wrapped, the oldest line is not trusted
    assert ring.recent() == ["efgh"]
    ring.add("0123456789ABCDEF")  # longer than the ring: its end is kept
    assert ring.recent() == ["89ABCDEF"]
    ring.add("é")  # UTF-8, two bytes
    assert ring.recent()[-1] == "é"


def test_ring_size_in_lines_still_accepted():
    log.basicConfig(console=False, ring_size=3)
    assert len(log.ring.buf) == 3 * 128
    log.basicConfig(console=False, ring_bytes=100, ring_size=3)
    assert len(log.ring.buf) == 100


def test_get_logger_returns_same_object():
    assert log.getLogger("a") is log.getLogger("a")


def test_bad_format_args_do_not_raise():
    log.basicConfig(level=log.DEBUG, console=False, ring_bytes=200)
    log.getLogger("x").warning("%d items", "not a number")
    assert "WARNING x:" in log.recent()[-1]


def test_logger_level_overrides_global():
    log.basicConfig(level=log.ERROR, console=False, ring_bytes=200)
    lg = log.getLogger("verbose")
    lg.setLevel(log.DEBUG)
    lg.debug("shown")
    assert log.recent()[-1].endswith("DEBUG verbose: shown")
    lg.log(25, "custom level")
    assert log.recent()[-1].endswith("25 verbose: custom level")
    lg.setLevel(0)


if __name__ == "__main__":
    import mpunit

    mpunit.main(globals())
