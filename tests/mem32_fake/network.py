"""Fake `network` for the memory harness (tools/mem32): a Wi-Fi radio.

Constants as in MicroPython 1.27's ESP32 port (modnetwork_globals.h); WLAN(STA_IF) is a
singleton like the driver's, idle until connect(), then "connecting" for ever, or, once
`joins(True)` was called (scenario mqtt), joined at once with an address and an RSSI of RSSI
dBm. No traffic is modelled here (the MQTT socket edge is tests/mem32_fake/mem32_broker.py).
"""

STA_IF = 0
AP_IF = 1
STAT_IDLE = 1000
STAT_CONNECTING = 1001
STAT_GOT_IP = 1010
STAT_BEACON_TIMEOUT = 200
STAT_NO_AP_FOUND = 201
STAT_WRONG_PASSWORD = 202
STAT_ASSOC_FAIL = 203
STAT_HANDSHAKE_TIMEOUT = 204
STAT_NO_AP_FOUND_W_COMPATIBLE_SECURITY = 210
STAT_NO_AP_FOUND_IN_AUTHMODE_THRESHOLD = 211
STAT_NO_AP_FOUND_IN_RSSI_THRESHOLD = 212

RSSI = -61

_name = "mpy-esp32"
_wlans = {}
_joins = False


def joins(on):
    """Whether connect() joins the network at once (True) or stays "connecting" (False)."""
    global _joins
    _joins = bool(on)


def hostname(name=None):
    global _name
    if name is None:
        return _name
    _name = name
    return None


class _WLAN:
    def __init__(self):
        self._active = False
        self._status = STAT_IDLE

    def active(self, on=None):
        if on is None:
            return self._active
        self._active = bool(on)
        return None

    def config(self, *args, **kw):
        return None

    def connect(self, ssid=None, key=None, **kw):
        if not self._active:
            raise OSError("Wifi Not Started")
        self._status = STAT_GOT_IP if _joins else STAT_CONNECTING

    def disconnect(self):
        self._status = STAT_IDLE

    def status(self, param=None):
        if param is not None:
            if param == "rssi" and self._status == STAT_GOT_IP:
                return RSSI
            raise OSError("Wifi Not Connected")
        return self._status

    def isconnected(self):
        return self._status == STAT_GOT_IP

    def ifconfig(self, *args):
        if self._status == STAT_GOT_IP:
            return _IFCONFIG
        return _NO_IP


_IFCONFIG = ("192.168.1.42", "255.255.255.0", "192.168.1.1", "192.168.1.1")
_NO_IP = ("0.0.0.0", "0.0.0.0", "0.0.0.0", "0.0.0.0")


def WLAN(interface_id=STA_IF):  # noqa: N802 (the driver's name)
    w = _wlans.get(interface_id)
    if w is None:
        w = _wlans[interface_id] = _WLAN()
    return w
