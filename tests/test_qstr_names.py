"""The names (qstrs) a board interns for the firmware: tools/qstr_names.py and its pool model.

A board keeps run-time names in pools of 20, 40, 80... entries (py/qstr.c, MicroPython 1.27);
past 1,260 names a pool of 1,280 entries (9 KB) is added for good. docs/design/qstr-pools.md.
"""

import json
import subprocess
import sys

import pytest

import qstr_names
import upy

PKG = upy.ROOT / "tools" / "mem32" / "node_modules" / "@micropython"
WASM = PKG / "micropython-webassembly-pyscript" / "micropython.mjs"


@pytest.fixture(scope="module")
def built():
    subprocess.run([sys.executable, "tools/build.py"], cwd=upy.ROOT, check=True,
                   capture_output=True)  # fmt: skip
    return upy.BUILD


def test_the_reader_finds_a_module_s_names(tmp_path):
    src = tmp_path / "m.py"
    src.write_text(
        "ZQ_CONST = 1\n\ndef zq_function(zq_arg):\n    return zq_arg.zq_attr + 'zq str'\n"
    )
    out = tmp_path / "m.mpy"
    subprocess.run([str(upy.MPY_CROSS), "-s", "zq_mod", "-o", str(out), str(src)], check=True)
    names = qstr_names.mpy_names(out.read_bytes())
    for n in ("zq_mod", "ZQ_CONST", "zq_function", "zq_arg", "zq_attr", "zq str"):
        assert n in names, (n, names)
    with pytest.raises(ValueError):
        qstr_names.mpy_names(b"not an mpy")


def test_import_names_follow_the_board_s_paths():
    from pathlib import Path

    assert qstr_names._import_names(Path("lib/tic/parser.mpy")) == [
        "/lib/tic/parser.mpy", "tic", "tic", "tic.parser", "parser"]  # fmt: skip
    assert qstr_names._import_names(Path("firmware/__init__.mpy"))[:3] == [
        "firmware/__init__.mpy", "firmware", "firmware"]  # fmt: skip


def test_the_esp32_names_hold_the_fixed_list_and_the_frozen_asyncio():
    held = qstr_names.esp32_names()
    for n in ("__init__", "append", "WLAN", "sleep_ms", "create_task", "<module>"):
        assert n in held, n
    assert "linky" not in held and "on_frame" not in held


def test_pool_model():
    assert qstr_names.pool_sizes(0) == []
    assert qstr_names.pool_sizes(20) == [20]
    assert qstr_names.pool_sizes(21) == [20, 40]
    assert sum(qstr_names.pool_sizes(1260)) == 1260 and len(qstr_names.pool_sizes(1260)) == 6
    assert qstr_names.pool_sizes(1261)[-1] == 1280
    # 24 + 7 * 1280, in whole 16-byte blocks
    assert qstr_names.pool_bytes(1261) - qstr_names.pool_bytes(1260) == 8992


def test_the_pool_model_matches_micropython_1_27_built_32_bit():
    """The WebAssembly port (32-bit, MicroPython 1.27, asyncio frozen as on an ESP32) opens a
    new pool exactly where pool_sizes() says, whatever it held at start."""
    code = (
        "import micropython\n"
        "class O: pass\n"
        "o = O()\n"
        "for i in range(1400):\n"
        "    setattr(o, 'zq%d' % i, 1)\n"
        "    micropython.qstr_info()\n"
    )
    js = (
        "const { loadMicroPython } = await import(process.argv[1]);\n"
        "const out = [];\n"
        "const mp = await loadMicroPython({ heapsize: 1 << 20, stdout: (l) => out.push(l) });\n"
        "mp.runPython(process.argv[2]);\n"
        "console.log(JSON.stringify(out));\n"
    )
    import mem32

    mem32.ensure_npm()  # the pinned package, as the 32-bit harness uses
    r = subprocess.run(["node", "--input-type=module", "-e", js, WASM.as_uri(), code],
                       capture_output=True, text=True, check=True, timeout=120)  # fmt: skip
    import re

    seen = {}  # n_pool -> the first n_qstr with that many pools
    for line in json.loads(r.stdout):
        m = re.search(r"n_pool=(\d+), n_qstr=(\d+)", line)
        if m:
            seen.setdefault(int(m.group(1)), int(m.group(2)))
    for pools, n in seen.items():
        if n > 0:
            assert len(qstr_names.pool_sizes(n)) == pools, (pools, n, seen)
            # one name fewer fits in one pool fewer
            assert len(qstr_names.pool_sizes(n - 1)) == pools - 1 or n == min(seen.values())
    assert max(seen) >= 7  # the 1,280-entry pool was reached


