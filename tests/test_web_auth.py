# micropython: also
"""firmware/web_auth.py over real loopback HTTP (tests/web_fixture.py), CPython and the unix port:
password hashes, login, logout, a wrong password, the rate limit, CSRF-less and session-less
POSTs refused, and secrets in no answer."""

import asyncio

import web_fixture as wf

from firmware import web, web_auth

PW = "correct horse"


def _app(**kw):
    app = wf.make_app(**kw)
    app.settings["admin_password"] = web_auth.hash_password(PW)
    return app


def _req(port, method, path, body=None, **kw):
    return wf.request(port, method, path, body, **kw)


def test_hash_format_and_verify():
    h = web_auth.hash_password("pw", b"\x01\x02\x03\x04\x05\x06\x07\x08")
    assert h.startswith("s1$0102030405060708$") and len(h) == 84
    import hashlib
    from binascii import hexlify

    want = hexlify(hashlib.sha256(b"\x01\x02\x03\x04\x05\x06\x07\x08pw").digest()).decode()
    assert h[20:] == want
    assert web_auth.verify(h, "pw") and not web_auth.verify(h, "pW")
    assert not web_auth.verify("pw", "pw") and not web_auth.verify("s1$zz" + h[5:], "pw")
    assert web_auth.hash_password("pw") != web_auth.hash_password("pw")  # salted


