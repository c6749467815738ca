"""Access point and captive portal: when the AP opens and closes, its name and password, the
captive DNS while it is up, and the Wi-Fi scan of the config page. This half stays loaded
(the task and the attributes); firmware/portal_ap.py does the work, loaded for each call.

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
    opens       how many times the AP opened since boot
    open(reason) -> bool, close()   the AP and its DNS responder, now (idempotent)
    await scan() -> [(ssid, rssi, secure)]: strongest first, one entry per SSID, at most 20;
                a new scan at most every SCAN_CACHE_MS (SCAN_EMPTY_MS after an empty one: the
                ESP32's blocks the loop ~2-3 s), the cached list (the same object) otherwise
    await run() the task: opens on first boot at once; with the boot button pressed or
                released (a change of level) in the first BUTTON_WINDOW_MS; when the station
                has been down ap_after_s (0: never).
                Closes when the station is up again after a "no wifi" opening, or MANUAL_MS
                after a "button" or "command" one (once the station is up); never after a
                "first boot" one (saving the config restarts the device).
While the AP is up, lib/captive_dns.py answers DNS on port 53 (host: the DNS_PORT setting;
none without it); it is unloaded when the AP closes. Design: docs/design/portal.md.
Cost: the task wakes every POLL_MS (BUTTON_POLL_MS in the button window) and allocates
nothing; resident: this module and one Portal (see docs/design/portal.md for the figures).
"""

from firmware import hal, unload
from firmware.wifi import _diff, _sleep_ms, _ticks  # the clock shims both interpreters need
from log import getLogger

log = getLogger("portal")

PASSWORD_FILE = "portal.json"
POLL_MS = 1000
BUTTON_WINDOW_MS = 5000  # a boot button press counts in this long after the start
BUTTON_POLL_MS = 200
MANUAL_MS = 15 * 60 * 1000  # an AP opened by hand closes this long after, once the station is up
SCAN_CACHE_MS = 30000
SCAN_EMPTY_MS = 5000  # an empty scan (the IDF refuses one mid-connection) is kept this long


class Portal:
    def __init__(self, app, password_file=None):
        s = app.settings
        self.app = app
        self.ssid = "linky-" + hal.unique_id()[-4:].upper()
        from firmware import portal_ap

        self._key = portal_ap.load_password(password_file or PASSWORD_FILE)
        unload("firmware.portal_ap")
        self.password = "" if s["ap_open"] else self._key
        self.first_boot = not s["wifi_ssid"]
        self.after_ms = s["ap_after_s"] * 1000
        self.active = False
        self.reason = None
        self.ip = None
        self.opens = 0  # times the AP opened since boot
        self._opened = 0  # ticks_ms of the last opening
        self._dns_task = None
        self._scan = None
        self._scan_at = 0
        self._scan_ms = 0

    # -- the access point (firmware/portal_ap.py)
    def open(self, reason):
        """Bring the AP up (and the captive DNS) unless it is; False if the driver refused."""
        if self.active:
            return True
        from firmware import portal_ap

        try:
            ok = portal_ap.open(self, reason)
        finally:
            unload("firmware.portal_ap")
        if ok:
            self.active = True
            self.reason = reason
            self.opens += 1
            self._opened = _ticks()
        return ok

    def close(self):
        """Take the AP and the DNS responder down; the DNS module is unloaded."""
        if not self.active:
            return
        self.active = False
        self.reason = None
        from firmware import portal_ap

        try:
            portal_ap.close(self)
        finally:
            unload("firmware.portal_ap")

    async def run_dns(self, dns):
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
        level = None  # the boot button's last reading, in the window
        while True:
            now = _ticks()
            button = _diff(now, t0) < BUTTON_WINDOW_MS
            if button:
                # A press is a change of level (pressed, or released after being held since
                # before the first reading); a pin stuck low (a USB-serial adapter's reset
                # circuit, a missing button) never changes.
                was, level = level, hal.boot_button()
                button_press = was is not None and level != was
            else:
                button_press = False
            if not self.active:
                if button_press:
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
        await _sleep_ms(0)  # let the caller's pending writes go before the loop blocks
        from firmware import portal_ap

        try:
            out = portal_ap.scan(self.app.wifi.station)
        finally:
            unload("firmware.portal_ap")
        self._scan = out
        self._scan_at = _ticks()
        self._scan_ms = SCAN_CACHE_MS if out else SCAN_EMPTY_MS
        return out


def _command(app):
    app.portal.open("command")


def build(app):
    p = app.portal = Portal(app)
    app.commands[b"portal"] = _command
    app.add_task("portal", p.run())
    return p
