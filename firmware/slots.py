"""The two app folders and the pointer file: which version boots, trial boots and rollback.

Contract (docs/design/ota.md):
  boot() -> module   main.py's first step: reads POINTER, counts a trial boot or rolls back,
                     puts the active folder (`F`, `F/lib`) first on sys.path, drops every
                     firmware module imported so far and returns the active folder's
                     firmware.crash. No pointer, or any error: the factory image (the root's
                     /lib and /firmware). Never raises.
  read() -> dict or None; write(d)  the pointer (atomic: POINTER.tmp, then rename).
  running() -> folder or None  the folder this boot runs (None: the factory image).
  inactive(p) -> folder or None  where an update goes: neither the pointer's nor the running
                     one (None: both are in use, after a switch not yet followed by a reset).
  switch(folder, version, running_version, firmware=False)  points at a verified folder, in
                     trial; the caller resets.
  mark_good()        ends the trial of the running folder.
  frozen() -> bool   the running firmware is frozen into the MicroPython image (the linky
                     image): an update then installs only the data files of a release that
                     carries an image (firmware/ota_plan.py), and such a folder, with no
                     firmware/ in it, boots (its code is the image's).
The pointer: {"active": F or null, "previous": F or null, "version", "previous_version",
"trial": bool, "tries": trial boots started, "firmware": the release had a MicroPython image,
"why": why the trial gave up (set before its reset), "rollback": {"from", "to", "why"} of the
last rollback}. Paths are relative to the working directory: the flash's root on a board, the
state directory in the simulator. Only os, sys and json are used here, so that main.py can run
it before the app's own modules are chosen.
Cost: one small file read at boot, a write on a trial boot and at a switch.
"""

import json
import os
import sys

POINTER = "app.json"
FOLDERS = ("app_a", "app_b")
CRASH_FILE = "crash.json"  # firmware/crashlog.py's record: was the trial boot a crash?
_MAX = 2048


def read():
    try:
        with open(POINTER) as f:
            text = f.read(_MAX + 1)
        if len(text) > _MAX:
            return None
        p = json.loads(text)
    except (OSError, ValueError, MemoryError, RuntimeError):
        return None
    return p if isinstance(p, dict) else None


def write(p):
    tmp = POINTER + ".tmp"
    with open(tmp, "w") as f:
        json.dump(p, f)
    os.rename(tmp, POINTER)  # littlefs and POSIX replace atomically


def running():
    for f in FOLDERS:
        if f in sys.path:
            return f
    return None


def inactive(p):
    used = (p.get("active") if p else None, running())
    for f in FOLDERS:
        if f not in used:
            return f
    return None  # the pointer names one folder, this boot runs the other: restart first


def switch(folder, version, running_version, firmware=False):
    write(
        {
            "active": folder,
            "previous": running(),
            "version": version,
            "previous_version": running_version,
            "trial": True,
            "tries": 0,
            "firmware": firmware,
        }
    )  # a new version: the last rollback's note is history (the crash record keeps it)


def mark_good():
    p = read()
    if p is not None and p.get("trial"):
        p["trial"] = False
        p.pop("why", None)
        write(p)


def _crash_what():
    """The last crash's line if the boot before ended in one (the record is 'fresh')."""
    try:
        with open(CRASH_FILE) as f:
            d = json.loads(f.read(4096))
        if d.get("fresh") and d.get("crashes"):
            return "crashed: %s" % d["crashes"][-1].get("what")
    except (OSError, ValueError, MemoryError, RuntimeError, AttributeError, TypeError):
        pass
    return None


def rollback(p, why):
    """Point back at the previous version (None: the factory image), saying why."""
    p2 = {
        "active": p.get("previous"),
        "previous": None,
        "version": p.get("previous_version"),
        "previous_version": None,
        "trial": False,
        "tries": 0,
        "firmware": False,
        "rollback": {"from": p.get("version"), "to": p.get("previous_version"), "why": why},
    }
    write(p2)
    print("slots: rollback from %s to %s: %s" % (p.get("version"), p.get("previous_version"), why))
    return p2


def select():
    """The folder to boot (None: the factory image), after counting a trial boot or rolling
    back a trial that already had its boot without being marked good."""
    p = read()
    if p is None:
        return None
    if p.get("trial"):
        if p.get("tries", 0) >= 1:
            why = (
                p.get("why")
                or _crash_what()
                or "reset before it was marked good (watchdog, hang or power loss)"
            )
            p = rollback(p, why)
        else:
            p["tries"] = 1
            write(p)
    active = p.get("active")
    if active not in FOLDERS:
        return None
    try:
        os.stat(active + "/firmware")
    except OSError:  # no code in it: a folder of data files, for the linky image only
        if not frozen():
            raise
        os.stat(active)  # a folder that vanished: OSError, the factory image
    return active


def frozen():
    """True when the firmware package is frozen into the MicroPython image: its __file__ is
    then its name there, "firmware/__init__.py" (no folder), and no such file exists (a
    package found in the current folder, the board's root, has that name too, as a file).
    On the host, the simulator's FROZEN hook (the unix port cannot freeze the firmware)."""
    f = sys.modules["firmware"].__file__
    try:
        if f.startswith("firmware/"):
            os.stat(f)
    except OSError:
        return True
    from firmware import hal

    return hal.setting("FROZEN") == "1"


def _forget():
    for name in list(sys.modules):
        if name == "firmware" or name.startswith("firmware."):
            del sys.modules[name]


def _use(folder):
    sys.path.insert(0, folder + "/lib")
    sys.path.insert(0, folder)


def _unuse(folder):
    for d in (folder, folder + "/lib"):
        while d in sys.path:
            sys.path.remove(d)


def boot():
    for _ in range(3):  # the pointer, then at most two rollbacks of folders that do not import
        try:
            folder = select()
        except Exception as e:  # noqa: BLE001 (anything: the factory image boots)
            print("slots: %r: starting the factory image" % (e,))
            folder = None
        _forget()
        if folder is None:
            break
        _use(folder)
        try:
            from firmware import crash

            return crash
        except Exception as e:  # noqa: BLE001 (the folder's own modules do not import)
            _unuse(folder)
            _forget()
            try:
                rollback(read() or {}, "%s does not import: %r" % (folder, e))
            except Exception as e2:  # noqa: BLE001
                print("slots: rollback not written: %r" % (e2,))
                break
    from firmware import crash

    return crash
