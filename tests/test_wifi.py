# micropython: also
"""firmware/wifi.py, the station manager, on the host HAL's fake radio and on the ESP32 HAL
with the fake `network` driver (tests/fake_esp32/network.py); and hal.open_connection() on the
host: refused while the station is down, a connection that dies with the radio. Timings are
shortened (poll 5 ms, backoff 10..40 ms); every wait is for a condition, with a bound."""

import asyncio
import os
import sys

import esp32_loader

from firmware import wifi
from firmware.hal import host

esp32, machine = esp32_loader.load()
network = esp32._net.network
sys.modules.pop("network", None)  # the fake stays reachable as esp32._net.network only

FAST = {"poll_ms": 5, "timeout_ms": 300, "backoff_ms": (10, 40)}
BOUND_MS = 3000  # a condition not met by then is a failure


async def _until(cond, ms=BOUND_MS):
    for _ in range(ms // 5):
        if cond():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not met in %d ms" % ms)


def _run(main):
    return asyncio.run(main())


def _host_station():
    host._sta = None
    host.set_radio(True)
    return host.wlan()


def _esp32_station():
    network.clear()
    esp32._sta = None
    st = esp32.wlan()
    st.fresh_ms = 30
    return st


def _start(w):
    return asyncio.create_task(w.run())


# -- the manager on the host's fake radio


def test_no_ssid_means_no_wifi():
    w = wifi.Wifi(_host_station(), "", **FAST)

    async def main():
        await asyncio.wait_for(w.run(), 1)  # returns at once

    _run(main)
    assert w.state == "off" and not w.up.is_set() and w.connects == 0
    assert not host.wlan().active()


def test_joins_and_reports_rssi_and_ip():
    w = wifi.Wifi(_host_station(), "sim", "pw", "linky-test", **FAST)

    async def main():
        t = _start(w)
        await asyncio.wait_for(w.up.wait(), 2)
        t.cancel()

    _run(main)
    assert w.state == "up" and w.connects == 1 and w.failures == 0
    assert w.rssi == -55 and w.ip == "127.0.0.1"
    assert host.wlan().hostname == "linky-test"


def test_drop_and_return_with_backoff():
    st = _host_station()
    w = wifi.Wifi(st, "sim", **FAST)
    seen = []

    async def main():
        t = _start(w)
        await _until(w.up.is_set)
        host.set_radio(False)
        await _until(lambda: not w.up.is_set())
        seen.append((w.drops, w.rssi, w.ip))
        await _until(lambda: w.failures >= 3)
        seen.append((w.state, w.last_error, st.isconnected()))
        host.set_radio(True, rssi=-70)
        await _until(w.up.is_set)
        t.cancel()

    _run(main)
    assert seen[0] == (1, None, None)
    assert seen[1][0] in ("joining", "waiting") and seen[1][1] == "no_ap" and not seen[1][2]
    assert w.connects == 2 and w.reconnects == 1 and w.drops == 1
    assert w.rssi == -70 and w.state == "up"


def test_backoff_doubles_is_bounded_and_jittered():
    w = wifi.Wifi(None, "x", backoff_ms=(1000, 60000))
    for n in range(1, 40):
        full = min(60000, 1000 << (n - 1)) if n < 21 else 60000
        for _ in range(20):
            d = w.backoff(n)
            assert full // 2 <= d <= full, (n, d)
    assert len({w.backoff(10) for _ in range(50)}) > 5  # jitter


def test_host_station_needs_the_radio_on_and_an_ssid():
    st = _host_station()
    try:
        st.connect("sim")
    except OSError:
        pass
    else:
        raise AssertionError("connect() before active(True)")
    st.active(True)
    st.connect("")
    assert st.status() == "no_ap" and st.rssi() is None and st.ip() is None
    host.set_radio(False)
    st.connect("sim")
    assert st.status() == "no_ap"
    host.set_radio(True)
    assert st.status() == "no_ap"  # no rejoin by itself, as on the ESP32
    st.connect("sim")
    assert st.status() == "connected" and st.isconnected()
    host.set_radio(False)
    assert st.status() == "failed" and not st.isconnected()
    st.disconnect()
    assert st.status() == "idle"


# -- hal.open_connection on the host


def test_open_connection_refused_while_down_and_dies_with_the_radio():
    st = _host_station()
    got = []

    async def echo(r, w):
        buf = bytearray(16)
        while True:
            n = await _read(r, buf)
            if not n:
                break
            w.write(bytes(buf[:n]))
            await w.drain()
        w.close()

    async def _read(r, buf):
        if hasattr(r, "readinto"):
            return await r.readinto(buf)
        b = await r.read(len(buf))
        buf[: len(b)] = b
        return len(b)

    async def main():
        if _cpython():
            srv = await asyncio.start_server(echo, "127.0.0.1", 0)
            port = srv.sockets[0].getsockname()[1]
        else:  # MicroPython's server cannot tell its port: try a few, away from other runs
            base = 20000 + (os.getpid() % 9000 if hasattr(os, "getpid") else 7311)
            for port in range(base, base + 200, 7):
                try:
                    srv = await asyncio.start_server(echo, "127.0.0.1", port)
                    break
                except OSError:  # in use (another test, or TIME_WAIT)
                    pass
        try:
            await host.open_connection("127.0.0.1", port)
        except OSError as e:
            got.append(("refused", e.args[0]))
        st.active(True)
        st.connect("sim")
        c = await host.open_connection("127.0.0.1", port)
        buf = bytearray(8)
        c.write(b"ping")
        await c.drain()
        n = await asyncio.wait_for(c.readinto(buf), 10)  # at once, unless the machine is busy
        got.append(bytes(buf[:n]))
        host.set_radio(False)
        c.write(b"lost")
        await c.drain()
        try:
            await asyncio.wait_for(c.readinto(buf), 0.2)
        except asyncio.TimeoutError:
            got.append("silent")
        host.set_radio(True)
        st.connect("sim")
        try:
            await asyncio.wait_for(c.readinto(buf), 0.2)  # dead for good
        except asyncio.TimeoutError:
            got.append("still silent")
        c.close()
        c2 = await host.open_connection("127.0.0.1", port)
        c2.write(b"back")
        await c2.drain()
        n = await asyncio.wait_for(c2.readinto(buf), 10)
        got.append(bytes(buf[:n]))
        c2.close()
        srv.close()

    _run(main)
    assert got == [("refused", 113), b"ping", "silent", "still silent", b"back"], got


def _cpython():
    return sys.implementation.name == "cpython"


# -- the ESP32 HAL on the fake driver


def test_esp32_station_maps_the_driver_status():
    st = _esp32_station()
    network.aps["home"] = ("secret", -61)
    st.active(True)
    assert ("config", {"reconnects": 0}) in network.calls  # the driver does not retry
    assert st.status() == "idle" and st.rssi() is None and st.ip() is None
    st.connect("home", "wrong", "linky-1")
    assert network.calls[-1] == ("connect", "home", "wrong", "linky-1")
    assert st.status() == "connecting"
    _sleep_ms(50)  # past the driver's answer (20 ms) and fresh_ms (30 ms)
    assert st.status() == "wrong_password"
    st.connect("home", "secret")
    assert st.status() == "connecting"  # the driver still says 202: stale, within fresh_ms
    _sleep_until(st.isconnected)
    assert st.status() == "connected" and st.rssi() == -61 and st.ip() == "192.168.1.42"
    network.drop()
    assert st.status() == "failed" and st.rssi() is None  # beacon timeout, no retry
    st.connect("elsewhere")
    _sleep_ms(60)
    assert st.status() == "no_ap"
    st.disconnect()
    assert st.status() == "idle"


def test_esp32_manager_retries_then_joins_then_rejoins():
    st = _esp32_station()
    w = wifi.Wifi(st, "home", "secret", "linky-1", **FAST)
    seen = []

    async def main():
        t = _start(w)
        await _until(lambda: w.failures >= 2)
        seen.append(w.last_error)
        network.aps["home"] = ("secret", -48)  # the access point comes up
        await _until(w.up.is_set)
        seen.append((w.rssi, w.ip))
        network.drop()
        await _until(lambda: w.drops == 1)
        await _until(w.up.is_set)
        t.cancel()

    _run(main)
    assert seen == ["no_ap", (-48, "192.168.1.42")]
    assert w.reconnects == 1 and w.connects == 2
    connects = [c for c in network.calls if c[0] == "connect"]
    assert all(c == ("connect", "home", "secret", "linky-1") for c in connects)
    assert len(connects) == w.failures + 2


def test_esp32_open_connection_refused_when_not_joined():
    _esp32_station()
    err = []

    async def main():
        try:
            await esp32.open_connection("192.168.1.2", 1883)
        except OSError as e:
            err.append(e.args[0])

    _run(main)
    assert err == [113]


def test_station_polls_allocate_nothing():
    # What the manager calls once per poll while joined; MicroPython only (heap_lock).
    try:
        import micropython
    except ImportError:
        return
    h = _host_station()
    h.active(True)
    h.connect("sim")
    e = _esp32_station()
    network.aps["home"] = ("k", -50)
    e.active(True)
    e.connect("home", "k")
    _sleep_until(e.isconnected)
    out = []
    for st in (h, e):
        st.status()
        st.rssi()
        micropython.heap_lock()
        try:
            a = st.status()
            b = st.rssi()
            c = st.isconnected()
        finally:
            micropython.heap_unlock()
        out.append((a, b, c))
    assert out == [("connected", -55, True), ("connected", -50, True)], out


# -- scan, access point, boot button (firmware/hal/esp32_net.py, esp32_ap.py, host.py)


def test_esp32_scan_maps_the_driver_tuples():
    st = _esp32_station()
    try:
        st.scan()
    except OSError:
        pass
    else:
        raise AssertionError("scan() with the radio off")
    network.aps["home"] = ("secret", -61)
    network.aps["cafe"] = ("", -80)
    network.raw_scan.append((b"", b"\x02\x00\x00\x00\x00\x09", 1, -40, 3, False))  # hidden
    network.raw_scan.append((b"\xff\xfe", b"\x02\x00\x00\x00\x00\x0a", 1, -70, 3, False))
    st.active(True)
    assert st.scan() == [("cafe", -80, False), ("home", -61, True)]
    assert ("scan",) in network.calls


def test_host_scan_hears_the_simulator_and_the_neighbours():
    st = _host_station()
    try:
        st.scan()
    except OSError:
        pass
    else:
        raise AssertionError("scan() with the radio off")
    st.active(True)
    nets = st.scan()
    assert nets[0] == ("sim", -55, True) and nets[1:] == host.neighbours
    host.set_radio(False)
    assert st.scan() == host.neighbours
    host.set_radio(True)


def test_esp32_access_point_configures_security_explicitly():
    network.clear()
    esp32._ap = None
    ap = esp32.access_point()
    assert esp32.access_point() is ap and not ap.active()
    try:
        ap.config("linky-1601", "k3y-k3y-k3y")
    except OSError:
        pass
    else:
        raise AssertionError("config() before active(True)")
    assert ap.active(True) and network.WLAN(network.AP_IF).active()
    ap.config("linky-1601", "k3y-k3y-k3y")
    assert network.ap_conf == {
        "ssid": "linky-1601",
        "key": "k3y-k3y-k3y",
        "security": network.AUTH_WPA2_PSK,
        "max_clients": ap.MAX_CLIENTS,
    }
    ap.config("linky-1601", "")
    assert network.ap_conf["security"] == network.AUTH_OPEN and network.ap_conf["key"] == ""
    for bad in ("short", "x" * 64):
        try:
            ap.config("linky-1601", bad)
        except ValueError:
            pass
        else:
            raise AssertionError("WPA2 key of %d characters" % len(bad))
    assert ap.ip() == "192.168.4.1"
    assert not ap.active(False) and not network.WLAN(network.AP_IF).active()
    network.clear()
    esp32._ap = None


def test_host_access_point_records_its_state():
    host._ap = None
    ap = host.access_point()
    assert host.access_point() is ap and not ap.active()
    try:
        ap.config("linky-0001", "password1")
    except OSError:
        pass
    else:
        raise AssertionError("config() before active(True)")
    ap.active(True)
    ap.config("linky-0001", "password1")
    assert (ap.ssid, ap.password, ap.ip()) == ("linky-0001", "password1", "192.168.4.1")
    try:
        ap.config("linky-0001", "short")
    except ValueError:
        pass
    else:
        raise AssertionError("WPA2 key of 5 characters")
    ap.active(False)
    host._ap = None


def test_boot_button_reads_gpio0_low_with_pull_up():
    levels = [1]
    made = []

    def value(self):
        return levels[0]

    machine.Pin.value = value
    real_init = machine.Pin.__init__

    def init(self, pin_id, mode=None, pull=-1, value=None):
        made.append((pin_id, mode, pull))
        real_init(self, pin_id, mode, pull, value)

    machine.Pin.__init__ = init
    try:
        assert esp32.boot_button() is False
        levels[0] = 0
        assert esp32.boot_button() is True
    finally:
        machine.Pin.__init__ = real_init
        del machine.Pin.value
    assert made == [(0, machine.Pin.IN, machine.Pin.PULL_UP)] * 2


def test_host_boot_button_is_a_short_press_at_start_when_set():
    real = host.setting
    host.setting = lambda name, default=None: "1" if name == "BOOT_BUTTON" else default
    del host._button_t0[:]
    try:
        assert host.boot_button() is True
        _sleep_ms(host.BUTTON_PRESS_MS + 50)
        assert host.boot_button() is False
    finally:
        host.setting = real
        del host._button_t0[:]
    assert host.boot_button() is (os.getenv("LINKY_BOOT_BUTTON") not in (None, "", "0"))


def _sleep_ms(ms):
    import time

    time.sleep(ms / 1000)


def _sleep_until(cond, ms=BOUND_MS):
    for _ in range(ms // 5):
        if cond():
            return
        _sleep_ms(5)
    raise AssertionError("condition not met in %d ms" % ms)


if __name__ == "__main__":
    import mpunit

    mpunit.main(globals())
