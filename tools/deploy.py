#!/usr/bin/env python3
"""Copy the device image (build/device/) to a board over USB with mpremote.

    python3 tools/deploy.py --port /dev/ttyUSB0 [--dry-run] [--no-reset] [--image]

1. Asks the board for its file list (a short script run with `mpremote resume exec`: no soft
   reset, so the firmware interrupted by mpremote's Ctrl-C keeps its modules). The same script
   stretches the firmware's watchdog to 30 minutes through the firmware's HAL
   (`hal.stretch_watchdog`), so that it does not reset the board in the middle of the copy.
   The HAL stretches only a watchdog the firmware started: where none runs, none is armed
   (`machine.WDT()` would arm one, and the board would reset itself 30 minutes later).
   --dry-run does not stretch: the firmware's own watchdog, if any, resets the board shortly
   after and the firmware starts again.
2. Plans: every file of the build is copied (mpremote skips files whose hash already
   matches); code files on the board that the build does not have are removed, because a
   stale `x.py` is imported in preference to the new `x.mpy`. Data files (configuration,
   state) and the names in PRESERVE are never removed. Over-the-air updates are undone: the
   pointer `app.json` and everything in the app folders `app_a/`, `app_b/` are removed, so
   the image deployed by cable is the one that runs (docs/design/ota.md). Pages in www/ that
   the build no longer has are removed too.
3. Copies, removes (a new mpremote session: its soft reset frees the firmware's heap; the
   hardware watchdog, stretched, keeps running), then hard-resets the board, which stops the
   watchdog and starts the new firmware. With --no-reset the board stays at the REPL, and a
   stretched watchdog resets it 30 minutes later.

--image: the board runs the linky image (`make image`: lib/ and firmware/ frozen into
MicroPython, code and names in flash). Then no .mpy is copied: a module file on the board's
filesystem is imported before the frozen module (sys.path starts with the filesystem's root)
and would put its code back in the heap. Only boot.py, main.py and the data files (the pages,
lib/ha_tpl.bin) are copied, and the board's code files that the build has as .mpy, like any
other code file the copy lacks, are removed. The listing script first checks that the board
has the firmware package frozen in, and deploy stops if it has not (a stock MicroPython would
be left with no firmware to run).

Known gap: a watchdog left running by an earlier soft reset (the firmware's HAL state is gone,
the hardware watchdog is not) cannot be seen; the board may then reset during the copy.
Running deploy again finishes it (files already copied are skipped).
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

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
# Over-the-air updates (firmware/slots.py): the pointer and the app folders. A cable deploy
# removes them, so the deployed image runs rather than an older update.
OTA_FILES = frozenset(("app.json", "app.json.tmp"))
OTA_DIRS = ("app_a/", "app_b/")
# Folders that hold only what the build puts there (any file): the web pages.
BUILD_DIRS = ("www/",)
# Only files with these suffixes are considered ours and can be removed as stale.
CODE_SUFFIXES = (".py", ".mpy")

# How long the watchdog is given for the copy (ms).
STRETCH_MS = 30 * 60 * 1000

# Run on the board with `LIST_SCRIPT % (root, stretch_ms)`. Prints "W stretched", "W none"
# (no watchdog running: none armed) or "W error <repr>" (no firmware HAL, or an old one) when
# stretch_ms is not 0; then "F <size> <path>" per file and "D <path>" per directory. Paths are
# relative to root ("/" on the board; tests run it on the unix port elsewhere).
LIST_SCRIPT = """
import os
ROOT = %r
STRETCH_MS = %d
if STRETCH_MS:
    try:
        # Through the firmware's HAL, the only code that touches machine.
        from firmware import hal
        print('W', 'stretched' if hal.stretch_watchdog(STRETCH_MS) else 'none')
    except Exception as e:
        print('W', 'error', repr(e))
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
# Appended to LIST_SCRIPT by --image: "I frozen" when the board's image has the firmware
# package frozen in, "I none" otherwise. Imports it with sys.path = [".frozen"] (the frozen
# modules only), then puts sys.path and sys.modules back as they were (what the import loaded
# is dropped).
IMAGE_SCRIPT = """
import sys
def frozen(name):
    keep = sys.modules.pop(name, None)
    loaded = set(sys.modules)
    path = list(sys.path)
    sys.path.clear()
    sys.path.append('.frozen')
    try:
        __import__(name)
        return True
    except ImportError:
        return False
    finally:
        sys.path.clear()
        sys.path.extend(path)
        for m in [m for m in sys.modules if m not in loaded]:
            del sys.modules[m]
        if keep is not None:
            sys.modules[name] = keep
print('I', 'frozen' if frozen(%r) else 'none')
"""
FROZEN_PACKAGE = "firmware"  # what IMAGE_SCRIPT looks for


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


def image_files(files):
    """The build files a board running the linky image gets: all but the .mpy (its modules
    are frozen in)."""
    return [f for f in files if not f.endswith(".mpy")]


