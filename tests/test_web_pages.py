"""The web pages in a real browser (Playwright driving Debian's Chromium) against the firmware
under tools/sim.py, on loopback ports: the first-boot portal up to MQTT data at the test's
Mosquitto, validation errors next to their fields, the status page and chart updating live,
login, logout, a wrong password and POSTs without the CSRF token.

Every run saves screenshots of each page, phone-sized (390x844) and desktop-sized (1280x800),
light and dark, into screenshots/ at the repository root (git-ignored), for review:
`<state>-<page>-<phone|desktop>-<light|dark>.png`, state `portal` (first boot, access point),
`station` (configured, live values) or `locked` (admin password set, logged out).

Slow: each test runs the firmware in real time. Waits are on page conditions, log lines or
MQTT messages, with generous timeouts; nothing sleeps for a fixed time."""

import json
import os
import re
import threading
import time
import urllib.request

import pytest
from mqtt_bench import Subscriber
from test_e2e_mqtt import nth
from test_sim import Sim

import upy
from broker import free_port

pytestmark = pytest.mark.slow

ROOT = upy.ROOT
SHOTS = ROOT / "screenshots"
CHROMIUM = "/usr/bin/chromium"
TIC = "sim:standard,3,tempo"
HANG = 600.0  # seconds: a simulator still running after this is killed
WAIT_S = 90.0  # the longest wait for one awaited condition (a restart included)
SHOT_WAIT_S = 40.0  # the longest wait for a page's data before its screenshot
VIEWS = (("phone", 390, 844), ("desktop", 1280, 800))
SCHEMES = ("light", "dark")
# page name, path, selector present once the page has its data
PAGES = (
    ("status", "/", "#tic tr"),
    ("config", "/config", "#form:not([hidden]), #password"),
    ("login", "/login", "header"),
)
BOOT = r"INFO app: linky \S+ on host, boot %d "


