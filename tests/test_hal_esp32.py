# micropython: also
"""firmware/hal/esp32.py with a fake `machine` at the pin edge (tests/fake_esp32/machine.py):
the UART's settings, the pin set-up order, no UART IRQ, the poll period, the watchdog."""

import esp32_loader

esp32, machine = esp32_loader.load()

from firmware import boards  # noqa: E402 (after the fake is loaded)

UART, Pin = machine.UART, machine.Pin


def _open(name="denky-d4", baud=1200, rxbuf=None, **over):
    machine.clear()
    p = boards.profile(name, **over)
    if rxbuf is None:
        return p, esp32.open_tic(p, baud)
    return p, esp32.open_tic(p, baud, rxbuf)


def _kinds(kind):
    return [c for c in machine.calls if c[0] == kind]


def test_uart_is_7e1_nonblocking_with_the_profile_pins():
    p, port = _open("denky-d4", 1200)
    (u,) = _kinds("uart")
    assert u[1] == p.uart == 2 and u[2] == 1200
    kw = u[3]
    assert kw["bits"] == 7 and kw["parity"] == 0 and kw["stop"] == 1  # parity 0: even
    assert kw["timeout"] == 0 and kw["rxbuf"] == esp32.RXBUF == 4096
    assert (kw["rx"], kw["tx"], kw["invert"]) == (8, 26, 0)
    assert port.baud == 1200 and port.rxbuf == 4096


def test_inverted_line_sets_the_rx_inversion():
    _, port = _open("custom", rx=5, invert=True)
    assert _kinds("uart")[0][3]["invert"] == UART.INV_RX
    port.set_baud(9600)
    assert _kinds("init")[0][3]["invert"] == UART.INV_RX


def test_rx_pin_before_and_after_init_tx_released():
    _open("denky-d4")
    c = machine.calls
    assert c[0] == ("pin", 8, Pin.IN, None, None)  # GPIO function, pulls off
    assert c[1][0] == "uart"
    assert ("pin", 26, Pin.IN, -1, None) in c[2:]  # tx back to an input
    assert c[-1] == ("pin", 8, Pin.IN, None, None)


def test_pullup_profile_sets_the_pull_every_time():
    _, port = _open("pitinfo", rx=5)
    up = ("pin", 5, Pin.IN, Pin.PULL_UP, None)
    assert machine.calls[0] == up and machine.calls[-1] == up
    machine.clear()
    port.set_baud(9600)
    assert machine.calls[0] == up and machine.calls[-1] == up
    assert machine.calls[1][0] == "init"


def test_iomux_rx_pad_is_not_taken_back_after_init():
    # GPIO16 is UART2's IO MUX RX pad on the ESP32: Pin() after the init would cut it off.
    _, port = _open("pitinfo", rx=16)
    rx = [c for c in machine.calls if c[0] == "pin" and c[1] == 16]
    assert rx == [("pin", 16, Pin.IN, Pin.PULL_UP, None)]
    assert machine.calls[0] == rx[0]
    machine.clear()
    port.set_baud(9600)
    assert machine.calls[0] == rx[0] and machine.calls.count(rx[0]) == 1


def test_enable_pin_driven_high_first():
    _open("denky32")
    assert machine.calls[0] == ("pin", 4, Pin.OUT, -1, 1)
    assert machine.calls[1] == ("pin", 33, Pin.IN, None, None)


def test_no_uart_irq_ever():
    _, port = _open("denky-d4", 9600)
    port.set_baud(1200)
    buf = bytearray(16)
    port.readinto(buf)
    port.any()
    w = port.wait()
    if hasattr(w, "close"):
        w.close()  # CPython: a coroutine never awaited
    else:
        _run(w)  # MicroPython: asyncio's sleep singleton must be consumed
    port.deinit()
    assert _kinds("irq") == []
    assert _kinds("deinit") == [("deinit", 2)]


def _run(aw):
    import asyncio

    async def main():
        await aw

    asyncio.run(main())


