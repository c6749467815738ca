"""GET /api/state and /api/history (docs/design/web-api.md), the status page's polls; imported
by firmware/web.py for one request and dropped after.

No large block is allocated per poll, which a fragmented heap could refuse. state: the
counters as one formatted head (a few hundred bytes, sent first), then the readings' values,
written by firmware/state_json.py into the request's own slot buffer (req.buf, free once the
request is parsed, held until the answer is sent); only values wider than the slot (the small
slot busy with a three-phase meter, or a rare payload over the large slot) take a buffer of
their own for the request. history: every point kept, streamed through the slot buffer by
firmware/history.py's producer (History.json()), whatever the slot's size.
"""

import gc
import json
import sys

from firmware import crash, hal, tic_reader, unload
from firmware.version import VERSION
from tic import MODE_NAMES

_JSON = "application/json"


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
    buf = req.buf
    try:
        n = state_json.write(app.readings, memoryview(buf)[: len(buf) - 1])
    except ValueError:  # wider than the slot (at most state_json.SIZE): a buffer of its own
        buf = bytearray(state_json.SIZE + 1)
        n = state_json.write(app.readings, memoryview(buf)[: state_json.SIZE])
    buf[n] = 125  # }
    if app.mqtt is None:
        unload("firmware.state_json")
    return (200, _JSON, [head.encode(), memoryview(buf)[: n + 1]], "")


def history(app, req):
    h = getattr(app, "history", None)
    if h is None:
        return {"period_s": 10, "now_s": crash.uptime_ms() // 1000, "papp": [], "injected": []}
    return (200, _JSON, h.json(crash.uptime_ms() // 1000), "")
