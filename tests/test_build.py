"""The device image (`make build` -> build/device/). The deploy plan: tests/test_deploy.py."""

import subprocess

import deploy
import pytest

import upy

ROOT = upy.ROOT
BUILD = upy.BUILD


@pytest.fixture(scope="module")
def built():
    subprocess.run(["make", "-s", "build"], cwd=ROOT, check=True, capture_output=True)
    return BUILD


def _device_modules():
    for pkg in ("lib", "firmware"):
        for src in sorted((ROOT / pkg).rglob("*.py")):
            yield src.relative_to(ROOT)


def test_every_device_module_is_compiled(built):
    modules = list(_device_modules())
    assert any(str(m) == "firmware/app.py" for m in modules)
    assert any(str(m) == "lib/log.py" for m in modules)
    for rel in modules:
        mpy = built / rel.with_suffix(".mpy")
        assert mpy.is_file(), mpy
        assert mpy.read_bytes()[:1] == b"M"  # .mpy header
        assert not (built / rel).exists(), "source shipped next to its .mpy: %s" % rel


def test_boot_and_main_stay_source(built):
    for name in ("boot.py", "main.py"):
        assert (built / name).read_bytes() == (ROOT / name).read_bytes()


def test_build_holds_nothing_else(built):
    expected = {"boot.py", "main.py"} | {str(m.with_suffix(".mpy")) for m in _device_modules()}
    assert set(deploy.build_files(built)) == expected


def test_modules_import_from_the_build_on_the_unix_port(built, tmp_path):
    # cwd elsewhere and MICROPYPATH = the build only: nothing can come from the source tree.
    code = (
        "import firmware.boards as b, firmware.hal as h, firmware.app as a, log, tic\n"
        "print(b.__file__, h.__file__, a.__file__, log.__file__)\n"
        "print(h.PLATFORM, b.profile('denky32').enable, tic.MODE_NAMES[2])\n"
    )
    result = upy.run(["-c", code], upy.build_path(), cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    files, values = result.stdout.splitlines()
    for f in files.split():
        assert f.startswith(str(BUILD)) and f.endswith(".mpy"), f
    assert values.split() == ["host", "4", "standard"]
