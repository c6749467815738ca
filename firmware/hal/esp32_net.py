"""ESP32 Wi-Fi station, loaded by firmware/hal/esp32.py's wlan() on first use, so the TIC
path does not carry it (Wi-Fi is another feature, counted apart by tools/mem32.py). The
access point is in firmware/hal/esp32_ap.py, loaded by access_point() on first use only (the
portal opens it on first boot or when asked: most boots never do).

Only firmware/hal/ may import network. Checked by pyright against the ESP32 stubs.
"""

import time

import network

try:
    _ticks_ms = time.ticks_ms
    _ticks_diff = time.ticks_diff  # pyright: ignore[reportAssignmentType]
except AttributeError:  # CPython (tests)

    def _ticks_ms():
        return int(time.monotonic() * 1000)  # pyright: ignore[reportAttributeAccessIssue]

    def _ticks_diff(a, b):
        return a - b


# -- Wi-Fi station (ports/esp32/network_wlan.c v1.27; esp32-micropython notes §3.3)

# network.WLAN.status() codes (modnetwork_globals.h v1.27: the STAT_* constants are IDF
# disconnect reasons, plus 1000/1001/1010).
_NO_AP = (
    network.STAT_NO_AP_FOUND,  # 201
    network.STAT_NO_AP_FOUND_W_COMPATIBLE_SECURITY,  # 210
    network.STAT_NO_AP_FOUND_IN_AUTHMODE_THRESHOLD,  # 211
    network.STAT_NO_AP_FOUND_IN_RSSI_THRESHOLD,  # 212
)


class Station:
    """The Wi-Fi station, network.WLAN(network.STA_IF) (a singleton in the driver).

    The driver's own reconnection is turned off (config(reconnects=0): one attempt per
    connect()); firmware/wifi.py owns retries and their backoff. status() is one of "idle",
    "connecting", "connected", "wrong_password", "no_ap", "failed". Nothing blocks but
    active(), which waits for the driver's start/stop event (milliseconds); nothing allocates
    but ip() and, on failure, connect(). Errors from the driver are OSError."""

    # After connect(), status() keeps answering the previous attempt's failure reason until
    # the driver reports the new attempt's outcome (connect() resets the retry count, not
    # wifi_sta_disconn_reason). A failure code within this time of connect() is reported as
    # "connecting"; a real failure (no AP: one scan, ~2 s; wrong password: the handshake)
    # still shows after it. An attribute, not a const(): tests shorten it.
    fresh_ms = 3000

    def __init__(self):
        self._w = network.WLAN(network.STA_IF)
        self._since = None  # ticks_ms of the last connect(), None after a settled status

    def active(self, on=None):
        """Start (True) or stop (False) the radio; the radio's state (bool)."""
        if on is None:
            return bool(self._w.active())
        self._w.active(bool(on))
        if on:
            self._w.config(reconnects=0)
        return bool(on)

    def connect(self, ssid, password="", hostname=""):
        """Start joining `ssid` (non-blocking); `hostname` (<= 32 chars, "" = the driver's
        default) goes to DHCP and mDNS. OSError if the radio is not active()."""
        if hostname:
            network.hostname(hostname)  # read by connect() (network_wlan_connect)
        self._since = _ticks_ms()
        self._w.connect(ssid, password)

    def disconnect(self):
        """Leave the network and cancel a pending attempt."""
        self._since = None
        try:
            self._w.disconnect()
        except OSError:  # radio stopped: nothing to leave
            pass

    def status(self):
        s = self._w.status()
        if s == network.STAT_GOT_IP:
            self._since = None
            return "connected"
        if s == network.STAT_CONNECTING:
            return "connecting"
        if s == network.STAT_IDLE:
            return "idle"
        if self._since is not None:
            if _ticks_diff(_ticks_ms(), self._since) < self.fresh_ms:
                return "connecting"  # maybe the previous attempt's reason (fresh_ms)
            self._since = None
        if s == network.STAT_WRONG_PASSWORD:
            return "wrong_password"
        if s in _NO_AP:
            return "no_ap"
        return "failed"  # beacon timeout, association or handshake failure, other reasons

    def isconnected(self):
        return bool(self._w.isconnected())

    def rssi(self):
        """Signal of the access point in dBm (int), None when not connected."""
        if not self._w.isconnected():
            return None
        try:
            return self._w.status("rssi")
        except OSError:  # lost since (esp_wifi_sta_get_ap_info: not connected)
            return None

    def ip(self):
        """The station's IPv4 address (str), None when not connected."""
        if not self._w.isconnected():
            return None
        return self._w.ifconfig()[0]

    def scan(self):
        """[(ssid, rssi dBm, secure)] of the networks in range, hidden ones left out.
        BLOCKS the whole loop for the scan (~2-3 s: esp_wifi_scan_start(.., block=1) in
        network_wlan_scan v1.27): call it on demand, rate-limited (firmware/portal.py). The
        driver's tuple is (ssid bytes, bssid, channel, rssi, authmode, hidden=False). A scan
        the IDF refuses (the station is mid-connection) gives []. OSError when the radio is
        off ("STA must be active")."""
        out = []
        for r in self._w.scan():
            try:
                ssid = r[0].decode()
            except UnicodeError:  # not UTF-8: a page could not show it anyway
                continue
            if ssid:
                out.append((ssid, r[3], r[4] != network.AUTH_OPEN))
        return out
