# micropython: also
"""lib/log.py: levels, lazy formatting, and the bounded ring of recent lines."""

import log


def test_levels_filter_and_ring_keeps_recent():
    log.basicConfig(level=log.INFO, console=False, ring_size=3)
    lg = log.getLogger("t")
    lg.debug("hidden %d", 1)
    for i in range(5):
        lg.info("line %d", i)
    lines = log.recent()
    assert len(lines) == 3
    assert lines[0].endswith("INFO t: line 2")
    assert lines[-1].endswith("INFO t: line 4")


def test_get_logger_returns_same_object():
    assert log.getLogger("a") is log.getLogger("a")


def test_bad_format_args_do_not_raise():
    log.basicConfig(level=log.DEBUG, console=False, ring_size=2)
    log.getLogger("x").warning("%d items", "not a number")
    assert "WARNING x:" in log.recent()[-1]


def test_logger_level_overrides_global():
    log.basicConfig(level=log.ERROR, console=False, ring_size=4)
    lg = log.getLogger("verbose")
    lg.setLevel(log.DEBUG)
    lg.debug("shown")
    assert log.recent()[-1].endswith("DEBUG verbose: shown")
    lg.setLevel(0)


if __name__ == "__main__":
    import mpunit

    mpunit.main(globals())
