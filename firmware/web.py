"""The web server: pages, the JSON API (docs/design/web-api.md) and the captive portal's
catch-all, on lib/httpd.py.

Contract:
  build(app)   port hal.setting("HTTP_PORT") (the board: 80 when unset; the host: no server
               when unset); makes the Server (app.web) and the history (app.history,
               firmware/history.py) and adds the tasks "history" and "web"; the latter makes
               the Server if boot could not, and listens on 0.0.0.0 on the board, 127.0.0.1
               on the host.
  make(app)    the Server with every route, not started (tests start it on their port).
  ROOT         the pages' folder (firmware/web_boot.py root()), set by make() unless set.
Both, and the task's start, are in firmware/web_boot.py, loaded for them and dropped after.
Routes: GET/HEAD of a file of ROOT (`/` index.html, `/config`, `/login`: their .html);
/api/*: the handlers of firmware/web_state.py, web_api.py, web_auth.py, web_config.py, each
imported for the request and dropped after (a MemoryError in one is a 503 with Retry-After,
counted in _oom, not a logged 500); anything else: 302 to http://<AP ip>/config while the
portal is active, else 404. Resident state: the session slots and the login
limiter (SESSIONS, LIMIT, TOKEN, used by web_auth). Design and figures: docs/design/web.md.
"""

import os
import sys

import httpd
from firmware import unload

MAX_BODY = 1400  # a whole config form as JSON fits (POST /api/config: streamed, not in a slot)

# method, path, module (firmware.web_*), function, access: 0 public, 1 a session,
# 2 a session and the CSRF header
_API = (
    ("GET", "/api/state", "web_state", "state", 0),
    ("GET", "/api/history", "web_state", "history", 0),
    ("GET", "/api/scan", "web_api", "scan", 0),
    ("GET", "/api/log", "web_api", "log", 1),
    ("POST", "/api/reboot", "web_api", "reboot", 2),
    ("POST", "/api/ota", "web_api", "ota", 2),
    ("POST", "/api/ota/upload", "web_api", "upload", 2),
    ("GET", "/api/session", "web_auth", "session", 0),
    ("POST", "/api/login", "web_auth", "login", 0),
    ("POST", "/api/logout", "web_auth", "logout", 2),
    ("GET", "/api/config", "web_config", "get", 1),
    ("POST", "/api/config", "web_config", "post", 2),
)
_PAGES = {"/": "index.html", "/config": "config.html", "/login": "login.html"}
NO_STORE = "Cache-Control: no-store\r\n"

# Kept across requests, used by firmware/web_auth.py: session slots [sid, csrf, last use ms]
# (None: free), the login limiter [failures, locked until ms, next lock s] and the CSRF
# token used while no admin password is set (made on first use).
SESSIONS = [None, None, None]
LIMIT = [0, 0, 30]
TOKEN = [""]

ROOT = None  # the pages' folder: set by make() (firmware/web_boot.py) unless set before
_app = None
_oom = [0]  # answers refused for lack of memory (503), since boot


def _fallback(req):
    p = getattr(_app, "portal", None)
    if p is not None and p.active:
        return httpd.redirect("http://%s/config" % p.ip, 302, NO_STORE)
    return 404


def _page(req):
    """Catch-all: a file of ROOT for GET and HEAD, else _fallback()."""
    if req.method not in ("GET", "HEAD"):
        return _fallback(req)
    name = _PAGES.get(req.path)
    if name is None:
        name = req.path[1:]
        if not name or "/" in name or name.startswith(".") or "\\" in name:
            return _fallback(req)
    path = ROOT + "/" + name
    for p in (path, path + ".gz"):
        try:
            os.stat(p)
            return httpd.send_file(path)
        except OSError:
            pass
    return _fallback(req)


def respond(res, status=200):
    """A handler's result (dict, list, int, (status, dict) or a response tuple) with
    Cache-Control: no-store."""
    if isinstance(res, int):
        return (res, "", b"", NO_STORE)
    if isinstance(res, tuple):
        if len(res) == 2:  # (status, JSON-able)
            return httpd.json_response(res[1], res[0], NO_STORE)
        return (res[0], res[1], res[2], res[3] + NO_STORE)
    return httpd.json_response(res, status, NO_STORE)


async def _api(req):
    m = "GET" if req.method == "HEAD" else req.method
    path = req.path
    for e in _API:
        if e[1] == path and e[0] == m:
            break
    else:
        return respond({"error": "not found"}, 404)
    if e[3] == "post" and req.length > MAX_BODY:  # the streamed config form: refused unread
        return respond(413)
    name = "firmware." + e[2]
    big = e[2] != "web_state"  # the small polls need no spare hole
    if big:
        _app.spare(False)
    try:
        if e[4]:
            __import__("firmware.web_auth")
            res = sys.modules["firmware.web_auth"].check(_app, req, e[4])
            if res is not None:
                return respond(res)
        __import__(name)
        res = getattr(sys.modules[name], e[3])(_app, req)
        if hasattr(res, "send"):
            res = await res
        return respond(res)
    except MemoryError:  # a full or fragmented heap: the page polls again
        _oom[0] += 1
        return (503, "", b"", "Retry-After: 2\r\n" + NO_STORE)
    finally:
        unload(name, "firmware.web_auth")
        if big:
            _app.spare(True)


def _boot():
    __import__("firmware.web_boot")
    return sys.modules["firmware.web_boot"]


def make(app):
    try:
        return _boot().make(app)
    finally:
        unload("firmware.web_boot")


def build(app):
    try:
        _boot().build(app)
    finally:
        unload("firmware.web_boot")


async def _serve(app, host, port):
    import asyncio

    try:  # the server made if boot could not, then listening (with retries)
        await _boot().serve(app, host, port)
    finally:
        unload("firmware.web_boot")
    try:
        while True:
            await asyncio.sleep(3600)
    finally:
        app.web.close()
