"""Compile the device image into build/device/ with mpy-cross.

Layout on the board mirrors the repository: /boot.py and /main.py stay as source (MicroPython
only runs those two by name), everything under lib/ and firmware/ becomes .mpy, except the
HOST_ONLY modules. Compiling on
the board instead would cost several times the heap of loading the .mpy (measured for microdot:
158 KB vs 41 KB on the unix port). The web pages (firmware/www/) go to www/ (the board's /www)
as they are, each with a gzip copy `<name>.gz` (level 9, mtime 0: reproducible) that the HTTP
server sends to browsers accepting gzip. The Home Assistant discovery templates
(tools/ha_gen.py, from lib/ha.py) go to lib/ha_tpl.bin, where lib/ha_tpl.py reads them;
rewritten only when their bytes change. Stale outputs are removed so `make deploy` mirrors
exactly.
Private names that one device file holds are shortened in its .mpy (tools/short_names.py:
fewer names for the board to intern, lines unchanged); build/short_names.json, beside the
image, maps each file's short names back, for reading a board's traceback.

The frozen tree, build/frozen/, holds the same modules (same renames) compiled again for
freezing into a MicroPython image (`make image`: code and names in flash, not in the heap).
MicroPython's freezer (its tools/mpy-tool.py) names a frozen module after its .mpy's source
name, so each is compiled with its import path as source name, and laid out as the board
imports it: lib/ at the top (lib/tic/parser.py -> tic/parser.mpy, source name
"tic/parser.py"), firmware/ kept (firmware/app.mpy, "firmware/app.py"). build/device's .mpy
carry only the stem ("parser"), which the freezer cannot use. Modules a board never imports
(NOT_ON_BOARD) are left out. Beside them, two MicroPython manifests with absolute paths:
linky.py (one freeze() per module, nothing else: any port's manifest can include it) and
manifest.py (what the firmware uses of the ESP32 port's own board manifest, BOARD_PART, then
linky.py: `make image` passes it as FROZEN_MANIFEST).
"""

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile

from upy import BUILD, MPY_CROSS, ROOT

PACKAGES = ("lib", "firmware")
SOURCES_AS_IS = ("boot.py", "main.py")
WWW = "firmware/www"  # page sources; on the board: /www
HA_TEMPLATES = "lib/ha_tpl.bin"  # tools/ha_gen.py's output, beside lib/ha_tpl.py
# Library modules the board never loads: the discovery payloads' host reference, which
# tools/ha_gen.py runs to write HA_TEMPLATES.
HOST_ONLY = ("lib/ha.py", "lib/ha_keys.py")
SHORT_NAMES = BUILD.parent / "short_names.json"  # {source path: {short name: name}}
FROZEN = BUILD.parent / "frozen"  # the modules again, named for MicroPython's freezer
FROZEN_FREEZE = FROZEN / "linky.py"  # manifest: the freeze() lines only
FROZEN_MANIFEST = FROZEN / "manifest.py"  # manifest: BOARD_PART, then linky.py
# Device modules a board never imports (CPython fallbacks, the simulator's HAL and hooks, host
# tools' helpers): in build/device for the simulator, not in the frozen tree.
NOT_ON_BOARD = ("lib/aio_host.py", "lib/mqtt_host.py", "lib/tic/encode.py", "lib/tic/decode.py",
                "lib/tic/label_rows.py", "lib/tic/label_table.py", "firmware/hal/host.py",
                "firmware/hal/flash_host.py", "firmware/hooks.py")  # fmt: skip
# What the image keeps of the ESP32 port's default manifest (ports/esp32/boards/manifest.py at
# v1.27.0), which a FROZEN_MANIFEST replaces: the port's own modules (_boot.py, the filesystem's
# set-up, machine), asyncio, ssl (MQTT over TLS: lib/mqtt_tls.py) and WebREPL. Left out, as
# the firmware imports none of them: mip, ntptime, requests, urequests, aioespnow, dht,
# ds18x20, neopixel, onewire, umqtt and upysh. The OTA variant's application slot is 1.5 MB
# and the stock image is compiled for size to fit it: every KB frozen counts.
BOARD_PART = (
    'freeze("$(PORT_DIR)/modules")',
    'include("$(MPY_DIR)/extmod/asyncio")',
    'require("ssl")',
    'require("webrepl")',
)


def device_sources():
    for name in SOURCES_AS_IS:
        yield ROOT / name, BUILD / name
    for pkg in PACKAGES:
        for src in sorted((ROOT / pkg).rglob("*.py")):
            rel = src.relative_to(ROOT)
            if rel.as_posix() not in HOST_ONLY:
                yield src, (BUILD / rel).with_suffix(".mpy")
    for src, dst in www_sources(ROOT / WWW, BUILD / "www"):
        yield src, dst
        yield src, dst.with_name(dst.name + ".gz")


def frozen_name(rel):
    """The import path a device module (posix path from the root, "lib/tic/parser.py") has on
    the board, as its frozen source name: lib/ is on sys.path, so dropped ("tic/parser.py");
    firmware/ is a package, so kept ("firmware/app.py")."""
    return rel[len("lib/") :] if rel.startswith("lib/") else rel


def frozen_sources():
    """(source, output, source name) of every module build/device has as .mpy, except those
    a board never imports (NOT_ON_BOARD)."""
    for src, dst in device_sources():
        if dst.suffix == ".mpy" and src.relative_to(ROOT).as_posix() not in NOT_ON_BOARD:
            name = frozen_name(src.relative_to(ROOT).as_posix())
            yield src, (FROZEN / name).with_suffix(".mpy"), name


