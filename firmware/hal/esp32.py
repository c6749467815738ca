"""ESP32 side of the HAL: the TIC UART, reset, watchdog, chip id, the Wi-Fi station and TCP
connections.

The only place (with firmware/hal/) allowed to import machine/network/esp32. Checked by pyright
against the ESP32 stubs (`make typecheck`); tested on CPython and the unix port with a fake
`machine` (tests/fake_esp32/). Facts cited as §x.y are from the project's esp32-micropython
notes; `ports/esp32/<file> v1.27` is MicroPython's source at tag v1.27.0.
"""

import asyncio
import binascii
import sys

import machine
from machine import UART, Pin

try:
    from asyncio import sleep_ms as _sleep_ms  # pyright: ignore[reportAssignmentType]

    from micropython import const  # pyright: ignore[reportAssignmentType]
except ImportError:  # CPython (tests): same awaitable, in seconds

    def _sleep_ms(ms):
        return asyncio.sleep(ms / 1000)

    def const(x):
        return x


PLATFORM = "esp32"


# The most the MicroPython heap may hold before it would grow a second time: ESP32_GENERIC's
# first area is 56,000 B usable (MICROPY_GC_INITIAL_HEAP_SIZE 56 KiB) and one growth adds
# about as much; a second starves Wi-Fi and sockets (docs/design/memory.md). 36 KiB on the
# S2 and C2, 64 KiB on the others (ports/esp32/mpconfigport.h v1.27). firmware/ota_run.py
# keeps MQTT during an update only when the update's peak fits under it.
_m = getattr(sys.implementation, "_machine", "")  # "Generic ESP32 module ... with ESP32S3"
HEAP_LIMIT = (
    112000 if _m.endswith("ESP32") else 72000 if _m.endswith(("ESP32S2", "ESP32C2")) else 128000
)
del _m

# Receive ring buffer of the UART driver, in bytes. It lives in the IDF heap (internal RAM), not
# in the MicroPython heap (§1.1); more costs RAM that Wi-Fi and TLS need (§4.1). The driver
# keeps the size in a uint16_t (`rxbuf` in ports/esp32/machine_uart.c v1.27), so <= 65535.
# 4096 B hold 4.3 s of line at 9600 Bd, 34 s at 1200 Bd: see docs/design/uart.md.
RXBUF = 4096

# Polling (docs/design/uart.md). No UART.irq(): its RX-idle trigger (v1.26-v1.28) restarts
# a hardware timer per RX burst and leaks an 8-bit IDF reference count; after ~255 bursts
# Timer Group 0 is reset and ticks_ms() stops on the original ESP32 (MicroPython issue
# #19162, §8.9). wait() is a
# plain asyncio sleep of `period_ms`, the longest that keeps the buffer from filling:
#   (period_ms + _MAX_STALL_MS) * bytes_per_s / 1000 <= rxbuf - _HEADROOM
_MAX_STALL_MS = const(3000)  # longest event-loop stall the TIC input must survive without loss
_HEADROOM = const(512)  # kept free: the reader may leave < 256 B unread while the line is busy
POLL_MAX_MS = const(100)  # latency cap: bytes are read at most this long after they arrive
_POLL_MIN_MS = const(10)  # one FreeRTOS tick (100 Hz): a shorter sleep is not shorter
_CHAR_BITS = const(10)  # 7E1: start + 7 data + parity + stop
_TOP_BAUD = const(9600)  # the fastest TIC line (standard mode): rxbuf must cover it

_TIC_UART_BITS = const(7)  # TIC: 7 data bits, even parity, 1 stop bit

# RX pins that the IDF routes through the IO MUX (the pad switched to the UART function) rather
# than the GPIO matrix, per (chip, UART id): the IDF's soc uart_pins.h (U1RXD_GPIO_NUM,
# U2RXD_GPIO_NUM). Pin() re-selects the GPIO function (esp_rom_gpio_pad_select_gpio in
# ports/esp32/machine_pin.c v1.27, machine_pin_obj_init_helper), which would cut such a pad
# off the UART: they are configured before the UART init only. [not verified on hardware]
_IOMUX_RX = (("esp32", 1, 9), ("esp32", 2, 16), ("esp32s2", 1, 18), ("esp32s3", 1, 18))


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


