"""tools/sim.py and MQTT: the private Mosquitto it starts by default (on a free loopback port,
printed with the mosquitto_sub command to watch it, stopped however the simulator ends),
--mqtt HOST:PORT (no broker started), and the settings it writes into the simulated flash's
config.json, which the firmware boots with. The firmware does not publish yet: the broker is
checked with an MQTT CONNECT of our own.

Slow tests run the firmware in real time and end by a test hook or a Ctrl-C once the awaited
line is there; the quick ones run sim.run() in-process with the supervision replaced."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
import sim
from test_sim import HANG, STD_MONO, Sim, mqtt_connack

import upy

ROOT = upy.ROOT
WATCH = r"watch it: mosquitto_sub -h 127.0.0.1 -p (\d+) -t 'linky/#' -t 'homeassistant/#' -v"


@pytest.fixture(scope="module")
def built():
    subprocess.run([sys.executable, "tools/build.py"], cwd=ROOT, check=True, capture_output=True)


def _closed(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


def _config(state):
    return json.loads((state / "config.json").read_text())


# -- quick: sim.run() with the supervision replaced ---------------------------------------------


def _fake_image(tmp_path, monkeypatch):
    image = tmp_path / "image"
    image.mkdir()
    (image / "main.py").write_text("")
    monkeypatch.setattr(sim.upy, "BUILD", image)


def test_broker_is_stopped_when_the_simulator_fails(tmp_path, monkeypatch, capsys):
    _fake_image(tmp_path, monkeypatch)
    state = tmp_path / "flash"
    seen = {}

    def boom(args, server, micropython, main_py, st):
        seen["port"] = _config(state)["mqtt_port"]
        with socket.create_connection(("127.0.0.1", seen["port"]), timeout=5) as c:
            seen["connack"] = mqtt_connack(c)
        raise RuntimeError("supervision failed")

    monkeypatch.setattr(sim, "supervise", boom)
    args = sim.parse_args(["--no-build", "--tic", STD_MONO, "--state", str(state)])
    with pytest.raises(RuntimeError):
        sim.run(args)
    assert seen["connack"] == b"\x20\x02\x00\x00"
    assert _closed(seen["port"])
    assert "private mosquitto on 127.0.0.1:%d" % seen["port"] in capsys.readouterr().out


def test_no_mqtt_and_given_broker_start_none(tmp_path, monkeypatch, capsys):
    _fake_image(tmp_path, monkeypatch)
    monkeypatch.setattr(sim, "supervise", lambda *a: 0)
    state = tmp_path / "flash"
    (state).mkdir()
    (state / "config.json").write_text('{"mqtt_host": "192.0.2.1", "heartbeat_s": 7}')
    base = ["--no-build", "--tic", STD_MONO, "--state", str(state)]
    assert sim.run(sim.parse_args([*base, "--no-mqtt"])) == 0
    assert _config(state) == {"mqtt_host": "", "heartbeat_s": 7, "wifi_ssid": "sim"}
    out = capsys.readouterr().out
    assert "MQTT: off (--no-mqtt)" in out and "mosquitto_sub" not in out
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        assert sim.run(sim.parse_args([*base, "--mqtt", "127.0.0.1:%d" % port])) == 0
    assert _config(state) == {
        "mqtt_host": "127.0.0.1",
        "mqtt_port": port,
        "heartbeat_s": 7,
        "wifi_ssid": "sim",
    }
    out = capsys.readouterr().out
    assert "MQTT broker: 127.0.0.1:%d\n" % port in out and "private" not in out
    assert "watch it: mosquitto_sub -h 127.0.0.1 -p %d" % port in out
    assert not (state / "mosquitto").exists()


def test_missing_mosquitto_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setattr(sim, "MOSQUITTO", str(tmp_path / "no-mosquitto"))
    with pytest.raises(sim.UsageError, match="apt-get install -y mosquitto"):
        sim.Broker(str(tmp_path)).start()


# -- slow: the firmware in real time ------------------------------------------------------------


@pytest.mark.slow
def test_default_run_starts_a_broker_the_firmware_is_configured_for(built, tmp_path):
    state = tmp_path / "flash"
    state.mkdir()
    (state / "config.json").write_text('{"board": "wemos-tic-esp32", "signal_lost_s": 1}')
    s = Sim("--state", str(state), mqtt=True)  # the default source: ticsim's Tempo meter
    port = int(s.wait_for(WATCH).group(1))
    s.wait_for(r"TIC sim:standard,3,tempo")
    boot = s.wait_for(r"INFO app: linky (?:\S+ )?on host, boot 1 \(power\), .*").group(0)
    assert "board wemos-tic-esp32" in boot  # config.json's, kept
    with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
        assert mqtt_connack(c) == b"\x20\x02\x00\x00"
    cfg = _config(state)
    assert cfg["mqtt_host"] == "127.0.0.1" and cfg["mqtt_port"] == port
    assert cfg["wifi_ssid"] == "sim" and cfg["mqtt_tls"] is False
    conf = (state / "mosquitto" / "mosquitto.conf").read_text()
    assert "listener %d 127.0.0.1\n" % port in conf
    s.wait_for(r"INFO app: frame 1: standard")
    rc, out = s.ctrl_c()
    assert rc == 0, out
    # The firmware read config.json: its own check of signal_lost_s names the file.
    assert re.search(r"WARNING config: setting signal_lost_s=1 in config.json", out), out
    assert "[sim] stopped" in out and "Traceback" not in out
    assert _closed(port)


@pytest.mark.slow
def test_mqtt_option_uses_the_given_broker(built, tmp_path):
    state = tmp_path / "flash"
    with socket.socket() as listener:  # a broker that only accepts: enough for "start none"
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        port = listener.getsockname()[1]
        rc = subprocess.run(
            [sys.executable, "tools/sim.py", "--no-build", "--tic", STD_MONO, "--baud", "9600",
             "--state", str(state), "--mqtt", "127.0.0.1:%d" % port,
             "--set", "EXIT_AFTER_FRAMES=1", "--set", "mqtt_prefix=home"],
            cwd=ROOT, capture_output=True, text=True, timeout=HANG, check=False,
        )  # fmt: skip
    out = rc.stdout + rc.stderr
    assert rc.returncode == 0, out
    assert "[sim] MQTT broker: 127.0.0.1:%d\n" % port in out and "private" not in out
    assert "watch it: mosquitto_sub -h 127.0.0.1 -p %d -t 'home/#'" % port in out
    assert "stopping after 1 frames (test hook)" in out  # a hook still reaches the firmware
    assert not (state / "mosquitto").exists()
    cfg = _config(state)
    assert (cfg["mqtt_host"], cfg["mqtt_port"], cfg["mqtt_prefix"]) == ("127.0.0.1", port, "home")
    assert "EXIT_AFTER_FRAMES" not in json.dumps(cfg)


@pytest.mark.slow
def test_sigterm_stops_the_firmware_and_the_broker(built, tmp_path):
    s = Sim("--tic", STD_MONO, "--baud", "9600", "--state", str(tmp_path), mqtt=True)
    port = int(s.wait_for(WATCH).group(1))
    s.wait_for(r"INFO app: frame 1:")
    children = _children(s.proc.pid)  # the broker and the firmware
    assert len(children) == 2, children
    s.proc.send_signal(signal.SIGTERM)  # the simulator only, not its process group
    rc, out = s.finish()
    assert rc == 128 + signal.SIGTERM, out
    assert _closed(port)
    for pid in children:  # stopped and reaped: no such process any more
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def _children(pid):
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        return [int(x) for x in f.read().split()]


class Subscriber:
    """A bare MQTT 3.1.1 subscriber (QoS 0) in a thread: `messages` is a list of
    (monotonic time, topic, payload)."""

    def __init__(self, port, topic):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        assert mqtt_connack(self.sock) == b"\x20\x02\x00\x00"
        t = topic.encode()
        body = b"\x00\x01" + len(t).to_bytes(2, "big") + t + b"\x00"
        self.sock.sendall(bytes((0x82, len(body))) + body)
        self.sock.settimeout(None)
        self.messages = []
        self._cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _exact(self, n):
        b = b""
        while len(b) < n:
            chunk = self.sock.recv(n - len(b))
            if not chunk:
                raise OSError("closed")
            b += chunk
        return b

    def _read(self):
        try:
            while True:
                head = self._exact(1)[0]
                n, shift = 0, 0
                while True:
                    d = self._exact(1)[0]
                    n |= (d & 0x7F) << shift
                    shift += 7
                    if not d & 0x80:
                        break
                body = self._exact(n)
                if head >> 4 == 3:  # PUBLISH, QoS 0
                    tl = int.from_bytes(body[:2], "big")
                    with self._cond:
                        self.messages.append(
                            (time.monotonic(), body[2 : 2 + tl].decode(), body[2 + tl :])
                        )
                        self._cond.notify_all()
        except OSError:
            return

    def close(self):
        self.sock.close()


def _nth(s, pattern, n):
    """Wait until the simulator's output has `n` lines matching `pattern`."""
    rx = re.compile(pattern)
    i = seen = 0
    with s._cond:
        while True:
            while i < len(s.lines):
                seen += bool(rx.search(s.lines[i]))
                i += 1
                if seen >= n:
                    return
            if s._eof:
                raise AssertionError("%d x %r not in:\n%s" % (n, pattern, s.output()))
            s._cond.wait()


