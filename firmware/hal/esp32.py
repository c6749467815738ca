"""ESP32 side of the HAL: the TIC UART, reset, watchdog, chip id.

The only place (with firmware/hal/) allowed to import machine/network/esp32. Checked by pyright
against the ESP32 stubs (`make typecheck`). Facts cited as §x.y are from the project's
esp32-micropython notes.
"""

import asyncio
import binascii

import machine
from machine import UART, Pin

PLATFORM = "esp32"

# Receive ring buffer of the UART driver, in bytes.
# It lives in the IDF heap (internal RAM), not in the MicroPython heap (§1.1), and must cover
# the longest time the event loop may not read: at 9600 Bd 7E1 a character is 10 bits, so the
# line delivers 960 B/s (1200 Bd: 120 B/s). Known stalls: Wi-Fi (re)connect or scan, seconds;
# TLS handshake, ~1-3 s; flash erase/write bursts (OTA, config), up to seconds if not chunked.
# 4096 B = 4.3 s at 9600 Bd and 34 s at 1200 Bd, above those stalls. More costs IDF RAM that
# Wi-Fi and TLS need (~40 KB left once the GC heap has grown, §4.1); the driver's size field
# is 16-bit (max 65535). On overflow the driver drops the newest bytes and the parser loses
# one frame: harmless, the next frame is complete.
RXBUF = 4096

# With IRQ_RXIDLE the reader sleeps until the line goes quiet; this tick also wakes it so that
# a line that never pauses long enough for RXIDLE (possible at 1200 Bd, §1.3) is still read.
TICK_MS = 100

_TIC_UART_BITS = 7  # TIC: 7 data bits, even parity, 1 stop bit


def setting(name, default=None):
    """Run-time options of the host build (environment); the device has none."""
    return default


def unique_id():
    return binascii.hexlify(machine.unique_id()).decode()


_CAUSES = {
    machine.PWRON_RESET: "power",  # also brown-out (§6.2)
    machine.HARD_RESET: "hard",  # machine.reset(), panic, EN pin
    machine.WDT_RESET: "wdt",
    machine.DEEPSLEEP_RESET: "deepsleep",
    machine.SOFT_RESET: "soft",
}


def reset_cause():
    return _CAUSES.get(machine.reset_cause(), "unknown")


def reset():
    machine.reset()


def watchdog(timeout_ms):
    """machine.WDT: cannot be stopped once started and survives soft resets (§6.1)."""
    return machine.WDT(timeout=timeout_ms)


class TicUart:
    """The TIC input: machine.UART with the board profile's pins, 7E1, non-blocking reads.

    Waiting: `await wait()` returns when bytes may be there. Where UART.IRQ_RXIDLE exists
    (MicroPython v1.24+) a soft IRQ at the end of each burst sets an asyncio.ThreadSafeFlag,
    and a ticker task sets it every TICK_MS as a safety net; IRQ_RX is not used because it
    fires per byte (§1.3). Without IRQ_RXIDLE, wait() sleeps TICK_MS: with a 4 KB buffer
    polling ten times a second is plenty at 960 B/s.
    """

    def __init__(self, profile, baud, rxbuf=RXBUF):
        self.profile = profile
        self.rxbuf = rxbuf
        self.baud = baud
        self._enable = None
        self._flag = None
        self._ticker = None
        if profile.enable is not None:
            # Powers the TIC stage on the original Denky (GPIO4); keep the Pin referenced.
            self._enable = Pin(profile.enable, Pin.OUT, value=1)
        if profile.pullup:
            # Open-drain stage (PiTInfo style): internal pull-up on the RX pad, set before the
            # UART takes the pin through the GPIO matrix. (The IDF may enable an RX pull-up
            # itself in uart_set_pin; not relied upon. [not verified on hardware])
            Pin(profile.rx, Pin.IN, Pin.PULL_UP)
        args = self._uart_args()
        args["rxbuf"] = rxbuf
        self._uart = UART(profile.uart, baud, **args)
        self._release_tx()
        if hasattr(UART, "IRQ_RXIDLE"):
            self._flag = asyncio.ThreadSafeFlag()
            self._uart.irq(self._irq, UART.IRQ_RXIDLE)

    def _uart_args(self):
        # rxbuf is only given at construction: changing it re-installs the driver, which
        # deadlocked with an active irq() before v1.26 (§1.1).
        p = self.profile
        return {
            "bits": _TIC_UART_BITS,
            "parity": 0,  # an even number selects even parity (§1.1)
            "stop": 1,
            "rx": p.rx,
            "tx": p.tx,
            "timeout": 0,  # never block the event loop (§1.4, §1.5)
            "invert": UART.INV_RX if p.invert else 0,
        }

    def _release_tx(self):
        # The TIC is receive-only. MicroPython <= v1.28 always routes UART TX to a pin; turning
        # that pin back into a plain input leaves it high-impedance. [not verified on hardware]
        Pin(self.profile.tx, Pin.IN)

    def _irq(self, _uart):
        flag = self._flag
        if flag is not None:
            flag.set()

    async def _tick(self, flag):
        while True:  # until deinit() cancels it
            await asyncio.sleep_ms(TICK_MS)
            flag.set()

    def wait(self):
        """An awaitable that completes when data may be available (at most ~TICK_MS after it
        arrived). Not an `async def`, which would allocate a coroutine on every call."""
        flag = self._flag
        if flag is None:
            return asyncio.sleep_ms(TICK_MS)
        if self._ticker is None:
            self._ticker = asyncio.create_task(self._tick(flag))
        return flag.wait()

    def readinto(self, buf, nbytes=-1):
        """Bytes received so far into buf, None if none; never blocks, never allocates."""
        if nbytes < 0:
            return self._uart.readinto(buf)
        return self._uart.readinto(buf, nbytes)

    def any(self):
        return self._uart.any()

    def set_baud(self, baud):
        """Re-init at another speed. Buffered input is discarded (v1.27+ flushes on init;
        older versions rebuild the driver), so a partial frame is lost (§1.1)."""
        self._uart.init(baud, **self._uart_args())
        self._release_tx()
        self.baud = baud

    def deinit(self):
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        self._flag = None
        self._uart.deinit()


def open_tic(profile, baud, rxbuf=RXBUF):
    return TicUart(profile, baud, rxbuf)
