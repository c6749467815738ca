"""Fake `time` for the memory harness's mqtt scenario (tools/mem32): the board's clock.

Installed as sys.modules["time"] after asyncio is imported (asyncio keeps the real clock: its
timers run on the JavaScript loop), before the firmware's modules: their ticks_ms() is then the
fake clock of tests/mem32_fake/machine.py, which the harness moves with the TIC line (line time
of the bytes read). So the publish policy (fast_min_s, slow_s, diag_s), the readings' change
times and the MQTT keepalive see line time, not the harness's speed. The clock stands still
while the harness awaits the MQTT tasks. Allocates nothing per call (small ints).
"""

import time as _t

import machine

_PERIOD = 0x3FFFFFFF  # MicroPython's ticks period is 2**30

ticks_diff = _t.ticks_diff
ticks_add = _t.ticks_add
sleep = _t.sleep
sleep_ms = _t.sleep_ms
gmtime = getattr(_t, "gmtime", None)
localtime = getattr(_t, "localtime", None)
EPOCH_S = 1764547200  # 2025-12-01T00:00:00Z: time() at the fake clock's zero


def ticks_ms():
    return machine.now_ms() & _PERIOD


def ticks_us():
    return (machine.now_ms() * 1000) & _PERIOD


ticks_cpu = ticks_us


def time():
    return EPOCH_S + machine.now_ms() // 1000


def time_ns():
    return time() * 1000000000
