"""Access point and captive portal: when the AP opens and closes, its name and password, the
captive DNS while it is up, and the Wi-Fi scan of the config page.

Contract:
  build(app)    sets app.portal (a Portal), adds its task ("portal") and the MQTT command
                b"portal" (app.commands). Reads or makes the AP password (PASSWORD_FILE).
  Portal:
    active      bool, the AP is up
    ssid        "linky-XXXX": XXXX the chip id's (MAC's) last 4 hex digits, upper case
    password    the AP's WPA2 key, made per device at first boot (os.urandom) and kept in
                PASSWORD_FILE (not config.json); "" when the ap_open setting is on
    ip          the AP's address ("192.168.4.1"); None before the AP first opened
    first_boot  bool, no Wi-Fi configured (wifi_ssid "")
    reason      why the AP is up: "first boot", "no wifi", "button", "command"; None if down
    open(reason), close()   the AP and its DNS responder, now (idempotent)
    await scan() -> [(ssid, rssi, secure)]: strongest first, one entry per SSID, at most
                MAX_NETWORKS; a new scan at most every SCAN_CACHE_MS (the ESP32's blocks the
                loop ~2-3 s), the cached list otherwise
    await run() the task: opens on first boot at once; with the boot button pressed in the
                first BUTTON_WINDOW_MS; when the station has been down ap_after_s (0: never).
                Closes when the station is up again after a "no wifi" opening, or after
                MANUAL_MS for a "button" or "command" one; never after a "first boot" one
                (saving the config restarts the device).
While the AP is up, lib/captive_dns.py answers DNS on port 53 (host: the DNS_PORT setting;
none without it) and is unloaded when the AP closes. Design: docs/design/portal.md.
Cost: the task wakes every POLL_MS (BUTTON_POLL_MS in the button window): one status check,
nothing allocated; a few hundred bytes resident.
"""

import asyncio
import time

from firmware import hal, state, unload
from log import getLogger

log = getLogger("portal")

PASSWORD_FILE = "portal.json"
POLL_MS = 1000
BUTTON_WINDOW_MS = 5000  # a boot button press counts in this long after the start
BUTTON_POLL_MS = 200
MANUAL_MS = 15 * 60 * 1000  # an AP opened by hand closes this long after, once the station is up
SCAN_CACHE_MS = 30000
SCAN_EMPTY_MS = 5000  # an empty scan (the IDF refuses one mid-connection) is kept this long
MAX_NETWORKS = 20
DNS_PORT = 53
# 32 characters without look-alikes (0 o 1 l): 12 of them make a 60-bit WPA2 key.
_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
_PW_LEN = 12

try:  # MicroPython
    _sleep_ms = asyncio.sleep_ms
    _ticks = time.ticks_ms
    _diff = time.ticks_diff
except AttributeError:  # CPython

    def _sleep_ms(ms):
        return asyncio.sleep(ms / 1000)

    def _ticks():
        return int(time.monotonic() * 1000)

    def _diff(a, b):
        return a - b


def new_password():
    """A fresh WPA2 key: _PW_LEN characters of _ALPHABET from os.urandom."""
    import os

    return "".join(_ALPHABET[b & 31] for b in os.urandom(_PW_LEN))


def load_password(path):
    """The device's AP key from `path`; made and stored there when missing or invalid (a
    flash that refuses the write: logged, the key lives until the next boot)."""
    d = state.load(path)
    pw = d.get("ap_password") if d else None
    if isinstance(pw, str) and 8 <= len(pw) <= 63:
        return pw
    pw = new_password()
    try:
        state.save(path, {"ap_password": pw})
    except OSError as e:
        log.error("cannot store the access point password in %s: %r", path, e)
    return pw


