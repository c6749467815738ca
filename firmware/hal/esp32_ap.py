"""ESP32 Wi-Fi access point, loaded by firmware/hal/esp32.py's access_point() on first use:
a board that never opens its access point keeps none of this code (656 B on 32 bits when it
lived in esp32_net.py).

Only firmware/hal/ may import network. Checked by pyright against the ESP32 stubs.
"""

import network

# -- Access point (ports/esp32/network_wlan.c v1.27: network_wlan_config, network_wlan_active)


class AccessPoint:
    """The access point, network.WLAN(network.AP_IF) (a singleton in the driver).

    active(True) adds the AP to the radio's mode (WIFI_MODE_APSTA when the station is on too:
    one radio, so the AP follows the station's channel, and the station's connection attempts
    hop channels, which disturbs the AP's clients for a moment). config(ssid, password) sets
    the SSID, the key and the auth mode explicitly (the driver keeps the previous one
    otherwise): WPA2-PSK with a password (8 to 63 characters, the IDF's rule), open without;
    at most MAX_CLIENTS stations. Call it after active(True): the driver read-modify-writes
    the interface's IDF config. ip(): the AP's address, 192.168.4.1 by default (the IDF's
    soft-AP netif; its DHCP server hands that address out as the DNS server)."""

    MAX_CLIENTS = 4

    def __init__(self):
        self._w = network.WLAN(network.AP_IF)

    def active(self, on=None):
        if on is None:
            return bool(self._w.active())
        self._w.active(bool(on))
        return bool(on)

    def config(self, ssid, password=""):
        if password and not 8 <= len(password) <= 63:
            raise ValueError("WPA2 password: 8 to 63 characters")
        self._w.config(
            ssid=ssid,
            key=password,
            security=network.AUTH_WPA2_PSK if password else network.AUTH_OPEN,
            max_clients=self.MAX_CLIENTS,
        )

    def ip(self):
        return self._w.ifconfig()[0]
