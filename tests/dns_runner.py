"""A lib/captive_dns.py responder process for tests/test_captive_dns.py, on either interpreter:

    micropython tests/dns_runner.py PORT     (MICROPYPATH=lib:.frozen)
    python3 tests/dns_runner.py PORT

Answers on 127.0.0.1:PORT with 192.168.4.1 and prints READY. A ticker task beside it counts
every 10 ms (it stands for the TIC reader, which must keep running). On SIGINT it prints
`STATS answered dropped ticks largest_gap_ms heap_start heap_end` (heap: bytes in use after a
collection on MicroPython, 0 on CPython) and exits 0.
"""

import asyncio
import gc
import sys
import time

sys.path[:0] = ["lib"]  # CPython; MicroPython takes MICROPYPATH

import captive_dns  # noqa: E402

try:
    _ms = time.ticks_ms
    _diff = time.ticks_diff
    _sleep_ms = asyncio.sleep_ms
except AttributeError:  # CPython

    def _ms():
        return int(time.monotonic() * 1000)

    def _diff(a, b):
        return a - b

    def _sleep_ms(ms):
        return asyncio.sleep(ms / 1000)


ticks = [0, 0]  # count, largest gap in ms


def _heap():
    gc.collect()
    return gc.mem_alloc() if hasattr(gc, "mem_alloc") else 0


async def ticker():
    last = _ms()
    while True:
        await _sleep_ms(10)
        now = _ms()
        ticks[0] += 1
        ticks[1] = max(ticks[1], _diff(now, last))
        last = now


async def main(r, heap):
    tick = asyncio.create_task(ticker())
    task = asyncio.create_task(r.run())
    await _sleep_ms(100)  # bound by now
    heap[0] = _heap()
    print("READY")
    if hasattr(sys.stdout, "flush"):
        sys.stdout.flush()
    await task
    tick.cancel()


def run(port):
    r = captive_dns.Responder("192.168.4.1", port, "127.0.0.1")
    heap = [0]
    try:
        asyncio.run(main(r, heap))
    except KeyboardInterrupt:
        pass
    end = _heap()
    print("STATS %d %d %d %d %d %d" % (r.answered, r.dropped, ticks[0], ticks[1], heap[0], end))


run(int(sys.argv[1]))
