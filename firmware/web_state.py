"""GET /api/state and /api/history (docs/design/web-api.md), the status page's polls; imported
by firmware/web.py for one request and dropped after.

No large block is allocated per poll, which a fragmented heap could refuse. state: the
counters as one formatted head (a few hundred bytes, sent first), then the readings' values,
written by firmware/state_json.py into the request's own slot buffer (req.buf, free once the
request is parsed, held until the answer is sent; the large slot's when the values do not fit
the small one, req.grow()); only when that one is busy too, or for a rare payload wider than
it, a buffer of their own for the request. history: every point kept, streamed through the
slot buffer, whatever its size, by Points (below).
"""

import gc
import json
import sys

from firmware import crash, hal, tic_reader, unload
from firmware.history import MISSING
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
    return (200, _JSON, [head.encode(), memoryview(buf)[: n + 1]], "")


def history(app, req):
    h = getattr(app, "history", None)
    if h is None:
        return {"period_s": 10, "now_s": crash.uptime_ms() // 1000, "papp": [], "injected": []}
    return (200, _JSON, Points(h, crash.uptime_ms() // 1000), "")


class Points:
    """/api/history's answer for lib/httpd.py (`size`, `readinto(buf)` for any buf of 64
    bytes or more, `close()`): {"period_s", "now_s", "papp", "injected"} of the points the
    History `h` keeps at creation (oldest first, MISSING as null; a sample taken while it is
    sent lands in the ring's spare slot), as many items as fit in each buffer; nothing
    allocated per point. Item k: -1 the head, 0..n-1 the
    apparent power points, n the middle, n+1..2n the injected ones, 2n+1 the end."""

    def __init__(self, h, now_s):
        self.h = h
        self.now = now_s
        n = self.n = h.count
        ring = h.points + 1
        self.i0 = (h.pos - n) % ring
        size = 46 + _width(h.period_ms // 1000) + _width(now_s)  # the keys, brackets, "}"
        if n:
            size += 2 * (n - 1)  # commas
        i = self.i0
        for _ in range(n):
            size += _width(h.papp[i]) + _width(h.injected[i])
            i = i + 1 if i + 1 < ring else 0
        self.size = size
        self.k = -1
        self.i = self.i0

    def readinto(self, buf):
        h = self.h
        n = self.n
        ring = h.points + 1
        top = len(buf) - 64
        p = 0
        while p <= top and self.k <= 2 * n + 1:
            k = self.k
            if k < 0:
                p = _put(buf, p, b'{"period_s":')
                p = _num(buf, p, h.period_ms // 1000)
                p = _put(buf, p, b',"now_s":')
                p = _num(buf, p, self.now)
                p = _put(buf, p, b',"papp":[')
            elif k == n:
                p = _put(buf, p, b'],"injected":[')
                self.i = self.i0
            elif k > 2 * n:
                p = _put(buf, p, b"]}")
            else:
                if k and k != n + 1:
                    buf[p] = 44  # ,
                    p += 1
                v = (h.papp if k < n else h.injected)[self.i]
                p = _put(buf, p, b"null") if v == MISSING else _num(buf, p, v)
                self.i = self.i + 1 if self.i + 1 < ring else 0
            self.k = k + 1
        return p

    def close(self):
        self.h = None


def _width(v):
    """Characters of v's decimal digits (4 for MISSING: "null"), v < 10**10."""
    if v == MISSING:
        return 4
    n = 1
    while v >= 10:
        v //= 10
        n += 1
    return n


def _put(buf, p, b):
    n = len(b)
    if p + n > len(buf):
        raise ValueError("history: buffer too small")
    buf[p : p + n] = b
    return p + n


def _num(buf, p, v):
    """Decimal digits of int v >= 0 at buf[p:], without allocating; the new end."""
    e = p
    x = v
    while True:
        e += 1
        x //= 10
        if not x:
            break
    if e > len(buf):
        raise ValueError("history: buffer too small")
    q = e
    while True:
        q -= 1
        buf[q] = 48 + v % 10
        v //= 10
        if not v:
            return e
