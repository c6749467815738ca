"""Helper of tests/test_hal_sources.py, run under the MicroPython unix port: open the host HAL's
TIC input (LINKY_TIC names the test's link server), print READY, read until NBYTES arrived,
print them in hex, then DONE.

    LINKY_TIC=link:HOST:PORT micropython tests/hal_dump.py BAUD NBYTES [lock]

Reads are polled every 5 ms, as the firmware polls its port; the test synchronises on READY
and on the output, and stops a run that hangs. With `lock`, every readinto and a watchdog feed
per read run with the heap locked: an allocation there fails the run.
"""

import binascii
import sys
import time

import micropython
from firmware.hal import host

LOCK = "lock" in sys.argv[3:]


def main():
    baud, want = int(sys.argv[1]), int(sys.argv[2])
    port = host.open_tic(None, baud)
    wdt = host.watchdog(60000)
    print("READY")
    buf = bytearray(64)
    got = bytearray()
    while len(got) < want:
        if LOCK:
            micropython.heap_lock()
        try:
            n = port.readinto(buf)
            wdt.feed()
        finally:
            if LOCK:
                micropython.heap_unlock()
        if n:
            got.extend(buf[:n])
        else:
            time.sleep_ms(5)
    print("GOT", binascii.hexlify(got).decode())
    print("DONE")
    port.deinit()


main()
