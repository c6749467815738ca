#!/usr/bin/env python3
"""Copy the device image (build/device/) to a board over USB with mpremote.

    python3 tools/deploy.py --port /dev/ttyUSB0 [--dry-run] [--no-reset]

1. Asks the board for its file list (a short script run with `mpremote exec`). The same
   script first stretches a running watchdog to 30 minutes (through the firmware's HAL): the
   firmware's watchdog keeps running in the REPL mpremote uses, and would reset the board in
   the middle of the copy.
2. Plans: every file of the build is copied (mpremote skips files whose hash already
   matches); code files on the board that the build does not have are removed, because a
   stale `x.py` is imported in preference to the new `x.mpy`. Data files (configuration,
   state) and the names in PRESERVE are never removed.
3. Copies, removes, then hard-resets the board (which also stops the stretched watchdog).
"""

import argparse
import subprocess
import sys

from upy import BIN, BUILD

MPREMOTE = str(BIN / "mpremote")

# Never removed from the board, even though the build does not have them.
PRESERVE = frozenset(
    (
        "config.json",  # the user's configuration
        "config.json.tmp",
        "webrepl_cfg.py",  # WebREPL password, written on the board by `import webrepl_setup`
    )
)
# Only files with these suffixes are considered ours and can be removed as stale.
CODE_SUFFIXES = (".py", ".mpy")

# Printed by the listing script before each file: "F <size> <path>", and "D <path>" for dirs.
# Paths are relative to ROOT ("/" on the board; tests run it on the unix port elsewhere).
LIST_SCRIPT = """
import os
ROOT = %r
try:
    # Through the firmware's HAL, the only code that touches machine. Only the firmware
    # starts a watchdog, so a board without it has none to stretch.
    from firmware import hal
    hal.watchdog(1800000)
except Exception:
    pass
def walk(rel):
    for e in os.ilistdir(ROOT + rel):
        r = rel + e[0]
        if e[1] & 0x4000:
            print('D', r)
            walk(r + '/')
        else:
            print('F', e[3] if len(e) > 3 else -1, r)
walk('')
"""


def build_files(build=BUILD):
    """Relative paths (posix) of every file in the build."""
    return sorted(p.relative_to(build).as_posix() for p in build.rglob("*") if p.is_file())


def parse_listing(text):
    """(files, dirs) on the board from the output of LIST_SCRIPT."""
    files, dirs = [], []
    for line in text.splitlines():
        if line.startswith("F "):
            parts = line.split(" ", 2)
            if len(parts) == 3:
                files.append(parts[2])
        elif line.startswith("D "):
            dirs.append(line[2:])
    return sorted(files), sorted(dirs)


def plan(build, board_files, board_dirs=()):
    """What to do: {"copy": [...], "remove": [...], "rmdir": [...], "keep": [...]}.

    `copy`: every build file. `remove`: board code files absent from the build, except
    PRESERVE. `rmdir`: board directories left empty by the removals (deepest first) that the
    build does not have. `keep`: board files left alone (data, preserved names)."""
    wanted = set(build)
    remove, keep = [], []
    for f in board_files:
        if f in wanted:
            continue
        name = f.rsplit("/", 1)[-1]
        if f in PRESERVE or name in PRESERVE or not f.endswith(CODE_SUFFIXES):
            keep.append(f)
        else:
            remove.append(f)
    build_dirs = set()
    for f in build:
        parts = f.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            build_dirs.add("/".join(parts[:i]))
    gone = set(remove)
    rmdir = []
    for d in sorted(board_dirs, key=lambda d: -d.count("/")):
        if d in build_dirs:
            continue
        prefix = d + "/"
        inside = [f for f in board_files if f.startswith(prefix)]
        subdirs = [s for s in board_dirs if s.startswith(prefix) and s not in rmdir]
        if all(f in gone for f in inside) and not subdirs:
            rmdir.append(d)
    return {"copy": sorted(build), "remove": sorted(remove), "rmdir": rmdir, "keep": sorted(keep)}


def mpremote(port, *args, capture=False):
    cmd = [MPREMOTE, "connect", port, *args]
    if capture:
        result = subprocess.run(cmd, check=False, capture_output=True, text=True)
        if result.returncode:
            sys.exit("mpremote failed (%s):\n%s" % (" ".join(cmd[:4]), result.stderr))
        return result.stdout
    subprocess.run(cmd, check=True, cwd=BUILD)
    return None


def commands(p, top_level):
    """The mpremote arguments that carry out plan `p` (one session, chained with '+')."""
    args = ["fs", "cp", "-r", *top_level, ":"]
    for f in p["remove"]:
        args += ["+", "fs", "rm", ":" + f]
    for d in p["rmdir"]:
        args += ["+", "fs", "rmdir", ":" + d]
    return args


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", required=True, help="serial port of the board, e.g. /dev/ttyUSB0")
    ap.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    ap.add_argument("--no-reset", action="store_true", help="do not reset the board after")
    args = ap.parse_args(argv)
    if not (BUILD / "main.py").exists():
        sys.exit("deploy: build/device is empty: run `make build`")
    files = build_files()
    board_files, board_dirs = parse_listing(
        mpremote(args.port, "exec", LIST_SCRIPT % "/", capture=True)
    )
    p = plan(files, board_files, board_dirs)
    for f in p["remove"]:
        print("remove  :%s" % f)
    for d in p["rmdir"]:
        print("rmdir   :%s/" % d)
    for f in p["keep"]:
        print("keep    :%s" % f)
    print("copy    %d files from build/device (unchanged ones are skipped)" % len(p["copy"]))
    if args.dry_run:
        return
    top_level = sorted({f.split("/")[0] for f in files})
    mpremote(args.port, *commands(p, top_level))
    if not args.no_reset:
        mpremote(args.port, "reset")


if __name__ == "__main__":
    main()
