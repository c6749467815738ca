"""The crash record and the safe-mode rule (loaded at boot and at a crash, then dropped).

Contract:
  record(what, up_ms, cause=None)  adds one crash to CRASH_FILE (atomic write).
  describe(exc) -> str  one line: the exception and where it was raised.
  note_boot(cause) -> (safe, record)  updates the record at boot, says whether to stay safe.
  safe_mode() -> bool  note_boot(hal.reset_cause()), logging the safe-mode line when safe
           (firmware/crash.py's start(): True starts no app).
  last() -> dict or None  the newest crash, for the status page and diagnostics.
  note(what)  adds an event that is not a crash (an OTA rollback) to the list shown as the
           last crash, without counting it towards safe mode.

The record, a small JSON object: "crashes", the last KEEP crashes as
{"up_s": uptime, "reset": reset cause of that boot, "what": one line}; "chain", the uptimes of
the crashes since the last boot that did not end in a crash; "fresh", true between a crash and
the next boot. A watchdog reset is a crash whose uptime is not known (counted as 0 s).
Safe mode: the last SAFE_AFTER crashes came one after the other, SAFE_WINDOW_S seconds of
uptime or less in all. It starts no app and leaves the REPL (and mpremote) usable; a reset,
a power cycle or a soft reboot tries the app again, with SAFE_AFTER new chances.
Cost: loaded by firmware/crash.py at boot and at a crash only; a file write only at a crash
and at the boot after one.
"""

import sys

from firmware import hal, state
from log import getLogger

CRASH_FILE = "crash.json"
KEEP = 3
SAFE_AFTER = 3
SAFE_WINDOW_S = 300
_WHAT_MAX = 240

log = getLogger("crash")


def describe(exc):
    """One line for exception `exc`: its repr and where it was raised, at most _WHAT_MAX."""
    import io

    out = io.StringIO()
    if hasattr(sys, "print_exception"):
        sys.print_exception(exc, out)
    else:
        import traceback

        traceback.print_exception(type(exc), exc, exc.__traceback__, file=out)
    lines = [ln.strip() for ln in out.getvalue().split("\n") if ln.strip()]
    where = ""
    for ln in lines:
        if ln.startswith("File "):
            where = ln  # the innermost frame is the last one printed
    text = repr(exc) + (" at " + where if where else "")
    return text[:_WHAT_MAX]


def _load():
    d = state.load(CRASH_FILE)
    if d is None:
        return {"crashes": [], "chain": [], "fresh": False}
    for key in ("crashes", "chain"):
        if not isinstance(d.get(key), list):
            d[key] = []
    d["chain"] = [x for x in d["chain"] if isinstance(x, int) and x >= 0][-SAFE_AFTER:]
    d["crashes"] = [c for c in d["crashes"] if isinstance(c, dict)][-KEEP:]
    d["fresh"] = d.get("fresh") is True
    return d


def _save(d):
    try:
        state.save(CRASH_FILE, d)
    except OSError as e:  # a full or read-only flash must not turn a crash into a hang
        log.error("cannot write %s: %r", CRASH_FILE, e)


def record(what, up_ms, cause=None):
    d = _load()
    up_s = max(0, up_ms // 1000)
    d["crashes"].append({"up_s": up_s, "reset": cause or hal.reset_cause(), "what": what})
    d["crashes"] = d["crashes"][-KEEP:]
    d["chain"] = (d["chain"] + [up_s])[-SAFE_AFTER:]
    d["fresh"] = True
    _save(d)


def note(what):
    """Add an entry that is not a crash (a rollback); returns it."""
    d = _load()
    e = {"up_s": 0, "reset": hal.reset_cause(), "what": what}
    d["crashes"] = (d["crashes"] + [e])[-KEEP:]
    _save(d)
    return e


def note_boot(cause):
    """Update the record for a boot with reset cause `cause`; (safe mode?, record dict)."""
    d = _load()
    before = (list(d["chain"]), d["fresh"], len(d["crashes"]))
    if cause == "wdt":  # the watchdog reset the board: the boot before hung
        d["crashes"] = (d["crashes"] + [{"up_s": None, "reset": "wdt", "what": "watchdog"}])[
            -KEEP:
        ]
        d["chain"] = (d["chain"] + [0])[-SAFE_AFTER:]
    elif not d["fresh"] or cause == "power":
        d["chain"] = []  # the last boot ended without a crash, or power was cycled
    chain = d["chain"]
    safe = len(chain) >= SAFE_AFTER and sum(chain) <= SAFE_WINDOW_S
    d["fresh"] = False
    if (list(d["chain"]), d["fresh"], len(d["crashes"])) != before or cause == "wdt":
        _save(d)
    return safe, d


def safe_mode():
    safe, d = note_boot(hal.reset_cause())
    if safe:
        log.error(
            "safe mode: %d crashes in a row within %d s (last: %s); the app is not started. "
            "Fix the cause, then reset the board to try again (see the README, 'Safe mode').",
            len(d["chain"]),
            sum(d["chain"]),
            d["crashes"][-1]["what"] if d["crashes"] else "?",
        )
    return safe


def last():
    d = state.load(CRASH_FILE)
    if d and isinstance(d.get("crashes"), list) and d["crashes"]:
        return d["crashes"][-1]
    return None
