# micropython: also
"""firmware/web.py and its handlers over real loopback HTTP, on CPython and the unix port: every
endpoint of docs/design/web-api.md with the firmware's real parts (tests/web_fixture.py):
status values from a real capture, history, config GET and POST (errors per field, an atomic
save, the restart), scan, log, reboot, OTA without its module, pages, the catch-all."""

import asyncio
import json

import web_fixture as wf

from firmware import web
from firmware.history import MISSING


def _get(app, path, **kw):
    return wf.run(app, lambda port: wf.request(port, "GET", path, **kw))


def test_state_has_every_field_and_the_meter_values():
    app = wf.make_app()
    r = _get(app, "/api/state")
    assert r.status == 200, r.raw
    assert r.headers["content-type"] == "application/json"
    assert r.headers["cache-control"] == "no-store"
    d = r.json()
    for k in ("version", "boot", "uptime_s", "mem_used", "reset_cause", "last_crash", "values",
              "tic", "wifi", "mqtt", "ap", "ota"):  # fmt: skip
        assert k in d, k
    assert d["boot"] == app.boot
    t = d["tic"]
    assert t["state"] == "ok" and t["mode"] == "standard" and t["baud"] == 9600
    assert t["frames"] == app.reader.frames > 0
    assert t["checksum_errors"] == app.parser.checksum_errors
    v = d["values"]
    assert isinstance(v["SINSTS"], int) and v["PRM"] == "07361794479930", v
    assert d["wifi"]["ssid"] == "home" and d["mqtt"] is None and d["ap"] is None
    assert d["last_crash"] is None and d["ota"] is None
    app.last_crash = {"what": "task x: RuntimeError", "up_s": 12, "reset": "wdt", "tb": "x"}
    app.ota_status = {"state": "idle"}
    d = _get(app, "/api/state").json()
    assert d["last_crash"] == {"what": "task x: RuntimeError", "up_s": 12, "reset": "wdt"}
    assert d["ota"] == {"state": "idle"}


class _Stream:
    """The socket edge in memory: the request in reads of at most the buffer's size."""

    def __init__(self, raw):
        self.rx = raw
        self.tx = bytearray()

    async def readinto(self, buf):
        n = min(len(buf), len(self.rx))
        buf[:n] = self.rx[:n]
        self.rx = self.rx[n:]
        return n

    def write(self, b):
        self.tx += b

    async def drain(self):
        pass

    async def wait_closed(self):
        pass


def test_state_wider_than_the_small_slot():
    """Three-phase values do not fit the small slot: the request moves to the large one, or,
    when that one is busy, writes them into a buffer of its own; the answer is the same."""
    app = wf.make_app()
    srv = web.make(app)

    def state():
        s = _Stream(b"GET /api/state HTTP/1.1\r\nHost: x\r\n\r\n")
        asyncio.run(srv.serve(s))
        i = s.tx.find(b"\r\n\r\n") + 4
        assert s.tx.startswith(b"HTTP/1.1 200 ")
        assert b"Content-Length: %d\r\n" % (len(s.tx) - i) in s.tx
        return json.loads(bytes(s.tx[i:]))

    small = len(srv._pool[-1].buf)  # a connection takes the smallest free slot
    v = state()["values"]
    assert len(json.dumps(v)) > small and v["PRM"] == "07361794479930"
    big = srv._pool.pop(0)  # the large slot busy
    assert state()["values"] == v
    srv._free(big)
    assert state()["values"] == v and srv.errors == 0


def test_state_historique_values():
    app = wf.make_app(wf.HIST, 1200)
    d = _get(app, "/api/state").json()
    assert d["tic"]["mode"] == "historique" and isinstance(d["values"]["PAPP"], int)


class Portal:
    active = True
    ssid = "linky-0001"
    password = "ap-pass-123"
    ip = "192.168.4.1"
    first_boot = False

    async def scan(self):
        await asyncio.sleep(0)
        return [("weak", -80, 1), ("open", -40, 0), ("mid", -60, 1)]