def test_wait_sleeps_the_poll_period():
    import asyncio

    _, port = _open("denky-d4", 9600)
    assert port.period_ms == esp32.POLL_MAX_MS == 100

    async def main():
        for _ in range(2):
            await port.wait()
        return True

    assert asyncio.run(main()) is True


def test_set_baud_reinits_and_recomputes_the_period():
    _, port = _open("denky-d4", 1200, rxbuf=3450)
    assert port.period_ms == 100
    machine.clear()
    port.set_baud(9600)
    (i,) = _kinds("init")
    assert i[1:3] == (2, 9600) and "rxbuf" not in i[3]  # rxbuf again would reinstall the driver
    assert i[3]["bits"] == 7 and i[3]["rx"] == 8 and i[3]["timeout"] == 0
    assert ("pin", 26, Pin.IN, -1, None) in machine.calls
    assert port.baud == 9600 and port.period_ms == 60
    port.set_baud(1200)
    assert port.period_ms == 100


def test_bad_speed_leaves_the_port_alone():
    _, port = _open("denky-d4", 1200)
    machine.clear()
    for bad in (0, 5, "9600"):
        try:
            port.set_baud(bad)
        except ValueError:
            pass
        else:
            raise AssertionError("set_baud(%r) accepted" % (bad,))
    assert machine.calls == [] and port.baud == 1200


def test_poll_period_arithmetic():
    # (period + 3000 ms) of line must fit in rxbuf - 512 B: 960 B/s at 9600 Bd, 120 at 1200.
    assert esp32.poll_ms(9600) == 100 and esp32.poll_ms(1200) == 100
    assert esp32.poll_ms(9600, 3450) == (3450 - 512) * 1000 // 960 - 3000 == 60
    assert esp32.poll_ms(1200, 1024) == 100  # 4.2 s of line at 1200 Bd
    for rxbuf in (3400, 2048):
        try:
            esp32.poll_ms(9600, rxbuf)
        except ValueError as e:
            assert "too small" in str(e)
        else:
            raise AssertionError("rxbuf %d accepted" % rxbuf)


def test_buffer_must_cover_the_fastest_line():
    p = boards.profile("denky-d4")
    for rxbuf in (2048, 70000):  # too small for 9600 Bd; above the driver's uint16
        machine.clear()
        try:
            esp32.open_tic(p, 1200, rxbuf)
        except ValueError:
            pass
        else:
            raise AssertionError("rxbuf %d accepted" % rxbuf)
        assert _kinds("uart") == []


def test_reads_pass_through():
    _, port = _open("denky-d4", 1200)
    machine.feed(b"\x02\nADCO 0123\r\x03")
    buf = bytearray(8)
    assert port.any() == 13
    assert port.readinto(buf) == 8 and bytes(buf) == b"\x02\nADCO 0"
    assert port.readinto(buf, 2) == 2 and bytes(buf[:2]) == b"12"
    assert port.readinto(buf) == 3
    assert port.readinto(buf) is None and port.any() == 0


def test_stretch_only_a_started_watchdog():
    esp32._wdt = None
    machine.clear()
    assert esp32.stretch_watchdog(1800000) is False
    assert machine.calls == []  # nothing armed
    w = esp32.watchdog(8000)
    w.feed()
    assert machine.calls == [("wdt", 8000), ("feed",)]
    machine.clear()
    assert esp32.stretch_watchdog(1800000) is True
    assert machine.calls == [("wdt", 1800000), ("feed",)]
    esp32._wdt = None


def test_reset_cause_and_id():
    for cause, name in (
        (machine.PWRON_RESET, "power"),
        (machine.HARD_RESET, "hard"),
        (machine.WDT_RESET, "wdt"),
        (machine.SOFT_RESET, "soft"),
        (machine.DEEPSLEEP_RESET, "deepsleep"),
        (0, "unknown"),
    ):
        machine.set_reset_cause(cause)
        assert esp32.reset_cause() == name
    machine.set_reset_cause(machine.PWRON_RESET)
    assert esp32.unique_id() == "240ac46c1601"
    assert esp32.setting("X", 3) == 3 and esp32.PLATFORM == "esp32"


if __name__ == "__main__":
    import mpunit

    mpunit.main(globals())
