"""The query string, urlencoded form, JSON body and cookies of an httpd Request, the
Set-Cookie line, redirect(url, status=302, headers) (a response; ValueError for CR or LF in
the url) and percent-decoding (unquote; lib/httpd.py loads this module for a request
path with escapes); imported by the handlers that need them, so that lib/httpd.py stays small.
Each call allocates what it returns; names and values are percent-decoded str; at most
`req.srv.max_fields` fields (HTTPError(413) beyond); HTTPError(400) for bad escapes or UTF-8.
"""

import json

from httpd import HTTPError


def _hex(c):
    if 48 <= c <= 57:
        return c - 48
    c |= 32
    return c - 87 if 97 <= c <= 102 else -1


def unquote(src, a=0, b=None, plus=False):
    """Percent-decode src[a:b] (bytes-like) to a str; `plus`: "+" is a space (forms).
    HTTPError(400) on a bad escape or bytes that are not UTF-8."""
    if b is None:
        b = len(src)
    out = bytearray()
    while a < b:
        c = src[a]
        a += 1
        if c == 37:  # %
            h = _hex(src[a]) if a < b else -1
            lo = _hex(src[a + 1]) if a + 1 < b else -1
            if h < 0 or lo < 0:
                raise HTTPError(400)
            c = h * 16 + lo
            a += 2
        elif c == 43 and plus:
            c = 32
        out.append(c)
    try:
        return out.decode()
    except ValueError:
        raise HTTPError(400)


def _pairs(req, a, b):
    buf = req.buf
    d = {}
    while a < b:
        j = buf.find(b"&", a, b)
        if j < 0:
            j = b
        if j > a:
            if len(d) >= req.srv.max_fields:
                raise HTTPError(413)
            k = buf.find(b"=", a, j)
            if k < 0:
                k = j
            d[unquote(buf, a, k, True)] = unquote(buf, k + 1 if k < j else j, j, True)
        a = j + 1
    return d


def args(req):
    """The query string's fields as a dict (the last of a repeated name wins)."""
    return _pairs(req, req._q, req._l) if req._q else {}


def body(req):
    """The request body (bytes)."""
    return bytes(req.buf[req._b : req._n])


def form(req):
    """The application/x-www-form-urlencoded body's fields as a dict; HTTPError(415) for
    another content type."""
    ct = (req.header("content-type") or "").split(";")[0].strip().lower()
    if ct != "application/x-www-form-urlencoded":
        raise HTTPError(415)
    return _pairs(req, req._b, req._n)


def json_body(req):
    """The body parsed as JSON; HTTPError(415) for a content type without "json", 400 if
    malformed."""
    if "json" not in (req.header("content-type") or ""):
        raise HTTPError(415)
    try:
        return json.loads(body(req))
    except ValueError:
        raise HTTPError(400)


async def read_json(req, limit):
    """The JSON body of a streamed route (req.length bytes), read into a buffer of its own:
    HTTPError(413) over `limit` bytes, 415 for a content type without "json", 400 if it is
    cut short or malformed. For bodies that need not fit the slot buffer."""
    if "json" not in (req.header("content-type") or ""):
        raise HTTPError(415)
    if req.length > limit:
        raise HTTPError(413)
    b = bytearray(req.length)
    mv = memoryview(b)
    p = 0
    while p < len(b):
        k = await req.readinto(mv[p:])
        if not k:
            raise HTTPError(400)
        p += k
    try:
        return json.loads(b)
    except ValueError:
        raise HTTPError(400)


def cookie(req, name):
    """The value of cookie `name` from the Cookie header, or None."""
    for p in (req.header("cookie") or "").split(";"):
        p = p.strip()
        if p.startswith(name) and p[len(name) : len(name) + 1] == "=":
            return p[len(name) + 1 :]
    return None


def set_cookie(name, value, max_age=None, path="/"):
    """A Set-Cookie header line (CRLF-terminated), HttpOnly and SameSite=Strict; max_age 0
    deletes the cookie. ValueError for a separator or a control character in name or value."""
    for c in name + value:
        if c < "!" or c > "~" or c in ';,"\\':
            raise ValueError("bad cookie")
    if not name or "=" in name:
        raise ValueError("bad cookie")
    age = "" if max_age is None else "; Max-Age=%d" % max_age
    return "Set-Cookie: %s=%s; Path=%s%s; HttpOnly; SameSite=Strict\r\n" % (name, value, path, age)


def redirect(url, status=302, headers=""):
    """A redirect to `url` (no CR, LF)."""
    if "\r" in url or "\n" in url:
        raise ValueError("bad url")
    return (status, "", b"", "Location: %s\r\n%s" % (url, headers))