@pytest.fixture(scope="module")
def built():
    import subprocess
    import sys

    subprocess.run([sys.executable, "tools/build.py"], cwd=ROOT, check=True, capture_output=True)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail("chromium missing: run make test as root, or sudo apt-get install -y chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


def _get(url, timeout=2.0):
    """(status, JSON body or None) of a GET, (0, None) when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, None
    except (OSError, ValueError):
        return 0, None


def _start(state, *extra, fresh=True, mqtt=None):
    """tools/sim.py with its web server on a free port; returns the Sim once /api/session
    answers, with `base` (the server's URL) and `state` (the simulated flash)."""
    http = free_port()
    args = ["--tic", TIC, "--baud", "9600", "--state", str(state), "--http", str(http)]
    args += ["--dns", str(free_port())]
    if fresh:
        args.append("--fresh")
    if mqtt:
        args += ["--mqtt", "127.0.0.1:%d" % mqtt]
    s = Sim(*args, *extra, mqtt=bool(mqtt))
    s._timer.cancel()
    s._timer = threading.Timer(HANG, s._kill)
    s._timer.daemon = True
    s._timer.start()
    s.base = "http://127.0.0.1:%d" % http
    s.state = state
    end = time.monotonic() + WAIT_S
    while _get(s.base + "/api/session")[0] != 200:
        if s.proc.poll() is not None or time.monotonic() > end:
            s._kill()
            raise AssertionError("no web server at %s:\n%s" % (s.base, s.finish()[1]))
        time.sleep(0.2)
    return s


def _stop(s):
    if s.proc.poll() is None:
        rc, out = s.ctrl_c()
    else:
        rc, out = s.finish()
    s._timer.cancel()
    print(out)  # pytest shows it when the test failed
    assert "Traceback" not in out, out
    return rc, out


@pytest.fixture
def device(tmp_path):
    """device(*sim options, fresh=True, mqtt=port): a simulator, stopped after the test."""
    sims = []

    def run(*extra, fresh=True, mqtt=None):
        s = _start(tmp_path / "flash", *extra, fresh=fresh, mqtt=mqtt)
        sims.append(s)
        return s

    yield run
    for s in sims:
        _stop(s)


@pytest.fixture(scope="module")
def station(tmp_path_factory, built):
    """One configured simulator (Wi-Fi joined, no MQTT, no admin password) for the tests
    that change nothing on it."""
    s = _start(tmp_path_factory.mktemp("station") / "flash", fresh=False)
    yield s
    _stop(s)


class Tab:
    """A browser context and page with generous timeouts; `errors` collects uncaught script
    errors (a test asserts there are none)."""

    def __init__(self, browser, view="desktop", scheme="light", locale="en-GB"):
        w, h = next((w, h) for v, w, h in VIEWS if v == view)
        self.ctx = browser.new_context(
            viewport={"width": w, "height": h}, color_scheme=scheme, locale=locale
        )
        self.page = self.ctx.new_page()
        self.page.set_default_timeout(WAIT_S * 1000)
        self.errors = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.ctx.close()

    def mark(self):
        """Tag the current document: reloaded() waits until it is replaced."""
        self.page.evaluate("window.__old = 1")

    def reloaded(self, selector):
        """Wait until the page was reloaded or left and `selector` is there (polled: the
        document may change several times on the way)."""
        from playwright.sync_api import Error

        end = time.monotonic() + WAIT_S
        while True:
            try:
                if self.page.evaluate(
                    "s => !window.__old && !!document.querySelector(s)", selector
                ):
                    return
            except Error:  # the document went away while asked: ask the next one
                pass
            if time.monotonic() > end:
                raise AssertionError("no reload to %s: at %s" % (selector, self.page.url))
            time.sleep(0.2)


def screenshots(browser, base, state):
    """Each page at each size and colour scheme into screenshots/<state>-<page>-...; a page
    that does not get its data in time is shot as it is, then the test fails."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    SHOTS.mkdir(exist_ok=True)
    late = []
    for view, _, _ in VIEWS:
        for scheme in SCHEMES:
            with Tab(browser, view, scheme) as t:
                for name, path, ready in PAGES:
                    t.page.goto(base + path)
                    try:
                        t.page.wait_for_selector(ready, timeout=SHOT_WAIT_S * 1000)
                        if name == "status":  # the chart, once the history has come
                            t.page.wait_for_selector("#chart path", timeout=SHOT_WAIT_S * 1000)
                    except PlaywrightTimeout:
                        late.append("%s %s %s" % (name, view, scheme))
                    out = SHOTS / ("%s-%s-%s-%s.png" % (state, name, view, scheme))
                    t.page.screenshot(path=str(out), full_page=True)
                assert not t.errors, t.errors
    assert not late, "pages without their data: %s" % late


def _int(text):
    return int(re.sub(r"\D", "", text) or -1)


# -- first boot: the portal, then station mode and MQTT -------------------------------------------


def test_first_boot_portal_then_station_publishes_to_the_broker(
    built, browser, device, make_mosquitto
):
    broker = make_mosquitto()
    sub = Subscriber(broker.port, ("linky/#",))
    try:
        s = device(fresh=True, mqtt=broker.port)
        console = nth(s, r"portal: Wi-Fi (linky-\w+) password (\S+)")
        screenshots(browser, s.base, "portal")
        with Tab(browser, "phone") as t:
            p = t.page
            p.goto(s.base + "/")
            p.wait_for_selector("#ap:not([hidden])")
            assert p.is_visible("#ap-join")
            assert p.text_content("#ap-ssid") == console.group(1)
            assert p.text_content("#ap-password") == console.group(2)  # before the first config
            p.click("header a[href='/config']")
            # the scan runs by itself in AP mode; the simulator's network is the strongest
            p.click(".nets button:has-text('sim')")
            assert p.input_value("#f-wifi_ssid") == "sim"
            p.fill("#f-wifi_password", "any password")
            p.fill("#f-mqtt_host", "127.0.0.1")
            p.fill("#f-mqtt_port", str(broker.port))
            t.mark()
            p.click("button[type=submit]")
            p.wait_for_selector("#msg.ok")
            assert "restarts" in p.text_content("#msg")
            nth(s, BOOT % 2, timeout=WAIT_S)
            t.reloaded("#form:not([hidden])")  # by itself, once the device answers again
            assert p.input_value("#f-wifi_ssid") == "sim"
            assert p.input_value("#f-mqtt_host") == "127.0.0.1"
            assert p.input_value("#f-mqtt_port") == str(broker.port)
            assert p.input_value("#f-wifi_password") == ""  # secrets never come back
            assert p.get_attribute("#f-wifi_password", "placeholder") == "unchanged if empty"
            saved = json.loads((s.state / "config.json").read_text())
            assert saved["wifi_ssid"] == "sim" and saved["mqtt_port"] == broker.port
            assert saved["wifi_password"] == "any password"
            # station mode: no access point on the status page, Wi-Fi connected
            p.click("header a[href='/']")
            p.wait_for_selector("#dev tr")
            p.wait_for_function(
                "[...document.querySelectorAll('#dev tr')].some(r => "
                "r.cells[0].textContent === 'Wi-Fi' && r.cells[1].textContent === 'up')"
            )
            assert p.is_hidden("#ap-join")  # the access point is not up any more
            assert not t.errors, t.errors
        got = sub.wait(
            lambda msgs: [m for m in msgs if re.fullmatch(r"linky/\d{12}/state", m.topic)],
            WAIT_S,
        )
        assert got, "no state message at the test's broker: %r" % sub.messages[-5:]
        assert "SINSTS" in json.loads(got[0].payload)
    finally:
        sub.close()


# -- the status page -----------------------------------------------------------------------------


def test_status_page_and_chart_update_live(browser, station):
    with Tab(browser) as t:
        p = t.page
        navigations = []
        p.on("framenavigated", lambda f: navigations.append(f.url))
        p.goto(station.base + "/")
        p.wait_for_function("document.querySelectorAll('#tic tr').length > 3")
        frames = p.locator("#tic tr:has-text('Frames') td").nth(1)
        first = _int(frames.text_content())
        p.wait_for_function(
            "n => +document.querySelector('#tic').rows[3].cells[1].textContent"
            ".replace(/\\D/g, '') > n",
            arg=first,
        )
        names = p.locator("#values td:first-child").all_text_contents()
        assert "SINSTS" in names and "EAST" in names, names
        assert _int(p.text_content("#papp")) >= 0
        assert "ok" in p.locator("#tic tr:has-text('State')").text_content()
        # the chart: a line once two points exist, then a new point every 10 s
        p.wait_for_function(
            "(document.querySelector('#chart path.papp') || {getAttribute: () => ''})"
            ".getAttribute('d').includes('L')"
        )
        d0 = p.get_attribute("#chart path.papp", "d")
        p.wait_for_function(
            "d => document.querySelector('#chart path.papp').getAttribute('d') !== d", arg=d0
        )
        assert p.locator("#chart text").count() >= 5  # axis labels
        assert navigations == [station.base + "/"], navigations  # no reload
        assert not t.errors, t.errors
    screenshots(browser, station.base, "station")


# -- validation errors ---------------------------------------------------------------------------


def test_validation_errors_show_next_to_their_fields(browser, station):
    before = (station.state / "config.json").read_bytes()
    with Tab(browser, "phone") as t:
        p = t.page
        p.goto(station.base + "/config")
        p.wait_for_selector("#form:not([hidden])")
        p.fill("#f-mqtt_port", "70000")
        p.fill("#f-mqtt_prefix", "")
        p.fill("#f-rx_pin", "99")
        p.click("button[type=submit]")
        p.wait_for_selector("#msg.bad")
        for name, part in (("mqtt_port", "65535"), ("mqtt_prefix", "character"), ("rx_pin", "48")):
            err = p.text_content("#field-%s .err" % name)
            assert part in err, (name, err)
            assert p.get_attribute("#f-" + name, "aria-invalid") == "true"
        assert p.text_content("#err-heartbeat_s") == ""
        # fix two of them: their errors go, the third stays, still nothing saved
        p.fill("#f-mqtt_port", "1883")
        p.fill("#f-mqtt_prefix", "linky")
        p.click("button[type=submit]")
        # The page clears every error when it submits: wait for the answer's, not the clearing
        p.wait_for_function(
            "document.querySelector('#err-mqtt_port').textContent === '' && "
            "document.querySelector('#err-rx_pin').textContent.indexOf('48') >= 0"
        )
        assert "48" in p.text_content("#err-rx_pin")
        assert p.get_attribute("#f-mqtt_port", "aria-invalid") is None
        assert not t.errors, t.errors
    assert (station.state / "config.json").read_bytes() == before


# -- French ------------------------------------------------------------------------------------


def test_a_french_browser_gets_french_labels(browser, station):
    with Tab(browser, "phone", locale="fr-FR") as t:
        p = t.page
        p.goto(station.base + "/config")
        p.wait_for_selector("#form:not([hidden])")
        assert p.title() == "linky : réglages"
        assert p.text_content("header a[aria-current]") == "Réglages"
        assert p.text_content("label[for=f-wifi_ssid]").startswith("Réseau Wi-Fi (SSID)")
        assert p.text_content("#form button[type=submit]") == "Enregistrer"
        p.goto(station.base + "/")
        p.wait_for_selector("#tic tr")
        assert "Trames" in p.text_content("#tic")
        assert "Puissance apparente" in p.text_content("body")
        # the FR/EN switch overrides the browser's language
        p.click("header a[title]")
        p.wait_for_function("document.documentElement.lang === 'en'")
        p.wait_for_selector("#tic tr")
        assert "Frames" in p.text_content("#tic")
        assert not t.errors, t.errors


# -- login, logout, CSRF -------------------------------------------------------------------------


def test_login_logout_wrong_password_and_csrf(built, browser, device):
    s = device(fresh=False)
    with Tab(browser) as t:
        p = t.page
        p.goto(s.base + "/login")
        p.wait_for_selector("#noauth:not([hidden])")  # no admin password yet
        p.goto(s.base + "/config")
        p.wait_for_selector("#form:not([hidden])")
        p.fill("#f-admin_password", "correct horse 7")
        t.mark()
        p.click("button[type=submit]")
        p.wait_for_selector("#msg.ok")
        nth(s, BOOT % 2, timeout=WAIT_S)
        # back after the restart: a password is set and this browser has no session
        t.reloaded("#password")
        assert p.url == s.base + "/login?next=/config"
        assert "s1$" in (s.state / "config.json").read_text()  # salted hash, never in clear
        assert "correct horse 7" not in (s.state / "config.json").read_text()
        assert _get(s.base + "/api/config")[0] == 401
        # a wrong password
        p.fill("#password", "wrong")
        p.click("button[type=submit]")
        p.wait_for_function("document.querySelector('#err').textContent !== ''")
        assert p.text_content("#err") == "Wrong password."
        assert p.url.endswith("/login?next=/config")
        # the right one: back to the settings, a session cookie
        p.fill("#password", "correct horse 7")
        p.click("button[type=submit]")
        p.wait_for_url(s.base + "/config")
        p.wait_for_selector("#form:not([hidden])")
        sid = [c for c in t.ctx.cookies() if c["name"] == "sid"]
        assert sid and sid[0]["httpOnly"] and sid[0]["sameSite"] == "Strict", sid
        # POSTs without the CSRF token, or with a wrong one, are refused with the cookie
        before = (s.state / "config.json").read_bytes()
        for headers in ({}, {"X-CSRF-Token": "0" * 32}):
            r = p.request.post(s.base + "/api/config", data={"heartbeat_s": 30}, headers=headers)
            assert r.status == 403, (r.status, r.text())
            assert "CSRF" in r.json()["error"]
            r = p.request.post(s.base + "/api/reboot", data={}, headers=headers)
            assert r.status == 403, (r.status, r.text())
        assert (s.state / "config.json").read_bytes() == before
        assert "boot 3 " not in s.output()
        # logged in: the log is on the status page
        p.click("header a[href='/']")
        p.wait_for_function("document.querySelector('#log').textContent.includes('INFO')")
        assert p.is_hidden("#log-login")
        # log out: the session is gone
        p.click("#logout")
        p.wait_for_url(s.base + "/")
        p.wait_for_selector("header a[href='/login']")
        assert p.is_visible("#log-login") and p.is_hidden("#log")
        assert p.request.get(s.base + "/api/config").status == 401
        assert not t.errors, t.errors
    screenshots(browser, s.base, "locked")