def test_host_only_modules_are_not_imported_by_the_device():
    """HOST_ONLY's modules are in build/device but nothing on the device imports them."""
    import re

    for rel in qstr_names.HOST_ONLY:
        mod = rel[: -len(".mpy")].removeprefix("lib/").replace("/", ".")
        short = mod.rpartition(".")[2]
        pat = re.compile(r"^\s*(import %s\b|from %s import)|from %s import[^\n]*\b%s\b" % (
            re.escape(mod), re.escape(mod), re.escape(mod.rpartition(".")[0] or "-"),
            re.escape(short)), re.M)  # fmt: skip
        for src in list((upy.ROOT / "firmware").rglob("*.py")) + list(
            (upy.ROOT / "lib").rglob("*.py")
        ):
            rel = "%s/%s.mpy" % (src.parent.relative_to(upy.ROOT), src.stem)
            if rel in qstr_names.HOST_ONLY:
                continue
            if (src.name, mod) == ("labels.py", "tic.label_rows"):
                continue  # its module __getattr__, which only host code and tests reach
            text = src.read_text()
            for m in pat.finditer(text):
                # allowed: a CPython fallback (the device takes the other branch)
                before = "\n".join(text[: m.start()].rsplit("\n", 4)[1:])
                host = ("except ImportError", "not _MP", "CPython", 'platform == "esp32"',
                        'PLATFORM == "host"')  # fmt: skip
                assert any(w in before for w in host), (src, mod, before)


# Names made at run time, which no .mpy table shows: one-character strings from indexing or
# iterating a str, names given to setattr(). The harness's dump has about 60 (some may be its
# own): leave them room below the cliff.
RUN_TIME_ROOM = 60


def test_every_name_fits_in_six_pools(built):
    """Every module a board can load, plus room for the names made at run time, stays under
    the 1,260 names six pools hold (2026-12-02: 1,096 with tools/short_names.py, 1,232
    without): a board never adds the 9 KB pool."""
    r = qstr_names.report(built)
    assert r["names"] + RUN_TIME_ROOM <= 1260, r


def test_board_share_of_a_harness_dump(tmp_path):
    """A harness's dump: its /flash paths become the board's, names the ESP32 holds and names
    only the fakes or the harness itself make are dropped, one-character names are kept."""
    dev = tmp_path / "device" / "lib"
    dev.mkdir(parents=True)
    for name, src in (("device/lib/zq.py", "def zq_fn(): return zq_attr\n"),
                      ("fake.py", "def zq_fake(): return zq_attr\n")):  # fmt: skip
        p = tmp_path / name
        p.write_text(src)
        out = p.with_suffix(".mpy")
        subprocess.run([str(upy.MPY_CROSS), "-s", p.name, "-o", str(out), str(p)], check=True)
        p.unlink()
    dump = ["zq_fn", "zq_attr", "zq_fake", "/flash/lib/zq.mpy", "append", "MEM32 x", "\x01"]
    n, text = qstr_names.board_share(dump, tmp_path / "device", [tmp_path / "fake.mpy"])
    kept = ["zq_fn", "zq_attr", "/lib/zq.mpy", "\x01"]
    assert (n, text) == (len(kept), sum(len(k) + 1 for k in kept))
    assert qstr_names.heap_bytes(n, text) == qstr_names.pool_bytes(n) + 32
