"""Helper of tests/test_hal_sources.py, run under the MicroPython unix port: open a host TIC
source from a spec, print READY, read until NBYTES arrived (or 20 s), print them in hex.

    micropython tests/hal_dump.py SPEC BAUD NBYTES [lock]

With `lock`, every readinto runs with the heap locked: a read that allocates fails the run.
"""

import binascii
import sys
import time

import micropython
from firmware.hal import host

LOCK = "lock" in sys.argv[4:]


def read(src, buf):
    if LOCK:
        micropython.heap_lock()
    try:
        n = src.readinto(buf)
    finally:
        if LOCK:
            micropython.heap_unlock()
    return n


def main():
    spec, baud, want = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    src = host.open_source(spec, baud)
    print("READY")
    buf = bytearray(64)
    got = bytearray()
    t0 = time.ticks_ms()
    while len(got) < want and time.ticks_diff(time.ticks_ms(), t0) < 20000:
        n = read(src, buf)
        if n:
            got.extend(buf[:n])
        else:
            time.sleep_ms(5)
    print("GOT", binascii.hexlify(got).decode())
    print("STATS", getattr(src, "connects", -1), getattr(src, "drops", -1))
    src.deinit()


main()
