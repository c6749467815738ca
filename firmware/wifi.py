"""Wi-Fi station manager: joins the configured network and keeps it joined, never blocking.

Contract:
  Wifi(station, ssid, password="", hostname="", poll_ms=1000, timeout_ms=20000,
       backoff_ms=(1000, 60000))   station: hal.wlan() (firmware/hal/__init__.py)
  await Wifi.run()   the task. With ssid "" it logs once and returns (no Wi-Fi configured).
                     Else: radio on, connect(), poll status() every poll_ms until
                     "connected", a failure ("no_ap", "wrong_password", "failed") or
                     timeout_ms; after failed attempt n wait min(hi, lo * 2^(n-1)) ms, then a
                     random 50..100 % of it (backoff_ms = (lo, hi)), and try again, forever.
                     Joined: poll every poll_ms (status and RSSI); a lost link clears `up`
                     and the next attempt starts at once. Never raises (driver errors count
                     as failed attempts); cancel the task to stop.
  up                 asyncio.Event, set while joined: what MQTT waits on.
  state              "off" (no SSID), "joining", "up", "waiting" (backoff before a retry)
  rssi, ip           dBm (int) and address (str) while joined, else None
  connects, drops, reconnects, failures   joins, links lost, joins after a loss, failed
                     attempts (counters since boot); last_error: why the last attempt failed
  down_ms() -> int   ms since the station was last joined (since boot if never); 0 while
                     joined. What opens the access point after ap_after_s (firmware/portal.py)
Cost: one status() (+ rssi()) per poll, nothing allocated per poll while joined; log lines
only on changes and failures. Design: docs/design/wifi.md.
"""

import asyncio
import random
import time

from log import getLogger

log = getLogger("wifi")

try:  # MicroPython
    _sleep_ms = asyncio.sleep_ms
    _ticks = time.ticks_ms
    _diff = time.ticks_diff
except AttributeError:  # CPython

    def _sleep_ms(ms):
        return asyncio.sleep(ms / 1000)

    def _ticks():
        return int(time.monotonic() * 1000)

    def _diff(a, b):
        return a - b


_FAILED = ("no_ap", "wrong_password", "failed")


class Wifi:
    def __init__(  # noqa: PLR0917
        self,
        station,
        ssid,
        password="",
        hostname="",
        poll_ms=1000,
        timeout_ms=20000,
        backoff_ms=(1000, 60000),
    ):
        self.station = station
        self.ssid = ssid
        self.password = password
        self.hostname = hostname
        self.poll_ms = poll_ms
        self.timeout_ms = timeout_ms
        self.backoff_ms = backoff_ms
        self.up = asyncio.Event()
        self.state = "off" if not ssid else "joining"
        self.rssi = None
        self.ip = None
        self.connects = 0
        self.drops = 0
        self.reconnects = 0
        self.failures = 0
        self.last_error = None
        self._down_since = _ticks()  # boot, then each loss of the link

    def down_ms(self):
        if self.state == "up":
            return 0
        d = _diff(_ticks(), self._down_since)
        # ticks_diff is exact up to half the ticks period (~6 days on MicroPython): beyond,
        # say "very long" rather than a negative time.
        return d if d >= 0 else 0x3FFFFFFF

    def backoff(self, fails):
        """Wait (ms) after failed attempt number `fails` (>= 1): doubles from backoff_ms[0]
        up to backoff_ms[1], then a random 50..100 % of it."""
        lo, hi = self.backoff_ms
        d = min(hi, lo << min(fails - 1, 20))
        return d - d * random.getrandbits(8) // 512

    async def run(self):
        if not self.ssid:
            self.state = "off"
            log.info("no Wi-Fi network configured (wifi_ssid is empty)")
            return
        st = self.station
        fails = 0
        lost = False
        while True:
            self.state = "joining"
            why = await self._join()
            if why is not None:
                fails += 1
                self.failures += 1
                self.last_error = why
                d = self.backoff(fails)
                log.warning("%r: %s; next try in %d ms", self.ssid, why, d)
                self.state = "waiting"
                await _sleep_ms(d)
                continue
            fails = 0
            self.connects += 1
            if lost:
                self.reconnects += 1
            self.ip = st.ip()
            self.rssi = st.rssi()
            self.state = "up"
            self.up.set()
            log.info("connected to %r, ip %s, rssi %s dBm", self.ssid, self.ip, self.rssi)
            while True:
                await _sleep_ms(self.poll_ms)
                s = st.status()
                if s != "connected":
                    break
                self.rssi = st.rssi()
            self.up.clear()
            self._down_since = _ticks()
            self.rssi = self.ip = None
            self.drops += 1
            lost = True
            log.warning("link to %r lost (%s): joining again", self.ssid, s)

    async def _join(self):
        # One attempt: None when joined, else why it failed.
        st = self.station
        try:
            if not st.active():
                st.active(True)
            st.connect(self.ssid, self.password, self.hostname)
        except OSError as e:
            return "driver error %r" % (e,)
        t0 = _ticks()
        while True:
            s = st.status()
            if s == "connected":
                return None
            if s in _FAILED:
                break
            if _diff(_ticks(), t0) >= self.timeout_ms:
                s = "no answer in %d ms" % self.timeout_ms
                break
            await _sleep_ms(self.poll_ms)
        try:
            st.disconnect()  # cancel what the driver may still be trying
        except OSError:
            pass
        return s
