# micropython: also
"""Board profiles: the table's pins, overrides from config, and the validation messages."""

from firmware import boards


def _error(fn, *args, **kw):
    """The ValueError message fn raises (fails if it raises nothing)."""
    try:
        fn(*args, **kw)
    except ValueError as e:
        return str(e)
    raise AssertionError("no ValueError from %r %r" % (args, kw))


def test_every_listed_board_with_a_pin_validates():
    for name in boards.BOARDS:
        if boards.BOARDS[name].get("rx") is None:
            continue
        p = boards.profile(name)
        assert p.name == name
        assert p.rx == boards.BOARDS[name]["rx"]
        assert p.tx != p.rx


def test_known_pins():
    assert boards.profile("denky-d4").rx == 8
    d = boards.profile("denky32")
    assert (d.rx, d.enable) == (33, 4)
    assert boards.profile("wemos-tic-esp32").rx == 23
    assert boards.profile("wemos-tic-s2").rx == 11
    assert boards.profile("wemos-tic-s3").rx == 11
    assert boards.profile("wemos-tic-c3").rx == 4
    # The Hallard boards deliver a non-inverted signal with their own pull-up.
    assert not boards.profile("denky-d4").invert
    assert not boards.profile("denky-d4").pullup
    assert boards.profile(boards.DEFAULT_BOARD).name == boards.DEFAULT_BOARD


def test_uart_id_follows_the_chip():
    # S2 and C3 have no UART2; UART0 is the REPL everywhere.
    assert boards.profile("wemos-tic-c3").uart == 1
    assert boards.profile("wemos-tic-s2").uart == 1
    assert boards.profile("denky-d4").uart == 2
    assert "UART0" in _error(boards.profile, "wemos-tic-c3", uart=2)
    assert "uart" in _error(boards.profile, "denky-d4", uart=0)


def test_any_pin_boards_need_rx():
    msg = _error(boards.profile, "custom")
    assert "rx" in msg and "custom" in msg
    assert "rx" in _error(boards.profile, "pitinfo")
    p = boards.profile("pitinfo", rx=16)
    assert p.rx == 16 and p.pullup  # open drain: pull-up on by default


def test_custom_overrides():
    p = boards.profile("custom", rx=5, invert=True, pullup=True, enable=27, tx=25, uart=1)
    assert (p.rx, p.invert, p.pullup, p.enable, p.tx, p.uart) == (5, True, True, 27, 25, 1)
    d = p.as_dict()
    assert d["name"] == "custom" and d["rx"] == 5 and d["enable"] == 27


def test_unknown_board_lists_the_known_ones():
    msg = _error(boards.profile, "denky-d5")
    assert "denky-d5" in msg and "denky-d4" in msg and "wemos-tic-c3" in msg


def test_bad_pins():
    assert "not a GPIO" in _error(boards.profile, "custom", rx=40)
    assert "not a GPIO" in _error(boards.profile, "custom", rx=-1)
    assert "not a GPIO" in _error(boards.profile, "wemos-tic-c3", rx=22)
    assert "GPIO number" in _error(boards.profile, "custom", rx="GPIO5")
    assert "GPIO number" in _error(boards.profile, "custom", rx=True)
    # Input-only pins are fine for rx, not for outputs.
    assert boards.profile("custom", rx=36).rx == 36
    assert "input-only" in _error(boards.profile, "custom", rx=5, tx=34)
    assert "input-only" in _error(boards.profile, "custom", rx=5, enable=39)
    assert "both" in _error(boards.profile, "custom", rx=5, tx=5)
    assert "enable" in _error(boards.profile, "custom", rx=5, enable=5)


def test_bad_fields():
    assert "unknown field" in _error(boards.profile, "denky-d4", rxpin=3)
    assert "true or false" in _error(boards.profile, "denky-d4", invert="yes")
    assert "unknown chip" in _error(boards.profile, "custom", rx=5, chip="esp8266")
    assert boards.profile("denky-d4", invert=1).invert is True


def test_from_config():
    assert boards.profile_from_config(None).name == boards.DEFAULT_BOARD
    assert boards.profile_from_config({}).name == boards.DEFAULT_BOARD
    p = boards.profile_from_config({"board": "denky32", "rx": None, "pullup": True})
    assert (p.rx, p.enable, p.pullup) == (33, 4, True)
    p = boards.profile_from_config({"board": "custom", "rx": 21, "invert": True})
    assert (p.rx, p.invert) == (21, True)
    assert "mapping" in _error(boards.profile_from_config, "denky-d4")
    assert "unknown board" in _error(boards.profile_from_config, {"board": "nope"})


def test_table_is_extensible():
    boards.BOARDS["my-board"] = {"chip": "esp32", "rx": 27, "notes": "test"}
    try:
        p = boards.profile("my-board")
        assert (p.rx, p.tx, p.uart, p.notes) == (27, 26, 2, "test")
    finally:
        del boards.BOARDS["my-board"]


if __name__ == "__main__":
    import mpunit

    mpunit.main(globals())
