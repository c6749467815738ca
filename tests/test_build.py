"""The device image (`make build` -> build/device/). The deploy plan: tests/test_deploy.py."""

import gzip
import subprocess
import sys

import deploy
import pytest

import build as build_tool
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
