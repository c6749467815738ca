"""tools/sim.py: the firmware image under the unix port, fed by TIC sources at line speed.

Slow tests run the simulator as `make sim` does (after one build) and read the firmware's log;
runs end by a test hook (--exit-after-frames) or by a Ctrl-C sent once the awaited log line is
there, never by guessing how long something takes (HANG only stops a hung run). Quick tests
check the simulator's own behaviour: option errors, and the supervision (reset, watchdog)
with a stub firmware on the real host HAL."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading

import pytest
import sim
import sim_link
import ticsim

import upy

ROOT = upy.ROOT
CAPS = "tests/fixtures/captures/"
STD_ERRORS = CAPS + "std-tri-tempo-stream-errors-teleinfo-nom.raw"  # 7 frames, 9600 Bd
STD_MONO = CAPS + "std-mono-hchp-goteleinfo.raw"  # 1 frame, starts with it
HIST = CAPS + "hist-mono-tempo-teleinfo-nom.raw"  # 1200 Bd
HANG = 120  # seconds
MEM = r"mem (?:used|free) (\d+)"


@pytest.fixture(scope="module")
def built():
    subprocess.run([sys.executable, "tools/build.py"], cwd=ROOT, check=True, capture_output=True)


def run_sim(*args):
    result = subprocess.run(
        [sys.executable, "tools/sim.py", "--no-build", "--no-mqtt", *args],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=HANG,
    )
    return result.returncode, result.stdout + result.stderr


class Sim:
    """tools/sim.py running in its own session; its output collected line by line."""

    def __init__(self, *args, mqtt=False):
        extra = () if mqtt else ("--no-mqtt",)
        self.proc = subprocess.Popen(
            [sys.executable, "tools/sim.py", "--no-build", *extra, *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines = []
        self._cond = threading.Condition()
        self._eof = False
        self._timer = threading.Timer(HANG, self._kill)
        self._timer.start()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def _kill(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)

    def wait_for(self, pattern):
        """The first match of regex `pattern` in the output, waiting for it; AssertionError
        if the simulator ends (or hangs) without it."""
        rx = re.compile(pattern)
        i = 0
        with self._cond:
            while True:
                while i < len(self.lines):
                    m = rx.search(self.lines[i])
                    i += 1
                    if m:
                        return m
                if self._eof:
                    raise AssertionError("no %r in:\n%s" % (pattern, self.output()))
                self._cond.wait()

    def ctrl_c(self):
        """As in a terminal: SIGINT to the simulator and the firmware; (status, output)."""
        os.killpg(self.proc.pid, signal.SIGINT)
        return self.finish()

    def finish(self):
        rc = self.proc.wait()
        with self._cond:
            while not self._eof:
                self._cond.wait()
        self._timer.cancel()
        return rc, self.output()

    def output(self):
        return "".join(self.lines)


def frame_lines(out):
    return re.findall(r"INFO app: frame \d+: (\w+), (\d+) groups", out)


# -- quick: options and supervision -------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "word"),
    [
        (("--tic", "/dev/null"), "/dev/null is not a serial port"),
        (("--tic", "tests/fixtures/nothing.raw"), "no such TIC capture"),
        (("--tic", "sim:standard,3"), "sim:MODE,PHASES,CONTRACT"),
        (("--tic", STD_MONO, "--state", "README.md"), "--state README.md"),
        (("--tic", STD_MONO, "--state", "README.md/sub"), "--state README.md/sub"),
    ],
)
def test_bad_source_or_state_is_one_line_and_status_2(args, word):
    result = subprocess.run(
        [sys.executable, "tools/sim.py", "--no-build", *args],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=HANG,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [ln for ln in result.stderr.splitlines() if not ln.startswith("ticsim:")]
    assert len(lines) == 1 and lines[0].startswith("sim: ") and word in lines[0], lines
    assert "Traceback" not in result.stderr and result.stdout == ""


STUB = """
import sys, time
sys.path.insert(0, %r)
from firmware.hal import host
boot = host.setting("BOOT")
cause = host.reset_cause()
print("stub boot", boot, cause)
if boot == "1":
    host.reset()                      # exit 75: sim.py restarts us, cause hard
if boot == "2":
    wdt = host.watchdog(1000)
    for _ in range(3):                # fed every 0.3 s for 0.9 s: no reset
        time.sleep_ms(300)
        wdt.feed()
    print("stub fed")
    while True:                       # blocked: no more feeds
        time.sleep_ms(100)
