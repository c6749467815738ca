#!/usr/bin/env python3
"""Build MicroPython 1.27's WebAssembly port with the firmware frozen in, for tools/mem32.py.

    python3 tools/frozen_wasm.py --mpy-dir DIR [--tree build/frozen] [--out build/frozen-wasm]

What a board holds with the linky image (lib/ and firmware/ frozen: code and names in flash)
cannot be read from the npm package the harness uses, which can only load `.mpy` files into
the heap. This builds the same port at the same version (the `pyscript` variant, as the npm
package; its frozen standard library kept) with the frozen tree that `make build` writes
(tools/build.py: `.mpy` named by their path), the ESP32 HAL selected as tools/mem32.py
selects it. `tools/mem32.py --mjs OUT/micropython.mjs` then measures it.

Inputs: DIR, a MicroPython v1.27.0 source tree with its lib/micropython-lib submodule (a git
clone: this machine's package sources have none); Debian's emscripten (3.1.6 on bookworm,
installed when missing). That emscripten predates two things the port's sources use, so the
build runs in a shadow of ports/webassembly (links, removed after) where:
  - library.js's JavaScript library functions are written as `function` (3.1.6 emits arrow
    functions as bare expressions);
  - the output module gets, at its top, `require`, `__filename` and `__dirname` (3.1.6's
    ES-module output assumes them) and a `fetch` that is undefined (so the .wasm is read from
    the file system, not fetched).
Checked (2026-12-02): the stock variant built this way gives the npm package's figures within
16 B on every line of `tools/mem32.py --web` (run-to-run noise). Output: OUT/micropython.mjs
and OUT/micropython.wasm. About 40 s on two cores.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import mem32  # its HAL selection

from upy import ROOT

VERSION = "1.27.0"
PORT = "ports/webassembly"
SHADOW = "ports/webassembly-linky"  # beside the port: its Makefile finds the tree by ../..
PRELUDE = (
    'import { createRequire as __linkyRequire } from "module";\n'
    'import { fileURLToPath as __linkyPath } from "url";\n'
    "const require = __linkyRequire(import.meta.url);\n"
    "const __filename = __linkyPath(import.meta.url);\n"
    'const __dirname = __filename.slice(0, __filename.lastIndexOf("/"));\n'
    "const fetch = undefined;\n"
)


class FrozenWasmError(Exception):
    pass


def check_tree(mpy_dir):
    """DIR must be MicroPython v1.27.0 with micropython-lib (the pyscript variant needs it)."""
    h = Path(mpy_dir) / "py" / "mpconfig.h"
    try:
        text = h.read_text(encoding="utf-8")
    except OSError as e:
        raise FrozenWasmError("%s: not a MicroPython source tree (%s)" % (mpy_dir, e)) from e
    found = [
        re.search(r"#define MICROPY_VERSION_%s (\d+)" % k, text)
        for k in ("MAJOR", "MINOR", "MICRO")
    ]
    ver = ".".join(m.group(1) if m else "?" for m in found)
    if ver != VERSION:
        raise FrozenWasmError("%s is MicroPython %s; the harness is %s" % (mpy_dir, ver, VERSION))
    if not (Path(mpy_dir) / "lib" / "micropython-lib" / "README.md").exists():
        raise FrozenWasmError(
            "%s/lib/micropython-lib is empty: run `git submodule update --init "
            "lib/micropython-lib` there" % mpy_dir
        )


def function_library(js):
    """library.js with each `name: () => expr,` / `name: () => {` entry as a function."""
    js = re.sub(r"(\w+): \(\) => \{", r"\1: function() {", js)
    return re.sub(
        r"(\w+): \(\) =>\s*(.+?),\n(?=\s*(?://|\w+:|\}\);))",
        lambda m: "%s: function() { return %s; },\n" % (m.group(1), m.group(2).strip()),
        js,
        flags=re.S,
    )


def stage_tree(tree, dst):
    """The frozen tree with the ESP32 HAL selected (firmware/hal/__init__ as mem32 makes it)."""
    shutil.copytree(tree, dst)
    mem32.select_esp32_hal(dst, "firmware/hal/__init__.py")
    for p in Path(dst).rglob("*"):
        if p.is_file() and p.suffix != ".mpy":
            p.unlink()  # the manifest and anything not code: not frozen


def shadow_port(mpy_dir):
    """A copy of the port made of links, library.js rewritten; removed by the caller."""
    port = Path(mpy_dir) / PORT
    shadow = Path(mpy_dir) / SHADOW
    shutil.rmtree(shadow, ignore_errors=True)
    shadow.mkdir()
    for p in port.iterdir():
        if p.name.startswith("build"):
            continue
        if p.name == "library.js":
            (shadow / p.name).write_text(function_library(p.read_text(encoding="utf-8")))
        else:
            (shadow / p.name).symlink_to(p)
    return shadow


def build(mpy_dir, tree, out):
    check_tree(mpy_dir)
    if not Path(tree, "firmware", "app.mpy").exists():
        raise FrozenWasmError("%s has no firmware/app.mpy: run `make build` first" % tree)
    if shutil.which("emcc") is None:
        subprocess.run(["sh", str(ROOT / "tools" / "ensure_deps.sh"), "emscripten"], check=True)
    out = Path(out).resolve()
    with tempfile.TemporaryDirectory(prefix="linky-frozen-") as tmp:
        stage = Path(tmp) / "tree"
        stage_tree(tree, stage)
        manifest = Path(tmp) / "manifest.py"
        manifest.write_text(
            'include("$(PORT_DIR)/variants/pyscript/manifest.py")\nfreeze(%r)\n' % str(stage)
        )
        shadow = shadow_port(mpy_dir)
        try:
            cmd = ["make", "-C", str(shadow), "-j%d" % (os.cpu_count() or 1), "VARIANT=pyscript",
                   "BUILD=%s" % (out / "obj"), "FROZEN_MANIFEST=%s" % manifest]  # fmt: skip
            r = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if r.returncode:
                raise FrozenWasmError("the port's build failed:\n" + r.stdout[-3000:] + r.stderr)
        finally:
            shutil.rmtree(shadow, ignore_errors=True)
    js = (out / "obj" / "micropython.mjs").read_text(encoding="utf-8")
    (out / "micropython.mjs").write_text(PRELUDE + js, encoding="utf-8")
    shutil.copyfile(out / "obj" / "micropython.wasm", out / "micropython.wasm")
    return out / "micropython.mjs"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mpy-dir", required=True, help="MicroPython v1.27.0 source tree")
    ap.add_argument("--tree", default=str(ROOT / "build" / "frozen"), help="the frozen tree")
    ap.add_argument("--out", default=str(ROOT / "build" / "frozen-wasm"))
    a = ap.parse_args()
    try:
        print(build(a.mpy_dir, a.tree, a.out))
    except FrozenWasmError as e:
        sys.exit("frozen_wasm: %s" % e)


if __name__ == "__main__":
    main()
