# micropython: also
"""firmware/crashlog.py: the crash record, when a boot stays in safe mode, and describe()."""

import os

from firmware import crashlog as crash

_PID = os.getpid() if hasattr(os, "getpid") else 0
_DIR = "/tmp/linky-test-crash-%d" % _PID


def _fresh():
    # Each test: an empty directory as the board's filesystem; crash.json lives in the cwd.
    try:
        os.mkdir(_DIR)
    except OSError:
        pass
    for name in os.listdir(_DIR):
        os.remove(_DIR + "/" + name)
    os.chdir(_DIR)


def _crash_loop(n, up_ms=2000, cause="hard"):
    # n boots that each crash after up_ms; (safe?, record) as seen by the boot after them.
    safe = False
    for _ in range(n):
        safe, _d = crash.note_boot(cause)
        if safe:
            return safe, _d
        crash.record("boom", up_ms, cause)
    return crash.note_boot(cause)


def _in_root(fn):
    here = os.getcwd()
    _fresh()
    try:
        fn()
    finally:
        os.chdir(here)


def test_first_boot_is_not_safe_and_writes_nothing():
    def t():
        assert crash.note_boot("power")[0] is False
        assert "crash.json" not in os.listdir(".")
        assert crash.last() is None

    _in_root(t)


def test_three_quick_crashes_mean_safe_mode():
    def t():
        assert _crash_loop(2)[0] is False
        _fresh()
        safe, d = _crash_loop(3)
        assert safe is True
        assert d["chain"] == [2, 2, 2] and len(d["crashes"]) == crash.KEEP
        assert crash.last()["what"] == "boom" and crash.last()["reset"] == "hard"

    _in_root(t)


def test_slow_crashes_do_not_mean_safe_mode():
    def t():
        # three crashes, each after two minutes: 360 s in all, over the 300 s window
        assert _crash_loop(3, up_ms=120000)[0] is False

    _in_root(t)


def test_a_clean_boot_breaks_the_chain():
    def t():
        _crash_loop(2)
        crash.note_boot("hard")  # this boot ends without a crash (a reset asked for)
        assert crash.note_boot("hard")[0] is False
        crash.record("boom", 1000)
        assert crash.note_boot("hard")[0] is False  # one crash since the clean boot

    _in_root(t)


def test_safe_mode_lasts_one_boot_and_power_cycle_clears():
    def t():
        assert _crash_loop(3)[0] is True
        # the next boot (the user pressed reset) tries the app again
        assert crash.note_boot("hard")[0] is False
        _fresh()
        _crash_loop(2)
        crash.record("boom", 1000)
        assert crash.note_boot("power")[0] is False  # power cycled: a new chance

    _in_root(t)


def test_watchdog_resets_count_as_crashes():
    def t():
        crash.note_boot("power")
        for _ in range(2):
            assert crash.note_boot("wdt")[0] is False
        safe, d = crash.note_boot("wdt")
        assert safe is True
        assert d["crashes"][-1]["what"] == "watchdog"

    _in_root(t)


def test_unreadable_record_is_a_fresh_start():
    def t():
        for text in ("{", "[]", '{"chain": "x", "crashes": 3}', '{"chain": [-1, "a", 1e9]}'):
            with open(crash.CRASH_FILE, "w") as f:
                f.write(text)
            assert crash.note_boot("hard")[0] is False, text
            crash.last()  # never raises

    _in_root(t)


def test_a_rollback_note_is_shown_but_is_no_crash():
    def t():
        crash.note_boot("power")
        crash.record("boom", 1000)
        crash.note("rollback: 2.0.0 rolled back: crashed: boom")
        assert crash.last()["what"].startswith("rollback: 2.0.0")
        d = crash.note_boot("hard")[1]
        assert d["chain"] == [1]  # the crash counts towards safe mode, the note does not
        for _ in range(5):
            crash.note("rollback: x")
        assert len(crash.note_boot("hard")[1]["crashes"]) == crash.KEEP

    _in_root(t)


def test_describe_names_the_exception_and_place():
    def inner():
        raise ValueError("bad thing")

    try:
        inner()
    except ValueError as e:
        text = crash.describe(e)
    assert text.startswith("ValueError(")
    assert "bad thing" in text and "test_crashlog.py" in text
    assert len(crash.describe(RuntimeError("x" * 1000))) <= 240


if __name__ == "__main__":
    import mpunit

    mpunit.main(globals())
