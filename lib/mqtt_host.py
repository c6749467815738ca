"""CPython stand-ins for lib/mqtt.py's MicroPython clock, sleeps and name lookup (host only:
never imported on MicroPython, so that the device does not load their code), and the default
stream opener on CPython (asyncio's reader/writer pair shaped as MicroPython's Stream)."""

import asyncio
import socket
import time

from aio_host import Pair
from aio_host import sleep_ms as _sleep_ms
from aio_host import wait_for_ms as _wait_ms

__all__ = ["_diff", "_getaddr", "_sleep_ms", "_ticks", "_wait_ms", "open_stream"]


def _ticks():
    return int(time.monotonic() * 1000)


def _diff(a, b):
    return a - b


async def _getaddr(host, port, ms):
    loop = asyncio.get_running_loop()
    a = await _wait_ms(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), ms)
    return a[0][4][0]


async def open_stream(host, port, ssl=None, server_hostname=None):
    """Default opener: asyncio TCP (TLS when `ssl` is an SSLContext) stream."""
    r, w = await asyncio.open_connection(
        host, port, ssl=ssl, server_hostname=server_hostname if ssl else None
    )
    return Pair(r, w)
