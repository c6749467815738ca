# micropython: also
"""The simulator's line model (tools/sim_line.py: line-speed arithmetic on an injected clock,
receive-buffer overflow, wrong-speed garbling, the endless ticsim line) and the host HAL's
parts that need no simulator (settings, reset cause, watchdog without a link, reset)."""

import os

from reader_drive import Clock

from firmware import hal
from firmware.hal import host
from tic.encode import checksum
from tic_helpers import read as _data
from tools import sim_line

CAP_STD = "tests/fixtures/captures/std-tri-tempo-teleinfo-nom.raw"  # 1795 bytes, 9600 Bd
CAP_HIST = "tests/fixtures/captures/hist-mono-tempo-teleinfo-nom.raw"  # 668 bytes, 1200 Bd


def _source(path, baud, **kw):
    clk = Clock()
    return _data(path), clk, sim_line.FileSource(_data(path), baud=baud, clock=clk, **kw)


def _drain(src, size=97):
    """Everything readable now, in reads of `size` bytes."""
    out = bytearray()
    buf = bytearray(size)
    while True:
        n = src.readinto(buf)
        if not n:
            return bytes(out)
        out.extend(buf[:n])


def test_line_speed_9600():
    data, clk, src = _source(CAP_STD, 9600)
    assert src.line_baud == 9600  # inferred: HT present
    assert src.readinto(bytearray(10)) is None
    # A character is 10 bits; it counts once the middle of its stop bit has passed:
    # 9.5 bits = 0.99 ms at 9600 Bd.
    clk.t = 1
    assert _drain(src) == data[:1]
    clk.t = 1000
    got = _drain(src)
    assert len(got) == 959
    assert data[:1] + got == data[:960]


def test_line_speed_1200():
    data, clk, src = _source(CAP_HIST, 1200)
    assert src.line_baud == 1200  # inferred: no HT
    clk.t = 7  # first stop bit middle at 7.9 ms
    assert src.readinto(bytearray(10)) is None
    clk.t = 8
    assert _drain(src) == data[:1]
    clk.t = 5000
    assert data[:1] + _drain(src) == data[:600]  # 120 characters a second


def test_chunking_and_read_times_do_not_change_the_bytes():
    data, clk, src = _source(CAP_STD, 9600)
    out = bytearray()
    for t in range(0, 1500, 7):
        clk.t = t
        out.extend(_drain(src, 1 + t % 13))
    clk.t = 1500
    out.extend(_drain(src, 5))
    assert bytes(out) == data[:1440]


def test_loops_by_default_and_once_stops():
    data, clk, src = _source(CAP_STD, 9600)
    clk.t = 2000
    assert _drain(src, 4096) == data + data[: 1920 - len(data)]
    data, clk, src = _source(CAP_STD, 9600, loop=False)
    clk.t = 2000
    assert _drain(src, 4096) == data
    clk.t = 9000
    assert src.readinto(bytearray(8)) is None


def test_receive_buffer_overflow_loses_the_newest_bytes():
    data, clk, src = _source(CAP_STD, 9600, rxbuf=100)
    clk.t = 1000  # 960 characters arrived, only 100 fitted
    assert src.any() == 100
    assert _drain(src, 64) == data[:100]
    assert src.overflows == 1
    clk.t = 1100  # reading resumed at 1000 ms: 96 new characters since
    assert _drain(src, 64) == data[960:1056]
    assert src.overflows == 1


def test_set_baud_flushes_what_was_buffered():
    data, clk, src = _source(CAP_STD, 9600)
    clk.t = 100
    assert src.any() == 96
    clk.t = 500
    src.set_baud(9600)
    assert src.any() == 0
    clk.t = 600
    assert _drain(src) == data[480:576]


def test_bit_model_at_the_right_speed_gives_the_bytes():
    # The wrong-speed receiver model, run at the line's own speed, must decode the line.
    data, clk, src = _source(CAP_STD, 9600)
    out = bytearray()
    buf = bytearray(50)
    for t in (3, 250, 251, 700, 1999, 2000):
        clk.t = t
        while True:
            n = src._read_garbled(buf, len(buf), src._advance())
            if not n:
                break
            out.extend(buf[:n])
    assert bytes(out) == data + data[: 1920 - len(data)]


def _valid_groups(stream):
    """Groups LF..CR whose checksum is right in either mode."""
    count = 0
    for part in stream.split(b"\n")[1:]:
        end = part.find(b"\r")
        if end < 3:
            continue
        g = part[:end]
        if g[-2] == 0x20 and checksum(g[:-2]) == g[-1]:
            count += 1
        elif g[-2] == 0x09 and checksum(g[:-1]) == g[-1]:
            count += 1
    return count


def _parsed(stream):
    try:
        from tic.parser import Parser
    except ImportError:  # parser not there yet: the group check alone decides
        return 0, 0
    p = Parser()
    p.feed(stream)
    return p.frames, p.groups


def test_wrong_speed_garbles_like_a_uart():
    data, clk, src = _source(CAP_STD, 1200)  # firmware at 1200 on a 9600 Bd line
    assert _valid_groups(data) > 0
    clk.t = 10000
    slow = _drain(src)
    assert 0 < len(slow) <= 1200 and slow not in data
    assert _valid_groups(slow) == 0
    assert _parsed(slow) == (0, 0)

    data, clk, src = _source(CAP_HIST, 9600)  # firmware at 9600 on a 1200 Bd line
    assert _valid_groups(data) > 0
    clk.t = 10000
    fast = _drain(src)
    assert len(fast) > 100
    assert _valid_groups(fast) == 0
    assert _parsed(fast) == (0, 0)
    # Back to the right speed: clean bytes again, from the next character on.
    src.set_baud(1200)
    clk.t = 20000
    assert _valid_groups(_drain(src)) > 0