@pytest.mark.slow
def test_wifi_drop_and_return_the_firmware_publishes_again(built, tmp_path):
    # SIGUSR1 takes the fake access point away once MQTT is connected, SIGUSR2 brings it back
    # once the station manager has noticed. The connection opened before the drop is dead for
    # good (docs/design/sim-link.md): the MQTT keepalive (10 s) notices, the client reconnects
    # through the rejoined station and publishes "online" again.
    s = Sim("--state", str(tmp_path), "--set", "mqtt_keepalive_s=10", mqtt=True)
    port = int(s.wait_for(WATCH).group(1))
    sub = Subscriber(port, "linky/+/availability")
    try:
        s.wait_for(r"INFO mqtt: connected to 127\.0\.0\.1:%d" % port)
        s.proc.send_signal(signal.SIGUSR1)
        s.wait_for(r"\[sim\] wifi down \(SIGUSR1\)")
        s.wait_for(r"WARNING wifi: link to 'sim' lost")
        s.proc.send_signal(signal.SIGUSR2)
        s.wait_for(r"\[sim\] wifi up \(SIGUSR2\)")
        back = time.monotonic()
        _nth(s, r"INFO wifi: connected to 'sim'", 2)
        _nth(s, r"INFO mqtt: connected to 127\.0\.0\.1:%d" % port, 2)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with sub._cond:
                if any(t > back and p == b"online" for t, _, p in sub.messages):
                    break
                sub._cond.wait(1)
        rc, out = s.ctrl_c()
    finally:
        sub.close()
    assert rc == 0, out
    assert re.search(r"WARNING mqtt: MQTT connection lost", out), out
    online = [(t, topic) for t, topic, p in sub.messages if p == b"online"]
    assert any(t > back for t, _ in online), sub.messages
    assert all(re.fullmatch(r"linky/\d{12}/availability", topic) for _, topic in online)
    assert "Traceback" not in out
