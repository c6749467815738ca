"""The web server: pages, the JSON API (docs/design/web-api.md) and the captive portal's
catch-all, on lib/httpd.py.

Contract:
  build(app)   port hal.setting("HTTP_PORT") (the board: 80 when unset; the host: no server
               when unset); makes the history (app.history, firmware/history.py) and adds
               the tasks "history" and "web"; the latter makes the Server (app.web) when it
               starts, after boot's modules are dropped, and listens on 0.0.0.0 on the
               board, 127.0.0.1 on the host.
  make(app)    the Server with every route, not started (tests start it on their port).
  ROOT         the pages' folder: `www` beside the image's firmware/ (build/device/www on the
               host, /www on the board), else firmware/www (the sources).
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
from firmware import hal, unload

# The slots' buffers (one connection each; more connections wait, httpd max_wait): a request's
# line, headers and small body, then its answer's values (/api/state's, three-phase ~1.5 KB,
# in the large one; the small one is used while the large one is busy). Larger answers are
# streamed (config, history) or take a buffer of their own (/api/state over the slot).
BUFSIZES = (2048, 1024)
RETRY_S = 30  # no memory for the slots, or the port taken, at start: try again after
MAX_BODY = 1400  # a whole config form as JSON fits (POST /api/config: streamed, not in a slot)
UPLOAD_MS = 300000  # a release upload: the handler and its answer

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

_app = None
_oom = [0]  # answers refused for lack of memory (503), since boot


def _root():
    f = sys.modules["firmware"].__file__.replace("\\", "/")
    d = f[: f.rfind("/")] if "/" in f else "."  # .../firmware
    up = d[: d.rfind("/")] if "/" in d else ""
    for r in ((up or ".") + "/www", d + "/www"):
        try:
            if os.stat(r)[0] & 0x4000:
                return r
        except OSError:
            pass
    return "/www" if hal.PLATFORM != "host" else (up or ".") + "/www"


ROOT = _root()


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


def make(app):
    global _app
    _app = app
    srv = httpd.Server(0, BUFSIZES)
    srv.max_body = MAX_BODY
    srv.route("POST", "/api/ota/upload", _api, stream=True, timeout_ms=UPLOAD_MS)
    srv.route("POST", "/api/config", _api, stream=True)
    for m in ("GET", "POST"):
        srv.route(m, "/api/", _api, True)
    srv.catch_all = _page
    return srv


async def _serve(app, host, port):
    import asyncio

    from log import getLogger

    while app.web is None:
        app.spare(False)  # the slots' buffers are made here, once boot's modules are gone,
        try:  # in the spare hole (a fragmented heap may have no other 3 KB one)
            app.web = make(app)
        except MemoryError:  # a fragmented heap: try again later rather than crash
            pass
        app.spare(True)
        if app.web is None:
            getLogger("http").error("no memory for the web server; again in %d s", RETRY_S)
            await asyncio.sleep(RETRY_S)
    srv = app.web
    while True:
        try:
            await srv.start(host, port, backlog=4)
            break
        except OSError as e:  # the port is taken (host), or no socket left: not a crash
            getLogger("http").error("cannot listen on port %d: %r; again in %d s", port, e,
                                    RETRY_S)  # fmt: skip
            await asyncio.sleep(RETRY_S)
    try:
        while True:
            await asyncio.sleep(3600)
    finally:
        srv.close()


def build(app):
    port = hal.setting("HTTP_PORT")
    if port is None:
        if hal.PLATFORM == "host":
            return
        port = 80
    from firmware import history

    app.web = None
    try:  # now, at boot: long-lived big blocks made early sit together, not in later holes
        app.web = make(app)
    except MemoryError:  # the task tries again
        pass
    app.history = history.History()
    app.add_task("history", app.history.run(app.readings))
    host = "127.0.0.1" if hal.PLATFORM == "host" else "0.0.0.0"
    app.add_task("web", _serve(app, host, int(port)))
