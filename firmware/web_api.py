"""The web API's scan, log, reboot and OTA endpoints (docs/design/web-api.md); imported by
firmware/web_req.py for one request and dropped after (state and history:
firmware/web_state.py).

Each endpoint is fn(app, req) -> a response for firmware/web_req.respond (dict, (status, dict),
or an httpd response tuple); scan and upload are async. reboot answers, then stops the app
with "reset" RESTART_MS later (restart_soon: the answer is sent first). OTA: delegated to
firmware.ota_web (start(app, url, force), await upload(app, req)); 503
{"error": "OTA not available"} while it does not exist.
"""

import asyncio
import sys

from firmware import unload

RESTART_MS = 500


async def scan(app, req):
    p = getattr(app, "portal", None)
    nets = [] if p is None else await p.scan()
    nets = sorted(nets, key=lambda n: -n[1])
    return {"networks": [{"ssid": n[0], "rssi": n[1], "secure": bool(n[2])} for n in nets]}


def log(app, req):
    """{"lines": [...]} straight from the logger's ring into the slot buffer (the large slot's
    when it is free; log.recent() would copy the ring twice and make a str per line): whole
    lines, oldest first; the oldest are left out when the escaped text does not fit."""
    import log as logger

    ring = logger._buf
    size = len(ring)
    i = logger._pos if logger._wrapped else 0
    n = size if logger._wrapped else logger._pos
    if logger._wrapped:  # the oldest line's start may have been overwritten: skip it
        while n and ring[i] != 10:
            i = i + 1 if i + 1 < size else 0
            n -= 1
        i = i + 1 if i + 1 < size else 0
        n -= 1
    req.grow(0)  # the large slot's buffer when it is free (the request is read)
    out = req.buf
    top = len(out) - 3
    while True:  # drop the oldest lines until the rest fits
        p = _lines(ring, i, n, out, top)
        if p >= 0:
            break
        while n and ring[i] != 10:
            i = i + 1 if i + 1 < size else 0
            n -= 1
        i = i + 1 if i + 1 < size else 0
        n -= 1
    out[p : p + 2] = b"]}"
    return (200, "application/json", memoryview(out)[: p + 2], "")


def _lines(ring, i, n, out, top):
    """The n bytes of ring from i (whole lines) as JSON strings after '{"lines":[' in out;
    the end, or -1 past `top`."""
    size = len(ring)
    out[:10] = b'{"lines":['
    p = 10
    start = True
    for _ in range(n):
        c = ring[i]
        i = i + 1 if i + 1 < size else 0
        if p + 8 > top:
            return -1
        if start:
            if p > 10:
                out[p] = 44  # ,
                p += 1
            out[p] = 34  # "
            p += 1
            start = False
        if c == 10:
            out[p] = 34
            p += 1
            start = True
        elif c in (34, 92):  # " \
            out[p] = 92
            out[p + 1] = c
            p += 2
        elif c < 32:
            out[p : p + 6] = ("\\u00%02x" % c).encode()
            p += 6
        else:
            out[p] = c
            p += 1
    return p


async def _restart(app):
    await asyncio.sleep(RESTART_MS / 1000)
    app.stop("reset")


def restart_soon(app):
    """app.stop("reset") RESTART_MS from now, so that the answer is sent first."""
    app.add_task("restart", _restart(app))


def reboot(app, req):
    restart_soon(app)
    return {"ok": True}


def _ota():
    try:
        __import__("firmware.ota_web")
    except ImportError:
        return None
    return sys.modules["firmware.ota_web"]


def ota(app, req):
    import httpd_form

    body = httpd_form.json_body(req)
    if not isinstance(body, dict):
        return 400, {"error": "a JSON object expected"}
    url = body.get("url") or None
    if url is not None and not isinstance(url, str):
        return 400, {"error": "url: expected text"}
    m = _ota()
    if m is None:
        return 503, {"error": "OTA not available"}
    try:
        return m.start(app, url, bool(body.get("force")))
    finally:
        unload("firmware.ota_web")


async def upload(app, req):
    m = _ota()
    if m is None:
        return 503, {"error": "OTA not available"}
    try:
        return await m.upload(app, req)
    finally:
        unload("firmware.ota_web")