def parse_image(text):
    """What IMAGE_SCRIPT said: True (the firmware is frozen in), False, or None (not asked)."""
    for line in text.splitlines():
        if line.startswith("I "):
            return line[2:] == "frozen"
    return None


def parse_watchdog(text):
    """What the listing script said of the watchdog: "stretched", "none", "error ..." or None
    (not asked)."""
    for line in text.splitlines():
        if line.startswith("W "):
            return line[2:]
    return None


def watchdog_note(state, stretch_ms=STRETCH_MS):
    """One line for the user about the watchdog, from parse_watchdog()'s result."""
    if state is None:
        return "watchdog: not touched (dry run); a running one resets the board soon"
    if state == "stretched":
        return "watchdog: the firmware's watchdog now allows %d min" % (stretch_ms // 60000)
    if state == "none":
        return "watchdog: none running, none armed"
    return "watchdog: not stretched (%s); if the board resets during the copy, deploy again" % (
        state
    )


def plan(build, board_files, board_dirs=(), image=False):
    """What to do: {"copy": [...], "remove": [...], "rmdir": [...], "keep": [...]}.

    `copy`: every build file; with `image` (the board runs the linky image), every build file
    but the .mpy, so that those on the board go as any code file the copy lacks. `remove`:
    board code files absent from the copy, except PRESERVE; and any such file of the OTA
    pointer, the app folders and www/ (the pages).
    `rmdir`: board directories left empty by the removals (deepest first) that the build does
    not have. `keep`: board files left alone (data, preserved names)."""
    if image:
        build = image_files(build)
    wanted = set(build)
    remove, keep = [], []
    for f in board_files:
        if f in wanted:
            continue
        name = f.rsplit("/", 1)[-1]
        if f in OTA_FILES or f.startswith(OTA_DIRS) or f.startswith(BUILD_DIRS):
            remove.append(f)
        elif f in PRESERVE or name in PRESERVE or not f.endswith(CODE_SUFFIXES):
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


def mpremote(port, *args, capture=False, cwd=None):
    cmd = [MPREMOTE, "connect", port, *args]
    if capture:
        result = subprocess.run(cmd, check=False, capture_output=True, text=True)
        if result.returncode:
            sys.exit("mpremote failed (%s):\n%s" % (" ".join(cmd[:4]), result.stderr))
        return result.stdout
    subprocess.run(cmd, check=True, cwd=cwd or BUILD)
    return None


def stage(build, files, out):
    """Copies `files` (paths relative to `build`) into the folder `out`, so that mpremote's
    recursive copy from there carries those files only."""
    for f in files:
        dst = out / f
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(build / f, dst)


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
    ap.add_argument(
        "--image",
        action="store_true",
        help="the board runs the linky image (make image): copy no .mpy, remove those there",
    )
    args = ap.parse_args(argv)
    if not (BUILD / "main.py").exists():
        sys.exit("deploy: build/device is empty: run `make build`")
    files = build_files(BUILD)
    stretch = 0 if args.dry_run else STRETCH_MS
    # `resume`: no soft reset before the script, or the firmware's HAL state would be gone.
    script = LIST_SCRIPT % ("/", stretch)
    if args.image:
        script += IMAGE_SCRIPT % FROZEN_PACKAGE
    listing = mpremote(args.port, "resume", "exec", script, capture=True)
    board_files, board_dirs = parse_listing(listing)
    wdt = parse_watchdog(listing)
    print(watchdog_note(wdt))
    if args.image and not parse_image(listing):
        sys.exit(
            "deploy --image: the board's MicroPython has no frozen %s package, so it does not run"
            " the linky image: flash it first (make image, then make flash"
            " FIRMWARE=build/image/firmware.bin), or deploy without --image" % FROZEN_PACKAGE
        )
    p = plan(files, board_files, board_dirs, image=args.image)
    for f in p["remove"]:
        print("remove  :%s" % f)
    for d in p["rmdir"]:
        print("rmdir   :%s/" % d)
    for f in p["keep"]:
        print("keep    :%s" % f)
    what = "but its .mpy (the linky image has them frozen in) " if args.image else ""
    print(
        "copy    %d files from build/device %s(unchanged ones are skipped)"
        % (len(p["copy"]), what)
    )
    if args.dry_run:
        return
    top_level = sorted({f.split("/")[0] for f in p["copy"]})
    if args.image:  # a folder of the copied files only: `fs cp -r lib` would bring the .mpy
        with tempfile.TemporaryDirectory(prefix="linky-deploy-") as tmp:
            stage(BUILD, p["copy"], Path(tmp))
            mpremote(args.port, *commands(p, top_level), cwd=tmp)
    else:
        mpremote(args.port, *commands(p, top_level))
    if not args.no_reset:
        mpremote(args.port, "reset")
    elif wdt == "stretched":
        print(
            "not reset: the stretched watchdog resets the board in %d min" % (STRETCH_MS // 60000)
        )


if __name__ == "__main__":
    main()
