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
