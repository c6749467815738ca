"""The request half of firmware/web.py: the API's route table and handler loader, the pages
and the captive portal's fallback; imported by web.py for each request but GET /api/state
(firmware/web_poll.py) and dropped after (its state, the sessions and the limiter, stays in
web.py).

  await handle(req)   api(req) for /api/*, else page(req) (web.py's one handler).
  await api(req)   /api/*: the endpoint of _API (module firmware.<module>, function, access
                   level checked by firmware/web_auth.py first), imported for the request
                   and dropped after; a MemoryError in one is a 503 with Retry-After,
                   counted in web._oom.
  page(req)        GET/HEAD of a file of web.ROOT (`/` index.html, `/config`, `/login`: their
                   .html), else _fallback(): 302 to http://<AP ip>/config while the portal is
                   active, else 404.
  respond(res, status=200)   a handler's result (dict, list, int, (status, dict) or a response
                   tuple) with Cache-Control: no-store.
"""

import os
import sys

import httpd
from firmware import unload, web

# method, path, module (firmware.web_*), function, access: 0 public, 1 a session,
# 2 a session and the CSRF header
_API = (
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


def _fallback(req):
    p = getattr(web._app, "portal", None)
    if p is not None and p.active:
        import httpd_form  # dropped by web._handle

        return httpd_form.redirect("http://%s/config" % p.ip, 302, NO_STORE)
    return 404


def page(req):
    """The catch-all: a file of web.ROOT for GET and HEAD, else _fallback()."""
    if req.method not in ("GET", "HEAD"):
        return _fallback(req)
    name = _PAGES.get(req.path)
    if name is None:
        name = req.path[1:]
        if not name or "/" in name or name.startswith(".") or "\\" in name:
            return _fallback(req)
    path = web.ROOT + "/" + name
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


async def api(req):
    m = "GET" if req.method == "HEAD" else req.method
    path = req.path
    for e in _API:
        if e[1] == path and e[0] == m:
            break
    else:
        return respond({"error": "not found"}, 404)
    if e[3] == "post" and req.length > web.MAX_BODY:  # the streamed config form: refused unread
        return respond(413)
    name = "firmware." + e[2]
    big = e[2] != "web_state"  # the chart's poll needs no spare hole
    if big:
        web._app.spare(False)
    try:
        if e[4]:
            __import__("firmware.web_auth")
            res = sys.modules["firmware.web_auth"].check(web._app, req, e[4])
            if res is not None:
                return respond(res)
        __import__(name)
        res = getattr(sys.modules[name], e[3])(web._app, req)
        if hasattr(res, "send"):
            res = await res
        return respond(res)
    except MemoryError:  # a full or fragmented heap: the page polls again
        web._oom[0] += 1
        return (503, "", b"", "Retry-After: 2\r\n" + NO_STORE)
    finally:
        unload(name, "firmware.web_auth", "httpd_form")  # web_auth's import of it too
        if big:
            web._app.spare(True)


async def handle(req):
    if req.path.startswith("/api/"):  # the routes: GET, HEAD and POST
        return await api(req)
    return page(req)  # the catch-all
