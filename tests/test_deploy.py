"""tools/deploy.py without a board: the plan against fake board listings, the listing script
on the unix port (with the firmware's host HAL for the watchdog), and the mpremote sessions
main() runs, with mpremote (the USB link to the board) replaced by a recorder."""

from pathlib import Path

import deploy
import pytest

import upy

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


def test_plan_removes_ota_updates_so_the_deployed_image_runs():
    board = ["app.json", "app_a/firmware/app.mpy", "app_a/www/index.html.gz", "config.json"]
    p = deploy.plan(BUILD_FILES, board, ["app_a", "app_a/firmware", "app_a/www"])
    assert p["remove"] == ["app.json", "app_a/firmware/app.mpy", "app_a/www/index.html.gz"]
    assert p["rmdir"] == ["app_a/firmware", "app_a/www", "app_a"]
    assert p["keep"] == ["config.json"]


def test_plan_removes_pages_the_build_no_longer_has():
    board = ["www/old.html", "www/old.html.gz", "config.json"]
    p = deploy.plan(BUILD_FILES + ["www/index.html"], board, ["www"])
    assert p["remove"] == ["www/old.html", "www/old.html.gz"]
    assert p["rmdir"] == [] and p["keep"] == ["config.json"]


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
    script = deploy.LIST_SCRIPT % (str(tmp_path) + "/", 0)
    result = upy.run(["-c", script], upy.micropypath(), cwd=None, timeout=60)
    assert result.returncode == 0, result.stderr
    files, dirs = deploy.parse_listing(result.stdout)
    assert files == ["config.json", "lib/tic/parser.mpy", "main.py"]
    assert dirs == ["lib", "lib/tic"]
    assert deploy.parse_watchdog(result.stdout) is None  # not asked


