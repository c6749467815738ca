"""`make image`: the linky image (MicroPython's ESP32 port with build/frozen/ frozen in).

ESP-IDF and a MicroPython checkout are not on this machine, so the port's build itself cannot
run here: these tests check what comes before it. Without MPY_DIR or ESP-IDF, `make image`
explains and exits 2 without building anything; with a stand-in tool-chain (a MicroPython
tree whose ports/esp32/Makefile only records the variables it is given, and an idf.py that
prints a version), it builds the frozen tree first and hands the port the right board,
variant, manifest and build folder, then prints where firmware.bin is."""

import os
import subprocess

import upy

ROOT = upy.ROOT


def _make(tmp_path, *args, path=None, **env):
    e = {k: v for k, v in os.environ.items() if k not in ("MPY_DIR", "IDF_PATH")}
    for k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):  # when the tests run under make
        e.pop(k, None)
    e["IMAGE_BUILD"] = str(tmp_path / "image")
    if path is not None:
        e["PATH"] = path
    e.update(env)
    return subprocess.run(
        ["make", "--no-print-directory", "image", *args],
        cwd=ROOT,
        env=e,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _usage_ok(out):
    assert "usage: make image MPY_DIR=path/to/micropython, in an ESP-IDF shell" in out
    assert "MicroPython v1.27.0 checkout with its lib/micropython-lib submodule" in out
    assert "ESP-IDF   v5.5.1" in out and "idf.py on PATH" in out


def test_without_mpy_dir_or_esp_idf_it_explains_and_exits_2(tmp_path):
    for args, env in (
        ((), {}),
        (("MPY_DIR=%s" % tmp_path,), {}),  # no ESP-IDF
        ((), {"IDF_PATH": str(tmp_path)}),  # no MicroPython
    ):
        r = _make(tmp_path, *args, **env)
        assert r.returncode == 2, (args, env, r.stdout, r.stderr)
        _usage_ok(r.stdout)
        assert "build/device" not in r.stdout  # nothing was built
    assert not (tmp_path / "image").exists()


def _fake_mpy_dir(tmp_path, submodule=True):
    mpy = tmp_path / "micropython"
    (mpy / "py").mkdir(parents=True)
    (mpy / "py" / "mpconfig.h").write_text(
        "#define MICROPY_VERSION_MAJOR 1\n#define MICROPY_VERSION_MINOR 27\n"
        "#define MICROPY_VERSION_MICRO 0\n"
    )
    (mpy / "mpy-cross").mkdir()
    (mpy / "mpy-cross" / "Makefile").write_text("all:\n\t@echo stand-in mpy-cross\n")
    (mpy / "ports" / "esp32").mkdir(parents=True)
    # The port: checks the manifest is there (make build ran), records what it was given.
    (mpy / "ports" / "esp32" / "Makefile").write_text(
        "all:\n"
        '\ttest -f "$(FROZEN_MANIFEST)"\n'
        '\tmkdir -p "$(BUILD)"\n'
        "\techo BOARD=$(BOARD) BOARD_VARIANT=$(BOARD_VARIANT)"
        ' FROZEN_MANIFEST=$(FROZEN_MANIFEST) > "$(BUILD)/firmware.bin"\n'
    )
    if submodule:
        (mpy / "lib" / "micropython-lib").mkdir(parents=True)
        (mpy / "lib" / "micropython-lib" / "README.md").write_text("stand-in\n")
    return mpy


def _fake_idf(tmp_path):
    bin_dir = tmp_path / "idf-bin"
    bin_dir.mkdir()
    idf = bin_dir / "idf.py"
    idf.write_text("#!/bin/sh\necho ESP-IDF v5.5.1\n")
    idf.chmod(0o755)
    return str(bin_dir) + os.pathsep + os.environ["PATH"]


def test_a_tree_that_is_not_micropython_or_lacks_its_submodule_is_refused(tmp_path):
    r = _make(tmp_path, "MPY_DIR=%s" % tmp_path, IDF_PATH=str(tmp_path))
    assert r.returncode == 2 and "is not a MicroPython checkout" in r.stdout
    _usage_ok(r.stdout)
    mpy = _fake_mpy_dir(tmp_path, submodule=False)
    r = _make(tmp_path, "MPY_DIR=%s" % mpy, IDF_PATH=str(tmp_path))
    assert r.returncode == 2, r.stdout
    assert "lib/micropython-lib is empty" in r.stdout and "ports/esp32 submodules" in r.stdout


def test_without_idf_py_on_path_it_says_to_source_export_sh(tmp_path):
    mpy = _fake_mpy_dir(tmp_path)
    path = os.pathsep.join(  # no idf.py on it, whatever this machine has
        d for d in os.environ["PATH"].split(os.pathsep) if not os.path.exists(d + "/idf.py")
    )
    r = _make(tmp_path, "MPY_DIR=%s" % mpy, path=path, IDF_PATH=str(tmp_path / "esp-idf"))
    assert r.returncode == 2, r.stdout
    assert "idf.py is not on PATH: run . %s/export.sh" % (tmp_path / "esp-idf") in r.stdout


def test_image_builds_the_frozen_tree_then_the_ota_variant_with_its_manifest(tmp_path):
    mpy = _fake_mpy_dir(tmp_path)
    r = _make(tmp_path, "MPY_DIR=%s" % mpy, path=_fake_idf(tmp_path), IDF_PATH=str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "MicroPython 1.27.0 from %s" % mpy in r.stdout and "ESP-IDF v5.5.1" in r.stdout
    assert "build/frozen: " in r.stdout  # make build ran
    fw = tmp_path / "image" / "firmware.bin"
    assert fw.read_text().split() == [
        "BOARD=ESP32_GENERIC",
        "BOARD_VARIANT=OTA",
        "FROZEN_MANIFEST=%s" % (ROOT / "build" / "frozen" / "manifest.py"),
    ]
    assert "image: %s (make flash FIRMWARE=%s" % (fw, fw) in r.stdout