def test_history_points_oldest_first_with_missing():
    app = wf.make_app()
    h = app.history
    d = _get(app, "/api/history").json()
    assert d["period_s"] == 10 and d["papp"] == [] and d["injected"] == []
    rd = app.readings
    h.sample(rd)  # fresh: the capture's last SINSTS
    h.sample(rd)  # no frame since: missing
    d = _get(app, "/api/history").json()
    assert d["papp"][0] == d_sinsts(app) and d["papp"][1] is None, d
    assert d["injected"] == [None, None]  # not a producer
    for _ in range(7):  # 6 points kept: the oldest go
        h.sample(rd)
    d = _get(app, "/api/history").json()
    assert d["papp"] == [None] * 6 and len(d["injected"]) == 6
    assert h.papp[0] == MISSING


def d_sinsts(app):
    from tic import labels

    return app.readings.int_value(labels.index("SINSTS"))


def test_config_get_schema_order_and_secrets_hidden():
    app = wf.make_app()
    with open(app.dir + "/config.json", "w") as f:
        json.dump({"wifi_ssid": "home", "wifi_password": "s3cret-wifi", "mqtt_port": 1884}, f)
    r = _get(app, "/api/config")
    assert r.status == 200 and r.headers["cache-control"] == "no-store"
    fields = r.json()["fields"]
    from firmware import config

    assert [f["name"] for f in fields] == [s[0] for s in config.SCHEMA]
    by = {f["name"]: f for f in fields}
    assert by["wifi_ssid"]["value"] == "home" and by["wifi_ssid"]["set"]
    assert "denky-d4" in by["board"]["choices"]  # the board profiles, for a drop-down
    pw = {"name": "wifi_password", "kind": "secret", "value": "", "set": True}
    pw.update({"choices": None, "min": None, "max": 64})
    assert by["wifi_password"] == pw
    assert by["mqtt_password"]["set"] is False
    assert by["mqtt_port"]["value"] == 1884 and by["mqtt_port"]["min"] == 0
    assert by["mode"]["choices"] == ["auto", "historique", "standard"]
    assert by["baud"]["choices"] == [0, 1200, 9600]
    assert b"s3cret" not in r.body


def _post(app, path, body, csrf=True, extra=None):
    async def go(port):
        s = (await wf.request(port, "GET", "/api/session")).json()
        h = {"X-CSRF-Token": s["csrf"]} if csrf else {}
        h.update(extra or {})
        before = list(app._running)
        r = await wf.request(port, "POST", path, body, headers=h)
        if any(t not in before for t in app._running):  # a task started: a restart, if due
            for _ in range(40):  # web_api.RESTART_MS is 500 ms
                if app.exit_code is not None:
                    break
                await asyncio.sleep(0.05)
        return r

    return wf.run(app, go)


def test_config_post_errors_per_field_nothing_saved():
    app = wf.make_app()
    bad = {"mqtt_port": 70000, "mode": "fast", "hostname": "x" * 40, "nope": 1,
           "ha_discovery": "maybe", "mqtt_prefix": ""}  # fmt: skip
    r = _post(app, "/api/config", bad)
    assert r.status == 400, r.raw
    errs = r.json()["errors"]
    assert sorted(errs) == sorted(bad)
    assert errs["mqtt_port"] == "expected 0 to 65535" and errs["nope"] == "unknown setting"
    assert app.exit_code is None
    try:
        open(app.dir + "/config.json").close()
        raise AssertionError("saved")
    except OSError:
        pass
    r = _post(app, "/api/config", b"[1,2]")
    assert r.status == 400
    r = _post(app, "/api/config", b"{not json")
    assert r.status == 400


def test_config_post_saves_atomically_then_restarts():
    app = wf.make_app()
    path = app.dir + "/config.json"
    with open(path, "w") as f:
        json.dump({"wifi_ssid": "old", "wifi_password": "keep-me", "mqtt_host": "h"}, f)
    new = {"wifi_ssid": " new ", "wifi_password": "", "mqtt_port": "1884"}
    new.update({"admin_password": "hunter2", "ha_discovery": False})
    r = _post(app, "/api/config", new)
    assert r.status == 200 and r.json() == {"ok": True, "restart": True}, r.raw
    assert app.exit_code == "reset"
    with open(path) as f:
        d = json.load(f)
    assert d["wifi_ssid"] == "new" and d["wifi_password"] == "keep-me" and d["mqtt_host"] == "h"
    assert d["mqtt_port"] == 1884 and d["ha_discovery"] is False
    pw = d["admin_password"]
    assert pw.startswith("s1$") and len(pw) == 84 and "hunter2" not in pw
    import os

    assert "config.json.tmp" not in os.listdir(app.dir)