def manifests(names, tree=FROZEN):
    """{file name: text} of the two manifests freezing the frozen tree's `names` (source
    names, "tic/parser.py")."""
    lines = [
        "# Written by tools/build.py (make build): do not edit. MicroPython manifest: the",
        "# linky modules, each .mpy named by its import path. Include it from a port's manifest.",
    ]
    for n in sorted(names):
        lines.append("freeze(%r, %r)" % (str(tree), n[:-3] + ".mpy"))
    freeze = "\n".join(lines) + "\n"
    manifest = "\n".join(
        [
            "# Written by tools/build.py (make build): do not edit. The linky image's",
            "# FROZEN_MANIFEST for MicroPython's ESP32 port (make image): what the firmware",
            "# uses of the board's own manifest (tools/build.py BOARD_PART), then the linky",
            "# modules.",
            *BOARD_PART,
            "include(%r)" % str(tree / FROZEN_FREEZE.name),
        ]
    )
    return {FROZEN_FREEZE.name: freeze, FROZEN_MANIFEST.name: manifest + "\n"}


def write_if_changed(path, text):
    """Write `text` to `path` unless it holds it already; True when written."""
    try:
        with open(path) as f:
            if f.read() == text:
                return False
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return True


def remove_stale(top, wanted):
    """Remove the files under `top` that are not in `wanted`, then the empty folders."""
    for path in sorted(top.rglob("*"), reverse=True):
        if path.is_file() and path not in wanted:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def www_sources(src_dir, out_dir):
    """(source, output) of each page file under `src_dir` (sorted; hidden files and editor
    backups skipped), the output at the same relative path under `out_dir`."""
    for src in sorted(src_dir.rglob("*")):
        if src.is_file() and not src.name.startswith(".") and not src.name.endswith("~"):
            yield src, out_dir / src.relative_to(src_dir)


def gzip_bytes(data):
    """`data` gzipped at level 9 with mtime 0 and no file name: the same bytes on every run."""
    return gzip.compress(data, compresslevel=9, mtime=0)


def compile_one(src, dst, renames=None, source_name=None):
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.suffix == ".gz":
        dst.write_bytes(gzip_bytes(src.read_bytes()))
        return
    if dst.suffix != ".mpy":  # boot.py, main.py and the pages: as they are
        shutil.copyfile(src, dst)
        return
    # -s: the source name tracebacks show. The module's own name, not its path: the name is
    # interned for good on the board, and a module's name is interned anyway (32-bit
    # harness: about 1 KB less in use; a traceback still says which file and line). A frozen
    # module's is its import path (the freezer's name for it; in flash, not interned).
    rel = str(src.relative_to(ROOT))
    with tempfile.TemporaryDirectory() as tmp:
        path = src
        if renames:
            import short_names

            path = os.path.join(tmp, src.name)
            with open(path, "w") as f:
                f.write(short_names.rename(src.read_text(), renames))
        cmd = [str(MPY_CROSS), "-s", source_name or src.stem, "-o", str(dst), str(path)]
        result = subprocess.run(cmd, check=False, capture_output=True, text=True)
    if result.returncode:
        sys.exit("mpy-cross failed on %s:\n%s" % (rel, result.stderr))


# how files are built: this file and the renaming
_SELF_MTIME = max(os.stat(__file__).st_mtime, os.stat(ROOT / "tools" / "short_names.py").st_mtime)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    import short_names

    wanted = set()
    built = 0
    plan = {str(p.relative_to(ROOT)): r for p, r in short_names.plan(ROOT).items()}
    plan = {k: r for k, r in plan.items() if k not in HOST_ONLY}
    try:
        with open(SHORT_NAMES) as f:
            before = {k: {v: n for n, v in m.items()} for k, m in json.load(f).items()}
    except (OSError, ValueError):
        before = None

    def stale(src, dst, rel):
        return (
            not dst.exists()
            or dst.stat().st_mtime < src.stat().st_mtime
            or dst.stat().st_mtime < _SELF_MTIME  # how files are built may have changed
            or before is None
            or before.get(rel) != plan.get(rel)  # another file now names one of its names
        )

    for src, dst in device_sources():
        wanted.add(dst)
        rel = str(src.relative_to(ROOT))
        if stale(src, dst, rel):
            compile_one(src, dst, plan.get(rel))
            built += 1
            if args.verbose:
                print("built", dst.relative_to(ROOT))
    frozen = set()
    frozen_built = 0
    names = []
    for src, dst, name in frozen_sources():
        frozen.add(dst)
        names.append(name)
        rel = str(src.relative_to(ROOT))
        if stale(src, dst, rel):
            compile_one(src, dst, plan.get(rel), name)
            frozen_built += 1
            if args.verbose:
                print("built", dst.relative_to(ROOT))
    for fname, text in manifests(names).items():
        frozen.add(FROZEN / fname)
        if write_if_changed(FROZEN / fname, text):
            frozen_built += 1
    import ha_gen  # imports lib/ha.py: only when building

    ha = BUILD / HA_TEMPLATES
    wanted.add(ha)
    ha.parent.mkdir(parents=True, exist_ok=True)
    if ha_gen.write(str(ha)):
        built += 1
        if args.verbose:
            print("built", ha.relative_to(ROOT))
    with open(SHORT_NAMES, "w") as f:
        json.dump({k: {v: n for n, v in m.items()} for k, m in sorted(plan.items())}, f,
                  indent=1, sort_keys=True)  # fmt: skip
    # Remove outputs whose source is gone, so the image is exactly the tree.
    remove_stale(BUILD, wanted)
    remove_stale(FROZEN, frozen)
    print("build/device: %d files, %d rebuilt" % (len(wanted), built))
    print("build/frozen: %d modules, %d files rebuilt" % (len(names), frozen_built))


if __name__ == "__main__":
    main()
