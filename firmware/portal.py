"""Access point and captive portal: when the AP opens and closes, its name and password, the
captive DNS while it is up, and the Wi-Fi scan of the config page. This half stays loaded
(the task, the attributes, the scan cache); firmware/portal_ap.py does the work, loaded for
each call: the set-up, opening and closing, the scan, the command.

Contract:
  build(app)    (firmware/portal_ap.py, at boot) sets app.portal (a Portal), adds its task
                ("portal") and the MQTT command b"portal" (app.commands, a firmware.lazy caller
                of portal_ap.command). Reads or makes the AP password (PASSWORD_FILE).
  Portal(app, password_file=None):
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
nothing; resident: this module and one Portal (see docs/design/portal.md for the figures);
while the AP is up, the DNS task also keeps portal_ap's code.
"""

from firmware import hal, lazy
from firmware.wifi import _diff, _sleep_ms, _ticks  # the clock shims both interpreters need

PASSWORD_FILE = "portal.json"
POLL_MS = 1000
BUTTON_WINDOW_MS = 5000  # a boot button press counts in this long after the start
BUTTON_POLL_MS = 200
MANUAL_MS = 15 * 60 * 1000  # an AP opened by hand closes this long after, once the station is up
SCAN_CACHE_MS = 30000
SCAN_EMPTY_MS = 5000  # an empty scan (the IDF refuses one mid-connection) is kept this long
_AP = "firmware.portal_ap"


class Portal:
    def __init__(self, app, password_file=None):
        lazy(_AP, "init")(self, app, password_file or PASSWORD_FILE)

    def open(self, reason):
        """Bring the AP up (and the captive DNS) unless it is; False if the driver refused."""
        return self.active or lazy(_AP, "open")(self, reason)

    def close(self):
        """Take the AP and the DNS responder down; the DNS module is unloaded."""
        if self.active:
            lazy(_AP, "close")(self)

    async def run(self):
        if self.first_boot:
            self.open("first boot")
        t0 = _ticks()
        level = None  # the boot button's last reading, in the window
        wifi = self.app.wifi
        while True:
            now = _ticks()
            button = _diff(now, t0) < BUTTON_WINDOW_MS
            if button:
                # A press is a change of level (pressed, or released after being held since
                # before the first reading); a pin stuck low (a USB-serial adapter's reset
                # circuit, a missing button) never changes.
                was, level = level, hal.boot_button()
                if was is not None and level != was and not self.active:
                    self.open("button")
            if not self.active:
                if self.after_ms and wifi.down_ms() >= self.after_ms:
                    self.open("no wifi")
            elif self.reason != "first boot" and wifi.state == "up":
                if self.reason == "no wifi" or _diff(now, self._opened) >= MANUAL_MS:
                    self.close()
            await _sleep_ms(BUTTON_POLL_MS if button else POLL_MS)

    async def scan(self):
        if self._scan is None or _diff(_ticks(), self._scan_at) >= self._scan_ms:
            await _sleep_ms(0)  # let the caller's pending writes go before the loop blocks
            out = self._scan = lazy(_AP, "scan")(self.app.wifi.station)
            self._scan_at = _ticks()
            self._scan_ms = SCAN_CACHE_MS if out else SCAN_EMPTY_MS
        return self._scan
