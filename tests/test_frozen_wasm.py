"""tools/frozen_wasm.py: the WebAssembly port built with the firmware frozen in, for
tools/mem32.py --mjs. The build itself needs a MicroPython v1.27.0 source tree, which CI cannot
download: docs/design/frozen-image.md has how it was run and what it measured. Here, what runs
without one: the rewrite of the port's JavaScript library for Debian's emscripten 3.1.6, the
source tree's checks, the staged tree (ESP32 HAL selected, nothing but code), and
tools/mem32.py taking the port from a file (the npm package's own, so the same figures)."""

import frozen_wasm
import mem32
import pytest

# A JavaScript library in the shape emscripten reads (written for this test).
LIBRARY = """mergeInto(LibraryManager.library, {
    // a comment
    one__postset: "var ONE_START = 1",

    one: () => ONE_START + 1,

    two: () => {
        if (ENVIRONMENT_IS_NODE) {
            return [1, 2].map((x) => x * 2);
        }
    },

    three: () =>
        globalThis.crypto.getRandomValues(new Uint32Array(1))[0],
});
"""


def test_library_entries_become_functions():
    js = frozen_wasm.function_library(LIBRARY)
    assert "one: function() { return ONE_START + 1; }," in js
    assert "two: function() {\n        if (ENVIRONMENT_IS_NODE) {" in js
    assert "(x) => x * 2" in js  # inside a function body: left as it is
    assert "three: function() { return globalThis.crypto.getRandomValues(" in js
    assert js.count("=>") == 1
    assert frozen_wasm.function_library(js) == js  # once is enough


def _tree(tmp_path, version=(1, 27, 0), lib=True):
    d = tmp_path / "mp"
    (d / "py").mkdir(parents=True)
    (d / "py" / "mpconfig.h").write_text(
        "".join(
            "#define MICROPY_VERSION_%s %d\n" % kv
            for kv in zip(("MAJOR", "MINOR", "MICRO"), version)
        )
    )
    if lib:
        (d / "lib" / "micropython-lib").mkdir(parents=True)
        (d / "lib" / "micropython-lib" / "README.md").write_text("x")
    return d


def test_the_source_tree_is_checked(tmp_path):
    frozen_wasm.check_tree(_tree(tmp_path))
    with pytest.raises(frozen_wasm.FrozenWasmError, match="not a MicroPython source tree"):
        frozen_wasm.check_tree(tmp_path / "nothing")


@pytest.mark.parametrize(
    "kw, match",
    [({"version": (1, 28, 0)}, "is MicroPython 1.28.0; the harness is 1.27.0"),
     ({"lib": False}, "micropython-lib is empty")],
)  # fmt: skip
def test_a_wrong_source_tree_is_refused(tmp_path, kw, match):
    with pytest.raises(frozen_wasm.FrozenWasmError, match=match):
        frozen_wasm.check_tree(_tree(tmp_path, **kw))


def test_the_staged_tree_has_the_esp32_hal_and_only_code(tmp_path):
    src = tmp_path / "frozen"
    (src / "firmware" / "hal").mkdir(parents=True)
    (src / "firmware" / "app.mpy").write_bytes(b"M")
    (src / "manifest.py").write_text("freeze('x')")
    frozen_wasm.stage_tree(src, tmp_path / "stage")
    files = sorted(p.relative_to(tmp_path / "stage").as_posix()
                   for p in (tmp_path / "stage").rglob("*") if p.is_file())  # fmt: skip
    assert files == ["firmware/app.mpy", "firmware/hal/__init__.mpy"]
    # the HAL's source name is its path, as the freezer needs; its branch is the ESP32's
    hal = (tmp_path / "stage" / "firmware" / "hal" / "__init__.mpy").read_bytes()
    assert hal.startswith(b"M") and b"firmware/hal/__init__.py" in hal
    assert "from firmware.hal import esp32 as _impl" in mem32.hal_source()


@pytest.mark.slow
def test_mem32_takes_the_port_from_a_file(monkeypatch):
    """--mjs: the harness imports the port from a file and puts the image's data files in the
    current folder (where frozen modules look for them); with the npm package's own file, the
    figures are those of the npm package."""
    run = dict(frames=20, first=20, modes=("standard",), unix=False)
    a = mem32.measure(**run)["modes"]["standard"]["bits32"]
    mjs = mem32.NPM_DIR / "node_modules" / "@micropython" / "micropython-webassembly-pyscript"
    monkeypatch.setattr(mem32, "MJS", mjs / "micropython.mjs")
    b = mem32.measure(**run)["modes"]["standard"]["bits32"]
    assert b["steady"] == a["steady"] and b["imports"] == a["imports"]
