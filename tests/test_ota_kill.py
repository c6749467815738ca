"""A power cut at any point of an update: the device always boots one complete version.

50 times, a real unix-port process running an update (tests/ota_drive.py: firmware/ota.py
from a real HTTP server, into the state directory that plays the flash, then the pointer
switch) is killed with SIGKILL after a random delay covering the download and the switch;
then main.py's boot logic (firmware/slots.py) runs in a new process and the version it picks
must be complete: the factory image, or a folder whose every file matches its signed manifest,
reporting that manifest's version. Trial boots that are never marked good are counted and
rolled back on the way, under the same kills.
"""

import json
import random
import signal
import subprocess
import time
from pathlib import Path

import ota
import ota_env
import pytest

import upy

pytestmark = pytest.mark.slow

RUNS = 50


def test_killed_anywhere_boots_one_complete_version(tmp_path):
    key_file = tmp_path / "release.pem"
    pub = ota.keygen(key_file)
    image = ota_env.factory(tmp_path / "factory")
    srv = tmp_path / "srv"
    for v in ("1.0.0", "1.1.0"):
        ota_env.release(srv / v, v, key_file, image)
    server = ota_env.Server(srv)
    server.faults["*delay*"] = 0.004  # per request: the download lasts long enough to be hit
    state = tmp_path / "flash"
    state.mkdir()
    path = upy.micropypath(Path(image) / "lib", image)
    env = dict(ota_env.environ_without_linky(), MICROPYPATH=path)
    rng = random.Random(1234)
    factory_version = ota_env.drive(state, "boot", image=image)[0]["version"]
    try:
        # One full run, to know how long an update takes here.
        t0 = time.monotonic()
        out, _ = ota_env.drive(state, "url", server.url + "/1.0.0", pub, "force", image=image)
        full = time.monotonic() - t0
        assert out["ok"], out
        seen = {"killed": 0, "finished": 0, "folders": set()}
        for i in range(RUNS):
            v = ("1.0.0", "1.1.0")[i % 2]
            cmd = [str(upy.MICROPYTHON), "-X", "heapsize=192K", str(ota_env.DRIVE), str(state),
                   "url", server.url + "/" + v, pub, "force"]  # fmt: skip
            p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            # up to 1.4 x: about a quarter of the runs finish, so both folders get switched to
            # even when the machine is loaded (with 1.1 x, 3 of 50 finished once: app_b unseen)
            time.sleep(rng.uniform(0, full * 1.4))
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                seen["killed"] += 1
            else:
                seen["finished"] += 1
            p.communicate()
            booted, _ = ota_env.drive(state, "boot", image=image)
            folder = booted["folder"]
            seen["folders"].add(folder)
            if folder is None:
                assert booted["version"] == factory_version
            else:
                why = ota_env.complete(state, folder)
                assert why is None, "run %d: %s boots incomplete: %s" % (i, folder, why)
                m = json.loads((state / folder / "manifest.json").read_bytes())
                assert booted["version"] == m["version"]
        print("kill test:", seen, "full update %.2f s" % full)
        assert seen["killed"] >= RUNS // 3, seen
        assert seen["finished"] >= 1, seen
        assert {"app_a", "app_b"} <= seen["folders"], seen
    finally:
        server.close()
