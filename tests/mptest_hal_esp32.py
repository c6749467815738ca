"""MicroPython only: the ESP32 HAL's hot path allocates nothing (heap locked): wait() hands
back asyncio's sleep object, readinto() and any() go straight to the UART (fake machine)."""

import asyncio

import esp32_loader

import micropython

esp32, machine = esp32_loader.load()

from firmware import boards  # noqa: E402 (after the fake is loaded)


def test_wait_allocates_nothing():
    machine.clear()
    port = esp32.open_tic(boards.profile("denky-d4"), 9600)
    got = []

    async def main():
        for _ in range(3):
            micropython.heap_lock()
            try:
                aw = port.wait()
            finally:
                micropython.heap_unlock()
            await aw
        got.append(True)

    asyncio.run(main())
    assert got == [True]


def test_reads_allocate_nothing():
    machine.clear()
    port = esp32.open_tic(boards.profile("denky-d4"), 1200)
    data = b"\x02\nADCO 012345678901 E\r\x03" * 4
    machine.feed(data)
    buf = bytearray(16)
    total = 0
    while True:
        micropython.heap_lock()
        try:
            k = port.any()
            n = port.readinto(buf)
            m = port.readinto(buf, 4)
        finally:
            micropython.heap_unlock()
        if not n:
            break
        total += n + (m or 0)
        assert k >= n
    assert total == len(data) and port.any() == 0


if __name__ == "__main__":
    import mpunit

    mpunit.main(globals())