# The watchdog the firmware started (watchdog()), None if none: stretch_watchdog() may only
# re-configure a running one. Lost on a soft reset, although the hardware one keeps running.
_wdt = None


def watchdog(timeout_ms):
    """Start (or re-configure) the watchdog: machine.WDT, which cannot be stopped and survives
    soft resets (§6.1). Returns it (feed() it); remembered for stretch_watchdog()."""
    global _wdt
    _wdt = machine.WDT(timeout=timeout_ms)
    return _wdt


def stretch_watchdog(timeout_ms):
    """Give a running watchdog `timeout_ms` (deploy: 30 min) and feed it; True if watchdog()
    started one in this session, False (and nothing armed) otherwise. On the ESP32 a second
    WDT() re-configures the running one (esp_task_wdt_reconfigure, ports/esp32/machine_wdt.c
    v1.27); creating one where none runs would arm it, hence the check."""
    if _wdt is None:
        return False
    machine.WDT(timeout=timeout_ms)
    _wdt.feed()
    return True


def poll_ms(baud, rxbuf=RXBUF):
    """Poll period (ms) of the TIC input at `baud` with an `rxbuf`-byte driver buffer: the
    longest, capped at POLL_MAX_MS, for which the buffer cannot fill between two reads even
    across a _MAX_STALL_MS stall. ValueError if the buffer cannot cover that stall."""
    if not isinstance(baud, int) or baud < _CHAR_BITS:
        raise ValueError("bad baud rate %r" % (baud,))
    room = (rxbuf - _HEADROOM) * 1000 // (baud // _CHAR_BITS) - _MAX_STALL_MS
    if room < _POLL_MIN_MS or rxbuf > 65535:
        raise ValueError("rxbuf=%d too small for %d Bd, or above 65535" % (rxbuf, baud))
    return min(room, POLL_MAX_MS)


class TicUart:
    """The TIC input: machine.UART with the board profile's pins, 7E1, non-blocking reads.

    Pins, on every (re)configuration (ports/esp32/machine_uart.c v1.27 calls uart_set_pin() in
    every init, mp_machine_uart_init_helper, and again in mp_machine_uart_make_new):
    - rx: Pin(rx, Pin.IN, pull), pull = Pin.PULL_UP if the profile asks, else None (off).
      ESP-IDF 5.5.1's uart_set_pin() connects a GPIO-matrix RX pad to the UART and enables its
      input, but neither selects the GPIO function (the C3's GPIO4 is JTAG at reset) nor sets a
      pull (§8.10). Set before each init, and after it unless the pad is an IO MUX one.
    - tx: MicroPython <= v1.28 always routes a TX pin (§1.1); it is released to a plain input
      (high impedance) after each init. [not verified on hardware]
    - enable: driven high once, if the profile has one (powers the TIC stage).
    Cost: wait() and readinto() allocate nothing; set_baud() re-inits the UART (flushes it).
    """

    def __init__(self, profile, baud, rxbuf=RXBUF):
        poll_ms(_TOP_BAUD, rxbuf)  # the buffer must cover the fastest line (set_baud)
        self.profile = profile
        self.rxbuf = rxbuf
        self.period_ms = poll_ms(baud, rxbuf)
        self._pull = Pin.PULL_UP if profile.pullup else None
        self._iomux = (profile.chip, profile.uart, profile.rx) in _IOMUX_RX
        self._enable = None
        if profile.enable is not None:
            # Powers the TIC stage on the original Denky (GPIO4); keep the Pin referenced.
            self._enable = Pin(profile.enable, Pin.OUT, value=1)
        self._pins(True)
        # rxbuf only here: passing it to init() again would re-install the driver (§1.1).
        self._uart = UART(profile.uart, baud, rxbuf=rxbuf, **self._uart_args())
        self._pins(False)
        self.baud = baud

    def _uart_args(self):
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

    def _pins(self, before):
        # Before an init: rx only. After: tx back to an input (the TIC is receive-only), then
        # rx again unless it is an IO MUX pad. pull=None turns both pulls off
        # (ports/esp32/machine_pin.c v1.27); the stub says int.
        p = self.profile
        if not before:
            Pin(p.tx, Pin.IN)
            if self._iomux:
                return
        Pin(p.rx, Pin.IN, self._pull)  # pyright: ignore[reportArgumentType]

    def wait(self):
        """An awaitable that completes after period_ms, when data may be there. A plain
        function returning asyncio's sleep object: an `async def` would allocate a coroutine
        on every call, asyncio.ThreadSafeFlag.wait() allocates too (§8.9)."""
        return _sleep_ms(self.period_ms)

    def readinto(self, buf, nbytes=-1):
        """Bytes received so far into buf, None if none; never blocks, never allocates."""
        if nbytes < 0:
            return self._uart.readinto(buf)
        return self._uart.readinto(buf, nbytes)

    def any(self):
        return self._uart.any()

    def set_baud(self, baud):
        """Re-init at another speed and recompute period_ms. Buffered input is discarded
        (v1.27 flushes on init: uart_flush_input() at the end of mp_machine_uart_init_helper),
        so a partial frame is lost (§1.1). ValueError (port unchanged) for a bad speed."""
        period = poll_ms(baud, self.rxbuf)
        self._pins(True)
        self._uart.init(baud, **self._uart_args())
        self._pins(False)
        self.period_ms = period
        self.baud = baud

    def deinit(self):
        self._uart.deinit()


