"""Host side of the HAL: the firmware on a PC (MicroPython unix port), as `make sim` runs it.

Also imports on CPython. The TIC line is simulated by tools/sim.py in its own process
(tools/sim_link.py, tools/sim_line.py), so the simulated board holds only what a board holds.
This module reaches it over a loopback TCP link whose address tools/sim.py passes in
LINKY_TIC ("link:HOST:PORT"): 5-byte requests (an op letter, a little-endian u32) answered by
2-byte replies (protocol: tools/sim_link.py). The link carries the port's speed changes and
reads, the watchdog's start and feeds (tools/sim.py resets the firmware, cause "wdt", when
feeds stop), and the state of the fake Wi-Fi radio. Reads and feeds allocate nothing on
MicroPython.

Wi-Fi (wlan(), open_connection()): only the radio is fake. The station joins any non-empty
SSID while the simulator says the air is up (`N` request; tools/sim.py drops and restores it
on SIGUSR1 / SIGUSR2 or --wifi-drop); without a simulator, set_radio() plays that part.
Connections are real loopback TCP, refused while the station is not connected, and a
connection opened before a drop stays dead (see open_connection).
"""

import os
import sys

try:
    import asyncio
except ImportError:  # pragma: no cover (both interpreters have it)
    asyncio = None

PLATFORM = "host"

# The unix port's heap is one fixed area (tools/sim.py --heap): its limit is what it has,
# gc.mem_alloc() + gc.mem_free() (firmware/ota_run.py). The ESP32's is a fixed figure.
HEAP_LIMIT = 0

# The exit status that asks tools/sim.py to restart the firmware ("device reset"). It must equal
# RESET_EXIT_CODE in tools/upy.py, which the device cannot import (tests check they agree).
RESET_EXIT_CODE = 75

# Same receive buffer size as the device (see firmware/hal/esp32.py for the arithmetic).
RXBUF = 4096

# Host sources are polled: nothing here is latency-critical, 20 ms is ~19 bytes at 9600 Bd.
POLL_MS = 20

ERROR = 0xFFFF  # the simulator refused a request (tools/sim_link.py)
MAX_READ = 4096  # characters per read request


def setting(name, default=None):
    """Host run-time option: environment variable LINKY_<name>, else default (the device's)."""
    v = os.getenv("LINKY_" + name)
    return default if v is None or v == "" else v


def unique_id():
    """Hex id of this 'device': LINKY_UID, else a fixed one ("host" + 0001)."""
    return setting("UID", "686f73740001")


def reset_cause():
    """Why the firmware (re)started, as tools/sim.py says: "power" (first boot), "hard" (after
    reset()), "wdt" (after it killed a firmware whose watchdog was not fed)."""
    return setting("RESET_CAUSE", "power")


def reset():
    """Ask tools/sim.py for a device reset: a clean exit with RESET_EXIT_CODE; it restarts us."""
    try:
        sys.stdout.flush()
    except AttributeError:  # MicroPython's stdout may have no flush
        pass
    sys.exit(RESET_EXIT_CODE)


class Link:
    """The connection to tools/sim.py: a blocking socket, preallocated request and reply
    buffers. OSError when the simulator is gone."""

    def __init__(self, host, port):
        import socket

        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.connect(socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0][-1])
        s.setsockopt(6, 1, 1)  # IPPROTO_TCP, TCP_NODELAY (Linux): no Nagle delay
        self._s = s
        self._req = bytearray(5)
        self._rep = bytearray(2)
        # MicroPython: readinto(buf, n) reads exactly n bytes. CPython: recv_into, looped.
        self._mp = hasattr(s, "readinto")

    def send(self, op, arg):
        r = self._req
        r[0] = op
        r[1] = arg & 0xFF
        r[2] = (arg >> 8) & 0xFF
        r[3] = (arg >> 16) & 0xFF
        r[4] = (arg >> 24) & 0xFF
        self._s.sendall(r)

    def _recv(self, buf, n):
        if self._mp:
            got = self._s.readinto(buf, n)
        else:
            mv = memoryview(buf)
            got = 0
            while got < n:
                k = self._s.recv_into(mv[got:n])
                if not k:
                    break
                got += k
        if got != n:
            raise OSError("TIC link: tools/sim.py is gone")

    def call(self, op, arg, buf=None):
        """Send a request, return its reply; for a read, `buf` gets the characters."""
        self.send(op, arg)
        r = self._rep
        self._recv(r, 2)
        n = r[0] | (r[1] << 8)
        if buf is not None and n and n != ERROR:
            self._recv(buf, n)
        return n

    def close(self):
        self._s.close()


_link = None


def _the_link():
    """The link named by LINKY_TIC, opened once; None when there is none (not under sim.py)."""
    global _link
    if _link is None:
        spec = setting("TIC") or ""
        if not spec.startswith("link:"):
            return None
        host, _, port = spec[5:].rpartition(":")
        if not host or not port.isdigit():
            raise ValueError("LINKY_TIC=%r: expected link:HOST:PORT" % spec)
        _link = Link(host, int(port))
    return _link


