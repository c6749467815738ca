# micropython: also
"""firmware/portal.py on the host HAL's fake radio, with the real Wi-Fi manager
(firmware/wifi.py): the four ways the access point opens (first boot, station down for
ap_after_s, boot button, MQTT command), when it closes, the AP password (per device, stable
across boots, "" with ap_open), the captive DNS started with the AP and unloaded after it, and
the scan cache. Timings are shortened; every wait is for a condition, with a bound."""

import asyncio
import os
import random
import socket
import sys

from firmware import hal, portal, portal_ap, wifi
from firmware.hal import host

FAST = {"poll_ms": 5, "timeout_ms": 300, "backoff_ms": (10, 40)}
BOUND_MS = 3000
_real_setting = hal.setting
_real_button = hal.boot_button

portal.POLL_MS = 5
portal.BUTTON_POLL_MS = 5


async def _until(cond, ms=BOUND_MS):
    for _ in range(ms // 5):
        if cond():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not met in %d ms" % ms)


def _tmp():
    return "/tmp/linky-portal-test-%08x.json" % random.getrandbits(32)


def _rm(path):
    try:
        os.remove(path)
    except OSError:
        pass


class App:
    """What the portal reads of the application: settings, wifi, commands, add_task."""

    def __init__(self, ssid="sim", **settings):
        self.settings = {"wifi_ssid": ssid, "ap_after_s": 300, "ap_open": False}
        self.settings.update(settings)
        host._sta = None
        host._ap = None
        host.set_radio(True)
        self.wifi = wifi.Wifi(host.wlan(), ssid, **FAST)
        self.commands = {}
        self.tasks = []
        self.pw = _tmp()

    def add_task(self, name, coro):
        self.tasks.append((name, coro))

    def make_portal(self):
        p = portal.Portal(self, self.pw)
        self.portal = p
        return p


def _run(app, main, dns_port=None, button=False):
    """Run main(portal) beside the Wi-Fi task and the portal's, with the HAL's DNS_PORT and
    boot button patched; everything restored after."""

    def setting(name, default=None):
        if name == "DNS_PORT":
            return None if dns_port is None else str(dns_port)
        return _real_setting(name, default)

    hal.setting = setting
    hal.boot_button = button if callable(button) else (lambda: button)
    p = app.make_portal()

    async def top():
        w = asyncio.create_task(app.wifi.run())
        t = asyncio.create_task(p.run())
        try:
            await main(p)
        finally:
            t.cancel()
            w.cancel()
            p.close()
            await asyncio.sleep(0.01)

    try:
        asyncio.run(top())
    finally:
        hal.setting = _real_setting
        hal.boot_button = _real_button
        host.set_radio(True)
        _rm(app.pw)
    return p


def _free_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(socket.getaddrinfo("127.0.0.1", 0)[0][-1])
    port = s.getsockname()[1] if hasattr(s, "getsockname") else None
    s.close()
    return port or 20000 + random.getrandbits(12)


_QUERY = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01"


async def _dns_ask(port):
    """The A address the captive DNS on 127.0.0.1:port answers, without blocking the loop."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    addr = socket.getaddrinfo("127.0.0.1", port)[0][-1]
    try:
        for _ in range(100):
            try:
                s.sendto(_QUERY, addr)
            except OSError:
                pass
            for _ in range(4):
                await asyncio.sleep(0.005)
                try:
                    data = s.recvfrom(512)[0]
                except OSError:
                    continue
                return ".".join(str(b) for b in data[-4:])
    finally:
        s.close()
    raise AssertionError("no DNS answer on port %d" % port)


# -- the four triggers


def test_first_boot_opens_the_ap_and_keeps_it():
    app = App(ssid="")
    seen = []

    async def main(p):
        await _until(lambda: p.active)
        await asyncio.sleep(0.05)  # nothing closes it: nothing to connect to
        ap = host.access_point()
        seen.append((p.active, p.reason, ap.active(), ap.ssid, ap.password, p.ip))

    p = _run(app, main)
    assert p.first_boot and p.ssid == "linky-0001"  # host unique id 686f73740001
    assert seen == [(True, "first boot", True, "linky-0001", p.password, "192.168.4.1")]
    assert len(p.password) == 12 and not host.access_point().active()


def test_build_registers_the_task_and_the_command():
    app = App()
    saved = portal.PASSWORD_FILE
    portal.PASSWORD_FILE = app.pw
    try:
        portal_ap.build(app)
        assert app.portal.ssid == "linky-0001" and not app.portal.active
        assert [n for n, _ in app.tasks] == ["portal"] and b"portal" in app.commands
    finally:
        for _, c in app.tasks:
            c.close()
        portal.PASSWORD_FILE = saved
        _rm(app.pw)


def test_station_down_for_ap_after_opens_then_reconnect_closes_and_unloads_dns():
    app = App()
    port = _free_udp_port()
    seen = []

    async def main(p):
        p.after_ms = 150
        await _until(app.wifi.up.is_set)
        await asyncio.sleep(0.2)
        seen.append(p.active)  # joined: never opens
        host.set_radio(False)
        await _until(lambda: p.active)
        seen.append((p.reason, app.wifi.down_ms() >= 150, "captive_dns" in sys.modules))
        seen.append(await _dns_ask(port))
        host.set_radio(True)
        await _until(lambda: not p.active)
        seen.append((app.wifi.state, host.access_point().active()))
        await asyncio.sleep(0.02)
        seen.append(("captive_dns" in sys.modules, "firmware.portal_ap" in sys.modules))

    p = _run(app, main, dns_port=port)
    assert seen == [False, ("no wifi", True, True), "192.168.4.1", ("up", False), (False, False)]
    assert p.opens == 1


def test_ap_after_zero_never_opens():
    app = App(ap_after_s=0)

    async def main(p):
        await _until(app.wifi.up.is_set)
        host.set_radio(False)
        await _until(lambda: app.wifi.down_ms() > 200)
        await asyncio.sleep(0.05)

    p = _run(app, main)
    assert p.after_ms == 0 and p.opens == 0


def test_boot_button_opens_and_a_manual_opening_closes_later():
    app = App()
    saved = portal.MANUAL_MS
    portal.MANUAL_MS = 300
    seen = []

    async def main(p):
        await _until(lambda: p.active)
        await _until(app.wifi.up.is_set)
        seen.append(p.reason)
        await asyncio.sleep(0.05)
        seen.append(p.active)  # the station is up, but the user asked for the AP
        await _until(lambda: not p.active)

    reads = []

    def button():  # pressed at start, released a few readings later
        reads.append(1)
        return len(reads) < 4

    try:
        p = _run(app, main, button=button)
    finally:
        portal.MANUAL_MS = saved
    assert seen == ["button", True] and p.opens == 1


def test_boot_button_pressed_after_the_first_reading_counts():
    app = App()
    reads = []

    def button():
        reads.append(1)
        return len(reads) > 2

    async def main(p):
        await _until(lambda: p.active)

    p = _run(app, main, button=button)
    assert p.opens == 1 and len(reads) >= 3


def test_a_boot_button_stuck_low_is_no_press():
    # A pin that reads "pressed" all along (no button, a USB adapter's reset circuit).
    app = App()

    async def main(p):
        await asyncio.sleep(0.2)

    assert _run(app, main, button=True).opens == 0


def test_boot_button_counts_only_at_start():
    app = App()
    saved = portal.BUTTON_WINDOW_MS
    portal.BUTTON_WINDOW_MS = 50
    presses = []

    def button():
        presses.append(1)
        return len(presses) > 1000  # pressed long after the start (never read then)

    async def main(p):
        await asyncio.sleep(0.2)

    try:
        p = _run(app, main, button=button)
    finally:
        portal.BUTTON_WINDOW_MS = saved
    assert presses and len(presses) < 1000 and p.opens == 0


def test_mqtt_command_opens():
    app = App()
    seen = []

    async def main(p):
        await _until(app.wifi.up.is_set)
        app.commands[b"portal"] = portal_ap.command
        app.commands[b"portal"](app)
        seen.append((p.active, p.reason))
        app.commands[b"portal"](app)  # again: nothing more
        seen.append(p.opens)

    _run(app, main)
    assert seen == [(True, "command"), 1]


def test_open_refused_by_the_driver_is_logged_not_raised():
    app = App()
    p = app.make_portal()
    p.password = "short"  # WPA2 needs 8 characters: the driver refuses
    try:
        assert p.open("command") is False and not p.active
        assert not host.access_point().active()
    finally:
        _rm(app.pw)


# -- the password


def test_password_is_made_once_per_device_and_kept():
    app = App()
    try:
        a = app.make_portal().password
        b = app.make_portal().password
        assert a == b and len(a) == portal_ap.PW_LEN
        assert all(c in portal_ap.ALPHABET for c in a)
        with open(app.pw) as f:
            assert a in f.read()
        app.settings["ap_open"] = True
        assert app.make_portal().password == ""
        app.settings["ap_open"] = False
        assert app.make_portal().password == a  # ap_open did not forget it
        with open(app.pw, "w") as f:
            f.write('{"ap_password": "short"}')
        c = app.make_portal().password
        assert c != a and len(c) == portal_ap.PW_LEN
    finally:
        _rm(app.pw)
    other = App()
    try:
        assert other.make_portal().password != a  # another device (file), another key
    finally:
        _rm(other.pw)


def test_open_ap_has_no_password():
    app = App(ssid="", ap_open=True)

    async def main(p):
        await _until(lambda: p.active)

    p = _run(app, main)
    assert p.password == "" and host.access_point().password == ""


# -- the scan


def test_scan_dedups_sorts_and_is_cached():
    app = App(ssid="")
    calls = []
    real = host.Station.scan
    saved = host.neighbours[:]
    host.neighbours[:] = [("b", -80, True), ("a", -60, False), ("b", -50, True), ("", -40, True)]

    def counting(self):
        calls.append(1)
        return real(self)

    host.Station.scan = counting
    seen = []

    async def main(p):
        seen.append(app.wifi.station.active())
        portal.SCAN_CACHE_MS = 300
        one = await p.scan()
        two = await p.scan()
        seen.append((one, two is one, len(calls), app.wifi.station.active()))
        await asyncio.sleep(0.35)
        await p.scan()
        seen.append(len(calls))

    try:
        _run(app, main)
    finally:
        host.Station.scan = real
        host.neighbours[:] = saved
        portal.SCAN_CACHE_MS = 30000
    nets = [("b", -50, True), ("sim", -55, True), ("a", -60, False)]  # hidden one left out
    assert seen[0] is False  # first boot: the station was off; scan() turned it on
    assert seen[1] == (nets, True, 1, True)
    assert seen[2] == 2


if __name__ == "__main__":
    import mpunit

    mpunit.main(globals())
