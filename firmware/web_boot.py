"""The web server's boot-time half (firmware/web.py's make, build and the start of its task),
imported for those calls and dropped after: none of it is resident.

  root() -> the pages' folder: `www` beside the image's firmware/ (build/device/www on the
      host, /www on the board), else firmware/www (the sources). A firmware package with no
      folder (frozen into the linky image, or found in the current folder; the host's
      FROZEN hook) looks along sys.path as imports do: the first entry holding `www` (an
      update's app folder, whose data files go with the image's code, else the root).
  make(app) -> the httpd Server with every route, not started; sets web.ROOT (unless set).
  build(app)   see firmware/web.py.
  await serve(app, host, port)   makes the Server if boot could not (in the spare hole,
      retrying every RETRY_S), then listens (retrying every RETRY_S when the port is taken);
      returns once listening.
"""

import os
import sys

import httpd
from firmware import hal, web

# The slots' buffers (one connection each; more connections wait, httpd max_wait): a request's
# line, headers and small body, then its answer's values (/api/state's, three-phase ~1.5 KB,
# in the large one; the small one is used while the large one is busy). Larger answers are
# streamed (config, history) or take a buffer of their own (/api/state over the slot).
BUFSIZES = (2048, 1024)
RETRY_S = 30  # no memory for the slots, or the port taken, at start: try again after
UPLOAD_MS = 300000  # a release upload: the handler and its answer


def root():
    f = sys.modules["firmware"].__file__.replace("\\", "/")
    d = f[: f.rfind("/")] if "/" in f else "."  # .../firmware
    up = d[: d.rfind("/")] if "/" in d else ""
    rs = [(up or ".") + "/www", d + "/www"]
    if not up or hal.setting("FROZEN") == "1":  # frozen (the linky image), or from the root
        rs = [p + "/www" if p else "www" for p in sys.path if p != ".frozen"] + rs
    for r in rs:
        try:
            if os.stat(r)[0] & 0x4000:
                return r
        except OSError:
            pass
    return "/www" if hal.PLATFORM != "host" else (up or ".") + "/www"


def make(app):
    web._app = app
    if web.ROOT is None:
        web.ROOT = root()
    srv = httpd.Server(0, BUFSIZES)
    srv.max_body = web.MAX_BODY
    srv.route("POST", "/api/ota/upload", web._handle, stream=True, timeout_ms=UPLOAD_MS)
    srv.route("POST", "/api/config", web._handle, stream=True)
    for m in ("GET", "POST"):
        srv.route(m, "/api/", web._handle, True)
    srv.catch_all = web._handle
    return srv


async def serve(app, host, port):
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
    app.add_task("web", web._serve(app, host, int(port)))
