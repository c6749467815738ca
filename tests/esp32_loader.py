"""Import firmware/hal/esp32.py with the fake `machine` of tests/fake_esp32, on both interpreters.

load() -> (esp32 module, fake machine module). Neither stays in sys.modules afterwards, so no
other test sees the fake and a later import of firmware.hal.esp32 starts afresh. The Wi-Fi
half (firmware/hal/esp32_net.py, which esp32.wlan() loads on first use) and the access point
(firmware/hal/esp32_ap.py, access_point()'s) are imported here too, on the fake `network`, and
handed to the esp32 module.
"""

import sys

_NAMES = (
    "machine",
    "network",
    "firmware.hal.esp32",
    "firmware.hal.esp32_net",
    "firmware.hal.esp32_ap",
)


def _forget():
    for name in _NAMES:
        if name in sys.modules:
            del sys.modules[name]
    hal = sys.modules.get("firmware.hal")
    for sub in ("esp32", "esp32_net", "esp32_ap"):
        if hal is not None and hasattr(hal, sub):
            delattr(hal, sub)  # else `from firmware.hal import esp32` returns the old one


def load():
    here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
    _forget()
    sys.path.insert(0, here + "/fake_esp32")
    try:
        import machine

        from firmware.hal import esp32, esp32_ap, esp32_net

        esp32._net = esp32_net
        esp32._apm = esp32_ap
    finally:
        sys.path.pop(0)
        _forget()
    return esp32, machine
