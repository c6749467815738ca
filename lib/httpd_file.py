"""Static files for lib/httpd.py: imported by the server for each file answer (send_file)
and dropped after, so that this code is not resident between page loads.

  static(srv, prefix, root)   serve the files under directory `root` (with their .gz) for GET
      paths starting with `prefix`, the rest of the path naming the file (index.html for a
      directory); 400 for "..", a backslash, "//", an absolute path. Add it after the routes
      it would otherwise hide (the first match wins). The route's handler is httpd's
      send_file and `root` rides in the route, so nothing of this module stays referenced
      (a handler of its own would keep a dropped copy of it alive for good).

  open_file(req, path, hd) -> (status, type, size or body, header lines, open file or None):
      (`path` a Request: the file a static() route names for it)
      `path`, or `path`.gz when the client accepts gzip (406 when only the .gz exists and the
      client refuses gzip), with ETag (size and mtime), Cache-Control: no-cache and 304 for a
      matching If-None-Match; 404 when neither exists. The caller streams and closes the file.
Cost: a few small strings per file; nothing per chunk (the caller streams through its buffer).
"""

import os

from httpd import _TEXT, HTTPError, send_file

_TYPES = (
    "html text/html; charset=utf-8|css text/css|js text/javascript|json application/json|"
    "svg image/svg+xml|png image/png|ico image/x-icon|txt text/plain; charset=utf-8|"
)


def static(srv, prefix, root):
    srv.routes.append(("GET", prefix, True, send_file, False, 0, root))  # Server.route's + root


def _safe(root, p):
    """root/p, or HTTPError(400) when p holds "..", a backslash, "//" or starts with "/"."""
    if ".." in p or p.startswith("/") or "\\" in p or "//" in p:
        raise HTTPError(400)
    if p == "" or p.endswith("/"):
        p += "index.html"
    return root + "/" + p


def _accepts_gzip(v):
    """Whether an Accept-Encoding value allows gzip (None: no header, anything goes)."""
    if v is None:
        return True
    star = False
    for p in v.lower().split(","):
        p = p.split(";")
        t = p[0].strip()
        if t in ("gzip", "*"):
            q = p[1].replace(" ", "") if len(p) > 1 else ""
            ok = not (q.startswith("q=0") and q.strip("q=0.") == "")
            if t == "gzip":
                return ok
            star = ok
    return star


def _stat(path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return None if st[0] & 0x4000 else st  # a directory


def open_file(req, path, hd):
    if not isinstance(path, str):  # send_file(req) of a static() route: the path names it
        rt = req._rt
        path = _safe(rt[6], req.path[len(rt[1]) :])
    st = _stat(path)
    gz = _stat(path + ".gz")
    ok = _accepts_gzip(req.header("accept-encoding"))
    if gz and (ok or st is None):
        if not ok:
            return 406, _TEXT, b"Not Acceptable", hd, None
        st = gz
        hd += "Content-Encoding: gzip\r\n"
    elif st is None:
        return 404, _TEXT, b"Not Found", hd, None
    if gz:
        hd += "Vary: Accept-Encoding\r\n"
    gz = st is gz
    tag = '"%x-%x%s"' % (st[6], st[8], "g" if gz else "")
    hd += "ETag: %s\r\nCache-Control: no-cache\r\n" % tag
    inm = req.header("if-none-match")
    if inm and (inm == "*" or tag in inm):
        return 304, "", b"", hd, None
    i = _TYPES.find(path[path.rfind(".") + 1 :] + " ")
    ct = "application/octet-stream"
    if i == 0 or (i > 0 and _TYPES[i - 1] == "|"):
        ct = _TYPES[_TYPES.find(" ", i) + 1 : _TYPES.find("|", i)]
    return 200, ct, st[6], hd, open(path + ".gz" if gz else path, "rb")