def test_bad_arguments():
    for bad in (0, 1234, "9600"):
        try:
            sim_line.FileSource(b"abc", baud=bad)
        except ValueError as e:
            assert "baud" in str(e)
        else:
            raise AssertionError("baud %r accepted" % (bad,))
    try:
        sim_line.FileSource(b"", baud=9600)
    except ValueError:
        pass
    else:
        raise AssertionError("empty capture accepted")


def _setenv(name, value):
    if hasattr(os, "environ"):  # CPython: os.getenv reads os.environ
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    elif value is None:
        os.unsetenv(name)
    else:
        os.putenv(name, value)


def test_settings_come_from_the_environment_and_open_tic_needs_the_simulator():
    _setenv("LINKY_TEST_X", "42")
    try:
        assert hal.setting("TEST_X") == "42"
        assert hal.setting("TEST_Y", "d") == "d"
        # Without tools/sim.py's link there is no TIC input: a capture path is not enough.
        for spec in (None, "file:%s@9600" % CAP_STD, "link:nohost"):
            _setenv("LINKY_TIC", spec)
            host._link = None
            try:
                hal.open_tic(None, 9600)
            except ValueError as e:
                assert "link:HOST:PORT" in str(e), str(e)
            else:
                raise AssertionError("opened a TIC input from %r" % spec)
    finally:
        _setenv("LINKY_TEST_X", None)
        _setenv("LINKY_TIC", None)
        host._link = None
    assert hal.setting("TEST_X") is None


def test_hal_interface_on_the_host():
    assert hal.PLATFORM == "host"
    assert hal.open_tic is host.open_tic
    assert hal.RXBUF >= 4096
    assert len(hal.unique_id()) % 2 == 0
    int(hal.unique_id(), 16)


def test_reset_cause_is_what_the_simulator_says():
    # tools/sim.py sets LINKY_RESET_CAUSE (test_sim checks it sets power, hard and wdt).
    _setenv("LINKY_RESET_CAUSE", None)
    try:
        assert hal.reset_cause() == "power"  # run without the simulator: a first boot
        for cause in ("hard", "wdt"):
            _setenv("LINKY_RESET_CAUSE", cause)
            assert hal.reset_cause() == cause
    finally:
        _setenv("LINKY_RESET_CAUSE", None)


def test_watchdog_without_a_link_counts_feeds():
    _setenv("LINKY_TIC", None)
    host._link = None
    host._wdt = None
    assert host.stretch_watchdog(60000) is False  # none started
    wdt = host.watchdog(5000)
    assert wdt.feeds == 0
    wdt.feed()
    wdt.feed()
    assert wdt.feeds == 2 and wdt.timeout_ms == 5000
    assert host.stretch_watchdog(1800000) is True
    assert wdt.timeout_ms == 1800000
    for bad in (0, -5, "5000"):
        try:
            host.watchdog(bad)
        except ValueError:
            pass
        else:
            raise AssertionError("timeout %r accepted" % (bad,))
    host._wdt = None


def test_reset_exit_code_matches_the_simulator():
    # tools/upy.py is what tools/sim.py checks; the device cannot import it.
    with open("tools/upy.py") as f:
        text = f.read()
    assert "RESET_EXIT_CODE = %d\n" % host.RESET_EXIT_CODE in text
    try:
        hal.reset()
    except SystemExit as e:
        code = e.args[0] if e.args else None
        assert code == host.RESET_EXIT_CODE
    else:
        raise AssertionError("reset() returned")


def test_endless_ticsim_line_appends_ahead_and_changes_speed():
    hist = b"\x02\nADCO 031961098836 E\r\x03" * 3
    std = b"\x02\nADSC\t041776199277\tE\r\x03" * 30
    chunks = iter([(hist, 1200), (std, 9600)] + [(std, 9600)] * 50)
    clk = Clock()
    src = sim_line.MeterLine(chunks, baud=1200, clock=clk)
    assert src.segments == ((0, 1200), (len(hist), 9600))  # appended ahead, at init
    # Line time runs a second ahead of the clock: the historique part, then standard.
    assert src._dur >= sim_line.UNITS_PER_S
    t_cut = src.char_time(len(hist)) // sim_line.UNITS_PER_MS
    got = bytearray()
    buf = bytearray(64)
    for t in range(10, t_cut + 1, 10):
        clk.t = t
        n = src.readinto(buf)
        if n:
            got.extend(buf[:n])
    assert bytes(got) == hist[: len(got)] and len(hist) - len(got) <= 1
    src.set_baud(9600)
    got = bytearray()
    for t in range(clk.t + 10, clk.t + 1500, 10):
        clk.t = t
        n = src.readinto(buf)
        if n:
            got.extend(buf[:n])
    assert len(got) > 1000 and bytes(got[-300:]) in std * 2
    assert src._dur > clk.t * sim_line.UNITS_PER_MS  # still ahead


if __name__ == "__main__":
    import mpunit

    mpunit.main(globals())
