"""The firmware's web server over real loopback sockets, on CPython or the MicroPython unix port,
for tests/test_web_api.py and tests/test_web_auth.py.

make_app(capture) builds a firmware.app.App from its real parts (settings from
firmware/config.py's defaults, readings, guard, TIC reader, the host HAL's Wi-Fi station),
the TIC reader fed from a capture through a port that hands over one frame per read (the
hardware edge), then firmware/web.py's server. `run(app, fn)` starts the server on a free
port and runs `await fn(port)`; `request()` is a raw HTTP client (asyncio streams).
The server runs in a fresh temporary working directory, app.dir (config.json goes there);
every such directory is removed when the process ends (sys.atexit on MicroPython, atexit on
CPython).
"""

import asyncio
import os
import sys

import web_paths  # first: the absolute paths
from reader_drive import EtxPort

from firmware import config, web
from firmware.app import App
from firmware.hal import host
from firmware.history import History
from firmware.readings import Readings
from firmware.tic_reader import TicReader
from firmware.wifi import Wifi
from tic.guard import IndexGuard

CAP = web_paths.ROOT + "/tests/fixtures/captures/std-tri-tempo-teleinfo-nom.raw"
HIST = web_paths.ROOT + "/tests/fixtures/captures/hist-mono-tempo-teleinfo-nom.raw"


_DIRS = []  # the temporary directories made by this process, removed at its end


def _rmtree(d):
    for n in os.listdir(d):
        p = d + "/" + n
        if os.stat(p)[0] & 0x4000:
            _rmtree(p)
        else:
            os.remove(p)
    os.rmdir(d)


def _cleanup():
    while _DIRS:
        try:
            _rmtree(_DIRS.pop())
        except OSError:
            pass


if hasattr(sys, "atexit"):  # MicroPython's unix port: one function
    sys.atexit(_cleanup)
else:
    try:
        import atexit

        atexit.register(_cleanup)
    except ImportError:  # the WebAssembly port: its filesystem is in memory anyway
        pass


def _tmpdir():
    base = "/tmp/linky-web-test-"
    # The unix port has no getpid(): a random tag instead.
    tag = os.getpid() if hasattr(os, "getpid") else int.from_bytes(os.urandom(4), "big")
    for i in range(1000):
        d = base + "%d-%d" % (tag, i)
        try:
            os.mkdir(d)
            _DIRS.append(d)
            return d
        except OSError:
            pass
    raise OSError("no temporary directory")


def make_app(capture=CAP, baud=9600, settings=None):
    """An App with its real parts, its reader having read the whole capture once."""
    app = App()
    app.dir = _tmpdir()
    app.settings = config.load(app.dir + "/config.json")
    if settings:
        app.settings.update(settings)
    app.readings = Readings(IndexGuard())
    with open(capture, "rb") as f:
        data = f.read() * 3  # three frames or more: the meter id is confirmed
    port = EtxPort(data, baud)
    app.reader = TicReader(port, baud=baud, guard=app.readings.guard, on_frame=app.on_frame)
    app.parser = app.reader.parser
    app.tic = port
    host.set_radio(True)
    app.wifi = Wifi(host.wlan(), "home", "pw", "linky-test")
    app.history = History(points=6, period_ms=10000)
    while port.pos < len(data):
        app.reader.poll(port.pos * 10000 // baud)
        if app.reader.events:
            app.reader.service()
    app._started = True  # add_task starts at once (the restart after a save or a reboot)
    web.ROOT = web_paths.WWW
    for s in range(len(web.SESSIONS)):
        web.SESSIONS[s] = None
    web.LIMIT[:] = [0, 0, 30]
    web.TOKEN[0] = ""
    return app


class Resp:
    def __init__(self, raw):
        i = raw.find(b"\r\n\r\n")
        if i < 0:
            raise ValueError("no complete head: %r" % raw[:200])
        lines = raw[:i].decode().split("\r\n")
        self.status = int(lines[0].split(" ")[1])
        self.headers = {}
        self.cookies = []
        for ln in lines[1:]:
            k, v = ln.split(":", 1)
            if k.lower() == "set-cookie":
                self.cookies.append(v.strip())
            self.headers[k.lower()] = v.strip()
        self.body = raw[i + 4 :]
        self.raw = raw

    def json(self):
        import json

        return json.loads(self.body)


async def request(port, method, path, body=None, *, headers=None, raw=None):
    """One request over loopback; the Resp. `body`: bytes, or an object sent as JSON."""
    r, w = await asyncio.open_connection("127.0.0.1", port)
    if raw is None:
        if body is not None and not isinstance(body, (bytes, bytearray)):
            import json

            body = json.dumps(body).encode()
        h = "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept-Encoding: gzip\r\n" % (method, path)
        for k in headers or {}:
            h += "%s: %s\r\n" % (k, headers[k])
        if body is not None:
            h += "Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
        raw = (h + "\r\n").encode() + (body or b"")
    w.write(raw)
    await w.drain()
    data = b""
    while True:
        b = await r.read(2048)
        if not b:
            break
        data += b
    w.close()
    return Resp(data)


_PORT = [19130]


def run(app, fn):
    """Start app's web server on a free port, run `await fn(port)`, stop it; fn's result."""

    async def main():
        os.chdir(app.dir)
        srv = web.make(app)
        port = 0
        for _ in range(200):
            _PORT[0] += 1
            try:
                await srv.start("127.0.0.1", _PORT[0])
                port = _PORT[0]
                break
            except OSError:
                pass
        if not port:
            raise OSError("no free port")
        try:
            return await fn(port)
        finally:
            os.chdir(web_paths.ROOT)
            srv.close()
            for t in app._running:
                t.cancel()
            app._running = []

    return asyncio.run(main())
