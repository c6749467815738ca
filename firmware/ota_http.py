"""A small streaming HTTP/1.0 GET client for updates (loaded with firmware/ota.py, then dropped).

Contract:
  r = await get(url, hbuf, timeout_ms)  opens http://HOST[:PORT]/PATH over hal.open_connection,
        sends a GET, reads the status line and headers into `hbuf` (a small bytearray or
        memoryview kept by the caller; the headers must fit in it). Returns a Response:
        r.status (int), r.length (Content-Length or None), `await r.readinto(mv) -> n` (0 at
        the end; body bytes only), r.close(). Raises HttpError (bad URL, no answer, status
        line or headers unreadable) or OSError from the connection; every wait is bounded by
        `timeout_ms` (a stalled server: HttpError "timed out").
No TLS (the signature is what is trusted). Cost: one connection, the header lines, a copy of
the body bytes read with the headers (less than len(hbuf)); nothing per read.
"""

import asyncio

from firmware import hal

try:
    _wait_ms = asyncio.wait_for_ms
except AttributeError:  # CPython

    def _wait_ms(aw, ms):
        return asyncio.wait_for(aw, ms / 1000)


class HttpError(ValueError):
    pass


def split_url(url):
    """(host, port, path) of an http:// URL; HttpError otherwise."""
    if not url.startswith("http://"):
        raise HttpError("only http:// URLs are supported: %s" % url)
    rest = url[7:]
    slash = rest.find("/")
    hostport, path = (rest, "/") if slash < 0 else (rest[:slash], rest[slash:])
    host, _, port = hostport.partition(":")
    if not host:
        raise HttpError("no host in %s" % url)
    try:
        port = int(port) if port else 80
    except ValueError:
        raise HttpError("bad port in %s" % url)
    return host, port, path


async def _read(s, mv, timeout_ms):
    try:
        return await _wait_ms(s.readinto(mv), timeout_ms)
    except asyncio.TimeoutError:
        raise HttpError("timed out: no data for %d s" % (timeout_ms // 1000))


def _blank_line(buf, start, stop):
    """Where b"\\r\\n\\r\\n" starts in buf[start:stop], or -1 (no copy of the buffer)."""
    for i in range(start, stop - 3):
        if buf[i] == 13 and buf[i + 1] == 10 and buf[i + 2] == 13 and buf[i + 3] == 10:
            return i
    return -1


class Response:
    def __init__(self, s, timeout_ms):
        self._s = s
        self._t = timeout_ms
        self.status = 0
        self.length = None
        self._pending = b""

    async def readinto(self, mv):
        p = self._pending
        if p:
            n = min(len(p), len(mv))
            mv[:n] = p[:n]
            self._pending = p[n:]
            return n
        return await _read(self._s, mv, self._t)

    def close(self):
        try:
            self._s.close()
        except OSError:
            pass


async def get(url, buf, timeout_ms):
    host, port, path = split_url(url)
    try:
        s = await _wait_ms(hal.open_connection(host, port), timeout_ms)
    except asyncio.TimeoutError:
        raise HttpError("timed out connecting to %s:%d" % (host, port))
    r = Response(s, timeout_ms)
    try:
        s.write(
            ("GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: linky\r\n\r\n" % (path, host)).encode()
        )
        await s.drain()
        mv = memoryview(buf)
        got = 0
        end = -1
        while end < 0:
            if got == len(buf):
                raise HttpError("headers longer than %d bytes" % len(buf))
            n = await _read(s, mv[got:], timeout_ms)
            if not n:
                raise HttpError("connection closed before the headers ended")
            end = _blank_line(buf, max(0, got - 3), got + n)
            got += n
        head = bytes(mv[:end]).split(b"\r\n")
        parts = head[0].split()
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
            raise HttpError("not an HTTP answer")
        r.status = int(parts[1])
        for line in head[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                r.length = int(value.strip())
        r._pending = bytes(mv[end + 4 : got])
    except BaseException:
        r.close()
        raise
    return r