def _listing(tmp_path, prelude="", path=None, after=""):
    (tmp_path / "main.py").write_text("pass\n")
    script = prelude + deploy.LIST_SCRIPT % (str(tmp_path) + "/", deploy.STRETCH_MS) + after
    result = upy.run(["-c", script], path or upy.source_path(), cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_listing_stretches_only_a_running_watchdog(tmp_path):
    # The firmware's HAL (host side on the unix port) with no watchdog started: none armed.
    out = _listing(tmp_path)
    assert deploy.parse_watchdog(out) == "none"
    assert deploy.parse_listing(out)[0] == ["main.py"]


def test_listing_stretches_the_firmware_watchdog(tmp_path):
    # As in a session resumed after the firmware started its watchdog and was interrupted.
    prelude = "from firmware import hal\nw = hal.watchdog(5000)\n"
    out = _listing(tmp_path, prelude, after="print('T', w.timeout_ms)\n")
    assert deploy.parse_watchdog(out) == "stretched"
    assert "T 1800000" in out.splitlines()


def test_listing_without_the_firmware_says_why(tmp_path):
    out = _listing(tmp_path, path=upy.micropypath())  # no firmware/ on the path
    state = deploy.parse_watchdog(out)
    assert state.startswith("error") and "ImportError" in state
    assert "deploy again" in deploy.watchdog_note(state)


def test_watchdog_notes():
    assert "30 min" in deploy.watchdog_note("stretched")
    assert "none armed" in deploy.watchdog_note("none")
    assert "dry run" in deploy.watchdog_note(None)


class _Board:
    """Stands in for mpremote (the USB link): records each session's arguments."""

    def __init__(self, listing):
        self.listing = listing
        self.sessions = []
        self.copied = None  # the files under the copy session's folder, when it was a stage

    def __call__(self, port, *args, capture=False, cwd=None):
        self.sessions.append((port, args))
        if cwd is not None:
            self.copied = deploy.build_files(Path(cwd))
        return self.listing if capture else None


def _main(monkeypatch, tmp_path, argv, listing, board=None):
    build = tmp_path / "build"
    (build / "firmware").mkdir(parents=True)
    (build / "lib").mkdir(parents=True)
    (build / "main.py").write_text("pass\n")
    (build / "firmware" / "app.mpy").write_bytes(b"M")
    (build / "lib" / "log.mpy").write_bytes(b"M")
    (build / "lib" / "ha_tpl.bin").write_bytes(b"T")
    board = board or _Board(listing)
    monkeypatch.setattr(deploy, "BUILD", build)
    monkeypatch.setattr(deploy, "mpremote", board)
    deploy.main(["--port", "/dev/ttyX", *argv])
    return board.sessions


def test_deploy_sessions(monkeypatch, tmp_path, capsys):
    listing = "W stretched\nF 10 main.py\nF 3 firmware/old.py\nD firmware\n"
    sessions = _main(monkeypatch, tmp_path, [], listing)
    (port, first), (_, copy), (_, last) = sessions
    assert port == "/dev/ttyX"
    # No soft reset before the listing: the firmware's HAL must still know its watchdog.
    assert first[:2] == ("resume", "exec") and "STRETCH_MS = 1800000" in first[2]
    assert copy[:3] == ("fs", "cp", "-r") and ":firmware/old.py" in copy
    assert last == ("reset",)
    out = capsys.readouterr().out
    assert "allows 30 min" in out and "remove  :firmware/old.py" in out


def test_dry_run_stretches_nothing_and_copies_nothing(monkeypatch, tmp_path, capsys):
    sessions = _main(monkeypatch, tmp_path, ["--dry-run"], "F 10 main.py\n")
    ((_, first),) = sessions
    assert first[:2] == ("resume", "exec") and "STRETCH_MS = 0" in first[2]
    assert "not touched" in capsys.readouterr().out


def test_no_reset_warns_of_the_stretched_watchdog(monkeypatch, tmp_path, capsys):
    sessions = _main(monkeypatch, tmp_path, ["--no-reset"], "W stretched\nF 10 main.py\n")
    assert [s[1][0] for s in sessions] == ["resume", "fs"]
    assert "resets the board in 30 min" in capsys.readouterr().out


# --image: the board runs the linky image (lib/ and firmware/ frozen into MicroPython).

IMAGE_BUILD = [*BUILD_FILES, "lib/ha_tpl.bin", "lib/tic/parser.mpy", "www/index.html.gz"]


def test_image_plan_copies_no_module_and_removes_those_on_the_board():
    board = [
        "boot.py",
        "config.json",
        "firmware/__init__.mpy",  # a cable deploy's modules: imported before the frozen ones
        "firmware/app.mpy",
        "firmware/hal/esp32.mpy",
        "lib/ha_tpl.bin",
        "lib/log.py",
        "lib/tic/parser.mpy",
        "main.py",
        "webrepl_cfg.py",
    ]
    dirs = ["firmware", "firmware/hal", "lib", "lib/tic"]
    p = deploy.plan(IMAGE_BUILD, board, dirs, image=True)
    assert p["copy"] == ["boot.py", "lib/ha_tpl.bin", "main.py", "www/index.html.gz"]
    assert p["remove"] == [
        "firmware/__init__.mpy",
        "firmware/app.mpy",
        "firmware/hal/esp32.mpy",
        "lib/log.py",
        "lib/tic/parser.mpy",
    ]
    assert p["rmdir"] == ["firmware/hal", "lib/tic", "firmware"]  # lib/ keeps ha_tpl.bin
    assert p["keep"] == ["config.json", "webrepl_cfg.py"]
    # without --image nothing changes: every module is copied, none removed
    p = deploy.plan(IMAGE_BUILD, board, dirs)
    assert p["copy"] == sorted(IMAGE_BUILD)
    assert p["remove"] == ["firmware/hal/esp32.mpy", "lib/log.py"]


def test_image_plan_on_a_freshly_flashed_board():
    p = deploy.plan(IMAGE_BUILD, [], [], image=True)
    assert p == {
        "copy": ["boot.py", "lib/ha_tpl.bin", "main.py", "www/index.html.gz"],
        "remove": [],
        "rmdir": [],
        "keep": [],
    }


def _image_check(package, path, prelude=""):
    code = prelude + "import sys\nP = list(sys.path)\nM = sorted(sys.modules)\n"
    code += deploy.IMAGE_SCRIPT % package
    code += "print('P', sys.path == P, sorted(sys.modules) == M)\n"
    result = upy.run(["-c", code], path, cwd=None, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "P True True" in result.stdout.splitlines()  # sys.path and sys.modules as found
    return deploy.parse_image(result.stdout)


def test_image_check_runs_on_micropython():
    # The unix port has asyncio frozen in, as the linky image has firmware; its firmware
    # package comes from files here, as on a board with a stock MicroPython.
    assert _image_check("asyncio", upy.source_path()) is True
    assert _image_check("firmware", upy.source_path()) is False
    # already loaded from files (a board interrupted by mpremote): still not frozen
    assert _image_check("firmware", upy.source_path(), "import firmware\n") is False
    assert _image_check("asyncio", upy.source_path(), "import asyncio\n") is True
    assert deploy.parse_image("F 1 main.py\n") is None  # not asked


def test_deploy_image_copies_a_stage_without_modules(monkeypatch, tmp_path, capsys):
    listing = "W stretched\nF 10 main.py\nF 3 firmware/app.mpy\nD firmware\nI frozen\n"
    board = _Board(listing)
    sessions = _main(monkeypatch, tmp_path, ["--image"], listing, board)
    (_, first), (_, copy), (_, last) = sessions
    assert first[:2] == ("resume", "exec") and first[2].endswith(deploy.IMAGE_SCRIPT % "firmware")
    assert copy == (
        *("fs", "cp", "-r", "lib", "main.py", ":"),
        *("+", "fs", "rm", ":firmware/app.mpy"),
        *("+", "fs", "rmdir", ":firmware"),
    )
    assert board.copied == ["lib/ha_tpl.bin", "main.py"]  # what `cp -r lib` found: no .mpy
    assert last == ("reset",)
    assert "but its .mpy" in capsys.readouterr().out


def test_deploy_image_refuses_a_board_without_the_image(monkeypatch, tmp_path):
    board = _Board("F 10 main.py\nI none\n")
    with pytest.raises(SystemExit) as e:
        _main(monkeypatch, tmp_path, ["--image"], None, board)
    assert "does not run the linky image" in str(e.value.code)
    assert [s[1][0] for s in board.sessions] == ["resume"]  # listed, changed nothing


def test_without_image_the_listing_does_not_ask(monkeypatch, tmp_path):
    sessions = _main(monkeypatch, tmp_path, ["--dry-run"], "F 10 main.py\n")
    assert "frozen" not in sessions[0][1][2]
