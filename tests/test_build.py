"""The device image (`make build` -> build/device/). The deploy plan: tests/test_deploy.py."""

import gzip
import os
import subprocess
import sys

import deploy
import pytest

import build as build_tool
import qstr_names
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
            if src.relative_to(ROOT).as_posix() not in build_tool.HOST_ONLY:
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


def test_host_only_modules_stay_out_and_the_ha_templates_are_current(built):
    import ha_gen

    for rel in build_tool.HOST_ONLY:
        assert (ROOT / rel).is_file(), rel
        assert not (built / rel).with_suffix(".mpy").exists(), rel
    assert (built / build_tool.HA_TEMPLATES).read_bytes() == ha_gen.generate()


def test_boot_and_main_stay_source(built):
    for name in ("boot.py", "main.py"):
        assert (built / name).read_bytes() == (ROOT / name).read_bytes()


def _pages():
    return sorted(p.name for p in (ROOT / "firmware" / "www").iterdir() if p.is_file())


def test_build_holds_nothing_else(built):
    expected = {"boot.py", "main.py"} | {str(m.with_suffix(".mpy")) for m in _device_modules()}
    expected |= {"www/" + n for n in _pages()} | {"www/%s.gz" % n for n in _pages()}
    expected.add(build_tool.HA_TEMPLATES)  # tools/ha_gen.py's discovery templates
    assert set(deploy.build_files(built)) == expected


def test_pages_are_copied_with_a_gzip_copy(built):
    names = _pages()
    assert {"index.html", "config.html", "login.html", "app.css", "app.js"} <= set(names)
    for n in names:
        src = (ROOT / "firmware" / "www" / n).read_bytes()
        assert (built / "www" / n).read_bytes() == src
        gz = (built / "www" / (n + ".gz")).read_bytes()
        assert gzip.decompress(gz) == src
        # no file name, mtime 0 (bytes 4..7), level 9 (XFL 2): the same bytes on every build
        assert gz[:4] == b"\x1f\x8b\x08\x00" and gz[4:8] == bytes(4) and gz[8] == 2, n
        assert gz == build_tool.gzip_bytes(src)


def test_a_stale_page_output_is_removed(built):
    stale = built / "www" / "gone.html"
    stale_gz = built / "www" / "gone.html.gz"
    stale.write_text("<p>old</p>")
    stale_gz.write_bytes(build_tool.gzip_bytes(b"<p>old</p>"))
    subprocess.run([sys.executable, "tools/build.py"], cwd=ROOT, check=True, capture_output=True)
    assert not stale.exists() and not stale_gz.exists()
    assert (built / "www" / "index.html.gz").is_file()


def test_www_sources_skip_hidden_and_backup_files(tmp_path):
    src = tmp_path / "www"
    (src / "sub").mkdir(parents=True)
    for name in ("a.html", ".a.html.swp", "b.css~", "sub/c.js"):
        (src / name).write_text("x")
    out = tmp_path / "out"
    got = [(s.relative_to(src).as_posix(), d) for s, d in build_tool.www_sources(src, out)]
    assert got == [("a.html", out / "a.html"), ("sub/c.js", out / "sub" / "c.js")]


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


# The frozen tree (build/frozen/): the same modules, named for MicroPython's freezer.

FROZEN = build_tool.FROZEN


def _source_name(data):
    return qstr_names.mpy_qstrs(data)[0][0]


def _frozen_modules():
    """{frozen tree path: device module} for every module build/device has as .mpy, except
    those a board never imports."""
    out = {}
    for rel in _device_modules():
        p = rel.as_posix()
        if p in build_tool.NOT_ON_BOARD:
            continue
        out[(p[4:] if p.startswith("lib/") else p)[:-3] + ".mpy"] = rel
    return out


def test_frozen_tree_holds_every_device_module_by_its_import_path(built):
    mods = _frozen_modules()
    assert mods["tic/parser.mpy"].as_posix() == "lib/tic/parser.py"
    assert mods["mqtt.mpy"].as_posix() == "lib/mqtt.py"
    assert mods["firmware/app.mpy"].as_posix() == "firmware/app.py"
    # the same set as build/device's .mpy but the modules a board never imports (the
    # simulator's HAL, CPython fallbacks...), nothing else but the two manifests
    device = {f for f in deploy.build_files(built) if f.endswith(".mpy")}
    never = {p[:-3] + ".mpy" for p in build_tool.NOT_ON_BOARD}
    assert never <= device and "firmware/hal/host.py" in build_tool.NOT_ON_BOARD
    assert {str(m.with_suffix(".mpy")) for m in mods.values()} == device - never
    assert set(deploy.build_files(FROZEN)) == set(mods) | {"linky.py", "manifest.py"}
    for rel in build_tool.HOST_ONLY:  # lib/ha.py, lib/ha_keys.py
        name = rel[len("lib/") : -3]
        assert not (FROZEN / (name + ".mpy")).exists() and not (FROZEN / (name + ".py")).exists()


