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
        if boards.BOARDS[name][1] is None:
            continue
        p = boards.profile(name)
        assert p.name == name
        assert p.rx == boards.BOARDS[name][1]
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
    assert (p.name, p.chip, p.notes) == ("custom", "esp32", "")
    assert boards.profile("custom", rx=5, notes="garage").notes == "garage"


def test_unknown_board_lists_the_known_ones():
    msg = _error(boards.profile, "denky-d5")
    assert "denky-d5" in msg and "denky-d4" in msg and "wemos-tic-c3" in msg


def test_bad_pins():
    assert "rx=GPIO40 is not a GPIO" in _error(boards.profile, "custom", rx=40)
    assert "not a GPIO" in _error(boards.profile, "custom", rx=-1)
    assert "rx=GPIO22 is not a GPIO" in _error(boards.profile, "wemos-tic-c3", rx=22)
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
    boards.BOARDS["my-board"] = ("esp32", 27, None, False, (), "test")
    try:
        p = boards.profile("my-board")
        assert (p.rx, p.tx, p.uart, p.notes) == (27, 26, 2, "test")
    finally:
        del boards.BOARDS["my-board"]


# GPIOs that MicroPython v1.27 accepts (ports/esp32/machine_pin.h; else "invalid pin").
VALID = {
    "esp32": set(range(0, 24)) | {25, 26, 27} | set(range(32, 40)),
    "esp32s2": set(range(0, 22)) | {26} | set(range(33, 47)),
    "esp32s3": set(range(0, 22)) | {26} | set(range(33, 49)),
    "esp32c3": set(range(0, 14)) | set(range(18, 22)),
}
# Valid, but refused because they break the board (flash, USB, REPL UART, PSRAM, strap).
REFUSED_RX = {
    "esp32": {1, 3, 6, 7, 8, 9, 10, 11, 12},
    "esp32s2": {19, 20, 26, 43, 44},
    "esp32s3": {19, 20, 26, 43, 44},
    "esp32c3": {18, 19, 20, 21},
}


def _accepts(**kw):
    try:
        boards.profile("custom", **kw)
    except ValueError:
        return False
    return True


def test_rx_pins_accepted_per_chip():
    # Every pin of 0..49 as rx on each chip (tx moved out of the way when it collides).
    for chip in boards.CHIPS:
        for pin in range(50):
            tx = 5 if pin != 5 else 4
            got = _accepts(chip=chip, rx=pin, tx=tx, uart=1)
            want = pin in VALID[chip] and pin not in REFUSED_RX[chip]
            assert got == want, (chip, pin, got)
            if pin not in VALID[chip]:
                msg = _error(boards.profile, "custom", chip=chip, rx=pin, tx=tx, uart=1)
                assert ("rx=GPIO%d is not a GPIO of the %s" % (pin, chip)) in msg, msg


def test_invalid_gpio_message_lists_the_valid_ones():
    msg = _error(boards.profile, "custom", rx=24)
    assert "GPIO24" in msg and "0-23, 25-27, 32-39" in msg
    msg = _error(boards.profile, "custom", chip="esp32s3", rx=30, tx=13)
    assert "GPIO30" in msg and "0-21, 26, 33-48" in msg
    msg = _error(boards.profile, "custom", chip="esp32c3", rx=15, tx=7, uart=1)
    assert "GPIO15" in msg and "0-13, 18-21" in msg
    assert "tx=GPIO24" in _error(boards.profile, "custom", rx=5, tx=24)
    assert "enable=GPIO31" in _error(boards.profile, "custom", rx=5, enable=31)


def test_flash_pins_need_the_board_to_free_them():
    for pin in range(6, 12):
        msg = _error(boards.profile, "custom", rx=pin)
        assert ("rx=GPIO%d" % pin) in msg and "flash" in msg and "free_pins" in msg
        assert "flash" in _error(boards.profile, "custom", rx=5, tx=pin)
    # The Denky D4's ESP32-PICO-V3-02 leaves GPIO8 free: its profile lists it.
    assert boards.BOARDS["denky-d4"][4] == (8,)
    assert boards.profile("denky-d4").rx == 8
    assert "flash" in _error(boards.profile, "denky-d4", rx=7)
    boards.BOARDS["pico-board"] = ("esp32", 7, None, False, (7,))
    try:
        assert boards.profile("pico-board").rx == 7
        assert "flash" in _error(boards.profile, "pico-board", rx=9)
    finally:
        del boards.BOARDS["pico-board"]


def test_no_pullup_on_input_only_pads():
    for pin in range(34, 40):
        assert boards.profile("custom", rx=pin).rx == pin  # fine with the board's own pull-up
        msg = _error(boards.profile, "custom", rx=pin, pullup=True)
        assert ("rx=GPIO%d" % pin) in msg and "pull" in msg
        assert "GPIO%d" % pin in _error(boards.profile, "pitinfo", rx=pin)
    assert boards.profile("pitinfo", rx=33).pullup


def test_refused_pins_say_why():
    assert "REPL" in _error(boards.profile, "custom", rx=3)
    assert "REPL" in _error(boards.profile, "custom", rx=5, tx=1)
    assert "strap" in _error(boards.profile, "custom", rx=12)
    assert boards.profile("custom", rx=5, tx=12).tx == 12  # the strap is only harmful as rx
    assert "USB" in _error(boards.profile, "wemos-tic-s2", rx=19)
    assert "PSRAM" in _error(boards.profile, "wemos-tic-s3", rx=26)
    assert "USB" in _error(boards.profile, "wemos-tic-c3", rx=18)
    assert "REPL" in _error(boards.profile, "wemos-tic-c3", rx=20)
    assert "input-only" in _error(boards.profile, "wemos-tic-s2", rx=11, tx=46)


def test_board_pins_match_the_landscape_notes():
    # /work/shared/docs/landscape.md, "Boards" table: chip, TIC RX pin, enable pin.
    want = {
        "denky-d4": ("esp32", 8, None),
        "denky32": ("esp32", 33, 4),
        "wemos-tic-esp32": ("esp32", 23, None),
        "wemos-tic-s2": ("esp32s2", 11, None),
        "wemos-tic-s3": ("esp32s3", 11, None),
        "wemos-tic-c3": ("esp32c3", 4, None),
    }
    for name, (chip, rx, enable) in want.items():
        p = boards.profile(name)
        assert (p.chip, p.rx, p.enable) == (chip, rx, enable), name
        assert not p.invert and not p.pullup


if __name__ == "__main__":
    import mpunit

    mpunit.main(globals())
