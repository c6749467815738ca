"""Compile the device image into build/device/ with mpy-cross.

Layout on the board mirrors the repository: /boot.py and /main.py stay as source (MicroPython
only runs those two by name), everything under lib/ and firmware/ becomes .mpy. Compiling on
the board instead would cost several times the heap of loading the .mpy (measured for microdot:
158 KB vs 41 KB on the unix port). Stale outputs are removed so `make deploy` mirrors exactly.
"""

import argparse
import shutil
import subprocess
import sys

from upy import BUILD, MPY_CROSS, ROOT

PACKAGES = ("lib", "firmware")
SOURCES_AS_IS = ("boot.py", "main.py")


def device_sources():
    for name in SOURCES_AS_IS:
        yield ROOT / name, BUILD / name
    for pkg in PACKAGES:
        for src in sorted((ROOT / pkg).rglob("*.py")):
            rel = src.relative_to(ROOT)
            yield src, (BUILD / rel).with_suffix(".mpy")


def compile_one(src, dst):
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.suffix == ".py":
        shutil.copyfile(src, dst)
        return
    # -s gives tracebacks the device path, not the host one.
    rel = str(src.relative_to(ROOT))
    cmd = [str(MPY_CROSS), "-s", rel, "-o", str(dst), str(src)]
    result = subprocess.run(cmd, check=False, capture_output=True, text=True)
    if result.returncode:
        sys.exit("mpy-cross failed on %s:\n%s" % (rel, result.stderr))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    wanted = set()
    built = 0
    for src, dst in device_sources():
        wanted.add(dst)
        if not dst.exists() or dst.stat().st_mtime < src.stat().st_mtime:
            compile_one(src, dst)
            built += 1
            if args.verbose:
                print("built", dst.relative_to(ROOT))
    # Remove outputs whose source is gone, so the image is exactly the tree.
    for path in sorted(BUILD.rglob("*"), reverse=True):
        if path.is_file() and path not in wanted:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    print("build/device: %d files, %d rebuilt" % (len(wanted), built))


if __name__ == "__main__":
    main()
