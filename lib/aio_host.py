"""CPython stand-ins for MicroPython's asyncio, shared by lib/httpd.py and lib/mqtt.py (never
imported on MicroPython): sleep_ms, wait_for_ms, and Pair, asyncio's reader/writer pair shaped
as MicroPython's Stream (async readinto, write, async drain, close, async wait_closed)."""

import asyncio


def sleep_ms(ms):
    return asyncio.sleep(ms / 1000)


def wait_for_ms(aw, ms):
    return asyncio.wait_for(aw, ms / 1000)


class Pair:
    def __init__(self, r, w):
        self.r = r
        self.w = w

    async def readinto(self, buf):
        b = await self.r.read(len(buf))
        buf[: len(b)] = b
        return len(b)

    def write(self, b):
        self.w.write(bytes(b))  # a copy: the callers reuse their buffers

    def close(self):
        self.w.close()

    async def drain(self):
        await self.w.drain()

    async def wait_closed(self):
        self.w.close()