class Portal:
    def __init__(self, app, password_file=None):
        s = app.settings
        self.app = app
        self.ssid = "linky-" + hal.unique_id()[-4:].upper()
        self._key = load_password(password_file or PASSWORD_FILE)
        self.password = "" if s["ap_open"] else self._key
        self.first_boot = not s["wifi_ssid"]
        self.after_ms = s["ap_after_s"] * 1000
        self.active = False
        self.reason = None
        self.ip = None
        self.opens = 0  # times the AP opened since boot
        self._opened = 0  # ticks_ms of the last opening
        self._dns = None
        self._dns_task = None
        self._scan = None
        self._scan_at = 0
        self._scan_ms = 0

    # -- the access point
    def open(self, reason):
        """Bring the AP up (and the captive DNS) unless it is; False if the driver refused."""
        if self.active:
            return True
        ap = hal.access_point()
        try:
            ap.active(True)
            ap.config(self.ssid, self.password)
            self.ip = ap.ip()
        except (OSError, ValueError) as e:
            log.error("access point %r: %r", self.ssid, e)
            try:
                ap.active(False)
            except OSError:
                pass
            return False
        self.active = True
        self.reason = reason
        self.opens += 1
        self._opened = _ticks()
        log.warning(
            "access point %r open (%s), %s, config page http://%s/",
            self.ssid,
            reason,
            "no password" if not self.password else "WPA2",
            self.ip,
        )
        if self.password:  # the console only: not in the log ring the web page shows
            print("portal: Wi-Fi %s password %s" % (self.ssid, self.password))
        self._start_dns()
        return True

    def close(self):
        """Take the AP and the DNS responder down; the DNS module is unloaded."""
        if not self.active:
            return
        self.active = False
        self.reason = None
        t, self._dns_task, self._dns = self._dns_task, None, None
        if t is not None:
            t.cancel()
        unload("captive_dns")
        try:
            hal.access_point().active(False)
        except OSError as e:
            log.error("access point off: %r", e)
        log.info("access point %r closed", self.ssid)

    def _start_dns(self):
        port = hal.setting("DNS_PORT", None if hal.PLATFORM == "host" else DNS_PORT)
        if port is None:
            log.info("captive DNS off (host without DNS_PORT)")
            return
        import captive_dns

        bind = "127.0.0.1" if hal.PLATFORM == "host" else "0.0.0.0"
        self._dns = captive_dns.Responder(self.ip, int(port), bind)
        self._dns_task = asyncio.create_task(self._run_dns(self._dns))

    async def _run_dns(self, dns):
        try:
            await dns.run()
        except OSError as e:  # the port is taken, or the stack refused the socket
            log.error("captive DNS on port %d: %r", dns.port, e)

    # -- when
    def _due_to_close(self, now):
        if self.reason == "first boot" or self.app.wifi.state != "up":
            return False
        return self.reason == "no wifi" or _diff(now, self._opened) >= MANUAL_MS

    async def run(self):
        if self.first_boot:
            self.open("first boot")
        t0 = _ticks()
        while True:
            now = _ticks()
            button = _diff(now, t0) < BUTTON_WINDOW_MS
            if not self.active:
                if button and hal.boot_button():
                    self.open("button")
                elif self.after_ms and self.app.wifi.down_ms() >= self.after_ms:
                    self.open("no wifi")
            elif self._due_to_close(now):
                self.close()
            await _sleep_ms(BUTTON_POLL_MS if button else POLL_MS)

    # -- the scan
    async def scan(self):
        now = _ticks()
        if self._scan is not None and _diff(now, self._scan_at) < self._scan_ms:
            return self._scan
        st = self.app.wifi.station
        await _sleep_ms(0)  # let the caller's pending writes go before the loop blocks
        try:
            if not st.active():
                st.active(True)  # first boot: the station was never started
            raw = st.scan()
        except OSError as e:
            log.warning("Wi-Fi scan: %r", e)
            raw = []
        best = {}
        for ssid, rssi, secure in raw:
            if not ssid:  # hidden: nothing to show
                continue
            old = best.get(ssid)
            if old is None or rssi > old[0]:
                best[ssid] = (rssi, secure)
        out = sorted(((k, v[0], v[1]) for k, v in best.items()), key=_strength)
        self._scan = out[:MAX_NETWORKS]
        self._scan_at = _ticks()
        self._scan_ms = SCAN_CACHE_MS if out else SCAN_EMPTY_MS
        return self._scan


def _strength(net):
    return -net[1]


def _command(app):
    app.portal.open("command")


def build(app):
    p = app.portal = Portal(app)
    app.commands[b"portal"] = _command
    app.add_task("portal", p.run())
    return p
