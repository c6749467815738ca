"""Fake `network` for the tests of firmware/hal/esp32.py: the ESP32 Wi-Fi driver at the radio
edge, as ports/esp32/network_wlan.c v1.27 behaves, with access points a test puts in the air.

Driver model (network_wlan.c v1.27):
- WLAN(STA_IF) is a singleton; connect() raises OSError unless active(True) was called;
- connect(ssid, key) starts one attempt and returns; its outcome arrives `delay_ms[0]` later
  (as an IDF event would): GOT_IP if `aps` has the SSID with that key, else a disconnect with
  reason NO_AP_FOUND (201) or AUTH_FAIL (202, STAT_WRONG_PASSWORD);
- on a disconnect while a connection is requested, the driver tries again, forever unless
  config(reconnects=n) (then n retries);
- status() answers as network_wlan_status(): GOT_IP when connected, else the last reason if
  it is a no-AP or auth one, IDLE after disconnect(), CONNECTING while retries remain, else
  the raw reason; connect() does not clear the last reason (a stale answer until the event);
- status("rssi") raises OSError when not connected (esp_wifi_sta_get_ap_info).
- scan() (network_wlan_scan): OSError unless the station is active ("STA must be active");
  a list of (ssid bytes, bssid bytes, channel, rssi, authmode, hidden=False), one per entry of
  `aps` (authmode AUTH_OPEN when its key is "", else AUTH_WPA2_PSK) plus `raw_scan` entries;
- WLAN(AP_IF), the access point (network_wlan_config): config(**kw) takes ssid/essid,
  key/password, security/authmode, channel, hidden, max_clients, and raises OSError before
  active(True) (esp_wifi_get_config/set_config with the AP not in the radio's mode), a
  TypeError for positional and keyword arguments together, ValueError for an unknown key;
  ifconfig()[0] is 192.168.4.1.
Helpers: clear(), drop() (the AP vanishes: beacon timeout), `aps` {ssid: (key, rssi)},
`raw_scan` (extra scan tuples), `ap_conf` (the AP's configuration), `calls`
(("connect", ssid, key, hostname), ("disconnect",), ("active", bool), ("config", kwargs),
("scan",), ("ap_active", bool), ("ap_config", kwargs)).
"""

import time

STA_IF = 0
AP_IF = 1

STAT_IDLE = 1000
STAT_CONNECTING = 1001
STAT_GOT_IP = 1010
STAT_BEACON_TIMEOUT = 200
STAT_NO_AP_FOUND = 201
STAT_WRONG_PASSWORD = 202
STAT_ASSOC_FAIL = 203
STAT_CONNECT_FAIL = 203
STAT_HANDSHAKE_TIMEOUT = 204
STAT_NO_AP_FOUND_W_COMPATIBLE_SECURITY = 210
STAT_NO_AP_FOUND_IN_AUTHMODE_THRESHOLD = 211
STAT_NO_AP_FOUND_IN_RSSI_THRESHOLD = 212
_ASSOC_LEAVE = 8  # WIFI_REASON_ASSOC_LEAVE: after disconnect()

AUTH_OPEN = 0
AUTH_WEP = 1
AUTH_WPA_PSK = 2
AUTH_WPA2_PSK = 3
AUTH_WPA_WPA2_PSK = 4

calls = []
aps = {}  # access points in range: ssid -> (key, rssi dBm)
delay_ms = [20]  # from connect() (or a retry) to its outcome
_host = ["mpy-esp32"]
_sta = [None]
_ap = [None]
raw_scan = []  # extra scan() tuples, as the driver builds them
ap_conf = {}  # the AP's configuration (config() keywords, canonical names)

try:
    _now = time.ticks_ms
    _diff = time.ticks_diff
except AttributeError:  # CPython

    def _now():
        return int(time.monotonic() * 1000)

    def _diff(a, b):
        return a - b


def hostname(name=None):
    if name is None:
        return _host[0]
    if len(name) > 32:
        raise ValueError
    _host[0] = name
    return None


def clear():
    """No access point, driver stopped and reset, calls forgotten."""
    del calls[:]
    aps.clear()
    delay_ms[0] = 20
    _host[0] = "mpy-esp32"
    _sta[0] = None
    _ap[0] = None
    del raw_scan[:]
    ap_conf.clear()


def drop():
    """The access point stops answering: a connected station gets a beacon timeout."""
    w = _sta[0]
    if w is not None and w._connected:
        w._disconnected(STAT_BEACON_TIMEOUT)


def WLAN(interface_id=STA_IF):  # noqa: N802 (the driver's name)
    """The station or the access point interface (singletons, as in the driver)."""
    if interface_id == AP_IF:
        if _ap[0] is None:
            _ap[0] = _AP()
        return _ap[0]
    if interface_id != STA_IF:
        raise ValueError("invalid WLAN interface identifier")
    if _sta[0] is None:
        _sta[0] = _WLAN()
    return _sta[0]


