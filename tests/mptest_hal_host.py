"""MicroPython only: reading the host HAL's capture replay allocates nothing (heap locked),
at the line's speed, at a wrong speed (bit-level model), through an overflow, across the
capture's loop point; and wait() hands back asyncio's sleep object without allocating."""

import asyncio
import time

import micropython
from firmware.hal import host

CAP_STD = "tests/fixtures/captures/std-tri-tempo-teleinfo-nom.raw"
CAP_HIST = "tests/fixtures/captures/hist-mono-tempo-teleinfo-nom.raw"


def _data(path):
    with open(path, "rb") as f:
        return f.read()


def _locked_reads(src, buf, rounds, pause_ms):
    total = 0
    for _ in range(rounds):
        time.sleep_ms(pause_ms)
        micropython.heap_lock()
        try:
            n = src.readinto(buf)
            src.any()
        finally:
            micropython.heap_unlock()
        if n:
            total += n
    return total


def test_matched_speed_reads_allocate_nothing():
    # 668 bytes at 9600 Bd loop every ~0.7 s: the loop point is crossed.
    src = host.FileSource(_data(CAP_HIST), line_baud=9600, baud=9600)
    buf = bytearray(64)
    assert _locked_reads(src, buf, 50, 20) > 668
    assert src.overflows == 0


def test_overflow_path_allocates_nothing():
    src = host.FileSource(_data(CAP_STD), baud=9600, rxbuf=16)
    buf = bytearray(8)
    assert _locked_reads(src, buf, 10, 30) > 0
    assert src.overflows > 0


def test_wrong_speed_reads_allocate_nothing():
    src = host.FileSource(_data(CAP_STD), baud=1200)  # 1200 on a 9600 line
    assert _locked_reads(src, bytearray(32), 20, 25) > 0
    src = host.FileSource(_data(CAP_HIST), baud=9600)  # 9600 on a 1200 line
    assert _locked_reads(src, bytearray(32), 20, 25) > 0


def test_reader_loop_allocates_nothing():
    src = host.FileSource(_data(CAP_STD), baud=9600)
    buf = bytearray(64)
    got = [0]

    async def reader():
        total = 0
        for _ in range(40):
            micropython.heap_lock()
            try:
                n = src.readinto(buf)
                aw = src.wait()
            finally:
                micropython.heap_unlock()
            if n:
                total += n
            await aw
        got[0] = total

    asyncio.run(reader())
    assert got[0] > 0


if __name__ == "__main__":
    import mpunit

    mpunit.main(globals())
