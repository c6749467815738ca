"""The names (qstrs) the firmware makes a board intern, and the heap their pools take.

    python3 tools/qstr_names.py [--list] [--json]

Loading a .mpy interns every name of its qstr table for good; an import also interns the
module's dotted name, each of its parts, and its file's path. An ESP32_GENERIC image already
holds some names (tests/fixtures/esp32-v1.27.0-qstrs.txt, from tools/esp32_qstrs.py): those
cost nothing. What is left is what the board adds, counted from build/device (make build) as if
every module a board can load were loaded (HOST_ONLY excluded): the boot's _intern step
(firmware/builder.py) loads most of them, an update or the portal the rest.
MicroPython 1.27 keeps run-time names in pools of 20, 40, 80... entries, 7 bytes each (py/qstr.c;
mpy-tool.py sizes the frozen pool so that the first run-time pool has 20 entries on every port,
the WebAssembly one included), plus the text in chunks. Past 1,260 names a pool of 1,280 entries
(9 KB) is added: the cliff docs/design/qstr-pools.md describes.
  board_names(build) -> sorted list      pool_bytes(n) -> bytes of the pools n names need
  report(build) -> dict                   names, text bytes, pools, heap bytes, next cliff
  board_share(dump, device, fakes) -> (names, text bytes) of a harness's dump a board holds
  heap_bytes(n, text) -> bytes             pools and text of n names
Cost: reads every .mpy in build/device (about 0.2 s).
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from build import NOT_ON_BOARD  # noqa: E402
from upy import BUILD, MPY_CROSS  # noqa: E402

ESP32_NAMES = ROOT / "tests" / "fixtures" / "esp32-v1.27.0-qstrs.txt"
FIRST_POOL = 20  # entries of the first run-time pool; each next one doubles
ENTRY_BYTES = 7  # a pointer, a 2-byte hash, a 1-byte length (ESP32: MICROPY_QSTR_BYTES_IN_HASH 2)
POOL_HEAD = 24  # prev, total_prev_len, alloc|len, hashes, lengths
GC_BLOCK = 16
CHUNK_MIN = 128  # MICROPY_ALLOC_QSTR_CHUNK_INIT: the text of names, in chunks of at least this
# In build/device but never imported on a board (tools/build.py NOT_ON_BOARD, as .mpy):
HOST_ONLY = tuple(p[:-3] + ".mpy" for p in NOT_ON_BOARD)


def _uint(data, i):
    # MicroPython's variable-length unsigned int (7 bits a byte, high bit: more follow).
    v = 0
    while True:
        b = data[i]
        i += 1
        v = (v << 7) | (b & 0x7F)
        if not b & 0x80:
            return v, i


def mpy_qstrs(data):
    """(the qstr table of a format-6 .mpy, the index where it ends): each entry its name, or
    None for an index into the fixed list. The first entry is the module's source name.
    ValueError if `data` is not a .mpy of format 6."""
    if len(data) < 4 or data[0] != ord("M") or data[1] != 6:
        raise ValueError("not a .mpy of format 6")
    i = 4
    if data[2] & 0x40:  # architecture flags follow
        _, i = _uint(data, i)
    n_qstr, i = _uint(data, i)
    _n_obj, i = _uint(data, i)
    names = []
    for _ in range(n_qstr):
        v, i = _uint(data, i)
        if v & 1:  # an index into the fixed list
            names.append(None)
            continue
        n = v >> 1
        names.append(data[i : i + n].decode())
        i += n + 1  # and its terminating NUL
    return names, i


def mpy_names(data):
    """The names a .mpy file's qstr table makes the loader intern (its static ones excluded:
    those are the fixed list every image holds). ValueError if `data` is not a bytecode .mpy
    of format 6."""
    if len(data) >= 4 and (data[2] & 0x40 or (data[2] >> 2) & 0x2F):
        raise ValueError("native code or architecture flags: not handled")
    return [n for n in mpy_qstrs(data)[0] if n is not None]


def esp32_names(path=ESP32_NAMES):
    """The names an ESP32_GENERIC image holds (ROM and frozen), as a set."""
    held = set()
    for line in path.read_text().splitlines():
        if line and not line.startswith(("#", "[")):
            held.add(line.encode("ascii").decode("unicode_escape"))
    return held


def _import_names(rel):
    # What importing the module at `rel` (a path under build/device) interns besides its
    # table: its file's path as the board's sys.path finds it ('' for the firmware package,
    # '/lib' for lib/), the dotted name and each part.
    parts = rel.with_suffix("").parts
    if parts[0] == "lib":
        path, parts = "/lib/" + "/".join(rel.parts[1:]), parts[1:]
    else:
        path = str(rel)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    out = [path]
    for k in range(1, len(parts) + 1):
        out.append(".".join(parts[:k]))
        out.append(parts[k - 1])
    return out


def _source_names(src):
    # boot.py and main.py stay source on the board, compiled there: the same names.
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "x.mpy"
        subprocess.run([str(MPY_CROSS), "-s", src.name, "-o", str(out), str(src)], check=True)
        return mpy_names(out.read_bytes())


def board_names(build=BUILD):
    """Every name the firmware in `build` makes a board intern, sorted."""
    names = set()
    for f in sorted(build.rglob("*.mpy")):
        rel = f.relative_to(build)
        if str(rel) in HOST_ONLY:
            continue
        names.update(mpy_names(f.read_bytes()))
        names.update(_import_names(rel))
    for name in ("boot.py", "main.py"):
        if (build / name).exists():
            names.update(_source_names(build / name))
    return sorted(names - esp32_names())


def board_share(dump, device=BUILD, fakes=(), only=None):
    """(names, text bytes) a board would hold of `dump`, the run-time names the 32-bit harness
    listed (micropython.qstr_info(1)): its paths under /flash become the board's, and what the
    ESP32 image holds, what only the harness's fakes (.mpy files `fakes`) intern and the
    harness's own strings (neither in a device table nor one character long) are dropped.
    only(rel): with it, just the names of the device files (paths relative to `device`) for
    which it is true (one-character names go with them)."""
    tables = set()
    for f in device.rglob("*.mpy"):
        rel = f.relative_to(device)
        if only is None or only(rel.as_posix()):
            tables.update(mpy_names(f.read_bytes()))
            tables.update(_import_names(rel))
    fake = set()
    for f in fakes:
        fake.update(mpy_names(Path(f).read_bytes()))
    held = esp32_names()
    n = text = 0
    for name in dump:
        if name.startswith("/flash/"):
            rel = name[len("/flash/") :]
            name = rel if rel.startswith("firmware") else "/" + rel
        if name in held or (name in fake and name not in tables):
            continue
        if name in tables or len(name) == 1:  # one character: made at run time, counted
            n += 1
            text += len(name.encode()) + 1
    return n, text


def heap_bytes(n, text):
    """Heap bytes of n run-time names with `text` bytes of text (NULs included): their pools,
    and the text in whole GC blocks."""
    return pool_bytes(n) + _blocks(text)


def pool_sizes(n):
    """The sizes of the pools n run-time names fill (20, 40, 80...)."""
    sizes, size = [], FIRST_POOL
    while n > 0:
        sizes.append(size)
        n -= size
        size *= 2
    return sizes


def _blocks(b):
    return -(-b // GC_BLOCK) * GC_BLOCK


def pool_bytes(n):
    """Heap bytes of the pools n run-time names need (whole GC blocks)."""
    return sum(_blocks(POOL_HEAD + ENTRY_BYTES * s) for s in pool_sizes(n))


def report(build=BUILD):
    names = board_names(build)
    n = len(names)
    text = sum(len(s.encode()) + 1 for s in names)
    room = sum(pool_sizes(n)) - n
    return {
        "names": n,
        "text_bytes": text,
        "pools": pool_sizes(n),
        "pool_bytes": pool_bytes(n),
        # the text goes in chunks of >= 128 bytes, each a whole number of GC blocks
        "heap_bytes": heap_bytes(n, text),
        "room_before_next_pool": room,
        "next_pool_bytes": pool_bytes(n + room + 1) - pool_bytes(n),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--list", action="store_true", help="print the names, one per line")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if a.list:
        for s in board_names():
            print(s.encode("unicode_escape").decode("ascii"))
        return
    r = report()
    if a.json:
        print(json.dumps(r, indent=2))
        return
    print("names a board interns for the firmware: %d (%d bytes of text)" % (
        r["names"], r["text_bytes"]))  # fmt: skip
    print("their pools: %s entries, %d bytes; about %d bytes of heap in all" % (
        "+".join(map(str, r["pools"])), r["pool_bytes"], r["heap_bytes"]))  # fmt: skip
    print("room for %d more names before a pool of %d bytes is added" % (
        r["room_before_next_pool"], r["next_pool_bytes"]))  # fmt: skip


if __name__ == "__main__":
    main()
