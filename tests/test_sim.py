"""tools/sim.py: the firmware image under the unix port, fed by captures at line speed.

Each test runs the simulator as `make sim` does (after one build) and reads the firmware's log.
Runs end by a test hook (--exit-after-frames), --run-for, or a Ctrl-C; the time limits below
only stop a hung run."""

import os
import re
import signal
import subprocess
import sys

import pytest

import upy

ROOT = upy.ROOT
CAPS = "tests/fixtures/captures/"
STD_ERRORS = CAPS + "std-tri-tempo-stream-errors-teleinfo-nom.raw"  # 7 frames, 9600 Bd
STD_MONO = CAPS + "std-mono-hchp-goteleinfo.raw"  # 1 frame, starts with it
HIST = CAPS + "hist-mono-tempo-teleinfo-nom.raw"  # 1200 Bd
HANG = 120  # seconds


@pytest.fixture(scope="module", autouse=True)
def _built():
    subprocess.run([sys.executable, "tools/build.py"], cwd=ROOT, check=True, capture_output=True)


def sim(*args):
    result = subprocess.run(
        [sys.executable, "tools/sim.py", "--no-build", *args],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=HANG,
    )
    return result.returncode, result.stdout + result.stderr


def frame_lines(out):
    return re.findall(r"INFO app: frame \d+: (\w+), (\d+) groups", out)


def test_frames_from_a_standard_capture():
    # Auto-detection: the firmware starts at 1200 Bd (nothing saved yet) and finds 9600.
    rc, out = sim("--tic", STD_ERRORS, "--exit-after-frames", "3", "--heap", "320K")
    assert rc == 0, out
    assert "boot 1 (power)" in out and "TIC mode auto at 1200 Bd" in out
    assert "detected standard mode at 9600 Bd (1 speed switches)" in out
    assert "TIC ok: standard mode at 9600 Bd" in out
    frames = frame_lines(out)
    assert len(frames) == 3 and all(mode == "standard" for mode, _ in frames)
    assert "Traceback" not in out
    # --heap reaches the interpreter: the same boot leaves ~48 KB free in the default 192K
    # heap (the reader, its parser, index guard and label table are loaded by then).
    free = int(re.search(r"mem free (\d+)", out).group(1))
    assert free > 128 * 1024


def test_frames_from_a_historique_capture_at_1200():
    rc, out = sim("--tic", HIST, "--exit-after-frames", "1")
    assert rc == 0, out
    assert "TIC mode auto at 1200 Bd" in out
    assert [mode for mode, _ in frame_lines(out)] == ["historique"]
    assert "detected historique mode at 1200 Bd (0 speed switches)" in out  # 1200 was right


def test_wrong_speed_gives_bytes_but_no_frame():
    # A fixed mode never switches: forced to the wrong speed it stays garbled.
    rc, out = sim(
        *("--tic", STD_ERRORS, "--mode", "standard", "--baud", "1200"),
        *("--run-for", "7", "--set", "HEARTBEAT_S=1"),
    )
    assert rc == 0, out
    assert "TIC mode standard at 1200 Bd" in out
    beats = re.findall(r"up \d+ s: (\d+) bytes, (\d+) frames, (\d+) groups", out)
    assert beats, out
    assert int(beats[-1][0]) > 0
    assert all(frames == "0" and groups == "0" for _, frames, groups in beats)
    assert not frame_lines(out)
    # After one detection window (4.5 s at 1200 Bd) with bytes and no valid group.
    assert "TIC garbled: bytes but no valid group at 1200 Bd (mode fixed to standard)" in out
    assert "TIC starting, unknown at 1200 Bd" in out and "TIC garbled, unknown at 1200" in out


def test_reset_restarts_the_firmware():
    rc, out = sim(
        "--tic",
        STD_MONO,
        *("--reset-after-frames", "1", "--resets", "2", "--exit-after-frames", "1"),
    )
    assert rc == 0, out
    boots = re.findall(r"linky on host, boot (\d+) \((\w+)\), .* TIC mode auto at (\d+) Bd", out)
    # The speed detected in boot 1 was saved in the state directory: later boots start there.
    assert boots == [("1", "power", "1200"), ("2", "hard", "9600"), ("3", "hard", "9600")]
    assert out.count("detected standard mode") == 1
    assert out.count("[sim] firmware requested a reset") == 2
    assert len(frame_lines(out)) == 3


def test_other_exit_status_ends_the_simulator():
    rc, out = sim("--tic", STD_MONO, "--set", "BAUD=fast")
    assert rc == 1, out
    assert "ValueError" in out and "BAUD" in out
    assert "[sim] firmware exited with status 1" in out
    assert "boot 2" not in out


def test_bad_tic_settings_end_the_simulator():
    for setting, word in (("MODE=tempo", "setting MODE"), ("SIGNAL_LOST_S=0", "SIGNAL_LOST_S")):
        rc, out = sim("--tic", STD_MONO, "--set", setting)
        assert rc == 1, out
        assert "ValueError" in out and word in out


def test_run_for_stops_the_firmware_cleanly(tmp_path):
    state = tmp_path / "flash"
    rc, out = sim("--tic", STD_MONO, "--run-for", "2", "--state", str(state))
    assert rc == 0, out
    assert "stopped by Ctrl-C" in out and "Traceback" not in out
    assert state.is_dir()  # --state is created and kept


def test_default_state_dir_is_temporary():
    rc, out = sim("--tic", STD_MONO, "--baud", "9600", "--exit-after-frames", "1")
    assert rc == 0, out
    state = re.search(r"state (\S+)", out).group(1)
    assert "linky-sim-" in state and not os.path.exists(state)


def test_ctrl_c_stops_cleanly():
    # As in a terminal: SIGINT to the whole process group (simulator and firmware).
    proc = subprocess.Popen(
        [sys.executable, "tools/sim.py", "--no-build", "--tic", STD_MONO, "--baud", "9600"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if "INFO app: frame 1:" in line:
                break
        os.killpg(proc.pid, signal.SIGINT)
        rest, _ = proc.communicate(timeout=HANG)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    out = "".join(lines) + rest
    assert proc.returncode == 0, out
    assert "[sim] stopped" in out and "stopped by Ctrl-C" in out
    assert "Traceback" not in out
