"""The web API's status, history, scan, log, reboot and OTA endpoints (docs/design/web-api.md);
imported by firmware/web.py for one request and dropped after.

Each endpoint is fn(app, req) -> a response for firmware/web.respond (dict, (status, dict),
or an httpd response tuple); scan and upload are async. state and history write their JSON
into one bytearray made for the request (about 3.6 KB and 4.4 KB), without a dict of values.
reboot answers, then stops the app with "reset" RESTART_MS later (the answer is sent first).
OTA: delegated to firmware.ota_web (start(app, url, force), await upload(app, req)), 503
{"error": "OTA not available"} while it does not exist.
"""

import asyncio
import gc
import json
import sys

from firmware import crash, hal, tic_reader, unload
from firmware.version import VERSION
from tic import MODE_NAMES

RESTART_MS = 500
_JSON = "application/json"


def _s(v):
    return "null" if v is None else json.dumps(v)


def _ap(app, req):
    p = getattr(app, "portal", None)
    if p is None:
        return "null"
    show = p.first_boot and p.active
    if not show:
        __import__("firmware.web_auth")
        show = sys.modules["firmware.web_auth"].logged_in(app, req)
    return '{"ssid":%s,"password":%s,"ip":%s}' % (
        _s(p.ssid),
        _s(p.password if show else None),
        _s(p.ip),
    )


def _mqtt(app):
    m = app.mqtt
    if m is None:
        return "null"
    c = m.client
    st = "connected" if c is not None and c.is_connected() else "connecting"
    return '{"state":"%s","host":%s}' % (st, _s(app.settings["mqtt_host"]))


def _crash(last):
    if last is None:
        return "null"
    return json.dumps(
        {"what": last.get("what"), "up_s": last.get("up_s"), "reset": last.get("reset")}
    )


def state(app, req):
    from firmware import state_json

    r = app.reader
    p = app.parser
    w = app.wifi
    head = (
        '{"version":%s,"uptime_s":%d,"mem_used":%d,"reset_cause":%s,"last_crash":%s,'
        '"tic":{"state":"%s","mode":"%s","baud":%d,"frames":%d,"bytes":%d,"groups":%d,'
        '"checksum_errors":%d,"format_errors":%d,"rejected":%d},'
        '"wifi":{"state":%s,"ssid":%s,"rssi":%s,"ip":%s},"mqtt":%s,"ap":%s,"ota":%s,"values":'
    ) % (
        _s(VERSION),
        crash.uptime_ms() // 1000,
        gc.mem_alloc() if hasattr(gc, "mem_alloc") else 0,  # CPython: none
        _s(hal.reset_cause()),
        _crash(app.last_crash),
        tic_reader.STATE_NAMES[r.state],
        MODE_NAMES[r.mode],
        r.port.baud,
        r.frames,
        p.bytes,
        p.groups,
        p.checksum_errors,
        p.format_errors,
        r.guard.rejected,
        _s(w.state),
        _s(w.ssid or None),
        _s(w.rssi),
        _s(w.ip),
        _mqtt(app),
        _ap(app, req),
        _s(getattr(app, "ota_status", None)),
    )
    head = head.encode()
    n = len(head)
    buf = bytearray(n + state_json.SIZE + 1)
    buf[:n] = head
    n += state_json.write(app.readings, memoryview(buf)[n:])
    buf[n] = 125  # }
    if app.mqtt is None:
        unload("firmware.state_json")
    return (200, _JSON, memoryview(buf)[: n + 1], "")


def history(app, req):
    h = getattr(app, "history", None)
    if h is None:
        return {"period_s": 10, "now_s": crash.uptime_ms() // 1000, "papp": [], "injected": []}
    from firmware.history import JSON_SIZE

    buf = bytearray(JSON_SIZE(h.points))
    n = h.write_json(buf, crash.uptime_ms() // 1000)
    return (200, _JSON, memoryview(buf)[:n], "")


async def scan(app, req):
    p = getattr(app, "portal", None)
    nets = [] if p is None else await p.scan()
    nets = sorted(nets, key=lambda n: -n[1])
    return {"networks": [{"ssid": n[0], "rssi": n[1], "secure": bool(n[2])} for n in nets]}


def log(app, req):
    import log as logger

    return {"lines": logger.recent()}


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
