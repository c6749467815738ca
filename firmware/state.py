"""Small persisted state: one JSON object per file in the device's working directory.

For facts the firmware learns and wants back after a reboot (the TIC mode and speed last
detected), not for the user's configuration. Files are tiny and rarely written (only when a
value changes), so flash wear is not a concern.

Writes are atomic: the new content goes to NAME.tmp, which is then renamed over NAME. On
littlefs (the ESP32 default) rename replaces the destination atomically, so after a power
cut the file holds the old or the new content, never a truncated one (esp32-micropython notes
§6.4); POSIX rename (the simulator) does the same. Reads never raise: a missing, unreadable,
corrupt or oversized file (more than max_bytes: never written for the small dicts kept here,
and parsing it could exhaust the heap or the stack at every boot), or one that is not a JSON
object, reads as None; the caller logs it and uses its defaults.
"""

import json
import os

# Default size limit of load(): the TIC state is ~35 bytes, the crash record (firmware/crash.py,
# three entries of at most 240 characters) stays under 2 KB for ASCII text.
MAX_BYTES = 2048

# What an unreadable file raises: missing or unreadable (OSError), not JSON, e.g. truncated by a
# crash (ValueError), too big or too deeply nested for the heap or the stack (MemoryError,
# RuntimeError; RecursionError is one). A constant: building the tuple in the except clause
# would itself need the heap that has just run out.
_UNREADABLE = (OSError, ValueError, MemoryError, RuntimeError)


def load(path, max_bytes=MAX_BYTES):
    """The dict stored in `path`, or None if there is none, it is larger than max_bytes or it
    cannot be parsed. Cost: one stat, one read of at most max_bytes, one small parse."""
    try:
        if os.stat(path)[6] > max_bytes:
            return None
        with open(path) as f:
            text = f.read(max_bytes + 1)
        if len(text) > max_bytes:  # grew since the stat
            return None
        data = json.loads(text)
    except _UNREADABLE:
        return None
    return data if isinstance(data, dict) else None


def save(path, data):
    """Store dict `data` in `path` atomically. Raises OSError (disk full, read-only...)."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
    try:
        os.rename(tmp, path)
    except OSError:
        # A filesystem whose rename does not replace (FAT, some older ports): remove first.
        # Not atomic any more; load() then reads None after a crash in between, which every
        # caller treats as "nothing saved".
        try:
            os.remove(path)
        except OSError:
            pass
        os.rename(tmp, path)
