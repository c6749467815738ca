"""Sessions, CSRF and the admin password of the web API; imported per request, dropped after.
Its state lives in firmware/web.py (SESSIONS, LIMIT, TOKEN), which stays loaded.

Contract (docs/design/web-api.md, docs/design/web.md):
  hash_password(pw, salt=None) -> "s1$" + 16 hex salt + "$" + sha256(salt + pw) hex
  verify(stored, pw) -> bool (constant time over the digest)
  check(app, req, level) -> None, or the 401/403 response: level 1 a session, 2 a session
      and the X-CSRF-Token header. No admin password set: everyone has a session, and the
      CSRF token is TOKEN (one per boot).
  logged_in(app, req) -> bool
  session(app, req), login(app, req), logout(app, req): the endpoints.
Sessions: len(web.SESSIONS) slots (the least recently used is replaced), random 128-bit ids
and CSRF tokens (os.urandom), dropped after IDLE_MS unused; cookie `sid`, HttpOnly,
SameSite=Strict. Login: FAILS wrong passwords in a row lock it for 30 s, doubling at each
new lock up to MAX_LOCK_S; a success resets it.
"""

import hashlib
import os
from binascii import hexlify, unhexlify

import httpd_form
from firmware import crash, web

IDLE_MS = 3600000
FAILS = 5
MAX_LOCK_S = 3600
_LOCK_S = 30


def _hex(b):
    return hexlify(b).decode()


def _token():
    return _hex(os.urandom(16))


def hash_password(pw, salt=None):
    if salt is None:
        salt = os.urandom(8)
    return "s1$%s$%s" % (_hex(salt), _hex(hashlib.sha256(salt + pw.encode()).digest()))


def _same(a, b):
    if len(a) != len(b):
        return False
    d = 0
    for i in range(len(a)):
        d |= ord(a[i]) ^ ord(b[i])
    return d == 0


def verify(stored, pw):
    if not stored.startswith("s1$") or len(stored) != 84 or stored[19] != "$":
        return False
    try:
        salt = unhexlify(stored[3:19])
    except ValueError:
        return False
    return _same(hash_password(pw, salt), stored)


def _pw(app):
    return app.settings["admin_password"]


def _find(req):
    """The live session slot of req's cookie, or None (expired ones are freed)."""
    sid = httpd_form.cookie(req, "sid")
    if not sid:
        return None
    now = crash.uptime_ms()
    ss = web.SESSIONS
    for i in range(len(ss)):
        s = ss[i]
        if s is not None and now - s[2] > IDLE_MS:
            ss[i] = s = None
        if s is not None and _same(s[0], sid):
            s[2] = now
            return s
    return None


def _csrf(app, req):
    """The CSRF token of req (the session's, or TOKEN without a password), or None."""
    if not _pw(app):
        if not web.TOKEN[0]:
            web.TOKEN[0] = _token()
        return web.TOKEN[0]
    s = _find(req)
    return None if s is None else s[1]


def logged_in(app, req):
    return not _pw(app) or _find(req) is not None


def _err(status, msg):
    return (status, "application/json", '{"error": "%s"}' % msg, "")


def check(app, req, level):
    tok = _csrf(app, req)
    if tok is None:
        return _err(401, "login required")
    if level > 1:
        h = req.header("x-csrf-token")
        if not h or not _same(h, tok):
            return _err(403, "CSRF token missing or wrong")
    return None


def _ap(app):
    p = getattr(app, "portal", None)
    return bool(p is not None and p.active)


def session(app, req):
    tok = _csrf(app, req)
    return {
        "auth": bool(_pw(app)),
        "logged_in": tok is not None,
        "csrf": tok or "",
        "ap": _ap(app),
    }


def login(app, req):
    lim = web.LIMIT
    now = crash.uptime_ms()
    if now < lim[1]:
        return 429, {"error": "too many attempts", "retry_s": (lim[1] - now + 999) // 1000}
    body = httpd_form.json_body(req)
    pw = body.get("password") if isinstance(body, dict) else None
    if not isinstance(pw, str):
        return 400, {"error": "password expected"}
    stored = _pw(app)
    if not stored:
        return {"ok": True, "csrf": _csrf(app, req)}
    if not verify(stored, pw):
        lim[0] += 1
        if lim[0] >= FAILS:
            lim[0] = 0
            lim[1] = now + lim[2] * 1000
            lim[2] = min(lim[2] * 2, MAX_LOCK_S)
        return 401, {"error": "wrong password"}
    lim[0] = 0
    lim[2] = _LOCK_S
    ss = web.SESSIONS
    k = 0
    for i in range(len(ss)):
        if ss[i] is None:
            k = i
            break
        if ss[i][2] < ss[k][2]:
            k = i
    s = ss[k] = [_token(), _token(), now]
    return (200, "application/json", '{"ok": true, "csrf": "%s"}' % s[1],
            httpd_form.set_cookie("sid", s[0]))  # fmt: skip


def logout(app, req):
    s = _find(req)
    ss = web.SESSIONS
    for i in range(len(ss)):
        if ss[i] is s and s is not None:
            ss[i] = None
    return (200, "application/json", '{"ok": true}', httpd_form.set_cookie("sid", "", 0))