def test_login_session_csrf_logout():
    app = _app()

    async def go(port):
        s = (await _req(port, "GET", "/api/session")).json()
        assert s == {"auth": True, "logged_in": False, "csrf": "", "ap": False}
        for path in ("/api/config", "/api/log"):
            r = await _req(port, "GET", path)
            assert r.status == 401 and r.json() == {"error": "login required"}, path
        r = await _req(port, "POST", "/api/reboot", {})
        assert r.status == 401
        assert (await _req(port, "GET", "/api/state")).status == 200  # public
        r = await _req(port, "POST", "/api/login", {"password": PW})
        assert r.status == 200, r.raw
        cookie = r.cookies[0]
        assert cookie.startswith("sid=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert "Path=/" in cookie
        sid = cookie.split(";")[0]
        csrf = r.json()["csrf"]
        assert r.json()["ok"] is True and len(csrf) == 32
        h = {"Cookie": sid}
        s = (await _req(port, "GET", "/api/session", headers=h)).json()
        assert s["logged_in"] is True and s["csrf"] == csrf
        assert (await _req(port, "GET", "/api/config", headers=h)).status == 200
        assert (await _req(port, "GET", "/api/log", headers=h)).status == 200
        r = await _req(port, "POST", "/api/config", {"heartbeat_s": 30}, headers=h)
        assert r.status == 403 and r.json() == {"error": "CSRF token missing or wrong"}
        h2 = {"Cookie": sid, "X-CSRF-Token": "0" * 32}
        assert (await _req(port, "POST", "/api/config", {"x": 1}, headers=h2)).status == 403
        h2 = {"Cookie": "sid=" + "0" * 32, "X-CSRF-Token": csrf}
        assert (await _req(port, "POST", "/api/config", {"x": 1}, headers=h2)).status == 401
        h2 = {"Cookie": sid, "X-CSRF-Token": csrf}
        r = await _req(port, "POST", "/api/logout", {}, headers=h2)
        assert r.status == 200 and "Max-Age=0" in r.cookies[0]
        assert (await _req(port, "GET", "/api/config", headers=h)).status == 401
        r = await _req(port, "POST", "/api/reboot", {}, headers=h2)
        assert r.status == 401
        return True

    assert wf.run(app, go)
    assert app.exit_code is None


def test_wrong_password_and_rate_limit():
    app = _app()

    async def go(port):
        for _ in range(web_auth.FAILS):
            r = await _req(port, "POST", "/api/login", {"password": "guess"})
            assert r.status == 401 and r.json() == {"error": "wrong password"}
            assert not r.cookies
        r = await _req(port, "POST", "/api/login", {"password": PW})  # locked: even the right one
        assert r.status == 429, r.raw
        d = r.json()
        assert d["error"] and 29 <= d["retry_s"] <= 30
        assert not r.cookies
        web.LIMIT[1] = 0  # the lock is over (as 30 s later)
        for _ in range(web_auth.FAILS):
            await _req(port, "POST", "/api/login", {"password": "guess"})
        d = (await _req(port, "POST", "/api/login", {"password": PW})).json()
        assert 59 <= d["retry_s"] <= 60  # doubled
        web.LIMIT[1] = 0
        r = await _req(port, "POST", "/api/login", {"password": PW})
        assert r.status == 200
        assert web.LIMIT[0] == 0 and web.LIMIT[2] == 30  # a success resets it
        r = await _req(port, "POST", "/api/login", b"password=x")
        assert r.status in (400, 415)
        return True

    assert wf.run(app, go)


def test_sessions_are_few_and_the_oldest_goes():
    app = _app()

    async def go(port):
        sids = []
        for _ in range(len(web.SESSIONS) + 1):
            r = await _req(port, "POST", "/api/login", {"password": PW})
            sids.append(r.cookies[0].split(";")[0])
            await asyncio.sleep(0.01)
        ok = []
        for sid in sids:
            r = await _req(port, "GET", "/api/config", headers={"Cookie": sid})
            ok.append(r.status)
        return ok

    assert wf.run(app, go) == [401] + [200] * len(web.SESSIONS)


def test_no_password_everyone_is_in_but_posts_need_the_token():
    app = wf.make_app()

    async def go(port):
        s = (await _req(port, "GET", "/api/session")).json()
        assert s["auth"] is False and s["logged_in"] is True
        assert (await _req(port, "GET", "/api/config")).status == 200
        r = await _req(port, "POST", "/api/reboot", {})
        assert r.status == 403
        r = await _req(port, "POST", "/api/login", {"password": "anything"})
        assert r.status == 200 and r.json()["csrf"] == s["csrf"]
        r = await _req(port, "POST", "/api/reboot", {}, headers={"X-CSRF-Token": s["csrf"]})
        assert r.status == 200
        return True

    assert wf.run(app, go)


GETS = ("/api/state", "/api/config", "/api/log", "/api/session", "/api/history", "/api/scan")
GETS += ("/config.json", "/../config.json", "/%2e%2e/config.json")


class Portal:
    active = True
    ssid = "linky-0001"
    password = "ap-secret-99"
    ip = "192.168.4.1"
    first_boot = False

    async def scan(self):
        return []


def test_secrets_in_no_answer():
    app = _app()
    app.portal = Portal()
    secrets = (b"wifi-secret-1", b"mqtt-secret-2", PW.encode(), b"ap-secret-99")
    with open(app.dir + "/config.json", "w") as f:
        f.write('{"wifi_password": "wifi-secret-1", "mqtt_password": "mqtt-secret-2"}')

    async def go(port):
        r = await _req(port, "POST", "/api/login", {"password": PW})
        sid = r.cookies[0].split(";")[0]
        bodies = [r.raw]
        for h in ({}, {"Cookie": sid}):
            for p in GETS:
                bodies.append((await _req(port, "GET", p, headers=h)).raw)
        state = (await _req(port, "GET", "/api/state", headers={"Cookie": sid})).json()
        return bodies, state

    bodies, state = wf.run(app, go)
    for b in bodies:
        for s in secrets[:3]:
            assert s not in b, (s, b[:300])
    # the AP password: only to a logged-in client
    assert state["ap"]["password"] == "ap-secret-99"
    assert sum(b"ap-secret-99" in b for b in bodies) == 1
    app.portal.first_boot = True  # AP mode before the first configuration: shown to all
    d = wf.run(app, lambda port: _req(port, "GET", "/api/state")).json()
    assert d["ap"]["password"] == "ap-secret-99"


if __name__ == "__main__":
    import mpunit

    mpunit.main(globals())
