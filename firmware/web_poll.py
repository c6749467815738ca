"""GET (and HEAD) /api/state (docs/design/web-api.md), the status page's poll every 1.5 s and
so most requests, and /api/session, which every page load asks: firmware/web.py's handler
imports this module, and nothing else of the web code, for the request and drops it after
(not firmware/web_req.py, whose table and loader the other endpoints need).

  await handle(req)   state(web._app, req), or session() for /api/session, with
                      Cache-Control: no-store; drops what _ap() or session() loaded
                      (firmware/web_auth.py, lib/httpd_form.py).
  state(app, req)     the answer: the counters as one formatted head (a few hundred bytes,
                      sent first), then the readings' values, written by
                      firmware/state_json.py into the request's own slot buffer (req.buf, free
                      once the request is parsed, held until the answer is sent; the large
                      slot's when the values do not fit the small one, req.grow()); only when
                      that one is busy too, or for a rare payload wider than it, a buffer of
                      their own. No large block per poll, which a fragmented heap could refuse.
Cost per poll (64-bit unix port, .mpy): this module's load, ~3 KB; see memory-diet.md round 6.
"""

import gc
import json
import os
import sys
from binascii import hexlify

from firmware import crash, hal, tic_reader, unload, web
from firmware.version import VERSION
from tic import MODE_NAMES

_JSON = "application/json"


async def handle(req):
    try:
        if req.path == "/api/session":
            return session(web._app, req)
        return state(web._app, req)
    finally:
        unload("firmware.web_auth", "httpd_form")  # _ap()'s, when a password is set


def session(app, req):
    """GET /api/session (each page load asks it): with no admin password set, the CSRF token
    (web.TOKEN, made on first use) and no session code loaded; with one, web_auth's."""
    if app.settings["admin_password"]:
        __import__("firmware.web_auth")
        s = sys.modules["firmware.web_auth"].session(app, req)
    else:
        t = web.TOKEN
        if not t[0]:
            t[0] = hexlify(os.urandom(16)).decode()
        p = getattr(app, "portal", None)
        s = {"auth": False, "logged_in": True, "csrf": t[0], "ap": p is not None and p.active}
    return (200, _JSON, json.dumps(s), "Cache-Control: no-store\r\n")


def _s(v):
    return "null" if v is None else json.dumps(v)


def _ap(app, req):
    p = getattr(app, "portal", None)
    if p is None:
        return "null"
    show = (p.first_boot and p.active) or not app.settings["admin_password"]
    if not show:  # a password is set: is this client logged in?
        __import__("firmware.web_auth")
        show = sys.modules["firmware.web_auth"].logged_in(app, req)
    return '{"active":%s,"ssid":%s,"password":%s,"ip":%s}' % (
        "true" if p.active else "false",
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
        '{"version":%s,"boot":%d,"uptime_s":%d,"mem_used":%d,"reset_cause":%s,"last_crash":%s,'
        '"tic":{"state":"%s","mode":"%s","baud":%d,"frames":%d,"bytes":%d,"groups":%d,'
        '"checksum_errors":%d,"format_errors":%d,"rejected":%d},'
        '"wifi":{"state":%s,"ssid":%s,"rssi":%s,"ip":%s},"mqtt":%s,"ap":%s,"ota":%s,"values":'
    ) % (
        _s(VERSION),
        app.boot,
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
    n = -1
    while n < 0:
        buf = req.buf
        try:
            n = state_json.write(app.readings, memoryview(buf)[: len(buf) - 1])
        except ValueError:  # wider than the slot: the large slot's buffer if it is free, else
            if req.grow(0):  # a buffer of its own (at most state_json.SIZE)
                continue
            buf = bytearray(state_json.SIZE + 1)
            n = state_json.write(app.readings, memoryview(buf)[: state_json.SIZE])
    buf[n] = 125  # }
    if app.mqtt is None:
        unload("firmware.state_json")
    return (200, _JSON, [head.encode(), memoryview(buf)[: n + 1]], "Cache-Control: no-store\r\n")