def test_scan_strongest_first_and_without_portal():
    app = wf.make_app()
    assert _get(app, "/api/scan").json() == {"networks": []}
    app.portal = Portal()
    d = _get(app, "/api/scan").json()
    assert [n["ssid"] for n in d["networks"]] == ["open", "mid", "weak"]
    assert d["networks"][0] == {"ssid": "open", "rssi": -40, "secure": False}


def _log():
    # The logger the handler reads, at INFO and with the device's ring: in a whole-suite run
    # other tests leave the level at ERROR (INFO lines would never reach the ring) or a ring
    # larger than the web server's large slot (the oldest lines left out of /api/log).
    import log as current

    current.basicConfig(level=current.INFO, console=False, ring_bytes=current.RING_BYTES)
    return current


def test_log_lines_and_reboot():
    app = wf.make_app()
    _log().getLogger("test").info("hello from the web test")
    r = _get(app, "/api/log")
    assert r.status == 200 and r.headers["cache-control"] == "no-store"
    assert any("hello from the web test" in ln for ln in r.json()["lines"])
    r = _post(app, "/api/reboot", {})
    assert r.status == 200 and r.json() == {"ok": True}
    assert app.exit_code == "reset"


def test_log_whole_lines_escaped_and_the_ring_wrapped():
    app = wf.make_app()
    log = _log()
    lg = log.getLogger("test")
    lg.info('quote " backslash \\ tab \t end')
    d = _get(app, "/api/log").json()
    assert d["lines"][-1].endswith('INFO test: quote " backslash \\ tab \t end'), d["lines"][-1]
    for i in range(200):  # the 1 KB ring wraps many times
        lg.info("line %d %s", i, "x" * (i % 37))
    lines = _get(app, "/api/log").json()["lines"]
    assert lines == log.recent(), (lines, log.recent())
    assert lines[-1].endswith("line 199 " + "x" * (199 % 37))


def test_ota_upload_is_streamed_to_the_ota_module():
    """POST /api/ota/upload reaches firmware/ota_web.py with the body unread (a garbage
    release is refused, nothing restarts); 503 while that module does not exist."""
    app = wf.make_app()
    app.ota_status = {"state": "idle", "progress": 0, "error": None, "version": "0"}
    try:
        __import__("firmware.ota_web")
        there = True
    except ImportError:
        there = False
    r = _post(app, "/api/ota/upload", b"NOT A RELEASE" * 300)  # 3.9 KB: over the slot
    if not there:
        assert r.status == 503 and r.json() == {"error": "OTA not available"}
        assert _post(app, "/api/ota", {"force": True}).status == 503
        return
    import gc

    if not hasattr(gc, "mem_alloc"):  # CPython: firmware/ota.py measures the heap (a 500)
        assert r.status in (400, 409, 500), r.raw
        return
    assert r.status in (400, 409), r.raw
    assert "error" in r.json() and app.exit_code is None
    import sys

    assert "firmware.ota_boot" not in sys.modules  # loaded for the request only


def test_pages_static_and_catch_all():
    app = wf.make_app()
    r = _get(app, "/")
    assert r.status == 200 and b"status" in r.body
    assert r.headers["content-type"].startswith("text/html")
    r = _get(app, "/config")
    assert r.status == 200 and b"config" in r.body
    r = _get(app, "/app.css")
    assert r.headers.get("content-encoding") == "gzip" and "etag" in r.headers
    for p in ("/generate_204", "/nope.html", "/../config.json", "/%2e%2e/secret.txt",
              "/..%2fsecret.txt", "/a/../../secret.txt", "/api/nope"):  # fmt: skip
        r = _get(app, p)
        assert r.status in (400, 404), (p, r.raw)
        assert b"secret" not in r.body
    app.portal = Portal()
    for p in ("/generate_204", "/hotspot-detect.html", "/connecttest.txt", "/ncsi.txt"):
        r = _get(app, p)
        assert r.status == 302 and r.headers["location"] == "http://192.168.4.1/config", p
    app.portal.active = False
    assert _get(app, "/gen_204").status == 404


def test_session_public_state_without_password():
    app = wf.make_app()
    d = _get(app, "/api/session").json()
    assert d["auth"] is False and d["logged_in"] is True and len(d["csrf"]) == 32
    assert d["ap"] is False
    assert web.TOKEN[0] == d["csrf"]


if __name__ == "__main__":
    import mpunit

    mpunit.main(globals())
