"""The device image (`make build` -> build/device/) and the deploy plan computed from it."""

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


# -- tools/deploy.py: the plan, against a fake board listing -----------------------------------

BUILD_FILES = ["boot.py", "firmware/__init__.mpy", "firmware/app.mpy", "lib/log.mpy", "main.py"]


def test_plan_removes_stale_code_and_keeps_user_files():
    board = [
        "boot.py",
        "config.json",  # the user's configuration
        "data/history.bin",  # data, not code
        "firmware/__init__.mpy",
        "firmware/app.py",  # an old source copy: would shadow app.mpy
        "firmware/old.mpy",  # module that no longer exists
        "lib/log.mpy",
        "main.py",
        "oldpkg/sub/x.mpy",
        "webrepl_cfg.py",  # WebREPL password
    ]
    dirs = ["data", "firmware", "lib", "oldpkg", "oldpkg/sub"]
    p = deploy.plan(BUILD_FILES, board, dirs)
    assert p["copy"] == BUILD_FILES
    assert p["remove"] == ["firmware/app.py", "firmware/old.mpy", "oldpkg/sub/x.mpy"]
    assert p["rmdir"] == ["oldpkg/sub", "oldpkg"]
    assert p["keep"] == ["config.json", "data/history.bin", "webrepl_cfg.py"]


def test_plan_on_an_empty_board_copies_everything():
    p = deploy.plan(BUILD_FILES, [], [])
    assert p == {"copy": BUILD_FILES, "remove": [], "rmdir": [], "keep": []}


def test_plan_keeps_a_directory_with_user_files():
    p = deploy.plan(BUILD_FILES, ["extra/a.py", "extra/notes.txt"], ["extra"])
    assert p["remove"] == ["extra/a.py"] and p["rmdir"] == [] and p["keep"] == ["extra/notes.txt"]


def test_commands_chain_copy_and_removals():
    p = deploy.plan(BUILD_FILES, ["old/x.mpy"], ["old"])
    args = deploy.commands(p, ["boot.py", "firmware", "lib", "main.py"])
    assert args == [
        *("fs", "cp", "-r", "boot.py", "firmware", "lib", "main.py", ":"),
        *("+", "fs", "rm", ":old/x.mpy"),
        *("+", "fs", "rmdir", ":old"),
    ]


def test_listing_script_runs_on_micropython(tmp_path):
    # The script mpremote runs on the board, run here on the unix port over a fake filesystem.
    (tmp_path / "lib" / "tic").mkdir(parents=True)
    (tmp_path / "lib" / "tic" / "parser.mpy").write_bytes(b"M" * 10)
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "main.py").write_text("pass\n")
    script = deploy.LIST_SCRIPT % (str(tmp_path) + "/")
    result = upy.run(["-c", script], upy.micropypath(), cwd=None, timeout=60)
    assert result.returncode == 0, result.stderr
    files, dirs = deploy.parse_listing(result.stdout)
    assert files == ["config.json", "lib/tic/parser.mpy", "main.py"]
    assert dirs == ["lib", "lib/tic"]
