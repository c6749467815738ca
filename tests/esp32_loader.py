"""Import firmware/hal/esp32.py with the fake `machine` of tests/fake_esp32, on both interpreters.

load() -> (esp32 module, fake machine module). Neither stays in sys.modules afterwards, so no
other test sees the fake and a later import of firmware.hal.esp32 starts afresh.
"""

import sys

_NAMES = ("machine", "network", "firmware.hal.esp32")


def _forget():
    for name in _NAMES:
        if name in sys.modules:
            del sys.modules[name]
    hal = sys.modules.get("firmware.hal")
    if hal is not None and hasattr(hal, "esp32"):
        delattr(hal, "esp32")  # else `from firmware.hal import esp32` returns the old one


def load():
    here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
    _forget()
    sys.path.insert(0, here + "/fake_esp32")
    try:
        import machine

        from firmware.hal import esp32
    finally:
        sys.path.pop(0)
        _forget()
    return esp32, machine
