"""Fake `machine` for the tests of firmware/hal/esp32.py: the pin edge of an ESP32, recorded.

Put tests/fake_esp32 first on sys.path, then import firmware.hal.esp32. Every hardware call
is appended to `calls` as a tuple, in order:
  ("pin", id, mode, pull, value)        Pin(id, mode, pull, value=...) with a mode
  ("uart", id, baudrate, kwargs)        UART(id, baudrate, **kwargs)
  ("init", id, baudrate, kwargs)        uart.init(baudrate, **kwargs)
  ("irq", id, trigger)                  uart.irq(...)   (the HAL must never call it)
  ("deinit", id)
  ("wdt", timeout)                      WDT(timeout=...) (starts or re-configures it)
  ("feed",)
Like MicroPython v1.27 (ports/esp32/machine_pin.c, machine_pin.h for the ESP32 target;
machine_uart.c for the keywords), a GPIO that the build does not have raises
ValueError("invalid pin") and an unknown UART keyword raises TypeError. Received bytes come
from feed(data); readinto() copies without allocating.
"""

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5

calls = []
_line = [bytearray()]  # bytes "received" (feed()); _pos[0] of them already read
_pos = [0]
_reset_cause = [PWRON_RESET]

# ESP32_GENERIC v1.27 (no SPIRAM): machine_pin.h, CONFIG_IDF_TARGET_ESP32.
_VALID = tuple(range(0, 24)) + (25, 26, 27) + tuple(range(32, 40))

_UART_KW = (
    "baudrate",
    "bits",
    "parity",
    "stop",
    "tx",
    "rx",
    "rts",
    "cts",
    "txbuf",
    "rxbuf",
    "timeout",
    "timeout_char",
    "invert",
    "flow",
)


def clear():
    """Forget the recorded calls and the received bytes."""
    del calls[:]
    _line[0] = bytearray()
    _pos[0] = 0


def feed(data):
    """Bytes arrive on the UART's RX pin."""
    _line[0].extend(data)


def set_reset_cause(cause):
    _reset_cause[0] = cause


def unique_id():
    return b"\x24\x0a\xc4\x6c\x16\x01"


def reset_cause():
    return _reset_cause[0]


def reset():
    calls.append(("reset",))


def _pin_id(pin):
    if pin not in _VALID:
        raise ValueError("invalid pin")
    return pin


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 2
    PULL_DOWN = 1

    def __init__(self, pin_id, mode=None, pull=-1, value=None):
        self.id = _pin_id(pin_id)
        if mode is not None:
            calls.append(("pin", pin_id, mode, pull, value))


class WDT:
    def __init__(self, id=0, timeout=5000):
        if timeout <= 0:
            raise ValueError("WDT timeout too short")
        calls.append(("wdt", timeout))

    def feed(self):
        calls.append(("feed",))


class UART:
    INV_TX = 32
    INV_RX = 4
    IRQ_RX = 1
    IRQ_RXIDLE = 0x1000

    def __init__(self, uart_id, baudrate=0, **kw):
        self.id = uart_id
        self._check(kw)
        calls.append(("uart", uart_id, baudrate, kw))
        _pos[0] = len(_line[0])  # v1.27: every init ends with uart_flush_input()

    def _check(self, kw):
        for k in kw:
            if k not in _UART_KW:
                raise TypeError("unexpected keyword argument '%s'" % k)
        for k in ("rx", "tx"):
            if k in kw:
                _pin_id(kw[k])

    def init(self, baudrate=0, **kw):
        self._check(kw)
        calls.append(("init", self.id, baudrate, kw))
        _pos[0] = len(_line[0])

    def irq(self, handler=None, trigger=0, hard=False):
        calls.append(("irq", self.id, trigger))

    def any(self):
        return len(_line[0]) - _pos[0]

    def readinto(self, buf, nbytes=-1):
        line = _line[0]
        p = _pos[0]
        n = len(line) - p
        if 0 <= nbytes < n:
            n = nbytes
        n = min(n, len(buf))
        if n == 0:
            return None
        for i in range(n):
            buf[i] = line[p + i]
        _pos[0] = p + n
        return n

    def deinit(self):
        calls.append(("deinit", self.id))
