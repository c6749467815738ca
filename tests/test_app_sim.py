"""The firmware's supervisor under the simulator: crashes, safe mode, watchdog, bad settings.

Each test runs tools/sim.py as `make sim` does, with a fresh state directory (the board's
flash) and test hooks (--set), and reads the log. Runs end by themselves (safe mode, a
test hook); the time limit only stops a hung run."""

import json
import re
import subprocess
import sys

import pytest

import upy

ROOT = upy.ROOT
CAP = "tests/fixtures/captures/std-tri-tempo-stream-errors-teleinfo-nom.raw"
HANG = 150

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def _built():
    subprocess.run([sys.executable, "tools/build.py"], cwd=ROOT, check=True, capture_output=True)


def sim(state, *args):
    r = subprocess.run(
        [sys.executable, "tools/sim.py", "--no-build", "--tic", CAP, "--state", str(state), *args],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=HANG,
    )
    return r.returncode, r.stdout + r.stderr


def boots(out):
    return re.findall(r"linky \S+ on host, boot (\d+) \((\w+)\)", out)


def test_task_crash_loop_ends_in_safe_mode(tmp_path):
    rc, out = sim(tmp_path, "--set", "RAISE_AFTER_FRAMES=1")
    assert rc == 0, out
    # boots 1-3 crash in a task: each is logged with its traceback, recorded, then reset
    assert boots(out) == [("1", "power"), ("2", "hard"), ("3", "hard")], out
    assert (
        len(re.findall(r"ERROR crash: crash after \d+ s: task test-raise: RuntimeError", out)) == 3
    )
    assert out.count("WARNING app: resetting") == 3
    assert "last crash: task test-raise" in out
    # boot 4 stays in safe mode: the app is not started, the process (the REPL) is left
    assert re.search(r"ERROR crash: safe mode: 3 crashes in a row within \d+ s", out), out
    assert out.rstrip().endswith("'Safe mode').") or "safe mode" in out.splitlines()[-1]
    record = json.loads((tmp_path / "crash.json").read_text())
    assert len(record["crashes"]) == 3 and record["chain"][-1] < 300
    assert all("test-raise" in c["what"] for c in record["crashes"])
    # a reset (not a crash) afterwards tries the app again, which runs
    rc, out = sim(tmp_path, "--exit-after-frames", "2")
    assert rc == 0 and "stopping after 2 frames" in out, out
    assert "safe mode" not in out


def test_blocked_loop_is_reset_by_the_watchdog(tmp_path):
    rc, out = sim(tmp_path, "--set", "BLOCK_AFTER_FRAMES=1", "--set", "WDT_MS=3000")
    assert rc == 0, out
    assert "blocking the loop (test hook)" in out
    # the simulator is the watchdog's hardware: no feed for 3 s -> reset, cause "wdt"
    assert ("2", "wdt") in boots(out), out
    assert re.search(r"safe mode: 3 crashes in a row", out), out
    record = json.loads((tmp_path / "crash.json").read_text())
    assert record["crashes"][-1]["what"] == "watchdog"


def test_bad_settings_fall_back_and_the_firmware_runs(tmp_path):
    (tmp_path / "config.json").write_text(
        json.dumps({"heartbeat_s": 0, "signal_lost_s": 10**9, "mode": "turbo", "board": "nope"})
    )
    rc, out = sim(tmp_path, "--exit-after-frames", "2")
    assert rc == 0, out
    for name in ("heartbeat_s", "signal_lost_s", "mode"):
        assert re.search(r"WARNING config: setting %s=.*using the default" % name, out), name
    assert "WARNING app: board: unknown board 'nope'" in out
    assert "board denky-d4, TIC mode auto" in out
    assert "stopping after 2 frames" in out and "Traceback" not in out


def test_crash_at_import_is_recorded_and_reset(tmp_path):
    # A config that makes App() fail is impossible by design; a broken module is not: an
    # exception while importing the app is a crash like any other.
    rc, out = sim(tmp_path, "--set", "EXIT_AFTER_FRAMES=1", "--set", "IMPORT_FAIL=1")
    assert rc == 0, out
    assert "crash after" in out and "import failed (test hook)" in out, out
    assert "safe mode" in out