def open_tic(profile, baud, rxbuf=RXBUF):
    return TicUart(profile, baud, rxbuf)


# -- Wi-Fi station: the class lives in firmware/hal/esp32_net.py, loaded on first use.

_net = None  # the esp32_net module once loaded (tests put their fake-backed one here)
_sta = None


def wlan():
    """The Wi-Fi station (one per device): firmware/hal/esp32_net.py's Station."""
    global _sta, _net
    if _sta is None:
        if _net is None:
            from firmware.hal import esp32_net as _net
        _sta = _net.Station()
    return _sta


# -- Wi-Fi access point: the class lives in firmware/hal/esp32_ap.py, loaded on first use.

_apm = None  # the esp32_ap module once loaded (tests put their fake-backed one here)
_ap = None


def access_point():
    """The Wi-Fi access point (one per device): firmware/hal/esp32_ap.py's AccessPoint."""
    global _ap, _apm
    if _ap is None:
        if _apm is None:
            from firmware.hal import esp32_ap as _apm
        _ap = _apm.AccessPoint()
    return _ap


def boot_button():
    """Whether the BOOT button is held now: GPIO9 on the C3, GPIO0 elsewhere, low when held
    (internal pull-up). Both are strapping pins: held through a reset they start the ROM's
    download mode, so the firmware sees a press made just after power-up (firmware/portal.py
    samples it for the first seconds and counts a change of level)."""
    import sys

    # "ESP32C3 module with ESP32C3" on a C3 (the port's MICROPY_HW_MCU_NAME in the build name)
    pin = 9 if "C3" in getattr(sys.implementation, "_machine", "") else 0
    return Pin(pin, Pin.IN, Pin.PULL_UP).value() == 0


async def open_connection(host, port, ssl=None, server_hostname=None):
    """A TCP (TLS when `ssl` is an SSLContext) stream to host:port for lib/mqtt.py: awaitable
    readinto(buf), write(buf), awaitable drain(), close(). OSError (EHOSTUNREACH) at once when
    the station is not connected, else what the connection raises."""
    if _sta is None or not _sta.isconnected():
        raise OSError(113, "no network")  # EHOSTUNREACH
    # asyncio (MicroPython) takes ssl and server_hostname as positional parameters too.
    s = (await asyncio.open_connection(host, port, ssl, server_hostname))[0]  # pyright: ignore
    s.close = s.s.close  # pyright: ignore  # asyncio's Stream.close() leaves the socket open
    return s