def test_frozen_modules_are_named_by_their_import_path(built):
    for path, rel in _frozen_modules().items():
        data = (FROZEN / path).read_bytes()
        names, end = qstr_names.mpy_qstrs(data)
        assert names[0] == path[:-4] + ".py", path
        # build/device's copy differs only in that name (its stem): same renames, same code
        dev = (built / rel.with_suffix(".mpy")).read_bytes()
        dev_names, dev_end = qstr_names.mpy_qstrs(dev)
        # (a package's "__init__" is one of MicroPython's own names: a static qstr)
        assert dev_names[0] == (None if rel.stem == "__init__" else rel.stem), rel
        if rel.stem in names:  # the module names itself (sys.modules.pop("httpd_hold")):
            # one qstr more than build/device's, which shares it with the source name
            assert names[1:].count(rel.stem) == 1 and set(names[1:]) == set(dev_names)
        else:
            assert names[1:] == dev_names[1:] and data[end:] == dev[dev_end:], path


def test_frozen_tree_imports_and_tracebacks_name_the_import_path(built, tmp_path):
    # The tree is laid out as the board's sys.path sees frozen modules; the unix port loads it
    # as files, and a traceback shows the source name the freezer uses as the module's name.
    # (Nothing that imports the HAL: the tree has the ESP32's only, the unix port picks the
    # host's.)
    code = (
        "import firmware.boards as b, firmware.readings, firmware.state_json, tic.parser\n"
        "import mqtt, log, sys\n"
        "try:\n"
        "    b.profile(None)\n"
        "except ValueError as e:\n"
        "    sys.print_exception(e)\n"
    )
    path = upy.micropypath(FROZEN)
    result = upy.run(["-c", code], path, cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    assert 'File "firmware/boards.py", line ' in result.stdout, result.stdout


def _run_manifest(path):
    """Executes a MicroPython manifest with freeze() and include() recording their calls."""
    calls = []
    env = {
        "freeze": lambda path, script=None, opt=None: calls.append(("freeze", path, script)),
        "include": lambda manifest, **kw: calls.append(("include", manifest)),
        "require": lambda name, **kw: calls.append(("require", name)),
    }
    exec(compile(path.read_text(), str(path), "exec"), env)  # our own output
    return calls


def test_manifests_freeze_the_tree_with_absolute_paths(built):
    calls = _run_manifest(FROZEN / "linky.py")
    assert {c[0] for c in calls} == {"freeze"}
    assert {c[1] for c in calls} == {str(FROZEN)} and FROZEN.is_absolute()
    scripts = [c[2] for c in calls]
    assert sorted(scripts) == sorted(_frozen_modules())  # each module once, no manifest
    # the image's manifest: what the firmware uses of the ESP32 board's own (its modules,
    # asyncio, ssl, webrepl), then the linky modules
    assert _run_manifest(FROZEN / "manifest.py") == [
        ("freeze", "$(PORT_DIR)/modules", None),
        ("include", "$(MPY_DIR)/extmod/asyncio"),
        ("require", "ssl"),
        ("require", "webrepl"),
        ("include", str(FROZEN / "linky.py")),
    ]


def _mtime(path):
    return path.stat().st_mtime_ns


def test_frozen_tree_is_rebuilt_incrementally(built):
    old = 1_000_000_000  # 2001: older than any source
    log_mpy, mqtt_mpy, linky = FROZEN / "log.mpy", FROZEN / "mqtt.mpy", FROZEN / "linky.py"
    os.utime(log_mpy, (old, old))
    os.utime(linky, (old, old))
    kept = _mtime(mqtt_mpy), _mtime(built / "lib" / "log.mpy")
    (FROZEN / "gone.mpy").write_bytes(b"M\x06")
    (FROZEN / "old" / "pkg").mkdir(parents=True)
    (FROZEN / "old" / "pkg" / "x.mpy").write_bytes(b"M\x06")
    subprocess.run([sys.executable, "tools/build.py"], cwd=ROOT, check=True, capture_output=True)
    assert _mtime(log_mpy) > old * 10**9  # its source is newer: rebuilt
    assert _source_name(log_mpy.read_bytes()) == "log.py"
    assert (_mtime(mqtt_mpy), _mtime(built / "lib" / "log.mpy")) == kept  # the rest: not
    assert _mtime(linky) == old * 10**9  # same text: not rewritten
    assert not (FROZEN / "gone.mpy").exists() and not (FROZEN / "old").exists()
    # a manifest edited by hand is written again
    (FROZEN / "manifest.py").write_text("# edited\n")
    subprocess.run([sys.executable, "tools/build.py"], cwd=ROOT, check=True, capture_output=True)
    assert "include(" in (FROZEN / "manifest.py").read_text()
