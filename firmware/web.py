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
/api/*: the handlers of firmware/web_poll.py (/api/state, /api/session), web_state.py,
web_api.py, web_auth.py, web_config.py; anything else: 302 to http://<AP ip>/config while the
portal is active, else 404. /api/state and /api/session go straight to web_poll (the poll is
most requests, the session every page load); the
route table of the rest and the handlers' loader are firmware/web_req.py, and the handlers'
modules, each imported for the request and dropped after (a MemoryError in one is a 503
with Retry-After, counted in _oom, not a logged 500). Resident: this module's state, the
session slots and the login limiter (SESSIONS, LIMIT, TOKEN, used by web_auth). Design and
figures: docs/design/web.md.
"""

import sys

from firmware import unload

MAX_BODY = 1400  # a whole config form as JSON fits (POST /api/config: streamed, not in a slot)

# Kept across requests, used by firmware/web_auth.py: session slots [sid, csrf, last use ms]
# (None: free), the login limiter [failures, locked until ms, next lock s] and the CSRF
# token used while no admin password is set (made on first use).
SESSIONS = [None, None, None]
LIMIT = [0, 0, 30]
TOKEN = [""]

ROOT = None  # the pages' folder: set by make() (firmware/web_boot.py) unless set before
_app = None
_oom = [0]  # answers refused for lack of memory (503), since boot
_RETRY = "Retry-After: 2\r\nCache-Control: no-store\r\n"


async def _handle(req):
    """Every route and the catch-all: the handle() of firmware/web_poll.py for GET and HEAD
    /api/state (the status page's poll: most requests) and /api/session (every page load
    asks it), of firmware/web_req.py for the rest,
    loaded for the request and dropped after."""
    m = "firmware.web_req"
    if req.method != "POST" and req.path in ("/api/state", "/api/session"):
        m = "firmware.web_poll"
    try:
        __import__(m)
        return await sys.modules[m].handle(req)
    except MemoryError:  # no room for the request's code: the page polls again
        _oom[0] += 1
        return (503, "", b"", _RETRY)
    finally:
        unload(m, "httpd_form")


def _boot(fn, *args):
    """firmware/web_boot.py's `fn`(*args), the module dropped after (a coroutine keeps it)."""
    __import__("firmware.web_boot")
    try:
        return getattr(sys.modules["firmware.web_boot"], fn)(*args)
    finally:
        unload("firmware.web_boot")


def make(app):
    return _boot("make", app)


def build(app):
    _boot("build", app)


async def _serve(app, host, port):
    import asyncio

    await _boot("serve", app, host, port)  # the Server made if boot could not; listening
    try:
        while True:
            await asyncio.sleep(3600)
    finally:
        app.web.close()