class Port:
    """The TIC input: a UART whose line lives in tools/sim.py (see firmware/hal/__init__.py)."""

    def __init__(self, link, baud):
        self._link = link
        self.baud = 0
        self._set(79, baud)  # O: open

    def _set(self, op, baud):
        if not isinstance(baud, int) or baud <= 0 or self._link.call(op, baud) == ERROR:
            raise ValueError("unsupported baud rate %r for this TIC source" % (baud,))
        self.baud = baud

    def set_baud(self, baud):  # the simulator discards what the UART buffered
        self._set(66, baud)  # B

    def readinto(self, buf, nbytes=-1):
        """Characters received since the last read (at most len(buf), nbytes); None if none."""
        lim = len(buf) if nbytes < 0 else min(nbytes, len(buf))
        lim = min(lim, MAX_READ)
        n = self._link.call(82, lim, buf)  # R
        return n if n and n != ERROR else None

    def any(self):
        return self._link.call(65, 0)  # A

    def wait(self):
        """A short poll: asyncio's sleep object (an `async def` would allocate a coroutine)."""
        return asyncio.sleep_ms(POLL_MS)

    def deinit(self):
        pass


def open_tic(profile, baud, rxbuf=RXBUF):
    """The TIC input, from tools/sim.py through LINKY_TIC (its buffer: RXBUF characters)."""
    link = _the_link()
    if link is None:
        raise ValueError(
            "no TIC link: LINKY_TIC must be link:HOST:PORT; run the firmware with tools/sim.py "
            "--tic FILE|sim:MODE,PHASES,CONTRACT|/dev/ttyX|tcp://HOST:PORT"
        )
    return Port(link, baud)


class Watchdog:
    """machine.WDT on the host: tools/sim.py is told its start and each feed, and restarts the
    firmware (cause "wdt") when none arrives within timeout_ms. Without a link: feeds counted."""

    def __init__(self):
        self.timeout_ms = 0  # not started
        self.feeds = 0
        self._link = _the_link()

    def start(self, timeout_ms):
        if not isinstance(timeout_ms, int) or timeout_ms <= 0:
            raise ValueError("watchdog timeout must be > 0 ms")
        self.timeout_ms = timeout_ms
        if self._link is not None:
            self._link.call(87, timeout_ms)  # W: (re)starts the countdown

    def feed(self):
        self.feeds += 1
        if self._link is not None:
            self._link.send(70, 0)  # F, no reply


_wdt = None


def watchdog(timeout_ms):
    """Start (or re-configure) the watchdog, one per process; like machine.WDT, no stop."""
    global _wdt
    if _wdt is None:
        _wdt = Watchdog()
    _wdt.start(timeout_ms)
    return _wdt


def stretch_watchdog(timeout_ms):
    """Re-configure the running watchdog to timeout_ms from now; False if none was started."""
    if _wdt is None or not _wdt.timeout_ms:
        return False
    _wdt.start(timeout_ms)
    return True


# -- Wi-Fi: a fake radio, real TCP

_radio = [55]  # without a simulator: 0 = no access point in range, else its signal, -dBm


def set_radio(up, rssi=-55):
    """Without tools/sim.py (tests): the access point goes away (False) or comes back (True,
    at `rssi` dBm). Under the simulator the air is its own: SIGUSR1 / SIGUSR2 to tools/sim.py."""
    _radio[0] = -rssi if up else 0


def _air(link):
    # The access point's signal (-dBm), 0 when none is in range: asked to tools/sim.py.
    if link is None:
        return _radio[0]
    return link.call(78, 0)  # N


class Station:
    """The Wi-Fi station (see firmware/hal/esp32.py for the contract). Fake radio: connect()
    joins a non-empty SSID at once if the air is up (any password), else "no_ap"; a station
    that finds the air down is dropped ("failed", as after a beacon timeout) and, like the
    ESP32 one, does not rejoin by itself: connect() again. Each status() asks the simulator
    (one link request, no allocation)."""

    def __init__(self):
        self._on = False
        self._ssid = ""
        self._joined = False
        self._fail = "idle"
        self.hostname = ""
        self._link = _the_link()  # looked up once: status() allocates nothing

    def active(self, on=None):
        if on is not None:
            self._on = bool(on)
            if not on:
                self._joined = False
                self._fail = "idle"
        return self._on

    def connect(self, ssid, password="", hostname=""):
        if not self._on:
            raise OSError("Wifi Not Started")
        self._ssid = ssid
        self.hostname = hostname
        self._joined = bool(ssid) and _air(self._link) != 0
        self._fail = "no_ap"

    def disconnect(self):
        self._joined = False
        self._fail = "idle"

    def status(self):
        if self._joined:
            if _air(self._link):
                return "connected"
            self._joined = False
            self._fail = "failed"
        return self._fail if self._on else "idle"

    def isconnected(self):
        return self.status() == "connected"

    def rssi(self):
        if not self._joined:
            return None
        a = _air(self._link)
        if not a:
            self._joined = False
            self._fail = "failed"
            return None
        return -a

    def ip(self):
        return "127.0.0.1" if self.isconnected() else None

    def scan(self):
        """[(ssid, rssi dBm, secure)] of the networks in range: the simulator's while its air
        is up, and `neighbours`. OSError when the radio is off, as on the ESP32."""
        if not self._on:
            raise OSError("STA must be active")
        return _scan(self._link)


