"""Which names an ESP32_GENERIC MicroPython image already holds, for tools/qstr_names.py.

    python3 tools/esp32_qstrs.py MICROPYTHON_DIR MICROPYTHON_LIB_DIR [-o FILE]

MICROPYTHON_DIR: a MicroPython checkout at the release users flash (v1.27.0);
MICROPYTHON_LIB_DIR: micropython-lib at the commit of its lib/micropython-lib submodule. Writes
(default tests/fixtures/esp32-v1.27.0-qstrs.txt) two sections of one name per line (with
Python's backslash escapes):
  [rom]     the names compiled into the image: MicroPython's fixed list (py/makeqstrdata.py)
            and every MP_QSTR_ identifier in py/, extmod/, shared/, drivers/ and ports/esp32/
  [frozen]  the names of the modules ESP32_GENERIC freezes (ports/esp32/boards/manifest.py,
            followed through include() and require()), compiled with mpy-cross, minus [rom]
A loaded .mpy does not intern a name the image holds. The frozen pool's size F sets the size
of every pool of names made at run time (py/qstr.c: 2F, then doubling): docs/design/qstr-pools.md.
Counting all of extmod/ as compiled overstates [rom] by the few modules the ESP32 build leaves
out (lwIP, other network drivers, OpenAMP): about 5 names of 407 frozen ones.
Needs mpy-cross (the venv's) and Python 3; runs in a few seconds.
"""

import argparse
import importlib.util
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "esp32-v1.27.0-qstrs.txt"
C_DIRS = ("py", "extmod", "shared", "drivers", "ports/esp32")
PACKAGE_TOPS = ("micropython", "python-stdlib", "python-ecosys")


def _load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def rom_names(mp):
    """The names compiled into the image (identifiers, plus MicroPython's fixed list as is)."""
    sys.path.insert(0, str(mp / "py"))
    mq = _load(mp / "py" / "makeqstrdata.py", "makeqstrdata")
    names = set(mq.static_qstr_list)
    for d in C_DIRS:
        for f in (mp / d).rglob("*"):
            if f.suffix in (".c", ".h") and f.is_file():
                text = f.read_text(errors="ignore")
                names.update(re.findall(r"MP_QSTR_(\w+)", text))
                if "qstrdefs" in f.name:  # Q(name) lines
                    names.update(m for m in re.findall(r"^Q\((\w+)\)$", text, re.M))
    return names


class Manifest:
    """Just enough of MicroPython's manifest language to list the files a board freezes."""

    def __init__(self, mp, lib):
        self.mp, self.lib = mp, lib
        self.files = []  # (source path, name in the image)
        self.required = set()

    def _package_dir(self, name):
        for top in PACKAGE_TOPS:
            for m in (self.lib / top).rglob("manifest.py"):
                if m.parent.name == name:
                    return m.parent
        raise SystemExit("micropython-lib has no package %r" % name)

    def run(self, path):
        here = path.parent

        def module(f, base_path=".", **_):
            self.files.append((here / base_path / f, f))

        def package(name, files=None, base_path=".", **_):
            root = here / base_path
            if files:
                for f in files:
                    self.files.append((root / name / f, name + "/" + f))
            else:
                for p in sorted((root / name).rglob("*.py")):
                    self.files.append((p, str(p.relative_to(root))))

        def require(name, **_):
            if name not in self.required:
                self.required.add(name)
                self.run(self._package_dir(name) / "manifest.py")

        def include(p):
            p = Path(p)
            self.run(p if p.suffix == ".py" else p / "manifest.py")

        def freeze(p, *_, **__):
            for f in sorted(Path(p).glob("*.py")):
                self.files.append((f, f.name))

        src = path.read_text().replace("$(PORT_DIR)", str(self.mp / "ports" / "esp32"))
        src = src.replace("$(MPY_DIR)", str(self.mp))
        env = {"module": module, "package": package, "require": require, "include": include,
               "freeze": freeze, "metadata": lambda *a, **k: None,
               "options": lambda *a, **k: None}  # fmt: skip
        exec(compile(src, str(path), "exec"), env)


def frozen_names(mp, lib, rom):
    """The names of ESP32_GENERIC's frozen modules that are not in `rom`."""
    man = Manifest(mp, lib)
    man.run(mp / "ports" / "esp32" / "boards" / "manifest.py")
    sys.path.insert(0, str(mp / "py"))
    tool = _load(mp / "tools" / "mpy-tool.py", "mpy_tool")
    tool.global_qstrs = tool.GlobalQStrList()
    mpy_cross = ROOT / ".venv" / "bin" / "mpy-cross"
    names = set()
    with tempfile.TemporaryDirectory() as tmp:
        for i, (src, name) in enumerate(man.files):
            out = os.path.join(tmp, "%d.mpy" % i)
            subprocess.run([str(mpy_cross), "-s", name, "-o", out, str(src)], check=True)
            tool.read_mpy(out)
        for q in tool.global_qstrs.qstrs:
            if q is not None and q.str not in rom:
                names.add(q.str)
    return names, [n for _, n in man.files]


def _line(name):
    # One name per line, backslash escapes (tools/qstr_names.py reads them back).
    return name.encode("unicode_escape").decode("ascii") + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("micropython", type=Path)
    ap.add_argument("micropython_lib", type=Path)
    ap.add_argument("-o", "--out", type=Path, default=OUT)
    a = ap.parse_args()
    rom = rom_names(a.micropython)
    frozen, files = frozen_names(a.micropython, a.micropython_lib, rom)
    with open(a.out, "w") as f:
        f.write("# Names an ESP32_GENERIC MicroPython v1.27.0 image holds: tools/esp32_qstrs.py\n")
        f.write("# frozen modules: %s\n" % " ".join(files))
        f.write("[rom]\n")
        f.writelines(_line(n) for n in sorted(rom))
        f.write("[frozen]\n")
        f.writelines(_line(n) for n in sorted(frozen))
    print("%s: %d rom, %d frozen names (%d files)" % (a.out, len(rom), len(frozen), len(files)))


if __name__ == "__main__":
    main()