print("stub done")
"""


@pytest.mark.slow  # real time: a watchdog period
def test_supervision_resets_power_hard_then_wdt(tmp_path, capfd, monkeypatch):
    stub = tmp_path / "main.py"
    stub.write_text(STUB % str(ROOT))
    monkeypatch.setattr(sim, "MIN_BOOT_S", 0.0)
    args = sim.parse_args(["--no-build"])
    server = sim_link.LinkServer(lambda baud: None)
    try:
        rc = sim.supervise(args, server, upy.require_micropython(), stub, str(tmp_path))
    finally:
        server.close()
    out = capfd.readouterr().out
    assert rc == 0, out
    boots = re.findall(r"stub boot (\d+) (\w+)", out)
    assert boots == [("1", "power"), ("2", "hard"), ("3", "wdt")], out
    assert out.count("[sim] watchdog: no feed for 1000 ms, resetting") == 1
    assert out.index("stub fed") < out.index("[sim] watchdog") < out.index("stub boot 3")
    assert "[sim] firmware requested a reset: starting boot 2" in out
    assert server.feeds == 3


def test_other_exit_status_ends_the_simulator(tmp_path, capfd):
    stub = tmp_path / "main.py"
    stub.write_text("import sys\nprint('stub', 'up')\nsys.exit(3)\n")
    server = sim_link.LinkServer(lambda baud: None)
    try:
        rc = sim.supervise(
            sim.parse_args(["--no-build"]), server, upy.require_micropython(), stub, tmp_path
        )
    finally:
        server.close()
    out = capfd.readouterr().out
    assert rc == 3 and out.count("stub up") == 1, out
    assert "[sim] firmware exited with status 3" in out


@pytest.mark.parametrize(
    ("args", "word"),
    [
        (("--mqtt", "nohost"), "--mqtt expects HOST:PORT"),
        (("--mqtt", "127.0.0.1:0"), "--mqtt expects HOST:PORT"),
        (("--wifi-drop", "soon"), "--wifi-drop expects AT[:FOR]"),
        (("--set", "mqtt_port=70000"), "--set mqtt_port=70000: expected 0 to 65535"),
        (("--set", "heartbeat_s"), "--set expects NAME=VALUE"),
        (("--board", "x" * 40), "--board"),
    ],
)
def test_bad_mqtt_wifi_or_setting_option_is_one_line_and_status_2(args, word, tmp_path):
    result = subprocess.run(
        [sys.executable, "tools/sim.py", "--no-build", "--state", str(tmp_path), *args],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=HANG,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("sim: ") and word in lines[0], lines
    assert not (tmp_path / "mosquitto").exists()  # nothing started


def test_mqtt_and_no_mqtt_exclude_each_other(capsys):
    with pytest.raises(SystemExit) as e:
        sim.parse_args(["--mqtt", "h:1", "--no-mqtt"])
    assert e.value.code == 2 and "not allowed with" in capsys.readouterr().err


def test_set_splits_settings_from_test_hooks():
    settings, hooks = sim.split_sets(
        ["HEARTBEAT_S=5", "mqtt_tls=true", "wifi_ssid=", "EXIT_AFTER_FRAMES=3", "wdt_ms=900"]
    )
    assert settings == {"heartbeat_s": 5, "mqtt_tls": True, "wifi_ssid": ""}
    assert hooks == {"EXIT_AFTER_FRAMES": "3", "WDT_MS": "900"}
    args = sim.parse_args(["--set", "HEARTBEAT_S=5", "--set", "WDT_MS=900", "--board", "pitinfo"])
    env = sim.firmware_env(args, "link:127.0.0.1:1", 1, "power")
    assert env["LINKY_WDT_MS"] == "900" and env["LINKY_TIC"] == "link:127.0.0.1:1"
    assert not any(k in env for k in ("LINKY_HEARTBEAT_S", "LINKY_BOARD", "LINKY_MODE"))


def test_sim_settings_name_the_broker_and_the_access_point():
    args = sim.parse_args(["--mode", "standard", "--baud", "9600", "--set", "mqtt_prefix=home"])
    v = sim.sim_settings(args, ("127.0.0.1", 1884))
    assert v == {
        "wifi_ssid": "sim",
        "mqtt_host": "127.0.0.1",
        "mqtt_port": 1884,
        "mode": "standard",
        "baud": 9600,
        "mqtt_prefix": "home",
    }
    assert sim.sim_settings(sim.parse_args([]), None) == {"wifi_ssid": "sim", "mqtt_host": ""}
    cmd = sim.watch_command(("127.0.0.1", 1884), v)
    assert cmd == "mosquitto_sub -h 127.0.0.1 -p 1884 -t 'home/#' -t 'homeassistant/#' -v"


def test_config_json_is_kept_and_updated(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"board": "pitinfo", "mqtt_host": "old", "wifi_password": "pw"}')
    sim.write_config(str(tmp_path), {"mqtt_host": "127.0.0.1", "mqtt_port": 1884})
    assert json.loads(path.read_text()) == {
        "board": "pitinfo",
        "mqtt_host": "127.0.0.1",
        "mqtt_port": 1884,
        "wifi_password": "pw",
    }
    assert "pw" not in sim.describe(str(path)) and '"wifi_password": "***"' in sim.describe(
        str(path)
    )
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]  # no temp file left
    path.write_text("[1, 2]")
    with pytest.raises(sim.UsageError, match="not a JSON object"):
        sim.write_config(str(tmp_path), {"mqtt_host": ""})
    assert path.read_text() == "[1, 2]"  # the user's file is not replaced


def test_private_broker_starts_listens_on_loopback_and_stops(tmp_path):
    b = sim.Broker(str(tmp_path / "mosquitto"))
    try:
        b.start()
        conf = (tmp_path / "mosquitto" / "mosquitto.conf").read_text()
        assert "listener %d 127.0.0.1\n" % b.port in conf
        with socket.create_connection(("127.0.0.1", b.port), timeout=5) as c:
            assert mqtt_connack(c) == b"\x20\x02\x00\x00"
    finally:
        b.stop()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", b.port), timeout=1).close()


def mqtt_connack(sock):
    """MQTT 3.1.1 CONNECT (empty client id, clean session) and the broker's answer."""
    sock.sendall(b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00")
    sock.settimeout(5)
    return sock.recv(4)


def test_wifi_control_schedule_and_signals_reach_the_link():
    server = sim_link.LinkServer(lambda baud: None)
    try:
        w = sim.WifiControl(server, sim.parse_drop("2:3"), start=100.0)
        w.tick(101.0)
        assert server.air == sim_link.WIFI_RSSI
        w.tick(102.0)
        assert server.air == 0
        w.tick(104.9)
        assert server.air == 0
        w.tick(105.0)
        assert server.air == sim_link.WIFI_RSSI
        restore = w.install()
        try:
            os.kill(os.getpid(), signal.SIGUSR1)
            w.tick(106.0)
            assert server.air == 0
            os.kill(os.getpid(), signal.SIGUSR2)
            w.tick(107.0)
            assert server.air == sim_link.WIFI_RSSI
        finally:
            restore()
        assert sim.parse_drop("5") == (5.0, None)
    finally:
        server.close()


WIFI_STUB = """
import sys, time
sys.path.insert(0, %r)
from firmware.hal import host
st = host.wlan()
st.active(True)
st.connect("sim")
seen = [st.status()]
print("stub wifi", seen[-1], st.rssi())
while len(seen) < 4:
    s = st.status()
    if s != seen[-1]:
        seen.append(s)
        print("stub wifi", s, st.rssi())
    if s in ("failed", "no_ap"):
        st.connect("sim")          # as firmware/wifi.py does: join again
    time.sleep_ms(20)
"""


def test_firmware_sees_the_simulated_wifi_drop(tmp_path, capfd):
    # --wifi-drop 0.5:0.5: the host HAL's station (in the unix port) through the link.
    stub = tmp_path / "main.py"
    stub.write_text(WIFI_STUB % str(ROOT))
    args = sim.parse_args(["--no-build", "--wifi-drop", "0.5:0.5", "--run-for", "20"])
    server = sim_link.LinkServer(lambda baud: None)
    try:
        rc = sim.supervise(args, server, upy.require_micropython(), stub, str(tmp_path))
    finally:
        server.close()
    out = capfd.readouterr().out
    assert rc == 0, out
    seen = re.findall(r"stub wifi (\w+) (\S+)", out)
    assert seen == [("connected", "-55"), ("failed", "None"), ("no_ap", "None"),
                    ("connected", "-55")], out  # fmt: skip
    assert "[sim] wifi down (scheduled)" in out and "[sim] wifi up (scheduled)" in out


# -- slow: the firmware in real time ------------------------------------------------------------


@pytest.mark.slow
def test_frames_from_a_standard_capture(built):
    # Auto-detection: the firmware starts at 1200 Bd (nothing saved yet) and finds 9600.
    rc, out = run_sim("--tic", STD_ERRORS, "--exit-after-frames", "3")
    assert rc == 0, out
    assert "boot 1 (power)" in out and "TIC mode auto at 1200 Bd" in out
    assert "detected standard mode at 9600 Bd (1 speed switches)" in out
    assert "TIC ok: standard mode at 9600 Bd" in out
    frames = frame_lines(out)
    assert len(frames) == 3 and all(mode == "standard" for mode, _ in frames)
    assert "Traceback" not in out


@pytest.mark.slow
def test_a_100_kb_capture_stays_out_of_the_board(built, tmp_path):
    # The line runs in the simulator's process: a large capture neither crashes the boot
    # (it did with MemoryError) nor changes the firmware's memory figure.
    big = tmp_path / "big.raw"
    argv = ["--mode", "standard", "--phases", "3", "--contract", "tempo", "--frames", "82"]
    big.write_bytes(ticsim.generate([*argv, "--seed", "1"]))
    assert big.stat().st_size > 95000
    mem = []
    for cap in (STD_MONO, str(big)):
        rc, out = run_sim("--tic", cap, "--baud", "9600", "--exit-after-frames", "1")
        assert rc == 0 and "MemoryError" not in out, out
        assert len(frame_lines(out)) == 1
        mem.append(int(re.search(MEM, out).group(1)))
    assert abs(mem[0] - mem[1]) < 1024, mem


@pytest.mark.slow
def test_heap_option_reaches_the_interpreter(built):
    s = Sim("--tic", STD_MONO, "--baud", "9600", "--heap", "64K")
    s.wait_for("MemoryError")  # the default heap boots (the other tests)
    s.ctrl_c()


@pytest.mark.slow
def test_frames_from_a_historique_capture_at_1200(built):
    rc, out = run_sim("--tic", HIST, "--exit-after-frames", "1")
    assert rc == 0, out
    assert "TIC mode auto at 1200 Bd" in out
    assert [mode for mode, _ in frame_lines(out)] == ["historique"]
    assert "detected historique mode at 1200 Bd (0 speed switches)" in out  # 1200 was right


@pytest.mark.slow
def test_frames_from_the_ticsim_meter(built):
    rc, out = run_sim("--tic", "sim:standard,3,tempo,seed=2", "--exit-after-frames", "2")
    assert rc == 0, out
    assert "TIC sim:standard,3,tempo,seed=2" in out
    assert "detected standard mode at 9600 Bd (1 speed switches)" in out
    frames = frame_lines(out)
    assert len(frames) == 2 and all(mode == "standard" for mode, _ in frames)
    assert "checksum errors 0" in out


@pytest.mark.slow
def test_wrong_speed_gives_bytes_but_no_frame(built):
    # A fixed mode never switches: forced to the wrong speed it stays garbled.
    s = Sim(
        *("--tic", STD_ERRORS, "--mode", "standard", "--baud", "1200"),
        *("--set", "HEARTBEAT_S=5"),
    )
    # After one detection window (4.5 s at 1200 Bd) with bytes and no valid group.
    s.wait_for(r"TIC garbled: bytes but no valid group at 1200 Bd \(mode fixed to standard\)")
    s.wait_for(r"up \d+ s: [1-9]\d* bytes, .*TIC garbled, unknown at 1200")  # a heartbeat
    rc, out = s.ctrl_c()
    assert rc == 0, out
    assert "TIC mode standard at 1200 Bd" in out
    beats = re.findall(r"up \d+ s: (\d+) bytes, (\d+) frames, (\d+) groups", out)
    assert beats and int(beats[-1][0]) > 0
    assert all(frames == "0" and groups == "0" for _, frames, groups in beats)
    assert not frame_lines(out)


@pytest.mark.slow
def test_reset_restarts_the_firmware(built):
    rc, out = run_sim(
        "--tic",
        STD_MONO,
        *("--reset-after-frames", "1", "--resets", "2", "--exit-after-frames", "1"),
    )
    assert rc == 0, out
    boots = re.findall(
        r"linky (?:\S+ )?on host, boot (\d+) \((\w+)\), .* TIC mode auto at (\d+) Bd", out
    )
    # The speed detected in boot 1 was saved in the state directory: later boots start there.
    assert boots == [("1", "power", "1200"), ("2", "hard", "9600"), ("3", "hard", "9600")]
    assert out.count("detected standard mode") == 1
    assert out.count("[sim] firmware requested a reset") == 2
    assert len(frame_lines(out)) == 3


@pytest.mark.slow
def test_run_for_stops_the_firmware_cleanly(built, tmp_path):
    state = tmp_path / "flash"
    rc, out = run_sim("--tic", STD_MONO, "--run-for", "2", "--state", str(state))
    assert rc == 0, out
    assert "stopped by Ctrl-C" in out and "Traceback" not in out
    assert state.is_dir()  # --state is created and kept


@pytest.mark.slow
def test_default_state_dir_is_temporary(built):
    rc, out = run_sim("--tic", STD_MONO, "--baud", "9600", "--exit-after-frames", "1")
    assert rc == 0, out
    state = re.search(r"state (\S+)", out).group(1)
    assert "linky-sim-" in state and not os.path.exists(state)


@pytest.mark.slow
def test_ctrl_c_stops_cleanly(built):
    s = Sim("--tic", STD_MONO, "--baud", "9600")
    s.wait_for("INFO app: frame 1:")
    rc, out = s.ctrl_c()
    assert rc == 0, out
    assert "[sim] stopped" in out and "stopped by Ctrl-C" in out
    assert "Traceback" not in out