_sta = None


def wlan():
    """The Wi-Fi station (one per process)."""
    global _sta
    if _sta is None:
        _sta = Station()
    return _sta


# Networks the fake radio hears besides the simulator's own ("sim", at the air's signal, while
# it is up): (ssid, rssi dBm, secure). Tests may replace the list.
neighbours = [("Livebox-5A1C", -71, True), ("FreeWifi", -83, False), ("linky-test", -90, True)]


def _scan(link):
    # Station.scan(): the fake air, as the ESP32 driver would report it after a scan.
    out = list(neighbours)
    a = _air(link)
    if a:
        out.insert(0, ("sim", -a, True))  # tools/sim.py WIFI_SSID
    return out


class AccessPoint:
    """The Wi-Fi access point (see firmware/hal/esp32_net.py for the contract). Fake radio: it
    records its state; phones join it only in the tests' imagination, the captive DNS and the
    HTTP server listen on loopback ports (LINKY_DNS_PORT, LINKY_HTTP_PORT)."""

    def __init__(self):
        self._on = False
        self.ssid = ""
        self.password = ""

    def active(self, on=None):
        if on is not None:
            self._on = bool(on)
        return self._on

    def config(self, ssid, password=""):
        if not self._on:
            raise OSError("Wifi Not Started")
        if password and not 8 <= len(password) <= 63:
            raise ValueError("WPA2 password: 8 to 63 characters")
        self.ssid = ssid
        self.password = password

    def ip(self):
        return "192.168.4.1"


_ap = None


def access_point():
    """The Wi-Fi access point (one per process)."""
    global _ap
    if _ap is None:
        _ap = AccessPoint()
    return _ap


BUTTON_PRESS_MS = 500
_button_t0 = []


def boot_button():
    """Whether the boot button is held. With LINKY_BOOT_BUTTON=1 (tools/sim.py --set
    BOOT_BUTTON=1) someone presses it as the firmware starts: held for BUTTON_PRESS_MS from
    the first call, then released. Otherwise never."""
    if setting("BOOT_BUTTON", "0") in ("0", "false", "no"):
        return False
    import time

    mp = hasattr(time, "ticks_ms")
    now = time.ticks_ms() if mp else int(time.monotonic() * 1000)
    if not _button_t0:
        _button_t0.append(now)
    t0 = _button_t0[0]
    return (time.ticks_diff(now, t0) if mp else now - t0) < BUTTON_PRESS_MS


class _Conn:
    """A loopback TCP stream that dies with the fake radio: once the station is found
    disconnected, reads never return and writes go nowhere, as across a Wi-Fi outage longer
    than TCP's retries; the MQTT client's keepalive has to notice. The radio is asked before
    and after each read and before each write (a link request each, no allocation)."""

    def __init__(self, r, w):
        self._r = r
        self._w = w
        self._mp = hasattr(r, "readinto")
        self._dead = False

    def _alive(self):
        if not self._dead and (_sta is None or not _sta.isconnected()):
            self._dead = True
        return not self._dead

    async def readinto(self, buf):
        if self._alive():
            if self._mp:
                n = await self._r.readinto(buf)
            else:
                b = await self._r.read(len(buf))
                n = len(b)
                buf[:n] = b
            if self._alive():
                return n
        while True:  # nothing ever arrives on a dead connection
            await asyncio.sleep(60)

    def write(self, buf):
        if self._alive():
            self._w.write(buf if self._mp else bytes(buf))  # CPython keeps a reference: copy

    async def drain(self):
        if self._alive():
            await self._w.drain()

    def close(self):
        if self._mp:
            self._r.s.close()  # asyncio's Stream.close() leaves the socket open
        else:
            self._w.close()


async def open_connection(host, port, ssl=None, server_hostname=None):
    """A TCP (TLS when `ssl` is an SSLContext) stream to host:port for lib/mqtt.py: awaitable
    readinto(buf), write(buf), awaitable drain(), close(). OSError (EHOSTUNREACH) at once when
    the station is not connected; the stream dies with the radio (_Conn)."""
    if _sta is None or not _sta.isconnected():
        raise OSError(113, "no network")  # EHOSTUNREACH
    if hasattr(asyncio, "sleep_ms"):  # MicroPython
        s = (await asyncio.open_connection(host, port, ssl, server_hostname))[0]
        return _Conn(s, s)
    r, w = await asyncio.open_connection(
        host, port, ssl=ssl, server_hostname=server_hostname if ssl else None
    )
    return _Conn(r, w)


def __getattr__(name):
    # Transitional, for tests written before the line model moved to tools/sim_line.py (never
    # on the board); remove once they import it from there.
    if name in ("FileSource", "infer_baud", "infer_segments", "UNITS_PER_S", "UNITS_PER_MS"):
        from tools import sim_line

        return getattr(sim_line, name)
    raise AttributeError(name)