_AP_KEYS = {
    "ssid": "ssid",
    "essid": "ssid",
    "key": "key",
    "password": "key",
    "security": "security",
    "authmode": "security",
    "channel": "channel",
    "hidden": "hidden",
    "max_clients": "max_clients",
}


class _AP:
    def __init__(self):
        self._started = False

    def active(self, is_active=None):
        if is_active is not None:
            calls.append(("ap_active", bool(is_active)))
            self._started = bool(is_active)
        return self._started

    def config(self, *args, **kw):
        if args and kw:
            raise TypeError("either pos or kw args are allowed")
        if not self._started:
            raise OSError("Wifi Invalid Mode")  # ESP_ERR_WIFI_MODE: AP not in the mode
        if args:
            return ap_conf.get(_AP_KEYS.get(args[0], args[0]))
        calls.append(("ap_config", kw))
        for k, v in kw.items():
            if k not in _AP_KEYS:
                raise ValueError("unknown config param")
            ap_conf[_AP_KEYS[k]] = v
        return None

    def ifconfig(self):
        return ("192.168.4.1", "255.255.255.0", "192.168.4.1", "0.0.0.0")


class _WLAN:
    def __init__(self):
        self._started = False
        self._requested = False
        self._connected = False
        self._reason = 0
        self._conf_reconnects = 0  # 0: forever (config(reconnects=-1))
        self._reconnects = 0
        self._due = None  # ticks_ms when the pending attempt's outcome arrives
        self._ssid = self._key = ""

    def _settle(self):
        # Deliver the pending attempt's outcome once it is due (the IDF event).
        if self._due is None or _diff(_now(), self._due) < 0:
            return
        self._due = None
        ap = aps.get(self._ssid)
        if ap is None:
            self._disconnected(STAT_NO_AP_FOUND)
        elif ap[0] != self._key:
            self._disconnected(STAT_WRONG_PASSWORD)
        else:
            self._connected = True
            self._reason = 0

    def _disconnected(self, reason):
        # network_wlan_wifi_event_handler, WIFI_EVENT_STA_DISCONNECTED
        self._reason = reason
        self._connected = False
        if self._requested and self._started:
            if self._conf_reconnects:
                self._reconnects += 1
                if self._reconnects >= self._conf_reconnects:
                    return
            self._due = _diff(_now(), -delay_ms[0])  # esp_wifi_connect() again

    def active(self, is_active=None):
        if is_active is not None:
            calls.append(("active", bool(is_active)))
            if is_active and not self._started:
                self._started = True
                self._reconnects = 0
            elif not is_active and self._started:
                self._started = False
                self._connected = False
                self._due = None
        return self._started

    def config(self, *args, **kw):
        if args:
            if args[0] == "reconnects":
                return self._conf_reconnects - 1
            raise ValueError("unknown config param")
        calls.append(("config", kw))
        for k, v in kw.items():
            if k == "reconnects":
                self._conf_reconnects = 0 if v == -1 else v + 1
            else:
                raise ValueError("unknown config param")
        return None

    def connect(self, ssid=None, key=None, *, bssid=None):
        if not self._started:
            raise OSError("Wifi Not Started")
        calls.append(("connect", ssid, key, _host[0]))
        self._ssid = ssid or ""
        self._key = key or ""
        self._reconnects = 0
        self._requested = True
        self._connected = False
        self._due = _diff(_now(), -delay_ms[0])

    def disconnect(self):
        if not self._started:
            raise OSError("Wifi Not Started")
        calls.append(("disconnect",))
        self._requested = False
        self._due = None
        self._connected = False
        self._reason = _ASSOC_LEAVE

    def isconnected(self):
        self._settle()
        return self._connected

    def status(self, param=None):
        self._settle()
        if param == "rssi":
            if not self._connected:
                raise OSError("Wifi Not Connected")
            return aps[self._ssid][1]
        if param is not None:
            raise ValueError("unknown status param")
        r = self._reason
        if self._connected:
            return STAT_GOT_IP
        if r in (STAT_NO_AP_FOUND, 210, 211, 212, STAT_WRONG_PASSWORD):
            return r
        if r == _ASSOC_LEAVE:
            return STAT_IDLE
        if self._requested and (
            self._conf_reconnects == 0 or self._reconnects < self._conf_reconnects
        ):
            return STAT_CONNECTING
        if r == 0:
            return STAT_IDLE
        return r

    def scan(self):
        if not self._started:
            raise OSError("STA must be active")
        calls.append(("scan",))
        out = []
        for i, (ssid, (key, rssi)) in enumerate(sorted(aps.items())):
            mode = AUTH_WPA2_PSK if key else AUTH_OPEN
            out.append((ssid.encode(), bytes([2, 0, 0, 0, 0, i]), 6, rssi, mode, False))
        return out + raw_scan

    def ifconfig(self):
        if self._connected:
            return ("192.168.1.42", "255.255.255.0", "192.168.1.1", "192.168.1.1")
        return ("0.0.0.0", "0.0.0.0", "0.0.0.0", "0.0.0.0")
