"""`os` with urandom, for the WebAssembly port, which has none (an ESP32 has it: the hardware
random generator). Installed as sys.modules["os"] by mem32_steps before the firmware's imports;
bytes from a fixed xorshift sequence (the harness measures memory, not randomness)."""

from os import *  # noqa: F403

_s = [0x2545F491]


def urandom(n):
    out = bytearray(n)
    x = _s[0]
    for i in range(n):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        out[i] = x & 0xFF
    _s[0] = x
    return bytes(out)
