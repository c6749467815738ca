"""lib/ed25519.py, lib/sha512.py and lib/ota_manifest.py on 32-bit MicroPython 1.27, as on an
ESP32: tests/test_ed25519.py and tests/test_ota_manifest.py run unchanged on the WebAssembly
port (tools/mem32/'s pinned npm package, `npm ci` on first use) under Node, through
tests/mp32_run.mjs. The unix port that runs the other MicroPython tests is 64-bit: there
62-bit values are small ints and big-int digits are 32-bit, so this is the run that exercises
the 32-bit paths.
"""

import subprocess

import mem32
import pytest

import upy

pytestmark = pytest.mark.slow  # about 3 s of WebAssembly, plus `npm ci` the first time

ROOT = upy.ROOT
PKG = mem32.NPM_DIR / "node_modules/@micropython/micropython-webassembly-pyscript/micropython.mjs"
FILES = (
    "lib/ed25519.py",
    "lib/sha512.py",
    "lib/ota_manifest.py",
    "lib/ota_entries.py",
    "lib/ota_head.py",
    "lib/ota_sig.py",
    "tests/mpunit.py",
    "tests/ed25519_sign.py",
    "tests/fixtures/ed25519_cryptography.json",
)


def run32(test):
    mem32.ensure_npm()
    cmd = ["node", str(ROOT / "tests/mp32_run.mjs"), str(PKG), str(ROOT), test, *FILES]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    out = r.stdout + r.stderr
    lines = out.splitlines()
    assert lines and lines[0].startswith("MP32 (1, 27, 0) 2147483647"), out[-2000:]
    return out


@pytest.mark.parametrize("test", ["tests/test_ed25519.py", "tests/test_ota_manifest.py"])
def test_dual_tests_pass_on_32bit_micropython(test):
    out = run32(test)
    assert "FAIL" not in out and "ERROR" not in out, out[-4000:]
    summary = out.strip().splitlines()[-1]
    assert summary.endswith(" passed, 0 failed"), out[-2000:]
    assert int(summary.split()[0]) >= 10
